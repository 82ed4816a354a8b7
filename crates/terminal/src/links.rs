//! The terminal's links and kicks: the MQTT link (Cloud Connect 2.0), the TAS link
//! (FLAT-OUTGOING), the kick checks (R1, R3, R5, R12, R21) and the kick ids remembered.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::config::{DayState, HostPort, PosOpiMode, TerminalConfig};
use crate::input::{CloudKick, LocalKick, MqttEvent, TasEvent};
use crate::outbox::Outbox;
use crate::output::{DialTas, Event, KickKind, KickReply, MqttSettings, Output};
use crate::reason::WireReason;
use crate::reason::{KickRefusal, MqttDownReason, TasDialFailure};
use crate::time::Timestamp;

/// How many cloud kick ids the terminal remembers to refuse duplicates.
pub const KICK_ID_MEMORY: usize = 256;
/// Longest kick id, reference or host name the terminal keeps; longer ones are cut.
pub const MAX_FIELD_LEN: usize = 256;

/// The state of the MQTT link (Cloud Connect 2.0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MqttLink {
    /// Down. `retrying` is `true` when the session is wanted and the IO shell keeps retrying.
    Down {
        /// Why.
        reason: MqttDownReason,
        /// Whether the IO shell is retrying.
        retrying: bool,
    },
    /// [`Output::OpenMqtt`] was emitted; waiting for the IO shell to report.
    Connecting,
    /// The session is up: the terminal takes cloud kicks.
    Up,
}

/// The state of the TAS link (FLAT-OUTGOING).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TasLink {
    /// Not connected.
    Idle {
        /// Why the last dial failed, if it did.
        last_failure: Option<TasDialFailure>,
    },
    /// [`Output::DialTas`] was emitted; waiting for the IO shell.
    Dialing {
        /// The TAS.
        tas: HostPort,
        /// The kick's reference.
        reference: Option<String>,
        /// When the core gives up.
        deadline: Timestamp,
    },
    /// Connected: the terminal serves OPI on this link.
    Connected {
        /// The TAS.
        tas: HostPort,
        /// The kick's reference.
        reference: Option<String>,
    },
}

/// The TAS link was lost: the caller ends what ran on it, then publishes the loss.
#[must_use = "the loss of the TAS link is published with `TasLost::publish`"]
#[derive(Debug)]
pub(crate) struct TasLost;

impl TasLost {
    /// Publishes `tas-disconnected`.
    pub(crate) fn publish(self, out: &mut Outbox) {
        out.publish(Event::TasDisconnected);
    }
}

/// What the links read of the rest of the terminal for one step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KickContext<'a> {
    pub(crate) now: Timestamp,
    pub(crate) powered: bool,
    pub(crate) cfg: &'a TerminalConfig,
    /// A card transaction or the installation dialogue is in progress (a TAS dial is the links' own).
    pub(crate) busy: bool,
}

/// The MQTT and TAS links and the kick bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct Links {
    mqtt: MqttLink,
    /// The settings of the session asked for with [`Output::OpenMqtt`], while it is wanted.
    mqtt_open: Option<MqttSettings>,
    tas: TasLink,
    kick_ids: VecDeque<String>,
}

impl Links {
    pub(crate) fn new() -> Links {
        Links {
            mqtt: MqttLink::Down { reason: MqttDownReason::NotInstalled, retrying: false },
            mqtt_open: None,
            tas: TasLink::Idle { last_failure: None },
            kick_ids: VecDeque::new(),
        }
    }

    pub(crate) fn mqtt(&self) -> &MqttLink {
        &self.mqtt
    }

    pub(crate) fn is_mqtt_up(&self) -> bool {
        self.mqtt == MqttLink::Up
    }

    pub(crate) fn tas(&self) -> &TasLink {
        &self.tas
    }

    pub(crate) fn is_dialing(&self) -> bool {
        matches!(self.tas, TasLink::Dialing { .. })
    }

    /// When the TAS dial in progress is given up.
    pub(crate) fn deadline(&self) -> Option<Timestamp> {
        match &self.tas {
            TasLink::Dialing { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }

    /// Gives up a TAS dial whose deadline is at or before `now`.
    pub(crate) fn fire_timer(&mut self, now: Timestamp, out: &mut Outbox) {
        if let TasLink::Dialing { deadline, .. } = &self.tas
            && *deadline <= now
        {
            self.tas = TasLink::Idle { last_failure: Some(TasDialFailure::TimedOut) };
            out.emit(Output::CloseTas);
            out.publish(Event::TasDialFailed {
                reason: TasDialFailure::TimedOut,
                message: TasDialFailure::TimedOut.message().to_owned(),
            });
        }
    }

    /// The power goes off: the TAS link closes (the MQTT session is re-evaluated by the caller).
    pub(crate) fn power_off(&mut self, out: &mut Outbox) {
        if !matches!(self.tas, TasLink::Idle { .. }) {
            out.emit(Output::CloseTas);
        }
        self.tas = TasLink::Idle { last_failure: None };
    }

    /// Opens, re-opens or closes the MQTT session to match `wanted`: settings, or why there is none.
    pub(crate) fn set_wanted_mqtt(&mut self, wanted: Result<MqttSettings, MqttDownReason>, out: &mut Outbox) {
        match wanted {
            Ok(settings) => {
                if self.mqtt_open.as_ref() == Some(&settings) {
                    return;
                }
                if self.mqtt_open.is_some() {
                    out.emit(Output::CloseMqtt);
                }
                self.mqtt_open = Some(settings.clone());
                self.mqtt = MqttLink::Connecting;
                out.emit(Output::OpenMqtt(settings));
            }
            Err(reason) => {
                if self.mqtt_open.take().is_some() {
                    out.emit(Output::CloseMqtt);
                }
                let was = std::mem::replace(&mut self.mqtt, MqttLink::Down { reason, retrying: false });
                if was != self.mqtt {
                    out.publish(Event::MqttDown { reason });
                }
            }
        }
    }

    pub(crate) fn mqtt_event(&mut self, e: MqttEvent) {
        if self.mqtt_open.is_none() {
            // A late report about a session the core already closed.
            return;
        }
        match e {
            MqttEvent::Connected => self.mqtt = MqttLink::Up,
            MqttEvent::ConnectFailed(reason) => {
                self.mqtt = MqttLink::Down { reason, retrying: true };
            }
            MqttEvent::Disconnected => {
                self.mqtt = MqttLink::Down { reason: MqttDownReason::Disconnected, retrying: true };
            }
        }
    }

    /// A TAS link report; [`TasLost`] when it ends the link.
    pub(crate) fn tas_event(&mut self, e: TasEvent, out: &mut Outbox) -> Option<TasLost> {
        match (e, &self.tas) {
            (TasEvent::Connected, TasLink::Dialing { tas, reference, .. }) => {
                let (tas, reference) = (tas.clone(), reference.clone());
                out.publish(Event::TasConnected { reference: reference.clone(), tas: tas.to_string() });
                self.tas = TasLink::Connected { tas, reference };
            }
            (TasEvent::DialFailed(reason), TasLink::Dialing { .. }) => {
                self.tas = TasLink::Idle { last_failure: Some(reason) };
                out.publish(Event::TasDialFailed { reason, message: reason.message().to_owned() });
            }
            (TasEvent::Disconnected, TasLink::Connected { .. } | TasLink::Dialing { .. }) => {
                self.tas = TasLink::Idle { last_failure: None };
                return Some(TasLost);
            }
            // Stale or out-of-order reports change nothing.
            _ => {}
        }
        None
    }

    /// The checks every kick shares (after the kind-specific ones).
    fn common_kick_checks(&self, cx: &KickContext<'_>) -> Result<(), KickRefusal> {
        let c = cx.cfg;
        if !c.installed.cloud_connection {
            return Err(KickRefusal::CloudConnectionDisabled);
        }
        if !c.software.supports_local_kick() {
            return Err(KickRefusal::SoftwareTooOld);
        }
        if c.pos_opi_mode != PosOpiMode::TcpFlatOutgoing {
            return Err(KickRefusal::NotFlatOutgoing);
        }
        if !c.activated {
            return Err(KickRefusal::NotActivated);
        }
        if c.day == DayState::ClosedByHand {
            return Err(KickRefusal::DayClosed);
        }
        if cx.busy || self.is_dialing() {
            return Err(KickRefusal::Busy);
        }
        Ok(())
    }

    /// Whether a local kick on `port` would be accepted now (R1, R3, R21).
    pub(crate) fn check_local_kick(&self, cx: &KickContext<'_>, port: u16) -> Result<(), KickRefusal> {
        if !cx.powered {
            return Err(KickRefusal::PoweredOff);
        }
        if cx.cfg.trigger_port == 0 {
            return Err(KickRefusal::TriggerPortDisabled);
        }
        if port != cx.cfg.trigger_port {
            return Err(KickRefusal::WrongPort);
        }
        self.common_kick_checks(cx)
    }

    /// Whether a cloud kick would be accepted now, ignoring duplicate and expiry checks (R5, R12).
    pub(crate) fn check_cloud_kick(&self, cx: &KickContext<'_>) -> Result<(), KickRefusal> {
        if !cx.powered {
            return Err(KickRefusal::PoweredOff);
        }
        let p = &cx.cfg.installed;
        if !p.mqt || !p.mqt_service_enable {
            return Err(KickRefusal::MqttNotInstalled);
        }
        if !cx.cfg.software.supports_cloud_kick() {
            return Err(KickRefusal::SoftwareTooOld);
        }
        if self.mqtt != MqttLink::Up {
            return Err(KickRefusal::NotCloudReady);
        }
        self.common_kick_checks(cx)
    }

    pub(crate) fn local_kick(&mut self, cx: &KickContext<'_>, k: LocalKick, out: &mut Outbox) {
        let reference = k.reference.map(|r| cut(&r));
        match self.check_local_kick(cx, k.port) {
            Err(reason) => out.emit(Output::KickReply(KickReply::Refused { reason })),
            Ok(()) => {
                let tas = kick_target(cx.cfg, k.tas);
                out.emit(Output::KickReply(KickReply::Accepted {
                    tas: tas.clone(),
                    reference: reference.clone(),
                }));
                out.publish(Event::KickAccepted {
                    kick: KickKind::Local,
                    kick_id: None,
                    reference: reference.clone(),
                    tas: tas.to_string(),
                });
                self.dial(cx, tas, reference, KickKind::Local, out);
            }
        }
    }

    pub(crate) fn cloud_kick(&mut self, cx: &KickContext<'_>, k: CloudKick, out: &mut Outbox) {
        let kick_id = cut(&k.kick_id);
        let reference = k.reference.map(|r| cut(&r));
        let refuse = |out: &mut Outbox, reason: KickRefusal, kick_id: String| {
            out.publish(Event::KickRefused {
                kick: KickKind::Cloud,
                kick_id: Some(kick_id),
                reason,
                message: reason.message().to_owned(),
            });
        };
        if self.kick_ids.iter().any(|id| *id == kick_id) {
            return refuse(out, KickRefusal::DuplicateKick, kick_id);
        }
        if self.kick_ids.len() == KICK_ID_MEMORY {
            self.kick_ids.pop_front();
        }
        self.kick_ids.push_back(kick_id.clone());
        if k.expires_at <= cx.now {
            return refuse(out, KickRefusal::KickExpired, kick_id);
        }
        if let Err(reason) = self.check_cloud_kick(cx) {
            return refuse(out, reason, kick_id);
        }
        let tas = kick_target(cx.cfg, k.tas);
        out.publish(Event::KickAccepted {
            kick: KickKind::Cloud,
            kick_id: Some(kick_id),
            reference: reference.clone(),
            tas: tas.to_string(),
        });
        self.dial(cx, tas, reference, KickKind::Cloud, out);
    }

    fn dial(
        &mut self,
        cx: &KickContext<'_>,
        tas: HostPort,
        reference: Option<String>,
        kick: KickKind,
        out: &mut Outbox,
    ) {
        if let TasLink::Connected { tas: cur, .. } = &self.tas {
            if *cur == tas {
                out.publish(Event::TasConnected { reference, tas: tas.to_string() });
                return;
            }
            out.emit(Output::CloseTas);
        }
        if !cx.cfg.network.dns_configured && !tas.is_literal_ip() {
            self.tas = TasLink::Idle { last_failure: Some(TasDialFailure::Dns) };
            out.publish(Event::TasDialFailed {
                reason: TasDialFailure::Dns,
                message: TasDialFailure::Dns.message().to_owned(),
            });
            return;
        }
        let deadline = cx.now.plus_millis(cx.cfg.profile.dial_timeout_ms);
        self.tas = TasLink::Dialing { tas: tas.clone(), reference: reference.clone(), deadline };
        let tms_id = cx.cfg.identity.tms_id.clone();
        out.emit(Output::DialTas(DialTas { tas, tms_id, reference, kick }));
    }
}

/// The TAS a kick dials: the one it names, with an empty host or a port 0 taken from the installed TAS.
fn kick_target(cfg: &TerminalConfig, over: Option<HostPort>) -> HostPort {
    let installed = &cfg.installed.tas;
    match over {
        Some(h) => HostPort::new(
            if h.host.is_empty() { installed.host.clone() } else { cut(&h.host) },
            if h.port == 0 { installed.port } else { h.port },
        ),
        None => installed.clone(),
    }
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_FIELD_LEN) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}
