//! The terminal's Cloud Connect 2.0 MQTT client: rumqttc over rustls (ring), driven by the core's `OpenMqtt` /
//! `CloseMqtt` / `Publish` outputs.
//!
//! The core decides whether a session is wanted (MQT installed by a hardware installation, software ≥ 14.0.11.01,
//! SSL on; R5–R7) and with which settings; this task only carries them out:
//! - connects to the service address with SNI from its host name, the client certificate of the terminal, ALPN
//!   `x-amzn-mqtt-ca` when the core asks for it (port 443) or [`AlpnPolicy`] says so, and, when the
//!   `SSL/TLS Signature Algorithm` parameter is SHA-256, a verifier that accepts SHA-256 signatures only (R6);
//! - persistent session (clean session off), subscribes to its command topic with QoS 1, reports
//!   `Input::Mqtt(Connected)` once the subscription is granted;
//! - on failure reports what it saw as a typed link-down reason (`tls`, `refused`, `unreachable`, `dns`,
//!   `disconnected`, R23) and drops the session: when to try again (back-off with jitter) is the core's decision,
//!   which comes back as another `OpenMqtt`;
//! - hands every message on the command topic to the core unread (`Input::CloudCommand`), publishes the events the
//!   core answers with (`Output::PublishMqtt`: `kick-accepted`, `kick-refused`, `tas-connected`,
//!   `tas-dial-failed`, `error`; `docs/CLOUD_KICK.md`) and acknowledges (PUBACK) a command once the core has
//!   answered it. Reading commands, duplicates and expiry are the core's.
//!
//! The drive loop hands it the core's outputs over `command_channel`: in order, `OpenMqtt` and `CloseMqtt`
//! never dropped, publishes dropped only beyond a backlog.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ccv_terminal::{CloudCommand, Input, MqttDownReason, MqttEvent, MqttSettings};
use ccv_wire::cloud::{self, AWS_IOT_ALPN};
use ccv_wire::reason::WireReason;
use rumqttc::{AsyncClient, ConnectionError, EventLoop, MqttOptions, NetworkOptions, Packet, QoS, Transport};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::credentials::Credentials;
use crate::status::{MqttStatus, StatusCell};

/// When to offer the ALPN protocol `x-amzn-mqtt-ca`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlpnPolicy {
    /// As the core says: on port 443 only, as a real terminal talking to AWS IoT Core.
    #[default]
    Auto,
    /// On every port (an IoT endpoint stand-in whose 443-style listener is on another port).
    Always,
    /// Never (to reproduce the refusal of a client without ALPN).
    Never,
}

/// The client's own settings (from the `[io]` table).
#[derive(Debug, Clone)]
pub struct MqttClientSettings {
    /// TLS material.
    pub credentials: Credentials,
    /// ALPN behaviour.
    pub alpn: AlpnPolicy,
    /// MQTT keep-alive (at least 1 s).
    pub keep_alive: Duration,
    /// Time allowed for name resolution, and for TCP + TLS + CONNACK (whole seconds, at least 1 s).
    pub connect_timeout: Duration,
}

/// What the terminal's drive loop asks of the MQTT client (the core's MQTT-related outputs).
#[derive(Debug)]
pub(crate) enum MqttCommand {
    /// `Output::OpenMqtt`: one connection attempt with these settings.
    Open(MqttSettings),
    /// `Output::CloseMqtt`.
    Close,
    /// `Output::PublishMqtt`: publish `event`, then acknowledge command delivery `ack`.
    Publish {
        /// The event.
        event: cloud::Event,
        /// The delivery it answers.
        ack: Option<u64>,
    },
}

/// Publishes that may wait for a lagging client before more are dropped.
const PUBLISH_BACKLOG: usize = 64;

/// Creates the way from the drive loop to the MQTT client.
pub(crate) fn command_channel() -> (MqttCommands, MqttInbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    let publishes = Arc::new(AtomicUsize::new(0));
    (MqttCommands { tx, publishes: publishes.clone() }, MqttInbox { rx, publishes })
}

/// The drive loop's end of the way to the MQTT client. Commands arrive in the order sent. `Open` and `Close` are
/// never dropped: the core's decisions about the link take effect however far the client lags. Publishes are
/// dropped once [`PUBLISH_BACKLOG`] of them wait (a flood of kicks cannot grow memory without bound; an
/// unacknowledged command is delivered again by the broker). `Open` and `Close` need no bound of their own: the
/// core emits one per change of what it wants, and its retries are spaced by back-off.
pub(crate) struct MqttCommands {
    tx: mpsc::UnboundedSender<Box<MqttCommand>>,
    publishes: Arc<AtomicUsize>,
}

/// Why [`MqttCommands::send`] did not queue a command.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CommandDropped {
    /// A publish, with the backlog full.
    #[error("the MQTT client lags ({PUBLISH_BACKLOG} publishes waiting); publish dropped")]
    Lagging,
    /// The client task has ended (the terminal stops).
    #[error("the MQTT client has stopped")]
    Stopped,
}

impl MqttCommands {
    /// Queues `command` behind those sent before.
    pub(crate) fn send(&self, command: MqttCommand) -> Result<(), CommandDropped> {
        let publish = matches!(command, MqttCommand::Publish { .. });
        if publish && self.publishes.fetch_add(1, Ordering::AcqRel) >= PUBLISH_BACKLOG {
            self.publishes.fetch_sub(1, Ordering::AcqRel);
            return Err(CommandDropped::Lagging);
        }
        self.tx.send(Box::new(command)).map_err(|_| CommandDropped::Stopped)
    }
}

/// The MQTT client's end of [`command_channel`].
pub(crate) struct MqttInbox {
    rx: mpsc::UnboundedReceiver<Box<MqttCommand>>,
    publishes: Arc<AtomicUsize>,
}

impl MqttInbox {
    /// The next command; `None` once the drive loop is gone.
    pub(crate) async fn recv(&mut self) -> Option<Box<MqttCommand>> {
        let command = self.rx.recv().await?;
        if matches!(*command, MqttCommand::Publish { .. }) {
            self.publishes.fetch_sub(1, Ordering::AcqRel);
        }
        Some(command)
    }
}

/// The live session.
struct Session {
    settings: MqttSettings,
    client: AsyncClient,
    eventloop: EventLoop,
    /// Whether the service address resolved (the first step of the attempt).
    resolved: bool,
    /// When the attempt may start: the network's added latency after the core asked for it.
    not_before: tokio::time::Instant,
    subscribed: bool,
}

/// Requests (publishes, acks) queued towards rumqttc.
const REQUESTS: usize = 64;
/// QoS 1 messages the terminal keeps in flight.
const INFLIGHT: u16 = 16;

pub(crate) struct MqttClient {
    settings: MqttClientSettings,
    tms_id: String,
    inputs: mpsc::Sender<Box<Input>>,
    status: StatusCell,
    session: Option<Session>,
    /// Commands handed to the core, by delivery number, until it answers them.
    pending: HashMap<u64, rumqttc::Publish>,
    deliveries: u64,
    latency: crate::process::Latency,
}

/// Why a connection attempt ended, as the client saw it.
enum Failure {
    /// The service address did not resolve.
    Unresolved(String),
    /// rumqttc's error.
    Mqtt(ConnectionError),
}

enum Wake {
    Stop,
    Command(Box<MqttCommand>),
    Mqtt(Result<rumqttc::Event, Failure>),
}

impl MqttClient {
    pub(crate) fn new(
        settings: MqttClientSettings,
        tms_id: String,
        inputs: mpsc::Sender<Box<Input>>,
        status: StatusCell,
        latency: crate::process::Latency,
    ) -> MqttClient {
        MqttClient {
            settings,
            tms_id,
            inputs,
            status,
            session: None,
            pending: HashMap::new(),
            deliveries: 0,
            latency,
        }
    }

    fn status(&self, change: impl FnOnce(&mut MqttStatus)) {
        self.status.update(|s| change(&mut s.mqtt));
    }

    /// Runs until `shutdown` or until the terminal's output channel closes.
    pub(crate) async fn run(mut self, mut commands: MqttInbox, shutdown: CancellationToken) {
        // The core may already have said why there is no session (no DNS: "down"); that stays.
        self.status(|m| {
            if m.state.is_empty() {
                m.state = "off".into();
            }
        });
        let resolve_timeout = self.settings.connect_timeout.max(Duration::from_secs(1));
        loop {
            let wake = {
                let session = self.session.as_mut();
                let poll = async {
                    match session {
                        None => std::future::pending().await,
                        Some(s) => {
                            if !s.resolved {
                                tokio::time::sleep_until(s.not_before).await;
                                resolve(&s.settings.host, s.settings.port, resolve_timeout)
                                    .await
                                    .map_err(Failure::Unresolved)?;
                                s.resolved = true;
                            }
                            // Boxed: rumqttc's poll future holds its whole connect path (TCP, TLS, CONNECT),
                            // several KiB that an idle terminal would otherwise carry inline.
                            Box::pin(s.eventloop.poll()).await.map_err(Failure::Mqtt)
                        }
                    }
                };
                tokio::select! {
                    _ = shutdown.cancelled() => Wake::Stop,
                    command = commands.recv() => command.map_or(Wake::Stop, Wake::Command),
                    ev = poll => Wake::Mqtt(ev),
                }
            };
            match wake {
                Wake::Stop => break,
                Wake::Command(command) => self.on_command_from_core(*command).await,
                Wake::Mqtt(Ok(ev)) => self.on_mqtt(ev).await,
                Wake::Mqtt(Err(failure)) => self.on_failure(failure).await,
            }
        }
        self.close().await;
    }

    fn feed(&self, input: Input) -> impl std::future::Future<Output = ()> + Send + 'static {
        let tx = self.inputs.clone();
        async move {
            // The terminal's drive loop is gone only when the terminal stops; nothing to report then.
            let _ = tx.send(Box::new(input)).await;
        }
    }

    async fn on_command_from_core(&mut self, command: MqttCommand) {
        match command {
            MqttCommand::Open(settings) => self.open(settings).await,
            // The driver shows the link "off" when it asks for the close (in order with the core's reason).
            MqttCommand::Close => self.close().await,
            MqttCommand::Publish { event, ack } => {
                self.publish(&event);
                if let Some(p) = ack.and_then(|d| self.pending.remove(&d)) {
                    self.ack(&p);
                }
            }
        }
    }

    async fn open(&mut self, settings: MqttSettings) {
        self.close().await;
        let offer_alpn = match self.settings.alpn {
            AlpnPolicy::Auto => settings.alpn.is_some(),
            AlpnPolicy::Always => true,
            AlpnPolicy::Never => false,
        };
        let alpn = offer_alpn.then_some(AWS_IOT_ALPN.as_bytes());
        let tls = match self.settings.credentials.tls_config(alpn, settings.require_sha256) {
            Ok(t) => t,
            Err(e) => {
                // Checked when the credentials were loaded; report it the way a diagnosis would see it.
                tracing::error!(tms_id = %self.tms_id, "MQTT: TLS configuration unusable: {e}");
                self.failed(MqttDownReason::Tls, e.to_string());
                self.feed(Input::Mqtt(MqttEvent::ConnectFailed(MqttDownReason::Tls))).await;
                return;
            }
        };
        let mut options = MqttOptions::new(settings.client_id.clone(), settings.host.clone(), settings.port);
        options
            .set_keep_alive(self.settings.keep_alive.max(Duration::from_secs(1)))
            .set_clean_session(false)
            .set_manual_acks(true)
            // A terminal has few messages in flight; rumqttc keeps a slot per possible in-flight message.
            .set_inflight(INFLIGHT)
            .set_max_packet_size(cloud::MAX_PAYLOAD_BYTES + 1024, cloud::MAX_PAYLOAD_BYTES + 1024)
            .set_transport(Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(tls)));
        let (client, mut eventloop) = AsyncClient::new(options, REQUESTS);
        let mut net = NetworkOptions::new();
        net.set_connection_timeout(self.settings.connect_timeout.as_secs().max(1));
        // Events are small writes; without this each one waits for the previous one's delayed ACK.
        net.set_tcp_nodelay(true);
        eventloop.set_network_options(net);
        tracing::info!(tms_id = %self.tms_id, host = %settings.host, port = settings.port, alpn = offer_alpn,
            sha256_only = settings.require_sha256, "MQTT: connecting");
        let endpoint = Some(format!("{}:{}", settings.host, settings.port));
        self.status(|m| {
            m.state = "connecting".into();
            m.endpoint = endpoint;
        });
        let not_before = tokio::time::Instant::now() + self.latency.get();
        self.session =
            Some(Session { settings, client, eventloop, resolved: false, not_before, subscribed: false });
    }

    /// Ends the session: DISCONNECT when connected (bounded), then drop the socket.
    async fn close(&mut self) {
        let Some(mut s) = self.session.take() else { return };
        self.pending.clear();
        if s.subscribed && s.client.try_disconnect().is_ok() {
            let flush = async {
                // Bounded: a few events at most before the DISCONNECT goes out or the link errors.
                for _ in 0..16 {
                    match Box::pin(s.eventloop.poll()).await {
                        Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), flush).await;
        }
        tracing::info!(tms_id = %self.tms_id, "MQTT: session closed");
    }

    async fn on_mqtt(&mut self, ev: rumqttc::Event) {
        let Some(s) = self.session.as_mut() else { return };
        let rumqttc::Event::Incoming(packet) = ev else { return };
        match packet {
            Packet::ConnAck(ack) => {
                tracing::debug!(tms_id = %self.tms_id, session_present = ack.session_present, "MQTT: CONNACK");
                if let Err(e) = s.client.try_subscribe(s.settings.command_topic.clone(), QoS::AtLeastOnce) {
                    tracing::warn!(tms_id = %self.tms_id, "MQTT: cannot queue SUBSCRIBE: {e}");
                }
            }
            Packet::SubAck(ack) => {
                let granted =
                    ack.return_codes.iter().all(|c| matches!(c, rumqttc::SubscribeReasonCode::Success(_)));
                if granted {
                    s.subscribed = true;
                    tracing::info!(tms_id = %self.tms_id, topic = %s.settings.command_topic, "MQTT: link up");
                    self.status.update(|s| {
                        s.mqtt.state = "up".into();
                        s.mqtt.connects += 1;
                    });
                    self.feed(Input::Mqtt(MqttEvent::Connected)).await;
                } else {
                    let detail = format!("subscription to {} refused", s.settings.command_topic);
                    self.fail_attempt(MqttDownReason::Refused, detail).await;
                }
            }
            Packet::Publish(p) => self.on_command(p).await,
            _ => {}
        }
    }

    async fn on_command(&mut self, p: rumqttc::Publish) {
        let Some(expected) = self.session.as_ref().map(|s| s.settings.command_topic.clone()) else { return };
        if p.topic != expected {
            tracing::warn!(tms_id = %self.tms_id, topic = %p.topic, "MQTT: message on an unexpected topic ignored");
            self.ack(&p);
            return;
        }
        self.status(|m| m.commands += 1);
        self.deliveries += 1;
        let delivery = self.deliveries;
        let payload = p.payload.to_vec();
        self.pending.insert(delivery, p);
        self.feed(Input::CloudCommand(CloudCommand { delivery, payload })).await;
    }

    fn publish(&self, event: &cloud::Event) {
        let Some(s) = self.session.as_ref() else {
            tracing::warn!(tms_id = %self.tms_id, ?event, "MQTT: no session; event not published");
            return;
        };
        match s.client.try_publish(s.settings.event_topic.clone(), QoS::AtLeastOnce, false, event.to_json()) {
            Ok(()) => self.status(|m| m.events += 1),
            Err(e) => tracing::warn!(tms_id = %self.tms_id, "MQTT: event dropped ({e}): {event:?}"),
        }
    }

    fn ack(&self, p: &rumqttc::Publish) {
        if let Some(s) = self.session.as_ref() {
            if let Err(e) = s.client.try_ack(p) {
                tracing::warn!(tms_id = %self.tms_id, "MQTT: PUBACK not queued: {e}");
            }
        }
    }

    async fn on_failure(&mut self, failure: Failure) {
        let Some((was_up, sha256)) = self.session.as_ref().map(|s| (s.subscribed, s.settings.require_sha256))
        else {
            return;
        };
        let (reason, detail) = match failure {
            Failure::Unresolved(detail) => (MqttDownReason::Dns, detail),
            Failure::Mqtt(_) if was_up => (MqttDownReason::Disconnected, "the connection dropped".to_owned()),
            // A terminal set to SHA-1 verifies nothing the service signs: its hand-shake fails for that reason.
            Failure::Mqtt(ConnectionError::Tls(e)) if !sha256 => {
                (MqttDownReason::SignatureNotSha256, e.to_string())
            }
            Failure::Mqtt(err) => (classify(&err), err.to_string()),
        };
        self.fail_attempt(reason, detail).await;
    }

    /// Records a failed attempt or a dropped session, drops the session and tells the core, which decides when
    /// to try again.
    async fn fail_attempt(&mut self, reason: MqttDownReason, detail: String) {
        let Some(s) = self.session.take() else { return };
        // Commands handed to the core are still answered, but their PUBACKs are lost with the link: the broker
        // redelivers them and the core answers the redelivery as a duplicate.
        self.pending.clear();
        tracing::warn!(tms_id = %self.tms_id, reason = %reason, "MQTT: {} ({detail})",
            if s.subscribed { "link lost" } else { "connection failed" });
        self.failed(reason, detail);
        let event = if s.subscribed { MqttEvent::Disconnected } else { MqttEvent::ConnectFailed(reason) };
        self.feed(Input::Mqtt(event)).await;
    }

    fn failed(&self, reason: MqttDownReason, detail: String) {
        self.status(|m| {
            m.state = "down".into();
            m.last_failure = Some(reason.as_str().to_owned());
            m.last_failure_detail = Some(detail);
        });
    }
}

/// Resolves the service address, the first step of a connection attempt, at most `timeout`.
async fn resolve(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(mut addrs)) => match addrs.next() {
            Some(_) => Ok(()),
            None => Err(format!("{host} has no address")),
        },
        Ok(Err(e)) => Err(format!("{host} does not resolve: {e}")),
        Err(_) => Err(format!("{host} did not resolve within {timeout:?}")),
    }
}

/// What a failed connection attempt (after the name resolved) means, as a diagnosis reports it (R23).
fn classify(err: &ConnectionError) -> MqttDownReason {
    use std::io::ErrorKind;
    if rustls_cause(err).is_some_and(outside_validity) {
        return MqttDownReason::CertificateExpired;
    }
    match err {
        ConnectionError::Tls(_) => MqttDownReason::Tls,
        ConnectionError::ConnectionRefused(_) | ConnectionError::NotConnAck(_) => MqttDownReason::Refused,
        ConnectionError::NetworkTimeout => MqttDownReason::Unreachable,
        ConnectionError::Io(e) => match e.kind() {
            ErrorKind::ConnectionRefused
            | ErrorKind::TimedOut
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::AddrNotAvailable => MqttDownReason::Unreachable,
            // The endpoint closed the connection after TLS (before or at CONNACK): a policy refusal.
            _ => MqttDownReason::Refused,
        },
        _ => MqttDownReason::Refused,
    }
}

/// The rustls error behind `err`, wherever rumqttc wrapped it: in the hand-shake, or in the first read after it
/// (where a TLS 1.3 server's verdict on the client's certificate arrives).
fn rustls_cause(err: &ConnectionError) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    // Bounded: rumqttc nests three or four errors deep.
    for _ in 0..8 {
        let e = next?;
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // An I/O error's `source` skips the error it wraps; `get_ref` is that error.
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// A certificate outside its validity: the service's (checked by our TLS), or ours (the service's alert, which TLS
/// sends for an expired and a not yet valid certificate alike).
fn outside_validity(err: &rustls::Error) -> bool {
    use rustls::CertificateError as C;
    matches!(
        err,
        rustls::Error::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. }
        ) | rustls::Error::AlertReceived(rustls::AlertDescription::CertificateExpired)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unresolvable_names_do_not_resolve_and_closed_ports_are_unreachable() {
        let err =
            resolve("no-such-host.invalid", 443, Duration::from_secs(5)).await.expect_err("no such host");
        assert!(err.contains("no-such-host.invalid"), "{err}");
        assert_eq!(resolve("127.0.0.1", 1, Duration::from_secs(5)).await, Ok(()));
        let refused = ConnectionError::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(classify(&refused), MqttDownReason::Unreachable);
        assert_eq!(classify(&ConnectionError::NetworkTimeout), MqttDownReason::Unreachable);
    }

    /// How rumqttc hands over a certificate outside its validity: the server's in the hand-shake, the service's
    /// alert about ours in the first read after it; other TLS failures stay `tls`.
    #[test]
    fn a_certificate_outside_its_validity_is_certificate_expired_wherever_rumqttc_wraps_it() {
        use rumqttc::{StateError, TlsError, mqttbytes};
        let io = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let expired = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        let not_yet = rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidYet);
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateExpired);
        let unknown_ca = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let in_read =
            |e| ConnectionError::MqttState(StateError::Deserialization(mqttbytes::Error::Io(io(e))));
        for err in [
            ConnectionError::Tls(TlsError::Io(io(expired.clone()))),
            ConnectionError::Tls(TlsError::Io(io(not_yet))),
            ConnectionError::Tls(TlsError::TLS(expired)),
            in_read(alert.clone()),
            ConnectionError::Io(io(alert)),
        ] {
            assert_eq!(classify(&err), MqttDownReason::CertificateExpired, "{err:?}");
        }
        assert_eq!(classify(&ConnectionError::Tls(TlsError::Io(io(unknown_ca)))), MqttDownReason::Tls);
    }

    /// A flood of kicks makes one answer each on the way to the MQTT client; a client that lags must still get
    /// the core's close and open, in order.
    #[tokio::test]
    async fn a_flood_of_kick_answers_never_displaces_a_close_or_an_open() {
        let settings = MqttSettings {
            host: "localhost".into(),
            port: 443,
            client_id: "12345678".into(),
            subscription: "NL-CAT".into(),
            command_topic: "ccv/NL-CAT/12345678/cmd".into(),
            event_topic: "ccv/NL-CAT/12345678/evt".into(),
            tls: true,
            alpn: None,
            require_sha256: true,
        };
        let answer = |n: usize| MqttCommand::Publish {
            event: cloud::Event::KickAccepted {
                kick_id: format!("k-{n}"),
                reference: "tr".into(),
                duplicate: false,
            },
            ack: Some(n as u64),
        };
        let (tx, mut rx) = command_channel();
        tx.send(MqttCommand::Open(settings.clone())).expect("open queued");
        let queued = (0..10_000).filter(|&n| tx.send(answer(n)).is_ok()).count();
        assert_eq!(queued, PUBLISH_BACKLOG, "publishes beyond the backlog are dropped");
        assert_eq!(tx.send(answer(10_000)), Err(CommandDropped::Lagging));
        tx.send(MqttCommand::Close).expect("a close is never dropped");
        tx.send(MqttCommand::Open(settings)).expect("an open is never dropped");

        let mut order = Vec::new();
        for _ in 0..PUBLISH_BACKLOG + 3 {
            let command =
                tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("queued").expect("open");
            order.push(match *command {
                MqttCommand::Open(_) => "open",
                MqttCommand::Close => "close",
                MqttCommand::Publish { .. } => "publish",
            });
        }
        let mut expected = vec!["open"];
        expected.extend(std::iter::repeat_n("publish", PUBLISH_BACKLOG));
        expected.extend(["close", "open"]);
        assert_eq!(order, expected);
        // Once the client has caught up, publishes are queued again.
        tx.send(answer(0)).expect("room again");
    }
}
