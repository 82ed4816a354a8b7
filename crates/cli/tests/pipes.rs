//! A closed stdout pipe (`ccv-emu ... | head`) ends a command quietly, never with a panic.

use std::process::{Command, Stdio};
use std::time::Duration;

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
    let mut err_pipe = child.stderr.take().expect("stderr piped");
    let status =
        ccv_test_support::wait_exit(child, Duration::from_secs(30)).expect("ccv-emu exits within 30 s");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut err_pipe, &mut stderr).expect("read stderr");
    assert!(!stderr.contains("panicked"), "ccv-emu panicked on a closed pipe:\n{stderr}");
    assert!(status.success(), "exit status {status:?}, stderr:\n{stderr}");
    assert!(dir.path().join("pki/ca.pem").exists(), "the PKI was still written");
}
