//! `doctor`: the installer's troubleshooting checklist (R23) for one terminal of a sandbox, each check with what
//! was seen and the fix, in English and with the terminal's Dutch menu path where the fix is on the terminal.
//!
//! The terminal's own findings come from its core (`Status::diagnosis`, `DiagnosisReason` names); the payment
//! API's side (whitelist, the `managementSystemId` the POS sends) from its store.

use ccv_terminal::DiagnosisReason;
use serde::Serialize;

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// Its name (`cloud_connection`, `hardware_installation`, ...).
    pub name: &'static str,
    /// The rule of the installer's guide.
    pub rule: &'static str,
    /// Whether it passed.
    pub pass: bool,
    /// What was seen.
    pub seen: String,
    /// What to do when it fails.
    pub fix: &'static str,
    /// Where on the terminal, as the menus read (Dutch), when the fix is done there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub menu: Option<&'static str>,
}

/// The report for one terminal.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The terminal.
    pub tms_id: String,
    /// Every check passed.
    pub ok: bool,
    /// The checks, in the order of the guide's checklist.
    pub checks: Vec<Check>,
}

/// What the checks look at.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The terminal's TMS ID.
    pub tms_id: &'a str,
    /// The terminal's own findings.
    pub diagnosis: &'a [DiagnosisReason],
    /// Its MQTT link (`up`, `down`, `off`, `connecting`) and why it is not up.
    pub mqtt: (&'a str, Option<&'a str>),
    /// Its merchant and whether the TMS ID is on that merchant's whitelist; `None`: no merchant known.
    pub whitelist: Option<(&'a str, bool)>,
    /// The `managementSystemId` of the latest payments on the terminal, newest first.
    pub recent_systems: &'a [String],
}

const SERVICE_MENU: &str = "START MENU → SERVICE MENU → (servicewachtwoord)";

/// Runs the checklist.
pub fn run(f: &Facts<'_>) -> Report {
    let has = |reason: DiagnosisReason| f.diagnosis.contains(&reason);
    let mut checks = Vec::new();
    let mut push = |name, rule, pass: bool, seen: String, fix, menu| {
        checks.push(Check { name, rule, pass, seen, fix, menu });
    };
    let on_off = |bad: bool, yes: &str, no: &str| if bad { no.to_owned() } else { yes.to_owned() };
    push(
        "cloud_connection",
        "R23/R6",
        !has(DiagnosisReason::CloudConnectionOffInTms),
        on_off(
            has(DiagnosisReason::CloudConnectionOffInTms),
            "CCV Cloud Connection is on in TMS",
            "CCV Cloud Connection is off in TMS",
        ),
        "enable CCV Cloud Connection (and MQT) in TMS, then do a hardware installation on the terminal",
        None,
    );
    let not_installed =
        has(DiagnosisReason::HardwareInstallationNeeded) || has(DiagnosisReason::MqttNotInstalled);
    push(
        "hardware_installation",
        "R23/R7",
        !not_installed,
        on_off(
            not_installed,
            "the parameters in TMS are installed, MQT included",
            "TMS holds parameters the terminal has not installed (contact TMS is not enough)",
        ),
        "close the day, then do a hardware installation; activate the terminal again afterwards (R15-R19)",
        Some(
            "START MENU → SERVICE MENU → (servicewachtwoord) → FUNCTIES → BETAALTERMINAL → HARDWARE INSTALLATIE → TERM.INSTALLATIE",
        ),
    );
    push(
        "flat_outgoing",
        "R23/R20",
        !has(DiagnosisReason::NotFlatOutgoing),
        on_off(
            has(DiagnosisReason::NotFlatOutgoing),
            "POS OPI mode is TCP FLAT-OUTGOING",
            "POS OPI mode is not TCP FLAT-OUTGOING",
        ),
        "set the POS mode to TCP FLAT-OUTGOING and confirm with JA (the option shows only with Cloud Connect on in TMS)",
        Some(
            "START MENU → SERVICE MENU → (servicewachtwoord) → TERMINAL → CONFIGUREREN → OPI INSTELLINGEN → POS MODE → TCP FLAT-OUTGOING → JA",
        ),
    );
    push(
        "dns",
        "R23",
        !has(DiagnosisReason::DnsNotConfigured),
        on_off(has(DiagnosisReason::DnsNotConfigured), "DNS is configured", "no DNS servers are configured"),
        "configure DNS servers in the terminal's network settings (the MQT service and the TAS are host names)",
        Some(SERVICE_MENU),
    );
    match f.whitelist {
        Some((merchant, on)) => push(
            "whitelist",
            "R23/R10",
            on,
            if on {
                format!("{} is on the whitelist of merchant {merchant}", f.tms_id)
            } else {
                format!("{} is not on the whitelist of merchant {merchant}", f.tms_id)
            },
            "have the TMS ID put on the merchant's VPOS whitelist (here: ccv-emu vpos whitelist add MERCHANT TMSID)",
            None,
        ),
        None => push(
            "whitelist",
            "R23/R10",
            false,
            "no merchant of the payment API is known for this terminal".to_owned(),
            "have the TMS ID put on the merchant's VPOS whitelist",
            None,
        ),
    }
    // The POS configuration is what its latest payment named (newest first); older ones are history.
    let local = f.recent_systems.iter().filter(|s| *s == "08900000002").count();
    let latest_local = f.recent_systems.first().is_some_and(|s| s == "08900000002");
    push(
        "pos_config",
        "R23/R8",
        !latest_local,
        match (f.recent_systems.len(), local, latest_local) {
            (0, _, _) => "no payments on this terminal yet".to_owned(),
            (1, 0, _) => "the latest payment names GrundmasterNL/GrundmasterBE".to_owned(),
            (n, 0, _) => format!("the latest {n} payments name GrundmasterNL/GrundmasterBE"),
            (n, l, true) => {
                format!("the latest payment names 08900000002 (Cloud Connect 1.0), {l} of the latest {n}")
            }
            (n, l, false) => format!(
                "the latest payment names GrundmasterNL/GrundmasterBE ({l} of the latest {n} named 08900000002 before)"
            ),
        },
        "set the POS configuration's managementSystemId to GrundmasterNL or GrundmasterBE (whichever TMS manages the terminal); no IP or port needed",
        None,
    );
    push(
        "port_443",
        "R23/R11",
        !has(DiagnosisReason::Port443Blocked),
        on_off(
            has(DiagnosisReason::Port443Blocked),
            "outgoing TCP 443 is open",
            "the firewall blocks outgoing TCP 443",
        ),
        "let the terminal out on TCP 443 to the MQT service address",
        None,
    );
    let old = has(DiagnosisReason::SoftwareTooOldForCloudKick);
    push(
        "software",
        "R5",
        !old,
        on_off(old, "software 14.0.11.01 or newer", "software older than 14.0.11.01"),
        "load software 14.0.11.01 or newer through TMS and a hardware installation (never downgrade, R18)",
        None,
    );
    let (state, why) = f.mqtt;
    push(
        "mqtt_link",
        "R23/R5",
        state == "up",
        match why {
            Some(why) if state != "up" => format!("the MQTT link is {state} ({why})"),
            _ => format!("the MQTT link is {state}"),
        },
        "fix the failing checks above; the link comes up by itself once MQT is installed and the network lets it out",
        None,
    );
    let ok = checks.iter().all(|c| c.pass);
    Report { tms_id: f.tms_id.to_owned(), ok, checks }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccv_terminal::WireReason;

    fn facts<'a>(diagnosis: &'a [DiagnosisReason], recent: &'a [String]) -> Facts<'a> {
        Facts {
            tms_id: "29000001",
            diagnosis,
            mqtt: ("up", None),
            whitelist: Some(("sandbox", true)),
            recent_systems: recent,
        }
    }

    fn failing(r: &Report) -> Vec<&'static str> {
        r.checks.iter().filter(|c| !c.pass).map(|c| c.name).collect()
    }

    #[test]
    fn each_finding_fails_its_own_check() {
        let healthy = run(&facts(&[], &[]));
        assert!(healthy.ok, "{healthy:?}");
        assert_eq!(healthy.checks.len(), 9);
        for (reason, check) in [
            ("cloud_connection_off_in_tms", "cloud_connection"),
            ("hardware_installation_needed", "hardware_installation"),
            ("mqtt_not_installed", "hardware_installation"),
            ("not_flat_outgoing", "flat_outgoing"),
            ("dns_not_configured", "dns"),
            ("port_443_blocked", "port_443"),
            ("software_too_old_for_cloud_kick", "software"),
        ] {
            let d = [DiagnosisReason::from_name(reason).expect("a diagnosis reason")];
            assert_eq!(failing(&run(&facts(&d, &[]))), vec![check], "{reason}");
        }
        // The latest payment is the POS configuration; older 1.0 payments are history.
        let switched = ["GrundmasterNL".to_owned(), "08900000002".to_owned()];
        let r = run(&facts(&[], &switched));
        assert!(failing(&r).is_empty(), "{r:?}");
        assert!(r.checks.iter().any(|c| c.seen.contains("1 of the latest 2 named 08900000002 before")));
        let local = ["08900000002".to_owned(), "GrundmasterNL".to_owned()];
        let r = run(&facts(&[], &local));
        assert_eq!(failing(&r), vec!["pos_config"]);
        assert!(r.checks.iter().any(|c| c.seen.contains("1 of the latest 2")));
        let off = Facts { whitelist: Some(("sandbox", false)), ..facts(&[], &[]) };
        assert_eq!(failing(&run(&off)), vec!["whitelist"]);
        let down = Facts { mqtt: ("down", Some("tls")), ..facts(&[], &[]) };
        let r = run(&down);
        assert_eq!(failing(&r), vec!["mqtt_link"]);
        assert!(r.checks.iter().any(|c| c.seen == "the MQTT link is down (tls)"));
    }
}
