//! The `VirtualDiskManager`: virtual disks outside any VM.

use super::{manager, Datacenter, DatastorePath};
use crate::task::Task;
use crate::types::AnyValue;
use crate::types::{AnyVirtualDiskSpec, FileBackedVirtualDiskSpec, VirtualDiskSpec};
use crate::{methods, Error};

manager!(
    /// The service's `VirtualDiskManager`: virtual disks outside any VM.
    VirtualDiskManager,
    virtual_disk_manager
);

impl VirtualDiskManager {
    /// A spec for a thin-provisioned disk of `capacity_kb` KiB for an LSI Logic
    /// adapter (what `vmkfstools -d thin` makes).
    pub fn thin_spec(capacity_kb: i64) -> AnyVirtualDiskSpec {
        FileBackedVirtualDiskSpec {
            base_: VirtualDiskSpec {
                disk_type: "thin".into(),
                adapter_type: "lsiLogic".into(),
                ..Default::default()
            },
            capacity_kb,
            ..Default::default()
        }
        .into()
    }

    /// Starts creating the disk `path` (`[ds] dir/name.vmdk`; the directory must
    /// exist). Returns the task.
    pub async fn create_virtual_disk(
        &self,
        path: &DatastorePath,
        datacenter: Option<&Datacenter>,
        spec: &AnyVirtualDiskSpec,
    ) -> Result<Task<AnyValue>, Error> {
        let t = methods::create_virtual_disk_task(
            &self.client,
            &self.reference,
            &path.to_string(),
            datacenter.map(|d| d.reference()),
            spec,
        )
        .await?;
        Ok(Task::new(&self.client, t))
    }

    /// [`VirtualDiskManager::create_virtual_disk`] and waits; returns the path of the
    /// disk the server created.
    pub async fn create_virtual_disk_and_wait(
        &self,
        path: &DatastorePath,
        datacenter: Option<&Datacenter>,
        spec: &AnyVirtualDiskSpec,
    ) -> Result<DatastorePath, Error> {
        let result = self
            .create_virtual_disk(path, datacenter, spec)
            .await?
            .wait()
            .await?;
        Ok(result
            .as_str()
            .and_then(DatastorePath::parse)
            .unwrap_or_else(|| path.clone()))
    }

    /// Starts deleting the disk `path` (descriptor and extents). Returns the task.
    pub async fn delete_virtual_disk(
        &self,
        path: &DatastorePath,
        datacenter: Option<&Datacenter>,
    ) -> Result<Task<()>, Error> {
        let t = methods::delete_virtual_disk_task(
            &self.client,
            &self.reference,
            &path.to_string(),
            datacenter.map(|d| d.reference()),
        )
        .await?;
        Ok(Task::new(&self.client, t))
    }

    /// [`VirtualDiskManager::delete_virtual_disk`] and waits.
    pub async fn delete_virtual_disk_and_wait(
        &self,
        path: &DatastorePath,
        datacenter: Option<&Datacenter>,
    ) -> Result<(), Error> {
        self.delete_virtual_disk(path, datacenter)
            .await?
            .wait()
            .await
    }
}
