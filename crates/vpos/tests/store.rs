//! The SQLite store: merchants, keys, whitelists, payments, idempotency, durability across reopening, and
//! concurrent idempotent creates.

use std::sync::{Arc, Barrier};

use ccv_vpos::model::FailureCode;
use ccv_vpos::validate::{canonical_body_hash, parse_payment};
use ccv_vpos::{
    ErrorType, Idempotency, MerchantId, NewTransaction, PaymentOrder, PaymentStatus, Receipts, StatusUpdate,
    Store, StoreError, TransactionType,
};
use rand::SeedableRng;
use rand::rngs::SmallRng;

const T0: i64 = 1_776_151_734_599;

fn order(amount: &str) -> PaymentOrder {
    let body = format!(
        r#"{{"amount": "{amount}", "currency": "EUR", "method": "terminal", "webhookUrl": "https://shop.example/hook",
            "details": {{"terminalId": "12345678", "managementSystemId": "GrundmasterNL", "accessProtocol": "OPI_NL"}}}}"#
    );
    parse_payment(body.as_bytes()).expect("valid order")
}

fn with_merchant(store: &Store, name: &str) -> MerchantId {
    store.add_merchant(name, T0).expect("merchant").id
}

fn sale(store: &Store, m: MerchantId, rng: &mut SmallRng) -> ccv_vpos::PaymentRecord {
    store.create_payment(m, &NewTransaction::Sale(order("12.50")), None, T0, rng).expect("created").record
}

#[test]
fn a_new_database_has_the_latest_schema_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(&dir.path().join("state")).expect("open");
    assert_eq!(store.schema_version().unwrap() as usize, ccv_vpos::schema::MIGRATIONS.len());
    assert!(dir.path().join("state/vpos.sqlite3").is_file());
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join("state/vpos.sqlite3")).unwrap();
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    // A database from a newer ccv-emu is refused, not damaged.
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    match Store::open_dir(&dir.path().join("state")) {
        Err(e @ StoreError::SchemaTooNew { found: 99, .. }) => {
            assert!(e.to_string().contains("newer ccv-emu"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn merchants_keys_and_whitelists() {
    let store = Store::open_in_memory().unwrap();
    let shop = store.add_merchant("shop-1", T0).unwrap();
    assert!(matches!(store.add_merchant("shop-1", T0), Err(StoreError::DuplicateMerchant { .. })));
    assert!(matches!(store.add_merchant("", T0), Err(StoreError::BadMerchantName { .. })));
    assert!(matches!(store.add_merchant("a b", T0), Err(StoreError::BadMerchantName { .. })));
    assert!(matches!(store.add_merchant(&"a".repeat(65), T0), Err(StoreError::BadMerchantName { .. })));
    store.add_merchant("other", T0).unwrap();

    let key = store.add_api_key("shop-1", T0).unwrap();
    assert!(key.key.starts_with("t_") && key.key.len() == 34, "{}", key.key);
    assert!(key.key[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(store.authenticate(&key.key).unwrap(), shop);
    assert!(matches!(store.authenticate("t_0000"), Err(StoreError::UnknownApiKey)));
    assert!(matches!(store.authenticate(""), Err(StoreError::UnknownApiKey)));
    assert!(matches!(store.authenticate(&"t".repeat(10_000)), Err(StoreError::UnknownApiKey)));
    assert!(matches!(store.add_api_key("nobody", T0), Err(StoreError::UnknownMerchant { .. })));
    assert_ne!(store.add_api_key("shop-1", T0).unwrap().key, key.key);

    store.whitelist_add("shop-1", "12345678", T0).unwrap();
    store.whitelist_add("shop-1", "ABC123", T0).unwrap();
    store.whitelist_add("other", "12345678", T0).unwrap();
    assert!(matches!(
        store.whitelist_add("shop-1", "12345678", T0),
        Err(StoreError::DuplicateWhitelist { .. })
    ));
    assert!(matches!(store.whitelist_add("shop-1", "12-34", T0), Err(StoreError::BadTmsId { .. })));
    assert!(matches!(store.whitelist_add("shop-1", &"1".repeat(33), T0), Err(StoreError::BadTmsId { .. })));
    assert!(matches!(store.whitelist_add("nobody", "1", T0), Err(StoreError::UnknownMerchant { .. })));
    assert_eq!(store.whitelist("shop-1").unwrap(), ["12345678", "ABC123"]);
    assert!(store.is_whitelisted(shop.id, "ABC123").unwrap());
    store.whitelist_remove("shop-1", "ABC123").unwrap();
    assert!(!store.is_whitelisted(shop.id, "ABC123").unwrap());
    assert!(matches!(store.whitelist_remove("shop-1", "ABC123"), Err(StoreError::NotWhitelisted { .. })));

    let list = store.merchants().unwrap();
    assert_eq!(list.iter().map(|m| m.merchant.name.as_str()).collect::<Vec<_>>(), ["other", "shop-1"]);
    assert_eq!((list[1].api_keys, list[1].whitelisted), (2, 1));
}

#[test]
fn a_payment_is_scoped_to_its_merchant_and_its_final_status_never_changes() {
    let store = Store::open_in_memory().unwrap();
    let (a, b) = (with_merchant(&store, "a"), with_merchant(&store, "b"));
    let mut rng = SmallRng::seed_from_u64(1);
    let p = sale(&store, a, &mut rng);
    assert!(ccv_vpos::reference::is_reference(&p.reference), "{}", p.reference);
    assert_eq!(
        (p.status, p.kind, p.created_ms, p.last_update_ms, p.status_final_ms),
        (PaymentStatus::Pending, TransactionType::Sale, T0, T0, None)
    );
    assert_eq!(store.payment(a, &p.reference).unwrap(), p);
    let not_found = store.payment(b, &p.reference).expect_err("another merchant's");
    assert!(matches!(not_found, StoreError::PaymentNotFound { .. }));
    assert_eq!(ccv_vpos::ApiError::from(not_found).kind, ErrorType::NotFound);

    let receipts = Receipts {
        customer: Some(vec!["Kopie Customer".into(), "".into(), "Betaling gelukt".into()]),
        print_customer_receipt: Some(true),
        ..Receipts::default()
    };
    let done = store
        .update_status(
            &p.reference,
            &StatusUpdate {
                status: Some(PaymentStatus::Success),
                failure_code: None,
                receipts: Some(receipts.clone()),
                failure_message: None,
            },
            T0 + 5_000,
        )
        .unwrap();
    assert_eq!(
        (done.status, done.last_update_ms, done.status_final_ms),
        (PaymentStatus::Success, T0 + 5_000, Some(T0 + 5_000))
    );
    assert_eq!(done.receipts, receipts);
    let t = done.to_transaction("http://127.0.0.1:8080/");
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["amount"], serde_json::json!(12.5));
    assert!(serde_json::to_string(&t).unwrap().contains(r#""amount":12.50"#));
    assert_eq!(json["status"], "success");
    assert_eq!(json["type"], "sale");
    assert_eq!(json["statusFinalDate"], T0 + 5_000);
    assert_eq!(json["payUrl"], format!("http://127.0.0.1:8080/terminal/poll?reference={}", p.reference));
    assert_eq!(json["details"]["wakeUpType"], "CLOUD_CONNECT");
    assert_eq!(json["webhookUrl"], "https://shop.example/hook");
    assert_eq!(json["method"], "terminal");
    let lines: Vec<String> =
        serde_json::from_str(json["details"]["customerReceipt"].as_str().unwrap()).unwrap();
    assert_eq!(lines[2], "Betaling gelukt");

    let again = store.update_status(
        &p.reference,
        &StatusUpdate { status: Some(PaymentStatus::Failed), ..StatusUpdate::default() },
        T0 + 9_000,
    );
    assert!(matches!(again, Err(StoreError::AlreadyFinal { status: "success", .. })), "{again:?}");
    assert_eq!(store.payment(a, &p.reference).unwrap(), done, "unchanged");
    assert!(matches!(
        store.update_status("TL0", &StatusUpdate::default(), T0),
        Err(StoreError::PaymentNotFound { .. })
    ));
}

#[test]
fn refunds_point_at_a_sale_of_the_same_merchant() {
    let store = Store::open_in_memory().unwrap();
    let (a, b) = (with_merchant(&store, "a"), with_merchant(&store, "b"));
    let mut rng = SmallRng::seed_from_u64(2);
    let p = sale(&store, a, &mut rng);
    let refund = |m, original: &str, rng: &mut SmallRng| {
        store.create_payment(
            m,
            &NewTransaction::Refund { original_reference: original.into(), order: order("5.00") },
            None,
            T0 + 1,
            rng,
        )
    };
    let r = refund(a, &p.reference, &mut rng).unwrap().record;
    assert_eq!(
        (r.kind, r.original_reference.as_deref()),
        (TransactionType::Refund, Some(p.reference.as_str()))
    );
    assert_eq!(r.to_transaction("http://x").original_reference.as_deref(), Some(p.reference.as_str()));
    assert!(matches!(refund(b, &p.reference, &mut rng), Err(StoreError::PaymentNotFound { .. })));
    assert!(matches!(refund(a, &r.reference, &mut rng), Err(StoreError::NotASale { .. })));
}

#[test]
fn idempotent_creates_return_the_first_payment_and_refuse_a_different_body() {
    let store = Store::open_in_memory().unwrap();
    let (a, b) = (with_merchant(&store, "a"), with_merchant(&store, "b"));
    let mut rng = SmallRng::seed_from_u64(3);
    let body = br#"{"amount": "12.50"}"#;
    let hash = canonical_body_hash("payment", body).unwrap();
    let idem = Idempotency { key: "0b8d7c5e-6a4f-4c1e-9f0a-2f6f2a6d1b11", body_hash: &hash };
    let new = NewTransaction::Sale(order("12.50"));
    let first = store.create_payment(a, &new, Some(idem), T0, &mut rng).unwrap();
    assert!(first.new);
    let repeat = store.create_payment(a, &new, Some(idem), T0 + 10, &mut rng).unwrap();
    assert_eq!((repeat.new, &repeat.record), (false, &first.record));
    // The same key is another merchant's own.
    assert!(store.create_payment(b, &new, Some(idem), T0, &mut rng).unwrap().new);

    let other_hash = canonical_body_hash("payment", br#"{"amount": "13.00"}"#).unwrap();
    let conflict = store
        .create_payment(
            a,
            &NewTransaction::Sale(order("13.00")),
            Some(Idempotency { body_hash: &other_hash, ..idem }),
            T0,
            &mut rng,
        )
        .expect_err("conflict");
    let api = ccv_vpos::ApiError::from(conflict);
    assert_eq!(
        (api.kind, api.reference.as_deref()),
        (ErrorType::IdempotencyConflict, Some(first.record.reference.as_str()))
    );
    assert_eq!(api.http_status(), 409);

    for bad in ["", &"k".repeat(51), "a\nb"] {
        let r = store.create_payment(a, &new, Some(Idempotency { key: bad, ..idem }), T0, &mut rng);
        assert!(matches!(r, Err(StoreError::BadIdempotencyKey)), "{bad:?}");
    }
    assert!(
        store
            .create_payment(a, &new, Some(Idempotency { key: &"k".repeat(50), ..idem }), T0, &mut rng)
            .is_ok()
    );
}

#[test]
fn the_file_keeps_everything_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SmallRng::seed_from_u64(4);
    let (key, pending, done) = {
        let store = Store::open_dir(dir.path()).unwrap();
        let m = with_merchant(&store, "shop");
        let key = store.add_api_key("shop", T0).unwrap().key;
        store.whitelist_add("shop", "12345678", T0).unwrap();
        let pending = sale(&store, m, &mut rng);
        let done = sale(&store, m, &mut rng);
        let update = StatusUpdate {
            status: Some(PaymentStatus::Failed),
            failure_code: Some(FailureCode::Cancelled),
            receipts: None,
            failure_message: Some("the customer pressed STOP".into()),
        };
        let done = store.update_status(&done.reference, &update, T0 + 1).unwrap();
        store
            .record_webhook_attempt(&done.reference, "https://shop.example/hook", Some(500), None, T0 + 2)
            .unwrap();
        store
            .record_webhook_attempt(&done.reference, "https://shop.example/hook", Some(204), None, T0 + 3)
            .unwrap();
        (key, pending, done)
    };
    let store = Store::open_dir(dir.path()).unwrap();
    let m = store.authenticate(&key).unwrap();
    assert_eq!(store.whitelist("shop").unwrap(), ["12345678"]);
    assert_eq!(store.payment(m.id, &pending.reference).unwrap(), pending);
    assert_eq!(store.payment(m.id, &done.reference).unwrap(), done);
    assert_eq!(done.failure_code, Some(FailureCode::Cancelled));
    assert_eq!(store.pending_payments().unwrap(), vec![pending]);
    let attempts = store.webhook_attempts(&done.reference).unwrap();
    assert_eq!(
        attempts.iter().map(|a| (a.attempt, a.delivered)).collect::<Vec<_>>(),
        [(1, false), (2, true)]
    );
    assert!(matches!(
        store.record_webhook_attempt("TL0", "https://x", None, Some("refused"), T0),
        Err(StoreError::PaymentNotFound { .. })
    ));
}

#[test]
fn two_threads_with_one_idempotency_key_make_one_payment() {
    let dir = tempfile::tempdir().unwrap();
    let m = with_merchant(&Store::open_dir(dir.path()).unwrap(), "shop");
    let hash = canonical_body_hash("payment", br#"{"amount": "12.50"}"#).unwrap();
    for round in 0..10u64 {
        // Two connections on one file (as two processes would be) and one store shared by two threads.
        let shared = Arc::new(Store::open_dir(dir.path()).unwrap());
        let stores = [Arc::new(Store::open_dir(dir.path()).unwrap()), shared.clone(), shared];
        let barrier = Arc::new(Barrier::new(stores.len()));
        let key = format!("key-{round}");
        let handles: Vec<_> = stores
            .into_iter()
            .enumerate()
            .map(|(i, store)| {
                let (barrier, key, hash) = (barrier.clone(), key.clone(), hash.clone());
                std::thread::spawn(move || {
                    let mut rng = SmallRng::seed_from_u64(round * 10 + i as u64);
                    barrier.wait();
                    let idem = Idempotency { key: &key, body_hash: &hash };
                    store
                        .create_payment(m, &NewTransaction::Sale(order("12.50")), Some(idem), T0, &mut rng)
                        .unwrap()
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|c| c.new).count(), 1, "round {round}");
        assert!(results.iter().all(|c| c.record == results[0].record));
    }
    assert_eq!(Store::open_dir(dir.path()).unwrap().pending_payments().unwrap().len(), 10);
}

#[test]
fn after_a_restart_pending_payments_settle_and_undelivered_webhooks_are_found() {
    let store = Store::open_in_memory().unwrap();
    let m = with_merchant(&store, "shop");
    let mut rng = SmallRng::seed_from_u64(3);
    let pending = sale(&store, m, &mut rng);
    let done = sale(&store, m, &mut rng);
    let failed = StatusUpdate { status: Some(PaymentStatus::Failed), ..StatusUpdate::default() };
    store.update_status(&done.reference, &failed, T0 + 1).unwrap();

    // The pending one becomes manualintervention, once.
    let settled = store.settle_interrupted("stopped", T0 + 2).unwrap();
    assert_eq!(settled.len(), 1);
    assert_eq!(settled[0].reference, pending.reference);
    assert_eq!(settled[0].status, PaymentStatus::ManualIntervention);
    assert_eq!(settled[0].failure_message.as_deref(), Some("stopped"));
    assert!(store.settle_interrupted("again", T0 + 3).unwrap().is_empty());

    // Both final, both with a webhookUrl: undelivered, with the attempts made so far.
    let hook = "https://shop.example/hook";
    store.record_webhook_attempt(&done.reference, hook, Some(500), None, T0 + 4).unwrap();
    let mut open = store.undelivered_webhooks(6).unwrap();
    open.sort_by_key(|(r, _)| r.reference.clone());
    let mut expected = vec![(pending.reference.clone(), 0), (done.reference.clone(), 1)];
    expected.sort();
    assert_eq!(open.iter().map(|(r, n)| (r.reference.clone(), *n)).collect::<Vec<_>>(), expected);
    // Out of attempts, or delivered: no more.
    assert_eq!(store.undelivered_webhooks(1).unwrap().len(), 1, "the one with an attempt is out of attempts");
    store.record_webhook_attempt(&pending.reference, hook, Some(204), None, T0 + 5).unwrap();
    let open = store.undelivered_webhooks(6).unwrap();
    assert_eq!(
        open.iter().map(|(r, _)| r.reference.as_str()).collect::<Vec<_>>(),
        vec![done.reference.as_str()]
    );
}
