//! [`VposClient`]: a small HTTP client of the payment API, as a POS uses it (HTTP Basic with the API key,
//! JSON in and out). For tools and tests; it returns the HTTP status and the JSON body as they came.

use std::time::Duration;

use serde_json::Value;

/// Why a request got no JSON answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The request failed (connection refused, time-out, ...).
    #[error("the payment API at {base} did not answer: {detail}")]
    Http {
        /// The API's base URL.
        base: String,
        /// What failed.
        detail: String,
    },
    /// The answer was not JSON.
    #[error("the payment API answered {status} with a body that is not JSON: {detail}")]
    NotJson {
        /// The HTTP status.
        status: u16,
        /// The parser's message.
        detail: String,
    },
}

/// A payment API client with one API key.
#[derive(Debug, Clone)]
pub struct VposClient {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl VposClient {
    /// A client of the API at `base` (`http://127.0.0.1:8080`) with API key `key`; every request within 30 s.
    pub fn new(base: impl Into<String>, key: impl Into<String>) -> VposClient {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        VposClient { http, base: base.into().trim_end_matches('/').to_owned(), key: key.into() }
    }

    /// `POST {path}` with a JSON body and, when given, an `Idempotency-Reference`.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        idempotency: Option<&str>,
    ) -> Result<(u16, Value), ClientError> {
        let mut req =
            self.http.post(format!("{}{path}", self.base)).basic_auth(&self.key, Some("")).json(body);
        if let Some(k) = idempotency {
            req = req.header(crate::http::IDEMPOTENCY_HEADER, k);
        }
        self.send(req).await
    }

    /// `POST /api/v1/payment`.
    pub async fn create_payment(&self, body: &Value) -> Result<(u16, Value), ClientError> {
        self.post("/api/v1/payment", body, None).await
    }

    /// `GET /api/v1/transaction?reference=…`.
    pub async fn transaction(&self, reference: &str) -> Result<(u16, Value), ClientError> {
        let req = self
            .http
            .get(format!("{}/api/v1/transaction", self.base))
            .query(&[("reference", reference)])
            .basic_auth(&self.key, Some(""));
        self.send(req).await
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, Value), ClientError> {
        let http = |e: reqwest::Error| ClientError::Http { base: self.base.clone(), detail: e.to_string() };
        let resp = req.send().await.map_err(http)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(http)?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::NotJson { status, detail: e.to_string() })?;
        Ok((status, value))
    }
}
