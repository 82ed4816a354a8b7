//! Decode-to-scan throughput ratio, measured interleaved so that load from other processes on a
//! shared machine hits both sides alike: each round times a block of scans, then a block of
//! decodes and encodes of the same message; the figure is the median over rounds.
//! `cargo bench -p ccv-opi --bench ratio`. (The absolute figures come from `--bench codec`.)

use std::hint::black_box;
use std::time::{Duration, Instant};

use ccv_opi::{Encoding, decode, encode};
use quick_xml::Reader;
use quick_xml::events::Event;

const FIXTURES: [&str; 3] =
    ["card_payment_request", "card_payment_response_success", "device_output_receipt_request"];
const ROUNDS: usize = 201;
const BLOCK: u32 = 500;

fn scan(bytes: &[u8]) -> usize {
    let mut reader = Reader::from_reader(bytes);
    let mut events = 0;
    // Bounded by the input: every event consumes at least one byte, and errors end the scan.
    loop {
        match reader.read_event() {
            Ok(Event::Eof) | Err(_) => return events,
            Ok(e) => {
                black_box(&e);
                events += 1;
            }
        }
    }
}

fn time(mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..BLOCK {
        f();
    }
    start.elapsed() / BLOCK
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench` absent; do the work only when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    println!("| message | scan | decode | encode | decode ÷ scan throughput (median, p10–p90) |");
    println!("|---|---|---|---|---|");
    for name in FIXTURES {
        let path = format!("{}/../../fixtures/opi/{name}.xml", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).expect("fixture file is part of the repository");
        let message = decode(&bytes).expect("fixture decodes (checked by tests/golden.rs)");
        let (mut s, mut d, mut e, mut r) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let ts = time(|| {
                black_box(scan(black_box(&bytes)));
            });
            let td = time(|| {
                let _ = black_box(decode(black_box(&bytes)));
            });
            let te = time(|| {
                black_box(encode(black_box(&message), Encoding::Utf8));
            });
            s.push(ts.as_secs_f64());
            d.push(td.as_secs_f64());
            e.push(te.as_secs_f64());
            r.push(ts.as_secs_f64() / td.as_secs_f64());
        }
        let (ms, md, me) = (median(&mut s), median(&mut d), median(&mut e));
        let rm = median(&mut r);
        let (p10, p90) = (r[ROUNDS / 10], r[ROUNDS * 9 / 10]);
        let fmt = |t: f64| format!("{:.2} µs ({:.0} k msg/s)", t * 1e6, 1.0 / t / 1e3);
        println!("| {name} | {} | {} | {} | {rm:.2}× ({p10:.2}–{p90:.2}) |", fmt(ms), fmt(md), fmt(me));
    }
}
