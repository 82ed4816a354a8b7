//! Helpers shared by the CLI tests: free ports, child processes that die with the test, bounded waits.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_ccv-emu");

/// A port that was free a moment ago (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the child when the test ends, whatever happens.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a long-running subcommand and waits (at most 20 s) for its first stdout line.
pub fn spawn(args: &[&str]) -> (Guard, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ccv-emu");
    let stdout = child.stdout.take().unwrap();
    let line =
        first_line(stdout).recv_timeout(Duration::from_secs(20)).expect("the command prints its addresses");
    (Guard(child), line)
}

pub fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).args(args).stderr(Stdio::null()).output().expect("run ccv-emu");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts a long-running subcommand with `RUST_LOG=info` and waits (at most 30 s) until a line of its log
/// (stderr) contains `needle`; returns the child and its first stdout line.
pub fn spawn_until_log(args: &[&str], needle: &str) -> (Guard, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ccv-emu");
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let needle = needle.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains(&needle) {
                let _ = tx.send(());
            }
        }
    });
    let guard = Guard(child);
    rx.recv_timeout(Duration::from_secs(30)).expect("the expected log line within 30 s");
    let line = first_line(stdout).recv_timeout(Duration::from_secs(5)).expect("the first stdout line");
    (guard, line)
}

/// Sends the first line of a child's stdout, then keeps reading it: a command whose stdout pipe closes ends
/// itself, as a command in a shell pipeline does.
fn first_line(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    rx
}
