//! One pass over quick-xml events that keeps, borrowed from the input where it can, exactly the
//! attributes and texts the typed model reads, in [`Parts`]. Everything else is checked for
//! well-formedness and limits, then dropped.
//!
//! Names are local names (any namespace prefix dropped, `xmlns` declarations skipped); text is
//! unescaped; comments, processing instructions and DOCTYPE are skipped (no DTD is ever
//! processed, so no entity expansion). Nesting depth and attributes per element are limited.
//!
//! Where the model reads one element (`POSdata`, `Tender`, ...), the first one in the document
//! counts and later ones are ignored with everything inside them; where it reads a list
//! (`Output`, `TextLine`, reconciliation `TotalAmount`), every one counts, in document order, and
//! each item is checked into the model as soon as it is read. An element's text is the text
//! before its first child element (white space between children is layout); CDATA sections and
//! references after a child are still added.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::decode::El;
use crate::error::DecodeErrorKind;
use crate::model::{MessageKind, OutDevice, Output, OutputResult, ReconciliationTotal};

/// Deepest nesting accepted (OPI messages are at most five levels deep).
const MAX_DEPTH: usize = 32;
/// Most attributes accepted on one element.
const MAX_ATTRIBUTES: usize = 64;

/// An attribute value (unescaped), `None` when absent.
pub(crate) type Attr<'a> = Option<Cow<'a, str>>;
/// An element's text (unescaped).
pub(crate) type Text<'a> = Cow<'a, str>;

/// What the model reads from one message, borrowed from the input where it can. A part is
/// `Some` when its element is present.
#[derive(Default)]
pub(crate) struct Parts<'a> {
    /// The root element's local name, once its start tag has been read.
    pub(crate) root: Option<&'a str>,
    /// The message the root element names, if it is one of the six.
    pub(crate) kind: Option<MessageKind>,
    pub(crate) request_type: Attr<'a>,
    pub(crate) application_sender: Attr<'a>,
    pub(crate) workstation_id: Attr<'a>,
    pub(crate) pop_id: Attr<'a>,
    pub(crate) request_id: Attr<'a>,
    pub(crate) overall_result: Attr<'a>,
    pub(crate) pos_data: Option<PosDataParts<'a>>,
    /// `CardServiceRequest/TotalAmount`.
    pub(crate) total_amount: Option<AmountParts<'a>>,
    pub(crate) original_transaction: Option<OriginalTransactionParts<'a>>,
    pub(crate) terminal: Option<TerminalParts<'a>>,
    pub(crate) tender: Option<TenderParts<'a>>,
    pub(crate) card_value: Option<CardValueParts<'a>>,
    pub(crate) reconciliation: Option<ReconciliationParts<'a>>,
    /// `DeviceRequest/Output`, checked and converted as they are read.
    pub(crate) outputs: Vec<Output>,
    /// `DeviceResponse/Output`, checked and converted as they are read.
    pub(crate) output_results: Vec<OutputResult>,
    /// The first error in a list (outputs and their text lines, reconciliation totals). Lists are
    /// checked in document order, which is the order the model checks them in, as they are read.
    pub(crate) list_error: Option<DecodeErrorKind>,
    pub(crate) input: Option<InputParts<'a>>,
    pub(crate) private_data: Option<Text<'a>>,
    /// The `Output`, `TextLine` or reconciliation `TotalAmount` being read.
    output: OutputParts<'a>,
    line: TextLineParts<'a>,
    total: ReconciliationTotalParts<'a>,
}

/// An element whose text is an amount (`Currency` attribute).
#[derive(Default)]
pub(crate) struct AmountParts<'a> {
    pub(crate) currency: Attr<'a>,
    pub(crate) text: Text<'a>,
}

#[derive(Default)]
pub(crate) struct PosDataParts<'a> {
    pub(crate) language_code: Attr<'a>,
    pub(crate) pos_time_stamp: Option<Text<'a>>,
    pub(crate) clerk_id: Option<Text<'a>>,
    pub(crate) shift_number: Option<Text<'a>>,
}

#[derive(Default)]
pub(crate) struct OriginalTransactionParts<'a> {
    pub(crate) terminal_id: Attr<'a>,
    pub(crate) stan: Attr<'a>,
    pub(crate) time_stamp: Attr<'a>,
    pub(crate) approval_code: Attr<'a>,
}

#[derive(Default)]
pub(crate) struct TerminalParts<'a> {
    pub(crate) terminal_id: Attr<'a>,
    pub(crate) terminal_batch: Attr<'a>,
    pub(crate) stan: Attr<'a>,
}

#[derive(Default)]
pub(crate) struct TenderParts<'a> {
    pub(crate) total_amount: Option<AmountParts<'a>>,
    pub(crate) authorisation: Option<AuthorisationParts<'a>>,
}

#[derive(Default)]
pub(crate) struct AuthorisationParts<'a> {
    pub(crate) acquirer_id: Attr<'a>,
    pub(crate) card_pan: Attr<'a>,
    pub(crate) card_circuit: Attr<'a>,
    pub(crate) authorisation_type: Attr<'a>,
    pub(crate) approval_code: Attr<'a>,
    pub(crate) receipt_number: Attr<'a>,
    pub(crate) time_stamp: Attr<'a>,
    pub(crate) action_code: Attr<'a>,
}

#[derive(Default)]
pub(crate) struct CardValueParts<'a> {
    pub(crate) card_circuit: Attr<'a>,
    pub(crate) card_pan: Attr<'a>,
    pub(crate) expiry_date: Attr<'a>,
}

#[derive(Default)]
pub(crate) struct ReconciliationParts<'a> {
    pub(crate) language_code: Attr<'a>,
    pub(crate) totals: Vec<ReconciliationTotal>,
}

#[derive(Default)]
pub(crate) struct ReconciliationTotalParts<'a> {
    pub(crate) card_circuit: Attr<'a>,
    pub(crate) payment_type: Attr<'a>,
    pub(crate) number_payments: Attr<'a>,
    pub(crate) amount: AmountParts<'a>,
}

/// `Output` of a `DeviceRequest` or of a `DeviceResponse` (`OutResult`).
#[derive(Default)]
pub(crate) struct OutputParts<'a> {
    pub(crate) out_device_target: Attr<'a>,
    pub(crate) out_result: Attr<'a>,
}

#[derive(Default)]
pub(crate) struct TextLineParts<'a> {
    pub(crate) text: Text<'a>,
    pub(crate) row: Attr<'a>,
    pub(crate) column: Attr<'a>,
    pub(crate) erase: Attr<'a>,
    pub(crate) echo: Attr<'a>,
    pub(crate) cursor: Attr<'a>,
    pub(crate) time_out: Attr<'a>,
    pub(crate) color: Attr<'a>,
    pub(crate) char_set: Attr<'a>,
    pub(crate) alignment: Attr<'a>,
    pub(crate) height: Attr<'a>,
    pub(crate) width: Attr<'a>,
    pub(crate) char_style: Attr<'a>,
}

/// `Input` of a `DeviceRequest` (`Command`) or of a `DeviceResponse` (`InResult`, `InputValue`).
#[derive(Default)]
pub(crate) struct InputParts<'a> {
    pub(crate) in_device_target: Attr<'a>,
    pub(crate) in_result: Attr<'a>,
    pub(crate) command: Option<CommandParts<'a>>,
    /// The text of `InputValue` itself.
    pub(crate) input_value: Option<Text<'a>>,
    /// The text of the first child element of `InputValue` (whatever its name).
    pub(crate) input_value_child: Option<Text<'a>>,
}

#[derive(Default)]
pub(crate) struct CommandParts<'a> {
    pub(crate) text: Text<'a>,
    pub(crate) time_out: Attr<'a>,
    pub(crate) min_length: Attr<'a>,
    pub(crate) max_length: Attr<'a>,
}

/// Where an open element's attributes and text go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Not read by the model: an unknown element, one inside it, or a repeat of an element that
    /// is read once.
    Skip,
    Root,
    PosData,
    PosTimeStamp,
    ClerkId,
    ShiftNumber,
    TotalAmount,
    OriginalTransaction,
    Terminal,
    Tender,
    TenderAmount,
    Authorisation,
    CardValue,
    Reconciliation,
    ReconciliationTotal,
    Output,
    TextLine,
    Input,
    Command,
    InputValue,
    InputValueChild,
    PrivateData,
}

/// An open element.
struct Frame<'a> {
    slot: Slot,
    /// A child element has been opened: text that follows is layout and dropped.
    has_child: bool,
    /// Local name, for the error when the element is never closed.
    name: &'a str,
}

/// `slot` for the first element of its kind (its part is created empty), `Skip` for any later one.
fn once<T: Default>(part: &mut Option<T>, slot: Slot) -> Slot {
    if part.is_some() {
        return Slot::Skip;
    }
    *part = Some(T::default());
    slot
}

/// Re-borrows a slice of `input` (when `part` points into it) with the input's lifetime.
fn reborrow<'a>(input: &'a str, part: &[u8]) -> Option<&'a str> {
    let start = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    input.get(start..start.checked_add(part.len())?)
}

fn cow_in<'a>(input: &'a str, part: &[u8]) -> Cow<'a, str> {
    match reborrow(input, part) {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(String::from_utf8_lossy(part).into_owned()),
    }
}

/// Length of a qualified name's prefix, including the colon (0 when there is none).
fn prefix_len(name: &[u8]) -> usize {
    name.iter().position(|b| *b == b':').map_or(0, |i| i + 1)
}

fn append<'a>(text: &mut Cow<'a, str>, more: Cow<'a, str>) {
    if text.is_empty() {
        *text = more;
    } else {
        text.to_mut().push_str(&more);
    }
}

fn xml_err(offset: usize, detail: &str) -> DecodeErrorKind {
    DecodeErrorKind::Xml { offset, detail: detail.to_owned() }
}

impl<'a> Parts<'a> {
    /// Reads `input`. On failure the parts read so far stay, so the caller can still read the
    /// root element's attributes.
    pub(crate) fn read(&mut self, input: &'a str) -> Result<(), DecodeErrorKind> {
        let mut reader = Reader::from_str(input);
        let config = reader.config_mut();
        config.trim_text(false);
        config.check_end_names = true;
        config.expand_empty_elements = false;
        let mut stack: Vec<Frame<'a>> = Vec::with_capacity(8);
        // Qualified names of the current element's attributes, for the duplicate check.
        let mut keys: Vec<&'a str> = Vec::with_capacity(16);
        let mut root_done = false;
        loop {
            let before = reader.buffer_position() as usize;
            let event = reader.read_event().map_err(|e| DecodeErrorKind::Xml {
                offset: reader.error_position() as usize,
                detail: e.to_string(),
            })?;
            match event {
                Event::Start(_) | Event::Empty(_) if root_done && stack.is_empty() => {
                    return Err(xml_err(before, "a second root element after the message"));
                }
                Event::Start(e) => {
                    let (slot, name) = self.open(input, &e, stack.last_mut(), &mut keys, before)?;
                    self.started(slot);
                    if stack.len() >= MAX_DEPTH {
                        return Err(DecodeErrorKind::LimitExceeded {
                            what: "element nesting depth",
                            limit: MAX_DEPTH,
                            offset: before,
                        });
                    }
                    stack.push(Frame { slot, has_child: false, name });
                }
                Event::Empty(e) => {
                    let (slot, _) = self.open(input, &e, stack.last_mut(), &mut keys, before)?;
                    self.started(slot);
                    self.ended(slot);
                    if stack.is_empty() {
                        root_done = true;
                    }
                }
                Event::End(_) => {
                    if let Some(frame) = stack.pop() {
                        self.ended(frame.slot);
                    }
                    if stack.is_empty() {
                        root_done = true;
                    }
                }
                Event::Text(t) => match stack.last() {
                    // Only leaf elements carry text in OPI; white space between children is
                    // layout, so an element's text is dropped once it has a child.
                    Some(top) if top.has_child => {}
                    Some(top) => {
                        if let Some(text) = self.text_of(top.slot) {
                            append(text, cow_in(input, &t));
                        }
                    }
                    None if t.iter().all(u8::is_ascii_whitespace) => {}
                    None => return Err(xml_err(before, "text outside the root element")),
                },
                Event::CData(t) => match stack.last() {
                    Some(top) => {
                        if let Some(text) = self.text_of(top.slot) {
                            append(text, cow_in(input, &t));
                        }
                    }
                    None => return Err(xml_err(before, "CDATA outside the root element")),
                },
                Event::GeneralRef(r) => {
                    let Some(top) = stack.last() else {
                        return Err(xml_err(before, "entity reference outside the root element"));
                    };
                    let resolved: Cow<'a, str> = if r.is_char_ref() {
                        match r.resolve_char_ref() {
                            Ok(Some(c)) => Cow::Owned(c.to_string()),
                            Ok(None) | Err(_) => {
                                return Err(xml_err(before, "invalid character reference"));
                            }
                        }
                    } else {
                        let name = String::from_utf8_lossy(&r);
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => Cow::Borrowed(s),
                            None => {
                                return Err(xml_err(
                                    before,
                                    &format!(
                                        "unknown entity &{name}; (only the five XML entities are allowed)"
                                    ),
                                ));
                            }
                        }
                    };
                    if let Some(text) = self.text_of(top.slot) {
                        append(text, resolved);
                    }
                }
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
                Event::Eof => {
                    if let Some(open) = stack.last() {
                        let detail = format!("element <{}> is not closed", open.name);
                        return Err(xml_err(input.len(), &detail));
                    }
                    if self.root.is_none() {
                        return Err(DecodeErrorKind::Empty);
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Reads a start tag: finds where it goes, checks its attributes and keeps those the model
    /// reads. Returns the element's slot and local name.
    fn open(
        &mut self,
        input: &'a str,
        e: &BytesStart<'_>,
        parent: Option<&mut Frame<'a>>,
        keys: &mut Vec<&'a str>,
        offset: usize,
    ) -> Result<(Slot, &'a str), DecodeErrorKind> {
        // Invariant: a reader over a string hands out start tags that borrow from it.
        let Some(tag) = reborrow(input, e) else {
            return Err(xml_err(offset, "start tag outside the input"));
        };
        // The name ends at white space or at the end of the tag, so both slices fall on
        // character boundaries.
        let qname = &tag[..e.name().as_ref().len()];
        let name = &qname[prefix_len(qname.as_bytes())..];
        let slot = match parent {
            None => {
                self.kind = MessageKind::from_name(name);
                Slot::Root
            }
            Some(parent) => {
                parent.has_child = true;
                if let Some(text) = self.text_of(parent.slot) {
                    *text = Cow::Borrowed("");
                }
                self.enter(parent.slot, name)
            }
        };
        // Duplicate attributes are found here, on the qualified name as XML defines them.
        keys.clear();
        // quick-xml's own duplicate check allocates; the one here looks at this element's keys only.
        for (i, attr) in e.attributes().with_checks(false).enumerate() {
            if i >= MAX_ATTRIBUTES {
                return Err(DecodeErrorKind::LimitExceeded {
                    what: "attributes on one element",
                    limit: MAX_ATTRIBUTES,
                    offset,
                });
            }
            let attr = attr.map_err(|err| xml_err(offset, &err.to_string()))?;
            // Over a string, quick-xml hands out keys and (in XML mode, unnormalised) values that borrow from it.
            let raw_value: &[u8] = &attr.value;
            let (Some(key), Some(raw)) = (reborrow(input, attr.key.as_ref()), reborrow(input, raw_value))
            else {
                return Err(xml_err(offset, "attribute outside the input"));
            };
            if keys.contains(&key) {
                return Err(xml_err(offset, &format!("attribute {key} appears twice on one element")));
            }
            if key == "xmlns" || key.starts_with("xmlns:") {
                continue;
            }
            keys.push(key);
            let value = if raw.contains('&') {
                match quick_xml::escape::unescape(raw) {
                    Ok(v) => Cow::Owned(v.into_owned()),
                    Err(err) => return Err(xml_err(offset, &format!("attribute {key}: {err}"))),
                }
            } else {
                Cow::Borrowed(raw)
            };
            if slot != Slot::Skip {
                if let Some(field) = self.attr_of(slot, &key[prefix_len(key.as_bytes())..]) {
                    // The first attribute of a local name counts (`a:Row` and `b:Row` may both be there).
                    if field.is_none() {
                        *field = Some(value);
                    }
                }
            }
        }
        if slot == Slot::Root {
            self.root = Some(name);
        }
        Ok((slot, name))
    }

    /// After a start tag: an output is checked as soon as its attributes are read.
    fn started(&mut self, slot: Slot) {
        let (Slot::Output, Some(kind), None) = (slot, self.kind, &self.list_error) else { return };
        let el = El::new(kind, "/Output");
        if kind == MessageKind::DeviceRequest {
            match el.wire::<OutDevice>(&self.output.out_device_target, "OutDeviceTarget") {
                Ok(out_device_target) => {
                    self.outputs.push(Output { out_device_target, text_lines: Vec::new() })
                }
                Err(e) => self.list_error = Some(e),
            }
        } else {
            match el.output_result(&self.output) {
                Ok(o) => self.output_results.push(o),
                Err(e) => self.list_error = Some(e),
            }
        }
    }

    /// After an end tag (or an empty element): a text line or a reconciliation total is checked
    /// once its text is read.
    fn ended(&mut self, slot: Slot) {
        let (Some(kind), None) = (self.kind, &self.list_error) else { return };
        match slot {
            Slot::TextLine => match El::new(kind, "/Output/TextLine").text_line(&self.line) {
                // Invariant: a text line is read only inside an output that was accepted.
                Ok(line) => {
                    if let Some(o) = self.outputs.last_mut() {
                        o.text_lines.push(line);
                    }
                }
                Err(e) => self.list_error = Some(e),
            },
            Slot::ReconciliationTotal => {
                match El::new(kind, "/Reconciliation/TotalAmount").reconciliation_total(&self.total) {
                    Ok(total) => {
                        if let Some(r) = &mut self.reconciliation {
                            r.totals.push(total);
                        }
                    }
                    Err(e) => self.list_error = Some(e),
                }
            }
            _ => {}
        }
    }

    /// Where a child element called `name` of an element in `parent` goes; creates its part.
    fn enter(&mut self, parent: Slot, name: &str) -> Slot {
        use MessageKind::*;
        let Some(kind) = self.kind else { return Slot::Skip };
        match (parent, name) {
            (Slot::Root, "POSdata") if matches!(kind, CardServiceRequest | ServiceRequest) => {
                once(&mut self.pos_data, Slot::PosData)
            }
            (Slot::Root, "TotalAmount") if kind == CardServiceRequest => {
                once(&mut self.total_amount, Slot::TotalAmount)
            }
            (Slot::Root, "OriginalTransaction") if kind == CardServiceRequest => {
                once(&mut self.original_transaction, Slot::OriginalTransaction)
            }
            (Slot::Root, "Terminal") if matches!(kind, CardServiceResponse | ServiceResponse) => {
                once(&mut self.terminal, Slot::Terminal)
            }
            (Slot::Root, "Tender") if kind == CardServiceResponse => once(&mut self.tender, Slot::Tender),
            (Slot::Root, "CardValue") if kind == CardServiceResponse => {
                once(&mut self.card_value, Slot::CardValue)
            }
            (Slot::Root, "Reconciliation") if kind == ServiceResponse => {
                once(&mut self.reconciliation, Slot::Reconciliation)
            }
            (Slot::Root, "Output") if matches!(kind, DeviceRequest | DeviceResponse) => {
                self.output = OutputParts::default();
                Slot::Output
            }
            (Slot::Root, "Input") if matches!(kind, DeviceRequest | DeviceResponse) => {
                once(&mut self.input, Slot::Input)
            }
            (Slot::Root, "PrivateData") => once(&mut self.private_data, Slot::PrivateData),
            (Slot::PosData, _) => {
                let Some(p) = &mut self.pos_data else { return Slot::Skip };
                match name {
                    "POSTimeStamp" => once(&mut p.pos_time_stamp, Slot::PosTimeStamp),
                    "ClerkID" => once(&mut p.clerk_id, Slot::ClerkId),
                    "ShiftNumber" => once(&mut p.shift_number, Slot::ShiftNumber),
                    _ => Slot::Skip,
                }
            }
            (Slot::Tender, _) => {
                let Some(t) = &mut self.tender else { return Slot::Skip };
                match name {
                    "TotalAmount" => once(&mut t.total_amount, Slot::TenderAmount),
                    "Authorisation" => once(&mut t.authorisation, Slot::Authorisation),
                    _ => Slot::Skip,
                }
            }
            (Slot::Reconciliation, "TotalAmount") => {
                self.total = ReconciliationTotalParts::default();
                Slot::ReconciliationTotal
            }
            (Slot::Output, "TextLine") if kind == DeviceRequest => {
                self.line = TextLineParts::default();
                Slot::TextLine
            }
            (Slot::Input, _) => {
                let Some(i) = &mut self.input else { return Slot::Skip };
                match name {
                    "Command" if kind == DeviceRequest => once(&mut i.command, Slot::Command),
                    "InputValue" if kind == DeviceResponse => once(&mut i.input_value, Slot::InputValue),
                    _ => Slot::Skip,
                }
            }
            (Slot::InputValue, _) => match &mut self.input {
                Some(i) => once(&mut i.input_value_child, Slot::InputValueChild),
                None => Slot::Skip,
            },
            _ => Slot::Skip,
        }
    }

    /// The field for the attribute called `name` (local name) of an element in `slot`, if the
    /// model reads it.
    fn attr_of(&mut self, slot: Slot, name: &str) -> Option<&mut Attr<'a>> {
        Some(match (slot, name) {
            (Slot::Root, "RequestType") => &mut self.request_type,
            (Slot::Root, "ApplicationSender") => &mut self.application_sender,
            (Slot::Root, "WorkstationID") => &mut self.workstation_id,
            (Slot::Root, "POPID") => &mut self.pop_id,
            (Slot::Root, "RequestID") => &mut self.request_id,
            (Slot::Root, "OverallResult") => &mut self.overall_result,
            (Slot::PosData, "LanguageCode") => &mut self.pos_data.as_mut()?.language_code,
            (Slot::TotalAmount, "Currency") => &mut self.total_amount.as_mut()?.currency,
            (Slot::OriginalTransaction, _) => {
                let o = self.original_transaction.as_mut()?;
                match name {
                    "TerminalID" => &mut o.terminal_id,
                    "STAN" => &mut o.stan,
                    "TimeStamp" => &mut o.time_stamp,
                    "ApprovalCode" => &mut o.approval_code,
                    _ => return None,
                }
            }
            (Slot::Terminal, _) => {
                let t = self.terminal.as_mut()?;
                match name {
                    "TerminalID" => &mut t.terminal_id,
                    "TerminalBatch" => &mut t.terminal_batch,
                    "STAN" => &mut t.stan,
                    _ => return None,
                }
            }
            (Slot::TenderAmount, "Currency") => &mut self.tender.as_mut()?.total_amount.as_mut()?.currency,
            (Slot::Authorisation, _) => {
                let a = self.tender.as_mut()?.authorisation.as_mut()?;
                match name {
                    "AcquirerID" => &mut a.acquirer_id,
                    "CardPAN" => &mut a.card_pan,
                    "CardCircuit" => &mut a.card_circuit,
                    "AuthorisationType" => &mut a.authorisation_type,
                    "ApprovalCode" => &mut a.approval_code,
                    "ReceiptNumber" => &mut a.receipt_number,
                    "TimeStamp" => &mut a.time_stamp,
                    "ActionCode" => &mut a.action_code,
                    _ => return None,
                }
            }
            (Slot::CardValue, _) => {
                let c = self.card_value.as_mut()?;
                match name {
                    "CardCircuit" => &mut c.card_circuit,
                    "CardPAN" => &mut c.card_pan,
                    "ExpiryDate" => &mut c.expiry_date,
                    _ => return None,
                }
            }
            (Slot::Reconciliation, "LanguageCode") => &mut self.reconciliation.as_mut()?.language_code,
            (Slot::ReconciliationTotal, _) => {
                let t = &mut self.total;
                match name {
                    "CardCircuit" => &mut t.card_circuit,
                    "PaymentType" => &mut t.payment_type,
                    "NumberPayments" => &mut t.number_payments,
                    "Currency" => &mut t.amount.currency,
                    _ => return None,
                }
            }
            (Slot::Output, "OutDeviceTarget") => &mut self.output.out_device_target,
            (Slot::Output, "OutResult") => &mut self.output.out_result,
            (Slot::TextLine, _) => {
                let l = &mut self.line;
                match name {
                    "Row" => &mut l.row,
                    "Column" => &mut l.column,
                    "Erase" => &mut l.erase,
                    "Echo" => &mut l.echo,
                    "Cursor" => &mut l.cursor,
                    "TimeOut" => &mut l.time_out,
                    "Color" => &mut l.color,
                    "CharSet" => &mut l.char_set,
                    "Alignment" => &mut l.alignment,
                    "Height" => &mut l.height,
                    "Width" => &mut l.width,
                    "CharStyle1" => &mut l.char_style,
                    _ => return None,
                }
            }
            (Slot::Input, "InDeviceTarget") => &mut self.input.as_mut()?.in_device_target,
            (Slot::Input, "InResult") => &mut self.input.as_mut()?.in_result,
            (Slot::Command, _) => {
                let c = self.input.as_mut()?.command.as_mut()?;
                match name {
                    "TimeOut" => &mut c.time_out,
                    "MinLength" => &mut c.min_length,
                    "MaxLength" => &mut c.max_length,
                    _ => return None,
                }
            }
            _ => return None,
        })
    }

    /// The text field of an element in `slot`, if the model reads its text.
    fn text_of(&mut self, slot: Slot) -> Option<&mut Text<'a>> {
        match slot {
            Slot::PosTimeStamp => self.pos_data.as_mut()?.pos_time_stamp.as_mut(),
            Slot::ClerkId => self.pos_data.as_mut()?.clerk_id.as_mut(),
            Slot::ShiftNumber => self.pos_data.as_mut()?.shift_number.as_mut(),
            Slot::TotalAmount => Some(&mut self.total_amount.as_mut()?.text),
            Slot::TenderAmount => Some(&mut self.tender.as_mut()?.total_amount.as_mut()?.text),
            Slot::ReconciliationTotal => Some(&mut self.total.amount.text),
            Slot::TextLine => Some(&mut self.line.text),
            Slot::Command => Some(&mut self.input.as_mut()?.command.as_mut()?.text),
            Slot::InputValue => self.input.as_mut()?.input_value.as_mut(),
            Slot::InputValueChild => self.input.as_mut()?.input_value_child.as_mut(),
            Slot::PrivateData => self.private_data.as_mut(),
            Slot::Skip
            | Slot::Root
            | Slot::PosData
            | Slot::OriginalTransaction
            | Slot::Terminal
            | Slot::Tender
            | Slot::Authorisation
            | Slot::CardValue
            | Slot::Reconciliation
            | Slot::Output
            | Slot::Input => None,
        }
    }
}
