//! The control API of a running sandbox: terminals listed with their live state, operated by keys, TMS changes
//! and power, and every change on the event stream (Server-Sent Events).

use std::time::Duration;

use serde_json::{Value, json};

mod common;
use common::start;

const T: Duration = Duration::from_secs(15);

async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("the control API answers");
    (resp.status().as_u16(), resp.json().await.expect("JSON"))
}

/// Reads the event stream until an event satisfies `want`; returns it.
async fn next_event(
    stream: &mut reqwest::Response,
    buf: &mut String,
    want: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    let event: Value = serde_json::from_str(data.trim()).expect("each event is JSON");
                    if want(&event) {
                        return event;
                    }
                }
            }
        }
        let chunk = tokio::time::timeout(T, stream.chunk()).await.expect("an event in time").expect("stream");
        buf.push_str(&String::from_utf8_lossy(&chunk.expect("the stream stays open")));
    }
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
