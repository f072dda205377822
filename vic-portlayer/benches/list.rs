//! Listing 1,000 containers against govmomi's simulator: one property-collector
//! retrieval (what `Exec::list` does) against one inspect per container, measured
//! in the same run, with the number of `RetrievePropertiesEx` calls each made.
//!
//! `cargo bench -p vic-portlayer --bench list [-- COUNT]` (default 1,000).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use test_support::{Simulator, SimulatorConfig};
use vic_config::model::{ExecutorConfig, SessionConfig};
use vic_portlayer::backend::Backend;
use vic_portlayer::events::EventHub;
use vic_portlayer::exec::{Exec, ExecSettings};
use vic_portlayer::vsphere::{Placement, VsphereBackend};
use vic_portlayer::ContainerId;
use vim25::object::DatastorePath;

fn config(id: &ContainerId, n: usize) -> ExecutorConfig {
    let mut c = ExecutorConfig::default();
    c.common.name = Some(format!("container_{n}"));
    let mut s = SessionConfig::default();
    s.cmd.path = Some("/hello".into());
    c.sessions.insert(id.to_string(), s);
    c
}

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(run(count));
}

async fn run(count: usize) {
    let sim = Simulator::start_or_panic(&SimulatorConfig::esx().tls(false));
    let retrievals = Arc::new(AtomicUsize::new(0));
    let counter = retrievals.clone();
    let client = vim25::ClientBuilder::new(sim.url())
        .expect("simulator URL")
        .credentials(sim.username(), sim.password())
        .wire_log(move |r| {
            if r.operation == "RetrievePropertiesEx" || r.operation == "RetrieveProperties" {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        })
        .connect()
        .await
        .expect("connect to the simulator");
    let placement = Placement::discover(&client, "VCH001", None)
        .await
        .expect("placement");
    let ds = placement.datastore.clone();
    let backend: Arc<dyn Backend> = Arc::new(VsphereBackend::new(client, placement));
    let settings = ExecSettings::new(ds.clone(), DatastorePath::new(ds, "VCH001/bootstrap.iso"));
    let exec = Exec::new(backend, settings, EventHub::default());

    let t0 = Instant::now();
    let mut created = 0;
    let ids: Vec<ContainerId> = (0..count).map(|_| ContainerId::random()).collect();
    for chunk in ids.chunks(16) {
        let mut tasks = Vec::new();
        for id in chunk {
            let exec = exec.clone();
            let id = id.clone();
            let n = created;
            created += 1;
            tasks.push(tokio::spawn(async move {
                let h = exec.create_handle(id.clone(), config(&id, n))?;
                exec.commit(h).await
            }));
        }
        for t in tasks {
            t.await.expect("create task").expect("create a container");
        }
    }
    println!("created {count} containerVMs in {:.1?}", t0.elapsed());

    let mut best_list = Duration::MAX;
    let mut calls_list = 0;
    for _ in 0..3 {
        let before = retrievals.load(Ordering::Relaxed);
        let t = Instant::now();
        let listed = exec.list().await.expect("list");
        best_list = best_list.min(t.elapsed());
        calls_list = retrievals.load(Ordering::Relaxed) - before;
        assert_eq!(listed.len(), count, "every container listed");
    }
    let before = retrievals.load(Ordering::Relaxed);
    let t = Instant::now();
    for id in &ids {
        exec.inspect(id).await.expect("inspect");
    }
    let per_container = t.elapsed();
    let calls_each = retrievals.load(Ordering::Relaxed) - before;

    println!(
        "list {count} containers: {:.1?} (best of 3), {calls_list} retrieval call(s)",
        best_list
    );
    println!(
        "inspect each of {count}: {:.1?}, {calls_each} retrieval calls",
        per_container
    );
    println!(
        "ratio one-retrieval list / per-container inspect: {:.3}",
        best_list.as_secs_f64() / per_container.as_secs_f64()
    );
    sim.stop();
}
