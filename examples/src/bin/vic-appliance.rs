//! `vic-appliance --target URL [--thumbprint TP|--insecure] --name NAME [--listen ADDR:PORT]`:
//! the Docker Engine API of VCH NAME, served on the port layer so that the real
//! `docker` command line is the client:
//!
//! ```text
//! vic-appliance --target https://root@esxi01 --name VCH001 &
//! docker -H 127.0.0.1:2376 --tls load -i hello-world.tar
//! docker -H 127.0.0.1:2376 --tls run hello-world
//! ```
//!
//! It is what runs inside the VCH's appliance VM; on a simulator, run it beside the
//! simulator together with `tether-sim` (the stand-in for the containerVMs' guest
//! agent). TLS uses the certificate `vch create` generated (`docker --tls`);
//! `--no-tls` serves plain HTTP. Logs go to standard error (`RUST_LOG` sets the
//! level; `info` by default).

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use examples::appliance::{start, Options};
use examples::target::TargetArgs;
use examples::vch::VchError;

#[derive(Parser)]
#[command(about = "Serve a VCH's Docker API on the port layer (what runs in the appliance VM)")]
struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// The VCH's name.
    #[arg(long)]
    name: String,
    /// Where the Docker API listens.
    #[arg(long, default_value = "127.0.0.1:2376")]
    listen: SocketAddr,
    /// Where containerVMs' serial connections arrive (their serial port's URI).
    #[arg(long, default_value = "127.0.0.1:2377")]
    interaction_listen: SocketAddr,
    /// Serve plain HTTP instead of TLS.
    #[arg(long)]
    no_tls: bool,
}

async fn run(args: Args) -> Result<(), VchError> {
    let client = args
        .target
        .connect()
        .await
        .map_err(|source| VchError::Vsphere {
            doing: format!("connecting to {}", args.target.display_target()),
            source,
        })?;
    let running = start(
        client,
        Options {
            name: args.name.clone(),
            listen: args.listen,
            interaction_listen: args.interaction_listen,
            tls: !args.no_tls,
        },
    )
    .await?;
    let tls = if running.is_tls() { " --tls" } else { "" };
    println!(
        "vic-appliance: VCH {} serves the Docker API on {}; try: docker -H {}{tls} info",
        args.name,
        running.docker_addr(),
        running.docker_addr()
    );
    running.serve_until_stopped().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    examples::exit_status("vic-appliance", run(Args::parse()).await)
}
