//! The default sandbox as a POS meets it: one start, then payments through the payment API on each terminal of
//! the fleet, each ending as the installer's guide says; a restart keeps the PKI and the payments.

use std::time::Duration;

use ccv_sandbox::SandboxInfo;
use ccv_vpos::client::VposClient;
use ccv_vpos::{PaymentStatus, VposEvent};
use serde_json::{Value, json};

mod common;
use common::start;

const T: Duration = Duration::from_secs(30);

fn key(info: &SandboxInfo, merchant: &str) -> String {
    info.merchants.iter().find(|m| m.name == merchant).expect("merchant").api_key.clone()
}

async fn pay(info: &SandboxInfo, merchant: &str, details: Value) -> Value {
    let body = json!({"amount": "10.00", "currency": "EUR", "method": "terminal", "details": details});
    let client = VposClient::new(info.api_url.clone(), key(info, merchant));
    client.create_payment(&body).await.expect("the API answers").1
}

fn cloud(tms: &str) -> Value {
    json!({"terminalId": tms, "managementSystemId": "GrundmasterNL", "accessProtocol": "OPI_NL"})
}

fn local(tms: &str, addr: &str) -> Value {
    let (ip, port) = addr.rsplit_once(':').expect("ip:port");
    json!({"terminalId": tms, "managementSystemId": "08900000002", "accessProtocol": "OPI_NL", "ip": ip,
           "port": port.parse::<u16>().expect("port")})
}

/// Waits for the final status of each reference.
async fn finals(
    events: &mut tokio::sync::broadcast::Receiver<VposEvent>,
    refs: &[&str],
) -> Vec<PaymentStatus> {
    let mut found: Vec<Option<PaymentStatus>> = vec![None; refs.len()];
    while found.iter().any(Option::is_none) {
        let event =
            tokio::time::timeout(T, events.recv()).await.expect("a final status in time").expect("events");
        if let VposEvent::Status { reference, status, .. } = event {
            if let Some(i) = refs.iter().position(|r| *r == reference) {
                found[i] = Some(status);
            }
        }
    }
    found.into_iter().flatten().collect()
}

fn reference(created: &Value) -> &str {
    created["reference"].as_str().expect("a reference")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_fleet_pays_and_fails_as_the_guide_says_and_a_restart_keeps_the_state() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    let sandbox = start(&state).await;
    assert!(!sandbox.settle_links(T).await, "the terminal without DNS cannot bring its MQTT link up");
    let info = sandbox.info();
    eprintln!("{}", serde_json::to_string_pretty(&info.terminals).expect("JSON"));
    let by_id = |id: &str| info.terminals.iter().find(|t| t.tms_id == id).expect(id).clone();
    assert_eq!(info.terminals.len(), 8);
    assert_eq!(by_id("29000001").mqtt, "up");
    assert_eq!(by_id("11300002").mqtt, "off", "1.0 only: no MQTT");
    assert_eq!(by_id("70000001").mqtt, "off", "R7: MQT in TMS, not installed");
    assert_eq!(by_id("23000001").mqtt, "down", "R23: no DNS");
    assert_eq!(by_id("23000001").mqtt_failure.as_deref(), Some("dns"));
    assert_eq!(by_id("21000000").kick_address, None, "R21: trigger port 0");
    assert!(info.curl.contains("29000001") && info.curl.contains(&key(&info, "sandbox")), "{}", info.curl);
    assert!(std::path::Path::new(&info.ca_path).is_file());

    let mut events = sandbox.vpos().events();
    let paid = pay(&info, "sandbox", cloud("29000001")).await;
    let local_ok =
        pay(&info, "sandbox", local("11300002", &by_id("11300002").kick_address.expect("kick"))).await;
    let r10 = pay(&info, "sandbox", cloud("29000010")).await;
    let r21 = pay(&info, "sandbox", local("21000000", "127.0.0.1:9")).await;
    let r23 = pay(&info, "sandbox", cloud("23000001")).await;
    let r07 = pay(&info, "sandbox", cloud("70000001")).await;
    let r13_new = pay(&info, "r13-shop", cloud("13000001")).await;
    let r13_old = pay(&info, "r13-shop", cloud("13000002")).await;
    assert_eq!(r10["status"], "failed", "R10 fails at once: {r10}");
    let refs = [&paid, &local_ok, &r21, &r23, &r07, &r13_new, &r13_old].map(reference);
    let statuses = finals(&mut events, &refs).await;
    use PaymentStatus::{Failed, Success};
    assert_eq!(statuses, vec![Success, Success, Failed, Failed, Failed, Success, Failed], "{refs:?}");
    // The TAS link is mutual TLS: every terminal at the TAS proved its TMS ID with its certificate.
    assert!(info.tas_tls);
    let at_tas = sandbox.tas().terminals();
    assert!(!at_tas.is_empty() && at_tas.iter().all(|t| t.certified), "{at_tas:?}");

    // A restart keeps the PKI, the merchants and the payments.
    let ca = std::fs::read(&info.ca_path).expect("CA");
    sandbox.shutdown().await;
    let sandbox = start(&state).await;
    let again = sandbox.info();
    assert_eq!(std::fs::read(&again.ca_path).expect("CA"), ca, "the PKI is not made again");
    let client = VposClient::new(again.api_url.clone(), key(&again, "sandbox"));
    let (_, read) = client.transaction(reference(&paid)).await.expect("the API answers");
    assert_eq!(read["status"], "success", "{read}");
    sandbox.shutdown().await;
}
