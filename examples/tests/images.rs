//! The image catalogue of `vic-appliance` on the in-memory port layer: `docker
//! load` of the project's hello-world tarball (built by `scripts/hello-image.sh`)
//! and of tarballs made here (classic and OCI-layout `docker save` output, shared
//! base layers, symlinked layers, broken ones), look-ups as docker resolves them,
//! `docker rmi` with tags, IDs, force and a container using the image.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use examples::appliance::images::{ImageError, ImageRecord, Images};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use vic_config::model::ExecutorConfig;
use vic_portlayer::backend::Backend;
use vic_portlayer::events::EventHub;
use vic_portlayer::exec::{Exec, ExecSettings};
use vic_portlayer::memory::MemoryBackend;
use vic_portlayer::storage::{join_image, Storage, SCRATCH};
use vic_portlayer::ContainerId;
use vim25::object::DatastorePath;

const STORE: &str = "default";

fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    format!("{:x}", Sha256::digest(bytes.as_ref()))
}

/// Docker's chain IDs of layers with these diff IDs (`sha256:…`), base first, as hex.
fn chain_hexes(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut chain: Option<String> = None;
    for diff in diff_ids {
        let next = match &chain {
            None => diff.clone(),
            Some(parent) => format!("sha256:{}", sha256_hex(format!("{parent} {diff}"))),
        };
        out.push(next["sha256:".len()..].to_string());
        chain = Some(next);
    }
    out
}

/// A scratch directory for this test process.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("images-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("make a temporary directory");
    dir
}

/// The tarball `scripts/hello-image.sh` makes (built once per test process).
fn hello_tarball() -> &'static [u8] {
    static TARBALL: OnceLock<Vec<u8>> = OnceLock::new();
    TARBALL.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = scratch_dir("hello").join("hello.tar");
        let run = std::process::Command::new("bash")
            .arg(root.join("scripts/hello-image.sh"))
            .arg(&out)
            .output()
            .expect("run scripts/hello-image.sh");
        assert!(
            run.status.success(),
            "hello-image.sh failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&run.stdout).trim(),
            out.display().to_string(),
            "the script prints the output path"
        );
        let tarball = std::fs::read(&out).expect("read the hello tarball");
        if let Some(dir) = out.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
        tarball
    })
}

/// The file `name` of the tarball `tarball`.
fn entry(tarball: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut archive = tar::Archive::new(tarball);
    for e in archive.entries().ok()? {
        let mut e = e.ok()?;
        if e.path().ok()?.to_string_lossy() == name {
            let mut out = Vec::new();
            e.read_to_end(&mut out).ok()?;
            return Some(out);
        }
    }
    None
}

/// A backend, its storage with store `default`, and the catalogue on it.
async fn catalogue() -> (Arc<MemoryBackend>, Storage, Images) {
    let backend = Arc::new(MemoryBackend::new("datastore1", "VCH001"));
    backend
        .make_dir(&backend.vch_folder())
        .await
        .expect("make the VCH folder");
    let storage = Storage::new(backend.clone());
    storage
        .create_image_store(STORE)
        .await
        .expect("create the image store");
    let images = Images::open(storage.clone(), STORE)
        .await
        .expect("open the catalogue");
    (backend, storage, images)
}

/// The IDs of the port-layer images in the store.
async fn layer_ids(storage: &Storage) -> BTreeSet<String> {
    storage
        .images(STORE)
        .await
        .expect("list the store")
        .into_iter()
        .map(|i| i.id)
        .collect()
}

/// A tar of `files` (name, mode, content), deterministic.
fn tar_of(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, mode, content) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(content.len() as u64);
        h.set_mode(*mode);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *content).expect("tar entry");
    }
    b.into_inner().expect("finish the tar")
}

/// An entry of a tarball made by [`tarball`].
enum Entry<'a> {
    File(&'a str, Vec<u8>),
    Symlink(&'a str, &'a str),
}

fn tarball(entries: Vec<Entry<'_>>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        match e {
            Entry::File(name, content) => {
                h.set_size(content.len() as u64);
                h.set_mode(0o644);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, name, &content[..])
                    .expect("tar entry");
            }
            Entry::Symlink(name, target) => {
                h.set_size(0);
                h.set_mode(0o777);
                h.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut h, name, target).expect("tar link");
            }
        }
    }
    b.into_inner().expect("finish the tar")
}

/// An image to put into a tarball.
#[derive(Clone)]
struct TestImage {
    tags: Vec<String>,
    layers: Vec<Vec<u8>>,
    config: Vec<u8>,
}

impl TestImage {
    /// An image of `layers` whose config says `cmd` (which makes its ID differ).
    fn new(tags: &[&str], layers: Vec<Vec<u8>>, cmd: &str) -> Self {
        let diff_ids: Vec<String> = layers
            .iter()
            .map(|l| format!("sha256:{}", sha256_hex(l)))
            .collect();
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2023-05-02T16:49:27.18755207Z",
            "author": "images test",
            "config": {
                "Cmd": [cmd],
                "Entrypoint": ["/bin/sh", "-c"],
                "Env": ["PATH=/bin", "A=1"],
                "WorkingDir": "/work",
                "User": "1000",
                "Labels": {"purpose": "test"},
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        TestImage {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            layers,
            config: serde_json::to_vec(&config).unwrap(),
        }
    }

    fn id(&self) -> String {
        format!("sha256:{}", sha256_hex(&self.config))
    }

    fn diff_ids(&self) -> Vec<String> {
        self.layers
            .iter()
            .map(|l| format!("sha256:{}", sha256_hex(l)))
            .collect()
    }

    fn chain(&self) -> Vec<String> {
        chain_hexes(&self.diff_ids())
    }
}

/// The classic `docker save` layout: `<hex>/layer.tar` per layer (written once
/// when shared), `<hex>.json` configs, `manifest.json`, `repositories`.
fn classic(images: &[TestImage]) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut written = BTreeSet::new();
    let mut manifest = Vec::new();
    for image in images {
        let mut layer_paths = Vec::new();
        for layer in &image.layers {
            let dir = sha256_hex(layer);
            if written.insert(dir.clone()) {
                entries.push(Entry::File(leak(format!("{dir}/VERSION")), b"1.0".to_vec()));
                entries.push(Entry::File(leak(format!("{dir}/layer.tar")), layer.clone()));
            }
            layer_paths.push(format!("{dir}/layer.tar"));
        }
        let config_name = format!("{}.json", sha256_hex(&image.config));
        entries.push(Entry::File(leak(config_name.clone()), image.config.clone()));
        manifest
            .push(json!({"Config": config_name, "RepoTags": image.tags, "Layers": layer_paths}));
    }
    entries.push(Entry::File(
        "manifest.json",
        serde_json::to_vec(&manifest).unwrap(),
    ));
    entries.push(Entry::File("repositories", b"{}".to_vec()));
    tarball(entries)
}

/// Docker 25+'s OCI-layout variant: every file under `blobs/sha256/`, with
/// `index.json`, `oci-layout` and `manifest.json`. `blob_of` turns a layer into
/// the blob stored for it (the identity for `docker save` output).
fn oci(images: &[TestImage], blob_of: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let mut entries = vec![Entry::File(
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    )];
    let mut manifest = Vec::new();
    let mut index = Vec::new();
    let mut written = BTreeSet::new();
    for image in images {
        let mut layer_paths = Vec::new();
        for layer in &image.layers {
            let blob = blob_of(layer);
            let hex = sha256_hex(&blob);
            if written.insert(hex.clone()) {
                entries.push(Entry::File(leak(format!("blobs/sha256/{hex}")), blob));
            }
            layer_paths.push(format!("blobs/sha256/{hex}"));
        }
        let config_path = format!("blobs/sha256/{}", sha256_hex(&image.config));
        entries.push(Entry::File(leak(config_path.clone()), image.config.clone()));
        manifest
            .push(json!({"Config": config_path, "RepoTags": image.tags, "Layers": layer_paths}));
        index.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json"}));
    }
    entries.push(Entry::File(
        "index.json",
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": index})).unwrap(),
    ));
    entries.push(Entry::File(
        "manifest.json",
        serde_json::to_vec(&manifest).unwrap(),
    ));
    tarball(entries)
}

/// Entry names live as long as the test: leaked to keep [`Entry`] borrowing.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn base_layer() -> Vec<u8> {
    tar_of(&[
        ("bin/sh", 0o755, b"#!shell\n"),
        ("etc/os-release", 0o644, b"ID=test\n"),
    ])
}

fn app_layer(name: &str) -> Vec<u8> {
    tar_of(&[(name, 0o755, name.as_bytes())])
}

fn invalid_message(e: ImageError) -> String {
    assert_eq!(e.status(), 400, "{e}");
    match e {
        ImageError::Invalid(m) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn hello_world_loads_and_resolves_as_docker_does() {
    let tarball = hello_tarball();
    let manifest: Value =
        serde_json::from_slice(&entry(tarball, "manifest.json").expect("manifest.json")).unwrap();
    let layer_path = manifest[0]["Layers"][0].as_str().unwrap().to_string();
    let layer = entry(tarball, &layer_path).expect("the layer tar");
    let config_name = manifest[0]["Config"].as_str().unwrap().to_string();
    let config = entry(tarball, &config_name).expect("the config");
    let id = format!("sha256:{}", sha256_hex(&config));
    assert_eq!(config_name, format!("{}.json", sha256_hex(&config)));
    // The layer holds /hello, executable, owned by root.
    let mut files = tar::Archive::new(&layer[..]);
    let hello: Vec<(String, u32, u64, u64)> = files
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.size().unwrap(),
            )
        })
        .collect();
    assert_eq!(hello.len(), 1, "{hello:?}");
    assert_eq!(
        (hello[0].0.as_str(), hello[0].1, hello[0].2),
        ("hello", 0o755, 0)
    );
    assert!(hello[0].3 > 1000, "a real program: {hello:?}");

    let (_backend, storage, images) = catalogue().await;
    let lines = images.load(tarball).await.expect("load hello-world");
    assert_eq!(lines, ["Loaded image: hello-world:latest"]);

    let list = images.list().await.unwrap();
    assert_eq!(list.len(), 1);
    let record = &list[0];
    assert_eq!(record.id, id);
    assert_eq!(record.repo_tags, ["hello-world:latest"]);
    assert_eq!(record.created, 1_704_067_200, "2024-01-01T00:00:00Z");
    assert_eq!(record.size, layer.len() as u64);
    assert_eq!(record.cmd(), ["/hello"]);
    assert!(record.entrypoint().is_empty());
    assert_eq!(
        record.env(),
        ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    );
    assert_eq!(record.working_dir(), None);
    assert_eq!(record.store, STORE);

    // The base layer's chain ID is its diff ID.
    let diff_hex = sha256_hex(&layer);
    assert_eq!(record.layers, std::slice::from_ref(&diff_hex));
    assert_eq!(record.top_layer, diff_hex);
    let image = storage.image(STORE, &diff_hex).await.unwrap();
    assert_eq!(image.parent.as_deref(), Some(SCRATCH));
    assert_eq!(
        image.metadata.get("diff_id").map(String::as_str),
        Some(format!("sha256:{diff_hex}").as_str())
    );
    assert_eq!(storage.read_content(STORE, &diff_hex).await.unwrap(), layer);
    assert_eq!(images.top_image(record).await.unwrap().id, diff_hex);

    let hex = &id["sha256:".len()..];
    for reference in [
        "hello-world",
        "hello-world:latest",
        "docker.io/library/hello-world",
        "docker.io/library/hello-world:latest",
        id.as_str(),
        hex,
        &hex[..12],
        &hex[..1],
        &format!("sha256:{}", &hex[..5]),
    ] {
        let found = images
            .resolve(reference)
            .await
            .unwrap_or_else(|e| panic!("resolve {reference}: {e}"));
        assert_eq!(&found, record, "{reference}");
    }

    let summary = record.summary_json();
    assert_eq!(summary["Id"], json!(id));
    assert_eq!(summary["ParentId"], json!(""));
    assert_eq!(summary["RepoTags"], json!(["hello-world:latest"]));
    assert_eq!(summary["RepoDigests"], json!([]));
    assert_eq!(summary["Created"], json!(1_704_067_200));
    assert_eq!(summary["Size"], json!(layer.len()));
    assert_eq!(summary["VirtualSize"], json!(layer.len()));
    assert_eq!(summary["SharedSize"], json!(-1));
    assert_eq!(summary["Containers"], json!(-1));
    assert_eq!(summary["Labels"], json!({}));

    let inspect = record.inspect_json();
    assert_eq!(inspect["Id"], json!(id));
    assert_eq!(inspect["Created"], json!("2024-01-01T00:00:00Z"));
    assert_eq!(inspect["Architecture"], json!("amd64"));
    assert_eq!(inspect["Os"], json!("linux"));
    assert_eq!(inspect["Config"]["Cmd"], json!(["/hello"]));
    assert_eq!(inspect["RootFS"]["Type"], json!("layers"));
    assert_eq!(
        inspect["RootFS"]["Layers"],
        json!([format!("sha256:{diff_hex}")])
    );
    assert_eq!(inspect["GraphDriver"]["Name"], json!("vsphere"));
    assert_eq!(inspect["GraphDriver"]["Data"]["TopLayer"], json!(diff_hex));
    assert_eq!(inspect["Size"], json!(layer.len()));
    assert_eq!(inspect["Parent"], json!(""));
    assert!(inspect["Metadata"].is_object());

    // The records outlive the catalogue object: a new one reads them back.
    let again = Images::open(storage.clone(), STORE).await.unwrap();
    assert_eq!(again.list().await.unwrap(), list);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loading_again_changes_nothing_also_when_concurrent() {
    let (_backend, storage, images) = catalogue().await;
    let tarball = hello_tarball();
    let loads: Vec<_> = (0..3)
        .map(|_| {
            let images = images.clone();
            tokio::spawn(async move { images.load(tarball).await })
        })
        .collect();
    for load in loads {
        let lines = load.await.expect("the load task").expect("load");
        assert_eq!(lines, ["Loaded image: hello-world:latest"]);
    }
    let before = images.list().await.unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(layer_ids(&storage).await.len(), 2, "scratch and one layer");

    let lines = images.load(tarball).await.unwrap();
    assert_eq!(lines, ["Loaded image: hello-world:latest"]);
    assert_eq!(images.list().await.unwrap(), before);
    assert_eq!(layer_ids(&storage).await.len(), 2);
}

#[tokio::test]
async fn a_shared_base_layer_is_stored_once_and_removed_last() {
    let (_backend, storage, images) = catalogue().await;
    let one = TestImage::new(&["one:1"], vec![base_layer(), app_layer("one")], "/one");
    let two = TestImage::new(&["two:2"], vec![base_layer(), app_layer("two")], "/two");
    let lines = images
        .load(&classic(&[one.clone(), two.clone()])[..])
        .await
        .unwrap();
    assert_eq!(lines, ["Loaded image: one:1", "Loaded image: two:2"]);

    let base = sha256_hex(base_layer());
    assert_eq!(one.chain()[0], base);
    assert_eq!(two.chain()[0], base);
    let expected: BTreeSet<String> = [
        SCRATCH.to_string(),
        base.clone(),
        one.chain()[1].clone(),
        two.chain()[1].clone(),
    ]
    .into_iter()
    .collect();
    assert_eq!(layer_ids(&storage).await, expected);
    for image in [&one, &two] {
        let top = storage.image(STORE, &image.chain()[1]).await.unwrap();
        assert_eq!(top.parent.as_deref(), Some(base.as_str()));
        assert_eq!(top.ancestors, [base.clone(), SCRATCH.to_string()]);
        let record = images.resolve(&image.tags[0]).await.unwrap();
        assert_eq!(record.id, image.id());
        assert_eq!(record.layers, image.chain());
        assert_eq!(record.entrypoint(), ["/bin/sh", "-c"]);
        assert_eq!(record.env(), ["PATH=/bin", "A=1"]);
        assert_eq!(record.working_dir().as_deref(), Some("/work"));
        assert_eq!(record.user().as_deref(), Some("1000"));
        assert_eq!(record.created, 1_683_046_167);
        assert_eq!(record.summary_json()["Labels"], json!({"purpose": "test"}));
        assert_eq!(
            record.inspect_json()["Created"],
            json!("2023-05-02T16:49:27.18755207Z")
        );
        assert_eq!(record.inspect_json()["Author"], json!("images test"));
    }

    // The last tag of one: its own layer goes, the shared base stays.
    let items = images.remove("one:1", false).await.unwrap();
    assert_eq!(
        items,
        [
            json!({"Untagged": "one:1"}),
            json!({"Deleted": one.id()}),
            json!({"Deleted": format!("sha256:{}", one.chain()[1])}),
        ]
    );
    assert!(storage.image(STORE, &base).await.is_ok());
    let items = images.remove(&two.id(), false).await.unwrap();
    assert_eq!(
        items,
        [
            json!({"Untagged": "two:2"}),
            json!({"Deleted": two.id()}),
            json!({"Deleted": format!("sha256:{}", two.chain()[1])}),
            json!({"Deleted": format!("sha256:{base}")}),
        ]
    );
    assert_eq!(
        layer_ids(&storage).await,
        BTreeSet::from([SCRATCH.to_string()])
    );
    assert!(images.list().await.unwrap().is_empty());

    // Loading one image after the other writes the base once, reused by the second.
    images
        .load(&classic(std::slice::from_ref(&one))[..])
        .await
        .unwrap();
    images
        .load(&classic(std::slice::from_ref(&two))[..])
        .await
        .unwrap();
    assert_eq!(layer_ids(&storage).await, expected);
}

#[tokio::test]
async fn symlinked_layers_of_older_docker_save_load() {
    let (_backend, storage, images) = catalogue().await;
    let image = TestImage::new(&["linked:latest"], vec![base_layer()], "/x");
    let layer = base_layer();
    let config_name = format!("{}.json", sha256_hex(&image.config));
    let manifest =
        json!([{"Config": config_name, "RepoTags": ["linked"], "Layers": ["v1b/layer.tar"]}]);
    let tarball = tarball(vec![
        Entry::File("v1a/layer.tar", layer.clone()),
        Entry::Symlink("v1b/layer.tar", "../v1a/layer.tar"),
        Entry::File(leak(config_name), image.config.clone()),
        Entry::File("manifest.json", serde_json::to_vec(&manifest).unwrap()),
    ]);
    let lines = images.load(&tarball[..]).await.unwrap();
    assert_eq!(lines, ["Loaded image: linked:latest"]);
    let top = images.resolve("linked").await.unwrap().top_layer;
    assert_eq!(storage.read_content(STORE, &top).await.unwrap(), layer);
}

#[tokio::test]
async fn the_oci_layout_variant_loads() {
    let (_backend, storage, images) = catalogue().await;
    let image = TestImage::new(
        &["docker.io/library/oci:v1"],
        vec![base_layer(), app_layer("oci")],
        "/oci",
    );
    let untagged = TestImage::new(&[], vec![base_layer()], "/untagged");
    let lines = images
        .load(&oci(&[image.clone(), untagged.clone()], <[u8]>::to_vec)[..])
        .await
        .unwrap();
    assert_eq!(
        lines,
        [
            "Loaded image: oci:v1".to_string(),
            format!("Loaded image ID: {}", untagged.id())
        ]
    );
    let record = images.resolve("oci:v1").await.unwrap();
    assert_eq!(record.id, image.id());
    assert_eq!(record.repo_tags, ["oci:v1"]);
    assert_eq!(
        storage
            .read_content(STORE, &record.top_layer)
            .await
            .unwrap(),
        app_layer("oci")
    );
    let dangling = images.resolve(&untagged.id()).await.unwrap();
    assert!(dangling.repo_tags.is_empty());
    assert_eq!(dangling.summary_json()["RepoTags"], json!([]));
    assert_eq!(images.list().await.unwrap().len(), 2);
}

#[tokio::test]
async fn compressed_layers_are_refused_by_name() {
    let (_backend, storage, images) = catalogue().await;
    let image = TestImage::new(&["gz:1"], vec![base_layer()], "/gz");
    // A blob with gzip's magic number: the uncompressed diff ID cannot match it.
    let gzip_like = |layer: &[u8]| {
        let mut blob = vec![0x1f, 0x8b, 0x08, 0x00];
        blob.extend_from_slice(layer);
        blob
    };
    let e = images
        .load(&oci(&[image], gzip_like)[..])
        .await
        .unwrap_err();
    let message = invalid_message(e);
    assert!(message.contains("gzip-compressed"), "{message}");
    assert!(message.contains("layer 1 of 1"), "{message}");
    assert_eq!(layer_ids(&storage).await.len(), 1, "nothing stored");
}

#[tokio::test]
async fn broken_tarballs_are_refused_with_what_is_wrong() {
    let (_backend, storage, images) = catalogue().await;
    let good = TestImage::new(&["good:1"], vec![base_layer(), app_layer("good")], "/good");
    let config_name = format!("{}.json", sha256_hex(&good.config));
    let base_dir = sha256_hex(base_layer());
    let app_dir = sha256_hex(app_layer("good"));
    let manifest = |layers: Vec<String>| {
        serde_json::to_vec(
            &json!([{"Config": config_name, "RepoTags": ["good:1"], "Layers": layers}]),
        )
        .unwrap()
    };
    let both = vec![
        format!("{base_dir}/layer.tar"),
        format!("{app_dir}/layer.tar"),
    ];

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty body", Vec::new(), "empty"),
        ("too short for tar", b"hello".to_vec(), "not a tar archive"),
        (
            "random bytes",
            (0..4096u32).map(|i| (i * 7 + 3) as u8).collect(),
            "not a tar archive",
        ),
        (
            "no manifest",
            tarball(vec![Entry::File("repositories", b"{}".to_vec())]),
            "no manifest.json",
        ),
        (
            "manifest not JSON",
            tarball(vec![Entry::File("manifest.json", b"[{".to_vec())]),
            "manifest.json is not a list of images",
        ),
        (
            "config missing",
            tarball(vec![Entry::File("manifest.json", manifest(both.clone()))]),
            "is not in the tarball",
        ),
        (
            "config not JSON",
            tarball(vec![
                Entry::File(leak(format!("{}.json", sha256_hex(b"{nope"))), b"{nope".to_vec()),
                Entry::File(
                    "manifest.json",
                    serde_json::to_vec(&json!([{"Config": format!("{}.json", sha256_hex(b"{nope")), "Layers": []}])).unwrap(),
                ),
            ]),
            "is not JSON",
        ),
        (
            "config renamed",
            tarball(vec![
                Entry::File(leak(format!("{}.json", "0".repeat(64))), good.config.clone()),
                Entry::File(
                    "manifest.json",
                    serde_json::to_vec(&json!([{"Config": format!("{}.json", "0".repeat(64)), "Layers": both}])).unwrap(),
                ),
            ]),
            "not the sha256:0000",
        ),
        (
            "layer missing",
            tarball(vec![
                Entry::File(leak(format!("{base_dir}/layer.tar")), base_layer()),
                Entry::File(leak(config_name.clone()), good.config.clone()),
                Entry::File("manifest.json", manifest(both.clone())),
            ]),
            "layer 2 of 2",
        ),
        (
            "layer count",
            tarball(vec![
                Entry::File(leak(format!("{base_dir}/layer.tar")), base_layer()),
                Entry::File(leak(config_name.clone()), good.config.clone()),
                Entry::File("manifest.json", manifest(vec![both[0].clone()])),
            ]),
            "lists 1 layers, its config's rootfs.diff_ids 2",
        ),
        (
            "digest mismatch",
            tarball(vec![
                Entry::File(leak(format!("{base_dir}/layer.tar")), base_layer()),
                Entry::File(leak(format!("{app_dir}/layer.tar")), app_layer("evil")),
                Entry::File(leak(config_name.clone()), good.config.clone()),
                Entry::File("manifest.json", manifest(both.clone())),
            ]),
            "but the config's rootfs.diff_ids says",
        ),
        (
            "layer outside",
            tarball(vec![
                Entry::File(leak(config_name.clone()), good.config.clone()),
                Entry::File("manifest.json", manifest(vec!["../etc/passwd".into(), "x".into()])),
            ]),
            "outside the archive",
        ),
        (
            "bad tag",
            tarball(vec![
                Entry::File(leak(config_name.clone()), good.config.clone()),
                Entry::File(
                    "manifest.json",
                    serde_json::to_vec(&json!([{"Config": config_name, "RepoTags": ["Bad:Name"], "Layers": both}])).unwrap(),
                ),
            ]),
            "RepoTags entry",
        ),
    ];
    for (what, body, expected) in cases {
        let e = images.load(&body[..]).await.unwrap_err();
        let message = invalid_message(e);
        assert!(message.contains(expected), "{what}: {message}");
        assert!(
            message.starts_with("invalid image tarball: "),
            "{what}: {message}"
        );
    }
    assert!(images.list().await.unwrap().is_empty());
    assert_eq!(layer_ids(&storage).await.len(), 1, "only scratch");

    // The same image whole loads: the cases above broke one thing each.
    images.load(&classic(&[good])[..]).await.unwrap();

    let limited = images.clone().with_load_limit(1000);
    let message = invalid_message(limited.load(hello_tarball()).await.unwrap_err());
    assert!(message.contains("limit of 1000 bytes"), "{message}");
}

#[tokio::test]
async fn rmi_untags_until_the_last_tag_then_deletes() {
    let (_backend, storage, images) = catalogue().await;
    let image = TestImage::new(
        &["app:1", "app:2", "other/app:latest"],
        vec![base_layer()],
        "/app",
    );
    images
        .load(&classic(std::slice::from_ref(&image))[..])
        .await
        .unwrap();
    let record = images.resolve("app:1").await.unwrap();
    assert_eq!(record.repo_tags, ["app:1", "app:2", "other/app:latest"]);

    // By ID with several tags needs force.
    let e = images.remove(&image.id(), false).await.unwrap_err();
    assert_eq!(e.status(), 409);
    assert!(e.to_string().contains("must be forced"), "{e}");
    assert!(
        e.to_string()
            .contains("referenced in multiple repositories"),
        "{e}"
    );

    let items = images.remove("app:1", false).await.unwrap();
    assert_eq!(items, [json!({"Untagged": "app:1"})]);
    let e = images.resolve("app:1").await.unwrap_err();
    assert!(matches!(e, ImageError::NotFound(_)), "{e:?}");
    assert_eq!(e.to_string(), "No such image: app:1");
    let items = images.remove("docker.io/other/app", false).await.unwrap();
    assert_eq!(items, [json!({"Untagged": "other/app:latest"})]);
    assert_eq!(images.resolve("app:2").await.unwrap().repo_tags, ["app:2"]);

    let items = images.remove("app:2", false).await.unwrap();
    assert_eq!(
        items,
        [
            json!({"Untagged": "app:2"}),
            json!({"Deleted": image.id()}),
            json!({"Deleted": format!("sha256:{}", image.chain()[0])}),
        ]
    );
    assert!(images.list().await.unwrap().is_empty());
    assert_eq!(
        layer_ids(&storage).await,
        BTreeSet::from([SCRATCH.to_string()])
    );

    // Forced by ID: every tag, then the image.
    images
        .load(&classic(std::slice::from_ref(&image))[..])
        .await
        .unwrap();
    let items = images.remove(&image.id()[..15], true).await.unwrap();
    assert_eq!(items.len(), 5, "{items:?}");
    assert_eq!(items[3], json!({"Deleted": image.id()}));
    assert!(images.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_image_a_container_uses_is_not_deleted() {
    let (backend, storage, images) = catalogue().await;
    images.load(hello_tarball()).await.unwrap();
    let record = images.resolve("hello-world").await.unwrap();
    let top = images.top_image(&record).await.unwrap();

    let iso = DatastorePath::new("datastore1", "VCH001/bootstrap.iso");
    let exec = Exec::new(
        backend.clone(),
        ExecSettings::new("datastore1", iso),
        EventHub::default(),
    );
    let id = ContainerId::random();
    let mut handle = exec
        .create_handle(id.clone(), ExecutorConfig::default())
        .unwrap();
    join_image(&mut handle, &top, top.capacity_kb).unwrap();
    exec.commit(handle).await.expect("create the containerVM");

    for reference in ["hello-world", record.id.as_str()] {
        let e = images.remove(reference, false).await.unwrap_err();
        assert_eq!(e.status(), 409, "{e}");
        let message = e.to_string();
        assert!(matches!(e, ImageError::InUse(_)));
        assert!(
            message.starts_with("conflict: unable to delete "),
            "{message}"
        );
        assert!(
            message.contains("(must be forced) - image is being used by container"),
            "{message}"
        );
        assert!(message.contains(&id.as_str()[..12]), "{message}");
    }
    assert_eq!(images.resolve("hello-world").await.unwrap(), record);

    // Forced: untagged, the image and its layer stay for the container.
    let items = images.remove("hello-world:latest", true).await.unwrap();
    assert_eq!(items, [json!({"Untagged": "hello-world:latest"})]);
    let list = images.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].repo_tags.is_empty());
    assert!(storage.image(STORE, &record.top_layer).await.is_ok());

    // Once the container is gone, the image goes with its layer.
    exec.remove(&id, false).await.expect("remove the container");
    let items = images.remove(&record.id, false).await.unwrap();
    assert_eq!(
        items,
        [
            json!({"Deleted": record.id}),
            json!({"Deleted": format!("sha256:{}", record.top_layer)}),
        ]
    );
}

#[tokio::test]
async fn unknown_and_ambiguous_references() {
    let (_backend, _storage, images) = catalogue().await;
    for (reference, message) in [
        ("nope", "No such image: nope:latest"),
        ("nope:1", "No such image: nope:1"),
        ("sha256:abcdef", "No such image: sha256:abcdef"),
        ("abcdef", "No such image: abcdef:latest"),
    ] {
        let e = images.resolve(reference).await.unwrap_err();
        assert_eq!(e.status(), 404, "{reference}");
        assert_eq!(e.to_string(), message);
        let e = images.remove(reference, true).await.unwrap_err();
        assert!(matches!(e, ImageError::NotFound(_)), "{reference}: {e:?}");
    }

    // Two images whose IDs share their first hex digit.
    let mut by_first: std::collections::BTreeMap<char, TestImage> = Default::default();
    let (a, b) = (0..)
        .find_map(|n| {
            let image = TestImage::new(&[], vec![base_layer()], &format!("/cmd{n}"));
            let first = image.id().chars().nth(7).unwrap();
            by_first
                .insert(first, image.clone())
                .map(|earlier| (earlier, image))
        })
        .unwrap();
    images
        .load(&classic(&[a.clone(), b.clone()])[..])
        .await
        .unwrap();
    let prefix = &a.id()[7..8];
    let e = images.resolve(prefix).await.unwrap_err();
    assert!(matches!(e, ImageError::Ambiguous(_)), "{e:?}");
    assert_eq!(e.status(), 400);
    assert!(
        e.to_string().contains(&a.id()) && e.to_string().contains(&b.id()),
        "{e}"
    );
    // A longer prefix tells them apart.
    let (a_hex, b_hex) = (&a.id()[7..], &b.id()[7..]);
    let unique = (1..=64)
        .map(|n| &a_hex[..n])
        .find(|p| !b_hex.starts_with(p))
        .unwrap();
    assert_eq!(images.resolve(unique).await.unwrap().id, a.id());
}

#[tokio::test]
async fn a_tag_moves_to_the_newly_loaded_image() {
    let (_backend, _storage, images) = catalogue().await;
    let old = TestImage::new(&["app:latest"], vec![base_layer()], "/old");
    let new = TestImage::new(
        &["app:latest"],
        vec![base_layer(), app_layer("new")],
        "/new",
    );
    images
        .load(&classic(std::slice::from_ref(&old))[..])
        .await
        .unwrap();
    let lines = images
        .load(&classic(std::slice::from_ref(&new))[..])
        .await
        .unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains(&old.id()) && lines[0].contains("app:latest"),
        "{lines:?}"
    );
    assert_eq!(lines[1], "Loaded image: app:latest");
    assert_eq!(images.resolve("app").await.unwrap().id, new.id());
    assert!(images
        .resolve(&old.id())
        .await
        .unwrap()
        .repo_tags
        .is_empty());
}

#[tokio::test]
async fn records_of_a_catalogue_that_points_nowhere_are_errors_not_panics() {
    // A store that does not exist.
    let backend = Arc::new(MemoryBackend::new("datastore1", "VCH001"));
    let storage = Storage::new(backend);
    let e = Images::open(storage, "missing").await.unwrap_err();
    assert!(matches!(e, ImageError::PortLayer(_)), "{e:?}");
    assert_eq!(e.status(), 500);
}

/// The record of a resolved image equals the listed one (one source of truth).
#[tokio::test]
async fn list_is_newest_first() {
    let (_backend, _storage, images) = catalogue().await;
    images.load(hello_tarball()).await.unwrap();
    images
        .load(&classic(&[TestImage::new(&["older:1"], vec![base_layer()], "/o")])[..])
        .await
        .unwrap();
    let list: Vec<ImageRecord> = images.list().await.unwrap();
    let tags: Vec<&str> = list.iter().map(|r| r.repo_tags[0].as_str()).collect();
    assert_eq!(tags, ["hello-world:latest", "older:1"]);
}
