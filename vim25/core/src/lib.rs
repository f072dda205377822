//! The I/O-free core of the `vim25` vSphere client.
//!
//! Everything here is data and pure functions: no async runtime, HTTP or TLS in the
//! dependency tree, so that a guest agent, a file converter or a fuzz target can use
//! the vSphere types without the client. The `vim25` crate re-exports every module
//! of this one under the same names, so user code writes `vim25::types::…` either way.
//!
//! - [`types`]: every data object, fault and enum of the vim25 schema (generated), the
//!   `Any…` enums of polymorphic slots, and the domain values they are built from
//!   ([`types::ManagedObjectReference`], [`types::AnyValue`] for `anyType`,
//!   [`types::DateTime`], [`types::Unknown`]).
//! - [`mo`]: managed objects with their properties, as a property collector fills them,
//!   and [`mo::AnyManagedObject`] over all of them.
//! - [`methods`]: one async function per operation over a [`soap::Transport`]
//!   (generated); the futures need no particular runtime.
//! - [`meta`]: the API version that introduced every type, field, value and method.
//! - [`xml`]: the streaming codec; [`soap`]: request envelopes, the transport seam,
//!   responses and faults; [`Error`]: what a call can fail with.
//! - [`date_time`]: `xsd:dateTime` text to and from `SystemTime`;
//!   [`service_versions`]: reading `vimServiceVersions.xml` and `vimService.wsdl`.
//!
//! ```
//! use vim25_core::types::{AnyVirtualDevice, VirtualDeviceConfigSpec, VirtualDeviceConfigSpecOperation, VirtualVmxnet3};
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
//! value, `_typeName` must come first. The module `json` (compiled with the feature)
//! describes the whole shape. Without the feature nothing of it is compiled.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[rustfmt::skip]
#[path = "generated/mod.rs"]
#[allow(missing_docs)]
mod generated;

mod managed;
#[cfg(feature = "serde")]
mod mo_json;
mod schema_info;

// The data types and the codec are compiled in `vim25-types`, below this crate (so that
// no one compiler process builds all of the generated code); they are re-exported here
// under the paths users write.
// `doc(inline)`: their documentation appears here, as if they were defined here.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
#[doc(inline)]
pub use vim25_types::json;
#[doc(inline)]
pub use vim25_types::{date_time, service_versions, soap, types, xml, Error, Version};

pub use generated::methods;

/// Managed objects with their properties (inherited ones included), as a property
/// collector's `ObjectContent` fills them: one struct per managed object type, the
/// [`ManagedObject`](mo::ManagedObject) trait they implement, and
/// [`AnyManagedObject`](mo::AnyManagedObject), an enum over all of them for
/// retrievals that mix types.
pub mod mo {
    pub use crate::generated::mo::*;
    pub use crate::managed::{decode_object_content, Decoded, ManagedObject};
    #[doc(inline)]
    pub use vim25_types::wrong_type::{is_a, WrongType};
}

/// Schema metadata: every type, field, enum value, method and managed object with the
/// API version that introduced it (generated tables), and their record types.
pub mod meta {
    pub use crate::generated::meta::*;
    pub use crate::schema_info::{
        DataTypeInfo, EnumInfo, FieldInfo, ManagedObjectInfo, MethodInfo, PropertyInfo,
    };
}
