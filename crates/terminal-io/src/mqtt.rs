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
//! - on failure reports the typed link-down reason (`tls`, `refused`, `unreachable`, `dns`, `disconnected`, R23)
//!   and retries with exponential back-off and jitter;
//! - turns `connect-tas` commands into `Input::CloudKick` and the core's answers into `kick-accepted` /
//!   `kick-refused` / `tas-connected` / `tas-dial-failed` events (`docs/CLOUD_KICK.md`), answers a redelivered
//!   kick id with the earlier answer (`duplicate: true`) without bothering the core, answers payloads it cannot
//!   read with an `error` event, and acknowledges (PUBACK) every command once it is answered.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccv_terminal::{CloudKick, HostPort, Input, KickKind, MqttDownReason, MqttEvent, MqttSettings};
use ccv_wire::cloud::{self as kick, AWS_IOT_ALPN, Command, ConnectTas};
use ccv_wire::reason::WireReason;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rumqttc::{AsyncClient, ConnectionError, EventLoop, MqttOptions, NetworkOptions, Packet, QoS, Transport};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::link::Backoff;
use crate::status::{MqttStatus, StatusCell};

/// A terminal's TLS material for the IoT endpoint, as PEM text.
#[derive(Clone)]
pub struct MqttCredentials {
    /// The CA that signed the endpoint's server certificate.
    pub ca_pem: String,
    /// The terminal's client certificate (CN = TMS ID).
    pub cert_pem: String,
    /// The terminal's private key.
    pub key_pem: String,
}

impl std::fmt::Debug for MqttCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttCredentials").finish_non_exhaustive()
    }
}

/// Why a terminal's TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// A file is missing or unreadable.
    #[error("cannot read {path}: {source} (create the PKI with `ccv-emu pki init DIR --terminal {tms_id}`)")]
    Read {
        /// The file.
        path: PathBuf,
        /// The TMS ID whose certificate was looked for.
        tms_id: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The PEM files do not make a usable TLS client configuration.
    #[error("the TLS material for terminal {tms_id} is not usable: {detail}")]
    Invalid {
        /// The TMS ID.
        tms_id: String,
        /// What is wrong.
        detail: String,
    },
}

/// Largest PEM file read (a certificate chain or key is a few KiB).
const MAX_PEM_BYTES: u64 = 256 * 1024;

impl MqttCredentials {
    /// Reads `DIR/ca.pem`, `DIR/terminals/{tms_id}.pem` and `DIR/terminals/{tms_id}.key` (the layout of
    /// `ccv-emu pki init`) and checks that they make a TLS client configuration.
    pub fn load(pki_dir: &Path, tms_id: &str) -> Result<MqttCredentials, CredentialsError> {
        let read = |path: PathBuf| -> Result<String, CredentialsError> {
            let err =
                |source| CredentialsError::Read { path: path.clone(), tms_id: tms_id.to_owned(), source };
            let len = std::fs::metadata(&path).map_err(err)?.len();
            if len > MAX_PEM_BYTES {
                return Err(CredentialsError::Invalid {
                    tms_id: tms_id.to_owned(),
                    detail: format!(
                        "{} has {len} bytes; a PEM file here is at most {MAX_PEM_BYTES}",
                        path.display()
                    ),
                });
            }
            std::fs::read_to_string(&path).map_err(err)
        };
        let creds = MqttCredentials {
            ca_pem: read(pki_dir.join("ca.pem"))?,
            cert_pem: read(pki_dir.join("terminals").join(format!("{tms_id}.pem")))?,
            key_pem: read(pki_dir.join("terminals").join(format!("{tms_id}.key")))?,
        };
        creds
            .tls_config(None, false)
            .map_err(|e| CredentialsError::Invalid { tms_id: tms_id.to_owned(), detail: e.to_string() })?;
        Ok(creds)
    }

    fn tls_config(
        &self,
        alpn: Option<&[u8]>,
        sha256_only: bool,
    ) -> Result<Arc<rustls::ClientConfig>, ccv_tls::TlsError> {
        ccv_tls::client_config(&self.ca_pem, &self.cert_pem, &self.key_pem, alpn, sha256_only)
    }
}

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
    pub credentials: MqttCredentials,
    /// ALPN behaviour.
    pub alpn: AlpnPolicy,
    /// MQTT keep-alive (at least 1 s).
    pub keep_alive: Duration,
    /// Time allowed for TCP + TLS + CONNACK (whole seconds, at least 1 s).
    pub connect_timeout: Duration,
    /// First back-off after a failed connection.
    pub backoff_initial_ms: u64,
    /// Largest back-off.
    pub backoff_max_ms: u64,
}

/// What the terminal's drive loop asks of the MQTT client (the core's MQTT-related outputs).
#[derive(Debug)]
pub(crate) enum MqttCommand {
    /// `Output::OpenMqtt`.
    Open(MqttSettings),
    /// `Output::CloseMqtt`.
    Close,
    /// `Output::Publish`.
    Publish(ccv_terminal::Event),
}

/// A kick handed to the core, waiting for its answer.
struct Pending {
    publish: rumqttc::Publish,
    reference: String,
}

/// The live session.
struct Session {
    settings: MqttSettings,
    client: AsyncClient,
    eventloop: EventLoop,
    subscribed: bool,
    retry_at: Option<tokio::time::Instant>,
    backoff: Backoff,
}

/// Kick ids answered, remembered for duplicates.
const LEDGER: usize = 256;
/// Requests (publishes, acks) queued towards rumqttc.
const REQUESTS: usize = 64;
/// QoS 1 messages the terminal keeps in flight.
const INFLIGHT: u16 = 16;

pub(crate) struct MqttClient {
    settings: MqttClientSettings,
    tms_id: String,
    seed: u64,
    inputs: mpsc::Sender<Box<Input>>,
    status: StatusCell,
    session: Option<Session>,
    ledger: KickLedger,
    pending: HashMap<String, Pending>,
    /// The cloud kick the current TAS dial belongs to (kick id, reference).
    current: Option<(String, String)>,
    sessions_opened: u64,
}

enum Wake {
    Stop,
    Command(Box<MqttCommand>),
    Mqtt(Result<rumqttc::Event, ConnectionError>),
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl MqttClient {
    pub(crate) fn new(
        settings: MqttClientSettings,
        tms_id: String,
        seed: u64,
        inputs: mpsc::Sender<Box<Input>>,
        status: StatusCell,
    ) -> MqttClient {
        MqttClient {
            settings,
            tms_id,
            seed,
            inputs,
            status,
            session: None,
            ledger: KickLedger::new(LEDGER),
            pending: HashMap::new(),
            current: None,
            sessions_opened: 0,
        }
    }

    fn status(&self, change: impl FnOnce(&mut MqttStatus)) {
        self.status.update(|s| change(&mut s.mqtt));
    }

    /// Runs until `shutdown` or until the terminal's output channel closes.
    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Box<MqttCommand>>,
        shutdown: CancellationToken,
    ) {
        self.status(|m| m.state = "off".into());
        loop {
            let wake = {
                let session = self.session.as_mut();
                let poll = async {
                    match session {
                        None => std::future::pending().await,
                        Some(s) => {
                            if let Some(at) = s.retry_at {
                                tokio::time::sleep_until(at).await;
                                s.retry_at = None;
                            }
                            // Boxed: rumqttc's poll future holds its whole connect path (TCP, TLS, CONNECT),
                            // several KiB that an idle terminal would otherwise carry inline.
                            Box::pin(s.eventloop.poll()).await
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
                Wake::Mqtt(Err(err)) => self.on_error(err).await,
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
            MqttCommand::Close => {
                self.close().await;
                self.status(|m| m.state = "off".into());
            }
            MqttCommand::Publish(event) => self.on_core_event(event),
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
            .set_max_packet_size(kick::MAX_PAYLOAD_BYTES + 1024, kick::MAX_PAYLOAD_BYTES + 1024)
            .set_transport(Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(tls)));
        let (client, mut eventloop) = AsyncClient::new(options, REQUESTS);
        let mut net = NetworkOptions::new();
        net.set_connection_timeout(self.settings.connect_timeout.as_secs().max(1));
        // Events are small writes; without this each one waits for the previous one's delayed ACK.
        net.set_tcp_nodelay(true);
        eventloop.set_network_options(net);
        self.sessions_opened += 1;
        let rng = SmallRng::seed_from_u64(self.seed.wrapping_add(self.sessions_opened));
        let backoff = Backoff::new(self.settings.backoff_initial_ms, self.settings.backoff_max_ms, rng);
        tracing::info!(tms_id = %self.tms_id, host = %settings.host, port = settings.port, alpn = offer_alpn,
            sha256_only = settings.require_sha256, "MQTT: connecting");
        {
            let endpoint = Some(format!("{}:{}", settings.host, settings.port));
            self.status(|m| {
                m.state = "connecting".into();
                m.endpoint = endpoint;
            });
        }
        self.session =
            Some(Session { settings, client, eventloop, subscribed: false, retry_at: None, backoff });
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
                    s.backoff = Backoff::new(
                        self.settings.backoff_initial_ms,
                        self.settings.backoff_max_ms,
                        SmallRng::seed_from_u64(self.seed.wrapping_add(self.sessions_opened)),
                    );
                    tracing::info!(tms_id = %self.tms_id, topic = %s.settings.command_topic, "MQTT: link up");
                    {
                        self.status.update(|s| {
                            s.mqtt.state = "up".into();
                            s.mqtt.connects += 1;
                        });
                    }
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
        let kick = match kick::parse_command(&p.payload) {
            Ok(Command::ConnectTas(k)) => k,
            Ok(_) => {
                // A command type ccv-iot knows but this terminal does not act on.
                let err = kick::CommandError::UnknownType("(not supported by this terminal)".into());
                self.publish(&kick::Event::from_command_error(&err));
                self.ack(&p);
                return;
            }
            Err(err) => {
                tracing::warn!(tms_id = %self.tms_id, "MQTT: command refused: {err}");
                self.publish(&kick::Event::from_command_error(&err));
                self.ack(&p);
                return;
            }
        };
        match self.ledger.check(&kick, unix_ms()) {
            KickDecision::Duplicate(answer) => {
                tracing::info!(tms_id = %self.tms_id, kick_id = %kick.kick_id, "MQTT: duplicate kick answered again");
                self.publish(&answer);
                self.ack(&p);
            }
            // Expired kicks go to the core too: it refuses them with `kick_expired` and journals the refusal.
            KickDecision::New | KickDecision::Expired(_) => {
                if let Some(old) = self.pending.remove(&kick.kick_id) {
                    // The same id again before the core answered: acknowledge the older copy now.
                    self.ack(&old.publish);
                }
                let input = Input::CloudKick(cloud_kick(&kick));
                self.pending.insert(kick.kick_id.clone(), Pending { publish: p, reference: kick.reference });
                self.feed(input).await;
            }
        }
    }

    /// Maps a core event onto the wire (docs/CLOUD_KICK.md) and publishes it when it belongs there.
    fn on_core_event(&mut self, event: ccv_terminal::Event) {
        use ccv_terminal::Event as E;
        let wire = match event {
            E::KickAccepted { kick: KickKind::Cloud, kick_id: Some(id), .. } => {
                let Some(p) = self.pending.remove(&id) else { return };
                self.current = Some((id.clone(), p.reference.clone()));
                let answer = kick::Event::KickAccepted {
                    kick_id: id.clone(),
                    reference: p.reference,
                    duplicate: false,
                };
                self.ledger.record(&id, answer.clone());
                self.ack(&p.publish);
                answer
            }
            E::KickRefused { kick: KickKind::Cloud, kick_id: Some(id), reason, message } => {
                let Some(p) = self.pending.remove(&id) else { return };
                let answer = kick::Event::KickRefused {
                    kick_id: id.clone(),
                    reference: p.reference,
                    reason,
                    message,
                    duplicate: false,
                };
                self.ledger.record(&id, answer.clone());
                self.ack(&p.publish);
                answer
            }
            E::KickAccepted { kick: KickKind::Local, .. } => {
                // The TAS link that follows belongs to a local kick.
                self.current = None;
                return;
            }
            E::TasConnected { tas, .. } => {
                let Some((kick_id, reference)) = self.current.clone() else { return };
                let hp = tas.parse::<HostPort>().unwrap_or_else(|_| HostPort::new(tas, 0));
                kick::Event::TasConnected { kick_id, reference, host: hp.host, port: hp.port }
            }
            E::TasDialFailed { reason, message } => {
                let Some((kick_id, reference)) = self.current.take() else { return };
                kick::Event::TasDialFailed { kick_id, reference, reason, message }
            }
            _ => return,
        };
        self.publish(&wire);
    }

    fn publish(&self, event: &kick::Event) {
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

    async fn on_error(&mut self, err: ConnectionError) {
        let Some((was_up, host, port)) =
            self.session.as_ref().map(|s| (s.subscribed, s.settings.host.clone(), s.settings.port))
        else {
            return;
        };
        let reason = if was_up { MqttDownReason::Disconnected } else { classify(&err, &host, port).await };
        self.fail_attempt(reason, err.to_string()).await;
    }

    /// Records a failed attempt or a dropped session, tells the core, and schedules the next attempt.
    async fn fail_attempt(&mut self, reason: MqttDownReason, detail: String) {
        let Some(s) = self.session.as_mut() else { return };
        let was_up = std::mem::replace(&mut s.subscribed, false);
        let delay = s.backoff.next_delay();
        s.retry_at = Some(tokio::time::Instant::now() + delay);
        // Kicks handed to the core are still answered; their PUBACKs are lost with the link and the broker
        // redelivers them, which the ledger answers as duplicates.
        tracing::warn!(tms_id = %self.tms_id, reason = %reason, ?delay, "MQTT: {} ({detail}); retrying",
            if was_up { "link lost" } else { "connection failed" });
        self.failed(reason, detail);
        let event = if was_up { MqttEvent::Disconnected } else { MqttEvent::ConnectFailed(reason) };
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

use kick::Event;
use std::collections::VecDeque;

/// What to do with an incoming kick, according to the [`KickLedger`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KickDecision {
    /// First time seen and not expired: act on it, then [`KickLedger::record`] the answer.
    New,
    /// Already handled: publish this (the earlier answer, marked `duplicate`) and do nothing else.
    Duplicate(Event),
    /// Expired: publish this refusal and do nothing else.
    Expired(Event),
}

/// Remembers the answers to the last `capacity` kick ids so a QoS 1 redelivery is answered again
/// without dialling the TAS a second time.
#[derive(Debug)]
pub(crate) struct KickLedger {
    capacity: usize,
    order: VecDeque<String>,
    answers: HashMap<String, Event>,
}

impl KickLedger {
    /// A ledger remembering at most `capacity` kicks (oldest forgotten first).
    pub(crate) fn new(capacity: usize) -> Self {
        KickLedger { capacity: capacity.max(1), order: VecDeque::new(), answers: HashMap::new() }
    }

    /// Decides what to do with `kick` at Unix time `now_ms`.
    pub(crate) fn check(&self, kick: &ConnectTas, now_ms: u64) -> KickDecision {
        if let Some(previous) = self.answers.get(&kick.kick_id) {
            return KickDecision::Duplicate(previous.as_duplicate());
        }
        if now_ms >= kick.expires_at {
            return KickDecision::Expired(Event::kick_refused(
                kick.kick_id.clone(),
                kick.reference.clone(),
                ccv_terminal::KickRefusal::KickExpired,
            ));
        }
        KickDecision::New
    }

    /// Records the answer given to `kick_id` (a `kick-accepted` or `kick-refused` event).
    pub(crate) fn record(&mut self, kick_id: &str, answer: Event) {
        if self.answers.insert(kick_id.to_owned(), answer).is_none() {
            self.order.push_back(kick_id.to_owned());
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.answers.remove(&old);
                }
            }
        }
    }
}

fn cloud_kick(k: &ConnectTas) -> CloudKick {
    // A kick may name the host, the port or both; the core fills in what is missing from the installed TAS.
    let tas = (k.host.is_some() || k.port.is_some())
        .then(|| HostPort::new(k.host.clone().unwrap_or_default(), k.port.unwrap_or(0)));
    CloudKick {
        kick_id: k.kick_id.clone(),
        reference: Some(k.reference.clone()),
        expires_at: ccv_terminal::Timestamp::from_millis(k.expires_at),
        tas,
    }
}

/// Why a connection attempt failed, as a diagnosis reports it (R23).
async fn classify(err: &ConnectionError, host: &str, port: u16) -> MqttDownReason {
    use std::io::ErrorKind;
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
            _ => {
                // Name resolution failures come back as plain I/O errors: ask the resolver directly.
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let lookup = tokio::net::lookup_host((host, port));
                match tokio::time::timeout(Duration::from_secs(2), lookup).await {
                    Ok(Ok(addrs)) => {
                        if addrs.count() > 0 {
                            MqttDownReason::Refused
                        } else {
                            MqttDownReason::Dns
                        }
                    }
                    _ => MqttDownReason::Dns,
                }
            }
        },
        // The endpoint closed the connection after TLS (before or at CONNACK): a policy refusal.
        _ => MqttDownReason::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kick_without_tas_fields_dials_the_installed_tas() {
        let k =
            ConnectTas { kick_id: "k".into(), reference: "r".into(), host: None, port: None, expires_at: 5 };
        let c = cloud_kick(&k);
        assert_eq!(c.tas, None);
        assert_eq!(c.expires_at, ccv_terminal::Timestamp::from_millis(5));
        let k = ConnectTas { port: Some(6000), ..k };
        assert_eq!(cloud_kick(&k).tas, Some(HostPort::new("", 6000)));
    }

    #[tokio::test]
    async fn unresolvable_names_are_dns_and_closed_ports_unreachable() {
        let io = ConnectionError::Io(std::io::Error::other("failed to lookup address information"));
        assert_eq!(classify(&io, "no-such-host.invalid", 443).await, MqttDownReason::Dns);
        let refused = ConnectionError::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(classify(&refused, "localhost", 1).await, MqttDownReason::Unreachable);
        assert_eq!(classify(&ConnectionError::NetworkTimeout, "x", 1).await, MqttDownReason::Unreachable);
    }

    #[test]
    fn missing_pki_files_name_the_file_and_the_fix() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = MqttCredentials::load(dir.path(), "12345678").expect_err("no files");
        let text = err.to_string();
        assert!(text.contains("ca.pem") && text.contains("pki init"), "{text}");
    }
}
