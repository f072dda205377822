//! The vSphere backend (being written).

use vim25::types::ManagedObjectReference;
use vim25::Client;

use crate::Result;

/// Where the VCH's containerVMs and files go.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The datacenter.
    pub datacenter: ManagedObjectReference,
    /// The VM folder containerVMs are created in (and listed from).
    pub folder: ManagedObjectReference,
    /// The resource pool containerVMs run in.
    pub pool: ManagedObjectReference,
    /// The host to place VMs on (standalone ESX), if any.
    pub host: Option<ManagedObjectReference>,
    /// The datastore of the VCH's folder.
    pub datastore: String,
    /// The VCH's folder on it.
    pub vch_dir: String,
    /// The appliance VM, used to create child disks by attaching them (as VIC does).
    pub appliance: Option<ManagedObjectReference>,
}

impl Placement {
    /// Finds (and creates where missing) the placement of VCH `vch_name`: the
    /// default datacenter, a VM folder named after the VCH, the default resource
    /// pool, the named datastore (or the only/first one), the folder `vch_name` on it.
    pub async fn discover(client: &Client, vch_name: &str, datastore: Option<&str>) -> Result<Placement> {
        let _ = (client, vch_name, datastore);
        unimplemented!("vsphere backend")
    }
}

/// The port layer's primitives on a vim25 client.
#[derive(Debug)]
pub struct VsphereBackend {
    _private: (),
}

impl VsphereBackend {
    /// A backend on `client` placing things at `placement`.
    pub fn new(client: Client, placement: Placement) -> Self {
        let _ = (client, placement);
        unimplemented!("vsphere backend")
    }
}
