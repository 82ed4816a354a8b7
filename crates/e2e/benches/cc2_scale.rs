//! Scale benchmark of Cloud Connect 2.0 from the terminal side, with mosquitto as the reference broker in the
//! same run.
//!
//! For each N (default 100, 1,000, 10,000; set `CC2_BENCH_N=100,1000`) and each broker (our endpoint, then
//! mosquitto with `require_certificate true`), every party runs in its own process so memory is counted apart:
//! the broker, the mock TAS, and the terminals (full `TerminalProcess`es: core, drive task, MQTT client over
//! mutual TLS) in children of at most 5,000 terminals each (file descriptors: one MQTT and one TAS socket per
//! terminal, under a 20,000 limit). This process plays the payment API.
//!
//! Reported: time from starting the terminal children until all N MQTT links are up (subscription granted);
//! resident memory per idle connected terminal (terminal children's RSS growth / N) and per client on the broker;
//! then one storm of N cloud kicks published back to back by the payment API, each timed from its PUBLISH to the
//! terminal's `tas-connected` event arriving back at the payment API (so it covers broker → terminal → TAS dial
//! and hand-shake → event → broker → payment API): p50, p99, the storm's duration and kicks per second.
//!
//! Each (N, broker) runs `CC2_BENCH_REPS` times (default 3, rounds alternating between the brokers) and the table
//! shows medians. Run: `cargo bench -p ccv-e2e --bench cc2_scale` (`CC2_BENCH_BROKERS=ccv-iot` for ours only).
//! Internal modes (used by the parent): `endpoint-child DIR`, `tas-child`,
//! `terminals-child DIR HOST PORT TAS FIRST COUNT ALPN`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccv_iot::probe::Probe;
use ccv_iot::{Pki, PkiOptions};
use ccv_terminal_io::config::FileConfig;
use ccv_terminal_io::{AlpnPolicy, Credentials, TerminalProcess};
use ccv_tls::client_config;
use ccv_wire::cloud::AWS_IOT_ALPN;
use ccv_wire::cloud::cmd_topic;
use ccv_wire::cloud::{Command, ConnectTas, Event};
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{Packet, Publish};

use ccv_test_support as procs;

const WAIT: Duration = Duration::from_secs(180);
/// Terminals per child process.
const PER_CHILD: usize = 5_000;
/// Terminals connecting at the same time in one child.
const CONNECTING: usize = 128;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match args.get(1).map(String::as_str) {
        Some("endpoint-child") => {
            let dir = args.get(2).expect("endpoint-child DIR");
            // Room for the payment API's share of a storm: two events per terminal.
            rt.block_on(ccv_e2e::endpoint_child(Path::new(dir), 50_000));
        }
        Some("tas-child") => rt.block_on(tas_child()),
        Some("terminals-child") => rt.block_on(terminals_child(&args[2..])),
        _ if args.iter().any(|a| a == "--list") => {} // `cargo bench -- --list` probe
        _ if !args.iter().any(|a| a == "--bench") => {
            println!("cc2_scale: run with `cargo bench -p ccv-e2e --bench cc2_scale`; skipped in test mode");
        }
        _ => rt.block_on(run()),
    }
}

async fn tas_child() {
    // Every terminal dials from 127.0.0.1.
    let config = ccv_tas::TasConfig { max_per_peer: usize::MAX, ..ccv_tas::TasConfig::default() };
    let tas =
        ccv_tas::Tas::start("127.0.0.1:0".parse().expect("addr"), None, config).await.expect("TAS starts");
    println!("{}", tas.terminal_addr());
    procs::until_stdin_closes().await;
    tas.shutdown().await;
}

fn self_rss() -> u64 {
    procs::rss_kib(std::process::id())
}

/// Starts COUNT terminals (TMS IDs FIRST, FIRST+1, ...) against the broker; prints
/// `up SECONDS RSS_BEFORE_KIB RSS_AFTER_KIB` once every MQTT link is up, then runs until stdin closes.
async fn terminals_child(args: &[String]) {
    let [dir, host, port, tas, first, count, alpn] = args else {
        panic!("terminals-child DIR HOST PORT TAS FIRST COUNT ALPN, got {args:?}");
    };
    let (port, tas): (u16, SocketAddr) = (port.parse().expect("port"), tas.parse().expect("TAS address"));
    let (first, count): (usize, usize) = (first.parse().expect("first"), count.parse().expect("count"));
    let alpn = if alpn == "always" { AlpnPolicy::Always } else { AlpnPolicy::Auto };
    // Credentials are read before the baseline so that the PEM text is not counted as terminal memory.
    let creds: Vec<(String, Credentials)> = (first..first + count)
        .map(|i| {
            let id = tms_id(i);
            let c = Credentials::load(Path::new(dir), &id).expect("terminal certificate");
            (id, c)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss0 = self_rss();
    let start = Instant::now();
    let mut terminals = Vec::with_capacity(count);
    for (i, (id, c)) in creds.into_iter().enumerate() {
        let mut config = FileConfig::default();
        config.terminal.identity.tms_id = id;
        config.terminal.trigger_port = 0; // no local-kick listener: cloud kicks only (R21)
        let tas_hp = ccv_terminal::HostPort::new(tas.ip().to_string(), tas.port());
        config.terminal.tms.tas = tas_hp.clone();
        config.terminal.installed.tas = tas_hp;
        let mqt = ccv_terminal::HostPort::new(host.clone(), port);
        config.terminal.tms.mqt_service = mqt.clone();
        config.terminal.installed.mqt_service = mqt;
        config.io.mqtt_alpn = alpn;
        config.io.mqtt_connect_timeout_s = 30;
        config.terminal.profile.backoff_initial_ms = 500;
        config.terminal.profile.backoff_max_ms = 5_000;
        let term =
            TerminalProcess::start_with_credentials(config, i as u64, c).await.expect("terminal starts");
        terminals.push(term);
        // Bounded concurrency: wait while too many are still connecting (every wait bounded by WAIT).
        let deadline = Instant::now() + WAIT;
        while terminals.iter().rev().take(CONNECTING * 2).filter(|t| t.status().mqtt.state != "up").count()
            >= CONNECTING
        {
            assert!(Instant::now() < deadline, "terminals did not connect within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let deadline = Instant::now() + WAIT;
    while terminals.iter().any(|t| t.status().mqtt.state != "up") {
        assert!(Instant::now() < deadline, "terminals did not connect within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_s = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!("up {connect_s:.3} {rss0} {}", self_rss());
    procs::until_stdin_closes().await;
    drop(terminals);
}

fn tms_id(i: usize) -> String {
    format!("{:08}", 20_000_000 + i)
}

struct Row {
    broker: &'static str,
    n: usize,
    connect_s: f64,
    terminal_kib: f64,
    broker_kib: f64,
    p50_ms: f64,
    p99_ms: f64,
    storm_s: f64,
    connected: usize,
}

struct Broker {
    name: &'static str,
    child: tokio::process::Child,
    port: u16,
    /// ALPN the terminals offer: our 443-style listener requires it on any port; mosquitto's port is not 443.
    alpn: &'static str,
}

async fn start_broker(name: &'static str, dir: &Path) -> Option<Broker> {
    if name == "ccv-iot" {
        let args = ["endpoint-child".to_owned(), dir.display().to_string()];
        let (child, line, _) = procs::spawn_self(&args, Duration::from_secs(10)).await;
        let port = line.parse::<SocketAddr>().expect("address line").port();
        return Some(Broker { name, child, port, alpn: "always" });
    }
    let extra = "log_type error\nmax_queued_messages 50000\nmax_inflight_messages 100\n";
    let m = procs::launch_mosquitto(dir, extra).await.ok()?;
    Some(Broker { name, child: m.child, port: m.port, alpn: "auto" })
}

async fn round(broker: &Broker, n: usize, dir: &Path, pki: &Pki) -> Row {
    let addr = SocketAddr::from(([127, 0, 0, 1], broker.port));
    let broker_pid = broker.child.id().expect("broker running");
    let (mut tas, tas_line, _) = procs::spawn_self(&["tas-child".to_owned()], Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let broker_rss0 = procs::rss_kib(broker_pid);

    let start = Instant::now();
    let mut children = Vec::new();
    for first in (0..n).step_by(PER_CHILD) {
        let count = PER_CHILD.min(n - first);
        let args: Vec<String> = [
            "terminals-child",
            &dir.display().to_string(),
            "localhost",
            &broker.port.to_string(),
            tas_line.trim(),
            &first.to_string(),
            &count.to_string(),
            broker.alpn,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        children.push(tokio::spawn(async move { procs::spawn_self(&args, WAIT).await }));
    }
    let mut terminal_kib = 0u64;
    let mut kept = Vec::new();
    for c in children {
        let (child, line, lines) = c.await.expect("child task");
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts.first(), Some(&"up"), "{line}");
        let (before, after): (u64, u64) = (parts[2].parse().expect("rss"), parts[3].parse().expect("rss"));
        terminal_kib += after.saturating_sub(before);
        kept.push((child, lines));
    }
    let connect_s = start.elapsed().as_secs_f64();
    let broker_rss1 = procs::rss_kib(broker_pid);

    // The payment API: one connection listening for events, one publishing the kicks back to back.
    let vpos_tls = |alpn| {
        client_config(&pki.ca.cert_pem, &pki.vpos.cert_pem, &pki.vpos.key_pem, alpn, true).expect("vpos TLS")
    };
    let alpn = (broker.alpn == "always").then_some(AWS_IOT_ALPN.as_bytes());
    let mut events = Probe::connect(addr, Some("localhost"), vpos_tls(alpn), WAIT).await.expect("TLS");
    events.mqtt_connect("vpos-events", true, 1200).await.expect("CONNACK");
    events.subscribe("ccv/+/+/evt", QoS::AtLeastOnce).await.expect("SUBACK");
    let mut publisher = Probe::connect(addr, Some("localhost"), vpos_tls(alpn), WAIT).await.expect("TLS");
    publisher.mqtt_connect("vpos-kicks", true, 1200).await.expect("CONNACK");

    let t0 = Instant::now();
    let sent: Arc<std::sync::Mutex<HashMap<String, Duration>>> = Arc::default();
    let collector = {
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n);
            let mut acc = Vec::with_capacity(n);
            let deadline = tokio::time::Instant::now() + WAIT;
            while lat.len() < n && tokio::time::Instant::now() < deadline {
                let p = match events.next_publish().await {
                    Ok(p) => p,
                    Err(e) => {
                        println!("  the payment API's event connection failed: {e}");
                        break;
                    }
                };
                let at = t0.elapsed();
                let (kick_id, into) = match Event::from_json(&p.payload) {
                    Ok(Event::TasConnected { kick_id, .. }) => (kick_id, &mut lat),
                    Ok(Event::KickAccepted { kick_id, .. }) => (kick_id, &mut acc),
                    _ => continue,
                };
                let s = sent.lock().expect("lock").get(&kick_id).copied();
                if let Some(s) = s {
                    into.push(at.saturating_sub(s));
                }
            }
            (lat, acc)
        })
    };
    let storm = Instant::now();
    for i in 0..n {
        let kick_id = format!("s-{i}");
        let body = Command::ConnectTas(ConnectTas {
            kick_id: kick_id.clone(),
            reference: format!("r-{i}"),
            host: None,
            port: None,
            expires_at: 4_000_000_000_000,
        })
        .to_json();
        let mut publish = Publish::new(cmd_topic("NL-CAT", &tms_id(i)), QoS::AtLeastOnce, body);
        publish.pkid = (i % 65_535 + 1) as u16;
        sent.lock().expect("lock").insert(kick_id, t0.elapsed());
        publisher.send(&Packet::Publish(publish)).await.expect("publish sent");
    }
    let sent_all_s = storm.elapsed().as_secs_f64();
    let (mut lat, mut acc) = collector.await.expect("collector");
    let storm_s = storm.elapsed().as_secs_f64();
    drop(publisher);
    let connected = lat.len();
    lat.sort_unstable();
    acc.sort_unstable();
    let pct_of = |v: &[Duration], q: f64| {
        v.get(((v.len() as f64 - 1.0) * q).round() as usize).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    let pct = |q: f64| pct_of(&lat, q);
    println!(
        "  {} N={n}: all kicks sent after {:.3} s; kick -> kick-accepted p50 {:.1} ms p99 {:.1} ms",
        broker.name,
        sent_all_s,
        pct_of(&acc, 0.5),
        pct_of(&acc, 0.99)
    );
    let row = Row {
        broker: broker.name,
        n,
        connect_s,
        terminal_kib: terminal_kib as f64 / n as f64,
        broker_kib: broker_rss1.saturating_sub(broker_rss0) as f64 / n as f64,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        storm_s,
        connected,
    };
    for (mut child, _) in kept {
        drop(child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
    }
    drop(tas.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(10), tas.wait()).await;
    row
}

async fn run() {
    let sizes: Vec<usize> = std::env::var("CC2_BENCH_N")
        .unwrap_or_else(|_| "100,1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let max = sizes.iter().copied().max().unwrap_or(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let made = Instant::now();
    let mut pki = Pki::generate(&PkiOptions::default()).expect("PKI");
    for i in 0..max {
        pki.add_terminal(&tms_id(i)).expect("terminal certificate");
    }
    pki.write_dir(dir.path()).expect("PKI written");
    println!("PKI with {max} terminal certificates made in {:.1} s", made.elapsed().as_secs_f64());

    let wanted = std::env::var("CC2_BENCH_BROKERS").unwrap_or_else(|_| "ccv-iot,mosquitto".into());
    let brokers: Vec<&'static str> =
        ["ccv-iot", "mosquitto"].into_iter().filter(|b| wanted.split(',').any(|w| w.trim() == *b)).collect();
    let mut rows = Vec::new();
    let reps: usize = std::env::var("CC2_BENCH_REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    for &n in &sizes {
        // Rounds alternate between the brokers so that both see the same machine load.
        for rep in 0..reps {
            for name in brokers.iter().copied() {
                let Some(mut broker) = start_broker(name, dir.path()).await else {
                    println!("SKIP: {name} not available; no row for N = {n}");
                    continue;
                };
                let row = round(&broker, n, dir.path(), &pki).await;
                println!(
                    "{} N={} round {}: connect {:.2} s, terminal {:.1} KiB, broker {:.1} KiB, p50 {:.1} ms, p99 {:.1} ms, storm {:.2} s ({}/{} at the TAS)",
                    row.broker,
                    row.n,
                    rep + 1,
                    row.connect_s,
                    row.terminal_kib,
                    row.broker_kib,
                    row.p50_ms,
                    row.p99_ms,
                    row.storm_s,
                    row.connected,
                    row.n
                );
                rows.push(row);
                drop(broker.child.stdin.take());
                let _ = broker.child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(10), broker.child.wait()).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    println!("\nMedians of {reps} rounds per row:\n");
    println!(
        "| broker | N | connect all (s) | terminal RSS / terminal (KiB) | broker RSS / client (KiB) | kick → tas-connected p50 (ms) | p99 (ms) | storm (s) | kicks/s | at the TAS (worst round) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut storms: Vec<(usize, &str, f64)> = Vec::new();
    for &n in &sizes {
        for name in brokers.iter().copied() {
            let these: Vec<&Row> = rows.iter().filter(|r| r.broker == name && r.n == n).collect();
            if these.is_empty() {
                continue;
            }
            let med = |f: &dyn Fn(&Row) -> f64| {
                let mut v: Vec<f64> = these.iter().map(|r| f(r)).collect();
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let storm_s = med(&|r| r.storm_s);
            let worst = these.iter().map(|r| r.connected).min().unwrap_or(0);
            storms.push((n, name, storm_s));
            println!(
                "| {name} | {n} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.0} | {worst}/{n} |",
                med(&|r| r.connect_s),
                med(&|r| r.terminal_kib),
                med(&|r| r.broker_kib),
                med(&|r| r.p50_ms),
                med(&|r| r.p99_ms),
                storm_s,
                n as f64 / storm_s,
            );
        }
    }
    for &n in &sizes {
        let storm = |b: &str| storms.iter().find(|(m, name, _)| *m == n && *name == b).map(|(_, _, s)| *s);
        if let (Some(ours), Some(theirs)) = (storm("ccv-iot"), storm("mosquitto")) {
            println!("N = {n}: storm throughput ccv-iot / mosquitto = {:.2}x (median storms)", theirs / ours);
        }
    }
}
