//! The Cloud Connect 2.0 cloud kick as both ends see it (ours to define; see `docs/CLOUD_KICK.md`): the topic
//! layout `ccv/{MgtSubscription}/{tmsId}/cmd` (commands to a terminal) and `ccv/{MgtSubscription}/{tmsId}/evt`
//! (events from it), the commands published on the first and the events a terminal answers with on the second,
//! as serde types.
//!
//! Times are Unix milliseconds (UTC) written by the sender; nothing here reads a clock.

use serde::{Deserialize, Serialize};

use crate::reason::{KickRefusal, TasDialFailure, WireReason};

/// The ALPN protocol AWS IoT Core requires for MQTT with client certificates on port 443.
pub const AWS_IOT_ALPN: &str = "x-amzn-mqtt-ca";
/// Root segment of every cloud-kick topic.
pub const ROOT: &str = "ccv";
/// Last segment of a terminal's command topic.
pub const CMD: &str = "cmd";
/// Last segment of a terminal's event topic.
pub const EVT: &str = "evt";
/// The `MgtSubscription` value the TMS sets for Dutch CAT terminals (R6).
pub const DEFAULT_MGT_SUBSCRIPTION: &str = "NL-CAT";

/// Which of a terminal's two topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `.../cmd`: commands (cloud kicks) to the terminal.
    Cmd,
    /// `.../evt`: events from the terminal.
    Evt,
}

/// A parsed cloud-kick topic `ccv/{mgt_subscription}/{tms_id}/{cmd|evt}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalTopic<'a> {
    /// The `MgtSubscription` TMS parameter, for example `NL-CAT`.
    pub mgt_subscription: &'a str,
    /// The terminal's TMS ID.
    pub tms_id: &'a str,
    /// Command or event topic.
    pub channel: Channel,
}

impl<'a> TerminalTopic<'a> {
    /// Parses a topic name (or a filter, where `+` may stand in any level). Returns `None` for
    /// anything that is not exactly `ccv/X/Y/cmd` or `ccv/X/Y/evt`.
    pub fn parse(topic: &'a str) -> Option<Self> {
        let mut it = topic.split('/');
        let (root, sub, tms, last) = (it.next()?, it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || root != ROOT || sub.is_empty() || tms.is_empty() {
            return None;
        }
        let channel = match last {
            CMD => Channel::Cmd,
            EVT => Channel::Evt,
            _ => return None,
        };
        Some(TerminalTopic { mgt_subscription: sub, tms_id: tms, channel })
    }
}

/// The command topic of a terminal: `ccv/{mgt_subscription}/{tms_id}/cmd`.
pub fn cmd_topic(mgt_subscription: &str, tms_id: &str) -> String {
    format!("{ROOT}/{mgt_subscription}/{tms_id}/{CMD}")
}

/// The event topic of a terminal: `ccv/{mgt_subscription}/{tms_id}/evt`.
pub fn evt_topic(mgt_subscription: &str, tms_id: &str) -> String {
    format!("{ROOT}/{mgt_subscription}/{tms_id}/{EVT}")
}

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
    /// A `kick-refused` answer carrying the reason's message.
    pub fn kick_refused(kick_id: String, reference: String, reason: KickRefusal) -> Event {
        Event::KickRefused {
            kick_id,
            reference,
            reason,
            message: reason.message().to_owned(),
            duplicate: false,
        }
    }

    /// A `tas-dial-failed` event carrying the reason's message.
    pub fn tas_dial_failed(kick_id: String, reference: String, reason: TasDialFailure) -> Event {
        Event::TasDialFailed { kick_id, reference, reason, message: reason.message().to_owned() }
    }

    /// The kick this event answers, when it names one.
    pub fn kick_id(&self) -> Option<&str> {
        match self {
            Event::KickAccepted { kick_id, .. }
            | Event::KickRefused { kick_id, .. }
            | Event::TasConnected { kick_id, .. }
            | Event::TasDialFailed { kick_id, .. } => Some(kick_id),
            Event::Error { kick_id, .. } => kick_id.as_deref(),
        }
    }

    /// The same answer marked as answering a redelivered kick (`kick-accepted` and `kick-refused` only).
    pub fn as_duplicate(&self) -> Event {
        let mut again = self.clone();
        if let Event::KickAccepted { duplicate, .. } | Event::KickRefused { duplicate, .. } = &mut again {
            *duplicate = true;
        }
        again
    }

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
        let dup = Event::KickAccepted { kick_id: "k".into(), reference: "r".into(), duplicate: false }
            .as_duplicate();
        assert_eq!(
            dup.to_json(),
            br#"{"type":"kick-accepted","kickId":"k","reference":"r","duplicate":true}"#
        );
        assert_eq!(dup.kick_id(), Some("k"));
        let refused = Event::kick_refused("k".into(), "r".into(), KickRefusal::Busy);
        assert!(
            matches!(&refused, Event::KickRefused { message, .. } if message == KickRefusal::Busy.message())
        );
    }

    #[test]
    fn terminal_topics() {
        let t = cmd_topic("NL-CAT", "12345678");
        assert_eq!(t, "ccv/NL-CAT/12345678/cmd");
        let p = TerminalTopic::parse(&t).expect("a command topic");
        assert_eq!((p.mgt_subscription, p.tms_id, p.channel), ("NL-CAT", "12345678", Channel::Cmd));
        assert_eq!(TerminalTopic::parse(&evt_topic("X", "Y")).map(|p| p.channel), Some(Channel::Evt));
        assert_eq!(TerminalTopic::parse("ccv/X/Y/other"), None);
        assert_eq!(TerminalTopic::parse("ccv/X/Y/cmd/extra"), None);
        assert_eq!(TerminalTopic::parse("ccv//Y/cmd"), None);
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_command(&bytes);
        }

        #[test]
        fn topic_parse_never_panics(s in "\\PC{0,300}") {
            let _ = TerminalTopic::parse(&s);
        }
    }
}
