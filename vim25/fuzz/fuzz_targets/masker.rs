//! The wire-dump masker `mask_secrets`: see `masker` in `../checks.rs`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::masker(data));
