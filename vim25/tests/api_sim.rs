//! The typed retrieval, finder, watch-stream, `property::wait` and typed-task APIs
//! against govmomi's simulator (vcsim, vCenter model, plain HTTP).
//!
//! Each test starts its own simulator; they fail (never skip) when its launcher has
//! not been built (`bash scripts/build-vcsim.sh`). Every wait is bounded by
//! `tokio::time::timeout`, so a missing update fails the test instead of hanging it.

use std::collections::BTreeMap;
use std::future::{ready, Future};
use std::time::{Duration, Instant};
use test_support::{Simulator, SimulatorConfig};
use vim25::find::Finder;
use vim25::object::{Datacenter, HostSystem, ResourcePool, VirtualMachine};
use vim25::property::{spec_for_objects, Retrieval, StreamExt, TryStreamExt, Watch};
use vim25::task::Task;
use vim25::types::{
    AnyMethodFault, ManagedObjectReference, ObjectUpdateKind, TaskInfo, TaskInfoState,
    VirtualMachineConfigSpec, VirtualMachineFileInfo, VirtualMachinePowerState,
};
use vim25::view::ContainerView;
use vim25::{mo, Client, ClientBuilder, Error};

use VirtualMachinePowerState::{PoweredOff, PoweredOn};

/// The most any single wait in these tests may take.
const LIMIT: Duration = Duration::from_secs(30);

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

/// `fut` with the test-wide deadline; panics naming `what` when it passes.
async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {LIMIT:?}: {what}"))
}

async fn vm_at(c: &Client, path: &str) -> VirtualMachine {
    Finder::new(c)
        .virtual_machine(path)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Names by reference, from a retrieval of one type only (the reference answer the
/// mixed retrievals are compared with).
async fn names_of<M: mo::ManagedObject>(
    c: &Client,
    kind: &str,
    name_of: fn(&M) -> Option<String>,
) -> BTreeMap<ManagedObjectReference, String> {
    let view = ContainerView::create(c, &[kind], true).await.unwrap();
    let spec = view.filter_spec(kind, &["name"]);
    let page = Retrieval::new(c.clone(), c.property_collector(), vec![spec])
        .collect_typed::<M>()
        .await
        .unwrap();
    view.destroy().await.unwrap();
    page.objects
        .iter()
        .map(|m| (m.obj().clone(), name_of(m).expect("name retrieved")))
        .collect()
}

// ---------------------------------------------------------------------------------
// 1. Typed retrieval over a view that mixes VMs and hosts

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_retrieval_of_a_mixed_view() {
    let sim = start();
    let c = connect(&sim).await;

    let vms = names_of::<mo::VirtualMachine>(&c, "VirtualMachine", |m| m.name.clone()).await;
    let hosts = names_of::<mo::HostSystem>(&c, "HostSystem", |m| m.name.clone()).await;
    assert!(vms.len() >= 2, "{vms:?}");
    assert!(hosts.len() >= 2, "{hosts:?}");

    let view = ContainerView::create(&c, &["VirtualMachine", "HostSystem"], true)
        .await
        .unwrap();
    // One spec per type, both over the same view; `runtime` is a different data
    // object type on each (VirtualMachineRuntimeInfo / HostRuntimeInfo).
    let specs = vec![
        view.filter_spec("VirtualMachine", &["name", "runtime"]),
        view.filter_spec("HostSystem", &["name", "runtime"]),
    ];
    let retrieval = || Retrieval::new(c.clone(), c.property_collector(), specs.clone());

    // Asking for VMs while hosts are selected: an error naming both types, never
    // a host silently decoded as a VM.
    let err = retrieval()
        .collect_typed::<mo::VirtualMachine>()
        .await
        .expect_err("hosts must not decode as VirtualMachine");
    let Error::WrongType(w) = &err else {
        panic!("expected Error::WrongType, got {err:?}");
    };
    assert_eq!(w.expected, "VirtualMachine");
    assert_eq!(w.obj.type_, "HostSystem");
    assert!(hosts.contains_key(&w.obj), "{w:?} is not one of {hosts:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("VirtualMachine") && msg.contains("HostSystem"),
        "message should name both types: {msg}"
    );
    // Same for the page-by-page form, and the other way round.
    let err = retrieval()
        .next_typed::<mo::HostSystem>()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::WrongType(w) if w.expected == "HostSystem" && w.obj.type_ == "VirtualMachine"),
        "{err:?}"
    );

    // A common supertype takes both.
    let entities = retrieval()
        .collect_typed::<mo::ManagedEntity>()
        .await
        .unwrap();
    assert!(entities.missing.is_empty(), "{:?}", entities.missing);
    let got: BTreeMap<_, _> = entities
        .objects
        .iter()
        .map(|e| (e.obj.clone(), e.name.clone().unwrap()))
        .collect();
    let mut expected = vms.clone();
    expected.extend(hosts.clone());
    assert_eq!(got, expected);
    // `runtime` is no ManagedEntity property: kept untyped in `other`, as the
    // right data object type for each.
    for e in &entities.objects {
        let runtime = e.other.iter().find(|p| p.name == "runtime").unwrap();
        let kind = runtime.val.kind();
        match e.obj.type_.as_str() {
            "VirtualMachine" => assert_eq!(kind, "VirtualMachineRuntimeInfo"),
            "HostSystem" => assert_eq!(kind, "HostRuntimeInfo"),
            other => panic!("unexpected {other}"),
        }
    }

    // Each object as the struct of its own type.
    let any = retrieval().collect_any().await.unwrap();
    assert_eq!(any.objects.len(), vms.len() + hosts.len());
    let (mut any_vms, mut any_hosts) = (BTreeMap::new(), BTreeMap::new());
    let mut a_host = None;
    for o in any.objects {
        match &o {
            mo::AnyManagedObject::VirtualMachine(vm) => {
                assert_eq!(o.type_name(), "VirtualMachine");
                // Typed: the VM's runtime, power state included.
                let rt = vm.runtime.as_ref().expect("runtime retrieved");
                assert_eq!(rt.power_state, PoweredOn, "{}", vm.obj);
                any_vms.insert(o.obj().clone(), vm.name.clone().unwrap());
            }
            mo::AnyManagedObject::HostSystem(h) => {
                assert_eq!(o.type_name(), "HostSystem");
                assert!(h.runtime.is_some(), "{}", h.obj);
                any_hosts.insert(o.obj().clone(), h.name.clone().unwrap());
                a_host = Some(o.clone());
            }
            other => panic!("unexpected variant {}", other.type_name()),
        }
    }
    assert_eq!(any_vms, vms);
    assert_eq!(any_hosts, hosts);

    // A host variant is no VirtualMachine; it is a HostSystem.
    let a_host = a_host.unwrap();
    let host_ref = a_host.obj().clone();
    let err = mo::VirtualMachine::try_from(a_host.clone()).unwrap_err();
    assert_eq!(err.expected, "VirtualMachine");
    assert_eq!(err.obj, host_ref);
    let host: mo::HostSystem = a_host.try_into().unwrap();
    assert_eq!(host.obj, host_ref);

    view.destroy().await.unwrap();
}

// ---------------------------------------------------------------------------------
// 2. Finder wrappers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finder_returns_typed_wrappers() {
    let sim = start();
    let c = connect(&sim).await;
    let f = Finder::new(&c);

    let vm = f.virtual_machine("/DC0/vm/DC0_H0_VM0").await.unwrap();
    assert_eq!(vm.reference().type_, "VirtualMachine");
    assert_eq!(vm.name().await.unwrap(), "DC0_H0_VM0");
    assert_eq!(
        f.path_of(vm.reference()).await.unwrap(),
        "/DC0/vm/DC0_H0_VM0"
    );

    // A path to an object of another type: WrongType, not a wrapper that fails later.
    let err = f
        .virtual_machine("/DC0/host/DC0_H0/DC0_H0")
        .await
        .unwrap_err();
    match &err {
        Error::WrongType(w) => {
            assert_eq!(w.expected, "VirtualMachine");
            assert_eq!(w.obj.type_, "HostSystem");
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("HostSystem") && msg.contains("VirtualMachine"),
        "{msg}"
    );
    assert!(matches!(
        f.host_system("/DC0/vm/DC0_H0_VM0").await,
        Err(Error::WrongType(w)) if w.expected == "HostSystem" && w.obj.type_ == "VirtualMachine"
    ));
    // A cluster is a ComputeResource, not a ResourcePool (its root pool is).
    assert!(matches!(
        f.resource_pool("/DC0/host/DC0_C0").await,
        Err(Error::WrongType(w)) if w.obj.type_ == "ClusterComputeResource"
    ));
    // Nothing there: NotFound, not WrongType.
    assert!(matches!(
        f.virtual_machine("/DC0/vm/no-such-vm").await,
        Err(Error::NotFound(_))
    ));

    let host = f.host_system("/DC0/host/DC0_H0/DC0_H0").await.unwrap();
    assert_eq!(host.name().await.unwrap(), "DC0_H0");

    let pool = f.resource_pool("/DC0/host/DC0_C0/Resources").await.unwrap();
    assert_eq!(pool.reference().type_, "ResourcePool");
    assert_eq!(pool.name().await.unwrap(), "Resources");

    let folder = f.folder("/DC0/vm").await.unwrap();
    assert!(folder.children().await.unwrap().contains(vm.reference()));

    let dc = f.datacenter("/DC0").await.unwrap();
    assert_eq!(dc.name().await.unwrap(), "DC0");
    // One datacenter in this inventory: it is the default.
    let default_dc = f.default_object::<Datacenter>().await.unwrap();
    assert_eq!(default_dc.reference(), dc.reference());
    assert_eq!(default_dc.name().await.unwrap(), "DC0");
    // Several hosts: no default.
    assert!(matches!(
        f.default_object::<HostSystem>().await,
        Err(Error::MultipleFound { count, .. }) if count > 1
    ));

    // A shared datastore is listed once per host by vcsim; the path still names one.
    let ds = f.datastore("/DC0/datastore/LocalDS_0").await.unwrap();
    assert_eq!(ds.name().await.unwrap(), "LocalDS_0");

    // Network takes its subtype, the distributed port group.
    let net = f.network("/DC0/network/VM Network").await.unwrap();
    assert_eq!(net.name().await.unwrap(), "VM Network");
    let pgs: Vec<_> = f
        .find("/DC0/network/*")
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, r)| r.type_ == "DistributedVirtualPortgroup")
        .collect();
    assert!(
        !pgs.is_empty(),
        "the vpx model has a distributed port group"
    );
    let pg = f.network(&pgs[0].0).await.unwrap();
    assert_eq!(pg.reference(), &pgs[0].1);
}

// ---------------------------------------------------------------------------------
// 3. Watch as a stream

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_is_a_stream_of_updates() {
    let sim = start();
    let watcher = connect(&sim).await;
    let actor = connect(&sim).await;
    let vm = vm_at(&watcher, "/DC0/vm/DC0_H0_VM0").await;
    let vm_ref = vm.reference().clone();
    assert_eq!(vm.power_state().await.unwrap(), PoweredOn);

    let spec = spec_for_objects(
        "VirtualMachine",
        &["runtime.powerState"],
        std::slice::from_ref(&vm_ref),
    );
    let mut watch = Watch::create(watcher.clone(), &watcher.property_collector(), &spec)
        .await
        .unwrap();

    // The first update is the current state (kind `enter`).
    let first = bounded("first update", watch.try_next())
        .await
        .unwrap()
        .expect("the stream does not end");
    assert_eq!(first.obj, vm_ref);
    assert_eq!(first.kind, ObjectUpdateKind::Enter);
    assert_eq!(
        first.get::<VirtualMachinePowerState>("runtime.powerState"),
        Some(PoweredOn)
    );

    // Another client powers the VM off while this one is waiting on the stream.
    let off = {
        let vm = VirtualMachine::new(&actor, vm_ref.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            vm.power_off().await?.wait().await
        })
    };
    let started = Instant::now();
    let mut seen = Vec::new();
    let state = bounded("powered off update", async {
        loop {
            let u = watch.try_next().await.unwrap().expect("stream ended");
            assert_eq!(u.obj, vm_ref);
            let s = u.get::<VirtualMachinePowerState>("runtime.powerState");
            seen.push(s.clone());
            if s == Some(PoweredOff) {
                break s;
            }
        }
    })
    .await;
    assert_eq!(state, Some(PoweredOff));
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "the change came before it was made: {seen:?}"
    );
    bounded("power off task", off).await.unwrap().unwrap();

    // Combinators straight on the watch (it is Unpin): no `pin!` anywhere. Power the
    // VM back on and read the states as a filtered stream.
    let on = {
        let vm = VirtualMachine::new(&actor, vm_ref.clone());
        tokio::spawn(async move { vm.power_on().await?.wait().await })
    };
    let mut states = watch
        .by_ref()
        .map_ok(|u| u.get::<VirtualMachinePowerState>("runtime.powerState"))
        .try_filter(|s| ready(s.is_some()));
    let next = bounded("powered on via combinators", states.try_next())
        .await
        .unwrap();
    assert_eq!(next, Some(Some(PoweredOn)));
    drop(states);
    bounded("power on task", on).await.unwrap().unwrap();

    // `StreamExt` on the `Result` items too, with `next()` (which needs `Unpin`).
    let off = {
        let vm = VirtualMachine::new(&actor, vm_ref.clone());
        tokio::spawn(async move { vm.power_off().await?.wait().await })
    };
    let mut offs = (&mut watch)
        .filter_map(|r| {
            ready(match r {
                Ok(u) => u.get::<VirtualMachinePowerState>("runtime.powerState"),
                Err(e) => panic!("watch failed: {e}"),
            })
        })
        .filter(|s| ready(*s == PoweredOff));
    assert_eq!(
        bounded("powered off via StreamExt", offs.next()).await,
        Some(PoweredOff)
    );
    bounded("power off task", off).await.unwrap().unwrap();

    watch.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_raw_wait_for_updates() {
    let sim = start();
    let c = connect(&sim).await;
    let vm = vm_at(&c, "/DC0/vm/DC0_H0_VM1").await;
    let spec = spec_for_objects(
        "VirtualMachine",
        &["name", "runtime.powerState"],
        std::slice::from_ref(vm.reference()),
    );
    let mut watch = Watch::create(c.clone(), &c.property_collector(), &spec)
        .await
        .unwrap()
        .max_wait(Duration::from_secs(1));

    // The first set holds the current values.
    let set = bounded("first set", watch.wait_for_updates())
        .await
        .unwrap()
        .expect("the first call reports the current state");
    let updates: Vec<_> = set
        .filter_set
        .iter()
        .flat_map(|f| f.object_set.iter())
        .collect();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(&updates[0].obj, vm.reference());
    assert_eq!(
        updates[0].get::<String>("name").as_deref(),
        Some("DC0_H0_VM1")
    );
    assert_eq!(
        updates[0].get::<VirtualMachinePowerState>("runtime.powerState"),
        Some(PoweredOn)
    );

    // Nothing changed within max_wait: None.
    let started = Instant::now();
    let none = bounded("empty wait", watch.wait_for_updates())
        .await
        .unwrap();
    assert!(none.is_none(), "{none:?}");
    assert!(started.elapsed() >= Duration::from_millis(500));

    // A change: only the changed property.
    vm.rename_and_wait("renamed").await.unwrap();
    let set = bounded("rename set", watch.wait_for_updates())
        .await
        .unwrap()
        .expect("the rename is reported");
    let u = &set.filter_set[0].object_set[0];
    assert_eq!(u.kind, ObjectUpdateKind::Modify);
    assert_eq!(u.get::<String>("name").as_deref(), Some("renamed"));
    assert!(u.change("runtime.powerState").is_none(), "{u:?}");
    watch.destroy().await.unwrap();
}

// ---------------------------------------------------------------------------------
// 4. property::wait

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn property_wait_reads_the_current_value_first() {
    let sim = start();
    let c = connect(&sim).await;
    let actor = connect(&sim).await;
    let vm = vm_at(&c, "/DC0/vm/DC0_H0_VM1").await;
    let vm_ref = vm.reference().clone();
    vm.power_off_and_wait().await.unwrap();

    // Already powered off: returns at once, with the value.
    let started = Instant::now();
    let got = bounded(
        "already off",
        vim25::property::wait(&c, &vm_ref, "runtime.powerState", |s| {
            s == Some(&PoweredOff)
        }),
    )
    .await
    .unwrap();
    assert_eq!(got, Some(PoweredOff));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Powered on by someone else 300 ms after the wait starts.
    let on = {
        let vm = VirtualMachine::new(&actor, vm_ref.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            vm.power_on().await?.wait().await
        })
    };
    let started = Instant::now();
    let mut calls = Vec::new();
    let got = bounded(
        "powered on",
        vim25::property::wait(&c, &vm_ref, "runtime.powerState", |s| {
            calls.push(s.cloned());
            s == Some(&PoweredOn)
        }),
    )
    .await
    .unwrap();
    assert_eq!(got, Some(PoweredOn));
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "returned before the change: {calls:?}"
    );
    // The predicate saw the current (off) state first.
    assert_eq!(calls.first(), Some(&Some(PoweredOff)), "{calls:?}");
    assert_eq!(calls.last(), Some(&Some(PoweredOn)), "{calls:?}");
    bounded("power on task", on).await.unwrap().unwrap();

    // A String property, with a predicate on Option<&String>.
    let name = bounded(
        "name",
        vim25::property::wait(&c, &vm_ref, "name", |n: Option<&String>| {
            n.is_some_and(|n| n.starts_with("DC0_"))
        }),
    )
    .await
    .unwrap();
    assert_eq!(name.as_deref(), Some("DC0_H0_VM1"));

    let rename = {
        let vm = VirtualMachine::new(&actor, vm_ref.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            vm.rename_and_wait("waited-for").await
        })
    };
    let name = bounded(
        "renamed",
        vim25::property::wait(&c, &vm_ref, "name", |n: Option<&String>| {
            n.map(String::as_str) == Some("waited-for")
        }),
    )
    .await
    .unwrap();
    assert_eq!(name.as_deref(), Some("waited-for"));
    bounded("rename task", rename).await.unwrap().unwrap();

    // A value of another type than asked is seen as None.
    let mut seen = Vec::new();
    let got = bounded(
        "wrong type",
        vim25::property::wait(&c, &vm_ref, "name", |n: Option<&i32>| {
            seen.push(n.copied());
            true
        }),
    )
    .await
    .unwrap();
    assert_eq!(got, None);
    assert_eq!(seen, vec![None]);
}

// ---------------------------------------------------------------------------------
// 5. Typed tasks

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_tasks_create_power_reconfigure_destroy() {
    let sim = start();
    let c = connect(&sim).await;
    let f = Finder::new(&c);
    let folder = f.folder("/DC0/vm").await.unwrap();
    let host = f.host_system("/DC0/host/DC0_H0/DC0_H0").await.unwrap();
    let pool: ResourcePool = f.resource_pool("/DC0/host/DC0_H0/Resources").await.unwrap();

    let spec = VirtualMachineConfigSpec {
        name: Some("api-sim-vm".into()),
        guest_id: Some("otherGuest".into()),
        num_cpus: Some(1),
        memory_mb: Some(32),
        files: Some(VirtualMachineFileInfo {
            vm_path_name: Some("[LocalDS_0]".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let task = folder.create_vm(&spec, &pool, Some(&host)).await.unwrap();
    assert_eq!(task.reference().type_, "Task");
    let mut progress = Vec::new();
    let vm: VirtualMachine = bounded("create", task.wait_with_progress(|p| progress.push(p)))
        .await
        .unwrap();
    assert_eq!(vm.reference().type_, "VirtualMachine");
    assert_eq!(vm.name().await.unwrap(), "api-sim-vm");
    assert_eq!(progress.last(), Some(&100), "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    assert_eq!(
        f.path_of(vm.reference()).await.unwrap(),
        "/DC0/vm/api-sim-vm"
    );
    assert_eq!(vm.power_state().await.unwrap(), PoweredOff);

    // Task<()>: power on.
    bounded("power on", async { vm.power_on().await?.wait().await })
        .await
        .unwrap();
    assert_eq!(vm.power_state().await.unwrap(), PoweredOn);

    // A failing task: powering on what is on. TaskFailed with the task's reference
    // and the typed fault.
    let again = vm.power_on().await.unwrap();
    let again_ref = again.reference().clone();
    let err = bounded("power on again", again.wait()).await.unwrap_err();
    match &err {
        Error::TaskFailed { task, message, .. } => {
            assert_eq!(task, &again_ref);
            assert!(!message.is_empty());
        }
        other => panic!("expected TaskFailed, got {other:?}"),
    }
    assert!(
        matches!(err.fault(), Some(AnyMethodFault::InvalidPowerState(_))),
        "{err:?}"
    );
    assert_eq!(err.fault_name(), Some("InvalidPowerState"));

    // Reconfigure: Task<()>, with wait_timeout.
    let reconfig = VirtualMachineConfigSpec {
        num_cpus: Some(2),
        memory_mb: Some(64),
        ..Default::default()
    };
    let progress_calls = std::sync::atomic::AtomicUsize::new(0);
    vm.reconfigure(&reconfig)
        .await
        .unwrap()
        .wait_timeout(LIMIT, |_| {
            progress_calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .await
        .unwrap();
    assert!(
        progress_calls.into_inner() >= 1,
        "100 is reported at the end"
    );
    let hw = vm.config().await.unwrap().hardware;
    assert_eq!((hw.num_cpu, hw.memory_mb), (2, 64));

    // Typed differently: a power-off task as TaskInfo, then the same finished task
    // as a reference result, which it does not have (Decode error, not a panic).
    let off = vm.power_off().await.unwrap();
    let info: TaskInfo = bounded(
        "power off as TaskInfo",
        Task::<TaskInfo>::new(&c, off.reference().clone()).wait(),
    )
    .await
    .unwrap();
    assert_eq!(info.state, TaskInfoState::Success);
    assert_eq!(info.entity.as_ref(), Some(vm.reference()));
    let err = bounded(
        "power off as reference",
        Task::<ManagedObjectReference>::new(&c, off.reference().clone()).wait(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert_eq!(vm.power_state().await.unwrap(), PoweredOff);

    // Destroy: Task<()>. The VM is gone from the inventory.
    let vm_ref = vm.reference().clone();
    bounded("destroy", async { vm.destroy().await?.wait().await })
        .await
        .unwrap();
    assert!(f.find("/DC0/vm/api-sim-vm").await.unwrap().is_empty());

    // Destroying it again fails with a typed fault (whether the server refuses the
    // call or fails the task).
    let again = async { vm.destroy().await?.wait().await };
    let err = bounded("destroy again", again).await.unwrap_err();
    assert!(
        matches!(err.fault(), Some(AnyMethodFault::ManagedObjectNotFound(m)) if m.obj == vm_ref),
        "{err:?}"
    );
}
