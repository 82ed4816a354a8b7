//! The request and response bodies in CCV's documented shape (serde, camelCase field names).
//!
//! These types are what goes over HTTP, loosely typed the way CCV's clients send them (an amount as a JSON
//! number or a decimal string, a port as a number or a string). [`crate::validate`] turns a request into a
//! checked order; [`Transaction`] is built from a stored payment.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A scalar sent as a JSON number or a string, kept as its decimal text (never a float).
///
/// A JSON number is read through `serde_json::Number`'s text (`9.99` stays `"9.99"`, `12.50` becomes
/// `"12.5"`, the same amount). Serializes as a JSON number when the text is one, else as a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DecimalText(pub String);

impl DecimalText {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for DecimalText {
    fn from(s: &str) -> Self {
        DecimalText(s.to_owned())
    }
}

impl Serialize for DecimalText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Valid JSON that starts with a digit or a minus sign is a number.
        let is_number = self.0.starts_with(|c: char| c.is_ascii_digit() || c == '-');
        match serde_json::value::RawValue::from_string(self.0.clone()) {
            Ok(raw) if is_number => raw.serialize(s),
            _ => s.serialize_str(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DecimalText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a decimal string such as \"12.50\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DecimalText, E> {
                serde_json::Number::from_f64(v)
                    .map(|n| DecimalText(n.to_string()))
                    .ok_or_else(|| E::custom("the number is not finite"))
            }
        }
        d.deserialize_any(V)
    }
}

/// `POST /api/v1/payment` with `method: "terminal"`, as sent. Unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequest {
    /// The amount: a JSON number (`9.99`) or a decimal string (`"12.50"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = DecimalText, required = true)]
    pub amount: Option<DecimalText>,
    /// ISO 4217 code, any case (`eur`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true, example = "EUR")]
    pub currency: Option<String>,
    /// Must be `terminal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = crate::openapi::Method, required = true)]
    pub method: Option<String>,
    // The texts are fields here, not a flattened `OrderTexts`: serde loses the path of an error inside a
    // flattened struct, and a refused request names its field.
    /// The shop's order reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_order_reference: Option<String>,
    /// A description of the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Language of the payment pages, ISO 639-2 (`eng`, `nld`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Where the payer returns to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    /// Where status changes are posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// The terminal and how to reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = TerminalDetails, required = true)]
    pub details: Option<TerminalDetails>,
}

/// The texts and URLs of a payment or refund that are stored and echoed in every answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderTexts {
    /// The shop's order reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub merchant_order_reference: Option<String>,
    /// A description of the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub description: Option<String>,
    /// Language of the payment pages, ISO 639-2 (`eng`, `nld`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub language: Option<String>,
    /// Where the payer returns to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub return_url: Option<String>,
    /// Where status changes are posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub webhook_url: Option<String>,
}

/// `details` of a terminal payment or refund, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TerminalDetails {
    /// The terminal's TMS ID (Cloud Connect 1.0 clients call it `betaalterminalId`).
    #[serde(default, alias = "betaalterminalId", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = DecimalText, required = true)]
    pub terminal_id: Option<DecimalText>,
    /// `GrundmasterNL` or `GrundmasterBE` (cloud kick, 2.0), `08900000002` (local kick, 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = crate::openapi::ManagementSystemId, required = true)]
    pub management_system_id: Option<String>,
    /// Must be `OPI_NL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = crate::openapi::AccessProtocol, required = true)]
    pub access_protocol: Option<String>,
    /// The terminal's address on the shop LAN (1.0 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The terminal's trigger port (1.0 only; 4105 on a real terminal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<DecimalText>,
    /// `ATTENDED` (default) or `SEMI_UNATTENDED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::openapi::OperatingEnvironment>)]
    pub operating_environment: Option<String>,
    /// Language of the merchant's screens, ISO 639-2 upper case (`NLD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_language: Option<String>,
}

/// `POST /api/v1/refund`, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundRequest {
    /// The reference of the payment to refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = true)]
    pub reference: Option<String>,
    /// A partial amount; the whole payment when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<DecimalText>,
    // The texts are fields here, not a flattened `OrderTexts`: serde loses the path of an error inside a
    // flattened struct, and a refused request names its field.
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the payer returns to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
    /// Where status changes are posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// The terminal to refund on; the original payment's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<TerminalDetails>,
}

/// The status of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    /// Not final yet.
    Pending,
    /// Final: paid (or refunded).
    Success,
    /// Final: not paid; `failureCode` says why.
    Failed,
    /// Final: the outcome is unknown and a person must check.
    #[serde(rename = "manualintervention")]
    ManualIntervention,
}

impl PaymentStatus {
    /// Every status.
    pub const ALL: [PaymentStatus; 4] = [
        PaymentStatus::Pending,
        PaymentStatus::Success,
        PaymentStatus::Failed,
        PaymentStatus::ManualIntervention,
    ];

    /// `true` for every status but `pending`; a final status never changes.
    pub fn is_final(self) -> bool {
        self != PaymentStatus::Pending
    }

    /// The name on the wire (`manualintervention`).
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Success => "success",
            PaymentStatus::Failed => "failed",
            PaymentStatus::ManualIntervention => "manualintervention",
        }
    }

    /// Reads a name written by [`PaymentStatus::as_str`].
    pub fn parse(s: &str) -> Option<PaymentStatus> {
        PaymentStatus::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// `sale` or `refund`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransactionType {
    /// A payment.
    Sale,
    /// A refund of an earlier payment.
    Refund,
}

impl TransactionType {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionType::Sale => "sale",
            TransactionType::Refund => "refund",
        }
    }

    /// Reads a name written by [`TransactionType::as_str`].
    pub fn parse(s: &str) -> Option<TransactionType> {
        [TransactionType::Sale, TransactionType::Refund].into_iter().find(|t| t.as_str() == s)
    }
}

/// Why a transaction failed: the codes of CCV's own client enum (spelling included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// Not completed in time.
    Expired,
    /// Cancelled by the customer, the merchant or the POS.
    Cancelled,
    /// Not enough balance (CCV's spelling).
    UnsufficientBalance,
    /// Refused as fraud.
    FraudDetected,
    /// Rejected.
    Rejected,
    /// The card was refused.
    CardRefused,
    /// Not enough funds.
    InsufficientFunds,
    /// A processing error.
    ProcessingError,
}

/// A transaction as the API answers it (create, `GET /transaction`, refund).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// `TL...` (see [`crate::reference`]).
    pub reference: String,
    /// For a refund: the payment refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub original_reference: Option<String>,
    /// `sale` or `refund`.
    #[serde(rename = "type")]
    pub kind: TransactionType,
    /// Always `terminal`.
    #[schema(value_type = crate::openapi::Method)]
    pub method: String,
    /// The status.
    pub status: PaymentStatus,
    /// The amount, a JSON number with the currency's decimals (`12.50`).
    #[schema(value_type = crate::openapi::AmountNumber)]
    pub amount: DecimalText,
    /// ISO 4217 code, upper case.
    pub currency: String,
    /// Created, epoch milliseconds.
    pub created: i64,
    /// Last change, epoch milliseconds.
    pub last_update: i64,
    /// When the status became final, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub status_final_date: Option<i64>,
    /// Echoed from the request.
    #[serde(flatten)]
    pub texts: OrderTexts,
    /// The page that shows the payment's progress.
    pub pay_url: String,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub failure_code: Option<FailureCode>,
    /// Ours: what happened, naming the likely cause (e.g. a terminal that did not answer the kick).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub failure_message: Option<String>,
    /// The terminal part.
    pub details: TransactionDetails,
}

/// `details` of a terminal [`Transaction`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransactionDetails {
    /// The terminal's TMS ID.
    pub terminal_id: String,
    /// As requested.
    #[schema(value_type = crate::openapi::ManagementSystemId)]
    pub management_system_id: String,
    /// `OPI_NL`.
    #[schema(value_type = crate::openapi::AccessProtocol)]
    pub access_protocol: String,
    /// 1.0 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub ip: Option<String>,
    /// 1.0 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub port: Option<u16>,
    /// `ATTENDED` or `SEMI_UNATTENDED`.
    #[schema(value_type = crate::openapi::OperatingEnvironment)]
    pub operating_environment: String,
    /// As requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub merchant_language: Option<String>,
    /// How the terminal is woken: `CLOUD_CONNECT` (2.0) or `LOCAL_KICK` (1.0, our name).
    #[schema(value_type = crate::openapi::WakeUpType)]
    pub wake_up_type: String,
    /// A string holding a JSON array of lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub customer_receipt: Option<String>,
    /// A string holding a JSON array of lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub merchant_receipt: Option<String>,
    /// A string holding a JSON array of lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub journal_receipt: Option<String>,
    /// Whether the POS should print the customer receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub print_customer_receipt: Option<bool>,
    /// Whether the customer must sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub ask_customer_signature: Option<bool>,
    /// Ours, while pending: the text the terminal shows now (e.g. `PIN INVOEREN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub terminal_message: Option<String>,
}

/// Writes receipt lines the way CCV does: a string holding a JSON array of lines.
pub fn receipt_string(lines: &[String]) -> String {
    serde_json::to_string(lines).unwrap_or_else(|_| "[]".to_owned())
}
