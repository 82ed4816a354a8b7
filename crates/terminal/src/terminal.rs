//! The [`Terminal`]: state, the drive loop, kicks, links, TMS sync and power.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::config::{DayState, HostPort, PosOpiMode, TerminalConfig};
use crate::input::{Channel, CloudKick, Input, LocalKick, MqttEvent, TasEvent};
use crate::journal::{DayTotals, Journal, JournalEntry};
use crate::menu::MenuState;
use crate::output::{
    AWS_IOT_ALPN, DialTas, Event, KeptScreen, KickKind, KickReply, MqttSettings, Output, Screen, fingerprint,
};
use crate::payment::Session;
use crate::reason::WireReason;
use crate::reason::{DiagnosisReason, KickRefusal, MqttDownReason, TasDialFailure};
use crate::time::Timestamp;
use crate::version::SoftwareVersion;

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

/// The last approved payment: the only one a reversal may undo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LastApproved {
    pub(crate) stan: u32,
    pub(crate) amount: ccv_opi::Amount,
    /// The card it was paid with (its circuit and masked PAN go on the reversal).
    pub(crate) card: Option<crate::cards::TestCard>,
}

/// A simulated CCV payment terminal: a deterministic state machine with no IO and no clock.
///
/// # Calling order
///
/// ```text
/// let mut t = Terminal::new(config, seed);
/// loop {
///     while let Some(out) = t.poll_output() { execute(out) }   // 1. drain everything
///     let deadline = t.poll_timeout();                         // 2. next timer, if any
///     let (now, input) = wait_for_event_or(deadline);          // 3. IO happens outside
///     t.handle_input(now, input);                              // 4. feed one input
/// }
/// ```
///
/// * `handle_input(now, input)` first fires every timer due at or before `now`, then handles
///   `input`. Feed [`Input::Tick`] when the deadline from `poll_timeout` passes with no other event.
/// * `now` must not go backwards; an earlier `now` is treated as the latest one seen.
/// * Drain `poll_output` after every `handle_input`: a [`LocalKick`] gets exactly one
///   [`Output::KickReply`] in that drain, and a [`Output::Journal`] entry always comes out before
///   the [`Output::SendOpi`] response that reports it.
/// * [`Terminal::new`] already queues outputs: the first screen and, for a 2.0 terminal,
///   [`Output::OpenMqtt`].
#[derive(Debug, Clone)]
pub struct Terminal {
    pub(crate) cfg: TerminalConfig,
    pub(crate) powered: bool,
    pub(crate) now: Timestamp,
    rng: u64,
    pub(crate) out: VecDeque<Output>,
    last_screen: Option<u64>,
    pub(crate) menu: MenuState,
    pub(crate) menu_deadline: Option<Timestamp>,
    pub(crate) mqtt: MqttLink,
    mqtt_open: Option<MqttSettings>,
    pub(crate) tas: TasLink,
    pub(crate) session: Option<Session>,
    pub(crate) journal: Journal,
    pub(crate) stan: u32,
    pub(crate) receipt_no: u32,
    pub(crate) device_req_no: u64,
    pub(crate) logged_in: bool,
    pub(crate) last_approved: Option<LastApproved>,
    kick_ids: VecDeque<String>,
}

impl Terminal {
    /// A powered-on terminal with this configuration. `seed` drives the only randomness (approval
    /// codes); the same seed and inputs give the same outputs.
    pub fn new(config: TerminalConfig, seed: u64) -> Terminal {
        let mut t = Terminal {
            cfg: config,
            powered: true,
            now: Timestamp(0),
            rng: seed ^ 0x9e37_79b9_7f4a_7c15,
            out: VecDeque::new(),
            last_screen: None,
            menu: MenuState::Idle,
            menu_deadline: None,
            mqtt: MqttLink::Down { reason: MqttDownReason::NotInstalled, retrying: false },
            mqtt_open: None,
            tas: TasLink::Idle { last_failure: None },
            session: None,
            journal: Journal::new(),
            stan: 0,
            receipt_no: 0,
            device_req_no: 0,
            logged_in: false,
            last_approved: None,
            kick_ids: VecDeque::new(),
        };
        t.evaluate_mqtt();
        t.refresh_screen();
        t
    }

    /// Feeds one input at time `now`. See the type's doc for the calling order.
    pub fn handle_input(&mut self, now: Timestamp, input: Input) {
        if now > self.now {
            self.now = now;
        }
        let fired = self.fire_timers();
        let tas_before = std::mem::discriminant(&self.tas);
        // Inputs that never change the screen by themselves (the TAS link state is compared below).
        let quiet = matches!(
            input,
            Input::Tick
                | Input::Mqtt(_)
                | Input::SetNetwork(_)
                | Input::LocalKick(_)
                | Input::CloudKick(_)
                | Input::Tas(_)
        );
        match input {
            Input::PowerOn => self.power_on(),
            _ if !self.powered => self.while_off(input),
            Input::PowerOff => self.power_off(),
            Input::Key(k) => self.handle_key(k),
            Input::LocalKick(k) => self.local_kick(k),
            Input::CloudKick(k) => self.cloud_kick(k),
            Input::Tas(e) => self.tas_event(e),
            Input::Mqtt(e) => self.mqtt_event(e),
            Input::Opi { channel, message } => self.handle_opi(channel, message),
            Input::Card(e) => self.handle_card(e),
            Input::TmsChange(c) => c.apply(&mut self.cfg.tms),
            Input::ContactTms => self.contact_tms(),
            Input::SetNetwork(n) => {
                self.cfg.network = n;
                self.evaluate_mqtt();
            }
            Input::Tick => {}
        }
        if fired || !quiet || std::mem::discriminant(&self.tas) != tas_before {
            self.refresh_screen();
        }
    }

    /// The next output to execute, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When the next timer is due; feed [`Input::Tick`] (or any input) at or after it.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if !self.powered {
            return None;
        }
        let mut next = self.menu_deadline;
        let mut take = |d: Option<Timestamp>| {
            if let Some(d) = d {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        };
        if let TasLink::Dialing { deadline, .. } = &self.tas {
            take(Some(*deadline));
        }
        if let Some(s) = &self.session {
            take(s.next_deadline());
        }
        next
    }

    // ----- accessors -----

    /// The configuration as it is now (installed parameters, mode, day, ...).
    pub fn config(&self) -> &TerminalConfig {
        &self.cfg
    }

    /// The software version running.
    pub fn software(&self) -> &SoftwareVersion {
        &self.cfg.software
    }

    /// Whether the terminal is on.
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// The MQTT link state.
    pub fn mqtt_link(&self) -> &MqttLink {
        &self.mqtt
    }

    /// The TAS link state.
    pub fn tas_link(&self) -> &TasLink {
        &self.tas
    }

    /// The screen shown now.
    pub fn screen(&self) -> Screen {
        self.render_screen()
    }

    /// The totals of the current period, computed from the journal.
    pub fn day_totals(&self) -> &DayTotals {
        self.journal.totals()
    }

    /// The journal entries kept in memory, oldest first.
    pub fn journal(&self) -> impl Iterator<Item = &JournalEntry> {
        self.journal.entries()
    }

    /// Whether a transaction, a TAS dial or an installation is in progress.
    pub fn is_busy(&self) -> bool {
        self.session.is_some() || matches!(self.tas, TasLink::Dialing { .. }) || self.menu.is_installing()
    }

    /// Whether a card transaction is in progress.
    pub fn in_transaction(&self) -> bool {
        self.session.is_some()
    }

    /// The terminal's service password at `now` (R17, R20); see [`crate::service_password`].
    pub fn service_password(&self, now: Timestamp) -> String {
        crate::password::service_password_at(
            &self.cfg.identity.tms_id,
            now,
            self.cfg.profile.utc_offset_minutes,
        )
    }

    /// The R23 checklist as the terminal sees it: every finding, empty when all is well for 2.0.
    pub fn diagnosis(&self) -> Vec<DiagnosisReason> {
        let c = &self.cfg;
        let mut r = Vec::new();
        if !c.tms.cloud_connection {
            r.push(DiagnosisReason::CloudConnectionOffInTms);
        }
        if c.tms != c.installed {
            r.push(DiagnosisReason::HardwareInstallationNeeded);
        }
        if !(c.installed.mqt && c.installed.mqt_service_enable) {
            r.push(DiagnosisReason::MqttNotInstalled);
        } else if self.mqtt != MqttLink::Up {
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
        if c.installed.signature_algorithm != crate::config::SignatureAlgorithm::Sha256 {
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

    /// Whether the terminal is 2.0-ready: MQT installed, software ≥ 14.0.11.01 and the MQTT link up.
    pub fn is_cloud_ready(&self) -> bool {
        self.mqtt == MqttLink::Up
    }

    // ----- internals shared by the modules -----

    pub(crate) fn emit(&mut self, o: Output) {
        self.out.push_back(o);
    }

    pub(crate) fn publish(&mut self, e: Event) {
        self.out.push_back(Output::Publish(e));
    }

    /// splitmix64.
    pub(crate) fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn refresh_screen(&mut self) {
        // A fingerprint of the last screen sent is enough to tell a change; it saves a clone. A
        // session's screen is fingerprinted where it is kept and rendered only when it changed.
        let (fp, screen) = match self.session_screen() {
            Some(s) => (s.fingerprint(), None),
            None => {
                let s = self.render_screen();
                (fingerprint(&s), Some(s))
            }
        };
        if self.last_screen != Some(fp) {
            let screen = screen.unwrap_or_else(|| self.render_screen());
            self.last_screen = Some(fp);
            self.out.push_back(Output::Screen(screen));
        }
    }

    /// The screen of the transaction in progress, when that is what the terminal shows.
    fn session_screen(&self) -> Option<&KeptScreen> {
        if self.powered && self.menu.is_idle() { self.session.as_ref().map(Session::screen) } else { None }
    }

    fn render_screen(&self) -> Screen {
        if let Some(s) = self.session_screen() {
            return s.render();
        }
        if !self.powered {
            return Screen::new(Vec::<String>::new(), "the terminal is off");
        }
        if self.menu.is_idle() {
            return self.idle_screen();
        }
        self.menu_screen()
    }

    fn idle_screen(&self) -> Screen {
        let mut lines = vec!["CCV".to_owned()];
        let mut gloss = vec!["idle"];
        if !self.cfg.activated {
            lines.push("TERMINAL NIET GEACTIVEERD".to_owned());
            gloss.push("terminal not activated");
        } else if self.cfg.day == DayState::ClosedByHand {
            lines.push("DAG GESLOTEN".to_owned());
            gloss.push("day closed");
        } else {
            lines.push("WELKOM".to_owned());
            gloss.push("ready");
        }
        match &self.tas {
            TasLink::Connected { .. } => {
                lines.push("VERBONDEN MET TAS".to_owned());
                gloss.push("connected to the TAS");
            }
            TasLink::Dialing { .. } => {
                lines.push("VERBINDEN MET TAS...".to_owned());
                gloss.push("connecting to the TAS");
            }
            TasLink::Idle { .. } => {}
        }
        Screen::new(lines, gloss.join(", "))
    }

    /// Fires every timer due at `self.now`; `true` when one fired.
    fn fire_timers(&mut self) -> bool {
        let now = self.now;
        match self.poll_timeout() {
            Some(d) if d <= now => {}
            _ => return false,
        }
        if let Some(d) = self.menu_deadline
            && d <= now
        {
            self.menu_timeout();
        }
        if let TasLink::Dialing { deadline, .. } = &self.tas
            && *deadline <= now
        {
            self.tas = TasLink::Idle { last_failure: Some(TasDialFailure::TimedOut) };
            self.emit(Output::CloseTas);
            self.publish(Event::TasDialFailed {
                reason: TasDialFailure::TimedOut,
                message: TasDialFailure::TimedOut.message().to_owned(),
            });
        }
        // Bounded: each step either finishes a phase or moves a deadline past `now`.
        for _ in 0..16 {
            match self.session.as_ref().and_then(Session::next_deadline) {
                Some(d) if d <= now => self.session_timer(),
                _ => break,
            }
        }
        true
    }

    fn while_off(&mut self, input: Input) {
        match input {
            Input::LocalKick(_) => {
                self.emit(Output::KickReply(KickReply::Refused { reason: KickRefusal::PoweredOff }))
            }
            Input::TmsChange(c) => c.apply(&mut self.cfg.tms),
            // The shop network changes whether the terminal is on or not.
            Input::SetNetwork(n) => self.cfg.network = n,
            _ => {}
        }
    }

    fn power_off(&mut self) {
        self.abort_session("power_off");
        self.menu = MenuState::Idle;
        self.menu_deadline = None;
        if !matches!(self.tas, TasLink::Idle { .. }) {
            self.emit(Output::CloseTas);
        }
        self.tas = TasLink::Idle { last_failure: None };
        self.powered = false;
        self.logged_in = false;
        self.evaluate_mqtt();
    }

    fn power_on(&mut self) {
        if self.powered {
            return;
        }
        self.powered = true;
        self.evaluate_mqtt();
    }

    /// A TMS sync without installation: R7 (installed parameters unchanged, so no MQTT) and R14.
    pub(crate) fn contact_tms(&mut self) {
        self.enforce_r14();
        self.publish(Event::TmsContacted);
    }

    /// R14: MQT on in TMS forces TCP FLAT-OUTGOING at every TMS sync.
    pub(crate) fn enforce_r14(&mut self) {
        if self.cfg.tms.mqt {
            self.cfg.pos_opi_mode = PosOpiMode::TcpFlatOutgoing;
        }
    }

    /// What the MQTT session should be: settings, or why there is none.
    pub(crate) fn wanted_mqtt(&self) -> Result<MqttSettings, MqttDownReason> {
        if !self.powered {
            return Err(MqttDownReason::PoweredOff);
        }
        let p = &self.cfg.installed;
        if !p.mqt || !p.mqt_service_enable {
            return Err(MqttDownReason::NotInstalled);
        }
        if !p.cloud_connection {
            return Err(MqttDownReason::CloudConnectionDisabled);
        }
        if !p.mqt_service_use_ssl {
            return Err(MqttDownReason::SslDisabled);
        }
        if !self.cfg.software.supports_cloud_kick() {
            return Err(MqttDownReason::SoftwareTooOld);
        }
        if !self.cfg.network.dns_configured && !p.mqt_service.is_literal_ip() {
            return Err(MqttDownReason::Dns);
        }
        if p.mqt_service.port == 443 && !self.cfg.network.outgoing_443_allowed {
            return Err(MqttDownReason::Port443Blocked);
        }
        let id = &self.cfg.identity.tms_id;
        let sub = &p.mgt_subscription;
        Ok(MqttSettings {
            host: p.mqt_service.host.clone(),
            port: p.mqt_service.port,
            client_id: id.clone(),
            subscription: sub.clone(),
            command_topic: format!("ccv/{sub}/{id}/cmd"),
            event_topic: format!("ccv/{sub}/{id}/evt"),
            tls: true,
            alpn: (p.mqt_service.port == 443).then(|| AWS_IOT_ALPN.to_owned()),
            require_sha256: p.signature_algorithm == crate::config::SignatureAlgorithm::Sha256,
        })
    }

    /// Opens, re-opens or closes the MQTT session to match [`Self::wanted_mqtt`].
    pub(crate) fn evaluate_mqtt(&mut self) {
        match self.wanted_mqtt() {
            Ok(settings) => {
                if self.mqtt_open.as_ref() == Some(&settings) {
                    return;
                }
                if self.mqtt_open.is_some() {
                    self.emit(Output::CloseMqtt);
                }
                self.mqtt_open = Some(settings.clone());
                self.mqtt = MqttLink::Connecting;
                self.emit(Output::OpenMqtt(settings));
            }
            Err(reason) => {
                if self.mqtt_open.take().is_some() {
                    self.emit(Output::CloseMqtt);
                }
                let was = std::mem::replace(&mut self.mqtt, MqttLink::Down { reason, retrying: false });
                if was != self.mqtt {
                    self.publish(Event::MqttDown { reason });
                }
            }
        }
    }

    fn mqtt_event(&mut self, e: MqttEvent) {
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

    fn tas_event(&mut self, e: TasEvent) {
        match (e, &self.tas) {
            (TasEvent::Connected, TasLink::Dialing { tas, reference, .. }) => {
                let (tas, reference) = (tas.clone(), reference.clone());
                self.publish(Event::TasConnected { reference: reference.clone(), tas: tas.to_string() });
                self.tas = TasLink::Connected { tas, reference };
            }
            (TasEvent::DialFailed(reason), TasLink::Dialing { .. }) => {
                self.tas = TasLink::Idle { last_failure: Some(reason) };
                self.publish(Event::TasDialFailed { reason, message: reason.message().to_owned() });
            }
            (TasEvent::Disconnected, TasLink::Connected { .. } | TasLink::Dialing { .. }) => {
                self.tas = TasLink::Idle { last_failure: None };
                if self.session.as_ref().is_some_and(|s| s.channel == Channel::Tas) {
                    self.abort_session("tas_link_lost");
                }
                self.publish(Event::TasDisconnected);
            }
            // Stale or out-of-order reports change nothing.
            _ => {}
        }
    }

    /// The checks every kick shares (after the kind-specific ones).
    fn common_kick_checks(&self) -> Result<(), KickRefusal> {
        let c = &self.cfg;
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
        if self.is_busy() {
            return Err(KickRefusal::Busy);
        }
        Ok(())
    }

    /// Whether a local kick on `port` would be accepted now (R1, R3, R21).
    pub fn check_local_kick(&self, port: u16) -> Result<(), KickRefusal> {
        if !self.powered {
            return Err(KickRefusal::PoweredOff);
        }
        if self.cfg.trigger_port == 0 {
            return Err(KickRefusal::TriggerPortDisabled);
        }
        if port != self.cfg.trigger_port {
            return Err(KickRefusal::WrongPort);
        }
        self.common_kick_checks()
    }

    /// Whether a cloud kick would be accepted now, ignoring duplicate and expiry checks (R5, R12).
    pub fn check_cloud_kick(&self) -> Result<(), KickRefusal> {
        if !self.powered {
            return Err(KickRefusal::PoweredOff);
        }
        let p = &self.cfg.installed;
        if !p.mqt || !p.mqt_service_enable {
            return Err(KickRefusal::MqttNotInstalled);
        }
        if !self.cfg.software.supports_cloud_kick() {
            return Err(KickRefusal::SoftwareTooOld);
        }
        if self.mqtt != MqttLink::Up {
            return Err(KickRefusal::NotCloudReady);
        }
        self.common_kick_checks()
    }

    fn local_kick(&mut self, k: LocalKick) {
        let reference = k.reference.map(|r| cut(&r));
        match self.check_local_kick(k.port) {
            Err(reason) => self.emit(Output::KickReply(KickReply::Refused { reason })),
            Ok(()) => {
                let tas = self.kick_target(k.tas);
                self.emit(Output::KickReply(KickReply::Accepted {
                    tas: tas.clone(),
                    reference: reference.clone(),
                }));
                self.publish(Event::KickAccepted {
                    kick: KickKind::Local,
                    kick_id: None,
                    reference: reference.clone(),
                    tas: tas.to_string(),
                });
                self.dial(tas, reference, KickKind::Local);
            }
        }
    }

    fn cloud_kick(&mut self, k: CloudKick) {
        let kick_id = cut(&k.kick_id);
        let reference = k.reference.map(|r| cut(&r));
        let refuse = |t: &mut Terminal, reason: KickRefusal, kick_id: String| {
            t.publish(Event::KickRefused {
                kick: KickKind::Cloud,
                kick_id: Some(kick_id),
                reason,
                message: reason.message().to_owned(),
            });
        };
        if self.kick_ids.iter().any(|id| *id == kick_id) {
            return refuse(self, KickRefusal::DuplicateKick, kick_id);
        }
        if self.kick_ids.len() == KICK_ID_MEMORY {
            self.kick_ids.pop_front();
        }
        self.kick_ids.push_back(kick_id.clone());
        if k.expires_at <= self.now {
            return refuse(self, KickRefusal::KickExpired, kick_id);
        }
        if let Err(reason) = self.check_cloud_kick() {
            return refuse(self, reason, kick_id);
        }
        let tas = self.kick_target(k.tas);
        self.publish(Event::KickAccepted {
            kick: KickKind::Cloud,
            kick_id: Some(kick_id),
            reference: reference.clone(),
            tas: tas.to_string(),
        });
        self.dial(tas, reference, KickKind::Cloud);
    }

    /// The TAS a kick dials: the one it names, with an empty host or a port 0 taken from the installed TAS.
    fn kick_target(&self, over: Option<HostPort>) -> HostPort {
        let installed = &self.cfg.installed.tas;
        match over {
            Some(h) => HostPort::new(
                if h.host.is_empty() { installed.host.clone() } else { cut(&h.host) },
                if h.port == 0 { installed.port } else { h.port },
            ),
            None => installed.clone(),
        }
    }

    fn dial(&mut self, tas: HostPort, reference: Option<String>, kick: KickKind) {
        if let TasLink::Connected { tas: cur, .. } = &self.tas {
            if *cur == tas {
                self.publish(Event::TasConnected { reference, tas: tas.to_string() });
                return;
            }
            self.emit(Output::CloseTas);
        }
        if !self.cfg.network.dns_configured && !tas.is_literal_ip() {
            self.tas = TasLink::Idle { last_failure: Some(TasDialFailure::Dns) };
            self.publish(Event::TasDialFailed {
                reason: TasDialFailure::Dns,
                message: TasDialFailure::Dns.message().to_owned(),
            });
            return;
        }
        let deadline = self.now.plus_millis(self.cfg.profile.dial_timeout_ms);
        self.tas = TasLink::Dialing { tas: tas.clone(), reference: reference.clone(), deadline };
        let tms_id = self.cfg.identity.tms_id.clone();
        self.emit(Output::DialTas(DialTas { tas, tms_id, reference, kick }));
    }
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_FIELD_LEN) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}
