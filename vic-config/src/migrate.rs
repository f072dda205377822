//! Migrations: numbered steps over the flat map, each lifting the data layout by one
//! version. A step touches only the keys it is about; every other key (vSphere's,
//! other tools', and VIC keys this crate does not model) is kept as it is.
//!
//! The data layout version is stored at `…/init/version/PluginVersion` (VCH) and
//! `…/version/PluginVersion` (containerVM); missing means 0. Versions without a step
//! here changed nothing that this crate models; lifting through them only moves the
//! version number.
//!
//! ```
//! use std::collections::BTreeMap;
//! use vic_config::migrate::{migrate, Kind};
//!
//! let mut m = BTreeMap::new();
//! m.insert("guestinfo.vice./version/PluginVersion".to_owned(), "8".to_owned());
//! m.insert("guestinfo.vice..createtime".to_owned(), "1500000000".to_owned());
//! let report = migrate(&mut m, Kind::Container)?;
//! assert_eq!(report.applied, vec![9]);
//! assert_eq!(m["guestinfo.vice..createtime"], "1500000000000000000");
//! assert_eq!(m["guestinfo.vice./version/PluginVersion"], "9");
//! # Ok::<(), vic_config::Error>(())
//! ```

use std::collections::BTreeMap;

use crate::{Error, Layout};

/// What the data describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A Virtual Container Host appliance.
    Vch,
    /// A containerVM.
    Container,
}

impl Kind {
    /// Guesses the kind from the keys: a VCH has an `init` executor config.
    pub fn detect(map: &BTreeMap<String, String>) -> Kind {
        let layout = Layout::detect_map(map);
        let visible = format!("{}./init/", layout.root());
        let rw = format!("{}..init.", layout.root());
        if map
            .keys()
            .any(|k| k.starts_with(&visible) || k.starts_with(&rw) || k.starts_with("init/"))
        {
            Kind::Vch
        } else {
            Kind::Container
        }
    }
}

/// One migration step.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The version this step lifts the data to.
    pub version: u32,
    /// The kind of data it applies to.
    pub kind: Kind,
    /// What it changes.
    pub description: &'static str,
    apply: fn(&mut BTreeMap<String, String>, Layout) -> Result<(), Error>,
}

/// The steps this crate knows, in version order.
pub const STEPS: &[Step] = &[
    Step {
        version: 1,
        kind: Kind::Vch,
        description: "the VCH name moves from the guest-visible `…/init/common/name` to hidden `init/common/name`",
        apply: vch_name_hidden,
    },
    Step {
        version: 9,
        kind: Kind::Container,
        description: "the container `createtime` changes from Unix seconds to nanoseconds",
        apply: container_createtime_nanos,
    },
];

fn vch_name_hidden(map: &mut BTreeMap<String, String>, layout: Layout) -> Result<(), Error> {
    let visible = format!("{}./init/common/name", layout.root());
    let hidden = "init/common/name";
    if let Some(name) = map.remove(&visible) {
        if let Some(existing) = map.get(hidden) {
            if *existing != name {
                return Err(Error::Migration {
                    version: 1,
                    key: visible,
                    reason: format!("`{hidden}` already holds a different name"),
                });
            }
        }
        map.insert(hidden.to_owned(), name);
    }
    Ok(())
}

fn container_createtime_nanos(
    map: &mut BTreeMap<String, String>,
    layout: Layout,
) -> Result<(), Error> {
    let key = format!("{}..createtime", layout.root());
    if let Some(v) = map.get_mut(&key) {
        let secs: i64 = v.parse().map_err(|_| Error::Migration {
            version: 9,
            key: key.clone(),
            reason: format!("expected Unix seconds, found {}", crate::error::quote(v)),
        })?;
        let nanos = secs
            .checked_mul(1_000_000_000)
            .ok_or_else(|| Error::Migration {
                version: 9,
                key: key.clone(),
                reason: "seconds too large to express in nanoseconds".to_owned(),
            })?;
        *v = nanos.to_string();
    }
    Ok(())
}

/// The key holding the data layout version.
pub fn version_key(kind: Kind, layout: Layout) -> String {
    match kind {
        Kind::Vch => format!("{}./init/version/PluginVersion", layout.root()),
        Kind::Container => format!("{}./version/PluginVersion", layout.root()),
    }
}

/// The data layout version of `map` (0 when missing).
pub fn data_version(map: &BTreeMap<String, String>, kind: Kind) -> Result<u32, Error> {
    let key = version_key(kind, Layout::detect_map(map));
    match map.get(&key) {
        None => Ok(0),
        Some(v) => v.parse().map_err(|_| {
            Error::invalid(
                &key,
                format!(
                    "expected a layout version, found {}",
                    crate::error::quote(v)
                ),
            )
        }),
    }
}

/// The highest version a known step of `kind` lifts to.
pub fn latest(kind: Kind) -> u32 {
    STEPS
        .iter()
        .filter(|s| s.kind == kind)
        .map(|s| s.version)
        .max()
        .unwrap_or(0)
}

/// What a migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The version found.
    pub from: u32,
    /// The version written (the same as `from` when nothing was to do).
    pub to: u32,
    /// The versions of the steps applied.
    pub applied: Vec<u32>,
}

/// Lifts `map` to the latest version a known step of `kind` reaches.
pub fn migrate(map: &mut BTreeMap<String, String>, kind: Kind) -> Result<Report, Error> {
    migrate_to(map, kind, latest(kind))
}

/// Lifts `map` to version `target`, step by step. Data at or above `target` is left
/// alone. On error `map` is unchanged.
pub fn migrate_to(
    map: &mut BTreeMap<String, String>,
    kind: Kind,
    target: u32,
) -> Result<Report, Error> {
    let layout = Layout::detect_map(map);
    let from = data_version(map, kind)?;
    if from >= target {
        return Ok(Report {
            from,
            to: from,
            applied: Vec::new(),
        });
    }
    let mut work = map.clone();
    let mut applied = Vec::new();
    for step in STEPS
        .iter()
        .filter(|s| s.kind == kind && s.version > from && s.version <= target)
    {
        (step.apply)(&mut work, layout)?;
        applied.push(step.version);
    }
    work.insert(version_key(kind, layout), target.to_string());
    *map = work;
    Ok(Report {
        from,
        to: target,
        applied,
    })
}
