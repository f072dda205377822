//! `vm-info [--json] NAME_OR_PATH`: prints one VM as JSON: a summary (name, path, power
//! state, CPU and memory, guest, and every device), or with `--json` its `name`,
//! `config`, `runtime`, `guest` and `summary` properties in full, in the vSphere JSON
//! API's shape (like `govc vm.info -json`). NAME_OR_PATH is an inventory path
//! (`/DC0/vm/web1`) or a name (globs allowed) that must match exactly one VM.

use clap::Parser;
use serde_json::{json, Value};
use std::process::ExitCode;
use vim25::find::Finder;
use vim25::object::{device, VirtualMachine};
use vim25::types::ManagedObjectReference;
use vim25::{mo, Client, Error};

#[derive(Parser)]
#[command(about = "Print a virtual machine's configuration and state as JSON")]
struct Args {
    #[command(flatten)]
    conn: examples::ConnectArgs,
    /// Print the VM's properties in full, in the vSphere JSON API's shape.
    #[arg(long)]
    json: bool,
    /// Inventory path (`/DC0/vm/DC0_H0_VM0`) or name (`DC0_H0_VM0`, globs allowed).
    vm: String,
}

async fn resolve(client: &Client, vm: &str) -> Result<(String, ManagedObjectReference), Error> {
    let finder = Finder::new(client);
    if vm.starts_with('/') {
        let r = finder.one(vm).await?;
        if r.type_ != "VirtualMachine" {
            return Err(Error::InvalidInput(format!(
                "{vm} is a {}, not a VM",
                r.type_
            )));
        }
        return Ok((finder.path_of(&r).await?, r));
    }
    let mut found = finder.by_name("VirtualMachine", vm).await?;
    match found.len() {
        0 => Err(Error::NotFound(format!("VM {vm}"))),
        1 => Ok(found.remove(0)),
        n => Err(Error::MultipleFound {
            what: format!("VM name {vm}"),
            count: n,
        }),
    }
}

fn describe(path: &str, vm: &mo::VirtualMachine) -> Value {
    let config = vm.config.as_ref();
    let guest = vm.guest.as_ref();
    let devices: Vec<Value> = config
        .map(|c| c.hardware.device.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|d| {
            json!({
                "key": d.key,
                "type": d.type_name(),
                "label": device::label(d),
                "summary": device::summary(d),
            })
        })
        .collect();
    json!({
        "name": vm.name,
        "path": path,
        "moref": vm.obj.value,
        "powerState": vm.runtime.as_ref().map(|r| r.power_state.as_str().to_string()),
        "cpu": config.map(|c| c.hardware.num_cpu),
        "coresPerSocket": config.and_then(|c| c.hardware.num_cores_per_socket),
        "memoryMB": config.map(|c| c.hardware.memory_mb),
        "uuid": config.map(|c| c.uuid.as_str()),
        "vmPathName": config.and_then(|c| c.files.vm_path_name.as_deref()),
        "guest": {
            "id": config.map(|c| c.guest_id.as_str()),
            "fullName": config.map(|c| c.guest_full_name.as_str()),
            "toolsStatus": guest.and_then(|g| g.tools_status.as_ref()).map(|s| s.as_str().to_string()),
            "hostName": guest.and_then(|g| g.host_name.as_deref()),
            "ipAddress": guest.and_then(|g| g.ip_address.as_deref()),
            "state": guest.map(|g| g.guest_state.as_str()),
        },
        "devices": devices,
    })
}

async fn run(args: Args) -> Result<(), Error> {
    let client = args.conn.connect().await?;
    let (path, r) = resolve(&client, &args.vm).await?;
    let vm = VirtualMachine::new(&client, r);
    let text = if args.json {
        let props: mo::VirtualMachine = vm
            .properties(&["name", "config", "runtime", "guest", "summary"])
            .await?;
        serde_json::to_string_pretty(&props)
    } else {
        let props: mo::VirtualMachine = vm
            .properties(&["name", "config", "runtime", "guest"])
            .await?;
        serde_json::to_string_pretty(&describe(&path, &props))
    }
    .map_err(|e| Error::convert(format!("{path} as JSON"), e))?;
    println!("{text}");
    client.logout().await
}

#[tokio::main]
async fn main() -> ExitCode {
    examples::exit_status("vm-info", run(Args::parse()).await)
}
