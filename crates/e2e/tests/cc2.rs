//! Cloud Connect 2.0 end to end on loopback: the IoT endpoint stand-in, the terminal's MQTT client, the mock TAS,
//! and the payment API's side played by a raw MQTT client with the `vpos` certificate. Every socket is on
//! 127.0.0.1 with an ephemeral port; every wait has a time-out.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccv_iot::probe::Probe;
use ccv_iot::{Endpoint, EndpointConfig, EndpointTls, KeyAlgorithm, Pki, PkiOptions};
use ccv_tas::Outcome;
use ccv_terminal::{KickRefusal, TasDialFailure};
use ccv_terminal_io::config::FileConfig;
use ccv_terminal_io::kick_client::send_kick;
use ccv_terminal_io::{AlpnPolicy, Credentials, StartError, TerminalProcess};
use ccv_tls::client_config;
use ccv_wire::cloud::AWS_IOT_ALPN;
use ccv_wire::cloud::{Command, ConnectTas, ErrorCode, Event};
use ccv_wire::local_kick::KickRequestBody;
use rumqttc::mqttbytes::QoS;

mod common;
use ccv_test_support as procs;

use common::{T, fixture, tas};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as u64
}

fn pki_for(ids: &[&str], algorithm: KeyAlgorithm) -> Pki {
    let opts = PkiOptions {
        terminals: ids.iter().map(|s| (*s).to_owned()).collect(),
        algorithm,
        ..Default::default()
    };
    Pki::generate(&opts).expect("test PKI generates")
}

async fn endpoint_on(pki: &Pki, listen: SocketAddr) -> Endpoint {
    let config =
        EndpointConfig { listen, keep_alive_min: Duration::from_secs(1), ..EndpointConfig::default() };
    Endpoint::start(config, EndpointTls::from_pki(pki).expect("server TLS")).await.expect("endpoint starts")
}

fn credentials(pki: &Pki, tms_id: &str) -> Credentials {
    let pair = pki.terminal(tms_id).expect("terminal in PKI");
    Credentials {
        ca_pem: pki.ca.cert_pem.clone(),
        cert_pem: pair.cert_pem.clone(),
        key_pem: pair.key_pem.clone(),
    }
}

/// A loopback config (see `common::prepare`) with MQT service `localhost:{iot port}` and ALPN on any port.
fn prepare(c: FileConfig, tms_id: &str, tas: SocketAddr, iot: SocketAddr) -> FileConfig {
    let mut c = common::prepare(c, Some(tms_id), tas);
    let mqt = ccv_terminal::HostPort::new("localhost", iot.port());
    c.terminal.tms.mqt_service = mqt.clone();
    c.terminal.installed.mqt_service = mqt;
    c.terminal.profile.backoff_max_ms = 300;
    c.io.mqtt_alpn = AlpnPolicy::Always;
    c
}

/// The payment API: a raw MQTT client with the `vpos` certificate, subscribed to every terminal's events.
async fn vpos(pki: &Pki, endpoint: &Endpoint) -> Probe {
    let tls = client_config(
        &pki.ca.cert_pem,
        &pki.vpos.cert_pem,
        &pki.vpos.key_pem,
        Some(AWS_IOT_ALPN.as_bytes()),
        true,
    )
    .expect("vpos TLS");
    let mut p = Probe::connect(endpoint.local_addr(), Some("localhost"), tls, T).await.expect("vpos TLS up");
    p.mqtt_connect("vpos-test", true, 30).await.expect("vpos CONNACK");
    p.subscribe("ccv/+/+/evt", QoS::AtLeastOnce).await.expect("vpos SUBACK");
    p
}

fn kick(id: &str, reference: &str, tas: Option<SocketAddr>, expires_at: u64) -> Vec<u8> {
    Command::ConnectTas(ConnectTas {
        kick_id: id.to_owned(),
        reference: reference.to_owned(),
        host: tas.map(|a| a.ip().to_string()),
        port: tas.map(|a| a.port()),
        expires_at,
    })
    .to_json()
}

fn cmd(tms_id: &str) -> String {
    format!("ccv/NL-CAT/{tms_id}/cmd")
}

/// The next event published by any terminal, with its topic.
async fn next_event(vpos: &mut Probe) -> (String, Event) {
    let p = vpos.next_publish().await.expect("an event arrives");
    let event = Event::from_json(&p.payload).expect("events are valid JSON of the documented shape");
    (p.topic, event)
}

async fn wait_up(term: &TerminalProcess) {
    term.wait_for_status(T, |s| s.mqtt.state == "up").await.expect("the MQTT link up");
}

#[tokio::test]
async fn a_cloud_kick_brings_the_terminal_to_the_tas_and_a_payment_completes() {
    let pki = pki_for(&["12345678"], KeyAlgorithm::default());
    let dir = tempfile::tempdir().expect("temp dir");
    pki.write_dir(dir.path()).expect("PKI written");
    let endpoint = endpoint_on(&pki, "127.0.0.1:0".parse().expect("addr")).await;
    let tas = tas().await;
    let mut config = prepare(FileConfig::default(), "12345678", tas.terminal_addr(), endpoint.local_addr());
    // The TAS from the terminal's parameters, not from the kick: the kick names none.
    config.io.mqtt_pki = Some(dir.path().to_owned());
    let term = TerminalProcess::start(config, 1).await.expect("terminal starts");
    wait_up(&term).await;
    let mut vpos = vpos(&pki, &endpoint).await;

    vpos.publish(&cmd("12345678"), QoS::AtLeastOnce, &kick("k-1", "tr-1", None, now_ms() + 60_000))
        .await
        .expect("kick published");
    let (topic, accepted) = next_event(&mut vpos).await;
    assert_eq!(topic, "ccv/NL-CAT/12345678/evt");
    assert_eq!(
        accepted,
        Event::KickAccepted { kick_id: "k-1".into(), reference: "tr-1".into(), duplicate: false }
    );
    let (_, connected) = next_event(&mut vpos).await;
    let tas_addr = tas.terminal_addr();
    assert_eq!(
        connected,
        Event::TasConnected {
            kick_id: "k-1".into(),
            reference: "tr-1".into(),
            host: tas_addr.ip().to_string(),
            port: tas_addr.port()
        }
    );
    let info = tas.wait_connected("12345678", T).await.expect("terminal at the TAS");
    assert_eq!(info.reference.as_deref(), Some("tr-1"), "the hand-shake carries the kick's reference");

    let r = tokio::time::timeout(T, tas.pay("12345678", 2500)).await.expect("in time").expect("payment runs");
    assert_eq!(r.outcome, Outcome::Completed, "{r:?}");
    assert_eq!(r.overall_result.as_deref(), Some("Success"), "{r:?}");
    assert_eq!(r.amount.as_deref(), Some("25.00"));
    let st = term.status();
    assert_eq!(st.mqtt.connects, 1);
    assert_eq!(st.mqtt.commands, 1);
    assert_eq!(st.dial_attempts, 1);
    term.shutdown().await;
    tas.shutdown().await;
    endpoint.shutdown().await;
}

#[tokio::test]
async fn r07_tms_changed_without_a_hardware_installation_never_connects() {
    let pki = pki_for(&["70000001"], KeyAlgorithm::default());
    let endpoint = endpoint_on(&pki, "127.0.0.1:0".parse().expect("addr")).await;
    let mut events = endpoint.events();
    let tas = tas().await;
    let config = prepare(
        FileConfig::load(&fixture("tms-changed-not-installed.toml")).expect("fixture"),
        "70000001",
        tas.terminal_addr(),
        endpoint.local_addr(),
    );
    assert!(config.terminal.tms.mqt && !config.terminal.installed.mqt, "TMS has MQT, the terminal does not");
    let term = TerminalProcess::start_with_credentials(config, 2, credentials(&pki, "70000001"))
        .await
        .expect("terminal starts");
    // Contacting TMS does not load the MQT parameters either (R7).
    assert!(term.input(ccv_terminal::Input::ContactTms).await);
    let quiet = tokio::time::timeout(Duration::from_millis(1500), events.recv()).await;
    assert!(quiet.is_err(), "the endpoint saw the terminal: {quiet:?}");
    assert_eq!(endpoint.connected_clients(), 0);
    assert_eq!(term.status().mqtt.state, "off");
    term.shutdown().await;
    tas.shutdown().await;
    endpoint.shutdown().await;
}

#[tokio::test]
async fn r12_r13_a_migrated_terminal_takes_both_kicks_and_a_1_0_terminal_ignores_the_cloud_kick() {
    let pki = pki_for(&["20000001", "11300002"], KeyAlgorithm::default());
    let endpoint = endpoint_on(&pki, "127.0.0.1:0".parse().expect("addr")).await;
    let tas = tas().await;
    let (tas_addr, iot) = (tas.terminal_addr(), endpoint.local_addr());
    let migrated = TerminalProcess::start_with_credentials(
        prepare(FileConfig::default(), "20000001", tas_addr, iot),
        3,
        credentials(&pki, "20000001"),
    )
    .await
    .expect("migrated terminal starts");
    let old = TerminalProcess::start_with_credentials(
        prepare(FileConfig::load(&fixture("cc1-only.toml")).expect("fixture"), "11300002", tas_addr, iot),
        4,
        credentials(&pki, "11300002"),
    )
    .await
    .expect("1.0 terminal starts");
    wait_up(&migrated).await;
    let mut vpos = vpos(&pki, &endpoint).await;

    // R13: the POS config moved to the cloud kick before this terminal was migrated: nobody answers.
    vpos.publish(&cmd("11300002"), QoS::AtLeastOnce, &kick("k-old", "tr-old", None, now_ms() + 60_000))
        .await
        .expect("kick published");
    let silence = vpos.recv_within(Duration::from_millis(1000)).await;
    assert!(silence.is_err(), "a 1.0 terminal answered a cloud kick: {silence:?}");
    assert_eq!(old.status().mqtt.state, "off");
    assert_eq!(old.status().dial_attempts, 0);

    // R12: the migrated terminal takes a 1.0 local kick while its MQTT link is up ...
    let local = KickRequestBody { reference: Some("tr-local".into()), tas: None };
    let reply = send_kick(migrated.kick_addr().expect("listener"), &local, T).await.expect("kick answered");
    assert_eq!(reply.status, 202, "{}", reply.body);
    tas.wait_connected("20000001", T).await.expect("at the TAS after the local kick");
    // ... and the cloud kick, on the TAS link it already has.
    vpos.publish(
        &cmd("20000001"),
        QoS::AtLeastOnce,
        &kick("k-new", "tr-new", Some(tas_addr), now_ms() + 60_000),
    )
    .await
    .expect("kick published");
    let (topic, accepted) = next_event(&mut vpos).await;
    assert_eq!(topic, "ccv/NL-CAT/20000001/evt");
    assert!(
        matches!(accepted, Event::KickAccepted { ref kick_id, .. } if kick_id == "k-new"),
        "{accepted:?}"
    );
    let (_, connected) = next_event(&mut vpos).await;
    assert!(matches!(connected, Event::TasConnected { .. }), "{connected:?}");
    // The 1.0 terminal still works the 1.0 way.
    let reply = send_kick(old.kick_addr().expect("listener"), &local, T).await.expect("kick answered");
    assert_eq!(reply.status, 202, "{}", reply.body);
    tas.wait_connected("11300002", T).await.expect("1.0 terminal at the TAS");
    for t in [migrated, old] {
        t.shutdown().await;
    }
    tas.shutdown().await;
    endpoint.shutdown().await;
}

#[tokio::test]
async fn r14_mqt_in_tms_forces_flat_outgoing_at_the_next_tms_contact() {
    let pki = pki_for(&["40000100"], KeyAlgorithm::default());
    let endpoint = endpoint_on(&pki, "127.0.0.1:0".parse().expect("addr")).await;
    let tas = tas().await;
    let config = prepare(
        FileConfig::load(&fixture("default-its.toml")).expect("fixture"),
        "40000100",
        tas.terminal_addr(),
        endpoint.local_addr(),
    );
    assert!(config.terminal.tms.mqt, "MQT is on in TMS");
    let term = TerminalProcess::start_with_credentials(config, 5, credentials(&pki, "40000100"))
        .await
        .expect("terminal starts");
    assert_eq!(term.pos_opi_mode(), "DEFAULT ITS");
    wait_up(&term).await;
    let mut vpos = vpos(&pki, &endpoint).await;
    let expires = now_ms() + 60_000;
    vpos.publish(&cmd("40000100"), QoS::AtLeastOnce, &kick("k-its", "tr-1", None, expires))
        .await
        .expect("published");
    let (_, refused) = next_event(&mut vpos).await;
    assert!(
        matches!(refused, Event::KickRefused { reason: KickRefusal::NotFlatOutgoing, ref message, .. } if !message.is_empty()),
        "{refused:?}"
    );
    // The next TMS sync forces TCP FLAT-OUTGOING because MQT is on in TMS.
    assert!(term.input(ccv_terminal::Input::ContactTms).await);
    vpos.publish(&cmd("40000100"), QoS::AtLeastOnce, &kick("k-flat", "tr-2", None, expires))
        .await
        .expect("published");
    let (_, accepted) = next_event(&mut vpos).await;
    assert!(
        matches!(accepted, Event::KickAccepted { ref kick_id, .. } if kick_id == "k-flat"),
        "{accepted:?}"
    );
    tas.wait_connected("40000100", T).await.expect("at the TAS");
    term.shutdown().await;
    tas.shutdown().await;
    endpoint.shutdown().await;
}

#[tokio::test]
async fn duplicate_expired_malformed_and_unknown_commands() {
    let pki = pki_for(&["30000001"], KeyAlgorithm::default());
    let endpoint = endpoint_on(&pki, "127.0.0.1:0".parse().expect("addr")).await;
    let tas = tas().await;
    let term = TerminalProcess::start_with_credentials(
        prepare(FileConfig::default(), "30000001", tas.terminal_addr(), endpoint.local_addr()),
        6,
        credentials(&pki, "30000001"),
    )
    .await
    .expect("terminal starts");
    wait_up(&term).await;
    let mut vpos = vpos(&pki, &endpoint).await;
    let topic = cmd("30000001");

    // Expired: refused, nothing dialled.
    vpos.publish(&topic, QoS::AtLeastOnce, &kick("k-late", "tr-late", None, now_ms() - 1))
        .await
        .expect("published");
    let (_, late) = next_event(&mut vpos).await;
    assert!(
        matches!(late, Event::KickRefused { reason: KickRefusal::KickExpired, duplicate: false, .. }),
        "{late:?}"
    );
    // Not JSON, an unknown type, missing fields: error events, the link stays up.
    for (payload, code) in [
        (&b"{not json"[..], ErrorCode::MalformedPayload),
        (br#"{"type":"reboot"}"#, ErrorCode::UnknownCommand),
        (br#"{"type":"connect-tas","kickId":"k"}"#, ErrorCode::MalformedPayload),
    ] {
        vpos.publish(&topic, QoS::AtLeastOnce, payload).await.expect("published");
        let (_, ev) = next_event(&mut vpos).await;
        assert!(matches!(ev, Event::Error { code: c, .. } if c == code), "{ev:?}");
    }
    assert_eq!(term.status().dial_attempts, 0);

    // A kick and its redelivery: one dial, the same answer marked duplicate.
    let body = kick("k-7", "tr-7", None, now_ms() + 60_000);
    vpos.publish(&topic, QoS::AtLeastOnce, &body).await.expect("published");
    let (_, first) = next_event(&mut vpos).await;
    assert_eq!(
        first,
        Event::KickAccepted { kick_id: "k-7".into(), reference: "tr-7".into(), duplicate: false }
    );
    let (_, connected) = next_event(&mut vpos).await;
    assert!(matches!(connected, Event::TasConnected { .. }), "{connected:?}");
    vpos.publish(&topic, QoS::AtLeastOnce, &body).await.expect("published again");
    let (_, again) = next_event(&mut vpos).await;
    assert_eq!(
        again,
        Event::KickAccepted { kick_id: "k-7".into(), reference: "tr-7".into(), duplicate: true }
    );
    assert_eq!(term.status().dial_attempts, 1, "the TAS is dialled once per kick id");
    assert_eq!(term.status().mqtt.connects, 1, "bad payloads never dropped the link");
    term.shutdown().await;
    tas.shutdown().await;
    endpoint.shutdown().await;
}

#[tokio::test]
async fn after_an_endpoint_restart_the_terminal_reconnects_and_takes_kicks() {
    let pki = pki_for(&["50000001"], KeyAlgorithm::default());
    let endpoint = endpoint_on(&pki, "127.0.0.1:0".parse().expect("addr")).await;
    let addr = endpoint.local_addr();
    let tas = tas().await;
    let term = TerminalProcess::start_with_credentials(
        prepare(FileConfig::default(), "50000001", tas.terminal_addr(), addr),
        7,
        credentials(&pki, "50000001"),
    )
    .await
    .expect("terminal starts");
    wait_up(&term).await;
    endpoint.shutdown().await;
    term.wait_for_status(T, |s| s.mqtt.state == "down").await.expect("the link down");
    let endpoint = endpoint_on(&pki, addr).await;
    term.wait_for_status(T, |s| s.mqtt.connects == 2 && s.mqtt.state == "up")
        .await
        .expect("a second session");
    let mut vpos = vpos(&pki, &endpoint).await;
    vpos.publish(&cmd("50000001"), QoS::AtLeastOnce, &kick("k-r", "tr-r", None, now_ms() + 60_000))
        .await
        .expect("published");
    let (_, ev) = next_event(&mut vpos).await;
    assert!(matches!(ev, Event::KickAccepted { .. }), "{ev:?}");
    tas.wait_connected("50000001", T).await.expect("at the TAS");
    term.shutdown().await;
    tas.shutdown().await;
    endpoint.shutdown().await;
}

/// Starts a terminal against `endpoint` and waits until its first attempt failed; returns the reason.
async fn first_failure(config: FileConfig, credentials: Credentials) -> (String, String) {
    let term =
        TerminalProcess::start_with_credentials(config, 8, credentials).await.expect("terminal starts");
    term.wait_for_status(T, |s| s.mqtt.last_failure.is_some()).await.expect("a failed attempt");
    let st = term.status().mqtt;
    assert_ne!(st.state, "up");
    assert_eq!(st.connects, 0);
    term.shutdown().await;
    (st.last_failure.unwrap_or_default(), st.last_failure_detail.unwrap_or_default())
}

#[tokio::test]
async fn r06_a_sha384_server_chain_wrong_ca_no_alpn_or_no_sni_fail_with_typed_reasons() {
    let tas = tas().await;
    let good = pki_for(&["60000001"], KeyAlgorithm::default());
    let endpoint = endpoint_on(&good, "127.0.0.1:0".parse().expect("addr")).await;
    let base = prepare(FileConfig::default(), "60000001", tas.terminal_addr(), endpoint.local_addr());

    // R6: SSL/TLS Signature Algorithm SHA-256 refuses a chain signed with SHA-384.
    let sha384 = pki_for(&["60000001"], KeyAlgorithm::EcdsaP384Sha384);
    let endpoint384 = endpoint_on(&sha384, "127.0.0.1:0".parse().expect("addr")).await;
    let config = prepare(FileConfig::default(), "60000001", tas.terminal_addr(), endpoint384.local_addr());
    let (reason, detail) = first_failure(config, credentials(&sha384, "60000001")).await;
    assert_eq!(reason, "tls", "{detail}");

    // A certificate from another CA: the endpoint refuses the hand-shake (and the terminal the endpoint's).
    let other = pki_for(&["60000001"], KeyAlgorithm::default());
    let (reason, detail) = first_failure(base.clone(), credentials(&other, "60000001")).await;
    assert_eq!(reason, "tls", "{detail}");

    // No ALPN on the 443-style listener.
    let mut no_alpn = base.clone();
    no_alpn.io.mqtt_alpn = AlpnPolicy::Never;
    let (reason, detail) = first_failure(no_alpn, credentials(&good, "60000001")).await;
    assert_eq!(reason, "tls", "{detail}");

    // The service address as an IP literal: no SNI (and no name the server certificate carries).
    let mut by_ip = base.clone();
    let ip = ccv_terminal::HostPort::new("127.0.0.1", endpoint.local_addr().port());
    by_ip.terminal.tms.mqt_service = ip.clone();
    by_ip.terminal.installed.mqt_service = ip;
    let (reason, detail) = first_failure(by_ip, credentials(&good, "60000001")).await;
    assert_eq!(reason, "tls", "{detail}");

    // Nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let config = prepare(FileConfig::default(), "60000001", tas.terminal_addr(), closed);
    let (reason, detail) = first_failure(config, credentials(&good, "60000001")).await;
    assert_eq!(reason, "unreachable", "{detail}");

    // The same terminal with the right material connects.
    let term = TerminalProcess::start_with_credentials(base, 9, credentials(&good, "60000001"))
        .await
        .expect("starts");
    wait_up(&term).await;
    term.shutdown().await;
    endpoint.shutdown().await;
    endpoint384.shutdown().await;
    tas.shutdown().await;
}

#[tokio::test]
async fn a_server_certificate_expired_or_not_yet_valid_takes_the_link_down_as_certificate_expired() {
    let tas = tas().await;
    let good = pki_for(&["60000002"], KeyAlgorithm::default());
    let day = Duration::from_secs(24 * 3600);
    let now = SystemTime::now();
    for (from, until) in [(now - 30 * day, now - day), (now + day, now + 30 * day)] {
        let mut pki = good.clone();
        pki.server = pki
            .issue_with_validity("localhost", "iot-endpoint", &["localhost".to_owned()], from, until)
            .expect("server certificate issues");
        let endpoint = endpoint_on(&pki, "127.0.0.1:0".parse().expect("addr")).await;
        let config = prepare(FileConfig::default(), "60000002", tas.terminal_addr(), endpoint.local_addr());
        let (reason, detail) = first_failure(config, credentials(&pki, "60000002")).await;
        assert_eq!(reason, "certificate_expired", "{detail}");
        endpoint.shutdown().await;
    }
    tas.shutdown().await;
}

#[tokio::test]
async fn a_dial_failure_after_a_cloud_kick_is_published() {
    let pki = pki_for(&["80000001"], KeyAlgorithm::default());
    let endpoint = endpoint_on(&pki, "127.0.0.1:0".parse().expect("addr")).await;
    let dead_tas = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let mut config = prepare(FileConfig::default(), "80000001", dead_tas, endpoint.local_addr());
    config.terminal.profile.dial_attempts = 2;
    let term = TerminalProcess::start_with_credentials(config, 10, credentials(&pki, "80000001"))
        .await
        .expect("terminal starts");
    wait_up(&term).await;
    let mut vpos = vpos(&pki, &endpoint).await;
    vpos.publish(&cmd("80000001"), QoS::AtLeastOnce, &kick("k-d", "tr-d", None, now_ms() + 60_000))
        .await
        .expect("published");
    let (_, accepted) = next_event(&mut vpos).await;
    assert!(matches!(accepted, Event::KickAccepted { .. }), "{accepted:?}");
    let (_, failed) = next_event(&mut vpos).await;
    assert!(
        matches!(failed, Event::TasDialFailed { reason: TasDialFailure::Refused, ref kick_id, .. } if kick_id == "k-d"),
        "{failed:?}"
    );
    term.shutdown().await;
    endpoint.shutdown().await;
}

#[tokio::test]
async fn a_missing_pki_is_a_start_error_that_names_the_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = FileConfig::default();
    config.io.kick_port_override = Some(0);
    config.io.kick_bind = "127.0.0.1".parse().expect("ip");
    config.io.mqtt_pki = Some(dir.path().to_owned());
    let err = TerminalProcess::start(config, 11).await.expect_err("no PKI files");
    assert!(matches!(err, StartError::Credentials(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("ca.pem") && text.contains("ccv-emu pki init"), "{text}");
}

/// Interop: our terminal against a real mosquitto broker with `require_certificate true` (no ALPN on its port),
/// kicked by a payment-API client through that broker.
#[tokio::test]
async fn our_terminal_takes_a_kick_through_a_real_mosquitto_broker() {
    if procs::require_tool(&["mosquitto"], "mosquitto").is_none() {
        return;
    }
    let pki = pki_for(&["90000001"], KeyAlgorithm::default());
    let dir = tempfile::tempdir().expect("temp dir");
    pki.write_dir(dir.path()).expect("PKI written");
    let broker = procs::start_mosquitto(dir.path()).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], broker.port));
    let tas = tas().await;
    let mut config = prepare(FileConfig::default(), "90000001", tas.terminal_addr(), addr);
    config.io.mqtt_alpn = AlpnPolicy::Auto; // not port 443: no ALPN, as a real terminal would
    config.io.mqtt_pki = Some(dir.path().to_owned());
    let term = TerminalProcess::start(config, 12).await.expect("terminal starts");
    wait_up(&term).await;

    let tls =
        client_config(&pki.ca.cert_pem, &pki.vpos.cert_pem, &pki.vpos.key_pem, None, true).expect("TLS");
    let mut vpos = Probe::connect(addr, Some("localhost"), tls, T).await.expect("TLS with mosquitto");
    vpos.mqtt_connect("vpos-1", true, 30).await.expect("CONNACK");
    vpos.subscribe("ccv/+/+/evt", QoS::AtLeastOnce).await.expect("SUBACK");
    vpos.publish(&cmd("90000001"), QoS::AtLeastOnce, &kick("k-m", "tr-m", None, now_ms() + 60_000))
        .await
        .expect("kick published");
    let (topic, accepted) = next_event(&mut vpos).await;
    assert_eq!(topic, "ccv/NL-CAT/90000001/evt");
    assert_eq!(
        accepted,
        Event::KickAccepted { kick_id: "k-m".into(), reference: "tr-m".into(), duplicate: false }
    );
    let info = tas.wait_connected("90000001", T).await.expect("terminal at the TAS");
    assert_eq!(info.reference.as_deref(), Some("tr-m"));
    let r = tokio::time::timeout(T, tas.pay("90000001", 500)).await.expect("in time").expect("payment runs");
    assert_eq!(r.overall_result.as_deref(), Some("Success"), "{r:?}");
    term.shutdown().await;
    tas.shutdown().await;
}
