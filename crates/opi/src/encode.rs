//! [`Message`] → bytes, through quick-xml's writer (which does all escaping), each element by
//! its description ([`crate::schema`]).
//!
//! The output has an XML declaration naming its encoding, the OPI namespace as the default
//! namespace on the root element, attributes in the descriptions' order, and amounts with
//! exactly the currency's number of decimals. Absent optional fields are left out.

use quick_xml::events::{BytesDecl, BytesStart, Event};

use crate::model::*;
use crate::schema::Element;
use crate::xml::Out;

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
    let mut w = Out::new(options.pretty);
    w.event(Event::Decl(BytesDecl::new("1.0", Some(options.encoding.xml_name()), None)));
    let name = message.kind().as_str();
    let mut tag = BytesStart::new(name);
    tag.push_attribute(("xmlns", NAMESPACE));
    match message {
        Message::CardServiceRequest(m) => m.encode(name, tag, &mut w),
        Message::CardServiceResponse(m) => m.encode(name, tag, &mut w),
        Message::ServiceRequest(m) => m.encode(name, tag, &mut w),
        Message::ServiceResponse(m) => m.encode(name, tag, &mut w),
        Message::DeviceRequest(m) => m.encode(name, tag, &mut w),
        Message::DeviceResponse(m) => m.encode(name, tag, &mut w),
    }
    let mut bytes = w.into_inner();
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
