//! End to end: `vm-tour` runs its seven steps against a TLS simulator, pinned by the
//! simulator's SHA-256 thumbprint, and leaves nothing behind.

use std::process::Command;
use test_support::{Simulator, SimulatorConfig};
use vim25::find::Finder;
use vim25::ClientBuilder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tour_runs_its_seven_steps_and_cleans_up() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(true));
    let tp = sim
        .sha256_thumbprint()
        .expect("a TLS simulator has a thumbprint");
    let out = Command::new(env!("CARGO_BIN_EXE_vm-tour"))
        .args(["--url", sim.url(), "--thumbprint", tp])
        .env("VIM_USERNAME", sim.username())
        .env("VIM_PASSWORD", sim.password())
        .env_remove("GOVC_URL")
        .env_remove("GOVC_INSECURE")
        .env_remove("GOVC_TLS_THUMBPRINT")
        .output()
        .expect("run vm-tour");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let has = |want: &str| lines.iter().any(|l| l.starts_with(want));
    assert!(has("1 connected: VMware vCenter Server"), "{stdout}");
    assert!(has("2 found DC0_H0_VM0"), "{stdout}");
    // Every VM of the simulator is listed with the host it runs on.
    assert!(has("  DC0_H0_VM0 on DC0_H0"), "{stdout}");
    assert!(has("  DC0_C0_RP0_VM0 on DC0_C0_H"), "{stdout}");
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("7 destroyed VirtualMachine:vm-")),
        "{stdout}"
    );
    // Progress is reported as it comes and ends at 100.
    let progress: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("3 "))
        .collect();
    assert_eq!(progress.last(), Some(&"3 100% done"), "{stdout}");
    assert!(
        has(r#"4 extraConfig holds Tag { owner: "tour", note: "" } (same: true)"#),
        "{stdout}"
    );
    let states: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("5 "))
        .collect();
    assert_eq!(
        states,
        [
            "5 power state Some(PoweredOff)",
            "5 power state Some(PoweredOn)",
            "5 power state Some(PoweredOff)"
        ],
        "{stdout}"
    );
    // The program only prints this when the task's fault is a typed InvalidPowerState.
    assert!(has("6 refused as expected"), "{stdout}");

    // Checked from outside: the tour's VM is gone, and the session it used is closed.
    let client = ClientBuilder::new(sim.url())
        .unwrap()
        .credentials(sim.username(), sim.password())
        .thumbprint(tp)
        .connect()
        .await
        .unwrap();
    let finder = Finder::new(&client);
    let left = finder.by_name("VirtualMachine", "vm-tour").await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}
