//! `ccv-terminal-io`: the terminal process, a thin tokio shell around the sans-IO core `ccv-terminal`.
//!
//! What it does: loads a terminal's TOML config ([`config`]); listens for Cloud Connect 1.0 local kicks over HTTP
//! with CORS ([`kick`], axum/hyper); on an accepted kick dials the TAS, performs the hand-shake of
//! `docs/TAS_HANDSHAKE.md` and serves OPI on that socket ([`link`]); in `Default ITS` mode listens for the POS on
//! OPI channel 0 and connects to its channel 1 for device requests. One tokio task per terminal drives the core:
//! feed an input, drain the outputs, sleep until a socket event or the core's `poll_timeout` ([`process`]), so
//! many terminals share one runtime with no thread per terminal and no polling.
//!
//! For Cloud Connect 2.0 it runs an MQTT client ([`mqtt`], rumqttc over rustls) whenever the core asks for a
//! session, turns cloud kicks into core inputs and publishes the core's answers on the terminal's event topic.
//!
//! The TAS link is plain TCP, as the real FLAT-OUTGOING link, or with `[io] tas_tls` mutual TLS with the
//! terminal's certificate ([`credentials`]), which proves its TMS ID to a TAS that asks for it.
//!
//! What it does not do: no payment or kick logic (that is the core's), no argv parsing
//! or log subscriber (the CLI's).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ccv_terminal_io::{TerminalProcess, config::FileConfig};
//! let term = TerminalProcess::start(FileConfig::default(), 42).await?;
//! println!("kick me on {:?}", term.kick_addr());
//! term.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Layout:
//! - [`config`]: the TOML file (`[terminal]` for the core, `[io]` for sockets and time-outs)
//! - [`kick`]: the local-kick HTTP listener; [`kick_client`]: the matching client (`ccv-emu kick local`)
//! - [`link`]: dialling, the hand-shake, OPI framing, back-off with jitter
//! - [`mqtt`]: the Cloud Connect 2.0 MQTT client; [`credentials`]: the terminal's TLS material
//! - [`process`]: [`TerminalProcess`] and its drive loop
//! - [`status`]: [`Status`], kept in a `watch` so that readers await changes instead of polling

pub mod config;
pub mod credentials;
pub mod fuzz;
pub mod kick;
pub mod kick_client;
pub mod link;
pub mod mqtt;
pub mod process;
pub mod state;
pub mod status;

pub use credentials::Credentials;
pub use mqtt::AlpnPolicy;
pub use process::{Clock, Hooks, StartError, TerminalProcess};
pub use status::{MqttStatus, Settings, Status, WaitError};
