//! The terminal's links and kicks: the MQTT link (Cloud Connect 2.0) and its reconnect back-off, the TAS link
//! (FLAT-OUTGOING) and its dial retries, the kick checks (R1, R3, R5, R12, R21), reading cloud commands, and the
//! answers to the last cloud kicks (so a redelivered kick is answered again, never acted on twice).
//!
//! Every wait here is a timer of the core ([`Links::deadline`]) and every jitter comes from the core's seeded
//! randomness: the IO shell only carries out one dial or one connection attempt at a time and reports back.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::config::{DayState, HostPort, PosOpiMode, TerminalConfig};
use crate::input::{CloudCommand, CloudKick, LocalKick, MqttEvent, TasEvent};
use crate::outbox::Outbox;
use crate::output::{DialTas, Event, KickKind, KickReply, MqttSettings, Output};
use crate::random::{Backoff, SplitMix};
use crate::reason::WireReason;
use crate::reason::{KickRefusal, MqttDownReason, TasDialFailure};
use crate::time::Timestamp;
use ccv_wire::cloud::{self, Command};

/// How many cloud kicks the terminal remembers the answers to (a redelivery gets the same answer again).
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

/// A TAS dial in progress: the request the shell carries out, and when to try again after a failure.
#[derive(Debug, Clone)]
struct Dial {
    request: DialTas,
    attempts: u32,
    retry_at: Option<Timestamp>,
    backoff: Backoff,
}

/// The cloud kick a TAS link belongs to, for the events that follow it on the wire.
#[derive(Debug, Clone)]
struct CloudLink {
    kick_id: String,
    reference: String,
}

/// The MQTT and TAS links and the kick bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct Links {
    mqtt: MqttLink,
    /// The settings of the session asked for with [`Output::OpenMqtt`], while it is wanted.
    mqtt_open: Option<MqttSettings>,
    /// When to open the wanted session again after it failed.
    mqtt_retry_at: Option<Timestamp>,
    mqtt_backoff: Backoff,
    tas: TasLink,
    dial: Option<Dial>,
    /// The answers to the last cloud kicks, oldest first.
    answered: VecDeque<(String, cloud::Event)>,
    /// The cloud kick the current TAS link (or dial) belongs to.
    cloud_link: Option<CloudLink>,
    rng: SplitMix,
}

impl Links {
    /// `seed` drives the jitter of the back-offs.
    pub(crate) fn new(seed: u64) -> Links {
        Links {
            mqtt: MqttLink::Down { reason: MqttDownReason::NotInstalled, retrying: false },
            mqtt_open: None,
            mqtt_retry_at: None,
            mqtt_backoff: Backoff::new(),
            tas: TasLink::Idle { last_failure: None },
            dial: None,
            answered: VecDeque::new(),
            cloud_link: None,
            rng: SplitMix::new(seed ^ 0x6a09_e667_f3bc_c908),
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

    /// The next timer of the links: a dial given up, a dial retried, an MQTT session re-opened.
    pub(crate) fn deadline(&self) -> Option<Timestamp> {
        let give_up = match &self.tas {
            TasLink::Dialing { deadline, .. } => Some(*deadline),
            _ => None,
        };
        let retry = self.dial.as_ref().and_then(|d| d.retry_at);
        [give_up, retry, self.mqtt_retry_at].into_iter().flatten().min()
    }

    /// Fires the timers due at `now`: gives up a TAS dial past its deadline, dials again after a failed attempt,
    /// opens the MQTT session again after a failure.
    pub(crate) fn fire_timer(&mut self, cx: &KickContext<'_>, out: &mut Outbox) {
        let now = cx.now;
        if let TasLink::Dialing { deadline, .. } = &self.tas
            && *deadline <= now
        {
            self.dial = None;
            out.emit(Output::CloseTas);
            self.dial_failed(TasDialFailure::TimedOut, out);
        }
        if let Some(dial) = self.dial.as_mut()
            && dial.retry_at.is_some_and(|at| at <= now)
        {
            dial.retry_at = None;
            if !cx.cfg.network.dns_configured && !dial.request.tas.is_literal_ip() {
                // The network changed while the core waited to dial again (R23).
                self.dial_failed(TasDialFailure::Dns, out);
            } else {
                dial.attempts += 1;
                out.emit(Output::DialTas(dial.request.clone()));
            }
        }
        if self.mqtt_retry_at.is_some_and(|at| at <= now) {
            self.mqtt_retry_at = None;
            if let Some(settings) = &self.mqtt_open {
                self.mqtt = MqttLink::Connecting;
                out.emit(Output::OpenMqtt(settings.clone()));
            }
        }
    }

    /// The dial ends without a link: the TAS link is idle with `reason`, and the failure is published (on the
    /// MQTT event topic too when a cloud kick asked for the dial).
    fn dial_failed(&mut self, reason: TasDialFailure, out: &mut Outbox) {
        self.tas = TasLink::Idle { last_failure: Some(reason) };
        self.dial = None;
        out.publish(Event::TasDialFailed { reason, message: reason.message().to_owned() });
        if let Some(link) = self.cloud_link.take() {
            let event = cloud::Event::tas_dial_failed(link.kick_id, link.reference, reason);
            out.emit(Output::PublishMqtt { event, ack: None });
        }
    }

    /// The TAS link is up: published, on the MQTT event topic too when a cloud kick asked for it.
    fn tas_connected(&self, tas: &HostPort, reference: Option<String>, out: &mut Outbox) {
        out.publish(Event::TasConnected { reference, tas: tas.to_string() });
        if let Some(link) = &self.cloud_link {
            let event = cloud::Event::TasConnected {
                kick_id: link.kick_id.clone(),
                reference: link.reference.clone(),
                host: tas.host.clone(),
                port: tas.port,
            };
            out.emit(Output::PublishMqtt { event, ack: None });
        }
    }

    /// The power goes off: the TAS link closes (the MQTT session is re-evaluated by the caller).
    pub(crate) fn power_off(&mut self, out: &mut Outbox) {
        if !matches!(self.tas, TasLink::Idle { .. }) {
            out.emit(Output::CloseTas);
        }
        self.tas = TasLink::Idle { last_failure: None };
        self.dial = None;
        self.cloud_link = None;
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
                self.mqtt_retry_at = None;
                self.mqtt_backoff = Backoff::new();
                self.mqtt_open = Some(settings.clone());
                self.mqtt = MqttLink::Connecting;
                out.emit(Output::OpenMqtt(settings));
            }
            Err(reason) => {
                if self.mqtt_open.take().is_some() {
                    out.emit(Output::CloseMqtt);
                }
                self.mqtt_retry_at = None;
                let was = std::mem::replace(&mut self.mqtt, MqttLink::Down { reason, retrying: false });
                if was != self.mqtt {
                    out.publish(Event::MqttDown { reason });
                }
            }
        }
    }

    /// An MQTT link report. After a failure the session is opened again when the back-off has passed.
    pub(crate) fn mqtt_event(&mut self, cx: &KickContext<'_>, e: MqttEvent) {
        if self.mqtt_open.is_none() {
            // A late report about a session the core already closed.
            return;
        }
        let reason = match e {
            MqttEvent::Connected => {
                self.mqtt = MqttLink::Up;
                self.mqtt_backoff = Backoff::new();
                self.mqtt_retry_at = None;
                return;
            }
            // A late failure report while the core already waits to open the session again.
            _ if self.mqtt_retry_at.is_some() => return,
            MqttEvent::ConnectFailed(reason) => reason,
            MqttEvent::Disconnected => MqttDownReason::Disconnected,
        };
        self.mqtt = MqttLink::Down { reason, retrying: true };
        let p = &cx.cfg.profile;
        let delay = self.mqtt_backoff.next_delay(p.backoff_initial_ms, p.backoff_max_ms, &mut self.rng);
        self.mqtt_retry_at = Some(cx.now.plus_millis(delay));
    }

    /// A TAS link report; [`TasLost`] when it ends the link. A failed attempt is tried again after the back-off
    /// while attempts are left and the dial's deadline allows.
    pub(crate) fn tas_event(
        &mut self,
        cx: &KickContext<'_>,
        e: TasEvent,
        out: &mut Outbox,
    ) -> Option<TasLost> {
        match (e, &self.tas) {
            (_, TasLink::Dialing { .. }) if self.dial.as_ref().is_some_and(|d| d.retry_at.is_some()) => {
                // A late report about an attempt already counted as failed.
            }
            (TasEvent::Connected, TasLink::Dialing { tas, reference, .. }) => {
                let (tas, reference) = (tas.clone(), reference.clone());
                self.dial = None;
                self.tas_connected(&tas, reference.clone(), out);
                self.tas = TasLink::Connected { tas, reference };
            }
            (TasEvent::DialFailed(reason), TasLink::Dialing { deadline, .. }) => {
                let p = &cx.cfg.profile;
                let deadline = *deadline;
                // A name that does not resolve or a TAS that refuses the hand-shake will not change on a retry.
                let transient =
                    !matches!(reason, TasDialFailure::Dns | TasDialFailure::Handshake | TasDialFailure::Tls);
                let retry = self.dial.as_mut().filter(|_| transient).and_then(|d| {
                    let delay = d.backoff.next_delay(p.backoff_initial_ms, p.backoff_max_ms, &mut self.rng);
                    let at = cx.now.plus_millis(delay);
                    (d.attempts < p.dial_attempts && at < deadline).then_some((d, at))
                });
                match retry {
                    Some((dial, at)) => dial.retry_at = Some(at),
                    None => self.dial_failed(reason, out),
                }
            }
            (TasEvent::Disconnected, TasLink::Connected { .. } | TasLink::Dialing { .. }) => {
                self.tas = TasLink::Idle { last_failure: None };
                self.dial = None;
                self.cloud_link = None;
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
                // The TAS link that follows belongs to this local kick.
                self.cloud_link = None;
                self.dial(cx, tas, reference, KickKind::Local, out);
            }
        }
    }

    /// A message on the command topic: read it, answer it on the event topic, have it acknowledged.
    pub(crate) fn cloud_command(&mut self, cx: &KickContext<'_>, c: CloudCommand, out: &mut Outbox) {
        let ack = Some(c.delivery);
        match cloud::parse_command(&c.payload) {
            Ok(Command::ConnectTas(k)) => {
                let kick = CloudKick {
                    kick_id: k.kick_id,
                    reference: Some(k.reference),
                    expires_at: Timestamp::from_millis(k.expires_at),
                    // A kick may name the host, the port or both; what it leaves out is the installed TAS's.
                    tas: (k.host.is_some() || k.port.is_some())
                        .then(|| HostPort::new(k.host.unwrap_or_default(), k.port.unwrap_or(0))),
                };
                self.cloud_kick(cx, kick, ack, out);
            }
            Ok(other) => {
                // A command type the wire defines but this terminal does not act on.
                let err = cloud::CommandError::UnknownType(format!("{other:?}"));
                out.emit(Output::PublishMqtt { event: cloud::Event::from_command_error(&err), ack });
            }
            Err(err) => out.emit(Output::PublishMqtt { event: cloud::Event::from_command_error(&err), ack }),
        }
    }

    /// A cloud kick (R9): answered once on the event topic (a redelivery gets the same answer again, marked
    /// `duplicate`), refused when expired or when the terminal is not ready, else the TAS is dialled.
    pub(crate) fn cloud_kick(
        &mut self,
        cx: &KickContext<'_>,
        k: CloudKick,
        ack: Option<u64>,
        out: &mut Outbox,
    ) {
        let kick_id = cut(&k.kick_id);
        let reference = k.reference.map(|r| cut(&r));
        if let Some((_, answer)) = self.answered.iter().find(|(id, _)| *id == kick_id) {
            let again = answer.as_duplicate();
            let reason = KickRefusal::DuplicateKick;
            out.publish(Event::KickRefused {
                kick: KickKind::Cloud,
                kick_id: Some(kick_id),
                reason,
                message: reason.message().to_owned(),
            });
            out.emit(Output::PublishMqtt { event: again, ack });
            return;
        }
        let refusal =
            if k.expires_at <= cx.now { Err(KickRefusal::KickExpired) } else { self.check_cloud_kick(cx) };
        let wire_reference = reference.clone().unwrap_or_default();
        let answer = match refusal {
            Err(reason) => {
                out.publish(Event::KickRefused {
                    kick: KickKind::Cloud,
                    kick_id: Some(kick_id.clone()),
                    reason,
                    message: reason.message().to_owned(),
                });
                cloud::Event::kick_refused(kick_id.clone(), wire_reference, reason)
            }
            Ok(()) => {
                let tas = kick_target(cx.cfg, k.tas);
                out.publish(Event::KickAccepted {
                    kick: KickKind::Cloud,
                    kick_id: Some(kick_id.clone()),
                    reference: reference.clone(),
                    tas: tas.to_string(),
                });
                let accepted = cloud::Event::KickAccepted {
                    kick_id: kick_id.clone(),
                    reference: wire_reference.clone(),
                    duplicate: false,
                };
                out.emit(Output::PublishMqtt { event: accepted.clone(), ack });
                self.remember(kick_id.clone(), accepted);
                self.cloud_link = Some(CloudLink { kick_id, reference: wire_reference });
                self.dial(cx, tas, reference, KickKind::Cloud, out);
                return;
            }
        };
        out.emit(Output::PublishMqtt { event: answer.clone(), ack });
        self.remember(kick_id, answer);
    }

    fn remember(&mut self, kick_id: String, answer: cloud::Event) {
        if self.answered.len() == KICK_ID_MEMORY {
            self.answered.pop_front();
        }
        self.answered.push_back((kick_id, answer));
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
                self.tas_connected(&tas, reference, out);
                return;
            }
            out.emit(Output::CloseTas);
        }
        // R23: without DNS a host name cannot be dialled. The one place this rule lives.
        if !cx.cfg.network.dns_configured && !tas.is_literal_ip() {
            self.dial_failed(TasDialFailure::Dns, out);
            return;
        }
        let deadline = cx.now.plus_millis(cx.cfg.profile.dial_timeout_ms);
        self.tas = TasLink::Dialing { tas: tas.clone(), reference: reference.clone(), deadline };
        let tms_id = cx.cfg.identity.tms_id.clone();
        let request = DialTas { tas, tms_id, reference, kick };
        out.emit(Output::DialTas(request.clone()));
        self.dial = Some(Dial { request, attempts: 1, retry_at: None, backoff: Backoff::new() });
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
