//! Virtual devices: building NICs, disks, CD-ROMs and serial ports, the device-change
//! specs that add or remove them, and finding the controller slot a new device needs.
//! No IO here; [`super::VirtualMachine`] applies the specs.
//!
//! ```
//! use vim25::object::device::{self, ControllerKind, NicKind};
//! use vim25::types::{AnyVirtualDevice, VirtualIDEController};
//!
//! let mut ide: AnyVirtualDevice = VirtualIDEController::default().into();
//! ide.key = 200;
//! let devices = vec![ide];
//! // An IDE controller has two units; both are free.
//! assert_eq!(device::free_slot(&devices, &[ControllerKind::Ide]), Some((200, 0)));
//! let nic = device::new_nic(NicKind::Vmxnet3, Default::default());
//! assert!(device::as_ethernet_card(&nic).is_some());
//! ```

use super::DatastorePath;
use crate::types::{
    AnyVirtualDevice, AnyVirtualDeviceBackingInfo, AnyVirtualDeviceConfigSpec, VirtualCdrom,
    VirtualCdromIsoBackingInfo, VirtualDevice, VirtualDeviceConfigSpec,
    VirtualDeviceConfigSpecFileOperation, VirtualDeviceConfigSpecOperation,
    VirtualDeviceConnectInfo, VirtualDeviceFileBackingInfo, VirtualDeviceURIBackingInfo,
    VirtualDeviceURIBackingOptionDirection, VirtualDisk, VirtualDiskFlatVer2BackingInfo,
    VirtualDiskMode, VirtualE1000, VirtualE1000e, VirtualEthernetCard, VirtualSerialPort,
    VirtualSerialPortFileBackingInfo, VirtualSerialPortURIBackingInfo, VirtualVmxnet,
    VirtualVmxnet3,
};
use crate::Error;
use std::fmt;
use std::str::FromStr;

/// The emulated NIC model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NicKind {
    /// VMXNET 3, the paravirtual NIC (needs VMware Tools drivers in the guest).
    #[default]
    Vmxnet3,
    /// Intel E1000.
    E1000,
    /// Intel E1000e.
    E1000e,
}

impl NicKind {
    /// The name govc uses for it (`vmxnet3`, `e1000`, `e1000e`).
    pub fn as_str(self) -> &'static str {
        match self {
            NicKind::Vmxnet3 => "vmxnet3",
            NicKind::E1000 => "e1000",
            NicKind::E1000e => "e1000e",
        }
    }
}

impl fmt::Display for NicKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NicKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "vmxnet3" => Ok(NicKind::Vmxnet3),
            "e1000" => Ok(NicKind::E1000),
            "e1000e" => Ok(NicKind::E1000e),
            other => Err(Error::InvalidInput(format!(
                "unknown NIC model {other:?} (vmxnet3, e1000 or e1000e)"
            ))),
        }
    }
}

/// Where a serial port's bytes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerialBacking {
    /// Into a file on a datastore.
    File(DatastorePath),
    /// Over the network: `telnet://:33001` (listen) or `tcp://10.0.0.1:9000`
    /// (connect), optionally through a virtual serial port concentrator.
    Uri {
        /// The service URI.
        uri: String,
        /// `Server` listens for connections; `Client` connects out.
        direction: VirtualDeviceURIBackingOptionDirection,
        /// The concentrator (vSPC) URI, if one is used.
        proxy: Option<String>,
    },
}

/// The families of controllers a device can sit on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControllerKind {
    /// Any SCSI controller (paravirtual, LSI Logic, LSI Logic SAS, BusLogic).
    Scsi,
    /// IDE.
    Ide,
    /// SATA (AHCI).
    Sata,
    /// NVMe.
    Nvme,
    /// The super I/O controller of serial and parallel ports and floppies.
    Sio,
}

impl ControllerKind {
    /// How many unit numbers a controller of this kind has.
    fn units(self) -> i32 {
        match self {
            ControllerKind::Scsi => 16,
            ControllerKind::Ide => 2,
            ControllerKind::Sata => 30,
            ControllerKind::Nvme => 15,
            ControllerKind::Sio => 4,
        }
    }
}

/// The controller family of `d`, when it is a controller this module places devices on.
pub fn controller_kind(d: &AnyVirtualDevice) -> Option<ControllerKind> {
    use AnyVirtualDevice as D;
    Some(match d {
        D::ParaVirtualSCSIController(_)
        | D::VirtualBusLogicController(_)
        | D::VirtualLsiLogicController(_)
        | D::VirtualLsiLogicSASController(_)
        | D::VirtualSCSIController(_) => ControllerKind::Scsi,
        D::VirtualIDEController(_) => ControllerKind::Ide,
        D::VirtualAHCIController(_) | D::VirtualSATAController(_) => ControllerKind::Sata,
        D::VirtualNVMEController(_) => ControllerKind::Nvme,
        D::VirtualSIOController(_) => ControllerKind::Sio,
        _ => return None,
    })
}

/// The unit number a SCSI controller keeps for itself (7 unless it says otherwise).
fn reserved_unit(controller: &AnyVirtualDevice) -> Option<i32> {
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

/// The device whose key is `key`.
pub fn find_by_key(devices: &[AnyVirtualDevice], key: i32) -> Option<&AnyVirtualDevice> {
    devices.iter().find(|d| d.key == key)
}

/// The lowest free unit number on the controller keyed `controller_key`, if any.
pub fn free_unit(devices: &[AnyVirtualDevice], controller_key: i32) -> Option<i32> {
    let controller = find_by_key(devices, controller_key)?;
    let kind = controller_kind(controller)?;
    let reserved = reserved_unit(controller);
    let taken: Vec<i32> = devices
        .iter()
        .filter(|d| d.controller_key == Some(controller_key))
        .filter_map(|d| d.unit_number)
        .collect();
    (0..kind.units()).find(|u| Some(*u) != reserved && !taken.contains(u))
}

/// The first free `(controller key, unit number)` on a controller of one of `kinds`,
/// trying the kinds in order and controllers by key.
pub fn free_slot(devices: &[AnyVirtualDevice], kinds: &[ControllerKind]) -> Option<(i32, i32)> {
    for kind in kinds {
        let mut controllers: Vec<i32> = devices
            .iter()
            .filter(|d| controller_kind(d) == Some(*kind))
            .map(|d| d.key)
            .collect();
        controllers.sort_unstable();
        for key in controllers {
            if let Some(unit) = free_unit(devices, key) {
                return Some((key, unit));
            }
        }
    }
    None
}

/// The device as an Ethernet card, if it is one (any model).
pub fn as_ethernet_card(d: &AnyVirtualDevice) -> Option<&VirtualEthernetCard> {
    use AnyVirtualDevice as D;
    let card: &VirtualEthernetCard = match d {
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
    };
    Some(card)
}

/// The device's label (`Network adapter 1`), when the server gave one.
pub fn label(d: &AnyVirtualDevice) -> Option<&str> {
    d.device_info.as_ref().map(|i| i.label.as_str())
}

/// The device's summary (`DVSwitch: …`, `ISO [ds] x.iso`), when the server gave one.
pub fn summary(d: &AnyVirtualDevice) -> Option<&str> {
    d.device_info.as_ref().map(|i| i.summary.as_str())
}

/// Connected at power-on, guest may disconnect it: what a new NIC or CD-ROM wants.
fn connect_at_power_on() -> VirtualDeviceConnectInfo {
    VirtualDeviceConnectInfo {
        start_connected: true,
        allow_guest_control: true,
        connected: true,
        ..Default::default()
    }
}

/// A device base with a temporary (negative) key, as new devices in a spec need.
fn new_base(backing: AnyVirtualDeviceBackingInfo, slot: Option<(i32, i32)>) -> VirtualDevice {
    VirtualDevice {
        key: -1,
        backing: Some(backing),
        controller_key: slot.map(|s| s.0),
        unit_number: slot.map(|s| s.1),
        ..Default::default()
    }
}

/// A new NIC of `kind` on `backing` (see [`super::ethernet_card_backing`]), with a
/// generated MAC address, connected at power-on.
pub fn new_nic(kind: NicKind, backing: AnyVirtualDeviceBackingInfo) -> AnyVirtualDevice {
    let mut base = new_base(backing, None);
    base.connectable = Some(connect_at_power_on());
    let card = VirtualEthernetCard {
        base_: base,
        address_type: Some("generated".into()),
        ..Default::default()
    };
    match kind {
        NicKind::Vmxnet3 => VirtualVmxnet3 {
            base_: VirtualVmxnet { base_: card },
            ..Default::default()
        }
        .into(),
        NicKind::E1000 => VirtualE1000 { base_: card }.into(),
        NicKind::E1000e => VirtualE1000e { base_: card }.into(),
    }
}

/// A new thin-provisioned, persistent disk of `capacity_kb` KiB in `file` (a
/// datastore path; `[ds]` alone lets the server name it in the VM's directory) at
/// `slot` (`(controller key, unit number)`, see [`free_slot`]).
pub fn new_disk(capacity_kb: i64, file: &DatastorePath, slot: (i32, i32)) -> AnyVirtualDevice {
    let backing = VirtualDiskFlatVer2BackingInfo {
        base_: VirtualDeviceFileBackingInfo {
            file_name: file.to_string(),
            ..Default::default()
        },
        disk_mode: VirtualDiskMode::Persistent.as_str().to_string(),
        thin_provisioned: Some(true),
        ..Default::default()
    };
    VirtualDisk {
        base_: new_base(backing.into(), Some(slot)),
        capacity_in_kb: capacity_kb,
        capacity_in_bytes: Some(capacity_kb.saturating_mul(1024)),
        ..Default::default()
    }
    .into()
}

/// A new CD-ROM with the ISO image `iso` inserted, at `slot` (an IDE or SATA
/// controller's), connected at power-on.
pub fn new_cdrom(iso: &DatastorePath, slot: (i32, i32)) -> AnyVirtualDevice {
    let backing = VirtualCdromIsoBackingInfo {
        base_: VirtualDeviceFileBackingInfo {
            file_name: iso.to_string(),
            ..Default::default()
        },
    };
    let mut base = new_base(backing.into(), Some(slot));
    base.connectable = Some(connect_at_power_on());
    VirtualCdrom { base_: base }.into()
}

/// A new serial port on `backing`, at `slot` (the super I/O controller's) when given.
pub fn new_serial_port(backing: &SerialBacking, slot: Option<(i32, i32)>) -> AnyVirtualDevice {
    let backing: AnyVirtualDeviceBackingInfo = match backing {
        SerialBacking::File(path) => VirtualSerialPortFileBackingInfo {
            base_: VirtualDeviceFileBackingInfo {
                file_name: path.to_string(),
                ..Default::default()
            },
        }
        .into(),
        SerialBacking::Uri {
            uri,
            direction,
            proxy,
        } => VirtualSerialPortURIBackingInfo {
            base_: VirtualDeviceURIBackingInfo {
                service_uri: uri.clone(),
                direction: direction.as_str().to_string(),
                proxy_uri: proxy.clone(),
                ..Default::default()
            },
        }
        .into(),
    };
    let mut base = new_base(backing, slot);
    base.connectable = Some(connect_at_power_on());
    VirtualSerialPort {
        base_: base,
        // The guest yields the CPU while polling the port: what an idle console wants.
        yield_on_poll: true,
    }
    .into()
}

/// A change that adds `device`; `create_file` asks the server to create its backing
/// file (a new disk).
pub fn add_spec(device: AnyVirtualDevice, create_file: bool) -> AnyVirtualDeviceConfigSpec {
    VirtualDeviceConfigSpec {
        operation: Some(VirtualDeviceConfigSpecOperation::Add),
        file_operation: create_file.then_some(VirtualDeviceConfigSpecFileOperation::Create),
        device,
        ..Default::default()
    }
    .into()
}

/// A change that removes `device`; `destroy_file` also deletes its backing file (a
/// disk's VMDK).
pub fn remove_spec(device: AnyVirtualDevice, destroy_file: bool) -> AnyVirtualDeviceConfigSpec {
    VirtualDeviceConfigSpec {
        operation: Some(VirtualDeviceConfigSpecOperation::Remove),
        file_operation: destroy_file.then_some(VirtualDeviceConfigSpecFileOperation::Destroy),
        device,
        ..Default::default()
    }
    .into()
}
