//! How fast `ccv-emu sandbox` is ready: `Sandbox::start` of the default fleet (fresh state: PKI made; restart:
//! PKI read) until every Cloud Connect 2.0 terminal that can has its MQTT link up, N rounds, medians. Baseline in
//! the same run: making the PKI alone (`Pki::generate` for the same terminals), the largest fixed cost of a
//! fresh start.
//!
//! `cargo bench -p ccv-sandbox --bench start` (`-- --rounds N`).

use std::time::{Duration, Instant};

use ccv_sandbox::{Fleet, Sandbox, SandboxOptions};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let fleet = Fleet::default_fleet().expect("default fleet");
    let ids: Vec<String> = fleet.terminals.iter().map(|t| t.spec.tms_id.clone()).collect();
    let (mut fresh, mut restart, mut pki) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        let opts = ccv_iot::PkiOptions { terminals: ids.clone(), ..Default::default() };
        ccv_iot::Pki::generate(&opts).expect("PKI");
        pki.push(t.elapsed().as_secs_f64() * 1e3);
        let dir = tempfile::tempdir().expect("tempdir");
        for times in [&mut fresh, &mut restart] {
            let options = SandboxOptions {
                state_dir: dir.path().join("state"),
                fleet: fleet.clone(),
                ephemeral_ports: true,
                ports: Default::default(),
                reset: false,
                clock: None,
                tas_plain_tcp: false,
            };
            let ms = rt.block_on(async {
                let t = Instant::now();
                let sandbox = Sandbox::start(options).await.expect("sandbox starts");
                sandbox.settle_links(Duration::from_secs(10)).await;
                let ms = t.elapsed().as_secs_f64() * 1e3;
                sandbox.shutdown().await;
                ms
            });
            times.push(ms);
        }
    }
    let (f, r, p) = (median(fresh), median(restart), median(pki));
    println!("sandbox ready (default fleet, {} terminals, {rounds} rounds, medians):", ids.len());
    println!("| start | ready, ms | × PKI baseline |");
    println!("|---|---:|---:|");
    println!("| fresh state (PKI made) | {f:.1} | {:.2} |", f / p);
    println!("| restart (PKI read) | {r:.1} | {:.2} |", r / p);
    println!("| baseline: Pki::generate alone | {p:.1} | 1.00 |");
}
