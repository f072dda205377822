//! Events on both backends: the port layer's own events on a subscription, and the
//! collector's reading of the backend's VM events, with the same test bodies on the
//! memory backend and on the vSphere backend against govmomi's simulator.

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::{bounded, spawn_guest, Fixture, GuestPlay};
use futures::{Stream, StreamExt};
use vic_config::model::{ExecutorConfig, SessionConfig};
use vic_portlayer::events::{Event, EventCollector, EventHub, EventKind, EventSource};
use vic_portlayer::exec::{Exec, TargetState};
use vic_portlayer::ContainerId;

/// An executor config with one session named by the container's ID.
fn config(id: &ContainerId) -> ExecutorConfig {
    let mut c = ExecutorConfig::default();
    c.common.name = Some("events_test".into());
    let mut s = SessionConfig::default();
    s.cmd.path = Some("/bin/true".into());
    c.sessions.insert(id.to_string(), s);
    c
}

async fn create(exec: &Exec, id: &ContainerId) {
    let h = exec.create_handle(id.clone(), config(id)).unwrap();
    bounded("create", exec.commit(h)).await.unwrap();
}

async fn set_target(exec: &Exec, id: &ContainerId, target: TargetState) {
    let mut h = exec.get(id).await.unwrap();
    h.set_target(target);
    bounded("commit", exec.commit(h)).await.unwrap();
}

/// The next `n` events of `stream`.
async fn take(stream: &mut (impl Stream<Item = Event> + Unpin), n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        let e = bounded("an event", stream.next())
            .await
            .expect("event stream");
        out.push(e);
    }
    out
}

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind.clone()).collect()
}

fn about(events: &[Event], id: &ContainerId) -> Vec<Event> {
    events
        .iter()
        .filter(|e| &e.container == id)
        .cloned()
        .collect()
}

/// What vSphere's events about one created, started, stopped and removed
/// container must come to: each transition once, with distinct keys.
fn assert_one_life(events: &[Event], id: &ContainerId, kind: &str) {
    let k = kinds(events);
    assert_eq!(k.len(), 4, "{kind}: {k:?}");
    assert_eq!(k[0], EventKind::Created, "{kind}: {k:?}");
    assert_eq!(k[1], EventKind::Started, "{kind}: {k:?}");
    assert!(
        matches!(k[2], EventKind::Stopped | EventKind::Died { .. }),
        "{kind}: {k:?}"
    );
    assert_eq!(k[3], EventKind::Removed, "{kind}: {k:?}");
    assert!(events
        .iter()
        .all(|e| &e.container == id && e.source == EventSource::VSphere));
    let keys: HashSet<i32> = events.iter().filter_map(|e| e.vsphere_key).collect();
    assert_eq!(keys.len(), 4, "{kind}: one key each: {events:?}");
}

async fn lifecycle(fx: Fixture) {
    let exec = fx.exec();
    let _guest = spawn_guest(fx.backend.clone(), GuestPlay::Start);
    let id = ContainerId::random();
    let mine = id.clone();
    let mut own = fx
        .events
        .subscribe_filtered(move |e| e.container == mine && e.source == EventSource::PortLayer);
    let mut from_vsphere = fx.events.subscribe_filtered({
        let id = id.clone();
        move |e| e.container == id && e.source == EventSource::VSphere
    });

    // Polled by hand after each step, and twice more at the end: every window
    // after the first overlaps the one before.
    let mut by_hand = EventCollector::new(fx.backend.clone(), fx.events.clone());
    // Polling as fast as it can meanwhile, on a hub of its own.
    let fast_hub = EventHub::default();
    let mut fast_events = fast_hub.subscribe_container(&id);
    let fast = EventCollector::start(
        fx.backend.clone(),
        fast_hub.clone(),
        Duration::from_millis(20),
    );

    let mut collected = Vec::new();
    create(&exec, &id).await;
    collected.extend(by_hand.collect().await.unwrap());
    set_target(&exec, &id, TargetState::Running).await;
    collected.extend(by_hand.collect().await.unwrap());
    collected.extend(by_hand.collect().await.unwrap());
    set_target(&exec, &id, TargetState::Stopped).await;
    collected.extend(by_hand.collect().await.unwrap());
    bounded("remove", exec.remove(&id, false)).await.unwrap();
    for _ in 0..3 {
        collected.extend(by_hand.collect().await.unwrap());
    }

    // (a) The port layer's own events, in order.
    assert_eq!(
        kinds(&take(&mut own, 4).await),
        [
            EventKind::Created,
            EventKind::Started,
            EventKind::Stopped,
            EventKind::Removed
        ],
        "{}",
        fx.kind
    );

    // (b) vSphere's events, once each however many windows held them.
    let mine = about(&collected, &id);
    assert_one_life(&mine, &id, fx.kind);
    // What collect returned is what the hub carried.
    assert_eq!(take(&mut from_vsphere, 4).await, mine);
    assert!(
        futures::FutureExt::now_or_never(from_vsphere.next()).is_none(),
        "{}: nothing more",
        fx.kind
    );

    // The fast poller came to the same.
    let fast_seen = take(&mut fast_events, 4).await;
    let fast = bounded("stop", fast.stop()).await.unwrap();
    assert_eq!(kinds(&fast_seen), kinds(&mine), "{}", fx.kind);
    assert!(futures::FutureExt::now_or_never(fast_events.next()).is_none());
    drop(fast);

    // So does a collector reading the whole history at once, then again.
    let mut late = EventCollector::new(fx.backend.clone(), EventHub::default())
        .with_overlap(Duration::from_secs(3600));
    let all = about(&late.collect().await.unwrap(), &id);
    assert_eq!(all, mine);
    assert!(about(&late.collect().await.unwrap(), &id).is_empty());
    assert!(about(&late.collect().await.unwrap(), &id).is_empty());
}
both_backends!(lifecycle_once_each, super::lifecycle);

async fn died_with_exit_code(fx: Fixture) {
    let exec = fx.exec();
    let _guest = spawn_guest(fx.backend.clone(), GuestPlay::RunAndExit(7));
    let id = ContainerId::random();
    let mut from_vsphere = fx.events.subscribe_filtered({
        let id = id.clone();
        move |e| e.container == id && e.source == EventSource::VSphere
    });
    let collector = EventCollector::start(
        fx.backend.clone(),
        fx.events.clone(),
        Duration::from_millis(100),
    );

    create(&exec, &id).await;
    set_target(&exec, &id, TargetState::Running).await;
    let status = bounded(
        "the guest to exit",
        exec.wait_session(&id, id.as_str(), common::LIMIT),
    )
    .await
    .unwrap();
    assert_eq!(status, Some(7));

    let mut seen = Vec::new();
    while !matches!(
        seen.last(),
        Some(EventKind::Died { .. }) | Some(EventKind::Stopped)
    ) {
        seen.push(
            bounded("the death", from_vsphere.next())
                .await
                .unwrap()
                .kind,
        );
    }
    assert_eq!(
        seen,
        [
            EventKind::Created,
            EventKind::Started,
            EventKind::Died { exit_code: Some(7) }
        ],
        "{}",
        fx.kind
    );
    bounded("stop", collector.stop()).await.unwrap();
    bounded("remove", exec.remove(&id, true)).await.unwrap();
}
both_backends!(exit_code, super::died_with_exit_code);

/// A small VM `name` that is not a container, its files in the folder `dir`.
fn plain_vm(fx: &Fixture, name: &str, dir: &str) -> vim25::types::VirtualMachineConfigSpec {
    vim25::types::VirtualMachineConfigSpec {
        name: Some(name.into()),
        guest_id: Some("otherGuest".into()),
        num_cpus: Some(1),
        memory_mb: Some(64),
        files: Some(vim25::types::VirtualMachineFileInfo {
            vm_path_name: Some(format!("[{}] {dir}/{dir}.vmx", fx.settings.datastore)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn other_vms_are_ignored(fx: Fixture) {
    // The VCH's folder may hold VMs that are not containers; their events are
    // read but publish nothing.
    let vm = fx
        .backend
        .create_vm(&plain_vm(&fx, "not-a-container", "other"))
        .await
        .unwrap();
    fx.backend.power_on(&vm).await.unwrap();
    fx.backend.power_off(&vm).await.unwrap();
    fx.backend.destroy_vm(&vm).await.unwrap();
    let mut c = EventCollector::new(fx.backend.clone(), fx.events.clone());
    let got = c.collect().await.unwrap();
    assert!(got.is_empty(), "{}: {got:?}", fx.kind);
    // The events were there to ignore.
    let raw = fx.backend.vm_events(None).await.unwrap();
    assert!(
        raw.iter()
            .any(|e| e.vm_name.as_deref() == Some("not-a-container")),
        "{}: {raw:?}",
        fx.kind
    );
}
both_backends!(non_containers, super::other_vms_are_ignored);

/// Writes `exit_status` for the container's primary session, as the guest does.
async fn report_exit(fx: &Fixture, id: &ContainerId, status: i64) {
    use vic_portlayer::backend::VmDetail;
    let vm = fx
        .backend
        .vm_by_name(id.as_str(), VmDetail::Summary)
        .await
        .unwrap()
        .expect("the containerVM");
    let key =
        vic_config::key_of::<ExecutorConfig>("sessions.*.exit_status", vic_config::Layout::Current)
            .unwrap()
            .fill(&[id.as_str()])
            .unwrap();
    let map = [(key, status.to_string())].into_iter().collect();
    let spec = vim25::types::VirtualMachineConfigSpec {
        extra_config: vic_config::option_value::to_option_values(&map),
        ..Default::default()
    };
    fx.backend
        .reconfigure_vm(&vm.reference, &spec)
        .await
        .unwrap();
}

async fn power_paths(fx: Fixture) {
    // Power operations straight on the backend, as an operator or the guest
    // would do them outside the port layer: a hard power-off after the guest
    // reported an exit status is a death with that code; a guest shutdown is one
    // stop (its power-off adds nothing).
    use vic_portlayer::backend::VmDetail;
    let exec = fx.exec();
    let mut c = EventCollector::new(fx.backend.clone(), EventHub::default());
    let mut got = Vec::new();
    let (died, stopped) = (ContainerId::random(), ContainerId::random());
    for id in [&died, &stopped] {
        create(&exec, id).await;
        got.extend(c.collect().await.unwrap());
        let vm = fx
            .backend
            .vm_by_name(id.as_str(), VmDetail::Summary)
            .await
            .unwrap()
            .expect("the containerVM")
            .reference;
        fx.backend.power_on(&vm).await.unwrap();
        got.extend(c.collect().await.unwrap());
        if id == &died {
            report_exit(&fx, id, 7).await;
            fx.backend.power_off(&vm).await.unwrap();
        } else {
            fx.backend.shutdown_guest(&vm).await.unwrap();
        }
        got.extend(c.collect().await.unwrap());
        got.extend(c.collect().await.unwrap());
        fx.backend.destroy_vm(&vm).await.unwrap();
        got.extend(c.collect().await.unwrap());
        got.extend(c.collect().await.unwrap());
    }
    assert_eq!(
        kinds(&about(&got, &died)),
        [
            EventKind::Created,
            EventKind::Started,
            EventKind::Died { exit_code: Some(7) },
            EventKind::Removed
        ],
        "{}",
        fx.kind
    );
    assert_eq!(
        kinds(&about(&got, &stopped)),
        [
            EventKind::Created,
            EventKind::Started,
            EventKind::Stopped,
            EventKind::Removed
        ],
        "{}",
        fx.kind
    );

    // Read later, all at once: the same transitions; the removed VM has no exit
    // code left to read.
    let all = EventCollector::new(fx.backend.clone(), EventHub::default())
        .collect()
        .await
        .unwrap();
    assert_eq!(kinds(&about(&all, &stopped)), kinds(&about(&got, &stopped)));
    assert_eq!(
        kinds(&about(&all, &died)),
        [
            EventKind::Created,
            EventKind::Started,
            EventKind::Died { exit_code: None },
            EventKind::Removed
        ],
        "{}",
        fx.kind
    );
}
both_backends!(outside_power_operations, super::power_paths);

/// Event reads as fast as they go, two at a time, beside power cycles, on the
/// simulator: every cycle completes. Each read destroys its collector at the end,
/// which deadlocks the simulator's event manager when it meets an event being
/// posted (see `common::EventSafe`); through a bare `VsphereBackend` this test
/// hangs within a few cycles, through the fixture's backend it must not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_beside_power_cycles_on_the_simulator() {
    let fx = common::vsphere().await;
    let b = fx.backend.clone();
    let vm = b
        .create_vm(&plain_vm(&fx, "cycled", "cycled"))
        .await
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (b, stop) = (b.clone(), stop.clone());
            tokio::spawn(async move {
                let mut reads = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    b.vm_events(None).await.unwrap();
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    bounded("40 power cycles beside event reads", async {
        for _ in 0..40 {
            b.power_on(&vm).await.unwrap();
            b.power_off(&vm).await.unwrap();
        }
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        let reads = bounded("a reader", r).await.unwrap();
        assert!(reads > 0);
    }
    // The cycles' events were all posted.
    let events = b.vm_events(None).await.unwrap();
    let ons = events
        .iter()
        .filter(|e| e.vm.as_ref() == Some(&vm) && e.kind == "VmPoweredOnEvent")
        .count();
    assert_eq!(ons, 40, "{events:?}");
    b.destroy_vm(&vm).await.unwrap();
}
