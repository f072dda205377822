//! The vSphere backend: the port layer's primitives on a `vim25` client.
//!
//! Everything goes through `vim25`'s helper layer (object wrappers, the finder,
//! property retrieval, views and watches, typed tasks, datastore transfers), with
//! generated `vim25::methods` where a wrapper lacks the call. What the backend
//! guarantees beyond the [`Backend`] contract:
//!
//! - [`Backend::list_vms`] is one property retrieval over a `ContainerView` of the
//!   VCH's VM folder (view created, read page by page, destroyed): listing a
//!   thousand containers costs three calls, never one per VM.
//! - [`Backend::wait_vm`] watches on a private property collector that is destroyed
//!   before the call returns (or, when the caller drops the call, in the
//!   background): no wait leaves a `PropertyFilter` behind.
//! - Faults become the port layer's errors: `ManagedObjectNotFound` is
//!   [`Error::NotFound`] (`VM`), `ConcurrentAccess` a conflict, `InvalidState` and
//!   `InvalidPowerState` a conflict for power operations and destroy,
//!   `DuplicateName` [`Error::Exists`], `FileNotFound` [`Error::NotFound`].
//!
//! ```no_run
//! # async fn demo(client: vim25::Client) -> vic_portlayer::Result<()> {
//! use vic_portlayer::backend::{Backend, VmDetail};
//! use vic_portlayer::vsphere::{Placement, VsphereBackend};
//!
//! let placement = Placement::discover(&client, "VCH001", Some("datastore1")).await?;
//! let backend = VsphereBackend::new(client, placement);
//! for vm in backend.list_vms(VmDetail::Summary).await? {
//!     println!("{} {:?}", vm.name, vm.power_state);
//! }
//! # Ok(()) }
//! ```

mod discover;
mod files;
mod inventory;
mod record;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncRead;
use tokio::sync::{Mutex, OnceCell};
use vim25::object::{Datacenter, DatastorePath, Folder, HostSystem, ResourcePool, VirtualMachine};
use vim25::types::{
    AnyVirtualDeviceBackingInfo, DateTime, ManagedObjectReference, VirtualMachineConfigSpec,
    VirtualMachineFileInfo,
};
use vim25::Client;

use crate::backend::{Backend, VmDetail, VmEvent, VmPredicate, VmRecord};
use crate::{Error, Result};

/// The VM event types [`Backend::vm_events`] reads: what the events area maps to
/// container events (created, powered on/off, also by DRS, suspended, removed, guest
/// shutdown, migrated, also by DRS, relocated).
pub const VM_EVENT_TYPES: &[&str] = &[
    "VmCreatedEvent",
    "DrsVmPoweredOnEvent",
    "DrsVmMigratedEvent",
    "VmPoweredOnEvent",
    "VmPoweredOffEvent",
    "VmSuspendedEvent",
    "VmRemovedEvent",
    "VmGuestShutdownEvent",
    "VmMigratedEvent",
    "VmRelocatedEvent",
];

/// How many events one `ReadNextEvents` asks for unless
/// [`VsphereBackend::with_event_page_size`] says otherwise.
pub const DEFAULT_EVENT_PAGE: i32 = 100;

/// Where the VCH's containerVMs and files go.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The datacenter.
    pub datacenter: ManagedObjectReference,
    /// The VM folder containerVMs are created in (and listed from).
    pub folder: ManagedObjectReference,
    /// The resource pool containerVMs run in.
    pub pool: ManagedObjectReference,
    /// The host to place VMs on (standalone ESX), if any.
    pub host: Option<ManagedObjectReference>,
    /// The datastore of the VCH's folder.
    pub datastore: String,
    /// The VCH's folder on it.
    pub vch_dir: String,
    /// The appliance VM, used to create child disks by attaching them (as VIC does).
    pub appliance: Option<ManagedObjectReference>,
}

impl Placement {
    /// Finds (and creates where missing) the placement of VCH `vch_name`:
    ///
    /// - the default datacenter (the inventory must hold exactly one);
    /// - a VM folder named `vch_name` under the datacenter's VM folder, created when
    ///   missing. A standalone ESXi host's VM folder takes no sub-folders: there the
    ///   datacenter's VM folder itself is used (on such a host it holds every VM);
    /// - the default resource pool: the root pool of the first cluster (by name),
    ///   else of the first standalone host, which is then also [`Placement::host`];
    /// - the datastore named `datastore`, or the only (else the first by name) one;
    /// - `vch_dir = vch_name`;
    /// - the appliance: the VM named `vch_name` in that folder, if there is one.
    ///
    /// Errors: [`Error::InvalidInput`] for an unusable `vch_name`, several
    /// datacenters, or something other than a folder named `vch_name` in the VM
    /// folder; [`Error::NotFound`] for a missing datastore, datacenter or compute
    /// resource.
    pub async fn discover(
        client: &Client,
        vch_name: &str,
        datastore: Option<&str>,
    ) -> Result<Placement> {
        discover::discover(client, vch_name, datastore).await
    }

    /// This placement with `vm` as the appliance (see [`Placement::appliance`]).
    pub fn with_appliance(mut self, vm: ManagedObjectReference) -> Self {
        self.appliance = Some(vm);
        self
    }
}

/// The port layer's primitives on a vim25 client. Cheap to share (`Arc`); calls run
/// concurrently, except child-disk creation, which goes through the appliance VM
/// one disk at a time.
pub struct VsphereBackend {
    client: Client,
    placement: Placement,
    /// Datastores by name (reference and browser), looked up on first use.
    datastores: std::sync::Mutex<HashMap<String, files::DatastoreRefs>>,
    /// The event scope: see [`inventory`].
    event_scope: OnceCell<ManagedObjectReference>,
    /// Serializes attach/detach on the appliance (two disks must not pick one slot).
    appliance_lock: Mutex<()>,
    event_page: i32,
}

impl std::fmt::Debug for VsphereBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VsphereBackend")
            .field("server", &self.describe())
            .field("placement", &self.placement)
            .finish_non_exhaustive()
    }
}

impl VsphereBackend {
    /// A backend on `client` placing things at `placement`. Nothing is read until
    /// the first call.
    pub fn new(client: Client, placement: Placement) -> Self {
        VsphereBackend {
            client,
            placement,
            datastores: Default::default(),
            event_scope: OnceCell::new(),
            appliance_lock: Mutex::new(()),
            event_page: DEFAULT_EVENT_PAGE,
        }
    }

    /// Reads events `n` at a time (at least 1; [`DEFAULT_EVENT_PAGE`] unless set).
    pub fn with_event_page_size(mut self, n: i32) -> Self {
        self.event_page = n.max(1);
        self
    }

    /// The placement.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn datacenter(&self) -> Datacenter {
        Datacenter::new(&self.client, self.placement.datacenter.clone())
    }

    fn vm_object(&self, vm: &ManagedObjectReference) -> VirtualMachine {
        VirtualMachine::new(&self.client, vm.clone())
    }

    /// `spec` with a `files.vmPathName` on the VCH's datastore when it has none (the
    /// server then names the VM's folder after the VM).
    fn with_vm_path(&self, spec: &VirtualMachineConfigSpec) -> VirtualMachineConfigSpec {
        let mut spec = spec.clone();
        let has_path = spec
            .files
            .as_ref()
            .and_then(|f| f.vm_path_name.as_deref())
            .is_some_and(|p| !p.is_empty());
        if !has_path {
            let files = spec
                .files
                .get_or_insert_with(VirtualMachineFileInfo::default);
            files.vm_path_name = Some(format!("[{}]", self.placement.datastore));
        }
        spec
    }
}

/// A vSphere error met while doing `during` to `vm`: `ManagedObjectNotFound` is
/// [`Error::NotFound`]; the rest as [`Error::from_vim25`] says (`state_change`: a
/// power operation or destroy, where `InvalidState` means someone else moved first).
pub(crate) fn vm_error(
    e: vim25::Error,
    vm: &ManagedObjectReference,
    during: &str,
    state_change: bool,
) -> Error {
    if e.fault_name() == Some("ManagedObjectNotFound") {
        return Error::not_found("VM", vm.value.clone());
    }
    Error::from_vim25(e, &format!("VM {}", vm.value), during, state_change)
}

#[async_trait]
impl Backend for VsphereBackend {
    fn describe(&self) -> String {
        match self.client.url() {
            Some(url) => {
                // Credentials may ride in the URL; they must not reach a log line.
                let mut url = url.clone();
                let _ = url.set_password(None);
                let _ = url.set_username("");
                format!("vsphere {url}")
            }
            None => "vsphere".to_string(),
        }
    }

    fn vch_folder(&self) -> DatastorePath {
        DatastorePath::new(
            self.placement.datastore.clone(),
            self.placement.vch_dir.clone(),
        )
    }

    async fn create_vm(&self, spec: &VirtualMachineConfigSpec) -> Result<ManagedObjectReference> {
        let spec = self.with_vm_path(spec);
        let name = spec.name.clone().unwrap_or_default();
        let folder = Folder::new(&self.client, self.placement.folder.clone());
        let pool = ResourcePool::new(&self.client, self.placement.pool.clone());
        let host = self
            .placement
            .host
            .as_ref()
            .map(|h| HostSystem::new(&self.client, h.clone()));
        let created = async {
            folder
                .create_vm(&spec, &pool, host.as_ref())
                .await?
                .wait()
                .await
        }
        .await;
        match created {
            Ok(vm) => Ok(vm.reference().clone()),
            Err(e) => match e.fault_name().map(str::to_owned).as_deref() {
                Some("DuplicateName") => Err(Error::Exists {
                    kind: "VM",
                    id: name,
                }),
                // A server that does not check names (govmomi's simulator) trips
                // over the first VM's files instead: the same clash, by name.
                Some("FileAlreadyExists") if !name.is_empty() => {
                    match self.vm_by_name(&name, VmDetail::Summary).await {
                        Ok(Some(_)) => Err(Error::Exists {
                            kind: "VM",
                            id: name,
                        }),
                        _ => Err(Error::Vim25(e)),
                    }
                }
                _ => Err(Error::from_vim25(e, &format!("VM {name}"), "create", false)),
            },
        }
    }

    async fn reconfigure_vm(
        &self,
        vm: &ManagedObjectReference,
        spec: &VirtualMachineConfigSpec,
    ) -> Result<()> {
        let target = self.vm_object(vm);
        async { target.reconfigure(spec).await?.wait().await }
            .await
            .map_err(|e| vm_error(e, vm, "reconfigure", false))
    }

    async fn power_on(&self, vm: &ManagedObjectReference) -> Result<()> {
        let target = self.vm_object(vm);
        async { target.power_on().await?.wait().await }
            .await
            .map_err(|e| vm_error(e, vm, "power on", true))
    }

    async fn power_off(&self, vm: &ManagedObjectReference) -> Result<()> {
        let target = self.vm_object(vm);
        async { target.power_off().await?.wait().await }
            .await
            .map_err(|e| vm_error(e, vm, "power off", true))
    }

    async fn shutdown_guest(&self, vm: &ManagedObjectReference) -> Result<()> {
        self.vm_object(vm)
            .shutdown_guest()
            .await
            .map_err(|e| vm_error(e, vm, "guest shutdown", true))
    }

    async fn destroy_vm(&self, vm: &ManagedObjectReference) -> Result<()> {
        self.vm_object(vm)
            .destroy_and_wait()
            .await
            .map_err(|e| vm_error(e, vm, "destroy", true))
    }

    async fn vm(&self, vm: &ManagedObjectReference, detail: VmDetail) -> Result<VmRecord> {
        record::read_one(&self.client, vm, detail).await
    }

    async fn vm_by_name(&self, name: &str, detail: VmDetail) -> Result<Option<VmRecord>> {
        let Some(vm) = discover::find_child(&self.client, &self.placement.folder, name).await?
        else {
            return Ok(None);
        };
        if vm.type_ != "VirtualMachine" {
            return Ok(None);
        }
        match record::read_one(&self.client, &vm, detail).await {
            Ok(r) => Ok(Some(r)),
            // Destroyed between the lookup and the read: it is not there.
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_vms(&self, detail: VmDetail) -> Result<Vec<VmRecord>> {
        record::list(&self.client, &self.placement.folder, detail).await
    }

    async fn wait_vm(
        &self,
        vm: &ManagedObjectReference,
        limit: Duration,
        until: VmPredicate<'_>,
    ) -> Result<VmRecord> {
        record::wait(&self.client, vm, limit, until).await
    }

    async fn make_dir(&self, dir: &DatastorePath) -> Result<()> {
        files::make_dir(self, dir).await
    }

    async fn upload(
        &self,
        path: &DatastorePath,
        body: Box<dyn AsyncRead + Send + Unpin>,
        len: u64,
    ) -> Result<()> {
        files::upload(self, path, body, len).await
    }

    async fn download(&self, path: &DatastorePath) -> Result<Vec<u8>> {
        files::download(self, path).await
    }

    async fn delete_file(&self, path: &DatastorePath) -> Result<()> {
        files::delete_file(self, path).await
    }

    async fn move_file(&self, from: &DatastorePath, to: &DatastorePath) -> Result<()> {
        files::move_file(self, from, to).await
    }

    async fn list_dir(&self, dir: &DatastorePath) -> Result<Vec<String>> {
        files::list_dir(self, dir).await
    }

    async fn exists(&self, path: &DatastorePath) -> Result<bool> {
        files::exists(self, path).await
    }

    async fn create_disk(
        &self,
        path: &DatastorePath,
        capacity_kb: i64,
        parent: Option<&DatastorePath>,
    ) -> Result<()> {
        files::create_disk(self, path, capacity_kb, parent).await
    }

    async fn delete_disk(&self, path: &DatastorePath) -> Result<()> {
        files::delete_disk(self, path).await
    }

    async fn vm_events(&self, since: Option<&DateTime>) -> Result<Vec<VmEvent>> {
        inventory::vm_events(self, since).await
    }

    async fn network_backing(&self, name: &str) -> Result<AnyVirtualDeviceBackingInfo> {
        inventory::network_backing(self, name).await
    }

    async fn port_groups(&self) -> Result<Vec<String>> {
        inventory::port_groups(self).await
    }
}
