//! Datastore files (`FileManager`, HTTP transfers, the datastore browser) and
//! virtual disks (`VirtualDiskManager`, or the appliance for child disks).

use tokio::io::AsyncRead;
use vim25::methods;
use vim25::object::device::{self, ControllerKind};
use vim25::object::{Datastore, DatastorePath, FileManager, VirtualDiskManager, VirtualMachine};
use vim25::task::Task;
use vim25::types::{
    AnyValue, AnyVirtualDevice, AnyVirtualDeviceBackingInfo, FileQueryFlags,
    HostDatastoreBrowserSearchResults, HostDatastoreBrowserSearchSpec, ManagedObjectReference,
    VirtualDevice, VirtualDeviceFileBackingInfo, VirtualDisk, VirtualDiskFlatVer2BackingInfo,
    VirtualDiskMode, VirtualMachineConfigSpec,
};

use super::{record, vm_error, VsphereBackend};
use crate::backend::VmDetail;
use crate::{Error, Result};

/// A datastore's reference and its browser.
#[derive(Debug, Clone)]
pub(super) struct DatastoreRefs {
    pub(super) reference: ManagedObjectReference,
    pub(super) browser: ManagedObjectReference,
}

impl VsphereBackend {
    /// The datastore named `name` in the placement's datacenter (looked up once).
    async fn datastore_refs(&self, name: &str) -> Result<DatastoreRefs> {
        if let Some(found) = self.datastore_cache().get(name) {
            return Ok(found.clone());
        }
        let entry = super::discover::datastores(&self.client, &self.placement.datacenter)
            .await?
            .into_iter()
            .find(|d| d.name == name)
            .ok_or_else(|| Error::not_found("datastore", name))?;
        let reference = entry.reference;
        let browser = entry
            .browser
            .ok_or_else(|| Error::not_found("browser of datastore", name))?;
        let found = DatastoreRefs { reference, browser };
        self.datastore_cache()
            .insert(name.to_string(), found.clone());
        Ok(found)
    }

    fn datastore_cache(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, DatastoreRefs>> {
        // The map only caches lookups: one left by a panicking thread is still valid.
        self.datastores
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn file_manager(&self) -> Result<FileManager> {
        Ok(FileManager::new(&self.client)?)
    }

    fn disk_manager(&self) -> Result<VirtualDiskManager> {
        Ok(VirtualDiskManager::new(&self.client)?)
    }
}

/// `FileNotFound` as [`Error::NotFound`] of `kind` `path`; the rest as is.
fn file_error(e: vim25::Error, kind: &'static str, path: &DatastorePath) -> Error {
    match e.fault_name() {
        Some("FileNotFound") => Error::not_found(kind, path.to_string()),
        _ => Error::Vim25(e),
    }
}

pub(super) async fn make_dir(b: &VsphereBackend, dir: &DatastorePath) -> Result<()> {
    let dc = b.datacenter();
    match b.file_manager()?.make_directory(dir, Some(&dc), true).await {
        Ok(()) => Ok(()),
        Err(e) if e.fault_name() == Some("FileAlreadyExists") => Ok(()),
        Err(e) => Err(file_error(e, "datastore", dir)),
    }
}

pub(super) async fn upload(
    b: &VsphereBackend,
    path: &DatastorePath,
    body: Box<dyn AsyncRead + Send + Unpin>,
    len: u64,
) -> Result<()> {
    let ds = Datastore::new(
        &b.client,
        b.datastore_refs(&path.datastore).await?.reference,
    );
    match ds.upload(body, len, &path.path, |_, _| {}).await {
        Ok(_) => Ok(()),
        Err(e) => {
            // Whatever arrived of a failed upload would pass for the whole file.
            let dc = b.datacenter();
            if let Ok(fm) = b.file_manager() {
                if let Err(cleanup) = fm.delete_file_and_wait(path, Some(&dc)).await {
                    tracing::debug!(file = %path, error = %cleanup, "no partial upload to remove");
                }
            }
            Err(file_error(e, "directory", path))
        }
    }
}

pub(super) async fn download(b: &VsphereBackend, path: &DatastorePath) -> Result<Vec<u8>> {
    let ds = Datastore::new(
        &b.client,
        b.datastore_refs(&path.datastore).await?.reference,
    );
    let mut out = Vec::new();
    match ds.download(&path.path, &mut out, |_, _| {}).await {
        Ok(_) => Ok(out),
        // The transfer's 404.
        Err(vim25::Error::NotFound(_)) => Err(Error::not_found("file", path.to_string())),
        Err(e) => Err(file_error(e, "file", path)),
    }
}

pub(super) async fn delete_file(b: &VsphereBackend, path: &DatastorePath) -> Result<()> {
    let dc = b.datacenter();
    b.file_manager()?
        .delete_file_and_wait(path, Some(&dc))
        .await
        .map_err(|e| file_error(e, "file", path))
}

pub(super) async fn move_file(
    b: &VsphereBackend,
    from: &DatastorePath,
    to: &DatastorePath,
) -> Result<()> {
    let fm = b.file_manager()?;
    let dc = &b.placement.datacenter;
    let run = async {
        let task = methods::move_datastore_file_task(
            &b.client,
            fm.reference(),
            &from.to_string(),
            Some(dc),
            &to.to_string(),
            Some(dc),
            Some(true),
        )
        .await?;
        Task::<()>::new(&b.client, task).wait().await
    };
    run.await.map_err(|e| file_error(e, "file", from))
}

/// The entry names `SearchDatastore_Task` finds in `dir` for `pattern`.
async fn search(b: &VsphereBackend, dir: &DatastorePath, pattern: &str) -> Result<Vec<String>> {
    let refs = b.datastore_refs(&dir.datastore).await?;
    let spec = HostDatastoreBrowserSearchSpec {
        match_pattern: vec![pattern.to_string()],
        details: Some(FileQueryFlags {
            file_type: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    let run = async {
        let task =
            methods::search_datastore_task(&b.client, &refs.browser, &dir.to_string(), Some(&spec))
                .await?;
        Task::<AnyValue>::new(&b.client, task).wait().await
    };
    let result = run.await.map_err(|e| file_error(e, "directory", dir))?;
    let found = result
        .downcast_ref::<HostDatastoreBrowserSearchResults>()
        .map(|r| {
            r.file
                .iter()
                .map(|f| f.path.trim_end_matches('/').to_string())
                .collect()
        })
        .unwrap_or_default();
    Ok(found)
}

pub(super) async fn list_dir(b: &VsphereBackend, dir: &DatastorePath) -> Result<Vec<String>> {
    let mut names = search(b, dir, "*").await?;
    names.retain(|n| !n.is_empty());
    names.sort();
    names.dedup();
    Ok(names)
}

pub(super) async fn exists(b: &VsphereBackend, path: &DatastorePath) -> Result<bool> {
    let full = path.path.trim_end_matches('/');
    if full.is_empty() {
        return match b.datastore_refs(&path.datastore).await {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        };
    }
    let (parent, name) = full.rsplit_once('/').unwrap_or(("", full));
    // The pattern is a glob: a name with glob characters is matched by listing.
    let pattern = if name.contains(['*', '?', '[', ']']) {
        "*"
    } else {
        name
    };
    let dir = DatastorePath::new(path.datastore.clone(), parent);
    match search(b, &dir, pattern).await {
        Ok(found) => Ok(found.iter().any(|n| n == name)),
        Err(Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `FileAlreadyExists` as [`Error::Exists`], `FileNotFound` (a missing directory)
/// as [`Error::NotFound`].
fn disk_error(e: vim25::Error, path: &DatastorePath) -> Error {
    match e.fault_name() {
        Some("FileAlreadyExists") => Error::Exists {
            kind: "disk",
            id: path.to_string(),
        },
        Some("FileNotFound") => {
            let dir = path.path.rsplit_once('/').map_or("", |(d, _)| d);
            Error::not_found(
                "directory",
                DatastorePath::new(path.datastore.clone(), dir).to_string(),
            )
        }
        _ => Error::Vim25(e),
    }
}

pub(super) async fn create_disk(
    b: &VsphereBackend,
    path: &DatastorePath,
    capacity_kb: i64,
    parent: Option<&DatastorePath>,
) -> Result<()> {
    match parent {
        None => {
            let dc = b.datacenter();
            b.disk_manager()?
                .create_virtual_disk_and_wait(
                    path,
                    Some(&dc),
                    &VirtualDiskManager::thin_spec(capacity_kb),
                )
                .await
                .map(drop)
                .map_err(|e| disk_error(e, path))
        }
        Some(parent) => create_child_disk(b, path, capacity_kb, parent).await,
    }
}

/// A child disk, as VIC makes them: `VirtualDiskManager` cannot create a delta
/// disk, but attaching a new disk whose backing names a parent does; so the disk is
/// attached to the appliance VM with `fileOperation = create`, then detached
/// without destroying its file.
async fn create_child_disk(
    b: &VsphereBackend,
    path: &DatastorePath,
    capacity_kb: i64,
    parent: &DatastorePath,
) -> Result<()> {
    let Some(appliance) = b.placement.appliance.clone() else {
        return Err(Error::InvalidInput(format!(
            "creating {path} as a child of {parent} needs an appliance VM to attach it to \
             (Placement::appliance, see Placement::with_appliance)"
        )));
    };
    // The server would say so too, but not every server checks (the simulator).
    if !exists(b, parent).await? {
        return Err(Error::not_found("disk", parent.to_string()));
    }
    let _one_at_a_time = b.appliance_lock.lock().await;
    let vm = VirtualMachine::new(&b.client, appliance.clone());
    let devices = record::read_one(&b.client, &appliance, VmDetail::Full)
        .await?
        .devices;
    let slot = device::free_slot(&devices, &[ControllerKind::Scsi]).ok_or_else(|| {
        Error::InvalidInput(format!(
            "the appliance VM {} has no free SCSI slot to attach {path} to",
            appliance.value
        ))
    })?;
    let attach = VirtualMachineConfigSpec {
        device_change: vec![device::add_spec(
            child_disk(path, parent, capacity_kb, slot),
            true,
        )],
        ..Default::default()
    };
    vm.reconfigure_and_wait(&attach)
        .await
        .map_err(|e| match e.fault_name() {
            Some("FileAlreadyExists" | "FileNotFound") => disk_error(e, path),
            _ => vm_error(e, &appliance, "attach a new child disk", false),
        })?;
    let detached = detach(b, &vm, path).await;
    if let Err(e) = &detached {
        tracing::warn!(
            disk = %path,
            appliance = %appliance.value,
            error = %e,
            "the new child disk could not be detached from the appliance"
        );
    }
    detached
}

/// A new thin, persistent disk in `path` whose backing has `parent` as its parent,
/// at `slot`.
fn child_disk(
    path: &DatastorePath,
    parent: &DatastorePath,
    capacity_kb: i64,
    slot: (i32, i32),
) -> AnyVirtualDevice {
    let file = |name: &DatastorePath| VirtualDeviceFileBackingInfo {
        file_name: name.to_string(),
        ..Default::default()
    };
    let persistent = VirtualDiskMode::Persistent.as_str().to_string();
    let backing = VirtualDiskFlatVer2BackingInfo {
        base_: file(path),
        disk_mode: persistent.clone(),
        thin_provisioned: Some(true),
        parent: Some(Box::new(VirtualDiskFlatVer2BackingInfo {
            base_: file(parent),
            disk_mode: persistent,
            ..Default::default()
        })),
        ..Default::default()
    };
    VirtualDisk {
        base_: VirtualDevice {
            key: -1,
            backing: Some(backing.into()),
            controller_key: Some(slot.0),
            unit_number: Some(slot.1),
            ..Default::default()
        },
        capacity_in_kb: capacity_kb,
        capacity_in_bytes: Some(capacity_kb.saturating_mul(1024)),
        ..Default::default()
    }
    .into()
}

/// The disk file a device is backed by, if it is a disk.
fn disk_file(d: &AnyVirtualDevice) -> Option<DatastorePath> {
    let AnyVirtualDevice::VirtualDisk(_) = d else {
        return None;
    };
    match d.backing.as_ref()? {
        AnyVirtualDeviceBackingInfo::VirtualDiskFlatVer2BackingInfo(b) => {
            DatastorePath::parse(&b.file_name)
        }
        _ => None,
    }
}

/// Removes the disk backed by `path` from the appliance, keeping its file. The
/// server chose the disk's key, so it is found by its file.
async fn detach(b: &VsphereBackend, vm: &VirtualMachine, path: &DatastorePath) -> Result<()> {
    let appliance = vm.reference().clone();
    let devices = record::read_one(&b.client, &appliance, VmDetail::Full)
        .await?
        .devices;
    let disk = devices
        .into_iter()
        .find(|d| disk_file(d).as_ref() == Some(path))
        .ok_or_else(|| Error::Corrupt {
            what: format!("appliance VM {}", appliance.value),
            message: format!("the disk {path} just attached is not among its devices"),
        })?;
    vm.reconfigure_and_wait(&VirtualMachineConfigSpec {
        device_change: vec![device::remove_spec(disk, false)],
        ..Default::default()
    })
    .await
    .map_err(|e| vm_error(e, &appliance, "detach a new child disk", false))
}

pub(super) async fn delete_disk(b: &VsphereBackend, path: &DatastorePath) -> Result<()> {
    let dc = b.datacenter();
    b.disk_manager()?
        .delete_virtual_disk_and_wait(path, Some(&dc))
        .await
        .map_err(|e| file_error(e, "disk", path))
}
