//! Everything that can happen to a terminal: the [`Input`] enum and its parts.

use serde::{Deserialize, Serialize};

use crate::cards::TestCard;
use crate::config::{HostPort, NetworkSettings, Parameters, SignatureAlgorithm};
use crate::reason::{MqttDownReason, TasDialFailure};
use crate::time::Timestamp;
use crate::version::SoftwareVersion;

/// One event from the outside world, fed with [`Terminal::handle_input`](crate::Terminal::handle_input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A key pressed on the terminal.
    Key(Key),
    /// A local kick (Cloud Connect 1.0) arrived on the LAN. Exactly one
    /// [`Output::KickReply`](crate::Output::KickReply) follows, in the same drain.
    LocalKick(LocalKick),
    /// A cloud kick (Cloud Connect 2.0) arrived over MQTT. A `kick-accepted` or `kick-refused`
    /// [`Event`](crate::Event) follows.
    CloudKick(CloudKick),
    /// A message on the terminal's MQTT command topic, as it arrived: the core reads it
    /// (`ccv_wire::cloud`), answers on the event topic and has the shell acknowledge it.
    CloudCommand(CloudCommand),
    /// The TAS link changed.
    Tas(TasEvent),
    /// The MQTT link changed.
    Mqtt(MqttEvent),
    /// An OPI message arrived on a channel (a request, or a `DeviceResponse`).
    Opi {
        /// Where it arrived.
        channel: Channel,
        /// The message.
        message: ccv_opi::Message,
    },
    /// Something happened at the card reader.
    Card(CardEvent),
    /// TMS changed a parameter (on the TMS side only: the terminal sees it at the next sync).
    TmsChange(TmsChange),
    /// The terminal contacts TMS (a sync without installation: R7, R14).
    ContactTms,
    /// The terminal's network settings changed.
    SetNetwork(NetworkSettings),
    /// The terminal is switched off.
    PowerOff,
    /// The terminal is switched on.
    PowerOn,
    /// Time passes: only timers fire.
    Tick,
}

/// A key on the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Key {
    /// A digit key 0..=9 (selects a menu item, or types a digit).
    Digit(u8),
    /// The `.` key (IP addresses).
    Dot,
    /// OK / JA (green).
    Ok,
    /// STOP (red): back one level, cancel.
    Stop,
    /// CORRECTIE (yellow): delete the last typed character.
    Clear,
    /// MENU: opens the START MENU from the idle screen.
    Menu,
}

impl Key {
    /// Parses one token of a key script: `0`..`9`, `.`, `OK`, `STOP`, `CLEAR`, `MENU`.
    pub fn from_token(t: &str) -> Option<Key> {
        match t {
            "OK" | "JA" => Some(Key::Ok),
            "STOP" => Some(Key::Stop),
            "CLEAR" | "CORR" => Some(Key::Clear),
            "MENU" => Some(Key::Menu),
            "." => Some(Key::Dot),
            _ => match t.as_bytes() {
                [d] if d.is_ascii_digit() => Some(Key::Digit(d - b'0')),
                _ => None,
            },
        }
    }

    /// Parses a key script: whitespace-separated tokens; a run of digits/dots types each character.
    pub fn parse_script(script: &str) -> Result<Vec<Key>, String> {
        let mut keys = Vec::new();
        for tok in script.split_whitespace() {
            if let Some(k) = Key::from_token(tok) {
                keys.push(k);
            } else if tok.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                keys.extend(tok.bytes().map(|b| if b == b'.' { Key::Dot } else { Key::Digit(b - b'0') }));
            } else {
                return Err(format!("unknown key {tok:?} (use digits, '.', OK, STOP, CLEAR, MENU)"));
            }
        }
        Ok(keys)
    }

    /// The token that [`Key::from_token`] reads back.
    pub fn token(self) -> String {
        match self {
            Key::Digit(d) => d.to_string(),
            Key::Dot => ".".to_owned(),
            Key::Ok => "OK".to_owned(),
            Key::Stop => "STOP".to_owned(),
            Key::Clear => "CLEAR".to_owned(),
            Key::Menu => "MENU".to_owned(),
        }
    }
}

/// A local kick as the IO shell received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalKick {
    /// Who sent it (e.g. `192.168.1.20:51234`), for the journal and logs.
    pub source: String,
    /// The local port it arrived on (checked against the trigger port, R1/R21).
    pub port: u16,
    /// The payment reference, if the kick named one.
    pub reference: Option<String>,
    /// A TAS to dial instead of the installed one.
    pub tas: Option<HostPort>,
}

/// A cloud kick as the IO shell received it from the MQTT command topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudKick {
    /// The unique kick id (duplicates are refused with `duplicate_kick`).
    pub kick_id: String,
    /// The payment reference.
    pub reference: Option<String>,
    /// When the kick expires.
    pub expires_at: Timestamp,
    /// A TAS to dial instead of the installed one.
    pub tas: Option<HostPort>,
}

/// A change of the TAS link, reported by the IO shell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TasEvent {
    /// The dial succeeded and the hand-shake is done.
    Connected,
    /// The dial failed.
    DialFailed(TasDialFailure),
    /// The TAS link closed.
    Disconnected,
}

/// A message received on the command topic (`ccv/{MgtSubscription}/{tmsId}/cmd`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudCommand {
    /// The shell's number for this delivery; the core's answer names it in [`Output::PublishMqtt`]'s `ack` so that
    /// the shell acknowledges (PUBACK) the message once it is answered.
    ///
    /// [`Output::PublishMqtt`]: crate::Output::PublishMqtt
    pub delivery: u64,
    /// The payload, unread.
    pub payload: Vec<u8>,
}

/// A change of the MQTT link, reported by the IO shell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MqttEvent {
    /// The MQTT session is up (CONNACK received, subscription done).
    Connected,
    /// A connection attempt failed (the IO shell keeps retrying with backoff).
    ConnectFailed(MqttDownReason),
    /// The session went down.
    Disconnected,
}

/// An OPI channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The FLAT-OUTGOING link to the TAS: requests, device requests and responses on one socket.
    Tas,
    /// Local channel 0: POS → terminal requests (`Default ITS`).
    Pos0,
    /// Local channel 1: terminal → POS device requests (`Default ITS`).
    Pos1,
}

impl Channel {
    /// The channel on which device requests go for a request that came in on `self`.
    pub fn device_channel(self) -> Channel {
        match self {
            Channel::Tas => Channel::Tas,
            Channel::Pos0 | Channel::Pos1 => Channel::Pos1,
        }
    }
}

/// Something at the card reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardEvent {
    /// A test card is presented (inserted or tapped).
    Presented(TestCard),
    /// The customer typed a PIN (the test cards' PIN is `1234`).
    Pin(String),
    /// The card was removed.
    Removed,
    /// The customer pressed STOP.
    CustomerCancel,
}

/// A change TMS makes to its copy of the parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TmsChange {
    /// `CCV Cloud Connection`.
    CloudConnection(bool),
    /// `MQT`.
    Mqt(bool),
    /// `MqtServiceEnable`.
    MqtServiceEnable(bool),
    /// `MqtServiceUseSsl`.
    MqtServiceUseSsl(bool),
    /// `MgtSubscription`.
    MgtSubscription(String),
    /// `SSL/TLS Signature Algorithm`.
    SignatureAlgorithm(SignatureAlgorithm),
    /// MQT service address and port.
    MqtService(HostPort),
    /// The TAS.
    Tas(HostPort),
    /// The software version to install.
    SoftwareTarget(Option<SoftwareVersion>),
    /// Replace the whole set.
    All(Parameters),
}

impl TmsChange {
    /// Applies the change to a parameter set.
    pub fn apply(self, p: &mut Parameters) {
        match self {
            TmsChange::CloudConnection(v) => p.cloud_connection = v,
            TmsChange::Mqt(v) => p.mqt = v,
            TmsChange::MqtServiceEnable(v) => p.mqt_service_enable = v,
            TmsChange::MqtServiceUseSsl(v) => p.mqt_service_use_ssl = v,
            TmsChange::MgtSubscription(v) => p.mgt_subscription = v,
            TmsChange::SignatureAlgorithm(v) => p.signature_algorithm = v,
            TmsChange::MqtService(v) => p.mqt_service = v,
            TmsChange::Tas(v) => p.tas = v,
            TmsChange::SoftwareTarget(v) => p.software_target = v,
            TmsChange::All(v) => *p = v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_scripts_parse() {
        let keys = Key::parse_script("MENU 2 99999 OK 10.0.0.1 STOP CLEAR").unwrap();
        assert_eq!(keys[0], Key::Menu);
        assert_eq!(keys[1], Key::Digit(2));
        assert_eq!(keys.len(), 2 + 5 + 1 + 8 + 2);
        assert!(Key::parse_script("MENU FOO").is_err());
        for k in keys {
            assert_eq!(Key::from_token(&k.token()), Some(k));
        }
    }
}
