//! `vim-bench encode|concurrent|watch`: our side of three scenarios of the benchmark
//! suite (`bench/run.sh`), whose govmomi and pyVmomi peers (`bench/govmomi`,
//! `bench/pyvmomi`) run the same work; `bench/README.md` describes each one.
//!
//! - `encode [--count 10000] [--rounds 5] [--out FILE] [--check FILE...]`: encodes the
//!   `ReconfigVM_Task` request of a spec with `count` device changes (disks and
//!   vmxnet3 NICs, alternating), as the client does before sending it. `--check`
//!   decodes the envelopes the peers wrote and fails unless each holds the same spec.
//! - `concurrent --url URL [--calls 256] [--rounds 3]`: `calls` `RetrieveProperties`
//!   calls (one VM's `summary` each) started at once on one client, `rounds` times;
//!   prints one line per VM: name, power state, CPUs, memory (MB), sorted by name.
//! - `watch --url URL [--seconds 10]`: a `WaitForUpdatesEx` loop on
//!   `summary.quickStats.overallCpuUsage` of every VM while the simulator changes
//!   those values (the launcher's `-churn RATE`, whose values are the time of the
//!   change in milliseconds modulo 10⁹); prints `vms<TAB>N` and measures how many
//!   changes arrive and how late.
//!
//! Each ends its standard error with one line `STATS key=value ...` for `run.sh`.

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use vim25::mo::{ManagedObject, VirtualMachine};
use vim25::property::{spec_for_objects, Retrieval, Watch};
use vim25::soap::RequestWriter;
use vim25::types::{
    AnyValue, AnyVirtualDeviceConfigSpec, ManagedObjectReference, ObjectUpdateKind, VirtualDevice,
    VirtualDeviceConfigSpec, VirtualDeviceConfigSpecFileOperation,
    VirtualDeviceConfigSpecOperation, VirtualDeviceConnectInfo, VirtualDeviceDeviceBackingInfo,
    VirtualDeviceFileBackingInfo, VirtualDisk, VirtualDiskFlatVer2BackingInfo, VirtualEthernetCard,
    VirtualEthernetCardNetworkBackingInfo, VirtualMachineConfigSpec, VirtualVmxnet, VirtualVmxnet3,
};
use vim25::view::ContainerView;
use vim25::xml::{Decode, Decoder};
use vim25::{methods, Error, Version};

#[derive(Parser)]
#[command(about = "Our side of bench/run.sh's encode, concurrent and watch scenarios")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Encode a ReconfigVM_Task request with many device changes.
    Encode {
        /// Device changes in the spec.
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Timed encodes (after one untimed).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Write one encoded envelope here.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Envelopes written by the peers: each must decode to the same spec.
        #[arg(long, num_args = 1..)]
        check: Vec<std::path::PathBuf>,
    },
    /// Many RetrieveProperties calls at once on one client.
    Concurrent {
        #[command(flatten)]
        conn: examples::ConnectArgs,
        /// Calls started at once (one VM each).
        #[arg(long, default_value_t = 256)]
        calls: usize,
        /// Rounds, each timed on its own.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Receive property changes for a while and measure their lag.
    Watch {
        #[command(flatten)]
        conn: examples::ConnectArgs,
        /// How long to watch after the initial state arrived.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
}

/// The property the simulator's churn changes.
const CHURNED: &str = "summary.quickStats.overallCpuUsage";

/// The spec of the encode scenario: `count` device changes, disks (with a file to
/// create) and vmxnet3 NICs alternating.
fn device_spec(count: usize) -> VirtualMachineConfigSpec {
    let change = |i: usize| -> AnyVirtualDeviceConfigSpec {
        let key = -(i as i32 + 1);
        if i.is_multiple_of(2) {
            let backing = VirtualDiskFlatVer2BackingInfo {
                base_: VirtualDeviceFileBackingInfo {
                    file_name: format!("[LocalDS_0] bench/disk-{i}.vmdk"),
                    ..Default::default()
                },
                disk_mode: "persistent".into(),
                thin_provisioned: Some(true),
                ..Default::default()
            };
            let disk = VirtualDisk {
                base_: VirtualDevice {
                    key,
                    backing: Some(backing.into()),
                    controller_key: Some(1000),
                    unit_number: Some((i % 16) as i32),
                    ..Default::default()
                },
                capacity_in_kb: 1_048_576 + i as i64,
                ..Default::default()
            };
            VirtualDeviceConfigSpec {
                operation: Some(VirtualDeviceConfigSpecOperation::Add),
                file_operation: Some(VirtualDeviceConfigSpecFileOperation::Create),
                device: disk.into(),
                ..Default::default()
            }
            .into()
        } else {
            let backing = VirtualEthernetCardNetworkBackingInfo {
                base_: VirtualDeviceDeviceBackingInfo {
                    device_name: "VM Network".into(),
                    ..Default::default()
                },
                ..Default::default()
            };
            let nic = VirtualVmxnet3 {
                base_: VirtualVmxnet {
                    base_: VirtualEthernetCard {
                        base_: VirtualDevice {
                            key,
                            backing: Some(backing.into()),
                            connectable: Some(VirtualDeviceConnectInfo {
                                start_connected: true,
                                allow_guest_control: true,
                                connected: false,
                                ..Default::default()
                            }),
                            controller_key: Some(100),
                            ..Default::default()
                        },
                        address_type: Some("generated".into()),
                        ..Default::default()
                    },
                },
                ..Default::default()
            };
            VirtualDeviceConfigSpec {
                operation: Some(VirtualDeviceConfigSpecOperation::Add),
                device: nic.into(),
                ..Default::default()
            }
            .into()
        }
    };
    VirtualMachineConfigSpec {
        device_change: (0..count).map(change).collect(),
        ..Default::default()
    }
}

fn vm_42() -> ManagedObjectReference {
    ManagedObjectReference {
        type_: "VirtualMachine".into(),
        value: "vm-42".into(),
    }
}

/// The request envelope the client would send.
fn encode_once(spec: &VirtualMachineConfigSpec) -> Result<String, Error> {
    let mut w = RequestWriter::new("ReconfigVM_Task", &vm_42(), Version::LATEST);
    w.param("spec", spec);
    Ok(w.finish()?.body)
}

/// The `spec` parameter of a `ReconfigVM_Task` request envelope.
fn spec_of_request(body: &[u8]) -> Result<VirtualMachineConfigSpec, String> {
    let err = |e: vim25::xml::DecodeError| e.to_string();
    let mut d = Decoder::new(body);
    for want in ["Envelope", "Body", "ReconfigVM_Task"] {
        // A SOAP header before the body is skipped.
        loop {
            let s = d
                .next_child()
                .map_err(err)?
                .ok_or_else(|| format!("no {want} element"))?;
            if s.name() == want.as_bytes() {
                break;
            }
            d.skip(&s).map_err(err)?;
        }
    }
    while let Some(s) = d.next_child().map_err(err)? {
        if s.name() == b"spec" {
            return VirtualMachineConfigSpec::decode(&mut d, &s).map_err(err);
        }
        d.skip(&s).map_err(err)?;
    }
    Err("no spec parameter".into())
}

fn encode(
    count: usize,
    rounds: usize,
    out: Option<std::path::PathBuf>,
    check: Vec<std::path::PathBuf>,
) -> Result<(), Error> {
    let spec = device_spec(count);
    let bad = |m: String| Error::InvalidInput(m);
    let first = encode_once(&spec)?;
    let rounds = rounds.max(1);
    let started = Instant::now();
    let mut body = String::new();
    for _ in 0..rounds {
        body = std::hint::black_box(encode_once(&spec)?);
    }
    let secs = started.elapsed().as_secs_f64() / rounds as f64;
    if body != first {
        return Err(bad("two encodes of one spec differ".into()));
    }
    if let Some(path) = out {
        std::fs::write(&path, &body)
            .map_err(|e| bad(format!("writing {}: {e}", path.display())))?;
    }
    // Ours must read back what it wrote, and each peer's envelope must hold the
    // same spec.
    let mine = spec_of_request(body.as_bytes()).map_err(bad)?;
    if mine != spec {
        return Err(bad("our own envelope decodes to another spec".into()));
    }
    for path in &check {
        let peer =
            std::fs::read(path).map_err(|e| bad(format!("reading {}: {e}", path.display())))?;
        let theirs = spec_of_request(&peer).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        if theirs.device_change.len() != spec.device_change.len() {
            return Err(bad(format!(
                "{}: {} device changes, ours {}",
                path.display(),
                theirs.device_change.len(),
                spec.device_change.len()
            )));
        }
        if let Some(i) = (0..spec.device_change.len())
            .find(|&i| theirs.device_change[i] != spec.device_change[i])
        {
            return Err(bad(format!(
                "{}: device change {i} differs: {:?}, ours {:?}",
                path.display(),
                theirs.device_change[i],
                spec.device_change[i]
            )));
        }
        if theirs != spec {
            return Err(bad(format!("{}: the spec differs", path.display())));
        }
        eprintln!("vim-bench encode: {} holds the same spec", path.display());
    }
    eprintln!(
        "STATS specs={count} bytes={} ms={:.2} mbps={:.1}",
        body.len(),
        secs * 1e3,
        body.len() as f64 / 1e6 / secs
    );
    Ok(())
}

/// Every VM's reference, sorted by name.
async fn vms_by_name(
    client: &vim25::Client,
) -> Result<Vec<(String, ManagedObjectReference)>, Error> {
    let view = ContainerView::create(client, &["VirtualMachine"], true).await?;
    let spec = view.filter_spec("VirtualMachine", &["name"]);
    let mut pages = Retrieval::new(client.clone(), client.property_collector(), vec![spec]);
    let mut vms = Vec::new();
    let result = async {
        while let Some(vm) = pages.next_object::<VirtualMachine>().await? {
            let vm = vm.object;
            vms.push((vm.name.clone().unwrap_or_default(), vm.obj));
        }
        Ok::<(), Error>(())
    }
    .await;
    let _ = view.destroy().await;
    result?;
    vms.sort();
    Ok(vms)
}

/// One call of the concurrent scenario: one VM's `summary`, typed.
async fn summary_of(
    client: &vim25::Client,
    collector: &ManagedObjectReference,
    vm: &ManagedObjectReference,
) -> Result<VirtualMachine, Error> {
    let spec = spec_for_objects("VirtualMachine", &["summary"], std::slice::from_ref(vm));
    let found = methods::retrieve_properties(client, collector, &[spec]).await?;
    let oc = found
        .iter()
        .find(|c| c.obj == *vm)
        .ok_or_else(|| Error::InvalidInput(format!("{vm} not returned")))?;
    VirtualMachine::from_object_content(oc)
}

async fn concurrent(conn: examples::ConnectArgs, calls: usize, rounds: usize) -> Result<(), Error> {
    let client = conn.connect().await?;
    let vms = vms_by_name(&client).await?;
    if vms.len() < calls {
        return Err(Error::InvalidInput(format!(
            "{calls} calls need as many VMs; the server has {}",
            vms.len()
        )));
    }
    let chosen: Vec<ManagedObjectReference> = vms.into_iter().take(calls).map(|(_, r)| r).collect();
    let collector = client.property_collector();
    let mut times = Vec::new();
    let mut last = Vec::new();
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        let all = chosen.iter().map(|vm| summary_of(&client, &collector, vm));
        last = futures::future::try_join_all(all).await?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let mut lines: Vec<String> = last
        .iter()
        .map(|vm| {
            let s = vm.summary.as_ref();
            let config = s.map(|s| &s.config);
            format!(
                "{}\t{}\t{}\t{}",
                config.map(|c| c.name.as_str()).unwrap_or_default(),
                s.map(|s| s.runtime.power_state.as_str())
                    .unwrap_or_default(),
                config
                    .and_then(|c| c.num_cpu)
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                config
                    .and_then(|c| c.memory_size_mb)
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    lines.sort();
    for l in &lines {
        println!("{l}");
    }
    let _ = client.logout().await;
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    eprintln!(
        "STATS calls={calls} rounds={} median_ms={:.1} min_ms={min:.1}",
        times.len(),
        median(&mut times)
    );
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Milliseconds since the epoch, modulo 10⁹: the churn's clock.
fn now_ms() -> i64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    (ms % 1_000_000_000) as i64
}

async fn watch(conn: examples::ConnectArgs, seconds: f64) -> Result<(), Error> {
    let client = conn.connect().await?;
    let view = ContainerView::create(&client, &["VirtualMachine"], true).await?;
    let spec = view.filter_spec("VirtualMachine", &[CHURNED]);
    let mut w = Watch::create(client.clone(), &client.property_collector(), &spec)
        .await?
        .max_wait(Duration::from_secs(1));
    let mut vms = 0usize;
    let mut lags: Vec<i64> = Vec::new();
    let mut waits = 0usize;
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    let result = async {
        loop {
            let set = w.wait_for_updates().await?;
            let now = Instant::now();
            let stamp = now_ms();
            let updates = set
                .iter()
                .flat_map(|s| &s.filter_set)
                .flat_map(|f| &f.object_set);
            match first {
                None => {
                    vms = updates.count();
                    first = Some(now);
                }
                Some(t0) => {
                    waits += usize::from(set.is_some());
                    for u in updates.filter(|u| u.kind == ObjectUpdateKind::Modify) {
                        for c in u.change_set.iter().filter(|c| c.name == CHURNED) {
                            if let Some(AnyValue::Int(v)) = c.val {
                                lags.push((stamp - i64::from(v)).rem_euclid(1_000_000_000));
                            }
                        }
                    }
                    last = now;
                    if now.duration_since(t0).as_secs_f64() >= seconds {
                        break;
                    }
                }
            }
        }
        Ok::<(), Error>(())
    }
    .await;
    let _ = w.destroy().await;
    let _ = view.destroy().await;
    let _ = client.logout().await;
    result?;
    println!("vms\t{vms}");
    let elapsed = first.map_or(0.0, |t0| last.duration_since(t0).as_secs_f64());
    lags.sort_unstable();
    let pct = |p: f64| {
        lags.get(((lags.len() as f64 * p) as usize).min(lags.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    eprintln!(
        "STATS vms={vms} changes={} seconds={elapsed:.2} rate={:.1} lag_p50_ms={} lag_p99_ms={} lag_max_ms={} waits={waits}",
        lags.len(),
        if elapsed > 0.0 { lags.len() as f64 / elapsed } else { 0.0 },
        pct(0.5),
        pct(0.99),
        lags.last().copied().unwrap_or(0),
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Args::parse().cmd {
        Cmd::Encode {
            count,
            rounds,
            out,
            check,
        } => encode(count, rounds, out, check),
        Cmd::Concurrent {
            conn,
            calls,
            rounds,
        } => concurrent(conn, calls, rounds).await,
        Cmd::Watch { conn, seconds } => watch(conn, seconds).await,
    };
    examples::exit_status("vim-bench", result)
}
