//! The README walkthrough through the real binary: `ccv-emu tas`, `ccv-emu terminal`, `ccv-emu kick local`,
//! `ccv-emu pay`, all on loopback, every wait bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ccv_opi::frame::{DEFAULT_MAX_FRAME_LEN, FrameBuffer, FrameDecoder, encode_frame};
use ccv_opi::{Encoding, Message};

mod common;

use common::{BIN, free_port, run, spawn};

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

/// A terminal played by the test over plain TCP: sends one OPI message, reads the next (bounded by a read
/// time-out on the socket).
struct FakeTerminal {
    tcp: TcpStream,
    frames: FrameBuffer,
}

impl FakeTerminal {
    fn connect(tas: &str, tms_id: &str) -> FakeTerminal {
        let tcp = TcpStream::connect(tas).expect("the TAS accepts terminals");
        tcp.set_read_timeout(Some(Duration::from_secs(20))).expect("read time-out set");
        let mut t = FakeTerminal { tcp, frames: FrameBuffer::new(FrameDecoder::new()) };
        t.send(&ccv_wire::handshake::hello_message(tms_id, Some("ref-1"), None));
        let answer = t.recv();
        ccv_wire::handshake::check_answer(&answer).expect("the TAS accepts the hand-shake");
        t
    }

    fn send(&mut self, message: &Message) {
        let mut frame = Vec::new();
        encode_frame(&ccv_opi::encode(message, Encoding::Utf8), DEFAULT_MAX_FRAME_LEN, &mut frame)
            .expect("frame encodes");
        self.tcp.write_all(&frame).expect("frame sent");
    }

    fn recv(&mut self) -> Message {
        let mut chunk = [0u8; 4096];
        for _ in 0..1000 {
            if let Some(frame) = self.frames.next_frame().expect("valid framing") {
                return ccv_opi::decode(&frame).expect("decodable OPI");
            }
            let n = self.tcp.read(&mut chunk).expect("a frame from the TAS within 20 s");
            assert!(n > 0, "the TAS closed the connection");
            self.frames.push(&chunk[..n]);
        }
        panic!("no whole frame after 1,000 reads");
    }
}

#[test]
fn pay_exits_3_with_an_unknown_outcome_when_the_tas_dies_mid_payment() {
    let (tas_addr, api_addr) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let (mut tas, _) = spawn(&["tas", "--listen", &tas_addr, "--api", &api_addr]);
    let mut term = FakeTerminal::connect(&tas_addr, "12345678");
    let pay = Command::new(BIN)
        .args([
            "pay",
            "--tas-api",
            &format!("http://{api_addr}"),
            "--terminal",
            "12345678",
            "--amount",
            "1.00",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ccv-emu pay");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(pay.wait_with_output());
    });
    // The payment has reached the terminal; then the TAS dies before the terminal answers.
    assert!(
        matches!(term.recv(), Message::CardServiceRequest(_)),
        "the payment request reaches the terminal"
    );
    tas.0.kill().expect("the TAS is killed");
    let out = rx.recv_timeout(Duration::from_secs(30)).expect("pay ends").expect("pay ran");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "exit 3, outcome unknown\nstdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("outcome:        unknown"), "{stdout}");
    assert!(stdout.contains("127.0.0.1"), "the reason names the TAS: {stdout}");
}
