//! `<nil>`, VIC's stand-in for an empty string (vSphere deletes empty values): every
//! source decodes it as empty, so every path gives the same value; `.vmx` files
//! keep `""`; the text `<nil>` itself cannot round-trip and is refused.

use std::collections::{BTreeMap, HashMap};

use vic_config::delta::delta;
use vic_config::model::Connection;
use vic_config::vmx::{write_lines, VmxFile};
use vic_config::{extra_config, from_extra_config, to_extra_config, Error, Secret, Source, NIL};

type Map = BTreeMap<String, String>;

#[derive(Debug, Default, PartialEq)]
struct Entry {
    text: String,
    maybe: Option<String>,
    hidden: String,
    list: Vec<String>,
    tags: BTreeMap<String, String>,
}
extra_config! { Entry {
    text: "text" [read_only],
    maybe: "maybe" [read_write],
    hidden: "hidden" [hidden],
    list: "list" [read_only],
    tags: "tags" [read_only],
}}

/// The value every source below must decode to: empty strings everywhere.
fn empty() -> Entry {
    Entry {
        text: String::new(),
        maybe: Some(String::new()),
        hidden: String::new(),
        list: vec![String::new()],
        tags: BTreeMap::from([("t".to_owned(), String::new())]),
    }
}

/// The keys of `empty()` with every value set to `value`, except the index keys.
fn stored(value: &str) -> Map {
    let mut m = Map::new();
    for k in [
        "guestinfo.vice./text",
        "guestinfo.vice..maybe",
        "hidden",
        "guestinfo.vice./list~",
        "guestinfo.vice./tags|t",
    ] {
        m.insert(k.to_owned(), value.to_owned());
    }
    m.insert("guestinfo.vice./list".into(), "0".into());
    m.insert("guestinfo.vice./tags".into(), "t".into());
    m
}

fn vmx_text(map: &Map) -> String {
    map.iter()
        .map(|(k, v)| format!("{k} = \"{v}\"\n"))
        .collect()
}

/// Every way of fetching the keys: maps and `.vmx` files, holding `<nil>` (as
/// VIC and vSphere leave them) or `""` (as in-memory maps and VIC's own files).
fn sources() -> Vec<(String, Box<dyn Source>)> {
    let mut out: Vec<(String, Box<dyn Source>)> = Vec::new();
    for (what, value) in [("<nil>", NIL), ("\"\"", "")] {
        let map = stored(value);
        let file = VmxFile::parse(&vmx_text(&map)).unwrap();
        out.push((format!("BTreeMap holding {what}"), Box::new(map.clone())));
        out.push((
            format!("HashMap holding {what}"),
            Box::new(map.into_iter().collect::<HashMap<_, _>>()),
        ));
        out.push((format!(".vmx map holding {what}"), Box::new(file.to_map())));
        out.push((format!(".vmx file holding {what}"), Box::new(file)));
        #[cfg(feature = "vim25")]
        {
            // A VM's config.extraConfig, as vim25 decodes it from the server.
            let options = vic_config::option_value::to_option_values(&stored(value));
            let map = vic_config::option_value::from_option_values(&options).unwrap();
            out.push((format!("OptionValues holding {what}"), Box::new(map)));
        }
    }
    out
}

/// The typed path between vim25 and vic-config: a spec's `extraConfig` written with
/// `option_value::encode` sends `<nil>` for the empty string, and reading it back as a
/// VM's `config.extraConfig` gives the same value as every other source.
#[cfg(feature = "vim25")]
#[test]
fn option_values_round_trip_the_empty_string_through_nil() {
    use vim25_core::types::{VirtualMachineConfigInfo, VirtualMachineConfigSpec};
    let spec = VirtualMachineConfigSpec {
        extra_config: vic_config::option_value::encode(&empty()).unwrap(),
        ..Default::default()
    };
    let sent = |key: &str| {
        spec.extra_config
            .iter()
            .find(|o| o.key == key)
            .and_then(|o| o.value.as_ref()?.as_str())
            .map(str::to_owned)
    };
    assert_eq!(sent("guestinfo.vice./text").as_deref(), Some(NIL));
    assert_eq!(sent("hidden").as_deref(), Some(NIL));
    // An empty value would delete the key: none is sent.
    assert!(spec
        .extra_config
        .iter()
        .all(|o| o.value.as_ref().and_then(|v| v.as_str()) != Some("")));
    let config = VirtualMachineConfigInfo {
        extra_config: spec.extra_config,
        ..Default::default()
    };
    let back: Entry = vic_config::option_value::decode(&config.extra_config).unwrap();
    assert_eq!(back, empty());
}

/// A function that uses both crates can use `?` on either error.
#[cfg(feature = "vim25")]
#[test]
fn errors_of_both_crates_convert_for_question_mark() {
    fn with_vim25_error(map: &BTreeMap<String, String>) -> Result<Entry, vim25_core::Error> {
        let options = vic_config::option_value::to_option_values(map);
        Ok(vic_config::option_value::decode(&options)?)
    }
    fn with_vic_error() -> Result<(), vic_config::Error> {
        Err(vim25_core::Error::NotSupported("probe".into()))?;
        Ok(())
    }
    let mut bad = BTreeMap::new();
    bad.insert("a".to_string(), "1".to_string());
    bad.insert("A".to_string(), "2".to_string());
    let err = with_vim25_error(&bad).unwrap_err();
    assert!(matches!(err, vim25_core::Error::Convert { .. }), "{err:?}");
    assert!(err.to_string().contains("extraConfig"), "{err}");
    let err = with_vic_error().unwrap_err();
    assert!(matches!(err, vic_config::Error::Vim25(_)), "{err:?}");
}

#[test]
fn every_source_decodes_nil_as_the_empty_string() {
    assert_eq!(to_extra_config(&empty()).unwrap(), stored(""));
    for (what, src) in sources() {
        let got: Entry = from_extra_config(src.as_ref()).unwrap();
        assert_eq!(got, empty(), "{what}");
    }
}

#[test]
fn vmx_files_keep_empty_values_as_empty_quotes() {
    let text = write_lines(&to_extra_config(&empty()).unwrap()).unwrap();
    assert!(text.contains("guestinfo.vice./text = \"\"\n"), "{text}");
    assert!(!text.contains(NIL), "{text}");
    let back: Entry = from_extra_config(&VmxFile::parse(&text).unwrap()).unwrap();
    assert_eq!(back, empty());
    // The file itself keeps what is stored: `<nil>` stays text until decoded.
    let file = VmxFile::parse("guestinfo.vice./text = \"<nil>\"\n").unwrap();
    assert_eq!(file.get("guestinfo.vice./text"), Some(NIL));
}

#[test]
fn the_text_nil_cannot_round_trip_so_it_is_refused() {
    let refused = |e: Entry, key: &str| match to_extra_config(&e) {
        Err(Error::Unrepresentable { key: k, reason }) => {
            assert_eq!(k, key);
            assert!(reason.contains("<nil>"), "{reason}");
        }
        other => panic!("{key}: expected a refusal, got {other:?}"),
    };
    refused(
        Entry {
            text: NIL.into(),
            ..Default::default()
        },
        "guestinfo.vice./text",
    );
    refused(
        Entry {
            maybe: Some(NIL.into()),
            ..Default::default()
        },
        "guestinfo.vice..maybe",
    );
    refused(
        Entry {
            list: vec![NIL.into()],
            ..Default::default()
        },
        "guestinfo.vice./list~",
    );
    refused(
        Entry {
            tags: BTreeMap::from([(NIL.to_owned(), "x".to_owned())]),
            ..Default::default()
        },
        "guestinfo.vice./tags",
    );

    // What VIC stored for a string that really was `<nil>` reads as empty.
    let mut m = Map::new();
    m.insert("guestinfo.vice./text".into(), NIL.into());
    assert_eq!(from_extra_config::<Entry>(&m).unwrap().text, "");

    // Inside a longer value `<nil>` is ordinary text.
    let inside = Entry {
        text: "<nil>!".into(),
        list: vec!["a".into(), NIL.into()],
        ..Default::default()
    };
    let back: Entry = from_extra_config(&to_extra_config(&inside).unwrap()).unwrap();
    assert_eq!(back, inside);

    // A secret is stored sealed, so its plaintext may be `<nil>`.
    let c = Connection {
        token: Some(Secret::new(NIL.into())),
        ..Default::default()
    };
    let back: Connection = from_extra_config(&to_extra_config(&c).unwrap()).unwrap();
    assert_eq!(back.token.unwrap().expose(), NIL);
}

#[test]
fn a_delta_sees_nil_and_empty_as_the_same_value() {
    let current = VmxFile::parse(&vmx_text(&stored(NIL))).unwrap().to_map();
    assert_eq!(delta(&current, &empty()).unwrap(), []);
}

/// `Some(empty)` against `None`: an `Option` exists when a key exists below it.
#[derive(Debug, Default, PartialEq)]
struct Optional {
    text: Option<String>,
    list: Option<Vec<String>>,
    tags: Option<BTreeMap<String, String>>,
    inner: Option<Inner>,
}
#[derive(Debug, Default, PartialEq)]
struct Inner {
    note: Option<String>,
}
extra_config! { Optional {
    text: "text" [read_only],
    list: "list" [read_only],
    tags: "tags" [read_only],
    inner: "inner" [read_only],
}}
extra_config! { Inner { note: "note" } }

#[test]
fn some_empty_string_and_none_round_trip_apart() {
    let some = Optional {
        text: Some(String::new()),
        ..Default::default()
    };
    let m = to_extra_config(&some).unwrap();
    assert_eq!(m.get("guestinfo.vice./text").map(String::as_str), Some(""));
    assert_eq!(from_extra_config::<Optional>(&m).unwrap(), some);
    // Across vSphere's API the empty string travels as `<nil>` and comes back.
    let mut nil = m.clone();
    nil.insert("guestinfo.vice./text".into(), NIL.into());
    assert_eq!(from_extra_config::<Optional>(&nil).unwrap(), some);
    // None writes nothing and reads back None.
    let none = Optional::default();
    assert!(to_extra_config(&none).unwrap().is_empty());
    assert_eq!(
        from_extra_config::<Optional>(&to_extra_config(&none).unwrap()).unwrap(),
        none
    );
}

/// Documented loss: VIC writes nothing for an empty slice or map, nor for a struct
/// none of whose fields writes a key, so `Some` of such a value reads back `None`.
/// Writing a marker key instead would not be VIC's format.
#[test]
fn some_of_an_empty_collection_or_keyless_struct_reads_back_none() {
    let some_empty = Optional {
        list: Some(vec![]),
        tags: Some(BTreeMap::new()),
        inner: Some(Inner { note: None }),
        ..Default::default()
    };
    let m = to_extra_config(&some_empty).unwrap();
    assert!(m.is_empty(), "{m:?}");
    assert_eq!(
        from_extra_config::<Optional>(&m).unwrap(),
        Optional::default()
    );
    // With one key below it, the struct is `Some` again.
    let some_inner = Optional {
        inner: Some(Inner {
            note: Some(String::new()),
        }),
        ..Default::default()
    };
    let m = to_extra_config(&some_inner).unwrap();
    assert_eq!(from_extra_config::<Optional>(&m).unwrap(), some_inner);
}
