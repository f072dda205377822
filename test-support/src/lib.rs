//! Starts and stops govmomi's vSphere simulator (vcsim) for integration tests.
//!
//! The simulator runs as a child process: a small Go program,
//! `test-support/vcsim-launcher`, that must be built first with
//!
//! ```text
//! bash scripts/build-vcsim.sh
//! ```
//!
//! [`Simulator::start`] launches it on a free loopback port, waits until it
//! reports `READY` and returns a handle that knows the endpoint URL,
//! credentials and (with TLS) the certificate thumbprints. Dropping the
//! handle shuts the simulator down and reaps the process.
//!
//! ```no_run
//! use test_support::{Simulator, SimulatorConfig};
//!
//! let sim = Simulator::start(&SimulatorConfig::vpx().tls(false).vms(3))
//!     .expect("start vcsim (build it with `bash scripts/build-vcsim.sh`)");
//! println!("simulator at {} as {}", sim.url(), sim.username());
//! assert!(sim.url().starts_with("http://127.0.0.1:"));
//! // `sim` is stopped when dropped, or explicitly:
//! sim.stop();
//! ```

pub mod chaos;

use std::env;
use std::error::Error;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The command that builds the launcher; quoted in every "launcher missing" error.
pub const BUILD_COMMAND: &str = "bash scripts/build-vcsim.sh";

/// Environment variable that, when set, names the launcher binary to use.
pub const LAUNCHER_ENV: &str = "VCSIM_LAUNCHER";

/// How long [`Simulator::start`] waits for the launcher to print `READY`.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a stopping simulator may take to exit on its own before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How many bytes of the launcher's standard error are kept for error messages.
const STDERR_TAIL_BYTES: usize = 8 * 1024;

/// Which kind of vSphere endpoint the simulator pretends to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Model {
    /// A vCenter Server (govmomi's `simulator.VPX()` inventory).
    #[default]
    Vpx,
    /// A standalone ESXi host (govmomi's `simulator.ESX()` inventory).
    Esx,
}

impl Model {
    /// The launcher's `-model` value for this model.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Vpx => "vpx",
            Model::Esx => "esx",
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What simulator to start: the model, the inventory sizes and the transport.
///
/// Every size left at `None` takes the model's default. The sizes that only
/// make sense for vCenter (datacenters, clusters, hosts, resource pools,
/// port groups) are rejected by the launcher for [`Model::Esx`] when non-zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SimulatorConfig {
    /// vCenter or standalone ESXi host.
    pub model: Model,
    /// Number of datacenters (`-dc`).
    pub datacenters: Option<u32>,
    /// Number of clusters per datacenter (`-cluster`).
    pub clusters: Option<u32>,
    /// Number of hosts per cluster (`-host`).
    pub hosts_per_cluster: Option<u32>,
    /// Number of standalone hosts per datacenter (`-standalone-host`).
    pub standalone_hosts: Option<u32>,
    /// Number of resource pools per cluster (`-pool`).
    pub resource_pools: Option<u32>,
    /// Number of virtual machines per resource pool or host (`-vm`).
    pub vms: Option<u32>,
    /// Number of distributed port groups per datacenter (`-pg`).
    pub portgroups: Option<u32>,
    /// Number of datastores (`-ds`).
    pub datastores: Option<u32>,
    /// Serve HTTPS with a fresh self-signed certificate (`true`) or plain HTTP.
    pub tls: bool,
    /// Changes of `summary.quickStats.overallCpuUsage` per second, round robin over
    /// the VMs, from the moment the simulator is ready (`-churn`; each value is the
    /// time of the change, Unix milliseconds modulo 10⁹).
    pub churn: Option<u32>,
}

impl Default for SimulatorConfig {
    /// Same as [`SimulatorConfig::vpx`].
    fn default() -> Self {
        Self::vpx()
    }
}

impl SimulatorConfig {
    /// A vCenter simulator with the default inventory, served over TLS.
    pub fn vpx() -> Self {
        Self::new(Model::Vpx)
    }

    /// A standalone ESXi host simulator with the default inventory, served over TLS.
    pub fn esx() -> Self {
        Self::new(Model::Esx)
    }

    /// A simulator of `model` with the default inventory, served over TLS.
    pub fn new(model: Model) -> Self {
        SimulatorConfig {
            model,
            datacenters: None,
            clusters: None,
            hosts_per_cluster: None,
            standalone_hosts: None,
            resource_pools: None,
            vms: None,
            portgroups: None,
            datastores: None,
            tls: true,
            churn: None,
        }
    }

    /// Sets whether to serve HTTPS (`true`) or plain HTTP (`false`).
    #[must_use]
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Sets the number of datacenters.
    #[must_use]
    pub fn datacenters(mut self, n: u32) -> Self {
        self.datacenters = Some(n);
        self
    }

    /// Sets the number of clusters per datacenter.
    #[must_use]
    pub fn clusters(mut self, n: u32) -> Self {
        self.clusters = Some(n);
        self
    }

    /// Sets the number of hosts per cluster.
    #[must_use]
    pub fn hosts_per_cluster(mut self, n: u32) -> Self {
        self.hosts_per_cluster = Some(n);
        self
    }

    /// Sets the number of standalone hosts per datacenter.
    #[must_use]
    pub fn standalone_hosts(mut self, n: u32) -> Self {
        self.standalone_hosts = Some(n);
        self
    }

    /// Sets the number of resource pools per cluster.
    #[must_use]
    pub fn resource_pools(mut self, n: u32) -> Self {
        self.resource_pools = Some(n);
        self
    }

    /// Sets the number of virtual machines per resource pool or host.
    #[must_use]
    pub fn vms(mut self, n: u32) -> Self {
        self.vms = Some(n);
        self
    }

    /// Sets the number of distributed port groups per datacenter.
    #[must_use]
    pub fn portgroups(mut self, n: u32) -> Self {
        self.portgroups = Some(n);
        self
    }

    /// Sets the number of datastores.
    #[must_use]
    pub fn datastores(mut self, n: u32) -> Self {
        self.datastores = Some(n);
        self
    }

    /// Makes the simulator change a VM property `rate` times a second (see
    /// [`SimulatorConfig::churn`](SimulatorConfig#structfield.churn)).
    #[must_use]
    pub fn churn(mut self, rate: u32) -> Self {
        self.churn = Some(rate);
        self
    }

    /// The launcher command-line arguments for this configuration.
    pub fn launcher_args(&self) -> Vec<String> {
        let mut args = vec![
            "-listen=127.0.0.1:0".to_owned(),
            format!("-model={}", self.model),
            format!("-tls={}", self.tls),
        ];
        let sizes = [
            ("-dc", self.datacenters),
            ("-cluster", self.clusters),
            ("-host", self.hosts_per_cluster),
            ("-standalone-host", self.standalone_hosts),
            ("-pool", self.resource_pools),
            ("-vm", self.vms),
            ("-pg", self.portgroups),
            ("-ds", self.datastores),
            ("-churn", self.churn),
        ];
        for (flag, value) in sizes {
            if let Some(n) = value {
                args.push(format!("{flag}={n}"));
            }
        }
        args
    }
}

/// Why a simulator could not be started.
///
/// Its `Debug` form is the same human-readable message as its `Display`
/// form, so `.expect(...)` and `.unwrap()` panics say how to fix the problem
/// (for a missing launcher: run `bash scripts/build-vcsim.sh`).
#[non_exhaustive]
pub enum SimulatorError {
    /// The launcher binary does not exist; build it with [`BUILD_COMMAND`].
    LauncherMissing {
        /// Where the launcher was looked for.
        path: PathBuf,
    },
    /// The launcher process could not be spawned.
    Spawn {
        /// The launcher that was run.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The launcher exited before printing `READY`.
    ExitedEarly {
        /// Its exit status, if it could be collected.
        status: Option<ExitStatus>,
        /// The end of its standard error.
        stderr: String,
    },
    /// The launcher did not print `READY` in time; it has been killed.
    Timeout {
        /// How long was waited.
        waited: Duration,
        /// The end of its standard error.
        stderr: String,
    },
    /// The launcher printed something that does not follow its protocol.
    BadOutput {
        /// What was wrong.
        message: String,
        /// The end of its standard error.
        stderr: String,
    },
}

fn write_stderr_tail(f: &mut fmt::Formatter<'_>, stderr: &str) -> fmt::Result {
    let stderr = stderr.trim_end();
    if stderr.is_empty() {
        write!(f, " (no stderr output)")
    } else {
        write!(f, "; its stderr ends with:\n{stderr}")
    }
}

impl fmt::Display for SimulatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimulatorError::LauncherMissing { path } => write!(
                f,
                "vcsim launcher not found at {}: build it with `{BUILD_COMMAND}` from the \
                 workspace root ({}), or set {LAUNCHER_ENV} to its path",
                path.display(),
                workspace_root().display(),
            ),
            SimulatorError::Spawn { path, source } => write!(
                f,
                "cannot run vcsim launcher {}: {source} (rebuild it with `{BUILD_COMMAND}`)",
                path.display()
            ),
            SimulatorError::ExitedEarly { status, stderr } => {
                match status {
                    Some(status) => write!(f, "vcsim launcher exited before READY ({status})")?,
                    None => write!(f, "vcsim launcher closed its stdout before READY")?,
                }
                write_stderr_tail(f, stderr)
            }
            SimulatorError::Timeout { waited, stderr } => {
                write!(
                    f,
                    "vcsim launcher did not report READY within {}s",
                    waited.as_secs()
                )?;
                write_stderr_tail(f, stderr)
            }
            SimulatorError::BadOutput { message, stderr } => {
                write!(f, "unexpected output from vcsim launcher: {message}")?;
                write_stderr_tail(f, stderr)
            }
        }
    }
}

impl fmt::Debug for SimulatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Error for SimulatorError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            SimulatorError::Spawn { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Where the launcher is expected, whether or not it exists.
fn expected_launcher_path() -> PathBuf {
    if let Some(path) = env::var_os(LAUNCHER_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let root = workspace_root();
    let target = match env::var_os("CARGO_TARGET_DIR").filter(|p| !p.is_empty()) {
        Some(dir) => root.join(dir), // an absolute dir replaces `root`
        None => root.join("target"),
    };
    target.join("vcsim").join("vcsim-launcher")
}

/// Returns the path of the built launcher.
///
/// That is `$VCSIM_LAUNCHER` when set, else
/// `$CARGO_TARGET_DIR/vcsim/vcsim-launcher` (relative to the workspace root),
/// else `<workspace root>/target/vcsim/vcsim-launcher`.
///
/// # Errors
///
/// [`SimulatorError::LauncherMissing`], whose message says to run
/// `bash scripts/build-vcsim.sh`, when no file exists there.
pub fn launcher_path() -> Result<PathBuf, SimulatorError> {
    let path = expected_launcher_path();
    if path.is_file() {
        Ok(path)
    } else {
        Err(SimulatorError::LauncherMissing { path })
    }
}

/// The last [`STDERR_TAIL_BYTES`] bytes a child wrote to its standard error.
type StderrTail = Arc<Mutex<Vec<u8>>>;

fn read_tail(tail: &StderrTail) -> String {
    let bytes = tail.lock().unwrap_or_else(|e| e.into_inner());
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Copies `reader` into `tail`, keeping only its last bytes, until end-of-file.
fn drain_stderr(mut reader: impl Read, tail: StderrTail) {
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let mut kept = tail.lock().unwrap_or_else(|e| e.into_inner());
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > STDERR_TAIL_BYTES {
                    let excess = kept.len() - STDERR_TAIL_BYTES;
                    kept.drain(..excess);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Waits up to `grace` for `child` to exit, then kills it; always reaps it.
fn reap(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + grace;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) | Err(_) => break,
        }
    }
    let _ = child.kill();
    child.wait().ok()
}

/// What the launcher announced on its standard output.
#[derive(Default)]
struct Announcement {
    url: Option<String>,
    username: Option<String>,
    password: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
}

/// Parses `scheme://host:port/path` into the socket address.
fn socket_addr_of(url: &str) -> Option<SocketAddr> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split('/').next()?;
    authority.parse().ok()
}

/// A running simulator; stopped and reaped when dropped.
#[derive(Debug)]
pub struct Simulator {
    child: Child,
    /// Kept open for the simulator's lifetime: the launcher exits at its EOF.
    stdin: Option<ChildStdin>,
    url: String,
    username: String,
    password: String,
    sha1: Option<String>,
    sha256: Option<String>,
    addr: SocketAddr,
    stderr: StderrTail,
    threads: Vec<JoinHandle<()>>,
}

impl Simulator {
    /// Starts a simulator with the launcher from [`launcher_path`] and waits
    /// (up to [`START_TIMEOUT`]) until it is ready to serve.
    ///
    /// # Errors
    ///
    /// Any [`SimulatorError`]; a missing launcher gives
    /// [`SimulatorError::LauncherMissing`], whose message says how to build it.
    pub fn start(config: &SimulatorConfig) -> Result<Simulator, SimulatorError> {
        Self::start_with_launcher(&launcher_path()?, config)
    }

    /// Like [`Simulator::start`], but panics with the error's message (which
    /// says how to build a missing launcher) on failure.
    #[track_caller]
    pub fn start_or_panic(config: &SimulatorConfig) -> Simulator {
        match Self::start(config) {
            Ok(sim) => sim,
            Err(e) => panic!("cannot start the vSphere simulator: {e}"),
        }
    }

    /// Starts a simulator with the given launcher binary.
    ///
    /// # Errors
    ///
    /// Any [`SimulatorError`].
    pub fn start_with_launcher(
        launcher: &Path,
        config: &SimulatorConfig,
    ) -> Result<Simulator, SimulatorError> {
        if !launcher.is_file() {
            return Err(SimulatorError::LauncherMissing {
                path: launcher.to_path_buf(),
            });
        }
        let mut child = Command::new(launcher)
            .args(config.launcher_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| SimulatorError::Spawn {
                path: launcher.to_path_buf(),
                source,
            })?;

        let stdin = child.stdin.take();
        let stderr: StderrTail = Arc::default();
        let mut threads = Vec::with_capacity(2);
        if let Some(pipe) = child.stderr.take() {
            let tail = Arc::clone(&stderr);
            threads.push(thread::spawn(move || drain_stderr(pipe, tail)));
        }
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        if let Some(pipe) = child.stdout.take() {
            threads.push(thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut line = String::new();
                loop {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {
                            // After READY nobody listens: keep draining anyway.
                            let _ = lines_tx.send(line.trim_end_matches(['\r', '\n']).to_owned());
                        }
                    }
                }
            }));
        }

        // From here on, dropping `sim` stops the child on every error path.
        let mut sim = Simulator {
            child,
            stdin,
            url: String::new(),
            username: String::new(),
            password: String::new(),
            sha1: None,
            sha256: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
            threads,
        };

        let started = Instant::now();
        let deadline = started + START_TIMEOUT;
        let mut seen = Announcement::default();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match lines_rx.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(SimulatorError::Timeout {
                        waited: started.elapsed(),
                        stderr: sim.shut_down(),
                    });
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = reap(&mut sim.child, STOP_GRACE);
                    return Err(SimulatorError::ExitedEarly {
                        status,
                        stderr: sim.shut_down(),
                    });
                }
            };
            if line == "READY" {
                break;
            }
            let (key, value) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let slot = match key {
                "URL" => &mut seen.url,
                "USERNAME" => &mut seen.username,
                "PASSWORD" => &mut seen.password,
                "SHA1" => &mut seen.sha1,
                "SHA256" => &mut seen.sha256,
                _ => {
                    return Err(SimulatorError::BadOutput {
                        message: format!("unknown line {line:?}"),
                        stderr: sim.shut_down(),
                    });
                }
            };
            *slot = Some(value.to_owned());
        }

        let missing = |what: &str, sim: &mut Simulator| SimulatorError::BadOutput {
            message: format!("no {what} line before READY"),
            stderr: sim.shut_down(),
        };
        let Some(url) = seen.url else {
            return Err(missing("URL", &mut sim));
        };
        let Some(username) = seen.username else {
            return Err(missing("USERNAME", &mut sim));
        };
        let Some(password) = seen.password else {
            return Err(missing("PASSWORD", &mut sim));
        };
        if config.tls && (seen.sha1.is_none() || seen.sha256.is_none()) {
            return Err(missing("SHA1/SHA256", &mut sim));
        }
        let expected_scheme = if config.tls { "https://" } else { "http://" };
        let Some(addr) = socket_addr_of(&url).filter(|_| url.starts_with(expected_scheme)) else {
            return Err(SimulatorError::BadOutput {
                message: format!("bad URL {url:?} (expected {expected_scheme}host:port/...)"),
                stderr: sim.shut_down(),
            });
        };
        sim.url = url;
        sim.username = username;
        sim.password = password;
        sim.sha1 = seen.sha1;
        sim.sha256 = seen.sha256;
        sim.addr = addr;
        Ok(sim)
    }

    /// The SDK endpoint without credentials, e.g. `https://127.0.0.1:PORT/sdk`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The user name the simulator accepts.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password the simulator accepts.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The SDK endpoint with credentials, e.g. `https://user:pass@127.0.0.1:PORT/sdk`.
    ///
    /// Characters that are not allowed in URL user info are percent-encoded.
    pub fn url_with_credentials(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        format!(
            "{scheme}://{}:{}@{rest}",
            encode_userinfo(&self.username),
            encode_userinfo(&self.password)
        )
    }

    /// The SHA-1 thumbprint of the server certificate (`AA:BB:...`, 20
    /// bytes), or `None` without TLS.
    pub fn sha1_thumbprint(&self) -> Option<&str> {
        self.sha1.as_deref()
    }

    /// The SHA-256 thumbprint of the server certificate (`AA:BB:...`, 32
    /// bytes), or `None` without TLS.
    pub fn sha256_thumbprint(&self) -> Option<&str> {
        self.sha256.as_deref()
    }

    /// The address the simulator listens on (a loopback address).
    pub fn host_port(&self) -> SocketAddr {
        self.addr
    }

    /// The launcher's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the launcher has written to its standard error so far (its last
    /// few kilobytes).
    pub fn stderr_tail(&self) -> String {
        read_tail(&self.stderr)
    }

    /// Stops the simulator and waits for its process to exit. Dropping it does the same.
    pub fn stop(self) {
        drop(self);
    }

    /// Closes stdin (the launcher's cue to shut down cleanly), kills the
    /// launcher if it lingers, reaps it, joins the pipe threads and returns
    /// the end of its standard error. Safe to call more than once.
    fn shut_down(&mut self) -> String {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
        reap(&mut self.child, STOP_GRACE);
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
        read_tail(&self.stderr)
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Percent-encodes what may not appear verbatim in a URL's user info.
fn encode_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_include_only_given_sizes() {
        let args = SimulatorConfig::esx()
            .tls(false)
            .vms(3)
            .datastores(2)
            .launcher_args();
        assert_eq!(
            args,
            [
                "-listen=127.0.0.1:0",
                "-model=esx",
                "-tls=false",
                "-vm=3",
                "-ds=2"
            ]
        );
        let all = SimulatorConfig::vpx()
            .datacenters(1)
            .clusters(2)
            .hosts_per_cluster(3)
            .standalone_hosts(4)
            .resource_pools(5)
            .vms(6)
            .portgroups(7)
            .datastores(8)
            .launcher_args();
        assert_eq!(all.len(), 11);
        assert!(all.contains(&"-standalone-host=4".to_owned()));
        assert!(all.contains(&"-tls=true".to_owned()));
    }

    #[test]
    fn parses_socket_addresses() {
        assert_eq!(
            socket_addr_of("https://127.0.0.1:8989/sdk"),
            Some(SocketAddr::from(([127, 0, 0, 1], 8989)))
        );
        assert_eq!(
            socket_addr_of("http://[::1]:80/sdk").map(|a| a.port()),
            Some(80)
        );
        assert_eq!(socket_addr_of("ftp://127.0.0.1:1/"), None);
    }

    #[test]
    fn encodes_user_info() {
        assert_eq!(encode_userinfo("user"), "user");
        assert_eq!(encode_userinfo("a@b:c/d"), "a%40b%3Ac%2Fd");
    }

    #[test]
    fn missing_launcher_error_says_how_to_build() {
        let err = SimulatorError::LauncherMissing {
            path: PathBuf::from("/nonexistent/vcsim-launcher"),
        };
        assert!(err.to_string().contains("bash scripts/build-vcsim.sh"));
    }
}
