//! The payment engine: the terminal's OPI role.
//!
//! A card request runs as a session: display device requests, a card (an explicit
//! [`CardEvent`] or, after `auto_card_after_ms`, the magic amounts table), optionally a PIN, the
//! decision, the journal entry, receipts, and last the `CardServiceResponse`. Device requests go
//! out one at a time; the next waits for the `DeviceResponse` (or its time-out). A failed printer
//! does not lose the transaction: it is reported in the response's `PrivateData`.
//!
//! `Payments` owns the session, the journal and the counters. It reads the rest of the terminal
//! through a `PaymentContext`, writes its outputs there, and names there the day state a step
//! moved to (a day closed by the POS, or reopened by a transaction) for the caller to apply.

use std::borrow::Cow;
use std::collections::VecDeque;

use ccv_opi::{
    Amount, Authorisation, CardRequestType, CardServiceRequest, CardServiceResponse, CardValue, Currency,
    DeviceRequest, DeviceRequestType, DeviceResponse, Header, Message, OutDevice, Output as OpiOutput,
    OverallResult, PrivateData, Reconciliation, ReconciliationTotal, ServiceRequest, ServiceRequestType,
    ServiceResponse, Tender, TextLine,
};

use serde::{Deserialize, Serialize};

use crate::cards::{CardBehaviour, MagicOutcome, TEST_PIN, TestCard};
use crate::config::{DayState, Identity, TerminalConfig};
use crate::input::{CardEvent, Channel};
use crate::journal::{DayTotals, Journal, JournalEntry, JournalOutcome, TransactionKind};
use crate::outbox::Outbox;
use crate::output::{Event, FixedScreen, KeptScreen, Output, Screen};
use crate::random::SplitMix;
use crate::reason::WireReason;
use crate::text;
use crate::time::Timestamp;
use crate::tms;

/// The largest amount the terminal accepts, in minor units (999 999.99).
pub const MAX_AMOUNT_MINOR: u64 = 99_999_999;
/// Wrong PIN entries before the card is refused.
pub const PIN_TRIES: u8 = 3;
/// The `ApplicationSender` the terminal writes.
pub const APPLICATION_SENDER: &str = "ccv-emu-terminal";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    WaitingCard { deadline: Timestamp, auto_at: Option<Timestamp> },
    WaitingPin { card: TestCard, tries: u8, deadline: Timestamp },
    Finishing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Awaiting {
    /// The number `n` of the request, whose `RequestID` is `D{n}`.
    request_no: u64,
    deadline: Timestamp,
    printer: bool,
}

/// What the payment engine reads of the rest of the terminal for one step, and where it writes.
#[derive(Debug)]
pub(crate) struct PaymentContext<'a> {
    pub(crate) now: Timestamp,
    pub(crate) cfg: &'a TerminalConfig,
    /// The MQTT link is up (for the diagnosis).
    pub(crate) mqtt_up: bool,
    /// No menu is open.
    pub(crate) menu_idle: bool,
    pub(crate) out: &'a mut Outbox,
    /// Set when the step moves the day to another state; the caller applies it to the configuration.
    pub(crate) new_day: Option<DayState>,
}

/// The last approved payment: the only one a reversal may undo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LastApproved {
    stan: u32,
    amount: Amount,
    /// The card it was paid with (its circuit and masked PAN go on the reversal).
    card: Option<TestCard>,
}

/// The payment engine: the transaction in progress, the journal and day totals, the counters
/// (STAN, receipt and device request numbers), the POS login and the last approved payment.
#[derive(Debug, Clone)]
pub(crate) struct Payments {
    session: Option<Session>,
    journal: Journal,
    stan: u32,
    receipt_no: u32,
    device_req_no: u64,
    logged_in: bool,
    last_approved: Option<LastApproved>,
    /// The state of the random numbers (approval codes).
    rng: SplitMix,
}

/// A card transaction in progress.
#[derive(Debug, Clone)]
struct Session {
    channel: Channel,
    header: Header,
    request_type: CardRequestType,
    kind: TransactionKind,
    amount: Amount,
    allow_partial: bool,
    stan: u32,
    phase: Phase,
    queue: VecDeque<DeviceJob>,
    /// Set when the journal entry is written; the receipts are built from the journal's last entry.
    recorded: bool,
    awaiting: Option<Awaiting>,
    printer_failed: Option<String>,
    response: Option<CardServiceResponse>,
    screen: KeptScreen,
}

impl Session {
    fn next_deadline(&self) -> Option<Timestamp> {
        let phase = match &self.phase {
            Phase::WaitingCard { deadline, auto_at } => Some(auto_at.map_or(*deadline, |a| a.min(*deadline))),
            Phase::WaitingPin { deadline, .. } => Some(*deadline),
            Phase::Finishing => None,
        };
        match (phase, self.awaiting.as_ref().map(|a| a.deadline)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn screen(&self) -> &KeptScreen {
        &self.screen
    }
}

/// A device request to send; built when it is sent, so a step only pays for what it sends.
#[derive(Debug, Clone)]
enum DeviceJob {
    Outputs(Vec<OpiOutput>),
    Receipt(&'static str),
    EJournal,
}

/// What decided a transaction.
struct Decision {
    outcome: JournalOutcome,
    result: OverallResult,
    approved_minor: u64,
    card: Option<TestCard>,
    action_code: Option<&'static str>,
    rule: Cow<'static, str>,
}

impl Decision {
    fn new(
        outcome: JournalOutcome,
        result: OverallResult,
        card: Option<TestCard>,
        rule: impl Into<Cow<'static, str>>,
    ) -> Decision {
        Decision { outcome, result, approved_minor: 0, card, action_code: None, rule: rule.into() }
    }
}

fn private(rule: &str, detail: &str) -> Option<PrivateData> {
    let mut pd = String::with_capacity(7 + rule.len() + detail.len());
    pd.push_str("rule=");
    pd.push_str(rule);
    pd.push_str("; ");
    pd.push_str(detail);
    Some(PrivateData(pd))
}

/// What the payment engine keeps across a power cut: the journal and day totals, the STAN and receipt counters
/// and the last approved payment (for a reversal). Opaque: a shell stores it as it is ([`crate::NonVolatile`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    journal: Journal,
    stan: u32,
    receipt_no: u32,
    last_approved: Option<LastApproved>,
}

impl Payments {
    /// The non-volatile part.
    pub(crate) fn memory(&self) -> Memory {
        Memory {
            journal: self.journal.clone(),
            stan: self.stan,
            receipt_no: self.receipt_no,
            last_approved: self.last_approved.clone(),
        }
    }

    /// Takes back a non-volatile part (after a restart).
    pub(crate) fn restore(&mut self, m: Memory) {
        self.journal = m.journal;
        self.stan = m.stan;
        self.receipt_no = m.receipt_no;
        self.last_approved = m.last_approved;
    }

    /// Changes whenever the non-volatile part changes: journal sequence and period, STAN, receipt number.
    pub(crate) fn memory_mark(&self) -> (u64, u32, u32, u32) {
        (self.journal.next_seq(), self.journal.period(), self.stan, self.receipt_no)
    }

    /// No transaction yet, an empty journal (period 1); `seed` drives the approval codes.
    pub(crate) fn new(seed: u64) -> Payments {
        Payments {
            session: None,
            journal: Journal::new(),
            stan: 0,
            receipt_no: 0,
            device_req_no: 0,
            logged_in: false,
            last_approved: None,
            rng: SplitMix::new(seed ^ 0x9e37_79b9_7f4a_7c15),
        }
    }

    /// Whether a card transaction is in progress.
    pub(crate) fn in_transaction(&self) -> bool {
        self.session.is_some()
    }

    /// The screen of the transaction in progress.
    pub(crate) fn screen(&self) -> Option<&KeptScreen> {
        self.session.as_ref().map(Session::screen)
    }

    /// When the transaction in progress next needs the time.
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.session.as_ref().and_then(Session::next_deadline)
    }

    /// The journal and the totals of the current period.
    pub(crate) fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Closes the period (the day closed by hand, R15): its totals.
    pub(crate) fn close_period(&mut self) -> DayTotals {
        self.journal.close_period()
    }

    /// Fires every transaction timer due at `cx.now`.
    pub(crate) fn fire_timers(&mut self, cx: &mut PaymentContext<'_>) {
        // Bounded: each step either finishes a phase or moves a deadline past `now`.
        for _ in 0..16 {
            match self.next_deadline() {
                Some(d) if d <= cx.now => self.session_timer(cx),
                _ => break,
            }
        }
    }

    /// The TAS link was lost: a transaction on it ends (journal entry, no response).
    pub(crate) fn tas_link_lost(&mut self, cx: &mut PaymentContext<'_>) {
        if self.session.as_ref().is_some_and(|s| s.channel == Channel::Tas) {
            self.abort_session(cx, "tas_link_lost");
        }
    }

    /// The power goes off: a transaction ends (journal entry, no response) and the POS is logged off.
    pub(crate) fn power_off(&mut self, cx: &mut PaymentContext<'_>) {
        self.abort_session(cx, "power_off");
        self.logged_in = false;
    }

    fn next_random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    fn terminal_element(&self, cx: &PaymentContext<'_>, stan: Option<u32>) -> ccv_opi::Terminal {
        ccv_opi::Terminal {
            terminal_id: cx.cfg.identity.tms_id.clone(),
            terminal_batch: Some(text::decimal(u64::from(self.journal.period()))),
            stan: stan.map(|s| text::padded(u64::from(s), 6)),
        }
    }

    fn currency(&self, cx: &PaymentContext<'_>) -> Currency {
        Currency::new(&cx.cfg.profile.currency).unwrap_or(Currency::EUR)
    }

    fn send(&mut self, cx: &mut PaymentContext<'_>, channel: Channel, message: Message) {
        cx.out.emit(Output::SendOpi { channel, message });
    }

    fn card_reply(
        &mut self,
        cx: &mut PaymentContext<'_>,
        channel: Channel,
        req: &CardServiceRequest,
        result: OverallResult,
        rule: &str,
        detail: &str,
    ) {
        let resp = CardServiceResponse {
            header: req.header.clone(),
            request_type: req.request_type,
            overall_result: result,
            terminal: Some(self.terminal_element(cx, None)),
            tender: None,
            card_value: None,
            private_data: private(rule, detail),
        };
        self.send(cx, channel, Message::CardServiceResponse(resp));
    }

    fn service_reply(
        &mut self,
        cx: &mut PaymentContext<'_>,
        channel: Channel,
        req: &ServiceRequest,
        result: OverallResult,
        rec: Option<Reconciliation>,
        pd: Option<PrivateData>,
    ) {
        let resp = ServiceResponse {
            header: req.header.clone(),
            request_type: req.request_type,
            overall_result: result,
            terminal: Some(self.terminal_element(cx, None)),
            reconciliation: rec,
            private_data: pd,
        };
        self.send(cx, channel, Message::ServiceResponse(resp));
    }

    pub(crate) fn handle_opi(&mut self, cx: &mut PaymentContext<'_>, channel: Channel, message: Message) {
        match message {
            Message::CardServiceRequest(req) => self.card_request(cx, channel, req),
            Message::ServiceRequest(req) => self.service_request(cx, channel, req),
            Message::DeviceResponse(resp) => self.device_response(cx, resp),
            // Responses and device requests are not for the terminal to answer.
            Message::CardServiceResponse(_) | Message::ServiceResponse(_) | Message::DeviceRequest(_) => {}
        }
    }

    /// Why the terminal cannot start a transaction now, if it cannot.
    fn refuse_reason(&self, cx: &PaymentContext<'_>) -> Option<(OverallResult, &'static str, &'static str)> {
        if self.session.is_some() {
            return Some((OverallResult::Busy, "busy", "a transaction is in progress"));
        }
        if !cx.menu_idle {
            return Some((OverallResult::Busy, "busy_in_menu", "the terminal is in a menu"));
        }
        if cx.cfg.profile.require_login && !self.logged_in {
            return Some((OverallResult::Loggedout, "not_logged_in", "send a Login ServiceRequest first"));
        }
        if !cx.cfg.activated {
            return Some((OverallResult::Failure, "not_activated", "activate the terminal (R19)"));
        }
        if cx.cfg.day == DayState::ClosedByHand {
            return Some((
                OverallResult::Failure,
                "day_closed",
                "the day was closed by hand; reopen it (R19)",
            ));
        }
        None
    }

    fn card_request(&mut self, cx: &mut PaymentContext<'_>, channel: Channel, req: CardServiceRequest) {
        match req.request_type {
            CardRequestType::AbortRequest => {
                if self.abort_by_request(cx) {
                    self.card_reply(
                        cx,
                        channel,
                        &req,
                        OverallResult::Success,
                        "abort_request",
                        "the transaction in progress was aborted",
                    );
                } else {
                    self.card_reply(
                        cx,
                        channel,
                        &req,
                        OverallResult::Failure,
                        "nothing_to_abort",
                        "no transaction can be aborted now",
                    );
                }
                return;
            }
            CardRequestType::CardReservation | CardRequestType::TicketReprint => {
                self.card_reply(
                    cx,
                    channel,
                    &req,
                    OverallResult::Failure,
                    "unsupported_request_type",
                    "this terminal supports CardPayment, PaymentRefund, PaymentReversal and AbortRequest",
                );
                return;
            }
            CardRequestType::CardPayment
            | CardRequestType::PaymentRefund
            | CardRequestType::PaymentReversal => {}
        }
        if let Some((result, rule, detail)) = self.refuse_reason(cx) {
            self.card_reply(cx, channel, &req, result, rule, detail);
            return;
        }
        let currency = self.currency(cx);
        let amount = match (req.total_amount, req.request_type) {
            (None, CardRequestType::PaymentReversal) => None,
            (None, _) => {
                self.card_reply(
                    cx,
                    channel,
                    &req,
                    OverallResult::MissingMandatoryData,
                    "missing_total_amount",
                    "TotalAmount is mandatory for CardPayment and PaymentRefund",
                );
                return;
            }
            (Some(a), _) if a.currency != currency => {
                self.card_reply(
                    cx,
                    channel,
                    &req,
                    OverallResult::ValidationError,
                    "wrong_currency",
                    "the terminal accepts only its own currency",
                );
                return;
            }
            (Some(a), _) if a.minor_units == 0 || a.minor_units > MAX_AMOUNT_MINOR => {
                self.card_reply(
                    cx,
                    channel,
                    &req,
                    OverallResult::ValidationError,
                    "amount_out_of_range",
                    "TotalAmount must be between 0.01 and 999999.99",
                );
                return;
            }
            (Some(a), _) => Some(a),
        };
        if cx.cfg.day == DayState::ClosedByPos {
            // A day closed by the POS reopens with the next transaction (R19: only a day closed by
            // hand needs a hand to reopen it).
            cx.new_day = Some(DayState::Open);
        }
        if req.request_type == CardRequestType::PaymentReversal {
            self.reversal(cx, channel, req, amount);
            return;
        }
        let stan = self.next_stan();
        // Invariant: `amount` is Some for CardPayment and PaymentRefund (checked above).
        let Some(amount) = amount else { return };
        let kind = if req.request_type == CardRequestType::CardPayment {
            TransactionKind::Payment
        } else {
            TransactionKind::Refund
        };
        let allow_partial = req
            .private_data
            .as_ref()
            .is_some_and(|p| p.0.to_ascii_lowercase().replace(' ', "").contains("partialauthorisation=true"));
        let magic = self.magic(cx, amount);
        let p = &cx.cfg.profile;
        let auto_at = match (p.auto_card_after_ms, magic) {
            (_, MagicOutcome::NoCard) | (None, _) => None,
            (Some(ms), _) => Some(cx.now.plus_millis(ms)),
        };
        let deadline = cx.now.plus_millis(p.card_timeout_ms);
        let bedrag = text::amount_text("BEDRAG ", amount, "");
        let screen = Screen::new(
            [bedrag.clone(), "PRESENTEER KAART".to_owned()],
            text::amount_text("amount ", amount, ": present card"),
        );
        self.session = Some(Session {
            channel,
            header: req.header,
            request_type: req.request_type,
            kind,
            amount,
            allow_partial,
            stan,
            phase: Phase::WaitingCard { deadline, auto_at },
            queue: VecDeque::new(),
            recorded: false,
            awaiting: None,
            printer_failed: None,
            response: None,
            screen: KeptScreen::Owned(screen),
        });
        self.queue_display(
            vec![TextLine::new(text::amount_text("AMOUNT ", amount, "")), TextLine::new("PRESENT CARD")],
            vec![TextLine::new(bedrag), TextLine::new("PRESENTEER KAART")],
        );
        self.pump(cx);
    }

    fn magic(&self, cx: &PaymentContext<'_>, amount: Amount) -> MagicOutcome {
        if cx.cfg.profile.magic_amounts {
            MagicOutcome::for_minor_units(amount.minor_units)
        } else {
            MagicOutcome::Approve
        }
    }

    fn next_stan(&mut self) -> u32 {
        self.stan = self.stan % 999_999 + 1;
        self.stan
    }

    fn reversal(
        &mut self,
        cx: &mut PaymentContext<'_>,
        channel: Channel,
        req: CardServiceRequest,
        amount: Option<Amount>,
    ) {
        let refuse = |t: &mut Payments, cx: &mut PaymentContext<'_>, rule: &str, detail: &str| {
            t.card_reply(cx, channel, &req, OverallResult::Failure, rule, detail);
        };
        let Some(last) = self.last_approved.clone() else {
            return refuse(
                self,
                cx,
                "reversal_nothing_to_reverse",
                "only the last approved payment can be reversed, and there is none",
            );
        };
        if let Some(a) = amount
            && a != last.amount
        {
            return refuse(
                self,
                cx,
                "reversal_amount_mismatch",
                "a reversal must name the same amount as the last approved payment",
            );
        }
        if let Some(orig) = req.original_transaction.as_ref().and_then(|o| o.stan.as_ref())
            && orig.trim().parse::<u32>().ok() != Some(last.stan)
        {
            return refuse(
                self,
                cx,
                "reversal_not_last_transaction",
                "only the last approved transaction can be reversed",
            );
        }
        let stan = self.next_stan();
        let amount_text = text::amount_text("", last.amount, "");
        self.session = Some(Session {
            channel,
            header: req.header,
            request_type: req.request_type,
            kind: TransactionKind::Reversal,
            amount: last.amount,
            allow_partial: false,
            stan,
            phase: Phase::Finishing,
            queue: VecDeque::new(),
            recorded: false,
            awaiting: None,
            printer_failed: None,
            response: None,
            screen: KeptScreen::Owned(Screen::new(
                ["ANNULERING".to_owned(), amount_text],
                text::amount_text("reversal of ", last.amount, ""),
            )),
        });
        let d = Decision {
            outcome: JournalOutcome::Approved,
            result: OverallResult::Success,
            approved_minor: last.amount.minor_units,
            card: None,
            action_code: Some("00"),
            rule: Cow::Borrowed("reversal_of_last_payment"),
        };
        self.finish(cx, d, Some(last));
    }

    fn queue_display(&mut self, cashier: Vec<TextLine>, customer: Vec<TextLine>) {
        let outputs = vec![
            OpiOutput { out_device_target: OutDevice::CashierDisplay, text_lines: cashier },
            OpiOutput { out_device_target: OutDevice::CustomerDisplay, text_lines: customer },
        ];
        self.queue_device(outputs);
    }

    fn queue_device(&mut self, outputs: Vec<OpiOutput>) {
        if let Some(s) = self.session.as_mut() {
            s.queue.push_back(DeviceJob::Outputs(outputs));
        }
    }

    /// Sends the next device request, or the final response when all are answered.
    fn pump(&mut self, cx: &mut PaymentContext<'_>) {
        let device_timeout = cx.cfg.profile.device_timeout_ms;
        let now = cx.now;
        let Some(s) = self.session.as_mut() else { return };
        if s.awaiting.is_some() {
            return;
        }
        if let Some(job) = s.queue.pop_front() {
            // Invariant: nothing is journalled between `finish` and the end of the session, so the
            // journal's last entry is this session's.
            let record = if s.recorded { self.journal.last() } else { None };
            let outputs = match (job, record) {
                (DeviceJob::Outputs(o), _) => o,
                (DeviceJob::Receipt(copy), Some(e)) => vec![OpiOutput {
                    out_device_target: OutDevice::Printer,
                    text_lines: receipt_lines(&cx.cfg.identity, e, copy),
                }],
                (DeviceJob::EJournal, Some(e)) => {
                    let text =
                        format!("{} {:?} {} STAN {:06} {}", e.time, e.kind, e.approved, e.stan, e.rule);
                    vec![OpiOutput {
                        out_device_target: OutDevice::EJournal,
                        text_lines: vec![TextLine::new(text)],
                    }]
                }
                // Invariant: receipt and EJournal jobs are queued together with `record` in `finish`.
                (_, None) => Vec::new(),
            };
            self.device_req_no += 1;
            let req = DeviceRequest {
                header: Header {
                    application_sender: Some(APPLICATION_SENDER.to_owned()),
                    workstation_id: s.header.workstation_id.clone(),
                    pop_id: s.header.pop_id.clone(),
                    request_id: {
                        let mut id = String::with_capacity(21);
                        id.push('D');
                        text::push_u64(&mut id, self.device_req_no);
                        id
                    },
                },
                request_type: DeviceRequestType::Output,
                outputs,
                input: None,
                private_data: None,
            };
            let printer = req
                .outputs
                .iter()
                .any(|o| matches!(o.out_device_target, OutDevice::Printer | OutDevice::PrinterReceipt));
            s.awaiting = Some(Awaiting {
                request_no: self.device_req_no,
                deadline: now.plus_millis(device_timeout),
                printer,
            });
            let ch = s.channel.device_channel();
            self.send(cx, ch, Message::DeviceRequest(req));
            return;
        }
        if s.phase == Phase::Finishing {
            // Invariant: a session in `Finishing` always holds its response (set in `finish`).
            let Some(s) = self.session.take() else { return };
            if let Some(mut resp) = s.response {
                resp.header = s.header;
                if let Some(p) = &s.printer_failed {
                    let pd = resp.private_data.take().map(|p| p.0).unwrap_or_default();
                    resp.private_data = Some(PrivateData(format!(
                        "{pd}; printer={p} (receipt not printed, transaction kept)"
                    )));
                }
                self.send(cx, s.channel, Message::CardServiceResponse(resp));
            }
        }
    }

    fn device_response(&mut self, cx: &mut PaymentContext<'_>, resp: DeviceResponse) {
        let Some(s) = self.session.as_mut() else { return };
        let Some(a) = &s.awaiting else { return };
        if !is_device_request_id(&resp.header.request_id, a.request_no) {
            return;
        }
        if a.printer {
            let failed = resp
                .outputs
                .iter()
                .find(|o| !o.out_result.is_success())
                .map(|o| o.out_result.clone())
                .or_else(|| (!resp.overall_result.is_success()).then(|| resp.overall_result.clone()));
            if let Some(f) = failed {
                s.printer_failed = Some(f.to_string());
            }
        }
        s.awaiting = None;
        self.pump(cx);
    }

    fn session_timer(&mut self, cx: &mut PaymentContext<'_>) {
        let now = cx.now;
        let Some(s) = self.session.as_mut() else { return };
        if let Some(a) = &s.awaiting
            && a.deadline <= now
        {
            if a.printer {
                s.printer_failed = Some(OverallResult::TimedOut.to_string());
            }
            s.awaiting = None;
            self.pump(cx);
            return;
        }
        let amount = s.amount;
        match s.phase.clone() {
            Phase::WaitingCard { auto_at: Some(at), deadline } if at <= now && at <= deadline => {
                s.phase = Phase::WaitingCard { deadline, auto_at: None };
                self.auto_card(cx, amount);
            }
            Phase::WaitingCard { deadline, .. } if deadline <= now => {
                let rule = if self.magic(cx, amount) == MagicOutcome::NoCard {
                    MagicOutcome::NoCard.rule()
                } else {
                    "card_timeout"
                };
                self.finish(
                    cx,
                    Decision::new(JournalOutcome::TimedOut, OverallResult::TimedOut, None, rule),
                    None,
                );
            }
            Phase::WaitingPin { card, deadline, .. } if deadline <= now => {
                self.finish(
                    cx,
                    Decision::new(
                        JournalOutcome::TimedOut,
                        OverallResult::TimedOut,
                        Some(card),
                        "pin_timeout",
                    ),
                    None,
                );
            }
            _ => {
                // Not due: cannot happen as the caller checks `next_deadline`; make sure the loop
                // there ends anyway.
                if let Some(s) = self.session.as_mut()
                    && let Some(d) = s.next_deadline()
                    && d <= now
                {
                    s.phase = Phase::Finishing;
                    s.awaiting = None;
                    s.queue.clear();
                }
            }
        }
    }

    /// No card event came: the magic amounts table decides.
    fn auto_card(&mut self, cx: &mut PaymentContext<'_>, amount: Amount) {
        let magic = self.magic(cx, amount);
        let allow_partial = self.session.as_ref().is_some_and(|s| s.allow_partial);
        let rule = magic.rule();
        let card = Some(TestCard::Maestro);
        let d = match magic {
            MagicOutcome::Approve => return self.card_decision(cx, TestCard::Maestro, Cow::Borrowed(rule)),
            MagicOutcome::Decline => Decision {
                action_code: Some("05"),
                ..Decision::new(JournalOutcome::Declined, OverallResult::Failure, card, rule)
            },
            MagicOutcome::WrongPin => Decision {
                action_code: Some("75"),
                ..Decision::new(JournalOutcome::Declined, OverallResult::Failure, card, rule)
            },
            MagicOutcome::CustomerCancel => {
                Decision::new(JournalOutcome::Aborted, OverallResult::Aborted, None, rule)
            }
            MagicOutcome::NoCard => {
                Decision::new(JournalOutcome::TimedOut, OverallResult::TimedOut, None, rule)
            }
            MagicOutcome::CardRemoved => {
                Decision::new(JournalOutcome::Aborted, OverallResult::Aborted, card, rule)
            }
            MagicOutcome::HostUnreachable => Decision::new(
                JournalOutcome::CommunicationError,
                OverallResult::CommunicationError,
                card,
                rule,
            ),
            MagicOutcome::PartialApproval => partial(amount, allow_partial, card, Cow::Borrowed(rule)),
        };
        self.finish(cx, d, None);
    }

    /// A card was read (and its PIN, if any, was right): its behaviour decides.
    fn card_decision(&mut self, cx: &mut PaymentContext<'_>, card: TestCard, rule: Cow<'static, str>) {
        let Some(s) = self.session.as_ref() else { return };
        let (amount, allow_partial) = (s.amount, s.allow_partial);
        let d = match card.behaviour() {
            CardBehaviour::Approve => Decision {
                approved_minor: amount.minor_units,
                action_code: Some("00"),
                ..Decision::new(JournalOutcome::Approved, OverallResult::Success, Some(card), rule)
            },
            CardBehaviour::Decline("51") => partial(amount, allow_partial, Some(card), rule),
            CardBehaviour::Decline(code) => Decision {
                action_code: Some(code),
                ..Decision::new(JournalOutcome::Declined, OverallResult::Failure, Some(card), rule)
            },
            CardBehaviour::HostUnreachable => Decision::new(
                JournalOutcome::CommunicationError,
                OverallResult::CommunicationError,
                Some(card),
                rule,
            ),
        };
        self.finish(cx, d, None);
    }

    pub(crate) fn handle_card(&mut self, cx: &mut PaymentContext<'_>, e: CardEvent) {
        let now = cx.now;
        let pin_timeout = cx.cfg.profile.pin_timeout_ms;
        let Some(s) = self.session.as_mut() else { return };
        match (e, s.phase.clone()) {
            (CardEvent::Presented(card), Phase::WaitingCard { .. }) => {
                if card.needs_pin() {
                    s.phase = Phase::WaitingPin { card, tries: 0, deadline: now.plus_millis(pin_timeout) };
                    s.screen =
                        KeptScreen::Fixed(FixedScreen::two(card.circuit(), "VOER PINCODE IN", "enter PIN"));
                    self.queue_display(
                        vec![TextLine::new("ENTER PIN")],
                        vec![TextLine::new("VOER PINCODE IN")],
                    );
                    self.pump(cx);
                } else {
                    self.card_decision(cx, card, Cow::Owned(format!("test_card_{}", card.name())));
                }
            }
            (CardEvent::Pin(pin), Phase::WaitingPin { card, tries, deadline }) => {
                if pin == TEST_PIN {
                    self.card_decision(cx, card, Cow::Owned(format!("test_card_{}", card.name())));
                } else if tries + 1 >= PIN_TRIES {
                    let d = Decision {
                        action_code: Some("75"),
                        ..Decision::new(
                            JournalOutcome::Declined,
                            OverallResult::Failure,
                            Some(card),
                            "wrong_pin_three_times",
                        )
                    };
                    self.finish(cx, d, None);
                } else {
                    s.phase = Phase::WaitingPin { card, tries: tries + 1, deadline };
                    s.screen = KeptScreen::Fixed(FixedScreen::two(
                        "PINCODE ONJUIST",
                        "VOER PINCODE IN",
                        "wrong PIN: enter PIN again",
                    ));
                }
            }
            (CardEvent::Removed, Phase::WaitingPin { card, .. }) => {
                self.finish(
                    cx,
                    Decision::new(
                        JournalOutcome::Aborted,
                        OverallResult::Aborted,
                        Some(card),
                        "card_removed",
                    ),
                    None,
                );
            }
            (CardEvent::CustomerCancel, Phase::WaitingCard { .. }) => {
                self.finish(
                    cx,
                    Decision::new(JournalOutcome::Aborted, OverallResult::Aborted, None, "customer_cancel"),
                    None,
                );
            }
            (CardEvent::CustomerCancel, Phase::WaitingPin { card, .. }) => {
                self.finish(
                    cx,
                    Decision::new(
                        JournalOutcome::Aborted,
                        OverallResult::Aborted,
                        Some(card),
                        "customer_cancel",
                    ),
                    None,
                );
            }
            // Events that do not fit the phase change nothing.
            _ => {}
        }
    }

    /// An AbortRequest: aborts a transaction still waiting for card or PIN.
    fn abort_by_request(&mut self, cx: &mut PaymentContext<'_>) -> bool {
        let card = match self.session.as_ref().map(|s| &s.phase) {
            Some(Phase::WaitingCard { .. }) => None,
            Some(Phase::WaitingPin { card, .. }) => Some(*card),
            _ => return false,
        };
        self.finish(
            cx,
            Decision::new(JournalOutcome::Aborted, OverallResult::Aborted, card, "abort_request"),
            None,
        );
        true
    }

    /// Ends a transaction that cannot answer any more (link lost, power off): journal, no response.
    fn abort_session(&mut self, cx: &mut PaymentContext<'_>, rule: &'static str) {
        let Some(s) = self.session.as_ref() else { return };
        if s.phase != Phase::Finishing {
            let mut d = Decision::new(JournalOutcome::Aborted, OverallResult::Aborted, None, rule);
            if let Some(entry) = self.journal_entry(cx, &mut d, None, None) {
                cx.out.emit(Output::Journal(entry));
            }
        }
        self.session = None;
    }

    fn journal_entry(
        &mut self,
        cx: &mut PaymentContext<'_>,
        d: &mut Decision,
        receipt: Option<u32>,
        approval: Option<String>,
    ) -> Option<JournalEntry> {
        let s = self.session.as_ref()?;
        let reverses = (s.kind == TransactionKind::Reversal)
            .then(|| self.last_approved.as_ref().map(|l| l.stan))
            .flatten();
        let e = JournalEntry {
            seq: 0,
            period: 0,
            kind: s.kind,
            outcome: d.outcome,
            requested: s.amount,
            approved: Amount::new(d.approved_minor, s.amount.currency),
            card_circuit: d.card.map(|c| c.circuit().to_owned()),
            card_pan: d.card.map(TestCard::masked_pan),
            stan: s.stan,
            receipt_number: receipt,
            approval_code: approval,
            reverses_stan: reverses,
            time: cx.now.to_opi_local(),
            rule: std::mem::take(&mut d.rule).into_owned(),
            request_id: s.header.request_id.clone(),
        };
        Some(self.journal.record(e))
    }

    /// Decides the transaction: journal entry first, then displays, receipts and the response.
    fn finish(&mut self, cx: &mut PaymentContext<'_>, mut d: Decision, reversed: Option<LastApproved>) {
        let Some(s) = self.session.as_ref() else { return };
        let kind = s.kind;
        let (amount, stan) = (s.amount, s.stan);
        if let Some(r) = &reversed {
            // The reversal re-uses the reversed payment's card data: in its journal entry (so the day totals
            // book it under that card circuit), its receipts and its response.
            d.card = r.card;
        }
        let approved = d.outcome.is_approved();
        let receipt = (d.card.is_some() || reversed.is_some()).then(|| {
            self.receipt_no = self.receipt_no.wrapping_add(1);
            self.receipt_no
        });
        let approval = approved.then(|| text::hex6(self.next_random()));
        let Some(entry) = self.journal_entry(cx, &mut d, receipt, approval) else { return };
        match (kind, approved) {
            (TransactionKind::Payment, true) => {
                self.last_approved = Some(LastApproved {
                    stan,
                    amount: Amount::new(d.approved_minor, amount.currency),
                    card: d.card,
                });
            }
            (TransactionKind::Refund | TransactionKind::Reversal, true) => self.last_approved = None,
            _ => {}
        }
        let (cashier, customer, gloss) = match d.outcome {
            JournalOutcome::Approved => ("APPROVED", "BETALING GESLAAGD", "approved"),
            JournalOutcome::PartiallyApproved => {
                ("PARTIALLY APPROVED", "DEELS GOEDGEKEURD", "partially approved")
            }
            JournalOutcome::Declined => ("DECLINED", "GEWEIGERD", "declined"),
            JournalOutcome::Aborted => ("ABORTED", "AFGEBROKEN", "aborted"),
            JournalOutcome::TimedOut => ("TIMED OUT", "TIME-OUT", "timed out"),
            JournalOutcome::CommunicationError => ("HOST UNREACHABLE", "GEEN VERBINDING", "host unreachable"),
        };
        // The response's parts that copy the entry are built before the entry itself goes out
        // (moved, not cloned); nothing is emitted in between, so the output order is unchanged.
        let tender = (receipt.is_some() || approved).then(|| Tender {
            total_amount: Some(Amount::new(d.approved_minor, amount.currency)),
            authorisation: Some(Authorisation {
                acquirer_id: Some("CCV-EMU".to_owned()),
                card_pan: entry.card_pan.clone(),
                card_circuit: entry.card_circuit.clone(),
                authorisation_type: Some("Online".to_owned()),
                approval_code: entry.approval_code.clone(),
                receipt_number: receipt.map(|r| text::decimal(u64::from(r))),
                time_stamp: Some(entry.time.clone()),
                action_code: d.action_code.map(str::to_owned),
            }),
        });
        let card_value = d.card.map(|c| CardValue {
            card_circuit: Some(c.circuit().to_owned()),
            card_pan: entry.card_pan.clone(),
            expiry_date: None,
        });
        let private_data = {
            let detail = match d.outcome {
                JournalOutcome::PartiallyApproved => "partial approval: ",
                JournalOutcome::Approved => "outcome=approved",
                JournalOutcome::Declined => "outcome=declined",
                JournalOutcome::Aborted => "outcome=aborted",
                JournalOutcome::TimedOut => "outcome=timed_out",
                JournalOutcome::CommunicationError => "outcome=communication_error",
            };
            let mut pd = String::with_capacity(7 + entry.rule.len() + detail.len() + 44);
            pd.push_str("rule=");
            pd.push_str(&entry.rule);
            pd.push_str("; ");
            pd.push_str(detail);
            if d.outcome == JournalOutcome::PartiallyApproved {
                text::push_u64(&mut pd, d.approved_minor);
                pd.push_str(" of ");
                text::push_u64(&mut pd, amount.minor_units);
            }
            PrivateData(pd)
        };
        cx.out.emit(Output::Journal(entry));
        let approved_text = text::amount_text("", Amount::new(d.approved_minor, amount.currency), "");
        self.queue_display(
            vec![TextLine::new(cashier), TextLine::new(approved_text.clone())],
            vec![TextLine::new(customer), TextLine::new(approved_text)],
        );
        let terminal = self.terminal_element(cx, Some(stan));
        let Some(s) = self.session.as_mut() else { return };
        s.recorded = true;
        if receipt.is_some() {
            s.queue.push_back(DeviceJob::Receipt("KLANTENTICKET"));
            s.queue.push_back(DeviceJob::Receipt("HANDELARENTICKET"));
        }
        s.queue.push_back(DeviceJob::EJournal);
        s.response = Some(CardServiceResponse {
            // The session's header goes in when the response is sent (`pump`); the device
            // requests until then still need it.
            header: Header::default(),
            request_type: s.request_type,
            overall_result: d.result,
            terminal: Some(terminal),
            tender,
            card_value,
            private_data: Some(private_data),
        });
        s.phase = Phase::Finishing;
        s.screen = KeptScreen::Fixed(FixedScreen::one(customer, gloss));
        self.pump(cx);
    }
}

/// The lines of a customer or merchant receipt.
fn receipt_lines(id: &Identity, e: &JournalEntry, copy: &str) -> Vec<TextLine> {
    {
        let mut lines = vec![
            id.merchant_name.clone(),
            id.merchant_city.clone(),
            format!("Terminal: {}", id.tms_id),
            format!("Merchant: {}", id.merchant_number),
            format!("Periode: {}  Transactie: {:06}", e.period, e.stan),
            match e.kind {
                TransactionKind::Payment => "BETALING".to_owned(),
                TransactionKind::Refund => "TERUGBETALING".to_owned(),
                TransactionKind::Reversal => "ANNULERING".to_owned(),
            },
        ];
        if let Some(c) = &e.card_circuit {
            lines.push(c.clone());
        }
        if let Some(p) = &e.card_pan {
            lines.push(format!("Kaart: {p}"));
        }
        lines.push(format!("Datum: {}", e.time));
        if let Some(a) = &e.approval_code {
            lines.push(format!("Autorisatiecode: {a}"));
        }
        if let Some(r) = e.receipt_number {
            lines.push(format!("Ticket: {r}"));
        }
        lines.push(format!("Totaal: {}", e.approved));
        lines.push(if e.outcome.is_approved() {
            "TRANSACTIE GESLAAGD".to_owned()
        } else {
            "TRANSACTIE MISLUKT".to_owned()
        });
        lines.push(format!("Regel: {}", e.rule));
        lines.push(copy.to_owned());
        lines.into_iter().map(TextLine::new).collect()
    }
}

impl Payments {
    fn service_request(&mut self, cx: &mut PaymentContext<'_>, channel: Channel, req: ServiceRequest) {
        if req.request_type == ServiceRequestType::AbortRequest {
            let ok = self.abort_by_request(cx);
            let r = if ok { OverallResult::Success } else { OverallResult::Failure };
            let pd = if ok {
                private("abort_request", "aborted")
            } else {
                private("nothing_to_abort", "no transaction can be aborted now")
            };
            return self.service_reply(cx, channel, &req, r, None, pd);
        }
        if self.session.is_some() {
            return self.service_reply(
                cx,
                channel,
                &req,
                OverallResult::Busy,
                None,
                private("busy", "a transaction is in progress"),
            );
        }
        match req.request_type {
            ServiceRequestType::Login => {
                self.logged_in = true;
                self.service_reply(cx, channel, &req, OverallResult::Success, None, None);
            }
            ServiceRequestType::Logoff => {
                self.logged_in = false;
                self.service_reply(cx, channel, &req, OverallResult::Success, None, None);
            }
            ServiceRequestType::Reconciliation | ServiceRequestType::ReconciliationWithClosure => {
                let closing = req.request_type == ServiceRequestType::ReconciliationWithClosure;
                let totals =
                    if closing { self.journal.close_period() } else { self.journal.totals().clone() };
                let currency = self.currency(cx);
                let mut lines = Vec::new();
                for c in &totals.circuits {
                    if c.payments > 0 {
                        lines.push(ReconciliationTotal {
                            card_circuit: Some(c.card_circuit.clone()),
                            payment_type: Some("Debit".to_owned()),
                            number_payments: Some(c.payments),
                            amount: Amount::new(c.payments_minor, currency),
                        });
                    }
                    if c.credits > 0 {
                        lines.push(ReconciliationTotal {
                            card_circuit: Some(c.card_circuit.clone()),
                            payment_type: Some("Credit".to_owned()),
                            number_payments: Some(c.credits),
                            amount: Amount::new(c.credits_minor, currency),
                        });
                    }
                }
                if closing {
                    if cx.cfg.day != DayState::ClosedByHand {
                        cx.new_day = Some(DayState::ClosedByPos);
                    }
                    cx.out.publish(Event::DayClosed { by_hand: false });
                }
                let pd = PrivateData(format!("period={}; net={}", totals.period, totals.net_minor));
                let rec = Reconciliation { language_code: None, totals: lines };
                self.service_reply(cx, channel, &req, OverallResult::Success, Some(rec), Some(pd));
            }
            ServiceRequestType::Diagnosis => {
                let d = tms::diagnosis(cx.cfg, cx.mqtt_up);
                let names: Vec<&str> = d.iter().map(|r| r.as_str()).collect();
                let r = if d.is_empty() { OverallResult::Success } else { OverallResult::Failure };
                let pd = PrivateData(format!(
                    "diagnosis={}",
                    if names.is_empty() { "ok".to_owned() } else { names.join(",") }
                ));
                self.service_reply(cx, channel, &req, r, None, Some(pd));
            }
            ServiceRequestType::GetLastTransactionStatus => {
                let pd = match self.journal.last() {
                    Some(e) => {
                        let mut pd = format!(
                            "last_stan={:06}; kind={:?}; outcome={:?}; approved={}; rule={}",
                            e.stan, e.kind, e.outcome, e.approved.minor_units, e.rule
                        )
                        .to_lowercase();
                        // The POS's id as it sent it (not lower-cased): how it recognises its transaction.
                        pd.push_str("; request_id=");
                        pd.push_str(&e.request_id);
                        pd
                    }
                    None => "last=none".to_owned(),
                };
                self.service_reply(cx, channel, &req, OverallResult::Success, None, Some(PrivateData(pd)));
            }
            ServiceRequestType::AbortRequest => {}
        }
    }
}

/// Whether `id` is `D{no}` (`no` in decimal, as the terminal writes it).
fn is_device_request_id(id: &str, no: u64) -> bool {
    // Digits only, no leading zero (but `0` itself): of the texts `parse` maps to `no`, the one
    // `D{no}` writes.
    id.strip_prefix('D').is_some_and(|n| {
        n.bytes().all(|b| b.is_ascii_digit())
            && (n.len() == 1 || !n.starts_with('0'))
            && n.parse::<u64>() == Ok(no)
    })
}

fn partial(amount: Amount, allow: bool, card: Option<TestCard>, rule: Cow<'static, str>) -> Decision {
    if allow {
        let half = (amount.minor_units / 2).max(1);
        Decision {
            approved_minor: half,
            action_code: Some("10"),
            ..Decision::new(JournalOutcome::PartiallyApproved, OverallResult::Success, card, rule)
        }
    } else {
        Decision {
            action_code: Some("51"),
            ..Decision::new(JournalOutcome::Declined, OverallResult::Failure, card, rule)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_device_request_id;

    #[test]
    fn device_request_ids_match_as_the_written_text() {
        for no in [0u64, 1, 7, 10, 42, 999, 1_000_000, u64::MAX] {
            assert!(is_device_request_id(&format!("D{no}"), no), "{no}");
            for other in
                [format!("D0{no}"), format!("D+{no}"), format!("d{no}"), format!("D{no} "), format!("{no}")]
            {
                assert!(!is_device_request_id(&other, no), "{other:?}");
            }
            assert!(!is_device_request_id(&format!("D{}", no.wrapping_add(1)), no));
        }
        assert!(!is_device_request_id("D", 0));
        assert!(!is_device_request_id("D18446744073709551616", 0));
    }
}
