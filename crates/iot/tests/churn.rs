//! Connections that come and go leave nothing behind in the endpoint: every accepted connection's task ends and
//! the broker's sessions and routing index are empty again, whether a connection sent nothing, sent something
//! that is not TLS, or connected, subscribed and dropped. In its own test binary: it holds a few hundred sockets
//! at a time, well under the usual limit of 1,024 open files for the process.

mod common;

use std::time::Duration;

use ccv_iot::Endpoint;
use ccv_wire::cloud::cmd_topic;
use common::{WAIT, start};
use rumqttc::mqttbytes::QoS;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// Silent TCP connections held at once in one wave (both ends of each are in this process).
const SILENT_WAVE: usize = 300;
const SILENT_WAVES: usize = 4;
/// Connections that send bytes that are not TLS, then close.
const GARBAGE: usize = 200;
/// MQTT clients held at once in one wave, and the waves.
const MQTT_WAVE: usize = 25;
const MQTT_WAVES: usize = 8;

/// Waits until the endpoint counts `n` open connections (event-driven: its watch; bounded).
async fn until_open(endpoint: &Endpoint, n: usize, what: &str) {
    let mut open = endpoint.watch_open_connections();
    let wait = Duration::from_secs(20);
    match tokio::time::timeout(wait, open.wait_for(|&now| now == n)).await {
        Ok(Ok(_)) => {}
        Ok(Err(_)) => panic!("{what}: the endpoint stopped"),
        Err(_) => {
            panic!("{what}: {} open connections after {wait:?}, {n} expected", endpoint.open_connections())
        }
    }
}

fn assert_empty(endpoint: &Endpoint, after: &str) {
    assert_eq!(endpoint.open_connections(), 0, "open connections after {after}");
    assert_eq!(endpoint.connected_clients(), 0, "connected clients after {after}");
    assert_eq!(endpoint.sessions(), 0, "sessions after {after}");
    assert_eq!(endpoint.subscriptions(), 0, "subscriptions after {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_come_and_go_leave_no_connection_session_or_subscription_behind() {
    let s = start().await;
    let addr = s.endpoint.local_addr();
    assert_empty(&s.endpoint, "start");

    // Silent TCP connections: accepted, counted while open, gone once closed (long before the hand-shake
    // time-out of 10 s).
    for wave in 0..SILENT_WAVES {
        let mut held = Vec::with_capacity(SILENT_WAVE);
        for _ in 0..SILENT_WAVE {
            held.push(TcpStream::connect(addr).await.expect("TCP connects"));
        }
        until_open(&s.endpoint, SILENT_WAVE, &format!("silent wave {wave} accepted")).await;
        drop(held);
        until_open(&s.endpoint, 0, &format!("silent wave {wave} closed")).await;
    }
    assert_empty(&s.endpoint, "silent connections");

    // Bytes that are not a ClientHello, then close.
    let mut set = JoinSet::new();
    for _ in 0..GARBAGE {
        set.spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.expect("TCP connects");
            // The endpoint may close first; what matters is that it forgets the connection.
            let _ = tcp.write_all(b"GET / HTTP/1.0\r\n\r\n").await;
            let _ = tcp.shutdown().await;
        });
    }
    set.join_all().await;
    until_open(&s.endpoint, 0, "non-TLS connections closed").await;
    assert_empty(&s.endpoint, "non-TLS connections");

    // TLS, CONNECT with a clean session, SUBSCRIBE; held together, then dropped without DISCONNECT.
    for wave in 0..MQTT_WAVES {
        let mut set = JoinSet::new();
        for i in 0..MQTT_WAVE {
            let cfg = s.client("vpos", Some(ccv_wire::cloud::AWS_IOT_ALPN.as_bytes()));
            set.spawn(async move {
                let mut p = ccv_iot::probe::Probe::connect(addr, Some("localhost"), cfg, WAIT)
                    .await
                    .expect("TLS hand-shake succeeds");
                let ack = p.mqtt_connect(&format!("vpos-churn-{wave}-{i}"), true, 30).await.expect("CONNACK");
                assert_eq!(ack.code, rumqttc::mqttbytes::v4::ConnectReturnCode::Success);
                let topic = cmd_topic("NL-CAT", &format!("{:08}", 10_000_000 + i));
                p.subscribe(&topic, QoS::AtLeastOnce).await.expect("SUBACK");
                p
            });
        }
        let held = set.join_all().await;
        assert_eq!(s.endpoint.connected_clients(), MQTT_WAVE, "wave {wave} connected");
        assert_eq!(s.endpoint.sessions(), MQTT_WAVE, "wave {wave} sessions");
        assert_eq!(s.endpoint.subscriptions(), MQTT_WAVE, "wave {wave} subscriptions");
        drop(held);
        until_open(&s.endpoint, 0, &format!("MQTT wave {wave} closed")).await;
        assert_empty(&s.endpoint, &format!("MQTT wave {wave}"));
    }
    s.endpoint.shutdown().await;
}
