//! The crate's one error type.

/// Everything that can go wrong while mapping values to and from extraConfig.
///
/// Every variant that concerns a key names it. No variant ever carries the value of a
/// secret field: where a value is quoted to explain a failure, it is a non-secret one
/// and cut to a short prefix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value could not be read as the type its field has.
    #[error("key `{key}`: {reason}")]
    Invalid {
        /// The key whose value is bad.
        key: String,
        /// What was expected, and (for non-secret keys) what was found.
        reason: String,
    },
    /// A key that an index or a length promised is not there.
    #[error("key `{key}` is missing ({reason})")]
    Missing {
        /// The key that should exist.
        key: String,
        /// Which index or length pointed at it.
        reason: String,
    },
    /// A slice index says there are more (or fewer) elements than are stored.
    #[error("key `{key}`: the index says {expected} element(s) but {found} are stored")]
    Length {
        /// The index key.
        key: String,
        /// Elements announced by the index key (last index + 1).
        expected: u64,
        /// Elements found.
        found: u64,
    },
    /// Two values would be written under the same key (also when the keys differ
    /// only in letter case, which the VMX key lookup does not tell apart).
    #[error("key `{key}` collides with key `{other}` (keys are compared ignoring letter case, as VMX does)")]
    Collision {
        /// The key being written.
        key: String,
        /// The key already written.
        other: String,
    },
    /// Two map keys listed under one index key differ only in letter case or in
    /// `.` versus `/`: VMX looks keys up ignoring case, and VIC rewrites separators
    /// inside map keys, so both would read (or write) the same entry. Refused on
    /// encode and on decode, rather than reading one entry twice.
    #[error("key `{key}`: map keys {first:?} and {second:?} differ only in letter case or `.`/`/`, so they resolve to one entry (refused)")]
    Alias {
        /// The map's index key.
        key: String,
        /// The map key met first.
        first: String,
        /// The map key that aliases it.
        second: String,
    },
    /// A string cannot be stored losslessly under this key: it contains a separator
    /// of the format (`|` inside a primitive slice element or a map key).
    #[error("key `{key}`: {reason}")]
    Unrepresentable {
        /// The key that would be corrupted.
        key: String,
        /// Why.
        reason: String,
    },
    /// A value nested deeper than the recursion limit.
    #[error("key `{key}`: nested deeper than the recursion limit of {limit}")]
    TooDeep {
        /// The key at which the limit was reached.
        key: String,
        /// The limit.
        limit: u32,
    },
    /// A secret field could not be sealed or opened.
    #[error("secret key `{key}`: {reason}")]
    Secret {
        /// The secret field's key.
        key: String,
        /// Why (never the plaintext).
        reason: &'static str,
    },
    /// A sealed value that does not open at the key it was found at, although it was
    /// sealed under the VM's key: it was sealed for another key (moved or swapped
    /// from another secret field) or altered. Values are bound to their key; see
    /// [`SecretKey`](crate::SecretKey).
    #[error("secret key `{key}`: the sealed value was sealed for another key (moved or swapped) or altered")]
    SealedForAnotherKey {
        /// The key the value was found at.
        key: String,
    },
    /// `.vmx` text that is not `key = "value"` lines.
    #[error(".vmx line {line}: {reason}")]
    Vmx {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A migration step failed.
    #[error("migration to layout version {version}, key `{key}`: {reason}")]
    Migration {
        /// The version the step lifts the data to.
        version: u32,
        /// The key involved.
        key: String,
        /// Why.
        reason: String,
    },
    /// A field path that leads to no key of the type it was looked up in
    /// ([`key_of`](crate::key_of)).
    #[error("field path `{path}`: {reason}")]
    FieldPath {
        /// The path as given.
        path: String,
        /// Which segment does not resolve, and why.
        reason: String,
    },
    /// The in-guest guestinfo channel failed.
    #[error("guestinfo key `{key}`: {reason}")]
    Guest {
        /// The key being read or written.
        key: String,
        /// Why.
        reason: String,
    },
    /// A vSphere call made on the way failed (feature `vim25`): lets a function that
    /// returns this crate's error use `?` on `vim25` calls.
    #[cfg(feature = "vim25")]
    #[error(transparent)]
    Vim25(Box<vim25_core::Error>),
}

#[cfg(feature = "vim25")]
impl From<vim25_core::Error> for Error {
    fn from(e: vim25_core::Error) -> Self {
        Error::Vim25(Box::new(e))
    }
}

impl Error {
    pub(crate) fn invalid(key: &str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    /// The key the error is about, where there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::Invalid { key, .. }
            | Error::Missing { key, .. }
            | Error::Length { key, .. }
            | Error::Collision { key, .. }
            | Error::Alias { key, .. }
            | Error::Unrepresentable { key, .. }
            | Error::TooDeep { key, .. }
            | Error::Secret { key, .. }
            | Error::SealedForAnotherKey { key }
            | Error::Migration { key, .. }
            | Error::Guest { key, .. } => Some(key),
            Error::Vmx { .. } | Error::FieldPath { .. } => None,
            #[cfg(feature = "vim25")]
            Error::Vim25(_) => None,
        }
    }
}

/// Quotes a (non-secret) value for an error message, cut to a short prefix.
pub(crate) fn quote(value: &str) -> String {
    const MAX: usize = 64;
    if value.chars().count() <= MAX {
        format!("{value:?}")
    } else {
        let cut: String = value.chars().take(MAX).collect();
        format!("{cut:?}…")
    }
}
