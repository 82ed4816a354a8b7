//! The answer to a request that failed to decode: the matching `*Response` with the request's header, its
//! `RequestType` and the error's `OverallResult`.

use crate::error::DecodeError;
use crate::kinds::MessageKind;
use crate::model::{
    CardRequestType, CardServiceResponse, DeviceRequestType, DeviceResponse, Header, Message,
    ServiceRequestType, ServiceResponse, WireEnum,
};

/// Builds the response a peer sends back for a request that failed to decode: the matching
/// `*Response` with the request's header and `RequestType` and the error's `OverallResult`.
///
/// `None` when there is nobody to answer: the failed message was a response, or its root
/// element, `RequestType`, `WorkstationID` or `RequestID` could not be read. The peer then logs
/// the error and drops the frame.
pub fn error_response(err: &DecodeError) -> Option<Message> {
    let h = err.partial_header()?;
    if !h.kind.is_request() {
        return None;
    }
    let header = Header {
        application_sender: h.application_sender.clone(),
        workstation_id: h.workstation_id.clone().filter(|s| !s.is_empty())?,
        pop_id: h.pop_id.clone(),
        request_id: h.request_id.clone().filter(|s| !s.is_empty())?,
    };
    let request_type = h.request_type.as_deref()?;
    let overall_result = err.overall_result();
    Some(match h.kind {
        MessageKind::CardServiceRequest => Message::CardServiceResponse(CardServiceResponse {
            header,
            request_type: CardRequestType::from_wire(request_type)?,
            overall_result,
            terminal: None,
            tender: None,
            card_value: None,
            private_data: None,
        }),
        MessageKind::ServiceRequest => Message::ServiceResponse(ServiceResponse {
            header,
            request_type: ServiceRequestType::from_wire(request_type)?,
            overall_result,
            terminal: None,
            reconciliation: None,
            private_data: None,
        }),
        MessageKind::DeviceRequest => Message::DeviceResponse(DeviceResponse {
            header,
            request_type: DeviceRequestType::from_wire(request_type)?,
            overall_result,
            outputs: Vec::new(),
            input: None,
            private_data: None,
        }),
        _ => return None,
    })
}
