//! Golden fixtures: one test per file under `fixtures/opi/`.
//!
//! A valid fixture `NAME.xml` must decode; its canonical form (pretty UTF-8) is compared with
//! `NAME.canonical.xml` and its JSON with `NAME.json`; the canonical form, the compact form and
//! the ISO-8859-1 form must all decode back to the same message, and so must the JSON.
//! An invalid fixture `invalid/NAME.xml` must fail; the error text, its `OverallResult` and the
//! error response are compared with `invalid/NAME.expected`.
//!
//! `UPDATE_GOLDEN=1 cargo test -p ccv-opi --test golden` rewrites the expected files.

use std::path::{Path, PathBuf};

use ccv_opi::{EncodeOptions, Encoding, Message, decode, encode, encode_with, error_response};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/opi")
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1")
}

fn check_expected(path: &Path, actual: &[u8]) {
    if updating() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 to create it)", path.display()));
    assert!(
        expected == actual,
        "{} differs (UPDATE_GOLDEN=1 rewrites it)\n--- expected\n{}\n--- actual\n{}",
        path.display(),
        String::from_utf8_lossy(&expected),
        String::from_utf8_lossy(actual)
    );
}

fn valid(name: &str) {
    let input = std::fs::read(dir().join(format!("{name}.xml"))).unwrap();
    let message = decode(&input).unwrap_or_else(|e| panic!("{name}.xml does not decode: {e}"));

    let canonical = encode_with(&message, EncodeOptions { encoding: Encoding::Utf8, pretty: true });
    check_expected(&dir().join(format!("{name}.canonical.xml")), &canonical);
    let mut json = serde_json::to_string_pretty(&message).unwrap();
    json.push('\n');
    check_expected(&dir().join(format!("{name}.json")), json.as_bytes());

    assert_eq!(decode(&canonical).unwrap(), message, "canonical form of {name}");
    for encoding in [Encoding::Utf8, Encoding::Iso8859_1] {
        assert_eq!(decode(&encode(&message, encoding)).unwrap(), message, "{encoding:?} form of {name}");
    }
    assert_eq!(serde_json::from_str::<Message>(&json).unwrap(), message, "JSON of {name}");
}

fn invalid(name: &str) {
    let input = std::fs::read(dir().join(format!("invalid/{name}.xml"))).unwrap();
    let err = match decode(&input) {
        Ok(m) => panic!("invalid/{name}.xml decoded: {m:?}"),
        Err(e) => e,
    };
    let response = match error_response(&err) {
        Some(m) => {
            String::from_utf8(encode_with(&m, EncodeOptions { encoding: Encoding::Utf8, pretty: true }))
                .unwrap()
        }
        None => "none\n".to_owned(),
    };
    let actual = format!("error: {err}\nOverallResult: {}\nresponse:\n{response}", err.overall_result());
    check_expected(&dir().join(format!("invalid/{name}.expected")), actual.as_bytes());
}

macro_rules! golden {
    (valid: [$($v:ident),* $(,)?], invalid: [$($i:ident),* $(,)?] $(,)?) => {
        mod valid {
            $(#[test] fn $v() { super::valid(stringify!($v)); })*
        }
        mod invalid {
            $(#[test] fn $i() { super::invalid(stringify!($i)); })*
        }
        const VALID: &[&str] = &[$(stringify!($v)),*];
        const INVALID: &[&str] = &[$(stringify!($i)),*];
    };
}

golden! {
    valid: [
        card_abort_request,
        card_abort_response,
        card_payment_request,
        card_payment_response_declined,
        card_payment_response_success,
        card_reservation_request,
        device_abort_input_request,
        device_abort_output_request,
        device_event_request,
        device_input_request,
        device_input_response,
        device_input_response_timed_out,
        device_output_cashier_display_request,
        device_output_customer_display_request,
        device_output_ejournal_request,
        device_output_journal_printer_request,
        device_output_printer_request,
        device_output_receipt_request,
        device_output_response,
        device_output_response_partial,
        device_output_response_unavailable,
        device_secure_input_request,
        foreign_entities_and_cdata,
        foreign_indented_text_and_tabs,
        foreign_iso8859_1_receipt,
        foreign_no_namespace_no_declaration,
        foreign_prefixed_namespace,
        foreign_reordered_attributes,
        foreign_single_quotes,
        foreign_unknown_elements_and_xsi,
        foreign_utf8_bom,
        payment_refund_request,
        payment_refund_response,
        payment_reversal_request,
        service_abort_request,
        service_diagnosis_request,
        service_diagnosis_response,
        service_get_last_transaction_status_request,
        service_login_request,
        service_login_response,
        service_login_response_busy,
        service_logoff_request,
        service_logoff_response,
        service_logoff_response_loggedout,
        service_reconciliation_request,
        service_reconciliation_with_closure_request,
        service_reconciliation_with_closure_response,
        ticket_reprint_request,
        ticket_reprint_response,
    ],
    invalid: [
        bad_amount_comma,
        billion_laughs,
        bad_amount_negative,
        bad_amount_too_many_decimals,
        bad_currency,
        bad_text_line_row,
        bad_time_stamp,
        duplicate_attribute,
        empty,
        invalid_utf8,
        mismatched_end_tag,
        missing_currency,
        missing_out_device_target,
        missing_overall_result,
        missing_request_id,
        missing_total_amount,
        not_xml,
        too_deep,
        two_roots,
        unclosed_element,
        unknown_entity,
        unknown_request_type,
        unknown_root,
        unmasked_pan,
        unsupported_encoding,
    ],
}

/// Every fixture file has a generated test above, and every test has its file.
#[test]
fn every_fixture_file_has_a_test() {
    let list = |sub: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir().join(sub))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".xml") && !n.ends_with(".canonical.xml"))
            .map(|n| n.trim_end_matches(".xml").to_owned())
            .collect();
        names.sort();
        names
    };
    let sorted = |s: &[&str]| {
        let mut v: Vec<String> = s.iter().map(|x| x.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(list("."), sorted(VALID), "fixtures/opi/*.xml vs the valid list in tests/golden.rs");
    assert_eq!(list("invalid"), sorted(INVALID), "fixtures/opi/invalid/*.xml vs the invalid list");
}

/// The fuzz target bodies run over every fixture (and every expected form) on stable.
#[test]
fn fuzz_bodies_run_over_the_fixtures() {
    let mut count = 0;
    for sub in [".", "invalid"] {
        for entry in std::fs::read_dir(dir().join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                ccv_opi::fuzz::xml(&bytes);
                let mut framed = Vec::new();
                if ccv_opi::encode_frame(&bytes, 4096, &mut framed).is_ok() {
                    framed.extend_from_slice(&framed.clone());
                    ccv_opi::fuzz::frames(&framed);
                }
                ccv_opi::fuzz::frames(&bytes);
                count += 1;
            }
        }
    }
    assert!(count > 70, "only {count} fixture files found");
}
