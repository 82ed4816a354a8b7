//! What a terminal process shows of itself ([`Status`]), kept in a `tokio::sync::watch` so that tools and tests can
//! read a snapshot or await a change instead of polling.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// What the process shows of itself, for tests, tools and the CLI.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Whether the OPI link (TAS, or channel 0 in Default ITS) is up.
    pub link_up: bool,
    /// Local kicks received (each is counted before it is answered).
    pub local_kicks: u64,
    /// How many times the TAS was dialled.
    pub dial_attempts: u64,
    /// The last dial failure reason (`refused`, `dns`, `timed_out`, `handshake`, ...).
    pub last_dial_failure: Option<String>,
    /// Why the last OPI link closed.
    pub last_close_reason: Option<String>,
    /// Frames received that did not decode.
    pub bad_frames: u64,
    /// Journal lines the core wrote, oldest first (bounded).
    pub journal: Vec<String>,
    /// Whether the core is in a transaction (a payment, refund, reversal, ... is running).
    pub in_transaction: bool,
    /// The last screen the core showed.
    pub screen: Vec<String>,
    /// What that screen means, in English (the terminal's texts are Dutch).
    pub screen_gloss: String,
    /// The Cloud Connect 2.0 MQTT client (`state` is empty when the terminal runs without one).
    pub mqtt: MqttStatus,
    /// How far the terminal's migration has come, from its configuration as it is now.
    pub migration: Option<ccv_terminal::MigrationState>,
    /// The terminal's own R23 checklist: every finding, empty when all is well.
    pub diagnosis: Vec<ccv_terminal::DiagnosisReason>,
    /// The terminal's network settings as they are now (DNS, outgoing 443, ...).
    pub network: ccv_terminal::NetworkSettings,
    /// What its menus and TMS set, as it is now (`None` until the process ran its first step).
    pub settings: Option<Settings>,
    /// Latency added to the terminal's network, in milliseconds (0: none): its TAS dial, the OPI frames it sends
    /// to the TAS and its MQTT connection attempts wait this long ([`crate::TerminalProcess::set_latency`]).
    pub latency_ms: u64,
}

/// The terminal's settings as its menus and TMS left them (part of [`Status`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Switched on.
    pub powered: bool,
    /// The software version running.
    pub software: ccv_terminal::SoftwareVersion,
    /// The parameters as TMS holds them.
    pub tms: ccv_terminal::Parameters,
    /// The parameters installed by the last hardware installation (they differ from `tms` until the next one).
    pub installed: ccv_terminal::Parameters,
    /// The POS OPI mode (R14, R20).
    pub pos_opi_mode: ccv_terminal::PosOpiMode,
    /// The OPI trigger port of the local kick; 0 = off (R21).
    pub trigger_port: u16,
    /// Open, closed by the POS, or closed by hand (R15, R19).
    pub day: ccv_terminal::DayState,
    /// Activated after the last installation (R19).
    pub activated: bool,
    /// The current period's totals (period number, net, per circuit).
    pub totals: ccv_terminal::DayTotals,
}

impl Settings {
    /// The settings of `terminal` now.
    pub fn of(terminal: &ccv_terminal::Terminal) -> Settings {
        let c = terminal.config();
        Settings {
            powered: terminal.is_powered(),
            software: c.software.clone(),
            tms: c.tms.clone(),
            installed: c.installed.clone(),
            pos_opi_mode: c.pos_opi_mode,
            trigger_port: c.trigger_port,
            day: c.day,
            activated: c.activated,
            totals: terminal.day_totals().clone(),
        }
    }

    /// Whether `terminal` has these settings (compared without copying anything).
    fn matches(&self, terminal: &ccv_terminal::Terminal) -> bool {
        let c = terminal.config();
        self.powered == terminal.is_powered()
            && self.software == c.software
            && self.tms == c.tms
            && self.installed == c.installed
            && self.pos_opi_mode == c.pos_opi_mode
            && self.trigger_port == c.trigger_port
            && self.day == c.day
            && self.activated == c.activated
            && self.totals == *terminal.day_totals()
    }
}

impl Status {
    /// Brings `settings` up to date with `terminal`; whether it changed.
    pub(crate) fn update_settings(&mut self, terminal: &ccv_terminal::Terminal) -> bool {
        if self.settings.as_ref().is_some_and(|s| s.matches(terminal)) {
            return false;
        }
        self.settings = Some(Settings::of(terminal));
        true
    }
}

/// What the MQTT client shows of itself (part of [`Status`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MqttStatus {
    /// `off` (no session wanted), `connecting`, `up` or `down`.
    pub state: String,
    /// The endpoint, `host:port`, while a session is wanted.
    pub endpoint: Option<String>,
    /// Sessions established (CONNACK and SUBACK received).
    pub connects: u64,
    /// Why the last attempt or session failed (a `MqttDownReason` name).
    pub last_failure: Option<String>,
    /// The detail of that failure.
    pub last_failure_detail: Option<String>,
    /// Commands received on the command topic.
    pub commands: u64,
    /// Events published on the event topic.
    pub events: u64,
}

/// The status of one terminal process, shared by its tasks: they [`update`](StatusCell::update) it, readers take
/// a [`snapshot`](StatusCell::snapshot) or [`watch`](StatusCell::watch) it.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatusCell(Arc<watch::Sender<Status>>);

impl StatusCell {
    /// Changes the status and wakes the watchers.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Status)) {
        self.0.send_modify(change);
    }

    /// Changes the status and wakes the watchers only when `change` says it changed something.
    pub(crate) fn update_if(&self, change: impl FnOnce(&mut Status) -> bool) {
        self.0.send_if_modified(change);
    }

    /// The status now.
    pub(crate) fn snapshot(&self) -> Status {
        self.0.borrow().clone()
    }

    /// A receiver that sees every later change.
    pub(crate) fn watch(&self) -> watch::Receiver<Status> {
        self.0.subscribe()
    }
}

/// Why [`wait_for`] gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The condition did not hold within the time-out; the last status is attached.
    #[error("the terminal's status did not reach the condition within {timeout:?}; last status: {last:?}")]
    TimedOut {
        /// The time-out.
        timeout: Duration,
        /// The status when it ran out.
        last: Box<Status>,
    },
    /// The terminal stopped first.
    #[error("the terminal stopped before its status reached the condition")]
    Stopped,
}

/// Waits until `cond` holds for the status seen by `rx` (checked at once and at every change), at most `timeout`.
pub async fn wait_for(
    rx: &mut watch::Receiver<Status>,
    timeout: Duration,
    cond: impl FnMut(&Status) -> bool,
) -> Result<Status, WaitError> {
    let outcome = match tokio::time::timeout(timeout, rx.wait_for(cond)).await {
        Ok(Ok(status)) => Ok(status.clone()),
        Ok(Err(_)) => Err(Some(WaitError::Stopped)),
        Err(_) => Err(None),
    };
    outcome.map_err(|e| {
        e.unwrap_or_else(|| WaitError::TimedOut { timeout, last: Box::new(rx.borrow().clone()) })
    })
}
