//! `ccv-wire`: what two parties of a CCV Cloud Connect coupling must agree on, besides OPI (which is
//! `ccv-opi`'s).
//!
//! **What it does.** It defines, once, every format that crosses a boundary between ccv-emu's parties and is
//! ours to define: the cloud-kick topics, command and event payloads ([`cloud`]); the TAS hand-shake
//! ([`handshake`]); the local-kick request and answer bodies ([`local_kick`]); the reason names as they appear on
//! the wire ([`reason`]); and [`HostPort`] with its `HOST:PORT` text form. A terminal, the IoT endpoint
//! stand-in, the mock TAS and the payment API all meet here and nowhere else.
//!
//! **What it does not do.** No IO, no clock, no async runtime, no TLS, no MQTT packets (the cloud kick's
//! payloads are here; the packets that carry them are rumqttc's), no decisions: whether a kick is accepted is
//! the terminal core's business. `.ci/invariants` checks that it depends on nothing that does IO.
//!
//! Layout:
//! - [`cloud`]: `ccv/{MgtSubscription}/{tmsId}/cmd|evt`, [`cloud::Command`], [`cloud::Event`]
//! - [`handshake`]: the terminal's first frame to the TAS and the TAS's answer
//! - [`local_kick`]: `POST /kick` bodies
//! - [`reason`]: [`KickRefusal`], [`MqttDownReason`], [`TasDialFailure`], [`DiagnosisReason`] and [`WireReason`]
//! - [`host_port`]: [`HostPort`] and its text form

pub mod cloud;
pub mod fuzz;
pub mod handshake;
pub mod host_port;
pub mod local_kick;
pub mod reason;

pub use host_port::{HostPort, HostPortError};
pub use reason::{DiagnosisReason, KickRefusal, MqttDownReason, TasDialFailure, WireReason};
