//! The transport layers (`vim25::transport`) over scripted transports, without a
//! server: which calls `Retry` resends, when `Session` logs in again (and that
//! concurrent callers share one re-login), that `KeepAlive` pings only when idle and
//! stops when dropped, that `WireLog` masks secrets, and a `Client` over a replay.
//!
//! The simulator tests (`simulator.rs`) run the same layers end to end; these cover
//! what vcsim cannot be made to do on cue (NotAuthenticated on a chosen call, 502/504
//! answers, exact concurrency) and use tokio's paused clock instead of real waiting.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vim25::object::FileManager;
use vim25::replay::{Exchange, Recorder, Replay};
use vim25::soap::{BoxFuture, RawResponse, Request, Transport};
use vim25::transport::{KeepAlive, Relogin, Retry, RetryPolicy, Session, WireLog};
use vim25::types::ManagedObjectReference;
use vim25::view::{ContainerView, ListView};
use vim25::{methods, Client, Error, Version};

fn si() -> ManagedObjectReference {
    ManagedObjectReference::new("ServiceInstance", "ServiceInstance")
}

fn sm() -> ManagedObjectReference {
    ManagedObjectReference::new("SessionManager", "SessionManager")
}

fn envelope(inner: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>"#
    )
    .into_bytes()
}

fn ok(operation: &str, returnval: &str) -> Result<RawResponse, Error> {
    Ok(RawResponse {
        status: 200,
        body: envelope(&format!(
            r#"<{operation}Response xmlns="urn:vim25">{returnval}</{operation}Response>"#
        )),
    })
}

fn fault(name: &str) -> Result<RawResponse, Error> {
    Ok(RawResponse {
        status: 500,
        body: envelope(&format!(
            r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>{name} here</faultstring><detail><{name}Fault xmlns="urn:vim25" xsi:type="{name}"/></detail></soapenv:Fault>"#
        )),
    })
}

fn status(code: u16) -> Result<RawResponse, Error> {
    Ok(RawResponse {
        status: code,
        body: b"busy".to_vec(),
    })
}

fn network() -> Result<RawResponse, Error> {
    Err(Error::Network {
        operation: "x".into(),
        message: "connection reset".into(),
    })
}

const TIME: &str = "<returnval>2026-11-23T12:00:00Z</returnval>";
const SESSION: &str = "<returnval><key>s1</key><userName>u</userName></returnval>";

/// Answers from a queue of outcomes per operation (the last one repeats), and counts
/// the calls it saw.
#[derive(Default)]
struct Script {
    outcomes: Mutex<BTreeMap<&'static str, Vec<Result<RawResponse, Error>>>>,
    calls: Mutex<Vec<String>>,
}

impl Script {
    fn on(self, op: &'static str, outcomes: Vec<Result<RawResponse, Error>>) -> Self {
        self.outcomes.lock().unwrap().insert(op, outcomes);
        self
    }
    fn count(&self, op: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| *c == op)
            .count()
    }
}

fn clone_outcome(r: &Result<RawResponse, Error>) -> Result<RawResponse, Error> {
    match r {
        Ok(r) => Ok(r.clone()),
        Err(Error::Network { operation, message }) => Err(Error::Network {
            operation: operation.clone(),
            message: message.clone(),
        }),
        Err(e) => Err(Error::InvalidInput(e.to_string())),
    }
}

impl Transport for Script {
    fn version(&self) -> Version {
        Version::LATEST
    }
    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        _: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        self.calls
            .lock()
            .unwrap()
            .push(request.operation.to_string());
        let mut all = self.outcomes.lock().unwrap();
        let r = match all.get_mut(request.operation) {
            Some(q) if q.len() > 1 => q.remove(0),
            Some(q) if q.len() == 1 => clone_outcome(&q[0]),
            _ => Err(Error::InvalidInput(format!(
                "script has nothing for {}",
                request.operation
            ))),
        };
        Box::pin(async move { r })
    }
}

#[tokio::test(start_paused = true)]
async fn retry_resends_safe_calls_after_transient_failures_only() {
    let policy = RetryPolicy::new(3, Duration::from_millis(100));
    // Network error, 503, 502, 504, then the answer: four resends needed, three allowed.
    let t = Retry::new(
        Script::default().on(
            "CurrentTime",
            vec![
                network(),
                status(503),
                status(502),
                status(504),
                ok("CurrentTime", TIME),
            ],
        ),
        policy,
    );
    let err = methods::current_time(&t, &si()).await.unwrap_err();
    assert!(matches!(err, Error::Http { status: 504, .. }), "{err:?}");
    assert_eq!(t.inner().count("CurrentTime"), 4);
    // The next call gets the answer at once.
    methods::current_time(&t, &si()).await.unwrap();

    // Within the budget the call succeeds; the waits grow.
    let t = Retry::new(
        Script::default().on(
            "CurrentTime",
            vec![network(), status(503), ok("CurrentTime", TIME)],
        ),
        policy,
    );
    let started = tokio::time::Instant::now();
    methods::current_time(&t, &si()).await.unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}"); // 100 + 200
    assert!(waited < Duration::from_millis(500), "{waited:?}"); // + jitter < 2 x 100

    // A call that changes state is sent once, whatever happens.
    let t = Retry::new(
        Script::default().on("CreateFolder", vec![network()]),
        policy,
    );
    let root = ManagedObjectReference::new("Folder", "group-d1");
    let err = methods::create_folder(&t, &root, "x").await.unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    assert_eq!(t.inner().count("CreateFolder"), 1);
    // So is a read that moves a server-side cursor: resending it could skip a page.
    let t = Retry::new(
        Script::default().on("ReadNextEvents", vec![network()]),
        policy,
    );
    let collector = ManagedObjectReference::new("EventHistoryCollector", "c1");
    assert!(methods::read_next_events(&t, &collector, 10).await.is_err());
    assert_eq!(t.inner().count("ReadNextEvents"), 1);

    // Faults and other statuses are answers, not transient failures.
    let t = Retry::new(
        Script::default().on("CurrentTime", vec![fault("InvalidState"), status(500)]),
        policy,
    );
    let err = methods::current_time(&t, &si()).await.unwrap_err();
    assert_eq!(err.fault_name(), Some("InvalidState"));
    assert_eq!(t.inner().count("CurrentTime"), 1);

    // RetryPolicy::none never resends.
    let t = Retry::new(
        Script::default().on("CurrentTime", vec![status(503), ok("CurrentTime", TIME)]),
        RetryPolicy::none(),
    );
    assert!(methods::current_time(&t, &si()).await.is_err());
    assert_eq!(t.inner().count("CurrentTime"), 1);
}

#[tokio::test]
async fn session_logs_in_again_once_and_replays_as_the_policy_allows() {
    let script = || {
        Script::default()
            .on("Login", vec![ok("Login", SESSION)])
            .on(
                "CurrentTime",
                vec![fault("NotAuthenticated"), ok("CurrentTime", TIME)],
            )
            .on(
                "CreateFolder",
                vec![
                    fault("NotAuthenticated"),
                    ok("CreateFolder", r#"<returnval type="Folder">f1</returnval>"#),
                ],
            )
    };
    let root = ManagedObjectReference::new("Folder", "group-d1");

    // Default policy: a safe call is replayed after one re-login.
    let s = Session::new(script(), Relogin::SafeCalls);
    s.login(&sm(), "u", "secret-pw").await.unwrap();
    assert_eq!(s.logins(), 1);
    methods::current_time(&s, &si()).await.unwrap();
    assert_eq!(s.logins(), 2);
    assert_eq!(s.inner().count("CurrentTime"), 2);
    // ... but a call that changes state is not.
    let err = methods::create_folder(&s, &root, "x").await.unwrap_err();
    assert_eq!(err.fault_name(), Some("NotAuthenticated"));
    assert_eq!(s.inner().count("CreateFolder"), 1);
    // The password stays out of Debug.
    let dbg = format!("{s:?}");
    assert!(dbg.contains("\"u\"") && !dbg.contains("secret-pw"), "{dbg}");

    // AllCalls replays that one too.
    let s = Session::new(script(), Relogin::AllCalls);
    s.login(&sm(), "u", "pw").await.unwrap();
    methods::create_folder(&s, &root, "x").await.unwrap();
    assert_eq!(s.inner().count("CreateFolder"), 2);

    // Never: the caller sees NotAuthenticated.
    let s = Session::new(script(), Relogin::Never);
    s.login(&sm(), "u", "pw").await.unwrap();
    let err = methods::current_time(&s, &si()).await.unwrap_err();
    assert_eq!(err.fault_name(), Some("NotAuthenticated"));
    assert_eq!(s.inner().count("Login"), 1);

    // Without credentials (never logged in, or logged out) nothing is replayed.
    let s = Session::new(script(), Relogin::SafeCalls);
    let err = methods::current_time(&s, &si()).await.unwrap_err();
    assert_eq!(err.fault_name(), Some("NotAuthenticated"));
    assert_eq!(s.inner().count("Login"), 0);

    // Login's own NotAuthenticated is an answer.
    let s = Session::new(
        Script::default().on("Login", vec![fault("NotAuthenticated")]),
        Relogin::AllCalls,
    );
    s.remember(&sm(), "u", "pw");
    let err = s.login(&sm(), "u", "pw").await.unwrap_err();
    assert_eq!(err.fault_name(), Some("NotAuthenticated"));
    assert_eq!(s.inner().count("Login"), 1);

    // A re-login that fails reports why.
    let s = Session::new(
        Script::default()
            .on("Login", vec![ok("Login", SESSION), fault("InvalidLogin")])
            .on("CurrentTime", vec![fault("NotAuthenticated")]),
        Relogin::SafeCalls,
    );
    s.login(&sm(), "u", "pw").await.unwrap();
    let err = methods::current_time(&s, &si()).await.unwrap_err();
    assert_eq!(err.fault_name(), Some("InvalidLogin"));
}

/// Refuses every call until `Login`, and holds the first `waiters` refusals until all
/// of them have arrived, so that they are all in flight together. With `bad_password`
/// every login is refused with `InvalidLogin`.
struct Expiring {
    valid: AtomicBool,
    barrier: tokio::sync::Barrier,
    logins: Mutex<usize>,
    bad_password: bool,
}

impl Expiring {
    fn new(waiters: usize, bad_password: bool) -> Self {
        Expiring {
            valid: AtomicBool::new(false),
            barrier: tokio::sync::Barrier::new(waiters),
            logins: Mutex::new(0),
            bad_password,
        }
    }
}

impl Transport for Expiring {
    fn version(&self) -> Version {
        Version::LATEST
    }
    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        _: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        Box::pin(async move {
            if request.operation == "Login" {
                *self.logins.lock().unwrap() += 1;
                if self.bad_password {
                    return fault("InvalidLogin");
                }
                self.valid.store(true, Ordering::SeqCst);
                return ok("Login", SESSION);
            }
            if self.valid.load(Ordering::SeqCst) {
                return ok("CurrentTime", TIME);
            }
            self.barrier.wait().await;
            fault("NotAuthenticated")
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_relogin() {
    const CALLERS: usize = 8;
    let s = Arc::new(Session::new(
        Expiring::new(CALLERS, false),
        Relogin::SafeCalls,
    ));
    s.remember(&sm(), "u", "pw");
    let calls = (0..CALLERS).map(|_| {
        let s = s.clone();
        tokio::spawn(async move { methods::current_time(&*s, &si()).await })
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap().unwrap();
    }
    assert_eq!(
        *s.inner().logins.lock().unwrap(),
        1,
        "one login for all callers"
    );
    assert_eq!(s.logins(), 1);
}

fn page(name: &str, token: Option<&str>) -> String {
    let token = token.map_or(String::new(), |t| format!("<token>{t}</token>"));
    format!(
        r#"<returnval>{token}<objects><obj type="VirtualMachine">vm-{name}</obj><propSet><name>name</name><val xsi:type="xsd:string">{name}</val></propSet></objects></returnval>"#
    )
}

#[tokio::test]
async fn a_server_sending_the_same_pages_again_ends_the_retrieval_with_an_error() {
    // One token for every page is fine (vcsim does that); a page repeating an object
    // already received is a server looping, which would otherwise go on for ever.
    let script = Arc::new(
        Script::default()
            .on(
                "RetrievePropertiesEx",
                vec![ok("RetrievePropertiesEx", &page("a", Some("t1")))],
            )
            .on(
                "ContinueRetrievePropertiesEx",
                vec![
                    ok("ContinueRetrievePropertiesEx", &page("b", Some("t1"))),
                    ok("ContinueRetrievePropertiesEx", &page("a", Some("t1"))),
                    ok("ContinueRetrievePropertiesEx", &page("d", None)),
                ],
            ),
    );
    let pc = ManagedObjectReference::new("PropertyCollector", "propertyCollector");
    let mut r = vim25::property::Retrieval::new(script.clone(), pc.clone(), Vec::new());
    assert_eq!(r.next_page().await.unwrap().unwrap().len(), 1);
    assert_eq!(r.next_page().await.unwrap().unwrap().len(), 1);
    let e = r.next_page().await.unwrap_err();
    assert!(matches!(e, Error::Protocol { .. }), "{e:?}");
    assert!(e.to_string().contains("repeats VirtualMachine:vm-a"), "{e}");
    assert!(r.next_page().await.unwrap().is_none(), "ended, not looping");
    assert_eq!(script.count("ContinueRetrievePropertiesEx"), 2);

    // The typed path stops the same way: b, then b again.
    let script = Arc::new(
        Script::default()
            .on(
                "RetrievePropertiesEx",
                vec![ok("RetrievePropertiesEx", &page("a", Some("t1")))],
            )
            .on(
                "ContinueRetrievePropertiesEx",
                vec![ok("ContinueRetrievePropertiesEx", &page("b", Some("t1")))],
            ),
    );
    let mut r = vim25::property::Retrieval::new(script.clone(), pc, Vec::new());
    let e = r
        .collect_typed::<vim25::mo::VirtualMachine>()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Protocol { .. }), "{e:?}");
    assert!(e.to_string().contains("repeats VirtualMachine:vm-b"), "{e}");
    assert_eq!(script.count("ContinueRetrievePropertiesEx"), 2);
}

/// Refuses every call until a `Login` has completed; a `Login` waits for `release`
/// after saying it started, so calls can be answered under the old session while it
/// runs.
#[derive(Default)]
struct SlowLogin {
    valid: AtomicBool,
    logins: Mutex<usize>,
    refused: Mutex<usize>,
    started: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

impl Transport for SlowLogin {
    fn version(&self) -> Version {
        Version::LATEST
    }
    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        _: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        Box::pin(async move {
            if request.operation == "Login" {
                *self.logins.lock().unwrap() += 1;
                self.started.notify_one();
                self.release.notified().await;
                self.valid.store(true, Ordering::SeqCst);
                return ok("Login", SESSION);
            }
            if self.valid.load(Ordering::SeqCst) {
                return ok("CurrentTime", TIME);
            }
            *self.refused.lock().unwrap() += 1;
            fault("NotAuthenticated")
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_refused_while_the_relogin_runs_waits_for_it_instead_of_logging_in_again() {
    let s = Arc::new(Session::new(SlowLogin::default(), Relogin::SafeCalls));
    s.remember(&sm(), "u", "pw");
    let first = {
        let s = s.clone();
        tokio::spawn(async move { methods::current_time(&*s, &si()).await })
    };
    s.inner().started.notified().await;
    // Sent while the re-login runs, so with the old session's cookie: refused too.
    let second = {
        let s = s.clone();
        tokio::spawn(async move { methods::current_time(&*s, &si()).await })
    };
    while *s.inner().refused.lock().unwrap() < 2 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    s.inner().release.notify_one();
    first.await.unwrap().unwrap();
    // Without the fix the second caller's own Login would wait here for a release.
    tokio::time::timeout(Duration::from_secs(10), second)
        .await
        .expect("the second caller logs in again instead of reusing the re-login")
        .unwrap()
        .unwrap();
    assert_eq!(
        *s.inner().logins.lock().unwrap(),
        1,
        "one login for both callers"
    );
    assert_eq!(s.logins(), 1);
}

#[tokio::test(start_paused = true)]
async fn keep_alive_pings_only_when_idle_and_stops_when_dropped() {
    let script = Arc::new(Script::default().on("CurrentTime", vec![ok("CurrentTime", TIME)]));
    let every = Duration::from_secs(60);
    let ka = KeepAlive::new(script.clone(), every).unwrap();
    // Idle: one ping per interval.
    tokio::time::sleep(Duration::from_secs(150)).await;
    assert_eq!(ka.pings(), 2);
    assert_eq!(script.count("CurrentTime"), 2);
    // Busy (a call every 20 s): no pings.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(20)).await;
        methods::current_time(&ka, &si()).await.unwrap();
    }
    assert_eq!(ka.pings(), 2);
    assert_eq!(script.count("CurrentTime"), 12);
    // Idle again, then dropped: the pings stop.
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(ka.pings(), 3);
    drop(ka);
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(script.count("CurrentTime"), 13);
    // Failures are counted, not fatal.
    let failing = Arc::new(Script::default().on("CurrentTime", vec![network()]));
    let ka = KeepAlive::new(failing, every).unwrap();
    tokio::time::sleep(Duration::from_secs(130)).await;
    assert_eq!((ka.pings(), ka.failures()), (2, 2));
    assert!(KeepAlive::new(script.clone(), Duration::ZERO).is_err());
}

#[tokio::test(start_paused = true)]
async fn keep_alive_over_a_session_logs_in_again_and_waits_for_a_login() {
    let every = Duration::from_secs(60);
    let session = Arc::new(Session::new(
        Script::default()
            .on("Login", vec![ok("Login", SESSION)])
            .on(
                "CurrentTime",
                vec![fault("NotAuthenticated"), ok("CurrentTime", TIME)],
            ),
        Relogin::SafeCalls,
    ));
    let ka = KeepAlive::with_condition(session.clone(), every, |s: &Session<Script>| {
        s.has_credentials()
    })
    .unwrap();
    // Not logged in: idle intervals pass without pings.
    tokio::time::sleep(Duration::from_secs(200)).await;
    assert_eq!((ka.pings(), session.inner().count("CurrentTime")), (0, 0));
    // Logged in: the first ping finds the session gone, logs in again and succeeds.
    session.login(&sm(), "u", "pw").await.unwrap();
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!((ka.pings(), ka.failures()), (1, 0));
    assert_eq!(session.logins(), 2);
    assert_eq!(session.inner().count("CurrentTime"), 2);
    // Logged out: the pings stop.
    session.forget();
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(ka.pings(), 1);
}

#[test]
fn keep_alive_needs_a_runtime() {
    let script = Arc::new(Script::default());
    let err = KeepAlive::new(script, Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, Error::NoRuntime(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "a keep-alive needs a running tokio runtime"
    );
}

#[tokio::test]
async fn wire_log_masks_secrets_and_reports_errors() {
    let records = Arc::new(Mutex::new(Vec::new()));
    let sink = records.clone();
    let t = WireLog::with_sink(
        Script::default()
            .on("Login", vec![ok("Login", SESSION)])
            .on("CurrentTime", vec![network()]),
        move |r| {
            sink.lock().unwrap().push((
                r.operation.to_string(),
                r.object.to_string(),
                r.request.to_string(),
                r.status,
                r.response.map(str::to_string),
                r.error.map(|e| e.to_string()),
            ))
        },
    );
    methods::login(&t, &sm(), "admin", "hunter2", None)
        .await
        .unwrap();
    assert!(methods::current_time(&t, &si()).await.is_err());
    let records = records.lock().unwrap();
    assert_eq!(records.len(), 2);
    let (op, object, request, status, response, error) = &records[0];
    assert_eq!(
        (op.as_str(), object.as_str()),
        ("Login", "SessionManager:SessionManager")
    );
    assert!(request.contains("<userName>admin</userName>"), "{request}");
    assert!(request.contains("<password>***</password>"), "{request}");
    assert!(!request.contains("hunter2"));
    assert_eq!(*status, Some(200));
    // The session key of the login's answer is masked too; the rest is kept.
    let response = response.as_deref().unwrap();
    assert!(
        response.contains("<key>***</key><userName>u</userName>"),
        "{response}"
    );
    assert!(error.is_none());
    let (op, _, _, status, response, error) = &records[1];
    assert_eq!(op, "CurrentTime");
    assert_eq!((*status, response.is_none()), (None, true));
    assert!(error.as_deref().unwrap().contains("connection reset"));
}

const SERVICE_CONTENT: &str = r#"<returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector><about><name>Recorded</name><fullName>Recorded vCenter</fullName><vendor>x</vendor><version>8.0</version><build>1</build><osType>linux</osType><productLineId>vpx</productLineId><apiType>VirtualCenter</apiType><apiVersion>8.0.3.0</apiVersion></about><sessionManager type="SessionManager">SessionManager</sessionManager></returnval>"#;

fn body(op: &str, returnval: &str) -> String {
    String::from_utf8(ok(op, returnval).unwrap().body).unwrap()
}

#[tokio::test]
async fn client_over_a_replay() {
    let replay = Replay::new(vec![
        Exchange::ok(
            "RetrieveServiceContent",
            &body("RetrieveServiceContent", SERVICE_CONTENT),
        ),
        Exchange::ok("Login", &body("Login", SESSION)),
        Exchange {
            operation: "CurrentTime".into(),
            status: 500,
            body: fault("NotAuthenticated").unwrap().body,
        },
        Exchange::ok("Login", &body("Login", SESSION)),
        Exchange::ok("CurrentTime", &body("CurrentTime", TIME)),
        Exchange::ok("Logout", &body("Logout", "")),
    ]);
    let c = Client::from_transport(replay).await.unwrap();
    assert_eq!(c.service_content().about.full_name, "Recorded vCenter");
    assert!(c.url().is_none() && c.session_cookie().is_none());
    c.login("u", "pw").await.unwrap();
    // The recorded session expiry is answered by a re-login and a replay.
    let now = methods::current_time(&c, &c.service_instance())
        .await
        .unwrap();
    assert_eq!(now.as_str(), "2026-11-23T12:00:00Z");
    c.logout().await.unwrap();
}

#[tokio::test]
async fn a_server_without_a_manager_is_not_supported() {
    // The recorded ServiceContent has no viewManager, fileManager or
    // virtualDiskManager; this one has no sessionManager either.
    let content = SERVICE_CONTENT.replace(
        r#"<sessionManager type="SessionManager">SessionManager</sessionManager>"#,
        "",
    );
    let replay = Replay::new(vec![Exchange::ok(
        "RetrieveServiceContent",
        &body("RetrieveServiceContent", &content),
    )]);
    let c = Client::from_transport(replay).await.unwrap();
    let not_supported = |r: Result<(), Error>, names: &str| match r {
        Err(Error::NotSupported(m)) => assert!(m.contains(names), "{m}"),
        other => panic!("expected NotSupported naming {names}, got {other:?}"),
    };
    not_supported(
        ContainerView::create(&c, &["VirtualMachine"], true)
            .await
            .map(drop),
        "no ViewManager",
    );
    not_supported(
        ListView::create(&c, &[si()]).await.map(drop),
        "no ViewManager",
    );
    not_supported(FileManager::new(&c).map(drop), "no FileManager");
    not_supported(c.login("u", "pw").await.map(drop), "no SessionManager");
    not_supported(c.logout().await, "no SessionManager");
    not_supported(c.current_session().await.map(drop), "no SessionManager");
}

#[tokio::test]
async fn recordings_that_cannot_be_read_or_written_are_io_errors() {
    let dir = std::env::temp_dir().join(format!("vim25-replay-{}", std::process::id()));
    let missing = dir.join("missing.rec");
    match Replay::load(&missing) {
        Err(Error::Io { context, source }) => {
            assert!(
                context.contains(&missing.display().to_string()),
                "{context}"
            );
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        Err(other) => panic!("expected Io, got {other:?}"),
        Ok(_) => panic!("a missing recording loaded"),
    }
    // Not a directory that exists: the recording cannot be written.
    let recorder = Recorder::new(Replay::new(vec![]));
    let err = recorder.save(&missing).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot write recording"), "{err}");
    // A file that is there but is no recording is the caller's mistake.
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.rec");
    std::fs::write(&garbage, "not a recording").unwrap();
    let err = Replay::load(&garbage).err().unwrap();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
