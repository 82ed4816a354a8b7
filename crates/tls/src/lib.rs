//! `ccv-tls`: the one rustls set-up of ccv-emu, shared by every TLS end (the terminal's MQTT client, the IoT
//! endpoint stand-in, test clients) so that each builds its own configuration from the same small pieces: the
//! ring crypto provider (the only one in the workspace), a variant of it that accepts SHA-256 signatures only
//! (R6), PEM parsing with typed errors, and a client and a server configuration for mutual TLS.
//!
//! What it does not do: open sockets, read any file but a PEM file it is asked for ([`read_pem_file`], bounded in
//! size), or know any party's protocol. SNI comes from the server name
//! the caller connects with; ALPN is whatever the caller passes.

use std::sync::{Arc, LazyLock};

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, alg_id};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SignatureScheme};

/// Errors building a TLS configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM input holds nothing usable.
    #[error("{what}: {detail}")]
    Pem {
        /// Which input ("CA certificate", "client key", ...).
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(String),
}

/// OU of terminal certificates (CN = TMS ID), as the test PKI issues them and the IoT endpoint and the TAS read
/// them.
pub const OU_TERMINAL: &str = "terminal";
/// OU of the payment API's certificate.
pub const OU_PAYMENT_API: &str = "payment-api";

/// The subject of a certificate: who it names. Read from an already verified peer certificate, it is what a
/// server decides on (the IoT endpoint's policies, the TAS's check of a hand-shake's TMS ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The first CN.
    pub common_name: String,
    /// The first OU, empty when there is none.
    pub organizational_unit: String,
}

/// Why a certificate's subject could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubjectError {
    /// Not parsable X.509.
    #[error("client certificate is not parsable X.509: {0}")]
    Unparsable(String),
    /// No CN in the subject.
    #[error("client certificate subject has no CN")]
    NoCommonName,
}

impl Subject {
    /// Reads the subject of a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Subject, SubjectError> {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| SubjectError::Unparsable(e.to_string()))?;
        let subject = cert.subject();
        let first = |attrs: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
            attrs.next().and_then(|a| a.as_str().ok()).map(str::to_owned)
        };
        let common_name = first(&mut subject.iter_common_name()).ok_or(SubjectError::NoCommonName)?;
        let organizational_unit = first(&mut subject.iter_organizational_unit()).unwrap_or_default();
        Ok(Subject { common_name, organizational_unit })
    }

    /// The TMS ID of a terminal certificate (OU [`OU_TERMINAL`]), `None` for any other role.
    pub fn terminal(&self) -> Option<&str> {
        (self.organizational_unit == OU_TERMINAL).then_some(self.common_name.as_str())
    }
}

/// The ring crypto provider, the only one used in this workspace.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

static SHA256_ONLY: LazyLock<WebPkiSupportedAlgorithms> = LazyLock::new(|| {
    let all = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    let sha256 = [alg_id::ECDSA_SHA256, alg_id::RSA_PKCS1_SHA256, alg_id::RSA_PSS_SHA256];
    let keep: Vec<_> = all.all.iter().copied().filter(|a| sha256.contains(&a.signature_alg_id())).collect();
    let schemes = [
        SignatureScheme::ECDSA_NISTP256_SHA256,
        SignatureScheme::RSA_PKCS1_SHA256,
        SignatureScheme::RSA_PSS_SHA256,
    ];
    let mapping: Vec<_> = all
        .mapping
        .iter()
        .filter(|(scheme, _)| schemes.contains(scheme))
        .map(|(scheme, algs)| {
            let algs: Vec<_> =
                algs.iter().copied().filter(|a| sha256.contains(&a.signature_alg_id())).collect();
            (*scheme, &*algs.leak())
        })
        .collect();
    // Built once per process (a LazyLock), so leaking these two small tables is bounded.
    WebPkiSupportedAlgorithms { all: keep.leak(), mapping: mapping.leak() }
});

/// The ring provider restricted to SHA-256 signatures, for certificate chains and hand-shake
/// signatures alike: a server chain signed with SHA-384 fails verification.
pub fn sha256_only_provider() -> Arc<CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    p.signature_verification_algorithms = *SHA256_ONLY;
    Arc::new(p)
}

/// What a terminal set to `SSL/TLS Signature Algorithm` SHA-1 can verify: SHA-1 signatures only. rustls (like
/// AWS IoT Core) has none, so this provider verifies no certificate chain and offers no signature scheme; every
/// hand-shake fails, as such a terminal's does against the SHA-256 chain of the MQT service (R6).
pub fn sha1_only_provider() -> Arc<CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    p.signature_verification_algorithms = WebPkiSupportedAlgorithms { all: &[], mapping: &[] };
    Arc::new(p)
}

/// Which signatures a client accepts (a terminal's `SSL/TLS Signature Algorithm`, R6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signatures {
    /// Everything the ring provider verifies.
    Any,
    /// SHA-256 only ([`sha256_only_provider`]).
    Sha256Only,
    /// SHA-1 only ([`sha1_only_provider`]): no hand-shake succeeds.
    Sha1Only,
}

/// Largest PEM file [`read_pem_file`] reads (a certificate chain or key is a few KiB).
pub const MAX_PEM_BYTES: u64 = 256 * 1024;

/// Why a PEM file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PemFileError {
    /// Missing or unreadable.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Larger than [`MAX_PEM_BYTES`]; not read.
    #[error("{} has {len} bytes; a PEM file here is at most {MAX_PEM_BYTES}", path.display())]
    TooLarge {
        /// The file.
        path: std::path::PathBuf,
        /// Its size.
        len: u64,
    },
}

/// Reads a PEM file of at most [`MAX_PEM_BYTES`] (its size is checked before anything is read).
pub fn read_pem_file(path: &std::path::Path) -> Result<String, PemFileError> {
    let err = |source| PemFileError::Read { path: path.to_owned(), source };
    let len = std::fs::metadata(path).map_err(err)?.len();
    if len > MAX_PEM_BYTES {
        return Err(PemFileError::TooLarge { path: path.to_owned(), len });
    }
    std::fs::read_to_string(path).map_err(err)
}

/// Parses every certificate in a PEM text.
pub fn certs_from_pem(pem: &str, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem { what, detail: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::Pem { what, detail: "no CERTIFICATE item in the PEM text".into() });
    }
    Ok(certs)
}

/// Parses the first private key in a PEM text.
pub fn key_from_pem(pem: &str, what: &'static str) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut pem.as_bytes())
        .map_err(|e| TlsError::Pem { what, detail: e.to_string() })?
        .ok_or_else(|| TlsError::Pem { what, detail: "no PRIVATE KEY item in the PEM text".into() })
}

fn roots(ca_pem: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs_from_pem(ca_pem, "CA certificate")? {
        roots.add(cert).map_err(|e| TlsError::Pem { what: "CA certificate", detail: e.to_string() })?;
    }
    Ok(roots)
}

/// The client side: trust `ca_pem`, present `cert_pem`/`key_pem`, offer `alpn` if given (use
/// `x-amzn-mqtt-ca` for AWS IoT Core on port 443), and with `sha256_only` accept only SHA-256 signatures.
///
/// SNI is sent from the server name the caller connects with (rustls sends none for IP addresses,
/// which AWS IoT Core and this stand-in refuse).
pub fn client_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    alpn: Option<&[u8]>,
    sha256_only: bool,
) -> Result<Arc<ClientConfig>, TlsError> {
    let signatures = if sha256_only { Signatures::Sha256Only } else { Signatures::Any };
    client_config_with(ca_pem, cert_pem, key_pem, alpn, signatures)
}

/// [`client_config`] with the signatures accepted named by [`Signatures`].
pub fn client_config_with(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    alpn: Option<&[u8]>,
    signatures: Signatures,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = match signatures {
        Signatures::Any => provider(),
        Signatures::Sha256Only => sha256_only_provider(),
        Signatures::Sha1Only => sha1_only_provider(),
    };
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider.clone())
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(
            certs_from_pem(cert_pem, "client certificate")?,
            key_from_pem(key_pem, "client key")?,
        )?;
    config.alpn_protocols = alpn.map(|a| vec![a.to_vec()]).unwrap_or_default();
    // A client talks to one endpoint: keep that server's session tickets only. The default cache is sized for
    // 32 servers, about 14 KiB per configuration, and every terminal has a configuration of its own.
    config.resumption = rustls::client::Resumption::in_memory_sessions(8);
    Ok(Arc::new(config))
}

/// The endpoint side: TLS 1.2 and 1.3, a client certificate chained to `ca_pem` required,
/// `alpn` advertised if given.
pub fn server_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    alpn: Option<&[u8]>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider.clone())
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            certs_from_pem(cert_pem, "server certificate")?,
            key_from_pem(key_pem, "server key")?,
        )?;
    config.alpn_protocols = alpn.map(|a| vec![a.to_vec()]).unwrap_or_default();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_only_drops_sha384() {
        let p = sha256_only_provider();
        assert!(!p.signature_verification_algorithms.all.is_empty());
        assert!(
            p.signature_verification_algorithms
                .all
                .iter()
                .all(|a| a.signature_alg_id() != alg_id::ECDSA_SHA384)
        );
        let schemes = p.signature_verification_algorithms.supported_schemes();
        assert!(schemes.contains(&SignatureScheme::ECDSA_NISTP256_SHA256));
        assert!(!schemes.contains(&SignatureScheme::ECDSA_NISTP384_SHA384));
    }

    #[test]
    fn a_pem_file_over_the_limit_is_refused_unread_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let big = dir.path().join("big.pem");
        std::fs::write(&big, vec![b'x'; MAX_PEM_BYTES as usize + 1]).expect("written");
        let err = read_pem_file(&big).expect_err("too large");
        assert!(matches!(err, PemFileError::TooLarge { len, .. } if len == MAX_PEM_BYTES + 1), "{err}");
        let missing = dir.path().join("ca.pem");
        let err = read_pem_file(&missing).expect_err("missing");
        assert!(err.to_string().contains("ca.pem"), "{err}");
        std::fs::write(&missing, "-----BEGIN CERTIFICATE-----\n").expect("written");
        assert!(read_pem_file(&missing).is_ok_and(|t| t.starts_with("-----BEGIN")));
    }

    #[test]
    fn bad_pem_is_typed() {
        let err = client_config("nope", "", "", None, false).expect_err("no CA");
        assert!(err.to_string().contains("CA certificate"), "{err}");
    }
}
