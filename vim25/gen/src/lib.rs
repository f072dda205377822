//! The vim25 code generator.
//!
//! Reads `shared/vsphere-wsdl/` (the vim25 WSDL/XSD for structure and element order, the
//! pyVmomi type-info files for managed objects, versions and secret flags) and returns
//! the Rust files of `vim25/types/src/generated/`, `vim25/enums/src/generated/` and `vim25/core/src/generated/`.
//!
//! ```no_run
//! let files = vim25_gen::generate(std::path::Path::new("../shared/vsphere-wsdl"));
//! assert!(files.contains_key("types/src/generated/mod.rs"));
//! ```
#![allow(missing_docs)]

mod emit;
mod model;
mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use model::{snake, snake_legacy};

/// What a [`DerivedName`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NameKind {
    /// A data type's field.
    Field,
    /// A method's parameter.
    Param,
    /// A managed object's property.
    Property,
    /// A method (the function of a managed object).
    Method,
}

/// A Rust name the generator derives from a wire name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DerivedName {
    pub kind: NameKind,
    /// The data type (field), method (parameter) or managed type (property, method)
    /// it belongs to.
    pub owner: String,
    pub wire: String,
    pub rust: String,
}

/// Every field, parameter, property and method name the generator derives from the
/// schema, in model order (an inherited property is listed once, with the type that
/// declares it).
pub fn derived_names(schema_dir: &Path) -> Vec<DerivedName> {
    let m = model::load(schema_dir);
    let mut out = Vec::new();
    let mut push = |kind, owner: &str, wire: &str, rust: &str| {
        out.push(DerivedName {
            kind,
            owner: owner.to_string(),
            wire: wire.to_string(),
            rust: rust.to_string(),
        });
    };
    for d in m.data.values() {
        for f in &d.fields {
            push(NameKind::Field, &d.name, &f.wire, &f.rust);
        }
    }
    for t in m.managed.values() {
        for p in t.props.iter().filter(|p| p.declared_in == t.name) {
            push(NameKind::Property, &t.name, &p.wire, &p.rust);
        }
    }
    for me in &m.methods {
        push(NameKind::Method, &me.owner, &me.wire, &me.rust);
        for p in &me.params {
            push(NameKind::Param, &me.wire, &p.wire, &p.rust);
        }
    }
    out
}

/// Generates every file of `vim25/types/src/generated/`, `vim25/enums/src/generated/` and `vim25/core/src/generated/`,
/// keyed by path relative to `vim25/`.
pub fn generate(schema_dir: &Path) -> BTreeMap<String, String> {
    emit::emit(&model::load(schema_dir))
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the schema is by default: `shared/vsphere-wsdl` beside the project.
pub fn default_schema_dir() -> PathBuf {
    workspace_root().join("../shared/vsphere-wsdl")
}

/// Where the generated files go: `vim25/`, the parent of both crates' `src/generated/`.
pub fn default_out_dir() -> PathBuf {
    workspace_root().join("vim25")
}

/// Files under `out` that differ from `files` (changed, missing, or extra `.rs` files in
/// a folder the generator writes).
pub fn stale_files(files: &BTreeMap<String, String>, out: &Path) -> Vec<String> {
    let mut stale = Vec::new();
    for (name, text) in files {
        match std::fs::read_to_string(out.join(name)) {
            Ok(old) if &old == text => {}
            _ => stale.push(name.clone()),
        }
    }
    for dir in [emit::TYPES_DIR, emit::CORE_DIR] {
        if let Ok(entries) = std::fs::read_dir(out.join(dir)) {
            for e in entries.flatten() {
                let n = format!("{dir}/{}", e.file_name().to_string_lossy());
                if n.ends_with(".rs") && !files.contains_key(&n) {
                    stale.push(n);
                }
            }
        }
    }
    stale
}
