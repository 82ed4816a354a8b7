//! The IoT Core stand-in on loopback, driven by the step-by-step probe client: TLS refusals
//! (ALPN, SNI, certificates), policies, one connection per client id, keep-alive, QoS 2, limits,
//! persistent sessions and malformed input.

mod common;

use std::time::{Duration, SystemTime};

use ccv_iot::identity::OU_TERMINAL;
use ccv_iot::probe::Probe;
use ccv_iot::{Pki, PkiOptions, Reason};
use ccv_tls::client_config;
use ccv_wire::cloud::AWS_IOT_ALPN;
use ccv_wire::cloud::{Command, ConnectTas, Event, parse_command};
use ccv_wire::cloud::{cmd_topic, evt_topic};
use common::{WAIT, refused_somewhere, start, start_with};
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{ConnectReturnCode, Packet, Subscribe, SubscribeReasonCode};

fn kick(id: &str) -> Vec<u8> {
    Command::ConnectTas(ConnectTas {
        kick_id: id.into(),
        reference: "tr-1".into(),
        host: Some("127.0.0.1".into()),
        port: Some(5555),
        expires_at: 4_000_000_000_000,
    })
    .to_json()
}

#[tokio::test]
async fn a_kick_from_the_payment_api_reaches_the_terminal_and_its_event_comes_back() {
    let s = start().await;
    let mut t1 = s.connect("T1", "T1", true).await;
    assert_eq!(t1.alpn().as_deref(), Some(AWS_IOT_ALPN.as_bytes()));
    let ack = t1.subscribe(&cmd_topic("NL-CAT", "T1"), QoS::AtLeastOnce).await.expect("SUBACK");
    assert_eq!(ack.return_codes, vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]);
    let mut vpos = s.connect("vpos", "vpos-1", true).await;
    vpos.subscribe("ccv/+/+/evt", QoS::AtLeastOnce).await.expect("SUBACK");
    vpos.publish(&cmd_topic("NL-CAT", "T1"), QoS::AtLeastOnce, &kick("k-1")).await.expect("PUBACK");

    let got = t1.next_publish().await.expect("kick delivered");
    assert_eq!(got.topic, "ccv/NL-CAT/T1/cmd");
    assert_eq!(got.qos, QoS::AtLeastOnce);
    let Command::ConnectTas(k) = parse_command(&got.payload).expect("kick parses") else {
        panic!("not a kick")
    };
    assert_eq!(k.kick_id, "k-1");

    let answer = Event::KickAccepted { kick_id: k.kick_id, reference: k.reference, duplicate: false };
    t1.publish(&evt_topic("NL-CAT", "T1"), QoS::AtLeastOnce, &answer.to_json()).await.expect("PUBACK");
    let evt = vpos.next_publish().await.expect("event delivered");
    assert_eq!(Event::from_json(&evt.payload).expect("event parses"), answer);
    s.endpoint.shutdown().await;
}

#[tokio::test]
async fn the_8883_listener_needs_no_alpn_but_443_does() {
    let mut s = start().await;
    let addr = s.endpoint.local_addr_8883().expect("8883 listener configured");
    let mut p = Probe::connect(addr, Some("localhost"), s.client("T1", None), WAIT).await.expect("TLS ok");
    assert_eq!(p.mqtt_connect("T1", true, 30).await.expect("CONNACK").code, ConnectReturnCode::Success);

    let no_alpn =
        Probe::connect(s.endpoint.local_addr(), Some("localhost"), s.client("T2", None), WAIT).await;
    assert!(refused_somewhere(no_alpn, "T2").await, "443 without ALPN must be refused");
    s.refused(|r| *r == Reason::AlpnMissing).await;

    let wrong =
        Probe::connect(s.endpoint.local_addr(), Some("localhost"), s.client("T2", Some(b"mqtt")), WAIT).await;
    assert!(refused_somewhere(wrong, "T2").await, "443 with the wrong ALPN must be refused");
    let r = s.refused(|r| matches!(r, Reason::AlpnWrong { .. })).await;
    assert_eq!(r, Reason::AlpnWrong { offered: vec!["mqtt".into()] });
}

#[tokio::test]
async fn no_sni_is_refused() {
    let mut s = start().await;
    let attempt =
        Probe::connect(s.endpoint.local_addr(), None, s.client("T1", Some(AWS_IOT_ALPN.as_bytes())), WAIT)
            .await;
    assert!(refused_somewhere(attempt, "T1").await);
    s.refused(|r| *r == Reason::NoSni).await;
}

#[tokio::test]
async fn a_client_naming_another_server_is_refused_and_the_endpoints_names_are_served() {
    let mut s = start().await;
    // A client that trusts any certificate would otherwise be served under any name it asks for.
    let attempt =
        Probe::connect(s.endpoint.local_addr(), Some("evil.example"), s.unverifying_client("T1"), WAIT).await;
    assert!(refused_somewhere(attempt, "T1").await, "SNI evil.example must be refused");
    let r = s.refused(|r| matches!(r, Reason::UnknownServerName { .. })).await;
    assert!(matches!(&r, Reason::UnknownServerName { name, .. } if name == "evil.example"), "{r:?}");
    assert!(r.to_string().contains("localhost"), "the refusal names what is served: {r}");
    // Every name of the server certificate is served, in any letter case.
    for name in ["localhost", ccv_iot::pki::ATS_HOST, "LocalHost"] {
        let mut p = Probe::connect(s.endpoint.local_addr(), Some(name), s.unverifying_client("T1"), WAIT)
            .await
            .expect("TLS ok");
        assert_eq!(p.mqtt_connect("T1", true, 30).await.expect("CONNACK").code, ConnectReturnCode::Success);
    }
}

#[tokio::test]
async fn no_client_certificate_or_one_from_another_ca_is_refused() {
    let mut s = start().await;
    // No certificate at all.
    let roots = {
        let mut r = rustls::RootCertStore::empty();
        for c in ccv_tls::certs_from_pem(&s.pki.ca.cert_pem, "CA").expect("CA parses") {
            r.add(c).expect("CA added");
        }
        r
    };
    let mut anon = rustls::ClientConfig::builder_with_provider(ccv_tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    anon.alpn_protocols = vec![AWS_IOT_ALPN.as_bytes().to_vec()];
    let attempt =
        Probe::connect(s.endpoint.local_addr(), Some("localhost"), std::sync::Arc::new(anon), WAIT).await;
    assert!(refused_somewhere(attempt, "T1").await);
    s.refused(|r| matches!(r, Reason::Tls(_))).await;

    // A certificate for the same CN from a different CA.
    let other = Pki::generate(&PkiOptions { terminals: vec!["T1".into()], ..PkiOptions::default() })
        .expect("other PKI");
    let t1 = other.terminal("T1").expect("T1 in other PKI");
    let cfg =
        client_config(&s.pki.ca.cert_pem, &t1.cert_pem, &t1.key_pem, Some(AWS_IOT_ALPN.as_bytes()), true)
            .expect("client config");
    let attempt = Probe::connect(s.endpoint.local_addr(), Some("localhost"), cfg, WAIT).await;
    assert!(refused_somewhere(attempt, "T1").await);
    let r = s.refused(|r| matches!(r, Reason::Tls(_))).await;
    assert!(r.to_string().to_lowercase().contains("certificate"), "{r}");

    // A certificate from our CA but with no role: no policy attached.
    let odd = s.pki.issue_client("guest", "guest").expect("issues");
    let cfg =
        client_config(&s.pki.ca.cert_pem, &odd.cert_pem, &odd.key_pem, Some(AWS_IOT_ALPN.as_bytes()), true)
            .expect("client config");
    let attempt = Probe::connect(s.endpoint.local_addr(), Some("localhost"), cfg, WAIT).await;
    assert!(refused_somewhere(attempt, "guest").await);
    s.refused(|r| matches!(r, Reason::NoIdentity(_))).await;
}

#[tokio::test]
async fn an_expired_or_not_yet_valid_client_certificate_is_refused_at_the_handshake_and_the_endpoint_keeps_serving()
 {
    let mut s = start().await;
    let day = Duration::from_secs(24 * 3600);
    let now = SystemTime::now();
    for (from, until, why) in
        [(now - 30 * day, now - day, "certificate expired"), (now + day, now + 30 * day, "not valid yet")]
    {
        let t1 = s.pki.issue_with_validity("T1", OU_TERMINAL, &[], from, until).expect("issues");
        let cfg =
            client_config(&s.pki.ca.cert_pem, &t1.cert_pem, &t1.key_pem, Some(AWS_IOT_ALPN.as_bytes()), true)
                .expect("client config");
        let attempt = Probe::connect(s.endpoint.local_addr(), Some("localhost"), cfg, WAIT).await;
        assert!(refused_somewhere(attempt, "T1").await, "{why}");
        // Refused in the hand-shake (no identity was read, no CONNECT), and the log says why.
        let r = s.refused(|r| matches!(r, Reason::Tls(_))).await;
        assert!(r.to_string().contains(why), "{why}: {r}");
    }
    // The same terminal with its valid certificate is served.
    let mut t1 = s.connect("T1", "T1", true).await;
    t1.subscribe(&cmd_topic("NL-CAT", "T1"), QoS::AtLeastOnce).await.expect("SUBACK");
    s.endpoint.shutdown().await;
}

#[tokio::test]
async fn a_terminal_cannot_read_another_terminals_commands() {
    let mut s = start().await;
    let mut t1 = s.connect("T1", "T1", true).await;
    let mut sub = Subscribe::new(cmd_topic("NL-CAT", "T2"), QoS::AtLeastOnce);
    sub.pkid = 1;
    t1.send(&Packet::Subscribe(sub)).await.expect("sent");
    t1.expect_closed().await.expect("disconnected without SUBACK");
    let r = s.refused(|r| matches!(r, Reason::Policy(_))).await;
    assert!(r.to_string().contains("not allowed to subscribe"), "{r}");

    let mut t1 = s.connect("T1", "T1", true).await;
    t1.send(&Packet::Subscribe(Subscribe::new("ccv/#", QoS::AtMostOnce))).await.expect("sent");
    t1.expect_closed().await.expect("wildcard over all terminals refused");
}

#[tokio::test]
async fn a_terminal_cannot_publish_a_kick_nor_use_another_client_id() {
    let mut s = start().await;
    let mut t1 = s.connect("T1", "T1", true).await;
    let mut p = rumqttc::mqttbytes::v4::Publish::new(cmd_topic("NL-CAT", "T2"), QoS::AtLeastOnce, kick("x"));
    p.pkid = 7;
    t1.send(&Packet::Publish(p)).await.expect("sent");
    t1.expect_closed().await.expect("disconnected without PUBACK");
    let r = s.refused(|r| matches!(r, Reason::Policy(_))).await;
    assert!(r.to_string().contains("not allowed to publish"), "{r}");

    let mut p = s.tls("T1").await;
    let ack = p.mqtt_connect("T2", true, 30).await.expect("CONNACK");
    assert_eq!(ack.code, ConnectReturnCode::NotAuthorized);
    p.expect_closed().await.expect("closed after refusal");
}

#[tokio::test]
async fn a_payment_api_certificate_cannot_take_a_terminals_client_id() {
    let mut s = start().await;
    let mut t1 = s.connect("T1", "T1", true).await;
    t1.subscribe(&cmd_topic("NL-CAT", "T1"), QoS::AtLeastOnce).await.expect("SUBACK");
    // The attack: the payment API's certificate connects as T1, to resume its session and receive its kicks.
    let mut p = s.tls("vpos").await;
    let ack = p.mqtt_connect("T1", false, 30).await.expect("CONNACK");
    assert_eq!(ack.code, ConnectReturnCode::NotAuthorized);
    assert!(!ack.session_present, "no session was resumed");
    p.expect_closed().await.expect("closed after refusal");
    let r = s.refused(|r| matches!(r, Reason::Policy(_))).await;
    assert!(r.to_string().contains("starting with \"vpos\""), "{r}");
    // Any id outside its own is refused the same way.
    let mut p = s.tls("vpos").await;
    assert_eq!(
        p.mqtt_connect("other", true, 30).await.expect("CONNACK").code,
        ConnectReturnCode::NotAuthorized
    );

    // The terminal's connection and session are untouched: it still answers pings and gets its kicks.
    t1.send(&Packet::PingReq).await.expect("ping sent");
    assert_eq!(t1.recv().await.expect("PINGRESP"), Packet::PingResp);
    let mut vpos = s.connect("vpos", "vpos-1", true).await;
    vpos.publish(&cmd_topic("NL-CAT", "T1"), QoS::AtLeastOnce, &kick("k-9")).await.expect("PUBACK");
    let got = t1.next_publish().await.expect("the kick still reaches the terminal");
    assert_eq!(got.topic, "ccv/NL-CAT/T1/cmd");
}

#[tokio::test]
async fn a_second_connection_with_the_same_client_id_drops_the_first() {
    let mut s = start().await;
    let mut first = s.connect("T1", "T1", true).await;
    let mut second = s.connect("T1", "T1", true).await;
    first.expect_closed().await.expect("first connection dropped");
    s.refused(|r| *r == Reason::TakenOver).await;
    second.send(&Packet::PingReq).await.expect("ping sent");
    assert_eq!(second.recv().await.expect("PINGRESP"), Packet::PingResp);
}

#[tokio::test]
async fn keep_alive_is_enforced_at_one_and_a_half_times() {
    let mut s = start().await;
    let mut p = s.tls("T1").await;
    p.mqtt_connect("T1", true, 1).await.expect("CONNACK");
    // Pinging keeps it alive past 1.5 s.
    for _ in 0..3 {
        // Time passing is what this test is about: the keep-alive is measured on the endpoint's clock.
        tokio::time::sleep(Duration::from_millis(700)).await;
        p.send(&Packet::PingReq).await.expect("ping");
        assert_eq!(p.recv().await.expect("PINGRESP"), Packet::PingResp);
    }
    // Silence: dropped after 1.5 s, well before 3 s.
    let closed = p.recv_within(Duration::from_secs(3)).await;
    assert!(matches!(closed, Err(ccv_iot::probe::ProbeError::Closed)), "{closed:?}");
    let r = s.refused(|r| matches!(r, Reason::KeepAlive { .. })).await;
    assert_eq!(r, Reason::KeepAlive { millis: 1500 });
}

#[tokio::test]
async fn qos2_subscription_and_publish_are_refused_without_ack() {
    let mut s = start().await;
    let mut t1 = s.connect("T1", "T1", true).await;
    let mut sub = Subscribe::new(cmd_topic("NL-CAT", "T1"), QoS::ExactlyOnce);
    sub.pkid = 3;
    t1.send(&Packet::Subscribe(sub)).await.expect("sent");
    t1.expect_closed().await.expect("no SUBACK, disconnected");
    s.refused(|r| matches!(r, Reason::QoS2 { .. })).await;

    let mut vpos = s.connect("vpos", "vpos-1", true).await;
    let mut p = rumqttc::mqttbytes::v4::Publish::new(cmd_topic("NL-CAT", "T1"), QoS::ExactlyOnce, kick("q2"));
    p.pkid = 4;
    vpos.send(&Packet::Publish(p)).await.expect("sent");
    vpos.expect_closed().await.expect("no PUBREC, disconnected");
    s.refused(|r| matches!(r, Reason::QoS2 { .. })).await;
}

#[tokio::test]
async fn limits_client_id_topic_and_payload() {
    let mut s = start().await;
    // Client id over 128 bytes (payment API, whose ids start with "vpos").
    let long = |len: usize| format!("vpos{}", "v".repeat(len - 4));
    let mut p = s.tls("vpos").await;
    let ack = p.mqtt_connect(&long(129), true, 30).await.expect("CONNACK");
    assert_eq!(ack.code, ConnectReturnCode::BadClientId);
    s.refused(|r| *r == Reason::ClientId { len: 129, max: 128 }).await;
    // 128 bytes is fine.
    let _ok = s.connect("vpos", &long(128), true).await;

    // Topic with 8 slashes.
    let mut v = s.connect("vpos", "vpos-2", true).await;
    v.send(&Packet::Publish(rumqttc::mqttbytes::v4::Publish::new(
        "ccv/a/b/c/d/e/f/g/h",
        QoS::AtMostOnce,
        "x",
    )))
    .await
    .expect("sent");
    v.expect_closed().await.expect("closed");
    s.refused(|r| matches!(r, Reason::Topic(_))).await;

    // Payload one byte over 128 KiB.
    let mut v = s.connect("vpos", "vpos-3", true).await;
    let big = vec![b'x'; 128 * 1024 + 1];
    v.send(&Packet::Publish(rumqttc::mqttbytes::v4::Publish::new(
        cmd_topic("NL-CAT", "T1"),
        QoS::AtMostOnce,
        big,
    )))
    .await
    .expect("sent");
    v.expect_closed().await.expect("closed");
    s.refused(|r| matches!(r, Reason::PayloadTooLarge { len: 131_073, .. })).await;

    // Exactly 128 KiB passes.
    let mut v = s.connect("vpos", "vpos-4", true).await;
    v.publish(&cmd_topic("NL-CAT", "T1"), QoS::AtLeastOnce, &vec![b'x'; 128 * 1024]).await.expect("PUBACK");

    // A packet announcing 200 MB is refused from its header alone.
    let mut v = s.connect("vpos", "vpos-5", true).await;
    v.send_raw(&[0x30, 0xff, 0xff, 0xff, 0x7f]).await.expect("sent");
    v.expect_closed().await.expect("closed");
    s.refused(|r| matches!(r, Reason::PacketTooLarge { .. })).await;
}

#[tokio::test]
async fn a_persistent_session_keeps_qos1_commands_while_offline() {
    let s = start().await;
    let mut t1 = s.connect("T1", "T1", false).await;
    t1.subscribe(&cmd_topic("NL-CAT", "T1"), QoS::AtLeastOnce).await.expect("SUBACK");
    t1.send(&Packet::Disconnect).await.expect("sent");
    t1.expect_closed().await.expect("closed");

    let mut vpos = s.connect("vpos", "vpos-1", true).await;
    vpos.publish(&cmd_topic("NL-CAT", "T1"), QoS::AtLeastOnce, &kick("offline")).await.expect("PUBACK");

    let mut p = s.tls("T1").await;
    let ack = p.mqtt_connect("T1", false, 30).await.expect("CONNACK");
    assert!(ack.session_present, "persistent session resumed");
    let got = p.next_publish().await.expect("queued kick delivered");
    let Command::ConnectTas(k) = parse_command(&got.payload).expect("kick parses") else {
        panic!("not a kick")
    };
    assert_eq!(k.kick_id, "offline");

    // A clean session discards it all.
    let mut p2 = s.connect("T1", "T1", true).await;
    p2.send(&Packet::PingReq).await.expect("ping");
    assert_eq!(p2.recv().await.expect("PINGRESP"), Packet::PingResp);
}

#[tokio::test]
async fn garbage_after_tls_is_refused_and_the_endpoint_keeps_serving() {
    let mut s = start().await;
    let mut p = s.tls("T1").await;
    p.send_raw(&[0xf0, 0x00, 0x01, 0x02]).await.expect("sent");
    p.expect_closed().await.expect("closed");
    s.refused(|r| matches!(r, Reason::Protocol(_))).await;
    // CONNECT must come first.
    let mut p = s.tls("T1").await;
    p.send(&Packet::PingReq).await.expect("sent");
    p.expect_closed().await.expect("closed");
    let _still_fine = s.connect("T1", "T1", true).await;
    assert_eq!(s.endpoint.connected_clients(), 1);
}

#[tokio::test]
async fn a_silent_tcp_client_is_dropped_after_the_handshake_timeout() {
    let mut s = start_with(|c| c.handshake_timeout = Duration::from_millis(300)).await;
    let _tcp = tokio::net::TcpStream::connect(s.endpoint.local_addr()).await.expect("TCP connects");
    s.refused(|r| *r == Reason::Timeout("TLS hand-shake")).await;
}

#[tokio::test]
async fn a_sha384_server_chain_is_refused_by_a_sha256_only_client() {
    let strong = Pki::generate(&PkiOptions {
        terminals: vec!["T1".into()],
        algorithm: ccv_iot::KeyAlgorithm::EcdsaP384Sha384,
        ..PkiOptions::default()
    })
    .expect("SHA-384 PKI");
    let endpoint = ccv_iot::Endpoint::start(
        ccv_iot::EndpointConfig::default(),
        ccv_iot::EndpointTls::from_pki(&strong).expect("server TLS"),
    )
    .await
    .expect("starts");
    let t1 = strong.terminal("T1").expect("T1");
    let strict =
        client_config(&strong.ca.cert_pem, &t1.cert_pem, &t1.key_pem, Some(AWS_IOT_ALPN.as_bytes()), true)
            .expect("client config");
    let err = Probe::connect(endpoint.local_addr(), Some("localhost"), strict, WAIT).await;
    assert!(err.is_err(), "SHA-256-only client must refuse a SHA-384 chain");
    let lax =
        client_config(&strong.ca.cert_pem, &t1.cert_pem, &t1.key_pem, Some(AWS_IOT_ALPN.as_bytes()), false)
            .expect("client config");
    let mut p = Probe::connect(endpoint.local_addr(), Some("localhost"), lax, WAIT).await.expect("TLS ok");
    assert_eq!(p.mqtt_connect("T1", true, 30).await.expect("CONNACK").code, ConnectReturnCode::Success);
    endpoint.shutdown().await;
}

#[tokio::test]
async fn a_terminals_last_will_reaches_the_payment_api_when_it_drops_but_not_on_disconnect() {
    let s = start().await;
    let mut vpos = s.connect("vpos", "vpos-1", true).await;
    vpos.subscribe("ccv/+/+/evt", QoS::AtLeastOnce).await.expect("SUBACK");
    let connect_with_will = |payload: &[u8]| {
        let mut c = rumqttc::mqttbytes::v4::Connect::new("T1");
        c.keep_alive = 30;
        c.last_will = Some(rumqttc::mqttbytes::v4::LastWill::new(
            evt_topic("NL-CAT", "T1"),
            payload.to_vec(),
            QoS::AtLeastOnce,
            false,
        ));
        Packet::Connect(c)
    };
    let open = || {
        Probe::connect(
            s.endpoint.local_addr(),
            Some("localhost"),
            s.client("T1", Some(AWS_IOT_ALPN.as_bytes())),
            WAIT,
        )
    };
    // Clean DISCONNECT: no will.
    let mut t1 = open().await.expect("TLS ok");
    t1.send(&connect_with_will(b"clean")).await.expect("sent");
    assert!(matches!(t1.recv().await.expect("CONNACK"), Packet::ConnAck(_)));
    t1.send(&Packet::Disconnect).await.expect("sent");
    t1.expect_closed().await.expect("closed");
    // Dropped connection: the will is published.
    let mut t1 = open().await.expect("TLS ok");
    t1.send(&connect_with_will(br#"{"type":"offline"}"#)).await.expect("sent");
    assert!(matches!(t1.recv().await.expect("CONNACK"), Packet::ConnAck(_)));
    drop(t1);
    let will = vpos.next_publish().await.expect("will delivered");
    assert_eq!(&will.payload[..], br#"{"type":"offline"}"#, "the cleanly disconnected will was not sent");

    // A will on a topic the policy forbids refuses the CONNECT.
    let mut t1 = open().await.expect("TLS ok");
    let mut c = rumqttc::mqttbytes::v4::Connect::new("T1");
    c.last_will = Some(rumqttc::mqttbytes::v4::LastWill::new(
        cmd_topic("NL-CAT", "T2"),
        b"x".to_vec(),
        QoS::AtMostOnce,
        false,
    ));
    t1.send(&Packet::Connect(c)).await.expect("sent");
    match t1.recv().await.expect("CONNACK") {
        Packet::ConnAck(ack) => assert_eq!(ack.code, ConnectReturnCode::NotAuthorized),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

#[tokio::test]
async fn tls_1_2_clients_are_served_too() {
    let s = start().await;
    let t1 = s.pki.terminal("T1").expect("T1");
    let mut roots = rustls::RootCertStore::empty();
    for c in ccv_tls::certs_from_pem(&s.pki.ca.cert_pem, "CA").expect("CA parses") {
        roots.add(c).expect("CA added");
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(ccv_tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .expect("TLS 1.2")
        .with_root_certificates(roots)
        .with_client_auth_cert(
            ccv_tls::certs_from_pem(&t1.cert_pem, "cert").expect("cert"),
            ccv_tls::key_from_pem(&t1.key_pem, "key").expect("key"),
        )
        .expect("client auth");
    cfg.alpn_protocols = vec![AWS_IOT_ALPN.as_bytes().to_vec()];
    let mut p = Probe::connect(s.endpoint.local_addr(), Some("localhost"), std::sync::Arc::new(cfg), WAIT)
        .await
        .expect("TLS 1.2 hand-shake");
    assert_eq!(p.mqtt_connect("T1", true, 30).await.expect("CONNACK").code, ConnectReturnCode::Success);
}

#[tokio::test]
async fn an_offline_persistent_session_expires() {
    let s = start_with(|c| c.session_expiry = Duration::from_millis(200)).await;
    let mut t1 = s.connect("T1", "T1", false).await;
    t1.subscribe(&cmd_topic("NL-CAT", "T1"), QoS::AtLeastOnce).await.expect("SUBACK");
    t1.send(&Packet::Disconnect).await.expect("sent");
    t1.expect_closed().await.expect("closed");
    assert_eq!(s.endpoint.sessions(), 1, "kept while offline");
    // Time passing is what this test is about: the session expires 200 ms after its client left.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut p = s.tls("T1").await;
    let ack = p.mqtt_connect("T1", false, 30).await.expect("CONNACK");
    assert!(!ack.session_present, "expired session is not resumed");
}

#[tokio::test]
async fn taken_down_the_endpoint_refuses_and_closes_connections_and_keeps_sessions_for_when_it_is_back() {
    let s = start().await;
    let (addr, addr_8883) = (s.endpoint.local_addr(), s.endpoint.local_addr_8883().expect("8883 listener"));
    let mut t1 = s.connect("T1", "T1", false).await;
    t1.subscribe(&cmd_topic("NL-CAT", "T1"), QoS::AtLeastOnce).await.expect("SUBACK");

    s.endpoint.set_down(true).await.expect("down");
    assert!(s.endpoint.is_down());
    t1.expect_closed().await.expect("the connection is closed");
    for a in [addr, addr_8883] {
        let err = tokio::net::TcpStream::connect(a).await.expect_err("nobody listens while down");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{a}");
    }
    assert_eq!(s.endpoint.sessions(), 1, "T1's persistent session stays while the endpoint is down");

    s.endpoint.set_down(false).await.expect("up");
    assert!(!s.endpoint.is_down());
    assert_eq!((s.endpoint.local_addr(), s.endpoint.local_addr_8883()), (addr, Some(addr_8883)));
    // A kick for T1 while it is away is queued on its subscription from before the outage.
    let mut vpos = s.connect("vpos", "vpos-1", true).await;
    vpos.publish(&cmd_topic("NL-CAT", "T1"), QoS::AtLeastOnce, &kick("after-outage")).await.expect("PUBACK");
    let mut p = Probe::connect(addr, Some("localhost"), s.client("T1", Some(AWS_IOT_ALPN.as_bytes())), WAIT)
        .await
        .expect("TLS ok on the same port");
    assert!(p.mqtt_connect("T1", false, 30).await.expect("CONNACK").session_present);
    let got = p.next_publish().await.expect("the queued kick");
    let Command::ConnectTas(k) = parse_command(&got.payload).expect("kick parses") else {
        panic!("not a kick")
    };
    assert_eq!(k.kick_id, "after-outage");
    s.endpoint.shutdown().await;
}

/// MQTT 3.1.1 [MQTT-3.1.2-2]: a protocol level the server does not support is answered with CONNACK return code 1
/// (unacceptable protocol version) and the connection is closed.
#[tokio::test]
async fn other_mqtt_versions_get_connack_unacceptable_protocol_version() {
    use rumqttc::v5::mqttbytes::v5 as mqtt5;
    let mut s = start().await;
    // MQTT 3.1 (protocol name "MQIsdp", level 3): no codec for it in rumqttc, so the CONNECT is written out.
    let mqtt31 = vec![0x10, 16, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 0x02, 0, 30, 0, 2, b'T', b'1'];
    let mqtt5 = |properties: Option<mqtt5::ConnectProperties>| {
        let connect =
            mqtt5::Connect { keep_alive: 30, client_id: "T1".into(), clean_start: true, properties };
        let mut buf = bytes::BytesMut::new();
        mqtt5::Packet::Connect(connect, None, None).write(&mut buf, None).expect("MQTT 5 CONNECT encodes");
        buf.to_vec()
    };
    // Real MQTT 5 clients announce properties such as a receive maximum.
    let mut props = mqtt5::ConnectProperties::new();
    props.receive_maximum = Some(20);
    props.session_expiry_interval = Some(3600);
    let cases = [
        ("MQTT 3.1", mqtt31, None),
        ("MQTT 5 without properties", mqtt5(None), Some(5)),
        ("MQTT 5 with properties", mqtt5(Some(props)), Some(5)),
    ];
    for (what, connect, level) in cases {
        let mut p = s.tls("T1").await;
        p.send_raw(&connect).await.expect("sent");
        match p.recv().await {
            Ok(Packet::ConnAck(ack)) => {
                assert_eq!(ack.code, ConnectReturnCode::RefusedProtocolVersion, "{what}")
            }
            other => panic!("{what}: expected CONNACK 1, got {other:?}"),
        }
        p.expect_closed().await.expect("closed after CONNACK 1");
        let r = s.refused(|r| matches!(r, Reason::UnsupportedProtocol { .. })).await;
        assert_eq!(r, Reason::UnsupportedProtocol { level }, "{what}");
    }
    let _still_fine = s.connect("T1", "T1", true).await;
}

/// AWS IoT keeps a persistent session's subscriptions and queued QoS 1 messages for the session expiry, whatever
/// happens to the broker process: with a state file, so does the stand-in across a restart. A kick published
/// while a terminal reconnects after the restart reaches it, and so does one queued before the restart.
#[tokio::test]
async fn persistent_sessions_and_their_queued_kicks_survive_a_restart_of_the_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("iot-sessions.json");
    let with_state = |f: std::path::PathBuf| move |c: &mut ccv_iot::EndpointConfig| c.state_file = Some(f);
    let s = start_with(with_state(file.clone())).await;
    let mut t1 = s.connect("T1", "T1", false).await;
    t1.subscribe(&cmd_topic("NL-CAT", "T1"), QoS::AtLeastOnce).await.expect("SUBACK");
    let mut t2 = s.connect("T2", "T2", false).await;
    t2.subscribe(&cmd_topic("NL-CAT", "T2"), QoS::AtLeastOnce).await.expect("SUBACK");
    drop(t2);
    let mut vpos = s.connect("vpos", "vpos-1", true).await;
    vpos.publish(&cmd_topic("NL-CAT", "T2"), QoS::AtLeastOnce, &kick("before-restart"))
        .await
        .expect("PUBACK");
    s.endpoint.shutdown().await;
    drop((t1, vpos));

    let s = start_with(with_state(file.clone())).await;
    assert_eq!(s.endpoint.sessions(), 2, "T1's and T2's sessions are back");
    let mut vpos = s.connect("vpos", "vpos-1", true).await;
    vpos.publish(&cmd_topic("NL-CAT", "T1"), QoS::AtLeastOnce, &kick("after-restart")).await.expect("PUBACK");
    for (who, id) in [("T1", "after-restart"), ("T2", "before-restart")] {
        let mut p = s.tls(who).await;
        assert!(p.mqtt_connect(who, false, 30).await.expect("CONNACK").session_present, "{who}");
        let got = p.next_publish().await.expect("the queued kick");
        let Command::ConnectTas(k) = parse_command(&got.payload).expect("kick parses") else {
            panic!("not a kick")
        };
        assert_eq!(k.kick_id, id, "{who}");
    }
    s.endpoint.shutdown().await;
    // A state file that is not one: the endpoint says so instead of starting without the sessions.
    std::fs::write(&file, b"{not json").expect("write");
    let pki = common::pki();
    let config = ccv_iot::EndpointConfig { state_file: Some(file.clone()), ..Default::default() };
    let err = ccv_iot::Endpoint::start(config, ccv_iot::EndpointTls::from_pki(&pki).expect("TLS"))
        .await
        .expect_err("an unreadable state file");
    assert!(err.to_string().contains("move it away"), "{err}");
}
