//! Typed vSphere (vim25) SOAP client.
//!
//! The I/O-free part (generated types, codec, envelopes) is the crate `vim25-core`,
//! re-exported here module by module, so paths are the same with either crate.
//!
//! - [`types`]: every data object, fault and enum of the vim25 schema (generated), with
//!   `Any…` enums for polymorphic slots, [`types::AnyValue`] for `anyType` and
//!   [`types::ManagedObjectReference`].
//! - [`methods`]: one async function per operation (generated).
//! - [`mo`]: managed objects with their properties, filled from a property collector,
//!   and [`mo::AnyManagedObject`] for results that mix types.
//! - [`meta`]: the API version that introduced every type, field, value and method.
//! - [`xml`]: the streaming codec; [`soap`]: envelopes, the [`soap::Transport`] seam
//!   and faults.
//! - [`client`]: the HTTP client and session; [`transport`]: the layers it stacks
//!   (retry, re-login, keep-alive, wire log), each usable on its own.
//! - [`property`], [`view`], [`task`], [`find`], [`object`]: what programs use most:
//!   typed retrieval and watches, container views, task waiting with progress,
//!   inventory paths, and wrappers for the objects people touch.
//!
//! ```
//! use vim25::types::{AnyVirtualDevice, VirtualDeviceConfigSpec, VirtualDeviceConfigSpecOperation, VirtualVmxnet3};
//!
//! // Build a device change without boilerplate: base fields through Deref, subtypes
//! // into the polymorphic slot with `into()`.
//! let mut nic = VirtualVmxnet3::default();
//! nic.key = -100;
//! let change = VirtualDeviceConfigSpec {
//!     operation: Some(VirtualDeviceConfigSpecOperation::Add),
//!     device: nic.into(),
//!     ..Default::default()
//! };
//! match &change.device {
//!     AnyVirtualDevice::VirtualVmxnet3(v) => assert_eq!(v.key, -100),
//!     other => panic!("unexpected {}", other.type_name()),
//! }
//! ```
//!
//! A subtype this client does not know (from a newer server) decodes as its nearest
//! known base: in a polymorphic slot as the `Unknown` variant, elsewhere as the declared
//! type with the wire name kept in `type_name_`; either way encoding sends the name back.
//!
//! # Cargo feature `serde` (off by default)
//!
//! Every data object, fault, enum, polymorphic slot, [`types::AnyValue`], managed object
//! reference and managed-object struct of [`mo`] implements `serde::Serialize` and
//! `serde::Deserialize` in the shape of the vSphere JSON API: a data object is a map
//! whose first key is `"_typeName"`, then its fields under their wire names, inherited
//! ones first; enums are their wire strings; an `anyType` value carries its type
//! (`{"_typeName":"int","_value":5}`). When reading a polymorphic slot or an `anyType`
//! value, `_typeName` must come first. The module `vim25::json` (compiled with the
//! feature) describes the whole shape. Without the feature nothing of it is compiled.
//!
//! ```
//! # #[cfg(feature = "serde")] {
//! use vim25::types::{AnyValue, OptionValue};
//!
//! let opt = OptionValue {
//!     key: "guestinfo.answer".into(),
//!     value: Some(AnyValue::Int(42)),
//!     ..Default::default()
//! };
//! let json = serde_json::to_string(&opt).unwrap();
//! assert_eq!(
//!     json,
//!     r#"{"_typeName":"OptionValue","key":"guestinfo.answer","value":{"_typeName":"int","_value":42}}"#
//! );
//! assert_eq!(serde_json::from_str::<OptionValue>(&json).unwrap(), opt);
//! # }
//! ```
//!
//! # A tour
//!
//! The example program `vm-tour` (`examples/src/bin/vm-tour.rs`; `bash
//! scripts/demo.sh` runs it against a local simulator, and its end-to-end test checks
//! every step) does seven everyday things: connect pinned by thumbprint; find a VM by
//! inventory path and list every VM with its host in one typed retrieval over a view;
//! create a VM and wait for the typed result with progress; keep a vic-config struct
//! in its extraConfig; watch its power state as a stream while powering it on and
//! off; match a typed fault; destroy it and log out. Here it is whole (built and tested
//! as the example, so it is not compiled again here):
//!
#![doc = concat!("```rust,ignore\n", include_str!("../../examples/src/bin/vm-tour.rs"), "```")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod find;
pub mod object;
pub mod property;
pub mod replay;
mod runtime;
pub mod task;
pub mod transport;
pub mod view;

pub use client::{Client, ClientBuilder};
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub use vim25_core::json;
pub use vim25_core::{
    date_time, meta, methods, mo, service_versions, soap, types, xml, Error, Version,
};
