//! The checks of vic-config's fuzz targets, one function per target. Shared, not
//! copied: each target in `fuzz_targets/` includes this file, and so does the
//! crate's `tests/fuzz_corpus.rs`, which runs every committed seed and corpus input
//! through the same function in CI. A check panics when an invariant breaks.
#![allow(dead_code)]

use std::collections::BTreeMap;
use vic_config::delta::{delta as compute_delta, Change};
use vic_config::migrate::{migrate, Kind};
use vic_config::model::{ExecutorConfig, VchConfig};
use vic_config::vmx::{escape, unescape, VmxFile};
use vic_config::{
    from_extra_config, to_extra_config, Error, ExtraConfig, SecretKey, NIL, SECRET_KEY_KEY,
};

/// The `.vmx` parser: never panics, and what it parsed writes back to text that
/// parses to the same entries.
pub fn vmx_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    assert_eq!(unescape(&escape(text)), text);
    if let Ok(file) = VmxFile::parse(text) {
        let written = file.to_string();
        let again = VmxFile::parse(&written).expect("written text parses");
        assert_eq!(again.to_map(), file.to_map());
    }
}

/// The decoder: arbitrary `.vmx` text decoded into the VCH and containerVM models
/// (and migrated) never panics; whatever decodes and encodes decodes again to the
/// same value.
pub fn decode(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = VmxFile::parse(text) else {
        return;
    };
    decode_round_trip::<VchConfig>(&file);
    decode_round_trip::<ExecutorConfig>(&file);
    let mut map = file.to_map();
    let _ = migrate(&mut map, Kind::Vch);
    let _ = migrate(&mut map, Kind::Container);
}

fn decode_round_trip<T>(file: &VmxFile)
where
    T: ExtraConfig + Default + PartialEq + std::fmt::Debug,
{
    if let Ok(v) = from_extra_config::<T>(file) {
        if let Ok(map) = to_extra_config(&v) {
            let back: T = from_extra_config(&map).expect("encoded value decodes");
            reads_back_alike(&back, &v);
        }
    }
}

/// What a value that went through extraConfig must be: itself, or, where it held
/// `Some` of an empty collection or of a struct none of whose fields writes a key
/// (which writes nothing and reads back `None`, lossy on purpose: see the `Value`
/// impl of `Option`), a value that writes the same extraConfig and reads back as
/// itself.
pub fn reads_back_alike<T>(back: &T, original: &T)
where
    T: ExtraConfig + Default + PartialEq + std::fmt::Debug,
{
    if back == original {
        return;
    }
    assert_eq!(
        written(back),
        written(original),
        "reads back as another value that writes other keys or values:\n{back:?}\n{original:?}"
    );
    let again: T = from_extra_config(&to_extra_config(back).expect("a decoded value encodes"))
        .expect("encoded value decodes");
    assert_eq!(&again, back, "not stable after one round trip");
}

/// The extraConfig a value writes, sealed values blanked: a secret is sealed with a
/// fresh nonce (and, with no key given, under a fresh key) each time.
fn written<T: ExtraConfig>(v: &T) -> Option<BTreeMap<String, String>> {
    let map = to_extra_config(v).ok()?;
    Some(
        map.into_iter()
            .map(|(k, v)| {
                let sealed = k.contains("@secret") || k == SECRET_KEY_KEY;
                (k, if sealed { String::new() } else { v })
            })
            .collect(),
    )
}

/// Sealed values: opening arbitrary stored text (either format, `v2:` bound or VIC's
/// unbound secretbox) at an arbitrary key never panics, and a value sealed for one
/// key opens only at that key. The first line is the key, the rest the stored value.
pub fn sealed(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (key, stored) = text.split_once('\n').unwrap_or((text, ""));
    let master = SecretKey::from_bytes([7; 32]);
    let _ = master.open(key, stored);

    // Binding: what is sealed for `key` opens there, and nowhere else.
    let sealed = master.seal(key, stored).expect("sealing does not fail");
    assert_eq!(master.open(key, &sealed).expect("opens at its key"), stored);
    let other = format!("{key}x");
    assert!(matches!(
        master.open(&other, &sealed),
        Err(Error::SealedForAnotherKey { .. })
    ));
}

/// Deltas: the text is two `.vmx` files separated by a line `---`, a VM's current
/// extraConfig and one the desired value decodes from (the default value when it
/// does not). For the VCH and containerVM models: the delta never panics; it
/// changes each key once, deletes only keys present; applied as vSphere applies it
/// (an empty value sent as `<nil>`), the VM's extraConfig decodes to the desired
/// value, and the delta from there is empty.
pub fn delta(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (current, desired) = text.split_once("\n---\n").unwrap_or((text, ""));
    let (Ok(current), Ok(desired)) = (VmxFile::parse(current), VmxFile::parse(desired)) else {
        return;
    };
    let current = current.to_map();
    delta_applies::<VchConfig>(&current, &desired);
    delta_applies::<ExecutorConfig>(&current, &desired);
}

fn delta_applies<T>(current: &BTreeMap<String, String>, desired: &VmxFile)
where
    T: ExtraConfig + Default + PartialEq + std::fmt::Debug,
{
    let desired: T = from_extra_config(desired).unwrap_or_default();
    let Ok(changes) = compute_delta(current, &desired) else {
        return;
    };
    for w in changes.windows(2) {
        assert!(w[0].key() < w[1].key(), "not sorted or twice: {changes:?}");
    }
    let applied = apply(current, &changes);
    let back: T = from_extra_config(&applied)
        .unwrap_or_else(|e| panic!("the delta's result does not decode: {e}\n{changes:?}"));
    reads_back_alike(&back, &desired);
    let again = compute_delta(&applied, &desired).expect("a second delta");
    assert_eq!(again, vec![], "a delta after applying the delta");
}

/// `current` with `changes` made as vSphere makes them: an empty value is stored as
/// [`NIL`]. Panics when a change deletes a key that is not there.
pub fn apply(current: &BTreeMap<String, String>, changes: &[Change]) -> BTreeMap<String, String> {
    let mut applied = current.clone();
    for c in changes {
        match c {
            Change::Set { key, value } if value.is_empty() => {
                applied.insert(key.clone(), NIL.to_owned())
            }
            Change::Set { key, value } => applied.insert(key.clone(), value.clone()),
            Change::Delete { key } => Some(
                applied
                    .remove(key)
                    .unwrap_or_else(|| panic!("deletes {key:?}, which is not there")),
            ),
        };
    }
    applied
}
