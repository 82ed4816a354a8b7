//! The README walkthrough through the real binary: `ccv-emu tas`, `ccv-emu terminal`, `ccv-emu kick local`,
//! `ccv-emu pay`, all on loopback, every wait bounded.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ccv-emu");

/// A port that was free a moment ago (bound and released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the child when the test ends, whatever happens.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a long-running subcommand and waits (at most 20 s) for its first stdout line.
fn spawn(args: &[&str]) -> (Guard, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ccv-emu");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).expect("the command prints its addresses");
    (Guard(child), line)
}

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).args(args).stderr(Stdio::null()).output().expect("run ccv-emu");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

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
