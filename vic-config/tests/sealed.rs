//! Sealed (secret-scope) values are bound to their key: a value moved or swapped to
//! another secret key does not open there. Values in VIC's own, unbound format still
//! open. A delta never overwrites a `guestinfo.ovfEnv` it cannot read.

use std::collections::BTreeMap;

use vic_config::delta::delta;
use vic_config::model::{Certificate, Connection, RawCertificate, VchConfig};
use vic_config::{
    extra_config, from_extra_config, to_extra_config, to_extra_config_with, EncodeOptions, Error,
    Secret, SecretKey, SECRET_KEY_KEY,
};

type Map = BTreeMap<String, String>;

#[derive(Debug, Default, PartialEq)]
struct Two {
    user: Secret<String>,
    admin: Secret<String>,
}
extra_config! { Two {
    user: "user" [secret],
    admin: "admin" [secret],
}}

const USER: &str = "guestinfo.vice./user@secret";
const ADMIN: &str = "guestinfo.vice./admin@secret";

fn two() -> Two {
    Two {
        user: Secret::new("user-password".into()),
        admin: Secret::new("admin-password".into()),
    }
}

#[test]
fn swapping_two_sealed_values_between_keys_is_detected_naming_the_key() {
    let mut m = to_extra_config(&two()).unwrap();
    assert_eq!(from_extra_config::<Two>(&m).unwrap(), two());
    let user = m[USER].clone();
    let admin = m[ADMIN].clone();
    m.insert(USER.into(), admin);
    m.insert(ADMIN.into(), user);
    let e = from_extra_config::<Two>(&m).unwrap_err();
    match &e {
        // Fields are read in declaration order: `user` is met first.
        Error::SealedForAnotherKey { key } => assert_eq!(key, USER),
        other => panic!("expected SealedForAnotherKey, got {other:?}"),
    }
    assert_eq!(e.key(), Some(USER));
    let text = format!("{e} {e:?}");
    assert!(!text.contains("password"), "{text}");
}

#[test]
fn a_sealed_value_copied_to_another_key_does_not_open_there() {
    let mut m = to_extra_config(&two()).unwrap();
    let admin = m[ADMIN].clone();
    m.insert(USER.into(), admin);
    let e = from_extra_config::<Two>(&m).unwrap_err();
    assert!(
        matches!(&e, Error::SealedForAnotherKey { key } if key == USER),
        "{e:?}"
    );
}

#[test]
fn values_we_seal_carry_the_bound_format_marker() {
    let m = to_extra_config(&two()).unwrap();
    assert!(m[USER].starts_with("v2:"), "{}", m[USER]);
    // A value sealed with another master key is a plain secret error, not a swap.
    let mut wrong = m.clone();
    wrong.insert(
        SECRET_KEY_KEY.into(),
        SecretKey::generate().unwrap().to_base64(),
    );
    let e = from_extra_config::<Two>(&wrong).unwrap_err();
    assert!(matches!(e, Error::Secret { .. }), "{e:?}");
}

/// A value in VIC's own format: NaCl secretbox, `base64(nonce ‖ box)`, no binding.
/// Sealed once with the key below (32 bytes of 7) and nonce (24 bytes of 1) for the
/// plaintext `hunter2` (the unit tests of `secret.rs` seal it the same way).
const VIC_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
const VIC_SEALED: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBbro3b4F2LpEeOMbI2BQDQuGeLKpLssw=";

#[test]
fn values_in_vics_unbound_format_still_open() {
    assert_eq!(
        SecretKey::from_base64(VIC_KEY).unwrap().to_base64(),
        VIC_KEY
    );
    let mut m = Map::new();
    m.insert(SECRET_KEY_KEY.into(), VIC_KEY.into());
    m.insert(
        "guestinfo.vice./connect/token@secret".into(),
        VIC_SEALED.into(),
    );
    let v: VchConfig = from_extra_config(&m).unwrap();
    assert_eq!(v.connection.token.unwrap().expose(), "hunter2");
}

#[test]
fn a_delta_keeps_unchanged_vic_values_and_seals_changed_ones_bound() {
    let mut current = Map::new();
    current.insert(SECRET_KEY_KEY.into(), VIC_KEY.into());
    current.insert(
        "guestinfo.vice./connect/token@secret".into(),
        VIC_SEALED.into(),
    );
    let mut desired: VchConfig = from_extra_config(&current).unwrap();
    // Unchanged plaintext: nothing to send, VIC's value stays as VIC wrote it.
    assert_eq!(delta(&current, &desired).unwrap(), []);
    desired.connection.token = Some(Secret::new("changed".into()));
    let changes = delta(&current, &desired).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    match &changes[0] {
        vic_config::delta::Change::Set { key, value } => {
            assert_eq!(key, "guestinfo.vice./connect/token@secret");
            assert!(value.starts_with("v2:"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_delta_never_overwrites_an_unparsable_ovf_env() {
    // vSphere's own OVF environment (vApp options) also lives at guestinfo.ovfEnv.
    let mut current = Map::new();
    current.insert(
        SECRET_KEY_KEY.into(),
        "<?xml version=\"1.0\"?><Environment/>".into(),
    );
    let desired = VchConfig {
        connection: Connection {
            token: Some(Secret::new("hunter2".into())),
            ..Default::default()
        },
        ..Default::default()
    };
    let e = delta(&current, &desired).unwrap_err();
    assert!(
        matches!(&e, Error::Secret { key, .. } if key == SECRET_KEY_KEY),
        "{e:?}"
    );
    // Without secrets to seal the key is not needed, and not touched.
    let plain = VchConfig {
        connection: Connection {
            target: Some("https://vc".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let changes = delta(&current, &plain).unwrap();
    assert!(
        changes.iter().all(|c| c.key() != SECRET_KEY_KEY),
        "{changes:?}"
    );
}

#[test]
fn a_delta_with_no_ovf_env_yet_adds_a_fresh_key() {
    let current = Map::new();
    let desired = Connection {
        token: Some(Secret::new("hunter2".into())),
        ..Default::default()
    };
    let changes = delta(&current, &desired).unwrap();
    assert!(
        changes.iter().any(|c| c.key() == SECRET_KEY_KEY),
        "{changes:?}"
    );
}

#[test]
fn binary_secrets_are_bound_too() {
    let v = Certificate {
        host_certificate: Some(RawCertificate {
            key: Some(Secret::new(b"-----BEGIN KEY-----".to_vec())),
            cert: b"cert".to_vec(),
        }),
        ..Default::default()
    };
    let k = SecretKey::generate().unwrap();
    let m = to_extra_config_with(
        &v,
        EncodeOptions {
            secret_key: Some(k),
            ..Default::default()
        },
    )
    .unwrap();
    let back: Certificate = from_extra_config(&m).unwrap();
    assert_eq!(back, v);
}

#[test]
fn bound_secrets_can_be_required_refusing_vics_swappable_format() {
    let mut m = Map::new();
    m.insert(SECRET_KEY_KEY.into(), VIC_KEY.into());
    m.insert(
        "guestinfo.vice./connect/token@secret".into(),
        VIC_SEALED.into(),
    );
    let strict = vic_config::DecodeOptions {
        require_bound_secrets: true,
        ..Default::default()
    };
    let mut v = VchConfig::default();
    let e = vic_config::decode_into(&m, &mut v, strict.clone()).unwrap_err();
    assert!(
        matches!(&e, Error::Secret { key, .. } if key == "guestinfo.vice./connect/token@secret"),
        "{e:?}"
    );
    // What this crate seals passes.
    let ours = to_extra_config(&VchConfig {
        connection: Connection {
            token: Some(Secret::new("hunter2".into())),
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    vic_config::decode_into(&ours, &mut v, strict).unwrap();
    assert_eq!(v.connection.token.unwrap().expose(), "hunter2");
}
