//! The [`Value`] trait: how one Rust shape is written to and read from keys
//! (section 3 of the format), with its implementations for the standard types.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::{Decoder, Encoder, Error, KeyCtx, Locator};

/// A Rust shape that maps to one or more extraConfig keys.
///
/// Implemented for strings, booleans, all integer widths, `f32`/`f64`, [`Duration`],
/// `Vec<T>`, `BTreeMap<String, T>`, `Option<T>`, `Box<T>`, the codec types of
/// [`crate::types`], and every struct declared with [`extra_config!`](crate::extra_config).
/// `Vec<u8>` is stored as base64, like Go's `[]byte`.
pub trait Value: Default {
    /// Whether this is a primitive in the format's sense: stored as one text value
    /// and, inside a slice, joined into the slice's `key~` list.
    const PRIMITIVE: bool = false;

    /// Whether this is `u8` (so that `Vec<u8>` is stored as base64 bytes).
    #[doc(hidden)]
    const BYTE: bool = false;

    /// The text of a primitive (only called when [`Value::PRIMITIVE`]); the error is
    /// a reason, without the value.
    fn to_text(&self) -> Result<String, String> {
        Err("not a primitive".to_owned())
    }

    /// Parses the text of a primitive (only called when [`Value::PRIMITIVE`]); the
    /// error is a reason, without the value.
    fn from_text(_text: &str) -> Result<Self, String> {
        Err("not a primitive".to_owned())
    }

    #[doc(hidden)]
    fn as_byte(&self) -> Option<u8> {
        None
    }

    #[doc(hidden)]
    fn from_byte(_b: u8) -> Option<Self> {
        None
    }

    /// Writes the value at `ctx`.
    fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error>;

    /// Reads the value at `ctx`, merging into `self`; returns whether any key was
    /// found (a value with no key keeps what it had).
    fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error>;

    /// Says what a value of this type at `ctx` holds, so that a field path can go on
    /// below it without a value ([`key_of`](crate::key_of)). The default is a value
    /// with no keys below its own, where a path ends: right for primitives and codec
    /// types. Containers call [`Locator::slice`] or [`Locator::map`], structs
    /// [`Locator::structure`], wrappers their content's `locate`.
    fn locate(loc: &mut Locator<'_>, ctx: &KeyCtx) -> Result<(), Error> {
        loc.leaf(ctx)
    }
}

/// Writes a primitive at `ctx`.
fn encode_primitive<T: Value>(v: &T, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
    let text = v.to_text().map_err(|reason| Error::Unrepresentable {
        key: ctx.key(""),
        reason,
    })?;
    enc.put(ctx, "", text)
}

/// Reads a primitive at `ctx`.
fn decode_primitive<T: Value>(
    v: &mut T,
    dec: &mut Decoder<'_>,
    ctx: &KeyCtx,
) -> Result<bool, Error> {
    match dec.get(ctx, "")? {
        None => Ok(false),
        Some(text) => {
            *v = T::from_text(&text).map_err(|reason| dec.invalid(ctx, "", &text, &reason))?;
            Ok(true)
        }
    }
}

macro_rules! primitive {
    ($($t:ty => $what:literal),* $(,)?) => {$(
        impl Value for $t {
            const PRIMITIVE: bool = true;
            fn to_text(&self) -> Result<String, String> {
                Ok(self.to_string())
            }
            fn from_text(text: &str) -> Result<Self, String> {
                text.parse::<$t>().map_err(|_| format!("expected {}", $what))
            }
            fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
                encode_primitive(self, enc, ctx)
            }
            fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error> {
                decode_primitive(self, dec, ctx)
            }
        }
    )*};
}

primitive! {
    i8 => "a decimal integer in -128..=127",
    i16 => "a decimal integer that fits 16 signed bits",
    i32 => "a decimal integer that fits 32 signed bits",
    i64 => "a decimal integer that fits 64 signed bits",
    isize => "a decimal integer that fits a signed machine word",
    u16 => "an unsigned decimal integer that fits 16 bits",
    u32 => "an unsigned decimal integer that fits 32 bits",
    u64 => "an unsigned decimal integer that fits 64 bits",
    usize => "an unsigned decimal integer that fits a machine word",
}

impl Value for u8 {
    const PRIMITIVE: bool = true;
    const BYTE: bool = true;
    fn to_text(&self) -> Result<String, String> {
        Ok(self.to_string())
    }
    fn from_text(text: &str) -> Result<Self, String> {
        text.parse::<u8>()
            .map_err(|_| "expected an unsigned decimal integer in 0..=255".to_owned())
    }
    fn as_byte(&self) -> Option<u8> {
        Some(*self)
    }
    fn from_byte(b: u8) -> Option<Self> {
        Some(b)
    }
    fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
        encode_primitive(self, enc, ctx)
    }
    fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error> {
        decode_primitive(self, dec, ctx)
    }
}

impl Value for String {
    const PRIMITIVE: bool = true;
    fn to_text(&self) -> Result<String, String> {
        Ok(self.clone())
    }
    fn from_text(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
    fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
        enc.put(ctx, "", self.clone())
    }
    fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error> {
        match dec.get(ctx, "")? {
            None => Ok(false),
            Some(text) => {
                *self = text;
                Ok(true)
            }
        }
    }
}

/// Go's `strconv.ParseBool` set: `1 t T TRUE true True` and `0 f F FALSE false False`.
pub(crate) fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err("expected a boolean (true/false, 1/0, t/f, TRUE/FALSE)".to_owned()),
    }
}

impl Value for bool {
    const PRIMITIVE: bool = true;
    fn to_text(&self) -> Result<String, String> {
        Ok(if *self { "true" } else { "false" }.to_owned())
    }
    fn from_text(text: &str) -> Result<Self, String> {
        parse_bool(text)
    }
    fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
        encode_primitive(self, enc, ctx)
    }
    fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error> {
        decode_primitive(self, dec, ctx)
    }
}

/// Rewrites Rust's shortest `{:E}` form (`3.14E0`) into Go's `'E', -1` form
/// (`3.14E+00`: signed exponent of at least two digits).
fn go_exponent(rust: &str) -> String {
    match rust.split_once('E') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}E{sign}{digits:0>2}")
        }
        None => rust.to_owned(),
    }
}

macro_rules! float {
    ($($t:ty),*) => {$(
        impl Value for $t {
            const PRIMITIVE: bool = true;
            fn to_text(&self) -> Result<String, String> {
                Ok(if self.is_nan() {
                    "NaN".to_owned()
                } else if self.is_infinite() {
                    if *self > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
                } else {
                    go_exponent(&format!("{:E}", self))
                })
            }
            fn from_text(text: &str) -> Result<Self, String> {
                // Rust's parser takes Go's output, including `+Inf`, `-Inf` and `NaN`.
                text.parse::<$t>()
                    .map_err(|_| "expected a floating-point number such as 3.14E+00".to_owned())
            }
            fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
                encode_primitive(self, enc, ctx)
            }
            fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error> {
                decode_primitive(self, dec, ctx)
            }
        }
    )*};
}

float!(f32, f64);

/// Durations are Go `time.Duration`s: decimal nanoseconds in a signed 64-bit range.
impl Value for Duration {
    const PRIMITIVE: bool = true;
    fn to_text(&self) -> Result<String, String> {
        i64::try_from(self.as_nanos())
            .map(|n| n.to_string())
            .map_err(|_| "duration longer than 2^63-1 nanoseconds (Go's limit)".to_owned())
    }
    fn from_text(text: &str) -> Result<Self, String> {
        let n: i64 = text
            .parse()
            .map_err(|_| "expected a duration in decimal nanoseconds".to_owned())?;
        u64::try_from(n)
            .map(Duration::from_nanos)
            .map_err(|_| "negative durations are not supported".to_owned())
    }
    fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
        encode_primitive(self, enc, ctx)
    }
    fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error> {
        decode_primitive(self, dec, ctx)
    }
}

/// `None` writes nothing; decoding gives `Some` when at least one key exists below
/// the option's key.
///
/// `Some("")` and `None` stay apart: the empty string is written (as `""` in maps
/// and files, as [`NIL`](crate::NIL) through vSphere's API) and reads back `Some("")`.
/// What is lossy, on purpose: `Some` of an empty `Vec` or map, or of a struct none
/// of whose fields writes a key, writes nothing (VIC writes nothing for empty
/// collections, and a marker key would not be VIC's format), so it reads back
/// `None`. The text `<nil>` itself is refused by the encoder (see [`NIL`](crate::NIL)).
impl<T: Value> Value for Option<T> {
    fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
        match self {
            Some(v) => v.encode(enc, ctx),
            None => Ok(()),
        }
    }
    fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error> {
        match self {
            Some(v) => v.decode(dec, ctx),
            None => {
                let mut v = T::default();
                let found = v.decode(dec, ctx)?;
                if found {
                    *self = Some(v);
                }
                Ok(found)
            }
        }
    }
    fn locate(loc: &mut Locator<'_>, ctx: &KeyCtx) -> Result<(), Error> {
        T::locate(loc, ctx)
    }
}

impl<T: Value> Value for Box<T> {
    const PRIMITIVE: bool = T::PRIMITIVE;
    fn to_text(&self) -> Result<String, String> {
        (**self).to_text()
    }
    fn from_text(text: &str) -> Result<Self, String> {
        T::from_text(text).map(Box::new)
    }
    fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
        (**self).encode(enc, ctx)
    }
    fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error> {
        (**self).decode(dec, ctx)
    }
    fn locate(loc: &mut Locator<'_>, ctx: &KeyCtx) -> Result<(), Error> {
        T::locate(loc, ctx)
    }
}

/// Reads a slice's index key: the last index, as a count of elements.
pub(crate) fn parse_index(dec: &Decoder<'_>, ctx: &KeyCtx, text: &str) -> Result<u64, Error> {
    text.parse::<u64>()
        .ok()
        .and_then(|last| last.checked_add(1))
        .ok_or_else(|| {
            dec.invalid(
                ctx,
                "",
                text,
                "expected the last index of a slice (a decimal number)",
            )
        })
}

/// Writes the elements of a primitive slice: `key` = last index, `key~` = elements
/// joined with `|`. An element containing `|` is refused (VIC would split it).
pub(crate) fn encode_primitive_list<T: Value>(
    items: &[T],
    enc: &mut Encoder,
    ctx: &KeyCtx,
) -> Result<(), Error> {
    let mut texts = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let t = item.to_text().map_err(|reason| Error::Unrepresentable {
            key: ctx.key("~"),
            reason: format!("element {i}: {reason}"),
        })?;
        if t.contains('|') {
            return Err(Error::Unrepresentable {
                key: ctx.key("~"),
                reason: format!(
                    "element {i} contains `|`, the element separator of a primitive slice; \
                     VIC would read it back split (refused rather than corrupted)"
                ),
            });
        }
        texts.push(t);
    }
    enc.put(ctx, "", (items.len() - 1).to_string())?;
    enc.put(ctx, "~", texts.join("|"))
}

/// Reads the `key~` list of a primitive slice whose index announced `count` elements.
/// `Ok(None)` when the `key~` key is absent.
pub(crate) fn decode_primitive_list<T: Value>(
    dec: &mut Decoder<'_>,
    ctx: &KeyCtx,
    count: u64,
) -> Result<Option<Vec<T>>, Error> {
    let Some(joined) = dec.get(ctx, "~")? else {
        return Ok(None);
    };
    let parts: Vec<&str> = joined.split('|').collect();
    if parts.len() as u64 != count {
        return Err(Error::Length {
            key: ctx.key(""),
            expected: count,
            found: parts.len() as u64,
        });
    }
    let mut out = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        let v = T::from_text(p)
            .map_err(|reason| dec.invalid(ctx, "~", p, &format!("element {i}: {reason}")))?;
        out.push(v);
    }
    Ok(Some(out))
}

impl<T: Value> Value for Vec<T> {
    fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
        if self.is_empty() {
            return Ok(());
        }
        if T::BYTE {
            let bytes: Vec<u8> = self.iter().filter_map(Value::as_byte).collect();
            return enc.put(ctx, "", STANDARD.encode(bytes));
        }
        if T::PRIMITIVE {
            return encode_primitive_list(self, enc, ctx);
        }
        enc.put(ctx, "", (self.len() - 1).to_string())?;
        for (i, item) in self.iter().enumerate() {
            let ectx = ctx.index(i);
            let before = enc.writes();
            item.encode(enc, &ectx)?;
            if enc.writes() == before {
                return Err(Error::Unrepresentable {
                    key: ectx.key(""),
                    reason: "slice element writes no key, so it could not be read back".into(),
                });
            }
        }
        Ok(())
    }

    fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error> {
        let Some(text) = dec.get(ctx, "")? else {
            return Ok(false);
        };
        if T::BYTE {
            let raw = STANDARD
                .decode(text.as_bytes())
                .map_err(|_| dec.invalid(ctx, "", &text, "expected standard base64"))?;
            *self = raw.into_iter().filter_map(T::from_byte).collect();
            return Ok(true);
        }
        let count = parse_index(dec, ctx, &text)?;
        if T::PRIMITIVE {
            match decode_primitive_list(dec, ctx, count)? {
                Some(items) => *self = items,
                None => {
                    return Err(Error::Missing {
                        key: ctx.key("~"),
                        reason: format!("index key `{}` announces {count} element(s)", ctx.key("")),
                    })
                }
            }
            return Ok(true);
        }
        let mut old = std::mem::take(self).into_iter();
        // Never trust the index for an allocation: elements are read one by one and
        // the first missing one ends the decode with an error.
        let mut i: u64 = 0;
        while i < count {
            let idx = usize::try_from(i).map_err(|_| {
                dec.invalid(
                    ctx,
                    "",
                    &text,
                    "slice index beyond this machine's word size",
                )
            })?;
            let ectx = ctx.index(idx);
            let mut item = old.next().unwrap_or_default();
            if !item.decode(dec, &ectx)? {
                return Err(Error::Missing {
                    key: ectx.key(""),
                    reason: format!("index key `{}` announces {count} element(s)", ctx.key("")),
                });
            }
            self.push(item);
            i += 1;
        }
        Ok(true)
    }

    fn locate(loc: &mut Locator<'_>, ctx: &KeyCtx) -> Result<(), Error> {
        loc.slice::<T>(ctx)
    }
}

/// The one entry a map key resolves to: VMX looks keys up ignoring ASCII letter
/// case, and VIC rewrites `.` and `/` inside a map key to the separator of the scope
/// (read-only `/`, read-write `.`; a visible field below a hidden map reveals the
/// path rewritten), so map keys equal after folding both read and write the same
/// keys. Folding the map key itself, whatever the scope, keeps the rule simple and
/// the same for the encoder and the decoder.
fn fold_map_key(k: &str) -> String {
    k.chars()
        .map(|c| {
            if c == '.' {
                '/'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Checks that no two map keys resolve to one entry ([`fold_map_key`]): one hash
/// look-up per key, so a list of any length of aliases costs linear work, and the
/// first alias stops it.
fn check_aliases<'k>(ctx: &KeyCtx, keys: impl Iterator<Item = &'k str>) -> Result<(), Error> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for k in keys {
        if let Some(first) = seen.insert(fold_map_key(k), k) {
            return Err(Error::Alias {
                key: ctx.key(""),
                first: first.to_owned(),
                second: k.to_owned(),
            });
        }
    }
    Ok(())
}

impl<T: Value> Value for BTreeMap<String, T> {
    fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
        if self.is_empty() {
            return Ok(());
        }
        for k in self.keys() {
            if k.contains('|') {
                return Err(Error::Unrepresentable {
                    key: ctx.key(""),
                    reason: format!(
                        "map key {} contains `|`, the separator of the map's key list",
                        crate::error::quote(k)
                    ),
                });
            }
        }
        check_aliases(ctx, self.keys().map(String::as_str))?;
        // BTreeMap iterates in byte order, the order of Go's sort.Strings.
        let index: Vec<&str> = self.keys().map(String::as_str).collect();
        enc.put(ctx, "", index.join("|"))?;
        for (k, v) in self {
            let ectx = ctx.entry(k);
            let before = enc.writes();
            v.encode(enc, &ectx)?;
            if enc.writes() == before {
                return Err(Error::Unrepresentable {
                    key: ectx.key(""),
                    reason: "map entry writes no key, so it could not be read back".into(),
                });
            }
        }
        Ok(())
    }

    fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error> {
        let Some(index) = dec.get(ctx, "")? else {
            return Ok(false);
        };
        // Aliases are refused before any entry is read, so each entry is read once
        // (an exact repeat is reported as such, as before).
        check_aliases(ctx, index.split('|')).map_err(|e| {
            let mut keys = std::collections::HashSet::new();
            if index.split('|').any(|k| !keys.insert(k)) {
                dec.invalid(ctx, "", &index, "map key listed twice in the index")
            } else {
                e
            }
        })?;
        let mut old = std::mem::take(self);
        for k in index.split('|') {
            let ectx = ctx.entry(k);
            let mut v = old.remove(k).unwrap_or_default();
            if !v.decode(dec, &ectx)? {
                return Err(Error::Missing {
                    key: ectx.key(""),
                    reason: format!(
                        "map index `{}` lists key {}",
                        ctx.key(""),
                        crate::error::quote(k)
                    ),
                });
            }
            self.insert(k.to_owned(), v);
        }
        Ok(true)
    }

    fn locate(loc: &mut Locator<'_>, ctx: &KeyCtx) -> Result<(), Error> {
        loc.map::<T>(ctx)
    }
}
