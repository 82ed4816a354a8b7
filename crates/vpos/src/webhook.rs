//! Webhooks: on a status change, `POST {webhookUrl}` with `{"id": "<reference>"}` (CCV's body), retried with
//! exponential back-off until a 2xx or [`WebhookPolicy::max_attempts`]. Every attempt is stored
//! (`ccv-emu vpos webhooks REFERENCE`, `GET /admin/transactions/{reference}/webhooks`).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::{VposEvent, db, now_ms};
use crate::store::{PaymentRecord, Store, StoreError, WebhookAttempt};

/// How webhooks are retried.
#[derive(Debug, Clone)]
pub struct WebhookPolicy {
    /// Attempts per status change, the first included.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled after each failure.
    pub first_retry: Duration,
    /// Longest wait between attempts.
    pub max_retry: Duration,
    /// Time allowed for one attempt (connect, send, answer).
    pub timeout: Duration,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

impl WebhookPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.first_retry.saturating_mul(factor).min(self.max_retry)
    }
}

/// Sends webhooks in tasks of their own.
#[derive(Debug)]
pub(crate) struct Webhooks {
    store: Arc<Store>,
    policy: WebhookPolicy,
    http: reqwest::Client,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    events: tokio::sync::broadcast::Sender<VposEvent>,
}

impl Webhooks {
    pub(crate) fn new(
        store: Arc<Store>,
        policy: WebhookPolicy,
        tasks: TaskTracker,
        shutdown: CancellationToken,
        events: tokio::sync::broadcast::Sender<VposEvent>,
    ) -> Result<Webhooks, StoreError> {
        let http = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("ccv-emu/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StoreError::Corrupt { what: "HTTP client", detail: e.to_string() })?;
        Ok(Webhooks { store, policy, http, tasks, shutdown, events })
    }

    /// Delivers the webhook of `record`'s current status, `made` attempts having been made already.
    pub(crate) fn deliver(&self, record: &PaymentRecord, made: u32) {
        let Some(url) = record.order.texts.webhook_url.clone() else { return };
        if made >= self.policy.max_attempts {
            return;
        }
        let (store, policy, http, shutdown, events) = (
            self.store.clone(),
            self.policy.clone(),
            self.http.clone(),
            self.shutdown.clone(),
            self.events.clone(),
        );
        let reference = record.reference.clone();
        self.tasks.spawn(async move {
            let body = serde_json::json!({ "id": reference });
            let mut attempt = made;
            loop {
                attempt += 1;
                let sent = http.post(&url).json(&body).send().await;
                let (status, error) = match sent {
                    Ok(resp) if resp.status().is_success() => (Some(resp.status().as_u16()), None),
                    Ok(resp) => (Some(resp.status().as_u16()), Some(format!("answered {}", resp.status()))),
                    Err(e) => (None, Some(error_chain(&e))),
                };
                let delivered = error.is_none();
                let at = now_ms();
                let record = WebhookAttempt {
                    reference: reference.clone(),
                    url: url.clone(),
                    attempt,
                    attempted_ms: at,
                    http_status: status,
                    error,
                    delivered,
                };
                let row = record.clone();
                let recorded = db(&store, move |s| {
                    s.record_webhook_attempt(
                        &row.reference,
                        &row.url,
                        row.http_status,
                        row.error.as_deref(),
                        at,
                    )
                })
                .await;
                match recorded {
                    Ok(n) => {
                        let _ = events.send(VposEvent::Webhook(WebhookAttempt { attempt: n, ..record }));
                    }
                    Err(e) => {
                        tracing::error!(%reference, "payment API: could not record a webhook attempt: {e}")
                    }
                }
                if delivered {
                    tracing::debug!(%reference, attempt, "webhook delivered");
                    return;
                }
                if attempt >= policy.max_attempts {
                    tracing::warn!(%reference, attempt, %url, "webhook not delivered; giving up");
                    return;
                }
                let wait = policy.backoff(attempt);
                tracing::info!(%reference, attempt, ?wait, %url, "webhook failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        });
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
