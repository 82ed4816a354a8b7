//! One `handle_input` + drain step of the terminal core, for a kick and for payment steps.
//! Baseline in the same run: a `Tick` with nothing due (the fixed cost of one step).
//!
//! `CARGO_TARGET_DIR=... cargo bench -p ccv-terminal --bench step`

use std::hint::black_box;
use std::time::Duration;

use ccv_opi::{
    Amount, CardRequestType, CardServiceRequest, Currency, DeviceResponse, Header, Message, OutputResult,
    OverallResult,
};
use ccv_terminal::{Channel, Input, LocalKick, Output, Terminal, TerminalConfig, Timestamp};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const T0: Timestamp = Timestamp::from_secs(1_795_860_000);

fn drain(t: &mut Terminal) -> usize {
    let mut n = 0;
    while let Some(o) = t.poll_output() {
        black_box(&o);
        n += 1;
    }
    n
}

fn fresh() -> Terminal {
    let mut t = Terminal::new(TerminalConfig::default(), 1);
    drain(&mut t);
    t
}

fn payment_request() -> Input {
    Input::Opi {
        channel: Channel::Tas,
        message: Message::CardServiceRequest(CardServiceRequest {
            header: Header {
                application_sender: None,
                workstation_id: "POS1".into(),
                pop_id: None,
                request_id: "1".into(),
            },
            request_type: CardRequestType::CardPayment,
            pos_data: None,
            total_amount: Some(Amount::new(1234, Currency::EUR)),
            original_transaction: None,
            private_data: None,
        }),
    }
}

/// The answer to the device request the terminal just sent.
fn device_ok(t: &mut Terminal) -> Option<Input> {
    let mut last = None;
    while let Some(o) = t.poll_output() {
        if let Output::SendOpi { message: Message::DeviceRequest(r), .. } = o {
            last = Some(r);
        }
    }
    let r = last?;
    Some(Input::Opi {
        channel: Channel::Tas,
        message: Message::DeviceResponse(DeviceResponse {
            header: r.header.clone(),
            request_type: r.request_type,
            overall_result: OverallResult::Success,
            outputs: r
                .outputs
                .iter()
                .map(|o| OutputResult {
                    out_device_target: o.out_device_target,
                    out_result: OverallResult::Success,
                })
                .collect(),
            input: None,
            private_data: None,
        }),
    })
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("terminal_step");
    g.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);

    let base = fresh();
    g.bench_function("baseline_tick", |b| {
        b.iter_batched_ref(
            || base.clone(),
            |t| {
                t.handle_input(T0, Input::Tick);
                drain(t)
            },
            BatchSize::SmallInput,
        )
    });

    let kick = Input::LocalKick(LocalKick {
        source: "pos".into(),
        port: 4105,
        reference: Some("ref".into()),
        tas: None,
    });
    g.bench_function("local_kick_accepted", |b| {
        b.iter_batched_ref(
            || (base.clone(), kick.clone()),
            |(t, k)| {
                t.handle_input(T0, std::mem::replace(k, Input::Tick));
                drain(t)
            },
            BatchSize::SmallInput,
        )
    });

    let wrong = Input::LocalKick(LocalKick { source: "pos".into(), port: 4106, reference: None, tas: None });
    g.bench_function("local_kick_refused", |b| {
        b.iter_batched_ref(
            || (base.clone(), wrong.clone()),
            |(t, k)| {
                t.handle_input(T0, std::mem::replace(k, Input::Tick));
                drain(t)
            },
            BatchSize::SmallInput,
        )
    });

    g.bench_function("payment_request", |b| {
        b.iter_batched_ref(
            || (base.clone(), payment_request()),
            |(t, r)| {
                t.handle_input(T0, std::mem::replace(r, Input::Tick));
                drain(t)
            },
            BatchSize::SmallInput,
        )
    });

    // A terminal waiting for the DeviceResponse to its first display request.
    let mut waiting = base.clone();
    waiting.handle_input(T0, payment_request());
    let answer = device_ok(&mut waiting).expect("a device request");
    g.bench_function("payment_device_response", |b| {
        b.iter_batched_ref(
            || (waiting.clone(), answer.clone()),
            |(t, r)| {
                t.handle_input(T0, std::mem::replace(r, Input::Tick));
                drain(t)
            },
            BatchSize::SmallInput,
        )
    });

    // The decision: card time (magic amounts), journal entry, receipts queued.
    let mut before_card = base.clone();
    before_card.handle_input(T0, payment_request());
    let a = device_ok(&mut before_card).expect("a device request");
    before_card.handle_input(T0, a);
    drain(&mut before_card);
    let card_at = before_card.poll_timeout().expect("the auto-card timer");
    g.bench_function("payment_decision", |b| {
        b.iter_batched_ref(
            || before_card.clone(),
            |t| {
                t.handle_input(card_at, Input::Tick);
                drain(t)
            },
            BatchSize::SmallInput,
        )
    });
    // Steady state, no clone per iteration: a whole kick (accepted kick, then a dial failure that is not
    // retried, `handshake`, which makes the terminal idle again) and a whole payment, on one long-lived terminal.
    let mut t = base.clone();
    g.bench_function("kick_cycle_2_steps", |b| {
        b.iter(|| {
            t.handle_input(T0, kick.clone());
            let n = drain(&mut t);
            t.handle_input(
                T0,
                Input::Tas(ccv_terminal::TasEvent::DialFailed(ccv_terminal::TasDialFailure::Handshake)),
            );
            n + drain(&mut t)
        })
    });
    let mut t = base.clone();
    let mut now = T0;
    let mut steps = 0u64;
    let mut payments = 0u64;
    g.bench_function("payment_cycle", |b| {
        b.iter(|| {
            t.handle_input(now, payment_request());
            steps += 1;
            // Bounded: a payment is about eight steps; answer device requests, fire the card timer.
            for _ in 0..32 {
                match device_ok(&mut t) {
                    Some(answer) => t.handle_input(now, answer),
                    None => match t.poll_timeout() {
                        Some(d) => {
                            now = d;
                            t.handle_input(now, Input::Tick);
                        }
                        None => break,
                    },
                }
                steps += 1;
                if !t.in_transaction() {
                    drain(&mut t);
                    break;
                }
            }
            payments += 1;
        })
    });
    if payments > 0 {
        println!("payment_cycle: {:.1} steps per payment", steps as f64 / payments as f64);
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
