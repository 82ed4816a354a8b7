//! Throughput of the payment API: payments created through its HTTP API and completed by emulated migrated
//! terminals, everything in one process on loopback (`ccv_e2e::world::World`), the store a real SQLite file with
//! the durability the code ships (WAL, `synchronous=FULL`).
//!
//! For each terminal count N (default 1, 10, 100, 1,000): every terminal runs one payment at a time, back to
//! back, each `POST /api/v1/payment` (HTTP Basic, one keep-alive client shared by all) for a cloud kick
//! (`GrundmasterNL`) → IoT endpoint → terminal → TAS → OPI conversation → `success` committed. A payment counts as
//! done when its final status arrives as `VposEvent::Status` (sent right after the final status is committed);
//! its latency is from sending the POST to that event. The terminal's next payment is sent then.
//!
//! Reported per N: completed payments per second (all payments of the round over the round's wall time), p50 and
//! p99 latency, and at the end, counted from the database file: every reference the API answered is `success`,
//! and there are exactly as many rows as payments created (nothing lost, nothing duplicated).
//!
//! Baseline in the same run, on the same disk, measured just before each round (the machine is shared and noisy,
//! so each round's ratio is to its own baseline): the durable-commit floor, bare `Store::create_payment` +
//! `Store::update_status` (two commits per payment) one after the other, and the same from 64 threads at once.
//! Also reported: the process's CPU time per payment (every party runs in it), which the load of other
//! processes on the machine disturbs less than the rates.
//!
//! Run: `cargo bench -p ccv-e2e --bench vpos_scale` (about a minute: 3 rounds per terminal count, medians shown).
//! Options after `--`: `--quick` (fewer payments, 1 round), `--terminals 1,100` (or `VPOS_BENCH_N=1,100`),
//! `--runs R` (rounds per count), `--per P` (payments per terminal per round). Needs about 8 file descriptors per
//! terminal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccv_e2e::world::World;
use ccv_iot::{EndpointConfig, Limits};
use ccv_tas::TasConfig;
use ccv_terminal_io::config::FileConfig;
use ccv_terminal_io::{Credentials, TerminalProcess};
use ccv_vpos::{
    CloudTms, Kick, NewTransaction, OperatingEnvironment, PaymentOrder, PaymentStatus, StatusUpdate, Store,
    TerminalTarget, VposConfig, VposEvent,
};
use rand::SeedableRng;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;

/// Longest wait for one payment to become final.
const PAYMENT_WAIT: Duration = Duration::from_secs(60);
/// Terminals starting at the same time.
const STARTING: usize = 64;

struct Options {
    quick: bool,
    /// Payments per terminal, instead of the default.
    per: Option<usize>,
    terminals: Vec<usize>,
    runs: usize,
}

fn options(args: &[String]) -> Options {
    let mut o = Options { quick: false, per: None, terminals: vec![1, 10, 100, 1000], runs: 0 };
    if let Ok(v) = std::env::var("VPOS_BENCH_N") {
        o.terminals = v.split(',').filter_map(|s| s.trim().parse().ok()).collect();
    }
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--terminals" => {
                let v = it.next().expect("--terminals 1,10,100");
                o.terminals = v.split(',').filter_map(|s| s.trim().parse().ok()).collect();
            }
            "--per" => o.per = Some(it.next().and_then(|v| v.parse().ok()).expect("--per N")),
            "--runs" => o.runs = it.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            _ => {}
        }
    }
    o.terminals.retain(|n| *n > 0);
    if o.runs == 0 {
        o.runs = if o.quick { 1 } else { 3 };
    }
    o
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return; // `cargo test --benches` / `cargo bench -- --list` probe.
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("vpos_scale: run with `cargo bench -p ccv-e2e --bench vpos_scale`; skipped in test mode");
        return;
    }
    let o = options(&args);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(run(o));
}

/// Payments per terminal in a round of `n` terminals.
fn per_terminal(n: usize, quick: bool) -> usize {
    let total = if quick { 1_000 } else { 4_000 };
    (total / n).clamp(if quick { 2 } else { 4 }, 400)
}

fn tms_id(i: usize) -> String {
    format!("{}", 30_000_000 + i)
}

fn payment_body(tms: &str, i: usize) -> Value {
    json!({
        "amount": "12.34", "currency": "eur", "method": "terminal",
        "merchantOrderReference": format!("order-{i}"), "description": "bench", "language": "nld",
        "returnUrl": "https://shop.example/return",
        "details": {"terminalId": tms, "managementSystemId": "GrundmasterNL", "accessProtocol": "OPI_NL",
                    "operatingEnvironment": "ATTENDED", "merchantLanguage": "NLD"}
    })
}

/// Final statuses by reference, as the engine reports them; a payment's driver waits here for its own.
#[derive(Default)]
struct Finals {
    slots: Mutex<HashMap<String, Slot>>,
}

enum Slot {
    Waiting(oneshot::Sender<(Instant, PaymentStatus)>),
    Done(Instant, PaymentStatus),
}

impl Finals {
    fn arrived(&self, reference: String, status: PaymentStatus) {
        let now = Instant::now();
        let mut slots = self.slots.lock().expect("lock");
        match slots.remove(&reference) {
            Some(Slot::Waiting(tx)) => {
                let _ = tx.send((now, status));
            }
            _ => {
                slots.insert(reference, Slot::Done(now, status));
            }
        }
    }

    async fn wait(&self, reference: &str) -> Option<(Instant, PaymentStatus)> {
        let rx = {
            let mut slots = self.slots.lock().expect("lock");
            match slots.remove(reference) {
                Some(Slot::Done(at, status)) => return Some((at, status)),
                _ => {
                    let (tx, rx) = oneshot::channel();
                    slots.insert(reference.to_owned(), Slot::Waiting(tx));
                    rx
                }
            }
        };
        tokio::time::timeout(PAYMENT_WAIT, rx).await.ok().and_then(Result::ok)
    }
}

struct Round {
    n: usize,
    payments: usize,
    failed: usize,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Median time from sending the POST to its answer.
    answer_p50_ms: f64,
    /// CPU time of the whole process (every party) per payment.
    cpu_ms: f64,
    /// The baseline measured just before: bare store payments per second from 1 and from 64 threads.
    floor_1: f64,
    floor_64: f64,
}

impl Round {
    fn rate(&self) -> f64 {
        self.payments as f64 / self.secs
    }
}

/// CPU time used by this process so far (user + system), seconds.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|t| t.parse::<u64>().ok());
    // Fields from the state on (the 3rd): utime and stime are the 14th and 15th, in clock ticks of 1/100 s
    // (the kernel's USER_HZ on Linux).
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) as f64 / 100.0,
        _ => f64::NAN,
    }
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    pct(&v, 0.5)
}

async fn round(
    world: &World,
    http: &reqwest::Client,
    finals: &Arc<Finals>,
    n: usize,
    per: usize,
    created: &Arc<Mutex<Vec<String>>>,
) -> Round {
    let url = format!("{}/api/v1/payment", world.base_url());
    let cpu0 = cpu_secs();
    let start = Instant::now();
    let mut set = JoinSet::new();
    for t in 0..n {
        let (http, url, finals, created) = (http.clone(), url.clone(), finals.clone(), created.clone());
        set.spawn(async move {
            let tms = tms_id(t);
            let mut lat = Vec::with_capacity(per);
            let mut answers = Vec::with_capacity(per);
            let mut failed = 0usize;
            for i in 0..per {
                let sent = Instant::now();
                let resp = http
                    .post(&url)
                    .basic_auth(World::KEY, Some(""))
                    .json(&payment_body(&tms, i))
                    .send()
                    .await
                    .expect("the API answers");
                let status = resp.status();
                let body: Value = resp.json().await.expect("JSON");
                answers.push(sent.elapsed().as_secs_f64() * 1e3);
                assert!(status.is_success(), "POST /api/v1/payment answered {status}: {body}");
                let reference = body["reference"].as_str().expect("a reference").to_owned();
                created.lock().expect("lock").push(reference.clone());
                match finals.wait(&reference).await {
                    Some((at, PaymentStatus::Success)) => {
                        lat.push(at.duration_since(sent).as_secs_f64() * 1e3)
                    }
                    Some((_, other)) => {
                        failed += 1;
                        let t = world_status(&http, &url, &reference).await;
                        eprintln!("payment {reference} on {tms} ended {}: {t}", other.as_str());
                    }
                    None => {
                        failed += 1;
                        eprintln!("payment {reference} on {tms}: no final status within {PAYMENT_WAIT:?}");
                    }
                }
            }
            (lat, answers, failed)
        });
    }
    let mut lat = Vec::with_capacity(n * per);
    let mut answers = Vec::with_capacity(n * per);
    let mut failed = 0;
    while let Some(r) = set.join_next().await {
        let (l, a, f) = r.expect("terminal driver");
        lat.extend(l);
        answers.extend(a);
        failed += f;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_ms = (cpu_secs() - cpu0) * 1e3 / (n * per) as f64;
    lat.sort_by(f64::total_cmp);
    Round {
        n,
        payments: n * per,
        failed,
        secs,
        p50_ms: pct(&lat, 0.5),
        p99_ms: pct(&lat, 0.99),
        answer_p50_ms: median(answers),
        cpu_ms,
        floor_1: f64::NAN,
        floor_64: f64::NAN,
    }
}

/// The failure message of a transaction, for the log of a failed payment.
async fn world_status(http: &reqwest::Client, payment_url: &str, reference: &str) -> String {
    let url = payment_url.replace("/payment", "/transaction");
    match http.get(url).query(&[("reference", reference)]).basic_auth(World::KEY, Some("")).send().await {
        Ok(r) => r.json::<Value>().await.map(|v| v["failureMessage"].to_string()).unwrap_or_default(),
        Err(e) => e.to_string(),
    }
}

/// The durable-commit floor: `count` payments as bare store calls (create, then final `success`), from `threads`
/// threads at once; payments per second.
fn store_floor(dir: &std::path::Path, count: usize, threads: usize) -> f64 {
    let store = Arc::new(Store::open_dir(dir).expect("baseline store"));
    if store.merchant("floor").is_err() {
        store.add_merchant("floor", 0).expect("merchant");
    }
    let merchant = store.merchant("floor").expect("merchant").id;
    let order = PaymentOrder {
        amount: ccv_opi::Amount::new(1234, ccv_opi::Currency::new("EUR").expect("EUR")),
        texts: Default::default(),
        terminal: TerminalTarget {
            terminal_id: "30000000".to_owned(),
            kick: Kick::Cloud { tms: CloudTms::GrundmasterNl },
            operating_environment: OperatingEnvironment::Attended,
            merchant_language: Some("NLD".to_owned()),
        },
    };
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (store, order) = (store.clone(), order.clone());
            s.spawn(move || {
                let mut rng = rand::rngs::SmallRng::seed_from_u64(t as u64);
                for _ in 0..count / threads {
                    let now = now_ms();
                    let created = store
                        .create_payment(merchant, &NewTransaction::Sale(order.clone()), None, now, &mut rng)
                        .expect("created");
                    let update = StatusUpdate { status: Some(PaymentStatus::Success), ..Default::default() };
                    store.update_status(&created.record.reference, &update, now).expect("final");
                }
            });
        }
    });
    (count / threads * threads) as f64 / start.elapsed().as_secs_f64()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Counted from the database file: (rows, rows `success`, rows of `created` not `success` or missing).
fn audit(path: &std::path::Path, created: &[String]) -> (usize, usize, usize) {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("database opens");
    let rows: usize = conn.query_row("SELECT count(*) FROM payments", [], |r| r.get(0)).expect("count");
    let mut stmt = conn.prepare("SELECT reference, status FROM payments").expect("select");
    let statuses: HashMap<String, String> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    let success = statuses.values().filter(|s| *s == "success").count();
    let bad = created.iter().filter(|r| statuses.get(*r).map(String::as_str) != Some("success")).count();
    (rows, success, bad)
}

async fn run(o: Options) {
    let max = o.terminals.iter().copied().max().unwrap_or(1);
    println!(
        "vpos_scale: terminals {:?}, {} run(s) each{}",
        o.terminals,
        o.runs,
        if o.quick { ", quick" } else { "" }
    );
    let dir = tempfile::tempdir().expect("temp dir");

    let floor_n = if o.quick { 200 } else { 500 };
    let state = dir.path().join("vpos");
    let store = Arc::new(Store::open_dir(&state).expect("store"));
    let db_path = store.path().expect("a file").to_owned();
    let ids: Vec<String> = (0..max).map(tms_id).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let config = VposConfig { kick_answer_timeout: Duration::from_secs(10), ..VposConfig::default() };
    let endpoint = EndpointConfig {
        keep_alive_min: Duration::from_secs(1),
        // The payment API's connection carries every terminal's events.
        limits: Limits { max_queued: 100_000, max_inflight: 1_000, ..Limits::default() },
        ..EndpointConfig::default()
    };
    let tas = TasConfig {
        max_connections: 4 * max + 100,
        max_per_peer: usize::MAX,
        max_unidentified: 4 * max + 100,
        transcript_memory: 1_000,
        ..TasConfig::default()
    };
    let made = Instant::now();
    let mut world = World::start_with(&id_refs, store.clone(), config, endpoint, tas).await;
    for tms in &ids {
        world.whitelist(tms);
    }
    // Terminals start a few at a time, each up when its MQTT link is.
    let sem = Arc::new(Semaphore::new(STARTING));
    let mut set = JoinSet::new();
    for (i, tms) in ids.iter().enumerate() {
        let config = world.terminal_config(FileConfig::default(), tms);
        let pair = world.pki.terminal(tms).expect("in the PKI");
        let credentials = Credentials {
            ca_pem: world.pki.ca.cert_pem.clone(),
            cert_pem: pair.cert_pem.clone(),
            key_pem: pair.key_pem.clone(),
        };
        let (sem, tms) = (sem.clone(), tms.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore");
            let term = TerminalProcess::start_with_credentials(config, 1_000 + i as u64, credentials)
                .await
                .expect("terminal starts");
            term.wait_for_status(Duration::from_secs(60), |s| s.mqtt.state == "up")
                .await
                .expect("the terminal's MQTT link comes up");
            (tms, term)
        });
    }
    while let Some(r) = set.join_next().await {
        let (tms, term) = r.expect("terminal start");
        world.terminals.insert(tms, term);
    }
    println!("world with {max} terminals up in {:.1} s", made.elapsed().as_secs_f64());

    let finals = Arc::new(Finals::default());
    let mut events = world.vpos.events();
    let f = finals.clone();
    let lagged = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let lag = lagged.clone();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(VposEvent::Status { reference, status, .. }) if status.is_final() => {
                    f.arrived(reference, status)
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(k)) => {
                    lag.fetch_add(k, std::sync::atomic::Ordering::Relaxed);
                }
                Err(_) => break,
            }
        }
    });
    let http = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(300))
        .build()
        .expect("HTTP client");
    let created = Arc::new(Mutex::new(Vec::new()));

    let mut rows: Vec<Vec<Round>> = Vec::new();
    for &n in &o.terminals {
        let per = o.per.unwrap_or_else(|| per_terminal(n, o.quick));
        let mut runs = Vec::new();
        for r in 0..o.runs {
            // The baseline just before the round, on the same disk, in a directory of its own.
            let d = dir.path().join(format!("floor-{n}-{r}"));
            let (floor_1, floor_64) = tokio::task::spawn_blocking(move || {
                (store_floor(&d.join("1"), floor_n, 1), store_floor(&d.join("64"), floor_n * 2, 64))
            })
            .await
            .expect("baseline");
            let res = Round { floor_1, floor_64, ..round(&world, &http, &finals, n, per, &created).await };
            println!(
                "N = {n:>5} run {}: {} payments in {:.2} s = {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, POST answered p50 {:.1} ms, CPU \
                 {:.2} ms per payment, not success {}; baseline {floor_1:.0}/s (1 thread), {floor_64:.0}/s (64 threads)",
                r + 1,
                res.payments,
                res.secs,
                res.rate(),
                res.p50_ms,
                res.p99_ms,
                res.answer_p50_ms,
                res.cpu_ms,
                res.failed
            );
            runs.push(res);
        }
        rows.push(runs);
    }
    world.shutdown().await;

    let created = created.lock().expect("lock").clone();
    let (db_rows, db_success, bad) = audit(&db_path, &created);
    let lost = created.len().saturating_sub(db_success);
    let dup = db_rows.saturating_sub(created.len());
    println!(
        "\n| terminals | payments / round | payments/s | p50 create → final (ms) | p99 (ms) | CPU / payment (ms) | \
         not success | baseline 1 thread (payments/s) | × baseline | baseline 64 threads | × baseline |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for runs in &rows {
        let m = |f: &dyn Fn(&Round) -> f64| median(runs.iter().map(f).collect());
        println!(
            "| {} | {} | {:.0} | {:.1} | {:.1} | {:.2} | {} | {:.0} | {:.2} | {:.0} | {:.2} |",
            runs[0].n,
            runs[0].payments,
            m(&Round::rate),
            m(&|r| r.p50_ms),
            m(&|r| r.p99_ms),
            m(&|r| r.cpu_ms),
            runs.iter().map(|r| r.failed).sum::<usize>(),
            m(&|r| r.floor_1),
            m(&|r| r.rate() / r.floor_1),
            m(&|r| r.floor_64),
            m(&|r| r.rate() / r.floor_64),
        );
    }
    println!(
        "\ndatabase: {db_rows} rows for {} payments created, {db_success} success; created but not success or \
         missing: {bad}; lost {lost}, duplicated {dup}; events lagged {}",
        created.len(),
        lagged.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!("(medians of {} run(s) per row; × baseline is the median of each run's ratio)", o.runs);
    assert!(bad == 0 && dup == 0 && lost == 0, "payments lost or duplicated");
}
