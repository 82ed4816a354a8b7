//! Set-up shared by the terminal-process tests: loopback configs, a mock TAS, the time-out of every wait.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ccv_tas::Tas;
use ccv_terminal_io::config::FileConfig;

pub const T: Duration = Duration::from_secs(15);

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/terminals").join(name)
}

/// A config for loopback tests (see [`ccv_e2e::loopback_config`]).
pub fn prepare(c: FileConfig, tms_id: Option<&str>, tas: SocketAddr) -> FileConfig {
    ccv_e2e::loopback_config(c, tms_id, tas)
}

pub async fn tas() -> Tas {
    ccv_e2e::start_tas().await
}
