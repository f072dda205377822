//! One test per key-shape rule of the format (sections 1 and 2).

use std::collections::BTreeMap;

use vic_config::{
    extra_config, from_extra_config, to_extra_config, to_extra_config_with, DecodeOptions,
    EncodeOptions, Layout,
};

type Map = BTreeMap<String, String>;

fn keys(m: &Map) -> Vec<&str> {
    m.keys().map(String::as_str).collect()
}

#[derive(Debug, Default, PartialEq, Clone)]
struct Leaf {
    id: String,
}
extra_config! { Leaf { id: "id" } }

#[derive(Debug, Default, PartialEq, Clone)]
struct Scopes {
    ro: String,
    rw: String,
    hidden: String,
}
extra_config! { Scopes {
    ro: "ro" [read_only],
    rw: "rw" [read_write],
    hidden: "hidden" [hidden],
}}

fn scopes() -> Scopes {
    Scopes {
        ro: "1".into(),
        rw: "2".into(),
        hidden: "3".into(),
    }
}

#[test]
fn current_layout_roots_visible_keys_at_guestinfo_vice() {
    let m = to_extra_config(&scopes()).unwrap();
    assert_eq!(
        keys(&m),
        ["guestinfo.vice..rw", "guestinfo.vice./ro", "hidden"]
    );
}

#[test]
fn legacy_layout_roots_visible_keys_at_guestinfo() {
    let opts = EncodeOptions {
        layout: Layout::Legacy,
        ..Default::default()
    };
    let m = to_extra_config_with(&scopes(), opts).unwrap();
    assert_eq!(keys(&m), ["guestinfo..rw", "guestinfo./ro", "hidden"]);
}

#[test]
fn reading_auto_detects_the_legacy_layout() {
    let mut m = Map::new();
    m.insert("guestinfo./ro".into(), "a".into());
    m.insert("guestinfo..rw".into(), "b".into());
    m.insert("hidden".into(), "c".into());
    let s: Scopes = from_extra_config(&m).unwrap();
    assert_eq!(
        (s.ro.as_str(), s.rw.as_str(), s.hidden.as_str()),
        ("a", "b", "c")
    );
    assert_eq!(Layout::detect_map(&m), Layout::Legacy);
}

#[test]
fn reading_can_be_told_the_layout() {
    let mut m = Map::new();
    m.insert("guestinfo./ro".into(), "a".into());
    let mut s = Scopes::default();
    let opts = DecodeOptions {
        layout: Some(Layout::Current),
        ..Default::default()
    };
    vic_config::decode_into(&m, &mut s, opts).unwrap();
    assert_eq!(s.ro, "", "the legacy key is not read as current");
}

#[test]
fn writing_defaults_to_the_current_layout() {
    assert_eq!(EncodeOptions::default().layout, Layout::Current);
}

#[derive(Debug, Default, PartialEq)]
struct Path3 {
    a: A,
}
#[derive(Debug, Default, PartialEq)]
struct A {
    b: Leaf,
}
extra_config! { Path3 { a: "a" [read_only] } }
extra_config! { A { b: "b" } }

#[test]
fn read_only_joins_the_path_with_slashes_after_root_slash() {
    let v = Path3 {
        a: A {
            b: Leaf { id: "x".into() },
        },
    };
    assert_eq!(
        keys(&to_extra_config(&v).unwrap()),
        ["guestinfo.vice./a/b/id"]
    );
}

#[derive(Debug, Default, PartialEq)]
struct Path3Rw {
    a: A,
}
extra_config! { Path3Rw { a: "a" [read_write] } }

#[test]
fn read_write_joins_the_path_with_dots_after_double_dot() {
    let v = Path3Rw {
        a: A {
            b: Leaf { id: "x".into() },
        },
    };
    assert_eq!(
        keys(&to_extra_config(&v).unwrap()),
        ["guestinfo.vice..a.b.id"]
    );
}

#[derive(Debug, Default, PartialEq)]
struct Path3Hidden {
    a: A,
}
extra_config! { Path3Hidden { a: "a" [hidden] } }

#[test]
fn hidden_has_no_root() {
    let v = Path3Hidden {
        a: A {
            b: Leaf { id: "x".into() },
        },
    };
    assert_eq!(keys(&to_extra_config(&v).unwrap()), ["a/b/id"]);
}

#[derive(Debug, Default, PartialEq)]
struct WithSecret {
    token: String,
}
extra_config! { WithSecret { token: "token" [secret] } }

#[test]
fn secret_is_read_only_with_the_secret_suffix_and_a_sealed_value() {
    let m = to_extra_config(&WithSecret {
        token: "hunter2".into(),
    })
    .unwrap();
    assert_eq!(
        keys(&m),
        ["guestinfo.ovfEnv", "guestinfo.vice./token@secret"]
    );
    assert!(!m["guestinfo.vice./token@secret"].contains("hunter2"));
    let back: WithSecret = from_extra_config(&m).unwrap();
    assert_eq!(back.token, "hunter2");
}

#[derive(Debug, Default, PartialEq)]
struct NonPersistent {
    execs: Execs,
}
#[derive(Debug, Default, PartialEq)]
struct Execs {
    plain: String,
    rw: String,
    ro: String,
}
extra_config! { NonPersistent { execs: "execs" [read_only, non_persistent] } }
extra_config! { Execs {
    plain: "plain",
    rw: "rw" [read_write],
    ro: "ro" [read_only],
}}

#[test]
fn non_persistent_suffix_is_inherited_by_all_children_even_with_their_own_scope() {
    let v = NonPersistent {
        execs: Execs {
            plain: "p".into(),
            rw: "w".into(),
            ro: "r".into(),
        },
    };
    let m = to_extra_config(&v).unwrap();
    assert_eq!(
        keys(&m),
        [
            "guestinfo.vice..execs.rw@non-persistent",
            "guestinfo.vice./execs/plain@non-persistent",
            "guestinfo.vice./execs/ro@non-persistent",
        ]
    );
    let back: NonPersistent = from_extra_config(&m).unwrap();
    assert_eq!(back, v);
}

#[derive(Debug, Default, PartialEq)]
struct NonPersistentHidden {
    a: String,
    b: HiddenUnderNp,
}
#[derive(Debug, Default, PartialEq)]
struct HiddenUnderNp {
    h: String,
    r: String,
}
extra_config! { NonPersistentHidden {
    a: "a" [hidden, non_persistent],
    b: "b" [read_only, non_persistent],
}}
extra_config! { HiddenUnderNp { h: "h" [hidden], r: "r" [read_only] } }

#[test]
fn non_persistent_cannot_be_hidden_such_a_field_is_not_written() {
    let v = NonPersistentHidden {
        a: "x".into(),
        b: HiddenUnderNp {
            h: "y".into(),
            r: "z".into(),
        },
    };
    let m = to_extra_config(&v).unwrap();
    assert_eq!(keys(&m), ["guestinfo.vice./b/r@non-persistent"]);
}

#[derive(Debug, Default, PartialEq)]
struct SecretNp {
    inner: SecretInner,
}
#[derive(Debug, Default, PartialEq)]
struct SecretInner {
    s: String,
}
extra_config! { SecretNp { inner: "inner" [read_only, non_persistent] } }
extra_config! { SecretInner { s: "s" [secret] } }

#[test]
fn suffixes_sit_at_the_end_secret_before_non_persistent() {
    let v = SecretNp {
        inner: SecretInner { s: "x".into() },
    };
    let m = to_extra_config(&v).unwrap();
    assert!(
        m.contains_key("guestinfo.vice./inner/s@secret@non-persistent"),
        "{m:?}"
    );
    let back: SecretNp = from_extra_config(&m).unwrap();
    assert_eq!(back, v);
}

#[derive(Debug, Default, PartialEq)]
struct AttrNoScope {
    parent: Leafs,
}
#[derive(Debug, Default, PartialEq)]
struct Leafs {
    notes: String,
}
extra_config! { AttrNoScope { parent: "parent" [read_only] } }
extra_config! { Leafs { notes: "notes" [] } }

#[test]
fn a_field_with_attributes_but_no_scope_is_hidden() {
    let v = AttrNoScope {
        parent: Leafs { notes: "n".into() },
    };
    assert_eq!(keys(&to_extra_config(&v).unwrap()), ["parent/notes"]);
}

#[derive(Debug, Default, PartialEq)]
struct Inherit {
    top: Leaf,
    hidden: Leaf,
    ro: Leaf,
    rw: Leaf,
}
extra_config! { Inherit {
    top: "top",
    hidden: "hidden" [hidden],
    ro: "ro" [read_only],
    rw: "rw" [read_write],
}}

fn inherit() -> Map {
    let l = |s: &str| Leaf { id: s.into() };
    to_extra_config(&Inherit {
        top: l("t"),
        hidden: l("h"),
        ro: l("o"),
        rw: l("w"),
    })
    .unwrap()
}

#[test]
fn a_field_without_attributes_is_hidden_under_a_parent_without_root() {
    let m = inherit();
    assert_eq!(m["hidden/id"], "h");
    assert_eq!(m["top/id"], "t", "the top level has no root either");
}

#[test]
fn a_field_without_attributes_is_read_only_under_a_parent_with_slash() {
    assert_eq!(inherit()["guestinfo.vice./ro/id"], "o");
}

#[test]
fn a_field_without_attributes_is_read_write_under_a_dotted_parent() {
    assert_eq!(inherit()["guestinfo.vice..rw.id"], "w");
}

#[derive(Debug, Default, PartialEq)]
struct SecretParent {
    cert: Cert,
}
#[derive(Debug, Default, PartialEq)]
struct Cert {
    key: String,
    public: String,
}
extra_config! { SecretParent { cert: "cert" [secret] } }
extra_config! { Cert { key: "key", public: "public" [read_only] } }

#[test]
fn secrecy_carries_to_children_without_attributes_but_not_to_children_with_a_scope() {
    let v = SecretParent {
        cert: Cert {
            key: "k".into(),
            public: "p".into(),
        },
    };
    let m = to_extra_config(&v).unwrap();
    assert!(m.contains_key("guestinfo.vice./cert/key@secret"), "{m:?}");
    assert_eq!(m["guestinfo.vice./cert/public"], "p");
    let back: SecretParent = from_extra_config(&m).unwrap();
    assert_eq!(back, v);
}

#[derive(Debug, Default, PartialEq)]
struct Switch {
    inside: RwChild,
}
#[derive(Debug, Default, PartialEq)]
struct RwChild {
    id: String,
    back: Leaf,
}
extra_config! { Switch { inside: "inside" [read_only] } }
extra_config! { RwChild { id: "id" [read_write], back: "back" [read_only] } }

#[test]
fn switching_read_only_to_read_write_rewrites_the_whole_path() {
    let v = Switch {
        inside: RwChild {
            id: "1".into(),
            back: Leaf { id: "2".into() },
        },
    };
    let m = to_extra_config(&v).unwrap();
    assert_eq!(m["guestinfo.vice..inside.id"], "1");
}

#[test]
fn switching_read_write_to_read_only_rewrites_the_whole_path() {
    #[derive(Debug, Default, PartialEq)]
    struct Outer {
        a: RwChild,
    }
    extra_config! { Outer { a: "a" [read_write] } }
    let m = to_extra_config(&Outer {
        a: RwChild {
            id: "1".into(),
            back: Leaf { id: "2".into() },
        },
    })
    .unwrap();
    assert_eq!(m["guestinfo.vice./a/back/id"], "2");
    assert_eq!(m["guestinfo.vice..a.id"], "1");
}

#[derive(Debug, Default, PartialEq)]
struct Reveal {
    executorconfig: Exec,
}
#[derive(Debug, Default, PartialEq)]
struct Exec {
    common: Leaf,
}
extra_config! { Reveal { executorconfig: "executorconfig" [hidden] } }
extra_config! { Exec { common: "common" [read_only] } }

#[test]
fn a_visible_child_of_a_hidden_parent_is_revealed_with_the_full_path() {
    let v = Reveal {
        executorconfig: Exec {
            common: Leaf { id: "x".into() },
        },
    };
    assert_eq!(
        keys(&to_extra_config(&v).unwrap()),
        ["guestinfo.vice./executorconfig/common/id"]
    );
}

#[derive(Debug, Default, PartialEq)]
struct Drop {
    a: DropB,
}
#[derive(Debug, Default, PartialEq)]
struct DropB {
    b: DropC,
}
#[derive(Debug, Default, PartialEq)]
struct DropC {
    c: String,
}
extra_config! { Drop { a: "a" [read_only] } }
extra_config! { DropB { b: "b" } }
extra_config! { DropC { c: "c" [hidden] } }

#[test]
fn a_hidden_child_of_a_visible_parent_drops_the_root() {
    let v = Drop {
        a: DropB {
            b: DropC { c: "x".into() },
        },
    };
    assert_eq!(keys(&to_extra_config(&v).unwrap()), ["a/b/c"]);
}

#[derive(Debug, Default, PartialEq)]
struct SlashSegment {
    debug: i32,
    rw: i32,
}
extra_config! { SlashSegment {
    debug: "init/diagnostics/debug" [read_only],
    rw: "init/diagnostics/resurrections" [read_write],
}}

#[test]
fn a_key_segment_may_contain_a_slash() {
    let m = to_extra_config(&SlashSegment { debug: 3, rw: 1 }).unwrap();
    assert_eq!(m["guestinfo.vice./init/diagnostics/debug"], "3");
    assert_eq!(m["guestinfo.vice..init.diagnostics.resurrections"], "1");
    assert_eq!(
        from_extra_config::<SlashSegment>(&m).unwrap(),
        SlashSegment { debug: 3, rw: 1 }
    );
}

#[derive(Debug, Default, PartialEq)]
struct Mixed {
    path: String,
    compute_resources: Vec<String>,
}
extra_config! { Mixed {
    path: "Path" [read_only],
    compute_resources: "ComputeResources" [read_only],
}}

#[test]
fn key_segments_are_set_per_field_in_vic_mixed_case() {
    let m = to_extra_config(&Mixed {
        path: "/x".into(),
        compute_resources: vec!["a".into()],
    })
    .unwrap();
    assert_eq!(
        keys(&m),
        [
            "guestinfo.vice./ComputeResources",
            "guestinfo.vice./ComputeResources~",
            "guestinfo.vice./Path"
        ]
    );
}

#[derive(Debug, Default, PartialEq)]
struct MapUnderRw {
    sessions: BTreeMap<String, Sess>,
}
#[derive(Debug, Default, PartialEq)]
struct Sess {
    started: String,
    path: String,
}
extra_config! { MapUnderRw { sessions: "sessions" [read_only] } }
extra_config! { Sess { started: "started" [read_write], path: "cmd/Path" [read_only] } }

#[test]
fn map_entries_sit_at_key_bar_map_key_in_every_scope() {
    let mut v = MapUnderRw::default();
    v.sessions.insert(
        "abc".into(),
        Sess {
            started: "true".into(),
            path: "/hello".into(),
        },
    );
    let m = to_extra_config(&v).unwrap();
    assert_eq!(
        keys(&m),
        [
            "guestinfo.vice..sessions|abc.started",
            "guestinfo.vice./sessions",
            "guestinfo.vice./sessions|abc/cmd/Path"
        ]
    );
}
