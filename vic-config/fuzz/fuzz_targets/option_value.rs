//! vSphere `OptionValue` lists: see `option_value` in `../checks_vim25.rs`.
#![no_main]

// `reads_back_alike` of the shared checks.
#[path = "../checks.rs"]
mod checks;
#[path = "../checks_vim25.rs"]
mod checks_vim25;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks_vim25::option_value(data));
