//! The OpenAPI 3 description of the payment API, the `payUrl` page's endpoints and the admin API ([`ApiDoc`]),
//! generated from the handlers in [`crate::http`] and the body types of [`crate::model`], [`crate::error`] and
//! [`crate::store`]. Served as `GET /openapi.json` by both routers and checked in as `docs/openapi.json`
//! (`UPDATE_OPENAPI=1 cargo test -p ccv-vpos --test openapi` rewrites it).
//!
//! Where serde's shape differs from what the derive would read off the Rust type, this module says what is on
//! the wire: [`DecimalText`] (a JSON number or a string), the `amount` of a [`crate::Transaction`] (always a
//! JSON number, [`AmountNumber`]), the strings that only take a few values ([`Method`],
//! [`ManagementSystemId`], [`AccessProtocol`], [`OperatingEnvironment`], [`WakeUpType`]), and the bodies of the
//! `payUrl` page's kick, whose Rust types live in `ccv-wire` ([`BrowserKickReport`], [`KickAnswer`],
//! [`KickRefusal`], [`KickRequestBody`], [`HostPort`]).

use std::borrow::Cow;
use std::sync::LazyLock;

use ccv_wire::reason::WireReason;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use crate::model::DecimalText;

/// The name of the HTTP Basic security scheme of the payment API.
pub const SECURITY_SCHEME: &str = "apiKey";

const DESCRIPTION: &str = "\
The payment API of ccv-emu has the shape of CCV's public Payment API for terminal payments: \
`POST /api/v1/payment`, `POST /api/v1/refund` and `GET /api/v1/transaction` take and answer CCV's field names, \
amounts as JSON numbers or decimal strings, statuses `pending`, `success`, `failed`, `manualintervention` and \
CCV's failure codes; the API key is the HTTP Basic user name with an empty password.

Ours, not CCV's:

- `failureMessage` of a transaction: what happened, naming the likely cause;
- `details.terminalMessage` of a pending transaction: the text the terminal shows now;
- `details.wakeUpType` `LOCAL_KICK` for a Cloud Connect 1.0 payment (CCV documents `CLOUD_CONNECT` only);
- the error body `{type, message, field?, reference?}` (CCV's is not public);
- the `payUrl` page's endpoints `/terminal/poll/state` and `/terminal/poll/kick-result` (the page itself, \
`/terminal/poll`, is where CCV's `payUrl` points too, but its content is ours);
- the admin API (`/admin/...`: merchants, API keys, whitelists, local-kick mode, webhook attempts), which has \
no key and is served on a separate listener bound to loopback;
- `GET /openapi.json`: this document, on both listeners.";

/// The OpenAPI document: every route of [`crate::http::api_router`] and [`crate::http::admin_router`].
#[derive(OpenApi)]
#[openapi(
    info(title = "ccv-emu payment API", description = DESCRIPTION),
    paths(
        crate::http::create_payment,
        crate::http::create_refund,
        crate::http::transaction,
        crate::http::pay_page,
        crate::http::pay_state,
        crate::http::kick_result,
        crate::http::list_merchants,
        crate::http::add_merchant,
        crate::http::add_key,
        crate::http::set_local_kick,
        crate::http::list_whitelist,
        crate::http::add_whitelist,
        crate::http::remove_whitelist,
        crate::http::admin_transaction,
        crate::http::webhook_attempts,
        crate::http::openapi_document,
    ),
    components(schemas(
        crate::model::PaymentRequest,
        crate::model::RefundRequest,
        crate::model::TerminalDetails,
        crate::model::Transaction,
        crate::model::TransactionDetails,
        crate::model::OrderTexts,
        crate::model::PaymentStatus,
        crate::model::TransactionType,
        crate::model::FailureCode,
        DecimalText,
        AmountNumber,
        Method,
        ManagementSystemId,
        AccessProtocol,
        OperatingEnvironment,
        WakeUpType,
        crate::error::ApiError,
        crate::error::ErrorType,
        crate::store::Merchant,
        crate::store::MerchantId,
        crate::store::MerchantSummary,
        crate::store::NewApiKey,
        crate::store::LocalKickMode,
        crate::store::WebhookAttempt,
        BrowserKickReport,
        KickAnswer,
        KickRefusal,
        KickRequestBody,
        HostPort,
    )),
    modifiers(&BasicAuth),
    tags(
        (name = "payment", description = "CCV's Payment API: terminal payments and refunds (HTTP Basic, the API key as user name)"),
        (name = "payUrl page", description = "The page a transaction's `payUrl` points to, and what its script calls (no key, as CCV's)"),
        (name = "admin", description = "Ours: merchants, keys, whitelists, settings and webhook attempts (no key; loopback only)"),
        (name = "openapi", description = "This document"),
    )
)]
pub struct ApiDoc;

/// Adds the HTTP Basic scheme the payment endpoints name in their `security`.
struct BasicAuth;

impl Modify for BasicAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SECURITY_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("API key as user name, empty password"))
                    .build(),
            ),
        );
    }
}

/// The document as a value.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as pretty JSON with a final newline. Keys keep a fixed order (paths and components sorted by
/// name, properties in declaration order), so the text is the same on every build and can be checked in.
pub fn openapi_json() -> String {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        let mut text =
            openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
        text.push('\n');
        text
    });
    JSON.clone()
}

// ---------------------------------------------------------------------------------------------------------------
// Schemas that say what serde writes where the Rust type would say something else.

fn string_enum(description: &str, values: &[&str]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values.iter().copied()))
        .into()
}

/// [`DecimalText`]: read from a JSON number or a string, kept as text; named `NumberOrString` in the document.
impl PartialSchema for DecimalText {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::String))
            .description(Some(
                "A JSON number or a string. A number is read by its decimal text, never as a float \
                 (`9.99` stays 9.99; `12.50` and `\"12.50\"` are the same amount).",
            ))
            .into()
    }
}

impl ToSchema for DecimalText {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("NumberOrString")
    }
}

/// The `amount` of a transaction: [`DecimalText`] holding the amount with the currency's decimals, which
/// serde writes as a JSON number (`12.50`).
pub struct AmountNumber;

impl PartialSchema for AmountNumber {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .description(Some(
                "An amount as a JSON number written with the currency's decimals (`12.50`), from an exact \
                 decimal: read it as decimal text, not as a binary float.",
            ))
            .into()
    }
}

impl ToSchema for AmountNumber {}

/// `method`: `terminal` is the only one.
pub struct Method;

impl PartialSchema for Method {
    fn schema() -> RefOr<Schema> {
        string_enum("The payment method: `terminal`, the only one here.", &["terminal"])
    }
}

impl ToSchema for Method {}

/// `details.managementSystemId`: decides the kick.
pub struct ManagementSystemId;

impl PartialSchema for ManagementSystemId {
    fn schema() -> RefOr<Schema> {
        string_enum(
            "The TMS that manages the terminal, which decides how it is woken: `GrundmasterNL` or \
             `GrundmasterBE` (cloud kick, Cloud Connect 2.0; the TMS ID must be on the merchant's whitelist), \
             `08900000002` (local kick, Cloud Connect 1.0; needs `details.ip` and `details.port`).",
            &["GrundmasterNL", "GrundmasterBE", crate::validate::CLOUD_CONNECT_1_SYSTEM_ID],
        )
    }
}

impl ToSchema for ManagementSystemId {}

/// `details.accessProtocol`: `OPI_NL`.
pub struct AccessProtocol;

impl PartialSchema for AccessProtocol {
    fn schema() -> RefOr<Schema> {
        string_enum("The protocol between the TAS and the terminal.", &[crate::validate::ACCESS_PROTOCOL])
    }
}

impl ToSchema for AccessProtocol {}

/// `details.operatingEnvironment`.
pub struct OperatingEnvironment;

impl PartialSchema for OperatingEnvironment {
    fn schema() -> RefOr<Schema> {
        string_enum(
            "Whether a person attends the terminal (default `ATTENDED`).",
            &["ATTENDED", "SEMI_UNATTENDED"],
        )
    }
}

impl ToSchema for OperatingEnvironment {}

/// `details.wakeUpType` of a transaction.
pub struct WakeUpType;

impl PartialSchema for WakeUpType {
    fn schema() -> RefOr<Schema> {
        string_enum(
            "How the terminal is woken: `CLOUD_CONNECT` (Cloud Connect 2.0) or `LOCAL_KICK` (Cloud Connect 1.0; \
             ours, CCV documents `CLOUD_CONNECT` only).",
            &["CLOUD_CONNECT", "LOCAL_KICK"],
        )
    }
}

impl ToSchema for WakeUpType {}

/// Why a terminal refused a kick: the names of [`ccv_wire::reason::KickRefusal`], read from the enum itself.
pub struct KickRefusal;

impl PartialSchema for KickRefusal {
    fn schema() -> RefOr<Schema> {
        let names: Vec<&str> = ccv_wire::reason::KickRefusal::all().iter().map(|r| r.as_str()).collect();
        string_enum("Why the terminal refused the kick.", &names)
    }
}

impl ToSchema for KickRefusal {}

// The bodies of the local kick the `payUrl` page sends and reports. Their Rust types are in `ccv-wire`, which
// does not depend on utoipa; these mirrors carry the same serde attributes, and tests/openapi.rs checks real
// values of the originals against them.

/// A host and port (`ccv_wire::HostPort`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct HostPort {
    /// Host name or literal IP address (an IPv6 address without brackets).
    host: String,
    /// TCP port.
    port: u16,
}

/// The body of the local kick `POST /kick` to the terminal (`ccv_wire::local_kick::KickRequestBody`).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct KickRequestBody {
    /// The payment reference, echoed in the answer and sent in the TAS hand-shake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    reference: Option<String>,
    /// The TAS to dial instead of the configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    tas: Option<HostPort>,
}

/// The terminal's answer to a local kick (`ccv_wire::local_kick::KickAnswer`).
#[derive(ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
#[allow(dead_code)]
pub enum KickAnswer {
    /// `202`: the terminal starts dialling the TAS.
    Accepted {
        /// The terminal's TMS ID.
        #[serde(rename = "tmsId")]
        tms_id: String,
        /// The reference from the request, if any.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        #[schema(nullable = false)]
        reference: Option<String>,
        /// The TAS the terminal dials, `host:port`.
        tas: String,
    },
    /// `409`: the terminal refuses the kick.
    Refused {
        /// The terminal's TMS ID.
        #[serde(rename = "tmsId")]
        tms_id: String,
        /// Typed reason.
        reason: KickRefusal,
        /// What it means and what to do.
        message: String,
    },
}

/// What the `payUrl` page reports after it tried the local kick (`ccv_vpos::BrowserKickReport`).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", tag = "result")]
#[allow(dead_code)]
pub enum BrowserKickReport {
    /// The terminal answered (`202` accepted or `409` refused).
    Answered {
        /// The terminal's answer.
        answer: KickAnswer,
    },
    /// The browser could not reach the terminal (network error, blocked by private-network rules).
    Unreachable {
        /// What the browser said.
        error: String,
    },
}
