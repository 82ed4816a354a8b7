//! `ccv-vpos`: a look-alike of CCV's public Payment API ("VPOS") for terminal payments.
//!
//! What this crate does:
//!
//! - reads `POST /api/v1/payment` and `POST /api/v1/refund` bodies in CCV's documented shape and checks them into
//!   typed orders, deciding from `managementSystemId` which kick a payment needs ([`Kick`]: cloud for
//!   `GrundmasterNL`/`GrundmasterBE`, local for `08900000002`);
//! - answers with [`Transaction`] (CCV's field names) or one error shape, [`ApiError`];
//! - keeps merchants, API keys (hashed), whitelists of TMS IDs, payments, refunds, idempotency keys and webhook
//!   attempts durably in SQLite ([`Store`]), with versioned migrations.
//!
//! Not in this crate yet: the HTTP server, sending the kick (cloud or local) and running the payment through the
//! TAS, and delivering webhooks (the store already records webhook attempts). Amounts are never floats: they are
//! read into [`ccv_opi::Amount`].
//!
//! Layout:
//!
//! - [`model`]: the request and response bodies (serde);
//! - [`validate`]: the checks, the typed orders, the canonical request hash for idempotency;
//! - [`error`]: [`ApiError`] and its JSON shape `{type, message, field?, reference?}`;
//! - [`reference`](mod@reference): `TL...` transaction references from a given time and random source;
//! - [`schema`]: the ordered SQL migrations;
//! - [`store`]: [`Store`], the SQLite state.

pub mod error;
pub mod model;
pub mod reference;
pub mod schema;
pub mod store;
pub mod validate;

pub use error::{ApiError, ErrorType};
pub use model::{
    DecimalText, FailureCode, OrderTexts, PaymentRequest, PaymentStatus, RefundRequest, TerminalDetails,
    Transaction, TransactionDetails, TransactionType,
};
pub use store::{
    Created, Idempotency, Merchant, MerchantId, MerchantSummary, NewApiKey, NewTransaction, PaymentRecord,
    Receipts, StatusUpdate, Store, StoreError, WebhookAttempt,
};
pub use validate::{CloudTms, Kick, OperatingEnvironment, PaymentOrder, RefundOrder, TerminalTarget};
