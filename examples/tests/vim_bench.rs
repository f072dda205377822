//! End to end: `vim-bench`, our side of `bench/run.sh`'s encode, concurrent and
//! watch scenarios: what it prints, its `STATS` line, and that `encode --check`
//! refuses an envelope holding another spec.

use std::collections::HashMap;
use std::process::{Command, Output};
use test_support::{Simulator, SimulatorConfig};

fn vim_bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vim-bench"))
        .args(args)
        .env_remove("GOVC_URL")
        .env_remove("GOVC_INSECURE")
        .output()
        .unwrap()
}

/// The `STATS key=value ...` line that ends standard error, as a map.
fn stats(out: &Output) -> HashMap<String, f64> {
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().last().unwrap_or_default();
    let kv = line
        .strip_prefix("STATS ")
        .unwrap_or_else(|| panic!("no STATS line last: {err}"));
    kv.split(' ')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn encode_writes_an_envelope_that_checks_and_refuses_another_spec() {
    let dir = std::env::temp_dir().join(format!("vim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ours.xml");
    let f = file.to_str().unwrap();
    let out = ok(vim_bench(&[
        "encode", "--count", "50", "--rounds", "2", "--out", f,
    ]));
    let s = stats(&out);
    assert_eq!(s["specs"], 50.0);
    let body = std::fs::read_to_string(&file).unwrap();
    assert_eq!(s["bytes"], body.len() as f64);
    assert_eq!(body.matches("<deviceChange").count(), 50);
    assert_eq!(body.matches(r#"xsi:type="VirtualDisk""#).count(), 25);
    assert_eq!(body.matches(r#"xsi:type="VirtualVmxnet3""#).count(), 25);
    // Its own envelope holds the spec; one with a changed disk name does not, nor
    // does one with a device change fewer.
    ok(vim_bench(&["encode", "--count", "50", "--check", f]));
    let changed = dir.join("changed.xml");
    std::fs::write(&changed, body.replace("disk-48.vmdk", "disk-49.vmdk")).unwrap();
    let out = vim_bench(&[
        "encode",
        "--count",
        "50",
        "--check",
        changed.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("device change 48 differs"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = vim_bench(&["encode", "--count", "51", "--check", f]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("50 device changes, ours 51"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn concurrent_prints_the_summary_of_the_first_vms_by_name() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().vms(10));
    let url = sim.url_with_credentials();
    let tp = sim.sha256_thumbprint().unwrap();
    let concurrent = |more: &[&str]| {
        let args = [&["concurrent", "--url", &url, "--thumbprint", tp][..], more].concat();
        vim_bench(&args)
    };
    let out = ok(concurrent(&["--calls", "16", "--rounds", "2"]));
    let s = stats(&out);
    assert_eq!((s["calls"], s["rounds"]), (16.0, 2.0));
    assert!(s["min_ms"] > 0.0 && s["min_ms"] <= s["median_ms"], "{s:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 16);
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "sorted by name");
    for l in &lines {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(f.len(), 4, "{l}");
        assert_eq!(f[1], "poweredOn");
        assert!(f[2].parse::<u32>().unwrap() >= 1 && f[3].parse::<u32>().unwrap() >= 1);
    }
    // More calls than VMs is an error, not a shorter round.
    let out = concurrent(&["--calls", "21"]);
    assert!(!out.status.success());
}

#[test]
fn watch_receives_the_simulators_changes_with_their_lag() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().vms(4).churn(200));
    let out = ok(vim_bench(&[
        "watch",
        "--url",
        &sim.url_with_credentials(),
        "--thumbprint",
        sim.sha256_thumbprint().unwrap(),
        "--seconds",
        "2",
    ]));
    assert_eq!(String::from_utf8(out.stdout.clone()).unwrap(), "vms\t8\n");
    let s = stats(&out);
    assert_eq!(s["vms"], 8.0);
    assert!(s["seconds"] >= 2.0, "{s:?}");
    // 200 changes a second for about two seconds; vcsim delivers them every 250 ms.
    assert!(s["changes"] >= 200.0, "{s:?}");
    assert!(s["lag_p50_ms"] <= s["lag_p99_ms"] && s["lag_p99_ms"] <= s["lag_max_ms"]);
    assert!(s["lag_max_ms"] < 10_000.0, "{s:?}");
}
