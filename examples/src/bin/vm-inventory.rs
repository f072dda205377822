//! `vm-inventory --url URL [--insecure | --thumbprint TP] [--full] [--page-size N]
//! [--whole-pages] [--decode-threads N]`
//!
//! One line per VM, sorted by name: `name<TAB>powerState<TAB>numCpu<TAB>extraConfigCount`.
//! By default only `name`, `runtime.powerState`, `summary.config.numCpu` and
//! `config.extraConfig` are retrieved; `--full` retrieves the whole `config`, `summary`
//! and `runtime` of every VM (and prints the same lines). Each VM is decoded straight
//! into `mo::VirtualMachine` while the response is still arriving
//! ([`Retrieval::next_object`]), so memory stays bounded by one VM and a piece of the
//! body plus the output lines, whatever the page size (`--whole-pages` decodes page by
//! page instead, holding a whole page). `--decode-threads N` decodes a streamed page
//! on N threads (the caller's and N - 1 of the retrieval's), up to 1 MiB ahead. A
//! summary goes to stderr: VM count, pages, bytes received, seconds; and, for streamed
//! retrievals, when the first and last body bytes arrived and when decoding ended.

use clap::Parser;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use vim25::mo::VirtualMachine;
use vim25::property::Retrieval;
use vim25::soap::{BodyChunks, BoxFuture, RawResponse, Request, StreamingResponse, Transport};
use vim25::types::AnyValue;
use vim25::types::{MissingProperty, OptionValue};
use vim25::view::ContainerView;
use vim25::{Client, Error, Version};

#[derive(Parser)]
#[command(about = "List every VM: name, power state, CPUs and extraConfig entries")]
struct Args {
    #[command(flatten)]
    conn: examples::ConnectArgs,
    /// Retrieve the whole config, summary and runtime of every VM.
    #[arg(long)]
    full: bool,
    /// Objects per page asked of the property collector.
    #[arg(long, default_value_t = 1000)]
    page_size: i32,
    /// Read and decode whole pages instead of streaming object by object.
    #[arg(long)]
    whole_pages: bool,
    /// Threads decoding a streamed page (`Retrieval::decode_threads`).
    #[arg(long, default_value_t = 1)]
    decode_threads: usize,
}

/// The client's transport, counting the bytes of every response body and noting
/// when the streamed bodies' first and last bytes arrived.
#[derive(Clone)]
struct Counting {
    inner: Client,
    bytes: Arc<AtomicU64>,
    arrivals: Arc<Mutex<Arrivals>>,
}

/// When streamed body bytes first and last arrived.
#[derive(Default)]
struct Arrivals {
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Transport for Counting {
    fn version(&self) -> Version {
        self.inner.version()
    }
    fn round_trip<'a>(
        &'a self,
        r: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        Box::pin(async move {
            let resp = self.inner.round_trip(r, idempotent).await?;
            self.bytes
                .fetch_add(resp.body.len() as u64, Ordering::Relaxed);
            Ok(resp)
        })
    }
    fn round_trip_streaming<'a>(
        &'a self,
        r: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<StreamingResponse, Error>> {
        Box::pin(async move {
            let mut resp = self.inner.round_trip_streaming(r, idempotent).await?;
            resp.body = Box::new(CountingBody {
                inner: resp.body,
                bytes: self.bytes.clone(),
                arrivals: self.arrivals.clone(),
            });
            Ok(resp)
        })
    }
}

/// A streamed body, counting its bytes as they pass.
struct CountingBody {
    inner: Box<dyn BodyChunks>,
    bytes: Arc<AtomicU64>,
    arrivals: Arc<Mutex<Arrivals>>,
}

impl BodyChunks for CountingBody {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Vec<u8>>, Error>> {
        Box::pin(async move {
            let piece = self.inner.next_chunk().await?;
            if let Some(p) = &piece {
                self.bytes.fetch_add(p.len() as u64, Ordering::Relaxed);
                let now = Instant::now();
                let mut a = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
                a.first.get_or_insert(now);
                a.last = Some(now);
            }
            Ok(piece)
        })
    }
}

/// A nested-path property (`summary.config.numCpu`) the page returned beside the
/// top-level ones.
fn other<'a>(vm: &'a VirtualMachine, path: &str) -> Option<&'a AnyValue> {
    vm.other.iter().find(|p| p.name == path).map(|p| &p.val)
}

fn line(vm: &VirtualMachine, full: bool) -> (String, String) {
    let (name, power, cpus, extra) = if full {
        let name = vm
            .config
            .as_ref()
            .map(|c| c.name.clone())
            .or_else(|| vm.summary.as_ref().map(|s| s.config.name.clone()))
            .unwrap_or_default();
        let power = vm
            .runtime
            .as_ref()
            .map(|r| r.power_state.as_str().to_string())
            .unwrap_or_default();
        let cpus = vm
            .summary
            .as_ref()
            .and_then(|s| s.config.num_cpu)
            .map(|n| n.to_string())
            .unwrap_or_default();
        let extra = vm.config.as_ref().map_or(0, |c| c.extra_config.len());
        (name, power, cpus, extra)
    } else {
        let name = vm.name.clone().unwrap_or_default();
        let power = other(vm, "runtime.powerState")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let cpus = match other(vm, "summary.config.numCpu") {
            Some(AnyValue::Int(n)) => n.to_string(),
            _ => String::new(),
        };
        let extra = match other(vm, "config.extraConfig") {
            Some(AnyValue::Array { items, .. }) => items
                .iter()
                .filter(|i| i.downcast_ref::<OptionValue>().is_some())
                .count(),
            _ => 0,
        };
        (name, power, cpus, extra)
    };
    let text = format!("{name}\t{power}\t{cpus}\t{extra}");
    (name, text)
}

async fn run(args: Args) -> Result<(), Error> {
    let started = Instant::now();
    let client = args.conn.connect().await?;
    let counting = Counting {
        inner: client.clone(),
        bytes: Arc::new(AtomicU64::new(0)),
        arrivals: Arc::default(),
    };
    let view = ContainerView::create(&client, &["VirtualMachine"], true).await?;
    let paths: &[&str] = if args.full {
        &["config", "summary", "runtime"]
    } else {
        &[
            "name",
            "runtime.powerState",
            "summary.config.numCpu",
            "config.extraConfig",
        ]
    };
    let spec = view.filter_spec("VirtualMachine", paths);
    let mut pages = Retrieval::new(counting.clone(), client.property_collector(), vec![spec])
        .page_size(args.page_size)
        .decode_threads(args.decode_threads);
    let mut lines = Vec::new();
    let report = |obj: &vim25::types::ManagedObjectReference, missing: &[MissingProperty]| {
        for m in missing {
            eprintln!(
                "vm-inventory: {obj}: {} not returned: {}",
                m.path,
                m.fault.fault.type_name()
            );
        }
    };
    let result = async {
        if args.whole_pages {
            while let Some(page) = pages.next_typed::<VirtualMachine>().await? {
                for (obj, missing) in &page.missing {
                    report(obj, missing);
                }
                lines.extend(page.objects.iter().map(|vm| line(vm, args.full)));
            }
        } else {
            while let Some(vm) = pages.next_object::<VirtualMachine>().await? {
                report(&vm.object.obj, &vm.missing);
                lines.push(line(&vm.object, args.full));
            }
        }
        Ok::<(), Error>(())
    }
    .await;
    let decoded = started.elapsed();
    let _ = view.destroy().await;
    result?;
    lines.sort();
    let mut out = String::with_capacity(lines.len() * 48);
    for (_, l) in &lines {
        out.push_str(l);
        out.push('\n');
    }
    print!("{out}");
    eprintln!(
        "vm-inventory: {} VMs, {} pages, {} bytes received, {:.2} s",
        lines.len(),
        pages.pages(),
        counting.bytes.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    let (first, last) = {
        let a = counting.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        (a.first, a.last)
    };
    if let (Some(first), Some(last)) = (first, last) {
        eprintln!(
            "vm-inventory: streamed bytes arrived from {:.3} to {:.3} s; retrieval done at {:.3} s",
            (first - started).as_secs_f64(),
            (last - started).as_secs_f64(),
            decoded.as_secs_f64()
        );
    }
    let _ = client.logout().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    examples::exit_status("vm-inventory", run(Args::parse()).await)
}
