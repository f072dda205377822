//! The areas composed: what a Docker-API front end calls to create, start, stop and
//! remove a container in one step each.

use std::collections::BTreeMap;
use std::sync::Arc;

use vic_config::model::{ExecutorConfig, SessionConfig};

use crate::backend::{Backend, PowerState, VmDetail};
use crate::events::EventHub;
use crate::exec::{ContainerInfo, Exec, ExecSettings, Handle, TargetState};
use crate::kv::KvStore;
use crate::network::{EndpointOptions, Network, NetworkConfig};
use crate::storage::{join_image, join_volume, Image, Storage, Volume};
use crate::{interaction, ContainerId, Error, Result};

/// How many times a composite operation retries after a conflict (with a fresh
/// handle each time) before giving the conflict to the caller.
pub const CONFLICT_RETRIES: usize = 3;

/// The name of the kv store the port layer keeps its own state in (scopes).
pub const PORT_LAYER_KV: &str = "portlayer";

/// What a port layer needs to start.
#[derive(Debug, Clone)]
pub struct PortLayerConfig {
    /// ContainerVM shape and commit waits.
    pub exec: ExecSettings,
    /// Bridge network layout.
    pub network: NetworkConfig,
}

/// A container to create with [`PortLayer::create_container`]: the seed's
/// containerVM (disk child of its image's, NICs, serial port, bootstrap CD-ROM,
/// executor config).
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// The ID; a random one when `None`.
    pub id: Option<ContainerId>,
    /// The container's name (`common/name`).
    pub name: Option<String>,
    /// The image the container's disk is a child of.
    pub image: Option<Image>,
    /// The container disk's capacity in KiB (at least the image's); the image's
    /// capacity when `None`.
    pub disk_kb: Option<i64>,
    /// The repository the user asked for (`repo`).
    pub repo: Option<String>,
    /// The program.
    pub path: String,
    /// Its arguments, the program first (as `argv`).
    pub args: Vec<String>,
    /// Environment, `NAME=value`.
    pub env: Vec<String>,
    /// Working directory.
    pub dir: Option<String>,
    /// Allocate a TTY.
    pub tty: bool,
    /// Keep stdin open.
    pub open_stdin: bool,
    /// Allow attaching.
    pub attach: bool,
    /// The signal that stops it (`SIGTERM` when `None`).
    pub stop_signal: Option<String>,
    /// Host name.
    pub hostname: Option<String>,
    /// Scopes to join (the default bridge when empty).
    pub networks: Vec<(String, EndpointOptions)>,
    /// Volumes with their mount path and read-only flag.
    pub volumes: Vec<(Volume, String, bool)>,
    /// The interaction server's `tcp://<vch-ip>:<port>`: adds the network serial
    /// port when set.
    pub serial_uri: Option<String>,
    /// Add the file-backed logging serial port.
    pub logging: bool,
    /// Caller metadata (hidden `annotations`).
    pub annotations: BTreeMap<String, String>,
}

/// The port layer: exec, storage, network and events on one backend.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct PortLayer {
    backend: Arc<dyn Backend>,
    exec: Exec,
    storage: Storage,
    network: Network,
    events: EventHub,
}

impl PortLayer {
    /// Starts a port layer on `backend`: opens its kv store, loads the network
    /// scopes, and restores address reservations and aliases from the powered-on containers
    /// vSphere has (so a restarted control plane carries on where it stopped).
    pub async fn new(backend: Arc<dyn Backend>, config: PortLayerConfig) -> Result<PortLayer> {
        let events = EventHub::default();
        let exec = Exec::new(backend.clone(), config.exec, events.clone());
        let kv = KvStore::open(backend.clone(), PORT_LAYER_KV).await?;
        let network = Network::new(backend.clone(), kv, config.network).await?;
        let storage = Storage::new(backend.clone());
        // Only powered-on containers hold addresses: a stopped one released its
        // own when it stopped, and takes new ones when it starts again.
        let containers: Vec<(ContainerId, ExecutorConfig)> = exec
            .list()
            .await?
            .into_iter()
            .filter(|c| c.power_state != PowerState::PoweredOff)
            .map(|c| (c.id, c.config))
            .collect();
        for problem in network.restore(&containers).await {
            tracing::warn!(container = %problem.container, scope = %problem.scope, error = %problem.error,
                "network endpoint not restored");
        }
        Ok(PortLayer {
            backend,
            exec,
            storage,
            network,
            events,
        })
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The exec service.
    pub fn exec(&self) -> &Exec {
        &self.exec
    }

    /// The storage service.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The network service.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The event hub every area publishes to.
    pub fn events(&self) -> &EventHub {
        &self.events
    }

    /// A handle for a new container as `spec` says, ready to commit: executor
    /// config with the primary session (named by the container ID), the disk as a
    /// child of the image's, an endpoint and NIC per scope, the volumes, the
    /// interaction and logging serial ports. Nothing is written until
    /// [`Exec::commit`].
    pub async fn create_container(&self, spec: ContainerSpec) -> Result<Handle> {
        let id = spec.id.clone().unwrap_or_else(ContainerId::random);
        if spec.path.is_empty() {
            return Err(Error::InvalidInput(format!(
                "container {id}: no program to run"
            )));
        }
        let mut config = ExecutorConfig::default();
        config.common.name = spec.name.clone();
        config.repo = spec.repo.clone();
        config.hostname = spec.hostname.clone();
        config.annotations = spec.annotations.clone();
        let mut session = SessionConfig::default();
        session.cmd.path = Some(spec.path.clone());
        session.cmd.args = spec.args.clone().into();
        session.cmd.env = spec.env.clone().into();
        session.cmd.dir = spec.dir.clone();
        session.tty = Some(spec.tty);
        session.open_stdin = Some(spec.open_stdin);
        session.attach = Some(spec.attach);
        session.stop_signal = spec.stop_signal.clone();
        session.active = Some(true);
        config.sessions.insert(id.to_string(), session);

        let mut h = self.exec.create_handle(id, config)?;
        if let Some(image) = &spec.image {
            join_image(&mut h, image, spec.disk_kb.unwrap_or(image.capacity_kb))?;
        }
        let networks = if spec.networks.is_empty() {
            vec![(
                crate::network::DEFAULT_BRIDGE.to_string(),
                EndpointOptions::default(),
            )]
        } else {
            spec.networks.clone()
        };
        for (scope, opts) in networks {
            self.network.add_container(&mut h, &scope, opts).await?;
        }
        for (volume, path, read_only) in &spec.volumes {
            join_volume(&mut h, volume, path, *read_only)?;
        }
        if let Some(uri) = &spec.serial_uri {
            interaction::join(&mut h, uri)?;
        }
        if spec.logging {
            interaction::join_logging(&mut h)?;
        }
        Ok(h)
    }

    /// Starts container `id`: reserves its addresses, connects its interaction
    /// port, powers it on and waits for its sessions to start. A conflict is
    /// retried with a fresh handle up to [`CONFLICT_RETRIES`] times; reservations
    /// are released when starting fails.
    pub async fn start_container(&self, id: &ContainerId) -> Result<ContainerInfo> {
        let mut attempt = 0;
        loop {
            let mut h = self.exec.get(id).await?;
            self.network.bind(&mut h).await?;
            if interaction::interaction_port(&h.devices()).is_some() {
                interaction::bind(&mut h)?;
            }
            h.set_target(TargetState::Running);
            let snapshot = h.clone();
            match self.exec.commit(h).await {
                Ok(info) => return Ok(info),
                Err(e) => {
                    let mut release = snapshot;
                    if let Err(u) = self.network.unbind(&mut release).await {
                        tracing::warn!(container = %id, error = %u, "releasing addresses after a failed start");
                    }
                    attempt += 1;
                    if !e.is_conflict() || attempt > CONFLICT_RETRIES {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Stops container `id` (guest shutdown, then power-off) and releases its
    /// addresses. Conflicts are retried as in [`start_container`](Self::start_container).
    pub async fn stop_container(&self, id: &ContainerId) -> Result<ContainerInfo> {
        let mut attempt = 0;
        loop {
            let mut h = self.exec.get(id).await?;
            h.set_target(TargetState::Stopped);
            if interaction::interaction_port(&h.devices()).is_some() {
                interaction::unbind(&mut h)?;
            }
            let mut release = h.clone();
            match self.exec.commit(h).await {
                Ok(info) => {
                    self.network.unbind(&mut release).await?;
                    return Ok(info);
                }
                Err(e) => {
                    attempt += 1;
                    if !e.is_conflict() || attempt > CONFLICT_RETRIES {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Removes container `id`: a running one only with `force` (powered off
    /// first); its addresses and aliases are released.
    pub async fn remove_container(&self, id: &ContainerId, force: bool) -> Result<()> {
        let mut h = self.exec.get(id).await?;
        if h.power_state() != PowerState::PoweredOff && !force {
            return Err(Error::InvalidInput(format!(
                "container {id} is running; stop it first or remove with force"
            )));
        }
        self.exec.remove(id, force).await?;
        if let Err(e) = self.network.unbind(&mut h).await {
            tracing::debug!(container = %id, error = %e, "no addresses to release");
        }
        Ok(())
    }

    /// Whether the backend has a VM named `id` (a cheap existence check).
    pub async fn exists(&self, id: &ContainerId) -> Result<bool> {
        Ok(self
            .backend
            .vm_by_name(id.as_str(), VmDetail::Summary)
            .await?
            .is_some())
    }
}
