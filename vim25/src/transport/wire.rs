//! Recording what goes over the wire, with secrets masked.

use super::{BoxFuture, RawResponse, Request, Transport};
use crate::types::ManagedObjectReference;
use crate::{Error, Version};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One exchange as [`WireLog`] reports it. Request and response bodies have the
/// content of secret elements (passwords, tokens, session ids) replaced by `***`.
#[derive(Debug, Clone)]
pub struct WireRecord<'a> {
    /// The operation (`RetrievePropertiesEx`).
    pub operation: &'a str,
    /// The object it was called on.
    pub object: &'a ManagedObjectReference,
    /// The request envelope, masked.
    pub request: &'a str,
    /// The HTTP status, when a response came.
    pub status: Option<u16>,
    /// The response body, masked (lossily decoded as UTF-8), when one came.
    pub response: Option<&'a str>,
    /// The error, when none came.
    pub error: Option<&'a Error>,
    /// Time from sending to the end of the response or the error.
    pub elapsed: Duration,
}

type Sink = Arc<dyn Fn(&WireRecord<'_>) + Send + Sync>;

/// Logs every exchange that passes through, bodies included, with secrets masked.
///
/// By default ([`WireLog::new`]) each exchange goes to `tracing` at trace level on the
/// target `vim25::wire` (bodies are only rendered when that level is enabled), with a
/// debug-level summary (operation, status, bytes, milliseconds) on `vim25::transport`.
/// [`WireLog::with_sink`] hands each [`WireRecord`] to a callback instead, for a
/// `-debug` flag that writes exchanges to files, say.
///
/// Place it right above the HTTP transport to see every attempt (retries included).
pub struct WireLog<T> {
    inner: T,
    sink: Option<Sink>,
}

impl<T> fmt::Debug for WireLog<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WireLog")
            .field(
                "sink",
                &if self.sink.is_some() {
                    "callback"
                } else {
                    "tracing"
                },
            )
            .finish_non_exhaustive()
    }
}

impl<T: Transport> WireLog<T> {
    /// Logs to `tracing` (target `vim25::wire`, trace level).
    pub fn new(inner: T) -> Self {
        WireLog { inner, sink: None }
    }

    /// Hands every exchange to `sink`.
    pub fn with_sink(inner: T, sink: impl Fn(&WireRecord<'_>) + Send + Sync + 'static) -> Self {
        WireLog {
            inner,
            sink: Some(Arc::new(sink)),
        }
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    fn report(&self, request: &Request, outcome: &Result<RawResponse, Error>, elapsed: Duration) {
        let (status, bytes) = match outcome {
            Ok(r) => (Some(r.status), r.body.len()),
            Err(_) => (None, 0),
        };
        tracing::debug!(
            target: "vim25::transport",
            operation = request.operation,
            object = %request.object,
            status,
            bytes,
            ms = elapsed.as_millis() as u64,
            "exchange"
        );
        let dump =
            self.sink.is_some() || tracing::enabled!(target: "vim25::wire", tracing::Level::TRACE);
        if !dump {
            return;
        }
        let masked_request = mask_secrets(&request.body);
        let masked_response = outcome
            .as_ref()
            .ok()
            .map(|r| mask_secrets(&String::from_utf8_lossy(&r.body)));
        let record = WireRecord {
            operation: request.operation,
            object: &request.object,
            request: &masked_request,
            status,
            response: masked_response.as_deref(),
            error: outcome.as_ref().err(),
            elapsed,
        };
        match &self.sink {
            Some(sink) => sink(&record),
            None => tracing::trace!(
                target: "vim25::wire",
                operation = record.operation,
                object = %record.object,
                status = record.status,
                request = record.request,
                response = record.response,
                error = record.error.map(tracing::field::display),
            ),
        }
    }
}

impl<T: Transport> Transport for WireLog<T> {
    fn version(&self) -> Version {
        self.inner.version()
    }

    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        Box::pin(async move {
            let started = Instant::now();
            let r = self.inner.round_trip(request, idempotent).await;
            self.report(request, &r, started.elapsed());
            r
        })
    }
}

/// Masks the content of elements that carry secrets (names containing `password` or
/// `token`, `sessionId`, `pwd`, under any namespace prefix), for wire dumps. Everything
/// up to the element's end tag is replaced, children included
/// (`<password><value>…</value></password>`, as in `CustomizationPassword`).
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
        let name = tag[1..]
            .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .next()
            .unwrap_or("");
        if name.is_empty() || tag.ends_with("/>") || !is_secret_name(name) {
            continue;
        }
        let close = format!("</{name}");
        let end = rest.find(&close).unwrap_or(rest.len());
        out.push_str("***");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn is_secret_name(name: &str) -> bool {
    let local = name.rsplit(':').next().unwrap_or("").to_ascii_lowercase();
    local.contains("password") || local.contains("token") || local == "sessionid" || local == "pwd"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        let m = mask_secrets(
            "<Login><userName>u</userName><password>hunter2</password></Login>\
             <x:samlToken a=\"1\">abc</x:samlToken><pwd/><sessionId>s1</sessionId>\
             <password><value>a<![CDATA[<b>]]></value><plainText>true</plainText></password>\
             <token>end",
        );
        assert_eq!(
            m,
            "<Login><userName>u</userName><password>***</password></Login>\
             <x:samlToken a=\"1\">***</x:samlToken><pwd/><sessionId>***</sessionId>\
             <password>***</password>\
             <token>***"
        );
    }
}
