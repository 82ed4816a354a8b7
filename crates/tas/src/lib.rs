//! `ccv-tas`: a mock of CCV's terminal access server (TAS).
//!
//! What it does: accepts terminals that dial out ("TCP FLAT-OUTGOING", port 5555 by default), reads their
//! hand-shake (`docs/TAS_HANDSHAKE.md`), keeps a registry of connected terminals, and runs OPI_NL conversations on
//! each connection as the POS side: payment, refund, reversal, abort, login, logoff, reconciliation. It answers the
//! terminal's `DeviceRequest`s (collecting display texts and receipts; the printer can be told to fail), applies
//! time-outs, and reports the outcome as `unknown` when the terminal disconnects or goes silent mid-transaction
//! (after a time-out it sends the terminal an abort and keeps it busy until the terminal answers).
//! Every frame in both directions goes to a JSON-lines transcript with card numbers masked, and to live viewers
//! ([`Tas::transcript_updates`]). It can be taken down and brought back on the same port ([`Tas::set_down`]), as
//! a TAS outage looks to terminals.
//!
//! With [`TasConfig::tls`] the terminal port speaks mutual TLS ([`TasTls`]): a terminal must present a
//! certificate of the PKI (OU `terminal`, CN = its TMS ID), and a hand-shake naming another TMS ID than the
//! certificate's is refused. Without it the port is plain TCP and unauthenticated: whoever connects may claim any
//! TMS ID. Either way a second hand-shake for a terminal that is connected does not silently take its place: it
//! is refused while a request runs on the first, and on plain TCP at all (the TAS cannot tell which is the
//! terminal); over mutual TLS the proven terminal's new connection replaces its old one, logged and recorded.
//!
//! What it does not do: no real acquiring, no persistence beyond the transcript file; it never dials a
//! terminal (terminals always connect to it).
//!
//! HTTP API (axum), all JSON:
//! - `GET /terminals`, `GET /terminals/{tmsId}`, `GET /terminals/{tmsId}/wait?timeoutSecs=10`
//! - `POST /terminals/{tmsId}/payments` `{"amount": "12.34" | 12.34, "currency": "EUR", "timeoutSecs": 60}`,
//!   likewise `/refunds` and `/reversals` (`"originalStan"` optional) → a [`TransactionResult`]
//! - `POST /terminals/{tmsId}/abort`, `/login`, `/logoff`, `/reconciliation` (body optional)
//! - `PUT /terminals/{tmsId}/printer` `{"fail": true}` (`*` as TMS ID means every terminal)
//! - `GET /transcript?tmsId=..&since=N&limit=N` → a [`TranscriptPage`]: up to `limit` entries after `since`
//!   (at most 1,000, and fewer past 1 MiB of payload), `next` (the `since` of the following page), `more`, and
//!   how many entries were `dropped` from memory
//!
//! A request with an `Origin` header other than the API's own is refused (403 `cross_origin`), and a POST or PUT
//! must carry `Content-Type: application/json` or no body (415 `unsupported_media_type`): no web page can drive
//! the API from a user's browser.
//!
//! Layout:
//! - `server`: accept loop, registry, one task per terminal connection that drives its `session` with the
//!   socket, the clock and the API's requests ([`Tas`] is its handle)
//! - [`session`]: the sans-IO core of one connection: hand-shake, request slots, matching responses, device
//!   requests, time-outs (no socket, no clock)
//! - `conversation`: the OPI messages of each conversation (built and parsed with `ccv-opi`)
//! - `api`: the HTTP routes; [`client`]: a small HTTP client for them (used by `ccv-emu pay`)
//! - [`transcript`]: the JSON-lines transcript and PAN masking; [`amount`]: amount parsing; [`model`]: API types

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub mod amount;
pub mod api;
pub mod client;
mod conversation;
pub mod model;
mod server;
pub mod session;
pub mod transcript;

pub use model::{DisplayText, JobKind, Outcome, Receipt, TerminalInfo, TransactionResult};
pub use transcript::{Direction, Transcript, TranscriptEntry, TranscriptPage};

/// Settings of a mock TAS.
#[derive(Debug, Clone)]
pub struct TasConfig {
    /// Largest OPI frame accepted from a terminal; a larger length prefix closes the connection.
    pub max_frame: usize,
    /// Time a terminal has to send its hand-shake after connecting (a terminal sends it at once).
    pub handshake_timeout: Duration,
    /// Time an identified terminal may stay connected with no frame and no request running before the TAS
    /// closes the connection. Long enough for a person paying by hand a few times after one kick; the payment
    /// API kicks the terminal for every payment, so it never relies on an idle connection.
    pub idle_timeout: Duration,
    /// Default time a conversation may take before its outcome is reported unknown (and the terminal is sent
    /// an abort).
    pub transaction_timeout: Duration,
    /// Time a terminal has to answer the abort sent after a time-out; until it answers (or this passes and the
    /// TAS disconnects it) the terminal takes no request.
    pub abort_timeout: Duration,
    /// Time allowed for writing one frame.
    pub write_timeout: Duration,
    /// `WorkstationID` the TAS puts in its requests.
    pub workstation_id: String,
    /// Append the transcript to this file as JSON lines.
    pub transcript_path: Option<PathBuf>,
    /// Transcript entries kept in memory for `GET /transcript`.
    pub transcript_memory: usize,
    /// Bytes those entries may hold (payloads, notes, a fixed cost per entry); beyond, the oldest are dropped.
    pub transcript_memory_bytes: usize,
    /// Most terminal connections served at once; beyond, new ones wait in the listen queue.
    pub max_connections: usize,
    /// Most connections from one source address (identified or not); a connection beyond is closed at once.
    pub max_per_peer: usize,
    /// Most connections that have not identified themselves yet; a new connection beyond closes the oldest of
    /// them, so that sockets that never hand-shake cannot keep terminals out.
    pub max_unidentified: usize,
    /// Mutual TLS on the terminal port; `None`: plain TCP, where a terminal's TMS ID is not proven.
    pub tls: Option<TasTls>,
}

/// The TAS's side of mutual TLS on the terminal port: its server certificate, and the CA whose terminal
/// certificates (CN = TMS ID) it accepts.
#[derive(Clone)]
pub struct TasTls {
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TasTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TasTls").finish_non_exhaustive()
    }
}

impl TasTls {
    /// From PEM text: the CA that signed the terminals' certificates, the TAS's certificate and key.
    pub fn from_pem(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<TasTls, TasError> {
        let config = ccv_tls::server_config(ca_pem, cert_pem, key_pem, None)
            .map_err(|e| TasError::Tls(e.to_string()))?;
        Ok(TasTls { config })
    }

    /// From a PKI directory made by `ccv-emu pki init`: `ca.pem`, `tas.pem`, `tas.key`.
    pub fn load_dir(dir: &std::path::Path) -> Result<TasTls, TasError> {
        let read = |name: &str| {
            ccv_tls::read_pem_file(&dir.join(name))
                .map_err(|e| TasError::Tls(format!("{e} (make the PKI with `ccv-emu pki init DIR`)")))
        };
        TasTls::from_pem(&read("ca.pem")?, &read("tas.pem")?, &read("tas.key")?)
    }
}

impl Default for TasConfig {
    fn default() -> Self {
        let timeouts = session::Timeouts::default();
        Self {
            max_frame: 64 * 1024,
            handshake_timeout: timeouts.handshake,
            transaction_timeout: Duration::from_secs(120),
            abort_timeout: timeouts.abort,
            idle_timeout: timeouts.idle,
            write_timeout: Duration::from_secs(10),
            workstation_id: "TAS".to_owned(),
            transcript_path: None,
            transcript_memory: 10_000,
            transcript_memory_bytes: 16 << 20,
            max_connections: 10_000,
            max_per_peer: 1_024,
            max_unidentified: 1_000,
            tls: None,
        }
    }
}

/// Errors of the mock TAS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TasError {
    /// Binding a listener failed.
    #[error("cannot listen on {addr}: {source} (is the port in use? pick another with --listen/--api)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The transcript file could not be opened.
    #[error("cannot open the transcript file {path}: {source}")]
    Transcript {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No terminal with this TMS ID is connected.
    #[error("terminal {tms_id} is not connected to this TAS (kick it first; GET /terminals lists who is)")]
    NotConnected {
        /// The TMS ID.
        tms_id: String,
    },
    /// A conversation is already running on this terminal, or the terminal may still be in one that timed out.
    #[error("terminal {tms_id} is busy: {doing}")]
    Busy {
        /// The TMS ID.
        tms_id: String,
        /// With what, and what to do.
        doing: String,
    },
    /// An abort was asked while nothing runs.
    #[error("terminal {tms_id} has no request in progress to abort")]
    NothingToAbort {
        /// The TMS ID.
        tms_id: String,
    },
    /// The request to the API was not valid.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// An OPI message could not be encoded.
    #[error("could not encode the OPI request: {0}")]
    Encode(String),
    /// The TLS material of the terminal port is not usable.
    #[error("TAS TLS: {0}")]
    Tls(String),
}

/// A running mock TAS; clone-free handle for in-process use (tests, sandbox, benches).
#[derive(Debug)]
pub struct Tas {
    shared: Arc<server::Shared>,
    terminal_addr: SocketAddr,
    api_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    /// The terminal listener's accept loop while the TAS is up ([`Tas::set_down`]).
    listening: tokio::sync::Mutex<Option<Listening>>,
    down: std::sync::atomic::AtomicBool,
}

/// The accept loop of the terminal listener and what stops it and its connections.
#[derive(Debug)]
struct Listening {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Listening {
    /// Accepts terminals on `listener` until the TAS shuts down or is taken down.
    fn start(listener: TcpListener, shared: &Arc<server::Shared>, shutdown: &CancellationToken) -> Listening {
        let stop = shutdown.child_token();
        let task = tokio::spawn(server::accept_loop(listener, shared.clone(), stop.clone()));
        Listening { stop, task }
    }

    /// Closes the listener and every terminal connection; waits (at most 5 s) for the listener to close.
    async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

impl Tas {
    /// Starts the TAS: terminals connect to `listen`; the HTTP API is served on `api` when given.
    pub async fn start(
        listen: SocketAddr,
        api: Option<SocketAddr>,
        config: TasConfig,
    ) -> Result<Tas, TasError> {
        let transcript = match &config.transcript_path {
            Some(path) => {
                Transcript::with_file(config.transcript_memory, config.transcript_memory_bytes, path)
                    .map_err(|source| TasError::Transcript { path: path.clone(), source })?
            }
            None => Transcript::in_memory(config.transcript_memory, config.transcript_memory_bytes),
        };
        let listener = terminal_listener(listen).map_err(|source| TasError::Bind { addr: listen, source })?;
        let terminal_addr =
            listener.local_addr().map_err(|source| TasError::Bind { addr: listen, source })?;
        let shared = Arc::new(server::Shared::new(config, transcript));
        let shutdown = CancellationToken::new();
        let listening = Listening::start(listener, &shared, &shutdown);
        let mut tasks = Vec::new();
        let mut api_addr = None;
        if let Some(api) = api {
            let listener =
                TcpListener::bind(api).await.map_err(|source| TasError::Bind { addr: api, source })?;
            let local = listener.local_addr().map_err(|source| TasError::Bind { addr: api, source })?;
            api_addr = Some(local);
            let app = api::router(shared.clone(), local);
            let token = shutdown.clone();
            tasks.push(tokio::spawn(api::serve(listener, app, token)));
        }
        tracing::info!(%terminal_addr, ?api_addr, "mock TAS listening");
        let listening = tokio::sync::Mutex::new(Some(listening));
        Ok(Tas { shared, terminal_addr, api_addr, shutdown, tasks, listening, down: Default::default() })
    }

    /// Where terminals connect.
    pub fn terminal_addr(&self) -> SocketAddr {
        self.terminal_addr
    }

    /// Where the HTTP API listens, if started.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api_addr
    }

    /// The connected terminals.
    pub fn terminals(&self) -> Vec<TerminalInfo> {
        self.shared.terminals()
    }

    /// Waits until `tms_id` is connected (hand-shake done), at most `timeout`.
    pub async fn wait_connected(&self, tms_id: &str, timeout: Duration) -> Result<TerminalInfo, TasError> {
        self.shared.wait_connected(tms_id, timeout, |_| true).await
    }

    /// Waits until `tms_id` is connected with a connection whose hand-shake named payment `reference` (a
    /// terminal dialling for this payment), at most `timeout`.
    pub async fn wait_for_reference(
        &self,
        tms_id: &str,
        reference: &str,
        timeout: Duration,
    ) -> Result<TerminalInfo, TasError> {
        self.shared.wait_connected(tms_id, timeout, |t| t.reference.as_deref() == Some(reference)).await
    }

    /// The last text `tms_id` showed on its customer display during its current conversation (e.g.
    /// `PIN INVOEREN`).
    pub fn display(&self, tms_id: &str) -> Option<DisplayText> {
        self.shared.display(tms_id)
    }

    /// Every display text from now on, as terminals show them: (TMS ID, text). A receiver that lags loses the
    /// oldest.
    pub fn display_updates(&self) -> tokio::sync::broadcast::Receiver<(String, DisplayText)> {
        self.shared.display_updates.subscribe()
    }

    /// Runs one conversation on a connected terminal (`timeout` defaults to the configured one).
    pub async fn run(
        &self,
        tms_id: &str,
        kind: JobKind,
        timeout: Option<Duration>,
    ) -> Result<TransactionResult, TasError> {
        self.shared.run(tms_id, kind, timeout).await
    }

    /// A payment in minor units of EUR.
    pub async fn pay(&self, tms_id: &str, amount_minor: u64) -> Result<TransactionResult, TasError> {
        self.run(tms_id, JobKind::Payment { amount_minor, currency: "EUR".into() }, None).await
    }

    /// Tells the TAS to fail printer outputs of `tms_id` (`*` for all terminals).
    pub fn set_fail_printer(&self, tms_id: &str, fail: bool) {
        self.shared.set_fail_printer(tms_id, fail);
    }

    /// Whether the TAS fails printer outputs of `tms_id` (its own setting, else the one for all terminals).
    pub fn fails_printer(&self, tms_id: &str) -> bool {
        self.shared.fail_printer(tms_id)
    }

    /// Takes the TAS down (`true`: the terminal listener is closed, so a dial is refused, and every terminal
    /// connection is dropped, its running conversation ending with an unknown outcome) or brings it back up on
    /// the same address. The HTTP API and the transcript stay. Switching to the state it is in does nothing.
    pub async fn set_down(&self, down: bool) -> Result<(), TasError> {
        let mut listening = self.listening.lock().await;
        match (down, listening.take()) {
            (true, Some(running)) => {
                running.stop().await;
                tracing::info!(terminal_addr = %self.terminal_addr, "mock TAS taken down");
            }
            (false, None) => {
                let addr = self.terminal_addr;
                let listener = terminal_listener(addr).map_err(|source| TasError::Bind { addr, source })?;
                *listening = Some(Listening::start(listener, &self.shared, &self.shutdown));
                tracing::info!(terminal_addr = %addr, "mock TAS up again");
            }
            (_, unchanged) => *listening = unchanged,
        }
        self.down.store(listening.is_none(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Whether the TAS is down ([`Tas::set_down`]).
    pub fn is_down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every transcript entry from now on, as it is recorded: each OPI frame in both directions (card numbers
    /// masked, its message kind named) and each connection event. A receiver that lags loses the oldest.
    pub fn transcript_updates(&self) -> tokio::sync::broadcast::Receiver<TranscriptEntry> {
        self.shared.transcript.subscribe()
    }

    /// Transcript entries in memory, optionally of one terminal, after sequence number `since`.
    pub fn transcript(&self, tms_id: Option<&str>, since: u64) -> Vec<TranscriptEntry> {
        self.shared.transcript.entries(tms_id, since)
    }

    /// One page of the transcript in memory: up to `limit` entries after `since` ([`Transcript::page`]).
    pub fn transcript_page(&self, tms_id: Option<&str>, since: u64, limit: usize) -> TranscriptPage {
        self.shared.transcript.page(tms_id, since, limit)
    }

    /// The bytes the transcript holds in memory, as its bound counts them ([`TasConfig::transcript_memory_bytes`]).
    pub fn transcript_memory_bytes(&self) -> usize {
        self.shared.transcript.memory_bytes()
    }

    /// Stops listening and closes every terminal connection.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(listening) = self.listening.get_mut().take() {
            listening.stop().await;
        }
        for task in std::mem::take(&mut self.tasks) {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for Tas {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Pending connections the terminal listener queues (the kernel caps it at `net.core.somaxconn`): a storm of
/// kicked terminals dials at once, and a dropped SYN costs a terminal a one-second retransmission.
const TERMINAL_BACKLOG: u32 = 4096;

fn terminal_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket =
        if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(TERMINAL_BACKLOG)
}
