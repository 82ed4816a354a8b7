//! The attributes of a start tag (or of the XML declaration), read in one pass over its bytes.

use std::ops::Range;

use quick_xml::events::attributes::AttrError;

/// One attribute of a start tag, as spans of the tag.
pub(crate) struct RawAttr {
    /// The qualified name.
    pub(crate) key: Range<usize>,
    /// Length of the name's prefix, including the colon (0 when there is none).
    pub(crate) prefix: usize,
    /// The value as written, without the quotes.
    pub(crate) value: Range<usize>,
    /// The value holds a `&`, so it needs unescaping.
    pub(crate) escaped: bool,
}

const fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\r' | b'\n' | b'\t')
}

/// The attributes of one start tag (`tag`: its bytes without `<`, `/` and `>`; `pos`: the end
/// of its name). Reads exactly what quick-xml's XML-mode attribute iterator reads, with the same
/// errors at the same positions, in one pass that also notes prefixes and references.
pub(crate) struct AttrTokens<'t> {
    pub(crate) tag: &'t [u8],
    pub(crate) pos: usize,
}

impl Iterator for AttrTokens<'_> {
    type Item = Result<RawAttr, AttrError>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.tag;
        let len = b.len();
        let skip_space = |from: usize| from + b[from.min(len)..].iter().take_while(|c| is_space(**c)).count();
        let key_start = skip_space(self.pos);
        if key_start >= len {
            self.pos = len;
            return None;
        }
        // Whatever happens next, this call ends the iteration unless a whole attribute is read.
        self.pos = len;
        // The key's first byte is taken as it is, even a `=` (as quick-xml does).
        let mut prefix = usize::from(b[key_start] == b':');
        let mut i = key_start + 1;
        while let Some(&c) = b.get(i) {
            if c == b'=' || is_space(c) {
                break;
            }
            if c == b':' && prefix == 0 {
                prefix = i + 1 - key_start;
            }
            i += 1;
        }
        let key = key_start..i;
        let eq = skip_space(i);
        match b.get(eq) {
            Some(b'=') => {}
            Some(_) => return Some(Err(AttrError::ExpectedEq(eq))),
            None => return Some(Err(AttrError::ExpectedEq(len))),
        }
        let open = skip_space(eq + 1);
        let quote = match b.get(open) {
            Some(&q @ (b'"' | b'\'')) => q,
            Some(_) => return Some(Err(AttrError::UnquotedValue(open))),
            None => return Some(Err(AttrError::ExpectedValue(len))),
        };
        let mut escaped = false;
        let mut end = open + 1;
        loop {
            match b.get(end) {
                Some(&c) if c == quote => break,
                Some(&c) => {
                    escaped |= c == b'&';
                    end += 1;
                }
                None => return Some(Err(AttrError::ExpectedQuote(len, quote))),
            }
        }
        self.pos = end + 1;
        Some(Ok(RawAttr { key, prefix, value: open + 1..end, escaped }))
    }
}
