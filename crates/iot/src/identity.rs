//! Who a client is, read from its (already verified) client certificate: the subject's OU says the
//! role, the CN the name. This is what [`crate::policy`] decides on, like an IoT policy attached to
//! a certificate.

pub use ccv_tls::{OU_PAYMENT_API, OU_TERMINAL};
use ccv_tls::{Subject, SubjectError};

/// The identity a client certificate proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A terminal; the CN is its TMS ID.
    Terminal {
        /// TMS ID.
        tms_id: String,
    },
    /// The payment API, the only party that may publish kicks.
    PaymentApi {
        /// The certificate's CN.
        name: String,
    },
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Terminal { tms_id } => write!(f, "terminal {tms_id}"),
            Identity::PaymentApi { name } => write!(f, "payment API {name}"),
        }
    }
}

/// Why a certificate gives no identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Not parsable X.509, or no CN.
    #[error(transparent)]
    Subject(#[from] SubjectError),
    /// An OU that maps to no role.
    #[error("client certificate OU {0:?} is neither \"terminal\" nor \"payment-api\"; no policy is attached")]
    UnknownRole(String),
}

impl Identity {
    /// Reads the identity from a DER certificate.
    pub fn from_cert_der(der: &[u8]) -> Result<Identity, IdentityError> {
        let Subject { common_name, organizational_unit } = Subject::from_der(der)?;
        match organizational_unit.as_str() {
            OU_TERMINAL => Ok(Identity::Terminal { tms_id: common_name }),
            OU_PAYMENT_API => Ok(Identity::PaymentApi { name: common_name }),
            _ => Err(IdentityError::UnknownRole(organizational_unit)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{Pki, PkiOptions};

    fn der(pem: &str) -> Vec<u8> {
        let mut rd = pem.as_bytes();
        let cert = rustls_pemfile::certs(&mut rd).next().expect("one cert").expect("valid PEM");
        cert.to_vec()
    }

    #[test]
    fn identities_from_the_pki() {
        let pki = Pki::generate(&PkiOptions { terminals: vec!["123".into()], ..PkiOptions::default() })
            .expect("PKI generates");
        assert_eq!(
            Identity::from_cert_der(&der(&pki.terminals["123"].cert_pem)),
            Ok(Identity::Terminal { tms_id: "123".into() })
        );
        assert_eq!(
            Identity::from_cert_der(&der(&pki.vpos.cert_pem)),
            Ok(Identity::PaymentApi { name: "vpos".into() })
        );
        let odd = pki.issue_client("x", "guest").expect("issues");
        assert_eq!(
            Identity::from_cert_der(&der(&odd.cert_pem)),
            Err(IdentityError::UnknownRole("guest".into()))
        );
        assert!(Identity::from_cert_der(b"junk").is_err());
    }
}
