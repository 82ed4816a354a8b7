//! The README walkthrough through the real binary: `ccv-emu tas`, `ccv-emu terminal`, `ccv-emu kick local`,
//! `ccv-emu pay`, all on loopback, every wait bounded.

use std::time::{Duration, Instant};

mod common;

use common::{free_port, run, spawn};

#[test]
fn walkthrough_tas_terminal_kick_pay() {
    let (tas_port, api_port, kick_port) = (free_port(), free_port(), free_port());
    let tas_addr = format!("127.0.0.1:{tas_port}");
    let api_addr = format!("127.0.0.1:{api_port}");
    let kick_addr = format!("127.0.0.1:{kick_port}");
    let (_tas, line) = spawn(&["tas", "--listen", &tas_addr, "--api", &api_addr]);
    assert!(line.contains(&tas_addr), "{line}");
    let (_term, line) = spawn(&[
        "terminal",
        "--tms-id",
        "12345678",
        "--kick-listen",
        &kick_addr,
        "--tas",
        &tas_addr,
        "--seed",
        "1",
    ]);
    assert!(line.contains(&kick_addr) && line.contains("TCP FLAT-OUTGOING"), "{line}");

    let (code, out) = run(&["kick", "local", &kick_addr, "--reference", "ccv-ref-1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("kick accepted"), "{out}");

    let api = format!("http://{api_addr}");
    let (code, out) = run(&["pay", "--tas-api", &api, "--terminal", "12345678", "--amount", "12.34"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("overall result: Success"), "{out}");
    assert!(out.contains("receipt"), "{out}");

    let (code, out) =
        run(&["pay", "--tas-api", &api, "--terminal", "12345678", "--amount", "1.00", "--json"]);
    assert_eq!(code, 0, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert_eq!(json["overallResult"], "Success");
}

#[test]
fn kick_to_a_closed_port_fails_clearly_and_refusals_exit_2() {
    let port = free_port();
    let (code, _) = run(&["kick", "local", &format!("127.0.0.1:{port}")]);
    assert_eq!(code, 1);

    let kick_addr = format!("127.0.0.1:{}", free_port());
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/terminals/day-closed.toml");
    let (_term, _) = spawn(&["terminal", "--config", fixture, "--kick-listen", &kick_addr]);
    let started = Instant::now();
    let (code, out) = run(&["kick", "local", &kick_addr]);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("day_closed"), "{out}");
}

#[test]
fn help_explains_each_command() {
    for (args, words) in [
        (&["terminal", "--help"][..], &["--tms-id", "--kick-listen", "--tas", "fixtures/terminals"][..]),
        (&["kick", "local", "--help"][..], &["--reference", "202", "409"][..]),
        (&["tas", "--help"][..], &["--listen", "--api", "transcript"][..]),
        (&["pay", "--help"][..], &["--tas-api", "--terminal", "--amount", "unknown"][..]),
    ] {
        let (code, out) = run(args);
        assert_eq!(code, 0, "{args:?}");
        for w in words {
            assert!(out.contains(w), "{args:?} help lacks {w}: {out}");
        }
    }
}
