//! Set-up shared by the terminal-process tests: loopback configs, a mock TAS, bounded waits.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ccv_tas::{Tas, TasConfig};
use ccv_terminal_io::config::FileConfig;

pub const T: Duration = Duration::from_secs(15);

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/terminals").join(name)
}

/// A config for loopback tests: ephemeral kick port, TAS at `tas`, channel 0 on an ephemeral port, fast card.
pub fn prepare(mut c: FileConfig, tms_id: Option<&str>, tas: SocketAddr) -> FileConfig {
    if let Some(id) = tms_id {
        c.terminal.identity.tms_id = id.to_owned();
    }
    let target = ccv_terminal::HostPort::new(tas.ip().to_string(), tas.port());
    c.terminal.tms.tas = target.clone();
    c.terminal.installed.tas = target;
    c.terminal.profile.auto_card_after_ms = Some(0);
    c.io.kick_bind = "127.0.0.1".parse().unwrap();
    c.io.kick_port_override = Some(0);
    c.io.opi_channel0 = "127.0.0.1:0".parse().unwrap();
    c.io.backoff_initial_ms = 50;
    c.io.backoff_max_ms = 200;
    c
}

pub async fn tas() -> Tas {
    Tas::start("127.0.0.1:0".parse().unwrap(), None, TasConfig::default()).await.unwrap()
}

/// Polls `cond` every 20 ms, at most `T`.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..(T.as_millis() / 20) {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}
