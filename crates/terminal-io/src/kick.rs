//! The local-kick HTTP listener (Cloud Connect 1.0, R1/R4/R21), on axum and hyper with tower-http layers.
//!
//! The wire format is ours, defined in `ccv_wire::local_kick` and documented in `docs/LOCAL_KICK.md`: `POST /kick`
//! with an optional JSON body `{"reference": "...", "tas": {"host": "...", "port": 5555}}`, answered `202`
//! (accepted, the terminal starts dialling) or `409` with a typed refusal reason. This module only speaks HTTP: it turns a request into a
//! [`KickCall`] for the terminal's task and the task's [`KickAnswer`] back into a response.
//!
//! Bad input is refused without touching the terminal: unknown paths `404`, other methods `405`, bodies over
//! [`KickHttpSettings::body_limit`] `413` (tower-http's `RequestBodyLimitLayer`: checked on `Content-Length`
//! before reading and again while reading), malformed JSON `400`, a body that stalls for
//! [`KickHttpSettings::body_timeout`] `408` (tower-http's `RequestBodyTimeoutLayer`). CORS is tower-http's
//! `CorsLayer`, with Private Network Access, for [`CorsProfile::Modern`] and absent for old firmware; a request
//! whose `Origin` is not in [`KickHttpSettings::allowed_origins`] (`null` never is) gets `403` without any CORS
//! or Private Network Access allowance, preflights included. A kick naming a TAS is refused `403` unless
//! [`KickHttpSettings::allow_tas_override`] is set, so no page can send the terminal to another TAS. Where a
//! layer answers on its own, the answer is brought to this listener's shape: every `413` carries the JSON error,
//! and a preflight is `204`. Headers must arrive within [`KickHttpSettings::header_timeout`]; every connection
//! serves one request (no keep-alive) and lives at most [`KickHttpSettings::connection_timeout`], whatever the
//! client does; at most [`KickHttpSettings::max_connections`] are served at once (hyper's connection builder
//! and a semaphore), and at most [`KickHttpSettings::max_connections_per_peer`] from one IP address: a further
//! connection from that address is closed as soon as it is accepted, so slow clients cost only their own
//! address and a kick from anywhere else is served at once.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tower::Layer;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutError};

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
    /// Longest wait for the next part of the body once the headers are in.
    pub body_timeout: Duration,
    /// Longest life of one connection, whatever it does.
    pub connection_timeout: Duration,
    /// Time the terminal's task has to decide on a kick.
    pub decide_timeout: Duration,
    /// Most connections served at once; further clients wait in the accept queue.
    pub max_connections: usize,
    /// Most connections served at once from one IP address; a further one is closed when accepted.
    pub max_connections_per_peer: usize,
    /// CORS behaviour.
    pub cors: CorsProfile,
    /// Page origins (`scheme://host[:port]`) that may kick from a browser; `"*"` is any origin but `null`. With
    /// [`CorsProfile::Modern`] a request from another origin is refused `403` before CORS answers it.
    pub allowed_origins: Vec<String>,
    /// Whether a kick may name the TAS to dial (`tas` in the body); off, such a kick is refused `403`.
    pub allow_tas_override: bool,
}

impl Default for KickHttpSettings {
    fn default() -> Self {
        Self {
            body_limit: 4096,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(15),
            decide_timeout: Duration::from_secs(5),
            max_connections: 128,
            max_connections_per_peer: 8,
            cors: CorsProfile::Modern,
            allowed_origins: vec![ANY_ORIGIN.to_owned()],
            allow_tas_override: false,
        }
    }
}

/// In [`KickHttpSettings::allowed_origins`]: any origin except `null`.
pub const ANY_ORIGIN: &str = "*";

/// Whether a page of `origin` (the `Origin` header's value) may kick: never the opaque `null` (sandboxed frames,
/// `file:` and `data:` pages, which nobody can be held to), else when `allowed` has `*` or the origin itself
/// (ASCII case and a trailing `/` aside).
pub fn origin_allowed(allowed: &[String], origin: &[u8]) -> bool {
    let Ok(origin) = std::str::from_utf8(origin) else {
        return false;
    };
    let origin = origin.trim();
    if origin.is_empty() || origin.eq_ignore_ascii_case("null") {
        return false;
    }
    allowed
        .iter()
        .map(|a| a.trim().trim_end_matches('/'))
        .any(|a| a == ANY_ORIGIN || a.eq_ignore_ascii_case(origin.trim_end_matches('/')))
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
        let app = router(KickState { settings: settings.clone(), calls });
        let permits = Arc::new(Semaphore::new(settings.max_connections.max(1)));
        let peers = Peers::default();
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
            let Some(slot) = peers.take(peer.ip(), settings.max_connections_per_peer) else {
                tracing::debug!(%peer, max = settings.max_connections_per_peer,
                    "kick listener: too many connections from this address; closed");
                continue;
            };
            let app = app.clone();
            let settings = settings.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let _held = (permit, slot);
                serve_connection(stream, peer, app, &settings, shutdown).await;
            });
        }
    }
}

/// Connections being served, per IP address (an IPv4-mapped IPv6 address counts as its IPv4 address).
#[derive(Debug, Clone, Default)]
struct Peers(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection's place in [`Peers`], given back when dropped.
#[derive(Debug)]
struct PeerSlot {
    peers: Peers,
    ip: IpAddr,
}

impl Peers {
    /// A lock poisoned by a panic elsewhere still holds valid counts.
    fn counts(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for one more connection from `ip`, unless it has `max` already.
    fn take(&self, ip: IpAddr, max: usize) -> Option<PeerSlot> {
        let ip = ip.to_canonical();
        let mut counts = self.counts();
        let n = counts.entry(ip).or_insert(0);
        if *n >= max.max(1) {
            return None;
        }
        *n += 1;
        Some(PeerSlot { peers: self.clone(), ip })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut counts = self.peers.counts();
        if let Some(n) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    app: Router,
    settings: &KickHttpSettings,
    shutdown: CancellationToken,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(axum::Extension(peer).layer(app));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .keep_alive(false)
        // A client that closes its sending side after the request still gets the answer; a request cut short by
        // the close ends the connection at once instead of waiting for the header time-out.
        .half_close(true)
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

/// Serves one connection `stream` from `peer` as the listener does (its HTTP parsing, limits, time-outs, CORS and
/// origin rules), handing accepted kicks to `calls`: the fuzz body's way in, without a socket.
pub(crate) async fn serve_one<S>(
    stream: S,
    peer: SocketAddr,
    settings: KickHttpSettings,
    calls: mpsc::Sender<Box<KickCall>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let settings = Arc::new(settings);
    let app = router(KickState { settings: settings.clone(), calls });
    serve_connection(stream, peer, app, &settings, CancellationToken::new()).await;
}

/// The listener's service: routes, then (inside out) the body limit, the body time-out, the JSON `413`, and for
/// [`CorsProfile::Modern`] CORS with its preflight as `204`.
fn router(state: KickState) -> Router {
    let settings = state.settings.clone();
    let kick = axum::routing::post(kick_post)
        // With CORS the layer answers every OPTIONS before it gets here; old firmware knows no preflight and
        // answers a bare 405, as a browser would see it.
        .options(|| async { StatusCode::METHOD_NOT_ALLOWED })
        .fallback(method_not_allowed);
    let app = Router::new()
        .route(KICK_PATH, kick)
        .fallback(not_found)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(settings.body_limit))
        .layer(RequestBodyTimeoutLayer::new(settings.body_timeout))
        .layer(axum::middleware::map_response_with_state(settings.body_limit, json_too_large));
    match settings.cors {
        CorsProfile::Modern => app
            .layer(cors())
            .layer(axum::middleware::map_response(preflight_no_content))
            .layer(axum::middleware::from_fn_with_state(settings, only_allowed_origins)),
        CorsProfile::OldFirmwareNoCors => app,
    }
}

/// A request from a page whose origin may not kick is refused here, before the CORS layer could allow it
/// anything: `403` with the JSON error, no `Access-Control-*` header (a preflight fails, and so does the
/// request a browser sends without one).
async fn only_allowed_origins(
    State(settings): State<Arc<KickHttpSettings>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return next.run(request).await;
    };
    if origin_allowed(&settings.allowed_origins, origin.as_bytes()) {
        return next.run(request).await;
    }
    let shown = String::from_utf8_lossy(origin.as_bytes()).chars().take(200).collect::<String>();
    let mut resp = http_error(
        StatusCode::FORBIDDEN,
        "origin_not_allowed",
        format!(
            "pages of origin {shown:?} may not kick this terminal; list it in the terminal's [io] \
             kick_allowed_origins"
        ),
    );
    resp.headers_mut().insert(header::VARY, HeaderValue::from_static("origin"));
    resp
}

/// Origins are echoed (with `Vary`), requested headers allowed, and Private Network Access answered.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(Duration::from_secs(600))
        .allow_private_network(true)
}

/// The CORS layer answers a preflight `200` with an empty body; this listener has always said `204 No Content`.
/// Only a preflight answer carries `Access-Control-Allow-Methods`.
async fn preflight_no_content(mut resp: Response) -> Response {
    if resp.status() == StatusCode::OK && resp.headers().contains_key(header::ACCESS_CONTROL_ALLOW_METHODS) {
        *resp.status_mut() = StatusCode::NO_CONTENT;
    }
    resp
}

/// The body-limit layer refuses a too-large `Content-Length` with a plain-text `413`; every `413` of this
/// listener carries the JSON error instead.
async fn json_too_large(State(limit): State<usize>, resp: Response) -> Response {
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE { too_large(limit) } else { resp }
}

async fn not_found(uri: Uri) -> Response {
    http_error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such path {}; a local kick is POST {KICK_PATH}", uri.path()),
    )
}

async fn method_not_allowed(method: Method) -> Response {
    let mut resp = http_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not supported on {KICK_PATH}; send POST"),
    );
    resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
    resp
}

/// Whether `E` is anywhere in the chain of `err`'s causes.
fn caused_by<E: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(err), |e| e.source()).any(|e| e.is::<E>())
}

async fn kick_post(
    State(state): State<KickState>,
    axum::Extension(peer): axum::Extension<SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let bytes = match body {
        Ok(bytes) => bytes,
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => {
            return too_large(state.settings.body_limit);
        }
        Err(err) if caused_by::<TimeoutError>(&err) => {
            return http_error(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!("the request body stalled for {:?}", state.settings.body_timeout),
            );
        }
        Err(err) => {
            return http_error(
                StatusCode::BAD_REQUEST,
                "body_error",
                format!("could not read the body: {err}"),
            );
        }
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
    if body.tas.is_some() && !state.settings.allow_tas_override {
        return http_error(
            StatusCode::FORBIDDEN,
            "tas_override_not_allowed",
            "this terminal dials only the TAS it is configured with; a kick may name another TAS only when the \
             terminal's config sets [io] allow_tas_override = true (test set-ups); send the kick without \"tas\"",
        );
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

fn too_large(limit: usize) -> Response {
    http_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the body is too large; a kick body is at most {limit} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_places_back_and_a_mapped_address_counts_as_its_ipv4() {
        let peers = Peers::default();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let first = peers.take(v4, 2).expect("first place");
        let second = peers.take(mapped, 2).expect("second place");
        assert!(peers.take(v4, 2).is_none(), "a mapped address shares the IPv4 address's places");
        assert!(peers.take("192.0.2.2".parse().unwrap(), 2).is_some(), "another address is not concerned");
        drop(first);
        let third = peers.take(v4, 2).expect("a place given back is free again");
        drop((second, third));
        assert!(peers.counts().is_empty(), "no entry outlives its connections");
    }
}
