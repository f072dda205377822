//! The helper layer against the simulator: paged and typed retrieval, views, waiting
//! for updates, tasks with progress, inventory paths.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use test_support::{Simulator, SimulatorConfig};
use vim25::find::Finder;
use vim25::mo::VirtualMachine;
use vim25::property::{spec_for_objects, Retrieval, Watch};
use vim25::soap::{BodyChunks, BoxFuture, RawResponse, Request, StreamingResponse, Transport};
use vim25::types::{ObjectContent, RetrieveResult, TaskInfoState, VirtualMachinePowerState};
use vim25::view::{ContainerView, ListView};
use vim25::xml::encode_element;
use vim25::{methods, Client, ClientBuilder, Error, Version};

async fn connect(sim: &Simulator) -> Client {
    ClientBuilder::new(sim.url())
        .unwrap()
        .credentials(sim.username(), sim.password())
        .connect()
        .await
        .unwrap()
}

/// Splits real `RetrievePropertiesEx` results into pages with tokens, because the
/// simulator ignores `maxObjects` and always answers in one page. Everything else
/// passes through.
#[derive(Clone)]
struct Pager {
    inner: Client,
    page: usize,
    pending: Arc<Mutex<HashMap<String, VecDeque<Vec<ObjectContent>>>>>,
    served: Arc<Mutex<Vec<usize>>>,
}

fn envelope(op: &str, result: &RetrieveResult) -> Vec<u8> {
    let body = encode_element("returnval", result, Version::LATEST);
    format!(
        r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><{op}Response xmlns="urn:vim25">{body}</{op}Response></soapenv:Body></soapenv:Envelope>"#
    )
    .into_bytes()
}

impl Pager {
    fn next_page(&self, op: &str, token: &str) -> RawResponse {
        let mut pending = self.pending.lock().unwrap();
        let queue = pending.get_mut(token).expect("known token");
        let objects = queue.pop_front().unwrap_or_default();
        self.served.lock().unwrap().push(objects.len());
        let more = !queue.is_empty();
        if !more {
            pending.remove(token);
        }
        let result = RetrieveResult {
            token: more.then(|| token.to_string()),
            objects,
            ..Default::default()
        };
        RawResponse {
            status: 200,
            body: envelope(op, &result),
        }
    }
}

impl Transport for Pager {
    fn version(&self) -> Version {
        self.inner.version()
    }
    fn round_trip<'a>(
        &'a self,
        r: &'a Request,
        idem: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        Box::pin(async move {
            match r.operation {
                "RetrievePropertiesEx" => {
                    let raw = self.inner.round_trip(r, idem).await?;
                    let all: RetrieveResult =
                        vim25::soap::decode_returnval("RetrievePropertiesEx", &raw.body)?
                            .unwrap_or_default();
                    let token = format!("tok-{}", self.pending.lock().unwrap().len() + 1);
                    let chunks: VecDeque<Vec<ObjectContent>> =
                        all.objects.chunks(self.page).map(|c| c.to_vec()).collect();
                    self.pending.lock().unwrap().insert(token.clone(), chunks);
                    Ok(self.next_page("RetrievePropertiesEx", &token))
                }
                "ContinueRetrievePropertiesEx" => {
                    let b = &r.body;
                    let start = b.find("<token>").expect("token") + "<token>".len();
                    let end = b[start..].find("</token>").unwrap() + start;
                    Ok(self.next_page("ContinueRetrievePropertiesEx", &b[start..end]))
                }
                "CancelRetrievePropertiesEx" => {
                    self.pending.lock().unwrap().clear();
                    Ok(RawResponse {
                        status: 200,
                        body: br#"<Envelope><Body><CancelRetrievePropertiesExResponse/></Body></Envelope>"#.to_vec(),
                    })
                }
                _ => self.inner.round_trip(r, idem).await,
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_vms_page_by_page() {
    // 1,000 VMs under each of the default inventory's two VM parents.
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false).vms(1000));
    let c = connect(&sim).await;
    let pager = Pager {
        inner: c.clone(),
        page: 150,
        pending: Arc::default(),
        served: Arc::default(),
    };
    let view = ContainerView::create(&c, &["VirtualMachine"], true)
        .await
        .unwrap();
    let spec = view.filter_spec(
        "VirtualMachine",
        &[
            "name",
            "runtime.powerState",
            "summary.config.numCpu",
            "config.extraConfig",
        ],
    );
    let mut r = Retrieval::new(pager.clone(), c.property_collector(), vec![spec]).page_size(150);
    let mut names = Vec::new();
    let mut largest = 0;
    while let Some(page) = r.next_typed::<VirtualMachine>().await.unwrap() {
        largest = largest.max(page.objects.len());
        assert!(page.missing.is_empty());
        for vm in page.objects {
            assert!(vm.obj.value.starts_with("vm-"));
            let state = vm
                .other
                .iter()
                .find(|p| p.name == "runtime.powerState")
                .unwrap();
            assert_eq!(state.val.as_str(), Some("poweredOn"));
            names.push(vm.name.unwrap());
        }
        // Only the current page is held: memory is bounded by the page size.
    }
    assert_eq!(names.len(), 2000);
    assert_eq!(r.pages(), 14, "2,000 objects in pages of 150");
    assert!(largest <= 150);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 2000);

    // Raw pages and cancellation of an unfinished retrieval.
    let spec = view.filter_spec("VirtualMachine", &["name"]);
    let mut r = Retrieval::new(pager.clone(), c.property_collector(), vec![spec]);
    let first = r.next_page().await.unwrap().unwrap();
    assert_eq!(first.len(), 150);
    r.cancel().await.unwrap();
    assert!(pager.pending.lock().unwrap().is_empty());
    view.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_retrieval_reports_missing_properties() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let c = connect(&sim).await;
    let view = ContainerView::create(&c, &["VirtualMachine"], true)
        .await
        .unwrap();
    let vms = view.objects().await.unwrap();
    assert_eq!(vms.len(), 4);
    let spec = spec_for_objects(
        "VirtualMachine",
        &["config", "summary", "runtime", "name"],
        &vms,
    );
    let all = Retrieval::new(c.clone(), c.property_collector(), vec![spec])
        .collect_typed::<VirtualMachine>()
        .await
        .unwrap();
    assert_eq!(all.objects.len(), 4);
    for vm in &all.objects {
        let cfg = vm.config.as_ref().expect("config");
        assert_eq!(Some(&cfg.name), vm.name.as_ref());
        assert!(vm.summary.is_some() && vm.runtime.is_some());
    }
    // A property the server cannot return is reported with its fault, not swallowed
    // (vcsim puts an unknown path in the missing set; a real vCenter may fault the call
    // with InvalidProperty instead, which surfaces as a typed Error::Fault).
    let bad = spec_for_objects("VirtualMachine", &["no.such.property"], &vms[..1]);
    let page = Retrieval::new(c.clone(), c.property_collector(), vec![bad])
        .collect_typed::<VirtualMachine>()
        .await
        .unwrap();
    let (obj, missing) = &page.missing[0];
    assert_eq!(obj, &vms[0]);
    assert_eq!(missing[0].path, "no.such.property");
    assert_eq!(missing[0].fault.fault.type_name(), "InvalidProperty");
    // A list view holds exactly what it was given.
    let lv = ListView::create(&c, &vms[..2]).await.unwrap();
    assert_eq!(lv.objects().await.unwrap().len(), 2);
    lv.remove(&vms[..1]).await.unwrap();
    assert_eq!(lv.objects().await.unwrap(), vec![vms[1].clone()]);
    lv.destroy().await.unwrap();
    view.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sees_a_power_change_made_by_another_client() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let watcher = connect(&sim).await;
    let actor = connect(&sim).await;
    let vm = Finder::new(&watcher)
        .one("/DC0/vm/DC0_H0_VM0")
        .await
        .unwrap();
    let spec = spec_for_objects(
        "VirtualMachine",
        &["runtime.powerState"],
        std::slice::from_ref(&vm),
    );
    let mut w = Watch::create(watcher.clone(), &watcher.property_collector(), &spec)
        .await
        .unwrap()
        .max_wait(Duration::from_secs(5));
    let state = |set: vim25::types::UpdateSet| -> Option<String> {
        set.filter_set
            .into_iter()
            .flat_map(|f| f.object_set)
            .flat_map(|o| o.change_set)
            .find(|c| c.name == "runtime.powerState")
            .and_then(|c| c.val)
            .and_then(|v| v.as_str().map(String::from))
    };
    // The first update carries the current value.
    let first = w.wait_for_updates().await.unwrap().expect("initial values");
    assert_eq!(state(first).as_deref(), Some("poweredOn"));
    let task = methods::power_off_vm_task(&actor, &vm).await.unwrap();
    vim25::task::wait(&actor, &task, |_| {}).await.unwrap();
    let mut seen = None;
    for _ in 0..5 {
        if let Some(set) = w.wait_for_updates().await.unwrap() {
            seen = state(set);
            if seen.is_some() {
                break;
            }
        }
    }
    assert_eq!(
        seen.as_deref(),
        Some(VirtualMachinePowerState::PoweredOff.as_str())
    );
    let pc = w.collector().clone();
    w.destroy().await.unwrap();
    // The private collector is gone.
    let err = methods::wait_for_updates_ex(&watcher, &pc, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.fault_name(), Some("ManagedObjectNotFound"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_report_progress_and_typed_faults() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let c = connect(&sim).await;
    let finder = Finder::new(&c);
    let vm = finder.one("/DC0/vm/DC0_H0_VM0").await.unwrap();
    let mut seen = Vec::new();
    let task = methods::power_off_vm_task(&c, &vm).await.unwrap();
    let info = vim25::task::wait(&c, &task, |p| seen.push(p))
        .await
        .unwrap();
    assert_eq!(info.state, TaskInfoState::Success);
    assert_eq!(seen.last(), Some(&100), "{seen:?}");
    // Powering off a VM that is off fails with the typed InvalidPowerState.
    let task = methods::power_off_vm_task(&c, &vm).await.unwrap();
    let err = vim25::task::wait(&c, &task, |_| {}).await.unwrap_err();
    match &err {
        Error::TaskFailed { fault: Some(f), .. } => {
            assert_eq!(f.type_name(), "InvalidPowerState", "{err}")
        }
        other => panic!("expected a failed task, got {other:?}"),
    }
    // A deadline that has already passed gives a timeout, not a hang.
    let task = methods::power_on_vm_task(&c, &vm, None).await.unwrap();
    let r = vim25::task::wait_timeout(&c, &task, Duration::from_nanos(1), |_| {}).await;
    assert!(matches!(r, Err(Error::Timeout { .. }) | Ok(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_paths_and_globs() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false).datacenters(2));
    let c = connect(&sim).await;
    let f = Finder::new(&c);
    let vms = f.find("/DC0/vm/*").await.unwrap();
    let names: Vec<&str> = vms.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        names,
        [
            "/DC0/vm/DC0_C0_RP0_VM0",
            "/DC0/vm/DC0_C0_RP0_VM1",
            "/DC0/vm/DC0_H0_VM0",
            "/DC0/vm/DC0_H0_VM1"
        ]
    );
    assert_eq!(f.find("/DC?/vm/DC?_H0_VM1").await.unwrap().len(), 2);
    assert_eq!(
        f.find("/*/host/*").await.unwrap().len(),
        4,
        "a cluster and a host per datacenter"
    );
    let hosts = f.find("/DC1/host/DC1_C0/DC1_C0_H?").await.unwrap();
    assert_eq!(hosts.len(), 3);
    assert!(hosts.iter().all(|(_, h)| h.type_ == "HostSystem"));
    let pool = f.one("/DC0/host/DC0_C0/Resources").await.unwrap();
    assert_eq!(pool.type_, "ResourcePool");
    let ds = f.find("/DC0/datastore/*").await.unwrap();
    assert!(!ds.is_empty());
    assert_eq!(
        f.find("/").await.unwrap()[0].1,
        c.service_content().root_folder
    );

    // The path of a reference is the path that finds it.
    let vm = f.one("/DC1/vm/DC1_H0_VM0").await.unwrap();
    assert_eq!(f.path_of(&vm).await.unwrap(), "/DC1/vm/DC1_H0_VM0");
    assert_eq!(f.path_of(&hosts[0].1).await.unwrap(), hosts[0].0);

    // Clear not-found and multiple-found errors; defaults only when exactly one.
    assert!(matches!(
        f.one("/DC0/vm/nope").await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        f.one("/DC0/vm/*").await,
        Err(Error::MultipleFound { count: 4, .. })
    ));
    assert!(matches!(
        f.default_of("Datacenter").await,
        Err(Error::MultipleFound { count: 2, .. })
    ));
    assert!(matches!(
        f.find("relative/path").await,
        Err(Error::InvalidInput(_))
    ));
    let by_name = f.by_name("VirtualMachine", "DC1_*_VM1").await.unwrap();
    assert_eq!(by_name.len(), 2);
    assert!(by_name.iter().all(|(p, _)| p.starts_with("/DC1/vm/")));

    let one_dc = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let c1 = connect(&one_dc).await;
    let dc = Finder::new(&c1).default_of("Datacenter").await.unwrap();
    assert_eq!(Finder::new(&c1).path_of(&dc).await.unwrap(), "/DC0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_exchanges_replay_without_a_server() {
    use vim25::replay::{Recorder, Replay};
    let sim = Simulator::start_or_panic(&SimulatorConfig::esx().tls(false));
    let c = connect(&sim).await;
    let rec = Recorder::new(c.clone());
    let si = c.service_instance();
    let content = methods::retrieve_service_content(&rec, &si).await.unwrap();
    let spec = spec_for_objects(
        "Folder",
        &["name", "childEntity"],
        std::slice::from_ref(&content.root_folder),
    );
    let live = methods::retrieve_properties_ex(
        &rec,
        &content.property_collector,
        std::slice::from_ref(&spec),
        &Default::default(),
    )
    .await
    .unwrap();
    let path = std::env::temp_dir().join(format!("vim25-recording-{}.txt", std::process::id()));
    rec.save(&path).unwrap();
    drop(sim);

    // The simulator is gone: the same calls are answered from the recording.
    let replay = Replay::load(&path).unwrap().with_version(c.version());
    let again = methods::retrieve_service_content(&replay, &si)
        .await
        .unwrap();
    assert_eq!(again, content);
    let replayed = methods::retrieve_properties_ex(
        &replay,
        &content.property_collector,
        &[spec],
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(replayed, live);
    assert!(replay.finished());
    // A call the recording does not hold is an error, not a hang or a panic.
    let err = methods::current_time(&replay, &si).await.unwrap_err();
    assert!(err.to_string().contains("recording ended"), "{err}");
    let _ = std::fs::remove_file(path);
}

/// The client's transport, counting the pieces streamed bodies arrive in.
#[derive(Clone)]
struct PieceCounter {
    inner: Client,
    pieces: Arc<Mutex<Vec<usize>>>,
}

struct CountedBody {
    inner: Box<dyn BodyChunks>,
    pieces: Arc<Mutex<Vec<usize>>>,
}

impl BodyChunks for CountedBody {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Vec<u8>>, Error>> {
        Box::pin(async move {
            let p = self.inner.next_chunk().await?;
            if let Some(p) = &p {
                self.pieces.lock().unwrap().push(p.len());
            }
            Ok(p)
        })
    }
}

impl Transport for PieceCounter {
    fn version(&self) -> Version {
        self.inner.version()
    }
    fn round_trip<'a>(
        &'a self,
        r: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        self.inner.round_trip(r, idempotent)
    }
    fn round_trip_streaming<'a>(
        &'a self,
        r: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<StreamingResponse, Error>> {
        Box::pin(async move {
            let mut resp = self.inner.round_trip_streaming(r, idempotent).await?;
            resp.body = Box::new(CountedBody {
                inner: resp.body,
                pieces: self.pieces.clone(),
            });
            Ok(resp)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_vms_streamed_object_by_object_over_http() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(true).vms(1000));
    let c = ClientBuilder::new(sim.url())
        .unwrap()
        .credentials(sim.username(), sim.password())
        .insecure()
        .connect()
        .await
        .unwrap();
    let view = ContainerView::create(&c, &["VirtualMachine"], true)
        .await
        .unwrap();
    let spec = view.filter_spec("VirtualMachine", &["config", "summary", "runtime"]);

    // Whole pages (the simulator sends one, whatever maxObjects says).
    let mut r = Retrieval::new(c.clone(), c.property_collector(), vec![spec.clone()]);
    let mut whole: Vec<String> = r
        .collect_typed::<VirtualMachine>()
        .await
        .unwrap()
        .objects
        .iter()
        .map(|vm| format!("{vm:?}"))
        .collect();
    assert_eq!(whole.len(), 2000);

    // Streamed through the HTTP transport and every layer of the client: the body
    // arrives in many pieces and is decoded as they come.
    let counter = PieceCounter {
        inner: c.clone(),
        pieces: Arc::default(),
    };
    let mut r = Retrieval::new(counter.clone(), c.property_collector(), vec![spec]);
    let mut streamed = Vec::new();
    while let Some(vm) = r.next_object::<VirtualMachine>().await.unwrap() {
        assert!(vm.missing.is_empty());
        streamed.push(format!("{:?}", vm.object));
    }
    assert_eq!(r.pages(), 1);
    let pieces = counter.pieces.lock().unwrap().clone();
    let total: usize = pieces.iter().sum();
    assert!(
        pieces.len() > 10,
        "a {total}-byte body came in {} pieces: not streamed",
        pieces.len()
    );
    assert!(pieces.iter().all(|&p| p < total / 4), "{pieces:?}");
    whole.sort();
    streamed.sort();
    assert_eq!(streamed, whole);

    // Pages with tokens (split by the paging proxy) stream the same way.
    let pager = Pager {
        inner: c.clone(),
        page: 300,
        pending: Arc::default(),
        served: Arc::default(),
    };
    let spec = view.filter_spec("VirtualMachine", &["name"]);
    let mut r = Retrieval::new(pager, c.property_collector(), vec![spec]).page_size(300);
    let mut names = Vec::new();
    while let Some(vm) = r.next_object::<VirtualMachine>().await.unwrap() {
        names.push(vm.object.name.unwrap());
    }
    assert_eq!(r.pages(), 7);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 2000);
    view.destroy().await.unwrap();
}

/// A watch whose next change comes later than the client's request timeout still sees
/// it: each wait of the stream asks the server to answer within half the timeout
/// (`Watch::for_object`), and the stream waits again. Before, the one wait lasted
/// until the change and the request timed out (a task wait longer than the request
/// timeout failed the same way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_outlasts_the_request_timeout() {
    use vim25::property::TryStreamExt;
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let control = connect(&sim).await;
    let client = ClientBuilder::new(sim.url())
        .unwrap()
        .credentials(sim.username(), sim.password())
        .request_timeout(Duration::from_secs(2))
        .retries(0, Duration::from_millis(10))
        .connect()
        .await
        .unwrap();
    assert_eq!(client.request_timeout(), Some(Duration::from_secs(2)));
    let view = ContainerView::create(&control, &["VirtualMachine"], true)
        .await
        .unwrap();
    let vm = view.objects().await.unwrap()[0].clone();
    view.destroy().await.unwrap();
    let mut watch = Watch::for_object(&client, &vm, &["runtime.powerState"])
        .await
        .unwrap();
    let first = watch.try_next().await.unwrap().unwrap();
    assert_eq!(
        first.get::<VirtualMachinePowerState>("runtime.powerState"),
        Some(VirtualMachinePowerState::PoweredOn)
    );
    let later = {
        let (control, vm) = (control.clone(), vm.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            vim25::object::VirtualMachine::new(&control, vm)
                .power_off_and_wait()
                .await
        })
    };
    let next = tokio::time::timeout(Duration::from_secs(30), watch.try_next())
        .await
        .expect("the change within 30 s")
        .unwrap()
        .unwrap();
    assert_eq!(
        next.get::<VirtualMachinePowerState>("runtime.powerState"),
        Some(VirtualMachinePowerState::PoweredOff)
    );
    later.await.unwrap().unwrap();
    watch.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exists_tells_a_present_object_from_a_destroyed_or_unknown_one() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let c = connect(&sim).await;
    let pc = c.property_collector();
    let vm = Finder::new(&c).one("/DC0/vm/DC0_H0_VM1").await.unwrap();
    assert!(vim25::property::exists(&c, &pc, &vm).await.unwrap());
    let off = methods::power_off_vm_task(&c, &vm).await.unwrap();
    vim25::task::wait(&c, &off, |_| {}).await.unwrap();
    let gone = methods::destroy_task(&c, &vm).await.unwrap();
    vim25::task::wait(&c, &gone, |_| {}).await.unwrap();
    assert!(!vim25::property::exists(&c, &pc, &vm).await.unwrap());
    let unknown = vim25::types::ManagedObjectReference::new("VirtualMachine", "vm-none");
    assert!(!vim25::property::exists(&c, &pc, &unknown).await.unwrap());
}
