//! End to end: the govc-like examples (`ls`, `vm-info`, `events`, `datastore-upload`)
//! run as programs against a simulator each test starts (vCenter model, plain HTTP;
//! the upload also over TLS pinned by thumbprint).

use std::process::{Command, Output};
use test_support::{Simulator, SimulatorConfig};
use vim25::find::Finder;
use vim25::object::{Datastore, VirtualMachine};
use vim25::{Client, ClientBuilder};

/// Runs an example binary against `sim` with the credentials in the environment.
fn run(sim: &Simulator, exe: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(exe);
    cmd.arg("--url").arg(sim.url());
    if let Some(tp) = sim.sha256_thumbprint() {
        cmd.arg("--thumbprint").arg(tp);
    }
    cmd.args(args)
        .env("VIM_USERNAME", sim.username())
        .env("VIM_PASSWORD", sim.password())
        .env_remove("GOVC_URL")
        .env_remove("GOVC_INSECURE")
        .env_remove("GOVC_TLS_THUMBPRINT")
        .output()
        .unwrap_or_else(|e| panic!("{exe}: {e}"))
}

/// Standard output of a run that must succeed.
fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Standard error of a run that must fail.
fn failed(out: Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

async fn connect(sim: &Simulator) -> Client {
    let b = ClientBuilder::new(sim.url())
        .unwrap()
        .credentials(sim.username(), sim.password());
    match sim.sha256_thumbprint() {
        Some(tp) => b.thumbprint(tp),
        None => b,
    }
    .connect()
    .await
    .unwrap()
}

#[test]
fn every_example_has_help() {
    for exe in [
        env!("CARGO_BIN_EXE_ls"),
        env!("CARGO_BIN_EXE_vm-info"),
        env!("CARGO_BIN_EXE_events"),
        env!("CARGO_BIN_EXE_datastore-upload"),
    ] {
        let out = Command::new(exe).arg("--help").output().unwrap();
        let help = ok(out);
        assert!(help.contains("--url"), "{exe}: {help}");
        assert!(help.contains("--thumbprint"), "{exe}: {help}");
    }
}

#[test]
fn ls_lists_like_govc() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let ls = env!("CARGO_BIN_EXE_ls");
    assert_eq!(lines(&ok(run(&sim, ls, &[]))), ["/DC0"]);
    assert_eq!(
        lines(&ok(run(&sim, ls, &["/DC0"]))),
        ["/DC0/datastore", "/DC0/host", "/DC0/network", "/DC0/vm"]
    );
    let vms = ok(run(&sim, ls, &["-l", "/DC0/vm"]));
    assert!(
        vms.lines()
            .any(|l| l == "/DC0/vm/DC0_H0_VM0 (VirtualMachine)"),
        "{vms}"
    );
    assert!(
        vms.lines().all(|l| l.ends_with("(VirtualMachine)")),
        "{vms}"
    );
    // Relative to the only datacenter, the same.
    let relative = ok(run(&sim, ls, &["-l", "vm"]));
    assert_eq!(relative, vms);
    // A leaf lists itself; globs work.
    assert_eq!(
        lines(&ok(run(&sim, ls, &["/DC0/vm/DC0_H0_VM0"]))),
        ["/DC0/vm/DC0_H0_VM0"]
    );
    let globbed = ok(run(&sim, ls, &["/DC0/vm/*_H0_VM?"]));
    assert_eq!(
        lines(&globbed),
        ["/DC0/vm/DC0_H0_VM0", "/DC0/vm/DC0_H0_VM1"]
    );
    // A cluster shows its hosts and its root pool.
    let cluster = ok(run(&sim, ls, &["/DC0/host/DC0_C0"]));
    assert!(
        cluster.lines().any(|l| l == "/DC0/host/DC0_C0/Resources"),
        "{cluster}"
    );
    assert!(
        cluster.lines().any(|l| l == "/DC0/host/DC0_C0/DC0_C0_H0"),
        "{cluster}"
    );
    // The datastore vcsim lists once per host appears once.
    assert_eq!(
        lines(&ok(run(&sim, ls, &["/DC0/datastore"]))),
        ["/DC0/datastore/LocalDS_0"]
    );
    let err = failed(run(&sim, ls, &["/DC0/nothing-here"]));
    assert!(err.contains("/DC0/nothing-here not found"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_info_prints_json() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let exe = env!("CARGO_BIN_EXE_vm-info");
    let by_name: serde_json::Value =
        serde_json::from_str(&ok(run(&sim, exe, &["DC0_H0_VM0"]))).unwrap();
    assert_eq!(by_name["name"], "DC0_H0_VM0");
    assert_eq!(by_name["path"], "/DC0/vm/DC0_H0_VM0");
    assert_eq!(by_name["powerState"], "poweredOn");
    assert!(by_name["cpu"].as_i64().unwrap() >= 1);
    assert!(by_name["memoryMB"].as_i64().unwrap() > 0);
    assert_eq!(by_name["guest"]["id"], "otherGuest");
    let devices = by_name["devices"].as_array().unwrap();
    for kind in ["VirtualDisk", "VirtualCdrom", "ParaVirtualSCSIController"] {
        assert!(
            devices.iter().any(|d| d["type"] == kind),
            "no {kind}: {devices:?}"
        );
    }
    assert!(devices.iter().all(|d| d["key"].is_i64()));

    // By path, after a change made elsewhere.
    let c = connect(&sim).await;
    let vm = VirtualMachine::new(&c, Finder::new(&c).one("/DC0/vm/DC0_H0_VM1").await.unwrap());
    vm.power_off_and_wait().await.unwrap();
    let by_path: serde_json::Value =
        serde_json::from_str(&ok(run(&sim, exe, &["/DC0/vm/DC0_H0_VM1"]))).unwrap();
    assert_eq!(by_path["name"], "DC0_H0_VM1");
    assert_eq!(by_path["powerState"], "poweredOff");

    let err = failed(run(&sim, exe, &["no-such-vm"]));
    assert!(err.contains("VM no-such-vm not found"), "{err}");
    let err = failed(run(&sim, exe, &["DC0_*"]));
    assert!(err.contains("matches"), "{err}");
    let err = failed(run(&sim, exe, &["/DC0/host"]));
    assert!(err.contains("not a VM"), "{err}");
}

/// `vm-info --json`: the properties in the vSphere JSON shape, and they read back (the
/// `serde` feature of vim25) as what the client retrieves itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_info_json_prints_the_properties() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let exe = env!("CARGO_BIN_EXE_vm-info");
    let text = ok(run(&sim, exe, &["--json", "DC0_H0_VM0"]));
    let tree: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(tree["obj"]["_typeName"], "ManagedObjectReference");
    assert_eq!(tree["obj"]["type"], "VirtualMachine");
    assert_eq!(tree["name"], "DC0_H0_VM0");
    assert_eq!(tree["config"]["_typeName"], "VirtualMachineConfigInfo");
    assert_eq!(tree["runtime"]["powerState"], "poweredOn");
    assert_eq!(tree["summary"]["_typeName"], "VirtualMachineSummary");
    let devices = tree["config"]["hardware"]["device"].as_array().unwrap();
    for kind in ["VirtualDisk", "VirtualCdrom", "ParaVirtualSCSIController"] {
        assert!(
            devices.iter().any(|d| d["_typeName"] == kind),
            "no {kind}: {devices:?}"
        );
    }

    let printed: vim25::mo::VirtualMachine = serde_json::from_str(&text).unwrap();
    let c = connect(&sim).await;
    let vm = VirtualMachine::new(&c, printed.obj.clone());
    let direct: vim25::mo::VirtualMachine = vm
        .properties(&["name", "config", "runtime", "guest", "summary"])
        .await
        .unwrap();
    // The simulator's clock moves between the two reads.
    let mut a = printed.clone();
    let mut b = direct.clone();
    for m in [&mut a, &mut b] {
        m.summary = None;
    }
    assert_eq!(a, b);
    assert_eq!(
        printed.summary.as_ref().unwrap().vm,
        direct.summary.as_ref().unwrap().vm
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_lists_recent_events() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let exe = env!("CARGO_BIN_EXE_events");
    let c = connect(&sim).await;
    let vm = VirtualMachine::new(&c, Finder::new(&c).one("/DC0/vm/DC0_H0_VM0").await.unwrap());
    vm.power_off_and_wait().await.unwrap();
    vm.power_on_and_wait().await.unwrap();

    let out = ok(run(&sim, exe, &["--max", "5"]));
    let all = lines(&out);
    assert_eq!(all.len(), 5, "{out}");
    // The newest five: the power-on just made is among them.
    assert!(
        all.iter().any(|l| l.contains("  VmPoweredOnEvent  ")),
        "{out}"
    );
    for line in &all {
        let cols: Vec<&str> = line.splitn(3, "  ").collect();
        assert_eq!(cols.len(), 3, "{line}");
        assert!(vim25::object::parse_date_time(cols[0]).is_some(), "{line}");
        assert!(cols[1].ends_with("Event"), "{line}");
    }
    // Oldest first: times do not go backwards.
    let times: Vec<_> = all
        .iter()
        .map(|l| vim25::object::parse_date_time(l.split("  ").next().unwrap()).unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{out}");

    // About one VM: its power cycle, in order.
    let out = ok(run(&sim, exe, &["/DC0/vm/DC0_H0_VM0", "--max", "100"]));
    let types: Vec<&str> = out.lines().filter_map(|l| l.split("  ").nth(1)).collect();
    let off = types.iter().rposition(|t| *t == "VmPoweredOffEvent");
    let on = types.iter().rposition(|t| *t == "VmPoweredOnEvent");
    assert!(off.is_some() && on > off, "{out}");
    assert!(out.contains("DC0_H0_VM0"), "{out}");

    // Nothing after a time in the future; a bad time is refused by the parser.
    let none = ok(run(&sim, exe, &["--since", "2999-01-01T00:00:00Z"]));
    assert!(none.is_empty(), "{none}");
    let out = run(&sim, exe, &["--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
}

/// Bytes that do not repeat with any short period (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

async fn upload_and_check(tls: bool) {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(tls));
    let exe = env!("CARGO_BIN_EXE_datastore-upload");
    let dir = std::env::temp_dir().join(format!("govc-like-{}-{tls}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("payload.bin");
    let data = noise(1_500_000);
    std::fs::write(&file, &data).unwrap();
    let file_arg = file.to_str().unwrap();

    let c = connect(&sim).await;
    let found = Finder::new(&c)
        .by_name("Datastore", "LocalDS_0")
        .await
        .unwrap();
    let ds = Datastore::new(&c, found[0].1.clone());

    for (dest, remote) in [
        ("LocalDS_0:up/named.bin", "up/named.bin"),
        ("up/default.bin", "up/default.bin"),
        ("[LocalDS_0] up/bracket.bin", "up/bracket.bin"),
    ] {
        let out = ok(run(&sim, exe, &[file_arg, dest]));
        assert_eq!(
            out.trim(),
            format!("uploaded {} bytes to [LocalDS_0] {remote}", data.len())
        );
        let mut back = Vec::new();
        ds.download(remote, &mut back, |_, _| {}).await.unwrap();
        assert!(back == data, "{dest}: the datastore holds other bytes");
    }

    let err = failed(run(
        &sim,
        exe,
        &[dir.join("missing").to_str().unwrap(), "x.bin"],
    ));
    assert!(err.contains("local file"), "{err}");
    let err = failed(run(&sim, exe, &[file_arg, "NoSuchDS:x.bin"]));
    assert!(err.contains("datastore NoSuchDS not found"), "{err}");
    let err = failed(run(&sim, exe, &[file_arg, "LocalDS_0:"]));
    assert!(err.contains("names no file"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datastore_upload_over_http() {
    upload_and_check(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datastore_upload_over_pinned_tls() {
    upload_and_check(true).await;
}
