//! `ccv-test-support`: helpers shared by the tests and benches of several ccv-emu crates, used only as a
//! dev-dependency.
//!
//! What it does: finds outside tools and decides what their absence means ([`require_tool`], the one place every
//! test asks: a failure under CI, a printed skip on a developer's machine), starts a real mosquitto broker and waits for it to say it runs,
//! re-runs a bench binary as a child process, reads a process's memory, loads a page in headless Chromium and
//! returns its DOM ([`chromium_dump_dom`]), and drives headless Chromium over the DevTools protocol ([`Browser`],
//! [`Page`]: real clicks and keys, JavaScript, screenshots, console errors; [`cdp`]), and sends an HTTP listener
//! the oversize request heads no client library would ([`http::send_header_flood`]).
//!
//! What it does not do: know any party of ccv-emu (it depends on no ccv crate, so every crate may use it), or
//! wait by sleeping: every wait is for an event (a line printed by a child), bounded by a time-out.

pub mod cdp;
pub mod http;

pub use cdp::{Browser, CdpError, DEFAULT_TIMEOUT, Key, LAUNCH_TIMEOUT, Page, VIEWPORT};

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The first of `names` found as a file on `PATH`.
pub fn find_on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| names.iter().map(|n| dir.join(n)).find(|p| p.is_file()))
}

/// Where an outside tool a test needs is: the first of `names` on `PATH`. Under CI (`CI` set, and not empty, `0`
/// or `false`) a missing tool is a failure: the test panics, naming the package `.ci/run` installs. On a
/// developer's machine the test prints why it skips and gets `None`. Every test that needs an outside tool asks
/// here, so that none can pass under CI without having run.
pub fn require_tool(names: &[&str], package: &str) -> Option<PathBuf> {
    match tool_verdict(names, package, find_on_path(names), under_ci()) {
        Ok(found) => found,
        Err(failure) => panic!("{failure}"),
    }
}

/// Whether the tests run under CI: `CI` set to anything but empty, `0` or `false`.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

/// What [`require_tool`] decides: the tool's path, `Ok(None)` (skip, after saying so on stderr) or, under CI, the
/// failure message.
fn tool_verdict(
    names: &[&str],
    package: &str,
    found: Option<PathBuf>,
    ci: bool,
) -> Result<Option<PathBuf>, String> {
    let wanted = names.join(" or ");
    match found {
        Some(path) => Ok(Some(path)),
        None if ci => Err(format!(
            "{wanted} is required under CI but is not on PATH; `.ci/run` installs it (apt-get install {package})"
        )),
        None => {
            eprintln!(
                "SKIP: {wanted} not installed (apt-get install {package}); this test needs it and is skipped here"
            );
            Ok(None)
        }
    }
}

/// Waits for a child process to exit, at most `timeout`; kills it and returns `None` when it does not. The wait
/// is the operating system's (a thread blocked in `wait`), not a poll.
pub fn wait_exit(child: std::process::Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut child = child;
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(status)) => Some(status),
        _ => {
            let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            None
        }
    }
}

/// A mosquitto broker with TLS and `require_certificate true` on a free loopback port; killed when dropped.
pub struct Mosquitto {
    /// The port it listens on.
    pub port: u16,
    /// The broker process.
    pub child: Child,
}

/// Starts mosquitto with the PKI in `dir` (`ca.pem`, `server.pem`, `server.key`) and `extra_conf` lines, and
/// waits (at most 10 s) until it logs that it runs.
pub async fn launch_mosquitto(dir: &Path, extra_conf: &str) -> Result<Mosquitto, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let conf = dir.join("mosquitto.conf");
    let text = format!(
        "per_listener_settings false\nallow_anonymous true\nuser root\npersistence false\n{extra_conf}\
         log_dest stderr\nlog_type information\nlog_type error\n\
         listener {port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n\
         require_certificate true\nuse_identity_as_username true\nmax_connections -1\n",
        d = dir.display()
    );
    std::fs::write(&conf, text).map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
    let mut child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("mosquitto does not start: {e}"))?;
    // Its log goes to stderr, which is not buffered: each line arrives as it is written.
    let log = child.stderr.take().ok_or("mosquitto's stderr is not piped")?;
    let mut lines = BufReader::new(log).lines();
    // mosquitto logs "mosquitto version X running" once its listeners are open.
    let running = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(" running") {
                return true;
            }
        }
        false
    };
    match tokio::time::timeout(Duration::from_secs(10), running).await {
        Ok(true) => {
            // Keep reading its log so the broker never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Ok(Mosquitto { port, child })
        }
        Ok(false) => Err(format!(
            "mosquitto exited before it listened on 127.0.0.1:{port} (config {})",
            conf.display()
        )),
        Err(_) => Err(format!("mosquitto did not report running on 127.0.0.1:{port} within 10 s")),
    }
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
/// child, its first stdout line (its ready line) and a reader of the rest, once that line arrived (at most
/// `wait`).
pub async fn spawn_self(args: &[String], wait: Duration) -> (Child, String, Lines<BufReader<ChildStdout>>) {
    let mut command = Command::new(std::env::current_exe().expect("own path"));
    command.args(args);
    spawn_ready(command, wait).await
}

/// Starts `command` with stdin and stdout piped (stderr inherited, killed when dropped); returns the child, its
/// first stdout line (its ready line) and a reader of the rest, once that line arrived (at most `wait`).
pub async fn spawn_ready(
    mut command: Command,
    wait: Duration,
) -> (Child, String, Lines<BufReader<ChildStdout>>) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} does not start: {e}"));
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(wait, lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("{command:?} not ready within {wait:?}"))
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

/// Loads `url` in headless Chromium (a fresh profile; `extra` flags added) with a virtual-time budget of
/// `budget_ms` for its scripts, and returns the DOM it ends with (`--dump-dom`). Bounded by 90 s.
pub async fn chromium_dump_dom(browser: &Path, url: &str, extra: &[String], budget_ms: u64) -> String {
    let profile = std::env::temp_dir().join(format!("ccv-chromium-{}-{}", std::process::id(), unique()));
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--dump-dom",
    ])
    .arg(format!("--virtual-time-budget={budget_ms}"))
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url)
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .expect("chromium finishes within 90 s")
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_an_exit_and_kills_what_does_not_exit() {
        let quick = std::process::Command::new("true").spawn().expect("true runs");
        assert!(wait_exit(quick, Duration::from_secs(10)).is_some_and(|s| s.success()));
        let slow = std::process::Command::new("sleep").arg("30").spawn().expect("sleep runs");
        assert_eq!(wait_exit(slow, Duration::from_millis(50)), None);
    }

    #[test]
    fn a_missing_tool_fails_under_ci_and_skips_elsewhere() {
        let here = PathBuf::from("/usr/bin/mosquitto");
        let verdict = |found: Option<PathBuf>, ci| tool_verdict(&["mosquitto"], "mosquitto", found, ci);
        assert_eq!(verdict(Some(here.clone()), true), Ok(Some(here.clone())));
        assert_eq!(verdict(Some(here.clone()), false), Ok(Some(here)));
        assert_eq!(verdict(None, false), Ok(None));
        let failure = verdict(None, true).expect_err("a missing tool fails under CI");
        assert!(failure.contains("mosquitto") && failure.contains("apt-get install mosquitto"), "{failure}");
    }

    #[test]
    fn finds_a_tool_every_machine_has() {
        assert!(find_on_path(&["sh"]).is_some());
        assert!(find_on_path(&["no-such-tool-ccv-emu"]).is_none());
    }
}
