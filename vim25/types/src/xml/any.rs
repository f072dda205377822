//! `xsd:anyType` values and type-erased data objects.

use super::encode::{base64_text, f32_text, float_text};
use super::{ComplexType, Decode, DecodeError, Decoder, Encode, Encoder, Start};
use crate::value::{AnyValue, DataObject, DateTime, ManagedObjectReference};

/// Decodes an element as data object `T`, boxed and erased.
pub type DataObjectDecoder =
    for<'a, 'b> fn(&'b mut Decoder<'a>, &'b Start<'a>) -> Result<Box<dyn DataObject>, DecodeError>;

/// The registry entry for `T`.
pub fn decode_data_object<'a, T>(
    d: &mut Decoder<'a>,
    s: &Start<'a>,
) -> Result<Box<dyn DataObject>, DecodeError>
where
    T: ComplexType + DataObject,
{
    Ok(Box::new(d.complex::<T>(s)?))
}

/// The index of data type `name` in the registry (sorted by name).
pub(crate) fn data_object_index(name: &str) -> Option<usize> {
    crate::generated::registry::DATA_OBJECTS
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
}

fn lookup_data_object(name: &str) -> Option<DataObjectDecoder> {
    let table = crate::generated::registry::DATA_OBJECTS;
    data_object_index(name)
        .and_then(|i| table.get(i))
        .map(|e| e.1)
}

/// Whether `name` is a string enum of the schema.
pub(crate) fn is_enum(name: &str) -> bool {
    crate::generated::registry::ENUM_NAMES
        .binary_search(&name)
        .is_ok()
}

impl AnyValue {
    fn decode_typed<'a>(
        d: &mut Decoder<'a>,
        s: &Start<'a>,
        t: &str,
    ) -> Result<AnyValue, DecodeError> {
        // `ArrayOf` alone names no item type: an unknown type (below), not an array
        // whose items would be written as elements without a name.
        if let Some(item) = array_suffix(t).map(array_item_type) {
            let mut items = Vec::new();
            if !s.is_empty() {
                while let Some(child) = d.next_child()? {
                    match child.xsi_type().unwrap_or(item) {
                        // Untyped elements of an ArrayOfAnyType read as a lone
                        // anyType does: text.
                        "anyType" => items.push(AnyValue::decode(d, &child)?),
                        ct => items.push(AnyValue::decode_typed(d, &child, ct)?),
                    }
                }
            }
            return Ok(AnyValue::Array {
                item_type: item.to_string(),
                items,
            });
        }
        Ok(match t {
            "string" | "TypeName" | "PropertyPath" | "MethodName" => {
                AnyValue::String(String::decode(d, s)?)
            }
            "boolean" => AnyValue::Bool(bool::decode(d, s)?),
            "byte" => AnyValue::Byte(i8::decode(d, s)?),
            "short" => AnyValue::Short(i16::decode(d, s)?),
            "int" => AnyValue::Int(i32::decode(d, s)?),
            "long" => AnyValue::Long(i64::decode(d, s)?),
            "float" => AnyValue::Float(f32::decode(d, s)?),
            "double" => AnyValue::Double(f64::decode(d, s)?),
            "dateTime" => AnyValue::DateTime(DateTime::decode(d, s)?),
            "base64Binary" => AnyValue::Binary(Vec::<u8>::decode(d, s)?),
            "anyURI" => AnyValue::Uri(String::decode(d, s)?),
            "ManagedObjectReference" => AnyValue::Mor(ManagedObjectReference::decode(d, s)?),
            _ => {
                if let Some(dec) = lookup_data_object(t) {
                    AnyValue::Object(dec(d, s)?)
                } else if is_enum(t) {
                    AnyValue::Enum {
                        type_name: t.to_string(),
                        value: d.text(s)?.trim().to_string(),
                    }
                } else {
                    d.skip(s)?;
                    AnyValue::Unknown {
                        type_name: t.to_string(),
                    }
                }
            }
        })
    }

    fn wire_type(&self) -> Option<String> {
        Some(match self {
            AnyValue::Null => return None,
            AnyValue::String(_) => "xsd:string".into(),
            AnyValue::Bool(_) => "xsd:boolean".into(),
            AnyValue::Byte(_) => "xsd:byte".into(),
            AnyValue::Short(_) => "xsd:short".into(),
            AnyValue::Int(_) => "xsd:int".into(),
            AnyValue::Long(_) => "xsd:long".into(),
            AnyValue::Float(_) => "xsd:float".into(),
            AnyValue::Double(_) => "xsd:double".into(),
            AnyValue::DateTime(_) => "xsd:dateTime".into(),
            AnyValue::Binary(_) => "xsd:base64Binary".into(),
            AnyValue::Uri(_) => "xsd:anyURI".into(),
            AnyValue::Mor(_) => "ManagedObjectReference".into(),
            AnyValue::Enum { type_name, .. } => type_name.clone(),
            AnyValue::Object(o) => o.wire_type_name().into(),
            AnyValue::Array { item_type, .. } => format!("ArrayOf{}", array_type_suffix(item_type)),
            AnyValue::Unknown { type_name } => type_name.clone(),
        })
    }

    fn encode_content(&self, e: &mut Encoder, name: &str, xsi: Option<&str>) {
        match self {
            AnyValue::Null => {}
            AnyValue::String(s) | AnyValue::Uri(s) => e.leaf(name, xsi, s),
            AnyValue::Enum { value, .. } => e.leaf(name, xsi, value),
            AnyValue::Bool(b) => e.leaf(name, xsi, if *b { "true" } else { "false" }),
            AnyValue::Byte(v) => e.leaf(name, xsi, &v.to_string()),
            AnyValue::Short(v) => e.leaf(name, xsi, &v.to_string()),
            AnyValue::Int(v) => e.leaf(name, xsi, &v.to_string()),
            AnyValue::Long(v) => e.leaf(name, xsi, &v.to_string()),
            AnyValue::Float(v) => e.leaf(name, xsi, &f32_text(*v)),
            AnyValue::Double(v) => e.leaf(name, xsi, &float_text(*v)),
            AnyValue::DateTime(v) => e.leaf(name, xsi, v.as_str()),
            AnyValue::Binary(v) => e.leaf(name, xsi, &base64_text(v)),
            AnyValue::Mor(r) => e.mor(name, r, xsi.is_some()),
            AnyValue::Object(o) => {
                e.start(name, xsi);
                o.encode_fields_dyn(e);
                e.end(name);
            }
            AnyValue::Array { item_type, items } => {
                e.start(name, xsi);
                for it in items {
                    // Elements carry their own type only where it differs from the
                    // array's (a subtype in an array of a base type).
                    let t = it.wire_type();
                    let plain = t.as_deref().map(strip_xsd) == Some(item_type.as_str());
                    let child_xsi = if plain { None } else { t.as_deref() };
                    it.encode_content(e, item_type, child_xsi);
                }
                e.end(name);
            }
            AnyValue::Unknown { .. } => {
                e.start(name, xsi);
                e.end(name);
            }
        }
    }
}

fn strip_xsd(t: &str) -> &str {
    t.strip_prefix("xsd:").unwrap_or(t)
}

/// The part of an array type's name after `ArrayOf` (`String` of `ArrayOfString`), or
/// `None` when `name` is no array type; `ArrayOf` alone names no item type, and is
/// none.
pub(crate) fn array_suffix(name: &str) -> Option<&str> {
    name.strip_prefix("ArrayOf").filter(|s| !s.is_empty())
}

/// `ArrayOfString` holds `string` elements, `ArrayOfInt` `int`, and so on: the XSD
/// primitive arrays capitalise their suffix.
pub(crate) fn array_item_type(suffix: &str) -> &str {
    match suffix {
        "String" => "string",
        "Boolean" => "boolean",
        "Byte" => "byte",
        "Short" => "short",
        "Int" => "int",
        "Long" => "long",
        "Float" => "float",
        "Double" => "double",
        "DateTime" => "dateTime",
        "Base64Binary" => "base64Binary",
        "AnyURI" => "anyURI",
        "AnyType" => "anyType",
        other => other,
    }
}

/// The inverse of [`array_item_type`]: only the XSD primitives are capitalised; schema
/// types keep their spelling (`ArrayOfvslmInfrastructureObjectPolicy`).
pub(crate) fn array_type_suffix(item: &str) -> String {
    match item {
        "string" | "boolean" | "byte" | "short" | "int" | "long" | "float" | "double"
        | "dateTime" | "base64Binary" | "anyURI" | "anyType" => {
            let mut c = item.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        }
        other => other.to_string(),
    }
}

impl Decode for AnyValue {
    fn decode<'a>(d: &mut Decoder<'a>, s: &Start<'a>) -> Result<Self, DecodeError> {
        if s.attr(b"xsi:nil") == Some(b"true") {
            d.skip(s)?;
            return Ok(AnyValue::Null);
        }
        match s.xsi_type() {
            Some(t) => AnyValue::decode_typed(d, s, t),
            None => Ok(AnyValue::String(String::decode(d, s)?)),
        }
    }
}

impl Encode for AnyValue {
    fn encode(&self, e: &mut Encoder, name: &str) {
        if matches!(self, AnyValue::Null) {
            // Written as xsi:nil so that a present-but-empty slot stays present.
            e.nil(name);
            return;
        }
        let t = self.wire_type();
        self.encode_content(e, name, t.as_deref());
    }
}
