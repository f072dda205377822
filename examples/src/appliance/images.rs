//! The image catalogue of `vic-appliance`: Docker images on a port-layer image
//! store, for `docker load`, `docker images`, `docker inspect`, `docker rmi` and
//! the image a `docker run` joins.
//!
//! ```no_run
//! # async fn demo(storage: vic_portlayer::storage::Storage) -> Result<(), examples::appliance::images::ImageError> {
//! use examples::appliance::images::Images;
//! let images = Images::open(storage, "default").await?;
//! let tarball = tokio::fs::File::open("hello.tar").await.map_err(examples::appliance::images::ImageError::Io)?;
//! println!("{}", images.load(tarball).await?.join("\n")); // Loaded image: hello-world:latest
//! let hello = images.resolve("hello-world").await?;
//! assert_eq!(hello.cmd(), ["/hello"]);
//! # Ok(()) }
//! ```
//!
//! Each layer of a loaded image becomes a port-layer image (a disk that is a
//! child of the previous layer's, the base a child of [`SCRATCH`]) named by the
//! hex of the layer's chain ID, so that a layer shared by several images is
//! stored once. The image records live in the kv store `images`:
//! `image/<hex>` holds an image (its config and layers), `tag/<name:tag>` the
//! image ID a tag points to, so a tag names one image by construction and moving
//! it is one write.
//!
//! What survives an interruption: layers are written before the record, the
//! record before its tags, and removal goes the other way (tags, record,
//! layers). A cut-short load leaves at most layers without a record, which the
//! next load of the same image takes over; a cut-short removal leaves layers
//! that no record names, taken over the same way.

mod archive;
mod reference;

pub(crate) use reference::format_rfc3339;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Mutex;
use vic_portlayer::backend::VmDetail;
use vic_portlayer::kv::KvStore;
use vic_portlayer::storage::{disk_chain, Image, Storage, SCRATCH};
use vim25::object::DatastorePath;

/// The kv store the catalogue keeps its records in.
pub const IMAGES_KV: &str = "images";

/// The largest tarball [`Images::load`] accepts unless
/// [`Images::with_load_limit`] says otherwise: 2 GiB. The tarball is held in
/// memory while it is checked and stored.
pub const DEFAULT_LOAD_LIMIT: u64 = 2 * 1024 * 1024 * 1024;

/// The prefix of image record keys (`image/<hex>`).
const IMAGE_KEY: &str = "image/";
/// The prefix of tag keys (`tag/<name:tag>`).
const TAG_KEY: &str = "tag/";

/// What went wrong with an image operation; [`ImageError::status`] is the HTTP
/// status the Docker Engine API answers with, `Display` the message it carries.
#[derive(Debug)]
#[non_exhaustive]
pub enum ImageError {
    /// No image by that reference: `No such image: foo:latest`.
    NotFound(String),
    /// The image cannot be removed: a container uses it, or (without force) it
    /// is referenced by several tags. Docker's `conflict: …` message.
    InUse(String),
    /// An ID prefix that matches several images.
    Ambiguous(String),
    /// A bad request: a tarball that is not a usable `docker save` archive
    /// (naming what is wrong), or a malformed reference.
    Invalid(String),
    /// The tarball could not be read from the request body.
    Io(std::io::Error),
    /// The catalogue's own records are unreadable or inconsistent.
    Catalogue(String),
    /// The port layer failed (storage, kv store, vSphere).
    PortLayer(vic_portlayer::Error),
}

impl ImageError {
    /// The HTTP status Docker's daemon uses for this error: 404, 409, 400 or 500.
    pub fn status(&self) -> u16 {
        match self {
            ImageError::NotFound(_) => 404,
            ImageError::InUse(_) => 409,
            ImageError::Ambiguous(_) | ImageError::Invalid(_) => 400,
            ImageError::Io(_) | ImageError::Catalogue(_) | ImageError::PortLayer(_) => 500,
        }
    }
}

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageError::NotFound(m)
            | ImageError::InUse(m)
            | ImageError::Ambiguous(m)
            | ImageError::Invalid(m) => f.write_str(m),
            ImageError::Io(e) => write!(f, "reading the image tarball: {e}"),
            ImageError::Catalogue(m) => write!(f, "image catalogue: {m}"),
            ImageError::PortLayer(e) => write!(f, "port layer: {e}"),
        }
    }
}

impl std::error::Error for ImageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ImageError::Io(e) => Some(e),
            ImageError::PortLayer(e) => Some(e),
            _ => None,
        }
    }
}

impl From<vic_portlayer::Error> for ImageError {
    fn from(e: vic_portlayer::Error) -> Self {
        ImageError::PortLayer(e)
    }
}

/// An image of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRecord {
    /// `sha256:<hex>`: the digest of its config.
    pub id: String,
    /// Its tags (`hello-world:latest`), sorted; empty for a dangling image.
    pub repo_tags: Vec<String>,
    /// When it was built (the config's `created`), seconds since the Unix epoch.
    pub created: i64,
    /// The sum of its layer tar sizes in bytes.
    pub size: u64,
    /// The image config JSON as loaded.
    pub config: Value,
    /// The port-layer image a container of this image joins: its top layer
    /// ([`SCRATCH`] for an image without layers).
    pub top_layer: String,
    /// The port-layer image IDs of its layers (chain ID hex), base first.
    pub layers: Vec<String>,
    /// The image store its layers are in.
    pub store: String,
}

/// The part of an [`ImageRecord`] stored under `image/<hex>` (tags are stored
/// apart).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredImage {
    id: String,
    created: i64,
    size: u64,
    config: Value,
    layers: Vec<String>,
}

impl ImageRecord {
    fn run_config(&self, key: &str) -> Option<&Value> {
        self.config.get("config").and_then(|c| c.get(key))
    }

    fn run_list(&self, key: &str) -> Vec<String> {
        match self.run_config(key) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    fn run_string(&self, key: &str) -> Option<String> {
        self.run_config(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// The default command (`config.Cmd`); empty when the image has none.
    pub fn cmd(&self) -> Vec<String> {
        self.run_list("Cmd")
    }

    /// The entrypoint (`config.Entrypoint`); empty when the image has none.
    pub fn entrypoint(&self) -> Vec<String> {
        self.run_list("Entrypoint")
    }

    /// The environment (`config.Env`, `NAME=value`).
    pub fn env(&self) -> Vec<String> {
        self.run_list("Env")
    }

    /// The working directory (`config.WorkingDir`), when set.
    pub fn working_dir(&self) -> Option<String> {
        self.run_string("WorkingDir")
    }

    /// The user to run as (`config.User`), when set.
    pub fn user(&self) -> Option<String> {
        self.run_string("User")
    }

    /// The layer diff IDs (`sha256:…`, base first), from the config's
    /// `rootfs.diff_ids`.
    pub fn diff_ids(&self) -> Vec<String> {
        self.config
            .pointer("/rootfs/diff_ids")
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first 12 hex digits of the ID, as `docker images` shows it.
    pub fn short_id(&self) -> &str {
        let hex = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
        &hex[..hex.len().min(12)]
    }

    fn labels(&self) -> Value {
        match self.run_config("Labels") {
            Some(labels @ Value::Object(_)) => labels.clone(),
            _ => json!({}),
        }
    }

    /// The item of `GET /images/json` for this image.
    pub fn summary_json(&self) -> Value {
        json!({
            "Id": self.id,
            "ParentId": "",
            "RepoTags": self.repo_tags,
            "RepoDigests": [],
            "Created": self.created,
            "Size": self.size,
            "SharedSize": -1,
            "VirtualSize": self.size,
            "Labels": self.labels(),
            "Containers": -1,
        })
    }

    /// The body of `GET /images/{name}/json` for this image.
    pub fn inspect_json(&self) -> Value {
        let text = |key: &str| {
            self.config
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        // The config's own spelling when it parses (it keeps the fraction).
        let created = self
            .config
            .get("created")
            .and_then(Value::as_str)
            .filter(|s| reference::parse_rfc3339(s).is_some())
            .map_or_else(|| reference::format_rfc3339(self.created), str::to_string);
        let mut inspect = json!({
            "Id": self.id,
            "RepoTags": self.repo_tags,
            "RepoDigests": [],
            "Parent": "",
            "Comment": text("comment"),
            "Created": created,
            "Container": text("container"),
            "ContainerConfig": self.config.get("container_config").cloned().unwrap_or_else(|| json!({})),
            "DockerVersion": text("docker_version"),
            "Author": text("author"),
            "Config": self.config.get("config").cloned().unwrap_or(Value::Null),
            "Architecture": text("architecture"),
            "Os": text("os"),
            "Size": self.size,
            "VirtualSize": self.size,
            "GraphDriver": {
                "Name": "vsphere",
                "Data": {
                    "ImageStore": self.store,
                    "TopLayer": self.top_layer,
                },
            },
            "RootFS": {
                "Type": "layers",
                "Layers": self.diff_ids(),
            },
            "Metadata": {
                "LastTagTime": "0001-01-01T00:00:00Z",
            },
        });
        if let Some(variant) = self.config.get("variant").and_then(Value::as_str) {
            inspect["Variant"] = json!(variant);
        }
        inspect
    }
}

/// How a reference named an image: by one of its tags or by (a prefix of) its ID.
#[derive(Debug, Clone, PartialEq)]
enum Named {
    Tag(String),
    Id,
}

/// The image catalogue on one image store. Cheap to clone; clones share the kv
/// store and the lock that serializes loads and removals.
#[derive(Debug, Clone)]
pub struct Images {
    storage: Storage,
    store: String,
    kv: KvStore,
    /// Held by every change (load, remove), so that two loads of one image do
    /// not both write its layers and a removal never races a load.
    changes: Arc<Mutex<()>>,
    load_limit: u64,
}

impl Images {
    /// Opens the catalogue on image store `store` (which must exist), with its
    /// records in kv store [`IMAGES_KV`].
    pub async fn open(storage: Storage, store: &str) -> Result<Images, ImageError> {
        storage.image_store(store).await?;
        let kv = KvStore::open(storage.backend().clone(), IMAGES_KV).await?;
        Ok(Images {
            storage,
            store: store.to_string(),
            kv,
            changes: Arc::new(Mutex::new(())),
            load_limit: DEFAULT_LOAD_LIMIT,
        })
    }

    /// The same catalogue, accepting tarballs of at most `bytes` bytes.
    pub fn with_load_limit(mut self, bytes: u64) -> Self {
        self.load_limit = bytes;
        self
    }

    /// The image store the layers are in.
    pub fn store(&self) -> &str {
        &self.store
    }

    /// The storage service.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Reads a `docker save` tarball (the body of `POST /images/load`) and stores
    /// every image in it; returns what `docker load` prints, a line per tag
    /// (`Loaded image: hello-world:latest`) or, for an image without tags,
    /// `Loaded image ID: sha256:…`. A tag that named another image moves (that
    /// image stays, untagged) and a line says so.
    ///
    /// The tarball is read into memory (at most the load limit, 2 GiB by
    /// default) and checked whole before anything is stored: [`ImageError::Invalid`]
    /// names what is wrong. Layers already in the store are reused; loading an
    /// image again changes nothing.
    pub async fn load<R: AsyncRead + Unpin + Send>(
        &self,
        tarball: R,
    ) -> Result<Vec<String>, ImageError> {
        let mut data = Vec::new();
        tarball
            .take(self.load_limit.saturating_add(1))
            .read_to_end(&mut data)
            .await
            .map_err(ImageError::Io)?;
        if data.len() as u64 > self.load_limit {
            return Err(ImageError::Invalid(format!(
                "invalid image tarball: larger than the limit of {} bytes",
                self.load_limit
            )));
        }
        // Hashing a large tarball takes seconds: off the async threads.
        let data = Bytes::from(data);
        let saved = tokio::task::spawn_blocking(move || archive::read(data))
            .await
            .map_err(|e| ImageError::Catalogue(format!("reading the tarball failed: {e}")))??;

        let _changes = self.changes.lock().await;
        let mut out = Vec::new();
        for image in saved {
            let id = format!("sha256:{}", image.config_hex);
            let mut parent = SCRATCH.to_string();
            let mut layers = Vec::with_capacity(image.layers.len());
            let mut size = 0u64;
            for layer in &image.layers {
                self.ensure_layer(&parent, layer).await?;
                size += layer.content.len() as u64;
                layers.push(layer.chain_hex.clone());
                parent = layer.chain_hex.clone();
            }
            let created = image
                .config
                .get("created")
                .and_then(Value::as_str)
                .and_then(reference::parse_rfc3339)
                .unwrap_or(0);
            let stored = StoredImage {
                id: id.clone(),
                created,
                size,
                config: image.config,
                layers,
            };
            let body = serde_json::to_string(&stored)
                .map_err(|e| ImageError::Catalogue(format!("image {id} does not encode: {e}")))?;
            self.kv.put(&image_key(&id), &body).await?;
            for tag in &image.repo_tags {
                let key = format!("{TAG_KEY}{tag}");
                if let Some(old) = self.kv.get(&key).await.filter(|old| *old != id) {
                    out.push(format!(
                        "Tag {tag} moved to {id}; image {old} no longer has it"
                    ));
                }
                self.kv.put(&key, &id).await?;
                out.push(format!("Loaded image: {tag}"));
            }
            if image.repo_tags.is_empty() {
                out.push(format!("Loaded image ID: {id}"));
            }
        }
        Ok(out)
    }

    /// Makes sure the port-layer image of `layer` exists on `parent`: reuses it
    /// when it does.
    async fn ensure_layer(
        &self,
        parent: &str,
        layer: &archive::SavedLayer,
    ) -> Result<(), ImageError> {
        let id = &layer.chain_hex;
        match self.storage.image(&self.store, id).await {
            Ok(existing) if existing.parent.as_deref() == Some(parent) => return Ok(()),
            Ok(existing) => {
                return Err(ImageError::Catalogue(format!(
                    "layer image {id} of store {} has parent {:?}, but its chain ID says {parent}",
                    self.store, existing.parent
                )))
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        let metadata = BTreeMap::from([
            ("diff_id".to_string(), layer.diff_id.clone()),
            ("chain_id".to_string(), format!("sha256:{id}")),
        ]);
        let len = layer.content.len() as u64;
        match self
            .storage
            .write_image(
                &self.store,
                parent,
                id,
                metadata,
                Cursor::new(layer.content.clone()),
                len,
            )
            .await
        {
            Ok(_) => {
                tracing::debug!(store = %self.store, layer = %id, bytes = len, "layer stored");
                Ok(())
            }
            // Written meanwhile by someone outside this catalogue: same chain ID, same content.
            Err(vic_portlayer::Error::Exists { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every image, newest first.
    pub async fn list(&self) -> Result<Vec<ImageRecord>, ImageError> {
        let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, id) in self.kv.list(&format!("{TAG_KEY}.*")).await? {
            tags.entry(id)
                .or_default()
                .push(key[TAG_KEY.len()..].to_string());
        }
        let mut out = Vec::new();
        for (key, body) in self.kv.list(&format!("{IMAGE_KEY}.*")).await? {
            let stored = decode(&key, &body)?;
            let repo_tags = tags.remove(&stored.id).unwrap_or_default();
            out.push(self.record(stored, repo_tags));
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The image `reference` names, as docker resolves it: a tag (`name` meaning
    /// `name:latest`, `docker.io/library/` optional), a full `sha256:…` ID, or an
    /// unambiguous ID prefix with or without `sha256:`.
    ///
    /// [`ImageError::NotFound`] (`No such image: …`) when nothing matches,
    /// [`ImageError::Ambiguous`] when a prefix matches several images.
    pub async fn resolve(&self, reference: &str) -> Result<ImageRecord, ImageError> {
        self.find(reference).await.map(|(record, _)| record)
    }

    async fn find(&self, reference: &str) -> Result<(ImageRecord, Named), ImageError> {
        let reference = reference.trim();
        if let Some(hex) = reference.strip_prefix("sha256:") {
            return self
                .by_id_prefix(reference, hex)
                .await
                .map(|r| (r, Named::Id));
        }
        let tag = reference::parse_tag(reference);
        if let Ok(tag) = &tag {
            if let Some(id) = self.kv.get(&format!("{TAG_KEY}{tag}")).await {
                let record = self.by_id(&id).await?.ok_or_else(|| {
                    ImageError::Catalogue(format!(
                        "tag {tag} names image {id}, which has no record"
                    ))
                })?;
                return Ok((record, Named::Tag(tag.clone())));
            }
        }
        if archive::is_hex(reference) && reference.len() <= 64 {
            return match self.by_id_prefix(reference, reference).await {
                Ok(record) => Ok((record, Named::Id)),
                // Docker names what it looked for first: the tag.
                Err(ImageError::NotFound(_)) => {
                    Err(no_such_image(tag.as_deref().unwrap_or(reference)))
                }
                Err(e) => Err(e),
            };
        }
        match tag {
            Ok(tag) => Err(no_such_image(&tag)),
            Err(why) if reference.is_empty() => Err(ImageError::Invalid(format!(
                "invalid reference format: {why}"
            ))),
            Err(_) => Err(no_such_image(reference)),
        }
    }

    async fn by_id(&self, id: &str) -> Result<Option<ImageRecord>, ImageError> {
        let key = image_key(id);
        let Some(body) = self.kv.get(&key).await else {
            return Ok(None);
        };
        let stored = decode(&key, &body)?;
        let mut tags: Vec<String> = self
            .kv
            .list(&format!("{TAG_KEY}.*"))
            .await?
            .into_iter()
            .filter(|(_, v)| *v == stored.id)
            .map(|(k, _)| k[TAG_KEY.len()..].to_string())
            .collect();
        tags.sort();
        Ok(Some(self.record(stored, tags)))
    }

    async fn by_id_prefix(&self, reference: &str, hex: &str) -> Result<ImageRecord, ImageError> {
        if !archive::is_hex(hex) || hex.len() > 64 {
            return Err(no_such_image(reference));
        }
        let matching: Vec<String> = self
            .kv
            .keys()
            .await
            .into_iter()
            .filter_map(|k| k.strip_prefix(IMAGE_KEY).map(str::to_string))
            .filter(|id| {
                id.strip_prefix("sha256:")
                    .is_some_and(|h| h.starts_with(hex))
            })
            .collect();
        match matching.as_slice() {
            [] => Err(no_such_image(reference)),
            [id] => self
                .by_id(id)
                .await?
                .ok_or_else(|| no_such_image(reference)),
            several => Err(ImageError::Ambiguous(format!(
                "image ID prefix {reference} is ambiguous: it matches {}",
                several.join(", ")
            ))),
        }
    }

    fn record(&self, stored: StoredImage, mut repo_tags: Vec<String>) -> ImageRecord {
        repo_tags.sort();
        ImageRecord {
            top_layer: stored
                .layers
                .last()
                .cloned()
                .unwrap_or_else(|| SCRATCH.to_string()),
            id: stored.id,
            repo_tags,
            created: stored.created,
            size: stored.size,
            config: stored.config,
            layers: stored.layers,
            store: self.store.clone(),
        }
    }

    /// The port-layer image a container of `record` joins (its top layer).
    pub async fn top_image(&self, record: &ImageRecord) -> Result<Image, ImageError> {
        Ok(self.storage.image(&record.store, &record.top_layer).await?)
    }

    /// `docker rmi`: removes the image `reference` names, returning Docker's
    /// response items (`{"Untagged": "hello-world:latest"}`,
    /// `{"Deleted": "sha256:…"}`).
    ///
    /// By tag, when the image has other tags, only that tag goes. Otherwise (the
    /// last tag, or by ID) the tags, the record and then the layers no other image
    /// uses are deleted, top down; each deleted layer is listed as
    /// `Deleted: sha256:<chain ID>`. By ID, an image with several tags needs
    /// `force`. While a container's disk is a child of the image's, the image is
    /// [`ImageError::InUse`] (`conflict: unable to delete … (must be forced) -
    /// image is being used by container …`); with `force` its tags are removed
    /// and the image stays, untagged.
    pub async fn remove(&self, reference: &str, force: bool) -> Result<Vec<Value>, ImageError> {
        let _changes = self.changes.lock().await;
        let (record, named) = self.find(reference).await?;
        let untag: Vec<String> = match &named {
            Named::Tag(tag) => vec![tag.clone()],
            Named::Id => {
                if record.repo_tags.len() > 1 && !force {
                    return Err(ImageError::InUse(format!(
                        "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        record.short_id()
                    )));
                }
                record.repo_tags.clone()
            }
        };
        let remaining = record.repo_tags.len() - untag.len();
        if remaining > 0 {
            return self.untag(&untag).await;
        }
        let users = self.containers_using(&record).await?;
        if !users.is_empty() {
            if force {
                return self.untag(&untag).await;
            }
            let what = match &named {
                Named::Tag(tag) => tag.clone(),
                Named::Id => record.short_id().to_string(),
            };
            return Err(ImageError::InUse(format!(
                "conflict: unable to delete {what} (must be forced) - image is being used by container {}",
                users.join(", ")
            )));
        }
        let mut items = self.untag(&untag).await?;
        match self.kv.delete(&image_key(&record.id)).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        items.push(json!({ "Deleted": record.id }));

        let kept: BTreeSet<String> = self
            .list()
            .await?
            .into_iter()
            .flat_map(|r| r.layers)
            .collect();
        for layer in record.layers.iter().rev() {
            if kept.contains(layer) {
                // Its ancestors are in that other image's chain too.
                break;
            }
            match self.storage.delete_image(&record.store, layer).await {
                Ok(()) => items.push(json!({ "Deleted": format!("sha256:{layer}") })),
                Err(e) if e.is_not_found() => {}
                Err(e @ vic_portlayer::Error::InUse { .. }) => {
                    // A VM or image outside the catalogue uses it: it stays, without
                    // a record, until a load takes it over.
                    tracing::warn!(store = %record.store, layer = %layer, error = %e, "layer kept");
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(items)
    }

    async fn untag(&self, tags: &[String]) -> Result<Vec<Value>, ImageError> {
        let mut items = Vec::new();
        for tag in tags {
            match self.kv.delete(&format!("{TAG_KEY}{tag}")).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
            items.push(json!({ "Untagged": tag }));
        }
        Ok(items)
    }

    /// The VMs (by name: a containerVM's is its container ID, shortened to 12
    /// digits here) whose disk chain includes the image's top layer.
    async fn containers_using(&self, record: &ImageRecord) -> Result<Vec<String>, ImageError> {
        if record.top_layer == SCRATCH {
            // Every container's chain ends in scratch: that says nothing about this image.
            return Ok(Vec::new());
        }
        let disk = match self.storage.image(&record.store, &record.top_layer).await {
            Ok(image) => image.disk,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut users = Vec::new();
        for vm in self.storage.backend().list_vms(VmDetail::Full).await? {
            let uses = vm
                .devices
                .iter()
                .any(|d| disk_chain(d).iter().any(|f| same_file(f, &disk)));
            if uses {
                let short = if archive::is_hex(&vm.name) && vm.name.len() > 12 {
                    vm.name[..12].to_string()
                } else {
                    vm.name.clone()
                };
                if !users.contains(&short) {
                    users.push(short);
                }
            }
        }
        users.sort();
        Ok(users)
    }
}

fn image_key(id: &str) -> String {
    format!("{IMAGE_KEY}{id}")
}

fn decode(key: &str, body: &str) -> Result<StoredImage, ImageError> {
    serde_json::from_str(body)
        .map_err(|e| ImageError::Catalogue(format!("record {key} does not parse: {e}")))
}

fn no_such_image(reference: &str) -> ImageError {
    ImageError::NotFound(format!("No such image: {reference}"))
}

/// Whether `a` and `b` name the same file (`[ds] a//b` is `[ds] a/b`).
fn same_file(a: &DatastorePath, b: &DatastorePath) -> bool {
    let segments = |p: &DatastorePath| {
        p.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    a.datastore == b.datastore && segments(a) == segments(b)
}
