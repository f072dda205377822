//! vSphere `OptionValue` lists (`VirtualMachineConfigInfo.extraConfig`,
//! `VirtualMachineConfigSpec.extraConfig`).
//!
//! vSphere deletes a key whose value is empty, so an empty string is sent as `<nil>`
//! and `<nil>` is read back as empty; a deletion is sent as a truly empty value.
//!
//! ```
//! use vic_config::delta::Change;
//! use vic_config::option_value::{changes_to_option_values, from_option_values};
//! let spec = changes_to_option_values(&[
//!     Change::Set { key: "guestinfo.vice./repo".into(), value: "".into() },
//!     Change::Delete { key: "guestinfo.vice./old".into() },
//! ]);
//! let back = from_option_values(&spec[..1])?;
//! assert_eq!(back["guestinfo.vice./repo"], "");
//! # Ok::<(), vic_config::Error>(())
//! ```

use std::collections::BTreeMap;

use vim25_core::types::AnyValue;
use vim25_core::types::OptionValue;

use crate::delta::Change;
use crate::Error;

/// What VIC sends for an empty string, since vSphere deletes empty values.
pub const NIL: &str = "<nil>";

fn option(key: &str, value: String) -> OptionValue {
    OptionValue {
        key: key.to_owned(),
        value: Some(AnyValue::String(value)),
        ..Default::default()
    }
}

/// One `OptionValue` per entry, empty strings escaped as `<nil>`.
pub fn to_option_values(map: &BTreeMap<String, String>) -> Vec<OptionValue> {
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

/// The `OptionValue`s of a delta: sets (empty → `<nil>`) and deletions (empty value).
pub fn changes_to_option_values(changes: &[Change]) -> Vec<OptionValue> {
    changes
        .iter()
        .map(|c| match c {
            Change::Set { key, value } if value.is_empty() => option(key, NIL.to_owned()),
            Change::Set { key, value } => option(key, value.clone()),
            Change::Delete { key } => option(key, String::new()),
        })
        .collect()
}

/// The map of an `extraConfig` list; `<nil>` reads as empty. Values that are not
/// strings are taken in their text form (numbers, booleans); others are an error
/// naming the key. A key listed twice (also only by letter case) is an error.
pub fn from_option_values(values: &[OptionValue]) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    let mut folded = std::collections::HashMap::new();
    for ov in values {
        let text = match &ov.value {
            None | Some(AnyValue::Null) => String::new(),
            Some(AnyValue::String(s)) | Some(AnyValue::Uri(s)) => {
                if s == NIL {
                    String::new()
                } else {
                    s.clone()
                }
            }
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
