//! The `.vmx` parser: see `vmx_parse` in `../checks.rs`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::vmx_parse(data));
