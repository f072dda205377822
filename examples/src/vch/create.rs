//! `vch create`: validate everything, then build the VCH step by step, rolling back
//! what this run created when a step fails.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vic_config::model::{
    Build, Certificate, Cmd, Connection, Container, ContainerNetwork, ExecutorCommon,
    ExecutorConfig, Network, NetworkEndpoint, RawCertificate, SessionConfig, Storage, VchConfig,
};
use vic_config::types::{IpMask, IpNet, ObjectRef, Url};
use vic_config::{EncodeOptions, Secret, SecretKey};
use vic_portlayer::backend::Backend;
use vic_portlayer::vsphere::{Placement, VsphereBackend};
use vim25::find::Finder;
use vim25::mo::{self, AnyManagedObject};
use vim25::object::device::{self, NicKind};
use vim25::object::{
    Common, Datacenter, DatastorePath, FileManager, Folder, HostSystem, ResourcePool,
    VirtualMachine,
};
use vim25::property::Retrieval;
use vim25::types::{
    AnyComputeResourceConfigInfo, AnyVirtualDevice, HostFirewallInfo, ManagedObjectReference,
    ParaVirtualSCSIController, VirtualMachineConfigSpec, VirtualMachineFileInfo,
    VirtualMachinePowerState, VirtualSCSIController, VirtualSCSISharing,
};
use vim25::view::ContainerView;
use vim25::Client;

use super::cert::{self, CertPair};
use super::iso::{self, APPLIANCE_ISO, BOOTSTRAP_ISO};
use super::{Doing, Log, VchError, CREATING_ID};

/// The image store every VCH gets (`[ds] NAME/VIC/default`).
pub const IMAGE_STORE: &str = "default";

/// The docker endpoint's port.
pub const DOCKER_PORT: u16 = 2376;
/// The port layer's port (the containerVMs' serial connections).
pub const PORT_LAYER_PORT: u16 = 2377;
/// vicadmin's port (the log server).
pub const VICADMIN_PORT: u16 = 2378;

/// The sessions the appliance runs (VIC's), each waited for at create.
pub const APPLIANCE_SESSIONS: &[&str] = &["docker-personality", "port-layer", "vicadmin"];

/// A `--volume-store DS/PATH:LABEL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeStoreArg {
    /// The datastore.
    pub datastore: String,
    /// The folder on it.
    pub path: String,
    /// The label (`default` is docker's anonymous volumes).
    pub label: String,
}

impl std::str::FromStr for VolumeStoreArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (location, label) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("{s:?}: expected DATASTORE/PATH:LABEL"))?;
        let (datastore, path) = location.split_once('/').unwrap_or((location, ""));
        if datastore.is_empty() || label.is_empty() {
            return Err(format!("{s:?}: expected DATASTORE/PATH:LABEL"));
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!(
                "{s:?}: a label is letters, digits, '-', '_' and '.'"
            ));
        }
        Ok(VolumeStoreArg {
            datastore: datastore.to_string(),
            path: path.trim_matches('/').to_string(),
            label: label.to_string(),
        })
    }
}

/// What `vch create` was asked for.
#[derive(Debug, Clone)]
pub struct CreateSpec {
    /// The VCH's name.
    pub name: String,
    /// The datastore for the appliance, images and containerVMs.
    pub image_datastore: String,
    /// The port group containers' bridge network runs on.
    pub bridge_network: String,
    /// The port group of the appliance's client, public and management networks.
    pub external_network: String,
    /// Cluster, host or resource pool (name or inventory path).
    pub compute_resource: Option<String>,
    /// Volume stores.
    pub volume_stores: Vec<VolumeStoreArg>,
    /// The appliance ISO; a stand-in when `None`.
    pub appliance_iso: Option<PathBuf>,
    /// The containerVMs' boot ISO; a stand-in when `None`.
    pub bootstrap_iso: Option<PathBuf>,
    /// How long to wait for the appliance to come up.
    pub timeout: Duration,
    /// Where the certificate and key files go.
    pub cert_dir: PathBuf,
    /// The target as recorded in the VCH (no password).
    pub target: String,
    /// The user recorded in the VCH.
    pub user: Option<String>,
    /// The thumbprint recorded in the VCH.
    pub thumbprint: Option<String>,
    /// The command line as recorded in the VCH (no password).
    pub create_options: Vec<String>,
}

/// What a successful create made.
#[derive(Debug, Clone)]
pub struct Created {
    /// The appliance VM.
    pub vm: ManagedObjectReference,
    /// The address the appliance reported on its client network.
    pub client_ip: IpAddr,
    /// `IP:2376`.
    pub docker_host: String,
}

/// One compute resource of the datacenter.
#[derive(Debug, Clone)]
struct Compute {
    reference: ManagedObjectReference,
    name: String,
    root_pool: ManagedObjectReference,
    hosts: Vec<ManagedObjectReference>,
    datastores: Vec<ManagedObjectReference>,
}

impl Compute {
    fn is_cluster(&self) -> bool {
        self.reference.type_ == "ClusterComputeResource"
    }
}

#[derive(Debug, Clone)]
enum Bridge {
    Exists(ManagedObjectReference),
    Create {
        host: ManagedObjectReference,
        vswitch: String,
    },
}

#[derive(Debug, Clone)]
enum IsoSource {
    File(PathBuf, u64),
    StandIn(Vec<u8>),
}

impl IsoSource {
    fn len(&self) -> u64 {
        match self {
            IsoSource::File(_, n) => *n,
            IsoSource::StandIn(b) => b.len() as u64,
        }
    }
}

/// Everything validated, before anything changes.
#[derive(Debug)]
struct Plan {
    datacenter: ManagedObjectReference,
    vm_folder: ManagedObjectReference,
    is_vc: bool,
    compute: Compute,
    parent_pool: ManagedObjectReference,
    external: ManagedObjectReference,
    bridge: Bridge,
    volume_stores: Vec<(String, DatastorePath)>,
    appliance_iso: IsoSource,
    bootstrap_iso: IsoSource,
}

/// Something this run created, to undo on failure.
#[derive(Debug)]
enum Undo {
    CertFiles(PathBuf, PathBuf),
    LocalDir(PathBuf),
    Pool(ManagedObjectReference, String),
    PortGroup(ManagedObjectReference, String),
    Folder(ManagedObjectReference, String),
    Vm(ManagedObjectReference, String),
    /// A datastore directory this run made (the VM's folder with the ISOs and the
    /// image store, a new volume store's `volumes/`).
    Dir(ManagedObjectReference, DatastorePath),
}

/// Creates the VCH `spec` describes. On failure, what this run created is removed
/// again (each removal logged) and the error returned.
pub async fn create(
    client: &Client,
    spec: &CreateSpec,
    log: &Arc<Log>,
) -> Result<Created, VchError> {
    log.info("### Installing VCH ####");
    log.info("Validating supplied configuration");
    let plan = validate(client, spec, log).await?;
    let mut undo = Vec::new();
    match build(client, spec, &plan, log, &mut undo).await {
        Ok(created) => Ok(created),
        Err(e) => {
            log.error(format!("Creating VCH {} failed: {e}", spec.name));
            rollback(client, log, undo).await;
            Err(e)
        }
    }
}

async fn validate(client: &Client, spec: &CreateSpec, log: &Log) -> Result<Plan, VchError> {
    check_name(&spec.name)?;
    let about = &client.service_content().about;
    let is_vc = about.api_type == "VirtualCenter";
    let finder = Finder::new(client);
    let datacenter = match finder.default_of("Datacenter").await {
        Ok(r) => r,
        Err(vim25::Error::MultipleFound { count, .. }) => {
            return Err(VchError::Invalid(format!(
                "the target has {count} datacenters; name one in the target URL's path is not supported yet, use a target with one datacenter"
            )))
        }
        Err(e) => return Err(e).doing("finding the datacenter"),
    };
    let dc: mo::Datacenter = Datacenter::new(client, datacenter.clone())
        .properties(&["vmFolder", "name"])
        .await
        .doing("reading the datacenter")?;
    let vm_folder = dc
        .vm_folder
        .ok_or_else(|| VchError::Invalid("the datacenter has no VM folder".into()))?;

    // Compute resource and the pool the VCH's pool goes under.
    let computes = compute_resources(client).await?;
    let (compute, parent_pool) = pick_compute(client, &computes, spec).await?;
    if compute.is_cluster() {
        drs_check(client, &compute, log).await?;
    } else {
        log.info("DRS check SKIPPED - target is standalone host");
    }

    // Name not taken.
    let vms = named(client, "VirtualMachine").await?;
    if let Some((_, vm)) = vms.iter().find(|(n, _)| *n == spec.name) {
        return Err(VchError::Invalid(format!(
            "the name {:?} is already taken by VM {}: choose another --name",
            spec.name, vm.value
        )));
    }
    let pools = named(client, "ResourcePool").await?;
    if let Some((_, p)) = pools.iter().find(|(n, _)| *n == spec.name) {
        return Err(VchError::Invalid(format!(
            "the name {:?} is already taken by resource pool {}: choose another --name",
            spec.name, p.value
        )));
    }
    if is_vc {
        let children = Folder::new(client, vm_folder.clone())
            .children()
            .await
            .doing("reading the VM folder")?;
        let folders = names_of(client, &children).await?;
        if folders.iter().any(|(n, _)| *n == spec.name) {
            return Err(VchError::Invalid(format!(
                "the name {:?} is already taken in the VM folder: choose another --name",
                spec.name
            )));
        }
    }

    // Datastores.
    let datastores = named(client, "Datastore").await?;
    let reachable = |r: &ManagedObjectReference| compute.datastores.iter().any(|d| d == r);
    let find_ds = |name: &str, what: &str| -> Result<(), VchError> {
        match datastores.iter().find(|(n, _)| n == name) {
            Some((_, r)) if reachable(r) => Ok(()),
            Some(_) => Err(VchError::Invalid(format!(
                "{what} {name:?} is not reachable from {}; reachable: {}",
                compute.name,
                list_names(datastores.iter().filter(|(_, r)| reachable(r)))
            ))),
            None => Err(VchError::Invalid(format!(
                "{what} {name:?} not found; the target has: {}",
                list_names(datastores.iter())
            ))),
        }
    };
    find_ds(&spec.image_datastore, "image datastore")?;
    let mut volume_stores = Vec::new();
    for v in &spec.volume_stores {
        find_ds(&v.datastore, "volume store datastore")?;
        if volume_stores.iter().any(|(l, _)| *l == v.label) {
            return Err(VchError::Invalid(format!(
                "volume store label {:?} given twice",
                v.label
            )));
        }
        let path = if v.path.is_empty() {
            format!("{}/volumes-{}", spec.name, v.label)
        } else {
            v.path.clone()
        };
        volume_stores.push((v.label.clone(), DatastorePath::new(&v.datastore, &path)));
    }

    // Networks.
    let networks = named(client, "Network").await?;
    let external = networks
        .iter()
        .find(|(n, _)| *n == spec.external_network)
        .map(|(_, r)| r.clone())
        .ok_or_else(|| {
            VchError::Invalid(format!(
                "external network {:?} not found; the target has: {}",
                spec.external_network,
                list_names(networks.iter())
            ))
        })?;
    if spec.bridge_network == spec.external_network {
        return Err(VchError::Invalid(format!(
            "the bridge network must be a port group of its own, not the external network {:?}",
            spec.external_network
        )));
    }
    let bridge = match networks.iter().find(|(n, _)| *n == spec.bridge_network) {
        Some((_, r)) => Bridge::Exists(r.clone()),
        None if !is_vc => {
            let host = compute.hosts.first().cloned().ok_or_else(|| {
                VchError::Invalid(format!("compute resource {} has no host", compute.name))
            })?;
            let vswitch = vswitch_for(client, &host, &spec.external_network).await?;
            log.info(format!(
                "Bridge network {:?} will be created on virtual switch {vswitch}",
                spec.bridge_network
            ));
            Bridge::Create { host, vswitch }
        }
        None => {
            return Err(VchError::Invalid(format!(
                "bridge network {:?} not found (on vCenter it must exist, as a distributed port group); the target has: {}",
                spec.bridge_network,
                list_names(networks.iter())
            )))
        }
    };

    firewall_check(client, &compute, log).await?;
    license_check(client, log).await?;

    // ISO images.
    let iso_source = |given: &Option<PathBuf>, label: &str| -> Result<IsoSource, VchError> {
        match given {
            Some(p) => Ok(IsoSource::File(p.clone(), iso::check_file(p)?)),
            None => Ok(IsoSource::StandIn(iso::stand_in(
                label,
                &format!(
                    "A stand-in for the VCH's {} image, made by `vch create` because none was given.\n",
                    label.to_lowercase()
                ),
            )?)),
        }
    };
    let appliance_iso = iso_source(&spec.appliance_iso, "APPLIANCE")?;
    let bootstrap_iso = iso_source(&spec.bootstrap_iso, "BOOTSTRAP")?;
    if spec.appliance_iso.is_none() || spec.bootstrap_iso.is_none() {
        log.info(
            "No ISO images given: small ISO9660 stand-ins are used (the simulator boots nothing)",
        );
    }
    let (cert_path, key_path) = cert::paths(&spec.cert_dir, &spec.name);
    let docker_certs = cert::cert_dir(&spec.cert_dir, &spec.name);
    if cert_path.exists() || key_path.exists() || docker_certs.exists() {
        return Err(VchError::Invalid(format!(
            "{}, {} or {} exists already: move them away or choose another name",
            cert_path.display(),
            key_path.display(),
            docker_certs.display()
        )));
    }
    Ok(Plan {
        datacenter,
        vm_folder,
        is_vc,
        compute,
        parent_pool,
        external,
        bridge,
        volume_stores,
        appliance_iso,
        bootstrap_iso,
    })
}

/// A VCH name must work as an inventory name and as one datastore path segment.
fn check_name(name: &str) -> Result<(), VchError> {
    let bad = |c: char| c.is_control() || matches!(c, '/' | '\\' | '[' | ']' | '%' | '@');
    if name.is_empty() || name.len() > 80 || name.chars().any(bad) || name.starts_with('.') {
        return Err(VchError::Invalid(format!(
            "{name:?} cannot name a VCH: it must be 1 to 80 bytes, not start with '.', \
             and hold no '/', '\\', '[', ']', '%', '@' or control characters"
        )));
    }
    Ok(())
}

fn list_names<'a>(items: impl Iterator<Item = &'a (String, ManagedObjectReference)>) -> String {
    let mut names: Vec<&str> = items.map(|(n, _)| n.as_str()).collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join(", ")
    }
}

/// `(name, reference)` of every object of `kind` (and its subtypes).
async fn named(
    client: &Client,
    kind: &str,
) -> Result<Vec<(String, ManagedObjectReference)>, VchError> {
    super::named(client, kind)
        .await
        .doing(format!("reading the names of {kind} objects"))
}

async fn names_of(
    client: &Client,
    refs: &[ManagedObjectReference],
) -> Result<Vec<(String, ManagedObjectReference)>, VchError> {
    let mut out = Vec::new();
    for r in refs {
        let name = Common::new(client, r.clone())
            .name()
            .await
            .doing(format!("reading the name of {}", r.value))?;
        out.push((name, r.clone()));
    }
    Ok(out)
}

async fn compute_resources(client: &Client) -> Result<Vec<Compute>, VchError> {
    let view = ContainerView::create(client, &["ComputeResource"], true)
        .await
        .doing("listing compute resources")?;
    let objects = view
        .retrieve_any(&["name", "resourcePool", "host", "datastore"])
        .await;
    let _ = view.destroy().await;
    let mut out = Vec::new();
    for o in objects.doing("reading compute resources")? {
        let (reference, name, pool, hosts, datastores) = match o {
            AnyManagedObject::ComputeResource(c) => {
                (c.obj, c.name, c.resource_pool, c.host, c.datastore)
            }
            AnyManagedObject::ClusterComputeResource(c) => {
                (c.obj, c.name, c.resource_pool, c.host, c.datastore)
            }
            _ => continue,
        };
        let (Some(name), Some(root_pool)) = (name, pool) else {
            continue;
        };
        out.push(Compute {
            reference,
            name,
            root_pool,
            hosts: hosts.unwrap_or_default(),
            datastores: datastores.unwrap_or_default(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The compute resource and the pool the VCH's pool is made in.
async fn pick_compute(
    client: &Client,
    computes: &[Compute],
    spec: &CreateSpec,
) -> Result<(Compute, ManagedObjectReference), VchError> {
    let names = || {
        computes
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(wanted) = spec.compute_resource.as_deref() else {
        return match computes {
            [one] => Ok((one.clone(), one.root_pool.clone())),
            [] => Err(VchError::Invalid(
                "the target has no compute resource".into(),
            )),
            _ => Err(VchError::Invalid(format!(
                "the target has several compute resources; choose one with --compute-resource: {}",
                names()
            ))),
        };
    };
    if let Some(c) = computes.iter().find(|c| c.name == wanted) {
        return Ok((c.clone(), c.root_pool.clone()));
    }
    // An inventory path: a compute resource or a resource pool below one.
    let finder = Finder::new(client);
    match finder.one(wanted).await {
        Ok(r) if r.type_.ends_with("ComputeResource") => {
            if let Some(c) = computes.iter().find(|c| c.reference == r) {
                return Ok((c.clone(), c.root_pool.clone()));
            }
        }
        Ok(r) if r.type_ == "ResourcePool" => {
            let pool: mo::ResourcePool = ResourcePool::new(client, r.clone())
                .properties(&["owner"])
                .await
                .doing(format!("reading resource pool {wanted}"))?;
            if let Some(c) = computes
                .iter()
                .find(|c| Some(&c.reference) == pool.owner.as_ref())
            {
                return Ok((c.clone(), r));
            }
        }
        _ => {}
    }
    Err(VchError::Invalid(format!(
        "compute resource {wanted:?} not found; the target has: {}",
        names()
    )))
}

async fn drs_check(client: &Client, compute: &Compute, log: &Log) -> Result<(), VchError> {
    let c: mo::ClusterComputeResource = Common::new(client, compute.reference.clone())
        .properties(&["configurationEx"])
        .await
        .doing(format!("reading cluster {}", compute.name))?;
    let enabled = match c.configuration_ex {
        Some(AnyComputeResourceConfigInfo::ClusterConfigInfoEx(info)) => {
            info.drs_config.enabled.unwrap_or(false)
        }
        _ => false,
    };
    if enabled {
        log.info(format!("DRS check OK on:\n{}", compute.name));
    } else {
        log.warn(format!(
            "DRS is disabled on cluster {}: containerVMs are placed without DRS",
            compute.name
        ));
    }
    Ok(())
}

async fn firewall_check(client: &Client, compute: &Compute, log: &Log) -> Result<(), VchError> {
    let mut closed = Vec::new();
    for host in &compute.hosts {
        let spec = vim25::property::spec_for_objects(
            "HostSystem",
            &["name", "config.firewall"],
            std::slice::from_ref(host),
        );
        let mut r = Retrieval::new(client.clone(), client.property_collector(), vec![spec]);
        let page = r
            .next_page()
            .await
            .doing(format!("reading the firewall of host {}", host.value))?
            .unwrap_or_default();
        let Some(oc) = page.into_iter().next() else {
            continue;
        };
        let name = oc
            .get::<String>("name")
            .unwrap_or_else(|| host.value.clone());
        let open = oc
            .get::<HostFirewallInfo>("config.firewall")
            .map(|f| {
                f.ruleset
                    .iter()
                    .any(|r| r.key == "remoteSerialPort" && r.enabled)
            })
            .unwrap_or(false);
        if !open {
            closed.push(name);
        }
    }
    if closed.is_empty() {
        log.info("Firewall configuration OK on hosts");
    } else {
        log.warn(format!(
            "Firewall configuration on {} does not allow outbound serial port connections (ruleset remoteSerialPort): containerVMs' interaction needs it",
            closed.join(", ")
        ));
    }
    Ok(())
}

async fn license_check(client: &Client, log: &Log) -> Result<(), VchError> {
    let Some(lm) = client.service_content().license_manager.clone() else {
        log.warn("License check SKIPPED - the target has no license manager");
        return Ok(());
    };
    let m: mo::LicenseManager = Common::new(client, lm)
        .properties(&["licenses"])
        .await
        .doing("reading licenses")?;
    let names: Vec<String> = m
        .licenses
        .unwrap_or_default()
        .iter()
        .map(|l| l.name.clone())
        .collect();
    if names.is_empty() {
        return Err(VchError::Invalid("the target has no license".into()));
    }
    log.info(format!("License check OK: {}", names.join(", ")));
    Ok(())
}

/// The virtual switch the bridge port group goes on: the external network's, else
/// the host's first.
async fn vswitch_for(
    client: &Client,
    host: &ManagedObjectReference,
    external: &str,
) -> Result<String, VchError> {
    let ns = HostSystem::new(client, host.clone())
        .network_system()
        .await
        .doing("finding the host's network system")?;
    let info = ns
        .network_info()
        .await
        .doing("reading the host's networks")?;
    let on_external = info
        .portgroup
        .iter()
        .find(|pg| pg.spec.name == external)
        .map(|pg| pg.spec.vswitch_name.clone());
    on_external
        .or_else(|| info.vswitch.first().map(|v| v.name.clone()))
        .ok_or_else(|| {
            VchError::Invalid("the host has no virtual switch for the bridge network".into())
        })
}

async fn build(
    client: &Client,
    spec: &CreateSpec,
    plan: &Plan,
    log: &Arc<Log>,
    undo: &mut Vec<Undo>,
) -> Result<Created, VchError> {
    let name = &spec.name;
    // Certificate.
    let (cert_path, key_path) = cert::paths(&spec.cert_dir, name);
    log.info(format!(
        "Generating certificate/key pair - private key in {}",
        key_path.display()
    ));
    let pair = cert::generate(name, &[])?;
    let docker_certs = cert::cert_dir(&spec.cert_dir, name);
    cert::write(&pair, &cert_path, &key_path)?;
    undo.push(Undo::CertFiles(cert_path.clone(), key_path.clone()));
    cert::write_cert_dir(&pair, &docker_certs)?;
    undo.push(Undo::LocalDir(docker_certs.clone()));

    // Resource pool.
    log.info(format!("Creating Resource Pool {name}"));
    let pool = ResourcePool::new(client, plan.parent_pool.clone())
        .create_child(name, None)
        .await
        .doing(format!("creating resource pool {name}"))?;
    undo.push(Undo::Pool(pool.reference().clone(), name.clone()));

    // Bridge port group.
    let (bridge_ref, created_bridge) = match &plan.bridge {
        Bridge::Exists(r) => (r.clone(), false),
        Bridge::Create { host, vswitch } => {
            log.info(format!("Creating bridge network {}", spec.bridge_network));
            let ns = HostSystem::new(client, host.clone())
                .network_system()
                .await
                .doing("finding the host's network system")?;
            ns.add_port_group(&spec.bridge_network, vswitch, 0)
                .await
                .doing(format!("creating port group {}", spec.bridge_network))?;
            undo.push(Undo::PortGroup(host.clone(), spec.bridge_network.clone()));
            let r = named(client, "Network")
                .await?
                .into_iter()
                .find(|(n, _)| *n == spec.bridge_network)
                .map(|(_, r)| r)
                .ok_or_else(|| {
                    VchError::Invalid(format!(
                        "port group {} was created but no network object shows it",
                        spec.bridge_network
                    ))
                })?;
            (r, true)
        }
    };

    // VM folder.
    let folder = if plan.is_vc {
        let f = Folder::new(client, plan.vm_folder.clone())
            .create_folder(name)
            .await
            .doing(format!("creating VM folder {name}"))?;
        undo.push(Undo::Folder(f.reference().clone(), name.clone()));
        f.reference().clone()
    } else {
        plan.vm_folder.clone()
    };

    // The appliance VM.
    let ds = &spec.image_datastore;
    let vch_dir = DatastorePath::new(ds, name);
    let appliance_iso = DatastorePath::new(ds, format!("{name}/{APPLIANCE_ISO}"));
    let bootstrap_iso = DatastorePath::new(ds, format!("{name}/{BOOTSTRAP_ISO}"));
    let secret = SecretKey::generate().doing("making the config's secret key")?;
    let mut config = vch_config(
        spec,
        plan,
        &pool,
        &bridge_ref,
        created_bridge,
        &pair,
        &bootstrap_iso,
    );
    config.init.common.id = Some(CREATING_ID.to_string());
    let encoded = encode(&config, &secret)?;
    log.info("Creating appliance on target");
    let mut devices = Vec::new();
    devices.push(device::add_spec(
        device::new_cdrom(&appliance_iso, (200, 0)),
        false,
    ));
    // A paravirtual SCSI controller: the port layer makes image disks by attaching
    // them to the appliance, as VIC does.
    let mut scsi: AnyVirtualDevice = ParaVirtualSCSIController {
        base_: VirtualSCSIController {
            shared_bus: VirtualSCSISharing::NoSharing,
            ..Default::default()
        },
    }
    .into();
    scsi.key = -100;
    devices.push(device::add_spec(scsi, false));
    let mut nets = vec![plan.external.clone()];
    if bridge_ref != plan.external {
        nets.push(bridge_ref.clone());
    }
    for n in &nets {
        let backing = vim25::object::ethernet_card_backing(client, n)
            .await
            .doing(format!("reading network {}", n.value))?;
        devices.push(device::add_spec(
            device::new_nic(NicKind::Vmxnet3, backing),
            false,
        ));
    }
    let vm_spec = VirtualMachineConfigSpec {
        name: Some(name.clone()),
        guest_id: Some("other3xLinux64Guest".into()),
        num_cpus: Some(1),
        memory_mb: Some(2048),
        files: Some(VirtualMachineFileInfo {
            vm_path_name: Some(format!("[{ds}] {name}/{name}.vmx")),
            ..Default::default()
        }),
        device_change: devices,
        extra_config: vic_config::option_value::to_option_values(&encoded),
        ..Default::default()
    };
    let host = match &plan.bridge {
        Bridge::Create { host, .. } => Some(HostSystem::new(client, host.clone())),
        Bridge::Exists(_) if !plan.compute.is_cluster() => plan
            .compute
            .hosts
            .first()
            .map(|h| HostSystem::new(client, h.clone())),
        Bridge::Exists(_) => None,
    };
    let vm = Folder::new(client, folder.clone())
        .create_vm(&vm_spec, &pool, host.as_ref())
        .await
        .doing("creating the appliance VM")?
        .wait()
        .await
        .doing("creating the appliance VM")?;
    // Undone after the VM: Destroy removes the VM's own files, not the ISOs or
    // the image store beside them.
    undo.push(Undo::Dir(plan.datacenter.clone(), vch_dir.clone()));
    undo.push(Undo::Vm(vm.reference().clone(), name.clone()));
    let vm_ref = vm.reference().clone();

    // The ID: the VM's reference, now that it exists.
    let mut with_id = config.clone();
    with_id.init.common.id = Some(format!("{}:{}", vm_ref.type_, vm_ref.value));
    let changes = changed(&encoded, &encode(&with_id, &secret)?);
    vm.update_extra_config(vic_config::option_value::to_option_values(&changes))
        .await
        .doing("recording the VCH ID")?
        .wait()
        .await
        .doing("recording the VCH ID")?;
    log.info(format!("Appliance VM {name} created ({})", vm_ref.value));

    // Files: ISOs, image store, volume stores.
    let placement = Placement {
        datacenter: plan.datacenter.clone(),
        folder,
        pool: pool.reference().clone(),
        host: host.as_ref().map(|h| h.reference().clone()),
        datastore: ds.clone(),
        vch_dir: name.clone(),
        appliance: Some(vm_ref.clone()),
    };
    let backend: Arc<dyn Backend> = Arc::new(VsphereBackend::new(client.clone(), placement));
    log.info("Uploading images for container");
    upload(&backend, &plan.appliance_iso, &appliance_iso, log).await?;
    upload(&backend, &plan.bootstrap_iso, &bootstrap_iso, log).await?;
    let storage = vic_portlayer::storage::Storage::new(backend.clone());
    log.info(format!(
        "Creating image store {IMAGE_STORE} in {vch_dir}/VIC"
    ));
    storage
        .create_image_store(IMAGE_STORE)
        .await
        .doing("creating the image store")?;
    for (label, root) in &plan.volume_stores {
        let volumes = DatastorePath::new(&root.datastore, format!("{}/volumes", root.path));
        if !backend
            .exists(&volumes)
            .await
            .doing(format!("looking for {volumes}"))?
        {
            undo.push(Undo::Dir(plan.datacenter.clone(), volumes));
        }
        log.info(format!("Creating volume store {label} at {root}"));
        storage
            .create_volume_store(label, root.clone())
            .await
            .doing(format!("creating volume store {label}"))?;
    }

    // Power on and wait.
    log.info("Waiting for IP information");
    vm.power_on()
        .await
        .doing("powering on the appliance")?
        .wait()
        .await
        .doing("powering on the appliance")?;
    let ip = wait_ready(client, &vm, spec.timeout, log).await?;
    let docker_host = format!("{ip}:{DOCKER_PORT}");
    log.info("Initialization of appliance successful");
    log.info(format!("VCH ID: {}", vm_ref.value));
    log.info("VCH Admin Portal:");
    log.info(format!("https://{ip}:{VICADMIN_PORT}"));
    log.info("Published ports can be reached at:");
    log.info(ip.to_string());
    log.info("Docker environment variables:");
    let cert_path_env = std::fs::canonicalize(&docker_certs).unwrap_or(docker_certs);
    log.info(format!(
        "DOCKER_CERT_PATH={} DOCKER_HOST={docker_host}",
        cert_path_env.display()
    ));
    log.info("Connect to docker:");
    log.info(format!("docker -H {docker_host} --tls info"));
    log.info("Installer completed successfully");
    Ok(Created {
        vm: vm_ref,
        client_ip: ip,
        docker_host,
    })
}

/// The VCH config of a new VCH.
fn vch_config(
    spec: &CreateSpec,
    plan: &Plan,
    pool: &ResourcePool,
    bridge: &ManagedObjectReference,
    created_bridge: bool,
    pair: &CertPair,
    bootstrap_iso: &DatastorePath,
) -> VchConfig {
    let name = &spec.name;
    let moid = |r: &ManagedObjectReference| format!("{}:{}", r.type_, r.value);
    let network = |role: &str, r: &ManagedObjectReference, kind: Option<&str>| ContainerNetwork {
        common: vic_config::model::Common {
            id: Some(moid(r)),
            name: Some(role.to_string()),
            ..Default::default()
        },
        network_type: kind.map(str::to_string),
        ..Default::default()
    };
    let endpoint = |role: &str, r: &ManagedObjectReference, is_static: bool| NetworkEndpoint {
        common: vic_config::model::Common {
            name: Some(role.to_string()),
            ..Default::default()
        },
        static_ip: Some(is_static),
        network: network(role, r, (role == "bridge").then_some("bridge")),
        ..Default::default()
    };
    let mut networks = BTreeMap::new();
    for role in ["client", "public", "management"] {
        networks.insert(role.to_string(), endpoint(role, &plan.external, false));
    }
    networks.insert("bridge".to_string(), endpoint("bridge", bridge, true));
    let session = |id: &str, path: &str, args: &[&str], env: Vec<String>| SessionConfig {
        common: vic_config::model::Common {
            id: Some(id.to_string()),
            name: Some(id.to_string()),
            ..Default::default()
        },
        cmd: Cmd {
            path: Some(path.to_string()),
            args: args
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .into(),
            env: env.into(),
            dir: None,
        },
        active: Some(true),
        restart: Some(true),
        tty: Some(false),
        attach: Some(false),
        open_stdin: Some(false),
        ..Default::default()
    };
    let mut sessions = BTreeMap::new();
    let docker_port = format!("-port={DOCKER_PORT}");
    let pl_port = format!("-port-layer-port={PORT_LAYER_PORT}");
    sessions.insert(
        "docker-personality".to_string(),
        session(
            "docker-personality",
            "/sbin/docker-engine-server",
            &["/sbin/docker-engine-server", &docker_port, &pl_port],
            vec!["PATH=/sbin".into()],
        ),
    );
    let pl = format!("--port={PORT_LAYER_PORT}");
    sessions.insert(
        "port-layer".to_string(),
        session(
            "port-layer",
            "/sbin/port-layer-server",
            &["/sbin/port-layer-server", "--host=localhost", &pl],
            vec![
                format!("VC_URL={}", spec.target),
                format!("DS_PATH={}", spec.image_datastore),
                format!("POOL_PATH={}", pool.reference().value),
            ],
        ),
    );
    sessions.insert(
        "vicadmin".to_string(),
        session(
            "vicadmin",
            "/sbin/vicadmin",
            &["/sbin/vicadmin", &format!("--port={VICADMIN_PORT}")],
            vec!["PATH=/sbin:/bin".into()],
        ),
    );
    let ds_url = |ds: &str, path: &str| Url {
        scheme: "ds".into(),
        host: ds.to_string(),
        path: path.to_string(),
        ..Default::default()
    };
    let mut volume_locations = BTreeMap::new();
    for (label, root) in &plan.volume_stores {
        volume_locations.insert(label.clone(), ds_url(&root.datastore, &root.to_string()));
    }
    let mut container_networks = BTreeMap::new();
    container_networks.insert(
        "bridge".to_string(),
        network("bridge", bridge, Some("bridge")),
    );
    VchConfig {
        init: ExecutorConfig {
            common: ExecutorCommon {
                name: Some(name.clone()),
                ..Default::default()
            },
            sessions,
            networks,
            version: Some(Build {
                version: Some(format!("v{}", env!("CARGO_PKG_VERSION"))),
                plugin_version: Some(vic_config::migrate::latest(vic_config::migrate::Kind::Vch)),
                ..Default::default()
            }),
            ..Default::default()
        },
        connection: Connection {
            target: Some(spec.target.clone()),
            username: spec.user.clone(),
            target_thumbprint: spec.thumbprint.clone(),
            keepalive: Some(Duration::from_secs(60)),
            token: None,
        },
        certificate: Certificate {
            host_certificate: Some(RawCertificate {
                cert: pair.cert_pem.as_bytes().to_vec(),
                key: Some(Secret::new(pair.key_pem.as_bytes().to_vec())),
            }),
            ..Default::default()
        },
        storage: Storage {
            image_stores: vec![ds_url(&spec.image_datastore, name)],
            volume_locations,
            scratch_size: Some(8_000_000),
        },
        network: Network {
            bridge_network: Some(spec.bridge_network.clone()),
            container_networks,
            bridge_ip_range: Some(IpNet {
                ip: Some("172.16.0.0".parse().expect("a literal address")),
                mask: IpMask::v4_prefix(12),
            }),
            bridge_network_width: IpMask::v4_prefix(16),
        },
        container: Container {
            compute_resources: vec![ObjectRef {
                kind: pool.reference().type_.clone(),
                value: pool.reference().value.clone(),
            }],
            bootstrap_image_path: Some(bootstrap_iso.to_string()),
            container_name_convention: None,
        },
        create_bridge_network: Some(created_bridge),
        vic_machine_create_options: spec.create_options.clone().into(),
        ..Default::default()
    }
}

fn encode(config: &VchConfig, key: &SecretKey) -> Result<BTreeMap<String, String>, VchError> {
    vic_config::to_extra_config_with(
        config,
        EncodeOptions {
            secret_key: Some(key.clone()),
            ..EncodeOptions::default()
        },
    )
    .doing("encoding the VCH config")
}

/// The entries of `new` that are not in `old` as they are (sealed values are sealed
/// afresh, so they count as changed).
fn changed(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    new.iter()
        .filter(|(k, v)| old.get(*k) != Some(*v) && !k.contains("@secret"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Uploads one image with progress lines and up to three attempts; the backend
/// leaves no partial file behind a failed attempt.
async fn upload(
    backend: &Arc<dyn Backend>,
    source: &IsoSource,
    to: &DatastorePath,
    log: &Arc<Log>,
) -> Result<(), VchError> {
    let file = to.path.rsplit('/').next().unwrap_or(&to.path).to_string();
    let len = source.len();
    let mut last_err = None;
    for attempt in 1..=3u32 {
        log.info(format!("Uploading {file} ({len} bytes), attempt {attempt}"));
        let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match source {
            IsoSource::File(p, _) => Box::new(
                tokio::fs::File::open(p)
                    .await
                    .doing(format!("opening {}", p.display()))?,
            ),
            IsoSource::StandIn(bytes) => Box::new(std::io::Cursor::new(bytes.clone())),
        };
        let progress = Progress::new(reader, len, file.clone(), log.clone());
        match backend.upload(to, Box::new(progress), len).await {
            Ok(()) => {
                log.info(format!("Uploaded {file}: 100%"));
                return Ok(());
            }
            Err(e) => {
                log.warn(format!("Uploading {file} failed: {e}"));
                last_err = Some(e);
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
        }
    }
    Err(VchError::PortLayer {
        doing: format!("uploading {file} to {to} (3 attempts)"),
        source: last_err.expect("three failed attempts"),
    })
}

/// A reader that logs every quarter of the way.
struct Progress {
    inner: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    len: u64,
    done: u64,
    next_quarter: u64,
    file: String,
    log: Arc<Log>,
}

impl Progress {
    fn new(
        inner: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
        len: u64,
        file: String,
        log: Arc<Log>,
    ) -> Self {
        Progress {
            inner,
            len,
            done: 0,
            next_quarter: 1,
            file,
            log,
        }
    }
}

impl tokio::io::AsyncRead for Progress {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        self.done += read;
        while self.next_quarter < 4 && self.len > 0 && self.done * 4 >= self.len * self.next_quarter
        {
            let pct = self.next_quarter * 25;
            self.log.info(format!("Uploading {}: {pct}%", self.file));
            self.next_quarter += 1;
        }
        r
    }
}

/// Waits until the appliance reports its client IP and every session started.
/// Polls `config.extraConfig` (the simulator does not publish its changes to
/// property-collector watches).
async fn wait_ready(
    client: &Client,
    vm: &VirtualMachine,
    limit: Duration,
    log: &Log,
) -> Result<IpAddr, VchError> {
    let deadline = Instant::now() + limit;
    let mut said_ip = false;
    loop {
        let info = super::read_vms(client, Some(std::slice::from_ref(vm.reference())))
            .await?
            .pop()
            .ok_or_else(|| VchError::Invalid("the appliance VM went away while starting".into()))?;
        if info.power_state == Some(VirtualMachinePowerState::PoweredOff) {
            return Err(VchError::Invalid(
                "the appliance VM powered off while starting".into(),
            ));
        }
        let extra = info.extra_config;
        let config = super::decode_config(&extra, None)?;
        let ip = config
            .init
            .networks
            .get("client")
            .and_then(|e| e.assigned.ip.as_ref())
            .map(|ip| ip.to_ip_addr())
            .filter(|ip| !ip.is_unspecified());
        if let (Some(ip), false) = (ip, said_ip) {
            log.info(format!("Obtained IP address for client interface: {ip}"));
            said_ip = true;
            log.info("Waiting for VCH services to start");
        }
        let mut pending = Vec::new();
        for (id, s) in &config.init.sessions {
            match s.started.as_deref() {
                Some("true") => {}
                None | Some("") => pending.push(id.clone()),
                Some(err) => {
                    return Err(VchError::Invalid(format!(
                        "appliance session {id} failed to start: {err}"
                    )))
                }
            }
        }
        if let (Some(ip), true) = (ip, pending.is_empty()) {
            return Ok(ip);
        }
        if Instant::now() >= deadline {
            return Err(VchError::Timeout(format!(
                "the appliance did not report {} within {}s; on a simulator, is tether-sim running?",
                if ip.is_none() {
                    "its client IP".to_string()
                } else {
                    format!("sessions {} started", pending.join(", "))
                },
                limit.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn rollback(client: &Client, log: &Log, undo: Vec<Undo>) {
    log.info("Rolling back what this run created");
    for u in undo.into_iter().rev() {
        let (what, result): (String, Result<(), VchError>) = match &u {
            Undo::CertFiles(c, k) => (
                format!("certificate files {} and {}", c.display(), k.display()),
                std::fs::remove_file(c)
                    .and_then(|_| std::fs::remove_file(k))
                    .doing("removing certificate files"),
            ),
            Undo::LocalDir(d) => (
                format!("docker certificate directory {}", d.display()),
                std::fs::remove_dir_all(d).doing("removing"),
            ),
            Undo::Vm(r, name) => {
                let vm = VirtualMachine::new(client, r.clone());
                let res = async {
                    if vm.power_state().await.doing("reading the appliance")?
                        != VirtualMachinePowerState::PoweredOff
                    {
                        vm.power_off_and_wait().await.doing("powering off")?;
                    }
                    vm.destroy_and_wait().await.doing("destroying")
                }
                .await;
                (format!("appliance VM {name} ({})", r.value), res)
            }
            Undo::Folder(r, name) => (
                format!("VM folder {name}"),
                Folder::new(client, r.clone())
                    .destroy_and_wait()
                    .await
                    .doing("destroying"),
            ),
            Undo::PortGroup(host, name) => {
                let res = async {
                    HostSystem::new(client, host.clone())
                        .network_system()
                        .await
                        .doing("finding the network system")?
                        .remove_port_group(name)
                        .await
                        .doing("removing")
                }
                .await;
                (format!("bridge network {name}"), res)
            }
            Undo::Dir(dc, path) => {
                let res = async {
                    let fm = FileManager::new(client).doing("finding the file manager")?;
                    match fm
                        .delete_file_and_wait(path, Some(&Datacenter::new(client, dc.clone())))
                        .await
                    {
                        // Destroy took it already.
                        Err(e) if e.fault_name() == Some("FileNotFound") => Ok(()),
                        r => r.doing("deleting"),
                    }
                }
                .await;
                (format!("datastore folder {path}"), res)
            }
            Undo::Pool(r, name) => (
                format!("resource pool {name}"),
                ResourcePool::new(client, r.clone())
                    .destroy_and_wait()
                    .await
                    .doing("destroying"),
            ),
        };
        match result {
            Ok(()) => log.info(format!("Removed {what}")),
            Err(e) => log.warn(format!("Could not remove {what}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_store_flags() {
        let v: VolumeStoreArg = "datastore1/vols/x:default".parse().unwrap();
        assert_eq!(v.datastore, "datastore1");
        assert_eq!(v.path, "vols/x");
        assert_eq!(v.label, "default");
        let v: VolumeStoreArg = "ds:vol1".parse().unwrap();
        assert_eq!((v.datastore.as_str(), v.path.as_str()), ("ds", ""));
        assert!("no-label".parse::<VolumeStoreArg>().is_err());
        assert!("ds/p:bad label".parse::<VolumeStoreArg>().is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("VCH001").is_ok());
        for bad in ["", ".x", "a/b", "a[b", "a@b", &"x".repeat(81)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_changed_plain_entries() {
        let old: BTreeMap<String, String> = [("a", "1"), ("b", "2"), ("s@secret", "x")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        let new: BTreeMap<String, String> = [("a", "1"), ("b", "3"), ("s@secret", "y")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        let c = changed(&old, &new);
        assert_eq!(c.len(), 1);
        assert_eq!(c["b"], "3");
    }
}
