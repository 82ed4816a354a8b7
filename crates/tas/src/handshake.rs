//! The TAS hand-shake (ours; see `docs/TAS_HANDSHAKE.md`): after dialling out, the terminal's first frame is an
//! OPI `ServiceRequest RequestType="Login"` whose `WorkstationID` is its TMS ID and whose `PrivateData` is a
//! small JSON object `{"protocol":"ccv-emu-tas/1","tmsId":..,"reference":..,"software":..}`. The TAS answers
//! `ServiceResponse RequestType="Login" OverallResult="Success"` with the same header, or closes.

use ccv_opi::{
    Header, Message, OverallResult, PrivateData, ServiceRequest, ServiceRequestType, ServiceResponse,
};
use serde::{Deserialize, Serialize};

/// The protocol tag in the hand-shake.
pub const PROTOCOL: &str = "ccv-emu-tas/1";

/// The `RequestID` of the hand-shake.
pub const HELLO_REQUEST_ID: &str = "0";

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
pub fn parse_hello(req: &ServiceRequest) -> Result<Hello, String> {
    let hello = match &req.private_data {
        Some(PrivateData(json)) => serde_json::from_str::<Hello>(json)
            .map_err(|e| format!("PrivateData is not the hand-shake JSON: {e}"))?,
        None => Hello {
            protocol: PROTOCOL.to_owned(),
            tms_id: req.header.workstation_id.clone(),
            reference: None,
            software: None,
        },
    };
    if hello.protocol != PROTOCOL {
        return Err(format!("protocol {:?} is not {PROTOCOL:?}", hello.protocol));
    }
    let id = &hello.tms_id;
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("TMS ID {id:?} must be 1 to 32 ASCII letters or digits"));
    }
    if id != &req.header.workstation_id {
        return Err(format!("WorkstationID {:?} differs from tmsId {id:?}", req.header.workstation_id));
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
