//! Reading VMs: one VM, every VM of the folder in one retrieval, and watches.
//!
//! All three build a [`VmRecord`] from the same property paths, kept as a map from
//! path to value: a retrieval fills it at once, a watch's updates edit it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use vim25::object::DatastorePath;
use vim25::property::{spec_for_objects, Retrieval, TryStreamExt, Watch};
use vim25::types::{
    AnyOptionValue, AnyValue, ManagedObjectReference, ObjectContent, ObjectUpdateKind, OptionValue,
    PropertyChangeOp, VirtualHardware, VirtualMachinePowerState,
};
use vim25::view::ContainerView;
use vim25::Client;

use super::vm_error;
use crate::backend::{apply_extra_config, unescaped, PowerState, VmDetail, VmPredicate, VmRecord};
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
    let options: Vec<AnyOptionValue> = match props.get("config.extraConfig") {
        None | Some(AnyValue::Null) => Vec::new(),
        Some(AnyValue::Array { items, .. }) => items
            .iter()
            .filter_map(|i| i.downcast_ref::<OptionValue>())
            .map(|o| AnyOptionValue::from(o.clone()))
            .collect(),
        Some(other) => {
            return Err(corrupt(format!(
                "config.extraConfig is a {}, not a list of options",
                other.kind()
            )))
        }
    };
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

/// Reads one VM.
pub(super) async fn read_one(
    client: &Client,
    vm: &ManagedObjectReference,
    detail: VmDetail,
) -> Result<VmRecord> {
    let spec = spec_for_objects("VirtualMachine", &paths(detail), std::slice::from_ref(vm));
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
    record(vm, &props_of(content), detail)?.ok_or_else(|| Error::Corrupt {
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

/// Waits for `until` on a watch of the summary paths; the watch's private collector
/// (and its filter) is destroyed before returning, and in the background if the
/// caller drops this future.
pub(super) async fn wait(
    client: &Client,
    vm: &ManagedObjectReference,
    limit: Duration,
    until: VmPredicate<'_>,
) -> Result<VmRecord> {
    let spec = spec_for_objects("VirtualMachine", SUMMARY_PATHS, std::slice::from_ref(vm));
    let mut watch = Watch::create(client.clone(), &client.property_collector(), &spec)
        .await
        .map_err(|e| vm_error(e, vm, "watch", false))?;
    let outcome = tokio::time::timeout(limit, follow(&mut watch, vm, until)).await;
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

/// Applies the watch's updates to the VM's properties until `until` holds for the
/// record they make.
async fn follow(
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
        if update.obj != *vm {
            continue;
        }
        if update.kind == ObjectUpdateKind::Leave {
            return Err(gone());
        }
        for change in update.change_set {
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
        if let Some(r) = record(vm, &props, VmDetail::Summary)? {
            if until(&r) {
                return Ok(r);
            }
        }
    }
}
