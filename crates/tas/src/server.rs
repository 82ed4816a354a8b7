//! The terminal side of the TAS: accept loop, registry, and one task per terminal connection that drives a
//! [`Session`] (the protocol: hand-shake, requests, time-outs) with the socket, the clock, the API's requests and
//! the transcript.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ccv_opi::codec::{CodecError, FrameCodec};
use ccv_opi::{FrameDecoder, FrameError};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::model::{DisplayText, JobKind, TerminalInfo, TransactionResult};
use crate::session::{Ended, Host, Output, Session, Timeouts};
use crate::transcript::{Direction, Transcript};
use crate::{TasConfig, TasError, TasTls};

/// The OPI output device whose text is "the terminal's screen" for the customer.
const CUSTOMER_DISPLAY: &str = "CustomerDisplay";

/// State shared by the accept loop, the connection tasks and the HTTP API.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: TasConfig,
    pub(crate) transcript: Transcript,
    registry: Mutex<HashMap<String, Entry>>,
    /// Wakes the waiters of one terminal when it connects or disconnects (a terminal's waiters only: with many
    /// terminals, waking every waiter at every change costs more than the conversations).
    changed: Mutex<HashMap<String, Arc<Notify>>>,
    next_conn: AtomicU64,
    next_request: AtomicU64,
    admission: Mutex<Admission>,
    fail_printer: Mutex<HashMap<String, bool>>,
    /// The last text each terminal showed its customer during its current conversation.
    displays: Mutex<HashMap<String, DisplayText>>,
    /// Every text shown, as it is shown: (TMS ID, text).
    pub(crate) display_updates: tokio::sync::broadcast::Sender<(String, DisplayText)>,
}

#[derive(Debug)]
struct Entry {
    conn_id: u64,
    info: TerminalInfo,
    busy: Arc<AtomicBool>,
    commands: mpsc::Sender<Command>,
}

type Reply = oneshot::Sender<Result<TransactionResult, TasError>>;

#[derive(Debug)]
enum Command {
    Run {
        kind: JobKind,
        timeout: Duration,
        reply: Reply,
    },
    /// A newer connection of the terminal (from `by`) took its place.
    Replaced {
        by: String,
    },
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Shared {
    pub(crate) fn new(config: TasConfig, transcript: Transcript) -> Self {
        Self {
            config,
            transcript,
            registry: Mutex::new(HashMap::new()),
            changed: Mutex::default(),
            next_conn: AtomicU64::new(1),
            next_request: AtomicU64::new(1),
            admission: Mutex::default(),
            fail_printer: Mutex::new(HashMap::new()),
            displays: Mutex::new(HashMap::new()),
            display_updates: tokio::sync::broadcast::channel(1024).0,
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // The registry holds plain data; a panic elsewhere cannot leave it half-updated.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn terminals(&self) -> Vec<TerminalInfo> {
        let reg = self.registry();
        let mut list: Vec<TerminalInfo> = reg
            .values()
            .map(|e| TerminalInfo { busy: e.busy.load(Ordering::Relaxed), ..e.info.clone() })
            .collect();
        list.sort_by(|a, b| a.tms_id.cmp(&b.tms_id));
        list
    }

    /// One terminal's registry entry.
    fn terminal(&self, tms_id: &str) -> Option<TerminalInfo> {
        let reg = self.registry();
        reg.get(tms_id).map(|e| TerminalInfo { busy: e.busy.load(Ordering::Relaxed), ..e.info.clone() })
    }

    fn changes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.changed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the waiters of `tms_id`.
    fn notify_changed(&self, tms_id: &str) {
        let notify = self.changes().get(tms_id).cloned();
        if let Some(n) = notify {
            n.notify_waiters();
        }
    }

    pub(crate) fn set_fail_printer(&self, tms_id: &str, fail: bool) {
        self.fail_printer.lock().unwrap_or_else(|e| e.into_inner()).insert(tms_id.to_owned(), fail);
    }

    pub(crate) fn fail_printer(&self, tms_id: &str) -> bool {
        let map = self.fail_printer.lock().unwrap_or_else(|e| e.into_inner());
        map.get(tms_id).or_else(|| map.get("*")).copied().unwrap_or(false)
    }

    pub(crate) fn display(&self, tms_id: &str) -> Option<DisplayText> {
        self.displays.lock().unwrap_or_else(|e| e.into_inner()).get(tms_id).cloned()
    }

    fn set_display(&self, tms_id: &str, shown: Option<DisplayText>) {
        let mut map = self.displays.lock().unwrap_or_else(|e| e.into_inner());
        match shown {
            Some(d) => {
                // Nobody listening is fine.
                let _ = self.display_updates.send((tms_id.to_owned(), d.clone()));
                if d.target == CUSTOMER_DISPLAY {
                    map.insert(tms_id.to_owned(), d);
                }
            }
            None => {
                map.remove(tms_id);
            }
        }
    }

    /// Waits until `tms_id` is connected and `accept` says yes to its registry entry, at most `timeout`.
    pub(crate) async fn wait_connected(
        &self,
        tms_id: &str,
        timeout: Duration,
        accept: impl Fn(&TerminalInfo) -> bool,
    ) -> Result<TerminalInfo, TasError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let changed = self.changes().entry(tms_id.to_owned()).or_default().clone();
        let waiting = Waiting { shared: self, tms_id, changed };
        loop {
            let notified = waiting.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(info) = self.terminal(tms_id).filter(|t| accept(t)) {
                return Ok(info);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(TasError::NotConnected { tms_id: tms_id.to_owned() });
            }
        }
    }

    pub(crate) async fn run(
        &self,
        tms_id: &str,
        kind: JobKind,
        timeout: Option<Duration>,
    ) -> Result<TransactionResult, TasError> {
        let timeout = timeout.unwrap_or(self.config.transaction_timeout).min(Duration::from_secs(600));
        let commands = {
            let reg = self.registry();
            let entry =
                reg.get(tms_id).ok_or_else(|| TasError::NotConnected { tms_id: tms_id.to_owned() })?;
            entry.commands.clone()
        };
        let (reply, rx) = oneshot::channel();
        commands
            .send(Command::Run { kind, timeout, reply })
            .await
            .map_err(|_| TasError::NotConnected { tms_id: tms_id.to_owned() })?;
        // The connection task answers every job: with a result, or with an outcome-unknown result when the
        // terminal goes away. A dropped sender means the task ended before taking the job.
        rx.await.map_err(|_| TasError::NotConnected { tms_id: tms_id.to_owned() })?
    }
}

/// Who holds the terminal port: connections per source address, and the connections that have not identified
/// themselves yet, oldest first.
#[derive(Debug, Default)]
struct Admission {
    per_peer: HashMap<IpAddr, usize>,
    unidentified: BTreeMap<u64, CancellationToken>,
    next: u64,
}

/// A connection's place in [`Admission`]; gives it back when dropped.
struct Ticket {
    shared: Arc<Shared>,
    ip: IpAddr,
    id: u64,
    /// Cancelled when a newer connection needs this one's room before it has identified itself.
    evicted: CancellationToken,
}

impl Ticket {
    /// The terminal identified itself: it no longer counts against the budget of unidentified connections.
    fn identified(&self) {
        self.shared.admission().unidentified.remove(&self.id);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut admission = self.shared.admission();
        admission.unidentified.remove(&self.id);
        if let Some(n) = admission.per_peer.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                admission.per_peer.remove(&self.ip);
            }
        }
    }
}

impl Shared {
    fn admission(&self) -> std::sync::MutexGuard<'_, Admission> {
        // Plain counters; a panic elsewhere cannot leave them half-updated.
        self.admission.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `ip`, or refuses it (`None`) when that address holds `max_per_peer`
    /// connections already. When `max_unidentified` connections have not identified themselves, the oldest of
    /// them is told to close: a terminal sends its hand-shake at once, junk that never does makes room.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Ticket> {
        let mut admission = self.admission();
        let count = admission.per_peer.entry(ip).or_default();
        if *count >= self.config.max_per_peer.max(1) {
            return None;
        }
        *count += 1;
        while admission.unidentified.len() >= self.config.max_unidentified.max(1) {
            match admission.unidentified.pop_first() {
                Some((_, oldest)) => oldest.cancel(),
                None => break,
            }
        }
        let id = admission.next;
        admission.next += 1;
        let evicted = CancellationToken::new();
        admission.unidentified.insert(id, evicted.clone());
        Some(Ticket { shared: self.clone(), ip, id, evicted })
    }
}

/// Accepts terminals until `shutdown`.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken) {
    // At most `max_connections` terminal sockets at once; further terminals wait in the listen queue.
    let permits = Arc::new(tokio::sync::Semaphore::new(shared.config.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => return,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Some(ticket) = shared.admit(peer.ip()) else {
                    // Closed at once; not in the transcript, which a flood must not fill.
                    tracing::debug!(%peer, "TAS: connection refused, too many from this address");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                keep_alive(&stream);
                let shared = shared.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    match shared.config.tls.clone() {
                        None => connection(stream, peer, shared, ticket, shutdown, None).await,
                        Some(tls) => {
                            if let Some((stream, tms_id)) =
                                accept_tls(stream, peer, &tls, &shared, &ticket).await
                            {
                                connection(stream, peer, shared, ticket, shutdown, Some(tms_id)).await
                            }
                        }
                    }
                });
            }
            Err(err) => {
                tracing::warn!(error = %err, "TAS: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// TCP keep-alive on a terminal's socket: a connection whose terminal vanished (power cut, cable pulled) ends
/// within about two minutes instead of holding the terminal's place until the idle time-out.
fn keep_alive(stream: &TcpStream) {
    let params = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10))
        .with_retries(4);
    if let Err(err) = socket2::SockRef::from(stream).set_tcp_keepalive(&params) {
        tracing::debug!(error = %err, "TAS: cannot set TCP keep-alive");
    }
}

/// The TLS hand-shake of a terminal connection (within the hand-shake time-out, given up when the connection's
/// room is needed): the stream and the TMS ID its client certificate proves, or `None` after recording why the
/// connection closed.
async fn accept_tls(
    stream: TcpStream,
    peer: SocketAddr,
    tls: &TasTls,
    shared: &Shared,
    ticket: &Ticket,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, String)> {
    let accept = tokio_rustls::TlsAcceptor::from(tls.config.clone()).accept(stream);
    let refused = match tokio::select! {
        _ = ticket.evicted.cancelled() => None,
        done = tokio::time::timeout(shared.config.handshake_timeout, accept) => Some(done),
    } {
        None => "closed: no TLS hand-shake yet and its room was needed by a newer connection".to_owned(),
        Some(Err(_)) => {
            format!("closed: no TLS hand-shake within {:?}", shared.config.handshake_timeout)
        }
        Some(Ok(Err(err))) => format!("closed: TLS hand-shake failed: {err}"),
        Some(Ok(Ok(stream))) => match certified_tms_id(&stream) {
            Ok(tms_id) => return Some((stream, tms_id)),
            Err(why) => format!("closed: {why}"),
        },
    };
    // Like every connection that never identified itself: one transcript entry, no log line a flood could fill.
    tracing::debug!(%peer, "TAS: connection {refused}");
    shared.transcript.record_unidentified(&Arc::from(peer.to_string()), 0, &refused);
    None
}

/// The TMS ID of a verified terminal certificate (OU `terminal`, CN = TMS ID).
fn certified_tms_id(stream: &tokio_rustls::server::TlsStream<TcpStream>) -> Result<String, String> {
    let der = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("the client presented no certificate")?;
    let subject = ccv_tls::Subject::from_der(der).map_err(|e| e.to_string())?;
    match subject.terminal() {
        Some(tms_id) => Ok(tms_id.to_owned()),
        None => Err(format!(
            "the client certificate ({:?}, OU {:?}) is not a terminal's (OU {:?})",
            subject.common_name,
            subject.organizational_unit,
            ccv_tls::OU_TERMINAL
        )),
    }
}

impl Host for Shared {
    fn next_request_id(&self) -> u64 {
        self.next_request.fetch_add(1, Ordering::Relaxed)
    }

    fn fail_printer(&self, tms_id: &str) -> bool {
        Shared::fail_printer(self, tms_id)
    }

    fn may_register(&self, tms_id: &str, certified: bool) -> Result<(), String> {
        match self.registry().get(tms_id).and_then(|live| takeover_refusal(live, tms_id, certified)) {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }
}

/// Why a hand-shake naming a terminal that has a live connection may not take that connection's place, if it
/// may not: never while a request runs there (the terminal is in it), and on plain TCP never at all, because
/// nothing tells which of the two is the terminal. A connection whose client certificate proves the TMS ID
/// replaces an idle one: that terminal dialled again, so its old connection is dead on its side.
fn takeover_refusal(live: &Entry, tms_id: &str, certified: bool) -> Option<String> {
    let peer = &live.info.peer;
    if live.busy.load(Ordering::Relaxed) {
        Some(format!(
            "terminal {tms_id} is connected from {peer} with a request running; that connection keeps the \
             terminal until the request ends"
        ))
    } else if !certified {
        Some(format!(
            "terminal {tms_id} is already connected from {peer}; on plain TCP the TAS cannot tell which \
             connection is the terminal, so the first keeps its place until it closes or idles out (mutual TLS \
             proves the terminal: `ccv-emu tas --pki DIR`)"
        ))
    } else {
        None
    }
}

struct Conn<S> {
    framed: Framed<S, FrameCodec>,
    peer: Arc<str>,
    shared: Arc<Shared>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn record(&self, tms_id: Option<&Arc<str>>, dir: Direction, payload: Bytes, note: Option<String>) {
        self.shared.transcript.record(tms_id, &self.peer, dir, payload, note);
    }

    /// Writes a frame; records it when the terminal has identified itself (a refused hand-shake's answer is
    /// part of the connection's one [`Output::Unidentified`] entry).
    async fn send(&mut self, tms_id: Option<&Arc<str>>, payload: Bytes) -> Result<(), CodecError> {
        if tms_id.is_some() {
            self.record(tms_id, Direction::ToTerminal, payload.clone(), None);
        }
        let write = self.framed.send(payload);
        match tokio::time::timeout(self.shared.config.write_timeout, write).await {
            Ok(res) => res,
            Err(_) => Err(CodecError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "write to the terminal timed out",
            ))),
        }
    }
}

/// The registry entry this connection made, once the terminal identified itself.
struct Registered {
    conn_id: u64,
    tms_id: String,
    busy: Arc<AtomicBool>,
}

/// Drives one connection's [`Session`]: frames, API requests, time-outs and shutdown in; outputs executed.
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    ticket: Ticket,
    shutdown: CancellationToken,
    certified: Option<String>,
) {
    // The same framing as the terminal side: 4-byte big-endian length, the limit checked before allocating.
    let codec = FrameCodec::new(FrameDecoder::with_max_frame_len(shared.config.max_frame));
    let mut conn = Conn { framed: Framed::new(stream, codec), peer: Arc::from(peer.to_string()), shared };
    // The session's clock: time since the connection was accepted.
    let epoch = tokio::time::Instant::now();
    let now = || epoch.elapsed();
    let config = &conn.shared.config;
    let timeouts = Timeouts {
        handshake: config.handshake_timeout,
        abort: config.abort_timeout,
        idle: config.idle_timeout,
    };
    let mut session: Session<Reply> =
        Session::new(now(), timeouts, config.workstation_id.clone()).certified_as(certified.as_deref());
    // The sender goes into the registry when the terminal has identified itself.
    let (tx, mut commands) = mpsc::channel::<Command>(16);
    let mut tx = Some(tx);
    let mut registered: Option<Registered> = None;
    loop {
        if let Some(r) = &registered {
            r.busy.store(session.is_busy(), Ordering::Relaxed);
        }
        while let Some(out) = session.poll_output() {
            match out {
                Output::Send(frame) => {
                    if let Err(err) = conn.send(session.tms_id(), frame).await {
                        session.handle_end(now(), Ended::WriteFailed(err.to_string()));
                    }
                }
                Output::Received { frame, note } => {
                    conn.record(session.tms_id(), Direction::FromTerminal, frame, note.map(str::to_owned))
                }
                Output::Displayed(shown) => {
                    if let Some(r) = &registered {
                        conn.shared.set_display(&r.tms_id, Some(shown));
                    }
                }
                Output::Unidentified { received, reason } => {
                    tracing::debug!(%peer, received, "TAS: unidentified connection {reason}");
                    conn.shared.transcript.record_unidentified(&conn.peer, received, &reason);
                }
                Output::Event(note) => {
                    tracing::debug!(%peer, tms_id = session.tms_id().map(|t| &**t), "TAS: {note}");
                    conn.record(session.tms_id(), Direction::Event, Bytes::new(), Some(note));
                }
                Output::Register { tms_id, reference, software, certified } => {
                    let Some(commands_tx) = tx.take() else { continue };
                    let info = TerminalInfo {
                        tms_id: tms_id.clone(),
                        peer: conn.peer.to_string(),
                        connected_at_ms: now_ms(),
                        busy: false,
                        reference,
                        software,
                        certified,
                    };
                    ticket.identified();
                    match register(&conn.shared, info, commands_tx) {
                        Ok(r) => {
                            registered = Some(r);
                            tracing::info!(%peer, tms_id, certified, "TAS: terminal connected");
                        }
                        // Another connection of the terminal registered since the hand-shake was checked.
                        Err(why) => session.handle_end(now(), Ended::Refused(why)),
                    }
                }
                Output::Close { reason } => {
                    tracing::info!(%peer, tms_id = session.tms_id().map(|t| &**t), "TAS: terminal connection {reason}");
                    if let Some(r) = registered.take() {
                        unregister(&conn.shared, &r);
                    }
                }
                // The caller may have given up waiting (HTTP client gone); the result is in the transcript anyway.
                Output::Reply { to, result } => {
                    let _ = to.send(result);
                }
            }
        }
        if session.is_closed() {
            return;
        }
        // A deadline beyond what the clock can express is never reached.
        let deadline = session.poll_timeout().and_then(|d| epoch.checked_add(d));
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        // Requests and shutdown only once the terminal is identified: before, nobody can send a request, and
        // a terminal mid-hand-shake at shutdown still gets its answer (then the close).
        let open = session.is_open();
        tokio::select! {
            _ = shutdown.cancelled(), if open => session.handle_end(now(), Ended::ShuttingDown),
            _ = ticket.evicted.cancelled(), if !open => session.handle_end(now(), Ended::Evicted),
            _ = timer => session.handle_timeout(now(), &*conn.shared),
            cmd = commands.recv(), if open => match cmd {
                // Only a newer connection of the terminal takes this one's registry entry (and its sender); the
                // message naming it may not have fitted in the channel.
                None => session.handle_end(now(), Ended::Replaced { by: None }),
                Some(Command::Replaced { by }) => session.handle_end(now(), Ended::Replaced { by: Some(by) }),
                Some(Command::Run { kind, timeout, reply }) => {
                    if kind.occupies()
                        && let Some(r) = &registered
                    {
                        conn.shared.set_display(&r.tms_id, None);
                    }
                    session.handle_request(now(), kind, timeout, reply, &*conn.shared)
                }
            },
            frame = conn.framed.next() => match frame {
                None => session.handle_end(now(), Ended::ClosedByTerminal),
                Some(Err(err @ CodecError::Frame(FrameError::ZeroLength { .. }))) => {
                    session.handle_end(now(), Ended::ZeroLengthFrame(err.to_string()))
                }
                Some(Err(err)) => session.handle_end(now(), Ended::Framing(err.to_string())),
                // A copy: sharing the codec's read buffer would pin it and make every later read allocate.
                Some(Ok(frame)) => session.handle_frame(now(), Bytes::copy_from_slice(&frame), &*conn.shared),
            },
        }
    }
}

/// A waiter of [`Shared::wait_connected`]; the last one of a terminal takes the terminal's `Notify` off the map
/// when it ends, however it ends.
struct Waiting<'a> {
    shared: &'a Shared,
    tms_id: &'a str,
    changed: Arc<Notify>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut changes = self.shared.changes();
        // The map holds one reference and this waiter one: no other waiter.
        if Arc::strong_count(&self.changed) == 2 {
            changes.remove(self.tms_id);
        }
    }
}

/// Lists a terminal that identified itself. A live connection of the same terminal gives way only as
/// [`takeover_refusal`] allows (checked again here, under the registry's lock); it is told so, and the takeover
/// is logged.
fn register(
    shared: &Shared,
    info: TerminalInfo,
    commands: mpsc::Sender<Command>,
) -> Result<Registered, String> {
    let conn_id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let busy = Arc::new(AtomicBool::new(false));
    let tms_id = info.tms_id.clone();
    let (certified, peer) = (info.certified, info.peer.clone());
    let previous = {
        let mut reg = shared.registry();
        if let Some(why) = reg.get(&tms_id).and_then(|live| takeover_refusal(live, &tms_id, certified)) {
            return Err(why);
        }
        reg.insert(tms_id.clone(), Entry { conn_id, info, busy: busy.clone(), commands })
    };
    if let Some(previous) = previous {
        tracing::warn!(
            tms_id,
            old = %previous.info.peer,
            new = %peer,
            "TAS: the terminal's certified new connection replaces its idle old one"
        );
        let _ = previous.commands.try_send(Command::Replaced { by: peer });
    }
    shared.notify_changed(&tms_id);
    Ok(Registered { conn_id, tms_id, busy })
}

/// Takes this connection's entry off the registry (unless a newer connection of the terminal replaced it).
fn unregister(shared: &Shared, registered: &Registered) {
    {
        let mut reg = shared.registry();
        if reg.get(&registered.tms_id).is_some_and(|e| e.conn_id == registered.conn_id) {
            reg.remove(&registered.tms_id);
        }
    }
    shared.notify_changed(&registered.tms_id);
}
