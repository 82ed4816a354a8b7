//! The typed OPI_NL messages.
//!
//! One Rust type per message and per part; every field carries the OPI element or attribute name
//! it comes from (the serde names are the OPI names, so the JSON that `ccv-emu opi decode` prints
//! reads like the XML). Values that have a syntax of their own are validated newtypes:
//! [`Amount`] (integer minor units, never a float), [`Currency`], [`TimeStamp`] and [`CardPan`]
//! (always masked).
//!
//! Each element is described once, with the `element!` macro of `schema` (the message header with
//! `group!`): the description gives the struct and how it is read from and written to XML, so
//! adding an attribute or a child element is one edit here. The enumerations with a fixed set of
//! wire values (request types, devices) are plain `strum` + `serde` derives; [`WireEnum`] gives
//! them their wire form and makes them attribute values.

use std::borrow::Cow;
use std::fmt;

use quick_xml::events::{BytesStart, BytesText, Event};
use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr, VariantArray};

use crate::amount::truncate;
pub use crate::amount::{Amount, AmountError, Currency, Decimal};
pub use crate::kinds::{MessageKind, OverallResult};
use crate::schema::{
    At, Element, Field, Soft, Value, element, group, invalid, kind, missing_element, required,
};
use crate::xml::{Cx, Hard, Out, Path, RawAttr, Read, Tag};

/// The XML namespace every OPI message is written in.
pub const NAMESPACE: &str = "http://www.nrf-arts.org/IXRetail/namespace";

/// Any OPI_NL message: the root element of one frame.
///
/// Serialised externally tagged, so JSON looks like `{"CardServiceRequest": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// POS (or TAS) → terminal: a payment, refund, reversal, ...
    CardServiceRequest(CardServiceRequest),
    /// Terminal → POS (or TAS): the result of a [`CardServiceRequest`].
    CardServiceResponse(CardServiceResponse),
    /// POS → terminal: login, logoff, reconciliation, diagnosis, ...
    ServiceRequest(ServiceRequest),
    /// Terminal → POS: the result of a [`ServiceRequest`].
    ServiceResponse(ServiceResponse),
    /// Terminal → POS: print a receipt, show a text, ask for input.
    DeviceRequest(DeviceRequest),
    /// POS → terminal: the result of a [`DeviceRequest`].
    DeviceResponse(DeviceResponse),
}

impl Message {
    /// Which message this is.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::CardServiceRequest(_) => MessageKind::CardServiceRequest,
            Message::CardServiceResponse(_) => MessageKind::CardServiceResponse,
            Message::ServiceRequest(_) => MessageKind::ServiceRequest,
            Message::ServiceResponse(_) => MessageKind::ServiceResponse,
            Message::DeviceRequest(_) => MessageKind::DeviceRequest,
            Message::DeviceResponse(_) => MessageKind::DeviceResponse,
        }
    }

    /// The common header attributes.
    pub fn header(&self) -> &Header {
        match self {
            Message::CardServiceRequest(m) => &m.header,
            Message::CardServiceResponse(m) => &m.header,
            Message::ServiceRequest(m) => &m.header,
            Message::ServiceResponse(m) => &m.header,
            Message::DeviceRequest(m) => &m.header,
            Message::DeviceResponse(m) => &m.header,
        }
    }

    /// The `RequestType` attribute as written on the wire.
    pub fn request_type_str(&self) -> &'static str {
        match self {
            Message::CardServiceRequest(m) => m.request_type.as_str(),
            Message::CardServiceResponse(m) => m.request_type.as_str(),
            Message::ServiceRequest(m) => m.request_type.as_str(),
            Message::ServiceResponse(m) => m.request_type.as_str(),
            Message::DeviceRequest(m) => m.request_type.as_str(),
            Message::DeviceResponse(m) => m.request_type.as_str(),
        }
    }

    /// The `OverallResult` of a response; `None` for a request.
    pub fn overall_result(&self) -> Option<&OverallResult> {
        match self {
            Message::CardServiceResponse(m) => Some(&m.overall_result),
            Message::ServiceResponse(m) => Some(&m.overall_result),
            Message::DeviceResponse(m) => Some(&m.overall_result),
            _ => None,
        }
    }
}

group! {
    /// The header attributes every OPI message carries on its root element.
    ///
    /// `WorkstationID` and `RequestID` are mandatory; a response echoes the request's values.
    #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
    pub struct Header(HeaderRaw) {
        /// `ApplicationSender`: free text naming the sending application.
        #[serde(rename = "ApplicationSender", default, skip_serializing_if = "Option::is_none")]
        Attr("ApplicationSender") pub application_sender: Option<String>,
        /// `WorkstationID`: the POS workstation (mandatory).
        #[serde(rename = "WorkstationID")]
        Attr("WorkstationID") pub workstation_id: String,
        /// `POPID`: the point of payment (optional).
        #[serde(rename = "POPID", default, skip_serializing_if = "Option::is_none")]
        Attr("POPID") pub pop_id: Option<String>,
        /// `RequestID`: correlates a response with its request (mandatory).
        #[serde(rename = "RequestID")]
        Attr("RequestID") pub request_id: String,
    }
}

/// An enumeration with a fixed set of wire values (the request types, devices).
///
/// The wire names are derived by `strum` from the variant names (`IntoStaticStr`, `EnumString`,
/// `VariantArray`, `Display`), as are the serde names; a unit test checks that both agree. The
/// methods here are built on those derives, and every `WireEnum` is an attribute value.
pub trait WireEnum: Copy + 'static + strum::VariantArray + Into<&'static str> + std::str::FromStr {
    /// Every value, in declaration order.
    const ALL: &'static [Self] = Self::VARIANTS;

    /// The value as written on the wire.
    fn as_str(self) -> &'static str {
        self.into()
    }

    /// Parses the wire form (exact, case-sensitive).
    fn from_wire(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// The wire values, comma-separated (for error messages).
    fn expected() -> String {
        Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
    }
}

impl<T: WireEnum> Value for T {
    fn from_attr(v: &str) -> Result<Self, String> {
        T::from_wire(v.trim()).ok_or_else(|| format!("expected one of {}", T::expected()))
    }
    fn to_wire(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.as_str())
    }
}

/// `RequestType` of a `CardServiceRequest` / `CardServiceResponse`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
    strum::Display,
)]
pub enum CardRequestType {
    /// A payment.
    CardPayment,
    /// A refund to the card.
    PaymentRefund,
    /// Reversal of an earlier payment.
    PaymentReversal,
    /// A pre-authorisation (reservation) of an amount.
    CardReservation,
    /// Print the last ticket again.
    TicketReprint,
    /// Abort the card service request in progress.
    AbortRequest,
}

impl WireEnum for CardRequestType {}

/// `RequestType` of a `ServiceRequest` / `ServiceResponse`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
    strum::Display,
)]
pub enum ServiceRequestType {
    /// Log the POS in to the terminal.
    Login,
    /// Log the POS off.
    Logoff,
    /// Totals since the last closure, without closing.
    Reconciliation,
    /// Totals and day close (the terminal's DAGAFSLUITING).
    ReconciliationWithClosure,
    /// Check the terminal and its host connection.
    Diagnosis,
    /// Abort the service request in progress.
    AbortRequest,
    /// Ask for the result of the last card transaction (after a lost response).
    GetLastTransactionStatus,
}

impl WireEnum for ServiceRequestType {}

/// `RequestType` of a `DeviceRequest` / `DeviceResponse`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
    strum::Display,
)]
pub enum DeviceRequestType {
    /// Ask for input (a confirmation, a key, a number).
    Input,
    /// Show or print text.
    Output,
    /// Input that must not be echoed (PIN-like).
    SecureInput,
    /// A notification without content to act on.
    Event,
    /// Abort an input in progress.
    AbortInput,
    /// Abort an output in progress.
    AbortOutput,
}

impl WireEnum for DeviceRequestType {}

/// `OutDeviceTarget` of an `Output`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
    strum::Display,
)]
pub enum OutDevice {
    /// The POS printer (generic).
    Printer,
    /// The POS printer, printing a customer or merchant receipt.
    PrinterReceipt,
    /// The display the cashier reads.
    CashierDisplay,
    /// The display the customer reads.
    CustomerDisplay,
    /// The POS electronic journal.
    EJournal,
    /// A journal printer.
    JournalPrinter,
}

impl WireEnum for OutDevice {}

/// `InDeviceTarget` of an `Input`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
    strum::Display,
)]
pub enum InDevice {
    /// The cashier's keyboard.
    CashierKeyboard,
    /// The customer's keyboard (the terminal's keys).
    CustomerKeyboard,
    /// The cashier's display (touch).
    CashierDisplay,
    /// The customer's display (touch).
    CustomerDisplay,
}

impl WireEnum for InDevice {}

impl Value for OverallResult {
    fn from_attr(v: &str) -> Result<Self, String> {
        Ok(OverallResult::from_wire(v.trim()))
    }
    fn to_wire(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.as_str())
    }
}

/// An XML Schema `dateTime` as written by the sender: `YYYY-MM-DDThh:mm:ss`, optional fraction
/// of a second, optional `Z` or `±hh:mm`. Checked for shape and ranges, kept as text; the
/// crate never reads a clock, the caller supplies the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeStamp(String);

impl TimeStamp {
    /// Validates a time stamp text.
    pub fn new(text: &str) -> Result<TimeStamp, String> {
        let t = text.trim();
        let err = || format!("{:?} is not a date-time (expected YYYY-MM-DDThh:mm:ss)", truncate(t, 40));
        let b = t.as_bytes();
        if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return Err(err());
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let s = &b[r];
            if s.iter().all(u8::is_ascii_digit) {
                Some(s.iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0')))
            } else {
                None
            }
        };
        let (Some(_y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) =
            (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16), num(17..19))
        else {
            return Err(err());
        };
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
            return Err(err());
        }
        let mut rest = &b[19..];
        if let [b'.', tail @ ..] = rest {
            let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return Err(err());
            }
            rest = &tail[n..];
        }
        let zone_ok = match rest {
            [] | [b'Z'] => true,
            [sign, h1, h2, b':', m1, m2] if (*sign == b'+' || *sign == b'-') => {
                [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
            }
            _ => false,
        };
        if !zone_ok {
            return Err(err());
        }
        Ok(TimeStamp(t.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TimeStamp {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        TimeStamp::new(&s)
    }
}

impl From<TimeStamp> for String {
    fn from(t: TimeStamp) -> Self {
        t.0
    }
}

const TIME_STAMP: &str =
    "expected a date-time YYYY-MM-DDThh:mm:ss, optionally with a fraction and Z or +hh:mm";

impl Value for TimeStamp {
    fn from_attr(v: &str) -> Result<Self, String> {
        TimeStamp::new(v).map_err(|_| TIME_STAMP.to_owned())
    }
    fn to_wire(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.as_str())
    }
}

impl fmt::Display for TimeStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A card number that is always masked: digits and mask characters (`*`, `X`, `x`), with at
/// most ten digits in the clear (first six and last four). A full PAN is refused, so one can
/// never travel through this crate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CardPan(String);

impl CardPan {
    /// Accepts an already masked PAN.
    pub fn new(text: &str) -> Result<CardPan, String> {
        let t = text.trim();
        if t.is_empty() || t.len() > 24 {
            return Err(format!("CardPAN {:?} must have 1 to 24 characters", truncate(t, 30)));
        }
        if !t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'X' | b'x')) {
            return Err(format!(
                "CardPAN {:?} may only hold digits and mask characters (*, X)",
                truncate(t, 30)
            ));
        }
        let digits = t.bytes().filter(u8::is_ascii_digit).count();
        if digits > 10 {
            return Err(format!(
                "CardPAN shows {digits} digits in the clear; mask all but the first six and last four"
            ));
        }
        Ok(CardPan(t.to_owned()))
    }

    /// Masks a full PAN: keeps the first six and last four digits, `*` in between.
    pub fn mask(full: &str) -> Result<CardPan, String> {
        let digits: Vec<u8> = full.bytes().filter(u8::is_ascii_digit).collect();
        if digits.len() < 4 || digits.len() > 19 || digits.len() != full.trim().len() {
            return Err("a PAN has 4 to 19 digits and nothing else".to_owned());
        }
        let keep_head = if digits.len() >= 13 { 6 } else { 0 };
        let tail = digits.len() - 4;
        let masked: String = digits
            .iter()
            .enumerate()
            .map(|(i, d)| if i < keep_head || i >= tail { char::from(*d) } else { '*' })
            .collect();
        Ok(CardPan(masked))
    }

    /// The masked text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CardPan {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CardPan::new(&s)
    }
}

impl From<CardPan> for String {
    fn from(p: CardPan) -> Self {
        p.0
    }
}

impl Value for CardPan {
    fn from_attr(v: &str) -> Result<Self, String> {
        CardPan::new(v)
    }
    fn to_wire(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.as_str())
    }
}

impl fmt::Display for CardPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

element! {
    /// `POSdata`: when and where the POS made the request.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct PosData {
        /// `LanguageCode` attribute (e.g. `nl`).
        #[serde(rename = "LanguageCode", default, skip_serializing_if = "Option::is_none")]
        Attr("LanguageCode") pub language_code: Option<String>,
        /// `POSTimeStamp` element (mandatory inside `POSdata`).
        #[serde(rename = "POSTimeStamp")]
        Leaf("POSTimeStamp") pub pos_time_stamp: TimeStamp,
        /// `ClerkID` element.
        #[serde(rename = "ClerkID", default, skip_serializing_if = "Option::is_none")]
        Leaf("ClerkID") pub clerk_id: Option<String>,
        /// `ShiftNumber` element.
        #[serde(rename = "ShiftNumber", default, skip_serializing_if = "Option::is_none")]
        Leaf("ShiftNumber") pub shift_number: Option<String>,
    }
}

/// `PrivateData`: vendor text, passed through untouched (its text content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PrivateData(pub String);

/// Kept exactly, white space included.
impl Value for PrivateData {
    fn from_attr(v: &str) -> Result<Self, String> {
        Ok(PrivateData(v.to_owned()))
    }
    fn to_wire(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.0)
    }
}

/// The element's text as an amount, its attribute (`Currency`) naming the currency.
impl Field<kind::Amount> for Amount {
    type Raw<'a> = (RawAttr<'a>, Cow<'a, str>);
    const TEXT: bool = true;
    fn attr<'a>(raw: &mut Self::Raw<'a>, value: Cow<'a, str>) {
        if raw.0.is_none() {
            raw.0 = Some(value);
        }
    }
    fn text<'a>(raw: &mut Self::Raw<'a>, text: &mut Cow<'a, str>) {
        raw.1 = std::mem::take(text);
    }
    fn finish((currency, text): Self::Raw<'_>, path: &Path<'_>, name: &'static str) -> Soft<Self> {
        let code = required(currency, path, name)?;
        let currency = Currency::new(code.trim()).map_err(|e| invalid(path, Some(name), &code, e))?;
        if text.trim().is_empty() {
            return Err(missing_element(path, "(amount text)"));
        }
        Amount::parse(&text, currency).map_err(|e| {
            let reason = match e {
                AmountError::TooManyDecimals { currency, decimals, .. } => {
                    format!("{currency} has {decimals} decimals; round the amount")
                }
                AmountError::Overflow(_) => "the amount is too large".to_owned(),
                _ => "expected digits with an optional '.' and decimals, e.g. 39.50 (no sign, no comma)"
                    .to_owned(),
            };
            invalid(path, None, &text, reason)
        })
    }
    fn write_attrs(&self, name: &'static str, tag: &mut BytesStart<'_>) {
        tag.push_attribute((name, self.currency.code()));
    }
    fn has_content(&self) -> bool {
        true
    }
    fn write_content(&self, _: &'static str, w: &mut Out) {
        w.event(Event::Text(BytesText::new(&self.to_decimal_string())));
    }
}

element! {
    /// An element that is an amount: `<TotalAmount Currency="EUR">39.50</TotalAmount>`.
    struct AmountElement {
        Amount("Currency") pub amount: Amount,
    }
}

impl Element for Amount {
    fn decode<'a>(cx: &mut Cx<'a>, tag: Tag<'a>, path: &Path<'_>) -> Read<Self> {
        Ok(AmountElement::decode(cx, tag, path)?.map(|e| e.amount))
    }
    fn encode(&self, name: &str, tag: BytesStart<'_>, w: &mut Out) {
        AmountElement { amount: *self }.encode(name, tag, w);
    }
}

/// `InputValue`: the text of its first child (`InString`, `InNumber`, ...) or else its own,
/// trimmed; written as `<InputValue><InString>..</InString></InputValue>`.
impl Field<kind::InputValue> for Option<String> {
    type Raw<'a> = Option<(Cow<'a, str>, Option<Cow<'a, str>>)>;
    fn child<'a>(raw: &mut Self::Raw<'a>, at: At<'_, 'a, '_>) -> Result<(), Hard> {
        at.once(raw, |cx, tag| {
            cx.attributes(&tag, |_, _| {})?;
            let mut first = None;
            let own = cx.content(tag, true, |cx, child| match first {
                Some(_) => cx.skip(child),
                None => {
                    first = Some(cx.leaf_text(child)?);
                    Ok(())
                }
            })?;
            Ok((own, first))
        })
    }
    fn finish(raw: Self::Raw<'_>, _: &Path<'_>, _: &'static str) -> Soft<Self> {
        Ok(raw.map(|(own, first)| first.unwrap_or(own).trim().to_owned()))
    }
    fn has_content(&self) -> bool {
        self.is_some()
    }
    fn write_content(&self, name: &'static str, w: &mut Out) {
        if let Some(v) = self {
            w.start(BytesStart::new(name));
            w.text_element("InString", BytesStart::new("InString"), v);
            w.end(name);
        }
    }
}

element! {
    /// `OriginalTransaction`: the transaction a reversal or refund refers to.
    #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
    pub struct OriginalTransaction {
        /// `TerminalID` attribute.
        #[serde(rename = "TerminalID", default, skip_serializing_if = "Option::is_none")]
        Attr("TerminalID") pub terminal_id: Option<String>,
        /// `STAN` attribute.
        #[serde(rename = "STAN", default, skip_serializing_if = "Option::is_none")]
        Attr("STAN") pub stan: Option<String>,
        /// `TimeStamp` attribute.
        #[serde(rename = "TimeStamp", default, skip_serializing_if = "Option::is_none")]
        Attr("TimeStamp") pub time_stamp: Option<TimeStamp>,
        /// `ApprovalCode` attribute.
        #[serde(rename = "ApprovalCode", default, skip_serializing_if = "Option::is_none")]
        Attr("ApprovalCode") pub approval_code: Option<String>,
    }
}

element! {
    /// `CardServiceRequest`.
    ///
    /// Mandatory beyond the header: `RequestType`; `TotalAmount` for CardPayment, PaymentRefund and
    /// CardReservation.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct CardServiceRequest {
        /// Header attributes.
        #[serde(flatten)]
        Flatten pub header: Header,
        /// `RequestType` attribute.
        #[serde(rename = "RequestType")]
        Attr("RequestType", first) pub request_type: CardRequestType,
        /// `POSdata` element.
        #[serde(rename = "POSdata", default, skip_serializing_if = "Option::is_none")]
        Child("POSdata") pub pos_data: Option<PosData>,
        /// `TotalAmount` element.
        #[serde(rename = "TotalAmount", default, skip_serializing_if = "Option::is_none")]
        Child("TotalAmount") pub total_amount: Option<Amount>,
        /// `OriginalTransaction` element.
        #[serde(rename = "OriginalTransaction", default, skip_serializing_if = "Option::is_none")]
        Child("OriginalTransaction") pub original_transaction: Option<OriginalTransaction>,
        /// `PrivateData` element.
        #[serde(rename = "PrivateData", default, skip_serializing_if = "Option::is_none")]
        Leaf("PrivateData") pub private_data: Option<PrivateData>,
    }
    check check_card_service_request;
}

element! {
    /// `Terminal`: which terminal answered, and its trace number.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Terminal {
        /// `TerminalID` attribute (mandatory inside `Terminal`).
        #[serde(rename = "TerminalID")]
        Attr("TerminalID") pub terminal_id: String,
        /// `TerminalBatch` attribute.
        #[serde(rename = "TerminalBatch", default, skip_serializing_if = "Option::is_none")]
        Attr("TerminalBatch") pub terminal_batch: Option<String>,
        /// `STAN` attribute: system trace audit number.
        #[serde(rename = "STAN", default, skip_serializing_if = "Option::is_none")]
        Attr("STAN") pub stan: Option<String>,
    }
}

element! {
    /// `Authorisation`: what the acquirer said.
    #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
    pub struct Authorisation {
        /// `AcquirerID` attribute.
        #[serde(rename = "AcquirerID", default, skip_serializing_if = "Option::is_none")]
        Attr("AcquirerID") pub acquirer_id: Option<String>,
        /// `CardPAN` attribute (masked).
        #[serde(rename = "CardPAN", default, skip_serializing_if = "Option::is_none")]
        Attr("CardPAN") pub card_pan: Option<CardPan>,
        /// `CardCircuit` attribute (e.g. `MAESTRO`, `VPAY`, `MASTERCARD`).
        #[serde(rename = "CardCircuit", default, skip_serializing_if = "Option::is_none")]
        Attr("CardCircuit") pub card_circuit: Option<String>,
        /// `AuthorisationType` attribute (e.g. `Online`, `Offline`).
        #[serde(rename = "AuthorisationType", default, skip_serializing_if = "Option::is_none")]
        Attr("AuthorisationType") pub authorisation_type: Option<String>,
        /// `ApprovalCode` attribute.
        #[serde(rename = "ApprovalCode", default, skip_serializing_if = "Option::is_none")]
        Attr("ApprovalCode") pub approval_code: Option<String>,
        /// `ReceiptNumber` attribute.
        #[serde(rename = "ReceiptNumber", default, skip_serializing_if = "Option::is_none")]
        Attr("ReceiptNumber") pub receipt_number: Option<String>,
        /// `TimeStamp` attribute.
        #[serde(rename = "TimeStamp", default, skip_serializing_if = "Option::is_none")]
        Attr("TimeStamp") pub time_stamp: Option<TimeStamp>,
        /// `ActionCode` attribute (the acquirer's response code).
        #[serde(rename = "ActionCode", default, skip_serializing_if = "Option::is_none")]
        Attr("ActionCode") pub action_code: Option<String>,
    }
}

element! {
    /// `Tender`: how the amount was paid.
    #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
    pub struct Tender {
        /// `TotalAmount` element.
        #[serde(rename = "TotalAmount", default, skip_serializing_if = "Option::is_none")]
        Child("TotalAmount") pub total_amount: Option<Amount>,
        /// `Authorisation` element.
        #[serde(rename = "Authorisation", default, skip_serializing_if = "Option::is_none")]
        Child("Authorisation") pub authorisation: Option<Authorisation>,
    }
}

element! {
    /// `CardValue`: the card that was read.
    #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
    pub struct CardValue {
        /// `CardCircuit` attribute.
        #[serde(rename = "CardCircuit", default, skip_serializing_if = "Option::is_none")]
        Attr("CardCircuit") pub card_circuit: Option<String>,
        /// `CardPAN` attribute (masked).
        #[serde(rename = "CardPAN", default, skip_serializing_if = "Option::is_none")]
        Attr("CardPAN") pub card_pan: Option<CardPan>,
        /// `ExpiryDate` attribute (as written, e.g. `2812`).
        #[serde(rename = "ExpiryDate", default, skip_serializing_if = "Option::is_none")]
        Attr("ExpiryDate") pub expiry_date: Option<String>,
    }
}

element! {
    /// `CardServiceResponse`.
    ///
    /// Mandatory beyond the header: `RequestType`, `OverallResult`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct CardServiceResponse {
        /// Header attributes (echoed from the request).
        #[serde(flatten)]
        Flatten pub header: Header,
        /// `RequestType` attribute (echoed).
        #[serde(rename = "RequestType")]
        Attr("RequestType", first) pub request_type: CardRequestType,
        /// `OverallResult` attribute.
        #[serde(rename = "OverallResult")]
        Attr("OverallResult") pub overall_result: OverallResult,
        /// `Terminal` element.
        #[serde(rename = "Terminal", default, skip_serializing_if = "Option::is_none")]
        Child("Terminal") pub terminal: Option<Terminal>,
        /// `Tender` element.
        #[serde(rename = "Tender", default, skip_serializing_if = "Option::is_none")]
        Child("Tender") pub tender: Option<Tender>,
        /// `CardValue` element.
        #[serde(rename = "CardValue", default, skip_serializing_if = "Option::is_none")]
        Child("CardValue") pub card_value: Option<CardValue>,
        /// `PrivateData` element.
        #[serde(rename = "PrivateData", default, skip_serializing_if = "Option::is_none")]
        Leaf("PrivateData") pub private_data: Option<PrivateData>,
    }
}

element! {
    /// `ServiceRequest`.
    ///
    /// Mandatory beyond the header: `RequestType`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ServiceRequest {
        /// Header attributes.
        #[serde(flatten)]
        Flatten pub header: Header,
        /// `RequestType` attribute.
        #[serde(rename = "RequestType")]
        Attr("RequestType", first) pub request_type: ServiceRequestType,
        /// `POSdata` element.
        #[serde(rename = "POSdata", default, skip_serializing_if = "Option::is_none")]
        Child("POSdata") pub pos_data: Option<PosData>,
        /// `PrivateData` element.
        #[serde(rename = "PrivateData", default, skip_serializing_if = "Option::is_none")]
        Leaf("PrivateData") pub private_data: Option<PrivateData>,
    }
}

element! {
    /// One line of `Reconciliation` totals: `<TotalAmount NumberPayments=".." CardCircuit=".."
    /// PaymentType=".." Currency="EUR">120.00</TotalAmount>`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ReconciliationTotal {
        /// `CardCircuit` attribute.
        #[serde(rename = "CardCircuit", default, skip_serializing_if = "Option::is_none")]
        Attr("CardCircuit") pub card_circuit: Option<String>,
        /// `PaymentType` attribute (e.g. `Debit`, `Credit`).
        #[serde(rename = "PaymentType", default, skip_serializing_if = "Option::is_none")]
        Attr("PaymentType") pub payment_type: Option<String>,
        /// `NumberPayments` attribute.
        #[serde(rename = "NumberPayments", default, skip_serializing_if = "Option::is_none")]
        Attr("NumberPayments", first) pub number_payments: Option<u32>,
        /// The amount (text and `Currency` attribute).
        #[serde(rename = "Amount")]
        Amount("Currency") pub amount: Amount,
    }
}

element! {
    /// `Reconciliation`: the totals of a (closed) day.
    #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
    pub struct Reconciliation {
        /// `LanguageCode` attribute.
        #[serde(rename = "LanguageCode", default, skip_serializing_if = "Option::is_none")]
        Attr("LanguageCode") pub language_code: Option<String>,
        /// The `TotalAmount` children.
        #[serde(rename = "TotalAmount", default, skip_serializing_if = "Vec::is_empty")]
        Child("TotalAmount") pub totals: Vec<ReconciliationTotal>,
    }
}

element! {
    /// `ServiceResponse`.
    ///
    /// Mandatory beyond the header: `RequestType`, `OverallResult`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ServiceResponse {
        /// Header attributes (echoed from the request).
        #[serde(flatten)]
        Flatten pub header: Header,
        /// `RequestType` attribute (echoed).
        #[serde(rename = "RequestType")]
        Attr("RequestType", first) pub request_type: ServiceRequestType,
        /// `OverallResult` attribute.
        #[serde(rename = "OverallResult")]
        Attr("OverallResult") pub overall_result: OverallResult,
        /// `Terminal` element.
        #[serde(rename = "Terminal", default, skip_serializing_if = "Option::is_none")]
        Child("Terminal") pub terminal: Option<Terminal>,
        /// `Reconciliation` element.
        #[serde(rename = "Reconciliation", default, skip_serializing_if = "Option::is_none")]
        Child("Reconciliation") pub reconciliation: Option<Reconciliation>,
        /// `PrivateData` element.
        #[serde(rename = "PrivateData", default, skip_serializing_if = "Option::is_none")]
        Leaf("PrivateData") pub private_data: Option<PrivateData>,
    }
}

element! {
    /// `TextLine`: one line of text with its layout attributes.
    #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
    pub struct TextLine {
        /// The text, kept exactly (leading spaces matter on receipts).
        #[serde(rename = "Text")]
        Text pub text: String,
        /// `Row` attribute.
        #[serde(rename = "Row", default, skip_serializing_if = "Option::is_none")]
        Attr("Row") pub row: Option<u32>,
        /// `Column` attribute.
        #[serde(rename = "Column", default, skip_serializing_if = "Option::is_none")]
        Attr("Column") pub column: Option<u32>,
        /// `Erase` attribute: clear the display first.
        #[serde(rename = "Erase", default, skip_serializing_if = "Option::is_none")]
        Attr("Erase") pub erase: Option<bool>,
        /// `Echo` attribute.
        #[serde(rename = "Echo", default, skip_serializing_if = "Option::is_none")]
        Attr("Echo") pub echo: Option<bool>,
        /// `Cursor` attribute.
        #[serde(rename = "Cursor", default, skip_serializing_if = "Option::is_none")]
        Attr("Cursor") pub cursor: Option<bool>,
        /// `TimeOut` attribute, in seconds.
        #[serde(rename = "TimeOut", default, skip_serializing_if = "Option::is_none")]
        Attr("TimeOut") pub time_out: Option<u32>,
        /// `Color` attribute.
        #[serde(rename = "Color", default, skip_serializing_if = "Option::is_none")]
        Attr("Color") pub color: Option<String>,
        /// `CharSet` attribute.
        #[serde(rename = "CharSet", default, skip_serializing_if = "Option::is_none")]
        Attr("CharSet") pub char_set: Option<u32>,
        /// `Alignment` attribute (`Left`, `Right`, `Centred`, `Justified`).
        #[serde(rename = "Alignment", default, skip_serializing_if = "Option::is_none")]
        Attr("Alignment") pub alignment: Option<String>,
        /// `Height` attribute (`Single`, `Double`, ...).
        #[serde(rename = "Height", default, skip_serializing_if = "Option::is_none")]
        Attr("Height") pub height: Option<String>,
        /// `Width` attribute (`Single`, `Double`, ...).
        #[serde(rename = "Width", default, skip_serializing_if = "Option::is_none")]
        Attr("Width") pub width: Option<String>,
        /// `CharStyle1` attribute (`Normal`, `Bold`, `Italic`, `Underline`).
        #[serde(rename = "CharStyle1", default, skip_serializing_if = "Option::is_none")]
        Attr("CharStyle1") pub char_style: Option<String>,
    }
}

impl TextLine {
    /// A line with text only.
    pub fn new(text: impl Into<String>) -> TextLine {
        TextLine { text: text.into(), ..TextLine::default() }
    }
}

element! {
    /// `Output`: text for one device.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Output {
        /// `OutDeviceTarget` attribute (mandatory).
        #[serde(rename = "OutDeviceTarget")]
        Attr("OutDeviceTarget") pub out_device_target: OutDevice,
        /// `TextLine` children.
        #[serde(rename = "TextLine", default, skip_serializing_if = "Vec::is_empty")]
        Child("TextLine") pub text_lines: Vec<TextLine>,
    }
}

element! {
    /// `Command` of an `Input`: what to ask for.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct InputCommand {
        /// The command text (e.g. `GetConfirmation`, `GetAnyKey`, `GetDecimals`).
        #[serde(rename = "Command")]
        TrimmedText pub command: String,
        /// `TimeOut` attribute, in seconds.
        #[serde(rename = "TimeOut", default, skip_serializing_if = "Option::is_none")]
        Attr("TimeOut") pub time_out: Option<u32>,
        /// `MinLength` attribute.
        #[serde(rename = "MinLength", default, skip_serializing_if = "Option::is_none")]
        Attr("MinLength") pub min_length: Option<u32>,
        /// `MaxLength` attribute.
        #[serde(rename = "MaxLength", default, skip_serializing_if = "Option::is_none")]
        Attr("MaxLength") pub max_length: Option<u32>,
    }
}

element! {
    /// `Input`: a question to the cashier or customer.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Input {
        /// `InDeviceTarget` attribute (mandatory).
        #[serde(rename = "InDeviceTarget")]
        Attr("InDeviceTarget") pub in_device_target: InDevice,
        /// `Command` element.
        #[serde(rename = "Command", default, skip_serializing_if = "Option::is_none")]
        Child("Command") pub command: Option<InputCommand>,
    }
}

element! {
    /// `DeviceRequest`.
    ///
    /// Mandatory beyond the header: `RequestType`; at least one `Output` for Output; an `Input`
    /// for Input and SecureInput.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct DeviceRequest {
        /// Header attributes.
        #[serde(flatten)]
        Flatten pub header: Header,
        /// `RequestType` attribute.
        #[serde(rename = "RequestType")]
        Attr("RequestType", first) pub request_type: DeviceRequestType,
        /// `Output` elements, in order.
        #[serde(rename = "Output", default, skip_serializing_if = "Vec::is_empty")]
        Child("Output") pub outputs: Vec<Output>,
        /// `Input` element.
        #[serde(rename = "Input", default, skip_serializing_if = "Option::is_none")]
        Child("Input") pub input: Option<Input>,
        /// `PrivateData` element.
        #[serde(rename = "PrivateData", default, skip_serializing_if = "Option::is_none")]
        Leaf("PrivateData") pub private_data: Option<PrivateData>,
    }
    check check_device_request;
}

element! {
    /// `Output` in a `DeviceResponse`: how one output went.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct OutputResult {
        /// `OutDeviceTarget` attribute (mandatory).
        #[serde(rename = "OutDeviceTarget")]
        Attr("OutDeviceTarget") pub out_device_target: OutDevice,
        /// `OutResult` attribute (mandatory).
        #[serde(rename = "OutResult")]
        Attr("OutResult") pub out_result: OverallResult,
    }
}

element! {
    /// `Input` in a `DeviceResponse`: the answer to a question.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct InputResult {
        /// `InDeviceTarget` attribute (mandatory).
        #[serde(rename = "InDeviceTarget")]
        Attr("InDeviceTarget") pub in_device_target: InDevice,
        /// `InResult` attribute (mandatory).
        #[serde(rename = "InResult")]
        Attr("InResult") pub in_result: OverallResult,
        /// `InputValue` element: the text of its child (`InString`, `InNumber`, `InBoolean`, ...),
        /// written back as `InString`.
        #[serde(rename = "InputValue", default, skip_serializing_if = "Option::is_none")]
        InputValue("InputValue") pub input_value: Option<String>,
    }
}

element! {
    /// `DeviceResponse`.
    ///
    /// Mandatory beyond the header: `RequestType`, `OverallResult`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct DeviceResponse {
        /// Header attributes (echoed from the request).
        #[serde(flatten)]
        Flatten pub header: Header,
        /// `RequestType` attribute (echoed).
        #[serde(rename = "RequestType")]
        Attr("RequestType", first) pub request_type: DeviceRequestType,
        /// `OverallResult` attribute.
        #[serde(rename = "OverallResult")]
        Attr("OverallResult") pub overall_result: OverallResult,
        /// `Output` elements.
        #[serde(rename = "Output", default, skip_serializing_if = "Vec::is_empty")]
        Child("Output") pub outputs: Vec<OutputResult>,
        /// `Input` element.
        #[serde(rename = "Input", default, skip_serializing_if = "Option::is_none")]
        Child("Input") pub input: Option<InputResult>,
        /// `PrivateData` element.
        #[serde(rename = "PrivateData", default, skip_serializing_if = "Option::is_none")]
        Leaf("PrivateData") pub private_data: Option<PrivateData>,
    }
}

/// `TotalAmount` is mandatory for CardPayment, PaymentRefund and CardReservation.
fn check_card_service_request(m: &CardServiceRequest, path: &Path<'_>) -> Soft<()> {
    let needs_amount = matches!(
        m.request_type,
        CardRequestType::CardPayment | CardRequestType::PaymentRefund | CardRequestType::CardReservation
    );
    if needs_amount && m.total_amount.is_none() {
        return Err(missing_element(path, "TotalAmount"));
    }
    Ok(())
}

/// An `Output` request needs an `Output` element, Input and SecureInput an `Input`.
fn check_device_request(m: &DeviceRequest, path: &Path<'_>) -> Soft<()> {
    if m.request_type == DeviceRequestType::Output && m.outputs.is_empty() {
        return Err(missing_element(path, "Output"));
    }
    if matches!(m.request_type, DeviceRequestType::Input | DeviceRequestType::SecureInput)
        && m.input.is_none()
    {
        return Err(missing_element(path, "Input"));
    }
    Ok(())
}

/// The character encoding the encoder writes (the decoder follows the XML declaration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// UTF-8 (the default).
    #[default]
    Utf8,
    /// ISO-8859-1 (Latin-1); characters beyond U+00FF are written as character references.
    Iso8859_1,
}

impl Encoding {
    /// The name written in the XML declaration.
    pub fn xml_name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Iso8859_1 => "ISO-8859-1",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_stamps_are_checked() {
        for ok in [
            "2026-11-28T10:15:00",
            "2026-11-28T10:15:00.123",
            "2026-11-28T10:15:00Z",
            "2026-11-28T10:15:00+01:00",
        ] {
            assert!(TimeStamp::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "2026-13-01T00:00:00",
            "2026-11-28 10:15:00",
            "yesterday",
            "2026-11-28T10:15:00+0100",
            "2026-11-28T10:15:00.",
        ] {
            assert!(TimeStamp::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn card_pans_are_always_masked() {
        assert!(CardPan::new("6703********1234").is_ok());
        assert!(CardPan::new("670312345678901234").is_err());
        assert_eq!(CardPan::mask("6703123456781234").unwrap().as_str(), "670312******1234");
        assert!(CardPan::mask("6703-1234").is_err());
    }

    /// The wire names come from two derives (`strum` for the attribute values, `serde` for the
    /// JSON); both must give every variant the same name.
    fn strum_and_serde_agree<T: WireEnum + Serialize + fmt::Display + fmt::Debug + PartialEq>() {
        for &v in T::ALL {
            let wire = v.as_str();
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{wire}\""), "{v:?}");
            assert_eq!(v.to_string(), wire, "{v:?}");
            assert_eq!(T::from_wire(wire), Some(v), "{wire}");
            assert_eq!(T::from_attr(&format!(" {wire} ")), Ok(v), "{wire}");
        }
        assert_eq!(T::from_wire(&T::ALL[0].as_str().to_lowercase()), None);
    }

    #[test]
    fn wire_enum_names_agree() {
        strum_and_serde_agree::<CardRequestType>();
        strum_and_serde_agree::<ServiceRequestType>();
        strum_and_serde_agree::<DeviceRequestType>();
        strum_and_serde_agree::<OutDevice>();
        strum_and_serde_agree::<InDevice>();
        assert_eq!(
            InDevice::from_attr("Keyboard"),
            Err("expected one of CashierKeyboard, CustomerKeyboard, CashierDisplay, CustomerDisplay".into())
        );
    }

    #[test]
    fn overall_result_keeps_unknown_values() {
        assert_eq!(OverallResult::from_wire("Success"), OverallResult::Success);
        assert_eq!(OverallResult::from_wire("Declined"), OverallResult::Other("Declined".into()));
        let json = serde_json::to_string(&OverallResult::MissingMandatoryData).unwrap();
        assert_eq!(json, "\"MissingMandatoryData\"");
    }
}
