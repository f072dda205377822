//! Sources and sinks (.vmx text, deltas, vSphere boundary), secrets and migrations.

use std::collections::BTreeMap;

use vic_config::delta::{delta, diff, for_running_vm, owned_keys, Change};
use vic_config::migrate::{self, Kind};
use vic_config::model::{Connection, ExecutorConfig, VchConfig};
use vic_config::vmx::{escape, unescape, write_lines, VmxFile};
use vic_config::{
    decode_into, extra_config, from_extra_config, to_extra_config, to_extra_config_with,
    DecodeOptions, EncodeOptions, Error, Secret, SecretKey, SECRET_KEY_KEY,
};

type Map = BTreeMap<String, String>;

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vic-golden/vch-1.1.0-rc3.vmx"
);
const CONTAINER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/container.vmx");

fn golden() -> Map {
    let text = std::fs::read_to_string(GOLDEN).expect("golden data must be present");
    VmxFile::parse(&text).unwrap().to_map()
}

// ---- .vmx text ----

#[test]
fn vmx_escapes_quote_hash_bar_and_control_characters() {
    assert_eq!(escape("a\"b#c\nd"), "a|22b|23c|0Ad");
    assert_eq!(unescape("a|22b|23c|0Ad|7C"), "a\"b#c\nd|");
}

#[test]
fn vmx_keeps_bare_bars_as_in_vic_keys_and_values() {
    // `|de` and `|DC` are hex but stand for no escapable character.
    assert_eq!(
        unescape("VolumeLocations|default"),
        "VolumeLocations|default"
    );
    assert_eq!(unescape("x|DC_PATH=y"), "x|DC_PATH=y");
    assert_eq!(escape("bridge|client"), "bridge|client");
    assert_eq!(
        escape("a|7C"),
        "a|7C7C",
        "a bar that would read as an escape is escaped"
    );
    for s in ["a|7C", "|22", "||22", "|", "x|0a|", "é|1f"] {
        assert_eq!(unescape(&escape(s)), s);
    }
}

#[test]
fn vmx_parses_and_writes_back_the_golden_file_byte_for_byte() {
    let text = std::fs::read_to_string(GOLDEN).unwrap();
    let file = VmxFile::parse(&text).unwrap();
    assert_eq!(file.to_string(), text);
    assert_eq!(write_lines(&file.to_map()).unwrap(), text);
}

#[test]
fn vmx_updates_keep_unrelated_lines() {
    let text =
        "# comment\nnuma.x = \"1\"\n\nguestinfo.vice./a = \"old\"\nguestinfo.vice./b = \"gone\"\n";
    let mut f = VmxFile::parse(text).unwrap();
    f.apply(&[
        Change::Set {
            key: "guestinfo.vice./a".into(),
            value: "new".into(),
        },
        Change::Delete {
            key: "guestinfo.vice./b".into(),
        },
        Change::Set {
            key: "guestinfo.vice./c".into(),
            value: "q\"".into(),
        },
    ]);
    assert_eq!(
        f.to_string(),
        "# comment\nnuma.x = \"1\"\n\nguestinfo.vice./a = \"new\"\nguestinfo.vice./c = \"q|22\"\n"
    );
}

#[test]
fn vmx_refuses_bad_lines_and_case_insensitive_duplicates() {
    for bad in ["novalue", "k = \"open", "k = \"a\" trailing", " = \"x\""] {
        assert!(
            matches!(VmxFile::parse(bad), Err(Error::Vmx { line: 1, .. })),
            "{bad}"
        );
    }
    let e = VmxFile::parse("a.B = \"1\"\nA.b = \"2\"\n").unwrap_err();
    assert!(matches!(e, Error::Vmx { line: 2, .. }), "{e}");
}

#[test]
fn vmx_key_lookup_ignores_letter_case() {
    let f = VmxFile::parse("GuestInfo.Vice./repo = \"x\"\n").unwrap();
    assert_eq!(f.get("guestinfo.vice./repo"), Some("x"));
}

// ---- vSphere boundary: deltas ----

#[test]
fn an_update_is_a_delta_of_new_and_changed_keys_only() {
    let g = golden();
    let mut vch: VchConfig = from_extra_config(&g).unwrap();
    assert!(delta(&g, &vch).unwrap().is_empty(), "nothing changed");
    vch.storage.scratch_size = Some(1);
    vch.registry.insecure_registries.clear();
    let changes = delta(&g, &vch).unwrap();
    assert_eq!(
        changes,
        [
            Change::Delete {
                key: "guestinfo.vice./registry/insecure_registries".into()
            },
            Change::Delete {
                key: "guestinfo.vice./registry/insecure_registries~".into()
            },
            Change::Set {
                key: "guestinfo.vice./storage/scratch_size".into(),
                value: "1".into()
            },
        ]
    );
}

#[test]
fn keys_owned_are_those_the_model_reads_never_vsphere_keys() {
    let g = golden();
    let owned = owned_keys::<VchConfig>(&g).unwrap();
    assert_eq!(owned.len(), 226);
    assert!(!owned.contains("numa.autosize.vcpu.maxPerVirtualNode"));
    let everything_gone = diff(&g, &Map::new(), &owned, None);
    assert!(everything_gone
        .iter()
        .all(|c| matches!(c, Change::Delete { .. }) && !c.key().starts_with("numa.")));
}

#[test]
fn a_running_vm_only_gets_hidden_and_non_persistent_keys() {
    let changes = vec![
        Change::Set {
            key: "init/common/name".into(),
            value: "x".into(),
        },
        Change::Set {
            key: "guestinfo.vice./a".into(),
            value: "x".into(),
        },
        Change::Set {
            key: "guestinfo.vice./execs@non-persistent".into(),
            value: "x".into(),
        },
    ];
    let kept: Vec<_> = for_running_vm(changes)
        .into_iter()
        .map(|c| c.key().to_owned())
        .collect();
    assert_eq!(
        kept,
        ["init/common/name", "guestinfo.vice./execs@non-persistent"]
    );
}

#[cfg(feature = "vim25")]
#[test]
fn empty_strings_cross_the_vsphere_boundary_as_nil() {
    use vic_config::option_value::*;
    use vim25_core::types::AnyValue;
    let mut m = Map::new();
    m.insert("guestinfo.vice./repo".into(), String::new());
    let ovs = to_option_values(&m);
    assert_eq!(ovs[0].value, Some(AnyValue::String("<nil>".into())));
    assert_eq!(from_option_values(&ovs).unwrap(), m);
    let del = changes_to_option_values(&[Change::Delete { key: "k".into() }]);
    assert_eq!(del[0].value, Some(AnyValue::String(String::new())));
}

// ---- secrets ----

#[test]
fn secrets_use_a_random_key_per_encode_and_a_fresh_nonce_per_value() {
    let c = Connection {
        token: Some(Secret::new("hunter2".into())),
        ..Default::default()
    };
    let a = to_extra_config(&c).unwrap();
    let b = to_extra_config(&c).unwrap();
    assert_ne!(a[SECRET_KEY_KEY], b[SECRET_KEY_KEY]);
    let k = SecretKey::from_base64(&a[SECRET_KEY_KEY]).unwrap();
    let again = to_extra_config_with(
        &c,
        EncodeOptions {
            secret_key: Some(k),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(again[SECRET_KEY_KEY], a[SECRET_KEY_KEY]);
    assert_ne!(
        again["guestinfo.vice./token@secret"], a["guestinfo.vice./token@secret"],
        "fresh nonce"
    );
    let back: Connection = from_extra_config(&a).unwrap();
    assert_eq!(back.token.unwrap().expose(), "hunter2");
}

#[test]
fn a_missing_or_wrong_secret_key_is_an_error_for_that_field() {
    let c = Connection {
        token: Some(Secret::new("hunter2".into())),
        ..Default::default()
    };
    let mut m = to_extra_config(&c).unwrap();
    let sealed = m.clone();
    m.remove(SECRET_KEY_KEY);
    let e = from_extra_config::<Connection>(&m).unwrap_err();
    assert_eq!(e.key(), Some("guestinfo.vice./token@secret"));
    let mut wrong = sealed.clone();
    wrong.insert(
        SECRET_KEY_KEY.into(),
        SecretKey::generate().unwrap().to_base64(),
    );
    let e = from_extra_config::<Connection>(&wrong).unwrap_err();
    assert!(matches!(e, Error::Secret { .. }), "{e}");
    assert!(!format!("{e} {e:?}").contains("hunter2"));
}

#[test]
fn secrets_never_appear_in_debug_output_or_errors() {
    #[derive(Debug, Default)]
    struct Num {
        n: Secret<u32>,
    }
    extra_config! { Num { n: "n" [secret] } }
    let c = Connection {
        token: Some(Secret::new("hunter2".into())),
        ..Default::default()
    };
    assert!(!format!("{c:?}").contains("hunter2"));
    let k = SecretKey::generate().unwrap();
    assert!(!format!("{k:?}").contains(&k.to_base64()));
    assert!(!serde_json::to_string(&c).unwrap().contains("hunter2"));
    // a secret that does not parse: the error names the key, not the plaintext
    let mut m = to_extra_config(&Connection {
        token: Some(Secret::new("not-a-number".into())),
        ..Default::default()
    })
    .unwrap();
    let sealed = m.remove("guestinfo.vice./token@secret").unwrap();
    m.insert("guestinfo.vice./n@secret".into(), sealed);
    let e = from_extra_config::<Num>(&m).unwrap_err();
    assert_eq!(e.key(), Some("guestinfo.vice./n@secret"));
    assert!(!format!("{e} {e:?}").contains("not-a-number"), "{e}");
}

// ---- migrations ----

#[test]
fn migration_v1_moves_the_vch_name_to_a_hidden_key() {
    let mut old = golden();
    let name = old.remove("init/common/name").unwrap();
    old.insert("guestinfo.vice./init/common/name".into(), name);
    old.remove("guestinfo.vice./init/version/PluginVersion");
    old.insert("some.other.tool".into(), "keep me".into());
    let before = old.len();
    let r = migrate::migrate(&mut old, Kind::Vch).unwrap();
    assert_eq!((r.from, r.to, r.applied.as_slice()), (0, 1, &[1][..]));
    assert_eq!(old["init/common/name"], "test1");
    assert!(!old.contains_key("guestinfo.vice./init/common/name"));
    assert_eq!(old["some.other.tool"], "keep me");
    assert_eq!(old.len(), before + 1, "only the version key is new");
    let vch: VchConfig = from_extra_config(&old).unwrap();
    assert_eq!(vch.name(), Some("test1"));
}

#[test]
fn migration_v9_turns_container_createtime_seconds_into_nanoseconds() {
    let text = std::fs::read_to_string(CONTAINER).unwrap();
    let mut m = VmxFile::parse(&text).unwrap().to_map();
    let want = m.clone();
    m.insert("guestinfo.vice..createtime".into(), "1500000000".into());
    m.insert("guestinfo.vice./version/PluginVersion".into(), "8".into());
    let r = migrate::migrate(&mut m, Kind::Container).unwrap();
    assert_eq!(r.applied, [9]);
    assert_eq!(m, want, "lifted to exactly the spec's v9 example");
    let again = migrate::migrate(&mut m, Kind::Container).unwrap();
    assert!(again.applied.is_empty(), "data at the target is left alone");
}

#[test]
fn migration_errors_name_the_key_and_leave_the_map_unchanged() {
    let mut m = Map::new();
    m.insert("guestinfo.vice..createtime".into(), "soon".into());
    let before = m.clone();
    let e = migrate::migrate(&mut m, Kind::Container).unwrap_err();
    assert_eq!(e.key(), Some("guestinfo.vice..createtime"));
    assert_eq!(m, before);
}

#[test]
fn kinds_are_detected_from_the_keys() {
    assert_eq!(Kind::detect(&golden()), Kind::Vch);
    let text = std::fs::read_to_string(CONTAINER).unwrap();
    assert_eq!(
        Kind::detect(&VmxFile::parse(&text).unwrap().to_map()),
        Kind::Container
    );
    assert_eq!(migrate::data_version(&golden(), Kind::Vch).unwrap(), 6);
}

#[test]
fn containers_decode_in_the_legacy_layout() {
    let mut m = Map::new();
    m.insert("guestinfo./common/name".into(), "jolly_panini".into());
    m.insert("guestinfo./sessions".into(), "id".into());
    m.insert("guestinfo./sessions|id/cmd/Path".into(), "/hello".into());
    m.insert("guestinfo./repo".into(), "hello-world".into());
    let mut c = ExecutorConfig::default();
    decode_into(&m, &mut c, DecodeOptions::default()).unwrap();
    assert_eq!(c.repo.as_deref(), Some("hello-world"));
    assert_eq!(c.sessions["id"].cmd.path.as_deref(), Some("/hello"));
}
