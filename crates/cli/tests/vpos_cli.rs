//! `ccv-emu vpos ...` as an operator runs it: merchants, keys and whitelists in a state directory, JSON for
//! tools, and one-line errors with exit status 1.

use std::path::Path;
use std::process::{Command, Output};

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
