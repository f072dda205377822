//! `vm-tour --url URL [--thumbprint TP]`: seven everyday steps, each numbered and printed.

use clap::Parser;
use std::collections::BTreeMap;
use std::process::ExitCode;
use vic_config::{extra_config, option_value};
use vim25::find::Finder;
use vim25::mo::AnyManagedObject;
use vim25::property::{TryStreamExt, Watch};
use vim25::types::VirtualMachinePowerState as Power;
use vim25::types::{AnyMethodFault as Fault, VirtualMachineConfigSpec, VirtualMachineFileInfo};
use vim25::{view::ContainerView, Error};

#[derive(Parser)]
#[command(about = "A tour of the SDK in seven steps against one vSphere endpoint")]
struct Args {
    #[command(flatten)]
    conn: examples::ConnectArgs,
    /// A VM to find by its inventory path.
    #[arg(long, default_value = "/DC0/vm/DC0_H0_VM0")]
    vm: String,
    /// The host (and with it the pool and folder) for the new VM.
    #[arg(long, default_value = "/DC0/host/DC0_H0/DC0_H0")]
    host: String,
    /// The datastore for the new VM's files.
    #[arg(long, default_value = "LocalDS_0")]
    datastore: String,
}

#[derive(Debug, Default, PartialEq)]
struct Tag {
    owner: String,
    note: String,
}
extra_config! { Tag { owner: "owner" [read_only], note: "note" [read_write] } }

async fn tour(args: Args) -> Result<(), Error> {
    // 1. Connect (pinned by --thumbprint, or insecure only when asked).
    let client = args.conn.connect().await?;
    println!("1 connected: {}", client.service_content().about.full_name);

    // 2. One VM by path; every VM with its host's name in one typed retrieval.
    let finder = Finder::new(&client);
    let found = finder.virtual_machine(&args.vm).await?;
    println!("2 found {}", found.name().await?);
    let view = ContainerView::create(&client, &["VirtualMachine", "HostSystem"], true).await?;
    let (mut hosts, mut vms) = (BTreeMap::new(), Vec::new());
    for object in view.retrieve_any(&["name", "runtime"]).await? {
        match object {
            AnyManagedObject::HostSystem(h) => {
                hosts.insert(h.obj, h.name.unwrap_or_default());
            }
            AnyManagedObject::VirtualMachine(vm) => vms.push(vm),
            _ => {}
        }
    }
    view.destroy().await?;
    for vm in vms {
        let host = vm.runtime.and_then(|r| r.host).and_then(|h| hosts.get(&h));
        let name = vm.name.unwrap_or_default();
        println!("  {name} on {}", host.map_or("?", String::as_str));
    }

    // 3. Create a VM, with progress; the task's result is the VM, typed.
    let host = finder.host_system(&args.host).await?;
    let folder = host.datacenter().await?.folders().await?.vm;
    let spec = VirtualMachineConfigSpec {
        name: Some("vm-tour".into()),
        guest_id: Some("otherGuest".into()),
        num_cpus: Some(1),
        files: Some(VirtualMachineFileInfo {
            vm_path_name: Some(format!("[{}]", args.datastore)),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pool = host.resource_pool().await?;
    let task = folder.create_vm(&spec, &pool, Some(&host)).await?;
    let vm = task.wait_with_progress(|p| println!("3 {p}% done")).await?;

    // 4. A vic-config struct through extraConfig, and back; `?` takes both errors.
    let tag = Tag {
        owner: "tour".into(),
        note: String::new(),
    };
    let task = vm.update_extra_config(option_value::encode(&tag)?).await?;
    task.wait().await?;
    let back: Tag = option_value::decode(&vm.config().await?.extra_config)?;
    println!("4 extraConfig holds {back:?} (same: {})", back == tag);

    // 5. Watch power on and off; a watch (and property::wait) starts from what is.
    let watch = Watch::for_object(&client, vm.reference(), &["runtime.powerState"]).await?;
    let mut states = watch.map_ok(|u| u.get::<Power>("runtime.powerState"));
    println!("5 power state {:?}", states.try_next().await?.flatten());
    vm.power_on().await?.wait().await?;
    println!("5 power state {:?}", states.try_next().await?.flatten());
    vm.power_off().await?.wait().await?;
    let off = |s: Option<&Power>| s == Some(&Power::PoweredOff);
    vim25::property::wait(&client, vm.reference(), "runtime.powerState", off).await?;
    println!("5 power state {:?}", states.try_next().await?.flatten());
    states.into_inner().destroy().await?;

    // 6. A typed fault: powering off a VM that is off.
    match vm.power_off().await?.wait().await {
        Err(e) if matches!(e.fault(), Some(Fault::InvalidPowerState(_))) => {
            println!("6 refused as expected: {e}")
        }
        other => other?,
    }

    // 7. Destroy the VM and log out.
    vm.destroy().await?.wait().await?;
    println!("7 destroyed {}", vm.reference());
    client.logout().await
}

#[tokio::main]
async fn main() -> ExitCode {
    examples::exit_status("vm-tour", tour(Args::parse()).await)
}
