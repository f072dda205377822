//! The vim25 code generator.
//!
//! Reads `shared/vsphere-wsdl/` (the vim25 WSDL/XSD for structure and element order, the
//! pyVmomi type-info files for managed objects, versions and secret flags) and returns
//! the Rust files of `vim25/src/generated/`.
//!
//! ```no_run
//! let files = vim25_gen::generate(std::path::Path::new("../shared/vsphere-wsdl"));
//! assert!(files.contains_key("mod.rs"));
//! ```
#![allow(missing_docs)]

mod emit;
mod model;
mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use model::snake;

/// Generates every file of `vim25/src/generated/`, keyed by file name.
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

/// Where the generated files go.
pub fn default_out_dir() -> PathBuf {
    workspace_root().join("vim25/src/generated")
}

/// Files in `out` that differ from `files` (changed, missing or extra).
pub fn stale_files(files: &BTreeMap<String, String>, out: &Path) -> Vec<String> {
    let mut stale = Vec::new();
    for (name, text) in files {
        match std::fs::read_to_string(out.join(name)) {
            Ok(old) if &old == text => {}
            _ => stale.push(name.clone()),
        }
    }
    if let Ok(dir) = std::fs::read_dir(out) {
        for e in dir.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with(".rs") && !files.contains_key(&n) {
                stale.push(n);
            }
        }
    }
    stale
}
