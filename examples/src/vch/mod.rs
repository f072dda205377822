//! The Virtual Container Host lifecycle behind the `vch` program: what
//! vic-machine's `create`, `inspect`, `ls` and `delete` did, on `vim25`,
//! `vic-config` and `vic-portlayer`.
//!
//! A VCH is a resource pool named after it, an appliance VM of the same name (in a VM
//! folder of that name on vCenter; in the datacenter's VM folder on a standalone
//! host, which takes no sub-folders), the appliance's datastore folder with
//! `appliance.iso` and `bootstrap.iso`, the image stores below that folder, and its
//! whole configuration ([`VchConfig`]) encoded into the appliance's extraConfig.
//! Every step prints a line in vic-machine's words on a [`Log`].
//!
//! ```no_run
//! # async fn demo(client: vim25::Client) -> Result<(), examples::vch::VchError> {
//! use examples::vch;
//!
//! let log = vch::Log::stdout();
//! for found in vch::list(&client).await? {
//!     log.info(format!("{} {} {}", found.id(), found.path, found.name));
//! }
//! # Ok(()) }
//! ```

pub mod cert;
pub mod create;
pub mod delete;
pub mod inspect;
pub mod iso;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use vic_config::model::VchConfig;
use vic_config::vmx::VmxFile;
use vic_config::{DecodeOptions, SecretKey, SECRET_KEY_KEY};
use vim25::find::Finder;
use vim25::object::{Datastore, DatastorePath};
use vim25::property::Retrieval;
use vim25::types::{ManagedObjectReference, VirtualMachinePowerState};
use vim25::view::ContainerView;
use vim25::Client;

/// What can go wrong in a VCH operation. Every message says what was being done.
#[derive(Debug)]
pub enum VchError {
    /// Bad flags or a target that lacks what the flags name; nothing was changed.
    Invalid(String),
    /// No VCH of that name.
    NotFound(String),
    /// A vSphere call failed.
    Vsphere {
        /// What was being done.
        doing: String,
        /// The error.
        source: vim25::Error,
    },
    /// A port-layer operation failed.
    PortLayer {
        /// What was being done.
        doing: String,
        /// The error.
        source: vic_portlayer::Error,
    },
    /// The VCH config could not be encoded or decoded.
    Config {
        /// What was being done.
        doing: String,
        /// The error.
        source: vic_config::Error,
    },
    /// A local file could not be read or written.
    Io {
        /// What was being done.
        doing: String,
        /// The error.
        source: std::io::Error,
    },
    /// The appliance did not come up in time.
    Timeout(String),
}

impl fmt::Display for VchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VchError::Invalid(m) | VchError::NotFound(m) | VchError::Timeout(m) => f.write_str(m),
            VchError::Vsphere { doing, source } => write!(f, "{doing}: {source}"),
            VchError::PortLayer { doing, source } => write!(f, "{doing}: {source}"),
            VchError::Config { doing, source } => write!(f, "{doing}: {source}"),
            VchError::Io { doing, source } => write!(f, "{doing}: {source}"),
        }
    }
}

impl std::error::Error for VchError {}

/// Adds what was being done to an error.
pub trait Doing<T> {
    /// `Err(e)` becomes an error that says `doing`.
    fn doing(self, doing: impl Into<String>) -> Result<T, VchError>;
}

impl<T> Doing<T> for Result<T, vim25::Error> {
    fn doing(self, doing: impl Into<String>) -> Result<T, VchError> {
        self.map_err(|source| VchError::Vsphere {
            doing: doing.into(),
            source,
        })
    }
}

impl<T> Doing<T> for Result<T, vic_portlayer::Error> {
    fn doing(self, doing: impl Into<String>) -> Result<T, VchError> {
        self.map_err(|source| VchError::PortLayer {
            doing: doing.into(),
            source,
        })
    }
}

impl<T> Doing<T> for Result<T, vic_config::Error> {
    fn doing(self, doing: impl Into<String>) -> Result<T, VchError> {
        self.map_err(|source| VchError::Config {
            doing: doing.into(),
            source,
        })
    }
}

impl<T> Doing<T> for std::io::Result<T> {
    fn doing(self, doing: impl Into<String>) -> Result<T, VchError> {
        self.map_err(|source| VchError::Io {
            doing: doing.into(),
            source,
        })
    }
}

/// Where progress lines go, vic-machine style: `INFO[0003] Creating Resource Pool VCH001`
/// (seconds since the start).
pub struct Log {
    start: Instant,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Log {
    /// Lines on standard output.
    pub fn stdout() -> Log {
        Log::to(Box::new(std::io::stdout()))
    }

    /// Lines into `out`.
    pub fn to(out: Box<dyn Write + Send>) -> Log {
        Log {
            start: Instant::now(),
            out: Mutex::new(out),
        }
    }

    fn line(&self, level: &str, msg: &str) {
        let secs = self.start.elapsed().as_secs();
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        for (i, text) in msg.lines().enumerate() {
            let _ = if i == 0 {
                writeln!(out, "{level}[{secs:04}] {text}")
            } else {
                writeln!(out, "{level}[{secs:04}]   {text}")
            };
        }
        let _ = out.flush();
    }

    /// An informational line.
    pub fn info(&self, msg: impl AsRef<str>) {
        self.line("INFO", msg.as_ref());
    }

    /// A warning: something the user should look at, which does not stop the run.
    pub fn warn(&self, msg: impl AsRef<str>) {
        self.line("WARN", msg.as_ref());
    }

    /// An error line (the run is about to fail).
    pub fn error(&self, msg: impl AsRef<str>) {
        self.line("ERRO", msg.as_ref());
    }
}

/// The hidden extraConfig key that holds a VCH's name (VIC's layout version 1 and
/// later), read to tell VCH appliances from other VMs.
pub const NAME_KEY: &str = "init/common/name";

/// The value of the VCH's ID (`init.common.id`) until the appliance VM exists.
pub const CREATING_ID: &str = "creating";

/// A VCH found on the target.
#[derive(Debug, Clone)]
pub struct FoundVch {
    /// Its name.
    pub name: String,
    /// The appliance VM.
    pub vm: ManagedObjectReference,
    /// The appliance's inventory path.
    pub path: String,
    /// Its power state.
    pub power_state: Option<VirtualMachinePowerState>,
    /// The appliance's resource pool.
    pub pool: Option<ManagedObjectReference>,
    /// The appliance's VM folder.
    pub folder: Option<ManagedObjectReference>,
    /// `config.files.vmPathName`.
    pub vmx: Option<String>,
    /// The decoded VCH config (secret fields only when their key could be read).
    pub config: VchConfig,
    /// extraConfig as read through the API.
    pub extra_config: BTreeMap<String, String>,
}

impl FoundVch {
    /// The VCH's ID as vic-machine prints it: the appliance VM's reference value.
    pub fn id(&self) -> &str {
        &self.vm.value
    }

    /// The version of VIC that wrote the config (`init.version.Version`).
    pub fn version(&self) -> String {
        self.config
            .init
            .version
            .as_ref()
            .and_then(|b| b.version.clone())
            .unwrap_or_else(|| "unknown".into())
    }

    /// The appliance's datastore folder (`[ds] NAME`).
    pub fn folder_path(&self) -> Option<DatastorePath> {
        let vmx = DatastorePath::parse(self.vmx.as_deref()?)?;
        let dir = match vmx.path.rsplit_once('/') {
            Some((d, _)) => d.to_string(),
            None => String::new(),
        };
        Some(DatastorePath::new(&vmx.datastore, &dir))
    }
}

/// What `vch` reads of a VM.
#[derive(Debug, Clone)]
pub struct VmInfo {
    /// The VM.
    pub reference: ManagedObjectReference,
    /// Its name.
    pub name: String,
    /// `runtime.powerState`.
    pub power_state: Option<VirtualMachinePowerState>,
    /// `config.extraConfig`, folded as vSphere applies it (later entries win, empty
    /// values delete) and with `<nil>` read as empty.
    pub extra_config: BTreeMap<String, String>,
    /// `config.files.vmPathName`.
    pub vmx: Option<String>,
    /// `resourcePool`.
    pub pool: Option<ManagedObjectReference>,
    /// `parent` (its VM folder).
    pub folder: Option<ManagedObjectReference>,
}

/// The VM properties [`read_vms`] reads.
const VM_PATHS: &[&str] = &[
    "name",
    "parent",
    "resourcePool",
    "runtime.powerState",
    "config.extraConfig",
    "config.files.vmPathName",
];

/// Reads `vms`, or every VM on the target when `None`, in one paged retrieval. VMs
/// without a name yet (being created) are left out.
pub async fn read_vms(
    client: &Client,
    vms: Option<&[ManagedObjectReference]>,
) -> Result<Vec<VmInfo>, VchError> {
    let mut view = None;
    let spec = match vms {
        Some([]) => return Ok(Vec::new()),
        Some(refs) => vim25::property::spec_for_objects("VirtualMachine", VM_PATHS, refs),
        None => {
            let v = ContainerView::create(client, &["VirtualMachine"], true)
                .await
                .doing("listing virtual machines")?;
            let spec = v.filter_spec("VirtualMachine", VM_PATHS);
            view = Some(v);
            spec
        }
    };
    let mut r = Retrieval::new(client.clone(), client.property_collector(), vec![spec]);
    let mut contents = Vec::new();
    let read = async {
        while let Some(page) = r.next_page().await? {
            contents.extend(page);
        }
        Ok::<(), vim25::Error>(())
    }
    .await;
    if let Some(v) = view {
        let _ = v.destroy().await;
    }
    read.doing("reading virtual machines")?;
    let mut out = Vec::new();
    for oc in contents {
        let Some(name) = oc.get::<String>("name") else {
            continue;
        };
        let options = vic_portlayer::backend::extra_config_options(
            oc.prop_set
                .iter()
                .find(|p| p.name == "config.extraConfig")
                .map(|p| &p.val),
        )
        .unwrap_or_default();
        let mut extra = BTreeMap::new();
        vic_portlayer::backend::apply_extra_config(&mut extra, &options)
            .doing(format!("reading the extraConfig of VM {name}"))?;
        out.push(VmInfo {
            reference: oc.obj.clone(),
            power_state: oc.get::<VirtualMachinePowerState>("runtime.powerState"),
            extra_config: vic_portlayer::backend::unescaped(&extra),
            vmx: oc.get::<String>("config.files.vmPathName"),
            pool: oc.get::<ManagedObjectReference>("resourcePool"),
            folder: oc.get::<ManagedObjectReference>("parent"),
            name,
        });
    }
    Ok(out)
}

/// Every VCH on the target: every VM whose extraConfig names a VCH, with its config
/// decoded (secret fields left out), sorted by name.
pub async fn list(client: &Client) -> Result<Vec<FoundVch>, VchError> {
    let finder = Finder::new(client);
    let mut out = Vec::new();
    for vm in read_vms(client, None).await? {
        let Some(mut found) = found_vch(vm)? else {
            continue;
        };
        found.path = finder
            .path_of(&found.vm)
            .await
            .unwrap_or_else(|_| found.name.clone());
        out.push(found);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The VCH named `name`, with its secret fields when the key could be read (from the
/// `.vmx` on the datastore, where vSphere keeps `guestinfo.ovfEnv`; simulators show
/// it through the API too).
pub async fn find(client: &Client, name: &str) -> Result<FoundVch, VchError> {
    let all = list(client).await?;
    let Some(mut found) = all.into_iter().find(|v| v.name == name) else {
        return Err(VchError::NotFound(format!(
            "no VCH named {name:?} on the target"
        )));
    };
    let key = secret_key(client, &found).await;
    found.config = decode_config(&found.extra_config, key.as_ref())?;
    Ok(found)
}

/// The secretbox key of a VCH's config: `guestinfo.ovfEnv` from its `.vmx` (vSphere
/// hides the key from API reads), else from the API's extraConfig.
async fn secret_key(client: &Client, vch: &FoundVch) -> Option<SecretKey> {
    if let Some(vmx) = vch.vmx.as_deref().and_then(DatastorePath::parse) {
        if let Ok(text) = download_text(client, &vmx).await {
            if let Ok(file) = VmxFile::parse(&text) {
                if let Some(k) = file.get(SECRET_KEY_KEY) {
                    if let Ok(k) = SecretKey::from_base64(k) {
                        return Some(k);
                    }
                }
            }
        }
    }
    vch.extra_config
        .get(SECRET_KEY_KEY)
        .and_then(|k| SecretKey::from_base64(k).ok())
}

async fn download_text(client: &Client, path: &DatastorePath) -> Result<String, VchError> {
    let ds = datastore(client, &path.datastore).await?;
    let mut buf = Vec::new();
    ds.download(&path.path, &mut buf, |_, _| {})
        .await
        .doing(format!("downloading {path}"))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn found_vch(vm: VmInfo) -> Result<Option<FoundVch>, VchError> {
    let Some(name) = vm.extra_config.get(NAME_KEY).cloned() else {
        return Ok(None);
    };
    if !vm
        .extra_config
        .keys()
        .any(|k| k.contains("/init/sessions") || k.starts_with("init/"))
    {
        return Ok(None);
    }
    let config = decode_config(&vm.extra_config, None)?;
    Ok(Some(FoundVch {
        name,
        path: vm.name,
        vm: vm.reference,
        power_state: vm.power_state,
        pool: vm.pool,
        folder: vm.folder,
        vmx: vm.vmx,
        config,
        extra_config: vm.extra_config,
    }))
}

/// Decodes a VCH config; without a key (none given, none in the map), secret fields
/// are left out rather than failing the whole read.
pub fn decode_config(
    extra: &BTreeMap<String, String>,
    key: Option<&SecretKey>,
) -> Result<VchConfig, VchError> {
    let have_key = key.is_some() || extra.contains_key(SECRET_KEY_KEY);
    let filtered;
    let src = if have_key {
        extra
    } else {
        filtered = extra
            .iter()
            .filter(|(k, _)| !k.contains("@secret"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>();
        &filtered
    };
    let mut config = VchConfig::default();
    vic_config::decode_into(
        src,
        &mut config,
        DecodeOptions {
            secret_key: key.cloned(),
            ..DecodeOptions::default()
        },
    )
    .doing("decoding the VCH config")?;
    Ok(config)
}

/// `(name, reference)` of every object of `kind` (and its subtypes) on the target,
/// from one retrieval over a container view that is destroyed afterwards.
pub(crate) async fn named(
    client: &Client,
    kind: &str,
) -> Result<Vec<(String, ManagedObjectReference)>, vim25::Error> {
    let view = ContainerView::create(client, &[kind], true).await?;
    let mut r = Retrieval::new(
        client.clone(),
        client.property_collector(),
        vec![view.filter_spec(kind, &["name"])],
    );
    let mut out = Vec::new();
    let read = async {
        while let Some(page) = r.next_page().await? {
            for oc in page {
                if let Some(name) = oc.get::<String>("name") {
                    out.push((name, oc.obj.clone()));
                }
            }
        }
        Ok::<(), vim25::Error>(())
    }
    .await;
    if let Err(e) = view.destroy().await {
        tracing::debug!(error = %e, "destroying a container view failed");
    }
    read?;
    Ok(out)
}

/// The datastore named `name`.
pub(crate) async fn datastore(client: &Client, name: &str) -> Result<Datastore, VchError> {
    named(client, "Datastore")
        .await
        .doing("reading datastore names")?
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, r)| Datastore::new(client, r))
        .ok_or_else(|| VchError::NotFound(format!("no datastore named {name:?}")))
}

/// Where a port layer on `vch` puts containerVMs and files: the appliance's
/// datacenter, VM folder and datastore folder, in `pool` (on `host` for a
/// standalone host), with the appliance as the VM child disks are made on.
pub async fn placement(
    client: &Client,
    vch: &FoundVch,
    pool: ManagedObjectReference,
    host: Option<ManagedObjectReference>,
) -> Result<vic_portlayer::vsphere::Placement, VchError> {
    let dir = vch.folder_path().ok_or_else(|| {
        VchError::Invalid(format!(
            "the appliance of {} has no datastore folder",
            vch.name
        ))
    })?;
    let datacenter = vim25::object::Common::new(client, vch.vm.clone())
        .datacenter()
        .await
        .doing("finding the VCH's datacenter")?
        .reference()
        .clone();
    Ok(vic_portlayer::vsphere::Placement {
        datacenter,
        folder: vch.folder.clone().unwrap_or_else(|| vch.vm.clone()),
        pool,
        host,
        datastore: dir.datastore,
        vch_dir: dir.path,
        appliance: Some(vch.vm.clone()),
    })
}
