//! Virtual machines: power, reconfiguration, devices, `extraConfig`, and waiting for
//! a power state or a guest IP address.

use super::device::{self, ControllerKind, NicKind, SerialBacking};
use super::{wait_within, wrapper, DatastorePath, HostSystem, ResourcePool};
use crate::mo;
use crate::task::Task;
use crate::types::AnyValue;
use crate::types::{
    AnyOptionValue, AnyVirtualDevice, AnyVirtualDeviceBackingInfo, AnyVirtualDeviceConfigSpec,
    ManagedObjectReference, OptionValue, VirtualMachineConfigInfo, VirtualMachineConfigSpec,
    VirtualMachinePowerState,
};
use crate::{methods, Error};
use std::collections::BTreeMap;
use std::time::Duration;

wrapper!(
    /// A virtual machine.
    ///
    /// ```no_run
    /// # async fn demo(client: vim25::Client, vm: vim25::types::ManagedObjectReference) -> Result<(), vim25::Error> {
    /// use std::time::Duration;
    /// use vim25::object::VirtualMachine;
    /// let vm = VirtualMachine::new(&client, vm);
    /// vm.power_on().await?.wait().await?;
    /// let ip = vm.wait_for_ip(Duration::from_secs(300)).await?;
    /// println!("{} is up at {ip}", vm.name().await?);
    /// # Ok(()) }
    /// ```
    VirtualMachine
);

/// Declares a power operation: the task-starting method and its waiting form.
macro_rules! power_op {
    ($(#[$doc:meta])* $name:ident, $and_wait:ident, $call:path $(, $extra:expr)*) => {
        $(#[$doc])*
        /// Returns the task.
        pub async fn $name(&self) -> Result<Task<()>, Error> {
            let t = $call(self.client(), self.reference() $(, $extra)*).await?;
            Ok(Task::new(self.client(), t))
        }

        #[doc = concat!("[`VirtualMachine::", stringify!($name), "`] and waits for the task.")]
        pub async fn $and_wait(&self) -> Result<(), Error> {
            self.$name().await?.wait().await
        }
    };
}

/// An `extraConfig` value as text (numbers and booleans spelled out; empty when unset).
fn option_text(v: &Option<AnyValue>) -> String {
    match v {
        None | Some(AnyValue::Null) => String::new(),
        Some(AnyValue::Bool(b)) => b.to_string(),
        Some(AnyValue::Byte(n)) => n.to_string(),
        Some(AnyValue::Short(n)) => n.to_string(),
        Some(AnyValue::Int(n)) => n.to_string(),
        Some(AnyValue::Long(n)) => n.to_string(),
        Some(AnyValue::Float(n)) => n.to_string(),
        Some(AnyValue::Double(n)) => n.to_string(),
        Some(other) => other.as_str().unwrap_or_default().to_string(),
    }
}

impl VirtualMachine {
    power_op!(
        /// Starts powering the VM on (on the host its pool chooses).
        power_on,
        power_on_and_wait,
        methods::power_on_vm_task,
        None
    );
    power_op!(
        /// Starts powering the VM off, hard (see [`VirtualMachine::shutdown_guest`]).
        power_off,
        power_off_and_wait,
        methods::power_off_vm_task
    );
    power_op!(
        /// Starts a hard reset.
        reset,
        reset_and_wait,
        methods::reset_vm_task
    );
    power_op!(
        /// Starts suspending the VM.
        suspend,
        suspend_and_wait,
        methods::suspend_vm_task
    );

    /// Asks the guest OS to shut down (needs VMware Tools); returns at once, before
    /// the guest is off: see [`VirtualMachine::wait_for_power_state`].
    pub async fn shutdown_guest(&self) -> Result<(), Error> {
        methods::shutdown_guest(self.client(), self.reference()).await
    }

    /// Asks the guest OS to reboot (needs VMware Tools); returns at once.
    pub async fn reboot_guest(&self) -> Result<(), Error> {
        methods::reboot_guest(self.client(), self.reference()).await
    }

    /// The current power state.
    pub async fn power_state(&self) -> Result<VirtualMachinePowerState, Error> {
        let vm: mo::VirtualMachine = self.properties(&["runtime"]).await?;
        vm.runtime
            .map(|r| r.power_state)
            .ok_or_else(|| Error::NotFound(format!("runtime of {}", self.reference())))
    }

    /// Starts reconfiguring the VM with `spec`. Returns the task.
    pub async fn reconfigure(&self, spec: &VirtualMachineConfigSpec) -> Result<Task<()>, Error> {
        let t = methods::reconfig_vm_task(self.client(), self.reference(), spec).await?;
        Ok(Task::new(self.client(), t))
    }

    /// [`VirtualMachine::reconfigure`] and waits for the task.
    pub async fn reconfigure_and_wait(&self, spec: &VirtualMachineConfigSpec) -> Result<(), Error> {
        self.reconfigure(spec).await?.wait().await
    }

    /// The VM's configuration (`config`).
    pub async fn config(&self) -> Result<VirtualMachineConfigInfo, Error> {
        let vm: mo::VirtualMachine = self.properties(&["config"]).await?;
        vm.config
            .ok_or_else(|| Error::NotFound(format!("config of {}", self.reference())))
    }

    /// The VM's virtual devices (`config.hardware.device`).
    pub async fn devices(&self) -> Result<Vec<AnyVirtualDevice>, Error> {
        Ok(self.config().await?.hardware.device)
    }

    /// The host the VM runs on (or is registered on), if any.
    pub async fn host(&self) -> Result<Option<HostSystem>, Error> {
        let vm: mo::VirtualMachine = self.properties(&["runtime"]).await?;
        Ok(vm
            .runtime
            .and_then(|r| r.host)
            .map(|h| HostSystem::new(self.client(), h)))
    }

    /// The resource pool the VM belongs to, if any (templates have none).
    pub async fn resource_pool(&self) -> Result<Option<ResourcePool>, Error> {
        let vm: mo::VirtualMachine = self.properties(&["resourcePool"]).await?;
        Ok(vm
            .resource_pool
            .map(|p| ResourcePool::new(self.client(), p)))
    }

    /// Applies one device change and returns the device it added: the one whose key
    /// was not among `before`.
    async fn add_device(
        &self,
        before: &[AnyVirtualDevice],
        change: AnyVirtualDeviceConfigSpec,
    ) -> Result<AnyVirtualDevice, Error> {
        let kind = change.device.type_name().to_string();
        self.reconfigure_and_wait(&VirtualMachineConfigSpec {
            device_change: vec![change],
            ..Default::default()
        })
        .await?;
        self.devices()
            .await?
            .into_iter()
            .find(|d| device::find_by_key(before, d.key).is_none())
            .ok_or_else(|| Error::NotFound(format!("new {kind} on {}", self.reference())))
    }

    /// Adds a NIC of `kind` on `backing` (see [`super::ethernet_card_backing`]) and
    /// returns it as the server configured it (key, MAC address).
    pub async fn add_nic(
        &self,
        kind: NicKind,
        backing: AnyVirtualDeviceBackingInfo,
    ) -> Result<AnyVirtualDevice, Error> {
        let before = self.devices().await?;
        let nic = device::new_nic(kind, backing);
        self.add_device(&before, device::add_spec(nic, false)).await
    }

    /// Adds a NIC of `kind` on `network` (a `Network` or a
    /// `DistributedVirtualPortgroup`).
    pub async fn add_nic_on(
        &self,
        kind: NicKind,
        network: &ManagedObjectReference,
    ) -> Result<AnyVirtualDevice, Error> {
        let backing = super::ethernet_card_backing(self.client(), network).await?;
        self.add_nic(kind, backing).await
    }

    /// Adds a new thin-provisioned disk of `capacity_kb` KiB on the first free slot
    /// of a SCSI, SATA or NVMe controller, in the VM's directory on `datastore` (the
    /// datastore of the VM's configuration file when `None`). Returns the disk, with
    /// the file name the server chose.
    pub async fn add_disk(
        &self,
        capacity_kb: i64,
        datastore: Option<&str>,
    ) -> Result<AnyVirtualDevice, Error> {
        let config = self.config().await?;
        let datastore = match datastore {
            Some(ds) => ds.to_string(),
            None => config
                .files
                .vm_path_name
                .as_deref()
                .and_then(DatastorePath::parse)
                .map(|p| p.datastore)
                .ok_or_else(|| Error::NotFound(format!("datastore of {}", self.reference())))?,
        };
        let before = config.hardware.device;
        let slot = device::free_slot(
            &before,
            &[
                ControllerKind::Scsi,
                ControllerKind::Sata,
                ControllerKind::Nvme,
            ],
        )
        .ok_or_else(|| {
            Error::NotFound(format!(
                "free SCSI, SATA or NVMe controller slot on {}",
                self.reference()
            ))
        })?;
        let disk = device::new_disk(capacity_kb, &DatastorePath::new(datastore, ""), slot);
        self.add_device(&before, device::add_spec(disk, true)).await
    }

    /// Adds a CD-ROM with the ISO image `iso` on the first free slot of an IDE or
    /// SATA controller.
    pub async fn add_cdrom(&self, iso: &DatastorePath) -> Result<AnyVirtualDevice, Error> {
        let before = self.devices().await?;
        let slot = device::free_slot(&before, &[ControllerKind::Ide, ControllerKind::Sata])
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "free IDE or SATA controller slot on {}",
                    self.reference()
                ))
            })?;
        let cdrom = device::new_cdrom(iso, slot);
        self.add_device(&before, device::add_spec(cdrom, false))
            .await
    }

    /// Adds a serial port on `backing` (on the super I/O controller when the VM
    /// lists one).
    pub async fn add_serial_port(
        &self,
        backing: &SerialBacking,
    ) -> Result<AnyVirtualDevice, Error> {
        let before = self.devices().await?;
        let slot = device::free_slot(&before, &[ControllerKind::Sio]);
        let port = device::new_serial_port(backing, slot);
        self.add_device(&before, device::add_spec(port, false))
            .await
    }

    /// Removes the device keyed `key`; `destroy_file` also deletes its backing file
    /// (a disk's VMDK). [`Error::NotFound`] when the VM has no such device.
    pub async fn remove_device(&self, key: i32, destroy_file: bool) -> Result<(), Error> {
        let devices = self.devices().await?;
        let dev = device::find_by_key(&devices, key)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("device {key} on {}", self.reference())))?;
        self.reconfigure_and_wait(&VirtualMachineConfigSpec {
            device_change: vec![device::remove_spec(dev, destroy_file)],
            ..Default::default()
        })
        .await
    }

    /// The VM's `extraConfig` as key → value. Entries are read in order with later
    /// ones winning and an empty value meaning unset, which is how vSphere applies
    /// them (a server that appends rather than replaces reads the same).
    pub async fn extra_config(&self) -> Result<BTreeMap<String, String>, Error> {
        let mut out = BTreeMap::new();
        for o in self.config().await?.extra_config {
            let value = option_text(&o.value);
            if value.is_empty() {
                out.remove(&o.key);
            } else {
                out.insert(o.key.clone(), value);
            }
        }
        Ok(out)
    }

    /// Sets `extraConfig` entries (an empty value deletes the key) and waits.
    pub async fn set_extra_config(&self, entries: &[(&str, &str)]) -> Result<(), Error> {
        let options = entries
            .iter()
            .map(|(k, v)| {
                OptionValue {
                    key: k.to_string(),
                    value: Some(AnyValue::String(v.to_string())),
                    ..Default::default()
                }
                .into()
            })
            .collect();
        self.update_extra_config(options).await?.wait().await
    }

    /// Starts a reconfiguration that changes only `extraConfig`, with `options` as
    /// they are (an empty value deletes its key), such as vic-config's
    /// `option_value::encode` gives them. Returns the task.
    pub async fn update_extra_config(
        &self,
        options: Vec<AnyOptionValue>,
    ) -> Result<Task<()>, Error> {
        self.reconfigure(&VirtualMachineConfigSpec {
            extra_config: options,
            ..Default::default()
        })
        .await
    }

    /// Waits until the VM is in `state` (at once if it already is), for at most
    /// `limit` ([`Error::Timeout`] then). Sees changes made by anyone.
    pub async fn wait_for_power_state(
        &self,
        state: VirtualMachinePowerState,
        limit: Duration,
    ) -> Result<(), Error> {
        let what = format!("to be {}", state.as_str());
        let is = |s: Option<&VirtualMachinePowerState>| s == Some(&state);
        let path = "runtime.powerState";
        wait_within(self.client(), self.reference(), path, limit, &what, is)
            .await
            .map(drop)
    }

    /// Waits until the guest reports an IP address (`guest.ipAddress`, set by VMware
    /// Tools) and returns it, for at most `limit` ([`Error::Timeout`] then).
    pub async fn wait_for_ip(&self, limit: Duration) -> Result<String, Error> {
        let reported = |ip: Option<&String>| ip.is_some_and(|ip| !ip.is_empty());
        let what = "to report an IP address";
        let ip = wait_within(
            self.client(),
            self.reference(),
            "guest.ipAddress",
            limit,
            what,
            reported,
        );
        // The predicate only accepts a value, so one is there.
        Ok(ip.await?.unwrap_or_default())
    }
}
