//! Networks a NIC can be attached to, and the backing that attaches it.

use super::wrapper;
use crate::mo;
use crate::types::{
    AnyVirtualDeviceBackingInfo, DistributedVirtualSwitchPortConnection, ManagedObjectReference,
    VirtualDeviceDeviceBackingInfo, VirtualEthernetCardDistributedVirtualPortBackingInfo,
    VirtualEthernetCardNetworkBackingInfo,
};
use crate::{Client, Error};

wrapper!(
    /// A standard network (a host port group seen from the inventory).
    Network
);

wrapper!(
    /// A port group of a distributed virtual switch.
    DistributedVirtualPortgroup
);

impl Network {
    /// The backing that attaches a NIC to this network.
    pub async fn ethernet_card_backing(&self) -> Result<AnyVirtualDeviceBackingInfo, Error> {
        let name = self.name().await?;
        Ok(VirtualEthernetCardNetworkBackingInfo {
            base_: VirtualDeviceDeviceBackingInfo {
                device_name: name,
                ..Default::default()
            },
            network: Some(self.reference().clone()),
            ..Default::default()
        }
        .into())
    }
}

impl DistributedVirtualPortgroup {
    /// The port group's key and its switch's UUID, which a NIC backing names.
    pub async fn port_connection(&self) -> Result<DistributedVirtualSwitchPortConnection, Error> {
        let pg: mo::DistributedVirtualPortgroup = self.properties(&["key", "config"]).await?;
        let missing = |what: &str| Error::NotFound(format!("{what} of {}", self.reference()));
        let key = pg
            .key
            .or_else(|| pg.config.as_ref().map(|c| c.key.clone()))
            .ok_or_else(|| missing("key"))?;
        let dvs = pg
            .config
            .and_then(|c| c.distributed_virtual_switch)
            .ok_or_else(|| missing("distributed virtual switch"))?;
        let switch: mo::DistributedVirtualSwitch =
            super::fetch(self.client(), &dvs, &["uuid"]).await?;
        let uuid = switch
            .uuid
            .ok_or_else(|| Error::NotFound(format!("uuid of {dvs}")))?;
        Ok(DistributedVirtualSwitchPortConnection {
            switch_uuid: uuid,
            portgroup_key: Some(key),
            ..Default::default()
        })
    }

    /// The backing that attaches a NIC to this port group.
    pub async fn ethernet_card_backing(&self) -> Result<AnyVirtualDeviceBackingInfo, Error> {
        Ok(VirtualEthernetCardDistributedVirtualPortBackingInfo {
            port: self.port_connection().await?,
            ..Default::default()
        }
        .into())
    }
}

/// The backing that attaches a NIC to `network`, whichever kind it is
/// (`Network` or `DistributedVirtualPortgroup`).
pub async fn ethernet_card_backing(
    client: &Client,
    network: &ManagedObjectReference,
) -> Result<AnyVirtualDeviceBackingInfo, Error> {
    match network.type_.as_str() {
        "Network" => {
            Network::new(client, network.clone())
                .ethernet_card_backing()
                .await
        }
        "DistributedVirtualPortgroup" => {
            DistributedVirtualPortgroup::new(client, network.clone())
                .ethernet_card_backing()
                .await
        }
        other => Err(Error::InvalidInput(format!(
            "{network} is a {other}: a NIC attaches to a Network or a DistributedVirtualPortgroup"
        ))),
    }
}
