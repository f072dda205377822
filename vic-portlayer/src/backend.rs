//! The vSphere operations the port layer is built on.
//!
//! Every area of the port layer (exec, storage, network, interaction, events, kv) is
//! written once, against [`Backend`]: the handful of things it needs from vSphere —
//! VMs created and reconfigured with a `VirtualMachineConfigSpec` (with
//! `changeVersion` honoured), power operations, one-retrieval listings, property
//! waits, datastore files and disks, events and port groups. Two implementations:
//!
//! - [`VsphereBackend`](crate::vsphere::VsphereBackend) on a `vim25` client;
//! - [`MemoryBackend`](crate::memory::MemoryBackend), which keeps VMs, files and
//!   events in memory and applies the same config specs the same way (change
//!   versions bump on every reconfigure; a stale one is a conflict), so that code
//!   built on the port layer is unit-tested without a server.
//!
//! Because the areas share one implementation, the two backends cannot drift apart
//! in what a container operation does; only these primitives differ.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncRead;
use vim25::object::DatastorePath;
use vim25::types::{
    AnyVirtualDevice, AnyVirtualDeviceBackingInfo, DateTime, ManagedObjectReference,
    VirtualMachineConfigSpec,
};

use crate::Result;

/// A VM's power state, as the port layer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerState {
    /// Powered on.
    PoweredOn,
    /// Powered off.
    PoweredOff,
    /// Suspended.
    Suspended,
}

/// How much of a VM to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmDetail {
    /// Name, change version, power state, extraConfig, files (no devices).
    Summary,
    /// Everything in [`Summary`](VmDetail::Summary) plus the device list.
    Full,
}

/// What the port layer reads of a VM.
#[derive(Debug, Clone, PartialEq)]
pub struct VmRecord {
    /// The VM.
    pub reference: ManagedObjectReference,
    /// Its name (a containerVM is named by its container ID).
    pub name: String,
    /// `config.changeVersion`; `None` where the server keeps none (the simulator).
    pub change_version: Option<String>,
    /// `runtime.powerState`.
    pub power_state: PowerState,
    /// `config.extraConfig`, folded with vSphere's semantics ([`apply_extra_config`])
    /// and with `<nil>` read back as the empty string ([`unescaped`]).
    pub extra_config: BTreeMap<String, String>,
    /// `config.files.vmPathName`, the `.vmx` (its folder is the VM's folder).
    pub vmx_path: Option<DatastorePath>,
    /// `config.hardware.device`; empty unless read with [`VmDetail::Full`].
    pub devices: Vec<AnyVirtualDevice>,
}

/// One vSphere event about a VM.
#[derive(Debug, Clone, PartialEq)]
pub struct VmEvent {
    /// The event's key (unique per server; what de-duplication uses).
    pub key: i32,
    /// Its wire type name (`VmPoweredOnEvent`, `VmRemovedEvent`, …).
    pub kind: String,
    /// The VM.
    pub vm: Option<ManagedObjectReference>,
    /// The VM's name when the event was logged.
    pub vm_name: Option<String>,
    /// When it was logged.
    pub created: DateTime,
    /// The server's message.
    pub message: Option<String>,
}

/// A predicate over a VM, for [`Backend::wait_vm`].
pub type VmPredicate<'a> = &'a (dyn Fn(&VmRecord) -> bool + Send + Sync);

/// The vSphere primitives the port layer composes. Object safe: the port layer
/// holds an `Arc<dyn Backend>`.
///
/// Errors: a missing VM, file or port group is [`Error::NotFound`](crate::Error::NotFound);
/// a stale `changeVersion` or vSphere `ConcurrentAccess` is
/// [`Error::Conflict`](crate::Error::Conflict), as is `InvalidState`/`InvalidPowerState`
/// from a power operation.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name for logs and errors (`vsphere https://vc/sdk`, `memory`).
    fn describe(&self) -> String;

    /// The VCH's folder on its datastore (`[datastore1] VCH001`): where kv stores,
    /// and by default image and volume stores, live.
    fn vch_folder(&self) -> DatastorePath;

    // ---- VMs -----------------------------------------------------------------

    /// Creates a VM from `spec` in the VCH's VM folder and resource pool; returns it.
    /// A VM of the same name in that folder is [`Error::Exists`](crate::Error::Exists).
    async fn create_vm(&self, spec: &VirtualMachineConfigSpec) -> Result<ManagedObjectReference>;

    /// Applies `spec` to `vm`. When `spec.change_version` is set and differs from the
    /// VM's, nothing is applied and the answer is a conflict.
    async fn reconfigure_vm(
        &self,
        vm: &ManagedObjectReference,
        spec: &VirtualMachineConfigSpec,
    ) -> Result<()>;

    /// Powers `vm` on (a conflict when it is not off or suspended).
    async fn power_on(&self, vm: &ManagedObjectReference) -> Result<()>;

    /// Powers `vm` off hard (a conflict when it is not on or suspended).
    async fn power_off(&self, vm: &ManagedObjectReference) -> Result<()>;

    /// Asks the guest to shut down (returns at once; watch the power state).
    async fn shutdown_guest(&self, vm: &ManagedObjectReference) -> Result<()>;

    /// Destroys `vm` and its files (a conflict when it is powered on).
    async fn destroy_vm(&self, vm: &ManagedObjectReference) -> Result<()>;

    /// Reads one VM.
    async fn vm(&self, vm: &ManagedObjectReference, detail: VmDetail) -> Result<VmRecord>;

    /// The VM named `name` in the VCH's VM folder, if there is one.
    async fn vm_by_name(&self, name: &str, detail: VmDetail) -> Result<Option<VmRecord>>;

    /// Every VM in the VCH's VM folder, in one retrieval.
    async fn list_vms(&self, detail: VmDetail) -> Result<Vec<VmRecord>>;

    /// Waits until `until` holds for `vm` (read without devices), through a
    /// property-collector watch; returns the record that satisfied it. Ends with
    /// [`Error::Timeout`](crate::Error::Timeout) after `limit` and with
    /// [`Error::NotFound`](crate::Error::NotFound) when the VM goes away.
    async fn wait_vm(
        &self,
        vm: &ManagedObjectReference,
        limit: Duration,
        until: VmPredicate<'_>,
    ) -> Result<VmRecord>;

    // ---- datastore files -----------------------------------------------------

    /// Creates `dir` and its parents; an existing directory is fine.
    async fn make_dir(&self, dir: &DatastorePath) -> Result<()>;

    /// Writes `len` bytes from `body` to `path`, replacing any file there. A failed
    /// write leaves no file behind.
    async fn upload(
        &self,
        path: &DatastorePath,
        body: Box<dyn AsyncRead + Send + Unpin>,
        len: u64,
    ) -> Result<()>;

    /// Reads the whole file at `path`.
    async fn download(&self, path: &DatastorePath) -> Result<Vec<u8>>;

    /// Deletes the file or directory (with its contents) at `path`.
    async fn delete_file(&self, path: &DatastorePath) -> Result<()>;

    /// Moves the file at `from` to `to` in one step, replacing a file at `to`
    /// (vSphere's `MoveDatastoreFile` with `force`): readers see the old file or the
    /// new one, never a part. A missing `from` is [`Error::NotFound`](crate::Error::NotFound); `to`'s
    /// directory must exist.
    async fn move_file(&self, from: &DatastorePath, to: &DatastorePath) -> Result<()>;

    /// The names of the entries (files and directories) directly in `dir`, sorted.
    async fn list_dir(&self, dir: &DatastorePath) -> Result<Vec<String>>;

    /// Whether a file or directory exists at `path`.
    async fn exists(&self, path: &DatastorePath) -> Result<bool>;

    /// Creates a virtual disk at `path` (`….vmdk`), of `capacity_kb`, as a child of
    /// `parent` when given (the parent must exist).
    async fn create_disk(
        &self,
        path: &DatastorePath,
        capacity_kb: i64,
        parent: Option<&DatastorePath>,
    ) -> Result<()>;

    /// Deletes the virtual disk at `path`.
    async fn delete_disk(&self, path: &DatastorePath) -> Result<()>;

    // ---- events and networks -------------------------------------------------

    /// The events about VMs in the VCH's VM folder logged at or after `since`
    /// (everything the server keeps when `None`), oldest first, read page by page.
    /// Windows overlap at their edges: callers de-duplicate by [`VmEvent::key`].
    async fn vm_events(&self, since: Option<&DateTime>) -> Result<Vec<VmEvent>>;

    /// The backing for a virtual NIC on the port group named `name` (standard or
    /// distributed).
    async fn network_backing(&self, name: &str) -> Result<AnyVirtualDeviceBackingInfo>;

    /// The names of the port groups VMs of the VCH can attach to.
    async fn port_groups(&self) -> Result<Vec<String>>;
}

/// Applies the `extraConfig` entries of a config spec to `map` with vSphere's
/// semantics: an entry sets its key; an empty (or absent) value deletes it. Values
/// are stored as sent (`<nil>` stays `<nil>`); read them back through
/// [`unescaped`]. Both backends use it: the memory backend on its own state, the
/// vSphere backend to fold the list a server returns (govmomi's simulator appends
/// a changed key again instead of replacing it; the last entry wins).
pub fn apply_extra_config(
    map: &mut BTreeMap<String, String>,
    entries: &[vim25::types::AnyOptionValue],
) -> Result<()> {
    use vim25::types::AnyValue;
    for ov in entries {
        let text = match &ov.value {
            None | Some(AnyValue::Null) => String::new(),
            Some(AnyValue::String(s)) | Some(AnyValue::Uri(s)) => s.clone(),
            Some(AnyValue::Bool(b)) => b.to_string(),
            Some(AnyValue::Int(n)) => n.to_string(),
            Some(AnyValue::Long(n)) => n.to_string(),
            Some(AnyValue::Short(n)) => n.to_string(),
            Some(AnyValue::Byte(n)) => n.to_string(),
            Some(other) => {
                return Err(crate::Error::InvalidInput(format!(
                    "extraConfig {}: value of type {} is not a string",
                    ov.key,
                    other.kind()
                )))
            }
        };
        if text.is_empty() {
            map.remove(&ov.key);
        } else {
            map.insert(ov.key.clone(), text);
        }
    }
    Ok(())
}

/// The entries of a VM's `config.extraConfig` property as a property collector
/// returns it (an `ArrayOfOptionValue`; nothing or null for none), in the server's
/// order, ready for [`apply_extra_config`]. `Err` holds the kind of a value that
/// is not a list of options.
pub fn extra_config_options(
    value: Option<&vim25::types::AnyValue>,
) -> std::result::Result<Vec<vim25::types::AnyOptionValue>, String> {
    use vim25::types::{AnyOptionValue, AnyValue, OptionValue};
    match value {
        None | Some(AnyValue::Null) => Ok(Vec::new()),
        Some(AnyValue::Array { items, .. }) => Ok(items
            .iter()
            .filter_map(|i| i.downcast_ref::<OptionValue>())
            .map(|o| AnyOptionValue::from(o.clone()))
            .collect()),
        Some(other) => Err(other.kind().into_owned()),
    }
}

/// `map` with vSphere's `<nil>` read back as the empty string, as
/// [`VmRecord::extra_config`] holds it.
pub fn unescaped(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| {
            let v = if v == vic_config::NIL {
                String::new()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect()
}

impl std::fmt::Debug for dyn Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}
