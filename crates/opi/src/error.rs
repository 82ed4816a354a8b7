//! Decode errors, their OPI `OverallResult`, and the error response a peer sends back.
//!
//! Every failure says what was wrong and where (element path, attribute, byte offset), and maps
//! to the `OverallResult` a terminal answers with:
//!
//! | [`DecodeErrorKind`] | `OverallResult` |
//! |---|---|
//! | `Empty`, `Xml` | `ParsingError` (not well-formed XML) |
//! | `UnsupportedEncoding`, `InvalidEncoding`, `UnknownMessage`, `LimitExceeded` | `FormatError` (not an OPI message) |
//! | `InvalidValue` | `ValidationError` (a value is wrong) |
//! | `MissingElement`, `MissingAttribute` | `MissingMandatoryData` |

use std::fmt;

use crate::kinds::{MessageKind, OverallResult};

/// What went wrong while decoding one OPI message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// No bytes, or only white space / comments.
    #[error("the message is empty: expected an OPI XML document")]
    Empty,
    /// The XML is not well-formed.
    #[error("XML is not well-formed at byte {offset}: {detail}")]
    Xml {
        /// Byte offset in the input.
        offset: usize,
        /// What the XML parser found.
        detail: String,
    },
    /// The XML declaration names an encoding this crate does not read.
    #[error("unsupported encoding {label:?} in the XML declaration: send UTF-8 or ISO-8859-1")]
    UnsupportedEncoding {
        /// The `encoding` value of the declaration.
        label: String,
    },
    /// The bytes are not valid in the declared (or default UTF-8) encoding.
    #[error(
        "byte {offset} is not valid {encoding}: declare the encoding actually used (UTF-8 or ISO-8859-1)"
    )]
    InvalidEncoding {
        /// The encoding the bytes were read as.
        encoding: &'static str,
        /// Byte offset of the first bad byte.
        offset: usize,
    },
    /// The root element is not one of the six OPI messages.
    #[error(
        "root element <{element}> is not an OPI message (expected CardServiceRequest, CardServiceResponse, \
         ServiceRequest, ServiceResponse, DeviceRequest or DeviceResponse)"
    )]
    UnknownMessage {
        /// The local name of the root element.
        element: String,
    },
    /// A structural limit was exceeded (nesting depth, attributes per element).
    #[error("{what} exceeds the limit of {limit} at byte {offset}")]
    LimitExceeded {
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: usize,
        /// Byte offset where it was exceeded.
        offset: usize,
    },
    /// A mandatory child element is missing.
    #[error("missing mandatory element <{element}> in {parent}")]
    MissingElement {
        /// Path of the parent element, e.g. `CardServiceRequest`.
        parent: String,
        /// The missing element's name.
        element: &'static str,
    },
    /// A mandatory attribute is missing (or empty).
    #[error("missing mandatory attribute {attribute} on {element}")]
    MissingAttribute {
        /// Path of the element, e.g. `CardServiceRequest/TotalAmount`.
        element: String,
        /// The missing attribute's name.
        attribute: &'static str,
    },
    /// A value does not have the form OPI requires.
    #[error("invalid value {value:?} {at}: {reason}", at = At(element, attribute))]
    InvalidValue {
        /// Path of the element.
        element: String,
        /// The attribute, or `None` for the element's text.
        attribute: Option<&'static str>,
        /// The offending value (shortened to 64 characters).
        value: String,
        /// What was expected.
        reason: String,
    },
}

struct At<'a>(&'a String, &'a Option<&'static str>);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(a) => write!(f, "in attribute {a} of {}", self.0),
            None => write!(f, "in element {}", self.0),
        }
    }
}

impl DecodeErrorKind {
    /// The OPI `OverallResult` a terminal answers this error with.
    pub fn overall_result(&self) -> OverallResult {
        match self {
            DecodeErrorKind::Empty | DecodeErrorKind::Xml { .. } => OverallResult::ParsingError,
            DecodeErrorKind::UnsupportedEncoding { .. }
            | DecodeErrorKind::InvalidEncoding { .. }
            | DecodeErrorKind::UnknownMessage { .. }
            | DecodeErrorKind::LimitExceeded { .. } => OverallResult::FormatError,
            DecodeErrorKind::InvalidValue { .. } => OverallResult::ValidationError,
            DecodeErrorKind::MissingElement { .. } | DecodeErrorKind::MissingAttribute { .. } => {
                OverallResult::MissingMandatoryData
            }
        }
    }
}

/// The header attributes of a message that failed to decode, as far as they were readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialHeader {
    /// The root element.
    pub kind: MessageKind,
    /// `RequestType` as written.
    pub request_type: Option<String>,
    /// `ApplicationSender`.
    pub application_sender: Option<String>,
    /// `WorkstationID`.
    pub workstation_id: Option<String>,
    /// `POPID`.
    pub pop_id: Option<String>,
    /// `RequestID`.
    pub request_id: Option<String>,
}

/// A message that could not be decoded: what went wrong ([`DecodeError::kind`]) and the header
/// that was still readable ([`DecodeError::partial_header`]), so the peer can be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}{}", Context(header))]
pub struct DecodeError {
    kind: DecodeErrorKind,
    header: Option<Box<PartialHeader>>,
}

struct Context<'a>(&'a Option<Box<PartialHeader>>);

impl fmt::Display for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(h) = self.0 {
            write!(f, " (in {}", h.kind)?;
            if let Some(id) = &h.request_id {
                write!(f, " RequestID={id:?}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl DecodeError {
    pub(crate) fn new(kind: DecodeErrorKind, header: Option<PartialHeader>) -> DecodeError {
        DecodeError { kind, header: header.map(Box::new) }
    }

    /// What went wrong.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.kind
    }

    /// The header attributes that were readable, if the root start tag was.
    pub fn partial_header(&self) -> Option<&PartialHeader> {
        self.header.as_deref()
    }

    /// The OPI `OverallResult` a terminal answers this error with.
    pub fn overall_result(&self) -> OverallResult {
        self.kind.overall_result()
    }
}

impl From<DecodeErrorKind> for DecodeError {
    fn from(kind: DecodeErrorKind) -> Self {
        DecodeError { kind, header: None }
    }
}
