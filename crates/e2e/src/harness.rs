//! Two sans-IO cores against each other on one fake clock: a terminal core ([`ccv_terminal::Terminal`]) and the
//! mock TAS's connection core ([`ccv_tas::session::Session`]), wired in memory. Frames cross as the bytes they are
//! on a socket (OPI XML, encoded and decoded by `ccv-opi`; the hand-shake of `ccv-wire`), so a conversation runs
//! exactly as over TCP, in microseconds, with no socket, no task and no sleep.
//!
//! The clock only moves when the test says so ([`Pair::advance`]); every timer of either core that falls due on
//! the way fires in order. Everything that crosses between the cores is recorded ([`Pair::log`]), so two runs of
//! the same inputs can be compared byte for byte.
//!
//! ```
//! use ccv_e2e::harness::Pair;
//! use ccv_terminal::{Input, LocalKick, TerminalConfig, Timestamp};
//! use std::time::Duration;
//!
//! let mut pair = Pair::new(TerminalConfig::default(), 7, Timestamp::from_secs(1_795_879_800));
//! pair.input(Input::LocalKick(LocalKick { source: "pos".into(), port: 4105, reference: None, tas: None }));
//! assert!(pair.tas_connected());
//! let pay = pair.request(ccv_tas::JobKind::Payment { amount_minor: 1234, currency: "EUR".into() }, Duration::from_secs(60));
//! pair.advance(Duration::from_secs(30));
//! let result = pair.reply(pay).expect("a result").as_ref().expect("no TAS error");
//! assert_eq!(result.outcome, ccv_tas::Outcome::Completed);
//! assert_eq!(result.overall_result.as_deref(), Some("Success"));
//! ```

use std::cell::Cell;
use std::time::Duration;

use bytes::Bytes;
use ccv_opi::Encoding;
use ccv_tas::session::{Ended, Host, Output as TasOutput, Session, Timeouts};
use ccv_tas::{JobKind, TasError, TransactionResult};
use ccv_terminal::{Channel, Input, Output, TasEvent, Terminal, TerminalConfig, Timestamp};

/// The TAS's side of what a [`Session`] asks of its surroundings: request ids and the printer switch.
#[derive(Debug, Default)]
struct FakeTas {
    request_ids: Cell<u64>,
    fail_printer: Cell<bool>,
}

impl Host for FakeTas {
    fn next_request_id(&self) -> u64 {
        let id = self.request_ids.get() + 1;
        self.request_ids.set(id);
        id
    }

    fn fail_printer(&self, _tms_id: &str) -> bool {
        self.fail_printer.get()
    }

    /// One terminal, one connection: its hand-shake is always the first.
    fn may_register(&self, _tms_id: &str, _certified: bool) -> Result<(), String> {
        Ok(())
    }
}

/// One thing that happened between the two cores, in order (see [`Pair::log`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A frame from the terminal to the TAS, as its XML text.
    ToTas(String),
    /// A frame from the TAS to the terminal, as its XML text.
    ToTerminal(String),
    /// Any other output of the terminal core, as its JSON.
    Terminal(String),
    /// A transcript event of the TAS's session.
    TasEvent(String),
}

/// A request the TAS made, by the number [`Pair::request`] returned.
pub type Token = u32;

/// A terminal core and a TAS connection core, wired in memory on one fake clock.
pub struct Pair {
    now: Timestamp,
    origin: Timestamp,
    terminal: Terminal,
    software: String,
    tas: Option<Session<Token>>,
    host: FakeTas,
    awaiting_hello: bool,
    next_token: Token,
    replies: Vec<(Token, Result<TransactionResult, TasError>)>,
    log: Vec<Record>,
    dials: u32,
    refuse_dials: bool,
}

impl Pair {
    /// A terminal with `config` and randomness `seed`, its clock at `start`; no TAS connection yet.
    pub fn new(config: TerminalConfig, seed: u64, start: Timestamp) -> Pair {
        let software = config.software.as_str().to_owned();
        Pair {
            now: start,
            origin: start,
            terminal: Terminal::new(config, seed),
            software,
            tas: None,
            host: FakeTas::default(),
            awaiting_hello: false,
            next_token: 0,
            replies: Vec::new(),
            log: Vec::new(),
            dials: 0,
            refuse_dials: false,
        }
    }

    /// The clock.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The terminal core.
    pub fn terminal(&self) -> &Terminal {
        &self.terminal
    }

    /// Whether the TAS has a connection from the terminal whose hand-shake is done.
    pub fn tas_connected(&self) -> bool {
        self.tas.as_ref().is_some_and(|s| s.is_open()) && !self.awaiting_hello
    }

    /// How many times the terminal dialled the TAS.
    pub fn dials(&self) -> u32 {
        self.dials
    }

    /// While set, the terminal's dials are refused (the TAS is down); a dial then fails with `refused`.
    pub fn set_tas_down(&mut self, down: bool) {
        self.refuse_dials = down;
    }

    /// Printer output of the terminal is answered `DeviceUnavailable` by the TAS while set.
    pub fn set_fail_printer(&mut self, fail: bool) {
        self.host.fail_printer.set(fail);
    }

    /// Everything that crossed between the cores and every other output of the terminal, in order.
    pub fn log(&self) -> &[Record] {
        &self.log
    }

    /// The result of request `token`, once the TAS has it.
    pub fn reply(&self, token: Token) -> Option<&Result<TransactionResult, TasError>> {
        self.replies.iter().find(|(t, _)| *t == token).map(|(_, r)| r)
    }

    /// Feeds `input` to the terminal at the current time and lets both cores run until neither has output.
    pub fn input(&mut self, input: Input) {
        self.terminal.handle_input(self.now, input);
        self.pump();
    }

    /// The TAS starts a conversation (a payment, refund, abort, ...) with time-out `timeout`; returns the token
    /// its result will carry.
    pub fn request(&mut self, kind: JobKind, timeout: Duration) -> Token {
        self.next_token += 1;
        let token = self.next_token;
        let now = self.tas_now();
        match self.tas.as_mut() {
            Some(s) => s.handle_request(now, kind, timeout, token, &self.host),
            None => self.replies.push((token, Err(TasError::NotConnected { tms_id: String::new() }))),
        }
        self.pump();
        token
    }

    /// The TAS drops the connection (it stops, or the network breaks).
    pub fn drop_tas(&mut self) {
        let now = self.tas_now();
        if let Some(s) = self.tas.as_mut() {
            s.handle_end(now, Ended::ShuttingDown);
        }
        self.pump();
    }

    /// Moves the clock forward by `by`, firing every timer of either core that falls due on the way, in order.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now.plus_millis(u64::try_from(by.as_millis()).unwrap_or(u64::MAX));
        // Bounded: every step moves the clock to a later deadline or ends; a core that asks for a deadline at
        // or before now is fed once and must move it on.
        for _ in 0..100_000 {
            let next = [self.terminal.poll_timeout(), self.tas_deadline()].into_iter().flatten().min();
            match next {
                Some(at) if at <= target => {
                    self.now = self.now.max(at);
                    let tas_now = self.tas_now();
                    if self.tas_deadline().is_some_and(|d| d <= self.now) {
                        if let Some(s) = self.tas.as_mut() {
                            s.handle_timeout(tas_now, &self.host);
                        }
                    }
                    if self.terminal.poll_timeout().is_some_and(|d| d <= self.now) {
                        self.terminal.handle_input(self.now, Input::Tick);
                    }
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = self.now.max(target);
    }

    /// Advances the clock in steps of at most `step` until request `token` has its result or `limit` has
    /// passed; returns the result.
    pub fn run_until_reply(
        &mut self,
        token: Token,
        step: Duration,
        limit: Duration,
    ) -> Option<&Result<TransactionResult, TasError>> {
        let end = self.now.plus_millis(u64::try_from(limit.as_millis()).unwrap_or(u64::MAX));
        while self.reply(token).is_none() && self.now < end {
            self.advance(step);
        }
        self.reply(token)
    }

    fn tas_now(&self) -> Duration {
        Duration::from_millis(self.now.millis_since(self.origin))
    }

    fn tas_deadline(&self) -> Option<Timestamp> {
        let at = self.tas.as_ref()?.poll_timeout()?;
        Some(self.origin.plus_millis(u64::try_from(at.as_millis()).unwrap_or(u64::MAX)))
    }

    /// Moves outputs between the cores until neither has any.
    fn pump(&mut self) {
        // Bounded: a conversation is a handful of frames; a loop between the cores would be a bug.
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(out) = self.terminal.poll_output() {
                moved = true;
                self.carry_terminal_output(out);
            }
            while let Some(out) = self.tas.as_mut().and_then(|s| s.poll_output()) {
                moved = true;
                self.carry_tas_output(out);
            }
            if self.tas.as_ref().is_some_and(|s| s.is_closed()) {
                // Its last outputs (answers to waiting callers) are out: the connection is gone.
                self.tas = None;
                let event = if std::mem::take(&mut self.awaiting_hello) {
                    TasEvent::DialFailed(ccv_terminal::TasDialFailure::Handshake)
                } else {
                    TasEvent::Disconnected
                };
                self.terminal.handle_input(self.now, Input::Tas(event));
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("the two cores kept exchanging outputs for 10,000 rounds");
    }

    fn carry_terminal_output(&mut self, out: Output) {
        match out {
            Output::DialTas(dial) => {
                self.dials += 1;
                self.log.push(Record::Terminal(json(&Output::DialTas(dial.clone()))));
                if self.refuse_dials {
                    let failed = Input::Tas(TasEvent::DialFailed(ccv_terminal::TasDialFailure::Refused));
                    self.terminal.handle_input(self.now, failed);
                    return;
                }
                let now = self.tas_now();
                let mut session = Session::new(now, Timeouts::default(), "TAS".to_owned());
                let hello = ccv_wire::handshake::hello_message(
                    &dial.tms_id,
                    dial.reference.as_deref(),
                    Some(&self.software),
                );
                let frame = ccv_opi::encode(&hello, Encoding::Utf8);
                self.log.push(Record::ToTas(text(&frame)));
                session.handle_frame(now, Bytes::from(frame), &self.host);
                self.tas = Some(session);
                self.awaiting_hello = true;
            }
            Output::SendOpi { channel: Channel::Tas, message } => {
                let frame = ccv_opi::encode(&message, Encoding::Utf8);
                self.log.push(Record::ToTas(text(&frame)));
                let now = self.tas_now();
                if let Some(s) = self.tas.as_mut() {
                    s.handle_frame(now, Bytes::from(frame), &self.host);
                }
            }
            Output::CloseTas => {
                self.log.push(Record::Terminal(json(&Output::CloseTas)));
                let now = self.tas_now();
                if let Some(s) = self.tas.as_mut() {
                    s.handle_end(now, Ended::ClosedByTerminal);
                }
            }
            other => self.log.push(Record::Terminal(json(&other))),
        }
    }

    fn carry_tas_output(&mut self, out: TasOutput<Token>) {
        match out {
            TasOutput::Send(frame) => {
                self.log.push(Record::ToTerminal(text(&frame)));
                let message = ccv_opi::decode(&frame).expect("the TAS sends OPI that decodes");
                if std::mem::take(&mut self.awaiting_hello) {
                    let event = match ccv_wire::handshake::check_answer(&message) {
                        Ok(()) => TasEvent::Connected,
                        Err(_) => TasEvent::DialFailed(ccv_terminal::TasDialFailure::Handshake),
                    };
                    self.terminal.handle_input(self.now, Input::Tas(event));
                } else {
                    self.terminal.handle_input(self.now, Input::Opi { channel: Channel::Tas, message });
                }
            }
            TasOutput::Event(e) => self.log.push(Record::TasEvent(e)),
            TasOutput::Unidentified { reason, .. } => self.log.push(Record::TasEvent(reason)),
            TasOutput::Displayed(_) => {}
            TasOutput::Received { .. } | TasOutput::Register { .. } => {}
            TasOutput::Close { reason } => self.log.push(Record::TasEvent(format!("close: {reason}"))),
            TasOutput::Reply { to, result } => self.replies.push((to, result)),
        }
    }
}

fn text(frame: &[u8]) -> String {
    String::from_utf8_lossy(frame).into_owned()
}

fn json(out: &Output) -> String {
    serde_json::to_string(out).unwrap_or_else(|e| format!("(not JSON: {e})"))
}
