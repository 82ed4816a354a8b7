//! The terminal process's configuration file (TOML): the core's [`TerminalConfig`] under `[terminal]`, and the
//! IO shell's own settings under `[io]`. Both sections are optional; an empty file is a fully migrated terminal.
//!
//! ```toml
//! [terminal]                 # ccv_terminal::TerminalConfig, field names as the core defines them
//! trigger_port = 4105
//! pos_opi_mode = "tcp_flat_outgoing"
//! [terminal.identity]
//! tms_id = "12345678"
//! [terminal.installed.tas]
//! host = "127.0.0.1"
//! port = 5555
//!
//! [io]
//! kick_bind = "127.0.0.1"    # IP the local-kick listener binds; the port is terminal.trigger_port
//! cors = "modern"            # or "old_firmware_no_cors" (R4)
//! kick_allowed_origins = ["*"]   # page origins that may kick from a browser; "*": any but `null`
//! allow_tas_override = false # a kick naming another TAS is refused unless true (test set-ups)
//! tas_tls = false            # dial the TAS over mutual TLS with the certificate from mqtt_pki (`ccv-emu tas --pki`)
//! opi_channel0 = "127.0.0.1:4100"   # Default ITS: where the POS connects (channel 0)
//! opi_channel1 = "127.0.0.1:4102"   # Default ITS: where the terminal connects to the POS (channel 1)
//! mqtt_pki = "./pki"         # Cloud Connect 2.0: CA and this terminal's certificate (`ccv-emu pki init`)
//! mqtt_alpn = "auto"         # offer ALPN x-amzn-mqtt-ca: "auto" (port 443), "always" or "never"
//! state_file = "./t1.json"   # keep the non-volatile state (config as changed, journal, counters) across restarts
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ccv_terminal::TerminalConfig;
use serde::{Deserialize, Serialize};

use crate::kick::CorsProfile;
use crate::mqtt::AlpnPolicy;

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// The core's configuration.
    pub terminal: TerminalConfig,
    /// The IO shell's settings.
    pub io: IoSettings,
}

/// Settings of the IO shell (sockets, time-outs, profiles); nothing here changes the terminal's behaviour as the
/// core models it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IoSettings {
    /// IP address the local-kick listener binds; its port is the terminal's trigger port.
    pub kick_bind: IpAddr,
    /// Overrides the trigger port for binding only (e.g. `0` in tests for an ephemeral port while the core
    /// still sees its configured, non-zero trigger port). `None`: bind the trigger port.
    pub kick_port_override: Option<u16>,
    /// CORS behaviour of the kick listener.
    pub cors: CorsProfile,
    /// Page origins that may kick from a browser (`scheme://host[:port]`); `"*"` (the default) is any origin
    /// but `null`. See `docs/LOCAL_KICK.md` for why.
    pub kick_allowed_origins: Vec<String>,
    /// Whether a local kick may name the TAS to dial (`tas` in its body). Off by default: any page a shop
    /// browser opens could otherwise send the terminal to a TAS of its choosing. Test set-ups turn it on.
    pub allow_tas_override: bool,
    /// Default ITS mode: address the terminal listens on for the POS's channel 0.
    pub opi_channel0: SocketAddr,
    /// Default ITS mode: address of the POS's channel 1 listener, which the terminal connects to for device
    /// requests.
    pub opi_channel1: SocketAddr,
    /// Largest OPI frame accepted on any socket, in bytes.
    pub max_frame: usize,
    /// Time allowed to write one frame.
    pub write_timeout_ms: u64,
    /// Time the TAS has to answer the hand-shake.
    pub handshake_timeout_ms: u64,
    /// Directory of a PKI made by `ccv-emu pki init` (`ca.pem`, `terminals/{tmsId}.pem` and `.key`): the
    /// terminal's certificate. When set, the terminal runs its Cloud Connect 2.0 MQTT client whenever the core
    /// wants a session; without it the terminal has no MQTT link (its MQT service address would be the real AWS
    /// IoT Core). With `tas_tls` the TAS link presents the same certificate.
    pub mqtt_pki: Option<PathBuf>,
    /// Dial the TAS over mutual TLS: trust the PKI's CA for the TAS's certificate and present the terminal's
    /// own (CN = TMS ID), which proves the TMS ID of the hand-shake. Needs `mqtt_pki` (or credentials given in
    /// memory); the TAS must run with the same PKI (`ccv-emu tas --pki DIR`). Off: plain TCP, as the real
    /// FLAT-OUTGOING link.
    pub tas_tls: bool,
    /// When to offer ALPN `x-amzn-mqtt-ca`: `auto` (port 443 only), `always`, `never`.
    pub mqtt_alpn: AlpnPolicy,
    /// Where the terminal keeps its non-volatile state (configuration as changed by menus and TMS, journal,
    /// totals, counters) across restarts; `None`: nothing is kept, every start is from this file.
    pub state_file: Option<PathBuf>,
    /// MQTT keep-alive in seconds (at least 1).
    pub mqtt_keep_alive_s: u64,
    /// Time allowed for TCP, TLS and CONNACK, in seconds (at least 1).
    pub mqtt_connect_timeout_s: u64,
}

impl Default for IoSettings {
    fn default() -> Self {
        Self {
            kick_bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            kick_port_override: None,
            cors: CorsProfile::Modern,
            kick_allowed_origins: vec![crate::kick::ANY_ORIGIN.to_owned()],
            allow_tas_override: false,
            opi_channel0: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 4100)),
            opi_channel1: SocketAddr::from((Ipv4Addr::LOCALHOST, 4102)),
            max_frame: ccv_opi::DEFAULT_MAX_FRAME_LEN,
            write_timeout_ms: 10_000,
            handshake_timeout_ms: 5_000,
            mqtt_pki: None,
            tas_tls: false,
            mqtt_alpn: AlpnPolicy::Auto,
            mqtt_keep_alive_s: 30,
            mqtt_connect_timeout_s: 10,
            state_file: None,
        }
    }
}

impl IoSettings {
    /// [`IoSettings::write_timeout_ms`] as a duration.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }
}

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the terminal config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("terminal config {path} is not valid: {message} (see fixtures/terminals/*.toml for examples)")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
}

/// Files larger than this are refused before parsing.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

impl FileConfig {
    /// Parses TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<FileConfig, ConfigError> {
        toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: origin.to_owned(), message: e.to_string() })
    }

    /// Reads and parses a file (at most [`MAX_CONFIG_BYTES`]).
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let read = |source| ConfigError::Read { path: path.to_owned(), source };
        let len = std::fs::metadata(path).map_err(read)?.len();
        if len > MAX_CONFIG_BYTES {
            return Err(ConfigError::Parse {
                path: path.to_owned(),
                message: format!("the file has {len} bytes; a terminal config is at most {MAX_CONFIG_BYTES}"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        FileConfig::from_toml(&text, path)
    }

    /// The address the kick listener binds, or `None` when the trigger port is 0 (R21: nothing listens).
    pub fn kick_addr(&self) -> Option<SocketAddr> {
        if self.terminal.trigger_port == 0 {
            return None;
        }
        let port = self.io.kick_port_override.unwrap_or(self.terminal.trigger_port);
        Some(SocketAddr::new(self.io.kick_bind, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> Vec<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/terminals");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("fixtures/terminals exists")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn every_fixture_loads() {
        let files = fixtures();
        assert!(files.len() >= 8, "{files:?}");
        for f in files {
            let c = FileConfig::load(&f).unwrap_or_else(|e| panic!("{e}"));
            assert!(!c.terminal.identity.tms_id.is_empty(), "{}", f.display());
        }
    }

    #[test]
    fn an_empty_file_is_a_fully_migrated_terminal() {
        let c = FileConfig::from_toml("", Path::new("empty.toml")).unwrap();
        assert_eq!(c, FileConfig::default());
        assert_eq!(c.terminal, TerminalConfig::default());
        assert_eq!(c.kick_addr(), Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 4105))));
    }

    #[test]
    fn trigger_port_0_means_no_listener_and_override_binds_elsewhere() {
        let c = FileConfig::from_toml("[terminal]\ntrigger_port = 0\n", Path::new("x.toml")).unwrap();
        assert_eq!(c.kick_addr(), None);
        let c = FileConfig::from_toml(
            "[io]\nkick_port_override = 0\nkick_bind = \"127.0.0.1\"\n",
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(c.kick_addr(), Some("127.0.0.1:0".parse().unwrap()));
    }

    #[test]
    fn mistakes_are_reported_with_the_file_and_the_place() {
        let err =
            FileConfig::from_toml("[terminal]\ntrigger_prot = 4105\n", Path::new("t.toml")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("t.toml") && text.contains("trigger_prot"), "{text}");
        let err = FileConfig::from_toml("[io]\ncors = \"sometimes\"\n", Path::new("t.toml")).unwrap_err();
        assert!(err.to_string().contains("sometimes"), "{err}");
        let err = FileConfig::load(Path::new("/nonexistent/terminal.toml")).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    }
}
