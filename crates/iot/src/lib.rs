//! `ccv-iot`: a stand-in for AWS IoT Core as a CCV terminal meets it for Cloud Connect 2.0, and
//! the test PKI it runs on.
//!
//! What it does: MQTT 3.1.1 over TLS 1.2/1.3 (tokio-rustls, ring), a client certificate chained
//! to the test CA required, SNI required and naming one of the endpoint's names (its server
//! certificate's DNS names), ALPN `x-amzn-mqtt-ca` required on the 443-style listener, QoS 0 and 1 (QoS 2 and retained messages refused), the IoT Core limits (client id
//! 128 bytes, topic 256 bytes and 7 slashes, payload 128 KiB), one connection per client id,
//! keep-alive enforced at 1.5 times the interval, persistent sessions, and IoT-policy-like rules
//! per certificate identity. Refused actions are logged with their reason and disconnect the
//! client. The cloud-kick topics and payloads it routes are `ccv-wire`'s; it builds its TLS configuration with
//! `ccv-tls`.
//!
//! SNI: AWS IoT Core serves only its endpoint names (the `iot:Data-ATS` address and configured domains) and refuses
//! an SNI naming anything else. It needs SNI for custom domains and for certificates registered without a CA; for
//! CA-registered certificates on the default endpoint it still accepts a ClientHello without SNI. The stand-in
//! refuses a ClientHello without SNI in every case ([`Reason::NoSni`]): a terminal that connects by IP address
//! would fail against those endpoints, and CCV terminals connect by name.
//!
//! A CONNECT of another MQTT version (3.1, 5) is answered with CONNACK return code 1 (unacceptable protocol
//! version), as MQTT 3.1.1 specifies.
//!
//! What it does not do: MQTT 5, WebSockets, custom authorisers, device shadows, rules, retained
//! messages, or any AWS API. MQTT packets are framed and parsed by rumqttc's codec, never here.
//! It opens no socket except the listeners the caller asks for, and reads no file except in
//! [`pki::Pki::load_dir`] / [`pki::Pki::write_dir`].
//!
//! Layout:
//! - [`pki`]: rcgen CA, server, payment-API and terminal certificates; on-disk layout.
//! - [`identity`], [`policy`]: who a certificate is and what it may do.
//! - [`topics`]: topic names and filters within AWS IoT Core's limits.
//! - [`endpoint`]: the listeners and [`Endpoint`]; `model` (private, re-exported): configuration, limits, events,
//!   reasons; `connection` (private): one client's task;
//!   `broker` (private): sessions, subscriptions, routing.
//! - [`probe`]: a small step-by-step MQTT client for tests, benchmarks and diagnostics.

mod broker;
mod connection;
pub mod endpoint;
pub mod fuzz;
pub mod identity;
mod model;
pub mod persist;
pub mod pki;
pub mod policy;
pub mod probe;
pub mod topics;

pub use endpoint::{
    Endpoint, EndpointConfig, EndpointError, EndpointEvent, EndpointTls, Limits, Reason, ServerNames,
};
pub use identity::Identity;
pub use pki::{KeyAlgorithm, Pki, PkiOptions};
