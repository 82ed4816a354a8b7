//! The terminal's non-volatile state on disk (`[io] state_file`): its configuration as it is now and its payment
//! memory (journal, totals, STAN and receipt counters), as [`ccv_terminal::NonVolatile`] in JSON.
//!
//! Written atomically (a temporary file in the same directory, synced, renamed over the old one, the directory
//! synced), so a kill at any moment leaves the old state or the new one, never a mix. The driver writes it when
//! the state changed: right after a journal entry and before the response that reports it goes out, and at the end
//! of each step; so a journal entry the POS has seen is on disk, and a STAN that went out is never handed out
//! again after a restart.

use std::io::Write;
use std::path::{Path, PathBuf};

use ccv_terminal::{NonVolatile, TerminalConfig};

/// Largest state file read (a full journal of 10,000 entries is a few MiB).
const MAX_STATE_BYTES: u64 = 64 * 1024 * 1024;

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing failed.
    #[error("terminal state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a terminal state.
    #[error(
        "terminal state file {path} is unreadable ({detail}); move it away to start from the configuration"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The file belongs to another terminal.
    #[error("terminal state file {path} belongs to terminal {found}, not {expected}")]
    OtherTerminal {
        /// The file.
        path: PathBuf,
        /// Its TMS ID.
        found: String,
        /// This terminal's TMS ID.
        expected: String,
    },
}

/// Reads the state of terminal `tms_id` from `path`; `None` when there is none yet.
pub fn load(path: &Path, tms_id: &str) -> Result<Option<NonVolatile>, StateError> {
    let io = |source| StateError::Io { path: path.to_owned(), source };
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    if len > MAX_STATE_BYTES {
        return Err(StateError::Corrupt {
            path: path.to_owned(),
            detail: format!("{len} bytes; at most {MAX_STATE_BYTES}"),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let nv: NonVolatile = serde_json::from_slice(&bytes)
        .map_err(|e| StateError::Corrupt { path: path.to_owned(), detail: e.to_string() })?;
    if nv.config.identity.tms_id != tms_id {
        return Err(StateError::OtherTerminal {
            path: path.to_owned(),
            found: nv.config.identity.tms_id,
            expected: tms_id.to_owned(),
        });
    }
    Ok(Some(nv))
}

/// The configuration to start with: the stored one, with the addresses and behaviour knobs of the file
/// configuration `given` (where this run's TAS and MQT service are, and the simulation's time-outs).
pub fn merge(stored: TerminalConfig, given: &TerminalConfig) -> TerminalConfig {
    let mut c = stored;
    c.tms.tas = given.tms.tas.clone();
    c.installed.tas = given.installed.tas.clone();
    c.tms.mqt_service = given.tms.mqt_service.clone();
    c.installed.mqt_service = given.installed.mqt_service.clone();
    c.profile = given.profile.clone();
    c
}

/// Writes `nv` to `path` atomically and durably.
pub fn save(path: &Path, nv: &NonVolatile) -> Result<(), StateError> {
    let io = |source| StateError::Io { path: path.to_owned(), source };
    let json = serde_json::to_vec(nv)
        .map_err(|e| StateError::Corrupt { path: path.to_owned(), detail: e.to_string() })?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&json).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    // The rename is durable once the directory is.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccv_terminal::{HostPort, Terminal};

    #[test]
    fn saved_state_reads_back_and_belongs_to_its_terminal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("terminals").join("12345678.json");
        assert!(load(&path, "12345678").expect("no file is no state").is_none());
        let config = TerminalConfig { trigger_port: 0, ..TerminalConfig::default() };
        let nv = Terminal::new(config, 1).non_volatile();
        save(&path, &nv).expect("saved");
        assert!(!path.with_extension("json.tmp").exists(), "the temporary file is renamed");
        assert_eq!(load(&path, "12345678").expect("reads").expect("state"), nv);
        assert!(matches!(load(&path, "87654321"), Err(StateError::OtherTerminal { .. })));
        std::fs::write(&path, b"{not json").expect("write");
        assert!(matches!(load(&path, "12345678"), Err(StateError::Corrupt { .. })));
    }

    #[test]
    fn merge_keeps_the_stored_state_and_this_runs_addresses() {
        let mut stored = TerminalConfig { trigger_port: 0, activated: false, ..TerminalConfig::default() };
        stored.installed.tas = HostPort::new("old", 1);
        let mut given = TerminalConfig::default();
        given.installed.tas = HostPort::new("localhost", 5555);
        given.profile.card_timeout_ms = 1;
        let merged = merge(stored, &given);
        assert_eq!((merged.trigger_port, merged.activated), (0, false), "the terminal's own changes stay");
        assert_eq!(merged.installed.tas, HostPort::new("localhost", 5555));
        assert_eq!(merged.profile.card_timeout_ms, 1);
    }
}
