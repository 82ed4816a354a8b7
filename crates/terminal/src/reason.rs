//! Typed reasons: why a kick was refused, why a link is down, and what a diagnosis finds (R23).
//!
//! Every reason serialises in `snake_case` and has [`message`](KickRefusal::message) text that says
//! what was wrong and what to do.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! reason_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = ($wire:literal, $rule:literal, $msg:literal), )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $wire)] $variant, )+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The snake_case name (as serialised).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire,)+ }
            }

            /// The seed rule(s) this reason comes from.
            pub fn rule(self) -> &'static str {
                match self { $($name::$variant => $rule,)+ }
            }

            /// What it means and what to do.
            pub fn message(self) -> &'static str {
                match self { $($name::$variant => $msg,)+ }
            }

            /// Parses the snake_case name.
            pub fn from_name(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|r| r.as_str() == s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

reason_enum! {
    /// Why the terminal refused a kick. The IO shell answers a local kick with HTTP 409 and this
    /// reason, a cloud kick with a `kick-refused` event carrying it.
    pub enum KickRefusal {
        /// The terminal is switched off.
        PoweredOff = ("powered_off", "-", "the terminal is switched off; switch it on"),
        /// The OPI trigger port is 0 (R21).
        TriggerPortDisabled = ("trigger_port_disabled", "R21", "the OPI trigger port is 0, so local kicks are off; set the trigger port (default 4105) in SERVICE MENU > TERMINAL > CONFIGUREREN > OPI INSTELLINGEN, or use the cloud kick"),
        /// The kick arrived on another port than the trigger port (R1).
        WrongPort = ("wrong_port", "R1", "the kick arrived on a port other than the terminal's OPI trigger port; kick the trigger port (default 4105)"),
        /// `CCV Cloud Connection` is not enabled in the installed parameters (R3).
        CloudConnectionDisabled = ("cloud_connection_disabled", "R3", "CCV Cloud Connection is not enabled on the terminal; enable it in TMS and do a hardware installation"),
        /// The software is older than 11.3.02 (R3) or, for a cloud kick, 14.0.11.01 (R5).
        SoftwareTooOld = ("software_too_old", "R3/R5", "the terminal software is too old (local kick needs 11.3.02, cloud kick 14.0.11.01); upgrade it via TMS and a hardware installation"),
        /// The POS OPI mode is not TCP FLAT-OUTGOING (R3, R20).
        NotFlatOutgoing = ("not_flat_outgoing", "R3/R20", "the POS OPI mode is not TCP FLAT-OUTGOING; set it in SERVICE MENU > TERMINAL > CONFIGUREREN > OPI INSTELLINGEN > POS MODE"),
        /// A transaction, a TAS dial or an installation is in progress.
        Busy = ("busy", "-", "the terminal is busy with a transaction, a TAS connection attempt or an installation; retry when it is idle"),
        /// The day was closed by hand (R19).
        DayClosed = ("day_closed", "R19", "the day was closed by hand; reopen it in MANAGER MENU > FUNCTIES > BETAALTERMINAL > DAG OPENEN"),
        /// The terminal is not activated (R19).
        NotActivated = ("not_activated", "R19", "the terminal is not activated since its last hardware installation; activate it in MANAGER MENU > FUNCTIES > BETAALTERMINAL > ACTIVEREN"),
        /// MQT is not installed on the terminal (R5, R7).
        MqttNotInstalled = ("mqtt_not_installed", "R5/R7", "MQT is not installed on the terminal; enable MQT in TMS and do a hardware installation (contacting TMS is not enough)"),
        /// The MQTT link is not up, so the terminal is not 2.0-ready (R12, R13).
        NotCloudReady = ("not_cloud_ready", "R12/R13", "the terminal's MQTT connection is not up, so it cannot take cloud kicks; run a diagnosis"),
        /// The cloud kick's `expiresAt` has passed.
        KickExpired = ("kick_expired", "-", "the cloud kick expired before the terminal received it; send a new kick"),
        /// A cloud kick with this id was already handled (QoS 1 redelivery).
        DuplicateKick = ("duplicate_kick", "-", "a cloud kick with this kickId was already handled; each kick needs a unique kickId"),
    }
}

reason_enum! {
    /// Why the MQTT link is down or not wanted.
    pub enum MqttDownReason {
        /// The terminal is off.
        PoweredOff = ("powered_off", "-", "the terminal is switched off"),
        /// MQT (or MqtServiceEnable) is not installed on the terminal (R7).
        NotInstalled = ("not_installed", "R6/R7", "MQT parameters are not installed on the terminal; enable them in TMS and do a hardware installation"),
        /// MqtServiceUseSsl is off (R6).
        SslDisabled = ("ssl_disabled", "R6", "MqtServiceUseSsl is off; enable it in TMS and do a hardware installation"),
        /// CCV Cloud Connection is off (R6).
        CloudConnectionDisabled = ("cloud_connection_disabled", "R6", "CCV Cloud Connection is off; enable it in TMS and do a hardware installation"),
        /// The software is older than 14.0.11.01 (R5).
        SoftwareTooOld = ("software_too_old", "R5", "the software is older than 14.0.11.01; upgrade via TMS and a hardware installation"),
        /// DNS is not configured, the service address cannot be resolved (R23).
        Dns = ("dns", "R23", "DNS is not configured on the terminal; configure DNS servers in the network settings"),
        /// Outgoing 443 is blocked (R11, R23).
        Port443Blocked = ("port_443_blocked", "R11/R23", "outgoing TCP 443 is blocked by the firewall; allow it to the MQT service address"),
        /// The TLS hand-shake failed (certificate, SHA-256, ALPN).
        Tls = ("tls", "R6", "the TLS hand-shake with the MQT service failed; check certificates and the SHA-256 signature algorithm"),
        /// Nothing answers at the service address (TCP refused, unreachable or timed out).
        Unreachable = ("unreachable", "R5/R11", "nothing answers at the MQT service address and port; check the address, the port and that the network lets the terminal out"),
        /// The endpoint refused the MQTT connection.
        Refused = ("refused", "R5", "the MQT service refused the connection; check the terminal's certificate and policy"),
        /// The link was up and went down.
        Disconnected = ("disconnected", "R5", "the MQTT connection dropped; the terminal reconnects"),
    }
}

reason_enum! {
    /// Why a TAS dial failed.
    pub enum TasDialFailure {
        /// DNS is not configured and the TAS is a host name (R23).
        Dns = ("dns", "R23", "DNS is not configured on the terminal and the TAS is a host name; configure DNS or use an IP address"),
        /// The TAS refused the TCP connection.
        Refused = ("refused", "R1", "the TAS refused the connection; check the TAS address and that it runs"),
        /// The dial did not complete in time.
        TimedOut = ("timed_out", "R1", "the TAS did not answer in time; check the network and firewall"),
        /// The hand-shake with the TAS failed.
        Handshake = ("handshake", "R1", "the TAS did not accept the terminal's hand-shake"),
        /// Any other network error.
        Network = ("network", "R1", "the network failed while dialling the TAS"),
    }
}

reason_enum! {
    /// One finding of the R23 troubleshooting checklist, as the terminal can see it.
    ///
    /// The two checklist items that live outside the terminal (TMS ID on the VPOS whitelist, POS
    /// configuration naming `GrundmasterNL`/`GrundmasterBE` rather than `08900000002`) are checked by
    /// the payment API, not here.
    pub enum DiagnosisReason {
        /// Cloud Connection is off in TMS.
        CloudConnectionOffInTms = ("cloud_connection_off_in_tms", "R23/R6", "CCV Cloud Connection is off in TMS; enable it there"),
        /// TMS parameters differ from the installed ones: a hardware installation is needed (R7).
        HardwareInstallationNeeded = ("hardware_installation_needed", "R23/R7", "the parameters in TMS differ from those installed; do a hardware installation (contact TMS is not enough)"),
        /// MQT is not installed, so there is no MQTT connection.
        MqttNotInstalled = ("mqtt_not_installed", "R23/R5", "MQT is not installed on the terminal, so there is no MQTT connection; enable MQT in TMS and do a hardware installation"),
        /// The MQTT link is wanted but not up.
        MqttDown = ("mqtt_down", "R23/R5", "the MQTT connection is not up; see the link reason"),
        /// POS OPI mode is not FLAT-OUTGOING.
        NotFlatOutgoing = ("not_flat_outgoing", "R23/R20", "the POS OPI mode is not TCP FLAT-OUTGOING"),
        /// DNS is not configured.
        DnsNotConfigured = ("dns_not_configured", "R23", "DNS is not configured on the terminal"),
        /// Outgoing 443 is blocked.
        Port443Blocked = ("port_443_blocked", "R23/R11", "the firewall blocks outgoing TCP 443"),
        /// Software too old for the local kick.
        SoftwareTooOldForLocalKick = ("software_too_old_for_local_kick", "R3", "the software is older than 11.3.02"),
        /// Software too old for the cloud kick.
        SoftwareTooOldForCloudKick = ("software_too_old_for_cloud_kick", "R5", "the software is older than 14.0.11.01"),
        /// The signature algorithm is not SHA-256.
        SignatureNotSha256 = ("signature_not_sha256", "R6", "SSL/TLS Signature Algorithm is not SHA-256"),
        /// The trigger port is 0: only cloud kicks arrive (R21; a finding, not always a fault).
        TriggerPortDisabled = ("trigger_port_disabled", "R21", "the OPI trigger port is 0: local kicks are refused, only cloud kicks work"),
        /// Not activated since the last installation.
        NotActivated = ("not_activated", "R19", "the terminal is not activated"),
        /// The day is closed by hand.
        DayClosed = ("day_closed", "R19", "the day was closed by hand; reopen it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_serialise_snake_case_and_round_trip() {
        for r in KickRefusal::ALL {
            let json = serde_json::to_string(r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(KickRefusal::from_name(r.as_str()), Some(*r));
            assert!(!r.message().is_empty());
        }
        for r in MqttDownReason::ALL {
            assert_eq!(serde_json::to_string(r).unwrap(), format!("\"{}\"", r.as_str()));
        }
        for r in DiagnosisReason::ALL {
            assert_eq!(serde_json::to_string(r).unwrap(), format!("\"{}\"", r.as_str()));
        }
        for r in TasDialFailure::ALL {
            assert_eq!(serde_json::to_string(r).unwrap(), format!("\"{}\"", r.as_str()));
        }
    }
}
