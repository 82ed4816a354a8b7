//! The terminal's configuration: identity, software version, TMS parameters (as TMS holds them and
//! as installed on the terminal), POS OPI mode, trigger port, network settings, day state, activation
//! and the behaviour profile. All of it is `serde`, so an IO shell can load it from TOML.

use serde::{Deserialize, Serialize};

use crate::version::SoftwareVersion;

/// The default TAS: `TAS.JFORCE.BE` (R1).
pub const DEFAULT_TAS_HOST: &str = "TAS.JFORCE.BE";
/// The default TAS port (R1).
pub const DEFAULT_TAS_PORT: u16 = 5555;
/// The MQT service address (R6).
pub const DEFAULT_MQT_HOST: &str = "a15qvcxk7p3bae-ats.iot.eu-central-1.amazonaws.com";
/// The MQT service port (R6).
pub const DEFAULT_MQT_PORT: u16 = 443;
/// The default OPI trigger port for the local kick (R1).
pub const DEFAULT_TRIGGER_PORT: u16 = 4105;
/// The `MgtSubscription` value (R6).
pub const DEFAULT_MGT_SUBSCRIPTION: &str = "NL-CAT";
/// The manager password (R15).
pub const MANAGER_PASSWORD: &str = "99999";

pub use ccv_wire::HostPort;

/// The TMS that manages the terminal (R8, R24); the POS names it in its 2.0 configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ManagingTms {
    /// `GrundmasterNL`.
    #[default]
    GrundmasterNL,
    /// `GrundmasterBE`.
    GrundmasterBE,
}

impl ManagingTms {
    /// The TMS system name as the POS writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ManagingTms::GrundmasterNL => "GrundmasterNL",
            ManagingTms::GrundmasterBE => "GrundmasterBE",
        }
    }
}

/// The `SSL/TLS Signature Algorithm` parameter (R6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureAlgorithm {
    /// SHA-256 (required for Cloud Connect 2.0).
    #[default]
    Sha256,
    /// SHA-1 (old terminals).
    Sha1,
}

impl SignatureAlgorithm {
    /// The name as TMS shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureAlgorithm::Sha256 => "SHA-256",
            SignatureAlgorithm::Sha1 => "SHA-1",
        }
    }
}

/// The POS OPI mode (R3, R14, R20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PosOpiMode {
    /// `Default ITS`: the POS connects to the terminal on the LAN (channels 0 and 1).
    DefaultIts,
    /// `TCP FLAT-OUTGOING`: the terminal dials out to the TAS after a kick.
    #[default]
    TcpFlatOutgoing,
}

impl PosOpiMode {
    /// The name as the terminal menu shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            PosOpiMode::DefaultIts => "DEFAULT ITS",
            PosOpiMode::TcpFlatOutgoing => "TCP FLAT-OUTGOING",
        }
    }
}

/// The TMS parameter set. The same type holds the values **as TMS holds them** and the values
/// **installed on the terminal**; they differ until a hardware installation loads them (R7, R24).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Parameters {
    /// General parameter `CCV Cloud Connection` (R3, R6).
    pub cloud_connection: bool,
    /// MQT parameter `MQT` (R6).
    pub mqt: bool,
    /// MQT parameter `MqtServiceEnable` (shown only when MQT is on).
    pub mqt_service_enable: bool,
    /// MQT parameter `MqtServiceUseSsl` (shown only when MQT is on).
    pub mqt_service_use_ssl: bool,
    /// MQT parameter `MgtSubscription` (`NL-CAT`); the topic prefix of the MQTT session.
    pub mgt_subscription: String,
    /// General parameter `SSL/TLS Signature Algorithm`.
    pub signature_algorithm: SignatureAlgorithm,
    /// MQT service address and port.
    pub mqt_service: HostPort,
    /// The TAS the terminal dials after a kick.
    pub tas: HostPort,
    /// The software version TMS wants the terminal to run; loaded at hardware installation (R18).
    pub software_target: Option<SoftwareVersion>,
}

impl Default for Parameters {
    /// A fully migrated terminal's parameters (R6).
    fn default() -> Self {
        Parameters {
            cloud_connection: true,
            mqt: true,
            mqt_service_enable: true,
            mqt_service_use_ssl: true,
            mgt_subscription: DEFAULT_MGT_SUBSCRIPTION.to_owned(),
            signature_algorithm: SignatureAlgorithm::Sha256,
            mqt_service: HostPort::new(DEFAULT_MQT_HOST, DEFAULT_MQT_PORT),
            tas: HostPort::new(DEFAULT_TAS_HOST, DEFAULT_TAS_PORT),
            software_target: None,
        }
    }
}

impl Parameters {
    /// The parameters of a terminal that only knows Cloud Connect 1.0: Cloud Connection on, MQT off.
    pub fn cloud_connect_1() -> Parameters {
        Parameters {
            mqt: false,
            mqt_service_enable: false,
            mqt_service_use_ssl: false,
            ..Parameters::default()
        }
    }

    /// The parameters of a terminal with neither Cloud Connection nor MQT.
    pub fn legacy() -> Parameters {
        Parameters { cloud_connection: false, ..Parameters::cloud_connect_1() }
    }
}

/// The terminal's network settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSettings {
    /// The terminal's IP address on the shop LAN (what a 1.0 POS configures, R2).
    pub ip: String,
    /// Whether DNS servers are configured. Without DNS, dialling a host name fails with `dns` (R23).
    pub dns_configured: bool,
    /// Whether the shop firewall lets outgoing TCP 443 through (R11, R23): the route to the MQT service, which
    /// is on 443 in the field (R6); a test set-up that moves the service to another port keeps this meaning.
    pub outgoing_443_allowed: bool,
    /// The TMS address the hardware installation uses when the installer presses OK (R17).
    pub tms_address: String,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        NetworkSettings {
            ip: "192.168.1.50".to_owned(),
            dns_configured: true,
            outgoing_443_allowed: true,
            tms_address: "10.10.10.10".to_owned(),
        }
    }
}

/// Who the terminal is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Identity {
    /// The TMS ID (digits; also the OPI `TerminalID` and the MQTT client ID).
    pub tms_id: String,
    /// Merchant name shown in the installation pop-up and on receipts.
    pub merchant_name: String,
    /// Merchant number shown in the installation pop-up.
    pub merchant_number: String,
    /// The merchant's town, printed on receipts.
    pub merchant_city: String,
    /// The TMS that manages this terminal.
    pub managing_tms: ManagingTms,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            tms_id: "12345678".to_owned(),
            merchant_name: "DEMO WINKEL".to_owned(),
            merchant_number: "000123456".to_owned(),
            merchant_city: "ARNHEM".to_owned(),
            managing_tms: ManagingTms::GrundmasterNL,
        }
    }
}

/// The day (business period) state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayState {
    /// The day is open: transactions allowed.
    #[default]
    Open,
    /// Closed by a POS `ReconciliationWithClosure`; the next transaction reopens it.
    ClosedByPos,
    /// Closed by hand in the manager menu (R15); only reopened by hand (R19).
    ClosedByHand,
}

impl DayState {
    /// `true` when the day is open.
    pub fn is_open(self) -> bool {
        self == DayState::Open
    }
}

/// Behaviour knobs: time-outs and the payment simulation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// A menu with no key press for this long goes back to the idle screen, nothing saved.
    pub menu_timeout_ms: u64,
    /// How long a payment waits for a card.
    pub card_timeout_ms: u64,
    /// How long a payment waits for the PIN.
    pub pin_timeout_ms: u64,
    /// When no card event arrives within this time, the terminal simulates a card and the magic
    /// amounts table decides (`None`: wait for a card event until the card time-out).
    pub auto_card_after_ms: Option<u64>,
    /// How long the terminal waits for a `DeviceResponse`.
    pub device_timeout_ms: u64,
    /// How long a TAS dial may take, all attempts together, before the core gives up.
    pub dial_timeout_ms: u64,
    /// Attempts to reach the TAS for one kick (the dial time-out may end them earlier).
    pub dial_attempts: u32,
    /// First wait after a failed TAS dial or MQTT connection; it doubles with every failure, ±20 % jitter.
    pub backoff_initial_ms: u64,
    /// Longest wait between two TAS dials or two MQTT connection attempts.
    pub backoff_max_ms: u64,
    /// Whether the magic amounts table is applied.
    pub magic_amounts: bool,
    /// Whether the POS must `Login` before card requests.
    pub require_login: bool,
    /// The currency the terminal accepts.
    pub currency: String,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            menu_timeout_ms: 60_000,
            card_timeout_ms: 30_000,
            pin_timeout_ms: 30_000,
            auto_card_after_ms: Some(200),
            device_timeout_ms: 10_000,
            dial_timeout_ms: 10_000,
            dial_attempts: 30,
            backoff_initial_ms: 200,
            backoff_max_ms: 10_000,
            magic_amounts: true,
            require_login: false,
            currency: "EUR".to_owned(),
        }
    }
}

/// Everything that configures one terminal.
///
/// `Default` is a fully migrated terminal: software 14.0.11.01, Cloud Connection on, MQT installed,
/// `TCP FLAT-OUTGOING`, trigger port 4105, day open, activated, TAS `TAS.JFORCE.BE:5555`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TerminalConfig {
    /// Who the terminal is.
    pub identity: Identity,
    /// The software version running on the terminal.
    pub software: SoftwareVersion,
    /// The parameters as TMS holds them.
    pub tms: Parameters,
    /// The parameters installed on the terminal (loaded by the last hardware installation).
    pub installed: Parameters,
    /// The POS OPI mode set on the terminal.
    pub pos_opi_mode: PosOpiMode,
    /// The OPI trigger port for the local kick; 0 = off (R21).
    pub trigger_port: u16,
    /// Network settings.
    pub network: NetworkSettings,
    /// The day state.
    pub day: DayState,
    /// Whether the terminal is activated (R19).
    pub activated: bool,
    /// Behaviour knobs.
    pub profile: Profile,
}

impl Default for TerminalConfig {
    fn default() -> Self {
        TerminalConfig {
            identity: Identity::default(),
            software: SoftwareVersion::min_cloud_kick(),
            tms: Parameters::default(),
            installed: Parameters::default(),
            pos_opi_mode: PosOpiMode::TcpFlatOutgoing,
            trigger_port: DEFAULT_TRIGGER_PORT,
            network: NetworkSettings::default(),
            day: DayState::Open,
            activated: true,
            profile: Profile::default(),
        }
    }
}

/// How far a terminal's migration has come, read off its configuration (the seed's migration walkthrough).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationState {
    /// Cloud Connect 2.0: MQT installed and enabled, software ≥ 14.0.11.01, `TCP FLAT-OUTGOING` (R5, R6, R12).
    #[serde(rename = "cloud_connect_2")]
    CloudConnect2,
    /// Cloud Connect 1.0 only: Cloud Connection on, `TCP FLAT-OUTGOING`, software ≥ 11.3.02, no MQT (R3).
    #[serde(rename = "cloud_connect_1")]
    CloudConnect1,
    /// TMS holds parameters the terminal has not installed: a hardware installation is due (R7, R14).
    TmsChangedNotInstalled,
    /// None of the above (Default ITS, old software, Cloud Connection off).
    NotMigrated,
}

impl MigrationState {
    /// The name (`cloud_connect_2`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationState::CloudConnect2 => "cloud_connect_2",
            MigrationState::CloudConnect1 => "cloud_connect_1",
            MigrationState::TmsChangedNotInstalled => "tms_changed_not_installed",
            MigrationState::NotMigrated => "not_migrated",
        }
    }

    /// A short label for tables (`2.0`, `1.0`, `TMS changed`, `not migrated`).
    pub fn label(self) -> &'static str {
        match self {
            MigrationState::CloudConnect2 => "2.0",
            MigrationState::CloudConnect1 => "1.0",
            MigrationState::TmsChangedNotInstalled => "TMS changed",
            MigrationState::NotMigrated => "not migrated",
        }
    }
}

impl TerminalConfig {
    /// How far this terminal's migration has come (see [`MigrationState`]).
    pub fn migration_state(&self) -> MigrationState {
        let i = &self.installed;
        let flat = self.pos_opi_mode == PosOpiMode::TcpFlatOutgoing;
        if self.tms != self.installed {
            MigrationState::TmsChangedNotInstalled
        } else if flat
            && i.cloud_connection
            && i.mqt
            && i.mqt_service_enable
            && self.software >= SoftwareVersion::min_cloud_kick()
        {
            MigrationState::CloudConnect2
        } else if flat && i.cloud_connection && self.software >= SoftwareVersion::min_local_kick() {
            MigrationState::CloudConnect1
        } else {
            MigrationState::NotMigrated
        }
    }

    /// A terminal migrated for Cloud Connect 1.0 only (software 11.3.02, MQT off).
    pub fn cloud_connect_1() -> TerminalConfig {
        TerminalConfig {
            software: SoftwareVersion::min_local_kick(),
            tms: Parameters::cloud_connect_1(),
            installed: Parameters::cloud_connect_1(),
            ..TerminalConfig::default()
        }
    }

    /// A terminal not migrated at all: software 11.2, `Default ITS`, no Cloud Connection.
    pub fn legacy() -> TerminalConfig {
        TerminalConfig {
            // Invariant: a constant, valid version text.
            software: SoftwareVersion::parse("11.2.05").expect("constant version is valid"),
            tms: Parameters::legacy(),
            installed: Parameters::legacy(),
            pos_opi_mode: PosOpiMode::DefaultIts,
            ..TerminalConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_states_of_the_built_in_configs() {
        assert_eq!(TerminalConfig::default().migration_state(), MigrationState::CloudConnect2);
        assert_eq!(TerminalConfig::cloud_connect_1().migration_state(), MigrationState::CloudConnect1);
        assert_eq!(TerminalConfig::legacy().migration_state(), MigrationState::NotMigrated);
        for state in [MigrationState::CloudConnect2, MigrationState::TmsChangedNotInstalled] {
            assert_eq!(serde_json::to_value(state).expect("JSON"), state.as_str(), "serde and as_str agree");
        }
        let mut changed = TerminalConfig::cloud_connect_1();
        changed.tms = Parameters::default();
        assert_eq!(changed.migration_state(), MigrationState::TmsChangedNotInstalled);
        let old = TerminalConfig { software: SoftwareVersion::min_local_kick(), ..TerminalConfig::default() };
        assert_eq!(
            old.migration_state(),
            MigrationState::CloudConnect1,
            "MQT installed, software too old for 2.0"
        );
    }

    #[test]
    fn literal_ips_need_no_dns() {
        assert!(HostPort::new("127.0.0.1", 5555).is_literal_ip());
        assert!(HostPort::new("::1", 5555).is_literal_ip());
        assert!(HostPort::new("[::1]", 5555).is_literal_ip());
        assert!(!HostPort::new("TAS.JFORCE.BE", 5555).is_literal_ip());
        assert_eq!(HostPort::new("::1", 5555).to_string(), "[::1]:5555");
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = TerminalConfig::default();
        let json = serde_json::to_string(&c).unwrap();
        let back: TerminalConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        let partial: TerminalConfig = serde_json::from_str(r#"{"trigger_port": 0}"#).unwrap();
        assert_eq!(partial.trigger_port, 0);
        assert!(serde_json::from_str::<TerminalConfig>(r#"{"trigger_prot": 0}"#).is_err());
    }
}
