//! The `.vmx` parser: never panics, and what it parsed writes back to text that
//! parses to the same entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vic_config::vmx::{escape, unescape, VmxFile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    assert_eq!(unescape(&escape(text)), text);
    if let Ok(file) = VmxFile::parse(text) {
        let written = file.to_string();
        let again = VmxFile::parse(&written).expect("written text parses");
        assert_eq!(again.to_map(), file.to_map());
    }
});
