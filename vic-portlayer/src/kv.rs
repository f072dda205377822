//! Key/value stores: small named maps of strings, persisted as one JSON file each in
//! the VCH's datastore folder (`<vch folder>/kvStores/<name>`).
//!
//! The whole map lives in memory; every [`put`](KvStore::put) and
//! [`delete`](KvStore::delete) writes the whole map back before it changes the
//! memory copy, so a failed write leaves the store exactly as it was and the caller
//! sees the error. Writers are serialized (the lock is held across the write), so
//! concurrent puts never lose one another's keys.
//!
//! Values are strings; callers with binary data encode it (base64, JSON) themselves.
//! One process owns a store: two processes writing the same file would overwrite
//! each other's changes.
//!
//! ```no_run
//! # async fn demo(backend: std::sync::Arc<dyn vic_portlayer::backend::Backend>) -> vic_portlayer::Result<()> {
//! use vic_portlayer::kv::KvStore;
//! let kv = KvStore::open(backend, "network").await?;
//! kv.put("scope/web", "{}").await?;
//! assert_eq!(kv.get("scope/web").await.as_deref(), Some("{}"));
//! let scopes = kv.list("scope/.*").await?; // the whole key must match
//! assert_eq!(scopes.len(), 1);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use tokio::sync::Mutex;
use vim25::object::DatastorePath;

use crate::backend::Backend;
use crate::{is_safe_name, Error, Result};

/// The folder, under the VCH's folder, that holds the stores.
pub const KV_FOLDER: &str = "kvStores";

/// A named key/value store. Cheap to clone; clones share the map and its lock.
#[derive(Clone)]
pub struct KvStore {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    name: String,
    path: DatastorePath,
    map: Mutex<BTreeMap<String, String>>,
}

impl fmt::Debug for KvStore {
    // Values may hold anything a caller stored (credentials included): Debug shows
    // where the store lives, never its contents.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvStore")
            .field("name", &self.inner.name)
            .field("path", &self.inner.path.to_string())
            .finish_non_exhaustive()
    }
}

impl KvStore {
    /// Opens the store `name` (letters, digits, `-`, `_`, `.`), loading
    /// `<vch folder>/kvStores/<name>` when it exists; a missing file is an empty
    /// store (the file is written by the first change). A file that is not a JSON
    /// object of strings is [`Error::Corrupt`].
    pub async fn open(backend: Arc<dyn Backend>, name: &str) -> Result<KvStore> {
        if !is_safe_name(name) {
            return Err(Error::InvalidInput(format!(
                "kv store name {name:?} must be letters, digits, '-', '_' or '.' (not leading)"
            )));
        }
        let path = store_path(&backend.vch_folder(), name);
        let map = if backend.exists(&path).await? {
            let bytes = backend.download(&path).await?;
            parse(&path, &bytes)?
        } else {
            BTreeMap::new()
        };
        Ok(KvStore {
            inner: Arc::new(Inner {
                backend,
                name: name.to_string(),
                path,
                map: Mutex::new(map),
            }),
        })
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The file the store is persisted in.
    pub fn path(&self) -> &DatastorePath {
        &self.inner.path
    }

    /// The value of `key`, if set.
    pub async fn get(&self, key: &str) -> Option<String> {
        self.inner.map.lock().await.get(key).cloned()
    }

    /// Sets `key` to `value` and persists the store. On error nothing changed.
    pub async fn put(&self, key: &str, value: &str) -> Result<()> {
        if key.is_empty() {
            return Err(Error::InvalidInput("kv key must not be empty".into()));
        }
        let mut map = self.inner.map.lock().await;
        if map.get(key).map(String::as_str) == Some(value) {
            return Ok(());
        }
        let mut next = map.clone();
        next.insert(key.to_string(), value.to_string());
        self.persist(&next).await?;
        *map = next;
        Ok(())
    }

    /// Deletes `key` and persists the store; an absent key is
    /// [`Error::NotFound`]. On error nothing changed.
    pub async fn delete(&self, key: &str) -> Result<()> {
        let mut map = self.inner.map.lock().await;
        if !map.contains_key(key) {
            return Err(Error::not_found("kv key", key));
        }
        let mut next = map.clone();
        next.remove(key);
        self.persist(&next).await?;
        *map = next;
        Ok(())
    }

    /// The entries whose key matches `pattern`, sorted by key. The pattern is a
    /// regular expression (`regex-lite` syntax) that must match the *whole* key:
    /// `scope/.*` lists the keys starting with `scope/`, `web` only the key `web`.
    /// A malformed pattern is [`Error::InvalidInput`].
    pub async fn list(&self, pattern: &str) -> Result<Vec<(String, String)>> {
        let re = regex_lite::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            Error::InvalidInput(format!(
                "kv pattern {pattern:?} is not a regular expression: {e}"
            ))
        })?;
        let map = self.inner.map.lock().await;
        Ok(map
            .iter()
            .filter(|(k, _)| re.is_match(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    /// Every key, sorted.
    pub async fn keys(&self) -> Vec<String> {
        self.inner.map.lock().await.keys().cloned().collect()
    }

    /// Writes `next` as the store's file, atomically: the new contents go to a
    /// temporary file beside it (`.NAME.writing`, a name no store can have), which
    /// then replaces the store's file in one move. A failure or a crash at any point
    /// leaves the previous file whole.
    async fn persist(&self, next: &BTreeMap<String, String>) -> Result<()> {
        let inner = &self.inner;
        let body = encode(next)?;
        let dir = store_path(&inner.backend.vch_folder(), "");
        let staging = store_path(
            &inner.backend.vch_folder(),
            &format!(".{}.writing", inner.name),
        );
        inner.backend.make_dir(&dir).await?;
        upload(inner.backend.as_ref(), &staging, body).await?;
        if let Err(e) = inner.backend.move_file(&staging, &inner.path).await {
            if let Err(again) = inner.backend.delete_file(&staging).await {
                tracing::debug!(
                    store = %inner.name,
                    error = %again,
                    "kv store: the staged write could not be removed (the next write replaces it)"
                );
            }
            return Err(e);
        }
        Ok(())
    }
}

fn store_path(vch: &DatastorePath, name: &str) -> DatastorePath {
    let base = vch.path.trim_end_matches('/');
    let path = match (base.is_empty(), name.is_empty()) {
        (true, true) => KV_FOLDER.to_string(),
        (true, false) => format!("{KV_FOLDER}/{name}"),
        (false, true) => format!("{base}/{KV_FOLDER}"),
        (false, false) => format!("{base}/{KV_FOLDER}/{name}"),
    };
    DatastorePath::new(vch.datastore.clone(), path)
}

fn encode(map: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    serde_json::to_vec(map)
        .map_err(|e| Error::InvalidInput(format!("kv store does not encode: {e}")))
}

fn parse(path: &DatastorePath, bytes: &[u8]) -> Result<BTreeMap<String, String>> {
    serde_json::from_slice::<BTreeMap<String, String>>(bytes).map_err(|e| Error::Corrupt {
        what: format!("kv store {path}"),
        message: format!("expected a JSON object of strings: {e}"),
    })
}

async fn upload(backend: &dyn Backend, path: &DatastorePath, body: Vec<u8>) -> Result<()> {
    let len = body.len() as u64;
    backend
        .upload(path, Box::new(std::io::Cursor::new(body)), len)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let vch = DatastorePath::new("ds", "VCH001");
        assert_eq!(
            store_path(&vch, "net").to_string(),
            "[ds] VCH001/kvStores/net"
        );
        assert_eq!(store_path(&vch, "").to_string(), "[ds] VCH001/kvStores");
        let root = DatastorePath::new("ds", "");
        assert_eq!(store_path(&root, "net").to_string(), "[ds] kvStores/net");
    }

    #[test]
    fn corrupt_files() {
        let p = DatastorePath::new("ds", "x");
        assert!(matches!(parse(&p, b"{"), Err(Error::Corrupt { .. })));
        assert!(matches!(
            parse(&p, b"{\"a\": 1}"),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(parse(&p, b"[]"), Err(Error::Corrupt { .. })));
        let m = parse(&p, b"{\"a\": \"b\"}").unwrap();
        assert_eq!(m.get("a").map(String::as_str), Some("b"));
        assert_eq!(parse(&p, &encode(&m).unwrap()).unwrap(), m);
    }
}
