//! Data objects, faults, polymorphic slots and managed-object structs as JSON maps.
//!
//! The per-type code (generated) never sees a concrete serializer or deserializer: it
//! writes fields into a [`FieldWriter`] and reads them from a [`FieldReader`], both
//! trait objects. So each type's field code is compiled once, in this crate, whatever
//! formats a program uses; only the loops here are generic over the format.
//!
//! Leaf values (strings, numbers, enums) cross that boundary through erased-serde.
//! Nested maps, arrays and `anyType` values do not: they are read by seeds and visitors
//! handed the format's own deserializer, so that nesting does not stack one erased
//! layer per level (each layer would make every deeper level take more stack).

use super::value::Lexical;
use super::{Error, Lex, TYPE_NAME_KEY};
use crate::types::{AnyValue, DataObject, Unknown};
use erased_serde::{Deserializer as ErasedDeserializer, Serialize as ErasedSerialize};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, SerializeMap};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;

/// A value that is a JSON map of named fields: every data object and fault, a managed
/// object reference, and the managed-object structs of `vim25_core::mo`. Implemented by the
/// generated code; object safe, so that one copy of the reading and writing loops
/// serves every type.
pub trait JsonObject {
    /// The `_typeName` to write first, or `None` for none.
    fn json_type_name(&self) -> Option<&str>;
    /// The schema name of the Rust type (for error messages and `_typeName` checks).
    fn json_schema_name(&self) -> &'static str;
    /// Keeps a `_typeName` read for this value that names another type.
    fn json_keep_type_name(&mut self, name: &str);
    /// The wire names of the required fields, inherited ones included (at most 64).
    fn json_required(&self) -> &'static [&'static str] {
        &[]
    }
    /// Writes every field, inherited ones first, in schema order.
    fn json_write(&self, w: &mut dyn FieldWriter);
    /// Reads the value of the field `key` (own or inherited) from `r`. `Ok(false)`, with
    /// nothing read, when the type has no such field.
    fn json_read<'de>(&mut self, key: &str, r: &mut dyn FieldReader<'de>) -> Result<bool, Error>;
}

impl<T: JsonObject + ?Sized> JsonObject for Box<T> {
    fn json_type_name(&self) -> Option<&str> {
        (**self).json_type_name()
    }
    fn json_schema_name(&self) -> &'static str {
        (**self).json_schema_name()
    }
    fn json_keep_type_name(&mut self, name: &str) {
        (**self).json_keep_type_name(name)
    }
    fn json_required(&self) -> &'static [&'static str] {
        (**self).json_required()
    }
    fn json_write(&self, w: &mut dyn FieldWriter) {
        (**self).json_write(w)
    }
    fn json_read<'de>(&mut self, key: &str, r: &mut dyn FieldReader<'de>) -> Result<bool, Error> {
        (**self).json_read(key, r)
    }
}

/// Where [`JsonObject::json_write`] puts the fields of a map.
///
/// The helpers come in families by field type: plain (`req`, `opt`, `list`: strings,
/// numbers, enums), `_lex` (floats and binary), `_obj` (data objects and references),
/// `_poly` (polymorphic slots) and `_any` (`anyType`); `opt_list…` for the optional
/// arrays of managed-object properties. Objects and slots are written through `dyn`
/// references, so that no code is made per type and serializer.
pub trait FieldWriter {
    /// Writes the entry `key: value`.
    fn field(&mut self, key: &'static str, value: &dyn ErasedSerialize);
}

impl dyn FieldWriter + '_ {
    /// Writes a required field.
    pub fn req<T: Serialize>(&mut self, key: &'static str, v: &T) {
        self.field(key, v);
    }

    /// Writes an optional field when it is set.
    pub fn opt<T: Serialize>(&mut self, key: &'static str, v: &Option<T>) {
        if let Some(v) = v {
            self.field(key, v);
        }
    }

    /// Writes a repeated field unless it is empty.
    pub fn list<T: Serialize>(&mut self, key: &'static str, v: &[T]) {
        if !v.is_empty() {
            self.field(key, &v);
        }
    }

    /// Writes a required float, double or binary field in its lexical form.
    pub fn req_lex<T: Lexical>(&mut self, key: &'static str, v: &T) {
        self.field(key, &Lex(v));
    }

    /// Writes an optional float, double or binary field when it is set.
    pub fn opt_lex<T: Lexical>(&mut self, key: &'static str, v: &Option<T>) {
        if let Some(v) = v {
            self.field(key, &Lex(v));
        }
    }

    /// Writes a repeated float, double or binary field unless it is empty.
    pub fn list_lex<T: Lexical>(&mut self, key: &'static str, v: &[T]) {
        if !v.is_empty() {
            self.field(key, &Lex(v));
        }
    }

    /// Writes a required data object or reference.
    pub fn req_obj<T: JsonObject>(&mut self, key: &'static str, v: &T) {
        self.field(key, &ObjectForm { obj: v, name: None });
    }

    /// Writes an optional data object or reference when it is set.
    pub fn opt_obj<T: JsonObject>(&mut self, key: &'static str, v: &Option<T>) {
        if let Some(v) = v {
            self.field(key, &ObjectForm { obj: v, name: None });
        }
    }

    /// Writes a repeated data object or reference unless it is empty.
    pub fn list_obj<T: JsonObject>(&mut self, key: &'static str, v: &[T]) {
        if !v.is_empty() {
            let forms: Vec<ObjectForm<'_>> = v
                .iter()
                .map(|o| ObjectForm { obj: o, name: None })
                .collect();
            self.field(key, &forms);
        }
    }

    /// Writes an optional array (a managed object's property) when it is set.
    pub fn opt_list<T: Serialize>(&mut self, key: &'static str, v: &Option<Vec<T>>) {
        if let Some(v) = v {
            self.field(key, &v.as_slice());
        }
    }

    /// Writes an optional array of data objects or references when it is set.
    pub fn opt_list_obj<T: JsonObject>(&mut self, key: &'static str, v: &Option<Vec<T>>) {
        if let Some(v) = v {
            let forms: Vec<ObjectForm<'_>> = v
                .iter()
                .map(|o| ObjectForm { obj: o, name: None })
                .collect();
            self.field(key, &forms);
        }
    }

    /// Writes an optional array of polymorphic slots when it is set.
    pub fn opt_list_poly<P: PolyJson>(&mut self, key: &'static str, v: &Option<Vec<P>>) {
        if let Some(v) = v {
            let forms: Vec<ObjectForm<'_>> = v.iter().map(ObjectForm::of).collect();
            self.field(key, &forms);
        }
    }

    /// Writes a required `anyType` field.
    pub fn req_any(&mut self, key: &'static str, v: &AnyValue) {
        self.field(key, v);
    }

    /// Writes an optional `anyType` field when it is set (`Some(Null)` as `null`).
    pub fn opt_any(&mut self, key: &'static str, v: &Option<AnyValue>) {
        self.opt(key, v);
    }

    /// Writes a repeated `anyType` field unless it is empty.
    pub fn list_any(&mut self, key: &'static str, v: &[AnyValue]) {
        self.list(key, v);
    }

    /// Writes an optional array of `anyType` values when it is set.
    pub fn opt_list_any(&mut self, key: &'static str, v: &Option<Vec<AnyValue>>) {
        self.opt_list(key, v);
    }

    /// Writes a required polymorphic slot.
    pub fn req_poly<P: PolyJson>(&mut self, key: &'static str, v: &P) {
        self.field(key, &ObjectForm::of(v));
    }

    /// Writes an optional polymorphic slot when it is set.
    pub fn opt_poly<P: PolyJson>(&mut self, key: &'static str, v: &Option<P>) {
        if let Some(v) = v {
            self.field(key, &ObjectForm::of(v));
        }
    }

    /// Writes a repeated polymorphic slot unless it is empty.
    pub fn list_poly<P: PolyJson>(&mut self, key: &'static str, v: &[P]) {
        if !v.is_empty() {
            let forms: Vec<ObjectForm<'_>> = v.iter().map(ObjectForm::of).collect();
            self.field(key, &forms);
        }
    }
}

/// A data object written as a map, under its own `_typeName` or `name`.
struct ObjectForm<'a> {
    obj: &'a dyn JsonObject,
    name: Option<&'a str>,
}

impl<'a> ObjectForm<'a> {
    fn of<P: PolyJson>(p: &'a P) -> Self {
        let (obj, name) = p.json_form();
        ObjectForm {
            obj,
            name: Some(name),
        }
    }
}

impl Serialize for ObjectForm<'_> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.name {
            Some(name) => serialize_named(self.obj, Some(name), s),
            None => serialize_object(self.obj, s),
        }
    }
}

/// How many values a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Exactly one.
    One,
    /// One or `null`.
    Opt,
    /// An array (`null` reads as empty).
    Seq,
    /// An array or `null` (a managed object's optional array property).
    OptSeq,
}

type LeafRead<'r, 'de> = &'r mut dyn FnMut(&mut dyn ErasedDeserializer<'de>) -> Result<(), Error>;
type PolyRead<'r> = &'r mut dyn FnMut(Option<&str>, &mut dyn ObjectRest) -> Result<(), Error>;

/// Where a field's value goes.
pub enum Slot<'r, 'de> {
    /// A leaf value, read by the closure from an erased deserializer.
    Leaf(LeafRead<'r, 'de>),
    /// Data objects: each value read is a map read into the sink's next object.
    Object(&'r mut dyn ObjectSink),
    /// Polymorphic slots of the declared type `base`: each value read hands its type
    /// name and the rest of its map to the closure.
    Poly {
        /// The slot's declared type (for messages).
        base: &'static str,
        /// Builds the value.
        read: PolyRead<'r>,
    },
    /// `anyType` values, each handed to the closure.
    Any(&'r mut dyn FnMut(AnyValue)),
}

impl<'de> Slot<'_, 'de> {
    fn reborrow(&mut self) -> Slot<'_, 'de> {
        match self {
            Slot::Leaf(f) => Slot::Leaf(&mut **f),
            Slot::Object(o) => Slot::Object(&mut **o),
            Slot::Poly { base, read } => Slot::Poly {
                base,
                read: &mut **read,
            },
            Slot::Any(f) => Slot::Any(&mut **f),
        }
    }
}

/// Hands out the object each value read goes into (a fresh element of an array).
pub trait ObjectSink {
    /// The object to read the next value into.
    fn next_object(&mut self) -> &mut dyn JsonObject;
}

/// A required object: reset to its default, then read into.
struct Fresh<'a, T>(&'a mut T);

impl<T: JsonObject + Default> ObjectSink for Fresh<'_, T> {
    fn next_object(&mut self) -> &mut dyn JsonObject {
        reset::<T>(self.0)
    }
}

impl<T: JsonObject + Default> ObjectSink for Option<T> {
    fn next_object(&mut self) -> &mut dyn JsonObject {
        insert_default::<T>(self)
    }
}

impl<T: JsonObject + Default> ObjectSink for Vec<T> {
    fn next_object(&mut self) -> &mut dyn JsonObject {
        push_default::<T>(self)
    }
}

// Out of line, so that a debug build keeps the value-sized temporary in a frame that
// ends before the nested value is read (the reading recurses).
#[inline(never)]
fn reset<T: Default>(slot: &mut T) -> &mut T {
    *slot = T::default();
    slot
}

#[inline(never)]
fn insert_default<T: Default>(slot: &mut Option<T>) -> &mut T {
    slot.insert(T::default())
}

#[inline(never)]
fn push_default<T: Default>(slot: &mut Vec<T>) -> &mut T {
    slot.push(T::default());
    let last = slot.len() - 1;
    &mut slot[last]
}

/// Where [`JsonObject::json_read`] reads the value of the field whose key was read.
/// The helpers mirror [`FieldWriter`]'s families.
pub trait FieldReader<'de> {
    /// Reads the field's value of `shape` into `slot`. Whether a value was there (`false`
    /// for `null` in an optional field).
    fn read(&mut self, shape: Shape, slot: Slot<'_, 'de>) -> Result<bool, Error>;
}

impl<'de> dyn FieldReader<'de> + '_ {
    /// Reads a required field.
    pub fn req<T: Deserialize<'de>>(&mut self, slot: &mut T) -> Result<(), Error> {
        self.read(
            Shape::One,
            Slot::Leaf(&mut |d| {
                *slot = T::deserialize(d)?;
                Ok(())
            }),
        )
        .map(drop)
    }

    /// Reads an optional field (`null` leaves it unset).
    pub fn opt<T: Deserialize<'de>>(&mut self, slot: &mut Option<T>) -> Result<(), Error> {
        *slot = None;
        self.read(
            Shape::Opt,
            Slot::Leaf(&mut |d| {
                *slot = Some(T::deserialize(d)?);
                Ok(())
            }),
        )
        .map(drop)
    }

    /// Reads a repeated field.
    pub fn list<T: Deserialize<'de>>(&mut self, slot: &mut Vec<T>) -> Result<(), Error> {
        slot.clear();
        self.read(
            Shape::Seq,
            Slot::Leaf(&mut |d| {
                slot.push(T::deserialize(d)?);
                Ok(())
            }),
        )
        .map(drop)
    }

    /// Reads an optional array (a managed object's property; `null` leaves it unset).
    pub fn opt_list<T: Deserialize<'de>>(
        &mut self,
        slot: &mut Option<Vec<T>>,
    ) -> Result<(), Error> {
        let mut items = Vec::new();
        let present = self.read(
            Shape::OptSeq,
            Slot::Leaf(&mut |d| {
                items.push(T::deserialize(d)?);
                Ok(())
            }),
        )?;
        *slot = present.then_some(items);
        Ok(())
    }

    /// Reads a required float, double or binary field from its lexical form.
    pub fn req_lex<T: Lexical>(&mut self, slot: &mut T) -> Result<(), Error> {
        self.read(
            Shape::One,
            Slot::Leaf(&mut |d| {
                *slot = T::deserialize_lex(d)?;
                Ok(())
            }),
        )
        .map(drop)
    }

    /// Reads an optional float, double or binary field.
    pub fn opt_lex<T: Lexical>(&mut self, slot: &mut Option<T>) -> Result<(), Error> {
        *slot = None;
        self.read(
            Shape::Opt,
            Slot::Leaf(&mut |d| {
                *slot = Some(T::deserialize_lex(d)?);
                Ok(())
            }),
        )
        .map(drop)
    }

    /// Reads a repeated float, double or binary field.
    pub fn list_lex<T: Lexical>(&mut self, slot: &mut Vec<T>) -> Result<(), Error> {
        slot.clear();
        self.read(
            Shape::Seq,
            Slot::Leaf(&mut |d| {
                slot.push(T::deserialize_lex(d)?);
                Ok(())
            }),
        )
        .map(drop)
    }

    /// Reads a required data object or reference (in place, from a default value).
    pub fn req_obj<T: JsonObject + Default>(&mut self, slot: &mut T) -> Result<(), Error> {
        self.read(Shape::One, Slot::Object(&mut Fresh(slot)))
            .map(drop)
    }

    /// Reads an optional data object or reference.
    pub fn opt_obj<T: JsonObject + Default>(&mut self, slot: &mut Option<T>) -> Result<(), Error> {
        *slot = None;
        self.read(Shape::Opt, Slot::Object(slot)).map(drop)
    }

    /// Reads a repeated data object or reference.
    pub fn list_obj<T: JsonObject + Default>(&mut self, slot: &mut Vec<T>) -> Result<(), Error> {
        slot.clear();
        self.read(Shape::Seq, Slot::Object(slot)).map(drop)
    }

    /// Reads an optional array of data objects or references.
    pub fn opt_list_obj<T: JsonObject + Default>(
        &mut self,
        slot: &mut Option<Vec<T>>,
    ) -> Result<(), Error> {
        let mut items = Vec::new();
        let present = self.read(Shape::OptSeq, Slot::Object(&mut items))?;
        *slot = present.then_some(items);
        Ok(())
    }

    /// Reads a required polymorphic slot.
    pub fn req_poly<P: PolyJson>(&mut self, slot: &mut P) -> Result<(), Error> {
        self.read(
            Shape::One,
            Slot::Poly {
                base: P::BASE,
                read: &mut |name, rest| {
                    *slot = P::read_json(name, rest)?;
                    Ok(())
                },
            },
        )
        .map(drop)
    }

    /// Reads an optional polymorphic slot.
    pub fn opt_poly<P: PolyJson>(&mut self, slot: &mut Option<P>) -> Result<(), Error> {
        *slot = None;
        self.read(
            Shape::Opt,
            Slot::Poly {
                base: P::BASE,
                read: &mut |name, rest| {
                    *slot = Some(P::read_json(name, rest)?);
                    Ok(())
                },
            },
        )
        .map(drop)
    }

    /// Reads a repeated polymorphic slot.
    pub fn list_poly<P: PolyJson>(&mut self, slot: &mut Vec<P>) -> Result<(), Error> {
        slot.clear();
        self.read(
            Shape::Seq,
            Slot::Poly {
                base: P::BASE,
                read: &mut |name, rest| {
                    slot.push(P::read_json(name, rest)?);
                    Ok(())
                },
            },
        )
        .map(drop)
    }

    /// Reads an optional array of polymorphic slots.
    pub fn opt_list_poly<P: PolyJson>(&mut self, slot: &mut Option<Vec<P>>) -> Result<(), Error> {
        let mut items = Vec::new();
        let present = self.read(
            Shape::OptSeq,
            Slot::Poly {
                base: P::BASE,
                read: &mut |name, rest| {
                    items.push(P::read_json(name, rest)?);
                    Ok(())
                },
            },
        )?;
        *slot = present.then_some(items);
        Ok(())
    }

    /// Reads a required `anyType` field.
    pub fn req_any(&mut self, slot: &mut AnyValue) -> Result<(), Error> {
        self.read(Shape::One, Slot::Any(&mut |v| *slot = v))
            .map(drop)
    }

    /// Reads an optional `anyType` field: `null` is `Some(AnyValue::Null)`, as `xsi:nil`
    /// is in XML; an absent field stays `None`.
    pub fn opt_any(&mut self, slot: &mut Option<AnyValue>) -> Result<(), Error> {
        self.read(Shape::One, Slot::Any(&mut |v| *slot = Some(v)))
            .map(drop)
    }

    /// Reads a repeated `anyType` field.
    pub fn list_any(&mut self, slot: &mut Vec<AnyValue>) -> Result<(), Error> {
        slot.clear();
        self.read(Shape::Seq, Slot::Any(&mut |v| slot.push(v)))
            .map(drop)
    }

    /// Reads an optional array of `anyType` values.
    pub fn opt_list_any(&mut self, slot: &mut Option<Vec<AnyValue>>) -> Result<(), Error> {
        let mut items = Vec::new();
        let present = self.read(Shape::OptSeq, Slot::Any(&mut |v| items.push(v)))?;
        *slot = present.then_some(items);
        Ok(())
    }
}

/// Reads one value of `slot` from the format's deserializer `d`.
fn read_slot<'de, D: de::Deserializer<'de>>(d: D, slot: Slot<'_, 'de>) -> Result<(), D::Error> {
    match slot {
        Slot::Leaf(f) => {
            let mut erased = <dyn ErasedDeserializer>::erase(d);
            f(&mut erased).map_err(de::Error::custom)
        }
        Slot::Object(sink) => d.deserialize_map(ObjectVisitor {
            target: sink.next_object(),
        }),
        Slot::Poly { base, read } => d.deserialize_map(PolyVisitor { base, read }),
        Slot::Any(put) => {
            put(super::any::read_any(d, None)?);
            Ok(())
        }
    }
}

/// A field's value: `shape` values of `slot`.
struct FieldSeed<'r, 'p, 'de> {
    shape: Shape,
    slot: Slot<'r, 'de>,
    present: &'p mut bool,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.shape {
            Shape::One => {
                *self.present = true;
                read_slot(d, self.slot)
            }
            Shape::Opt | Shape::OptSeq => d.deserialize_option(OptionVisitor {
                seq: self.shape == Shape::OptSeq,
                slot: self.slot,
                present: self.present,
            }),
            Shape::Seq => {
                *self.present = true;
                d.deserialize_any(SeqVisitor { slot: self.slot })
            }
        }
    }
}

struct OptionVisitor<'r, 'p, 'de> {
    seq: bool,
    slot: Slot<'r, 'de>,
    present: &'p mut bool,
}

impl<'de> Visitor<'de> for OptionVisitor<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        *self.present = true;
        if self.seq {
            d.deserialize_seq(SeqVisitor { slot: self.slot })
        } else {
            read_slot(d, self.slot)
        }
    }
}

/// An array, each element read into the slot; `null` is an empty array.
struct SeqVisitor<'r, 'de> {
    slot: Slot<'r, 'de>,
}

impl<'de> Visitor<'de> for SeqVisitor<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(ElementSeed(self.slot.reborrow()))?
            .is_some()
        {}
        Ok(())
    }
}

struct ElementSeed<'r, 'de>(Slot<'r, 'de>);

impl<'de> DeserializeSeed<'de> for ElementSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        read_slot(d, self.0)
    }
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

/// Writes `v` as a map: its `_typeName` when it has one, then its fields.
pub fn serialize_object<S: ser::Serializer>(v: &dyn JsonObject, s: S) -> Result<S::Ok, S::Error> {
    serialize_named(v, v.json_type_name(), s)
}

/// Writes `v` as a map with `name` as its `_typeName` (a polymorphic slot names the
/// type it holds, which may be one the client does not know).
pub fn serialize_named<S: ser::Serializer>(
    v: &dyn JsonObject,
    name: Option<&str>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(None)?;
    if let Some(name) = name {
        map.serialize_entry(TYPE_NAME_KEY, name)?;
    }
    let mut w = MapWriter {
        map: &mut map,
        error: None,
    };
    v.json_write(&mut w);
    if let Some(e) = w.error {
        return Err(e);
    }
    map.end()
}

/// A [`FieldWriter`] over a serializer's map; the first error stops the writing.
struct MapWriter<'m, M: SerializeMap> {
    map: &'m mut M,
    error: Option<M::Error>,
}

impl<M: SerializeMap> FieldWriter for MapWriter<'_, M> {
    fn field(&mut self, key: &'static str, value: &dyn ErasedSerialize) {
        if self.error.is_none() {
            if let Err(e) = self.map.serialize_entry(key, value) {
                self.error = Some(e);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// Reads a map into a default `T`.
pub fn deserialize_object<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: JsonObject + Default,
    D: de::Deserializer<'de>,
{
    let mut v = T::default();
    d.deserialize_map(ObjectVisitor { target: &mut v })?;
    Ok(v)
}

/// A map read into `target`.
pub(super) struct ObjectVisitor<'t> {
    pub(super) target: &'t mut dyn JsonObject,
}

impl<'de> Visitor<'de> for ObjectVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a `{}` object", self.target.json_schema_name())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        fill(&mut map, None, self.target, None)
    }
}

/// A map read into `target`, as a seed.
pub(super) struct ObjectSeed<'t>(pub(super) &'t mut dyn JsonObject);

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(ObjectVisitor { target: self.0 })
    }
}

/// Reads a map key into a reused buffer.
struct KeySeed<'b>(&'b mut String);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.clear();
        self.0.push_str(v);
        Ok(())
    }
}

/// The next key of `map` into `key`; `false` at the end of the map.
pub(super) fn next_key<'de, A: MapAccess<'de>>(
    map: &mut A,
    key: &mut String,
) -> Result<bool, A::Error> {
    Ok(map.next_key_seed(KeySeed(key))?.is_some())
}

/// The pending key, if any, else the next key of `map`, into `key`; `false` at the end.
pub(super) fn next_or_pending<'de, A: MapAccess<'de>>(
    map: &mut A,
    pending: &mut Option<String>,
    key: &mut String,
) -> Result<bool, A::Error> {
    match pending.take() {
        Some(k) => {
            *key = k;
            Ok(true)
        }
        None => next_key(map, key),
    }
}

/// The [`FieldReader`] over a map whose key was just read.
struct MapReader<'m, A>(&'m mut A);

impl<'de, A: MapAccess<'de>> FieldReader<'de> for MapReader<'_, A> {
    fn read(&mut self, shape: Shape, slot: Slot<'_, 'de>) -> Result<bool, Error> {
        let mut present = false;
        self.0
            .next_value_seed(FieldSeed {
                shape,
                slot,
                present: &mut present,
            })
            .map_err(de::Error::custom)?;
        Ok(present)
    }
}

/// Reads the rest of `map` into `target` (`pending`: a key already read). `chosen`: the
/// type a polymorphic slot picked from a leading `_typeName`, or its declared type;
/// `None` for a slot whose type is fixed.
pub(super) fn fill<'de, A: MapAccess<'de>>(
    map: &mut A,
    mut pending: Option<String>,
    target: &mut dyn JsonObject,
    chosen: Option<&str>,
) -> Result<(), A::Error> {
    let required = target.json_required();
    let mut seen: u64 = 0;
    let mut key = String::new();
    while next_or_pending(map, &mut pending, &mut key)? {
        if key == TYPE_NAME_KEY {
            let name: String = map.next_value()?;
            match chosen {
                Some(c) if c != name => {
                    return Err(de::Error::custom(format_args!(
                        "`_typeName` {name:?} must be the first key of a polymorphic value \
                         (it was read as `{c}`)"
                    )))
                }
                Some(_) => {}
                None => {
                    if name != target.json_schema_name() {
                        target.json_keep_type_name(&name);
                    }
                }
            }
            continue;
        }
        if target
            .json_read(&key, &mut MapReader(map))
            .map_err(de::Error::custom)?
        {
            if let Some(i) = required.iter().position(|f| *f == key) {
                seen |= 1u64.checked_shl(i as u32).unwrap_or(0);
            }
        } else {
            map.next_value::<IgnoredAny>()?;
        }
    }
    for (i, f) in required.iter().enumerate() {
        if seen & 1u64.checked_shl(i as u32).unwrap_or(0) == 0 {
            return Err(de::Error::custom(format_args!(
                "missing field `{f}` in `{}`",
                chosen.unwrap_or(target.json_schema_name())
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Polymorphic slots
// ---------------------------------------------------------------------------------------

/// The rest of a map whose first key (`_typeName` or a field) was read: a polymorphic
/// slot reads it into the type it picked.
pub trait ObjectRest {
    /// Reads the remaining entries into `target`, read as the type `chosen`.
    fn fill(&mut self, target: &mut dyn JsonObject, chosen: &str) -> Result<(), Error>;
}

struct Rest<'m, 'de, A> {
    map: &'m mut A,
    pending: Option<String>,
    _de: PhantomData<&'de ()>,
}

impl<'de, A: MapAccess<'de>> ObjectRest for Rest<'_, 'de, A> {
    fn fill(&mut self, target: &mut dyn JsonObject, chosen: &str) -> Result<(), Error> {
        fill(self.map, self.pending.take(), target, Some(chosen)).map_err(de::Error::custom)
    }
}

/// A polymorphic slot enum (`AnyVirtualDevice`): builds the value a `_typeName` picks.
pub trait PolyJson: Sized {
    /// The declared (base) type.
    const BASE: &'static str;
    /// The value held, as an object, and the type name to write for it.
    fn json_form(&self) -> (&dyn JsonObject, &str);
    /// Builds the value of type `name` (the base type when `None`; `Unknown` for a name
    /// the client does not know) and reads the rest of the map into it.
    fn read_json(name: Option<&str>, rest: &mut dyn ObjectRest) -> Result<Self, Error>;
}

/// Reads a polymorphic slot: a map whose first key may be `_typeName`.
pub fn deserialize_poly<'de, P, D>(d: D) -> Result<P, D::Error>
where
    P: PolyJson,
    D: de::Deserializer<'de>,
{
    let mut out = None;
    d.deserialize_map(PolyVisitor {
        base: P::BASE,
        read: &mut |name, rest| {
            out = Some(P::read_json(name, rest)?);
            Ok(())
        },
    })?;
    out.ok_or_else(|| de::Error::custom("polymorphic value not read"))
}

struct PolyVisitor<'r> {
    /// The declared type, for messages.
    base: &'static str,
    read: PolyRead<'r>,
}

impl<'de> Visitor<'de> for PolyVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a `{}` object", self.base)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut key = String::new();
        let (name, pending) = if !next_key(&mut map, &mut key)? {
            (None, None)
        } else if key == TYPE_NAME_KEY {
            (Some(map.next_value::<String>()?), None)
        } else {
            (None, Some(key))
        };
        let mut rest = Rest {
            map: &mut map,
            pending,
            _de: PhantomData,
        };
        (self.read)(name.as_deref(), &mut rest).map_err(de::Error::custom)
    }
}

/// The `Unknown` variant of a polymorphic slot: the known base `T` read from the rest of
/// the map, the name kept. Out of line, like every per-type step of a slot's dispatch.
#[inline(never)]
pub fn read_unknown<T: JsonObject + Default>(
    name: &str,
    rest: &mut dyn ObjectRest,
) -> Result<Box<Unknown<T>>, Error> {
    let mut u = Box::new(Unknown {
        type_name: name.to_string(),
        value: T::default(),
    });
    rest.fill(&mut u.value, name)?;
    Ok(u)
}

/// A default `T`, boxed and erased: the registry's constructor for `anyType` values.
pub fn new_data_object<T: DataObject + Default>() -> Box<dyn DataObject> {
    Box::new(T::default())
}
