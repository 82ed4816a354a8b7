//! The two enumerations a decode error needs besides the model itself: which message ([`MessageKind`]) and the
//! `OverallResult` a response carries ([`OverallResult`]). They live apart from the model so that errors, the
//! schema and the model depend on them and not on each other.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which of the six messages; the name of the root element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageKind {
    /// `CardServiceRequest`
    CardServiceRequest,
    /// `CardServiceResponse`
    CardServiceResponse,
    /// `ServiceRequest`
    ServiceRequest,
    /// `ServiceResponse`
    ServiceResponse,
    /// `DeviceRequest`
    DeviceRequest,
    /// `DeviceResponse`
    DeviceResponse,
}

impl MessageKind {
    /// All six kinds.
    pub const ALL: [MessageKind; 6] = [
        MessageKind::CardServiceRequest,
        MessageKind::CardServiceResponse,
        MessageKind::ServiceRequest,
        MessageKind::ServiceResponse,
        MessageKind::DeviceRequest,
        MessageKind::DeviceResponse,
    ];

    /// The root element name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::CardServiceRequest => "CardServiceRequest",
            MessageKind::CardServiceResponse => "CardServiceResponse",
            MessageKind::ServiceRequest => "ServiceRequest",
            MessageKind::ServiceResponse => "ServiceResponse",
            MessageKind::DeviceRequest => "DeviceRequest",
            MessageKind::DeviceResponse => "DeviceResponse",
        }
    }

    /// The kind for a root element's local name, if it is one of the six.
    pub fn from_name(name: &str) -> Option<MessageKind> {
        MessageKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// `true` for the three `*Request` kinds.
    pub fn is_request(self) -> bool {
        matches!(
            self,
            MessageKind::CardServiceRequest | MessageKind::ServiceRequest | MessageKind::DeviceRequest
        )
    }

    /// The response kind that answers this request kind (a response kind maps to itself).
    pub fn response_kind(self) -> MessageKind {
        match self {
            MessageKind::CardServiceRequest | MessageKind::CardServiceResponse => {
                MessageKind::CardServiceResponse
            }
            MessageKind::ServiceRequest | MessageKind::ServiceResponse => MessageKind::ServiceResponse,
            MessageKind::DeviceRequest | MessageKind::DeviceResponse => MessageKind::DeviceResponse,
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `OverallResult` (and `OutResult` / `InResult`) of a response.
///
/// Unknown values are kept verbatim in [`OverallResult::Other`], so a newer peer's result
/// survives a round trip.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum OverallResult {
    /// The request was carried out.
    Success,
    /// Part of the request was carried out.
    PartialFailure,
    /// The request failed (declined, refused, ...).
    Failure,
    /// The device (printer, display, card reader) is not available.
    DeviceUnavailable,
    /// Another request is in progress.
    Busy,
    /// The POS is not logged in.
    Loggedout,
    /// The request was aborted (by the customer, the cashier or an `AbortRequest`).
    Aborted,
    /// The request timed out.
    TimedOut,
    /// The terminal could not reach its host.
    CommunicationError,
    /// The message was not an OPI message (wrong encoding, wrong root element).
    FormatError,
    /// The message was not well-formed XML.
    ParsingError,
    /// A value in the message is invalid.
    ValidationError,
    /// A mandatory element or attribute is missing.
    MissingMandatoryData,
    /// The terminal asks the POS to print the last ticket again.
    PrintLastTicket,
    /// Any other value, kept as written.
    Other(String),
}

impl OverallResult {
    /// The fourteen named values.
    pub const KNOWN: [OverallResult; 14] = [
        OverallResult::Success,
        OverallResult::PartialFailure,
        OverallResult::Failure,
        OverallResult::DeviceUnavailable,
        OverallResult::Busy,
        OverallResult::Loggedout,
        OverallResult::Aborted,
        OverallResult::TimedOut,
        OverallResult::CommunicationError,
        OverallResult::FormatError,
        OverallResult::ParsingError,
        OverallResult::ValidationError,
        OverallResult::MissingMandatoryData,
        OverallResult::PrintLastTicket,
    ];

    /// The value as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            OverallResult::Success => "Success",
            OverallResult::PartialFailure => "PartialFailure",
            OverallResult::Failure => "Failure",
            OverallResult::DeviceUnavailable => "DeviceUnavailable",
            OverallResult::Busy => "Busy",
            OverallResult::Loggedout => "Loggedout",
            OverallResult::Aborted => "Aborted",
            OverallResult::TimedOut => "TimedOut",
            OverallResult::CommunicationError => "CommunicationError",
            OverallResult::FormatError => "FormatError",
            OverallResult::ParsingError => "ParsingError",
            OverallResult::ValidationError => "ValidationError",
            OverallResult::MissingMandatoryData => "MissingMandatoryData",
            OverallResult::PrintLastTicket => "PrintLastTicket",
            OverallResult::Other(s) => s,
        }
    }

    /// Parses the wire form; unknown values become [`OverallResult::Other`].
    pub fn from_wire(s: &str) -> OverallResult {
        OverallResult::KNOWN
            .iter()
            .find(|k| k.as_str() == s)
            .cloned()
            .unwrap_or_else(|| OverallResult::Other(s.to_owned()))
    }

    /// `true` for `Success`.
    pub fn is_success(&self) -> bool {
        *self == OverallResult::Success
    }
}

impl From<String> for OverallResult {
    fn from(s: String) -> Self {
        OverallResult::from_wire(&s)
    }
}

impl From<OverallResult> for String {
    fn from(r: OverallResult) -> Self {
        r.as_str().to_owned()
    }
}

impl fmt::Display for OverallResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
