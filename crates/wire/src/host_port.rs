//! [`HostPort`]: a host name or literal IP address and a TCP port, as configurations, kicks and command lines
//! write it (`TAS.JFORCE.BE:5555`, `127.0.0.1:5555`, `[::1]:5555`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A host name or literal IP address and a port. JSON: `{"host": "...", "port": 5555}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostPort {
    /// Host name or literal IP address (an IPv6 address without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl HostPort {
    /// A host and port.
    pub fn new(host: impl Into<String>, port: u16) -> HostPort {
        HostPort { host: host.into(), port }
    }

    /// The host without the brackets an IPv6 literal may be written with.
    pub fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// `true` when the host is a literal IPv4 or IPv6 address (no DNS needed to dial it).
    pub fn is_literal_ip(&self) -> bool {
        self.bare_host().parse::<core::net::IpAddr>().is_ok()
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') && !self.host.starts_with('[') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why a text is not `HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostPortError {
    /// No `:PORT` at the end.
    #[error("{text:?} is not HOST:PORT (for example 127.0.0.1:5555 or [::1]:5555)")]
    MissingPort {
        /// The text.
        text: String,
    },
    /// The port is not a number from 1 to 65535.
    #[error("{port:?} in {text:?} is not a port number from 1 to 65535")]
    BadPort {
        /// The text.
        text: String,
        /// The port part.
        port: String,
    },
    /// Nothing before the colon.
    #[error("{text:?} has no host before the port")]
    EmptyHost {
        /// The text.
        text: String,
    },
}

impl FromStr for HostPort {
    type Err = HostPortError;

    /// Parses `HOST:PORT`; an IPv6 address is written in brackets (`[::1]:5555`) and kept without them.
    fn from_str(text: &str) -> Result<HostPort, HostPortError> {
        let (host, port) =
            text.rsplit_once(':').ok_or_else(|| HostPortError::MissingPort { text: text.to_owned() })?;
        let bad_port = || HostPortError::BadPort { text: text.to_owned(), port: port.to_owned() };
        let port: u16 = port.parse().map_err(|_| bad_port())?;
        if port == 0 {
            return Err(bad_port());
        }
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        if host.is_empty() {
            return Err(HostPortError::EmptyHost { text: text.to_owned() });
        }
        if host.contains(':') && !text.starts_with('[') {
            // `::1:5555` is ambiguous: IPv6 literals need their brackets.
            return Err(HostPortError::MissingPort { text: text.to_owned() });
        }
        Ok(HostPort::new(host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_names_ipv4_and_bracketed_ipv6() {
        assert_eq!("TAS.JFORCE.BE:5555".parse(), Ok(HostPort::new("TAS.JFORCE.BE", 5555)));
        assert_eq!("127.0.0.1:7".parse(), Ok(HostPort::new("127.0.0.1", 7)));
        let v6: HostPort = "[::1]:7".parse().expect("bracketed IPv6");
        assert_eq!(v6, HostPort::new("::1", 7));
        assert!(v6.is_literal_ip());
        assert_eq!(v6.to_string(), "[::1]:7");
        assert!(!HostPort::new("TAS.JFORCE.BE", 1).is_literal_ip());
    }

    #[test]
    fn typed_errors_name_the_problem() {
        assert!(matches!("localhost".parse::<HostPort>(), Err(HostPortError::MissingPort { .. })));
        assert!(matches!("localhost:x".parse::<HostPort>(), Err(HostPortError::BadPort { .. })));
        assert!(matches!("localhost:0".parse::<HostPort>(), Err(HostPortError::BadPort { .. })));
        assert!(matches!("localhost:70000".parse::<HostPort>(), Err(HostPortError::BadPort { .. })));
        assert!(matches!(":5555".parse::<HostPort>(), Err(HostPortError::EmptyHost { .. })));
        assert!(matches!("::1:5555".parse::<HostPort>(), Err(HostPortError::MissingPort { .. })));
        let msg = "localhost".parse::<HostPort>().unwrap_err().to_string();
        assert!(msg.contains("HOST:PORT"), "{msg}");
    }

    proptest! {
        #[test]
        fn display_parses_back(host in "[a-z][a-z0-9.-]{0,20}", port in 1u16..) {
            let hp = HostPort::new(host, port);
            prop_assert_eq!(hp.to_string().parse::<HostPort>(), Ok(hp));
        }

        #[test]
        fn never_panics(text in "\\PC{0,40}") {
            let _ = text.parse::<HostPort>();
        }
    }
}
