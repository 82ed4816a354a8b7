//! The control API of a running sandbox: terminals listed with their live state, operated by keys, TMS changes
//! and power, and every change on the event stream (Server-Sent Events).

use std::time::Duration;

use ccv_test_support::http::{HeaderFlood, send_header_flood};
use serde_json::{Value, json};

mod common;
use common::start;

const T: Duration = Duration::from_secs(15);

async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("the control API answers");
    (resp.status().as_u16(), resp.json().await.expect("JSON"))
}

/// Reads the event stream until an event satisfies `want`; returns every event read, that one last.
async fn events_until(
    stream: &mut reqwest::Response,
    buf: &mut String,
    want: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut read = Vec::new();
    // Bounded: a stream that never shows the event fails the test instead of reading forever.
    for _ in 0..100_000 {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    let event: Value = serde_json::from_str(data.trim()).expect("each event is JSON");
                    let found = want(&event);
                    read.push(event);
                    if found {
                        // Blocks after this one stay in `buf` for the next read.
                        return read;
                    }
                }
            }
        }
        let chunk = tokio::time::timeout(T, stream.chunk()).await.expect("an event in time").expect("stream");
        buf.push_str(&String::from_utf8_lossy(&chunk.expect("the stream stays open")));
    }
    panic!("the event did not come among the events read: {read:?}");
}

/// Reads the event stream until an event satisfies `want`; returns it.
async fn next_event(
    stream: &mut reqwest::Response,
    buf: &mut String,
    want: impl Fn(&Value) -> bool,
) -> Value {
    events_until(stream, buf, want).await.pop().expect("the event that satisfied `want`")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminals_are_operated_and_watched_through_the_control_api() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sandbox = start(&tmp.path().join("state")).await;
    sandbox.settle_links(T).await;
    let control = sandbox.info().control_url;
    let http = reqwest::Client::new();

    let (status, list) = call(http.get(format!("{control}/terminals"))).await;
    assert_eq!(status, 200);
    let list = list.as_array().expect("a list");
    assert_eq!(list.len(), 8);
    let migrated = list.iter().find(|t| t["tmsId"] == "29000001").expect("29000001");
    assert_eq!(migrated["migration"], "cloud_connect_2");
    assert_eq!(migrated["status"]["mqtt"]["state"], "up");
    assert_eq!(migrated["posOpiMode"], "TCP FLAT-OUTGOING");

    let mut stream = http.get(format!("{control}/events")).send().await.expect("the event stream opens");
    assert_eq!(
        stream.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/event-stream"),
        "Server-Sent Events"
    );
    let mut buf = String::new();

    // The installer presses MENU: the START MENU shows, on the answer and on the stream.
    let idle = migrated["status"]["screen"].clone();
    let (status, after) =
        call(http.post(format!("{control}/terminals/29000001/keys")).json(&json!({"script": "MENU"}))).await;
    assert_eq!(status, 200, "{after}");
    assert_ne!(after["status"]["screen"], idle, "the screen changed: {after}");
    let screen =
        next_event(&mut stream, &mut buf, |e| e["type"] == "screen" && e["tmsId"] == "29000001").await;
    assert_eq!(screen["lines"], after["status"]["screen"]);
    let (_, back) =
        call(http.post(format!("{control}/terminals/29000001/keys")).json(&json!({"script": "STOP"}))).await;
    assert_eq!(back["status"]["screen"], idle, "STOP goes back to the idle screen");

    // The clock: an open menu times out after 60 s without a key; moving the clock 61 s closes it at once.
    let (_, menu) =
        call(http.post(format!("{control}/terminals/29000001/keys")).json(&json!({"script": "MENU"}))).await;
    assert_ne!(menu["status"]["screen"], idle);
    let (status, clock) =
        call(http.post(format!("{control}/clock/advance")).json(&json!({"seconds": 61}))).await;
    assert_eq!(status, 200, "{clock}");
    assert!(clock["offsetMs"].as_u64().is_some_and(|ms| ms >= 61_000), "{clock}");
    let idle_again = next_event(&mut stream, &mut buf, |e| {
        e["type"] == "screen" && e["tmsId"] == "29000001" && e["lines"] == idle
    })
    .await;
    assert_eq!(idle_again["lines"], idle, "the menu timed out on the sandbox's clock");
    let (_, pw) = call(http.get(format!("{control}/terminals/29000001/service-password"))).await;
    let now = ccv_terminal::Timestamp::from_millis(clock["nowMs"].as_u64().expect("nowMs"));
    assert_eq!(pw["servicePassword"], ccv_terminal::service_password_local("29000001", now).as_str());

    // Power off: the MQTT link goes off, with its reason, on the stream.
    let (status, _) =
        call(http.post(format!("{control}/terminals/29000001/power")).json(&json!({"on": false}))).await;
    assert_eq!(status, 200);
    let mqtt = next_event(&mut stream, &mut buf, |e| {
        e["type"] == "mqtt" && e["tmsId"] == "29000001" && e["state"] != "up"
    })
    .await;
    assert!(mqtt["at"].as_u64().is_some(), "{mqtt}");
    let (_, on) =
        call(http.post(format!("{control}/terminals/29000001/power")).json(&json!({"on": true}))).await;
    assert_eq!(on["tmsId"], "29000001");

    next_event(&mut stream, &mut buf, |e| {
        e["type"] == "mqtt" && e["tmsId"] == "29000001" && e["state"] == "up"
    })
    .await;

    // Fault switches: without DNS the MQTT link goes down with reason dns, and doctor says so; back on, it is up.
    let faults = format!("{control}/terminals/29000001/faults");
    let (status, _) = call(http.post(&faults).json(&json!({"dnsConfigured": false}))).await;
    assert_eq!(status, 200);
    let down = next_event(&mut stream, &mut buf, |e| {
        e["type"] == "mqtt" && e["tmsId"] == "29000001" && e["state"] == "down"
    })
    .await;
    assert_eq!(down["reason"], "dns", "{down}");
    let (_, doctor) = call(http.get(format!("{control}/terminals/29000001/doctor"))).await;
    let failed: Vec<&str> = doctor["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["pass"] == false)
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(failed, vec!["dns", "mqtt_link"], "{doctor}");
    let (status, _) =
        call(http.post(&faults).json(&json!({"dnsConfigured": true, "printerOutOfPaper": false}))).await;
    assert_eq!(status, 200);
    next_event(&mut stream, &mut buf, |e| {
        e["type"] == "mqtt" && e["tmsId"] == "29000001" && e["state"] == "up"
    })
    .await;
    let (status, _) = call(http.post(&faults).json(&json!({"dns": false}))).await;
    assert_eq!(status, 400, "unknown switch");

    // TMS changes and a TMS contact are accepted; mistakes are named.
    let (status, _) =
        call(http.post(format!("{control}/terminals/11300002/tms")).json(&json!({"mqt": true}))).await;
    assert_eq!(status, 200);
    let (status, _) = call(http.post(format!("{control}/terminals/11300002/tms/contact"))).await;
    assert_eq!(status, 200);
    let (status, err) =
        call(http.post(format!("{control}/terminals/11300002/keys")).json(&json!({"script": "FLY"}))).await;
    assert_eq!(status, 400, "{err}");
    let (status, err) = call(http.get(format!("{control}/terminals/99999999"))).await;
    assert_eq!((status, err["type"].as_str()), (404, Some("not_found")));
    let (status, err) =
        call(http.post(format!("{control}/terminals/29000001/card")).json(&json!({"swipe": 1}))).await;
    assert_eq!(status, 400, "{err}");
    let doc: Value =
        http.get(format!("{control}/openapi.json")).send().await.expect("answer").json().await.expect("JSON");
    assert_eq!(doc, serde_json::from_str::<Value>(&ccv_sandbox::control::openapi_json()).expect("JSON"));
    drop(stream);
    sandbox.shutdown().await;
}

fn key(info: &ccv_sandbox::SandboxInfo) -> String {
    info.merchants.iter().find(|m| m.name == "sandbox").expect("merchant sandbox").api_key.clone()
}

/// Creates a payment of EUR 10.00 on `tms` through the payment API (a cloud kick); returns its reference.
async fn pay(info: &ccv_sandbox::SandboxInfo, tms: &str) -> String {
    let body = json!({"amount": "10.00", "currency": "EUR", "method": "terminal", "details": {
        "terminalId": tms, "managementSystemId": "GrundmasterNL", "accessProtocol": "OPI_NL"}});
    let client = ccv_vpos::client::VposClient::new(info.api_url.clone(), key(info));
    let (status, created) = client.create_payment(&body).await.expect("the payment API answers");
    assert_eq!(status, 200, "{created}");
    created["reference"].as_str().expect("a reference").to_owned()
}

/// The payment's final state as the payment API reads it, once the event stream has told it.
async fn final_payment(
    info: &ccv_sandbox::SandboxInfo,
    stream: &mut reqwest::Response,
    buf: &mut String,
    reference: &str,
) -> (Vec<Value>, Value) {
    let read = events_until(stream, buf, |e| {
        e["type"] == "payment"
            && e["event"]["type"] == "status"
            && e["event"]["reference"] == reference
            && e["event"]["status"] != "pending"
    })
    .await;
    let client = ccv_vpos::client::VposClient::new(info.api_url.clone(), key(info));
    let (_, read_back) = client.transaction(reference).await.expect("the payment API answers");
    (read, read_back)
}

fn ms(event: &Value) -> u64 {
    event["at"].as_u64().expect("at")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payments_opi_messages_and_kick_are_on_the_stream_masked_and_latency_delays_the_terminals_network()
{
    let tmp = tempfile::tempdir().expect("tempdir");
    let sandbox = start(&tmp.path().join("state")).await;
    sandbox.settle_links(T).await;
    let info = sandbox.info();
    let control = &info.control_url;
    let http = reqwest::Client::new();
    let faults = format!("{control}/terminals/29000001/faults");
    let (status, err) = call(http.post(&faults).json(&json!({"latencyMs": 10_001}))).await;
    assert_eq!(status, 400, "{err}");
    let (status, slow) = call(http.post(&faults).json(&json!({"latencyMs": 250}))).await;
    assert_eq!(status, 200, "{slow}");
    assert_eq!(slow["status"]["latencyMs"], 250, "the terminal view shows the latency: {slow}");

    let mut stream = http.get(format!("{control}/events")).send().await.expect("the event stream opens");
    let mut buf = String::new();
    let asked =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis()
            as u64;
    let reference = pay(&info, "29000001").await;
    let (read, paid) = final_payment(&info, &mut stream, &mut buf, &reference).await;
    assert_eq!(paid["status"], "success", "a payment succeeds with 250 ms latency: {paid}");

    let ours: Vec<&Value> = read.iter().filter(|e| e["tmsId"] == "29000001").collect();
    let opi = |direction: &str, kind: &str| {
        ours.iter()
            .find(|e| e["type"] == "opi" && e["direction"] == direction && e["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} {direction} among {ours:?}"))
    };
    let kick = ours.iter().find(|e| e["type"] == "kick").expect("the cloud kick is on the stream");
    assert_eq!(kick["via"], "cloud", "{kick}");
    let hello = opi("fromTerminal", "ServiceRequest");
    let request = opi("toTerminal", "CardServiceRequest");
    let response = opi("fromTerminal", "CardServiceResponse");
    assert!(request["xml"].as_str().is_some_and(|x| x.contains("CardServiceRequest")), "{request}");
    assert!(response["xml"].as_str().is_some_and(|x| x.contains("OverallResult")), "{response}");
    // Times as the TAS saw the frames: the terminal dialled 250 ms after it was asked at the earliest, and it
    // answered 250 ms after the request was sent at the earliest.
    assert!(ms(hello) >= asked + 250, "the dial was not delayed: asked at {asked}, hello {hello}");
    assert!(ms(response) >= ms(request) + 250, "the response was not delayed: {request} {response}");

    let everything = serde_json::to_string(&read).expect("JSON");
    for card in ccv_terminal::TestCard::ALL {
        assert!(!everything.contains(card.pan()), "the full PAN of {card:?} is on the stream");
    }
    let (_, fast) = call(http.post(&faults).json(&json!({"latencyMs": 0}))).await;
    assert_eq!(fast["status"]["latencyMs"], 0);
    drop(stream);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tas_and_the_iot_endpoint_go_down_and_come_back_on_their_ports() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sandbox = start(&tmp.path().join("state")).await;
    sandbox.settle_links(T).await;
    let info = sandbox.info();
    let control = &info.control_url;
    let http = reqwest::Client::new();
    let mut stream = http.get(format!("{control}/events")).send().await.expect("the event stream opens");
    let mut buf = String::new();

    // The TAS down: nobody listens on its port, and a payment fails with the terminal's reason.
    let (status, switches) =
        call(http.post(format!("{control}/faults")).json(&json!({"tasDown": true}))).await;
    assert_eq!(status, 200, "{switches}");
    assert_eq!(switches, json!({"tasDown": true, "iotDown": false}));
    let refused = tokio::net::TcpStream::connect(&info.tas).await.expect_err("the TAS port is closed");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let reference = pay(&info, "29000001").await;
    let (_, failed) = final_payment(&info, &mut stream, &mut buf, &reference).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let why = failed["failureMessage"].as_str().unwrap_or_default();
    assert!(why.contains("could not reach the TAS (refused)"), "{failed}");

    // Back up through a terminal's route: the same port, and payments go through again.
    let (status, _) =
        call(http.post(format!("{control}/terminals/29000001/faults")).json(&json!({"tasDown": false})))
            .await;
    assert_eq!(status, 200);
    let reference = pay(&info, "29000001").await;
    let (_, paid) = final_payment(&info, &mut stream, &mut buf, &reference).await;
    assert_eq!(paid["status"], "success", "{paid}");

    // The IoT endpoint down: the terminal's MQTT link goes down with its reason, and comes back up by itself.
    let (_, switches) = call(http.post(format!("{control}/faults")).json(&json!({"iotDown": true}))).await;
    assert_eq!(switches, json!({"tasDown": false, "iotDown": true}));
    let down = next_event(&mut stream, &mut buf, |e| {
        e["type"] == "mqtt" && e["tmsId"] == "29000001" && e["state"] == "down"
    })
    .await;
    assert_eq!(down["reason"], "disconnected", "{down}");
    let (_, now) = call(http.get(format!("{control}/faults"))).await;
    assert_eq!(now, json!({"tasDown": false, "iotDown": true}));
    let (_, switches) = call(http.post(format!("{control}/faults")).json(&json!({"iotDown": false}))).await;
    assert_eq!(switches, json!({"tasDown": false, "iotDown": false}));
    next_event(&mut stream, &mut buf, |e| {
        e["type"] == "mqtt" && e["tmsId"] == "29000001" && e["state"] == "up"
    })
    .await;
    let (status, err) = call(http.post(format!("{control}/faults")).json(&json!({"tas": true}))).await;
    assert_eq!(status, 400, "unknown switch: {err}");
    drop(stream);
    sandbox.shutdown().await;
}

/// Request heads far beyond what the dashboard sends (one 1 MiB header, 10,000 small headers) get 431 or a closed
/// connection on the control API, and the next request is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_request_heads_get_431_and_the_control_api_keeps_serving() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sandbox = start(&tmp.path().join("state")).await;
    let info = sandbox.info();
    let addr = info.control_url.trim_start_matches("http://").parse().expect("control API address");
    for flood in HeaderFlood::BOTH {
        let answer = send_header_flood(addr, "/terminals", flood, T).await.expect("an answer or a close");
        assert!(answer.is_refusal(), "{flood:?}: {answer:?}");
        let (status, _) = call(reqwest::Client::new().get(format!("{}/terminals", info.control_url))).await;
        assert_eq!(status, 200, "served after {flood:?}");
    }
    sandbox.shutdown().await;
}

/// The dashboard is the control API's own page; a page of another origin cannot drive the terminals through the
/// user's browser, and a body a form could send without a preflight is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_served_and_other_origins_cannot_drive_the_terminals() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sandbox = start(&tmp.path().join("state")).await;
    let info = sandbox.info();
    let http = reqwest::Client::new();
    let page = http.get(&info.dashboard_url).send().await.expect("the dashboard");
    assert_eq!(page.status(), 200);
    let csp =
        page.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = page.text().await.expect("html");
    assert!(html.contains("/ui/app.js") && !html.contains("https://"), "no external asset");
    for asset in ["ui/app.js", "ui/app.css"] {
        let resp = http.get(format!("{}{asset}", info.dashboard_url)).send().await.expect("asset");
        assert_eq!(resp.status(), 200, "{asset}");
    }

    let keys = format!("{}/terminals/29000001/keys", info.control_url);
    let foreign = http
        .post(&keys)
        .header("origin", "http://evil.example")
        .json(&json!({"script": "MENU"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(foreign.status(), 403);
    let form =
        http.post(&keys).header("content-type", "text/plain").body(r#"{"script": "MENU"}"#).send().await;
    assert_eq!(form.expect("answer").status(), 415);
    let own = http
        .post(&keys)
        .header("origin", info.control_url.as_str())
        .json(&json!({"script": "MENU STOP"}))
        .send()
        .await;
    assert_eq!(own.expect("answer").status(), 200, "the dashboard's own origin may");

    // The dashboard's payment route pays as the terminal's merchant; the list and the detail show it.
    let mut events = sandbox.events();
    let (status, paid) = call(
        http.post(format!("{}/payments", info.control_url))
            .json(&json!({"tmsId": "29000001", "amount": "3.00"})),
    )
    .await;
    assert_eq!(status, 200, "{paid}");
    let reference = paid["reference"].as_str().expect("reference").to_owned();
    let (_, list) = call(http.get(format!("{}/payments", info.control_url))).await;
    assert_eq!(list[0]["reference"], reference.as_str());
    let (status, one) = call(http.get(format!("{}/payments/{reference}", info.control_url))).await;
    assert_eq!(status, 200);
    assert_eq!(one["transaction"]["details"]["terminalId"], "29000001");
    assert!(one["webhooks"].is_array());
    let (status, _) = call(http.get(format!("{}/payments/TLNOPE", info.control_url))).await;
    assert_eq!(status, 404);

    // A reader that connects later asks for the latest events first: the payment's OPI messages are among them.
    let settled = async {
        loop {
            let e = serde_json::to_value(events.recv().await.expect("events")).expect("JSON");
            if e["type"] == "payment"
                && e["event"]["reference"] == reference.as_str()
                && e["event"]["status"] == "success"
            {
                return;
            }
        }
    };
    tokio::time::timeout(T, settled).await.expect("the payment succeeds");
    let mut stream = http
        .get(format!("{}/events?replay=1000", info.control_url))
        .send()
        .await
        .expect("the event stream opens");
    let mut buf = String::new();
    let opi = next_event(&mut stream, &mut buf, |e| {
        e["type"] == "opi" && e["kind"] == "CardServiceResponse" && e["tmsId"] == "29000001"
    })
    .await;
    assert!(opi["seq"].as_u64().is_some(), "{opi}");
    sandbox.shutdown().await;
}
