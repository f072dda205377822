//! The memory backend through `Arc<dyn Backend>`, as the port layer holds it:
//! optimistic concurrency under racing tasks, waits across tasks, files, events.

use std::sync::Arc;
use std::time::Duration;

use vic_portlayer::backend::{Backend, PowerState, VmDetail, VmRecord};
use vic_portlayer::memory::MemoryBackend;
use vic_portlayer::Error;
use vim25::object::DatastorePath;
use vim25::types::{AnyOptionValue, AnyValue, OptionValue, VirtualMachineConfigSpec};

fn backend() -> Arc<dyn Backend> {
    Arc::new(MemoryBackend::new("datastore1", "VCH001").with_port_groups(&["bridge"]))
}

fn set(key: &str, value: &str) -> Vec<AnyOptionValue> {
    vec![OptionValue {
        key: key.to_string(),
        value: Some(AnyValue::String(value.to_string())),
        ..Default::default()
    }
    .into()]
}

async fn create(b: &Arc<dyn Backend>, name: &str) -> vim25::types::ManagedObjectReference {
    b.create_vm(&VirtualMachineConfigSpec {
        name: Some(name.into()),
        ..Default::default()
    })
    .await
    .unwrap()
}

/// 16 tasks reconfigure one VM with the change version they all read: exactly one
/// applies, the others conflict and leave nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_reconfigures_one_wins() {
    let b = backend();
    let vm = create(&b, "web").await;
    let version = b
        .vm(&vm, VmDetail::Summary)
        .await
        .unwrap()
        .change_version
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (b, vm, version, barrier) = (b.clone(), vm.clone(), version.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let spec = VirtualMachineConfigSpec {
                change_version: Some(version),
                extra_config: set(&format!("guestinfo.task{i}"), "done"),
                ..Default::default()
            };
            barrier.wait().await;
            (i, b.reconfigure_vm(&vm, &spec).await)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        match r {
            Ok(()) => winners.push(i),
            Err(e) => assert!(e.is_conflict(), "task {i}: {e}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one reconfigure applies: {winners:?}"
    );
    let r = b.vm(&vm, VmDetail::Summary).await.unwrap();
    let written: Vec<&String> = r
        .extra_config
        .keys()
        .filter(|k| k.starts_with("guestinfo.task"))
        .collect();
    assert_eq!(written, vec![&format!("guestinfo.task{}", winners[0])]);
    assert_eq!(
        r.change_version.as_deref(),
        Some((version.parse::<u64>().unwrap() + 1).to_string().as_str())
    );
}

/// With a retry on conflict (fresh version each time), every task's edit lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_reconfigures_all_land() {
    let b = backend();
    let vm = create(&b, "web").await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (b, vm) = (b.clone(), vm.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let now = b.vm(&vm, VmDetail::Summary).await.unwrap();
                let spec = VirtualMachineConfigSpec {
                    change_version: now.change_version,
                    extra_config: set(&format!("guestinfo.k{i}"), "1"),
                    ..Default::default()
                };
                match b.reconfigure_vm(&vm, &spec).await {
                    Ok(()) => return,
                    Err(e) if e.is_conflict() => tokio::task::yield_now().await,
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let r = b.vm(&vm, VmDetail::Summary).await.unwrap();
    for i in 0..16 {
        assert!(
            r.extra_config.contains_key(&format!("guestinfo.k{i}")),
            "k{i}"
        );
    }
    assert_eq!(r.change_version.as_deref(), Some("17"));
}

/// A waiter in one task sees another task's power operations, and a wait bounded
/// by a short limit ends with a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_across_tasks() {
    let b = backend();
    let vm = create(&b, "web").await;
    let waiter = {
        let (b, vm) = (b.clone(), vm.clone());
        tokio::spawn(async move {
            let on = |r: &VmRecord| r.power_state == PowerState::PoweredOn;
            b.wait_vm(&vm, Duration::from_secs(20), &on).await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    b.power_on(&vm).await.unwrap();
    let r = waiter.await.unwrap().unwrap();
    assert_eq!(r.power_state, PowerState::PoweredOn);

    let off = |r: &VmRecord| r.power_state == PowerState::PoweredOff;
    let e = b
        .wait_vm(&vm, Duration::from_millis(30), &off)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    b.shutdown_guest(&vm).await.unwrap();
    let r = b.wait_vm(&vm, Duration::from_secs(1), &off).await.unwrap();
    assert_eq!(r.power_state, PowerState::PoweredOff);
}

/// Listing, lookup by name, destroy with the VM's folder, events since a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_destroy_and_events() {
    let b = backend();
    let a = create(&b, "a").await;
    let c = create(&b, "c").await;
    let names: Vec<String> = b
        .list_vms(VmDetail::Summary)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, vec!["a", "c"]);
    assert_eq!(
        b.vm_by_name("c", VmDetail::Full)
            .await
            .unwrap()
            .map(|r| r.reference),
        Some(c.clone())
    );
    assert!(b
        .vm_by_name("b", VmDetail::Summary)
        .await
        .unwrap()
        .is_none());
    let mark = b.vm_events(None).await.unwrap().last().unwrap().clone();

    b.power_on(&a).await.unwrap();
    b.power_off(&a).await.unwrap();
    b.destroy_vm(&a).await.unwrap();
    assert!(!b
        .exists(&DatastorePath::new("datastore1", "a"))
        .await
        .unwrap());
    assert!(b
        .exists(&DatastorePath::new("datastore1", "c/c.vmx"))
        .await
        .unwrap());

    let since = b.vm_events(Some(&mark.created)).await.unwrap();
    let kinds: Vec<&str> = since
        .iter()
        .filter(|e| e.key > mark.key)
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "VmStartingEvent",
            "VmPoweredOnEvent",
            "VmStoppingEvent",
            "VmPoweredOffEvent",
            "VmRemovedEvent"
        ]
    );
    assert!(
        since.iter().any(|e| e.key == mark.key),
        "since is inclusive"
    );
    let e = b.vm(&a, VmDetail::Summary).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { kind: "VM", .. }), "{e}");
}

/// A file round trip through the trait object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_through_the_trait() {
    let b = backend();
    let dir = b.vch_folder();
    b.make_dir(&dir).await.unwrap();
    let file = DatastorePath::new(dir.datastore.clone(), format!("{}/kv/store.json", dir.path));
    let e = b
        .upload(&file, Box::new(std::io::Cursor::new(b"{}".to_vec())), 2)
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    b.make_dir(&DatastorePath::new(
        dir.datastore.clone(),
        format!("{}/kv", dir.path),
    ))
    .await
    .unwrap();
    b.upload(&file, Box::new(std::io::Cursor::new(b"{}".to_vec())), 2)
        .await
        .unwrap();
    assert_eq!(b.download(&file).await.unwrap(), b"{}");
    assert_eq!(b.list_dir(&dir).await.unwrap(), vec!["kv"]);
    b.delete_file(&file).await.unwrap();
    assert!(!b.exists(&file).await.unwrap());
}
