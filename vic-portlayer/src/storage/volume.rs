//! Volume stores and volumes: independent disks under `<root>/volumes/<id>/`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vim25::object::DatastorePath;

use super::image::{check_root, describe_users};
use super::{
    check_id, check_store_name, child, ignore_missing, is_under, lock, now_unix, put_bytes,
    same_file, Busy, Item, Storage,
};
use crate::{Error, Result};

/// A volume store: a named root on a datastore whose `volumes/` directory holds
/// the volumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeStore {
    /// The store's name.
    pub name: String,
    /// Its root; volumes live in `<root>/volumes/`.
    pub root: DatastorePath,
}

impl VolumeStore {
    /// `<root>/volumes`.
    pub fn volumes_dir(&self) -> DatastorePath {
        child(&self.root, "volumes")
    }

    /// `<root>/volumes/<id>`.
    pub fn volume_dir(&self, id: &str) -> DatastorePath {
        child(&self.volumes_dir(), id)
    }

    /// `<root>/volumes/<id>/<id>.vmdk`.
    pub fn disk_path(&self, id: &str) -> DatastorePath {
        child(&self.volume_dir(id), &format!("{id}.vmdk"))
    }

    /// `<root>/volumes/<id>/volume.json`: the descriptor, written last.
    pub fn descriptor_path(&self, id: &str) -> DatastorePath {
        child(&self.volume_dir(id), "volume.json")
    }

    fn item<'a>(&self, id: &'a str) -> Item<'a> {
        Item {
            kind: "volume",
            id,
            dir: self.volume_dir(id),
            descriptor: self.descriptor_path(id),
            disk: self.disk_path(id),
        }
    }
}

/// A volume: a disk that outlives containers, attached to them by
/// [`join_volume`](super::join_volume).
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// The store it is in.
    pub store: String,
    /// Its ID.
    pub id: String,
    /// The disk's capacity in KiB.
    pub capacity_kb: i64,
    /// The caller's metadata, as written.
    pub metadata: BTreeMap<String, String>,
    /// When it was created (seconds since the Unix epoch).
    pub created: i64,
    /// Its disk (`<root>/volumes/<id>/<id>.vmdk`).
    pub disk: DatastorePath,
}

/// `volume.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Descriptor {
    id: String,
    capacity_kb: i64,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    created: i64,
}

impl Storage {
    /// Creates (or adopts) the volume store `name` at `root`: makes
    /// `<root>/volumes/` when missing and remembers the store in memory. Volumes
    /// already in an existing `volumes/` directory belong to the store: a
    /// restarted port layer calls this again with the same name and root to see
    /// its volumes again. Calling it again for a known store is fine.
    ///
    /// [`Error::Exists`] when `name` is a store with another root;
    /// [`Error::InvalidInput`] when `root` is another store's root.
    pub async fn create_volume_store(
        &self,
        name: &str,
        root: DatastorePath,
    ) -> Result<VolumeStore> {
        check_store_name("volume store", name)?;
        check_root(&root)?;
        let store = VolumeStore {
            name: name.to_string(),
            root,
        };
        self.check_volume_store_free(&store)?;
        self.backend.make_dir(&store.volumes_dir()).await?;
        // Checked again: another creation may have finished while the directory was made.
        self.check_volume_store_free(&store)?;
        lock(&self.shared.volume_stores).insert(name.to_string(), store.root.clone());
        Ok(store)
    }

    fn check_volume_store_free(&self, store: &VolumeStore) -> Result<()> {
        let stores = lock(&self.shared.volume_stores);
        for (n, r) in stores.iter() {
            if *n == store.name && !same_file(r, &store.root) {
                return Err(Error::Exists {
                    kind: "volume store",
                    id: store.name.clone(),
                });
            }
            if *n != store.name && same_file(r, &store.root) {
                return Err(Error::InvalidInput(format!(
                    "{} is the root of volume store {n} already",
                    store.root
                )));
            }
        }
        Ok(())
    }

    /// The volume store `name`.
    pub fn volume_store(&self, name: &str) -> Result<VolumeStore> {
        check_store_name("volume store", name)?;
        lock(&self.shared.volume_stores)
            .get(name)
            .map(|root| VolumeStore {
                name: name.to_string(),
                root: root.clone(),
            })
            .ok_or_else(|| Error::not_found("volume store", name))
    }

    /// The volume stores, by name.
    pub fn volume_stores(&self) -> Vec<VolumeStore> {
        lock(&self.shared.volume_stores)
            .iter()
            .map(|(name, root)| VolumeStore {
                name: name.clone(),
                root: root.clone(),
            })
            .collect()
    }

    /// Deletes the volume store `name`: its `volumes/` directory (the root itself,
    /// given by the caller, stays) and the memory of it.
    ///
    /// [`Error::InUse`] (and nothing deleted) while it holds volumes, unless
    /// `force`; with `force`, while a VM's disk uses one of them.
    pub async fn delete_volume_store(&self, name: &str, force: bool) -> Result<()> {
        let store = self.volume_store(name)?;
        let dir = store.volumes_dir();
        let _claim = self.claim(&dir, Busy::Deleting, |busy| {
            if busy.keys().any(|k| *k == dir || is_under(k, &dir)) {
                Err(Error::InUse {
                    kind: "volume store",
                    id: name.to_string(),
                    by: "a volume write or deletion in progress".into(),
                })
            } else {
                Ok(())
            }
        })?;
        let ids: Vec<String> = self
            .entries(&dir)
            .await?
            .into_iter()
            .filter(|e| crate::is_safe_name(e))
            .collect();
        if !ids.is_empty() && !force {
            return Err(Error::InUse {
                kind: "volume store",
                id: name.to_string(),
                by: format!("volumes {}", ids.join(", ")),
            });
        }
        let disks: Vec<DatastorePath> = ids.iter().map(|id| store.disk_path(id)).collect();
        let users = self.disk_users(&disks).await?;
        if !users.is_empty() {
            return Err(Error::InUse {
                kind: "volume store",
                id: name.to_string(),
                by: describe_users(&users),
            });
        }
        ignore_missing(self.backend.delete_file(&dir).await)?;
        lock(&self.shared.volume_stores).remove(name);
        Ok(())
    }

    /// Creates volume `id` in store `store`: `<id>/`, the disk `<id>.vmdk` of
    /// `capacity_kb` KiB, then `volume.json` (last). A failure part way removes what
    /// was written.
    ///
    /// Errors: [`Error::InvalidInput`] for a malformed ID or a capacity below 1 KiB;
    /// [`Error::NotFound`] for an unknown store; [`Error::Exists`] when the volume
    /// exists; [`Error::InUse`] while it is being created or deleted.
    pub async fn create_volume(
        &self,
        store: &str,
        id: &str,
        capacity_kb: i64,
        metadata: BTreeMap<String, String>,
    ) -> Result<Volume> {
        check_id("volume", id)?;
        if capacity_kb < 1 {
            return Err(Error::InvalidInput(format!(
                "volume {id}: capacity {capacity_kb} KiB must be at least 1"
            )));
        }
        let store = self.volume_store(store)?;
        let item = store.item(id);
        let volumes = store.volumes_dir();
        let _claim = self.claim(&item.dir, Busy::Writing { parent: None }, |busy| {
            if busy.get(&volumes) == Some(&Busy::Deleting) {
                return Err(Error::not_found("volume store", store.name.clone()));
            }
            if busy.contains_key(&item.dir) {
                return Err(Error::InUse {
                    kind: "volume",
                    id: id.to_string(),
                    by: "another write or a deletion in progress".into(),
                });
            }
            Ok(())
        })?;
        if self.descriptor(&store, id, false).await?.is_some() {
            return Err(Error::Exists {
                kind: "volume",
                id: id.to_string(),
            });
        }
        if self.backend.exists(&item.dir).await? {
            tracing::warn!(store = %store.name, volume = id, "removing a half-written volume before creating it again");
            self.remove_item(&item.dir, &item.descriptor, &item.disk)
                .await?;
        }
        let descriptor = Descriptor {
            id: id.to_string(),
            capacity_kb,
            metadata,
            created: now_unix(),
        };
        let body = serde_json::to_vec_pretty(&descriptor).map_err(|e| Error::Corrupt {
            what: format!("the descriptor of volume {id}"),
            message: e.to_string(),
        })?;
        let r = async {
            self.backend.make_dir(&item.dir).await?;
            self.backend
                .create_disk(&item.disk, capacity_kb, None)
                .await?;
            put_bytes(&*self.backend, &item.descriptor, body).await
        }
        .await;
        if let Err(e) = r {
            self.undo_write(&item.dir, Some(&item.disk)).await;
            return Err(e);
        }
        Ok(volume_of(&store, descriptor))
    }

    async fn descriptor(
        &self,
        store: &VolumeStore,
        id: &str,
        cleanup: bool,
    ) -> Result<Option<Descriptor>> {
        let d = self
            .read_descriptor::<Descriptor>(&store.item(id), cleanup)
            .await?;
        if let Some(d) = &d {
            if d.id != id {
                return Err(Error::Corrupt {
                    what: format!("volume {id} ({})", store.descriptor_path(id)),
                    message: format!("the descriptor names volume {:?}", d.id),
                });
            }
        }
        Ok(d)
    }

    /// Volume `id` of store `store`. A half-written volume (no descriptor) is
    /// removed and reported as [`Error::NotFound`].
    pub async fn volume(&self, store: &str, id: &str) -> Result<Volume> {
        check_id("volume", id)?;
        let store = self.volume_store(store)?;
        let d = self
            .descriptor(&store, id, true)
            .await?
            .ok_or_else(|| Error::not_found("volume", id))?;
        Ok(volume_of(&store, d))
    }

    /// The volumes of store `store`, by ID. Half-written volumes are removed
    /// (logged) and not listed; volumes being created now are not listed; one
    /// with an unreadable descriptor is skipped (logged).
    pub async fn volumes(&self, store: &str) -> Result<Vec<Volume>> {
        let store = self.volume_store(store)?;
        let mut out = Vec::new();
        for entry in self.entries(&store.volumes_dir()).await? {
            if !crate::is_safe_name(&entry) {
                tracing::warn!(store = %store.name, entry = %entry, "ignoring an entry that cannot be a volume");
                continue;
            }
            if self.is_busy(&store.volume_dir(&entry)) {
                continue;
            }
            match self.descriptor(&store, &entry, true).await {
                Ok(Some(d)) => out.push(volume_of(&store, d)),
                Ok(None) => {}
                Err(e @ Error::Corrupt { .. }) => {
                    tracing::warn!(store = %store.name, volume = %entry, error = %e, "skipping an unreadable volume")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Deletes volume `id` of store `store`: its descriptor first, then its disk
    /// and directory.
    ///
    /// [`Error::InUse`] (and nothing deleted) while a VM's disk uses it.
    pub async fn delete_volume(&self, store: &str, id: &str) -> Result<()> {
        let volume = self.volume(store, id).await?;
        let store = self.volume_store(store)?;
        let item = store.item(id);
        let _claim = self.claim(&item.dir, Busy::Deleting, |busy| {
            if busy.contains_key(&item.dir) {
                Err(Error::InUse {
                    kind: "volume",
                    id: id.to_string(),
                    by: "a write or deletion in progress".into(),
                })
            } else {
                Ok(())
            }
        })?;
        let users = self.disk_users(std::slice::from_ref(&volume.disk)).await?;
        if !users.is_empty() {
            return Err(Error::InUse {
                kind: "volume",
                id: id.to_string(),
                by: describe_users(&users),
            });
        }
        self.remove_item(&item.dir, &item.descriptor, &item.disk)
            .await
    }
}

fn volume_of(store: &VolumeStore, d: Descriptor) -> Volume {
    Volume {
        store: store.name.clone(),
        disk: store.disk_path(&d.id),
        id: d.id,
        capacity_kb: d.capacity_kb,
        metadata: d.metadata,
        created: d.created,
    }
}
