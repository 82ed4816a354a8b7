//! The XML primitives under the codec, knowing nothing of OPI: [`Cx`] reads quick-xml events
//! (attributes, text, element content, skipping) with borrowed results and the well-formedness
//! checks and limits, and [`Out`] writes events through quick-xml's writer.
//!
//! Names are local names (any namespace prefix dropped, `xmlns` declarations skipped); text is
//! unescaped; comments, processing instructions and DOCTYPE are skipped (no DTD is ever
//! processed, so no entity expansion). Nesting depth and attributes per element are limited.
//!
//! An element's text is the character data read while it has no child element: opening a child
//! clears it and ordinary text after a child is layout and dropped, while CDATA sections and
//! references after a child are still added.

use std::borrow::Cow;
use std::fmt;

use quick_xml::Reader;
use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};

use crate::error::DecodeErrorKind;

/// Deepest nesting accepted (OPI messages are at most five levels deep).
const MAX_DEPTH: usize = 32;
/// Most attributes accepted on one element.
const MAX_ATTRIBUTES: usize = 64;

/// An attribute value (unescaped), `None` when absent.
pub(crate) type RawAttr<'a> = Option<Cow<'a, str>>;

/// A failure that ends reading: the XML is not well-formed or a limit was exceeded.
pub(crate) type Hard = DecodeErrorKind;

/// What reading an element gives: `Err` for a failure that ends reading (bad XML, a limit);
/// `Ok(Err)` for an invalid or missing value, which lets reading go on so that a later XML
/// error still wins; `Ok(Ok)` for the value.
pub(crate) type Read<T> = Result<Result<T, DecodeErrorKind>, Hard>;

/// The path of an element from the root, for error messages (`CardServiceResponse/Tender`).
#[derive(Clone, Copy)]
pub(crate) struct Path<'p> {
    parent: Option<&'p Path<'p>>,
    name: &'static str,
}

impl<'p> Path<'p> {
    /// The root element's path.
    pub(crate) fn root(name: &'static str) -> Path<'static> {
        Path { parent: None, name }
    }

    /// The path of a child element.
    pub(crate) fn child(&'p self, name: &'static str) -> Path<'p> {
        Path { parent: Some(self), name }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.parent {
            write!(f, "{p}/")?;
        }
        f.write_str(self.name)
    }
}

/// A start tag that was read (its attributes not yet).
pub(crate) struct Tag<'a> {
    start: BytesStart<'a>,
    /// The local name.
    pub(crate) local: &'a str,
    /// `<x/>`: no content and no end tag follow.
    empty: bool,
    /// Byte offset of the tag in the input.
    offset: usize,
}

fn xml_err(offset: usize, detail: &str) -> Hard {
    DecodeErrorKind::Xml { offset, detail: detail.to_owned() }
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

/// The local part of a qualified name (after the prefix and its colon, if any).
fn local_name(name: &str) -> &str {
    // The colon is ASCII, so the slice after it falls on a character boundary.
    name.find(':').map_or(name, |i| &name[i + 1..])
}

fn append<'a>(text: &mut Cow<'a, str>, more: Cow<'a, str>) {
    if text.is_empty() {
        *text = more;
    } else {
        text.to_mut().push_str(&more);
    }
}

/// Checks a start tag's attributes (syntax, duplicates, the limit) and hands each one's local
/// name and unescaped value to `each`, in document order (`xmlns` declarations left out).
fn each_attribute<'a>(
    input: &'a str,
    start: &BytesStart<'a>,
    offset: usize,
    keys: &mut Vec<&'a str>,
    mut each: impl FnMut(&'a str, Cow<'a, str>),
) -> Result<(), Hard> {
    keys.clear();
    // Most OPI elements below the root have no attributes: no iterator for them.
    if start.attributes_raw().iter().all(|b| matches!(b, b' ' | b'\r' | b'\n' | b'\t')) {
        return Ok(());
    }
    // quick-xml's own duplicate check allocates; the one here looks at this element's keys only.
    for (i, attr) in start.attributes().with_checks(false).enumerate() {
        if i >= MAX_ATTRIBUTES {
            return Err(DecodeErrorKind::LimitExceeded {
                what: "attributes on one element",
                limit: MAX_ATTRIBUTES,
                offset,
            });
        }
        let attr = attr.map_err(|err| xml_err(offset, &err.to_string()))?;
        // Over a string, quick-xml hands out keys and (in XML mode, unnormalised) values that
        // borrow from it.
        let raw_value: &[u8] = &attr.value;
        let (Some(key), Some(raw)) = (reborrow(input, attr.key.as_ref()), reborrow(input, raw_value)) else {
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
        each(local_name(key), value);
    }
    Ok(())
}

/// The reader: one quick-xml reader over the decoded text.
pub(crate) struct Cx<'a> {
    reader: Reader<&'a [u8]>,
    input: &'a str,
    /// Open elements.
    depth: usize,
    /// Qualified names of the current element's attributes, for the duplicate check.
    keys: Vec<&'a str>,
    /// The root element's start tag, once its attributes have been read without error.
    root: Option<BytesStart<'a>>,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(input: &'a str) -> Cx<'a> {
        let mut reader = Reader::from_str(input);
        let config = reader.config_mut();
        config.trim_text(false);
        config.check_end_names = true;
        config.expand_empty_elements = false;
        Cx { reader, input, depth: 0, keys: Vec::with_capacity(16), root: None }
    }

    /// The next event and the byte offset where it starts.
    fn next(&mut self) -> Result<(usize, Event<'a>), Hard> {
        let before = self.reader.buffer_position() as usize;
        match self.reader.read_event() {
            Ok(e) => Ok((before, e)),
            Err(e) => Err(DecodeErrorKind::Xml {
                offset: self.reader.error_position() as usize,
                detail: e.to_string(),
            }),
        }
    }

    fn tag(&self, start: BytesStart<'a>, empty: bool, offset: usize) -> Result<Tag<'a>, Hard> {
        // Invariant: a reader over a string hands out start tags that borrow from it.
        let Some(raw) = reborrow(self.input, &start) else {
            return Err(xml_err(offset, "start tag outside the input"));
        };
        // The name ends at white space or at the end of the tag, so the slice falls on a
        // character boundary.
        let qname = raw.get(..start.name().as_ref().len()).unwrap_or(raw);
        Ok(Tag { local: local_name(qname), start, empty, offset })
    }

    /// Reads the document: prolog, the root element (handed to `root`), epilog. `Ok(None)` when
    /// the document holds no element.
    pub(crate) fn document<T>(
        &mut self,
        mut root: impl FnMut(&mut Self, Tag<'a>) -> Read<T>,
    ) -> Result<Option<Result<T, DecodeErrorKind>>, Hard> {
        let mut result = None;
        loop {
            let (before, event) = self.next()?;
            match event {
                Event::Start(_) | Event::Empty(_) if result.is_some() => {
                    return Err(xml_err(before, "a second root element after the message"));
                }
                Event::Start(e) => result = Some(root(self, self.tag(e, false, before)?)?),
                Event::Empty(e) => result = Some(root(self, self.tag(e, true, before)?)?),
                Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
                Event::Text(_) => return Err(xml_err(before, "text outside the root element")),
                Event::CData(_) => return Err(xml_err(before, "CDATA outside the root element")),
                Event::GeneralRef(_) => {
                    return Err(xml_err(before, "entity reference outside the root element"));
                }
                // quick-xml reports an end tag without a start tag as an error.
                Event::End(_) | Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
                Event::Eof => return Ok(result),
            }
        }
    }

    /// Reads a tag's attributes: checks them (syntax, duplicates, the limit) and hands each
    /// one's local name and unescaped value to `each`, in document order (`xmlns` declarations
    /// left out).
    pub(crate) fn attributes(
        &mut self,
        tag: &Tag<'a>,
        each: impl FnMut(&'a str, Cow<'a, str>),
    ) -> Result<(), Hard> {
        each_attribute(self.input, &tag.start, tag.offset, &mut self.keys, each)?;
        if self.depth == 0 {
            self.root = Some(tag.start.clone());
        }
        Ok(())
    }

    /// The root element's local name and attributes (as [`Cx::attributes`] gives them), if its
    /// start tag has been read without error.
    pub(crate) fn root_attributes(&self, each: impl FnMut(&'a str, Cow<'a, str>)) -> Option<&'a str> {
        let start = self.root.as_ref()?;
        let tag = self.tag(start.clone(), true, 0).ok()?;
        each_attribute(self.input, start, 0, &mut Vec::new(), each).ok()?;
        Some(tag.local)
    }

    /// The text of an element whose attributes and children are not read (they are checked).
    pub(crate) fn leaf_text(&mut self, tag: Tag<'a>) -> Result<Cow<'a, str>, Hard> {
        self.attributes(&tag, |_, _| {})?;
        self.content(tag, true, Self::skip)
    }

    /// Reads an element's content up to its end tag (nothing for `<x/>`); child elements go to
    /// `child`, which reads or skips each. Returns the element's text when `want_text`.
    pub(crate) fn content(
        &mut self,
        tag: Tag<'a>,
        want_text: bool,
        mut child: impl FnMut(&mut Self, Tag<'a>) -> Result<(), Hard>,
    ) -> Result<Cow<'a, str>, Hard> {
        let mut text = Cow::Borrowed("");
        if tag.empty {
            return Ok(text);
        }
        if self.depth >= MAX_DEPTH {
            return Err(DecodeErrorKind::LimitExceeded {
                what: "element nesting depth",
                limit: MAX_DEPTH,
                offset: tag.offset,
            });
        }
        self.depth += 1;
        let mut has_child = false;
        loop {
            let (before, event) = self.next()?;
            let more = match event {
                Event::Start(e) => {
                    has_child = true;
                    text = Cow::Borrowed("");
                    child(self, self.tag(e, false, before)?)?;
                    continue;
                }
                Event::Empty(e) => {
                    has_child = true;
                    text = Cow::Borrowed("");
                    child(self, self.tag(e, true, before)?)?;
                    continue;
                }
                Event::End(_) => {
                    self.depth -= 1;
                    return Ok(text);
                }
                // Only leaf elements carry text in OPI; white space between children is layout.
                Event::Text(_) if has_child || !want_text => continue,
                Event::Text(t) => cow_in(self.input, &t),
                Event::CData(t) if want_text => cow_in(self.input, &t),
                Event::CData(_) => continue,
                Event::GeneralRef(r) => {
                    let resolved: Cow<'a, str> = if r.is_char_ref() {
                        match r.resolve_char_ref() {
                            Ok(Some(c)) => Cow::Owned(c.to_string()),
                            Ok(None) | Err(_) => return Err(xml_err(before, "invalid character reference")),
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
                    if !want_text {
                        continue;
                    }
                    resolved
                }
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => continue,
                Event::Eof => {
                    let detail = format!("element <{}> is not closed", tag.local);
                    return Err(xml_err(self.input.len(), &detail));
                }
            };
            append(&mut text, more);
        }
    }

    /// Skips an element the model does not read, checking it all the same.
    pub(crate) fn skip(&mut self, tag: Tag<'a>) -> Result<(), Hard> {
        self.attributes(&tag, |_, _| {})?;
        self.content(tag, false, Self::skip).map(drop)
    }
}

/// The writer: quick-xml's, over a byte vector (it does all escaping).
pub(crate) struct Out {
    w: Writer<Vec<u8>>,
}

impl Out {
    pub(crate) fn new(pretty: bool) -> Out {
        let out = Vec::with_capacity(1024);
        Out { w: if pretty { Writer::new_with_indent(out, b' ', 2) } else { Writer::new(out) } }
    }

    pub(crate) fn into_inner(self) -> Vec<u8> {
        self.w.into_inner()
    }

    pub(crate) fn event(&mut self, e: Event<'_>) {
        // Writing into a Vec<u8> cannot fail: the only error source is the underlying writer.
        let _ = self.w.write_event(e);
    }

    pub(crate) fn start(&mut self, tag: BytesStart<'_>) {
        self.event(Event::Start(tag));
    }

    pub(crate) fn empty(&mut self, tag: BytesStart<'_>) {
        self.event(Event::Empty(tag));
    }

    pub(crate) fn end(&mut self, name: &str) {
        self.event(Event::End(BytesEnd::new(name)));
    }

    /// `<name>text</name>`, or `<name .../>` when the text is empty.
    pub(crate) fn text_element(&mut self, name: &str, tag: BytesStart<'_>, text: &str) {
        if text.is_empty() {
            self.empty(tag);
            return;
        }
        self.start(tag);
        self.event(Event::Text(BytesText::new(text)));
        self.end(name);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unclosed_element_is_named_by_its_local_name() {
        let xml = br#"<p:ServiceRequest xmlns:p="u" RequestType="Login" WorkstationID="1" RequestID="2"><p:POSdata>"#;
        let e = crate::decode(xml).unwrap_err();
        assert_eq!(
            e.to_string(),
            "XML is not well-formed at byte 93: element <POSdata> is not closed (in ServiceRequest RequestID=\"2\")"
        );
    }
}
