//! What the generated managed-object structs of [`crate::mo`] implement, and how a
//! property collector's `ObjectContent` becomes one of them.

use crate::generated::mo::AnyManagedObject;
use crate::types::AnyValue;
use crate::types::{DynamicProperty, ManagedObjectReference, MissingProperty, ObjectContent};
use crate::xml::{Decode, DecodeError, Decoder, Start};
pub(crate) use vim25_types::wrong_type::{is_a, WrongType};

/// A managed object type whose properties a property collector can fill.
pub trait ManagedObject: Default {
    /// The managed object type name (`VirtualMachine`).
    const TYPE_NAME: &'static str;
    /// Every property, inherited ones included.
    const PROPERTIES: &'static [&'static str];
    /// The object's reference.
    fn obj(&self) -> &ManagedObjectReference;
    /// Sets the object's reference.
    fn set_obj(&mut self, obj: ManagedObjectReference);
    /// Properties returned under paths that are not top-level properties.
    fn other_mut(&mut self) -> &mut Vec<DynamicProperty>;
    /// Decodes the `val` element `s` of property `name` into its field. `Ok(false)`
    /// when `name` is not a top-level property of this type.
    fn decode_property<'a>(
        &mut self,
        name: &str,
        d: &mut Decoder<'a>,
        s: &Start<'a>,
    ) -> Result<bool, DecodeError>;

    /// Converts an already decoded `ObjectContent` (its properties held as
    /// [`AnyValue`]s) into this type. Fails with [`crate::Error::WrongType`] when the
    /// object is of another type (a `HostSystem` asked for as `VirtualMachine`); an
    /// object of a subtype is accepted (a `VirtualMachine` as `ManagedEntity`).
    ///
    /// ```
    /// use vim25_core::mo::{self, ManagedObject};
    /// use vim25_core::types::{DynamicProperty, ManagedObjectReference, ObjectContent};
    ///
    /// let oc = ObjectContent {
    ///     obj: ManagedObjectReference::new("HostSystem", "host-21"),
    ///     prop_set: vec![DynamicProperty { name: "name".into(), val: "esx1".into(), ..Default::default() }],
    ///     ..Default::default()
    /// };
    /// let host = mo::HostSystem::from_object_content(&oc)?;
    /// assert_eq!(host.name.as_deref(), Some("esx1"));
    /// let err = mo::VirtualMachine::from_object_content(&oc).unwrap_err();
    /// assert!(matches!(err, vim25_core::Error::WrongType(_)), "{err}");
    /// # Ok::<(), vim25_core::Error>(())
    /// ```
    fn from_object_content(oc: &ObjectContent) -> Result<Self, crate::Error> {
        Ok(redecode(oc, decode_object_content::<Self>)??.0)
    }
}

/// Encodes `oc` and decodes it again with `decode`: how an `ObjectContent` whose
/// properties are untyped becomes a typed struct, through the one decoder.
fn redecode<T>(
    oc: &ObjectContent,
    decode: impl for<'a> FnOnce(&mut Decoder<'a>, &Start<'a>) -> Result<T, DecodeError>,
) -> Result<T, crate::Error> {
    let xml = crate::xml::encode_element("ObjectContent", oc, crate::Version::LATEST);
    let mut d = Decoder::new(xml.as_bytes());
    d.next_child()
        .and_then(|s| match s {
            Some(s) => decode(&mut d, &s),
            None => Err(d.error("no ObjectContent")),
        })
        .map_err(|source| crate::Error::Decode {
            operation: format!("ObjectContent of {}", oc.obj),
            source,
        })
}

/// What [`decode_object_content`] gives: the object with the properties the server
/// could not read, or the type mismatch it found instead.
pub type Decoded<M> = Result<(M, Vec<MissingProperty>), WrongType>;

/// Decodes one `ObjectContent` element straight into the managed object `M`: known
/// properties into their typed fields, nested paths into `other`, missing-property
/// faults returned beside it. An object that is not an `M` (nor a subtype) is not
/// decoded: its properties are skipped and the inner result is [`WrongType`].
pub fn decode_object_content<'a, M: ManagedObject>(
    d: &mut Decoder<'a>,
    s: &Start<'a>,
) -> Result<Decoded<M>, DecodeError> {
    let mut m = M::default();
    let mut missing = Vec::new();
    if s.is_empty() {
        return Ok(Ok((m, missing)));
    }
    while let Some(child) = d.next_child()? {
        match child.name() {
            b"obj" => {
                let obj = ManagedObjectReference::decode(d, &child)?;
                if !is_a(&obj.type_, M::TYPE_NAME) {
                    // Properties of another type could decode as garbage or fail
                    // (`summary` is a different type on each): skip them unread.
                    d.skip(s)?;
                    return Ok(Err(WrongType {
                        expected: M::TYPE_NAME,
                        obj,
                    }));
                }
                m.set_obj(obj);
            }
            _ => decode_content_child(&mut m, &mut missing, d, &child)?,
        }
    }
    Ok(Ok((m, missing)))
}

/// One child of an `ObjectContent` other than `obj`: a property set into `m`, a
/// missing-property fault into `missing`, anything else skipped.
fn decode_content_child<'a, M: ManagedObject>(
    m: &mut M,
    missing: &mut Vec<MissingProperty>,
    d: &mut Decoder<'a>,
    child: &Start<'a>,
) -> Result<(), DecodeError> {
    match child.name() {
        b"propSet" => decode_prop_set(m, d),
        b"missingSet" => {
            missing.push(d.complex(child)?);
            Ok(())
        }
        _ => d.skip(child),
    }
}

fn decode_prop_set<'a, M: ManagedObject>(
    m: &mut M,
    d: &mut Decoder<'a>,
) -> Result<(), DecodeError> {
    let mut name: Option<String> = None;
    while let Some(f) = d.next_child()? {
        match f.name() {
            b"name" => name = Some(String::decode(d, &f)?),
            b"val" => {
                let n = name.clone().unwrap_or_default();
                if !m.decode_property(&n, d, &f)? {
                    let val = AnyValue::decode(d, &f)?;
                    m.other_mut().push(DynamicProperty {
                        name: n,
                        val,
                        ..Default::default()
                    });
                }
            }
            _ => d.skip(&f)?,
        }
    }
    Ok(())
}

/// Decodes the rest of an `ObjectContent` whose `obj` was read, into `M`. The entry of
/// the generated dispatch table of [`AnyManagedObject`].
pub(crate) fn decode_any<M>(
    d: &mut Decoder<'_>,
    obj: ManagedObjectReference,
) -> Result<(AnyManagedObject, Vec<MissingProperty>), DecodeError>
where
    M: ManagedObject + Into<AnyManagedObject>,
{
    let mut m = M::default();
    m.set_obj(obj);
    let mut missing = Vec::new();
    while let Some(child) = d.next_child()? {
        decode_content_child(&mut m, &mut missing, d, &child)?;
    }
    Ok((m.into(), missing))
}

/// Decodes an `ObjectContent` of a type this client does not know: its properties as
/// [`AnyValue`]s.
fn decode_other<'a>(
    d: &mut Decoder<'a>,
    obj: ManagedObjectReference,
) -> Result<(AnyManagedObject, Vec<MissingProperty>), DecodeError> {
    let mut props = Vec::new();
    let mut missing = Vec::new();
    while let Some(child) = d.next_child()? {
        match child.name() {
            b"propSet" => props.push(d.complex::<DynamicProperty>(&child)?),
            b"missingSet" => missing.push(d.complex(&child)?),
            _ => d.skip(&child)?,
        }
    }
    Ok((
        AnyManagedObject::Other(Box::new(ObjectContent {
            obj,
            prop_set: props,
            ..Default::default()
        })),
        missing,
    ))
}

impl AnyManagedObject {
    /// Decodes one `ObjectContent` element into the `mo::` struct of the object's own
    /// type (a type this client does not know becomes [`AnyManagedObject::Other`]),
    /// with the properties the server could not read beside it. The `obj` element
    /// must come first, as the schema orders it.
    pub fn decode_object_content<'a>(
        d: &mut Decoder<'a>,
        s: &Start<'a>,
    ) -> Result<(AnyManagedObject, Vec<MissingProperty>), DecodeError> {
        let first = if s.is_empty() { None } else { d.next_child()? };
        let obj = match first {
            Some(c) if c.name() == b"obj" => ManagedObjectReference::decode(d, &c)?,
            _ => return Err(d.error("ObjectContent without obj as its first element")),
        };
        let table = crate::generated::mo::MANAGED_OBJECT_DECODERS;
        match table.binary_search_by(|(n, _)| (*n).cmp(obj.type_.as_str())) {
            Ok(i) => (table[i].1)(d, obj),
            Err(_) => decode_other(d, obj),
        }
    }

    /// Converts an already decoded `ObjectContent` into the `mo::` struct of the
    /// object's own type.
    pub fn from_object_content(oc: &ObjectContent) -> Result<AnyManagedObject, crate::Error> {
        redecode(oc, Self::decode_object_content).map(|(m, _)| m)
    }
}

/// The dispatch table entry type of [`AnyManagedObject`]'s decoder.
pub(crate) type AnyObjectDecoder =
    for<'a, 'b> fn(
        &'b mut Decoder<'a>,
        ManagedObjectReference,
    ) -> Result<(AnyManagedObject, Vec<MissingProperty>), DecodeError>;
