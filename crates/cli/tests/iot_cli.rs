//! `ccv-emu pki init` and `ccv-emu iot` as a user runs them: files and modes, extending a PKI,
//! typed errors, the endpoint answering on loopback, and a clean stop on SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ccv_iot::probe::Probe;
use ccv_tls::client_config;
use ccv_wire::cloud::AWS_IOT_ALPN;

const BIN: &str = env!("CARGO_BIN_EXE_ccv-emu");

fn pki_init(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(BIN).args(["pki", "init"]).arg(dir).args(extra).output().expect("ccv-emu runs")
}

#[test]
fn pki_init_writes_the_layout_and_extends_an_existing_pki() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("pki");
    let out = pki_init(&dir, &["--terminal", "12345678"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["README.txt", "ca.pem", "ca.key", "server.pem", "server.key", "vpos.pem", "vpos.key"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert!(dir.join("terminals/12345678.pem").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("terminals/12345678.key")).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let ca_before = std::fs::read_to_string(dir.join("ca.pem")).expect("CA");

    let out = pki_init(&dir, &["--terminal", "87654321", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(json["created"], false);
    assert!(json["terminals"]["12345678"].is_object() && json["terminals"]["87654321"].is_object());
    assert_eq!(std::fs::read_to_string(dir.join("ca.pem")).expect("CA"), ca_before, "CA kept");

    let out = pki_init(&dir, &["--terminal", "no/slash"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid TMS ID \"no/slash\""), "{err}");
}

#[test]
fn iot_without_a_pki_says_how_to_make_one() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = Command::new(BIN)
        .args(["iot", "--listen", "127.0.0.1:0", "--pki"])
        .arg(tmp.path().join("missing"))
        .output()
        .expect("ccv-emu runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ccv-emu pki init") && err.contains("ca.pem"), "{err}");
}

#[tokio::test]
async fn iot_serves_on_loopback_and_stops_on_sigint() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("pki");
    assert!(pki_init(&dir, &["--terminal", "T1"]).status.success());
    let mut child = Command::new(BIN)
        .args(["iot", "--listen", "127.0.0.1:0", "--listen-8883", "127.0.0.1:0", "--json", "--pki"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ccv-emu iot starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().take(2) {
            let _ = tx.send(line);
        }
    });
    let mut addrs = Vec::new();
    for _ in 0..2 {
        let line =
            rx.recv_timeout(Duration::from_secs(10)).expect("a ready line in 10 s").expect("UTF-8 line");
        let v: serde_json::Value = serde_json::from_str(&line).expect("JSON ready line");
        assert_eq!(v["event"], "listening");
        addrs.push((
            v["addr"].as_str().expect("addr").parse::<std::net::SocketAddr>().expect("socket addr"),
            v["alpnRequired"] == true,
        ));
    }
    let (addr443, _) = addrs.iter().find(|(_, alpn)| *alpn).copied().expect("443-style listener");

    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("PKI file");
    let cfg = client_config(
        &read("ca.pem"),
        &read("terminals/T1.pem"),
        &read("terminals/T1.key"),
        Some(AWS_IOT_ALPN.as_bytes()),
        true,
    )
    .expect("client config");
    let mut p =
        Probe::connect(addr443, Some("localhost"), cfg, Duration::from_secs(5)).await.expect("TLS ok");
    let ack = p.mqtt_connect("T1", true, 30).await.expect("CONNACK");
    assert!(!ack.session_present);

    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let code = ccv_test_support::wait_exit(child, Duration::from_secs(10))
        .expect("ccv-emu iot stops within 10 s of SIGINT");
    assert!(code.success(), "exit status after SIGINT: {code:?}");
}
