//! Joining images and volumes to a container's handle: pending disk devices (and
//! mount specs) that the commit applies.

use vic_config::model::MountSpec;
use vic_config::types::Url;
use vim25::object::device::{self, ControllerKind};
use vim25::object::DatastorePath;
use vim25::types::{
    AnyVirtualDevice, AnyVirtualDeviceBackingInfo, VirtualDiskFlatVer2BackingInfo, VirtualDiskMode,
};

use super::{child, disk_chain, same_file, Image, Volume};
use crate::exec::{FileOp, Handle};
use crate::{Error, Result};

/// Adds the container's root disk to `handle`: a new disk
/// `[ds] <VM folder>/<container id>.vmdk` of `capacity_kb` KiB whose parent chain
/// is `image`'s disk and its ancestors' (created at commit, on the SCSI
/// controller), and sets the config's `layer_id` to the image (and `image_id`
/// when it is unset: a caller that tracks a separate image ID sets its own).
/// Returns the new device's (temporary) key.
///
/// Errors ([`Error::InvalidInput`] or [`Error::Exists`], the handle unchanged):
/// a capacity below the image's (a child disk cannot be smaller than its
/// parent), a handle without VM folder, the disk joined already, no free SCSI
/// slot.
pub fn join_image(handle: &mut Handle, image: &Image, capacity_kb: i64) -> Result<i32> {
    if capacity_kb < image.capacity_kb.max(1) {
        return Err(Error::InvalidInput(format!(
            "container {}: disk of {capacity_kb} KiB is smaller than image {} ({} KiB)",
            handle.id(),
            image.id,
            image.capacity_kb
        )));
    }
    let folder = vm_folder(handle)?;
    let path = child(&folder, &format!("{}.vmdk", handle.id()));
    if has_disk(handle, &path) {
        return Err(Error::Exists {
            kind: "container disk",
            id: path.to_string(),
        });
    }
    let slot = scsi_slot(handle)?;
    let mut disk = device::new_disk(capacity_kb, &path, slot);
    set_backing(&mut disk, |b| {
        b.parent = parent_chain(&image.disk, &image.ancestor_disks);
    });
    let key = handle.add_device(disk, FileOp::Create);
    let config = handle.config_mut();
    config.layer_id = Some(image.id.clone());
    if config.image_id.is_none() {
        config.image_id = Some(image.id.clone());
    }
    Ok(key)
}

/// Attaches `volume`'s disk to `handle` (the existing file, as an independent
/// disk so that VM snapshots leave it alone) and mounts it at `mount_path`:
/// `config.mounts[<volume id>]` with source `ds://[ds] <disk path>` and mode `rw`
/// or `ro`. Returns the new device's (temporary) key.
///
/// Errors (the handle unchanged): [`Error::Exists`] when the volume is joined
/// already or `mount_path` is taken; [`Error::InvalidInput`] for a mount path
/// that is not absolute or when no SCSI slot is free.
pub fn join_volume(
    handle: &mut Handle,
    volume: &Volume,
    mount_path: &str,
    read_only: bool,
) -> Result<i32> {
    if !mount_path.starts_with('/') || mount_path.contains('\0') {
        return Err(Error::InvalidInput(format!(
            "volume {}: mount path {mount_path:?} must be absolute",
            volume.id
        )));
    }
    if handle.config().mounts.contains_key(&volume.id) || has_disk(handle, &volume.disk) {
        return Err(Error::Exists {
            kind: "volume mount",
            id: format!("{} in container {}", volume.id, handle.id()),
        });
    }
    let wanted = mount_path.trim_end_matches('/');
    if let Some((name, _)) = handle
        .config()
        .mounts
        .iter()
        .find(|(_, m)| m.path.as_deref().map(|p| p.trim_end_matches('/')) == Some(wanted))
    {
        return Err(Error::Exists {
            kind: "mount point",
            id: format!("{mount_path} (volume {name})"),
        });
    }
    let slot = scsi_slot(handle)?;
    let mut disk = device::new_disk(volume.capacity_kb, &volume.disk, slot);
    set_backing(&mut disk, |b| {
        b.disk_mode = VirtualDiskMode::IndependentPersistent.as_str().to_string();
    });
    let key = handle.add_device(disk, FileOp::Keep);
    handle.config_mut().mounts.insert(
        volume.id.clone(),
        MountSpec {
            source: Some(Url {
                scheme: "ds".into(),
                path: volume.disk.to_string(),
                ..Default::default()
            }),
            path: Some(mount_path.to_string()),
            mode: Some(if read_only { "ro" } else { "rw" }.to_string()),
            copy_mode: None,
        },
    );
    Ok(key)
}

/// Detaches `volume` from `handle` (its disk device is removed at commit, the
/// file kept) and drops its mount. Do this before removing a container:
/// vSphere's `Destroy` deletes every disk attached to the VM, volumes included.
///
/// [`Error::NotFound`] (the handle unchanged) when the volume is not joined.
pub fn leave_volume(handle: &mut Handle, volume: &Volume) -> Result<()> {
    let key = handle
        .devices()
        .iter()
        .find(|d| {
            disk_chain(d)
                .first()
                .is_some_and(|f| same_file(f, &volume.disk))
        })
        .map(|d| d.key);
    let mounted = handle.config().mounts.contains_key(&volume.id);
    if key.is_none() && !mounted {
        return Err(Error::not_found(
            "volume mount",
            format!("{} in container {}", volume.id, handle.id()),
        ));
    }
    if let Some(key) = key {
        handle.remove_device(key, false)?;
    }
    handle.config_mut().mounts.remove(&volume.id);
    Ok(())
}

/// Whether a disk of `handle` (pending ones included) is backed by `path`.
fn has_disk(handle: &Handle, path: &DatastorePath) -> bool {
    handle
        .devices()
        .iter()
        .any(|d| disk_chain(d).first().is_some_and(|f| same_file(f, path)))
}

/// The containerVM's folder. A new container's create spec names the `.vmx`
/// file itself (`[ds] <id>/<id>.vmx`), which [`Handle::vm_folder`] returns as is:
/// the folder is then the file's directory.
fn vm_folder(handle: &Handle) -> Result<DatastorePath> {
    let folder = handle.vm_folder().ok_or_else(|| {
        Error::InvalidInput(format!(
            "container {} has no VM folder to put its disk in",
            handle.id()
        ))
    })?;
    if !folder.path.ends_with(".vmx") {
        return Ok(folder);
    }
    let dir = folder.path.rsplit_once('/').map_or("", |(d, _)| d);
    Ok(DatastorePath::new(folder.datastore, dir))
}

fn scsi_slot(handle: &Handle) -> Result<(i32, i32)> {
    handle.free_slot(&[ControllerKind::Scsi]).ok_or_else(|| {
        Error::InvalidInput(format!(
            "container {} has no free slot on a SCSI controller",
            handle.id()
        ))
    })
}

fn set_backing(
    disk: &mut AnyVirtualDevice,
    edit: impl FnOnce(&mut VirtualDiskFlatVer2BackingInfo),
) {
    if let AnyVirtualDevice::VirtualDisk(d) = disk {
        if let Some(AnyVirtualDeviceBackingInfo::VirtualDiskFlatVer2BackingInfo(b)) =
            &mut d.base_.backing
        {
            edit(b);
        }
    }
}

/// The backing chain `disk` → `ancestors[0]` → …, as a disk's `parent`.
fn parent_chain(
    disk: &DatastorePath,
    ancestors: &[DatastorePath],
) -> Option<Box<VirtualDiskFlatVer2BackingInfo>> {
    let mut chain: Option<Box<VirtualDiskFlatVer2BackingInfo>> = None;
    for file in std::iter::once(disk).chain(ancestors).rev() {
        let mut b = VirtualDiskFlatVer2BackingInfo {
            disk_mode: VirtualDiskMode::Persistent.as_str().to_string(),
            parent: chain.take(),
            ..Default::default()
        };
        b.base_.file_name = file.to_string();
        chain = Some(Box::new(b));
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_nests_nearest_first() {
        let a = DatastorePath::new("ds", "i/a/a.vmdk");
        let s = DatastorePath::new("ds", "i/scratch/scratch.vmdk");
        let c = parent_chain(&a, std::slice::from_ref(&s)).expect("a chain");
        assert_eq!(c.base_.file_name, "[ds] i/a/a.vmdk");
        let p = c.parent.as_ref().expect("a grandparent");
        assert_eq!(p.base_.file_name, "[ds] i/scratch/scratch.vmdk");
        assert!(p.parent.is_none());
    }
}
