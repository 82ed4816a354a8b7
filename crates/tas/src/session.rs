//! The sans-IO core of one terminal connection: the hand-shake, the two request slots (the running conversation
//! and an abort sent during it), matching responses to requests by `RequestID`, answering device requests, and
//! the time-outs. `server` only drives it.
//!
//! What it does not do: no socket, no framing (frames come in whole, without their 4-byte length prefix), no
//! clock (time comes in as `now`, a [`Duration`] since an origin the caller picks and keeps), no tasks, no
//! channels, no registry, no transcript file, no logging. What it wants done comes out of
//! [`Session::poll_output`] as an [`Output`]; the two things it asks its surroundings (a fresh `RequestID`, and
//! whether printer output is to fail) come through [`Host`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::TasError;
use crate::conversation::{self, Incoming};
use crate::model::{DisplayText, JobKind, Outcome, Receipt, TransactionResult};

/// What a session asks of the TAS around it.
pub trait Host {
    /// A fresh `RequestID`, unique across all the TAS's connections.
    fn next_request_id(&self) -> u64;
    /// Whether printer output of `tms_id` is to be answered `DeviceUnavailable`.
    fn fail_printer(&self, tms_id: &str) -> bool;
    /// Whether a hand-shake naming `tms_id` may be accepted, given the connections the TAS has (`certified`:
    /// this connection's client certificate proves the TMS ID). `Err` says why not; the hand-shake is then
    /// refused and the connection closed.
    fn may_register(&self, tms_id: &str, certified: bool) -> Result<(), String>;
}

/// Why the connection ends, as the IO side sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The terminal closed the connection.
    ClosedByTerminal,
    /// The terminal sent a frame with length 0 (the framing error's text).
    ZeroLengthFrame(String),
    /// Any other framing or read error (its text).
    Framing(String),
    /// Writing a [`Output::Send`] failed or timed out (the error's text).
    WriteFailed(String),
    /// The same terminal connected again; this connection gives way.
    Replaced {
        /// The newer connection's peer, when known.
        by: Option<String>,
    },
    /// The TAS will not keep this connection although its hand-shake was answered (another connection of the
    /// terminal registered first): why.
    Refused(String),
    /// The TAS is stopping.
    ShuttingDown,
    /// Before its hand-shake, the connection's room was needed by a newer one (the TAS keeps a smaller budget
    /// for connections that have not identified themselves, and closes the oldest of them when it is full).
    Evicted,
}

/// Something the session wants done, in the order it comes out.
#[derive(Debug)]
pub enum Output<R> {
    /// Write this frame to the terminal (and record it in the transcript as sent).
    Send(Bytes),
    /// Record a frame received from the terminal in the transcript, with a note when it is not a whole
    /// message.
    Received {
        /// The payload.
        frame: Bytes,
        /// What was wrong with it.
        note: Option<&'static str>,
    },
    /// Record a connection event in the transcript.
    Event(String),
    /// A connection that never identified itself ends: record this one entry (its peer, `received` bytes,
    /// `reason`) in the transcript instead of its frames, which a flood of junk must not fill. It comes just
    /// before the [`Output::Close`]; nothing about the connection is recorded before it.
    Unidentified {
        /// Payload bytes the connection sent (a first frame that was not a hand-shake).
        received: usize,
        /// Why it closed.
        reason: String,
    },
    /// The terminal identified itself and its hand-shake answer is written: list it as connected.
    Register {
        /// TMS ID from the hand-shake.
        tms_id: String,
        /// The kick's payment reference, if sent.
        reference: Option<String>,
        /// Software version, if sent.
        software: Option<String>,
        /// Whether the connection's client certificate proves the TMS ID.
        certified: bool,
    },
    /// Take the terminal off the list of connected terminals and close the connection once the outputs that
    /// follow (answers to waiting callers) are executed. Nothing comes after those.
    Close {
        /// Why, as recorded in the transcript.
        reason: String,
    },
    /// The terminal showed a text on a display during a conversation (PANs masked): the current screen.
    Displayed(DisplayText),
    /// Hand a result to the caller that asked with `to`.
    Reply {
        /// The caller's token from [`Session::handle_request`].
        to: R,
        /// The outcome of the request.
        result: Result<TransactionResult, TasError>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Connected; the first frame must be the hand-shake before `deadline`.
    AwaitingHello { deadline: Duration },
    /// Identified; conversations may run.
    Open,
    /// [`Output::Close`] is queued; every further input is ignored.
    Closed,
}

/// The time limits of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Time a terminal has to identify itself after connecting.
    pub handshake: Duration,
    /// Time the terminal has to answer the abort the TAS sends when a request times out; a terminal that
    /// answers neither the request nor the abort is disconnected.
    pub abort: Duration,
    /// Time an identified terminal may stay connected with no frame and no request running before the TAS
    /// closes the connection (OPI has no keep-alive: idle means no traffic).
    pub idle: Duration,
}

/// The TAS's defaults (`TasConfig::default()`).
impl Default for Timeouts {
    fn default() -> Self {
        Self {
            handshake: Duration::from_secs(5),
            abort: Duration::from_secs(30),
            idle: Duration::from_secs(10 * 60),
        }
    }
}

/// After a request timed out the terminal may still be in it: the TAS sent an abort and takes no request until
/// the terminal answers the timed-out request or the abort, or the connection closes.
#[derive(Debug)]
struct Recovering {
    /// The `RequestID` of the request that timed out.
    timed_out: String,
    /// The `RequestID` of the abort that was sent for it (the TAS's, or a caller's already running).
    abort_id: String,
    /// When the connection is given up if neither answer came.
    deadline: Duration,
}

/// A running conversation.
#[derive(Debug)]
struct InFlight<R> {
    kind: JobKind,
    request_id: String,
    started: Duration,
    deadline: Duration,
    reply: R,
    receipts: Vec<Receipt>,
    display_texts: Vec<DisplayText>,
}

impl<R> InFlight<R> {
    fn finish(
        self,
        now: Duration,
        tms_id: &str,
        outcome: Outcome,
        overall: Option<String>,
        reason: Option<String>,
        auth: serde_json::Map<String, serde_json::Value>,
    ) -> Output<R> {
        let (amount, currency) = match &self.kind {
            JobKind::Payment { amount_minor, currency }
            | JobKind::Refund { amount_minor, currency }
            | JobKind::Reversal { amount_minor, currency, .. } => {
                (Some(crate::amount::format_minor(*amount_minor, currency)), Some(currency.clone()))
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
            duration_ms: now.saturating_sub(self.started).as_millis() as u64,
        };
        Output::Reply { to: self.reply, result: Ok(result) }
    }

    /// The result when the terminal's answer never comes.
    fn unknown(self, now: Duration, tms_id: &str, reason: &str) -> Output<R> {
        self.finish(now, tms_id, Outcome::Unknown, None, Some(reason.to_owned()), Default::default())
    }
}

/// One terminal connection as the TAS (the POS side) sees it, from the first byte to the close. `R` is the
/// token of a caller waiting for a result; the session hands it back in [`Output::Reply`] and never looks
/// inside.
///
/// # Calling order
///
/// ```text
/// let mut s = Session::new(now, timeouts, workstation_id).certified_as(tms_id_of_client_certificate);
/// loop {
///     while let Some(out) = s.poll_output() { execute(out) }   // 1. drain everything (may feed handle_end)
///     if s.is_closed() { break }                               // 2. drop the socket
///     let deadline = s.poll_timeout();                         // 3. next time-out, if any
///     match wait_for_event_or(deadline) {                      // 4. IO happens outside
///         Frame(bytes)        => s.handle_frame(now, bytes, &host),
///         Request(kind, t, r) => s.handle_request(now, kind, t, r, &host),
///         Deadline            => s.handle_timeout(now, &host),
///         End(why)            => s.handle_end(now, why),
///     }
/// }
/// ```
///
/// * The "connected" event comes with the hand-shake; a connection that never identifies itself yields one
///   [`Output::Unidentified`] and its close, nothing else to record.
/// * Execute outputs in order. When an [`Output::Send`] fails, call [`Session::handle_end`] with
///   [`Ended::WriteFailed`] at once and keep draining: the session drops what can no longer be written and
///   queues the close.
/// * Only [`Session::handle_timeout`] fires time-outs, and only those due at or before its `now`.
/// * Feed requests and [`Ended::Replaced`] / [`Ended::Refused`] / [`Ended::ShuttingDown`] only while [`Session::is_open`]: before
///   the hand-shake the terminal is not listed, so nobody can ask anything of it.
/// * Every request gets exactly one [`Output::Reply`]; after [`Output::Close`], the replies to requests still
///   running come out (outcome unknown, `terminal_disconnected`), then nothing more.
#[derive(Debug)]
pub struct Session<R> {
    phase: Phase,
    tms_id: Option<Arc<str>>,
    /// The TMS ID the connection's client certificate proves (mutual TLS); `None` on plain TCP.
    certified: Option<Arc<str>>,
    workstation_id: String,
    timeouts: Timeouts,
    /// Set while the terminal may still be in a request that timed out.
    recovering: Option<Recovering>,
    /// The last frame from the terminal or request to it: the idle time-out counts from here.
    last_activity: Duration,
    /// Payload bytes received before the hand-shake (the first frame, when it was not one).
    received_unidentified: usize,
    /// The conversation occupying the terminal (anything but an abort).
    main: Option<InFlight<R>>,
    /// An abort sent while `main` runs.
    abort: Option<InFlight<R>>,
    out: VecDeque<Output<R>>,
}

impl<R> Session<R> {
    /// A connection accepted at `now`; the terminal has `timeouts.handshake` to identify itself. The TAS's
    /// requests carry `workstation_id`.
    pub fn new(now: Duration, timeouts: Timeouts, workstation_id: String) -> Self {
        Self {
            phase: Phase::AwaitingHello { deadline: now.saturating_add(timeouts.handshake) },
            tms_id: None,
            certified: None,
            workstation_id,
            timeouts,
            recovering: None,
            last_activity: now,
            received_unidentified: 0,
            main: None,
            abort: None,
            out: VecDeque::new(),
        }
    }

    /// The connection proved, with its client certificate (mutual TLS), to be the terminal `tms_id`: a
    /// hand-shake naming any other TMS ID is refused.
    pub fn certified_as(mut self, tms_id: Option<&str>) -> Self {
        self.certified = tms_id.map(Arc::from);
        self
    }

    /// The terminal's TMS ID once its hand-shake is read (transcript records carry it from that frame on).
    pub fn tms_id(&self) -> Option<&Arc<str>> {
        self.tms_id.as_ref()
    }

    /// Whether the terminal is identified and the connection not closing: requests may come in.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Whether [`Output::Close`] has been queued.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Whether a conversation occupies the terminal, or the terminal may still be in one that timed out (the
    /// TAS sent an abort and waits for the terminal's answer).
    pub fn is_busy(&self) -> bool {
        self.main.is_some() || self.recovering.is_some()
    }

    /// The next output to execute, if any.
    pub fn poll_output(&mut self) -> Option<Output<R>> {
        self.out.pop_front()
    }

    /// When [`Session::handle_timeout`] is next due, if anything waits for a time.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.phase {
            Phase::AwaitingHello { deadline } => Some(deadline),
            Phase::Open => [&self.main, &self.abort]
                .into_iter()
                .flatten()
                .map(|job| job.deadline)
                .chain(self.recovering.as_ref().map(|r| r.deadline))
                .min()
                .or_else(|| Some(self.idle_deadline())),
            Phase::Closed => None,
        }
    }

    /// Fires the time-outs due at or before `now`: a terminal that sent no hand-shake is closed; a request
    /// without its response gets outcome unknown (`timed_out`), and because the terminal may still be in it, the
    /// TAS sends an abort and stays busy until the terminal answers one of the two (or the connection closes);
    /// a terminal that answers neither within the abort time-out is disconnected.
    pub fn handle_timeout(&mut self, now: Duration, host: &impl Host) {
        match self.phase {
            Phase::AwaitingHello { deadline } if deadline <= now => {
                self.close(now, "closed: no hand-shake within the time-out".into());
            }
            Phase::Open => {
                let tms_id = self.tms_str();
                if let Some(r) = self.recovering.as_ref().filter(|r| r.deadline <= now) {
                    let note = format!(
                        "closed: the terminal answered neither the timed-out request {} nor its abort (request {})",
                        r.timed_out, r.abort_id
                    );
                    self.close(now, note);
                    return;
                }
                if !self.is_busy() && self.abort.is_none() && self.idle_deadline() <= now {
                    let idle = self.timeouts.idle;
                    self.close(now, format!("closed: idle for {idle:?} (no frame and no request)"));
                    return;
                }
                if let Some(main) = self.main.take_if(|m| m.deadline <= now) {
                    self.last_activity = now;
                    self.recover(now, &main.request_id, host);
                    self.out.push_back(main.unknown(now, &tms_id, "timed_out"));
                }
                if let Some(abort) = self.abort.take_if(|a| a.deadline <= now) {
                    self.last_activity = now;
                    self.out.push_back(abort.unknown(now, &tms_id, "timed_out"));
                }
            }
            Phase::AwaitingHello { .. } | Phase::Closed => {}
        }
    }

    /// Request `timed_out` got no answer in time: unless a caller's abort already runs, send the terminal an
    /// abort, and take no request until the terminal answers either.
    fn recover(&mut self, now: Duration, timed_out: &str, host: &impl Host) {
        let deadline = now.saturating_add(self.timeouts.abort);
        let abort_id = match &self.abort {
            Some(abort) => abort.request_id.clone(),
            None => {
                let abort_id = host.next_request_id().to_string();
                match conversation::request_frame(&JobKind::Abort, &abort_id, &self.workstation_id) {
                    Ok(frame) => self.out.push_back(Output::Send(Bytes::from(frame))),
                    Err(err) => {
                        // Nothing to wait for: an abort that cannot be encoded is never sent.
                        self.out.push_back(Output::Event(format!(
                            "request {timed_out} timed out; the abort could not be encoded: {err}"
                        )));
                        return;
                    }
                }
                abort_id
            }
        };
        self.out.push_back(Output::Event(format!(
            "request {timed_out} timed out; abort sent (request {abort_id}), busy until the terminal answers"
        )));
        self.recovering = Some(Recovering { timed_out: timed_out.to_owned(), abort_id, deadline });
    }

    /// Starts a conversation asked for by the caller `reply`, which gets its result in an [`Output::Reply`]
    /// (at once when refused: another conversation runs, the terminal may still be in one that timed out, or an
    /// abort finds nothing to abort).
    pub fn handle_request(
        &mut self,
        now: Duration,
        kind: JobKind,
        timeout: Duration,
        reply: R,
        host: &impl Host,
    ) {
        let tms_id = || self.tms_str();
        let refusal = if !self.is_open() {
            Some(TasError::NotConnected { tms_id: tms_id() })
        } else if let Some(r) = &self.recovering {
            let doing = format!(
                "request {} timed out and the terminal may still be in it; the TAS sent an abort (request {}) and \
                 takes no request until the terminal answers it or disconnects",
                r.timed_out, r.abort_id
            );
            Some(TasError::Busy { tms_id: tms_id(), doing })
        } else if kind.occupies()
            && let Some(main) = &self.main
        {
            let doing = format!(
                "request {} ({}) is running; wait for it or abort it",
                main.request_id,
                main.kind.request_type()
            );
            Some(TasError::Busy { tms_id: tms_id(), doing })
        } else if !kind.occupies() && (self.abort.is_some() || self.main.is_none()) {
            Some(TasError::NothingToAbort { tms_id: tms_id() })
        } else {
            None
        };
        if let Some(err) = refusal {
            self.out.push_back(Output::Reply { to: reply, result: Err(err) });
            return;
        }
        let request_id = host.next_request_id().to_string();
        let frame = match conversation::request_frame(&kind, &request_id, &self.workstation_id) {
            Ok(frame) => frame,
            Err(err) => {
                self.out.push_back(Output::Reply { to: reply, result: Err(TasError::Encode(err)) });
                return;
            }
        };
        self.last_activity = now;
        let slot = if kind.occupies() { &mut self.main } else { &mut self.abort };
        *slot = Some(InFlight {
            kind,
            request_id,
            started: now,
            deadline: now.saturating_add(timeout),
            reply,
            receipts: Vec::new(),
            display_texts: Vec::new(),
        });
        self.out.push_back(Output::Send(Bytes::from(frame)));
    }

    /// Handles one whole frame from the terminal (the payload, without the length prefix).
    pub fn handle_frame(&mut self, now: Duration, frame: Bytes, host: &impl Host) {
        match self.phase {
            Phase::AwaitingHello { .. } => self.hello(now, frame, host),
            Phase::Open => {
                self.last_activity = now;
                self.conversation_frame(now, frame, host)
            }
            Phase::Closed => {}
        }
    }

    /// The connection ends (or must end): records why, closes, and answers the requests still running.
    pub fn handle_end(&mut self, now: Duration, why: Ended) {
        let note = match (self.phase, why) {
            (Phase::Closed, _) => return,
            // The write that failed was the hand-shake's answer: the terminal was never listed.
            (Phase::Open, Ended::WriteFailed(_)) if self.registering() => {
                self.out.clear();
                "closed: could not answer the hand-shake".to_owned()
            }
            (Phase::AwaitingHello { .. }, Ended::ClosedByTerminal) => {
                "closed by the terminal before the hand-shake".to_owned()
            }
            (Phase::AwaitingHello { .. }, Ended::Evicted) => {
                "closed: no hand-shake yet and its room was needed by a newer connection".to_owned()
            }
            (Phase::AwaitingHello { .. }, Ended::ZeroLengthFrame(err) | Ended::Framing(err)) => {
                format!("closed: framing error before the hand-shake: {err}")
            }
            (_, why) => {
                if let Ended::WriteFailed(_) = why {
                    // Nothing more can be written; records and replies still go out.
                    self.out.retain(|o| !matches!(o, Output::Send(_)));
                }
                if let Ended::ZeroLengthFrame(_) = why {
                    self.out
                        .push_back(Output::Received { frame: Bytes::new(), note: Some("zero-length frame") });
                }
                format!("closed: {}", open_end_reason(&why))
            }
        };
        self.close(now, note);
    }

    /// When an identified terminal with nothing running has been idle for too long.
    fn idle_deadline(&self) -> Duration {
        self.last_activity.saturating_add(self.timeouts.idle)
    }

    fn tms_str(&self) -> String {
        self.tms_id.as_deref().unwrap_or_default().to_owned()
    }

    /// Whether the hand-shake's answer has been handed out but the terminal not yet listed.
    fn registering(&self) -> bool {
        self.out.iter().any(|o| matches!(o, Output::Register { .. }))
    }

    fn close(&mut self, now: Duration, note: String) {
        if let Phase::AwaitingHello { .. } = self.phase {
            let received = self.received_unidentified;
            self.out.push_back(Output::Unidentified { received, reason: note.clone() });
        } else {
            self.out.push_back(Output::Event(note.clone()));
        }
        self.phase = Phase::Closed;
        self.out.push_back(Output::Close { reason: note });
        let tms_id = self.tms_str();
        self.recovering = None;
        for job in [self.main.take(), self.abort.take()].into_iter().flatten() {
            self.out.push_back(job.unknown(now, &tms_id, "terminal_disconnected"));
        }
    }

    /// The first frame: the hand-shake, or a refusal and the close.
    fn hello(&mut self, now: Duration, frame: Bytes, host: &impl Host) {
        match conversation::classify(&frame) {
            Incoming::Hello { tms_id, reference, software, answer } => {
                let refused = match self.certified.as_deref() {
                    Some(proven) if proven != tms_id => Err(format!(
                        "the hand-shake names TMS ID {tms_id:?} but the client certificate is terminal {proven:?}'s"
                    )),
                    proven => host.may_register(&tms_id, proven.is_some()),
                };
                if let Err(why) = refused {
                    self.refuse_hello(now, frame, why);
                    return;
                }
                let certified = self.certified.is_some();
                self.tms_id = Some(Arc::from(tms_id.as_str()));
                self.phase = Phase::Open;
                self.last_activity = now;
                self.out.push_back(Output::Event("connected".into()));
                self.out.push_back(Output::Received { frame, note: None });
                self.out.push_back(Output::Send(Bytes::from(answer)));
                let registered = format!("registered {tms_id}");
                self.out.push_back(Output::Register { tms_id, reference, software, certified });
                self.out.push_back(Output::Event(registered));
            }
            other => {
                let why = format!("first frame is not a hand-shake ({})", other.describe());
                self.refuse_hello(now, frame, why);
            }
        }
    }

    /// Answers a hand-shake (or what came instead) with a refusal where it is a request, and closes.
    fn refuse_hello(&mut self, now: Duration, frame: Bytes, why: String) {
        self.received_unidentified = frame.len();
        if let Some(refusal) = conversation::refuse_handshake(&frame) {
            self.out.push_back(Output::Send(Bytes::from(refusal)));
        }
        self.close(now, format!("closed: {why}"));
    }

    /// A frame after the hand-shake.
    fn conversation_frame(&mut self, now: Duration, frame: Bytes, host: &impl Host) {
        let incoming = conversation::classify(&frame);
        self.out.push_back(Output::Received { frame, note: None });
        match incoming {
            Incoming::Device(dev) => {
                let fail = host.fail_printer(self.tms_id.as_deref().unwrap_or_default());
                let (ok, reply) = conversation::device_response(&dev, fail);
                if let Some(job) = self.main.as_mut() {
                    for (target, text) in &dev.outputs {
                        let text = crate::transcript::mask_pans(text);
                        if conversation::is_printer(target) {
                            job.receipts.push(Receipt { target: target.clone(), text, printed: ok });
                        } else {
                            let shown = DisplayText { target: target.clone(), text };
                            self.out.push_back(Output::Displayed(shown.clone()));
                            job.display_texts.push(shown);
                        }
                    }
                }
                self.out.push_back(Output::Send(Bytes::from(reply)));
            }
            Incoming::Final(fin) => {
                if let Some(r) = self.recovering.take() {
                    if fin.request_id == r.timed_out || fin.request_id == r.abort_id {
                        let note = format!(
                            "request {} answered {} after the time-out; the terminal is free again",
                            fin.request_id, fin.overall_result
                        );
                        self.out.push_back(Output::Event(note));
                        // A caller's abort still waits for this answer.
                        if self.abort.as_ref().is_none_or(|a| a.request_id != fin.request_id) {
                            return;
                        }
                    } else {
                        self.recovering = Some(r);
                    }
                }
                let slot = if self.abort.as_ref().is_some_and(|a| a.request_id == fin.request_id) {
                    &mut self.abort
                } else {
                    &mut self.main
                };
                match slot.take() {
                    Some(job) if job.request_id == fin.request_id || fin.request_id.is_empty() => {
                        let tms_id = self.tms_id.as_deref().unwrap_or_default();
                        let reply = job.finish(
                            now,
                            tms_id,
                            Outcome::Completed,
                            Some(fin.overall_result),
                            None,
                            fin.authorisation,
                        );
                        self.out.push_back(reply);
                    }
                    Some(job) => {
                        *slot = Some(job);
                        let note = format!("response for unknown request {} ignored", fin.request_id);
                        self.out.push_back(Output::Event(note));
                    }
                    None => {
                        let note = format!("unsolicited response for request {}", fin.request_id);
                        self.out.push_back(Output::Event(note));
                    }
                }
            }
            Incoming::Hello { .. } => self.out.push_back(Output::Event("repeated hand-shake ignored".into())),
            Incoming::Undecodable { error } => {
                self.out.push_back(Output::Event(format!("undecodable frame: {error}")))
            }
            Incoming::Other { description } => {
                self.out.push_back(Output::Event(format!("ignored: {description}")))
            }
        }
    }
}

/// Why an identified connection ends, as the transcript says it after `closed: `.
fn open_end_reason(why: &Ended) -> String {
    match why {
        Ended::ClosedByTerminal => "closed by the terminal".into(),
        Ended::ZeroLengthFrame(_) => "zero-length frame from the terminal".into(),
        Ended::Framing(err) => format!("framing error: {err}"),
        Ended::WriteFailed(err) => format!("write failed: {err}"),
        Ended::Replaced { by: Some(by) } => {
            format!("replaced by a newer connection of the same terminal from {by}")
        }
        Ended::Replaced { by: None } => "replaced by a newer connection of the same terminal".into(),
        Ended::Refused(why) => why.clone(),
        Ended::ShuttingDown => "TAS shutting down".into(),
        Ended::Evicted => "its room was needed by a newer connection".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use ccv_opi::{
        CardServiceResponse, DeviceRequest, DeviceRequestType, Header, InDevice, Input, Message, OutDevice,
        OverallResult, ServiceRequestType, ServiceResponse, TextLine,
    };

    use super::*;
    use ccv_wire::handshake;

    const TIMEOUTS: Timeouts = Timeouts {
        handshake: Duration::from_secs(10),
        abort: Duration::from_secs(30),
        idle: Duration::from_secs(600),
    };
    const PAN: &str = "4111111111111111";

    /// The TAS around the session: request IDs from 1, printer failure on demand.
    #[derive(Default)]
    struct FakeHost {
        last_id: Cell<u64>,
        fail_printer: bool,
        /// A terminal with a live connection that only a certified connection may replace.
        live: Option<&'static str>,
    }

    impl Host for FakeHost {
        fn next_request_id(&self) -> u64 {
            self.last_id.set(self.last_id.get() + 1);
            self.last_id.get()
        }

        fn fail_printer(&self, _tms_id: &str) -> bool {
            self.fail_printer
        }

        fn may_register(&self, tms_id: &str, certified: bool) -> Result<(), String> {
            match self.live {
                Some(live) if live == tms_id && !certified => Err(format!("terminal {tms_id} is connected")),
                _ => Ok(()),
            }
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn enc(m: &Message) -> Bytes {
        Bytes::from(ccv_opi::encode(m, ccv_opi::Encoding::Utf8))
    }

    fn drain(s: &mut Session<u32>) -> Vec<Output<u32>> {
        std::iter::from_fn(|| s.poll_output()).collect()
    }

    fn sent(o: &Output<u32>) -> Message {
        match o {
            Output::Send(frame) => ccv_opi::decode(frame).expect("the session sends decodable OPI"),
            other => panic!("expected a Send, got {other:?}"),
        }
    }

    fn event(o: &Output<u32>) -> &str {
        match o {
            Output::Event(note) => note,
            other => panic!("expected an Event, got {other:?}"),
        }
    }

    fn unidentified(o: &Output<u32>) -> (usize, &str) {
        match o {
            Output::Unidentified { received, reason } => (*received, reason),
            other => panic!("expected an Unidentified, got {other:?}"),
        }
    }

    fn received(o: &Output<u32>) -> &Bytes {
        match o {
            Output::Received { frame, note: None } => frame,
            other => panic!("expected a Received frame, got {other:?}"),
        }
    }

    fn reply(o: Output<u32>) -> (u32, Result<TransactionResult, TasError>) {
        match o {
            Output::Reply { to, result } => (to, result),
            other => panic!("expected a Reply, got {other:?}"),
        }
    }

    fn completed(o: Output<u32>, caller: u32) -> TransactionResult {
        let (to, result) = reply(o);
        assert_eq!(to, caller);
        result.expect("a result")
    }

    /// Starts a conversation for `caller` at `now`: the request is all that goes out.
    fn start(
        s: &mut Session<u32>,
        host: &FakeHost,
        now: Duration,
        kind: JobKind,
        timeout: Duration,
        caller: u32,
    ) -> Message {
        s.handle_request(now, kind, timeout, caller, host);
        let out = drain(s);
        assert_eq!(out.len(), 1, "{out:?}");
        sent(&out[0])
    }

    /// Feeds the terminal's final response `frame` at `now`: it is recorded, then `caller` gets the result.
    fn answered(s: &mut Session<u32>, now: Duration, frame: Bytes, caller: u32) -> TransactionResult {
        s.handle_frame(now, frame, &FakeHost::default());
        let mut out = drain(s);
        assert_eq!(out.len(), 2, "{out:?}");
        received(&out[0]);
        completed(out.remove(1), caller)
    }

    /// A session accepted at t = 0.
    fn fresh() -> Session<u32> {
        let mut s = Session::new(secs(0), TIMEOUTS, "WS1".into());
        drain(&mut s);
        s
    }

    /// A session of terminal 12345678 past its hand-shake at t = 0, outputs drained.
    fn open() -> Session<u32> {
        let mut s = fresh();
        s.handle_frame(secs(0), enc(&handshake::hello_message("12345678", None, None)), &FakeHost::default());
        drain(&mut s);
        assert!(s.is_open());
        s
    }

    fn payment(amount_minor: u64) -> JobKind {
        JobKind::Payment { amount_minor, currency: "EUR".into() }
    }

    fn request_id(m: &Message) -> &str {
        &m.header().request_id
    }

    fn device_request(id: &str, outputs: &[(OutDevice, &str)], input: bool) -> Bytes {
        enc(&Message::DeviceRequest(DeviceRequest {
            header: header(id),
            request_type: DeviceRequestType::Output,
            outputs: outputs
                .iter()
                .map(|(target, text)| ccv_opi::Output {
                    out_device_target: *target,
                    text_lines: text.lines().map(TextLine::new).collect(),
                })
                .collect(),
            input: input.then_some(Input { in_device_target: InDevice::CashierKeyboard, command: None }),
            private_data: None,
        }))
    }

    /// The header of a message from the terminal.
    fn header(request_id: &str) -> Header {
        Header { workstation_id: "WS1".into(), request_id: request_id.into(), ..Header::default() }
    }

    fn card_response(request_id: &str, result: OverallResult) -> Bytes {
        enc(&Message::CardServiceResponse(CardServiceResponse {
            header: header(request_id),
            request_type: ccv_opi::CardRequestType::CardPayment,
            overall_result: result,
            terminal: None,
            tender: None,
            card_value: None,
            private_data: None,
        }))
    }

    fn service_response(request_id: &str, request_type: ServiceRequestType) -> Bytes {
        enc(&Message::ServiceResponse(ServiceResponse {
            header: header(request_id),
            request_type,
            overall_result: OverallResult::Success,
            terminal: None,
            reconciliation: None,
            private_data: None,
        }))
    }

    #[test]
    fn hand_shake_is_answered_then_registered() {
        let mut s: Session<u32> = Session::new(secs(100), TIMEOUTS, "WS1".into());
        assert_eq!(s.poll_timeout(), Some(secs(110)));
        assert!(drain(&mut s).is_empty(), "nothing is recorded before the hand-shake");
        assert!(!s.is_open());

        let hello = enc(&handshake::hello_message("12345678", Some("ref-1"), Some("14.0.11.01")));
        s.handle_frame(secs(101), hello.clone(), &FakeHost::default());
        let mut out = drain(&mut s);
        assert_eq!(out.len(), 5, "{out:?}");
        assert_eq!(event(&out.remove(0)), "connected");
        assert_eq!(received(&out[0]), &hello);
        assert_eq!(sent(&out[1]).overall_result(), Some(&OverallResult::Success));
        assert!(matches!(&out[2], Output::Register { tms_id, reference, software, certified: false }
            if tms_id == "12345678" && reference.as_deref() == Some("ref-1")
                && software.as_deref() == Some("14.0.11.01")));
        assert_eq!(event(&out[3]), "registered 12345678");
        assert_eq!(s.tms_id().map(|t| &**t), Some("12345678"));
        assert!(s.is_open());
        assert_eq!(s.poll_timeout(), Some(secs(701)), "the hand-shake time-out is off, the idle one on");
    }

    #[test]
    fn a_payment_with_device_requests_answered() {
        let mut s = open();
        let host = FakeHost::default();
        s.handle_request(secs(5), payment(1234), secs(60), 7, &host);
        assert!(s.is_busy());
        let out = drain(&mut s);
        assert_eq!(out.len(), 1);
        let Message::CardServiceRequest(req) = sent(&out[0]) else { panic!("{out:?}") };
        assert_eq!(req.header.request_id, "1");
        assert_eq!(req.header.workstation_id, "WS1");
        assert_eq!(req.total_amount.map(|a| a.to_decimal_string()), Some("12.34".into()));
        assert_eq!(s.poll_timeout(), Some(secs(65)));

        s.handle_frame(
            secs(6),
            device_request("d1", &[(OutDevice::CashierDisplay, "PIN INVOEREN")], false),
            &host,
        );
        let out = drain(&mut s);
        assert_eq!(out.len(), 3);
        received(&out[0]);
        assert!(
            matches!(&out[1], Output::Displayed(d) if d.text == "PIN INVOEREN"),
            "the current screen is reported: {out:?}"
        );
        let Message::DeviceResponse(resp) = sent(&out[2]) else { panic!("{out:?}") };
        assert_eq!((resp.header.request_id.as_str(), resp.overall_result), ("d1", OverallResult::Success));

        let receipt = format!("BETAALD 12.34 EUR\nKAART {PAN}");
        s.handle_frame(secs(7), device_request("d2", &[(OutDevice::Printer, &receipt)], false), &host);
        let out = drain(&mut s);
        assert_eq!(sent(&out[1]).overall_result(), Some(&OverallResult::Success));

        let result = answered(&mut s, secs(8), card_response("1", OverallResult::Success), 7);
        assert_eq!(result.outcome, Outcome::Completed);
        assert_eq!(result.overall_result.as_deref(), Some("Success"));
        assert_eq!(result.request_type, "CardPayment");
        assert_eq!((result.amount.as_deref(), result.currency.as_deref()), (Some("12.34"), Some("EUR")));
        assert_eq!(result.duration_ms, 3000, "measured on the session's clock");
        assert_eq!(
            result.display_texts,
            vec![DisplayText { target: "CashierDisplay".into(), text: "PIN INVOEREN".into() }]
        );
        assert_eq!(result.receipts.len(), 1);
        assert_eq!(result.receipts[0].text, "BETAALD 12.34 EUR\nKAART 411111******1111", "PAN masked");
        assert!(result.receipts[0].printed);
        assert!(!s.is_busy());
        assert_eq!(s.poll_timeout(), Some(secs(608)), "idle from the last frame on");
    }

    #[test]
    fn device_requests_are_answered_with_or_without_a_conversation() {
        let mut s = open();
        let host = FakeHost { fail_printer: true, ..FakeHost::default() };
        // No conversation runs: still answered, nothing collected.
        let frame = device_request(
            "d9",
            &[(OutDevice::CustomerDisplay, "WELKOM"), (OutDevice::Printer, "BON")],
            true,
        );
        s.handle_frame(secs(1), frame, &host);
        let out = drain(&mut s);
        assert_eq!(out.len(), 2, "{out:?}");
        let Message::DeviceResponse(resp) = sent(&out[1]) else { panic!("{out:?}") };
        assert_eq!(resp.header.request_id, "d9");
        assert_eq!(resp.overall_result, OverallResult::DeviceUnavailable, "the printer is told to fail");
        let results: Vec<_> =
            resp.outputs.iter().map(|o| (o.out_device_target, o.out_result.clone())).collect();
        assert_eq!(
            results,
            vec![
                (OutDevice::CustomerDisplay, OverallResult::Success),
                (OutDevice::Printer, OverallResult::DeviceUnavailable)
            ]
        );
        let input = resp.input.expect("the input is confirmed");
        assert_eq!((input.in_result, input.input_value.as_deref()), (OverallResult::Success, Some("true")));

        // During a payment the failed receipt is collected as not printed.
        start(&mut s, &host, secs(2), payment(100), secs(60), 1);
        s.handle_frame(secs(3), device_request("d10", &[(OutDevice::Printer, "BON")], false), &host);
        drain(&mut s);
        let result = answered(&mut s, secs(4), card_response("1", OverallResult::Success), 1);
        assert_eq!(
            result.receipts,
            vec![Receipt { target: "Printer".into(), text: "BON".into(), printed: false }]
        );
    }

    #[test]
    fn a_response_whose_request_id_does_not_match_is_ignored() {
        let mut s = open();
        let host = FakeHost::default();
        s.handle_frame(secs(1), card_response("42", OverallResult::Success), &host);
        let out = drain(&mut s);
        assert_eq!(event(&out[1]), "unsolicited response for request 42");

        start(&mut s, &host, secs(1), payment(100), secs(60), 1);
        s.handle_frame(secs(2), card_response("99", OverallResult::Success), &host);
        let out = drain(&mut s);
        assert_eq!(out.len(), 2, "no reply: {out:?}");
        assert_eq!(event(&out[1]), "response for unknown request 99 ignored");
        assert!(s.is_busy(), "the payment still waits");

        let result = answered(&mut s, secs(3), card_response("1", OverallResult::Failure), 1);
        assert_eq!(result.overall_result.as_deref(), Some("Failure"));
        assert!(!s.is_busy());
    }

    /// A time-out at `secs(15)` of payment request 1 started at `secs(10)` for caller 3: the caller gets outcome
    /// unknown, the terminal an abort (request 2). Returns the abort sent.
    fn timed_out_payment(s: &mut Session<u32>, host: &FakeHost) -> ccv_opi::ServiceRequest {
        start(s, host, secs(10), payment(100), secs(5), 3);
        assert_eq!(s.poll_timeout(), Some(secs(15)));
        s.handle_timeout(secs(15) - Duration::from_millis(1), host);
        assert!(drain(s).is_empty(), "not due yet");
        assert!(s.is_busy());

        s.handle_timeout(secs(15), host);
        let mut out = drain(s);
        assert_eq!(out.len(), 3, "{out:?}");
        let Message::ServiceRequest(abort) = sent(&out[0]) else { panic!("{out:?}") };
        assert_eq!(abort.request_type, ServiceRequestType::AbortRequest);
        assert_eq!(abort.header.request_id, "2");
        assert_eq!(
            event(&out[1]),
            "request 1 timed out; abort sent (request 2), busy until the terminal answers"
        );
        let result = completed(out.remove(2), 3);
        assert_eq!((result.outcome, result.reason.as_deref()), (Outcome::Unknown, Some("timed_out")));
        assert_eq!(result.overall_result, None);
        assert_eq!(result.duration_ms, 5000);
        assert!(s.is_open(), "a time-out does not close the connection");
        assert!(s.is_busy(), "the terminal may still be in the payment");
        assert_eq!(s.poll_timeout(), Some(secs(45)), "the abort's time-out");
        abort
    }

    #[test]
    fn a_timed_out_request_is_aborted_and_the_terminal_stays_busy_until_it_answers() {
        let mut s = open();
        let host = FakeHost::default();
        timed_out_payment(&mut s, &host);

        // Meanwhile every request is refused with what the terminal is busy with, and nothing is sent.
        for (kind, caller) in [(payment(100), 4), (JobKind::Abort, 5)] {
            s.handle_request(secs(16), kind, secs(60), caller, &host);
            let out = drain(&mut s);
            assert_eq!(out.len(), 1, "{out:?}");
            let (to, result) = reply(out.into_iter().next().unwrap_or_else(|| unreachable!()));
            assert_eq!(to, caller);
            let Err(TasError::Busy { doing, .. }) = &result else { panic!("{result:?}") };
            assert!(doing.contains("request 1 timed out") && doing.contains("abort (request 2)"), "{doing}");
        }

        // The terminal answers the abort: free again, no caller waits for that answer.
        s.handle_frame(secs(17), service_response("2", ServiceRequestType::AbortRequest), &host);
        let out = drain(&mut s);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(
            event(&out[1]),
            "request 2 answered Success after the time-out; the terminal is free again"
        );
        assert!(!s.is_busy());
        assert_eq!(s.poll_timeout(), Some(secs(617)), "the idle time-out");
        start(&mut s, &host, secs(18), payment(100), secs(60), 6);

        // The late answer to the payment itself frees the terminal as well.
        let mut s = open();
        let host = FakeHost::default();
        timed_out_payment(&mut s, &host);
        s.handle_frame(secs(16), card_response("1", OverallResult::Success), &host);
        assert_eq!(
            event(&drain(&mut s)[1]),
            "request 1 answered Success after the time-out; the terminal is free again"
        );
        assert!(!s.is_busy());
        // Then the abort's answer is unsolicited.
        s.handle_frame(secs(17), service_response("2", ServiceRequestType::AbortRequest), &host);
        assert_eq!(event(&drain(&mut s)[1]), "unsolicited response for request 2");
    }

    #[test]
    fn a_terminal_that_answers_neither_the_request_nor_the_abort_is_disconnected() {
        let mut s = open();
        let host = FakeHost::default();
        timed_out_payment(&mut s, &host);
        s.handle_timeout(secs(44), &host);
        assert!(drain(&mut s).is_empty());
        s.handle_timeout(secs(45), &host);
        let out = drain(&mut s);
        assert_eq!(
            event(&out[0]),
            "closed: the terminal answered neither the timed-out request 1 nor its abort (request 2)"
        );
        assert!(matches!(out[1], Output::Close { .. }));
        assert!(s.is_closed() && !s.is_busy());
    }

    #[test]
    fn a_time_out_during_a_callers_abort_waits_for_that_abort() {
        let mut s = open();
        let host = FakeHost::default();
        start(&mut s, &host, secs(0), payment(100), secs(5), 1);
        start(&mut s, &host, secs(1), JobKind::Abort, secs(30), 2);
        s.handle_timeout(secs(5), &host);
        let mut out = drain(&mut s);
        assert_eq!(out.len(), 2, "no second abort: {out:?}");
        assert_eq!(
            event(&out[0]),
            "request 1 timed out; abort sent (request 2), busy until the terminal answers"
        );
        completed(out.remove(1), 1);
        assert!(s.is_busy());
        s.handle_frame(secs(6), service_response("2", ServiceRequestType::AbortRequest), &host);
        let mut out = drain(&mut s);
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(
            event(&out[1]),
            "request 2 answered Success after the time-out; the terminal is free again"
        );
        let result = completed(out.remove(2), 2);
        assert_eq!(result.overall_result.as_deref(), Some("Success"));
        assert!(!s.is_busy());
    }

    #[test]
    fn an_identified_terminal_without_traffic_is_closed_after_the_idle_time_out_but_never_mid_request() {
        let mut s = open();
        let host = FakeHost::default();
        assert_eq!(s.poll_timeout(), Some(secs(600)));
        // A frame moves the idle time-out on.
        s.handle_frame(secs(100), device_request("d1", &[(OutDevice::CashierDisplay, "x")], false), &host);
        drain(&mut s);
        assert_eq!(s.poll_timeout(), Some(secs(700)));
        // A request running longer than the idle time-out keeps the connection.
        start(&mut s, &host, secs(200), payment(100), secs(900), 1);
        assert_eq!(s.poll_timeout(), Some(secs(1100)), "the request's deadline, not the idle one");
        s.handle_timeout(secs(900), &host);
        assert!(drain(&mut s).is_empty() && s.is_open());
        answered(&mut s, secs(1000), card_response("1", OverallResult::Success), 1);
        assert_eq!(s.poll_timeout(), Some(secs(1600)));
        s.handle_timeout(secs(1599), &host);
        assert!(drain(&mut s).is_empty());
        s.handle_timeout(secs(1600), &host);
        let out = drain(&mut s);
        assert_eq!(event(&out[0]), "closed: idle for 600s (no frame and no request)");
        assert!(matches!(out[1], Output::Close { .. }));
        assert!(s.is_closed());
    }

    #[test]
    fn a_connection_evicted_before_its_hand_shake_is_closed_with_the_reason() {
        let mut s = fresh();
        s.handle_end(secs(1), Ended::Evicted);
        let out = drain(&mut s);
        assert_eq!(
            unidentified(&out[0]),
            (0, "closed: no hand-shake yet and its room was needed by a newer connection")
        );
        assert!(s.is_closed());
    }

    #[test]
    fn a_terminal_without_a_hand_shake_is_closed_when_its_time_is_up() {
        let mut s = fresh();
        s.handle_timeout(secs(9), &FakeHost::default());
        assert!(drain(&mut s).is_empty());
        s.handle_timeout(secs(10), &FakeHost::default());
        let out = drain(&mut s);
        assert_eq!(unidentified(&out[0]), (0, "closed: no hand-shake within the time-out"));
        assert!(
            matches!(&out[1], Output::Close { reason } if reason == "closed: no hand-shake within the time-out")
        );
        assert_eq!(out.len(), 2);
        assert!(s.is_closed());
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn an_abort_runs_beside_the_payment_it_aborts() {
        let mut s = open();
        let host = FakeHost::default();
        s.handle_request(secs(0), JobKind::Abort, secs(60), 1, &host);
        let (to, result) = reply(drain(&mut s).remove(0));
        assert_eq!(to, 1);
        assert!(matches!(result, Err(TasError::NothingToAbort { tms_id }) if tms_id == "12345678"));

        s.handle_request(secs(1), payment(300), secs(60), 2, &host);
        let payment_id = request_id(&sent(&drain(&mut s)[0])).to_owned();
        s.handle_request(secs(2), JobKind::Abort, secs(30), 3, &host);
        let Message::ServiceRequest(abort) = sent(&drain(&mut s)[0]) else { panic!() };
        assert_eq!(abort.request_type, ServiceRequestType::AbortRequest);
        assert_eq!(abort.header.request_id, "2");
        assert_eq!(s.poll_timeout(), Some(secs(32)), "the earlier of the two deadlines");

        // A second abort while one runs: nothing to abort.
        s.handle_request(secs(3), JobKind::Abort, secs(30), 4, &host);
        let (to, result) = reply(drain(&mut s).remove(0));
        assert_eq!(to, 4);
        assert!(matches!(result, Err(TasError::NothingToAbort { .. })));

        let result = answered(&mut s, secs(4), service_response("2", ServiceRequestType::AbortRequest), 3);
        assert_eq!(
            (result.request_type.as_str(), result.overall_result.as_deref()),
            ("AbortRequest", Some("Success"))
        );
        assert!(s.is_busy(), "the payment still runs until the terminal says it is aborted");

        let result = answered(&mut s, secs(5), card_response(&payment_id, OverallResult::Aborted), 2);
        assert_eq!(result.overall_result.as_deref(), Some("Aborted"));
        assert!(!s.is_busy());
    }

    #[test]
    fn a_second_request_while_one_runs_is_refused_busy() {
        let mut s = open();
        let host = FakeHost::default();
        start(&mut s, &host, secs(0), payment(100), secs(60), 1);
        s.handle_request(secs(1), JobKind::Login, secs(60), 2, &host);
        let out = drain(&mut s);
        assert_eq!(out.len(), 1, "nothing sent: {out:?}");
        let (to, result) = reply(out.into_iter().next().unwrap_or_else(|| unreachable!()));
        assert_eq!(to, 2);
        assert!(
            matches!(&result, Err(TasError::Busy { tms_id, doing }) if tms_id == "12345678" && doing.contains("request 1 (CardPayment) is running")),
            "{result:?}"
        );
        assert_eq!(s.poll_timeout(), Some(secs(60)), "the first request keeps its deadline");

        answered(&mut s, secs(2), card_response("1", OverallResult::Success), 1);
        s.handle_request(secs(3), JobKind::Login, secs(60), 3, &host);
        let out = drain(&mut s);
        assert_eq!(request_id(&sent(&out[0])), "2", "a refused request takes no RequestID");
    }

    #[test]
    fn a_frame_that_does_not_decode_is_recorded_and_ignored() {
        let mut s = open();
        let host = FakeHost::default();
        start(&mut s, &host, secs(0), payment(100), secs(60), 1);
        s.handle_frame(secs(1), Bytes::from_static(b"<not opi"), &host);
        let out = drain(&mut s);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(received(&out[0]), &Bytes::from_static(b"<not opi"));
        assert!(event(&out[1]).starts_with("undecodable frame: "), "{out:?}");
        assert!(s.is_open() && s.is_busy());
    }

    #[test]
    fn a_certified_connection_may_only_name_its_own_tms_id() {
        let hello = |tms_id| enc(&handshake::hello_message(tms_id, None, None));
        // Another terminal's TMS ID: refused (ValidationError), one unidentified entry, never listed.
        let mut s = fresh().certified_as(Some("87654321"));
        s.handle_frame(secs(1), hello("12345678"), &FakeHost::default());
        let out = drain(&mut s);
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(sent(&out[0]).overall_result(), Some(&OverallResult::ValidationError));
        let (_, reason) = unidentified(&out[1]);
        assert!(reason.contains("\"12345678\"") && reason.contains("\"87654321\""), "{reason}");
        assert!(matches!(out[2], Output::Close { .. }));
        assert!(s.is_closed() && s.tms_id().is_none());

        // Its own: listed as certified, even while another connection of the terminal is live.
        let mut s = fresh().certified_as(Some("12345678"));
        let host = FakeHost { live: Some("12345678"), ..FakeHost::default() };
        s.handle_frame(secs(1), hello("12345678"), &host);
        let out = drain(&mut s);
        assert!(out.iter().any(|o| matches!(o, Output::Register { certified: true, .. })), "{out:?}");
        assert!(s.is_open());
    }

    #[test]
    fn a_hand_shake_the_tas_will_not_register_is_refused() {
        let mut s = fresh();
        let host = FakeHost { live: Some("12345678"), ..FakeHost::default() };
        s.handle_frame(secs(1), enc(&handshake::hello_message("12345678", None, None)), &host);
        let out = drain(&mut s);
        assert_eq!(sent(&out[0]).overall_result(), Some(&OverallResult::ValidationError));
        assert_eq!(unidentified(&out[1]).1, "closed: terminal 12345678 is connected");
        assert!(!out.iter().any(|o| matches!(o, Output::Register { .. })));
        assert!(s.is_closed());
    }

    #[test]
    fn a_first_frame_that_is_not_a_hand_shake_closes_the_connection() {
        let mut s = fresh();
        s.handle_frame(secs(1), Bytes::from_static(b"hello there"), &FakeHost::default());
        let out = drain(&mut s);
        assert_eq!(out.len(), 2, "not OPI, so no answer, and one entry instead of the frame: {out:?}");
        let (bytes, reason) = unidentified(&out[0]);
        assert_eq!(bytes, 11);
        assert!(reason.starts_with("closed: first frame is not a hand-shake (undecodable: "), "{reason}");
        assert!(matches!(out[1], Output::Close { .. }));
        assert!(s.is_closed());
        assert_eq!(s.tms_id(), None);

        // An OPI message that is not the hand-shake is answered FormatError first.
        let mut s = fresh();
        s.handle_frame(
            secs(1),
            device_request("1", &[(OutDevice::Printer, "x")], false),
            &FakeHost::default(),
        );
        let out = drain(&mut s);
        assert_eq!(sent(&out[0]).overall_result(), Some(&OverallResult::FormatError));
        assert!(unidentified(&out[1]).0 > 0);
        // The refusal's write failing changes nothing: the close is already decided.
        s.handle_end(secs(1), Ended::WriteFailed("broken pipe".into()));
        assert!(matches!(&out[2], Output::Close { .. }));
        assert!(drain(&mut s).is_empty());
    }

    #[test]
    fn disconnect_mid_payment_closes_then_answers_unknown() {
        let mut s = open();
        let host = FakeHost::default();
        start(&mut s, &host, secs(0), payment(100), secs(60), 1);
        s.handle_end(secs(2), Ended::ClosedByTerminal);
        let mut out = drain(&mut s);
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(event(&out[0]), "closed: closed by the terminal");
        assert!(matches!(&out[1], Output::Close { reason } if reason == "closed: closed by the terminal"));
        let result = completed(out.remove(2), 1);
        assert_eq!(
            (result.outcome, result.reason.as_deref()),
            (Outcome::Unknown, Some("terminal_disconnected"))
        );
        assert!(s.is_closed() && !s.is_busy());

        // Nothing more after the close.
        s.handle_frame(secs(3), card_response("1", OverallResult::Success), &host);
        s.handle_timeout(secs(100), &host);
        s.handle_end(secs(3), Ended::ShuttingDown);
        assert!(drain(&mut s).is_empty());
        s.handle_request(secs(3), payment(100), secs(60), 2, &host);
        let (_, result) = reply(drain(&mut s).remove(0));
        assert!(matches!(result, Err(TasError::NotConnected { .. })));
    }

    #[test]
    fn a_zero_length_frame_is_recorded_and_closes() {
        let mut s = open();
        s.handle_end(secs(1), Ended::ZeroLengthFrame("zero".into()));
        let out = drain(&mut s);
        assert!(
            matches!(&out[0], Output::Received { frame, note: Some("zero-length frame") } if frame.is_empty())
        );
        assert_eq!(event(&out[1]), "closed: zero-length frame from the terminal");

        let mut s = fresh();
        s.handle_end(secs(1), Ended::ZeroLengthFrame("zero".into()));
        let out = drain(&mut s);
        assert_eq!(unidentified(&out[0]), (0, "closed: framing error before the hand-shake: zero"));
    }

    #[test]
    fn a_failed_write_closes_and_a_failed_hand_shake_answer_never_registers() {
        let mut s = open();
        let host = FakeHost::default();
        s.handle_request(secs(0), payment(100), secs(60), 1, &host);
        assert!(matches!(s.poll_output(), Some(Output::Send(_))));
        s.handle_end(secs(1), Ended::WriteFailed("timed out".into()));
        let out = drain(&mut s);
        assert_eq!(event(&out[0]), "closed: write failed: timed out");
        let (_, result) = reply(out.into_iter().nth(2).unwrap_or_else(|| unreachable!()));
        assert_eq!(result.expect("a result").reason.as_deref(), Some("terminal_disconnected"));

        let mut s = fresh();
        s.handle_frame(secs(0), enc(&handshake::hello_message("1", None, None)), &host);
        event(&s.poll_output().unwrap_or_else(|| unreachable!()));
        received(&s.poll_output().unwrap_or_else(|| unreachable!()));
        assert!(matches!(s.poll_output(), Some(Output::Send(_))));
        s.handle_end(secs(0), Ended::WriteFailed("reset".into()));
        let out = drain(&mut s);
        assert_eq!(out.len(), 2, "no Register: {out:?}");
        assert_eq!(event(&out[0]), "closed: could not answer the hand-shake");
        assert!(matches!(out[1], Output::Close { .. }));
    }
}
