//! The fleet file (TOML): the merchants of the payment API and the terminals of a sandbox (a terminal with
//! `count` is a range of alike terminals with consecutive TMS IDs), each terminal made
//! from a built-in config (`fixtures/terminals/{base}.toml`, compiled in) or a config file. The default fleet is
//! `fixtures/sandbox.toml`, also compiled in.

use std::path::{Path, PathBuf};

use ccv_terminal_io::config::FileConfig;
use serde::Deserialize;

/// The default fleet.
pub const DEFAULT_FLEET: &str = include_str!("../../../fixtures/sandbox.toml");

/// The built-in terminal configs by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("migrated-2.0", include_str!("../../../fixtures/terminals/migrated-2.0.toml")),
    ("cc1-only", include_str!("../../../fixtures/terminals/cc1-only.toml")),
    ("tms-changed-not-installed", include_str!("../../../fixtures/terminals/tms-changed-not-installed.toml")),
    ("trigger-port-0", include_str!("../../../fixtures/terminals/trigger-port-0.toml")),
    ("dns-missing", include_str!("../../../fixtures/terminals/dns-missing.toml")),
    ("day-closed", include_str!("../../../fixtures/terminals/day-closed.toml")),
    ("default-its", include_str!("../../../fixtures/terminals/default-its.toml")),
    ("not-activated", include_str!("../../../fixtures/terminals/not-activated.toml")),
    ("old-firmware-no-cors", include_str!("../../../fixtures/terminals/old-firmware-no-cors.toml")),
    ("software-too-old", include_str!("../../../fixtures/terminals/software-too-old.toml")),
];

/// Most terminals one fleet may declare.
pub const MAX_TERMINALS: usize = 10_000;

/// Why a fleet file is not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The file could not be read.
    #[error("cannot read the fleet file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not valid TOML of the fleet's shape.
    #[error("the fleet file {what} is not valid: {detail}")]
    Invalid {
        /// Which file.
        what: String,
        /// The parser's message (line and column).
        detail: String,
    },
    /// A rule of the fleet is broken.
    #[error("the fleet is not valid: {0}")]
    Rule(String),
}

/// A merchant of the payment API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantSpec {
    /// Its name.
    pub name: String,
    /// Its test API key (`t_` + 32 hex digits).
    pub api_key: String,
    /// Who sends the 1.0 local kick: `browser` or `server` (default `server` in a sandbox).
    #[serde(default = "server")]
    pub local_kick: String,
}

fn server() -> String {
    "server".to_owned()
}

/// One terminal as declared.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalSpec {
    /// Its TMS ID (overrides the config's).
    pub tms_id: String,
    /// What it shows, for the table.
    #[serde(default)]
    pub label: String,
    /// A built-in config name ([`BUILT_IN`]); `config` wins when both are given.
    #[serde(default)]
    pub base: Option<String>,
    /// A terminal config file (relative to the fleet file).
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// Its merchant.
    pub merchant: String,
    /// Whether it is on its merchant's whitelist (R10).
    #[serde(default)]
    pub whitelisted: bool,
    /// A range: this many terminals with consecutive TMS IDs from `tms_id` (digits), all alike.
    #[serde(default)]
    pub count: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetFile {
    #[serde(default)]
    merchant: Vec<MerchantSpec>,
    #[serde(default)]
    terminal: Vec<TerminalSpec>,
}

/// A fleet, ranges expanded, every terminal's config loaded.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The merchants.
    pub merchants: Vec<MerchantSpec>,
    /// The terminals, in file order (ranges expanded in place).
    pub terminals: Vec<FleetTerminal>,
}

/// A terminal of a [`Fleet`].
#[derive(Debug, Clone)]
pub struct FleetTerminal {
    /// Its declaration.
    pub spec: TerminalSpec,
    /// Its config, before the sandbox points it at its own parties.
    pub config: FileConfig,
}

impl Fleet {
    /// The default fleet.
    pub fn default_fleet() -> Result<Fleet, FleetError> {
        Fleet::parse(DEFAULT_FLEET, "fixtures/sandbox.toml", Path::new("."))
    }

    /// Reads a fleet file.
    pub fn load(path: &Path) -> Result<Fleet, FleetError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| FleetError::Read { path: path.to_owned(), source })?;
        Fleet::parse(&text, &path.display().to_string(), path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses fleet text; config paths are relative to `dir`.
    pub fn parse(text: &str, what: &str, dir: &Path) -> Result<Fleet, FleetError> {
        let file: FleetFile = toml::from_str(text)
            .map_err(|e| FleetError::Invalid { what: what.to_owned(), detail: e.to_string() })?;
        let mut specs = Vec::with_capacity(file.terminal.len());
        for t in file.terminal {
            let count = t.count.unwrap_or(1);
            if count <= 1 {
                specs.push(TerminalSpec { count: None, ..t });
                continue;
            }
            if count > MAX_TERMINALS {
                return Err(FleetError::Rule(format!(
                    "a range has {count} terminals; at most {MAX_TERMINALS}"
                )));
            }
            let first: u64 = t.tms_id.parse().map_err(|_| {
                FleetError::Rule(format!("a range starts at TMS ID {:?}: use digits only", t.tms_id))
            })?;
            let label = if t.label.is_empty() { format!("range from {first}") } else { t.label.clone() };
            if first.checked_add(count as u64).is_none() {
                return Err(FleetError::Rule(format!(
                    "a range of {count} from TMS ID {first} runs past the largest number"
                )));
            }
            for i in 0..count as u64 {
                let tms_id = (first + i).to_string();
                specs.push(TerminalSpec { tms_id, label: label.clone(), count: None, ..t.clone() });
            }
        }
        if specs.len() > MAX_TERMINALS {
            return Err(FleetError::Rule(format!("{} terminals; at most {MAX_TERMINALS}", specs.len())));
        }
        let mut seen = std::collections::HashSet::new();
        let mut terminals = Vec::with_capacity(specs.len());
        for spec in specs {
            if !seen.insert(spec.tms_id.clone()) {
                return Err(FleetError::Rule(format!("TMS ID {} is declared twice", spec.tms_id)));
            }
            if !file.merchant.iter().any(|m| m.name == spec.merchant) {
                return Err(FleetError::Rule(format!(
                    "terminal {} names merchant {:?}, which is not declared under [[merchant]]",
                    spec.tms_id, spec.merchant
                )));
            }
            let mut config = terminal_config(&spec, dir)?;
            config.terminal.identity.tms_id = spec.tms_id.clone();
            terminals.push(FleetTerminal { spec, config });
        }
        for m in &file.merchant {
            if m.local_kick != "server" && m.local_kick != "browser" {
                return Err(FleetError::Rule(format!(
                    "merchant {:?}: local_kick is {:?}; use \"server\" or \"browser\"",
                    m.name, m.local_kick
                )));
            }
        }
        Ok(Fleet { merchants: file.merchant, terminals })
    }
}

fn terminal_config(spec: &TerminalSpec, dir: &Path) -> Result<FileConfig, FleetError> {
    if let Some(path) = &spec.config {
        let path = dir.join(path);
        let text = std::fs::read_to_string(&path)
            .map_err(|source| FleetError::Read { path: path.clone(), source })?;
        return toml::from_str(&text)
            .map_err(|e| FleetError::Invalid { what: path.display().to_string(), detail: e.to_string() });
    }
    let name = spec.base.as_deref().unwrap_or("migrated-2.0");
    let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name) else {
        let known: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
        return Err(FleetError::Rule(format!(
            "terminal {}: no built-in config {name:?}; known: {}",
            spec.tms_id,
            known.join(", ")
        )));
    };
    toml::from_str(text)
        .map_err(|e| FleetError::Invalid { what: format!("built-in {name}"), detail: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccv_terminal::MigrationState;

    #[test]
    fn the_default_fleet_shows_every_situation_of_the_guide() {
        let fleet = Fleet::default_fleet().expect("the default fleet loads");
        let state = |id: &str| {
            fleet.terminals.iter().find(|t| t.spec.tms_id == id).expect(id).config.terminal.migration_state()
        };
        assert_eq!(state("29000001"), MigrationState::CloudConnect2);
        assert_eq!(state("11300002"), MigrationState::CloudConnect1);
        assert_eq!(state("70000001"), MigrationState::TmsChangedNotInstalled, "R7");
        let r10 = fleet.terminals.iter().find(|t| t.spec.tms_id == "29000010").expect("R10");
        assert!(!r10.spec.whitelisted);
        let r21 = fleet.terminals.iter().find(|t| t.spec.tms_id == "21000000").expect("R21");
        assert_eq!(r21.config.terminal.trigger_port, 0);
        let r23 = fleet.terminals.iter().find(|t| t.spec.tms_id == "23000001").expect("R23");
        assert!(!r23.config.terminal.network.dns_configured);
        let r13: Vec<_> = fleet.terminals.iter().filter(|t| t.spec.merchant == "r13-shop").collect();
        assert_eq!(r13.len(), 2);
        assert_eq!(fleet.terminals.len(), 8);
    }

    #[test]
    fn ranges_expand_and_mistakes_are_named() {
        let text = r#"
            [[merchant]]
            name = "load"
            api_key = "t_00000000000000000000000000000000"
            [[terminal]]
            tms_id = "30000000"
            count = 1000
            merchant = "load"
            whitelisted = true
        "#;
        let fleet = Fleet::parse(text, "test", Path::new(".")).expect("parses");
        assert_eq!(fleet.terminals.len(), 1000);
        assert_eq!(fleet.terminals[999].config.terminal.identity.tms_id, "30000999");
        let unknown_merchant = text.replace(
            "merchant = \"load\"\n            whitelisted",
            "merchant = \"x\"\n            whitelisted",
        );
        let err = Fleet::parse(&unknown_merchant, "test", Path::new(".")).expect_err("unknown merchant");
        assert!(err.to_string().contains("not declared"), "{err}");
        let twice = format!("{text}\n[[terminal]]\ntms_id = \"30000001\"\nmerchant = \"load\"\n");
        let letters = text.replace("\"30000000\"", "\"A1\"");
        assert!(
            Fleet::parse(&letters, "test", Path::new("."))
                .expect_err("letters")
                .to_string()
                .contains("digits")
        );
        assert!(
            Fleet::parse(&twice, "test", Path::new(".")).expect_err("twice").to_string().contains("twice")
        );
        let base = format!("{text}\n[[terminal]]\ntms_id = \"1\"\nmerchant = \"load\"\nbase = \"nope\"\n");
        assert!(
            Fleet::parse(&base, "test", Path::new(".")).expect_err("base").to_string().contains("known:")
        );
        let past_the_end = text.replace("\"30000000\"", "\"18446744073709551615\"");
        assert!(
            Fleet::parse(&past_the_end, "test", Path::new("."))
                .expect_err("overflow")
                .to_string()
                .contains("largest")
        );
        let too_many = text.replace("count = 1000", "count = 20000");
        assert!(Fleet::parse(&too_many, "test", Path::new(".")).is_err());
        assert!(Fleet::parse("[[nonsense]]", "test", Path::new(".")).is_err());
    }
}
