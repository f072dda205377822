//! One fixture for both backends: every test body takes a [`Fixture`] and runs
//! once on the memory backend and once on the vSphere backend against govmomi's
//! simulator (ESX model, plain HTTP, 127.0.0.1). Simulator tests fail (never skip)
//! when the launcher is not built (`bash scripts/build-vcsim.sh`).
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use test_support::{Simulator, SimulatorConfig};
use vic_portlayer::backend::{Backend, PowerState, VmDetail};
use vic_portlayer::events::EventHub;
use vic_portlayer::exec::{Exec, ExecSettings};
use vic_portlayer::memory::MemoryBackend;
use vic_portlayer::vsphere::{Placement, VsphereBackend};
use vim25::object::DatastorePath;
use vim25::types::VirtualMachineConfigSpec;

/// The most any single wait in these tests may take.
pub const LIMIT: Duration = Duration::from_secs(60);

/// The bridge port group of the fixture's VCH.
pub const BRIDGE: &str = "bridge";
/// The external port group of the fixture's VCH.
pub const EXTERNAL: &str = "VM Network";

/// A backend, ready to use, and what keeps it alive.
pub struct Fixture {
    /// `memory` or `vsphere`.
    pub kind: &'static str,
    /// The backend.
    pub backend: Arc<dyn Backend>,
    /// The event hub of the services built by [`Fixture::exec`].
    pub events: EventHub,
    /// Exec settings (short waits).
    pub settings: ExecSettings,
    /// The simulator, for the vSphere backend.
    pub sim: Option<Simulator>,
    /// The client, for the vSphere backend (to check results independently).
    pub client: Option<vim25::Client>,
}

impl Fixture {
    /// An exec service on the fixture's backend and hub.
    pub fn exec(&self) -> Exec {
        Exec::new(
            self.backend.clone(),
            self.settings.clone(),
            self.events.clone(),
        )
    }
}

fn settings(datastore: &str) -> ExecSettings {
    let mut s = ExecSettings::new(
        datastore,
        DatastorePath::new(datastore, "VCH001/bootstrap.iso"),
    );
    s.stop_grace = Duration::from_secs(2);
    s.power_off_limit = Duration::from_secs(20);
    s.start_limit = Duration::from_secs(20);
    s
}

/// The memory backend, with the fixture's port groups and a bootstrap ISO.
pub async fn memory() -> Fixture {
    let backend = MemoryBackend::new("datastore1", "VCH001").with_port_groups(&[BRIDGE, EXTERNAL]);
    let backend: Arc<dyn Backend> = Arc::new(backend);
    prepare(&backend).await;
    Fixture {
        kind: "memory",
        backend,
        events: EventHub::default(),
        settings: settings("datastore1"),
        sim: None,
        client: None,
    }
}

/// The vSphere backend on a fresh ESX-model simulator, with a `bridge` port group
/// added beside the simulator's `VM Network`, and a small appliance VM `VCH001` in
/// the placement's folder (so that child disks can be made by attaching them).
pub async fn vsphere() -> Fixture {
    use vim25::object::device::add_spec;
    use vim25::object::{Folder, HostSystem, ResourcePool};
    use vim25::types::{
        AnyVirtualDevice, ParaVirtualSCSIController, VirtualMachineFileInfo, VirtualSCSIController,
        VirtualSCSISharing,
    };

    let sim = Simulator::start_or_panic(&SimulatorConfig::esx().tls(false));
    let client = vim25::ClientBuilder::new(sim.url())
        .unwrap()
        .credentials(sim.username(), sim.password())
        .connect()
        .await
        .unwrap();
    let host: HostSystem = vim25::find::Finder::new(&client)
        .default_object()
        .await
        .expect("the simulator's host");
    let ns = host.network_system().await.unwrap();
    ns.add_port_group(BRIDGE, "vSwitch0", 0).await.unwrap();
    let mut placement = Placement::discover(&client, "VCH001", None).await.unwrap();
    if placement.appliance.is_none() {
        let mut scsi: AnyVirtualDevice = ParaVirtualSCSIController {
            base_: VirtualSCSIController {
                shared_bus: VirtualSCSISharing::NoSharing,
                ..Default::default()
            },
        }
        .into();
        scsi.key = -100;
        let spec = VirtualMachineConfigSpec {
            name: Some("VCH001".into()),
            guest_id: Some("other3xLinux64Guest".into()),
            num_cpus: Some(1),
            memory_mb: Some(64),
            files: Some(VirtualMachineFileInfo {
                // Beside the VCH folder, so that its listing is the same on both
                // backends.
                vm_path_name: Some(format!(
                    "[{}] VCH001-appliance/VCH001.vmx",
                    placement.datastore
                )),
                ..Default::default()
            }),
            device_change: vec![add_spec(scsi, false)],
            ..Default::default()
        };
        let folder = Folder::new(&client, placement.folder.clone());
        let pool = ResourcePool::new(&client, placement.pool.clone());
        let on = placement.host.clone().map(|h| HostSystem::new(&client, h));
        let appliance = folder
            .create_vm_and_wait(&spec, &pool, on.as_ref())
            .await
            .expect("the appliance VM");
        placement = placement.with_appliance(appliance.reference().clone());
    }
    let datastore = placement.datastore.clone();
    let backend: Arc<dyn Backend> = Arc::new(EventSafe::new(VsphereBackend::new(
        client.clone(),
        placement,
    )));
    prepare(&backend).await;
    Fixture {
        kind: "vsphere",
        backend,
        events: EventHub::default(),
        settings: settings(&datastore),
        sim: Some(sim),
        client: Some(client),
    }
}

/// The vSphere backend of VCH001 over `client` (which may go through a proxy), its
/// folder and bootstrap ISO made, and an `Exec` on it with the fixture's settings.
pub async fn vsphere_exec(client: &vim25::Client) -> (Arc<dyn Backend>, Exec) {
    let placement = Placement::discover(client, "VCH001", None).await.unwrap();
    let datastore = placement.datastore.clone();
    let backend: Arc<dyn Backend> = Arc::new(VsphereBackend::new(client.clone(), placement));
    prepare(&backend).await;
    let exec = Exec::new(backend.clone(), settings(&datastore), EventHub::default());
    (backend, exec)
}

/// The VCH folder with a (stand-in) bootstrap ISO in it.
async fn prepare(backend: &Arc<dyn Backend>) {
    let dir = backend.vch_folder();
    backend.make_dir(&dir).await.unwrap();
    let iso = DatastorePath::new(dir.datastore.clone(), format!("{}/bootstrap.iso", dir.path));
    let body = b"not really an ISO".to_vec();
    let len = body.len() as u64;
    backend
        .upload(&iso, Box::new(std::io::Cursor::new(body)), len)
        .await
        .unwrap();
}

/// `fut` with the test-wide deadline; panics naming `what` when it passes.
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {LIMIT:?}: {what}"))
}

/// How the stand-in guest answers a power-on.
#[derive(Debug, Clone)]
pub enum GuestPlay {
    /// Every session reports `started = true`.
    Start,
    /// Every session reports `started = true`, then exits with this status and the
    /// VM powers off.
    RunAndExit(i64),
    /// Every session reports this error text as `started`.
    FailStart(String),
}

/// Plays the guest agent through the backend itself (the same calls on both
/// backends): polls the VCH's VMs, and for each powered-on one whose sessions have
/// not reported, writes what `play` says. Stops when the returned handle drops.
pub fn spawn_guest(backend: Arc<dyn Backend>, play: GuestPlay) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Ok(vms) = backend.list_vms(VmDetail::Summary).await {
                for vm in vms {
                    if vm.power_state != PowerState::PoweredOn {
                        continue;
                    }
                    let Ok(config) = vic_portlayer::exec::decode_config(&vm) else {
                        continue;
                    };
                    let mut keys = Vec::new();
                    let mut exit = false;
                    for (sid, s) in &config.sessions {
                        if s.started.is_some() {
                            continue;
                        }
                        let started = vic_config::key_of::<vic_config::model::ExecutorConfig>(
                            "sessions.*.started",
                            vic_config::Layout::Current,
                        )
                        .unwrap()
                        .fill(&[sid.as_str()])
                        .unwrap();
                        match &play {
                            GuestPlay::Start => keys.push((started, "true".to_string())),
                            GuestPlay::FailStart(t) => keys.push((started, t.clone())),
                            GuestPlay::RunAndExit(code) => {
                                keys.push((started, "true".to_string()));
                                let status =
                                    vic_config::key_of::<vic_config::model::ExecutorConfig>(
                                        "sessions.*.exit_status",
                                        vic_config::Layout::Current,
                                    )
                                    .unwrap()
                                    .fill(&[sid.as_str()])
                                    .unwrap();
                                keys.push((status, code.to_string()));
                                exit = true;
                            }
                        }
                    }
                    if keys.is_empty() {
                        continue;
                    }
                    let map = keys.into_iter().collect();
                    let spec = VirtualMachineConfigSpec {
                        extra_config: vic_config::option_value::to_option_values(&map),
                        ..Default::default()
                    };
                    let _ = backend.reconfigure_vm(&vm.reference, &spec).await;
                    if exit {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        let _ = backend.power_off(&vm.reference).await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// Runs `body` on a fixture; the macro [`both_backends!`] calls it.
pub async fn run<F, Fut>(fixture: Fixture, body: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    body(fixture).await
}

/// Declares `mod $name` with two tests, `memory` and `vsphere`, each running the
/// async fn `$body(Fixture)`; name the body from inside the new module
/// (`super::body`).
macro_rules! both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                $body($crate::common::memory().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn vsphere() {
                $body($crate::common::vsphere().await).await
            }
        }
    };
}

/// The fixture's vSphere backend: every call goes to the real backend, but an
/// event read never overlaps a call that makes the simulator post an event.
///
/// govmomi's simulator (0.24.2, Debian's) deadlocks when an event history
/// collector is destroyed, as every event read does at its end, while an event is
/// being posted: `DestroyCollector` holds the collector's lock and waits for the
/// event manager's, `PostEvent` holds the event manager's and waits for the
/// collector's. From then on every event post hangs, and with it every task
/// (`remove` or `start` timing out in a test was this). vCenter and ESXi have no
/// such lock order. So here the calls that post events (VM create, reconfigure,
/// power operations, destroy, child disks through the appliance) share a gate that
/// an event read takes alone; the memory backend keeps exercising reads that
/// overlap everything.
///
/// An event read runs to its end (its collector destroyed) in a task of its own,
/// gate held, even when the caller stops waiting for it: a collector dropped
/// mid-read would be destroyed in the background, outside the gate.
pub struct EventSafe {
    real: Arc<VsphereBackend>,
    gate: Arc<tokio::sync::RwLock<()>>,
}

impl EventSafe {
    /// `real`, gated.
    pub fn new(real: VsphereBackend) -> Self {
        EventSafe {
            real: Arc::new(real),
            gate: Arc::new(tokio::sync::RwLock::new(())),
        }
    }
}

#[async_trait::async_trait]
impl Backend for EventSafe {
    fn describe(&self) -> String {
        self.real.describe()
    }
    fn vch_folder(&self) -> DatastorePath {
        self.real.vch_folder()
    }
    async fn create_vm(
        &self,
        spec: &VirtualMachineConfigSpec,
    ) -> vic_portlayer::Result<vim25::types::ManagedObjectReference> {
        let _posting = self.gate.read().await;
        self.real.create_vm(spec).await
    }
    async fn reconfigure_vm(
        &self,
        vm: &vim25::types::ManagedObjectReference,
        spec: &VirtualMachineConfigSpec,
    ) -> vic_portlayer::Result<()> {
        let _posting = self.gate.read().await;
        self.real.reconfigure_vm(vm, spec).await
    }
    async fn power_on(
        &self,
        vm: &vim25::types::ManagedObjectReference,
    ) -> vic_portlayer::Result<()> {
        let _posting = self.gate.read().await;
        self.real.power_on(vm).await
    }
    async fn power_off(
        &self,
        vm: &vim25::types::ManagedObjectReference,
    ) -> vic_portlayer::Result<()> {
        let _posting = self.gate.read().await;
        self.real.power_off(vm).await
    }
    async fn shutdown_guest(
        &self,
        vm: &vim25::types::ManagedObjectReference,
    ) -> vic_portlayer::Result<()> {
        let _posting = self.gate.read().await;
        self.real.shutdown_guest(vm).await
    }
    async fn destroy_vm(
        &self,
        vm: &vim25::types::ManagedObjectReference,
    ) -> vic_portlayer::Result<()> {
        let _posting = self.gate.read().await;
        self.real.destroy_vm(vm).await
    }
    async fn vm(
        &self,
        vm: &vim25::types::ManagedObjectReference,
        detail: VmDetail,
    ) -> vic_portlayer::Result<vic_portlayer::backend::VmRecord> {
        self.real.vm(vm, detail).await
    }
    async fn vm_by_name(
        &self,
        name: &str,
        detail: VmDetail,
    ) -> vic_portlayer::Result<Option<vic_portlayer::backend::VmRecord>> {
        self.real.vm_by_name(name, detail).await
    }
    async fn list_vms(
        &self,
        detail: VmDetail,
    ) -> vic_portlayer::Result<Vec<vic_portlayer::backend::VmRecord>> {
        self.real.list_vms(detail).await
    }
    async fn wait_vm(
        &self,
        vm: &vim25::types::ManagedObjectReference,
        limit: Duration,
        until: vic_portlayer::backend::VmPredicate<'_>,
    ) -> vic_portlayer::Result<vic_portlayer::backend::VmRecord> {
        self.real.wait_vm(vm, limit, until).await
    }
    async fn make_dir(&self, dir: &DatastorePath) -> vic_portlayer::Result<()> {
        self.real.make_dir(dir).await
    }
    async fn upload(
        &self,
        path: &DatastorePath,
        body: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
        len: u64,
    ) -> vic_portlayer::Result<()> {
        self.real.upload(path, body, len).await
    }
    async fn download(&self, path: &DatastorePath) -> vic_portlayer::Result<Vec<u8>> {
        self.real.download(path).await
    }
    async fn delete_file(&self, path: &DatastorePath) -> vic_portlayer::Result<()> {
        self.real.delete_file(path).await
    }
    async fn move_file(
        &self,
        from: &DatastorePath,
        to: &DatastorePath,
    ) -> vic_portlayer::Result<()> {
        self.real.move_file(from, to).await
    }
    async fn list_dir(&self, dir: &DatastorePath) -> vic_portlayer::Result<Vec<String>> {
        self.real.list_dir(dir).await
    }
    async fn exists(&self, path: &DatastorePath) -> vic_portlayer::Result<bool> {
        self.real.exists(path).await
    }
    async fn create_disk(
        &self,
        path: &DatastorePath,
        capacity_kb: i64,
        parent: Option<&DatastorePath>,
    ) -> vic_portlayer::Result<()> {
        // A child disk is made by reconfiguring the appliance.
        let _posting = self.gate.read().await;
        self.real.create_disk(path, capacity_kb, parent).await
    }
    async fn delete_disk(&self, path: &DatastorePath) -> vic_portlayer::Result<()> {
        self.real.delete_disk(path).await
    }
    async fn vm_events(
        &self,
        since: Option<&vim25::types::DateTime>,
    ) -> vic_portlayer::Result<Vec<vic_portlayer::backend::VmEvent>> {
        let alone = self.gate.clone().write_owned().await;
        let real = self.real.clone();
        let since = since.cloned();
        let read = tokio::spawn(async move {
            let r = real.vm_events(since.as_ref()).await;
            drop(alone);
            r
        });
        read.await.expect("the event read's task")
    }
    async fn network_backing(
        &self,
        name: &str,
    ) -> vic_portlayer::Result<vim25::types::AnyVirtualDeviceBackingInfo> {
        self.real.network_backing(name).await
    }
    async fn port_groups(&self) -> vic_portlayer::Result<Vec<String>> {
        self.real.port_groups().await
    }
}
