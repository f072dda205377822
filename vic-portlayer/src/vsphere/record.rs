//! Reading VMs: one VM, every VM of the folder in one retrieval, and watches.
//!
//! All three build a [`VmRecord`] from the same property paths, kept as a map from
//! path to value: a retrieval fills it at once, a watch's updates edit it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use vim25::object::DatastorePath;
use vim25::property::{spec_for_objects, Retrieval, TryStreamExt, Watch};
use vim25::types::{
    AnyValue, ManagedObjectReference, ObjectContent, ObjectUpdate, ObjectUpdateKind,
    PropertyChangeOp, VirtualHardware, VirtualMachinePowerState,
};
use vim25::view::ContainerView;
use vim25::Client;

use super::vm_error;
use crate::backend::{
    apply_extra_config, extra_config_options, unescaped, PowerState, VmDetail, VmPredicate,
    VmRecord,
};
use crate::{Error, Result};

/// What every read asks for.
pub(super) const SUMMARY_PATHS: &[&str] = &[
    "name",
    "config.changeVersion",
    "config.extraConfig",
    "runtime.powerState",
    "config.files.vmPathName",
];

/// The devices, for [`VmDetail::Full`]. `config.hardware` rather than
/// `config.hardware.device`: the former arrives as one typed `VirtualHardware`
/// whose `device` list is already `AnyVirtualDevice`s, while a bare device array
/// arrives type-erased (the few other hardware fields cost nothing).
const HARDWARE_PATH: &str = "config.hardware";

/// A VM's properties by path.
type Props = HashMap<String, AnyValue>;

fn paths(detail: VmDetail) -> Vec<&'static str> {
    let mut p = SUMMARY_PATHS.to_vec();
    if detail == VmDetail::Full {
        p.push(HARDWARE_PATH);
    }
    p
}

fn props_of(content: ObjectContent) -> Props {
    content
        .prop_set
        .into_iter()
        .map(|p| (p.name, p.val))
        .collect()
}

/// The record of `vm` from its properties; `None` while the server has not yet
/// reported its name and power state (a VM still being created or registered).
fn record(
    vm: &ManagedObjectReference,
    props: &Props,
    detail: VmDetail,
) -> Result<Option<VmRecord>> {
    let Some(name) = props.get("name").and_then(AnyValue::as_str) else {
        return Ok(None);
    };
    let Some(power) = props.get("runtime.powerState") else {
        return Ok(None);
    };
    let corrupt = |message: String| Error::Corrupt {
        what: format!("VM {} ({name})", vm.value),
        message,
    };
    let power_state = match power.get::<VirtualMachinePowerState>() {
        Some(VirtualMachinePowerState::PoweredOn) => PowerState::PoweredOn,
        Some(VirtualMachinePowerState::PoweredOff) => PowerState::PoweredOff,
        Some(VirtualMachinePowerState::Suspended) => PowerState::Suspended,
        other => {
            return Err(corrupt(format!(
                "runtime.powerState {other:?} is not a known power state"
            )))
        }
    };
    let change_version = props
        .get("config.changeVersion")
        .and_then(AnyValue::as_str)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let options = extra_config_options(props.get("config.extraConfig")).map_err(|kind| {
        corrupt(format!(
            "config.extraConfig is a {kind}, not a list of options"
        ))
    })?;
    // The server's list in order, later entries winning and empty values deleting:
    // what vSphere applies, and what govmomi's simulator (which appends a changed
    // key instead of replacing it) reads the same as.
    let mut extra = BTreeMap::new();
    apply_extra_config(&mut extra, &options)?;
    let vmx_path = props
        .get("config.files.vmPathName")
        .and_then(AnyValue::as_str)
        .and_then(DatastorePath::parse);
    let devices = match (detail, props.get(HARDWARE_PATH)) {
        (VmDetail::Full, Some(h)) => h
            .downcast_ref::<VirtualHardware>()
            .map(|h| h.device.clone())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    Ok(Some(VmRecord {
        reference: vm.clone(),
        name: name.to_string(),
        change_version,
        power_state,
        extra_config: unescaped(&extra),
        vmx_path,
        devices,
    }))
}

/// The properties `paths` of one VM, from one retrieval.
async fn read_props(client: &Client, vm: &ManagedObjectReference, paths: &[&str]) -> Result<Props> {
    let spec = spec_for_objects("VirtualMachine", paths, std::slice::from_ref(vm));
    let mut retrieval = Retrieval::new(client.clone(), client.property_collector(), vec![spec]);
    let mut found = None;
    while let Some(page) = retrieval
        .next_page()
        .await
        .map_err(|e| vm_error(e, vm, "read", false))?
    {
        found = found.or(page.into_iter().find(|c| c.obj == *vm));
    }
    let content = found.ok_or_else(|| Error::not_found("VM", vm.value.clone()))?;
    Ok(props_of(content))
}

/// Reads one VM.
pub(super) async fn read_one(
    client: &Client,
    vm: &ManagedObjectReference,
    detail: VmDetail,
) -> Result<VmRecord> {
    let props = read_props(client, vm, &paths(detail)).await?;
    record(vm, &props, detail)?.ok_or_else(|| Error::Corrupt {
        what: format!("VM {}", vm.value),
        message: "the server reported no name or power state".into(),
    })
}

/// Every VM directly in `folder`, from one paged retrieval over a container view.
pub(super) async fn list(
    client: &Client,
    folder: &ManagedObjectReference,
    detail: VmDetail,
) -> Result<Vec<VmRecord>> {
    let view = ContainerView::create_in(client, folder, &["VirtualMachine"], false)
        .await
        .map_err(|e| folder_error(e, folder))?;
    let spec = view.filter_spec("VirtualMachine", &paths(detail));
    let mut retrieval = Retrieval::new(client.clone(), client.property_collector(), vec![spec]);
    let mut out = Vec::new();
    let read = async {
        while let Some(page) = retrieval.next_page().await? {
            for content in page {
                let vm = content.obj.clone();
                match record(&vm, &props_of(content), detail) {
                    Ok(Some(r)) => out.push(r),
                    Ok(None) => {}
                    // One unreadable VM must not hide the others.
                    Err(e) => tracing::warn!(vm = %vm.value, error = %e, "skipping a VM"),
                }
            }
        }
        Ok::<_, vim25::Error>(())
    }
    .await;
    if let Err(e) = view.destroy().await {
        tracing::debug!(error = %e, "destroying a container view failed (it expires with the session)");
    }
    read.map_err(|e| folder_error(e, folder))?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn folder_error(e: vim25::Error, folder: &ManagedObjectReference) -> Error {
    if e.fault_name() == Some("ManagedObjectNotFound") {
        Error::not_found("folder", folder.value.clone())
    } else {
        Error::Vim25(e)
    }
}

/// The path whose change makes [`wait`] read the summary paths again: every
/// reconfigure reports it on govmomi's simulator (0.24), which reports no
/// `config.extraConfig` or `config.changeVersion` change of its own. vSphere
/// reports those directly; there the extra read only repeats what the watch said.
const RECONFIGURED_PATH: &str = "config.hardware.device";

/// Waits for `until` on a watch of the summary paths (and [`RECONFIGURED_PATH`]);
/// the watch's private collector (and its filter) is destroyed before returning,
/// and in the background if the caller drops this future.
pub(super) async fn wait(
    client: &Client,
    vm: &ManagedObjectReference,
    limit: Duration,
    until: VmPredicate<'_>,
) -> Result<VmRecord> {
    let mut watched = SUMMARY_PATHS.to_vec();
    watched.push(RECONFIGURED_PATH);
    let spec = spec_for_objects("VirtualMachine", &watched, std::slice::from_ref(vm));
    let mut watch = Watch::create(client.clone(), &client.property_collector(), &spec)
        .await
        .map_err(|e| vm_error(e, vm, "watch", false))?;
    let outcome = tokio::time::timeout(limit, follow(client, &mut watch, vm, until)).await;
    if let Err(e) = watch.destroy().await {
        tracing::debug!(error = %e, "destroying a property collector failed (it expires with the session)");
    }
    match outcome {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            what: format!("VM {}", vm.value),
            limit,
        }),
    }
}

/// What one watch update asks of [`follow`].
#[derive(Debug, PartialEq)]
enum Step {
    /// The update was applied; evaluate the record.
    Applied,
    /// The VM was reconfigured in a way the update does not show: read it again.
    Reread,
    /// The VM is gone.
    Gone,
    /// The update is about another object.
    Ignore,
}

/// Applies `update` to the properties `props` of `vm`.
fn apply_update(vm: &ManagedObjectReference, props: &mut Props, update: ObjectUpdate) -> Step {
    if update.obj != *vm {
        return Step::Ignore;
    }
    if update.kind == ObjectUpdateKind::Leave {
        return Step::Gone;
    }
    let mut reread = false;
    for change in update.change_set {
        if change.name == RECONFIGURED_PATH {
            // Only the initial update (Enter) carries everything else with it.
            reread |= update.kind == ObjectUpdateKind::Modify;
            continue;
        }
        let removed = matches!(
            change.op,
            PropertyChangeOp::Remove | PropertyChangeOp::IndirectRemove
        );
        match change.val {
            Some(v) if !removed => {
                props.insert(change.name, v);
            }
            _ => {
                props.remove(&change.name);
            }
        }
    }
    if reread {
        Step::Reread
    } else {
        Step::Applied
    }
}

/// Applies the watch's updates to the VM's properties until `until` holds for the
/// record they make.
async fn follow(
    client: &Client,
    watch: &mut Watch<Client>,
    vm: &ManagedObjectReference,
    until: VmPredicate<'_>,
) -> Result<VmRecord> {
    let gone = || Error::not_found("VM", vm.value.clone());
    let mut props = Props::new();
    loop {
        let update = match watch.try_next().await {
            Ok(Some(u)) => u,
            Ok(None) => return Err(gone()),
            Err(e) => return Err(vm_error(e, vm, "wait", false)),
        };
        match apply_update(vm, &mut props, update) {
            Step::Ignore => continue,
            Step::Gone => return Err(gone()),
            Step::Applied => {}
            Step::Reread => props = read_props(client, vm, SUMMARY_PATHS).await?,
        }
        if let Some(r) = record(vm, &props, VmDetail::Summary)? {
            if until(&r) {
                return Ok(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vim25::types::{OptionValue, PropertyChange};

    fn vm() -> ManagedObjectReference {
        ManagedObjectReference::new("VirtualMachine", "vm-1")
    }

    fn change(name: &str, val: Option<AnyValue>, op: PropertyChangeOp) -> PropertyChange {
        PropertyChange {
            name: name.into(),
            op,
            val,
            ..Default::default()
        }
    }

    fn update(kind: ObjectUpdateKind, changes: Vec<PropertyChange>) -> ObjectUpdate {
        ObjectUpdate {
            kind,
            obj: vm(),
            change_set: changes,
            ..Default::default()
        }
    }

    fn extra(key: &str, value: &str) -> AnyValue {
        AnyValue::Array {
            item_type: "OptionValue".into(),
            items: vec![AnyValue::Object(Box::new(OptionValue {
                key: key.into(),
                value: Some(AnyValue::from(value)),
                ..Default::default()
            }))],
        }
    }

    /// What vSphere sends (built here by hand: the simulator never sends a
    /// `config.extraConfig` change): an extraConfig change lands in the record
    /// without a second read.
    #[test]
    fn extra_config_changes_apply_directly() {
        let mut props = Props::new();
        let enter = update(
            ObjectUpdateKind::Enter,
            vec![
                change(
                    "name",
                    Some(AnyValue::from("c1".to_string())),
                    PropertyChangeOp::Assign,
                ),
                change(
                    "runtime.powerState",
                    Some(AnyValue::Enum {
                        type_name: "VirtualMachinePowerState".into(),
                        value: "poweredOn".into(),
                    }),
                    PropertyChangeOp::Assign,
                ),
                change(
                    RECONFIGURED_PATH,
                    Some(AnyValue::Null),
                    PropertyChangeOp::Assign,
                ),
            ],
        );
        assert_eq!(apply_update(&vm(), &mut props, enter), Step::Applied);
        let modify = update(
            ObjectUpdateKind::Modify,
            vec![change(
                "config.extraConfig",
                Some(extra("guestinfo.vice./sessions|a/started", "true")),
                PropertyChangeOp::Assign,
            )],
        );
        assert_eq!(apply_update(&vm(), &mut props, modify), Step::Applied);
        let r = record(&vm(), &props, VmDetail::Summary).unwrap().unwrap();
        assert_eq!(r.power_state, PowerState::PoweredOn);
        assert_eq!(
            r.extra_config
                .get("guestinfo.vice./sessions|a/started")
                .map(String::as_str),
            Some("true")
        );
        let removed = update(
            ObjectUpdateKind::Modify,
            vec![change("config.extraConfig", None, PropertyChangeOp::Remove)],
        );
        assert_eq!(apply_update(&vm(), &mut props, removed), Step::Applied);
        assert!(!props.contains_key("config.extraConfig"));
    }

    /// What the simulator sends on a reconfigure: the device list only, which
    /// asks for a read; other objects and a leave are told apart.
    #[test]
    fn device_changes_ask_for_a_read() {
        let mut props = Props::new();
        let modify = update(
            ObjectUpdateKind::Modify,
            vec![change(
                RECONFIGURED_PATH,
                Some(AnyValue::Null),
                PropertyChangeOp::Assign,
            )],
        );
        assert_eq!(apply_update(&vm(), &mut props, modify), Step::Reread);
        assert!(props.is_empty());
        let mut other = update(ObjectUpdateKind::Modify, Vec::new());
        other.obj = ManagedObjectReference::new("VirtualMachine", "vm-2");
        assert_eq!(apply_update(&vm(), &mut props, other), Step::Ignore);
        let leave = update(ObjectUpdateKind::Leave, Vec::new());
        assert_eq!(apply_update(&vm(), &mut props, leave), Step::Gone);
    }
}
