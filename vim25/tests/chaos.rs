//! The client under injected faults: a proxy of test-support (`test_support::chaos`)
//! between the client and the simulator adds latency, resets connections half-way
//! through a response, answers bursts of 503, truncated and malformed envelopes and
//! one-byte-a-second bodies, while the simulator's own session manager terminates the
//! client's session again and again (an expiry storm). Views, retrievals and a
//! property-collector watch run concurrently meanwhile.
//!
//! Checked: every call ends, in success or a typed error, within its deadline (the
//! request timeout times the attempts, plus backoff); retries stay bounded; and
//! afterwards the simulator holds none of the views, filters or collectors whose
//! creation the client learnt of (counted through the API: each is looked up by
//! reference). An object whose creation answer the proxy destroyed never reached the
//! client, which cannot know of it; such objects end with the session and are
//! reported, not counted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use test_support::chaos::{ChaosProxy, Fault, Faults};
use test_support::{Simulator, SimulatorConfig};
use vim25::property::{spec_for_objects, Watch};
use vim25::types::ManagedObjectReference;
use vim25::view::ContainerView;
use vim25::{methods, Client, ClientBuilder, Error};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
const RETRIES: u32 = 3;
/// Every attempt timing out, plus backoff and a re-login's own attempts.
const DEADLINE: Duration = Duration::from_secs(3 * 4 * 2 + 10);

#[derive(Default)]
struct Outcomes {
    ok: usize,
    errors: Vec<String>,
}

impl Outcomes {
    fn record<T>(&mut self, what: &str, r: Result<T, Error>) -> Option<T> {
        match r {
            Ok(v) => {
                self.ok += 1;
                Some(v)
            }
            Err(e) => {
                // Every error is typed; the ones faults may cause are listed, so an
                // unexpected kind (a panic-turned-error, a wrong classification) fails.
                let expected = matches!(
                    e,
                    Error::Network { .. }
                        | Error::Timeout { .. }
                        | Error::Http { .. }
                        | Error::Decode { .. }
                        | Error::Fault { .. }
                );
                assert!(expected, "{what}: unexpected error kind {e:?}");
                self.errors.push(format!("{what}: {e}"));
                None
            }
        }
    }
}

/// Runs `f` within [`DEADLINE`]: a call that outlives it is a hang.
async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not end within {DEADLINE:?}"),
    }
}

/// Whether `obj` still exists for `client`'s session.
async fn alive(client: &Client, obj: &ManagedObjectReference) -> bool {
    vim25::property::exists(client, &client.property_collector(), obj)
        .await
        .unwrap_or_else(|e| panic!("looking up {obj}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_ends_typed_within_its_deadline_and_nothing_the_client_knew_of_leaks() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let proxy = ChaosProxy::start(sim.host_port(), Faults::none(), 0x5eed).await;
    let url = format!("http://{}/sdk", proxy.addr());
    let client = ClientBuilder::new(&url)
        .unwrap()
        .credentials(sim.username(), sim.password())
        .retries(RETRIES, Duration::from_millis(20))
        .request_timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    let control = ClientBuilder::new(sim.url())
        .unwrap()
        .credentials(sim.username(), sim.password())
        .connect()
        .await
        .unwrap();
    let vms: Vec<ManagedObjectReference> = {
        let view = ContainerView::create(&control, &["VirtualMachine"], true)
            .await
            .unwrap();
        let vms = view.objects().await.unwrap();
        view.destroy().await.unwrap();
        vms
    };
    assert!(!vms.is_empty());

    proxy.set_faults(Faults::storm());
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let running = Arc::new(AtomicBool::new(true));

    // Views: create, list, destroy.
    let views = {
        let (client, outcomes, calls) = (client.clone(), outcomes.clone(), calls.clone());
        tokio::spawn(async move {
            for _ in 0..24 {
                calls.fetch_add(1, Ordering::SeqCst);
                let made = bounded("CreateContainerView", async {
                    ContainerView::create(&client, &["VirtualMachine"], true).await
                })
                .await;
                let Some(view) = outcomes.lock().unwrap().record("create view", made) else {
                    continue;
                };
                calls.fetch_add(2, Ordering::SeqCst);
                let listed = bounded("view objects", view.objects()).await;
                outcomes.lock().unwrap().record("view objects", listed);
                let destroyed = bounded("DestroyView", view.destroy()).await;
                outcomes.lock().unwrap().record("destroy view", destroyed);
            }
        })
    };
    // Retrievals of every VM's name and power state.
    let retrievals = {
        let (client, outcomes, calls, vms) =
            (client.clone(), outcomes.clone(), calls.clone(), vms.clone());
        tokio::spawn(async move {
            for _ in 0..12 {
                calls.fetch_add(1, Ordering::SeqCst);
                let spec =
                    spec_for_objects("VirtualMachine", &["name", "runtime.powerState"], &vms);
                let r = bounded("RetrievePropertiesEx", async {
                    let mut r = vim25::property::Retrieval::new(
                        client.clone(),
                        client.property_collector(),
                        vec![spec],
                    );
                    let mut n = 0;
                    while let Some(page) = r.next_page().await? {
                        n += page.len();
                    }
                    Ok::<_, Error>(n)
                })
                .await;
                if let Some(n) = outcomes.lock().unwrap().record("retrieve", r) {
                    assert_eq!(n, vms.len(), "a successful retrieval is complete");
                }
            }
        })
    };
    // A watch on the VMs' names: created, read for a while, destroyed.
    let watches = {
        let (client, outcomes, calls, vms) =
            (client.clone(), outcomes.clone(), calls.clone(), vms.clone());
        tokio::spawn(async move {
            for _ in 0..8 {
                calls.fetch_add(1, Ordering::SeqCst);
                let spec = spec_for_objects("VirtualMachine", &["name"], &vms);
                let made = bounded("Watch::create", async {
                    Watch::create(client.clone(), &client.property_collector(), &spec).await
                })
                .await;
                let Some(watch) = outcomes.lock().unwrap().record("watch", made) else {
                    continue;
                };
                let mut watch = watch.max_wait(Duration::from_secs(1));
                for _ in 0..3 {
                    calls.fetch_add(1, Ordering::SeqCst);
                    match bounded("WaitForUpdatesEx", watch.next()).await {
                        Some(item) => {
                            outcomes.lock().unwrap().record("watch update", item);
                        }
                        None => break,
                    }
                }
                calls.fetch_add(1, Ordering::SeqCst);
                let destroyed = bounded("DestroyPropertyCollector", watch.destroy()).await;
                outcomes.lock().unwrap().record("destroy watch", destroyed);
            }
        })
    };
    // The expiry storm: every other session is terminated, over and over.
    let storm = {
        let (control, running) = (control.clone(), running.clone());
        tokio::spawn(async move {
            let sm = control.service_content().session_manager.clone().unwrap();
            let mut terminated = 0;
            while running.load(Ordering::SeqCst) && terminated < 6 {
                tokio::time::sleep(Duration::from_millis(700)).await;
                let own = control.current_session().await.unwrap().unwrap().key;
                let pc = control.property_collector();
                let spec = spec_for_objects(
                    "SessionManager",
                    &["sessionList"],
                    std::slice::from_ref(&sm),
                );
                let found = methods::retrieve_properties(&control, &pc, &[spec])
                    .await
                    .unwrap();
                let list: Vec<vim25::types::UserSession> = found
                    .first()
                    .and_then(|o| o.get::<Vec<vim25::types::UserSession>>("sessionList"))
                    .unwrap_or_default();
                let others: Vec<String> = list
                    .into_iter()
                    .map(|s| s.key)
                    .filter(|k| *k != own)
                    .collect();
                if !others.is_empty() {
                    methods::terminate_session(&control, &sm, &others)
                        .await
                        .unwrap();
                    terminated += 1;
                }
            }
            terminated
        })
    };
    for t in [views, retrievals, watches] {
        t.await.unwrap();
    }
    running.store(false, Ordering::SeqCst);
    let storms = storm.await.unwrap();

    // Quiet again: the client recovers and cleans up what it knew of.
    proxy.set_faults(Faults::none());
    methods::current_time(&client, &client.service_instance())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = proxy.log();
    let faulted = log.iter().filter(|x| x.fault != Fault::None).count();
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let logical = calls.load(Ordering::SeqCst);
    println!(
        "{} requests ({faulted} faulted) for {logical} logical calls; {} ok, {} errors; {storms} session terminations",
        log.len(),
        outcomes.ok,
        outcomes.errors.len()
    );
    for e in &outcomes.errors {
        println!("  {e}");
    }
    assert!(faulted > 10, "the proxy injected faults: {faulted}");
    assert!(outcomes.ok > 0, "some calls succeeded");
    assert!(
        !outcomes.errors.is_empty(),
        "some calls met a fault they could not retry"
    );
    assert!(storms > 0, "the storm terminated sessions");
    // Bounded retries: each logical call is a few requests at most (a retrieval's pages,
    // retries, a re-login and its replay), never an unbounded loop.
    assert!(
        log.len() <= logical * 3 * (RETRIES as usize + 1),
        "{} requests for {logical} calls",
        log.len()
    );

    // Faults put exactly on the destroys: a lost answer (the destroy went through), a
    // 503 and unreadable answers (it did not). Each must still leave nothing behind.
    let faults = [
        Fault::Reset,
        Fault::Unavailable,
        Fault::Truncated,
        Fault::Malformed,
    ];
    for fault in faults {
        let view = ContainerView::create(&client, &["VirtualMachine"], true)
            .await
            .unwrap();
        proxy.script("DestroyView", &[fault, fault]);
        bounded("DestroyView", view.destroy())
            .await
            .unwrap_or_else(|e| panic!("DestroyView after {fault:?}: {e}"));
        let spec = spec_for_objects("VirtualMachine", &["name"], &vms);
        let watch = Watch::create(client.clone(), &client.property_collector(), &spec)
            .await
            .unwrap();
        proxy.script("DestroyPropertyCollector", &[fault]);
        bounded("DestroyPropertyCollector", watch.destroy())
            .await
            .unwrap_or_else(|e| panic!("DestroyPropertyCollector after {fault:?}: {e}"));
    }

    let mut leaked = Vec::new();
    for made in proxy.created(true) {
        let obj = ManagedObjectReference::new(&made.kind, &made.value);
        if alive(&client, &obj).await {
            leaked.push(obj.to_string());
        }
    }
    let lost = proxy.created(false);
    println!(
        "{} objects created and known to the client; {} whose answer was lost",
        proxy.created(true).len(),
        lost.len()
    );
    assert!(leaked.is_empty(), "left on the server: {leaked:?}");
}

/// A task's wait repeats a `WaitForUpdatesEx` turned away with a 503: the call is safe
/// to repeat (its version names what the waiter has seen, so the repeat brings the
/// same changes or newer). Before, the generator marked it unsafe and the first 503
/// ended the wait with an error although the task went on. A reset in the middle of
/// the answer is resent too; vcsim 0.24 then answers the resent first wait with
/// nothing (it counts the task as reported already) and later waits see no change,
/// so the wait ends by reading the task's info itself once it has been quiet (it
/// timed out before that fallback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_wait_rides_out_unavailable_and_reset_waits() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let proxy = ChaosProxy::start(sim.host_port(), Faults::none(), 0x7a5c).await;
    let url = format!("http://{}/sdk", proxy.addr());
    let client = ClientBuilder::new(&url)
        .unwrap()
        .credentials(sim.username(), sim.password())
        .retries(RETRIES, Duration::from_millis(20))
        .request_timeout(REQUEST_TIMEOUT)
        .connect()
        .await
        .unwrap();
    let view = ContainerView::create(&client, &["VirtualMachine"], true)
        .await
        .unwrap();
    let vm = vim25::object::VirtualMachine::new(&client, view.objects().await.unwrap()[0].clone());
    view.destroy().await.unwrap();
    for fault in [Fault::Unavailable, Fault::Reset] {
        proxy.script("WaitForUpdatesEx", &[fault]);
        bounded("power off", vm.power_off_and_wait())
            .await
            .unwrap_or_else(|e| panic!("power off, {fault:?} on the wait: {e}"));
        proxy.script("WaitForUpdatesEx", &[fault, fault]);
        bounded("power on", vm.power_on_and_wait())
            .await
            .unwrap_or_else(|e| panic!("power on, {fault:?} twice on the wait: {e}"));
        let met = proxy
            .log()
            .iter()
            .filter(|x| x.operation == "WaitForUpdatesEx" && x.fault == fault)
            .count();
        assert!(met >= 3, "{fault:?} was put on {met} waits");
    }
}
