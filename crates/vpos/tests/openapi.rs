//! The OpenAPI description: the checked-in `docs/openapi.json` is what the code generates, it names every route,
//! the schemas declare every property serde writes, and both routers serve it at `GET /openapi.json`.
//!
//! Regenerate the checked-in file with `UPDATE_OPENAPI=1 cargo test -p ccv-vpos --test openapi`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use ccv_vpos::model::{
    FailureCode, OrderTexts, PaymentStatus, Transaction, TransactionDetails, TransactionType,
};
use ccv_vpos::{ApiError, BrowserKickReport, ErrorType, Store, Vpos, VposConfig, WebhookAttempt};
use ccv_wire::local_kick::KickAnswer;
use ccv_wire::reason::KickRefusal;
use serde_json::Value;
use tower::ServiceExt as _;

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

fn document() -> Value {
    serde_json::from_str(&ccv_vpos::openapi::openapi_json()).expect("openapi_json() is JSON")
}

#[test]
fn checked_in_document_is_current() {
    let generated = ccv_vpos::openapi::openapi_json();
    let path = doc_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&path, &generated).expect("docs/openapi.json is writable");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/openapi.json is not what the code generates (the handlers or body types changed).\n\
         Regenerate it with:\n\n    UPDATE_OPENAPI=1 cargo test -p ccv-vpos --test openapi\n\n\
         and commit the result."
    );
}

#[test]
fn document_is_openapi_3_with_every_route() {
    let doc = document();
    let version = doc["openapi"].as_str().expect("an `openapi` version");
    assert!(version.starts_with("3."), "OpenAPI 3.x, got {version}");
    assert_eq!(doc["info"]["title"], "ccv-emu payment API");
    let paths = doc["paths"].as_object().expect("paths");
    let routes = [
        ("/api/v1/payment", "post"),
        ("/api/v1/refund", "post"),
        ("/api/v1/transaction", "get"),
        ("/terminal/poll", "get"),
        ("/terminal/poll/state", "get"),
        ("/terminal/poll/kick-result", "post"),
        ("/admin/merchants", "get"),
        ("/admin/merchants", "post"),
        ("/admin/merchants/{name}/keys", "post"),
        ("/admin/merchants/{name}/local-kick", "put"),
        ("/admin/merchants/{name}/whitelist", "get"),
        ("/admin/merchants/{name}/whitelist", "post"),
        ("/admin/merchants/{name}/whitelist/{tms_id}", "delete"),
        ("/admin/transactions/{reference}", "get"),
        ("/admin/transactions/{reference}/webhooks", "get"),
        ("/openapi.json", "get"),
    ];
    for (path, method) in routes {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is not described");
    }
    let described: usize = paths.values().map(|p| p.as_object().map_or(0, |m| m.len())).sum();
    assert_eq!(described, routes.len(), "a described operation is no route: {:?}", paths.keys());

    // The payment endpoints need the key, nothing else does.
    let scheme = &doc["components"]["securitySchemes"][ccv_vpos::openapi::SECURITY_SCHEME];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "basic");
    assert_eq!(scheme["description"], "API key as user name, empty password");
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("operations") {
            let secured = op.get("security").is_some();
            assert_eq!(secured, path.starts_with("/api/v1/"), "security of {method} {path}");
        }
    }
    // Every error answer is the one error body.
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("operations") {
            for (status, response) in op["responses"].as_object().expect("responses") {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ApiError",
                        "{status} of {method} {path}"
                    );
                }
            }
        }
    }
}

/// The properties a schema declares, following `$ref`, `allOf` (serde's `flatten`) and `oneOf`/`anyOf`.
fn declared_properties<'a>(doc: &'a Value, schema: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.strip_prefix("#/components/schemas/").expect("a local reference");
        let target = &doc["components"]["schemas"][name];
        assert!(!target.is_null(), "{reference} is not in the components");
        return declared_properties(doc, target, out);
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for part in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
            declared_properties(doc, part, out);
        }
    }
    for (name, property) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
        out.push((name.clone(), property));
    }
}

/// Fails when `value` (as serde wrote it) has an object key that `schema` does not declare, at any depth.
fn assert_declared(doc: &Value, schema: &Value, value: &Value, at: &str) {
    match value {
        Value::Object(map) => {
            let mut props = Vec::new();
            declared_properties(doc, schema, &mut props);
            assert!(!props.is_empty(), "{at}: serde writes an object, the schema declares no properties");
            for (key, v) in map {
                let property =
                    props.iter().find(|(name, _)| name == key).map(|(_, p)| *p).unwrap_or_else(|| {
                        panic!("{at}.{key}: written by serde, not declared by the schema")
                    });
                if !v.is_null() {
                    assert_declared(doc, property, v, &format!("{at}.{key}"));
                }
            }
        }
        Value::Array(items) => {
            let item_schema = resolve(doc, schema).get("items").cloned().unwrap_or(Value::Null);
            for (i, v) in items.iter().enumerate() {
                if v.is_object() {
                    assert_declared(doc, &item_schema, v, &format!("{at}[{i}]"));
                }
            }
        }
        _ => {}
    }
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(doc, &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")]),
        None => schema,
    }
}

fn component<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let schema = &doc["components"]["schemas"][name];
    assert!(schema.is_object(), "no component {name}");
    schema
}

/// A transaction with every optional field set, so every key serde can write is written.
fn full_transaction() -> Transaction {
    Transaction {
        reference: "TL260414072854599CB87E19B".into(),
        original_reference: Some("TL260414072854599CB87E19A".into()),
        kind: TransactionType::Refund,
        method: "terminal".into(),
        status: PaymentStatus::Failed,
        amount: "12.50".into(),
        currency: "EUR".into(),
        created: 1_776_151_734_599,
        last_update: 1_776_151_741_000,
        status_final_date: Some(1_776_151_741_000),
        texts: OrderTexts {
            merchant_order_reference: Some("123456".into()),
            description: Some("Order 123456".into()),
            language: Some("eng".into()),
            return_url: Some("https://shop.example/return".into()),
            webhook_url: Some("https://shop.example/hook".into()),
        },
        pay_url: "http://127.0.0.1:8080/terminal/poll?reference=TL260414072854599CB87E19B".into(),
        failure_code: Some(FailureCode::CardRefused),
        failure_message: Some("the card was refused".into()),
        details: TransactionDetails {
            terminal_id: "1234536".into(),
            management_system_id: "08900000002".into(),
            access_protocol: "OPI_NL".into(),
            ip: Some("192.168.1.50".into()),
            port: Some(4105),
            operating_environment: "ATTENDED".into(),
            merchant_language: Some("NLD".into()),
            wake_up_type: "LOCAL_KICK".into(),
            customer_receipt: Some("[\"a\"]".into()),
            merchant_receipt: Some("[\"b\"]".into()),
            journal_receipt: Some("[\"c\"]".into()),
            print_customer_receipt: Some(true),
            ask_customer_signature: Some(false),
            terminal_message: Some("PIN INVOEREN".into()),
        },
    }
}

#[test]
fn transaction_schema_declares_every_key_serde_writes() {
    let doc = document();
    let value = serde_json::to_value(full_transaction()).expect("serializes");
    assert!(value["details"].as_object().is_some_and(|d| d.len() == 14), "every detail is written");
    assert!(value.get("merchantOrderReference").is_some(), "the flattened texts are at the top level");
    assert_declared(&doc, component(&doc, "Transaction"), &value, "Transaction");

    // And the other way round: every declared property is one serde writes (nothing stale in the schema).
    let mut props = Vec::new();
    declared_properties(&doc, component(&doc, "Transaction"), &mut props);
    let top = value.as_object().expect("object");
    for (name, _) in &props {
        assert!(top.contains_key(name), "Transaction declares {name}, serde never writes it");
    }
    // The amount is a JSON number on the wire.
    assert!(value["amount"].is_number());
    assert_eq!(
        resolve(&doc, &props.iter().find(|(n, _)| n == "amount").expect("amount").1.clone())["type"],
        "number"
    );
}

#[test]
fn other_bodies_match_their_schemas() {
    let doc = document();
    let error = ApiError::invalid_field("amount", "amount is missing").with_reference("TL1");
    assert_declared(
        &doc,
        component(&doc, "ApiError"),
        &serde_json::to_value(&error).expect("json"),
        "ApiError",
    );
    let conflict = ApiError::new(ErrorType::IdempotencyConflict, "used before");
    let error_types = component(&doc, "ErrorType")["enum"].as_array().expect("enum").clone();
    assert!(error_types.contains(&serde_json::to_value(conflict.kind).expect("json")));

    let attempt = WebhookAttempt {
        reference: "TL1".into(),
        url: "https://shop.example/hook".into(),
        attempt: 1,
        attempted_ms: 1,
        http_status: Some(500),
        error: Some("answered 500".into()),
        delivered: false,
    };
    let value = serde_json::to_value(&attempt).expect("json");
    assert_declared(&doc, component(&doc, "WebhookAttempt"), &value, "WebhookAttempt");

    let statuses = component(&doc, "PaymentStatus")["enum"].as_array().expect("enum").clone();
    let written: Vec<Value> =
        PaymentStatus::ALL.iter().map(|s| serde_json::to_value(s).expect("json")).collect();
    assert_eq!(statuses, written, "PaymentStatus names");

    // The payUrl page's report, whose schema mirrors types of ccv-wire.
    let reports = [
        BrowserKickReport::Answered {
            answer: KickAnswer::Accepted {
                tms_id: "1".into(),
                reference: Some("TL1".into()),
                tas: "h:1".into(),
            },
        },
        BrowserKickReport::Answered {
            answer: KickAnswer::refused("1".into(), KickRefusal::TriggerPortDisabled),
        },
        BrowserKickReport::Unreachable { error: "failed to fetch".into() },
    ];
    for report in reports {
        let value = serde_json::to_value(&report).expect("json");
        assert_declared(&doc, component(&doc, "BrowserKickReport"), &value, "BrowserKickReport");
    }
    let refusals = component(&doc, "KickRefusal")["enum"].as_array().expect("enum").clone();
    assert!(refusals.contains(&Value::from("trigger_port_disabled")));
    let body = ccv_wire::local_kick::KickRequestBody {
        reference: Some("TL1".into()),
        tas: Some(ccv_wire::HostPort::new("127.0.0.1", 5555)),
    };
    let value = serde_json::to_value(&body).expect("json");
    assert_declared(&doc, component(&doc, "KickRequestBody"), &value, "KickRequestBody");
}

/// A payment API on an in-memory store, with a TAS on loopback and no cloud kicks.
async fn vpos() -> Vpos {
    let loopback = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0);
    let store = Arc::new(Store::open_in_memory().expect("store"));
    let tas = Arc::new(ccv_tas::Tas::start(loopback, None, Default::default()).await.expect("TAS starts"));
    Vpos::start(store, tas, None, VposConfig::default()).await.expect("payment API starts")
}

#[tokio::test]
async fn both_routers_serve_the_document() {
    let vpos = vpos().await;
    for router in [ccv_vpos::http::api_router(vpos.clone()), ccv_vpos::http::admin_router(vpos.clone())] {
        let response = router
            .oneshot(Request::get("/openapi.json").body(Body::empty()).expect("request"))
            .await
            .expect("answered");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
        assert_eq!(std::str::from_utf8(&body).expect("UTF-8"), ccv_vpos::openapi::openapi_json());
    }
    vpos.shutdown().await;
}
