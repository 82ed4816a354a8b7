//! A test PKI made with rcgen: one CA, the IoT endpoint's server certificate, a client certificate
//! for the payment API (the only identity allowed to publish kicks) and one per terminal (CN = TMS
//! ID). Everything is made in memory ([`Pki::generate`]); [`Pki::write_dir`] and [`Pki::load_dir`]
//! use the on-disk layout below (private keys are written with mode 0600):
//!
//! ```text
//! DIR/README.txt                what is what
//! DIR/ca.pem    DIR/ca.key      the test CA (the key lets `pki init` add terminals later)
//! DIR/server.pem DIR/server.key the endpoint (SANs: localhost and an ATS-style host name)
//! DIR/vpos.pem  DIR/vpos.key    the payment API's client certificate
//! DIR/tas.pem   DIR/tas.key     the mock TAS, for terminals dialling it over mutual TLS (SANs: [`TAS_NAMES`])
//! DIR/terminals/{tmsId}.pem + {tmsId}.key
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SignatureAlgorithm,
};
use time::OffsetDateTime;

use crate::identity::{OU_PAYMENT_API, OU_TERMINAL};

/// The ATS-style host name of the real endpoint (R6); our server certificate carries it too, so a
/// terminal left on the default service address can be pointed at the stand-in by name resolution.
pub const ATS_HOST: &str = "a15qvcxk7p3bae-ats.iot.eu-central-1.amazonaws.com";
/// The names on the mock TAS's server certificate: where a terminal may dial it over TLS (loopback by name and
/// address, and the factory TAS of a terminal, which name resolution can point at the mock).
pub const TAS_NAMES: [&str; 4] = ["localhost", "127.0.0.1", "::1", "TAS.JFORCE.BE"];
/// Common name of the payment API's client certificate.
pub const VPOS_CN: &str = "vpos";

/// Key and signature algorithm of every certificate in a [`Pki`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyAlgorithm {
    /// ECDSA P-256 keys, signatures with SHA-256 (the default; what R6 "SHA-256" asks for).
    #[default]
    EcdsaP256Sha256,
    /// ECDSA P-384 keys, signatures with SHA-384: a chain a SHA-256-only terminal must refuse.
    EcdsaP384Sha384,
}

impl KeyAlgorithm {
    fn rcgen(self) -> &'static SignatureAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP256Sha256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgorithm::EcdsaP384Sha384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        }
    }
}

/// What to put in a new PKI.
#[derive(Debug, Clone)]
pub struct PkiOptions {
    /// TMS IDs to issue terminal certificates for.
    pub terminals: Vec<String>,
    /// DNS names of the server certificate (default `localhost` and [`ATS_HOST`]).
    pub server_names: Vec<String>,
    /// Key and signature algorithm.
    pub algorithm: KeyAlgorithm,
}

impl Default for PkiOptions {
    fn default() -> Self {
        PkiOptions {
            terminals: Vec::new(),
            server_names: vec!["localhost".to_owned(), ATS_HOST.to_owned()],
            algorithm: KeyAlgorithm::default(),
        }
    }
}

/// Errors making, writing or reading a PKI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// rcgen refused to make a key or certificate.
    #[error("cannot create {what}: {error}")]
    Generate {
        /// Which certificate or key.
        what: String,
        /// rcgen's error.
        error: rcgen::Error,
    },
    /// A TMS ID that cannot be used as a certificate name, topic level and file name.
    #[error(
        "invalid TMS ID {0:?}: use 1 to 64 characters from A-Z a-z 0-9 . _ - (not starting with '.', nor with \"vpos\": those are the payment API's client ids)"
    )]
    InvalidTmsId(String),
    /// Reading or writing a file failed.
    #[error("{action} {path}: {error}")]
    Io {
        /// "cannot read", "cannot write", ...
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// A file exists but holds no usable PEM item.
    #[error("{path}: {what}; recreate the PKI with `ccv-emu pki init`")]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A terminal certificate was asked for that the PKI does not have.
    #[error("no certificate for terminal {0:?}; add it with `ccv-emu pki init DIR --terminal {0}`")]
    UnknownTerminal(String),
}

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedKeyPem {
    /// The certificate (PEM, one item).
    pub cert_pem: String,
    /// The PKCS#8 private key (PEM).
    pub key_pem: String,
}

/// A complete test PKI, in memory.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA certificate and key.
    pub ca: CertifiedKeyPem,
    /// The IoT endpoint's server certificate.
    pub server: CertifiedKeyPem,
    /// The payment API's client certificate (CN [`VPOS_CN`], OU `payment-api`).
    pub vpos: CertifiedKeyPem,
    /// The mock TAS's server certificate (SANs [`TAS_NAMES`]), for the TAS link over mutual TLS.
    pub tas: CertifiedKeyPem,
    /// One client certificate per TMS ID (CN = TMS ID, OU `terminal`).
    pub terminals: BTreeMap<String, CertifiedKeyPem>,
    /// The algorithm used for new certificates.
    pub algorithm: KeyAlgorithm,
}

/// Checks that a TMS ID is usable as a CN, a topic level and a file name.
pub fn validate_tms_id(tms_id: &str) -> Result<(), PkiError> {
    let ok = !tms_id.is_empty()
        && tms_id.len() <= 64
        && !tms_id.starts_with('.')
        && !tms_id.starts_with(VPOS_CN)
        && tms_id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(PkiError::InvalidTmsId(tms_id.to_owned())) }
}

fn gen_err(what: &str) -> impl FnOnce(rcgen::Error) -> PkiError + '_ {
    move |error| PkiError::Generate { what: what.to_owned(), error }
}

fn dn(cn: &str, ou: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "ccv-emu test PKI");
    dn.push(DnType::OrganizationalUnitName, ou);
    dn.push(DnType::CommonName, cn);
    dn
}

impl Pki {
    /// Makes a new CA and all certificates `options` asks for.
    pub fn generate(options: &PkiOptions) -> Result<Pki, PkiError> {
        for t in &options.terminals {
            validate_tms_id(t)?;
        }
        let alg = options.algorithm.rcgen();
        let ca_key = KeyPair::generate_for(alg).map_err(gen_err("the CA key"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn("ccv-emu test CA", "ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = params.self_signed(&ca_key).map_err(gen_err("the CA certificate"))?;
        let ca = CertifiedKeyPem { cert_pem: ca_cert.pem(), key_pem: ca_key.serialize_pem() };

        let mut pki = Pki {
            server: ca.clone(),
            vpos: ca.clone(),
            tas: ca.clone(),
            ca,
            terminals: BTreeMap::new(),
            algorithm: options.algorithm,
        };
        pki.server = pki.issue(
            options.server_names.first().map_or("localhost", String::as_str),
            "iot-endpoint",
            &options.server_names,
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        pki.vpos = pki.issue(VPOS_CN, OU_PAYMENT_API, &[], ExtendedKeyUsagePurpose::ClientAuth)?;
        pki.tas = pki.issue_tas()?;
        for t in &options.terminals {
            pki.add_terminal(t)?;
        }
        Ok(pki)
    }

    /// Issues (or re-issues) the client certificate of terminal `tms_id`.
    pub fn add_terminal(&mut self, tms_id: &str) -> Result<&CertifiedKeyPem, PkiError> {
        validate_tms_id(tms_id)?;
        let issued = self.issue(tms_id, OU_TERMINAL, &[], ExtendedKeyUsagePurpose::ClientAuth)?;
        let slot = self.terminals.entry(tms_id.to_owned()).or_insert_with(|| issued.clone());
        *slot = issued;
        Ok(slot)
    }

    /// The certificate of terminal `tms_id`.
    pub fn terminal(&self, tms_id: &str) -> Result<&CertifiedKeyPem, PkiError> {
        self.terminals.get(tms_id).ok_or_else(|| PkiError::UnknownTerminal(tms_id.to_owned()))
    }

    /// Issues the mock TAS's server certificate.
    fn issue_tas(&self) -> Result<CertifiedKeyPem, PkiError> {
        let names: Vec<String> = TAS_NAMES.iter().map(|n| (*n).to_owned()).collect();
        self.issue("tas", "tas", &names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// Issues an extra client certificate with any CN and OU (for tests of unusual identities).
    pub fn issue_client(&self, cn: &str, ou: &str) -> Result<CertifiedKeyPem, PkiError> {
        self.issue(cn, ou, &[], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(
        &self,
        cn: &str,
        ou: &str,
        dns_names: &[String],
        eku: ExtendedKeyUsagePurpose,
    ) -> Result<CertifiedKeyPem, PkiError> {
        self.issue_valid(cn, ou, dns_names, eku, None)
    }

    /// [`Pki::issue`], valid from the first to the second instant when given (else rcgen's 1975 to 4096).
    fn issue_valid(
        &self,
        cn: &str,
        ou: &str,
        dns_names: &[String],
        eku: ExtendedKeyUsagePurpose,
        validity: Option<(OffsetDateTime, OffsetDateTime)>,
    ) -> Result<CertifiedKeyPem, PkiError> {
        let what = format!("the certificate for {cn:?}");
        let ca_key = KeyPair::from_pem(&self.ca.key_pem).map_err(gen_err("the CA key (parse)"))?;
        let issuer =
            Issuer::from_ca_cert_pem(&self.ca.cert_pem, ca_key).map_err(gen_err("the CA (parse)"))?;
        let key = KeyPair::generate_for(self.algorithm.rcgen()).map_err(gen_err(&what))?;
        let mut params = CertificateParams::new(dns_names.to_vec()).map_err(gen_err(&what))?;
        params.distinguished_name = dn(cn, ou);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![eku];
        params.use_authority_key_identifier_extension = true;
        if let Some((not_before, not_after)) = validity {
            (params.not_before, params.not_after) = (not_before, not_after);
        }
        let cert = params.signed_by(&key, &issuer).map_err(gen_err(&what))?;
        Ok(CertifiedKeyPem { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }

    /// Writes the PKI to `dir` (created if missing) in the layout of the module docs.
    pub fn write_dir(&self, dir: &Path) -> Result<(), PkiError> {
        let terminals = dir.join("terminals");
        std::fs::create_dir_all(&terminals).map_err(|error| PkiError::Io {
            action: "cannot create directory",
            path: terminals.clone(),
            error,
        })?;
        write_pair(dir, "ca", &self.ca)?;
        write_pair(dir, "server", &self.server)?;
        write_pair(dir, "vpos", &self.vpos)?;
        write_pair(dir, "tas", &self.tas)?;
        for (tms_id, pair) in &self.terminals {
            write_pair(&terminals, tms_id, pair)?;
        }
        write_file(&dir.join("README.txt"), readme(self).as_bytes(), false)
    }

    /// Reads a PKI written by [`Pki::write_dir`]. The algorithm is read from the CA key. A directory written
    /// before the TAS had a certificate gets one issued in memory (write the PKI back to keep it).
    pub fn load_dir(dir: &Path) -> Result<Pki, PkiError> {
        let ca = read_pair(dir, "ca")?;
        let algorithm = match KeyPair::from_pem(&ca.key_pem) {
            Ok(k) if k.algorithm() == &rcgen::PKCS_ECDSA_P384_SHA384 => KeyAlgorithm::EcdsaP384Sha384,
            Ok(_) => KeyAlgorithm::EcdsaP256Sha256,
            Err(e) => {
                return Err(PkiError::BadPem {
                    path: dir.join("ca.key"),
                    what: format!("unusable key: {e}"),
                });
            }
        };
        let mut terminals = BTreeMap::new();
        let tdir = dir.join("terminals");
        if tdir.is_dir() {
            let entries = std::fs::read_dir(&tdir).map_err(|error| PkiError::Io {
                action: "cannot list",
                path: tdir.clone(),
                error,
            })?;
            for entry in entries {
                let entry = entry.map_err(|error| PkiError::Io {
                    action: "cannot list",
                    path: tdir.clone(),
                    error,
                })?;
                let name = entry.file_name();
                let Some(tms_id) = name.to_str().and_then(|n| n.strip_suffix(".pem")) else { continue };
                if validate_tms_id(tms_id).is_ok() {
                    terminals.insert(tms_id.to_owned(), read_pair(&tdir, tms_id)?);
                }
            }
        }
        let (server, vpos) = (read_pair(dir, "server")?, read_pair(dir, "vpos")?);
        let mut pki = Pki { tas: server.clone(), server, vpos, ca, terminals, algorithm };
        pki.tas = if dir.join("tas.pem").is_file() { read_pair(dir, "tas")? } else { pki.issue_tas()? };
        Ok(pki)
    }

    /// Issues a certificate valid only from `not_before` to `not_after` (whole seconds), for tests of expired and
    /// not yet valid certificates: with no `dns_names` a client certificate with `cn` and `ou` (a terminal's has
    /// its TMS ID and OU `terminal`), else a server certificate for `dns_names` like the endpoint's.
    pub fn issue_with_validity(
        &self,
        cn: &str,
        ou: &str,
        dns_names: &[String],
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<CertifiedKeyPem, PkiError> {
        let at = |t: SystemTime| {
            let secs = match t.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_secs()).ok(),
                Err(before) => i64::try_from(before.duration().as_secs()).ok().map(|s| -s),
            };
            // A certificate holds years 0 to 9999 (and rcgen's encoder asserts it).
            secs.and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                .filter(|instant| (0..10_000).contains(&instant.year()))
                .ok_or_else(|| {
                    gen_err("the validity (an instant outside years 0 to 9999)")(rcgen::Error::Time)
                })
        };
        let eku = if dns_names.is_empty() {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        };
        self.issue_valid(cn, ou, dns_names, eku, Some((at(not_before)?, at(not_after)?)))
    }
}

fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), PkiError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(if secret { 0o600 } else { 0o644 });
        let err = |error| PkiError::Io { action: "cannot write", path: path.to_owned(), error };
        let mut file = options.open(path).map_err(err)?;
        // An existing file keeps its old mode on open; set it explicitly.
        file.set_permissions(std::fs::Permissions::from_mode(if secret { 0o600 } else { 0o644 }))
            .map_err(err)?;
        file.write_all(bytes).map_err(err)
    }
    #[cfg(not(unix))]
    {
        let _ = secret;
        let err = |error| PkiError::Io { action: "cannot write", path: path.to_owned(), error };
        options.open(path).map_err(err)?.write_all(bytes).map_err(err)
    }
}

fn write_pair(dir: &Path, stem: &str, pair: &CertifiedKeyPem) -> Result<(), PkiError> {
    write_file(&dir.join(format!("{stem}.pem")), pair.cert_pem.as_bytes(), false)?;
    write_file(&dir.join(format!("{stem}.key")), pair.key_pem.as_bytes(), true)
}

fn read_pair(dir: &Path, stem: &str) -> Result<CertifiedKeyPem, PkiError> {
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path).map_err(|error| PkiError::Io { action: "cannot read", path, error })
    };
    let cert_path = dir.join(format!("{stem}.pem"));
    let cert_pem = read(cert_path.clone())?;
    if !cert_pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(PkiError::BadPem { path: cert_path, what: "no CERTIFICATE item".into() });
    }
    let key_path = dir.join(format!("{stem}.key"));
    let key_pem = read(key_path.clone())?;
    if !key_pem.contains("PRIVATE KEY-----") {
        return Err(PkiError::BadPem { path: key_path, what: "no PRIVATE KEY item".into() });
    }
    Ok(CertifiedKeyPem { cert_pem, key_pem })
}

fn readme(pki: &Pki) -> String {
    let alg = match pki.algorithm {
        KeyAlgorithm::EcdsaP256Sha256 => "ECDSA P-256, signed with SHA-256",
        KeyAlgorithm::EcdsaP384Sha384 => "ECDSA P-384, signed with SHA-384",
    };
    let mut s = format!(
        "Test PKI for ccv-emu (made by `ccv-emu pki init`). NOT for production use.\n\
         All keys: {alg}. Private keys (*.key, PKCS#8 PEM) are mode 0600.\n\n\
         ca.pem, ca.key         the test CA; every endpoint and client trusts ca.pem\n\
         server.pem, server.key the IoT endpoint (`ccv-emu iot --pki DIR`); SANs: localhost, {ATS_HOST}\n\
         tas.pem, tas.key       the mock TAS over mutual TLS (`ccv-emu tas --pki DIR`); SANs: {tas_names}\n\
         vpos.pem, vpos.key     the payment API (CN={VPOS_CN}, OU={OU_PAYMENT_API}); the only identity allowed to\n\
         \x20                      publish cloud kicks on ccv/{{MgtSubscription}}/{{tmsId}}/cmd\n\
         terminals/{{tmsId}}.pem, .key  one per terminal (CN=TMS ID, OU={OU_TERMINAL}, EKU clientAuth); may subscribe\n\
         \x20                      only to its own cmd topic and publish only to its own evt topic\n\n\
         Terminals:\n",
        tas_names = TAS_NAMES.join(", ")
    );
    if pki.terminals.is_empty() {
        s.push_str("  (none; add with `ccv-emu pki init DIR --terminal TMSID`)\n");
    }
    for t in pki.terminals.keys() {
        s.push_str(&format!("  {t}\n"));
    }
    s.push_str(
        "\nExample (mosquitto-clients):\n  mosquitto_pub -h localhost -p 8443 --cafile ca.pem --cert vpos.pem --key vpos.key \\\n\
         \x20   --tls-alpn x-amzn-mqtt-ca -i vpos-1 -q 1 -t ccv/NL-CAT/TMSID/cmd -m '{...}'\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tms_ids() {
        assert!(validate_tms_id("12345678").is_ok());
        assert!(validate_tms_id("T-1_a.b").is_ok());
        for bad in ["", ".x", "a/b", "a+b", "a#", &"1".repeat(65), "é"] {
            assert!(validate_tms_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generate_write_load() {
        let opts = PkiOptions { terminals: vec!["T1".into(), "T2".into()], ..PkiOptions::default() };
        let pki = Pki::generate(&opts).expect("PKI generates");
        let dir = tempfile::tempdir().expect("temp dir");
        pki.write_dir(dir.path()).expect("PKI writes");
        let back = Pki::load_dir(dir.path()).expect("PKI loads");
        assert_eq!(back.ca, pki.ca);
        assert_eq!(back.terminals, pki.terminals);
        assert_eq!(back.algorithm, KeyAlgorithm::EcdsaP256Sha256);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in ["ca.key", "server.key", "vpos.key", "terminals/T1.key"] {
                let mode = std::fs::metadata(dir.path().join(f)).expect("key exists").permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
        let readme = std::fs::read_to_string(dir.path().join("README.txt")).expect("README written");
        assert!(readme.contains("T2") && readme.contains("vpos.pem"));
    }

    #[test]
    fn sha384_chain() {
        let opts = PkiOptions { algorithm: KeyAlgorithm::EcdsaP384Sha384, ..PkiOptions::default() };
        let pki = Pki::generate(&opts).expect("PKI generates");
        let dir = tempfile::tempdir().expect("temp dir");
        pki.write_dir(dir.path()).expect("PKI writes");
        assert_eq!(Pki::load_dir(dir.path()).expect("loads").algorithm, KeyAlgorithm::EcdsaP384Sha384);
    }

    #[test]
    fn a_chosen_validity_is_issued_and_one_no_certificate_can_hold_is_refused() {
        let pki = Pki::generate(&PkiOptions::default()).expect("PKI generates");
        let from = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        let until = from + std::time::Duration::from_secs(86_400);
        let cert = pki.issue_with_validity("T9", OU_TERMINAL, &[], from, until).expect("issues");
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert.cert_pem.as_bytes()).expect("PEM");
        let x509 = pem.parse_x509().expect("X.509");
        assert_eq!(x509.validity().not_before.timestamp(), 1_000_000_000);
        assert_eq!(x509.validity().not_after.timestamp(), 1_000_086_400);
        let year_11000 = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(285_000_000_000);
        let err =
            pki.issue_with_validity("T9", OU_TERMINAL, &[], from, year_11000).expect_err("no such year");
        assert!(matches!(err, PkiError::Generate { .. }), "{err}");
    }

    #[test]
    fn missing_files_say_which() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = Pki::load_dir(dir.path()).expect_err("empty dir");
        assert!(err.to_string().contains("ca.pem"), "{err}");
    }
}
