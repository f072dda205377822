//! `vim25-core`, `vim25-types` and `vim25-enums` set `test = false` for their libraries (see their
//! Cargo.toml): a unit test written inside their `src/` would never run. This fails
//! when one appears, so it goes to `tests/` instead (or the setting goes).

use std::path::Path;

fn scan(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            scan(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for marker in ["#[test]", "#[cfg(test)]", "#[tokio::test"] {
                if text.contains(marker) {
                    found.push(format!("{}: {marker}", path.display()));
                }
            }
        }
    }
}

#[test]
fn the_library_holds_no_unit_tests_since_they_would_not_run() {
    let mut found = Vec::new();
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    scan(&here.join("src"), &mut found);
    scan(&here.join("../types/src"), &mut found);
    scan(&here.join("../enums/src"), &mut found);
    assert!(
        found.is_empty(),
        "unit tests in vim25-core's, vim25-types' or vim25-enums' src/ never run (lib test = false): {found:?}"
    );
}
