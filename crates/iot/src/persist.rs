//! Persistent sessions that outlive the endpoint process, as AWS IoT Core keeps them (subscriptions and queued
//! QoS 1 messages, for the session expiry): a JSON snapshot of every persistent session in a state file, written
//! atomically (a temporary file, synced, then renamed) shortly after each change of a persistent session and at
//! shutdown, and read back at start. A session whose expiry passed while the endpoint was away is not restored.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The state file format's version.
const VERSION: u32 = 1;

/// Largest state file read back (a bigger one is refused, not read).
pub const MAX_STATE_BYTES: u64 = 64 * 1024 * 1024;

/// What the state file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Snapshot {
    pub(crate) version: u32,
    pub(crate) sessions: Vec<SavedSession>,
}

/// One persistent session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SavedSession {
    pub(crate) client_id: String,
    /// Topic filter → QoS (0 or 1).
    pub(crate) subscriptions: BTreeMap<String, u8>,
    /// Messages waiting for the client, oldest first (QoS 1).
    pub(crate) queued: Vec<SavedMessage>,
    /// When the session expires if nobody connects, epoch milliseconds.
    pub(crate) expires_at_ms: u64,
}

/// A queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SavedMessage {
    pub(crate) topic: String,
    /// The payload, base64.
    pub(crate) payload: String,
}

impl SavedMessage {
    pub(crate) fn new(topic: &str, payload: &[u8]) -> SavedMessage {
        SavedMessage {
            topic: topic.to_owned(),
            payload: base64::engine::general_purpose::STANDARD.encode(payload),
        }
    }

    pub(crate) fn payload(&self) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD.decode(&self.payload).ok()
    }
}

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// Reading or writing failed.
    #[error("IoT endpoint state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a state file of this version.
    #[error(
        "IoT endpoint state file {path} is unreadable ({detail}); move it away to start without sessions"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Snapshot {
    pub(crate) fn new(sessions: Vec<SavedSession>) -> Snapshot {
        Snapshot { version: VERSION, sessions }
    }

    /// Reads `path`; a missing file is an empty snapshot.
    pub(crate) fn load(path: &Path) -> Result<Snapshot, PersistError> {
        let io = |source| PersistError::Io { path: path.to_owned(), source };
        let len = match std::fs::metadata(path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Snapshot::new(Vec::new())),
            Err(e) => return Err(io(e)),
        };
        let invalid = |detail: String| PersistError::Invalid { path: path.to_owned(), detail };
        if len > MAX_STATE_BYTES {
            return Err(invalid(format!("{len} bytes; at most {MAX_STATE_BYTES}")));
        }
        let bytes = std::fs::read(path).map_err(io)?;
        let snapshot: Snapshot = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if snapshot.version != VERSION {
            return Err(invalid(format!("version {}, this endpoint writes {VERSION}", snapshot.version)));
        }
        Ok(snapshot)
    }

    /// Writes `path` atomically: a temporary file beside it, synced, then renamed over it.
    pub(crate) fn save(&self, path: &Path) -> Result<(), PersistError> {
        let io = |source| PersistError::Io { path: path.to_owned(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("tmp");
        let json = serde_json::to_vec(self).map_err(|e| io(std::io::Error::other(e)))?;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&json).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_round_trips_through_its_file_and_bad_files_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/iot-sessions.json");
        assert_eq!(Snapshot::load(&path).expect("a missing file is empty").sessions, vec![]);
        let s = Snapshot::new(vec![SavedSession {
            client_id: "T1".into(),
            subscriptions: [("ccv/NL-CAT/T1/cmd".to_owned(), 1)].into(),
            queued: vec![SavedMessage::new("ccv/NL-CAT/T1/cmd", b"{\"type\":\"connect-tas\"}")],
            expires_at_ms: 1_800_000_000_000,
        }]);
        s.save(&path).expect("saved");
        let back = Snapshot::load(&path).expect("loaded");
        assert_eq!(back, s);
        assert_eq!(back.sessions[0].queued[0].payload().as_deref(), Some(&b"{\"type\":\"connect-tas\"}"[..]));
        std::fs::write(&path, b"{").expect("write");
        let err = Snapshot::load(&path).expect_err("not JSON").to_string();
        assert!(err.contains("unreadable") && err.contains("move it away"), "{err}");
        std::fs::write(&path, br#"{"version": 9, "sessions": []}"#).expect("write");
        assert!(Snapshot::load(&path).expect_err("another version").to_string().contains("version 9"));
    }
}
