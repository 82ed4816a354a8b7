//! The terminal side of the TAS: accept loop, hand-shake, registry, and one task per connected terminal that
//! runs OPI conversations as the POS side.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ccv_opi::codec::{CodecError, FrameCodec};
use ccv_opi::{FrameDecoder, FrameError};
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::conversation::{self, Incoming};
use crate::model::{DisplayText, JobKind, Outcome, Receipt, TerminalInfo, TransactionResult};
use crate::transcript::{Direction, Transcript};
use crate::{TasConfig, TasError};

/// State shared by the accept loop, the connection tasks and the HTTP API.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: TasConfig,
    pub(crate) transcript: Transcript,
    registry: Mutex<HashMap<String, Entry>>,
    changed: Notify,
    next_conn: AtomicU64,
    next_request: AtomicU64,
    fail_printer: Mutex<HashMap<String, bool>>,
}

#[derive(Debug)]
struct Entry {
    conn_id: u64,
    info: TerminalInfo,
    busy: Arc<AtomicBool>,
    commands: mpsc::Sender<Command>,
}

#[derive(Debug)]
enum Command {
    Run { kind: JobKind, timeout: Duration, reply: oneshot::Sender<Result<TransactionResult, TasError>> },
    Close,
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
            changed: Notify::new(),
            next_conn: AtomicU64::new(1),
            next_request: AtomicU64::new(1),
            fail_printer: Mutex::new(HashMap::new()),
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

    pub(crate) fn set_fail_printer(&self, tms_id: &str, fail: bool) {
        self.fail_printer.lock().unwrap_or_else(|e| e.into_inner()).insert(tms_id.to_owned(), fail);
    }

    fn fail_printer(&self, tms_id: &str) -> bool {
        let map = self.fail_printer.lock().unwrap_or_else(|e| e.into_inner());
        map.get(tms_id).or_else(|| map.get("*")).copied().unwrap_or(false)
    }

    pub(crate) async fn wait_connected(
        &self,
        tms_id: &str,
        timeout: Duration,
    ) -> Result<TerminalInfo, TasError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(info) = self.terminals().into_iter().find(|t| t.tms_id == tms_id) {
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
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    connection(stream, peer, shared, shutdown).await
                });
            }
            Err(err) => {
                tracing::warn!(error = %err, "TAS: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

type FramedConn = Framed<TcpStream, FrameCodec>;

struct Conn {
    framed: FramedConn,
    peer: Arc<str>,
    tms_id: Option<Arc<str>>,
    shared: Arc<Shared>,
}

impl Conn {
    fn record(&self, dir: Direction, payload: Bytes, note: Option<String>) {
        self.shared.transcript.record(self.tms_id.as_ref(), &self.peer, dir, payload, note);
    }

    async fn send(&mut self, payload: Vec<u8>) -> Result<(), CodecError> {
        let payload = Bytes::from(payload);
        self.record(Direction::ToTerminal, payload.clone(), None);
        let write = self.framed.send(payload);
        match tokio::time::timeout(self.shared.config.write_timeout, write).await {
            Ok(res) => res,
            Err(_) => Err(CodecError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "write to the terminal timed out",
            ))),
        }
    }

    fn event(&self, note: String) {
        self.record(Direction::Event, Bytes::new(), Some(note));
    }
}

/// What the connection task knows of a running conversation.
struct InFlight {
    kind: JobKind,
    request_id: String,
    started: Instant,
    deadline: tokio::time::Instant,
    reply: oneshot::Sender<Result<TransactionResult, TasError>>,
    receipts: Vec<Receipt>,
    display_texts: Vec<DisplayText>,
}

impl InFlight {
    fn finish(
        self,
        tms_id: &str,
        outcome: Outcome,
        overall: Option<String>,
        reason: Option<String>,
        auth: serde_json::Map<String, serde_json::Value>,
    ) {
        let (amount, currency) = match &self.kind {
            JobKind::Payment { amount_minor, currency }
            | JobKind::Refund { amount_minor, currency }
            | JobKind::Reversal { amount_minor, currency, .. } => {
                (Some(crate::amount::format_minor(*amount_minor)), Some(currency.clone()))
            }
            _ => (None, None),
        };
        let result = TransactionResult {
            tms_id: tms_id.to_owned(),
            request_type: self.kind.request_type().to_owned(),
            request_id: self.request_id,
            outcome,
            overall_result: overall,
            reason,
            amount,
            currency,
            authorisation: auth,
            receipts: self.receipts,
            display_texts: self.display_texts,
            duration_ms: self.started.elapsed().as_millis() as u64,
        };
        // The caller may have given up waiting (HTTP client gone); the result is in the transcript anyway.
        let _ = self.reply.send(Ok(result));
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, shutdown: CancellationToken) {
    // The same framing as the terminal side: 4-byte big-endian length, the limit checked before allocating.
    let codec = FrameCodec::new(FrameDecoder::with_max_frame_len(shared.config.max_frame));
    let mut conn =
        Conn { framed: Framed::new(stream, codec), peer: Arc::from(peer.to_string()), tms_id: None, shared };
    conn.event("connected".into());

    // Hand-shake: the first frame must identify the terminal.
    let hello = match tokio::time::timeout(conn.shared.config.handshake_timeout, conn.framed.next()).await {
        Err(_) => {
            conn.event("closed: no hand-shake within the time-out".into());
            tracing::info!(%peer, "TAS: terminal sent no hand-shake in time; closing");
            return;
        }
        Ok(None) => {
            conn.event("closed by the terminal before the hand-shake".into());
            return;
        }
        Ok(Some(Err(err))) => {
            conn.event(format!("closed: framing error before the hand-shake: {err}"));
            tracing::info!(%peer, error = %err, "TAS: bad frame before the hand-shake; closing");
            return;
        }
        Ok(Some(Ok(frame))) => frame,
    };
    let (tms_id, reference, software, answer) = match conversation::classify(&hello) {
        Incoming::Hello { tms_id, reference, software, answer } => (tms_id, reference, software, answer),
        other => {
            conn.record(Direction::FromTerminal, Bytes::copy_from_slice(&hello), None);
            let note = format!("closed: first frame is not a hand-shake ({})", other.describe());
            tracing::info!(%peer, "TAS: {note}");
            if let Some(reply) = conversation::refuse_handshake(&hello) {
                let _ = conn.send(reply).await;
            }
            conn.event(note);
            return;
        }
    };
    conn.tms_id = Some(Arc::from(tms_id.as_str()));
    conn.record(Direction::FromTerminal, Bytes::copy_from_slice(&hello), None);
    if conn.send(answer).await.is_err() {
        conn.event("closed: could not answer the hand-shake".into());
        return;
    }

    let conn_id = conn.shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let busy = Arc::new(AtomicBool::new(false));
    let (tx, mut commands) = mpsc::channel::<Command>(16);
    let info = TerminalInfo {
        tms_id: tms_id.clone(),
        peer: conn.peer.to_string(),
        connected_at_ms: now_ms(),
        busy: false,
        reference,
        software,
    };
    let previous = conn
        .shared
        .registry()
        .insert(tms_id.clone(), Entry { conn_id, info, busy: busy.clone(), commands: tx });
    if let Some(previous) = previous {
        // A terminal that dials again replaces its old connection.
        let _ = previous.commands.try_send(Command::Close);
    }
    conn.shared.changed.notify_waiters();
    conn.event(format!("registered {tms_id}"));
    tracing::info!(%peer, tms_id, "TAS: terminal connected");

    let end = serve(&mut conn, &tms_id, &mut commands, &busy, &shutdown).await;
    conn.event(format!("closed: {end}"));
    tracing::info!(%peer, tms_id, "TAS: terminal connection closed: {end}");
    {
        let mut reg = conn.shared.registry();
        if reg.get(&tms_id).is_some_and(|e| e.conn_id == conn_id) {
            reg.remove(&tms_id);
        }
    }
    conn.shared.changed.notify_waiters();
}

/// Runs conversations until the connection ends; returns why it ended.
async fn serve(
    conn: &mut Conn,
    tms_id: &str,
    commands: &mut mpsc::Receiver<Command>,
    busy: &AtomicBool,
    shutdown: &CancellationToken,
) -> String {
    let mut main: Option<InFlight> = None;
    let mut abort: Option<InFlight> = None;
    let end = loop {
        let deadline = match (&main, &abort) {
            (Some(m), Some(a)) => Some(m.deadline.min(a.deadline)),
            (Some(m), None) => Some(m.deadline),
            (None, Some(a)) => Some(a.deadline),
            (None, None) => None,
        };
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break "TAS shutting down".to_owned(),
            _ = timer => {
                let now = tokio::time::Instant::now();
                if main.as_ref().is_some_and(|m| m.deadline <= now) {
                    if let Some(m) = main.take() {
                        conn.event(format!("request {} timed out", m.request_id));
                        m.finish(tms_id, Outcome::Unknown, None, Some("timed_out".into()), Default::default());
                    }
                    busy.store(false, Ordering::Relaxed);
                }
                if abort.as_ref().is_some_and(|a| a.deadline <= now) {
                    if let Some(a) = abort.take() {
                        a.finish(tms_id, Outcome::Unknown, None, Some("timed_out".into()), Default::default());
                    }
                }
            }
            cmd = commands.recv() => match cmd {
                None | Some(Command::Close) => break "replaced by a newer connection of the same terminal".to_owned(),
                Some(Command::Run { kind, timeout, reply }) => {
                    let slot_taken = if kind.occupies() { main.is_some() } else { abort.is_some() || main.is_none() };
                    if slot_taken {
                        let err = if kind.occupies() {
                            TasError::Busy { tms_id: tms_id.to_owned() }
                        } else {
                            TasError::NothingToAbort { tms_id: tms_id.to_owned() }
                        };
                        let _ = reply.send(Err(err));
                        continue;
                    }
                    let request_id = conn.shared.next_request.fetch_add(1, Ordering::Relaxed).to_string();
                    let frame = match conversation::request_frame(&kind, &request_id, &conn.shared.config.workstation_id) {
                        Ok(frame) => frame,
                        Err(err) => {
                            let _ = reply.send(Err(TasError::Encode(err)));
                            continue;
                        }
                    };
                    let job = InFlight {
                        kind,
                        request_id,
                        started: Instant::now(),
                        deadline: tokio::time::Instant::now() + timeout,
                        reply,
                        receipts: Vec::new(),
                        display_texts: Vec::new(),
                    };
                    let occupies = job.kind.occupies();
                    if occupies { main = Some(job); busy.store(true, Ordering::Relaxed); } else { abort = Some(job); }
                    if let Err(err) = conn.send(frame).await {
                        break format!("write failed: {err}");
                    }
                }
            },
            frame = conn.framed.next() => {
                let frame = match frame {
                    None => break "closed by the terminal".to_owned(),
                    Some(Err(CodecError::Frame(FrameError::ZeroLength { .. }))) => {
                        conn.record(Direction::FromTerminal, Bytes::new(), Some("zero-length frame".into()));
                        break "zero-length frame from the terminal".to_owned();
                    }
                    Some(Err(err)) => break format!("framing error: {err}"),
                    Some(Ok(frame)) => frame,
                };
                // A copy: sharing the codec's read buffer would pin it and make every later read allocate.
                conn.record(Direction::FromTerminal, Bytes::copy_from_slice(&frame), None);
                match conversation::classify(&frame) {
                    Incoming::Device(dev) => {
                        let fail = conn.shared.fail_printer(tms_id);
                        let (ok, reply) = conversation::device_response(&dev, fail);
                        if let Some(job) = main.as_mut() {
                            for (target, text) in &dev.outputs {
                                let text = &crate::transcript::mask_pans(text);
                                if conversation::is_printer(target) {
                                    job.receipts.push(Receipt { target: target.clone(), text: text.clone(), printed: ok });
                                } else {
                                    job.display_texts.push(DisplayText { target: target.clone(), text: text.clone() });
                                }
                            }
                        }
                        if let Err(err) = conn.send(reply).await {
                            break format!("write failed: {err}");
                        }
                    }
                    Incoming::Final(fin) => {
                        let slot = if abort.as_ref().is_some_and(|a| a.request_id == fin.request_id) {
                            &mut abort
                        } else {
                            &mut main
                        };
                        match slot.take() {
                            Some(job) if job.request_id == fin.request_id || fin.request_id.is_empty() => {
                                job.finish(tms_id, Outcome::Completed, Some(fin.overall_result), None, fin.authorisation);
                            }
                            Some(job) => {
                                conn.event(format!("response for unknown request {} ignored", fin.request_id));
                                *slot = Some(job);
                            }
                            None => conn.event(format!("unsolicited response for request {}", fin.request_id)),
                        }
                        if main.is_none() { busy.store(false, Ordering::Relaxed); }
                    }
                    Incoming::Hello { .. } => conn.event("repeated hand-shake ignored".into()),
                    Incoming::Undecodable { error } => {
                        conn.event(format!("undecodable frame: {error}"));
                        tracing::warn!(tms_id, error, "TAS: could not decode a frame from the terminal");
                    }
                    Incoming::Other { description } => conn.event(format!("ignored: {description}")),
                }
            }
        }
    };
    for job in [main.take(), abort.take()].into_iter().flatten() {
        job.finish(tms_id, Outcome::Unknown, None, Some("terminal_disconnected".into()), Default::default());
    }
    busy.store(false, Ordering::Relaxed);
    end
}
