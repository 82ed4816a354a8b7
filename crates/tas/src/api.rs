//! The TAS's HTTP API (axum), for tools and tests. See the crate docs for the routes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::TasError;
use crate::amount::parse_amount;
use crate::model::JobKind;
use crate::server::Shared;

/// Body of the card-service routes (`payments`, `refunds`, `reversals`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CardBody {
    amount: Value,
    #[serde(default = "eur")]
    currency: String,
    #[serde(default)]
    timeout_secs: Option<u64>,
    #[serde(default)]
    original_stan: Option<String>,
}

fn eur() -> String {
    "EUR".to_owned()
}

/// Body of the service routes (all fields optional).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ServiceBody {
    #[serde(default)]
    timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct PrinterBody {
    fail: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TranscriptQuery {
    #[serde(default)]
    tms_id: Option<String>,
    #[serde(default)]
    since: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaitQuery {
    #[serde(default)]
    timeout_secs: Option<u64>,
}

impl IntoResponse for TasError {
    fn into_response(self) -> Response {
        let (code, error) = match &self {
            TasError::NotConnected { .. } => (StatusCode::NOT_FOUND, "terminal_not_connected"),
            TasError::Busy { .. } => (StatusCode::CONFLICT, "terminal_busy"),
            TasError::NothingToAbort { .. } => (StatusCode::CONFLICT, "nothing_to_abort"),
            TasError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            TasError::Encode(_) => (StatusCode::INTERNAL_SERVER_ERROR, "encode_failed"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        (code, axum::Json(json!({"error": error, "message": self.to_string()}))).into_response()
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/terminals", get(list))
        .route("/terminals/{tms_id}", get(one))
        .route("/terminals/{tms_id}/wait", get(wait))
        .route("/terminals/{tms_id}/payments", post(payment))
        .route("/terminals/{tms_id}/refunds", post(refund))
        .route("/terminals/{tms_id}/reversals", post(reversal))
        .route("/terminals/{tms_id}/abort", post(abort))
        .route("/terminals/{tms_id}/login", post(login))
        .route("/terminals/{tms_id}/logoff", post(logoff))
        .route("/terminals/{tms_id}/reconciliation", post(reconciliation))
        .route("/terminals/{tms_id}/printer", put(printer))
        .route("/transcript", get(transcript))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"error": "not_found", "message": "no such route; see GET /terminals"})),
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        .with_state(shared)
}

async fn list(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(s.terminals()).into_response()
}

async fn one(State(s): State<Arc<Shared>>, Path(tms_id): Path<String>) -> Response {
    match s.terminals().into_iter().find(|t| t.tms_id == tms_id) {
        Some(t) => axum::Json(t).into_response(),
        None => TasError::NotConnected { tms_id }.into_response(),
    }
}

async fn wait(
    State(s): State<Arc<Shared>>,
    Path(tms_id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Response {
    let timeout = Duration::from_secs(q.timeout_secs.unwrap_or(10).min(120));
    match s.wait_connected(&tms_id, timeout, |_| true).await {
        Ok(t) => axum::Json(t).into_response(),
        Err(e) => e.into_response(),
    }
}

fn card_job(
    body: Result<axum::Json<CardBody>, JsonRejection>,
    which: &str,
) -> Result<(JobKind, Option<Duration>), TasError> {
    let axum::Json(body) = body.map_err(|e| TasError::BadRequest(format!("{}: {e}", e.status())))?;
    let code = ccv_opi::Currency::new(&body.currency).map_err(TasError::BadRequest)?;
    let amount_minor =
        parse_amount(&body.amount, code).map_err(|e| TasError::BadRequest(e.to_string()))?.minor_units;
    let currency = body.currency;
    let kind = match which {
        "payment" => JobKind::Payment { amount_minor, currency },
        "refund" => JobKind::Refund { amount_minor, currency },
        _ => JobKind::Reversal { amount_minor, currency, original: body.original_stan },
    };
    Ok((kind, body.timeout_secs.map(Duration::from_secs)))
}

async fn run_card(
    s: Arc<Shared>,
    tms_id: String,
    body: Result<axum::Json<CardBody>, JsonRejection>,
    which: &str,
) -> Response {
    let (kind, timeout) = match card_job(body, which) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    match s.run(&tms_id, kind, timeout).await {
        Ok(r) => axum::Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn payment(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<axum::Json<CardBody>, JsonRejection>,
) -> Response {
    run_card(s, id, body, "payment").await
}

async fn refund(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<axum::Json<CardBody>, JsonRejection>,
) -> Response {
    run_card(s, id, body, "refund").await
}

async fn reversal(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<axum::Json<CardBody>, JsonRejection>,
) -> Response {
    run_card(s, id, body, "reversal").await
}

async fn run_service(s: Arc<Shared>, tms_id: String, body: axum::body::Bytes, kind: JobKind) -> Response {
    let body: ServiceBody = if body.iter().all(u8::is_ascii_whitespace) {
        ServiceBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => return TasError::BadRequest(format!("body: {e}")).into_response(),
        }
    };
    match s.run(&tms_id, kind, body.timeout_secs.map(Duration::from_secs)).await {
        Ok(r) => axum::Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn abort(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    run_service(s, id, body, JobKind::Abort).await
}

async fn login(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    run_service(s, id, body, JobKind::Login).await
}

async fn logoff(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    run_service(s, id, body, JobKind::Logoff).await
}

async fn reconciliation(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    run_service(s, id, body, JobKind::Reconciliation).await
}

async fn printer(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Result<axum::Json<PrinterBody>, JsonRejection>,
) -> Response {
    match body {
        Ok(axum::Json(b)) => {
            s.set_fail_printer(&id, b.fail);
            axum::Json(json!({"tmsId": id, "failPrinter": b.fail})).into_response()
        }
        Err(e) => TasError::BadRequest(format!("expected {{\"fail\": true|false}}: {e}")).into_response(),
    }
}

async fn transcript(State(s): State<Arc<Shared>>, Query(q): Query<TranscriptQuery>) -> Response {
    axum::Json(s.transcript.entries(q.tms_id.as_deref(), q.since)).into_response()
}
