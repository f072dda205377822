//! The Docker Engine API routes of `vic-appliance`, on axum: what docker 20.10 and
//! newer clients call for `load`, `images`, `rmi`, `run` (create, attach, wait,
//! start), `ps`, `inspect`, `logs`, `stop`, `kill`, `rm`, `events`, `network ls`,
//! `info` and `version`. Everything else answers Docker's error shape with HTTP
//! 501, naming the endpoint.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vic_portlayer::backend::PowerState;
use vic_portlayer::events::{Event, EventKind};
use vic_portlayer::exec::{primary_session, ContainerInfo, ContainerState};
use vic_portlayer::interaction::{InteractionServer, OutputChunk, OutputKind};
use vic_portlayer::network::EndpointOptions;
use vic_portlayer::{ContainerId, ContainerSpec, PortLayer};

use super::images::{ImageError, Images};
use super::names;

/// The Docker API version this server speaks (docker 20.10's).
pub const API_VERSION: &str = "1.41";
/// The oldest API version it accepts in a request path.
pub const MIN_API_VERSION: &str = "1.24";
/// What `docker version` shows as the server's version.
pub const SERVER_VERSION: &str = concat!("vsphere-rs-", env!("CARGO_PKG_VERSION"));

/// Annotation keys (the containerVM's hidden `annotations`) this server writes.
pub mod annotation {
    /// The VCH the container belongs to (several VCHs may share a VM folder).
    pub const VCH: &str = "vch";
    /// The image as the user named it (`hello-world`).
    pub const IMAGE: &str = "image";
    /// The image's ID (`sha256:…`).
    pub const IMAGE_ID: &str = "image_id";
    /// `true`: removed once it has run and been waited for (`docker run --rm`).
    pub const AUTO_REMOVE: &str = "auto_remove";
}

/// What the routes share.
pub struct Shared {
    /// The port layer on the VCH.
    pub port_layer: PortLayer,
    /// The containerVMs' serial connections.
    pub interaction: InteractionServer,
    /// The image catalogue.
    pub images: Images,
    /// The VCH's name.
    pub vch: String,
    /// `tcp://IP:PORT` containerVMs connect their serial port to.
    pub serial_uri: String,
    /// `docker info`'s facts about the VCH (pool limits, storage, product).
    pub info: VchFacts,
    /// One lifecycle operation at a time per container.
    pub lifecycle: LifecycleLocks,
}

/// Per-container locks that order lifecycle operations (start, stop, kill, remove
/// and `--rm`'s removal after the exit). A short program can exit, and be waited
/// for, before its start request has answered; without the lock `docker run --rm`
/// removed the VM under the start, which then failed with "VM … not found".
#[derive(Debug, Default)]
pub struct LifecycleLocks {
    locks: std::sync::Mutex<std::collections::HashMap<ContainerId, Arc<tokio::sync::Mutex<()>>>>,
}

impl LifecycleLocks {
    /// Waits for, and holds until the guard drops, the lock of container `id`.
    pub async fn lock(&self, id: &ContainerId) -> LifecycleGuard<'_> {
        let lock = {
            let mut map = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(id.clone()).or_default().clone()
        };
        LifecycleGuard {
            guard: Some(lock.lock_owned().await),
            id: id.clone(),
            owner: self,
        }
    }

    /// How many containers have a lock entry (one while an operation runs).
    pub fn len(&self) -> usize {
        self.locks.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no operation holds or waits for a lock.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The held lock of one container; the entry goes once nobody else waits for it.
#[derive(Debug)]
pub struct LifecycleGuard<'a> {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    id: ContainerId,
    owner: &'a LifecycleLocks,
}

impl Drop for LifecycleGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.owner.locks.lock().unwrap_or_else(|e| e.into_inner());
        self.guard.take();
        // With this guard's reference released, the map's alone left means no
        // other operation holds or waits for the lock.
        if map.get(&self.id).is_some_and(|m| Arc::strong_count(m) == 1) {
            map.remove(&self.id);
        }
    }
}

/// What `docker info` reports about the VCH.
#[derive(Debug, Clone, Default)]
pub struct VchFacts {
    /// CPUs of the compute resource.
    pub ncpu: i64,
    /// Memory of the compute resource, bytes.
    pub mem_total: i64,
    /// The pool's CPU limit (MHz; `None` unlimited).
    pub cpu_limit_mhz: Option<i64>,
    /// The pool's memory limit (MiB; `None` unlimited).
    pub mem_limit_mb: Option<i64>,
    /// The vSphere product (`VMware ESXi 6.5.0 build-5969303`).
    pub product: String,
    /// Image store location.
    pub image_store: String,
    /// Volume store labels and locations.
    pub volume_stores: Vec<String>,
}

type App = Arc<Shared>;

/// An error in Docker's shape: `{"message": "..."}` with an HTTP status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "message": self.message }))).into_response()
    }
}

impl From<vic_portlayer::Error> for ApiError {
    fn from(e: vic_portlayer::Error) -> Self {
        use vic_portlayer::Error as E;
        let status = match &e {
            E::NotFound { .. } => StatusCode::NOT_FOUND,
            E::Exists { .. } | E::InUse { .. } | E::Conflict { .. } => StatusCode::CONFLICT,
            E::InvalidInput(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<ImageError> for ApiError {
    fn from(e: ImageError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::new(status, e.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The routes.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/images/load", post(load_images))
        .route("/images/create", post(pull_image))
        .route("/images/json", get(list_images))
        .route("/images/{*rest}", get(image_get).delete(remove_image))
        .route("/containers/create", post(create_container))
        .route("/containers/json", get(list_containers))
        .route("/containers/{id}/json", get(inspect_container))
        .route("/containers/{id}/start", post(start_container))
        .route("/containers/{id}/stop", post(stop_container))
        .route("/containers/{id}/kill", post(kill_container))
        .route("/containers/{id}/wait", post(wait_container))
        .route("/containers/{id}/attach", post(attach_container))
        .route("/containers/{id}/resize", post(resize_container))
        .route("/containers/{id}/logs", get(container_logs))
        .route("/containers/{id}", axum::routing::delete(remove_container))
        .route("/events", get(events))
        .route("/networks", get(list_networks))
        .route("/networks/{id}", get(inspect_network))
        .route("/volumes", get(list_volumes))
        .route("/volumes/{name}", get(inspect_volume))
        .route("/plugins/{name}/json", get(inspect_plugin))
        .fallback(not_implemented)
        .method_not_allowed_fallback(not_implemented)
        .with_state(app)
}

/// Removes a `/v1.41` prefix; `Err` for a version this server does not speak.
pub fn strip_version(uri: &Uri) -> Result<Option<Uri>, String> {
    let path = uri.path();
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(None);
    };
    let (version, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => return Ok(None),
    };
    let mut parts = version.split('.');
    let (Some(major), Some(minor), None) = (parts.next(), parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (Ok(major), Ok(minor)) = (major.parse::<u32>(), minor.parse::<u32>()) else {
        return Ok(None);
    };
    let max: (u32, u32) = (1, 41);
    let min: (u32, u32) = (1, 24);
    if (major, minor) > max {
        return Err(format!(
            "client version {version} is too new. Maximum supported API version is {API_VERSION}"
        ));
    }
    if (major, minor) < min {
        return Err(format!(
            "client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        ));
    }
    let pq = match uri.query() {
        Some(q) => format!("{tail}?{q}"),
        None => tail.to_string(),
    };
    pq.parse::<Uri>().map(Some).map_err(|e| e.to_string())
}

/// The headers every answer carries.
pub fn add_server_headers(headers: &mut HeaderMap) {
    headers.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    headers.insert("Docker-Experimental", HeaderValue::from_static("false"));
    headers.insert("Ostype", HeaderValue::from_static("linux"));
    headers.insert(
        header::SERVER,
        HeaderValue::from_static(concat!(
            "Docker/vsphere-rs-",
            env!("CARGO_PKG_VERSION"),
            " (linux)"
        )),
    );
}

async fn not_implemented(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!("vic-appliance does not implement {method} {}", uri.path()),
    )
}

async fn ping(method: Method) -> Response {
    let mut r = if method == Method::HEAD {
        StatusCode::OK.into_response()
    } else {
        "OK".into_response()
    };
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn version_json() -> Value {
    json!({
        "Platform": {"Name": "vSphere Integrated Containers (vsphere-rs)"},
        "Components": [{
            "Name": "Engine",
            "Version": SERVER_VERSION,
            "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": "amd64"}
        }],
        "Version": SERVER_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "n/a (Rust)",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": "vSphere",
        "BuildTime": "",
    })
}

async fn version() -> Json<Value> {
    Json(version_json())
}

async fn info(State(app): State<App>) -> ApiResult<Json<Value>> {
    let containers = our_containers(&app).await?;
    let running = containers
        .iter()
        .filter(|c| docker_status(c).0 == "running")
        .count();
    let paused = containers
        .iter()
        .filter(|c| c.state == ContainerState::Suspended)
        .count();
    let images = app.images.list().await?.len();
    let f = &app.info;
    let limit = |v: Option<i64>, unit: &str| match v {
        Some(n) => format!("{n} {unit}"),
        None => "unlimited".to_string(),
    };
    let mut driver_status = vec![
        json!(["VCH name", app.vch]),
        json!(["VCH CPU limit", limit(f.cpu_limit_mhz, "MHz")]),
        json!(["VCH memory limit", limit(f.mem_limit_mb, "MiB")]),
        json!(["VMware Product", f.product]),
        json!(["Image store", f.image_store]),
    ];
    for v in &f.volume_stores {
        driver_status.push(json!(["Volume store", v]));
    }
    let mut out = json!({
        "ID": app.vch,
        "Containers": containers.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": containers.len() - running - paused,
        "Images": images,
        "Driver": "vSphere Integrated Containers vsphere-rs Backend Engine",
        "DriverStatus": driver_status,
        "SystemStatus": null,
    });
    let more = json!({
        "Plugins": {"Volume": ["vsphere"], "Network": ["bridge", "external"], "Authorization": null, "Log": ["serial"]},
        "MemoryLimit": true,
        "SwapLimit": false,
        "KernelMemory": false,
        "CpuCfsPeriod": false,
        "CpuCfsQuota": false,
        "CPUShares": true,
        "CPUSet": false,
        "PidsLimit": false,
        "IPv4Forwarding": true,
        "BridgeNfIptables": false,
        "BridgeNfIp6tables": false,
        "Debug": false,
        "NFd": 0,
    });
    let rest = json!({
        "OomKillDisable": true,
        "NGoroutines": 0,
        "SystemTime": rfc3339(SystemTime::now()),
        "LoggingDriver": "serial",
        "CgroupDriver": "none",
        "NEventsListener": app.port_layer.events().subscriber_count(),
        "KernelVersion": "vSphere",
        "OperatingSystem": "VMware vSphere (vsphere-rs VCH)",
        "OSType": "linux",
        "Architecture": "x86_64",
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": [], "Mirrors": []},
        "NCPU": f.ncpu,
        "MemTotal": f.mem_total,
        "DockerRootDir": "",
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": app.vch,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": SERVER_VERSION,
        "Runtimes": {"vsphere": {"path": "containerVM"}},
        "DefaultRuntime": "vsphere",
        "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": [],
        "Warnings": [],
    });
    for part in [more, rest] {
        if let (Some(o), Value::Object(m)) = (out.as_object_mut(), part) {
            o.extend(m);
        }
    }
    Ok(Json(out))
}

// ---- images -----------------------------------------------------------------

async fn load_images(State(app): State<App>, body: Body) -> ApiResult<Response> {
    let stream = body
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other));
    let reader = tokio_util_reader(stream);
    let loaded = app.images.load(reader).await?;
    // `docker load` prints the `stream` lines of a JSON message stream.
    let mut out = String::new();
    for line in loaded {
        out.push_str(&json!({ "stream": format!("{line}\n") }).to_string());
        out.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], out).into_response())
}

/// An `AsyncRead` over a stream of byte chunks.
fn tokio_util_reader(
    stream: impl Stream<Item = std::io::Result<Bytes>> + Send + Unpin + 'static,
) -> impl tokio::io::AsyncRead + Send + Unpin + 'static {
    StreamReader {
        stream,
        chunk: Bytes::new(),
    }
}

struct StreamReader<S> {
    stream: S,
    chunk: Bytes,
}

impl<S> tokio::io::AsyncRead for StreamReader<S>
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin,
{
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        loop {
            if !self.chunk.is_empty() {
                let n = self.chunk.len().min(buf.remaining());
                let part = self.chunk.split_to(n);
                buf.put_slice(&part);
                return Poll::Ready(Ok(()));
            }
            match self.stream.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(b))) => self.chunk = b,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// `docker pull` (also what `docker run` tries for a missing image).
async fn pull_image(uri: Uri) -> ApiError {
    let query = uri.query().unwrap_or("");
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!(
            "vic-appliance does not implement POST /images/create ({query}): this VCH pulls from no registry; load images with docker load"
        ),
    )
}

async fn list_images(State(app): State<App>) -> ApiResult<Json<Value>> {
    let containers = our_containers(&app).await?;
    let mut out = Vec::new();
    for image in app.images.list().await? {
        let mut j = image.summary_json();
        let users = containers
            .iter()
            .filter(|c| c.config.annotations.get(annotation::IMAGE_ID) == Some(&image.id))
            .count();
        j["Containers"] = json!(users);
        out.push(j);
    }
    Ok(Json(Value::Array(out)))
}

async fn image_get(State(app): State<App>, Path(rest): Path<String>) -> ApiResult<Json<Value>> {
    let Some(name) = rest.strip_suffix("/json") else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("vic-appliance does not implement GET /images/{rest}"),
        ));
    };
    Ok(Json(app.images.resolve(name).await?.inspect_json()))
}

#[derive(Deserialize, Default)]
struct RmiQuery {
    #[serde(default)]
    force: Option<String>,
}

fn truthy(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("1" | "true" | "True" | "yes"))
}

async fn remove_image(
    State(app): State<App>,
    Path(name): Path<String>,
    Query(q): Query<RmiQuery>,
) -> ApiResult<Json<Value>> {
    let force = truthy(&q.force);
    Ok(Json(Value::Array(app.images.remove(&name, force).await?)))
}

// ---- containers: lookup and views ------------------------------------------

/// The containers of this VCH.
async fn our_containers(app: &Shared) -> ApiResult<Vec<ContainerInfo>> {
    Ok(app
        .port_layer
        .exec()
        .list()
        .await?
        .into_iter()
        .filter(|c| c.config.annotations.get(annotation::VCH) == Some(&app.vch))
        .collect())
}

/// A container by full ID, unique ID prefix or name.
async fn resolve(app: &Shared, reference: &str) -> ApiResult<ContainerInfo> {
    let all = our_containers(app).await?;
    let name = reference.trim_start_matches('/');
    if let Some(c) = all.iter().find(|c| c.id.as_str() == reference) {
        return Ok(c.clone());
    }
    if let Some(c) = all.iter().find(|c| c.name() == Some(name)) {
        return Ok(c.clone());
    }
    let matches: Vec<&ContainerInfo> = if reference.chars().all(|c| c.is_ascii_hexdigit()) {
        all.iter()
            .filter(|c| c.id.as_str().starts_with(reference))
            .collect()
    } else {
        Vec::new()
    };
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ApiError::not_found(format!(
            "No such container: {reference}"
        ))),
        _ => Err(ApiError::bad_request(format!(
            "multiple containers found with provided prefix: {reference}"
        ))),
    }
}

/// [`resolve`], then the container's lifecycle lock, then its state as it is once
/// the lock is held (an operation that held the lock before may have changed it).
async fn resolve_locked<'a>(
    app: &'a Shared,
    reference: &str,
) -> ApiResult<(ContainerInfo, LifecycleGuard<'a>)> {
    let found = resolve(app, reference).await?;
    let guard = app.lifecycle.lock(&found.id).await;
    match app.port_layer.exec().inspect(&found.id).await {
        Ok(now) => Ok((now, guard)),
        Err(vic_portlayer::Error::NotFound { .. }) => Err(ApiError::not_found(format!(
            "No such container: {reference}"
        ))),
        Err(e) => Err(e.into()),
    }
}

fn session(info: &ContainerInfo) -> Option<&vic_config::model::SessionConfig> {
    primary_session(&info.id, &info.config)
}

/// Docker's state name and the `ps` status text.
fn docker_status(info: &ContainerInfo) -> (&'static str, String) {
    let s = session(info);
    let started = s.and_then(|s| s.detail.start_time).filter(|t| *t > 0);
    let stopped = s.and_then(|s| s.detail.stop_time).filter(|t| *t > 0);
    let code = info.exit_status().unwrap_or(0);
    match info.state {
        ContainerState::Created => ("created", "Created".into()),
        ContainerState::Starting | ContainerState::Running => (
            "running",
            format!("Up {}", ago(started.unwrap_or_else(now_secs))),
        ),
        ContainerState::Stopping => ("running", "Stopping".into()),
        ContainerState::Suspended => ("paused", "Up (Paused)".into()),
        ContainerState::Removing => ("removing", "Removal In Progress".into()),
        ContainerState::Stopped => match stopped {
            Some(t) => ("exited", format!("Exited ({code}) {} ago", ago(t))),
            None => ("exited", format!("Exited ({code})")),
        },
        ContainerState::Removed | ContainerState::Unknown => ("dead", "Dead".into()),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `5 seconds`, `About a minute`, `3 hours`: docker's words for a duration.
fn ago(since: i64) -> String {
    let d = (now_secs() - since).max(0);
    match d {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{d} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", d / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", d / 3600),
        _ => format!("{} days", d / 86_400),
    }
}

fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339_secs(secs)
}

/// `2026-12-02T14:47:22Z` from Unix seconds (`0001-01-01T00:00:00Z` for none, as
/// docker prints a zero time).
fn rfc3339_secs(secs: i64) -> String {
    if secs <= 0 {
        return "0001-01-01T00:00:00Z".into();
    }
    super::images::format_rfc3339(secs)
}

fn created_secs(info: &ContainerInfo) -> i64 {
    // `createtime` is nanoseconds since layout version 9.
    info.config
        .create_time
        .map(|t| {
            if t > 100_000_000_000 {
                t / 1_000_000_000
            } else {
                t
            }
        })
        .unwrap_or(0)
}

fn argv(info: &ContainerInfo) -> (String, Vec<String>) {
    let s = session(info);
    let path = s.and_then(|s| s.cmd.path.clone()).unwrap_or_default();
    let args: Vec<String> = s
        .and_then(|s| s.cmd.args.items())
        .map(|a| a.iter().skip(1).cloned().collect())
        .unwrap_or_default();
    (path, args)
}

fn image_name(info: &ContainerInfo) -> String {
    info.config
        .annotations
        .get(annotation::IMAGE)
        .cloned()
        .or_else(|| info.config.repo.clone())
        .unwrap_or_default()
}

fn summary_json(info: &ContainerInfo, endpoints: &BTreeMap<String, String>) -> Value {
    let (path, args) = argv(info);
    let command = std::iter::once(path)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ");
    let (state, status) = docker_status(info);
    let networks: serde_json::Map<String, Value> = endpoints
        .iter()
        .map(|(scope, ip)| (scope.clone(), json!({"IPAddress": ip, "NetworkID": scope})))
        .collect();
    json!({
        "Id": info.id.as_str(),
        "Names": [format!("/{}", info.name().unwrap_or(info.id.short()))],
        "Image": image_name(info),
        "ImageID": info.config.annotations.get(annotation::IMAGE_ID).cloned().unwrap_or_default(),
        "Command": command,
        "Created": created_secs(info),
        "Ports": [],
        "Labels": {},
        "State": state,
        "Status": status,
        "HostConfig": {"NetworkMode": "default"},
        "NetworkSettings": {"Networks": networks},
        "Mounts": [],
    })
}

fn assigned_addresses(info: &ContainerInfo) -> BTreeMap<String, String> {
    info.config
        .networks
        .iter()
        .filter_map(|(scope, ep)| {
            let ip = ep.assigned.ip.as_ref()?.to_ip_addr();
            (!ip.is_unspecified()).then(|| (scope.clone(), ip.to_string()))
        })
        .collect()
}

fn inspect_json(info: &ContainerInfo) -> Value {
    let (path, args) = argv(info);
    let s = session(info);
    let (state, _) = docker_status(info);
    let tty = s.and_then(|s| s.tty).unwrap_or(false);
    let open_stdin = s.and_then(|s| s.open_stdin).unwrap_or(false);
    let env: Vec<String> = s
        .and_then(|s| s.cmd.env.items())
        .map(<[String]>::to_vec)
        .unwrap_or_default();
    let cmd: Vec<String> = s
        .and_then(|s| s.cmd.args.items())
        .map(<[String]>::to_vec)
        .unwrap_or_default();
    let networks: serde_json::Map<String, Value> = info
        .config
        .networks
        .iter()
        .map(|(scope, ep)| {
            let ip = ep
                .assigned
                .ip
                .as_ref()
                .map(|i| i.to_ip_addr().to_string())
                .unwrap_or_default();
            let prefix = ep
                .network
                .gateway
                .mask
                .as_ref()
                .and_then(|m| m.prefix_len())
                .unwrap_or(0);
            let gateway = ep
                .network
                .gateway
                .ip
                .as_ref()
                .map(|i| i.to_ip_addr().to_string())
                .unwrap_or_default();
            (
                scope.clone(),
                json!({
                    "NetworkID": scope,
                    "IPAddress": ip,
                    "IPPrefixLen": prefix,
                    "Gateway": gateway,
                    "Aliases": ep.network.aliases,
                }),
            )
        })
        .collect();
    let primary_ip = assigned_addresses(info)
        .get("bridge")
        .cloned()
        .unwrap_or_default();
    json!({
        "Id": info.id.as_str(),
        "Created": rfc3339_secs(created_secs(info)),
        "Path": path,
        "Args": args,
        "State": {
            "Status": state,
            "Running": state == "running",
            "Paused": state == "paused",
            "Restarting": false,
            "OOMKilled": false,
            "Dead": state == "dead",
            "Pid": 0,
            "ExitCode": info.exit_status().unwrap_or(0),
            "Error": s.and_then(|s| s.started.clone()).filter(|v| v != "true").unwrap_or_default(),
            "StartedAt": rfc3339_secs(s.and_then(|s| s.detail.start_time).unwrap_or(0)),
            "FinishedAt": rfc3339_secs(s.and_then(|s| s.detail.stop_time).unwrap_or(0)),
        },
        "Image": info.config.annotations.get(annotation::IMAGE_ID).cloned().unwrap_or_default(),
        "Name": format!("/{}", info.name().unwrap_or(info.id.short())),
        "RestartCount": 0,
        "Driver": "vsphere",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "HostConfig": {"NetworkMode": "default", "AutoRemove": false, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}},
        "Mounts": [],
        "Config": {
            "Hostname": info.config.hostname.clone().unwrap_or_else(|| info.id.short().to_string()),
            "Domainname": "",
            "User": "",
            "AttachStdin": open_stdin,
            "AttachStdout": true,
            "AttachStderr": true,
            "Tty": tty,
            "OpenStdin": open_stdin,
            "StdinOnce": open_stdin,
            "Env": env,
            "Cmd": cmd,
            "Image": image_name(info),
            "WorkingDir": s.and_then(|s| s.cmd.dir.clone()).unwrap_or_default(),
            "Entrypoint": null,
            "Labels": {},
        },
        "NetworkSettings": {
            "IPAddress": primary_ip,
            "Networks": networks,
            "Ports": {},
        },
        "VSphere": {
            "VM": info.vm.value,
            "PowerState": format!("{:?}", info.power_state),
            "ChangeVersion": info.change_version,
        },
    })
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    all: Option<String>,
}

async fn list_containers(
    State(app): State<App>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let all = truthy(&q.all);
    let mut list = our_containers(&app).await?;
    list.sort_by_key(|c| std::cmp::Reverse(created_secs(c)));
    let out: Vec<Value> = list
        .iter()
        .filter(|c| all || docker_status(c).0 == "running")
        .map(|c| summary_json(c, &assigned_addresses(c)))
        .collect();
    Ok(Json(Value::Array(out)))
}

async fn inspect_container(
    State(app): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(inspect_json(&resolve(&app, &id).await?)))
}

// ---- containers: create -----------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    image: String,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    env: Option<Vec<String>>,
    working_dir: Option<String>,
    tty: bool,
    open_stdin: bool,
    attach_stdin: bool,
    hostname: Option<String>,
    stop_signal: Option<String>,
    host_config: Option<HostConfig>,
    networking_config: Option<NetworkingConfig>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct HostConfig {
    network_mode: Option<String>,
    auto_remove: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkingConfig {
    endpoints_config: Option<BTreeMap<String, EndpointConfig>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointConfig {
    aliases: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
struct CreateQuery {
    #[serde(default)]
    name: Option<String>,
}

async fn create_container(
    State(app): State<App>,
    Query(q): Query<CreateQuery>,
    body: Bytes,
) -> ApiResult<Response> {
    let body: CreateBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON in the create request: {e}")))?;
    if body.image.is_empty() {
        return Err(ApiError::bad_request("no image given"));
    }
    let image = app.images.resolve(&body.image).await?;
    let existing = our_containers(&app).await?;
    let taken = |n: &str| existing.iter().any(|c| c.name() == Some(n));
    let name = match q.name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => {
            if !names::is_valid(n) {
                return Err(ApiError::bad_request(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
            let n = n.trim_start_matches('/').to_string();
            if let Some(c) = existing.iter().find(|c| c.name() == Some(n.as_str())) {
                return Err(ApiError::conflict(format!(
                    "Conflict. The container name \"/{n}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    c.id
                )));
            }
            n
        }
        None => names::generate(taken),
    };
    let entrypoint = body
        .entrypoint
        .clone()
        .unwrap_or_else(|| image.entrypoint());
    let cmd = match &body.cmd {
        Some(c) if !c.is_empty() => c.clone(),
        _ if body.entrypoint.is_some() => Vec::new(),
        _ => image.cmd(),
    };
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    let Some(path) = argv.first().cloned() else {
        return Err(ApiError::bad_request(format!(
            "no command specified: image {} has no Cmd or Entrypoint",
            body.image
        )));
    };
    let mut env = image.env();
    env.extend(body.env.clone().unwrap_or_default());
    let mut networks = Vec::new();
    let mode = body
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .filter(|m| m != "default")
        .unwrap_or_else(|| "bridge".to_string());
    let aliases = body
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
        .and_then(|e| e.get(&mode))
        .and_then(|e| e.aliases.clone())
        .unwrap_or_default();
    if app.port_layer.network().scope(&mode).await.is_err() {
        return Err(ApiError::not_found(format!("network {mode} not found")));
    }
    networks.push((
        mode,
        EndpointOptions {
            aliases,
            ..Default::default()
        },
    ));
    let layer = app.images.top_image(&image).await?;
    let id = ContainerId::random();
    let mut annotations = BTreeMap::new();
    annotations.insert(annotation::VCH.to_string(), app.vch.clone());
    annotations.insert(annotation::IMAGE.to_string(), body.image.clone());
    annotations.insert(annotation::IMAGE_ID.to_string(), image.id.clone());
    if body.host_config.as_ref().is_some_and(|h| h.auto_remove) {
        annotations.insert(annotation::AUTO_REMOVE.to_string(), "true".to_string());
    }
    let spec = ContainerSpec {
        id: Some(id.clone()),
        name: Some(name),
        image: Some(layer),
        repo: Some(body.image.clone()),
        path,
        args: argv,
        env,
        dir: body.working_dir.clone().or_else(|| image.working_dir()),
        tty: body.tty,
        open_stdin: body.open_stdin || body.attach_stdin,
        attach: true,
        stop_signal: body.stop_signal.clone(),
        hostname: body.hostname.clone(),
        networks,
        serial_uri: Some(app.serial_uri.clone()),
        logging: true,
        annotations,
        ..Default::default()
    };
    let handle = app.port_layer.create_container(spec).await?;
    app.port_layer.exec().commit(handle).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "Id": id.as_str(), "Warnings": [] })),
    )
        .into_response())
}

// ---- containers: lifecycle --------------------------------------------------

async fn start_container(State(app): State<App>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let (info, _lifecycle) = resolve_locked(&app, &id).await?;
    if docker_status(&info).0 == "running" {
        return Ok(StatusCode::NOT_MODIFIED);
    }
    app.port_layer.start_container(&info.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn stop_container(State(app): State<App>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let (info, _lifecycle) = resolve_locked(&app, &id).await?;
    if info.power_state == PowerState::PoweredOff {
        return Ok(StatusCode::NOT_MODIFIED);
    }
    app.port_layer.stop_container(&info.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
struct KillQuery {
    #[serde(default)]
    signal: Option<String>,
}

async fn kill_container(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<KillQuery>,
) -> ApiResult<StatusCode> {
    let (info, _lifecycle) = resolve_locked(&app, &id).await?;
    if info.power_state == PowerState::PoweredOff {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            info.id
        )));
    }
    let signal = q
        .signal
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "KILL".into());
    let signal = signal.trim_start_matches("SIG").to_string();
    if !vic_portlayer::interaction::protocol::is_valid_signal(&signal) {
        return Err(ApiError::bad_request(format!("Invalid signal: {signal}")));
    }
    if app.interaction.is_connected(&info.id) {
        let a = app.interaction.attach(&info.id, info.id.as_str())?;
        a.signal(&signal).await?;
    } else if matches!(signal.as_str(), "KILL" | "9" | "TERM" | "15" | "INT" | "2") {
        // No guest to deliver it: stopping the VM is what the signal would do.
        app.port_layer.stop_container(&info.id).await?;
    } else {
        return Err(ApiError::conflict(format!(
            "cannot deliver {signal} to {}: its guest is not connected",
            info.id
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
struct RmQuery {
    #[serde(default)]
    force: Option<String>,
}

async fn remove_container(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<RmQuery>,
) -> ApiResult<StatusCode> {
    let (info, _lifecycle) = resolve_locked(&app, &id).await?;
    let force = truthy(&q.force);
    if info.power_state != PowerState::PoweredOff && !force {
        return Err(ApiError::conflict(format!(
            "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
            info.id
        )));
    }
    app.port_layer.remove_container(&info.id, force).await?;
    app.interaction.forget(&info.id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
struct WaitQuery {
    #[serde(default)]
    condition: Option<String>,
}

async fn wait_container(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> ApiResult<Response> {
    let info = resolve(&app, &id).await?;
    let condition = q.condition.unwrap_or_else(|| "not-running".into());
    match condition.as_str() {
        "not-running" | "next-exit" | "removed" => {}
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid condition: {other:?}"
            )))
        }
    }
    // Registered now, before the answer's headers go out: clients start the
    // container once they have them, and its exit must not be missed.
    let attachment = app.interaction.attach(&info.id, info.id.as_str())?;
    // The headers go out at once and the body when the condition is met, as
    // docker's daemon does: newer clients wait for the headers before they start
    // the container.
    let body = futures::stream::once(async move {
        let answer = match wait_for(&app, &info, &condition, attachment).await {
            Ok(code) => json!({"StatusCode": code, "Error": null}),
            Err(e) => json!({"StatusCode": -1, "Error": {"Message": e.message}}),
        };
        Ok::<_, std::io::Error>(Bytes::from(format!("{answer}\n")))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

/// Waits until `condition` holds for `info`'s container; its exit status.
async fn wait_for(
    app: &Shared,
    info: &ContainerInfo,
    condition: &str,
    attachment: vic_portlayer::interaction::Attachment,
) -> ApiResult<i64> {
    if condition == "not-running" && info.power_state == PowerState::PoweredOff {
        return Ok(info.exit_status().unwrap_or(0));
    }
    let mut was_running = info.power_state != PowerState::PoweredOff;
    let next_exit = attachment.next_exit();
    tokio::pin!(next_exit);
    let mut reported = None;
    loop {
        tokio::select! {
            r = &mut next_exit, if reported.is_none() => {
                reported = Some(r.ok());
            }
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
        match app.port_layer.exec().inspect(&info.id).await {
            Ok(now) => {
                let off = now.power_state == PowerState::PoweredOff;
                if !off {
                    was_running = true;
                } else if was_running || reported.is_some() {
                    let code = now
                        .exit_status()
                        .or_else(|| reported.flatten().map(i64::from))
                        .unwrap_or(0);
                    let auto_remove = now.config.annotations.get(annotation::AUTO_REMOVE)
                        == Some(&"true".to_string());
                    if condition == "removed" && !auto_remove {
                        continue;
                    }
                    if auto_remove {
                        // After the start request (and any other operation) has
                        // answered: see `LifecycleLocks`.
                        let _lifecycle = app.lifecycle.lock(&info.id).await;
                        match app.port_layer.remove_container(&info.id, true).await {
                            Ok(()) | Err(vic_portlayer::Error::NotFound { .. }) => {}
                            Err(e) => return Err(e.into()),
                        }
                        app.interaction.forget(&info.id);
                    }
                    return Ok(code);
                }
            }
            Err(vic_portlayer::Error::NotFound { .. }) => {
                return Ok(reported.flatten().map(i64::from).unwrap_or(0));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

// ---- containers: streams ----------------------------------------------------

/// Docker's multiplexed stream frame: stream byte, three zeros, big-endian length.
fn mux(kind: OutputKind, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.push(kind.stream_byte());
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

fn encode_chunk(c: &OutputChunk, tty: bool, stdout: bool, stderr: bool) -> Option<Vec<u8>> {
    let wanted = match c.kind {
        OutputKind::Stdout => stdout,
        OutputKind::Stderr => stderr,
    };
    if !wanted || c.data.is_empty() {
        return None;
    }
    Some(if tty {
        c.data.to_vec()
    } else {
        mux(c.kind, &c.data)
    })
}

#[derive(Deserialize, Default)]
struct AttachQuery {
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    stdin: Option<String>,
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    stderr: Option<String>,
    #[serde(default)]
    logs: Option<String>,
}

async fn attach_container(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<AttachQuery>,
    mut req: Request,
) -> ApiResult<Response> {
    let info = resolve(&app, &id).await?;
    let s = session(&info);
    let tty = s.and_then(|s| s.tty).unwrap_or(false);
    let open_stdin = s.and_then(|s| s.open_stdin).unwrap_or(false);
    let (want_in, want_out, want_err) = (truthy(&q.stdin), truthy(&q.stdout), truthy(&q.stderr));
    let attachment = app.interaction.attach(&info.id, info.id.as_str())?;
    let earlier = if truthy(&q.logs) {
        app.interaction
            .logs(&info.id, info.id.as_str())
            .map(|l| l.chunks)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let stream = truthy(&q.stream);
    let input_attachment = if want_in && open_stdin {
        Some(app.interaction.attach(&info.id, info.id.as_str())?)
    } else {
        None
    };
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let upgraded = match upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "attach: the connection was not upgraded");
                return;
            }
        };
        let (mut rd, mut wr) = tokio::io::split(TokioIo::new(upgraded));
        for c in &earlier {
            if let Some(b) = encode_chunk(c, tty, want_out, want_err) {
                if wr.write_all(&b).await.is_err() {
                    return;
                }
            }
        }
        if !stream {
            let _ = wr.shutdown().await;
            return;
        }
        let input = input_attachment.map(|a| {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    match rd.read(&mut buf).await {
                        Ok(0) | Err(_) => {
                            let _ = a.close_stdin().await;
                            return;
                        }
                        Ok(n) => {
                            if a.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            })
        });
        let mut out = attachment.output();
        while let Some(c) = out.next().await {
            if let Some(b) = encode_chunk(&c, tty, want_out, want_err) {
                if wr.write_all(&b).await.is_err() {
                    break;
                }
                let _ = wr.flush().await;
            }
        }
        let _ = wr.shutdown().await;
        if let Some(t) = input {
            t.abort();
        }
    });
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .body(Body::empty())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

#[derive(Deserialize, Default)]
struct ResizeQuery {
    #[serde(default)]
    h: Option<u16>,
    #[serde(default)]
    w: Option<u16>,
}

async fn resize_container(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<ResizeQuery>,
) -> ApiResult<StatusCode> {
    let info = resolve(&app, &id).await?;
    if let (Some(h), Some(w)) = (q.h, q.w) {
        if h > 0 && w > 0 && app.interaction.is_connected(&info.id) {
            let a = app.interaction.attach(&info.id, info.id.as_str())?;
            a.resize(w, h).await?;
        }
    }
    Ok(StatusCode::OK)
}

#[derive(Deserialize, Default)]
struct LogsQuery {
    #[serde(default)]
    follow: Option<String>,
    #[serde(default)]
    stdout: Option<String>,
    #[serde(default)]
    stderr: Option<String>,
}

async fn container_logs(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> ApiResult<Response> {
    let info = resolve(&app, &id).await?;
    let tty = session(&info).and_then(|s| s.tty).unwrap_or(false);
    let (out, err) = (truthy(&q.stdout), truthy(&q.stderr));
    if !out && !err {
        return Err(ApiError::bad_request("You must choose at least one stream"));
    }
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    if truthy(&q.follow) {
        let stream = app
            .interaction
            .follow_logs(&info.id, info.id.as_str())?
            .filter_map(move |c| futures::future::ready(encode_chunk(&c, tty, out, err)))
            .map(|b| Ok::<_, std::io::Error>(Bytes::from(b)));
        return Ok((
            [(header::CONTENT_TYPE, content_type)],
            Body::from_stream(stream),
        )
            .into_response());
    }
    let chunks = match app.interaction.logs(&info.id, info.id.as_str()) {
        Ok(log) => log.chunks,
        // Nothing heard from this container since this appliance started.
        Err(vic_portlayer::Error::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let body: Vec<u8> = chunks
        .iter()
        .filter_map(|c| encode_chunk(c, tty, out, err))
        .flatten()
        .collect();
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

// ---- events and networks ----------------------------------------------------

fn event_json(e: &Event, name: Option<&str>, image: Option<&str>) -> Option<Value> {
    let (action, extra) = match &e.kind {
        EventKind::Created => ("create", None),
        EventKind::Started => ("start", None),
        EventKind::Stopped => ("stop", None),
        EventKind::Died { exit_code } => ("die", Some(exit_code.unwrap_or(0).to_string())),
        EventKind::Suspended => ("pause", None),
        EventKind::Removed => ("destroy", None),
        EventKind::Moved | EventKind::Failed { .. } => return None,
    };
    let t = e.time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut attrs = serde_json::Map::new();
    if let Some(n) = name {
        attrs.insert("name".into(), json!(n));
    }
    if let Some(i) = image {
        attrs.insert("image".into(), json!(i));
    }
    if let Some(code) = extra {
        attrs.insert("exitCode".into(), json!(code));
    }
    Some(json!({
        "status": action,
        "id": e.container.as_str(),
        "from": image.unwrap_or(""),
        "Type": "container",
        "Action": action,
        "Actor": {"ID": e.container.as_str(), "Attributes": attrs},
        "scope": "local",
        "time": t.as_secs(),
        "timeNano": t.as_nanos() as u64,
    }))
}

#[derive(Deserialize, Default)]
struct EventsQuery {
    #[serde(default)]
    until: Option<String>,
}

async fn events(State(app): State<App>, Query(q): Query<EventsQuery>) -> ApiResult<Response> {
    let until = q
        .until
        .as_deref()
        .and_then(|u| u.split('.').next())
        .and_then(|u| u.parse::<i64>().ok());
    let deadline = until.map(|u| {
        let left = (u - now_secs()).max(0) as u64;
        tokio::time::Instant::now() + Duration::from_secs(left)
    });
    let sub = app.port_layer.events().subscribe();
    let app2 = app.clone();
    let stream = sub
        .then(move |e| {
            let app = app2.clone();
            async move {
                let info = app.port_layer.exec().inspect(&e.container).await.ok();
                let name = info.as_ref().and_then(|i| i.name().map(str::to_string));
                let image = info.as_ref().map(image_name);
                event_json(&e, name.as_deref(), image.as_deref())
                    .map(|j| Bytes::from(format!("{j}\n")))
            }
        })
        .filter_map(futures::future::ready)
        .map(Ok::<_, std::io::Error>);
    let body = match deadline {
        Some(d) => Body::from_stream(stream.take_until(tokio::time::sleep_until(d))),
        None => Body::from_stream(stream),
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

fn network_json(scope: &vic_portlayer::network::Scope, containers: Value) -> Value {
    let config: Vec<Value> = scope
        .subnet
        .iter()
        .map(|s| {
            json!({
                "Subnet": s.to_string(),
                "Gateway": scope.gateway.map(|g| g.to_string()).unwrap_or_default(),
            })
        })
        .collect();
    json!({
        "Name": scope.name,
        "Id": scope.id,
        "Created": "0001-01-01T00:00:00Z",
        "Scope": "local",
        "Driver": scope.kind.as_str(),
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": {"vsphere.portgroup": scope.port_group},
        "Labels": {},
    })
}

async fn list_networks(State(app): State<App>) -> ApiResult<Json<Value>> {
    let scopes = app.port_layer.network().scopes().await;
    Ok(Json(Value::Array(
        scopes.iter().map(|s| network_json(s, json!({}))).collect(),
    )))
}

async fn inspect_network(State(app): State<App>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let scopes = app.port_layer.network().scopes().await;
    let scope = scopes
        .iter()
        .find(|s| s.name == id || s.id == id || (id.len() >= 3 && s.id.starts_with(&id)))
        .ok_or_else(|| ApiError::not_found(format!("network {id} not found")))?;
    let mut containers = serde_json::Map::new();
    for ep in app.port_layer.network().endpoints(&scope.name).await? {
        containers.insert(
            ep.container.to_string(),
            json!({"Name": "", "EndpointID": "", "IPv4Address": ep.ip.map(|i| i.to_string()).unwrap_or_default()}),
        );
    }
    Ok(Json(network_json(scope, Value::Object(containers))))
}

// Named volumes are not served yet: none exist for the docker API, so that
// `docker inspect` and `docker volume ls` say so instead of failing.
async fn list_volumes() -> Json<Value> {
    Json(json!({"Volumes": [], "Warnings": []}))
}

async fn inspect_volume(Path(name): Path<String>) -> ApiError {
    ApiError::not_found(format!("get {name}: no such volume"))
}

// No plugins are installed (what `docker inspect` asks after the other kinds).
async fn inspect_plugin(Path(name): Path<String>) -> ApiError {
    ApiError::not_found(format!("plugin \"{name}\" not found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lifecycle_locks_order_operations_per_container_and_clean_up() {
        let locks = Arc::new(LifecycleLocks::default());
        let a = "a".repeat(64).parse::<ContainerId>().unwrap();
        let b = "b".repeat(64).parse::<ContainerId>().unwrap();
        let held = locks.lock(&a).await;
        // Another container's lock is free meanwhile.
        drop(locks.lock(&b).await);
        assert_eq!(locks.len(), 1);
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let waiter = {
            let locks = locks.clone();
            let a = a.clone();
            tokio::spawn(async move {
                let _g = locks.lock(&a).await;
                tx.send(()).unwrap();
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(rx.try_recv().is_err(), "the second operation waits");
        drop(held);
        assert_eq!(locks.len(), 1, "kept while an operation waits for it");
        waiter.await.unwrap();
        rx.await.unwrap();
        assert!(locks.is_empty(), "no entry left once nobody holds or waits");
    }

    #[test]
    fn version_prefixes() {
        let u: Uri = "/v1.41/containers/json?all=1".parse().unwrap();
        assert_eq!(
            strip_version(&u).unwrap().unwrap().to_string(),
            "/containers/json?all=1"
        );
        assert!(strip_version(&"/_ping".parse().unwrap()).unwrap().is_none());
        assert!(strip_version(&"/v1.99/info".parse().unwrap())
            .unwrap_err()
            .contains("too new"));
        assert!(strip_version(&"/v1.12/info".parse().unwrap())
            .unwrap_err()
            .contains("too old"));
        // A path that merely starts with v is left alone.
        assert!(strip_version(&"/volumes".parse().unwrap())
            .unwrap()
            .is_none());
    }

    #[test]
    fn dates_and_durations() {
        assert_eq!(rfc3339_secs(0), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339_secs(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_secs(1_796_215_642), "2026-12-02T12:47:22Z");
        assert_eq!(ago(now_secs() - 5), "5 seconds");
        assert_eq!(ago(now_secs() - 7300), "2 hours");
    }

    #[test]
    fn multiplexed_frames() {
        let b = mux(OutputKind::Stderr, b"hi");
        assert_eq!(b, [2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
        let c = OutputChunk {
            kind: OutputKind::Stdout,
            data: Bytes::from_static(b"x"),
        };
        assert_eq!(encode_chunk(&c, true, true, false).unwrap(), b"x");
        assert!(encode_chunk(&c, false, false, true).is_none());
    }
}
