//! Memory of the IoT endpoint stand-in after its connections close: a leak grows with every cycle, allocator
//! retention levels off.
//!
//! Two broker processes, one after the other, each serving the same cycles: `system` is the endpoint in this
//! bench's own child process (the system allocator, glibc malloc), `ccv-emu` is `ccv-emu iot`, the binary with
//! its global allocator. For each case, each cycle opens N connections to the 443-style port and waits until
//! the broker holds them all (its RSS then is the cycle's peak), closes them all, waits until the broker has
//! closed every one of them, then waits for its RSS to settle and reads it. Cases:
//!
//! - `idle`: plain TCP connections that send nothing;
//! - `mqtt`: TLS (ALPN, SNI, the payment API's certificate), CONNECT with a clean session and a client id of its
//!   own, SUBSCRIBE to a topic of its own; then closed without DISCONNECT.
//!
//! "The broker holds / has closed them" is read from the broker process's sockets (`/proc/PID/fd`), polled
//! every 20 ms, bounded; RSS is `VmRSS` of `/proc/PID/status`. Settled: no lower reading for 1 s (bounded by
//! 15 s), so an allocator that returns memory in the background is read after it has.
//!
//! Run: `cargo bench -p ccv-emu --bench iot_idle` (needs about N + 200 file descriptors per process: raise
//! `ulimit -n` first if it is below that). Knobs: `IOT_IDLE_N` (10000), `IOT_IDLE_CYCLES` (5),
//! `IOT_IDLE_CASES` (`idle,mqtt`), `IOT_IDLE_BROKERS` (`system,ccv-emu`).
//! Internal mode: `iot_idle broker-child DIR` runs only the endpoint (used by the parent).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccv_iot::probe::Probe;
use ccv_iot::{Endpoint, EndpointConfig, EndpointTls, Pki, PkiOptions};
use ccv_test_support as procs;
use ccv_wire::cloud::{AWS_IOT_ALPN, cmd_topic};
use rumqttc::mqttbytes::QoS;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const WAIT: Duration = Duration::from_secs(60);
const CONCURRENCY: usize = 128;
const POLL: Duration = Duration::from_millis(20);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    if args.get(1).map(String::as_str) == Some("broker-child") {
        let dir = args.get(2).expect("broker-child needs the PKI directory");
        rt.block_on(broker_child(Path::new(dir)));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return; // `cargo test --benches` / `cargo bench -- --list` probe.
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("iot_idle: run with `cargo bench -p ccv-emu --bench iot_idle`; skipped in test mode");
        return;
    }
    rt.block_on(run());
}

/// The endpoint as `ccv-emu iot` runs it (default configuration), in this process; runs until stdin closes.
async fn broker_child(dir: &Path) {
    let pki = Pki::load_dir(dir).expect("PKI loads");
    let tls = EndpointTls::from_pki(&pki).expect("TLS");
    let endpoint = Endpoint::start(EndpointConfig::default(), tls).await.expect("endpoint starts");
    println!("{}", endpoint.local_addr());
    procs::until_stdin_closes().await;
    endpoint.shutdown().await;
}

struct Broker {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
}

impl Broker {
    fn pid(&self) -> u32 {
        self.child.id().expect("broker running")
    }
}

async fn start_system(dir: &Path) -> Broker {
    let args = ["broker-child".to_owned(), dir.display().to_string()];
    let (child, line, _) = procs::spawn_self(&args, Duration::from_secs(10)).await;
    Broker { name: "system", child, addr: line.parse().expect("address line") }
}

async fn start_ccv_emu(dir: &Path) -> Broker {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ccv-emu"));
    command.args(["iot", "--listen", "127.0.0.1:0", "--pki"]).arg(dir).env("RUST_LOG", "error");
    let (child, line, _) = procs::spawn_ready(command, Duration::from_secs(10)).await;
    // "iot listening on ADDR (alpn x-amzn-mqtt-ca required)"
    let addr =
        line.split_whitespace().nth(3).and_then(|a| a.parse().ok()).expect("address in the ready line");
    Broker { name: "ccv-emu", child, addr }
}

/// Sockets the process holds (its listener and its connections).
fn sockets(pid: u32) -> usize {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return 0 };
    dir.filter_map(Result::ok)
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")))
        .count()
}

/// Polls the broker's socket count until `done` holds for it or `within` has passed; returns the last count.
async fn until_sockets(pid: u32, within: Duration, done: impl Fn(usize) -> bool) -> usize {
    let start = Instant::now();
    loop {
        let n = sockets(pid);
        if done(n) || start.elapsed() >= within {
            return n;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// RSS once it has not gone lower for 3 s (at most 25 s of waiting): an allocator that returns memory over its
/// decay time (jemalloc: 10 s) is read after it has.
async fn settled_rss(pid: u32) -> u64 {
    let (start, mut low, mut low_at) = (Instant::now(), procs::rss_kib(pid), Instant::now());
    while low_at.elapsed() < Duration::from_secs(3) && start.elapsed() < Duration::from_secs(25) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = procs::rss_kib(pid);
        if now < low {
            (low, low_at) = (now, Instant::now());
        }
    }
    low
}

#[derive(Clone, Copy, PartialEq)]
enum Case {
    Idle,
    Mqtt,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Idle => "idle",
            Case::Mqtt => "mqtt",
        }
    }
}

/// What a cycle held open on the client side; dropping it closes every connection.
enum Held {
    Idle(Vec<TcpStream>),
    Mqtt(Vec<Probe>),
}

impl Held {
    fn len(&self) -> usize {
        match self {
            Held::Idle(v) => v.len(),
            Held::Mqtt(v) => v.len(),
        }
    }
}

/// Silent connections opened before waiting for the broker to accept them: a client's connect completes
/// before the broker accepts, and a silent client that ran ahead of a full accept queue would be accepted only
/// seconds later.
const IDLE_BATCH: usize = 500;

async fn open(case: Case, broker: &Broker, n: usize, cycle: usize, cfg: &Arc<ClientConfig>) -> Held {
    let (addr, pid) = (broker.addr, broker.pid());
    let sem = Arc::new(Semaphore::new(CONCURRENCY));
    match case {
        Case::Idle => {
            let listening = sockets(pid);
            let mut held = Vec::with_capacity(n);
            while held.len() < n {
                for _ in 0..IDLE_BATCH.min(n - held.len()) {
                    held.push(TcpStream::connect(addr).await.expect("TCP connects"));
                }
                let want = listening + held.len();
                until_sockets(pid, Duration::from_secs(2), |s| s >= want).await;
            }
            Held::Idle(held)
        }
        Case::Mqtt => {
            let mut set = JoinSet::new();
            for i in 0..n {
                let (sem, cfg) = (sem.clone(), cfg.clone());
                set.spawn(async move {
                    let _permit = sem.acquire_owned().await.expect("semaphore open");
                    let mut p = Probe::connect(addr, Some("localhost"), cfg, WAIT).await.expect("TLS");
                    let ack = p.mqtt_connect(&format!("vpos-idle-{cycle}-{i}"), true, 1200).await;
                    assert_eq!(
                        ack.expect("CONNACK").code,
                        rumqttc::mqttbytes::v4::ConnectReturnCode::Success
                    );
                    let topic = cmd_topic("NL-CAT", &format!("{:08}", 10_000_000 + i));
                    p.subscribe(&topic, QoS::AtLeastOnce).await.expect("SUBACK");
                    p
                });
            }
            Held::Mqtt(set.join_all().await)
        }
    }
}

struct Run {
    broker: &'static str,
    case: Case,
    base_kib: u64,
    peak_kib: Vec<u64>,
    after_kib: Vec<u64>,
    close_s: Vec<f64>,
    /// Connections the broker held at the peak.
    held: Vec<usize>,
}

async fn cycles(broker: &Broker, case: Case, n: usize, cycles: usize, cfg: &Arc<ClientConfig>) -> Run {
    let pid = broker.pid();
    let listening = sockets(pid);
    let base_kib = settled_rss(pid).await;
    let mut run = Run {
        broker: broker.name,
        case,
        base_kib,
        peak_kib: Vec::new(),
        after_kib: Vec::new(),
        close_s: Vec::new(),
        held: Vec::new(),
    };
    for cycle in 0..cycles {
        let held = open(case, broker, n, cycle, cfg).await;
        assert_eq!(held.len(), n, "every connection opened");
        // Silent connections are dropped by the endpoint after its hand-shake time-out (10 s): read the peak
        // before that, however many the broker has accepted by then.
        let held_by_broker =
            until_sockets(pid, Duration::from_secs(8), |s| s >= listening + n).await - listening;
        run.peak_kib.push(procs::rss_kib(pid));
        run.held.push(held_by_broker);
        let closed = Instant::now();
        drop(held);
        let left = until_sockets(pid, WAIT, |s| s <= listening).await;
        assert!(
            left <= listening,
            "broker {pid}: {} connections still open {WAIT:?} after close",
            left - listening
        );
        run.close_s.push(closed.elapsed().as_secs_f64());
        run.after_kib.push(settled_rss(pid).await);
        println!(
            "{} {} cycle {}: peak {} KiB with {} connections held, after close {} KiB (all closed {:.2} s after the clients closed)",
            broker.name,
            case.name(),
            cycle + 1,
            run.peak_kib[cycle],
            run.held[cycle],
            run.after_kib[cycle],
            run.close_s[cycle]
        );
    }
    run
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name).unwrap_or_else(|_| default.into()).split(',').map(|s| s.trim().to_owned()).collect()
}

fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn median(v: &[u64]) -> u64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v[v.len() / 2]
}

async fn run() {
    let n: usize = std::env::var("IOT_IDLE_N").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let count: usize = std::env::var("IOT_IDLE_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(5).max(2);
    let cases: Vec<Case> = env_list("IOT_IDLE_CASES", "idle,mqtt")
        .iter()
        .filter_map(|c| match c.as_str() {
            "idle" => Some(Case::Idle),
            "mqtt" => Some(Case::Mqtt),
            _ => None,
        })
        .collect();
    let brokers = env_list("IOT_IDLE_BROKERS", "system,ccv-emu");
    if let Some(limit) = open_files_limit().filter(|l| *l < n + 200) {
        println!(
            "SKIP: `ulimit -n` is {limit}; N = {n} needs at least {} (raise it or lower IOT_IDLE_N)",
            n + 200
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::generate(&PkiOptions::default()).expect("PKI");
    pki.write_dir(dir.path()).expect("PKI written");
    let cfg = ccv_tls::client_config(
        &pki.ca.cert_pem,
        &pki.vpos.cert_pem,
        &pki.vpos.key_pem,
        Some(AWS_IOT_ALPN.as_bytes()),
        true,
    )
    .expect("client TLS");
    println!(
        "N = {n}, {count} cycles per case, cases {:?}, brokers {brokers:?}",
        env_list("IOT_IDLE_CASES", "idle,mqtt")
    );

    let mut runs = Vec::new();
    for name in &brokers {
        let broker = match name.as_str() {
            "system" => start_system(dir.path()).await,
            "ccv-emu" => start_ccv_emu(dir.path()).await,
            other => panic!("unknown broker {other:?}; system or ccv-emu"),
        };
        for &case in &cases {
            runs.push(cycles(&broker, case, n, count, &cfg).await);
        }
        drop(broker);
    }

    println!(
        "\n| broker | case | RSS at start | peak (median) | after close: cycle 1 | … last | median | growth / cycle after cycle 1 | last after close / start |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &runs {
        let (first, last) = (r.after_kib[0], r.after_kib[r.after_kib.len() - 1]);
        let growth = (last as f64 - first as f64) / (r.after_kib.len() - 1) as f64;
        println!(
            "| {} | {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:+.0} KiB ({:+.1} B / connection) | {:.2}× |",
            r.broker,
            r.case.name(),
            r.base_kib as f64 / 1024.0,
            median(&r.peak_kib) as f64 / 1024.0,
            first as f64 / 1024.0,
            last as f64 / 1024.0,
            median(&r.after_kib) as f64 / 1024.0,
            growth,
            growth * 1024.0 / n as f64,
            last as f64 / r.base_kib as f64,
        );
    }
    for case in &cases {
        let pick = |b: &str| runs.iter().find(|r| r.broker == b && r.case == *case);
        if let (Some(s), Some(e)) = (pick("system"), pick("ccv-emu")) {
            println!(
                "{}: ccv-emu / system: peak {:.2}×, after close (median) {:.2}×",
                case.name(),
                median(&e.peak_kib) as f64 / median(&s.peak_kib) as f64,
                median(&e.after_kib) as f64 / median(&s.after_kib) as f64
            );
        }
    }
}
