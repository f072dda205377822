//! The decoder: arbitrary `.vmx` text decoded into the VCH and containerVM models
//! (and migrated) never panics; whatever decodes and encodes decodes again to the
//! same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vic_config::migrate::{migrate, Kind};
use vic_config::model::{ExecutorConfig, VchConfig};
use vic_config::vmx::VmxFile;
use vic_config::{from_extra_config, to_extra_config};

fn round_trip<T>(file: &VmxFile)
where
    T: vic_config::ExtraConfig + Default + PartialEq + std::fmt::Debug,
{
    if let Ok(v) = from_extra_config::<T>(file) {
        if let Ok(map) = to_extra_config(&v) {
            let back: T = from_extra_config(&map).expect("encoded value decodes");
            assert_eq!(back, v);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = VmxFile::parse(text) else {
        return;
    };
    round_trip::<VchConfig>(&file);
    round_trip::<ExecutorConfig>(&file);
    let mut map = file.to_map();
    let _ = migrate(&mut map, Kind::Vch);
    let _ = migrate(&mut map, Kind::Container);
});
