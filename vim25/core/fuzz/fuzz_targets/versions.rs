//! `vimServiceVersions.xml` and WSDL detection: see `versions` in `../checks.rs`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::versions(data));
