//! Keys that differ only in `.`/`/` spelling or letter case: each resolves to one
//! entry, read once; aliases that would make one entry be read twice are refused
//! with an error naming both, in work that does not grow with the number of
//! aliases (counted, not timed).

use std::cell::Cell;
use std::collections::BTreeMap;

use vic_config::vmx::VmxFile;
use vic_config::{extra_config, from_extra_config, to_extra_config, Error, Source};

type Map = BTreeMap<String, String>;

#[derive(Debug, Default, PartialEq)]
struct Nets {
    by_name: BTreeMap<String, Net>,
}
#[derive(Debug, Default, PartialEq)]
struct Net {
    gateway: String,
    assigned: String,
}
extra_config! { Nets { by_name: "networks" [read_only] } }
extra_config! { Net { gateway: "gateway" [read_only], assigned: "assigned" [read_write] } }

/// A source that counts the look-ups made in it.
struct Counting<S> {
    inner: S,
    gets: Cell<usize>,
}

impl<S: Source> Source for Counting<S> {
    fn get(&self, key: &str) -> Result<Option<String>, Error> {
        self.gets.set(self.gets.get() + 1);
        self.inner.get(key)
    }
    fn detect_layout(&self) -> Option<vic_config::Layout> {
        self.inner.detect_layout()
    }
}

fn one_net() -> Map {
    let mut m = Map::new();
    m.insert("guestinfo.vice./networks|a/b/gateway".into(), "gw".into());
    m.insert("guestinfo.vice..networks|a.b.assigned".into(), "ip".into());
    m
}

#[test]
fn map_keys_differing_only_by_dot_versus_slash_are_refused_naming_both() {
    // VIC rewrites separators inside map keys, so `a.b` and `a/b` read the same keys.
    let mut m = one_net();
    m.insert("guestinfo.vice./networks".into(), "a.b|a/b".into());
    let e = from_extra_config::<Nets>(&m).unwrap_err();
    match &e {
        Error::Alias { key, first, second } => {
            assert_eq!(key, "guestinfo.vice./networks");
            assert_eq!((first.as_str(), second.as_str()), ("a.b", "a/b"));
        }
        other => panic!("expected Alias, got {other:?}"),
    }
    let text = e.to_string();
    assert!(
        text.contains("\"a.b\"") && text.contains("\"a/b\""),
        "{text}"
    );
}

#[test]
fn map_keys_differing_only_in_letter_case_are_refused_naming_both() {
    // A .vmx file is looked up ignoring case, as VMX does: `A.b` reads `a.b`'s keys.
    let mut m = one_net();
    m.insert("guestinfo.vice./networks".into(), "A.b|a.b".into());
    let text: String = m.iter().map(|(k, v)| format!("{k} = \"{v}\"\n")).collect();
    let file = VmxFile::parse(&text).unwrap();
    let e = from_extra_config::<Nets>(&file).unwrap_err();
    assert!(
        matches!(&e, Error::Alias { first, second, .. } if first == "A.b" && second == "a.b"),
        "{e:?}"
    );
}

#[test]
fn the_encoder_refuses_the_same_aliases() {
    let mut v = Nets::default();
    v.by_name.insert("x.y".into(), Net::default());
    v.by_name.insert("X/y".into(), Net::default());
    let e = to_extra_config(&v).unwrap_err();
    assert!(
        matches!(&e, Error::Alias { first, second, .. } if first == "X/y" && second == "x.y"),
        "{e:?}"
    );
}

#[test]
fn a_single_map_key_with_dots_and_capitals_still_round_trips() {
    let mut v = Nets::default();
    v.by_name.insert(
        "Net.10/8".into(),
        Net {
            gateway: "g".into(),
            assigned: "a".into(),
        },
    );
    v.by_name.insert("other".into(), Net::default());
    let m = to_extra_config(&v).unwrap();
    assert_eq!(from_extra_config::<Nets>(&m).unwrap(), v);
}

/// `n` distinct spellings of the map key `k0.k1.….`: the `.`/`/` choice after each
/// part and the letter case of each `k`, as many as needed.
fn aliases(n: usize) -> Vec<String> {
    let bits = usize::BITS - (n - 1).leading_zeros();
    (0..n)
        .map(|i| {
            let mut s = String::new();
            for b in 0..bits {
                let on = i >> b & 1 == 1;
                if b > 1 {
                    s.push(if on && b % 2 == 1 { '/' } else { '.' });
                }
                s.push(if on && b % 2 == 0 { 'K' } else { 'k' });
                s.push_str(&b.to_string());
            }
            // Bit 1 has no separator before it: it sets the case of a tail.
            s.push(if i >> 1 & 1 == 1 { 'X' } else { 'x' });
            s
        })
        .collect()
}

/// Decodes a file whose map index lists `n` aliases of one map key; returns the
/// number of look-ups made.
fn look_ups_for(n: usize) -> usize {
    let keys = aliases(n);
    assert_eq!(
        keys.iter().collect::<std::collections::BTreeSet<_>>().len(),
        n
    );
    let first = &keys[0];
    let mut text = format!("guestinfo.vice./networks = \"{}\"\n", keys.join("|"));
    text.push_str(&format!(
        "guestinfo.vice./networks|{}/gateway = \"gw\"\n",
        first.replace('.', "/")
    ));
    let file = VmxFile::parse(&text).unwrap();
    let src = Counting {
        inner: file,
        gets: Cell::new(0),
    };
    let e = from_extra_config::<Nets>(&src).unwrap_err();
    assert!(matches!(e, Error::Alias { .. }), "{e:?}");
    src.gets.get()
}

#[test]
fn sixty_five_thousand_aliases_of_one_key_are_refused_with_bounded_work() {
    // Before the fix every alias read the same entry again: look-ups grew with n
    // (and so did memory, one copy of the entry per alias).
    let small = look_ups_for(65_536);
    let large = look_ups_for(131_072);
    assert!(small <= 8, "{small} look-ups for 65,536 aliases");
    assert_eq!(
        small, large,
        "work must not grow with the number of aliases"
    );
}

#[test]
fn a_file_with_sixty_five_thousand_case_aliases_of_one_key_is_refused_naming_both() {
    // 2^16 spellings of a 16-letter key, differing only in letter case: one VMX key.
    let text: String = (0..65_536u32)
        .map(|i| {
            let key: String = (0..16)
                .map(|b| if i >> b & 1 == 1 { 'A' } else { 'a' })
                .collect();
            format!("guestinfo.vice./{key} = \"x\"\n")
        })
        .collect();
    let e = VmxFile::parse(&text).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("line 2"), "{msg}");
    assert!(
        msg.contains("guestinfo.vice./Aaaaaaaaaaaaaaa")
            && msg.contains("guestinfo.vice./aaaaaaaaaaaaaaaa"),
        "{msg}"
    );
}

#[test]
fn dot_and_slash_spellings_of_a_field_key_are_distinct_keys_the_declared_one_is_read() {
    // VIC's own data holds both spellings for two fields (`…|id.runblock` read-write
    // and `…|id/runblock` read-only in the golden VCH), so they are never merged: a
    // field reads the spelling its scope gives, never a guest-writable dotted one.
    let mut m = Map::new();
    m.insert("guestinfo.vice./networks".into(), "n".into());
    m.insert(
        "guestinfo.vice./networks|n/gateway".into(),
        "from-the-host".into(),
    );
    m.insert(
        "guestinfo.vice..networks|n.gateway".into(),
        "from-the-guest".into(),
    );
    m.insert("guestinfo.vice..networks|n.assigned".into(), "ip".into());
    let v: Nets = from_extra_config(&m).unwrap();
    assert_eq!(v.by_name["n"].gateway, "from-the-host");
    m.remove("guestinfo.vice./networks|n/gateway");
    let v: Nets = from_extra_config(&m).unwrap();
    assert_eq!(
        v.by_name["n"].gateway, "",
        "the dotted spelling is not read"
    );
}

#[test]
fn field_keys_differing_only_in_letter_case_still_collide_on_encode() {
    #[derive(Debug, Default)]
    struct Twice {
        a: String,
        b: String,
    }
    extra_config! { Twice { a: "Name" [read_only], b: "name" [read_only] } }
    let e = to_extra_config(&Twice::default()).unwrap_err();
    assert!(
        matches!(&e, Error::Collision { key, other } if key == "guestinfo.vice./name" && other == "guestinfo.vice./Name"),
        "{e:?}"
    );
}
