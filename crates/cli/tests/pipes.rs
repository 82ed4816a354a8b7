//! A closed stdout pipe (`ccv-emu ... | head`) ends a command quietly, never with a panic.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn closed_stdout_pipe_is_not_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ccv-emu"))
        .args(["pki", "init"])
        .arg(dir.path().join("pki"))
        .args(["--terminal", "12345678", "--terminal", "87654321"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ccv-emu");
    // Close the read end before the command prints anything (it prints after writing the PKI).
    drop(child.stdout.take());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for ccv-emu") {
            break status;
        }
        assert!(Instant::now() < deadline, "ccv-emu did not exit within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr piped"), &mut stderr)
        .expect("read stderr");
    assert!(!stderr.contains("panicked"), "ccv-emu panicked on a closed pipe:\n{stderr}");
    assert!(status.success(), "exit status {status:?}, stderr:\n{stderr}");
    assert!(dir.path().join("pki/ca.pem").exists(), "the PKI was still written");
}
