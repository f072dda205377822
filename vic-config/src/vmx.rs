//! `.vmx` file text: `key = "value"` lines.
//!
//! Values (and keys) use the file format's `|XX` hex escapes for `"`, `#`, `|` and
//! control characters. Files written by other tools (the VIC golden data among them)
//! also hold a bare `|` in keys and values, as VIC's map and slice keys have them.
//! So the reader decodes `|XX` only where it stands for a character that must be
//! escaped, and keeps any other `|` as it is; the writer escapes `"`, `#` and
//! control characters, and a `|` only where a reader would otherwise take it for an
//! escape. Text this module writes reads back exactly, and VIC's bare-`|` keys are
//! written bare.
//!
//! An empty value is written as it is, `key = ""`: a file keeps empty values (the
//! VCH files VIC leaves behind have such lines), and only vSphere's API drops them,
//! so [`NIL`](crate::NIL) stands in for them only there. A file may still hold
//! `<nil>` (written through the API by VIC or another tool); [`VmxFile::get`] and
//! [`VmxFile::to_map`] give the text as stored, and decoding a file, or its map,
//! reads `<nil>` as the empty string, as for every source.
//!
//! ```
//! let mut file = vic_config::vmx::VmxFile::parse("numa.x = \"1\"\nguestinfo.vice./repo = \"a|22b\"\n")?;
//! assert_eq!(file.get("guestinfo.vice./repo"), Some("a\"b"));
//! file.set("guestinfo.vice./repo", "hello-world");
//! assert_eq!(file.to_string(), "numa.x = \"1\"\nguestinfo.vice./repo = \"hello-world\"\n");
//! # Ok::<(), vic_config::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::delta::Change;
use crate::{Error, Source};

fn must_escape(c: char) -> bool {
    matches!(c, '"' | '#' | '|') || c.is_ascii_control()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// The character a `|XX` at the start of `rest` (just after the `|`) stands for.
fn escape_at(rest: &[u8]) -> Option<char> {
    let hi = hex_val(*rest.first()?)?;
    let lo = hex_val(*rest.get(1)?)?;
    let c = char::from(hi << 4 | lo);
    must_escape(c).then_some(c)
}

/// Decodes the `|XX` escapes of a key or value.
pub fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut start = 0;
    while i < bytes.len() {
        if bytes[i] == b'|' {
            if let Some(c) = escape_at(&bytes[i + 1..]) {
                out.push_str(&text[start..i]);
                out.push(c);
                i += 3;
                start = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[start..]);
    out
}

/// Escapes a key or value for a `.vmx` line (see the module docs).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        let escape_pipe = c == '|' && escape_at(&text.as_bytes()[i + 1..]).is_some();
        if (c != '|' && must_escape(c)) || escape_pipe {
            out.push_str(&format!("|{:02X}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Entry { key: String, value: String },
    Other(String),
}

/// A `.vmx` file: its `key = "value"` entries and every other line (comments, blank
/// lines) in order, so that a file can be updated without touching unrelated keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VmxFile {
    lines: Vec<Line>,
    /// Lower-cased key → index into `lines`.
    index: HashMap<String, usize>,
}

impl VmxFile {
    /// Parses `.vmx` text. Keys that occur twice (also when they differ only in
    /// letter case) are an error.
    pub fn parse(text: &str) -> Result<VmxFile, Error> {
        let mut file = VmxFile::default();
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let t = raw.trim();
            if t.is_empty() || t.starts_with('#') {
                file.lines.push(Line::Other(raw.to_owned()));
                continue;
            }
            let err = |reason: &str| Error::Vmx {
                line,
                reason: reason.to_owned(),
            };
            let (k, v) = t
                .split_once('=')
                .ok_or_else(|| err("expected `key = \"value\"`"))?;
            let k = k.trim();
            if k.is_empty() {
                return Err(err("empty key"));
            }
            if k.chars().any(|c| c.is_whitespace() || c == '"') {
                return Err(err("key contains a space or a quote"));
            }
            let v = v.trim_start();
            let value = if let Some(body) = v.strip_prefix('"') {
                let end = body
                    .find('"')
                    .ok_or_else(|| err("value has no closing quote"))?;
                let tail = body[end + 1..].trim();
                if !tail.is_empty() && !tail.starts_with('#') {
                    return Err(err("text after the closing quote"));
                }
                &body[..end]
            } else {
                v.split('#').next().unwrap_or("").trim_end()
            };
            let key = unescape(k);
            let folded = key.to_ascii_lowercase();
            if let Some(&other) = file.index.get(&folded) {
                let prev = match &file.lines[other] {
                    Line::Entry { key, .. } => key.clone(),
                    Line::Other(_) => String::new(),
                };
                return Err(Error::Vmx {
                    line,
                    reason: format!(
                        "key `{key}` repeats key `{prev}` (vmx keys are case-insensitive)"
                    ),
                });
            }
            file.index.insert(folded, file.lines.len());
            file.lines.push(Line::Entry {
                key,
                value: unescape(value),
            });
        }
        Ok(file)
    }

    /// A file of the given entries, one line each, sorted by key.
    pub fn from_map(map: &BTreeMap<String, String>) -> Result<VmxFile, Error> {
        let mut file = VmxFile::default();
        for (k, v) in map {
            file.set(k, v);
        }
        file.check_keys()?;
        Ok(file)
    }

    /// Refuses keys that cannot be written on a `.vmx` line.
    fn check_keys(&self) -> Result<(), Error> {
        for (i, l) in self.lines.iter().enumerate() {
            if let Line::Entry { key, .. } = l {
                if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c == '=') {
                    return Err(Error::Vmx {
                        line: i + 1,
                        reason: format!(
                            "key `{}` cannot be written to a .vmx line (space or `=`)",
                            key.escape_debug()
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The value of `key` as stored (a `<nil>` included), ignoring letter case as
    /// VMX does.
    pub fn get(&self, key: &str) -> Option<&str> {
        let i = *self.index.get(&key.to_ascii_lowercase())?;
        match &self.lines[i] {
            Line::Entry { value, .. } => Some(value),
            Line::Other(_) => None,
        }
    }

    /// Sets `key` in place, or appends it at the end.
    pub fn set(&mut self, key: &str, value: &str) {
        let folded = key.to_ascii_lowercase();
        match self.index.get(&folded) {
            Some(&i) => {
                self.lines[i] = Line::Entry {
                    key: key.to_owned(),
                    value: value.to_owned(),
                }
            }
            None => {
                self.index.insert(folded, self.lines.len());
                self.lines.push(Line::Entry {
                    key: key.to_owned(),
                    value: value.to_owned(),
                });
            }
        }
    }

    /// Removes `key`; returns whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let Some(i) = self.index.remove(&key.to_ascii_lowercase()) else {
            return false;
        };
        self.lines.remove(i);
        for v in self.index.values_mut() {
            if *v > i {
                *v -= 1;
            }
        }
        true
    }

    /// Applies changes (from [`crate::delta`]): sets and deletions.
    pub fn apply(&mut self, changes: &[Change]) {
        for c in changes {
            match c {
                Change::Set { key, value } => self.set(key, value),
                Change::Delete { key } => {
                    self.remove(key);
                }
            }
        }
    }

    /// All entries as a map.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                Line::Entry { key, value } => Some((key.clone(), value.clone())),
                Line::Other(_) => None,
            })
            .collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

impl fmt::Display for VmxFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            match l {
                Line::Entry { key, value } => {
                    writeln!(f, "{} = \"{}\"", escape(key), escape(value))?
                }
                Line::Other(t) => writeln!(f, "{t}")?,
            }
        }
        Ok(())
    }
}

impl Source for VmxFile {
    fn get(&self, key: &str) -> Result<Option<String>, Error> {
        Ok(VmxFile::get(self, key).map(str::to_owned))
    }
    fn detect_layout(&self) -> Option<crate::Layout> {
        crate::Layout::detect(self.lines.iter().filter_map(|l| match l {
            Line::Entry { key, .. } => Some(key.as_str()),
            Line::Other(_) => None,
        }))
    }
}

/// The `key = "value"` lines of a map, sorted by key.
pub fn write_lines(map: &BTreeMap<String, String>) -> Result<String, Error> {
    Ok(VmxFile::from_map(map)?.to_string())
}
