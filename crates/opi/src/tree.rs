//! A small element tree over quick-xml events, borrowing from the input where it can.
//!
//! Names are local names (any namespace prefix dropped, `xmlns` declarations skipped); text is
//! unescaped; comments, processing instructions and DOCTYPE are skipped (no DTD is ever
//! processed, so no entity expansion). Nesting depth and attributes per element are limited.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::error::DecodeErrorKind;

/// Deepest nesting accepted (OPI messages are at most five levels deep).
pub(crate) const MAX_DEPTH: usize = 32;
/// Most attributes accepted on one element.
pub(crate) const MAX_ATTRIBUTES: usize = 64;

pub(crate) type NodeId = u32;
const NONE: NodeId = u32::MAX;

pub(crate) struct Node<'a> {
    pub(crate) name: Cow<'a, str>,
    parent: NodeId,
    first_child: NodeId,
    last_child: NodeId,
    next_sibling: NodeId,
    attrs: (u32, u32),
    pub(crate) text: Cow<'a, str>,
}

pub(crate) struct Doc<'a> {
    nodes: Vec<Node<'a>>,
    /// (qualified name, length of its prefix including the colon, value).
    attrs: Vec<(Cow<'a, str>, u32, Cow<'a, str>)>,
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

fn local(name: &[u8]) -> &[u8] {
    match name.iter().position(|b| *b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

fn append<'a>(text: &mut Cow<'a, str>, more: Cow<'a, str>) {
    if text.is_empty() {
        *text = more;
    } else {
        text.to_mut().push_str(&more);
    }
}

impl<'a> Doc<'a> {
    /// Parses `input` into a tree. On failure the tree built so far is returned beside the
    /// error, so the caller can still read the root element's attributes.
    pub(crate) fn parse(input: &'a str) -> (Doc<'a>, Result<(), DecodeErrorKind>) {
        // Small enough to stay in the allocator's per-thread cache; larger messages grow the vectors.
        let mut doc = Doc { nodes: Vec::with_capacity(8), attrs: Vec::with_capacity(16) };
        let result = doc.build(input);
        (doc, result)
    }

    fn build(&mut self, input: &'a str) -> Result<(), DecodeErrorKind> {
        let mut reader = Reader::from_str(input);
        let config = reader.config_mut();
        config.trim_text(false);
        config.check_end_names = true;
        config.expand_empty_elements = false;
        let mut stack: Vec<NodeId> = Vec::with_capacity(8);
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
                    let id = self.open(input, &e, &stack, before, reader.decoder())?;
                    stack.push(id);
                    if stack.len() > MAX_DEPTH {
                        return Err(DecodeErrorKind::LimitExceeded {
                            what: "element nesting depth",
                            limit: MAX_DEPTH,
                            offset: before,
                        });
                    }
                }
                Event::Empty(e) => {
                    self.open(input, &e, &stack, before, reader.decoder())?;
                    if stack.is_empty() {
                        root_done = true;
                    }
                }
                Event::End(_) => {
                    stack.pop();
                    if stack.is_empty() {
                        root_done = true;
                    }
                }
                Event::Text(t) => {
                    let raw: &[u8] = &t;
                    match stack.last() {
                        // Only leaf elements carry text in OPI; white space between children is
                        // layout, so an element's text is dropped once it has a child.
                        Some(&top) if self.nodes[top as usize].first_child != NONE => {}
                        Some(&top) => append(&mut self.nodes[top as usize].text, cow_in(input, raw)),
                        None if raw.iter().all(u8::is_ascii_whitespace) => {}
                        None => return Err(xml_err(before, "text outside the root element")),
                    }
                }
                Event::CData(t) => match stack.last() {
                    Some(&top) => append(&mut self.nodes[top as usize].text, cow_in(input, &t)),
                    None => return Err(xml_err(before, "CDATA outside the root element")),
                },
                Event::GeneralRef(r) => {
                    let Some(&top) = stack.last() else {
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
                    append(&mut self.nodes[top as usize].text, resolved);
                }
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
                Event::Eof => {
                    if !stack.is_empty() {
                        let open = self.nodes[*stack.last().unwrap_or(&0) as usize].name.to_string();
                        return Err(xml_err(input.len(), &format!("element <{open}> is not closed")));
                    }
                    if self.nodes.is_empty() {
                        return Err(DecodeErrorKind::Empty);
                    }
                    return Ok(());
                }
            }
        }
    }

    fn open(
        &mut self,
        input: &'a str,
        e: &BytesStart<'_>,
        stack: &[NodeId],
        offset: usize,
        decoder: quick_xml::encoding::Decoder,
    ) -> Result<NodeId, DecodeErrorKind> {
        let name = cow_in(input, local(e.name().as_ref()));
        let attrs_start = self.attrs.len() as u32;
        // Duplicate attributes are found here, on the qualified name as XML defines them
        // (`attrs` keeps qualified names), rather than by quick-xml's check, which allocates.
        for (i, attr) in e.attributes().with_checks(false).enumerate() {
            if i >= MAX_ATTRIBUTES {
                return Err(DecodeErrorKind::LimitExceeded {
                    what: "attributes on one element",
                    limit: MAX_ATTRIBUTES,
                    offset,
                });
            }
            let attr = attr.map_err(|err| xml_err(offset, &err.to_string()))?;
            let key = attr.key.into_inner();
            if self.attrs[attrs_start as usize..].iter().any(|(k, _, _)| k.as_bytes() == key) {
                let key = String::from_utf8_lossy(key);
                return Err(xml_err(offset, &format!("attribute {key} appears twice on one element")));
            }
            if key == b"xmlns" || key.starts_with(b"xmlns:") {
                continue;
            }
            let value = match reborrow(input, &attr.value) {
                Some(raw) if !raw.contains('&') => Cow::Borrowed(raw),
                Some(raw) => match quick_xml::escape::unescape(raw) {
                    Ok(v) => Cow::Owned(v.into_owned()),
                    Err(err) => {
                        return Err(xml_err(
                            offset,
                            &format!("attribute {}: {err}", String::from_utf8_lossy(key)),
                        ));
                    }
                },
                None => Cow::Owned(
                    attr.decode_and_unescape_value(decoder)
                        .map_err(|err| xml_err(offset, &err.to_string()))?
                        .into_owned(),
                ),
            };
            let prefix = (key.len() - local(key).len()) as u32;
            self.attrs.push((cow_in(input, key), prefix, value));
        }
        let id = self.nodes.len() as NodeId;
        let parent = stack.last().copied().unwrap_or(NONE);
        self.nodes.push(Node {
            name,
            parent,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
            attrs: (attrs_start, self.attrs.len() as u32),
            text: Cow::Borrowed(""),
        });
        if parent != NONE {
            let p = &mut self.nodes[parent as usize];
            p.text = Cow::Borrowed("");
            let prev = p.last_child;
            p.last_child = id;
            if prev == NONE {
                p.first_child = id;
            } else {
                self.nodes[prev as usize].next_sibling = id;
            }
        }
        Ok(id)
    }

    /// The root element, if one was opened.
    pub(crate) fn root(&self) -> Option<NodeId> {
        if self.nodes.is_empty() { None } else { Some(0) }
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node<'a> {
        &self.nodes[id as usize]
    }

    /// The value of an attribute (by local name).
    pub(crate) fn attr(&self, id: NodeId, name: &str) -> Option<&str> {
        let (a, b) = self.nodes[id as usize].attrs;
        self.attrs[a as usize..b as usize]
            .iter()
            .find(|(k, p, _)| k.get(*p as usize..) == Some(name))
            .map(|(_, _, v)| v.as_ref())
    }

    /// The children of an element, in document order.
    pub(crate) fn children(&self, id: NodeId) -> Children<'_, 'a> {
        Children { doc: self, next: self.nodes[id as usize].first_child }
    }

    /// The first child with the given local name.
    pub(crate) fn child(&self, id: NodeId, name: &str) -> Option<NodeId> {
        self.children(id).find(|c| self.nodes[*c as usize].name == name)
    }

    /// The element's path from the root, e.g. `CardServiceResponse/Tender/Authorisation`.
    pub(crate) fn path(&self, id: NodeId) -> String {
        let mut names = Vec::new();
        let mut cur = id;
        while cur != NONE && names.len() <= MAX_DEPTH {
            let n = &self.nodes[cur as usize];
            names.push(n.name.as_ref());
            cur = n.parent;
        }
        names.reverse();
        names.join("/")
    }
}

pub(crate) struct Children<'d, 'a> {
    doc: &'d Doc<'a>,
    next: NodeId,
}

impl Iterator for Children<'_, '_> {
    type Item = NodeId;
    fn next(&mut self) -> Option<NodeId> {
        if self.next == NONE {
            return None;
        }
        let cur = self.next;
        self.next = self.doc.nodes[cur as usize].next_sibling;
        Some(cur)
    }
}

fn xml_err(offset: usize, detail: &str) -> DecodeErrorKind {
    DecodeErrorKind::Xml { offset, detail: detail.to_owned() }
}
