//! Value codecs (section 3), decoding rules (section 4), recursion limits and skips.

use std::collections::BTreeMap;
use std::time::Duration;

use vic_config::types::{Ip, IpMask, IpNet, ObjectRef, Timestamp, Url};
use vic_config::{
    decode_into, extra_config, from_extra_config, to_extra_config, DecodeOptions, Error,
};

type Map = BTreeMap<String, String>;

fn map(pairs: &[(&str, &str)]) -> Map {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

macro_rules! one_field {
    ($name:ident, $t:ty) => {
        #[derive(Debug, Default, PartialEq, Clone)]
        struct $name {
            v: $t,
        }
        extra_config! { $name { v: "v" [read_only] } }
    };
}

one_field!(S, String);
one_field!(B, bool);
one_field!(I64, i64);
one_field!(I8, i8);
one_field!(U64, u64);
one_field!(U16, u16);
one_field!(F64, f64);
one_field!(F32, f32);
one_field!(D, Duration);
one_field!(T, Timestamp);
one_field!(Bytes, Vec<u8>);
one_field!(IpF, Ip);
one_field!(MaskF, IpMask);
one_field!(NetF, IpNet);
one_field!(UrlF, Url);
one_field!(RefF, ObjectRef);
one_field!(OptS, Option<String>);
one_field!(VecS, Vec<String>);
one_field!(VecU32, Vec<u32>);
one_field!(VecIp, Vec<Ip>);
one_field!(MapS, BTreeMap<String, String>);

const K: &str = "guestinfo.vice./v";

fn enc<T: vic_config::ExtraConfig>(v: &T) -> Map {
    to_extra_config(v).unwrap()
}

fn dec<T: vic_config::ExtraConfig + Default>(m: &Map) -> Result<T, Error> {
    from_extra_config(m)
}

#[test]
fn strings_are_stored_as_is() {
    let m = enc(&S {
        v: "a b|c\"d".into(),
    });
    assert_eq!(m[K], "a b|c\"d");
    assert_eq!(dec::<S>(&m).unwrap().v, "a b|c\"d");
}

#[test]
fn booleans_are_true_false_and_decode_accepts_go_forms() {
    assert_eq!(enc(&B { v: true })[K], "true");
    assert_eq!(enc(&B { v: false })[K], "false");
    for (t, want) in [
        ("1", true),
        ("t", true),
        ("T", true),
        ("TRUE", true),
        ("True", true),
        ("0", false),
        ("f", false),
        ("F", false),
        ("FALSE", false),
        ("False", false),
    ] {
        assert_eq!(dec::<B>(&map(&[(K, t)])).unwrap().v, want, "{t}");
    }
    assert!(dec::<B>(&map(&[(K, "yes")])).is_err());
}

#[test]
fn signed_and_unsigned_integers_are_decimal() {
    assert_eq!(enc(&I64 { v: -42 })[K], "-42");
    assert_eq!(enc(&U64 { v: u64::MAX })[K], "18446744073709551615");
    assert_eq!(dec::<U64>(&enc(&U64 { v: u64::MAX })).unwrap().v, u64::MAX);
    assert_eq!(dec::<U16>(&map(&[(K, "65535")])).unwrap().v, 65535);
    assert!(dec::<U16>(&map(&[(K, "65536")])).is_err());
    assert!(dec::<U64>(&map(&[(K, "-1")])).is_err());
    assert!(dec::<I8>(&map(&[(K, "128")])).is_err());
}

#[test]
fn floats_are_go_scientific_with_upper_case_e_and_shortest_digits() {
    assert_eq!(enc(&F64 { v: 2.71 })[K], "2.71E+00");
    assert_eq!(enc(&F64 { v: 0.0 })[K], "0E+00");
    assert_eq!(enc(&F64 { v: 1e-7 })[K], "1E-07");
    assert_eq!(enc(&F64 { v: -1.5e300 })[K], "-1.5E+300");
    assert_eq!(enc(&F64 { v: f64::INFINITY })[K], "+Inf");
    assert_eq!(enc(&F32 { v: 0.1 })[K], "1E-01");
    assert_eq!(enc(&F32 { v: 2.71 })[K], "2.71E+00");
    assert_eq!(dec::<F32>(&map(&[(K, "2.71E+00")])).unwrap().v, 2.71f32);
    assert_eq!(
        dec::<F64>(&map(&[(K, "-Inf")])).unwrap().v,
        f64::NEG_INFINITY
    );
    assert!(dec::<F64>(&map(&[(K, "NaN")])).unwrap().v.is_nan());
    for x in [
        0.1f64,
        1.0 / 3.0,
        123456789.125,
        f64::MIN_POSITIVE,
        f64::MAX,
    ] {
        assert_eq!(dec::<F64>(&enc(&F64 { v: x })).unwrap().v, x);
    }
}

#[test]
fn durations_are_decimal_nanoseconds() {
    let m = enc(&D {
        v: Duration::from_secs(300),
    });
    assert_eq!(m[K], "300000000000");
    assert_eq!(dec::<D>(&m).unwrap().v, Duration::from_secs(300));
    assert!(dec::<D>(&map(&[(K, "-5")])).is_err());
}

#[test]
fn timestamps_are_go_time_strings() {
    let t: Timestamp = "2009-11-10 23:00:00 +0000 UTC".parse().unwrap();
    assert_eq!(t.unix_seconds, 1_257_894_000);
    let m = enc(&T { v: t.clone() });
    assert_eq!(m[K], "2009-11-10 23:00:00 +0000 UTC");
    assert_eq!(dec::<T>(&m).unwrap().v, t);
    let frac: Timestamp = "2017-05-06 14:16:54.5 -0700 PDT".parse().unwrap();
    assert_eq!(frac.to_string(), "2017-05-06 14:16:54.5 -0700 PDT");
    assert_eq!(frac.unix_seconds, 1_494_105_414);
    assert_eq!(
        Timestamp::from_unix(0, 0).to_string(),
        "1970-01-01 00:00:00 +0000 UTC"
    );
}

#[test]
fn timestamps_tolerate_the_monotonic_clock_suffix() {
    let m = map(&[(K, "2009-11-10 23:00:00 +0000 UTC m=+0.000278696")]);
    let t = dec::<T>(&m).unwrap().v;
    assert_eq!(t.to_string(), "2009-11-10 23:00:00 +0000 UTC");
    assert!(dec::<T>(&map(&[(K, "2009-11-10 23:00:00 +0000 UTC x")])).is_err());
    assert!(dec::<T>(&map(&[(K, "2009-02-30 23:00:00 +0000 UTC")])).is_err());
}

#[test]
fn bytes_are_standard_base64_with_padding() {
    let m = enc(&Bytes {
        v: vec![1, 2, 3, 4],
    });
    assert_eq!(m[K], "AQIDBA==");
    assert_eq!(dec::<Bytes>(&m).unwrap().v, vec![1, 2, 3, 4]);
    assert!(enc(&Bytes { v: vec![] }).is_empty());
}

#[test]
fn ip_addresses_are_base64_of_raw_bytes_in_both_forms() {
    let m = enc(&IpF {
        v: "10.192.168.57".parse().unwrap(),
    });
    assert_eq!(m[K], "CsCoOQ==");
    let sixteen = map(&[(K, "AAAAAAAAAAAAAP//CgoKAQ==")]);
    let v = dec::<IpF>(&sixteen).unwrap();
    assert_eq!(v.v.octets().len(), 16);
    assert_eq!(v.v.to_ip_addr().to_string(), "10.10.10.1");
    assert_eq!(enc(&v), sixteen, "the 16-byte form stays 16 bytes");
    assert!(
        dec::<IpF>(&map(&[(K, "AQID")])).is_err(),
        "3 bytes is no IP"
    );
}

#[test]
fn ip_masks_are_base64_of_raw_bytes() {
    let m = map(&[(K, "///gAA==")]);
    let v = dec::<MaskF>(&m).unwrap();
    assert_eq!(v.v.prefix_len(), Some(19));
    assert_eq!(v.v.to_string(), "ffffe000");
    assert_eq!(IpMask::v4_prefix(19).unwrap(), v.v);
    assert_eq!(enc(&v), m);
}

#[test]
fn ip_networks_are_two_keys_ip_and_mask() {
    let v = NetF {
        v: IpNet {
            ip: Some("172.16.0.0".parse().unwrap()),
            mask: IpMask::v4_prefix(12),
        },
    };
    let m = enc(&v);
    assert_eq!(m["guestinfo.vice./v/IP"], "rBAAAA==");
    assert_eq!(m["guestinfo.vice./v/Mask"], "//AAAA==");
    assert_eq!(dec::<NetF>(&m).unwrap(), v);
}

#[test]
fn urls_are_one_key_per_component() {
    let v = UrlF {
        v: Url {
            scheme: "ds".into(),
            host: "vsanDatastore".into(),
            path: "volumes/default".into(),
            ..Url::default()
        },
    };
    let m = enc(&v);
    let ks: Vec<_> = m
        .keys()
        .map(|k| k.trim_start_matches("guestinfo.vice./v/"))
        .collect();
    assert_eq!(
        ks,
        [
            "ForceQuery",
            "Fragment",
            "Host",
            "Opaque",
            "Path",
            "RawPath",
            "RawQuery",
            "Scheme"
        ]
    );
    assert_eq!(m["guestinfo.vice./v/ForceQuery"], "false");
    assert_eq!(dec::<UrlF>(&m).unwrap(), v);
}

#[test]
fn object_references_are_type_and_value() {
    let v = RefF {
        v: ObjectRef {
            kind: "VirtualApp".into(),
            value: "resgroup-v364".into(),
        },
    };
    let m = enc(&v);
    assert_eq!(m["guestinfo.vice./v/Type"], "VirtualApp");
    assert_eq!(m["guestinfo.vice./v/Value"], "resgroup-v364");
    assert_eq!(dec::<RefF>(&m).unwrap(), v);
}

#[test]
fn options_write_nothing_when_none_and_stay_none_without_keys() {
    assert!(enc(&OptS { v: None }).is_empty());
    assert_eq!(dec::<OptS>(&Map::new()).unwrap().v, None);
    assert_eq!(
        dec::<OptS>(&map(&[(K, "")])).unwrap().v,
        Some(String::new()),
        "an empty value is a value"
    );
}

#[derive(Debug, Default, PartialEq)]
struct Outer {
    inner: Option<Inner>,
    embedded: Inner,
}
#[derive(Debug, Default, PartialEq)]
struct Inner {
    a: Option<String>,
    b: Option<String>,
}
extra_config! { Outer { inner: "inner" [read_only], embedded: "Inner" } }
extra_config! { Inner { a: "a", b: "b" } }

#[test]
fn a_struct_or_option_exists_only_if_a_key_beneath_it_exists() {
    let v: Outer = dec(&Map::new()).unwrap();
    assert_eq!(v.inner, None);
    let v: Outer = dec(&map(&[("guestinfo.vice./inner/b", "x")])).unwrap();
    assert_eq!(
        v.inner,
        Some(Inner {
            a: None,
            b: Some("x".into())
        })
    );
}

#[test]
fn structs_are_field_by_field_without_flattening_embedded_ones() {
    let v = Outer {
        inner: None,
        embedded: Inner {
            a: Some("1".into()),
            b: None,
        },
    };
    let m = enc(&v);
    assert_eq!(m.keys().collect::<Vec<_>>(), ["Inner/a"]);
}

#[derive(Debug, Default, PartialEq)]
struct Structs {
    v: Vec<Inner>,
}
extra_config! { Structs { v: "v" [read_only] } }

#[test]
fn slices_of_structs_store_the_last_index_and_elements_at_bar_index() {
    let el = |s: &str| Inner {
        a: Some(s.into()),
        b: None,
    };
    let v = Structs {
        v: vec![el("x"), el("y")],
    };
    let m = enc(&v);
    assert_eq!(m[K], "1");
    assert_eq!(m["guestinfo.vice./v|0/a"], "x");
    assert_eq!(m["guestinfo.vice./v|1/a"], "y");
    assert_eq!(dec::<Structs>(&m).unwrap(), v);
}

#[test]
fn slices_of_ips_store_elements_at_bar_index() {
    let v = VecIp {
        v: vec![
            "10.162.204.1".parse().unwrap(),
            "10.166.1.1".parse().unwrap(),
        ],
    };
    let m = enc(&v);
    assert_eq!(
        m,
        map(&[
            (K, "1"),
            ("guestinfo.vice./v|0", "CqLMAQ=="),
            ("guestinfo.vice./v|1", "CqYBAQ==")
        ])
    );
    assert_eq!(dec::<VecIp>(&m).unwrap(), v);
}

#[test]
fn slices_of_primitives_join_elements_in_tilde_key() {
    let v = VecS {
        v: vec!["a".into(), "".into(), "c".into()],
    };
    let m = enc(&v);
    assert_eq!(m, map(&[(K, "2"), ("guestinfo.vice./v~", "a||c")]));
    assert_eq!(dec::<VecS>(&m).unwrap(), v);
    let n = VecU32 { v: vec![1, 2] };
    assert_eq!(enc(&n)["guestinfo.vice./v~"], "1|2");
}

#[test]
fn maps_list_sorted_keys_joined_with_bar_and_entries_at_bar_key() {
    let mut v = MapS::default();
    v.v.insert("vol1".into(), "b".into());
    v.v.insert("default".into(), "a".into());
    let m = enc(&v);
    assert_eq!(
        m,
        map(&[
            (K, "default|vol1"),
            ("guestinfo.vice./v|default", "a"),
            ("guestinfo.vice./v|vol1", "b")
        ])
    );
    assert_eq!(dec::<MapS>(&m).unwrap(), v);
}

#[test]
fn empty_slices_and_maps_write_nothing() {
    assert!(enc(&VecS::default()).is_empty());
    assert!(enc(&MapS::default()).is_empty());
    assert!(enc(&Structs::default()).is_empty());
}

// ---- section 4: decoding ----

#[test]
fn decoding_is_index_driven_keys_no_index_points_at_are_ignored() {
    let m = map(&[
        (K, "0"),
        ("guestinfo.vice./v|0/a", "x"),
        ("guestinfo.vice./v|1/a", "stale"),
        ("numa.autosize", "1"),
    ]);
    let v: Structs = dec(&m).unwrap();
    assert_eq!(v.v.len(), 1);
}

#[test]
fn decoding_merges_into_an_existing_value() {
    let mut v = Outer {
        inner: Some(Inner {
            a: Some("keep".into()),
            b: Some("old".into()),
        }),
        embedded: Inner {
            a: Some("kept too".into()),
            b: None,
        },
    };
    let m = map(&[("guestinfo.vice./inner/b", "new")]);
    decode_into(&m, &mut v, DecodeOptions::default()).unwrap();
    assert_eq!(v.inner.as_ref().unwrap().a.as_deref(), Some("keep"));
    assert_eq!(v.inner.as_ref().unwrap().b.as_deref(), Some("new"));
    assert_eq!(v.embedded.a.as_deref(), Some("kept too"));
}

#[test]
fn decoding_merges_slice_elements_and_map_entries() {
    let mut v = Structs {
        v: vec![Inner {
            a: None,
            b: Some("b0".into()),
        }],
    };
    let m = map(&[(K, "0"), ("guestinfo.vice./v|0/a", "a0")]);
    decode_into(&m, &mut v, DecodeOptions::default()).unwrap();
    assert_eq!(
        v.v,
        [Inner {
            a: Some("a0".into()),
            b: Some("b0".into())
        }]
    );
}

#[test]
fn a_missing_index_leaves_an_empty_collection() {
    assert!(dec::<VecS>(&Map::new()).unwrap().v.is_empty());
    assert!(dec::<MapS>(&Map::new()).unwrap().v.is_empty());
}

#[test]
fn decode_returns_the_keys_it_read() {
    let m = map(&[(K, "0"), ("guestinfo.vice./v~", "a"), ("other", "x")]);
    let mut v = VecS::default();
    let read = decode_into(&m, &mut v, DecodeOptions::default()).unwrap();
    assert_eq!(
        read.into_iter().collect::<Vec<_>>(),
        [K, "guestinfo.vice./v~"]
    );
}

fn err_key<T: vic_config::ExtraConfig + Default + std::fmt::Debug>(m: &Map) -> String {
    let e = dec::<T>(m).unwrap_err();
    let text = e.to_string();
    let key = e.key().unwrap().to_owned();
    assert!(text.contains(&key), "{text}");
    key
}

#[test]
fn a_non_number_where_a_number_belongs_is_an_error_naming_the_key() {
    assert_eq!(err_key::<I64>(&map(&[(K, "12x")])), K);
    assert_eq!(err_key::<VecS>(&map(&[(K, "one")])), K);
}

#[test]
fn bad_base64_is_an_error_naming_the_key() {
    assert_eq!(err_key::<IpF>(&map(&[(K, "!!")])), K);
    assert_eq!(err_key::<Bytes>(&map(&[(K, "AQ=")])), K);
}

#[test]
fn an_index_pointing_at_a_missing_element_is_an_error_naming_it() {
    let m = map(&[(K, "1"), ("guestinfo.vice./v|0/a", "x")]);
    assert_eq!(err_key::<Structs>(&m), "guestinfo.vice./v|1");
    let m = map(&[(K, "a|b"), ("guestinfo.vice./v|a", "x")]);
    assert_eq!(err_key::<MapS>(&m), "guestinfo.vice./v|b");
}

#[test]
fn a_length_beyond_the_elements_is_an_error_naming_the_key() {
    let m = map(&[(K, "2"), ("guestinfo.vice./v~", "a|b")]);
    assert_eq!(err_key::<VecS>(&m), K);
    let m = map(&[(K, "2")]);
    assert_eq!(err_key::<VecS>(&m), "guestinfo.vice./v~");
    let m = map(&[(K, "18446744073709551615"), ("guestinfo.vice./v~", "a")]);
    assert_eq!(err_key::<VecS>(&m), K);
}

// ---- recursion limits and skips ----

#[derive(Debug, Default, PartialEq)]
struct Limits {
    none: Deep,
    one: Deep,
    full: Deep,
}
#[derive(Debug, Default, PartialEq)]
struct Deep {
    x: String,
    child: Option<Box<Deep>>,
}
extra_config! { Limits {
    none: "none" [read_only, depth = 0],
    one: "one" [read_only, depth = 1],
    full: "full" [read_only],
}}
extra_config! { Deep { x: "x", child: "child" } }

fn deep(n: usize) -> Deep {
    let mut d = Deep {
        x: format!("{n}"),
        child: None,
    };
    for i in (0..n).rev() {
        d = Deep {
            x: format!("{i}"),
            child: Some(Box::new(d)),
        };
    }
    d
}

#[test]
fn recursion_depth_limits_how_many_struct_levels_are_visited() {
    let v = Limits {
        none: deep(2),
        one: deep(2),
        full: deep(2),
    };
    let m = enc(&v);
    assert!(
        !m.keys().any(|k| k.contains("/none")),
        "depth 0 leaves it out"
    );
    assert_eq!(
        m.keys().filter(|k| k.contains("/one")).collect::<Vec<_>>(),
        ["guestinfo.vice./one/x"]
    );
    assert_eq!(m.keys().filter(|k| k.contains("/full")).count(), 3);
    let back: Limits = dec(&m).unwrap();
    assert_eq!(back.full, deep(2));
    assert_eq!(back.one.child, None);
}

#[test]
fn a_recursive_type_deeper_than_the_global_limit_is_refused_on_encode() {
    #[derive(Debug, Default)]
    struct Root {
        d: Deep,
    }
    extra_config! { Root { d: "d" [read_only] } }
    let e = to_extra_config(&Root { d: deep(100) }).unwrap_err();
    assert!(matches!(e, Error::TooDeep { .. }), "{e}");
    // and decoding a recursive type terminates
    let v: Root = dec(&map(&[("guestinfo.vice./d/x", "0")])).unwrap();
    assert_eq!(v.d.x, "0");
}

#[derive(Debug, Default, PartialEq)]
struct Skips {
    enc_only: String,
    dec_only: String,
    never: String,
}
extra_config! { Skips {
    enc_only: "a" [read_only, skip_decode],
    dec_only: "b" [read_only, skip_encode],
    never: "c" [skip],
}}

#[test]
fn skip_encode_and_skip_decode_are_honoured() {
    let v = Skips {
        enc_only: "1".into(),
        dec_only: "2".into(),
        never: "3".into(),
    };
    let m = enc(&v);
    assert_eq!(m, map(&[("guestinfo.vice./a", "1")]));
    let m = map(&[
        ("guestinfo.vice./a", "x"),
        ("guestinfo.vice./b", "y"),
        ("c", "z"),
    ]);
    let back: Skips = dec(&m).unwrap();
    assert_eq!(
        back,
        Skips {
            enc_only: "".into(),
            dec_only: "y".into(),
            never: "".into()
        }
    );
}
