//! Sealed values: opening arbitrary stored text (either format, `v2:` bound or VIC's
//! unbound secretbox) at an arbitrary key never panics, and a value sealed for one
//! key opens only at that key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vic_config::{Error, SecretKey};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line is the key, the rest the stored value.
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
});
