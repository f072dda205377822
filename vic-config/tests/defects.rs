//! The known defects of VIC's own serializer (section 7) are not ours.

use std::collections::BTreeMap;

use vic_config::delta::{delta, Change};
use vic_config::types::Timestamp;
use vic_config::{extra_config, from_extra_config, to_extra_config, Error};

type Map = BTreeMap<String, String>;

#[derive(Debug, Default, PartialEq)]
struct Lists {
    args: Vec<String>,
    by_name: BTreeMap<String, Entry>,
}
#[derive(Debug, Default, PartialEq)]
struct Entry {
    id: String,
    state: String,
}
extra_config! { Lists {
    args: "args" [read_only],
    by_name: "by_name" [read_only],
}}
extra_config! { Entry { id: "id" [read_only], state: "state" [read_write] } }

#[test]
fn defect_1_a_bar_inside_a_primitive_slice_element_is_refused_not_corrupted() {
    let v = Lists {
        args: vec!["a|b".into(), "c".into()],
        ..Default::default()
    };
    let e = to_extra_config(&v).unwrap_err();
    assert!(matches!(e, Error::Unrepresentable { .. }), "{e}");
    assert_eq!(e.key(), Some("guestinfo.vice./args~"));
}

fn entry(id: &str) -> Entry {
    Entry {
        id: id.into(),
        state: "s".into(),
    }
}

#[test]
fn defect_2_map_keys_differing_only_by_dot_versus_slash_are_refused() {
    let mut v = Lists::default();
    v.by_name.insert("a.b".into(), entry("1"));
    v.by_name.insert("a/b".into(), entry("2"));
    let e = to_extra_config(&v).unwrap_err();
    // Map keys that alias are refused before any key is written, naming both.
    assert!(
        matches!(&e, Error::Alias { first, second, .. } if first == "a.b" && second == "a/b"),
        "{e}"
    );
}

#[test]
fn defect_2_a_single_dotted_map_key_still_round_trips() {
    let mut v = Lists::default();
    v.by_name.insert("10.0.0.0/8".into(), entry("1"));
    let m = to_extra_config(&v).unwrap();
    assert_eq!(from_extra_config::<Lists>(&m).unwrap(), v);
}

#[test]
fn keys_differing_only_in_letter_case_are_refused() {
    let mut v = Lists::default();
    v.by_name.insert("Bridge".into(), entry("1"));
    v.by_name.insert("bridge".into(), entry("2"));
    let e = to_extra_config(&v).unwrap_err();
    assert!(matches!(e, Error::Alias { .. }), "{e}");
}

#[test]
fn a_bar_inside_a_map_key_is_refused() {
    let mut v = Lists::default();
    v.by_name.insert("a|b".into(), entry("1"));
    assert!(matches!(
        to_extra_config(&v).unwrap_err(),
        Error::Unrepresentable { .. }
    ));
}

#[derive(Debug, Default, PartialEq)]
struct Numbers {
    a: u8,
    b: u16,
    c: u32,
    d: u64,
    e: usize,
    f: f32,
    g: Vec<u64>,
    h: Vec<f32>,
}
extra_config! { Numbers {
    a: "a" [read_only], b: "b" [read_only], c: "c" [read_only], d: "d" [read_only],
    e: "e" [read_only], f: "f" [read_only], g: "g" [read_only], h: "h" [read_only],
}}

#[test]
fn defect_3_unsigned_and_f32_fields_work() {
    let v = Numbers {
        a: 255,
        b: 65535,
        c: u32::MAX,
        d: u64::MAX,
        e: 7,
        f: 1.25,
        g: vec![u64::MAX, 0],
        h: vec![0.1, -2.5],
    };
    let m = to_extra_config(&v).unwrap();
    assert_eq!(m["guestinfo.vice./f"], "1.25E+00");
    assert_eq!(m["guestinfo.vice./h~"], "1E-01|-2.5E+00");
    assert_eq!(from_extra_config::<Numbers>(&m).unwrap(), v);
}

#[test]
fn defect_4_times_with_a_monotonic_clock_suffix_decode() {
    let t: Timestamp = "2017-07-14 02:40:00.123 +0000 UTC m=+0.000278696"
        .parse()
        .unwrap();
    assert_eq!(t.unix_seconds, 1_500_000_000);
    assert_eq!(t.nanos, 123_000_000);
}

#[test]
fn defect_5_deletions_are_expressed_for_owned_keys_only() {
    let mut current = Map::new();
    current.insert("guestinfo.vice./args".into(), "1".into());
    current.insert("guestinfo.vice./args~".into(), "x|y".into());
    current.insert("guestinfo.vice./stranger".into(), "keep".into());
    current.insert("numa.autosize".into(), "1".into());
    let changes = delta(&current, &Lists::default()).unwrap();
    assert_eq!(
        changes,
        [
            Change::Delete {
                key: "guestinfo.vice./args".into()
            },
            Change::Delete {
                key: "guestinfo.vice./args~".into()
            },
        ]
    );
}

#[test]
fn defect_6_decode_errors_are_reported_not_swallowed() {
    let mut m = Map::new();
    m.insert("guestinfo.vice./by_name".into(), "x".into());
    let e = from_extra_config::<Lists>(&m).unwrap_err();
    assert_eq!(e.key(), Some("guestinfo.vice./by_name|x"));
    assert!(e.to_string().contains("guestinfo.vice./by_name|x"));
}

/// Found by the `delta` fuzz target: a stale key of a map entry that the VM's index
/// does not list (left behind by a removal elsewhere) is not read from the current
/// extraConfig, so it was not owned and not deleted; the delta that adds the entry
/// back made it reachable, and the result decoded with the stale value.
#[test]
fn delta_deletes_stale_keys_the_new_entries_reach() {
    use std::collections::BTreeMap;
    use vic_config::delta::{delta, Change};
    use vic_config::model::ExecutorConfig;
    use vic_config::{from_extra_config, to_extra_config};

    let mut current = BTreeMap::new();
    current.insert(
        "guestinfo.vice..networks|bridge.assigned.IP".to_owned(),
        "rBAAAg==".to_owned(),
    );
    let mut desired_map = BTreeMap::new();
    desired_map.insert("guestinfo.vice./networks".to_owned(), "bridge".to_owned());
    desired_map.insert(
        "guestinfo.vice./networks|bridge/network/gateway/Mask".to_owned(),
        "//8AAA==".to_owned(),
    );
    let desired: ExecutorConfig = from_extra_config(&desired_map).unwrap();
    assert_eq!(
        from_extra_config::<ExecutorConfig>(&to_extra_config(&desired).unwrap()).unwrap(),
        desired
    );

    let changes = delta(&current, &desired).unwrap();
    assert!(changes.contains(&Change::Delete {
        key: "guestinfo.vice..networks|bridge.assigned.IP".into()
    }));
    let applied = crate::checks::apply(&current, &changes);
    assert_eq!(
        from_extra_config::<ExecutorConfig>(&applied).unwrap(),
        desired
    );
    assert_eq!(delta(&current.clone(), &desired).unwrap(), changes);
    assert_eq!(delta(&applied, &desired).unwrap(), vec![]);
}

/// Found by the `delta` fuzz target: a stale key of a map entry the delta adds back
/// held a value the decoder refuses (`tty = "valse"`), so the decode that finds stale
/// keys failed and the key stayed; the VM's extraConfig then did not decode at all.
#[test]
fn delta_deletes_stale_keys_holding_values_the_decoder_refuses() {
    use std::collections::BTreeMap;
    use vic_config::delta::{delta, Change};
    use vic_config::from_extra_config;
    use vic_config::model::ExecutorConfig;

    let id = "4a3b0f1c";
    let mut current = BTreeMap::new();
    // An entry the index does not list, left with a bad value.
    current.insert(
        format!("guestinfo.vice./sessions|{id}/tty"),
        "valse".to_owned(),
    );
    current.insert(
        format!("guestinfo.vice./sessions|{id}/cmd/Path"),
        "/old".to_owned(),
    );
    // A key of someone else: never touched.
    current.insert("svga.present".to_owned(), "TRUE".to_owned());
    let mut desired_map = BTreeMap::new();
    desired_map.insert("guestinfo.vice./sessions".to_owned(), id.to_owned());
    desired_map.insert(
        format!("guestinfo.vice./sessions|{id}/cmd/Path"),
        "/hello".to_owned(),
    );
    let desired: ExecutorConfig = from_extra_config(&desired_map).unwrap();

    let changes = delta(&current, &desired).unwrap();
    assert!(
        changes.contains(&Change::Delete {
            key: format!("guestinfo.vice./sessions|{id}/tty")
        }),
        "{changes:?}"
    );
    assert!(changes.iter().all(|c| c.key() != "svga.present"));
    let applied = crate::checks::apply(&current, &changes);
    assert_eq!(
        from_extra_config::<ExecutorConfig>(&applied).unwrap(),
        desired
    );
    assert_eq!(delta(&applied, &desired).unwrap(), vec![]);
    assert_eq!(applied["svga.present"], "TRUE");
}

/// Found by the `delta` fuzz target: a stale key of a map entry the delta adds back
/// can break the decode in other ways than a refused value. Here a slice's length key
/// (`Args = "1"`: two elements) disagrees with the one element stored, or promises
/// elements that are not stored at all. Only refused values were taken out, so the
/// delta was returned as it was, and the VM's extraConfig no longer decoded.
#[test]
fn delta_deletes_stale_length_keys_that_disagree_with_the_elements() {
    use std::collections::BTreeMap;
    use vic_config::delta::{delta, Change};
    use vic_config::from_extra_config;
    use vic_config::model::ExecutorConfig;

    let id = "4a3b0f1c";
    let args = format!("guestinfo.vice./sessions|{id}/cmd/Args");
    for elements in [Some("/hello"), None] {
        let mut current = BTreeMap::new();
        // An entry the index does not list: a length key saying two elements, and
        // one element stored (or none).
        current.insert(args.clone(), "1".to_owned());
        if let Some(e) = elements {
            current.insert(format!("{args}~"), e.to_owned());
        }
        current.insert("svga.present".to_owned(), "TRUE".to_owned());
        let mut desired_map = BTreeMap::new();
        desired_map.insert("guestinfo.vice./sessions".to_owned(), id.to_owned());
        desired_map.insert(
            format!("guestinfo.vice./sessions|{id}/cmd/Path"),
            "/hello".to_owned(),
        );
        let desired: ExecutorConfig = from_extra_config(&desired_map).unwrap();

        let changes = delta(&current, &desired).unwrap();
        assert!(
            changes.contains(&Change::Delete { key: args.clone() }),
            "{elements:?}: {changes:?}"
        );
        assert!(changes.iter().all(|c| c.key() != "svga.present"));
        let applied = crate::checks::apply(&current, &changes);
        assert_eq!(
            from_extra_config::<ExecutorConfig>(&applied).unwrap(),
            desired,
            "{elements:?}"
        );
        assert_eq!(delta(&applied, &desired).unwrap(), vec![]);
        assert_eq!(applied["svga.present"], "TRUE");
    }
}
