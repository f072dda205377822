//! `vch`: vic-machine's create, inspect, ls and delete of a Virtual Container Host.
//!
//! ```text
//! vch create --target 'root:PASS@esxi01' --name VCH001 --image-datastore datastore1 \
//!     --bridge-network 'VCH Bridge' --external-network 'VM Network'
//! vch inspect --target esxi01 --user root --name VCH001
//! vch ls --target esxi01 --user root
//! vch delete --target esxi01 --user root --name VCH001 [--force]
//! ```
//!
//! The password comes from the target URL, else `VIM_PASSWORD`/`GOVC_PASSWORD`,
//! else it is asked on the terminal without echo. On a simulator, which boots no
//! guest, run `tether-sim` beside it: `create` waits for the appliance to report
//! its address and services.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use examples::target::TargetArgs;
use examples::vch::create::{CreateSpec, VolumeStoreArg};
use examples::vch::{self, inspect, Log, VchError};

#[derive(Parser)]
#[command(about = "Create, inspect, list and delete Virtual Container Hosts, like vic-machine")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Deploy a VCH.
    Create {
        #[command(flatten)]
        target: TargetArgs,
        /// The VCH's name (its resource pool, appliance VM and folders).
        #[arg(long)]
        name: String,
        /// Datastore for the appliance, images and containerVMs.
        #[arg(long)]
        image_datastore: String,
        /// Port group for the containers' bridge network (created on a standalone
        /// host when missing).
        #[arg(long)]
        bridge_network: String,
        /// Port group for the appliance's client, public and management traffic.
        #[arg(long)]
        external_network: String,
        /// Cluster, host or resource pool (name or inventory path); needed when the
        /// target has several.
        #[arg(long)]
        compute_resource: Option<String>,
        /// A volume store, `DATASTORE/PATH:LABEL` (repeatable).
        #[arg(long = "volume-store")]
        volume_stores: Vec<VolumeStoreArg>,
        /// The appliance ISO (a small stand-in image when left out).
        #[arg(long)]
        appliance_iso: Option<PathBuf>,
        /// The containerVMs' boot ISO (a small stand-in image when left out).
        #[arg(long)]
        bootstrap_iso: Option<PathBuf>,
        /// Seconds to wait for the appliance to come up.
        #[arg(long, default_value_t = 180)]
        timeout: u64,
        /// Where `NAME-cert.pem` and `NAME-key.pem` are written.
        #[arg(long, default_value = ".")]
        cert_dir: PathBuf,
    },
    /// Show a VCH's configuration.
    Inspect {
        #[command(flatten)]
        target: TargetArgs,
        /// The VCH's name.
        #[arg(long)]
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List every VCH on the target.
    Ls {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Remove a VCH.
    Delete {
        #[command(flatten)]
        target: TargetArgs,
        /// The VCH's name.
        #[arg(long)]
        name: String,
        /// Also remove running containerVMs and the volume stores.
        #[arg(long)]
        force: bool,
    },
}

/// The command line as recorded in the VCH: flags only, never the target (it may
/// hold a password).
fn recorded_options() -> Vec<String> {
    let mut out = Vec::new();
    let mut skip_next = false;
    for a in std::env::args().skip(2) {
        if skip_next {
            skip_next = false;
            continue;
        }
        if a == "--target" {
            skip_next = true;
            continue;
        }
        if a.starts_with("--target=") {
            continue;
        }
        out.push(a);
    }
    out
}

async fn connect(target: &TargetArgs) -> Result<vim25::Client, VchError> {
    target.connect().await.map_err(|source| VchError::Vsphere {
        doing: format!("connecting to {}", target.display_target()),
        source,
    })
}

async fn run(args: Args) -> Result<(), VchError> {
    match args.command {
        Command::Create {
            target,
            name,
            image_datastore,
            bridge_network,
            external_network,
            compute_resource,
            volume_stores,
            appliance_iso,
            bootstrap_iso,
            timeout,
            cert_dir,
        } => {
            let client = connect(&target).await?;
            let spec = CreateSpec {
                name,
                image_datastore,
                bridge_network,
                external_network,
                compute_resource,
                volume_stores,
                appliance_iso,
                bootstrap_iso,
                timeout: Duration::from_secs(timeout),
                cert_dir,
                target: target.display_target(),
                user: target.user_name(),
                thumbprint: target.thumbprint.clone(),
                create_options: recorded_options(),
            };
            let log = Arc::new(Log::stdout());
            vch::create::create(&client, &spec, &log).await?;
            let _ = client.logout().await;
        }
        Command::Inspect { target, name, json } => {
            let client = connect(&target).await?;
            let found = vch::find(&client, &name).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&inspect::json(&found))
                        .map_err(|e| VchError::Invalid(format!("cannot print JSON: {e}")))?
                );
            } else {
                for line in inspect::render(&found) {
                    println!("{line}");
                }
            }
            let _ = client.logout().await;
        }
        Command::Ls { target } => {
            let client = connect(&target).await?;
            for line in inspect::table(&vch::list(&client).await?) {
                println!("{line}");
            }
            let _ = client.logout().await;
        }
        Command::Delete {
            target,
            name,
            force,
        } => {
            let client = connect(&target).await?;
            vch::delete::delete(&client, &name, force, &Log::stdout()).await?;
            let _ = client.logout().await;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // `RUST_LOG` turns the libraries' tracing on, on standard error (the wire log is
    // `vim25::wire=trace`); without it nothing but the program's own output is printed.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_env_filter(filter)
            .init();
    }
    examples::exit_status("vch", run(args).await)
}
