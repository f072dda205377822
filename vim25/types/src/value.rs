//! The domain values the generated types are built from: managed object references,
//! `xsd:dateTime` text, `anyType` values, type-erased data objects and holders of
//! values whose type this client does not know. Re-exported from [`crate::types`];
//! the codec that reads and writes them lives in [`crate::xml`].

use crate::xml::{ComplexType, Encoder};
use std::any::Any;
use std::fmt;
use std::fmt::Debug;

/// A value whose wire type the client does not know, decoded as its nearest known
/// base `T` (the type the slot declares). Fields only the unknown type has are skipped;
/// the type name is kept so that encoding sends it back with the same `xsi:type`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unknown<T> {
    /// The `xsi:type` the server sent.
    pub type_name: String,
    /// The fields of the known base.
    pub value: T,
}

/// An `xsd:dateTime` as the server wrote it (`2026-11-23T12:00:00.123Z`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime(pub String);

impl DateTime {
    /// The lexical form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Stands in for a secret in `Debug` output: prints `"***"`. The generated `Debug` of
/// a type with secret fields shows `"***"` for a required one, `Some("***")` or `None`
/// for an optional one and one `"***"` per element of a list, so that whether a
/// secret was set shows while its content does not.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Redacted;

impl Redacted {
    /// One stand-in per element of `list`.
    pub fn list<T>(list: &[T]) -> Vec<Redacted> {
        vec![Redacted; list.len()]
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// A reference to a managed object: its type and its server-side id (`vm-42`).
///
/// Objects that live in one session (views, property filters) have ids such as
/// `session[KEY]ID`, and some servers (vcsim) put the session key, which is also
/// their session cookie, in the brackets: `Display` and `Debug` print
/// `session[***]ID`. The id itself is untouched.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManagedObjectReference {
    /// The managed object type (`VirtualMachine`).
    pub type_: String,
    /// The id (`vm-42`).
    pub value: String,
}

impl ManagedObjectReference {
    /// A reference to the object `value` of type `type_`.
    pub fn new(type_: impl Into<String>, value: impl Into<String>) -> Self {
        ManagedObjectReference {
            type_: type_.into(),
            value: value.into(),
        }
    }
}

impl ManagedObjectReference {
    /// The id with the session key of a session-scoped object masked.
    fn shown_value(&self) -> (&str, &str) {
        match self
            .value
            .strip_prefix("session[")
            .and_then(|r| r.split_once(']'))
        {
            Some((_, id)) => ("session[***]", id),
            None => ("", &self.value),
        }
    }
}

impl fmt::Display for ManagedObjectReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scope, id) = self.shown_value();
        write!(f, "{}:{scope}{id}", self.type_)
    }
}

impl fmt::Debug for ManagedObjectReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scope, id) = self.shown_value();
        f.debug_struct("ManagedObjectReference")
            .field("type_", &self.type_)
            .field("value", &format_args!("\"{scope}{id}\""))
            .finish()
    }
}

/// With the `serde` feature, what every data object implements besides the XML codec
/// (its JSON fields); without it, nothing.
#[cfg(feature = "serde")]
pub trait JsonSupport: crate::json::JsonObject {}
#[cfg(feature = "serde")]
impl<T: crate::json::JsonObject> JsonSupport for T {}
/// With the `serde` feature, what every data object implements besides the XML codec
/// (its JSON fields); without it, nothing.
#[cfg(not(feature = "serde"))]
pub trait JsonSupport {}
#[cfg(not(feature = "serde"))]
impl<T> JsonSupport for T {}

/// Any data object or fault, type-erased (what an `anyType` slot holds). Downcast with
/// [`downcast_ref`](trait.DataObject.html#method.downcast_ref).
pub trait DataObject: Debug + Send + Sync + 'static {
    /// The schema type name.
    fn type_name(&self) -> &'static str;
    /// The type name encoding writes: the name kept from a type this client does not
    /// know ([`ComplexType::unknown_type_name`]) when set, else [`type_name`](Self::type_name).
    fn wire_type_name(&self) -> &str;
    /// For downcasting.
    fn as_any(&self) -> &dyn Any;
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn DataObject>;
    /// Equality with another erased object (same type and equal fields).
    fn eq_dyn(&self, other: &dyn DataObject) -> bool;
    /// Writes the fields.
    fn encode_fields_dyn(&self, e: &mut Encoder);
    /// The object's JSON fields (feature `serde`).
    #[cfg(feature = "serde")]
    fn as_json(&self) -> &dyn crate::json::JsonObject;
    /// The object's JSON fields, to read into (feature `serde`).
    #[cfg(feature = "serde")]
    fn as_json_mut(&mut self) -> &mut dyn crate::json::JsonObject;
}

impl<T> DataObject for T
where
    T: ComplexType + JsonSupport + Debug + Clone + PartialEq + Send + Sync + 'static,
{
    fn type_name(&self) -> &'static str {
        T::TYPE_NAME
    }
    fn wire_type_name(&self) -> &str {
        self.unknown_type_name().unwrap_or(T::TYPE_NAME)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn clone_box(&self) -> Box<dyn DataObject> {
        Box::new(self.clone())
    }
    fn eq_dyn(&self, other: &dyn DataObject) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
    fn encode_fields_dyn(&self, e: &mut Encoder) {
        self.encode_fields(e);
    }
    #[cfg(feature = "serde")]
    fn as_json(&self) -> &dyn crate::json::JsonObject {
        self
    }
    #[cfg(feature = "serde")]
    fn as_json_mut(&mut self) -> &mut dyn crate::json::JsonObject {
        self
    }
}

impl dyn DataObject {
    /// The object as `T`, if it is one.
    pub fn downcast_ref<T: 'static>(&self) -> Option<&T> {
        self.as_any().downcast_ref()
    }
}

impl Clone for Box<dyn DataObject> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

impl PartialEq for Box<dyn DataObject> {
    fn eq(&self, other: &Self) -> bool {
        self.eq_dyn(&**other)
    }
}

/// The value of an `xsd:anyType` slot (`OptionValue.value`, `DynamicProperty.val`).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum AnyValue {
    /// No value (an empty slot or `xsi:nil`).
    #[default]
    Null,
    /// `xsd:string`, or untyped text.
    String(String),
    /// `xsd:boolean`.
    Bool(bool),
    /// `xsd:byte`.
    Byte(i8),
    /// `xsd:short`.
    Short(i16),
    /// `xsd:int`.
    Int(i32),
    /// `xsd:long`.
    Long(i64),
    /// `xsd:float`.
    Float(f32),
    /// `xsd:double`.
    Double(f64),
    /// `xsd:dateTime`.
    DateTime(DateTime),
    /// `xsd:base64Binary`.
    Binary(Vec<u8>),
    /// `xsd:anyURI`.
    Uri(String),
    /// A managed object reference.
    Mor(ManagedObjectReference),
    /// A value of a schema enum, with the enum's name.
    Enum {
        /// The enum type (`VirtualMachinePowerState`).
        type_name: String,
        /// The wire value (`poweredOn`).
        value: String,
    },
    /// A data object or fault.
    Object(Box<dyn DataObject>),
    /// An `ArrayOfX`: `item_type` is `X` (`string`, `ManagedObjectReference`,
    /// `VirtualDevice`).
    Array {
        /// The element type named by the array type.
        item_type: String,
        /// The elements.
        items: Vec<AnyValue>,
    },
    /// A type this client does not know; its content was skipped.
    Unknown {
        /// The `xsi:type` the server sent.
        type_name: String,
    },
}

impl AnyValue {
    /// The string, if it is one (`String` or `Uri`).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AnyValue::String(s) | AnyValue::Uri(s) => Some(s),
            AnyValue::Enum { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The managed object references it holds: itself if it is one, the references
    /// among the items of an array (a view's `view`, a folder's `childEntity`).
    pub fn references(self) -> Vec<ManagedObjectReference> {
        match self {
            AnyValue::Mor(m) => vec![m],
            AnyValue::Array { items, .. } => items
                .into_iter()
                .filter_map(|i| match i {
                    AnyValue::Mor(m) => Some(m),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The data object as `T`, if it is one.
    pub fn downcast_ref<T: 'static>(&self) -> Option<&T> {
        match self {
            AnyValue::Object(o) => o.downcast_ref(),
            _ => None,
        }
    }
}

impl From<&str> for AnyValue {
    fn from(s: &str) -> Self {
        AnyValue::String(s.to_string())
    }
}

impl From<String> for AnyValue {
    fn from(s: String) -> Self {
        AnyValue::String(s)
    }
}

impl From<bool> for AnyValue {
    fn from(b: bool) -> Self {
        AnyValue::Bool(b)
    }
}

impl From<i32> for AnyValue {
    fn from(v: i32) -> Self {
        AnyValue::Int(v)
    }
}

impl From<i64> for AnyValue {
    fn from(v: i64) -> Self {
        AnyValue::Long(v)
    }
}

impl From<ManagedObjectReference> for AnyValue {
    fn from(r: ManagedObjectReference) -> Self {
        AnyValue::Mor(r)
    }
}

/// A Rust type that an `anyType` value can be read as: the XSD primitives (integers
/// widen: a `short` reads as `i32` or `i64`), [`DateTime`], [`ManagedObjectReference`],
/// every enum of the schema (from its wire string too), every data object (by
/// downcasting the boxed object to exactly that type), and `Vec<T>` of any of them
/// from an `ArrayOfX`. [`AnyValue::get`] and the property-collector helpers use it, so
/// callers never match [`AnyValue`] by hand.
///
/// ```
/// use vim25_core::types::{AnyValue, VirtualMachinePowerState};
///
/// let state = AnyValue::Enum { type_name: "VirtualMachinePowerState".into(), value: "poweredOn".into() };
/// assert_eq!(state.get::<VirtualMachinePowerState>(), Some(VirtualMachinePowerState::PoweredOn));
/// assert_eq!(AnyValue::Short(7).get::<i64>(), Some(7));
/// assert_eq!(AnyValue::Int(7).get::<String>(), None);
/// ```
pub trait FromAnyValue: Sized {
    /// The value as `Self`, or `None` when it holds something else.
    fn from_any_value(v: &AnyValue) -> Option<Self>;
}

impl AnyValue {
    /// The value as `T`, or `None` when it holds something else (or nothing).
    pub fn get<T: FromAnyValue>(&self) -> Option<T> {
        T::from_any_value(self)
    }

    /// The wire type name of what the value holds (`int`, `string`, the enum's or the
    /// object's type, `ArrayOfString`, `null`): for messages, and the JSON form's
    /// `_typeName`.
    pub fn kind(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        Cow::Borrowed(match self {
            AnyValue::Null => "null",
            AnyValue::String(_) => "string",
            AnyValue::Bool(_) => "boolean",
            AnyValue::Byte(_) => "byte",
            AnyValue::Short(_) => "short",
            AnyValue::Int(_) => "int",
            AnyValue::Long(_) => "long",
            AnyValue::Float(_) => "float",
            AnyValue::Double(_) => "double",
            AnyValue::DateTime(_) => "dateTime",
            AnyValue::Binary(_) => "base64Binary",
            AnyValue::Uri(_) => "anyURI",
            AnyValue::Mor(_) => "ManagedObjectReference",
            AnyValue::Enum { type_name, .. } => type_name,
            AnyValue::Object(o) => o.wire_type_name(),
            AnyValue::Array { item_type, .. } => {
                let suffix = crate::xml::array_type_suffix(item_type);
                return Cow::Owned(format!("ArrayOf{suffix}"));
            }
            AnyValue::Unknown { type_name } => type_name,
        })
    }
}

impl FromAnyValue for AnyValue {
    fn from_any_value(v: &AnyValue) -> Option<Self> {
        Some(v.clone())
    }
}

impl FromAnyValue for String {
    fn from_any_value(v: &AnyValue) -> Option<Self> {
        v.as_str().map(str::to_owned)
    }
}

impl FromAnyValue for bool {
    fn from_any_value(v: &AnyValue) -> Option<Self> {
        match v {
            AnyValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// Integer reads widen, never narrow: a value out of the asked type's range is `None`.
macro_rules! integer_from_any_value {
    ($($t:ty),+) => {$(
        impl FromAnyValue for $t {
            fn from_any_value(v: &AnyValue) -> Option<Self> {
                match v {
                    AnyValue::Byte(n) => <$t>::try_from(*n).ok(),
                    AnyValue::Short(n) => <$t>::try_from(*n).ok(),
                    AnyValue::Int(n) => <$t>::try_from(*n).ok(),
                    AnyValue::Long(n) => <$t>::try_from(*n).ok(),
                    _ => None,
                }
            }
        }
    )+};
}
integer_from_any_value!(i8, i16, i32, i64);

impl FromAnyValue for f64 {
    fn from_any_value(v: &AnyValue) -> Option<Self> {
        match v {
            AnyValue::Float(n) => Some(f64::from(*n)),
            AnyValue::Double(n) => Some(*n),
            _ => None,
        }
    }
}

impl FromAnyValue for f32 {
    fn from_any_value(v: &AnyValue) -> Option<Self> {
        match v {
            AnyValue::Float(n) => Some(*n),
            _ => None,
        }
    }
}

impl FromAnyValue for DateTime {
    fn from_any_value(v: &AnyValue) -> Option<Self> {
        match v {
            AnyValue::DateTime(d) => Some(d.clone()),
            _ => None,
        }
    }
}

impl FromAnyValue for ManagedObjectReference {
    fn from_any_value(v: &AnyValue) -> Option<Self> {
        match v {
            AnyValue::Mor(m) => Some(m.clone()),
            _ => None,
        }
    }
}

/// A data object: the value held, if it is one of type `T` (generic, as are its
/// `Decode` and `Encode`, rather than an impl per type).
impl<T: ComplexType + Clone + 'static> FromAnyValue for T {
    fn from_any_value(v: &AnyValue) -> Option<Self> {
        match v {
            AnyValue::Object(o) => o.downcast_ref::<T>().cloned(),
            _ => None,
        }
    }
}

impl<T: FromAnyValue> FromAnyValue for Vec<T> {
    fn from_any_value(v: &AnyValue) -> Option<Self> {
        match v {
            AnyValue::Array { items, .. } => items.iter().map(T::from_any_value).collect(),
            _ => None,
        }
    }
}
