//! `tether-sim --target URL [--thumbprint TP|--insecure] [--vch NAME] [--poll-ms N]`:
//! a stand-in for VIC's in-guest agent (tether) on simulators, which run no guest
//! OS. It reports VCH appliances up and runs containerVMs' commands on this
//! machine; see `examples::tether` for what it does and does not do.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use examples::target::TargetArgs;
use examples::tether::{self, Settings, Tether};

#[derive(Parser)]
#[command(
    about = "Stand-in for VIC's in-guest agent (tether) on vSphere simulators, which run no guest OS",
    long_about = "Stand-in for VIC's in-guest agent (tether) on vSphere simulators (govmomi's \
vcsim), which run no guest OS.\n\n\
It polls every VM of the target and does, from outside, what the agent inside would:\n\
- a powered-on VCH appliance gets its client/public/management addresses reported as \
127.0.0.1/8 and its sessions reported started;\n\
- a powered-on containerVM whose primary session has not started gets its command run \
on THIS machine, from a root filesystem unpacked from its image layers (inside a chroot \
when run as root), with stdin/stdout/stderr, close-stdin and signals over the VM's \
network serial port (the port layer's interaction protocol); it reports `started`, the \
exit status and times, and powers the VM off when the command exits.\n\n\
It does NOT isolate anything: no namespaces, cgroups or network separation (a chroot at \
most); no pty (tty sessions get pipes, resize is ignored); no exec sessions, volumes or \
network setup inside containers; no restart policy. For tests and demos only.\n\n\
Runs until interrupted (SIGINT or SIGTERM), then kills the processes it runs and exits 0."
)]
struct Args {
    #[command(flatten)]
    target: TargetArgs,
    /// Only this VCH: its appliance, and the containerVMs in its resource pool
    /// (waits for the appliance to appear). Every VCH and containerVM otherwise.
    #[arg(long)]
    vch: Option<String>,
    /// Milliseconds between two polls of the VMs.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    poll_ms: u64,
    /// Run commands without chroot even as root (their path resolved inside the root,
    /// their interpreter and libraries the host's).
    #[arg(long, default_value_t = false)]
    no_chroot: bool,
}

async fn run(args: Args) -> Result<(), tether::Error> {
    let client = args.target.connect().await?;
    let chroot = tether::running_as_root() && !args.no_chroot;
    let settings = Settings {
        vch: args.vch,
        poll: Duration::from_millis(args.poll_ms),
        chroot,
        helper: std::env::current_exe().ok(),
        ..Settings::default()
    };
    tracing::info!(
        target = %args.target.display_target(),
        vch = settings.vch.as_deref().unwrap_or("(all)"),
        chroot,
        "tether-sim watching"
    );
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch SIGTERM");
                    let _ = tokio::signal::ctrl_c().await;
                    let _ = stop_tx.send(true);
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("stopping");
        let _ = stop_tx.send(true);
    });
    let r = Tether::new(client.clone(), settings).run(stop).await;
    if let Err(e) = client.logout().await {
        tracing::debug!(error = %e, "logout failed");
    }
    r
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == tether::CHROOT_HELPER_ARG) {
        // The chroot helper: returns only when the command could not be executed.
        let e = tether::exec_in_root(&argv[2..]);
        eprintln!("{e}");
        return ExitCode::from(127);
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tether-sim: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    examples::exit_status("tether-sim", runtime.block_on(run(Args::parse())))
}
