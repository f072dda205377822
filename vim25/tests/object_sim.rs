//! The `object` wrappers against govmomi's simulator (vcsim, vCenter model, plain
//! HTTP): VM power and waiting, device changes, `extraConfig`, folders and VM
//! creation, resource pools, datastore transfers and files, host networking, virtual
//! disks and events; then offline checks of device building, datastore paths and
//! timestamps.
//!
//! These tests start the simulator themselves; they fail (never skip) when its launcher
//! has not been built (`bash scripts/build-vcsim.sh`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};
use test_support::{Simulator, SimulatorConfig};
use vim25::find::Finder;
use vim25::object::device::{ControllerKind, NicKind, SerialBacking};
use vim25::object::{
    device, parse_date_time, Datacenter, Datastore, DatastorePath, DistributedVirtualPortgroup,
    EventFilter, EventManager, FileManager, Folder, HostSystem, Network, ResourcePool,
    VirtualDiskManager, VirtualMachine,
};
use vim25::types::DateTime;
use vim25::types::{
    AnyEvent, AnyMethodFault, AnyVirtualDevice, AnyVirtualDeviceBackingInfo, EntityEventArgument,
    Event, EventFilterSpecRecursionOption, GeneralEvent, GeneralUserEvent, ManagedObjectReference,
    ParaVirtualSCSIController, VirtualDeviceConfigSpecFileOperation,
    VirtualDeviceURIBackingOptionDirection, VirtualDisk, VirtualIDEController,
    VirtualMachineConfigSpec, VirtualMachineFileInfo, VirtualMachinePowerState,
    VirtualSIOController, VmEventArgument,
};
use vim25::{mo, Client, ClientBuilder, Error};

const WAIT: Duration = Duration::from_secs(30);

fn start() -> Simulator {
    Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false))
}

async fn connect(sim: &Simulator) -> Client {
    ClientBuilder::new(sim.url())
        .unwrap()
        .credentials(sim.username(), sim.password())
        .connect()
        .await
        .unwrap()
}

async fn one(c: &Client, path: &str) -> ManagedObjectReference {
    Finder::new(c)
        .one(path)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn vm0(c: &Client) -> VirtualMachine {
    VirtualMachine::new(c, one(c, "/DC0/vm/DC0_H0_VM0").await)
}

/// The shared datastore. Found by name: vcsim lists it in the datastore folder once
/// per host that mounts it, so its inventory path matches several (equal) entries.
async fn datastore(c: &Client) -> Datastore {
    let found = Finder::new(c)
        .by_name("Datastore", "LocalDS_0")
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    Datastore::new(c, found[0].1.clone())
}

/// The fault a failed call or task carried, by type name.
fn fault_name(r: Result<impl std::fmt::Debug, Error>) -> String {
    let err = r.expect_err("the call should have failed");
    err.fault_name()
        .unwrap_or_else(|| panic!("no typed fault in {err:?}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_cycle() {
    let sim = start();
    let c = connect(&sim).await;
    let vm = vm0(&c).await;
    assert_eq!(vm.name().await.unwrap(), "DC0_H0_VM0");
    assert_eq!(
        vm.power_state().await.unwrap(),
        VirtualMachinePowerState::PoweredOn
    );

    vm.power_off_and_wait().await.unwrap();
    assert_eq!(
        vm.power_state().await.unwrap(),
        VirtualMachinePowerState::PoweredOff
    );
    // Powering off what is off fails with the typed fault of the task.
    let err = vm.power_off_and_wait().await.unwrap_err();
    assert!(matches!(err, Error::TaskFailed { .. }), "{err:?}");
    assert!(
        matches!(err.fault(), Some(AnyMethodFault::InvalidPowerState(_))),
        "{err:?}"
    );

    let task = vm.power_on().await.unwrap();
    assert_eq!(task.reference().type_, "Task");
    let mut seen = Vec::new();
    task.wait_with_progress(|p| seen.push(p)).await.unwrap();
    assert_eq!(seen.last(), Some(&100));
    vm.suspend_and_wait().await.unwrap();
    assert_eq!(
        vm.power_state().await.unwrap(),
        VirtualMachinePowerState::Suspended
    );
    vm.power_on_and_wait().await.unwrap();
    vm.reset_and_wait().await.unwrap();
    assert_eq!(
        vm.power_state().await.unwrap(),
        VirtualMachinePowerState::PoweredOn
    );

    // vcsim turns a guest shutdown into an immediate power-off (no Tools to ask).
    vm.shutdown_guest().await.unwrap();
    vm.wait_for_power_state(VirtualMachinePowerState::PoweredOff, WAIT)
        .await
        .unwrap();
    assert_eq!(
        fault_name(vm.shutdown_guest().await),
        "InvalidPowerState",
        "a powered-off guest cannot shut down"
    );

    let props: mo::VirtualMachine = vm
        .properties(&["name", "runtime.powerState", "summary"])
        .await
        .unwrap();
    assert_eq!(props.name.as_deref(), Some("DC0_H0_VM0"));
    assert!(props.summary.is_some());
    assert_eq!(props.other.len(), 1, "the nested path lands in `other`");
    assert_eq!(props.other[0].name, "runtime.powerState");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_power_state_sees_another_client() {
    let sim = start();
    let watcher = connect(&sim).await;
    let actor = connect(&sim).await;
    let vm = vm0(&watcher).await;

    // Already in the state: returns at once.
    vm.wait_for_power_state(VirtualMachinePowerState::PoweredOn, WAIT)
        .await
        .unwrap();

    let waiting = {
        let vm = vm.clone();
        tokio::spawn(async move {
            vm.wait_for_power_state(VirtualMachinePowerState::PoweredOff, WAIT)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "returned before the change");
    VirtualMachine::new(&actor, vm.reference().clone())
        .power_off_and_wait()
        .await
        .unwrap();
    waiting.await.unwrap().unwrap();

    // A state that never comes: a timeout naming the VM and the state.
    let err = vm
        .wait_for_power_state(
            VirtualMachinePowerState::Suspended,
            Duration::from_millis(500),
        )
        .await
        .unwrap_err();
    match &err {
        Error::Timeout { operation } => {
            assert!(operation.contains("suspended"), "{operation}");
            assert!(operation.contains(&vm.reference().value), "{operation}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_ip_sees_the_guest_report() {
    let sim = start();
    let watcher = connect(&sim).await;
    let actor = connect(&sim).await;
    let vm = vm0(&watcher).await;

    // vcsim has no guest agent, so no VM starts with an address. Its stand-in for
    // Tools reporting one is the `SET.guest.ipAddress` extraConfig key, applied as a
    // change of `guest.ipAddress`.
    let err = vm
        .wait_for_ip(Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");

    let waiting = {
        let vm = vm.clone();
        tokio::spawn(async move { vm.wait_for_ip(WAIT).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    VirtualMachine::new(&actor, vm.reference().clone())
        .set_extra_config(&[("SET.guest.ipAddress", "10.0.0.42")])
        .await
        .unwrap();
    assert_eq!(waiting.await.unwrap().unwrap(), "10.0.0.42");
    let guest: mo::VirtualMachine = vm.properties(&["guest"]).await.unwrap();
    assert_eq!(
        guest.guest.unwrap().ip_address.as_deref(),
        Some("10.0.0.42")
    );
}

fn backing(d: &AnyVirtualDevice) -> &AnyVirtualDeviceBackingInfo {
    d.backing.as_ref().expect("a backing")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfigure_adds_and_removes_devices() {
    let sim = start();
    let c = connect(&sim).await;
    let vm = vm0(&c).await;
    let before = vm.devices().await.unwrap();
    assert!(!before.is_empty());

    // A vmxnet3 NIC on a standard network.
    let net = Network::new(&c, one(&c, "/DC0/network/VM Network").await);
    let nic = vm
        .add_nic(NicKind::Vmxnet3, net.ethernet_card_backing().await.unwrap())
        .await
        .unwrap();
    assert_eq!(nic.type_name(), "VirtualVmxnet3");
    assert!(nic.key > 0, "the server assigns the key");
    let card = device::as_ethernet_card(&nic).unwrap();
    assert!(card.mac_address.as_deref().is_some_and(|m| !m.is_empty()));
    match backing(&nic) {
        AnyVirtualDeviceBackingInfo::VirtualEthernetCardNetworkBackingInfo(b) => {
            assert_eq!(b.device_name, "VM Network");
            assert_eq!(b.network.as_ref(), Some(net.reference()));
        }
        other => panic!("unexpected backing {}", other.type_name()),
    }

    // An e1000 on a distributed port group: the backing names the switch's UUID.
    let dvpg_ref = one(&c, "/DC0/network/DC0_DVPG0").await;
    let dvpg = DistributedVirtualPortgroup::new(&c, dvpg_ref.clone());
    let port = dvpg.port_connection().await.unwrap();
    let dvs: mo::DistributedVirtualSwitch =
        vim25::object::Common::new(&c, one(&c, "/DC0/network/DVS0").await)
            .properties(&["uuid"])
            .await
            .unwrap();
    assert_eq!(Some(&port.switch_uuid), dvs.uuid.as_ref());
    let nic2 = vm.add_nic_on(NicKind::E1000, &dvpg_ref).await.unwrap();
    assert_eq!(nic2.type_name(), "VirtualE1000");
    match backing(&nic2) {
        AnyVirtualDeviceBackingInfo::VirtualEthernetCardDistributedVirtualPortBackingInfo(b) => {
            assert_eq!(b.port.switch_uuid, port.switch_uuid);
            assert_eq!(b.port.portgroup_key, port.portgroup_key);
        }
        other => panic!("unexpected backing {}", other.type_name()),
    }
    let vm_nets: mo::VirtualMachine = vm.properties(&["network"]).await.unwrap();
    assert!(vm_nets.network.unwrap().contains(&dvpg_ref));

    // A 1 MiB disk in the VM's directory, on the free slot of its SCSI controller.
    let disk = vm.add_disk(1024, None).await.unwrap();
    let AnyVirtualDevice::VirtualDisk(d) = &disk else {
        panic!("not a disk: {}", disk.type_name());
    };
    assert_eq!(d.capacity_in_kb, 1024);
    let file = match backing(&disk) {
        AnyVirtualDeviceBackingInfo::VirtualDiskFlatVer2BackingInfo(b) => {
            DatastorePath::parse(&b.file_name).unwrap()
        }
        other => panic!("unexpected backing {}", other.type_name()),
    };
    assert_eq!(file.datastore, "LocalDS_0");
    assert!(file.path.starts_with("DC0_H0_VM0/"), "{file}");
    let scsi = device::find_by_key(&before, d.controller_key.unwrap()).unwrap();
    assert_eq!(
        device::controller_kind(scsi),
        Some(device::ControllerKind::Scsi)
    );
    let ds = datastore(&c).await;
    let mut vmdk = Vec::new();
    ds.download(&file.path, &mut vmdk, |_, _| {})
        .await
        .expect("the disk's file exists");

    // A CD-ROM with an ISO (vcsim does not check that the image exists).
    let iso = DatastorePath::new("LocalDS_0", "isos/boot.iso");
    let cdrom = vm.add_cdrom(&iso).await.unwrap();
    assert_eq!(cdrom.type_name(), "VirtualCdrom");
    match backing(&cdrom) {
        AnyVirtualDeviceBackingInfo::VirtualCdromIsoBackingInfo(b) => {
            assert_eq!(b.file_name, "[LocalDS_0] isos/boot.iso");
        }
        other => panic!("unexpected backing {}", other.type_name()),
    }
    assert!(cdrom.connectable.as_ref().unwrap().start_connected);

    // Serial ports: into a file, and on the network.
    let to_file = vm
        .add_serial_port(&SerialBacking::File(DatastorePath::new(
            "LocalDS_0",
            "DC0_H0_VM0/serial.log",
        )))
        .await
        .unwrap();
    let to_net = vm
        .add_serial_port(&SerialBacking::Uri {
            uri: "telnet://:33001".into(),
            direction: VirtualDeviceURIBackingOptionDirection::Server,
            proxy: None,
        })
        .await
        .unwrap();
    assert_eq!(to_file.type_name(), "VirtualSerialPort");
    match backing(&to_net) {
        AnyVirtualDeviceBackingInfo::VirtualSerialPortURIBackingInfo(b) => {
            assert_eq!(b.service_uri, "telnet://:33001");
            assert_eq!(b.direction, "server");
        }
        other => panic!("unexpected backing {}", other.type_name()),
    }
    // Both on the super I/O controller, on different units.
    assert_eq!(to_file.controller_key, to_net.controller_key);
    assert_ne!(to_file.unit_number, to_net.unit_number);

    // Read back: every added device is there, and only those are new.
    let after = vm.devices().await.unwrap();
    assert_eq!(after.len(), before.len() + 6);
    for added in [&nic, &nic2, &disk, &cdrom, &to_file, &to_net] {
        let found = device::find_by_key(&after, added.key).unwrap();
        assert_eq!(found.type_name(), added.type_name());
    }

    // Removing: the disk with its file, then a NIC.
    vm.remove_device(disk.key, true).await.unwrap();
    vm.remove_device(nic.key, false).await.unwrap();
    let left = vm.devices().await.unwrap();
    assert!(device::find_by_key(&left, disk.key).is_none());
    assert!(device::find_by_key(&left, nic.key).is_none());
    assert_eq!(left.len(), before.len() + 4);
    let gone = ds.download(&file.path, &mut Vec::new(), |_, _| {}).await;
    assert!(matches!(gone, Err(Error::NotFound(_))), "{gone:?}");
    let err = vm.remove_device(disk.key, false).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");

    // A NIC cannot go on something that is not a network.
    let err = vm
        .add_nic_on(NicKind::Vmxnet3, ds.reference())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_config_is_written_read_and_deleted() {
    let sim = start();
    let c = connect(&sim).await;
    let vm = vm0(&c).await;
    let initial = vm.extra_config().await.unwrap();
    // vcsim marks its VMs.
    assert_eq!(initial.get("govcsim").map(String::as_str), Some("TRUE"));

    vm.set_extra_config(&[("guestinfo.role", "web"), ("guestinfo.tier", "1")])
        .await
        .unwrap();
    let set = vm.extra_config().await.unwrap();
    assert_eq!(set.get("guestinfo.role").map(String::as_str), Some("web"));
    assert_eq!(set.get("guestinfo.tier").map(String::as_str), Some("1"));

    // Overwrite one, delete the other. vCenter replaces and removes entries; vcsim
    // only appends them, which `extra_config` reads the same way (later wins, empty
    // means unset).
    vm.set_extra_config(&[("guestinfo.role", "db"), ("guestinfo.tier", "")])
        .await
        .unwrap();
    let now = vm.extra_config().await.unwrap();
    assert_eq!(now.get("guestinfo.role").map(String::as_str), Some("db"));
    assert!(!now.contains_key("guestinfo.tier"), "{now:?}");
    assert_eq!(now.len(), initial.len() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_and_vm_creation() {
    let sim = start();
    let c = connect(&sim).await;
    let dc = Datacenter::new(&c, one(&c, "/DC0").await);
    let folders = dc.folders().await.unwrap();
    assert_eq!(folders.vm.name().await.unwrap(), "vm");
    assert_eq!(folders.host.name().await.unwrap(), "host");
    assert_eq!(folders.datastore.name().await.unwrap(), "datastore");
    assert_eq!(folders.network.name().await.unwrap(), "network");
    assert!(!dc.datastores().await.unwrap().is_empty());
    assert!(!dc.networks().await.unwrap().is_empty());

    let sub = folders.vm.create_folder("rust").await.unwrap();
    assert!(folders
        .vm
        .children()
        .await
        .unwrap()
        .contains(sub.reference()));
    let dup = folders.vm.create_folder("rust").await;
    assert_eq!(fault_name(dup), "DuplicateName");

    let host = HostSystem::new(&c, one(&c, "/DC0/host/DC0_H0/DC0_H0").await);
    let pool = host.resource_pool().await.unwrap();
    assert_eq!(pool.name().await.unwrap(), "Resources");
    let spec = VirtualMachineConfigSpec {
        name: Some("rust-vm".into()),
        guest_id: Some("otherGuest".into()),
        num_cpus: Some(2),
        memory_mb: Some(64),
        files: Some(VirtualMachineFileInfo {
            vm_path_name: Some("[LocalDS_0]".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let vm = sub
        .create_vm_and_wait(&spec, &pool, Some(&host))
        .await
        .unwrap();
    assert_eq!(vm.name().await.unwrap(), "rust-vm");
    let config = vm.config().await.unwrap();
    assert_eq!(config.hardware.num_cpu, 2);
    assert_eq!(config.hardware.memory_mb, 64);
    assert_eq!(
        Finder::new(&c).path_of(vm.reference()).await.unwrap(),
        "/DC0/vm/rust/rust-vm"
    );
    assert_eq!(sub.children().await.unwrap(), vec![vm.reference().clone()]);
    assert_eq!(vm.datacenter().await.unwrap().reference(), dc.reference());
    assert_eq!(
        vm.host().await.unwrap().unwrap().reference(),
        host.reference()
    );
    assert_eq!(
        vm.resource_pool().await.unwrap().unwrap().reference(),
        pool.reference()
    );
    vm.power_on_and_wait().await.unwrap();
    vm.power_off_and_wait().await.unwrap();

    // A spec without a name is refused with a typed fault.
    let bad = VirtualMachineConfigSpec {
        files: spec.files.clone(),
        ..Default::default()
    };
    assert_eq!(
        fault_name(sub.create_vm_and_wait(&bad, &pool, Some(&host)).await),
        "InvalidVmConfig"
    );

    vm.rename_and_wait("rust-vm-2").await.unwrap();
    assert_eq!(vm.name().await.unwrap(), "rust-vm-2");
    vm.destroy_and_wait().await.unwrap();
    assert!(Finder::new(&c)
        .find("/DC0/vm/rust/rust-vm*")
        .await
        .unwrap()
        .is_empty());
    Folder::new(&c, sub.reference().clone())
        .destroy_and_wait()
        .await
        .unwrap();
    assert!(!folders
        .vm
        .children()
        .await
        .unwrap()
        .contains(sub.reference()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_pools_are_created_and_destroyed() {
    let sim = start();
    let c = connect(&sim).await;
    let root = ResourcePool::new(&c, one(&c, "/DC0/host/DC0_C0/Resources").await);
    let child = root.create_child("rust-pool", None).await.unwrap();
    assert_eq!(child.name().await.unwrap(), "rust-pool");
    assert_eq!(
        child.parent().await.unwrap().as_ref(),
        Some(root.reference())
    );
    assert!(root
        .children()
        .await
        .unwrap()
        .iter()
        .any(|p| p.reference() == child.reference()));
    let config: mo::ResourcePool = child.properties(&["config"]).await.unwrap();
    let cpu = config.config.unwrap().cpu_allocation;
    assert_eq!(cpu.limit, Some(-1));
    assert_eq!(cpu.expandable_reservation, Some(true));

    let grandchild = child
        .create_child("nested", Some(&ResourcePool::default_spec()))
        .await
        .unwrap();
    assert_eq!(child.children().await.unwrap().len(), 1);
    assert_eq!(
        fault_name(root.create_child("rust-pool", None).await),
        "DuplicateName"
    );

    grandchild.destroy_and_wait().await.unwrap();
    child.destroy_and_wait().await.unwrap();
    assert!(!root
        .children()
        .await
        .unwrap()
        .iter()
        .any(|p| p.reference() == child.reference()));
    // The root pool cannot be destroyed.
    assert_eq!(fault_name(root.destroy_and_wait().await), "InvalidArgument");
}

/// Bytes that do not repeat with any short period (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datastore_upload_download_and_files() {
    let sim = start();
    let c = connect(&sim).await;
    let ds = datastore(&c).await;
    assert_eq!(ds.path("a/b").await.unwrap().to_string(), "[LocalDS_0] a/b");
    assert!(ds.summary().await.unwrap().capacity > 0);

    let dir = std::env::temp_dir().join(format!("vim25-object-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let local = dir.join("blob.bin");
    let data = noise(3 * 1024 * 1024 + 17);
    std::fs::write(&local, &data).unwrap();

    ds.make_directory("rust-up/nested", true).await.unwrap();
    // Without `create_parents` an existing directory is an error.
    assert!(ds.make_directory("rust-up", false).await.is_err());

    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let sent = ds
        .upload_file(&local, "rust-up/nested/blob bin.dat", move |done, total| {
            record.lock().unwrap().push((done, total));
        })
        .await
        .unwrap();
    assert_eq!(sent, data.len() as u64);
    let calls = seen.lock().unwrap().clone();
    assert!(calls.len() > 1, "progress per chunk: {calls:?}");
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(calls.last(), Some(&(sent, Some(sent))));

    let back = dir.join("back.bin");
    let mut last = (0, None);
    let got = ds
        .download_file("rust-up/nested/blob bin.dat", &back, |done, total| {
            last = (done, total)
        })
        .await
        .unwrap();
    assert_eq!(got, sent);
    assert_eq!(last, (sent, Some(sent)));
    assert!(
        std::fs::read(&back).unwrap() == data,
        "download differs from upload"
    );

    // The same through a writer.
    let mut buf = Vec::new();
    ds.download("rust-up/nested/blob bin.dat", &mut buf, |_, _| {})
        .await
        .unwrap();
    assert!(buf == data);

    // Deleting through the FileManager, recursively.
    ds.delete("rust-up").await.unwrap();
    let err = ds
        .download_file("rust-up/nested/blob bin.dat", &back, |_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    let fm = FileManager::new(&c).unwrap();
    let dc = Datacenter::new(&c, one(&c, "/DC0").await);
    assert_eq!(
        fault_name(
            fm.delete_file_and_wait(&DatastorePath::new("LocalDS_0", "rust-up"), Some(&dc))
                .await
        ),
        "FileNotFound"
    );

    // A missing local file is reported as such.
    let err = ds
        .upload_file(&dir.join("nope"), "x", |_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A reader that fails after `left` bytes, as a local disk giving out mid-upload.
struct FailingReader {
    left: usize,
}

impl tokio::io::AsyncRead for FailingReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.left == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("disk gave out")));
        }
        let n = self.left.min(buf.remaining());
        buf.put_slice(&vec![7; n]);
        self.left -= n;
        std::task::Poll::Ready(Ok(()))
    }
}

/// A writer that refuses every byte, as a full local disk.
struct FailingWriter;

impl tokio::io::AsyncWrite for FailingWriter {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Err(std::io::Error::other("disk full")))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datastore_transfers_report_local_failures_as_io() {
    let sim = start();
    let c = connect(&sim).await;
    let ds = datastore(&c).await;
    let io = |r: Result<u64, Error>, context: &str, cause: &str| match r {
        Err(Error::Io { context: c, source }) => {
            assert!(c.contains(context), "{c}");
            assert_eq!(source.to_string(), cause);
        }
        other => panic!("expected Io ({context}), got {other:?}"),
    };

    // A reader failing mid-upload is local I/O, not a network error.
    io(
        ds.upload(
            FailingReader { left: 1000 },
            4096,
            "rust-io/x.bin",
            |_, _| {},
        )
        .await,
        "cannot read the data to upload",
        "disk gave out",
    );
    ds.upload(FailingReader { left: 64 }, 64, "rust-io/x.bin", |_, _| {})
        .await
        .unwrap();
    io(
        ds.download("rust-io/x.bin", &mut FailingWriter, |_, _| {})
            .await,
        "cannot write to the writer",
        "disk full",
    );
    // A local file that cannot be created names its path.
    let dir = std::env::temp_dir().join(format!("vim25-object-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = ds
        .download_file("rust-io/x.bin", &dir, |_, _| {})
        .await
        .unwrap_err();
    match &err {
        Error::Io { context, .. } => {
            assert!(context.contains(&dir.display().to_string()), "{err}")
        }
        other => panic!("expected Io, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
    ds.delete("rust-io").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_port_groups_and_switches() {
    let sim = start();
    let c = connect(&sim).await;
    let host = HostSystem::new(&c, one(&c, "/DC0/host/DC0_H0/DC0_H0").await);
    let ns = host.network_system().await.unwrap();
    let info = ns.network_info().await.unwrap();
    assert!(info.vswitch.iter().any(|s| s.name == "vSwitch0"));

    ns.add_virtual_switch("vSwitchRust", None).await.unwrap();
    assert_eq!(
        fault_name(ns.add_virtual_switch("vSwitchRust", None).await),
        "AlreadyExists"
    );
    ns.add_port_group("pg-rust", "vSwitchRust", 42)
        .await
        .unwrap();
    let info = ns.network_info().await.unwrap();
    let pg = info
        .portgroup
        .iter()
        .find(|p| p.spec.name == "pg-rust")
        .expect("the new port group");
    assert_eq!(pg.spec.vlan_id, 42);
    assert_eq!(pg.spec.vswitch_name, "vSwitchRust");
    // The port group shows in the inventory as a network a NIC can use.
    let net = Network::new(&c, one(&c, "/DC0/network/pg-rust").await);
    match net.ethernet_card_backing().await.unwrap() {
        AnyVirtualDeviceBackingInfo::VirtualEthernetCardNetworkBackingInfo(b) => {
            assert_eq!(b.device_name, "pg-rust")
        }
        other => panic!("unexpected backing {}", other.type_name()),
    }
    assert_eq!(
        fault_name(ns.add_port_group("pg-rust", "no-such-switch", 0).await),
        "NotFound"
    );

    ns.remove_port_group("pg-rust").await.unwrap();
    ns.remove_virtual_switch("vSwitchRust").await.unwrap();
    let info = ns.network_info().await.unwrap();
    assert!(!info.portgroup.iter().any(|p| p.spec.name == "pg-rust"));
    assert!(!info.vswitch.iter().any(|s| s.name == "vSwitchRust"));
    assert!(Finder::new(&c)
        .find("/DC0/network/pg-rust")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        fault_name(ns.remove_port_group("pg-rust").await),
        "NotFound"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_disks_are_created_and_deleted() {
    let sim = start();
    let c = connect(&sim).await;
    let dc = Datacenter::new(&c, one(&c, "/DC0").await);
    let ds = datastore(&c).await;
    ds.make_directory("disks", false).await.unwrap();
    let vdm = VirtualDiskManager::new(&c).unwrap();
    let path = DatastorePath::new("LocalDS_0", "disks/rust.vmdk");
    let spec = VirtualDiskManager::thin_spec(2048);
    let made = vdm
        .create_virtual_disk_and_wait(&path, Some(&dc), &spec)
        .await
        .unwrap();
    assert_eq!(made, path);
    // vcsim writes an empty descriptor and extent; a real host would size them.
    ds.download("disks/rust.vmdk", &mut Vec::new(), |_, _| {})
        .await
        .unwrap();
    ds.download("disks/rust-flat.vmdk", &mut Vec::new(), |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        fault_name(
            vdm.create_virtual_disk_and_wait(&path, Some(&dc), &spec)
                .await
        ),
        "FileAlreadyExists"
    );
    vdm.delete_virtual_disk_and_wait(&path, Some(&dc))
        .await
        .unwrap();
    let err = ds
        .download("disks/rust.vmdk", &mut Vec::new(), |_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

fn user_event(vm: &ManagedObjectReference, name: &str, message: &str) -> AnyEvent {
    GeneralUserEvent {
        base_: GeneralEvent {
            base_: Event {
                vm: Some(VmEventArgument {
                    base_: EntityEventArgument {
                        name: name.to_string(),
                        ..Default::default()
                    },
                    vm: vm.clone(),
                }),
                full_formatted_message: Some(message.to_string()),
                ..Default::default()
            },
            message: message.to_string(),
        },
        entity: None,
    }
    .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_query_and_history_paging() {
    let sim = start();
    let c = connect(&sim).await;
    let vm = vm0(&c).await;
    let events = EventManager::new(&c).unwrap();

    vm.power_off_and_wait().await.unwrap();
    let for_vm = EventFilter::new()
        .entity(vm.reference(), EventFilterSpecRecursionOption::Self_)
        .max_count(100);
    let got = events.query(&for_vm).await.unwrap();
    assert!(
        got.iter().any(|e| e.type_name() == "VmPoweredOffEvent"),
        "{:?}",
        got.iter().map(|e| e.type_name()).collect::<Vec<_>>()
    );
    assert!(got
        .iter()
        .all(|e| e.vm.as_ref().map(|a| &a.vm) == Some(vm.reference())));
    // vcsim never fills `latestEvent`; vCenter would show the power-off here.
    let latest = events.latest_event().await.unwrap();
    assert!(latest.is_none_or(|e| e.type_name() == "VmPoweredOffEvent"));

    // Type filter.
    let only_on = events
        .query(&for_vm.clone().event_types(&["VmPoweredOnEvent"]))
        .await
        .unwrap();
    assert!(only_on.iter().all(|e| e.type_name() == "VmPoweredOnEvent"));

    // Time window: vcsim ignores it server-side; `query` applies it too.
    let now = vim25::methods::current_time(&c, &c.service_instance())
        .await
        .unwrap();
    let later = vim25::types::DateTime("2999-01-01T00:00:00Z".into());
    assert!(events
        .query(&for_vm.clone().since(later))
        .await
        .unwrap()
        .is_empty());
    let before_now = events
        .query(&for_vm.clone().until(now.clone()))
        .await
        .unwrap();
    assert!(!before_now.is_empty());

    // Posted events, then paging through a collector of the VM's user events.
    for i in 0..7 {
        events
            .post_event(&user_event(
                vm.reference(),
                "DC0_H0_VM0",
                &format!("note {i}"),
            ))
            .await
            .unwrap();
    }
    let notes = EventFilter::new()
        .entity(vm.reference(), EventFilterSpecRecursionOption::All)
        .event_types(&["GeneralUserEvent"])
        .max_count(5);
    let mut history = events.create_collector(&notes).await.unwrap();
    let page = history.latest_page().await.unwrap();
    assert_eq!(page.len(), 5);
    assert!(page.iter().all(|e| e.type_name() == "GeneralUserEvent"
        && e.full_formatted_message
            .as_deref()
            .is_some_and(|m| m.starts_with("note "))));

    // vcsim scrolls within the latest page only; vCenter scrolls the whole history.
    let sizes = [
        history.read_next(2).await.unwrap().len(),
        history.read_next(2).await.unwrap().len(),
        history.read_next(2).await.unwrap().len(),
        history.read_next(2).await.unwrap().len(),
    ];
    assert_eq!(sizes, [2, 2, 1, 0]);
    assert_eq!(history.read_previous(3).await.unwrap().len(), 3);
    history.rewind().await.unwrap();
    assert!(history.read_previous(3).await.unwrap().is_empty());
    let all: Vec<i32> = history
        .read_next(10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.key)
        .collect();
    let mut page_keys: Vec<i32> = page.iter().map(|e| e.key).collect();
    let mut sorted = all.clone();
    sorted.sort_unstable();
    page_keys.sort_unstable();
    assert_eq!(sorted, page_keys);
    // A larger page takes in the older notes. (Shrinking is not checked: vcsim keeps
    // the wrong part of its ring.)
    history.set_page_size(7).await.unwrap();
    assert_eq!(history.latest_page().await.unwrap().len(), 7);
    let reference = history.reference().clone();
    history.destroy().await.unwrap();
    // A destroyed collector is gone.
    let err = vim25::methods::read_next_events(&c, &reference, 1)
        .await
        .unwrap_err();
    assert_eq!(err.fault_name(), Some("ManagedObjectNotFound"), "{err}");
}

// Offline checks of the pieces that need no server: device building and slots,
// datastore paths, timestamps and event time windows.

fn keyed(d: impl Into<AnyVirtualDevice>, key: i32) -> AnyVirtualDevice {
    let mut d = d.into();
    d.key = key;
    d
}

fn disk_at(controller: i32, unit: i32) -> AnyVirtualDevice {
    let mut d: AnyVirtualDevice = VirtualDisk::default().into();
    d.controller_key = Some(controller);
    d.unit_number = Some(unit);
    d
}

#[test]
fn scsi_slots_skip_the_controller_unit() {
    let mut devices = vec![keyed(ParaVirtualSCSIController::default(), 1000)];
    devices.extend((0..7).map(|u| disk_at(1000, u)));
    assert_eq!(device::free_unit(&devices, 1000), Some(8));
    devices.extend((8..16).map(|u| disk_at(1000, u)));
    assert_eq!(device::free_unit(&devices, 1000), None);
    assert_eq!(device::free_slot(&devices, &[ControllerKind::Scsi]), None);
    assert_eq!(
        device::free_unit(&devices, 4242),
        None,
        "no such controller"
    );
}

#[test]
fn slots_try_controller_kinds_in_order() {
    let devices = vec![
        keyed(VirtualIDEController::default(), 201),
        keyed(VirtualIDEController::default(), 200),
        disk_at(200, 0),
        keyed(VirtualSIOController::default(), 400),
    ];
    assert_eq!(
        device::free_slot(&devices, &[ControllerKind::Scsi, ControllerKind::Ide]),
        Some((200, 1)),
        "lowest controller key first"
    );
    assert_eq!(
        device::free_slot(&devices, &[ControllerKind::Sata, ControllerKind::Sio]),
        Some((400, 0))
    );
}

#[test]
fn built_devices_have_what_the_server_needs() {
    let nic = device::new_nic(NicKind::E1000, Default::default());
    assert_eq!(nic.type_name(), "VirtualE1000");
    let card = device::as_ethernet_card(&nic).unwrap();
    assert_eq!(card.address_type.as_deref(), Some("generated"));
    assert!(card.key < 0, "a temporary key");
    assert!(card.connectable.as_ref().unwrap().start_connected);

    let disk = device::new_disk(2048, &DatastorePath::new("ds1", ""), (1000, 1));
    match &disk {
        AnyVirtualDevice::VirtualDisk(d) => {
            assert_eq!(d.capacity_in_bytes, Some(2048 * 1024));
            assert_eq!((d.controller_key, d.unit_number), (Some(1000), Some(1)));
        }
        other => panic!("{}", other.type_name()),
    }
    let add = device::add_spec(disk.clone(), true);
    assert_eq!(
        add.file_operation,
        Some(VirtualDeviceConfigSpecFileOperation::Create)
    );
    let remove = device::remove_spec(disk, false);
    assert_eq!(remove.file_operation, None);

    let serial = device::new_serial_port(
        &SerialBacking::Uri {
            uri: "telnet://:33001".into(),
            direction: VirtualDeviceURIBackingOptionDirection::Server,
            proxy: None,
        },
        None,
    );
    assert!(matches!(
        serial.backing,
        Some(AnyVirtualDeviceBackingInfo::VirtualSerialPortURIBackingInfo(_))
    ));
    assert_eq!("E1000E".parse::<NicKind>().unwrap(), NicKind::E1000e);
    assert_eq!(NicKind::Vmxnet3.to_string(), "vmxnet3");
    assert!(matches!(
        "rtl8139".parse::<NicKind>(),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn datastore_paths() {
    let p = DatastorePath::parse("[LocalDS_0] dir/file.vmdk").unwrap();
    assert_eq!(p, DatastorePath::new("LocalDS_0", "dir/file.vmdk"));
    assert_eq!(p.to_string(), "[LocalDS_0] dir/file.vmdk");
    let root = DatastorePath::parse("[ds 1]").unwrap();
    assert_eq!(root.datastore, "ds 1");
    assert_eq!(root.to_string(), "[ds 1]");
    assert_eq!(DatastorePath::new("d", "/x").path, "x");
    assert!(DatastorePath::parse("no brackets").is_none());
    assert!(DatastorePath::parse("[] x").is_none());
    assert!("[unclosed x".parse::<DatastorePath>().is_err());
}

fn unix(s: &str) -> Option<(u64, u32)> {
    parse_date_time(s).map(|t| {
        let d = t.duration_since(UNIX_EPOCH).unwrap();
        (d.as_secs(), d.subsec_nanos())
    })
}

#[test]
fn date_times() {
    assert_eq!(unix("1970-01-01T00:00:00Z"), Some((0, 0)));
    assert_eq!(unix("2000-03-01T00:00:00Z"), Some((951_868_800, 0)));
    assert_eq!(
        unix("2024-02-29T12:30:15.25Z"),
        Some((1_709_209_815, 250_000_000))
    );
    assert_eq!(
        unix("2024-02-29T13:30:15+01:00"),
        unix("2024-02-29T12:30:15Z")
    );
    assert_eq!(unix("2024-02-29T12:30:15"), unix("2024-02-29T12:30:15Z"));
    // Beyond nanoseconds the digits are dropped.
    assert_eq!(
        unix("2024-01-01T00:00:00.1234567891Z").unwrap().1,
        123_456_789
    );
    let before = parse_date_time("1969-12-31T23:59:59.5Z").unwrap();
    assert_eq!(
        UNIX_EPOCH.duration_since(before).unwrap(),
        Duration::from_millis(500)
    );
    for bad in [
        "",
        "2024-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:00:00.Z",
        "2024-01-01T00:00:00+0100",
        "2024-01-01T00:00:00 UTC",
        "2024-1-01T00:00:00Z",
    ] {
        assert!(parse_date_time(bad).is_none(), "{bad}");
    }
}

#[test]
fn event_time_window_applies_both_bounds() {
    let event = |t: &str| -> AnyEvent {
        let mut e: AnyEvent = GeneralUserEvent::default().into();
        e.created_time = DateTime(t.into());
        e
    };
    let f = EventFilter::new()
        .since(DateTime("2024-01-01T00:00:00Z".into()))
        .until(DateTime("2024-01-02T00:00:00+00:00".into()));
    assert!(f.in_time_window(&event("2024-01-01T12:00:00Z")));
    assert!(!f.in_time_window(&event("2023-12-31T23:59:59Z")));
    assert!(!f.in_time_window(&event("2024-01-02T00:00:01Z")));
    assert!(f.in_time_window(&event("not a time")));
    assert!(EventFilter::new().in_time_window(&event("2000-01-01T00:00:00Z")));
}
