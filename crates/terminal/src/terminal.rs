//! The [`Terminal`]: the coordinator. It holds the configuration, the power state and the clock,
//! routes each [`Input`] to the part that owns it (the links, the menus, the payment engine), carries
//! out what the parts ask of the configuration, and keeps the screen.

use crate::config::{DayState, TerminalConfig};
use crate::input::{CardEvent, Input, Key};
use crate::journal::{DayTotals, JournalEntry};
use crate::links::{KickContext, Links};
use crate::menu::{MenuContext, MenuEffect, Menus};
use crate::outbox::Outbox;
use crate::output::{AWS_IOT_ALPN, Event, KeptScreen, KickReply, MqttSettings, Output, Screen, fingerprint};
use crate::payment::{PaymentContext, Payments};
use crate::reason::{DiagnosisReason, KickRefusal, MqttDownReason};
use crate::time::Timestamp;
use crate::tms;
use crate::version::SoftwareVersion;

pub use crate::links::{KICK_ID_MEMORY, MAX_FIELD_LEN, MqttLink, TasLink};

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
/// * Drain `poll_output` after every `handle_input`: a [`LocalKick`](crate::LocalKick) gets exactly
///   one [`Output::KickReply`] in that drain, and a [`Output::Journal`] entry always comes out before
///   the [`Output::SendOpi`] response that reports it.
/// * [`Terminal::new`] already queues outputs: the first screen and, for a 2.0 terminal,
///   [`Output::OpenMqtt`].
#[derive(Debug, Clone)]
pub struct Terminal {
    cfg: TerminalConfig,
    powered: bool,
    now: Timestamp,
    out: Outbox,
    last_screen: Option<u64>,
    menus: Menus,
    links: Links,
    payments: Payments,
}

/// Everything a terminal keeps across a power cut or a restart: its configuration as it is now (installed
/// parameters, software, activation, day state, OPI settings, trigger port, network, TMS parameters) and its
/// payment memory (journal, day totals and period, STAN and receipt counters).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NonVolatile {
    /// The configuration.
    pub config: TerminalConfig,
    /// Journal, totals, counters.
    pub memory: crate::payment::Memory,
}

impl Terminal {
    /// What this terminal keeps across a restart.
    pub fn non_volatile(&self) -> NonVolatile {
        NonVolatile { config: self.cfg.clone(), memory: self.payments.memory() }
    }

    /// Changes (compare with `!=`) whenever the payment memory changes; the configuration is compared by value.
    pub fn memory_mark(&self) -> (u64, u32, u32, u32) {
        self.payments.memory_mark()
    }

    /// A powered-on terminal with `config` and the payment memory of an earlier run.
    pub fn restore(config: TerminalConfig, memory: crate::payment::Memory, seed: u64) -> Terminal {
        let mut t = Terminal::new(config, seed);
        t.payments.restore(memory);
        t
    }

    /// A powered-on terminal with this configuration. `seed` drives the only randomness (approval
    /// codes); the same seed and inputs give the same outputs.
    pub fn new(config: TerminalConfig, seed: u64) -> Terminal {
        let mut t = Terminal {
            cfg: config,
            powered: true,
            now: Timestamp(0),
            out: Outbox::default(),
            last_screen: None,
            menus: Menus::new(),
            links: Links::new(seed),
            payments: Payments::new(seed),
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
        let tas_before = std::mem::discriminant(self.links.tas());
        // Inputs that never change the screen by themselves (the TAS link state is compared below).
        let quiet = matches!(
            input,
            Input::Tick
                | Input::Mqtt(_)
                | Input::SetNetwork(_)
                | Input::LocalKick(_)
                | Input::CloudKick(_)
                | Input::CloudCommand(_)
                | Input::Tas(_)
        );
        match input {
            Input::PowerOn => self.power_on(),
            _ if !self.powered => self.while_off(input),
            Input::PowerOff => self.power_off(),
            Input::Key(k) => self.handle_key(k),
            Input::LocalKick(k) => {
                let cx = kick_context(self.now, self.powered, &self.cfg, &self.menus, &self.payments);
                self.links.local_kick(&cx, k, &mut self.out);
            }
            Input::CloudKick(k) => {
                let cx = kick_context(self.now, self.powered, &self.cfg, &self.menus, &self.payments);
                self.links.cloud_kick(&cx, k, None, &mut self.out);
            }
            Input::CloudCommand(c) => {
                let cx = kick_context(self.now, self.powered, &self.cfg, &self.menus, &self.payments);
                self.links.cloud_command(&cx, c, &mut self.out);
            }
            Input::Tas(e) => {
                let cx = kick_context(self.now, self.powered, &self.cfg, &self.menus, &self.payments);
                if let Some(lost) = self.links.tas_event(&cx, e, &mut self.out) {
                    // The transaction on the link ends before the link's loss is published.
                    self.with_payments(Payments::tas_link_lost);
                    lost.publish(&mut self.out);
                }
            }
            Input::Mqtt(e) => {
                let cx = kick_context(self.now, self.powered, &self.cfg, &self.menus, &self.payments);
                self.links.mqtt_event(&cx, e);
            }
            Input::Opi { channel, message } => {
                self.with_payments(|p, cx| p.handle_opi(cx, channel, message));
            }
            Input::Card(e) => self.handle_card(e),
            Input::TmsChange(c) => c.apply(&mut self.cfg.tms),
            Input::ContactTms => self.contact_tms(),
            Input::SetNetwork(n) => {
                self.cfg.network = n;
                self.evaluate_mqtt();
            }
            Input::Tick => {}
        }
        if fired || !quiet || std::mem::discriminant(self.links.tas()) != tas_before {
            self.refresh_screen();
        }
    }

    /// The next output to execute, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }

    /// When the next timer is due; feed [`Input::Tick`] (or any input) at or after it.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if !self.powered {
            return None;
        }
        let earlier = |a: Option<Timestamp>, b: Option<Timestamp>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        earlier(earlier(self.menus.deadline(), self.links.deadline()), self.payments.next_deadline())
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
        self.links.mqtt()
    }

    /// The TAS link state.
    pub fn tas_link(&self) -> &TasLink {
        self.links.tas()
    }

    /// The screen shown now.
    pub fn screen(&self) -> Screen {
        self.render_screen()
    }

    /// The totals of the current period, computed from the journal.
    pub fn day_totals(&self) -> &DayTotals {
        self.payments.journal().totals()
    }

    /// The journal entries kept in memory, oldest first.
    pub fn journal(&self) -> impl Iterator<Item = &JournalEntry> {
        self.payments.journal().entries()
    }

    /// Whether a transaction, a TAS dial or an installation is in progress.
    pub fn is_busy(&self) -> bool {
        self.payments.in_transaction() || self.links.is_dialing() || self.menus.is_installing()
    }

    /// Whether a card transaction is in progress.
    pub fn in_transaction(&self) -> bool {
        self.payments.in_transaction()
    }

    /// The terminal's service password at `now` (R17, R20); see [`crate::service_password`].
    pub fn service_password(&self, now: Timestamp) -> String {
        crate::password::service_password_local(&self.cfg.identity.tms_id, now)
    }

    /// The R23 checklist as the terminal sees it: every finding, empty when all is well for 2.0.
    pub fn diagnosis(&self) -> Vec<DiagnosisReason> {
        tms::diagnosis(&self.cfg, self.links.is_mqtt_up())
    }

    /// Whether the terminal is 2.0-ready: MQT installed, software ≥ 14.0.11.01 and the MQTT link up.
    pub fn is_cloud_ready(&self) -> bool {
        self.links.is_mqtt_up()
    }

    /// Whether a local kick on `port` would be accepted now (R1, R3, R21).
    pub fn check_local_kick(&self, port: u16) -> Result<(), KickRefusal> {
        let cx = kick_context(self.now, self.powered, &self.cfg, &self.menus, &self.payments);
        self.links.check_local_kick(&cx, port)
    }

    /// Whether a cloud kick would be accepted now, ignoring duplicate and expiry checks (R5, R12).
    pub fn check_cloud_kick(&self) -> Result<(), KickRefusal> {
        let cx = kick_context(self.now, self.powered, &self.cfg, &self.menus, &self.payments);
        self.links.check_cloud_kick(&cx)
    }

    // ----- routing -----

    /// The payment engine and what it reads of the rest of the terminal for one step.
    fn payment_context(&mut self) -> (&mut Payments, PaymentContext<'_>) {
        let cx = PaymentContext {
            now: self.now,
            cfg: &self.cfg,
            mqtt_up: self.links.is_mqtt_up(),
            menu_idle: self.menus.is_idle(),
            out: &mut self.out,
            new_day: None,
        };
        (&mut self.payments, cx)
    }

    /// Runs one payment step and applies the day state it moved to, if it did.
    fn with_payments(&mut self, step: impl FnOnce(&mut Payments, &mut PaymentContext<'_>)) {
        let (payments, mut cx) = self.payment_context();
        step(payments, &mut cx);
        if let Some(day) = cx.new_day {
            self.cfg.day = day;
        }
    }

    fn handle_card(&mut self, e: CardEvent) {
        self.with_payments(|p, cx| p.handle_card(cx, e));
    }

    fn handle_key(&mut self, key: Key) {
        let cx = MenuContext {
            now: self.now,
            cfg: &self.cfg,
            mqtt_up: self.links.is_mqtt_up(),
            totals: self.payments.journal().totals(),
            in_transaction: self.payments.in_transaction(),
        };
        let Some(effect) = self.menus.key(&cx, key) else { return };
        match effect {
            MenuEffect::CancelPayment => self.handle_card(CardEvent::CustomerCancel),
            MenuEffect::OpenDay => self.cfg.day = DayState::Open,
            MenuEffect::Activate => self.cfg.activated = true,
            MenuEffect::ContactTms => self.contact_tms(),
            MenuEffect::CloseDay => {
                self.payments.close_period();
                self.cfg.day = DayState::ClosedByHand;
                self.out.publish(Event::DayClosed { by_hand: true });
            }
            MenuEffect::SetPosMode(mode) => self.cfg.pos_opi_mode = mode,
            MenuEffect::SetTriggerPort(p) => self.cfg.trigger_port = p,
            MenuEffect::Install { tms_id, tms_ip } => {
                tms::install(&mut self.cfg, tms_id.clone(), tms_ip);
                self.evaluate_mqtt();
                self.out
                    .publish(Event::InstallationComplete { tms_id, software: self.cfg.software.to_string() });
            }
        }
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
            self.out.emit(Output::Screen(screen));
        }
    }

    /// The screen of the transaction in progress, when that is what the terminal shows.
    fn session_screen(&self) -> Option<&KeptScreen> {
        if self.powered && self.menus.is_idle() { self.payments.screen() } else { None }
    }

    fn render_screen(&self) -> Screen {
        if let Some(s) = self.session_screen() {
            return s.render();
        }
        if !self.powered {
            return Screen::new(Vec::<String>::new(), "the terminal is off");
        }
        if self.menus.is_idle() {
            return self.idle_screen();
        }
        self.menus.screen(&self.cfg)
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
        match self.links.tas() {
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
        if let Some(d) = self.menus.deadline()
            && d <= now
        {
            self.menus.close();
        }
        let cx = kick_context(now, self.powered, &self.cfg, &self.menus, &self.payments);
        self.links.fire_timer(&cx, &mut self.out);
        self.with_payments(Payments::fire_timers);
        true
    }

    fn while_off(&mut self, input: Input) {
        match input {
            Input::LocalKick(_) => {
                self.out.emit(Output::KickReply(KickReply::Refused { reason: KickRefusal::PoweredOff }))
            }
            Input::TmsChange(c) => c.apply(&mut self.cfg.tms),
            // The shop network changes whether the terminal is on or not.
            Input::SetNetwork(n) => self.cfg.network = n,
            _ => {}
        }
    }

    fn power_off(&mut self) {
        self.with_payments(Payments::power_off);
        self.menus.close();
        self.links.power_off(&mut self.out);
        self.powered = false;
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
    fn contact_tms(&mut self) {
        tms::enforce_r14(&mut self.cfg);
        self.out.publish(Event::TmsContacted);
    }

    /// What the MQTT session should be: settings, or why there is none.
    fn wanted_mqtt(&self) -> Result<MqttSettings, MqttDownReason> {
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
        // The MQT service is on TCP 443 (R6): a firewall that blocks outgoing 443 blocks it, whatever port a test
        // set-up moved it to, so that the link and the diagnosis follow one rule.
        if !self.cfg.network.outgoing_443_allowed {
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
    fn evaluate_mqtt(&mut self) {
        let wanted = self.wanted_mqtt();
        self.links.set_wanted_mqtt(wanted, &mut self.out);
    }
}

/// What the links read of the rest of the terminal.
fn kick_context<'a>(
    now: Timestamp,
    powered: bool,
    cfg: &'a TerminalConfig,
    menus: &Menus,
    payments: &Payments,
) -> KickContext<'a> {
    KickContext { now, powered, cfg, busy: payments.in_transaction() || menus.is_installing() }
}
