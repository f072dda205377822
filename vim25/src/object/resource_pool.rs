//! Resource pools: child pools with a default allocation, destruction.

use super::wrapper;
use crate::mo;
use crate::types::{ResourceAllocationInfo, ResourceConfigSpec, SharesInfo, SharesLevel};
use crate::{methods, Error};

wrapper!(
    /// A resource pool (or the root pool `Resources` of a compute resource).
    ResourcePool
);

/// No reservation, expandable, no limit, normal shares: what a new pool gets when
/// nothing else is asked (the server wants every field set).
fn default_allocation() -> ResourceAllocationInfo {
    ResourceAllocationInfo {
        reservation: Some(0),
        expandable_reservation: Some(true),
        limit: Some(-1),
        shares: Some(SharesInfo {
            shares: 0,
            level: SharesLevel::Normal,
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl ResourcePool {
    /// The allocation a pool gets by default, for CPU and memory alike: no
    /// reservation, expandable, unlimited, normal shares.
    pub fn default_spec() -> ResourceConfigSpec {
        ResourceConfigSpec {
            cpu_allocation: default_allocation(),
            memory_allocation: default_allocation(),
            ..Default::default()
        }
    }

    /// Creates the child pool `name` with `spec` ([`ResourcePool::default_spec`] when
    /// `None`).
    pub async fn create_child(
        &self,
        name: &str,
        spec: Option<&ResourceConfigSpec>,
    ) -> Result<ResourcePool, Error> {
        let default;
        let spec = match spec {
            Some(s) => s,
            None => {
                default = Self::default_spec();
                &default
            }
        };
        let r = methods::create_resource_pool(self.client(), self.reference(), name, spec).await?;
        Ok(ResourcePool::new(self.client(), r))
    }

    /// The pool's direct child pools.
    pub async fn children(&self) -> Result<Vec<ResourcePool>, Error> {
        let p: mo::ResourcePool = self.properties(&["resourcePool"]).await?;
        Ok(p.resource_pool
            .unwrap_or_default()
            .into_iter()
            .map(|r| ResourcePool::new(self.client(), r))
            .collect())
    }
}
