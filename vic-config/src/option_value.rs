//! vSphere `OptionValue` lists: a VM's `config.extraConfig` and the `extraConfig` of a
//! `VirtualMachineConfigSpec`, both `Vec<AnyOptionValue>` in vim25's types, are read and
//! written here directly, with no conversion by hand.
//!
//! vSphere deletes a key whose value is empty, so an empty string is sent as
//! [`NIL`] (`<nil>`) and `<nil>` is read back as empty, as from every other source; a
//! deletion is sent as a truly empty value.
//!
//! ```
//! use vic_config::{extra_config, option_value};
//! use vim25_core::types::{VirtualMachineConfigInfo, VirtualMachineConfigSpec};
//!
//! #[derive(Debug, Default, PartialEq)]
//! struct Role { name: String, note: String }
//! extra_config! { Role { name: "name" [read_only], note: "note" [read_only] } }
//!
//! // Write: straight into a reconfiguration spec.
//! let role = Role { name: "web".into(), note: String::new() };
//! let spec = VirtualMachineConfigSpec {
//!     extra_config: option_value::encode(&role)?,
//!     ..Default::default()
//! };
//! assert_eq!(spec.extra_config[1].value.as_ref().unwrap().as_str(), Some("<nil>"));
//!
//! // Read: straight from the VM's config (here, what the server would send back).
//! let config = VirtualMachineConfigInfo { extra_config: spec.extra_config.clone(), ..Default::default() };
//! let back: Role = option_value::decode(&config.extra_config)?;
//! assert_eq!(back, role);
//! # Ok::<(), vic_config::Error>(())
//! ```
//!
//! With this feature, [`Error`] converts into `vim25_core::Error` (which `vim25`
//! re-exports as `vim25::Error`) and back, so a function that uses both crates can
//! use `?` on either.

use std::collections::BTreeMap;

use vim25_core::types::{AnyOptionValue, AnyValue, OptionValue};

use crate::delta::Change;
pub use crate::NIL;
use crate::{Error, ExtraConfig};

/// An `OptionValue` as a list holds it: plain, or in the polymorphic `AnyOptionValue`
/// of `extraConfig`. Lets the readers here take either list.
pub trait AsOptionValue {
    /// The option value.
    fn option_value(&self) -> &OptionValue;
}

impl AsOptionValue for OptionValue {
    fn option_value(&self) -> &OptionValue {
        self
    }
}

impl AsOptionValue for AnyOptionValue {
    fn option_value(&self) -> &OptionValue {
        self
    }
}

fn option(key: &str, value: String) -> AnyOptionValue {
    OptionValue {
        key: key.to_owned(),
        value: Some(AnyValue::String(value)),
        ..Default::default()
    }
    .into()
}

/// One option per entry, empty strings escaped as [`NIL`]: what a
/// `VirtualMachineConfigSpec.extraConfig` takes.
pub fn to_option_values(map: &BTreeMap<String, String>) -> Vec<AnyOptionValue> {
    map.iter()
        .map(|(k, v)| {
            option(
                k,
                if v.is_empty() {
                    NIL.to_owned()
                } else {
                    v.clone()
                },
            )
        })
        .collect()
}

/// The options of a delta: sets (empty → [`NIL`]) and deletions (empty value).
pub fn changes_to_option_values(changes: &[Change]) -> Vec<AnyOptionValue> {
    changes
        .iter()
        .map(|c| match c {
            Change::Set { key, value } if value.is_empty() => option(key, NIL.to_owned()),
            Change::Set { key, value } => option(key, value.clone()),
            Change::Delete { key } => option(key, String::new()),
        })
        .collect()
}

/// The map of an `extraConfig` list (plain or `AnyOptionValue`s); [`NIL`] reads as
/// empty. Values that are not strings are taken in their text form (numbers,
/// booleans); others are an error naming the key. A key listed twice (also only by
/// letter case) is an error.
pub fn from_option_values<O: AsOptionValue>(
    values: &[O],
) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    let mut folded = std::collections::HashMap::new();
    for ov in values.iter().map(AsOptionValue::option_value) {
        let text = match &ov.value {
            None | Some(AnyValue::Null) => String::new(),
            // The map holds what the value means: `<nil>` is the empty string here,
            // as the decoder reads it from a map or a .vmx file.
            Some(AnyValue::String(s)) | Some(AnyValue::Uri(s)) if s == NIL => String::new(),
            Some(AnyValue::String(s)) | Some(AnyValue::Uri(s)) => s.clone(),
            Some(AnyValue::Bool(b)) => b.to_string(),
            Some(AnyValue::Byte(n)) => n.to_string(),
            Some(AnyValue::Short(n)) => n.to_string(),
            Some(AnyValue::Int(n)) => n.to_string(),
            Some(AnyValue::Long(n)) => n.to_string(),
            Some(_) => {
                return Err(Error::invalid(
                    &ov.key,
                    "extraConfig value is neither a string nor a number",
                ))
            }
        };
        if let Some(other) = folded.insert(ov.key.to_ascii_lowercase(), ov.key.clone()) {
            return Err(Error::Collision {
                key: ov.key.clone(),
                other,
            });
        }
        out.insert(ov.key.clone(), text);
    }
    Ok(out)
}

/// Encodes `value` (current layout) as the options of a `VirtualMachineConfigSpec`.
pub fn encode<T: ExtraConfig>(value: &T) -> Result<Vec<AnyOptionValue>, Error> {
    Ok(to_option_values(&crate::to_extra_config(value)?))
}

/// Decodes a `T` from a VM's `config.extraConfig` (layout detected).
pub fn decode<T: ExtraConfig + Default, O: AsOptionValue>(values: &[O]) -> Result<T, Error> {
    crate::from_extra_config(&from_option_values(values)?)
}

/// The options that turn a VM's current `extraConfig` into the encoding of
/// `desired` (see [`crate::delta::delta`]): only changed keys are sent, keys `T` owns
/// and no longer writes are deleted, in the layout the VM has.
pub fn encode_delta<T: ExtraConfig + Default, O: AsOptionValue>(
    current: &[O],
    desired: &T,
) -> Result<Vec<AnyOptionValue>, Error> {
    let current = from_option_values(current)?;
    Ok(changes_to_option_values(&crate::delta::delta(
        &current, desired,
    )?))
}

impl From<Error> for vim25_core::Error {
    fn from(e: Error) -> Self {
        vim25_core::Error::convert("extraConfig", e)
    }
}
