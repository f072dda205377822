//! Exec: containers as VMs, edited through handles and applied by commit.
//!
//! ```no_run
//! # async fn demo(exec: vic_portlayer::exec::Exec, id: vic_portlayer::ContainerId) -> vic_portlayer::Result<()> {
//! use vic_portlayer::exec::TargetState;
//! let mut h = exec.get(&id).await?;          // reads vSphere once
//! h.set_target(TargetState::Running);        // edits touch nothing
//! match exec.commit(h).await {
//!     Err(e) if e.is_conflict() => { /* someone else won: take a fresh handle, redo */ }
//!     other => { other?; }
//! }
//! # Ok(()) }
//! ```

mod commit;
mod handle;
mod state;

use std::sync::Arc;
use std::time::Duration;

use vic_config::model::{Build, ExecutorConfig};
use vim25::object::device::{self, ControllerKind};
use vim25::object::DatastorePath;
use vim25::types::{
    AnyVirtualDevice, ManagedObjectReference, ParaVirtualSCSIController, VirtualIDEController,
    VirtualMachineConfigSpec, VirtualMachineFileInfo, VirtualSCSIController, VirtualSCSISharing,
};

pub use handle::{FileOp, Handle, TargetState};
pub use state::{derive_state, ContainerState};

use crate::backend::{Backend, PowerState, VmDetail, VmRecord};
use crate::events::{EventHub, EventKind};
use crate::{ContainerId, Error, Result};

/// The layout version this crate writes (`version/PluginVersion`).
pub const PLUGIN_VERSION: u32 = 10;

/// The key of the SCSI controller in a create spec (temporary; vSphere assigns the
/// real one, usually 1000).
pub const SCSI_CONTROLLER_KEY: i32 = -100;

/// How containerVMs are shaped and how long commits wait.
#[derive(Debug, Clone)]
pub struct ExecSettings {
    /// The datastore containerVM folders go on.
    pub datastore: String,
    /// The VCH's `bootstrap.iso`, attached as every containerVM's CD-ROM.
    pub bootstrap_iso: DatastorePath,
    /// Guest OS identifier.
    pub guest_id: String,
    /// Virtual CPUs.
    pub num_cpus: i32,
    /// Memory in MB.
    pub memory_mb: i64,
    /// How long a graceful stop (guest shutdown) may take before a hard power-off.
    pub stop_grace: Duration,
    /// How long a hard power-off may take.
    pub power_off_limit: Duration,
    /// How long a commit waits for the sessions to report `started`.
    pub start_limit: Duration,
}

impl ExecSettings {
    /// Settings for containerVMs on `datastore`, booting `bootstrap_iso`, with VIC's
    /// defaults: `other3xLinux64Guest`, 2 vCPUs, 2048 MB, 10 s grace, 30 s limits.
    pub fn new(datastore: impl Into<String>, bootstrap_iso: DatastorePath) -> Self {
        ExecSettings {
            datastore: datastore.into(),
            bootstrap_iso,
            guest_id: "other3xLinux64Guest".into(),
            num_cpus: 2,
            memory_mb: 2048,
            stop_grace: Duration::from_secs(10),
            power_off_limit: Duration::from_secs(30),
            start_limit: Duration::from_secs(30),
        }
    }
}

/// A container as listed or inspected.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    /// The ID.
    pub id: ContainerId,
    /// The VM.
    pub vm: ManagedObjectReference,
    /// Derived state.
    pub state: ContainerState,
    /// The VM's power state.
    pub power_state: PowerState,
    /// The decoded executor config.
    pub config: ExecutorConfig,
    /// The VM's change version.
    pub change_version: Option<String>,
}

impl ContainerInfo {
    /// The container's name (`common/name`), if set.
    pub fn name(&self) -> Option<&str> {
        self.config.common.name.as_deref()
    }

    /// The exit status of the primary session (the one named by the container ID,
    /// else the first), if the guest reported one.
    pub fn exit_status(&self) -> Option<i64> {
        primary_session(&self.id, &self.config).and_then(|s| s.exit_status)
    }
}

/// The primary session: the one keyed by the container's ID, else the first.
pub fn primary_session<'a>(
    id: &ContainerId,
    config: &'a ExecutorConfig,
) -> Option<&'a vic_config::model::SessionConfig> {
    config
        .sessions
        .get(id.as_str())
        .or_else(|| config.sessions.values().next())
}

/// The exec service: get handles, commit them, list, inspect, remove, wait.
/// Cheap to clone; commits on different containers run concurrently.
#[derive(Clone)]
pub struct Exec {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) settings: Arc<ExecSettings>,
    pub(crate) events: EventHub,
    pub(crate) transient:
        Arc<std::sync::Mutex<std::collections::HashMap<ContainerId, ContainerState>>>,
}

impl std::fmt::Debug for Exec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exec")
            .field("backend", &self.backend.describe())
            .field("settings", &self.settings)
            .finish()
    }
}

impl Exec {
    /// An exec service on `backend`, publishing its events to `events`.
    pub fn new(backend: Arc<dyn Backend>, settings: ExecSettings, events: EventHub) -> Self {
        Exec {
            backend,
            settings: Arc::new(settings),
            events,
            transient: Default::default(),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The settings.
    pub fn settings(&self) -> &ExecSettings {
        &self.settings
    }

    /// A handle for a new container with `config` (its `common.id` is set to `id`,
    /// its layout version to this crate's). The create spec holds the guest OS,
    /// CPU, memory, a paravirtual SCSI controller and the bootstrap CD-ROM; the
    /// storage, network and interaction areas add the disk, NICs and serial ports.
    pub fn create_handle(&self, id: ContainerId, mut config: ExecutorConfig) -> Result<Handle> {
        let s = &self.settings;
        config.common.id = Some(id.to_string());
        config
            .version
            .get_or_insert_with(Build::default)
            .plugin_version
            .get_or_insert(PLUGIN_VERSION);
        if config.create_time.is_none() {
            config.create_time = Some(now_nanos());
        }
        let spec = VirtualMachineConfigSpec {
            name: Some(id.to_string()),
            guest_id: Some(s.guest_id.clone()),
            num_cpus: Some(s.num_cpus),
            memory_mb: Some(s.memory_mb),
            files: Some(VirtualMachineFileInfo {
                vm_path_name: Some(format!("[{}] {}/{}.vmx", s.datastore, id, id)),
                ..Default::default()
            }),
            ..Default::default()
        };
        // The devices every VM gets from vSphere (two IDE controllers), so that
        // slots can be chosen before the VM exists.
        let mut devices = Vec::new();
        for (key, bus) in [(200, 0), (201, 1)] {
            let mut ide: AnyVirtualDevice = VirtualIDEController {
                base_: vim25::types::VirtualController {
                    bus_number: bus,
                    ..Default::default()
                },
            }
            .into();
            ide.key = key;
            devices.push(ide);
        }
        let mut h = Handle::new_container(id, config, spec, devices);
        let scsi: AnyVirtualDevice = ParaVirtualSCSIController {
            base_: VirtualSCSIController {
                shared_bus: VirtualSCSISharing::NoSharing,
                ..Default::default()
            },
        }
        .into();
        let mut scsi = scsi;
        scsi.key = SCSI_CONTROLLER_KEY;
        h.device_changes.push(device::add_spec(scsi, false));
        let slot = h.free_slot(&[ControllerKind::Ide]).ok_or_else(|| {
            Error::InvalidInput("no free IDE slot for the bootstrap CD-ROM".into())
        })?;
        h.add_device(device::new_cdrom(&s.bootstrap_iso, slot), FileOp::Keep);
        Ok(h)
    }

    /// A handle on the existing container `id` (one read of its VM).
    pub async fn get(&self, id: &ContainerId) -> Result<Handle> {
        let vm = self
            .backend
            .vm_by_name(id.as_str(), VmDetail::Full)
            .await?
            .ok_or_else(|| Error::not_found("container", id.as_str()))?;
        let config = decode_config(&vm)?;
        Ok(Handle::from_vm(id.clone(), vm, config))
    }

    /// Every container of the VCH (VMs named by a container ID), from one
    /// retrieval.
    pub async fn list(&self) -> Result<Vec<ContainerInfo>> {
        let vms = self.backend.list_vms(VmDetail::Summary).await?;
        let mut out = Vec::new();
        for vm in vms {
            let Ok(id) = vm.name.parse::<ContainerId>() else {
                continue;
            };
            match self.info(id, vm) {
                Ok(info) => out.push(info),
                // One container with unreadable config must not hide the others.
                Err(e) => {
                    tracing::warn!(error = %e, "skipping a containerVM whose config does not decode")
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// One container.
    pub async fn inspect(&self, id: &ContainerId) -> Result<ContainerInfo> {
        let vm = self
            .backend
            .vm_by_name(id.as_str(), VmDetail::Summary)
            .await?
            .ok_or_else(|| Error::not_found("container", id.as_str()))?;
        self.info(id.clone(), vm)
    }

    fn info(&self, id: ContainerId, vm: VmRecord) -> Result<ContainerInfo> {
        let config = decode_config(&vm)?;
        let derived = derive_state(vm.power_state, &config, false);
        let state = self
            .transient
            .lock()
            .map(|t| t.get(&id).copied())
            .unwrap_or(None)
            .unwrap_or(derived);
        Ok(ContainerInfo {
            id,
            vm: vm.reference,
            state,
            power_state: vm.power_state,
            config,
            change_version: vm.change_version,
        })
    }

    pub(crate) fn set_transient(&self, id: &ContainerId, state: Option<ContainerState>) {
        if let Ok(mut t) = self.transient.lock() {
            match state {
                Some(s) => {
                    t.insert(id.clone(), s);
                }
                None => {
                    t.remove(id);
                }
            }
        }
    }

    /// Removes the container's VM and its files. A running container is refused
    /// with [`Error::InUse`]-free [`Error::InvalidInput`] unless `force`, which powers
    /// it off first.
    pub async fn remove(&self, id: &ContainerId, force: bool) -> Result<()> {
        let vm = self
            .backend
            .vm_by_name(id.as_str(), VmDetail::Summary)
            .await?
            .ok_or_else(|| Error::not_found("container", id.as_str()))?;
        if vm.power_state != PowerState::PoweredOff {
            if !force {
                return Err(Error::InvalidInput(format!(
                    "container {id} is running; stop it first or remove with force"
                )));
            }
            self.backend
                .power_off(&vm.reference)
                .await
                .map_err(|e| conflict_context(e, id, "power off"))?;
        }
        self.set_transient(id, Some(ContainerState::Removing));
        let r = async {
            self.detach_foreign_disks(id, &vm.reference).await?;
            self.backend.destroy_vm(&vm.reference).await
        }
        .await;
        self.set_transient(id, None);
        r?;
        self.events.publish(id, EventKind::Removed);
        Ok(())
    }

    /// Detaches (keeping their files) the disks of the VM whose files lie outside
    /// its folder, volumes above all: vSphere's `Destroy` deletes every disk
    /// attached to the VM. The container's own disks, in its folder, go with it.
    async fn detach_foreign_disks(
        &self,
        id: &ContainerId,
        vm: &vim25::types::ManagedObjectReference,
    ) -> Result<()> {
        let full = self.backend.vm(vm, VmDetail::Full).await?;
        let folder = full.vmx_path.as_ref().map(handle::vmx_folder);
        let foreign: Vec<_> = full
            .devices
            .iter()
            .filter(|d| {
                let chain = crate::storage::disk_chain(d);
                let Some(top) = chain.first() else {
                    return false;
                };
                !folder.as_ref().is_some_and(|f| inside(f, top))
            })
            .cloned()
            .collect();
        if foreign.is_empty() {
            return Ok(());
        }
        let spec = VirtualMachineConfigSpec {
            change_version: full.change_version.clone(),
            device_change: foreign
                .into_iter()
                .map(|d| device::remove_spec(d, false))
                .collect(),
            ..Default::default()
        };
        self.backend
            .reconfigure_vm(vm, &spec)
            .await
            .map_err(|e| conflict_context(e, id, "detach volumes"))
    }

    /// Waits until session `session` of container `id` has exited (its `status` key
    /// is set, or the VM is off) and returns its exit status (`None` when the VM
    /// stopped without the guest reporting one).
    pub async fn wait_session(
        &self,
        id: &ContainerId,
        session: &str,
        limit: Duration,
    ) -> Result<Option<i64>> {
        let vm = self
            .backend
            .vm_by_name(id.as_str(), VmDetail::Summary)
            .await?
            .ok_or_else(|| Error::not_found("container", id.as_str()))?;
        let session_owned = session.to_string();
        let check = move |r: &VmRecord| -> bool {
            if r.power_state == PowerState::PoweredOff {
                return true;
            }
            match decode_config(r) {
                Ok(c) => c
                    .sessions
                    .get(&session_owned)
                    .or_else(|| c.execs.get(&session_owned))
                    .is_some_and(|s| s.exit_status.is_some()),
                Err(_) => false,
            }
        };
        let config = decode_config(&vm)?;
        if !config.sessions.contains_key(session) && !config.execs.contains_key(session) {
            return Err(Error::not_found("session", session));
        }
        let done = if check(&vm) {
            vm
        } else {
            self.backend.wait_vm(&vm.reference, limit, &check).await?
        };
        let config = decode_config(&done)?;
        Ok(config
            .sessions
            .get(session)
            .or_else(|| config.execs.get(session))
            .and_then(|s| s.exit_status))
    }
}

/// Decodes a containerVM's executor config from its extraConfig.
pub fn decode_config(vm: &VmRecord) -> Result<ExecutorConfig> {
    Ok(vic_config::from_extra_config::<ExecutorConfig>(
        &vm.extra_config,
    )?)
}

pub(crate) fn conflict_context(e: Error, id: &ContainerId, during: &str) -> Error {
    match e {
        Error::Vim25(v) => Error::from_vim25(v, &format!("container {id}"), during, true),
        Error::Conflict { message, .. } => Error::Conflict {
            what: format!("container {id}"),
            during: during.to_string(),
            message,
        },
        other => other,
    }
}

pub(crate) fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Whether `path` lies inside the folder `folder` (at any depth); a folder at the
/// datastore's root holds nothing.
fn inside(folder: &DatastorePath, path: &DatastorePath) -> bool {
    let dir = folder.path.trim_matches('/');
    !dir.is_empty()
        && folder.datastore == path.datastore
        && path
            .path
            .trim_start_matches('/')
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}
