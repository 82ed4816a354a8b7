//! The terminal core and the TAS's connection core against each other in memory, on one fake clock
//! (`ccv_e2e::harness`): payments, aborts, time-outs and reconnects without a socket or a sleep. Each test runs in
//! microseconds of real time whatever the simulated time it covers.

use std::time::Duration;

use ccv_e2e::harness::{Pair, Record};
use ccv_tas::{JobKind, Outcome};
use ccv_terminal::{Input, LocalKick, TasLink, TerminalConfig, Timestamp};

const START: Timestamp = Timestamp::from_secs(1_795_879_800);
const MINUTE: Duration = Duration::from_secs(60);

fn kick() -> Input {
    Input::LocalKick(LocalKick {
        source: "pos".into(),
        port: 4105,
        reference: Some("tr-1".into()),
        tas: None,
    })
}

fn eur(amount_minor: u64) -> JobKind {
    JobKind::Payment { amount_minor, currency: "EUR".into() }
}

fn connected(config: TerminalConfig, seed: u64) -> Pair {
    let mut pair = Pair::new(config, seed, START);
    pair.input(kick());
    assert!(pair.tas_connected(), "the kick leads to a TAS connection: {:?}", pair.log());
    pair
}

fn waits_for_a_card() -> TerminalConfig {
    let mut c = TerminalConfig::default();
    c.profile.auto_card_after_ms = None;
    c
}

#[test]
fn a_payment_is_approved_with_receipts_in_simulated_time() {
    let mut pair = connected(TerminalConfig::default(), 1);
    let pay = pair.request(eur(1234), MINUTE);
    let r = pair
        .run_until_reply(pay, Duration::from_millis(100), MINUTE)
        .expect("a result")
        .as_ref()
        .expect("ok");
    assert_eq!(r.outcome, Outcome::Completed, "{r:?}");
    assert_eq!(r.overall_result.as_deref(), Some("Success"));
    assert_eq!(r.amount.as_deref(), Some("12.34"));
    assert!(!r.receipts.is_empty(), "the terminal printed receipts through the TAS: {r:?}");
    assert!(r.duration_ms > 0 && r.duration_ms < 60_000, "measured on the fake clock: {}", r.duration_ms);
    assert_eq!(pair.terminal().day_totals().net_minor, 1234, "{:?}", pair.terminal().day_totals());
}

#[test]
fn an_abort_stops_a_payment_that_waits_for_a_card() {
    let mut pair = connected(waits_for_a_card(), 2);
    let pay = pair.request(eur(4200), MINUTE);
    assert!(pair.terminal().in_transaction());
    pair.advance(Duration::from_secs(5));
    assert!(pair.reply(pay).is_none(), "no card, no result");
    let abort = pair.request(JobKind::Abort, MINUTE);
    let a = pair.reply(abort).expect("the abort is answered at once").as_ref().expect("ok");
    assert_eq!(a.outcome, Outcome::Completed, "{a:?}");
    let p = pair.reply(pay).expect("the payment ends with the abort").as_ref().expect("ok");
    assert_eq!(p.overall_result.as_deref(), Some("Aborted"), "{p:?}");
    assert!(!pair.terminal().in_transaction());
}

#[test]
fn a_request_times_out_on_the_fake_clock_and_not_a_millisecond_early() {
    let mut pair = connected(waits_for_a_card(), 3);
    let pay = pair.request(eur(500), Duration::from_secs(30));
    pair.advance(Duration::from_millis(29_999));
    assert!(pair.reply(pay).is_none(), "still waiting 1 ms before the time-out");
    pair.advance(Duration::from_millis(1));
    let r = pair.reply(pay).expect("timed out").as_ref().expect("a result, not an error");
    assert_eq!(r.outcome, Outcome::Unknown, "{r:?}");
    assert_eq!(r.reason.as_deref(), Some("timed_out"));
}

#[test]
fn after_the_tas_drops_the_link_a_new_kick_reconnects_and_pays() {
    let mut pair = connected(waits_for_a_card(), 4);
    let pay = pair.request(eur(700), MINUTE);
    pair.drop_tas();
    let r = pair.reply(pay).expect("the waiting payment is answered").as_ref().expect("ok");
    assert_eq!(r.outcome, Outcome::Unknown, "{r:?}");
    assert!(matches!(pair.terminal().tas_link(), TasLink::Idle { .. }), "{:?}", pair.terminal().tas_link());
    // The terminal is idle again once its own device/card timers run out.
    pair.advance(MINUTE);
    pair.input(kick());
    assert!(pair.tas_connected());
    assert_eq!(pair.dials(), 2);
    let again = pair.request(eur(800), MINUTE);
    pair.input(Input::Card(ccv_terminal::CardEvent::Presented(ccv_terminal::TestCard::ALL[0])));
    let r = pair
        .run_until_reply(again, Duration::from_millis(100), MINUTE)
        .expect("a result")
        .as_ref()
        .expect("ok");
    assert_eq!(r.outcome, Outcome::Completed, "{r:?}");
}

#[test]
fn a_tas_that_is_down_is_dialled_again_with_back_off_then_the_failure_is_reported() {
    let mut pair = Pair::new(TerminalConfig::default(), 5, START);
    pair.set_tas_down(true);
    pair.input(kick());
    assert!(!pair.tas_connected());
    assert_eq!(pair.dials(), 1);
    let failed = |pair: &Pair| {
        pair.log().iter().any(|r| matches!(r, Record::Terminal(j) if j.contains("tas-dial-failed")))
    };
    assert!(!failed(&pair), "one refused attempt is not the end: {:?}", pair.log());
    // Back-off from 200 ms, doubling, ±20 %: the dial is tried again on the core's timers, not the shell's.
    pair.advance(Duration::from_millis(150));
    assert_eq!(pair.dials(), 1, "no retry before the first back-off");
    pair.advance(Duration::from_millis(100));
    assert_eq!(pair.dials(), 2, "the second attempt after about 200 ms");
    pair.advance(Duration::from_secs(10));
    assert!(pair.dials() >= 5, "{} attempts", pair.dials());
    assert!(
        failed(&pair),
        "the failure is reported once no retry fits in the dial time-out: {:?}",
        pair.log()
    );
    assert!(matches!(pair.terminal().tas_link(), TasLink::Idle { last_failure: Some(_) }));
    pair.set_tas_down(false);
    pair.input(kick());
    assert!(pair.tas_connected(), "a new kick dials again");
}

#[test]
fn the_same_inputs_on_the_fake_clock_give_the_same_bytes() {
    let run = || {
        let mut pair = connected(TerminalConfig::default(), 42);
        let first = pair.request(eur(1234), MINUTE);
        pair.run_until_reply(first, Duration::from_millis(100), MINUTE);
        let refund = pair.request(JobKind::Refund { amount_minor: 500, currency: "EUR".into() }, MINUTE);
        pair.run_until_reply(refund, Duration::from_millis(100), MINUTE);
        pair.drop_tas();
        pair.advance(MINUTE);
        pair.log().to_vec()
    };
    let (a, b) = (run(), run());
    assert!(a.len() > 10, "a conversation happened: {a:?}");
    assert_eq!(a, b, "two runs of the same inputs differ");
}
