//! The encoder: Rust values to a flat key/value map.

use std::collections::{BTreeMap, HashMap};

use crate::{Error, ExtraConfig, FieldSpec, KeyCtx, Layout, SecretKey, Value, NIL, SECRET_KEY_KEY};

/// The recursion limit used when none is given: deep enough for any real model,
/// shallow enough to stop a self-referential type.
pub const DEFAULT_MAX_DEPTH: u32 = 32;

/// How to encode.
#[derive(Debug, Clone)]
pub struct EncodeOptions {
    /// Key layout to write (current by default).
    pub layout: Layout,
    /// The master key for secret fields. `None`: a fresh random key is made when
    /// the first secret field is written. Give the VM's existing key to keep
    /// updates small.
    pub secret_key: Option<SecretKey>,
    /// Struct levels the encoder enters at most.
    pub max_depth: u32,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            layout: Layout::Current,
            secret_key: None,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

/// Writes values into a key/value map, refusing collisions (also those that differ
/// only in letter case).
#[derive(Debug)]
pub struct Encoder {
    opts: EncodeOptions,
    out: BTreeMap<String, String>,
    folded: HashMap<String, String>,
    secret_used: bool,
    writes: usize,
}

impl Encoder {
    /// An encoder with the given options.
    pub fn new(opts: EncodeOptions) -> Self {
        Encoder {
            opts,
            out: BTreeMap::new(),
            folded: HashMap::new(),
            secret_used: false,
            writes: 0,
        }
    }

    /// The layout being written.
    pub fn layout(&self) -> Layout {
        self.opts.layout
    }

    /// How many keys have been written so far.
    pub fn writes(&self) -> usize {
        self.writes
    }

    /// Encodes a whole value from the root of the key space.
    pub fn encode<T: ExtraConfig>(&mut self, value: &T) -> Result<(), Error> {
        let root = KeyCtx::root(self.opts.layout, self.opts.max_depth);
        crate::encode_struct(value, self, &root)
    }

    /// Writes field `spec` of the struct at `parent`.
    pub fn field<V: Value>(
        &mut self,
        parent: &KeyCtx,
        spec: &FieldSpec,
        value: &V,
    ) -> Result<(), Error> {
        if spec.skip_encode {
            return Ok(());
        }
        match parent.field(spec) {
            Some(ctx) => value.encode(self, &ctx),
            None => Ok(()),
        }
    }

    /// Writes `text` under the key of `ctx` (with `marker` after the last segment),
    /// sealing it when the scope is secret. A stored value that would be exactly
    /// [`NIL`] is refused: it would read back as the empty string.
    pub fn put(&mut self, ctx: &KeyCtx, marker: &str, text: String) -> Result<(), Error> {
        let key = ctx.key(marker);
        let value = if ctx.is_secret() {
            let sk = match self.opts.secret_key.take() {
                Some(k) => k,
                None => SecretKey::generate()?,
            };
            let sealed = sk.seal(&key, &text);
            self.opts.secret_key = Some(sk);
            self.secret_used = true;
            sealed?
        } else {
            text
        };
        if value == NIL {
            return Err(Error::Unrepresentable {
                key,
                reason: format!(
                    "the value is the text `{NIL}`, which VIC stores for an empty string: \
                     it would read back empty (refused rather than changed)"
                ),
            });
        }
        self.insert(key, value)
    }

    fn insert(&mut self, key: String, value: String) -> Result<(), Error> {
        let folded = key.to_ascii_lowercase();
        if let Some(other) = self.folded.get(&folded) {
            return Err(Error::Collision {
                key,
                other: other.clone(),
            });
        }
        self.folded.insert(folded, key.clone());
        self.out.insert(key, value);
        self.writes += 1;
        Ok(())
    }

    /// The secretbox key in use, if a secret field was written or one was given.
    pub fn secret_key(&self) -> Option<&SecretKey> {
        self.opts.secret_key.as_ref()
    }

    /// The written map; adds `guestinfo.ovfEnv` when a secret field was sealed.
    pub fn finish(mut self) -> Result<BTreeMap<String, String>, Error> {
        if self.secret_used {
            if let Some(k) = self.opts.secret_key.as_ref().map(SecretKey::to_base64) {
                self.insert(SECRET_KEY_KEY.to_owned(), k)?;
            }
        }
        Ok(self.out)
    }
}
