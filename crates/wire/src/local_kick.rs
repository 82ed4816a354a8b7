//! The Cloud Connect 1.0 local kick over HTTP (ours; see `docs/LOCAL_KICK.md`): `POST /kick` with an optional
//! JSON body `{"reference": "...", "tas": {"host": "...", "port": 5555}}`, answered `202` with
//! [`KickAnswer::Accepted`] or `409` with [`KickAnswer::Refused`] and a typed reason.

use serde::{Deserialize, Serialize};

use crate::host_port::HostPort;
use crate::reason::{KickRefusal, WireReason};

/// The path the kick is posted to.
pub const KICK_PATH: &str = "/kick";

/// The JSON body of `POST /kick`; every field is optional and an empty body means `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KickRequestBody {
    /// The payment reference the POS works on, echoed in the answer and sent in the TAS hand-shake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The TAS to dial instead of the configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tas: Option<HostPort>,
}

/// The terminal's answer to a kick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum KickAnswer {
    /// `202`: the terminal starts dialling the TAS.
    Accepted {
        /// The terminal's TMS ID.
        #[serde(rename = "tmsId")]
        tms_id: String,
        /// The reference from the request, if any.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        reference: Option<String>,
        /// The TAS the terminal dials, `host:port`.
        tas: String,
    },
    /// `409`: the terminal refuses the kick.
    Refused {
        /// The terminal's TMS ID.
        #[serde(rename = "tmsId")]
        tms_id: String,
        /// Typed reason (`busy`, `not_flat_outgoing`, ...).
        reason: KickRefusal,
        /// What it means and what to do.
        message: String,
    },
}

impl KickAnswer {
    /// A refusal carrying the reason's message.
    pub fn refused(tms_id: String, reason: KickRefusal) -> KickAnswer {
        KickAnswer::Refused { tms_id, reason, message: reason.message().to_owned() }
    }

    /// The HTTP status the answer goes out with: `202` or `409`.
    pub fn http_status(&self) -> u16 {
        match self {
            KickAnswer::Accepted { .. } => 202,
            KickAnswer::Refused { .. } => 409,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_bodies() {
        let body: KickRequestBody =
            serde_json::from_str(r#"{"reference":"r-1","tas":{"host":"127.0.0.1","port":5555}}"#)
                .expect("body");
        assert_eq!(body.tas, Some(HostPort::new("127.0.0.1", 5555)));
        assert!(serde_json::from_str::<KickRequestBody>(r#"{"other":1}"#).is_err(), "unknown fields refused");
        let refused = KickAnswer::refused("12345678".into(), KickRefusal::Busy);
        assert_eq!(refused.http_status(), 409);
        let json = serde_json::to_string(&refused).expect("serialises");
        assert!(
            json.starts_with(r#"{"status":"refused","tmsId":"12345678","reason":"busy","message":"#),
            "{json}"
        );
        let accepted = KickAnswer::Accepted { tms_id: "1".into(), reference: None, tas: "h:1".into() };
        assert_eq!(
            serde_json::to_string(&accepted).expect("serialises"),
            r#"{"status":"accepted","tmsId":"1","tas":"h:1"}"#
        );
    }
}
