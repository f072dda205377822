//! Sealing of secret fields.
//!
//! The VM's master key (32 random bytes, one per encode unless the VM's own is
//! reused) is stored base64 in `guestinfo.ovfEnv`. Two formats of sealed values
//! exist, told apart by their first characters:
//!
//! - **VIC's format** (`base64(nonce ‖ box)`): NaCl secretbox (XSalsa20-Poly1305)
//!   under the master key, a fresh 24-byte nonce per value. Secretbox has no
//!   associated data, so such a value opens under *any* secret key of the VM: two
//!   of them can be swapped between fields without notice. VIC writes this format,
//!   and this crate still opens it, so that a VCH or containerVM deployed by VIC
//!   keeps working. It never writes it.
//! - **Bound format** (`v2:` followed by `base64(key id ‖ nonce ‖ ciphertext+tag)`):
//!   what this crate writes. XChaCha20-Poly1305 with the value's extraConfig key as
//!   associated data, under a subkey derived from the master key with HKDF-SHA256
//!   (so the two formats never share a cipher key). A value moved or swapped to
//!   another key fails authentication there and is reported as
//!   [`Error::SealedForAnotherKey`] naming the key it was found at. The 4-byte key
//!   id (also derived with HKDF, it says nothing about the key) tells "sealed under
//!   another master key" ([`Error::Secret`]) apart from "moved to another key".
//!   `:` is not a base64 character, so no VIC value can be mistaken for this format.
//!
//! The compatibility cost: VIC's own tools cannot open values in the bound format.
//! A value VIC sealed is kept as VIC wrote it until its plaintext changes
//! ([`delta`](crate::delta) does not re-send unchanged secrets); values this crate
//! seals are always bound. Values in VIC's format remain swappable among themselves:
//! nothing in that format can tell. A caller whose VMs hold only values this crate
//! sealed can refuse VIC's format altogether
//! ([`DecodeOptions::require_bound_secrets`](crate::DecodeOptions::require_bound_secrets)).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::Payload;
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::Error;

/// Nonce length of both ciphers (XSalsa20 and XChaCha20 both take 24 bytes).
const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
const TAG_LEN: usize = 16;
/// Length of the master key id in the bound format.
const KEY_ID_LEN: usize = 4;
/// The marker that starts a value in the bound format.
const BOUND_PREFIX: &str = "v2:";
/// HKDF `info` of the bound format's cipher key.
const INFO_CIPHER: &[u8] = b"vic-config sealed value v2: cipher key";
/// HKDF `info` of the bound format's key id.
const INFO_KEY_ID: &[u8] = b"vic-config sealed value v2: key id";
/// Prefix of the associated data: the format, then the value's key.
const AD_PREFIX: &[u8] = b"vic-config sealed value v2\0";

/// The 32-byte master key of a VM's secret fields. Its `Debug` output never shows
/// the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

fn random<const N: usize>(key: &str) -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out).map_err(|_| Error::Secret {
        key: key.to_owned(),
        reason: "the operating system gave no random bytes",
    })?;
    Ok(out)
}

/// The associated data of a bound value: the format and the exact key.
fn associated_data(key: &str) -> Vec<u8> {
    let mut ad = Vec::with_capacity(AD_PREFIX.len() + key.len());
    ad.extend_from_slice(AD_PREFIX);
    ad.extend_from_slice(key.as_bytes());
    ad
}

impl SecretKey {
    /// A fresh random key from the operating system.
    pub fn generate() -> Result<Self, Error> {
        random(crate::SECRET_KEY_KEY).map(SecretKey)
    }

    /// The key from its raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey(bytes)
    }

    /// Reads the key from the value of `guestinfo.ovfEnv` (base64 of 32 bytes).
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let bad = || Error::Secret {
            key: crate::SECRET_KEY_KEY.to_owned(),
            reason: "not the base64 of a 32-byte key",
        };
        let raw = STANDARD.decode(text.trim()).map_err(|_| bad())?;
        let k: [u8; 32] = raw.try_into().map_err(|_| bad())?;
        Ok(SecretKey(k))
    }

    /// The value to store at `guestinfo.ovfEnv`.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The bound format's cipher and key id, both derived from the master key.
    fn bound(&self) -> (XChaCha20Poly1305, [u8; KEY_ID_LEN]) {
        let hk = Hkdf::<Sha256>::new(None, &self.0);
        let mut cipher_key = [0u8; 32];
        let mut id = [0u8; KEY_ID_LEN];
        // Both lengths are far below HKDF-SHA256's limit of 8160 bytes: cannot fail.
        let _ = hk.expand(INFO_CIPHER, &mut cipher_key);
        let _ = hk.expand(INFO_KEY_ID, &mut id);
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&cipher_key));
        (cipher, id)
    }

    /// Seals `plaintext` for the field at `key`, bound to that key: `v2:` and
    /// `base64(key id ‖ nonce ‖ ciphertext+tag)`.
    pub fn seal(&self, key: &str, plaintext: &str) -> Result<String, Error> {
        let nonce: [u8; NONCE_LEN] = random(key)?;
        let (cipher, id) = self.bound();
        let ad = associated_data(key);
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &ad,
                },
            )
            .map_err(|_| Error::Secret {
                key: key.to_owned(),
                reason: "sealing failed",
            })?;
        let mut out = Vec::with_capacity(KEY_ID_LEN + NONCE_LEN + sealed.len());
        out.extend_from_slice(&id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!("{BOUND_PREFIX}{}", STANDARD.encode(out)))
    }

    /// Whether `stored` is in the bound format (else it is VIC's unbound one).
    pub fn is_bound(stored: &str) -> bool {
        stored.trim_start().starts_with(BOUND_PREFIX)
    }

    /// Opens the stored value of the field at `key`, in either format (see the
    /// module docs). A bound value sealed for another key is
    /// [`Error::SealedForAnotherKey`].
    pub fn open(&self, key: &str, stored: &str) -> Result<String, Error> {
        let err = |reason| Error::Secret {
            key: key.to_owned(),
            reason,
        };
        let stored = stored.trim();
        let plain = match stored.strip_prefix(BOUND_PREFIX) {
            Some(body) => {
                let raw = STANDARD
                    .decode(body)
                    .map_err(|_| err("stored value is not `v2:` and base64"))?;
                if raw.len() < KEY_ID_LEN + NONCE_LEN + TAG_LEN {
                    return Err(err("stored value is too short for a sealed value"));
                }
                let (id, rest) = raw.split_at(KEY_ID_LEN);
                let (nonce, sealed) = rest.split_at(NONCE_LEN);
                let (cipher, own_id) = self.bound();
                if id != own_id {
                    return Err(err(
                        "sealed under another key than the one in guestinfo.ovfEnv",
                    ));
                }
                let ad = associated_data(key);
                cipher
                    .decrypt(
                        XNonce::from_slice(nonce),
                        Payload {
                            msg: sealed,
                            aad: &ad,
                        },
                    )
                    .map_err(|_| Error::SealedForAnotherKey {
                        key: key.to_owned(),
                    })?
            }
            None => {
                let raw = STANDARD
                    .decode(stored)
                    .map_err(|_| err("stored value is not base64"))?;
                if raw.len() < NONCE_LEN + TAG_LEN {
                    return Err(err("stored value is too short for a sealed box"));
                }
                let (nonce, sealed) = raw.split_at(NONCE_LEN);
                XSalsa20Poly1305::new(Key::from_slice(&self.0))
                    .decrypt(Nonce::from_slice(nonce), sealed)
                    .map_err(|_| {
                        err("cannot be opened with the key in guestinfo.ovfEnv (wrong key or damaged value)")
                    })?
            }
        };
        String::from_utf8(plain).map_err(|_| err("opened value is not UTF-8"))
    }
}

/// A value that must never be printed: `Debug` shows `<redacted>`, and it is not
/// serialized to JSON (model fields of this type are skipped by serde).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(pub T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The value, for the code that needs it (never log it).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// VIC's format, as VIC's secretbox code writes it, with a chosen nonce.
    fn seal_like_vic(key: &SecretKey, nonce: [u8; NONCE_LEN], plaintext: &str) -> String {
        let sealed = XSalsa20Poly1305::new(Key::from_slice(&key.0))
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .unwrap();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    #[test]
    fn vic_format_opens_under_any_key_bound_format_only_under_its_own() {
        let k = SecretKey::from_bytes([7; 32]);
        let vic = seal_like_vic(&k, [1; NONCE_LEN], "hunter2");
        assert_eq!(
            vic,
            "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBbro3b4F2LpEeOMbI2BQDQuGeLKpLssw="
        );
        assert!(!SecretKey::is_bound(&vic));
        assert_eq!(k.open("a@secret", &vic).unwrap(), "hunter2");
        assert_eq!(k.open("b@secret", &vic).unwrap(), "hunter2");
        let bound = k.seal("a@secret", "hunter2").unwrap();
        assert!(SecretKey::is_bound(&bound));
        assert_eq!(k.open("a@secret", &bound).unwrap(), "hunter2");
        assert!(matches!(
            k.open("b@secret", &bound),
            Err(Error::SealedForAnotherKey { key }) if key == "b@secret"
        ));
    }

    #[test]
    fn damaged_bound_values_are_errors_not_panics() {
        let k = SecretKey::from_bytes([7; 32]);
        for bad in [
            "v2:",
            "v2:!!",
            "v2:AAAA",
            "v2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(k.open("a", bad).is_err(), "{bad}");
        }
    }
}
