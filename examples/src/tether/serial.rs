//! The guest's end of the interaction serial link: one TCP connection to the
//! control plane per containerVM (`tcp://ip:port` of the VM's serial port), spoken
//! with the port layer's frame protocol.
//!
//! Output frames go out in order through a channel; input frames (standard input,
//! close, signal) come back as [`Input`]s. A broken connection is reopened with a
//! new HELLO, a bounded number of times in a row; a frame whose write failed is
//! written again on the next connection. Without a serial port, or after giving
//! up, output is only logged.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use vic_portlayer::interaction::protocol::{self, Frame, FrameReader};
use vic_portlayer::ContainerId;

/// Connection attempts in a row (without a WELCOME in between) before giving up.
const MAX_ATTEMPTS: u32 = 20;
/// Pause between two attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// What the control plane asks of the session's process.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Input {
    /// Bytes for standard input.
    Stdin(Bytes),
    /// Close standard input.
    CloseStdin,
    /// Deliver a signal (`TERM`, `SIGKILL`, `9`).
    Signal(String),
}

/// The link of one session: send frames with [`Link::send`]; drop the link (after
/// the EXIT frame) and [`Link::finish`] to flush and close.
pub(crate) struct Link {
    tx: mpsc::Sender<Frame>,
    task: tokio::task::JoinHandle<()>,
}

impl Link {
    /// Starts the link of `session` of `container` to `uri` (`None`: log only);
    /// input for the session goes to `input`.
    pub(crate) fn start(
        uri: Option<String>,
        container: ContainerId,
        session: String,
        input: mpsc::Sender<Input>,
    ) -> Link {
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(async move {
            match uri {
                Some(uri) => connected(uri, container, session, rx, input).await,
                None => drain(&container, rx).await,
            }
        });
        Link { tx, task }
    }

    /// A sender of frames, for the output readers.
    pub(crate) fn sender(&self) -> mpsc::Sender<Frame> {
        self.tx.clone()
    }

    /// Sends `frame` (waits while the link is busy). A link that ended drops it.
    pub(crate) async fn send(&self, frame: Frame) {
        let _ = self.tx.send(frame).await;
    }

    /// Waits, at most `limit`, until every frame sent is written and the
    /// connection closed. Every other sender must have been dropped.
    pub(crate) async fn finish(self, limit: Duration) {
        drop(self.tx);
        let mut task = self.task;
        if tokio::time::timeout(limit, &mut task).await.is_err() {
            tracing::warn!("the serial link did not finish within {limit:?}; closing it");
            task.abort();
        }
    }
}

/// Splits `data` into frames of at most [`protocol::MAX_PAYLOAD`] bytes made by `make`.
pub(crate) fn chunks(data: Bytes, make: impl Fn(Bytes) -> Frame) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let end = (at + protocol::MAX_PAYLOAD).min(data.len());
        out.push(make(data.slice(at..end)));
        at = end;
    }
    out
}

/// Logs what would have gone over the link.
async fn drain(container: &ContainerId, mut rx: mpsc::Receiver<Frame>) {
    while let Some(frame) = rx.recv().await {
        match frame {
            Frame::Stdout { data, .. } => {
                tracing::info!(container = %container.short(), "stdout: {}", String::from_utf8_lossy(&data).trim_end())
            }
            Frame::Stderr { data, .. } => {
                tracing::info!(container = %container.short(), "stderr: {}", String::from_utf8_lossy(&data).trim_end())
            }
            Frame::Exit { status, .. } => {
                tracing::info!(container = %container.short(), status, "exited")
            }
            _ => {}
        }
    }
}

/// The link over TCP, reconnecting as the module says.
async fn connected(
    uri: String,
    container: ContainerId,
    session: String,
    mut rx: mpsc::Receiver<Frame>,
    input: mpsc::Sender<Input>,
) {
    let addr = uri.strip_prefix("tcp://").unwrap_or(&uri).to_string();
    let hello = Frame::Hello {
        version: protocol::VERSION,
        container: container.clone(),
    };
    let mut pending: Option<Frame> = None;
    let mut attempts = 0u32;
    'connection: loop {
        if attempts >= MAX_ATTEMPTS {
            tracing::warn!(container = %container.short(), uri = %uri,
                "the control plane cannot be reached ({attempts} attempts); logging output instead");
            if let Some(f) = pending.take() {
                let (tx, rx1) = mpsc::channel(1);
                let _ = tx.send(f).await;
                drop(tx);
                drain(&container, rx1).await;
            }
            drain(&container, rx).await;
            return;
        }
        if attempts > 0 {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        attempts += 1;
        let stream = match TcpStream::connect(&addr).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(container = %container.short(), uri = %uri, error = %e, "serial connection failed");
                continue;
            }
        };
        let (r, mut w) = stream.into_split();
        let mut reader = FrameReader::new(r);
        if let Err(e) = protocol::write_frame(&mut w, &hello).await {
            tracing::debug!(container = %container.short(), error = %e, "HELLO not sent");
            continue;
        }
        loop {
            if let Some(f) = pending.take() {
                if let Err(e) = protocol::write_frame(&mut w, &f).await {
                    tracing::debug!(container = %container.short(), error = %e, "serial write failed; reconnecting");
                    pending = Some(f);
                    continue 'connection;
                }
            }
            tokio::select! {
                out = rx.recv() => match out {
                    Some(f) => pending = Some(f),
                    None => {
                        // Everything is written: close our side, as a guest whose
                        // process ended does.
                        let _ = w.shutdown().await;
                        return;
                    }
                },
                got = reader.next_frame() => match got {
                    Ok(Some(Frame::Welcome { version })) => {
                        attempts = 0;
                        tracing::debug!(container = %container.short(), version, "welcomed");
                    }
                    Ok(Some(frame)) => dispatch(&container, &session, frame, &input).await,
                    Ok(None) => {
                        tracing::debug!(container = %container.short(), "the control plane closed the connection; reconnecting");
                        continue 'connection;
                    }
                    Err(e) => {
                        tracing::warn!(container = %container.short(), error = %e,
                            "bad data from the control plane; reconnecting");
                        continue 'connection;
                    }
                },
            }
        }
    }
}

/// Acts on one frame from the control plane.
async fn dispatch(
    container: &ContainerId,
    session: &str,
    frame: Frame,
    input: &mpsc::Sender<Input>,
) {
    if let Some(s) = frame.session() {
        if s != session {
            tracing::debug!(container = %container.short(), session = s,
                "frame for a session this stand-in does not run (no exec sessions); ignored");
            return;
        }
    }
    let what = match frame {
        Frame::Stdin { data, .. } => Input::Stdin(data),
        Frame::CloseStdin { .. } => Input::CloseStdin,
        Frame::Signal { signal, .. } => Input::Signal(signal),
        Frame::Resize { cols, rows, .. } => {
            tracing::debug!(container = %container.short(), cols, rows, "resize ignored (no pty)");
            return;
        }
        Frame::KeepAlive => return,
        other => {
            tracing::debug!(container = %container.short(), kind = other.kind(),
                "frame not meant for the guest; ignored");
            return;
        }
    };
    // The process may have ended; its input goes nowhere then.
    let _ = input.send(what).await;
}
