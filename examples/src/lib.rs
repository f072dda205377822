//! Shared pieces of the example programs: the connection options every one of them
//! takes, in govc's spirit.
//!
//! ```no_run
//! use clap::Parser;
//! #[derive(Parser)]
//! struct Args {
//!     #[command(flatten)]
//!     conn: examples::ConnectArgs,
//! }
//! # async fn run() -> Result<(), vim25::Error> {
//! let args = Args::parse();
//! let client = args.conn.connect().await?;
//! println!("{}", client.service_content().about.full_name);
//! # Ok(()) }
//! ```

use clap::Args;
use std::process::ExitCode;

pub mod appliance;
pub mod target;
pub mod tether;
pub mod vch;

/// `--url`, `--insecure`, `--thumbprint`, with govc's environment variables.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// vSphere URL (`https://user:pass@host/sdk`; `/sdk` may be left out).
    #[arg(long, env = "GOVC_URL")]
    pub url: String,
    /// Accept any server certificate (lab use only).
    #[arg(long, env = "GOVC_INSECURE", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, conflicts_with = "thumbprint")]
    pub insecure: bool,
    /// Trust exactly the certificate with this SHA-256 or SHA-1 thumbprint.
    #[arg(long, env = "GOVC_TLS_THUMBPRINT")]
    pub thumbprint: Option<String>,
    /// Write every SOAP exchange into this directory (`0001-Login.req.xml`,
    /// `0001-Login.res.xml`, …), passwords and session ids masked.
    #[arg(long, value_name = "DIR", env = "GOVC_DEBUG_PATH")]
    pub debug: Option<std::path::PathBuf>,
}

impl ConnectArgs {
    /// Connects and logs in. User and password come from the URL, else from
    /// `VIM_USERNAME`/`VIM_PASSWORD`, else from `GOVC_USERNAME`/`GOVC_PASSWORD`.
    pub async fn connect(&self) -> Result<vim25::Client, vim25::Error> {
        let mut b = vim25::ClientBuilder::new(&self.url)?;
        let env = |a: &str, b: &str| std::env::var(a).or_else(|_| std::env::var(b)).ok();
        if !self.url_has_credentials() {
            if let Some(user) = env("VIM_USERNAME", "GOVC_USERNAME") {
                let pass = env("VIM_PASSWORD", "GOVC_PASSWORD").unwrap_or_default();
                b = b.credentials(user, pass);
            }
        }
        if self.insecure {
            b = b.insecure();
        } else if let Some(tp) = &self.thumbprint {
            b = b.thumbprint(tp.clone());
        }
        if let Some(dir) = &self.debug {
            b = b.wire_log(debug_writer(dir)?);
        }
        b.connect().await
    }

    fn url_has_credentials(&self) -> bool {
        self.url
            .split("://")
            .nth(1)
            .unwrap_or(&self.url)
            .split('/')
            .next()
            .is_some_and(|authority| authority.contains('@'))
    }
}

/// A wire-log sink that writes each exchange as numbered files into `dir`.
pub(crate) fn debug_writer(
    dir: &std::path::Path,
) -> Result<impl Fn(&vim25::transport::WireRecord<'_>) + Send + Sync + 'static, vim25::Error> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    std::fs::create_dir_all(dir).map_err(|e| {
        vim25::Error::io(
            format!("cannot create debug directory {}", dir.display()),
            e,
        )
    })?;
    let dir = dir.to_path_buf();
    let counter = AtomicUsize::new(0);
    Ok(move |r: &vim25::transport::WireRecord<'_>| {
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        let stem = dir.join(format!("{n:04}-{}", r.operation));
        let write = |ext: &str, text: &str| {
            let path = stem.with_extension(ext);
            if let Err(e) = std::fs::write(&path, text) {
                eprintln!("debug: cannot write {}: {e}", path.display());
            }
        };
        write("req.xml", r.request);
        match (r.response, r.error) {
            (Some(body), _) => write("res.xml", body),
            (None, Some(e)) => write("err.txt", &e.to_string()),
            (None, None) => {}
        }
    })
}

/// The exit status of a program whose work ended with `result`: success, or the error
/// printed as `program: error` on stderr and status 1.
pub fn exit_status<E: std::fmt::Display>(program: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}
