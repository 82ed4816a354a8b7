//! How one description per OPI element gives its struct, its decoder and its encoder.
//!
//! [`element!`] takes a struct whose fields are each marked with a *kind* (what the field is on
//! the wire) and, for most kinds, a wire name:
//!
//! | kind | the field is | field types |
//! |---|---|---|
//! | `Attr("Name")` | an attribute | `V`, `Option<V>` for `V:` [`Value`] |
//! | `Attr("Name", first)` | the same, written before the other attributes | |
//! | `Text` / `TrimmedText` | the element's own text, kept exactly / trimmed | `String` |
//! | `Leaf("Name")` | the text of a child element (`<Name>text</Name>`) | `V`, `Option<V>` |
//! | `Child("Name")` | a child element described by its own [`Element`] | `Option<E>`, `Vec<E>` |
//! | `Flatten` | a group of attributes described by [`group!`] | the group |
//! | `Amount("Currency")` | the element's text as an amount in the attribute's currency | `Amount` |
//! | `InputValue("Name")` | the text of a child's first child, written as `InString` | `Option<String>` |
//!
//! From that the macro writes the struct and an [`Element`] impl. Decoding reads the element's
//! attributes and content once, keeping what the fields read borrowed from the input
//! ([`Field::Raw`]), then checks the fields in declaration order (then the optional `check`
//! function), so that the first error reported does not depend on the order of the document. An invalid or missing value does not stop reading: a later XML
//! error still wins. Encoding writes the attributes in declaration order (`first` ones before the
//! rest), then the content; an element without content is written as `<Name .../>`.
//!
//! Adding an attribute or a child element is one entry (doc comment, serde attribute, kind and
//! field) in the element's description.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, BytesText, Event};

use crate::error::DecodeErrorKind;
use crate::xml::{Cx, Hard, Out, Path, RawAttr, Read, Tag};

/// The result of checking a value: `Err` is an invalid or missing value.
pub(crate) type Soft<T> = Result<T, DecodeErrorKind>;

/// An element with a description: how to read it from its start tag on, and how to write it.
pub(crate) trait Element: Sized {
    /// Reads the element whose start tag is `tag` (its attributes and content follow in `cx`).
    fn decode<'a>(cx: &mut Cx<'a>, tag: Tag<'a>, path: &Path<'_>) -> Read<Self>;
    /// Writes the element: `tag` is its start tag (name, and any namespace declaration).
    fn encode(&self, name: &str, tag: BytesStart<'_>, w: &mut Out);
}

/// A value with a text form, as an attribute value or as an element's text.
pub(crate) trait Value: Sized {
    /// Reads an attribute value as written; `Err` says what was expected.
    fn from_attr(v: &str) -> Result<Self, String>;
    /// Reads an element's text (the attribute rule unless the type says otherwise).
    fn from_text(t: &str) -> Result<Self, String> {
        Self::from_attr(t)
    }
    /// The text written.
    fn to_wire(&self) -> Cow<'_, str>;
}

/// Free text: attribute values kept as written, element texts trimmed.
impl Value for String {
    fn from_attr(v: &str) -> Result<Self, String> {
        Ok(v.to_owned())
    }
    fn from_text(t: &str) -> Result<Self, String> {
        Ok(t.trim().to_owned())
    }
    fn to_wire(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl Value for u32 {
    fn from_attr(v: &str) -> Result<Self, String> {
        v.trim().parse().map_err(|_| "expected a whole number".to_owned())
    }
    fn to_wire(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

impl Value for bool {
    fn from_attr(v: &str) -> Result<Self, String> {
        match v.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err("expected true or false".to_owned()),
        }
    }
    fn to_wire(&self) -> Cow<'_, str> {
        Cow::Borrowed(if *self { "true" } else { "false" })
    }
}

/// A value as it appears in an error: shortened to 64 characters.
pub(crate) fn shorten(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// An invalid value in `attribute` (or, for `None`, the text) of the element at `path`.
pub(crate) fn invalid(
    path: &Path<'_>,
    attribute: Option<&'static str>,
    value: &str,
    reason: String,
) -> DecodeErrorKind {
    DecodeErrorKind::InvalidValue { element: path.to_string(), attribute, value: shorten(value), reason }
}

/// A mandatory child `element` missing in the element at `path`.
pub(crate) fn missing_element(path: &Path<'_>, element: &'static str) -> DecodeErrorKind {
    DecodeErrorKind::MissingElement { parent: path.to_string(), element }
}

/// A mandatory attribute missing (or blank) on the element at `path`.
pub(crate) fn missing_attribute(path: &Path<'_>, attribute: &'static str) -> DecodeErrorKind {
    DecodeErrorKind::MissingAttribute { element: path.to_string(), attribute }
}

/// A child element met while reading its parent: where it goes.
pub(crate) struct At<'c, 'a, 'p> {
    /// The reader, just after the child's start tag.
    pub(crate) cx: &'c mut Cx<'a>,
    /// The child's start tag.
    pub(crate) tag: Tag<'a>,
    /// The parent's path.
    pub(crate) path: &'p Path<'p>,
    /// The child's wire name.
    pub(crate) name: &'static str,
}

impl<'a> At<'_, 'a, '_> {
    /// Reads the child with `read` into `raw` if it is the first of its name; skips it otherwise.
    pub(crate) fn once<T>(
        self,
        raw: &mut Option<T>,
        read: impl FnOnce(&mut Cx<'a>, Tag<'a>) -> Result<T, Hard>,
    ) -> Result<(), Hard> {
        if raw.is_some() {
            return self.cx.skip(self.tag);
        }
        *raw = Some(read(self.cx, self.tag)?);
        Ok(())
    }
}

/// A mandatory attribute's value: present and not blank.
pub(crate) fn required<'a>(raw: RawAttr<'a>, path: &Path<'_>, name: &'static str) -> Soft<Cow<'a, str>> {
    match raw {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(missing_attribute(path, name)),
    }
}

/// Runs the checks of an element's fields (a function, so that `?` inside stays a check error).
#[inline]
pub(crate) fn checked<T>(f: impl FnOnce() -> Soft<T>) -> Soft<T> {
    f()
}

/// `true` when any flag is (whether an element reads its text).
pub(crate) const fn any(flags: &[bool]) -> bool {
    let mut i = 0;
    while i < flags.len() {
        if flags[i] {
            return true;
        }
        i += 1;
    }
    false
}

/// The kinds of field (see the module documentation); types only, never values.
pub(crate) mod kind {
    /// An attribute.
    pub(crate) enum Attr {}
    /// The element's own text, kept exactly.
    pub(crate) enum Text {}
    /// The element's own text, trimmed.
    pub(crate) enum TrimmedText {}
    /// A child element's text.
    pub(crate) enum Leaf {}
    /// A child element with its own description.
    pub(crate) enum Child {}
    /// A group of attributes.
    pub(crate) enum Flatten {}
    /// The element's text as an amount, the attribute naming its currency.
    pub(crate) enum Amount {}
    /// The text of a child's first child.
    pub(crate) enum InputValue {}
}

/// How a field of kind `K` is read and written. Every hook but `finish` does nothing by default.
pub(crate) trait Field<K>: Sized {
    /// What reading keeps for the field, borrowed from the input.
    type Raw<'a>: Default;
    /// Whether the field reads the element's text.
    const TEXT: bool = false;

    /// The attribute the field is named after.
    fn attr<'a>(_raw: &mut Self::Raw<'a>, _value: Cow<'a, str>) {}
    /// An attribute no field is named after (a group takes its own here).
    fn other_attr<'a>(_raw: &mut Self::Raw<'a>, _local: &str, _value: &mut RawAttr<'a>) {}
    /// The element's text, once its content is read.
    fn text<'a>(_raw: &mut Self::Raw<'a>, _text: &mut Cow<'a, str>) {}
    /// A child element the field is named after.
    fn child<'a>(_raw: &mut Self::Raw<'a>, at: At<'_, 'a, '_>) -> Result<(), Hard> {
        at.cx.skip(at.tag)
    }
    /// Checks what was read into the field's value. `path` is the element's, `name` the field's
    /// wire name.
    fn finish(raw: Self::Raw<'_>, path: &Path<'_>, name: &'static str) -> Soft<Self>;

    /// Adds the field's attributes to the start tag.
    fn write_attrs(&self, _name: &'static str, _tag: &mut BytesStart<'_>) {}
    /// Whether the field writes content (text or child elements).
    fn has_content(&self) -> bool {
        false
    }
    /// Writes the field's content.
    fn write_content(&self, _name: &'static str, _w: &mut Out) {}
}

/// First of a name counts (`a:Row` and `b:Row` may both be there).
fn keep_first<'a>(raw: &mut RawAttr<'a>, value: Cow<'a, str>) {
    if raw.is_none() {
        *raw = Some(value);
    }
}

/// Whether a field is mandatory (`V`) or not (`Option<V>`), for the kinds that read a [`Value`].
pub(crate) trait Presence: Sized {
    /// The value read.
    type Value: Value;
    /// A mandatory field must be there, and a mandatory attribute must not be blank.
    const REQUIRED: bool;
    /// The field from the value read, if any; `missing` is the error for a mandatory field.
    fn from_read(v: Option<Self::Value>, missing: impl FnOnce() -> DecodeErrorKind) -> Soft<Self>;
    /// The value to write, if any.
    fn get(&self) -> Option<&Self::Value>;
}

impl<V: Value> Presence for V {
    type Value = V;
    const REQUIRED: bool = true;
    fn from_read(v: Option<V>, missing: impl FnOnce() -> DecodeErrorKind) -> Soft<V> {
        v.ok_or_else(missing)
    }
    fn get(&self) -> Option<&V> {
        Some(self)
    }
}

impl<V: Value> Presence for Option<V> {
    type Value = V;
    const REQUIRED: bool = false;
    fn from_read(v: Option<V>, _: impl FnOnce() -> DecodeErrorKind) -> Soft<Self> {
        Ok(v)
    }
    fn get(&self) -> Option<&V> {
        self.as_ref()
    }
}

impl<P: Presence> Field<kind::Attr> for P {
    type Raw<'a> = RawAttr<'a>;
    #[inline]
    fn attr<'a>(raw: &mut RawAttr<'a>, value: Cow<'a, str>) {
        keep_first(raw, value);
    }
    #[inline]
    fn finish(raw: RawAttr<'_>, path: &Path<'_>, name: &'static str) -> Soft<Self> {
        let raw = raw.filter(|v| !P::REQUIRED || !v.trim().is_empty());
        let value = raw
            .map(|v| P::Value::from_attr(&v).map_err(|reason| invalid(path, Some(name), &v, reason)))
            .transpose()?;
        P::from_read(value, || missing_attribute(path, name))
    }
    fn write_attrs(&self, name: &'static str, tag: &mut BytesStart<'_>) {
        if let Some(v) = self.get() {
            tag.push_attribute((name, &*v.to_wire()));
        }
    }
}

fn write_text(text: &str, w: &mut Out) {
    w.event(Event::Text(BytesText::new(text)));
}

impl Field<kind::Text> for String {
    type Raw<'a> = Cow<'a, str>;
    const TEXT: bool = true;
    #[inline]
    fn text<'a>(raw: &mut Cow<'a, str>, text: &mut Cow<'a, str>) {
        *raw = std::mem::take(text);
    }
    #[inline]
    fn finish(raw: Cow<'_, str>, _: &Path<'_>, _: &'static str) -> Soft<Self> {
        Ok(raw.into_owned())
    }
    fn has_content(&self) -> bool {
        !self.is_empty()
    }
    fn write_content(&self, _: &'static str, w: &mut Out) {
        write_text(self, w);
    }
}

impl Field<kind::TrimmedText> for String {
    type Raw<'a> = Cow<'a, str>;
    const TEXT: bool = true;
    #[inline]
    fn text<'a>(raw: &mut Cow<'a, str>, text: &mut Cow<'a, str>) {
        *raw = std::mem::take(text);
    }
    #[inline]
    fn finish(raw: Cow<'_, str>, _: &Path<'_>, _: &'static str) -> Soft<Self> {
        Ok(raw.trim().to_owned())
    }
    fn has_content(&self) -> bool {
        !self.is_empty()
    }
    fn write_content(&self, _: &'static str, w: &mut Out) {
        write_text(self, w);
    }
}

impl<P: Presence> Field<kind::Leaf> for P {
    type Raw<'a> = Option<Cow<'a, str>>;
    #[inline]
    fn child<'a>(raw: &mut Self::Raw<'a>, at: At<'_, 'a, '_>) -> Result<(), Hard> {
        at.once(raw, |cx, tag| cx.leaf_text(tag))
    }
    #[inline]
    fn finish(raw: Self::Raw<'_>, path: &Path<'_>, name: &'static str) -> Soft<Self> {
        let value = raw
            .map(|t| P::Value::from_text(&t).map_err(|reason| invalid(&path.child(name), None, &t, reason)))
            .transpose()?;
        P::from_read(value, || missing_element(path, name))
    }
    fn has_content(&self) -> bool {
        self.get().is_some()
    }
    fn write_content(&self, name: &'static str, w: &mut Out) {
        if let Some(v) = self.get() {
            w.text_element(name, BytesStart::new(name), &v.to_wire());
        }
    }
}

/// Writes a child element under its wire name.
fn write_child<E: Element>(e: &E, name: &'static str, w: &mut Out) {
    e.encode(name, BytesStart::new(name), w);
}

/// The first child element of a name counts; later ones are skipped with everything inside.
impl<E: Element> Field<kind::Child> for Option<E> {
    type Raw<'a> = Option<Soft<E>>;
    #[inline]
    fn child<'a>(raw: &mut Self::Raw<'a>, at: At<'_, 'a, '_>) -> Result<(), Hard> {
        let path = at.path.child(at.name);
        at.once(raw, |cx, tag| E::decode(cx, tag, &path))
    }
    #[inline]
    fn finish(raw: Self::Raw<'_>, _: &Path<'_>, _: &'static str) -> Soft<Self> {
        raw.transpose()
    }
    fn has_content(&self) -> bool {
        self.is_some()
    }
    fn write_content(&self, name: &'static str, w: &mut Out) {
        if let Some(e) = self {
            write_child(e, name, w);
        }
    }
}

/// A list's items so far, or the first error among them (items after it are not checked).
pub(crate) struct List<E>(Soft<Vec<E>>);

impl<E> Default for List<E> {
    fn default() -> Self {
        List(Ok(Vec::new()))
    }
}

/// Every child element of a name counts, in document order.
impl<E: Element> Field<kind::Child> for Vec<E> {
    type Raw<'a> = List<E>;
    #[inline]
    fn child<'a>(raw: &mut List<E>, at: At<'_, 'a, '_>) -> Result<(), Hard> {
        let item = E::decode(at.cx, at.tag, &at.path.child(at.name))?;
        if let Ok(items) = &mut raw.0 {
            match item {
                Ok(item) => items.push(item),
                Err(e) => raw.0 = Err(e),
            }
        }
        Ok(())
    }
    #[inline]
    fn finish(raw: List<E>, _: &Path<'_>, _: &'static str) -> Soft<Self> {
        raw.0
    }
    fn has_content(&self) -> bool {
        !self.is_empty()
    }
    fn write_content(&self, name: &'static str, w: &mut Out) {
        for e in self {
            write_child(e, name, w);
        }
    }
}

/// The wire name of a field, `""` for the kinds that have none.
macro_rules! wire_name {
    () => {
        ""
    };
    ($wire:literal) => {
        $wire
    };
}

/// The statement, for a field marked `first`.
macro_rules! if_first {
    ($first:ident; $($stmt:tt)*) => { $($stmt)* };
}

/// The statement, for a field not marked `first`.
macro_rules! unless_first {
    ([] $($stmt:tt)*) => { $($stmt)* };
    ([$first:ident] $($stmt:tt)*) => {};
}

/// Describes one element: the struct, and its [`Element`] impl (see the module documentation).
macro_rules! element {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $kind:ident $(($wire:literal $(, $first:ident)?))? pub $field:ident: $ty:ty
            ),* $(,)?
        }
        $(check $check:path;)?
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::schema::Element for $name {
            #[inline]
            fn decode<'a>(
                cx: &mut $crate::xml::Cx<'a>,
                tag: $crate::xml::Tag<'a>,
                path: &$crate::xml::Path<'_>,
            ) -> $crate::xml::Read<Self> {
                use $crate::schema::{Field, kind};
                $( let mut $field: <$ty as Field<kind::$kind>>::Raw<'a> = Default::default(); )*
                cx.attributes(&tag, |local, value| match local {
                    $( $( $wire => <$ty as Field<kind::$kind>>::attr(&mut $field, value), )? )*
                    _ => {
                        let mut value = Some(value);
                        $( <$ty as Field<kind::$kind>>::other_attr(&mut $field, local, &mut value); )*
                    }
                })?;
                const TEXT: bool = $crate::schema::any(&[$(<$ty as Field<kind::$kind>>::TEXT),*]);
                let mut text = cx.content(tag, TEXT, |cx, child| match child.local {
                    $( $( $wire => <$ty as Field<kind::$kind>>::child(
                        &mut $field,
                        $crate::schema::At { cx, tag: child, path, name: $wire },
                    ), )? )*
                    _ => cx.skip(child),
                })?;
                $( <$ty as Field<kind::$kind>>::text(&mut $field, &mut text); )*
                Ok($crate::schema::checked(|| {
                    let value = $name {
                        $( $field: <$ty as Field<kind::$kind>>::finish(
                            $field,
                            path,
                            $crate::schema::wire_name!($($wire)?),
                        )?, )*
                    };
                    $( $check(&value, path)?; )?
                    Ok(value)
                }))
            }

            fn encode(
                &self,
                name: &str,
                mut tag: quick_xml::events::BytesStart<'_>,
                w: &mut $crate::xml::Out,
            ) {
                use $crate::schema::{Field, kind};
                $( $( $( $crate::schema::if_first!($first;
                    <$ty as Field<kind::$kind>>::write_attrs(&self.$field, $wire, &mut tag);
                ); )? )? )*
                $( $crate::schema::unless_first!([$( $($first)? )?]
                    <$ty as Field<kind::$kind>>::write_attrs(
                        &self.$field,
                        $crate::schema::wire_name!($($wire)?),
                        &mut tag,
                    );
                ); )*
                if !($( <$ty as Field<kind::$kind>>::has_content(&self.$field) )||*) {
                    w.empty(tag);
                    return;
                }
                w.start(tag);
                $( <$ty as Field<kind::$kind>>::write_content(
                    &self.$field,
                    $crate::schema::wire_name!($($wire)?),
                    w,
                ); )*
                w.end(name);
            }
        }
    };
}

/// Describes a group of attributes that several elements carry (the message header): the
/// struct, the type `$raw` that reading keeps, and its `Flatten` field impl.
macro_rules! group {
    (
        $(#[$meta:meta])*
        pub struct $name:ident($raw:ident) {
            $( $(#[$fmeta:meta])* Attr($wire:literal) pub $field:ident: $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        /// What reading keeps of the group: each attribute as written.
        #[derive(Default)]
        pub(crate) struct $raw<'a> {
            $( pub(crate) $field: $crate::xml::RawAttr<'a>, )*
        }

        impl $crate::schema::Field<$crate::schema::kind::Flatten> for $name {
            type Raw<'a> = $raw<'a>;
            fn other_attr<'a>(raw: &mut $raw<'a>, local: &str, value: &mut $crate::xml::RawAttr<'a>) {
                use $crate::schema::{Field, kind};
                match local {
                    $( $wire => {
                        if let Some(v) = value.take() {
                            <$ty as Field<kind::Attr>>::attr(&mut raw.$field, v);
                        }
                    } )*
                    _ => {}
                }
            }
            fn finish(
                raw: $raw<'_>,
                path: &$crate::xml::Path<'_>,
                _: &'static str,
            ) -> $crate::schema::Soft<Self> {
                use $crate::schema::{Field, kind};
                Ok($name { $( $field: <$ty as Field<kind::Attr>>::finish(raw.$field, path, $wire)?, )* })
            }
            fn write_attrs(&self, _: &'static str, tag: &mut quick_xml::events::BytesStart<'_>) {
                use $crate::schema::{Field, kind};
                $( <$ty as Field<kind::Attr>>::write_attrs(&self.$field, $wire, tag); )*
            }
        }
    };
}

pub(crate) use {element, group, if_first, unless_first, wire_name};
