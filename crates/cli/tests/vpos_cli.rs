//! `ccv-emu vpos ...` as an operator runs it: merchants, keys and whitelists in a state directory, JSON for
//! tools, and one-line errors with exit status 1.

use std::path::Path;
use std::process::{Command, Output};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_ccv-emu");

fn vpos(state: &Path, args: &[&str]) -> Output {
    Command::new(BIN).arg("vpos").args(args).arg("--state").arg(state).output().expect("ccv-emu runs")
}

fn ok(state: &Path, args: &[&str]) -> String {
    let out = vpos(state, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Runs a command that must fail; returns its single stderr line.
fn fails(state: &Path, args: &[&str]) -> String {
    let out = vpos(state, args);
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    let err = String::from_utf8(out.stderr).expect("UTF-8");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn merchants_keys_and_whitelists_round_trip_through_the_state_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    assert!(ok(&state, &["merchant", "list"]).contains("no merchants"));
    assert!(ok(&state, &["merchant", "add", "shop-1"]).contains("added merchant shop-1"));
    let added: serde_json::Value =
        serde_json::from_str(&ok(&state, &["merchant", "add", "shop-2", "--json"])).unwrap();
    assert_eq!(added["name"], "shop-2");
    assert!(state.join("vpos.sqlite3").is_file());

    let key: serde_json::Value =
        serde_json::from_str(&ok(&state, &["key", "add", "shop-1", "--json"])).unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("t_") && key.len() == 34, "{key}");
    let plain = ok(&state, &["key", "add", "shop-1"]);
    assert!(plain.trim().starts_with("t_") && plain.trim() != key);
    let db = std::fs::read(state.join("vpos.sqlite3")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(&key), "the key itself is not stored");

    ok(&state, &["whitelist", "add", "shop-1", "12345678"]);
    ok(&state, &["whitelist", "add", "shop-1", "87654321"]);
    assert_eq!(ok(&state, &["whitelist", "list", "shop-1"]), "12345678\n87654321\n");
    ok(&state, &["whitelist", "remove", "shop-1", "87654321"]);
    assert_eq!(ok(&state, &["whitelist", "list", "shop-1", "--json"]).trim(), r#"["12345678"]"#);

    let list: serde_json::Value = serde_json::from_str(&ok(&state, &["merchant", "list", "--json"])).unwrap();
    assert_eq!(list[0]["name"], "shop-1");
    assert_eq!((list[0]["apiKeys"].as_u64(), list[0]["whitelisted"].as_u64()), (Some(2), Some(1)));
    assert_eq!(list[1]["name"], "shop-2");
    assert!(ok(&state, &["merchant", "list"]).contains("shop-1  keys 2  whitelisted 1"));
}

#[test]
fn errors_name_the_problem_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path();
    ok(state, &["merchant", "add", "shop"]);
    let e = fails(state, &["merchant", "add", "shop"]);
    assert!(e.contains("already exists") && e.contains("choose another name"), "{e}");
    let e = fails(state, &["merchant", "add", "two words"]);
    assert!(e.contains("not allowed") && e.contains("ASCII letters"), "{e}");
    let e = fails(state, &["key", "add", "nobody"]);
    assert!(e.contains("no merchant named \"nobody\"") && e.contains("ccv-emu vpos merchant add"), "{e}");
    let e = fails(state, &["whitelist", "add", "shop", "12/34"]);
    assert!(e.contains("malformed") && e.contains("1 to 32 ASCII letters or digits"), "{e}");
    ok(state, &["whitelist", "add", "shop", "1234"]);
    let e = fails(state, &["whitelist", "add", "shop", "1234"]);
    assert!(e.contains("already on the whitelist"), "{e}");
    let e = fails(state, &["whitelist", "remove", "shop", "999"]);
    assert!(e.contains("not on the whitelist") && e.contains("whitelist list"), "{e}");
    let e = fails(state, &["whitelist", "list", "nobody"]);
    assert!(e.contains("no merchant named"), "{e}");
    // A state directory that cannot be created.
    let file = state.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let e = fails(&file.join("sub"), &["merchant", "list"]);
    assert!(e.contains("cannot open the payment API state") && e.contains("writable"), "{e}");
}

#[test]
fn help_explains_each_command() {
    let out = Command::new(BIN).args(["vpos", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["merchant", "key", "whitelist", "--state", "vpos.sqlite3"] {
        assert!(help.contains(word), "{word}: {help}");
    }
    let out = Command::new(BIN).args(["vpos", "key", "add", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("shown this once") && help.contains("Basic"), "{help}");
}

mod serve {
    //! `ccv-emu vpos serve` as a real process: a payment in flight when the process is killed with SIGKILL is
    //! neither lost nor doubled, and ends as `manualintervention` at the next start.

    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use ccv_terminal_io::TerminalProcess;
    use ccv_terminal_io::config::FileConfig;
    use serde_json::{Value, json};

    use super::common::{Guard, free_port, spawn};
    use super::ok;

    const T: Duration = Duration::from_secs(15);

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/terminals").join(name)
    }

    /// Starts `vpos serve`; returns the child and its ready line as JSON.
    fn serve(state: &Path, ports: (u16, u16, u16)) -> (Guard, Value) {
        let (api, admin, tas) = (
            format!("127.0.0.1:{}", ports.0),
            format!("127.0.0.1:{}", ports.1),
            format!("127.0.0.1:{}", ports.2),
        );
        let state = state.to_str().expect("UTF-8 path");
        let args = [
            "vpos",
            "serve",
            "--state",
            state,
            "--listen",
            &api,
            "--admin",
            &admin,
            "--tas-listen",
            &tas,
            "--json",
        ];
        let (guard, line) = spawn(&args);
        (guard, serde_json::from_str(&line).expect("a JSON ready line"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_payment_in_flight_at_sigkill_ends_as_manualintervention_after_the_restart_and_is_not_doubled()
    {
        let tmp = tempfile::tempdir().expect("tempdir");
        let state = tmp.path().join("state");
        ok(&state, &["merchant", "add", "shop"]);
        let key: Value = serde_json::from_str(&ok(&state, &["key", "add", "shop", "--json"])).expect("JSON");
        let key = key["key"].as_str().expect("key").to_owned();
        ok(&state, &["merchant", "set", "shop", "--local-kick", "server"]);
        let ports = (free_port(), free_port(), free_port());
        let (mut child, ready) = serve(&state, ports);
        let api = ready["apiUrl"].as_str().expect("apiUrl").to_owned();
        assert_eq!(ready["tas"], format!("127.0.0.1:{}", ports.2));

        // A 1.0 terminal whose customer never presents a card: the payment stays at the terminal.
        let mut c = FileConfig::load(&fixture("cc1-only.toml")).expect("fixture");
        let tas = ccv_terminal::HostPort::new("127.0.0.1", ports.2);
        c.terminal.tms.tas = tas.clone();
        c.terminal.installed.tas = tas;
        c.terminal.identity.tms_id = "11300002".into();
        c.terminal.profile.auto_card_after_ms = None;
        c.io.kick_bind = std::net::Ipv4Addr::LOCALHOST.into();
        c.io.kick_port_override = Some(0);
        c.io.opi_channel0 = "127.0.0.1:0".parse().expect("addr");
        let term = TerminalProcess::start(c, 7).await.expect("terminal starts");
        let kick_port = term.kick_addr().expect("kick listener").port();

        let http = reqwest::Client::new();
        let body = json!({"amount": "25.00", "currency": "EUR", "method": "terminal",
            "details": {"terminalId": "11300002", "managementSystemId": "08900000002", "accessProtocol": "OPI_NL",
                        "ip": "127.0.0.1", "port": kick_port}});
        let create = |body: &Value| {
            http.post(format!("{api}/api/v1/payment"))
                .basic_auth(&key, Some(""))
                .header("Idempotency-Reference", "order-sigkill")
                .json(body)
                .send()
        };
        let created: Value = create(&body).await.expect("answer").json().await.expect("JSON");
        assert_eq!(created["status"], "pending", "{created}");
        let reference = created["reference"].as_str().expect("reference").to_owned();
        term.wait_for_status(T, |s| s.in_transaction).await.expect("the payment reaches the terminal");

        // SIGKILL: no shutdown code runs.
        child.0.kill().expect("SIGKILL");
        let _ = child.0.wait();
        drop(child);

        let (_child, _) = serve(&state, ports);
        let get = |reference: String| {
            http.get(format!("{api}/api/v1/transaction"))
                .query(&[("reference", reference)])
                .basic_auth(&key, Some(""))
                .send()
        };
        let after: Value = get(reference.clone()).await.expect("answer").json().await.expect("JSON");
        assert_eq!(after["status"], "manualintervention", "{after}");
        assert!(after["statusFinalDate"].as_i64().is_some());
        let message = after["failureMessage"].as_str().expect("message");
        assert!(message.contains("stopped while this transaction was in flight"), "{message}");
        // The POS retries with the same Idempotency-Reference: the same transaction, not a second payment.
        let again: Value = create(&body).await.expect("answer").json().await.expect("JSON");
        assert_eq!(again["reference"], reference.as_str());
        assert_eq!(again["status"], "manualintervention");
        let store = ccv_vpos::Store::open_dir(&state).expect("store opens beside the server");
        assert_eq!(store.pending_payments().expect("read").len(), 0);
        assert_eq!(store.payment_any(&reference).expect("stored").reference, reference);
        term.shutdown().await;
    }
}
