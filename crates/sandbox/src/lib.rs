//! `ccv-sandbox`: the whole Cloud Connect world in one process, started with one call ([`Sandbox::start`]):
//! the IoT endpoint with a PKI generated into the state directory on first start, the mock TAS (its terminal port
//! mutual TLS with the same PKI unless [`SandboxOptions::tas_plain_tcp`]: each terminal proves its TMS ID with its
//! certificate), the payment API
//! with its SQLite store and its merchants and test keys, and a fleet of emulated terminals ([`fleet`]; the
//! default one has a terminal for each situation of the installer's guide).
//!
//! The state directory holds `pki/` (CA, endpoint, TAS, payment-API and terminal certificates), `vpos/` (the payment
//! API's database), `iot/sessions.json` (the IoT endpoint's persistent sessions and queued messages) and `terminals/{tmsId}.json` (each terminal's non-volatile state: configuration as changed by
//! menus and TMS, journal, totals, STAN and receipt counters); all survive a restart and a kill. Merchants, keys and whitelists are seeded from the fleet when a
//! merchant is created; after that the store (and its admin API) is the truth. `ephemeral_ports` puts every
//! listener on a free port (parallel sandboxes, CI).
//!
//! Layout: [`fleet`]: the fleet file; this module: start, [`SandboxInfo`] (what a user or a test harness needs
//! to talk to it), shutdown.

pub mod control;
mod dashboard;
pub mod doctor;
pub mod fleet;
pub mod fuzz;
pub mod scenario;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccv_iot::{Endpoint, EndpointConfig, EndpointTls, Pki, PkiOptions};
use ccv_tas::{Tas, TasConfig};
use ccv_terminal::{HostPort, MigrationState};
use ccv_terminal_io::{AlpnPolicy, Credentials, TerminalProcess};
use ccv_vpos::cloud::{CloudKicker, CloudSettings};
use ccv_vpos::{LocalKickMode, Store, Vpos, VposConfig, VposServer};
use serde::Serialize;

pub use fleet::{Fleet, FleetError};

/// The fixed ports of a sandbox (without `ephemeral_ports`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// Control API (terminals, keys, cards, TMS, events).
    pub control: u16,
    /// IoT endpoint (MQTT over TLS, the 443-style listener).
    pub iot: u16,
    /// Mock TAS (terminals dial in).
    pub tas: u16,
    /// Payment API.
    pub api: u16,
    /// Admin API of the payment API.
    pub admin: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports { control: 8082, iot: 8443, tas: 5555, api: 8080, admin: 8081 }
    }
}

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// The state directory (PKI, payment API database).
    pub state_dir: PathBuf,
    /// The fleet.
    pub fleet: Fleet,
    /// Every listener on a free port, every kick listener on 127.0.0.1.
    pub ephemeral_ports: bool,
    /// The ports otherwise.
    pub ports: Ports,
    /// Delete the state directory first.
    pub reset: bool,
    /// The terminals' clock (`None`: the system clock; a scenario gives one that starts at a fixed instant). The
    /// control API's `POST /clock/advance` moves it.
    pub clock: Option<ccv_terminal_io::Clock>,
    /// The TAS link as plain TCP, unauthenticated (any client may claim any TMS ID), instead of mutual TLS with
    /// the sandbox's PKI.
    pub tas_plain_tcp: bool,
}

/// Why a sandbox did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The state directory could not be made or cleared.
    #[error("state directory {path}: {source}")]
    State {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The PKI could not be made or read.
    #[error("PKI in {path}: {detail} (start over with --reset)")]
    Pki {
        /// The directory.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// A party did not start (a port in use, ...).
    #[error("{party} did not start: {detail}")]
    Party {
        /// Which party.
        party: &'static str,
        /// What failed.
        detail: String,
    },
}

fn party(party: &'static str) -> impl FnOnce(String) -> SandboxError {
    move |detail| SandboxError::Party { party, detail }
}

/// A terminal of a running sandbox.
#[derive(Debug)]
pub struct SandboxTerminal {
    /// Its declaration.
    pub spec: fleet::TerminalSpec,
    /// How far its migration had come at start (its status has it as it is now).
    pub migration: MigrationState,
    /// The running terminal.
    pub process: TerminalProcess,
}

impl SandboxTerminal {
    /// The installer's checklist (R23) for this terminal, against the payment API `vpos` ([`doctor`]).
    pub async fn doctor(&self, vpos: &Vpos) -> doctor::Report {
        let status = self.process.status();
        let (store, merchant, tms) =
            (vpos.store().clone(), self.spec.merchant.clone(), self.spec.tms_id.clone());
        let looked = tokio::task::spawn_blocking(move || {
            let whitelisted =
                store.merchant(&merchant).ok().map(|m| store.is_whitelisted(m.id, &tms).unwrap_or(false));
            let recent: Vec<String> = store
                .recent_on_terminal(&tms, 20)
                .unwrap_or_default()
                .iter()
                .map(|r| r.order.terminal.kick.management_system_id().to_owned())
                .collect();
            (merchant, whitelisted, recent)
        })
        .await;
        let (merchant, whitelisted, recent) = looked.unwrap_or_default();
        doctor::run(&doctor::Facts {
            tms_id: &self.spec.tms_id,
            diagnosis: &status.diagnosis,
            mqtt: (
                if status.mqtt.state.is_empty() { "off" } else { &status.mqtt.state },
                status.mqtt.last_failure.as_deref(),
            ),
            whitelist: whitelisted.map(|w| (merchant.as_str(), w)),
            recent_systems: &recent,
        })
    }

    /// The terminal as [`SandboxInfo`] lists it, with its MQTT link as it is now.
    pub fn info(&self) -> TerminalInfo {
        let status = self.process.status();
        TerminalInfo {
            tms_id: self.spec.tms_id.clone(),
            label: self.spec.label.clone(),
            merchant: self.spec.merchant.clone(),
            whitelisted: self.spec.whitelisted,
            migration: status.migration.unwrap_or(self.migration),
            kick_address: self.process.kick_addr().map(|a| a.to_string()),
            mqtt: if status.mqtt.state.is_empty() { "off".to_owned() } else { status.mqtt.state },
            mqtt_failure: status.mqtt.last_failure,
        }
    }
}

/// A running sandbox.
pub struct Sandbox {
    parts: Arc<Parts>,
    endpoint: Arc<Endpoint>,
    tas: Arc<Tas>,
    vpos: Vpos,
    server: VposServer,
    control_task: tokio::task::JoinHandle<()>,
    stop: tokio_util::sync::CancellationToken,
    events: tokio::sync::broadcast::Sender<control::SandboxEvent>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("state_dir", &self.parts.state_dir).finish_non_exhaustive()
    }
}

/// What [`SandboxInfo`] is made of.
struct Parts {
    state_dir: PathBuf,
    merchants: Vec<fleet::MerchantSpec>,
    terminals: Arc<Vec<SandboxTerminal>>,
    api: SocketAddr,
    admin: Option<SocketAddr>,
    control: SocketAddr,
    iot_port: u16,
    tas: SocketAddr,
    tas_tls: bool,
    ready_in: Duration,
}

/// What a user or a test harness needs to talk to a sandbox (`--info-file` writes it as JSON).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SandboxInfo {
    /// Payment API base URL.
    pub api_url: String,
    /// Control API base URL (terminals, keys, cards, TMS changes, `GET /events`).
    pub control_url: String,
    /// The dashboard: a web page to watch and operate the whole sandbox (served by the control API).
    pub dashboard_url: String,
    /// Admin API base URL.
    pub admin_url: String,
    /// The OpenAPI description.
    pub openapi_url: String,
    /// IoT endpoint, `localhost:PORT` (use the name: the endpoint needs SNI).
    pub iot_endpoint: String,
    /// The CA of the endpoint's and the clients' certificates.
    pub ca_path: String,
    /// The PKI directory (the payment API's and the terminals' certificates).
    pub pki_dir: String,
    /// Where terminals dial the mock TAS.
    pub tas: String,
    /// Whether the TAS link is mutual TLS (each terminal proves its TMS ID with its certificate from `pki_dir`);
    /// `false`: plain TCP, unauthenticated.
    pub tas_tls: bool,
    /// The state directory.
    pub state_dir: String,
    /// Milliseconds from the start call to ready.
    pub ready_ms: u64,
    /// The merchants and their test keys.
    pub merchants: Vec<MerchantInfo>,
    /// The terminals.
    pub terminals: Vec<TerminalInfo>,
    /// A copy-paste `curl` that creates a payment on the first whitelisted 2.0 terminal.
    pub curl: String,
}

/// A merchant in [`SandboxInfo`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MerchantInfo {
    /// Name.
    pub name: String,
    /// Test API key (HTTP Basic user name, empty password).
    pub api_key: String,
    /// Who sends 1.0 local kicks.
    pub local_kick: String,
}

/// A terminal in [`SandboxInfo`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TerminalInfo {
    /// TMS ID.
    pub tms_id: String,
    /// What it shows.
    pub label: String,
    /// Its merchant.
    pub merchant: String,
    /// On the merchant's whitelist at start (R10).
    pub whitelisted: bool,
    /// Migration state: `cloud_connect_2`, `cloud_connect_1`, `tms_changed_not_installed`, `not_migrated`.
    #[schema(value_type = String)]
    pub migration: MigrationState,
    /// Where its local kick listener is (`None`: trigger port 0 or not 1.0-capable).
    pub kick_address: Option<String>,
    /// Its MQTT link: `up`, `connecting`, `down`, `off`.
    pub mqtt: String,
    /// Why the MQTT link is down, when it is.
    pub mqtt_failure: Option<String>,
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The loopback address of the `n`-th terminal's kick listener (127.0.1.1, 127.0.1.2, ...): each terminal has
/// its own address on the "shop LAN", on its own trigger port.
fn kick_ip(n: usize) -> IpAddr {
    let n = n as u32;
    IpAddr::V4(Ipv4Addr::new(127, 0, 1 + (n / 254) as u8, 1 + (n % 254) as u8))
}

impl Sandbox {
    /// Starts every party and the fleet.
    pub async fn start(options: SandboxOptions) -> Result<Sandbox, SandboxError> {
        let started = Instant::now();
        let state = options.state_dir.clone();
        let state_err = |source| SandboxError::State { path: state.clone(), source };
        if options.reset && state.exists() {
            std::fs::remove_dir_all(&state).map_err(state_err)?;
        }
        std::fs::create_dir_all(&state).map_err(state_err)?;
        let ids: Vec<String> = options.fleet.terminals.iter().map(|t| t.spec.tms_id.clone()).collect();
        let pki_dir = state.join("pki");
        let pki = load_or_make_pki(&pki_dir, &ids)?;
        let port = |fixed: u16| if options.ephemeral_ports { 0 } else { fixed };
        let ports = options.ports;

        let endpoint_config = EndpointConfig {
            listen: SocketAddr::new(LOOPBACK, port(ports.iot)),
            // Persistent sessions and their queued kicks outlive a restart, as at AWS IoT.
            state_file: Some(state.join("iot").join("sessions.json")),
            ..EndpointConfig::default()
        };
        let tls = EndpointTls::from_pki(&pki).map_err(|e| party("IoT endpoint")(e.to_string()))?;
        let endpoint =
            Endpoint::start(endpoint_config, tls).await.map_err(|e| party("IoT endpoint")(e.to_string()))?;
        let iot_port = endpoint.local_addr().port();
        let endpoint = Arc::new(endpoint);
        // Every terminal of the fleet dials the TAS from the loopback address, plus one connection each while it
        // redials after a drop.
        let defaults = TasConfig::default();
        let tas_config = TasConfig {
            max_per_peer: defaults.max_per_peer.max(2 * options.fleet.terminals.len()),
            max_connections: defaults.max_connections.max(2 * options.fleet.terminals.len()),
            tls: if options.tas_plain_tcp {
                None
            } else {
                let tls = ccv_tas::TasTls::from_pem(&pki.ca.cert_pem, &pki.tas.cert_pem, &pki.tas.key_pem);
                Some(tls.map_err(|e| party("mock TAS")(e.to_string()))?)
            },
            ..defaults
        };
        let tas = Tas::start(SocketAddr::new(LOOPBACK, port(ports.tas)), None, tas_config)
            .await
            .map_err(|e| party("mock TAS")(e.to_string()))?;
        let tas_port = tas.terminal_addr().port();
        let tas = Arc::new(tas);

        let store =
            Store::open_dir(&state.join("vpos")).map_err(|e| party("payment API store")(e.to_string()))?;
        seed_store(&store, &options.fleet).map_err(party("payment API store"))?;
        let cloud = CloudKicker::start(CloudSettings {
            endpoint: HostPort::new("localhost", iot_port),
            ca_pem: pki.ca.cert_pem.clone(),
            cert_pem: pki.vpos.cert_pem.clone(),
            key_pem: pki.vpos.key_pem.clone(),
            client_id: "vpos-sandbox".to_owned(),
            mgt_subscription: ccv_wire::cloud::DEFAULT_MGT_SUBSCRIPTION.to_owned(),
            connect_timeout: Duration::from_secs(5),
        })
        .map_err(|e| party("payment API MQTT client")(e.to_string()))?;
        let api = bind_free(SocketAddr::new(LOOPBACK, port(ports.api))).map_err(party("payment API"))?;
        let config = VposConfig { base_url: format!("http://{api}"), ..VposConfig::default() };
        let vpos = Vpos::start(Arc::new(store), tas.clone(), Some(Arc::new(cloud)), config)
            .await
            .map_err(|e| party("payment API")(e.to_string()))?;
        let server = VposServer::start(vpos.clone(), api, Some(SocketAddr::new(LOOPBACK, port(ports.admin))))
            .await
            .map_err(|e| party("payment API")(e.to_string()))?;

        let clock = options.clock.clone().unwrap_or_default();
        let mut terminals = Vec::with_capacity(options.fleet.terminals.len());
        for (n, t) in options.fleet.terminals.iter().enumerate() {
            let mut c = t.config.clone();
            let tas_at = HostPort::new("localhost", tas_port);
            let mqt_at = HostPort::new("localhost", iot_port);
            for p in [&mut c.terminal.tms, &mut c.terminal.installed] {
                p.tas = tas_at.clone();
                p.mqt_service = mqt_at.clone();
            }
            c.io.mqtt_alpn = AlpnPolicy::Always;
            c.io.tas_tls = !options.tas_plain_tcp;
            c.io.state_file = Some(state.join("terminals").join(format!("{}.json", t.spec.tms_id)));
            if options.ephemeral_ports {
                c.io.kick_bind = LOOPBACK;
                c.io.kick_port_override = Some(0);
                c.io.opi_channel0 = SocketAddr::new(LOOPBACK, 0);
            } else {
                c.io.kick_bind = kick_ip(n);
                c.io.opi_channel0 = SocketAddr::new(kick_ip(n), c.io.opi_channel0.port());
            }
            let pair = pki.terminal(&t.spec.tms_id).map_err(|e| party("PKI")(e.to_string()))?;
            let credentials = Credentials {
                ca_pem: pki.ca.cert_pem.clone(),
                cert_pem: pair.cert_pem.clone(),
                key_pem: pair.key_pem.clone(),
            };
            let migration = c.terminal.migration_state();
            let hooks = ccv_terminal_io::Hooks { clock: Some(clock.clone()), ..Default::default() };
            let process =
                TerminalProcess::start_with_hooks_and_credentials(c, n as u64 + 1, hooks, Some(credentials))
                    .await
                    .map_err(|e| party("terminal")(format!("{}: {e}", t.spec.tms_id)))?;
            terminals.push(SandboxTerminal { spec: t.spec.clone(), migration, process });
        }
        let terminals = Arc::new(terminals);
        let (events, _) = tokio::sync::broadcast::channel(4096);
        let stop = tokio_util::sync::CancellationToken::new();
        let recent = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        control::keep_recent(&events, recent.clone(), stop.clone());
        forward_events(&terminals, &vpos, &tas, &events, &stop);
        let control_listener = tokio::net::TcpListener::bind(SocketAddr::new(LOOPBACK, port(ports.control)))
            .await
            .map_err(|e| party("control API")(format!("cannot listen: {e}")))?;
        let control_addr = control_listener.local_addr().map_err(|e| party("control API")(e.to_string()))?;
        let parts = Arc::new(Parts {
            state_dir: state,
            merchants: options.fleet.merchants.clone(),
            terminals: terminals.clone(),
            api: server.api_addr(),
            admin: server.admin_addr(),
            control: control_addr,
            iot_port,
            tas: tas.terminal_addr(),
            tas_tls: !options.tas_plain_tcp,
            ready_in: started.elapsed(),
        });
        let info_parts = parts.clone();
        let app = control::router(
            control::Control {
                clock: clock.clone(),
                terminals,
                vpos: vpos.clone(),
                tas: tas.clone(),
                endpoint: endpoint.clone(),
                info: Arc::new(move || info_parts.info()),
                events: events.clone(),
                recent: recent.clone(),
            },
            control_addr,
        );
        let control_task = tokio::spawn(ccv_tas::api::serve(control_listener, app, stop.clone()));
        tracing::info!(terminals = parts.terminals.len(), ready_in = ?parts.ready_in, "sandbox ready");
        Ok(Sandbox { parts, endpoint, tas, vpos, server, control_task, stop, events })
    }

    /// Every event from now on (what `GET /events` streams).
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<control::SandboxEvent> {
        self.events.subscribe()
    }

    /// The terminals, in fleet order.
    pub fn terminals(&self) -> &[SandboxTerminal] {
        &self.parts.terminals
    }

    /// The payment API's engine.
    pub fn vpos(&self) -> &Vpos {
        &self.vpos
    }

    /// The mock TAS.
    pub fn tas(&self) -> &Arc<Tas> {
        &self.tas
    }

    /// The IoT endpoint.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }

    /// A terminal by TMS ID.
    pub fn terminal(&self, tms_id: &str) -> Option<&SandboxTerminal> {
        self.parts.terminals.iter().find(|t| t.spec.tms_id == tms_id)
    }

    /// Waits (at most `wait`) until every Cloud Connect 2.0 terminal has its MQTT link up or has reported why
    /// not; returns whether all of them are up.
    pub async fn settle_links(&self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        let mut all_up = true;
        for t in self.parts.terminals.iter().filter(|t| t.migration == MigrationState::CloudConnect2) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let settled = t
                .process
                .wait_for_status(left, |s| s.mqtt.state == "up" || s.mqtt.last_failure.is_some())
                .await;
            all_up &= settled.is_ok_and(|s| s.mqtt.state == "up");
        }
        all_up
    }

    /// What a user or a test harness needs to talk to the sandbox.
    pub fn info(&self) -> SandboxInfo {
        self.parts.info()
    }

    /// Stops the terminals, then the payment API, the endpoint and the TAS.
    pub async fn shutdown(self) {
        self.stop.cancel();
        // Event streams never end by themselves: the control API gets a moment, then its connections are dropped.
        let control = self.control_task;
        if tokio::time::timeout(Duration::from_secs(2), control).await.is_err() {
            tracing::debug!("control API connections dropped at shutdown");
        }
        let terminals = self.parts.terminals.clone();
        drop(self.parts);
        match Arc::try_unwrap(terminals) {
            Ok(terminals) => {
                for t in terminals {
                    t.process.shutdown().await;
                }
            }
            // A connection still holds them: dropping a terminal process stops it too.
            Err(still_shared) => drop(still_shared),
        }
        self.server.shutdown().await;
        self.vpos.shutdown().await;
        match Arc::try_unwrap(self.endpoint) {
            Ok(endpoint) => endpoint.shutdown().await,
            // A control API connection still holds it: its token stops it.
            Err(shared) => shared.shutdown_token().cancel(),
        }
        if let Ok(tas) = Arc::try_unwrap(self.tas) {
            tas.shutdown().await;
        }
    }
}

impl SandboxInfo {
    /// The test API key of merchant `name`.
    pub fn api_key(&self, name: &str) -> Option<&str> {
        self.merchants.iter().find(|m| m.name == name).map(|m| m.api_key.as_str())
    }
}

/// The body of `POST /api/v1/payment` as a POS sends it for terminal `tms_id`, its POS configuration naming
/// `system` (`GrundmasterNL`, `GrundmasterBE`, or `08900000002` with `lan`: the terminal's IP address and trigger
/// port, Cloud Connect 1.0, R2).
pub(crate) fn payment_request(
    tms_id: &str,
    amount: &str,
    currency: &str,
    system: &str,
    lan: Option<(String, u16)>,
) -> serde_json::Value {
    let mut details =
        serde_json::json!({"terminalId": tms_id, "managementSystemId": system, "accessProtocol": "OPI_NL"});
    if let Some((ip, port)) = lan {
        details["ip"] = ip.into();
        details["port"] = port.into();
    }
    serde_json::json!({"amount": amount, "currency": currency, "method": "terminal", "details": details})
}

impl Parts {
    fn info(&self) -> SandboxInfo {
        let api_url = format!("http://{}", self.api);
        let pki = self.state_dir.join("pki");
        let terminals: Vec<TerminalInfo> = self.terminals.iter().map(SandboxTerminal::info).collect();
        let first = terminals
            .iter()
            .find(|t| t.whitelisted && t.migration == MigrationState::CloudConnect2 && t.mqtt == "up")
            .or_else(|| {
                terminals.iter().find(|t| t.whitelisted && t.migration == MigrationState::CloudConnect2)
            });
        let curl = match first
            .and_then(|t| self.merchants.iter().find(|m| m.name == t.merchant).map(|m| (t, m)))
        {
            Some((t, m)) => format!(
                "curl -s -u {}: {api_url}/api/v1/payment -H 'Content-Type: application/json' -d '{{\"amount\": \"12.50\", \
                 \"currency\": \"EUR\", \"method\": \"terminal\", \"details\": {{\"terminalId\": \"{}\", \
                 \"managementSystemId\": \"GrundmasterNL\", \"accessProtocol\": \"OPI_NL\"}}}}'",
                m.api_key, t.tms_id
            ),
            None => String::new(),
        };
        SandboxInfo {
            openapi_url: format!("{api_url}/openapi.json"),
            api_url,
            admin_url: self.admin.map(|a| format!("http://{a}")).unwrap_or_default(),
            control_url: format!("http://{}", self.control),
            dashboard_url: format!("http://{}/", self.control),
            iot_endpoint: format!("localhost:{}", self.iot_port),
            ca_path: pki.join("ca.pem").display().to_string(),
            pki_dir: pki.display().to_string(),
            tas: self.tas.to_string(),
            tas_tls: self.tas_tls,
            state_dir: self.state_dir.display().to_string(),
            ready_ms: self.ready_in.as_millis() as u64,
            merchants: self
                .merchants
                .iter()
                .map(|m| MerchantInfo {
                    name: m.name.clone(),
                    api_key: m.api_key.clone(),
                    local_kick: m.local_kick.clone(),
                })
                .collect(),
            terminals,
            curl,
        }
    }
}

/// The payment API's address is in its pages' `payUrl`, so it is bound (a free port when asked) before the
/// engine starts.
fn bind_free(addr: SocketAddr) -> Result<SocketAddr, String> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    listener.local_addr().map_err(|e| e.to_string())
}

fn load_or_make_pki(dir: &Path, ids: &[String]) -> Result<Pki, SandboxError> {
    let err = |e: ccv_iot::pki::PkiError| SandboxError::Pki { path: dir.to_owned(), detail: e.to_string() };
    let mut pki = if dir.join("ca.pem").is_file() {
        Pki::load_dir(dir).map_err(err)?
    } else {
        Pki::generate(&PkiOptions { terminals: ids.to_vec(), ..PkiOptions::default() }).map_err(err)?
    };
    // A PKI written before the TAS had a certificate got one in memory: write it too.
    let mut added = !dir.join("ca.pem").is_file() || !dir.join("tas.pem").is_file();
    for id in ids {
        if pki.terminal(id).is_err() {
            pki.add_terminal(id).map_err(err)?;
            added = true;
        }
    }
    if added {
        pki.write_dir(dir).map_err(err)?;
    }
    Ok(pki)
}

/// Hands each item `rx` receives to `each` until `stop` or until the sender is gone. A lag loses the oldest
/// (the event stream's readers are told of their own lag).
pub(crate) fn for_each_received<T: Clone + Send + 'static>(
    mut rx: tokio::sync::broadcast::Receiver<T>,
    stop: tokio_util::sync::CancellationToken,
    mut each: impl FnMut(T) + Send + 'static,
) {
    use tokio::sync::broadcast::error::RecvError;
    tokio::spawn(async move {
        loop {
            let received = tokio::select! {
                _ = stop.cancelled() => return,
                e = rx.recv() => e,
            };
            match received {
                Ok(item) => each(item),
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// Sends what `rx` receives, turned into events by `convert` (`None`: nothing to tell), until `stop`.
fn forward<T: Clone + Send + 'static>(
    rx: tokio::sync::broadcast::Receiver<T>,
    convert: impl Fn(T) -> Option<control::SandboxEvent> + Send + 'static,
    tx: &tokio::sync::broadcast::Sender<control::SandboxEvent>,
    stop: &tokio_util::sync::CancellationToken,
) {
    let tx = tx.clone();
    for_each_received(rx, stop.clone(), move |item| {
        if let Some(event) = convert(item) {
            let _ = tx.send(event);
        }
    });
}

/// Turns the payment API's events, the TAS's OPI frames and every terminal's status changes into
/// [`control::SandboxEvent`]s.
fn forward_events(
    terminals: &Arc<Vec<SandboxTerminal>>,
    vpos: &Vpos,
    tas: &Tas,
    events: &tokio::sync::broadcast::Sender<control::SandboxEvent>,
    stop: &tokio_util::sync::CancellationToken,
) {
    let payment = |event| Some(control::SandboxEvent::new(None, control::EventKind::Payment { event }));
    forward(vpos.events(), payment, events, stop);
    forward(tas.transcript_updates(), control::SandboxEvent::opi, events, stop);
    for t in terminals.iter() {
        let (tx, mut watch, token, tms_id) =
            (events.clone(), t.process.watch_status(), stop.clone(), t.spec.tms_id.clone());
        tokio::spawn(async move {
            let mut seen = control::Seen::default();
            // What is there at the start is the baseline, not news.
            let _ = seen.update(&tms_id, &watch.borrow_and_update());
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    changed = watch.changed() => if changed.is_err() { return },
                }
                // Read under the watch's lock, sent after it.
                let events = seen.update(&tms_id, &watch.borrow_and_update());
                for e in events {
                    let _ = tx.send(e);
                }
            }
        });
    }
}

/// Seeds merchants created now: key, local-kick mode, whitelist from the fleet.
fn seed_store(store: &Store, fleet: &Fleet) -> Result<(), String> {
    for m in &fleet.merchants {
        if store.merchant(&m.name).is_ok() {
            continue;
        }
        store.add_merchant(&m.name, 0).map_err(|e| e.to_string())?;
        store.add_api_key_text(&m.name, &m.api_key, 0).map_err(|e| e.to_string())?;
        let mode = LocalKickMode::parse(&m.local_kick).unwrap_or(LocalKickMode::Server);
        store.set_local_kick(&m.name, mode).map_err(|e| e.to_string())?;
        for t in fleet.terminals.iter().filter(|t| t.spec.merchant == m.name && t.spec.whitelisted) {
            store.whitelist_add(&m.name, &t.spec.tms_id, 0).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
