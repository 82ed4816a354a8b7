//! The HTTP side (axum): the payment API a POS talks to, the `payUrl` page, and the admin API (bound to
//! loopback by the caller).
//!
//! Payment API (`docs/PAYMENT_API.md`), HTTP Basic with the API key as user name and an empty password:
//! - `POST /api/v1/payment`, `POST /api/v1/refund` (optional `Idempotency-Reference` header),
//!   `GET /api/v1/transaction?reference=…`
//!
//! `payUrl` page (no key, like CCV's): `GET /terminal/poll?reference=…` (HTML), `GET /terminal/poll/state`,
//! `POST /terminal/poll/kick-result`.
//!
//! Admin API (no key; loopback only): `GET|POST /admin/merchants`, `POST /admin/merchants/{name}/keys`,
//! `PUT /admin/merchants/{name}/local-kick`, `GET|POST /admin/merchants/{name}/whitelist`,
//! `DELETE /admin/merchants/{name}/whitelist/{tmsId}`, `GET /admin/transactions/{reference}`,
//! `GET /admin/transactions/{reference}/webhooks`.
//!
//! Both serve `GET /openapi.json`: the OpenAPI description of all of the above ([`crate::openapi`]).

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::engine::{BrowserKickReport, Vpos, now_ms};
use crate::error::{ApiError, ErrorType};
use crate::store::{LocalKickMode, Merchant, StoreError};
use crate::validate::{MAX_BODY_BYTES, MAX_REFERENCE_BYTES};

/// The header CCV reads an idempotency key from.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Reference";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, [(header::CONTENT_TYPE, "application/json")], self.to_json()).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ccv-emu payment API\""),
            );
        }
        resp
    }
}

/// The merchant of the request's API key.
struct Authenticated(Merchant);

impl FromRequestParts<Vpos> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, vpos: &Vpos) -> Result<Self, ApiError> {
        let key = api_key(&parts.headers)?;
        Ok(Authenticated(vpos.authenticate(&key).await?))
    }
}

/// The API key from `Authorization: Basic base64(key:)`.
fn api_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let unauthorized = |m: &str| ApiError::new(ErrorType::Unauthorized, m);
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        unauthorized(
            "no API key: send HTTP Basic authentication with the API key as user name and an empty password",
        )
    })?;
    let text = value.to_str().map_err(|_| unauthorized("the Authorization header is not ASCII"))?;
    let (scheme, encoded) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(unauthorized(
            "use HTTP Basic authentication: the API key as user name, an empty password",
        ));
    }
    if encoded.len() > 256 {
        return Err(unauthorized("the Authorization header is too long"));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| unauthorized("the Basic credentials are not valid base64"))?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| unauthorized("the Basic credentials are not UTF-8"))?;
    let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
    if !password.is_empty() {
        return Err(unauthorized("the password must be empty: the API key is the user name"));
    }
    Ok(user.to_owned())
}

fn body(bytes: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    bytes.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorType::PayloadTooLarge,
                format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
            )
        } else {
            ApiError::new(ErrorType::InvalidRequest, format!("the request body could not be read: {r}"))
        }
    })
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    headers
        .get(IDEMPOTENCY_HEADER)
        .map(|v| {
            v.to_str().map(str::to_owned).map_err(|_| {
                ApiError::invalid_field(IDEMPOTENCY_HEADER, "Idempotency-Reference must be printable ASCII")
            })
        })
        .transpose()
}

/// The payment API and the `payUrl` page.
pub fn api_router(vpos: Vpos) -> Router {
    Router::new()
        .route("/api/v1/payment", post(create_payment))
        .route("/api/v1/refund", post(create_refund))
        .route("/api/v1/transaction", get(transaction))
        .route("/terminal/poll", get(pay_page))
        .route("/terminal/poll/state", get(pay_state))
        .route("/terminal/poll/kick-result", post(kick_result))
        .route("/openapi.json", get(openapi_document))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(vpos)
}

async fn not_found() -> ApiError {
    ApiError::new(
        ErrorType::NotFound,
        "no such endpoint: the payment API serves POST /api/v1/payment, POST /api/v1/refund and GET /api/v1/transaction",
    )
}

/// Creates a terminal payment and starts it: the answer is the transaction, `pending` until the terminal is done.
#[utoipa::path(
    post,
    path = "/api/v1/payment",
    tag = "payment",
    operation_id = "createPayment",
    request_body(content = crate::model::PaymentRequest, description = "The payment; unknown fields are ignored"),
    params(("Idempotency-Reference" = Option<String>, Header, nullable = false, description = "An idempotency key, 1 to 50 characters, per merchant: a repeat with the same key and the same body answers the transaction made the first time; with another body, `409 idempotency_conflict`")),
    responses(
        (status = 200, description = "The transaction (for an idempotent repeat: the one made the first time)", body = crate::model::Transaction),
        (status = 400, description = "`invalid_request`: a field is missing or invalid (`field` names it), or the body is not a JSON object", body = crate::error::ApiError),
        (status = 401, description = "`unauthorized`: no API key, or an unknown one", body = crate::error::ApiError, headers(("WWW-Authenticate" = String, description = "`Basic realm=\"ccv-emu payment API\"`"))),
        (status = 409, description = "`idempotency_conflict`: the `Idempotency-Reference` was used with another body; `reference` names its transaction", body = crate::error::ApiError),
        (status = 413, description = "`payload_too_large`: the body is over 16 KiB", body = crate::error::ApiError),
        (status = 500, description = "`internal_error`: our store failed; retry", body = crate::error::ApiError),
    ),
    security(("apiKey" = [])),
)]
async fn create_payment(
    State(vpos): State<Vpos>,
    Authenticated(merchant): Authenticated,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body(bytes)?;
    let key = idempotency_key(&headers)?;
    let (transaction, _) = vpos.create_payment(&merchant, &bytes, key.as_deref()).await?;
    Ok(axum::Json(transaction).into_response())
}

/// Refunds a successful payment of the same merchant (all of it, or `amount`), run on a terminal like a payment.
#[utoipa::path(
    post,
    path = "/api/v1/refund",
    tag = "payment",
    operation_id = "createRefund",
    request_body(content = crate::model::RefundRequest, description = "The refund; unknown fields are ignored"),
    params(("Idempotency-Reference" = Option<String>, Header, nullable = false, description = "An idempotency key, 1 to 50 characters, per merchant: a repeat with the same key and the same body answers the transaction made the first time; with another body, `409 idempotency_conflict`")),
    responses(
        (status = 200, description = "The refund transaction (for an idempotent repeat: the one made the first time)", body = crate::model::Transaction),
        (status = 400, description = "`invalid_request`: a field is missing or invalid (`field` names it), or the body is not a JSON object", body = crate::error::ApiError),
        (status = 401, description = "`unauthorized`: no API key, or an unknown one", body = crate::error::ApiError, headers(("WWW-Authenticate" = String, description = "`Basic realm=\"ccv-emu payment API\"`"))),
        (status = 404, description = "`not_found`: no such payment for this merchant", body = crate::error::ApiError),
        (status = 409, description = "`conflict`: the payment is not `success`; or `idempotency_conflict`", body = crate::error::ApiError),
        (status = 413, description = "`payload_too_large`: the body is over 16 KiB", body = crate::error::ApiError),
        (status = 500, description = "`internal_error`: our store failed; retry", body = crate::error::ApiError),
    ),
    security(("apiKey" = [])),
)]
async fn create_refund(
    State(vpos): State<Vpos>,
    Authenticated(merchant): Authenticated,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body(bytes)?;
    let key = idempotency_key(&headers)?;
    let (transaction, _) = vpos.create_refund(&merchant, &bytes, key.as_deref()).await?;
    Ok(axum::Json(transaction).into_response())
}

/// `?reference=…`.
#[derive(Debug, Deserialize)]
struct ReferenceQuery {
    reference: Option<String>,
}

fn reference(
    q: Result<Query<ReferenceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<String, ApiError> {
    let q =
        q.map_err(|e| ApiError::invalid_field("reference", format!("the query string is malformed: {e}")))?;
    match q.0.reference {
        Some(r) if !r.is_empty() && r.len() <= MAX_REFERENCE_BYTES => Ok(r),
        Some(_) => Err(ApiError::invalid_field("reference", "reference must be 1 to 64 characters")),
        None => Err(ApiError::invalid_field("reference", "the query parameter reference is missing")),
    }
}

/// A transaction of the merchant, with the terminal's current text while it is pending.
#[utoipa::path(
    get,
    path = "/api/v1/transaction",
    tag = "payment",
    operation_id = "getTransaction",
    params(("reference" = String, Query, description = "The transaction reference (`TL...`), 1 to 64 characters")),
    responses(
        (status = 200, description = "The transaction", body = crate::model::Transaction),
        (status = 400, description = "`invalid_request`: a field is missing or invalid (`field` names it), or the body is not a JSON object", body = crate::error::ApiError),
        (status = 401, description = "`unauthorized`: no API key, or an unknown one", body = crate::error::ApiError, headers(("WWW-Authenticate" = String, description = "`Basic realm=\"ccv-emu payment API\"`"))),
        (status = 404, description = "`not_found`: no such transaction for this merchant", body = crate::error::ApiError),
        (status = 500, description = "`internal_error`: our store failed; retry", body = crate::error::ApiError),
    ),
    security(("apiKey" = [])),
)]
async fn transaction(
    State(vpos): State<Vpos>,
    Authenticated(merchant): Authenticated,
    q: Result<Query<ReferenceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let reference = reference(q)?;
    Ok(axum::Json(vpos.transaction(&merchant, &reference).await?).into_response())
}

/// The `payUrl` page (HTML).
///
/// No external assets. It follows the transaction and, for a Cloud Connect 1.0 payment in browser mode, sends the
/// local kick from the POS's browser.
#[utoipa::path(
    get,
    path = "/terminal/poll",
    tag = "payUrl page",
    operation_id = "payPage",
    params(("reference" = String, Query, description = "The transaction reference; read by the page's script")),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String, headers(("Cache-Control" = String, description = "`no-store`"))),
    ),
)]
async fn pay_page() -> Response {
    let mut resp = Html(PAY_PAGE).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// What the `payUrl` page shows and, in browser mode, the kick it sends.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct PageState {
    /// The transaction reference.
    reference: String,
    /// The status.
    #[schema(value_type = crate::model::PaymentStatus)]
    status: &'static str,
    /// The amount's decimal text, as a string (`"12.50"`).
    amount: String,
    /// ISO 4217 code.
    currency: String,
    /// The terminal's TMS ID.
    terminal_id: String,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    failure_code: Option<crate::model::FailureCode>,
    /// What happened, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    failure_message: Option<String>,
    /// While pending: the text the terminal shows now.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    terminal_message: Option<String>,
    /// Where the payer returns to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    return_url: Option<String>,
    /// Present while the page is expected to send the local kick: where, and the body.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    kick: Option<PageKick>,
}

/// The local kick the `payUrl` page is to send from the POS's browser.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PageKick {
    /// `http://{ip}:{port}/kick`.
    url: String,
    /// The JSON body to post.
    #[schema(value_type = crate::openapi::KickRequestBody)]
    body: ccv_wire::local_kick::KickRequestBody,
}

/// What the `payUrl` page shows, and the kick it is to send.
#[utoipa::path(
    get,
    path = "/terminal/poll/state",
    tag = "payUrl page",
    operation_id = "payPageState",
    params(("reference" = String, Query, description = "The transaction reference (`TL...`), 1 to 64 characters")),
    responses(
        (status = 200, description = "The transaction as the page shows it", body = PageState, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "`invalid_request`: a field is missing or invalid (`field` names it), or the body is not a JSON object", body = crate::error::ApiError),
        (status = 404, description = "`not_found`: no such transaction", body = crate::error::ApiError),
        (status = 500, description = "`internal_error`: our store failed; retry", body = crate::error::ApiError),
    ),
)]
async fn pay_state(
    State(vpos): State<Vpos>,
    q: Result<Query<ReferenceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let reference = reference(q)?;
    let t = vpos.public_status(&reference).await?;
    let kick = match (&t.details.ip, t.details.port) {
        (Some(ip), Some(port)) if vpos.awaits_browser_kick(&reference) => Some(PageKick {
            url: format!(
                "http://{}{}",
                ccv_wire::HostPort::new(ip.clone(), port),
                ccv_wire::local_kick::KICK_PATH
            ),
            body: ccv_wire::local_kick::KickRequestBody {
                reference: Some(reference.clone()),
                tas: vpos.config().kick_tas.clone(),
            },
        }),
        _ => None,
    };
    let state = PageState {
        reference: t.reference,
        status: t.status.as_str(),
        amount: t.amount.0,
        currency: t.currency,
        terminal_id: t.details.terminal_id,
        failure_code: t.failure_code,
        failure_message: t.failure_message,
        terminal_message: t.details.terminal_message,
        return_url: t.texts.return_url,
        kick,
    };
    let mut resp = axum::Json(state).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The `payUrl` page's report of the local kick it sent from the browser.
#[utoipa::path(
    post,
    path = "/terminal/poll/kick-result",
    tag = "payUrl page",
    operation_id = "payPageKickResult",
    params(("reference" = String, Query, description = "The transaction reference (`TL...`), 1 to 64 characters")),
    request_body(content = crate::openapi::BrowserKickReport, description = "What the terminal answered, or why the browser could not reach it"),
    responses(
        (status = 204, description = "Taken"),
        (status = 400, description = "`invalid_request`: a field is missing or invalid (`field` names it), or the body is not a JSON object", body = crate::error::ApiError),
        (status = 409, description = "`conflict`: the transaction does not wait for a kick from its page (any more)", body = crate::error::ApiError),
        (status = 413, description = "`payload_too_large`: the body is over 16 KiB", body = crate::error::ApiError),
    ),
)]
async fn kick_result(
    State(vpos): State<Vpos>,
    q: Result<Query<ReferenceQuery>, axum::extract::rejection::QueryRejection>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let reference = reference(q)?;
    let bytes = body(bytes)?;
    let report: BrowserKickReport = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(ErrorType::InvalidRequest, format!("unreadable kick report: {e}")))?;
    vpos.browser_kick_report(&reference, report)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `payUrl` page: no external assets.
const PAY_PAGE: &str = include_str!("pay_page.html");

// ---------------------------------------------------------------------------------------------------------------
// Admin API.

/// The admin API: merchants, keys, whitelists, settings, webhook attempts. Bind it to loopback.
pub fn admin_router(vpos: Vpos) -> Router {
    Router::new()
        .route("/admin/merchants", get(list_merchants).post(add_merchant))
        .route("/admin/merchants/{name}/keys", post(add_key))
        .route("/admin/merchants/{name}/local-kick", put(set_local_kick))
        .route("/admin/merchants/{name}/whitelist", get(list_whitelist).post(add_whitelist))
        .route("/admin/merchants/{name}/whitelist/{tms_id}", delete(remove_whitelist))
        .route("/admin/transactions/{reference}", get(admin_transaction))
        .route("/admin/transactions/{reference}/webhooks", get(webhook_attempts))
        .route("/openapi.json", get(openapi_document))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(vpos)
}

async fn blocking<T: Send + 'static>(
    vpos: &Vpos,
    f: impl FnOnce(&crate::store::Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    crate::engine::db(vpos.store(), f).await.map_err(admin_error)
}

/// Admin errors: the store's message, with the status that fits.
fn admin_error(e: StoreError) -> ApiError {
    let message = e.to_string();
    match e {
        StoreError::UnknownMerchant { .. }
        | StoreError::NotWhitelisted { .. }
        | StoreError::PaymentNotFound { .. } => ApiError::new(ErrorType::NotFound, message),
        StoreError::DuplicateMerchant { .. } | StoreError::DuplicateWhitelist { .. } => {
            ApiError::new(ErrorType::Conflict, message)
        }
        StoreError::BadMerchantName { .. } | StoreError::BadTmsId { .. } => {
            ApiError::new(ErrorType::InvalidRequest, message)
        }
        other => ApiError::from(other),
    }
}

fn json_body<T: serde::de::DeserializeOwned>(bytes: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body(bytes)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(ErrorType::InvalidRequest, format!("the body is not the JSON expected: {e}"))
    })
}

/// Every merchant, with counts.
#[utoipa::path(
    get,
    path = "/admin/merchants",
    tag = "admin",
    operation_id = "listMerchants",
    responses(
        (status = 200, description = "The merchants", body = Vec<crate::store::MerchantSummary>),
        (status = 500, description = "`internal_error`: our store failed; retry", body = crate::error::ApiError),
    ),
)]
async fn list_merchants(State(vpos): State<Vpos>) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(&vpos, |s| s.merchants()).await?).into_response())
}

/// A new merchant.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NameBody {
    /// 1 to 64 ASCII letters, digits, `-`, `_`, `.`.
    name: String,
}

/// Adds a merchant.
#[utoipa::path(
    post,
    path = "/admin/merchants",
    tag = "admin",
    operation_id = "addMerchant",
    request_body = NameBody,
    responses(
        (status = 201, description = "The merchant", body = crate::store::Merchant),
        (status = 400, description = "`invalid_request`: the body is not the JSON expected, or the name is not 1 to 64 ASCII letters, digits, `-`, `_`, `.`", body = crate::error::ApiError),
        (status = 409, description = "`conflict`: the merchant exists", body = crate::error::ApiError),
        (status = 413, description = "`payload_too_large`: the body is over 16 KiB", body = crate::error::ApiError),
        (status = 500, description = "`internal_error`: our store failed; retry", body = crate::error::ApiError),
    ),
)]
async fn add_merchant(
    State(vpos): State<Vpos>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let NameBody { name } = json_body(bytes)?;
    let m = blocking(&vpos, move |s| s.add_merchant(&name, now_ms())).await?;
    Ok((StatusCode::CREATED, axum::Json(m)).into_response())
}

/// Makes a new API key for a merchant; the answer is the only time the key is seen.
#[utoipa::path(
    post,
    path = "/admin/merchants/{name}/keys",
    tag = "admin",
    operation_id = "addApiKey",
    params(("name" = String, Path, description = "The merchant's name")),
    responses(
        (status = 201, description = "The new key", body = crate::store::NewApiKey),
        (status = 404, description = "`not_found`: no such merchant", body = crate::error::ApiError),
        (status = 500, description = "`internal_error`: our store failed; retry", body = crate::error::ApiError),
    ),
)]
async fn add_key(State(vpos): State<Vpos>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let key = blocking(&vpos, move |s| s.add_api_key(&name, now_ms())).await?;
    Ok((StatusCode::CREATED, axum::Json(key)).into_response())
}

/// Who sends the local kick.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LocalKickBody {
    /// `browser` (the `payUrl` page, as at CCV) or `server` (the payment API itself).
    mode: LocalKickMode,
}

/// Sets who sends the local kick of the merchant's Cloud Connect 1.0 payments.
#[utoipa::path(
    put,
    path = "/admin/merchants/{name}/local-kick",
    tag = "admin",
    operation_id = "setLocalKick",
    params(("name" = String, Path, description = "The merchant's name")),
    request_body = LocalKickBody,
    responses(
        (status = 200, description = "The merchant", body = crate::store::Merchant),
        (status = 400, description = "`invalid_request`: the body is not the JSON expected", body = crate::error::ApiError),
        (status = 404, description = "`not_found`: no such merchant", body = crate::error::ApiError),
        (status = 413, description = "`payload_too_large`: the body is over 16 KiB", body = crate::error::ApiError),
        (status = 500, description = "`internal_error`: our store failed; retry", body = crate::error::ApiError),
    ),
)]
async fn set_local_kick(
    State(vpos): State<Vpos>,
    Path(name): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let LocalKickBody { mode } = json_body(bytes)?;
    Ok(axum::Json(blocking(&vpos, move |s| s.set_local_kick(&name, mode)).await?).into_response())
}

/// The TMS IDs on the merchant's whitelist (R10), sorted.
#[utoipa::path(
    get,
    path = "/admin/merchants/{name}/whitelist",
    tag = "admin",
    operation_id = "listWhitelist",
    params(("name" = String, Path, description = "The merchant's name")),
    responses(
        (status = 200, description = "The TMS IDs", body = Vec<String>),
        (status = 404, description = "`not_found`: no such merchant", body = crate::error::ApiError),
        (status = 500, description = "`internal_error`: our store failed; retry", body = crate::error::ApiError),
    ),
)]
async fn list_whitelist(State(vpos): State<Vpos>, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(&vpos, move |s| s.whitelist(&name)).await?).into_response())
}

/// A TMS ID for a whitelist.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TmsBody {
    /// 1 to 32 ASCII letters or digits.
    tms_id: String,
}

/// Puts a TMS ID on the merchant's whitelist.
#[utoipa::path(
    post,
    path = "/admin/merchants/{name}/whitelist",
    tag = "admin",
    operation_id = "addToWhitelist",
    params(("name" = String, Path, description = "The merchant's name")),
    request_body = TmsBody,
    responses(
        (status = 201, description = "The whitelist after the change", body = Vec<String>),
        (status = 400, description = "`invalid_request`: the body is not the JSON expected, or the TMS ID is not 1 to 32 ASCII letters or digits", body = crate::error::ApiError),
        (status = 404, description = "`not_found`: no such merchant", body = crate::error::ApiError),
        (status = 409, description = "`conflict`: the TMS ID is on the whitelist already", body = crate::error::ApiError),
        (status = 413, description = "`payload_too_large`: the body is over 16 KiB", body = crate::error::ApiError),
        (status = 500, description = "`internal_error`: our store failed; retry", body = crate::error::ApiError),
    ),
)]
async fn add_whitelist(
    State(vpos): State<Vpos>,
    Path(name): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let TmsBody { tms_id } = json_body(bytes)?;
    let list = blocking(&vpos, move |s| {
        s.whitelist_add(&name, &tms_id, now_ms())?;
        s.whitelist(&name)
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(list)).into_response())
}

/// Takes a TMS ID off the merchant's whitelist.
#[utoipa::path(
    delete,
    path = "/admin/merchants/{name}/whitelist/{tms_id}",
    tag = "admin",
    operation_id = "removeFromWhitelist",
    params(("name" = String, Path, description = "The merchant's name"), ("tms_id" = String, Path, description = "The TMS ID")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "`not_found`: no such merchant, or the TMS ID is not on its whitelist", body = crate::error::ApiError),
        (status = 500, description = "`internal_error`: our store failed; retry", body = crate::error::ApiError),
    ),
)]
async fn remove_whitelist(
    State(vpos): State<Vpos>,
    Path((name, tms_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    blocking(&vpos, move |s| s.whitelist_remove(&name, &tms_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Any merchant's transaction by reference.
#[utoipa::path(
    get,
    path = "/admin/transactions/{reference}",
    tag = "admin",
    operation_id = "adminTransaction",
    params(("reference" = String, Path, description = "The transaction reference (`TL...`)")),
    responses(
        (status = 200, description = "The transaction", body = crate::model::Transaction),
        (status = 404, description = "`not_found`: no such transaction", body = crate::error::ApiError),
        (status = 500, description = "`internal_error`: our store failed; retry", body = crate::error::ApiError),
    ),
)]
async fn admin_transaction(
    State(vpos): State<Vpos>,
    Path(reference): Path<String>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(vpos.public_status(&reference).await?).into_response())
}

/// The webhook attempts made for a transaction, oldest first.
#[utoipa::path(
    get,
    path = "/admin/transactions/{reference}/webhooks",
    tag = "admin",
    operation_id = "webhookAttempts",
    params(("reference" = String, Path, description = "The transaction reference (`TL...`)")),
    responses(
        (status = 200, description = "The attempts (empty for an unknown reference)", body = Vec<crate::store::WebhookAttempt>),
        (status = 500, description = "`internal_error`: our store failed; retry", body = crate::error::ApiError),
    ),
)]
async fn webhook_attempts(
    State(vpos): State<Vpos>,
    Path(reference): Path<String>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(&vpos, move |s| s.webhook_attempts(&reference)).await?).into_response())
}

/// This OpenAPI document (on both routers).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "openapi",
    operation_id = "openapi",
    responses(
        (status = 200, description = "This document", content_type = "application/json", body = Object),
    ),
)]
async fn openapi_document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::openapi_json()).into_response()
}
