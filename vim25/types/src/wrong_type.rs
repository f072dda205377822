//! A managed object asked for as a type it is not ([`WrongType`]), and the managed-object
//! type hierarchy it is judged by ([`is_a`]). Both are re-exported by `vim25_core::mo`.

use crate::types::ManagedObjectReference;
use std::fmt;

/// A managed object was asked for as a type it is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongType {
    /// The type asked for (`VirtualMachine`).
    pub expected: &'static str,
    /// The object, whose `type_` is what it really is.
    pub obj: ManagedObjectReference,
}

impl fmt::Display for WrongType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let actual = &self.obj.type_;
        if is_a(actual, self.expected) {
            // Only `TryFrom<AnyManagedObject>` gets here: it takes the exact variant.
            write!(
                f,
                "{} is a {actual}, a subtype of {}: it converts only to mo::{actual} (retrieve it as mo::{} to read it as that)",
                self.obj, self.expected, self.expected
            )
        } else {
            write!(f, "{} is a {actual}, not a {}", self.obj, self.expected)
        }
    }
}

impl std::error::Error for WrongType {}

/// Whether managed object type `type_name` is `ancestor` or derives from it
/// (`VirtualMachine` is a `ManagedEntity`). Unknown names are only themselves.
pub fn is_a(type_name: &str, ancestor: &str) -> bool {
    let table = crate::generated::registry::MANAGED_OBJECT_PARENTS;
    let mut current = type_name;
    // The depth bound only guards against a cycle in (generated) data.
    for _ in 0..16 {
        if current == ancestor {
            return true;
        }
        match table.binary_search_by(|(name, _)| (*name).cmp(current)) {
            Ok(i) => match table[i].1 {
                Some(p) => current = p,
                None => return false,
            },
            Err(_) => return false,
        }
    }
    false
}
