//! Cloud Connect 1.0 end to end on loopback: terminal process (core + IO shell), local kick, TAS link, mock TAS,
//! and the local OPI channels. Every socket is on 127.0.0.1 with an ephemeral port; every wait has a time-out.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use ccv_opi::{
    CardRequestType, CardServiceRequest, Currency, DeviceResponse, Encoding, Header, Message, OutputResult,
    OverallResult,
};
use ccv_tas::{Outcome, Tas, TasConfig};
use ccv_terminal_io::TerminalProcess;
use ccv_terminal_io::config::FileConfig;
use ccv_terminal_io::kick_client::{KickClientError, KickReply, send_kick};
use ccv_wire::HostPort;
use ccv_wire::local_kick::KickRequestBody;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

mod common;

use common::{T, fixture, prepare, tas};

async fn kick(term: &TerminalProcess, reference: Option<&str>) -> KickReply {
    let body = KickRequestBody { reference: reference.map(str::to_owned), tas: None };
    send_kick(term.kick_addr().expect("kick listener"), &body, T).await.unwrap()
}

#[tokio::test]
async fn kick_dial_and_an_approved_payment_with_receipts() {
    let tas = tas().await;
    let term =
        TerminalProcess::start(prepare(FileConfig::default(), Some("12345678"), tas.terminal_addr()), 1)
            .await
            .unwrap();
    let reply = kick(&term, Some("ccv-ref-1")).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["tmsId"], "12345678");
    assert_eq!(reply.body["reference"], "ccv-ref-1");
    assert_eq!(reply.body["tas"], tas.terminal_addr().to_string());
    let info = tas.wait_connected("12345678", T).await.unwrap();
    assert_eq!(info.reference.as_deref(), Some("ccv-ref-1"), "the hand-shake carries the kick's reference");
    assert_eq!(info.software.as_deref(), Some("14.0.11.01"));

    let r = timeout(T, tas.pay("12345678", 1234)).await.unwrap().unwrap();
    assert_eq!(r.outcome, Outcome::Completed, "{r:?}");
    assert_eq!(r.overall_result.as_deref(), Some("Success"), "{r:?}");
    assert_eq!(r.amount.as_deref(), Some("12.34"));
    assert!(!r.receipts.is_empty(), "receipts printed through the TAS: {r:?}");
    assert!(r.receipts.iter().all(|rc| rc.printed));
    assert!(!r.display_texts.is_empty(), "display texts shown through the TAS: {r:?}");
    assert!(r.authorisation.contains_key("approvalCode"), "{:?}", r.authorisation);
    // The journal entry is written before the response and the card number is masked in the transcript.
    assert_eq!(term.status().journal.len(), 1, "{:?}", term.status().journal);
    let transcript = tas.transcript(Some("12345678"), 0);
    assert!(transcript.iter().any(|e| e.xml.contains("CardServiceResponse")));
    term.shutdown().await;
    tas.shutdown().await;
}

#[tokio::test]
async fn r12_a_cloud_ready_terminal_still_takes_a_local_kick() {
    let tas = tas().await;
    let config = prepare(FileConfig::load(&fixture("migrated-2.0.toml")).unwrap(), None, tas.terminal_addr());
    assert!(config.terminal.installed.mqt, "the fixture is a 2.0 terminal");
    let term = TerminalProcess::start(config, 2).await.unwrap();
    let reply = kick(&term, None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    tas.wait_connected(term.tms_id(), T).await.unwrap();
    term.shutdown().await;
    tas.shutdown().await;
}

#[tokio::test]
async fn every_refusal_reason_is_a_409_with_that_reason() {
    let tas = tas().await;
    for (file, reason) in [
        ("tms-changed-not-installed.toml", "cloud_connection_disabled"),
        ("software-too-old.toml", "software_too_old"),
        ("default-its.toml", "not_flat_outgoing"),
        ("day-closed.toml", "day_closed"),
        ("not-activated.toml", "not_activated"),
    ] {
        let config = prepare(FileConfig::load(&fixture(file)).unwrap(), None, tas.terminal_addr());
        let term = TerminalProcess::start(config, 3).await.unwrap();
        let reply = kick(&term, None).await;
        assert_eq!(reply.status, 409, "{file}: {}", reply.body);
        assert_eq!(reply.body["status"], "refused");
        assert_eq!(reply.body["reason"], reason, "{file}");
        assert!(reply.body["message"].as_str().is_some_and(|m| !m.is_empty()));
        term.shutdown().await;
    }
    // busy: a second kick while a payment runs on the first.
    let mut config = prepare(FileConfig::default(), Some("88888888"), tas.terminal_addr());
    config.terminal.profile.auto_card_after_ms = None; // the payment waits for a card
    let term = TerminalProcess::start(config, 4).await.unwrap();
    assert_eq!(kick(&term, None).await.status, 202);
    tas.wait_connected("88888888", T).await.unwrap();
    let tas = std::sync::Arc::new(tas);
    let t2 = tas.clone();
    let pay = tokio::spawn(async move {
        t2.run(
            "88888888",
            ccv_tas::JobKind::Payment { amount_minor: 500, currency: "EUR".into() },
            Some(Duration::from_secs(3)),
        )
        .await
    });
    term.wait_for_status(T, |s| s.in_transaction).await.expect("the payment to start");
    let reply = kick(&term, None).await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert_eq!(reply.body["reason"], "busy");
    let _ = timeout(T, pay).await;
    term.shutdown().await;
}

#[tokio::test]
async fn r21_trigger_port_0_means_nothing_listens() {
    let config = FileConfig::load(&fixture("trigger-port-0.toml")).unwrap();
    assert_eq!(config.kick_addr(), None);
    let term = TerminalProcess::start(config, 5).await.unwrap();
    assert_eq!(term.kick_addr(), None, "no listener at all");
    // A kick to where a listener would be gets a connection refusal.
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let err = send_kick(addr, &KickRequestBody::default(), T).await.unwrap_err();
    assert!(matches!(err, KickClientError::Connect { .. }), "{err}");
    term.shutdown().await;
}

#[tokio::test]
async fn tas_down_then_up_backs_off_then_connects() {
    let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tas_addr = probe.local_addr().unwrap();
    drop(probe);
    let term =
        TerminalProcess::start(prepare(FileConfig::default(), Some("31000001"), tas_addr), 6).await.unwrap();
    let reply = kick(&term, None).await;
    assert_eq!(reply.status, 202, "the kick is accepted even though the TAS is down: {}", reply.body);
    term.wait_for_status(T, |s| s.dial_attempts >= 3).await.expect("a few failed dials");
    assert!(!term.status().link_up);
    let tas = Tas::start(tas_addr, None, TasConfig::default()).await.unwrap();
    tas.wait_connected("31000001", T).await.expect("the terminal reaches the TAS once it is up");
    term.wait_for_status(T, |s| s.link_up).await.expect("the terminal to see its link up");
    let r = timeout(T, tas.pay("31000001", 1000)).await.unwrap().unwrap();
    assert_eq!(r.overall_result.as_deref(), Some("Success"));
    term.shutdown().await;
    tas.shutdown().await;
}

#[tokio::test]
async fn dns_not_configured_fails_the_dial_with_dns() {
    let mut config = FileConfig::load(&fixture("dns-missing.toml")).unwrap();
    config.io.kick_port_override = Some(0);
    let term = TerminalProcess::start(config, 7).await.unwrap();
    let reply = kick(&term, None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    term.wait_for_status(T, |s| s.last_dial_failure.as_deref() == Some("dns"))
        .await
        .expect("the dial to fail with dns");
    assert_eq!(term.status().dial_attempts, 0, "no socket was even tried");
    term.shutdown().await;
}

#[tokio::test]
async fn terminal_gone_mid_payment_is_an_unknown_outcome_and_tas_gone_keeps_the_journal() {
    let tas = std::sync::Arc::new(tas().await);
    let mut config = prepare(FileConfig::default(), Some("32000001"), tas.terminal_addr());
    config.terminal.profile.auto_card_after_ms = None;
    // First an approved payment (journal entry 1), with the card simulated quickly.
    let mut quick = config.clone();
    quick.terminal.profile.auto_card_after_ms = Some(0);
    let term = TerminalProcess::start(quick, 8).await.unwrap();
    assert_eq!(kick(&term, None).await.status, 202);
    tas.wait_connected("32000001", T).await.unwrap();
    let r = timeout(T, tas.pay("32000001", 1000)).await.unwrap().unwrap();
    assert_eq!(r.overall_result.as_deref(), Some("Success"));
    assert_eq!(term.status().journal.len(), 1);
    term.shutdown().await;

    // A terminal that waits for a card, and disappears in the middle of the payment.
    let term = TerminalProcess::start(config.clone(), 9).await.unwrap();
    assert_eq!(kick(&term, None).await.status, 202);
    tas.wait_connected("32000001", T).await.unwrap();
    let t2 = tas.clone();
    let pay = tokio::spawn(async move { t2.pay("32000001", 2000).await });
    term.wait_for_status(T, |s| s.in_transaction).await.expect("the payment to start");
    term.shutdown().await;
    let r = timeout(T, pay).await.unwrap().unwrap().unwrap();
    assert_eq!(r.outcome, Outcome::Unknown, "{r:?}");
    assert_eq!(r.reason.as_deref(), Some("terminal_disconnected"));

    // The TAS goes away mid-payment: the terminal survives, its link is down and its journal is intact.
    let term = TerminalProcess::start(config, 10).await.unwrap();
    assert_eq!(kick(&term, None).await.status, 202);
    tas.wait_connected("32000001", T).await.unwrap();
    let t2 = tas.clone();
    let pay = tokio::spawn(async move { t2.pay("32000001", 3000).await });
    term.wait_for_status(T, |s| s.in_transaction).await.expect("the payment to start");
    let tas = std::sync::Arc::into_inner({
        pay.abort();
        let _ = pay.await;
        tas
    })
    .expect("no other holder of the TAS");
    tas.shutdown().await;
    term.wait_for_status(T, |s| !s.link_up).await.expect("the terminal to see the link drop");
    let journal_before = term.status().journal.clone();
    let again = kick(&term, None).await;
    assert_eq!(again.status, 202, "the terminal still works: {}", again.body);
    assert_eq!(term.status().journal[..journal_before.len()], journal_before[..]);
    term.shutdown().await;
}

/// A scripted TAS: accepts one terminal, answers its hand-shake, then hands the raw connection to the test.
async fn fake_tas_accept(listener: &TcpListener) -> Framed<TcpStream, LengthDelimitedCodec> {
    let (stream, _) = timeout(T, listener.accept()).await.unwrap().unwrap();
    let mut conn = Framed::new(stream, LengthDelimitedCodec::builder().length_field_length(4).new_codec());
    let hello = timeout(T, conn.next()).await.unwrap().unwrap().unwrap();
    let req = match ccv_opi::decode(&hello).unwrap() {
        Message::ServiceRequest(r) => r,
        other => panic!("expected the Login hand-shake, got {other:?}"),
    };
    let hello = ccv_wire::handshake::parse_hello(&req).expect("terminal-io's hand-shake parses at the TAS");
    assert_eq!(hello.protocol, ccv_wire::handshake::PROTOCOL);
    let answer = ccv_wire::handshake::answer(&req, OverallResult::Success);
    conn.send(Bytes::from(ccv_opi::encode(&answer, Encoding::Utf8))).await.unwrap();
    conn
}

async fn next_message(conn: &mut Framed<TcpStream, LengthDelimitedCodec>) -> Message {
    let frame = timeout(T, conn.next()).await.expect("a frame in time").expect("open").expect("frame");
    ccv_opi::decode(&frame).expect("the terminal sends valid OPI")
}

#[tokio::test]
async fn malformed_and_oversize_frames_from_the_tas() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tas_addr = listener.local_addr().unwrap();
    let term =
        TerminalProcess::start(prepare(FileConfig::default(), Some("33000001"), tas_addr), 11).await.unwrap();
    assert_eq!(kick(&term, None).await.status, 202);
    let mut conn = fake_tas_accept(&listener).await;

    // Not XML: nobody to answer, the frame is dropped and counted.
    conn.send(Bytes::from_static(b"\x00\x01 garbage")).await.unwrap();
    term.wait_for_status(T, |s| s.bad_frames == 1).await.expect("the bad frame to be counted");

    // A request whose header is readable but whose amount is not a number: the OPI error result.
    let bad = br#"<?xml version="1.0" encoding="UTF-8"?><CardServiceRequest xmlns="http://www.nrf-arts.org/IXRetail/namespace" RequestType="CardPayment" WorkstationID="TAS" RequestID="77"><TotalAmount Currency="EUR">twelve</TotalAmount></CardServiceRequest>"#;
    conn.send(Bytes::from_static(bad)).await.unwrap();
    match next_message(&mut conn).await {
        Message::CardServiceResponse(r) => {
            assert_eq!(r.header.request_id, "77");
            assert_eq!(r.overall_result, OverallResult::ValidationError);
        }
        other => panic!("expected the error response, got {other:?}"),
    }

    // Still serving: a valid request is answered.
    let ok = Message::CardServiceRequest(CardServiceRequest {
        header: Header { workstation_id: "TAS".into(), request_id: "78".into(), ..Header::default() },
        request_type: CardRequestType::CardPayment,
        pos_data: None,
        total_amount: Some(ccv_opi::Amount::new(1000, Currency::EUR)),
        original_transaction: None,
        private_data: None,
    });
    conn.send(Bytes::from(ccv_opi::encode(&ok, Encoding::Utf8))).await.unwrap();
    let mut answered = false;
    for _ in 0..20 {
        match next_message(&mut conn).await {
            Message::DeviceRequest(d) => {
                let resp = Message::DeviceResponse(DeviceResponse {
                    header: d.header.clone(),
                    request_type: d.request_type,
                    overall_result: OverallResult::Success,
                    outputs: d
                        .outputs
                        .iter()
                        .map(|o| OutputResult {
                            out_device_target: o.out_device_target,
                            out_result: OverallResult::Success,
                        })
                        .collect(),
                    input: None,
                    private_data: None,
                });
                conn.send(Bytes::from(ccv_opi::encode(&resp, Encoding::Utf8))).await.unwrap();
            }
            Message::CardServiceResponse(r) => {
                assert_eq!(r.header.request_id, "78");
                assert_eq!(r.overall_result, OverallResult::Success);
                answered = true;
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(answered);

    // An oversize length prefix: the terminal closes the link with a logged reason and keeps running.
    use tokio::io::AsyncWriteExt;
    conn.get_mut().write_all(&(50_000_000u32).to_be_bytes()).await.unwrap();
    let end = timeout(T, conn.next()).await.expect("closed in time");
    assert!(matches!(end, None | Some(Err(_))), "{end:?}");
    term.wait_for_status(T, |s| !s.link_up).await.expect("the link to be down");
    assert!(term.status().last_close_reason.unwrap_or_default().contains("framing"));
    assert_eq!(term.status().journal.len(), 1, "the approved payment stays in the journal");
    // And it can be kicked again.
    assert_eq!(kick(&term, None).await.status, 202);
    let _conn = fake_tas_accept(&listener).await;
    term.shutdown().await;
}

#[tokio::test]
async fn a_kick_may_name_the_tas() {
    let tas = tas().await;
    // The configured TAS is unreachable; the kick names the real one.
    let nowhere: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut config = prepare(FileConfig::default(), Some("34000001"), nowhere);
    config.io.allow_tas_override = true;
    let term = TerminalProcess::start(config, 12).await.unwrap();
    let body = KickRequestBody {
        reference: None,
        tas: Some(HostPort { host: "127.0.0.1".into(), port: tas.terminal_addr().port() }),
    };
    let reply = send_kick(term.kick_addr().unwrap(), &body, T).await.unwrap();
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["tas"], tas.terminal_addr().to_string());
    tas.wait_connected("34000001", T).await.unwrap();
    term.shutdown().await;
    tas.shutdown().await;
}

#[tokio::test]
async fn a_local_opi_client_pays_on_channels_0_and_1() {
    // The POS's channel 1 listener, where the terminal sends its device requests.
    let ch1 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = FileConfig::load(&fixture("default-its.toml")).unwrap();
    config.io.kick_port_override = Some(0);
    config.io.opi_channel0 = "127.0.0.1:0".parse().unwrap();
    config.io.opi_channel1 = ch1.local_addr().unwrap();
    config.terminal.profile.auto_card_after_ms = Some(0);
    let term = TerminalProcess::start(config, 13).await.unwrap();
    let ch0_addr = term.channel0_addr().expect("Default ITS listens on channel 0");
    let stream = TcpStream::connect(ch0_addr).await.unwrap();
    let mut ch0 = Framed::new(stream, LengthDelimitedCodec::builder().length_field_length(4).new_codec());
    let req = Message::CardServiceRequest(CardServiceRequest {
        header: Header { workstation_id: "POS1".into(), request_id: "1".into(), ..Header::default() },
        request_type: CardRequestType::CardPayment,
        pos_data: None,
        total_amount: Some(ccv_opi::Amount::new(1500, Currency::EUR)),
        original_transaction: None,
        private_data: None,
    });
    ch0.send(Bytes::from(ccv_opi::encode(&req, Encoding::Utf8))).await.unwrap();

    let (stream, _) = timeout(T, ch1.accept()).await.expect("the terminal connects to channel 1").unwrap();
    let mut ch1 = Framed::new(stream, LengthDelimitedCodec::builder().length_field_length(4).new_codec());
    let mut receipts = 0;
    let final_response = timeout(T, async { loop {
        tokio::select! {
            item = ch1.next() => {
                let frame = item.expect("channel 1 open").unwrap();
                let d = match ccv_opi::decode(&frame).unwrap() {
                    Message::DeviceRequest(d) => d,
                    other => panic!("channel 1 carries device requests only, got {other:?}"),
                };
                receipts += d.outputs.iter().filter(|o| !matches!(o.out_device_target, ccv_opi::OutDevice::CashierDisplay | ccv_opi::OutDevice::CustomerDisplay)).count();
                let resp = Message::DeviceResponse(DeviceResponse {
                    header: d.header.clone(),
                    request_type: d.request_type,
                    overall_result: OverallResult::Success,
                    outputs: d.outputs.iter().map(|o| OutputResult { out_device_target: o.out_device_target, out_result: OverallResult::Success }).collect(),
                    input: None,
                    private_data: None,
                });
                ch1.send(Bytes::from(ccv_opi::encode(&resp, Encoding::Utf8))).await.unwrap();
            }
            item = ch0.next() => {
                let frame = item.expect("channel 0 open").unwrap();
                break ccv_opi::decode(&frame).unwrap();
            }
        }
    } })
    .await
    .expect("the final response within T");
    match final_response {
        Message::CardServiceResponse(r) => {
            assert_eq!(r.header.request_id, "1");
            assert_eq!(r.overall_result, OverallResult::Success, "{r:?}");
        }
        other => panic!("expected the CardServiceResponse on channel 0, got {other:?}"),
    }
    assert!(receipts > 0, "receipts went to the POS printer over channel 1");
    term.shutdown().await;
}

#[test]
fn handshake_example_frames() {
    let hello = ccv_wire::handshake::hello_message("12345678", Some("ccv-ref-000123"), Some("14.0.11.01"));
    let bytes = ccv_opi::encode(&hello, Encoding::Utf8);
    let req = match ccv_opi::decode(&bytes).unwrap() {
        Message::ServiceRequest(r) => r,
        other => panic!("{other:?}"),
    };
    let parsed = ccv_wire::handshake::parse_hello(&req).unwrap();
    assert_eq!(parsed.tms_id, "12345678");
    assert_eq!(parsed.reference.as_deref(), Some("ccv-ref-000123"));
    let answer = ccv_opi::encode(&ccv_wire::handshake::answer(&req, OverallResult::Success), Encoding::Utf8);
    println!("terminal -> TAS: {:08x}\n{}", bytes.len(), String::from_utf8_lossy(&bytes));
    println!("TAS -> terminal: {:08x}\n{}", answer.len(), String::from_utf8_lossy(&answer));
}

#[tokio::test]
async fn hooks_carry_mqtt_outputs_out_and_cloud_kicks_in() {
    let tas = tas().await;
    let (in_tx, in_rx) = tokio::sync::mpsc::channel(8);
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel(8);
    let hooks = ccv_terminal_io::Hooks { inputs: Some(in_rx), outputs: Some(out_tx), clock: None };
    let config = prepare(FileConfig::default(), Some("35000001"), tas.terminal_addr());
    let term = TerminalProcess::start_with(config, 14, hooks).await.unwrap();
    let first = timeout(T, out_rx.recv()).await.unwrap().unwrap();
    assert!(
        matches!(first, ccv_terminal::Output::OpenMqtt(_)),
        "a 2.0 terminal asks for its MQTT session: {first:?}"
    );
    in_tx.send(ccv_terminal::Input::Mqtt(ccv_terminal::MqttEvent::Connected)).await.unwrap();
    let far = ccv_terminal::Timestamp::from_secs(4_000_000_000);
    let kick = ccv_terminal::CloudKick {
        kick_id: "k1".into(),
        reference: Some("r2".into()),
        expires_at: far,
        tas: None,
    };
    in_tx.send(ccv_terminal::Input::CloudKick(kick)).await.unwrap();
    let info = tas.wait_connected("35000001", T).await.unwrap();
    assert_eq!(info.reference.as_deref(), Some("r2"));
    let mut accepted = false;
    for _ in 0..10 {
        match timeout(T, out_rx.recv()).await.unwrap().unwrap() {
            ccv_terminal::Output::Publish(ccv_terminal::Event::KickAccepted { .. }) => {
                accepted = true;
                break;
            }
            _ => continue,
        }
    }
    assert!(accepted, "the kick-accepted event is forwarded for the MQTT client to publish");
    term.shutdown().await;
    tas.shutdown().await;
}

#[tokio::test]
async fn declines_refunds_reversals_and_a_failed_printer_through_the_tas() {
    let tas = tas().await;
    let term =
        TerminalProcess::start(prepare(FileConfig::default(), Some("36000001"), tas.terminal_addr()), 15)
            .await
            .unwrap();
    assert_eq!(kick(&term, None).await.status, 202);
    tas.wait_connected("36000001", T).await.unwrap();
    let run = |kind| tas.run("36000001", kind, Some(T));
    let eur = || "EUR".to_owned();

    // A magic amount ending in .51 is declined, and the response says so.
    let r = timeout(T, run(ccv_tas::JobKind::Payment { amount_minor: 1051, currency: eur() }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, Outcome::Completed);
    assert_ne!(r.overall_result.as_deref(), Some("Success"), "{r:?}");

    // The printer fails: the payment still completes, the receipt is reported as not printed.
    tas.set_fail_printer("36000001", true);
    let r = timeout(T, run(ccv_tas::JobKind::Payment { amount_minor: 2000, currency: eur() }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.overall_result.as_deref(), Some("Success"), "{r:?}");
    assert!(r.receipts.iter().any(|rc| !rc.printed), "{:?}", r.receipts);
    tas.set_fail_printer("36000001", false);

    // Reversal of the last approved payment, then a refund, login, logoff and reconciliation.
    let r =
        timeout(T, run(ccv_tas::JobKind::Reversal { amount_minor: 2000, currency: eur(), original: None }))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(r.overall_result.as_deref(), Some("Success"), "{r:?}");
    let r = timeout(T, run(ccv_tas::JobKind::Refund { amount_minor: 500, currency: eur() }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.overall_result.as_deref(), Some("Success"), "{r:?}");
    for kind in [ccv_tas::JobKind::Login, ccv_tas::JobKind::Reconciliation, ccv_tas::JobKind::Logoff] {
        let r = timeout(T, run(kind.clone())).await.unwrap().unwrap();
        assert_eq!(r.outcome, Outcome::Completed, "{kind:?}: {r:?}");
        assert_eq!(r.overall_result.as_deref(), Some("Success"), "{kind:?}: {r:?}");
    }
    assert!(term.status().journal.len() >= 4, "{:?}", term.status().journal);
    term.shutdown().await;
    tas.shutdown().await;
}

#[tokio::test]
async fn an_abort_from_the_tas_stops_a_waiting_payment() {
    let tas = std::sync::Arc::new(tas().await);
    let mut config = prepare(FileConfig::default(), Some("37000001"), tas.terminal_addr());
    config.terminal.profile.auto_card_after_ms = None; // waits for a card
    let term = TerminalProcess::start(config, 16).await.unwrap();
    assert_eq!(kick(&term, None).await.status, 202);
    tas.wait_connected("37000001", T).await.unwrap();
    let t2 = tas.clone();
    let pay = tokio::spawn(async move { t2.pay("37000001", 4200).await });
    term.wait_for_status(T, |s| s.in_transaction).await.expect("the payment to start");
    let abort = timeout(T, tas.run("37000001", ccv_tas::JobKind::Abort, Some(T))).await.unwrap().unwrap();
    assert_eq!(abort.outcome, Outcome::Completed, "{abort:?}");
    let r = timeout(T, pay).await.unwrap().unwrap().unwrap();
    assert_eq!(r.outcome, Outcome::Completed, "{r:?}");
    assert_eq!(r.overall_result.as_deref(), Some("Aborted"), "{r:?}");
    term.shutdown().await;
}
