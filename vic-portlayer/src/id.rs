//! Identifiers: 64-hex container, image and session IDs.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A container's ID: 64 lower-case hex digits, as Docker's. The containerVM is named
/// by it, so it is also the key that finds the VM after a control-plane restart.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerId(String);

impl ContainerId {
    /// A new random ID (from the operating system's random source).
    pub fn random() -> Self {
        ContainerId(random_hex(32))
    }

    /// The full 64-digit form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 12-digit form `docker ps` shows.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }

    /// Whether `s` has the shape of a container ID.
    pub fn is_valid(s: &str) -> bool {
        s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
}

impl FromStr for ContainerId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if ContainerId::is_valid(s) {
            Ok(ContainerId(s.to_string()))
        } else {
            Err(Error::InvalidInput(format!(
                "{s:?} is not a container ID (64 lower-case hex digits)"
            )))
        }
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContainerId({})", self.short())
    }
}

impl AsRef<str> for ContainerId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// `n` random bytes as lower-case hex (`2n` digits).
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // The OS random source failing is not something a caller can act on; a
    // time-and-counter fallback keeps IDs unique within the process.
    if getrandom::getrandom(&mut bytes).is_err() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let c = COUNTER.fetch_add(1, Ordering::Relaxed);
        for (i, b) in bytes.iter_mut().enumerate() {
            let x = nanos.rotate_left(i as u32 * 7) ^ c.rotate_left(i as u32 * 13) ^ (i as u64);
            *b = (x >> ((i % 8) * 8)) as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `s` is a non-empty name safe as one datastore path segment and one
/// extraConfig key segment: letters, digits, `-`, `_` and `.` (not starting with
/// `.`), at most 255 bytes.
pub fn is_safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        let id = ContainerId::random();
        assert!(ContainerId::is_valid(id.as_str()));
        assert_eq!(id.short().len(), 12);
        assert_ne!(id, ContainerId::random());
        assert!("ABC".parse::<ContainerId>().is_err());
        assert!(id.as_str().parse::<ContainerId>().is_ok());
        assert!(is_safe_name("default"));
        assert!(!is_safe_name("../x"));
        assert!(!is_safe_name(""));
    }
}
