//! Cloud Connect 1.0 benchmark: kick → TAS-connected latency (p50/p99) and payments per second through the mock
//! TAS with 1, 10 and 100 terminals, against a plain length-prefixed echo server doing the same number of frame
//! round trips of the same size (the loopback floor), measured in the same run; each on the plain TCP link and on
//! the link over mutual TLS (a second TAS and fleet with the same PKI).
//!
//! `cargo bench -p ccv-e2e --bench cc1` (environment: `CC1_SECS` seconds per rate measurement, default 3;
//! `CC1_KICKS` kick samples, default 200; `CC1_THREADS` runtime workers, default 2, 1 = current-thread runtime).

use std::time::{Duration, Instant};

use ccv_tas::{Direction, Outcome, Tas, TasConfig, TasTls};
use ccv_terminal_io::config::FileConfig;
use ccv_terminal_io::{Credentials, TerminalProcess};
use ccv_wire::local_kick::KickRequestBody;

mod echo_floor;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn terminal_config(tms_id: &str, tas: std::net::SocketAddr, tls: bool) -> FileConfig {
    let mut c = FileConfig::default();
    c.terminal.identity.tms_id = tms_id.to_owned();
    c.io.tas_tls = tls;
    let target = ccv_terminal::HostPort::new(tas.ip().to_string(), tas.port());
    c.terminal.tms.tas = target.clone();
    c.terminal.installed.tas = target;
    c.terminal.profile.auto_card_after_ms = Some(0);
    c.io.kick_bind = "127.0.0.1".parse().expect("literal");
    c.io.kick_port_override = Some(0);
    c
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn payments_per_second(tas: &'static Tas, ids: &[String], duration: Duration) -> (f64, u64) {
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for id in ids {
        let id = id.clone();
        set.spawn(async move {
            let mut ok = 0u64;
            let mut failed = 0u64;
            while Instant::now() < deadline {
                match tas.pay(&id, 1000).await {
                    Ok(r)
                        if r.outcome == Outcome::Completed
                            && r.overall_result.as_deref() == Some("Success") =>
                    {
                        ok += 1
                    }
                    _ => failed += 1,
                }
            }
            (ok, failed)
        });
    }
    let (mut ok, mut failed) = (0, 0);
    while let Some(r) = set.join_next().await {
        let (o, f) = r.expect("payment loop");
        ok += o;
        failed += f;
    }
    (ok as f64 / start.elapsed().as_secs_f64(), failed)
}

/// One TAS and its fleet: the kick → TAS-connected latencies of the first `kicks` terminals, the terminals.
async fn fleet(
    tas: &'static Tas,
    count: usize,
    kicks: usize,
    pki: Option<&ccv_iot::Pki>,
) -> (Vec<Duration>, Vec<(String, TerminalProcess)>) {
    let mut terminals = Vec::new();
    let mut latencies = Vec::new();
    for i in 0..count {
        let id = format!("{:08}", 10_000_000 + i);
        let config = terminal_config(&id, tas.terminal_addr(), pki.is_some());
        let term = match pki {
            None => TerminalProcess::start(config, i as u64).await,
            Some(pki) => {
                let pair = pki.terminal(&id).expect("certificate");
                let credentials = Credentials {
                    ca_pem: pki.ca.cert_pem.clone(),
                    cert_pem: pair.cert_pem.clone(),
                    key_pem: pair.key_pem.clone(),
                };
                TerminalProcess::start_with_credentials(config, i as u64, credentials).await
            }
        }
        .expect("terminal");
        let kick = term.kick_addr().expect("kick listener");
        let t0 = Instant::now();
        let reply = ccv_terminal_io::kick_client::send_kick(
            kick,
            &KickRequestBody::default(),
            Duration::from_secs(10),
        )
        .await
        .expect("kick");
        assert_eq!(reply.status, 202, "{:?}", reply.body);
        tas.wait_connected(&id, Duration::from_secs(10)).await.expect("terminal at the TAS");
        if i < kicks {
            latencies.push(t0.elapsed());
        }
        terminals.push((id, term));
    }
    latencies.sort();
    (latencies, terminals)
}

fn main() {
    let secs = env_u64("CC1_SECS", 3);
    let kicks = env_u64("CC1_KICKS", 200) as usize;
    let count = kicks.max(100);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async move {
        let ids: Vec<String> = (0..count).map(|i| format!("{:08}", 10_000_000 + i)).collect();
        let pki = ccv_iot::Pki::generate(&ccv_iot::PkiOptions { terminals: ids, ..Default::default() })
            .expect("PKI");
        // Every terminal dials from 127.0.0.1. The TASes live for the whole benchmark; leaking them gives the
        // payment loops a `'static` handle.
        let config = TasConfig { max_per_peer: usize::MAX, ..TasConfig::default() };
        let start = |config| async {
            let tas = Tas::start("127.0.0.1:0".parse().expect("addr"), None, config).await.expect("TAS");
            &*Box::leak(Box::new(tas))
        };
        let plain: &'static Tas = start(config.clone()).await;
        let tls = TasTls::from_pem(&pki.ca.cert_pem, &pki.tas.cert_pem, &pki.tas.key_pem).expect("TAS TLS");
        let secured: &'static Tas = start(TasConfig { tls: Some(tls), ..config }).await;

        // 1. Kick → TAS-connected latency, one terminal at a time, on each link.
        let (plain_latencies, plain_terminals) = fleet(plain, count, kicks, None).await;
        let (tls_latencies, tls_terminals) = fleet(secured, count, kicks, Some(&pki)).await;
        for (link, latencies) in [("plain TCP", &plain_latencies), ("mutual TLS", &tls_latencies)] {
            println!(
                "kick -> TAS-connected over loopback, {link} ({} samples): p50 {:.2} ms, p99 {:.2} ms",
                latencies.len(),
                percentile(latencies, 0.5).as_secs_f64() * 1e3,
                percentile(latencies, 0.99).as_secs_f64() * 1e3
            );
        }

        // Frames per payment and their mean size, from the transcript of one payment.
        let since = plain.transcript(None, 0).last().map_or(0, |e| e.seq);
        let first = plain_terminals[0].0.clone();
        let r = plain.pay(&first, 1000).await.expect("warm-up payment");
        assert_eq!(r.overall_result.as_deref(), Some("Success"), "{r:?}");
        let frames: Vec<_> =
            plain.transcript(Some(&first), since).into_iter().filter(|e| e.dir != Direction::Event).collect();
        let round_trips = (frames.len() / 2).max(1);
        let mean_size = frames.iter().map(|e| e.bytes).sum::<usize>() / frames.len().max(1);
        println!(
            "one payment = {} frames = {round_trips} round trips, mean frame {mean_size} bytes",
            frames.len()
        );

        let echo = echo_floor::start_echo().await;
        println!("| terminals | payments/s via TAS | via TAS, mutual TLS | echo floor (tx/s) | ratio | ratio, TLS |");
        println!("|---:|---:|---:|---:|---:|---:|");
        let failed = |n: u64| if n > 0 { format!(" ({n} failed)") } else { String::new() };
        for n in [1usize, 10, 100] {
            let ids: Vec<String> = plain_terminals.iter().take(n).map(|(id, _)| id.clone()).collect();
            let (pps, plain_failed) = payments_per_second(plain, &ids, Duration::from_secs(secs)).await;
            let (tls_pps, tls_failed) = payments_per_second(secured, &ids, Duration::from_secs(secs)).await;
            let floor =
                echo_floor::echo_rate(echo, n, round_trips, mean_size, Duration::from_secs(secs)).await;
            println!(
                "| {n} | {pps:.0}{} | {tls_pps:.0}{} | {floor:.0} | {:.2} | {:.2} |",
                failed(plain_failed),
                failed(tls_failed),
                pps / floor,
                tls_pps / floor
            );
        }
        for (_, t) in plain_terminals.into_iter().chain(tls_terminals) {
            t.shutdown().await;
        }
    });
}
