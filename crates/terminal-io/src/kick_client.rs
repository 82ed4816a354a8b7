//! Sending a local kick (`ccv-emu kick local`, tests, benches): one `POST /kick` with reqwest (plain HTTP, no
//! proxy, one time-out for the whole exchange, the answer read up to 64 KiB).

use std::error::Error as _;
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::header;
use http_body_util::{BodyExt, Limited};

use ccv_wire::local_kick::{KICK_PATH, KickRequestBody};

/// Largest answer read.
const ANSWER_LIMIT: usize = 64 * 1024;

/// The terminal's answer to a kick.
#[derive(Debug, Clone, PartialEq)]
pub struct KickReply {
    /// HTTP status (202 accepted, 409 refused, 4xx/5xx errors).
    pub status: u16,
    /// The JSON body.
    pub body: serde_json::Value,
}

/// Why no answer came back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KickClientError {
    /// Nothing listens (trigger port 0, R21, or the terminal is not running).
    #[error("cannot connect to {addr}: {source} (is the terminal running, and is its trigger port not 0?)")]
    Connect {
        /// The terminal.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// HTTP-level failure.
    #[error("HTTP error talking to {addr}: {message}")]
    Http {
        /// The terminal.
        addr: SocketAddr,
        /// What went wrong.
        message: String,
    },
    /// No answer in time.
    #[error("no answer from {addr} within {timeout:?}")]
    Timeout {
        /// The terminal.
        addr: SocketAddr,
        /// The time-out.
        timeout: Duration,
    },
}

/// Sends a kick to `addr` and returns the answer (the body is JSON, or a JSON string of the raw text).
pub async fn send_kick(
    addr: SocketAddr,
    body: &KickRequestBody,
    timeout: Duration,
) -> Result<KickReply, KickClientError> {
    let json = serde_json::to_vec(body).unwrap_or_default();
    send_raw(addr, "POST", KICK_PATH, json, timeout).await
}

/// Sends any request to the kick listener (tests use it for bad input).
pub async fn send_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<KickReply, KickClientError> {
    let fail = |err: reqwest::Error| classify(addr, timeout, &err);
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|e| KickClientError::Http { addr, message: e.to_string() })?;
    let client = reqwest::Client::builder().no_proxy().timeout(timeout).build().map_err(fail)?;
    let resp = client
        .request(method, format!("http://{addr}{path}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(fail)?;
    let status = resp.status().as_u16();
    let bytes = match Limited::new(reqwest::Body::from(resp), ANSWER_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => match err.downcast::<reqwest::Error>() {
            Ok(err) => return Err(fail(*err)),
            Err(err) => return Err(KickClientError::Http { addr, message: err.to_string() }),
        },
    };
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok(KickReply { status, body })
}

/// Sorts a reqwest error into time-out, connection failure (with the socket's own error) or anything else.
fn classify(addr: SocketAddr, timeout: Duration, err: &reqwest::Error) -> KickClientError {
    if err.is_timeout() {
        return KickClientError::Timeout { addr, timeout };
    }
    let causes = || std::iter::successors(err.source(), |&e| e.source());
    if err.is_connect() {
        if let Some(io) = causes().find_map(|e| e.downcast_ref::<std::io::Error>()) {
            let source = std::io::Error::new(io.kind(), io.to_string());
            return KickClientError::Connect { addr, source };
        }
    }
    let message = causes().fold(err.to_string(), |msg, cause| format!("{msg}: {cause}"));
    KickClientError::Http { addr, message }
}
