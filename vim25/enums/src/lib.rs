//! The string enums of the vim25 vSphere API and the API versions, generated from the
//! schema. Users reach them through `vim25-core` (or `vim25`), which re-exports them
//! under the same paths: `vim25_core::types::VirtualMachinePowerState`,
//! `vim25_core::Version`; their XML codec lives there.
//!
//! They are a crate of their own so that no single compiler process builds all of the
//! generated code (the enums cost the data types' crate about 0.2 GB of build memory).
//!
//! Every enum is open: a value this client does not know (from a newer server) is kept
//! as `Unrecognized`.
//!
//! ```
//! use vim25_enums::enums::VirtualMachinePowerState;
//! use vim25_enums::Version;
//!
//! let on = VirtualMachinePowerState::from_wire("poweredOn");
//! assert_eq!(on, VirtualMachinePowerState::PoweredOn);
//! assert_eq!(on.to_string(), "poweredOn");
//! assert_eq!(on.since(), Some(Version::V2_5));
//! let newer: VirtualMachinePowerState = "hibernated".parse().unwrap();
//! assert_eq!(newer, VirtualMachinePowerState::Unrecognized("hibernated".into()));
//! assert_eq!(newer.as_str(), "hibernated");
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

/// `Default` (the first value), `Display` and `FromStr` (the wire string), and with
/// feature `serde` `Serialize`/`Deserialize` (the wire string) of a string enum.
macro_rules! string_enum {
    ($t:ident, $first:ident) => {
        impl Default for $t {
            fn default() -> Self {
                $t::$first
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $t {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($t::from_wire(s))
            }
        }
        #[cfg(feature = "serde")]
        impl ::serde::Serialize for $t {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        #[cfg(feature = "serde")]
        impl<'de> ::serde::Deserialize<'de> for $t {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <String as ::serde::Deserialize>::deserialize(d).map(|v| $t::from_wire(&v))
            }
        }
    };
}
pub(crate) use string_enum;

/// Every string enum of the schema.
#[rustfmt::skip]
#[path = "generated/enums.rs"]
#[allow(missing_docs)]
pub mod enums;

#[rustfmt::skip]
#[path = "generated/versions.rs"]
mod versions;

pub use versions::Version;
