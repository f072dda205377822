//! End to end: `paced-proxy` in front of a simulator, as the benchmark's paced scenario
//! uses it. `vm-inventory` through the front prints what it prints directly; the first
//! retrieval is fetched from the simulator and kept, the second is answered from the
//! copy (the session-scoped view id in the request differs between the two runs).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use test_support::{Simulator, SimulatorConfig};

/// Kills the front when the test ends, however it ends.
struct Front(std::process::Child);

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `vm-inventory --full` at `url`: what it prints.
fn inventory(url: &str, extra: &[&str]) -> String {
    crate::vm_inventory::inventory(url, &[&["--full"][..], extra].concat()).0
}

#[test]
fn streams_what_the_simulator_answers_and_replays_large_answers() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().vms(40).tls(true));
    let direct = inventory(
        &sim.url_with_credentials(),
        &["--thumbprint", sim.sha256_thumbprint().unwrap()],
    );
    assert_eq!(direct.lines().count(), 80);

    let log = std::env::temp_dir().join(format!("paced-proxy-{}.log", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_paced-proxy"))
        .args([
            "--upstream",
            sim.url(),
            "--rate",
            "20",
            "--cache-min",
            "20000",
        ])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let front = Front(child);
    let mut lines = BufReader::new(stdout).lines();
    let url_line = lines.next().unwrap().unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "READY");
    let base = url_line.strip_prefix("URL ").unwrap();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let with_credentials = base.replacen(
        "https://",
        &format!("https://{}:{}@", sim.username(), sim.password()),
        1,
    );

    // The front's certificate is its own, self-signed: insecure mode, as the bench.
    let first = inventory(&with_credentials, &["--insecure"]);
    let second = inventory(&with_credentials, &["--insecure", "--decode-threads", "2"]);
    assert_eq!(first, direct);
    assert_eq!(second, direct);
    drop(front);

    let log_text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let retrievals: Vec<&str> = log_text
        .lines()
        .filter(|l| l.starts_with("RetrievePropertiesEx "))
        .collect();
    assert_eq!(retrievals.len(), 2, "{log_text}");
    assert!(retrievals[0].ends_with(" miss"), "{log_text}");
    assert!(retrievals[1].ends_with(" hit"), "{log_text}");
    // Small answers (login, the view) always go to the simulator.
    assert!(
        log_text
            .lines()
            .any(|l| l.starts_with("Login 200 ") && l.ends_with(" pass")),
        "{log_text}"
    );
    assert!(!log_text.contains(" error"), "{log_text}");
}
