//! Keys of field paths, computed from the declarations (VIC's `CalculateKeys`): a
//! caller names a field by its Rust path and gets the key the encoder writes for
//! it, so that no key is ever spelt by hand.
//!
//! The look-up walks the types, not a value: each [`Value`] says through
//! [`Value::locate`] what it holds (nothing, a struct, a slice, a map), and the key
//! is built by the same [`KeyCtx`] steps the encoder takes (`field`, `entry`,
//! `index`, `enter`, `key`).

use std::fmt;

use crate::encode::DEFAULT_MAX_DEPTH;
use crate::{Error, ExtraConfig, FieldDecl, KeyCtx, Layout, Value};

/// Stands for a `*` entry while the key is built; split out afterwards. The key
/// builder rewrites only `.` and `/`, so it passes through unchanged.
const WILDCARD: char = '\0';

/// One segment of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A field (Rust name or key segment), or a concrete map key or slice index.
    Name(String),
    /// `*`: any map key or slice index.
    Any,
    /// A map key or slice index given apart from the path text ([`FieldKey::fill`]):
    /// never a field name, and may contain `.`.
    Entry(String),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Name(s) | Step::Entry(s) => f.write_str(s),
            Step::Any => f.write_str("*"),
        }
    }
}

/// The extraConfig key of a field path: exact, or a pattern with a wildcard where
/// the path has `*`. Made by [`key_of`].
///
/// `Display` writes the key, with `*` for each wildcard.
#[derive(Clone)]
pub struct FieldKey {
    /// The key text between the wildcards (one more than there are wildcards).
    pieces: Vec<String>,
    path: String,
    steps: Vec<Step>,
    layout: Layout,
    resolve: fn(&str, &[Step], Layout) -> Result<String, Error>,
}

impl FieldKey {
    /// The key, when the path has no `*`.
    pub fn exact(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// How many wildcards (`*` in the path) the key has.
    pub fn wildcards(&self) -> usize {
        self.pieces.len() - 1
    }

    /// The exact key with `ids` in place of the wildcards, in order: map keys, or
    /// slice indexes in decimal. The key is built again from the declarations with
    /// the ids as entries, so an id may contain `.` (which a path cannot) and gets
    /// the separator rewriting the encoder gives it.
    pub fn fill(&self, ids: &[&str]) -> Result<String, Error> {
        if ids.len() != self.wildcards() {
            return Err(Error::FieldPath {
                path: self.path.clone(),
                reason: format!(
                    "the path has {} `*` but {} id(s) were given",
                    self.wildcards(),
                    ids.len()
                ),
            });
        }
        let mut ids = ids.iter();
        let steps: Vec<Step> = self
            .steps
            .iter()
            .map(|s| match s {
                Step::Any => ids
                    .next()
                    .map_or(Step::Any, |id| Step::Entry((*id).to_owned())),
                other => other.clone(),
            })
            .collect();
        (self.resolve)(&self.path, &steps, self.layout)
    }

    /// The ids a key has in place of the wildcards, when it matches this pattern
    /// (letter case counts; an id never contains `|`, which no map key written by
    /// the encoder has). An exact key matches only itself, with no ids.
    pub fn captures<'k>(&self, key: &'k str) -> Option<Vec<&'k str>> {
        let mut out = Vec::with_capacity(self.wildcards());
        capture(&self.pieces, key, &mut out).then_some(out)
    }

    /// Whether `key` matches this pattern (see [`FieldKey::captures`]).
    pub fn matches(&self, key: &str) -> bool {
        self.captures(key).is_some()
    }
}

impl fmt::Display for FieldKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pieces.join("*"))
    }
}

impl fmt::Debug for FieldKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FieldKey").field(&self.to_string()).finish()
    }
}

impl PartialEq for FieldKey {
    fn eq(&self, other: &Self) -> bool {
        self.pieces == other.pieces
    }
}

impl Eq for FieldKey {}

/// Matches `key` against `pieces` with a wildcard between each two, leftmost
/// shortest first, pushing what each wildcard stands for onto `out`.
fn capture<'k>(pieces: &[String], key: &'k str, out: &mut Vec<&'k str>) -> bool {
    let Some((first, rest_pieces)) = pieces.split_first() else {
        return false;
    };
    let Some(rest) = key.strip_prefix(first.as_str()) else {
        return false;
    };
    if rest_pieces.is_empty() {
        return rest.is_empty();
    }
    // A wildcard stands for one map key or index: it ends at the first `|`.
    let limit = rest.find('|').unwrap_or(rest.len());
    let ends = rest[..limit]
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(limit));
    for end in ends {
        out.push(&rest[..end]);
        if capture(rest_pieces, &rest[end..], out) {
            return true;
        }
        out.pop();
    }
    false
}

/// The key of the field at `path` in a `T`, computed from the declarations in the
/// given layout: VIC's `CalculateKeys`.
///
/// The path names fields by their Rust names joined with `.`
/// (`sessions.*.cmd.path`); a field's declared key segment is accepted too when no
/// field has it as its Rust name and only one field declares it. After a map or a
/// slice comes the entry: a map key or a slice index for the exact key, or `*` for
/// a pattern ([`FieldKey::fill`] puts ids in later, also ids with `.`). `Option`,
/// `Box` and [`Secret`](crate::Secret) are looked through.
///
/// The key is the one [`to_extra_config`](crate::to_extra_config) writes for the
/// field: the value of a primitive; the index key of a slice or a map (a slice of
/// primitives also has its elements under the same key with `~` after the last
/// segment). A struct writes no key of its own; its key is the one its fields'
/// keys are built from. Scope shapes the key as everywhere (root, separators,
/// `@secret`, `@non-persistent`).
///
/// ```
/// use vic_config::model::{ExecutorConfig, VchConfig};
/// use vic_config::{key_of, Layout};
///
/// let started = key_of::<ExecutorConfig>("sessions.*.started", Layout::Current)?;
/// assert_eq!(started.to_string(), "guestinfo.vice..sessions|*.started");
/// assert_eq!(started.fill(&["abc"])?, "guestinfo.vice..sessions|abc.started");
/// assert_eq!(started.captures("guestinfo.vice..sessions|abc.started"), Some(vec!["abc"]));
///
/// let exact = key_of::<ExecutorConfig>("sessions.abc.cmd.path", Layout::Legacy)?;
/// assert_eq!(exact.exact(), Some("guestinfo./sessions|abc/cmd/Path"));
///
/// let token = key_of::<VchConfig>("connection.token", Layout::Current)?;
/// assert_eq!(token.exact(), Some("guestinfo.vice./connect/token@secret"));
///
/// let err = key_of::<ExecutorConfig>("sessions.*.begun", Layout::Current).unwrap_err();
/// assert!(err.to_string().contains("sessions.*.begun"));
/// # Ok::<(), vic_config::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::FieldPath`], naming the path, when a segment names no field, a `*` or
/// entry stands where a field name belongs (or the other way round), the path goes
/// on below a value that has no keys below it (a primitive, the elements of a
/// primitive slice), or the field is never written (`skip`, non-persistent and
/// hidden, below its recursion limit). [`Error::TooDeep`] when the path goes below
/// the global recursion limit.
pub fn key_of<T: ExtraConfig>(path: &str, layout: Layout) -> Result<FieldKey, Error> {
    let steps = parse(path)?;
    let key = resolve::<T>(path, &steps, layout)?;
    Ok(FieldKey {
        pieces: key.split(WILDCARD).map(str::to_owned).collect(),
        path: path.to_owned(),
        steps,
        layout,
        resolve: resolve::<T>,
    })
}

fn parse(path: &str) -> Result<Vec<Step>, Error> {
    let bad = |reason: &str| Error::FieldPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if path.contains(WILDCARD) {
        return Err(bad("a path cannot contain a NUL character"));
    }
    path.split('.')
        .map(|s| match s {
            "" => Err(bad("empty segment (a path is field names joined with `.`)")),
            "*" => Ok(Step::Any),
            name => Ok(Step::Name(name.to_owned())),
        })
        .collect()
}

fn resolve<T: ExtraConfig>(path: &str, steps: &[Step], layout: Layout) -> Result<String, Error> {
    let mut loc = Locator {
        path,
        steps,
        pos: 0,
        found: None,
    };
    loc.structure::<T>(&KeyCtx::root(layout, DEFAULT_MAX_DEPTH))?;
    Ok(loc.found.unwrap_or_default())
}

/// Follows a field path through the types, for [`key_of`]. Each [`Value`] hands it
/// on in [`Value::locate`] by saying what it holds; the locator takes the next path
/// segment and builds the key with the encoder's [`KeyCtx`] steps.
#[derive(Debug)]
pub struct Locator<'p> {
    path: &'p str,
    steps: &'p [Step],
    pos: usize,
    found: Option<String>,
}

impl Locator<'_> {
    fn fail(&self, reason: impl Into<String>) -> Error {
        Error::FieldPath {
            path: self.path.to_owned(),
            reason: reason.into(),
        }
    }

    /// The path up to and including the segment just followed, for messages.
    fn so_far(&self) -> String {
        let done: Vec<String> = self.steps[..self.pos].iter().map(Step::to_string).collect();
        done.join(".")
    }

    /// Records `ctx` as the answer when the path ends here.
    fn ends_at(&mut self, ctx: &KeyCtx) -> bool {
        let end = self.pos == self.steps.len();
        if end {
            self.found = Some(ctx.key(""));
        }
        end
    }

    /// A value with no keys below its own (a primitive or a codec type): the path
    /// must end here.
    pub fn leaf(&mut self, ctx: &KeyCtx) -> Result<(), Error> {
        if self.ends_at(ctx) {
            return Ok(());
        }
        Err(self.fail(format!(
            "`{}` is a single value, with nothing named `{}` below it",
            self.so_far(),
            self.steps[self.pos]
        )))
    }

    /// A struct declared with [`extra_config!`](crate::extra_config): the next
    /// segment names one of its fields.
    pub fn structure<T: ExtraConfig>(&mut self, ctx: &KeyCtx) -> Result<(), Error> {
        if self.ends_at(ctx) {
            return Ok(());
        }
        let Some(inner) = ctx.enter()? else {
            return Err(self.fail(format!(
                "`{}` is declared with a recursion depth that stops above `{}`: it is never written",
                self.so_far(),
                self.steps[self.pos]
            )));
        };
        let name = match &self.steps[self.pos] {
            Step::Name(n) => n.as_str(),
            other => {
                return Err(self.fail(format!(
                    "`{other}` stands where a field of {} is expected (`*` and ids follow maps and slices)",
                    std::any::type_name::<T>()
                )))
            }
        };
        let decl = self.find::<T>(name)?;
        let spec = decl.spec();
        if spec.skip_encode && spec.skip_decode {
            return Err(self.fail(format!(
                "field `{}` is declared `skip`: it has no key",
                decl.name()
            )));
        }
        let Some(fctx) = inner.field(spec) else {
            return Err(self.fail(format!(
                "field `{}` is non-persistent and hidden: such a field is never written",
                decl.name()
            )));
        };
        self.pos += 1;
        decl.locate(self, &fctx)
    }

    /// The field of `T` that `name` names: its Rust name, else the one field whose
    /// key segment it is.
    fn find<T: ExtraConfig>(&self, name: &str) -> Result<&'static FieldDecl, Error> {
        let fields = T::fields();
        if let Some(d) = fields.iter().find(|d| d.name() == name) {
            return Ok(d);
        }
        let by_key: Vec<&'static FieldDecl> =
            fields.iter().filter(|d| d.spec().key() == name).collect();
        match by_key.as_slice() {
            [d] => Ok(d),
            [] => {
                let names: Vec<&str> = fields.iter().map(FieldDecl::name).collect();
                Err(self.fail(format!(
                    "{} has no field `{name}` (its fields: {})",
                    std::any::type_name::<T>(),
                    names.join(", ")
                )))
            }
            many => {
                let names: Vec<&str> = many.iter().map(|d| d.name()).collect();
                Err(self.fail(format!(
                    "key segment `{name}` is declared by fields {} of {}: name the field",
                    names.join(" and "),
                    std::any::type_name::<T>()
                )))
            }
        }
    }

    /// A slice whose elements are `T`: the next segment is an index or `*`.
    pub fn slice<T: Value>(&mut self, ctx: &KeyCtx) -> Result<(), Error> {
        if self.ends_at(ctx) {
            return Ok(());
        }
        if T::BYTE {
            return Err(self.fail(format!(
                "`{}` holds bytes, stored as one base64 value: its elements have no keys",
                self.so_far()
            )));
        }
        if T::PRIMITIVE {
            return Err(self.fail(format!(
                "the elements of `{}` have no keys of their own: they are stored together, joined with `|`, under its key with `~`",
                self.so_far()
            )));
        }
        let ectx = match &self.steps[self.pos] {
            Step::Any => ctx.entry(&WILDCARD.to_string()),
            Step::Name(s) | Step::Entry(s) => match s.parse::<usize>() {
                Ok(i) => ctx.index(i),
                Err(_) => {
                    return Err(self.fail(format!(
                        "`{}` is a slice: `{s}` is not an index (a decimal number, or `*`)",
                        self.so_far()
                    )))
                }
            },
        };
        self.pos += 1;
        T::locate(self, &ectx)
    }

    /// A map whose values are `T`: the next segment is a map key or `*`.
    pub fn map<T: Value>(&mut self, ctx: &KeyCtx) -> Result<(), Error> {
        if self.ends_at(ctx) {
            return Ok(());
        }
        let ectx = match &self.steps[self.pos] {
            Step::Any => ctx.entry(&WILDCARD.to_string()),
            Step::Name(s) | Step::Entry(s) => {
                if s.contains(['|', WILDCARD]) {
                    return Err(self.fail(format!(
                        "map key {} contains `|` or NUL, which the encoder refuses",
                        crate::error::quote(s)
                    )));
                }
                ctx.entry(s)
            }
        };
        self.pos += 1;
        T::locate(self, &ectx)
    }
}
