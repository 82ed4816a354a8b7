//! The README's Cloud Connect 2.0 walkthrough through the real binary: `ccv-emu pki init`, `ccv-emu iot`,
//! `ccv-emu tas --pki` (the TAS link over mutual TLS), a 2.0 `ccv-emu terminal --iot --pki --tas-tls`, a kick published with Debian's `mosquitto_pub`, and
//! `ccv-emu pay`. All on loopback, every wait bounded.

mod common;

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{BIN, free_port, run, spawn, spawn_until_log};

#[test]
fn walkthrough_pki_iot_tas_terminal_cloud_kick_pay() {
    if ccv_test_support::require_tool(&["mosquitto_pub"], "mosquitto-clients").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let pki = tmp.path().join("pki");
    let pki_s = pki.display().to_string();
    let out =
        Command::new(BIN).args(["pki", "init", &pki_s, "--terminal", "12345678"]).output().expect("pki init");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let iot_port = free_port();
    let iot_addr = format!("127.0.0.1:{iot_port}");
    let (_iot, line) = spawn(&["iot", "--listen", &iot_addr, "--pki", &pki_s]);
    assert!(line.contains(&iot_addr), "{line}");
    let (tas_addr, api_addr) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let (_tas, line) = spawn(&["tas", "--listen", &tas_addr, "--api", &api_addr, "--pki", &pki_s]);
    assert!(line.contains(&tas_addr) && line.contains("mutual TLS"), "{line}");

    let iot_target = format!("localhost:{iot_port}");
    let (_term, line) = spawn_until_log(
        &[
            "terminal",
            "--iot",
            &iot_target,
            "--pki",
            &pki_s,
            "--tas",
            &tas_addr,
            "--tas-tls",
            "--kick-listen",
            "127.0.0.1:0",
        ],
        "MQTT: link up",
    );
    assert!(line.contains("12345678") && line.contains("off (trigger port 0)"), "{line}");

    let expires = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64 + 60_000;
    let kick =
        format!(r#"{{"type":"connect-tas","kickId":"k-cli","reference":"tr-1","expiresAt":{expires}}}"#);
    let ca = pki.join("ca.pem");
    let (cert, key) = (pki.join("vpos.pem"), pki.join("vpos.key"));
    let out = Command::new("mosquitto_pub")
        .args(["-h", "localhost", "-p", &iot_port.to_string(), "--tls-alpn", "x-amzn-mqtt-ca"])
        .arg("--cafile")
        .arg(&ca)
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .args(["-i", "vpos-1", "-q", "1", "-t", "ccv/NL-CAT/12345678/cmd", "-m", &kick])
        .output()
        .expect("mosquitto_pub runs");
    assert!(out.status.success(), "mosquitto_pub: {}", String::from_utf8_lossy(&out.stderr));

    let api = format!("http://{api_addr}");
    let (code, out) =
        run(&["pay", "--tas-api", &api, "--terminal", "12345678", "--amount", "12.34", "--wait", "20"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("overall result: Success"), "{out}");
}
