//! The container's root filesystem from its image layers.
//!
//! A containerVM's root disk is a child of its image's disk, itself a child of its
//! parent image's, down to the store's `scratch` disk. The port layer keeps each
//! layer's content beside its disk (`…/images/<id>/<id>.tar`, the simulator cannot
//! write into a VMDK); here the chain is walked, each layer's tar downloaded (and
//! kept in memory for the next container of the same image, within a budget), and
//! the layers unpacked base first into a fresh directory, with Docker's
//! whiteouts: `.wh.<name>` deletes `<name>` of the layers below, `.wh..wh..opq`
//! empties its directory of what the layers below put there.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use vic_portlayer::storage::{disk_chain, SCRATCH};
use vim25::object::{Datastore, DatastorePath};
use vim25::types::{AnyVirtualDevice, ManagedObjectReference};

use super::Error;

/// The most layer content kept in memory across runs.
const CACHE_BUDGET: usize = 256 * 1024 * 1024;

/// The marker that makes a directory opaque.
const OPAQUE: &str = ".wh..wh..opq";
/// The prefix of a whiteout.
const WHITEOUT: &str = ".wh.";

/// One image layer of a container's disk chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layer {
    /// The image ID.
    pub(crate) id: String,
    /// Its content (`…/images/<id>/<id>.tar`).
    pub(crate) content: DatastorePath,
}

/// The image layers of the first disk among `devices` that has any, base first.
/// Disk files that are not image disks (the container's own disk) are skipped.
pub(crate) fn layers(devices: &[AnyVirtualDevice]) -> Vec<Layer> {
    for d in devices {
        let mut found: Vec<Layer> = disk_chain(d).iter().filter_map(image_layer).collect();
        if !found.is_empty() {
            found.reverse();
            return found;
        }
    }
    Vec::new()
}

/// The layer whose disk is `disk`, when it is an image disk
/// (`…/images/<id>/<id>.vmdk`).
fn image_layer(disk: &DatastorePath) -> Option<Layer> {
    let mut parts = disk.path.rsplit('/');
    let file = parts.next()?;
    let dir = parts.next()?;
    let images = parts.next()?;
    let id = file.strip_suffix(".vmdk")?;
    if id != dir || images != "images" || id.is_empty() {
        return None;
    }
    let folder = &disk.path[..disk.path.len() - file.len()];
    Some(Layer {
        id: id.to_string(),
        content: DatastorePath::new(disk.datastore.clone(), format!("{folder}{id}.tar")),
    })
}

/// Downloads layers by datastore path, keeping them in memory within
/// [`CACHE_BUDGET`] (a layer's content never changes under its ID).
pub(crate) struct LayerCache {
    client: vim25::Client,
    datastores: Mutex<HashMap<String, ManagedObjectReference>>,
    layers: Mutex<Cached>,
}

/// Layer contents in memory, and their total size.
#[derive(Default)]
struct Cached {
    bytes: usize,
    by_path: HashMap<DatastorePath, Arc<Vec<u8>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LayerCache {
    pub(crate) fn new(client: vim25::Client) -> Self {
        LayerCache {
            client,
            datastores: Mutex::new(HashMap::new()),
            layers: Mutex::new(Cached::default()),
        }
    }

    /// The datastore named `name` (every datastore's name read once, again on a miss).
    async fn datastore(&self, name: &str) -> Result<Datastore, Error> {
        if let Some(r) = lock(&self.datastores).get(name) {
            return Ok(Datastore::new(&self.client, r.clone()));
        }
        let found = crate::vch::named(&self.client, "Datastore").await?;
        let mut known = lock(&self.datastores);
        known.extend(found);
        known
            .get(name)
            .map(|r| Datastore::new(&self.client, r.clone()))
            .ok_or_else(|| Error::unexpected(format!("datastore {name}"), "not found"))
    }

    /// The content of `layer`; `None` when the file does not exist.
    pub(crate) async fn content(&self, layer: &Layer) -> Result<Option<Arc<Vec<u8>>>, Error> {
        if let Some(bytes) = lock(&self.layers).by_path.get(&layer.content) {
            return Ok(Some(bytes.clone()));
        }
        let ds = self.datastore(&layer.content.datastore).await?;
        let mut body = Vec::new();
        match ds.download(&layer.content.path, &mut body, |_, _| {}).await {
            Ok(_) => {}
            Err(vim25::Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(Error::layer(&layer.content, e)),
        }
        let bytes = Arc::new(body);
        let mut cache = lock(&self.layers);
        if cache.bytes + bytes.len() <= CACHE_BUDGET {
            cache.bytes += bytes.len();
            cache.by_path.insert(layer.content.clone(), bytes.clone());
        }
        Ok(Some(bytes))
    }
}

/// Downloads `layers` and unpacks them, base first, into the new directory `root`.
pub(crate) async fn build(cache: &LayerCache, layers: &[Layer], root: &Path) -> Result<(), Error> {
    let mut contents = Vec::new();
    for layer in layers {
        match cache.content(layer).await? {
            Some(bytes) => contents.push((layer.content.to_string(), bytes)),
            // The root image is an empty disk; it need not have content.
            None if layer.id == SCRATCH => {}
            None => {
                return Err(Error::layer(
                    &layer.content,
                    "the layer's content is missing",
                ))
            }
        }
    }
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::io(format!("cannot create {}", root.display()), e))?;
        for (name, bytes) in &contents {
            unpack(bytes, &root).map_err(|e| Error::layer(name, e))?;
        }
        Ok(())
    })
    .await
    .map_err(|e| Error::unexpected("unpacking layers", e.to_string()))?
}

/// `path` of a tar entry as a relative path without `.`; an error when it would
/// leave the root (`..`, a prefix).
fn relative(path: &Path) -> io::Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("entry {} escapes the root", path.display()),
                ))
            }
        }
    }
    Ok(out)
}

/// Removes whatever is at `path` (a directory with its contents); nothing there
/// is fine.
fn remove(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Unpacks one layer tar over `root`.
fn unpack(tar_bytes: &[u8], root: &Path) -> io::Result<()> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    // What this layer wrote: an opaque directory keeps those, only the lower
    // layers' entries go.
    let mut written: HashSet<PathBuf> = HashSet::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let rel = relative(&entry.path()?)?;
        let Some(name) = rel.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        if name == OPAQUE {
            let dir = root.join(&parent);
            if dir.is_dir() && !dir.is_symlink() {
                for child in std::fs::read_dir(&dir)? {
                    let child = child?;
                    if !written.contains(&parent.join(child.file_name())) {
                        remove(&child.path())?;
                    }
                }
            }
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            remove(&root.join(&parent).join(hidden))?;
            continue;
        }
        let target = root.join(&rel);
        let is_dir = entry.header().entry_type().is_dir();
        // Never write through what a lower layer left (a symlink, or a file where a
        // directory goes): replace it.
        if let Ok(m) = std::fs::symlink_metadata(&target) {
            if !(m.is_dir() && is_dir) {
                remove(&target)?;
            }
        }
        if !entry.unpack_in(root)? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("entry {} escapes the root", rel.display()),
            ));
        }
        written.insert(rel);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, body) in entries {
            let mut h = tar::Header::new_gnu();
            match body {
                Some(bytes) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(bytes.len() as u64);
                    h.set_mode(0o755);
                    h.set_cksum();
                    b.append_data(&mut h, path, *bytes).unwrap();
                }
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    h.set_cksum();
                    b.append_data(&mut h, path, &[][..]).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn layers_with_whiteouts() {
        let root = std::env::temp_dir().join(format!("tether-rootfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let base = tar_of(&[
            ("etc/", None),
            ("etc/a", Some(b"a")),
            ("etc/b", Some(b"b")),
            ("opt/", None),
            ("opt/old", Some(b"old")),
            ("hello", Some(b"#!/bin/sh\n")),
        ]);
        let top = tar_of(&[
            ("etc/.wh.a", Some(b"")),
            ("opt/new", Some(b"new")),
            ("opt/.wh..wh..opq", Some(b"")),
            ("etc/c", Some(b"c")),
        ]);
        unpack(&base, &root).unwrap();
        unpack(&top, &root).unwrap();
        assert!(!root.join("etc/a").exists());
        assert_eq!(std::fs::read(root.join("etc/b")).unwrap(), b"b");
        assert_eq!(std::fs::read(root.join("etc/c")).unwrap(), b"c");
        assert!(!root.join("opt/old").exists());
        assert_eq!(std::fs::read(root.join("opt/new")).unwrap(), b"new");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(root.join("hello"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn escaping_entries_are_refused() {
        assert!(relative(Path::new("../etc/passwd")).is_err());
        assert!(relative(Path::new("a/../../b")).is_err());
        assert_eq!(relative(Path::new("/./a/b")).unwrap(), Path::new("a/b"));
    }

    #[test]
    fn image_layers_from_the_chain_paths() {
        let disk = DatastorePath::new("ds", "VCH001/VIC/s/images/abc/abc.vmdk");
        assert_eq!(
            image_layer(&disk),
            Some(Layer {
                id: "abc".into(),
                content: DatastorePath::new("ds", "VCH001/VIC/s/images/abc/abc.tar"),
            })
        );
        assert_eq!(image_layer(&DatastorePath::new("ds", "c1/c1.vmdk")), None);
        assert_eq!(
            image_layer(&DatastorePath::new("ds", "x/images/a/b.vmdk")),
            None
        );
    }
}
