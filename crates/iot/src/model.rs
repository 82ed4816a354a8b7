//! What the endpoint is configured with ([`EndpointConfig`], [`Limits`]) and what it reports ([`EndpointEvent`],
//! [`Reason`]): the types the listener, the connections and the broker share.

use std::net::SocketAddr;
use std::time::Duration;

use crate::identity::{Identity, IdentityError};
use crate::policy::Refusal;
use crate::topics::TopicError;

/// The AWS IoT Core limits (defaults) the endpoint enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest client id, bytes (128).
    pub max_client_id: usize,
    /// Largest PUBLISH payload, bytes (128 KiB).
    pub max_payload: usize,
    /// Unacknowledged QoS 1 messages per connection before the rest waits (100).
    pub max_inflight: usize,
    /// Messages a connection or an offline persistent session may queue (1,000).
    pub max_queued: usize,
    /// Filters in one SUBSCRIBE packet (8).
    pub max_filters_per_subscribe: usize,
    /// Subscriptions per session (50).
    pub max_subscriptions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_client_id: 128,
            max_payload: 128 * 1024,
            max_inflight: 100,
            max_queued: 1000,
            max_filters_per_subscribe: 8,
            max_subscriptions: 50,
        }
    }
}

/// Endpoint settings. Defaults follow AWS IoT Core.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The 443-style listener (ALPN `x-amzn-mqtt-ca` required).
    pub listen: SocketAddr,
    /// The optional 8883-style listener (no ALPN required).
    pub listen_8883: Option<SocketAddr>,
    /// Time allowed for the TLS hand-shake (10 s).
    pub handshake_timeout: Duration,
    /// Time allowed between the hand-shake and CONNECT (10 s).
    pub connect_timeout: Duration,
    /// Smallest keep-alive granted (30 s, as IoT Core); a CONNECT asking less gets this.
    pub keep_alive_min: Duration,
    /// Largest keep-alive granted (1,200 s); a keep-alive of 0 also gets this.
    pub keep_alive_max: Duration,
    /// Time allowed to write to a client before it is dropped (10 s).
    pub write_timeout: Duration,
    /// How long an offline persistent session is kept (1 h).
    pub session_expiry: Duration,
    /// Limits.
    pub limits: Limits,
    /// Where persistent sessions (subscriptions, queued QoS 1 messages) are kept across restarts, as AWS IoT
    /// Core keeps them for the session expiry; `None`: in memory only.
    pub state_file: Option<std::path::PathBuf>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            listen_8883: None,
            handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            keep_alive_min: Duration::from_secs(30),
            keep_alive_max: Duration::from_secs(1200),
            write_timeout: Duration::from_secs(10),
            session_expiry: Duration::from_secs(3600),
            limits: Limits::default(),
            state_file: None,
        }
    }
}

/// Why the endpoint refused or dropped a client. Each is logged and published as an
/// [`EndpointEvent::Refused`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    /// ClientHello without SNI.
    #[error("no SNI in the TLS ClientHello; connect by host name (e.g. localhost), not by IP address")]
    NoSni,
    /// SNI names a server this endpoint does not serve (not one of its certificate's DNS names).
    #[error("SNI {name:?} names another server; this endpoint serves only {served:?}")]
    UnknownServerName {
        /// The name the client asked for.
        name: String,
        /// The names served.
        served: Vec<String>,
    },
    /// ALPN required but not offered.
    #[error("no ALPN offered; on this port the client must offer \"x-amzn-mqtt-ca\"")]
    AlpnMissing,
    /// ALPN offered without `x-amzn-mqtt-ca`.
    #[error("ALPN {offered:?} offered; on this port the client must offer \"x-amzn-mqtt-ca\"")]
    AlpnWrong {
        /// The offered protocols (lossy UTF-8).
        offered: Vec<String>,
    },
    /// The TLS hand-shake failed (no client certificate, unknown CA, ...).
    #[error("TLS hand-shake failed: {0}")]
    Tls(String),
    /// Hand-shake or CONNECT did not arrive in time.
    #[error("{0} timed out")]
    Timeout(&'static str),
    /// The client certificate names no identity a policy applies to.
    #[error("{0}")]
    NoIdentity(IdentityError),
    /// MQTT protocol violation.
    #[error("MQTT protocol error: {0}")]
    Protocol(String),
    /// A CONNECT of another MQTT version; answered with CONNACK return code 1 (unacceptable protocol version).
    #[error("{}; only MQTT 3.1.1 (protocol level 4) is served, answered CONNACK 1 (unacceptable protocol version)",
        unsupported_protocol(*.level))]
    UnsupportedProtocol {
        /// The protocol level the CONNECT named with the protocol name "MQTT" (5 for MQTT 5); `None` for another
        /// protocol name (MQTT 3.1 says "MQIsdp").
        level: Option<u8>,
    },
    /// A client id outside the limits.
    #[error("client id of {len} bytes; 1 to {max} bytes allowed")]
    ClientId {
        /// Length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// A policy refused an action.
    #[error("not authorised: {0}")]
    Policy(Refusal),
    /// A bad topic or filter.
    #[error("bad topic: {0}")]
    Topic(TopicError),
    /// A PUBLISH payload over the limit.
    #[error("payload of {len} bytes; at most {max} allowed")]
    PayloadTooLarge {
        /// Length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// A packet announced bigger than any allowed one; refused before reading it.
    #[error("packet of {len} bytes announced; at most {max} allowed")]
    PacketTooLarge {
        /// Announced remaining length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// QoS 2 publish or subscription (IoT Core sends no PUBACK/SUBACK and disconnects).
    #[error("QoS 2 requested for {topic:?}; only QoS 0 and 1 are supported")]
    QoS2 {
        /// Topic or filter.
        topic: String,
    },
    /// A retained publish.
    #[error("retained message on {topic:?}; retained messages are not supported")]
    Retain {
        /// Topic.
        topic: String,
    },
    /// Too many filters or subscriptions.
    #[error("{0}")]
    TooManySubscriptions(String),
    /// Nothing received for 1.5 times the keep-alive.
    #[error("keep-alive expired: nothing received for {millis} ms (1.5 x keep-alive)")]
    KeepAlive {
        /// The enforced time-out.
        millis: u128,
    },
    /// Another connection took the client id.
    #[error("another connection with the same client id took over")]
    TakenOver,
    /// The client does not read its messages.
    #[error("client does not read its messages (queue full)")]
    SlowConsumer,
    /// The endpoint shuts down.
    #[error("endpoint shutting down")]
    Shutdown,
}

fn unsupported_protocol(level: Option<u8>) -> String {
    match level {
        Some(5) => "MQTT 5 CONNECT (protocol level 5)".into(),
        Some(level) => format!("CONNECT with protocol level {level}"),
        None => "CONNECT with a protocol name other than \"MQTT\" (MQTT 3.1 or older)".into(),
    }
}

/// What observers (tests, tools) can watch through [`Endpoint::events`](crate::Endpoint::events).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointEvent {
    /// A client completed CONNECT.
    Connected {
        /// Peer address.
        peer: SocketAddr,
        /// Client id.
        client_id: String,
        /// Identity from its certificate.
        identity: Identity,
        /// Whether a persistent session was resumed.
        session_present: bool,
    },
    /// The endpoint refused or dropped a client.
    Refused {
        /// Peer address.
        peer: SocketAddr,
        /// Client id, when CONNECT was read.
        client_id: Option<String>,
        /// Why.
        reason: Reason,
    },
    /// A client's SUBSCRIBE was granted (its SUBACK is queued).
    Subscribed {
        /// Client id.
        client_id: String,
        /// The filters granted.
        filters: Vec<String>,
    },
    /// A client left (DISCONNECT or end of stream).
    Closed {
        /// Client id.
        client_id: String,
        /// Whether the client sent DISCONNECT first.
        clean: bool,
    },
}
