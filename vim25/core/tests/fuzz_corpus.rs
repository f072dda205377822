//! The CI smoke run of the fuzz targets in `fuzz/`: every committed corpus input
//! (`fuzz/corpus/<target>/`) goes through the same check the target runs
//! (`fuzz/checks.rs`, `fuzz/checks_json.rs`), without cargo-fuzz or nightly. A
//! panic or a broken invariant fails the test, naming the input.

#[path = "../fuzz/checks.rs"]
mod checks;
#[cfg(feature = "serde")]
#[path = "../fuzz/checks_json.rs"]
mod checks_json;

use std::path::PathBuf;

/// Runs `check` on every file of `fuzz/corpus/<target>/`; at least one must exist.
fn run_corpus(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
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
fn fuzz_corpus_response() {
    run_corpus("response", checks::response);
}

#[test]
fn fuzz_corpus_dates() {
    run_corpus("dates", checks::dates);
}

#[test]
fn fuzz_corpus_versions() {
    run_corpus("versions", checks::versions);
}

#[cfg(feature = "serde")]
#[test]
fn fuzz_corpus_json() {
    run_corpus("json", checks_json::json);
}

#[test]
fn fuzz_corpus_split() {
    run_corpus("split", checks::split);
}
