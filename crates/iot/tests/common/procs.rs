//! Child processes shared by the interop tests and the scale benches of several crates (included with
//! `#[path]`): the Debian mosquitto binaries and broker, this benchmark binary re-run as a child, process RSS.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Whether `bin` runs; prints a skip line when it does not (`.ci/run` installs the binaries).
pub fn have(bin: &str) -> bool {
    let found = Command::new(bin).arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !found {
        eprintln!(
            "SKIP: {bin} not installed (apt-get install mosquitto mosquitto-clients); interop not tested"
        );
    }
    found
}

/// A mosquitto broker with TLS and `require_certificate true` on a free loopback port; killed when dropped.
pub struct Mosquitto {
    pub port: u16,
    pub child: tokio::process::Child,
}

/// Starts mosquitto with the PKI in `dir` (`ca.pem`, `server.pem`, `server.key`) and `extra_conf` lines, and
/// waits (at most 5 s) until it listens.
pub async fn launch_mosquitto(dir: &Path, extra_conf: &str) -> Result<Mosquitto, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let conf = dir.join("mosquitto.conf");
    let text = format!(
        "per_listener_settings false\nallow_anonymous true\nuser root\npersistence false\n{extra_conf}\
         listener {port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n\
         require_certificate true\nuse_identity_as_username true\nmax_connections -1\n",
        d = dir.display()
    );
    std::fs::write(&conf, text).map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
    let child = tokio::process::Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("mosquitto does not start: {e}"))?;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(Mosquitto { port, child });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("mosquitto did not listen on 127.0.0.1:{port} within 5 s"))
}

/// [`launch_mosquitto`] with no extra configuration; panics when it fails.
pub async fn start_mosquitto(dir: &Path) -> Mosquitto {
    launch_mosquitto(dir, "").await.unwrap_or_else(|e| panic!("{e}"))
}

/// Resident memory of a process in KiB (`VmRSS` of `/proc/PID/status`; 0 when unreadable).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Runs the current executable again with `args` (a child mode of a bench), stdin and stdout piped; returns the
/// child and a reader of its stdout lines once the first line (its ready line) has arrived, at most `wait`.
pub async fn spawn_self(
    args: &[String],
    wait: Duration,
) -> (tokio::process::Child, String, tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>) {
    let mut child = tokio::process::Command::new(std::env::current_exe().expect("own path"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("piped");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let line = tokio::time::timeout(wait, lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("child {args:?} not ready within {wait:?}"))
        .expect("read")
        .expect("a ready line");
    (child, line, lines)
}

/// In a child: blocks until the parent closes our stdin (the parent's way of saying "stop").
pub async fn until_stdin_closes() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    })
    .await;
}

/// In a child: our IoT endpoint with the PKI in `dir` and room for `max_queued` messages per client; prints its
/// 443-style address and runs until stdin closes.
pub async fn endpoint_child(dir: &Path, max_queued: usize) {
    let pki = ccv_iot::Pki::load_dir(dir).expect("PKI loads");
    let config = ccv_iot::EndpointConfig {
        limits: ccv_iot::Limits { max_queued, ..Default::default() },
        ..Default::default()
    };
    let tls = ccv_iot::EndpointTls::from_pki(&pki).expect("TLS");
    let endpoint = ccv_iot::Endpoint::start(config, tls).await.expect("endpoint starts");
    println!("{}", endpoint.local_addr());
    // Refusals go to stderr: a bench that loses a client says why.
    let mut events = endpoint.events();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(ccv_iot::EndpointEvent::Refused { client_id, reason, .. }) => {
                    eprintln!("endpoint refused or dropped {client_id:?}: {reason}");
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    });
    until_stdin_closes().await;
    endpoint.shutdown().await;
}
