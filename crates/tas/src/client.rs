//! A small HTTP/1.1 JSON client (reqwest: plain HTTP, no proxy) for the TAS API, used by `ccv-emu pay` and tests.

use std::error::Error as _;
use std::time::Duration;

pub use axum::http::{Method, StatusCode};
use axum::http::{Uri, header};
use http_body_util::{BodyExt, Limited};
use serde_json::Value;

/// Why an API call failed before a JSON answer came back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The base URL is not `http://host:port`.
    #[error("{0:?} is not an http://HOST:PORT URL")]
    BadUrl(String),
    /// Connecting failed.
    #[error("cannot connect to {addr}: {source} (is `ccv-emu tas` running with --api {addr}?)")]
    Connect {
        /// host:port.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The connection broke after the request went out and before the whole answer came back.
    #[error(
        "the connection to {addr} broke before the answer came: {message}; whether the request was carried out is unknown"
    )]
    Interrupted {
        /// host:port.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// HTTP-level failure.
    #[error("HTTP error talking to {addr}: {message}")]
    Http {
        /// host:port.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// No answer in time.
    #[error("no answer from {addr} within {timeout:?}")]
    Timeout {
        /// host:port.
        addr: String,
        /// The time-out.
        timeout: Duration,
    },
    /// The answer was not JSON.
    #[error("the answer from {addr} (status {status}) is not JSON: {message}")]
    NotJson {
        /// host:port.
        addr: String,
        /// HTTP status.
        status: u16,
        /// Parser message.
        message: String,
    },
}

impl ClientError {
    /// Whether the request may have reached the API and been carried out although no answer was read: a
    /// time-out after connecting, a connection that broke mid-exchange, an answer that is not JSON. `false` when
    /// nothing was sent (a bad URL, nobody listening).
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            ClientError::Timeout { .. } | ClientError::Interrupted { .. } | ClientError::NotJson { .. }
        )
    }
}

/// Largest answer read.
const ANSWER_LIMIT: usize = 1 << 20;

/// Sends `method base_url+path` with an optional JSON body; returns the status and the JSON answer.
/// The whole exchange (connect, send, receive) must finish within `timeout`; answers above 1 MiB are refused.
pub async fn call_json(
    base_url: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
    timeout: Duration,
) -> Result<(StatusCode, Value), ClientError> {
    let base: Uri =
        base_url.trim_end_matches('/').parse().map_err(|_| ClientError::BadUrl(base_url.to_owned()))?;
    if base.scheme_str().is_some_and(|s| s != "http") {
        return Err(ClientError::BadUrl(base_url.to_owned()));
    }
    let authority = base.authority().ok_or_else(|| ClientError::BadUrl(base_url.to_owned()))?;
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    let addr = format!("{host}:{}", authority.port_u16().unwrap_or(80));
    let fail = |err: reqwest::Error| classify(&addr, timeout, &err);
    let client = reqwest::Client::builder().no_proxy().timeout(timeout).build().map_err(fail)?;
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default()).unwrap_or_default();
    let resp = client
        .request(method, format!("http://{authority}{path}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(bytes)
        .send()
        .await
        .map_err(fail)?;
    let status = resp.status();
    let collected = match Limited::new(reqwest::Body::from(resp), ANSWER_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => match err.downcast::<reqwest::Error>() {
            Ok(err) => return Err(fail(*err)),
            Err(err) => return Err(ClientError::Http { addr, message: err.to_string() }),
        },
    };
    let json = serde_json::from_slice::<Value>(&collected).map_err(|e| ClientError::NotJson {
        addr: addr.clone(),
        status: status.as_u16(),
        message: e.to_string(),
    })?;
    Ok((status, json))
}

/// Sorts a reqwest error into connection failure (nothing sent; with the socket's own error), time-out, a
/// connection that broke mid-exchange, or anything else.
fn classify(addr: &str, timeout: Duration, err: &reqwest::Error) -> ClientError {
    let addr = addr.to_owned();
    let causes = || std::iter::successors(err.source(), |&e| e.source());
    let message = || causes().fold(err.to_string(), |msg, cause| format!("{msg}: {cause}"));
    if err.is_connect() {
        let source = match causes().find_map(|e| e.downcast_ref::<std::io::Error>()) {
            Some(io) => std::io::Error::new(io.kind(), io.to_string()),
            None if err.is_timeout() => std::io::Error::new(std::io::ErrorKind::TimedOut, message()),
            None => std::io::Error::other(message()),
        };
        return ClientError::Connect { addr, source };
    }
    if err.is_timeout() {
        return ClientError::Timeout { addr, timeout };
    }
    if err.is_request() || err.is_body() || err.is_decode() {
        return ClientError::Interrupted { addr, message: message() };
    }
    ClientError::Http { addr, message: message() }
}
