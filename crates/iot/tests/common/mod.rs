//! Shared set-up for the endpoint tests: a fresh PKI, an endpoint on 127.0.0.1:0, client configs.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use ccv_iot::probe::{Probe, ProbeError};
use ccv_iot::{Endpoint, EndpointConfig, EndpointEvent, EndpointTls, Pki, PkiOptions, Reason};
use ccv_tls::client_config;
use ccv_wire::cloud::AWS_IOT_ALPN;
use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::sync::broadcast;

pub const WAIT: Duration = Duration::from_secs(5);

pub struct Setup {
    pub pki: Pki,
    pub endpoint: Endpoint,
    pub events: broadcast::Receiver<EndpointEvent>,
}

pub fn pki() -> Pki {
    let opts = PkiOptions { terminals: vec!["T1".into(), "T2".into()], ..PkiOptions::default() };
    Pki::generate(&opts).expect("test PKI generates")
}

pub async fn start() -> Setup {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut EndpointConfig)) -> Setup {
    let pki = pki();
    let mut config = EndpointConfig {
        listen_8883: Some("127.0.0.1:0".parse().expect("valid address")),
        keep_alive_min: Duration::from_secs(1),
        ..EndpointConfig::default()
    };
    tweak(&mut config);
    let endpoint = Endpoint::start(config, EndpointTls::from_pki(&pki).expect("server TLS builds"))
        .await
        .expect("endpoint starts on loopback");
    let events = endpoint.events();
    Setup { pki, endpoint, events }
}

impl Setup {
    /// `who`'s client configuration with the ALPN of the 443-style listener, but trusting any server
    /// certificate: what an attacker's client does to reach a server under a name the server does not serve.
    pub fn unverifying_client(&self, who: &str) -> Arc<ClientConfig> {
        let mut config = (*self.client(who, Some(AWS_IOT_ALPN.as_bytes()))).clone();
        config.dangerous().set_certificate_verifier(Arc::new(TrustAnyServer(ccv_tls::provider())));
        Arc::new(config)
    }

    pub fn client(&self, who: &str, alpn: Option<&[u8]>) -> Arc<ClientConfig> {
        let pair = match who {
            "vpos" => &self.pki.vpos,
            t => self.pki.terminal(t).expect("terminal in test PKI"),
        };
        client_config(&self.pki.ca.cert_pem, &pair.cert_pem, &pair.key_pem, alpn, true)
            .expect("client TLS builds")
    }

    /// TLS with ALPN and SNI `localhost` on the 443-style listener as `who`; panics unless the hand-shake succeeds.
    pub async fn tls(&self, who: &str) -> Probe {
        Probe::connect(
            self.endpoint.local_addr(),
            Some("localhost"),
            self.client(who, Some(AWS_IOT_ALPN.as_bytes())),
            WAIT,
        )
        .await
        .expect("TLS hand-shake succeeds")
    }

    /// TLS with ALPN on the 443-style listener, then CONNECT; panics unless accepted.
    pub async fn connect(&self, who: &str, client_id: &str, clean: bool) -> Probe {
        let mut p = self.tls(who).await;
        let ack = p.mqtt_connect(client_id, clean, 30).await.expect("CONNACK arrives");
        assert_eq!(ack.code, rumqttc::mqttbytes::v4::ConnectReturnCode::Success, "{ack:?}");
        p
    }

    /// Waits for a `Refused` event matching `pred` (other events are skipped; bounded).
    pub async fn refused(&mut self, pred: impl Fn(&Reason) -> bool) -> Reason {
        for _ in 0..200 {
            let ev = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("an endpoint event arrives in time")
                .expect("event channel open");
            if let EndpointEvent::Refused { reason, .. } = ev {
                if pred(&reason) {
                    return reason;
                }
            }
        }
        panic!("no matching refusal among 200 events");
    }
}

/// True when a connection attempt failed at TLS or was closed before/at CONNECT.
pub async fn refused_somewhere(attempt: Result<Probe, ProbeError>, client_id: &str) -> bool {
    match attempt {
        Err(_) => true,
        Ok(mut p) => p.mqtt_connect(client_id, true, 30).await.is_err(),
    }
}

/// A server-certificate verifier that accepts any certificate (hand-shake signatures are still checked).
#[derive(Debug)]
struct TrustAnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for TrustAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
