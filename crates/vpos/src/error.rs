//! [`ApiError`]: the one error body of the payment API, `{type, message, field?, reference?}`.
//!
//! CCV's own error body is not public; client code reads `type`, `message`, `field` and `reference`, so this
//! shape carries exactly those (docs/PAYMENT_API.md).

use serde::{Deserialize, Serialize};

/// What kind of error an [`ApiError`] is; its JSON `type` and its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorType {
    /// The request is malformed or a field is missing or invalid (400).
    InvalidRequest,
    /// No API key, or an unknown one (401).
    Unauthorized,
    /// No such transaction for this merchant (404).
    NotFound,
    /// The `Idempotency-Reference` was used before with a different body (409).
    IdempotencyConflict,
    /// The body is larger than the API accepts (413).
    PayloadTooLarge,
    /// The request is valid but the transaction's state does not allow it (409).
    Conflict,
    /// Something on our side failed; the request may be retried (500).
    InternalError,
}

impl ErrorType {
    /// The HTTP status code this error is answered with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorType::InvalidRequest => 400,
            ErrorType::Unauthorized => 401,
            ErrorType::NotFound => 404,
            ErrorType::IdempotencyConflict | ErrorType::Conflict => 409,
            ErrorType::PayloadTooLarge => 413,
            ErrorType::InternalError => 500,
        }
    }
}

/// An error as the payment API answers it. Serializes to `{"type", "message", "field"?, "reference"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error, utoipa::ToSchema)]
#[error("{message}")]
pub struct ApiError {
    /// The kind of error.
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// What was wrong and what to do, for a person.
    pub message: String,
    /// The request field at fault, as a path (`amount`, `details.terminalId`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub field: Option<String>,
    /// The transaction concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub reference: Option<String>,
}

impl ApiError {
    /// An error without field or reference.
    pub fn new(kind: ErrorType, message: impl Into<String>) -> ApiError {
        ApiError { kind, message: message.into(), field: None, reference: None }
    }

    /// An `invalid_request` naming the field at fault.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError { field: Some(field.into()), ..ApiError::new(ErrorType::InvalidRequest, message) }
    }

    /// The same error about a transaction.
    pub fn with_reference(mut self, reference: impl Into<String>) -> ApiError {
        self.reference = Some(reference.into());
        self
    }

    /// The HTTP status code this error is answered with.
    pub fn http_status(&self) -> u16 {
        self.kind.http_status()
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        // A struct of strings always serializes; the fallback is never expected.
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"type":"internal_error","message":"error"}"#.to_owned())
    }
}
