//! The configuration loads from TOML as the IO shell reads it: defaults for what is not named,
//! unknown keys refused with a message that names them.

use ccv_terminal::{DayState, HostPort, PosOpiMode, SoftwareVersion, TerminalConfig};

#[test]
fn documented_example_loads() {
    let text = r#"
trigger_port = 0
software = "14.0.11.01"
[network]
dns_configured = false
[installed]
mqt = false
[profile]
auto_card_after_ms = 500
"#;
    let c: TerminalConfig = toml::from_str(text).expect("the example in docs/TERMINAL.md");
    assert_eq!(c.trigger_port, 0);
    assert_eq!(c.software, SoftwareVersion::min_cloud_kick());
    assert!(!c.network.dns_configured);
    assert!(c.network.outgoing_443_allowed, "unnamed fields keep their defaults");
    assert!(!c.installed.mqt);
    assert!(c.installed.cloud_connection);
    assert_eq!(c.profile.auto_card_after_ms, Some(500));
    assert_eq!(c.pos_opi_mode, PosOpiMode::TcpFlatOutgoing);
}

#[test]
fn every_field_round_trips() {
    let mut c = TerminalConfig::legacy();
    c.day = DayState::ClosedByHand;
    c.installed.tas = HostPort::new("127.0.0.1", 15555);
    c.tms.software_target = Some(SoftwareVersion::min_cloud_kick());
    let text = toml::to_string(&c).unwrap();
    let back: TerminalConfig = toml::from_str(&text).unwrap();
    assert_eq!(back, c);
}

#[test]
fn mistakes_are_refused_with_the_field_named() {
    let err = toml::from_str::<TerminalConfig>("trigger_prot = 4105").unwrap_err().to_string();
    assert!(err.contains("trigger_prot"), "{err}");
    let err = toml::from_str::<TerminalConfig>("software = \"14.x\"").unwrap_err().to_string();
    assert!(err.contains("14.x"), "{err}");
    let err = toml::from_str::<TerminalConfig>("pos_opi_mode = \"flat\"").unwrap_err().to_string();
    assert!(err.contains("tcp_flat_outgoing"), "{err}");
}
