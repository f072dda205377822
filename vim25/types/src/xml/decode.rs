//! The streaming decoder.

use super::lex::{local, Lexer, Token};
use super::{ComplexType, DateTime, Decode};
use base64::Engine;
use std::borrow::Cow;
use std::fmt;

/// Nesting of elements decoded (not skipped) deeper than this is refused: it protects
/// the stack from hostile input. Skipping needs no stack, so it goes any depth.
const MAX_DEPTH: usize = 256;

/// Bad input: what was wrong, at which element path and byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What was wrong.
    pub message: String,
    /// The open elements, outermost first (`Envelope/Body/RetrievePropertiesExResponse`).
    pub path: String,
    /// Byte offset in the input.
    pub offset: u64,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at /{} (byte {})",
            self.message, self.path, self.offset
        )
    }
}

impl std::error::Error for DecodeError {}

/// The start tag of an element being decoded.
#[derive(Debug, Clone)]
pub struct Start<'a> {
    local: &'a [u8],
    attrs: &'a [u8],
    xsi_type: Option<&'a str>,
    empty: bool,
}

impl<'a> Start<'a> {
    /// The element's local name (prefix removed).
    pub fn name(&self) -> &'a [u8] {
        self.local
    }

    /// The local part of its `xsi:type`, if any (`VirtualVmxnet3`, `string`).
    pub fn xsi_type(&self) -> Option<&'a str> {
        self.xsi_type
    }

    /// The same start tag, read as if its `xsi:type` were `t`.
    pub fn with_xsi_type(&self, t: &'a str) -> Start<'a> {
        Start {
            xsi_type: Some(t),
            ..self.clone()
        }
    }

    /// Whether it was written `<x/>`.
    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// The raw value of an unprefixed attribute.
    pub fn attr(&self, key: &[u8]) -> Option<&'a [u8]> {
        attrs(self.attrs).find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// An unprefixed attribute as a string, entity references resolved.
    pub fn attr_string(&self, key: &[u8]) -> Result<Option<String>, DecodeError> {
        let Some(raw) = self.attr(key) else {
            return Ok(None);
        };
        let s = std::str::from_utf8(raw).map_err(|_| DecodeError {
            message: "attribute is not UTF-8".into(),
            path: String::from_utf8_lossy(self.local).into_owned(),
            offset: 0,
        })?;
        Ok(Some(unescape(s).into_owned()))
    }
}

/// Iterates `key="value"` pairs of a start tag's attribute text. Malformed text ends
/// the iteration.
fn attrs(mut s: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        let start = s.iter().position(|b| !b.is_ascii_whitespace())?;
        s = &s[start..];
        let eq = s.iter().position(|&b| b == b'=')?;
        let key = trim(&s[..eq]);
        let rest = &s[eq + 1..];
        let q = rest.iter().position(|b| !b.is_ascii_whitespace())?;
        let quote = rest[q];
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let body = &rest[q + 1..];
        let end = body.iter().position(|&b| b == quote)?;
        let value = &body[..end];
        s = &body[end + 1..];
        Some((key, value))
    })
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// Resolves the five predefined entities and character references.
fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find(';') {
            Some(j) => {
                match resolve_entity(&after[..j]) {
                    Some(c) => out.push(c),
                    None => out.push_str(&rest[i..i + j + 2]),
                }
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn resolve_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let n = if let Some(h) = name.strip_prefix("#x") {
                u32::from_str_radix(h, 16).ok()?
            } else {
                name.strip_prefix('#')?.parse().ok()?
            };
            char::from_u32(n)?
        }
    })
}

/// A streaming decoder over a complete response held in memory.
pub struct Decoder<'a> {
    /// The whole input as text, when it is all UTF-8 (checked once, up front): text
    /// is then sliced out of it without checking each piece again.
    text: Option<&'a str>,
    lexer: Lexer<'a>,
}

impl<'a> Decoder<'a> {
    /// A decoder over `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Decoder {
            text: std::str::from_utf8(input).ok(),
            lexer: Lexer::new(input),
        }
    }

    /// A decoder over the first part of a document whose rest has not arrived yet
    /// (an element being received): decoding reads as [`Decoder::new`] does, except
    /// that running into the end of `input` fails and marks the decoder
    /// [`truncated`](Decoder::truncated), since the rest could complete what was cut
    /// off. Any other error stands whatever follows. Text is checked as UTF-8 piece by
    /// piece (the end may cut a character in two).
    ///
    /// ```
    /// use vim25_core::xml::{Decode, Decoder};
    ///
    /// let doc = b"<n>42</n><next>";
    /// for cut in 0..doc.len() {
    ///     let mut d = Decoder::partial(&doc[..cut]);
    ///     let read = d.next_child().and_then(|s| i32::decode(&mut d, &s.unwrap()));
    ///     match read {
    ///         Ok(n) => {
    ///             assert_eq!(n, 42);
    ///             assert_eq!(d.consumed(), 9); // up to `<next>`
    ///         }
    ///         Err(_) => assert!(d.truncated(), "cut at {cut}"),
    ///     }
    /// }
    /// ```
    pub fn partial(input: &'a [u8]) -> Self {
        Decoder {
            text: None,
            lexer: Lexer::partial(input),
        }
    }

    /// Whether decoding a [`Decoder::partial`] input failed by running into its end.
    pub fn truncated(&self) -> bool {
        self.lexer.truncated()
    }

    /// How many bytes of the input have been read: after an element has been decoded,
    /// where the next markup or text starts.
    pub fn consumed(&self) -> usize {
        self.lexer.position()
    }

    /// How many elements are open (started and not yet ended).
    pub fn depth(&self) -> usize {
        self.lexer.open().len()
    }

    /// An error at the current position.
    pub fn error(&self, message: impl Into<String>) -> DecodeError {
        let mut path = String::new();
        for (i, p) in self.lexer.open().iter().enumerate() {
            if i > 0 {
                path.push('/');
            }
            path.push_str(&String::from_utf8_lossy(local(p)));
        }
        DecodeError {
            message: message.into(),
            path,
            offset: self.position(),
        }
    }

    /// The byte offset of the next token.
    fn position(&self) -> u64 {
        self.lexer.position() as u64
    }

    // The step from one element to the next (`token`, `start_of`, `child`, and the
    // lexer's `next_token` under them) is inlined into the loops that take it: as
    // calls, each handed a token or a `Start` back through memory, written in pieces
    // and read back whole, and those reads waited for the writes (a store-forwarding
    // stall) on every element.
    #[inline(always)]
    fn token(&mut self) -> Result<Token, DecodeError> {
        match self.lexer.next_token() {
            Ok(t) => Ok(t),
            Err(m) => Err(self.malformed(m)),
        }
    }

    #[cold]
    #[inline(never)]
    fn malformed(&self, m: String) -> DecodeError {
        self.error(format!("malformed XML: {m}"))
    }

    #[inline(always)]
    fn start_of(
        &self,
        tag: (usize, usize),
        name_len: usize,
        empty: bool,
    ) -> Result<Start<'a>, DecodeError> {
        let buf = self.lexer.bytes(tag);
        let local = local(&buf[..name_len]);
        let attr_text = &buf[name_len..];
        let mut xsi_type = None;
        for (k, v) in attrs(attr_text) {
            // Any prefixed `type` attribute is taken as xsi:type: vSphere binds the
            // prefix to the schema-instance namespace, and `type` of another namespace
            // has no meaning in this API.
            if k.len() > 5 && k.ends_with(b":type") {
                // Only name characters: a type name never needs escaping, and what a
                // server sends here may be sent back in a later request.
                let v = std::str::from_utf8(v)
                    .ok()
                    .filter(|v| {
                        !v.is_empty()
                            && v.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
                    })
                    .ok_or_else(|| self.error("xsi:type is not a type name"))?;
                let name = match v.rfind(':') {
                    Some(i) => &v[i + 1..],
                    None => v,
                };
                if name.is_empty() {
                    return Err(self.error("xsi:type has no type name"));
                }
                xsi_type = Some(name);
            }
        }
        Ok(Start {
            local,
            attrs: attr_text,
            xsi_type,
            empty,
        })
    }

    /// The next child element of the element being decoded, or `None` at its end tag.
    /// Text between child elements is ignored.
    pub fn next_child(&mut self) -> Result<Option<Start<'a>>, DecodeError> {
        self.child()
    }

    /// [`Decoder::next_child`], inlined into the decoder's own loops over children.
    #[inline(always)]
    fn child(&mut self) -> Result<Option<Start<'a>>, DecodeError> {
        loop {
            let (tag, name_len, empty) = match self.token()? {
                Token::Start { tag, name_len } => {
                    if self.lexer.open().len() > MAX_DEPTH {
                        return Err(self.error("elements nested too deeply"));
                    }
                    (tag, name_len, false)
                }
                Token::Empty { tag, name_len } => (tag, name_len, true),
                Token::End => return Ok(None),
                Token::Eof => {
                    return if self.lexer.open().is_empty() {
                        Ok(None)
                    } else {
                        Err(self.error("unexpected end of input"))
                    };
                }
                Token::Text(..) | Token::CData(..) | Token::Ignorable | Token::Declaration => {
                    continue
                }
            };
            return self.start_of(tag, name_len, empty).map(Some);
        }
    }

    /// Skips the element `s` and everything inside it.
    pub fn skip(&mut self, s: &Start<'a>) -> Result<(), DecodeError> {
        if s.empty {
            return Ok(());
        }
        // `s` is the innermost open element: done when fewer are open.
        let depth = self.lexer.open().len();
        loop {
            match self.token()? {
                Token::End if self.lexer.open().len() < depth => return Ok(()),
                Token::Eof => return Err(self.error("unexpected end of input")),
                _ => {}
            }
        }
    }

    /// The text content of the leaf element `s`, entity references resolved.
    pub fn text(&mut self, s: &Start<'a>) -> Result<Cow<'a, str>, DecodeError> {
        if s.empty {
            return Ok(Cow::Borrowed(""));
        }
        let mut acc: Option<Cow<'a, str>> = None;
        loop {
            let piece = match self.token()? {
                Token::Text(from, to) => self.unescape_text(from, to)?,
                Token::CData(from, to) => Cow::Borrowed(self.str_at(from, to)?),
                Token::End => return Ok(acc.unwrap_or(Cow::Borrowed(""))),
                Token::Start { .. } | Token::Empty { .. } => {
                    return Err(self.error("element found where text was expected"))
                }
                Token::Eof => return Err(self.error("unexpected end of input")),
                Token::Ignorable | Token::Declaration => continue,
            };
            acc = Some(match acc {
                None => piece,
                Some(prev) => Cow::Owned(prev.into_owned() + &piece),
            });
        }
    }

    /// The input from `from` to `to` as text.
    fn str_at(&self, from: usize, to: usize) -> Result<&'a str, DecodeError> {
        // Text runs between markup, so its ends are character boundaries of valid
        // input; `get` checks that anyway.
        if let Some(t) = self.text.and_then(|t| t.get(from..to)) {
            return Ok(t);
        }
        std::str::from_utf8(self.lexer.bytes((from, to)))
            .map_err(|_| self.error("text is not UTF-8"))
    }

    /// Text with its entity and character references resolved; an unknown or
    /// unterminated reference is an error.
    fn unescape_text(&self, from: usize, to: usize) -> Result<Cow<'a, str>, DecodeError> {
        let raw = self.str_at(from, to)?;
        let Some(first) = memchr::memchr(b'&', raw.as_bytes()) else {
            return Ok(Cow::Borrowed(raw));
        };
        let mut out = String::with_capacity(raw.len());
        out.push_str(&raw[..first]);
        let mut rest = &raw[first..];
        while let Some(after) = rest.strip_prefix('&') {
            let end = after
                .find(';')
                .ok_or_else(|| self.error("malformed XML: unterminated entity reference"))?;
            let name = &after[..end];
            match resolve_entity(name) {
                Some(c) => out.push(c),
                None => return Err(self.error(format!("unknown entity &{name};"))),
            }
            rest = &after[end + 1..];
            let next = rest.find('&').unwrap_or(rest.len());
            out.push_str(&rest[..next]);
            rest = &rest[next..];
        }
        Ok(Cow::Owned(out))
    }

    /// Decodes the element `s` as the data object `T`, field by field. An `xsi:type`
    /// other than `T`'s own (a subtype this client does not know, in a slot whose
    /// declared type has no known subtypes) is kept in the value
    /// ([`ComplexType::unknown_type_name`]).
    pub fn complex<T: ComplexType>(&mut self, s: &Start<'a>) -> Result<T, DecodeError> {
        let mut v = T::default();
        self.complex_into(&mut v, s)?;
        Ok(v)
    }

    /// Decodes the element `s` into `v` (a default value) in place, as
    /// [`Decoder::complex`] does.
    pub fn complex_into<T: ComplexType>(
        &mut self,
        v: &mut T,
        s: &Start<'a>,
    ) -> Result<(), DecodeError> {
        self.fields_into(v, Some(T::TYPE_NAME), s)
    }

    /// Decodes the child elements of `s` into the fields of `v` (its `xsi:type` is not
    /// looked at), skipping elements `v` has no field for.
    pub fn complex_fields<T: ComplexType>(
        &mut self,
        v: &mut T,
        s: &Start<'a>,
    ) -> Result<(), DecodeError> {
        self.fields_into(v, None, s)
    }

    /// The loop of [`Decoder::complex_into`] and [`Decoder::complex_fields`], once for
    /// all types rather than once per type (about 3,000 copies, which cost the build
    /// memory); a field's decoder is reached through the object's vtable. With
    /// `type_name`, an `xsi:type` other than it is kept in the value.
    fn fields_into(
        &mut self,
        v: &mut dyn FieldSink,
        type_name: Option<&str>,
        s: &Start<'a>,
    ) -> Result<(), DecodeError> {
        if let (Some(t), Some(own)) = (s.xsi_type, type_name) {
            if t != own {
                v.keep_type_name(t.into());
            }
        }
        if s.empty {
            return Ok(());
        }
        while let Some(child) = self.child()? {
            if !v.field(self, &child)? {
                self.skip(&child)?;
            }
        }
        Ok(())
    }

    /// Decodes a required field.
    pub fn req<T: Decode>(&mut self, slot: &mut T, s: &Start<'a>) -> Result<(), DecodeError> {
        *slot = T::decode(self, s)?;
        Ok(())
    }

    /// Decodes an optional field.
    pub fn opt<T: Decode>(
        &mut self,
        slot: &mut Option<T>,
        s: &Start<'a>,
    ) -> Result<(), DecodeError> {
        *slot = Some(T::decode(self, s)?);
        Ok(())
    }

    /// Decodes one more element of a repeated field.
    pub fn list<T: Decode>(&mut self, slot: &mut Vec<T>, s: &Start<'a>) -> Result<(), DecodeError> {
        slot.push(T::decode(self, s)?);
        Ok(())
    }

    /// Decodes a required data-object field in place: the generated code calls this
    /// (and the other `obj_` methods) for fields of a data object type without
    /// subtypes, which is filled where it stays instead of being built and moved (a
    /// `VirtualMachineConfigInfo` is kilobytes).
    pub fn obj_req<T: ComplexType>(
        &mut self,
        slot: &mut T,
        s: &Start<'a>,
    ) -> Result<(), DecodeError> {
        *slot = T::default();
        self.complex_into(slot, s)
    }

    /// Decodes an optional data-object field in place (see [`Decoder::obj_req`]).
    pub fn obj_opt<T: ComplexType>(
        &mut self,
        slot: &mut Option<T>,
        s: &Start<'a>,
    ) -> Result<(), DecodeError> {
        self.complex_into(slot.insert(T::default()), s)
    }

    /// Decodes one more item of a repeated data-object field in place (see
    /// [`Decoder::obj_req`]).
    pub fn obj_list<T: ComplexType>(
        &mut self,
        slot: &mut Vec<T>,
        s: &Start<'a>,
    ) -> Result<(), DecodeError> {
        slot.push(T::default());
        match slot.last_mut() {
            Some(v) => self.complex_into(v, s),
            None => Ok(()),
        }
    }

    /// Decodes an optional boxed data-object field (one that would otherwise make its
    /// type contain itself) in place (see [`Decoder::obj_req`]). A required boxed field
    /// is decoded by `obj_req` through the box.
    pub(crate) fn boxed_opt<T: ComplexType>(
        &mut self,
        slot: &mut Option<Box<T>>,
        s: &Start<'a>,
    ) -> Result<(), DecodeError> {
        self.complex_into(&mut **slot.insert(Box::default()), s)
    }

    /// [`Decoder::prop`] for a data object, in place (see [`Decoder::obj_req`]).
    pub fn obj_prop<T: ComplexType>(
        &mut self,
        slot: &mut Option<T>,
        s: &Start<'a>,
    ) -> Result<(), DecodeError> {
        self.obj_opt(slot, s)
    }

    /// [`Decoder::prop_list`] for data objects, in place (see [`Decoder::obj_req`]).
    pub fn obj_prop_list<T: ComplexType>(
        &mut self,
        slot: &mut Option<Vec<T>>,
        s: &Start<'a>,
    ) -> Result<(), DecodeError> {
        self.array(slot, s, Self::obj_list)
    }

    /// Decodes a property-collector value (`<val xsi:type="T">`) of a single value.
    pub fn prop<T: Decode>(
        &mut self,
        slot: &mut Option<T>,
        s: &Start<'a>,
    ) -> Result<(), DecodeError> {
        self.opt(slot, s)
    }

    /// Decodes a property-collector value holding an array (`<val
    /// xsi:type="ArrayOfT"><T>…</T>…</val>`).
    pub fn prop_list<T: Decode>(
        &mut self,
        slot: &mut Option<Vec<T>>,
        s: &Start<'a>,
    ) -> Result<(), DecodeError> {
        self.array(slot, s, Self::list)
    }

    /// The items of an array value (`<val xsi:type="ArrayOfT">`), each decoded by
    /// `item` into the list, stored in `slot` once all have decoded.
    fn array<T>(
        &mut self,
        slot: &mut Option<Vec<T>>,
        s: &Start<'a>,
        item: fn(&mut Self, &mut Vec<T>, &Start<'a>) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let mut items = Vec::new();
        if !s.empty {
            while let Some(child) = self.child()? {
                item(self, &mut items, &child)?;
            }
        }
        *slot = Some(items);
        Ok(())
    }

    /// After the last element: only whitespace, comments or processing instructions
    /// may follow.
    pub fn expect_end_of_input(&mut self) -> Result<(), DecodeError> {
        loop {
            match self.token()? {
                Token::Eof => return Ok(()),
                Token::Text(from, to)
                    if self
                        .lexer
                        .bytes((from, to))
                        .iter()
                        .all(|b| b.is_ascii_whitespace()) => {}
                Token::Ignorable => {}
                _ => return Err(self.error("content after the document element")),
            }
        }
    }

    /// Parses the text of `s` with `f`, naming `what` in the error.
    pub fn parse_text<T>(
        &mut self,
        s: &Start<'a>,
        what: &str,
        f: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, DecodeError> {
        // Position and path are taken before the text is read: reading it consumes the
        // end tag, and the error must point into the element.
        let at = self.position();
        let t = self.text(s)?;
        let v = f(t.trim());
        v.ok_or_else(|| {
            let shown: String = t.chars().take(40).collect();
            self.error_in(s, at, format!("invalid {what}: {shown:?}"))
        })
    }

    /// An error inside the element `s` (already closed) at byte `at`.
    pub fn error_in(&self, s: &Start<'a>, at: u64, message: impl Into<String>) -> DecodeError {
        let mut e = self.error(message);
        if !e.path.is_empty() {
            e.path.push('/');
        }
        e.path.push_str(&String::from_utf8_lossy(s.name()));
        e.offset = at;
        e
    }
}

impl Decode for String {
    fn decode<'a>(d: &mut Decoder<'a>, s: &Start<'a>) -> Result<Self, DecodeError> {
        Ok(d.text(s)?.into_owned())
    }
}

impl Decode for bool {
    fn decode<'a>(d: &mut Decoder<'a>, s: &Start<'a>) -> Result<Self, DecodeError> {
        d.parse_text(s, "boolean", |t| match t {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        })
    }
}

macro_rules! decode_number {
    ($($t:ty => $what:literal),*) => {$(
        impl Decode for $t {
            fn decode<'a>(d: &mut Decoder<'a>, s: &Start<'a>) -> Result<Self, DecodeError> {
                d.parse_text(s, $what, |t| t.parse().ok())
            }
        }
    )*};
}
decode_number!(i8 => "byte", i16 => "short", i32 => "int", i64 => "long");

macro_rules! decode_float {
    ($($t:ty => $what:literal),*) => {$(
        impl Decode for $t {
            fn decode<'a>(d: &mut Decoder<'a>, s: &Start<'a>) -> Result<Self, DecodeError> {
                d.parse_text(s, $what, |t| match t {
                    "INF" => Some(<$t>::INFINITY),
                    "-INF" => Some(<$t>::NEG_INFINITY),
                    "NaN" => Some(<$t>::NAN),
                    _ => t.parse().ok(),
                })
            }
        }
    )*};
}
decode_float!(f32 => "float", f64 => "double");

impl Decode for DateTime {
    fn decode<'a>(d: &mut Decoder<'a>, s: &Start<'a>) -> Result<Self, DecodeError> {
        Ok(DateTime(d.text(s)?.trim().to_string()))
    }
}

impl Decode for Vec<u8> {
    fn decode<'a>(d: &mut Decoder<'a>, s: &Start<'a>) -> Result<Self, DecodeError> {
        let at = d.position();
        let t = d.text(s)?;
        let compact: Vec<u8> = t.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .map_err(|e| d.error_in(s, at, format!("invalid base64Binary: {e}")))
    }
}

/// A data object as [`Decoder::fields_into`] fills it: the object-safe part of
/// [`ComplexType`].
trait FieldSink {
    fn field<'a>(&mut self, d: &mut Decoder<'a>, s: &Start<'a>) -> Result<bool, DecodeError>;
    fn keep_type_name(&mut self, name: Box<str>);
}

impl<T: ComplexType> FieldSink for T {
    fn field<'a>(&mut self, d: &mut Decoder<'a>, s: &Start<'a>) -> Result<bool, DecodeError> {
        self.decode_field(d, s)
    }
    fn keep_type_name(&mut self, name: Box<str>) {
        self.set_unknown_type_name(Some(name))
    }
}
