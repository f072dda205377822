//! Decode throughput and peak memory on a large real response.
//!
//! Starts the simulator with 2,000 VMs, captures the `RetrievePropertiesEx` response
//! carrying `config`, `summary` and `runtime` of every VM (through a capturing
//! transport wrapped around the client), then measures in one run, on the same bytes:
//! - a bare quick-xml namespace-resolving event loop (the ceiling),
//! - the typed decode into `RetrieveResult` (`anyType` values through the registry),
//! - the typed decode straight into `mo::VirtualMachine` structs,
//! - the streamed decode of the property collector (`Retrieval::next_object`), fed
//!   the same bytes in 16 KiB pieces as the HTTP transport hands a body over, keeping
//!   every object (as above; on one and on two decoding threads) and dropping each
//!   one once it is read,
//!
//! and prints MB/s, the ratios, and the peak heap of each decode against the response
//! size; for the streamed decode, its peak heap against the largest object. Run: `cargo bench -p vim25 --bench decode` (set `VIM25_BENCH_VMS` to change
//! the VM count, `VIM25_BENCH_SAVE=path` to keep the captured response,
//! `VIM25_BENCH_LOAD=path` to decode a saved one without starting the simulator,
//! `VIM25_BENCH_ONLY=text` to run only the decodes whose label holds `text`).

use std::sync::{Arc, Mutex};
use std::time::Instant;
use test_support::{Simulator, SimulatorConfig};
use vim25::property::Retrieval;
use vim25::soap::{BodyChunks, BoxFuture, RawResponse, Request, StreamingResponse, Transport};
use vim25::types::ManagedObjectReference;
use vim25::types::{ObjectSpec, PropertyFilterSpec, PropertySpec, RetrieveOptions, RetrieveResult};
use vim25::xml::split::Splitter;
use vim25::xml::Decoder;
use vim25::{methods, Error, Version};

mod alloc_count {
    //! A counting global allocator: the only way to read the peak heap of a decode in
    //! process. It needs `unsafe` because `GlobalAlloc` is an unsafe trait; it only
    //! forwards to the system allocator and updates two atomics.
    #![allow(unsafe_code)]

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

    pub struct Counting;
    /// Off while decodes are timed: two threads updating the same counters on every
    /// allocation would time the counters, not the decode.
    static ON: AtomicBool = AtomicBool::new(false);
    /// Bytes allocated minus bytes freed while on (frees of older allocations can take
    /// it below its level at `start`, hence signed).
    static CURRENT: AtomicIsize = AtomicIsize::new(0);
    static PEAK: AtomicIsize = AtomicIsize::new(0);

    fn grow(n: usize) {
        if ON.load(Ordering::Relaxed) {
            let n = n as isize;
            let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
    }

    fn shrink(n: usize) {
        if ON.load(Ordering::Relaxed) {
            CURRENT.fetch_sub(n as isize, Ordering::Relaxed);
        }
    }

    // SAFETY: every call forwards to `System` with the caller's own arguments.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(l) };
            if !p.is_null() {
                grow(l.size());
            }
            p
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            unsafe { System.dealloc(p, l) };
            shrink(l.size());
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            let q = unsafe { System.realloc(p, l, new) };
            if !q.is_null() {
                if new > l.size() {
                    grow(new - l.size());
                } else {
                    shrink(l.size() - new);
                }
            }
            q
        }
    }

    /// Starts counting from zero.
    pub fn start() {
        CURRENT.store(0, Ordering::Relaxed);
        PEAK.store(0, Ordering::Relaxed);
        ON.store(true, Ordering::Relaxed);
    }

    /// Stops counting: the most the heap grew above its level at `start`.
    pub fn stop() -> usize {
        ON.store(false, Ordering::Relaxed);
        PEAK.load(Ordering::Relaxed).max(0) as usize
    }
}

#[global_allocator]
static GLOBAL: alloc_count::Counting = alloc_count::Counting;

/// Keeps the body of the last response that passed through.
struct Capture<T> {
    inner: T,
    last: Mutex<Option<Vec<u8>>>,
}

impl<T: Transport> Transport for Capture<T> {
    fn version(&self) -> Version {
        self.inner.version()
    }
    fn round_trip<'a>(
        &'a self,
        r: &'a Request,
        idem: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        Box::pin(async move {
            let resp = self.inner.round_trip(r, idem).await?;
            *self.last.lock().unwrap() = Some(resp.body.clone());
            Ok(resp)
        })
    }
}

/// Answers every call with one captured response, handing a streamed body over in
/// pieces of `piece` bytes.
struct Pieces {
    body: Arc<Vec<u8>>,
    piece: usize,
}

struct PieceBody {
    body: Arc<Vec<u8>>,
    at: usize,
    piece: usize,
}

impl BodyChunks for PieceBody {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Vec<u8>>, Error>> {
        let end = (self.at + self.piece).min(self.body.len());
        let out = (end > self.at).then(|| self.body[self.at..end].to_vec());
        self.at = end;
        Box::pin(async move { Ok(out) })
    }
}

impl Transport for Pieces {
    fn version(&self) -> Version {
        Version::V6_5
    }
    fn round_trip<'a>(
        &'a self,
        _: &'a Request,
        _: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        Box::pin(async move {
            Ok(RawResponse {
                status: 200,
                body: self.body.to_vec(),
            })
        })
    }
    fn round_trip_streaming<'a>(
        &'a self,
        _: &'a Request,
        _: bool,
    ) -> BoxFuture<'a, Result<StreamingResponse, Error>> {
        Box::pin(async move {
            Ok(StreamingResponse {
                status: 200,
                body: Box::new(PieceBody {
                    body: self.body.clone(),
                    at: 0,
                    piece: self.piece,
                }),
            })
        })
    }
}

/// A streamed retrieval over `body`, handing each VM to `each`.
fn streamed(
    rt: &tokio::runtime::Runtime,
    body: &Arc<Vec<u8>>,
    threads: usize,
    mut each: impl FnMut(vim25::mo::VirtualMachine),
) {
    let pieces = Pieces {
        body: body.clone(),
        piece: 16 * 1024,
    };
    let collector = ManagedObjectReference::new("PropertyCollector", "propertyCollector");
    let mut r = Retrieval::new(pieces, collector, vec![PropertyFilterSpec::default()])
        .decode_threads(threads);
    rt.block_on(async {
        while let Some(vm) = r.next_object::<vim25::mo::VirtualMachine>().await.unwrap() {
            each(vm.object);
        }
    });
}

/// The largest `objects` element of the response: its size, and the peak heap of
/// decoding it alone.
fn largest_object(xml: &[u8]) -> (usize, usize) {
    let mut s = Splitter::new(&["Envelope", "Body", "*", "returnval", "objects"]);
    s.push(xml).unwrap();
    let mut largest = Vec::new();
    while let Some(el) = s.next_element().unwrap() {
        if el.bytes.len() > largest.len() {
            largest = el.bytes;
        }
    }
    alloc_count::start();
    let mut d = Decoder::new(&largest);
    let start = d.next_child().unwrap().unwrap();
    let vm = vim25::mo::decode_object_content::<vim25::mo::VirtualMachine>(&mut d, &start)
        .unwrap()
        .unwrap();
    let peak = alloc_count::stop();
    drop(vm);
    (largest.len(), peak)
}

async fn capture(vms_per_pool: u32) -> Vec<u8> {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false).vms(vms_per_pool));
    let client = vim25::ClientBuilder::new(sim.url())
        .unwrap()
        .credentials(sim.username(), sim.password())
        .connect()
        .await
        .unwrap();
    let sc = client.service_content().clone();
    let view = methods::create_container_view(
        &client,
        sc.view_manager.as_ref().unwrap(),
        &sc.root_folder,
        &["VirtualMachine".into()],
        true,
    )
    .await
    .unwrap();
    let spec = PropertyFilterSpec {
        prop_set: vec![PropertySpec {
            type_: "VirtualMachine".into(),
            path_set: vec!["config".into(), "summary".into(), "runtime".into()],
            ..Default::default()
        }],
        object_set: vec![ObjectSpec {
            obj: view,
            skip: Some(true),
            select_set: vec![vim25::types::TraversalSpec {
                base_: vim25::types::SelectionSpec {
                    name: Some("view".into()),
                    ..Default::default()
                },
                type_: "ContainerView".into(),
                path: "view".into(),
                ..Default::default()
            }
            .into()],
            ..Default::default()
        }],
        ..Default::default()
    };
    let cap = Capture {
        inner: client.clone(),
        last: Mutex::new(None),
    };
    let r = methods::retrieve_properties_ex(
        &cap,
        &sc.property_collector,
        &[spec],
        &RetrieveOptions::default(),
    )
    .await
    .unwrap()
    .unwrap();
    eprintln!("captured {} VMs", r.objects.len());
    let body = cap.last.lock().unwrap().take().unwrap();
    drop(sim);
    body
}

fn bare_loop(xml: &[u8]) -> usize {
    let mut r = quick_xml::NsReader::from_reader(xml);
    let mut n = 0;
    loop {
        match r.read_resolved_event() {
            Ok((_, quick_xml::events::Event::Eof)) => break,
            Ok(_) => n += 1,
            Err(e) => panic!("bare loop: {e}"),
        }
    }
    n
}

fn typed(xml: &[u8]) -> RetrieveResult {
    vim25::soap::decode_returnval::<RetrieveResult>("RetrievePropertiesEx", xml)
        .unwrap()
        .unwrap()
}

/// Straight into `mo::VirtualMachine`, walking the envelope by hand.
fn typed_mo(xml: &[u8]) -> Vec<vim25::mo::VirtualMachine> {
    let mut d = Decoder::new(xml);
    let mut out = Vec::new();
    fn walk<'a>(d: &mut Decoder<'a>, out: &mut Vec<vim25::mo::VirtualMachine>) {
        while let Some(s) = d.next_child().unwrap() {
            if s.name() == b"objects" {
                let (vm, _missing) =
                    vim25::mo::decode_object_content::<vim25::mo::VirtualMachine>(d, &s)
                        .unwrap()
                        .unwrap();
                out.push(vm);
            } else if s.is_empty() {
                continue;
            } else {
                walk(d, out);
            }
        }
    }
    walk(&mut d, &mut out);
    out
}

/// Times `rounds` decodes (results are dropped after the clock stops, as a caller
/// would drop them later), then measures the peak heap of one more decode.
fn measure<T>(label: &str, xml: &[u8], rounds: usize, f: impl Fn(&[u8]) -> T) -> (f64, usize) {
    // `VIM25_BENCH_ONLY=text` runs only the decodes whose label holds `text` (to
    // profile one of them); the others print nothing and count as zero.
    if std::env::var("VIM25_BENCH_ONLY").is_ok_and(|only| !label.contains(&only)) {
        return (0.0, 0);
    }
    drop(f(xml)); // warm up
    let mut kept = Vec::with_capacity(rounds);
    let t0 = Instant::now();
    for _ in 0..rounds {
        kept.push(f(xml));
    }
    let secs = t0.elapsed().as_secs_f64() / rounds as f64;
    drop(kept);
    alloc_count::start();
    let one = f(xml);
    let peak = alloc_count::stop();
    drop(one);
    let mbs = xml.len() as f64 / 1e6 / secs;
    println!(
        "{label:<34} {mbs:8.1} MB/s   {:7.1} ms   peak heap {:6.1} MB",
        secs * 1e3,
        peak as f64 / 1e6
    );
    (mbs, peak)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs with no argument:
    // then do a small smoke run so the bench stays compiled and working.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let total: u32 = std::env::var("VIM25_BENCH_VMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 20 } else { 2000 });
    // The default vpx inventory has two VM parents (a cluster pool and a standalone host).
    // `VIM25_BENCH_LOAD=path` decodes a response saved earlier instead (for profiling).
    let loaded = std::env::var("VIM25_BENCH_LOAD").ok();
    let xml = match &loaded {
        Some(path) => std::fs::read(path).unwrap(),
        None => {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(capture(total.div_ceil(2)))
        }
    };
    if let Ok(path) = std::env::var("VIM25_BENCH_SAVE") {
        std::fs::write(&path, &xml).unwrap();
    }
    println!("response: {:.1} MB", xml.len() as f64 / 1e6);
    let rounds = if smoke { 1 } else { 10 };
    let (bare, _) = measure("bare quick-xml NsReader loop", &xml, rounds, bare_loop);
    let (t, tpeak) = measure("typed RetrieveResult (anyType)", &xml, rounds, typed);
    let (m, mpeak) = measure("typed mo::VirtualMachine", &xml, rounds, typed_mo);
    let shared = Arc::new(xml.clone());
    let one_thread = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (st, _) = measure("streamed mo, kept (16 KiB pieces)", &xml, rounds, |_| {
        let mut kept = Vec::new();
        streamed(&one_thread, &shared, 1, |vm| kept.push(vm));
        kept
    });
    let (st2, _) = measure("streamed mo, kept, 2 threads", &xml, rounds, |_| {
        let mut kept = Vec::new();
        streamed(&one_thread, &shared, 2, |vm| kept.push(vm));
        kept
    });
    let (_, dpeak) = measure("streamed mo, each dropped", &xml, rounds, |_| {
        let mut n = 0usize;
        streamed(&one_thread, &shared, 1, |vm| {
            n += 1;
            drop(vm)
        });
        n
    });
    let (largest, largest_peak) = largest_object(&xml);
    println!("ratio typed/bare:      {:.2}", t / bare);
    println!("ratio typed mo/bare:   {:.2}", m / bare);
    println!("ratio streamed/bare:   {:.2}", st / bare);
    println!("ratio streamed, 2 threads / 1: {:.2}", st2 / st);
    println!(
        "peak heap / response:  {:.2} (RetrieveResult), {:.2} (mo)",
        tpeak as f64 / xml.len() as f64,
        mpeak as f64 / xml.len() as f64
    );
    println!(
        "largest object:        {:.1} KB of XML, {:.1} KB peak heap to decode alone",
        largest as f64 / 1e3,
        largest_peak as f64 / 1e3
    );
    println!(
        "streamed, each dropped: peak heap {:.1} KB, {:.1} KB above the largest object",
        dpeak as f64 / 1e3,
        dpeak.saturating_sub(largest + largest_peak) as f64 / 1e3
    );
    let vms = typed_mo(&xml);
    if loaded.is_none() {
        assert_eq!(vms.len() as u32, total.div_ceil(2) * 2);
    }
    assert!(!vms.is_empty());
    assert!(vms
        .iter()
        .all(|v| v.config.is_some() && v.summary.is_some() && v.runtime.is_some()));
}
