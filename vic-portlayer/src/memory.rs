//! The in-memory backend: VMs, datastore files, virtual disks and events kept in
//! memory, with vSphere's behaviour for everything [`Backend`] describes, so that
//! code built on the port layer is unit-tested without a server.
//!
//! What it models, as vSphere does:
//!
//! - **VMs** get vSphere's default devices (PCI controller 100, IDE controllers 200
//!   and 201, PS/2 controller 300, SIO controller 400, video card 500, keyboard 600,
//!   pointing device 700, VMCI device 12000), then the spec's `deviceChange` in
//!   order. A new device whose key is 0 or below gets a fresh positive key (from its
//!   type's range: SCSI controllers from 1000, disks from 2000, CD-ROMs from 3000,
//!   NICs from 4000, serial ports from 9000, …) and every device of the same spec
//!   naming the temporary key as its controller is rewired to it. A unit number
//!   already taken on a controller, a controller key naming no device, an edit or
//!   removal of a device that does not exist are refused with
//!   [`Error::InvalidInput`]. A NIC on a port group gets its network reference (an
//!   unknown port group is [`Error::NotFound`]) and a generated MAC address.
//! - **Disks**: `fileOperation = create` creates the disk file (an empty file name
//!   is named in the VM's folder, `<vm>.vmdk`, `<vm>_1.vmdk`, …; a parent backing
//!   needs its parent disk); without a file operation the disk file must exist;
//!   removal with `destroy` deletes it.
//! - **Change versions**: every reconfigure bumps the VM's `changeVersion` (a
//!   decimal counter starting at `1`); a spec carrying another one is refused with
//!   [`Error::Conflict`] and nothing is applied. Every call is all-or-nothing.
//! - **Power states**: an operation in the wrong state is a conflict (vSphere's
//!   `InvalidPowerState`); a guest shutdown is obeyed at once.
//! - **Files** of a powered-on VM (its `.vmx` and disks) are locked: deleting them
//!   is [`Error::InUse`].
//! - **Events** as vSphere logs them (`VmBeingCreatedEvent`/`VmCreatedEvent`,
//!   `VmStartingEvent`/`VmPoweredOnEvent`, `VmStoppingEvent`/`VmPoweredOffEvent`,
//!   `VmGuestShutdownEvent`, `VmSuspendingEvent`/`VmSuspendedEvent`,
//!   `VmReconfiguredEvent`, `VmRemovedEvent`), with increasing keys and times.
//!
//! The `.vmx` file of a VM holds its configuration as `key = "value"` lines and
//! follows every change, so a download of it shows what vSphere's would.
//!
//! Tests play the guest with [`MemoryBackend::guest_write`],
//! [`MemoryBackend::guest_power_off`] and, opt-in, [`MemoryBackend::with_auto_start`].
//!
//! ```
//! # async fn demo() -> vic_portlayer::Result<()> {
//! use std::sync::Arc;
//! use vic_portlayer::backend::{Backend, VmDetail};
//! use vic_portlayer::memory::MemoryBackend;
//! use vim25::types::VirtualMachineConfigSpec;
//!
//! let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new("datastore1", "VCH001"));
//! let vm = backend
//!     .create_vm(&VirtualMachineConfigSpec { name: Some("web".into()), ..Default::default() })
//!     .await?;
//! let record = backend.vm(&vm, VmDetail::Summary).await?;
//! assert_eq!(record.change_version.as_deref(), Some("1"));
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;
use vic_config::model::ExecutorConfig;
use vim25::object::{device, parse_date_time, DatastorePath};
use vim25::types::{
    AnyVirtualDevice, AnyVirtualDeviceBackingInfo, AnyVirtualDeviceConfigSpec, DateTime,
    Description, ManagedObjectReference, VirtualController, VirtualDevice, VirtualDeviceConfigSpec,
    VirtualDeviceConfigSpecFileOperation, VirtualDeviceConfigSpecOperation,
    VirtualDeviceDeviceBackingInfo, VirtualDeviceFileBackingInfo, VirtualEthernetCard,
    VirtualEthernetCardNetworkBackingInfo, VirtualIDEController, VirtualKeyboard,
    VirtualMachineConfigSpec, VirtualMachineVMCIDevice, VirtualMachineVideoCard,
    VirtualPCIController, VirtualPS2Controller, VirtualPointingDevice, VirtualSIOController,
};

use crate::backend::{
    apply_extra_config, unescaped, Backend, PowerState, VmDetail, VmEvent, VmPredicate, VmRecord,
};
use crate::{Error, Result};

/// VMs, files and events kept in memory, with vSphere's behaviour (see the
/// [module docs](self)).
pub struct MemoryBackend {
    datastore: String,
    vch_dir: String,
    datastores: Vec<String>,
    port_groups: Vec<String>,
    auto_start: bool,
    state: Mutex<State>,
    /// A generation counter bumped after every change, for [`Backend::wait_vm`].
    changes: watch::Sender<u64>,
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Counts only: file contents and extraConfig values may hold secrets.
        let st = self.lock();
        f.debug_struct("MemoryBackend")
            .field("vch_folder", &self.vch_folder().to_string())
            .field("datastores", &self.datastores)
            .field("port_groups", &self.port_groups)
            .field("auto_start", &self.auto_start)
            .field("vms", &st.vms.len())
            .field("files", &st.files.nodes.len())
            .field("events", &st.events.len())
            .finish()
    }
}

impl Default for MemoryBackend {
    /// `[datastore1] VCH001`, no port groups.
    fn default() -> Self {
        MemoryBackend::new("datastore1", "VCH001")
    }
}

impl MemoryBackend {
    /// A backend whose VCH folder is `[datastore] vch_dir`. The datastore is the only
    /// one known (add others with [`with_datastores`](Self::with_datastores)); the
    /// VCH folder itself is not created (as on vSphere, make it with
    /// [`Backend::make_dir`]).
    pub fn new(datastore: impl Into<String>, vch_dir: impl Into<String>) -> Self {
        let datastore = datastore.into();
        let vch_dir = normalize(&vch_dir.into()).unwrap_or_default();
        let (changes, _) = watch::channel(0);
        MemoryBackend {
            datastores: vec![datastore.clone()],
            datastore,
            vch_dir,
            port_groups: Vec::new(),
            auto_start: false,
            state: Mutex::new(State::default()),
            changes,
        }
    }

    /// Adds port groups VMs can attach to.
    pub fn with_port_groups(mut self, names: &[&str]) -> Self {
        for n in names {
            if !self.port_groups.iter().any(|p| p == n) {
                self.port_groups.push((*n).to_string());
            }
        }
        self
    }

    /// Adds datastores beside the VCH's (paths on a datastore the backend does not
    /// know are [`Error::NotFound`], as on vSphere).
    pub fn with_datastores(mut self, names: &[&str]) -> Self {
        for n in names {
            if !self.datastores.iter().any(|d| d == n) {
                self.datastores.push((*n).to_string());
            }
        }
        self
    }

    /// Plays a guest that starts every session at once: when a VM powers on, every
    /// session of its executor config (under `sessions`) that has no `started` value
    /// gets `started = "true"`, in the same change as the power-on, as the in-guest
    /// agent would report it. VMs whose extraConfig does not decode as an executor
    /// config are left alone.
    pub fn with_auto_start(mut self) -> Self {
        self.auto_start = true;
        self
    }

    /// Sets extraConfig keys the way the in-guest agent does (through the VMX, not
    /// through a reconfigure): the VM's `changeVersion` does not change, so a handle
    /// taken before the write still commits, and no event is logged. The guest can
    /// only write `guestinfo.` keys, and only while the VM is powered on (else
    /// [`Error::InvalidInput`] and [`Error::Conflict`]). An empty value deletes the
    /// key, as for a reconfigure.
    pub fn guest_write<K: AsRef<str>, V: AsRef<str>>(
        &self,
        vm: &ManagedObjectReference,
        entries: &[(K, V)],
    ) -> Result<()> {
        self.mutate(|st| {
            let v = st.vm(vm)?;
            if v.power != PowerState::PoweredOn {
                return Err(power_conflict(v, "guest write", "the guest is not running"));
            }
            let mut vm_new = v.clone();
            for (k, val) in entries {
                let (k, val) = (k.as_ref(), val.as_ref());
                if !k.starts_with("guestinfo.") {
                    return Err(Error::InvalidInput(format!(
                        "the guest can only set guestinfo. keys, not {k:?}"
                    )));
                }
                check_extra_config_key(k)?;
                if val.is_empty() {
                    vm_new.extra_config.remove(k);
                } else {
                    vm_new.extra_config.insert(k.to_string(), val.to_string());
                }
            }
            let vmx = vmx_text(&vm_new)?;
            st.write_vmx(&vm_new, vmx);
            st.vms.insert(vm_new.id, vm_new);
            Ok(())
        })
    }

    /// The guest halted by itself (an exiting init, a guest `poweroff`): the VM
    /// powers off and a `VmPoweredOffEvent` is logged. A VM that is not powered on is
    /// a conflict.
    pub fn guest_power_off(&self, vm: &ManagedObjectReference) -> Result<()> {
        self.mutate(|st| {
            let v = st.vm_mut(vm)?;
            if v.power != PowerState::PoweredOn {
                return Err(power_conflict(
                    v,
                    "guest power off",
                    "the guest is not running",
                ));
            }
            v.power = PowerState::PoweredOff;
            let v = v.clone();
            st.log(
                &v,
                "VmPoweredOffEvent",
                format!("{} is powered off", v.name),
            );
            Ok(())
        })
    }

    /// Suspends a powered-on VM (a conflict otherwise), logging
    /// `VmSuspendingEvent` and `VmSuspendedEvent`. Not a [`Backend`] operation: the
    /// port layer never suspends, but containers can be found suspended.
    pub fn suspend(&self, vm: &ManagedObjectReference) -> Result<()> {
        self.mutate(|st| {
            let v = st.vm_mut(vm)?;
            if v.power != PowerState::PoweredOn {
                return Err(power_conflict(v, "suspend", "the VM is not powered on"));
            }
            v.power = PowerState::Suspended;
            let v = v.clone();
            st.log(
                &v,
                "VmSuspendingEvent",
                format!("{} is being suspended", v.name),
            );
            st.log(&v, "VmSuspendedEvent", format!("{} is suspended", v.name));
            Ok(())
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the state as it was before
        // the panicking call's final assignment (changes are built on copies).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the state; on success wakes the waiters.
    fn mutate<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let r = {
            let mut st = self.lock();
            f(&mut st)
        };
        if r.is_ok() {
            self.changes.send_modify(|g| *g = g.wrapping_add(1));
        }
        r
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> Result<T>) -> Result<T> {
        f(&self.lock())
    }

    /// The file map key of `p`: a known datastore and a clean path.
    fn file_key(&self, p: &DatastorePath) -> Result<FileKey> {
        if !self.datastores.contains(&p.datastore) {
            return Err(Error::not_found("datastore", p.datastore.clone()));
        }
        Ok(FileKey {
            ds: p.datastore.clone(),
            path: normalize(&p.path)?,
        })
    }

    /// The network reference of port group `name`.
    fn network_ref(&self, name: &str) -> Result<ManagedObjectReference> {
        self.port_groups
            .iter()
            .position(|p| p == name)
            .map(|i| ManagedObjectReference::new("Network", format!("network-{}", i + 1)))
            .ok_or_else(|| Error::not_found("port group", name))
    }

    /// The `.vmx` path of a new VM named `name`.
    fn vmx_path(&self, name: &str, spec: &VirtualMachineConfigSpec) -> Result<FileKey> {
        let given = spec.files.as_ref().and_then(|f| f.vm_path_name.as_deref());
        let given = match given.map(str::trim) {
            None | Some("") => DatastorePath::new(self.datastore.clone(), ""),
            Some(s) => DatastorePath::parse(s).ok_or_else(|| {
                Error::InvalidInput(format!("files.vmPathName {s:?} is not a datastore path"))
            })?,
        };
        let mut key = self.file_key(&given)?;
        if key.path.is_empty() {
            key.path = format!("{name}/{name}.vmx");
        } else if !key.path.ends_with(".vmx") {
            key.path = format!("{}/{name}.vmx", key.path);
        }
        Ok(key)
    }

    /// Applies `changes` to `vm`'s devices and to `files`, vSphere's way (see the
    /// module docs). Works on the values given: callers pass copies and keep them
    /// only on success.
    fn apply_device_changes(
        &self,
        vm: &mut Vm,
        files: &mut Files,
        macs: &mut u32,
        changes: &[AnyVirtualDeviceConfigSpec],
    ) -> Result<()> {
        let mut specs: Vec<VirtualDeviceConfigSpec> =
            changes.iter().map(|c| (**c).clone()).collect();

        // Real keys for new devices, and the temporary keys they replace.
        let mut taken: BTreeSet<i32> = vm.devices.iter().map(|d| d.key).collect();
        let mut remap: BTreeMap<i32, i32> = BTreeMap::new();
        let mut ambiguous: BTreeSet<i32> = BTreeSet::new();
        for s in specs.iter_mut() {
            if s.operation != Some(VirtualDeviceConfigSpecOperation::Add) {
                continue;
            }
            let old = s.device.key;
            if old > 0 && !taken.contains(&old) {
                taken.insert(old);
                continue;
            }
            let new = fresh_key(&s.device, &taken);
            taken.insert(new);
            s.device.key = new;
            if old <= 0 && remap.insert(old, new).is_some() {
                ambiguous.insert(old);
            }
        }
        for (i, s) in specs.iter_mut().enumerate() {
            let Some(ck) = s.device.controller_key else {
                continue;
            };
            if ambiguous.contains(&ck) {
                return Err(Error::InvalidInput(format!(
                    "deviceChange[{i}]: controller key {ck} names more than one new device"
                )));
            }
            if let Some(real) = remap.get(&ck) {
                s.device.controller_key = Some(*real);
            }
        }

        for (i, s) in specs.into_iter().enumerate() {
            match s.operation {
                Some(VirtualDeviceConfigSpecOperation::Add) => {
                    let d = self.configure_device(vm, files, macs, s, i, None)?;
                    vm.devices.push(d);
                }
                Some(VirtualDeviceConfigSpecOperation::Edit) => {
                    let key = s.device.key;
                    let at = vm
                        .devices
                        .iter()
                        .position(|d| d.key == key)
                        .ok_or_else(|| {
                            Error::InvalidInput(format!(
                                "deviceChange[{i}]: no device with key {key} to edit"
                            ))
                        })?;
                    let d = self.configure_device(vm, files, macs, s, i, Some(key))?;
                    vm.devices[at] = d;
                }
                Some(VirtualDeviceConfigSpecOperation::Remove) => {
                    let key = s.device.key;
                    let at = vm
                        .devices
                        .iter()
                        .position(|d| d.key == key)
                        .ok_or_else(|| {
                            Error::InvalidInput(format!(
                                "deviceChange[{i}]: no device with key {key} to remove"
                            ))
                        })?;
                    let removed = vm.devices.remove(at);
                    if s.file_operation == Some(VirtualDeviceConfigSpecFileOperation::Destroy) {
                        if let Some(name) = disk_file_name(&removed) {
                            if let Some(p) = DatastorePath::parse(&name) {
                                let k = self.file_key(&p)?;
                                // Already gone is what was asked for.
                                if matches!(files.get(&k), Some(Node::Disk(_))) {
                                    files.remove_tree(&k);
                                }
                            }
                        }
                    }
                }
                Some(VirtualDeviceConfigSpecOperation::Unrecognized(op)) => {
                    return Err(Error::InvalidInput(format!(
                        "deviceChange[{i}]: unknown operation {op:?}"
                    )))
                }
                None => {
                    return Err(Error::InvalidInput(format!(
                        "deviceChange[{i}]: no operation"
                    )));
                }
            }
        }

        // Every controller key names a device (removing a controller that still has
        // devices is refused too).
        for d in &vm.devices {
            if let Some(ck) = controller_of(d) {
                if !vm.devices.iter().any(|c| c.key == ck) {
                    return Err(Error::InvalidInput(format!(
                        "device {} names controller {ck}, which the VM does not have",
                        d.key
                    )));
                }
            }
        }
        let children: Vec<(i32, i32)> = vm
            .devices
            .iter()
            .filter_map(|d| controller_of(d).map(|c| (c, d.key)))
            .collect();
        for d in vm.devices.iter_mut() {
            let key = d.key;
            if let Some(c) = controller_mut(d) {
                c.device = children
                    .iter()
                    .filter(|(p, _)| *p == key)
                    .map(|(_, k)| *k)
                    .collect();
            }
        }
        Ok(())
    }

    /// One added or edited device, as vSphere completes it: controller and unit,
    /// NIC network and MAC, disk file.
    fn configure_device(
        &self,
        vm: &Vm,
        files: &mut Files,
        macs: &mut u32,
        spec: VirtualDeviceConfigSpec,
        index: usize,
        replacing: Option<i32>,
    ) -> Result<AnyVirtualDevice> {
        let mut d = spec.device;
        let others = || vm.devices.iter().filter(|x| Some(x.key) != replacing);
        if controller_of(&d).is_none() {
            d.controller_key = default_controller(&d);
        }
        if let Some(ck) = controller_of(&d) {
            let controller = vm.devices.iter().find(|c| c.key == ck);
            let units = controller.and_then(unit_count);
            match d.unit_number {
                Some(u) => {
                    if u < 0 || units.is_some_and(|n| u >= n) {
                        return Err(Error::InvalidInput(format!(
                            "deviceChange[{index}]: unit number {u} does not exist on controller {ck}"
                        )));
                    }
                    if others().any(|x| controller_of(x) == Some(ck) && x.unit_number == Some(u)) {
                        return Err(Error::InvalidInput(format!(
                            "deviceChange[{index}]: unit {u} of controller {ck} is taken"
                        )));
                    }
                }
                None => {
                    let start = match controller {
                        Some(AnyVirtualDevice::VirtualPCIController(_)) => 7,
                        _ => 0,
                    };
                    let reserved = controller.and_then(scsi_reserved_unit);
                    let used: BTreeSet<i32> = others()
                        .filter(|x| controller_of(x) == Some(ck))
                        .filter_map(|x| x.unit_number)
                        .collect();
                    let unit = (start..)
                        .take(256)
                        .find(|u| Some(*u) != reserved && !used.contains(u))
                        .filter(|u| units.is_none_or(|n| *u < n))
                        .ok_or_else(|| {
                            Error::InvalidInput(format!(
                                "deviceChange[{index}]: no free unit on controller {ck}"
                            ))
                        })?;
                    d.unit_number = Some(unit);
                }
            }
        } else if matches!(d, AnyVirtualDevice::VirtualDisk(_)) {
            return Err(Error::InvalidInput(format!(
                "deviceChange[{index}]: a disk needs a controller key and unit number"
            )));
        }

        if let Some(card) = ethernet_mut(&mut d) {
            if let Some(AnyVirtualDeviceBackingInfo::VirtualEthernetCardNetworkBackingInfo(b)) =
                card.base_.backing.as_mut()
            {
                b.network = Some(self.network_ref(&b.base_.device_name)?);
            }
            if card.mac_address.as_deref().unwrap_or("").is_empty() {
                *macs = macs.wrapping_add(1);
                let [_, a, b, c] = macs.to_be_bytes();
                card.mac_address = Some(format!("00:50:56:{a:02x}:{b:02x}:{c:02x}"));
                card.address_type.get_or_insert_with(|| "generated".into());
            }
        }

        if let AnyVirtualDevice::VirtualDisk(disk) = &mut d {
            let capacity_kb = if disk.capacity_in_kb > 0 {
                disk.capacity_in_kb
            } else {
                disk.capacity_in_bytes.map(|b| b / 1024).unwrap_or(0)
            };
            if let Some((info, parent)) = disk.base_.backing.as_mut().and_then(disk_backing_mut) {
                let key = self.disk_key(vm, files, &info.file_name, index)?;
                info.file_name = key.to_string();
                match spec.file_operation {
                    Some(VirtualDeviceConfigSpecFileOperation::Create)
                    | Some(VirtualDeviceConfigSpecFileOperation::Replace) => {
                        let replace = spec.file_operation
                            == Some(VirtualDeviceConfigSpecFileOperation::Replace);
                        if files.get(&key).is_some() && !replace {
                            return Err(Error::Exists {
                                kind: "file",
                                id: key.to_string(),
                            });
                        }
                        let parent = match parent {
                            None => None,
                            Some(p) => Some(self.existing_disk(files, &p)?),
                        };
                        self.new_disk(files, &key, capacity_kb, parent)?;
                    }
                    None => match files.get(&key) {
                        Some(Node::Disk(_)) => {}
                        Some(_) => {
                            return Err(Error::InvalidInput(format!(
                                "deviceChange[{index}]: {key} is not a virtual disk"
                            )))
                        }
                        None => return Err(Error::not_found("disk", key.to_string())),
                    },
                    Some(VirtualDeviceConfigSpecFileOperation::Destroy) => {
                        return Err(Error::InvalidInput(format!(
                            "deviceChange[{index}]: fileOperation destroy goes with a removal"
                        )))
                    }
                    Some(VirtualDeviceConfigSpecFileOperation::Unrecognized(op)) => {
                        return Err(Error::InvalidInput(format!(
                            "deviceChange[{index}]: unknown file operation {op:?}"
                        )))
                    }
                }
            }
        }
        Ok(d)
    }

    /// Where a disk backed by `file_name` lives: the name itself, or, when it names
    /// no file (`""`, `[ds]`), the next free `<vm>.vmdk`, `<vm>_1.vmdk`, … in the
    /// VM's folder (on the named datastore, else the VM's).
    fn disk_key(&self, vm: &Vm, files: &Files, file_name: &str, index: usize) -> Result<FileKey> {
        let file_name = file_name.trim();
        let named = if file_name.is_empty() {
            None
        } else {
            let p = DatastorePath::parse(file_name).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "deviceChange[{index}]: disk file {file_name:?} is not a datastore path"
                ))
            })?;
            Some(self.file_key(&p)?)
        };
        match named {
            Some(k) if !k.path.is_empty() => Ok(k),
            named => {
                let ds = named.map(|k| k.ds).unwrap_or_else(|| vm.vmx.ds.clone());
                let dir = vm.vmx.parent().map(|p| p.path).unwrap_or_default();
                for n in 0u32.. {
                    let file = if n == 0 {
                        format!("{}.vmdk", vm.name)
                    } else {
                        format!("{}_{n}.vmdk", vm.name)
                    };
                    let k = FileKey {
                        ds: ds.clone(),
                        path: join(&dir, &file),
                    };
                    if files.get(&k).is_none() {
                        return Ok(k);
                    }
                }
                Err(Error::InvalidInput("no free disk file name".into()))
            }
        }
    }

    /// The key of the existing disk named `file_name` (a parent backing's).
    fn existing_disk(&self, files: &Files, file_name: &str) -> Result<FileKey> {
        let p = DatastorePath::parse(file_name).ok_or_else(|| {
            Error::InvalidInput(format!("parent disk {file_name:?} is not a datastore path"))
        })?;
        let k = self.file_key(&p)?;
        match files.get(&k) {
            Some(Node::Disk(_)) => Ok(k),
            Some(_) => Err(Error::InvalidInput(format!(
                "parent {k} is not a virtual disk"
            ))),
            None => Err(Error::not_found("disk", k.to_string())),
        }
    }

    /// Creates the disk node at `key` (its folder must exist).
    fn new_disk(
        &self,
        files: &mut Files,
        key: &FileKey,
        capacity_kb: i64,
        parent: Option<FileKey>,
    ) -> Result<()> {
        if !key.path.ends_with(".vmdk") {
            return Err(Error::InvalidInput(format!(
                "a virtual disk's name ends in .vmdk: {key}"
            )));
        }
        if capacity_kb < 0 {
            return Err(Error::InvalidInput(format!("negative capacity for {key}")));
        }
        files.require_parent_dir(key)?;
        files.nodes.insert(
            key.clone(),
            Node::Disk(Disk {
                capacity_kb,
                parent: parent.map(|p| p.to_path()),
            }),
        );
        Ok(())
    }

    /// Which powered-on VM, if any, locks `key` or (for a directory) a file in it.
    fn locked_by(st: &State, key: &FileKey) -> Option<String> {
        let inside = |f: &FileKey| f == key || f.is_under(key);
        for vm in st.vms.values().filter(|v| v.power == PowerState::PoweredOn) {
            if inside(&vm.vmx) {
                return Some(vm.name.clone());
            }
            for d in &vm.devices {
                let Some(name) = disk_file_name(d) else {
                    continue;
                };
                let Some(p) = DatastorePath::parse(&name) else {
                    continue;
                };
                let Ok(path) = normalize(&p.path) else {
                    continue;
                };
                if inside(&FileKey {
                    ds: p.datastore,
                    path,
                }) {
                    return Some(vm.name.clone());
                }
            }
        }
        None
    }

    /// Sets a powered-on VM's sessions without a `started` value to `"true"`.
    fn auto_start(vm: &mut Vm) -> Result<()> {
        let config = match vic_config::from_extra_config::<ExecutorConfig>(&unescaped(
            &vm.extra_config,
        )) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(vm = %vm.name, error = %e, "auto-start: not an executor config");
                return Ok(());
            }
        };
        let started = vic_config::key_of::<ExecutorConfig>(
            "sessions.*.started",
            vic_config::Layout::Current,
        )?;
        for (sid, s) in &config.sessions {
            if s.started.as_deref().unwrap_or("").is_empty() {
                vm.extra_config
                    .insert(started.fill(&[sid.as_str()])?, "true".into());
            }
        }
        Ok(())
    }

    /// A power transition: `from` lists the states it starts from.
    fn power(
        &self,
        vm: &ManagedObjectReference,
        during: &str,
        from: &[PowerState],
        to: PowerState,
        events: &[(&str, &str)],
    ) -> Result<()> {
        self.mutate(|st| {
            let v = st.vm(vm)?;
            if !from.contains(&v.power) {
                return Err(power_conflict(
                    v,
                    during,
                    "the operation cannot be performed in the VM's current power state",
                ));
            }
            let mut v = v.clone();
            v.power = to;
            if to == PowerState::PoweredOn && self.auto_start {
                Self::auto_start(&mut v)?;
                let vmx = vmx_text(&v)?;
                st.write_vmx(&v, vmx);
            }
            for (kind, what) in events {
                st.log(&v, kind, format!("{} {what}", v.name));
            }
            st.vms.insert(v.id, v);
            Ok(())
        })
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    fn describe(&self) -> String {
        "memory".into()
    }

    fn vch_folder(&self) -> DatastorePath {
        DatastorePath::new(self.datastore.clone(), self.vch_dir.clone())
    }

    async fn create_vm(&self, spec: &VirtualMachineConfigSpec) -> Result<ManagedObjectReference> {
        let name = spec
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| Error::InvalidInput("a new VM needs a name".into()))?;
        let vmx = self.vmx_path(&name, spec)?;
        self.mutate(|st| {
            if st.vms.values().any(|v| v.name == name) {
                return Err(Error::Exists {
                    kind: "VM",
                    id: name.clone(),
                });
            }
            if st.files.get(&vmx).is_some() {
                return Err(Error::Exists {
                    kind: "file",
                    id: vmx.to_string(),
                });
            }
            let mut files = st.files.clone();
            let mut macs = st.next_mac;
            if let Some(folder) = vmx.parent() {
                match files.get(&folder) {
                    Some(Node::Dir) => {}
                    Some(_) => {
                        return Err(Error::Exists {
                            kind: "file",
                            id: folder.to_string(),
                        })
                    }
                    None => {
                        files.require_parent_dir(&folder)?;
                        files.nodes.insert(folder, Node::Dir);
                    }
                }
            }
            let mut vm = Vm {
                id: st.next_vm + 1,
                name: name.clone(),
                version: 1,
                power: PowerState::PoweredOff,
                extra_config: BTreeMap::new(),
                vmx: vmx.clone(),
                devices: default_devices(),
                guest_id: spec.guest_id.clone(),
                num_cpus: spec.num_cpus,
                memory_mb: spec.memory_mb,
                annotation: spec.annotation.clone(),
            };
            self.apply_device_changes(&mut vm, &mut files, &mut macs, &spec.device_change)?;
            apply_extra(&mut vm.extra_config, spec)?;
            let text = vmx_text(&vm)?;
            files.nodes.insert(vmx.clone(), Node::File(text));
            st.files = files;
            st.next_mac = macs;
            st.next_vm = vm.id;
            let reference = vm_ref(vm.id);
            st.log(&vm, "VmBeingCreatedEvent", format!("Creating {}", vm.name));
            st.log(
                &vm,
                "VmCreatedEvent",
                format!("Created virtual machine {}", vm.name),
            );
            st.vms.insert(vm.id, vm);
            Ok(reference)
        })
    }

    async fn reconfigure_vm(
        &self,
        vm: &ManagedObjectReference,
        spec: &VirtualMachineConfigSpec,
    ) -> Result<()> {
        self.mutate(|st| {
            let current = st.vm(vm)?;
            if let Some(cv) = &spec.change_version {
                if *cv != current.version.to_string() {
                    return Err(Error::Conflict {
                        what: format!("VM {}", current.name),
                        during: "reconfigure".into(),
                        message: format!(
                            "the VM was changed by another client: the spec has changeVersion {cv}, the VM {}",
                            current.version
                        ),
                    });
                }
            }
            let mut next = current.clone();
            if let Some(name) = &spec.name {
                if name.trim().is_empty() {
                    return Err(Error::InvalidInput("a VM's name cannot be empty".into()));
                }
                if st.vms.values().any(|v| v.id != next.id && v.name == *name) {
                    return Err(Error::Exists { kind: "VM", id: name.clone() });
                }
                next.name = name.clone();
            }
            let mut files = st.files.clone();
            let mut macs = st.next_mac;
            self.apply_device_changes(&mut next, &mut files, &mut macs, &spec.device_change)?;
            apply_extra(&mut next.extra_config, spec)?;
            if spec.guest_id.is_some() {
                next.guest_id = spec.guest_id.clone();
            }
            if spec.num_cpus.is_some() {
                next.num_cpus = spec.num_cpus;
            }
            if spec.memory_mb.is_some() {
                next.memory_mb = spec.memory_mb;
            }
            if spec.annotation.is_some() {
                next.annotation = spec.annotation.clone();
            }
            next.version += 1;
            let text = vmx_text(&next)?;
            st.files = files;
            st.next_mac = macs;
            st.write_vmx(&next, text);
            st.log(&next, "VmReconfiguredEvent", format!("Reconfigured {}", next.name));
            st.vms.insert(next.id, next);
            Ok(())
        })
    }

    async fn power_on(&self, vm: &ManagedObjectReference) -> Result<()> {
        self.power(
            vm,
            "power on",
            &[PowerState::PoweredOff, PowerState::Suspended],
            PowerState::PoweredOn,
            &[
                ("VmStartingEvent", "is starting"),
                ("VmPoweredOnEvent", "is powered on"),
            ],
        )
    }

    async fn power_off(&self, vm: &ManagedObjectReference) -> Result<()> {
        self.power(
            vm,
            "power off",
            &[PowerState::PoweredOn, PowerState::Suspended],
            PowerState::PoweredOff,
            &[
                ("VmStoppingEvent", "is stopping"),
                ("VmPoweredOffEvent", "is powered off"),
            ],
        )
    }

    async fn shutdown_guest(&self, vm: &ManagedObjectReference) -> Result<()> {
        self.power(
            vm,
            "guest shutdown",
            &[PowerState::PoweredOn],
            PowerState::PoweredOff,
            &[
                ("VmGuestShutdownEvent", "guest OS shut down"),
                ("VmPoweredOffEvent", "is powered off"),
            ],
        )
    }

    async fn destroy_vm(&self, vm: &ManagedObjectReference) -> Result<()> {
        self.mutate(|st| {
            let v = st.vm(vm)?;
            if v.power == PowerState::PoweredOn {
                return Err(power_conflict(
                    v,
                    "destroy",
                    "a powered-on VM cannot be destroyed",
                ));
            }
            let v = v.clone();
            match v.vmx.parent() {
                Some(folder) if !folder.path.is_empty() => st.files.remove_tree(&folder),
                _ => st.files.remove_tree(&v.vmx),
            }
            // As vSphere does: every disk attached to the VM goes with it, wherever
            // its file is (its parents stay).
            for d in &v.devices {
                if let Some(top) = crate::storage::disk_chain(d).first() {
                    if let Ok(k) = self.file_key(top) {
                        st.files.remove_tree(&k);
                    }
                }
            }
            st.log(&v, "VmRemovedEvent", format!("Removed {}", v.name));
            st.vms.remove(&v.id);
            Ok(())
        })
    }

    async fn vm(&self, vm: &ManagedObjectReference, detail: VmDetail) -> Result<VmRecord> {
        self.read(|st| Ok(record(st.vm(vm)?, detail)))
    }

    async fn vm_by_name(&self, name: &str, detail: VmDetail) -> Result<Option<VmRecord>> {
        self.read(|st| {
            Ok(st
                .vms
                .values()
                .find(|v| v.name == name)
                .map(|v| record(v, detail)))
        })
    }

    async fn list_vms(&self, detail: VmDetail) -> Result<Vec<VmRecord>> {
        self.read(|st| Ok(st.vms.values().map(|v| record(v, detail)).collect()))
    }

    async fn wait_vm(
        &self,
        vm: &ManagedObjectReference,
        limit: Duration,
        until: VmPredicate<'_>,
    ) -> Result<VmRecord> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut rx = self.changes.subscribe();
        loop {
            // Marked seen before reading, so a change after the read wakes the wait.
            rx.borrow_and_update();
            let rec = self.read(|st| Ok(record(st.vm(vm)?, VmDetail::Summary)))?;
            if until(&rec) {
                return Ok(rec);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Error::Stopped("the memory backend".into())),
                Err(_) => {
                    return Err(Error::Timeout {
                        what: format!("VM {}", rec.name),
                        limit,
                    })
                }
            }
        }
    }

    async fn make_dir(&self, dir: &DatastorePath) -> Result<()> {
        let key = self.file_key(dir)?;
        self.mutate(|st| {
            let mut path = String::new();
            let mut created = Vec::new();
            for part in key.path.split('/').filter(|p| !p.is_empty()) {
                path = join(&path, part);
                let k = FileKey {
                    ds: key.ds.clone(),
                    path: path.clone(),
                };
                match st.files.get(&k) {
                    Some(Node::Dir) => {}
                    Some(_) => {
                        return Err(Error::Exists {
                            kind: "file",
                            id: k.to_string(),
                        })
                    }
                    None => created.push(k),
                }
            }
            for k in created {
                st.files.nodes.insert(k, Node::Dir);
            }
            Ok(())
        })
    }

    async fn upload(
        &self,
        path: &DatastorePath,
        body: Box<dyn AsyncRead + Send + Unpin>,
        len: u64,
    ) -> Result<()> {
        let key = self.file_key(path)?;
        let check = |st: &State| -> Result<()> {
            if key.path.is_empty() || matches!(st.files.get(&key), Some(Node::Dir)) {
                return Err(Error::InvalidInput(format!("{key} is a directory")));
            }
            if let Some(vm) = Self::locked_by(st, &key) {
                return Err(Error::InUse {
                    kind: "file",
                    id: key.to_string(),
                    by: vm,
                });
            }
            st.files.require_parent_dir(&key)
        };
        self.read(|st| check(st))?;
        // Capped: `len` comes from the caller and the body may end early.
        let mut data = Vec::with_capacity(usize::try_from(len.min(1 << 20)).unwrap_or(0));
        let read = body.take(len).read_to_end(&mut data).await;
        let context = format!("uploading {key}");
        let failed = match read {
            Err(e) => Some(Error::io(context, e)),
            Ok(_) if data.len() as u64 != len => Some(Error::io(
                context,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the body ended after {} of {len} bytes", data.len()),
                ),
            )),
            Ok(_) => None,
        };
        if let Some(e) = failed {
            // As on vSphere, where the partial file is removed: no file is left.
            let _ = self.mutate(|st| {
                if matches!(st.files.get(&key), Some(Node::File(_))) {
                    st.files.nodes.remove(&key);
                }
                Ok(())
            });
            return Err(e);
        }
        self.mutate(|st| {
            check(st)?;
            st.files
                .nodes
                .insert(key.clone(), Node::File(Bytes::from(data)));
            Ok(())
        })
    }

    async fn download(&self, path: &DatastorePath) -> Result<Vec<u8>> {
        let key = self.file_key(path)?;
        self.read(|st| match st.files.get(&key) {
            None => Err(Error::not_found("file", key.to_string())),
            Some(Node::Dir) => Err(Error::InvalidInput(format!("{key} is a directory"))),
            Some(Node::File(b)) => Ok(b.to_vec()),
            Some(Node::Disk(d)) => Ok(descriptor(&key, d).into_bytes()),
        })
    }

    async fn delete_file(&self, path: &DatastorePath) -> Result<()> {
        let key = self.file_key(path)?;
        self.mutate(|st| {
            if key.path.is_empty() {
                return Err(Error::InvalidInput(format!("{key} is a datastore's root")));
            }
            if st.files.get(&key).is_none() {
                return Err(Error::not_found("file", key.to_string()));
            }
            if let Some(vm) = Self::locked_by(st, &key) {
                return Err(Error::InUse {
                    kind: "file",
                    id: key.to_string(),
                    by: vm,
                });
            }
            st.files.remove_tree(&key);
            Ok(())
        })
    }

    async fn move_file(&self, from: &DatastorePath, to: &DatastorePath) -> Result<()> {
        let (from, to) = (self.file_key(from)?, self.file_key(to)?);
        self.mutate(|st| {
            let node = match st.files.get(&from) {
                None => return Err(Error::not_found("file", from.to_string())),
                Some(Node::Dir) => {
                    return Err(Error::InvalidInput(format!("{from} is a directory")))
                }
                Some(node) => node.clone(),
            };
            if to.path.is_empty() || matches!(st.files.get(&to), Some(Node::Dir)) {
                return Err(Error::InvalidInput(format!("{to} is a directory")));
            }
            for k in [&from, &to] {
                if let Some(vm) = Self::locked_by(st, k) {
                    return Err(Error::InUse {
                        kind: "file",
                        id: k.to_string(),
                        by: vm,
                    });
                }
            }
            st.files.require_parent_dir(&to)?;
            st.files.nodes.remove(&from);
            st.files.nodes.insert(to.clone(), node);
            Ok(())
        })
    }

    async fn list_dir(&self, dir: &DatastorePath) -> Result<Vec<String>> {
        let key = self.file_key(dir)?;
        self.read(|st| match st.files.get(&key) {
            Some(Node::Dir) => Ok(st.files.children(&key)),
            _ => Err(Error::not_found("directory", key.to_string())),
        })
    }

    async fn exists(&self, path: &DatastorePath) -> Result<bool> {
        let key = self.file_key(path)?;
        self.read(|st| Ok(st.files.get(&key).is_some()))
    }

    async fn create_disk(
        &self,
        path: &DatastorePath,
        capacity_kb: i64,
        parent: Option<&DatastorePath>,
    ) -> Result<()> {
        let key = self.file_key(path)?;
        let parent = parent.map(|p| self.file_key(p)).transpose()?;
        self.mutate(|st| {
            if st.files.get(&key).is_some() {
                return Err(Error::Exists {
                    kind: "file",
                    id: key.to_string(),
                });
            }
            let parent = match parent {
                None => None,
                Some(p) => match st.files.get(&p) {
                    Some(Node::Disk(_)) => Some(p),
                    Some(_) => {
                        return Err(Error::InvalidInput(format!(
                            "parent {p} is not a virtual disk"
                        )))
                    }
                    None => return Err(Error::not_found("disk", p.to_string())),
                },
            };
            self.new_disk(&mut st.files, &key, capacity_kb, parent)
        })
    }

    async fn delete_disk(&self, path: &DatastorePath) -> Result<()> {
        let key = self.file_key(path)?;
        self.mutate(|st| {
            match st.files.get(&key) {
                Some(Node::Disk(_)) => {}
                Some(_) => return Err(Error::InvalidInput(format!("{key} is not a virtual disk"))),
                None => return Err(Error::not_found("disk", key.to_string())),
            }
            if let Some(vm) = Self::locked_by(st, &key) {
                return Err(Error::InUse {
                    kind: "disk",
                    id: key.to_string(),
                    by: vm,
                });
            }
            st.files.remove_tree(&key);
            Ok(())
        })
    }

    async fn vm_events(&self, since: Option<&DateTime>) -> Result<Vec<VmEvent>> {
        let since = match since {
            None => None,
            Some(t) => Some(parse_date_time(t.as_str()).ok_or_else(|| {
                Error::InvalidInput(format!("{:?} is not an xsd:dateTime", t.as_str()))
            })?),
        };
        self.read(|st| {
            Ok(st
                .events
                .iter()
                .filter(|e| since.is_none_or(|s| e.at >= s))
                .map(|e| e.event.clone())
                .collect())
        })
    }

    async fn network_backing(&self, name: &str) -> Result<AnyVirtualDeviceBackingInfo> {
        let network = self.network_ref(name)?;
        Ok(VirtualEthernetCardNetworkBackingInfo {
            base_: VirtualDeviceDeviceBackingInfo {
                device_name: name.to_string(),
                ..Default::default()
            },
            network: Some(network),
            ..Default::default()
        }
        .into())
    }

    async fn port_groups(&self) -> Result<Vec<String>> {
        Ok(self.port_groups.clone())
    }
}

// ---- state -------------------------------------------------------------------

#[derive(Default)]
struct State {
    /// The number of the last VM created (`vm-N`).
    next_vm: u64,
    vms: BTreeMap<u64, Vm>,
    files: Files,
    events: Vec<Logged>,
    last_event: i32,
    last_time: Option<SystemTime>,
    next_mac: u32,
}

impl State {
    fn vm(&self, r: &ManagedObjectReference) -> Result<&Vm> {
        vm_number(r)
            .and_then(|n| self.vms.get(&n))
            .ok_or_else(|| Error::not_found("VM", r.value.clone()))
    }

    fn vm_mut(&mut self, r: &ManagedObjectReference) -> Result<&mut Vm> {
        vm_number(r)
            .and_then(|n| self.vms.get_mut(&n))
            .ok_or_else(|| Error::not_found("VM", r.value.clone()))
    }

    /// Rewrites `vm`'s `.vmx` (unless its folder is gone).
    fn write_vmx(&mut self, vm: &Vm, text: Bytes) {
        if self.files.require_parent_dir(&vm.vmx).is_ok() {
            self.files.nodes.insert(vm.vmx.clone(), Node::File(text));
        }
    }

    /// Logs an event about `vm`, keys and times increasing.
    fn log(&mut self, vm: &Vm, kind: &str, message: String) {
        let now = truncate_to_micros(SystemTime::now());
        let at = match self.last_time {
            Some(last) if last > now => last,
            _ => now,
        };
        self.last_time = Some(at);
        self.last_event = self.last_event.wrapping_add(1);
        self.events.push(Logged {
            at,
            event: VmEvent {
                key: self.last_event,
                kind: kind.to_string(),
                vm: Some(vm_ref(vm.id)),
                vm_name: Some(vm.name.clone()),
                created: format_date_time(at),
                message: Some(message),
            },
        });
    }
}

struct Logged {
    at: SystemTime,
    event: VmEvent,
}

#[derive(Clone)]
struct Vm {
    id: u64,
    name: String,
    version: u64,
    power: PowerState,
    /// As sent (`<nil>` kept); records read it through [`unescaped`].
    extra_config: BTreeMap<String, String>,
    vmx: FileKey,
    devices: Vec<AnyVirtualDevice>,
    guest_id: Option<String>,
    num_cpus: Option<i32>,
    memory_mb: Option<i64>,
    annotation: Option<String>,
}

fn vm_ref(id: u64) -> ManagedObjectReference {
    ManagedObjectReference::new("VirtualMachine", format!("vm-{id}"))
}

fn vm_number(r: &ManagedObjectReference) -> Option<u64> {
    if r.type_ != "VirtualMachine" {
        return None;
    }
    r.value.strip_prefix("vm-")?.parse().ok()
}

fn record(vm: &Vm, detail: VmDetail) -> VmRecord {
    VmRecord {
        reference: vm_ref(vm.id),
        name: vm.name.clone(),
        change_version: Some(vm.version.to_string()),
        power_state: vm.power,
        extra_config: unescaped(&vm.extra_config),
        vmx_path: Some(vm.vmx.to_path()),
        devices: match detail {
            VmDetail::Full => vm.devices.clone(),
            VmDetail::Summary => Vec::new(),
        },
    }
}

fn power_conflict(vm: &Vm, during: &str, message: &str) -> Error {
    let state = match vm.power {
        PowerState::PoweredOn => "powered on",
        PowerState::PoweredOff => "powered off",
        PowerState::Suspended => "suspended",
    };
    Error::Conflict {
        what: format!("VM {}", vm.name),
        during: during.to_string(),
        message: format!("{message} ({state})"),
    }
}

/// vSphere refuses extraConfig keys that cannot be written to the `.vmx`.
fn check_extra_config_key(key: &str) -> Result<()> {
    if key.is_empty()
        || key
            .chars()
            .any(|c| c.is_whitespace() || c == '=' || c.is_control())
    {
        return Err(Error::InvalidInput(format!(
            "extraConfig key {key:?} is not valid"
        )));
    }
    Ok(())
}

fn apply_extra(map: &mut BTreeMap<String, String>, spec: &VirtualMachineConfigSpec) -> Result<()> {
    for ov in &spec.extra_config {
        check_extra_config_key(&ov.key)?;
    }
    apply_extra_config(map, &spec.extra_config)
}

/// The `.vmx` text of `vm`: its settings and extraConfig.
fn vmx_text(vm: &Vm) -> Result<Bytes> {
    let mut map = BTreeMap::new();
    map.insert(".encoding".to_string(), "UTF-8".to_string());
    map.insert("config.version".to_string(), "8".to_string());
    map.insert("displayName".to_string(), vm.name.clone());
    if let Some(g) = &vm.guest_id {
        map.insert("guestOS".to_string(), g.clone());
    }
    if let Some(n) = vm.num_cpus {
        map.insert("numvcpus".to_string(), n.to_string());
    }
    if let Some(m) = vm.memory_mb {
        map.insert("memSize".to_string(), m.to_string());
    }
    if let Some(a) = &vm.annotation {
        map.insert("annotation".to_string(), a.clone());
    }
    for (k, v) in &vm.extra_config {
        map.insert(k.clone(), v.clone());
    }
    Ok(Bytes::from(vic_config::vmx::write_lines(&map)?))
}

// ---- files -------------------------------------------------------------------

/// A datastore path as the file map keys it: no leading, trailing or doubled `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct FileKey {
    ds: String,
    path: String,
}

impl FileKey {
    fn parent(&self) -> Option<FileKey> {
        if self.path.is_empty() {
            return None;
        }
        let parent = self.path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        Some(FileKey {
            ds: self.ds.clone(),
            path: parent.to_string(),
        })
    }

    /// Whether `self` lies inside the directory `dir`.
    fn is_under(&self, dir: &FileKey) -> bool {
        self.ds == dir.ds
            && self.path != dir.path
            && (dir.path.is_empty()
                || self
                    .path
                    .strip_prefix(dir.path.as_str())
                    .is_some_and(|r| r.starts_with('/')))
    }

    fn to_path(&self) -> DatastorePath {
        DatastorePath::new(self.ds.clone(), self.path.clone())
    }
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_path().fmt(f)
    }
}

fn normalize(path: &str) -> Result<String> {
    let mut parts = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                return Err(Error::InvalidInput(format!(
                    "datastore path {path:?} leaves its folder"
                )))
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

#[derive(Clone)]
enum Node {
    Dir,
    File(Bytes),
    Disk(Disk),
}

#[derive(Clone)]
struct Disk {
    capacity_kb: i64,
    parent: Option<DatastorePath>,
}

/// Every datastore's root directory.
static ROOT: Node = Node::Dir;

#[derive(Clone, Default)]
struct Files {
    nodes: BTreeMap<FileKey, Node>,
}

impl Files {
    fn get(&self, k: &FileKey) -> Option<&Node> {
        if k.path.is_empty() {
            return Some(&ROOT);
        }
        self.nodes.get(k)
    }

    /// `NotFound` unless the directory `k` would go in exists.
    fn require_parent_dir(&self, k: &FileKey) -> Result<()> {
        let Some(parent) = k.parent() else {
            return Ok(());
        };
        match self.get(&parent) {
            Some(Node::Dir) => Ok(()),
            _ => Err(Error::not_found("directory", parent.to_string())),
        }
    }

    fn remove_tree(&mut self, k: &FileKey) {
        self.nodes.retain(|f, _| f != k && !f.is_under(k));
    }

    fn children(&self, dir: &FileKey) -> Vec<String> {
        let mut out: Vec<String> = self
            .nodes
            .keys()
            .filter(|f| f.parent().as_ref() == Some(dir))
            .filter_map(|f| f.path.rsplit('/').next().map(str::to_string))
            .collect();
        out.sort();
        out
    }
}

/// A small VMDK descriptor: what a download of a disk shows (its parent among it).
fn descriptor(key: &FileKey, d: &Disk) -> String {
    let stem = key
        .path
        .rsplit('/')
        .next()
        .unwrap_or("")
        .trim_end_matches(".vmdk")
        .to_string();
    let cid = content_id(&key.to_string());
    let sectors = d.capacity_kb.saturating_mul(2);
    let mut s = String::from("# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\n");
    s.push_str(&format!("CID={cid:08x}\n"));
    match &d.parent {
        Some(p) => {
            s.push_str(&format!("parentCID={:08x}\n", content_id(&p.to_string())));
            s.push_str("createType=\"vmfsSparse\"\n");
            s.push_str(&format!("parentFileNameHint=\"{p}\"\n"));
            s.push_str(&format!(
                "\n# Extent description\nRW {sectors} VMFSSPARSE \"{stem}-delta.vmdk\"\n"
            ));
        }
        None => {
            s.push_str("parentCID=ffffffff\ncreateType=\"vmfs\"\n");
            s.push_str(&format!(
                "\n# Extent description\nRW {sectors} VMFS \"{stem}-flat.vmdk\"\n"
            ));
        }
    }
    s.push_str("\n# The Disk Data Base\nddb.adapterType = \"lsilogic\"\n");
    s
}

/// A stable 32-bit content ID for a descriptor (FNV-1a of the disk's path).
fn content_id(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

// ---- devices -----------------------------------------------------------------

fn described(
    mut d: AnyVirtualDevice,
    key: i32,
    label: &str,
    controller: Option<(i32, i32)>,
) -> AnyVirtualDevice {
    d.key = key;
    d.device_info = Some(
        Description {
            label: label.to_string(),
            summary: label.to_string(),
            ..Default::default()
        }
        .into(),
    );
    if let Some((c, u)) = controller {
        d.controller_key = Some(c);
        d.unit_number = Some(u);
    }
    d
}

/// The devices vSphere gives every new VM.
fn default_devices() -> Vec<AnyVirtualDevice> {
    let controller = |bus: i32, children: Vec<i32>| VirtualController {
        bus_number: bus,
        device: children,
        ..Default::default()
    };
    vec![
        described(
            VirtualIDEController {
                base_: controller(0, vec![]),
            }
            .into(),
            200,
            "IDE 0",
            None,
        ),
        described(
            VirtualIDEController {
                base_: controller(1, vec![]),
            }
            .into(),
            201,
            "IDE 1",
            None,
        ),
        described(
            VirtualPS2Controller {
                base_: controller(0, vec![600, 700]),
            }
            .into(),
            300,
            "PS2 controller 0",
            None,
        ),
        described(
            VirtualPCIController {
                base_: controller(0, vec![500, 12000]),
            }
            .into(),
            100,
            "PCI controller 0",
            None,
        ),
        described(
            VirtualSIOController {
                base_: controller(0, vec![]),
            }
            .into(),
            400,
            "SIO controller 0",
            None,
        ),
        described(
            VirtualKeyboard {
                base_: VirtualDevice::default(),
            }
            .into(),
            600,
            "Keyboard",
            Some((300, 0)),
        ),
        described(
            VirtualPointingDevice {
                base_: VirtualDevice::default(),
            }
            .into(),
            700,
            "Pointing device",
            Some((300, 1)),
        ),
        described(
            VirtualMachineVideoCard {
                video_ram_size_in_kb: Some(4096),
                num_displays: Some(1),
                ..Default::default()
            }
            .into(),
            500,
            "Video card",
            Some((100, 0)),
        ),
        described(
            VirtualMachineVMCIDevice {
                id: Some(-1),
                ..Default::default()
            }
            .into(),
            12000,
            "VMCI device",
            Some((100, 17)),
        ),
    ]
}

fn is_scsi(d: &AnyVirtualDevice) -> bool {
    device::controller_kind(d) == Some(device::ControllerKind::Scsi)
}

/// Where vSphere numbers new devices of `d`'s type from.
fn key_base(d: &AnyVirtualDevice) -> i32 {
    use AnyVirtualDevice as D;
    if is_scsi(d) {
        return 1000;
    }
    if device::as_ethernet_card(d).is_some() {
        return 4000;
    }
    match d {
        D::VirtualPCIController(_) => 100,
        D::VirtualIDEController(_) => 200,
        D::VirtualPS2Controller(_) => 300,
        D::VirtualSIOController(_) => 400,
        D::VirtualMachineVideoCard(_) => 500,
        D::VirtualKeyboard(_) => 600,
        D::VirtualPointingDevice(_) => 700,
        D::VirtualDisk(_) => 2000,
        D::VirtualCdrom(_) => 3000,
        D::VirtualUSBController(_) => 7000,
        D::VirtualFloppy(_) => 8000,
        D::VirtualSerialPort(_) => 9000,
        D::VirtualParallelPort(_) => 10000,
        D::VirtualMachineVMCIDevice(_) => 12000,
        D::VirtualUSBXHCIController(_) => 14000,
        D::VirtualAHCIController(_) | D::VirtualSATAController(_) => 15000,
        D::VirtualNVMEController(_) => 31000,
        _ => 13000,
    }
}

fn fresh_key(d: &AnyVirtualDevice, taken: &BTreeSet<i32>) -> i32 {
    let mut k = key_base(d);
    while taken.contains(&k) {
        k = k.saturating_add(1);
    }
    k
}

/// The controller vSphere puts `d` on when the spec names none.
fn default_controller(d: &AnyVirtualDevice) -> Option<i32> {
    use AnyVirtualDevice as D;
    if device::as_ethernet_card(d).is_some() {
        return Some(100);
    }
    match d {
        D::VirtualSerialPort(_) | D::VirtualParallelPort(_) | D::VirtualFloppy(_) => Some(400),
        D::VirtualKeyboard(_) | D::VirtualPointingDevice(_) => Some(300),
        D::VirtualMachineVideoCard(_) | D::VirtualMachineVMCIDevice(_) => Some(100),
        _ => None,
    }
}

/// `d`'s controller key; 0 means none, as on the wire.
fn controller_of(d: &AnyVirtualDevice) -> Option<i32> {
    d.controller_key.filter(|k| *k != 0)
}

/// How many unit numbers a controller has, where vSphere's limit is fixed and
/// small enough to matter (IDE: master and slave).
fn unit_count(controller: &AnyVirtualDevice) -> Option<i32> {
    match controller {
        AnyVirtualDevice::VirtualIDEController(_) => Some(2),
        _ => None,
    }
}

/// The unit a SCSI controller keeps for itself.
fn scsi_reserved_unit(controller: &AnyVirtualDevice) -> Option<i32> {
    use AnyVirtualDevice as D;
    let own = match controller {
        D::ParaVirtualSCSIController(c) => c.scsi_ctlr_unit_number,
        D::VirtualBusLogicController(c) => c.scsi_ctlr_unit_number,
        D::VirtualLsiLogicController(c) => c.scsi_ctlr_unit_number,
        D::VirtualLsiLogicSASController(c) => c.scsi_ctlr_unit_number,
        D::VirtualSCSIController(c) => c.scsi_ctlr_unit_number,
        _ => return None,
    };
    Some(own.unwrap_or(7))
}

fn controller_mut(d: &mut AnyVirtualDevice) -> Option<&mut VirtualController> {
    use AnyVirtualDevice as D;
    Some(match d {
        D::ParaVirtualSCSIController(c) => c,
        D::VirtualAHCIController(c) => c,
        D::VirtualBusLogicController(c) => c,
        D::VirtualController(c) => c,
        D::VirtualIDEController(c) => c,
        D::VirtualLsiLogicController(c) => c,
        D::VirtualLsiLogicSASController(c) => c,
        D::VirtualNVDIMMController(c) => c,
        D::VirtualNVMEController(c) => c,
        D::VirtualPCIController(c) => c,
        D::VirtualPS2Controller(c) => c,
        D::VirtualSATAController(c) => c,
        D::VirtualSCSIController(c) => c,
        D::VirtualSIOController(c) => c,
        D::VirtualUSBController(c) => c,
        D::VirtualUSBXHCIController(c) => c,
        _ => return None,
    })
}

fn ethernet_mut(d: &mut AnyVirtualDevice) -> Option<&mut VirtualEthernetCard> {
    use AnyVirtualDevice as D;
    Some(match d {
        D::VirtualE1000(v) => v,
        D::VirtualE1000e(v) => v,
        D::VirtualPCNet32(v) => v,
        D::VirtualVmxnet(v) => v,
        D::VirtualVmxnet2(v) => v,
        D::VirtualVmxnet3(v) => v,
        D::VirtualVmxnet3Vrdma(v) => v,
        D::VirtualSriovEthernetCard(v) => v,
        D::VirtualEthernetCard(v) => v,
        _ => return None,
    })
}

/// A disk backing's file part and its parent disk's file name.
fn disk_backing_mut(
    b: &mut AnyVirtualDeviceBackingInfo,
) -> Option<(&mut VirtualDeviceFileBackingInfo, Option<String>)> {
    use AnyVirtualDeviceBackingInfo as B;
    macro_rules! with_parent {
        ($x:expr) => {{
            let parent = $x.parent.as_ref().map(|p| p.base_.file_name.clone());
            Some((&mut $x.base_, parent))
        }};
    }
    match b {
        B::VirtualDiskFlatVer1BackingInfo(x) => with_parent!(x),
        B::VirtualDiskFlatVer2BackingInfo(x) => with_parent!(x),
        B::VirtualDiskRawDiskMappingVer1BackingInfo(x) => with_parent!(x),
        B::VirtualDiskSeSparseBackingInfo(x) => with_parent!(x),
        B::VirtualDiskSparseVer1BackingInfo(x) => with_parent!(x),
        B::VirtualDiskSparseVer2BackingInfo(x) => with_parent!(x),
        _ => None,
    }
}

/// The file a disk device is backed by.
fn disk_file_name(d: &AnyVirtualDevice) -> Option<String> {
    let AnyVirtualDevice::VirtualDisk(disk) = d else {
        return None;
    };
    let mut backing = disk.base_.backing.clone()?;
    disk_backing_mut(&mut backing).map(|(f, _)| f.file_name.clone())
}

// ---- time --------------------------------------------------------------------

fn truncate_to_micros(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => {
            UNIX_EPOCH + Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        }
        Err(_) => UNIX_EPOCH,
    }
}

/// `t` as an `xsd:dateTime` in UTC with microseconds (`2026-11-23T12:00:00.123456Z`).
fn format_date_time(t: SystemTime) -> DateTime {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, day) = civil_from_days(days);
    DateTime(format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    ))
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// algorithm, with years starting in March so that the leap day comes last).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use vim25::object::device::{add_spec, new_disk, new_nic, remove_spec, NicKind};
    use vim25::types::{
        AnyOptionValue, AnyValue, OptionValue, ParaVirtualSCSIController,
        VirtualDiskFlatVer2BackingInfo, VirtualMachineFileInfo, VirtualSCSIController,
    };

    const DS: &str = "datastore1";

    fn backend() -> MemoryBackend {
        MemoryBackend::new(DS, "VCH001").with_port_groups(&["bridge", "VM Network"])
    }

    fn p(path: &str) -> DatastorePath {
        DatastorePath::new(DS, path)
    }

    fn named(name: &str) -> VirtualMachineConfigSpec {
        VirtualMachineConfigSpec {
            name: Some(name.into()),
            ..Default::default()
        }
    }

    fn scsi(key: i32) -> AnyVirtualDeviceConfigSpec {
        let mut c: AnyVirtualDevice = ParaVirtualSCSIController {
            base_: VirtualSCSIController::default(),
        }
        .into();
        c.key = key;
        add_spec(c, false)
    }

    /// A new disk at `slot`, its file created (`file` empty: named by the server).
    fn disk(
        key: i32,
        slot: (i32, i32),
        file: &str,
        parent: Option<&str>,
    ) -> AnyVirtualDeviceConfigSpec {
        let mut d = new_disk(1024, &DatastorePath::parse(file).unwrap_or_default(), slot);
        d.key = key;
        if file.is_empty() {
            if let Some(AnyVirtualDeviceBackingInfo::VirtualDiskFlatVer2BackingInfo(b)) =
                d.backing.as_mut()
            {
                b.base_.file_name = String::new();
            }
        }
        if let Some(parent) = parent {
            if let Some(AnyVirtualDeviceBackingInfo::VirtualDiskFlatVer2BackingInfo(b)) =
                d.backing.as_mut()
            {
                b.parent = Some(Box::new(VirtualDiskFlatVer2BackingInfo {
                    base_: VirtualDeviceFileBackingInfo {
                        file_name: parent.into(),
                        ..Default::default()
                    },
                    ..Default::default()
                }));
            }
        }
        add_spec(d, true)
    }

    fn extra(pairs: &[(&str, &str)]) -> Vec<AnyOptionValue> {
        pairs
            .iter()
            .map(|(k, v)| {
                OptionValue {
                    key: k.to_string(),
                    value: Some(AnyValue::String(v.to_string())),
                    ..Default::default()
                }
                .into()
            })
            .collect()
    }

    async fn full(b: &MemoryBackend, vm: &ManagedObjectReference) -> VmRecord {
        b.vm(vm, VmDetail::Full).await.unwrap()
    }

    fn disks(r: &VmRecord) -> Vec<(i32, Option<i32>, Option<i32>, String)> {
        r.devices
            .iter()
            .filter_map(|d| disk_file_name(d).map(|f| (d.key, d.controller_key, d.unit_number, f)))
            .collect()
    }

    #[tokio::test]
    async fn create_gives_defaults_folder_vmx_and_version_one() {
        let b = backend();
        let vm = b.create_vm(&named("web")).await.unwrap();
        assert_eq!(vm, ManagedObjectReference::new("VirtualMachine", "vm-1"));
        let r = full(&b, &vm).await;
        assert_eq!(r.change_version.as_deref(), Some("1"));
        assert_eq!(r.power_state, PowerState::PoweredOff);
        assert_eq!(r.vmx_path, Some(p("web/web.vmx")));
        let mut keys: Vec<i32> = r.devices.iter().map(|d| d.key).collect();
        keys.sort();
        assert_eq!(keys, vec![100, 200, 201, 300, 400, 500, 600, 700, 12000]);
        assert!(matches!(
            device::find_by_key(&r.devices, 200),
            Some(AnyVirtualDevice::VirtualIDEController(_))
        ));
        assert!(matches!(
            device::find_by_key(&r.devices, 100),
            Some(AnyVirtualDevice::VirtualPCIController(_))
        ));
        assert!(matches!(
            device::find_by_key(&r.devices, 300),
            Some(AnyVirtualDevice::VirtualPS2Controller(_))
        ));
        assert!(matches!(
            device::find_by_key(&r.devices, 400),
            Some(AnyVirtualDevice::VirtualSIOController(_))
        ));
        assert_eq!(
            b.list_dir(&p("web")).await.unwrap(),
            vec!["web.vmx".to_string()]
        );
        let vmx = String::from_utf8(b.download(&p("web/web.vmx")).await.unwrap()).unwrap();
        assert!(vmx.contains("displayName = \"web\""), "{vmx}");
        // Summary reads carry no devices.
        assert!(b
            .vm(&vm, VmDetail::Summary)
            .await
            .unwrap()
            .devices
            .is_empty());
        // Same name again.
        let e = b.create_vm(&named("web")).await.unwrap_err();
        assert!(matches!(e, Error::Exists { kind: "VM", .. }), "{e}");
        // No name.
        let e = b
            .create_vm(&VirtualMachineConfigSpec::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
    }

    #[tokio::test]
    async fn vmx_path_from_spec() {
        let b = backend();
        b.make_dir(&p("elsewhere")).await.unwrap();
        let mut spec = named("a");
        spec.files = Some(VirtualMachineFileInfo {
            vm_path_name: Some("[datastore1] elsewhere/a.vmx".into()),
            ..Default::default()
        });
        let vm = b.create_vm(&spec).await.unwrap();
        assert_eq!(
            b.vm(&vm, VmDetail::Summary).await.unwrap().vmx_path,
            Some(p("elsewhere/a.vmx"))
        );
        let mut spec = named("b");
        spec.files = Some(VirtualMachineFileInfo {
            vm_path_name: Some("[datastore1]".into()),
            ..Default::default()
        });
        let vm = b.create_vm(&spec).await.unwrap();
        assert_eq!(
            b.vm(&vm, VmDetail::Summary).await.unwrap().vmx_path,
            Some(p("b/b.vmx"))
        );
        let mut spec = named("c");
        spec.files = Some(VirtualMachineFileInfo {
            vm_path_name: Some("[nosuch] c/c.vmx".into()),
            ..Default::default()
        });
        assert!(b.create_vm(&spec).await.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn temporary_keys_are_replaced_and_rewired() {
        let b = backend();
        let mut spec = named("web");
        // The disk names the controller by its temporary key, and comes first.
        spec.device_change = vec![
            disk(-1, (-100, 0), "", None),
            scsi(-100),
            disk(-2, (-100, 1), "", None),
        ];
        let vm = b.create_vm(&spec).await.unwrap();
        let r = full(&b, &vm).await;
        let controller = r
            .devices
            .iter()
            .find(|d| matches!(d, AnyVirtualDevice::ParaVirtualSCSIController(_)))
            .unwrap();
        assert_eq!(controller.key, 1000);
        let ds = disks(&r);
        assert_eq!(
            ds,
            vec![
                (
                    2000,
                    Some(1000),
                    Some(0),
                    "[datastore1] web/web.vmdk".to_string()
                ),
                (
                    2001,
                    Some(1000),
                    Some(1),
                    "[datastore1] web/web_1.vmdk".to_string()
                ),
            ]
        );
        let AnyVirtualDevice::ParaVirtualSCSIController(c) = controller else {
            unreachable!()
        };
        assert_eq!(c.device, vec![2000, 2001]);
        assert!(b.exists(&p("web/web.vmdk")).await.unwrap());
        assert!(b.exists(&p("web/web_1.vmdk")).await.unwrap());

        // A reconfigure adds a third disk on the existing controller; no unit given.
        let mut d = disk(0, (1000, 0), "", None);
        if let AnyVirtualDeviceConfigSpec::VirtualDeviceConfigSpec(s) = &mut d {
            s.device.unit_number = None;
        }
        b.reconfigure_vm(
            &vm,
            &VirtualMachineConfigSpec {
                device_change: vec![d],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let r = full(&b, &vm).await;
        assert_eq!(
            disks(&r)[2],
            (
                2002,
                Some(1000),
                Some(2),
                "[datastore1] web/web_2.vmdk".to_string()
            )
        );
        assert_eq!(r.change_version.as_deref(), Some("2"));
    }

    #[tokio::test]
    async fn taken_unit_is_refused_and_nothing_is_created() {
        let b = backend();
        let mut spec = named("web");
        spec.device_change = vec![
            scsi(-100),
            disk(-1, (-100, 0), "", None),
            disk(-2, (-100, 0), "", None),
        ];
        let e = b.create_vm(&spec).await.unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
        assert!(b
            .vm_by_name("web", VmDetail::Summary)
            .await
            .unwrap()
            .is_none());
        assert!(!b.exists(&p("web")).await.unwrap());
        assert!(b.vm_events(None).await.unwrap().is_empty());

        // Unit 0 of IDE 200 taken by a CD-ROM, then claimed again in a reconfigure.
        let vm = b.create_vm(&named("web")).await.unwrap();
        b.upload(
            &p("x.iso"),
            Box::new(std::io::Cursor::new(b"iso".to_vec())),
            3,
        )
        .await
        .unwrap();
        let cd = || add_spec(device::new_cdrom(&p("x.iso"), (200, 0)), false);
        b.reconfigure_vm(
            &vm,
            &VirtualMachineConfigSpec {
                device_change: vec![cd()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let before = full(&b, &vm).await;
        let e = b
            .reconfigure_vm(
                &vm,
                &VirtualMachineConfigSpec {
                    device_change: vec![cd()],
                    extra_config: extra(&[("guestinfo.x", "1")]),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
        assert_eq!(full(&b, &vm).await, before);
        // IDE has two units only.
        let e = b
            .reconfigure_vm(
                &vm,
                &VirtualMachineConfigSpec {
                    device_change: vec![add_spec(device::new_cdrom(&p("x.iso"), (200, 2)), false)],
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
        // A controller key naming nothing.
        let e = b
            .reconfigure_vm(
                &vm,
                &VirtualMachineConfigSpec {
                    device_change: vec![disk(-1, (-7, 0), "", None)],
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
        assert!(!b.exists(&p("web/web.vmdk")).await.unwrap());
        assert_eq!(full(&b, &vm).await, before);
    }

    #[tokio::test]
    async fn stale_change_version_conflicts_and_changes_nothing() {
        let b = backend();
        let mut spec = named("web");
        spec.extra_config = extra(&[("guestinfo.a", "1")]);
        spec.device_change = vec![scsi(-100)];
        let vm = b.create_vm(&spec).await.unwrap();
        let ok = VirtualMachineConfigSpec {
            change_version: Some("1".into()),
            extra_config: extra(&[("guestinfo.a", "2")]),
            ..Default::default()
        };
        b.reconfigure_vm(&vm, &ok).await.unwrap();
        let before = full(&b, &vm).await;
        assert_eq!(before.change_version.as_deref(), Some("2"));
        let events_before = b.vm_events(None).await.unwrap().len();

        let stale = VirtualMachineConfigSpec {
            change_version: Some("1".into()),
            name: Some("renamed".into()),
            extra_config: extra(&[("guestinfo.a", "3"), ("guestinfo.b", "x")]),
            device_change: vec![disk(-1, (1000, 0), "", None)],
            num_cpus: Some(4),
            ..Default::default()
        };
        let e = b.reconfigure_vm(&vm, &stale).await.unwrap_err();
        match &e {
            Error::Conflict { what, during, .. } => {
                assert_eq!(what, "VM web");
                assert_eq!(during, "reconfigure");
            }
            other => panic!("{other}"),
        }
        assert_eq!(full(&b, &vm).await, before);
        assert!(!b.exists(&p("web/web.vmdk")).await.unwrap());
        assert_eq!(b.vm_events(None).await.unwrap().len(), events_before);
        let vmx = String::from_utf8(b.download(&p("web/web.vmx")).await.unwrap()).unwrap();
        assert!(vmx.contains("guestinfo.a = \"2\""), "{vmx}");

        // Without a change version the spec always applies; the version still bumps.
        let blind = VirtualMachineConfigSpec {
            name: Some("renamed".into()),
            extra_config: extra(&[("guestinfo.a", "")]),
            ..Default::default()
        };
        b.reconfigure_vm(&vm, &blind).await.unwrap();
        let r = full(&b, &vm).await;
        assert_eq!(r.name, "renamed");
        assert_eq!(r.change_version.as_deref(), Some("3"));
        assert!(!r.extra_config.contains_key("guestinfo.a"));
    }

    #[tokio::test]
    async fn extra_config_nil_reads_back_empty_and_bad_keys_are_refused() {
        let b = backend();
        let mut spec = named("web");
        spec.extra_config = extra(&[("guestinfo.n", vic_config::NIL), ("guestinfo.v", "x")]);
        let vm = b.create_vm(&spec).await.unwrap();
        let r = b.vm(&vm, VmDetail::Summary).await.unwrap();
        assert_eq!(
            r.extra_config.get("guestinfo.n").map(String::as_str),
            Some("")
        );
        let e = b
            .reconfigure_vm(
                &vm,
                &VirtualMachineConfigSpec {
                    extra_config: extra(&[("guestinfo.ok", "1"), ("bad key", "1")]),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
        assert!(!b
            .vm(&vm, VmDetail::Summary)
            .await
            .unwrap()
            .extra_config
            .contains_key("guestinfo.ok"));
    }

    #[tokio::test]
    async fn disk_files_parents_and_destroy() {
        let b = backend();
        b.make_dir(&p("images/base")).await.unwrap();
        b.create_disk(&p("images/base/base.vmdk"), 2048, None)
            .await
            .unwrap();
        // A child of a missing parent.
        let mut spec = named("web");
        spec.device_change = vec![
            scsi(-100),
            disk(-1, (-100, 0), "", Some("[datastore1] images/nope.vmdk")),
        ];
        assert!(b.create_vm(&spec).await.unwrap_err().is_not_found());
        assert!(!b.exists(&p("web")).await.unwrap());
        // A child of an existing parent.
        spec.device_change = vec![
            scsi(-100),
            disk(
                -1,
                (-100, 0),
                "",
                Some("[datastore1] images/base/base.vmdk"),
            ),
        ];
        let vm = b.create_vm(&spec).await.unwrap();
        let text = String::from_utf8(b.download(&p("web/web.vmdk")).await.unwrap()).unwrap();
        assert!(
            text.contains("parentFileNameHint=\"[datastore1] images/base/base.vmdk\""),
            "{text}"
        );
        // Attaching a disk that does not exist (no file operation).
        let mut attach = disk(-1, (1000, 1), "[datastore1] images/missing.vmdk", None);
        if let AnyVirtualDeviceConfigSpec::VirtualDeviceConfigSpec(s) = &mut attach {
            s.file_operation = None;
        }
        let e = b
            .reconfigure_vm(
                &vm,
                &VirtualMachineConfigSpec {
                    device_change: vec![attach],
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        // Creating over an existing file.
        let e = b
            .reconfigure_vm(
                &vm,
                &VirtualMachineConfigSpec {
                    device_change: vec![disk(
                        -1,
                        (1000, 1),
                        "[datastore1] images/base/base.vmdk",
                        None,
                    )],
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Exists { .. }), "{e}");

        // Locked while the VM runs.
        b.power_on(&vm).await.unwrap();
        let e = b.delete_disk(&p("web/web.vmdk")).await.unwrap_err();
        assert!(matches!(e, Error::InUse { .. }), "{e}");
        let e = b.delete_file(&p("web")).await.unwrap_err();
        assert!(matches!(e, Error::InUse { .. }), "{e}");
        b.power_off(&vm).await.unwrap();

        // Removal with destroy deletes the file; the parent stays.
        let r = full(&b, &vm).await;
        let d = r
            .devices
            .iter()
            .find(|d| matches!(d, AnyVirtualDevice::VirtualDisk(_)))
            .unwrap()
            .clone();
        b.reconfigure_vm(
            &vm,
            &VirtualMachineConfigSpec {
                device_change: vec![remove_spec(d, true)],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(!b.exists(&p("web/web.vmdk")).await.unwrap());
        assert!(b.exists(&p("images/base/base.vmdk")).await.unwrap());
        // Removing it again: no such device.
        let r = full(&b, &vm).await;
        assert!(disks(&r).is_empty());
    }

    #[tokio::test]
    async fn removing_a_controller_in_use_is_refused() {
        let b = backend();
        let mut spec = named("web");
        spec.device_change = vec![scsi(-100), disk(-1, (-100, 0), "", None)];
        let vm = b.create_vm(&spec).await.unwrap();
        let r = full(&b, &vm).await;
        let c = device::find_by_key(&r.devices, 1000).unwrap().clone();
        let e = b
            .reconfigure_vm(
                &vm,
                &VirtualMachineConfigSpec {
                    device_change: vec![remove_spec(c, false)],
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
        let e = b
            .reconfigure_vm(
                &vm,
                &VirtualMachineConfigSpec {
                    device_change: vec![remove_spec(
                        AnyVirtualDevice::VirtualDevice(Box::new(VirtualDevice {
                            key: 4242,
                            ..Default::default()
                        })),
                        false,
                    )],
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
        assert_eq!(full(&b, &vm).await, r);
    }

    #[tokio::test]
    async fn nics_get_their_network_and_a_mac() {
        let b = backend();
        let backing = b.network_backing("bridge").await.unwrap();
        let AnyVirtualDeviceBackingInfo::VirtualEthernetCardNetworkBackingInfo(nb) = &backing
        else {
            panic!("{backing:?}")
        };
        assert_eq!(nb.base_.device_name, "bridge");
        assert!(nb.network.is_some());
        assert!(b.network_backing("nope").await.unwrap_err().is_not_found());
        assert_eq!(
            b.port_groups().await.unwrap(),
            vec!["bridge".to_string(), "VM Network".to_string()]
        );

        let mut spec = named("web");
        spec.device_change = vec![add_spec(new_nic(NicKind::Vmxnet3, backing.clone()), false)];
        let vm = b.create_vm(&spec).await.unwrap();
        let r = full(&b, &vm).await;
        let nic = r.devices.iter().find_map(device::as_ethernet_card).unwrap();
        assert_eq!(nic.base_.key, 4000);
        assert_eq!(nic.base_.controller_key, Some(100));
        assert_eq!(nic.base_.unit_number, Some(7));
        assert!(nic
            .mac_address
            .as_deref()
            .is_some_and(|m| m.starts_with("00:50:56:")));

        // A NIC on a port group that does not exist.
        let mut bad = backing;
        if let AnyVirtualDeviceBackingInfo::VirtualEthernetCardNetworkBackingInfo(nb) = &mut bad {
            nb.base_.device_name = "nope".into();
        }
        let e = b
            .reconfigure_vm(
                &vm,
                &VirtualMachineConfigSpec {
                    device_change: vec![add_spec(new_nic(NicKind::Vmxnet3, bad), false)],
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
    }

    #[tokio::test]
    async fn power_states_events_and_destroy() {
        let b = backend();
        b.make_dir(&p("images")).await.unwrap();
        b.create_disk(&p("images/img.vmdk"), 10, None)
            .await
            .unwrap();
        let vm = b.create_vm(&named("web")).await.unwrap();
        let conflict = |e: Error, during: &str| match e {
            Error::Conflict { during: d, .. } => assert_eq!(d, during),
            other => panic!("{other}"),
        };
        conflict(b.power_off(&vm).await.unwrap_err(), "power off");
        conflict(b.shutdown_guest(&vm).await.unwrap_err(), "guest shutdown");
        b.power_on(&vm).await.unwrap();
        conflict(b.power_on(&vm).await.unwrap_err(), "power on");
        conflict(b.destroy_vm(&vm).await.unwrap_err(), "destroy");
        b.suspend(&vm).unwrap();
        assert_eq!(
            b.vm(&vm, VmDetail::Summary).await.unwrap().power_state,
            PowerState::Suspended
        );
        conflict(b.shutdown_guest(&vm).await.unwrap_err(), "guest shutdown");
        b.power_on(&vm).await.unwrap();
        b.shutdown_guest(&vm).await.unwrap();
        assert_eq!(
            b.vm(&vm, VmDetail::Summary).await.unwrap().power_state,
            PowerState::PoweredOff
        );
        b.power_on(&vm).await.unwrap();
        b.guest_power_off(&vm).unwrap();
        conflict(b.guest_power_off(&vm).unwrap_err(), "guest power off");
        // Reconfigure is allowed while powered on; the version does not care.
        b.power_on(&vm).await.unwrap();
        b.reconfigure_vm(
            &vm,
            &VirtualMachineConfigSpec {
                num_cpus: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        b.power_off(&vm).await.unwrap();
        b.destroy_vm(&vm).await.unwrap();
        assert!(b
            .vm(&vm, VmDetail::Summary)
            .await
            .unwrap_err()
            .is_not_found());
        assert!(b.power_on(&vm).await.unwrap_err().is_not_found());
        assert!(!b.exists(&p("web")).await.unwrap());
        assert!(b.exists(&p("images/img.vmdk")).await.unwrap());

        let events = b.vm_events(None).await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            vec![
                "VmBeingCreatedEvent",
                "VmCreatedEvent",
                "VmStartingEvent",
                "VmPoweredOnEvent",
                "VmSuspendingEvent",
                "VmSuspendedEvent",
                "VmStartingEvent",
                "VmPoweredOnEvent",
                "VmGuestShutdownEvent",
                "VmPoweredOffEvent",
                "VmStartingEvent",
                "VmPoweredOnEvent",
                "VmPoweredOffEvent",
                "VmStartingEvent",
                "VmPoweredOnEvent",
                "VmReconfiguredEvent",
                "VmStoppingEvent",
                "VmPoweredOffEvent",
                "VmRemovedEvent",
            ]
        );
        assert!(events.windows(2).all(|w| w[0].key < w[1].key));
        assert!(events.windows(2).all(|w| w[0].created <= w[1].created));
        assert!(events
            .iter()
            .all(|e| e.vm.as_ref() == Some(&vm) && e.vm_name.as_deref() == Some("web")));
        assert!(events
            .iter()
            .all(|e| parse_date_time(e.created.as_str()).is_some()));
        // `since` is inclusive.
        let from = &events[5];
        let later = b.vm_events(Some(&from.created)).await.unwrap();
        assert!(later.iter().any(|e| e.key == from.key));
        assert!(later.iter().all(|e| e.created >= from.created));
        let e = b
            .vm_events(Some(&DateTime("yesterday".into())))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
    }

    #[tokio::test]
    async fn wait_vm_holds_times_out_and_sees_removal() {
        let b = Arc::new(backend());
        let vm = b.create_vm(&named("web")).await.unwrap();
        let on = |r: &VmRecord| r.power_state == PowerState::PoweredOn;
        let e = b
            .wait_vm(&vm, Duration::from_millis(50), &on)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Timeout { .. }), "{e}");

        let other = b.clone();
        let vm2 = vm.clone();
        let t = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            // An unrelated change first, then the one awaited.
            other.make_dir(&DatastorePath::new(DS, "x")).await.unwrap();
            other.power_on(&vm2).await.unwrap();
        });
        let r = b.wait_vm(&vm, Duration::from_secs(10), &on).await.unwrap();
        assert_eq!(r.power_state, PowerState::PoweredOn);
        assert!(r.devices.is_empty());
        t.await.unwrap();

        let other = b.clone();
        let vm2 = vm.clone();
        let t = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            other.power_off(&vm2).await.unwrap();
            other.destroy_vm(&vm2).await.unwrap();
        });
        let never = |_: &VmRecord| false;
        let e = b
            .wait_vm(&vm, Duration::from_secs(10), &never)
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        t.await.unwrap();
    }

    /// An `AsyncRead` that yields some bytes, then fails.
    struct Failing(bool);

    impl AsyncRead for Failing {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if self.0 {
                return std::task::Poll::Ready(Err(std::io::Error::other("connection reset")));
            }
            self.0 = true;
            buf.put_slice(b"part");
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn failed_uploads_leave_no_file() {
        let b = backend();
        b.make_dir(&p("VCH001")).await.unwrap();
        let target = p("VCH001/a.iso");
        let e = b
            .upload(&target, Box::new(Failing(false)), 100)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(!b.exists(&target).await.unwrap());
        // Short body.
        let e = b
            .upload(
                &target,
                Box::new(std::io::Cursor::new(b"short".to_vec())),
                10,
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(!b.exists(&target).await.unwrap());
        // Missing folder.
        let e = b
            .upload(
                &p("nope/a.iso"),
                Box::new(std::io::Cursor::new(b"x".to_vec())),
                1,
            )
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert!(!b.exists(&p("nope")).await.unwrap());
        // Exactly `len` bytes are kept, a longer body is cut.
        b.upload(
            &target,
            Box::new(std::io::Cursor::new(b"hello world".to_vec())),
            5,
        )
        .await
        .unwrap();
        assert_eq!(b.download(&target).await.unwrap(), b"hello");
        // A failed replacement leaves no file, as on vSphere (where the partial
        // file is removed): callers that must keep the old one write beside it and
        // move (see `kv`).
        let e = b
            .upload(&target, Box::new(Failing(false)), 100)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(!b.exists(&target).await.unwrap());
    }

    #[tokio::test]
    async fn files_and_directories() {
        let b = backend();
        assert_eq!(b.vch_folder(), p("VCH001"));
        assert_eq!(b.describe(), "memory");
        b.make_dir(&p("a/b/c")).await.unwrap();
        b.make_dir(&p("a/b/c/")).await.unwrap();
        assert!(b.exists(&p("a/b")).await.unwrap());
        assert!(b.exists(&p("a//b/")).await.unwrap());
        for name in ["z.txt", "m.txt"] {
            b.upload(
                &p(&format!("a/b/{name}")),
                Box::new(std::io::Cursor::new(b"1".to_vec())),
                1,
            )
            .await
            .unwrap();
        }
        b.make_dir(&p("a/b-c")).await.unwrap();
        assert_eq!(
            b.list_dir(&p("a/b")).await.unwrap(),
            vec!["c", "m.txt", "z.txt"]
        );
        assert_eq!(b.list_dir(&p("a")).await.unwrap(), vec!["b", "b-c"]);
        assert!(b
            .list_dir(&p("a/b/m.txt"))
            .await
            .unwrap_err()
            .is_not_found());
        assert!(b.list_dir(&p("nope")).await.unwrap_err().is_not_found());
        assert!(b.download(&p("a/nope")).await.unwrap_err().is_not_found());
        assert!(matches!(
            b.make_dir(&p("a/b/m.txt/d")).await.unwrap_err(),
            Error::Exists { .. }
        ));
        b.delete_file(&p("a/b")).await.unwrap();
        assert!(!b.exists(&p("a/b/c")).await.unwrap());
        assert!(!b.exists(&p("a/b/m.txt")).await.unwrap());
        assert!(b.exists(&p("a/b-c")).await.unwrap());
        assert!(b.delete_file(&p("a/b")).await.unwrap_err().is_not_found());
        assert!(b
            .exists(&DatastorePath::new("other", ""))
            .await
            .unwrap_err()
            .is_not_found());
        let b = b.with_datastores(&["other"]);
        assert!(b.exists(&DatastorePath::new("other", "")).await.unwrap());
        assert!(matches!(
            b.exists(&p("a/../etc")).await.unwrap_err(),
            Error::InvalidInput(_)
        ));

        // Disks.
        assert!(b
            .create_disk(&p("a/b-c/d.vmdk"), 1, Some(&p("a/none.vmdk")))
            .await
            .unwrap_err()
            .is_not_found());
        assert!(b
            .create_disk(&p("missing/d.vmdk"), 1, None)
            .await
            .unwrap_err()
            .is_not_found());
        b.create_disk(&p("a/b-c/base.vmdk"), 8, None).await.unwrap();
        b.create_disk(&p("a/b-c/child.vmdk"), 8, Some(&p("a/b-c/base.vmdk")))
            .await
            .unwrap();
        assert!(matches!(
            b.create_disk(&p("a/b-c/child.vmdk"), 8, None)
                .await
                .unwrap_err(),
            Error::Exists { .. }
        ));
        let base = String::from_utf8(b.download(&p("a/b-c/base.vmdk")).await.unwrap()).unwrap();
        assert!(!base.contains("parentFileNameHint"), "{base}");
        let child = String::from_utf8(b.download(&p("a/b-c/child.vmdk")).await.unwrap()).unwrap();
        assert!(
            child.contains("parentFileNameHint=\"[datastore1] a/b-c/base.vmdk\""),
            "{child}"
        );
        b.delete_disk(&p("a/b-c/child.vmdk")).await.unwrap();
        assert!(b
            .delete_disk(&p("a/b-c/child.vmdk"))
            .await
            .unwrap_err()
            .is_not_found());
        assert!(matches!(
            b.delete_disk(&p("a/b-c")).await.unwrap_err(),
            Error::InvalidInput(_)
        ));
    }

    #[tokio::test]
    async fn guest_writes_keep_the_change_version() {
        let b = backend();
        let vm = b.create_vm(&named("web")).await.unwrap();
        let e = b.guest_write(&vm, &[("guestinfo.a", "1")]).unwrap_err();
        assert!(e.is_conflict(), "{e}");
        b.power_on(&vm).await.unwrap();
        let before = b.vm(&vm, VmDetail::Summary).await.unwrap();
        b.guest_write(&vm, &[("guestinfo.a", "1")]).unwrap();
        let after = b.vm(&vm, VmDetail::Summary).await.unwrap();
        assert_eq!(after.change_version, before.change_version);
        assert_eq!(
            after.extra_config.get("guestinfo.a").map(String::as_str),
            Some("1")
        );
        let e = b.guest_write(&vm, &[("numvcpus", "8")]).unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
        // A handle's version taken before the write still applies.
        b.reconfigure_vm(
            &vm,
            &VirtualMachineConfigSpec {
                change_version: before.change_version.clone(),
                extra_config: extra(&[("guestinfo.b", "2")]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn auto_start_reports_started_sessions() {
        let b = backend().with_auto_start();
        let mut config = ExecutorConfig::default();
        let mut waiting = vic_config::model::SessionConfig::default();
        waiting.cmd.path = Some("/bin/true".into());
        config.sessions.insert("s1".into(), waiting.clone());
        let mut done = waiting;
        done.started = Some("oops".into());
        config.sessions.insert("s2".into(), done);
        let map = vic_config::to_extra_config(&config).unwrap();
        let mut spec = named("web");
        spec.extra_config = vic_config::option_value::to_option_values(&map);
        let vm = b.create_vm(&spec).await.unwrap();
        b.power_on(&vm).await.unwrap();
        let r = b.vm(&vm, VmDetail::Summary).await.unwrap();
        let decoded = vic_config::from_extra_config::<ExecutorConfig>(&r.extra_config).unwrap();
        assert_eq!(decoded.sessions["s1"].started.as_deref(), Some("true"));
        assert_eq!(decoded.sessions["s2"].started.as_deref(), Some("oops"));
        assert_eq!(r.change_version.as_deref(), Some("1"));

        // Without the option nothing is written.
        let b = backend();
        let vm = b.create_vm(&spec).await.unwrap();
        b.power_on(&vm).await.unwrap();
        let r = b.vm(&vm, VmDetail::Summary).await.unwrap();
        let decoded = vic_config::from_extra_config::<ExecutorConfig>(&r.extra_config).unwrap();
        assert_eq!(decoded.sessions["s1"].started, None);
    }

    #[tokio::test]
    async fn debug_summarizes() {
        let b = backend();
        let mut spec = named("web");
        spec.extra_config = extra(&[("guestinfo.secret", "hunter2")]);
        b.create_vm(&spec).await.unwrap();
        let text = format!("{b:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("vms: 1"), "{text}");
    }

    #[test]
    fn date_times_are_utc_with_microseconds() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let t = UNIX_EPOCH + Duration::from_micros(1_795_435_200_123_456);
        let text = format_date_time(t);
        assert_eq!(text.as_str(), "2026-11-23T12:00:00.123456Z");
        assert_eq!(parse_date_time(text.as_str()), Some(t));
    }
}
