//! Thin typed wrappers over managed objects, in the spirit of govmomi's `object`
//! package: each holds a [`Client`] clone and a [`ManagedObjectReference`], offers the
//! operations of its type as methods, and returns the tasks they start as a typed
//! [`Task`] (`Task<VirtualMachine>` from `create_vm`), with `*_and_wait` forms.
//!
//! What every wrapper shares (its reference, `name`, typed `properties`, `destroy`)
//! lives in [`Common`], which each wrapper dereferences to.
//!
//! ```no_run
//! # async fn demo(client: vim25::Client) -> Result<(), vim25::Error> {
//! use vim25::find::Finder;
//! use vim25::object::device::NicKind;
//! let finder = Finder::new(&client);
//! let vm = finder.virtual_machine("/DC0/vm/DC0_H0_VM0").await?;
//! vm.power_off().await?.wait().await?;
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
pub use event::{parse_date_time, EventFilter, EventHistoryCollector, EventManager};
pub use folder::Folder;
pub use host::{HostNetworkSystem, HostSystem};
pub use network::{ethernet_card_backing, DistributedVirtualPortgroup, Network};
pub use resource_pool::ResourcePool;
pub use virtual_disk_manager::VirtualDiskManager;
pub use virtual_machine::VirtualMachine;

use crate::mo::ManagedEntity;
use crate::mo::ManagedObject;
use crate::property::{spec_for_objects, Retrieval};
use crate::task::Task;
use crate::types::ManagedObjectReference;
use crate::{methods, Client, Error};
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
    pub async fn destroy(&self) -> Result<Task<()>, Error> {
        let t = methods::destroy_task(&self.client, &self.reference).await?;
        Ok(Task::new(&self.client, t))
    }

    /// [`Common::destroy`] and waits for the task.
    pub async fn destroy_and_wait(&self) -> Result<(), Error> {
        self.destroy().await?.wait().await
    }

    /// Starts `Rename_Task`. Returns the task.
    pub async fn rename(&self, new_name: &str) -> Result<Task<()>, Error> {
        let t = methods::rename_task(&self.client, &self.reference, new_name).await?;
        Ok(Task::new(&self.client, t))
    }

    /// [`Common::rename`] and waits for the task.
    pub async fn rename_and_wait(&self, new_name: &str) -> Result<(), Error> {
        self.rename(new_name).await?.wait().await
    }
}

/// A wrapper of one managed object type ([`VirtualMachine`], [`Folder`], …): what
/// [`crate::find::Finder::object`] and typed tasks build from a reference.
pub trait ObjectWrapper: Sized {
    /// The managed object type it wraps (`VirtualMachine`); subtypes are accepted too
    /// (a `VirtualApp` is a `ResourcePool`).
    const TYPE_NAME: &'static str;
    /// The wrapper of `reference` (its type is not checked here).
    fn from_reference(client: &Client, reference: ManagedObjectReference) -> Self;
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

        impl $crate::object::ObjectWrapper for $name {
            const TYPE_NAME: &'static str = stringify!($name);
            fn from_reference(
                client: &$crate::Client,
                reference: $crate::types::ManagedObjectReference,
            ) -> Self {
                $name::new(client, reference)
            }
        }

        /// A task whose result is a reference to one of these (`CreateVM_Task` gives a
        /// `VirtualMachine`).
        impl $crate::task::TaskResult for $name {
            fn from_task(
                client: &$crate::Client,
                task: &$crate::types::ManagedObjectReference,
                info: $crate::types::TaskInfo,
            ) -> Result<Self, $crate::Error> {
                $crate::task::result_reference(task, &info).map(|r| $name::new(client, r))
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
            #[doc = concat!("The service's `", stringify!($name), "` ([`Error::NotSupported`](crate::Error::NotSupported) when the server has none).")]
            pub fn new(client: &$crate::Client) -> Result<Self, $crate::Error> {
                let reference = client.service_content().$field.clone().ok_or_else(|| {
                    $crate::Error::NotSupported(format!("no {}", stringify!($name)))
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

/// [`crate::property::wait`] for at most `limit`: [`Error::Timeout`] naming `obj` and
/// `what` when the property has not satisfied `predicate` by then.
pub(crate) async fn wait_within<T: crate::types::FromAnyValue>(
    client: &Client,
    obj: &ManagedObjectReference,
    path: &str,
    limit: Duration,
    what: &str,
    predicate: impl FnMut(Option<&T>) -> bool,
) -> Result<Option<T>, Error> {
    let wait = crate::property::wait(client, obj, path, predicate);
    match tokio::time::timeout(limit, wait).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            operation: format!("waiting for {obj} {what}"),
        }),
    }
}
