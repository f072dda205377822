//! The check of the `option_value` fuzz target (needs vic-config's `vim25` feature),
//! shared like `checks.rs`: the target includes it, and so does
//! `tests/fuzz_corpus.rs`.
#![allow(dead_code)]

use vic_config::model::{ExecutorConfig, VchConfig};
use vic_config::option_value::{decode, encode, from_option_values, to_option_values};
use vic_config::{ExtraConfig, NIL};
use vim25_core::types::{AnyOptionValue, AnyValue, DateTime, OptionValue};

/// `OptionValue` lists as a VM's `config.extraConfig` holds them, one option per
/// line `<type><key>=<value>`, the type a letter: `s` string, `u` anyURI, `b`
/// boolean, `i` int, `l` long, `h` short, `y` byte (numbers parsed from the value),
/// `n` no value, `0` an xsd null, `d` dateTime (not text: an error), anything else
/// a string. The map of the list never panics; it reads `<nil>` as empty and
/// round-trips through [`to_option_values`]; a model decoded from the list encodes
/// to options that decode to it again.
pub fn option_value(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let values: Vec<AnyOptionValue> = text.lines().map(option).collect();
    if let Ok(map) = from_option_values(&values) {
        for ov in &values {
            let v = &map[&ov.key];
            match &ov.value {
                Some(AnyValue::String(s)) if s != NIL => assert_eq!(v, s),
                Some(AnyValue::String(_)) | None | Some(AnyValue::Null) => assert_eq!(v, ""),
                _ => {}
            }
        }
        let options = to_option_values(&map);
        assert_eq!(
            from_option_values(&options).expect("written options read"),
            map
        );
    }
    model_round_trip::<VchConfig>(&values);
    model_round_trip::<ExecutorConfig>(&values);
}

fn model_round_trip<T>(values: &[AnyOptionValue])
where
    T: ExtraConfig + Default + PartialEq + std::fmt::Debug,
{
    if let Ok(v) = decode::<T, _>(values) {
        if let Ok(options) = encode(&v) {
            let back: T = decode(&options).expect("encoded options decode");
            crate::checks::reads_back_alike(&back, &v);
        }
    }
}

fn option(line: &str) -> AnyOptionValue {
    let (tag, rest) = match line.chars().next() {
        Some(c) => (c, &line[c.len_utf8()..]),
        None => ('s', ""),
    };
    let (key, v) = rest.split_once('=').unwrap_or((rest, ""));
    let value = match tag {
        'u' => Some(AnyValue::Uri(v.into())),
        'b' => Some(AnyValue::Bool(v == "true")),
        'i' => Some(AnyValue::Int(v.parse().unwrap_or_default())),
        'l' => Some(AnyValue::Long(v.parse().unwrap_or_default())),
        'h' => Some(AnyValue::Short(v.parse().unwrap_or_default())),
        'y' => Some(AnyValue::Byte(v.parse().unwrap_or_default())),
        'n' => None,
        '0' => Some(AnyValue::Null),
        'd' => Some(AnyValue::DateTime(DateTime(v.into()))),
        _ => Some(AnyValue::String(v.into())),
    };
    OptionValue {
        key: key.into(),
        value,
        ..Default::default()
    }
    .into()
}
