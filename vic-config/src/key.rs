//! Key shapes: layouts, scopes, field specifications and how a field's key is built
//! from its parent's (section 2 of the format).

use std::collections::BTreeMap;

use crate::{Error, Locator, Value};

/// Which generation of the key layout: where the guest-visible keys are rooted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Layout {
    /// VIC ≥ 0.5: visible keys start with `guestinfo.vice.`.
    #[default]
    Current,
    /// VIC 0.1–0.4: visible keys start with `guestinfo.`.
    Legacy,
}

impl Layout {
    /// The visible root without its trailing dot (`guestinfo.vice` or `guestinfo`).
    pub fn root(self) -> &'static str {
        match self {
            Layout::Current => "guestinfo.vice",
            Layout::Legacy => "guestinfo",
        }
    }

    /// Guesses the layout of a set of keys: current if any key has the current root,
    /// else legacy if any key has the legacy read-only or read-write root, else `None`.
    pub fn detect<'a>(keys: impl IntoIterator<Item = &'a str>) -> Option<Layout> {
        let mut legacy = false;
        for k in keys {
            if k.starts_with("guestinfo.vice./") || k.starts_with("guestinfo.vice..") {
                return Some(Layout::Current);
            }
            legacy |= k.starts_with("guestinfo./") || k.starts_with("guestinfo..");
        }
        legacy.then_some(Layout::Legacy)
    }

    /// Auto-detects the layout of a map, current when nothing tells.
    pub fn detect_map(map: &BTreeMap<String, String>) -> Layout {
        Layout::detect(map.keys().map(String::as_str)).unwrap_or_default()
    }
}

/// Who can see a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Not visible to the guest: no root (`a/b/c`).
    Hidden,
    /// The guest can read it: `<root>./a/b/c`.
    ReadOnly,
    /// The guest can read and write it: `<root>..a.b.c`.
    ReadWrite,
}

/// The key segment, scope and options of one field, as the [`extra_config!`] macro
/// writes them.
///
/// [`FieldSpec::inherit`] is a field without attributes (it inherits its parent's
/// scope); [`FieldSpec::attributed`] starts a field with attributes, hidden and
/// read-only unless a scope method says otherwise.
///
/// [`extra_config!`]: crate::extra_config
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub(crate) key: &'static str,
    pub(crate) attributed: bool,
    pub(crate) visibility: Option<Visibility>,
    pub(crate) secret: bool,
    pub(crate) non_persistent: bool,
    pub(crate) depth: Option<u32>,
    pub(crate) skip_encode: bool,
    pub(crate) skip_decode: bool,
}

impl FieldSpec {
    /// A field without attributes: key segment `key`, scope inherited from the parent.
    pub const fn inherit(key: &'static str) -> Self {
        FieldSpec {
            key,
            attributed: false,
            visibility: None,
            secret: false,
            non_persistent: false,
            depth: None,
            skip_encode: false,
            skip_decode: false,
        }
    }

    /// A field with attributes: key segment `key`; hidden unless a scope is given.
    pub const fn attributed(key: &'static str) -> Self {
        let mut s = Self::inherit(key);
        s.attributed = true;
        s
    }

    /// Scope read-only.
    pub const fn read_only(mut self) -> Self {
        self.visibility = Some(Visibility::ReadOnly);
        self
    }

    /// Scope read-write.
    pub const fn read_write(mut self) -> Self {
        self.visibility = Some(Visibility::ReadWrite);
        self
    }

    /// Scope hidden.
    pub const fn hidden(mut self) -> Self {
        self.visibility = Some(Visibility::Hidden);
        self
    }

    /// Scope secret: read-only, `@secret` suffix, value sealed.
    pub const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// Scope non-persistent: `@non-persistent` suffix, inherited by all children.
    pub const fn non_persistent(mut self) -> Self {
        self.non_persistent = true;
        self
    }

    /// Recursion limit: how many struct levels below this field are visited
    /// (`depth(0)`: a struct-typed field is left out entirely).
    pub const fn depth(mut self, levels: u32) -> Self {
        self.depth = Some(levels);
        self
    }

    /// Never written by the encoder.
    pub const fn skip_encode(mut self) -> Self {
        self.skip_encode = true;
        self
    }

    /// Never read by the decoder (the field keeps its value).
    pub const fn skip_decode(mut self) -> Self {
        self.skip_decode = true;
        self
    }

    /// Neither written nor read.
    pub const fn skip(self) -> Self {
        self.skip_encode().skip_decode()
    }

    /// The key segment as declared (the field's part of its key, before scope
    /// shaping).
    pub const fn key(&self) -> &'static str {
        self.key
    }
}

/// How a field path goes on below a value: [`Value::locate`] of the field's type.
type LocateFn = for<'p> fn(&mut Locator<'p>, &KeyCtx) -> Result<(), Error>;

/// One field as declared with [`extra_config!`]: its Rust name, its [`FieldSpec`],
/// and (privately) how key look-ups continue below it. [`ExtraConfig::fields`]
/// lists them, so that keys can be computed from the declarations without a value.
///
/// [`extra_config!`]: crate::extra_config
/// [`ExtraConfig::fields`]: crate::ExtraConfig::fields
#[derive(Debug, Clone, Copy)]
pub struct FieldDecl {
    name: &'static str,
    spec: FieldSpec,
    locate: LocateFn,
}

impl FieldDecl {
    /// The declaration of field `name` of a struct `S`; `field` is a field accessor
    /// (`|s: &S| &s.name`), there only to tell the field's type `V`.
    pub const fn new<S, V: Value>(
        name: &'static str,
        spec: FieldSpec,
        field: fn(&S) -> &V,
    ) -> Self {
        let _ = field;
        FieldDecl {
            name,
            spec,
            locate: V::locate,
        }
    }

    /// The Rust field name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The key segment, scope and options.
    pub const fn spec(&self) -> &FieldSpec {
        &self.spec
    }

    /// Continues a key look-up into the field's value at `ctx`.
    pub(crate) fn locate(&self, loc: &mut Locator<'_>, ctx: &KeyCtx) -> Result<(), Error> {
        (self.locate)(loc, ctx)
    }
}

/// Where a value sits: the path of key segments and the scope in force there.
///
/// The encoder and decoder hand one to every [`Value`](crate::Value); a value turns it
/// into key strings with [`KeyCtx::key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCtx {
    segments: Vec<String>,
    visibility: Visibility,
    secret: bool,
    non_persistent: bool,
    /// Struct levels that may still be entered.
    remaining: u32,
    /// Whether `remaining` comes from a field's own `depth` (then reaching it is
    /// intended and silent) rather than the global limit (then it is an error).
    explicit_limit: bool,
    /// The global limit, for error messages.
    limit: u32,
    pub(crate) layout: Layout,
}

impl KeyCtx {
    /// The context of a top-level value: no path, hidden (no root), the given
    /// recursion limit.
    pub fn root(layout: Layout, max_depth: u32) -> Self {
        KeyCtx {
            segments: Vec::new(),
            visibility: Visibility::Hidden,
            secret: false,
            non_persistent: false,
            remaining: max_depth,
            explicit_limit: false,
            limit: max_depth,
            layout,
        }
    }

    /// The visibility in force.
    pub fn visibility(&self) -> Visibility {
        self.visibility
    }

    /// Whether values here are sealed.
    pub fn is_secret(&self) -> bool {
        self.secret
    }

    /// Whether keys here carry `@non-persistent`.
    pub fn is_non_persistent(&self) -> bool {
        self.non_persistent
    }

    /// The context of a field of the struct at `self`, or `None` when the field is
    /// not written at all (non-persistent and hidden).
    pub fn field(&self, spec: &FieldSpec) -> Option<KeyCtx> {
        let mut c = self.clone();
        c.segments.push(spec.key.to_owned());
        if spec.attributed {
            c.visibility = spec.visibility.unwrap_or(Visibility::Hidden);
            c.secret = spec.secret;
            if spec.secret {
                c.visibility = Visibility::ReadOnly;
            }
        }
        c.non_persistent = self.non_persistent || spec.non_persistent;
        if let Some(d) = spec.depth {
            if d <= c.remaining {
                c.remaining = d;
                c.explicit_limit = true;
            }
        }
        if c.non_persistent && c.visibility == Visibility::Hidden {
            return None;
        }
        Some(c)
    }

    /// The context of element `index` of a slice at `self` (`key|index`).
    pub fn index(&self, index: usize) -> KeyCtx {
        self.entry(&index.to_string())
    }

    /// The context of the entry `map_key` of a map at `self` (`key|map_key`).
    pub fn entry(&self, map_key: &str) -> KeyCtx {
        let mut c = self.clone();
        match c.segments.last_mut() {
            Some(last) => {
                last.push('|');
                last.push_str(map_key);
            }
            None => c.segments.push(format!("|{map_key}")),
        }
        c
    }

    /// Enters a struct: `Ok(Some)` with one level less to go, `Ok(None)` when a
    /// field's own recursion limit stops here, `Err(TooDeep)` at the global limit.
    pub(crate) fn enter(&self) -> Result<Option<KeyCtx>, crate::Error> {
        if self.remaining == 0 {
            if self.explicit_limit {
                return Ok(None);
            }
            return Err(crate::Error::TooDeep {
                key: self.key(""),
                limit: self.limit,
            });
        }
        let mut c = self.clone();
        c.remaining -= 1;
        Ok(Some(c))
    }

    /// The key string of this context; `marker` is appended to the last path segment
    /// before the scope suffixes (`"~"` for the element list of a primitive slice).
    pub fn key(&self, marker: &str) -> String {
        let root = self.layout.root();
        let mut out = String::new();
        let (sep, from) = match self.visibility {
            Visibility::Hidden => ('/', None),
            Visibility::ReadOnly => {
                out.push_str(root);
                out.push_str("./");
                ('/', Some('.'))
            }
            Visibility::ReadWrite => {
                out.push_str(root);
                out.push_str("..");
                ('.', Some('/'))
            }
        };
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                out.push(sep);
            }
            match from {
                // Switching scope mid-path rewrites the separators of the whole path,
                // including those inside earlier segments (VIC's behaviour).
                Some(f) => out.extend(seg.chars().map(|ch| if ch == f { sep } else { ch })),
                None => out.push_str(seg),
            }
        }
        out.push_str(marker);
        if self.secret {
            out.push_str("@secret");
        }
        if self.non_persistent {
            out.push_str("@non-persistent");
        }
        out
    }
}

/// The key under which the secretbox key of a VM's secret fields is stored.
pub const SECRET_KEY_KEY: &str = "guestinfo.ovfEnv";
