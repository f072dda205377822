//! The bottom of the stack: one HTTP POST per SOAP call.

use super::tls;
use crate::runtime::{lock, Secret};
use crate::soap::{BodyChunks, BoxFuture, RawResponse, Request, StreamingResponse, Transport};
use crate::{service_versions, Error, Version};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// The HTTP transport (reqwest over rustls): posts each envelope to the SDK URL with
/// `SOAPAction: urn:vim25/<version>`, keeps the `vmware_soap_session` cookie, and
/// turns failures into typed errors (a TLS refusal shows the thumbprints the server
/// presented). Built by [`ClientBuilder::http_transport`](super::ClientBuilder::http_transport);
/// it does no retries, re-logins or logging: those are the layers of
/// [`crate::transport`].
pub struct HttpTransport {
    http: reqwest::Client,
    url: Url,
    version: AtomicUsize,
    cookie: Mutex<Option<Secret>>,
    presented: Arc<tls::Presented>,
    max_body: u64,
    request_timeout: Duration,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("url", &self.url.as_str())
            .field("version", &self.version())
            .field("has_session_cookie", &lock(&self.cookie).is_some())
            .finish_non_exhaustive()
    }
}

fn version_index(v: Version) -> usize {
    Version::ALL.iter().position(|x| *x == v).unwrap_or(0)
}

impl HttpTransport {
    pub(crate) fn new(
        http: reqwest::Client,
        url: Url,
        version: Version,
        cookie: Option<Secret>,
        presented: Arc<tls::Presented>,
        max_body: u64,
        request_timeout: Duration,
    ) -> Self {
        HttpTransport {
            http,
            url,
            version: AtomicUsize::new(version_index(version)),
            cookie: Mutex::new(cookie),
            presented,
            max_body,
            request_timeout,
        }
    }

    /// How long one request may take, body included.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The largest response body accepted, in bytes.
    pub fn max_response_bytes(&self) -> u64 {
        self.max_body
    }

    /// Reads a response body, refusing it as soon as it passes the limit (by its
    /// `Content-Length` before reading, else while reading).
    async fn body(&self, operation: &str, mut resp: reqwest::Response) -> Result<Vec<u8>, Error> {
        let too_large = || Error::TooLarge {
            operation: operation.to_string(),
            limit: self.max_body,
        };
        if resp.content_length().is_some_and(|n| n > self.max_body) {
            return Err(too_large());
        }
        let mut body = Vec::with_capacity(
            resp.content_length()
                .map_or(0, |n| n.min(64 << 20) as usize),
        );
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.map_err(operation, e))? {
            if body.len() as u64 + chunk.len() as u64 > self.max_body {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The SDK URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Encodes later requests for `v`.
    pub fn set_version(&self, v: Version) {
        self.version.store(version_index(v), Ordering::Relaxed);
    }

    /// The session cookie (`vmware_soap_session=…`), if the server set one. Treat it
    /// like a password.
    pub fn session_cookie(&self) -> Option<String> {
        lock(&self.cookie).as_ref().map(|s| s.0.clone())
    }

    /// Sends `cookie` from now on (`None`: no cookie, a fresh session).
    pub fn set_session_cookie(&self, cookie: Option<String>) {
        *lock(&self.cookie) = cookie.map(Secret);
    }

    /// The reqwest client (TLS policy, timeouts, pool), for transfers outside SOAP.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Picks the highest version both sides know, at most `cap`, from the list in
    /// `/sdk/vimServiceVersions.xml`, and encodes later requests for it. A server that
    /// lists only versions above `cap` gets `cap`: never more than the caller allows.
    ///
    /// A server without that list (an old one, or a proxy that forwards only SOAP
    /// posts) gives `None`: requests are then encoded for the oldest vim25 version
    /// (2.5) until the caller learns the real one from
    /// `ServiceContent.about.apiVersion`, as
    /// [`ClientBuilder::connect`](super::ClientBuilder::connect) does.
    /// `/sdk/vimService.wsdl` is read then to tell an old vSphere server (it imports
    /// `urn:vim25`) from something else, for the log.
    pub async fn negotiate(&self, cap: Version) -> Result<Option<Version>, Error> {
        const VERSIONS: &str = "vimServiceVersions.xml";
        const WSDL: &str = "vimService.wsdl";
        if let Ok(body) = self.fetch(VERSIONS).await? {
            if let Some(v) = service_versions::negotiate(&body, cap) {
                self.set_version(v);
                return Ok(Some(v));
            }
        }
        let wsdl =
            matches!(self.fetch(WSDL).await?, Ok(body) if service_versions::is_vim25_wsdl(&body));
        tracing::debug!(
            url = %self.url,
            vim25_wsdl = wsdl,
            "no {VERSIONS}: starting at API 2.5 until ServiceContent tells the version"
        );
        self.set_version(Version::V2_5.min(cap));
        Ok(None)
    }

    /// GETs a file beside the SDK URL: its body, or the status when not 2xx.
    async fn fetch(&self, file: &'static str) -> Result<Result<Vec<u8>, u16>, Error> {
        let mut url = self.url.clone();
        let path = format!("{}/{file}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| self.map_err(file, e))?;
        let status = resp.status();
        if !status.is_success() {
            return Ok(Err(status.as_u16()));
        }
        Ok(Ok(self.body(file, resp).await?))
    }

    async fn send(&self, request: &Request) -> Result<RawResponse, Error> {
        let (status, resp) = self.post(request).await?;
        let body = self.body(request.operation, resp).await?;
        Ok(RawResponse { status, body })
    }

    /// Sends `request` and hands the body on as it arrives, within the size limit.
    async fn send_streaming(&self, request: &Request) -> Result<StreamingResponse, Error> {
        let (status, resp) = self.post(request).await?;
        if resp.content_length().is_some_and(|n| n > self.max_body) {
            return Err(Error::TooLarge {
                operation: request.operation.to_string(),
                limit: self.max_body,
            });
        }
        Ok(StreamingResponse {
            status,
            body: Box::new(HttpBody {
                resp: Some(resp),
                operation: request.operation,
                read: 0,
                limit: self.max_body,
            }),
        })
    }

    /// Posts the envelope and returns the status and the response, its body unread
    /// (a redirect is an error; the session cookie it sets is kept).
    async fn post(&self, request: &Request) -> Result<(u16, reqwest::Response), Error> {
        let mut rb = self
            .http
            .post(self.url.clone())
            .header("Content-Type", "text/xml; charset=utf-8")
            .header(
                "SOAPAction",
                format!("urn:vim25/{}", request.version.as_str()),
            )
            .body(request.body.clone());
        let sent = lock(&self.cookie).clone();
        if let Some(c) = &sent {
            rb = rb.header("Cookie", c.0.clone());
        }
        let resp = rb
            .send()
            .await
            .map_err(|e| self.map_err(request.operation, e))?;
        let status = resp.status().as_u16();
        if resp.status().is_redirection() {
            let to = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("no Location given")
                .to_string();
            return Err(Error::Http {
                operation: request.operation.to_string(),
                status,
                message: format!(
                    "the server redirects to {to}; SOAP calls follow no redirect (the \
                     session cookie and the request would go along): connect to the SDK \
                     URL the server names instead"
                ),
            });
        }
        self.store_cookie(resp.headers(), sent.as_ref());
        Ok((status, resp))
    }

    /// Keeps the session cookie a response sets, unless another response has replaced
    /// the one this request was sent with in the meantime: a late answer to a call
    /// made with an expired session must not undo a re-login that happened since.
    fn store_cookie(&self, headers: &reqwest::header::HeaderMap, sent: Option<&Secret>) {
        for v in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            if let Some(pair) = session_cookie_pair(v) {
                update_cookie(&self.cookie, sent, pair);
            }
        }
    }

    fn map_err(&self, operation: &str, e: reqwest::Error) -> Error {
        if let Some(refusal) = lock(&self.presented.last).take() {
            return refusal.into();
        }
        network_error(operation, e)
    }
}

/// A reqwest failure as a timeout or a network error.
fn network_error(operation: &str, e: reqwest::Error) -> Error {
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

/// A response body read as it arrives, refused as soon as it passes the limit.
struct HttpBody {
    /// `None` after the end or an error.
    resp: Option<reqwest::Response>,
    operation: &'static str,
    read: u64,
    limit: u64,
}

impl BodyChunks for HttpBody {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Vec<u8>>, Error>> {
        Box::pin(async move {
            let Some(resp) = self.resp.as_mut() else {
                return Ok(None);
            };
            let piece = match resp.chunk().await {
                Ok(Some(piece)) => piece,
                Ok(None) => {
                    self.resp = None;
                    return Ok(None);
                }
                Err(e) => {
                    self.resp = None;
                    return Err(network_error(self.operation, e));
                }
            };
            self.read += piece.len() as u64;
            if self.read > self.limit {
                self.resp = None;
                return Err(Error::TooLarge {
                    operation: self.operation.to_string(),
                    limit: self.limit,
                });
            }
            Ok(Some(Vec::from(piece)))
        })
    }
}

impl Transport for HttpTransport {
    fn version(&self) -> Version {
        Version::ALL[self.version.load(Ordering::Relaxed)]
    }

    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        _idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        Box::pin(self.send(request))
    }

    fn round_trip_streaming<'a>(
        &'a self,
        request: &'a Request,
        _idempotent: bool,
    ) -> BoxFuture<'a, Result<StreamingResponse, Error>> {
        Box::pin(self.send_streaming(request))
    }
}

/// The `vmware_soap_session=…` pair of a `Set-Cookie` header value, if it sets that.
fn session_cookie_pair(set_cookie: &str) -> Option<&str> {
    let pair = set_cookie.split(';').next().unwrap_or("").trim();
    pair.starts_with("vmware_soap_session=").then_some(pair)
}

/// Stores `new` if the cookie is still the one the request was `sent` with.
fn update_cookie(cookie: &Mutex<Option<Secret>>, sent: Option<&Secret>, new: &str) {
    let mut current = lock(cookie);
    if current.as_ref() == sent {
        *current = Some(Secret(new.to_string()));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_response_does_not_replace_a_newer_cookie() {
        let jar = Mutex::new(Some(Secret("vmware_soap_session=old".into())));
        let old = Secret("vmware_soap_session=old".into());
        // The re-login's answer: sent with the old cookie, which is still current.
        update_cookie(&jar, Some(&old), "vmware_soap_session=new");
        assert_eq!(lock(&jar).as_ref().unwrap().0, "vmware_soap_session=new");
        // A late answer to a call sent with the old cookie: ignored.
        update_cookie(&jar, Some(&old), "vmware_soap_session=stray");
        assert_eq!(lock(&jar).as_ref().unwrap().0, "vmware_soap_session=new");
        // The first cookie of a fresh client.
        let jar = Mutex::new(None);
        update_cookie(&jar, None, "vmware_soap_session=first");
        assert_eq!(lock(&jar).as_ref().unwrap().0, "vmware_soap_session=first");
        assert_eq!(
            session_cookie_pair("vmware_soap_session=\"52a\"; Path=/; HttpOnly"),
            Some("vmware_soap_session=\"52a\"")
        );
        assert_eq!(session_cookie_pair("other=1; Path=/"), None);
    }
}
