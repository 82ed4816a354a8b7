//! Request checks: CCV's documented bodies are accepted, each broken field is named, and no input panics.

use ccv_opi::{Amount, Currency};
use ccv_vpos::validate::{canonical_body_hash, parse_payment, parse_refund};
use ccv_vpos::{ApiError, CloudTms, ErrorType, Kick, OperatingEnvironment};
use ccv_wire::HostPort;
use proptest::prelude::*;
use serde_json::{Value, json};

/// The create body of CCV's documentation.
fn ccv_example() -> Value {
    json!({"amount": 9.99, "currency": "eur", "method": "terminal",
     "returnUrl": "https://shop.example/return?order=123456", "webhookUrl": "https://shop.example/payhook?order=123456",
     "merchantOrderReference": "123456", "description": "Order 123456", "language": "eng",
     "details": {"terminalId": "1234536", "managementSystemId": "GrundmasterNL", "accessProtocol": "OPI_NL",
                 "ip": "192.168.1.50", "port": 4105, "operatingEnvironment": "ATTENDED", "merchantLanguage": "NLD"}})
}

fn parse(v: &Value) -> Result<ccv_vpos::PaymentOrder, ApiError> {
    parse_payment(v.to_string().as_bytes())
}

fn field_error(v: &Value) -> (ErrorType, Option<String>) {
    let e = parse(v).expect_err("refused");
    (e.kind, e.field)
}

#[test]
fn ccvs_documented_body_is_a_cloud_kick_payment() {
    let order = parse(&ccv_example()).expect("valid");
    assert_eq!(order.amount, Amount::new(999, Currency::EUR));
    assert_eq!(order.terminal.terminal_id, "1234536");
    assert_eq!(order.terminal.kick, Kick::Cloud { tms: CloudTms::GrundmasterNl });
    assert_eq!(order.terminal.kick.wake_up_type(), "CLOUD_CONNECT");
    assert_eq!(order.terminal.operating_environment, OperatingEnvironment::Attended);
    assert_eq!(order.terminal.merchant_language.as_deref(), Some("NLD"));
    assert_eq!(order.texts.language.as_deref(), Some("eng"));
    assert_eq!(order.texts.merchant_order_reference.as_deref(), Some("123456"));
}

#[test]
fn amount_as_string_or_number_and_currency_in_any_case() {
    for (amount, minor) in
        [(json!("12.50"), 1250), (json!(12.5), 1250), (json!(12), 1200), (json!("0.01"), 1)]
    {
        let mut v = ccv_example();
        v["amount"] = amount.clone();
        v["currency"] = json!("EuR");
        assert_eq!(parse(&v).expect("valid").amount, Amount::new(minor, Currency::EUR), "{amount}");
    }
    let mut v = ccv_example();
    v["amount"] = json!("1000");
    v["currency"] = json!("jpy");
    assert_eq!(parse(&v).expect("valid").amount, Amount::new(1000, Currency::new("JPY").unwrap()));
}

#[test]
fn cloud_connect_1_needs_ip_and_port_and_kicks_locally() {
    let mut v = ccv_example();
    v["details"]["managementSystemId"] = json!("08900000002");
    let order = parse(&v).expect("valid");
    assert_eq!(order.terminal.kick, Kick::Local { terminal: HostPort::new("192.168.1.50", 4105) });
    assert_eq!(order.terminal.kick.management_system_id(), "08900000002");

    // R2's field name for the terminal id, and a port as a string.
    let mut v = ccv_example();
    let d = v["details"].as_object_mut().unwrap();
    d.remove("terminalId");
    d.insert("betaalterminalId".into(), json!("87654321"));
    d.insert("managementSystemId".into(), json!("08900000002"));
    d.insert("port".into(), json!("4105"));
    assert_eq!(parse(&v).expect("valid").terminal.terminal_id, "87654321");

    for missing in ["ip", "port"] {
        let mut v = ccv_example();
        v["details"]["managementSystemId"] = json!("08900000002");
        v["details"].as_object_mut().unwrap().remove(missing);
        assert_eq!(field_error(&v), (ErrorType::InvalidRequest, Some(format!("details.{missing}"))));
    }
    // A cloud kick needs neither.
    let mut v = ccv_example();
    v["details"]["managementSystemId"] = json!("GrundmasterBE");
    v["details"].as_object_mut().unwrap().remove("ip");
    v["details"].as_object_mut().unwrap().remove("port");
    assert_eq!(parse(&v).expect("valid").terminal.kick, Kick::Cloud { tms: CloudTms::GrundmasterBe });
}

#[test]
fn each_bad_field_is_named() {
    type Breaker = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Breaker)> = vec![
        ("amount", Box::new(|v| v["amount"] = json!("12.345"))),
        ("amount", Box::new(|v| v["amount"] = json!(0))),
        ("amount", Box::new(|v| v["amount"] = json!(-5))),
        ("amount", Box::new(|v| v["amount"] = json!("1e3"))),
        ("amount", Box::new(|v| v["amount"] = json!("100000000000"))),
        ("amount", Box::new(|v| v["amount"] = json!(true))),
        ("amount", Box::new(|v| drop(v.as_object_mut().unwrap().remove("amount")))),
        ("currency", Box::new(|v| v["currency"] = json!("euro"))),
        ("currency", Box::new(|v| drop(v.as_object_mut().unwrap().remove("currency")))),
        ("method", Box::new(|v| v["method"] = json!("ideal"))),
        ("method", Box::new(|v| drop(v.as_object_mut().unwrap().remove("method")))),
        ("details", Box::new(|v| drop(v.as_object_mut().unwrap().remove("details")))),
        ("details.terminalId", Box::new(|v| v["details"]["terminalId"] = json!("12/34"))),
        ("details.terminalId", Box::new(|v| v["details"]["terminalId"] = json!("1".repeat(33)))),
        (
            "details.terminalId",
            Box::new(|v| drop(v["details"].as_object_mut().unwrap().remove("terminalId"))),
        ),
        (
            "details.managementSystemId",
            Box::new(|v| v["details"]["managementSystemId"] = json!("Grundmaster")),
        ),
        ("details.accessProtocol", Box::new(|v| v["details"]["accessProtocol"] = json!("OPI_DE"))),
        (
            "details.accessProtocol",
            Box::new(|v| drop(v["details"].as_object_mut().unwrap().remove("accessProtocol"))),
        ),
        ("details.operatingEnvironment", Box::new(|v| v["details"]["operatingEnvironment"] = json!("KIOSK"))),
        ("details.merchantLanguage", Box::new(|v| v["details"]["merchantLanguage"] = json!("nl"))),
        ("details.port", Box::new(|v| v["details"]["port"] = json!([1]))),
        ("language", Box::new(|v| v["language"] = json!("english"))),
        ("returnUrl", Box::new(|v| v["returnUrl"] = json!("ftp://x"))),
        ("webhookUrl", Box::new(|v| v["webhookUrl"] = json!("https:///path"))),
        ("description", Box::new(|v| v["description"] = json!("x".repeat(256)))),
        ("merchantOrderReference", Box::new(|v| v["merchantOrderReference"] = json!("a\u{0}b"))),
        ("description", Box::new(|v| v["description"] = json!(5))),
        ("details.terminalId", Box::new(|v| v["details"]["terminalId"] = json!(null))),
    ];
    for (field, break_it) in cases {
        let mut v = ccv_example();
        break_it(&mut v);
        let e = parse(&v).expect_err(field);
        assert_eq!((e.kind, e.field.as_deref()), (ErrorType::InvalidRequest, Some(field)), "{v}: {e}");
        assert!(e.message.contains(field), "{e}");
    }
}

#[test]
fn the_error_body_has_one_shape() {
    let mut v = ccv_example();
    v["details"]["managementSystemId"] = json!("NOPE");
    let e = parse(&v).expect_err("refused");
    let body: Value = serde_json::from_str(&e.to_json()).expect("JSON");
    assert_eq!(body["type"], "invalid_request");
    assert_eq!(body["field"], "details.managementSystemId");
    assert!(body["message"].as_str().unwrap().contains("GrundmasterNL"));
    assert!(body.get("reference").is_none());
    assert_eq!(e.http_status(), 400);

    let e = parse_payment(b"[1, 2]").expect_err("not an object");
    assert_eq!((e.kind, e.field), (ErrorType::InvalidRequest, None));
    let e = parse_payment(b"{} trailing").expect_err("trailing");
    assert_eq!(e.kind, ErrorType::InvalidRequest);
    let e = parse_payment(&vec![b' '; 20_000]).expect_err("too big");
    assert_eq!((e.kind, e.http_status()), (ErrorType::PayloadTooLarge, 413));
}

#[test]
fn refunds_name_the_original_and_check_a_partial_amount_against_it() {
    let r = parse_refund(br#"{"reference": "TL260414072854599CB87E19B", "amount": "5.00"}"#).expect("valid");
    assert_eq!(r.reference, "TL260414072854599CB87E19B");
    assert!(r.terminal.is_none());
    let paid = Amount::new(999, Currency::EUR);
    assert_eq!(r.amount_for(paid).unwrap(), Amount::new(500, Currency::EUR));
    let r = parse_refund(br#"{"reference": "TL1", "amount": 10}"#).expect("valid syntax");
    assert_eq!(r.amount_for(paid).expect_err("more than paid").field.as_deref(), Some("amount"));
    let r = parse_refund(br#"{"reference": "TL1"}"#).expect("valid");
    assert_eq!(r.amount_for(paid).unwrap(), paid);
    let r = parse_refund(br#"{"reference": "TL1", "amount": "1.5"}"#).expect("valid");
    assert_eq!(
        r.amount_for(Amount::new(10, Currency::new("JPY").unwrap())).expect_err("JPY").field.as_deref(),
        Some("amount")
    );
    let details = ccv_example()["details"].clone();
    let body = json!({"reference": "TL1", "details": details});
    assert!(parse_refund(body.to_string().as_bytes()).unwrap().terminal.is_some());
    for (body, field) in [
        (json!({}), "reference"),
        (json!({"reference": "TL 1"}), "reference"),
        (json!({"reference": "TL1", "amount": "-1"}), "amount"),
        (json!({"reference": "TL1", "amount": "1.0001"}), "amount"),
        (json!({"reference": "TL1", "details": {"terminalId": "1"}}), "details.managementSystemId"),
    ] {
        let e = parse_refund(body.to_string().as_bytes()).expect_err("refused");
        assert_eq!(e.field.as_deref(), Some(field), "{body}: {e}");
    }
}

#[test]
fn the_canonical_hash_ignores_layout_but_not_content() {
    let a = canonical_body_hash(
        "payment",
        br#"{"amount": 1, "currency": "EUR", "details": {"b": 1, "a": null}}"#,
    )
    .unwrap();
    let b = canonical_body_hash("payment", br#"{"details":{"a":null,"b":1},"currency":"EUR","amount":1}"#)
        .unwrap();
    assert_eq!(a, b);
    let c = canonical_body_hash(
        "payment",
        br#"{"amount": 2, "currency": "EUR", "details": {"b": 1, "a": null}}"#,
    )
    .unwrap();
    assert_ne!(a, c);
    let d =
        canonical_body_hash("payment", br#"{"amount": 1, "currency": "EUR", "details": {"b": 1}}"#).unwrap();
    assert_ne!(a, d, "a null value counts");
    let e =
        canonical_body_hash("refund", br#"{"amount": 1, "currency": "EUR", "details": {"b": 1, "a": null}}"#)
            .unwrap();
    assert_ne!(a, e, "the endpoint counts");
    assert_eq!(canonical_body_hash("payment", b"{").unwrap_err().kind, ErrorType::InvalidRequest);
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("terminal"),
            Just("OPI_NL"),
            Just("08900000002"),
            Just("GrundmasterNL"),
            Just("12.50")
        ]
        .prop_map(|s| json!(s)),
    ]
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("amount"),
        Just("currency"),
        Just("method"),
        Just("details"),
        Just("terminalId"),
        Just("managementSystemId"),
        Just("accessProtocol"),
        Just("ip"),
        Just("port"),
        Just("language"),
        Just("returnUrl"),
        Just("reference"),
        Just("betaalterminalId"),
        Just("x")
    ]
    .prop_map(str::to_owned)
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 32, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_bytes_panic_the_validator(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_payment(&bytes);
        let _ = parse_refund(&bytes);
        let _ = canonical_body_hash("payment", &bytes);
    }

    #[test]
    fn no_json_panics_the_validator(v in json_value()) {
        let text = v.to_string();
        let _ = parse_payment(text.as_bytes());
        let _ = parse_refund(text.as_bytes());
        let _ = canonical_body_hash("payment", text.as_bytes());
    }

    #[test]
    fn mutated_valid_bodies_never_panic_and_errors_name_a_field(field in field_name(), value in json_leaf()) {
        let mut v = ccv_example();
        if ["terminalId", "managementSystemId", "accessProtocol", "ip", "port", "betaalterminalId"].contains(&field.as_str()) {
            v["details"][field.as_str()] = value;
        } else {
            v[field.as_str()] = value;
        }
        if let Err(e) = parse(&v) {
            prop_assert!(e.kind == ErrorType::InvalidRequest);
        }
    }

    #[test]
    fn amount_text_round_trips(minor in 1u64..=Amount::DEFAULT_MAX_MINOR, code in prop_oneof![Just("EUR"), Just("JPY"), Just("KWD")]) {
        let currency = Currency::new(code).unwrap();
        let amount = Amount::new(minor, currency);
        let text = amount.to_decimal_string();
        let mut v = ccv_example();
        v["currency"] = json!(code.to_lowercase());
        v["amount"] = json!(text);
        prop_assert_eq!(parse(&v).unwrap().amount, amount);
        // The same amount as a JSON number.
        let body = v.to_string().replace(&format!("\"{text}\""), &text);
        prop_assert_eq!(parse_payment(body.as_bytes()).unwrap().amount, amount);
    }
}
