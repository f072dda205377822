//! The typed state model: the containerVM executor config and the Virtual Container
//! Host config, with VIC's keys.
//!
//! Each field's key segment and scope are declared once, in the [`extra_config!`]
//! block after its struct, and nowhere else; [`key_of`](crate::key_of) computes the
//! full key of a field path from those declarations.
//!
//! Scalar fields are `Option`s: `None` means the key is absent, so that data decoded
//! from a VM encodes back to exactly the keys it came from (VIC data in the field
//! lacks keys here and there). Collections are plain: an empty one has no keys.
//!
//! The guest-side agent owns the runtime fields ([`SessionConfig::started`],
//! [`SessionConfig::exit_status`], the start and stop times, the assigned
//! addresses); a program waiting for a container to start watches the key of
//! `started` until it is `true` (or an error text).
//!
//! ```
//! use vic_config::model::ExecutorConfig;
//! use vic_config::{key_of, Layout};
//! let text = "guestinfo.vice./common/id = \"abc\"\ncommon/name = \"jolly_panini\"\n";
//! let file = vic_config::vmx::VmxFile::parse(text)?;
//! let c: ExecutorConfig = vic_config::from_extra_config(&file)?;
//! assert_eq!(c.common.id.as_deref(), Some("abc"));
//! assert_eq!(c.common.name.as_deref(), Some("jolly_panini"));
//! let watch = key_of::<ExecutorConfig>("sessions.*.started", Layout::Current)?.fill(&["abc"])?;
//! assert_eq!(watch, "guestinfo.vice..sessions|abc.started");
//! # Ok::<(), vic_config::Error>(())
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::{Ip, IpMask, IpNet, ObjectRef, StoredList, Timestamp, Url};
use crate::Secret;
use crate::{extra_config, ExtraConfig};

/// Identity shared by sessions, networks and other entities.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Common {
    /// The hosting execution environment.
    pub execution_environment: Option<String>,
    /// Unambiguous ID.
    pub id: Option<String>,
    /// Human-readable name.
    pub name: Option<String>,
    /// Free-form notes.
    pub notes: Option<String>,
}

extra_config! { Common {
    execution_environment: "ExecutionEnvironment",
    id: "id" [read_only],
    name: "name" [read_only],
    notes: "notes" [hidden],
}}

/// Identity of a containerVM or the appliance itself: the fields of [`Common`],
/// with the name declared in another scope.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecutorCommon {
    /// The hosting execution environment.
    pub execution_environment: Option<String>,
    /// Unambiguous ID: the container ID, or the VCH's VM reference.
    pub id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Free-form notes.
    pub notes: Option<String>,
}

extra_config! { ExecutorCommon {
    execution_environment: "ExecutionEnvironment",
    id: "id" [read_only],
    name: "name" [hidden],
    notes: "notes" [hidden],
}}

/// Diagnostic controls and lifecycle records.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Diagnostics {
    /// Debug level.
    pub debug_level: Option<i64>,
    /// Restarts after an error exit.
    pub resurrection_count: Option<i64>,
    /// Best-effort records of anomalous exits.
    pub exit_logs: Vec<ExitLog>,
    /// Syslog target.
    pub syslog: Option<SyslogConfig>,
}

extra_config! { Diagnostics {
    debug_level: "debug" [read_only],
    resurrection_count: "resurrections" [read_write],
    exit_logs: "exitlogs" [read_write],
    syslog: "syslog" [read_only],
}}

/// One anomalous exit.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExitLog {
    /// When.
    pub time: Option<Timestamp>,
    /// Exit status.
    pub exit_status: Option<i64>,
    /// Why.
    pub message: Option<String>,
}

extra_config! { ExitLog {
    time: "Time",
    exit_status: "ExitStatus",
    message: "Message",
}}

/// Where to send logs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SyslogConfig {
    /// `udp`, `tcp`, `udp6` or `tcp6`.
    pub network: Option<String>,
    /// Remote address.
    pub remote_addr: Option<String>,
}

extra_config! { SyslogConfig {
    network: "Network",
    remote_addr: "RAddr",
}}

/// The command of a session.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Cmd {
    /// Program.
    pub path: Option<String>,
    /// Arguments including the program as the first.
    pub args: StoredList<String>,
    /// Environment, `NAME=value`.
    pub env: StoredList<String>,
    /// Working directory.
    pub dir: Option<String>,
}

extra_config! { Cmd {
    path: "Path" [read_only],
    args: "Args" [read_only],
    env: "Env" [read_only],
    dir: "Dir" [read_only],
}}

/// Creation, start and stop times of a session (Unix time as VIC stores it).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Detail {
    /// When the session was created.
    pub create_time: Option<i64>,
    /// When it started.
    pub start_time: Option<i64>,
    /// When it stopped.
    pub stop_time: Option<i64>,
}

extra_config! { Detail {
    create_time: "createtime" [read_write],
    start_time: "starttime" [read_write],
    stop_time: "stoptime" [read_write],
}}

/// A session: the root of a process tree inside an executor.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionConfig {
    /// Identity.
    pub common: Common,
    /// Times.
    pub detail: Detail,
    /// The command.
    pub cmd: Cmd,
    /// Attach allowed.
    pub attach: Option<bool>,
    /// Keep stdin open.
    pub open_stdin: Option<bool>,
    /// Wait for an attach before running.
    pub run_block: Option<bool>,
    /// The same flag as [`run_block`](Self::run_block) under the same key segment
    /// in another scope, which VIC 1.1 writes beside it.
    pub run_block_config: Option<bool>,
    /// Whether the session should be activated.
    pub active: Option<bool>,
    /// Allocate a TTY.
    pub tty: Option<bool>,
    /// Exit status; owned by the guest.
    pub exit_status: Option<i64>,
    /// `true` once started, or an error text; owned by the guest.
    pub started: Option<String>,
    /// Restart on exit.
    pub restart: Option<bool>,
    /// Signal to stop it.
    pub stop_signal: Option<String>,
    /// Diagnostics.
    pub diagnostics: Diagnostics,
    /// User to run as.
    pub user: Option<String>,
    /// Group to run as.
    pub group: Option<String>,
}

extra_config! { SessionConfig {
    common: "common" [read_only],
    detail: "detail" [read_write],
    cmd: "cmd" [read_only],
    attach: "attach" [read_only],
    open_stdin: "openstdin" [read_only],
    run_block: "runblock" [read_write],
    run_block_config: "runblock" [read_only],
    active: "active" [read_only],
    tty: "tty" [read_only],
    exit_status: "status" [read_write],
    started: "started" [read_write],
    restart: "restart" [read_only],
    stop_signal: "stopSignal" [read_only],
    diagnostics: "diagnostics" [read_only],
    user: "User" [read_only],
    group: "Group" [read_only],
}}

/// A range of IP addresses.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IpRange {
    /// First address.
    pub first: Option<Ip>,
    /// Last address.
    pub last: Option<Ip>,
}

extra_config! { IpRange {
    first: "first" [read_only],
    last: "last" [read_only],
}}

/// Addresses the guest assigned on a network.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AssignedNetwork {
    /// Gateway.
    pub gateway: IpNet,
    /// Name servers.
    pub nameservers: Vec<Ip>,
}

extra_config! { AssignedNetwork {
    gateway: "gateway" [read_write],
    nameservers: "dns" [read_write],
}}

/// A network containers can join.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerNetwork {
    /// Identity.
    pub common: Common,
    /// Network type: `bridge`, `external`, ….
    pub network_type: Option<String>,
    /// CIDRs routed through the gateway.
    pub destinations: Vec<IpNet>,
    /// Gateway and its network.
    pub gateway: IpNet,
    /// Default route for containers.
    pub default: Option<bool>,
    /// Name servers.
    pub nameservers: Vec<Ip>,
    /// Address pools.
    pub pools: Vec<IpRange>,
    /// Network-wide aliases.
    pub aliases: Vec<String>,
    /// Firewall trust level: 0 unspecified, 1 published, 2 open, 3 closed,
    /// 4 outbound, 5 peers.
    pub trust_level: Option<i64>,
    /// What the guest assigned.
    pub assigned: AssignedNetwork,
}

extra_config! { ContainerNetwork {
    common: "Common",
    network_type: "type" [read_write],
    destinations: "destinations" [read_only],
    gateway: "gateway" [read_only],
    default: "default" [read_only],
    nameservers: "dns" [read_only],
    pools: "pools" [read_only],
    aliases: "aliases" [hidden],
    trust_level: "TrustLevel",
    assigned: "assigned" [read_write],
}}

/// A vNIC of an executor and how to configure it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkEndpoint {
    /// Identity: name is the NIC alias, id its PCI slot.
    pub common: Common,
    /// Whether the address was given by the user.
    pub static_ip: Option<bool>,
    /// Address to assign.
    pub ip: Option<IpNet>,
    /// Address assigned; owned by the guest.
    pub assigned: IpNet,
    /// The network.
    pub network: ContainerNetwork,
    /// Exposed ports.
    pub ports: Vec<String>,
}

extra_config! { NetworkEndpoint {
    common: "Common",
    static_ip: "static" [read_only],
    ip: "ip" [read_only],
    assigned: "assigned" [read_write],
    network: "network" [read_only],
    ports: "ports" [read_only],
}}

/// A mount inside the executor.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MountSpec {
    /// What to mount.
    pub source: Option<Url>,
    /// Where.
    pub path: Option<String>,
    /// Mount options.
    pub mode: Option<String>,
    /// Copy data from the image on first mount: 1 never, 2 new.
    pub copy_mode: Option<i64>,
}

extra_config! { MountSpec {
    source: "source" [read_only],
    path: "dest" [read_only],
    mode: "mode" [read_only],
    copy_mode: "copymode" [read_only],
}}

/// Build and layout version.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Build {
    /// Version, e.g. `v1.1.0-rc3`.
    pub version: Option<String>,
    /// Build number.
    pub build_number: Option<String>,
    /// Git commit.
    pub git_commit: Option<String>,
    /// Build state.
    pub state: Option<String>,
    /// Build date.
    pub build_date: Option<String>,
    /// Data layout version; see [`crate::migrate`].
    pub plugin_version: Option<u32>,
}

extra_config! { Build {
    version: "Version",
    build_number: "BuildNumber",
    git_commit: "GitCommit",
    state: "State",
    build_date: "BuildDate",
    plugin_version: "PluginVersion",
}}

/// The configuration of an executor: a containerVM, or the VCH appliance itself
/// ([`VchConfig::init`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecutorConfig {
    /// Identity.
    pub common: ExecutorCommon,
    /// Creation time, nanoseconds since the epoch from layout version 9 on.
    pub create_time: Option<i64>,
    /// Diagnostics.
    pub diagnostics: Diagnostics,
    /// Sessions keyed by session ID.
    pub sessions: BTreeMap<String, SessionConfig>,
    /// Exec sessions keyed by exec ID.
    pub execs: BTreeMap<String, SessionConfig>,
    /// Mounts by name.
    pub mounts: BTreeMap<String, MountSpec>,
    /// Networks by name or role.
    pub networks: BTreeMap<String, NetworkEndpoint>,
    /// Host key for the interaction endpoint.
    pub key: Vec<u8>,
    /// Layer backing the container.
    pub layer_id: Option<String>,
    /// Image backing the container.
    pub image_id: Option<String>,
    /// Host name.
    pub hostname: Option<String>,
    /// Caller metadata.
    pub annotations: BTreeMap<String, String>,
    /// Repository the user asked for.
    pub repo: Option<String>,
    /// Build and layout version.
    pub version: Option<Build>,
    /// Asymmetric routing.
    pub asymmetric_routing: Option<bool>,
}

extra_config! { ExecutorConfig {
    common: "common" [read_only],
    create_time: "createtime" [read_write],
    diagnostics: "diagnostics" [read_only],
    sessions: "sessions" [read_only],
    execs: "execs" [read_only, non_persistent],
    mounts: "mounts" [read_only],
    networks: "networks" [read_only],
    key: "key" [read_only],
    layer_id: "layerid" [read_only],
    image_id: "imageid" [read_only],
    hostname: "hostname" [read_only],
    annotations: "annotations" [hidden],
    repo: "repo" [read_only],
    version: "version" [read_only],
    asymmetric_routing: "asymrouting" [read_only],
}}

/// How the appliance reaches vSphere.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Connection {
    /// SDK URL.
    pub target: Option<String>,
    /// User name.
    pub username: Option<String>,
    /// SSO token or password; never serialized to JSON.
    #[serde(skip)]
    pub token: Option<Secret<String>>,
    /// SHA-1 thumbprint of the target's certificate.
    pub target_thumbprint: Option<String>,
    /// Session keep-alive.
    pub keepalive: Option<Duration>,
}

extra_config! { Connection {
    target: "target" [read_only],
    username: "username" [read_only],
    token: "token" [secret],
    target_thumbprint: "target_thumbprint" [read_only],
    keepalive: "keepalive" [read_only],
}}

/// A certificate and its private key.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RawCertificate {
    /// Private key, PEM; never serialized to JSON.
    #[serde(skip)]
    pub key: Option<Secret<Vec<u8>>>,
    /// Certificate, PEM.
    pub cert: Vec<u8>,
}

extra_config! { RawCertificate {
    key: "Key" [secret],
    cert: "Cert",
}}

/// Certificates for inbound and outbound access.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Certificate {
    /// The appliance's own certificate.
    pub host_certificate: Option<RawCertificate>,
    /// CAs that validate clients, PEM.
    pub certificate_authorities: Vec<u8>,
    /// CAs that validate registries, PEM.
    pub registry_certificate_authorities: Vec<u8>,
}

extra_config! { Certificate {
    host_certificate: "HostCertificate" [read_only],
    certificate_authorities: "CertificateAuthorities" [read_only],
    registry_certificate_authorities: "RegistryCertificateAuthorities" [read_only],
}}

/// Image stores and volume locations.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Storage {
    /// Datastore URLs for images, top layer first.
    pub image_stores: Vec<Url>,
    /// Volume store roots by name.
    pub volume_locations: BTreeMap<String, Url>,
    /// Default scratch size in KB.
    pub scratch_size: Option<i64>,
}

extra_config! { Storage {
    image_stores: "image_stores" [read_only],
    volume_locations: "VolumeLocations" [read_only],
    scratch_size: "scratch_size" [read_only],
}}

/// Container networking of the VCH.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Network {
    /// The default bridge network.
    pub bridge_network: Option<String>,
    /// Networks containers may join, by name.
    pub container_networks: BTreeMap<String, ContainerNetwork>,
    /// Range for bridge networks.
    pub bridge_ip_range: Option<IpNet>,
    /// Width of each bridge network.
    pub bridge_network_width: Option<IpMask>,
}

extra_config! { Network {
    bridge_network: "bridge_network" [read_only],
    container_networks: "container_networks" [read_only],
    bridge_ip_range: "bridge-ip-range" [read_only],
    bridge_network_width: "bridge-net-width" [read_only],
}}

/// Where containers are created.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Container {
    /// Resource pools or vApps for containers.
    pub compute_resources: Vec<ObjectRef>,
    /// ISO that boots containers.
    pub bootstrap_image_path: Option<String>,
    /// Naming convention for containerVMs.
    pub container_name_convention: Option<String>,
}

extra_config! { Container {
    compute_resources: "ComputeResources" [read_only],
    bootstrap_image_path: "bootstrap_image_path" [read_only],
    container_name_convention: "ContainerNameConvention",
}}

/// Registry access lists.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Registry {
    /// Registries reached without TLS verification.
    pub insecure_registries: Vec<String>,
    /// The only registries allowed.
    pub whitelist_registries: Vec<String>,
}

extra_config! { Registry {
    insecure_registries: "insecure_registries" [read_only],
    whitelist_registries: "whitelist_registries" [read_only],
}}

/// The configuration of a Virtual Container Host, as the appliance sees it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VchConfig {
    /// The appliance's own executor config, with the sessions `docker-personality`,
    /// `port-layer`, `vicadmin` and the networks by role `client`, `public`,
    /// `management`, `bridge`.
    pub init: ExecutorConfig,
    /// vSphere connection.
    pub connection: Connection,
    /// Certificates.
    pub certificate: Certificate,
    /// Storage.
    pub storage: Storage,
    /// Networks.
    pub network: Network,
    /// Container placement.
    pub container: Container,
    /// Registries.
    pub registry: Registry,
    /// Whether vic-machine created the bridge network.
    pub create_bridge_network: Option<bool>,
    /// The vic-machine create options.
    pub vic_machine_create_options: StoredList<String>,
}

extra_config! { VchConfig {
    init: "init" [read_only],
    connection: "connect" [read_only],
    certificate: "cert" [read_only],
    storage: "storage" [read_only],
    network: "network" [read_only],
    container: "container" [read_only],
    registry: "registry" [read_only],
    create_bridge_network: "create_bridge_network" [read_only],
    vic_machine_create_options: "vic_machine_create_options" [read_only],
}}

impl VchConfig {
    /// The VCH name: the name in the appliance's own executor config.
    pub fn name(&self) -> Option<&str> {
        self.init.common.name.as_deref()
    }
}

/// Whether `key` is one VIC writes for a VCH or containerVM in `layout`: under the
/// visible root; the secretbox key [`SECRET_KEY_KEY`](crate::SECRET_KEY_KEY); or a
/// hidden key below a top-level key segment that [`VchConfig`] or
/// [`ExecutorConfig`] declares (so a field added to either is known at once), VIC
/// keys this crate does not model included. Keys that vSphere and other tools own
/// (`numa.…`, `answer.…`, `migrate.…`) are not.
pub fn is_vic_key(key: &str, layout: crate::Layout) -> bool {
    // First: the secret key shares the legacy root `guestinfo`.
    if key == crate::SECRET_KEY_KEY {
        return true;
    }
    if let Some(rest) = key.strip_prefix(layout.root()) {
        return rest.starts_with("./") || rest.starts_with("..");
    }
    VchConfig::fields()
        .iter()
        .chain(ExecutorConfig::fields())
        .any(|f| {
            // Below a top-level segment come a path, an entry, a list or a suffix.
            key.strip_prefix(f.spec().key())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '|', '~', '@']))
        })
}
