//! The data types of the vim25 vSphere API and the codec they are read and written
//! with: an implementation crate of [`vim25-core`](https://docs.rs/vim25-core), which
//! re-exports every public module here under the same path. Depend on `vim25-core`
//! (or `vim25`) and write `vim25_core::types::…`; this crate exists so that no single
//! compiler process has to build all of the generated code (the methods, managed
//! objects and metadata are compiled in `vim25-core`, above it).
//!
//! - [`types`]: every data object, fault and enum of the schema (generated), the
//!   `Any…` enums of polymorphic slots, and [`types::ManagedObjectReference`],
//!   [`types::AnyValue`] (`anyType`), [`types::DateTime`] and [`types::Unknown`].
//! - [`xml`]: the streaming codec; [`soap`]: request envelopes, the transport seam,
//!   responses and faults; [`Error`]: what a call can fail with.
//! - [`date_time`], [`service_versions`], [`wrong_type`], and with the `serde`
//!   feature the `json` module.
//!
//! ```
//! use vim25_types::types::{OptionValue, AnyValue};
//! use vim25_types::xml::{decode_element, encode_element};
//! use vim25_types::Version;
//!
//! let v = OptionValue { key: "guestinfo.a".into(), value: Some(AnyValue::from("b")), ..Default::default() };
//! let xml = encode_element("opt", &v, Version::LATEST);
//! let back: OptionValue = decode_element(xml.as_bytes()).unwrap();
//! assert_eq!(back, v);
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

#[rustfmt::skip]
#[path = "generated/mod.rs"]
#[allow(missing_docs)]
mod generated;

mod auto_traits;
pub mod date_time;
mod error;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod json;
mod property_update;
pub mod service_versions;
pub mod soap;
mod value;
pub mod wrong_type;
pub mod xml;

pub use error::Error;
pub use vim25_enums::Version;

/// Every data object, fault and enum of the schema, by its schema name, plus the
/// `Any…` enums of polymorphic slots and the domain values the types are built from.
pub mod types {
    pub use crate::generated::all::*;
    pub use crate::value::{
        AnyValue, DataObject, DateTime, FromAnyValue, JsonSupport, ManagedObjectReference,
        Redacted, Unknown,
    };
}
