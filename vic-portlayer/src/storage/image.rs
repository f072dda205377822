//! Image stores and images: layered disks, each a child of its parent's.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncRead;
use vim25::object::DatastorePath;

use super::{
    check_id, check_store_name, child, ignore_missing, is_under, lock, now_unix, put_bytes, Busy,
    Exact, Item, Storage,
};
use crate::{Error, Result};

/// The ID of the root image every store has: an empty disk without parent, the
/// parent of base layers (as in VIC).
pub const SCRATCH: &str = "scratch";

/// The capacity of new image disks unless [`Storage::with_image_disk_kb`] says
/// otherwise: 8 GiB, VIC's default (thin provisioned).
pub const DEFAULT_IMAGE_DISK_KB: i64 = 8 * 1024 * 1024;

/// The directory under the VCH folder that holds default image stores.
const DEFAULT_PARENT: &str = "VIC";

/// An image store: a named directory of images on a datastore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageStore {
    /// The store's name.
    pub name: String,
    /// Its root (`[ds] <VCH folder>/VIC/<name>` by default); images live in
    /// `<root>/images/`.
    pub root: DatastorePath,
}

impl ImageStore {
    /// `<root>/images`.
    pub fn images_dir(&self) -> DatastorePath {
        child(&self.root, "images")
    }

    /// `<root>/images/<id>`.
    pub fn image_dir(&self, id: &str) -> DatastorePath {
        child(&self.images_dir(), id)
    }

    /// `<root>/images/<id>/<id>.vmdk`.
    pub fn disk_path(&self, id: &str) -> DatastorePath {
        child(&self.image_dir(id), &format!("{id}.vmdk"))
    }

    /// `<root>/images/<id>/manifest.json`.
    pub fn manifest_path(&self, id: &str) -> DatastorePath {
        child(&self.image_dir(id), "manifest.json")
    }

    /// `<root>/images/<id>/<id>.tar`: the content stream as written.
    pub fn content_path(&self, id: &str) -> DatastorePath {
        child(&self.image_dir(id), &format!("{id}.tar"))
    }

    fn item<'a>(&self, id: &'a str) -> Item<'a> {
        Item {
            kind: "image",
            id,
            dir: self.image_dir(id),
            descriptor: self.manifest_path(id),
            disk: self.disk_path(id),
        }
    }
}

/// An image (one layer) as its manifest describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The store it is in.
    pub store: String,
    /// Its ID.
    pub id: String,
    /// Its parent's ID; `None` for [`SCRATCH`].
    pub parent: Option<String>,
    /// The IDs of its ancestors, nearest first (the parent, …, `scratch`).
    pub ancestors: Vec<String>,
    /// The caller's metadata, as written.
    pub metadata: BTreeMap<String, String>,
    /// The size of the content stream in bytes.
    pub size: u64,
    /// The disk's capacity in KiB.
    pub capacity_kb: i64,
    /// When it was written (seconds since the Unix epoch).
    pub created: i64,
    /// Its disk (`<store>/images/<id>/<id>.vmdk`).
    pub disk: DatastorePath,
    /// The disks of its ancestors, nearest first: the parent chain of its disk.
    pub ancestor_disks: Vec<DatastorePath>,
}

impl Image {
    /// The parent image's disk, of which this image's disk is a child.
    pub fn parent_disk(&self) -> Option<&DatastorePath> {
        self.ancestor_disks.first()
    }
}

/// `manifest.json`. No content digest: no SHA-256 implementation is available to
/// this crate; `size` is checked while the stream is stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    id: String,
    parent: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    size: u64,
    capacity_kb: i64,
    #[serde(default)]
    created: i64,
}

impl Storage {
    fn default_image_root(&self, name: &str) -> DatastorePath {
        child(&child(&self.backend.vch_folder(), DEFAULT_PARENT), name)
    }

    fn registered_image_store(&self, name: &str) -> Option<DatastorePath> {
        lock(&self.shared.image_stores).get(name).cloned()
    }

    /// Creates the image store `name` at the default root
    /// (`[ds] <VCH folder>/VIC/<name>`), with its `scratch` image.
    ///
    /// [`Error::Exists`] when a store of that name exists. A store whose creation
    /// was interrupted (its `images/` directory without a complete `scratch`) is
    /// completed instead.
    pub async fn create_image_store(&self, name: &str) -> Result<ImageStore> {
        check_store_name("image store", name)?;
        if self.registered_image_store(name).is_some() {
            return Err(exists("image store", name));
        }
        let store = ImageStore {
            name: name.to_string(),
            root: self.default_image_root(name),
        };
        self.create_store(&store).await?;
        Ok(store)
    }

    /// Creates the image store `name` with its root at `root` (images in
    /// `<root>/images/`). The store is remembered in memory: after a restart,
    /// register it again with [`Storage::open_image_store_at`].
    ///
    /// [`Error::Exists`] when a store of that name is known or `root` holds a
    /// store already.
    pub async fn create_image_store_at(
        &self,
        name: &str,
        root: DatastorePath,
    ) -> Result<ImageStore> {
        check_store_name("image store", name)?;
        check_root(&root)?;
        let store = ImageStore {
            name: name.to_string(),
            root,
        };
        {
            // Reserve the name first, so that two creations cannot both take it.
            let mut stores = lock(&self.shared.image_stores);
            if stores.contains_key(name) {
                return Err(exists("image store", name));
            }
            stores.insert(name.to_string(), store.root.clone());
        }
        let r = async {
            if self
                .backend
                .exists(&child(&self.default_image_root(name), "images"))
                .await?
            {
                return Err(exists("image store", name));
            }
            self.create_store(&store).await
        }
        .await;
        if r.is_err() {
            lock(&self.shared.image_stores).remove(name);
        }
        r.map(|()| store)
    }

    /// Registers the existing image store at `root` under `name` (what a restarted
    /// port layer does for stores outside the default root). Registering the same
    /// store again is fine.
    ///
    /// [`Error::NotFound`] when `root` holds no store; [`Error::Exists`] when
    /// `name` is taken by another store.
    pub async fn open_image_store_at(&self, name: &str, root: DatastorePath) -> Result<ImageStore> {
        check_store_name("image store", name)?;
        check_root(&root)?;
        let store = ImageStore {
            name: name.to_string(),
            root,
        };
        if !self.backend.exists(&store.images_dir()).await? {
            return Err(Error::not_found("image store", store.root.to_string()));
        }
        let default = self.default_image_root(name);
        if default != store.root && self.backend.exists(&child(&default, "images")).await? {
            return Err(exists("image store", name));
        }
        let mut stores = lock(&self.shared.image_stores);
        match stores.get(name) {
            Some(r) if *r != store.root => Err(exists("image store", name)),
            _ => {
                stores.insert(name.to_string(), store.root.clone());
                Ok(store)
            }
        }
    }

    /// Makes `store`'s `images/` directory and its scratch image.
    async fn create_store(&self, store: &ImageStore) -> Result<()> {
        let images = store.images_dir();
        let _claim = self.claim(&images, Busy::Writing { parent: None }, |busy| {
            if busy.keys().any(|k| *k == images || is_under(k, &images)) {
                Err(Error::InUse {
                    kind: "image store",
                    id: store.name.clone(),
                    by: "another operation in progress".into(),
                })
            } else {
                Ok(())
            }
        })?;
        let scratch = store.item(SCRATCH);
        let resumed = self.backend.exists(&images).await?;
        if resumed {
            if self
                .read_descriptor::<Manifest>(&scratch, false)
                .await?
                .is_some()
            {
                return Err(exists("image store", &store.name));
            }
            tracing::warn!(store = %store.name, root = %store.root, "completing an image store whose creation was interrupted");
            if self.backend.exists(&scratch.dir).await? {
                self.remove_item(&scratch.dir, &scratch.descriptor, &scratch.disk)
                    .await?;
            }
        }
        let r = async {
            self.backend.make_dir(&images).await?;
            let empty: &'static [u8] = &[];
            self.write_layer(store, SCRATCH, None, BTreeMap::new(), Box::new(empty), 0)
                .await
        }
        .await;
        if let Err(e) = r {
            if !resumed {
                // The store's own directory when it is ours, else just `images/`.
                let dir = if store.root == self.default_image_root(&store.name) {
                    &store.root
                } else {
                    &images
                };
                self.undo_write(dir, None).await;
            }
            return Err(e);
        }
        Ok(())
    }

    /// The image store `name`.
    pub async fn image_store(&self, name: &str) -> Result<ImageStore> {
        check_store_name("image store", name)?;
        if let Some(root) = self.registered_image_store(name) {
            return Ok(ImageStore {
                name: name.to_string(),
                root,
            });
        }
        let root = self.default_image_root(name);
        if self.backend.exists(&child(&root, "images")).await? {
            Ok(ImageStore {
                name: name.to_string(),
                root,
            })
        } else {
            Err(Error::not_found("image store", name))
        }
    }

    /// Every image store: those under the default root (found on the datastore)
    /// and those registered in memory, by name.
    pub async fn image_stores(&self) -> Result<Vec<ImageStore>> {
        let mut out: BTreeMap<String, DatastorePath> = BTreeMap::new();
        let parent = child(&self.backend.vch_folder(), DEFAULT_PARENT);
        for name in self.entries(&parent).await? {
            if !crate::is_safe_name(&name) {
                continue;
            }
            let root = child(&parent, &name);
            if self.backend.exists(&child(&root, "images")).await? {
                out.insert(name, root);
            }
        }
        out.extend(lock(&self.shared.image_stores).clone());
        Ok(out
            .into_iter()
            .map(|(name, root)| ImageStore { name, root })
            .collect())
    }

    /// Deletes the image store `name` with all its images.
    ///
    /// [`Error::InUse`] (and nothing deleted) while a VM's disk uses one of its
    /// images, or while an image of it is being written.
    pub async fn delete_image_store(&self, name: &str) -> Result<()> {
        let store = self.image_store(name).await?;
        let images = store.images_dir();
        let _claim = self.claim(&images, Busy::Deleting, |busy| {
            if busy.keys().any(|k| *k == images || is_under(k, &images)) {
                Err(Error::InUse {
                    kind: "image store",
                    id: name.to_string(),
                    by: "an image write or deletion in progress".into(),
                })
            } else {
                Ok(())
            }
        })?;
        let ids: Vec<String> = self
            .entries(&images)
            .await?
            .into_iter()
            .filter(|e| crate::is_safe_name(e))
            .collect();
        let disks: Vec<DatastorePath> = ids.iter().map(|id| store.disk_path(id)).collect();
        let users = self.disk_users(&disks).await?;
        if !users.is_empty() {
            return Err(Error::InUse {
                kind: "image store",
                id: name.to_string(),
                by: describe_users(&users),
            });
        }
        let own_root = store.root == self.default_image_root(name);
        let dir = if own_root { &store.root } else { &images };
        ignore_missing(self.backend.delete_file(dir).await)?;
        lock(&self.shared.image_stores).remove(name);
        Ok(())
    }

    // ---- images --------------------------------------------------------------

    /// Writes image `id` into `store` as a child of `parent` (use [`SCRATCH`] for a
    /// base layer): makes `<id>/`, creates the disk `<id>.vmdk` as a child of the
    /// parent's disk, stores the `len` bytes of `content` as `<id>.tar` beside it
    /// (the simulator cannot write into a VMDK, and the port layer does not mount
    /// disks), and writes `manifest.json` last. A failure part way removes what
    /// was written; a write cut short by a crash or cancellation leaves a
    /// directory without manifest, which reading the store removes.
    ///
    /// Errors: [`Error::InvalidInput`] for a malformed ID; [`Error::NotFound`] for
    /// an unknown store or parent; [`Error::Exists`] when the image exists;
    /// [`Error::InUse`] while the same image is being written or deleted; an I/O
    /// error when `content` holds fewer than `len` bytes (bytes past `len` are not
    /// read).
    pub async fn write_image<R>(
        &self,
        store: &str,
        parent: &str,
        id: &str,
        metadata: BTreeMap<String, String>,
        content: R,
        len: u64,
    ) -> Result<Image>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        check_id("image", id)?;
        check_id("image", parent)?;
        if id == parent {
            return Err(Error::InvalidInput(format!(
                "image {id} cannot be its own parent"
            )));
        }
        let store = self.image_store(store).await?;
        let images = store.images_dir();
        let dir = store.image_dir(id);
        let parent_dir = store.image_dir(parent);
        let _claim = self.claim(
            &dir,
            Busy::Writing {
                parent: Some(parent_dir.clone()),
            },
            |busy| {
                if busy.get(&images) == Some(&Busy::Deleting) {
                    return Err(Error::not_found("image store", store.name.clone()));
                }
                if busy.get(&parent_dir) == Some(&Busy::Deleting) {
                    return Err(Error::not_found("image", parent));
                }
                if busy.contains_key(&dir) {
                    return Err(Error::InUse {
                        kind: "image",
                        id: id.to_string(),
                        by: "another write or a deletion in progress".into(),
                    });
                }
                Ok(())
            },
        )?;
        let parent = self.load_image(&store, parent, true).await?;
        let item = store.item(id);
        if self
            .read_descriptor::<Manifest>(&item, false)
            .await?
            .is_some()
        {
            return Err(exists("image", id));
        }
        if self.backend.exists(&item.dir).await? {
            tracing::warn!(store = %store.name, image = id, "removing a half-written image before writing it again");
            self.remove_item(&item.dir, &item.descriptor, &item.disk)
                .await?;
        }
        self.write_layer(
            &store,
            id,
            Some(&parent),
            metadata,
            Box::new(Exact::new(content, len)),
            len,
        )
        .await
    }

    /// The files of one image, manifest last; undoes them on failure.
    async fn write_layer(
        &self,
        store: &ImageStore,
        id: &str,
        parent: Option<&Image>,
        metadata: BTreeMap<String, String>,
        content: Box<dyn AsyncRead + Send + Unpin>,
        len: u64,
    ) -> Result<Image> {
        let dir = store.image_dir(id);
        let disk = store.disk_path(id);
        let capacity_kb = parent.map_or(self.image_disk_kb, |p| {
            p.capacity_kb.max(self.image_disk_kb)
        });
        let manifest = Manifest {
            id: id.to_string(),
            parent: parent.map(|p| p.id.clone()),
            metadata,
            size: len,
            capacity_kb,
            created: now_unix(),
        };
        let body = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Corrupt {
            what: format!("the manifest of image {id}"),
            message: e.to_string(),
        })?;
        let r = async {
            self.backend.make_dir(&dir).await?;
            self.backend
                .create_disk(&disk, capacity_kb, parent.map(|p| &p.disk))
                .await?;
            self.backend
                .upload(&store.content_path(id), content, len)
                .await?;
            put_bytes(&*self.backend, &store.manifest_path(id), body).await
        }
        .await;
        if let Err(e) = r {
            self.undo_write(&dir, Some(&disk)).await;
            return Err(e);
        }
        let (ancestors, ancestor_disks) = match parent {
            Some(p) => {
                let mut a = vec![p.id.clone()];
                a.extend(p.ancestors.iter().cloned());
                let mut d = vec![p.disk.clone()];
                d.extend(p.ancestor_disks.iter().cloned());
                (a, d)
            }
            None => (Vec::new(), Vec::new()),
        };
        Ok(image_of(store, manifest, ancestors, ancestor_disks))
    }

    /// Image `id` of `store`, with its ancestors read from their manifests.
    async fn load_image(&self, store: &ImageStore, id: &str, cleanup: bool) -> Result<Image> {
        let manifest = self
            .manifest(store, id, cleanup)
            .await?
            .ok_or_else(|| Error::not_found("image", id))?;
        let mut ancestors = Vec::new();
        let mut seen = BTreeSet::from([id.to_string()]);
        let mut next = manifest.parent.clone();
        while let Some(p) = next {
            if !seen.insert(p.clone()) {
                return Err(broken(id, &format!("its parent chain loops at {p}")));
            }
            let m = self
                .manifest(store, &p, false)
                .await?
                .ok_or_else(|| broken(id, &format!("its ancestor {p} is missing")))?;
            next = m.parent;
            ancestors.push(p);
        }
        let disks = ancestors.iter().map(|a| store.disk_path(a)).collect();
        Ok(image_of(store, manifest, ancestors, disks))
    }

    /// The manifest of image `id`, checked to name it.
    async fn manifest(
        &self,
        store: &ImageStore,
        id: &str,
        cleanup: bool,
    ) -> Result<Option<Manifest>> {
        check_id("image", id).map_err(|_| broken(id, "an ancestor ID is malformed"))?;
        let m = self
            .read_descriptor::<Manifest>(&store.item(id), cleanup)
            .await?;
        if let Some(m) = &m {
            if m.id != id {
                return Err(Error::Corrupt {
                    what: format!("image {id} ({})", store.manifest_path(id)),
                    message: format!("the manifest names image {:?}", m.id),
                });
            }
            if let Some(p) = &m.parent {
                if !crate::is_safe_name(p) {
                    return Err(broken(id, &format!("its parent ID {p:?} is malformed")));
                }
            }
        }
        Ok(m)
    }

    /// Image `id` of store `store`. A half-written image (no manifest) is removed
    /// and reported as [`Error::NotFound`].
    pub async fn image(&self, store: &str, id: &str) -> Result<Image> {
        check_id("image", id)?;
        let store = self.image_store(store).await?;
        self.load_image(&store, id, true).await
    }

    /// The images of store `store` (with [`SCRATCH`]), by ID. Half-written images
    /// are removed (logged) and not listed; images being written now are not
    /// listed; an image whose manifest or parent chain is unreadable is skipped
    /// (logged).
    pub async fn images(&self, store: &str) -> Result<Vec<Image>> {
        let store = self.image_store(store).await?;
        self.images_of(&store).await
    }

    /// The readable manifests of the store's images, by ID (half-written ones
    /// removed, ones being written or deleted now left out).
    async fn manifests_of(&self, store: &ImageStore) -> Result<BTreeMap<String, Manifest>> {
        let mut manifests = BTreeMap::new();
        for entry in self.entries(&store.images_dir()).await? {
            if !crate::is_safe_name(&entry) {
                tracing::warn!(store = %store.name, entry = %entry, "ignoring an entry that cannot be an image");
                continue;
            }
            if self.is_busy(&store.image_dir(&entry)) {
                continue;
            }
            match self.manifest(store, &entry, true).await {
                Ok(Some(m)) => {
                    manifests.insert(entry, m);
                }
                Ok(None) => {}
                Err(e @ Error::Corrupt { .. }) => {
                    tracing::warn!(store = %store.name, image = %entry, error = %e, "skipping an unreadable image")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(manifests)
    }

    async fn images_of(&self, store: &ImageStore) -> Result<Vec<Image>> {
        let manifests = self.manifests_of(store).await?;
        let mut out = Vec::new();
        'images: for (id, m) in &manifests {
            let mut ancestors = Vec::new();
            let mut next = m.parent.as_deref();
            while let Some(p) = next {
                let Some(pm) = manifests
                    .get(p)
                    .filter(|_| p != id && !ancestors.iter().any(|a| a == p))
                else {
                    tracing::warn!(store = %store.name, image = %id, ancestor = p, "skipping an image whose parent chain is broken");
                    continue 'images;
                };
                ancestors.push(p.to_string());
                next = pm.parent.as_deref();
            }
            let disks = ancestors.iter().map(|a| store.disk_path(a)).collect();
            out.push(image_of(store, m.clone(), ancestors, disks));
        }
        Ok(out)
    }

    /// The content stream image `id` was written with.
    pub async fn read_content(&self, store: &str, id: &str) -> Result<Vec<u8>> {
        let image = self.image(store, id).await?;
        let store = self.image_store(&image.store).await?;
        match self.backend.download(&store.content_path(id)).await {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.is_not_found() => Err(broken(id, "its content file is missing")),
            Err(e) => Err(e),
        }
    }

    /// Deletes image `id` of store `store`: its manifest first, then its disk and
    /// directory.
    ///
    /// [`Error::InUse`] (and nothing deleted) when another image names it as
    /// parent or is being written on it, when a VM's disk chain includes its disk,
    /// or for [`SCRATCH`] while the store holds other images.
    pub async fn delete_image(&self, store: &str, id: &str) -> Result<()> {
        check_id("image", id)?;
        let store = self.image_store(store).await?;
        let image = self.load_image(&store, id, true).await?;
        let dir = store.image_dir(id);
        let _claim = self.claim(&dir, Busy::Deleting, |busy| {
            if busy.contains_key(&dir) {
                return Err(Error::InUse {
                    kind: "image",
                    id: id.to_string(),
                    by: "a write or deletion in progress".into(),
                });
            }
            if busy
                .values()
                .any(|b| matches!(b, Busy::Writing { parent: Some(p) } if *p == dir))
            {
                return Err(Error::InUse {
                    kind: "image",
                    id: id.to_string(),
                    by: "an image being written on it".into(),
                });
            }
            Ok(())
        })?;
        // Manifests, not images: the chains of this image's descendants pass
        // through it, left out of listings while it is claimed.
        let others = self.manifests_of(&store).await?;
        let children: Vec<&str> = others
            .values()
            .filter(|m| m.parent.as_deref() == Some(id))
            .map(|m| m.id.as_str())
            .collect();
        if !children.is_empty() {
            return Err(Error::InUse {
                kind: "image",
                id: id.to_string(),
                by: format!("child images {}", children.join(", ")),
            });
        }
        if id == SCRATCH {
            let rest: Vec<&str> = others
                .keys()
                .map(String::as_str)
                .filter(|i| *i != SCRATCH)
                .collect();
            if !rest.is_empty() {
                return Err(Error::InUse {
                    kind: "image",
                    id: id.to_string(),
                    by: format!("images {}", rest.join(", ")),
                });
            }
        }
        let users = self.disk_users(std::slice::from_ref(&image.disk)).await?;
        if !users.is_empty() {
            return Err(Error::InUse {
                kind: "image",
                id: id.to_string(),
                by: describe_users(&users),
            });
        }
        let item = store.item(id);
        self.remove_item(&item.dir, &item.descriptor, &item.disk)
            .await
    }
}

fn image_of(
    store: &ImageStore,
    m: Manifest,
    ancestors: Vec<String>,
    ancestor_disks: Vec<DatastorePath>,
) -> Image {
    Image {
        store: store.name.clone(),
        disk: store.disk_path(&m.id),
        id: m.id,
        parent: m.parent,
        ancestors,
        metadata: m.metadata,
        size: m.size,
        capacity_kb: m.capacity_kb,
        created: m.created,
        ancestor_disks,
    }
}

fn exists(kind: &'static str, id: &str) -> Error {
    Error::Exists {
        kind,
        id: id.to_string(),
    }
}

fn broken(id: &str, message: &str) -> Error {
    Error::Corrupt {
        what: format!("image {id}"),
        message: message.to_string(),
    }
}

pub(crate) fn check_root(root: &DatastorePath) -> Result<()> {
    if root.datastore.is_empty() || root.path.split('/').any(|s| s == "..") {
        return Err(Error::InvalidInput(format!(
            "{root} is not a usable store root (a datastore and a path without '..')"
        )));
    }
    Ok(())
}

/// `containers a, b (…disk)`, for [`Error::InUse`].
pub(crate) fn describe_users(users: &BTreeMap<String, Vec<String>>) -> String {
    let mut vms: Vec<&str> = users.values().flatten().map(String::as_str).collect();
    vms.sort_unstable();
    vms.dedup();
    format!("VMs {}", vms.join(", "))
}
