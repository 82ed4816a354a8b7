//! The TAS's own vocabulary: the conversations it can run and what they produce, as the HTTP API shows them.

use serde::{Deserialize, Serialize};

/// A conversation the TAS runs with a terminal, as the POS side.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobKind {
    /// `CardServiceRequest RequestType="CardPayment"`.
    Payment {
        /// Amount in minor units.
        amount_minor: u64,
        /// ISO 4217 code.
        currency: String,
    },
    /// `CardServiceRequest RequestType="PaymentRefund"`.
    Refund {
        /// Amount in minor units.
        amount_minor: u64,
        /// ISO 4217 code.
        currency: String,
    },
    /// `CardServiceRequest RequestType="PaymentReversal"` of an earlier transaction.
    Reversal {
        /// Amount in minor units.
        amount_minor: u64,
        /// ISO 4217 code.
        currency: String,
        /// STAN or reference of the original transaction, when known.
        original: Option<String>,
    },
    /// `ServiceRequest RequestType="AbortRequest"` for the transaction in progress.
    Abort,
    /// `ServiceRequest RequestType="Login"`.
    Login,
    /// `ServiceRequest RequestType="Logoff"`.
    Logoff,
    /// `ServiceRequest RequestType="Reconciliation"` (day totals / close).
    Reconciliation,
    /// `ServiceRequest RequestType="GetLastTransactionStatus"`: the terminal's last card transaction (after a
    /// lost response); the answer's `PrivateData` is in the result's `authorisation.privateData`.
    LastTransactionStatus,
}

impl JobKind {
    /// The OPI `RequestType` of the request.
    pub fn request_type(&self) -> &'static str {
        match self {
            JobKind::Payment { .. } => "CardPayment",
            JobKind::Refund { .. } => "PaymentRefund",
            JobKind::Reversal { .. } => "PaymentReversal",
            JobKind::Abort => "AbortRequest",
            JobKind::Login => "Login",
            JobKind::Logoff => "Logoff",
            JobKind::Reconciliation => "Reconciliation",
            JobKind::LastTransactionStatus => "GetLastTransactionStatus",
        }
    }

    /// Whether the job occupies the terminal (everything but an abort, which is sent during another job).
    pub fn occupies(&self) -> bool {
        !matches!(self, JobKind::Abort)
    }
}

/// How a conversation ended, as far as the TAS can know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The terminal sent its final response; `overallResult` says how it went.
    Completed,
    /// The terminal disconnected or stopped answering mid-conversation: nobody knows whether money moved.
    /// The payment API turns this into `manualintervention`.
    Unknown,
}

/// A printed or journalled receipt collected from the terminal's device requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The OPI output device (`Printer`, `PrinterReceipt`, `JournalPrinter`, `EJournal`, ...).
    pub target: String,
    /// The text, lines joined with `\n`.
    pub text: String,
    /// Whether the TAS told the terminal it was printed.
    pub printed: bool,
}

/// A display text collected from the terminal's device requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisplayText {
    /// `CashierDisplay` or `CustomerDisplay`.
    pub target: String,
    /// The text.
    pub text: String,
}

/// The result of one conversation, as `POST /terminals/{tmsId}/...` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionResult {
    /// The terminal.
    pub tms_id: String,
    /// OPI `RequestType`.
    pub request_type: String,
    /// OPI `RequestID` the TAS used.
    pub request_id: String,
    /// Whether the terminal answered.
    pub outcome: Outcome,
    /// The OPI `OverallResult` of the final response (`Success`, `Failure`, `Aborted`, ...); absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overall_result: Option<String>,
    /// Why the outcome is unknown (`terminal_disconnected`, `timed_out`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Amount as a decimal string, for card service requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// Currency, for card service requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Authorisation details from the response (approval code, STAN, card brand, masked PAN, ...).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub authorisation: serde_json::Map<String, serde_json::Value>,
    /// Receipts the terminal printed through the TAS.
    pub receipts: Vec<Receipt>,
    /// Texts the terminal showed through the TAS.
    pub display_texts: Vec<DisplayText>,
    /// Wall time of the conversation in milliseconds.
    pub duration_ms: u64,
}

/// A connected terminal, as `GET /terminals` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalInfo {
    /// TMS ID from the hand-shake.
    pub tms_id: String,
    /// Socket address of the terminal's connection.
    pub peer: String,
    /// Connection time in milliseconds since the Unix epoch.
    pub connected_at_ms: u64,
    /// Whether a conversation is running.
    pub busy: bool,
    /// The payment reference from the kick, if the terminal sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Software version from the hand-shake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software: Option<String>,
    /// Whether the connection proved the TMS ID with the terminal's client certificate (mutual TLS); `false`
    /// on plain TCP, where the TMS ID is only what the hand-shake claims.
    #[serde(default)]
    pub certified: bool,
}
