//! The encoder: writes elements straight into a string.

use super::{ComplexType, DateTime, Encode, ManagedObjectReference};
use crate::Version;
use base64::Engine;

const ROOT_NAMESPACES: &str = r#" xmlns="urn:vim25" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance""#;

/// Writes XML for the negotiated API `version`: fields newer than it are left out.
pub struct Encoder {
    buf: String,
    version: Version,
    root_namespaces: bool,
    refused: Option<String>,
}

impl Encoder {
    /// An empty encoder for `version`.
    pub fn new(version: Version) -> Self {
        Encoder {
            buf: String::with_capacity(256),
            version,
            root_namespaces: false,
            refused: None,
        }
    }

    /// Appends markup as it is (the SOAP envelope around a request).
    pub(crate) fn push_raw(&mut self, markup: &str) {
        self.buf.push_str(markup);
    }

    /// The first reason recorded by [`Encoder::refuse`], taken out.
    pub(crate) fn take_refusal(&mut self) -> Option<String> {
        self.refused.take()
    }

    /// Records that a value cannot be sent at the negotiated version (the first reason
    /// is kept; [`RequestWriter::finish`](crate::soap::RequestWriter::finish) reports it).
    pub fn refuse(&mut self, why: String) {
        self.refused.get_or_insert(why);
    }

    /// Writes `<name>value</name>` for a value of string enum `type_name` introduced in
    /// API `since`, refusing the encoding (see [`Encoder::refuse`]) if the negotiated
    /// version predates it. Shared by all enums, so that none carries its own copy of
    /// the message's formatting.
    pub(crate) fn enum_leaf(
        &mut self,
        name: &str,
        type_name: &str,
        value: &str,
        since: Option<Version>,
    ) {
        if let Some(v) = since {
            if !self.knows(v) {
                let why = format!(
                    "{type_name} value {value:?} needs API {} (negotiated {})",
                    v.as_str(),
                    self.version.as_str()
                );
                self.refuse(why);
            }
        }
        self.leaf(name, None, value);
    }

    /// Whether the negotiated version knows something introduced in `v`.
    pub fn knows(&self, v: Version) -> bool {
        self.version >= v
    }

    /// The negotiated version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Puts the vim25/xsd/xsi namespace declarations on the next element written.
    pub fn set_root_namespaces(&mut self, on: bool) {
        self.root_namespaces = on;
    }

    /// The text written so far.
    pub fn into_string(self) -> String {
        self.buf
    }

    /// Writes a start tag, with `xsi:type` when given.
    pub fn start(&mut self, name: &str, xsi_type: Option<&str>) {
        self.buf.push('<');
        self.buf.push_str(name);
        if std::mem::take(&mut self.root_namespaces) {
            self.buf.push_str(ROOT_NAMESPACES);
        }
        if let Some(t) = xsi_type {
            self.buf.push_str(r#" xsi:type=""#);
            // Type names from the schema need no escaping; names kept from a server
            // (unknown subtypes) are escaped so they cannot add attributes.
            self.text(t);
            self.buf.push('"');
        }
        self.buf.push('>');
    }

    /// Writes `<name xsi:nil="true"/>`.
    pub fn nil(&mut self, name: &str) {
        self.buf.push('<');
        self.buf.push_str(name);
        if std::mem::take(&mut self.root_namespaces) {
            self.buf.push_str(ROOT_NAMESPACES);
        }
        self.buf.push_str(r#" xsi:nil="true"/>"#);
    }

    /// Writes an end tag.
    pub fn end(&mut self, name: &str) {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    /// Writes escaped character data.
    pub fn text(&mut self, t: &str) {
        let mut last = 0;
        for (i, b) in t.bytes().enumerate() {
            let rep = match b {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\r' => "&#13;",
                _ => continue,
            };
            self.buf.push_str(&t[last..i]);
            self.buf.push_str(rep);
            last = i + 1;
        }
        self.buf.push_str(&t[last..]);
    }

    /// Writes `<name xsi:type="…">text</name>`.
    pub fn leaf(&mut self, name: &str, xsi_type: Option<&str>, text: &str) {
        self.start(name, xsi_type);
        self.text(text);
        self.end(name);
    }

    /// Writes a data object as `<name xsi:type="…">fields</name>`.
    pub fn complex<T: ComplexType>(&mut self, name: &str, xsi_type: Option<&str>, v: &T) {
        self.start(name, xsi_type);
        v.encode_fields(self);
        self.end(name);
    }

    /// Writes a managed object reference; `typed` adds its `xsi:type` (in `anyType`).
    pub fn mor(&mut self, name: &str, r: &ManagedObjectReference, typed: bool) {
        self.buf.push('<');
        self.buf.push_str(name);
        if std::mem::take(&mut self.root_namespaces) {
            self.buf.push_str(ROOT_NAMESPACES);
        }
        self.buf.push_str(r#" type=""#);
        self.text(&r.type_);
        self.buf.push('"');
        if typed {
            self.buf.push_str(r#" xsi:type="ManagedObjectReference""#);
        }
        self.buf.push('>');
        self.text(&r.value);
        self.end(name);
    }

    /// Writes a required field.
    pub fn req<T: Encode + ?Sized>(&mut self, name: &str, v: &T) {
        v.encode(self, name);
    }

    /// Writes an optional boxed field (one that would otherwise make its type contain
    /// itself) when it is set. A required boxed field is written by `req` through the
    /// box.
    pub(crate) fn boxed_opt<T: Encode>(&mut self, name: &str, v: &Option<Box<T>>) {
        if let Some(v) = v {
            (**v).encode(self, name);
        }
    }

    /// Writes an optional field when it is set.
    pub fn opt<T: Encode>(&mut self, name: &str, v: &Option<T>) {
        if let Some(v) = v {
            v.encode(self, name);
        }
    }

    /// Writes each element of a repeated field.
    pub fn list<T: Encode>(&mut self, name: &str, v: &[T]) {
        for x in v {
            x.encode(self, name);
        }
    }
}

impl Encode for str {
    fn encode(&self, e: &mut Encoder, name: &str) {
        e.leaf(name, None, self);
    }
}

impl Encode for String {
    fn encode(&self, e: &mut Encoder, name: &str) {
        e.leaf(name, None, self);
    }
}

impl Encode for bool {
    fn encode(&self, e: &mut Encoder, name: &str) {
        e.leaf(name, None, if *self { "true" } else { "false" });
    }
}

macro_rules! encode_number {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn encode(&self, e: &mut Encoder, name: &str) {
                e.leaf(name, None, &self.to_string());
            }
        }
    )*};
}
encode_number!(i8, i16, i32, i64);

/// The XSD lexical form of a float or double.
pub(crate) fn float_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "INF".into()
        } else {
            "-INF".into()
        }
    } else {
        v.to_string()
    }
}

/// A float's shortest text, so 0.1f32 is written `0.1`, not `0.10000000149011612`.
pub(crate) fn f32_text(v: f32) -> String {
    if v.is_finite() {
        v.to_string()
    } else {
        float_text(f64::from(v))
    }
}

/// The base64Binary lexical form.
pub(crate) fn base64_text(v: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(v)
}

impl Encode for f32 {
    fn encode(&self, e: &mut Encoder, name: &str) {
        e.leaf(name, None, &f32_text(*self));
    }
}

impl Encode for f64 {
    fn encode(&self, e: &mut Encoder, name: &str) {
        e.leaf(name, None, &float_text(*self));
    }
}

impl Encode for DateTime {
    fn encode(&self, e: &mut Encoder, name: &str) {
        e.leaf(name, None, &self.0);
    }
}

impl Encode for [u8] {
    fn encode(&self, e: &mut Encoder, name: &str) {
        e.leaf(name, None, &base64_text(self));
    }
}

impl Encode for Vec<u8> {
    fn encode(&self, e: &mut Encoder, name: &str) {
        self.as_slice().encode(e, name);
    }
}
