//! Datacenters and their four root folders.

use super::{wrapper, Datastore, Folder, Network};
use crate::mo;
use crate::Error;

wrapper!(
    /// A datacenter: the root of a VM, host, datastore and network hierarchy.
    Datacenter
);

/// A datacenter's root folders.
#[derive(Debug, Clone)]
pub struct DatacenterFolders {
    /// Virtual machines and templates (`vm`).
    pub vm: Folder,
    /// Hosts and clusters (`host`).
    pub host: Folder,
    /// Datastores (`datastore`).
    pub datastore: Folder,
    /// Networks (`network`).
    pub network: Folder,
}

impl Datacenter {
    /// The datacenter's root folders.
    pub async fn folders(&self) -> Result<DatacenterFolders, Error> {
        let dc: mo::Datacenter = self
            .properties(&["vmFolder", "hostFolder", "datastoreFolder", "networkFolder"])
            .await?;
        let folder = |r: Option<_>, which: &str| {
            r.map(|r| Folder::new(self.client(), r))
                .ok_or_else(|| Error::NotFound(format!("{which} folder of {}", self.reference())))
        };
        Ok(DatacenterFolders {
            vm: folder(dc.vm_folder, "vm")?,
            host: folder(dc.host_folder, "host")?,
            datastore: folder(dc.datastore_folder, "datastore")?,
            network: folder(dc.network_folder, "network")?,
        })
    }

    /// The datastores of the datacenter.
    pub async fn datastores(&self) -> Result<Vec<Datastore>, Error> {
        let dc: mo::Datacenter = self.properties(&["datastore"]).await?;
        Ok(dc
            .datastore
            .unwrap_or_default()
            .into_iter()
            .map(|r| Datastore::new(self.client(), r))
            .collect())
    }

    /// The networks of the datacenter (standard port groups, distributed port groups
    /// and distributed switches' uplink groups, as the server lists them).
    pub async fn networks(&self) -> Result<Vec<Network>, Error> {
        let dc: mo::Datacenter = self.properties(&["network"]).await?;
        Ok(dc
            .network
            .unwrap_or_default()
            .into_iter()
            .map(|r| Network::new(self.client(), r))
            .collect())
    }
}
