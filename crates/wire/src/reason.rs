//! Typed reasons as they appear on the wire: why a kick was refused (the local kick's `409` body and the cloud
//! kick's `kick-refused` event), why the MQTT link is down, why a TAS dial failed, and what a diagnosis finds
//! (R23).
//!
//! Every reason serialises as its `snake_case` name and carries, through [`WireReason`], the seed rule(s) it
//! comes from and a message that says what was wrong and what to do. The names are derived by `strum` and
//! `serde` from one declaration per variant; a unit test checks that both agree.

use serde::{Deserialize, Serialize};
use strum::{EnumMessage, EnumProperty, EnumString, IntoStaticStr, VariantArray};

/// What every reason enum offers: its wire name, the rule it comes from and its message.
///
/// Implemented for every enum of this module (and any enum with the same `strum` derives).
pub trait WireReason:
    Copy + Sized + 'static + VariantArray + EnumMessage + EnumProperty + Into<&'static str> + std::str::FromStr
{
    /// The snake_case name, as serialised.
    fn as_str(self) -> &'static str {
        self.into()
    }

    /// The seed rule(s) this reason comes from (`-` when none).
    fn rule(self) -> &'static str {
        self.get_str("rule").unwrap_or("-")
    }

    /// What it means and what to do.
    fn message(self) -> &'static str {
        self.get_message().unwrap_or("")
    }

    /// Parses the snake_case name.
    fn from_name(name: &str) -> Option<Self> {
        name.parse().ok()
    }

    /// Every value.
    fn all() -> &'static [Self] {
        Self::VARIANTS
    }
}

impl<T> WireReason for T where
    T: Copy
        + Sized
        + 'static
        + VariantArray
        + EnumMessage
        + EnumProperty
        + Into<&'static str>
        + std::str::FromStr
{
}

/// Why the terminal refused a kick. The IO shell answers a local kick with HTTP 409 and this
/// reason, a cloud kick with a `kick-refused` event carrying it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
    EnumMessage,
    EnumProperty,
    strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum KickRefusal {
    /// The terminal is switched off.
    #[strum(message = "the terminal is switched off; switch it on")]
    PoweredOff,
    /// The OPI trigger port is 0 (R21).
    #[strum(
        message = "the OPI trigger port is 0, so local kicks are off; set the trigger port (default 4105) in SERVICE MENU > TERMINAL > CONFIGUREREN > OPI INSTELLINGEN, or use the cloud kick",
        props(rule = "R21")
    )]
    TriggerPortDisabled,
    /// The kick arrived on another port than the trigger port (R1).
    #[strum(
        message = "the kick arrived on a port other than the terminal's OPI trigger port; kick the trigger port (default 4105)",
        props(rule = "R1")
    )]
    WrongPort,
    /// `CCV Cloud Connection` is not enabled in the installed parameters (R3).
    #[strum(
        message = "CCV Cloud Connection is not enabled on the terminal; enable it in TMS and do a hardware installation",
        props(rule = "R3")
    )]
    CloudConnectionDisabled,
    /// The software is older than 11.3.02 (R3) or, for a cloud kick, 14.0.11.01 (R5).
    #[strum(
        message = "the terminal software is too old (local kick needs 11.3.02, cloud kick 14.0.11.01); upgrade it via TMS and a hardware installation",
        props(rule = "R3/R5")
    )]
    SoftwareTooOld,
    /// The POS OPI mode is not TCP FLAT-OUTGOING (R3, R20).
    #[strum(
        message = "the POS OPI mode is not TCP FLAT-OUTGOING; set it in SERVICE MENU > TERMINAL > CONFIGUREREN > OPI INSTELLINGEN > POS MODE",
        props(rule = "R3/R20")
    )]
    NotFlatOutgoing,
    /// A transaction, a TAS dial or an installation is in progress.
    #[strum(
        message = "the terminal is busy with a transaction, a TAS connection attempt or an installation; retry when it is idle"
    )]
    Busy,
    /// The day was closed by hand (R19).
    #[strum(
        message = "the day was closed by hand; reopen it in MANAGER MENU > FUNCTIES > BETAALTERMINAL > DAG OPENEN",
        props(rule = "R19")
    )]
    DayClosed,
    /// The terminal is not activated (R19).
    #[strum(
        message = "the terminal is not activated since its last hardware installation; activate it in MANAGER MENU > FUNCTIES > BETAALTERMINAL > ACTIVEREN",
        props(rule = "R19")
    )]
    NotActivated,
    /// MQT is not installed on the terminal (R5, R7).
    #[strum(
        message = "MQT is not installed on the terminal; enable MQT in TMS and do a hardware installation (contacting TMS is not enough)",
        props(rule = "R5/R7")
    )]
    MqttNotInstalled,
    /// The MQTT link is not up, so the terminal is not 2.0-ready (R12, R13).
    #[strum(
        message = "the terminal's MQTT connection is not up, so it cannot take cloud kicks; run a diagnosis",
        props(rule = "R12/R13")
    )]
    NotCloudReady,
    /// The cloud kick's `expiresAt` has passed.
    #[strum(message = "the cloud kick expired before the terminal received it; send a new kick")]
    KickExpired,
    /// A cloud kick with this id was already handled (QoS 1 redelivery).
    #[strum(message = "a cloud kick with this kickId was already handled; each kick needs a unique kickId")]
    DuplicateKick,
}

/// Why the MQTT link is down or not wanted.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
    EnumMessage,
    EnumProperty,
    strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum MqttDownReason {
    /// The terminal is off.
    #[strum(message = "the terminal is switched off")]
    PoweredOff,
    /// MQT (or MqtServiceEnable) is not installed on the terminal (R7).
    #[strum(
        message = "MQT parameters are not installed on the terminal; enable them in TMS and do a hardware installation",
        props(rule = "R6/R7")
    )]
    NotInstalled,
    /// MqtServiceUseSsl is off (R6).
    #[strum(
        message = "MqtServiceUseSsl is off; enable it in TMS and do a hardware installation",
        props(rule = "R6")
    )]
    SslDisabled,
    /// CCV Cloud Connection is off (R6).
    #[strum(
        message = "CCV Cloud Connection is off; enable it in TMS and do a hardware installation",
        props(rule = "R6")
    )]
    CloudConnectionDisabled,
    /// The software is older than 14.0.11.01 (R5).
    #[strum(
        message = "the software is older than 14.0.11.01; upgrade via TMS and a hardware installation",
        props(rule = "R5")
    )]
    SoftwareTooOld,
    /// DNS is not configured, the service address cannot be resolved (R23).
    #[strum(
        message = "DNS is not configured on the terminal; configure DNS servers in the network settings",
        props(rule = "R23")
    )]
    Dns,
    /// Outgoing 443 is blocked (R11, R23).
    #[serde(rename = "port_443_blocked")]
    #[strum(
        serialize = "port_443_blocked",
        message = "outgoing TCP 443 is blocked by the firewall; allow it to the MQT service address",
        props(rule = "R11/R23")
    )]
    Port443Blocked,
    /// The terminal's SSL/TLS Signature Algorithm is not SHA-256: it cannot verify the MQT service's SHA-256
    /// certificate chain, so the TLS hand-shake fails (R6).
    #[strum(
        message = "the terminal's SSL/TLS Signature Algorithm is not SHA-256, so the TLS hand-shake with the MQT service fails; set SHA-256 in TMS and do a hardware installation",
        props(rule = "R6")
    )]
    SignatureNotSha256,
    /// The TLS hand-shake failed (certificate, SHA-256, ALPN).
    #[strum(
        message = "the TLS hand-shake with the MQT service failed; check certificates and the SHA-256 signature algorithm",
        props(rule = "R6")
    )]
    Tls,
    /// A certificate in the TLS hand-shake is outside its validity: the MQT service's has expired or is not yet
    /// valid, or the service refused the terminal's own for that reason (TLS alert `certificate_expired`, which
    /// TLS sends for both).
    #[strum(
        message = "a certificate in the TLS hand-shake with the MQT service has expired or is not yet valid (the service's, or the terminal's own); check the terminal's date and time, then renew the certificate",
        props(rule = "R6")
    )]
    CertificateExpired,
    /// Nothing answers at the service address (TCP refused, unreachable or timed out).
    #[strum(
        message = "nothing answers at the MQT service address and port; check the address, the port and that the network lets the terminal out",
        props(rule = "R5/R11")
    )]
    Unreachable,
    /// The endpoint refused the MQTT connection.
    #[strum(
        message = "the MQT service refused the connection; check the terminal's certificate and policy",
        props(rule = "R5")
    )]
    Refused,
    /// The link was up and went down.
    #[strum(message = "the MQTT connection dropped; the terminal reconnects", props(rule = "R5"))]
    Disconnected,
}

/// Why a TAS dial failed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
    EnumMessage,
    EnumProperty,
    strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum TasDialFailure {
    /// DNS is not configured and the TAS is a host name (R23).
    #[strum(
        message = "DNS is not configured on the terminal and the TAS is a host name; configure DNS or use an IP address",
        props(rule = "R23")
    )]
    Dns,
    /// The TAS refused the TCP connection.
    #[strum(
        message = "the TAS refused the connection; check the TAS address and that it runs",
        props(rule = "R1")
    )]
    Refused,
    /// The dial did not complete in time.
    #[strum(message = "the TAS did not answer in time; check the network and firewall", props(rule = "R1"))]
    TimedOut,
    /// The hand-shake with the TAS failed.
    #[strum(message = "the TAS did not accept the terminal's hand-shake", props(rule = "R1"))]
    Handshake,
    /// The TLS hand-shake with the TAS failed (mutual TLS on the TAS link): its certificate is not trusted or
    /// names another host, or it refused the terminal's certificate.
    #[strum(
        message = "the TLS hand-shake with the TAS failed; check that the terminal and the TAS use the same PKI and the TAS address is a name on its certificate",
        props(rule = "R1")
    )]
    Tls,
    /// Any other network error.
    #[strum(message = "the network failed while dialling the TAS", props(rule = "R1"))]
    Network,
}

/// One finding of the R23 troubleshooting checklist, as the terminal can see it.
///
/// The two checklist items that live outside the terminal (TMS ID on the VPOS whitelist, POS
/// configuration naming `GrundmasterNL`/`GrundmasterBE` rather than `08900000002`) are checked by
/// the payment API, not here.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
    EnumMessage,
    EnumProperty,
    strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum DiagnosisReason {
    /// Cloud Connection is off in TMS.
    #[strum(message = "CCV Cloud Connection is off in TMS; enable it there", props(rule = "R23/R6"))]
    CloudConnectionOffInTms,
    /// TMS parameters differ from the installed ones: a hardware installation is needed (R7).
    #[strum(
        message = "the parameters in TMS differ from those installed; do a hardware installation (contact TMS is not enough)",
        props(rule = "R23/R7")
    )]
    HardwareInstallationNeeded,
    /// MQT is not installed, so there is no MQTT connection.
    #[strum(
        message = "MQT is not installed on the terminal, so there is no MQTT connection; enable MQT in TMS and do a hardware installation",
        props(rule = "R23/R5")
    )]
    MqttNotInstalled,
    /// The MQTT link is wanted but not up.
    #[strum(message = "the MQTT connection is not up; see the link reason", props(rule = "R23/R5"))]
    MqttDown,
    /// POS OPI mode is not FLAT-OUTGOING.
    #[strum(message = "the POS OPI mode is not TCP FLAT-OUTGOING", props(rule = "R23/R20"))]
    NotFlatOutgoing,
    /// DNS is not configured.
    #[strum(message = "DNS is not configured on the terminal", props(rule = "R23"))]
    DnsNotConfigured,
    /// Outgoing 443 is blocked.
    #[serde(rename = "port_443_blocked")]
    #[strum(
        serialize = "port_443_blocked",
        message = "the firewall blocks outgoing TCP 443",
        props(rule = "R23/R11")
    )]
    Port443Blocked,
    /// Software too old for the local kick.
    #[strum(message = "the software is older than 11.3.02", props(rule = "R3"))]
    SoftwareTooOldForLocalKick,
    /// Software too old for the cloud kick.
    #[strum(message = "the software is older than 14.0.11.01", props(rule = "R5"))]
    SoftwareTooOldForCloudKick,
    /// The signature algorithm is not SHA-256.
    #[strum(message = "SSL/TLS Signature Algorithm is not SHA-256", props(rule = "R6"))]
    SignatureNotSha256,
    /// The trigger port is 0: only cloud kicks arrive (R21; a finding, not always a fault).
    #[strum(
        message = "the OPI trigger port is 0: local kicks are refused, only cloud kicks work",
        props(rule = "R21")
    )]
    TriggerPortDisabled,
    /// Not activated since the last installation.
    #[strum(message = "the terminal is not activated", props(rule = "R19"))]
    NotActivated,
    /// The day is closed by hand.
    #[strum(message = "the day was closed by hand; reopen it", props(rule = "R19"))]
    DayClosed,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<R: WireReason + Serialize + std::fmt::Display + std::fmt::Debug + PartialEq>() {
        for r in R::all() {
            let json = serde_json::to_string(r).expect("a reason serialises");
            assert_eq!(json, format!("\"{}\"", r.as_str()), "serde and strum agree on {r:?}");
            assert_eq!(r.to_string(), r.as_str());
            assert_eq!(R::from_name(r.as_str()).as_ref(), Some(r));
            assert!(!r.message().is_empty(), "{r:?} has a message");
            assert!(!r.rule().is_empty());
        }
        assert!(R::from_name("no_such_reason").is_none());
    }

    #[test]
    fn reasons_serialise_snake_case_and_round_trip() {
        check::<KickRefusal>();
        check::<MqttDownReason>();
        check::<TasDialFailure>();
        check::<DiagnosisReason>();
    }

    #[test]
    fn names_and_rules_are_the_documented_ones() {
        assert_eq!(MqttDownReason::Port443Blocked.as_str(), "port_443_blocked");
        assert_eq!(DiagnosisReason::Port443Blocked.as_str(), "port_443_blocked");
        assert_eq!(TasDialFailure::TimedOut.as_str(), "timed_out");
        assert_eq!(KickRefusal::TriggerPortDisabled.rule(), "R21");
        assert_eq!(KickRefusal::Busy.rule(), "-");
        assert_eq!(KickRefusal::all().len(), 13);
    }
}
