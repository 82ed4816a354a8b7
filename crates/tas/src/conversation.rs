//! OPI on the TAS side: building the POS-side requests, recognising what the terminal sends, and answering
//! its device requests. All XML goes through `ccv-opi`.

use ccv_opi::{
    Amount, CardRequestType, CardServiceRequest, Currency, DeviceRequest, DeviceResponse, Header,
    InputResult, Message, OriginalTransaction, OutDevice, OutputResult, OverallResult, PrivateData,
    ServiceRequest, ServiceRequestType, ServiceResponse, WireEnum,
};

use crate::model::JobKind;
use ccv_wire::handshake;

/// What one frame from the terminal is.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// The terminal's hand-shake (see `docs/TAS_HANDSHAKE.md`), with the answer to send back.
    Hello { tms_id: String, reference: Option<String>, software: Option<String>, answer: Vec<u8> },
    /// A device request to answer.
    Device(DeviceInfo),
    /// The final response of a card service or service request.
    Final(FinalInfo),
    /// Not decodable.
    Undecodable { error: String },
    /// Decodable but not expected here.
    Other { description: String },
}

impl Incoming {
    pub(crate) fn describe(&self) -> String {
        match self {
            Incoming::Hello { .. } => "hand-shake".into(),
            Incoming::Device(d) => format!("DeviceRequest {}", d.request.request_type),
            Incoming::Final(f) => format!("response to request {}", f.request_id),
            Incoming::Undecodable { error } => format!("undecodable: {error}"),
            Incoming::Other { description } => description.clone(),
        }
    }
}

/// A device request and the texts it carries.
#[derive(Debug)]
pub(crate) struct DeviceInfo {
    pub(crate) request: DeviceRequest,
    /// `(OutDeviceTarget, text)` per `Output`, lines joined with `\n`.
    pub(crate) outputs: Vec<(String, String)>,
}

/// A final response.
#[derive(Debug)]
pub(crate) struct FinalInfo {
    pub(crate) request_id: String,
    pub(crate) overall_result: String,
    pub(crate) authorisation: serde_json::Map<String, serde_json::Value>,
}

/// Whether an output target is a printer or journal (a receipt) rather than a display.
pub(crate) fn is_printer(target: &str) -> bool {
    !matches!(target, "CashierDisplay" | "CustomerDisplay")
}

fn header(workstation_id: &str, request_id: &str) -> Header {
    Header {
        application_sender: Some("ccv-emu-tas".to_owned()),
        workstation_id: workstation_id.to_owned(),
        pop_id: None,
        request_id: request_id.to_owned(),
    }
}

/// The XML of the request that starts a conversation.
pub(crate) fn request_frame(
    kind: &JobKind,
    request_id: &str,
    workstation_id: &str,
) -> Result<Vec<u8>, String> {
    let header = header(workstation_id, request_id);
    let card = |request_type, amount_minor: u64, currency: &str, original: Option<OriginalTransaction>| {
        let currency = Currency::new(currency)?;
        Ok::<_, String>(Message::CardServiceRequest(CardServiceRequest {
            header: header.clone(),
            request_type,
            pos_data: None,
            total_amount: Some(Amount::new(amount_minor, currency)),
            original_transaction: original,
            private_data: None,
        }))
    };
    let service = |request_type| {
        Message::ServiceRequest(ServiceRequest {
            header: header.clone(),
            request_type,
            pos_data: None,
            private_data: None,
        })
    };
    let message = match kind {
        JobKind::Payment { amount_minor, currency } => {
            card(CardRequestType::CardPayment, *amount_minor, currency, None)?
        }
        JobKind::Refund { amount_minor, currency } => {
            card(CardRequestType::PaymentRefund, *amount_minor, currency, None)?
        }
        JobKind::Reversal { amount_minor, currency, original } => {
            let original = original.as_ref().map(|stan| OriginalTransaction {
                stan: Some(stan.clone()),
                ..OriginalTransaction::default()
            });
            card(CardRequestType::PaymentReversal, *amount_minor, currency, original)?
        }
        JobKind::Abort => service(ServiceRequestType::AbortRequest),
        JobKind::Login => service(ServiceRequestType::Login),
        JobKind::Logoff => service(ServiceRequestType::Logoff),
        JobKind::Reconciliation => service(ServiceRequestType::Reconciliation),
        JobKind::LastTransactionStatus => service(ServiceRequestType::GetLastTransactionStatus),
    };
    Ok(encode(&message))
}

pub(crate) fn encode(message: &Message) -> Vec<u8> {
    ccv_opi::encode(message, ccv_opi::Encoding::Utf8)
}

/// Classifies one frame from the terminal.
pub(crate) fn classify(frame: &[u8]) -> Incoming {
    let message = match ccv_opi::decode(frame) {
        Ok(m) => m,
        Err(err) => return Incoming::Undecodable { error: err.to_string() },
    };
    match message {
        Message::ServiceRequest(req) if req.request_type == ServiceRequestType::Login => {
            match handshake::parse_hello(&req) {
                Ok(hello) => {
                    let answer = encode(&handshake::answer(&req, OverallResult::Success));
                    Incoming::Hello {
                        tms_id: hello.tms_id,
                        reference: hello.reference,
                        software: hello.software,
                        answer,
                    }
                }
                Err(why) => {
                    Incoming::Other { description: format!("Login without a usable identity: {why}") }
                }
            }
        }
        Message::DeviceRequest(request) => {
            let outputs = request
                .outputs
                .iter()
                .map(|o| {
                    let text = o.text_lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n");
                    (o.out_device_target.as_str().to_owned(), text)
                })
                .collect();
            Incoming::Device(DeviceInfo { request, outputs })
        }
        Message::CardServiceResponse(resp) => {
            let mut auth = serde_json::Map::new();
            let mut put = |k: &str, v: Option<String>| {
                if let Some(v) = v {
                    auth.insert(k.to_owned(), serde_json::Value::String(v));
                }
            };
            if let Some(t) = &resp.terminal {
                put("terminalId", Some(t.terminal_id.clone()));
                put("terminalBatch", t.terminal_batch.clone());
                put("stan", t.stan.clone());
            }
            if let Some(tender) = &resp.tender {
                if let Some(a) = &tender.total_amount {
                    put("amount", Some(a.to_decimal_string()));
                    put("currency", Some(a.currency.code().to_owned()));
                }
                if let Some(a) = &tender.authorisation {
                    put("acquirerId", a.acquirer_id.clone());
                    put("cardPan", a.card_pan.as_ref().map(|p| p.as_str().to_owned()));
                    put("cardCircuit", a.card_circuit.clone());
                    put("authorisationType", a.authorisation_type.clone());
                    put("approvalCode", a.approval_code.clone());
                    put("receiptNumber", a.receipt_number.clone());
                    put("timeStamp", a.time_stamp.as_ref().map(|t| t.as_str().to_owned()));
                    put("actionCode", a.action_code.clone());
                }
            }
            if let Some(cv) = &resp.card_value {
                put("cardCircuit", cv.card_circuit.clone());
                put("cardPan", cv.card_pan.as_ref().map(|p| p.as_str().to_owned()));
            }
            Incoming::Final(FinalInfo {
                request_id: resp.header.request_id.clone(),
                overall_result: resp.overall_result.as_str().to_owned(),
                authorisation: auth,
            })
        }
        Message::ServiceResponse(resp) => {
            let mut auth = serde_json::Map::new();
            if let Some(rec) = &resp.reconciliation {
                if let Ok(v) = serde_json::to_value(rec) {
                    auth.insert("reconciliation".into(), v);
                }
            }
            if let Some(pd) = &resp.private_data {
                auth.insert("privateData".into(), serde_json::Value::String(pd.0.clone()));
            }
            Incoming::Final(FinalInfo {
                request_id: resp.header.request_id.clone(),
                overall_result: resp.overall_result.as_str().to_owned(),
                authorisation: auth,
            })
        }
        other => Incoming::Other { description: format!("unexpected {} from the terminal", other.kind()) },
    }
}

/// Answers a device request: every output succeeds, except printer outputs when `fail_printer` is set
/// (then `OutResult="DeviceUnavailable"` / `OverallResult="DeviceUnavailable"`). Inputs are confirmed.
/// Returns whether all outputs succeeded, and the XML.
pub(crate) fn device_response(dev: &DeviceInfo, fail_printer: bool) -> (bool, Vec<u8>) {
    let req = &dev.request;
    let mut all_ok = true;
    let outputs: Vec<OutputResult> = req
        .outputs
        .iter()
        .map(|o| {
            let printer = is_printer(o.out_device_target.as_str())
                && !matches!(o.out_device_target, OutDevice::CashierDisplay | OutDevice::CustomerDisplay);
            let result = if printer && fail_printer {
                all_ok = false;
                OverallResult::DeviceUnavailable
            } else {
                OverallResult::Success
            };
            OutputResult { out_device_target: o.out_device_target, out_result: result }
        })
        .collect();
    let input = req.input.as_ref().map(|i| InputResult {
        in_device_target: i.in_device_target,
        in_result: OverallResult::Success,
        input_value: Some("true".to_owned()),
    });
    let overall = if all_ok { OverallResult::Success } else { OverallResult::DeviceUnavailable };
    let resp = Message::DeviceResponse(DeviceResponse {
        header: req.header.clone(),
        request_type: req.request_type,
        overall_result: overall,
        outputs,
        input,
        private_data: None,
    });
    (all_ok, encode(&resp))
}

/// The answer to a first frame that is not a valid hand-shake, when its header is readable.
pub(crate) fn refuse_handshake(frame: &[u8]) -> Option<Vec<u8>> {
    match ccv_opi::decode(frame) {
        Ok(Message::ServiceRequest(req)) => {
            Some(encode(&handshake::answer(&req, OverallResult::ValidationError)))
        }
        Ok(other) => {
            let h = other.header().clone();
            let resp = Message::ServiceResponse(ServiceResponse {
                header: h,
                request_type: ServiceRequestType::Login,
                overall_result: OverallResult::FormatError,
                terminal: None,
                reconciliation: None,
                private_data: Some(PrivateData("expected a Login hand-shake first".to_owned())),
            });
            Some(encode(&resp))
        }
        Err(_) => None,
    }
}
