//! Inventory folders: children, sub-folders, new VMs.

use super::{wrapper, HostSystem, ResourcePool, VirtualMachine};
use crate::mo;
use crate::task::Task;
use crate::types::{ManagedObjectReference, VirtualMachineConfigSpec};
use crate::{methods, Error};

wrapper!(
    /// A folder of the inventory (VMs, hosts, datastores, networks or datacenters).
    Folder
);

impl Folder {
    /// The folder's direct children.
    pub async fn children(&self) -> Result<Vec<ManagedObjectReference>, Error> {
        let f: mo::Folder = self.properties(&["childEntity"]).await?;
        Ok(f.child_entity.unwrap_or_default())
    }

    /// Creates the sub-folder `name`.
    pub async fn create_folder(&self, name: &str) -> Result<Folder, Error> {
        let r = methods::create_folder(self.client(), self.reference(), name).await?;
        Ok(Folder::new(self.client(), r))
    }

    /// Starts creating a VM from `config` (its `name` and `files.vmPathName`, such as
    /// `[datastore1]`, are required) in `pool`, on `host` when the pool's cluster
    /// does not choose one (required for a standalone host's pool outside DRS).
    /// Returns the task; waiting for it gives the new VM.
    pub async fn create_vm(
        &self,
        config: &VirtualMachineConfigSpec,
        pool: &ResourcePool,
        host: Option<&HostSystem>,
    ) -> Result<Task<VirtualMachine>, Error> {
        let t = methods::create_vm_task(
            self.client(),
            self.reference(),
            config,
            pool.reference(),
            host.map(|h| h.reference()),
        )
        .await?;
        Ok(Task::new(self.client(), t))
    }

    /// [`Folder::create_vm`], waits for the task and returns the new VM.
    pub async fn create_vm_and_wait(
        &self,
        config: &VirtualMachineConfigSpec,
        pool: &ResourcePool,
        host: Option<&HostSystem>,
    ) -> Result<VirtualMachine, Error> {
        self.create_vm(config, pool, host).await?.wait().await
    }
}
