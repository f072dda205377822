//! What the agent writes back through `ReconfigVM`: sparse values of the typed model
//! (only the runtime fields the guest owns), encoded in the VM's key layout, so
//! that no key is ever spelled here and no key of others is touched.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use vic_config::model::{ExecutorConfig, NetworkEndpoint, SessionConfig, VchConfig};
use vic_config::types::{Ip, IpMask, IpNet};
use vic_config::{key_of, EncodeOptions, ExtraConfig, Layout};
use vim25::object::VirtualMachine;
use vim25::types::ManagedObjectReference;

use super::{Error, VmSnapshot};

/// The roles of the appliance's networks that get an address.
const ADDRESSED_ROLES: &[&str] = &["client", "public", "management"];

/// What [`appliance_up`] did.
#[derive(Debug, PartialEq)]
pub(crate) enum Reported {
    /// Values were written; the roles that got an address.
    Written { roles: Vec<String> },
    /// The appliance showed everything already.
    Already,
}

/// Unix seconds now, as the model's times are.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The runtime fields of a VCH config that the appliance's agent writes.
const APPLIANCE_FIELDS: &[&str] = &[
    "init.networks.*.assigned.ip",
    "init.networks.*.assigned.mask",
    "init.sessions.*.started",
    "init.sessions.*.exit_status",
    "init.sessions.*.detail.start_time",
];

/// The runtime fields of a containerVM's executor config that its agent writes.
const SESSION_FIELDS: &[&str] = &[
    "sessions.*.started",
    "sessions.*.exit_status",
    "sessions.*.detail.start_time",
    "sessions.*.detail.stop_time",
];

/// The keys of the sparse `value`, in `layout`, that belong to `fields` (field
/// paths of `T`). Only those: the sparse value's map index keys list only its own
/// entries and would hide the others'.
fn encode_sparse<T: ExtraConfig>(
    value: &T,
    fields: &[&str],
    layout: Layout,
) -> Result<BTreeMap<String, String>, Error> {
    let patterns = fields
        .iter()
        .map(|f| key_of::<T>(f, layout))
        .collect::<Result<Vec<_>, _>>()?;
    let mut map = vic_config::to_extra_config_with(
        value,
        EncodeOptions {
            layout,
            ..EncodeOptions::default()
        },
    )?;
    map.retain(|k, _| patterns.iter().any(|p| p.matches(k)));
    Ok(map)
}

/// Sets the keys of `sparse` that differ from `current` on `vm` (every key of
/// `sparse` when `current` is `None`); returns how many.
async fn write<T: ExtraConfig>(
    client: &vim25::Client,
    vm: &ManagedObjectReference,
    layout: Layout,
    current: Option<&BTreeMap<String, String>>,
    (sparse, fields): (&T, &[&str]),
) -> Result<usize, Error> {
    let desired = encode_sparse(sparse, fields, layout)?;
    let empty = BTreeMap::new();
    // Nothing is owned: only sets, never deletions.
    let changes =
        vic_config::delta::diff(current.unwrap_or(&empty), &desired, &BTreeSet::new(), None);
    if changes.is_empty() {
        return Ok(0);
    }
    let options = vic_config::option_value::changes_to_option_values(&changes);
    VirtualMachine::new(client, vm.clone())
        .update_extra_config(options)
        .await?
        .wait()
        .await?;
    Ok(changes.len())
}

/// The appliance's report: `127.0.0.1/8` assigned on the client, public and
/// management networks (those it has), every session started with status 0.
pub(crate) async fn appliance_up(
    client: &vim25::Client,
    vm: &VmSnapshot,
    config: &VchConfig,
) -> Result<Reported, Error> {
    let sparse = appliance_report(config, now_unix());
    let roles: Vec<String> = sparse.init.networks.keys().cloned().collect();
    // Already up: every value but the start time is there.
    let mut probe = sparse.clone();
    for s in probe.init.sessions.values_mut() {
        s.detail.start_time = None;
    }
    let layout = Layout::detect_map(&vm.extra_config);
    let missing = encode_sparse(&probe, APPLIANCE_FIELDS, layout)?
        .iter()
        .any(|(k, v)| vm.extra_config.get(k) != Some(v));
    if !missing {
        return Ok(Reported::Already);
    }
    write(
        client,
        &vm.reference,
        layout,
        Some(&vm.extra_config),
        (&sparse, APPLIANCE_FIELDS),
    )
    .await?;
    Ok(Reported::Written { roles })
}

/// The sparse VCH config an appliance's agent reports at `now`.
pub(crate) fn appliance_report(config: &VchConfig, now: i64) -> VchConfig {
    let mut sparse = VchConfig::default();
    let loopback = IpNet {
        ip: Some(Ip::from(IpAddr::V4(Ipv4Addr::LOCALHOST))),
        mask: IpMask::v4_prefix(8),
    };
    for role in ADDRESSED_ROLES {
        if config.init.networks.contains_key(*role) {
            let endpoint = NetworkEndpoint {
                assigned: loopback.clone(),
                ..Default::default()
            };
            sparse.init.networks.insert(role.to_string(), endpoint);
        }
    }
    for name in config.init.sessions.keys() {
        let mut s = SessionConfig {
            started: Some("true".into()),
            exit_status: Some(0),
            ..Default::default()
        };
        s.detail.start_time = Some(now);
        sparse.init.sessions.insert(name.clone(), s);
    }
    sparse
}

/// The runtime values of one session of a containerVM.
#[derive(Debug, Default, Clone)]
pub(crate) struct SessionReport {
    /// `true`, or the error text.
    pub(crate) started: Option<String>,
    /// Exit status.
    pub(crate) status: Option<i64>,
    /// Start time (Unix seconds).
    pub(crate) start_time: Option<i64>,
    /// Stop time (Unix seconds).
    pub(crate) stop_time: Option<i64>,
}

/// Writes `report` for session `session` of the containerVM `vm` (whose
/// extraConfig was `current` when the run began: for its key layout).
pub(crate) async fn session(
    client: &vim25::Client,
    vm: &ManagedObjectReference,
    current: &BTreeMap<String, String>,
    session: &str,
    report: SessionReport,
) -> Result<(), Error> {
    let mut s = SessionConfig {
        started: report.started,
        exit_status: report.status,
        ..Default::default()
    };
    s.detail.start_time = report.start_time;
    s.detail.stop_time = report.stop_time;
    let mut sparse = ExecutorConfig::default();
    sparse.sessions.insert(session.to_string(), s);
    // Every value is sent, whatever an older read of the VM said.
    let layout = Layout::detect_map(current);
    write(client, vm, layout, None, (&sparse, SESSION_FIELDS))
        .await
        .map(drop)
}

/// Powers `vm` off; a VM that is off already is fine.
pub(crate) async fn power_off(
    client: &vim25::Client,
    vm: &ManagedObjectReference,
) -> Result<(), Error> {
    match VirtualMachine::new(client, vm.clone())
        .power_off_and_wait()
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if e.fault_name() == Some("InvalidPowerState") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appliance_report_has_only_runtime_keys() {
        let mut config = VchConfig::default();
        for role in ["client", "bridge", "management"] {
            config
                .init
                .networks
                .insert(role.into(), NetworkEndpoint::default());
        }
        config
            .init
            .sessions
            .insert("port-layer".into(), SessionConfig::default());
        let map = encode_sparse(
            &appliance_report(&config, 7),
            APPLIANCE_FIELDS,
            Layout::Current,
        )
        .unwrap();
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "guestinfo.vice..init.networks|client.assigned.IP",
                "guestinfo.vice..init.networks|client.assigned.Mask",
                "guestinfo.vice..init.networks|management.assigned.IP",
                "guestinfo.vice..init.networks|management.assigned.Mask",
                "guestinfo.vice..init.sessions|port-layer.detail.starttime",
                "guestinfo.vice..init.sessions|port-layer.started",
                "guestinfo.vice..init.sessions|port-layer.status",
            ],
            "{map:?}"
        );
        assert_eq!(
            map["guestinfo.vice..init.networks|client.assigned.IP"],
            "fwAAAQ=="
        );
        assert_eq!(
            map["guestinfo.vice..init.networks|client.assigned.Mask"],
            "/wAAAA=="
        );
    }
}
