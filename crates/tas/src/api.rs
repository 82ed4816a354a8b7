//! The TAS's HTTP API (axum), for tools and tests. See the crate docs for the routes.
//!
//! Every route refuses requests a web page could make on a user's behalf (`same_site_json_only`): a foreign
//! `Origin` (403 `cross_origin`) and, on state-changing methods, a body that is not `application/json` (415
//! `unsupported_media_type`). [`serve`] serves it (and the payment API and the sandbox's control API) with
//! limits on the request head.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::HttpBody as _;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
    #[serde(default = "page_limit")]
    limit: usize,
}

/// Entries in a transcript page when the request does not say.
fn page_limit() -> usize {
    100
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaitQuery {
    #[serde(default)]
    timeout_secs: Option<u64>,
}

/// The one error body of the API: `{"error": a stable name, "message": what was wrong and what to do}`.
fn error_response(code: StatusCode, error: &str, message: impl std::fmt::Display) -> Response {
    (code, axum::Json(json!({"error": error, "message": message.to_string()}))).into_response()
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
        error_response(code, error, self)
    }
}

/// The origins a browser gives pages served from the API's own address: only these may send requests with an
/// `Origin` header. A listener on an unspecified address (`0.0.0.0`, `::`) counts the loopback names as its own.
pub fn own_origins(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let mut hosts = Vec::new();
    if addr.ip().is_unspecified() || addr.ip().is_loopback() {
        hosts.extend(["localhost".to_owned(), "127.0.0.1".to_owned(), "[::1]".to_owned()]);
    }
    match addr.ip() {
        ip if ip.is_unspecified() => {}
        IpAddr::V4(ip) => hosts.push(ip.to_string()),
        IpAddr::V6(ip) => hosts.push(format!("[{ip}]")),
    }
    hosts.sort();
    hosts.dedup();
    hosts.into_iter().map(|host| format!("http://{host}:{port}")).collect()
}

/// Most bytes of a request's head (request line and headers) an HTTP API of the emulator takes; a longer head is
/// answered `431` and closed, and hyper's read buffer, which holds the head, grows to about this much. A REST
/// request needs a few KiB; without it hyper's only bound is its read buffer's (about 400 KiB per connection).
pub const MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;
/// Most headers in a request; more are answered `431` and closed (hyper's default, stated here).
pub const MAX_REQUEST_HEADERS: usize = 100;
/// Time a client has to send a request's head, and the most a kept-alive connection waits idle for the next
/// one; then the connection is closed. A slow client holds its connection (and at most
/// [`MAX_REQUEST_HEAD_BYTES`]) this long, not for ever.
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown`, then lets the connections finish what they serve, as
/// `axum::serve(..).with_graceful_shutdown(..)` does, but with the request-head limits above
/// ([`MAX_REQUEST_HEAD_BYTES`], [`MAX_REQUEST_HEADERS`]) and the head's time-out ([`REQUEST_HEAD_TIMEOUT`]),
/// which `axum::serve` does not let one set. The one way
/// the TAS API, the payment API and the sandbox's control API are served.
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if is_connection_error(&error) => continue,
            // Out of file descriptors and the like: wait a moment (as axum::serve does) instead of spinning.
            Err(error) => {
                tracing::warn!(%error, "HTTP accept failed");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let service = TowerToHyperService::new(app.clone());
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(REQUEST_HEAD_TIMEOUT)
                .max_header_size(MAX_REQUEST_HEAD_BYTES)
                .max_buf_size(MAX_REQUEST_HEAD_BYTES)
                .max_headers(MAX_REQUEST_HEADERS)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(%peer, %error, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// An accept error about one connection (gone before it was accepted), not about the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// Refuses what a web page could send on a user's behalf. A request with an `Origin` header other than the API's
/// own is refused (403), whatever its method: browsers send one on every cross-site POST, with or without a
/// preflight. A request that can change state (any method but GET and HEAD) carries `application/json` or no body
/// at all (415): `text/plain`, form and multipart bodies are the ones a page can send without a preflight.
/// The error body is `{"error", "message"}`. A middleware for any axum router on a local port (the sandbox's
/// control API uses it too): `from_fn_with_state(Arc::from(own_origins(addr)), same_site_json_only)`.
pub async fn same_site_json_only(State(own): State<Arc<[String]>>, request: Request, next: Next) -> Response {
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        if !own.iter().any(|o| o.as_bytes() == origin.as_bytes()) {
            let shown = String::from_utf8_lossy(origin.as_bytes());
            return error_response(
                StatusCode::FORBIDDEN,
                "cross_origin",
                format_args!(
                    "requests from origin {shown:?} are refused; the API answers clients that send no Origin \
                     (tools, scripts) and pages of its own origin ({})",
                    own.join(", ")
                ),
            );
        }
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let content_type = request.headers().get(header::CONTENT_TYPE);
        let json = content_type
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| m.type_() == mime::APPLICATION && m.subtype() == mime::JSON);
        let empty = request.body().size_hint().exact() == Some(0);
        if !(json || (content_type.is_none() && empty)) {
            let shown = content_type.map_or_else(|| "none".into(), |v| String::from_utf8_lossy(v.as_bytes()));
            return error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format_args!(
                    "a {} request needs Content-Type: application/json (or no body at all); got {shown:?}",
                    request.method()
                ),
            );
        }
    }
    next.run(request).await
}

pub(crate) fn router(shared: Arc<Shared>, addr: SocketAddr) -> Router {
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
        .layer(axum::middleware::from_fn_with_state(Arc::from(own_origins(addr)), same_site_json_only))
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
    axum::Json(s.transcript.page(q.tms_id.as_deref(), q.since, q.limit)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_origins_follow_the_listening_address() {
        let loopback = own_origins("127.0.0.1:8080".parse().expect("address"));
        assert_eq!(loopback, ["http://127.0.0.1:8080", "http://[::1]:8080", "http://localhost:8080"]);
        let lan = own_origins("192.0.2.7:80".parse().expect("address"));
        assert_eq!(lan, ["http://192.0.2.7:80"]);
        let any = own_origins("[::]:9".parse().expect("address"));
        assert_eq!(any, ["http://127.0.0.1:9", "http://[::1]:9", "http://localhost:9"]);
    }
}
