//! The terminal's local time is Europe/Amsterdam's, summer time included: receipts, journal and OPI
//! time stamps, the local date and the service password of the day.

mod common;

use ccv_opi::OutDevice;
use ccv_terminal::{CivilDate, Output, Timestamp, service_password};
use common::{Harness, device_request};

/// 2026-03-29T01:00:00Z: summer time starts (02:00 CET becomes 03:00 CEST).
const SPRING: u64 = 1_774_746_000_000;
/// 2026-10-25T01:00:00Z: summer time ends (03:00 CEST becomes 02:00 CET).
const AUTUMN: u64 = 1_792_890_000_000;
/// 2026-11-28T23:00:00Z: local midnight in winter (00:00 CET on 2026-11-29).
const WINTER_MIDNIGHT: u64 = 1_795_906_800_000;
/// 2026-07-15T22:00:00Z: local midnight in summer (00:00 CEST on 2026-07-16).
const SUMMER_MIDNIGHT: u64 = 1_784_152_800_000;
const MINUTE: u64 = 60_000;

/// Pays at `at` (the decision comes 200 ms later) and returns the local time written on it: on the
/// journal entry, in the response's `Authorisation/TimeStamp` and on the receipts' `Datum:` line.
fn pay_at(at: u64) -> String {
    let mut h = Harness::default_terminal();
    h.now = Timestamp(at);
    let (outs, resp) = h.pay(1234);
    let journal = outs
        .iter()
        .find_map(|o| match o {
            Output::Journal(e) => Some(e.time.as_str().to_owned()),
            _ => None,
        })
        .expect("a journal entry");
    let auth = resp.tender.and_then(|t| t.authorisation).and_then(|a| a.time_stamp).expect("a TimeStamp");
    let datum = outs
        .iter()
        .filter_map(device_request)
        .flat_map(|r| &r.outputs)
        .filter(|o| o.out_device_target == OutDevice::Printer)
        .flat_map(|o| &o.text_lines)
        .find_map(|l| l.text.strip_prefix("Datum: ").map(str::to_owned))
        .expect("a receipt with a date");
    assert_eq!(journal, auth.as_str());
    assert_eq!(journal, datum);
    journal
}

#[test]
fn a_payment_just_before_and_after_summer_time_starts() {
    assert_eq!(pay_at(SPRING - MINUTE), "2026-03-29T01:59:00");
    assert_eq!(pay_at(SPRING + MINUTE), "2026-03-29T03:01:00");
}

#[test]
fn a_payment_just_before_and_after_summer_time_ends() {
    assert_eq!(pay_at(AUTUMN - MINUTE), "2026-10-25T02:59:00");
    assert_eq!(pay_at(AUTUMN + MINUTE), "2026-10-25T02:01:00");
}

/// The local date changes at `midnight` (UTC) from `day` to the next, on payments too.
fn day_rolls_over_at(midnight: u64, day: CivilDate) {
    let next = CivilDate { day: day.day + 1, ..day };
    assert_eq!(Timestamp(midnight - 1000).local().date, day);
    assert_eq!(Timestamp(midnight).local().date, next);
    assert_eq!(pay_at(midnight - MINUTE), format!("{day}T23:59:00"));
    assert_eq!(pay_at(midnight), format!("{next}T00:00:00"));
}

#[test]
fn the_day_rolls_over_at_local_midnight_in_winter() {
    day_rolls_over_at(WINTER_MIDNIGHT, CivilDate { year: 2026, month: 11, day: 28 });
}

#[test]
fn the_day_rolls_over_at_local_midnight_in_summer() {
    day_rolls_over_at(SUMMER_MIDNIGHT, CivilDate { year: 2026, month: 7, day: 15 });
}

#[test]
fn the_service_password_changes_at_local_midnight() {
    for (midnight, (y, m, d)) in [(WINTER_MIDNIGHT, (2026, 11, 28)), (SUMMER_MIDNIGHT, (2026, 7, 15))] {
        let h = Harness::default_terminal();
        let tms_id = h.t.config().identity.tms_id.clone();
        let day = service_password(&tms_id, CivilDate { year: y, month: m, day: d });
        let next = service_password(&tms_id, CivilDate { year: y, month: m, day: d + 1 });
        assert_ne!(day, next);
        assert_eq!(h.t.service_password(Timestamp(midnight - 1)), day);
        assert_eq!(h.t.service_password(Timestamp(midnight)), next);
        // Still the same UTC date, but the local one has changed.
        assert_eq!(h.t.service_password(Timestamp(midnight + 30 * MINUTE)), next);
    }
}

#[test]
fn the_keypad_takes_the_new_password_from_local_midnight() {
    let mut h = Harness::default_terminal();
    let tms_id = h.t.config().identity.tms_id.clone();
    let yesterday = service_password(&tms_id, CivilDate { year: 2026, month: 11, day: 28 });
    let today = service_password(&tms_id, CivilDate { year: 2026, month: 11, day: 29 });
    h.now = Timestamp(WINTER_MIDNIGHT - 5000);
    h.keys(&format!("MENU 2 {yesterday}"));
    h.now = Timestamp(WINTER_MIDNIGHT + 1000);
    h.keys("OK");
    assert!(h.screen_text().contains("WACHTWOORD ONJUIST"), "{}", h.screen_text());
    h.keys(&format!("OK 2 {today} OK"));
    assert!(h.screen_text().starts_with("SERVICE MENU"), "{}", h.screen_text());
}
