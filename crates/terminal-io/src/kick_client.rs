//! Sending a local kick (`ccv-emu kick local`, tests, benches): one `POST /kick` over hyper's HTTP/1 client.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{Request, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use ccv_wire::local_kick::{KICK_PATH, KickRequestBody};

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
    let work = async {
        let stream =
            TcpStream::connect(addr).await.map_err(|source| KickClientError::Connect { addr, source })?;
        let http = |e: hyper::Error| KickClientError::Http { addr, message: e.to_string() };
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(http)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, addr.to_string())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(bytes::Bytes::from(body)))
            .map_err(|e| KickClientError::Http { addr, message: e.to_string() })?;
        let resp = sender.send_request(req).await.map_err(http)?;
        let status = resp.status().as_u16();
        let bytes = Limited::new(resp.into_body(), 64 * 1024)
            .collect()
            .await
            .map_err(|e| KickClientError::Http { addr, message: e.to_string() })?
            .to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok(KickReply { status, body })
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(KickClientError::Timeout { addr, timeout }),
    }
}
