//! Bytes → [`Message`]: character decoding by the XML declaration, then the element tree
//! mapped onto the typed model.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::error::{DecodeError, DecodeErrorKind, PartialHeader};
use crate::model::*;
use crate::tree::{Doc, NodeId};

/// Decodes one OPI message (the payload of one frame, without the length prefix).
///
/// The character encoding comes from the XML declaration (UTF-8 when there is none); UTF-8 and
/// ISO-8859-1 are read, and any other single-byte encoding `encoding_rs` knows by that label.
/// Namespaces are matched by local name only, so a default namespace, a prefixed one or none at
/// all are equally accepted; unknown elements and attributes are ignored.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    let (text, offsets) = to_text(bytes)?;
    let (doc, parsed) = Doc::parse(&text);
    if let Err(kind) = parsed {
        return Err(DecodeError::new(offsets.fix(kind, &text), partial_header(&doc)));
    }
    map_message(&doc).map_err(|kind| DecodeError::new(kind, partial_header(&doc)))
}

/// How offsets in the decoded text map back to input bytes.
enum Offsets {
    /// UTF-8: the same, shifted by a byte-order mark.
    Utf8 { bom: usize },
    /// A single-byte encoding: one input byte per character.
    SingleByte,
}

impl Offsets {
    fn fix(&self, kind: DecodeErrorKind, text: &str) -> DecodeErrorKind {
        let map = |offset: usize| match self {
            Offsets::Utf8 { bom } => offset + bom,
            Offsets::SingleByte => {
                text.get(..offset.min(text.len())).map_or(offset, |prefix| prefix.chars().count())
            }
        };
        match kind {
            DecodeErrorKind::Xml { offset, detail } => DecodeErrorKind::Xml { offset: map(offset), detail },
            DecodeErrorKind::LimitExceeded { what, limit, offset } => {
                DecodeErrorKind::LimitExceeded { what, limit, offset: map(offset) }
            }
            other => other,
        }
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The `encoding` of the XML declaration, if the input starts with one.
fn declared_encoding(bytes: &[u8]) -> Result<Option<String>, DecodeErrorKind> {
    if !bytes.starts_with(b"<?xml") {
        return Ok(None);
    }
    let mut reader = Reader::from_reader(bytes);
    match reader.read_event() {
        Ok(Event::Decl(decl)) => match decl.encoding() {
            None => Ok(None),
            Some(Ok(label)) => Ok(Some(String::from_utf8_lossy(&label).trim().to_ascii_lowercase())),
            Some(Err(e)) => Err(DecodeErrorKind::Xml { offset: 0, detail: format!("XML declaration: {e}") }),
        },
        Ok(_) => Ok(None),
        Err(e) => Err(DecodeErrorKind::Xml {
            offset: reader.error_position() as usize,
            detail: format!("XML declaration: {e}"),
        }),
    }
}

fn to_text(bytes: &[u8]) -> Result<(Cow<'_, str>, Offsets), DecodeError> {
    if bytes.starts_with(b"\xFE\xFF") || bytes.starts_with(b"\xFF\xFE") {
        return Err(DecodeErrorKind::UnsupportedEncoding { label: "UTF-16".into() }.into());
    }
    let (body, bom) = match bytes.strip_prefix(UTF8_BOM) {
        Some(rest) => (rest, UTF8_BOM.len()),
        None => (bytes, 0),
    };
    let label = declared_encoding(body)?;
    match label.as_deref() {
        None | Some("utf-8" | "utf8") => match std::str::from_utf8(body) {
            Ok(s) => Ok((Cow::Borrowed(s), Offsets::Utf8 { bom })),
            Err(e) => {
                Err(DecodeErrorKind::InvalidEncoding { encoding: "UTF-8", offset: bom + e.valid_up_to() }
                    .into())
            }
        },
        Some(
            "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" | "iso-ir-100" | "cp819"
            | "ibm819",
        ) if bom == 0 => Ok((encoding_rs::mem::decode_latin1(body), Offsets::SingleByte)),
        Some(label) => {
            let enc = encoding_rs::Encoding::for_label(label.as_bytes())
                .filter(|e| bom == 0 && e.is_single_byte())
                .ok_or_else(|| DecodeErrorKind::UnsupportedEncoding { label: label.to_owned() })?;
            let text = enc
                .decode_without_bom_handling_and_without_replacement(body)
                .ok_or(DecodeErrorKind::InvalidEncoding { encoding: enc.name(), offset: 0 })?;
            Ok((text, Offsets::SingleByte))
        }
    }
}

/// The root element's header attributes, for error responses.
fn partial_header(doc: &Doc<'_>) -> Option<PartialHeader> {
    let root = doc.root()?;
    let kind = MessageKind::from_name(&doc.node(root).name)?;
    let get = |name: &str| doc.attr(root, name).map(str::to_owned);
    Some(PartialHeader {
        kind,
        request_type: get("RequestType"),
        application_sender: get("ApplicationSender"),
        workstation_id: get("WorkstationID"),
        pop_id: get("POPID"),
        request_id: get("RequestID"),
    })
}

type R<T> = Result<T, DecodeErrorKind>;

const TIME_STAMP: &str =
    "expected a date-time YYYY-MM-DDThh:mm:ss, optionally with a fraction and Z or +hh:mm";

fn shorten(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// Accessors that turn absence and bad values into located errors.
struct M<'d, 'a> {
    doc: &'d Doc<'a>,
}

impl<'d> M<'d, '_> {
    fn invalid(
        &self,
        n: NodeId,
        attribute: Option<&'static str>,
        value: &str,
        reason: impl Into<String>,
    ) -> DecodeErrorKind {
        DecodeErrorKind::InvalidValue {
            element: self.doc.path(n),
            attribute,
            value: shorten(value),
            reason: reason.into(),
        }
    }

    fn opt(&self, n: NodeId, attr: &'static str) -> Option<String> {
        self.doc.attr(n, attr).map(str::to_owned)
    }

    fn req(&self, n: NodeId, attr: &'static str) -> R<&'d str> {
        match self.doc.attr(n, attr) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(DecodeErrorKind::MissingAttribute { element: self.doc.path(n), attribute: attr }),
        }
    }

    fn child(&self, n: NodeId, name: &'static str) -> Option<NodeId> {
        self.doc.child(n, name)
    }

    fn req_child(&self, n: NodeId, name: &'static str) -> R<NodeId> {
        self.doc
            .child(n, name)
            .ok_or_else(|| DecodeErrorKind::MissingElement { parent: self.doc.path(n), element: name })
    }

    fn children(&self, n: NodeId, name: &'static str) -> impl Iterator<Item = NodeId> + '_ {
        self.doc.children(n).filter(move |c| self.doc.node(*c).name == name)
    }

    fn text(&self, n: NodeId) -> &'d str {
        &self.doc.node(n).text
    }

    fn child_text(&self, n: NodeId, name: &'static str) -> Option<String> {
        self.child(n, name).map(|c| self.text(c).trim().to_owned())
    }

    fn wire<T: WireEnum>(&self, n: NodeId, attr: &'static str) -> R<T> {
        let v = self.req(n, attr)?;
        T::from_wire(v.trim())
            .ok_or_else(|| self.invalid(n, Some(attr), v, format!("expected one of {}", T::expected())))
    }

    fn opt_u32(&self, n: NodeId, attr: &'static str) -> R<Option<u32>> {
        self.doc
            .attr(n, attr)
            .map(|v| {
                v.trim().parse::<u32>().map_err(|_| self.invalid(n, Some(attr), v, "expected a whole number"))
            })
            .transpose()
    }

    fn opt_bool(&self, n: NodeId, attr: &'static str) -> R<Option<bool>> {
        self.doc
            .attr(n, attr)
            .map(|v| match v.trim() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(self.invalid(n, Some(attr), v, "expected true or false")),
            })
            .transpose()
    }

    fn opt_time(&self, n: NodeId, attr: &'static str) -> R<Option<TimeStamp>> {
        self.doc
            .attr(n, attr)
            .map(|v| TimeStamp::new(v).map_err(|_| self.invalid(n, Some(attr), v, TIME_STAMP)))
            .transpose()
    }

    fn opt_pan(&self, n: NodeId, attr: &'static str) -> R<Option<CardPan>> {
        self.doc
            .attr(n, attr)
            .map(|v| CardPan::new(v).map_err(|e| self.invalid(n, Some(attr), v, e)))
            .transpose()
    }

    fn overall(&self, n: NodeId, attr: &'static str) -> R<OverallResult> {
        Ok(OverallResult::from_wire(self.req(n, attr)?.trim()))
    }

    /// An element whose text is an amount and whose `Currency` attribute names the currency.
    fn amount(&self, n: NodeId) -> R<Amount> {
        let code = self.req(n, "Currency")?;
        let currency = Currency::new(code.trim()).map_err(|e| self.invalid(n, Some("Currency"), code, e))?;
        let text = self.text(n);
        if text.trim().is_empty() {
            return Err(DecodeErrorKind::MissingElement {
                parent: self.doc.path(n),
                element: "(amount text)",
            });
        }
        Amount::parse(text, currency).map_err(|e| {
            let reason = match e {
                AmountError::TooManyDecimals { currency, decimals, .. } => {
                    format!("{currency} has {decimals} decimals; round the amount")
                }
                AmountError::Overflow(_) => "the amount is too large".to_owned(),
                _ => "expected digits with an optional '.' and decimals, e.g. 39.50 (no sign, no comma)"
                    .to_owned(),
            };
            self.invalid(n, None, text, reason)
        })
    }

    fn header(&self, n: NodeId) -> R<Header> {
        Ok(Header {
            application_sender: self.opt(n, "ApplicationSender"),
            workstation_id: self.req(n, "WorkstationID")?.to_owned(),
            pop_id: self.opt(n, "POPID"),
            request_id: self.req(n, "RequestID")?.to_owned(),
        })
    }

    fn pos_data(&self, n: NodeId) -> R<Option<PosData>> {
        let Some(p) = self.child(n, "POSdata") else { return Ok(None) };
        let ts_node = self.req_child(p, "POSTimeStamp")?;
        let ts_text = self.text(ts_node);
        let pos_time_stamp =
            TimeStamp::new(ts_text).map_err(|_| self.invalid(ts_node, None, ts_text, TIME_STAMP))?;
        Ok(Some(PosData {
            language_code: self.opt(p, "LanguageCode"),
            pos_time_stamp,
            clerk_id: self.child_text(p, "ClerkID"),
            shift_number: self.child_text(p, "ShiftNumber"),
        }))
    }

    fn private_data(&self, n: NodeId) -> Option<PrivateData> {
        self.child(n, "PrivateData").map(|c| PrivateData(self.text(c).to_owned()))
    }

    fn terminal(&self, n: NodeId) -> R<Option<Terminal>> {
        let Some(t) = self.child(n, "Terminal") else { return Ok(None) };
        Ok(Some(Terminal {
            terminal_id: self.req(t, "TerminalID")?.to_owned(),
            terminal_batch: self.opt(t, "TerminalBatch"),
            stan: self.opt(t, "STAN"),
        }))
    }
}

fn map_message(doc: &Doc<'_>) -> R<Message> {
    let m = M { doc };
    // Invariant: `Doc::parse` succeeded, so the document has a root element.
    let Some(root) = doc.root() else { return Err(DecodeErrorKind::Empty) };
    let name = &doc.node(root).name;
    let Some(kind) = MessageKind::from_name(name) else {
        return Err(DecodeErrorKind::UnknownMessage { element: shorten(name) });
    };
    let header = m.header(root)?;
    Ok(match kind {
        MessageKind::CardServiceRequest => {
            let request_type = m.wire::<CardRequestType>(root, "RequestType")?;
            let total_amount = match m.child(root, "TotalAmount") {
                Some(t) => Some(m.amount(t)?),
                None if matches!(
                    request_type,
                    CardRequestType::CardPayment
                        | CardRequestType::PaymentRefund
                        | CardRequestType::CardReservation
                ) =>
                {
                    return Err(DecodeErrorKind::MissingElement {
                        parent: doc.path(root),
                        element: "TotalAmount",
                    });
                }
                None => None,
            };
            let original_transaction = match m.child(root, "OriginalTransaction") {
                Some(o) => Some(OriginalTransaction {
                    terminal_id: m.opt(o, "TerminalID"),
                    stan: m.opt(o, "STAN"),
                    time_stamp: m.opt_time(o, "TimeStamp")?,
                    approval_code: m.opt(o, "ApprovalCode"),
                }),
                None => None,
            };
            Message::CardServiceRequest(CardServiceRequest {
                header,
                request_type,
                pos_data: m.pos_data(root)?,
                total_amount,
                original_transaction,
                private_data: m.private_data(root),
            })
        }
        MessageKind::CardServiceResponse => {
            let request_type = m.wire::<CardRequestType>(root, "RequestType")?;
            let overall_result = m.overall(root, "OverallResult")?;
            let tender = match m.child(root, "Tender") {
                Some(t) => Some(Tender {
                    total_amount: m.child(t, "TotalAmount").map(|a| m.amount(a)).transpose()?,
                    authorisation: match m.child(t, "Authorisation") {
                        Some(a) => Some(Authorisation {
                            acquirer_id: m.opt(a, "AcquirerID"),
                            card_pan: m.opt_pan(a, "CardPAN")?,
                            card_circuit: m.opt(a, "CardCircuit"),
                            authorisation_type: m.opt(a, "AuthorisationType"),
                            approval_code: m.opt(a, "ApprovalCode"),
                            receipt_number: m.opt(a, "ReceiptNumber"),
                            time_stamp: m.opt_time(a, "TimeStamp")?,
                            action_code: m.opt(a, "ActionCode"),
                        }),
                        None => None,
                    },
                }),
                None => None,
            };
            let card_value = match m.child(root, "CardValue") {
                Some(c) => Some(CardValue {
                    card_circuit: m.opt(c, "CardCircuit"),
                    card_pan: m.opt_pan(c, "CardPAN")?,
                    expiry_date: m.opt(c, "ExpiryDate"),
                }),
                None => None,
            };
            Message::CardServiceResponse(CardServiceResponse {
                header,
                request_type,
                overall_result,
                terminal: m.terminal(root)?,
                tender,
                card_value,
                private_data: m.private_data(root),
            })
        }
        MessageKind::ServiceRequest => Message::ServiceRequest(ServiceRequest {
            header,
            request_type: m.wire::<ServiceRequestType>(root, "RequestType")?,
            pos_data: m.pos_data(root)?,
            private_data: m.private_data(root),
        }),
        MessageKind::ServiceResponse => {
            let request_type = m.wire::<ServiceRequestType>(root, "RequestType")?;
            let overall_result = m.overall(root, "OverallResult")?;
            let reconciliation = match m.child(root, "Reconciliation") {
                Some(r) => {
                    let mut totals = Vec::new();
                    for t in m.children(r, "TotalAmount") {
                        totals.push(ReconciliationTotal {
                            card_circuit: m.opt(t, "CardCircuit"),
                            payment_type: m.opt(t, "PaymentType"),
                            number_payments: m.opt_u32(t, "NumberPayments")?,
                            amount: m.amount(t)?,
                        });
                    }
                    Some(Reconciliation { language_code: m.opt(r, "LanguageCode"), totals })
                }
                None => None,
            };
            Message::ServiceResponse(ServiceResponse {
                header,
                request_type,
                overall_result,
                terminal: m.terminal(root)?,
                reconciliation,
                private_data: m.private_data(root),
            })
        }
        MessageKind::DeviceRequest => {
            let request_type = m.wire::<DeviceRequestType>(root, "RequestType")?;
            let mut outputs = Vec::new();
            for o in m.children(root, "Output") {
                let out_device_target = m.wire::<OutDevice>(o, "OutDeviceTarget")?;
                let mut text_lines = Vec::new();
                for l in m.children(o, "TextLine") {
                    text_lines.push(TextLine {
                        text: m.text(l).to_owned(),
                        row: m.opt_u32(l, "Row")?,
                        column: m.opt_u32(l, "Column")?,
                        erase: m.opt_bool(l, "Erase")?,
                        echo: m.opt_bool(l, "Echo")?,
                        cursor: m.opt_bool(l, "Cursor")?,
                        time_out: m.opt_u32(l, "TimeOut")?,
                        color: m.opt(l, "Color"),
                        char_set: m.opt_u32(l, "CharSet")?,
                        alignment: m.opt(l, "Alignment"),
                        height: m.opt(l, "Height"),
                        width: m.opt(l, "Width"),
                        char_style: m.opt(l, "CharStyle1"),
                    });
                }
                outputs.push(Output { out_device_target, text_lines });
            }
            if request_type == DeviceRequestType::Output && outputs.is_empty() {
                return Err(DecodeErrorKind::MissingElement { parent: doc.path(root), element: "Output" });
            }
            let input = match m.child(root, "Input") {
                Some(i) => Some(Input {
                    in_device_target: m.wire::<InDevice>(i, "InDeviceTarget")?,
                    command: match m.child(i, "Command") {
                        Some(c) => Some(InputCommand {
                            command: m.text(c).trim().to_owned(),
                            time_out: m.opt_u32(c, "TimeOut")?,
                            min_length: m.opt_u32(c, "MinLength")?,
                            max_length: m.opt_u32(c, "MaxLength")?,
                        }),
                        None => None,
                    },
                }),
                None if matches!(request_type, DeviceRequestType::Input | DeviceRequestType::SecureInput) => {
                    return Err(DecodeErrorKind::MissingElement { parent: doc.path(root), element: "Input" });
                }
                None => None,
            };
            Message::DeviceRequest(DeviceRequest {
                header,
                request_type,
                outputs,
                input,
                private_data: m.private_data(root),
            })
        }
        MessageKind::DeviceResponse => {
            let request_type = m.wire::<DeviceRequestType>(root, "RequestType")?;
            let overall_result = m.overall(root, "OverallResult")?;
            let mut outputs = Vec::new();
            for o in m.children(root, "Output") {
                outputs.push(OutputResult {
                    out_device_target: m.wire::<OutDevice>(o, "OutDeviceTarget")?,
                    out_result: m.overall(o, "OutResult")?,
                });
            }
            let input = match m.child(root, "Input") {
                Some(i) => Some(InputResult {
                    in_device_target: m.wire::<InDevice>(i, "InDeviceTarget")?,
                    in_result: m.overall(i, "InResult")?,
                    input_value: m.child(i, "InputValue").map(|v| {
                        let inner = doc.children(v).next().map_or(m.text(v), |c| m.text(c));
                        inner.trim().to_owned()
                    }),
                }),
                None => None,
            };
            Message::DeviceResponse(DeviceResponse {
                header,
                request_type,
                overall_result,
                outputs,
                input,
                private_data: m.private_data(root),
            })
        }
    })
}
