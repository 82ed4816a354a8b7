//! [`Store`]: the payment API's durable state in one SQLite file (`vpos.sqlite3` in a state directory).
//!
//! Merchants, their API keys (hashed), their whitelists of TMS IDs, payments and refunds, idempotency keys and
//! webhook attempts. Every write is atomic and committed before the method returns (creates, status changes and
//! webhook attempts of concurrent callers share one transaction and one commit, each in a savepoint of its own:
//! see [`Store`]). Writes that read first (idempotent creates, status changes) take the write lock at the start
//! (`BEGIN IMMEDIATE`), so two processes or threads on the same file cannot both act on the same stale read. Times
//! are epoch milliseconds from the caller; randomness for references comes from the caller too.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ccv_opi::{Amount, Currency};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorType};
use crate::model::{
    FailureCode, PaymentStatus, Transaction, TransactionDetails, TransactionType, receipt_string,
};
use crate::reference::new_reference;
use crate::schema::MIGRATIONS;
use ccv_wire::handshake::MAX_TMS_ID_LEN;

use crate::model::DecimalText;
use crate::validate::{ACCESS_PROTOCOL, Kick, PaymentOrder, clip, hex_sha256, is_tms_id};

/// The database file in a state directory.
pub const DB_FILE: &str = "vpos.sqlite3";
/// The longest `Idempotency-Reference`, in characters (CCV's documented limit).
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 50;
/// The longest merchant name, in bytes.
pub const MAX_MERCHANT_NAME: usize = 64;
/// The longest API key looked up, in bytes (longer ones are refused before hashing).
pub const MAX_API_KEY_LEN: usize = 64;
/// How long a write waits for another writer on the same file before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a store operation failed. Each message says what was wrong and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The state directory or the database file could not be opened or created.
    #[error("cannot open the payment API state in {path}: {source} (check that the directory is writable)")]
    Open {
        /// The directory or file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database was written by a newer ccv-emu.
    #[error(
        "the database has schema version {found}, newer than this ccv-emu knows ({supported}): use a newer ccv-emu \
         or another state directory"
    )]
    SchemaTooNew {
        /// The database's version.
        found: u32,
        /// The newest this code knows.
        supported: u32,
    },
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored row could not be read back.
    #[error("stored {what} is unreadable: {detail}")]
    Corrupt {
        /// What was read.
        what: &'static str,
        /// Why it failed.
        detail: String,
    },
    /// The operating system gave no random bytes for a new API key.
    #[error("cannot make an API key: the operating system's random source failed ({detail}); retry")]
    NoRandomness {
        /// The OS's error.
        detail: String,
    },
    /// No merchant by that name.
    #[error(
        "no merchant named {name:?}: list them with `ccv-emu vpos merchant list`, add one with `ccv-emu vpos merchant add NAME`"
    )]
    UnknownMerchant {
        /// The name asked for.
        name: String,
    },
    /// A merchant by that name exists.
    #[error("a merchant named {name:?} already exists: choose another name")]
    DuplicateMerchant {
        /// The name.
        name: String,
    },
    /// The merchant name breaks the naming rule.
    #[error(
        "merchant name {name:?} is not allowed: use 1 to {MAX_MERCHANT_NAME} ASCII letters, digits, '-', '_' or '.'"
    )]
    BadMerchantName {
        /// The name.
        name: String,
    },
    /// The TMS ID breaks the rule of the TAS hand-shake.
    #[error("TMS ID {tms_id:?} is malformed: use 1 to {MAX_TMS_ID_LEN} ASCII letters or digits")]
    BadTmsId {
        /// The TMS ID (clipped).
        tms_id: String,
    },
    /// The TMS ID is already on the merchant's whitelist.
    #[error("TMS ID {tms_id} is already on the whitelist of merchant {merchant:?}")]
    DuplicateWhitelist {
        /// The merchant.
        merchant: String,
        /// The TMS ID.
        tms_id: String,
    },
    /// The TMS ID is not on the merchant's whitelist.
    #[error(
        "TMS ID {tms_id} is not on the whitelist of merchant {merchant:?}: see `ccv-emu vpos whitelist list`"
    )]
    NotWhitelisted {
        /// The merchant.
        merchant: String,
        /// The TMS ID.
        tms_id: String,
    },
    /// The API key is unknown (or malformed).
    #[error("unknown API key: send a key made with `ccv-emu vpos key add MERCHANT` as the Basic user name")]
    UnknownApiKey,
    /// The idempotency key is empty, too long or has control characters.
    #[error(
        "Idempotency-Reference must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters without control characters (a UUID is a good choice)"
    )]
    BadIdempotencyKey,
    /// The idempotency key was used before with a different request.
    #[error(
        "Idempotency-Reference {key:?} was already used for transaction {reference} with a different request: send \
         a new Idempotency-Reference for a new request, or repeat the first request unchanged"
    )]
    IdempotencyConflict {
        /// The key.
        key: String,
        /// The transaction it made.
        reference: String,
    },
    /// No such transaction for this merchant.
    #[error("no transaction {reference} for this merchant: check the reference and the API key")]
    PaymentNotFound {
        /// The reference asked for (clipped).
        reference: String,
    },
    /// A refund must name a sale.
    #[error("transaction {reference} is a refund; refund the original payment instead")]
    NotASale {
        /// The reference.
        reference: String,
    },
    /// A final status never changes.
    #[error("transaction {reference} is already final ({status}); a final status never changes")]
    AlreadyFinal {
        /// The reference.
        reference: String,
        /// Its final status.
        status: &'static str,
    },
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let message = e.to_string();
        match e {
            StoreError::UnknownApiKey => ApiError::new(ErrorType::Unauthorized, message),
            StoreError::PaymentNotFound { reference } => {
                ApiError::new(ErrorType::NotFound, message).with_reference(reference)
            }
            StoreError::IdempotencyConflict { reference, .. } => {
                ApiError::new(ErrorType::IdempotencyConflict, message).with_reference(reference)
            }
            StoreError::BadIdempotencyKey => ApiError::invalid_field("Idempotency-Reference", message),
            StoreError::NotASale { reference } => {
                ApiError::invalid_field("reference", message).with_reference(reference)
            }
            StoreError::AlreadyFinal { reference, .. } => {
                ApiError::new(ErrorType::Conflict, message).with_reference(reference)
            }
            _ => ApiError::new(ErrorType::InternalError, "the payment API's store failed; retry later"),
        }
    }
}

/// A merchant's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MerchantId(pub i64);

/// A merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Merchant {
    /// Row id.
    pub id: MerchantId,
    /// Unique name.
    pub name: String,
    /// Epoch milliseconds.
    pub created_ms: i64,
    /// Who sends the local kick of this merchant's Cloud Connect 1.0 payments.
    pub local_kick: LocalKickMode,
}

/// Who sends the local kick of a Cloud Connect 1.0 payment (`managementSystemId` `08900000002`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LocalKickMode {
    /// As at CCV: the `payUrl` page, opened in the POS's browser on the shop LAN, kicks the terminal from
    /// JavaScript (so a browser's private-network rules apply, R4).
    #[default]
    Browser,
    /// Ours, for headless POS tests: the payment API sends the kick itself.
    Server,
}

impl LocalKickMode {
    /// The name stored and shown (`browser`, `server`).
    pub fn as_str(self) -> &'static str {
        match self {
            LocalKickMode::Browser => "browser",
            LocalKickMode::Server => "server",
        }
    }

    /// Reads a name written by [`LocalKickMode::as_str`].
    pub fn parse(s: &str) -> Option<LocalKickMode> {
        [LocalKickMode::Browser, LocalKickMode::Server].into_iter().find(|m| m.as_str() == s)
    }
}

const MERCHANT_COLUMNS: &str = "m.id, m.name, m.created_ms, m.local_kick";

fn merchant_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Merchant> {
    let mode: String = r.get(3)?;
    Ok(Merchant {
        id: MerchantId(r.get(0)?),
        name: r.get(1)?,
        created_ms: r.get(2)?,
        local_kick: LocalKickMode::parse(&mode).unwrap_or_default(),
    })
}

/// A merchant with counts, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MerchantSummary {
    /// The merchant.
    #[serde(flatten)]
    pub merchant: Merchant,
    /// How many API keys it has.
    pub api_keys: u64,
    /// How many TMS IDs are on its whitelist.
    pub whitelisted: u64,
}

/// A new API key: the only time the key itself is seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewApiKey {
    /// The merchant it belongs to.
    pub merchant: String,
    /// `t_` + 32 lower-case hex digits.
    pub key: String,
}

/// Receipts and flags from the terminal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipts {
    /// Customer receipt lines.
    pub customer: Option<Vec<String>>,
    /// Merchant receipt lines.
    pub merchant: Option<Vec<String>>,
    /// Journal receipt lines.
    pub journal: Option<Vec<String>>,
    /// Whether the POS should print the customer receipt.
    pub print_customer_receipt: Option<bool>,
    /// Whether the customer must sign.
    pub ask_customer_signature: Option<bool>,
}

/// A stored payment or refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRecord {
    /// `TL...`.
    pub reference: String,
    /// Whose.
    pub merchant_id: MerchantId,
    /// Sale or refund.
    pub kind: TransactionType,
    /// For a refund: the payment refunded.
    pub original_reference: Option<String>,
    /// Current status.
    pub status: PaymentStatus,
    /// The checked order (for a refund: the refund's amount and terminal).
    pub order: PaymentOrder,
    /// Why it failed.
    pub failure_code: Option<FailureCode>,
    /// What happened, in words (ours).
    pub failure_message: Option<String>,
    /// Receipts.
    pub receipts: Receipts,
    /// Epoch milliseconds.
    pub created_ms: i64,
    /// Epoch milliseconds.
    pub last_update_ms: i64,
    /// When the status became final.
    pub status_final_ms: Option<i64>,
}

impl PaymentRecord {
    /// The transaction as the API answers it; `base_url` is the API's public address (for `payUrl`).
    pub fn to_transaction(&self, base_url: &str) -> Transaction {
        let t = &self.order.terminal;
        let (ip, port) = match &t.kick {
            Kick::Local { terminal } => (Some(terminal.host.clone()), Some(terminal.port)),
            Kick::Cloud { .. } => (None, None),
        };
        let r = &self.receipts;
        Transaction {
            reference: self.reference.clone(),
            original_reference: self.original_reference.clone(),
            kind: self.kind,
            method: "terminal".to_owned(),
            status: self.status,
            amount: DecimalText(self.order.amount.to_decimal_string()),
            currency: self.order.amount.currency.code().to_owned(),
            created: self.created_ms,
            last_update: self.last_update_ms,
            status_final_date: self.status_final_ms,
            texts: self.order.texts.clone(),
            pay_url: pay_url(base_url, &self.reference),
            failure_code: self.failure_code,
            failure_message: self.failure_message.clone(),
            details: TransactionDetails {
                terminal_id: t.terminal_id.clone(),
                management_system_id: t.kick.management_system_id().to_owned(),
                access_protocol: ACCESS_PROTOCOL.to_owned(),
                ip,
                port,
                operating_environment: t.operating_environment.as_str().to_owned(),
                merchant_language: t.merchant_language.clone(),
                wake_up_type: t.kick.wake_up_type().to_owned(),
                customer_receipt: lines_json(r.customer.as_deref()),
                merchant_receipt: lines_json(r.merchant.as_deref()),
                journal_receipt: lines_json(r.journal.as_deref()),
                print_customer_receipt: r.print_customer_receipt,
                ask_customer_signature: r.ask_customer_signature,
                terminal_message: None,
            },
        }
    }
}

/// `payUrl` of a transaction (ours: CCV's is a "terminal/poll" page): `{base_url}/terminal/poll?reference=...`.
pub fn pay_url(base_url: &str, reference: &str) -> String {
    format!("{}/terminal/poll?reference={reference}", base_url.trim_end_matches('/'))
}

/// What to create: a sale, or a refund of an earlier sale of the same merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewTransaction {
    /// A payment.
    Sale(PaymentOrder),
    /// A refund; `order` holds the refund's amount and terminal.
    Refund {
        /// The sale refunded.
        original_reference: String,
        /// Amount and terminal of the refund.
        order: PaymentOrder,
    },
}

/// An `Idempotency-Reference` and the hash of its request ([`crate::validate::canonical_body_hash`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idempotency<'a> {
    /// The key as sent.
    pub key: &'a str,
    /// The request's hash.
    pub body_hash: &'a str,
}

/// The answer of [`Store::create_payment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The transaction.
    pub record: PaymentRecord,
    /// `false` when an idempotent repeat returned the transaction made the first time.
    pub new: bool,
}

/// A change of status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusUpdate {
    /// The new status (`None`: keep the status, only update the receipts).
    pub status: Option<PaymentStatus>,
    /// Why it failed.
    pub failure_code: Option<FailureCode>,
    /// Receipts, when known.
    pub receipts: Option<Receipts>,
    /// What happened, in words that name the likely cause (ours: `failureMessage`).
    pub failure_message: Option<String>,
}

/// One webhook attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAttempt {
    /// The transaction.
    pub reference: String,
    /// Where it was posted.
    pub url: String,
    /// 1, 2, ...
    pub attempt: u32,
    /// Epoch milliseconds.
    pub attempted_ms: i64,
    /// The HTTP status answered, if any.
    #[schema(required = true)]
    pub http_status: Option<u16>,
    /// Why it failed, if it did.
    #[schema(required = true)]
    pub error: Option<String>,
    /// A 2xx was answered.
    pub delivered: bool,
}

/// The durable state. `Sync`: one store may be shared by threads.
///
/// Creating a transaction, changing its status and recording a webhook attempt are group-committed: each call
/// hands its write to the store's writer thread and waits; the writer runs every write queued at that moment in
/// one transaction (each in a savepoint of its own, so a write that fails leaves the others), commits once, and
/// only then answers each of them. A call therefore still returns only after its own write is durable, but
/// concurrent callers share one sync of the WAL instead of paying one each. Other calls are serialized on the
/// connection as before (reads of a database file on a connection of their own).
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    /// For a database file: a second connection for reads, so that they do not wait behind a commit (WAL lets
    /// a reader see every committed write while another is being committed). In memory, reads use `conn`.
    reader: Option<Mutex<Connection>>,
    /// To the writer thread, which group-commits.
    writes: std::sync::mpsc::Sender<Job>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Answers a queued write's caller once the outcome of its group's commit is known (`None`: committed).
type Deliver = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;
/// A queued write: runs on the connection inside the group's transaction; says whether it succeeded (kept) or
/// failed (rolled back to its savepoint), and how to answer its caller.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Deliver) + Send>;

impl Store {
    /// Opens (creating if needed) the state directory `dir` and its `vpos.sqlite3`, bringing the schema up to date.
    pub fn open_dir(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Open { path: dir.to_owned(), source: Box::new(e) })?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path)
            .map_err(|e| StoreError::Open { path: path.clone(), source: Box::new(e) })?;
        Store::init(conn, Some(path))
    }

    /// An in-memory database, for tests: nothing survives the store.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Store::init(Connection::open_in_memory()?, None)
    }

    fn init(mut conn: Connection, path: Option<PathBuf>) -> Result<Store, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers never block the writer and a commit is one append. synchronous=FULL: the WAL is synced at
        // every commit, so a payment acknowledged to the POS survives a power cut too (NORMAL would only survive
        // a process crash). Concurrent writes share one sync (see `Store`), so the cost stays one fsync per group.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        let reader = match &path {
            Some(path) => {
                let reader = Connection::open(path)
                    .map_err(|e| StoreError::Open { path: path.clone(), source: Box::new(e) })?;
                reader.busy_timeout(BUSY_TIMEOUT)?;
                reader.pragma_update(None, "foreign_keys", "ON")?;
                Some(Mutex::new(reader))
            }
            None => None,
        };
        let conn = Arc::new(Mutex::new(conn));
        let (writes, queued) = std::sync::mpsc::channel();
        let writer = conn.clone();
        std::thread::Builder::new()
            .name("vpos-store-writer".to_owned())
            .spawn(move || write_groups(&writer, &queued))
            .map_err(|e| StoreError::Open {
                path: path.clone().unwrap_or_else(|| PathBuf::from(":memory:")),
                source: Box::new(e),
            })?;
        Ok(Store { conn, reader, writes, path })
    }

    /// The database file (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-done write: each write is a transaction rolled back on drop.
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The connection for reads.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        match &self.reader {
            Some(r) => r.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
            None => self.conn(),
        }
    }

    /// Runs `write` in a group commit (see [`Store`]) and returns its result once its group is committed. A
    /// write that fails is rolled back alone; when the commit fails, every write of the group fails.
    fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<T, StoreError>>(1);
        let job: Job = Box::new(move |conn| {
            let result = write(conn);
            let ok = result.is_ok();
            let deliver: Deliver = Box::new(move |commit_failed| {
                let result = match (result, commit_failed) {
                    (Ok(_), Some(e)) => Err(copy_error(e)),
                    (result, _) => result,
                };
                let _ = tx.send(result);
            });
            (ok, deliver)
        });
        let stopped = || StoreError::Corrupt { what: "store writer", detail: "it stopped".to_owned() };
        self.writes.send(job).map_err(|_| stopped())?;
        // No answer: the writer dropped the write unanswered (an error before it ran, or a panic).
        rx.recv().unwrap_or_else(|_| Err(stopped()))
    }

    /// The schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self.reader().pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Adds a merchant.
    pub fn add_merchant(&self, name: &str, now_ms: i64) -> Result<Merchant, StoreError> {
        let ok = !name.is_empty()
            && name.len() <= MAX_MERCHANT_NAME
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !ok {
            return Err(StoreError::BadMerchantName { name: clip(name) });
        }
        let conn = self.conn();
        match conn.execute("INSERT INTO merchants (name, created_ms) VALUES (?1, ?2)", params![name, now_ms])
        {
            Ok(_) => Ok(Merchant {
                id: MerchantId(conn.last_insert_rowid()),
                name: name.to_owned(),
                created_ms: now_ms,
                local_kick: LocalKickMode::default(),
            }),
            Err(e) if is_unique_violation(&e) => Err(StoreError::DuplicateMerchant { name: name.to_owned() }),
            Err(e) => Err(e.into()),
        }
    }

    /// Every merchant, by name, with counts.
    pub fn merchants(&self) -> Result<Vec<MerchantSummary>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(&format!(
            "SELECT {MERCHANT_COLUMNS},
                    (SELECT count(*) FROM api_keys k WHERE k.merchant_id = m.id),
                    (SELECT count(*) FROM whitelist w WHERE w.merchant_id = m.id)
                 FROM merchants m ORDER BY m.name"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok(MerchantSummary { merchant: merchant_row(r)?, api_keys: r.get(4)?, whitelisted: r.get(5)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The merchant named `name`.
    pub fn merchant(&self, name: &str) -> Result<Merchant, StoreError> {
        find_merchant(&self.reader(), name)
    }

    /// Sets who sends the local kick of a merchant's Cloud Connect 1.0 payments.
    pub fn set_local_kick(&self, merchant: &str, mode: LocalKickMode) -> Result<Merchant, StoreError> {
        let conn = self.conn();
        let m = find_merchant(&conn, merchant)?;
        conn.execute("UPDATE merchants SET local_kick = ?2 WHERE id = ?1", params![m.id.0, mode.as_str()])?;
        Ok(Merchant { local_kick: mode, ..m })
    }

    /// Makes an API key for a merchant (`t_` + 32 hex digits from the OS's random source) and stores its hash.
    /// The key is in the answer and nowhere else.
    pub fn add_api_key(&self, merchant: &str, now_ms: i64) -> Result<NewApiKey, StoreError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::NoRandomness { detail: e.to_string() })?;
        let key = format!("t_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
        self.add_api_key_text(merchant, &key, now_ms)?;
        Ok(NewApiKey { merchant: merchant.to_owned(), key })
    }

    /// Stores a given key for a merchant (tests and fixtures that need a known key).
    pub fn add_api_key_text(&self, merchant: &str, key: &str, now_ms: i64) -> Result<(), StoreError> {
        let conn = self.conn();
        let m = find_merchant(&conn, merchant)?;
        conn.execute(
            "INSERT INTO api_keys (merchant_id, key_sha256, key_prefix, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![m.id.0, hex_sha256(key.as_bytes()), key.get(..6).unwrap_or(key), now_ms],
        )?;
        Ok(())
    }

    /// The merchant an API key belongs to.
    pub fn authenticate(&self, key: &str) -> Result<Merchant, StoreError> {
        if key.is_empty() || key.len() > MAX_API_KEY_LEN {
            return Err(StoreError::UnknownApiKey);
        }
        self.reader()
            .prepare_cached(&format!(
                "SELECT {MERCHANT_COLUMNS} FROM api_keys k JOIN merchants m ON m.id = k.merchant_id
                 WHERE k.key_sha256 = ?1"
            ))?
            .query_row([hex_sha256(key.as_bytes())], merchant_row)
            .optional()?
            .ok_or(StoreError::UnknownApiKey)
    }

    /// Puts a TMS ID on a merchant's whitelist.
    pub fn whitelist_add(&self, merchant: &str, tms_id: &str, now_ms: i64) -> Result<(), StoreError> {
        check_tms_id(tms_id)?;
        let conn = self.conn();
        let m = find_merchant(&conn, merchant)?;
        match conn.execute(
            "INSERT INTO whitelist (merchant_id, tms_id, created_ms) VALUES (?1, ?2, ?3)",
            params![m.id.0, tms_id, now_ms],
        ) {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::DuplicateWhitelist { merchant: m.name, tms_id: tms_id.to_owned() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Takes a TMS ID off a merchant's whitelist.
    pub fn whitelist_remove(&self, merchant: &str, tms_id: &str) -> Result<(), StoreError> {
        check_tms_id(tms_id)?;
        let conn = self.conn();
        let m = find_merchant(&conn, merchant)?;
        let n = conn.execute(
            "DELETE FROM whitelist WHERE merchant_id = ?1 AND tms_id = ?2",
            params![m.id.0, tms_id],
        )?;
        if n == 0 {
            return Err(StoreError::NotWhitelisted { merchant: m.name, tms_id: tms_id.to_owned() });
        }
        Ok(())
    }

    /// A merchant's whitelist, sorted.
    pub fn whitelist(&self, merchant: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.reader();
        let m = find_merchant(&conn, merchant)?;
        let mut stmt = conn.prepare("SELECT tms_id FROM whitelist WHERE merchant_id = ?1 ORDER BY tms_id")?;
        let rows = stmt.query_map([m.id.0], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// `true` when the merchant may cloud-kick `tms_id` (R10).
    pub fn is_whitelisted(&self, merchant: MerchantId, tms_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .reader()
            .prepare_cached("SELECT 1 FROM whitelist WHERE merchant_id = ?1 AND tms_id = ?2")?
            .query_row(params![merchant.0, tms_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Creates a pending transaction, committed before returning. With an idempotency key: the same key with the
    /// same request hash returns the transaction made the first time (`new: false`); with another hash,
    /// [`StoreError::IdempotencyConflict`].
    pub fn create_payment(
        &self,
        merchant: MerchantId,
        new: &NewTransaction,
        idempotency: Option<Idempotency<'_>>,
        now_ms: i64,
        rng: &mut impl RngCore,
    ) -> Result<Created, StoreError> {
        if let Some(idem) = idempotency {
            let k = idem.key;
            if k.is_empty()
                || k.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS
                || k.chars().any(char::is_control)
            {
                return Err(StoreError::BadIdempotencyKey);
            }
        }
        let new = new.clone();
        let idempotency = idempotency.map(|i| (i.key.to_owned(), i.body_hash.to_owned()));
        // References are drawn inside the group's transaction (a collision draws again), from a generator
        // seeded by the caller's.
        let mut rng = SmallRng::seed_from_u64(rng.next_u64());
        self.write(move |tx| {
            if let Some((key, body_hash)) = &idempotency {
                let seen: Option<(String, String)> = tx
                    .query_row(
                        "SELECT body_sha256, payment_reference FROM idempotency_keys WHERE merchant_id = ?1 AND key = ?2",
                        params![merchant.0, key],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                if let Some((hash, reference)) = seen {
                    if hash != *body_hash {
                        return Err(StoreError::IdempotencyConflict { key: key.clone(), reference });
                    }
                    let record = load_payment(tx, merchant, &reference)?;
                    return Ok(Created { record, new: false });
                }
            }
            let (kind, original, order) = match &new {
                NewTransaction::Sale(order) => (TransactionType::Sale, None, order),
                NewTransaction::Refund { original_reference, order } => {
                    let original = load_payment(tx, merchant, original_reference)?;
                    if original.kind != TransactionType::Sale {
                        return Err(StoreError::NotASale { reference: original.reference });
                    }
                    (TransactionType::Refund, Some(original.reference), order)
                }
            };
            let order_json = serde_json::to_string(order)
                .map_err(|e| StoreError::Corrupt { what: "order", detail: e.to_string() })?;
            let minor = i64::try_from(order.amount.minor_units)
                .map_err(|_| StoreError::Corrupt { what: "amount", detail: "too large to store".into() })?;
            let mut attempts = 0;
            let reference = loop {
                let reference = new_reference(now_ms, &mut rng);
                let inserted = tx.prepare_cached(
                    "INSERT INTO payments (reference, merchant_id, type, original_reference, status, amount_minor, currency,
                                           terminal_id, order_json, created_ms, last_update_ms)
                     VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8, ?9, ?9)",
                )?
                .execute(params![
                        reference,
                        merchant.0,
                        kind.as_str(),
                        original,
                        minor,
                        order.amount.currency.code(),
                        order.terminal.terminal_id,
                        order_json,
                        now_ms
                ]);
                match inserted {
                    Ok(_) => break reference,
                    // 32 random bits in the same millisecond: a collision is rare; draw again.
                    Err(e) if is_unique_violation(&e) && attempts < 8 => attempts += 1,
                    Err(e) => return Err(e.into()),
                }
            };
            if let Some((key, body_hash)) = &idempotency {
                tx.execute(
                    "INSERT INTO idempotency_keys (merchant_id, key, body_sha256, payment_reference, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![merchant.0, key, body_hash, reference, now_ms],
                )?;
            }
            let record = load_payment(tx, merchant, &reference)?;
            Ok(Created { record, new: true })
        })
    }

    /// A merchant's transaction; another merchant's is [`StoreError::PaymentNotFound`] like a missing one.
    pub fn payment(&self, merchant: MerchantId, reference: &str) -> Result<PaymentRecord, StoreError> {
        load_payment(&self.reader(), merchant, reference)
    }

    /// A transaction by reference alone, whoever's it is (for its `payUrl` page and the admin API).
    pub fn payment_any(&self, reference: &str) -> Result<PaymentRecord, StoreError> {
        let conn = self.reader();
        conn.query_row(&format!("{SELECT_PAYMENT} WHERE reference = ?1"), [reference], raw_payment)
            .optional()?
            .ok_or_else(|| StoreError::PaymentNotFound { reference: clip(reference) })?
            .into_record()
    }

    /// Changes a transaction's status and receipts, committed before returning. A final status sets
    /// `statusFinalDate`; a transaction already final is [`StoreError::AlreadyFinal`] and stays as it was.
    pub fn update_status(
        &self,
        reference: &str,
        update: &StatusUpdate,
        now_ms: i64,
    ) -> Result<PaymentRecord, StoreError> {
        let (reference, update) = (reference.to_owned(), update.clone());
        self.write(move |tx| {
            let merchant: i64 = tx
                .prepare_cached("SELECT merchant_id FROM payments WHERE reference = ?1")?
                .query_row([&reference], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::PaymentNotFound { reference: clip(&reference) })?;
            let current = load_payment(tx, MerchantId(merchant), &reference)?;
            if current.status.is_final() {
                return Err(StoreError::AlreadyFinal {
                    reference: current.reference,
                    status: current.status.as_str(),
                });
            }
            let status = update.status.unwrap_or(current.status);
            let final_ms = status.is_final().then_some(now_ms);
            let receipts = update.receipts.as_ref().unwrap_or(&current.receipts);
            let failure_code = update.failure_code.or(current.failure_code);
            let failure_message = update.failure_message.as_deref().or(current.failure_message.as_deref());
            tx.prepare_cached(
                "UPDATE payments SET status = ?2, failure_code = ?3, customer_receipt = ?4, merchant_receipt = ?5,
                        journal_receipt = ?6, print_customer_receipt = ?7, ask_customer_signature = ?8,
                        last_update_ms = ?9, status_final_ms = ?10, failure_message = ?11
                 WHERE reference = ?1",
            )?
            .execute(params![
                    &reference,
                    status.as_str(),
                    failure_code.map(failure_code_text),
                    lines_json(receipts.customer.as_deref()),
                    lines_json(receipts.merchant.as_deref()),
                    lines_json(receipts.journal.as_deref()),
                    receipts.print_customer_receipt,
                    receipts.ask_customer_signature,
                    now_ms,
                    final_ms,
                    failure_message
            ])?;
            load_payment(tx, MerchantId(merchant), &reference)
        })
    }

    /// The latest `limit` transactions on terminal `tms_id`, newest first, of any merchant (what POS
    /// configurations talk to it: a diagnosis reads their `managementSystemId`).
    pub fn recent_on_terminal(&self, tms_id: &str, limit: u32) -> Result<Vec<PaymentRecord>, StoreError> {
        query_payments(
            &self.reader(),
            "WHERE terminal_id = ?1 ORDER BY created_ms DESC, reference DESC LIMIT ?2",
            params![tms_id, limit],
        )
    }

    /// The latest `limit` transactions of every merchant, newest first (a dashboard's list).
    pub fn recent_payments(&self, limit: u32) -> Result<Vec<PaymentRecord>, StoreError> {
        query_payments(&self.reader(), "ORDER BY created_ms DESC, reference DESC LIMIT ?1", params![limit])
    }

    /// Every transaction still pending, oldest first (to resume or settle them after a restart).
    pub fn pending_payments(&self) -> Result<Vec<PaymentRecord>, StoreError> {
        query_payments(&self.reader(), "WHERE status = 'pending' ORDER BY created_ms, reference", [])
    }

    /// After a restart: every transaction still pending becomes `manualintervention` with `message`, in one
    /// transaction; returns them. Nobody drives them any more, and whether money moved is not known here.
    pub fn settle_interrupted(&self, message: &str, now_ms: i64) -> Result<Vec<PaymentRecord>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let pending: Vec<(String, i64)> = {
            let mut stmt =
                tx.prepare("SELECT reference, merchant_id FROM payments WHERE status = 'pending'")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        tx.execute(
            "UPDATE payments SET status = 'manualintervention', failure_message = ?1, last_update_ms = ?2,
                    status_final_ms = ?2 WHERE status = 'pending'",
            params![message, now_ms],
        )?;
        let settled = pending
            .iter()
            .map(|(reference, merchant)| load_payment(&tx, MerchantId(*merchant), reference))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()?;
        Ok(settled)
    }

    /// Final transactions with a `webhookUrl` whose webhook is not delivered yet and has had fewer than
    /// `max_attempts` attempts, with the attempts made so far (to resume delivery after a restart).
    pub fn undelivered_webhooks(&self, max_attempts: u32) -> Result<Vec<(PaymentRecord, u32)>, StoreError> {
        // The attempts made so far come as one more column after the payment's.
        let conn = self.reader();
        let mut stmt = conn.prepare(&format!(
            "SELECT * FROM (
               {SELECT_PAYMENT_COLUMNS},
                 (SELECT count(*) FROM webhook_deliveries d WHERE d.payment_reference = p.reference) AS made
               FROM payments p WHERE p.status != 'pending'
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.payment_reference = p.reference
                                 AND d.delivered = 1)
                 AND json_extract(p.order_json, '$.texts.webhookUrl') IS NOT NULL)
             WHERE made < ?1"
        ))?;
        let rows = stmt.query_map([max_attempts], |r| Ok((raw_payment(r)?, r.get::<_, u32>(18)?)))?;
        rows.map(|r| {
            let (raw, made) = r?;
            Ok((raw.into_record()?, made))
        })
        .collect()
    }

    /// Records a webhook attempt (numbered 1, 2, ... per transaction) and returns its number.
    pub fn record_webhook_attempt(
        &self,
        reference: &str,
        url: &str,
        http_status: Option<u16>,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<u32, StoreError> {
        let (reference, url) = (reference.to_owned(), url.to_owned());
        let error = error.map(str::to_owned);
        self.write(move |tx| {
            let attempt: u32 = tx.query_row(
                "SELECT coalesce(max(attempt), 0) + 1 FROM webhook_deliveries WHERE payment_reference = ?1",
                [&reference],
                |r| r.get(0),
            )?;
            let delivered = http_status.is_some_and(|s| (200..300).contains(&s)) && error.is_none();
            match tx.execute(
                "INSERT INTO webhook_deliveries (payment_reference, url, attempt, attempted_ms, http_status, error, delivered)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![reference, url, attempt, now_ms, http_status, error, delivered],
            ) {
                Ok(_) => {}
                Err(e) if is_foreign_key_violation(&e) => {
                    return Err(StoreError::PaymentNotFound { reference: clip(&reference) });
                }
                Err(e) => return Err(e.into()),
            }
            Ok(attempt)
        })
    }

    /// A transaction's webhook attempts, in order.
    pub fn webhook_attempts(&self, reference: &str) -> Result<Vec<WebhookAttempt>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT payment_reference, url, attempt, attempted_ms, http_status, error, delivered
             FROM webhook_deliveries WHERE payment_reference = ?1 ORDER BY attempt",
        )?;
        let rows = stmt.query_map([reference], |r| {
            Ok(WebhookAttempt {
                reference: r.get(0)?,
                url: r.get(1)?,
                attempt: r.get(2)?,
                attempted_ms: r.get(3)?,
                http_status: r.get(4)?,
                error: r.get(5)?,
                delivered: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Most writes committed in one group.
const MAX_GROUP: usize = 1024;

/// The writer thread: commits the writes queued, a group at a time, until the store is dropped.
fn write_groups(conn: &Mutex<Connection>, queued: &std::sync::mpsc::Receiver<Job>) {
    while let Ok(first) = queued.recv() {
        let mut jobs = vec![first];
        jobs.extend(queued.try_iter().take(MAX_GROUP - 1));
        let mut conn = conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        commit_group(&mut conn, jobs);
    }
}

/// Runs `jobs` in one transaction, each in a savepoint of its own (a job that fails is rolled back alone),
/// commits, and answers each job with the commit's outcome. Nothing is answered before the commit.
fn commit_group(conn: &mut Connection, jobs: Vec<Job>) {
    if jobs.is_empty() {
        return;
    }
    let mut answers = Vec::with_capacity(jobs.len());
    let outcome = (|| -> Result<(), rusqlite::Error> {
        let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for job in jobs {
            // A job not run because of an error here is dropped unanswered: its caller sees a failed write.
            let savepoint = tx.savepoint()?;
            // A job that panics is rolled back and dropped unanswered; the writer goes on.
            let Ok((ok, answer)) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&savepoint)))
            else {
                // Rolls back to the savepoint (its drop behaviour) and releases it.
                savepoint.finish()?;
                continue;
            };
            answers.push(answer);
            if ok { savepoint.commit()? } else { savepoint.finish()? }
        }
        tx.commit()
    })();
    match outcome {
        Ok(()) => answers.into_iter().for_each(|answer| answer(None)),
        Err(e) => answers.into_iter().for_each(|answer| answer(Some(&e))),
    }
}

/// An error of a group's commit, for each write of the group.
fn copy_error(e: &rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(*code, message.clone()))
        }
        other => StoreError::Corrupt { what: "group commit", detail: other.to_string() },
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let supported = u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > supported {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
    }
    tx.commit()?;
    Ok(())
}

fn find_merchant(conn: &Connection, name: &str) -> Result<Merchant, StoreError> {
    conn.query_row(
        &format!("SELECT {MERCHANT_COLUMNS} FROM merchants m WHERE m.name = ?1"),
        [name],
        merchant_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::UnknownMerchant { name: clip(name) })
}

fn check_tms_id(tms_id: &str) -> Result<(), StoreError> {
    if is_tms_id(tms_id) { Ok(()) } else { Err(StoreError::BadTmsId { tms_id: clip(tms_id) }) }
}

/// The columns [`raw_payment`] reads, in its order (of table `payments` as `p`).
macro_rules! payment_columns {
    () => {
        "SELECT p.reference, p.merchant_id, p.type, p.original_reference, p.status, p.amount_minor, p.currency,
            p.order_json, p.failure_code, p.customer_receipt, p.merchant_receipt, p.journal_receipt,
            p.print_customer_receipt, p.ask_customer_signature, p.created_ms, p.last_update_ms, p.status_final_ms,
            p.failure_message"
    };
}

const SELECT_PAYMENT_COLUMNS: &str = payment_columns!();
const SELECT_PAYMENT: &str = concat!(payment_columns!(), " FROM payments p");

/// The payments a `WHERE ... ORDER BY ...` clause (on `payments p`) selects.
fn query_payments(
    conn: &Connection,
    clause: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<PaymentRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT_PAYMENT} {clause}"))?;
    let rows = stmt.query_map(params, raw_payment)?;
    rows.map(|r| r.map_err(StoreError::from).and_then(RawPayment::into_record)).collect()
}

fn load_payment(
    conn: &Connection,
    merchant: MerchantId,
    reference: &str,
) -> Result<PaymentRecord, StoreError> {
    conn.prepare_cached(&format!("{SELECT_PAYMENT} WHERE reference = ?1 AND merchant_id = ?2"))?
        .query_row(params![reference, merchant.0], raw_payment)
        .optional()?
        .ok_or_else(|| StoreError::PaymentNotFound { reference: clip(reference) })?
        .into_record()
}

/// A payments row as stored, before its texts are read.
struct RawPayment {
    reference: String,
    merchant_id: i64,
    kind: String,
    original_reference: Option<String>,
    status: String,
    amount_minor: i64,
    currency: String,
    order_json: String,
    failure_code: Option<String>,
    receipts: [Option<String>; 3],
    print_customer_receipt: Option<bool>,
    ask_customer_signature: Option<bool>,
    created_ms: i64,
    last_update_ms: i64,
    status_final_ms: Option<i64>,
    failure_message: Option<String>,
}

fn raw_payment(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawPayment> {
    Ok(RawPayment {
        reference: r.get(0)?,
        merchant_id: r.get(1)?,
        kind: r.get(2)?,
        original_reference: r.get(3)?,
        status: r.get(4)?,
        amount_minor: r.get(5)?,
        currency: r.get(6)?,
        order_json: r.get(7)?,
        failure_code: r.get(8)?,
        receipts: [r.get(9)?, r.get(10)?, r.get(11)?],
        print_customer_receipt: r.get(12)?,
        ask_customer_signature: r.get(13)?,
        created_ms: r.get(14)?,
        last_update_ms: r.get(15)?,
        status_final_ms: r.get(16)?,
        failure_message: r.get(17)?,
    })
}

impl RawPayment {
    fn into_record(self) -> Result<PaymentRecord, StoreError> {
        let corrupt = |what: &'static str, detail: String| StoreError::Corrupt { what, detail };
        let mut order: PaymentOrder =
            serde_json::from_str(&self.order_json).map_err(|e| corrupt("order", e.to_string()))?;
        let currency = Currency::new(&self.currency).map_err(|e| corrupt("currency", e))?;
        let minor = u64::try_from(self.amount_minor).map_err(|e| corrupt("amount", e.to_string()))?;
        order.amount = Amount::new(minor, currency);
        let [customer, merchant, journal] = self.receipts;
        let lines = |text: Option<String>| -> Result<Option<Vec<String>>, StoreError> {
            text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt("receipt", e.to_string()))).transpose()
        };
        Ok(PaymentRecord {
            merchant_id: MerchantId(self.merchant_id),
            kind: TransactionType::parse(&self.kind).ok_or_else(|| corrupt("type", self.kind.clone()))?,
            original_reference: self.original_reference,
            status: PaymentStatus::parse(&self.status)
                .ok_or_else(|| corrupt("status", self.status.clone()))?,
            order,
            failure_code: self
                .failure_code
                .map(|c| {
                    serde_json::from_value(serde_json::Value::String(c))
                        .map_err(|e| corrupt("failure code", e.to_string()))
                })
                .transpose()?,
            failure_message: self.failure_message,
            receipts: Receipts {
                customer: lines(customer)?,
                merchant: lines(merchant)?,
                journal: lines(journal)?,
                print_customer_receipt: self.print_customer_receipt,
                ask_customer_signature: self.ask_customer_signature,
            },
            created_ms: self.created_ms,
            last_update_ms: self.last_update_ms,
            status_final_ms: self.status_final_ms,
            reference: self.reference,
        })
    }
}

fn failure_code_text(code: FailureCode) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn lines_json(lines: Option<&[String]>) -> Option<String> {
    lines.map(receipt_string)
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

fn is_foreign_key_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}
