//! `about --url URL [--insecure | --thumbprint TP]`: prints what the server is and how
//! many VMs, hosts and datastores it holds.

use clap::Parser;
use std::process::ExitCode;
use vim25::types::{ObjectSpec, PropertyFilterSpec, PropertySpec, RetrieveOptions};
use vim25::{methods, Client, Error};

#[derive(Parser)]
#[command(about = "Print the server's product, API version and inventory counts")]
struct Args {
    #[command(flatten)]
    conn: examples::ConnectArgs,
}

/// How many objects of `kind` the inventory holds, through a container view.
async fn count(client: &Client, kind: &str) -> Result<usize, Error> {
    let sc = client.service_content();
    let vm = sc
        .view_manager
        .clone()
        .ok_or_else(|| Error::InvalidInput("no ViewManager".into()))?;
    let view =
        methods::create_container_view(client, &vm, &sc.root_folder, &[kind.to_string()], true)
            .await?;
    let spec = PropertyFilterSpec {
        prop_set: vec![PropertySpec {
            type_: "ContainerView".into(),
            path_set: vec!["view".into()],
            ..Default::default()
        }],
        object_set: vec![ObjectSpec {
            obj: view.clone(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let result = methods::retrieve_properties_ex(
        client,
        &sc.property_collector,
        &[spec],
        &RetrieveOptions::default(),
    )
    .await;
    methods::destroy_view(client, &view).await?;
    let n = result?
        .into_iter()
        .flat_map(|r| r.objects)
        .flat_map(|o| o.prop_set)
        .map(|p| match p.val {
            vim25::xml::AnyValue::Array { items, .. } => items.len(),
            _ => 0,
        })
        .sum();
    Ok(n)
}

async fn run(args: Args) -> Result<(), Error> {
    let client = args.conn.connect().await?;
    let about = &client.service_content().about;
    println!("product:     {}", about.full_name);
    println!(
        "API version: {} (negotiated {})",
        about.api_version,
        client.version().as_str()
    );
    for (label, kind) in [
        ("VMs", "VirtualMachine"),
        ("hosts", "HostSystem"),
        ("datastores", "Datastore"),
    ] {
        println!("{label:<12} {}", count(&client, kind).await?);
    }
    client.logout().await
}

#[tokio::main]
async fn main() -> ExitCode {
    examples::exit_status("about", run(Args::parse()).await)
}
