//! Sealing of secret fields: NaCl secretbox (XSalsa20-Poly1305), one random key per
//! encode stored base64 in `guestinfo.ovfEnv`, a fresh nonce per value, stored value
//! `base64(nonce ‖ box)`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};

use crate::Error;

const NONCE_LEN: usize = 24;

/// A 32-byte secretbox key. Its `Debug` output never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// A fresh random key from the operating system.
    pub fn generate() -> Result<Self, Error> {
        let mut k = [0u8; 32];
        getrandom::getrandom(&mut k).map_err(|_| Error::Secret {
            key: crate::SECRET_KEY_KEY.to_owned(),
            reason: "the operating system gave no random bytes",
        })?;
        Ok(SecretKey(k))
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

    /// Seals `plaintext` for the field at `key`: `base64(nonce ‖ box)`.
    pub fn seal(&self, key: &str, plaintext: &str) -> Result<String, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).map_err(|_| Error::Secret {
            key: key.to_owned(),
            reason: "the operating system gave no random bytes",
        })?;
        let cipher = XSalsa20Poly1305::new(Key::from_slice(&self.0));
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .map_err(|_| Error::Secret {
                key: key.to_owned(),
                reason: "sealing failed",
            })?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Opens the stored value of the field at `key`.
    pub fn open(&self, key: &str, stored: &str) -> Result<String, Error> {
        let err = |reason| Error::Secret {
            key: key.to_owned(),
            reason,
        };
        let raw = STANDARD
            .decode(stored.trim())
            .map_err(|_| err("stored value is not base64"))?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(err("stored value is too short for a sealed box"));
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let cipher = XSalsa20Poly1305::new(Key::from_slice(&self.0));
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| err("cannot be opened with the key in guestinfo.ovfEnv (wrong key or damaged value)"))?;
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
