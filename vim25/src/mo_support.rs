//! What the generated managed-object structs of [`crate::mo`] implement.

use crate::types::{DynamicProperty, ManagedObjectReference};
use crate::xml::{AnyValue, Decode, DecodeError, Decoder, Start};

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
}

/// Decodes one `ObjectContent` element straight into the managed object `M`: known
/// properties into their typed fields, nested paths into `other`, missing-property
/// faults returned beside it.
pub fn decode_object_content<'a, M: ManagedObject>(
    d: &mut Decoder<'a>,
    s: &Start<'a>,
) -> Result<(M, Vec<crate::types::MissingProperty>), DecodeError> {
    let mut m = M::default();
    let mut missing = Vec::new();
    if s.is_empty() {
        return Ok((m, missing));
    }
    while let Some(child) = d.next_child()? {
        match child.name() {
            b"obj" => m.set_obj(ManagedObjectReference::decode(d, &child)?),
            b"propSet" => {
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
            }
            b"missingSet" => missing.push(d.complex(&child)?),
            _ => d.skip(&child)?,
        }
    }
    Ok((m, missing))
}
