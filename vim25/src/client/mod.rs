//! The HTTP client: URL, TLS policy, API version negotiation and the session, over a
//! stack of [`crate::transport`] layers (keep-alive, re-login, retries, wire log) on
//! an [`HttpTransport`]. [`Client`] implements [`Transport`], so every generated method
//! in [`crate::methods`] runs on it.
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

mod http;
mod legacy_rsa;
mod tls;

pub(crate) use http::error_chain;
pub use http::HttpTransport;
pub use tls::{thumbprints, TlsPolicy};

use crate::runtime::Secret;
use crate::soap::{BoxFuture, RawResponse, Request, StreamingResponse, Transport};
use crate::transport::{KeepAlive, Relogin, Retry, RetryPolicy, Session, WireLog, WireRecord};
use crate::types::{
    ManagedObjectReference, ObjectSpec, PropertyFilterSpec, PropertySpec, RetrieveOptions,
    ServiceContent, UserSession,
};
use crate::{methods, Error, Version};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;
use url::Url;

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
    retry: RetryPolicy,
    cookie: Option<Secret>,
    wire_sink: Option<WireSink>,
    max_response_bytes: u64,
}

/// The default of [`ClientBuilder::max_response_bytes`]: 1 GiB, several times the
/// largest retrieval seen (a `--full` inventory of 20,000 VMs is about 175 MB).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 1 << 30;

/// A callback for every exchange, shared by the clones of a builder.
#[derive(Clone)]
struct WireSink(Arc<dyn Fn(&WireRecord<'_>) + Send + Sync>);

impl fmt::Debug for WireSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WireSink")
    }
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
            retry: RetryPolicy::default(),
            cookie: None,
            wire_sink: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
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

    /// Pins the server certificate by SHA-256 or SHA-1 thumbprint (`AB:CD:…`, or
    /// `SHA256:AB:CD:…` as a refusal prints it). A malformed one makes
    /// [`connect`](Self::connect) fail with [`Error::InvalidInput`].
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

    /// The largest response body accepted, in bytes (default
    /// [`DEFAULT_MAX_RESPONSE_BYTES`]): a larger one ends the call with
    /// [`Error::TooLarge`] as soon as its `Content-Length` or its bytes pass the limit,
    /// so a misbehaving server or proxy cannot exhaust the client's memory. Retrieve
    /// in pages (`RetrieveOptions::max_objects`) to stay under it.
    pub fn max_response_bytes(mut self, limit: u64) -> Self {
        self.max_response_bytes = limit;
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

    /// How often a call that is safe to repeat is sent again after a network error, a
    /// timeout or HTTP 502/503/504 (exponential backoff with jitter, from `delay`).
    /// `retries(0, …)` turns retries off.
    pub fn retries(mut self, n: u32, delay: Duration) -> Self {
        self.retry = RetryPolicy::new(n, delay);
        self
    }

    /// The whole retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Reuses a session cookie exported by [`Client::session_cookie`] (as govc's session
    /// cache does); no login happens on connect when the session is still valid.
    pub fn session_cookie(mut self, cookie: impl Into<String>) -> Self {
        self.cookie = Some(Secret(cookie.into()));
        self
    }

    /// Hands every exchange (each attempt, bodies with secrets masked) to `sink`
    /// instead of `tracing`, for a govc-style `-debug` that writes them to files.
    pub fn wire_log(mut self, sink: impl Fn(&WireRecord<'_>) + Send + Sync + 'static) -> Self {
        self.wire_sink = Some(WireSink(Arc::new(sink)));
        self
    }

    /// The bare HTTP transport this builder describes (URL, TLS policy, timeouts, user
    /// agent, imported cookie), encoding for the version cap until
    /// [`HttpTransport::negotiate`] runs: the bottom of a stack of your own.
    ///
    /// Fails with [`Error::InvalidInput`] for a malformed thumbprint, a CA file without
    /// a usable certificate, a thumbprint or CA file given with an `http://` URL, or a
    /// user agent that is no valid header value, and with
    /// [`Error::Io`] when the CA file cannot be read.
    pub fn http_transport(&self) -> Result<HttpTransport, Error> {
        if self.url.scheme() == "http" {
            let unused = match &self.tls {
                TlsPolicy::Thumbprint(_) => Some("a pinned thumbprint"),
                TlsPolicy::ExtraCaFile(_) => Some("a CA file"),
                TlsPolicy::SystemRoots | TlsPolicy::Insecure => None,
            };
            if let Some(what) = unused {
                return Err(Error::InvalidInput(format!(
                    "{what} was given for the plain-HTTP URL {}: nothing would be checked \
                     with it; use an https:// URL",
                    self.url
                )));
            }
        }
        let presented = Arc::new(tls::Presented::default());
        let cfg = tls::client_config(&self.tls, presented.clone())?;
        if reqwest::header::HeaderValue::from_str(&self.user_agent).is_err() {
            return Err(Error::InvalidInput(format!(
                "user agent {:?} is not a valid HTTP header value",
                self.user_agent
            )));
        }
        // The TLS set-up and the user agent are checked above; what reqwest may still
        // refuse is the rest of this builder's settings.
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(cfg)
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .user_agent(self.user_agent.clone())
            .pool_idle_timeout(Duration::from_secs(90))
            // A redirect could take a SOAP call, its session cookie and its body to
            // another host or to plain HTTP: none is followed (see `HttpTransport`).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                Error::InvalidInput(format!("cannot build the HTTP client: {}", error_chain(&e)))
            })?;
        Ok(HttpTransport::new(
            http,
            self.url.clone(),
            self.version_cap.unwrap_or(Version::LATEST),
            self.cookie.clone(),
            presented,
            self.max_response_bytes,
            self.request_timeout,
        ))
    }

    /// Connects: negotiates the API version, reads `ServiceContent`, and logs in when
    /// credentials were given (unless an imported session cookie is still valid).
    ///
    /// Calls then pass through, from the caller down: [`KeepAlive`] (when
    /// [`keep_alive`](Self::keep_alive) is set), [`Session`] (re-login per
    /// [`relogin`](Self::relogin)), [`Retry`] (per [`retries`](Self::retries)),
    /// [`WireLog`] (tracing, or [`wire_log`](Self::wire_log)) and the
    /// [`HttpTransport`].
    ///
    /// Fails before reaching the server as [`http_transport`](Self::http_transport)
    /// does; a refused server certificate is [`Error::Tls`], whose message says why and
    /// what to do and whose fields hold the thumbprints the server presented.
    pub async fn connect(self) -> Result<Client, Error> {
        check_keep_alive(self.keep_alive)?;
        let http = Arc::new(self.http_transport()?);
        let cap = self.version_cap.unwrap_or(Version::LATEST);
        let listed = http.negotiate(cap).await?;
        let wire = match &self.wire_sink {
            Some(WireSink(sink)) => {
                let sink = sink.clone();
                WireLog::with_sink(http.clone(), move |r| sink(r))
            }
            None => WireLog::new(http.clone()),
        };
        let raw: Arc<dyn Transport> = Arc::new(Retry::new(wire, self.retry));
        let session = Arc::new(Session::new(raw.clone(), self.relogin));
        let si = ManagedObjectReference::new("ServiceInstance", "ServiceInstance");
        let mut content = methods::retrieve_service_content(&*session, &si).await?;
        if listed.is_none() {
            // A server that does not list its versions: take the one it reports, and
            // read ServiceContent again if that adds fields.
            let bootstrap = http.version();
            let reported = Version::parse(&content.about.api_version)
                .unwrap_or(bootstrap)
                .min(cap);
            if reported != bootstrap {
                http.set_version(reported);
                content = methods::retrieve_service_content(&*session, &si).await?;
            }
        }
        Client::assemble(Assembly {
            session,
            raw,
            http: Some(http),
            content,
            credentials: self.credentials.clone(),
            reuse_session: self.cookie.is_some(),
            keep_alive: self.keep_alive,
        })
        .await
    }
}

fn check_keep_alive(interval: Option<Duration>) -> Result<(), Error> {
    match interval {
        Some(d) if d.is_zero() => Err(Error::InvalidInput(
            "keep-alive interval must be above zero".into(),
        )),
        _ => Ok(()),
    }
}

/// What [`Client::assemble`] puts together.
struct Assembly {
    session: Arc<ClientSession>,
    raw: Arc<dyn Transport>,
    http: Option<Arc<HttpTransport>>,
    content: ServiceContent,
    credentials: Option<(String, Secret)>,
    /// Whether an imported session may already be logged in.
    reuse_session: bool,
    keep_alive: Option<Duration>,
}

/// The re-login layer of a [`Client`], over the rest of its stack.
pub type ClientSession = Session<Arc<dyn Transport>>;

/// What every clone of a client shares.
struct Shared {
    /// The layer calls enter: the keep-alive when there is one, else the session.
    top: Arc<dyn Transport>,
    /// The re-login layer.
    session: Arc<ClientSession>,
    /// Below the session: calls through it never log in again.
    raw: Arc<dyn Transport>,
    /// The HTTP transport at the bottom, when there is one.
    http: Option<Arc<HttpTransport>>,
    /// Held so that its task runs as long as the client lives.
    keep_alive: Option<Arc<KeepAlive<ClientSession>>>,
}

/// A connected vSphere client. Cheap to clone; clones share one connection pool,
/// one session and one `ServiceContent`. `Send + Sync`.
///
/// Built by [`ClientBuilder::connect`], or by [`Client::from_transport`] over any
/// [`Transport`] (a [`Replay`](crate::replay::Replay) in a unit test, a stack of your
/// own).
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    content: Arc<ServiceContent>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url().map(Url::as_str))
            .field("version", &self.version())
            .field("keep_alive", &self.shared.keep_alive)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client over `transport`, which is wrapped in a [`Session`] layer (default
    /// [`Relogin`] policy) so that [`Client::login`] is remembered for re-logins.
    /// Reads `ServiceContent` through it. Datastore file transfers and
    /// [`Client::session_cookie`] need the HTTP transport and are unavailable here.
    pub async fn from_transport(transport: impl Transport + 'static) -> Result<Client, Error> {
        Client::from_transport_with(transport, Relogin::default(), None).await
    }

    /// Like [`Client::from_transport`], with the re-login policy (`Relogin::Never` when
    /// `transport` already has a [`Session`] layer of its own) and an optional
    /// keep-alive interval.
    pub async fn from_transport_with(
        transport: impl Transport + 'static,
        relogin: Relogin,
        keep_alive: Option<Duration>,
    ) -> Result<Client, Error> {
        check_keep_alive(keep_alive)?;
        let raw: Arc<dyn Transport> = Arc::new(transport);
        let session = Arc::new(Session::new(raw.clone(), relogin));
        let si = ManagedObjectReference::new("ServiceInstance", "ServiceInstance");
        let content = methods::retrieve_service_content(&*session, &si).await?;
        Client::assemble(Assembly {
            session,
            raw,
            http: None,
            content,
            credentials: None,
            reuse_session: false,
            keep_alive,
        })
        .await
    }

    /// Logs in (or takes over an imported session), then adds the keep-alive layer.
    async fn assemble(a: Assembly) -> Result<Client, Error> {
        let sm = a.content.session_manager.clone();
        if let Some((user, pass)) = &a.credentials {
            let sm = sm.ok_or_else(|| no_session_manager("log in"))?;
            let have_session = a.reuse_session
                && current_session_via(&*a.raw, &a.content)
                    .await
                    .is_ok_and(|s| s.is_some());
            if have_session {
                // Taken over from the cookie: remember the login for re-logins.
                a.session.remember(&sm, user, &pass.0);
            } else {
                a.session.login(&sm, user, &pass.0).await?;
            }
        }
        let (top, keep_alive): (Arc<dyn Transport>, _) = match a.keep_alive {
            Some(every) => {
                let http = a.http.clone();
                // Only while logged in: remembered credentials, or an imported cookie.
                let logged_in = move |s: &ClientSession| {
                    s.has_credentials()
                        || http.as_ref().is_some_and(|h| h.session_cookie().is_some())
                };
                let ka = Arc::new(KeepAlive::with_condition(
                    a.session.clone(),
                    every,
                    logged_in,
                )?);
                (ka.clone(), Some(ka))
            }
            None => (a.session.clone(), None),
        };
        Ok(Client {
            shared: Arc::new(Shared {
                top,
                session: a.session,
                raw: a.raw,
                http: a.http,
                keep_alive,
            }),
            content: Arc::new(a.content),
        })
    }

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

    /// The SDK URL (without credentials); `None` for a client over another transport.
    pub fn url(&self) -> Option<&Url> {
        self.shared.http.as_deref().map(HttpTransport::url)
    }

    /// How long one request may take ([`ClientBuilder::request_timeout`]); `None` for
    /// a client over another transport.
    pub fn request_timeout(&self) -> Option<Duration> {
        self.shared
            .http
            .as_deref()
            .map(HttpTransport::request_timeout)
    }

    /// Logs in; later re-logins (after `NotAuthenticated`) use these credentials.
    /// [`Error::NotSupported`] when the server has no `SessionManager`.
    pub async fn login(&self, user: &str, password: &str) -> Result<UserSession, Error> {
        let sm = self.session_manager("log in")?;
        self.shared.session.login(&sm, user, password).await
    }

    /// Logs out and forgets the credentials and cookie.
    pub async fn logout(&self) -> Result<(), Error> {
        let sm = self.session_manager("log out")?;
        let r = self.shared.session.logout(&sm).await;
        if let Some(h) = &self.shared.http {
            h.set_session_cookie(None);
        }
        r
    }

    /// Whether the session is logged in (reads `SessionManager.currentSession`).
    pub async fn session_is_active(&self) -> Result<bool, Error> {
        Ok(self.current_session().await?.is_some())
    }

    /// The current session, if logged in.
    pub async fn current_session(&self) -> Result<Option<UserSession>, Error> {
        current_session_via(&*self.shared.raw, &self.content).await
    }

    /// The session cookie, to store and pass to [`ClientBuilder::session_cookie`] later.
    /// Treat it like a password.
    pub fn session_cookie(&self) -> Option<String> {
        self.shared.http.as_ref()?.session_cookie()
    }

    /// The negotiated API version.
    pub fn version(&self) -> Version {
        self.shared.top.version()
    }

    /// The re-login layer (its login count; credentials to remember or forget).
    pub fn session(&self) -> &ClientSession {
        &self.shared.session
    }

    /// The keep-alive layer, when [`ClientBuilder::keep_alive`] set one (its ping
    /// counts).
    pub fn keep_alive(&self) -> Option<&KeepAlive<ClientSession>> {
        self.shared.keep_alive.as_deref()
    }

    /// The HTTP client the SOAP calls use (same TLS policy, timeouts and pool), for
    /// transfers outside SOAP such as datastore file uploads and downloads.
    pub(crate) fn http(&self) -> Result<(&reqwest::Client, &Url), Error> {
        match &self.shared.http {
            Some(h) => Ok((h.http(), h.url())),
            None => Err(Error::InvalidInput(
                "this client has no HTTP transport (built from another transport)".into(),
            )),
        }
    }

    fn session_manager(&self, needed_to: &str) -> Result<ManagedObjectReference, Error> {
        self.content
            .session_manager
            .clone()
            .ok_or_else(|| no_session_manager(needed_to))
    }
}

/// [`Error::NotSupported`]: the server has no `SessionManager`, which it takes to
/// `needed_to`.
fn no_session_manager(needed_to: &str) -> Error {
    Error::NotSupported(format!("no SessionManager, needed to {needed_to}"))
}

/// Reads `SessionManager.currentSession` through `transport`: used below the session
/// layer, where a lost session reads as "not active" rather than logging in again.
async fn current_session_via(
    transport: &dyn Transport,
    content: &ServiceContent,
) -> Result<Option<UserSession>, Error> {
    let sm = content
        .session_manager
        .clone()
        .ok_or_else(|| no_session_manager("read the current session"))?;
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
    let r = methods::retrieve_properties_ex(
        transport,
        &content.property_collector,
        &[spec],
        &RetrieveOptions::default(),
    )
    .await?;
    let val = r
        .into_iter()
        .flat_map(|r| r.objects)
        .flat_map(|o| o.prop_set)
        .find(|p| p.name == "currentSession")
        .map(|p| p.val);
    Ok(val.and_then(|v| v.downcast_ref::<UserSession>().cloned()))
}

impl Transport for Client {
    fn version(&self) -> Version {
        self.shared.top.version()
    }

    /// One span per call (`vim25_call`, with method and object), and its duration.
    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        Box::pin(traced(
            request,
            false,
            |r: &RawResponse| r.status,
            self.shared.top.round_trip(request, idempotent),
        ))
    }

    /// As [`Transport::round_trip`]; the span says `streamed` and its duration ends
    /// when the status has arrived.
    fn round_trip_streaming<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<StreamingResponse, Error>> {
        Box::pin(traced(
            request,
            true,
            |r: &StreamingResponse| r.status,
            self.shared.top.round_trip_streaming(request, idempotent),
        ))
    }
}

/// Runs `call` inside a `vim25_call` span recording its duration and status.
async fn traced<R>(
    request: &Request,
    streamed: bool,
    status: impl Fn(&R) -> u16,
    call: impl std::future::Future<Output = Result<R, Error>>,
) -> Result<R, Error> {
    let span = tracing::debug_span!(
        "vim25_call",
        method = request.operation,
        object = %request.object,
        streamed,
        ms = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let recorder = span.clone();
    async move {
        let started = Instant::now();
        let r = call.await;
        recorder.record("ms", started.elapsed().as_millis() as u64);
        if let Ok(resp) = &r {
            recorder.record("status", status(resp));
        }
        r
    }
    .instrument(span)
    .await
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

    /// Nothing listens on port 1: a failure there would be a network error, so an
    /// `InvalidInput` proves the builder refused before connecting.
    fn unreachable() -> ClientBuilder {
        ClientBuilder::new("https://user:hunter2@127.0.0.1:1")
            .unwrap()
            .connect_timeout(Duration::from_millis(200))
    }

    #[tokio::test]
    async fn a_malformed_pin_is_refused_before_connecting() {
        for pin in ["nonsense", "AB:CD:EF", "SHA1:00"] {
            let err = unreachable().thumbprint(pin).http_transport().unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
            let err = unreachable().thumbprint(pin).connect().await.unwrap_err();
            let shown = err.to_string();
            assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
            assert!(
                shown.contains(&format!("malformed thumbprint {pin:?}")),
                "{shown}"
            );
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn setup_errors_name_their_cause() {
        let missing = std::env::temp_dir().join("vim25-no-such-dir/ca.pem");
        let err = unreachable()
            .tls(TlsPolicy::ExtraCaFile(missing.clone()))
            .http_transport()
            .unwrap_err();
        match &err {
            Error::Io { context, .. } => {
                assert!(context.contains(&missing.display().to_string()), "{err}")
            }
            other => panic!("expected Io, got {other:?}"),
        }
        let err = unreachable()
            .user_agent("vim25\nX-Injected: 1")
            .http_transport()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
        assert!(err.to_string().contains("user agent"), "{err}");
    }

    #[test]
    fn a_pin_or_ca_file_with_a_plain_http_url_is_refused() {
        let plain = || ClientBuilder::new("http://127.0.0.1:1/sdk").unwrap();
        let pin = "AB".repeat(32);
        let err = plain()
            .thumbprint(pin.clone())
            .http_transport()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("a pinned thumbprint was given for the plain-HTTP URL"),
            "{err}"
        );
        let err = plain()
            .tls(TlsPolicy::ExtraCaFile("/nonexistent/ca.pem".into()))
            .http_transport()
            .unwrap_err();
        assert!(err.to_string().contains("a CA file was given"), "{err}");
        // Nothing to check either way: plain HTTP alone, or insecure, stays allowed.
        plain().http_transport().unwrap();
        plain().insecure().http_transport().unwrap();
        unreachable().thumbprint(pin).http_transport().unwrap();
    }
}
