//! `ccv-emu sandbox` as a newcomer runs it: one command, the printed curl makes a payment that succeeds, SIGTERM
//! stops it cleanly, and the state directory survives.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

mod common;
use common::BIN;

/// Kills the child when the test ends early; `take` hands it over for a clean stop.
struct Running(Option<std::process::Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts the sandbox with `--json` and returns the child and its ready line.
fn start(state: &std::path::Path, info: &std::path::Path) -> (Running, Value) {
    let mut child = Command::new(BIN)
        .args(["sandbox", "--ephemeral-ports", "--json", "--state"])
        .arg(state)
        .arg("--info-file")
        .arg(info)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ccv-emu sandbox");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut line = String::new();
        let mut reader = std::io::BufReader::new(stdout);
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = rx.recv_timeout(Duration::from_secs(60)).expect("the sandbox prints its ready line");
    (Running(Some(child)), serde_json::from_str(&line).expect("a JSON ready line"))
}

/// A webhook receiver: its URL and what it is sent.
async fn hook_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::Json<Value>| async move {
            let _ = tx.send(body.0);
            axum::http::StatusCode::NO_CONTENT
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (hook, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_starts_the_world_and_its_curl_payment_succeeds() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (state, info_file) = (tmp.path().join("state"), tmp.path().join("info.json"));
    let (mut child, ready) = start(&state, &info_file);
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(&info_file).expect("info file written")).expect("JSON");
    assert_eq!(info, ready, "the info file holds what was printed");
    assert!(ready["readyMs"].as_u64().expect("readyMs") < 10_000);
    assert_eq!(ready["terminals"].as_array().expect("terminals").len(), 8);

    // The printed curl, as a POS would send it, with a webhook receiver to learn the end.
    let curl = ready["curl"].as_str().expect("curl");
    let key = curl.split("-u ").nth(1).and_then(|s| s.split(':').next()).expect("the key in the curl");
    let body: Value =
        serde_json::from_str(curl.split("-d '").nth(1).and_then(|s| s.strip_suffix('\'')).expect("body"))
            .expect("the curl's body is JSON");
    let (hook, mut rx) = hook_receiver().await;
    let mut body = body;
    body["webhookUrl"] = json!(hook);
    let api = ready["apiUrl"].as_str().expect("apiUrl");
    let client = ccv_vpos::client::VposClient::new(api, key);
    let (_, created) = client.create_payment(&body).await.expect("the API answers");
    assert_eq!(created["status"], "pending", "{created}");
    let reference = created["reference"].as_str().expect("reference");
    let hooked = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("a webhook in time");
    assert_eq!(hooked, Some(json!({"id": reference})));
    let (_, done) = client.transaction(reference).await.expect("the API answers");
    assert_eq!(done["status"], "success", "{done}");

    // doctor: the installer's checklist against the running sandbox.
    let control = ready["controlUrl"].as_str().expect("controlUrl");
    let doctor = |id: &str| {
        let out = Command::new(BIN).args(["doctor", id, "--control", control]).output().expect("doctor runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, _) = doctor("29000001");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.matches("PASS").count(), 9, "{out}");
    let (code, out, _) = doctor("29000010");
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("FAIL whitelist") && out.contains("fix: have the TMS ID put on"), "{out}");
    let (code, out, _) = doctor("23000001");
    assert_eq!(code, Some(2));
    assert!(out.contains("FAIL dns") && out.contains("the MQTT link is down (dns)"), "{out}");
    let (code, _, err) = doctor("99999999");
    assert_eq!(code, Some(1));
    assert!(err.contains("no terminal 99999999"), "{err}");

    // ctl: the control API from the shell.
    let ctl = |args: &[&str]| {
        let out =
            Command::new(BIN).arg("ctl").args(args).args(["--control", control]).output().expect("ctl runs");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let list = ctl(&["terminals"]);
    assert_eq!(list.lines().count(), 8, "{list}");
    assert!(list.lines().any(|l| l.starts_with("29000001") && l.contains("mqtt up")), "{list}");
    let idle = ctl(&["terminal", "29000001"]);
    let menu = ctl(&["keys", "29000001", "MENU"]);
    assert!(menu.starts_with("29000001: ") && menu != idle, "{menu}");
    let back = ctl(&["keys", "29000001", "STOP"]);
    assert_eq!(back, idle, "STOP shows the idle screen again");
    let events: Value = serde_json::from_str(&ctl(&["--json", "doctor", "29000001"])).expect("JSON");
    assert_eq!(events["ok"], true);
    let password = ctl(&["service-password", "29000001"]);
    assert!(!password.trim().is_empty() && password.trim().chars().all(|c| c.is_ascii_digit()), "{password}");
    let moved = ctl(&["clock", "advance", "86400"]);
    assert!(moved.contains("86400 s ahead"), "{moved}");
    let tomorrow = ctl(&["service-password", "29000001"]);
    assert_ne!(tomorrow, password, "a day later the service password is another");

    // SIGTERM: a clean stop.
    let process = child.0.take().expect("running");
    let pid = process.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(killed.success());
    let status = ccv_test_support::wait_exit(process, Duration::from_secs(20)).expect("stops within 20 s");
    assert!(status.success(), "{status:?}");
    assert!(state.join("pki/ca.pem").is_file() && state.join("vpos/vpos.sqlite3").is_file());
}

/// The journal entries in a terminal's state file: (STAN, outcome) in order.
fn journal(state: &std::path::Path, tms: &str) -> Vec<(u64, String)> {
    let file = state.join("terminals").join(format!("{tms}.json"));
    let nv: Value = serde_json::from_slice(&std::fs::read(&file).expect("state file")).expect("JSON");
    nv["memory"]["journal"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| (e["stan"].as_u64().expect("stan"), e["outcome"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_killed_mid_payment_keeps_its_journal_and_never_repeats_a_stan() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (state, info_file) = (tmp.path().join("state"), tmp.path().join("info.json"));
    let (mut child, ready) = start(&state, &info_file);
    let api = ready["apiUrl"].as_str().expect("apiUrl").to_owned();
    let key = ready["merchants"][0]["apiKey"].as_str().expect("key").to_owned();
    let (hook, mut hooks) = hook_receiver().await;
    let client = ccv_vpos::client::VposClient::new(api.clone(), key.clone());
    let body = json!({"amount": "3.00", "currency": "EUR", "method": "terminal", "webhookUrl": hook,
        "details": {"terminalId": "29000001", "managementSystemId": "GrundmasterNL", "accessProtocol": "OPI_NL"}});
    for _ in 0..3 {
        let (_, created) = client.create_payment(&body).await.expect("answer");
        let hooked = tokio::time::timeout(Duration::from_secs(30), hooks.recv()).await.expect("a webhook");
        assert_eq!(hooked.expect("hook")["id"], created["reference"]);
    }
    let before = journal(&state, "29000001");
    assert_eq!(before.len(), 3, "{before:?}");

    // A payment reaches the terminal (its customer gets 200 ms to present the card): SIGKILL the whole sandbox.
    let control = ready["controlUrl"].as_str().expect("controlUrl").to_owned();
    let mut events = reqwest::get(format!("{control}/events")).await.expect("event stream");
    let (_, killed) = client.create_payment(&body).await.expect("answer");
    let mut buf = String::new();
    while !buf.contains("PRESENTEER KAART") {
        let chunk = tokio::time::timeout(Duration::from_secs(30), events.chunk()).await.expect("an event");
        buf.push_str(&String::from_utf8_lossy(&chunk.expect("stream").expect("open")));
    }
    let mut process = child.0.take().expect("running");
    process.kill().expect("SIGKILL");
    let _ = process.wait();

    // Restart on the same state: nothing lost or doubled, the STANs go on.
    let (_child, ready) = start(&state, &info_file);
    let after = journal(&state, "29000001");
    assert!(after.starts_with(&before), "the journal before the kill is kept: {after:?}");
    assert!(after.len() <= before.len() + 1, "at most the killed payment was added: {after:?}");
    let client = ccv_vpos::client::VposClient::new(ready["apiUrl"].as_str().expect("apiUrl"), key);
    let (_, lost) =
        client.transaction(killed["reference"].as_str().expect("reference")).await.expect("answer");
    assert_eq!(lost["status"], "manualintervention", "{lost}");
    let (_, created) = client.create_payment(&body).await.expect("answer");
    // The killed payment's webhook (its settling at the restart) and the new one's, in either order.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let hooked = tokio::time::timeout(Duration::from_secs(30), hooks.recv()).await.expect("a webhook");
        ids.push(hooked.expect("hook")["id"].clone());
    }
    assert!(ids.contains(&created["reference"]) && ids.contains(&killed["reference"]), "{ids:?}");
    let last = journal(&state, "29000001");
    let stans: Vec<u64> = last.iter().map(|(s, _)| *s).collect();
    let mut unique = stans.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), stans.len(), "no STAN repeats: {stans:?}");
    assert!(stans.last() > after.iter().map(|(s, _)| s).max(), "the next STAN is new: {stans:?}");
}
