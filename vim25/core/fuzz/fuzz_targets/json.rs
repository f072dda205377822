//! Any bytes as vSphere JSON: see `json` in `../checks_json.rs`.
#![no_main]

#[path = "../checks_json.rs"]
mod checks_json;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks_json::json(data));
