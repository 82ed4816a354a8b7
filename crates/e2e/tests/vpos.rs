//! The payment API as a POS meets it: a plain HTTP client with an API key, against the whole world on loopback
//! (IoT endpoint, mock TAS, payment API, emulated terminals). Waits are for events: the merchant's webhook
//! receiver is told of every final status, and the test then reads the transaction like a POS does.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use ccv_e2e::world::World;
use ccv_terminal_io::config::FileConfig;
use ccv_test_support::http::{HeaderFlood, send_header_flood};
use ccv_vpos::client::VposClient;
use ccv_vpos::{LocalKickMode, Store, VposConfig, VposEvent, WebhookPolicy};
use serde_json::{Value, json};
use tokio::sync::mpsc;

mod common;
use common::{T, fixture};

fn config() -> VposConfig {
    VposConfig {
        kick_answer_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(10),
        transaction_timeout: Duration::from_secs(20),
        settle_timeout: Duration::from_millis(500),
        webhook: WebhookPolicy {
            max_attempts: 4,
            first_retry: Duration::from_millis(20),
            max_retry: Duration::from_millis(100),
            timeout: Duration::from_secs(5),
        },
        ..VposConfig::default()
    }
}

async fn world(ids: &[&str]) -> World {
    World::start(ids, Arc::new(Store::open_in_memory().expect("store")), config()).await
}

/// A merchant's webhook receiver: every `{"id": ...}` it is sent, answered with the statuses in `answers`
/// (then 200).
struct Receiver {
    url: String,
    ids: mpsc::UnboundedReceiver<String>,
}

/// The receiver's state: where ids go, and the statuses still to answer.
type HookState = (mpsc::UnboundedSender<String>, Arc<std::sync::Mutex<std::vec::IntoIter<u16>>>);

async fn hook(State((tx, answers)): State<HookState>, body: axum::Json<Value>) -> StatusCode {
    let code = answers.lock().expect("lock").next().unwrap_or(200);
    let id = body.0["id"].as_str().unwrap_or_default().to_owned();
    let _ = tx.send(id);
    StatusCode::from_u16(code).expect("status")
}

async fn receiver(answers: Vec<u16>) -> Receiver {
    let (tx, ids) = mpsc::unbounded_channel();
    let answers = Arc::new(std::sync::Mutex::new(answers.into_iter()));
    let app = axum::Router::new().route("/hook", axum::routing::post(hook)).with_state((tx, answers));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, ids }
}

impl Receiver {
    async fn next(&mut self) -> String {
        tokio::time::timeout(T, self.ids.recv()).await.expect("a webhook in time").expect("receiver runs")
    }
}

/// A POS's HTTP client.
struct Pos(VposClient);

impl Pos {
    fn new(world: &World, key: &str) -> Pos {
        Pos(VposClient::new(world.base_url(), key))
    }

    async fn post(&self, path: &str, body: &Value, idempotency: Option<&str>) -> (u16, Value) {
        self.0.post(path, body, idempotency).await.expect("the API answers with JSON")
    }

    async fn transaction(&self, reference: &str) -> (u16, Value) {
        self.0.transaction(reference).await.expect("the API answers with JSON")
    }
}

fn cloud_payment(tms_id: &str, amount: &str, webhook: &str) -> Value {
    json!({
        "amount": amount, "currency": "eur", "method": "terminal", "merchantOrderReference": "order-1",
        "description": "Order 1", "language": "nld", "returnUrl": "https://shop.example/return",
        "webhookUrl": webhook,
        "details": {"terminalId": tms_id, "managementSystemId": "GrundmasterNL", "accessProtocol": "OPI_NL",
                    "operatingEnvironment": "ATTENDED", "merchantLanguage": "NLD"}
    })
}

fn local_payment(tms_id: &str, port: u16, webhook: &str) -> Value {
    json!({
        "amount": 9.99, "currency": "EUR", "method": "terminal", "webhookUrl": webhook,
        "details": {"betaalterminalId": tms_id, "managementSystemId": "08900000002", "accessProtocol": "OPI_NL",
                    "ip": "127.0.0.1", "port": port}
    })
}

fn lines(receipt: &Value) -> Vec<String> {
    serde_json::from_str(receipt.as_str().expect("a receipt string")).expect("a JSON array of lines")
}

#[tokio::test]
async fn cloud_payment_succeeds_with_receipts_then_a_refund_runs_on_the_terminal() {
    let mut world = world(&["29000123"]).await;
    world.add_migrated("29000123").await;
    world.whitelist("29000123");
    let pos = Pos::new(&world, World::KEY);
    let mut hooks = receiver(vec![]).await;

    let (status, created) =
        pos.post("/api/v1/payment", &cloud_payment("29000123", "12.50", &hooks.url), None).await;
    assert_eq!(status, 200, "{created}");
    let reference = created["reference"].as_str().expect("reference").to_owned();
    assert!(reference.starts_with("TL"), "{reference}");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["amount"], json!(12.50));
    assert_eq!(created["currency"], "EUR");
    assert_eq!(created["details"]["wakeUpType"], "CLOUD_CONNECT");
    assert_eq!(created["merchantOrderReference"], "order-1");
    assert!(created["payUrl"].as_str().expect("payUrl").contains(&reference));
    assert!(created["created"].as_i64().expect("created") > 0);

    assert_eq!(hooks.next().await, reference);
    let (status, done) = pos.transaction(&reference).await;
    assert_eq!(status, 200);
    assert_eq!(done["status"], "success", "{done}");
    assert!(done["statusFinalDate"].as_i64().is_some());
    assert!(done.get("failureCode").is_none());
    let customer = lines(&done["details"]["customerReceipt"]);
    assert_eq!(customer.last().map(String::as_str), Some("KLANTENTICKET"), "{customer:?}");
    assert!(customer.iter().any(|l| l == "Totaal: 12.50 EUR"), "{customer:?}");
    assert!(customer.iter().any(|l| l == "Terminal: 29000123"), "{customer:?}");
    let merchant = lines(&done["details"]["merchantReceipt"]);
    assert_eq!(merchant.last().map(String::as_str), Some("HANDELARENTICKET"), "{merchant:?}");
    assert!(!lines(&done["details"]["journalReceipt"]).is_empty());
    assert_eq!(done["details"]["printCustomerReceipt"], true);

    // A partial refund of it runs on the same terminal.
    let (status, refund) = pos
        .post(
            "/api/v1/refund",
            &json!({"reference": reference, "amount": "2.50", "webhookUrl": hooks.url}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{refund}");
    assert_eq!(refund["type"], "refund");
    assert_eq!(refund["originalReference"], reference.as_str());
    let refund_ref = refund["reference"].as_str().expect("reference").to_owned();
    assert_eq!(hooks.next().await, refund_ref);
    let (_, refunded) = pos.transaction(&refund_ref).await;
    assert_eq!(refunded["status"], "success", "{refunded}");
    assert_eq!(refunded["amount"], json!(2.5));
    let journal = &world.terminals["29000123"].status();
    assert!(!journal.in_transaction);
    world.shutdown().await;
}

#[tokio::test]
async fn r10_a_terminal_off_the_whitelist_fails_at_once_and_a_declined_card_fails_with_its_code() {
    let mut world = world(&["29000123"]).await;
    world.add_migrated("29000123").await;
    let pos = Pos::new(&world, World::KEY);
    let mut hooks = receiver(vec![]).await;

    let (status, created) =
        pos.post("/api/v1/payment", &cloud_payment("29000123", "10.00", &hooks.url), None).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["status"], "failed", "failed at once: {created}");
    assert_eq!(created["failureCode"], "rejected");
    let message = created["failureMessage"].as_str().expect("a message");
    assert!(message.contains("whitelist") && message.contains("R10"), "{message}");
    assert_eq!(world.terminals["29000123"].status().dial_attempts, 0, "no kick was sent");
    assert_eq!(hooks.next().await, created["reference"].as_str().expect("reference"));

    // Whitelisted, a magic amount ending in .51 is declined by the issuer (action code 05).
    world.whitelist("29000123");
    let (_, created) =
        pos.post("/api/v1/payment", &cloud_payment("29000123", "10.51", &hooks.url), None).await;
    let reference = created["reference"].as_str().expect("reference").to_owned();
    assert_eq!(hooks.next().await, reference);
    let (_, done) = pos.transaction(&reference).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["failureCode"], "card_refused", "{done}");
    world.shutdown().await;
}

#[tokio::test]
async fn r13_of_two_terminals_only_the_migrated_one_answers_the_cloud_kick() {
    let mut world = world(&["20000001", "11300002"]).await;
    world.add_migrated("20000001").await;
    world.add_terminal(FileConfig::load(&fixture("cc1-only.toml")).expect("fixture"), "11300002").await;
    world.whitelist("20000001");
    world.whitelist("11300002");
    let pos = Pos::new(&world, World::KEY);
    let mut hooks = receiver(vec![]).await;

    let (_, migrated) =
        pos.post("/api/v1/payment", &cloud_payment("20000001", "5.00", &hooks.url), None).await;
    let (_, old) = pos.post("/api/v1/payment", &cloud_payment("11300002", "5.00", &hooks.url), None).await;
    let mut finished = vec![hooks.next().await, hooks.next().await];
    finished.sort();
    let mut expected = vec![
        migrated["reference"].as_str().unwrap().to_owned(),
        old["reference"].as_str().unwrap().to_owned(),
    ];
    expected.sort();
    assert_eq!(finished, expected);
    let (_, migrated) = pos.transaction(migrated["reference"].as_str().unwrap()).await;
    let (_, old) = pos.transaction(old["reference"].as_str().unwrap()).await;
    assert_eq!(migrated["status"], "success", "{migrated}");
    assert_eq!(old["status"], "failed", "{old}");
    assert_eq!(old["failureCode"], "processing_error");
    let message = old["failureMessage"].as_str().expect("message");
    assert!(message.contains("terminal 11300002 did not answer the cloud kick"), "{message}");
    assert!(message.contains("migrated to Cloud Connect 2.0"), "{message}");
    world.shutdown().await;
}

#[tokio::test]
async fn r02_r21_the_local_kick_sent_by_the_api_pays_on_a_1_0_terminal_and_fails_on_trigger_port_0() {
    let mut world = world(&["11300002", "21000000"]).await;
    world.vpos.store().set_local_kick(World::MERCHANT, LocalKickMode::Server).expect("setting");
    let port = world
        .add_terminal(FileConfig::load(&fixture("cc1-only.toml")).expect("fixture"), "11300002")
        .await
        .kick_addr()
        .expect("a kick listener")
        .port();
    let port0 = world
        .add_terminal(FileConfig::load(&fixture("trigger-port-0.toml")).expect("fixture"), "21000000")
        .await;
    assert_eq!(port0.kick_addr(), None, "trigger port 0: nothing listens");
    let pos = Pos::new(&world, World::KEY);
    let mut hooks = receiver(vec![]).await;

    // R2: no whitelist needed for the local kick.
    let (status, created) =
        pos.post("/api/v1/payment", &local_payment("11300002", port, &hooks.url), None).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["details"]["terminalId"], "11300002");
    assert_eq!(created["details"]["ip"], "127.0.0.1");
    let reference = created["reference"].as_str().expect("reference").to_owned();
    assert_eq!(hooks.next().await, reference);
    let (_, done) = pos.transaction(&reference).await;
    assert_eq!(done["status"], "success", "{done}");

    // R21: the POS still sends 08900000002 for a 2.0 terminal whose trigger port is 0: nothing listens.
    let closed =
        std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("addr").port();
    let (_, created) =
        pos.post("/api/v1/payment", &local_payment("21000000", closed, &hooks.url), None).await;
    let reference = created["reference"].as_str().expect("reference").to_owned();
    assert_eq!(hooks.next().await, reference);
    let (_, done) = pos.transaction(&reference).await;
    assert_eq!(done["status"], "failed", "{done}");
    let message = done["failureMessage"].as_str().expect("message");
    assert!(message.contains("did not answer the local kick") && message.contains("R21"), "{message}");
    world.shutdown().await;
}

#[tokio::test]
async fn idempotent_repeats_tenancy_and_bad_requests() {
    let mut world = world(&["29000123"]).await;
    world.add_migrated("29000123").await;
    world.whitelist("29000123");
    let store = world.vpos.store().clone();
    store.add_merchant("other", 0).expect("merchant");
    store.add_api_key_text("other", "t_other000000000000000000000000000", 0).expect("key");
    let pos = Pos::new(&world, World::KEY);
    let other = Pos::new(&world, "t_other000000000000000000000000000");
    let mut hooks = receiver(vec![]).await;
    let body = cloud_payment("29000123", "3.00", &hooks.url);

    let (s1, first) = pos.post("/api/v1/payment", &body, Some("order-77")).await;
    let (s2, again) = pos.post("/api/v1/payment", &body, Some("order-77")).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first["reference"], again["reference"], "the same key and body give the same payment");
    let mut changed = body.clone();
    changed["amount"] = json!("3.01");
    let (status, conflict) = pos.post("/api/v1/payment", &changed, Some("order-77")).await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["type"], "idempotency_conflict");
    assert_eq!(conflict["reference"], first["reference"]);
    let reference = first["reference"].as_str().expect("reference").to_owned();
    assert_eq!(hooks.next().await, reference);

    // Tenancy: another merchant neither sees nor refunds it.
    let (status, err) = other.transaction(&reference).await;
    assert_eq!(status, 404, "{err}");
    let (status, _) = other.post("/api/v1/refund", &json!({"reference": reference}), None).await;
    assert_eq!(status, 404);
    // Keys.
    let (status, err) = Pos::new(&world, "t_wrong").transaction(&reference).await;
    assert_eq!((status, err["type"].as_str()), (401, Some("unauthorized")));
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/transaction?reference={reference}", world.base_url()))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));

    // Bad bodies: each error names the field.
    let mut no_terminal = body.clone();
    no_terminal["details"].as_object_mut().expect("details").remove("terminalId");
    let (status, err) = pos.post("/api/v1/payment", &no_terminal, None).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["field"], "details.terminalId");
    let mut wrong_type = body.clone();
    wrong_type["amount"] = json!(true);
    let (status, err) = pos.post("/api/v1/payment", &wrong_type, None).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("amount")), "{err}");
    let mut protocol = body.clone();
    protocol["details"]["accessProtocol"] = json!("ZVT");
    let (status, err) = pos.post("/api/v1/payment", &protocol, None).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("details.accessProtocol")), "{err}");
    let http = reqwest::Client::new();
    let raw = |body: Vec<u8>| {
        http.post(format!("{}/api/v1/payment", world.base_url()))
            .basic_auth(World::KEY, Some(""))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let resp = raw(b"{\"amount\": ".to_vec()).await.expect("answer");
    assert_eq!(resp.status().as_u16(), 400);
    let resp = raw(vec![b' '; 1024 * 1024]).await.expect("answer");
    assert_eq!(resp.status().as_u16(), 413);
    let err: Value = resp.json().await.expect("JSON");
    assert_eq!(err["type"], "payload_too_large");
    let (status, err) = pos.transaction("").await;
    assert_eq!((status, err["field"].as_str()), (400, Some("reference")));
    world.shutdown().await;
}

#[tokio::test]
async fn a_failing_webhook_receiver_gets_retries_and_every_attempt_is_recorded() {
    let mut world = world(&["29000123"]).await;
    world.add_migrated("29000123").await;
    world.whitelist("29000123");
    let pos = Pos::new(&world, World::KEY);
    let mut hooks = receiver(vec![500, 503]).await;
    let mut events = world.vpos.events();

    let (_, created) =
        pos.post("/api/v1/payment", &cloud_payment("29000123", "1.00", &hooks.url), None).await;
    let reference = created["reference"].as_str().expect("reference").to_owned();
    for _ in 0..3 {
        assert_eq!(hooks.next().await, reference);
    }
    // Each attempt is recorded: the third one after the receiver answered it.
    let admin = format!("{}/admin/transactions/{reference}/webhooks", world.admin_url());
    loop {
        match tokio::time::timeout(T, events.recv()).await.expect("an event in time").expect("events") {
            VposEvent::Webhook(a) if a.attempt == 3 => break,
            _ => {}
        }
    }
    let attempts: Value = reqwest::get(&admin).await.expect("admin answers").json().await.expect("JSON");
    let attempts = attempts.as_array().expect("attempts");
    let codes: Vec<_> = attempts
        .iter()
        .map(|a| (a["attempt"].as_u64(), a["httpStatus"].as_u64(), a["delivered"].as_bool()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (Some(1), Some(500), Some(false)),
            (Some(2), Some(503), Some(false)),
            (Some(3), Some(200), Some(true))
        ]
    );
    world.shutdown().await;
}

/// Starts a terminal from a prepared config, waits for its MQTT link and whitelists it.
async fn start_whitelisted(world: &mut World, c: FileConfig, tms: &str) {
    world.start_terminal(c, tms).await.wait_for_status(T, |s| s.mqtt.state == "up").await.expect("MQTT up");
    world.whitelist(tms);
}

/// Creates a cloud payment without a webhook receiver; its reference.
async fn pay_cloud(pos: &Pos, tms: &str, amount: &str) -> String {
    let (_, created) =
        pos.post("/api/v1/payment", &cloud_payment(tms, amount, "http://127.0.0.1:9/none"), None).await;
    created["reference"].as_str().expect("reference").to_owned()
}

/// The final status of `reference`, from the engine's events.
async fn final_status(
    events: &mut tokio::sync::broadcast::Receiver<VposEvent>,
    reference: &str,
) -> (ccv_vpos::PaymentStatus, Option<ccv_vpos::FailureCode>) {
    event_for(events, |e| match e {
        VposEvent::Status { reference: r, status, failure_code } if r == reference => {
            Some((*status, *failure_code))
        }
        _ => None,
    })
    .await
}

/// The next event about `reference` that `pick` accepts.
async fn event_for<T>(
    events: &mut tokio::sync::broadcast::Receiver<VposEvent>,
    mut pick: impl FnMut(&VposEvent) -> Option<T>,
) -> T {
    loop {
        let event = tokio::time::timeout(T, events.recv()).await.expect("an event in time").expect("events");
        if let Some(found) = pick(&event) {
            return found;
        }
    }
}

#[tokio::test]
async fn while_pending_the_terminal_text_shows_and_a_terminal_lost_mid_payment_ends_as_manualintervention() {
    let mut world = world(&["29000123", "29000124"]).await;
    for tms in ["29000123", "29000124"] {
        // The customer never presents a card; the second terminal gives up after a 1 s card time-out.
        let mut c = world.terminal_config(FileConfig::default(), tms);
        c.terminal.profile.auto_card_after_ms = None;
        if tms == "29000124" {
            c.terminal.profile.card_timeout_ms = 1_000;
        }
        start_whitelisted(&mut world, c, tms).await;
    }
    let pos = Pos::new(&world, World::KEY);
    let mut events = world.vpos.events();

    let reference = pay_cloud(&pos, "29000123", "4.00").await;
    let text = event_for(&mut events, |e| match e {
        VposEvent::TerminalMessage { reference: r, text } if *r == reference => Some(text.clone()),
        _ => None,
    })
    .await;
    let (_, pending) = pos.transaction(&reference).await;
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["details"]["terminalMessage"], text.as_str(), "{pending}");

    // The terminal is lost mid-payment: nobody knows whether money moved.
    let term = world.terminals.remove("29000123").expect("terminal");
    term.shutdown().await;
    assert_eq!(
        final_status(&mut events, &reference).await,
        (ccv_vpos::PaymentStatus::ManualIntervention, None)
    );
    let (_, lost) = pos.transaction(&reference).await;
    assert_eq!(lost["status"], "manualintervention", "{lost}");
    assert!(lost.get("failureCode").is_none());
    assert!(lost["failureMessage"].as_str().expect("message").contains("unknown"), "{lost}");
    assert!(lost["details"].get("terminalMessage").is_none(), "final: no terminal text");

    // No card within the terminal's card time-out: expired.
    let reference = pay_cloud(&pos, "29000124", "4.00").await;
    let status = final_status(&mut events, &reference).await;
    assert_eq!(status, (ccv_vpos::PaymentStatus::Failed, Some(ccv_vpos::FailureCode::Expired)));
    world.shutdown().await;
}

/// Request heads far beyond what a POS sends (one 1 MiB header, 10,000 small headers) get 431 or a closed
/// connection on the payment API and on the admin API, and each serves the next request.
#[tokio::test]
async fn oversize_request_heads_get_431_and_both_listeners_keep_serving() {
    let world = world(&[]).await;
    let pos = Pos::new(&world, World::KEY);
    let admin = world.server.admin_addr().expect("admin API started");
    let listeners =
        [(world.server.api_addr(), "/api/v1/transaction?reference=TL0"), (admin, "/admin/merchants")];
    for (addr, path) in listeners {
        for flood in HeaderFlood::BOTH {
            let answer = send_header_flood(addr, path, flood, T).await.expect("an answer or a close");
            assert!(answer.is_refusal(), "{path} {flood:?}: {answer:?}");
            let (s, _) = pos.transaction("TL0").await;
            assert_eq!(s, 404, "the payment API serves after {path} {flood:?}: no such transaction");
            let merchants =
                reqwest::get(format!("http://{admin}/admin/merchants")).await.expect("admin answers");
            assert_eq!(merchants.status().as_u16(), 200, "the admin API serves after {path} {flood:?}");
        }
    }
    world.shutdown().await;
}

#[tokio::test]
async fn the_admin_api_administers_merchants_keys_whitelists_and_settings_with_clear_errors() {
    let world = world(&[]).await;
    let admin = world.admin_url();
    let http = reqwest::Client::new();
    let send = |req: reqwest::RequestBuilder| async move {
        let resp = req.send().await.expect("admin answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str::<Value>(&text).unwrap_or(Value::Null))
    };
    let (s, m) = send(http.post(format!("{admin}/admin/merchants")).json(&json!({"name": "bakery"}))).await;
    assert_eq!((s, m["name"].as_str()), (201, Some("bakery")));
    let (s, e) = send(http.post(format!("{admin}/admin/merchants")).json(&json!({"name": "bakery"}))).await;
    assert_eq!((s, e["type"].as_str()), (409, Some("conflict")), "{e}");
    let (s, k) = send(http.post(format!("{admin}/admin/merchants/bakery/keys"))).await;
    assert_eq!(s, 201);
    let key = k["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("t_"));
    let (s, e) = send(http.post(format!("{admin}/admin/merchants/nobody/keys"))).await;
    assert_eq!(s, 404);
    assert!(e["message"].as_str().expect("message").contains("nobody"), "{e}");

    let wl = format!("{admin}/admin/merchants/bakery/whitelist");
    let (s, list) = send(http.post(&wl).json(&json!({"tmsId": "12345678"}))).await;
    assert_eq!((s, list), (201, json!(["12345678"])));
    let (s, _) = send(http.post(&wl).json(&json!({"tmsId": "12345678"}))).await;
    assert_eq!(s, 409, "duplicate");
    let (s, e) = send(http.post(&wl).json(&json!({"tmsId": "12 34"}))).await;
    assert_eq!(s, 400, "malformed: {e}");
    let (s, e) = send(http.post(&wl).json(&json!({"tms": "1"}))).await;
    assert_eq!(s, 400, "unknown field: {e}");
    let (s, _) = send(http.delete(format!("{wl}/12345678"))).await;
    assert_eq!(s, 204);
    let (s, _) = send(http.delete(format!("{wl}/12345678"))).await;
    assert_eq!(s, 404);

    let (s, m) =
        send(http.put(format!("{admin}/admin/merchants/bakery/local-kick")).json(&json!({"mode": "server"})))
            .await;
    assert_eq!((s, m["localKick"].as_str()), (200, Some("server")), "{m}");
    let (s, list) = send(http.get(format!("{admin}/admin/merchants"))).await;
    assert_eq!(s, 200);
    assert!(
        list.as_array().expect("list").iter().any(|m| m["name"] == "bakery" && m["apiKeys"] == 1),
        "{list}"
    );
    // The new key works on the payment API.
    let (s, _) = Pos::new(&world, &key).transaction("TL0").await;
    assert_eq!(s, 404, "authenticated, no such transaction");
    world.shutdown().await;
}

#[tokio::test]
async fn a_lost_answer_is_settled_from_the_terminals_last_transaction_status() {
    // The conversation times out at the TAS after 1 s, before the customer presents the card (after 2 s): the
    // TAS aborts the transaction on the terminal, and the terminal's last transaction status, asked once it is no
    // longer busy, settles the payment as cancelled rather than leaving it unknown.
    let config = VposConfig {
        transaction_timeout: Duration::from_secs(1),
        settle_timeout: Duration::from_secs(15),
        ..config()
    };
    let mut world =
        World::start(&["29000123"], Arc::new(Store::open_in_memory().expect("store")), config).await;
    let mut c = world.terminal_config(FileConfig::default(), "29000123");
    c.terminal.profile.auto_card_after_ms = Some(2_000);
    start_whitelisted(&mut world, c, "29000123").await;
    let pos = Pos::new(&world, World::KEY);
    let mut events = world.vpos.events();

    let reference = pay_cloud(&pos, "29000123", "6.00").await;
    assert_eq!(
        final_status(&mut events, &reference).await,
        (ccv_vpos::PaymentStatus::Failed, Some(ccv_vpos::FailureCode::Cancelled))
    );
    let (_, done) = pos.transaction(&reference).await;
    assert_eq!(done["status"], "failed", "{done}");
    world.shutdown().await;
}
