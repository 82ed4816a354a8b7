//! Bytes → [`Message`]: character decoding by the XML declaration, one pass over the XML
//! events into borrowed `Parts` (lists already checked into the model as they are read), then
//! the parts checked and copied into the typed model in a fixed order, so that the first error
//! reported does not depend on the order of elements in the document.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::error::{DecodeError, DecodeErrorKind, PartialHeader};
use crate::model::*;
use crate::parts::{
    AmountParts, Attr, OutputParts, Parts, ReconciliationTotalParts, TerminalParts, TextLineParts,
};

/// Decodes one OPI message (the payload of one frame, without the length prefix).
///
/// The character encoding comes from the XML declaration (UTF-8 when there is none); UTF-8 and
/// ISO-8859-1 are read, and any other single-byte encoding `encoding_rs` knows by that label.
/// Namespaces are matched by local name only, so a default namespace, a prefixed one or none at
/// all are equally accepted; unknown elements and attributes are ignored.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    let (text, offsets) = to_text(bytes)?;
    let mut parts = Parts::default();
    if let Err(kind) = parts.read(&text) {
        return Err(DecodeError::new(offsets.fix(kind, &text), partial_header(&parts)));
    }
    map_message(&mut parts).map_err(|kind| DecodeError::new(kind, partial_header(&parts)))
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

/// The `encoding` of the XML declaration, if the input starts with one: trimmed, in lower case.
///
/// `text` is the input when it is valid UTF-8; the reader then does not guess the encoding from
/// the declaration itself, which only this function needs.
fn declared_encoding(bytes: &[u8], text: Option<&str>) -> Result<Option<Cow<'static, str>>, DecodeErrorKind> {
    if !bytes.starts_with(b"<?xml") {
        return Ok(None);
    }
    let mut reader = match text {
        Some(text) => Reader::from_str(text),
        None => Reader::from_reader(bytes),
    };
    match reader.read_event() {
        Ok(Event::Decl(decl)) => {
            match decl.encoding() {
                None => {}
                Some(Err(e)) => {
                    return Err(DecodeErrorKind::Xml { offset: 0, detail: format!("XML declaration: {e}") });
                }
                Some(Ok(label)) => {
                    if label.eq_ignore_ascii_case(b"utf-8") {
                        return Ok(Some(Cow::Borrowed("utf-8")));
                    }
                    return Ok(Some(Cow::Owned(String::from_utf8_lossy(&label).trim().to_ascii_lowercase())));
                }
            }
            Ok(None)
        }
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
    let utf8 = std::str::from_utf8(body);
    let label = declared_encoding(body, utf8.as_ref().ok().copied())?;
    match label.as_deref() {
        None | Some("utf-8" | "utf8") => match utf8 {
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
fn partial_header(parts: &Parts<'_>) -> Option<PartialHeader> {
    let kind = MessageKind::from_name(parts.root?)?;
    Some(PartialHeader {
        kind,
        request_type: opt(&parts.request_type),
        application_sender: opt(&parts.application_sender),
        workstation_id: opt(&parts.workstation_id),
        pop_id: opt(&parts.pop_id),
        request_id: opt(&parts.request_id),
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

fn opt(v: &Attr<'_>) -> Option<String> {
    v.as_deref().map(str::to_owned)
}

/// An element the model reads, by its path below the root (`""` for the root itself,
/// `"/Tender/Authorisation"`): turns absence and bad values into errors that name it.
#[derive(Clone, Copy)]
pub(crate) struct El {
    kind: MessageKind,
    below_root: &'static str,
}

impl El {
    pub(crate) fn new(kind: MessageKind, below_root: &'static str) -> El {
        El { kind, below_root }
    }

    fn child(self, below_root: &'static str) -> El {
        El { kind: self.kind, below_root }
    }

    /// The element's path from the root, e.g. `CardServiceResponse/Tender/Authorisation`.
    fn path(self) -> String {
        format!("{}{}", self.kind, self.below_root)
    }

    fn invalid(
        self,
        attribute: Option<&'static str>,
        value: &str,
        reason: impl Into<String>,
    ) -> DecodeErrorKind {
        DecodeErrorKind::InvalidValue {
            element: self.path(),
            attribute,
            value: shorten(value),
            reason: reason.into(),
        }
    }

    fn missing(self, element: &'static str) -> DecodeErrorKind {
        DecodeErrorKind::MissingElement { parent: self.path(), element }
    }

    fn req<'v>(self, v: &'v Attr<'_>, attr: &'static str) -> R<&'v str> {
        match v.as_deref() {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(DecodeErrorKind::MissingAttribute { element: self.path(), attribute: attr }),
        }
    }

    pub(crate) fn wire<T: WireEnum>(self, v: &Attr<'_>, attr: &'static str) -> R<T> {
        let v = self.req(v, attr)?;
        T::from_wire(v.trim())
            .ok_or_else(|| self.invalid(Some(attr), v, format!("expected one of {}", T::expected())))
    }

    fn opt_u32(self, v: &Attr<'_>, attr: &'static str) -> R<Option<u32>> {
        v.as_deref()
            .map(|v| {
                v.trim().parse::<u32>().map_err(|_| self.invalid(Some(attr), v, "expected a whole number"))
            })
            .transpose()
    }

    fn opt_bool(self, v: &Attr<'_>, attr: &'static str) -> R<Option<bool>> {
        v.as_deref()
            .map(|v| match v.trim() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(self.invalid(Some(attr), v, "expected true or false")),
            })
            .transpose()
    }

    fn opt_time(self, v: &Attr<'_>, attr: &'static str) -> R<Option<TimeStamp>> {
        v.as_deref()
            .map(|v| TimeStamp::new(v).map_err(|_| self.invalid(Some(attr), v, TIME_STAMP)))
            .transpose()
    }

    fn opt_pan(self, v: &Attr<'_>, attr: &'static str) -> R<Option<CardPan>> {
        v.as_deref().map(|v| CardPan::new(v).map_err(|e| self.invalid(Some(attr), v, e))).transpose()
    }

    fn overall(self, v: &Attr<'_>, attr: &'static str) -> R<OverallResult> {
        Ok(OverallResult::from_wire(self.req(v, attr)?.trim()))
    }

    /// An element whose text is an amount and whose `Currency` attribute names the currency.
    fn amount(self, a: &AmountParts<'_>) -> R<Amount> {
        let code = self.req(&a.currency, "Currency")?;
        let currency = Currency::new(code.trim()).map_err(|e| self.invalid(Some("Currency"), code, e))?;
        let text = &a.text;
        if text.trim().is_empty() {
            return Err(self.missing("(amount text)"));
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
            self.invalid(None, text, reason)
        })
    }

    /// A `TextLine` (this element).
    pub(crate) fn text_line(self, l: &TextLineParts<'_>) -> R<TextLine> {
        Ok(TextLine {
            text: l.text.as_ref().to_owned(),
            row: self.opt_u32(&l.row, "Row")?,
            column: self.opt_u32(&l.column, "Column")?,
            erase: self.opt_bool(&l.erase, "Erase")?,
            echo: self.opt_bool(&l.echo, "Echo")?,
            cursor: self.opt_bool(&l.cursor, "Cursor")?,
            time_out: self.opt_u32(&l.time_out, "TimeOut")?,
            color: opt(&l.color),
            char_set: self.opt_u32(&l.char_set, "CharSet")?,
            alignment: opt(&l.alignment),
            height: opt(&l.height),
            width: opt(&l.width),
            char_style: opt(&l.char_style),
        })
    }

    /// A reconciliation `TotalAmount` (this element).
    pub(crate) fn reconciliation_total(self, t: &ReconciliationTotalParts<'_>) -> R<ReconciliationTotal> {
        Ok(ReconciliationTotal {
            card_circuit: opt(&t.card_circuit),
            payment_type: opt(&t.payment_type),
            number_payments: self.opt_u32(&t.number_payments, "NumberPayments")?,
            amount: self.amount(&t.amount)?,
        })
    }

    /// A `DeviceResponse` `Output` (this element).
    pub(crate) fn output_result(self, o: &OutputParts<'_>) -> R<OutputResult> {
        Ok(OutputResult {
            out_device_target: self.wire::<OutDevice>(&o.out_device_target, "OutDeviceTarget")?,
            out_result: self.overall(&o.out_result, "OutResult")?,
        })
    }

    fn terminal(self, t: &Option<TerminalParts<'_>>) -> R<Option<Terminal>> {
        let Some(t) = t else { return Ok(None) };
        Ok(Some(Terminal {
            terminal_id: self.child("/Terminal").req(&t.terminal_id, "TerminalID")?.to_owned(),
            terminal_batch: opt(&t.terminal_batch),
            stan: opt(&t.stan),
        }))
    }
}

fn pos_data(root: El, parts: &Parts<'_>) -> R<Option<PosData>> {
    let Some(p) = &parts.pos_data else { return Ok(None) };
    let Some(ts_text) = &p.pos_time_stamp else { return Err(root.child("/POSdata").missing("POSTimeStamp")) };
    let pos_time_stamp = TimeStamp::new(ts_text)
        .map_err(|_| root.child("/POSdata/POSTimeStamp").invalid(None, ts_text, TIME_STAMP))?;
    Ok(Some(PosData {
        language_code: opt(&p.language_code),
        pos_time_stamp,
        clerk_id: p.clerk_id.as_deref().map(|t| t.trim().to_owned()),
        shift_number: p.shift_number.as_deref().map(|t| t.trim().to_owned()),
    }))
}

fn map_message(parts: &mut Parts<'_>) -> R<Message> {
    // Invariant: `Parts::read` succeeded, so the document has a root element.
    let Some(name) = parts.root else { return Err(DecodeErrorKind::Empty) };
    let Some(kind) = parts.kind else {
        return Err(DecodeErrorKind::UnknownMessage { element: shorten(name) });
    };
    let root = El { kind, below_root: "" };
    let header = Header {
        application_sender: opt(&parts.application_sender),
        workstation_id: root.req(&parts.workstation_id, "WorkstationID")?.to_owned(),
        pop_id: opt(&parts.pop_id),
        request_id: root.req(&parts.request_id, "RequestID")?.to_owned(),
    };
    let private_data = parts.private_data.as_deref().map(|t| PrivateData(t.to_owned()));
    Ok(match kind {
        MessageKind::CardServiceRequest => {
            let request_type = root.wire::<CardRequestType>(&parts.request_type, "RequestType")?;
            let total_amount = match &parts.total_amount {
                Some(t) => Some(root.child("/TotalAmount").amount(t)?),
                None if matches!(
                    request_type,
                    CardRequestType::CardPayment
                        | CardRequestType::PaymentRefund
                        | CardRequestType::CardReservation
                ) =>
                {
                    return Err(root.missing("TotalAmount"));
                }
                None => None,
            };
            let original_transaction = match &parts.original_transaction {
                Some(o) => Some(OriginalTransaction {
                    terminal_id: opt(&o.terminal_id),
                    stan: opt(&o.stan),
                    time_stamp: root.child("/OriginalTransaction").opt_time(&o.time_stamp, "TimeStamp")?,
                    approval_code: opt(&o.approval_code),
                }),
                None => None,
            };
            Message::CardServiceRequest(CardServiceRequest {
                header,
                request_type,
                pos_data: pos_data(root, parts)?,
                total_amount,
                original_transaction,
                private_data,
            })
        }
        MessageKind::CardServiceResponse => {
            let request_type = root.wire::<CardRequestType>(&parts.request_type, "RequestType")?;
            let overall_result = root.overall(&parts.overall_result, "OverallResult")?;
            let tender = match &parts.tender {
                Some(t) => Some(Tender {
                    total_amount: t
                        .total_amount
                        .as_ref()
                        .map(|a| root.child("/Tender/TotalAmount").amount(a))
                        .transpose()?,
                    authorisation: match &t.authorisation {
                        Some(a) => {
                            let el = root.child("/Tender/Authorisation");
                            Some(Authorisation {
                                acquirer_id: opt(&a.acquirer_id),
                                card_pan: el.opt_pan(&a.card_pan, "CardPAN")?,
                                card_circuit: opt(&a.card_circuit),
                                authorisation_type: opt(&a.authorisation_type),
                                approval_code: opt(&a.approval_code),
                                receipt_number: opt(&a.receipt_number),
                                time_stamp: el.opt_time(&a.time_stamp, "TimeStamp")?,
                                action_code: opt(&a.action_code),
                            })
                        }
                        None => None,
                    },
                }),
                None => None,
            };
            let card_value = match &parts.card_value {
                Some(c) => Some(CardValue {
                    card_circuit: opt(&c.card_circuit),
                    card_pan: root.child("/CardValue").opt_pan(&c.card_pan, "CardPAN")?,
                    expiry_date: opt(&c.expiry_date),
                }),
                None => None,
            };
            Message::CardServiceResponse(CardServiceResponse {
                header,
                request_type,
                overall_result,
                terminal: root.terminal(&parts.terminal)?,
                tender,
                card_value,
                private_data,
            })
        }
        MessageKind::ServiceRequest => Message::ServiceRequest(ServiceRequest {
            header,
            request_type: root.wire::<ServiceRequestType>(&parts.request_type, "RequestType")?,
            pos_data: pos_data(root, parts)?,
            private_data,
        }),
        MessageKind::ServiceResponse => {
            let request_type = root.wire::<ServiceRequestType>(&parts.request_type, "RequestType")?;
            let overall_result = root.overall(&parts.overall_result, "OverallResult")?;
            if let Some(e) = parts.list_error.take() {
                return Err(e);
            }
            let reconciliation = parts
                .reconciliation
                .take()
                .map(|r| Reconciliation { language_code: opt(&r.language_code), totals: r.totals });
            Message::ServiceResponse(ServiceResponse {
                header,
                request_type,
                overall_result,
                terminal: root.terminal(&parts.terminal)?,
                reconciliation,
                private_data,
            })
        }
        MessageKind::DeviceRequest => {
            let request_type = root.wire::<DeviceRequestType>(&parts.request_type, "RequestType")?;
            if let Some(e) = parts.list_error.take() {
                return Err(e);
            }
            let outputs = std::mem::take(&mut parts.outputs);
            if request_type == DeviceRequestType::Output && outputs.is_empty() {
                return Err(root.missing("Output"));
            }
            let input = match &parts.input {
                Some(i) => Some(Input {
                    in_device_target: root
                        .child("/Input")
                        .wire::<InDevice>(&i.in_device_target, "InDeviceTarget")?,
                    command: match &i.command {
                        Some(c) => {
                            let el = root.child("/Input/Command");
                            Some(InputCommand {
                                command: c.text.trim().to_owned(),
                                time_out: el.opt_u32(&c.time_out, "TimeOut")?,
                                min_length: el.opt_u32(&c.min_length, "MinLength")?,
                                max_length: el.opt_u32(&c.max_length, "MaxLength")?,
                            })
                        }
                        None => None,
                    },
                }),
                None if matches!(request_type, DeviceRequestType::Input | DeviceRequestType::SecureInput) => {
                    return Err(root.missing("Input"));
                }
                None => None,
            };
            Message::DeviceRequest(DeviceRequest { header, request_type, outputs, input, private_data })
        }
        MessageKind::DeviceResponse => {
            let request_type = root.wire::<DeviceRequestType>(&parts.request_type, "RequestType")?;
            let overall_result = root.overall(&parts.overall_result, "OverallResult")?;
            if let Some(e) = parts.list_error.take() {
                return Err(e);
            }
            let outputs = std::mem::take(&mut parts.output_results);
            let input = match &parts.input {
                Some(i) => {
                    let el = root.child("/Input");
                    Some(InputResult {
                        in_device_target: el.wire::<InDevice>(&i.in_device_target, "InDeviceTarget")?,
                        in_result: el.overall(&i.in_result, "InResult")?,
                        input_value: i
                            .input_value
                            .as_deref()
                            .map(|own| i.input_value_child.as_deref().unwrap_or(own).trim().to_owned()),
                    })
                }
                None => None,
            };
            Message::DeviceResponse(DeviceResponse {
                header,
                request_type,
                overall_result,
                outputs,
                input,
                private_data,
            })
        }
    })
}
