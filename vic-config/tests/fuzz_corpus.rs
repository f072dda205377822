//! The CI smoke run of the fuzz targets in `fuzz/`: every committed seed and
//! minimised corpus input (`fuzz/seeds/<target>/`) goes through the same check the
//! target runs (`fuzz/checks.rs`, `fuzz/checks_vim25.rs`), without cargo-fuzz or
//! nightly. A panic or a broken invariant fails the test, naming the input.

// The checks are modules of the crate root (tests/main.rs), as in the fuzz targets:
// `checks_vim25.rs` names the shared ones `crate::checks`.
use crate::checks;
#[cfg(feature = "vim25")]
use crate::checks_vim25;

use std::path::PathBuf;

/// Runs `check` on every file of `fuzz/seeds/<target>/`; at least one must exist.
fn run_corpus(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    for f in &files {
        let data = std::fs::read(f).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("fuzz target {target} fails on {}", f.display());
        }
    }
}

#[test]
fn fuzz_corpus_vmx_parse() {
    run_corpus("vmx_parse", checks::vmx_parse);
}

#[test]
fn fuzz_corpus_decode() {
    run_corpus("decode", checks::decode);
}

#[test]
fn fuzz_corpus_sealed() {
    run_corpus("sealed", checks::sealed);
}

#[test]
fn fuzz_corpus_delta() {
    run_corpus("delta", checks::delta);
}

#[cfg(feature = "vim25")]
#[test]
fn fuzz_corpus_option_value() {
    run_corpus("option_value", checks_vim25::option_value);
}
