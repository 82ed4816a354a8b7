//! One test (or more) per seed rule R1–R24 that concerns the terminal, named after the rule.
#![allow(clippy::field_reassign_with_default)] // "a default terminal, then one change" reads best here

mod common;

use ccv_terminal::{
    CloudKick, DayState, DiagnosisReason, Event, HostPort, Input, KickRefusal, KickReply, LocalKick,
    MqttDownReason, MqttEvent, MqttLink, Output, Parameters, PosOpiMode, SoftwareVersion, TasDialFailure,
    TasEvent, TasLink, TerminalConfig, TmsChange,
};
use common::Harness;

fn local_kick(port: u16) -> Input {
    Input::LocalKick(LocalKick {
        source: "192.168.1.20:50000".into(),
        port,
        reference: Some("ref-1".into()),
        tas: None,
    })
}

fn cloud_kick(h: &Harness, id: &str) -> Input {
    Input::CloudKick(CloudKick {
        kick_id: id.into(),
        reference: Some("ref-2".into()),
        expires_at: h.now.plus_millis(30_000),
        tas: None,
    })
}

fn kick_reply(outs: &[Output]) -> KickReply {
    let replies: Vec<&KickReply> = outs
        .iter()
        .filter_map(|o| match o {
            Output::KickReply(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 1, "exactly one kick reply: {outs:?}");
    replies[0].clone()
}

fn refused(outs: &[Output]) -> KickRefusal {
    match kick_reply(outs) {
        KickReply::Refused { reason } => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn cloud_refusal(outs: &[Output]) -> Option<KickRefusal> {
    outs.iter().find_map(|o| match o {
        Output::Publish(Event::KickRefused { reason, .. }) => Some(*reason),
        _ => None,
    })
}

fn dials(outs: &[Output]) -> Option<HostPort> {
    outs.iter().find_map(|o| match o {
        Output::DialTas(d) => Some(d.tas.clone()),
        _ => None,
    })
}

fn opens_mqtt(outs: &[Output]) -> bool {
    outs.iter().any(|o| matches!(o, Output::OpenMqtt(_)))
}

fn mqtt_up(h: &mut Harness) {
    h.feed(Input::Mqtt(MqttEvent::Connected));
    assert_eq!(*h.t.mqtt_link(), MqttLink::Up);
}

fn close_day(h: &mut Harness) {
    h.keys("MENU 1 99999 OK 1 1 1 OK OK STOP STOP STOP STOP");
    assert!(!h.t.config().day.is_open());
    assert!(h.t.screen().lines.iter().any(|l| l.contains("CCV")), "back at idle: {}", h.screen_text());
}

fn install(h: &mut Harness, tms_id: &str) -> Vec<Output> {
    let mut outs = h.keys(&format!("MENU 2 PASSWORD OK 1 1 1 1 {tms_id} OK {tms_id} OK OK OK"));
    // Pop-ups (software note, merchant data) until the idle screen.
    for _ in 0..3 {
        if h.screen_text().starts_with("CCV") {
            break;
        }
        outs.extend(h.keys("OK"));
    }
    outs
}

fn activate_and_open(h: &mut Harness) {
    h.keys("MENU 1 99999 OK 1 1 3 OK 2 OK STOP STOP STOP STOP");
    assert!(h.t.config().activated);
    assert_eq!(h.t.config().day, DayState::Open);
}

// ----- Cloud Connect 1.0 -----

#[test]
fn r01_local_kick_on_trigger_port_dials_default_tas() {
    let mut h = Harness::default_terminal();
    let outs = h.feed(local_kick(4105));
    assert!(matches!(kick_reply(&outs), KickReply::Accepted { .. }));
    assert_eq!(dials(&outs), Some(HostPort::new("TAS.JFORCE.BE", 5555)));
    assert!(matches!(h.t.tas_link(), TasLink::Dialing { .. }));
    let outs = h.feed(Input::Tas(TasEvent::Connected));
    assert!(outs.iter().any(|o| matches!(o, Output::Publish(Event::TasConnected { .. }))));
    assert!(matches!(h.t.tas_link(), TasLink::Connected { .. }));
}

#[test]
fn r01_local_kick_on_another_port_is_refused() {
    let mut h = Harness::default_terminal();
    assert_eq!(refused(&h.feed(local_kick(4106))), KickRefusal::WrongPort);
}

#[test]
fn r01_kick_may_name_another_tas() {
    let mut h = Harness::default_terminal();
    let outs = h.feed(Input::LocalKick(LocalKick {
        source: "pos".into(),
        port: 4105,
        reference: None,
        tas: Some(HostPort::new("127.0.0.1", 15555)),
    }));
    assert_eq!(dials(&outs), Some(HostPort::new("127.0.0.1", 15555)));
}

#[test]
fn r02_terminal_exposes_ip_and_trigger_port_for_the_pos_config() {
    let c = TerminalConfig::default();
    assert_eq!(c.trigger_port, 4105);
    assert!(!c.network.ip.is_empty());
}

#[test]
fn r03_local_kick_needs_cloud_connection() {
    let mut c = TerminalConfig::cloud_connect_1();
    c.installed.cloud_connection = false;
    let mut h = Harness::new(c);
    assert_eq!(refused(&h.feed(local_kick(4105))), KickRefusal::CloudConnectionDisabled);
}

#[test]
fn r03_local_kick_needs_software_11_3_02() {
    let mut c = TerminalConfig::cloud_connect_1();
    c.software = SoftwareVersion::parse("11.3.01").unwrap();
    let mut h = Harness::new(c.clone());
    assert_eq!(refused(&h.feed(local_kick(4105))), KickRefusal::SoftwareTooOld);
    c.software = SoftwareVersion::parse("11.3.02").unwrap();
    let mut h = Harness::new(c);
    assert!(matches!(kick_reply(&h.feed(local_kick(4105))), KickReply::Accepted { .. }));
}

#[test]
fn r03_local_kick_needs_flat_outgoing() {
    let mut c = TerminalConfig::cloud_connect_1();
    c.pos_opi_mode = PosOpiMode::DefaultIts;
    let mut h = Harness::new(c);
    assert_eq!(refused(&h.feed(local_kick(4105))), KickRefusal::NotFlatOutgoing);
}

// ----- Cloud Connect 2.0 -----

#[test]
fn r05_mqtt_opens_only_with_software_14_0_11_01() {
    let mut c = TerminalConfig::default();
    c.software = SoftwareVersion::parse("14.0.10.99").unwrap();
    let h = Harness::new(c);
    assert!(!opens_mqtt(&h.outputs));
    assert_eq!(*h.t.mqtt_link(), MqttLink::Down { reason: MqttDownReason::SoftwareTooOld, retrying: false });
    let h = Harness::default_terminal();
    assert!(opens_mqtt(&h.outputs));
    assert_eq!(*h.t.mqtt_link(), MqttLink::Connecting);
}

#[test]
fn r06_mqtt_session_follows_the_mqt_parameters() {
    let h = Harness::default_terminal();
    let s = h
        .outputs
        .iter()
        .find_map(|o| match o {
            Output::OpenMqtt(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(s.host, "a15qvcxk7p3bae-ats.iot.eu-central-1.amazonaws.com");
    assert_eq!(s.port, 443);
    assert_eq!(s.subscription, "NL-CAT");
    assert_eq!(s.command_topic, "ccv/NL-CAT/12345678/cmd");
    assert_eq!(s.event_topic, "ccv/NL-CAT/12345678/evt");
    assert_eq!(s.alpn.as_deref(), Some("x-amzn-mqtt-ca"));
    assert!(s.tls && s.require_sha256);
    assert_eq!(s.client_id, "12345678");
}

#[test]
fn r06_mqtt_needs_ssl_and_service_enable() {
    let mut c = TerminalConfig::default();
    c.installed.mqt_service_use_ssl = false;
    let h = Harness::new(c);
    assert!(!opens_mqtt(&h.outputs));
    assert_eq!(*h.t.mqtt_link(), MqttLink::Down { reason: MqttDownReason::SslDisabled, retrying: false });
    let mut c = TerminalConfig::default();
    c.installed.mqt_service_enable = false;
    let h = Harness::new(c);
    assert!(!opens_mqtt(&h.outputs));
}

#[test]
fn r07_contact_tms_does_not_bring_mqtt_up() {
    let mut c = TerminalConfig::cloud_connect_1();
    c.software = SoftwareVersion::min_cloud_kick();
    let mut h = Harness::new(c);
    for change in [TmsChange::Mqt(true), TmsChange::MqtServiceEnable(true), TmsChange::MqtServiceUseSsl(true)]
    {
        h.feed(Input::TmsChange(change));
    }
    let outs = h.feed(Input::ContactTms);
    assert!(!opens_mqtt(&outs));
    assert!(!h.t.config().installed.mqt, "contact TMS installs nothing");
    assert!(h.t.diagnosis().contains(&DiagnosisReason::HardwareInstallationNeeded));
}

#[test]
fn r07_hardware_installation_brings_mqtt_up() {
    let mut c = TerminalConfig::cloud_connect_1();
    c.software = SoftwareVersion::min_cloud_kick();
    c.tms = Parameters::default();
    let mut h = Harness::new(c);
    assert!(!opens_mqtt(&h.outputs));
    close_day(&mut h);
    let outs = install(&mut h, "12345678");
    assert!(opens_mqtt(&outs), "installation loads MQT and opens the session");
    assert!(h.t.config().installed.mqt);
}

#[test]
fn r08_identity_names_the_managing_tms() {
    let c = TerminalConfig::default();
    assert_eq!(c.identity.managing_tms.as_str(), "GrundmasterNL");
}

#[test]
fn r09_cloud_kick_makes_the_terminal_dial_the_tas() {
    let mut h = Harness::default_terminal();
    mqtt_up(&mut h);
    let k = cloud_kick(&h, "k1");
    let outs = h.feed(k);
    assert!(outs.iter().any(|o| matches!(o, Output::Publish(Event::KickAccepted { .. }))));
    assert_eq!(dials(&outs), Some(HostPort::new("TAS.JFORCE.BE", 5555)));
}

#[test]
fn r09_duplicate_and_expired_cloud_kicks_are_refused() {
    let mut h = Harness::default_terminal();
    mqtt_up(&mut h);
    let k = cloud_kick(&h, "k1");
    h.feed(k.clone());
    assert_eq!(cloud_refusal(&h.feed(k)), Some(KickRefusal::DuplicateKick));
    let expired =
        Input::CloudKick(CloudKick { kick_id: "k2".into(), reference: None, expires_at: h.now, tas: None });
    assert_eq!(cloud_refusal(&h.feed(expired)), Some(KickRefusal::KickExpired));
}

#[test]
fn r11_blocked_443_keeps_mqtt_down_with_a_reason() {
    let mut c = TerminalConfig::default();
    c.network.outgoing_443_allowed = false;
    let h = Harness::new(c);
    assert!(!opens_mqtt(&h.outputs));
    assert_eq!(*h.t.mqtt_link(), MqttLink::Down { reason: MqttDownReason::Port443Blocked, retrying: false });
    assert!(h.t.diagnosis().contains(&DiagnosisReason::Port443Blocked));
}

#[test]
fn r12_cloud_ready_terminal_still_takes_local_kicks() {
    let mut h = Harness::default_terminal();
    mqtt_up(&mut h);
    assert!(h.t.is_cloud_ready());
    assert!(matches!(kick_reply(&h.feed(local_kick(4105))), KickReply::Accepted { .. }));
}

#[test]
fn r12_terminal_without_mqtt_link_refuses_cloud_kicks() {
    let mut h = Harness::default_terminal();
    let k = cloud_kick(&h, "k1");
    assert_eq!(cloud_refusal(&h.feed(k)), Some(KickRefusal::NotCloudReady));
}

#[test]
fn r13_unmigrated_terminal_does_not_take_cloud_kicks() {
    let mut h = Harness::new(TerminalConfig::cloud_connect_1());
    let k = cloud_kick(&h, "k1");
    let outs = h.feed(k);
    assert_eq!(cloud_refusal(&outs), Some(KickRefusal::MqttNotInstalled));
    assert_eq!(dials(&outs), None);
}

#[test]
fn r14_mqt_on_forces_flat_outgoing_at_every_tms_sync() {
    let mut c = TerminalConfig::default();
    c.pos_opi_mode = PosOpiMode::DefaultIts;
    let mut h = Harness::new(c);
    h.feed(Input::ContactTms);
    assert_eq!(h.t.config().pos_opi_mode, PosOpiMode::TcpFlatOutgoing);
    // Set Default ITS by hand: it stays until the next sync, which forces FLAT-OUTGOING again.
    h.keys("MENU 2 PASSWORD OK 2 1 1 1 1 OK OK STOP STOP STOP STOP STOP STOP");
    assert_eq!(h.t.config().pos_opi_mode, PosOpiMode::DefaultIts);
    h.feed(Input::ContactTms);
    assert_eq!(h.t.config().pos_opi_mode, PosOpiMode::TcpFlatOutgoing);
}

#[test]
fn r14_default_its_comes_back_only_with_mqt_off() {
    let mut h = Harness::default_terminal();
    h.feed(Input::TmsChange(TmsChange::Mqt(false)));
    h.keys("MENU 2 PASSWORD OK 2 1 1 1 1 OK OK STOP STOP STOP STOP STOP STOP");
    h.feed(Input::ContactTms);
    assert_eq!(h.t.config().pos_opi_mode, PosOpiMode::DefaultIts);
}

// ----- Installer procedures -----

#[test]
fn r15_day_close_via_manager_menu_with_password_99999() {
    let mut h = Harness::default_terminal();
    h.keys("MENU 1 99999 OK 1 1 1");
    assert!(h.screen_text().contains("DAGAFSLUITING?"), "{}", h.screen_text());
    let outs = h.keys("OK");
    assert_eq!(h.t.config().day, DayState::ClosedByHand);
    assert!(outs.iter().any(|o| matches!(o, Output::Publish(Event::DayClosed { by_hand: true }))));
    assert!(h.screen_text().contains("DAG AFGESLOTEN"));
}

#[test]
fn r15_wrong_manager_password_backs_out() {
    let mut h = Harness::default_terminal();
    h.keys("MENU 1 12345 OK");
    assert!(h.screen_text().contains("WACHTWOORD ONJUIST"));
    h.keys("OK");
    assert!(h.screen_text().starts_with("START MENU"), "{}", h.screen_text());
    h.keys("STOP");
    assert!(h.screen_text().starts_with("CCV"));
    assert_eq!(h.t.config().day, DayState::Open);
}

#[test]
fn r16_installation_refused_while_the_day_is_open() {
    let mut h = Harness::default_terminal();
    h.keys("MENU 2 PASSWORD OK 1 1 1 1");
    assert!(h.screen_text().contains("DAG NIET AFGESLOTEN"), "{}", h.screen_text());
    assert!(h.t.config().activated, "nothing changed");
}

#[test]
fn r17_full_hardware_installation_dialogue() {
    let mut h = Harness::new(TerminalConfig::cloud_connect_1());
    close_day(&mut h);
    h.keys("MENU 2 PASSWORD OK 1 1 1 1");
    assert!(h.screen_text().starts_with("TMS ID"), "{}", h.screen_text());
    h.keys("87654321 OK");
    assert!(h.screen_text().starts_with("TMS ID NOGMAALS"));
    h.keys("87654321 OK");
    assert!(h.screen_text().starts_with("TMS IP ADRES | 10.10.10.10"), "{}", h.screen_text());
    h.keys("OK");
    assert!(h.screen_text().contains("JA = OK"));
    let outs = h.keys("OK");
    assert!(h.screen_text().starts_with("CONTROLEER GEGEVENS"), "{}", h.screen_text());
    assert!(h.screen_text().contains("DEMO WINKEL"));
    assert!(h.screen_text().contains("TMS ID 87654321"));
    assert!(outs.iter().any(|o| matches!(o, Output::Publish(Event::InstallationComplete { .. }))));
    h.keys("OK");
    assert!(h.screen_text().contains("TERMINAL NIET GEACTIVEERD"));
    assert_eq!(h.t.config().identity.tms_id, "87654321");
}

#[test]
fn r17_tms_id_mismatch_is_an_error() {
    let mut h = Harness::default_terminal();
    close_day(&mut h);
    h.keys("MENU 2 PASSWORD OK 1 1 1 1 111 OK 112 OK");
    assert!(h.screen_text().contains("TMS ID ONGELIJK"));
    h.keys("OK");
    assert!(h.screen_text().starts_with("TMS ID |"), "asks again: {}", h.screen_text());
    assert!(h.t.config().activated, "nothing installed");
}

#[test]
fn r17_tms_ip_can_be_typed() {
    let mut h = Harness::default_terminal();
    close_day(&mut h);
    h.keys("MENU 2 PASSWORD OK 1 1 1 1 5 OK 5 OK 10.0.0.9 OK OK OK");
    assert_eq!(h.t.config().network.tms_address, "10.0.0.9");
    let mut h = Harness::default_terminal();
    close_day(&mut h);
    h.keys("MENU 2 PASSWORD OK 1 1 1 1 5 OK 5 OK 10.0.0 OK");
    assert!(h.screen_text().contains("ONGELDIG IP ADRES"));
}

#[test]
fn r17_stop_cancels_installation_without_saving() {
    let mut h = Harness::default_terminal();
    close_day(&mut h);
    h.keys("MENU 2 PASSWORD OK 1 1 1 1 5 OK 5 OK OK STOP");
    assert!(h.screen_text().contains("INSTALLATIE AFGEBROKEN"));
    assert!(h.t.config().activated);
    assert_eq!(h.t.config().identity.tms_id, "12345678");
}

#[test]
fn r18_software_difference_warns_and_upgrades() {
    let mut h = Harness::new(TerminalConfig::cloud_connect_1());
    h.feed(Input::TmsChange(TmsChange::SoftwareTarget(Some(SoftwareVersion::min_cloud_kick()))));
    close_day(&mut h);
    h.keys("MENU 2 PASSWORD OK 1 1 1 1 12345678 OK 12345678 OK OK OK");
    assert!(h.screen_text().contains("SOFTWARE VERSCHIL"), "{}", h.screen_text());
    assert!(h.screen_text().contains("WORDT BIJGEWERKT"));
    assert_eq!(*h.t.software(), SoftwareVersion::min_cloud_kick());
}

#[test]
fn r18_downgrade_is_refused() {
    let mut h = Harness::default_terminal();
    h.feed(Input::TmsChange(TmsChange::SoftwareTarget(Some(SoftwareVersion::min_local_kick()))));
    close_day(&mut h);
    h.keys("MENU 2 PASSWORD OK 1 1 1 1 12345678 OK 12345678 OK OK OK");
    assert!(h.screen_text().contains("DOWNGRADE GEWEIGERD"), "{}", h.screen_text());
    assert_eq!(*h.t.software(), SoftwareVersion::min_cloud_kick());
}

#[test]
fn r19_installation_requires_reactivation() {
    let mut h = Harness::default_terminal();
    close_day(&mut h);
    install(&mut h, "12345678");
    assert!(!h.t.config().activated);
    h.keys("MENU 1 99999 OK 1 1 2 OK STOP STOP STOP STOP");
    assert_eq!(refused(&h.feed(local_kick(4105))), KickRefusal::NotActivated);
    activate_and_open(&mut h);
    assert!(matches!(kick_reply(&h.feed(local_kick(4105))), KickReply::Accepted { .. }));
}

#[test]
fn r19_day_closed_by_hand_is_reopened_by_hand() {
    let mut h = Harness::default_terminal();
    close_day(&mut h);
    assert_eq!(refused(&h.feed(local_kick(4105))), KickRefusal::DayClosed);
    h.feed(Input::ContactTms);
    h.advance(3_600_000);
    assert_eq!(h.t.config().day, DayState::ClosedByHand, "nothing but a hand reopens it");
    h.keys("MENU 1 99999 OK 1 1 2 OK");
    assert_eq!(h.t.config().day, DayState::Open);
}

#[test]
fn r20_flat_outgoing_hidden_without_cloud_connect_in_tms() {
    let mut h = Harness::new(TerminalConfig::legacy());
    h.keys("MENU 2 PASSWORD OK 2 1 1 1");
    assert_eq!(h.screen().lines, vec!["POS MODE", "1 DEFAULT ITS"]);
    h.keys("2");
    assert_eq!(h.screen().lines, vec!["POS MODE", "1 DEFAULT ITS"], "no hidden item behind key 2");
    h.feed(Input::TmsChange(TmsChange::CloudConnection(true)));
    h.keys("STOP 1");
    assert_eq!(h.screen().lines, vec!["POS MODE", "1 DEFAULT ITS", "2 TCP FLAT-OUTGOING"]);
}

#[test]
fn r20_ja_ok_saves_the_pos_mode_and_stop_does_not() {
    let mut c = TerminalConfig::legacy();
    c.tms.cloud_connection = true;
    let mut h = Harness::new(c);
    h.keys("MENU 2 PASSWORD OK 2 1 1 1 2 STOP");
    assert_eq!(h.t.config().pos_opi_mode, PosOpiMode::DefaultIts);
    h.keys("2 OK");
    assert_eq!(h.t.config().pos_opi_mode, PosOpiMode::TcpFlatOutgoing);
    assert!(h.screen_text().contains("OPGESLAGEN"));
}

#[test]
fn r21_trigger_port_zero_refuses_every_local_kick() {
    let mut c = TerminalConfig::default();
    c.trigger_port = 0;
    let mut h = Harness::new(c);
    for port in [0, 4105, 80] {
        assert_eq!(refused(&h.feed(local_kick(port))), KickRefusal::TriggerPortDisabled);
    }
}

#[test]
fn r21_trigger_port_set_in_menu_and_cloud_kicks_still_work() {
    let mut h = Harness::default_terminal();
    h.keys("MENU 2 PASSWORD OK 2 1 1 2 0 OK OK OK STOP STOP STOP STOP STOP");
    assert_eq!(h.t.config().trigger_port, 0);
    assert_eq!(refused(&h.feed(local_kick(4105))), KickRefusal::TriggerPortDisabled);
    mqtt_up(&mut h);
    let k = cloud_kick(&h, "k9");
    assert!(dials(&h.feed(k)).is_some(), "R21: payments still run over 2.0");
}

#[test]
fn r22_test_transaction_after_migration_is_approved() {
    let mut h = Harness::new(TerminalConfig::cloud_connect_1());
    h.feed(Input::TmsChange(TmsChange::All(Parameters::default())));
    h.feed(Input::TmsChange(TmsChange::SoftwareTarget(Some(SoftwareVersion::min_cloud_kick()))));
    close_day(&mut h);
    install(&mut h, "12345678");
    activate_and_open(&mut h);
    mqtt_up(&mut h);
    let k = cloud_kick(&h, "first");
    h.feed(k);
    h.feed(Input::Tas(TasEvent::Connected));
    let (_, resp) = h.pay(1000);
    assert!(resp.overall_result.is_success());
}

#[test]
fn r23_every_checklist_item_has_a_typed_reason() {
    let mut c = TerminalConfig::legacy();
    c.network.dns_configured = false;
    c.network.outgoing_443_allowed = false;
    c.tms.mqt = true;
    let h = Harness::new(c);
    let d = h.t.diagnosis();
    for r in [
        DiagnosisReason::CloudConnectionOffInTms,
        DiagnosisReason::HardwareInstallationNeeded,
        DiagnosisReason::MqttNotInstalled,
        DiagnosisReason::NotFlatOutgoing,
        DiagnosisReason::DnsNotConfigured,
        DiagnosisReason::Port443Blocked,
        DiagnosisReason::SoftwareTooOldForLocalKick,
    ] {
        assert!(d.contains(&r), "{r} missing from {d:?}");
    }
    assert!(Harness::default_terminal().t.diagnosis().contains(&DiagnosisReason::MqttDown));
    let mut h = Harness::default_terminal();
    mqtt_up(&mut h);
    assert!(h.t.diagnosis().is_empty(), "{:?}", h.t.diagnosis());
}

#[test]
fn r23_without_dns_a_host_name_fails_with_dns_and_an_ip_works() {
    let mut c = TerminalConfig::default();
    c.network.dns_configured = false;
    let mut h = Harness::new(c.clone());
    assert_eq!(*h.t.mqtt_link(), MqttLink::Down { reason: MqttDownReason::Dns, retrying: false });
    let outs = h.feed(local_kick(4105));
    assert_eq!(dials(&outs), None);
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Publish(Event::TasDialFailed { reason: TasDialFailure::Dns, .. })))
    );
    assert_eq!(*h.t.tas_link(), TasLink::Idle { last_failure: Some(TasDialFailure::Dns) });
    c.installed.tas = HostPort::new("127.0.0.1", 5555);
    let mut h = Harness::new(c);
    assert!(dials(&h.feed(local_kick(4105))).is_some());
}

#[test]
fn r23_diagnosis_menu_lists_the_findings() {
    let mut c = TerminalConfig::default();
    c.network.dns_configured = false;
    let mut h = Harness::new(c);
    h.keys("MENU 2 PASSWORD OK 3");
    assert!(h.screen_text().contains("DNS_NOT_CONFIGURED"), "{}", h.screen_text());
}

#[test]
fn r24_tms_parameters_reach_the_terminal_only_at_installation() {
    let mut h = Harness::default_terminal();
    h.feed(Input::TmsChange(TmsChange::Tas(HostPort::new("10.1.1.1", 5555))));
    assert_eq!(h.t.config().installed.tas, HostPort::new("TAS.JFORCE.BE", 5555));
    close_day(&mut h);
    install(&mut h, "12345678");
    assert_eq!(h.t.config().installed.tas, HostPort::new("10.1.1.1", 5555));
}

// ----- Keypad behaviour, links, power -----

#[test]
fn menu_times_out_to_idle_with_nothing_saved() {
    let mut h = Harness::default_terminal();
    h.keys("MENU 2 PASSWORD OK 2 1 1 2 0");
    h.advance(61_000);
    assert!(h.screen_text().starts_with("CCV"));
    assert_eq!(h.t.config().trigger_port, 4105);
}

#[test]
fn busy_terminal_refuses_kicks() {
    let mut h = Harness::default_terminal();
    h.feed(local_kick(4105));
    assert_eq!(refused(&h.feed(local_kick(4105))), KickRefusal::Busy, "still dialling");
    h.feed(Input::Tas(TasEvent::Connected));
    h.send_card(ccv_opi::CardRequestType::CardPayment, Some(100));
    assert_eq!(refused(&h.feed(local_kick(4105))), KickRefusal::Busy, "in a transaction");
}

#[test]
fn dial_timeout_gives_up_with_a_reason() {
    let mut h = Harness::default_terminal();
    h.feed(local_kick(4105));
    let outs = h.advance(10_000);
    assert!(outs.contains(&Output::CloseTas));
    assert_eq!(*h.t.tas_link(), TasLink::Idle { last_failure: Some(TasDialFailure::TimedOut) });
}

#[test]
fn power_off_closes_links_and_refuses_kicks() {
    let mut h = Harness::default_terminal();
    mqtt_up(&mut h);
    let outs = h.feed(Input::PowerOff);
    assert!(outs.contains(&Output::CloseMqtt));
    assert_eq!(refused(&h.feed(local_kick(4105))), KickRefusal::PoweredOff);
    let outs = h.feed(Input::PowerOn);
    assert!(opens_mqtt(&outs));
}

#[test]
fn mqtt_failures_are_reported_and_retried() {
    let mut h = Harness::default_terminal();
    h.feed(Input::Mqtt(MqttEvent::ConnectFailed(MqttDownReason::Tls)));
    assert_eq!(*h.t.mqtt_link(), MqttLink::Down { reason: MqttDownReason::Tls, retrying: true });
    mqtt_up(&mut h);
    h.feed(Input::Mqtt(MqttEvent::Disconnected));
    assert_eq!(*h.t.mqtt_link(), MqttLink::Down { reason: MqttDownReason::Disconnected, retrying: true });
}

#[test]
fn service_password_changes_daily_and_wrong_one_is_refused() {
    let mut h = Harness::default_terminal();
    let today = h.t.service_password(h.now);
    let tomorrow = h.t.service_password(h.now.plus_millis(86_400_000));
    assert_ne!(today, tomorrow);
    h.keys(&format!("MENU 2 {tomorrow} OK"));
    assert!(h.screen_text().contains("WACHTWOORD ONJUIST"));
}
