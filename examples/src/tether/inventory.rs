//! Reading every VM of the target in one property retrieval, and telling VCH
//! appliances and containerVMs apart by their extraConfig.

use std::collections::BTreeMap;

use vic_config::model::{ExecutorConfig, VchConfig};
use vic_config::{key_of, Layout};
use vic_portlayer::backend::{apply_extra_config, extra_config_options, unescaped, PowerState};
use vic_portlayer::ContainerId;
use vim25::property::Retrieval;
use vim25::types::{
    AnyOptionValue, AnyVirtualDevice, ManagedObjectReference, ObjectContent, VirtualHardware,
    VirtualMachinePowerState,
};
use vim25::view::ContainerView;

use super::Error;

/// The properties each poll reads. `config.hardware` rather than
/// `config.hardware.device`: the former arrives typed, the bare device array
/// type-erased.
const PATHS: &[&str] = &[
    "name",
    "runtime.powerState",
    "config.extraConfig",
    "config.hardware",
    "resourcePool",
];

/// One VM as a poll saw it.
#[derive(Debug, Clone)]
pub struct VmSnapshot {
    /// The VM.
    pub reference: ManagedObjectReference,
    /// Its name.
    pub name: String,
    /// Its power state.
    pub power_state: PowerState,
    /// Its extraConfig folded as vSphere applies it (later entries win, an empty
    /// value deletes), `<nil>` read as empty.
    pub extra_config: BTreeMap<String, String>,
    /// Its devices.
    pub devices: Vec<AnyVirtualDevice>,
    /// Its resource pool.
    pub resource_pool: Option<ManagedObjectReference>,
}

impl VmSnapshot {
    /// The extraConfig without secret values: the guest-visible part an agent reads
    /// (the secretbox key is hidden from API reads on vSphere).
    fn without_secrets(&self) -> BTreeMap<String, String> {
        self.extra_config
            .iter()
            .filter(|(k, _)| !k.contains("@secret"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The VCH config when this VM is a VCH appliance: it has the VCH name and the
    /// appliance's sessions. `Ok(None)` for any other VM.
    pub fn appliance_config(&self) -> Result<Option<VchConfig>, Error> {
        let layout = Layout::detect_map(&self.extra_config);
        let has = |path: &str| -> Result<bool, Error> {
            let key = key_of::<VchConfig>(path, layout)?;
            Ok(key
                .exact()
                .is_some_and(|k| self.extra_config.contains_key(k)))
        };
        if !has("init.common.name")? || !has("init.sessions")? {
            return Ok(None);
        }
        let config: VchConfig = vic_config::from_extra_config(&self.without_secrets())?;
        Ok(Some(config))
    }

    /// The container ID and executor config when this VM is a containerVM: it has a
    /// container ID and sessions. `Ok(None)` for any other VM.
    pub fn container_config(&self) -> Result<Option<(ContainerId, ExecutorConfig)>, Error> {
        let layout = Layout::detect_map(&self.extra_config);
        let id_key = key_of::<ExecutorConfig>("common.id", layout)?;
        if !id_key
            .exact()
            .is_some_and(|k| self.extra_config.contains_key(k))
        {
            return Ok(None);
        }
        let config: ExecutorConfig = vic_config::from_extra_config(&self.without_secrets())?;
        if config.sessions.is_empty() {
            return Ok(None);
        }
        let raw = config.common.id.clone().unwrap_or_default();
        let id: ContainerId = raw.parse().map_err(|_| {
            Error::unexpected(
                format!("VM {} ({})", self.reference.value, self.name),
                format!("container ID {raw:?} is not 64 lower-case hex digits"),
            )
        })?;
        Ok(Some((id, config)))
    }
}

/// Reads every VM through one container view, kept across polls (recreated after
/// a failure, such as an expired session's).
pub(crate) struct Poller {
    client: vim25::Client,
    view: Option<ContainerView>,
}

impl Poller {
    pub(crate) fn new(client: vim25::Client) -> Self {
        Poller { client, view: None }
    }

    /// Every VM now. A VM whose properties are odd is logged and left out.
    pub(crate) async fn poll(&mut self) -> Result<Vec<VmSnapshot>, Error> {
        let view = match self.view.take() {
            Some(v) => v,
            None => ContainerView::create(&self.client, &["VirtualMachine"], true).await?,
        };
        let spec = view.filter_spec("VirtualMachine", PATHS);
        let mut retrieval = Retrieval::new(
            self.client.clone(),
            self.client.property_collector(),
            vec![spec],
        );
        let mut out = Vec::new();
        loop {
            match retrieval.next_page().await {
                Ok(Some(page)) => {
                    for content in page {
                        let vm = content.obj.clone();
                        match snapshot(content) {
                            Ok(Some(s)) => out.push(s),
                            Ok(None) => {}
                            Err(e) => tracing::warn!(vm = %vm.value, error = %e, "skipping a VM"),
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // The view may be the problem (a new session): make a new one.
                    if let Err(d) = view.destroy().await {
                        tracing::debug!(error = %d, "destroying the container view failed");
                    }
                    return Err(e.into());
                }
            }
        }
        self.view = Some(view);
        Ok(out)
    }
}

/// A snapshot from one VM's properties; `None` while the server has not reported
/// its name and power state yet (a VM being created).
fn snapshot(content: ObjectContent) -> Result<Option<VmSnapshot>, Error> {
    let reference = content.obj;
    let mut name = None;
    let mut power = None;
    let mut options: Vec<AnyOptionValue> = Vec::new();
    let mut devices = Vec::new();
    let mut resource_pool = None;
    let what = |path: &str| format!("VM {} property {path}", reference.value);
    for p in content.prop_set {
        match p.name.as_str() {
            "name" => name = p.val.as_str().map(str::to_owned),
            "runtime.powerState" => {
                power = Some(match p.val.get::<VirtualMachinePowerState>() {
                    Some(VirtualMachinePowerState::PoweredOn) => PowerState::PoweredOn,
                    Some(VirtualMachinePowerState::PoweredOff) => PowerState::PoweredOff,
                    Some(VirtualMachinePowerState::Suspended) => PowerState::Suspended,
                    other => {
                        return Err(Error::unexpected(
                            what(&p.name),
                            format!("{other:?} is not a known power state"),
                        ))
                    }
                })
            }
            "config.extraConfig" => {
                options.extend(extra_config_options(Some(&p.val)).map_err(|kind| {
                    Error::unexpected(what(&p.name), format!("a {kind}, not a list of options"))
                })?)
            }
            "config.hardware" => {
                if let Some(h) = p.val.downcast_ref::<VirtualHardware>() {
                    devices = h.device.clone();
                }
            }
            "resourcePool" => resource_pool = p.val.references().into_iter().next(),
            _ => {}
        }
    }
    let (Some(name), Some(power_state)) = (name, power) else {
        return Ok(None);
    };
    let mut extra = BTreeMap::new();
    apply_extra_config(&mut extra, &options)?;
    Ok(Some(VmSnapshot {
        reference,
        name,
        power_state,
        extra_config: unescaped(&extra),
        devices,
        resource_pool,
    }))
}
