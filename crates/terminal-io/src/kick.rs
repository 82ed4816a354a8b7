//! The local-kick HTTP listener (Cloud Connect 1.0, R1/R4/R21), on axum and hyper.
//!
//! The wire format is ours, defined in `ccv_wire::local_kick` and documented in `docs/LOCAL_KICK.md`: `POST /kick`
//! with an optional JSON body `{"reference": "...", "tas": {"host": "...", "port": 5555}}`, answered `202`
//! (accepted, the terminal starts dialling) or `409` with a typed refusal reason. This module only speaks HTTP: it turns a request into a
//! [`KickCall`] for the terminal's task and the task's [`KickAnswer`] back into a response.
//!
//! Bad input is refused without touching the terminal: unknown paths `404`, other methods `405`, bodies over
//! [`KickHttpSettings::body_limit`] `413` (checked on `Content-Length` before reading and again while reading),
//! malformed JSON `400`, a body that does not arrive in time `408`. Headers must arrive within
//! [`KickHttpSettings::header_timeout`]; every connection serves one request (no keep-alive) and lives at most
//! [`KickHttpSettings::connection_timeout`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use ccv_wire::local_kick::{KICK_PATH, KickAnswer, KickRequestBody};

/// How the listener answers browsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorsProfile {
    /// Current firmware: answers CORS preflights and echoes `Access-Control-Allow-Private-Network: true`.
    #[default]
    Modern,
    /// Old firmware: sends no CORS header at all and does not answer `OPTIONS`, so a browser page on another
    /// origin cannot kick it (reproduces R4).
    OldFirmwareNoCors,
}

/// Limits and behaviour of one kick listener.
#[derive(Debug, Clone)]
pub struct KickHttpSettings {
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// Time allowed for the request line and headers.
    pub header_timeout: Duration,
    /// Time allowed for the body once the headers are in.
    pub body_timeout: Duration,
    /// Longest life of one connection, whatever it does.
    pub connection_timeout: Duration,
    /// Time the terminal's task has to decide on a kick.
    pub decide_timeout: Duration,
    /// Most connections served at once; further clients wait in the accept queue.
    pub max_connections: usize,
    /// CORS behaviour.
    pub cors: CorsProfile,
}

impl Default for KickHttpSettings {
    fn default() -> Self {
        Self {
            body_limit: 4096,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(15),
            decide_timeout: Duration::from_secs(5),
            max_connections: 64,
            cors: CorsProfile::Modern,
        }
    }
}

/// A kick handed to the terminal's task; the task answers on `reply`.
#[derive(Debug)]
pub struct KickCall {
    /// What the POS sent.
    pub body: KickRequestBody,
    /// The peer that sent it.
    pub peer: SocketAddr,
    /// Where the decision goes.
    pub reply: oneshot::Sender<KickAnswer>,
}

/// An error answer produced by the HTTP layer itself.
#[derive(Debug, Serialize)]
struct HttpError<'a> {
    status: &'static str,
    error: &'a str,
    message: String,
}

fn http_error(code: StatusCode, error: &str, message: impl Into<String>) -> Response {
    let body = HttpError { status: "error", error, message: message.into() };
    (code, axum::Json(body)).into_response()
}

#[derive(Clone)]
struct KickState {
    settings: Arc<KickHttpSettings>,
    calls: mpsc::Sender<Box<KickCall>>,
}

/// A bound kick listener; [`KickListener::serve`] runs it.
#[derive(Debug)]
pub struct KickListener {
    listener: TcpListener,
    settings: KickHttpSettings,
}

impl KickListener {
    /// Binds `addr` (use port 0 for an ephemeral port).
    pub async fn bind(addr: SocketAddr, settings: KickHttpSettings) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, settings })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves kicks until `shutdown` is cancelled; each accepted kick goes to `calls`.
    pub async fn serve(self, calls: mpsc::Sender<Box<KickCall>>, shutdown: CancellationToken) {
        let settings = Arc::new(self.settings);
        let permits = Arc::new(Semaphore::new(settings.max_connections.max(1)));
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => return,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
            };
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        tracing::warn!(error = %err, "kick listener: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let state = KickState { settings: settings.clone(), calls: calls.clone() };
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let _permit = permit;
                serve_connection(stream, peer, state, shutdown).await;
            });
        }
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    state: KickState,
    shutdown: CancellationToken,
) {
    let settings = state.settings.clone();
    let app = router(state).layer(axum::Extension(peer));
    let service = TowerToHyperService::new(app);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .keep_alive(false)
        .max_buf_size(16 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = shutdown.cancelled() => {}
        res = tokio::time::timeout(settings.connection_timeout, conn) => match res {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::debug!(%peer, error = %err, "kick connection ended with an error"),
            Err(_) => tracing::debug!(%peer, "kick connection timed out"),
        },
    }
}

fn router(state: KickState) -> Router {
    Router::new().route(KICK_PATH, axum::routing::any(kick_handler)).fallback(not_found).with_state(state)
}

async fn not_found(State(state): State<KickState>, headers: HeaderMap, req: Request) -> Response {
    let resp = http_error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such path {}; a local kick is POST {KICK_PATH}", req.uri().path()),
    );
    with_cors(resp, &state.settings, &headers)
}

async fn kick_handler(
    State(state): State<KickState>,
    axum::Extension(peer): axum::Extension<SocketAddr>,
    req: Request,
) -> Response {
    let headers = req.headers().clone();
    let settings = state.settings.clone();
    let resp = match *req.method() {
        Method::OPTIONS => match settings.cors {
            CorsProfile::Modern => preflight(&headers),
            // Old firmware knows no preflight: a bare 405 without CORS headers, as a browser would see it.
            CorsProfile::OldFirmwareNoCors => return StatusCode::METHOD_NOT_ALLOWED.into_response(),
        },
        Method::POST => kick_post(&state, peer, req).await,
        _ => {
            let mut resp = http_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{} is not supported on {KICK_PATH}; send POST", req.method()),
            );
            resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
            resp
        }
    };
    with_cors(resp, &settings, &headers)
}

async fn kick_post(state: &KickState, peer: SocketAddr, req: Request) -> Response {
    let limit = state.settings.body_limit;
    if let Some(len) = req.headers().get(header::CONTENT_LENGTH) {
        let declared = len.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok());
        match declared {
            Some(n) if n > limit as u64 => return too_large(n, limit),
            Some(_) => {}
            None => {
                return http_error(
                    StatusCode::BAD_REQUEST,
                    "bad_content_length",
                    "Content-Length is not a number",
                );
            }
        }
    }
    let body: Body = req.into_body();
    let collected =
        tokio::time::timeout(state.settings.body_timeout, Limited::new(body, limit).collect()).await;
    let bytes = match collected {
        Err(_) => {
            return http_error(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!("the request body did not arrive within {:?}", state.settings.body_timeout),
            );
        }
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => {
            return too_large(limit as u64 + 1, limit);
        }
        Ok(Err(err)) => {
            return http_error(
                StatusCode::BAD_REQUEST,
                "body_error",
                format!("could not read the body: {err}"),
            );
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
        KickRequestBody::default()
    } else {
        match serde_json::from_slice::<KickRequestBody>(&bytes) {
            Ok(body) => body,
            Err(err) => {
                return http_error(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    format!(
                        "the body is not a kick request: {err} (expected {{\"reference\": \"...\", \"tas\": {{\"host\": \"...\", \"port\": 5555}}}}, every field optional)"
                    ),
                );
            }
        }
    };
    if let Some(reference) = &body.reference {
        if reference.len() > 128 || reference.chars().any(char::is_control) {
            return http_error(
                StatusCode::BAD_REQUEST,
                "bad_reference",
                "reference must be at most 128 bytes without control characters",
            );
        }
    }
    if let Some(tas) = &body.tas {
        if tas.host.is_empty() || tas.host.len() > 253 || tas.port == 0 {
            return http_error(
                StatusCode::BAD_REQUEST,
                "bad_tas",
                "tas.host must be 1..=253 bytes and tas.port 1..=65535",
            );
        }
    }
    let (reply, answer) = oneshot::channel();
    let call = Box::new(KickCall { body, peer, reply });
    let decide = state.settings.decide_timeout;
    match tokio::time::timeout(decide, state.calls.send(call)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => {
            return http_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "terminal_stopped",
                "the terminal is shutting down",
            );
        }
        Err(_) => {
            return http_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "terminal_busy",
                "the terminal did not take the kick in time",
            );
        }
    }
    match tokio::time::timeout(decide, answer).await {
        Ok(Ok(answer)) => {
            let code = match answer {
                KickAnswer::Accepted { .. } => StatusCode::ACCEPTED,
                KickAnswer::Refused { .. } => StatusCode::CONFLICT,
            };
            (code, axum::Json(answer)).into_response()
        }
        Ok(Err(_)) => http_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "terminal_stopped",
            "the terminal stopped before deciding",
        ),
        Err(_) => http_error(
            StatusCode::GATEWAY_TIMEOUT,
            "decide_timeout",
            format!("the terminal did not decide within {decide:?}"),
        ),
    }
}

fn too_large(got: u64, limit: usize) -> Response {
    http_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the body has {got} bytes or more; a kick body is at most {limit} bytes"),
    )
}

fn preflight(headers: &HeaderMap) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST, OPTIONS"));
    let allow_headers = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("content-type"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    resp
}

/// Adds the CORS headers of the profile to any answer.
fn with_cors(mut resp: Response, settings: &KickHttpSettings, req: &HeaderMap) -> Response {
    if settings.cors == CorsProfile::OldFirmwareNoCors {
        return resp;
    }
    let h = resp.headers_mut();
    match req.get(header::ORIGIN) {
        Some(origin) => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        None => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
    }
    for (ask, allow) in [
        ("access-control-request-private-network", "access-control-allow-private-network"),
        ("access-control-request-local-network", "access-control-allow-local-network"),
    ] {
        if req.get(ask).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true")) {
            h.insert(allow, HeaderValue::from_static("true"));
        }
    }
    resp
}
