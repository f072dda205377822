//! The Rust names the generator derives from the schema keep acronyms whole: every
//! field, parameter and property name is checked against its wire name (`numCPUs` must
//! not become `num_cp_us`, nor `vPMCEnabled` `v_pmc_enabled`).

use vim25_gen::{derived_names, snake, snake_legacy, DerivedName, NameKind};

/// The derived names of the schema, or `None` where the schema is absent.
fn names() -> Option<Vec<DerivedName>> {
    let schema = vim25_gen::default_schema_dir();
    if !schema.join("vim25/vim.wsdl").exists() {
        eprintln!(
            "{} not present: name checks not applicable",
            schema.display()
        );
        return None;
    }
    Some(derived_names(&schema))
}

fn is_sep(c: char) -> bool {
    matches!(c, '_' | '-' | '.')
}

/// The acronyms of a wire name that its Rust name must hold unbroken, lower-cased: each
/// maximal run of capitals (digits inside it count), without a last capital that starts
/// a lower-case word (`IPAddress` → `ip`), with a plural `s` (`CPUs`) or a version
/// letter (`NFSv41`) that follows it; runs shorter than two are not acronyms.
fn acronyms(wire: &str) -> Vec<String> {
    let c: Vec<char> = wire.chars().collect();
    let lower = |i: usize| c.get(i).is_some_and(char::is_ascii_lowercase);
    let digit = |i: usize| c.get(i).is_some_and(char::is_ascii_digit);
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if !c[i].is_ascii_uppercase() {
            i += 1;
            continue;
        }
        let start = i;
        while c
            .get(i)
            .is_some_and(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit())
        {
            i += 1;
        }
        let mut run: String = c[start..i].iter().collect();
        if lower(i) {
            let plural = c[i] == 's' && !lower(i + 1);
            if plural || digit(i + 1) {
                run.push(c[i]);
            } else if c[i - 1].is_ascii_uppercase() {
                run.pop();
            }
        }
        if run.len() >= 2 {
            out.push(run.to_ascii_lowercase());
        }
    }
    out
}

/// Maps each `_`-separated segment of `rust` to the span of wire characters it came
/// from (indices into `wire`'s chars); `None` if `rust` is not the wire name
/// lower-cased with `_` between words (a keyword's trailing `_` is allowed).
fn segments(wire: &str, rust: &str) -> Option<Vec<(usize, usize)>> {
    let w: Vec<char> = wire.chars().collect();
    let mut spans = Vec::new();
    let mut i = 0;
    for seg in rust.trim_end_matches('_').split('_') {
        while w.get(i).copied().is_some_and(is_sep) {
            i += 1;
        }
        let start = i;
        for ch in seg.chars() {
            if w.get(i).map(char::to_ascii_lowercase) != Some(ch) {
                return None;
            }
            i += 1;
        }
        if seg.is_empty() {
            return None;
        }
        spans.push((start, i));
    }
    if w[i..].iter().all(|&c| is_sep(c)) {
        Some(spans)
    } else {
        None
    }
}

/// Why `rust` splits a word of `wire`, if it does.
fn split_fragments(wire: &str, rust: &str) -> Vec<String> {
    let mut why = Vec::new();
    let Some(spans) = segments(wire, rust) else {
        return vec!["not the wire name's letters".into()];
    };
    let segs: Vec<&str> = rust.trim_end_matches('_').split('_').collect();
    for a in acronyms(wire) {
        if !segs.iter().any(|s| s.contains(&a)) {
            why.push(format!("acronym `{a}` split"));
        }
    }
    let w: Vec<char> = wire.chars().collect();
    let at = |i: Option<usize>| i.and_then(|i| w.get(i).copied()).filter(|&c| !is_sep(c));
    for (seg, &(s, e)) in segs.iter().zip(&spans) {
        let first = w[s];
        let prev = at(s.checked_sub(1));
        let next = at(Some(e));
        if first.is_ascii_digit() && prev.is_some() {
            why.push(format!("`{seg}` cut from the word before it"));
        }
        if e - s != 1 || (prev.is_none() && next.is_none()) {
            continue;
        }
        let split = if first.is_ascii_lowercase() {
            // A one-letter lower-case word next to another: `v_pmc`, `h_b`.
            true
        } else {
            // A capital cut from the capitals or digits before it (`ich7_m`, `a_b`,
            // `enable3_d`) or from its own lower-case letters (`h_z`).
            prev.is_some_and(|p| p.is_ascii_uppercase() || p.is_ascii_digit())
                || next.is_some_and(|n| n.is_ascii_lowercase())
        };
        if split {
            why.push(format!("one-letter fragment `{seg}`"));
        }
    }
    why
}

#[test]
fn checker_catches_the_old_splits() {
    for (wire, why) in [
        ("numCPUs", "acronym `cpus` split"),
        ("numHBAs", "acronym `hbas` split"),
        ("encryptedVMs", "acronym `vms` split"),
        ("vPMCEnabled", "one-letter fragment `v`"),
        ("virtualICH7MPresent", "acronym `ich7m` split"),
        ("virtualICH7MPresent", "one-letter fragment `m`"),
        ("vmknicBindingOnNFSv41", "acronym `nfsv` split"),
        ("enable3DSupport", "one-letter fragment `d`"),
        ("hBDatastoreCandidatePolicy", "one-letter fragment `h`"),
    ] {
        let old = snake_legacy(wire);
        let found = split_fragments(wire, &old);
        assert!(
            found.iter().any(|f| f == why),
            "{wire} → {old}: expected {why}, found {found:?}"
        );
        assert_eq!(split_fragments(wire, &snake(wire)), Vec::<String>::new());
    }
    assert_eq!(
        split_fragments("ipv6Address", "ipv_6_address"),
        ["`6` cut from the word before it"]
    );
    assert_eq!(
        split_fragments("cpuMHz", "cpu_m_h_z"),
        ["one-letter fragment `h`", "one-letter fragment `z`"]
    );
    for (wire, rust) in [
        ("x", "x"),
        ("type", "type_"),
        ("_this", "this"),
        ("lanAUplink", "lan_a_uplink"),
        ("usedB", "used_b"),
        ("PowerOnVM_Task", "power_on_vm_task"),
        ("IPAddress", "ip_address"),
    ] {
        assert_eq!(split_fragments(wire, rust), Vec::<String>::new(), "{wire}");
    }
    assert_eq!(
        split_fragments("numCPU", "num_cpus"),
        ["not the wire name's letters"]
    );
}

#[test]
fn field_parameter_and_property_names_keep_acronyms_whole() {
    let Some(names) = names() else { return };
    let mut bad = Vec::new();
    let mut checked = 0;
    for n in names.iter().filter(|n| n.kind != NameKind::Method) {
        checked += 1;
        let why = split_fragments(&n.wire, &n.rust);
        if !why.is_empty() {
            bad.push(format!(
                "{:?} {}.{} → {}: {}",
                n.kind,
                n.owner,
                n.wire,
                n.rust,
                why.join(", ")
            ));
        }
    }
    assert!(checked > 5000, "only {checked} names found");
    assert!(
        bad.is_empty(),
        "{} of {checked} names split a word:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn method_names_keep_the_first_rule() {
    let Some(names) = names() else { return };
    let methods: Vec<_> = names
        .iter()
        .filter(|n| n.kind == NameKind::Method)
        .collect();
    assert!(methods.len() > 500, "only {} methods found", methods.len());
    let changed: Vec<String> = methods
        .iter()
        .filter(|n| n.rust != snake_legacy(&n.wire))
        .map(|n| format!("{} → {}", n.wire, n.rust))
        .collect();
    assert!(
        changed.is_empty(),
        "method names changed:\n{}",
        changed.join("\n")
    );
    let find = |wire: &str| methods.iter().find(|n| n.wire == wire).map(|n| &n.rust);
    assert_eq!(
        find("QueryVMotionCompatibility").unwrap(),
        "query_v_motion_compatibility"
    );
    assert_eq!(
        find("GetSystemVMsRestrictedDatastores").unwrap(),
        "get_system_v_ms_restricted_datastores"
    );
}

#[test]
fn acronym_examples_of_the_schema() {
    let Some(names) = names() else { return };
    let rust_of = |owner: &str, wire: &str| {
        names
            .iter()
            .find(|n| n.owner == owner && n.wire == wire)
            .map(|n| n.rust.as_str())
            .unwrap_or_else(|| panic!("{owner}.{wire} not in the model"))
    };
    assert_eq!(rust_of("VirtualMachineConfigSpec", "numCPUs"), "num_cpus");
    assert_eq!(
        rust_of("VirtualHardware", "virtualICH7MPresent"),
        "virtual_ich7m_present"
    );
    assert_eq!(
        rust_of("CryptoManagerKmipCryptoKeyStatus", "encryptedVMs"),
        "encrypted_vms"
    );
    assert_eq!(rust_of("VirtualApp", "vAppConfig"), "vapp_config");
    assert_eq!(
        rust_of("VirtualMachineConfigInfo", "vPMCEnabled"),
        "vpmc_enabled"
    );
    assert_eq!(
        rust_of("VirtualMachineConfigInfo", "vAppConfig"),
        "vapp_config"
    );
}
