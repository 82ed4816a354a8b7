//! Decode and encode of three typical messages, beside a bare quick-xml event scan of the same
//! bytes (the floor of XML work). `cargo bench -p ccv-opi --bench codec`; figures in
//! docs/BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use ccv_opi::{Encoding, decode, encode};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quick_xml::Reader;
use quick_xml::events::Event;

const FIXTURES: [&str; 3] =
    ["card_payment_request", "card_payment_response_success", "device_output_receipt_request"];

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

/// The scan plus parsing every attribute (names and unescaped values): the XML work a decoder
/// cannot avoid, shown to say where the rest of the decode time goes.
fn scan_with_attributes(bytes: &[u8]) -> usize {
    let mut reader = Reader::from_reader(bytes);
    let mut n = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) | Err(_) => return n,
            Ok(Event::Start(e) | Event::Empty(e)) => {
                for a in e.attributes().with_checks(false).flatten() {
                    n += a.decode_and_unescape_value(reader.decoder()).map_or(0, |v| v.len());
                }
            }
            Ok(e) => {
                black_box(&e);
                n += 1;
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    for name in FIXTURES {
        let path = format!("{}/../../fixtures/opi/{name}.xml", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).expect("fixture file is part of the repository");
        let message = decode(&bytes).expect("fixture decodes (checked by tests/golden.rs)");
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(1));
        group.bench_function("scan", |b| b.iter(|| scan(black_box(&bytes))));
        group.bench_function("scan_with_attributes", |b| b.iter(|| scan_with_attributes(black_box(&bytes))));
        group.bench_function("decode", |b| b.iter(|| decode(black_box(&bytes))));
        group.bench_function("encode", |b| b.iter(|| encode(black_box(&message), Encoding::Utf8)));
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
