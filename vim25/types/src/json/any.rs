//! `anyType` values: `{"_typeName":"int","_value":5}` and friends.

use super::object::{fill, next_key, next_or_pending, ObjectSeed};
use super::value::{parse_base64, parse_float};
use super::{serialize_named, Lex, TYPE_NAME_KEY, VALUE_KEY};
use crate::types::{AnyValue, DateTime, ManagedObjectReference};
use crate::xml::{self};
use erased_serde::Serialize as ErasedSerialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// The `_typeName` of a value written as `{"_typeName":…,"_value":…}` (none for null).
fn typed_name(v: &AnyValue) -> Cow<'_, str> {
    match v {
        AnyValue::Null => Cow::Borrowed(""),
        other => other.kind(),
    }
}

/// Whether `item` is written plainly (without `_typeName`) in an array of `item_type`:
/// when its plain form reads back as the same value. References, objects, `null` and
/// unknown values carry their type in their own form anyway.
fn plain_in(item: &AnyValue, item_type: &str) -> bool {
    let t = match item {
        AnyValue::Mor(_) | AnyValue::Object(_) | AnyValue::Null | AnyValue::Unknown { .. } => {
            return true
        }
        AnyValue::Array { .. } => return false,
        AnyValue::Enum { type_name, .. } => type_name.as_str(),
        other => &typed_name(other),
    };
    t == item_type
}

impl Serialize for AnyValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AnyValue::Null => s.serialize_unit(),
            // As the vSphere JSON API writes a reference in an `anyType` slot.
            AnyValue::Mor(r) => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry(TYPE_NAME_KEY, "ManagedObjectReference")?;
                m.serialize_entry(VALUE_KEY, &PlainReference(r))?;
                m.end()
            }
            AnyValue::Object(o) => serialize_named(o.as_json(), Some(o.wire_type_name()), s),
            AnyValue::Unknown { type_name } => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(TYPE_NAME_KEY, type_name)?;
                m.end()
            }
            _ => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry(TYPE_NAME_KEY, &*typed_name(self))?;
                m.serialize_entry(VALUE_KEY, &Plain(self))?;
                m.end()
            }
        }
    }
}

/// A reference without its `_typeName`: the `_value` of a reference in an `anyType`.
struct PlainReference<'a>(&'a ManagedObjectReference);

impl Serialize for PlainReference<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_named(self.0, None, s)
    }
}

/// A value in its plain form: the `_value` of its typed form, or an array item.
struct Plain<'a>(&'a AnyValue);

impl Serialize for Plain<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            AnyValue::String(v) | AnyValue::Uri(v) => s.serialize_str(v),
            AnyValue::Enum { value, .. } => s.serialize_str(value),
            AnyValue::DateTime(v) => s.serialize_str(v.as_str()),
            AnyValue::Bool(v) => s.serialize_bool(*v),
            AnyValue::Byte(v) => s.serialize_i8(*v),
            AnyValue::Short(v) => s.serialize_i16(*v),
            AnyValue::Int(v) => s.serialize_i32(*v),
            AnyValue::Long(v) => s.serialize_i64(*v),
            AnyValue::Float(v) => Lex(v).serialize(s),
            AnyValue::Double(v) => Lex(v).serialize(s),
            AnyValue::Binary(v) => Lex(v).serialize(s),
            AnyValue::Array { item_type, items } => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for it in items {
                    // Items go through the erased layer: a nested array must not make
                    // the serializer type grow with each level.
                    if plain_in(it, item_type) {
                        seq.serialize_element(&Plain(it) as &dyn ErasedSerialize)?;
                    } else {
                        seq.serialize_element(it as &dyn ErasedSerialize)?;
                    }
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for AnyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        read_any(d, None)
    }
}

/// Reads a value; `item` is the item type of the array it is in (`None` alone or in an
/// `ArrayOfAnyType`), which types a plain item and an object without `_typeName`.
pub(super) fn read_any<'de, D: Deserializer<'de>>(
    d: D,
    item: Option<&str>,
) -> Result<AnyValue, D::Error> {
    d.deserialize_any(AnyVisitor {
        item: item.filter(|t| *t != "anyType"),
    })
}

/// [`read_any`] as a seed (array items).
struct AnySeed<'a> {
    item: Option<&'a str>,
}

impl<'de> DeserializeSeed<'de> for AnySeed<'_> {
    type Value = AnyValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<AnyValue, D::Error> {
        read_any(d, self.item)
    }
}

struct AnyVisitor<'a> {
    item: Option<&'a str>,
}

fn is_string_type(t: &str) -> bool {
    matches!(t, "string" | "TypeName" | "PropertyPath" | "MethodName")
}

fn out_of_range<E: de::Error>(v: impl fmt::Display, t: &str) -> E {
    E::custom(format_args!("{v} is out of range for {t}"))
}

impl<'de> Visitor<'de> for AnyVisitor<'_> {
    type Value = AnyValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.item {
            Some(t) => write!(f, "a `{t}` value"),
            None => f.write_str("an anyType value (a map starting with `_typeName`, or null)"),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<AnyValue, E> {
        Ok(AnyValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<AnyValue, E> {
        Ok(AnyValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<AnyValue, D::Error> {
        read_any(d, self.item)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<AnyValue, E> {
        Ok(AnyValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<AnyValue, E> {
        Ok(match self.item {
            Some("byte") => AnyValue::Byte(i8::try_from(v).map_err(|_| out_of_range(v, "byte"))?),
            Some("short") => {
                AnyValue::Short(i16::try_from(v).map_err(|_| out_of_range(v, "short"))?)
            }
            Some("int") => AnyValue::Int(i32::try_from(v).map_err(|_| out_of_range(v, "int"))?),
            Some("long") => AnyValue::Long(v),
            Some("float") => AnyValue::Float(v as f32),
            Some("double") => AnyValue::Double(v as f64),
            _ => match i32::try_from(v) {
                Ok(i) => AnyValue::Int(i),
                Err(_) => AnyValue::Long(v),
            },
        })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<AnyValue, E> {
        match (self.item, i64::try_from(v)) {
            (Some("float"), _) => Ok(AnyValue::Float(v as f32)),
            (Some("double"), _) => Ok(AnyValue::Double(v as f64)),
            (_, Ok(i)) => self.visit_i64(i),
            (t, Err(_)) => Err(out_of_range(v, t.unwrap_or("long"))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<AnyValue, E> {
        Ok(match self.item {
            Some("float") => AnyValue::Float(v as f32),
            _ => AnyValue::Double(v),
        })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<AnyValue, E> {
        let Some(t) = self.item else {
            return Ok(AnyValue::String(v.to_string()));
        };
        let bad = || E::invalid_value(de::Unexpected::Str(v), &self);
        Ok(match t {
            _ if is_string_type(t) => AnyValue::String(v.to_string()),
            "anyURI" => AnyValue::Uri(v.to_string()),
            "dateTime" => AnyValue::DateTime(DateTime(v.to_string())),
            "base64Binary" => AnyValue::Binary(parse_base64(v).map_err(|_| bad())?),
            "float" => AnyValue::Float(parse_float(v).ok_or_else(bad)? as f32),
            "double" => AnyValue::Double(parse_float(v).ok_or_else(bad)?),
            "boolean" => match v.trim() {
                "true" | "1" => AnyValue::Bool(true),
                "false" | "0" => AnyValue::Bool(false),
                _ => return Err(bad()),
            },
            "byte" => AnyValue::Byte(v.trim().parse().map_err(|_| bad())?),
            "short" => AnyValue::Short(v.trim().parse().map_err(|_| bad())?),
            "int" => AnyValue::Int(v.trim().parse().map_err(|_| bad())?),
            "long" => AnyValue::Long(v.trim().parse().map_err(|_| bad())?),
            _ if xml::is_enum(t) => AnyValue::Enum {
                type_name: t.to_string(),
                value: v.to_string(),
            },
            // A string is neither an object nor an array (`ArrayOfArrayOfString`'s items
            // are arrays; kept as an unknown value, it would write back as a
            // `_typeName` without the `_value` an array needs).
            _ if t == "ManagedObjectReference"
                || xml::array_suffix(t).is_some()
                || xml::data_object_index(t).is_some() =>
            {
                return Err(bad())
            }
            // As in XML, the content of a type the client does not know is dropped.
            _ => AnyValue::Unknown {
                type_name: t.to_string(),
            },
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyValue, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(AnySeed { item: None })? {
            items.push(v);
        }
        Ok(AnyValue::Array {
            item_type: "anyType".into(),
            items,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyValue, A::Error> {
        let mut key = String::new();
        if !next_key(&mut map, &mut key)? {
            return match self.item {
                Some(t) => typed(t, &mut map, None),
                None => Err(de::Error::custom("an anyType value needs a `_typeName`")),
            };
        }
        if key == TYPE_NAME_KEY {
            let name: String = map.next_value()?;
            return typed(&name, &mut map, None);
        }
        match self.item {
            // An object in an array of its type may leave its `_typeName` out.
            Some(t) => typed(t, &mut map, Some(key)),
            None => Err(de::Error::custom(format_args!(
                "`_typeName` must be the first key of an anyType value (found {key:?})"
            ))),
        }
    }
}

/// Whether `name` is written `{"_typeName":name,"_value":…}`.
fn has_value_key(name: &str) -> bool {
    is_string_type(name)
        || matches!(
            name,
            "boolean"
                | "byte"
                | "short"
                | "int"
                | "long"
                | "float"
                | "double"
                | "dateTime"
                | "base64Binary"
                | "anyURI"
        )
        || xml::array_suffix(name).is_some()
        || xml::is_enum(name)
}

/// Reads the rest of a map whose type is `name` (`pending`: a key already read).
fn typed<'de, A: MapAccess<'de>>(
    name: &str,
    map: &mut A,
    pending: Option<String>,
) -> Result<AnyValue, A::Error> {
    if name == "ManagedObjectReference" {
        // `{"_typeName":"ManagedObjectReference","_value":{"type":…,"value":…}}` as the
        // vSphere JSON API writes it, or the reference's own fields after `_typeName`.
        let mut r = ManagedObjectReference::default();
        let (mut pending, mut key) = (pending, String::new());
        let more = next_or_pending(map, &mut pending, &mut key)?;
        if more && key == VALUE_KEY {
            map.next_value_seed(ObjectSeed(&mut r))?;
            while next_key(map, &mut key)? {
                map.next_value::<IgnoredAny>()?;
            }
        } else {
            fill(map, more.then_some(key), &mut r, Some(name))?;
        }
        return Ok(AnyValue::Mor(r));
    }
    if !has_value_key(name) {
        if let Some(new) = xml::data_object_index(name)
            .and_then(|i| crate::generated::serde_registry::NEW_DATA_OBJECT.get(i))
        {
            let mut o = new();
            fill(map, pending, o.as_json_mut(), Some(name))?;
            return Ok(AnyValue::Object(o));
        }
        // A type the client does not know: its content is dropped, as in XML.
        let (mut pending, mut key) = (pending, String::new());
        while next_or_pending(map, &mut pending, &mut key)? {
            map.next_value::<IgnoredAny>()?;
        }
        return Ok(AnyValue::Unknown {
            type_name: name.to_string(),
        });
    }
    let mut value = None;
    let (mut pending, mut key) = (pending, String::new());
    while next_or_pending(map, &mut pending, &mut key)? {
        if key == VALUE_KEY {
            value = Some(map.next_value_seed(ValueSeed { name })?);
        } else {
            map.next_value::<IgnoredAny>()?;
        }
    }
    value.ok_or_else(|| de::Error::custom(format_args!("missing field `_value` in `{name}`")))
}

/// The `_value` of a value of type `name`.
struct ValueSeed<'a> {
    name: &'a str,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = AnyValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<AnyValue, D::Error> {
        let name = self.name;
        Ok(match name {
            _ if is_string_type(name) => AnyValue::String(String::deserialize(d)?),
            "boolean" => AnyValue::Bool(bool::deserialize(d)?),
            "byte" => AnyValue::Byte(i8::deserialize(d)?),
            "short" => AnyValue::Short(i16::deserialize(d)?),
            "int" => AnyValue::Int(i32::deserialize(d)?),
            "long" => AnyValue::Long(i64::deserialize(d)?),
            "float" => AnyValue::Float(Lex::<f32>::deserialize(d)?.0),
            "double" => AnyValue::Double(Lex::<f64>::deserialize(d)?.0),
            "dateTime" => AnyValue::DateTime(DateTime::deserialize(d)?),
            "base64Binary" => AnyValue::Binary(Lex::<Vec<u8>>::deserialize(d)?.0),
            "anyURI" => AnyValue::Uri(String::deserialize(d)?),
            _ => match xml::array_suffix(name) {
                Some(suffix) => {
                    let item = xml::array_item_type(suffix);
                    d.deserialize_seq(ArrayVisitor { item })?
                }
                None => AnyValue::Enum {
                    type_name: name.to_string(),
                    value: String::deserialize(d)?,
                },
            },
        })
    }
}

struct ArrayVisitor<'a> {
    item: &'a str,
}

impl<'de> Visitor<'de> for ArrayVisitor<'_> {
    type Value = AnyValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of `{}`", self.item)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyValue, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(AnySeed {
            item: Some(self.item),
        })? {
            items.push(v);
        }
        Ok(AnyValue::Array {
            item_type: self.item.to_string(),
            items,
        })
    }
}
