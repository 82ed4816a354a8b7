//! A terminal's TLS material: the CA of the PKI, the terminal's client certificate (CN = TMS ID) and its key. The
//! MQTT client presents it to the IoT endpoint; with `[io] tas_tls` the TAS link presents it to the TAS.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A terminal's TLS material, as PEM text: for the IoT endpoint and, with `[io] tas_tls`, the TAS.
#[derive(Clone)]
pub struct Credentials {
    /// The CA that signed the endpoint's server certificate.
    pub ca_pem: String,
    /// The terminal's client certificate (CN = TMS ID).
    pub cert_pem: String,
    /// The terminal's private key.
    pub key_pem: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").finish_non_exhaustive()
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

impl Credentials {
    /// Reads `DIR/ca.pem`, `DIR/terminals/{tms_id}.pem` and `DIR/terminals/{tms_id}.key` (the layout of
    /// `ccv-emu pki init`) and checks that they make a TLS client configuration.
    pub fn load(pki_dir: &Path, tms_id: &str) -> Result<Credentials, CredentialsError> {
        let read = |path: PathBuf| -> Result<String, CredentialsError> {
            ccv_tls::read_pem_file(&path).map_err(|e| match e {
                ccv_tls::PemFileError::Read { path, source } => {
                    CredentialsError::Read { path, tms_id: tms_id.to_owned(), source }
                }
                other => CredentialsError::Invalid { tms_id: tms_id.to_owned(), detail: other.to_string() },
            })
        };
        let creds = Credentials {
            ca_pem: read(pki_dir.join("ca.pem"))?,
            cert_pem: read(pki_dir.join("terminals").join(format!("{tms_id}.pem")))?,
            key_pem: read(pki_dir.join("terminals").join(format!("{tms_id}.key")))?,
        };
        creds
            .tls_config(None, true)
            .map_err(|e| CredentialsError::Invalid { tms_id: tms_id.to_owned(), detail: e.to_string() })?;
        Ok(creds)
    }

    /// The TLS client of the TAS link: trusts the PKI's CA, presents the terminal's certificate, no ALPN.
    pub fn tas_tls_config(&self) -> Result<Arc<rustls::ClientConfig>, ccv_tls::TlsError> {
        ccv_tls::client_config(&self.ca_pem, &self.cert_pem, &self.key_pem, None, false)
    }

    /// The TLS client as the terminal's `SSL/TLS Signature Algorithm` makes it: SHA-256 only, or SHA-1 only
    /// (`require_sha256` false), with which no hand-shake succeeds (R6).
    pub(crate) fn tls_config(
        &self,
        alpn: Option<&[u8]>,
        require_sha256: bool,
    ) -> Result<Arc<rustls::ClientConfig>, ccv_tls::TlsError> {
        let signatures =
            if require_sha256 { ccv_tls::Signatures::Sha256Only } else { ccv_tls::Signatures::Sha1Only };
        ccv_tls::client_config_with(&self.ca_pem, &self.cert_pem, &self.key_pem, alpn, signatures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_pki_files_name_the_file_and_the_fix() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = Credentials::load(dir.path(), "12345678").expect_err("no files");
        let text = err.to_string();
        assert!(text.contains("ca.pem") && text.contains("pki init"), "{text}");
    }
}
