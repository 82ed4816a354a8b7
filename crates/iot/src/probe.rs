//! A small MQTT 3.1.1 client over mutual TLS, one packet at a time, every wait bounded by a
//! time-out. It exists for tests, benchmarks and diagnostics (it shows exactly what the endpoint
//! answers); the terminal's real client is rumqttc's event loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{ConnAck, Connect, Packet, PubAck, Publish, SubAck, Subscribe};
use rumqttc::mqttbytes::{Error as MqttError, QoS};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Largest packet the probe accepts from a broker (remaining length, bytes): the IoT Core payload
/// limit plus room for the topic and header.
pub const MAX_INCOMING: usize = 128 * 1024 + 1024;

/// Errors of the [`Probe`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// TCP or TLS failure (including a refused hand-shake).
    #[error("{stage}: {error}")]
    Io {
        /// "TCP connect", "TLS hand-shake", "read", "write".
        stage: &'static str,
        /// The error.
        error: std::io::Error,
    },
    /// Not a valid server name.
    #[error("invalid server name {0:?}")]
    ServerName(String),
    /// No answer in time.
    #[error("{0} timed out")]
    Timeout(&'static str),
    /// The endpoint closed the connection.
    #[error("connection closed by the endpoint")]
    Closed,
    /// The endpoint sent something undecodable.
    #[error("MQTT decode: {0}")]
    Mqtt(String),
    /// The endpoint sent an unexpected packet.
    #[error("unexpected packet: {0:?}")]
    Unexpected(Box<Packet>),
}

/// A connected test client.
#[derive(Debug)]
pub struct Probe {
    stream: TlsStream<TcpStream>,
    rbuf: BytesMut,
    wait: Duration,
    next_pkid: u16,
}

impl Probe {
    /// Opens TCP to `addr` and hand-shakes TLS with SNI `server_name` (`None`: send no SNI).
    pub async fn connect(
        addr: SocketAddr,
        server_name: Option<&str>,
        config: Arc<ClientConfig>,
        wait: Duration,
    ) -> Result<Probe, ProbeError> {
        let tcp = timeout(wait, TcpStream::connect(addr))
            .await
            .map_err(|_| ProbeError::Timeout("TCP connect"))?
            .map_err(|error| ProbeError::Io { stage: "TCP connect", error })?;
        let _ = tcp.set_nodelay(true);
        let (config, name) = match server_name {
            Some(n) => (
                config,
                ServerName::try_from(n.to_owned()).map_err(|_| ProbeError::ServerName(n.to_owned()))?,
            ),
            None => {
                let mut c = (*config).clone();
                c.enable_sni = false;
                (Arc::new(c), ServerName::IpAddress(addr.ip().into()))
            }
        };
        let stream = timeout(wait, TlsConnector::from(config).connect(name, tcp))
            .await
            .map_err(|_| ProbeError::Timeout("TLS hand-shake"))?
            .map_err(|error| ProbeError::Io { stage: "TLS hand-shake", error })?;
        Ok(Probe { stream, rbuf: BytesMut::new(), wait, next_pkid: 1 })
    }

    /// The ALPN protocol the endpoint selected.
    pub fn alpn(&self) -> Option<Vec<u8>> {
        self.stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
    }

    /// Sends one packet.
    pub async fn send(&mut self, packet: &Packet) -> Result<(), ProbeError> {
        let mut buf = BytesMut::new();
        packet.write(&mut buf, usize::MAX).map_err(|e| ProbeError::Mqtt(e.to_string()))?;
        self.send_raw(&buf).await
    }

    /// Sends raw bytes (for malformed-input tests).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ProbeError> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        timeout(self.wait, write)
            .await
            .map_err(|_| ProbeError::Timeout("write"))?
            .map_err(|error| ProbeError::Io { stage: "write", error })
    }

    /// Receives one packet, waiting at most the probe's time-out.
    pub async fn recv(&mut self) -> Result<Packet, ProbeError> {
        let wait = self.wait;
        self.recv_within(wait).await
    }

    /// Receives one packet, waiting at most `wait`.
    pub async fn recv_within(&mut self, wait: Duration) -> Result<Packet, ProbeError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match Packet::read(&mut self.rbuf, MAX_INCOMING) {
                Ok(p) => return Ok(p),
                Err(MqttError::InsufficientBytes(n)) => {
                    self.rbuf.reserve(n.max(1024));
                    let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.rbuf))
                        .await
                        .map_err(|_| ProbeError::Timeout("read"))?;
                    match read {
                        Ok(0) => return Err(ProbeError::Closed),
                        Ok(_) => {}
                        Err(e) if is_closed(&e) => return Err(ProbeError::Closed),
                        Err(error) => return Err(ProbeError::Io { stage: "read", error }),
                    }
                }
                Err(e) => return Err(ProbeError::Mqtt(e.to_string())),
            }
        }
    }

    /// Waits until the endpoint closes the connection, skipping packets; `Err` if it stays open.
    pub async fn expect_closed(&mut self) -> Result<(), ProbeError> {
        for _ in 0..1000 {
            match self.recv().await {
                Err(ProbeError::Closed) => return Ok(()),
                Err(ProbeError::Io { stage: "read", .. }) => return Ok(()),
                Err(e) => return Err(e),
                Ok(_) => {}
            }
        }
        Err(ProbeError::Timeout("waiting for close"))
    }

    /// Sends CONNECT and returns the CONNACK.
    pub async fn mqtt_connect(
        &mut self,
        client_id: &str,
        clean_session: bool,
        keep_alive: u16,
    ) -> Result<ConnAck, ProbeError> {
        let mut c = Connect::new(client_id);
        c.clean_session = clean_session;
        c.keep_alive = keep_alive;
        self.send(&Packet::Connect(c)).await?;
        match self.recv().await? {
            Packet::ConnAck(ack) => Ok(ack),
            other => Err(ProbeError::Unexpected(Box::new(other))),
        }
    }

    fn pkid(&mut self) -> u16 {
        let id = self.next_pkid;
        self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
        id
    }

    /// Subscribes to one filter and returns the SUBACK.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<SubAck, ProbeError> {
        let mut sub = Subscribe::new(filter, qos);
        sub.pkid = self.pkid();
        self.send(&Packet::Subscribe(sub)).await?;
        match self.recv().await? {
            Packet::SubAck(ack) => Ok(ack),
            other => Err(ProbeError::Unexpected(Box::new(other))),
        }
    }

    /// Publishes; for QoS 1 waits for the PUBACK.
    pub async fn publish(&mut self, topic: &str, qos: QoS, payload: &[u8]) -> Result<(), ProbeError> {
        let mut p = Publish::new(topic, qos, payload.to_vec());
        if qos != QoS::AtMostOnce {
            p.pkid = self.pkid();
        }
        let pkid = p.pkid;
        self.send(&Packet::Publish(p)).await?;
        if qos == QoS::AtLeastOnce {
            match self.recv().await? {
                Packet::PubAck(ack) if ack.pkid == pkid => {}
                other => return Err(ProbeError::Unexpected(Box::new(other))),
            }
        }
        Ok(())
    }

    /// Waits for the next PUBLISH (answering QoS 1 with PUBACK), skipping PINGRESP.
    pub async fn next_publish(&mut self) -> Result<Publish, ProbeError> {
        for _ in 0..100 {
            match self.recv().await? {
                Packet::Publish(p) => {
                    if p.qos == QoS::AtLeastOnce {
                        self.send(&Packet::PubAck(PubAck::new(p.pkid))).await?;
                    }
                    return Ok(p);
                }
                Packet::PingResp => {}
                other => return Err(ProbeError::Unexpected(Box::new(other))),
            }
        }
        Err(ProbeError::Timeout("waiting for PUBLISH"))
    }
}

fn is_closed(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe)
}
