//! `ls [PATH] [-l]`: lists the inventory as `govc ls` does: the children of PATH
//! (default `/`), one absolute path per line. PATH may hold `*` and `?` globs; a
//! relative PATH starts at the datacenter when there is only one; an object that
//! holds no others (a VM, a host, a network) lists itself.

use clap::Parser;
use std::collections::HashSet;
use std::process::ExitCode;
use vim25::find::Finder;
use vim25::types::ManagedObjectReference;
use vim25::Error;

#[derive(Parser)]
#[command(about = "List inventory paths, like govc ls")]
struct Args {
    #[command(flatten)]
    conn: examples::ConnectArgs,
    /// Also print each object's type: `PATH (Type)`.
    #[arg(short, long)]
    long: bool,
    /// Inventory path, globs allowed (`/DC0/vm/*VM?`); `/` when left out.
    path: Option<String>,
}

/// Types whose listing shows what they hold rather than themselves.
fn is_container(kind: &str) -> bool {
    matches!(
        kind,
        "Folder"
            | "Datacenter"
            | "ComputeResource"
            | "ClusterComputeResource"
            | "ResourcePool"
            | "VirtualApp"
    )
}

async fn absolute(finder: &Finder<'_>, path: &str) -> Result<String, Error> {
    if path.starts_with('/') {
        return Ok(path.to_string());
    }
    let dc = finder.default_of("Datacenter").await?;
    Ok(format!("{}/{path}", finder.path_of(&dc).await?))
}

async fn run(args: Args) -> Result<(), Error> {
    let client = args.conn.connect().await?;
    let finder = Finder::new(&client);
    let path = absolute(&finder, args.path.as_deref().unwrap_or("/")).await?;
    let found = finder.find(&path).await?;
    if found.is_empty() {
        return Err(Error::NotFound(format!("inventory path {path}")));
    }
    let mut listing: Vec<(String, ManagedObjectReference)> = Vec::new();
    for (p, r) in found {
        if is_container(&r.type_) {
            let children = format!("{}/*", p.trim_end_matches('/'));
            listing.extend(finder.find(&children).await?);
        } else {
            listing.push((p, r));
        }
    }
    // An object reachable twice (vcsim lists a shared datastore once per host) is
    // shown once.
    let mut seen = HashSet::new();
    for (p, r) in listing {
        if !seen.insert((p.clone(), r.clone())) {
            continue;
        }
        if args.long {
            println!("{p} ({})", r.type_);
        } else {
            println!("{p}");
        }
    }
    client.logout().await
}

#[tokio::main]
async fn main() -> ExitCode {
    examples::exit_status("ls", run(Args::parse()).await)
}
