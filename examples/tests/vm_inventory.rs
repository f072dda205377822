//! End to end: `vm-inventory` against a simulator, default and `--full` modes.

use std::process::Command;
use test_support::{Simulator, SimulatorConfig};

/// `vm-inventory --url URL EXTRA…` (the `GOVC_*` settings of the environment left
/// out): its standard output and error; it must succeed.
pub(crate) fn inventory(url: &str, extra: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vm-inventory"))
        .args(["--url", url])
        .args(extra)
        .env_remove("GOVC_URL")
        .env_remove("GOVC_INSECURE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}{stderr}");
    (stdout, stderr)
}

fn run(sim: &Simulator, extra: &[&str]) -> (String, String) {
    let thumbprint = ["--thumbprint", sim.sha256_thumbprint().unwrap()];
    inventory(
        &sim.url_with_credentials(),
        &[&thumbprint[..], extra].concat(),
    )
}

#[test]
fn lists_every_vm_sorted_in_both_modes() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().vms(60).tls(true));
    let (lines, summary) = run(&sim, &[]);
    let rows: Vec<Vec<&str>> = lines.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 120);
    assert!(rows.windows(2).all(|w| w[0][0] < w[1][0]), "sorted by name");
    for r in &rows {
        assert_eq!(r.len(), 4, "{r:?}");
        assert_eq!(r[1], "poweredOn");
        assert!(r[2].parse::<u32>().unwrap() >= 1);
        r[3].parse::<u32>().unwrap();
    }
    assert!(summary.contains("120 VMs"), "{summary}");
    assert!(summary.contains("bytes received"), "{summary}");
    // --full retrieves far more but prints the same lines.
    let (full, full_summary) = run(&sim, &["--full", "--page-size", "50"]);
    assert_eq!(full, lines);
    let bytes = |s: &str| -> u64 {
        s.split(", ")
            .find(|p| p.ends_with("bytes received"))
            .and_then(|p| p.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    assert!(
        bytes(&full_summary) > 5 * bytes(&summary),
        "{summary} / {full_summary}"
    );
    // Whole pages (the old way) print the same and count the same bytes as streaming.
    for mode in [&[][..], &["--full"][..]] {
        let streamed = run(&sim, mode);
        let paged = run(&sim, &[mode, &["--whole-pages"][..]].concat());
        assert_eq!(paged.0, streamed.0, "{mode:?}");
        assert_eq!(bytes(&paged.1), bytes(&streamed.1), "{mode:?}");
        // Only a streamed body has arrival times to report, in order.
        assert!(!paged.1.contains("arrived"), "{}", paged.1);
        let times: Vec<f64> = streamed
            .1
            .split("arrived from ")
            .nth(1)
            .unwrap_or_else(|| panic!("no arrival times: {}", streamed.1))
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|t| t.parse().ok())
            .collect();
        assert_eq!(times.len(), 3, "{}", streamed.1);
        assert!(
            times[0] <= times[1] && times[1] <= times[2],
            "{}",
            streamed.1
        );
        // So does decoding on several threads.
        let threads = run(&sim, &[mode, &["--decode-threads", "3"][..]].concat());
        assert_eq!(threads.0, streamed.0, "{mode:?}");
    }
}
