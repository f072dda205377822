//! Recording what goes over the wire, with secrets masked.

use crate::soap::{BoxFuture, RawResponse, Request, Transport};
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

/// Masks secrets in an XML body, for wire dumps. The content of these elements is
/// replaced by `***`, children included:
///
/// - field names containing `password`, `token`, `ticket` or `secret`, and
///   `sessionId`, `pwd`, `keyData` (under any namespace prefix);
/// - the `key` of a `UserSession` (a login's answer, `currentSession`, `sessionList`:
///   some servers use it as the session cookie);
/// - the `returnval` of calls that hand out tickets or credentials
///   (`AcquireCloneTicket`, `AcquireGenericServiceTicket`, …);
/// - the `value` of a key/value pair (`OptionValue`) whose key names a secret
///   (`guestinfo.password`).
///
/// Tags are read with quoted attributes, comments and CDATA in mind, and an element's
/// end is found by depth, so markup inside a secret cannot end the masking early.
pub fn mask_secrets(xml: &str) -> String {
    struct Open<'a> {
        local: &'a str,
        holds_session: bool,
        secret_pair: bool,
    }
    let mut out = String::with_capacity(xml.len());
    let mut open: Vec<Open<'_>> = Vec::new();
    let mut pos = 0;
    while let Some(tok) = next_tag(xml, pos) {
        let text = &xml[pos..tok.start];
        out.push_str(text);
        out.push_str(&xml[tok.start..tok.end]);
        pos = tok.end;
        match tok.kind {
            Kind::Other | Kind::Open { empty: true, .. } => {}
            Kind::Close(name) => {
                open.pop();
                if local_name(name) == "key" && names_secret(text) {
                    if let Some(parent) = open.last_mut() {
                        parent.secret_pair = true;
                    }
                }
            }
            Kind::Open { name, empty: false } => {
                let local = local_name(name);
                let parent = open.last();
                let secret = is_secret_name(local)
                    || (local == "key" && parent.is_some_and(|p| p.holds_session))
                    || (local == "value" && parent.is_some_and(|p| p.secret_pair))
                    || (local == "returnval" && parent.is_some_and(|p| hands_out_secrets(p.local)));
                if secret {
                    let end = matching_end(xml, pos).unwrap_or(xml.len());
                    out.push_str("***");
                    pos = end;
                    open.push(Open {
                        local,
                        holds_session: false,
                        secret_pair: false,
                    });
                    continue;
                }
                let tag = &xml[tok.start..tok.end];
                let holds_session = local == "UserSession"
                    || tag.contains("\"UserSession\"")
                    || (local == "returnval" && parent.is_some_and(|p| answers_login(p.local)));
                open.push(Open {
                    local,
                    holds_session,
                    secret_pair: false,
                });
            }
        }
    }
    out.push_str(&xml[pos..]);
    out
}

enum Kind<'a> {
    Open {
        name: &'a str,
        empty: bool,
    },
    Close(&'a str),
    /// A comment, CDATA section, processing instruction or declaration.
    Other,
}

struct Tag<'a> {
    start: usize,
    end: usize,
    kind: Kind<'a>,
}

/// The next markup from `from`: its span and kind. Unterminated markup ends the scan.
fn next_tag<'a>(xml: &'a str, from: usize) -> Option<Tag<'a>> {
    let start = from + xml[from..].find('<')?;
    let rest = &xml[start..];
    let other = |close: &str| {
        rest.find(close).map(|i| Tag {
            start,
            end: start + i + close.len(),
            kind: Kind::Other,
        })
    };
    if rest.starts_with("<!--") {
        return other("-->");
    }
    if rest.starts_with("<![CDATA[") {
        return other("]]>");
    }
    if rest.starts_with("<?") {
        return other("?>");
    }
    // The first `>` outside quotes ends the tag.
    let mut quote = None;
    let mut gt = None;
    for (i, c) in rest.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => {
                gt = Some(i);
                break;
            }
            _ => {}
        }
    }
    let gt = gt?;
    let inner = &rest[1..gt];
    let end = start + gt + 1;
    let name_of = |s: &'a str| -> &'a str {
        s.split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("")
    };
    let kind = if let Some(closing) = inner.strip_prefix('/') {
        Kind::Close(name_of(closing.trim()))
    } else if inner.starts_with('!') {
        Kind::Other
    } else {
        Kind::Open {
            name: name_of(inner),
            empty: inner.ends_with('/'),
        }
    };
    Some(Tag { start, end, kind })
}

/// The start of the end tag that closes the element whose content begins at `from`.
fn matching_end(xml: &str, from: usize) -> Option<usize> {
    let mut depth = 1usize;
    let mut pos = from;
    while let Some(tok) = next_tag(xml, pos) {
        match tok.kind {
            Kind::Open { empty: false, .. } => depth += 1,
            Kind::Close(_) => {
                depth -= 1;
                if depth == 0 {
                    return Some(tok.start);
                }
            }
            _ => {}
        }
        pos = tok.end;
    }
    None
}

fn local_name(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// Field names (lower camel case) that name secrets; operation and type elements
/// (`AcquireCloneTicket`, `UserSession`) are judged by their content instead.
fn is_secret_name(local: &str) -> bool {
    if !local.starts_with(|c: char| c.is_ascii_lowercase()) {
        return false;
    }
    let l = local.to_ascii_lowercase();
    ["password", "token", "ticket", "secret", "keydata"]
        .iter()
        .any(|w| l.contains(w))
        || l == "sessionid"
        || l == "pwd"
}

/// Whether a key (of an option value) names a secret.
fn names_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "passwd", "secret", "token", "ticket"]
        .iter()
        .any(|w| k.contains(w))
}

/// Whether an element is the response of a call that returns a `UserSession`.
fn answers_login(local: &str) -> bool {
    (local.starts_with("Login") && local.ends_with("Response"))
        || local == "ImpersonateUserResponse"
        || local == "CloneSessionResponse"
}

/// Whether an element is the response of a call whose whole answer is a ticket or
/// a credential.
fn hands_out_secrets(local: &str) -> bool {
    local.ends_with("Response")
        && local.starts_with("Acquire")
        && (local.contains("Ticket") || local.contains("Credential"))
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
             <LoginResponse><returnval><key>k1</key><userName>u</userName></returnval>\
             </LoginResponse><val xsi:type=\"UserSession\"><key>k2</key></val>\
             <VirtualDisk><key>2000</key></VirtualDisk>\
             <token>end",
        );
        assert_eq!(
            m,
            "<Login><userName>u</userName><password>***</password></Login>\
             <x:samlToken a=\"1\">***</x:samlToken><pwd/><sessionId>***</sessionId>\
             <password>***</password>\
             <LoginResponse><returnval><key>***</key><userName>u</userName></returnval>\
             </LoginResponse><val xsi:type=\"UserSession\"><key>***</key></val>\
             <VirtualDisk><key>2000</key></VirtualDisk>\
             <token>***"
        );
    }

    #[test]
    fn markup_cannot_end_the_masking_early() {
        // A `/>` inside a quoted attribute does not make the element empty.
        assert_eq!(
            mask_secrets(r#"<password a="/>">hunter2</password>"#),
            r#"<password a="/>">***</password>"#
        );
        // Nested elements, even with similar names, are inside the secret.
        assert_eq!(
            mask_secrets("<password><passwordX>a</passwordX>SECRET</password><n>1</n>"),
            "<password>***</password><n>1</n>"
        );
        // A comment or CDATA holding an end tag stays inside.
        assert_eq!(
            mask_secrets("<token><!-- </token> -->s1<![CDATA[</token>]]>s2</token>"),
            "<token>***</token>"
        );
    }

    #[test]
    fn tickets_and_secret_options_are_masked() {
        assert_eq!(
            mask_secrets(
                "<AcquireCloneTicketResponse><returnval>cst-1</returnval></AcquireCloneTicketResponse>\
                 <AcquireGenericServiceTicketResponse><returnval><id>t</id><hostName>h</hostName>\
                 </returnval></AcquireGenericServiceTicketResponse>\
                 <CloneSession><cloneTicket>cst-1</cloneTicket></CloneSession>\
                 <chapSecret>c</chapSecret><keyData>k</keyData>"
            ),
            "<AcquireCloneTicketResponse><returnval>***</returnval></AcquireCloneTicketResponse>\
             <AcquireGenericServiceTicketResponse><returnval>***</returnval>\
             </AcquireGenericServiceTicketResponse>\
             <CloneSession><cloneTicket>***</cloneTicket></CloneSession>\
             <chapSecret>***</chapSecret><keyData>***</keyData>"
        );
        assert_eq!(
            mask_secrets(
                "<extraConfig><key>guestinfo.rootPassword</key><value xsi:type=\"xsd:string\">pw</value></extraConfig>\
                 <extraConfig><key>guestinfo.name</key><value>web</value></extraConfig>"
            ),
            "<extraConfig><key>guestinfo.rootPassword</key><value xsi:type=\"xsd:string\">***</value></extraConfig>\
             <extraConfig><key>guestinfo.name</key><value>web</value></extraConfig>"
        );
        // Ordinary content is left alone, byte for byte.
        let plain = r#"<?xml version="1.0"?><a b='>'><!-- c --><d>e &amp; f</d><g/></a>"#;
        assert_eq!(mask_secrets(plain), plain);
    }

    #[test]
    fn any_input_is_handled() {
        for s in [
            "<",
            "<password",
            "<password>",
            "<a b=\"",
            "</>",
            "<<>>",
            "<password>x</",
            "\u{e9}<t\u{e9}>",
        ] {
            let _ = mask_secrets(s);
        }
    }
}
