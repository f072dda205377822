//! The client against govmomi's vSphere simulator (vcsim), both models: sessions,
//! faults, TLS policies, re-login, concurrency, and a misbehaving proxy in front of it.
//!
//! These tests start the simulator themselves; they fail (never skip) when its launcher
//! has not been built (`bash scripts/build-vcsim.sh`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use test_support::chaos::read_request;
use test_support::{Simulator, SimulatorConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vim25::client::TlsPolicy;
use vim25::transport::Relogin;
use vim25::types::AnyValue;
use vim25::types::{
    AnyMethodFault, ManagedObjectReference, ObjectSpec, PropertyFilterSpec, PropertySpec,
    RetrieveOptions, TaskInfoState, VirtualMachinePowerState,
};
use vim25::{methods, Client, ClientBuilder, Error};

fn builder(sim: &Simulator) -> ClientBuilder {
    let b = ClientBuilder::new(sim.url())
        .unwrap()
        .credentials(sim.username(), sim.password());
    match sim.sha256_thumbprint() {
        Some(tp) => b.thumbprint(tp),
        None => b,
    }
}

/// Every object of `kind` under the root folder, through a container view.
async fn all_of(c: &Client, kind: &str) -> Vec<ManagedObjectReference> {
    let view = vim25::view::ContainerView::create(c, &[kind], true)
        .await
        .unwrap();
    let objects = view.objects().await.unwrap();
    view.destroy().await.unwrap();
    objects
}

/// One property of one object.
async fn get_prop(c: &Client, obj: &ManagedObjectReference, path: &str) -> Option<AnyValue> {
    let spec = PropertyFilterSpec {
        prop_set: vec![PropertySpec {
            type_: obj.type_.clone(),
            path_set: vec![path.into()],
            ..Default::default()
        }],
        object_set: vec![ObjectSpec {
            obj: obj.clone(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let pc = &c.service_content().property_collector;
    let r = methods::retrieve_properties_ex(c, pc, &[spec], &RetrieveOptions::default())
        .await
        .unwrap();
    r.into_iter()
        .flat_map(|r| r.objects)
        .flat_map(|o| o.prop_set)
        .find(|p| p.name == path)
        .map(|p| p.val)
}

/// Polls a task until it leaves queued/running.
async fn wait_task(c: &Client, task: &ManagedObjectReference) -> vim25::types::TaskInfo {
    for _ in 0..200 {
        let info = get_prop(c, task, "info").await.expect("task info");
        let info = info
            .downcast_ref::<vim25::types::TaskInfo>()
            .expect("TaskInfo")
            .clone();
        if matches!(info.state, TaskInfoState::Success | TaskInfoState::Error) {
            return info;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task did not finish");
}

async fn power_state(c: &Client, vm: &ManagedObjectReference) -> VirtualMachinePowerState {
    match get_prop(c, vm, "runtime.powerState").await {
        Some(AnyValue::Enum { value, .. }) => VirtualMachinePowerState::from_wire(&value),
        other => panic!("unexpected power state {other:?}"),
    }
}

async fn basics(cfg: SimulatorConfig, product: &str) {
    let sim = Simulator::start_or_panic(&cfg);
    let c = builder(&sim).connect().await.unwrap();
    let about = &c.service_content().about;
    assert!(about.full_name.contains(product), "{}", about.full_name);
    assert_eq!(c.version().as_str(), "6.5", "vcsim 0.24 reports API 6.5");
    assert!(c.session_is_active().await.unwrap());

    let now = methods::current_time(&c, &c.service_instance())
        .await
        .unwrap();
    assert!(now.as_str().starts_with("20"), "{now}");

    let vms = all_of(&c, "VirtualMachine").await;
    assert!(!vms.is_empty());
    // RetrievePropertiesEx over every VM at once.
    let spec = PropertyFilterSpec {
        prop_set: vec![PropertySpec {
            type_: "VirtualMachine".into(),
            path_set: vec!["name".into(), "runtime.powerState".into(), "config".into()],
            ..Default::default()
        }],
        object_set: vms
            .iter()
            .map(|v| ObjectSpec {
                obj: v.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let pc = &c.service_content().property_collector;
    let r = methods::retrieve_properties_ex(&c, pc, &[spec], &RetrieveOptions::default())
        .await
        .unwrap()
        .expect("a result");
    assert_eq!(r.objects.len(), vms.len());
    for o in &r.objects {
        let config = o.prop_set.iter().find(|p| p.name == "config").unwrap();
        let cfg = config
            .val
            .downcast_ref::<vim25::types::VirtualMachineConfigInfo>()
            .expect("typed config");
        assert!(!cfg.hardware.device.is_empty());
    }

    // Power off and on through tasks.
    let vm = &vms[0];
    assert_eq!(
        power_state(&c, vm).await,
        VirtualMachinePowerState::PoweredOn
    );
    let t = methods::power_off_vm_task(&c, vm).await.unwrap();
    assert_eq!(wait_task(&c, &t).await.state, TaskInfoState::Success);
    assert_eq!(
        power_state(&c, vm).await,
        VirtualMachinePowerState::PoweredOff
    );
    let t = methods::power_on_vm_task(&c, vm, None).await.unwrap();
    assert_eq!(wait_task(&c, &t).await.state, TaskInfoState::Success);
    assert_eq!(
        power_state(&c, vm).await,
        VirtualMachinePowerState::PoweredOn
    );

    // A bogus reference gives the typed ManagedObjectNotFound.
    let bogus = ManagedObjectReference::new("VirtualMachine", "vm-does-not-exist");
    let err = methods::power_on_vm_task(&c, &bogus, None)
        .await
        .unwrap_err();
    match err.fault() {
        Some(AnyMethodFault::ManagedObjectNotFound(f)) => assert_eq!(f.obj, bogus),
        other => panic!("expected ManagedObjectNotFound, got {other:?} ({err})"),
    }

    c.logout().await.unwrap();
    assert!(!c.session_is_active().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vpx_basics() {
    basics(SimulatorConfig::vpx(), "vCenter").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esx_basics() {
    basics(SimulatorConfig::esx(), "ESX").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_invalid_login() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let err = ClientBuilder::new(sim.url())
        .unwrap()
        .credentials(sim.username(), "not-the-password")
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(err.fault(), Some(AnyMethodFault::InvalidLogin(_))),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("not-the-password"), "{shown}");
}

/// The DER certificate `sim` serves, read by a handshake of its own that keeps it
/// (and accepts it: nothing is sent after the handshake).
fn served_certificate(sim: &Simulator) -> Vec<u8> {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    struct Keep(Mutex<Option<Vec<u8>>>, Arc<rustls::crypto::CryptoProvider>);
    impl ServerCertVerifier for Keep {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            *self.0.lock().unwrap() = Some(end_entity.to_vec());
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Ok(HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Ok(HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.1.signature_verification_algorithms.supported_schemes()
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let keep = Arc::new(Keep(Mutex::new(None), provider.clone()));
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(keep.clone())
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let mut tcp = std::net::TcpStream::connect(sim.host_port()).unwrap();
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp).unwrap();
    }
    let der = keep.0.lock().unwrap().take();
    der.expect("the handshake showed a certificate")
}

/// A PEM file holding `der`, in a directory of this test process.
fn pem_file(name: &str, der: &[u8]) -> std::path::PathBuf {
    use base64::Engine;
    let dir = std::env::temp_dir().join(format!("vim25-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_policies() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::esx().tls(true));
    let sha256 = sim.sha256_thumbprint().unwrap().to_string();
    let sha1 = sim.sha1_thumbprint().unwrap().to_string();
    let base = || {
        ClientBuilder::new(sim.url())
            .unwrap()
            .credentials(sim.username(), sim.password())
    };
    // The message of a refusal, which is all its Display shows (with no secret), and
    // whose thumbprints are the server's.
    let refusal = |err: Error| {
        let shown = err.to_string();
        assert!(!shown.contains(sim.password()), "{shown}");
        match err {
            Error::Tls {
                message,
                sha256: s256,
                sha1: s1,
            } => {
                assert_eq!(shown, format!("TLS: {message}"));
                assert_eq!((s256, s1), (sha256.clone(), sha1.clone()));
                message
            }
            other => panic!("expected a TLS error, got {other:?}"),
        }
    };

    // Default: system roots refuse a self-signed certificate, say so in plain words and
    // show the pin that would trust it.
    let message = refusal(base().connect().await.unwrap_err());
    assert!(
        message.starts_with(
            "the server's certificate is not trusted (self-signed, or issued by an unknown \
             authority); to trust this server, pin its thumbprint: "
        ),
        "{message}"
    );
    let hinted = message.rsplit("pin its thumbprint: ").next().unwrap();
    assert_eq!(hinted, format!("SHA256:{sha256}"));
    // The hinted pin works as it is printed.
    base().thumbprint(hinted).connect().await.unwrap();
    // Pins in both forms, any case.
    base().thumbprint(sha256.clone()).connect().await.unwrap();
    base()
        .thumbprint(sha1.to_lowercase())
        .connect()
        .await
        .unwrap();
    // A wrong pin is refused, naming the pin and what the server presented.
    let wrong = sha256.replace(|c: char| c.is_ascii_hexdigit(), "0");
    let message = refusal(
        base()
            .thumbprint(wrong.clone())
            .connect()
            .await
            .unwrap_err(),
    );
    assert_eq!(
        message,
        format!(
            "the server's certificate does not match the pinned thumbprint SHA256:{wrong}; \
             the server presented SHA256:{sha256} (if the server's certificate was replaced \
             on purpose, pin the new one)"
        )
    );
    let wrong_sha1 = sha1.replace(|c: char| c.is_ascii_hexdigit(), "F");
    let message = refusal(base().thumbprint(wrong_sha1).connect().await.unwrap_err());
    assert!(
        message.contains(&format!("presented SHA1:{sha1}")),
        "{message}"
    );
    // A malformed pin is refused as such, before any handshake.
    for malformed in ["nonsense", &sha256[..sha256.len() - 3], "SHA1:"] {
        let err = base().thumbprint(malformed).connect().await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
        assert!(err.to_string().contains("malformed thumbprint"), "{err}");
    }

    // An extra CA file with another server's certificate changes nothing (the other
    // simulator's certificate has the same name, so this one reads as not signed by it).
    let other = Simulator::start_or_panic(&SimulatorConfig::esx().tls(true));
    let other_ca = pem_file("other.pem", &served_certificate(&other));
    let message = refusal(
        base()
            .tls(TlsPolicy::ExtraCaFile(other_ca))
            .connect()
            .await
            .unwrap_err(),
    );
    assert!(
        message.contains("is not trusted: it names a trusted issuer but is not signed by it"),
        "{message}"
    );
    assert!(message.ends_with(&format!("pin its thumbprint: SHA256:{sha256}")));
    // One with this server's own certificate trusts it.
    let own = served_certificate(&sim);
    assert_eq!(
        vim25::client::thumbprints(&own),
        (sha256.clone(), sha1.clone())
    );
    let own_ca = pem_file("own.pem", &own);
    base()
        .tls(TlsPolicy::ExtraCaFile(own_ca))
        .connect()
        .await
        .unwrap();
    // A CA file without certificates, or none at all, is the caller's to fix.
    let empty = pem_file("empty.pem", &[]);
    std::fs::write(&empty, "no certificates here").unwrap();
    let err = base()
        .tls(TlsPolicy::ExtraCaFile(empty.clone()))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    std::fs::remove_file(&empty).unwrap();
    let err = base()
        .tls(TlsPolicy::ExtraCaFile(empty.clone()))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    std::fs::remove_dir_all(empty.parent().unwrap()).unwrap();
    // Insecure connects.
    base().insecure().connect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_session_logs_in_again() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let a = builder(&sim).connect().await.unwrap();
    let strict = builder(&sim)
        .relogin(Relogin::Never)
        .connect()
        .await
        .unwrap();
    let admin = builder(&sim).connect().await.unwrap();
    let sm = admin.service_content().session_manager.clone().unwrap();

    for victim in [&a, &strict] {
        let key = victim.current_session().await.unwrap().unwrap().key;
        methods::terminate_session(&admin, &sm, &[key])
            .await
            .unwrap();
        assert!(!victim.session_is_active().await.unwrap());
    }
    // vcsim answers RetrievePropertiesEx without a session with NotAuthenticated in
    // the missing set rather than as a fault (a real vCenter faults), so the probe call
    // is CurrentTime, which vcsim refuses with the NotAuthenticated fault.
    // Re-login and replay: the call succeeds.
    let logins = a.session().logins();
    methods::current_time(&a, &a.service_instance())
        .await
        .unwrap();
    assert!(a.session_is_active().await.unwrap());
    assert_eq!(a.session().logins(), logins + 1);
    // Re-login off: the caller sees NotAuthenticated.
    let err = methods::current_time(&strict, &strict.service_instance())
        .await
        .unwrap_err();
    assert_eq!(err.fault_name(), Some("NotAuthenticated"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookie_is_reusable_and_keep_alive_runs() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let a = builder(&sim)
        .keep_alive(Duration::from_millis(50))
        .connect()
        .await
        .unwrap();
    let cookie = a.session_cookie().expect("a session cookie");
    assert!(!format!("{a:?}").contains(&cookie));
    // A second client (no credentials) rides on the exported session.
    let b = ClientBuilder::new(sim.url())
        .unwrap()
        .session_cookie(cookie)
        .connect()
        .await
        .unwrap();
    assert!(b.session_is_active().await.unwrap());
    // Idle for several intervals: the keep-alive layer pinged, and the session lives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ka = a.keep_alive().expect("a keep-alive layer");
    assert!(ka.pings() >= 1 && ka.failures() == 0, "{ka:?}");
    assert!(a.session_is_active().await.unwrap());
    assert!(b.keep_alive().is_none());
    drop(a);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_calls_share_one_client() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(true));
    let c = builder(&sim).connect().await.unwrap();
    let root = c.service_content().root_folder.clone();
    let calls = (0..64).map(|i| {
        let c = c.clone();
        let root = root.clone();
        tokio::spawn(async move {
            if i % 2 == 0 {
                let v = get_prop(&c, &root, "name").await;
                assert_eq!(
                    v.and_then(|v| v.as_str().map(String::from)).as_deref(),
                    Some("Datacenters")
                );
            } else {
                methods::current_time(&c, &c.service_instance())
                    .await
                    .unwrap();
            }
        })
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
}

// ---------------------------------------------------------------------------------
// A proxy between the client and the simulator that misbehaves on demand.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Forward,
    /// Forward the request, send back half the response, close.
    DropMidResponse,
    /// Answer 503 Service Unavailable.
    Unavailable,
    /// Answer 200 with a SOAP envelope cut off in the middle (synthesised: the
    /// simulator itself never sends one).
    Truncated,
    /// Answer 200 with mismatched tags (synthesised).
    Malformed,
    /// Answer 404 Not Found.
    NotFound,
    /// Answer with a `vimService.wsdl` as old servers serve it (synthesised: vcsim has
    /// none).
    Wsdl,
}

struct Proxy {
    addr: std::net::SocketAddr,
    modes: Arc<Mutex<VecDeque<Mode>>>,
    /// `<method> <path> <SOAPAction>` of every request, in order.
    seen: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    async fn start(upstream: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let modes: Arc<Mutex<VecDeque<Mode>>> = Arc::default();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let (m, log) = (modes.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let mode = m.lock().unwrap().pop_front().unwrap_or(Mode::Forward);
                tokio::spawn(serve(sock, upstream, mode, log.clone()));
            }
        });
        Proxy { addr, modes, seen }
    }

    fn then(&self, modes: &[Mode]) {
        self.modes.lock().unwrap().extend(modes.iter().copied());
    }

    fn pending(&self) -> usize {
        self.modes.lock().unwrap().len()
    }
}

async fn serve(
    mut sock: TcpStream,
    upstream: std::net::SocketAddr,
    mode: Mode,
    seen: Arc<Mutex<Vec<String>>>,
) {
    // One request per connection: the answer says `Connection: close`.
    let Some(req) = read_request(&mut sock).await else {
        return;
    };
    let head = String::from_utf8_lossy(&req).into_owned();
    let mut lines = head.lines();
    let first = lines.next().unwrap_or("");
    let action = lines
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("soapaction"))
        })
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .unwrap_or_default();
    let path = first.split(' ').take(2).collect::<Vec<_>>().join(" ");
    seen.lock()
        .unwrap()
        .push(format!("{path} {action}").trim().to_string());
    let canned = |status: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    match mode {
        Mode::Unavailable => {
            let _ = sock
                .write_all(canned("503 Service Unavailable", "busy").as_bytes())
                .await;
        }
        Mode::Truncated => {
            let body = r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><CurrentTimeResponse xmlns="urn:vim25"><returnval>2026-11-"#;
            let _ = sock.write_all(canned("200 OK", body).as_bytes()).await;
        }
        Mode::NotFound => {
            let _ = sock
                .write_all(canned("404 Not Found", "no such file").as_bytes())
                .await;
        }
        Mode::Wsdl => {
            let body = r#"<?xml version="1.0" encoding="UTF-8"?><definitions targetNamespace="urn:vim25Service" xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:interface="urn:vim25"><import location="vim.wsdl" namespace="urn:vim25"/><service name="VimService"><port binding="interface:VimBinding" name="VimPort"><soap:address location="https://localhost/sdk/vimService"/></port></service></definitions>"#;
            let _ = sock.write_all(canned("200 OK", body).as_bytes()).await;
        }
        Mode::Malformed => {
            let body = r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><CurrentTimeResponse xmlns="urn:vim25"><returnval>x</wrong></CurrentTimeResponse></soapenv:Body></soapenv:Envelope>"#;
            let _ = sock.write_all(canned("200 OK", body).as_bytes()).await;
        }
        Mode::Forward | Mode::DropMidResponse => {
            let Ok(mut up) = TcpStream::connect(upstream).await else {
                return;
            };
            // Ask the simulator to close after its answer, so reading to EOF ends it.
            let text = String::from_utf8_lossy(&req).into_owned();
            let fixed = text.replacen("\r\n", "\r\nConnection: close\r\n", 1);
            if up.write_all(fixed.as_bytes()).await.is_err() {
                return;
            }
            let mut resp = Vec::new();
            let _ = up.read_to_end(&mut resp).await;
            let cut = if mode == Mode::DropMidResponse {
                resp.len() / 2
            } else {
                resp.len()
            };
            let _ = sock.write_all(&resp[..cut]).await;
        }
    }
    let _ = sock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_network_gives_typed_errors_and_retries() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let proxy = Proxy::start(sim.host_port()).await;
    let url = format!("http://{}/sdk", proxy.addr);
    let connect = |retries: u32| {
        ClientBuilder::new(&url)
            .unwrap()
            .credentials(sim.username(), sim.password())
            .retries(retries, Duration::from_millis(10))
            .connect()
    };
    let c = connect(2).await.unwrap();
    let si = c.service_instance();

    // 503 then success: a read is retried.
    proxy.then(&[Mode::Unavailable]);
    methods::current_time(&c, &si).await.unwrap();
    assert_eq!(proxy.pending(), 0);
    // A dropped response: a read is retried.
    proxy.then(&[Mode::DropMidResponse]);
    methods::current_time(&c, &si).await.unwrap();
    // Without retries the same faults surface, typed.
    let c0 = connect(0).await.unwrap();
    proxy.then(&[Mode::Unavailable]);
    match methods::current_time(&c0, &si).await.unwrap_err() {
        Error::Http { status, .. } => assert_eq!(status, 503),
        other => panic!("expected HTTP 503, got {other:?}"),
    }
    proxy.then(&[Mode::DropMidResponse]);
    let err = methods::current_time(&c0, &si).await.unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    // A call that changes state is never retried, even with retries on.
    let folder = c.service_content().root_folder.clone();
    proxy.then(&[Mode::DropMidResponse, Mode::Forward]);
    let err = methods::create_folder(&c, &folder, "made-once")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    assert_eq!(proxy.pending(), 1, "no second attempt was made");
    proxy.modes.lock().unwrap().clear();
    // Truncated and malformed bodies are decode errors with a position.
    for mode in [Mode::Truncated, Mode::Malformed] {
        proxy.then(&[mode, mode, mode]);
        match methods::current_time(&c, &si).await.unwrap_err() {
            Error::Decode { source, .. } => {
                assert!(source.offset > 0, "{source}");
                assert!(source.path.contains("Envelope"), "{source}");
            }
            other => panic!("expected a decode error for {mode:?}, got {other:?}"),
        }
        proxy.modes.lock().unwrap().clear();
    }
    // And the client still works afterwards.
    methods::current_time(&c, &si).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_without_a_versions_file() {
    // vcsim always serves vimServiceVersions.xml and never vimService.wsdl: the proxy
    // answers 404 for the first and synthesises the second, as an old server would.
    let sim = Simulator::start_or_panic(&SimulatorConfig::vpx().tls(false));
    let proxy = Proxy::start(sim.host_port()).await;
    let url = format!("http://{}/sdk", proxy.addr);
    proxy.then(&[Mode::NotFound, Mode::Wsdl]);
    let c = ClientBuilder::new(&url)
        .unwrap()
        .credentials(sim.username(), sim.password())
        .connect()
        .await
        .unwrap();
    // Started at the oldest vim25 version, then took the one the server reports
    // (vcsim says 6.5) and read ServiceContent again with it.
    assert_eq!(c.version(), vim25::Version::V6_5);
    let seen = proxy.seen.lock().unwrap().clone();
    assert_eq!(
        seen[..4],
        [
            "GET /sdk/vimServiceVersions.xml",
            "GET /sdk/vimService.wsdl",
            "POST /sdk urn:vim25/2.5",
            "POST /sdk urn:vim25/6.5",
        ],
        "{seen:#?}"
    );
    assert!(
        seen[4..].iter().all(|s| s.ends_with("urn:vim25/6.5")),
        "{seen:#?}"
    );
    methods::current_time(&c, &c.service_instance())
        .await
        .unwrap();
    // Neither file (a proxy that forwards only SOAP posts): the same bootstrap.
    proxy.seen.lock().unwrap().clear();
    proxy.then(&[Mode::NotFound, Mode::NotFound]);
    let c = ClientBuilder::new(&url)
        .unwrap()
        .credentials(sim.username(), sim.password())
        .max_version(vim25::Version::V6_0)
        .connect()
        .await
        .unwrap();
    // ... capped by max_version.
    assert_eq!(c.version(), vim25::Version::V6_0);
    let seen = proxy.seen.lock().unwrap().clone();
    assert_eq!(
        seen[2..4],
        ["POST /sdk urn:vim25/2.5", "POST /sdk urn:vim25/6.0"]
    );
    // Nothing there at all: the SOAP call's HTTP status.
    proxy.then(&[Mode::NotFound, Mode::NotFound, Mode::NotFound]);
    match ClientBuilder::new(&url)
        .unwrap()
        .connect()
        .await
        .unwrap_err()
    {
        Error::Http { status, .. } => assert_eq!(status, 404),
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}
