//! A small HTTP/1.1 JSON client (hyper) for the TAS API, used by `ccv-emu pay` and tests.

use std::time::Duration;

pub use axum::http::{Method, StatusCode};
use axum::http::{Request, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

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
    let authority = base.authority().ok_or_else(|| ClientError::BadUrl(base_url.to_owned()))?.clone();
    let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = authority.port_u16().unwrap_or(80);
    let addr = format!("{host}:{port}");
    let work = async {
        let stream = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|source| ClientError::Connect { addr: addr.clone(), source })?;
        let http = |e: hyper::Error| ClientError::Http { addr: addr.clone(), message: e.to_string() };
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(http)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default()).unwrap_or_default();
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, authority.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(bytes::Bytes::from(bytes)))
            .map_err(|e| ClientError::Http { addr: addr.clone(), message: e.to_string() })?;
        let resp = sender.send_request(req).await.map_err(http)?;
        let status = resp.status();
        let collected = Limited::new(resp.into_body(), 1 << 20)
            .collect()
            .await
            .map_err(|e| ClientError::Http { addr: addr.clone(), message: e.to_string() })?
            .to_bytes();
        let json = serde_json::from_slice::<Value>(&collected).map_err(|e| ClientError::NotJson {
            addr: addr.clone(),
            status: status.as_u16(),
            message: e.to_string(),
        })?;
        Ok((status, json))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(res) => res,
        Err(_) => Err(ClientError::Timeout { addr, timeout }),
    }
}
