//! The check of the `json` fuzz target (needs vim25-core's `serde` feature), shared
//! like `checks.rs`: the target includes it, and so does `tests/fuzz_corpus.rs`.
#![allow(dead_code)]

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use vim25_core::mo::VirtualMachine;
use vim25_core::types::{AnyEvent, AnyValue, RetrieveResult, VirtualMachineConfigSpec};

/// Any bytes as vSphere JSON for an `anyType` value and a few data objects and
/// managed objects: never panics; what decodes encodes to JSON that decodes to the
/// same value (compared as JSON text too, for NaN) and encodes to the same text.
pub fn json(data: &[u8]) {
    round_trip::<AnyValue>(data);
    round_trip::<VirtualMachineConfigSpec>(data);
    round_trip::<RetrieveResult>(data);
    round_trip::<AnyEvent>(data);
    round_trip::<VirtualMachine>(data);
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<T>(data) else {
        return;
    };
    let text = serde_json::to_string(&v).expect("a decoded value encodes");
    let back: T = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("encoder output does not decode: {e}\n{text}"));
    let again = serde_json::to_string(&back).expect("a decoded value encodes");
    assert_eq!(again, text, "{}", std::any::type_name::<T>());
    #[allow(clippy::eq_op)]
    if v == v {
        assert_eq!(back, v, "{text}");
    }
}
