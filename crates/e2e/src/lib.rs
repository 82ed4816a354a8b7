//! `ccv-e2e`: the parties of ccv-emu together on loopback, for the end-to-end tests (`tests/`) and the scale
//! benches (`benches/`) that need more than one of them: terminal processes, the mock TAS and the IoT endpoint
//! stand-in, each started as it is in production, talking over real sockets.
//!
//! It is the only crate besides the CLI that may use every party; no other crate depends on it. This library
//! holds the set-up those tests and benches share.
//!
//! Layout: [`harness`] (a terminal core and a TAS connection core against each other in memory, on one fake
//! clock), [`loopback_config`] (a terminal configuration for loopback), [`start_tas`], [`endpoint_child`] (our
//! IoT endpoint in a child process of a bench), [`world`] (every party in one process, the payment API included).

pub mod harness;
pub mod world;

use std::net::SocketAddr;
use std::path::Path;

use ccv_tas::{Tas, TasConfig};
use ccv_terminal_io::config::FileConfig;

/// A terminal configuration for loopback: ephemeral kick port, TAS at `tas`, channel 0 on an ephemeral port,
/// the card presented at once, short back-offs.
pub fn loopback_config(mut c: FileConfig, tms_id: Option<&str>, tas: SocketAddr) -> FileConfig {
    if let Some(id) = tms_id {
        c.terminal.identity.tms_id = id.to_owned();
    }
    let target = ccv_terminal::HostPort::new(tas.ip().to_string(), tas.port());
    c.terminal.tms.tas = target.clone();
    c.terminal.installed.tas = target;
    c.terminal.profile.auto_card_after_ms = Some(0);
    c.io.kick_bind = std::net::Ipv4Addr::LOCALHOST.into();
    c.io.kick_port_override = Some(0);
    c.io.opi_channel0 = SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0));
    c.terminal.profile.backoff_initial_ms = 50;
    c.terminal.profile.backoff_max_ms = 200;
    c
}

/// A mock TAS on an ephemeral loopback port, without its HTTP API.
pub async fn start_tas() -> Tas {
    Tas::start(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)), None, TasConfig::default())
        .await
        .expect("the mock TAS starts on loopback")
}

/// In a bench's child process: our IoT endpoint with the PKI in `dir` and room for `max_queued` messages per
/// client; prints its 443-style address and runs until stdin closes.
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
    ccv_test_support::until_stdin_closes().await;
    endpoint.shutdown().await;
}
