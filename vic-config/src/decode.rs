//! The decoder: a key/value source to Rust values, merging into what is there.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::encode::DEFAULT_MAX_DEPTH;
use crate::{Error, ExtraConfig, FieldSpec, KeyCtx, Layout, SecretKey, Value, SECRET_KEY_KEY};

/// What VIC stores for an empty string.
///
/// vSphere deletes an extraConfig key set to an empty value, so VIC sends an empty
/// string as `<nil>`, and the key may then hold `<nil>` wherever it is read: through
/// the API, in the VM's `.vmx` file, from inside the guest. The [`Decoder`] reads a
/// stored `<nil>` as the empty string from every [`Source`], so a value decodes the
/// same whichever way it was fetched, and whether `""` or `<nil>` was stored.
///
/// The text `<nil>` itself therefore cannot round-trip: the [`Encoder`](crate::Encoder)
/// refuses to store a value whose text is exactly `<nil>`
/// ([`Error::Unrepresentable`]) rather than let it read back empty, and a `<nil>`
/// that VIC stored for a string that really was `<nil>` reads as empty. Inside a
/// longer text, such as the `…~` list of a slice, `<nil>` is ordinary text, and a
/// secret is stored sealed, so its plaintext may be `<nil>`.
///
/// Maps keep `""` as it is, and so does a `.vmx` file written by
/// [`vmx`](crate::vmx); `<nil>` is written only into what goes to vSphere's API
/// (the `OptionValue` lists of the `vim25` feature).
pub const NIL: &str = "<nil>";

/// Where keys are read from: a map, a `.vmx` file, an `OptionValue` list, the
/// guest's backdoor.
///
/// # Spellings of one key
///
/// - **Letter case.** VMX looks keys up ignoring case, so keys that differ only in
///   case are one key. The sources that come from VMX resolve them to one entry:
///   a [`VmxFile`](crate::vmx::VmxFile) looks keys up ignoring case and refuses a
///   file holding two spellings of one key (naming both, at the second line, so a
///   file of any number of such aliases costs linear work);
///   `option_value::from_option_values` (feature `vim25`) refuses such lists the same way.
///   An in-memory map is looked up by its exact spelling.
/// - **`.` versus `/`.** These are distinct VMX keys, and VIC's own data holds both
///   spellings for two different fields (`…|id.runblock` read-write and
///   `…|id/runblock` read-only in a VCH), so they are never merged: a field reads
///   exactly the spelling its scope gives, and a dotted (guest-writable) spelling can
///   never stand in for a read-only key. Where VIC's separator rewriting does make
///   two spellings one entry, map keys that differ only in `.`/`/` or case, the map
///   is refused ([`Error::Alias`]), on decode before any entry is read, so an index
///   listing any number of aliases of one entry costs work linear in its length.
pub trait Source {
    /// The value of `key` as stored, `None` when the key does not exist. A stored
    /// [`NIL`] is returned as it is: the decoder reads it as empty.
    fn get(&self, key: &str) -> Result<Option<String>, Error>;

    /// The layout the keys are in, when the source can tell (a map can, by looking
    /// at its keys; the guest channel cannot list keys).
    fn detect_layout(&self) -> Option<Layout> {
        None
    }
}

impl Source for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Result<Option<String>, Error> {
        Ok(BTreeMap::get(self, key).cloned())
    }
    fn detect_layout(&self) -> Option<Layout> {
        Layout::detect(self.keys().map(String::as_str))
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, key: &str) -> Result<Option<String>, Error> {
        Ok(HashMap::get(self, key).cloned())
    }
    fn detect_layout(&self) -> Option<Layout> {
        Layout::detect(self.keys().map(String::as_str))
    }
}

/// How to decode.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Key layout to read; `None` detects it from the source (current when the
    /// source cannot tell).
    pub layout: Option<Layout>,
    /// The master key of secret fields; `None` reads it from `guestinfo.ovfEnv` when a secret
    /// field is met.
    pub secret_key: Option<SecretKey>,
    /// Struct levels the decoder enters at most (deeper data is not read).
    pub max_depth: u32,
    /// Refuse secret values in VIC's unbound format (secretbox without associated
    /// data, which can be swapped between keys unnoticed): for VMs whose secrets were
    /// all sealed by this crate, so that nobody can put a swappable value back.
    /// Off by default, so that configs VIC wrote keep decoding.
    pub require_bound_secrets: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            layout: None,
            secret_key: None,
            max_depth: DEFAULT_MAX_DEPTH,
            require_bound_secrets: false,
        }
    }
}

/// Reads values from a [`Source`], recording every key it read (the keys the
/// serializer owns in that source).
pub struct Decoder<'s> {
    src: &'s dyn Source,
    layout: Layout,
    max_depth: u32,
    secret_key: Option<SecretKey>,
    require_bound_secrets: bool,
    consumed: BTreeSet<String>,
}

impl std::fmt::Debug for Decoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("layout", &self.layout)
            .field("max_depth", &self.max_depth)
            .field("consumed", &self.consumed.len())
            .finish_non_exhaustive()
    }
}

impl<'s> Decoder<'s> {
    /// A decoder over `src`.
    pub fn new(src: &'s dyn Source, opts: DecodeOptions) -> Self {
        let layout = opts
            .layout
            .or_else(|| src.detect_layout())
            .unwrap_or_default();
        Decoder {
            src,
            layout,
            max_depth: opts.max_depth,
            secret_key: opts.secret_key,
            require_bound_secrets: opts.require_bound_secrets,
            consumed: BTreeSet::new(),
        }
    }

    /// The layout being read.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Decodes a whole value from the root of the key space, merging into `value`;
    /// returns whether any key was found.
    pub fn decode<T: ExtraConfig>(&mut self, value: &mut T) -> Result<bool, Error> {
        let root = KeyCtx::root(self.layout, self.max_depth);
        crate::decode_struct(value, self, &root)
    }

    /// Reads field `spec` of the struct at `parent` into `value`.
    pub fn field<V: Value>(
        &mut self,
        parent: &KeyCtx,
        spec: &FieldSpec,
        value: &mut V,
    ) -> Result<bool, Error> {
        if spec.skip_decode {
            return Ok(false);
        }
        match parent.field(spec) {
            Some(ctx) => value.decode(self, &ctx),
            None => Ok(false),
        }
    }

    /// The value under the key of `ctx` (with `marker` after the last segment),
    /// [`NIL`] read as empty, opened when the scope is secret.
    pub fn get(&mut self, ctx: &KeyCtx, marker: &str) -> Result<Option<String>, Error> {
        let key = ctx.key(marker);
        let Some(raw) = self.src.get(&key)? else {
            return Ok(None);
        };
        self.consumed.insert(key.clone());
        let raw = if raw == NIL { String::new() } else { raw };
        if !ctx.is_secret() {
            return Ok(Some(raw));
        }
        if self.require_bound_secrets && !SecretKey::is_bound(&raw) {
            return Err(Error::Secret {
                key,
                reason:
                    "sealed in VIC's unbound format, which bound secrets are required not to be",
            });
        }
        let sk = match self.secret_key.take() {
            Some(k) => k,
            None => {
                let stored = self.src.get(SECRET_KEY_KEY)?.ok_or(Error::Secret {
                    key: key.clone(),
                    reason: "no key in guestinfo.ovfEnv to open it with",
                })?;
                SecretKey::from_base64(&stored)?
            }
        };
        let opened = sk.open(&key, &raw);
        self.secret_key = Some(sk);
        opened.map(Some)
    }

    /// An [`Error::Invalid`] for the key of `ctx`, quoting `text` unless secret.
    pub fn invalid(&self, ctx: &KeyCtx, marker: &str, text: &str, reason: &str) -> Error {
        let key = ctx.key(marker);
        if ctx.is_secret() {
            Error::invalid(&key, reason)
        } else {
            Error::invalid(
                &key,
                format!("{reason}, found {}", crate::error::quote(text)),
            )
        }
    }

    /// Every key read so far.
    pub fn consumed(&self) -> &BTreeSet<String> {
        &self.consumed
    }

    /// The consumed keys, taking them.
    pub fn into_consumed(self) -> BTreeSet<String> {
        self.consumed
    }
}
