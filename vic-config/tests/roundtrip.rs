//! Property tests: arbitrary values of a nested model round-trip through the flat
//! map (both layouts) and through `.vmx` text; arbitrary input never panics.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use vic_config::types::{Ip, IpNet, Timestamp};
use vic_config::vmx::{escape, unescape, write_lines, VmxFile};
use vic_config::{
    extra_config, from_extra_config, to_extra_config_with, EncodeOptions, Layout, Secret,
};

#[derive(Debug, Clone, Default, PartialEq)]
struct Model {
    name: String,
    count: i64,
    size: u64,
    ratio: f64,
    small: f32,
    flag: bool,
    timeout: Duration,
    maybe: Option<String>,
    args: Vec<String>,
    numbers: Vec<u32>,
    addrs: Vec<Ip>,
    net: IpNet,
    children: Vec<Child>,
    by_name: BTreeMap<String, Child>,
    labels: BTreeMap<String, String>,
    extra: Option<Child>,
    token: Secret<String>,
    created: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Child {
    id: String,
    state: Option<i32>,
    grand: Option<Grand>,
    notes: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Grand {
    value: u16,
    tags: Vec<String>,
}

extra_config! { Model {
    name: "Name" [read_only],
    count: "count" [read_write],
    size: "size",
    ratio: "ratio" [read_only],
    small: "small" [read_write],
    flag: "flag" [hidden],
    timeout: "timeout" [read_only],
    maybe: "maybe" [read_only],
    args: "Args" [read_only],
    numbers: "numbers" [read_write],
    addrs: "addrs" [read_only],
    net: "net" [read_write],
    children: "children" [read_only],
    by_name: "by_name" [read_only],
    labels: "labels" [hidden],
    extra: "extra" [read_only, non_persistent],
    token: "token" [secret],
    created: "created" [read_only],
}}

extra_config! { Child {
    id: "id" [read_only],
    state: "state" [read_write],
    grand: "grand",
    notes: "notes" [hidden],
}}

extra_config! { Grand {
    value: "value",
    tags: "tags" [read_write],
}}

fn text() -> impl Strategy<Value = String> {
    // Any characters, the format's separators and escapes included.
    prop_oneof![
        "[a-zA-Z0-9 ./|~@#\"=\\-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

fn element() -> impl Strategy<Value = String> {
    // A primitive slice element must not contain `|` (refused, see defect 1).
    text().prop_map(|s| s.replace('|', ""))
}

fn map_key() -> impl Strategy<Value = String> {
    "[a-z0-9-]{0,8}"
}

fn ip() -> impl Strategy<Value = Ip> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| Ip::V4(b.into())),
        any::<[u8; 16]>().prop_map(|b| Ip::V6(b.into())),
    ]
}

fn float64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("NaN != NaN", |f| !f.is_nan()),
        Just(f64::INFINITY)
    ]
}

fn grand() -> impl Strategy<Value = Grand> {
    (any::<u16>(), prop::collection::vec(element(), 0..3))
        .prop_map(|(value, tags)| Grand { value, tags })
}

fn child() -> impl Strategy<Value = Child> {
    (
        text(),
        any::<Option<i32>>(),
        prop::option::of(grand()),
        text(),
    )
        .prop_map(|(id, state, grand, notes)| Child {
            id,
            state,
            grand,
            notes,
        })
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (
        -62_135_596_800i64..253_402_300_799,
        0u32..1_000_000_000,
        -50_400i32..50_400,
        "[A-Z]{3}",
    )
        .prop_map(|(s, n, off, zone)| Timestamp {
            unix_seconds: s,
            nanos: n,
            offset_seconds: off / 60 * 60,
            zone,
        })
}

fn model() -> impl Strategy<Value = Model> {
    let a = (
        text(),
        any::<i64>(),
        any::<u64>(),
        float64(),
        any::<f32>().prop_filter("NaN != NaN", |f| !f.is_nan()),
        any::<bool>(),
        (0u64..i64::MAX as u64).prop_map(Duration::from_nanos),
        prop::option::of(text()),
        prop::collection::vec(element(), 0..4),
    );
    let b = (
        prop::collection::vec(any::<u32>(), 0..4),
        prop::collection::vec(ip(), 0..3),
        (prop::option::of(ip()), prop::option::of(any::<[u8; 4]>())),
        prop::collection::vec(child(), 0..3),
        prop::collection::btree_map(map_key(), child(), 0..3),
        prop::collection::btree_map(map_key(), text(), 0..3),
        prop::option::of(child()),
        text(),
        prop::option::of(timestamp()),
    );
    (a, b).prop_map(
        |(
            (name, count, size, ratio, small, flag, timeout, maybe, args),
            (numbers, addrs, (nip, nmask), children, by_name, labels, extra, token, created),
        )| Model {
            name,
            count,
            size,
            ratio,
            small,
            flag,
            timeout,
            maybe,
            args,
            numbers,
            addrs,
            net: IpNet {
                ip: nip,
                mask: nmask.map(|m| vic_config::types::IpMask(m.to_vec())),
            },
            children,
            by_name,
            labels,
            extra,
            token: Secret::new(token),
            created,
        },
    )
}

/// What a round trip gives back: a hidden field under the non-persistent `extra` is
/// not written (the format cannot combine the two).
fn expected(mut m: Model) -> Model {
    if let Some(e) = &mut m.extra {
        e.notes.clear();
    }
    m
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![Just(Layout::Current), Just(Layout::Legacy)]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_models_round_trip_through_the_map(m in model(), layout in layout()) {
        let map = to_extra_config_with(&m, EncodeOptions { layout, ..Default::default() }).unwrap();
        let back: Model = from_extra_config(&map).unwrap();
        prop_assert_eq!(back, expected(m));
    }

    #[test]
    fn arbitrary_models_round_trip_through_vmx_text(m in model()) {
        let map = to_extra_config_with(&m, EncodeOptions::default()).unwrap();
        let text = write_lines(&map).unwrap();
        let file = VmxFile::parse(&text).unwrap();
        prop_assert_eq!(&file.to_map(), &map);
        let back: Model = from_extra_config(&file).unwrap();
        prop_assert_eq!(back, expected(m));
    }

    #[test]
    fn vmx_escaping_round_trips_any_text(s in any::<String>()) {
        prop_assert_eq!(unescape(&escape(&s)), s);
    }

    #[test]
    fn decoding_arbitrary_values_at_model_keys_never_panics(
        values in prop::collection::vec(text(), 12),
    ) {
        let keys = [
            "guestinfo.vice./Name", "guestinfo.vice..count", "size", "guestinfo.vice./Args",
            "guestinfo.vice./Args~", "guestinfo.vice./children", "guestinfo.vice./children|0/id",
            "guestinfo.vice./by_name", "guestinfo.vice./addrs", "guestinfo.vice./addrs|0",
            "guestinfo.vice./token@secret", "guestinfo.ovfEnv",
        ];
        let map: BTreeMap<String, String> =
            keys.iter().zip(values).map(|(k, v)| (k.to_string(), v)).collect();
        let _ = from_extra_config::<Model>(&map);
    }
}
