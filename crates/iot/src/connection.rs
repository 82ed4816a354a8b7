//! One client connection: TLS accept (SNI one of the endpoint's names, ALPN, client certificate), CONNECT, then the packet
//! loop (publish, subscribe, keep-alive, QoS 1 delivery). Packets are framed and parsed only by
//! rumqttc's MQTT 3.1.1 codec (`Packet::read` / `Packet::write`); a first packet that codec cannot read is
//! tried with rumqttc's MQTT 5 codec, so that an MQTT 5 client gets CONNACK 1 (unacceptable protocol version)
//! like one of MQTT 3.1.
//!
//! Memory per idle client is kept small: a connection that has sent nothing holds its socket and a small task, no
//! TLS state; the read and write buffers start empty, grow only as a packet needs, and are released again once
//! drained.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{
    ConnAck, Connect, ConnectReturnCode, Packet, PubAck, Publish, SubAck, SubscribeReasonCode, UnsubAck,
};
use rumqttc::mqttbytes::{Error as MqttError, Protocol, QoS};
use rumqttc::v5::mqttbytes::v5 as mqtt5;
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::broker::{Broker, Kicker};
use crate::endpoint::ServerNames;
use crate::identity::Identity;
use crate::model::{EndpointConfig, EndpointEvent, Reason};
use crate::{policy, topics};
use ccv_wire::cloud::AWS_IOT_ALPN;

/// Bytes of MQTT framing allowed on top of the payload limit (fixed header, topic, packet id).
const PACKET_OVERHEAD: usize = 2 + topics::MAX_TOPIC_BYTES + 2 + 16;
/// Buffers bigger than this are released once empty.
const KEEP_BUFFER: usize = 4096;
/// Smallest read.
const READ_CHUNK: usize = 1024;
/// Largest read while a client sends a burst.
const BUSY_CHUNK: usize = 16 * 1024;

type Stream = TlsStream<TcpStream>;

/// What a connection runs on after TLS: the TLS stream in the endpoint, an in-memory pipe in the fuzz body.
pub(crate) trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

pub(crate) struct Conn {
    pub(crate) broker: Arc<Broker>,
    pub(crate) config: Arc<EndpointConfig>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) names: ServerNames,
    pub(crate) peer: SocketAddr,
}

/// How the packet loop ended.
enum End {
    Clean,
    Eof,
    Refused(Reason),
}

struct Session {
    client_id: Arc<str>,
    identity: Identity,
    will: Option<Publish>,
    inflight: Vec<Publish>,
    backlog: VecDeque<Publish>,
    next_pkid: u16,
    rbuf: BytesMut,
    wbuf: BytesMut,
}

impl Conn {
    fn refuse(&self, client_id: Option<&str>, reason: Reason) {
        let id = client_id.unwrap_or("-");
        if reason == Reason::Shutdown {
            tracing::info!(peer = %self.peer, client_id = id, "connection closed: endpoint shutting down");
        } else {
            tracing::warn!(peer = %self.peer, client_id = id, %reason, "client refused");
        }
        self.broker.emit(EndpointEvent::Refused {
            peer: self.peer,
            client_id: client_id.map(str::to_owned),
            reason,
        });
    }

    /// Serves one accepted TCP connection. Until the client sends its first byte the task holds only the socket
    /// and the hand-shake deadline: rustls' acceptor (whose first read allocates a 4 KiB buffer) and the rest of
    /// the connection's state are made once there is something to read, in their own allocation, so thousands of
    /// silent connections cost little more than their sockets.
    pub(crate) async fn run(self, tcp: TcpStream, tls: Arc<ServerConfig>, require_alpn: bool) {
        let deadline = Instant::now() + self.config.handshake_timeout;
        // `peek`, not `readable`: a socket fresh from accept may report itself readable before any byte came.
        let mut first_byte = [0u8; 1];
        let first = tokio::select! {
            _ = self.shutdown.cancelled() => return,
            r = timeout_at(deadline, tcp.peek(&mut first_byte)) => r,
        };
        match first {
            Ok(Ok(0)) => {
                return self.refuse(None, Reason::Tls("connection closed before a ClientHello".into()));
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return self.refuse(None, Reason::Tls(format!("read failed: {e}"))),
            Err(_) => return self.refuse(None, Reason::Timeout("TLS hand-shake")),
        }
        Box::pin(self.secure(tcp, tls, require_alpn, deadline)).await;
    }

    /// The TLS hand-shake (by `deadline`), the client's identity, then the connection after TLS.
    async fn secure(&self, tcp: TcpStream, tls: Arc<ServerConfig>, require_alpn: bool, deadline: Instant) {
        let stream = tokio::select! {
            _ = self.shutdown.cancelled() => return,
            s = timeout_at(deadline, self.handshake(tcp, tls, require_alpn)) => s,
        };
        let stream = match stream {
            Ok(Ok(s)) => s,
            Ok(Err(reason)) => return self.refuse(None, reason),
            Err(_) => return self.refuse(None, Reason::Timeout("TLS hand-shake")),
        };
        let identity = match stream.get_ref().1.peer_certificates().and_then(|c| c.first()) {
            Some(cert) => match Identity::from_cert_der(cert) {
                Ok(id) => id,
                Err(e) => return self.refuse(None, Reason::NoIdentity(e)),
            },
            None => return self.refuse(None, Reason::Tls("no client certificate".into())),
        };
        self.after_tls(stream, identity).await;
    }

    /// The connection once TLS stands and the client's certificate named `identity`: the CONNECT, then its
    /// session.
    pub(crate) async fn after_tls(&self, mut stream: impl Io, identity: Identity) {
        let mut rbuf = BytesMut::new();
        let first = tokio::select! {
            _ = self.shutdown.cancelled() => return,
            r = timeout(self.config.connect_timeout, read_connect(&mut stream, &mut rbuf, self.max_packet())) => r,
        };
        let connect = match first {
            Ok(Ok(Some(c))) => c,
            Ok(Ok(None)) => return,
            Ok(Err(reason @ Reason::UnsupportedProtocol { .. })) => {
                return self.deny(&mut stream, None, ConnectReturnCode::RefusedProtocolVersion, reason).await;
            }
            Ok(Err(reason)) => return self.refuse(None, reason),
            Err(_) => return self.refuse(None, Reason::Timeout("waiting for CONNECT")),
        };
        self.serve(stream, rbuf, identity, connect).await;
    }

    /// Answers a refused CONNECT with a CONNACK carrying `code`, closes the connection and reports `reason`.
    async fn deny(
        &self,
        stream: &mut impl Io,
        client_id: Option<&str>,
        code: ConnectReturnCode,
        reason: Reason,
    ) {
        let mut wbuf = BytesMut::new();
        let _ = Packet::ConnAck(ConnAck::new(code, false)).write(&mut wbuf, usize::MAX);
        let _ = timeout(self.config.write_timeout, stream.write_all(&wbuf)).await;
        let _ = timeout(self.config.write_timeout, stream.shutdown()).await;
        self.refuse(client_id, reason);
    }

    async fn handshake(
        &self,
        tcp: TcpStream,
        tls: Arc<ServerConfig>,
        require_alpn: bool,
    ) -> Result<Stream, Reason> {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp)
            .await
            .map_err(|e| Reason::Tls(e.to_string()))?;
        let hello = start.client_hello();
        match hello.server_name() {
            None => return Err(Reason::NoSni),
            Some(name) if !self.names.serves(name) => {
                let served = self.names.names().to_vec();
                return Err(Reason::UnknownServerName { name: name.to_owned(), served });
            }
            Some(_) => {}
        }
        if require_alpn {
            let offered: Vec<Vec<u8>> =
                hello.alpn().map(|a| a.map(<[u8]>::to_vec).collect()).unwrap_or_default();
            if offered.is_empty() {
                return Err(Reason::AlpnMissing);
            }
            if !offered.iter().any(|p| p == AWS_IOT_ALPN.as_bytes()) {
                let offered = offered.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect();
                return Err(Reason::AlpnWrong { offered });
            }
        }
        start.into_stream(tls).await.map_err(|e| Reason::Tls(e.to_string()))
    }

    fn max_packet(&self) -> usize {
        self.config.limits.max_payload + PACKET_OVERHEAD
    }

    fn keep_alive(&self, asked: u16) -> Duration {
        let asked = Duration::from_secs(u64::from(asked));
        let granted = if asked.is_zero() {
            self.config.keep_alive_max
        } else {
            asked.clamp(self.config.keep_alive_min, self.config.keep_alive_max)
        };
        granted * 3 / 2
    }

    async fn serve(&self, mut stream: impl Io, rbuf: BytesMut, identity: Identity, connect: Connect) {
        let limits = &self.config.limits;
        let len = connect.client_id.len();
        let client_id = connect.client_id.clone();
        let mut deny = async |code: ConnectReturnCode, reason: Reason| {
            self.deny(&mut stream, Some(&client_id), code, reason).await;
        };
        if len == 0 || len > limits.max_client_id {
            return deny(ConnectReturnCode::BadClientId, Reason::ClientId { len, max: limits.max_client_id })
                .await;
        }
        if let Err(refusal) = policy::may_connect(&identity, &connect.client_id) {
            return deny(ConnectReturnCode::NotAuthorized, Reason::Policy(refusal)).await;
        }
        let will = match &connect.last_will {
            None => None,
            Some(w) => {
                if let Err(e) = topics::validate_name(&w.topic) {
                    return deny(ConnectReturnCode::NotAuthorized, Reason::Topic(e)).await;
                }
                if let Err(refusal) = policy::may_publish(&identity, &w.topic) {
                    return deny(ConnectReturnCode::NotAuthorized, Reason::Policy(refusal)).await;
                }
                if w.qos == QoS::ExactlyOnce {
                    return deny(ConnectReturnCode::NotAuthorized, Reason::QoS2 { topic: w.topic.clone() })
                        .await;
                }
                Some(Publish::from_bytes(w.topic.clone(), w.qos, w.message.clone()))
            }
        };
        let client_id: Arc<str> = Arc::from(connect.client_id.as_str());
        let (tx, mut rx) = crate::broker::outbox(self.config.limits.max_queued);
        let kicker = Arc::new(Kicker::default());
        let attached = self.broker.attach(&client_id, connect.clean_session, tx, kicker.clone());
        self.broker.connected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let keep_alive = self.keep_alive(connect.keep_alive);
        tracing::info!(peer = %self.peer, %client_id, %identity, session_present = attached.session_present,
            keep_alive_ms = keep_alive.as_millis() as u64, "client connected");
        self.broker.emit(EndpointEvent::Connected {
            peer: self.peer,
            client_id: client_id.to_string(),
            identity: identity.clone(),
            session_present: attached.session_present,
        });
        let mut s = Session {
            client_id: client_id.clone(),
            identity,
            will,
            inflight: Vec::new(),
            backlog: VecDeque::new(),
            next_pkid: 1,
            rbuf,
            wbuf: BytesMut::new(),
        };
        let _ = Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, attached.session_present))
            .write(&mut s.wbuf, usize::MAX);
        for mut p in attached.resend {
            p.dup = p.pkid != 0;
            self.deliver(&mut s, p);
        }
        let end = self.packet_loop(&mut stream, &mut s, &mut rx, &kicker, keep_alive).await;
        let _ = timeout(Duration::from_secs(1), stream.shutdown()).await;
        self.broker.connected.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        match &end {
            End::Refused(reason) => self.refuse(Some(&client_id), reason.clone()),
            End::Clean | End::Eof => {
                tracing::info!(%client_id, clean = matches!(end, End::Clean), "client disconnected");
                self.broker.emit(EndpointEvent::Closed {
                    client_id: client_id.to_string(),
                    clean: matches!(end, End::Clean),
                });
            }
        }
        if !matches!(end, End::Clean | End::Refused(Reason::TakenOver)) {
            if let Some(will) = s.will.take() {
                self.broker.route(&will);
            }
        }
        rx.close();
        let mut leftovers: Vec<Publish> = s.inflight.drain(..).collect();
        leftovers.extend(s.backlog.drain(..));
        while let Some(p) = rx.try_recv() {
            if p.qos == QoS::AtLeastOnce {
                leftovers.push(p);
            }
        }
        self.broker.detach(&client_id, attached.conn_id, leftovers);
    }

    async fn packet_loop(
        &self,
        stream: &mut impl Io,
        s: &mut Session,
        rx: &mut crate::broker::Inbox,
        kicker: &Kicker,
        keep_alive: Duration,
    ) -> End {
        let max_packet = self.max_packet();
        // One timer for the whole connection: reads only record the time; when the timer fires
        // it is re-armed from the last read, so a busy connection costs no timer work per packet.
        let mut last_read = Instant::now();
        let keep_alive_timer = tokio::time::sleep_until(last_read + keep_alive);
        tokio::pin!(keep_alive_timer);
        let mut chunk = READ_CHUNK;
        loop {
            // Handle every complete packet already buffered.
            let need = loop {
                match Packet::read(&mut s.rbuf, max_packet) {
                    Ok(packet) => match self.handle(s, packet) {
                        Ok(true) => {}
                        Ok(false) => {
                            let _ = self.flush(stream, s).await;
                            return End::Clean;
                        }
                        Err(reason) => return End::Refused(reason),
                    },
                    Err(MqttError::InsufficientBytes(n)) => break n,
                    Err(e) => return End::Refused(codec_reason(e, max_packet)),
                }
            };
            if let Err(reason) = self.flush(stream, s).await {
                return End::Refused(reason);
            }
            if s.rbuf.is_empty() && s.rbuf.capacity() > KEEP_BUFFER {
                s.rbuf = BytesMut::new();
            }
            s.rbuf.reserve(need.clamp(chunk, max_packet));
            tokio::select! {
                biased;
                _ = kicker.token.cancelled() => return End::Refused(kicker.reason().unwrap_or(Reason::Shutdown)),
                _ = self.shutdown.cancelled() => return End::Refused(Reason::Shutdown),
                read = stream.read_buf(&mut s.rbuf) => match read {
                    Ok(0) => return End::Eof,
                    Ok(n) => {
                        last_read = Instant::now();
                        // A full read means more is waiting: read bigger chunks while busy.
                        chunk = if n >= chunk { (chunk * 2).min(BUSY_CHUNK) } else { READ_CHUNK };
                    }
                    Err(e) => {
                        tracing::debug!(client_id = %s.client_id, error = %e, "read failed");
                        return End::Eof;
                    }
                },
                Some(p) = rx.recv() => {
                    self.deliver(s, p);
                    // Take whatever else is already waiting, so one flush covers a burst.
                    for _ in 0..64 {
                        match rx.try_recv() {
                            Some(p) => self.deliver(s, p),
                            None => break,
                        }
                    }
                }
                _ = &mut keep_alive_timer => {
                    let due = last_read + keep_alive;
                    if Instant::now() >= due {
                        return End::Refused(Reason::KeepAlive { millis: keep_alive.as_millis() });
                    }
                    keep_alive_timer.as_mut().reset(due);
                }
            }
        }
    }

    async fn flush(&self, stream: &mut impl Io, s: &mut Session) -> Result<(), Reason> {
        if s.wbuf.is_empty() {
            return Ok(());
        }
        let write = async {
            stream.write_all(&s.wbuf).await?;
            stream.flush().await
        };
        match timeout(self.config.write_timeout, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Reason::Protocol(format!("write failed: {e}"))),
            Err(_) => return Err(Reason::SlowConsumer),
        }
        s.wbuf.clear();
        if s.wbuf.capacity() > KEEP_BUFFER {
            s.wbuf = BytesMut::new();
        }
        Ok(())
    }

    fn write(&self, s: &mut Session, packet: &Packet) {
        // The broker only writes packets it built within the limits; usize::MAX disables the
        // codec's outgoing size check, which the payload limit on incoming PUBLISH already covers.
        if let Err(e) = packet.write(&mut s.wbuf, usize::MAX) {
            tracing::error!(client_id = %s.client_id, error = %e, "cannot encode packet; dropped");
        }
    }

    fn deliver(&self, s: &mut Session, mut p: Publish) {
        if p.qos == QoS::AtMostOnce {
            return self.write(s, &Packet::Publish(p));
        }
        if s.inflight.len() >= self.config.limits.max_inflight {
            if s.backlog.len() >= self.config.limits.max_queued {
                tracing::warn!(client_id = %s.client_id, "delivery backlog full; message dropped");
                return;
            }
            s.backlog.push_back(p);
            return;
        }
        if p.pkid == 0 || s.inflight.iter().any(|q| q.pkid == p.pkid) {
            p.pkid = next_pkid(s);
        }
        self.write(s, &Packet::Publish(p.clone()));
        s.inflight.push(p);
    }

    /// Returns `Ok(false)` on DISCONNECT.
    fn handle(&self, s: &mut Session, packet: Packet) -> Result<bool, Reason> {
        let limits = &self.config.limits;
        match packet {
            Packet::Publish(p) => {
                if p.qos == QoS::ExactlyOnce {
                    return Err(Reason::QoS2 { topic: p.topic });
                }
                if p.retain {
                    return Err(Reason::Retain { topic: p.topic });
                }
                topics::validate_name(&p.topic).map_err(Reason::Topic)?;
                if p.payload.len() > limits.max_payload {
                    return Err(Reason::PayloadTooLarge { len: p.payload.len(), max: limits.max_payload });
                }
                policy::may_publish(&s.identity, &p.topic).map_err(Reason::Policy)?;
                let delivered = self.broker.route(&p);
                tracing::debug!(client_id = %s.client_id, topic = %p.topic, bytes = p.payload.len(), delivered, "publish");
                if p.qos == QoS::AtLeastOnce {
                    self.write(s, &Packet::PubAck(PubAck::new(p.pkid)));
                }
            }
            Packet::PubAck(ack) => {
                s.inflight.retain(|p| p.pkid != ack.pkid);
                while s.inflight.len() < limits.max_inflight {
                    let Some(p) = s.backlog.pop_front() else { break };
                    self.deliver(s, p);
                }
            }
            Packet::Subscribe(sub) => {
                if sub.filters.len() > limits.max_filters_per_subscribe {
                    return Err(Reason::TooManySubscriptions(format!(
                        "{} filters in one SUBSCRIBE; at most {}",
                        sub.filters.len(),
                        limits.max_filters_per_subscribe
                    )));
                }
                let mut codes = Vec::with_capacity(sub.filters.len());
                for f in &sub.filters {
                    topics::validate_filter(&f.path).map_err(Reason::Topic)?;
                    if f.qos == QoS::ExactlyOnce {
                        return Err(Reason::QoS2 { topic: f.path.clone() });
                    }
                    policy::may_subscribe(&s.identity, &f.path).map_err(Reason::Policy)?;
                }
                for f in &sub.filters {
                    if self.broker.subscription_count(&s.client_id) >= limits.max_subscriptions {
                        return Err(Reason::TooManySubscriptions(format!(
                            "more than {} subscriptions on one connection",
                            limits.max_subscriptions
                        )));
                    }
                    self.broker.subscribe(&s.client_id, &f.path, f.qos);
                    tracing::debug!(client_id = %s.client_id, filter = %f.path, qos = ?f.qos, "subscribed");
                    codes.push(SubscribeReasonCode::Success(f.qos));
                }
                self.write(s, &Packet::SubAck(SubAck::new(sub.pkid, codes)));
                self.broker.emit(EndpointEvent::Subscribed {
                    client_id: s.client_id.to_string(),
                    filters: sub.filters.iter().map(|f| f.path.clone()).collect(),
                });
            }
            Packet::Unsubscribe(u) => {
                for t in &u.topics {
                    self.broker.unsubscribe(&s.client_id, t);
                }
                self.write(s, &Packet::UnsubAck(UnsubAck::new(u.pkid)));
            }
            Packet::PingReq => self.write(s, &Packet::PingResp),
            Packet::Disconnect => {
                s.will = None;
                return Ok(false);
            }
            Packet::Connect(_) => return Err(Reason::Protocol("second CONNECT on one connection".into())),
            Packet::PubRec(_) | Packet::PubRel(_) | Packet::PubComp(_) => {
                return Err(Reason::QoS2 { topic: String::new() });
            }
            other => return Err(Reason::Protocol(format!("unexpected packet from a client: {other:?}"))),
        }
        Ok(true)
    }
}

fn next_pkid(s: &mut Session) -> u16 {
    // At most max_inflight (far below 65,535) ids are in use, so a free one is always found.
    loop {
        let id = s.next_pkid;
        s.next_pkid = s.next_pkid.checked_add(1).unwrap_or(1);
        if !s.inflight.iter().any(|p| p.pkid == id) {
            return id;
        }
    }
}

fn codec_reason(e: MqttError, max: usize) -> Reason {
    match e {
        MqttError::PayloadSizeLimitExceeded(len) => Reason::PacketTooLarge { len, max },
        other => Reason::Protocol(other.to_string()),
    }
}

/// Reads the first packet, which must be an MQTT 3.1.1 CONNECT. `Ok(None)` is a clean end of stream.
async fn read_connect(
    stream: &mut impl Io,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<Connect>, Reason> {
    loop {
        match rumqttc::mqttbytes::check(buf.iter(), max) {
            Ok(header) => return first_packet(buf.split_to(header.frame_length()), max).map(Some),
            Err(MqttError::InsufficientBytes(n)) => {
                buf.reserve(n.clamp(READ_CHUNK, max));
                match stream.read_buf(buf).await {
                    Ok(0) => return Ok(None),
                    Ok(_) => {}
                    Err(e) => return Err(Reason::Protocol(format!("read failed: {e}"))),
                }
            }
            Err(e) => return Err(codec_reason(e, max)),
        }
    }
}

/// Decodes one whole first packet. A CONNECT of another MQTT version is [`Reason::UnsupportedProtocol`]: the
/// MQTT 3.1.1 codec reads the protocol name and level first; an MQTT 5 CONNECT whose properties the 3.1.1 codec
/// cannot read is recognised by rumqttc's MQTT 5 codec.
fn first_packet(frame: BytesMut, max: usize) -> Result<Connect, Reason> {
    match Packet::read(&mut frame.clone(), max) {
        Ok(Packet::Connect(c)) if c.protocol == Protocol::V4 => Ok(c),
        Ok(Packet::Connect(_)) => Err(Reason::UnsupportedProtocol { level: Some(5) }),
        Ok(other) => Err(Reason::Protocol(format!("first packet must be CONNECT, got {other:?}"))),
        Err(MqttError::InvalidProtocol) => Err(Reason::UnsupportedProtocol { level: None }),
        Err(MqttError::InvalidProtocolLevel(level)) => {
            Err(Reason::UnsupportedProtocol { level: Some(level) })
        }
        Err(e) => {
            let max5 = u32::try_from(max).unwrap_or(u32::MAX);
            match mqtt5::Packet::read(&mut frame.clone(), Some(max5)) {
                Ok(mqtt5::Packet::Connect(..)) => Err(Reason::UnsupportedProtocol { level: Some(5) }),
                _ => Err(codec_reason(e, max)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(bytes: &[u8]) -> Result<Connect, Reason> {
        first_packet(BytesMut::from(bytes), 1024)
    }

    #[tokio::test]
    async fn a_connection_that_has_sent_nothing_holds_a_small_task_and_no_tls_state() {
        let pki = crate::Pki::generate(&crate::PkiOptions::default()).expect("PKI");
        let tls = crate::EndpointTls::from_pki(&pki).expect("server TLS");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds on loopback");
        let _client = TcpStream::connect(listener.local_addr().expect("address")).await.expect("connects");
        let (tcp, peer) = listener.accept().await.expect("accepts");
        let config = EndpointConfig::default();
        let conn = Conn {
            broker: Arc::new(Broker::new(config.limits.clone(), config.session_expiry)),
            config: Arc::new(config),
            shutdown: CancellationToken::new(),
            names: tls.names.clone(),
            peer,
        };
        // The task's own allocation is the future's size: the TLS acceptor, the TLS stream and the session are
        // in a second allocation made once the client sends something.
        let task = conn.run(tcp, tls.with_alpn.clone(), true);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 1024, "a silent connection's task is {size} bytes");
    }

    #[test]
    fn the_first_packet_is_classified_by_version() {
        let mut buf = BytesMut::new();
        Packet::Connect(Connect::new("T1")).write(&mut buf, usize::MAX).expect("encodes");
        assert_eq!(first(&buf).expect("3.1.1 accepted").client_id, "T1");
        // Level 6 under the name "MQTT".
        let mut level6 = buf.to_vec();
        level6[8] = 6;
        assert_eq!(first(&level6).expect_err("refused"), Reason::UnsupportedProtocol { level: Some(6) });
        assert!(matches!(first(&[0xc0, 0x00]), Err(Reason::Protocol(_))), "PINGREQ first");
        assert!(matches!(first(&[0x10, 0x02, 0xff, 0xff]), Err(Reason::Protocol(_))), "garbage CONNECT");
    }
}
