//! [`Vpos`]: the payment API's behaviour behind its HTTP routes. It checks and stores a transaction, then drives
//! it in a task of its own: wake the terminal (cloud kick through the IoT endpoint for `GrundmasterNL`/`BE` on
//! the merchant's whitelist, R8/R10; local kick for `08900000002`, R2, sent by the `payUrl` page in the POS's
//! browser or by the API itself), wait a bounded time for the terminal at the TAS, run the OPI conversation
//! through the TAS, store the outcome and receipts, post the webhooks. Every status change is committed before it
//! is reported; a transaction never stays pending past its time-outs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccv_opi::Amount;
use ccv_tas::{JobKind, Outcome, Tas, TasError};
use ccv_wire::HostPort;
use ccv_wire::cloud::{ConnectTas, Event};
use ccv_wire::local_kick::{KICK_PATH, KickAnswer, KickRequestBody};
use ccv_wire::reason::WireReason;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cloud::CloudKicker;
use crate::error::{ApiError, ErrorType};
use crate::model::{FailureCode, PaymentStatus, Transaction, TransactionType};
use crate::store::{
    Idempotency, LocalKickMode, Merchant, NewTransaction, PaymentRecord, StatusUpdate, Store, StoreError,
};
use crate::validate::{Kick, PaymentOrder, canonical_body_hash, parse_payment, parse_refund};
use crate::webhook::{WebhookPolicy, Webhooks};

/// Time-outs and addresses of a payment API.
#[derive(Debug, Clone)]
pub struct VposConfig {
    /// The API's public base URL (for `payUrl`), e.g. `http://127.0.0.1:8080`.
    pub base_url: String,
    /// The TAS address put in kicks; `None`: the terminal dials its configured TAS.
    pub kick_tas: Option<HostPort>,
    /// How long a terminal has to answer a kick (cloud: `kick-accepted`/`kick-refused`; local: the HTTP answer).
    pub kick_answer_timeout: Duration,
    /// How long a terminal that took the kick has to reach the TAS.
    pub connect_timeout: Duration,
    /// How long a 1.0 payment waits for its `payUrl` page to kick the terminal (browser mode).
    pub browser_kick_timeout: Duration,
    /// How long the OPI conversation may take before the outcome counts as unknown.
    pub transaction_timeout: Duration,
    /// How long a cloud kick stays valid (`expiresAt`).
    pub kick_ttl: Duration,
    /// After a lost answer (terminal gone or silent mid-transaction): how long to keep asking the terminal, once
    /// it is at the TAS (still or again), for its last transaction status to settle the true outcome.
    pub settle_timeout: Duration,
    /// Webhook retries.
    pub webhook: WebhookPolicy,
}

impl Default for VposConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080".to_owned(),
            kick_tas: None,
            kick_answer_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(30),
            browser_kick_timeout: Duration::from_secs(120),
            transaction_timeout: Duration::from_secs(120),
            kick_ttl: Duration::from_secs(60),
            settle_timeout: Duration::from_secs(60),
            webhook: WebhookPolicy::default(),
        }
    }
}

/// What the `payUrl` page reports after it tried the local kick from the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub enum BrowserKickReport {
    /// The terminal answered (`202` accepted or `409` refused).
    Answered {
        /// The terminal's answer.
        answer: KickAnswer,
    },
    /// The browser could not reach the terminal (network error, blocked by private-network rules).
    Unreachable {
        /// What the browser said.
        error: String,
    },
}

/// What the payment API did, for tools that follow it live (a sandbox's event stream, tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum VposEvent {
    /// A transaction's status changed (committed before this is sent).
    #[serde(rename_all = "camelCase")]
    Status {
        /// The transaction.
        reference: String,
        /// Its new status.
        status: PaymentStatus,
        /// Why it failed, when it did.
        failure_code: Option<FailureCode>,
    },
    /// A webhook attempt was made and recorded.
    Webhook(crate::store::WebhookAttempt),
    /// The terminal of a pending transaction shows a new text (like CCV's `TerminalMessageUpdate`).
    #[serde(rename_all = "camelCase")]
    TerminalMessage {
        /// The transaction.
        reference: String,
        /// The text (`PIN INVOEREN`, ...).
        text: String,
    },
}

/// Why a transaction ended before the OPI conversation: a failure code and a message naming the cause.
struct Failure {
    code: FailureCode,
    message: String,
}

impl Failure {
    fn new(code: FailureCode, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }

    fn into_update(self) -> StatusUpdate {
        StatusUpdate {
            status: Some(PaymentStatus::Failed),
            failure_code: Some(self.code),
            failure_message: Some(self.message),
            receipts: None,
        }
    }
}

/// The payment API. Clones share one state.
#[derive(Clone, Debug)]
pub struct Vpos {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<Store>,
    tas: Arc<Tas>,
    cloud: Option<Arc<CloudKicker>>,
    config: VposConfig,
    http: reqwest::Client,
    webhooks: Webhooks,
    /// Terminals running a transaction's conversation: TMS ID → reference (for the terminal's current text).
    at_terminal: Mutex<HashMap<String, String>>,
    /// 1.0 payments waiting for their `payUrl` page's kick.
    browser: Mutex<HashMap<String, oneshot::Sender<BrowserKickReport>>>,
    rng: Mutex<SmallRng>,
    kicks: AtomicU64,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    events: tokio::sync::broadcast::Sender<VposEvent>,
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Runs a store call off the async threads (SQLite commits wait for the disk).
pub(crate) async fn db<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(r) => r,
        Err(e) => Err(StoreError::Corrupt { what: "store task", detail: e.to_string() }),
    }
}

fn internal(e: StoreError) -> ApiError {
    tracing::error!("payment API store: {e}");
    ApiError::from(e)
}

impl Vpos {
    /// Starts the payment API's engine on `store`, driving payments through `tas` and cloud kicks through
    /// `cloud`. Transactions a previous run left pending become `manualintervention` (nobody drives them any
    /// more); webhooks not yet delivered are sent again.
    pub async fn start(
        store: Arc<Store>,
        tas: Arc<Tas>,
        cloud: Option<Arc<CloudKicker>>,
        config: VposConfig,
    ) -> Result<Vpos, StoreError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.kick_answer_timeout)
            .timeout(config.kick_answer_timeout)
            .no_proxy()
            .build()
            .map_err(|e| StoreError::Corrupt { what: "HTTP client", detail: e.to_string() })?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| StoreError::NoRandomness { detail: e.to_string() })?;
        let tasks = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let (events, _) = tokio::sync::broadcast::channel(1024);
        let webhooks = Webhooks::new(
            store.clone(),
            config.webhook.clone(),
            tasks.clone(),
            shutdown.clone(),
            events.clone(),
        )?;
        let inner = Arc::new(Inner {
            store,
            tas,
            cloud,
            config,
            http,
            webhooks,
            at_terminal: Mutex::default(),
            browser: Mutex::default(),
            rng: Mutex::new(SmallRng::from_seed(seed)),
            kicks: AtomicU64::new(0),
            tasks,
            shutdown,
            events,
        });
        let settled = db(&inner.store, |s| {
            s.settle_interrupted(
                "the payment API stopped while this transaction was in flight; whether the terminal completed it \
                 is unknown: check the terminal's journal",
                now_ms(),
            )
        })
        .await?;
        if !settled.is_empty() {
            tracing::warn!(
                count = settled.len(),
                "payment API: transactions left pending by a previous run are now manualintervention"
            );
        }
        inner.tasks.spawn(forward_terminal_messages(inner.clone()));
        let max = inner.config.webhook.max_attempts;
        for (record, made) in db(&inner.store, move |s| s.undelivered_webhooks(max)).await? {
            inner.webhooks.deliver(&record, made);
        }
        Ok(Vpos { inner })
    }

    /// Every status change and webhook attempt from now on (a receiver that lags loses the oldest).
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<VposEvent> {
        self.inner.events.subscribe()
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// The settings.
    pub fn config(&self) -> &VposConfig {
        &self.inner.config
    }

    /// The merchant an API key belongs to.
    pub async fn authenticate(&self, key: &str) -> Result<Merchant, ApiError> {
        let key = key.to_owned();
        db(&self.inner.store, move |s| s.authenticate(&key)).await.map_err(ApiError::from)
    }

    /// `POST /api/v1/payment`: checks and stores the payment, then starts it. An idempotent repeat returns the
    /// transaction made the first time (`false`) and starts nothing.
    pub async fn create_payment(
        &self,
        merchant: &Merchant,
        body: &[u8],
        idempotency_key: Option<&str>,
    ) -> Result<(Transaction, bool), ApiError> {
        let order = parse_payment(body)?;
        let hash = idempotency_key.map(|_| canonical_body_hash("payment", body)).transpose()?;
        self.create(merchant, NewTransaction::Sale(order), idempotency_key, hash).await
    }

    /// `POST /api/v1/refund`: a refund of a successful payment of the same merchant, run on the terminal the
    /// same way.
    pub async fn create_refund(
        &self,
        merchant: &Merchant,
        body: &[u8],
        idempotency_key: Option<&str>,
    ) -> Result<(Transaction, bool), ApiError> {
        let order = parse_refund(body)?;
        let hash = idempotency_key.map(|_| canonical_body_hash("refund", body)).transpose()?;
        let (id, reference) = (merchant.id, order.reference.clone());
        let original = db(&self.inner.store, move |s| s.payment(id, &reference)).await?;
        if original.kind != TransactionType::Sale {
            return Err(ApiError::invalid_field(
                "reference",
                format!(
                    "transaction {} is a refund; refund the original payment instead",
                    original.reference
                ),
            )
            .with_reference(original.reference));
        }
        if original.status != PaymentStatus::Success {
            return Err(ApiError::new(
                ErrorType::Conflict,
                format!(
                    "payment {} is {}; only a successful payment can be refunded",
                    original.reference,
                    original.status.as_str()
                ),
            )
            .with_reference(original.reference));
        }
        let amount = order.amount_for(original.order.amount)?;
        let refund = PaymentOrder {
            amount,
            texts: order.texts,
            terminal: order.terminal.unwrap_or_else(|| original.order.terminal.clone()),
        };
        let new = NewTransaction::Refund { original_reference: original.reference, order: refund };
        self.create(merchant, new, idempotency_key, hash).await
    }

    async fn create(
        &self,
        merchant: &Merchant,
        new: NewTransaction,
        idempotency_key: Option<&str>,
        hash: Option<String>,
    ) -> Result<(Transaction, bool), ApiError> {
        let seed = {
            use rand::RngCore;
            self.inner.rng.lock().unwrap_or_else(|e| e.into_inner()).next_u64()
        };
        let (id, key) = (merchant.id, idempotency_key.map(str::to_owned));
        let created = db(&self.inner.store, move |s| {
            let idem =
                key.as_deref().zip(hash.as_deref()).map(|(key, body_hash)| Idempotency { key, body_hash });
            s.create_payment(id, &new, idem, now_ms(), &mut SmallRng::seed_from_u64(seed))
        })
        .await?;
        let mut record = created.record;
        if created.new {
            record = self.start_transaction(record, merchant.clone()).await?;
        }
        Ok((self.view(&record), created.new))
    }

    /// The R10 check at once; otherwise the transaction is driven in its own task.
    async fn start_transaction(
        &self,
        record: PaymentRecord,
        merchant: Merchant,
    ) -> Result<PaymentRecord, ApiError> {
        if let Kick::Cloud { .. } = record.order.terminal.kick {
            let (id, tms) = (merchant.id, record.order.terminal.terminal_id.clone());
            let allowed =
                db(&self.inner.store, move |s| s.is_whitelisted(id, &tms)).await.map_err(internal)?;
            if !allowed {
                let tms = &record.order.terminal.terminal_id;
                let failure = Failure::new(
                    FailureCode::Rejected,
                    format!(
                        "terminal {tms} is not on the whitelist of merchant {:?}: CCV adds a Cloud Connect 2.0 \
                         terminal to the merchant's whitelist before it can be kicked (R10); add it with \
                         `ccv-emu vpos whitelist add {} {tms}`",
                        merchant.name, merchant.name
                    ),
                );
                return self.inner.finish(&record.reference, failure.into_update()).await.map_err(internal);
            }
        }
        let inner = self.inner.clone();
        let reference = record.reference.clone();
        let answer = record.clone();
        self.inner.tasks.spawn(async move {
            let shutdown = inner.shutdown.clone();
            tokio::select! {
                // Left pending: the next start settles it.
                _ = shutdown.cancelled() => {}
                update = inner.drive(&record, &merchant) => {
                    if let Err(e) = inner.finish(&reference, update).await {
                        tracing::error!(%reference, "payment API: could not store the outcome: {e}");
                    }
                }
            }
        });
        Ok(answer)
    }

    /// `GET /api/v1/transaction`: a merchant's transaction, with the terminal's current text while pending.
    pub async fn transaction(&self, merchant: &Merchant, reference: &str) -> Result<Transaction, ApiError> {
        let (id, reference) = (merchant.id, reference.to_owned());
        let record = db(&self.inner.store, move |s| s.payment(id, &reference)).await?;
        Ok(self.view(&record))
    }

    /// A transaction by reference alone, for its `payUrl` page (which, as CCV's, needs no API key).
    pub async fn public_status(&self, reference: &str) -> Result<Transaction, ApiError> {
        let reference = reference.to_owned();
        let record = db(&self.inner.store, move |s| s.payment_any(&reference)).await?;
        Ok(self.view(&record))
    }

    /// Whether a 1.0 payment waits for its `payUrl` page to send the local kick.
    pub fn awaits_browser_kick(&self, reference: &str) -> bool {
        self.inner.browser.lock().unwrap_or_else(|e| e.into_inner()).contains_key(reference)
    }

    /// The `payUrl` page's report of its local kick.
    pub fn browser_kick_report(&self, reference: &str, report: BrowserKickReport) -> Result<(), ApiError> {
        let waiter = self.inner.browser.lock().unwrap_or_else(|e| e.into_inner()).remove(reference);
        match waiter {
            Some(tx) => {
                let _ = tx.send(report);
                Ok(())
            }
            None => Err(ApiError::new(
                ErrorType::Conflict,
                "this transaction does not wait for a kick from its payUrl page (any more)",
            )
            .with_reference(reference)),
        }
    }

    fn view(&self, record: &PaymentRecord) -> Transaction {
        let mut t = record.to_transaction(&self.inner.config.base_url);
        if record.status == PaymentStatus::Pending {
            let tms = &record.order.terminal.terminal_id;
            let running = self
                .inner
                .at_terminal
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(tms)
                .is_some_and(|r| *r == record.reference);
            if running {
                t.details.terminal_message = self.inner.tas.display(tms).map(|d| d.text);
            }
        }
        t
    }

    /// Stops driving transactions (those in flight stay pending until the next start) and webhooks.
    pub async fn shutdown(&self) {
        self.inner.shutdown.cancel();
        if let Some(c) = &self.inner.cloud {
            c.shutdown();
        }
        self.inner.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.inner.tasks.wait()).await;
    }
}

impl Inner {
    /// Commits a status change, then reports it (webhook).
    async fn finish(&self, reference: &str, update: StatusUpdate) -> Result<PaymentRecord, StoreError> {
        let r = reference.to_owned();
        let record = db(&self.store, move |s| s.update_status(&r, &update, now_ms())).await?;
        tracing::info!(reference, status = record.status.as_str(), failure_code = ?record.failure_code,
            "payment API: transaction final");
        let _ = self.events.send(VposEvent::Status {
            reference: record.reference.clone(),
            status: record.status,
            failure_code: record.failure_code,
        });
        self.webhooks.deliver(&record, 0);
        Ok(record)
    }

    /// Wakes the terminal, then runs the conversation; the status change that ends the transaction.
    async fn drive(&self, record: &PaymentRecord, merchant: &Merchant) -> StatusUpdate {
        if let Err(f) = self.reach_terminal(record, merchant).await {
            return f.into_update();
        }
        let tms = record.order.terminal.terminal_id.clone();
        let Amount { minor_units, currency } = record.order.amount;
        let job = match record.kind {
            TransactionType::Sale => {
                JobKind::Payment { amount_minor: minor_units, currency: currency.code().into() }
            }
            TransactionType::Refund => {
                JobKind::Refund { amount_minor: minor_units, currency: currency.code().into() }
            }
        };
        self.at_terminal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tms.clone(), record.reference.clone());
        let result = self.tas.run(&tms, job, Some(self.config.transaction_timeout)).await;
        {
            let mut running = self.at_terminal.lock().unwrap_or_else(|e| e.into_inner());
            if running.get(&tms) == Some(&record.reference) {
                running.remove(&tms);
            }
        }
        match result {
            Ok(result) if result.outcome == Outcome::Unknown => {
                match self.settle_unknown(&tms, &result.request_id).await {
                    Some(settled) => settled,
                    None => crate::outcome::settle(&result),
                }
            }
            Ok(result) => crate::outcome::settle(&result),
            // Nothing was sent to the terminal: no money moved.
            Err(TasError::NotConnected { .. }) => Failure::new(
                FailureCode::ProcessingError,
                format!("terminal {tms} left the TAS before the payment could start; retry the payment"),
            )
            .into_update(),
            Err(TasError::Busy { .. }) => Failure::new(
                FailureCode::ProcessingError,
                format!("terminal {tms} is busy with another transaction; retry when it is done"),
            )
            .into_update(),
            Err(e) => {
                Failure::new(FailureCode::ProcessingError, format!("terminal {tms}: {e}")).into_update()
            }
        }
    }

    /// The answer to a request was lost: ask the terminal (at the TAS still, or once it is back) for its last
    /// transaction status until it is no longer busy with that transaction, within `settle_timeout`.
    async fn settle_unknown(&self, tms: &str, request_id: &str) -> Option<StatusUpdate> {
        let deadline = tokio::time::Instant::now() + self.config.settle_timeout;
        let mut pause = Duration::from_millis(100);
        for _ in 0..1000 {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            self.tas.wait_connected(tms, left).await.ok()?;
            let asked = self
                .tas
                .run(tms, JobKind::LastTransactionStatus, Some(left.min(Duration::from_secs(10))))
                .await;
            match asked {
                Ok(r)
                    if r.outcome == Outcome::Completed && r.overall_result.as_deref() == Some("Success") =>
                {
                    let pd = r.authorisation.get("privateData").and_then(|v| v.as_str())?;
                    tracing::info!(tms, request_id, "payment API: settling a lost answer from {pd:?}");
                    return crate::outcome::from_last_status(pd, request_id);
                }
                // Still busy with the transaction, or the link dropped again: ask again shortly.
                Ok(r) if r.overall_result.as_deref() == Some("Busy") || r.outcome == Outcome::Unknown => {}
                Err(TasError::Busy { .. } | TasError::NotConnected { .. }) => {}
                Ok(_) | Err(_) => return None,
            }
            tokio::select! {
                _ = tokio::time::sleep(pause.min(left)) => {}
                _ = self.shutdown.cancelled() => return None,
            }
            pause = (pause * 2).min(Duration::from_secs(2));
        }
        None
    }

    /// Kicks the terminal the way `managementSystemId` says and waits until it is at the TAS for this payment.
    async fn reach_terminal(&self, record: &PaymentRecord, merchant: &Merchant) -> Result<(), Failure> {
        match &record.order.terminal.kick {
            Kick::Cloud { .. } => self.cloud_kick(record).await,
            Kick::Local { terminal } => match merchant.local_kick {
                LocalKickMode::Server => self.local_kick(record, terminal).await,
                LocalKickMode::Browser => self.browser_kick(record, terminal).await,
            },
        }
    }

    async fn cloud_kick(&self, record: &PaymentRecord) -> Result<(), Failure> {
        let tms = &record.order.terminal.terminal_id;
        let reference = &record.reference;
        let Some(cloud) = &self.cloud else {
            return Err(Failure::new(
                FailureCode::ProcessingError,
                "this payment API runs without an IoT endpoint, so it cannot send cloud kicks: start it with \
                 --iot (or use the sandbox)",
            ));
        };
        let n = self.kicks.fetch_add(1, Ordering::Relaxed);
        let expires_at = u64::try_from(now_ms()).unwrap_or(0) + self.config.kick_ttl.as_millis() as u64;
        let kick = ConnectTas {
            kick_id: format!("{reference}-{n}"),
            reference: reference.clone(),
            host: self.config.kick_tas.as_ref().map(|t| t.host.clone()),
            port: self.config.kick_tas.as_ref().map(|t| t.port),
            expires_at,
        };
        let wait = self.config.kick_answer_timeout;
        let mut events = cloud
            .kick(tms, kick, wait)
            .await
            .map_err(|e| Failure::new(FailureCode::ProcessingError, e.to_string()))?;
        match events.next(wait).await {
            Some(Event::KickAccepted { .. }) => {}
            Some(Event::TasConnected { .. }) => return self.at_tas(tms, None).await,
            Some(Event::KickRefused { reason, message, .. }) => {
                return Err(Failure::new(
                    FailureCode::ProcessingError,
                    format!("terminal {tms} refused the cloud kick ({}): {message}", reason.as_str()),
                ));
            }
            Some(Event::TasDialFailed { reason, message, .. }) => {
                return Err(dial_failed(tms, reason.as_str(), &message));
            }
            Some(other) => {
                return Err(Failure::new(
                    FailureCode::ProcessingError,
                    format!("terminal {tms} could not read the cloud kick: {other:?}"),
                ));
            }
            None => {
                return Err(Failure::new(
                    FailureCode::ProcessingError,
                    format!(
                        "terminal {tms} did not answer the cloud kick within {} s: is it migrated to Cloud Connect \
                         2.0 (R12, R13), online, and subscribed to its command topic? A terminal with Cloud Connect \
                         1.0 only takes the local kick (managementSystemId 08900000002)",
                        wait.as_secs()
                    ),
                ));
            }
        }
        let wait = self.config.connect_timeout;
        let deadline = tokio::time::Instant::now() + wait;
        let fresh = self.tas.wait_for_reference(tms, reference, wait);
        tokio::pin!(fresh);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            tokio::select! {
                arrived = &mut fresh => {
                    return match arrived {
                        Ok(_) => Ok(()),
                        Err(_) => Err(not_at_tas(tms, wait)),
                    };
                }
                event = events.next(left) => match event {
                    Some(Event::TasConnected { host, port, .. }) => {
                        return self.at_tas(tms, Some(format!("{host}:{port}"))).await;
                    }
                    Some(Event::TasDialFailed { reason, message, .. }) => {
                        return Err(dial_failed(tms, reason.as_str(), &message));
                    }
                    Some(_) => {}
                    None => return Err(not_at_tas(tms, wait)),
                },
            }
        }
    }

    /// The terminal says it is at a TAS: it must be ours.
    async fn at_tas(&self, tms: &str, dialled: Option<String>) -> Result<(), Failure> {
        match self.tas.wait_connected(tms, Duration::from_secs(2)).await {
            Ok(_) => Ok(()),
            Err(_) => Err(Failure::new(
                FailureCode::ProcessingError,
                format!(
                    "terminal {tms} connected to a TAS ({}) that is not this payment API's; check the terminal's \
                     TAS address",
                    dialled.as_deref().unwrap_or("unknown address")
                ),
            )),
        }
    }

    async fn local_kick(&self, record: &PaymentRecord, terminal: &HostPort) -> Result<(), Failure> {
        let tms = &record.order.terminal.terminal_id;
        let url = format!("http://{}{KICK_PATH}", terminal);
        let body =
            KickRequestBody { reference: Some(record.reference.clone()), tas: self.config.kick_tas.clone() };
        let answer = match self.http.post(&url).json(&body).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                match resp.json::<KickAnswer>().await {
                    Ok(answer) => answer,
                    Err(e) => {
                        return Err(Failure::new(
                            FailureCode::ProcessingError,
                            format!(
                                "the local kick to {url} was answered {status} with an unreadable body ({e}): is that a terminal's trigger port?"
                            ),
                        ));
                    }
                }
            }
            Err(e) => return Err(local_unreachable(tms, terminal, &e.to_string())),
        };
        self.after_local_answer(tms, terminal, answer).await
    }

    async fn after_local_answer(
        &self,
        tms: &str,
        terminal: &HostPort,
        answer: KickAnswer,
    ) -> Result<(), Failure> {
        match answer {
            KickAnswer::Accepted { tms_id, .. } if tms_id != tms => Err(Failure::new(
                FailureCode::ProcessingError,
                format!(
                    "the terminal at {terminal} is {tms_id}, not {tms}: check details.ip and details.port"
                ),
            )),
            KickAnswer::Accepted { .. } => {
                match self.tas.wait_connected(tms, self.config.connect_timeout).await {
                    Ok(_) => Ok(()),
                    Err(_) => Err(not_at_tas(tms, self.config.connect_timeout)),
                }
            }
            KickAnswer::Refused { reason, message, .. } => Err(Failure::new(
                FailureCode::ProcessingError,
                format!("terminal {tms} refused the local kick ({}): {message}", reason.as_str()),
            )),
        }
    }

    async fn browser_kick(&self, record: &PaymentRecord, terminal: &HostPort) -> Result<(), Failure> {
        let tms = &record.order.terminal.terminal_id;
        let (tx, rx) = oneshot::channel();
        self.browser.lock().unwrap_or_else(|e| e.into_inner()).insert(record.reference.clone(), tx);
        let wait = self.config.browser_kick_timeout;
        let fresh = self.tas.wait_for_reference(tms, &record.reference, wait);
        let outcome = tokio::select! {
            arrived = fresh => match arrived {
                Ok(_) => Ok(()),
                Err(_) => Err(Failure::new(
                    FailureCode::Expired,
                    format!(
                        "terminal {tms} was not kicked within {} s: open the payUrl page in a browser on the shop's \
                         network, which sends the local kick to {terminal} (or let the API send it: `ccv-emu vpos \
                         merchant set NAME --local-kick server`)",
                        wait.as_secs()
                    ),
                )),
            },
            report = rx => match report {
                Ok(BrowserKickReport::Answered { answer }) => self.after_local_answer(tms, terminal, answer).await,
                Ok(BrowserKickReport::Unreachable { error }) => Err(Failure::new(
                    FailureCode::ProcessingError,
                    format!(
                        "the payUrl page could not reach terminal {tms} at {terminal} from the browser ({error}). \
                         A browser blocks a page from a public address from calling a private one (R4): open \
                         payUrl on the shop's network; also check the trigger port (0 takes no local kick, R21)"
                    ),
                )),
                Err(_) => Err(Failure::new(FailureCode::ProcessingError, "the payUrl page's report was lost")),
            },
        };
        self.browser.lock().unwrap_or_else(|e| e.into_inner()).remove(&record.reference);
        outcome
    }
}

/// Turns the TAS's display texts into [`VposEvent::TerminalMessage`]s of the transactions at those terminals.
async fn forward_terminal_messages(inner: Arc<Inner>) {
    let mut updates = inner.tas.display_updates();
    loop {
        let update = tokio::select! {
            _ = inner.shutdown.cancelled() => return,
            update = updates.recv() => update,
        };
        match update {
            Ok((tms, shown)) if shown.target == "CustomerDisplay" => {
                let reference =
                    inner.at_terminal.lock().unwrap_or_else(|e| e.into_inner()).get(&tms).cloned();
                if let Some(reference) = reference {
                    let _ = inner.events.send(VposEvent::TerminalMessage { reference, text: shown.text });
                }
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

fn dial_failed(tms: &str, reason: &str, message: &str) -> Failure {
    Failure::new(
        FailureCode::ProcessingError,
        format!("terminal {tms} took the kick but could not reach the TAS ({reason}): {message}"),
    )
}

fn not_at_tas(tms: &str, wait: Duration) -> Failure {
    Failure::new(
        FailureCode::ProcessingError,
        format!(
            "terminal {tms} took the kick but did not reach the TAS within {} s: check its TAS address and \
             outgoing network (R23)",
            wait.as_secs()
        ),
    )
}

fn local_unreachable(tms: &str, terminal: &HostPort, error: &str) -> Failure {
    Failure::new(
        FailureCode::ProcessingError,
        format!(
            "terminal {tms} did not answer the local kick at {terminal} ({error}): is details.ip/port its address \
             and trigger port? A Cloud Connect 2.0 terminal with trigger port 0 takes no local kick (R21): use \
             managementSystemId GrundmasterNL for it"
        ),
    )
}
