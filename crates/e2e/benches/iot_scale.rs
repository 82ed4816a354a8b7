//! Scale benchmark of the IoT endpoint stand-in, with mosquitto as the reference in the same run.
//!
//! For each N (default 100, 1,000, 10,000; set `IOT_BENCH_N=100,1000`): start a fresh broker in
//! its own process (our endpoint, then mosquitto with `require_certificate true`), connect N
//! terminals over mutual TLS (each: hand-shake, CONNECT, SUBSCRIBE to its own cmd topic, QoS 1),
//! then publish one QoS 1 kick to every terminal from the payment-API identity and time each
//! kick from publish to arrival at its terminal.
//!
//! Reported: time to connect all N, broker RSS growth per connected client (from
//! /proc/PID/status, the broker process alone), kick latency p50/p99 (over all storms) and the median storm duration
//! (5 storms per N). The clients run in this process, so the broker side is counted apart.
//!
//! Run: `cargo bench -p ccv-e2e --bench iot_scale` (needs ~2 x N + 100 file descriptors per
//! process; raise `ulimit -n` first if it is below 20,000 for N = 10,000).
//! Internal mode: `iot_scale broker-child DIR` runs only the endpoint (used by the parent).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccv_iot::probe::Probe;
use ccv_iot::{Pki, PkiOptions};
use ccv_tls::client_config;
use ccv_wire::cloud::AWS_IOT_ALPN;
use ccv_wire::cloud::cmd_topic;
use rumqttc::mqttbytes::QoS;

use ccv_test_support as procs;
use rumqttc::mqttbytes::v4::{Packet, Publish};
use rustls::ClientConfig;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const WAIT: Duration = Duration::from_secs(120);
const CONNECT_CONCURRENCY: usize = 128;
/// Kick storms per N; the storm time reported is their median.
const REPS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    if args.get(1).map(String::as_str) == Some("broker-child") {
        let dir = args.get(2).expect("broker-child needs the PKI directory");
        rt.block_on(ccv_e2e::endpoint_child(Path::new(dir), 20_000));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return; // `cargo test --benches` / `cargo bench -- --list` probe.
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("iot_scale: run with `cargo bench -p ccv-e2e --bench iot_scale`; skipped in test mode");
        return;
    }
    rt.block_on(run());
}

struct Broker {
    name: &'static str,
    child: tokio::process::Child,
    port: u16,
}

async fn start_ours(dir: &Path) -> Broker {
    let args = ["broker-child".to_owned(), dir.display().to_string()];
    let (child, line, _) = procs::spawn_self(&args, Duration::from_secs(10)).await;
    let port = line.parse::<std::net::SocketAddr>().expect("address line").port();
    Broker { name: "ccv-iot", child, port }
}

async fn start_mosquitto(dir: &Path) -> Option<Broker> {
    let extra = "log_type error\nmax_queued_messages 20000\nmax_inflight_messages 100\n";
    let m = procs::launch_mosquitto(dir, extra).await.ok()?;
    Some(Broker { name: "mosquitto", child: m.child, port: m.port })
}

struct Row {
    broker: &'static str,
    n: usize,
    connect_s: f64,
    rss_per_client_kib: f64,
    p50_ms: f64,
    p99_ms: f64,
    storm_s: f64,
}

async fn round(
    broker: &Broker,
    n: usize,
    terminals: &[(String, Arc<ClientConfig>)],
    vpos_cfg: Arc<ClientConfig>,
) -> Row {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], broker.port));
    let pid = broker.child.id().expect("broker running");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss0 = procs::rss_kib(pid);

    // Connect N terminals (bounded concurrency).
    let start = Instant::now();
    let sem = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut set = JoinSet::new();
    for (tms, cfg) in terminals.iter().take(n).cloned() {
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            let mut p = Probe::connect(addr, Some("localhost"), cfg, WAIT).await.expect("TLS");
            p.mqtt_connect(&tms, true, 1200).await.expect("CONNACK");
            p.subscribe(&cmd_topic("NL-CAT", &tms), QoS::AtLeastOnce).await.expect("SUBACK");
            (tms, p)
        });
    }
    let mut clients = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        clients.push(r.expect("connect task"));
    }
    let connect_s = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss1 = procs::rss_kib(pid);

    // Kick storms: REPS times one QoS 1 kick per terminal, publish -> arrival.
    let mut vpos = Probe::connect(addr, Some("localhost"), vpos_cfg, WAIT).await.expect("vpos TLS");
    vpos.mqtt_connect("vpos-bench", true, 1200).await.expect("vpos CONNACK");
    let t0 = Instant::now();
    let mut lat = Vec::with_capacity(n * REPS);
    let mut storms = Vec::with_capacity(REPS);
    let mut clients: Vec<Probe> = clients.into_iter().map(|(_, p)| p).collect();
    for rep in 0..REPS {
        let mut receivers = JoinSet::new();
        for mut p in clients.drain(..) {
            receivers.spawn(async move {
                let got = p.next_publish().await.expect("kick arrives");
                let at = t0.elapsed().as_nanos() as u64;
                let sent: u64 = std::str::from_utf8(&got.payload)
                    .ok()
                    .and_then(|s| s.split("\"kickId\":\"b-").nth(1))
                    .and_then(|s| s.split('"').next())
                    .and_then(|s| s.parse().ok())
                    .expect("bench kick id");
                (at.saturating_sub(sent), p)
            });
        }
        let storm = Instant::now();
        for (i, (tms, _)) in terminals.iter().take(n).enumerate() {
            let sent = t0.elapsed().as_nanos();
            let body = format!(
                r#"{{"type":"connect-tas","kickId":"b-{sent}","reference":"r-{rep}-{i}","expiresAt":4000000000000}}"#
            );
            let mut publish = Publish::new(cmd_topic("NL-CAT", tms), QoS::AtLeastOnce, body.into_bytes());
            publish.pkid = (i % 65_535 + 1) as u16;
            vpos.send(&Packet::Publish(publish)).await.expect("publish sent");
        }
        let mut acks = 0;
        while acks < n {
            if let Packet::PubAck(_) = vpos.recv().await.expect("PUBACK") {
                acks += 1;
            }
        }
        while let Some(r) = receivers.join_next().await {
            let (l, p) = r.expect("receiver task");
            lat.push(l);
            clients.push(p);
        }
        storms.push(storm.elapsed().as_secs_f64());
    }
    storms.sort_by(f64::total_cmp);
    let storm_s = storms[storms.len() / 2];
    let keep = clients;
    lat.sort_unstable();
    let pct = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize] as f64 / 1e6;
    drop(keep);
    drop(vpos);
    Row {
        broker: broker.name,
        n,
        connect_s,
        rss_per_client_kib: rss1.saturating_sub(rss0) as f64 / n as f64,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        storm_s,
    }
}

async fn run() {
    let sizes: Vec<usize> = std::env::var("IOT_BENCH_N")
        .unwrap_or_else(|_| "100,1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let max = sizes.iter().copied().max().unwrap_or(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let made = Instant::now();
    let mut pki = Pki::generate(&PkiOptions::default()).expect("PKI");
    pki.write_dir(dir.path()).expect("PKI written (CA, server, vpos)");
    let mut ours_cfgs = Vec::with_capacity(max);
    let mut plain_cfgs = Vec::with_capacity(max);
    for i in 0..max {
        let tms = format!("{:08}", 10_000_000 + i);
        let pair = pki.add_terminal(&tms).expect("terminal certificate").clone();
        let cfg =
            |alpn| client_config(&pki.ca.cert_pem, &pair.cert_pem, &pair.key_pem, alpn, true).expect("cfg");
        ours_cfgs.push((tms.clone(), cfg(Some(AWS_IOT_ALPN.as_bytes()))));
        plain_cfgs.push((tms, cfg(None)));
    }
    let vpos = |alpn| {
        client_config(&pki.ca.cert_pem, &pki.vpos.cert_pem, &pki.vpos.key_pem, alpn, true).expect("cfg")
    };
    println!("PKI with {max} terminal certificates made in {:.1} s", made.elapsed().as_secs_f64());

    let mut rows = Vec::new();
    for &n in &sizes {
        let ours = start_ours(dir.path()).await;
        rows.push(round(&ours, n, &ours_cfgs, vpos(Some(AWS_IOT_ALPN.as_bytes()))).await);
        drop(ours);
        match start_mosquitto(dir.path()).await {
            Some(m) => rows.push(round(&m, n, &plain_cfgs, vpos(None)).await),
            None => println!("SKIP: mosquitto not available; no reference for N = {n}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!(
        "\n| broker | N | connect all (s) | broker RSS / client (KiB) | kick p50 (ms) | kick p99 (ms) | storm (s) | kicks/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.2} | {:.1} | {:.2} | {:.2} | {:.2} | {:.0} |",
            r.broker,
            r.n,
            r.connect_s,
            r.rss_per_client_kib,
            r.p50_ms,
            r.p99_ms,
            r.storm_s,
            r.n as f64 / r.storm_s
        );
    }
    for pair in rows.chunks(2) {
        if let [a, b] = pair {
            println!(
                "N = {}: storm throughput ccv-iot / mosquitto = {:.2}x, connect time ratio = {:.2}x",
                a.n,
                b.storm_s / a.storm_s,
                a.connect_s / b.connect_s
            );
        }
    }
}
