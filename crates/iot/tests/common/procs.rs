//! Shared by the interop tests of several crates (included with `#[path]`): finding the Debian mosquitto
//! binaries and running a mosquitto broker with TLS and `require_certificate true` on a free loopback port.
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
