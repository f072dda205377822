//! Hosts and their network configuration: standard virtual switches and port groups.

use super::{wrapper, ResourcePool};
use crate::mo;
use crate::types::{HostNetworkInfo, HostNetworkPolicy, HostPortGroupSpec, HostVirtualSwitchSpec};
use crate::{methods, Error};

wrapper!(
    /// An ESXi host.
    HostSystem
);

wrapper!(
    /// A host's network system (`configManager.networkSystem`): its standard virtual
    /// switches and port groups.
    HostNetworkSystem
);

impl HostSystem {
    /// The host's network system.
    pub async fn network_system(&self) -> Result<HostNetworkSystem, Error> {
        let h: mo::HostSystem = self.properties(&["configManager"]).await?;
        h.config_manager
            .and_then(|c| c.network_system)
            .map(|r| HostNetworkSystem::new(self.client(), r))
            .ok_or_else(|| Error::NotFound(format!("network system of {}", self.reference())))
    }

    /// The root resource pool of the host's compute resource (standalone host or
    /// cluster), where VMs for this host can be created.
    pub async fn resource_pool(&self) -> Result<ResourcePool, Error> {
        let parent = self
            .parent()
            .await?
            .ok_or_else(|| Error::NotFound(format!("compute resource of {}", self.reference())))?;
        let cr: mo::ComputeResource =
            super::fetch(self.client(), &parent, &["resourcePool"]).await?;
        cr.resource_pool
            .map(|r| ResourcePool::new(self.client(), r))
            .ok_or_else(|| Error::NotFound(format!("resource pool of {parent}")))
    }
}

impl HostNetworkSystem {
    /// The current network configuration (switches, port groups, NICs).
    pub async fn network_info(&self) -> Result<HostNetworkInfo, Error> {
        let n: mo::HostNetworkSystem = self.properties(&["networkInfo"]).await?;
        n.network_info
            .ok_or_else(|| Error::NotFound(format!("network info of {}", self.reference())))
    }

    /// Adds the standard virtual switch `name` (with `spec`, or the host's defaults).
    pub async fn add_virtual_switch(
        &self,
        name: &str,
        spec: Option<&HostVirtualSwitchSpec>,
    ) -> Result<(), Error> {
        methods::add_virtual_switch(self.client(), self.reference(), name, spec).await
    }

    /// Removes the standard virtual switch `name`.
    pub async fn remove_virtual_switch(&self, name: &str) -> Result<(), Error> {
        methods::remove_virtual_switch(self.client(), self.reference(), name).await
    }

    /// Adds the port group `name` on the virtual switch `vswitch`, on VLAN `vlan_id`
    /// (0 for none), inheriting the switch's policies.
    pub async fn add_port_group(
        &self,
        name: &str,
        vswitch: &str,
        vlan_id: i32,
    ) -> Result<(), Error> {
        self.add_port_group_spec(&HostPortGroupSpec {
            name: name.to_string(),
            vlan_id,
            vswitch_name: vswitch.to_string(),
            policy: HostNetworkPolicy::default(),
            ..Default::default()
        })
        .await
    }

    /// Adds a port group described in full.
    pub async fn add_port_group_spec(&self, spec: &HostPortGroupSpec) -> Result<(), Error> {
        methods::add_port_group(self.client(), self.reference(), spec).await
    }

    /// Removes the port group `name`.
    pub async fn remove_port_group(&self, name: &str) -> Result<(), Error> {
        methods::remove_port_group(self.client(), self.reference(), name).await
    }
}
