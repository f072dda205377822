//! The HTTP client: URL, TLS policy, API version negotiation, session cookie,
//! keep-alive, transparent re-login and retries. It implements [`Transport`], so every
//! generated method in [`crate::methods`] runs on it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), vim25::Error> {
//! use vim25::client::ClientBuilder;
//! // User and password may come in the URL; `https://host` means `https://host/sdk`.
//! let client = ClientBuilder::new("https://user:pass@127.0.0.1:8989")?
//!     .thumbprint("AB:CD:…")
//!     .connect()
//!     .await?;
//! let now = vim25::methods::current_time(&client, &client.service_instance()).await?;
//! println!("{} says {now}", client.service_content().about.full_name);
//! client.logout().await?;
//! # Ok(()) }
//! ```

mod tls;

pub use tls::{thumbprints, TlsPolicy};

use crate::rt::lock;
use crate::soap::{BoxFuture, RawResponse, Request, Transport};
use crate::types::{
    ManagedObjectReference, ObjectSpec, PropertyFilterSpec, PropertySpec, RetrieveOptions,
    ServiceContent, UserSession,
};
use crate::{methods, Error, Version};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tracing::Instrument;
use url::Url;

/// A string that never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// When a call that failed with `NotAuthenticated` is sent again after logging in anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Relogin {
    /// Never: the caller sees `NotAuthenticated`.
    Never,
    /// For calls that only read (the default).
    #[default]
    SafeCalls,
    /// For every call (the server refused it unexecuted, so this is safe too, but a
    /// caller may prefer to decide).
    AllCalls,
}

/// Configures and connects a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: Url,
    credentials: Option<(String, Secret)>,
    tls: TlsPolicy,
    connect_timeout: Duration,
    request_timeout: Duration,
    user_agent: String,
    version_cap: Option<Version>,
    keep_alive: Option<Duration>,
    relogin: Relogin,
    retries: u32,
    retry_delay: Duration,
    cookie: Option<Secret>,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ClientBuilder {
    /// Starts from a server URL: `https://host` (path `/sdk` implied), optionally with
    /// `user:password@` in it.
    pub fn new(url: &str) -> Result<Self, Error> {
        let with_scheme = if url.contains("://") {
            url.to_string()
        } else {
            format!("https://{url}")
        };
        let mut u =
            Url::parse(&with_scheme).map_err(|e| Error::InvalidInput(format!("bad URL: {e}")))?;
        if u.scheme() != "https" && u.scheme() != "http" {
            return Err(Error::InvalidInput(format!(
                "URL scheme must be https or http, not {}",
                u.scheme()
            )));
        }
        if u.host_str().is_none() {
            return Err(Error::InvalidInput("URL has no host".into()));
        }
        let credentials = if u.username().is_empty() {
            None
        } else {
            Some((
                percent_decode(u.username()),
                Secret(percent_decode(u.password().unwrap_or(""))),
            ))
        };
        let _ = u.set_username("");
        let _ = u.set_password(None);
        if u.path().is_empty() || u.path() == "/" {
            u.set_path("/sdk");
        }
        Ok(ClientBuilder {
            url: u,
            credentials,
            tls: TlsPolicy::SystemRoots,
            connect_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(600),
            user_agent: format!("vim25-rs/{}", env!("CARGO_PKG_VERSION")),
            version_cap: None,
            keep_alive: None,
            relogin: Relogin::default(),
            retries: 2,
            retry_delay: Duration::from_millis(250),
            cookie: None,
        })
    }

    /// Logs in with these credentials on connect (overrides any in the URL).
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((user.into(), Secret(password.into())));
        self
    }

    /// Sets the TLS policy.
    pub fn tls(mut self, policy: TlsPolicy) -> Self {
        self.tls = policy;
        self
    }

    /// Pins the server certificate by SHA-256 or SHA-1 thumbprint.
    pub fn thumbprint(self, tp: impl Into<String>) -> Self {
        self.tls(TlsPolicy::Thumbprint(tp.into()))
    }

    /// Accepts any certificate (lab use only).
    pub fn insecure(self) -> Self {
        self.tls(TlsPolicy::Insecure)
    }

    /// Time allowed for the TCP and TLS connection.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Time allowed for one call, response included.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// Never negotiate a version above `v`.
    pub fn max_version(mut self, v: Version) -> Self {
        self.version_cap = Some(v);
        self
    }

    /// Keeps the session alive by calling `CurrentTime` every `interval` (stops when
    /// the last clone of the client is dropped).
    pub fn keep_alive(mut self, interval: Duration) -> Self {
        self.keep_alive = Some(interval);
        self
    }

    /// When to log in again and replay a call after `NotAuthenticated`.
    pub fn relogin(mut self, r: Relogin) -> Self {
        self.relogin = r;
        self
    }

    /// How often a call that only reads is retried after a network error or HTTP 503
    /// (with exponential backoff and jitter, starting at `delay`).
    pub fn retries(mut self, n: u32, delay: Duration) -> Self {
        self.retries = n;
        self.retry_delay = delay;
        self
    }

    /// Reuses a session cookie exported by [`Client::session_cookie`] (as govc's session
    /// cache does); no login happens on connect when the session is still valid.
    pub fn session_cookie(mut self, cookie: impl Into<String>) -> Self {
        self.cookie = Some(Secret(cookie.into()));
        self
    }

    /// Connects: negotiates the API version, reads `ServiceContent`, and logs in when
    /// credentials were given (unless an imported session cookie is still valid).
    pub async fn connect(self) -> Result<Client, Error> {
        let presented = Arc::new(tls::Presented::default());
        let cfg = tls::client_config(&self.tls, presented.clone()).map_err(|m| Error::Tls {
            message: m,
            sha256: String::new(),
            sha1: String::new(),
        })?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(cfg)
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .user_agent(self.user_agent.clone())
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| Error::InvalidInput(format!("HTTP client: {e}")))?;
        let cap = self.version_cap.unwrap_or(Version::LATEST);
        let inner = Arc::new(Inner {
            http,
            url: self.url.clone(),
            version: AtomicUsize::new(version_index(cap)),
            cookie: Mutex::new(self.cookie.clone()),
            credentials: Mutex::new(self.credentials.clone()),
            relogin: self.relogin,
            retries: self.retries,
            retry_delay: self.retry_delay,
            presented,
            login_lock: tokio::sync::Mutex::new(()),
        });
        let negotiated = inner.negotiate(cap).await?;
        inner
            .version
            .store(version_index(negotiated), Ordering::Relaxed);
        let si = ManagedObjectReference::new("ServiceInstance", "ServiceInstance");
        let content = methods::retrieve_service_content(&*inner, &si).await?;
        if negotiated == cap {
            // Servers without vimServiceVersions.xml: take the version they report.
            if let Some(v) = Version::parse(&content.about.api_version) {
                if v < cap {
                    inner.version.store(version_index(v), Ordering::Relaxed);
                }
            }
        }
        let client = Client {
            inner: inner.clone(),
            content: Arc::new(content),
        };
        let have_session =
            self.cookie.is_some() && client.session_is_active().await.unwrap_or(false);
        if !have_session {
            let creds = self.credentials.clone();
            if let Some((user, pass)) = creds {
                client.login(&user, &pass.0).await?;
            }
        }
        if let Some(every) = self.keep_alive {
            spawn_keep_alive(Arc::downgrade(&inner), every);
        }
        Ok(client)
    }
}

fn version_index(v: Version) -> usize {
    Version::ALL.iter().position(|x| *x == v).unwrap_or(0)
}

fn spawn_keep_alive(weak: Weak<Inner>, every: Duration) {
    let si = ManagedObjectReference::new("ServiceInstance", "ServiceInstance");
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(inner) = weak.upgrade() else { break };
            if let Err(e) = methods::current_time(&*inner, &si).await {
                tracing::warn!(error = %e, "keep-alive call failed");
            }
        }
    });
}

struct Inner {
    http: reqwest::Client,
    url: Url,
    version: AtomicUsize,
    cookie: Mutex<Option<Secret>>,
    credentials: Mutex<Option<(String, Secret)>>,
    relogin: Relogin,
    retries: u32,
    retry_delay: Duration,
    presented: Arc<tls::Presented>,
    login_lock: tokio::sync::Mutex<()>,
}

/// A connected vSphere client. Cheap to clone; clones share one connection pool,
/// one session and one `ServiceContent`. `Send + Sync`.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    content: Arc<ServiceContent>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.url.as_str())
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// The server's `ServiceContent` (managers, `about`).
    pub fn service_content(&self) -> &ServiceContent {
        &self.content
    }

    /// The service's property collector.
    pub fn property_collector(&self) -> ManagedObjectReference {
        self.content.property_collector.clone()
    }

    /// The `ServiceInstance` reference.
    pub fn service_instance(&self) -> ManagedObjectReference {
        ManagedObjectReference::new("ServiceInstance", "ServiceInstance")
    }

    /// The SDK URL (without credentials).
    pub fn url(&self) -> &Url {
        &self.inner.url
    }

    /// Logs in; later re-logins (after `NotAuthenticated`) use these credentials.
    pub async fn login(&self, user: &str, password: &str) -> Result<UserSession, Error> {
        let sm = self.session_manager()?;
        let s = methods::login(&*self.inner, &sm, user, password, None).await?;
        *lock(&self.inner.credentials) = Some((user.to_string(), Secret(password.to_string())));
        Ok(s)
    }

    /// Logs out and forgets the credentials and cookie.
    pub async fn logout(&self) -> Result<(), Error> {
        let sm = self.session_manager()?;
        *lock(&self.inner.credentials) = None;
        let r = methods::logout(&*self.inner, &sm).await;
        *lock(&self.inner.cookie) = None;
        r
    }

    /// Whether the session is logged in (reads `SessionManager.currentSession`).
    pub async fn session_is_active(&self) -> Result<bool, Error> {
        Ok(self.current_session().await?.is_some())
    }

    /// The current session, if logged in.
    pub async fn current_session(&self) -> Result<Option<UserSession>, Error> {
        let sm = self.session_manager()?;
        let spec = PropertyFilterSpec {
            prop_set: vec![PropertySpec {
                type_: "SessionManager".into(),
                path_set: vec!["currentSession".into()],
                ..Default::default()
            }],
            object_set: vec![ObjectSpec {
                obj: sm,
                ..Default::default()
            }],
            ..Default::default()
        };
        let pc = self.content.property_collector.clone();
        // Plain transport, no re-login: a lost session must read as "not active".
        let raw = RawTransport(&self.inner);
        let r = methods::retrieve_properties_ex(&raw, &pc, &[spec], &RetrieveOptions::default())
            .await?;
        let val = r
            .into_iter()
            .flat_map(|r| r.objects)
            .flat_map(|o| o.prop_set)
            .find(|p| p.name == "currentSession")
            .map(|p| p.val);
        Ok(val.and_then(|v| v.downcast_ref::<UserSession>().cloned()))
    }

    /// The session cookie, to store and pass to [`ClientBuilder::session_cookie`] later.
    /// Treat it like a password.
    pub fn session_cookie(&self) -> Option<String> {
        lock(&self.inner.cookie).as_ref().map(|s| s.0.clone())
    }

    /// The negotiated API version.
    pub fn version(&self) -> Version {
        self.inner.version()
    }

    /// The HTTP client the SOAP calls use (same TLS policy, timeouts and pool), for
    /// transfers outside SOAP such as datastore file uploads and downloads.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    fn session_manager(&self) -> Result<ManagedObjectReference, Error> {
        self.content
            .session_manager
            .clone()
            .ok_or_else(|| Error::InvalidInput("server has no SessionManager".into()))
    }
}

impl Transport for Client {
    fn version(&self) -> Version {
        self.inner.version()
    }
    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        self.inner.round_trip(request, idempotent)
    }
}

impl Transport for Inner {
    fn version(&self) -> Version {
        Inner::version(self)
    }
    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        Inner::round_trip(self, request, idempotent)
    }
}

/// The client's transport without re-login.
struct RawTransport<'a>(&'a Inner);

impl Transport for RawTransport<'_> {
    fn version(&self) -> Version {
        self.0.version()
    }
    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        Box::pin(self.0.send_with_retries(request, idempotent))
    }
}

/// Whether a raw response is the SOAP fault `NotAuthenticated`.
fn is_not_authenticated(r: &RawResponse) -> bool {
    if r.status != 500 {
        return false;
    }
    let resp = crate::soap::Response::from_raw("probe", r.clone());
    matches!(resp.returnval_unit(), Err(e) if e.fault_name() == Some("NotAuthenticated"))
}

impl Inner {
    fn version(&self) -> Version {
        Version::ALL[self.version.load(Ordering::Relaxed)]
    }

    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        let span = tracing::debug_span!("vim25_call", method = request.operation);
        Box::pin(
            async move {
                let started = Instant::now();
                let mut r = self.send_with_retries(request, idempotent).await?;
                let replay = match self.relogin {
                    Relogin::Never => false,
                    Relogin::SafeCalls => idempotent,
                    Relogin::AllCalls => true,
                };
                if replay
                    && request.operation != "Login"
                    && is_not_authenticated(&r)
                    && self.relogin_once().await?
                {
                    tracing::debug!("session lost: logged in again, replaying the call");
                    r = self.send_with_retries(request, idempotent).await?;
                }
                tracing::debug!(
                    status = r.status,
                    bytes = r.body.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "vim25 call done"
                );
                Ok(r)
            }
            .instrument(span),
        )
    }

    /// Logs in again with the stored credentials; `false` when there are none.
    async fn relogin_once(&self) -> Result<bool, Error> {
        let _g = self.login_lock.lock().await;
        let Some((user, pass)) = lock(&self.credentials).clone() else {
            return Ok(false);
        };
        let si = ManagedObjectReference::new("ServiceInstance", "ServiceInstance");
        let raw = RawTransport(self);
        let content = methods::retrieve_service_content(&raw, &si).await?;
        let Some(sm) = content.session_manager else {
            return Ok(false);
        };
        methods::login(&raw, &sm, &user, &pass.0, None).await?;
        Ok(true)
    }

    async fn send_with_retries(
        &self,
        request: &Request,
        idempotent: bool,
    ) -> Result<RawResponse, Error> {
        let mut attempt = 0;
        loop {
            let r = self.send_once(request).await;
            let transient = match &r {
                Err(Error::Network { .. }) | Err(Error::Timeout { .. }) => true,
                Ok(resp) => resp.status == 503,
                _ => false,
            };
            if !(transient && idempotent && attempt < self.retries) {
                return r;
            }
            let delay = backoff(self.retry_delay, attempt);
            tracing::debug!(attempt, ?delay, "transient failure: retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn send_once(&self, request: &Request) -> Result<RawResponse, Error> {
        if tracing::enabled!(target: "vim25::wire", tracing::Level::TRACE) {
            tracing::trace!(target: "vim25::wire", request = %mask_secrets(&request.body));
        }
        let mut rb = self
            .http
            .post(self.url.clone())
            .header("Content-Type", "text/xml; charset=utf-8")
            .header(
                "SOAPAction",
                format!("urn:vim25/{}", request.version.as_str()),
            )
            .body(request.body.clone());
        if let Some(c) = lock(&self.cookie).as_ref() {
            rb = rb.header("Cookie", c.0.clone());
        }
        let resp = rb
            .send()
            .await
            .map_err(|e| self.map_err(request.operation, e))?;
        let status = resp.status().as_u16();
        self.store_cookie(resp.headers());
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.map_err(request.operation, e))?
            .to_vec();
        if tracing::enabled!(target: "vim25::wire", tracing::Level::TRACE) {
            tracing::trace!(target: "vim25::wire", status, response = %mask_secrets(&String::from_utf8_lossy(&body)));
        }
        Ok(RawResponse { status, body })
    }

    fn store_cookie(&self, headers: &reqwest::header::HeaderMap) {
        for v in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let pair = v.split(';').next().unwrap_or("").trim();
            if pair.starts_with("vmware_soap_session=") {
                *lock(&self.cookie) = Some(Secret(pair.to_string()));
            }
        }
    }

    fn map_err(&self, operation: &str, e: reqwest::Error) -> Error {
        if let Some((message, sha256, sha1)) = lock(&self.presented.last).take() {
            return Error::Tls {
                message,
                sha256,
                sha1,
            };
        }
        if e.is_timeout() {
            return Error::Timeout {
                operation: operation.to_string(),
            };
        }
        Error::Network {
            operation: operation.to_string(),
            message: error_chain(&e),
        }
    }

    /// Picks the highest version both sides know, from `/sdk/vimServiceVersions.xml`.
    async fn negotiate(&self, cap: Version) -> Result<Version, Error> {
        let mut url = self.url.clone();
        let path = format!(
            "{}/vimServiceVersions.xml",
            url.path().trim_end_matches('/')
        );
        url.set_path(&path);
        let resp = match self.http.get(url).send().await {
            Ok(r) => r,
            Err(e) => return Err(self.map_err("vimServiceVersions.xml", e)),
        };
        if !resp.status().is_success() {
            return Ok(cap);
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.map_err("vimServiceVersions.xml", e))?;
        let versions = server_versions(&body);
        Ok(versions
            .iter()
            .filter_map(|v| Version::parse(v))
            .filter(|v| *v <= cap)
            .max()
            .unwrap_or(cap))
    }
}

/// The `urn:vim25` versions (current and prior) listed by `vimServiceVersions.xml`.
fn server_versions(xml: &[u8]) -> Vec<String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_reader(xml);
    let mut out = Vec::new();
    let mut ns_is_vim25 = false;
    let mut cur = Vec::new();
    let mut text = String::new();
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) => {
                cur = e.local_name().as_ref().to_vec();
                if cur == b"namespace" {
                    ns_is_vim25 = false;
                }
                text.clear();
            }
            Ok(Event::Text(t)) => text.push_str(&String::from_utf8_lossy(&t)),
            Ok(Event::End(e)) => {
                match e.local_name().as_ref() {
                    b"name" => ns_is_vim25 = text.trim() == "urn:vim25",
                    b"version" if ns_is_vim25 => out.push(text.trim().to_string()),
                    _ => {}
                }
                let _ = &cur;
                text.clear();
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

/// An error's message followed by those of its sources (reqwest's own message alone
/// rarely says what went wrong).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    message
}

fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1 << attempt.min(6));
    // Jitter from the clock's sub-second noise: enough to spread concurrent retries.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = base.mul_f64(f64::from(nanos % 1000) / 1000.0);
    exp + jitter
}

/// Masks the content of elements that carry secrets (`password`, `token`, session
/// ids), for wire dumps.
pub fn mask_secrets(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let after = &rest[lt..];
        let Some(gt) = after.find('>') else {
            out.push_str(after);
            return out;
        };
        let tag = &after[..=gt];
        out.push_str(tag);
        rest = &after[gt + 1..];
        let name = tag
            .trim_start_matches('<')
            .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .next()
            .unwrap_or("");
        let local = name.rsplit(':').next().unwrap_or("").to_ascii_lowercase();
        let secret = local.contains("password")
            || local.contains("token")
            || local == "sessionid"
            || local == "pwd";
        if secret && !tag.ends_with("/>") && !name.starts_with('/') {
            if let Some(end) = rest.find('<') {
                out.push_str("***");
                rest = &rest[end..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_defaults_and_credentials() {
        let b = ClientBuilder::new("https://us%40er:p%3Ass@vc.example:443").unwrap();
        assert_eq!(b.url.as_str(), "https://vc.example/sdk");
        let (u, p) = b.credentials.clone().unwrap();
        assert_eq!(u, "us@er");
        assert_eq!(p.0, "p:ss");
        assert!(!format!("{b:?}").contains("p:ss"));
        let b = ClientBuilder::new("127.0.0.1:8989").unwrap();
        assert_eq!(b.url.as_str(), "https://127.0.0.1:8989/sdk");
        assert!(ClientBuilder::new("ftp://x").is_err());
    }

    #[test]
    fn secrets_are_masked() {
        let m = mask_secrets("<Login><userName>u</userName><password>hunter2</password></Login>");
        assert_eq!(
            m,
            "<Login><userName>u</userName><password>***</password></Login>"
        );
    }

    #[test]
    fn versions_file_is_read() {
        let xml = br#"<namespaces version="1.0"><namespace><name>urn:vim25</name>
            <version>8.0.3.0</version><priorVersions><version>8.0.2.0</version>
            <version>6.5</version></priorVersions></namespace>
            <namespace><name>urn:vim2</name><version>2.0</version></namespace></namespaces>"#;
        assert_eq!(server_versions(xml), vec!["8.0.3.0", "8.0.2.0", "6.5"]);
    }

    #[test]
    fn backoff_grows() {
        let b = Duration::from_millis(100);
        assert!(backoff(b, 0) < Duration::from_millis(201));
        assert!(backoff(b, 2) >= Duration::from_millis(400));
    }
}
