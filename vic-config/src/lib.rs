//! VIC extraConfig/guestinfo serializer and the Virtual Container Host / containerVM
//! state model.
//!
//! A VM's extraConfig is a flat list of string pairs. VIC (vSphere Integrated
//! Containers) keeps a tree of configuration there, in key shapes that tell the guest
//! what it may read (`guestinfo.vice./a/b`), write (`guestinfo.vice..a.b`) or not see
//! at all (`a/b`). This crate maps Rust structs to and from that list, key-compatible
//! with VIC, in both the current (`guestinfo.vice.`) and the legacy (`guestinfo.`)
//! layout.
//!
//! ```
//! use std::collections::BTreeMap;
//! use vic_config::{extra_config, from_extra_config, to_extra_config};
//!
//! #[derive(Debug, Default, PartialEq)]
//! struct Cmd {
//!     path: String,
//!     args: Vec<String>,
//!     started: Option<bool>,
//! }
//! extra_config! { Cmd {
//!     path: "Path" [read_only],
//!     args: "Args" [read_only],
//!     started: "started" [read_write],
//! }}
//!
//! let cmd = Cmd { path: "/hello".into(), args: vec!["/hello".into()], started: Some(true) };
//! let map: BTreeMap<String, String> = to_extra_config(&cmd)?;
//! assert_eq!(map["guestinfo.vice./Path"], "/hello");
//! assert_eq!(map["guestinfo.vice./Args~"], "/hello");
//! assert_eq!(map["guestinfo.vice..started"], "true");
//! assert_eq!(from_extra_config::<Cmd>(&map)?, cmd);
//! # Ok::<(), vic_config::Error>(())
//! ```
//!
//! # Design: a declarative macro over a visitor trait
//!
//! VIC puts the key and scope of a field in Go struct tags. The Rust equivalents
//! would be a derive macro (a proc-macro crate of its own) or serde attributes.
//! serde's data model has no place for what this format needs per field — a scope
//! that changes the key's shape, inheritance from the parent key, map and slice
//! index keys, the "did any key exist below here" answer that decides whether an
//! `Option` is `Some`, and merging into an existing value — so a serde
//! `Serializer` would have to smuggle all of it through field names. Instead:
//!
//! - [`Value`] says how one Rust shape maps to keys (implemented for the standard
//!   types and the codec types of [`types`]);
//! - [`ExtraConfig`] is a struct's field list, visited by the [`Encoder`] and the
//!   [`Decoder`];
//! - [`extra_config!`], a `macro_rules!` macro, writes both from one declaration
//!   beside the struct: field, key segment, scope and options. It destructures the
//!   struct exhaustively, so a field added to the struct but not to the declaration
//!   is a compile error (declare it `[skip]` to leave it out on purpose).
//!
//! No proc-macro crate, no reflection, and the model types stay plain structs that
//! can derive serde for JSON as well.
//!
//! The declaration is the one place a field's key segment and scope are written:
//! [`key_of`] computes the key of a field path from it (VIC's `CalculateKeys`),
//! with the encoder's own key building, so callers never spell keys by hand.
//!
//! # Field declarations
//!
//! `field: "Key"` is a field without attributes: it inherits its parent's scope.
//! `field: "Key" [opts]` has attributes; with no scope among them it is hidden.
//! Options: `read_only`, `read_write`, `hidden`, `secret`, `non_persistent`,
//! `depth = N` (visit N struct levels below this field; `depth = 0` leaves a
//! struct-typed field out), `skip_encode`, `skip_decode`, `skip`.
//!
//! # What is fixed compared with VIC's own serializer
//!
//! Unsigned and `f32` fields work; a `|` in a primitive slice element or a map key is
//! refused instead of corrupting the data; keys that collide (also only by letter
//! case, or because map keys differ only by `.` versus `/`) are refused; Go times
//! with a monotonic-clock suffix decode; deletions are expressible ([`delta`]); every
//! decode error is reported with its key. Map keys that differ only in case or
//! `.`/`/` are refused on decode as well, so no entry is read twice (see
//! [`Source`] for how spellings of one key resolve). Secret values this crate seals
//! are bound to their key, so they cannot be swapped between fields (see
//! [`SecretKey`]); VIC's unbound ones still open.
//!
//! # Features
//!
//! - `vim25`: module `option_value`, conversion to and from vSphere `OptionValue` lists.
//! - `guestinfo`: module `guestinfo`, the in-guest channel through `vmware-rpctool`.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod decode;
pub mod delta;
mod encode;
mod error;
mod field_path;
#[cfg(feature = "guestinfo")]
#[cfg_attr(docsrs, doc(cfg(feature = "guestinfo")))]
pub mod guestinfo;
mod key;
pub mod migrate;
pub mod model;
#[cfg(feature = "vim25")]
#[cfg_attr(docsrs, doc(cfg(feature = "vim25")))]
pub mod option_value;
mod secret;
pub mod types;
mod value;
pub mod vmx;

use std::collections::BTreeMap;

pub use decode::{DecodeOptions, Decoder, Source, NIL};
pub use encode::{EncodeOptions, Encoder, DEFAULT_MAX_DEPTH};
pub use error::Error;
pub use field_path::{key_of, FieldKey, Locator};
pub use key::{FieldDecl, FieldSpec, KeyCtx, Layout, Visibility, SECRET_KEY_KEY};
pub use secret::{Secret, SecretKey};
pub use value::Value;

/// A struct whose fields map to extraConfig keys. Implement it with
/// [`extra_config!`], which also implements [`Value`] so that the struct can be
/// nested in others.
pub trait ExtraConfig {
    /// Writes every field, each under `ctx` joined with its key segment.
    fn encode_fields(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error>;

    /// Reads every field, merging into `self`; returns whether any key was found.
    fn decode_fields(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error>;

    /// The declared fields, in declaration order: what [`key_of`] and
    /// [`model::is_vic_key`] work from. [`extra_config!`] lists them all;
    /// a hand-written implementation that keeps the default declares none (its keys
    /// cannot be looked up).
    fn fields() -> &'static [FieldDecl]
    where
        Self: Sized,
    {
        &[]
    }
}

/// Writes the struct `value` at `ctx` (one struct level deeper). Used by the code
/// [`extra_config!`] generates.
pub fn encode_struct<T: ExtraConfig + ?Sized>(
    value: &T,
    enc: &mut Encoder,
    ctx: &KeyCtx,
) -> Result<(), Error> {
    match ctx.enter()? {
        Some(inner) => value.encode_fields(enc, &inner),
        None => Ok(()),
    }
}

/// Reads the struct `value` at `ctx` (one struct level deeper). Used by the code
/// [`extra_config!`] generates. Data below the global recursion limit is not read.
pub fn decode_struct<T: ExtraConfig + ?Sized>(
    value: &mut T,
    dec: &mut Decoder<'_>,
    ctx: &KeyCtx,
) -> Result<bool, Error> {
    match ctx.enter() {
        Ok(Some(inner)) => value.decode_fields(dec, &inner),
        Ok(None) | Err(Error::TooDeep { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Encodes `value` in the current layout into a new map.
pub fn to_extra_config<T: ExtraConfig>(value: &T) -> Result<BTreeMap<String, String>, Error> {
    to_extra_config_with(value, EncodeOptions::default())
}

/// Encodes `value` with the given options into a new map.
pub fn to_extra_config_with<T: ExtraConfig>(
    value: &T,
    opts: EncodeOptions,
) -> Result<BTreeMap<String, String>, Error> {
    let mut enc = Encoder::new(opts);
    enc.encode(value)?;
    enc.finish()
}

/// Decodes a new `T` from `src`, detecting the layout.
pub fn from_extra_config<T: ExtraConfig + Default>(src: &dyn Source) -> Result<T, Error> {
    let mut v = T::default();
    decode_into(src, &mut v, DecodeOptions::default())?;
    Ok(v)
}

/// Decodes from `src` into an existing value: fields with no key keep their value.
/// Returns the keys that were read (the keys of `src` this value owns).
pub fn decode_into<T: ExtraConfig>(
    src: &dyn Source,
    value: &mut T,
    opts: DecodeOptions,
) -> Result<std::collections::BTreeSet<String>, Error> {
    let mut dec = Decoder::new(src, opts);
    dec.decode(value)?;
    Ok(dec.into_consumed())
}

/// Declares the extraConfig mapping of a struct: for each field, its key segment and
/// optionally its scope and options. Implements [`ExtraConfig`] and [`Value`].
///
/// ```
/// #[derive(Debug, Default)]
/// struct Common { id: String, name: String, notes: String, env: String }
///
/// vic_config::extra_config! { Common {
///     id: "id" [read_only],
///     name: "name" [hidden],
///     notes: "notes" [],                 // attributes but no scope: hidden
///     env: "ExecutionEnvironment",       // no attributes: inherits the parent's scope
/// }}
/// ```
///
/// Every field of the struct must be listed (`[skip]` leaves one out).
#[macro_export]
macro_rules! extra_config {
    ($ty:ident { $( $field:ident : $key:literal $( [ $( $opt:ident $( = $val:expr )? ),* $(,)? ] )? ),* $(,)? }) => {
        impl $crate::ExtraConfig for $ty {
            fn encode_fields(
                &self,
                enc: &mut $crate::Encoder,
                ctx: &$crate::KeyCtx,
            ) -> ::core::result::Result<(), $crate::Error> {
                let Self { $( $field ),* } = self;
                $(
                    enc.field(
                        ctx,
                        &$crate::extra_config!(@spec $key $( [ $( $opt $( = $val )? ),* ] )?),
                        $field,
                    )?;
                )*
                Ok(())
            }

            fn decode_fields(
                &mut self,
                dec: &mut $crate::Decoder<'_>,
                ctx: &$crate::KeyCtx,
            ) -> ::core::result::Result<bool, $crate::Error> {
                let Self { $( $field ),* } = self;
                let mut found = false;
                $(
                    found |= dec.field(
                        ctx,
                        &$crate::extra_config!(@spec $key $( [ $( $opt $( = $val )? ),* ] )?),
                        $field,
                    )?;
                )*
                Ok(found)
            }

            fn fields() -> &'static [$crate::FieldDecl] {
                const FIELDS: &[$crate::FieldDecl] = &[
                    $(
                        $crate::FieldDecl::new(
                            ::core::stringify!($field),
                            $crate::extra_config!(@spec $key $( [ $( $opt $( = $val )? ),* ] )?),
                            |s: &$ty| &s.$field,
                        ),
                    )*
                ];
                FIELDS
            }
        }

        impl $crate::Value for $ty {
            fn encode(
                &self,
                enc: &mut $crate::Encoder,
                ctx: &$crate::KeyCtx,
            ) -> ::core::result::Result<(), $crate::Error> {
                $crate::encode_struct(self, enc, ctx)
            }

            fn decode(
                &mut self,
                dec: &mut $crate::Decoder<'_>,
                ctx: &$crate::KeyCtx,
            ) -> ::core::result::Result<bool, $crate::Error> {
                $crate::decode_struct(self, dec, ctx)
            }

            fn locate(
                loc: &mut $crate::Locator<'_>,
                ctx: &$crate::KeyCtx,
            ) -> ::core::result::Result<(), $crate::Error> {
                loc.structure::<$ty>(ctx)
            }
        }
    };
    (@spec $key:literal) => { $crate::FieldSpec::inherit($key) };
    (@spec $key:literal [ $( $opt:ident $( = $val:expr )? ),* ]) => {
        $crate::FieldSpec::attributed($key) $( .$opt( $( $val )? ) )*
    };
}
