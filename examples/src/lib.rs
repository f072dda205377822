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
pub mod paced;
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
///
/// Masking aside, the files describe the user's inventory and sessions: on Unix they
/// are created readable by the owner only (0600), and so is `dir` (0700) when it is
/// created here. An existing directory keeps its mode: it is the user's.
pub(crate) fn debug_writer(
    dir: &std::path::Path,
) -> Result<impl Fn(&vim25::transport::WireRecord<'_>) + Send + Sync + 'static, vim25::Error> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
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
            if let Err(e) = write_private(&path, text) {
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

/// Writes `text` to `path`, readable and writable by the owner only on Unix. A file
/// left by an earlier run is narrowed to 0600 before anything is written to it
/// (`mode` only applies to files the call creates).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn debug_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("examples-debug-mode-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("nested");
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let sink = debug_writer(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        // A file an earlier run left readable is narrowed, not just rewritten.
        std::fs::write(dir.join("0002-Login.req.xml"), "old").unwrap();
        std::fs::set_permissions(
            dir.join("0002-Login.req.xml"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let object = vim25::types::ManagedObjectReference::new("SessionManager", "SessionManager");
        for operation in ["RetrieveServiceContent", "Login"] {
            sink(&vim25::transport::WireRecord {
                operation,
                object: &object,
                request: "<req/>",
                status: Some(200),
                response: Some("<res/>"),
                error: None,
                elapsed: std::time::Duration::ZERO,
            });
        }
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            files += 1;
        }
        assert_eq!(files, 4);
        assert_eq!(
            std::fs::read_to_string(dir.join("0002-Login.req.xml")).unwrap(),
            "<req/>"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
