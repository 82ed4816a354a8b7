//! The payment API's MQTT client: it publishes cloud kicks (`connect-tas`, R9) to a terminal's command topic
//! through the IoT endpoint and reads every terminal's events, as the payment-API identity (mutual TLS, ALPN
//! `x-amzn-mqtt-ca`). Commands and events are `ccv_wire::cloud`'s types; nothing here knows the endpoint's code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ccv_wire::HostPort;
use ccv_wire::cloud::{self, AWS_IOT_ALPN, Channel, Command, ConnectTas, Event, TerminalTopic};
use rumqttc::{AsyncClient, EventLoop, MqttOptions, NetworkOptions, Packet, QoS, Transport};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Where and as whom the payment API connects to the IoT endpoint.
#[derive(Clone)]
pub struct CloudSettings {
    /// The endpoint's address; the host is also the TLS server name.
    pub endpoint: HostPort,
    /// The CA that signed the endpoint's certificate (PEM).
    pub ca_pem: String,
    /// The payment API's client certificate (PEM; OU `payment-api`).
    pub cert_pem: String,
    /// Its key (PEM).
    pub key_pem: String,
    /// The MQTT client id.
    pub client_id: String,
    /// The `MgtSubscription` part of the topics (`NL-CAT`).
    pub mgt_subscription: String,
    /// Time allowed for TCP + TLS + CONNACK.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for CloudSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudSettings")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("mgt_subscription", &self.mgt_subscription)
            .finish_non_exhaustive()
    }
}

/// Why a cloud kick could not be sent.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CloudError {
    /// The TLS material does not make a client configuration.
    #[error("the payment API's TLS material for the IoT endpoint is not usable: {0}")]
    Tls(String),
    /// Not connected to the endpoint in time.
    #[error(
        "the payment API is not connected to the IoT endpoint at {endpoint} ({detail}); is the endpoint running?"
    )]
    NotConnected {
        /// The endpoint.
        endpoint: String,
        /// The last connection error.
        detail: String,
    },
    /// The MQTT client stopped.
    #[error("the payment API's MQTT client has stopped")]
    Stopped,
}

type Waiters = Arc<Mutex<HashMap<String, mpsc::Sender<Event>>>>;

/// A connected (or connecting) MQTT client of the payment API. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct CloudKicker {
    client: AsyncClient,
    waiters: Waiters,
    link: watch::Receiver<LinkState>,
    endpoint: String,
    mgt_subscription: String,
    shutdown: CancellationToken,
}

/// The client's link to the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Connecting or re-connecting; the last error, if any.
    Down(Option<String>),
    /// Connected and subscribed to every terminal's events.
    Up,
}

/// Events of one kick, in the order the terminal published them.
#[derive(Debug)]
pub struct KickEvents {
    rx: mpsc::Receiver<Event>,
    kick_id: String,
    waiters: Waiters,
}

impl KickEvents {
    /// The next event of this kick, or `None` when none came within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Event> {
        tokio::time::timeout(wait, self.rx.recv()).await.ok().flatten()
    }
}

impl Drop for KickEvents {
    fn drop(&mut self) {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.kick_id);
    }
}

/// Messages queued towards rumqttc.
const REQUESTS: usize = 1024;
/// The filter of every terminal's event topic.
const EVENTS_FILTER: &str = "ccv/+/+/evt";

impl CloudKicker {
    /// Starts the client; it connects in the background and re-connects after a failure.
    pub fn start(settings: CloudSettings) -> Result<CloudKicker, CloudError> {
        let tls = ccv_tls::client_config(
            &settings.ca_pem,
            &settings.cert_pem,
            &settings.key_pem,
            Some(AWS_IOT_ALPN.as_bytes()),
            false,
        )
        .map_err(|e| CloudError::Tls(e.to_string()))?;
        let mut options = MqttOptions::new(
            settings.client_id.clone(),
            settings.endpoint.host.clone(),
            settings.endpoint.port,
        );
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_inflight(200)
            .set_max_packet_size(cloud::MAX_PAYLOAD_BYTES + 1024, cloud::MAX_PAYLOAD_BYTES + 1024)
            .set_transport(Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(tls)));
        let (client, mut eventloop) = AsyncClient::new(options, REQUESTS);
        let mut net = NetworkOptions::new();
        net.set_connection_timeout(settings.connect_timeout.as_secs().max(1));
        net.set_tcp_nodelay(true);
        eventloop.set_network_options(net);
        let waiters: Waiters = Arc::default();
        let (link_tx, link) = watch::channel(LinkState::Down(None));
        let shutdown = CancellationToken::new();
        tokio::spawn(run(eventloop, client.clone(), waiters.clone(), link_tx, shutdown.clone()));
        Ok(CloudKicker {
            client,
            waiters,
            link,
            endpoint: settings.endpoint.to_string(),
            mgt_subscription: settings.mgt_subscription,
            shutdown,
        })
    }

    /// The link's state now.
    pub fn link(&self) -> LinkState {
        self.link.borrow().clone()
    }

    /// A watch of the link's state (to await [`LinkState::Up`]).
    pub fn link_watch(&self) -> watch::Receiver<LinkState> {
        self.link.clone()
    }

    /// Publishes a `connect-tas` kick to `tms_id` (QoS 1) once connected (waiting at most `wait`), and returns
    /// the events the terminal publishes for it.
    pub async fn kick(
        &self,
        tms_id: &str,
        kick: ConnectTas,
        wait: Duration,
    ) -> Result<KickEvents, CloudError> {
        let mut link = self.link.clone();
        let up =
            matches!(tokio::time::timeout(wait, link.wait_for(|l| *l == LinkState::Up)).await, Ok(Ok(_)));
        if !up {
            let detail = match &*self.link.borrow() {
                LinkState::Down(Some(e)) => e.clone(),
                _ => "not connected yet".to_owned(),
            };
            return Err(CloudError::NotConnected { endpoint: self.endpoint.clone(), detail });
        }
        let (tx, rx) = mpsc::channel(8);
        let kick_id = kick.kick_id.clone();
        self.waiters.lock().unwrap_or_else(|e| e.into_inner()).insert(kick_id.clone(), tx);
        let events = KickEvents { rx, kick_id, waiters: self.waiters.clone() };
        let payload = Command::ConnectTas(kick).to_json();
        let topic = cloud::cmd_topic(&self.mgt_subscription, tms_id);
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|_| CloudError::Stopped)?;
        Ok(events)
    }

    /// Disconnects.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for CloudKicker {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn run(
    mut eventloop: EventLoop,
    client: AsyncClient,
    waiters: Waiters,
    link: watch::Sender<LinkState>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let polled = tokio::select! {
            _ = shutdown.cancelled() => break,
            polled = eventloop.poll() => polled,
        };
        match polled {
            Ok(rumqttc::Event::Incoming(Packet::ConnAck(_))) => {
                backoff = Duration::from_millis(100);
                if client.try_subscribe(EVENTS_FILTER, QoS::AtLeastOnce).is_err() {
                    tracing::warn!("payment API: could not queue the event subscription");
                }
            }
            Ok(rumqttc::Event::Incoming(Packet::SubAck(ack))) => {
                let granted =
                    ack.return_codes.iter().all(|c| matches!(c, rumqttc::SubscribeReasonCode::Success(_)));
                if granted {
                    tracing::info!("payment API: connected to the IoT endpoint, reading terminal events");
                    link.send_replace(LinkState::Up);
                } else {
                    let why = "the endpoint refused the subscription to the terminals' events".to_owned();
                    tracing::error!("payment API: {why}");
                    link.send_replace(LinkState::Down(Some(why)));
                }
            }
            Ok(rumqttc::Event::Incoming(Packet::Publish(p))) => {
                let Some(topic) = TerminalTopic::parse(&p.topic) else { continue };
                if topic.channel != Channel::Evt {
                    continue;
                }
                match Event::from_json(&p.payload) {
                    Ok(event) => {
                        let Some(kick_id) = event.kick_id() else { continue };
                        let waiter = waiters.lock().unwrap_or_else(|e| e.into_inner()).get(kick_id).cloned();
                        if let Some(w) = waiter {
                            // A waiter that stopped reading has its answer already.
                            let _ = w.try_send(event);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(topic = %p.topic, "payment API: unreadable terminal event: {e}")
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                let why = e.to_string();
                tracing::warn!("payment API: IoT endpoint link down: {why}; retrying in {backoff:?}");
                link.send_replace(LinkState::Down(Some(why)));
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    let _ = client.try_disconnect();
}
