//! Handles: a snapshot of one container plus the changes to apply at commit.

use std::collections::BTreeMap;

use vic_config::model::{ExecutorConfig, SessionConfig};
use vim25::object::{device, DatastorePath};
use vim25::types::{
    AnyVirtualDevice, AnyVirtualDeviceConfigSpec, ManagedObjectReference,
    VirtualDeviceConfigSpecOperation, VirtualMachineConfigSpec,
};

use super::state::{derive_state, ContainerState};
use crate::backend::{PowerState, VmRecord};
use crate::{ContainerId, Error, Result};

/// The state a commit should leave the container in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    /// Powered on, sessions started.
    Running,
    /// Powered off.
    Stopped,
}

/// What to do with a device's backing file at commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOp {
    /// The file exists already (an ISO, a volume disk being attached).
    Keep,
    /// Create the file with the device (a new disk, child of its parent's).
    Create,
}

/// A snapshot of one container and the changes to apply to it.
///
/// Getting a handle reads vSphere once; editing it (its executor config, its
/// devices, its target state) never touches vSphere. [`Exec::commit`](super::Exec::commit)
/// applies the edits, guarded by the snapshot's `changeVersion`: when someone
/// else changed the VM in between, the commit fails with
/// [`Error::Conflict`](crate::Error::Conflict) and the caller takes a fresh handle.
#[derive(Debug, Clone)]
pub struct Handle {
    pub(crate) id: ContainerId,
    /// The VM as read; `None` for a container not created yet.
    pub(crate) vm: Option<VmRecord>,
    /// The executor config as decoded at the snapshot (what deltas are taken from).
    pub(crate) original_config: ExecutorConfig,
    /// The executor config to commit: edit it through [`Handle::config_mut`].
    pub(crate) config: ExecutorConfig,
    /// For a new container: the create spec without devices and extraConfig.
    pub(crate) create: Option<VirtualMachineConfigSpec>,
    /// Devices as of the snapshot (or the create spec's defaults for a new one).
    pub(crate) devices: Vec<AnyVirtualDevice>,
    /// Device changes to apply.
    pub(crate) device_changes: Vec<AnyVirtualDeviceConfigSpec>,
    pub(crate) target: Option<TargetState>,
    pub(crate) next_key: i32,
}

impl Handle {
    pub(crate) fn from_vm(id: ContainerId, vm: VmRecord, config: ExecutorConfig) -> Self {
        let devices = vm.devices.clone();
        Handle {
            id,
            vm: Some(vm),
            original_config: config.clone(),
            config,
            create: None,
            devices,
            device_changes: Vec::new(),
            target: None,
            next_key: -1,
        }
    }

    pub(crate) fn new_container(
        id: ContainerId,
        config: ExecutorConfig,
        create: VirtualMachineConfigSpec,
        devices: Vec<AnyVirtualDevice>,
    ) -> Self {
        Handle {
            id,
            vm: None,
            original_config: ExecutorConfig::default(),
            config,
            create: Some(create),
            devices,
            device_changes: Vec::new(),
            target: None,
            next_key: -1,
        }
    }

    /// The container's ID (also its VM's name).
    pub fn id(&self) -> &ContainerId {
        &self.id
    }

    /// Whether the container has no VM yet (the commit creates it).
    pub fn is_new(&self) -> bool {
        self.vm.is_none()
    }

    /// The containerVM, once created.
    pub fn vm(&self) -> Option<&ManagedObjectReference> {
        self.vm.as_ref().map(|v| &v.reference)
    }

    /// The VM's record as read for this handle.
    pub fn vm_record(&self) -> Option<&VmRecord> {
        self.vm.as_ref()
    }

    /// The VM's `changeVersion` at the snapshot.
    pub fn change_version(&self) -> Option<&str> {
        self.vm.as_ref().and_then(|v| v.change_version.as_deref())
    }

    /// The VM's power state at the snapshot (`PoweredOff` for a new container).
    pub fn power_state(&self) -> PowerState {
        self.vm
            .as_ref()
            .map(|v| v.power_state)
            .unwrap_or(PowerState::PoweredOff)
    }

    /// The container's state at the snapshot.
    pub fn state(&self) -> ContainerState {
        derive_state(self.power_state(), &self.original_config, self.is_new())
    }

    /// The executor config to commit.
    pub fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    /// The executor config to commit, for editing. Only keys that differ from the
    /// snapshot are written at commit.
    pub fn config_mut(&mut self) -> &mut ExecutorConfig {
        &mut self.config
    }

    /// The executor config as it was at the snapshot.
    pub fn original_config(&self) -> &ExecutorConfig {
        &self.original_config
    }

    /// The target state, if one was set.
    pub fn target(&self) -> Option<TargetState> {
        self.target
    }

    /// Renames the container (its `common/name`; the VM keeps its ID as its name).
    /// A hidden key, so a running container can be renamed too. Refused with
    /// [`Error::InvalidInput`] (the handle unchanged): an empty name, one over 255
    /// bytes, or one with control characters. Whether the name is free among the
    /// VCH's containers is the caller's to decide (a Docker front end keeps its
    /// own name registry).
    pub fn rename(&mut self, name: &str) -> Result<()> {
        if name.trim().is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
            return Err(Error::InvalidInput(format!(
                "{name:?} cannot name a container: it must be 1 to 255 bytes without \
                 control characters"
            )));
        }
        self.config.common.name = Some(name.to_string());
        Ok(())
    }

    /// Sets the state the commit leaves the container in.
    pub fn set_target(&mut self, target: TargetState) {
        self.target = Some(target);
    }

    /// The devices as they will be after commit: the snapshot's, with pending edits
    /// and removals applied and pending additions appended.
    pub fn devices(&self) -> Vec<AnyVirtualDevice> {
        let mut out = self.devices.clone();
        for change in &self.device_changes {
            let d = &change.device;
            match change.operation {
                Some(VirtualDeviceConfigSpecOperation::Add) => out.push(d.clone()),
                Some(VirtualDeviceConfigSpecOperation::Remove) => out.retain(|x| x.key != d.key),
                Some(VirtualDeviceConfigSpecOperation::Edit) => {
                    if let Some(x) = out.iter_mut().find(|x| x.key == d.key) {
                        *x = d.clone();
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The pending device changes.
    pub fn device_changes(&self) -> &[AnyVirtualDeviceConfigSpec] {
        &self.device_changes
    }

    /// Adds `device` at commit. A device with key 0 or below gets a fresh temporary
    /// (negative) key, which is returned: other new devices may name it as their
    /// controller. vSphere assigns the real key.
    pub fn add_device(&mut self, mut device: AnyVirtualDevice, file: FileOp) -> i32 {
        if device.key >= 0 || self.devices().iter().any(|d| d.key == device.key) {
            device.key = self.fresh_key();
        }
        let key = device.key;
        self.device_changes
            .push(device::add_spec(device, file == FileOp::Create));
        key
    }

    /// Replaces the device with `device.key` at commit (a new device still pending
    /// is replaced in place).
    pub fn edit_device(&mut self, device: AnyVirtualDevice) -> Result<()> {
        if let Some(pending) = self.device_changes.iter_mut().find(|c| {
            c.device.key == device.key
                && matches!(
                    c.operation,
                    Some(
                        VirtualDeviceConfigSpecOperation::Add
                            | VirtualDeviceConfigSpecOperation::Edit
                    )
                )
        }) {
            pending.device = device;
            return Ok(());
        }
        if !self.devices.iter().any(|d| d.key == device.key) {
            return Err(Error::not_found("device", device.key.to_string()));
        }
        let mut spec = device::add_spec(device, false);
        spec.operation = Some(VirtualDeviceConfigSpecOperation::Edit);
        self.device_changes.push(spec);
        Ok(())
    }

    /// Removes the device with `key` at commit (and its file when `destroy_file`).
    /// A device still pending is simply dropped from the pending changes.
    pub fn remove_device(&mut self, key: i32, destroy_file: bool) -> Result<()> {
        let before = self.device_changes.len();
        self.device_changes.retain(|c| {
            !(c.device.key == key && c.operation == Some(VirtualDeviceConfigSpecOperation::Add))
        });
        if self.device_changes.len() != before {
            return Ok(());
        }
        let device = self
            .devices
            .iter()
            .find(|d| d.key == key)
            .cloned()
            .ok_or_else(|| Error::not_found("device", key.to_string()))?;
        self.device_changes.retain(|c| c.device.key != key);
        self.device_changes
            .push(device::remove_spec(device, destroy_file));
        Ok(())
    }

    /// A free `(controller key, unit)` on a controller of one of `kinds`, counting
    /// pending devices.
    pub fn free_slot(&self, kinds: &[device::ControllerKind]) -> Option<(i32, i32)> {
        device::free_slot(&self.devices(), kinds)
    }

    /// The datastore folder of the containerVM's files (`[ds] <id>`).
    pub fn vm_folder(&self) -> Option<DatastorePath> {
        if let Some(vm) = &self.vm {
            return vm.vmx_path.as_ref().map(vmx_folder);
        }
        let files = self.create.as_ref()?.files.as_ref()?;
        let vmx = DatastorePath::parse(files.vm_path_name.as_deref()?)?;
        let dir = if vmx.path.is_empty() {
            self.id.to_string()
        } else {
            vmx.path.trim_end_matches('/').to_string()
        };
        Some(DatastorePath::new(vmx.datastore, dir))
    }

    fn fresh_key(&mut self) -> i32 {
        loop {
            let k = self.next_key;
            self.next_key -= 1;
            if !self.devices().iter().any(|d| d.key == k) {
                return k;
            }
        }
    }

    // ---- sessions ------------------------------------------------------------

    /// Adds a session. On a powered-off (or new) container it is a persistent
    /// session (`sessions`); on a running one an exec (`execs`, non-persistent).
    /// An ID in use is [`Error::Exists`].
    pub fn join_session(&mut self, id: &str, mut session: SessionConfig) -> Result<()> {
        if id.is_empty() || id.contains('|') {
            return Err(Error::InvalidInput(format!(
                "session ID {id:?} must be non-empty and without '|'"
            )));
        }
        if self.config.sessions.contains_key(id) || self.config.execs.contains_key(id) {
            return Err(Error::Exists {
                kind: "session",
                id: id.to_string(),
            });
        }
        session.common.id.get_or_insert_with(|| id.to_string());
        if self.power_state() == PowerState::PoweredOn {
            self.config.execs.insert(id.to_string(), session);
        } else {
            self.config.sessions.insert(id.to_string(), session);
        }
        Ok(())
    }

    /// The session (or exec) `id`.
    pub fn session(&self, id: &str) -> Result<&SessionConfig> {
        self.config
            .sessions
            .get(id)
            .or_else(|| self.config.execs.get(id))
            .ok_or_else(|| Error::not_found("session", id))
    }

    fn session_mut(&mut self, id: &str) -> Result<&mut SessionConfig> {
        if self.config.sessions.contains_key(id) {
            return Ok(self.config.sessions.get_mut(id).expect("checked"));
        }
        self.config
            .execs
            .get_mut(id)
            .ok_or_else(|| Error::not_found("session", id))
    }

    /// Marks the session to be started by the guest (its `active` flag).
    pub fn bind_session(&mut self, id: &str) -> Result<()> {
        self.session_mut(id)?.active = Some(true);
        Ok(())
    }

    /// Clears the session's `active` flag.
    pub fn unbind_session(&mut self, id: &str) -> Result<()> {
        self.session_mut(id)?.active = Some(false);
        Ok(())
    }

    /// Removes the session (or exec).
    pub fn remove_session(&mut self, id: &str) -> Result<SessionConfig> {
        if let Some(s) = self.config.sessions.remove(id) {
            return Ok(s);
        }
        self.config
            .execs
            .remove(id)
            .ok_or_else(|| Error::not_found("session", id))
    }

    /// The sessions and execs, by ID.
    pub fn sessions(&self) -> BTreeMap<&str, &SessionConfig> {
        self.config
            .sessions
            .iter()
            .chain(self.config.execs.iter())
            .map(|(k, v)| (k.as_str(), v))
            .collect()
    }
}

/// The folder holding the `.vmx` file `vmx` (its directory; the datastore's root
/// for a file there).
pub(crate) fn vmx_folder(vmx: &DatastorePath) -> DatastorePath {
    let dir = vmx.path.rsplit_once('/').map_or("", |(d, _)| d);
    DatastorePath::new(vmx.datastore.clone(), dir)
}
