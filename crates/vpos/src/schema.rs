//! The database schema as ordered migrations.
//!
//! `PRAGMA user_version` holds how many migrations a database has had. Opening a database runs the missing ones
//! in order, each in its own transaction together with the new `user_version`, so a crash leaves a database at
//! one version or the next, never between. A database newer than this code (a higher version) is refused.
//! Migrations are append-only: to change the schema, add an entry; never edit one that has shipped.

/// The migrations, oldest first; migration `i` (0-based) brings a database from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: merchants, API keys, whitelists, payments, idempotency keys, webhook deliveries.
    "
    CREATE TABLE merchants (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_ms  INTEGER NOT NULL
    ) STRICT;

    -- Only the SHA-256 of a key is stored; the key is shown once, when it is made.
    CREATE TABLE api_keys (
        id           INTEGER PRIMARY KEY,
        merchant_id  INTEGER NOT NULL REFERENCES merchants(id),
        key_sha256   TEXT NOT NULL UNIQUE,
        key_prefix   TEXT NOT NULL,
        created_ms   INTEGER NOT NULL
    ) STRICT;

    -- The TMS IDs a merchant may cloud-kick (R10).
    CREATE TABLE whitelist (
        merchant_id  INTEGER NOT NULL REFERENCES merchants(id),
        tms_id       TEXT NOT NULL,
        created_ms   INTEGER NOT NULL,
        PRIMARY KEY (merchant_id, tms_id)
    ) STRICT;

    -- Payments and refunds. `order_json` is the checked order (ccv_vpos::PaymentOrder as JSON); receipts are
    -- JSON arrays of lines.
    CREATE TABLE payments (
        reference               TEXT PRIMARY KEY,
        merchant_id             INTEGER NOT NULL REFERENCES merchants(id),
        type                    TEXT NOT NULL CHECK (type IN ('sale', 'refund')),
        original_reference      TEXT REFERENCES payments(reference),
        status                  TEXT NOT NULL
                                CHECK (status IN ('pending', 'success', 'failed', 'manualintervention')),
        amount_minor            INTEGER NOT NULL CHECK (amount_minor > 0),
        currency                TEXT NOT NULL,
        terminal_id             TEXT NOT NULL,
        order_json              TEXT NOT NULL,
        failure_code            TEXT,
        customer_receipt        TEXT,
        merchant_receipt        TEXT,
        journal_receipt         TEXT,
        print_customer_receipt  INTEGER,
        ask_customer_signature  INTEGER,
        created_ms              INTEGER NOT NULL,
        last_update_ms          INTEGER NOT NULL,
        status_final_ms         INTEGER,
        CHECK ((status = 'pending') = (status_final_ms IS NULL)),
        CHECK ((type = 'refund') = (original_reference IS NOT NULL))
    ) STRICT;
    CREATE INDEX payments_pending ON payments(created_ms) WHERE status = 'pending';
    CREATE INDEX payments_by_merchant ON payments(merchant_id, created_ms);

    -- Idempotency-Reference per merchant: the hash of the canonical request and the transaction it made.
    CREATE TABLE idempotency_keys (
        merchant_id        INTEGER NOT NULL REFERENCES merchants(id),
        key                TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 50),
        body_sha256        TEXT NOT NULL,
        payment_reference  TEXT NOT NULL REFERENCES payments(reference),
        created_ms         INTEGER NOT NULL,
        PRIMARY KEY (merchant_id, key)
    ) STRICT;

    -- One row per webhook attempt.
    CREATE TABLE webhook_deliveries (
        id                 INTEGER PRIMARY KEY,
        payment_reference  TEXT NOT NULL REFERENCES payments(reference),
        url                TEXT NOT NULL,
        attempt            INTEGER NOT NULL CHECK (attempt >= 1),
        attempted_ms       INTEGER NOT NULL,
        http_status        INTEGER,
        error              TEXT,
        delivered          INTEGER NOT NULL CHECK (delivered IN (0, 1)),
        UNIQUE (payment_reference, attempt)
    ) STRICT;
    ",
    // 2: the message that names why a transaction failed (ours), and how a merchant's 1.0 payments are kicked.
    "
    ALTER TABLE payments ADD COLUMN failure_message TEXT;
    ALTER TABLE merchants ADD COLUMN local_kick TEXT NOT NULL DEFAULT 'browser'
        CHECK (local_kick IN ('browser', 'server'));
    ",
];
