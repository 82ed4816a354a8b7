//! Everything a terminal wants done: the [`Output`] enum and its parts.

use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::config::HostPort;
use crate::input::Channel;
use crate::journal::JournalEntry;
use crate::reason::{KickRefusal, MqttDownReason, TasDialFailure};

pub use ccv_wire::cloud::AWS_IOT_ALPN;

/// One action for the IO shell, drained with [`Terminal::poll_output`](crate::Terminal::poll_output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// Dial the TAS (FLAT-OUTGOING), do the hand-shake, then report [`TasEvent`](crate::TasEvent)s.
    DialTas(DialTas),
    /// Close the TAS link (or give up dialling).
    CloseTas,
    /// Open (and keep open, reconnecting with backoff) the MQTT session with these settings.
    OpenMqtt(MqttSettings),
    /// Close the MQTT session and stop reconnecting.
    CloseMqtt,
    /// Send an OPI message on a channel.
    SendOpi {
        /// Where to send it.
        channel: Channel,
        /// The message.
        message: ccv_opi::Message,
    },
    /// The terminal's screen changed.
    Screen(Screen),
    /// Something happened that the terminal reports (logs, hooks, a dashboard); not a wire message.
    Publish(Event),
    /// Publish this event on the terminal's MQTT event topic (`docs/CLOUD_KICK.md`), then acknowledge the command
    /// delivery `ack` (from [`CloudCommand::delivery`](crate::CloudCommand::delivery)) when set.
    PublishMqtt {
        /// The event, as it goes on the wire.
        event: ccv_wire::cloud::Event,
        /// The command delivery it answers.
        ack: Option<u64>,
    },
    /// A journal entry was written (always before the response that reports it).
    Journal(JournalEntry),
    /// The answer to the [`LocalKick`](crate::LocalKick) just handled.
    KickReply(KickReply),
}

/// Where and why to dial the TAS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialTas {
    /// The TAS.
    pub tas: HostPort,
    /// The terminal's TMS ID (for the hand-shake).
    pub tms_id: String,
    /// The payment reference from the kick, if any (for the hand-shake).
    pub reference: Option<String>,
    /// Which kick caused the dial.
    pub kick: KickKind,
}

/// The two kinds of kick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KickKind {
    /// Cloud Connect 1.0.
    Local,
    /// Cloud Connect 2.0.
    Cloud,
}

/// The MQTT session the terminal wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MqttSettings {
    /// MQT service host (also the TLS SNI).
    pub host: String,
    /// MQT service port (443).
    pub port: u16,
    /// MQTT client ID (the TMS ID).
    pub client_id: String,
    /// `MgtSubscription` (e.g. `NL-CAT`).
    pub subscription: String,
    /// Topic the terminal subscribes to for commands: `ccv/{MgtSubscription}/{tmsId}/cmd`.
    pub command_topic: String,
    /// Topic the terminal publishes events on: `ccv/{MgtSubscription}/{tmsId}/evt`.
    pub event_topic: String,
    /// Use TLS (`MqtServiceUseSsl`).
    pub tls: bool,
    /// ALPN to offer (`x-amzn-mqtt-ca` on port 443).
    pub alpn: Option<String>,
    /// Accept only SHA-256 signature schemes from the server (`SSL/TLS Signature Algorithm`).
    pub require_sha256: bool,
}

/// What the terminal shows: Dutch lines as on the device, and an English gloss.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Screen {
    /// The lines, top to bottom.
    pub lines: Vec<String>,
    /// What the screen means, in English.
    pub gloss: String,
}

impl Screen {
    /// A screen from lines and a gloss.
    pub fn new<I, S>(lines: I, gloss: impl Into<String>) -> Screen
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Screen { lines: lines.into_iter().map(Into::into).collect(), gloss: gloss.into() }
    }
}

/// A fingerprint of a screen: the same for equal screens (it tells the terminal whether the
/// screen changed without keeping a copy of the last one).
pub(crate) fn fingerprint(s: &Screen) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// A screen of fixed texts (at most two lines): the [`Screen`] it renders to, without owning
/// its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FixedScreen {
    lines: [&'static str; 2],
    len: usize,
    gloss: &'static str,
}

impl FixedScreen {
    /// One line.
    pub(crate) fn one(line: &'static str, gloss: &'static str) -> FixedScreen {
        FixedScreen { lines: [line, ""], len: 1, gloss }
    }

    /// Two lines.
    pub(crate) fn two(first: &'static str, second: &'static str, gloss: &'static str) -> FixedScreen {
        FixedScreen { lines: [first, second], len: 2, gloss }
    }

    fn lines(&self) -> &[&'static str] {
        &self.lines[..self.len]
    }
}

/// A screen the terminal keeps: owned text, or fixed texts rendered when it is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeptScreen {
    /// Text built at run time.
    Owned(Screen),
    /// Fixed texts.
    Fixed(FixedScreen),
}

impl KeptScreen {
    /// The screen.
    pub(crate) fn render(&self) -> Screen {
        match self {
            KeptScreen::Owned(s) => s.clone(),
            KeptScreen::Fixed(f) => Screen::new(f.lines().iter().copied(), f.gloss),
        }
    }

    /// [`fingerprint`] of [`Self::render`], without rendering.
    pub(crate) fn fingerprint(&self) -> u64 {
        match self {
            KeptScreen::Owned(s) => fingerprint(s),
            KeptScreen::Fixed(f) => {
                // A `[&str]` hashes as the `Vec<String>` of the same texts and a `&str` as the
                // `String` (the `Borrow` contract: `String: Borrow<str>`, `Vec<T>: Borrow<[T]>`), in
                // the order the derived `Hash` of `Screen` feeds its fields.
                let mut h = std::collections::hash_map::DefaultHasher::new();
                f.lines().hash(&mut h);
                f.gloss.hash(&mut h);
                h.finish()
            }
        }
    }
}

/// The answer to a local kick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum KickReply {
    /// Accepted: the terminal dials (or is already connected to) this TAS.
    Accepted {
        /// The TAS.
        tas: HostPort,
        /// The reference from the kick.
        reference: Option<String>,
    },
    /// Refused, with a typed reason.
    Refused {
        /// Why.
        reason: KickRefusal,
    },
}

/// An event the terminal publishes (on its MQTT event topic).
///
/// JSON: `{"type": "kick-refused", "kickId": "...", "reason": "busy", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", rename_all_fields = "camelCase")]
pub enum Event {
    /// A kick was accepted; the terminal dials the TAS.
    KickAccepted {
        /// Local or cloud.
        kick: KickKind,
        /// The cloud kick id.
        kick_id: Option<String>,
        /// The payment reference.
        reference: Option<String>,
        /// The TAS dialled, `host:port`.
        tas: String,
    },
    /// A kick was refused.
    KickRefused {
        /// Local or cloud.
        kick: KickKind,
        /// The cloud kick id.
        kick_id: Option<String>,
        /// Why.
        reason: KickRefusal,
        /// What it means and what to do.
        message: String,
    },
    /// The TAS link is up.
    TasConnected {
        /// The payment reference of the kick.
        reference: Option<String>,
        /// The TAS, `host:port`.
        tas: String,
    },
    /// Dialling the TAS failed.
    TasDialFailed {
        /// Why.
        reason: TasDialFailure,
        /// What it means and what to do.
        message: String,
    },
    /// The TAS link closed.
    TasDisconnected,
    /// The MQTT link is down (or not wanted) for this reason.
    MqttDown {
        /// Why.
        reason: MqttDownReason,
    },
    /// A hardware installation finished.
    InstallationComplete {
        /// The TMS ID installed.
        tms_id: String,
        /// The software version now running.
        software: String,
    },
    /// The terminal contacted TMS.
    TmsContacted,
    /// The day was closed.
    DayClosed {
        /// `true` when closed by hand in the manager menu.
        by_hand: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostPort;
    use crate::reason::KickRefusal;

    #[test]
    fn fixed_screens_fingerprint_as_their_rendering() {
        let screens = [
            FixedScreen::one("BETALING GESLAAGD", "approved"),
            FixedScreen::one("", ""),
            FixedScreen::two("MAESTRO", "VOER PINCODE IN", "enter PIN"),
            FixedScreen::two("PINCODE ONJUIST", "VOER PINCODE IN", "wrong PIN: enter PIN again"),
            FixedScreen::two("", "", ""),
        ];
        for f in screens {
            let kept = KeptScreen::Fixed(f);
            let rendered = kept.render();
            assert_eq!(rendered.lines.len(), f.lines().len());
            assert_eq!(kept.fingerprint(), fingerprint(&rendered), "{f:?}");
            assert_eq!(KeptScreen::Owned(rendered.clone()).fingerprint(), fingerprint(&rendered));
        }
        assert_ne!(
            KeptScreen::Fixed(FixedScreen::one("A", "B")).fingerprint(),
            KeptScreen::Fixed(FixedScreen::two("A", "B", "")).fingerprint()
        );
    }

    #[test]
    fn json_shapes_are_the_documented_ones() {
        let e = Event::KickRefused {
            kick: KickKind::Cloud,
            kick_id: Some("k-2".into()),
            reason: KickRefusal::KickExpired,
            message: "m".into(),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"kick-refused","kick":"cloud","kickId":"k-2","reason":"kick_expired","message":"m"}"#
        );
        let r = Output::KickReply(KickReply::Refused { reason: KickRefusal::Busy });
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"kick_reply":{"status":"refused","reason":"busy"}}"#
        );
        let a = Output::KickReply(KickReply::Accepted {
            tas: HostPort::new("TAS.JFORCE.BE", 5555),
            reference: None,
        });
        let back: Output = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
        let d = Event::DayClosed { by_hand: true };
        assert_eq!(serde_json::to_string(&d).unwrap(), r#"{"type":"day-closed","byHand":true}"#);
    }
}
