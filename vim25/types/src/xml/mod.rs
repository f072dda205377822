//! The streaming XML codec the generated types are built on.
//!
//! Decoding walks the tokens of a borrowed byte slice straight into typed values: no
//! DOM, no intermediate tree, no copy of a name or of text that has no entity
//! reference in it. Elements a type does not know are skipped on
//! purpose (newer servers send fields older clients lack). Every failure is a
//! [`DecodeError`] carrying the element path and byte offset; no input panics.
//!
//! Encoding writes elements in schema order with `xsi:type` where a slot is
//! polymorphic, and leaves out fields that the negotiated API version does not know.
//!
//! ```
//! use vim25_core::types::{AnyVirtualDevice, VirtualVmxnet3};
//! use vim25_core::xml::{decode_element, encode_element};
//!
//! let mut nic = VirtualVmxnet3::default();
//! nic.key = 4000; // a field of VirtualDevice, reached through Deref
//! let dev: AnyVirtualDevice = nic.into();
//! let xml = encode_element("device", &dev, vim25_core::Version::LATEST);
//! assert!(xml.contains(r#"xsi:type="VirtualVmxnet3""#));
//! let back: AnyVirtualDevice = decode_element(xml.as_bytes()).unwrap();
//! assert_eq!(back, dev);
//! ```

mod any;
mod decode;
mod encode;
mod lex;
mod macros;
pub mod split;

pub(crate) use crate::value::{DateTime, ManagedObjectReference, Unknown};
pub(crate) use any::array_type_suffix;
#[cfg(feature = "serde")]
pub(crate) use any::{array_item_type, array_suffix, data_object_index, is_enum};
pub use any::{decode_data_object, DataObjectDecoder};
pub use decode::{DecodeError, Decoder, Start};
pub use encode::Encoder;
#[cfg(feature = "serde")]
pub(crate) use encode::{base64_text, float_text};
pub(crate) use macros::{enum_codec, inherits, poly_codec, unknown_type_name};

/// A value that decodes from an element (the start tag has been read).
pub trait Decode: Sized {
    /// Decodes the element that `start` opened, consuming through its end tag.
    fn decode<'a>(d: &mut Decoder<'a>, start: &Start<'a>) -> Result<Self, DecodeError>;
}

/// A value that encodes as one element named `name`.
pub trait Encode {
    /// Writes `<name …>…</name>`.
    fn encode(&self, e: &mut Encoder, name: &str);
}

/// A data object or fault of the schema: decodes and encodes its fields one by one,
/// delegating to its base type for inherited fields. A `ComplexType` is [`Decode`],
/// [`Encode`] and [`FromAnyValue`](crate::types::FromAnyValue) through generic impls.
pub trait ComplexType: Default {
    /// The schema name (`VirtualMachineConfigSpec`).
    const TYPE_NAME: &'static str;
    /// Decodes the child element `s` into the matching field. `Ok(false)` when no field
    /// (own or inherited) has that name.
    fn decode_field<'a>(&mut self, d: &mut Decoder<'a>, s: &Start<'a>)
        -> Result<bool, DecodeError>;
    /// Writes every field, inherited ones first, in schema order.
    fn encode_fields(&self, e: &mut Encoder);
    /// The wire type name kept from a value whose type this client does not know (a
    /// newer server's subtype, decoded as this type), or `None`. It lives in the
    /// `type_name_` field of the type's root (the type without a base).
    fn unknown_type_name(&self) -> Option<&str>;
    /// Sets or clears the kept wire type name; encoding writes it as the `xsi:type`.
    fn set_unknown_type_name(&mut self, name: Option<Box<str>>);
}

impl Decode for ManagedObjectReference {
    fn decode<'a>(d: &mut Decoder<'a>, s: &Start<'a>) -> Result<Self, DecodeError> {
        let type_ = s.attr_string(b"type")?.unwrap_or_default();
        let value = d.text(s)?.into_owned();
        Ok(ManagedObjectReference { type_, value })
    }
}

impl Encode for ManagedObjectReference {
    fn encode(&self, e: &mut Encoder, name: &str) {
        e.mor(name, self, false);
    }
}

// A data object decodes and encodes through these generic impls, not through an impl
// of its own: 3,000 types' own impls cost the build about 0.3 GB of memory. (That is
// why `Box<T>` has no `Decode` or `Encode`, which would overlap with these: a boxed
// field is read through the box, or by `Decoder::boxed_opt` and `Encoder::boxed_opt`
// when optional.)
impl<T: ComplexType> Decode for T {
    fn decode<'a>(d: &mut Decoder<'a>, s: &Start<'a>) -> Result<Self, DecodeError> {
        d.complex(s)
    }
}

impl<T: ComplexType> Encode for T {
    fn encode(&self, e: &mut Encoder, name: &str) {
        // A slot whose declared type has no subtypes has no `xsi:type`, unless the
        // value came as a subtype this client does not know.
        e.complex(name, self.unknown_type_name(), self);
    }
}

/// A type that the polymorphic slot enum `A` holds: for a base `B` and its slot enum
/// `AnyB`, `B` and each of its subtypes are `SubtypeOf<AnyB>`. It gives `AnyB` its
/// `From<T>` and its decoder for `xsi:type="T"`.
///
/// ```
/// use vim25_core::types::{AnyMethodFault, InvalidArgument};
/// use vim25_core::xml::SubtypeOf;
///
/// fn wrap<T: SubtypeOf<AnyMethodFault>>(fault: T) -> AnyMethodFault {
///     fault.into()
/// }
/// assert_eq!(wrap(InvalidArgument::default()).type_name(), "InvalidArgument");
/// ```
pub trait SubtypeOf<A>: ComplexType {
    /// `A`'s variant holding `v`.
    fn into_slot(v: Box<Self>) -> A;

    #[doc(hidden)]
    /// Decodes the element `s` as `Self`, into `A`. The slot's decoder calls it through
    /// a table by type name, so each subtype's value is built in a frame of its own
    /// (the frame of a `match` with an arm per subtype would hold them all: over 700
    /// for `MethodFault`).
    fn decode_into_slot<'a>(d: &mut Decoder<'a>, s: &Start<'a>) -> Result<A, DecodeError> {
        // `complex` rather than filling a `Box::default()` in place: its copy per type
        // exists anyway (the type's `Decode`), and the move to the heap costs less
        // than 3,000 more generic copies cost the build.
        Ok(Self::into_slot(Box::new(d.complex::<Self>(s)?)))
    }

    /// Reads the rest of a JSON object as `Self`, into `A` (feature `serde`), as the
    /// slot's JSON reader does for `_typeName` = `Self`.
    #[cfg(feature = "serde")]
    #[doc(hidden)]
    fn read_json_into_slot(rest: &mut dyn crate::json::ObjectRest) -> Result<A, crate::json::Error>
    where
        Self: crate::json::JsonObject,
    {
        let mut v = Box::<Self>::default();
        rest.fill(&mut *v, Self::TYPE_NAME)?;
        Ok(Self::into_slot(v))
    }
}

/// Decodes a value of an unknown subtype as its known base `T`, keeping its type name.
#[inline(never)]
pub fn decode_unknown<'a, T: ComplexType>(
    type_name: &str,
    d: &mut Decoder<'a>,
    s: &Start<'a>,
) -> Result<Box<Unknown<T>>, DecodeError> {
    // The name is kept once, in `Unknown`; the base value's own field stays `None`.
    let mut value = T::default();
    d.complex_fields(&mut value, s)?;
    Ok(Box::new(Unknown {
        type_name: type_name.to_string(),
        value,
    }))
}

/// Decodes one standalone element (for example a captured `returnval`) as `T`.
pub fn decode_element<T: Decode>(xml: &[u8]) -> Result<T, DecodeError> {
    let mut d = Decoder::new(xml);
    let start = d
        .next_child()?
        .ok_or_else(|| d.error("no element in input"))?;
    let v = T::decode(&mut d, &start)?;
    d.expect_end_of_input()?;
    Ok(v)
}

/// Encodes `value` as one element named `name`, with the namespace declarations a
/// standalone document needs.
pub fn encode_element<T: Encode + ?Sized>(
    name: &str,
    value: &T,
    version: crate::Version,
) -> String {
    let mut e = Encoder::new(version);
    e.set_root_namespaces(true);
    value.encode(&mut e, name);
    e.into_string()
}
