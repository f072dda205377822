//! Events about the VCH's VMs, and the port groups its VMs attach to.
//!
//! Events are read through a history collector filtered to the VCH's VM folder and
//! everything below it, and to [`VM_EVENT_TYPES`]; each read makes its collector
//! and destroys it at the end. When that folder is the datacenter's own VM folder
//! (a standalone ESXi host), the filter names the datacenter instead: for VM
//! events the two select the same events (every VM of a datacenter lives under
//! its VM folder), and govmomi's simulator, which matches an entity filter only
//! against the entities an event names, matches the datacenter but never a
//! folder.
//!
//! That simulator (0.24) can deadlock when a collector is destroyed while an
//! event is being posted, after which no event post or task finishes; the port
//! layer's tests keep event reads apart from the calls that post events.

use vim25::mo;
use vim25::object::{ethernet_card_backing, EventFilter, EventManager};
use vim25::property::{spec_for_objects, Retrieval};
use vim25::types::{
    AnyEvent, AnyValue, AnyVirtualDeviceBackingInfo, DateTime, EventFilterSpecRecursionOption,
    ManagedObjectReference, Tag,
};

use super::{VsphereBackend, VM_EVENT_TYPES};
use crate::backend::VmEvent;
use crate::{Error, Result};

/// How many events the collector keeps in view (the most vSphere allows).
const COLLECTOR_WINDOW: i32 = 1000;

/// The tag vSphere puts on a distributed switch's uplink port group, which no VM
/// attaches to.
const UPLINK_TAG: &str = "SYSTEM/DVS.UPLINKPG";

/// The entity the event filter names: see the module docs.
async fn event_scope(b: &VsphereBackend) -> Result<ManagedObjectReference> {
    b.event_scope
        .get_or_try_init(|| async {
            let dc: mo::Datacenter = b.datacenter().properties(&["vmFolder"]).await?;
            Ok::<_, Error>(if dc.vm_folder.as_ref() == Some(&b.placement.folder) {
                b.placement.datacenter.clone()
            } else {
                b.placement.folder.clone()
            })
        })
        .await
        .cloned()
}

pub(super) async fn vm_events(
    b: &VsphereBackend,
    since: Option<&DateTime>,
) -> Result<Vec<VmEvent>> {
    let scope = event_scope(b).await?;
    let mut out: Vec<VmEvent> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut from = since.cloned();
    loop {
        let (window, read) = read_window(b, &scope, from.as_ref()).await?;
        let before = out.len();
        let newest = read
            .iter()
            .max_by_key(|e| vim25::object::parse_date_time(e.created_time.as_str()))
            .map(|e| e.created_time.clone());
        out.extend(
            read.iter()
                // Servers that ignore the filter's time window (the simulator) are
                // held to it.
                .filter(|e| window.in_time_window(e))
                .filter(|e| seen.insert(e.key))
                .map(vm_event),
        );
        // A full collector may have left later events out: read on from the
        // newest one seen, until a window brings nothing new.
        if read.len() < COLLECTOR_WINDOW as usize || out.len() == before {
            break;
        }
        from = newest;
    }
    // Unique by key already (`seen`).
    out.sort_by_key(|e| e.key);
    Ok(out)
}

/// The events of one collector over `scope` from `since` on, page by page; the
/// collector is destroyed before returning.
async fn read_window(
    b: &VsphereBackend,
    scope: &ManagedObjectReference,
    since: Option<&DateTime>,
) -> Result<(EventFilter, Vec<AnyEvent>)> {
    let mut filter = EventFilter::new()
        .entity(scope, EventFilterSpecRecursionOption::All)
        .event_types(VM_EVENT_TYPES)
        .max_count(COLLECTOR_WINDOW);
    if let Some(t) = since {
        filter = filter.since(t.clone());
    }
    let mut collector = EventManager::new(&b.client)?
        .create_collector(&filter)
        .await?;
    let read = async {
        collector.rewind().await?;
        let mut all: Vec<AnyEvent> = Vec::new();
        loop {
            let page = collector.read_next(b.event_page).await?;
            if page.is_empty() {
                break;
            }
            all.extend(page);
        }
        Ok::<_, vim25::Error>(all)
    }
    .await;
    if let Err(e) = collector.destroy().await {
        tracing::debug!(error = %e, "destroying an event collector failed (it expires with the session)");
    }
    Ok((filter, read?))
}

fn vm_event(e: &AnyEvent) -> VmEvent {
    VmEvent {
        key: e.key,
        kind: e.type_name().to_string(),
        vm: e.vm.as_ref().map(|a| a.vm.clone()),
        vm_name: e
            .vm
            .as_ref()
            .map(|a| a.name.clone())
            .filter(|n| !n.is_empty()),
        created: e.created_time.clone(),
        message: e.full_formatted_message.clone().filter(|m| !m.is_empty()),
    }
}

/// The datacenter's standard and distributed port groups (not uplinks), with their
/// names, standard ones first, each kind by name.
async fn networks(b: &VsphereBackend) -> Result<Vec<(ManagedObjectReference, String)>> {
    let dc: mo::Datacenter = b.datacenter().properties(&["network"]).await?;
    let refs = dc.network.unwrap_or_default();
    let of = |kind: &str| -> Vec<ManagedObjectReference> {
        refs.iter().filter(|r| r.type_ == kind).cloned().collect()
    };
    let (standard, distributed) = (of("Network"), of("DistributedVirtualPortgroup"));
    let mut specs = Vec::new();
    if !standard.is_empty() {
        specs.push(spec_for_objects("Network", &["name"], &standard));
    }
    if !distributed.is_empty() {
        specs.push(spec_for_objects(
            "DistributedVirtualPortgroup",
            &["name", "tag"],
            &distributed,
        ));
    }
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let mut retrieval = Retrieval::new(b.client.clone(), b.client.property_collector(), specs);
    let mut out = Vec::new();
    while let Some(page) = retrieval.next_page().await? {
        for c in page {
            let Some(name) = c.get::<String>("name") else {
                continue;
            };
            let uplink = c
                .get::<AnyValue>("tag")
                .and_then(|t| match t {
                    AnyValue::Array { items, .. } => Some(items),
                    _ => None,
                })
                .unwrap_or_default()
                .iter()
                .filter_map(|t| t.downcast_ref::<Tag>())
                .any(|t| t.key == UPLINK_TAG);
            if !uplink {
                out.push((c.obj, name));
            }
        }
    }
    out.sort_by(|a, b| {
        let rank = |r: &ManagedObjectReference| r.type_ != "Network";
        (rank(&a.0), &a.1).cmp(&(rank(&b.0), &b.1))
    });
    Ok(out)
}

pub(super) async fn network_backing(
    b: &VsphereBackend,
    name: &str,
) -> Result<AnyVirtualDeviceBackingInfo> {
    let found = networks(b)
        .await?
        .into_iter()
        .find(|(_, n)| n == name)
        .ok_or_else(|| Error::not_found("port group", name))?;
    Ok(ethernet_card_backing(&b.client, &found.0).await?)
}

pub(super) async fn port_groups(b: &VsphereBackend) -> Result<Vec<String>> {
    let mut names: Vec<String> = networks(b).await?.into_iter().map(|(_, n)| n).collect();
    names.sort();
    names.dedup();
    Ok(names)
}
