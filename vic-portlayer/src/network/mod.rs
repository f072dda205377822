//! Network: scopes (the networks containers join), their addresses, and the
//! endpoints that put containers on them.
//!
//! A [`Scope`] is a bridge network (a subnet carved from the bridge range, on the
//! VCH's shared bridge port group) or an external one (a vSphere port group, with
//! a static subnet or DHCP). Scopes are persisted in a [`KvStore`] (one key per
//! scope, `scope/<name>`, JSON), so that networks without containers survive a
//! restart of the control plane; which addresses are taken is not persisted but
//! rebuilt from the containers' own configs by [`Network::restore`].
//!
//! A container joins a scope in two steps, like the rest of the port layer:
//! [`Network::add_container`] edits a [`Handle`] only (the endpoint in its executor
//! config, a NIC on the scope's port group); [`Network::bind`] reserves its
//! addresses and aliases and fills in what the guest needs (address, gateway, name
//! servers). A commit of the handle makes it so on the VM. When the commit fails,
//! the caller undoes the bind with [`Network::unbind`] on the same handle.
//!
//! ```no_run
//! # async fn demo(net: vic_portlayer::network::Network, mut h: vic_portlayer::exec::Handle) -> vic_portlayer::Result<()> {
//! use vic_portlayer::network::EndpointOptions;
//! let opts = EndpointOptions { aliases: vec!["web".into()], ..Default::default() };
//! net.add_container(&mut h, "bridge", opts).await?;
//! net.bind(&mut h).await?;
//! let ip = h.config().networks["bridge"].assigned.ip;
//! # let _ = ip; Ok(()) }
//! ```

pub mod ipam;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use vic_config::model::{Common, ContainerNetwork, ExecutorConfig, IpRange, NetworkEndpoint};
use vic_config::types::{Ip, IpMask, IpNet};
use vim25::object::device::{self, NicKind};
use vim25::types::{AnyVirtualDevice, AnyVirtualDeviceBackingInfo};

use self::ipam::{AddrRange, AddressSpace, Subnet};
use crate::backend::Backend;
use crate::exec::{FileOp, Handle};
use crate::kv::KvStore;
use crate::{is_safe_name, random_hex, ContainerId, Error, Result};

/// The name of the default bridge scope.
pub const DEFAULT_BRIDGE: &str = "bridge";

/// The prefix of the kv keys scopes are stored under (`scope/<name>`).
pub const SCOPE_KEY_PREFIX: &str = "scope/";

/// How the bridge networks of a VCH are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The port group every bridge scope's NICs attach to.
    pub bridge_port_group: String,
    /// The range bridge subnets are carved from (VIC's default: `172.16.0.0/12`).
    pub bridge_range: Subnet,
    /// The prefix length of each bridge subnet (VIC's default: 16).
    pub bridge_width: u8,
}

impl NetworkConfig {
    /// VIC's defaults on `bridge_port_group`: subnets of /16 from `172.16.0.0/12`.
    pub fn new(bridge_port_group: impl Into<String>) -> Self {
        NetworkConfig {
            bridge_port_group: bridge_port_group.into(),
            bridge_range: ipam::DEFAULT_BRIDGE_RANGE,
            bridge_width: 16,
        }
    }
}

/// What kind of network a scope is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeKind {
    /// A subnet of the bridge range on the VCH's bridge port group; the VCH is the
    /// gateway.
    #[default]
    Bridge,
    /// A vSphere port group with its own addressing (static or DHCP).
    External,
}

impl ScopeKind {
    /// `bridge` or `external`, as the endpoint's network type says.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Bridge => "bridge",
            ScopeKind::External => "external",
        }
    }
}

impl fmt::Display for ScopeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The firewall trust level of an external scope, as VIC numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrustLevel {
    /// Only published ports are reachable (1).
    Published,
    /// Everything is reachable (2).
    Open,
    /// Nothing is reachable (3).
    Closed,
    /// Outbound connections only (4).
    Outbound,
    /// Only other containers of the scope (5).
    Peers,
}

impl TrustLevel {
    /// VIC's number for the level (`TrustLevel` key of a container network).
    pub fn code(self) -> i64 {
        match self {
            TrustLevel::Published => 1,
            TrustLevel::Open => 2,
            TrustLevel::Closed => 3,
            TrustLevel::Outbound => 4,
            TrustLevel::Peers => 5,
        }
    }

    /// The level VIC's number `code` stands for (`None` for 0, unspecified, and
    /// unknown numbers).
    pub fn from_code(code: i64) -> Option<TrustLevel> {
        Some(match code {
            1 => TrustLevel::Published,
            2 => TrustLevel::Open,
            3 => TrustLevel::Closed,
            4 => TrustLevel::Outbound,
            5 => TrustLevel::Peers,
            _ => return None,
        })
    }
}

/// A network containers can join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// A random ID (32 hex digits), stable across restarts.
    pub id: String,
    /// The name (unique; the key of the endpoint in a container's config).
    pub name: String,
    /// Bridge or external.
    pub kind: ScopeKind,
    /// The subnet; `None` for an external scope addressed by DHCP.
    pub subnet: Option<Subnet>,
    /// The gateway (reserved in the scope's address space).
    pub gateway: Option<IpAddr>,
    /// Where container addresses are taken from when none is asked for; empty
    /// means the whole subnet.
    #[serde(default)]
    pub ip_ranges: Vec<AddrRange>,
    /// Name servers handed to containers (a bridge scope's default is its gateway).
    #[serde(default)]
    pub dns: Vec<IpAddr>,
    /// The vSphere port group the containers' NICs attach to.
    pub port_group: String,
    /// The firewall trust level, if set.
    #[serde(default)]
    pub trust_level: Option<TrustLevel>,
}

impl Scope {
    /// Whether containers get their addresses by DHCP (no subnet is managed here).
    pub fn is_dhcp(&self) -> bool {
        self.subnet.is_none()
    }
}

/// What to create with [`Network::create_scope`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSpec {
    /// The name: letters, digits, `-`, `_`, `.` (not leading).
    pub name: String,
    /// Bridge or external.
    pub kind: ScopeKind,
    /// The subnet. A bridge scope without one takes the next free subnet of the
    /// bridge range; an external scope without one is addressed by DHCP.
    pub subnet: Option<Subnet>,
    /// The gateway; a bridge scope's default is the subnet's first host address.
    pub gateway: Option<IpAddr>,
    /// Where automatic addresses come from (inside the subnet).
    pub ip_ranges: Vec<AddrRange>,
    /// Name servers.
    pub dns: Vec<IpAddr>,
    /// The port group: required for an external scope; a bridge scope always uses
    /// the VCH's bridge port group (naming another one is refused).
    pub port_group: Option<String>,
    /// The trust level.
    pub trust_level: Option<TrustLevel>,
}

impl ScopeSpec {
    /// A bridge scope named `name` with every default.
    pub fn bridge(name: impl Into<String>) -> Self {
        ScopeSpec {
            name: name.into(),
            kind: ScopeKind::Bridge,
            ..Default::default()
        }
    }

    /// An external scope named `name` on `port_group`, addressed by DHCP unless a
    /// subnet is set.
    pub fn external(name: impl Into<String>, port_group: impl Into<String>) -> Self {
        ScopeSpec {
            name: name.into(),
            kind: ScopeKind::External,
            port_group: Some(port_group.into()),
            ..Default::default()
        }
    }
}

/// How a container joins a scope ([`Network::add_container`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointOptions {
    /// The address to give the container (inside the scope's subnet); `None`
    /// takes the next free one at bind.
    pub ip: Option<IpAddr>,
    /// Names the container answers to in the scope (unique in the scope).
    pub aliases: Vec<String>,
    /// Exposed ports, as the front end spells them (`80/tcp`, `8080:80/tcp`).
    pub ports: Vec<String>,
}

/// A container bound to a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The container.
    pub container: ContainerId,
    /// The scope.
    pub scope: String,
    /// Its address (`None` on a DHCP scope until the guest reports one).
    pub ip: Option<IpAddr>,
    /// Its aliases in the scope.
    pub aliases: Vec<String>,
    /// Its exposed ports.
    pub ports: Vec<String>,
}

/// One container's problem met by [`Network::restore`].
#[derive(Debug)]
pub struct RestoreProblem {
    /// The container.
    pub container: ContainerId,
    /// The scope of the endpoint that could not be restored.
    pub scope: String,
    /// Why.
    pub error: Error,
}

/// The network service: scopes, IPAM and container endpoints. Cheap to clone;
/// clones share state.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    kv: KvStore,
    config: NetworkConfig,
    // A tokio lock: scope changes hold it across the kv write so that the
    // persisted scopes and the in-memory ones never disagree.
    state: Mutex<State>,
}

#[derive(Clone)]
struct State {
    /// Subnets of the bridge range taken by bridge scopes.
    bridge_space: AddressSpace,
    scopes: BTreeMap<String, Entry>,
}

#[derive(Clone)]
struct Entry {
    scope: Scope,
    /// The host addresses of the subnet (`None` for DHCP).
    space: Option<AddressSpace>,
    bound: BTreeMap<ContainerId, Bound>,
}

#[derive(Clone)]
struct Bound {
    ip: Option<IpAddr>,
    /// Whether `ip` is reserved in the scope's space (a DHCP address is not).
    reserved: bool,
    aliases: Vec<String>,
    ports: Vec<String>,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("backend", &self.inner.backend.describe())
            .field("kv", &self.inner.kv)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Network {
    /// The network service of a VCH: loads the scopes persisted in `kv` and creates
    /// the default `bridge` scope (the first free subnet of the bridge range,
    /// gateway at its first host address) when it is missing. A stored scope that
    /// does not parse, or that collides with another, is [`Error::Corrupt`].
    pub async fn new(
        backend: Arc<dyn Backend>,
        kv: KvStore,
        config: NetworkConfig,
    ) -> Result<Network> {
        let range = config.bridge_range;
        if config.bridge_width < range.prefix() || config.bridge_width > range.family().bits() {
            return Err(Error::InvalidInput(format!(
                "bridge width /{} does not fit in the bridge range {range}",
                config.bridge_width
            )));
        }
        let mut state = State {
            bridge_space: AddressSpace::from_subnet(range),
            scopes: BTreeMap::new(),
        };
        for (key, value) in kv
            .list(&format!("{}.*", regex_lite::escape(SCOPE_KEY_PREFIX)))
            .await?
        {
            let corrupt = |message: String| Error::Corrupt {
                what: format!("scope {key} in kv store {}", kv.name()),
                message,
            };
            let scope: Scope = serde_json::from_str(&value).map_err(|e| corrupt(e.to_string()))?;
            if key.strip_prefix(SCOPE_KEY_PREFIX) != Some(scope.name.as_str()) {
                return Err(corrupt(format!("it names scope {:?}", scope.name)));
            }
            let entry = prepare(&state, &config, scope).map_err(|e| corrupt(e.to_string()))?;
            state.insert(entry);
        }
        if !state.scopes.contains_key(DEFAULT_BRIDGE) {
            let spec = ScopeSpec::bridge(DEFAULT_BRIDGE);
            let entry = build(&state, &config, spec, None)?;
            kv.put(&scope_key(DEFAULT_BRIDGE), &encode_scope(&entry.scope)?)
                .await?;
            state.insert(entry);
        }
        Ok(Network {
            inner: Arc::new(Inner {
                backend,
                kv,
                config,
                state: Mutex::new(state),
            }),
        })
    }

    /// The layout of the bridge networks.
    pub fn config(&self) -> &NetworkConfig {
        &self.inner.config
    }

    /// Creates a scope. A name in use is [`Error::Exists`]; a subnet overlapping
    /// another scope's is [`Error::InUse`]; an external scope's port group that the
    /// VCH cannot attach to is [`Error::NotFound`]; inconsistent addressing (a
    /// gateway or range outside the subnet, a static setting on a DHCP scope) is
    /// [`Error::InvalidInput`]. On error nothing changed.
    pub async fn create_scope(&self, spec: ScopeSpec) -> Result<Scope> {
        let port_groups = match spec.kind {
            ScopeKind::External => Some(self.inner.backend.port_groups().await?),
            ScopeKind::Bridge => None,
        };
        let mut state = self.inner.state.lock().await;
        let entry = build(&state, &self.inner.config, spec, port_groups.as_deref())?;
        let scope = entry.scope.clone();
        self.inner
            .kv
            .put(&scope_key(&scope.name), &encode_scope(&scope)?)
            .await?;
        state.insert(entry);
        Ok(scope)
    }

    /// Every scope, by name.
    pub async fn scopes(&self) -> Vec<Scope> {
        let state = self.inner.state.lock().await;
        state.scopes.values().map(|e| e.scope.clone()).collect()
    }

    /// The scope `name`.
    pub async fn scope(&self, name: &str) -> Result<Scope> {
        let state = self.inner.state.lock().await;
        Ok(state.entry(name)?.scope.clone())
    }

    /// Deletes the scope `name`. While containers are bound to it the answer is
    /// [`Error::InUse`]; the default bridge cannot be deleted
    /// ([`Error::InvalidInput`]).
    pub async fn delete_scope(&self, name: &str) -> Result<()> {
        let mut state = self.inner.state.lock().await;
        let entry = state.entry(name)?;
        if name == DEFAULT_BRIDGE {
            return Err(Error::InvalidInput(format!(
                "the default bridge scope {DEFAULT_BRIDGE:?} cannot be deleted"
            )));
        }
        if !entry.bound.is_empty() {
            return Err(Error::InUse {
                kind: "scope",
                id: name.to_string(),
                by: short_ids(entry.bound.keys()),
            });
        }
        self.inner.kv.delete(&scope_key(name)).await?;
        state.remove(name);
        Ok(())
    }

    /// Adds the container of `handle` to `scope`: writes the endpoint (scope,
    /// requested address, aliases, ports) into the handle's executor config and adds
    /// a NIC on the scope's port group when the handle has none there yet (one NIC
    /// per distinct port group). Nothing is reserved until [`bind`](Self::bind).
    ///
    /// An unknown scope is [`Error::NotFound`]; an endpoint already in the handle or
    /// an alias a bound container of the scope uses is [`Error::Exists`]; an
    /// address outside the scope (or on a DHCP scope) is [`Error::InvalidInput`];
    /// an address taken is [`Error::InUse`]. On error the handle is unchanged.
    pub async fn add_container(
        &self,
        handle: &mut Handle,
        scope: &str,
        opts: EndpointOptions,
    ) -> Result<()> {
        let (endpoint, port_group) = {
            let state = self.inner.state.lock().await;
            let entry = state.entry(scope)?;
            if handle.config().networks.contains_key(scope) {
                return Err(Error::Exists {
                    kind: "endpoint",
                    id: format!("{} in scope {scope}", handle.id().short()),
                });
            }
            check_list("port", &opts.ports, false)?;
            check_list("alias", &opts.aliases, true)?;
            for alias in &opts.aliases {
                if let Some(owner) = entry.alias_owner(alias, handle.id()) {
                    return Err(Error::Exists {
                        kind: "alias",
                        id: format!("{alias} in scope {scope} (container {})", owner.short()),
                    });
                }
            }
            if let Some(ip) = opts.ip {
                entry.check_requested(ip, handle.id())?;
            }
            let is_default = !handle
                .config()
                .networks
                .values()
                .any(|e| e.network.default == Some(true));
            let endpoint = new_endpoint(&entry.scope, &opts, is_default);
            (endpoint, entry.scope.port_group.clone())
        };
        let nic = if self.nic_for(handle, &port_group).await?.is_none() {
            let backing = self.inner.backend.network_backing(&port_group).await?;
            Some(device::new_nic(NicKind::Vmxnet3, backing))
        } else {
            None
        };
        handle
            .config_mut()
            .networks
            .insert(scope.to_string(), endpoint);
        if let Some(nic) = nic {
            handle.add_device(nic, FileOp::Keep);
        }
        Ok(())
    }

    /// Binds the container of `handle` to every scope it has an endpoint in:
    /// reserves the requested (or the next free) address and the aliases, and fills
    /// in the endpoint's address, gateway and name servers. Endpoints already bound
    /// are left as they are. All or nothing: on error no reservation was made and the
    /// handle is unchanged.
    pub async fn bind(&self, handle: &mut Handle) -> Result<()> {
        let id = handle.id().clone();
        let mut state = self.inner.state.lock().await;
        let mut staged: BTreeMap<String, Entry> = BTreeMap::new();
        let mut endpoints = handle.config().networks.clone();
        for (name, ep) in endpoints.iter_mut() {
            let mut entry = state.entry(name)?.clone();
            if !entry.bound.contains_key(&id) {
                let bound = entry.reserve(&id, ep)?;
                entry.bound.insert(id.clone(), bound);
            }
            if let Some(bound) = entry.bound.get(&id) {
                fill_bound(&entry.scope, bound, ep);
            }
            staged.insert(name.clone(), entry);
        }
        for (name, entry) in staged {
            state.scopes.insert(name, entry);
        }
        handle.config_mut().networks = endpoints;
        Ok(())
    }

    /// Releases the addresses and aliases of the container of `handle` in every
    /// scope it has an endpoint in, and clears the endpoints' assigned addresses
    /// (and the address itself where the user did not ask for it). Endpoints not
    /// bound are left alone.
    pub async fn unbind(&self, handle: &mut Handle) -> Result<()> {
        let id = handle.id().clone();
        let mut state = self.inner.state.lock().await;
        let names: Vec<String> = handle.config().networks.keys().cloned().collect();
        for name in names {
            if let Some(entry) = state.scopes.get_mut(&name) {
                entry.release(&id);
            }
            if let Some(ep) = handle.config_mut().networks.get_mut(&name) {
                clear_bound(ep);
            }
        }
        Ok(())
    }

    /// Removes the endpoint for `scope` from `handle` (releasing what it had bound)
    /// and the NIC on the scope's port group when no other endpoint of the handle
    /// uses that port group. An endpoint the handle does not have is
    /// [`Error::NotFound`]. When the scope itself is gone its port group is unknown
    /// and the NIC stays.
    pub async fn remove_container(&self, handle: &mut Handle, scope: &str) -> Result<()> {
        let id = handle.id().clone();
        if !handle.config().networks.contains_key(scope) {
            return Err(Error::not_found(
                "endpoint",
                format!("{} in scope {scope}", id.short()),
            ));
        }
        // The port groups the other endpoints need.
        let (port_group, still_used) = {
            let state = self.inner.state.lock().await;
            let port_group = state.scopes.get(scope).map(|e| e.scope.port_group.clone());
            let still_used = handle
                .config()
                .networks
                .keys()
                .filter(|n| n.as_str() != scope)
                .filter_map(|n| state.scopes.get(n))
                .any(|e| Some(&e.scope.port_group) == port_group.as_ref());
            (port_group, still_used)
        };
        let nic = match (&port_group, still_used) {
            (Some(pg), false) => self.nic_for(handle, pg).await?,
            _ => None,
        };
        if let Some(key) = nic {
            handle.remove_device(key, false)?;
        }
        {
            let mut state = self.inner.state.lock().await;
            if let Some(entry) = state.scopes.get_mut(scope) {
                entry.release(&id);
            }
        }
        let networks = &mut handle.config_mut().networks;
        let removed = networks.remove(scope);
        if removed.is_some_and(|e| e.network.default == Some(true)) {
            if let Some(next) = networks.values_mut().next() {
                next.network.default = Some(true);
            }
        }
        Ok(())
    }

    /// The containers bound to `scope`.
    pub async fn endpoints(&self, scope: &str) -> Result<Vec<Endpoint>> {
        let state = self.inner.state.lock().await;
        let entry = state.entry(scope)?;
        Ok(entry
            .bound
            .iter()
            .map(|(id, b)| Endpoint {
                container: id.clone(),
                scope: scope.to_string(),
                ip: b.ip,
                aliases: b.aliases.clone(),
                ports: b.ports.clone(),
            })
            .collect())
    }

    /// The container bound to `scope` under `alias`.
    pub async fn lookup_alias(&self, scope: &str, alias: &str) -> Option<ContainerId> {
        let state = self.inner.state.lock().await;
        let entry = state.scopes.get(scope)?;
        entry
            .bound
            .iter()
            .find(|(_, b)| b.aliases.iter().any(|a| a == alias))
            .map(|(id, _)| id.clone())
    }

    /// The scope and container an address is bound to.
    pub async fn lookup_address(&self, ip: IpAddr) -> Option<(String, ContainerId)> {
        let state = self.inner.state.lock().await;
        state.scopes.iter().find_map(|(name, e)| {
            e.bound
                .iter()
                .find(|(_, b)| b.ip == Some(ip))
                .map(|(id, _)| (name.clone(), id.clone()))
        })
    }

    /// Rebuilds reservations and aliases after a restart from the configs of the
    /// containers to treat as bound (usually the running ones): each endpoint's
    /// address (the one it was given, else the one the guest reports) is reserved
    /// again and its aliases recorded. Containers already bound are skipped. An
    /// endpoint that cannot be restored (unknown scope, address or alias taken) is
    /// left out and reported; the others are restored regardless.
    pub async fn restore(
        &self,
        containers: &[(ContainerId, ExecutorConfig)],
    ) -> Vec<RestoreProblem> {
        let mut problems = Vec::new();
        let mut state = self.inner.state.lock().await;
        for (id, config) in containers {
            for (name, ep) in &config.networks {
                let Some(entry) = state.scopes.get_mut(name) else {
                    problems.push(RestoreProblem {
                        container: id.clone(),
                        scope: name.clone(),
                        error: Error::not_found("scope", name.as_str()),
                    });
                    continue;
                };
                if entry.bound.contains_key(id) {
                    continue;
                }
                match entry.restore_one(id, ep) {
                    Ok(bound) => {
                        entry.bound.insert(id.clone(), bound);
                    }
                    Err(error) => problems.push(RestoreProblem {
                        container: id.clone(),
                        scope: name.clone(),
                        error,
                    }),
                }
            }
        }
        problems
    }

    /// The key of the NIC of `handle` on `port_group`, if it has one.
    async fn nic_for(&self, handle: &Handle, port_group: &str) -> Result<Option<i32>> {
        let devices = handle.devices();
        if !devices
            .iter()
            .any(|d| device::as_ethernet_card(d).is_some())
        {
            return Ok(None);
        }
        let backing = self.inner.backend.network_backing(port_group).await?;
        Ok(nic_on(&devices, &backing))
    }
}

impl State {
    fn entry(&self, name: &str) -> Result<&Entry> {
        self.scopes
            .get(name)
            .ok_or_else(|| Error::not_found("scope", name))
    }

    /// Adds a prepared entry (its checks done by [`prepare`]).
    fn insert(&mut self, entry: Entry) {
        if entry.scope.kind == ScopeKind::Bridge {
            if let Some(subnet) = entry.scope.subnet {
                if self.bridge_space.pool().contains_range(&subnet.range())
                    && self.bridge_space.reserve_subnet(subnet).is_err()
                {
                    // `prepare` checked that the subnet is free; a failure here would
                    // mean the two disagree, which a later `create_scope` reports.
                    tracing::warn!(scope = %entry.scope.name, %subnet, "bridge subnet already reserved");
                }
            }
        }
        self.scopes.insert(entry.scope.name.clone(), entry);
    }

    fn remove(&mut self, name: &str) {
        if let Some(entry) = self.scopes.remove(name) {
            if let (ScopeKind::Bridge, Some(subnet)) = (entry.scope.kind, entry.scope.subnet) {
                if self.bridge_space.pool().contains_range(&subnet.range()) {
                    let _ = self.bridge_space.release_subnet(subnet);
                }
            }
        }
    }
}

impl Entry {
    /// The bound container other than `me` that uses `alias`.
    fn alias_owner(&self, alias: &str, me: &ContainerId) -> Option<&ContainerId> {
        self.bound
            .iter()
            .find(|(id, b)| *id != me && b.aliases.iter().any(|a| a == alias))
            .map(|(id, _)| id)
    }

    /// The bound container holding `ip`.
    fn address_owner(&self, ip: IpAddr) -> Option<&ContainerId> {
        self.bound
            .iter()
            .find(|(_, b)| b.ip == Some(ip))
            .map(|(id, _)| id)
    }

    /// Whether `ip` may be asked for by `me` in this scope.
    fn check_requested(&self, ip: IpAddr, me: &ContainerId) -> Result<()> {
        let name = &self.scope.name;
        let (Some(space), Some(subnet)) = (&self.space, self.scope.subnet) else {
            return Err(Error::InvalidInput(format!(
                "scope {name} is addressed by DHCP; it takes no static address ({ip})"
            )));
        };
        if !space.contains(ip) {
            return Err(Error::InvalidInput(format!(
                "{ip} is not a host address of scope {name} ({subnet})"
            )));
        }
        if space.is_reserved(ip) {
            let by = match self.address_owner(ip) {
                Some(owner) if owner == me => return Ok(()),
                Some(owner) => format!("container {}", owner.short()),
                None => "the scope's gateway".to_string(),
            };
            return Err(Error::InUse {
                kind: "address",
                id: format!("{ip} in scope {name}"),
                by,
            });
        }
        Ok(())
    }

    /// Reserves what `ep` asks for on behalf of `id` (not bound yet).
    fn reserve(&mut self, id: &ContainerId, ep: &NetworkEndpoint) -> Result<Bound> {
        let aliases = ep.network.aliases.clone();
        for alias in &aliases {
            if let Some(owner) = self.alias_owner(alias, id) {
                return Err(Error::Exists {
                    kind: "alias",
                    id: format!(
                        "{alias} in scope {} (container {})",
                        self.scope.name,
                        owner.short()
                    ),
                });
            }
        }
        let wanted = ep.ip.as_ref().and_then(|n| n.ip).map(|ip| ip.to_ip_addr());
        let is_static = ep.static_ip == Some(true);
        let mut ip = None;
        if self.space.is_some() {
            let got = match wanted {
                Some(w) if is_static => {
                    self.check_requested(w, id)?;
                    self.reserve_exact(w)?;
                    w
                }
                // An address from an earlier bind is kept when it is still free.
                Some(w) if self.check_requested(w, id).is_ok() && self.reserve_exact(w).is_ok() => {
                    w
                }
                _ => self.reserve_next()?,
            };
            ip = Some(got);
        } else if is_static {
            return Err(Error::InvalidInput(format!(
                "scope {} is addressed by DHCP; it takes no static address",
                self.scope.name
            )));
        }
        Ok(Bound {
            ip,
            reserved: ip.is_some(),
            aliases,
            ports: ep.ports.clone(),
        })
    }

    fn reserve_exact(&mut self, ip: IpAddr) -> Result<()> {
        match &mut self.space {
            Some(space) => space.reserve_address(ip),
            None => Err(Error::InvalidInput(format!(
                "scope {} is addressed by DHCP",
                self.scope.name
            ))),
        }
    }

    fn reserve_next(&mut self) -> Result<IpAddr> {
        let ranges = self.scope.ip_ranges.clone();
        let name = self.scope.name.clone();
        let Some(space) = &mut self.space else {
            return Err(Error::InvalidInput(format!(
                "scope {name} is addressed by DHCP"
            )));
        };
        if ranges.is_empty() {
            space.reserve_next()
        } else {
            space.reserve_next_within(&ranges)
        }
    }

    /// Releases what `id` holds here, if anything.
    fn release(&mut self, id: &ContainerId) {
        if let Some(bound) = self.bound.remove(id) {
            if let (true, Some(ip), Some(space)) = (bound.reserved, bound.ip, &mut self.space) {
                if let Err(e) = space.release_address(ip) {
                    tracing::warn!(scope = %self.scope.name, %ip, error = %e, "address was not reserved");
                }
            }
        }
    }

    /// What a container's persisted endpoint says it holds, reserved again.
    fn restore_one(&mut self, id: &ContainerId, ep: &NetworkEndpoint) -> Result<Bound> {
        for alias in &ep.network.aliases {
            if let Some(owner) = self.alias_owner(alias, id) {
                return Err(Error::Exists {
                    kind: "alias",
                    id: format!(
                        "{alias} in scope {} (container {})",
                        self.scope.name,
                        owner.short()
                    ),
                });
            }
        }
        let given = ep.ip.as_ref().and_then(|n| n.ip);
        let reported = ep.assigned.ip;
        let ip = given.or(reported).map(|ip| ip.to_ip_addr());
        let mut reserved = false;
        if let (Some(ip), Some(_)) = (ip, &self.space) {
            self.check_requested(ip, id)?;
            self.reserve_exact(ip)?;
            reserved = true;
        }
        Ok(Bound {
            ip,
            reserved,
            aliases: ep.network.aliases.clone(),
            ports: ep.ports.clone(),
        })
    }
}

/// Checks a new scope against the state and builds its entry (nothing reserved in
/// the state yet).
fn build(
    state: &State,
    config: &NetworkConfig,
    spec: ScopeSpec,
    port_groups: Option<&[String]>,
) -> Result<Entry> {
    let name = spec.name;
    if !is_safe_name(&name) {
        return Err(Error::InvalidInput(format!(
            "scope name {name:?} must be letters, digits, '-', '_' or '.' (not leading)"
        )));
    }
    if state.scopes.contains_key(&name) {
        return Err(Error::Exists {
            kind: "scope",
            id: name,
        });
    }
    let (port_group, subnet) = match spec.kind {
        ScopeKind::Bridge => {
            if let Some(pg) = spec
                .port_group
                .as_ref()
                .filter(|pg| **pg != config.bridge_port_group)
            {
                return Err(Error::InvalidInput(format!(
                    "bridge scopes use the bridge port group {:?}, not {pg:?}",
                    config.bridge_port_group
                )));
            }
            let subnet = match spec.subnet {
                Some(s) => s,
                None => state
                    .bridge_space
                    .clone()
                    .reserve_next_subnet(config.bridge_width)?,
            };
            (config.bridge_port_group.clone(), Some(subnet))
        }
        ScopeKind::External => {
            let pg = spec.port_group.ok_or_else(|| {
                Error::InvalidInput(format!("external scope {name} needs a port group"))
            })?;
            if let Some(known) = port_groups {
                if !known.contains(&pg) {
                    return Err(Error::not_found("port group", pg));
                }
            }
            (pg, spec.subnet)
        }
    };
    let gateway = match (spec.kind, spec.gateway, subnet) {
        (ScopeKind::Bridge, None, Some(s)) => s.hosts().map(|h| h.first()),
        (_, g, _) => g,
    };
    let dns = if spec.dns.is_empty() && spec.kind == ScopeKind::Bridge {
        gateway.into_iter().collect()
    } else {
        spec.dns
    };
    let scope = Scope {
        id: random_hex(16),
        name,
        kind: spec.kind,
        subnet,
        gateway,
        ip_ranges: spec.ip_ranges,
        dns,
        port_group,
        trust_level: spec.trust_level,
    };
    prepare(state, config, scope)
}

/// Checks a scope (new or loaded) against itself and the other scopes and builds
/// its address space with the gateway reserved.
fn prepare(state: &State, config: &NetworkConfig, scope: Scope) -> Result<Entry> {
    let name = &scope.name;
    if !is_safe_name(name) {
        return Err(Error::InvalidInput(format!(
            "scope name {name:?} is not allowed"
        )));
    }
    if state.scopes.contains_key(name) {
        return Err(Error::Exists {
            kind: "scope",
            id: name.clone(),
        });
    }
    let Some(subnet) = scope.subnet else {
        if scope.gateway.is_some() || !scope.ip_ranges.is_empty() {
            return Err(Error::InvalidInput(format!(
                "scope {name} has no subnet (DHCP) but a gateway or address ranges"
            )));
        }
        return Ok(Entry {
            scope,
            space: None,
            bound: BTreeMap::new(),
        });
    };
    for other in state.scopes.values() {
        if let Some(o) = other.scope.subnet.filter(|o| o.overlaps(&subnet)) {
            return Err(Error::InUse {
                kind: "subnet",
                id: subnet.to_string(),
                by: format!("scope {} ({o})", other.scope.name),
            });
        }
    }
    let range = config.bridge_range;
    if scope.kind == ScopeKind::Bridge && range.overlaps(&subnet) {
        let mut carve = state.bridge_space.clone();
        if !range.range().contains_range(&subnet.range()) {
            return Err(Error::InvalidInput(format!(
                "bridge subnet {subnet} straddles the bridge range {range}"
            )));
        }
        carve.reserve_subnet(subnet).map_err(|_| Error::InUse {
            kind: "subnet",
            id: subnet.to_string(),
            by: "another bridge scope".into(),
        })?;
    }
    let mut space = AddressSpace::hosts(subnet);
    for r in &scope.ip_ranges {
        if !space.pool().contains_range(r) {
            return Err(Error::InvalidInput(format!(
                "address range {r} of scope {name} is outside its hosts {}",
                space.pool()
            )));
        }
    }
    if let Some(g) = scope.gateway {
        if !space.contains(g) {
            return Err(Error::InvalidInput(format!(
                "gateway {g} of scope {name} is not a host address of {subnet}"
            )));
        }
        space.reserve_address(g)?;
    }
    Ok(Entry {
        scope,
        space: Some(space),
        bound: BTreeMap::new(),
    })
}

fn scope_key(name: &str) -> String {
    format!("{SCOPE_KEY_PREFIX}{name}")
}

fn encode_scope(scope: &Scope) -> Result<String> {
    serde_json::to_string(scope)
        .map_err(|e| Error::InvalidInput(format!("scope {} does not encode: {e}", scope.name)))
}

/// Aliases and ports end up in `|`-joined extraConfig lists; names must also be
/// usable as DNS labels.
fn check_list(what: &str, items: &[String], names: bool) -> Result<()> {
    let mut seen = BTreeSet::new();
    for item in items {
        let ok = if names {
            is_safe_name(item)
        } else {
            !item.is_empty() && !item.contains('|') && !item.chars().any(char::is_whitespace)
        };
        if !ok {
            return Err(Error::InvalidInput(format!(
                "{what} {item:?} is not allowed"
            )));
        }
        if !seen.insert(item.as_str()) {
            return Err(Error::InvalidInput(format!(
                "{what} {item:?} is given twice"
            )));
        }
    }
    Ok(())
}

fn short_ids<'a>(ids: impl Iterator<Item = &'a ContainerId>) -> String {
    let v: Vec<&str> = ids.map(|i| i.short()).collect();
    format!("container(s) {}", v.join(", "))
}

fn ip_net(ip: Option<IpAddr>, subnet: Option<Subnet>) -> IpNet {
    IpNet {
        ip: ip.map(Ip::from),
        mask: subnet.map(|s| IpMask(s.mask_bytes())),
    }
}

/// The endpoint `add_container` writes: what the guest needs to know about the
/// scope, plus the container's request.
fn new_endpoint(scope: &Scope, opts: &EndpointOptions, is_default: bool) -> NetworkEndpoint {
    NetworkEndpoint {
        common: Common {
            name: Some(scope.name.clone()),
            ..Default::default()
        },
        static_ip: Some(opts.ip.is_some()),
        ip: opts.ip.map(|ip| ip_net(Some(ip), scope.subnet)),
        assigned: IpNet::default(),
        network: ContainerNetwork {
            common: Common {
                id: Some(scope.id.clone()),
                name: Some(scope.name.clone()),
                ..Default::default()
            },
            network_type: Some(scope.kind.as_str().to_string()),
            destinations: Vec::new(),
            gateway: ip_net(scope.gateway, scope.subnet),
            default: Some(is_default),
            nameservers: scope.dns.iter().copied().map(Ip::from).collect(),
            pools: scope
                .ip_ranges
                .iter()
                .map(|r| IpRange {
                    first: Some(Ip::from(r.first())),
                    last: Some(Ip::from(r.last())),
                })
                .collect(),
            aliases: opts.aliases.clone(),
            trust_level: scope.trust_level.map(TrustLevel::code),
            assigned: Default::default(),
        },
        ports: opts.ports.clone(),
    }
}

/// Fills a bound endpoint with its address and the scope's current settings.
fn fill_bound(scope: &Scope, bound: &Bound, ep: &mut NetworkEndpoint) {
    if let Some(ip) = bound.ip.filter(|_| bound.reserved) {
        ep.ip = Some(ip_net(Some(ip), scope.subnet));
        ep.assigned = ip_net(Some(ip), scope.subnet);
    }
    ep.network.gateway = ip_net(scope.gateway, scope.subnet);
    ep.network.nameservers = scope.dns.iter().copied().map(Ip::from).collect();
    ep.network.common.id = Some(scope.id.clone());
    ep.network.network_type = Some(scope.kind.as_str().to_string());
    ep.network.trust_level = scope.trust_level.map(TrustLevel::code);
}

/// Undoes [`fill_bound`]'s address (a requested address stays requested).
fn clear_bound(ep: &mut NetworkEndpoint) {
    ep.assigned = IpNet::default();
    if ep.static_ip != Some(true) {
        ep.ip = None;
    }
}

/// The key of the NIC in `devices` attached to the network `backing` names.
fn nic_on(devices: &[AnyVirtualDevice], backing: &AnyVirtualDeviceBackingInfo) -> Option<i32> {
    devices
        .iter()
        .filter(|d| device::as_ethernet_card(d).is_some())
        .find(|d| d.backing.as_ref().is_some_and(|b| same_network(b, backing)))
        .map(|d| d.key)
}

/// Whether two NIC backings attach to the same network. Only the identifying
/// fields are compared: a server fills in others (the network's reference) when it
/// reports a device back.
pub fn same_network(a: &AnyVirtualDeviceBackingInfo, b: &AnyVirtualDeviceBackingInfo) -> bool {
    use AnyVirtualDeviceBackingInfo as B;
    match (a, b) {
        (
            B::VirtualEthernetCardNetworkBackingInfo(x),
            B::VirtualEthernetCardNetworkBackingInfo(y),
        ) => x.base_.device_name == y.base_.device_name,
        (
            B::VirtualEthernetCardDistributedVirtualPortBackingInfo(x),
            B::VirtualEthernetCardDistributedVirtualPortBackingInfo(y),
        ) => {
            x.port.switch_uuid == y.port.switch_uuid && x.port.portgroup_key == y.port.portgroup_key
        }
        (
            B::VirtualEthernetCardOpaqueNetworkBackingInfo(x),
            B::VirtualEthernetCardOpaqueNetworkBackingInfo(y),
        ) => {
            x.opaque_network_id == y.opaque_network_id
                && x.opaque_network_type == y.opaque_network_type
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vim25::types::{VirtualDeviceDeviceBackingInfo, VirtualEthernetCardNetworkBackingInfo};

    fn pg(name: &str) -> AnyVirtualDeviceBackingInfo {
        VirtualEthernetCardNetworkBackingInfo {
            base_: VirtualDeviceDeviceBackingInfo {
                device_name: name.into(),
                ..Default::default()
            },
            ..Default::default()
        }
        .into()
    }

    #[test]
    fn nics_match_by_port_group() {
        let mut nic = device::new_nic(NicKind::Vmxnet3, pg("bridge"));
        nic.key = 4000;
        let devices = vec![nic];
        assert_eq!(nic_on(&devices, &pg("bridge")), Some(4000));
        assert_eq!(nic_on(&devices, &pg("VM Network")), None);
    }

    #[test]
    fn default_config() {
        let c = NetworkConfig::new("bridge");
        assert_eq!(c.bridge_range.to_string(), "172.16.0.0/12");
        assert_eq!(c.bridge_width, 16);
    }

    #[test]
    fn lists_are_checked() {
        assert!(check_list("alias", &["web".into(), "db".into()], true).is_ok());
        assert!(check_list("alias", &["web".into(), "web".into()], true).is_err());
        assert!(check_list("alias", &["a|b".into()], true).is_err());
        assert!(check_list("port", &["8080:80/tcp".into()], false).is_ok());
        assert!(check_list("port", &["".into()], false).is_err());
    }

    #[test]
    fn scopes_round_trip_as_json() {
        let s = Scope {
            id: "ab".into(),
            name: "web".into(),
            kind: ScopeKind::External,
            subnet: Some("10.0.0.0/24".parse().unwrap()),
            gateway: Some("10.0.0.1".parse().unwrap()),
            ip_ranges: vec!["10.0.0.10-10.0.0.20".parse().unwrap()],
            dns: vec!["10.0.0.2".parse().unwrap()],
            port_group: "VM Network".into(),
            trust_level: Some(TrustLevel::Open),
        };
        let json = encode_scope(&s).unwrap();
        assert!(json.contains("\"kind\":\"external\""), "{json}");
        assert_eq!(serde_json::from_str::<Scope>(&json).unwrap(), s);
        assert_eq!(
            TrustLevel::from_code(TrustLevel::Peers.code()),
            Some(TrustLevel::Peers)
        );
        assert_eq!(TrustLevel::from_code(0), None);
    }
}
