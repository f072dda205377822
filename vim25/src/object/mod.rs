//! Thin typed wrappers over managed objects, in the spirit of govmomi's `object`
//! package: each holds a [`Client`] clone and a [`ManagedObjectReference`], offers the
//! operations of its type as methods, and returns the tasks they start (with
//! `*_and_wait` forms that wait through [`crate::task::wait`]).
//!
//! What every wrapper shares (its reference, `name`, typed `properties`, `destroy`)
//! lives in [`Common`], which each wrapper dereferences to.
//!
//! ```no_run
//! # async fn demo(client: vim25::Client) -> Result<(), vim25::Error> {
//! use vim25::find::Finder;
//! use vim25::object::{NicKind, VirtualMachine};
//! let finder = Finder::new(&client);
//! let vm = VirtualMachine::new(&client, finder.one("/DC0/vm/DC0_H0_VM0").await?);
//! vm.power_off_and_wait().await?;
//! let net = finder.one("/DC0/network/VM Network").await?;
//! vm.add_nic_on(NicKind::Vmxnet3, &net).await?;
//! vm.set_extra_config(&[("guestinfo.role", "web")]).await?;
//! println!("{} has {} devices", vm.name().await?, vm.devices().await?.len());
//! # Ok(()) }
//! ```

mod datacenter;
mod datastore;
pub mod device;
mod event;
mod folder;
mod host;
mod network;
mod resource_pool;
mod virtual_disk_manager;
mod virtual_machine;

pub use datacenter::{Datacenter, DatacenterFolders};
pub use datastore::{Datastore, DatastorePath, FileManager};
pub use device::{NicKind, SerialBacking};
pub use event::{parse_date_time, EventFilter, EventHistoryCollector, EventManager};
pub use folder::Folder;
pub use host::{HostNetworkSystem, HostSystem};
pub use network::{ethernet_card_backing, DistributedVirtualPortgroup, Network};
pub use resource_pool::ResourcePool;
pub use virtual_disk_manager::VirtualDiskManager;
pub use virtual_machine::VirtualMachine;

use crate::mo::ManagedEntity;
use crate::mo_support::ManagedObject;
use crate::property::{spec_for_objects, Retrieval, Watch};
use crate::types::{ManagedObjectReference, PropertyChangeOp, TaskInfo};
use crate::xml::AnyValue;
use crate::{methods, task, Client, Error};
use std::time::Duration;

/// What every wrapper has: the client, the reference, and the operations every
/// managed object (or managed entity) supports. Wrappers dereference to it.
#[derive(Debug, Clone)]
pub struct Common {
    client: Client,
    reference: ManagedObjectReference,
}

impl Common {
    /// A wrapper of `reference` on `client`.
    pub fn new(client: &Client, reference: ManagedObjectReference) -> Self {
        Common {
            client: client.clone(),
            reference,
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The managed object reference.
    pub fn reference(&self) -> &ManagedObjectReference {
        &self.reference
    }

    /// Reads `paths` of this object into the managed-object struct `M` (every
    /// property when `paths` is empty). Top-level properties land in their typed
    /// fields; nested paths (`summary.config.numCpu`) in `M`'s `other`.
    pub async fn properties<M: ManagedObject>(&self, paths: &[&str]) -> Result<M, Error> {
        fetch(&self.client, &self.reference, paths).await
    }

    /// The entity's `name`.
    pub async fn name(&self) -> Result<String, Error> {
        let e: ManagedEntity = self.properties(&["name"]).await?;
        e.name
            .ok_or_else(|| Error::NotFound(format!("name of {}", self.reference)))
    }

    /// The entity's `parent`, if it has one.
    pub async fn parent(&self) -> Result<Option<ManagedObjectReference>, Error> {
        let e: ManagedEntity = self.properties(&["parent"]).await?;
        Ok(e.parent)
    }

    /// The datacenter the entity belongs to (found by walking up its parents; a VM in
    /// a vApp and no folder is followed through its resource pool).
    pub async fn datacenter(&self) -> Result<Datacenter, Error> {
        let mut cur = self.reference.clone();
        // Bounded: a cycle in server data must not loop forever.
        for _ in 0..256 {
            if cur.type_ == "Datacenter" {
                return Ok(Datacenter::new(&self.client, cur));
            }
            let up = Common::new(&self.client, cur.clone());
            cur = match up.parent().await? {
                Some(p) => p,
                None if cur.type_ == "VirtualMachine" => {
                    let vm: crate::mo::VirtualMachine = up.properties(&["resourcePool"]).await?;
                    vm.resource_pool.ok_or_else(|| {
                        Error::NotFound(format!("datacenter of {}", self.reference))
                    })?
                }
                None => break,
            };
        }
        Err(Error::NotFound(format!("datacenter of {}", self.reference)))
    }

    /// Starts `Destroy_Task`: removes the entity from the inventory (for a VM, also its
    /// files). Returns the task.
    pub async fn destroy(&self) -> Result<ManagedObjectReference, Error> {
        methods::destroy_task(&self.client, &self.reference).await
    }

    /// [`Common::destroy`] and waits for the task.
    pub async fn destroy_and_wait(&self) -> Result<(), Error> {
        let t = self.destroy().await?;
        wait(&self.client, &t).await.map(drop)
    }

    /// Starts `Rename_Task`. Returns the task.
    pub async fn rename(&self, new_name: &str) -> Result<ManagedObjectReference, Error> {
        methods::rename_task(&self.client, &self.reference, new_name).await
    }

    /// [`Common::rename`] and waits for the task.
    pub async fn rename_and_wait(&self, new_name: &str) -> Result<(), Error> {
        let t = self.rename(new_name).await?;
        wait(&self.client, &t).await.map(drop)
    }
}

/// Declares a wrapper type: a [`Common`] inside, `new`, `Deref` to it.
macro_rules! wrapper {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            common: $crate::object::Common,
        }

        impl $name {
            /// A wrapper of `reference` on `client` (the reference's type is not
            /// checked; calls on a wrong one fail with the server's fault).
            pub fn new(
                client: &$crate::Client,
                reference: $crate::types::ManagedObjectReference,
            ) -> Self {
                $name {
                    common: $crate::object::Common::new(client, reference),
                }
            }
        }

        impl std::ops::Deref for $name {
            type Target = $crate::object::Common;
            fn deref(&self) -> &$crate::object::Common {
                &self.common
            }
        }

        impl From<$name> for $crate::types::ManagedObjectReference {
            fn from(w: $name) -> Self {
                w.common.reference().clone()
            }
        }
    };
}
pub(crate) use wrapper;

/// Declares the wrapper of one of the service's singletons (a `ServiceContent` field):
/// `new(client)`, `client()`, `reference()`.
macro_rules! manager {
    ($(#[$doc:meta])* $name:ident, $field:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            client: $crate::Client,
            reference: $crate::types::ManagedObjectReference,
        }

        impl $name {
            #[doc = concat!("The service's `", stringify!($name), "` ([`Error::InvalidInput`](crate::Error::InvalidInput) when the server has none).")]
            pub fn new(client: &$crate::Client) -> Result<Self, $crate::Error> {
                let reference = client.service_content().$field.clone().ok_or_else(|| {
                    $crate::Error::InvalidInput(format!(
                        "server has no {}",
                        stringify!($name)
                    ))
                })?;
                Ok($name {
                    client: client.clone(),
                    reference,
                })
            }

            /// The client.
            pub fn client(&self) -> &$crate::Client {
                &self.client
            }

            /// The manager's reference.
            pub fn reference(&self) -> &$crate::types::ManagedObjectReference {
                &self.reference
            }
        }
    };
}
pub(crate) use manager;

/// Reads `paths` of `obj` typed as `M`.
pub(crate) async fn fetch<M: ManagedObject>(
    client: &Client,
    obj: &ManagedObjectReference,
    paths: &[&str],
) -> Result<M, Error> {
    let spec = spec_for_objects(&obj.type_, paths, std::slice::from_ref(obj));
    let mut r = Retrieval::new(client.clone(), client.property_collector(), vec![spec]);
    let page = r.collect_typed::<M>().await?;
    page.objects
        .into_iter()
        .next()
        .ok_or_else(|| Error::NotFound(format!("{obj}")))
}

/// Waits for `task` without progress reporting.
pub(crate) async fn wait(
    client: &Client,
    task: &ManagedObjectReference,
) -> Result<TaskInfo, Error> {
    task::wait(client, task, |_| {}).await
}

/// The reference a finished task returned as its result.
pub(crate) fn result_ref(
    task: &ManagedObjectReference,
    info: &TaskInfo,
) -> Result<ManagedObjectReference, Error> {
    match &info.result {
        Some(AnyValue::Mor(m)) => Ok(m.clone()),
        other => Err(Error::InvalidInput(format!(
            "task {task} returned {other:?}, not a managed object reference"
        ))),
    }
}

/// Watches `paths` of `obj` until `check` accepts a value (called with each changed
/// property's name and new value, `Null` when removed; the first round has the
/// current values), or `limit` passes ([`Error::Timeout`] naming `what`).
pub(crate) async fn wait_for_property<T>(
    client: &Client,
    obj: &ManagedObjectReference,
    paths: &[&str],
    limit: Duration,
    what: &str,
    mut check: impl FnMut(&str, &AnyValue) -> Option<T> + Send,
) -> Result<T, Error> {
    let spec = spec_for_objects(&obj.type_, paths, std::slice::from_ref(obj));
    let mut watch = Watch::create(client.clone(), &client.property_collector(), &spec).await?;
    let outcome = tokio::time::timeout(limit, async {
        loop {
            let Some(set) = watch.next().await? else {
                continue;
            };
            let changes = set
                .filter_set
                .into_iter()
                .flat_map(|f| f.object_set)
                .flat_map(|o| o.change_set);
            for c in changes {
                let val = match (c.op, c.val) {
                    (PropertyChangeOp::Remove, _) | (_, None) => AnyValue::Null,
                    (_, Some(v)) => v,
                };
                if let Some(t) = check(&c.name, &val) {
                    return Ok(t);
                }
            }
        }
    })
    .await;
    let _ = watch.destroy().await;
    match outcome {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            operation: format!("waiting for {obj} {what}"),
        }),
    }
}
