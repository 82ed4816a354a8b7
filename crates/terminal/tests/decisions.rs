//! Every decision is the core's: cloud commands are read, de-duplicated, expired and answered here (R9), TAS dials
//! are retried and MQTT sessions re-opened on the core's own timers with jitter from its seed, and the same inputs
//! on a fake clock give the same outputs, byte for byte.

mod common;

use ccv_terminal::{
    CloudCommand, Input, KickRefusal, LocalKick, MqttDownReason, MqttEvent, MqttLink, Output, TasDialFailure,
    TasEvent, TerminalConfig, Timestamp,
};
use ccv_wire::cloud::{ErrorCode, Event};
use common::{Harness, T0};

fn command(delivery: u64, json: &str) -> Input {
    Input::CloudCommand(CloudCommand { delivery, payload: json.as_bytes().to_vec() })
}

fn kick_json(id: &str, expires_at_ms: u64) -> String {
    format!(r#"{{"type":"connect-tas","kickId":"{id}","reference":"tr-{id}","expiresAt":{expires_at_ms}}}"#)
}

/// The wire events and acknowledgements among `outs`.
fn wire(outs: &[Output]) -> Vec<(Event, Option<u64>)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::PublishMqtt { event, ack } => Some((event.clone(), *ack)),
            _ => None,
        })
        .collect()
}

fn dial_count(outs: &[Output]) -> usize {
    outs.iter().filter(|o| matches!(o, Output::DialTas(_))).count()
}

/// A 2.0 terminal whose MQTT link is up.
fn cloud_ready() -> Harness {
    let mut h = Harness::default_terminal();
    h.feed(Input::Mqtt(MqttEvent::Connected));
    assert_eq!(*h.t.mqtt_link(), MqttLink::Up);
    h
}

#[test]
fn r09_a_cloud_command_is_answered_on_the_wire_once_and_a_redelivery_gets_the_same_answer() {
    let mut h = cloud_ready();
    let outs = h.feed(command(1, &kick_json("k-1", T0 + 60_000)));
    assert_eq!(
        wire(&outs),
        vec![(
            Event::KickAccepted { kick_id: "k-1".into(), reference: "tr-k-1".into(), duplicate: false },
            Some(1)
        )]
    );
    assert_eq!(dial_count(&outs), 1);
    // The link comes up: `tas-connected` for this kick, without an acknowledgement of its own.
    let outs = h.feed(Input::Tas(TasEvent::Connected));
    assert!(
        matches!(&wire(&outs)[..], [(Event::TasConnected { kick_id, .. }, None)] if kick_id == "k-1"),
        "{outs:?}"
    );
    // QoS 1 redelivery: the same answer, marked duplicate, acknowledged; no second dial.
    let outs = h.feed(command(2, &kick_json("k-1", T0 + 60_000)));
    assert_eq!(
        wire(&outs),
        vec![(
            Event::KickAccepted { kick_id: "k-1".into(), reference: "tr-k-1".into(), duplicate: true },
            Some(2)
        )]
    );
    assert_eq!(dial_count(&outs), 0);
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Publish(ccv_terminal::Event::KickRefused { reason: KickRefusal::DuplicateKick, .. })
    )));
}

#[test]
fn an_expired_kick_is_refused_and_a_malformed_command_gets_an_error_both_acknowledged() {
    let mut h = cloud_ready();
    let outs = h.feed(command(7, &kick_json("late", T0)));
    match &wire(&outs)[..] {
        [(Event::KickRefused { reason: KickRefusal::KickExpired, duplicate: false, .. }, Some(7))] => {}
        other => panic!("expected kick_expired acknowledged as delivery 7, got {other:?}"),
    }
    assert_eq!(dial_count(&outs), 0);
    let outs = h.feed(command(8, "{not json"));
    assert!(
        matches!(&wire(&outs)[..], [(Event::Error { code: ErrorCode::MalformedPayload, .. }, Some(8))]),
        "{outs:?}"
    );
    let outs = h.feed(command(9, r#"{"type":"reboot"}"#));
    assert!(
        matches!(&wire(&outs)[..], [(Event::Error { code: ErrorCode::UnknownCommand, .. }, Some(9))]),
        "{outs:?}"
    );
}

#[test]
fn a_refused_dial_is_retried_on_the_cores_timer_and_the_last_failure_goes_on_the_wire() {
    let mut h = cloud_ready();
    h.feed(command(1, &kick_json("k-2", T0 + 60_000)));
    for dials in 1..40 {
        let outs = h.feed(Input::Tas(TasEvent::DialFailed(TasDialFailure::Refused)));
        if let [(Event::TasDialFailed { reason, kick_id, .. }, None)] = &wire(&outs)[..] {
            assert_eq!((*reason, kick_id.as_str()), (TasDialFailure::Refused, "k-2"));
            assert!(dials >= 5, "gave up after {dials} attempts");
            return;
        }
        let retry_at = h.t.poll_timeout().expect("a retry is scheduled");
        assert!(retry_at > h.now, "the retry waits");
        let outs = h.advance(retry_at.millis_since(h.now));
        assert_eq!(dial_count(&outs), 1, "one new attempt when the back-off has passed");
    }
    panic!("the dial was never given up");
}

#[test]
fn a_failed_mqtt_connection_is_opened_again_after_a_seeded_back_off() {
    let retries = |seed: u64| {
        let mut t = ccv_terminal::Terminal::new(TerminalConfig::default(), seed);
        let mut now = Timestamp::from_millis(T0);
        let mut at = Vec::new();
        for _ in 0..5 {
            t.handle_input(now, Input::Mqtt(MqttEvent::ConnectFailed(MqttDownReason::Unreachable)));
            assert_eq!(
                *t.mqtt_link(),
                MqttLink::Down { reason: MqttDownReason::Unreachable, retrying: true }
            );
            while t.poll_output().is_some() {}
            let next = t.poll_timeout().expect("the session is opened again later");
            at.push(next.millis_since(now));
            now = next;
            t.handle_input(now, Input::Tick);
            let mut reopened = false;
            while let Some(o) = t.poll_output() {
                reopened |= matches!(o, Output::OpenMqtt(_));
            }
            assert!(reopened, "OpenMqtt when the back-off has passed");
        }
        at
    };
    let a = retries(1);
    assert_eq!(a, retries(1), "the same seed, the same waits");
    assert_ne!(a, retries(2), "another seed, other jitter");
    for (i, wait) in a.iter().enumerate() {
        let base = (200u64 << i).min(10_000);
        assert!(*wait >= base - base / 5 && *wait <= base + base / 5, "wait {i}: {wait} ms around {base}");
    }
}

/// The same sequence of inputs at the same fake times gives the same outputs, serialised byte for byte: kicks,
/// failures and their retries, a cloud kick, its redelivery, a payment. No wall clock anywhere.
#[test]
fn the_same_inputs_on_a_fake_clock_give_the_same_bytes() {
    let run = |seed: u64| {
        let mut h = Harness::new(TerminalConfig::default());
        h.t = ccv_terminal::Terminal::new(TerminalConfig::default(), seed);
        h.drain();
        h.feed(Input::LocalKick(LocalKick { source: "pos".into(), port: 4105, reference: None, tas: None }));
        h.feed(Input::Tas(TasEvent::DialFailed(TasDialFailure::Refused)));
        h.advance(5_000);
        h.feed(Input::Tas(TasEvent::Connected));
        h.feed(Input::Mqtt(MqttEvent::ConnectFailed(MqttDownReason::Tls)));
        h.advance(3_000);
        h.feed(Input::Mqtt(MqttEvent::Connected));
        h.pay(1234);
        h.feed(Input::Tas(TasEvent::Disconnected));
        h.feed(command(1, &kick_json("k-d", T0 + 600_000)));
        h.feed(command(2, &kick_json("k-d", T0 + 600_000)));
        h.advance(60_000);
        h.outputs
            .iter()
            .map(|o| serde_json::to_string(o).expect("outputs serialise"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let a = run(3);
    assert!(a.len() > 1_000, "something happened:\n{a}");
    assert_eq!(a, run(3), "two runs of the same inputs differ");
    assert_ne!(a, run(4), "the seed drives jitter and approval codes");
}
