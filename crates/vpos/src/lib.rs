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
//! - drives each transaction ([`Vpos`]): the R10 whitelist check, the cloud kick through the IoT endpoint
//!   ([`cloud`]) or the local kick (from the `payUrl` page in the POS's browser, or from the API itself), a
//!   bounded wait for the terminal at the TAS, the OPI conversation through an in-process [`ccv_tas::Tas`], the
//!   outcome and receipts ([`outcome`]), webhooks with retries ([`webhook`]);
//! - serves it all over HTTP ([`http`], [`server`]): the payment API, the `payUrl` page and the admin API.
//!
//! Amounts are never floats: they are read into [`ccv_opi::Amount`].
//!
//! Layout:
//!
//! - [`model`]: the request and response bodies (serde);
//! - [`validate`]: the checks, the typed orders, the canonical request hash for idempotency;
//! - [`error`]: [`ApiError`] and its JSON shape `{type, message, field?, reference?}`;
//! - [`reference`](mod@reference): `TL...` transaction references from a given time and random source;
//! - [`schema`]: the ordered SQL migrations;
//! - [`store`]: [`Store`], the SQLite state;
//! - [`engine`]: [`Vpos`], the behaviour; [`cloud`], [`outcome`], [`webhook`];
//! - [`http`]: the routes; [`server`]: [`VposServer`], the listeners;
//! - [`openapi`]: the OpenAPI 3 description of the routes (`docs/openapi.json`).

pub mod client;
pub mod cloud;
pub mod engine;
pub mod error;
pub mod http;
pub mod model;
pub mod openapi;
pub mod outcome;
pub mod reference;
pub mod schema;
pub mod server;
pub mod store;
pub mod validate;
pub mod webhook;

pub use engine::{BrowserKickReport, Vpos, VposConfig, VposEvent};
pub use error::{ApiError, ErrorType};
pub use model::{
    DecimalText, FailureCode, OrderTexts, PaymentRequest, PaymentStatus, RefundRequest, TerminalDetails,
    Transaction, TransactionDetails, TransactionType,
};
pub use server::VposServer;
pub use store::{
    Created, Idempotency, LocalKickMode, Merchant, MerchantId, MerchantSummary, NewApiKey, NewTransaction,
    PaymentRecord, Receipts, StatusUpdate, Store, StoreError, WebhookAttempt,
};
pub use validate::{CloudTms, Kick, OperatingEnvironment, PaymentOrder, RefundOrder, TerminalTarget};
pub use webhook::WebhookPolicy;
