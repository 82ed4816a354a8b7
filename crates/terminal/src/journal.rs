//! The journal: every finished card transaction, and the day totals computed from it.

use std::collections::VecDeque;

use ccv_opi::{Amount, CardPan, TimeStamp};
use serde::{Deserialize, Serialize};

/// Entries kept in memory; older ones are dropped (totals are kept separately, so they stay right).
pub const JOURNAL_CAPACITY: usize = 10_000;

/// What kind of transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    /// A payment (CardPayment).
    Payment,
    /// A refund (PaymentRefund).
    Refund,
    /// A reversal of the last payment (PaymentReversal).
    Reversal,
}

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalOutcome {
    /// Approved in full.
    Approved,
    /// Approved for part of the amount.
    PartiallyApproved,
    /// Declined by the (simulated) issuer, or refused by the terminal.
    Declined,
    /// Aborted (customer, card removed, abort request, link lost, power off).
    Aborted,
    /// No card or PIN within the time-out.
    TimedOut,
    /// The (simulated) host was unreachable.
    CommunicationError,
}

impl JournalOutcome {
    /// `true` when money moved.
    pub fn is_approved(self) -> bool {
        matches!(self, JournalOutcome::Approved | JournalOutcome::PartiallyApproved)
    }
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Sequence number, from 1.
    pub seq: u64,
    /// The period (day) number, from 1; increases at each day close.
    pub period: u32,
    /// What kind of transaction.
    pub kind: TransactionKind,
    /// How it ended.
    pub outcome: JournalOutcome,
    /// The amount asked for.
    pub requested: Amount,
    /// The amount approved (0 unless approved).
    pub approved: Amount,
    /// Card circuit (`MAESTRO`, `VISA`, ...), when a card was read.
    pub card_circuit: Option<String>,
    /// Masked PAN, when a card was read.
    pub card_pan: Option<CardPan>,
    /// The terminal's trace number.
    pub stan: u32,
    /// The receipt number.
    pub receipt_number: Option<u32>,
    /// The approval code, when approved.
    pub approval_code: Option<String>,
    /// For a reversal: the STAN of the payment reversed.
    pub reverses_stan: Option<u32>,
    /// When.
    pub time: TimeStamp,
    /// The rule that decided the outcome (e.g. `magic_amount_51`, `test_card_visa_declined`).
    pub rule: String,
    /// The OPI `RequestID` of the POS's request (so a POS that lost the response can recognise its transaction
    /// in `GetLastTransactionStatus`).
    #[serde(default)]
    pub request_id: String,
}

impl JournalEntry {
    /// This entry's signed effect on the day total, in minor units: approved payments count
    /// positive, approved refunds and reversals negative.
    pub fn signed_minor(&self) -> i128 {
        if !self.outcome.is_approved() {
            return 0;
        }
        let v = i128::from(self.approved.minor_units);
        match self.kind {
            TransactionKind::Payment => v,
            TransactionKind::Refund | TransactionKind::Reversal => -v,
        }
    }
}

/// Totals of one card circuit in the current period.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CircuitTotal {
    /// Card circuit.
    pub card_circuit: String,
    /// Approved payments (count).
    pub payments: u32,
    /// Approved payments (minor units).
    pub payments_minor: u64,
    /// Approved refunds and reversals (count).
    pub credits: u32,
    /// Approved refunds and reversals (minor units).
    pub credits_minor: u64,
}

/// Totals of the current period.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DayTotals {
    /// The period number.
    pub period: u32,
    /// Net total: approved payments − refunds − reversals, in minor units.
    pub net_minor: i128,
    /// Per card circuit, sorted by name.
    pub circuits: Vec<CircuitTotal>,
}

/// The journal and the running totals of the current period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    entries: VecDeque<JournalEntry>,
    next_seq: u64,
    period: u32,
    totals: DayTotals,
}

impl Journal {
    /// An empty journal, period 1.
    pub fn new() -> Journal {
        Journal {
            entries: VecDeque::new(),
            next_seq: 1,
            period: 1,
            totals: DayTotals { period: 1, ..DayTotals::default() },
        }
    }

    /// The current period number.
    pub fn period(&self) -> u32 {
        self.period
    }

    /// The next sequence number.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Adds an entry (its `seq` and `period` are set here) and returns it.
    pub fn record(&mut self, mut e: JournalEntry) -> JournalEntry {
        e.seq = self.next_seq;
        e.period = self.period;
        self.next_seq += 1;
        if e.outcome.is_approved() {
            self.totals.net_minor += e.signed_minor();
            let circuit = e.card_circuit.as_deref().unwrap_or("ONBEKEND");
            let idx = match self.totals.circuits.binary_search_by(|c| c.card_circuit.as_str().cmp(circuit)) {
                Ok(i) => i,
                Err(i) => {
                    self.totals
                        .circuits
                        .insert(i, CircuitTotal { card_circuit: circuit.to_owned(), ..Default::default() });
                    i
                }
            };
            let c = &mut self.totals.circuits[idx];
            match e.kind {
                TransactionKind::Payment => {
                    c.payments = c.payments.saturating_add(1);
                    c.payments_minor = c.payments_minor.saturating_add(e.approved.minor_units);
                }
                TransactionKind::Refund | TransactionKind::Reversal => {
                    c.credits = c.credits.saturating_add(1);
                    c.credits_minor = c.credits_minor.saturating_add(e.approved.minor_units);
                }
            }
        }
        if self.entries.len() == JOURNAL_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(e.clone());
        e
    }

    /// The totals of the current period.
    pub fn totals(&self) -> &DayTotals {
        &self.totals
    }

    /// Closes the period: returns its totals and starts the next one.
    pub fn close_period(&mut self) -> DayTotals {
        self.period = self.period.wrapping_add(1).max(1);
        std::mem::replace(&mut self.totals, DayTotals { period: self.period, ..DayTotals::default() })
    }

    /// The entries kept, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &JournalEntry> {
        self.entries.iter()
    }

    /// The last entry.
    pub fn last(&self) -> Option<&JournalEntry> {
        self.entries.back()
    }
}
