//! The TAS hand-shake (ours; see `docs/TAS_HANDSHAKE.md`): after dialling out, the terminal's first frame is an
//! OPI `ServiceRequest RequestType="Login"` whose `WorkstationID` is its TMS ID and whose `PrivateData` is a
//! small JSON object `{"protocol":"ccv-emu-tas/1","tmsId":..,"reference":..,"software":..}`. The TAS answers
//! `ServiceResponse RequestType="Login" OverallResult="Success"` with the same header, or closes.
//!
//! Both ends build and read it here: [`hello_message`] and [`check_answer`] on the terminal's side,
//! [`parse_hello`] and [`answer`] on the TAS's.

use ccv_opi::{
    Header, Message, OverallResult, PrivateData, ServiceRequest, ServiceRequestType, ServiceResponse,
};
use serde::{Deserialize, Serialize};

/// The protocol tag in the hand-shake.
pub const PROTOCOL: &str = "ccv-emu-tas/1";

/// The `RequestID` of the hand-shake.
pub const HELLO_REQUEST_ID: &str = "0";

/// Longest TMS ID the hand-shake accepts.
pub const MAX_TMS_ID_LEN: usize = 32;

/// The JSON in the hand-shake's `PrivateData`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hello {
    /// Always [`PROTOCOL`].
    pub protocol: String,
    /// The terminal's TMS ID.
    pub tms_id: String,
    /// The payment reference of the kick that made the terminal dial, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The terminal's software version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software: Option<String>,
}

/// Why a hand-shake was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// `PrivateData` is not the hand-shake JSON.
    #[error("PrivateData is not the hand-shake JSON: {detail}")]
    NotHelloJson {
        /// The JSON parser's message.
        detail: String,
    },
    /// Another protocol tag.
    #[error("protocol {got:?} is not {PROTOCOL:?}")]
    WrongProtocol {
        /// The tag sent.
        got: String,
    },
    /// The TMS ID is empty, too long or not ASCII letters and digits.
    #[error("TMS ID {tms_id:?} must be 1 to {MAX_TMS_ID_LEN} ASCII letters or digits")]
    BadTmsId {
        /// The TMS ID sent.
        tms_id: String,
    },
    /// `WorkstationID` and `tmsId` differ.
    #[error("WorkstationID {workstation_id:?} differs from tmsId {tms_id:?}")]
    IdMismatch {
        /// The header's WorkstationID.
        workstation_id: String,
        /// The hand-shake's TMS ID.
        tms_id: String,
    },
    /// The TAS answered with another result than `Success`.
    #[error("the TAS refused the hand-shake with {0}")]
    Refused(OverallResult),
    /// The TAS answered with another message than a `Login` response.
    #[error("the TAS answered the hand-shake with a {0}")]
    UnexpectedAnswer(String),
}

/// Builds the hand-shake message a terminal sends.
pub fn hello_message(tms_id: &str, reference: Option<&str>, software: Option<&str>) -> Message {
    let hello = Hello {
        protocol: PROTOCOL.to_owned(),
        tms_id: tms_id.to_owned(),
        reference: reference.map(str::to_owned),
        software: software.map(str::to_owned),
    };
    // Serialising a struct of strings to JSON cannot fail.
    let json = serde_json::to_string(&hello).unwrap_or_default();
    Message::ServiceRequest(ServiceRequest {
        header: Header {
            application_sender: Some(format!("ccv-emu-terminal/{}", software.unwrap_or("unknown"))),
            workstation_id: tms_id.to_owned(),
            pop_id: Some(tms_id.to_owned()),
            request_id: HELLO_REQUEST_ID.to_owned(),
        },
        request_type: ServiceRequestType::Login,
        pos_data: None,
        private_data: Some(PrivateData(json)),
    })
}

/// Reads the identity out of a Login request; the TMS ID must be 1..=32 ASCII letters or digits.
pub fn parse_hello(req: &ServiceRequest) -> Result<Hello, HandshakeError> {
    let hello = match &req.private_data {
        Some(PrivateData(json)) => serde_json::from_str::<Hello>(json)
            .map_err(|e| HandshakeError::NotHelloJson { detail: e.to_string() })?,
        None => Hello {
            protocol: PROTOCOL.to_owned(),
            tms_id: req.header.workstation_id.clone(),
            reference: None,
            software: None,
        },
    };
    if hello.protocol != PROTOCOL {
        return Err(HandshakeError::WrongProtocol { got: hello.protocol });
    }
    let id = &hello.tms_id;
    if id.is_empty() || id.len() > MAX_TMS_ID_LEN || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(HandshakeError::BadTmsId { tms_id: id.clone() });
    }
    if id != &req.header.workstation_id {
        return Err(HandshakeError::IdMismatch {
            workstation_id: req.header.workstation_id.clone(),
            tms_id: id.clone(),
        });
    }
    Ok(hello)
}

/// The TAS's answer to a hand-shake.
pub fn answer(req: &ServiceRequest, result: OverallResult) -> Message {
    Message::ServiceResponse(ServiceResponse {
        header: Header { application_sender: Some("ccv-emu-tas".to_owned()), ..req.header.clone() },
        request_type: ServiceRequestType::Login,
        overall_result: result,
        terminal: None,
        reconciliation: None,
        private_data: None,
    })
}

/// Checks the TAS's answer on the terminal's side: a `Login` response with `Success`.
pub fn check_answer(message: &Message) -> Result<(), HandshakeError> {
    match message {
        Message::ServiceResponse(r) if r.request_type == ServiceRequestType::Login => {
            if r.overall_result == OverallResult::Success {
                Ok(())
            } else {
                Err(HandshakeError::Refused(r.overall_result.clone()))
            }
        }
        other => Err(HandshakeError::UnexpectedAnswer(other.kind().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccv_opi::Encoding;

    fn request(m: Message) -> ServiceRequest {
        match m {
            Message::ServiceRequest(r) => r,
            other => panic!("the hello is a ServiceRequest, got {other:?}"),
        }
    }

    #[test]
    fn hello_is_an_opi_login_with_the_identity_and_both_ends_agree() {
        let m = hello_message("12345678", Some("ref 1"), Some("14.0.11.01"));
        let xml = ccv_opi::encode(&m, Encoding::Utf8);
        let back = ccv_opi::decode(&xml).expect("the hello decodes");
        assert_eq!(back, m);
        let text = String::from_utf8(xml).expect("UTF-8");
        assert!(text.contains(r#"RequestType="Login""#), "{text}");
        let req = request(back);
        assert_eq!(
            req.private_data.as_ref().map(|p| p.0.as_str()),
            Some(
                r#"{"protocol":"ccv-emu-tas/1","tmsId":"12345678","reference":"ref 1","software":"14.0.11.01"}"#
            )
        );
        let hello = parse_hello(&req).expect("the TAS reads the terminal's hello");
        assert_eq!(hello.tms_id, "12345678");
        assert_eq!(hello.reference.as_deref(), Some("ref 1"));
        assert_eq!(check_answer(&answer(&req, OverallResult::Success)), Ok(()));
        assert_eq!(
            check_answer(&answer(&req, OverallResult::Failure)),
            Err(HandshakeError::Refused(OverallResult::Failure))
        );
    }

    #[test]
    fn bad_hellos_are_typed() {
        let mut req = request(hello_message("1234", None, None));
        req.header.workstation_id = "999".into();
        assert!(matches!(parse_hello(&req), Err(HandshakeError::IdMismatch { .. })));
        let req = request(hello_message("12-34", None, None));
        assert!(matches!(parse_hello(&req), Err(HandshakeError::BadTmsId { .. })));
        let mut req = request(hello_message("1234", None, None));
        req.private_data = Some(PrivateData("{".into()));
        assert!(matches!(parse_hello(&req), Err(HandshakeError::NotHelloJson { .. })));
        req.private_data = Some(PrivateData(r#"{"protocol":"x/2","tmsId":"1234"}"#.into()));
        assert!(matches!(parse_hello(&req), Err(HandshakeError::WrongProtocol { .. })));
        req.private_data = None;
        assert_eq!(parse_hello(&req).map(|h| h.tms_id), Ok("1234".to_owned()));
    }
}
