//! Key/value stores on both backends: the same bodies run on the memory backend and
//! on the vSphere backend against govmomi's simulator.

use crate::common;

use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{bounded, Fixture};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use vic_portlayer::backend::{Backend, VmDetail, VmEvent, VmPredicate, VmRecord};
use vic_portlayer::kv::KvStore;
use vic_portlayer::{Error, Result};
use vim25::object::DatastorePath;
use vim25::types::{
    AnyVirtualDeviceBackingInfo, DateTime, ManagedObjectReference, VirtualMachineConfigSpec,
};

fn store_file(fx: &Fixture, name: &str) -> DatastorePath {
    let vch = fx.backend.vch_folder();
    DatastorePath::new(
        vch.datastore.clone(),
        format!("{}/kvStores/{name}", vch.path),
    )
}

async fn upload(backend: &dyn Backend, path: &DatastorePath, body: &[u8]) {
    backend
        .upload(
            path,
            Box::new(std::io::Cursor::new(body.to_vec())),
            body.len() as u64,
        )
        .await
        .unwrap();
}

async fn put_get_list_delete(fx: Fixture) {
    let kv = KvStore::open(fx.backend.clone(), "test").await.unwrap();
    assert!(kv.keys().await.is_empty());
    // Nothing is written until the first change.
    assert!(!fx.backend.exists(&store_file(&fx, "test")).await.unwrap());

    kv.put("scope/bridge", "{\"a\":1}").await.unwrap();
    kv.put("scope/web", "w").await.unwrap();
    kv.put("other", "o").await.unwrap();
    kv.put("other", "o2").await.unwrap();
    assert_eq!(kv.get("scope/web").await.as_deref(), Some("w"));
    assert_eq!(kv.get("other").await.as_deref(), Some("o2"));
    assert_eq!(kv.get("missing").await, None);
    assert_eq!(kv.keys().await, vec!["other", "scope/bridge", "scope/web"]);

    // Patterns match whole keys.
    let scopes = kv.list("scope/.*").await.unwrap();
    assert_eq!(
        scopes,
        vec![
            ("scope/bridge".to_string(), "{\"a\":1}".to_string()),
            ("scope/web".to_string(), "w".to_string())
        ]
    );
    assert!(kv.list("scope").await.unwrap().is_empty());
    assert_eq!(kv.list("oth.r").await.unwrap().len(), 1);
    assert_eq!(kv.list(".*").await.unwrap().len(), 3);
    assert!(matches!(kv.list("(").await, Err(Error::InvalidInput(_))));

    kv.delete("scope/web").await.unwrap();
    assert!(kv.delete("scope/web").await.unwrap_err().is_not_found());
    assert_eq!(kv.get("scope/web").await, None);
    assert!(matches!(kv.put("", "x").await, Err(Error::InvalidInput(_))));

    // The file is a JSON object of the entries.
    let bytes = fx.backend.download(&store_file(&fx, "test")).await.unwrap();
    let on_disk: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&bytes).unwrap();
    assert_eq!(on_disk.len(), 2);
    assert_eq!(on_disk.get("other").map(String::as_str), Some("o2"));

    // A second open (a restarted control plane) reads the same entries.
    let again = KvStore::open(fx.backend.clone(), "test").await.unwrap();
    assert_eq!(again.keys().await, vec!["other", "scope/bridge"]);
    assert_eq!(
        again.get("scope/bridge").await.as_deref(),
        Some("{\"a\":1}")
    );
    // Stores are separate.
    let other = KvStore::open(fx.backend.clone(), "other-store")
        .await
        .unwrap();
    assert!(other.keys().await.is_empty());
    for bad in ["", "../x", "a/b", ".hidden"] {
        assert!(
            matches!(
                KvStore::open(fx.backend.clone(), bad).await,
                Err(Error::InvalidInput(_))
            ),
            "{bad:?}"
        );
    }
}
both_backends!(kv_put_get_list_delete, super::put_get_list_delete);

async fn corrupt_file(fx: Fixture) {
    let dir = store_file(&fx, "");
    fx.backend.make_dir(&dir).await.unwrap();
    for (name, body) in [
        ("broken", &b"{\"a\": "[..]),
        ("numbers", &b"{\"a\": 1}"[..]),
        ("array", &b"[\"a\"]"[..]),
    ] {
        upload(fx.backend.as_ref(), &store_file(&fx, name), body).await;
        let err = KvStore::open(fx.backend.clone(), name).await.unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{name}: {err}");
    }
    upload(
        fx.backend.as_ref(),
        &store_file(&fx, "good"),
        b"{\"k\": \"v\"}",
    )
    .await;
    let kv = KvStore::open(fx.backend.clone(), "good").await.unwrap();
    assert_eq!(kv.get("k").await.as_deref(), Some("v"));
}
both_backends!(kv_corrupt_file_is_an_error, super::corrupt_file);

/// Writes go through.
const WORKS: u8 = 0;
/// An upload reaches the real backend and breaks half-way through its body.
const BREAK_UPLOADS: u8 = 1;
/// Uploads work; the move that follows fails (without reaching the real backend).
const FAIL_MOVES: u8 = 2;

/// The real backend with writes failing as `mode` says.
struct FlakyUploads {
    real: Arc<dyn Backend>,
    mode: AtomicU8,
}

/// A body that gives `data`'s first half, then fails.
struct BreaksHalfway {
    data: Vec<u8>,
    at: usize,
}

impl AsyncRead for BreaksHalfway {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let half = self.data.len() / 2;
        if self.at >= half {
            return std::task::Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected failure half-way through the body",
            )));
        }
        let n = (half - self.at).min(buf.remaining());
        let at = self.at;
        buf.put_slice(&self.data[at..at + n]);
        self.at += n;
        std::task::Poll::Ready(Ok(()))
    }
}

#[async_trait]
impl Backend for FlakyUploads {
    fn describe(&self) -> String {
        format!("flaky {}", self.real.describe())
    }
    fn vch_folder(&self) -> DatastorePath {
        self.real.vch_folder()
    }
    async fn create_vm(&self, spec: &VirtualMachineConfigSpec) -> Result<ManagedObjectReference> {
        self.real.create_vm(spec).await
    }
    async fn reconfigure_vm(
        &self,
        vm: &ManagedObjectReference,
        spec: &VirtualMachineConfigSpec,
    ) -> Result<()> {
        self.real.reconfigure_vm(vm, spec).await
    }
    async fn power_on(&self, vm: &ManagedObjectReference) -> Result<()> {
        self.real.power_on(vm).await
    }
    async fn power_off(&self, vm: &ManagedObjectReference) -> Result<()> {
        self.real.power_off(vm).await
    }
    async fn shutdown_guest(&self, vm: &ManagedObjectReference) -> Result<()> {
        self.real.shutdown_guest(vm).await
    }
    async fn destroy_vm(&self, vm: &ManagedObjectReference) -> Result<()> {
        self.real.destroy_vm(vm).await
    }
    async fn vm(&self, vm: &ManagedObjectReference, detail: VmDetail) -> Result<VmRecord> {
        self.real.vm(vm, detail).await
    }
    async fn vm_by_name(&self, name: &str, detail: VmDetail) -> Result<Option<VmRecord>> {
        self.real.vm_by_name(name, detail).await
    }
    async fn list_vms(&self, detail: VmDetail) -> Result<Vec<VmRecord>> {
        self.real.list_vms(detail).await
    }
    async fn wait_vm(
        &self,
        vm: &ManagedObjectReference,
        limit: Duration,
        until: VmPredicate<'_>,
    ) -> Result<VmRecord> {
        self.real.wait_vm(vm, limit, until).await
    }
    async fn make_dir(&self, dir: &DatastorePath) -> Result<()> {
        self.real.make_dir(dir).await
    }
    async fn upload(
        &self,
        path: &DatastorePath,
        body: Box<dyn AsyncRead + Send + Unpin>,
        len: u64,
    ) -> Result<()> {
        if self.mode.load(Ordering::SeqCst) == BREAK_UPLOADS {
            let mut data = Vec::new();
            let mut body = body;
            body.read_to_end(&mut data).await.unwrap();
            let broken = BreaksHalfway { data, at: 0 };
            return self.real.upload(path, Box::new(broken), len).await;
        }
        self.real.upload(path, body, len).await
    }
    async fn move_file(&self, from: &DatastorePath, to: &DatastorePath) -> Result<()> {
        if self.mode.load(Ordering::SeqCst) == FAIL_MOVES {
            return Err(Error::io(
                format!("moving {from} to {to}"),
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "injected failure"),
            ));
        }
        self.real.move_file(from, to).await
    }
    async fn download(&self, path: &DatastorePath) -> Result<Vec<u8>> {
        self.real.download(path).await
    }
    async fn delete_file(&self, path: &DatastorePath) -> Result<()> {
        self.real.delete_file(path).await
    }
    async fn list_dir(&self, dir: &DatastorePath) -> Result<Vec<String>> {
        self.real.list_dir(dir).await
    }
    async fn exists(&self, path: &DatastorePath) -> Result<bool> {
        self.real.exists(path).await
    }
    async fn create_disk(
        &self,
        path: &DatastorePath,
        capacity_kb: i64,
        parent: Option<&DatastorePath>,
    ) -> Result<()> {
        self.real.create_disk(path, capacity_kb, parent).await
    }
    async fn delete_disk(&self, path: &DatastorePath) -> Result<()> {
        self.real.delete_disk(path).await
    }
    async fn vm_events(&self, since: Option<&DateTime>) -> Result<Vec<VmEvent>> {
        self.real.vm_events(since).await
    }
    async fn network_backing(&self, name: &str) -> Result<AnyVirtualDeviceBackingInfo> {
        self.real.network_backing(name).await
    }
    async fn port_groups(&self) -> Result<Vec<String>> {
        self.real.port_groups().await
    }
}

async fn failed_persist(fx: Fixture) {
    let flaky = Arc::new(FlakyUploads {
        real: fx.backend.clone(),
        mode: AtomicU8::new(WORKS),
    });
    let kv = KvStore::open(flaky.clone(), "flaky").await.unwrap();
    kv.put("a", "1").await.unwrap();
    kv.put("b", "2").await.unwrap();

    for mode in [BREAK_UPLOADS, FAIL_MOVES] {
        flaky.mode.store(mode, Ordering::SeqCst);
        let err = kv.put("a", "changed").await.unwrap_err();
        assert!(
            matches!(err, Error::Io { .. } | Error::Vim25(_)),
            "mode {mode}: {err}"
        );
        assert!(kv.put("c", "3").await.is_err());
        assert!(kv.delete("b").await.is_err());
        // Memory is as it was.
        assert_eq!(kv.get("a").await.as_deref(), Some("1"));
        assert_eq!(kv.get("b").await.as_deref(), Some("2"));
        assert_eq!(kv.get("c").await, None);
        assert_eq!(kv.keys().await, vec!["a", "b"]);
        // And so is the file, whole.
        let reread = KvStore::open(fx.backend.clone(), "flaky").await.unwrap();
        assert_eq!(reread.keys().await, vec!["a", "b"], "mode {mode}");
        assert_eq!(reread.get("a").await.as_deref(), Some("1"));
    }

    // Once writes work again, the store carries on from where it was, and no
    // staged write is left beside it.
    flaky.mode.store(WORKS, Ordering::SeqCst);
    kv.put("c", "3").await.unwrap();
    let reread = KvStore::open(fx.backend.clone(), "flaky").await.unwrap();
    assert_eq!(reread.keys().await, vec!["a", "b", "c"]);
    let names = fx.backend.list_dir(&store_file(&fx, "")).await.unwrap();
    assert_eq!(names, vec!["flaky"], "{}", fx.kind);

    // The folder deleted out from under the store is made again by the next write.
    fx.backend.delete_file(&store_file(&fx, "")).await.unwrap();
    assert!(!fx.backend.exists(&store_file(&fx, "flaky")).await.unwrap());
    kv.put("d", "4").await.unwrap();
    let reread = KvStore::open(fx.backend.clone(), "flaky").await.unwrap();
    assert_eq!(reread.keys().await, vec!["a", "b", "c", "d"]);
}
both_backends!(kv_failed_persist_changes_nothing, super::failed_persist);

async fn concurrent_puts(fx: Fixture) {
    let kv = KvStore::open(fx.backend.clone(), "busy").await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let kv = kv.clone();
        tasks.push(tokio::spawn(async move {
            kv.put(&format!("k{i:02}"), &i.to_string()).await
        }));
    }
    for t in tasks {
        bounded("concurrent put", t).await.unwrap().unwrap();
    }
    assert_eq!(kv.keys().await.len(), 24);
    let reread = KvStore::open(fx.backend.clone(), "busy").await.unwrap();
    let keys = reread.keys().await;
    assert_eq!(keys.len(), 24, "no write was lost: {keys:?}");
    assert_eq!(reread.get("k17").await.as_deref(), Some("17"));
}
both_backends!(kv_concurrent_puts_lose_nothing, super::concurrent_puts);
