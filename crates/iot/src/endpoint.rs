//! The listeners: a 443-style one that requires ALPN `x-amzn-mqtt-ca` and an optional 8883-style
//! one that does not, both requiring SNI and a client certificate chained to the test CA. Each
//! accepted connection runs in its own task (module `connection`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ccv_iot::{Endpoint, EndpointConfig, EndpointTls, pki::{Pki, PkiOptions}};
//! let pki = Pki::generate(&PkiOptions { terminals: vec!["12345678".into()], ..Default::default() })?;
//! let endpoint = Endpoint::start(EndpointConfig::default(), EndpointTls::from_pki(&pki)?).await?;
//! println!("listening on {}", endpoint.local_addr());
//! endpoint.shutdown().await;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::identity::{Identity, IdentityError};
use crate::pki::Pki;
use crate::policy::Refusal;
use crate::topics::TopicError;
use ccv_tls::{self as tls, TlsError};
use ccv_wire::cloud::AWS_IOT_ALPN;

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
        }
    }
}

/// The two server TLS configurations (with and without the ALPN requirement).
#[derive(Debug, Clone)]
pub struct EndpointTls {
    /// For the 443-style listener: advertises `x-amzn-mqtt-ca`.
    pub with_alpn: Arc<ServerConfig>,
    /// For the 8883-style listener.
    pub without_alpn: Arc<ServerConfig>,
}

impl EndpointTls {
    /// Builds both from a PKI's CA and server certificate.
    pub fn from_pki(pki: &Pki) -> Result<Self, TlsError> {
        let (ca, cert, key) = (&pki.ca.cert_pem, &pki.server.cert_pem, &pki.server.key_pem);
        Ok(EndpointTls {
            with_alpn: tls::server_config(ca, cert, key, Some(AWS_IOT_ALPN.as_bytes()))?,
            without_alpn: tls::server_config(ca, cert, key, None)?,
        })
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

/// What observers (tests, tools) can watch through [`Endpoint::events`].
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

/// Errors starting the endpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// Binding a listener failed.
    #[error("cannot listen on {addr}: {error}; is the port free and the address local?")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        error: std::io::Error,
    },
    /// TLS set-up failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A running endpoint. Dropping it without [`Endpoint::shutdown`] leaves the tasks running until
/// the runtime ends.
#[derive(Debug)]
pub struct Endpoint {
    addr: SocketAddr,
    addr_8883: Option<SocketAddr>,
    broker: Arc<Broker>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    done_rx: mpsc::Receiver<()>,
}

impl Endpoint {
    /// Binds the listeners and starts accepting.
    pub async fn start(config: EndpointConfig, tls: EndpointTls) -> Result<Endpoint, EndpointError> {
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr).await.map_err(|error| EndpointError::Bind { addr, error })
        };
        let l443 = bind(config.listen).await?;
        let l8883 = match config.listen_8883 {
            Some(a) => Some(bind(a).await?),
            None => None,
        };
        let local = |l: &TcpListener, asked: SocketAddr| l.local_addr().unwrap_or(asked);
        let addr = local(&l443, config.listen);
        let addr_8883 = l8883.as_ref().zip(config.listen_8883).map(|(l, a)| local(l, a));
        let broker = Arc::new(Broker::new(config.limits.clone(), config.session_expiry));
        let shutdown = CancellationToken::new();
        let (done_tx, done_rx) = mpsc::channel(1);
        let config = Arc::new(config);
        let mut tasks = vec![tokio::spawn(accept_loop(
            l443,
            tls.with_alpn,
            true,
            broker.clone(),
            config.clone(),
            shutdown.clone(),
            done_tx.clone(),
        ))];
        if let Some(l) = l8883 {
            tasks.push(tokio::spawn(accept_loop(
                l,
                tls.without_alpn,
                false,
                broker.clone(),
                config.clone(),
                shutdown.clone(),
                done_tx.clone(),
            )));
        }
        let sweeper = broker.clone();
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => { sweeper.sweep(); }
                }
            }
        }));
        tracing::info!(%addr, addr_8883 = ?addr_8883, "IoT endpoint listening");
        Ok(Endpoint { addr, addr_8883, broker, shutdown, tasks, done_rx })
    }

    /// Address of the 443-style listener (ALPN required).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Address of the 8883-style listener, if configured.
    pub fn local_addr_8883(&self) -> Option<SocketAddr> {
        self.addr_8883
    }

    /// Subscribes to connection events.
    pub fn events(&self) -> broadcast::Receiver<EndpointEvent> {
        self.broker.events.subscribe()
    }

    /// Clients currently connected (CONNECT accepted).
    pub fn connected_clients(&self) -> usize {
        self.broker.connected.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sessions held (connected ones and offline persistent ones).
    pub fn sessions(&self) -> usize {
        self.broker.session_count()
    }

    /// A token that stops the endpoint when cancelled (for Ctrl-C wiring).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting, closes every connection and waits (at most 5 s) for them to end.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        // Every connection task holds a sender; recv() yields None once all are gone.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.done_rx.recv()).await;
        tracing::info!("IoT endpoint stopped");
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    require_alpn: bool,
    broker: Arc<Broker>,
    config: Arc<EndpointConfig>,
    shutdown: CancellationToken,
    done: mpsc::Sender<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                let conn = crate::connection::Conn {
                    broker: broker.clone(),
                    config: config.clone(),
                    shutdown: shutdown.clone(),
                    peer,
                };
                let tls = tls.clone();
                let done = done.clone();
                tokio::spawn(async move {
                    conn.run(tcp, tls, require_alpn).await;
                    drop(done);
                });
            }
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed; retrying in 100 ms (raise `ulimit -n` for many clients)");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
