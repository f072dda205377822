//! The control plane's side of the serial connections: [`InteractionServer`]
//! accepts containerVMs' connections and hands out [`Attachment`]s, logs and log
//! streams per container and session.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, watch};

use super::protocol::{self, is_valid_session, is_valid_signal, Frame, FrameReader};
use crate::{ContainerId, Error, Result};

/// Limits of an [`InteractionServer`].
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// How long a new connection has to send its hello (and take the welcome)
    /// before it is dropped. Default 10 s.
    pub hello_timeout: Duration,
    /// How many bytes of output (stdout and stderr together) are kept per session
    /// for [`InteractionServer::logs`] and late readers: the most recent ones.
    /// Default 1 MiB.
    pub log_limit: usize,
    /// How many sessions a guest may create per container by sending output for
    /// them; frames for further sessions are dropped (attaching still creates
    /// sessions). Default 256.
    pub max_sessions: usize,
    /// How many frames for one guest may wait for its connection's writer before
    /// senders wait in turn. Default 64.
    pub send_queue: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            hello_timeout: Duration::from_secs(10),
            log_limit: 1024 * 1024,
            max_sessions: 256,
            send_queue: 64,
        }
    }
}

/// Which output stream bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputKind {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl OutputKind {
    /// The stream byte of Docker's multiplexed log format (1 stdout, 2 stderr).
    pub fn stream_byte(self) -> u8 {
        match self {
            OutputKind::Stdout => 1,
            OutputKind::Stderr => 2,
        }
    }
}

/// Bytes a session wrote, as one frame brought them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    /// Which stream.
    pub kind: OutputKind,
    /// The bytes.
    pub data: Bytes,
}

/// The output kept for a session: see [`InteractionServer::logs`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionLog {
    /// The kept output, oldest first, stdout and stderr interleaved as they
    /// arrived.
    pub chunks: Vec<OutputChunk>,
    /// How many older bytes were dropped to stay within the limit.
    pub dropped: u64,
    /// The exit status, when the session's current run has ended.
    pub exit_status: Option<i32>,
}

impl SessionLog {
    /// The kept standard output.
    pub fn stdout(&self) -> Vec<u8> {
        self.only(OutputKind::Stdout)
    }

    /// The kept standard error.
    pub fn stderr(&self) -> Vec<u8> {
        self.only(OutputKind::Stderr)
    }

    /// Both streams, interleaved as they arrived, without markers (what a
    /// terminal showed).
    pub fn combined(&self) -> Vec<u8> {
        self.chunks
            .iter()
            .flat_map(|c| c.data.iter().copied())
            .collect()
    }

    /// Both streams in Docker's multiplexed log format: per chunk an 8-byte
    /// header (stream byte 1 for stdout or 2 for stderr, three zero bytes, the
    /// chunk's length as a big-endian u32), then the chunk.
    pub fn multiplexed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.chunks.iter().map(|c| 8 + c.data.len()).sum());
        for c in &self.chunks {
            out.extend_from_slice(&[c.kind.stream_byte(), 0, 0, 0]);
            // Chunks come from frames, whose payloads are at most 64 KiB.
            out.extend_from_slice(&(c.data.len() as u32).to_be_bytes());
            out.extend_from_slice(&c.data);
        }
        out
    }

    fn only(&self, kind: OutputKind) -> Vec<u8> {
        self.chunks
            .iter()
            .filter(|c| c.kind == kind)
            .flat_map(|c| c.data.iter().copied())
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state stays consistent between statements, so a panic elsewhere while
    // holding the lock leaves nothing half-done worth refusing.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the control plane can reach of one container's guest.
#[derive(Clone)]
enum Link {
    /// No guest connection (yet, or since it dropped).
    Waiting,
    /// A connection; frames for the guest go through `tx` to its writer.
    Connected { id: u64, tx: mpsc::Sender<Frame> },
    /// The container was forgotten or the server shut down.
    Closed,
}

enum Entry {
    Output(OutputChunk),
    Exit(i32),
}

/// One session's output log and exit state. Every change is made under the lock
/// and announced by bumping `changed`, so that a reader that looked at the
/// counter before looking at the log never misses a change.
struct Session {
    log: Mutex<Log>,
    changed: watch::Sender<u64>,
}

struct Log {
    entries: VecDeque<Entry>,
    /// The sequence number of `entries[0]`.
    first: u64,
    bytes: usize,
    limit: usize,
    dropped: u64,
    /// The current run's exit status; cleared when output shows a new run.
    exit: Option<i32>,
    /// How many exits were reported.
    exits: u64,
    last_exit: Option<i32>,
    closed: bool,
}

impl Log {
    fn end(&self) -> u64 {
        self.first + self.entries.len() as u64
    }

    fn push(&mut self, entry: Entry) {
        match &entry {
            Entry::Output(c) => {
                self.bytes += c.data.len();
                // Output after an exit is a new run of the session.
                self.exit = None;
            }
            Entry::Exit(status) => {
                self.exit = Some(*status);
                self.last_exit = Some(*status);
                self.exits += 1;
            }
        }
        self.entries.push_back(entry);
        self.trim();
    }

    fn trim(&mut self) {
        while self.bytes > self.limit {
            let excess = self.bytes - self.limit;
            match self.entries.front_mut() {
                Some(Entry::Output(c)) if c.data.len() > excess => {
                    c.data = c.data.slice(excess..);
                    self.bytes -= excess;
                    self.dropped += excess as u64;
                }
                Some(e) => {
                    if let Entry::Output(c) = e {
                        self.bytes -= c.data.len();
                        self.dropped += c.data.len() as u64;
                    }
                    self.entries.pop_front();
                    self.first += 1;
                }
                None => break,
            }
        }
    }
}

impl Session {
    fn new(limit: usize) -> Arc<Self> {
        Arc::new(Session {
            log: Mutex::new(Log {
                entries: VecDeque::new(),
                first: 0,
                bytes: 0,
                limit,
                dropped: 0,
                exit: None,
                exits: 0,
                last_exit: None,
                closed: false,
            }),
            changed: watch::Sender::new(0),
        })
    }

    fn update(&self, f: impl FnOnce(&mut Log)) {
        let mut log = lock(&self.log);
        f(&mut log);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Waits until `check` answers from the log, or the session is closed.
    async fn wait<T>(&self, mut check: impl FnMut(&Log) -> Option<T>) -> Result<T> {
        let mut rx = self.changed.subscribe();
        loop {
            rx.borrow_and_update();
            {
                let log = lock(&self.log);
                if let Some(v) = check(&log) {
                    return Ok(v);
                }
                if log.closed {
                    return Err(Error::Stopped("interaction for this container".into()));
                }
            }
            // The sender lives as long as `self`.
            let _ = rx.changed().await;
        }
    }
}

/// How a reader walks a session's log.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadMode {
    /// From the attach point, one or both streams, ending at the first exit.
    Attached(Option<OutputKind>),
    /// Everything kept, then new output, ending when caught up with an exited
    /// session.
    Follow,
}

struct Reader {
    session: Arc<Session>,
    rx: watch::Receiver<u64>,
    cursor: u64,
    mode: ReadMode,
}

impl Reader {
    async fn next(&mut self) -> Option<OutputChunk> {
        loop {
            self.rx.borrow_and_update();
            {
                let log = lock(&self.session.log);
                // A reader that fell behind by more than the limit skips what was
                // dropped.
                self.cursor = self.cursor.max(log.first);
                while self.cursor < log.end() {
                    let i = usize::try_from(self.cursor - log.first).ok()?;
                    self.cursor += 1;
                    match (&log.entries[i], self.mode) {
                        (Entry::Output(c), ReadMode::Attached(Some(k))) if c.kind != k => {}
                        (Entry::Output(c), _) => return Some(c.clone()),
                        (Entry::Exit(_), ReadMode::Attached(_)) => return None,
                        (Entry::Exit(_), ReadMode::Follow) => {}
                    }
                }
                if log.closed || (self.mode == ReadMode::Follow && log.exit.is_some()) {
                    return None;
                }
            }
            let _ = self.rx.changed().await;
        }
    }

    fn into_stream(self) -> BoxStream<'static, OutputChunk> {
        futures::stream::unfold(self, |mut r| async move {
            let chunk = r.next().await?;
            Some((chunk, r))
        })
        .boxed()
    }
}

struct ContainerEntry {
    link: watch::Sender<Link>,
    sessions: HashMap<String, Arc<Session>>,
    /// Sessions created by the guest's frames (counted against the limit).
    guest_sessions: usize,
}

impl ContainerEntry {
    fn new() -> Self {
        ContainerEntry {
            link: watch::Sender::new(Link::Waiting),
            sessions: HashMap::new(),
            guest_sessions: 0,
        }
    }
}

#[derive(Default)]
struct State {
    containers: HashMap<ContainerId, ContainerEntry>,
}

struct Shared {
    settings: ServerSettings,
    state: Mutex<State>,
    next_conn: AtomicU64,
    /// Set once at shutdown; connections still saying hello stop waiting.
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn session(
        &self,
        container: &ContainerId,
        session: &str,
    ) -> (Arc<Session>, watch::Receiver<Link>) {
        let mut st = lock(&self.state);
        let entry = st
            .containers
            .entry(container.clone())
            .or_insert_with(ContainerEntry::new);
        if *self.shutdown.borrow() {
            entry.link.send_replace(Link::Closed);
        }
        let limit = self.settings.log_limit;
        let s = entry
            .sessions
            .entry(session.to_string())
            .or_insert_with(|| Session::new(limit))
            .clone();
        if matches!(*entry.link.borrow(), Link::Closed) {
            s.update(|l| l.closed = true);
        }
        (s, entry.link.subscribe())
    }

    fn existing(&self, container: &ContainerId, session: &str) -> Result<Arc<Session>> {
        let st = lock(&self.state);
        let entry = st
            .containers
            .get(container)
            .ok_or_else(|| Error::not_found("container", container.as_str()))?;
        entry
            .sessions
            .get(session)
            .cloned()
            .ok_or_else(|| Error::not_found("session", session))
    }

    /// Makes `tx` the container's link; an older connection sees the change and
    /// ends. `None` after shutdown.
    fn register(
        &self,
        container: &ContainerId,
        id: u64,
        tx: mpsc::Sender<Frame>,
    ) -> Option<watch::Receiver<Link>> {
        if *self.shutdown.borrow() {
            return None;
        }
        let mut st = lock(&self.state);
        let entry = st
            .containers
            .entry(container.clone())
            .or_insert_with(ContainerEntry::new);
        entry.link.send_replace(Link::Connected { id, tx });
        Some(entry.link.subscribe())
    }

    fn unregister(&self, container: &ContainerId, id: u64) {
        let st = lock(&self.state);
        if let Some(entry) = st.containers.get(container) {
            entry.link.send_if_modified(|l| match l {
                Link::Connected { id: current, .. } if *current == id => {
                    *l = Link::Waiting;
                    true
                }
                _ => false,
            });
        }
    }

    /// The session a guest frame is about, created if new and within the limit.
    fn guest_session(&self, container: &ContainerId, session: &str) -> Option<Arc<Session>> {
        let mut st = lock(&self.state);
        let entry = st.containers.get_mut(container)?;
        if let Some(s) = entry.sessions.get(session) {
            return Some(s.clone());
        }
        if entry.guest_sessions >= self.settings.max_sessions {
            tracing::warn!(
                container = %container.short(),
                session,
                "dropping output of a session beyond the per-container limit"
            );
            return None;
        }
        entry.guest_sessions += 1;
        let s = Session::new(self.settings.log_limit);
        entry.sessions.insert(session.to_string(), s.clone());
        Some(s)
    }

    fn on_frame(&self, container: &ContainerId, frame: Frame) {
        match frame {
            Frame::Stdout { session, data } => {
                self.output(container, &session, OutputKind::Stdout, data)
            }
            Frame::Stderr { session, data } => {
                self.output(container, &session, OutputKind::Stderr, data)
            }
            Frame::Exit { session, status } => {
                if let Some(s) = self.guest_session(container, &session) {
                    s.update(|l| l.push(Entry::Exit(status)));
                }
            }
            Frame::KeepAlive | Frame::Unknown { .. } => {}
            other => tracing::debug!(
                container = %container.short(),
                kind = other.kind(),
                "ignoring a frame the guest does not send"
            ),
        }
    }

    fn output(&self, container: &ContainerId, session: &str, kind: OutputKind, data: Bytes) {
        // An empty chunk carries nothing to keep or show.
        if data.is_empty() {
            return;
        }
        if let Some(s) = self.guest_session(container, session) {
            s.update(|l| l.push(Entry::Output(OutputChunk { kind, data })));
        }
    }

    fn close_container(entry: &ContainerEntry) {
        entry.link.send_replace(Link::Closed);
        for s in entry.sessions.values() {
            s.update(|l| l.closed = true);
        }
    }
}

/// Accepts containerVMs' serial connections and exposes their sessions' standard
/// streams. See the [module docs](super) for the protocol and the semantics.
///
/// Dropping the server (or [`shutdown`](InteractionServer::shutdown)) closes every
/// connection; pending waits end with [`Error::Stopped`], streams end, and the
/// kept logs stay readable.
pub struct InteractionServer {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for InteractionServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InteractionServer")
            .field("local_addr", &self.local_addr)
            .field("settings", &self.shared.settings)
            .finish()
    }
}

impl InteractionServer {
    /// Listens on `addr` with the default [`ServerSettings`]. Must be called inside
    /// a tokio runtime; the server's tasks run on it.
    pub async fn bind(addr: impl ToSocketAddrs) -> Result<Self> {
        Self::bind_with(addr, ServerSettings::default()).await
    }

    /// Listens on `addr` with `settings`.
    pub async fn bind_with(addr: impl ToSocketAddrs, settings: ServerSettings) -> Result<Self> {
        if settings.send_queue == 0 {
            return Err(Error::InvalidInput("send_queue must be at least 1".into()));
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io("binding the interaction server", e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the interaction server's address", e))?;
        let shared = Arc::new(Shared {
            settings,
            state: Mutex::new(State::default()),
            next_conn: AtomicU64::new(1),
            shutdown: watch::Sender::new(false),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(InteractionServer {
            shared,
            local_addr,
            accept,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URI to give containerVMs' serial ports (`tcp://ip:port`): the listening
    /// address. When listening on an unspecified address (`0.0.0.0`), use
    /// [`serial_uri_for`](Self::serial_uri_for) with the address guests reach.
    pub fn serial_uri(&self) -> String {
        format!("tcp://{}", self.local_addr)
    }

    /// The serial URI for guests that reach this server at `ip`.
    pub fn serial_uri_for(&self, ip: IpAddr) -> String {
        format!("tcp://{}", SocketAddr::new(ip, self.local_addr.port()))
    }

    /// Attaches to `session` of `container`: its standard streams from now on,
    /// its input, terminal size, signals and exit status. Works before the guest
    /// connects (frames for the guest wait for it) and across reconnections. Any
    /// number of attachments may exist for one session; each reads all output.
    pub fn attach(&self, container: &ContainerId, session: &str) -> Result<Attachment> {
        check_session(session)?;
        let (s, link) = self.shared.session(container, session);
        let (start, exits) = {
            let log = lock(&s.log);
            (log.end(), log.exits)
        };
        Ok(Attachment {
            container: container.clone(),
            session: session.to_string(),
            state: s,
            link,
            start,
            exits_at_attach: exits,
        })
    }

    /// The output kept for `session` of `container` (the last
    /// [`ServerSettings::log_limit`] bytes), also after the guest has gone.
    /// A session the server has never heard of is [`Error::NotFound`].
    pub fn logs(&self, container: &ContainerId, session: &str) -> Result<SessionLog> {
        let s = self.shared.existing(container, session)?;
        let log = lock(&s.log);
        Ok(SessionLog {
            chunks: log
                .entries
                .iter()
                .filter_map(|e| match e {
                    Entry::Output(c) => Some(c.clone()),
                    Entry::Exit(_) => None,
                })
                .collect(),
            dropped: log.dropped,
            exit_status: log.exit,
        })
    }

    /// The kept output of `session`, then new output as it arrives; ends once
    /// caught up with a session that has exited (at once for a finished one), or
    /// when the container is forgotten. Like [`attach`](Self::attach), works before
    /// the guest connects.
    pub fn follow_logs(
        &self,
        container: &ContainerId,
        session: &str,
    ) -> Result<BoxStream<'static, OutputChunk>> {
        check_session(session)?;
        let (s, _) = self.shared.session(container, session);
        let rx = s.changed.subscribe();
        Ok(Reader {
            session: s,
            rx,
            cursor: 0,
            mode: ReadMode::Follow,
        }
        .into_stream())
    }

    /// The exit status of the current run of `session`, if it has ended.
    pub fn exit_status(&self, container: &ContainerId, session: &str) -> Result<Option<i32>> {
        let s = self.shared.existing(container, session)?;
        let status = lock(&s.log).exit;
        Ok(status)
    }

    /// Whether a guest connection for `container` is up.
    pub fn is_connected(&self, container: &ContainerId) -> bool {
        let st = lock(&self.shared.state);
        st.containers
            .get(container)
            .is_some_and(|e| matches!(*e.link.borrow(), Link::Connected { .. }))
    }

    /// Waits up to `limit` until a guest connection for `container` is up.
    pub async fn wait_connected(&self, container: &ContainerId, limit: Duration) -> Result<()> {
        let mut rx = {
            let mut st = lock(&self.shared.state);
            st.containers
                .entry(container.clone())
                .or_insert_with(ContainerEntry::new)
                .link
                .subscribe()
        };
        let wait = async {
            rx.wait_for(|l| !matches!(l, Link::Waiting))
                .await
                .map(|l| matches!(*l, Link::Connected { .. }))
                .unwrap_or(false)
        };
        match tokio::time::timeout(limit, wait).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::Stopped("interaction for this container".into())),
            Err(_) => Err(Error::Timeout {
                what: format!("the serial connection of container {container}"),
                limit,
            }),
        }
    }

    /// The sessions known for `container` (attached to, or heard from), sorted.
    pub fn sessions(&self, container: &ContainerId) -> Vec<String> {
        let st = lock(&self.shared.state);
        let mut out: Vec<String> = st
            .containers
            .get(container)
            .map(|e| e.sessions.keys().cloned().collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Drops everything about `container` (when it is removed): its connection is
    /// closed, its attachments' waits end with [`Error::Stopped`], its logs are
    /// gone. A later connection for the same ID starts afresh.
    pub fn forget(&self, container: &ContainerId) {
        let entry = lock(&self.shared.state).containers.remove(container);
        if let Some(entry) = entry {
            Shared::close_container(&entry);
        }
    }

    /// Stops accepting, closes every connection and ends every wait and stream.
    /// Logs stay readable.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        self.accept.abort();
        let st = lock(&self.shared.state);
        for entry in st.containers.values() {
            Shared::close_container(entry);
        }
    }
}

impl Drop for InteractionServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn check_session(session: &str) -> Result<()> {
    if is_valid_session(session) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "session ID {session:?} must be 1 to 255 printable ASCII characters without spaces"
        )))
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((sock, peer)) => {
                tokio::spawn(serve(shared.clone(), sock, peer));
            }
            Err(e) => {
                // Out of descriptors and the like: pause instead of spinning.
                tracing::warn!(error = %e, "interaction server: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serves one connection: hello, welcome, then guest frames in, control frames
/// out, until either side ends it or a newer connection for the container
/// replaces it.
async fn serve(shared: Arc<Shared>, sock: TcpStream, peer: SocketAddr) {
    let _ = sock.set_nodelay(true);
    let (rd, mut wr) = sock.into_split();
    let mut reader = FrameReader::new(rd);
    let mut shutdown = shared.shutdown.subscribe();
    let limit = shared.settings.hello_timeout;
    let greet = async {
        let hello = reader.next_frame().await?;
        let Some(Frame::Hello { version, container }) = hello else {
            return Err(protocol::ProtocolError::Malformed {
                kind: hello.as_ref().map(Frame::kind).unwrap_or(0),
                message: "the first frame must be a hello".into(),
            });
        };
        Ok((container, version.min(protocol::VERSION)))
    };
    let (container, version) = tokio::select! {
        r = tokio::time::timeout(limit, greet) => match r {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "dropping a serial connection");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "dropping a serial connection without a hello");
                return;
            }
        },
        _ = shutdown.wait_for(|s| *s) => return,
    };
    let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel::<Frame>(shared.settings.send_queue);
    let Some(mut link) = shared.register(&container, id, tx) else {
        return;
    };
    tracing::debug!(%peer, container = %container.short(), "guest connected");
    // The welcome goes out only once the connection is registered, so that a
    // guest holding it can count on frames for it being routed here; frames
    // queued meanwhile follow it.
    let mut writer = tokio::spawn(async move {
        protocol::write_frame(&mut wr, &Frame::Welcome { version }).await?;
        while let Some(frame) = rx.recv().await {
            protocol::write_frame(&mut wr, &frame).await?;
        }
        Ok::<(), protocol::ProtocolError>(())
    });
    loop {
        tokio::select! {
            r = reader.next_frame() => match r {
                Ok(Some(frame)) => shared.on_frame(&container, frame),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, container = %container.short(), error = %e, "closing a serial connection");
                    break;
                }
            },
            r = &mut writer => {
                if let Ok(Err(e)) = r {
                    tracing::debug!(%peer, error = %e, "writing to a guest failed");
                }
                break;
            }
            _ = link.wait_for(|l| !matches!(l, Link::Connected { id: current, .. } if *current == id)) => break,
        }
    }
    writer.abort();
    shared.unregister(&container, id);
    tracing::debug!(%peer, container = %container.short(), "guest disconnected");
}

/// One attacher's view of a session: see [`InteractionServer::attach`].
pub struct Attachment {
    container: ContainerId,
    session: String,
    state: Arc<Session>,
    link: watch::Receiver<Link>,
    /// Where this attachment's streams start in the session's log.
    start: u64,
    exits_at_attach: u64,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("container", &self.container)
            .field("session", &self.session)
            .finish()
    }
}

impl Attachment {
    /// The container.
    pub fn container(&self) -> &ContainerId {
        &self.container
    }

    /// The session.
    pub fn session(&self) -> &str {
        &self.session
    }

    fn reader(&self, mode: ReadMode) -> Reader {
        Reader {
            session: self.state.clone(),
            rx: self.state.changed.subscribe(),
            cursor: self.start,
            mode,
        }
    }

    /// Standard output from the attach point on. Ends at the session's first exit
    /// after the attach point (or when the container is forgotten). Each call
    /// gives an independent stream from the attach point.
    pub fn stdout(&self) -> BoxStream<'static, Bytes> {
        self.reader(ReadMode::Attached(Some(OutputKind::Stdout)))
            .into_stream()
            .map(|c| c.data)
            .boxed()
    }

    /// Standard error, like [`stdout`](Self::stdout).
    pub fn stderr(&self) -> BoxStream<'static, Bytes> {
        self.reader(ReadMode::Attached(Some(OutputKind::Stderr)))
            .into_stream()
            .map(|c| c.data)
            .boxed()
    }

    /// Both streams, interleaved as they arrived (a terminal's view).
    pub fn output(&self) -> BoxStream<'static, OutputChunk> {
        self.reader(ReadMode::Attached(None)).into_stream()
    }

    async fn deliver(&self, mut frame: Frame) -> Result<()> {
        let mut link = self.link.clone();
        loop {
            let current = link.borrow_and_update().clone();
            match current {
                Link::Closed => {
                    return Err(Error::Stopped("interaction for this container".into()))
                }
                Link::Connected { tx, .. } => match tx.send(frame).await {
                    Ok(()) => return Ok(()),
                    // The connection ended; the frame waits for the next one.
                    Err(mpsc::error::SendError(f)) => frame = f,
                },
                Link::Waiting => {}
            }
            if link.changed().await.is_err() {
                return Err(Error::Stopped("interaction for this container".into()));
            }
        }
    }

    /// Sends `data` to the session's standard input (in frames of at most 64 KiB).
    /// Waits while no guest is connected and while the connection's queue is full.
    /// Bytes handed to a connection that then breaks are lost.
    pub async fn send(&self, data: impl Into<Bytes>) -> Result<()> {
        let data: Bytes = data.into();
        let mut at = 0;
        while at < data.len() {
            let end = (at + protocol::MAX_PAYLOAD).min(data.len());
            self.deliver(Frame::Stdin {
                session: self.session.clone(),
                data: data.slice(at..end),
            })
            .await?;
            at = end;
        }
        Ok(())
    }

    /// Closes the session's standard input (the process reads end of file).
    pub async fn close_stdin(&self) -> Result<()> {
        self.deliver(Frame::CloseStdin {
            session: self.session.clone(),
        })
        .await
    }

    /// Tells the session its terminal is `cols` × `rows` (both at least 1).
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        if cols == 0 || rows == 0 {
            return Err(Error::InvalidInput(format!(
                "terminal size {cols}x{rows}: both must be at least 1"
            )));
        }
        self.deliver(Frame::Resize {
            session: self.session.clone(),
            cols,
            rows,
        })
        .await
    }

    /// Sends the signal `name` (`TERM`, `SIGKILL`, `9`) to the session's process.
    pub async fn signal(&self, name: &str) -> Result<()> {
        if !is_valid_signal(name) {
            return Err(Error::InvalidInput(format!(
                "signal {name:?} must be 1 to 32 ASCII letters, digits, '+', '-' or '_'"
            )));
        }
        self.deliver(Frame::Signal {
            session: self.session.clone(),
            signal: name.to_string(),
        })
        .await
    }

    /// The exit status of the session's current run: at once when it has ended,
    /// else when the guest reports it. Ends with [`Error::Stopped`] when the
    /// container is forgotten or the server shuts down first.
    pub async fn exit_status(&self) -> Result<i32> {
        self.state.wait(|l| l.exit).await
    }

    /// Waits until an exit is reported after this attachment was made and returns
    /// the latest reported status: for attaching before a restart and waiting for
    /// that run to end, even while the previous run's status is still current.
    pub async fn next_exit(&self) -> Result<i32> {
        let seen = self.exits_at_attach;
        self.state
            .wait(|l| if l.exits > seen { l.last_exit } else { None })
            .await
    }

    /// Whether a guest connection for the container is up now.
    pub fn is_connected(&self) -> bool {
        matches!(*self.link.borrow(), Link::Connected { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn out(s: &str) -> Entry {
        Entry::Output(OutputChunk {
            kind: OutputKind::Stdout,
            data: Bytes::copy_from_slice(s.as_bytes()),
        })
    }

    #[test]
    fn log_keeps_the_last_bytes() {
        let s = Session::new(10);
        s.update(|l| {
            l.push(out("abcd"));
            l.push(out("efgh"));
            l.push(out("ijkl"));
        });
        let log = lock(&s.log);
        assert_eq!(log.bytes, 10);
        assert_eq!(log.dropped, 2);
        let kept: Vec<u8> = log
            .entries
            .iter()
            .flat_map(|e| match e {
                Entry::Output(c) => c.data.to_vec(),
                Entry::Exit(_) => Vec::new(),
            })
            .collect();
        assert_eq!(kept, b"cdefghijkl");
        drop(log);
        s.update(|l| l.push(out("0123456789AB")));
        let log = lock(&s.log);
        assert_eq!(log.bytes, 10);
        assert_eq!(log.entries.len(), 1);
        assert_eq!(log.first, 3);
    }

    #[test]
    fn multiplexed_layout() {
        let log = SessionLog {
            chunks: vec![
                OutputChunk {
                    kind: OutputKind::Stdout,
                    data: Bytes::from_static(b"ok"),
                },
                OutputChunk {
                    kind: OutputKind::Stderr,
                    data: Bytes::from_static(b"no"),
                },
            ],
            dropped: 0,
            exit_status: None,
        };
        assert_eq!(
            log.multiplexed(),
            [1, 0, 0, 0, 0, 0, 0, 2, b'o', b'k', 2, 0, 0, 0, 0, 0, 0, 2, b'n', b'o']
        );
        assert_eq!(log.combined(), b"okno");
        assert_eq!(log.stdout(), b"ok");
        assert_eq!(log.stderr(), b"no");
    }

    #[tokio::test]
    async fn attach_follow_restart_and_forget() {
        let server = InteractionServer::bind("127.0.0.1:0").await.unwrap();
        let c = ContainerId::random();
        let shared = server.shared.clone();
        // No connection yet: an attach waits; guest frames need a registered entry.
        let a = server.attach(&c, "s1").unwrap();
        assert!(!a.is_connected());
        let (tx, _rx) = mpsc::channel(4);
        let _link = shared.register(&c, 99, tx).unwrap();
        assert!(server.is_connected(&c));
        let mut stdout = a.stdout();
        let mut stderr = a.stderr();
        shared.on_frame(
            &c,
            Frame::Stdout {
                session: "s1".into(),
                data: Bytes::from_static(b"one"),
            },
        );
        shared.on_frame(
            &c,
            Frame::Stderr {
                session: "s1".into(),
                data: Bytes::from_static(b"err"),
            },
        );
        shared.on_frame(
            &c,
            Frame::Exit {
                session: "s1".into(),
                status: 7,
            },
        );
        assert_eq!(stdout.next().await.unwrap(), Bytes::from_static(b"one"));
        assert!(stdout.next().await.is_none(), "ends at the exit");
        assert_eq!(stderr.next().await.unwrap(), Bytes::from_static(b"err"));
        assert!(stderr.next().await.is_none());
        assert_eq!(a.exit_status().await.unwrap(), 7);
        assert_eq!(a.next_exit().await.unwrap(), 7);
        // follow_logs of a finished session: everything kept, then the end.
        let all: Vec<OutputChunk> = server.follow_logs(&c, "s1").unwrap().collect().await;
        assert_eq!(all.len(), 2);
        // An attachment made after the exit waits for a new run.
        let b = server.attach(&c, "s1").unwrap();
        assert_eq!(b.exit_status().await.unwrap(), 7);
        let next = tokio::spawn(async move { b.next_exit().await });
        shared.on_frame(
            &c,
            Frame::Stdout {
                session: "s1".into(),
                data: Bytes::from_static(b"two"),
            },
        );
        assert_eq!(server.exit_status(&c, "s1").unwrap(), None, "a new run");
        shared.on_frame(
            &c,
            Frame::Exit {
                session: "s1".into(),
                status: 0,
            },
        );
        assert_eq!(next.await.unwrap().unwrap(), 0);
        assert_eq!(server.logs(&c, "s1").unwrap().stdout(), b"onetwo");
        assert!(server.logs(&c, "nope").unwrap_err().is_not_found());
        assert!(server.attach(&c, "bad id").is_err());
        // Forgetting ends waits.
        let waiting = server.attach(&c, "s2").unwrap();
        let w = tokio::spawn(async move { waiting.exit_status().await });
        tokio::task::yield_now().await;
        server.forget(&c);
        assert!(matches!(w.await.unwrap(), Err(Error::Stopped(_))));
        assert!(server.logs(&c, "s1").unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn guest_session_limit() {
        let settings = ServerSettings {
            max_sessions: 2,
            ..Default::default()
        };
        let server = InteractionServer::bind_with("127.0.0.1:0", settings)
            .await
            .unwrap();
        let c = ContainerId::random();
        let (tx, _rx) = mpsc::channel(4);
        let _link = server.shared.register(&c, 1, tx).unwrap();
        for s in ["a", "b", "c"] {
            server.shared.on_frame(
                &c,
                Frame::Stdout {
                    session: s.into(),
                    data: Bytes::from_static(b"x"),
                },
            );
        }
        assert_eq!(server.sessions(&c), ["a", "b"]);
    }
}
