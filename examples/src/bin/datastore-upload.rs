//! `datastore-upload FILE [DS:]PATH`: uploads a local file to a datastore over HTTPS,
//! with a progress bar on stderr. DS is the datastore's name (the only datastore
//! when left out); `[datastore] path` is accepted too.

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use vim25::find::Finder;
use vim25::object::{Datastore, DatastorePath};
use vim25::{Client, Error};

#[derive(Parser)]
#[command(about = "Upload a file to a datastore, like govc datastore.upload")]
struct Args {
    #[command(flatten)]
    conn: examples::ConnectArgs,
    /// The local file.
    file: PathBuf,
    /// Where to put it: `DS:dir/name`, `dir/name` (the only datastore) or
    /// `[DS] dir/name`.
    destination: String,
}

/// Splits the destination into datastore name (if given) and path.
fn split_destination(dest: &str) -> Result<(Option<String>, String), Error> {
    if dest.starts_with('[') {
        let p: DatastorePath = dest.parse()?;
        return Ok((Some(p.datastore), p.path));
    }
    let (ds, path) = match dest.split_once(':') {
        Some((ds, path)) if !ds.is_empty() && !ds.contains('/') => (Some(ds.to_string()), path),
        _ => (None, dest),
    };
    let path = path.trim_start_matches('/');
    if path.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{dest:?} names no file on the datastore"
        )));
    }
    Ok((ds, path.to_string()))
}

async fn datastore(client: &Client, name: Option<&str>) -> Result<Datastore, Error> {
    let finder = Finder::new(client);
    let r = match name {
        None => finder.default_of("Datastore").await?,
        Some(n) => {
            let mut found = finder.by_name("Datastore", n).await?;
            match found.len() {
                0 => return Err(Error::NotFound(format!("datastore {n}"))),
                1 => found.remove(0).1,
                count => {
                    return Err(Error::MultipleFound {
                        what: format!("datastore {n}"),
                        count,
                    })
                }
            }
        }
    };
    Ok(Datastore::new(client, r))
}

async fn run(args: Args) -> Result<(), Error> {
    let (ds_name, path) = split_destination(&args.destination)?;
    let client = args.conn.connect().await?;
    let ds = datastore(&client, ds_name.as_deref()).await?;
    // Hidden by indicatif itself when stderr is not a terminal.
    let bar = ProgressBar::new(0);
    // The template is a constant: if indicatif ever refused it, the default bar does,
    // as a cosmetic matter must not fail the upload.
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(path.clone());
    let shown = bar.clone();
    let sent = ds
        .upload_file(&args.file, &path, move |done, total| {
            if let Some(t) = total {
                shown.set_length(t);
            }
            shown.set_position(done);
        })
        .await;
    bar.finish_and_clear();
    let sent = sent?;
    println!("uploaded {sent} bytes to {}", ds.path(&path).await?);
    client.logout().await
}

#[tokio::main]
async fn main() -> ExitCode {
    examples::exit_status("datastore-upload", run(Args::parse()).await)
}
