//! The dashboard: a web page served by the control API itself (`GET /`), its script and style compiled into the
//! binary (no external asset, no build step), live from the event stream (`GET /events`). The routes it needs
//! beyond the control API's own:
//!
//! - `GET /payments?limit=50`: the payment API's latest transactions of every merchant, newest first, as
//!   `GET /api/v1/transaction` shows them
//! - `GET /payments/{reference}`: one transaction and its webhook attempts
//! - `POST /payments` `{"tmsId", "amount", "managementSystemId"}`: a payment on that terminal as its merchant's POS
//!   makes it (through the payment API, with the merchant's test key)

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::control::{Control, ControlError};

const INDEX: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/app.css");

/// Most transactions one list returns.
const MAX_LIST: u32 = 500;

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The page is the sandbox's own; it takes nothing from elsewhere.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
            ),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub(crate) async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub(crate) async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// `?limit=`.
#[derive(Deserialize)]
pub(crate) struct ListQuery {
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/payments", tag = "payments",
    params(("limit" = Option<u32>, Query, description = "How many, newest first (default 50, at most 500)")),
    responses((status = 200, description = "The payment API's latest transactions of every merchant, as GET /api/v1/transaction shows them", body = Vec<Object>)))]
pub(crate) async fn list(
    State(c): State<Control>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ControlError> {
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_LIST);
    let base = c.vpos.config().base_url.clone();
    let store = c.vpos.store().clone();
    let records = tokio::task::spawn_blocking(move || store.recent_payments(limit))
        .await
        .map_err(|e| ControlError::internal(e.to_string()))?
        .map_err(|e| ControlError::internal(e.to_string()))?;
    let list: Vec<_> = records.iter().map(|r| r.to_transaction(&base)).collect();
    Ok(axum::Json(list).into_response())
}

#[utoipa::path(get, path = "/payments/{reference}", tag = "payments",
    params(("reference" = String, Path, description = "The transaction reference")),
    responses((status = 200, description = "`{\"transaction\", \"webhooks\"}`: the transaction and its webhook attempts", body = Object),
              (status = 404, description = "No such transaction", body = crate::control::ControlErrorBody)))]
pub(crate) async fn one(
    State(c): State<Control>,
    Path(reference): Path<String>,
) -> Result<Response, ControlError> {
    let base = c.vpos.config().base_url.clone();
    let store = c.vpos.store().clone();
    let r = reference.clone();
    let found = tokio::task::spawn_blocking(move || {
        let record = store.payment_any(&r)?;
        let attempts = store.webhook_attempts(&r)?;
        Ok::<_, ccv_vpos::StoreError>((record, attempts))
    })
    .await
    .map_err(|e| ControlError::internal(e.to_string()))?;
    match found {
        Ok((record, attempts)) => {
            Ok(axum::Json(json!({"transaction": record.to_transaction(&base), "webhooks": attempts}))
                .into_response())
        }
        Err(ccv_vpos::StoreError::PaymentNotFound { .. }) => {
            Err(ControlError::not_found(format!("no transaction {reference}: GET /payments lists them")))
        }
        Err(e) => Err(ControlError::internal(e.to_string())),
    }
}

/// A payment the dashboard makes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PayBody {
    /// The terminal.
    tms_id: String,
    /// `12.50`.
    amount: String,
    /// `GrundmasterNL` (default), `GrundmasterBE`, or `08900000002` (Cloud Connect 1.0: the terminal's kick
    /// address is filled in).
    management_system_id: Option<String>,
}

#[utoipa::path(post, path = "/payments", tag = "payments", request_body(content = PayBody),
    responses((status = 200, description = "The payment API's answer: the transaction, pending", body = Object),
              (status = 400, description = "A malformed body or what the payment API refused", body = Object),
              (status = 404, description = "No such terminal", body = crate::control::ControlErrorBody)))]
pub(crate) async fn pay(State(c): State<Control>, body: axum::body::Bytes) -> Result<Response, ControlError> {
    let PayBody { tms_id, amount, management_system_id } =
        crate::control::json(&body, r#"{"tmsId": "29000001", "amount": "12.50"}"#)?;
    let info = (c.info)();
    let t = info
        .terminals
        .iter()
        .find(|t| t.tms_id == tms_id)
        .ok_or_else(|| ControlError::not_found(format!("no terminal {tms_id} in this sandbox")))?;
    let key = info
        .api_key(&t.merchant)
        .map(str::to_owned)
        .ok_or_else(|| ControlError::internal(format!("terminal {tms_id} has no merchant")))?;
    let system = management_system_id.unwrap_or_else(|| "GrundmasterNL".to_owned());
    // The POS's 1.0 configuration names the terminal's address on the LAN and its trigger port.
    let lan = (system == ccv_vpos::validate::CLOUD_CONNECT_1_SYSTEM_ID)
        .then(|| t.kick_address.as_deref().and_then(|a| a.parse::<std::net::SocketAddr>().ok()))
        .flatten()
        .map(|at| (at.ip().to_string(), at.port()));
    let request = crate::payment_request(&tms_id, &amount, "EUR", &system, lan);
    let client = ccv_vpos::client::VposClient::new(&info.api_url, key);
    let (status, answer): (u16, Value) =
        client.create_payment(&request).await.map_err(|e| ControlError::internal(e.to_string()))?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    Ok((status, axum::Json(answer)).into_response())
}
