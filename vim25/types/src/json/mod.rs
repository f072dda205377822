//! serde support in the shape of the vSphere JSON API (cargo feature `serde`).
//!
//! Every data object, fault, enum, polymorphic slot (`Any…`), [`AnyValue`](crate::types::AnyValue),
//! [`ManagedObjectReference`](crate::types::ManagedObjectReference) and managed-object
//! property struct of `vim25_core::mo` implements `serde::Serialize` and
//! `serde::Deserialize`. The shape follows the vSphere Web Services JSON API:
//!
//! - A data object or fault is a map whose first key is `"_typeName"` (its schema name,
//!   or the name kept from a type this client does not know), then its fields under their
//!   wire names (`numCPUs`, not the Rust name `num_cpus`), inherited fields first, in schema order.
//!   Unset optional fields and empty lists are left out.
//! - A polymorphic slot writes the form of the value it holds, so `_typeName` names the
//!   subtype. Reading, `_typeName` picks the type and **must be the first key** when
//!   present (no buffering): absent, the slot's declared type is read; a name the
//!   client does not know gives `Unknown` with the name kept. A `_typeName` further
//!   down that names another type is an error.
//! - In a slot whose declared type has no subtypes `_typeName` is optional and may come
//!   anywhere; a name other than the type's own is kept in the value's `type_name_`, as
//!   the XML decoder keeps an unknown `xsi:type`.
//! - Enums are their wire strings (values this client does not know round-trip as
//!   `Unrecognized`); `dateTime` is its string, binary is base64, integers are numbers,
//!   floats are numbers or, when not finite, the strings `"INF"`, `"-INF"` and `"NaN"`.
//! - A reference is `{"_typeName":"ManagedObjectReference","type":"VirtualMachine","value":"vm-42"}`.
//! - An `anyType` value ([`AnyValue`](crate::types::AnyValue)) carries its type: `{"_typeName":"int","_value":5}`
//!   for the XSD primitives (`string`, `boolean`, `byte`, `short`, `int`, `long`,
//!   `float`, `double`, `dateTime`, `base64Binary`, `anyURI`), the enum's name for an
//!   enum value, `{"_typeName":"ArrayOfString","_value":["a","b"]}` for an array (items
//!   in the plain form of the item type, or typed where an item's type differs), the
//!   object's own form for a data object or reference, `{"_typeName":"X"}` for a type
//!   this client does not know, and `null` for no value. Reading, `_typeName` must come
//!   first.
//! - A managed-object struct of `vim25_core::mo` is a map of `obj` (the reference), then
//!   every retrieved property under its wire name, then `other` (nested paths); it has no
//!   `_typeName`.
//!
//! Reading ignores keys a type does not know (newer servers add fields) and fails, with
//! an error naming the field and the type, when a required field is missing. No input
//! makes it panic. The traits here are what the generated code implements; use serde's
//! own traits and a format crate (`serde_json`) to read and write. The format must be
//! self-describing (JSON, YAML, …): `anyType` values are read with `deserialize_any`.
//!
//! ```
//! use vim25_core::types::{OptionValue, VirtualMachineConfigSpec};
//! use vim25_core::types::AnyValue;
//!
//! let mut spec = VirtualMachineConfigSpec::default();
//! spec.num_cpus = Some(2);
//! spec.extra_config.push(
//!     OptionValue { key: "a".into(), value: Some(AnyValue::Int(5)), ..Default::default() }.into(),
//! );
//! let json = serde_json::to_string(&spec).unwrap();
//! assert_eq!(
//!     json,
//!     r#"{"_typeName":"VirtualMachineConfigSpec","numCPUs":2,"extraConfig":[{"_typeName":"OptionValue","key":"a","value":{"_typeName":"int","_value":5}}]}"#
//! );
//! let back: VirtualMachineConfigSpec = serde_json::from_str(&json).unwrap();
//! assert_eq!(back, spec);
//! ```

mod any;
mod object;
mod value;

pub use object::{
    deserialize_object, deserialize_poly, new_data_object, read_unknown, serialize_named,
    serialize_object, FieldReader, FieldWriter, JsonObject, ObjectRest, PolyJson,
};
pub use value::{Lex, Lexical};

/// The error of the type-erased layer every generated type reads and writes through.
pub type Error = erased_serde::Error;

/// The key that names a value's type.
pub const TYPE_NAME_KEY: &str = "_typeName";

/// The key of an `anyType` primitive's, enum's or array's value.
pub const VALUE_KEY: &str = "_value";

/// The `JsonObject` methods every generated data object and fault shares: its name
/// comes from [`ComplexType`](crate::xml::ComplexType), a kept unknown name first.
macro_rules! data_object_names {
    () => {
        fn json_type_name(&self) -> Option<&str> {
            Some(
                $crate::xml::ComplexType::unknown_type_name(self)
                    .unwrap_or(<Self as $crate::xml::ComplexType>::TYPE_NAME),
            )
        }
        fn json_schema_name(&self) -> &'static str {
            <Self as $crate::xml::ComplexType>::TYPE_NAME
        }
        fn json_keep_type_name(&mut self, name: &str) {
            $crate::xml::ComplexType::set_unknown_type_name(self, Some(name.into()));
        }
    };
}

/// `Serialize` and `Deserialize` of a type that implements [`JsonObject`]: one call
/// each into the shared, type-erased code. Exported for the managed-object structs of
/// `vim25-core` (as `json::object_serde`); not part of the API.
#[doc(hidden)]
#[macro_export]
macro_rules! __vim25_object_serde {
    ($t:ty) => {
        impl ::serde::Serialize for $t {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $crate::json::serialize_object(self, s)
            }
        }
        impl<'de> ::serde::Deserialize<'de> for $t {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::json::deserialize_object(d)
            }
        }
    };
}

#[doc(hidden)]
pub use crate::__vim25_object_serde as object_serde;
pub(crate) use data_object_names;
