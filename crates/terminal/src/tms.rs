//! The TMS parameters and the hardware installation: what a TMS sync and an installation do to the
//! terminal's configuration (R7, R14, R17–R19), and the R23 checklist read from it.
//!
//! The configuration itself is the [`Terminal`](crate::Terminal)'s; these functions are handed it.

use crate::config::{DayState, PosOpiMode, SignatureAlgorithm, TerminalConfig};
use crate::reason::DiagnosisReason;
use crate::version::SoftwareVersion;

/// R14: MQT on in TMS forces TCP FLAT-OUTGOING at every TMS sync.
pub(crate) fn enforce_r14(cfg: &mut TerminalConfig) {
    if cfg.tms.mqt {
        cfg.pos_opi_mode = PosOpiMode::TcpFlatOutgoing;
    }
}

/// A software version TMS names that differs from the one running (R18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoftwareChange {
    /// The version running.
    pub(crate) from: SoftwareVersion,
    /// The version TMS wants.
    pub(crate) to: SoftwareVersion,
}

impl SoftwareChange {
    /// Newer: the installation upgrades; older: it is refused (R18).
    pub(crate) fn is_upgrade(&self) -> bool {
        self.to > self.from
    }
}

/// What an installation would do to the software version now, if anything.
pub(crate) fn software_change(cfg: &TerminalConfig) -> Option<SoftwareChange> {
    match &cfg.tms.software_target {
        Some(target) if *target != cfg.software => {
            Some(SoftwareChange { from: cfg.software.clone(), to: target.clone() })
        }
        _ => None,
    }
}

/// The hardware installation itself (R17, R18, R19, R7, R14): the TMS parameters become the
/// installed ones. The MQTT link is the caller's to re-evaluate.
pub(crate) fn install(cfg: &mut TerminalConfig, tms_id: String, tms_ip: String) {
    // R18: a software difference warns; a downgrade is refused.
    if let Some(change) = software_change(cfg)
        && change.is_upgrade()
    {
        cfg.software = change.to;
    }
    cfg.identity.tms_id = tms_id;
    cfg.network.tms_address = tms_ip;
    cfg.installed = cfg.tms.clone();
    enforce_r14(cfg);
    // R19: after installation the terminal must be activated again.
    cfg.activated = false;
}

/// The R23 checklist: every finding, empty when all is well for 2.0. `mqtt_up`: the MQTT link is up.
pub(crate) fn diagnosis(c: &TerminalConfig, mqtt_up: bool) -> Vec<DiagnosisReason> {
    let mut r = Vec::new();
    if !c.tms.cloud_connection {
        r.push(DiagnosisReason::CloudConnectionOffInTms);
    }
    if c.tms != c.installed {
        r.push(DiagnosisReason::HardwareInstallationNeeded);
    }
    if !(c.installed.mqt && c.installed.mqt_service_enable) {
        r.push(DiagnosisReason::MqttNotInstalled);
    } else if !mqtt_up {
        r.push(DiagnosisReason::MqttDown);
    }
    if c.pos_opi_mode != PosOpiMode::TcpFlatOutgoing {
        r.push(DiagnosisReason::NotFlatOutgoing);
    }
    if !c.network.dns_configured {
        r.push(DiagnosisReason::DnsNotConfigured);
    }
    if !c.network.outgoing_443_allowed {
        r.push(DiagnosisReason::Port443Blocked);
    }
    if !c.software.supports_local_kick() {
        r.push(DiagnosisReason::SoftwareTooOldForLocalKick);
    }
    if !c.software.supports_cloud_kick() {
        r.push(DiagnosisReason::SoftwareTooOldForCloudKick);
    }
    if c.installed.signature_algorithm != SignatureAlgorithm::Sha256 {
        r.push(DiagnosisReason::SignatureNotSha256);
    }
    if c.trigger_port == 0 {
        r.push(DiagnosisReason::TriggerPortDisabled);
    }
    if !c.activated {
        r.push(DiagnosisReason::NotActivated);
    }
    if c.day == DayState::ClosedByHand {
        r.push(DiagnosisReason::DayClosed);
    }
    r
}
