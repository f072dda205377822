//! `vch delete`: containerVMs, images, volumes (with `--force`), the appliance's
//! NICs, the bridge port group if this VCH created it, the appliance, its folders
//! and the resource pool — in that order, each step logged.

use std::sync::Arc;

use vic_portlayer::backend::Backend;
use vic_portlayer::events::EventHub;
use vic_portlayer::exec::{Exec, ExecSettings};
use vic_portlayer::storage::Storage;
use vic_portlayer::vsphere::VsphereBackend;
use vic_portlayer::ContainerId;
use vim25::mo;
use vim25::object::device;
use vim25::object::{DatastorePath, Folder, HostSystem, ResourcePool, VirtualMachine};
use vim25::types::{ManagedObjectReference, VirtualMachineConfigSpec, VirtualMachinePowerState};
use vim25::Client;

use super::{Doing, FoundVch, Log, VchError};

/// A VM in the VCH's resource pool.
struct PoolVm {
    reference: ManagedObjectReference,
    name: String,
    powered_on: bool,
}

/// Deletes the VCH `name`. Running containerVMs and volume stores are removed only
/// with `force`; without it, running containerVMs stop the delete before anything
/// is changed.
pub async fn delete(client: &Client, name: &str, force: bool, log: &Log) -> Result<(), VchError> {
    log.info("### Removing VCH ####");
    let vch = super::find(client, name).await?;
    let pool = vch.pool.clone().ok_or_else(|| {
        VchError::Invalid(format!("the appliance of {name} has no resource pool"))
    })?;
    let vms = pool_vms(client, &pool).await?;
    let containers: Vec<&PoolVm> = vms.iter().filter(|v| v.reference != vch.vm).collect();
    let running: Vec<&str> = containers
        .iter()
        .filter(|v| v.powered_on)
        .map(|v| v.name.as_str())
        .collect();
    if !running.is_empty() && !force {
        return Err(VchError::Invalid(format!(
            "{} containerVM(s) of {name} are running ({}): stop them or delete with --force",
            running.len(),
            running.join(", ")
        )));
    }
    let backend = backend_for(client, &vch).await?;
    let settings = ExecSettings::new(
        datastore_of(&vch).unwrap_or_default(),
        vch.config
            .container
            .bootstrap_image_path
            .as_deref()
            .and_then(DatastorePath::parse)
            .unwrap_or_else(|| DatastorePath::new("", "")),
    );
    let exec = Exec::new(backend.clone(), settings, EventHub::new(16));

    log.info("Removing VMs");
    for c in &containers {
        match c.name.parse::<ContainerId>() {
            Ok(id) => exec
                .remove(&id, force)
                .await
                .doing(format!("removing containerVM {}", c.name))?,
            Err(_) => {
                // Not named like a container: a VM someone put in the pool.
                let vm = VirtualMachine::new(client, c.reference.clone());
                if c.powered_on {
                    vm.power_off_and_wait()
                        .await
                        .doing(format!("powering off VM {}", c.name))?;
                }
                vm.destroy_and_wait()
                    .await
                    .doing(format!("removing VM {}", c.name))?;
            }
        }
        log.info(format!("Removed containerVM {}", c.name));
    }

    let storage = Storage::new(backend.clone());
    log.info("Removing images");
    for store in storage.image_stores().await.doing("listing image stores")? {
        storage
            .delete_image_store(&store.name)
            .await
            .doing(format!("removing image store {}", store.name))?;
        log.info(format!(
            "Removed image store {} ({})",
            store.name, store.root
        ));
    }

    if force {
        log.info("Removing volumes");
    }
    for (label, url) in &vch.config.storage.volume_locations {
        let root = DatastorePath::parse(&url.path)
            .unwrap_or_else(|| DatastorePath::new(&url.host, &url.path));
        if !force {
            log.info(format!(
                "Volume store {label} ({root}) kept; delete with --force to remove it"
            ));
            continue;
        }
        storage
            .create_volume_store(label, root.clone())
            .await
            .doing(format!("opening volume store {label}"))?;
        storage
            .delete_volume_store(label, true)
            .await
            .doing(format!("removing volume store {label}"))?;
        log.info(format!("Removed volume store {label} ({root})"));
    }

    let appliance = VirtualMachine::new(client, vch.vm.clone());
    if appliance
        .power_state()
        .await
        .doing("reading the appliance")?
        != VirtualMachinePowerState::PoweredOff
    {
        log.info("Powering off the appliance VM");
        appliance
            .power_off_and_wait()
            .await
            .doing("powering off the appliance")?;
    }
    log.info("Removing appliance VM network devices");
    let host = remove_nics(&appliance).await?;

    let bridge = vch
        .config
        .network
        .bridge_network
        .clone()
        .unwrap_or_default();
    if vch.config.create_bridge_network == Some(true) {
        match host {
            Some(host) => {
                log.info(format!("Removing bridge network {bridge}"));
                let ns = HostSystem::new(client, host)
                    .network_system()
                    .await
                    .doing("finding the host's network system")?;
                match ns.remove_port_group(&bridge).await {
                    Ok(()) => {}
                    // Already gone: nothing to do.
                    Err(vim25::Error::Fault { .. }) if !port_group_exists(&ns, &bridge).await => {}
                    Err(e) => return Err(e).doing(format!("removing port group {bridge}")),
                }
            }
            None => log.warn(format!(
                "Bridge network {bridge} was created by this VCH but its host is unknown; remove it by hand"
            )),
        }
    } else {
        log.info("Bridge network was not created during VCH deployment, leaving it there");
    }

    log.info(format!("Removing appliance VM {name}"));
    appliance
        .destroy_and_wait()
        .await
        .doing("removing the appliance VM")?;
    if let Some(dir) = vch.folder_path() {
        // Destroy leaves the folder when it holds files that were not the VM's.
        match backend.exists(&dir).await {
            Ok(true) => backend
                .delete_file(&dir)
                .await
                .doing(format!("removing {dir}"))?,
            Ok(false) => {}
            Err(e) => log.warn(format!("Could not check {dir}: {e}")),
        }
    }

    if let Some(folder) = &vch.folder {
        remove_vm_folder(client, folder, name, log).await?;
    }

    log.info(format!("Removing Resource Pool {name}"));
    let p: mo::ResourcePool = ResourcePool::new(client, pool.clone())
        .properties(&["vm", "resourcePool"])
        .await
        .doing("reading the resource pool")?;
    let (vms, pools) = (
        p.vm.unwrap_or_default().len(),
        p.resource_pool.unwrap_or_default().len(),
    );
    if vms == 0 && pools == 0 {
        ResourcePool::new(client, pool)
            .destroy_and_wait()
            .await
            .doing(format!("removing resource pool {name}"))?;
    } else {
        log.warn(format!(
            "Resource pool {name} still holds {} VM(s) and {} pool(s) that are not this VCH's; left in place",
            vms, pools
        ));
    }
    log.info("Completed successfully");
    Ok(())
}

fn datastore_of(vch: &FoundVch) -> Option<String> {
    vch.folder_path().map(|d| d.datastore)
}

async fn backend_for(client: &Client, vch: &FoundVch) -> Result<Arc<dyn Backend>, VchError> {
    let pool = vch.pool.clone().ok_or_else(|| {
        VchError::Invalid(format!(
            "the appliance of {} has no resource pool",
            vch.name
        ))
    })?;
    let placement = super::placement(client, vch, pool, None).await?;
    Ok(Arc::new(VsphereBackend::new(client.clone(), placement)))
}

async fn pool_vms(client: &Client, pool: &ManagedObjectReference) -> Result<Vec<PoolVm>, VchError> {
    let p: mo::ResourcePool = ResourcePool::new(client, pool.clone())
        .properties(&["vm"])
        .await
        .doing("reading the VCH's resource pool")?;
    let refs = p.vm.unwrap_or_default();
    Ok(super::read_vms(client, Some(&refs))
        .await?
        .into_iter()
        .map(|vm| PoolVm {
            powered_on: vm.power_state != Some(VirtualMachinePowerState::PoweredOff),
            name: vm.name,
            reference: vm.reference,
        })
        .collect())
}

/// Removes the appliance's NICs; returns the host it is on.
async fn remove_nics(vm: &VirtualMachine) -> Result<Option<ManagedObjectReference>, VchError> {
    let m: mo::VirtualMachine = vm
        .properties(&["config", "runtime"])
        .await
        .doing("reading the appliance's devices")?;
    let devices = m
        .config
        .as_ref()
        .map(|c| c.hardware.device.clone())
        .unwrap_or_default();
    let changes: Vec<_> = devices
        .into_iter()
        .filter(|d| device::as_ethernet_card(d).is_some())
        .map(|d| device::remove_spec(d, false))
        .collect();
    if !changes.is_empty() {
        vm.reconfigure_and_wait(&VirtualMachineConfigSpec {
            device_change: changes,
            ..Default::default()
        })
        .await
        .doing("removing the appliance's network devices")?;
    }
    Ok(m.runtime.and_then(|r| r.host))
}

async fn port_group_exists(ns: &vim25::object::HostNetworkSystem, name: &str) -> bool {
    match ns.network_info().await {
        Ok(info) => info.portgroup.iter().any(|pg| pg.spec.name == name),
        Err(_) => true,
    }
}

/// Removes the VCH's VM folder when it is named after the VCH and is empty now.
async fn remove_vm_folder(
    client: &Client,
    folder: &ManagedObjectReference,
    name: &str,
    log: &Log,
) -> Result<(), VchError> {
    if folder.type_ != "Folder" {
        return Ok(());
    }
    let f: mo::Folder = Folder::new(client, folder.clone())
        .properties(&["name", "childEntity", "parent"])
        .await
        .doing("reading the VCH's VM folder")?;
    // Never the datacenter's own VM folder (standalone hosts put VCHs there).
    let parent_is_dc = f.parent.as_ref().is_some_and(|p| p.type_ == "Datacenter");
    if f.name.as_deref() != Some(name) || parent_is_dc {
        return Ok(());
    }
    if !f.child_entity.unwrap_or_default().is_empty() {
        log.warn(format!("VM folder {name} is not empty; left in place"));
        return Ok(());
    }
    log.info(format!("Removing VM folder {name}"));
    Folder::new(client, folder.clone())
        .destroy_and_wait()
        .await
        .doing(format!("removing VM folder {name}"))
}
