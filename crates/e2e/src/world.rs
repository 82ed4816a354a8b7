//! [`World`]: every party of a Cloud Connect coupling in one process on loopback, as a POS meets it: the IoT
//! endpoint with a fresh PKI, the mock TAS, the payment API (engine, HTTP and admin API) and emulated terminals.
//! A merchant `shop` with the test key [`World::KEY`] exists; terminals are added one by one.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ccv_iot::{Endpoint, EndpointConfig, EndpointTls, Pki, PkiOptions};
use ccv_tas::{Tas, TasConfig};
use ccv_terminal_io::config::FileConfig;
use ccv_terminal_io::{AlpnPolicy, Credentials, TerminalProcess};
use ccv_vpos::cloud::{CloudKicker, CloudSettings, LinkState};
use ccv_vpos::{Store, Vpos, VposConfig, VposServer};

/// The parties, running.
pub struct World {
    /// The PKI of the endpoint, the payment API and the terminals.
    pub pki: Pki,
    /// The IoT endpoint stand-in.
    pub endpoint: Endpoint,
    /// The mock TAS.
    pub tas: Arc<Tas>,
    /// The payment API's engine.
    pub vpos: Vpos,
    /// Its listeners.
    pub server: VposServer,
    /// Its MQTT client.
    pub cloud: Arc<CloudKicker>,
    /// The terminals, by TMS ID.
    pub terminals: HashMap<String, TerminalProcess>,
    next_seed: u64,
}

const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

impl World {
    /// The API key of merchant `shop`.
    pub const KEY: &'static str = "t_0123456789abcdef0123456789abcdef";
    /// The merchant.
    pub const MERCHANT: &'static str = "shop";

    /// Starts the endpoint, the TAS and the payment API on `store` (a PKI with certificates for `tms_ids`).
    /// `config.base_url` is filled in here; kicks name no TAS (`kick_tas` stays as given), since every
    /// terminal of the world is configured with the world's TAS and refuses a TAS override by default.
    pub async fn start(tms_ids: &[&str], store: Arc<Store>, config: VposConfig) -> World {
        let endpoint = EndpointConfig { keep_alive_min: Duration::from_secs(1), ..EndpointConfig::default() };
        World::start_with(tms_ids, store, config, endpoint, TasConfig::default()).await
    }

    /// [`World::start`] with the endpoint's and the TAS's settings given (to raise their limits); the
    /// endpoint's listeners are set to loopback here.
    pub async fn start_with(
        tms_ids: &[&str],
        store: Arc<Store>,
        mut config: VposConfig,
        endpoint: EndpointConfig,
        tas: TasConfig,
    ) -> World {
        let options =
            PkiOptions { terminals: tms_ids.iter().map(|s| (*s).to_owned()).collect(), ..Default::default() };
        let pki = Pki::generate(&options).expect("test PKI generates");
        let endpoint_config = EndpointConfig { listen: LOOPBACK, listen_8883: None, ..endpoint };
        let endpoint = Endpoint::start(endpoint_config, EndpointTls::from_pki(&pki).expect("server TLS"))
            .await
            .expect("endpoint starts");
        let tas = Arc::new(Tas::start(LOOPBACK, None, tas).await.expect("TAS starts"));
        let cloud = Arc::new(
            CloudKicker::start(CloudSettings {
                endpoint: ccv_wire::HostPort::new("localhost", endpoint.local_addr().port()),
                ca_pem: pki.ca.cert_pem.clone(),
                cert_pem: pki.vpos.cert_pem.clone(),
                key_pem: pki.vpos.key_pem.clone(),
                client_id: "vpos-1".to_owned(),
                mgt_subscription: ccv_wire::cloud::DEFAULT_MGT_SUBSCRIPTION.to_owned(),
                connect_timeout: Duration::from_secs(5),
            })
            .expect("payment API MQTT client"),
        );
        if store.merchant(Self::MERCHANT).is_err() {
            store.add_merchant(Self::MERCHANT, 0).expect("merchant");
            store.add_api_key_text(Self::MERCHANT, Self::KEY, 0).expect("key");
        }
        // The API's address is known only once bound: bind first, then start the engine with it.
        let listener = std::net::TcpListener::bind(LOOPBACK).expect("a loopback port");
        let api = listener.local_addr().expect("bound");
        drop(listener);
        config.base_url = format!("http://{api}");
        let vpos =
            Vpos::start(store, tas.clone(), Some(cloud.clone()), config).await.expect("payment API starts");
        let server = VposServer::start(vpos.clone(), api, Some(LOOPBACK)).await.expect("payment API listens");
        let mut link = cloud.link_watch();
        tokio::time::timeout(Duration::from_secs(15), link.wait_for(|l| *l == LinkState::Up))
            .await
            .expect("the payment API reaches the IoT endpoint in time")
            .expect("the MQTT client runs");
        World { pki, endpoint, tas, vpos, server, cloud, terminals: HashMap::new(), next_seed: 1 }
    }

    /// The payment API's base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.api_addr())
    }

    /// The admin API's base URL.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.server.admin_addr().expect("admin API started"))
    }

    /// A terminal config for this world: `base` on loopback, its TAS the world's, its MQT service the
    /// endpoint (`localhost`, ALPN on any port).
    pub fn terminal_config(&self, base: FileConfig, tms_id: &str) -> FileConfig {
        let mut c = crate::loopback_config(base, Some(tms_id), self.tas.terminal_addr());
        let mqt = ccv_terminal::HostPort::new("localhost", self.endpoint.local_addr().port());
        c.terminal.tms.mqt_service = mqt.clone();
        c.terminal.installed.mqt_service = mqt;
        c.terminal.profile.backoff_max_ms = 300;
        c.io.mqtt_alpn = AlpnPolicy::Always;
        c
    }

    /// Starts a terminal from `base` (see [`World::terminal_config`]); its certificate must be in the PKI.
    pub async fn add_terminal(&mut self, base: FileConfig, tms_id: &str) -> &TerminalProcess {
        let config = self.terminal_config(base, tms_id);
        self.start_terminal(config, tms_id).await
    }

    /// Starts a terminal from a config already prepared with [`World::terminal_config`].
    pub async fn start_terminal(&mut self, config: FileConfig, tms_id: &str) -> &TerminalProcess {
        let pair = self.pki.terminal(tms_id).expect("terminal in the PKI");
        let credentials = Credentials {
            ca_pem: self.pki.ca.cert_pem.clone(),
            cert_pem: pair.cert_pem.clone(),
            key_pem: pair.key_pem.clone(),
        };
        self.next_seed += 1;
        let term = TerminalProcess::start_with_credentials(config, self.next_seed, credentials)
            .await
            .expect("terminal starts");
        self.terminals.entry(tms_id.to_owned()).or_insert(term)
    }

    /// Starts a migrated (Cloud Connect 2.0) terminal and waits until its MQTT link is up.
    pub async fn add_migrated(&mut self, tms_id: &str) -> &TerminalProcess {
        let term = self.add_terminal(FileConfig::default(), tms_id).await;
        term.wait_for_status(Duration::from_secs(15), |s| s.mqtt.state == "up")
            .await
            .expect("the terminal's MQTT link comes up");
        term
    }

    /// Puts `tms_id` on merchant `shop`'s whitelist (R10).
    pub fn whitelist(&self, tms_id: &str) {
        self.vpos.store().whitelist_add(Self::MERCHANT, tms_id, 0).expect("whitelisted");
    }

    /// Stops everything.
    pub async fn shutdown(self) {
        for (_, t) in self.terminals {
            t.shutdown().await;
        }
        self.server.shutdown().await;
        self.vpos.shutdown().await;
        self.endpoint.shutdown().await;
    }
}
