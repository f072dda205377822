//! The programs are declared with `test = false` in examples/Cargo.toml: a unit test
//! written in `src/bin/` would never run. This fails when one appears, and when a
//! program is added without its declaration.

#[test]
fn programs_hold_no_unit_tests_and_each_is_declared() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    for entry in std::fs::read_dir(dir.join("src/bin")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("#[test]") && !text.contains("#[cfg(test)]"),
            "{}: unit tests in a program never run (test = false); put them in the library",
            path.display()
        );
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            manifest.contains(&format!(
                "name = \"{name}\"\npath = \"src/bin/{name}.rs\"\ntest = false"
            )),
            "{name} is not declared with test = false in examples/Cargo.toml"
        );
    }
}
