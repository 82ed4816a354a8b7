//! The cloud-kick wire format (ours to define; see `docs/CLOUD_KICK.md`): commands published to a
//! terminal's `cmd` topic and the events it answers with on its `evt` topic, as serde types, plus a
//! small sans-IO [`KickLedger`] that makes duplicate kick ids idempotent and ignores expired kicks.
//!
//! Times are Unix milliseconds (UTC) passed in by the caller; nothing here reads a clock.

use std::collections::{HashMap, VecDeque};

use ccv_terminal::{KickRefusal, TasDialFailure};
use serde::{Deserialize, Serialize};

/// Largest command payload a terminal accepts (the AWS IoT Core payload limit).
pub const MAX_PAYLOAD_BYTES: usize = 128 * 1024;

/// The one command type this version defines.
pub const CONNECT_TAS: &str = "connect-tas";

/// A command sent to a terminal on `ccv/{MgtSubscription}/{tmsId}/cmd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Command {
    /// "Connect to the PSP (TAS)" (R9): dial the TAS for payment `reference`.
    ConnectTas(ConnectTas),
}

/// The body of a `connect-tas` cloud kick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectTas {
    /// Unique per kick; a redelivered kick carries the same id.
    pub kick_id: String,
    /// The payment API's transaction reference.
    pub reference: String,
    /// TAS host to dial instead of the configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// TAS port to dial instead of the configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Unix time in milliseconds after which the kick must be ignored.
    pub expires_at: u64,
}

/// Why a command payload could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Bigger than [`MAX_PAYLOAD_BYTES`].
    #[error("command payload is {len} bytes; at most {MAX_PAYLOAD_BYTES} are accepted")]
    TooLarge {
        /// Payload length.
        len: usize,
    },
    /// Not JSON at all.
    #[error("command payload is not JSON: {detail}")]
    NotJson {
        /// The JSON parser's message (line and column).
        detail: String,
    },
    /// JSON, but not an object with a string `type`.
    #[error("command payload must be a JSON object with a string field \"type\"")]
    MissingType,
    /// A `type` this terminal does not know.
    #[error("unknown command type {0:?}; known: \"connect-tas\"")]
    UnknownType(String),
    /// A known type with missing or wrongly typed fields.
    #[error("invalid {kind} command: {detail}")]
    InvalidFields {
        /// The command type.
        kind: String,
        /// What is wrong.
        detail: String,
    },
}

impl CommandError {
    /// The error code used in the [`Event::Error`] answer.
    pub fn code(&self) -> ErrorCode {
        match self {
            CommandError::UnknownType(_) => ErrorCode::UnknownCommand,
            _ => ErrorCode::MalformedPayload,
        }
    }
}

/// Parses a command payload. Never panics; every failure is a typed [`CommandError`].
pub fn parse_command(payload: &[u8]) -> Result<Command, CommandError> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(CommandError::TooLarge { len: payload.len() });
    }
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| CommandError::NotJson { detail: e.to_string() })?;
    let kind = value.get("type").and_then(|t| t.as_str()).ok_or(CommandError::MissingType)?.to_owned();
    if kind != CONNECT_TAS {
        return Err(CommandError::UnknownType(kind));
    }
    serde_json::from_value(value).map_err(|e| CommandError::InvalidFields { kind, detail: e.to_string() })
}

/// Error codes of [`Event::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The payload was not a well-formed command.
    MalformedPayload,
    /// The command `type` is unknown.
    UnknownCommand,
}

/// An event a terminal publishes on `ccv/{MgtSubscription}/{tmsId}/evt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Event {
    /// The kick was accepted; the terminal is dialling the TAS.
    #[serde(rename_all = "camelCase")]
    KickAccepted {
        /// The kick's id.
        kick_id: String,
        /// The payment reference.
        reference: String,
        /// Set when this answers a redelivered kick that was already handled.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        duplicate: bool,
    },
    /// The kick was refused.
    #[serde(rename_all = "camelCase")]
    KickRefused {
        /// The kick's id.
        kick_id: String,
        /// The payment reference.
        reference: String,
        /// Why (the terminal core's typed reason, e.g. `busy`, `kick_expired`, `not_flat_outgoing`).
        reason: KickRefusal,
        /// What the reason means and what to do.
        message: String,
        /// Set when this answers a redelivered kick that was already handled.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        duplicate: bool,
    },
    /// The terminal reached the TAS for this kick.
    #[serde(rename_all = "camelCase")]
    TasConnected {
        /// The kick's id.
        kick_id: String,
        /// The payment reference.
        reference: String,
        /// TAS host dialled.
        host: String,
        /// TAS port dialled.
        port: u16,
    },
    /// Dialling the TAS for this kick failed.
    #[serde(rename_all = "camelCase")]
    TasDialFailed {
        /// The kick's id.
        kick_id: String,
        /// The payment reference.
        reference: String,
        /// Why (`dns`, `refused`, `timed_out`, `handshake`, `network`).
        reason: TasDialFailure,
        /// What the reason means and what to do.
        message: String,
    },
    /// A command could not be handled at all.
    #[serde(rename_all = "camelCase")]
    Error {
        /// What kind of failure.
        code: ErrorCode,
        /// Human-readable detail.
        detail: String,
        /// The kick id, when one could be read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kick_id: Option<String>,
    },
}

impl Event {
    /// The error event answering an unparsable command.
    pub fn from_command_error(err: &CommandError) -> Event {
        Event::Error { code: err.code(), detail: err.to_string(), kick_id: None }
    }

    /// Serialises to the JSON bytes published on the event topic.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising these plain structs (strings, integers, enums) cannot fail.
        serde_json::to_vec(self).expect("event types contain only JSON-representable fields")
    }

    /// Parses an event payload.
    pub fn from_json(payload: &[u8]) -> Result<Event, serde_json::Error> {
        serde_json::from_slice(payload)
    }
}

impl Command {
    /// Serialises to the JSON bytes published on the command topic.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising these plain structs (strings, integers) cannot fail.
        serde_json::to_vec(self).expect("command types contain only JSON-representable fields")
    }
}

/// What to do with an incoming kick, according to the [`KickLedger`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KickDecision {
    /// First time seen and not expired: act on it, then [`KickLedger::record`] the answer.
    New,
    /// Already handled: publish this (the earlier answer, marked `duplicate`) and do nothing else.
    Duplicate(Event),
    /// Expired: publish this refusal and do nothing else.
    Expired(Event),
}

/// Remembers the answers to the last `capacity` kick ids so a QoS 1 redelivery is answered again
/// without dialling the TAS a second time.
#[derive(Debug)]
pub struct KickLedger {
    capacity: usize,
    order: VecDeque<String>,
    answers: HashMap<String, Event>,
}

impl KickLedger {
    /// A ledger remembering at most `capacity` kicks (oldest forgotten first).
    pub fn new(capacity: usize) -> Self {
        KickLedger { capacity: capacity.max(1), order: VecDeque::new(), answers: HashMap::new() }
    }

    /// Decides what to do with `kick` at Unix time `now_ms`.
    pub fn check(&self, kick: &ConnectTas, now_ms: u64) -> KickDecision {
        if let Some(previous) = self.answers.get(&kick.kick_id) {
            let mut again = previous.clone();
            if let Event::KickAccepted { duplicate, .. } | Event::KickRefused { duplicate, .. } = &mut again {
                *duplicate = true;
            }
            return KickDecision::Duplicate(again);
        }
        if now_ms >= kick.expires_at {
            return KickDecision::Expired(Event::KickRefused {
                kick_id: kick.kick_id.clone(),
                reference: kick.reference.clone(),
                reason: KickRefusal::KickExpired,
                message: KickRefusal::KickExpired.message().to_owned(),
                duplicate: false,
            });
        }
        KickDecision::New
    }

    /// Records the answer given to `kick_id` (a `kick-accepted` or `kick-refused` event).
    pub fn record(&mut self, kick_id: &str, answer: Event) {
        if self.answers.insert(kick_id.to_owned(), answer).is_none() {
            self.order.push_back(kick_id.to_owned());
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.answers.remove(&old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KICK: &str = r#"{"type":"connect-tas","kickId":"k-1","reference":"tr-1","host":"127.0.0.1","port":5555,"expiresAt":1800000000000}"#;

    #[test]
    fn parses_the_documented_example() {
        let Command::ConnectTas(k) = parse_command(KICK.as_bytes()).expect("documented example parses");
        assert_eq!(k.kick_id, "k-1");
        assert_eq!(k.port, Some(5555));
        assert_eq!(Command::ConnectTas(k).to_json(), KICK.as_bytes());
    }

    #[test]
    fn typed_errors() {
        assert!(matches!(parse_command(b"{"), Err(CommandError::NotJson { .. })));
        assert_eq!(parse_command(b"[1]"), Err(CommandError::MissingType));
        let unknown = parse_command(br#"{"type":"reboot"}"#).expect_err("unknown type");
        assert_eq!(unknown, CommandError::UnknownType("reboot".into()));
        assert_eq!(unknown.code(), ErrorCode::UnknownCommand);
        let missing = parse_command(br#"{"type":"connect-tas","kickId":"k"}"#).expect_err("fields missing");
        assert!(matches!(missing, CommandError::InvalidFields { .. }), "{missing:?}");
        let big = vec![b' '; MAX_PAYLOAD_BYTES + 1];
        assert!(matches!(parse_command(&big), Err(CommandError::TooLarge { .. })));
    }

    #[test]
    fn event_json_shapes() {
        let e = Event::KickRefused {
            kick_id: "k".into(),
            reference: "r".into(),
            reason: KickRefusal::KickExpired,
            message: "m".into(),
            duplicate: false,
        };
        assert_eq!(
            e.to_json(),
            br#"{"type":"kick-refused","kickId":"k","reference":"r","reason":"kick_expired","message":"m"}"#
        );
        let err = Event::from_command_error(&CommandError::UnknownType("x".into()));
        let text = String::from_utf8(err.to_json()).expect("JSON is UTF-8");
        assert!(text.starts_with(r#"{"type":"error","code":"unknown-command""#), "{text}");
        assert_eq!(Event::from_json(&e.to_json()).expect("round trip"), e);
    }

    #[test]
    fn ledger_idempotency_and_expiry() {
        let Command::ConnectTas(k) = parse_command(KICK.as_bytes()).expect("example parses");
        let mut ledger = KickLedger::new(2);
        assert_eq!(ledger.check(&k, 1_000), KickDecision::New);
        let accepted = Event::KickAccepted {
            kick_id: k.kick_id.clone(),
            reference: k.reference.clone(),
            duplicate: false,
        };
        ledger.record(&k.kick_id, accepted);
        match ledger.check(&k, 1_000) {
            KickDecision::Duplicate(Event::KickAccepted { duplicate: true, .. }) => {}
            other => panic!("expected a duplicate answer, got {other:?}"),
        }
        let late = ConnectTas { kick_id: "k-2".into(), ..k.clone() };
        assert!(matches!(ledger.check(&late, k.expires_at), KickDecision::Expired(_)));
        for i in 0..5 {
            ledger.record(&format!("x{i}"), Event::from_command_error(&CommandError::MissingType));
        }
        assert_eq!(ledger.check(&k, 1_000), KickDecision::New, "oldest entries are forgotten");
    }

    /// The PUBLISH frame printed in docs/CLOUD_KICK.md, encoded by rumqttc's codec.
    #[test]
    fn documented_publish_frame() {
        let mut p = rumqttc::mqttbytes::v4::Publish::new(
            crate::topics::cmd_topic("NL-CAT", "12345678"),
            rumqttc::mqttbytes::QoS::AtLeastOnce,
            KICK.as_bytes().to_vec(),
        );
        p.pkid = 1;
        let mut buf = bytes::BytesMut::new();
        rumqttc::mqttbytes::v4::Packet::Publish(p).write(&mut buf, usize::MAX).expect("encodes");
        let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
        let doc = include_str!("../../../docs/CLOUD_KICK.md");
        let from_doc: String = doc
            .lines()
            .filter(|l| {
                l.len() > 6 && l.as_bytes()[..4].iter().all(u8::is_ascii_hexdigit) && &l[4..6] == "  "
            })
            .map(|l| l[6..54.min(l.len())].split_whitespace().collect::<String>())
            .collect();
        assert_eq!(hex, from_doc, "docs/CLOUD_KICK.md frame differs from the codec's bytes");
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_command(&bytes);
        }
    }
}
