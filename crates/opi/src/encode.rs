//! [`Message`] → bytes, through quick-xml's writer (which does all escaping).
//!
//! The output has an XML declaration naming its encoding, the OPI namespace as the default
//! namespace on the root element, attributes in a fixed order, and amounts with exactly the
//! currency's number of decimals. Absent optional fields are left out.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::model::*;

/// How to write a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncodeOptions {
    /// The character encoding (and the declaration's `encoding`).
    pub encoding: Encoding,
    /// Indent nested elements by two spaces, one element per line (the canonical fixture form).
    pub pretty: bool,
}

/// Encodes a message compactly in the given encoding.
pub fn encode(message: &Message, encoding: Encoding) -> Vec<u8> {
    encode_with(message, EncodeOptions { encoding, pretty: false })
}

/// Encodes a message with explicit options.
pub fn encode_with(message: &Message, options: EncodeOptions) -> Vec<u8> {
    let out = Vec::with_capacity(1024);
    let mut w =
        W { w: if options.pretty { Writer::new_with_indent(out, b' ', 2) } else { Writer::new(out) } };
    w.event(Event::Decl(BytesDecl::new("1.0", Some(options.encoding.xml_name()), None)));
    write_message(&mut w, message);
    let mut bytes = w.w.into_inner();
    if options.pretty {
        bytes.push(b'\n');
    }
    match options.encoding {
        Encoding::Utf8 => bytes,
        Encoding::Iso8859_1 => to_latin1(&bytes),
    }
}

/// Re-encodes UTF-8 output as ISO-8859-1; characters beyond U+00FF become character references
/// (the writer only ever puts them in text and attribute values, where references are allowed).
fn to_latin1(utf8: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(utf8);
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => out.push(b),
            Err(_) => out.extend_from_slice(format!("&#x{:X};", u32::from(c)).as_bytes()),
        }
    }
    out
}

struct W {
    w: Writer<Vec<u8>>,
}

type Attrs<'a> = [(&'a str, Option<&'a str>)];

impl W {
    fn event(&mut self, e: Event<'_>) {
        // Writing into a Vec<u8> cannot fail: the only error source is the underlying writer.
        let _ = self.w.write_event(e);
    }

    fn tag<'a>(name: &'a str, attrs: &Attrs<'a>) -> BytesStart<'a> {
        let mut start = BytesStart::new(name);
        for (k, v) in attrs {
            if let Some(v) = v {
                start.push_attribute((*k, *v));
            }
        }
        start
    }

    fn start(&mut self, name: &str, attrs: &Attrs<'_>) {
        self.event(Event::Start(Self::tag(name, attrs)));
    }

    fn end(&mut self, name: &str) {
        self.event(Event::End(BytesEnd::new(name)));
    }

    fn empty(&mut self, name: &str, attrs: &Attrs<'_>) {
        self.event(Event::Empty(Self::tag(name, attrs)));
    }

    fn text_element(&mut self, name: &str, attrs: &Attrs<'_>, text: &str) {
        if text.is_empty() {
            self.empty(name, attrs);
            return;
        }
        self.start(name, attrs);
        self.event(Event::Text(BytesText::new(text)));
        self.end(name);
    }

    fn opt_text(&mut self, name: &str, text: Option<&str>) {
        if let Some(t) = text {
            self.text_element(name, &[], t);
        }
    }

    fn amount(&mut self, name: &str, extra: &Attrs<'_>, amount: &Amount) {
        let mut attrs: Vec<(&str, Option<&str>)> = extra.to_vec();
        attrs.push(("Currency", Some(amount.currency.code())));
        self.text_element(name, &attrs, &amount.to_decimal_string());
    }

    fn private_data(&mut self, p: Option<&PrivateData>) {
        self.opt_text("PrivateData", p.map(|p| p.0.as_str()));
    }

    fn pos_data(&mut self, p: Option<&PosData>) {
        let Some(p) = p else { return };
        self.start("POSdata", &[("LanguageCode", p.language_code.as_deref())]);
        self.text_element("POSTimeStamp", &[], p.pos_time_stamp.as_str());
        self.opt_text("ClerkID", p.clerk_id.as_deref());
        self.opt_text("ShiftNumber", p.shift_number.as_deref());
        self.end("POSdata");
    }

    fn terminal(&mut self, t: Option<&Terminal>) {
        let Some(t) = t else { return };
        self.empty(
            "Terminal",
            &[
                ("TerminalID", Some(&t.terminal_id)),
                ("TerminalBatch", t.terminal_batch.as_deref()),
                ("STAN", t.stan.as_deref()),
            ],
        );
    }
}

fn root_attrs<'a>(
    h: &'a Header,
    request_type: &'a str,
    overall: Option<&'a OverallResult>,
) -> [(&'a str, Option<&'a str>); 7] {
    [
        ("xmlns", Some(NAMESPACE)),
        ("RequestType", Some(request_type)),
        ("ApplicationSender", h.application_sender.as_deref()),
        ("WorkstationID", Some(&h.workstation_id)),
        ("POPID", h.pop_id.as_deref()),
        ("RequestID", Some(&h.request_id)),
        ("OverallResult", overall.map(OverallResult::as_str)),
    ]
}

fn u32s(v: Option<u32>) -> Option<String> {
    v.map(|n| n.to_string())
}

fn bools(v: Option<bool>) -> Option<&'static str> {
    v.map(|b| if b { "true" } else { "false" })
}

fn has_children(message: &Message) -> bool {
    match message {
        Message::CardServiceRequest(m) => {
            m.pos_data.is_some()
                || m.total_amount.is_some()
                || m.original_transaction.is_some()
                || m.private_data.is_some()
        }
        Message::CardServiceResponse(m) => {
            m.terminal.is_some() || m.tender.is_some() || m.card_value.is_some() || m.private_data.is_some()
        }
        Message::ServiceRequest(m) => m.pos_data.is_some() || m.private_data.is_some(),
        Message::ServiceResponse(m) => {
            m.terminal.is_some() || m.reconciliation.is_some() || m.private_data.is_some()
        }
        Message::DeviceRequest(m) => !m.outputs.is_empty() || m.input.is_some() || m.private_data.is_some(),
        Message::DeviceResponse(m) => !m.outputs.is_empty() || m.input.is_some() || m.private_data.is_some(),
    }
}

fn write_message(w: &mut W, message: &Message) {
    let name = message.kind().as_str();
    let attrs = root_attrs(message.header(), message.request_type_str(), message.overall_result());
    if !has_children(message) {
        w.empty(name, &attrs);
        return;
    }
    w.start(name, &attrs);
    match message {
        Message::CardServiceRequest(m) => {
            w.pos_data(m.pos_data.as_ref());
            if let Some(a) = &m.total_amount {
                w.amount("TotalAmount", &[], a);
            }
            if let Some(o) = &m.original_transaction {
                w.empty(
                    "OriginalTransaction",
                    &[
                        ("TerminalID", o.terminal_id.as_deref()),
                        ("STAN", o.stan.as_deref()),
                        ("TimeStamp", o.time_stamp.as_ref().map(TimeStamp::as_str)),
                        ("ApprovalCode", o.approval_code.as_deref()),
                    ],
                );
            }
            w.private_data(m.private_data.as_ref());
        }
        Message::CardServiceResponse(m) => {
            w.terminal(m.terminal.as_ref());
            if let Some(t) =
                m.tender.as_ref().filter(|t| t.total_amount.is_none() && t.authorisation.is_none())
            {
                let _ = t;
                w.empty("Tender", &[]);
            } else if let Some(t) = &m.tender {
                w.start("Tender", &[]);
                if let Some(a) = &t.total_amount {
                    w.amount("TotalAmount", &[], a);
                }
                if let Some(a) = &t.authorisation {
                    w.empty(
                        "Authorisation",
                        &[
                            ("AcquirerID", a.acquirer_id.as_deref()),
                            ("CardPAN", a.card_pan.as_ref().map(CardPan::as_str)),
                            ("CardCircuit", a.card_circuit.as_deref()),
                            ("AuthorisationType", a.authorisation_type.as_deref()),
                            ("ApprovalCode", a.approval_code.as_deref()),
                            ("ReceiptNumber", a.receipt_number.as_deref()),
                            ("TimeStamp", a.time_stamp.as_ref().map(TimeStamp::as_str)),
                            ("ActionCode", a.action_code.as_deref()),
                        ],
                    );
                }
                w.end("Tender");
            }
            if let Some(c) = &m.card_value {
                w.empty(
                    "CardValue",
                    &[
                        ("CardCircuit", c.card_circuit.as_deref()),
                        ("CardPAN", c.card_pan.as_ref().map(CardPan::as_str)),
                        ("ExpiryDate", c.expiry_date.as_deref()),
                    ],
                );
            }
            w.private_data(m.private_data.as_ref());
        }
        Message::ServiceRequest(m) => {
            w.pos_data(m.pos_data.as_ref());
            w.private_data(m.private_data.as_ref());
        }
        Message::ServiceResponse(m) => {
            w.terminal(m.terminal.as_ref());
            if let Some(r) = &m.reconciliation {
                let attrs = [("LanguageCode", r.language_code.as_deref())];
                if r.totals.is_empty() {
                    w.empty("Reconciliation", &attrs);
                } else {
                    w.start("Reconciliation", &attrs);
                    for t in &r.totals {
                        let n = u32s(t.number_payments);
                        w.amount(
                            "TotalAmount",
                            &[
                                ("NumberPayments", n.as_deref()),
                                ("CardCircuit", t.card_circuit.as_deref()),
                                ("PaymentType", t.payment_type.as_deref()),
                            ],
                            &t.amount,
                        );
                    }
                    w.end("Reconciliation");
                }
            }
            w.private_data(m.private_data.as_ref());
        }
        Message::DeviceRequest(m) => {
            for o in &m.outputs {
                let attrs = [("OutDeviceTarget", Some(o.out_device_target.as_str()))];
                if o.text_lines.is_empty() {
                    w.empty("Output", &attrs);
                    continue;
                }
                w.start("Output", &attrs);
                for l in &o.text_lines {
                    let (row, column, time_out, char_set) =
                        (u32s(l.row), u32s(l.column), u32s(l.time_out), u32s(l.char_set));
                    w.text_element(
                        "TextLine",
                        &[
                            ("Row", row.as_deref()),
                            ("Column", column.as_deref()),
                            ("Erase", bools(l.erase)),
                            ("Echo", bools(l.echo)),
                            ("Cursor", bools(l.cursor)),
                            ("TimeOut", time_out.as_deref()),
                            ("Color", l.color.as_deref()),
                            ("CharSet", char_set.as_deref()),
                            ("Alignment", l.alignment.as_deref()),
                            ("Height", l.height.as_deref()),
                            ("Width", l.width.as_deref()),
                            ("CharStyle1", l.char_style.as_deref()),
                        ],
                        &l.text,
                    );
                }
                w.end("Output");
            }
            if let Some(i) = &m.input {
                let attrs = [("InDeviceTarget", Some(i.in_device_target.as_str()))];
                match &i.command {
                    None => w.empty("Input", &attrs),
                    Some(c) => {
                        w.start("Input", &attrs);
                        let (t, min, max) = (u32s(c.time_out), u32s(c.min_length), u32s(c.max_length));
                        w.text_element(
                            "Command",
                            &[
                                ("TimeOut", t.as_deref()),
                                ("MinLength", min.as_deref()),
                                ("MaxLength", max.as_deref()),
                            ],
                            &c.command,
                        );
                        w.end("Input");
                    }
                }
            }
            w.private_data(m.private_data.as_ref());
        }
        Message::DeviceResponse(m) => {
            for o in &m.outputs {
                w.empty(
                    "Output",
                    &[
                        ("OutDeviceTarget", Some(o.out_device_target.as_str())),
                        ("OutResult", Some(o.out_result.as_str())),
                    ],
                );
            }
            if let Some(i) = &m.input {
                let attrs = [
                    ("InDeviceTarget", Some(i.in_device_target.as_str())),
                    ("InResult", Some(i.in_result.as_str())),
                ];
                match &i.input_value {
                    None => w.empty("Input", &attrs),
                    Some(v) => {
                        w.start("Input", &attrs);
                        w.start("InputValue", &[]);
                        w.text_element("InString", &[], v);
                        w.end("InputValue");
                        w.end("Input");
                    }
                }
            }
            w.private_data(m.private_data.as_ref());
        }
    }
    w.end(name);
}
