//! How a terminal's OPI outcome becomes a transaction's status, failure code and receipts (the table is in
//! `docs/PAYMENT_API.md`).
//!
//! | TAS result | status | failureCode |
//! |---|---|---|
//! | `OverallResult` `Success` | `success` | |
//! | `Failure` with action code `51` | `failed` | `insufficient_funds` |
//! | `Failure` with action code `05`, `54` (and other issuer refusals) | `failed` | `card_refused` |
//! | `Failure` without an action code | `failed` | `rejected` |
//! | `Aborted` (customer STOP, POS abort) | `failed` | `cancelled` |
//! | `TimedOut` (no card presented) | `failed` | `expired` |
//! | `CommunicationError` (issuer unreachable), anything else | `failed` | `processing_error` |
//! | `PartialFailure` | `manualintervention` | |
//! | no final answer (terminal lost, time-out) | `manualintervention` | |

use ccv_tas::{Outcome, TransactionResult};

use crate::model::{FailureCode, PaymentStatus};
use crate::store::{Receipts, StatusUpdate};

/// The status change a TAS result makes.
pub fn settle(result: &TransactionResult) -> StatusUpdate {
    let receipts = Some(receipts(result));
    let overall = result.overall_result.as_deref();
    let (status, code, message) = match (result.outcome, overall) {
        (Outcome::Completed, Some("Success")) => (PaymentStatus::Success, None, None),
        (Outcome::Completed, Some("PartialFailure")) => (
            PaymentStatus::ManualIntervention,
            None,
            Some("the terminal approved only part of the amount; check the terminal's journal".to_owned()),
        ),
        (Outcome::Completed, Some(overall)) => {
            let code = failure_code(overall, action_code(result));
            let message = match action_code(result) {
                Some(ac) => format!("the terminal answered {overall} (action code {ac})"),
                None => format!("the terminal answered {overall}"),
            };
            (PaymentStatus::Failed, Some(code), Some(message))
        }
        (Outcome::Completed, None) | (Outcome::Unknown, _) => {
            let why = result.reason.as_deref().unwrap_or("no final answer");
            (
                PaymentStatus::ManualIntervention,
                None,
                Some(format!(
                    "the outcome on terminal {} is unknown ({why}); check the terminal's journal before retrying",
                    result.tms_id
                )),
            )
        }
    };
    StatusUpdate { status: Some(status), failure_code: code, receipts, failure_message: message }
}

/// The true outcome of a transaction whose response was lost (`lost_request_id`), from the terminal's answer
/// to `GetLastTransactionStatus` (its `PrivateData`: `last_stan=000012; kind=payment; outcome=approved;
/// approved=1250; rule=...; request_id=7`). `None` when the terminal's last transaction is another one: then
/// nobody can tell, and the transaction stays for a person to check.
pub fn from_last_status(private_data: &str, lost_request_id: &str) -> Option<StatusUpdate> {
    let field = |name: &str| {
        private_data.split(';').map(str::trim).find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    if field("request_id")? != lost_request_id || lost_request_id.is_empty() {
        return None;
    }
    let stan = field("last_stan").unwrap_or("?");
    let (status, code) = match field("outcome")? {
        "approved" => (PaymentStatus::Success, None),
        "partiallyapproved" => (PaymentStatus::ManualIntervention, None),
        "declined" => (PaymentStatus::Failed, Some(FailureCode::CardRefused)),
        "aborted" => (PaymentStatus::Failed, Some(FailureCode::Cancelled)),
        "timedout" => (PaymentStatus::Failed, Some(FailureCode::Expired)),
        _ => (PaymentStatus::Failed, Some(FailureCode::ProcessingError)),
    };
    let message = format!(
        "the terminal's answer was lost; its last transaction status (STAN {stan}, {}) settled the outcome",
        field("outcome").unwrap_or("?")
    );
    Some(StatusUpdate {
        status: Some(status),
        failure_code: code,
        receipts: None,
        failure_message: (status != PaymentStatus::Success).then_some(message),
    })
}

fn action_code(result: &TransactionResult) -> Option<&str> {
    result.authorisation.get("actionCode").and_then(|v| v.as_str()).filter(|ac| *ac != "00")
}

/// The failure code of a final OPI answer other than `Success`.
pub fn failure_code(overall_result: &str, action_code: Option<&str>) -> FailureCode {
    match (overall_result, action_code) {
        ("Failure", Some("51")) => FailureCode::InsufficientFunds,
        ("Failure", Some(_)) => FailureCode::CardRefused,
        ("Failure", None) => FailureCode::Rejected,
        ("Aborted", _) => FailureCode::Cancelled,
        ("TimedOut", _) => FailureCode::Expired,
        _ => FailureCode::ProcessingError,
    }
}

/// The receipts as CCV returns them: the printed copies told apart by their copy line (`KLANTENTICKET` /
/// `Kopie Customer` for the customer, `HANDELARENTICKET` / `Kopie Merchant` for the merchant; an unmarked one
/// is the customer's first), the electronic journal as the journal receipt.
pub fn receipts(result: &TransactionResult) -> Receipts {
    let mut out = Receipts::default();
    for receipt in &result.receipts {
        let lines: Vec<String> = receipt.text.lines().map(str::to_owned).collect();
        let marked = |words: &[&str]| {
            lines.iter().any(|l| {
                let l = l.trim().to_ascii_lowercase();
                words.iter().any(|w| l.contains(w))
            })
        };
        match receipt.target.as_str() {
            "EJournal" | "JournalPrinter" => out.journal.get_or_insert_with(Vec::new).extend(lines),
            _ if marked(&["handelarenticket", "kopie merchant"]) => out.merchant = Some(lines),
            _ if marked(&["klantenticket", "kopie customer"]) || out.customer.is_none() => {
                out.customer = Some(lines)
            }
            _ => out.merchant = Some(lines),
        }
    }
    out.print_customer_receipt = Some(out.customer.is_some());
    out.ask_customer_signature = Some(false);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccv_tas::Receipt;

    fn result(outcome: Outcome, overall: Option<&str>, action: Option<&str>) -> TransactionResult {
        let mut authorisation = serde_json::Map::new();
        if let Some(ac) = action {
            authorisation.insert("actionCode".into(), ac.into());
        }
        TransactionResult {
            tms_id: "29000123".into(),
            request_type: "CardPayment".into(),
            request_id: "1".into(),
            outcome,
            overall_result: overall.map(str::to_owned),
            reason: (outcome == Outcome::Unknown).then(|| "terminal_disconnected".to_owned()),
            amount: Some("12.50".into()),
            currency: Some("EUR".into()),
            authorisation,
            receipts: vec![
                Receipt { target: "Printer".into(), text: "Kopie Merchant\nTotaal".into(), printed: true },
                Receipt { target: "Printer".into(), text: "Kopie Customer\nTotaal".into(), printed: true },
                Receipt { target: "EJournal".into(), text: "STAN 000001".into(), printed: true },
            ],
            display_texts: Vec::new(),
            duration_ms: 5,
        }
    }

    #[test]
    fn the_documented_table() {
        let cases = [
            (Outcome::Completed, Some("Success"), None, PaymentStatus::Success, None),
            (Outcome::Completed, Some("Success"), Some("00"), PaymentStatus::Success, None),
            (
                Outcome::Completed,
                Some("Failure"),
                Some("51"),
                PaymentStatus::Failed,
                Some(FailureCode::InsufficientFunds),
            ),
            (
                Outcome::Completed,
                Some("Failure"),
                Some("05"),
                PaymentStatus::Failed,
                Some(FailureCode::CardRefused),
            ),
            (
                Outcome::Completed,
                Some("Failure"),
                Some("54"),
                PaymentStatus::Failed,
                Some(FailureCode::CardRefused),
            ),
            (Outcome::Completed, Some("Failure"), None, PaymentStatus::Failed, Some(FailureCode::Rejected)),
            (Outcome::Completed, Some("Aborted"), None, PaymentStatus::Failed, Some(FailureCode::Cancelled)),
            (Outcome::Completed, Some("TimedOut"), None, PaymentStatus::Failed, Some(FailureCode::Expired)),
            (
                Outcome::Completed,
                Some("CommunicationError"),
                None,
                PaymentStatus::Failed,
                Some(FailureCode::ProcessingError),
            ),
            (Outcome::Completed, Some("PartialFailure"), None, PaymentStatus::ManualIntervention, None),
            (Outcome::Unknown, None, None, PaymentStatus::ManualIntervention, None),
        ];
        for (outcome, overall, action, status, code) in cases {
            let update = settle(&result(outcome, overall, action));
            assert_eq!(update.status, Some(status), "{overall:?} {action:?}");
            assert_eq!(update.failure_code, code, "{overall:?} {action:?}");
            assert_eq!(update.failure_message.is_some(), status != PaymentStatus::Success);
        }
        let unknown = settle(&result(Outcome::Unknown, None, None));
        assert!(unknown.failure_message.expect("a message").contains("terminal_disconnected"));
    }

    #[test]
    fn the_last_transaction_status_settles_only_its_own_request() {
        let pd = "last_stan=000007; kind=payment; outcome=approved; approved=1250; rule=default_approve; request_id=R7";
        assert_eq!(from_last_status(pd, "R7").and_then(|u| u.status), Some(PaymentStatus::Success));
        assert_eq!(from_last_status(pd, "R8"), None, "another transaction settles nothing");
        assert_eq!(from_last_status(pd, ""), None);
        assert_eq!(from_last_status("last=none", "R7"), None);
        let declined = pd.replace("approved;", "declined;");
        let u = from_last_status(&declined, "R7").expect("settled");
        assert_eq!((u.status, u.failure_code), (Some(PaymentStatus::Failed), Some(FailureCode::CardRefused)));
        let timed_out = pd.replace("outcome=approved", "outcome=timedout");
        let u = from_last_status(&timed_out, "R7").expect("settled");
        assert_eq!(u.failure_code, Some(FailureCode::Expired));
        assert!(u.failure_message.expect("message").contains("STAN 000007"));
    }

    #[test]
    fn receipts_by_their_copy_line() {
        let r = receipts(&result(Outcome::Completed, Some("Success"), None));
        assert_eq!(r.customer.as_deref(), Some(&["Kopie Customer".to_owned(), "Totaal".to_owned()][..]));
        assert_eq!(r.merchant.as_deref(), Some(&["Kopie Merchant".to_owned(), "Totaal".to_owned()][..]));
        assert_eq!(r.journal.as_deref(), Some(&["STAN 000001".to_owned()][..]));
        assert_eq!(r.print_customer_receipt, Some(true));
    }
}
