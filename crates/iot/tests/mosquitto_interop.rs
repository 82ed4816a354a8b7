//! Interop with independent MQTT software (Debian `mosquitto` and `mosquitto-clients`):
//! `mosquitto_pub`/`mosquitto_sub` against our endpoint with `--tls-alpn`, `--cert`, `--key`,
//! `--cafile`, and our PKI and probe against a real mosquitto broker with `require_certificate`.
//! Under CI a missing binary fails the test; elsewhere the test prints why it skips (`.ci/run` installs them).

mod common;
use ccv_test_support as procs;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use ccv_iot::probe::Probe;
use ccv_iot::{EndpointEvent, Reason};
use ccv_tls::client_config;
use common::{WAIT, start};
use procs::{require_tool, start_mosquitto};
use rumqttc::mqttbytes::QoS;

fn tls_args(dir: &Path, who: &str, alpn: bool) -> Vec<String> {
    let (cert, key) = match who {
        "vpos" => (dir.join("vpos.pem"), dir.join("vpos.key")),
        t => (dir.join(format!("terminals/{t}.pem")), dir.join(format!("terminals/{t}.key"))),
    };
    let mut args = vec![
        "--cafile".into(),
        dir.join("ca.pem").display().to_string(),
        "--cert".into(),
        cert.display().to_string(),
        "--key".into(),
        key.display().to_string(),
    ];
    if alpn {
        args.extend(["--tls-alpn".into(), "x-amzn-mqtt-ca".into()]);
    }
    args
}

/// Runs a short-lived client with a hard time-out; returns (success, stdout, stderr).
async fn run(bin: &str, args: &[String]) -> (bool, String, String) {
    let child = tokio::process::Command::new(bin).args(args).kill_on_drop(true).output();
    let out = tokio::time::timeout(Duration::from_secs(15), child)
        .await
        .unwrap_or_else(|_| panic!("{bin} did not finish in 15 s"))
        .unwrap_or_else(|e| panic!("{bin} could not run: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn mosquitto_clients_kick_a_terminal_through_our_endpoint() {
    if require_tool(&["mosquitto_pub"], "mosquitto-clients").is_none()
        || require_tool(&["mosquitto_sub"], "mosquitto-clients").is_none()
    {
        return;
    }
    let mut s = start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    s.pki.write_dir(dir.path()).expect("PKI written");
    let port = s.endpoint.local_addr().port().to_string();
    let topic = "ccv/NL-CAT/T1/cmd";
    let kick = r#"{"type":"connect-tas","kickId":"k-mq","reference":"tr-9","expiresAt":4000000000000}"#;

    // The terminal side: mosquitto_sub with T1's certificate, waits for exactly one message.
    let mut sub_args: Vec<String> =
        ["-h", "localhost", "-p", &port, "-i", "T1", "-q", "1", "-t", topic, "-C", "1", "-W", "12"]
            .map(String::from)
            .to_vec();
    sub_args.extend(tls_args(dir.path(), "T1", true));
    let sub = tokio::process::Command::new("mosquitto_sub")
        .args(&sub_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mosquitto_sub starts");

    // Wait until it has subscribed, then publish once.
    for _ in 0..100 {
        match tokio::time::timeout(WAIT, s.events.recv()).await {
            Ok(Ok(EndpointEvent::Subscribed { client_id, .. })) if client_id == "T1" => break,
            Ok(Ok(_)) => {}
            other => panic!("mosquitto_sub did not subscribe: {other:?}"),
        }
    }
    let mut pub_args: Vec<String> =
        ["-h", "localhost", "-p", &port, "-i", "vpos-mq", "-q", "1", "-t", topic, "-m", kick]
            .map(String::from)
            .to_vec();
    pub_args.extend(tls_args(dir.path(), "vpos", true));
    let waiter = tokio::spawn(async move { sub.wait_with_output().await });
    let (ok, _, err) = run("mosquitto_pub", &pub_args).await;
    assert!(ok, "mosquitto_pub with the payment-API certificate must succeed: {err}");
    let out = tokio::time::timeout(Duration::from_secs(15), waiter)
        .await
        .expect("mosquitto_sub ends")
        .expect("task joins")
        .expect("mosquitto_sub ran");
    assert!(out.status.success(), "mosquitto_sub failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), kick);

    // The same publish with a terminal's certificate is refused by policy.
    let mut bad: Vec<String> =
        ["-h", "localhost", "-p", &port, "-i", "T2", "-q", "1", "-t", topic, "-m", kick]
            .map(String::from)
            .to_vec();
    bad.extend(tls_args(dir.path(), "T2", true));
    let _ = run("mosquitto_pub", &bad).await;
    let r = s.refused(|r| matches!(r, Reason::Policy(_))).await;
    assert!(r.to_string().contains("terminal T2 is not allowed to publish"), "{r}");

    // Without --tls-alpn the 443-style listener refuses the hand-shake.
    let mut no_alpn: Vec<String> =
        ["-h", "localhost", "-p", &port, "-i", "vpos-x", "-q", "1", "-t", topic, "-m", kick]
            .map(String::from)
            .to_vec();
    no_alpn.extend(tls_args(dir.path(), "vpos", false));
    let (ok, _, _) = run("mosquitto_pub", &no_alpn).await;
    assert!(!ok, "mosquitto_pub without ALPN must fail on the 443-style listener");
    s.refused(|r| *r == Reason::AlpnMissing).await;

    // ... and the 8883-style listener takes it.
    let port8883 = s.endpoint.local_addr_8883().expect("8883 listener").port().to_string();
    let mut on8883 = no_alpn.clone();
    on8883[3] = port8883;
    let (ok, _, err) = run("mosquitto_pub", &on8883).await;
    assert!(ok, "mosquitto_pub without ALPN on the 8883-style listener: {err}");
}

#[tokio::test]
async fn our_pki_and_client_work_against_a_real_mosquitto_with_require_certificate() {
    if require_tool(&["mosquitto"], "mosquitto").is_none() {
        return;
    }
    let pki = common::pki();
    let dir = tempfile::tempdir().expect("temp dir");
    pki.write_dir(dir.path()).expect("PKI written");
    let broker = start_mosquitto(dir.path()).await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], broker.port));
    let t1 = pki.terminal("T1").expect("T1");
    let cfg = client_config(&pki.ca.cert_pem, &t1.cert_pem, &t1.key_pem, None, true).expect("client config");
    let mut term = Probe::connect(addr, Some("localhost"), cfg, WAIT).await.expect("TLS with mosquitto");
    term.mqtt_connect("T1", true, 30).await.expect("CONNACK");
    term.subscribe("ccv/NL-CAT/T1/cmd", QoS::AtLeastOnce).await.expect("SUBACK");
    let v = &pki.vpos;
    let cfg = client_config(&pki.ca.cert_pem, &v.cert_pem, &v.key_pem, None, true).expect("client config");
    let mut vpos = Probe::connect(addr, Some("localhost"), cfg, WAIT).await.expect("TLS with mosquitto");
    vpos.mqtt_connect("vpos-1", true, 30).await.expect("CONNACK");
    vpos.publish("ccv/NL-CAT/T1/cmd", QoS::AtLeastOnce, b"{}").await.expect("PUBACK");
    assert_eq!(&term.next_publish().await.expect("delivered").payload[..], b"{}");

    // mosquitto too refuses a client without a certificate.
    let mut roots = rustls::RootCertStore::empty();
    for c in ccv_tls::certs_from_pem(&pki.ca.cert_pem, "CA").expect("CA parses") {
        roots.add(c).expect("CA added");
    }
    let anon = rustls::ClientConfig::builder_with_provider(ccv_tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let attempt = Probe::connect(addr, Some("localhost"), std::sync::Arc::new(anon), WAIT).await;
    assert!(common::refused_somewhere(attempt, "anon").await);
}
