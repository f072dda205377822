//! End to end: `vch create`, `inspect`, `ls` and `delete` as programs against the
//! simulator, with `tether-sim` standing in for the appliance's guest agent. Every
//! step is checked in vSphere through the API: resource pool, appliance VM with its
//! NICs and CD-ROM, the uploaded ISOs, the extraConfig decoded with vic-config, the
//! bridge port group, and that everything is gone after delete. Bad input exits
//! non-zero with a clear message and changes nothing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use test_support::{Simulator, SimulatorConfig};
use vic_config::model::VchConfig;
use vim25::find::Finder;
use vim25::mo;
use vim25::object::device;
use vim25::object::{Datastore, HostSystem, ResourcePool, VirtualMachine};
use vim25::types::{
    AnyVirtualDevice, AnyVirtualDeviceBackingInfo, ManagedObjectReference, VirtualMachinePowerState,
};
use vim25::view::ContainerView;
use vim25::{Client, ClientBuilder};

const VCH: &str = env!("CARGO_BIN_EXE_vch");
const TETHER: &str = env!("CARGO_BIN_EXE_tether-sim");

/// A scratch directory (certificate files land there), removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("vch-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `tether-sim` for the test's lifetime.
struct Tether(Child);

impl Tether {
    fn start(sim: &Simulator, vch: &str) -> Tether {
        Tether::spawn(sim, vch, "info", Stdio::null(), Stdio::null())
    }

    /// Logging at trace level into `log` (standard output and error).
    fn start_traced(sim: &Simulator, vch: &str, log: &Path) -> Tether {
        let file = std::fs::File::create(log).unwrap();
        let stderr = Stdio::from(file.try_clone().unwrap());
        Tether::spawn(sim, vch, "trace", Stdio::from(file), stderr)
    }

    fn spawn(sim: &Simulator, vch: &str, rust_log: &str, out: Stdio, err: Stdio) -> Tether {
        let child = Command::new(TETHER)
            .args(["--target", sim.url(), "--user", sim.username()])
            .args(["--thumbprint", sim.sha256_thumbprint().unwrap()])
            .args(["--vch", vch])
            .env("VIM_PASSWORD", sim.password())
            .env("RUST_LOG", rust_log)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("tether-sim starts");
        Tether(child)
    }
}

impl Drop for Tether {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `vch SUBCOMMAND --target URL --user U --thumbprint TP ARGS…` in `dir`, the
/// password in the environment.
fn vch(sim: &Simulator, dir: &Path, sub: &str, args: &[&str]) -> Output {
    Command::new(VCH)
        .arg(sub)
        .args(["--target", sim.url(), "--user", sim.username()])
        .args(["--thumbprint", sim.sha256_thumbprint().unwrap()])
        .args(args)
        .env("VIM_PASSWORD", sim.password())
        .env_remove("GOVC_PASSWORD")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("vch runs")
}

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
        "must fail:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn connect(sim: &Simulator) -> Client {
    ClientBuilder::new(sim.url())
        .unwrap()
        .credentials(sim.username(), sim.password())
        .thumbprint(sim.sha256_thumbprint().unwrap())
        .connect()
        .await
        .unwrap()
}

/// Names of every object of `kind`.
async fn names(client: &Client, kind: &str) -> Vec<(String, ManagedObjectReference)> {
    let view = ContainerView::create(client, &[kind], true).await.unwrap();
    let mut r = vim25::property::Retrieval::new(
        client.clone(),
        client.property_collector(),
        vec![view.filter_spec(kind, &["name"])],
    );
    let mut out = Vec::new();
    while let Some(page) = r.next_page().await.unwrap() {
        for oc in page {
            out.push((oc.get::<String>("name").unwrap(), oc.obj.clone()));
        }
    }
    view.destroy().await.unwrap();
    out.sort();
    out
}

async fn find(client: &Client, kind: &str, name: &str) -> Option<ManagedObjectReference> {
    names(client, kind)
        .await
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, r)| r)
}

/// What a failed run must leave: the same pools, VMs, networks and folders.
async fn inventory(client: &Client) -> Vec<(String, ManagedObjectReference)> {
    let mut all = Vec::new();
    for kind in ["ResourcePool", "VirtualMachine", "Network", "Folder"] {
        all.extend(names(client, kind).await);
    }
    all
}

async fn port_groups(client: &Client) -> Vec<String> {
    let host = Finder::new(client).default_of("HostSystem").await.unwrap();
    let ns = HostSystem::new(client, host)
        .network_system()
        .await
        .unwrap();
    ns.network_info()
        .await
        .unwrap()
        .portgroup
        .into_iter()
        .map(|pg| pg.spec.name)
        .collect()
}

async fn download(client: &Client, ds: &str, path: &str) -> Option<Vec<u8>> {
    let ds = Datastore::new(client, find(client, "Datastore", ds).await.unwrap());
    let mut buf = Vec::new();
    match ds.download(path, &mut buf, |_, _| {}).await {
        Ok(_) => Some(buf),
        Err(vim25::Error::NotFound(_)) => None,
        Err(e) => panic!("download {path}: {e}"),
    }
}

/// A real ISO9660 file for `--appliance-iso` (the stand-in maker's output).
fn iso_file(dir: &Path) -> String {
    let p = dir.join("given.iso");
    std::fs::write(
        &p,
        examples::vch::iso::stand_in("GIVEN", "given\n").unwrap(),
    )
    .unwrap();
    p.to_string_lossy().into_owned()
}

fn is_iso9660(bytes: &[u8]) -> bool {
    bytes.get(32769..32774) == Some(b"CD001")
}

fn backing_name(d: &AnyVirtualDevice) -> Option<String> {
    match d.backing.as_ref()? {
        AnyVirtualDeviceBackingInfo::VirtualEthernetCardNetworkBackingInfo(b) => {
            Some(b.base_.device_name.clone())
        }
        AnyVirtualDeviceBackingInfo::VirtualEthernetCardDistributedVirtualPortBackingInfo(b) => {
            Some(b.port.portgroup_key.clone().unwrap_or_default())
        }
        AnyVirtualDeviceBackingInfo::VirtualCdromIsoBackingInfo(b) => {
            Some(b.base_.file_name.clone())
        }
        _ => None,
    }
}

/// The appliance as vSphere has it: devices, decoded config (with secrets: the
/// simulator shows `guestinfo.ovfEnv` through the API), pool and power state.
struct Appliance {
    devices: Vec<AnyVirtualDevice>,
    config: VchConfig,
    pool: ManagedObjectReference,
    power: VirtualMachinePowerState,
}

async fn appliance(client: &Client, vm: &ManagedObjectReference) -> Appliance {
    let m: mo::VirtualMachine = VirtualMachine::new(client, vm.clone())
        .properties(&["config", "runtime", "resourcePool"])
        .await
        .unwrap();
    let config_info = m.config.unwrap();
    let mut map = std::collections::BTreeMap::new();
    vic_portlayer::backend::apply_extra_config(&mut map, &config_info.extra_config).unwrap();
    let map = vic_portlayer::backend::unescaped(&map);
    let config: VchConfig = vic_config::from_extra_config(&map).unwrap();
    Appliance {
        devices: config_info.hardware.device,
        config,
        pool: m.resource_pool.unwrap(),
        power: m.runtime.unwrap().power_state,
    }
}

/// The checks after a successful create, common to both models.
async fn check_created(
    client: &Client,
    dir: &Path,
    bridge: &str,
    out: &str,
) -> (ManagedObjectReference, Appliance) {
    for line in [
        "Validating supplied configuration",
        "License check OK",
        "Generating certificate/key pair - private key in ./VCH001-key.pem",
        "Creating Resource Pool VCH001",
        "Uploading appliance.iso",
        "Uploaded bootstrap.iso: 100%",
        "Obtained IP address for client interface: 127.0.0.1",
        "DOCKER_HOST=127.0.0.1:2376",
        "docker -H 127.0.0.1:2376 --tls info",
        "Installer completed successfully",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    let pool = find(client, "ResourcePool", "VCH001")
        .await
        .expect("resource pool VCH001");
    let vm = find(client, "VirtualMachine", "VCH001")
        .await
        .expect("appliance VM VCH001");
    let a = appliance(client, &vm).await;
    assert_eq!(a.pool, pool, "the appliance runs in the VCH's pool");
    assert_eq!(a.power, VirtualMachinePowerState::PoweredOn);

    // One NIC per distinct port group, the CD-ROM on the uploaded appliance ISO.
    let nics: Vec<String> = a
        .devices
        .iter()
        .filter(|d| device::as_ethernet_card(d).is_some())
        .filter_map(backing_name)
        .collect();
    assert_eq!(nics.len(), 2, "{nics:?}");
    let cdroms: Vec<String> = a
        .devices
        .iter()
        .filter(|d| {
            matches!(
                d.backing,
                Some(AnyVirtualDeviceBackingInfo::VirtualCdromIsoBackingInfo(_))
            )
        })
        .filter_map(backing_name)
        .collect();
    assert_eq!(cdroms, vec!["[LocalDS_0] VCH001/appliance.iso".to_string()]);
    for iso in ["appliance.iso", "bootstrap.iso"] {
        let bytes = download(client, "LocalDS_0", &format!("VCH001/{iso}"))
            .await
            .unwrap_or_else(|| panic!("{iso} uploaded"));
        assert!(is_iso9660(&bytes), "{iso} is an ISO9660 image");
    }

    // The config decodes back to what was created.
    let c = &a.config;
    assert_eq!(c.init.common.name.as_deref(), Some("VCH001"));
    assert_eq!(
        c.init.common.id.as_deref(),
        Some(format!("VirtualMachine:{}", vm.value).as_str()),
        "the ID is the VM's reference once it exists"
    );
    assert_eq!(c.network.bridge_network.as_deref(), Some(bridge));
    assert_eq!(
        c.container.compute_resources[0].value, pool.value,
        "containerVMs go into the VCH's pool"
    );
    assert_eq!(
        c.container.bootstrap_image_path.as_deref(),
        Some("[LocalDS_0] VCH001/bootstrap.iso")
    );
    let mut sessions: Vec<&str> = c.init.sessions.keys().map(String::as_str).collect();
    sessions.sort();
    assert_eq!(sessions, ["docker-personality", "port-layer", "vicadmin"]);
    for s in c.init.sessions.values() {
        assert_eq!(s.started.as_deref(), Some("true"), "tether-sim reported it");
    }
    let cert = std::fs::read_to_string(dir.join("VCH001-cert.pem")).unwrap();
    let key = std::fs::read_to_string(dir.join("VCH001-key.pem")).unwrap();
    let host_cert = c.certificate.host_certificate.as_ref().unwrap();
    assert_eq!(host_cert.cert, cert.as_bytes());
    assert_eq!(
        host_cert.key.as_ref().unwrap().expose(),
        key.as_bytes(),
        "the key is in the secret scope and opens with the VM's key"
    );
    (vm, a)
}

async fn check_ls_and_inspect(sim: &Simulator, dir: &Path, vm: &ManagedObjectReference) {
    let ls = ok(vch(sim, dir, "ls", &[]));
    let row = ls
        .lines()
        .find(|l| l.contains("VCH001"))
        .unwrap_or_else(|| panic!("ls:\n{ls}"));
    assert!(row.starts_with(&vm.value), "{row}");
    assert!(row.contains("v0.1.0"), "{row}");
    let text = ok(vch(sim, dir, "inspect", &["--name", "VCH001"]));
    for line in [
        format!("VCH ID: {}", vm.value),
        "Docker endpoint: 127.0.0.1:2376".to_string(),
        "Bridge range: 172.16.0.0/12, /16 per network".to_string(),
        "Image store: [LocalDS_0] VCH001".to_string(),
        "Address (client): 127.0.0.1/8".to_string(),
    ] {
        assert!(text.contains(&line), "no {line:?} in:\n{text}");
    }
    let json: serde_json::Value = serde_json::from_str(&ok(vch(
        sim,
        dir,
        "inspect",
        &["--name", "VCH001", "--json"],
    )))
    .unwrap();
    assert_eq!(json["docker_host"], "127.0.0.1:2376");
    assert_eq!(json["id"], vm.value.as_str());
    let cert = json["config"]["certificate"]["host_certificate"]["cert"]
        .as_str()
        .unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(
        !json.to_string().contains("PRIVATE KEY"),
        "no secret in JSON"
    );
    let missing = failed(vch(sim, dir, "inspect", &["--name", "NOPE"]));
    assert!(missing.contains("no VCH named \"NOPE\""), "{missing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esx_create_inspect_ls_delete() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::esx());
    let client = connect(&sim).await;
    let scratch = Scratch::new("esx");
    let dir = scratch.0.as_path();
    let create = [
        "--name",
        "VCH001",
        "--image-datastore",
        "LocalDS_0",
        "--bridge-network",
        "VCH Bridge",
        "--external-network",
        "VM Network",
        "--volume-store",
        "LocalDS_0/vch-volumes:default",
        "--timeout",
        "60",
    ];
    let with = |k: &str, v: &str| -> Vec<String> {
        let mut a: Vec<String> = create.iter().map(|s| s.to_string()).collect();
        let i = a.iter().position(|x| x == k).unwrap();
        a[i + 1] = v.to_string();
        a
    };

    // Bad input changes nothing.
    let before = inventory(&client).await;
    let bad_ds = with("--image-datastore", "NoSuchDS");
    let e = failed(vch(
        &sim,
        dir,
        "create",
        &bad_ds.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert!(
        e.contains("image datastore \"NoSuchDS\" not found; the target has: LocalDS_0"),
        "{e}"
    );
    let bad_net = with("--external-network", "No Such Net");
    let e = failed(vch(
        &sim,
        dir,
        "create",
        &bad_net.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert!(
        e.contains("external network \"No Such Net\" not found; the target has: VM Network"),
        "{e}"
    );
    let e = failed(
        Command::new(VCH)
            .arg("create")
            .args([
                "--target",
                sim.url(),
                "--user",
                sim.username(),
                "--thumbprint",
            ])
            .arg(sim.sha256_thumbprint().unwrap())
            .args(create)
            .env("VIM_PASSWORD", "wrong")
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    );
    assert!(e.contains("InvalidLogin"), "{e}");
    assert!(!e.contains("wrong"), "the password is never printed: {e}");
    let e = failed(
        Command::new(VCH)
            .arg("create")
            .args([
                "--target",
                sim.url(),
                "--user",
                sim.username(),
                "--thumbprint",
            ])
            .arg("00".repeat(32))
            .args(create)
            .env("VIM_PASSWORD", sim.password())
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    );
    assert!(e.contains("thumbprint"), "{e}");
    // No password anywhere and no terminal to ask on.
    let e = failed(
        Command::new(VCH)
            .arg("ls")
            .args([
                "--target",
                sim.url(),
                "--user",
                sim.username(),
                "--thumbprint",
            ])
            .arg(sim.sha256_thumbprint().unwrap())
            .env_remove("VIM_PASSWORD")
            .env_remove("GOVC_PASSWORD")
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    );
    assert!(e.contains("no password"), "{e}");
    // A file given as the appliance ISO must be one.
    let not_iso = dir.join("not.iso");
    std::fs::write(&not_iso, b"hello").unwrap();
    let mut bad_iso: Vec<&str> = create.to_vec();
    bad_iso.extend(["--appliance-iso", not_iso.to_str().unwrap()]);
    let e = failed(vch(&sim, dir, "create", &bad_iso));
    assert!(e.contains("is not an ISO9660 image"), "{e}");
    assert_eq!(
        inventory(&client).await,
        before,
        "failed creates change nothing"
    );
    assert!(!port_groups(&client)
        .await
        .contains(&"VCH Bridge".to_string()));
    assert!(!dir.join("VCH001-key.pem").exists());

    // Without the guest agent the appliance never reports: the run times out and
    // removes what it made, saying so.
    let mut short = with("--timeout", "2");
    short.extend(["--appliance-iso".into(), iso_file(dir)]);
    let out = vch(
        &sim,
        dir,
        "create",
        &short.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let e = failed(out);
    assert!(e.contains("is tether-sim running?"), "{e}");
    for line in [
        "Rolling back what this run created",
        "Removed appliance VM VCH001",
        "Removed datastore folder [LocalDS_0] VCH001",
        "Removed datastore folder [LocalDS_0] vch-volumes/volumes",
        "Removed bridge network VCH Bridge",
        "Removed resource pool VCH001",
        "Removed certificate files",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    assert_eq!(
        inventory(&client).await,
        before,
        "a rolled-back create leaves nothing"
    );
    assert!(!port_groups(&client)
        .await
        .contains(&"VCH Bridge".to_string()));
    assert!(!dir.join("VCH001-key.pem").exists());
    assert!(download(&client, "LocalDS_0", "VCH001/appliance.iso")
        .await
        .is_none());

    let _tether = Tether::start(&sim, "VCH001");

    // Create: the bridge port group is made on the standalone host.
    let out = ok(vch(&sim, dir, "create", &create));
    assert!(
        out.contains("DRS check SKIPPED - target is standalone host"),
        "{out}"
    );
    assert!(out.contains("Creating bridge network VCH Bridge"), "{out}");
    let (vm, a) = check_created(&client, dir, "VCH Bridge", &out).await;
    assert!(port_groups(&client)
        .await
        .contains(&"VCH Bridge".to_string()));
    assert_eq!(a.config.create_bridge_network, Some(true));
    assert!(download(
        &client,
        "LocalDS_0",
        "VCH001/VIC/default/images/scratch/manifest.json"
    )
    .await
    .is_some());

    // The name is taken now.
    let before = inventory(&client).await;
    let e = failed(vch(
        &sim,
        dir,
        "create",
        &with("--name", "VCH001")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ));
    assert!(e.contains("already taken"), "{e}");
    assert_eq!(inventory(&client).await, before);

    check_ls_and_inspect(&sim, dir, &vm).await;

    // Delete: the port group goes (this VCH made it), the volume store stays.
    let out = ok(vch(&sim, dir, "delete", &["--name", "VCH001"]));
    for line in [
        "Removing VMs",
        "Removing images",
        "Removing appliance VM network devices",
        "Removing bridge network VCH Bridge",
        "Removing Resource Pool VCH001",
        "Completed successfully",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    assert!(find(&client, "VirtualMachine", "VCH001").await.is_none());
    assert!(find(&client, "ResourcePool", "VCH001").await.is_none());
    assert!(!port_groups(&client)
        .await
        .contains(&"VCH Bridge".to_string()));
    assert!(download(&client, "LocalDS_0", "VCH001/appliance.iso")
        .await
        .is_none());
    assert!(
        vol_dir_exists(&client).await,
        "volumes stay without --force"
    );
    assert!(ok(vch(&sim, dir, "ls", &[]))
        .lines()
        .all(|l| !l.contains("VCH001")));
}

/// Whether the directory `[LocalDS_0] vch-volumes/volumes` exists, asked through the
/// port layer's backend (a datastore browser search); the standalone host's
/// placement creates nothing.
async fn vol_dir_exists(client: &Client) -> bool {
    let b = vic_portlayer::vsphere::VsphereBackend::new(
        client.clone(),
        vic_portlayer::vsphere::Placement::discover(client, "probe", Some("LocalDS_0"))
            .await
            .unwrap(),
    );
    use vic_portlayer::backend::Backend;
    b.exists(&vim25::object::DatastorePath::new(
        "LocalDS_0",
        "vch-volumes/volumes",
    ))
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vpx_create_with_existing_bridge_and_forced_delete() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx());
    let client = connect(&sim).await;
    let scratch = Scratch::new("vpx");
    let dir = scratch.0.as_path();
    let _tether = Tether::start(&sim, "VCH001");
    let base = [
        "--name",
        "VCH001",
        "--image-datastore",
        "LocalDS_0",
        "--bridge-network",
        "DC0_DVPG0",
        "--external-network",
        "VM Network",
        "--volume-store",
        "LocalDS_0/vpx-volumes:default",
        "--timeout",
        "60",
    ];
    // Several compute resources: the flag is needed, and the message lists them.
    let e = failed(vch(&sim, dir, "create", &base));
    assert!(e.contains("--compute-resource"), "{e}");
    assert!(e.contains("DC0_C0"), "{e}");
    let mut create = base.to_vec();
    create.extend(["--compute-resource", "DC0_C0"]);
    let out = ok(vch(&sim, dir, "create", &create));
    assert!(!out.contains("Creating bridge network"), "{out}");
    let (vm, a) = check_created(&client, dir, "DC0_DVPG0", &out).await;
    assert_eq!(a.config.create_bridge_network, Some(false));
    // On vCenter the appliance lives in a VM folder named after the VCH.
    let folder = find(&client, "Folder", "VCH001")
        .await
        .expect("VM folder VCH001");
    let m: mo::VirtualMachine = VirtualMachine::new(&client, vm.clone())
        .properties(&["parent"])
        .await
        .unwrap();
    assert_eq!(m.parent.as_ref(), Some(&folder));
    check_ls_and_inspect(&sim, dir, &vm).await;

    // A running containerVM in the VCH's pool: delete refuses without --force.
    let pool = ResourcePool::new(&client, a.pool.clone());
    let id = "ab".repeat(32);
    let spec = vim25::types::VirtualMachineConfigSpec {
        name: Some(id.clone()),
        guest_id: Some("otherGuest".into()),
        files: Some(vim25::types::VirtualMachineFileInfo {
            vm_path_name: Some(format!("[LocalDS_0] {id}/{id}.vmx")),
            ..Default::default()
        }),
        ..Default::default()
    };
    let c = vim25::object::Folder::new(&client, folder.clone())
        .create_vm_and_wait(&spec, &pool, None)
        .await
        .unwrap();
    c.power_on_and_wait().await.unwrap();
    let before = inventory(&client).await;
    let e = failed(vch(&sim, dir, "delete", &["--name", "VCH001"]));
    assert!(e.contains("running") && e.contains("--force"), "{e}");
    assert_eq!(
        inventory(&client).await,
        before,
        "a refused delete changes nothing"
    );

    let out = ok(vch(&sim, dir, "delete", &["--name", "VCH001", "--force"]));
    for line in [
        "Removed containerVM",
        "Removing volumes",
        "Bridge network was not created during VCH deployment, leaving it there",
        "Removing Resource Pool VCH001",
        "Completed successfully",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    assert!(find(&client, "VirtualMachine", "VCH001").await.is_none());
    assert!(find(&client, "VirtualMachine", &id).await.is_none());
    assert!(find(&client, "ResourcePool", "VCH001").await.is_none());
    assert!(find(&client, "Folder", "VCH001").await.is_none());
    assert!(
        find(&client, "Network", "DC0_DVPG0").await.is_some(),
        "a bridge the VCH did not create stays"
    );
}

/// Every session key the simulator lists (vcsim's session cookie is the key).
async fn session_keys(client: &Client) -> Vec<String> {
    let sm = client.service_content().session_manager.clone().unwrap();
    let m: mo::SessionManager = vim25::object::Common::new(client, sm)
        .properties(&["sessionList"])
        .await
        .unwrap();
    m.session_list
        .into_iter()
        .flatten()
        .map(|s| s.key)
        .collect()
}

/// Runs `vch SUB` at trace level, its output into `log`, while collecting the keys
/// of every session the simulator holds meanwhile (the program's own among them:
/// it logs out before it exits, so it must be caught while it runs).
async fn vch_traced(
    sim: &Simulator,
    client: &Client,
    dir: &Path,
    log: &Path,
    sub: &str,
    args: &[&str],
    keys: &mut std::collections::BTreeSet<String>,
) {
    let file = std::fs::File::create(log).unwrap();
    let mut child = Command::new(VCH)
        .arg(sub)
        .args(["--target", sim.url(), "--user", sim.username()])
        .args(["--thumbprint", sim.sha256_thumbprint().unwrap()])
        .args(args)
        .env("VIM_PASSWORD", sim.password())
        .env("RUST_LOG", "trace")
        .env_remove("GOVC_PASSWORD")
        .env_remove("GOVC_DEBUG_PATH")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .expect("vch runs");
    let status = loop {
        keys.extend(session_keys(client).await);
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(
        status.success(),
        "vch {sub}: {status}\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Issue 13: a whole lifecycle at `RUST_LOG=trace` with `--debug` directories leaves
/// no secret in any log line or debug file: not the password, not a session key
/// (vcsim's `vmware_soap_session` cookie), not the key that seals the secret scope
/// (`guestinfo.ovfEnv`), not the docker endpoint's private key kept in that scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_at_trace_level_leaks_no_secret() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::esx());
    let client = connect(&sim).await;
    let scratch = Scratch::new("secrets");
    let dir = scratch.0.as_path();
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let _tether = Tether::start_traced(&sim, "VCH001", &logs.join("tether-sim.log"));
    let mut keys = std::collections::BTreeSet::new();
    let own = session_keys(&client).await;

    let debug_create = dir.join("debug-create");
    let mut create = vec![
        "--name",
        "VCH001",
        "--image-datastore",
        "LocalDS_0",
        "--bridge-network",
        "VCH Bridge",
        "--external-network",
        "VM Network",
        "--timeout",
        "60",
        "--debug",
    ];
    create.push(debug_create.to_str().unwrap());
    let log = logs.join("create.log");
    vch_traced(&sim, &client, dir, &log, "create", &create, &mut keys).await;

    // What must stay hidden, read back through the API.
    let vm = find(&client, "VirtualMachine", "VCH001").await.unwrap();
    let m: mo::VirtualMachine = VirtualMachine::new(&client, vm.clone())
        .properties(&["config"])
        .await
        .unwrap();
    let mut extra = std::collections::BTreeMap::new();
    vic_portlayer::backend::apply_extra_config(&mut extra, &m.config.unwrap().extra_config)
        .unwrap();
    let seal_key = extra
        .get("guestinfo.ovfEnv")
        .expect("the sealing key")
        .clone();
    let a = appliance(&client, &vm).await;
    let endpoint_key = a.config.certificate.host_certificate.unwrap().key.unwrap();
    let endpoint_key = String::from_utf8(endpoint_key.expose().to_vec()).unwrap();
    let key_lines: Vec<&str> = endpoint_key
        .lines()
        .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
        .collect();
    assert!(!key_lines.is_empty(), "{endpoint_key}");

    vch_traced(
        &sim,
        &client,
        dir,
        &logs.join("inspect.log"),
        "inspect",
        &["--name", "VCH001"],
        &mut keys,
    )
    .await;
    let debug_delete = dir.join("debug-delete");
    let delete = [
        "--name",
        "VCH001",
        "--debug",
        debug_delete.to_str().unwrap(),
    ];
    vch_traced(
        &sim,
        &client,
        dir,
        &logs.join("delete.log"),
        "delete",
        &delete,
        &mut keys,
    )
    .await;
    assert!(
        keys.iter().any(|k| !own.contains(k)),
        "the programs' sessions were seen: {keys:?}"
    );

    let mut files = Vec::new();
    for d in [&logs, &debug_create, &debug_delete] {
        for e in std::fs::read_dir(d).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    assert!(files.len() > 20, "{files:?}");
    let mut wire_lines = 0;
    for path in &files {
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
        for (n, line) in text.lines().enumerate() {
            let at = || format!("{}:{}: {line}", path.display(), n + 1);
            wire_lines += usize::from(line.contains("vim25::wire"));
            // The password is short ("pass"): compared word by word.
            assert!(
                !line
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|w| w == sim.password()),
                "password in {}",
                at()
            );
            for k in &keys {
                assert!(!line.contains(k.as_str()), "session key in {}", at());
            }
            assert!(
                !line.contains(seal_key.as_str()),
                "guestinfo.ovfEnv in {}",
                at()
            );
            for l in &key_lines {
                assert!(!line.contains(l), "docker endpoint key in {}", at());
            }
        }
    }
    assert!(wire_lines > 0, "the wire log was on (RUST_LOG=trace)");
}
