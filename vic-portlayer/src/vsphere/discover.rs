//! Finding (and creating where missing) where a VCH's things go.

use vim25::find::Finder;
use vim25::methods;
use vim25::mo;
use vim25::object::{Datacenter, Folder};
use vim25::property::Retrieval;
use vim25::types::ManagedObjectReference;
use vim25::view::ContainerView;
use vim25::Client;

use super::Placement;
use crate::{Error, Result};

/// vSphere's limit on an inventory name.
const MAX_NAME: usize = 80;

pub(super) async fn discover(
    client: &Client,
    vch_name: &str,
    datastore: Option<&str>,
) -> Result<Placement> {
    check_name(vch_name)?;
    let datacenter = match Finder::new(client).default_of("Datacenter").await {
        Ok(r) => r,
        Err(vim25::Error::MultipleFound { count, .. }) => {
            return Err(Error::InvalidInput(format!(
                "the inventory holds {count} datacenters; the VCH is placed in the \
                 default one, which exists only when there is exactly one"
            )))
        }
        Err(vim25::Error::NotFound(_)) => return Err(Error::not_found("datacenter", "(any)")),
        Err(e) => return Err(e.into()),
    };
    let dc: mo::Datacenter = Datacenter::new(client, datacenter.clone())
        .properties(&["vmFolder", "hostFolder"])
        .await?;
    let vm_folder = dc
        .vm_folder
        .ok_or_else(|| Error::not_found("VM folder of datacenter", datacenter.value.clone()))?;
    let host_folder = dc
        .host_folder
        .ok_or_else(|| Error::not_found("host folder of datacenter", datacenter.value.clone()))?;
    let folder = vch_folder(client, &vm_folder, vch_name).await?;
    let (pool, host) = default_pool(client, &host_folder).await?;
    let datastore = pick_datastore(client, &datacenter, datastore).await?;
    let appliance = match find_child(client, &folder, vch_name).await? {
        Some(vm) if vm.type_ == "VirtualMachine" => Some(vm),
        _ => None,
    };
    Ok(Placement {
        datacenter,
        folder,
        pool,
        host,
        datastore,
        vch_dir: vch_name.to_string(),
        appliance,
    })
}

/// A VCH name must work as an inventory name and as one datastore path segment.
fn check_name(name: &str) -> Result<()> {
    let bad = |c: char| c.is_control() || matches!(c, '/' | '\\' | '[' | ']' | '%');
    if name.is_empty() || name.len() > MAX_NAME || name.chars().any(bad) || name.starts_with('.') {
        return Err(Error::InvalidInput(format!(
            "{name:?} cannot name a VCH: it must be 1 to {MAX_NAME} bytes, not start with \
             '.', and hold no '/', '\\', '[', ']', '%' or control characters"
        )));
    }
    Ok(())
}

/// The child of `parent` named `name` (any type), through the `SearchIndex` when
/// the server has one.
pub(super) async fn find_child(
    client: &Client,
    parent: &ManagedObjectReference,
    name: &str,
) -> Result<Option<ManagedObjectReference>> {
    match client.service_content().search_index.clone() {
        Some(index) => match methods::find_child(client, &index, parent, name).await {
            Ok(found) => Ok(found),
            Err(e) if e.fault_name() == Some("ManagedObjectNotFound") => {
                Err(Error::not_found("folder", parent.value.clone()))
            }
            Err(e) => Err(e.into()),
        },
        None => {
            let children = Folder::new(client, parent.clone()).children().await?;
            let names = Finder::new(client).names(&children).await?;
            Ok(children
                .into_iter()
                .find(|c| names.get(c).map(String::as_str) == Some(name)))
        }
    }
}

/// The folder `name` under `vm_folder`, created when missing; `vm_folder` itself
/// where it takes no sub-folders (a standalone ESXi host).
async fn vch_folder(
    client: &Client,
    vm_folder: &ManagedObjectReference,
    name: &str,
) -> Result<ManagedObjectReference> {
    let parent = Folder::new(client, vm_folder.clone());
    let f: mo::Folder = parent.properties(&["childType"]).await?;
    if !f
        .child_type
        .unwrap_or_default()
        .iter()
        .any(|t| t == "Folder")
    {
        tracing::debug!(
            folder = %vm_folder.value,
            "the VM folder takes no sub-folders (standalone host); the VCH uses it as is"
        );
        return Ok(vm_folder.clone());
    }
    match find_child(client, vm_folder, name).await? {
        Some(found) if found.type_ == "Folder" => return Ok(found),
        Some(found) => {
            return Err(Error::InvalidInput(format!(
                "a {} named {name:?} is where the VCH's VM folder belongs ({})",
                found.type_, found.value
            )))
        }
        None => {}
    }
    match parent.create_folder(name).await {
        Ok(created) => {
            tracing::info!(folder = name, "created the VCH's VM folder");
            Ok(created.reference().clone())
        }
        // Another client created it meanwhile: use theirs.
        Err(e) if e.fault_name() == Some("DuplicateName") => {
            match find_child(client, vm_folder, name).await? {
                Some(found) if found.type_ == "Folder" => Ok(found),
                _ => Err(Error::Vim25(e)),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The root pool of the first cluster (by name), else of the first standalone host
/// with that host.
async fn default_pool(
    client: &Client,
    host_folder: &ManagedObjectReference,
) -> Result<(ManagedObjectReference, Option<ManagedObjectReference>)> {
    let view = ContainerView::create_in(client, host_folder, &["ComputeResource"], true).await?;
    let spec = view.filter_spec("ComputeResource", &["name", "resourcePool", "host"]);
    let mut retrieval = Retrieval::new(client.clone(), client.property_collector(), vec![spec]);
    let mut contents = Vec::new();
    let read = async {
        while let Some(page) = retrieval.next_page().await? {
            contents.extend(page);
        }
        Ok::<_, vim25::Error>(())
    }
    .await;
    let _ = view.destroy().await;
    read?;
    let mut candidates = Vec::new();
    for c in contents {
        let Some(pool) = c.get::<ManagedObjectReference>("resourcePool") else {
            continue;
        };
        let name: String = c.get("name").unwrap_or_default();
        let cluster = c.obj.type_ == "ClusterComputeResource";
        let host = if cluster {
            None
        } else {
            c.get::<Vec<ManagedObjectReference>>("host")
                .and_then(|hosts| hosts.into_iter().next())
        };
        candidates.push((!cluster, name, pool, host));
    }
    candidates.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    candidates
        .into_iter()
        .next()
        .map(|(_, _, pool, host)| (pool, host))
        .ok_or_else(|| Error::not_found("compute resource", "(any, in the datacenter)"))
}

/// The datastore named `wanted`, else the first by name.
async fn pick_datastore(
    client: &Client,
    datacenter: &ManagedObjectReference,
    wanted: Option<&str>,
) -> Result<String> {
    let mut names: Vec<String> = datastores(client, datacenter)
        .await?
        .into_iter()
        .map(|d| d.name)
        .collect();
    names.sort();
    names.dedup();
    match wanted {
        Some(w) if names.iter().any(|n| n == w) => Ok(w.to_string()),
        Some(w) => Err(Error::not_found("datastore", w)),
        None => names
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found("datastore", "(any, in the datacenter)")),
    }
}

/// One datastore of a datacenter.
pub(super) struct DatastoreEntry {
    pub(super) reference: ManagedObjectReference,
    pub(super) name: String,
    pub(super) browser: Option<ManagedObjectReference>,
}

/// The datastores below `datacenter`, from one retrieval over a view. (Not the
/// datacenter's `datastore` list: govmomi's simulator of a standalone host lists a
/// datastore there under a reference it does not know.)
pub(super) async fn datastores(
    client: &Client,
    datacenter: &ManagedObjectReference,
) -> Result<Vec<DatastoreEntry>> {
    let view = ContainerView::create_in(client, datacenter, &["Datastore"], true).await?;
    let spec = view.filter_spec("Datastore", &["name", "browser"]);
    let mut retrieval = Retrieval::new(client.clone(), client.property_collector(), vec![spec]);
    let mut out = Vec::new();
    let read = async {
        while let Some(page) = retrieval.next_page().await? {
            for c in page {
                let Some(name) = c.get::<String>("name") else {
                    continue;
                };
                let browser = c.get::<ManagedObjectReference>("browser");
                out.push(DatastoreEntry {
                    reference: c.obj,
                    name,
                    browser,
                });
            }
        }
        Ok::<_, vim25::Error>(())
    }
    .await;
    let _ = view.destroy().await;
    read?;
    Ok(out)
}
