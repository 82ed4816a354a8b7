//! Fuzz target body for a client's bytes after TLS, as a plain function: the cargo-fuzz target `iot_connection`
//! calls it, and a test runs it over seeds and arbitrary input.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::Packet;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::broker::Broker;
use crate::connection::Conn;
use crate::{EndpointConfig, Identity, Limits, ServerNames};

/// Any bytes as what a client sends once TLS stands (the first byte picks its certificate: terminal `T1` or the
/// payment API), through the connection's own code: the CONNECT, its policy, and every packet after it against
/// the policies, limits and the broker. No panic; what the endpoint answers is a sequence of MQTT packets that
/// starts with a CONNACK; afterwards the broker holds at most this client's session, and none unless it asked for
/// a persistent one and was let in. Returns the packets answered.
pub fn connection(data: &[u8]) -> Vec<Packet> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a current-thread runtime")
    });
    let (who, bytes) = data.split_first().unwrap_or((&0, &[]));
    let identity = if who & 1 == 0 {
        Identity::Terminal { tms_id: "T1".into() }
    } else {
        Identity::PaymentApi { name: "vpos".into() }
    };
    let config = EndpointConfig {
        connect_timeout: Duration::from_millis(200),
        write_timeout: Duration::from_millis(200),
        keep_alive_min: Duration::from_secs(1),
        keep_alive_max: Duration::from_secs(2),
        ..EndpointConfig::default()
    };
    let max = config.limits.max_payload + 1024;
    let bytes = bytes.to_vec();
    runtime.block_on(async move {
        let broker = Arc::new(Broker::new(Limits::default(), Duration::from_secs(3600)));
        let conn = Conn {
            broker: broker.clone(),
            config: Arc::new(config),
            shutdown: Default::default(),
            names: ServerNames::new(["localhost"]),
            peer: "192.0.2.20:40000".parse().expect("an address"),
        };
        let (mut client, server) = tokio::io::duplex(256 * 1024);
        let served = tokio::spawn(async move { conn.after_tls(server, identity).await });
        let _ = client.write_all(&bytes).await;
        let _ = client.shutdown().await;
        let mut answer = Vec::new();
        // The connection ends at the client's end of stream, or at its own time-outs; this is only a guard.
        let _ = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer)).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), served).await;
        let mut buf = BytesMut::from(&answer[..]);
        let mut packets = Vec::new();
        while !buf.is_empty() {
            match Packet::read(&mut buf, max) {
                Ok(p) => packets.push(p),
                Err(e) => panic!("the endpoint answered something that is not MQTT: {e:?}"),
            }
        }
        if let Some(first) = packets.first() {
            assert!(matches!(first, Packet::ConnAck(_)), "the first answer is a CONNACK, not {first:?}");
        }
        assert!(broker.session_count() <= 1, "{} sessions for one client", broker.session_count());
        packets
    })
}
