//! `tether-sim`: a stand-in for VIC's in-guest agent ("tether") on simulators.
//!
//! On real vSphere, every containerVM and the VCH appliance boot a small Linux whose
//! agent reads the VM's extraConfig, starts the configured processes, connects the
//! serial port to the control plane and writes back what happened (`started`,
//! exit `status`, start and stop times, assigned addresses). A simulator such as
//! govmomi's vcsim runs no guest at all, so nothing would ever answer. This module
//! answers in the guest's place, from outside: it polls every VM of the target
//! (one property retrieval over a `ContainerView`) and
//!
//! - for a **VCH appliance** that is powered on, reports the client, public and
//!   management addresses as `127.0.0.1/8` and every session as started;
//! - for a **containerVM** that is powered on and whose primary session has not
//!   started, builds the root filesystem from the image layers of its disk chain,
//!   runs the session's command on this machine, streams its standard streams over
//!   the VM's network serial port with the port layer's interaction protocol,
//!   reports `started`, exit `status` and times, and powers the VM off at the end.
//!
//! What it does **not** do: there is no isolation beyond a `chroot` (no namespaces,
//! cgroups, network or user separation; without root privileges not even that);
//! no pseudo-terminal (`tty` sessions get pipes, resize requests are ignored);
//! no exec sessions (`execs`), volumes, mounts or network configuration inside the
//! container; no restart policies. It is for tests and demos on simulators only.
//!
//! ```no_run
//! # async fn demo(client: vim25::Client) -> Result<(), examples::tether::Error> {
//! use examples::tether::{Settings, Tether};
//! let settings = Settings { vch: Some("VCH001".into()), ..Settings::default() };
//! let (_stop, stopped) = tokio::sync::watch::channel(false);
//! Tether::new(client, settings).run(stopped).await
//! # }
//! ```

mod error;
mod inventory;
mod process;
mod report;
mod rootfs;
mod run;
mod serial;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use vic_config::model::{ExecutorConfig, VchConfig};
use vic_portlayer::backend::PowerState;
use vic_portlayer::ContainerId;
use vim25::types::ManagedObjectReference;

pub use error::Error;
pub use inventory::VmSnapshot;
pub use process::{exec_in_root, CHROOT_HELPER_ARG};

/// How the agent stand-in behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Only this VCH: its appliance, and the containerVMs in its resource pool.
    /// Every appliance and containerVM on the target when `None`.
    pub vch: Option<String>,
    /// Time between two polls of the VMs.
    pub poll: Duration,
    /// Where unpacked roots go (a directory per run, removed afterwards).
    pub work_dir: PathBuf,
    /// Run commands inside a `chroot` of their root (needs root privileges); when
    /// `false`, the command's path is resolved inside the root and run from the
    /// host's view (its interpreter, libraries and absolute paths are the host's).
    pub chroot: bool,
    /// The program that performs the `chroot` and `exec` for a command (this
    /// program itself, called with [`CHROOT_HELPER_ARG`]); needed when `chroot`.
    pub helper: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            vch: None,
            poll: Duration::from_millis(500),
            work_dir: std::env::temp_dir().join(format!("tether-sim-{}", std::process::id())),
            chroot: false,
            helper: None,
        }
    }
}

/// Whether this process runs with an effective user ID of 0 (can `chroot`).
/// `/proc/self` belongs to the effective user of the process reading it.
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// What every container run shares.
pub(crate) struct Shared {
    pub(crate) client: vim25::Client,
    pub(crate) settings: Settings,
    pub(crate) layers: rootfs::LayerCache,
}

/// A container run in progress: how to stop it, and whether it ended.
struct Running {
    cancel: watch::Sender<bool>,
    /// Set by the run once its process has exited: powering the VM off after
    /// that is the run's own doing, not a reason to kill.
    exited: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// The agent stand-in: poll, report, run.
pub struct Tether {
    shared: Arc<Shared>,
    /// Runs by VM (managed object ID).
    running: HashMap<String, Running>,
    /// Appliances reported during their current power-on, by VM.
    reported: HashSet<String>,
}

impl Tether {
    /// A stand-in working on `client`'s target.
    pub fn new(client: vim25::Client, settings: Settings) -> Self {
        let layers = rootfs::LayerCache::new(client.clone());
        Tether {
            shared: Arc::new(Shared {
                client,
                settings,
                layers,
            }),
            running: HashMap::new(),
            reported: HashSet::new(),
        }
    }

    /// Polls and acts until `stop` turns `true` (or its sender drops); then kills
    /// the processes still running and removes the work directory. Errors of one
    /// poll or one VM are logged and the loop goes on; only a failure to create the
    /// work directory ends it.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> Result<(), Error> {
        let work = self.shared.settings.work_dir.clone();
        tokio::fs::create_dir_all(&work).await.map_err(|e| {
            Error::io(
                format!("cannot create work directory {}", work.display()),
                e,
            )
        })?;
        let mut poller = inventory::Poller::new(self.shared.client.clone());
        let mut tick = tokio::time::interval(self.shared.settings.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                r = stop.changed() => {
                    if r.is_err() || *stop.borrow() {
                        break;
                    }
                    continue;
                }
            }
            match poller.poll().await {
                Ok(vms) => self.step(&vms).await,
                Err(e) => tracing::warn!(error = %e, "reading the VMs failed; trying again"),
            }
        }
        self.shutdown().await;
        if let Err(e) = tokio::fs::remove_dir_all(&work).await {
            tracing::debug!(dir = %work.display(), error = %e, "work directory not removed");
        }
        Ok(())
    }

    /// Kills every run and waits (bounded) for the runs to end.
    async fn shutdown(&mut self) {
        for (_, r) in self.running.drain() {
            let _ = r.cancel.send(true);
            if tokio::time::timeout(Duration::from_secs(10), r.task)
                .await
                .is_err()
            {
                tracing::warn!("a container run did not end within 10 s of the shutdown");
            }
        }
    }

    /// One poll's worth of work on `vms`.
    async fn step(&mut self, vms: &[VmSnapshot]) {
        self.running.retain(|_, r| !r.task.is_finished());
        // Runs whose VM went away or was powered off by someone else: the guest
        // would be gone with its VM, so its process goes too.
        for (vm, r) in &self.running {
            let on = vms
                .iter()
                .any(|v| v.reference.value == *vm && v.power_state == PowerState::PoweredOn);
            if !on && !*r.cancel.borrow() && !r.exited.load(Ordering::Relaxed) {
                tracing::info!(vm = %vm, "VM no longer powered on: killing its process");
                let _ = r.cancel.send(true);
            }
        }
        self.reported.retain(|vm| {
            vms.iter()
                .any(|v| v.reference.value == *vm && v.power_state == PowerState::PoweredOn)
        });

        let appliances: Vec<(&VmSnapshot, VchConfig)> = vms
            .iter()
            .filter_map(|vm| match vm.appliance_config() {
                Ok(Some(c)) => Some((vm, c)),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(vm = %vm.reference.value, name = %vm.name, error = %e,
                        "cannot read this appliance's VCH config; skipping it");
                    None
                }
            })
            .filter(|(_, c)| match &self.shared.settings.vch {
                Some(name) => c.name() == Some(name.as_str()),
                None => true,
            })
            .collect();
        // Without the VCH's appliance there is no pool to look in yet: keep waiting.
        let pool: Option<Option<ManagedObjectReference>> =
            self.shared.settings.vch.as_ref().map(|_| {
                appliances.first().and_then(|(_, c)| {
                    c.container
                        .compute_resources
                        .first()
                        .map(|r| ManagedObjectReference::new(r.kind.clone(), r.value.clone()))
                })
            });

        for (vm, config) in &appliances {
            self.appliance(vm, config).await;
        }
        for vm in vms {
            if vm.power_state != PowerState::PoweredOn
                || self.running.contains_key(&vm.reference.value)
                || appliances.iter().any(|(a, _)| a.reference == vm.reference)
            {
                continue;
            }
            if let Some(pool) = &pool {
                match pool {
                    Some(p) if vm.resource_pool.as_ref() == Some(p) => {}
                    _ => continue,
                }
            }
            match vm.container_config() {
                Ok(Some((id, config))) => self.container(vm, id, config),
                Ok(None) => {}
                Err(e) => tracing::warn!(vm = %vm.reference.value, name = %vm.name, error = %e,
                    "cannot read this containerVM's config; skipping it"),
            }
        }
    }

    /// Reports a powered-on appliance once per power-on.
    async fn appliance(&mut self, vm: &VmSnapshot, config: &VchConfig) {
        if vm.power_state != PowerState::PoweredOn || self.reported.contains(&vm.reference.value) {
            return;
        }
        let name = config.name().unwrap_or("");
        match report::appliance_up(&self.shared.client, vm, config).await {
            Ok(report::Reported::Written { roles }) => {
                tracing::info!(
                    roles = %roles.join(","),
                    "appliance {name} ({}): reported client IP 127.0.0.1 and sessions started",
                    vm.reference.value
                );
                self.reported.insert(vm.reference.value.clone());
            }
            Ok(report::Reported::Already) => {
                self.reported.insert(vm.reference.value.clone());
            }
            Err(e) => tracing::warn!(vm = %vm.reference.value, vch = %name, error = %e,
                "cannot report the appliance's addresses and sessions; trying again"),
        }
    }

    /// Starts a run for a powered-on containerVM whose primary session waits.
    fn container(&mut self, vm: &VmSnapshot, id: ContainerId, config: ExecutorConfig) {
        let Some(session) = config.sessions.get(id.as_str()) else {
            return;
        };
        if session.started.as_deref().is_some_and(|s| !s.is_empty())
            || session.active == Some(false)
        {
            return;
        }
        let (cancel, cancelled) = watch::channel(false);
        let exited = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(run::run(
            self.shared.clone(),
            vm.clone(),
            id,
            config,
            run::Control {
                cancelled,
                exited: exited.clone(),
            },
        ));
        self.running.insert(
            vm.reference.value.clone(),
            Running {
                cancel,
                exited,
                task,
            },
        );
    }
}
