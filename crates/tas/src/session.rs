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
pub(crate) trait Host {
    /// A fresh `RequestID`, unique across all the TAS's connections.
    fn next_request_id(&self) -> u64;
    /// Whether printer output of `tms_id` is to be answered `DeviceUnavailable`.
    fn fail_printer(&self, tms_id: &str) -> bool;
}

/// Why the connection ends, as the IO side sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The terminal closed the connection.
    ClosedByTerminal,
    /// The terminal sent a frame with length 0 (the framing error's text).
    ZeroLengthFrame(String),
    /// Any other framing or read error (its text).
    Framing(String),
    /// Writing a [`Output::Send`] failed or timed out (the error's text).
    WriteFailed(String),
    /// The same terminal connected again; this connection gives way.
    Replaced,
    /// The TAS is stopping.
    ShuttingDown,
}

/// Something the session wants done, in the order it comes out.
#[derive(Debug)]
pub(crate) enum Output<R> {
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
    /// The terminal identified itself and its hand-shake answer is written: list it as connected.
    Register {
        /// TMS ID from the hand-shake.
        tms_id: String,
        /// The kick's payment reference, if sent.
        reference: Option<String>,
        /// Software version, if sent.
        software: Option<String>,
    },
    /// Take the terminal off the list of connected terminals and close the connection once the outputs that
    /// follow (answers to waiting callers) are executed. Nothing comes after those.
    Close {
        /// Why, as recorded in the transcript.
        reason: String,
    },
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
/// let mut s = Session::new(now, handshake_timeout, workstation_id);
/// loop {
///     while let Some(out) = s.poll_output() { execute(out) }   // 1. drain everything (may feed handle_end)
///     if s.is_closed() { break }                               // 2. drop the socket
///     let deadline = s.poll_timeout();                         // 3. next time-out, if any
///     match wait_for_event_or(deadline) {                      // 4. IO happens outside
///         Frame(bytes)        => s.handle_frame(now, bytes, &host),
///         Request(kind, t, r) => s.handle_request(now, kind, t, r, &host),
///         Deadline            => s.handle_timeout(now),
///         End(why)            => s.handle_end(now, why),
///     }
/// }
/// ```
///
/// * [`Session::new`] already queues the "connected" event.
/// * Execute outputs in order. When an [`Output::Send`] fails, call [`Session::handle_end`] with
///   [`Ended::WriteFailed`] at once and keep draining: the session drops what can no longer be written and
///   queues the close.
/// * Only [`Session::handle_timeout`] fires time-outs, and only those due at or before its `now`.
/// * Feed requests and [`Ended::Replaced`] / [`Ended::ShuttingDown`] only while [`Session::is_open`]: before
///   the hand-shake the terminal is not listed, so nobody can ask anything of it.
/// * Every request gets exactly one [`Output::Reply`]; after [`Output::Close`], the replies to requests still
///   running come out (outcome unknown, `terminal_disconnected`), then nothing more.
#[derive(Debug)]
pub(crate) struct Session<R> {
    phase: Phase,
    tms_id: Option<Arc<str>>,
    workstation_id: String,
    /// The conversation occupying the terminal (anything but an abort).
    main: Option<InFlight<R>>,
    /// An abort sent while `main` runs.
    abort: Option<InFlight<R>>,
    out: VecDeque<Output<R>>,
}

impl<R> Session<R> {
    /// A connection accepted at `now`; the terminal has `handshake_timeout` to identify itself. The TAS's
    /// requests carry `workstation_id`.
    pub(crate) fn new(now: Duration, handshake_timeout: Duration, workstation_id: String) -> Self {
        let mut out = VecDeque::new();
        out.push_back(Output::Event("connected".into()));
        Self {
            phase: Phase::AwaitingHello { deadline: now.saturating_add(handshake_timeout) },
            tms_id: None,
            workstation_id,
            main: None,
            abort: None,
            out,
        }
    }

    /// The terminal's TMS ID once its hand-shake is read (transcript records carry it from that frame on).
    pub(crate) fn tms_id(&self) -> Option<&Arc<str>> {
        self.tms_id.as_ref()
    }

    /// Whether the terminal is identified and the connection not closing: requests may come in.
    pub(crate) fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Whether [`Output::Close`] has been queued.
    pub(crate) fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Whether a conversation occupies the terminal.
    pub(crate) fn is_busy(&self) -> bool {
        self.main.is_some()
    }

    /// The next output to execute, if any.
    pub(crate) fn poll_output(&mut self) -> Option<Output<R>> {
        self.out.pop_front()
    }

    /// When [`Session::handle_timeout`] is next due, if anything waits for a time.
    pub(crate) fn poll_timeout(&self) -> Option<Duration> {
        match self.phase {
            Phase::AwaitingHello { deadline } => Some(deadline),
            Phase::Open => [&self.main, &self.abort].into_iter().flatten().map(|job| job.deadline).min(),
            Phase::Closed => None,
        }
    }

    /// Fires the time-outs due at or before `now`: a terminal that sent no hand-shake is closed, a request
    /// without its response gets outcome unknown (`timed_out`) and frees its slot.
    pub(crate) fn handle_timeout(&mut self, now: Duration) {
        match self.phase {
            Phase::AwaitingHello { deadline } if deadline <= now => {
                self.close(now, "closed: no hand-shake within the time-out".into());
            }
            Phase::Open => {
                let tms_id = self.tms_str();
                if let Some(main) = self.main.take_if(|m| m.deadline <= now) {
                    self.out.push_back(Output::Event(format!("request {} timed out", main.request_id)));
                    self.out.push_back(main.unknown(now, &tms_id, "timed_out"));
                }
                if let Some(abort) = self.abort.take_if(|a| a.deadline <= now) {
                    self.out.push_back(abort.unknown(now, &tms_id, "timed_out"));
                }
            }
            Phase::AwaitingHello { .. } | Phase::Closed => {}
        }
    }

    /// Starts a conversation asked for by the caller `reply`, which gets its result in an [`Output::Reply`]
    /// (at once when refused: another conversation runs, or an abort finds nothing to abort).
    pub(crate) fn handle_request(
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
        } else if kind.occupies() && self.main.is_some() {
            Some(TasError::Busy { tms_id: tms_id() })
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
    pub(crate) fn handle_frame(&mut self, now: Duration, frame: Bytes, host: &impl Host) {
        match self.phase {
            Phase::AwaitingHello { .. } => self.hello(now, frame),
            Phase::Open => self.conversation_frame(now, frame, host),
            Phase::Closed => {}
        }
    }

    /// The connection ends (or must end): records why, closes, and answers the requests still running.
    pub(crate) fn handle_end(&mut self, now: Duration, why: Ended) {
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

    fn tms_str(&self) -> String {
        self.tms_id.as_deref().unwrap_or_default().to_owned()
    }

    /// Whether the hand-shake's answer has been handed out but the terminal not yet listed.
    fn registering(&self) -> bool {
        self.out.iter().any(|o| matches!(o, Output::Register { .. }))
    }

    fn close(&mut self, now: Duration, note: String) {
        self.phase = Phase::Closed;
        self.out.push_back(Output::Event(note.clone()));
        self.out.push_back(Output::Close { reason: note });
        let tms_id = self.tms_str();
        for job in [self.main.take(), self.abort.take()].into_iter().flatten() {
            self.out.push_back(job.unknown(now, &tms_id, "terminal_disconnected"));
        }
    }

    /// The first frame: the hand-shake, or a refusal and the close.
    fn hello(&mut self, now: Duration, frame: Bytes) {
        match conversation::classify(&frame) {
            Incoming::Hello { tms_id, reference, software, answer } => {
                self.tms_id = Some(Arc::from(tms_id.as_str()));
                self.phase = Phase::Open;
                self.out.push_back(Output::Received { frame, note: None });
                self.out.push_back(Output::Send(Bytes::from(answer)));
                let registered = format!("registered {tms_id}");
                self.out.push_back(Output::Register { tms_id, reference, software });
                self.out.push_back(Output::Event(registered));
            }
            other => {
                self.out.push_back(Output::Received { frame: frame.clone(), note: None });
                if let Some(refusal) = conversation::refuse_handshake(&frame) {
                    self.out.push_back(Output::Send(Bytes::from(refusal)));
                }
                self.close(now, format!("closed: first frame is not a hand-shake ({})", other.describe()));
            }
        }
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
                            job.display_texts.push(DisplayText { target: target.clone(), text });
                        }
                    }
                }
                self.out.push_back(Output::Send(Bytes::from(reply)));
            }
            Incoming::Final(fin) => {
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
        Ended::Replaced => "replaced by a newer connection of the same terminal".into(),
        Ended::ShuttingDown => "TAS shutting down".into(),
    }
}
