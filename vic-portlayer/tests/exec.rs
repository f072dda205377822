//! Exec on both backends: the same test bodies run on the memory backend and on the
//! vSphere backend against govmomi's simulator.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{bounded, spawn_guest, Fixture, GuestPlay};
use futures::StreamExt;
use vic_config::model::{ExecutorConfig, SessionConfig};
use vic_portlayer::backend::{PowerState, VmDetail};
use vic_portlayer::events::EventKind;
use vic_portlayer::exec::{ContainerState, TargetState};
use vic_portlayer::{ContainerId, Error};
use vim25::types::{AnyVirtualDevice, AnyVirtualDeviceBackingInfo};

/// An executor config with one session named by the container's ID, as the seed's
/// hello-world containerVM has.
fn hello(id: &ContainerId) -> ExecutorConfig {
    let mut c = ExecutorConfig::default();
    c.common.name = Some("jolly_panini".into());
    c.repo = Some("hello-world".into());
    let mut s = SessionConfig::default();
    s.cmd.path = Some("/hello".into());
    s.cmd.args = vec!["/hello".to_string()].into();
    s.tty = Some(false);
    c.sessions.insert(id.to_string(), s);
    c
}

async fn create(fx: &Fixture) -> ContainerId {
    let exec = fx.exec();
    let id = ContainerId::random();
    let h = exec.create_handle(id.clone(), hello(&id)).unwrap();
    let info = bounded("create", exec.commit(h)).await.unwrap();
    assert_eq!(info.state, ContainerState::Created);
    id
}

async fn lifecycle(fx: Fixture) {
    let exec = fx.exec();
    let mut events = fx.events.subscribe();
    let _guest = spawn_guest(fx.backend.clone(), GuestPlay::Start);
    let id = create(&fx).await;

    // The VM is named by the ID and carries the create spec.
    let vm = fx
        .backend
        .vm_by_name(id.as_str(), VmDetail::Full)
        .await
        .unwrap()
        .expect("the containerVM");
    assert_eq!(vm.power_state, PowerState::PoweredOff);
    assert_eq!(
        vm.extra_config
            .get("guestinfo.vice./common/id")
            .map(String::as_str),
        Some(id.as_str())
    );
    assert_eq!(
        vm.extra_config.get("common/name").map(String::as_str),
        Some("jolly_panini")
    );
    let key = format!("guestinfo.vice./sessions|{id}/cmd/Path");
    assert_eq!(
        vm.extra_config.get(&key).map(String::as_str),
        Some("/hello")
    );
    let has = |pred: &dyn Fn(&AnyVirtualDevice) -> bool| vm.devices.iter().any(pred);
    assert!(has(&|d| matches!(
        d,
        AnyVirtualDevice::ParaVirtualSCSIController(_)
    )));
    assert!(has(&|d| matches!(d, AnyVirtualDevice::VirtualCdrom(_))
        && matches!(&d.backing, Some(AnyVirtualDeviceBackingInfo::VirtualCdromIsoBackingInfo(b))
            if b.file_name.ends_with("VCH001/bootstrap.iso"))));
    // The CD-ROM's controller key was rewired from the temporary key to a real one.
    assert!(vm.devices.iter().all(|d| d.key > 0));

    // Start: powers on and waits for the guest's `started`.
    let mut h = exec.get(&id).await.unwrap();
    assert_eq!(h.state(), ContainerState::Created);
    h.set_target(TargetState::Running);
    let info = bounded("start", exec.commit(h)).await.unwrap();
    assert_eq!(info.state, ContainerState::Running, "{info:?}");
    assert_eq!(info.power_state, PowerState::PoweredOn);

    // Stop.
    let mut h = exec.get(&id).await.unwrap();
    h.set_target(TargetState::Stopped);
    let info = bounded("stop", exec.commit(h)).await.unwrap();
    assert_eq!(info.power_state, PowerState::PoweredOff);
    assert_eq!(info.state, ContainerState::Stopped);

    // Remove.
    bounded("remove", exec.remove(&id, false)).await.unwrap();
    assert!(exec.inspect(&id).await.unwrap_err().is_not_found());
    assert!(fx
        .backend
        .vm_by_name(id.as_str(), VmDetail::Summary)
        .await
        .unwrap()
        .is_none());

    // The port layer's own events, in order.
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let e = bounded("events", events.next())
            .await
            .expect("event stream");
        if e.container == id {
            seen.push(e.kind);
        }
    }
    assert_eq!(
        seen,
        vec![
            EventKind::Created,
            EventKind::Started,
            EventKind::Stopped,
            EventKind::Removed
        ]
    );
}
both_backends!(create_start_stop_remove, super::lifecycle);

/// Only changed keys are sent: a key the guest wrote after the snapshot survives a
/// commit of an unrelated edit.
async fn only_changed_keys(fx: Fixture) {
    let exec = fx.exec();
    let id = create(&fx).await;
    let mut h = exec.get(&id).await.unwrap();
    // The guest writes a key after the handle was taken.
    let vm = h.vm().unwrap().clone();
    let guest_key = format!("guestinfo.vice..sessions|{id}.status");
    let spec = vim25::types::VirtualMachineConfigSpec {
        extra_config: vic_config::option_value::to_option_values(
            &[(guest_key.clone(), "5".to_string())].into_iter().collect(),
        ),
        ..Default::default()
    };
    fx.backend.reconfigure_vm(&vm, &spec).await.unwrap();
    // A handle taken before that write: on the memory backend its change version
    // is now stale; on the simulator (no change versions) it commits.
    h.config_mut().hostname = Some("web".into());
    match exec.commit(h).await {
        Ok(_) => {}
        Err(e) if e.is_conflict() => {
            let mut h = exec.get(&id).await.unwrap();
            h.config_mut().hostname = Some("web".into());
            exec.commit(h).await.unwrap();
        }
        Err(e) => panic!("{e}"),
    }
    let vm = fx.backend.vm(&vm, VmDetail::Summary).await.unwrap();
    assert_eq!(
        vm.extra_config
            .get("guestinfo.vice./hostname")
            .map(String::as_str),
        Some("web")
    );
    assert_eq!(
        vm.extra_config.get(&guest_key).map(String::as_str),
        Some("5")
    );
}
both_backends!(commit_sends_only_changes, super::only_changed_keys);

/// A running container takes non-persistent and hidden keys only; a persistent
/// change is refused whole, with nothing applied.
async fn running_keys(fx: Fixture) {
    let exec = fx.exec();
    let _guest = spawn_guest(fx.backend.clone(), GuestPlay::Start);
    let id = create(&fx).await;
    let mut h = exec.get(&id).await.unwrap();
    h.set_target(TargetState::Running);
    bounded("start", exec.commit(h)).await.unwrap();

    let mut h = exec.get(&id).await.unwrap();
    h.config_mut().hostname = Some("persistent-change".into());
    h.config_mut().common.name = Some("renamed".into());
    let err = exec.commit(h).await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput(ref m) if m.contains("hostname")),
        "{err}"
    );
    let info = exec.inspect(&id).await.unwrap();
    assert_eq!(info.config.hostname, None);
    assert_eq!(info.name(), Some("jolly_panini"));

    // Rename (hidden key) and an exec session (non-persistent) are fine.
    let mut h = exec.get(&id).await.unwrap();
    for bad in ["", "  ", "tab\there"] {
        assert!(
            matches!(h.rename(bad), Err(Error::InvalidInput(_))),
            "{bad:?}"
        );
    }
    assert_eq!(h.config().common.name.as_deref(), Some("jolly_panini"));
    h.rename("renamed").unwrap();
    let mut s = SessionConfig::default();
    s.cmd.path = Some("/bin/sh".into());
    h.join_session("exec1", s).unwrap();
    assert!(h.config().execs.contains_key("exec1"));
    bounded("rename + exec", exec.commit(h)).await.unwrap();
    let vm = fx
        .backend
        .vm_by_name(id.as_str(), VmDetail::Summary)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        vm.extra_config.get("common/name").map(String::as_str),
        Some("renamed")
    );
    assert_eq!(
        vm.extra_config
            .get("guestinfo.vice./execs|exec1/cmd/Path@non-persistent")
            .map(String::as_str),
        Some("/bin/sh")
    );
    let h = exec.get(&id).await.unwrap();
    assert_eq!(
        h.session("exec1").unwrap().cmd.path.as_deref(),
        Some("/bin/sh")
    );
}
both_backends!(running_container_keys, super::running_keys);

/// Session join/bind/unbind/remove/inspect on a stopped container.
async fn sessions(fx: Fixture) {
    let exec = fx.exec();
    let id = create(&fx).await;
    let mut h = exec.get(&id).await.unwrap();
    let mut s = SessionConfig::default();
    s.cmd.path = Some("/bin/true".into());
    h.join_session("second", s.clone()).unwrap();
    assert!(matches!(
        h.join_session("second", s),
        Err(Error::Exists { .. })
    ));
    h.bind_session("second").unwrap();
    assert_eq!(h.session("second").unwrap().active, Some(true));
    assert!(h.bind_session("nope").unwrap_err().is_not_found());
    exec.commit(h).await.unwrap();

    let mut h = exec.get(&id).await.unwrap();
    assert_eq!(h.sessions().len(), 2);
    assert_eq!(h.session("second").unwrap().active, Some(true));
    h.unbind_session("second").unwrap();
    exec.commit(h).await.unwrap();
    let mut h = exec.get(&id).await.unwrap();
    assert_eq!(h.session("second").unwrap().active, Some(false));
    h.remove_session("second").unwrap();
    exec.commit(h).await.unwrap();
    let h = exec.get(&id).await.unwrap();
    assert!(h.session("second").unwrap_err().is_not_found());
    assert_eq!(h.sessions().len(), 1);
}
both_backends!(session_operations, super::sessions);

/// A guest that runs its process and exits: `wait_session` returns the status, the
/// state is stopped, and a fresh exec service (a restarted control plane) derives
/// the same state from vSphere alone.
async fn exit_status(fx: Fixture) {
    let exec = fx.exec();
    let _guest = spawn_guest(fx.backend.clone(), GuestPlay::RunAndExit(3));
    let id = create(&fx).await;
    let mut h = exec.get(&id).await.unwrap();
    h.set_target(TargetState::Running);
    // The guest may exit before the commit sees `started`: either is a start.
    match bounded("start", exec.commit(h)).await {
        Ok(_) | Err(Error::PoweredOff { .. }) => {}
        Err(e) => panic!("{e}"),
    }
    let status = bounded(
        "wait",
        exec.wait_session(&id, id.as_str(), Duration::from_secs(30)),
    )
    .await
    .unwrap();
    assert_eq!(status, Some(3));
    let off = |r: &vic_portlayer::backend::VmRecord| r.power_state == PowerState::PoweredOff;
    let vm = exec.inspect(&id).await.unwrap().vm;
    bounded(
        "off",
        fx.backend.wait_vm(&vm, Duration::from_secs(30), &off),
    )
    .await
    .unwrap();
    let restarted = fx.exec();
    let info = restarted.inspect(&id).await.unwrap();
    assert_eq!(info.state, ContainerState::Stopped);
    assert_eq!(info.exit_status(), Some(3));
    assert!(exec
        .wait_session(&id, "no-such-session", Duration::from_secs(1))
        .await
        .unwrap_err()
        .is_not_found());
}
both_backends!(wait_for_exit_status, super::exit_status);

/// A session that reports an error text instead of `true` fails the start.
async fn start_failure(fx: Fixture) {
    let exec = fx.exec();
    let _guest = spawn_guest(
        fx.backend.clone(),
        GuestPlay::FailStart("exec format error".into()),
    );
    let id = create(&fx).await;
    let mut h = exec.get(&id).await.unwrap();
    h.set_target(TargetState::Running);
    let err = bounded("start", exec.commit(h)).await.unwrap_err();
    assert!(
        matches!(&err, Error::StartFailed { message, .. } if message == "exec format error"),
        "{err}"
    );
}
both_backends!(start_failure_is_reported, super::start_failure);

/// Unknown containers and malformed IDs give typed errors; nothing is created.
async fn bad_input(fx: Fixture) {
    let exec = fx.exec();
    let id = ContainerId::random();
    assert!(exec.get(&id).await.unwrap_err().is_not_found());
    assert!(exec.inspect(&id).await.unwrap_err().is_not_found());
    assert!(exec.remove(&id, true).await.unwrap_err().is_not_found());
    assert!("not-an-id".parse::<ContainerId>().is_err());
    assert!(exec.list().await.unwrap().is_empty());
    // Removing a running container needs force.
    let _guest = spawn_guest(fx.backend.clone(), GuestPlay::Start);
    let id = create(&fx).await;
    let mut h = exec.get(&id).await.unwrap();
    h.set_target(TargetState::Running);
    bounded("start", exec.commit(h)).await.unwrap();
    assert!(matches!(
        exec.remove(&id, false).await,
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(
        exec.inspect(&id).await.unwrap().state,
        ContainerState::Running
    );
    bounded("remove -f", exec.remove(&id, true)).await.unwrap();
    assert!(exec.list().await.unwrap().is_empty());
}
both_backends!(bad_input_is_refused, super::bad_input);

/// Listing: every container once, with its state; commits on different
/// containers run concurrently on one backend.
async fn list_concurrent(fx: Fixture) {
    let exec = fx.exec();
    let _guest = spawn_guest(fx.backend.clone(), GuestPlay::Start);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let exec = exec.clone();
        tasks.push(tokio::spawn(async move {
            let id = ContainerId::random();
            let h = exec.create_handle(id.clone(), hello(&id)).unwrap();
            exec.commit(h).await.unwrap();
            let mut h = exec.get(&id).await.unwrap();
            h.set_target(TargetState::Running);
            exec.commit(h).await.unwrap();
            id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(bounded("concurrent commits", t).await.unwrap());
    }
    ids.sort();
    let listed = exec.list().await.unwrap();
    let listed_ids: Vec<_> = listed.iter().map(|c| c.id.clone()).collect();
    assert_eq!(listed_ids, ids);
    assert!(listed.iter().all(|c| c.state == ContainerState::Running));
}
both_backends!(list_and_concurrent_commits, super::list_concurrent);

/// 16 tasks race commits on one container from handles taken at the same time:
/// each ends applied exactly once or with a conflict, and nothing is lost. Only the
/// memory backend keeps change versions (the simulator keeps none; the vSphere
/// backend's conflict path is tested through a proxy in `conflict_proxy.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_commits_on_memory() {
    let fx = common::memory().await;
    let exec = fx.exec();
    let id = create(&fx).await;
    let handles: Vec<_> = {
        let mut v = Vec::new();
        for _ in 0..16 {
            v.push(exec.get(&id).await.unwrap());
        }
        v
    };
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let mut tasks = Vec::new();
    for (i, mut h) in handles.into_iter().enumerate() {
        let exec = exec.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            h.config_mut().hostname = Some(format!("h{i}"));
            barrier.wait().await;
            (i, exec.commit(h).await)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        match r {
            Ok(_) => winners.push(i),
            Err(e) => assert!(e.is_conflict(), "task {i}: {e}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one of the racing commits applies"
    );
    let info = exec.inspect(&id).await.unwrap();
    assert_eq!(info.config.hostname, Some(format!("h{}", winners[0])));

    // With retries on conflict, every task's edit lands: nothing is lost.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let exec = exec.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let mut h = exec.get(&id).await.unwrap();
                h.config_mut()
                    .annotations
                    .insert(format!("k{i}"), i.to_string());
                match exec.commit(h).await {
                    Ok(_) => return,
                    Err(e) if e.is_conflict() => tokio::task::yield_now().await,
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for t in tasks {
        bounded("retrying commits", t).await.unwrap();
    }
    let info = exec.inspect(&id).await.unwrap();
    assert_eq!(info.config.annotations.len(), 16);
}
