//! A fault-injecting HTTP/1.1 proxy for SOAP tests: it sits between a client and the
//! simulator and, per request, drawn from a seeded generator, forwards it untouched
//! or misbehaves: added latency, a connection reset half-way through the response
//! body, bursts of `503 Service Unavailable`, a truncated or malformed SOAP body, or
//! a body trickled out one byte per second.
//!
//! It serves one request per connection (it asks the simulator to close after its
//! answer, so the client opens a fresh connection for the next call), keeps a log of
//! what it did to each request, and remembers the managed objects that calls like
//! `CreateContainerView` or `CreateFilter` made, split by whether their answer reached
//! the client, so a test can check afterwards that the client destroyed every object
//! it knew about.
//!
//! ```no_run
//! # async fn demo(upstream: std::net::SocketAddr) {
//! use test_support::chaos::{ChaosProxy, Faults};
//! let proxy = ChaosProxy::start(upstream, Faults::storm(), 42).await;
//! let url = format!("http://{}/sdk", proxy.addr());
//! // ... drive a client at `url`, then:
//! proxy.set_faults(Faults::none());
//! let delivered = proxy.created(true);
//! # let _ = (url, delivered);
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How often each fault happens, in requests per thousand, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Extra delay before forwarding, as (per mille, up to this many milliseconds).
    pub latency: (u32, u64),
    /// Reset the connection half-way through the simulator's response.
    pub reset_mid_body: u32,
    /// Start a burst of `503 Service Unavailable` answers, `burst_len` long.
    pub unavailable_burst: u32,
    /// Length of a 503 burst.
    pub burst_len: u32,
    /// Answer 200 with a SOAP envelope cut off (nothing forwarded).
    pub truncated: u32,
    /// Answer 200 with mismatched tags (nothing forwarded).
    pub malformed: u32,
    /// Forward, then send the response one byte per second.
    pub slow_body: u32,
}

impl Faults {
    /// No faults: a transparent proxy.
    pub fn none() -> Faults {
        Faults {
            latency: (0, 0),
            reset_mid_body: 0,
            unavailable_burst: 0,
            burst_len: 0,
            truncated: 0,
            malformed: 0,
            slow_body: 0,
        }
    }

    /// Every fault often: about a third of requests meet one.
    pub fn storm() -> Faults {
        Faults {
            latency: (200, 150),
            reset_mid_body: 60,
            unavailable_burst: 40,
            burst_len: 3,
            truncated: 30,
            malformed: 30,
            slow_body: 10,
        }
    }
}

/// What the proxy did to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwarded untouched (possibly after latency).
    None,
    /// Forwarded, response cut half-way, connection closed.
    Reset,
    /// Answered 503 itself.
    Unavailable,
    /// Answered a truncated envelope itself.
    Truncated,
    /// Answered a malformed envelope itself.
    Malformed,
    /// Forwarded, response trickled one byte per second.
    Slow,
}

/// One request through the proxy.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The SOAP operation (the first element of the body), or the HTTP path for GETs.
    pub operation: String,
    /// What was done to it.
    pub fault: Fault,
    /// Milliseconds of latency added.
    pub delay_ms: u64,
}

/// A managed object a `Create…` call made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// Its type (`ContainerView`, `PropertyFilter`, …).
    pub kind: String,
    /// Its value (`session[…]…`).
    pub value: String,
}

#[derive(Debug)]
struct State {
    faults: Faults,
    rng: u64,
    burst_left: u32,
    log: Vec<Exchange>,
    delivered: Vec<Created>,
    lost: Vec<Created>,
    /// Faults to apply to the next requests of an operation, before any drawn one.
    scripted: Vec<(String, Fault)>,
}

impl State {
    /// xorshift64*: reproducible from the seed, good enough to pick faults.
    fn next(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn per_mille(&mut self, p: u32) -> bool {
        p > 0 && (self.next() % 1000) < u64::from(p)
    }

    /// Picks the fault and latency for the next request.
    fn draw(&mut self, soap: bool) -> (Fault, u64) {
        let f = self.faults.clone();
        let delay = if f.latency.1 > 0 && self.per_mille(f.latency.0) {
            self.next() % (f.latency.1 + 1)
        } else {
            0
        };
        if self.burst_left > 0 {
            self.burst_left -= 1;
            return (Fault::Unavailable, delay);
        }
        if self.per_mille(f.unavailable_burst) {
            self.burst_left = f.burst_len.saturating_sub(1);
            return (Fault::Unavailable, delay);
        }
        let fault = if self.per_mille(f.reset_mid_body) {
            Fault::Reset
        } else if soap && self.per_mille(f.truncated) {
            Fault::Truncated
        } else if soap && self.per_mille(f.malformed) {
            Fault::Malformed
        } else if self.per_mille(f.slow_body) {
            Fault::Slow
        } else {
            Fault::None
        };
        (fault, delay)
    }
}

/// The proxy; stops when dropped.
#[derive(Debug)]
pub struct ChaosProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ChaosProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream` with `faults`,
    /// drawn from `seed`.
    pub async fn start(upstream: SocketAddr, faults: Faults, seed: u64) -> ChaosProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the chaos proxy on 127.0.0.1");
        let addr = listener.local_addr().expect("the proxy's address");
        let state = Arc::new(Mutex::new(State {
            faults,
            rng: seed | 1,
            burst_left: 0,
            log: Vec::new(),
            delivered: Vec::new(),
            lost: Vec::new(),
            scripted: Vec::new(),
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, upstream, shared.clone()));
            }
        });
        ChaosProxy { addr, state, task }
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes the faults from the next request on.
    pub fn set_faults(&self, faults: Faults) {
        let mut s = lock(&self.state);
        s.faults = faults;
        s.burst_left = 0;
    }

    /// Applies `faults`, one each, to the next requests of `operation` (before any
    /// drawn fault), to put a fault exactly where a test wants it.
    pub fn script(&self, operation: &str, faults: &[Fault]) {
        let mut s = lock(&self.state);
        for f in faults {
            s.scripted.push((operation.to_string(), *f));
        }
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Exchange> {
        lock(&self.state).log.clone()
    }

    /// Objects made by `Create…` calls whose answer reached the client (`true`) or
    /// was lost on the way (`false`).
    pub fn created(&self, delivered: bool) -> Vec<Created> {
        let s = lock(&self.state);
        if delivered {
            s.delivered.clone()
        } else {
            s.lost.clone()
        }
    }
}

/// Reads one HTTP/1.1 request: head and `Content-Length` body; `None` when the
/// connection ends first. For the proxies of tests.
pub async fn read_request(sock: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = sock.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf);
        }
    }
}

/// The SOAP operation of a request body (`RetrievePropertiesEx`), or its path.
fn operation(request: &str) -> String {
    let body_start = request.find("Body>").map(|i| i + 5);
    if let Some(start) = body_start {
        let rest = &request[start..];
        if let Some(lt) = rest.find('<') {
            let name: String = rest[lt + 1..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
                .collect();
            return name.rsplit(':').next().unwrap_or(&name).to_string();
        }
    }
    request
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_string()
}

/// The object a `Create…` response returns (`<returnval type="T">V</returnval>`).
fn created_object(operation: &str, response: &[u8]) -> Option<Created> {
    if !operation.starts_with("Create")
        || !(operation.contains("View")
            || operation == "CreateFilter"
            || operation == "CreatePropertyCollector")
    {
        return None;
    }
    let text = String::from_utf8_lossy(response);
    let at = text.find("<returnval")?;
    let rest = &text[at..];
    let ty = rest.split("type=\"").nth(1)?.split('"').next()?.to_string();
    let value = rest.split('>').nth(1)?.split('<').next()?.to_string();
    Some(Created { kind: ty, value })
}

fn canned(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

const TRUNCATED: &str = r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><Response xmlns="urn:vim25"><returnval>"#;
const MALFORMED: &str = r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><Response xmlns="urn:vim25"><returnval>x</wrong></Response></soapenv:Body></soapenv:Envelope>"#;

async fn serve(mut sock: TcpStream, upstream: SocketAddr, state: Arc<Mutex<State>>) {
    let Some(request) = read_request(&mut sock).await else {
        return;
    };
    let text = String::from_utf8_lossy(&request).into_owned();
    let op = operation(&text);
    let soap = text.starts_with("POST");
    let (fault, delay_ms) = {
        let mut s = lock(&state);
        match s.scripted.iter().position(|(o, _)| *o == op) {
            Some(i) => (s.scripted.remove(i).1, 0),
            None => s.draw(soap),
        }
    };
    lock(&state).log.push(Exchange {
        operation: op.clone(),
        fault,
        delay_ms,
    });
    if delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    let answer = match fault {
        Fault::Unavailable => Some(canned("503 Service Unavailable", "busy")),
        Fault::Truncated => Some(canned("200 OK", TRUNCATED)),
        Fault::Malformed => Some(canned("200 OK", MALFORMED)),
        Fault::None | Fault::Reset | Fault::Slow => None,
    };
    if let Some(answer) = answer {
        let _ = sock.write_all(answer.as_bytes()).await;
        let _ = sock.shutdown().await;
        return;
    }
    let Ok(mut up) = TcpStream::connect(upstream).await else {
        return;
    };
    let fixed = text.replacen("\r\n", "\r\nConnection: close\r\n", 1);
    if up.write_all(fixed.as_bytes()).await.is_err() {
        return;
    }
    let mut response = Vec::new();
    let _ = up.read_to_end(&mut response).await;
    let made = created_object(&op, &response);
    let delivered = match fault {
        Fault::Reset => {
            let _ = sock.write_all(&response[..response.len() / 2]).await;
            // Drop without a shutdown: the client sees the connection end mid-body.
            false
        }
        Fault::Slow => {
            // One byte a second, for at most a minute: the client's timeout ends it.
            let mut sent = 0;
            while sent < response.len() && sent < 60 {
                if sock.write_all(&response[sent..sent + 1]).await.is_err() {
                    break;
                }
                sent += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            sent == response.len()
        }
        _ => {
            let ok = sock.write_all(&response).await.is_ok();
            let _ = sock.shutdown().await;
            ok
        }
    };
    if let Some(made) = made {
        let mut s = lock(&state);
        if delivered {
            s.delivered.push(made);
        } else {
            s.lost.push(made);
        }
    }
}
