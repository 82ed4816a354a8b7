//! The payment engine: test cards, magic amounts, device requests, receipts, journal ordering,
//! refunds, reversals, aborts, service requests.
#![allow(clippy::field_reassign_with_default)] // "a default terminal, then one change" reads best here

mod common;

use ccv_opi::{CardRequestType, Message, OriginalTransaction, OutDevice, OverallResult, ServiceRequestType};
use ccv_terminal::{
    CardEvent, Channel, DayState, Input, JournalOutcome, Output, TerminalConfig, TestCard, TransactionKind,
};
use common::{Harness, card_response, device_request, private_text, service_response};

fn journal_entries(outs: &[Output]) -> Vec<ccv_terminal::JournalEntry> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Journal(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn position(outs: &[Output], f: impl Fn(&Output) -> bool) -> usize {
    outs.iter().position(f).expect("output present")
}

#[test]
fn approved_payment_emits_displays_receipts_journal_then_response() {
    let mut h = Harness::default_terminal();
    let (outs, resp) = h.pay(1234);
    assert_eq!(resp.overall_result, OverallResult::Success);
    let auth = resp.tender.as_ref().and_then(|t| t.authorisation.clone()).unwrap();
    assert_eq!(auth.card_circuit.as_deref(), Some("MAESTRO"));
    assert_eq!(auth.card_pan.unwrap().as_str(), "670312******1234");
    assert_eq!(auth.approval_code.as_ref().map(String::len), Some(6));
    assert!(auth.receipt_number.is_some());
    // T0 is 10:00 UTC on a November day: 11:00 in Amsterdam (CET, UTC+1).
    assert!(auth.time_stamp.unwrap().as_str().starts_with("2026-11-28T11:00"));
    assert_eq!(resp.tender.clone().unwrap().total_amount.unwrap().minor_units, 1234);
    let term = resp.terminal.clone().unwrap();
    assert_eq!(term.terminal_id, "12345678");
    assert_eq!(term.stan.as_deref(), Some("000001"));
    assert!(private_text(&resp).contains("rule=default_approve"));
    // Device requests: displays, two receipts, EJournal.
    let devices: Vec<_> = outs.iter().filter_map(device_request).collect();
    let targets: Vec<OutDevice> =
        devices.iter().flat_map(|d| d.outputs.iter().map(|o| o.out_device_target)).collect();
    assert!(targets.contains(&OutDevice::CashierDisplay));
    assert!(targets.contains(&OutDevice::CustomerDisplay));
    assert_eq!(targets.iter().filter(|t| **t == OutDevice::Printer).count(), 2);
    assert!(targets.contains(&OutDevice::EJournal));
    let texts: Vec<String> = devices
        .iter()
        .flat_map(|d| d.outputs.iter().flat_map(|o| o.text_lines.iter().map(|l| l.text.clone())))
        .collect();
    assert!(texts.iter().any(|t| t == "PRESENT CARD"));
    assert!(texts.iter().any(|t| t == "APPROVED"));
    assert!(texts.iter().any(|t| t == "KLANTENTICKET"));
    assert!(texts.iter().any(|t| t == "HANDELARENTICKET"));
    // Journal before the response.
    let j = position(&outs, |o| matches!(o, Output::Journal(_)));
    let r =
        position(&outs, |o| matches!(o, Output::SendOpi { message: Message::CardServiceResponse(_), .. }));
    assert!(j < r);
    assert_eq!(h.t.day_totals().net_minor, 1234);
}

#[test]
fn magic_amounts_decide_and_name_their_rule() {
    let cases = [
        (1051, OverallResult::Failure, "magic_amount_51_decline"),
        (1052, OverallResult::Failure, "magic_amount_52_wrong_pin"),
        (1053, OverallResult::Aborted, "magic_amount_53_customer_cancel"),
        (1055, OverallResult::Aborted, "magic_amount_55_card_removed"),
        (1056, OverallResult::CommunicationError, "magic_amount_56_host_unreachable"),
        (1057, OverallResult::Failure, "magic_amount_57_partial_approval"),
    ];
    for (minor, result, rule) in cases {
        let mut h = Harness::default_terminal();
        let (outs, resp) = h.pay(minor);
        assert_eq!(resp.overall_result, result, "{minor}");
        assert!(private_text(&resp).contains(rule), "{minor}: {}", private_text(&resp));
        let entries = journal_entries(&outs);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].rule, rule);
        assert_eq!(h.t.day_totals().net_minor, 0, "{minor}: nothing approved");
    }
}

#[test]
fn magic_54_waits_for_the_card_time_out() {
    let mut h = Harness::default_terminal();
    let outs = h.send_card(CardRequestType::CardPayment, Some(1054));
    let mut all = h.answer_devices(outs, true);
    all.extend(h.advance(29_000));
    assert!(card_response(&all).is_none(), "still waiting for a card");
    let outs = h.advance(2_000);
    let all = h.answer_devices(outs, true);
    let resp = card_response(&all).unwrap();
    assert_eq!(resp.overall_result, OverallResult::TimedOut);
    assert!(private_text(&resp).contains("magic_amount_54_no_card"));
}

#[test]
fn partial_approval_when_the_pos_allows_it() {
    let mut h = Harness::default_terminal();
    let req = h.card_request(CardRequestType::CardPayment, Some(1057), Some("PartialAuthorisation=true"));
    let mut outs = h.feed(Input::Opi { channel: Channel::Tas, message: Message::CardServiceRequest(req) });
    outs.extend(h.advance(1_000));
    let all = h.answer_devices(outs, true);
    let resp = card_response(&all).unwrap();
    assert_eq!(resp.overall_result, OverallResult::Success);
    assert_eq!(resp.tender.unwrap().total_amount.unwrap().minor_units, 528);
    assert_eq!(journal_entries(&all)[0].outcome, JournalOutcome::PartiallyApproved);
    assert_eq!(h.t.day_totals().net_minor, 528);
}

#[test]
fn test_cards_decide_over_magic_amounts() {
    let cases = [
        (TestCard::Visa, OverallResult::Success, "VISA"),
        (TestCard::VPay, OverallResult::Success, "VPAY"),
        (TestCard::Mastercard, OverallResult::Success, "MASTERCARD"),
        (TestCard::VisaDeclined, OverallResult::Failure, "VISA"),
        (TestCard::MastercardInsufficientFunds, OverallResult::Failure, "MASTERCARD"),
        (TestCard::VisaHostUnreachable, OverallResult::CommunicationError, "VISA"),
    ];
    for (card, result, circuit) in cases {
        let mut h = Harness::default_terminal();
        // 10.51 would be declined by the magic table: an explicit card wins.
        let mut outs = h.send_card(CardRequestType::CardPayment, Some(1051));
        outs.extend(h.feed(Input::Card(CardEvent::Presented(card))));
        let all = h.answer_devices(outs, true);
        let resp = card_response(&all).unwrap();
        assert_eq!(resp.overall_result, result, "{card:?}");
        assert!(private_text(&resp).contains(&format!("test_card_{}", card.name())));
        assert_eq!(resp.card_value.unwrap().card_circuit.as_deref(), Some(circuit));
    }
}

#[test]
fn pin_cards_ask_for_the_pin_and_three_wrong_pins_decline() {
    let mut h = Harness::default_terminal();
    let mut outs = h.send_card(CardRequestType::CardPayment, Some(500));
    outs.extend(h.feed(Input::Card(CardEvent::Presented(TestCard::Bancontact))));
    assert!(h.screen_text().contains("VOER PINCODE IN"));
    outs.extend(h.feed(Input::Card(CardEvent::Pin("1234".into()))));
    let all = h.answer_devices(outs, true);
    assert_eq!(card_response(&all).unwrap().overall_result, OverallResult::Success);

    let mut h = Harness::default_terminal();
    let mut outs = h.send_card(CardRequestType::CardPayment, Some(500));
    outs.extend(h.feed(Input::Card(CardEvent::Presented(TestCard::Maestro))));
    for _ in 0..3 {
        outs.extend(h.feed(Input::Card(CardEvent::Pin("0000".into()))));
    }
    let all = h.answer_devices(outs, true);
    let resp = card_response(&all).unwrap();
    assert_eq!(resp.overall_result, OverallResult::Failure);
    assert!(private_text(&resp).contains("wrong_pin_three_times"));
}

#[test]
fn card_removed_and_customer_cancel_abort() {
    for ev in [CardEvent::Removed, CardEvent::CustomerCancel] {
        let mut h = Harness::default_terminal();
        let mut outs = h.send_card(CardRequestType::CardPayment, Some(500));
        outs.extend(h.feed(Input::Card(CardEvent::Presented(TestCard::Maestro))));
        outs.extend(h.feed(Input::Card(ev.clone())));
        let all = h.answer_devices(outs, true);
        assert_eq!(card_response(&all).unwrap().overall_result, OverallResult::Aborted, "{ev:?}");
    }
}

#[test]
fn busy_terminal_answers_busy() {
    let mut h = Harness::default_terminal();
    h.send_card(CardRequestType::CardPayment, Some(500));
    let outs = h.send_card(CardRequestType::CardPayment, Some(600));
    assert_eq!(card_response(&outs).unwrap().overall_result, OverallResult::Busy);
    let outs = h.send_service(ServiceRequestType::Reconciliation);
    assert_eq!(service_response(&outs).unwrap().overall_result, OverallResult::Busy);
}

#[test]
fn printer_failure_is_reported_and_the_transaction_kept() {
    let mut h = Harness::default_terminal();
    let mut outs = h.send_card(CardRequestType::CardPayment, Some(700));
    outs.extend(h.advance(1_000));
    let all = h.answer_devices(outs, false);
    let resp = card_response(&all).unwrap();
    assert_eq!(resp.overall_result, OverallResult::Success);
    assert!(private_text(&resp).contains("printer=DeviceUnavailable"), "{}", private_text(&resp));
    assert_eq!(h.t.day_totals().net_minor, 700);
}

#[test]
fn unanswered_device_requests_time_out_and_the_payment_completes() {
    let mut h = Harness::default_terminal();
    h.send_card(CardRequestType::CardPayment, Some(700));
    let outs = h.advance(120_000);
    let resp = card_response(&outs).unwrap();
    assert_eq!(resp.overall_result, OverallResult::Success);
    assert!(private_text(&resp).contains("printer=TimedOut"));
}

#[test]
fn refund_and_reversal_update_the_totals() {
    let mut h = Harness::default_terminal();
    h.pay(2000);
    let mut outs = h.send_card(CardRequestType::PaymentRefund, Some(500));
    outs.extend(h.advance(1_000));
    let all = h.answer_devices(outs, true);
    assert_eq!(card_response(&all).unwrap().overall_result, OverallResult::Success);
    assert_eq!(journal_entries(&all)[0].kind, TransactionKind::Refund);
    assert_eq!(h.t.day_totals().net_minor, 1500);
    // The last approved transaction is the refund: nothing to reverse.
    let outs = h.send_card(CardRequestType::PaymentReversal, Some(2000));
    let all = h.answer_devices(outs, true);
    assert!(private_text(&card_response(&all).unwrap()).contains("reversal_nothing_to_reverse"));
    h.pay(3000);
    let outs = h.send_card(CardRequestType::PaymentReversal, Some(3000));
    let all = h.answer_devices(outs, true);
    let resp = card_response(&all).unwrap();
    assert_eq!(resp.overall_result, OverallResult::Success, "{}", private_text(&resp));
    let e = &journal_entries(&all)[0];
    assert_eq!(e.kind, TransactionKind::Reversal);
    assert_eq!(e.reverses_stan, Some(3));
    assert_eq!(h.t.day_totals().net_minor, 1500);
    // The reversal is booked under the reversed payment's card circuit, with its masked card number.
    let paid =
        h.t.day_totals().circuits.iter().find(|c| c.payments_minor >= 3000).expect("the payment's circuit");
    assert_eq!(Some(&paid.card_circuit), e.card_circuit.as_ref(), "{:?}", h.t.day_totals());
    // Both payments were on the same test card: the 5.00 refund and the 30.00 reversal are its credits.
    assert_eq!((paid.credits, paid.credits_minor), (2, 3500), "{:?}", h.t.day_totals());
    assert!(e.card_pan.is_some());
    assert!(h.t.day_totals().circuits.iter().all(|c| c.card_circuit != "ONBEKEND"), "{:?}", h.t.day_totals());
    let outs = h.send_card(CardRequestType::PaymentReversal, Some(3000));
    assert_eq!(card_response(&outs).unwrap().overall_result, OverallResult::Failure, "only once");
}

#[test]
fn reversal_needs_the_same_amount_and_the_last_stan() {
    let mut h = Harness::default_terminal();
    h.pay(2000);
    let outs = h.send_card(CardRequestType::PaymentReversal, Some(1999));
    assert!(private_text(&card_response(&outs).unwrap()).contains("reversal_amount_mismatch"));
    let mut req = h.card_request(CardRequestType::PaymentReversal, Some(2000), None);
    req.original_transaction =
        Some(OriginalTransaction { stan: Some("000099".into()), ..Default::default() });
    let outs = h.feed(Input::Opi { channel: Channel::Tas, message: Message::CardServiceRequest(req) });
    assert!(private_text(&card_response(&outs).unwrap()).contains("reversal_not_last_transaction"));
    assert_eq!(h.t.day_totals().net_minor, 2000);
}

#[test]
fn abort_request_aborts_a_waiting_payment() {
    let mut h = Harness::default_terminal();
    let first = h.send_card(CardRequestType::CardPayment, Some(800));
    let abort = h.card_request(CardRequestType::AbortRequest, None, None);
    let abort_id = abort.header.request_id.clone();
    let mut outs = first;
    outs.extend(h.feed(Input::Opi { channel: Channel::Tas, message: Message::CardServiceRequest(abort) }));
    let all = h.answer_devices(outs, true);
    let responses: Vec<_> = all
        .iter()
        .filter_map(|o| match o {
            Output::SendOpi { message: Message::CardServiceResponse(r), .. } => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(responses.len(), 2);
    let abort_resp = responses.iter().find(|r| r.header.request_id == abort_id).unwrap();
    assert_eq!(abort_resp.overall_result, OverallResult::Success);
    let pay_resp = responses.iter().find(|r| r.header.request_id != abort_id).unwrap();
    assert_eq!(pay_resp.overall_result, OverallResult::Aborted);
    let outs = h.send_card(CardRequestType::AbortRequest, None);
    assert_eq!(card_response(&outs).unwrap().overall_result, OverallResult::Failure);
}

#[test]
fn bad_requests_get_typed_results() {
    let mut h = Harness::default_terminal();
    let outs = h.send_card(CardRequestType::CardPayment, None);
    assert_eq!(card_response(&outs).unwrap().overall_result, OverallResult::MissingMandatoryData);
    let outs = h.send_card(CardRequestType::CardPayment, Some(0));
    assert_eq!(card_response(&outs).unwrap().overall_result, OverallResult::ValidationError);
    let mut req = h.card_request(CardRequestType::CardPayment, Some(100), None);
    req.total_amount = Some(ccv_opi::Amount::new(100, ccv_opi::Currency::new("USD").unwrap()));
    let outs = h.feed(Input::Opi { channel: Channel::Tas, message: Message::CardServiceRequest(req) });
    assert_eq!(card_response(&outs).unwrap().overall_result, OverallResult::ValidationError);
    let outs = h.send_card(CardRequestType::CardReservation, Some(100));
    assert!(private_text(&card_response(&outs).unwrap()).contains("unsupported_request_type"));
}

#[test]
fn login_is_required_when_the_profile_says_so() {
    let mut c = TerminalConfig::default();
    c.profile.require_login = true;
    let mut h = Harness::new(c);
    let outs = h.send_card(CardRequestType::CardPayment, Some(100));
    assert_eq!(card_response(&outs).unwrap().overall_result, OverallResult::Loggedout);
    let outs = h.send_service(ServiceRequestType::Login);
    assert_eq!(service_response(&outs).unwrap().overall_result, OverallResult::Success);
    let (_, resp) = h.pay(100);
    assert_eq!(resp.overall_result, OverallResult::Success);
    h.send_service(ServiceRequestType::Logoff);
    let outs = h.send_card(CardRequestType::CardPayment, Some(100));
    assert_eq!(card_response(&outs).unwrap().overall_result, OverallResult::Loggedout);
}

#[test]
fn reconciliation_reports_totals_and_closure_closes_the_day() {
    let mut h = Harness::default_terminal();
    h.pay(1000);
    h.pay(2500);
    let outs = h.send_service(ServiceRequestType::Reconciliation);
    let resp = service_response(&outs).unwrap();
    let rec = resp.reconciliation.unwrap();
    assert_eq!(rec.totals.len(), 1);
    assert_eq!(rec.totals[0].number_payments, Some(2));
    assert_eq!(rec.totals[0].amount.minor_units, 3500);
    assert_eq!(h.t.config().day, DayState::Open);
    let outs = h.send_service(ServiceRequestType::ReconciliationWithClosure);
    assert_eq!(service_response(&outs).unwrap().overall_result, OverallResult::Success);
    assert_eq!(h.t.config().day, DayState::ClosedByPos);
    assert_eq!(h.t.day_totals().net_minor, 0);
    // A day closed by the POS reopens with the next transaction.
    let (_, resp) = h.pay(100);
    assert_eq!(resp.overall_result, OverallResult::Success);
    assert_eq!(h.t.config().day, DayState::Open);
}

#[test]
fn diagnosis_request_reports_the_checklist() {
    let mut h = Harness::default_terminal();
    let outs = h.send_service(ServiceRequestType::Diagnosis);
    let resp = service_response(&outs).unwrap();
    assert_eq!(resp.overall_result, OverallResult::Failure);
    assert!(resp.private_data.unwrap().0.contains("mqtt_down"));
}

#[test]
fn day_closed_by_hand_refuses_payments() {
    let mut c = TerminalConfig::default();
    c.day = DayState::ClosedByHand;
    let mut h = Harness::new(c);
    let outs = h.send_card(CardRequestType::CardPayment, Some(100));
    let resp = card_response(&outs).unwrap();
    assert_eq!(resp.overall_result, OverallResult::Failure);
    assert!(private_text(&resp).contains("day_closed"));
}

#[test]
fn tas_link_lost_mid_payment_keeps_the_journal() {
    let mut h = Harness::default_terminal();
    h.feed(Input::LocalKick(ccv_terminal::LocalKick {
        source: "p".into(),
        port: 4105,
        reference: None,
        tas: None,
    }));
    h.feed(Input::Tas(ccv_terminal::TasEvent::Connected));
    h.pay(1000);
    h.send_card(CardRequestType::CardPayment, Some(2000));
    let outs = h.feed(Input::Tas(ccv_terminal::TasEvent::Disconnected));
    let e = journal_entries(&outs);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].outcome, JournalOutcome::Aborted);
    assert!(!h.t.in_transaction());
    assert_eq!(h.t.day_totals().net_minor, 1000);
}

#[test]
fn local_channels_send_device_requests_on_channel_1() {
    let mut h = Harness::default_terminal();
    let req = h.card_request(CardRequestType::CardPayment, Some(100), None);
    let outs = h.feed(Input::Opi { channel: Channel::Pos0, message: Message::CardServiceRequest(req) });
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::SendOpi { channel: Channel::Pos1, message: Message::DeviceRequest(_) }
    )));
}

#[test]
fn same_seed_same_outputs() {
    let run = || {
        let mut h = Harness::default_terminal();
        let (outs, _) = h.pay(4321);
        serde_json::to_string(&outs).unwrap()
    };
    assert_eq!(run(), run());
}
