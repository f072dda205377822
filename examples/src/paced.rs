//! A stand-in for a server that streams its answers, for the benchmark suite's paced
//! scenario (`bench/run.sh`, program `paced-proxy`): a TLS front for a vSphere endpoint
//! that sends every response body at a fixed rate, in chunks (`Transfer-Encoding:
//! chunked`), as a vCenter does while its property collector serializes a large
//! result. govmomi's simulator builds every response whole before sending its first
//! byte; behind this front a client can decode while the bytes arrive, and the time of
//! the simulator's own serialization drops out of the measurement.
//!
//! Requests pass to the upstream unchanged (cookies included), except that a response
//! of at least [`Config::cache_min`] bytes is kept, keyed by the request's `SOAPAction`
//! and body (with the session part of session-scoped object ids, `session[…]…`, left
//! out), and the same request later is answered from that copy without asking the
//! upstream. So a client's first run warms the cache, and later runs time the paced
//! transfer and the client's own work alone.
//!
//! Each request is logged on standard error as `OPERATION STATUS BYTES
//! hit|miss|pass|error`. The front listens on loopback addresses only and accepts any
//! upstream certificate (the simulator's is self-signed); its own certificate is a
//! fresh self-signed one, so clients connect in their insecure mode.

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// How the front behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// The endpoint to forward to (`https://127.0.0.1:PORT`; its path is replaced by
    /// each request's).
    pub upstream: url::Url,
    /// Body rate in bytes per second; 0 sends as fast as the socket takes it.
    pub rate: f64,
    /// Responses at least this large (status 200, no cookie set) are kept and replayed.
    pub cache_min: usize,
    /// Bytes per chunk of a body.
    pub chunk: usize,
}

/// The front, bound to its address: [`PacedProxy::serve`] answers requests.
pub struct PacedProxy {
    proxy: Arc<Proxy>,
    acceptor: tokio_rustls::TlsAcceptor,
    listener: TcpListener,
}

/// A kept response.
#[derive(Clone)]
struct Kept {
    status: u16,
    content_type: Option<hyper::header::HeaderValue>,
    body: Bytes,
}

struct Proxy {
    upstream: url::Url,
    http: reqwest::Client,
    rate: f64,
    chunk: usize,
    cache_min: usize,
    cache: Mutex<HashMap<Vec<u8>, Kept>>,
}

type Body = StreamBody<futures::stream::BoxStream<'static, Result<Frame<Bytes>, Infallible>>>;

/// The cache key: the SOAP action and the body, each `session[…]…` object id cut out
/// (a ContainerView's id names the session that made it; the answer does not depend
/// on it).
fn cache_key(action: &[u8], body: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(action.len() + 1 + body.len());
    key.extend_from_slice(action);
    key.push(b'\n');
    let mut rest = body;
    while let Some(at) = find(rest, b"session[") {
        key.extend_from_slice(&rest[..at]);
        key.extend_from_slice(b"session[]");
        let tail = &rest[at..];
        let end = tail.iter().position(|&b| b == b'<').unwrap_or(tail.len());
        rest = &tail[end..];
    }
    key.extend_from_slice(rest);
    key
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The operation named by a SOAP body: the first element inside `Body`.
fn operation(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let Some(at) = text.find("Body>") else {
        return "-".into();
    };
    let rest = &text[at + 5..];
    let Some(open) = rest.find('<') else {
        return "-".into();
    };
    let name: String = rest[open + 1..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
        .collect();
    name.rsplit(':').next().unwrap_or("-").to_string()
}

/// `body` as a stream of chunks sent no faster than `rate` bytes per second, timed from
/// now.
fn paced(body: Bytes, rate: f64, chunk: usize) -> Body {
    let start = tokio::time::Instant::now();
    let chunk = chunk.max(1);
    let stream = futures::stream::unfold(0usize, move |off| {
        let body = body.clone();
        async move {
            if off >= body.len() {
                return None;
            }
            if rate > 0.0 {
                let due = start + Duration::from_secs_f64(off as f64 / rate);
                tokio::time::sleep_until(due).await;
            }
            let end = (off + chunk).min(body.len());
            Some((Ok(Frame::data(body.slice(off..end))), end))
        }
    });
    StreamBody::new(Box::pin(stream))
}

impl Proxy {
    fn respond(
        &self,
        kept: &Kept,
        cookies: Vec<hyper::header::HeaderValue>,
    ) -> hyper::Response<Body> {
        let mut r = hyper::Response::new(paced(kept.body.clone(), self.rate, self.chunk));
        *r.status_mut() =
            hyper::StatusCode::from_u16(kept.status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
        if let Some(ct) = &kept.content_type {
            r.headers_mut()
                .insert(hyper::header::CONTENT_TYPE, ct.clone());
        }
        for c in cookies {
            r.headers_mut().append(hyper::header::SET_COOKIE, c);
        }
        r
    }

    async fn handle(
        self: Arc<Self>,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<Body>, Infallible> {
        let (parts, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return Ok(self.error(format!("reading the request: {e}"))),
        };
        let op = operation(&body);
        let action = parts
            .headers
            .get("soapaction")
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default();
        let key = cache_key(&action, &body);
        let hit = self.cache.lock().ok().and_then(|c| c.get(&key).cloned());
        if let Some(kept) = hit {
            eprintln!("{op} {} {} hit", kept.status, kept.body.len());
            return Ok(self.respond(&kept, Vec::new()));
        }

        let mut target = self.upstream.clone();
        target.set_path(parts.uri.path());
        target.set_query(parts.uri.query());
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &parts.headers {
            if !matches!(
                name.as_str(),
                "host" | "content-length" | "connection" | "transfer-encoding" | "keep-alive"
            ) {
                headers.append(name.clone(), value.clone());
            }
        }
        let sent = self
            .http
            .request(parts.method.clone(), target)
            .headers(headers)
            .body(body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => return Ok(self.error(format!("upstream: {e}"))),
        };
        let status = resp.status().as_u16();
        let content_type = resp.headers().get(hyper::header::CONTENT_TYPE).cloned();
        let cookies: Vec<_> = resp
            .headers()
            .get_all(hyper::header::SET_COOKIE)
            .iter()
            .cloned()
            .collect();
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return Ok(self.error(format!("upstream body: {e}"))),
        };
        let kept = Kept {
            status,
            content_type,
            body,
        };
        let cacheable = kept.body.len() >= self.cache_min && status == 200 && cookies.is_empty();
        eprintln!(
            "{op} {status} {} {}",
            kept.body.len(),
            if cacheable { "miss" } else { "pass" }
        );
        if cacheable {
            if let Ok(mut c) = self.cache.lock() {
                c.insert(key, kept.clone());
            }
        }
        Ok(self.respond(&kept, cookies))
    }

    fn error(&self, message: String) -> hyper::Response<Body> {
        eprintln!("- 502 0 error: {message}");
        let kept = Kept {
            status: 502,
            content_type: Some(hyper::header::HeaderValue::from_static("text/plain")),
            body: Bytes::from(message),
        };
        self.respond(&kept, Vec::new())
    }
}

impl PacedProxy {
    /// Binds `listen` (a loopback address; port 0 picks a free one) and makes the
    /// certificate and the upstream client.
    pub async fn bind(listen: SocketAddr, config: Config) -> Result<Self, String> {
        if !listen.ip().is_loopback() {
            return Err(format!("{listen}: only loopback addresses"));
        }
        if !(config.rate >= 0.0 && config.rate.is_finite()) {
            return Err(format!("{}: not a rate", config.rate));
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .http1_only()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let proxy = Arc::new(Proxy {
            upstream: config.upstream,
            http,
            rate: config.rate,
            chunk: config.chunk,
            cache_min: config.cache_min,
            cache: Mutex::new(HashMap::new()),
        });
        // A fresh self-signed certificate for localhost and 127.0.0.1.
        let pair = crate::vch::cert::generate("paced-proxy", &[]).map_err(|e| e.to_string())?;
        let acceptor =
            crate::vch::cert::acceptor(pair.cert_pem.as_bytes(), pair.key_pem.as_bytes())?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| format!("listen on {listen}: {e}"))?;
        Ok(PacedProxy {
            proxy,
            acceptor,
            listener,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Answers requests, each connection on a task of its own; returns only if the
    /// runtime shuts down.
    pub async fn serve(self) {
        let PacedProxy {
            proxy,
            acceptor,
            listener,
        } = self;
        loop {
            let (tcp, _) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("- accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let proxy = proxy.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req| proxy.clone().handle(req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_leaves_out_the_session_of_a_view() {
        let a = br#"<obj type="ContainerView">session[52a1-x]77f0</obj><pathSet>config</pathSet>"#;
        let b = br#"<obj type="ContainerView">session[99b2-y]1234</obj><pathSet>config</pathSet>"#;
        let c = br#"<obj type="ContainerView">session[99b2-y]1234</obj><pathSet>summary</pathSet>"#;
        assert_eq!(cache_key(b"x", a), cache_key(b"x", b));
        assert_ne!(cache_key(b"x", b), cache_key(b"x", c));
        assert_ne!(cache_key(b"x", a), cache_key(b"y", a));
    }

    #[test]
    fn operation_is_the_first_element_of_the_body() {
        let body = br#"<soapenv:Envelope><soapenv:Body><RetrievePropertiesEx xmlns="urn:vim25"><_this/></RetrievePropertiesEx></soapenv:Body></soapenv:Envelope>"#;
        assert_eq!(operation(body), "RetrievePropertiesEx");
        assert_eq!(operation(b"<x/>"), "-");
    }

    #[tokio::test]
    async fn a_paced_body_arrives_whole_and_no_faster_than_its_rate() {
        let body: Bytes = (0..300_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>()
            .into();
        // 300 kB at 1 MB/s in 64 KiB chunks: the last chunk (at 262,144) is due 262 ms
        // after the start. Only the lower bound is checked; a slow machine is later.
        let started = std::time::Instant::now();
        let mut stream = paced(body.clone(), 1e6, 64 << 10);
        let mut got = Vec::new();
        let mut chunks = 0;
        while let Some(frame) = stream.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            assert!(data.len() <= 64 << 10);
            got.extend_from_slice(&data);
            chunks += 1;
        }
        assert!(
            started.elapsed() >= Duration::from_millis(262),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(chunks, 5);
        assert_eq!(got, body);
        // Unpaced: the same bytes, without waiting.
        let mut stream = paced(body.clone(), 0.0, 100_000);
        let mut got = Vec::new();
        while let Some(frame) = stream.frame().await {
            got.extend_from_slice(&frame.unwrap().into_data().unwrap());
        }
        assert_eq!(got, body);
    }
}
