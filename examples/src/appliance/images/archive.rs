//! Reading `docker save` tarballs, held whole in memory: the classic layout
//! (`manifest.json`, `<hex>.json` configs, `<dir>/layer.tar`) and Docker 25+'s
//! OCI-layout variant (`manifest.json` naming `blobs/sha256/<hex>` files, beside
//! `index.json` and `oci-layout`). Both are read through `manifest.json`; the
//! OCI index is not needed for them.
//!
//! Everything is checked before anything is stored: the config is JSON with
//! `rootfs.diff_ids`, there are as many layers as diff IDs, and each layer's
//! SHA-256 is its diff ID (so layers must be uncompressed, as `docker save`
//! writes them).

use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::reference;
use super::ImageError;

/// How many symbolic or hard links are followed from one name.
const MAX_LINK_HOPS: usize = 16;

/// One image of a tarball, checked.
#[derive(Debug, Clone)]
pub(super) struct SavedImage {
    /// The hex of the config's SHA-256: the image ID without `sha256:`.
    pub(super) config_hex: String,
    /// The config, parsed.
    pub(super) config: serde_json::Value,
    /// Its tags, in Docker's familiar form (`hello-world:latest`).
    pub(super) repo_tags: Vec<String>,
    /// Its layers, base first.
    pub(super) layers: Vec<SavedLayer>,
}

/// One layer of a [`SavedImage`].
#[derive(Debug, Clone)]
pub(super) struct SavedLayer {
    /// `sha256:<hex>` of the layer tar.
    pub(super) diff_id: String,
    /// The hex of its chain ID: the port-layer image ID.
    pub(super) chain_hex: String,
    /// The layer tar.
    pub(super) content: Bytes,
}

/// One entry of `manifest.json`.
#[derive(Debug, Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// What a name in the tarball is.
#[derive(Debug, Clone)]
enum Node {
    File(Range<usize>),
    Dir,
    /// A symbolic link, its target as written (relative to the link's directory,
    /// or to the tarball's root when absolute).
    Symlink(String),
    /// A hard link to another name of the tarball.
    HardLink(String),
}

/// The entries of a tarball held in memory, by normalized name.
struct Index {
    data: Bytes,
    nodes: HashMap<String, Node>,
}

/// Reads the images of the `docker save` tarball `data`.
pub(super) fn read(data: Bytes) -> Result<Vec<SavedImage>, ImageError> {
    let index = Index::new(data)?;
    let manifest = match index.file("manifest.json") {
        Ok(bytes) => bytes,
        Err(_) if index.nodes.contains_key("index.json") => {
            return Err(invalid(
                "it has index.json but no manifest.json: an OCI image layout without \
                 Docker's manifest is not supported, use `docker save` output",
            ))
        }
        Err(_) => {
            return Err(invalid(
                "it has no manifest.json (is it the output of `docker save`?)",
            ))
        }
    };
    let entries: Vec<ManifestEntry> = serde_json::from_slice(&manifest)
        .map_err(|e| invalid(format!("manifest.json is not a list of images: {e}")))?;
    if entries.is_empty() {
        return Err(invalid("manifest.json lists no images"));
    }
    entries
        .iter()
        .enumerate()
        .map(|(n, entry)| read_image(&index, n, entries.len(), entry))
        .collect()
}

fn read_image(
    index: &Index,
    n: usize,
    count: usize,
    entry: &ManifestEntry,
) -> Result<SavedImage, ImageError> {
    let which = format!("image {} of {count} in manifest.json", n + 1);
    let config_bytes = index
        .file(&entry.config)
        .map_err(|why| invalid(format!("{which}: its config {}: {why}", entry.config)))?;
    let config_hex = sha256_hex(&config_bytes);
    if let Some(named) = named_digest(&entry.config) {
        if named != config_hex {
            return Err(invalid(format!(
                "{which}: config {} has digest sha256:{config_hex}, not the sha256:{named} its name says",
                entry.config
            )));
        }
    }
    let config: serde_json::Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| invalid(format!("{which}: config {} is not JSON: {e}", entry.config)))?;
    if !config.is_object() {
        return Err(invalid(format!(
            "{which}: config {} is not a JSON object",
            entry.config
        )));
    }
    let diff_ids = diff_ids(&config)
        .map_err(|why| invalid(format!("{which}: config {}: {why}", entry.config)))?;
    if diff_ids.len() != entry.layers.len() {
        return Err(invalid(format!(
            "{which}: manifest.json lists {} layers, its config's rootfs.diff_ids {}",
            entry.layers.len(),
            diff_ids.len()
        )));
    }
    let mut repo_tags = Vec::new();
    for tag in entry.repo_tags.iter().flatten() {
        let familiar = reference::parse_tag(tag)
            .map_err(|why| invalid(format!("{which}: RepoTags entry {tag:?}: {why}")))?;
        if !repo_tags.contains(&familiar) {
            repo_tags.push(familiar);
        }
    }
    let mut layers = Vec::with_capacity(diff_ids.len());
    let mut chain: Option<String> = None;
    for (i, (path, diff_id)) in entry.layers.iter().zip(diff_ids).enumerate() {
        let layer = format!("layer {} of {} ({path})", i + 1, entry.layers.len());
        let content = index
            .file(path)
            .map_err(|why| invalid(format!("{which}: {layer}: {why}")))?;
        let actual = format!("sha256:{}", sha256_hex(&content));
        if actual != diff_id {
            return Err(invalid(match compression(&content) {
                Some(kind) => format!(
                    "{which}: {layer} is {kind}-compressed; only uncompressed layers \
                     (as `docker save` writes them) can be loaded"
                ),
                None => format!(
                    "{which}: {layer} has digest {actual}, but the config's rootfs.diff_ids says {diff_id}"
                ),
            }));
        }
        let chain_id = match &chain {
            None => diff_id.clone(),
            Some(parent) => format!("sha256:{}", sha256_hex(format!("{parent} {diff_id}"))),
        };
        layers.push(SavedLayer {
            chain_hex: chain_id["sha256:".len()..].to_string(),
            diff_id,
            content,
        });
        chain = Some(chain_id);
    }
    Ok(SavedImage {
        config_hex,
        config,
        repo_tags,
        layers,
    })
}

/// The config's `rootfs.diff_ids`, each checked to be `sha256:<64 hex>`.
fn diff_ids(config: &serde_json::Value) -> Result<Vec<String>, String> {
    let rootfs = config
        .get("rootfs")
        .ok_or("it has no rootfs (not an image config)")?;
    if let Some(kind) = rootfs.get("type") {
        if kind != "layers" {
            return Err(format!("rootfs.type is {kind}, not \"layers\""));
        }
    }
    let ids = match rootfs.get("diff_ids") {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(serde_json::Value::Array(ids)) => ids,
        Some(other) => return Err(format!("rootfs.diff_ids is {other}, not a list")),
    };
    ids.iter()
        .map(|id| match id.as_str() {
            Some(s) if s.strip_prefix("sha256:").is_some_and(is_full_hex) => Ok(s.to_string()),
            _ => Err(format!(
                "rootfs.diff_ids holds {id}, not a sha256:<64 hex digits> digest"
            )),
        })
        .collect()
}

/// The digest a config's file name states: `<hex>.json` (classic) or
/// `blobs/sha256/<hex>` (OCI layout).
fn named_digest(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next()?;
    let hex = name.strip_suffix(".json").unwrap_or(name);
    is_full_hex(hex).then_some(hex)
}

/// The compression a layer that failed its digest check is in, by magic number.
fn compression(content: &[u8]) -> Option<&'static str> {
    if content.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if content.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else if content.starts_with(b"BZh") {
        Some("bzip2")
    } else if content.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else {
        None
    }
}

/// Lower-case hex of the SHA-256 of `bytes`.
pub(super) fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    format!("{:x}", Sha256::digest(bytes.as_ref()))
}

/// Whether `s` is 64 lower-case hex digits.
pub(super) fn is_full_hex(s: &str) -> bool {
    s.len() == 64 && is_hex(s)
}

/// Whether `s` is non-empty lower-case hex.
pub(super) fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn invalid(why: impl std::fmt::Display) -> ImageError {
    ImageError::Invalid(format!("invalid image tarball: {why}"))
}

impl Index {
    /// Indexes the entries of the tarball `data`.
    fn new(data: Bytes) -> Result<Index, ImageError> {
        if data.is_empty() {
            return Err(invalid("the body is empty, not a tar archive"));
        }
        if data.len() < 512 {
            return Err(invalid(format!(
                "{} bytes is shorter than one tar header: not a tar archive",
                data.len()
            )));
        }
        let mut nodes = HashMap::new();
        let mut archive = tar::Archive::new(std::io::Cursor::new(&data[..]));
        let entries = archive
            .entries_with_seek()
            .map_err(|e| invalid(format!("not a tar archive: {e}")))?;
        let mut last: Option<String> = None;
        for entry in entries {
            let broken = |e: std::io::Error, last: &Option<String>| match last {
                None => invalid(format!("not a tar archive: {e}")),
                Some(name) => invalid(format!("the tar archive is corrupt after {name}: {e}")),
            };
            let entry = entry.map_err(|e| broken(e, &last))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = normalize(&raw) else {
                return Err(invalid(format!("entry {raw:?} points outside the archive")));
            };
            let kind = entry.header().entry_type();
            let node = if kind.is_file() || kind.is_contiguous() {
                let start = usize::try_from(entry.raw_file_position()).unwrap_or(usize::MAX);
                let len = usize::try_from(entry.size()).unwrap_or(usize::MAX);
                match start.checked_add(len) {
                    Some(end) if end <= data.len() => Node::File(start..end),
                    _ => return Err(invalid(format!("entry {raw:?} is truncated"))),
                }
            } else if kind.is_dir() {
                Node::Dir
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .ok_or_else(|| invalid(format!("link {raw:?} has no target")))?;
                if kind.is_symlink() {
                    Node::Symlink(target)
                } else {
                    Node::HardLink(target)
                }
            } else {
                // Devices, FIFOs, sparse files: nothing `docker save` writes.
                continue;
            };
            nodes.insert(name.clone(), node);
            last = Some(raw);
        }
        if last.is_none() {
            return Err(invalid(
                "the tar archive has no entries (is it the output of `docker save`?)",
            ));
        }
        Ok(Index { data, nodes })
    }

    /// The content of the file `path`, through links; why not otherwise.
    fn file(&self, path: &str) -> Result<Bytes, String> {
        let mut name = normalize(path).ok_or_else(|| "points outside the archive".to_string())?;
        for _ in 0..MAX_LINK_HOPS {
            name = match self.nodes.get(&name) {
                None => return Err(format!("{name} is not in the tarball")),
                Some(Node::File(range)) => return Ok(self.data.slice(range.clone())),
                Some(Node::Dir) => return Err(format!("{name} is a directory, not a file")),
                Some(Node::HardLink(target)) => {
                    normalize(target).ok_or_else(|| format!("{name} links outside the archive"))?
                }
                Some(Node::Symlink(target)) => {
                    let dir = name.rsplit_once('/').map_or("", |(dir, _)| dir);
                    let joined = if target.starts_with('/') {
                        target.clone()
                    } else {
                        format!("{dir}/{target}")
                    };
                    normalize(&joined).ok_or_else(|| format!("{name} links outside the archive"))?
                }
            };
        }
        Err(format!("{path}: more than {MAX_LINK_HOPS} links (a loop?)"))
    }
}

/// `path` without `.` and empty segments, `..` applied; `None` when `..` climbs
/// out of the archive.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalize("./a/b/../c").as_deref(), Some("a/c"));
        assert_eq!(
            normalize("/manifest.json").as_deref(),
            Some("manifest.json")
        );
        assert_eq!(normalize("../x"), None);
        assert_eq!(
            named_digest(&format!("{}.json", "a".repeat(64))),
            Some(&*"a".repeat(64))
        );
        assert_eq!(
            named_digest(&format!("blobs/sha256/{}", "b".repeat(64))),
            Some(&*"b".repeat(64))
        );
        assert_eq!(named_digest("config.json"), None);
    }
}
