//! The listeners: a 443-style one that requires ALPN `x-amzn-mqtt-ca` and an optional 8883-style
//! one that does not, both requiring SNI naming one of the endpoint's names ([`ServerNames`]) and a client
//! certificate chained to the test CA. Each accepted connection runs in its own task (module `connection`).
//! [`Endpoint::set_down`] closes the listeners and every connection and opens them again on the same ports, the
//! broker's sessions kept in memory (an outage).
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
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::broker::Broker;
pub use crate::model::{EndpointConfig, EndpointEvent, Limits, Reason};
use crate::pki::Pki;
use ccv_tls::{self as tls, TlsError};
use ccv_wire::cloud::AWS_IOT_ALPN;

/// The two server TLS configurations (with and without the ALPN requirement) and the names served.
#[derive(Debug, Clone)]
pub struct EndpointTls {
    /// For the 443-style listener: advertises `x-amzn-mqtt-ca`.
    pub with_alpn: Arc<ServerConfig>,
    /// For the 8883-style listener.
    pub without_alpn: Arc<ServerConfig>,
    /// The server names a client may ask for with SNI.
    pub names: ServerNames,
}

impl EndpointTls {
    /// Builds both from a PKI's CA and server certificate; the names served are the certificate's DNS names.
    pub fn from_pki(pki: &Pki) -> Result<Self, TlsError> {
        let (ca, cert, key) = (&pki.ca.cert_pem, &pki.server.cert_pem, &pki.server.key_pem);
        Ok(EndpointTls {
            with_alpn: tls::server_config(ca, cert, key, Some(AWS_IOT_ALPN.as_bytes()))?,
            without_alpn: tls::server_config(ca, cert, key, None)?,
            names: ServerNames::from_cert_pem(cert)?,
        })
    }
}

/// The names the endpoint answers to, as AWS IoT Core serves only its endpoint's names: a ClientHello whose SNI
/// names anything else is refused before the hand-shake goes on ([`Reason::UnknownServerName`]). Names compare
/// without regard to letter case; a `*.` name stands for exactly one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerNames(Arc<[String]>);

impl ServerNames {
    /// The names given (lower-cased).
    pub fn new<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> ServerNames {
        ServerNames(names.into_iter().map(|n| n.as_ref().to_ascii_lowercase()).collect())
    }

    /// The DNS names of the first certificate in `pem` (its subject alternative names).
    pub fn from_cert_pem(pem: &str) -> Result<ServerNames, TlsError> {
        let what = "server certificate";
        let bad = |detail: String| TlsError::Pem { what, detail };
        let certs = tls::certs_from_pem(pem, what)?;
        let der = certs.first().ok_or_else(|| bad("no certificate".into()))?;
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| bad(format!("not parsable X.509: {e}")))?;
        let san =
            cert.subject_alternative_name().map_err(|e| bad(format!("subject alternative names: {e}")))?;
        let names: Vec<&str> = san
            .iter()
            .flat_map(|ext| &ext.value.general_names)
            .filter_map(|n| match n {
                GeneralName::DNSName(name) => Some(*name),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            return Err(bad(
                "no DNS name among its subject alternative names; SNI could match nothing".into()
            ));
        }
        Ok(ServerNames::new(names))
    }

    /// Whether `sni` is one of the names.
    pub fn serves(&self, sni: &str) -> bool {
        let sni = sni.to_ascii_lowercase();
        self.0.iter().any(|name| match name.strip_prefix("*.") {
            Some(parent) => {
                sni.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == parent)
            }
            None => *name == sni,
        })
    }

    /// The names, lower-cased.
    pub fn names(&self) -> &[String] {
        &self.0
    }
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
    /// The state file of persistent sessions could not be read.
    #[error(transparent)]
    State(#[from] crate::persist::PersistError),
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
    /// What a listener needs to serve; kept to listen again after [`Endpoint::set_down`].
    serve: Serve,
    /// The accept loops while the endpoint is up.
    listening: tokio::sync::Mutex<Option<Listening>>,
    down: std::sync::atomic::AtomicBool,
    /// Where persistent sessions are kept across restarts.
    state_file: Option<std::path::PathBuf>,
}

/// What every accept loop shares.
#[derive(Debug, Clone)]
struct Serve {
    tls: EndpointTls,
    broker: Arc<Broker>,
    config: Arc<EndpointConfig>,
    /// Each connection task holds a clone; [`Endpoint::shutdown`] waits for all of them to go.
    done: mpsc::Sender<()>,
    /// How many accepted connections are open ([`Endpoint::open_connections`]).
    open: Arc<watch::Sender<usize>>,
}

/// One accepted connection counted in [`Serve::open`] for as long as its task holds it.
struct Open(Arc<watch::Sender<usize>>);

impl Open {
    fn new(count: &Arc<watch::Sender<usize>>) -> Open {
        count.send_modify(|n| *n += 1);
        Open(count.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// The accept loops of the listeners and what stops them and their connections.
#[derive(Debug)]
struct Listening {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Serve {
    /// Accepts on the 443-style listener and, when there is one, the 8883-style one, until `parent` is
    /// cancelled or the returned [`Listening`] is stopped.
    fn listen(&self, l443: TcpListener, l8883: Option<TcpListener>, parent: &CancellationToken) -> Listening {
        let stop = parent.child_token();
        let spawn = |l, tls: &Arc<ServerConfig>, require_alpn| {
            tokio::spawn(accept_loop(l, tls.clone(), require_alpn, self.clone(), stop.clone()))
        };
        let mut tasks = vec![spawn(l443, &self.tls.with_alpn, true)];
        if let Some(l) = l8883 {
            tasks.push(spawn(l, &self.tls.without_alpn, false));
        }
        Listening { stop, tasks }
    }
}

impl Listening {
    /// Closes the listeners and every connection; waits (at most 5 s) for the listeners to close.
    async fn stop(self) {
        self.stop.cancel();
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, EndpointError> {
    TcpListener::bind(addr).await.map_err(|error| EndpointError::Bind { addr, error })
}

impl Endpoint {
    /// Binds the listeners and starts accepting.
    pub async fn start(config: EndpointConfig, tls: EndpointTls) -> Result<Endpoint, EndpointError> {
        let l443 = bind(config.listen).await?;
        let l8883 = match config.listen_8883 {
            Some(a) => Some(bind(a).await?),
            None => None,
        };
        let local = |l: &TcpListener, asked: SocketAddr| l.local_addr().unwrap_or(asked);
        let addr = local(&l443, config.listen);
        let addr_8883 = l8883.as_ref().zip(config.listen_8883).map(|(l, a)| local(l, a));
        let broker = Arc::new(Broker::new(config.limits.clone(), config.session_expiry));
        let state_file = config.state_file.clone();
        if let Some(path) = &state_file {
            let restored = broker.restore(crate::persist::Snapshot::load(path)?);
            tracing::info!(path = %path.display(), restored, "IoT endpoint: persistent sessions restored");
        }
        let shutdown = CancellationToken::new();
        let (done, done_rx) = mpsc::channel(1);
        let open = Arc::new(watch::Sender::new(0));
        let serve = Serve { tls, broker: broker.clone(), config: Arc::new(config), done, open };
        let listening = serve.listen(l443, l8883, &shutdown);
        let sweeper = broker.clone();
        let stop = shutdown.clone();
        let mut tasks = vec![tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => { sweeper.sweep(); }
                }
            }
        })];
        if let Some(path) = state_file.clone() {
            tasks.push(tokio::spawn(keep_state_file(broker.clone(), path, shutdown.clone())));
        }
        tracing::info!(%addr, addr_8883 = ?addr_8883, "IoT endpoint listening");
        Ok(Endpoint {
            addr,
            addr_8883,
            broker,
            shutdown,
            tasks,
            done_rx,
            serve,
            listening: tokio::sync::Mutex::new(Some(listening)),
            down: Default::default(),
            state_file,
        })
    }

    /// Takes the endpoint down (`true`: its listeners close, so a connection attempt is refused, and every
    /// connection is closed) or brings it back up on the same addresses. The broker's state stays in memory:
    /// persistent sessions, their subscriptions and queued messages are there when clients come back.
    /// Switching to the state it is in does nothing.
    pub async fn set_down(&self, down: bool) -> Result<(), EndpointError> {
        let mut listening = self.listening.lock().await;
        match (down, listening.take()) {
            (true, Some(running)) => {
                running.stop().await;
                tracing::info!(addr = %self.addr, "IoT endpoint taken down");
            }
            (false, None) => {
                let l443 = bind(self.addr).await?;
                let l8883 = match self.addr_8883 {
                    Some(a) => Some(bind(a).await?),
                    None => None,
                };
                *listening = Some(self.serve.listen(l443, l8883, &self.shutdown));
                tracing::info!(addr = %self.addr, "IoT endpoint up again");
            }
            (_, unchanged) => *listening = unchanged,
        }
        self.down.store(listening.is_none(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Whether the endpoint is down ([`Endpoint::set_down`]).
    pub fn is_down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::Relaxed)
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

    /// Accepted connections whose task still runs: from the TCP accept, through the TLS hand-shake and CONNECT, to
    /// the socket's close. A connection that never sends a byte counts too.
    pub fn open_connections(&self) -> usize {
        *self.serve.open.borrow()
    }

    /// [`Endpoint::open_connections`] as a watch, to await a number (`wait_for`) instead of polling it.
    pub fn watch_open_connections(&self) -> watch::Receiver<usize> {
        self.serve.open.subscribe()
    }

    /// Subscription filters indexed for routing, over every session (each filter once per subscriber).
    pub fn subscriptions(&self) -> usize {
        self.broker.subscription_total()
    }

    /// A token that stops the endpoint when cancelled (for Ctrl-C wiring).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting, closes every connection and waits (at most 5 s) for them to end.
    pub async fn shutdown(self) {
        let Endpoint { shutdown, tasks, mut done_rx, serve, listening, broker, state_file, .. } = self;
        shutdown.cancel();
        if let Some(l) = listening.into_inner() {
            l.stop().await;
        }
        for t in tasks {
            let _ = t.await;
        }
        drop(serve);
        // Every connection task holds a sender; recv() yields None once all are gone.
        let _ = tokio::time::timeout(Duration::from_secs(5), done_rx.recv()).await;
        // Every connection has detached: the sessions are written as the next start will find them.
        if let Some(path) = state_file {
            save_state(&broker, &path).await;
        }
        tracing::info!("IoT endpoint stopped");
    }
}

/// Writes the broker's persistent sessions to `path` (off the async threads); a failure is logged, not fatal.
async fn save_state(broker: &Arc<Broker>, path: &std::path::Path) {
    let snapshot = broker.snapshot();
    let path = path.to_owned();
    match tokio::task::spawn_blocking(move || snapshot.save(&path)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!("persistent sessions NOT saved: {e}"),
        Err(e) => tracing::error!("persistent sessions NOT saved: {e}"),
    }
}

/// Writes the state file shortly after each change of a persistent session (changes within 50 ms are written
/// together), until `stop`; the final write is [`Endpoint::shutdown`]'s.
async fn keep_state_file(broker: Arc<Broker>, path: std::path::PathBuf, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = broker.changed.notified() => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        save_state(&broker, &path).await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    require_alpn: bool,
    serve: Serve,
    stop: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                let conn = crate::connection::Conn {
                    broker: serve.broker.clone(),
                    config: serve.config.clone(),
                    shutdown: stop.clone(),
                    names: serve.tls.names.clone(),
                    peer,
                };
                let tls = tls.clone();
                let done = serve.done.clone();
                let open = Open::new(&serve.open);
                tokio::spawn(async move {
                    conn.run(tcp, tls, require_alpn).await;
                    drop(open);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_match_without_case_and_a_wildcard_covers_one_label() {
        let names = ServerNames::new(["localhost", "*.iot.example"]);
        assert!(names.serves("LOCALHOST"));
        assert!(names.serves("a-ats.iot.example"));
        assert!(!names.serves("iot.example"), "a wildcard needs a label");
        assert!(!names.serves("x.a-ats.iot.example"), "a wildcard covers one label");
        assert!(!names.serves(".iot.example"));
        assert!(!names.serves("evil.example"));
    }

    #[test]
    fn the_names_served_are_the_server_certificates() {
        let pki = Pki::generate(&crate::PkiOptions::default()).expect("PKI");
        let names = ServerNames::from_cert_pem(&pki.server.cert_pem).expect("SANs read");
        assert_eq!(names.names(), ["localhost".to_owned(), crate::pki::ATS_HOST.to_owned()]);
        let err =
            ServerNames::from_cert_pem(&pki.vpos.cert_pem).expect_err("a client certificate has no DNS name");
        assert!(err.to_string().contains("no DNS name"), "{err}");
    }
}
