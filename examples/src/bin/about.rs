//! `about --url URL [--insecure | --thumbprint TP]`: prints what the server is and how
//! many VMs, hosts and datastores it holds.

use clap::Parser;
use std::process::ExitCode;
use vim25::view::ContainerView;
use vim25::{Client, Error};

#[derive(Parser)]
#[command(about = "Print the server's product, API version and inventory counts")]
struct Args {
    #[command(flatten)]
    conn: examples::ConnectArgs,
}

/// How many objects of `kind` the inventory holds, through a container view.
async fn count(client: &Client, kind: &str) -> Result<usize, Error> {
    let view = ContainerView::create(client, &[kind], true).await?;
    let objects = view.objects().await;
    view.destroy().await?;
    Ok(objects?.len())
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
