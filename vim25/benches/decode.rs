//! Decode throughput and peak memory on a large real response.
//!
//! Starts the simulator with 2,000 VMs, captures the `RetrievePropertiesEx` response
//! carrying `config`, `summary` and `runtime` of every VM (through a capturing
//! transport wrapped around the client), then measures in one run, on the same bytes:
//! - a bare quick-xml namespace-resolving event loop (the ceiling),
//! - the typed decode into `RetrieveResult` (`anyType` values through the registry),
//! - the typed decode straight into `mo::VirtualMachine` structs,
//!
//! and prints MB/s, the ratios, and the peak heap of each decode against the response
//! size. Run: `cargo bench -p vim25 --bench decode` (set `VIM25_BENCH_VMS` to change
//! the VM count, `VIM25_BENCH_SAVE=path` to keep the captured response).

use std::sync::Mutex;
use std::time::Instant;
use test_support::{Simulator, SimulatorConfig};
use vim25::soap::{BoxFuture, RawResponse, Request, Transport};
use vim25::types::{ObjectSpec, PropertyFilterSpec, PropertySpec, RetrieveOptions, RetrieveResult};
use vim25::xml::Decoder;
use vim25::{methods, Error, Version};

mod alloc_count {
    //! A counting global allocator: the only way to read the peak heap of a decode in
    //! process. It needs `unsafe` because `GlobalAlloc` is an unsafe trait; it only
    //! forwards to the system allocator and updates two atomics.
    #![allow(unsafe_code)]

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct Counting;
    static CURRENT: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);

    // SAFETY: every call forwards to `System` with the caller's own arguments.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(l) };
            if !p.is_null() {
                let now = CURRENT.fetch_add(l.size(), Ordering::Relaxed) + l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            }
            p
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            unsafe { System.dealloc(p, l) };
            CURRENT.fetch_sub(l.size(), Ordering::Relaxed);
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            let q = unsafe { System.realloc(p, l, new) };
            if !q.is_null() {
                if new > l.size() {
                    let now = CURRENT.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                    PEAK.fetch_max(now, Ordering::Relaxed);
                } else {
                    CURRENT.fetch_sub(l.size() - new, Ordering::Relaxed);
                }
            }
            q
        }
    }

    /// Resets the peak to the current level and returns that level.
    pub fn reset() -> usize {
        let now = CURRENT.load(Ordering::Relaxed);
        PEAK.store(now, Ordering::Relaxed);
        now
    }

    /// The peak since the last reset.
    pub fn peak() -> usize {
        PEAK.load(Ordering::Relaxed)
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
    drop(f(xml)); // warm up
    let mut kept = Vec::with_capacity(rounds);
    let t0 = Instant::now();
    for _ in 0..rounds {
        kept.push(f(xml));
    }
    let secs = t0.elapsed().as_secs_f64() / rounds as f64;
    drop(kept);
    let base = alloc_count::reset();
    let one = f(xml);
    let peak = alloc_count::peak().saturating_sub(base);
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
    let rt = tokio::runtime::Runtime::new().unwrap();
    let xml = rt.block_on(capture(total.div_ceil(2)));
    if let Ok(path) = std::env::var("VIM25_BENCH_SAVE") {
        std::fs::write(&path, &xml).unwrap();
    }
    println!("response: {:.1} MB", xml.len() as f64 / 1e6);
    let rounds = if smoke { 1 } else { 10 };
    let (bare, _) = measure("bare quick-xml NsReader loop", &xml, rounds, bare_loop);
    let (t, tpeak) = measure("typed RetrieveResult (anyType)", &xml, rounds, typed);
    let (m, mpeak) = measure("typed mo::VirtualMachine", &xml, rounds, typed_mo);
    println!("ratio typed/bare:      {:.2}", t / bare);
    println!("ratio typed mo/bare:   {:.2}", m / bare);
    println!(
        "peak heap / response:  {:.2} (RetrieveResult), {:.2} (mo)",
        tpeak as f64 / xml.len() as f64,
        mpeak as f64 / xml.len() as f64
    );
    let vms = typed_mo(&xml);
    assert_eq!(vms.len() as u32, total.div_ceil(2) * 2);
    assert!(vms
        .iter()
        .all(|v| v.config.is_some() && v.summary.is_some() && v.runtime.is_some()));
}
