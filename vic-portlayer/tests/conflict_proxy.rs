//! A vSphere `ConcurrentAccess` on reconfigure reaches the caller of
//! `Exec::commit` as a conflict, nothing of the commit applied, and a fresh handle
//! with the same edit then commits.
//!
//! Why a proxy: on a real server, a reconfigure whose `changeVersion` is stale
//! fails with `ConcurrentAccess`. govmomi's simulator keeps no `changeVersion`, so
//! no sequence of calls makes it refuse one. A small HTTP/1.1 proxy between the
//! vim25 client and the simulator forwards every request, except that it answers
//! the first `ReconfigVM_Task` itself with the SOAP fault a server sends
//! (HTTP 500, a SOAP 1.1 `Fault` whose detail is `ConcurrentAccess`), exactly as
//! the client would see it from vSphere.
use crate::common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::bounded;
use test_support::{Simulator, SimulatorConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use vic_config::model::ExecutorConfig;
use vic_portlayer::backend::VmDetail;
use vic_portlayer::exec::decode_config;
use vic_portlayer::{ContainerId, Error};

/// What a server answers when another client changed the VM first.
const FAULT_BODY: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/""#,
    r#" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/""#,
    r#" xmlns:xsd="http://www.w3.org/2001/XMLSchema""#,
    r#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"#,
    r#"<soapenv:Body><soapenv:Fault>"#,
    r#"<faultcode>ServerFaultCode</faultcode>"#,
    r#"<faultstring>Cannot complete operation due to concurrent modification by another operation.</faultstring>"#,
    r#"<detail><ConcurrentAccessFault xmlns="urn:vim25" xsi:type="ConcurrentAccess"></ConcurrentAccessFault></detail>"#,
    r#"</soapenv:Fault></soapenv:Body></soapenv:Envelope>"#
);

/// The proxy: one request per connection (it asks the simulator to close, and so
/// the simulator's answer tells the client to close too).
struct Proxy {
    addr: SocketAddr,
    /// How many `ReconfigVM_Task` requests it answered itself.
    faulted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let faulted = Arc::new(AtomicUsize::new(0));
        let counter = faulted.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(conn, upstream, &counter).await {
                        eprintln!("proxy: {e}");
                    }
                });
            }
        });
        Proxy {
            addr,
            faulted,
            task,
        }
    }
}

async fn serve(
    conn: TcpStream,
    upstream: SocketAddr,
    faulted: &AtomicUsize,
) -> std::io::Result<()> {
    let mut client = BufReader::new(conn);
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if client.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("transfer-encoding:") {
            client
                .get_mut()
                .write_all(b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await?;
            return Ok(());
        }
        if lower.starts_with("connection:") || lower.starts_with("keep-alive:") {
            continue;
        }
        head.extend_from_slice(line.as_bytes());
    }
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    let mut body = vec![0u8; length];
    client.read_exact(&mut body).await?;

    let is_reconfigure = String::from_utf8_lossy(&body).contains("ReconfigVM_Task");
    if is_reconfigure
        && faulted
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    {
        let answer = format!(
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/xml; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{FAULT_BODY}",
            FAULT_BODY.len()
        );
        client.get_mut().write_all(answer.as_bytes()).await?;
        return client.get_mut().shutdown().await;
    }

    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&head).await?;
    server.write_all(&body).await?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    client.get_mut().write_all(&answer).await?;
    client.get_mut().shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_access_on_reconfigure_is_a_conflict() {
    let sim = Simulator::start_or_panic(&SimulatorConfig::esx().tls(false));
    let proxy = Proxy::start(sim.host_port()).await;
    bounded("a commit meeting ConcurrentAccess", async {
        let url = sim
            .url()
            .replace(&sim.host_port().to_string(), &proxy.addr.to_string());
        assert_ne!(url, sim.url(), "the client goes through the proxy");
        let client = vim25::ClientBuilder::new(&url)
            .unwrap()
            .credentials(sim.username(), sim.password())
            .connect()
            .await
            .unwrap();
        let (backend, exec) = common::vsphere_exec(&client).await;

        let id = ContainerId::random();
        let created = exec
            .create_handle(id.clone(), ExecutorConfig::default())
            .unwrap();
        exec.commit(created).await.unwrap();
        assert_eq!(
            proxy.faulted.load(Ordering::SeqCst),
            0,
            "creating reconfigures nothing"
        );

        let mut h = exec.get(&id).await.unwrap();
        h.config_mut().hostname = Some("first".into());
        let err = exec.commit(h).await.unwrap_err();
        match &err {
            Error::Conflict {
                during, message, ..
            } => {
                assert_eq!(during, "reconfigure");
                assert!(message.contains("ConcurrentAccess"), "{message}");
            }
            other => panic!("expected a conflict, got {other}"),
        }
        assert_eq!(proxy.faulted.load(Ordering::SeqCst), 1);
        let vm = backend
            .vm_by_name(id.as_str(), VmDetail::Summary)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            decode_config(&vm).unwrap().hostname,
            None,
            "nothing applied"
        );

        // A fresh handle, the same edit: it goes through.
        let mut h = exec.get(&id).await.unwrap();
        h.config_mut().hostname = Some("first".into());
        exec.commit(h).await.unwrap();
        let vm = backend
            .vm_by_name(id.as_str(), VmDetail::Summary)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            decode_config(&vm).unwrap().hostname.as_deref(),
            Some("first")
        );
        let key =
            vic_config::key_of::<ExecutorConfig>("hostname", vic_config::Layout::Current).unwrap();
        let key = key.exact().unwrap().to_string();
        assert_eq!(vm.extra_config.get(&key).map(String::as_str), Some("first"));
        assert_eq!(
            proxy.faulted.load(Ordering::SeqCst),
            1,
            "only the first was refused"
        );
    })
    .await
}
