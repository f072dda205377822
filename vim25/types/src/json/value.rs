//! Leaf values: floats and binary in their lexical forms, `dateTime`, references.

use super::{Error, FieldReader, FieldWriter, JsonObject};
use crate::types::{DateTime, ManagedObjectReference};
use base64::Engine;
use serde::de::{self, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A float, double or binary value in the form JSON can carry: a finite float as a
/// number and a non-finite one as `"INF"`, `"-INF"` or `"NaN"` (JSON numbers have
/// none); binary as a base64 string. Serializes from a reference (`Lex(&x)`, also of a
/// slice), deserializes into the value (`Lex<f32>`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lex<T>(pub T);

/// The types [`Lex`] wraps: `f32`, `f64` and binary (`Vec<u8>`).
pub trait Lexical: Sized {
    /// Writes the value in its JSON form.
    fn serialize_lex<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error>;
    /// Reads the value from its JSON form.
    fn deserialize_lex<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
}

impl Lexical for f32 {
    fn serialize_lex<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_finite() {
            s.serialize_f32(*self)
        } else {
            s.serialize_str(&crate::xml::float_text(f64::from(*self)))
        }
    }
    fn deserialize_lex<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FloatVisitor).map(|v| v as f32)
    }
}

impl Lexical for f64 {
    fn serialize_lex<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_finite() {
            s.serialize_f64(*self)
        } else {
            s.serialize_str(&crate::xml::float_text(*self))
        }
    }
    fn deserialize_lex<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FloatVisitor)
    }
}

impl Lexical for Vec<u8> {
    fn serialize_lex<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::xml::base64_text(self))
    }
    fn deserialize_lex<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_base64(&s).map_err(|e| de::Error::custom(format_args!("invalid base64Binary: {e}")))
    }
}

impl<T: Lexical> Serialize for Lex<&T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_lex(s)
    }
}

impl<T: Lexical> Serialize for Lex<&[T]> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&Lex(v))?;
        }
        seq.end()
    }
}

impl<'de, T: Lexical> Deserialize<'de> for Lex<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize_lex(d).map(Lex)
    }
}

/// Reads a float or double: a number, or the XSD lexical form in a string.
struct FloatVisitor;

impl Visitor<'_> for FloatVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, \"INF\", \"-INF\" or \"NaN\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        parse_float(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

/// The XSD lexical form of a float (`INF`, `-INF`, `NaN` or a decimal number).
pub(super) fn parse_float(v: &str) -> Option<f64> {
    match v.trim() {
        "INF" => Some(f64::INFINITY),
        "-INF" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        t => t.parse().ok(),
    }
}

/// The bytes of a base64 string (whitespace inside is ignored, as in XML).
pub(super) fn parse_base64(v: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let compact: Vec<u8> = v.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact)
}

impl Serialize for DateTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DateTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(DateTime)
    }
}

impl JsonObject for ManagedObjectReference {
    fn json_type_name(&self) -> Option<&str> {
        Some("ManagedObjectReference")
    }
    fn json_schema_name(&self) -> &'static str {
        "ManagedObjectReference"
    }
    fn json_keep_type_name(&mut self, _: &str) {}
    fn json_required(&self) -> &'static [&'static str] {
        &["type", "value"]
    }
    fn json_write(&self, w: &mut dyn FieldWriter) {
        w.req("type", &self.type_);
        w.req("value", &self.value);
    }
    fn json_read<'de>(&mut self, key: &str, r: &mut dyn FieldReader<'de>) -> Result<bool, Error> {
        match key {
            "type" => r.req(&mut self.type_)?,
            "value" => r.req(&mut self.value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

super::object_serde!(ManagedObjectReference);
