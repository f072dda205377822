//! The vSphere backend against govmomi's simulator: every `Backend` method, the
//! extraConfig fold, listing in one retrieval, watches (and that none leaks a
//! collector), files, disks (children through the appliance), events page by page,
//! port groups, and discovery on both simulator models.
use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{bounded, Fixture};
use test_support::{Simulator, SimulatorConfig};
use vic_portlayer::backend::{Backend, PowerState, VmDetail, VmRecord};
use vic_portlayer::vsphere::{Placement, VsphereBackend};
use vic_portlayer::Error;
use vim25::object::DatastorePath;
use vim25::types::{
    AnyOptionValue, AnyValue, AnyVirtualDevice, AnyVirtualDeviceBackingInfo,
    ManagedObjectReference, OptionValue, VirtualMachineConfigSpec, VirtualMachineFileInfo,
};

/// The SOAP operations a client sent, in order.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
    fn count(calls: &[String], op: &str) -> usize {
        calls.iter().filter(|c| *c == op).count()
    }
}

/// A client of `sim` that records its calls.
async fn counting_client(sim: &Simulator) -> (vim25::Client, Calls) {
    let calls = Calls::default();
    let sink = calls.clone();
    let client = vim25::ClientBuilder::new(sim.url())
        .unwrap()
        .credentials(sim.username(), sim.password())
        .wire_log(move |r| sink.0.lock().unwrap().push(r.operation.to_string()))
        .connect()
        .await
        .unwrap();
    (client, calls)
}

/// A second backend on the fixture's simulator (same placement, appliance
/// included), whose calls are recorded.
async fn counted(fx: &Fixture) -> (VsphereBackend, Calls) {
    let sim = fx.sim.as_ref().expect("a vSphere fixture");
    let (client, calls) = counting_client(sim).await;
    let placement = Placement::discover(&client, "VCH001", None).await.unwrap();
    assert!(
        placement.appliance.is_some(),
        "the fixture's appliance is found"
    );
    calls.take();
    (VsphereBackend::new(client, placement), calls)
}

fn option(key: &str, value: &str) -> AnyOptionValue {
    OptionValue {
        key: key.into(),
        value: Some(AnyValue::String(value.into())),
        ..Default::default()
    }
    .into()
}

/// A small VM `name` with `extra` in its extraConfig.
fn vm_spec(name: &str, datastore: &str, extra: &[(&str, &str)]) -> VirtualMachineConfigSpec {
    VirtualMachineConfigSpec {
        name: Some(name.into()),
        guest_id: Some("otherGuest".into()),
        num_cpus: Some(1),
        memory_mb: Some(32),
        files: Some(VirtualMachineFileInfo {
            vm_path_name: Some(format!("[{datastore}] {name}/{name}.vmx")),
            ..Default::default()
        }),
        extra_config: extra.iter().map(|(k, v)| option(k, v)).collect(),
        ..Default::default()
    }
}

fn datastore(fx: &Fixture) -> String {
    fx.backend.vch_folder().datastore
}

async fn create(fx: &Fixture, name: &str, extra: &[(&str, &str)]) -> ManagedObjectReference {
    fx.backend
        .create_vm(&vm_spec(name, &datastore(fx), extra))
        .await
        .unwrap()
}

async fn vsphere() -> Fixture {
    bounded("the vSphere fixture", common::vsphere()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_folder() {
    let fx = vsphere().await;
    bounded("describe", async {
        let d = fx.backend.describe();
        assert!(d.starts_with("vsphere http://127.0.0.1:"), "{d}");
        let sim = fx.sim.as_ref().unwrap();
        assert!(!d.contains(sim.password()), "no password in {d}");
        assert_eq!(fx.backend.vch_folder().path, "VCH001");
        assert!(fx.backend.exists(&fx.backend.vch_folder()).await.unwrap());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_on_esx() {
    let fx = vsphere().await;
    bounded("discover on ESX", async {
        let client = fx.client.as_ref().unwrap();
        let p = Placement::discover(client, "VCH001", None).await.unwrap();
        // A standalone host's VM folder takes no sub-folders: it is used itself.
        assert_eq!(p.folder.value, "ha-folder-vm");
        assert_eq!(p.datacenter.type_, "Datacenter");
        assert_eq!(p.pool.type_, "ResourcePool");
        assert_eq!(
            p.host.as_ref().map(|h| h.type_.as_str()),
            Some("HostSystem")
        );
        assert_eq!(p.vch_dir, "VCH001");
        let appliance = fx
            .backend
            .vm_by_name("VCH001", VmDetail::Summary)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.appliance.as_ref(), Some(&appliance.reference));
        let named = Placement::discover(client, "VCH001", Some(&p.datastore))
            .await
            .unwrap();
        assert_eq!(named, p);
        let err = Placement::discover(client, "VCH001", Some("no-such-ds"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotFound {
                    kind: "datastore",
                    ..
                }
            ),
            "{err}"
        );
        for bad in ["", "a/b", "[x]"] {
            let err = Placement::discover(client, bad, None).await.unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{bad:?}: {err}");
        }
        // Another VCH on the same host has no appliance yet.
        let other = Placement::discover(client, "VCH002", None).await.unwrap();
        assert_eq!(other.appliance, None);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_on_vcenter_creates_the_folder() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    bounded("discover on vCenter", async {
        let client = vim25::ClientBuilder::new(sim.url())
            .unwrap()
            .credentials(sim.username(), sim.password())
            .connect()
            .await
            .unwrap();
        let p = Placement::discover(&client, "VCH001", None).await.unwrap();
        assert_eq!(p.folder.type_, "Folder");
        let finder = vim25::find::Finder::new(&client);
        assert_eq!(finder.path_of(&p.folder).await.unwrap(), "/DC0/vm/VCH001");
        // The first cluster's root pool; DRS picks hosts there.
        assert_eq!(
            finder.path_of(&p.pool).await.unwrap(),
            "/DC0/host/DC0_C0/Resources"
        );
        assert_eq!(p.host, None);
        assert_eq!(p.appliance, None);
        // Found, not created again.
        let again = Placement::discover(&client, "VCH001", None).await.unwrap();
        assert_eq!(again.folder, p.folder);

        // The folder scopes the VCH: the inventory's other VMs are not listed.
        let backend = VsphereBackend::new(client.clone(), p.clone());
        assert!(backend
            .list_vms(VmDetail::Summary)
            .await
            .unwrap()
            .is_empty());
        let vm = backend
            .create_vm(&vm_spec("c1", &p.datastore, &[]))
            .await
            .unwrap();
        let listed = backend.list_vms(VmDetail::Summary).await.unwrap();
        assert_eq!(
            listed.iter().map(|r| &r.reference).collect::<Vec<_>>(),
            vec![&vm]
        );

        // Distributed port groups attach NICs too.
        let groups = backend.port_groups().await.unwrap();
        assert!(groups.contains(&"DC0_DVPG0".to_string()), "{groups:?}");
        assert!(groups.contains(&"VM Network".to_string()), "{groups:?}");
        match backend.network_backing("DC0_DVPG0").await.unwrap() {
            AnyVirtualDeviceBackingInfo::VirtualEthernetCardDistributedVirtualPortBackingInfo(
                b,
            ) => {
                assert!(b.port.portgroup_key.is_some());
                assert!(!b.port.switch_uuid.is_empty());
            }
            other => panic!(
                "expected a distributed port backing, got {}",
                other.type_name()
            ),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_lifecycle() {
    let fx = vsphere().await;
    bounded("VM lifecycle", async {
        let b = &fx.backend;
        let vm = create(&fx, "life", &[("guestinfo.a", "1")]).await;
        let err = b
            .create_vm(&vm_spec("life", &datastore(&fx), &[]))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Exists { kind: "VM", .. }), "{err}");

        let r = b.vm(&vm, VmDetail::Summary).await.unwrap();
        assert_eq!(r.name, "life");
        assert_eq!(r.power_state, PowerState::PoweredOff);
        // The simulator keeps no changeVersion.
        assert_eq!(r.change_version, None);
        assert_eq!(
            r.extra_config.get("guestinfo.a").map(String::as_str),
            Some("1")
        );
        let vmx = r.vmx_path.clone().unwrap();
        assert_eq!(vmx.path, "life/life.vmx");
        assert!(r.devices.is_empty(), "no devices in a summary");
        let full = b.vm(&vm, VmDetail::Full).await.unwrap();
        assert!(!full.devices.is_empty(), "devices in a full read");
        assert_eq!(
            b.vm_by_name("life", VmDetail::Summary)
                .await
                .unwrap()
                .map(|r| r.reference),
            Some(vm.clone())
        );
        assert!(b
            .vm_by_name("nobody", VmDetail::Summary)
            .await
            .unwrap()
            .is_none());

        b.power_on(&vm).await.unwrap();
        assert_eq!(
            b.vm(&vm, VmDetail::Summary).await.unwrap().power_state,
            PowerState::PoweredOn
        );
        let err = b.power_on(&vm).await.unwrap_err();
        assert!(err.is_conflict(), "{err}");
        let err = b.destroy_vm(&vm).await.unwrap_err();
        assert!(err.is_conflict(), "destroying a running VM: {err}");
        b.shutdown_guest(&vm).await.unwrap();
        let off = |r: &VmRecord| r.power_state == PowerState::PoweredOff;
        b.wait_vm(&vm, Duration::from_secs(10), &off).await.unwrap();
        let err = b.shutdown_guest(&vm).await.unwrap_err();
        assert!(err.is_conflict(), "{err}");
        let err = b.power_off(&vm).await.unwrap_err();
        assert!(err.is_conflict(), "{err}");
        b.power_on(&vm).await.unwrap();
        b.power_off(&vm).await.unwrap();

        b.destroy_vm(&vm).await.unwrap();
        let err = b.vm(&vm, VmDetail::Summary).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { kind: "VM", .. }), "{err}");
        assert!(b
            .vm_by_name("life", VmDetail::Summary)
            .await
            .unwrap()
            .is_none());
        let err = b.power_on(&vm).await.unwrap_err();
        assert!(err.is_not_found(), "{err}");
        let err = b
            .reconfigure_vm(&vm, &VirtualMachineConfigSpec::default())
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{err}");
        let err = b.destroy_vm(&vm).await.unwrap_err();
        assert!(err.is_not_found(), "{err}");
        // Its folder went with it.
        assert!(!b.exists(&vmx).await.unwrap());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_config_fold() {
    let fx = vsphere().await;
    bounded("extraConfig fold", async {
        let b = &fx.backend;
        let vm = create(&fx, "fold", &[("k.a", "1"), ("k.b", "2"), ("k.c", "3")]).await;
        let edit = |entries: &[(&str, &str)]| VirtualMachineConfigSpec {
            extra_config: entries.iter().map(|(k, v)| option(k, v)).collect(),
            ..Default::default()
        };
        // Written twice: the simulator appends each time; the last one wins.
        b.reconfigure_vm(&vm, &edit(&[("k.a", "10")]))
            .await
            .unwrap();
        b.reconfigure_vm(&vm, &edit(&[("k.a", "11")]))
            .await
            .unwrap();
        // Deleted with an empty value; `<nil>` reads back as the empty string.
        b.reconfigure_vm(&vm, &edit(&[("k.b", ""), ("k.c", vic_config::NIL)]))
            .await
            .unwrap();
        let r = b.vm(&vm, VmDetail::Summary).await.unwrap();
        assert_eq!(r.extra_config.get("k.a").map(String::as_str), Some("11"));
        assert!(!r.extra_config.contains_key("k.b"), "{:?}", r.extra_config);
        assert_eq!(r.extra_config.get("k.c").map(String::as_str), Some(""));
        // The same through a listing and a watch.
        let listed = b.list_vms(VmDetail::Summary).await.unwrap();
        let l = listed.iter().find(|l| l.reference == vm).unwrap();
        assert_eq!(l.extra_config, r.extra_config);
        let watched = b
            .wait_vm(&vm, Duration::from_secs(5), &|_: &VmRecord| true)
            .await
            .unwrap();
        assert_eq!(watched.extra_config, r.extra_config);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_is_one_retrieval() {
    let fx = vsphere().await;
    let (b, calls) = bounded("a counted backend", counted(&fx)).await;
    bounded("list", async {
        let mut made = Vec::new();
        for i in 0..25 {
            made.push(
                create(
                    &fx,
                    &format!("many-{i:02}"),
                    &[("guestinfo.n", &i.to_string())],
                )
                .await,
            );
        }
        calls.take();
        let listed = b.list_vms(VmDetail::Summary).await.unwrap();
        let ops = calls.take();
        assert_eq!(
            ops,
            ["CreateContainerView", "RetrievePropertiesEx", "DestroyView"],
            "one retrieval, no call per VM"
        );
        let mine: Vec<&VmRecord> = listed
            .iter()
            .filter(|r| r.name.starts_with("many-"))
            .collect();
        assert_eq!(mine.len(), 25);
        for (i, r) in mine.iter().enumerate() {
            assert_eq!(r.name, format!("many-{i:02}"), "sorted by name");
            assert_eq!(r.reference, made[i]);
            assert_eq!(r.extra_config.get("guestinfo.n"), Some(&i.to_string()));
            assert!(r.devices.is_empty());
        }
        assert!(
            listed.iter().any(|r| r.name == "VCH001"),
            "the appliance is in the folder"
        );

        let full = b.list_vms(VmDetail::Full).await.unwrap();
        assert_eq!(Calls::count(&calls.take(), "RetrievePropertiesEx"), 1);
        assert!(full.iter().all(|r| !r.devices.is_empty()));

        // One VM, by reference or by name: one read each.
        b.vm(&made[3], VmDetail::Summary).await.unwrap();
        assert_eq!(calls.take(), ["RetrievePropertiesEx"]);
        b.vm_by_name("many-04", VmDetail::Full)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(calls.take(), ["FindChild", "RetrievePropertiesEx"]);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_vm_outcomes_and_no_leak() {
    let fx = vsphere().await;
    let (b, calls) = bounded("a counted backend", counted(&fx)).await;
    let b = Arc::new(b);
    bounded("waits", async {
        let vm = create(&fx, "waited", &[]).await;
        let on = |r: &VmRecord| r.power_state == PowerState::PoweredOn;

        // Runs out.
        let started = std::time::Instant::now();
        let err = b
            .wait_vm(&vm, Duration::from_millis(700), &on)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(700));

        // Satisfied by a change made meanwhile.
        let other = b.clone();
        let target = vm.clone();
        let power = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            other.power_on(&target).await
        });
        let r = b.wait_vm(&vm, Duration::from_secs(20), &on).await.unwrap();
        assert_eq!(r.power_state, PowerState::PoweredOn);
        assert_eq!(r.name, "waited");
        power.await.unwrap().unwrap();

        // Satisfied at once by the current state.
        b.wait_vm(&vm, Duration::from_secs(5), &on).await.unwrap();

        // Ends when the VM goes away.
        b.power_off(&vm).await.unwrap();
        let other = b.clone();
        let target = vm.clone();
        let destroy = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            other.destroy_vm(&target).await
        });
        let err = b
            .wait_vm(&vm, Duration::from_secs(20), &on)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { kind: "VM", .. }), "{err}");
        destroy.await.unwrap().unwrap();

        // A VM that is not there at all.
        let err = b
            .wait_vm(&vm, Duration::from_secs(5), &on)
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{err}");

        // Every collector made (by the waits and by task waits) was destroyed.
        let ops = calls.take();
        let made = Calls::count(&ops, "CreatePropertyCollector");
        assert!(made >= 4, "{ops:?}");
        assert_eq!(
            made,
            Calls::count(&ops, "DestroyPropertyCollector"),
            "{ops:?}"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files() {
    let fx = vsphere().await;
    bounded("files", async {
        let b = &fx.backend;
        let ds = datastore(&fx);
        let p = |path: &str| DatastorePath::new(ds.clone(), path);
        b.make_dir(&p("VCH001/a/b/c")).await.unwrap();
        b.make_dir(&p("VCH001/a/b/c")).await.unwrap();
        assert!(b.exists(&p("VCH001/a/b")).await.unwrap());
        assert!(b.exists(&p("VCH001/a/b/c")).await.unwrap());

        let body = b"hello, datastore".to_vec();
        let len = body.len() as u64;
        b.upload(
            &p("VCH001/a/f1.txt"),
            Box::new(std::io::Cursor::new(body.clone())),
            len,
        )
        .await
        .unwrap();
        b.upload(
            &p("VCH001/a/f0.txt"),
            Box::new(std::io::Cursor::new(b"x".to_vec())),
            1,
        )
        .await
        .unwrap();
        assert_eq!(b.download(&p("VCH001/a/f1.txt")).await.unwrap(), body);
        // Replaced by a second upload.
        b.upload(
            &p("VCH001/a/f0.txt"),
            Box::new(std::io::Cursor::new(b"yz".to_vec())),
            2,
        )
        .await
        .unwrap();
        assert_eq!(b.download(&p("VCH001/a/f0.txt")).await.unwrap(), b"yz");
        assert!(b.exists(&p("VCH001/a/f1.txt")).await.unwrap());
        assert!(!b.exists(&p("VCH001/a/f2.txt")).await.unwrap());
        assert!(!b.exists(&p("VCH001/nowhere/f.txt")).await.unwrap());
        assert!(b.exists(&p("")).await.unwrap(), "the datastore itself");
        assert!(!b
            .exists(&DatastorePath::new("no-such-ds", "x"))
            .await
            .unwrap());

        assert_eq!(
            b.list_dir(&p("VCH001/a")).await.unwrap(),
            ["b", "f0.txt", "f1.txt"]
        );
        assert_eq!(
            b.list_dir(&p("VCH001/a/b/c")).await.unwrap(),
            Vec::<String>::new()
        );
        let err = b.list_dir(&p("VCH001/nowhere")).await.unwrap_err();
        assert!(err.is_not_found(), "{err}");

        b.delete_file(&p("VCH001/a/f1.txt")).await.unwrap();
        assert!(!b.exists(&p("VCH001/a/f1.txt")).await.unwrap());
        let err = b.download(&p("VCH001/a/f1.txt")).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { kind: "file", .. }), "{err}");
        let err = b.delete_file(&p("VCH001/a/f1.txt")).await.unwrap_err();
        assert!(err.is_not_found(), "{err}");
        // A directory goes with its contents.
        b.delete_file(&p("VCH001/a")).await.unwrap();
        assert!(!b.exists(&p("VCH001/a")).await.unwrap());
        assert!(!b.exists(&p("VCH001/a/b/c")).await.unwrap());
    })
    .await
}

/// How many disks `vm` has.
async fn disk_count(b: &dyn Backend, vm: &ManagedObjectReference) -> usize {
    b.vm(vm, VmDetail::Full)
        .await
        .unwrap()
        .devices
        .iter()
        .filter(|d| matches!(d, AnyVirtualDevice::VirtualDisk(_)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disks_and_child_disks() {
    let fx = vsphere().await;
    bounded("disks", async {
        let b = &fx.backend;
        let ds = datastore(&fx);
        let p = |path: &str| DatastorePath::new(ds.clone(), path);
        let appliance = b
            .vm_by_name("VCH001", VmDetail::Summary)
            .await
            .unwrap()
            .unwrap()
            .reference;
        let disks_before = disk_count(b.as_ref(), &appliance).await;
        b.make_dir(&p("VCH001/disks")).await.unwrap();

        let base = p("VCH001/disks/base.vmdk");
        b.create_disk(&base, 1024, None).await.unwrap();
        assert!(b.exists(&base).await.unwrap());
        let err = b.create_disk(&base, 1024, None).await.unwrap_err();
        assert!(matches!(err, Error::Exists { kind: "disk", .. }), "{err}");

        let child = p("VCH001/disks/child.vmdk");
        b.create_disk(&child, 1024, Some(&base)).await.unwrap();
        assert!(b.exists(&child).await.unwrap());
        // Attached to make it, detached after: the appliance is as it was.
        assert_eq!(disk_count(b.as_ref(), &appliance).await, disks_before);
        let grandchild = p("VCH001/disks/grandchild.vmdk");
        b.create_disk(&grandchild, 1024, Some(&child))
            .await
            .unwrap();
        assert!(b.exists(&grandchild).await.unwrap());
        assert_eq!(disk_count(b.as_ref(), &appliance).await, disks_before);

        let err = b
            .create_disk(
                &p("VCH001/disks/orphan.vmdk"),
                1024,
                Some(&p("VCH001/disks/none.vmdk")),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { kind: "disk", .. }), "{err}");
        assert!(!b.exists(&p("VCH001/disks/orphan.vmdk")).await.unwrap());

        b.delete_disk(&grandchild).await.unwrap();
        b.delete_disk(&child).await.unwrap();
        assert!(!b.exists(&child).await.unwrap());
        let err = b.delete_disk(&child).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { kind: "disk", .. }), "{err}");
        b.delete_disk(&base).await.unwrap();

        // Without an appliance there is nothing to attach a child disk to.
        let client = fx.client.clone().unwrap();
        let mut placement = Placement::discover(&client, "VCH001", None).await.unwrap();
        placement.appliance = None;
        let bare = VsphereBackend::new(client, placement);
        let parent = p("VCH001/disks/p2.vmdk");
        bare.create_disk(&parent, 1024, None).await.unwrap();
        let err = bare
            .create_disk(&p("VCH001/disks/c2.vmdk"), 1024, Some(&parent))
            .await
            .unwrap_err();
        match err {
            Error::InvalidInput(m) => assert!(m.contains("appliance"), "{m}"),
            other => panic!("expected InvalidInput, got {other}"),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_page_by_page() {
    let fx = vsphere().await;
    let (b, calls) = bounded("a counted backend", counted(&fx)).await;
    let b = b.with_event_page_size(2);
    bounded("events", async {
        let one = create(&fx, "ev-1", &[]).await;
        let two = create(&fx, "ev-2", &[]).await;
        for vm in [&one, &two] {
            b.power_on(vm).await.unwrap();
            b.power_off(vm).await.unwrap();
        }
        b.power_on(&one).await.unwrap();
        b.shutdown_guest(&one).await.unwrap();
        b.destroy_vm(&two).await.unwrap();
        calls.take();

        let events = b.vm_events(None).await.unwrap();
        let ops = calls.take();
        assert_eq!(Calls::count(&ops, "CreateCollectorForEvents"), 1, "{ops:?}");
        assert_eq!(Calls::count(&ops, "DestroyCollector"), 1, "{ops:?}");
        let pages = Calls::count(&ops, "ReadNextEvents");
        assert!(
            pages > events.len() / 2,
            "read 2 at a time until empty: {ops:?}"
        );

        assert!(
            events.windows(2).all(|w| w[0].key < w[1].key),
            "oldest first, once each"
        );
        let kinds = |vm: &ManagedObjectReference| -> Vec<String> {
            events
                .iter()
                .filter(|e| e.vm.as_ref() == Some(vm))
                .map(|e| e.kind.clone())
                .collect()
        };
        assert_eq!(
            kinds(&one),
            [
                "VmCreatedEvent",
                "VmPoweredOnEvent",
                "VmPoweredOffEvent",
                "VmPoweredOnEvent",
                "VmGuestShutdownEvent",
                "VmPoweredOffEvent"
            ]
        );
        assert_eq!(
            kinds(&two),
            [
                "VmCreatedEvent",
                "VmPoweredOnEvent",
                "VmPoweredOffEvent",
                "VmRemovedEvent"
            ]
        );
        let e = events.iter().find(|e| e.vm.as_ref() == Some(&two)).unwrap();
        assert_eq!(e.vm_name.as_deref(), Some("ev-2"));
        assert!(vim25::object::parse_date_time(e.created.as_str()).is_some());
        // Only VM events of the listed kinds (no reconfigurations, logins).
        assert!(events
            .iter()
            .all(|e| vic_portlayer::vsphere::VM_EVENT_TYPES.contains(&e.kind.as_str())));

        // A window from an event on: that event and the later ones.
        let at = &events[events.len() / 2];
        let since = b.vm_events(Some(&at.created)).await.unwrap();
        let t = |e: &vic_portlayer::backend::VmEvent| {
            vim25::object::parse_date_time(e.created.as_str()).unwrap()
        };
        assert!(since.iter().any(|e| e.key == at.key));
        assert!(since.iter().all(|e| t(e) >= t(at)));
        assert!(since.len() < events.len());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_groups_and_backings() {
    let fx = vsphere().await;
    bounded("port groups", async {
        let b = &fx.backend;
        let groups = b.port_groups().await.unwrap();
        assert!(groups.contains(&common::BRIDGE.to_string()), "{groups:?}");
        assert!(groups.contains(&common::EXTERNAL.to_string()), "{groups:?}");
        let mut sorted = groups.clone();
        sorted.sort();
        assert_eq!(groups, sorted);
        match b.network_backing(common::BRIDGE).await.unwrap() {
            AnyVirtualDeviceBackingInfo::VirtualEthernetCardNetworkBackingInfo(n) => {
                assert_eq!(n.device_name, common::BRIDGE);
                assert_eq!(
                    n.network.as_ref().map(|r| r.type_.as_str()),
                    Some("Network")
                );
            }
            other => panic!("expected a network backing, got {}", other.type_name()),
        }
        let err = b.network_backing("no such network").await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotFound {
                    kind: "port group",
                    ..
                }
            ),
            "{err}"
        );
    })
    .await
}
