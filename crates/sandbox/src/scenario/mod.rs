//! Scenarios: a TOML file of steps (what an installer, a customer, TMS or a POS does) and what must follow, run
//! against a fresh in-process sandbox on a clock that starts at a fixed instant ([`run_file`]).
//!
//! ```toml
//! name = "R15: day close by hand"
//! rules = ["R15"]
//! terminal = "29000001"          # the steps' terminal unless a step names another
//!
//! [[step]]
//! say = "START MENU > MANAGER MENU with the manager password"
//! keys = "MENU 1 {manager_password} OK"
//! expect.screen = "MANAGER MENU"
//! ```
//!
//! Each step does at most one thing ([`Step`]: keys, a card event, a TMS change, a fault switch, the clock, a
//! payment or refund through the payment API, a local kick, a whitelist change, a restart) and then waits until
//! every expectation ([`Expect`]) holds, at most `within`. The first step whose expectations do not hold ends the
//! run with a [`Failure`] naming the step, what was expected and what was seen. The format is documented in
//! `docs/SCENARIOS.md`; `fixtures/scenarios/` has one file per rule of the installer's guide.
//!
//! Layout: this module: the file format and loading; [`run`]: the runner; [`expect`]: the expectations.

pub mod expect;
pub mod run;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use expect::Expect;
pub use run::{Failure, Mismatch, Outcome, run_file, run_scenario};

/// Where the clock of a scenario starts unless it says otherwise: Monday 2 March 2026, 10:00 in Amsterdam.
pub const DEFAULT_START: &str = "2026-03-02T09:00:00Z";

/// How long a step waits for its expectations unless it says otherwise.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(20);

/// Longest wait a step may ask for.
const MAX_WITHIN: Duration = Duration::from_secs(600);

/// Largest scenario file read.
const MAX_FILE: u64 = 1024 * 1024;

/// A scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What it shows, in one line.
    pub name: String,
    /// The rules of the installer's guide it covers (`R15`, ...).
    #[serde(default)]
    pub rules: Vec<String>,
    /// A longer description.
    #[serde(default)]
    pub about: String,
    /// The fleet file, relative to the scenario (default: the sandbox's default fleet).
    pub fleet: Option<PathBuf>,
    /// Where the terminals' clock starts (RFC 3339, default [`DEFAULT_START`]).
    pub clock: Option<String>,
    /// The steps' terminal unless a step names another.
    pub terminal: Option<String>,
    /// How long each step waits for its expectations (`20s`, `500ms`, `2m`; default 20 s).
    pub within: Option<String>,
    /// The steps, in order.
    #[serde(rename = "step", default)]
    pub steps: Vec<Step>,
}

/// One step: at most one action, then expectations.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What the step is, as the installer would say it (shown in the output and in a failure).
    pub say: Option<String>,
    /// The terminal (default: the scenario's).
    pub terminal: Option<String>,
    /// Keys on the keypad: `MENU`, `OK`, `STOP`, `CLEAR`, digits, `.`; placeholders `{service_password}` (today's,
    /// on the terminals' clock), `{manager_password}`, `{tms_id}`.
    pub keys: Option<String>,
    /// Present a test card (`maestro`, `visa`, ...; docs/TERMINAL.md).
    pub card: Option<String>,
    /// Type the PIN on the card reader.
    pub pin: Option<String>,
    /// Remove the card (`true`).
    pub remove_card: Option<bool>,
    /// The customer presses cancel (`true`).
    pub customer_cancel: Option<bool>,
    /// Changes in TMS (`{ mqt = true, cloud_connection = true }`), one TMS change per key, in key order.
    pub tms: Option<BTreeMap<String, toml::Value>>,
    /// The terminal contacts TMS (`true`): a sync without installation.
    pub contact_tms: Option<bool>,
    /// Power on (`true`) or off (`false`).
    pub power: Option<bool>,
    /// Fault switches, as the control API takes them (`{ dnsConfigured = false }`, `{ outgoing443 = false }`, ...).
    pub fault: Option<BTreeMap<String, toml::Value>>,
    /// Move the terminals' clock forward (`61s`, `25h`, `1d`).
    pub advance: Option<String>,
    /// Create a payment through the payment API, as a POS does.
    pub payment: Option<PaymentStep>,
    /// Create a refund of an earlier payment.
    pub refund: Option<RefundStep>,
    /// Send a local kick to the terminal's kick address, as a POS on the LAN does.
    pub kick: Option<KickStep>,
    /// Change the merchant's whitelist (R10).
    pub whitelist: Option<WhitelistStep>,
    /// Stop the whole sandbox and start it again on the same state directory and clock (`true`).
    pub restart: Option<bool>,
    /// No action: the payment (by name) that this step's payment expectations look at.
    pub check: Option<String>,
    /// What must hold afterwards.
    #[serde(default)]
    pub expect: Expect,
    /// How long to wait for it (default: the scenario's).
    pub within: Option<String>,
}

/// A payment as a POS creates it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentStep {
    /// The amount, `12.50` (magic amounts decide the outcome: docs/TERMINAL.md).
    pub amount: String,
    /// `EUR` unless given.
    pub currency: Option<String>,
    /// `managementSystemId`: `GrundmasterNL` (default), `GrundmasterBE`, or `08900000002` for the 1.0 local kick.
    pub system: Option<String>,
    /// The merchant (default: the terminal's).
    pub merchant: Option<String>,
    /// The terminal's address for a 1.0 payment (`ip`, `port`; default: its kick address at the start).
    pub ip: Option<String>,
    /// See `ip`.
    pub port: Option<u16>,
    /// A name for later steps (`check`, `refund.of`).
    pub name: Option<String>,
}

/// A refund of a payment made earlier in the scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundStep {
    /// The payment's name.
    pub of: String,
    /// The amount (default: the whole payment).
    pub amount: Option<String>,
    /// A name for later steps.
    pub name: Option<String>,
}

/// A local kick.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KickStep {
    /// The port to kick (default: the terminal's trigger port at the start).
    pub port: Option<u16>,
    /// The payment reference the kick names.
    pub reference: Option<String>,
}

/// A whitelist change.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhitelistStep {
    /// Put this TMS ID on the whitelist.
    pub add: Option<String>,
    /// Take this TMS ID off.
    pub remove: Option<String>,
    /// The merchant (default: the step's terminal's).
    pub merchant: Option<String>,
}

/// Why a scenario could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is larger than 1 MiB.
    #[error("{path}: larger than 1 MiB; split the scenario")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// Not a scenario.
    #[error("{path}: {detail}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line where TOML knows it.
        detail: String,
    },
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let read = |source| ScenarioError::Read { path: path.to_owned(), source };
        let len = std::fs::metadata(path).map_err(read)?.len();
        if len > MAX_FILE {
            return Err(ScenarioError::TooLarge { path: path.to_owned() });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        Scenario::parse(&text).map_err(|detail| ScenarioError::Invalid { path: path.to_owned(), detail })
    }

    /// Parses and checks a scenario (every step has at most one action, durations and the clock read).
    pub fn parse(text: &str) -> Result<Scenario, String> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| e.to_string())?;
        scenario.start_ms()?;
        scenario.within()?;
        if scenario.steps.is_empty() {
            return Err("no [[step]]: a scenario needs at least one step".into());
        }
        for (i, step) in scenario.steps.iter().enumerate() {
            let n = i + 1;
            let actions = step.actions();
            if actions.len() > 1 {
                return Err(format!(
                    "step {n}: one action per step, found {} ({}); split it into steps",
                    actions.len(),
                    actions.join(", ")
                ));
            }
            if let Some(w) = &step.within {
                parse_duration(w).map_err(|e| format!("step {n}: within: {e}"))?;
            }
            if let Some(a) = &step.advance {
                parse_duration(a).map_err(|e| format!("step {n}: advance: {e}"))?;
            }
            if let Some(keys) = &step.keys {
                // Placeholders stand for digits; the rest must be keys.
                let plain = keys
                    .replace("{service_password}", "0")
                    .replace("{manager_password}", "0")
                    .replace("{tms_id}", "0");
                ccv_terminal::Key::parse_script(&plain).map_err(|e| format!("step {n}: keys: {e}"))?;
            }
            if let Some(w) = &step.whitelist
                && w.add.is_some() == w.remove.is_some()
            {
                return Err(format!("step {n}: whitelist needs exactly one of add or remove"));
            }
            if step.terminal.is_none() && scenario.terminal.is_none() && step.needs_terminal() {
                return Err(format!(
                    "step {n}: which terminal? set terminal = \"TMSID\" on the step or the scenario"
                ));
            }
        }
        Ok(scenario)
    }

    /// The clock's start, epoch milliseconds.
    pub fn start_ms(&self) -> Result<u64, String> {
        let text = self.clock.as_deref().unwrap_or(DEFAULT_START);
        let ts: jiff::Timestamp = text
            .parse()
            .map_err(|e| format!("clock {text:?} is not an RFC 3339 time such as {DEFAULT_START}: {e}"))?;
        u64::try_from(ts.as_millisecond()).map_err(|_| format!("clock {text:?} is before 1970"))
    }

    /// The default wait of a step.
    pub fn within(&self) -> Result<Duration, String> {
        match &self.within {
            Some(w) => parse_duration(w).map_err(|e| format!("within: {e}")),
            None => Ok(DEFAULT_WITHIN),
        }
    }
}

impl Step {
    /// The names of the actions this step has.
    pub fn actions(&self) -> Vec<&'static str> {
        let mut a = Vec::new();
        let mut has = |present: bool, name: &'static str| {
            if present {
                a.push(name);
            }
        };
        has(self.keys.is_some(), "keys");
        has(self.card.is_some(), "card");
        has(self.pin.is_some(), "pin");
        has(self.remove_card.is_some(), "remove_card");
        has(self.customer_cancel.is_some(), "customer_cancel");
        has(self.tms.is_some(), "tms");
        has(self.contact_tms.is_some(), "contact_tms");
        has(self.power.is_some(), "power");
        has(self.fault.is_some(), "fault");
        has(self.advance.is_some(), "advance");
        has(self.payment.is_some(), "payment");
        has(self.refund.is_some(), "refund");
        has(self.kick.is_some(), "kick");
        has(self.whitelist.is_some(), "whitelist");
        has(self.restart.is_some(), "restart");
        has(self.check.is_some(), "check");
        a
    }

    fn needs_terminal(&self) -> bool {
        !(self.advance.is_some() || self.restart.is_some() || self.check.is_some() || self.refund.is_some())
            || self.expect.needs_terminal()
    }
}

/// Reads `500ms`, `20s`, `2m`, `25h`, `1d` (a number and a unit).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 =
        n.parse().map_err(|_| format!("{text:?} is not a duration such as 20s, 500ms, 2m, 25h or 1d"))?;
    let ms = match unit.trim() {
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => return Err(format!("{text:?}: the unit is one of ms, s, m, h, d")),
    };
    // A year is far more than any scenario moves the clock or waits.
    ms.filter(|ms| *ms <= 366 * 86_400_000)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{text:?} is more than 366 days"))
}

/// What a scenario run reports, per file (`--json` prints a list of these).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The file.
    pub file: String,
    /// The scenario's name.
    pub name: String,
    /// The rules it covers.
    pub rules: Vec<String>,
    /// Steps in the file.
    pub steps: usize,
    /// Steps that passed.
    pub passed_steps: usize,
    /// Whether every step passed.
    pub passed: bool,
    /// Wall-clock milliseconds.
    pub duration_ms: u64,
    /// The first step that did not pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Why the scenario did not run at all (a file that does not read, a sandbox that does not start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn within_limit(d: Duration) -> Duration {
    d.min(MAX_WITHIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_their_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("25h"), Ok(Duration::from_secs(90_000)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("20").unwrap_err().contains("unit"));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("400d").unwrap_err().contains("366"));
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn a_step_with_two_actions_is_named() {
        let err =
            Scenario::parse("name = \"x\"\nterminal = \"1\"\n[[step]]\nkeys = \"MENU\"\npower = true\n")
                .unwrap_err();
        assert!(err.contains("step 1") && err.contains("keys, power"), "{err}");
    }

    #[test]
    fn mistakes_are_named_with_their_place() {
        let unknown = Scenario::parse("name = \"x\"\n[[step]]\nkeyz = \"MENU\"\n").unwrap_err();
        assert!(unknown.contains("keyz"), "{unknown}");
        let bad_key =
            Scenario::parse("name = \"x\"\nterminal = \"1\"\n[[step]]\nkeys = \"MENU FOO\"\n").unwrap_err();
        assert!(bad_key.contains("step 1") && bad_key.contains("FOO"), "{bad_key}");
        let no_terminal = Scenario::parse("name = \"x\"\n[[step]]\nkeys = \"MENU\"\n").unwrap_err();
        assert!(no_terminal.contains("which terminal"), "{no_terminal}");
        let clock =
            Scenario::parse("name = \"x\"\nclock = \"yesterday\"\n[[step]]\nadvance = \"1s\"\n").unwrap_err();
        assert!(clock.contains("RFC 3339"), "{clock}");
        let empty = Scenario::parse("name = \"x\"\n").unwrap_err();
        assert!(empty.contains("at least one step"), "{empty}");
    }

    #[test]
    fn the_default_clock_is_monday_morning_in_amsterdam() {
        let s = Scenario::parse("name = \"x\"\n[[step]]\nadvance = \"1s\"\n").expect("a scenario");
        let start = ccv_terminal::Timestamp::from_millis(s.start_ms().expect("the default start"));
        assert_eq!(start.local().to_string(), "2026-03-02T10:00:00");
    }
}
