//! Bytes → [`Message`]: character decoding by the XML declaration, then one pass over the XML
//! events in which each element's description ([`crate::schema`]) reads and checks its part of
//! the message. An XML error anywhere wins over an invalid or missing value; among those, the
//! first in the description's order is reported, whatever the order of the document.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::error::{DecodeError, DecodeErrorKind, PartialHeader};
use crate::model::*;
use crate::schema::{Element, Field, kind, shorten};
use crate::xml::{Cx, Path, Read, Tag};

/// Decodes one OPI message (the payload of one frame, without the length prefix).
///
/// The character encoding comes from the XML declaration (UTF-8 when there is none); UTF-8 and
/// ISO-8859-1 are read, and any other single-byte encoding `encoding_rs` knows by that label.
/// Namespaces are matched by local name only, so a default namespace, a prefixed one or none at
/// all are equally accepted; unknown elements and attributes are ignored.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    let (text, offsets) = to_text(bytes)?;
    let mut cx = Cx::new(&text);
    match cx.document(root) {
        Ok(Some(Ok(message))) => Ok(message),
        Ok(Some(Err(kind))) => Err(DecodeError::new(kind, partial_header(&cx))),
        Ok(None) => Err(DecodeErrorKind::Empty.into()),
        Err(kind) => Err(DecodeError::new(offsets.fix(kind, &text), partial_header(&cx))),
    }
}

/// Reads the root element: one of the six messages, each by its description.
fn root<'a>(cx: &mut Cx<'a>, tag: Tag<'a>) -> Read<Message> {
    fn read<'a, M: Element>(
        cx: &mut Cx<'a>,
        tag: Tag<'a>,
        kind: MessageKind,
        wrap: fn(M) -> Message,
    ) -> Read<Message> {
        Ok(M::decode(cx, tag, &Path::root(kind.as_str()))?.map(wrap))
    }
    let Some(kind) = MessageKind::from_name(tag.local) else {
        let element = shorten(tag.local);
        cx.skip(tag)?;
        return Ok(Err(DecodeErrorKind::UnknownMessage { element }));
    };
    match kind {
        MessageKind::CardServiceRequest => read(cx, tag, kind, Message::CardServiceRequest),
        MessageKind::CardServiceResponse => read(cx, tag, kind, Message::CardServiceResponse),
        MessageKind::ServiceRequest => read(cx, tag, kind, Message::ServiceRequest),
        MessageKind::ServiceResponse => read(cx, tag, kind, Message::ServiceResponse),
        MessageKind::DeviceRequest => read(cx, tag, kind, Message::DeviceRequest),
        MessageKind::DeviceResponse => read(cx, tag, kind, Message::DeviceResponse),
    }
}

/// The root element's header attributes, for error responses: read again from its start tag
/// (only when decoding failed), if that tag was read without error.
fn partial_header(cx: &Cx<'_>) -> Option<PartialHeader> {
    let mut header = HeaderRaw::default();
    let mut request_type = None;
    let local = cx.root_attributes(|local, value| {
        let mut value = Some(value);
        if local == "RequestType" {
            request_type = request_type.take().or(value);
        } else {
            <Header as Field<kind::Flatten>>::other_attr(&mut header, local, &mut value);
        }
    })?;
    let owned = |v: Option<Cow<'_, str>>| v.map(Cow::into_owned);
    Some(PartialHeader {
        kind: MessageKind::from_name(local)?,
        request_type: owned(request_type),
        application_sender: owned(header.application_sender),
        workstation_id: owned(header.workstation_id),
        pop_id: owned(header.pop_id),
        request_id: owned(header.request_id),
    })
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
