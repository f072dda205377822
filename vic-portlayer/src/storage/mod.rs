//! Storage: image stores of layered disks, volume stores, and joining both to a
//! container's handle.
//!
//! # Layout on the datastore
//!
//! ```text
//! <image store root>                      default: [ds] <VCH folder>/VIC/<store name>
//!   images/
//!     scratch/scratch.vmdk                the root image: parent of every base layer
//!     scratch/manifest.json
//!     <id>/<id>.vmdk                      a child disk of the parent image's disk
//!     <id>/<id>.tar                       the layer's content stream, as written
//!     <id>/manifest.json                  id, parent, metadata, size; written LAST
//! <volume store root>                     given when the store is created
//!   volumes/
//!     <id>/<id>.vmdk                      an independent disk
//!     <id>/volume.json                    id, capacity, metadata; written LAST
//! ```
//!
//! The file that describes an item is written last and deleted first, so an item
//! directory without it is half-written (a crash, a failed or cancelled write, an
//! interrupted delete). Reading such an item removes the directory (logged) and
//! reports it as absent. Writes and deletes in progress in this process are known
//! and never mistaken for leftovers; two port layers writing the same store at the
//! same time are not coordinated.
//!
//! The content stream is kept beside the disk rather than unpacked into it: the
//! port layer does not mount disks, and govmomi's simulator cannot write into a
//! VMDK at all. [`Storage::read_content`] gives it back, for tests and export.
//!
//! # Finding stores again
//!
//! Image stores at the default root are found by listing `<VCH folder>/VIC/`: every
//! entry holding an `images/` directory is a store, so a restarted port layer sees
//! them without being told. Stores elsewhere (and every volume store) are
//! remembered in memory; a restarted port layer registers them again with
//! [`Storage::open_image_store_at`] and [`Storage::create_volume_store`] (which
//! adopts an existing `volumes/` directory and everything in it) given the same
//! roots, as VIC's appliance does from its configuration at boot.
//!
//! # In use
//!
//! An image or volume is in use when a VM of the VCH has a disk whose file, or
//! any file in its parent chain, is the item's disk ([`Backend::list_vms`] with
//! devices, read once per check). An image is also in use while another image
//! names it as its parent. The check and the deletion are not atomic against a
//! container being created from the image at the same moment by another client.

mod image;
mod join;
mod volume;

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use vim25::object::DatastorePath;
use vim25::types::{AnyVirtualDevice, AnyVirtualDeviceBackingInfo};

pub use image::{Image, ImageStore, DEFAULT_IMAGE_DISK_KB, SCRATCH};
pub use join::{join_image, join_volume, leave_volume};
pub use volume::{Volume, VolumeStore};

use crate::backend::{Backend, VmDetail};
use crate::{is_safe_name, Error, Result};

/// The storage service: image stores, volume stores, images and volumes on the
/// backend's datastores. Cheap to clone; clones share the stores registered in
/// memory and the record of writes in progress.
#[derive(Clone)]
pub struct Storage {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) image_disk_kb: i64,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("backend", &self.backend.describe())
            .field("image_disk_kb", &self.image_disk_kb)
            .finish_non_exhaustive()
    }
}

/// What the clones of one [`Storage`] share.
#[derive(Default)]
pub(crate) struct Shared {
    /// Image stores outside the default root, by name.
    pub(crate) image_stores: Mutex<BTreeMap<String, DatastorePath>>,
    /// Volume stores, by name.
    pub(crate) volume_stores: Mutex<BTreeMap<String, DatastorePath>>,
    /// Item (or store) directories being written or deleted right now.
    busy: Mutex<HashMap<DatastorePath, Busy>>,
}

/// An operation in progress on a directory.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Busy {
    /// An item is being written; it names this parent image directory.
    Writing {
        /// The parent image's directory, for images that have one.
        parent: Option<DatastorePath>,
    },
    /// The item or store is being deleted.
    Deleting,
}

/// Locks `m`, recovering the data from a poisoned lock: every critical section
/// here leaves the maps consistent, so a panic elsewhere cannot corrupt them.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A registered operation on a directory; dropping it (also when the future
/// doing the work is cancelled) ends the registration.
pub(crate) struct Claim {
    shared: Arc<Shared>,
    key: DatastorePath,
}

impl Drop for Claim {
    fn drop(&mut self) {
        lock(&self.shared.busy).remove(&self.key);
    }
}

impl Storage {
    /// A storage service on `backend`. New image disks are
    /// [`DEFAULT_IMAGE_DISK_KB`] large (thin: only what is written takes space).
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Storage {
            backend,
            shared: Arc::default(),
            image_disk_kb: DEFAULT_IMAGE_DISK_KB,
        }
    }

    /// The same service with new image disks of `kb` KiB (a child disk is never
    /// smaller than its parent, whatever this says).
    pub fn with_image_disk_kb(mut self, kb: i64) -> Self {
        self.image_disk_kb = kb.max(1);
        self
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Registers an operation on `key` when `allowed` accepts the operations in
    /// progress (checked and registered under one lock, so two racing operations
    /// cannot both pass).
    pub(crate) fn claim(
        &self,
        key: &DatastorePath,
        op: Busy,
        allowed: impl FnOnce(&HashMap<DatastorePath, Busy>) -> Result<()>,
    ) -> Result<Claim> {
        let mut busy = lock(&self.shared.busy);
        allowed(&busy)?;
        busy.insert(key.clone(), op);
        Ok(Claim {
            shared: self.shared.clone(),
            key: key.clone(),
        })
    }

    /// Whether an operation is in progress on `dir`.
    pub(crate) fn is_busy(&self, dir: &DatastorePath) -> bool {
        lock(&self.shared.busy).contains_key(dir)
    }

    /// The disks of every VM of the VCH, each as the list of files of its chain
    /// (the disk's own file first, then its parents'), by VM name. One retrieval.
    pub(crate) async fn disk_chains(&self) -> Result<Vec<(String, Vec<DatastorePath>)>> {
        let vms = self.backend.list_vms(VmDetail::Full).await?;
        let mut out = Vec::new();
        for vm in vms {
            for device in &vm.devices {
                let chain = disk_chain(device);
                if !chain.is_empty() {
                    out.push((vm.name.clone(), chain));
                }
            }
        }
        Ok(out)
    }

    /// Which VMs use each of `disks` (directly or as a parent), by disk.
    pub(crate) async fn disk_users(
        &self,
        disks: &[DatastorePath],
    ) -> Result<BTreeMap<String, Vec<String>>> {
        let chains = self.disk_chains().await?;
        let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for disk in disks {
            for (vm, chain) in &chains {
                if chain.iter().any(|f| same_file(f, disk)) {
                    let by = users.entry(disk.to_string()).or_default();
                    if !by.contains(vm) {
                        by.push(vm.clone());
                    }
                }
            }
        }
        Ok(users)
    }

    /// Removes an item directory: its descriptor first (so that an interruption
    /// leaves a half-written item, cleaned up later), then its disk, then the
    /// directory. Files already gone are fine.
    pub(crate) async fn remove_item(
        &self,
        dir: &DatastorePath,
        descriptor: &DatastorePath,
        disk: &DatastorePath,
    ) -> Result<()> {
        ignore_missing(self.backend.delete_file(descriptor).await)?;
        if ignore_missing(self.backend.exists(disk).await)?.unwrap_or(false) {
            ignore_missing(self.backend.delete_disk(disk).await)?;
        }
        ignore_missing(self.backend.delete_file(dir).await)?;
        Ok(())
    }

    /// Best-effort removal of what a failed write left; failures are logged, as
    /// the write's own error is what the caller needs, and listing removes any
    /// remains later.
    pub(crate) async fn undo_write(&self, dir: &DatastorePath, disk: Option<&DatastorePath>) {
        if let Some(disk) = disk {
            if let Err(e) = ignore_missing(self.backend.delete_disk(disk).await) {
                tracing::warn!(disk = %disk, error = %e, "could not delete the disk of a failed write");
            }
        }
        if let Err(e) = ignore_missing(self.backend.delete_file(dir).await) {
            tracing::warn!(dir = %dir, error = %e, "could not remove the directory of a failed write");
        }
    }

    /// Lists the entries of `dir`; a missing directory has none.
    pub(crate) async fn entries(&self, dir: &DatastorePath) -> Result<Vec<String>> {
        Ok(ignore_missing(self.backend.list_dir(dir).await)?.unwrap_or_default())
    }
}

/// One stored item (image or volume): its directory, the descriptor written last,
/// and its disk.
pub(crate) struct Item<'a> {
    /// `image` or `volume`, for errors and logs.
    pub(crate) kind: &'static str,
    /// Its ID.
    pub(crate) id: &'a str,
    /// `<store>/<id>`.
    pub(crate) dir: DatastorePath,
    /// The descriptor (`manifest.json`, `volume.json`).
    pub(crate) descriptor: DatastorePath,
    /// `<id>.vmdk`.
    pub(crate) disk: DatastorePath,
}

impl Storage {
    /// Reads and parses an item's descriptor. `None` when it has none; then, when
    /// `cleanup` and no operation of this process is on it, a directory left
    /// behind without descriptor is removed (logged).
    pub(crate) async fn read_descriptor<T: serde::de::DeserializeOwned>(
        &self,
        item: &Item<'_>,
        cleanup: bool,
    ) -> Result<Option<T>> {
        let mut checked_again = false;
        loop {
            match self.backend.download(&item.descriptor).await {
                Ok(bytes) => {
                    return serde_json::from_slice(&bytes)
                        .map(Some)
                        .map_err(|e| Error::Corrupt {
                            what: format!("{} {} ({})", item.kind, item.id, item.descriptor),
                            message: e.to_string(),
                        })
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            if !cleanup || checked_again || self.is_busy(&item.dir) {
                return Ok(None);
            }
            if !self.backend.exists(&item.dir).await? {
                return Ok(None);
            }
            let dir = item.dir.clone();
            let claim = self.claim(&item.dir, Busy::Deleting, |busy| {
                if busy.contains_key(&dir) {
                    Err(Error::InvalidInput(String::new()))
                } else {
                    Ok(())
                }
            });
            let Ok(_claim) = claim else {
                // Someone started on it since: theirs to finish.
                return Ok(None);
            };
            if self.backend.exists(&item.descriptor).await? {
                // Completed between the read and the claim: read it again.
                checked_again = true;
                continue;
            }
            tracing::warn!(
                kind = item.kind,
                id = item.id,
                dir = %item.dir,
                "removing a half-written {} (no descriptor)",
                item.kind
            );
            self.remove_item(&item.dir, &item.descriptor, &item.disk)
                .await?;
            return Ok(None);
        }
    }
}

/// `Ok(None)` for a NotFound error, so that "already gone" is not a failure.
pub(crate) fn ignore_missing<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// `dir/name`.
pub(crate) fn child(dir: &DatastorePath, name: &str) -> DatastorePath {
    if dir.path.is_empty() {
        DatastorePath::new(dir.datastore.clone(), name)
    } else {
        DatastorePath::new(
            dir.datastore.clone(),
            format!("{}/{}", dir.path.trim_end_matches('/'), name),
        )
    }
}

/// Whether `path` lies strictly inside `dir`.
pub(crate) fn is_under(path: &DatastorePath, dir: &DatastorePath) -> bool {
    let d = dir.path.trim_end_matches('/');
    path.datastore == dir.datastore
        && ((d.is_empty() && !path.path.is_empty())
            || path
                .path
                .strip_prefix(d)
                .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1))
}

/// Whether two datastore paths name the same file (ignoring doubled and trailing
/// slashes, which servers and callers write inconsistently).
pub(crate) fn same_file(a: &DatastorePath, b: &DatastorePath) -> bool {
    fn norm(p: &str) -> String {
        p.split('/')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("/")
    }
    a.datastore == b.datastore && norm(&a.path) == norm(&b.path)
}

/// Checks that `id` can name an image or volume (one safe path segment).
pub(crate) fn check_id(kind: &str, id: &str) -> Result<()> {
    if is_safe_name(id) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{kind} ID {id:?} must be 1 to 255 letters, digits, '-', '_' or '.', not starting with '.'"
        )))
    }
}

/// Checks a store name.
pub(crate) fn check_store_name(kind: &str, name: &str) -> Result<()> {
    if is_safe_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{kind} name {name:?} must be 1 to 255 letters, digits, '-', '_' or '.', not starting with '.'"
        )))
    }
}

/// Seconds since the Unix epoch, for the `created` fields.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Uploads `bytes` to `path`.
pub(crate) async fn put_bytes(
    backend: &dyn Backend,
    path: &DatastorePath,
    bytes: Vec<u8>,
) -> Result<()> {
    let len = bytes.len() as u64;
    backend
        .upload(path, Box::new(std::io::Cursor::new(bytes)), len)
        .await
}

/// The files of a disk device's chain: its own backing file, then its parents'.
/// Empty for devices that are not disks or have no file backing.
pub fn disk_chain(device: &AnyVirtualDevice) -> Vec<DatastorePath> {
    let AnyVirtualDevice::VirtualDisk(disk) = device else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match &disk.base_.backing {
        Some(AnyVirtualDeviceBackingInfo::VirtualDiskFlatVer2BackingInfo(b)) => {
            let mut cur = Some(&**b);
            while let Some(x) = cur {
                out.extend(DatastorePath::parse(&x.base_.file_name));
                cur = x.parent.as_deref();
            }
        }
        Some(AnyVirtualDeviceBackingInfo::VirtualDiskSeSparseBackingInfo(b)) => {
            let mut cur = Some(&**b);
            while let Some(x) = cur {
                out.extend(DatastorePath::parse(&x.base_.file_name));
                cur = x.parent.as_deref();
            }
        }
        Some(AnyVirtualDeviceBackingInfo::VirtualDiskSparseVer2BackingInfo(b)) => {
            let mut cur = Some(&**b);
            while let Some(x) = cur {
                out.extend(DatastorePath::parse(&x.base_.file_name));
                cur = x.parent.as_deref();
            }
        }
        _ => {}
    }
    out
}

/// A content stream held to exactly `len` bytes: reading stops after `len`, and a
/// stream that ends sooner fails with `UnexpectedEof` instead of storing a
/// truncated layer.
pub(crate) struct Exact<R> {
    inner: R,
    remaining: u64,
    total: u64,
    buf: Vec<u8>,
}

impl<R> Exact<R> {
    pub(crate) fn new(inner: R, len: u64) -> Self {
        Exact {
            inner,
            remaining: len,
            total: len,
            buf: vec![0; 64 * 1024],
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Exact<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.remaining == 0 || out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let want = (this.remaining.min(out.remaining() as u64) as usize).min(this.buf.len());
        let mut tmp = ReadBuf::new(&mut this.buf[..want]);
        match Pin::new(&mut this.inner).poll_read(cx, &mut tmp) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {
                let n = tmp.filled().len();
                if n == 0 {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!(
                            "the content stream ended after {} of {} bytes",
                            this.total - this.remaining,
                            this.total
                        ),
                    )));
                }
                out.put_slice(tmp.filled());
                this.remaining -= n as u64;
                Poll::Ready(Ok(()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn paths() {
        let root = DatastorePath::new("ds", "VCH/VIC/s");
        assert_eq!(child(&root, "images").to_string(), "[ds] VCH/VIC/s/images");
        assert_eq!(
            child(&DatastorePath::new("ds", ""), "x").to_string(),
            "[ds] x"
        );
        assert!(is_under(
            &DatastorePath::new("ds", "VCH/VIC/s/images/a"),
            &root
        ));
        assert!(!is_under(&DatastorePath::new("ds", "VCH/VIC/sx"), &root));
        assert!(!is_under(&root, &root));
        assert!(!is_under(
            &DatastorePath::new("other", "VCH/VIC/s/a"),
            &root
        ));
        assert!(same_file(
            &DatastorePath::new("ds", "a//b/c.vmdk"),
            &DatastorePath::new("ds", "a/b/c.vmdk")
        ));
        assert!(!same_file(
            &DatastorePath::new("ds", "a/b/c.vmdk"),
            &DatastorePath::new("ds2", "a/b/c.vmdk")
        ));
    }

    #[test]
    fn ids() {
        assert!(check_id("image", "scratch").is_ok());
        assert!(check_id("image", &"ab".repeat(32)).is_ok());
        assert!(matches!(
            check_id("image", "../x"),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(check_id("image", ""), Err(Error::InvalidInput(_))));
        assert!(matches!(
            check_id("image", "a/b"),
            Err(Error::InvalidInput(_))
        ));
    }

    #[tokio::test]
    async fn exact_reader() {
        let mut out = Vec::new();
        Exact::new(&b"hello world"[..], 5)
            .read_to_end(&mut out)
            .await
            .expect("a longer stream is cut at the length");
        assert_eq!(out, b"hello");

        let mut out = Vec::new();
        let e = Exact::new(&b"abc"[..], 10)
            .read_to_end(&mut out)
            .await
            .expect_err("a short stream fails");
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);

        let mut out = Vec::new();
        Exact::new(&b""[..], 0)
            .read_to_end(&mut out)
            .await
            .expect("empty");
        assert!(out.is_empty());
    }

    #[test]
    fn chain_of_a_disk() {
        use vim25::object::device;
        use vim25::types::VirtualDiskFlatVer2BackingInfo;
        let mut d = device::new_disk(1024, &DatastorePath::new("ds", "c/c.vmdk"), (1000, 0));
        if let AnyVirtualDevice::VirtualDisk(disk) = &mut d {
            if let Some(AnyVirtualDeviceBackingInfo::VirtualDiskFlatVer2BackingInfo(b)) =
                &mut disk.base_.backing
            {
                let mut p = VirtualDiskFlatVer2BackingInfo::default();
                p.base_.file_name = "[ds] i/a/a.vmdk".into();
                b.parent = Some(Box::new(p));
            }
        }
        let chain = disk_chain(&d);
        assert_eq!(
            chain,
            vec![
                DatastorePath::new("ds", "c/c.vmdk"),
                DatastorePath::new("ds", "i/a/a.vmdk")
            ]
        );
    }
}
