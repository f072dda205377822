//! Updates as deltas: only new or changed keys are sent, and keys the serializer owns
//! that the new value no longer has are deleted (an empty value deletes a key in
//! vSphere). Keys owned by others are never touched.
//!
//! ```
//! use std::collections::BTreeMap;
//! use vic_config::{delta::{delta, Change}, extra_config};
//!
//! #[derive(Default)]
//! struct Cfg { tags: Vec<String> }
//! extra_config! { Cfg { tags: "tags" [read_only] } }
//!
//! let mut vm: BTreeMap<String, String> = BTreeMap::new();
//! vm.insert("numa.autosize".into(), "1".into());          // vSphere's, not ours
//! vm.insert("guestinfo.vice./tags".into(), "0".into());
//! vm.insert("guestinfo.vice./tags~".into(), "a".into());
//! let changes = delta::<Cfg>(&vm, &Cfg { tags: vec![] })?;
//! assert_eq!(changes, vec![
//!     Change::Delete { key: "guestinfo.vice./tags".into() },
//!     Change::Delete { key: "guestinfo.vice./tags~".into() },
//! ]);
//! # Ok::<(), vic_config::Error>(())
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use crate::{
    decode_into, DecodeOptions, EncodeOptions, Error, ExtraConfig, Layout, SecretKey, Source, NIL,
    SECRET_KEY_KEY,
};

/// One change to a VM's extraConfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Set `key` to `value` (new or changed).
    Set {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Delete `key` (the serializer owns it and the new value no longer has it).
    Delete {
        /// The key.
        key: String,
    },
}

impl Change {
    /// The key changed.
    pub fn key(&self) -> &str {
        match self {
            Change::Set { key, .. } | Change::Delete { key } => key,
        }
    }
}

/// The keys of `current` that a `T` owns: those decoding `current` as a `T` reads.
pub fn owned_keys<T: ExtraConfig + Default>(
    current: &dyn Source,
) -> Result<BTreeSet<String>, Error> {
    let mut scratch = T::default();
    decode_into(current, &mut scratch, DecodeOptions::default())
}

/// The changes that turn `current` (a VM's extraConfig) into the encoding of
/// `desired`, in the layout of `current`, reusing its secret key. Secret values whose
/// plaintext did not change are not re-sent (a value VIC sealed stays as VIC wrote
/// it; a changed one is sealed in the bound format, see [`SecretKey`]).
///
/// When `current` holds a `guestinfo.ovfEnv` that is not a key (vSphere keeps a
/// vApp's OVF environment there) and `desired` has secrets to seal, this is an
/// [`Error::Secret`] naming `guestinfo.ovfEnv`: the key is never overwritten.
pub fn delta<T: ExtraConfig + Default>(
    current: &BTreeMap<String, String>,
    desired: &T,
) -> Result<Vec<Change>, Error> {
    let layout = Layout::detect_map(current);
    // A `guestinfo.ovfEnv` that is not a key of ours may be vSphere's own OVF
    // environment (vApp options use the same key). It is kept aside and only becomes
    // an error when a secret must be sealed: replacing it with a fresh key would
    // destroy data the serializer does not own.
    let (secret_key, foreign_ovf_env) = match current.get(SECRET_KEY_KEY) {
        Some(k) => match SecretKey::from_base64(k) {
            Ok(k) => (Some(k), None),
            Err(e) => (None, Some(e)),
        },
        None => (None, None),
    };
    let owned = owned_keys::<T>(current)?;
    let desired_map = crate::to_extra_config_with(
        desired,
        EncodeOptions {
            layout,
            secret_key: secret_key.clone(),
            ..EncodeOptions::default()
        },
    )?;
    if let Some(e) = foreign_ovf_env {
        if desired_map.contains_key(SECRET_KEY_KEY) {
            return Err(match e {
                Error::Secret { key, .. } => Error::Secret {
                    key,
                    reason: "holds something other than a key of ours (vSphere's OVF \
                             environment?); sealing a secret would overwrite it, refused",
                },
                other => other,
            });
        }
    }
    let changes = diff(current, &desired_map, &owned, secret_key.as_ref());
    // Keys `current` holds but does not reach (a map entry its index does not list,
    // left behind by a removal elsewhere) become reachable when the changes add the
    // entry back: they are owned too, and deleted unless `desired` writes them.
    let mut result = current.clone();
    for c in &changes {
        match c {
            Change::Set { key, value } => result.insert(key.clone(), value.clone()),
            Change::Delete { key } => result.remove(key),
        };
    }
    //
    // Such stale keys may not decode (they were never checked while unreachable): a
    // value the decoder refuses, a slice's length key that disagrees with the elements
    // stored, an index promising keys that are gone. Whatever the error, the keys the
    // failed decode read that are stale (held by `current`, unreachable there, not
    // written by `desired`) are ours and taken out, counted as stale, and the decode
    // runs again; each round takes out at least one key. A failure that reads no stale
    // key is not one of theirs, and is returned rather than a delta whose result does
    // not decode.
    let mut stale = BTreeSet::new();
    let reached = loop {
        let reading = Reading::new(&result);
        match owned_keys::<T>(&reading) {
            Ok(reached) => break reached,
            Err(e) => {
                let found: Vec<String> = reading
                    .read
                    .into_inner()
                    .into_iter()
                    .filter(|k| !owned.contains(k) && !desired_map.contains_key(k))
                    .collect();
                if found.is_empty() {
                    return Err(e);
                }
                for k in found {
                    result.remove(&k);
                    stale.insert(k);
                }
            }
        }
    };
    if stale.is_empty() && reached.is_subset(&owned) {
        return Ok(changes);
    }
    let owned: BTreeSet<String> = owned.union(&reached).chain(&stale).cloned().collect();
    Ok(diff(current, &desired_map, &owned, secret_key.as_ref()))
}

/// A map as a decoder's [`Source`], noting every key the decoder found in it.
struct Reading<'a> {
    map: &'a BTreeMap<String, String>,
    read: RefCell<BTreeSet<String>>,
}

impl<'a> Reading<'a> {
    fn new(map: &'a BTreeMap<String, String>) -> Self {
        Reading {
            map,
            read: RefCell::new(BTreeSet::new()),
        }
    }
}

impl Source for Reading<'_> {
    fn get(&self, key: &str) -> Result<Option<String>, Error> {
        let value = self.map.get(key).cloned();
        if value.is_some() {
            self.read.borrow_mut().insert(key.to_owned());
        }
        Ok(value)
    }
    fn detect_layout(&self) -> Option<Layout> {
        Source::detect_layout(self.map)
    }
}

/// The changes from `current` to `desired`: keys new or changed in `desired` are
/// set; keys in `owned` that `desired` lacks are deleted. A [`NIL`] in `current`
/// is the empty string, as the decoder reads it. With `secret_key`, a sealed value
/// is only re-sent when its plaintext changed.
pub fn diff(
    current: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
    owned: &BTreeSet<String>,
    secret_key: Option<&SecretKey>,
) -> Vec<Change> {
    let mut out = Vec::new();
    for (k, v) in desired {
        let unchanged = match current.get(k) {
            Some(old) if old == v || (old == NIL && v.is_empty()) => true,
            Some(old) if k.contains("@secret") => match secret_key {
                Some(sk) => match (sk.open(k, old), sk.open(k, v)) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => false,
                },
                None => false,
            },
            _ => false,
        };
        if !unchanged {
            out.push(Change::Set {
                key: k.clone(),
                value: v.clone(),
            });
        }
    }
    for k in owned {
        if current.contains_key(k) && !desired.contains_key(k) {
            out.push(Change::Delete { key: k.clone() });
        }
    }
    out.sort_by(|a, b| a.key().cmp(b.key()));
    out
}

/// Keeps the changes that may be made while the VM is powered on: keys written
/// through the API under `guestinfo.` do not survive power-off unless they are
/// non-persistent, so only hidden and `@non-persistent` keys are kept.
pub fn for_running_vm(changes: Vec<Change>) -> Vec<Change> {
    changes
        .into_iter()
        .filter(|c| !c.key().starts_with("guestinfo.") || c.key().ends_with("@non-persistent"))
        .collect()
}
