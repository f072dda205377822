//! One container run: root filesystem, `started`, the process with its streams on
//! the serial link, exit status and stop time, power-off.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use vic_config::model::ExecutorConfig;
use vic_portlayer::interaction::protocol::Frame;
use vic_portlayer::interaction::{interaction_port, SerialTarget};
use vic_portlayer::ContainerId;

use super::report::{self, now_unix, SessionReport};
use super::serial::{self, Input, Link};
use super::{process, rootfs, Error, Shared, VmSnapshot};

/// How long the serial link may take to deliver the last frames.
const FLUSH_LIMIT: Duration = Duration::from_secs(10);

/// Distinguishes the root directories of runs.
static RUNS: AtomicU64 = AtomicU64::new(0);

/// How the poll loop and a run talk.
pub(crate) struct Control {
    /// Turns `true` when the run must kill its process (the VM went away).
    pub(crate) cancelled: watch::Receiver<bool>,
    /// Set by the run when its process has exited.
    pub(crate) exited: Arc<AtomicBool>,
}

/// Runs the primary session of containerVM `vm`; ends early, killing the
/// process, when cancelled. Every failure is logged here.
pub(crate) async fn run(
    shared: Arc<Shared>,
    vm: VmSnapshot,
    id: ContainerId,
    config: ExecutorConfig,
    control: Control,
) {
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let root = shared.settings.work_dir.join(format!("{}-{n}", id.short()));
    let r = run_in(&shared, &vm, &id, &config, &root, control).await;
    if let Err(e) = r {
        tracing::warn!(container = %id.short(), vm = %vm.reference.value, error = %e, "container run failed");
    }
    let dir = root.clone();
    let removed = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&dir)).await;
    if let Ok(Err(e)) = removed {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %root.display(), error = %e, "root filesystem not removed");
        }
    }
}

async fn run_in(
    shared: &Shared,
    vm: &VmSnapshot,
    id: &ContainerId,
    config: &ExecutorConfig,
    root: &Path,
    control: Control,
) -> Result<(), Error> {
    let Control {
        mut cancelled,
        exited,
    } = control;
    let client = &shared.client;
    let session_id = id.to_string();
    let Some(session) = config.sessions.get(&session_id) else {
        return Ok(());
    };
    let layers = rootfs::layers(&vm.devices);
    if let Err(e) = rootfs::build(&shared.layers, &layers, root).await {
        return fail_start(
            client,
            vm,
            id,
            format!("cannot prepare the root filesystem: {e}"),
        )
        .await;
    }
    let resolved = match process::resolve(root, &session.cmd) {
        Ok(r) => r,
        Err(e) => return fail_start(client, vm, id, e.to_string()).await,
    };

    let started_at = now_unix();
    report::session(
        client,
        &vm.reference,
        &vm.extra_config,
        &session_id,
        SessionReport {
            started: Some("true".into()),
            start_time: Some(started_at),
            ..Default::default()
        },
    )
    .await?;
    let open_stdin = session.open_stdin == Some(true);
    let mut child = match process::spawn(&shared.settings, root, &resolved, open_stdin) {
        Ok(c) => c,
        Err(e) => {
            let path = session.cmd.path.clone().unwrap_or_default();
            return fail_start(client, vm, id, format!("exec: {path:?}: {e}")).await;
        }
    };
    let pid = child.id();
    tracing::info!(container = %id.short(), vm = %vm.reference.value, pid, layers = layers.len(),
        "started {}", resolved.path.display());

    let uri = interaction_port(&vm.devices).and_then(|p| match p.target {
        SerialTarget::Uri { uri, .. } if p.connected || p.start_connected => Some(uri),
        _ => None,
    });
    let (input_tx, mut input_rx) = mpsc::channel::<Input>(16);
    let link = Link::start(uri, id.clone(), session_id.clone(), input_tx);
    let out = child
        .stdout
        .take()
        .map(|s| tokio::spawn(pump(s, link.sender(), session_id.clone(), false)));
    let err = child
        .stderr
        .take()
        .map(|s| tokio::spawn(pump(s, link.sender(), session_id.clone(), true)));
    let mut stdin = child.stdin.take();

    let mut killed = false;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            changed = cancelled.changed(), if !killed => {
                if changed.is_err() || *cancelled.borrow() {
                    killed = true;
                    if let Err(e) = child.start_kill() {
                        tracing::warn!(container = %id.short(), error = %e, "cannot kill the process");
                    }
                }
            }
            Some(input) = input_rx.recv() => match input {
                Input::Stdin(data) => {
                    if let Some(w) = stdin.as_mut() {
                        if let Err(e) = w.write_all(&data).await {
                            tracing::debug!(container = %id.short(), error = %e, "standard input closed by the process");
                            stdin = None;
                        }
                    }
                }
                Input::CloseStdin => stdin = None,
                Input::Signal(name) => match pid {
                    Some(pid) => {
                        if let Err(e) = process::signal(pid, &name).await {
                            tracing::warn!(container = %id.short(), signal = %name, error = %e, "signal not delivered");
                        }
                    }
                    None => tracing::debug!(container = %id.short(), "signal for a process that ended"),
                },
            },
        }
    };
    exited.store(true, Ordering::Relaxed);
    drop(stdin);
    // The process is gone; its output pipes end with it (or with the last
    // process that inherited them: bounded).
    for pump in [out, err].into_iter().flatten() {
        if tokio::time::timeout(FLUSH_LIMIT, pump).await.is_err() {
            tracing::warn!(container = %id.short(), "output still open {FLUSH_LIMIT:?} after the process ended");
        }
    }
    let status = status.map_err(|e| Error::io("waiting for the process", e))?;
    let code = process::exit_code(status);
    link.send(Frame::Exit {
        session: session_id.clone(),
        status: code,
    })
    .await;
    link.finish(FLUSH_LIMIT).await;
    if killed {
        tracing::info!(container = %id.short(), vm = %vm.reference.value, status = code,
            "process killed: its VM was powered off or removed");
        return Ok(());
    }
    tracing::info!(container = %id.short(), vm = %vm.reference.value, status = code, "exited");
    report::session(
        client,
        &vm.reference,
        &vm.extra_config,
        &session_id,
        SessionReport {
            status: Some(i64::from(code)),
            stop_time: Some(now_unix()),
            ..Default::default()
        },
    )
    .await?;
    report::power_off(client, &vm.reference).await
}

/// Reports `text` as the session's `started` (a start failure) and powers the
/// VM off, as the agent does when its command cannot run.
async fn fail_start(
    client: &vim25::Client,
    vm: &VmSnapshot,
    id: &ContainerId,
    text: String,
) -> Result<(), Error> {
    tracing::warn!(container = %id.short(), vm = %vm.reference.value, "cannot start: {text}");
    let written = report::session(
        client,
        &vm.reference,
        &vm.extra_config,
        id.as_str(),
        SessionReport {
            started: Some(text),
            ..Default::default()
        },
    )
    .await;
    let off = report::power_off(client, &vm.reference).await;
    written.and(off)
}

/// Copies one output pipe into STDOUT or STDERR frames.
async fn pump(
    mut pipe: impl AsyncRead + Unpin,
    tx: mpsc::Sender<Frame>,
    session: String,
    stderr: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let data = Bytes::copy_from_slice(&buf[..n]);
        let frames = serial::chunks(data, |d| {
            if stderr {
                Frame::Stderr {
                    session: session.clone(),
                    data: d,
                }
            } else {
                Frame::Stdout {
                    session: session.clone(),
                    data: d,
                }
            }
        });
        for f in frames {
            if tx.send(f).await.is_err() {
                return;
            }
        }
    }
}
