//! Recording what goes over the wire, with secrets masked.

use crate::meta::{DataTypeInfo, FieldInfo, MethodInfo};
use crate::soap::{BoxFuture, RawResponse, Request, StreamingResponse, Transport};
use crate::types::ManagedObjectReference;
use crate::{Error, Version};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, OnceLock};
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

    /// Whether whole exchanges are recorded.
    fn dumping(&self) -> bool {
        self.sink.is_some() || tracing::enabled!(target: "vim25::wire", tracing::Level::TRACE)
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
        if !self.dumping() {
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

    /// While exchanges are dumped (a sink, or `vim25::wire` at trace level) the body
    /// is read whole so that the record holds it; otherwise it is handed on as it
    /// arrives, and the exchange is logged (`vim25::transport`, debug) when its status
    /// has come.
    fn round_trip_streaming<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<StreamingResponse, Error>> {
        Box::pin(async move {
            if self.dumping() {
                return self
                    .round_trip(request, idempotent)
                    .await
                    .map(StreamingResponse::whole);
            }
            let started = Instant::now();
            let r = self.inner.round_trip_streaming(request, idempotent).await;
            tracing::debug!(
                target: "vim25::transport",
                operation = request.operation,
                object = %request.object,
                status = r.as_ref().ok().map(|r| r.status),
                streamed = true,
                ms = elapsed_ms(started),
                "exchange"
            );
            r
        })
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// Masks secrets in an XML body, for wire dumps. The content of these elements is
/// replaced by `***`, children included:
///
/// - every field and parameter the schema metadata marks secret
///   ([`FieldInfo::secret`](crate::meta::FieldInfo::secret): pyVmomi's flags and the
///   generator's rule, `HostConfigSpec.datastorePrincipalPasswd`, iSCSI CHAP secrets,
///   `UserSession.key`, `UploadClientCert`'s `privateKey`, …), found by following the
///   types from the operation's element and `xsi:type` down;
/// - the `returnval` of calls whose whole answer is a credential
///   ([`MethodInfo::returns_secret`](crate::meta::MethodInfo::returns_secret):
///   `AcquireCloneTicket`, the URL of `InitiateFileTransferToGuest`, which carries a
///   one-time ticket) and of the other `Acquire…Ticket`/`…Credential…` calls;
/// - wherever the type is unknown, names secret wherever the schema uses them
///   (`chapSecret`, `datastorePrincipalPasswd`) and names containing `password`,
///   `passwd`, `token`, `ticket`, `secret`, `privateKey` or `keyData`, `sessionId`,
///   `pwd` (under any namespace prefix);
/// - the `value` of a key/value pair (`OptionValue`) whose key names a secret:
///   `guestinfo.ovfEnv` (VIC keeps the secretbox key of its secret fields there) and
///   keys containing `password`, `passwd`, `secret`, `token`, `ticket` or key material;
/// - the `value` and `defaultValue` of a vApp property whose `type` is `password`,
///   whether `type` comes before or after them (pyVmomi flags both fields secret, so
///   inside a typed `VAppPropertyInfo` they are masked whatever the type).
///
/// Tags are read with quoted attributes, comments and CDATA in mind, and an element's
/// end is found by depth, so markup inside a secret cannot end the masking early. The
/// lookups are binary searches over the generated tables and two maps built once.
pub fn mask_secrets(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut open: Vec<Open<'_>> = Vec::new();
    let mut pos = 0;
    while let Some(tok) = next_tag(xml, pos) {
        let text = &xml[pos..tok.start];
        push_text(&mut out, text);
        out.push_str(&xml[tok.start..tok.end]);
        pos = tok.end;
        match tok.kind {
            Kind::Other | Kind::Open { empty: true, .. } => {}
            Kind::Close(name) => {
                open.pop();
                if local_name(name) == "key" && key_names_secret(text) {
                    if let Some(parent) = open.last_mut() {
                        parent.secret_pair = true;
                    }
                }
            }
            Kind::Open { name, empty: false } => {
                let local = local_name(name);
                let tag = &xml[tok.start..tok.end];
                let (declared_secret, scope) = child_of(open.last(), local, xsi_type(tag));
                let secret = declared_secret
                    || is_secret_name(local)
                    || match open.last_mut() {
                        Some(parent) => match local {
                            "value" if parent.secret_pair => true,
                            "value" | "defaultValue" => parent.password_typed(xml),
                            "returnval" => hands_out_secrets(parent.local),
                            _ => false,
                        },
                        None => false,
                    };
                open.push(Open {
                    local,
                    scope,
                    content: pos,
                    secret_pair: false,
                    password_typed: None,
                });
                if secret {
                    out.push_str("***");
                    pos = matching_end(xml, pos).unwrap_or(xml.len());
                }
            }
        }
    }
    push_text(&mut out, &xml[pos..]);
    out
}

/// Appends character data, with the session key of session-scoped object ids
/// (`session[KEY]ID`, where vcsim puts its session cookie) masked: `session[***]ID`.
fn push_text(out: &mut String, mut text: &str) {
    while let Some(at) = text.find("session[") {
        let (before, rest) = text.split_at(at + "session[".len());
        out.push_str(before);
        match rest.find(']') {
            Some(end) if end > 0 => {
                out.push_str("***");
                text = &rest[end..];
            }
            _ => text = rest,
        }
    }
    out.push_str(text);
}

/// An element being read.
struct Open<'a> {
    local: &'a str,
    /// What its children are.
    scope: Scope,
    /// Where its content starts (for the look-ahead of vApp properties).
    content: usize,
    /// A `key` child named a secret: the `value` after it is masked.
    secret_pair: bool,
    /// Whether a direct child is `<type>password</type>`, once looked up.
    password_typed: Option<bool>,
}

impl Open<'_> {
    /// Whether this element has a direct child `<type>password</type>`, before or
    /// after the current one. Looked up once per element, so a body is read at most
    /// twice however many values it has.
    fn password_typed(&mut self, xml: &str) -> bool {
        *self
            .password_typed
            .get_or_insert_with(|| has_password_type(xml, self.content))
    }
}

/// What the children of an element are, as far as the schema tells.
#[derive(Clone, Copy)]
enum Scope {
    /// Not known (the envelope, a fault's code, an `xsd:anyType` without `xsi:type`).
    Unknown,
    /// `soapenv:Body`: children are operation requests and responses.
    Body,
    /// An operation's request element: children are its parameters.
    Request(&'static MethodInfo),
    /// An operation's response element: its child is the `returnval`.
    Response(&'static MethodInfo),
    /// A data object of this type (or a subtype, when `xsi:type` says so).
    Data(&'static DataTypeInfo),
    /// An `ArrayOfX` value: children are X items.
    Array(&'static DataTypeInfo),
}

/// Whether a child element named `local` of `parent` is declared secret, and what
/// its own children are.
fn child_of(parent: Option<&Open<'_>>, local: &str, xsi_type: Option<&str>) -> (bool, Scope) {
    // A body without its envelope (a test, a replayed fragment) starts with the
    // operation's element.
    let parent_scope = parent.map_or(Scope::Body, |p| p.scope);
    let (secret, declared) = match parent_scope {
        Scope::Unknown | Scope::Body if local == "Body" => (false, Scope::Body),
        Scope::Body => match local.strip_suffix("Response") {
            Some(op) => (false, method(op).map_or(Scope::Unknown, Scope::Response)),
            None => (false, method(local).map_or(Scope::Unknown, Scope::Request)),
        },
        Scope::Request(m) => match m.params.iter().find(|p| p.name == local) {
            Some(p) => (p.secret, scope_of(p.type_name)),
            None => (false, Scope::Unknown),
        },
        Scope::Response(m) if local == "returnval" => {
            (m.returns_secret, m.returns.map_or(Scope::Unknown, scope_of))
        }
        Scope::Data(t) => match field(t, local) {
            Some(f) => (f.secret, scope_of(f.type_name)),
            None => (false, Scope::Unknown),
        },
        Scope::Array(item) => (false, Scope::Data(item)),
        Scope::Response(_) | Scope::Unknown => (false, Scope::Unknown),
    };
    // The runtime type wins over the declared one (a subtype, an anyType value); an
    // element named after a type (array items, fault details) is of that type.
    let scope = match xsi_type.map(scope_of) {
        Some(s @ (Scope::Data(_) | Scope::Array(_))) => s,
        _ => match declared {
            Scope::Unknown if local.starts_with(|c: char| c.is_ascii_uppercase()) => {
                data_type(local).map_or(Scope::Unknown, Scope::Data)
            }
            s => s,
        },
    };
    (secret, scope)
}

/// The scope of a value of the schema type `name` (`VirtualMachineConfigSpec`,
/// `ArrayOfOptionValue`, `xsd:string`, `vim25:UserSession`).
fn scope_of(name: &str) -> Scope {
    let name = local_name(name);
    match name.strip_prefix("ArrayOf") {
        Some(item) => data_type(item).map_or(Scope::Unknown, Scope::Array),
        None => data_type(name).map_or(Scope::Unknown, Scope::Data),
    }
}

/// A data object type by name (`DATA_TYPES` is sorted by name).
fn data_type(name: &str) -> Option<&'static DataTypeInfo> {
    let types = crate::meta::DATA_TYPES;
    types
        .binary_search_by(|t| t.name.cmp(name))
        .ok()
        .map(|i| &types[i])
}

/// A field of `t` or of one of its base types.
fn field(t: &'static DataTypeInfo, name: &str) -> Option<&'static FieldInfo> {
    let mut t = Some(t);
    while let Some(ty) = t {
        if let Some(f) = ty.fields.iter().find(|f| f.name == name) {
            return Some(f);
        }
        t = ty.parent.and_then(data_type);
    }
    None
}

/// An operation by wire name. `METHODS` is in WSDL order, so a map is built once.
fn method(name: &str) -> Option<&'static MethodInfo> {
    static BY_NAME: OnceLock<HashMap<&'static str, &'static MethodInfo>> = OnceLock::new();
    BY_NAME
        .get_or_init(|| crate::meta::METHODS.iter().map(|m| (m.name, m)).collect())
        .get(name)
        .copied()
}

/// Names the schema uses only for secrets (`chapSecret`, `datastorePrincipalPasswd`,
/// `vimAccountPassword`): masked even where the enclosing type is unknown. Names also
/// used for non-secrets (`key`, `value`, `url`, `id`) need their type to decide.
fn secret_everywhere(local: &str) -> bool {
    static NAMES: OnceLock<HashSet<&'static str>> = OnceLock::new();
    NAMES
        .get_or_init(|| {
            let fields = crate::meta::DATA_TYPES
                .iter()
                .flat_map(|t| t.fields)
                .chain(crate::meta::METHODS.iter().flat_map(|m| m.params));
            let mut secret = HashSet::new();
            let mut plain = HashSet::new();
            for f in fields {
                if f.secret {
                    secret.insert(f.name);
                } else {
                    plain.insert(f.name);
                }
            }
            secret.retain(|n| !plain.contains(n));
            secret
        })
        .contains(local)
}

/// The local name of an `xsi:type` attribute's value, if the tag has one. A plain
/// `type` attribute (`<_this type="VirtualMachine">`) is not one.
fn xsi_type(tag: &str) -> Option<&str> {
    let at = tag.find(":type=")?;
    let rest = &tag[at + ":type=".len()..];
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &rest[1..];
    let end = rest.find(quote)?;
    Some(local_name(&rest[..end]))
}

/// Whether the element whose content starts at `from` has a direct child
/// `<type>password</type>` (a vApp property holding a password).
fn has_password_type(xml: &str, from: usize) -> bool {
    let mut depth = 0usize;
    let mut pos = from;
    while let Some(tok) = next_tag(xml, pos) {
        match tok.kind {
            Kind::Open { name, empty: false } => {
                if depth == 0 && local_name(name) == "type" {
                    let end = matching_end(xml, tok.end).unwrap_or(xml.len());
                    // `password`, or with a length qualifier: `password(8..64)`.
                    if xml[tok.end..end].trim().starts_with("password") {
                        return true;
                    }
                    pos = next_tag(xml, end).map_or(xml.len(), |t| t.end);
                    continue;
                }
                depth += 1;
            }
            Kind::Close(_) => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
            }
            _ => {}
        }
        pos = tok.end;
    }
    false
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
    // The terminator is looked for after the opening: `<!-->` does not end itself.
    let other = |open: &str, close: &str| {
        rest[open.len()..].find(close).map(|i| Tag {
            start,
            end: start + open.len() + i + close.len(),
            kind: Kind::Other,
        })
    };
    for (open, close) in [("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>")] {
        if rest.starts_with(open) {
            return other(open, close);
        }
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
    if secret_everywhere(local) {
        return true;
    }
    let l = local.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "token",
        "ticket",
        "secret",
        "keydata",
        "privatekey",
    ]
    .iter()
    .any(|w| l.contains(w))
        || l == "sessionid"
        || l == "pwd"
}

/// Whether a key (of an option value) names a secret. `guestinfo.ovfEnv` holds the
/// OVF environment, where VIC keeps the key that seals its secret fields.
fn key_names_secret(key: &str) -> bool {
    let k = key.trim().to_ascii_lowercase();
    k == "guestinfo.ovfenv"
        || [
            "password",
            "passwd",
            "secret",
            "token",
            "ticket",
            "privatekey",
            "private_key",
            "keydata",
            "keymaterial",
        ]
        .iter()
        .any(|w| k.contains(w))
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
        // `<!-->` opens a comment that does not end there (found by the masker fuzz
        // target: the end tag inside was taken as the secret's and `s1` leaked).
        assert_eq!(
            mask_secrets("<token><!--></token>-->s1</token><n>1</n>"),
            "<token>***</token><n>1</n>"
        );
        assert_eq!(
            mask_secrets("<token><?></token>?>s1</token>"),
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

    fn envelope(body: &str) -> String {
        format!(
            "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>{body}\
             </soapenv:Body></soapenv:Envelope>"
        )
    }

    /// Secrets only the schema metadata knows: a parameter named `key`, a `returnval`
    /// that is a bare URL, a `url` field, the session `key` inside a property value.
    #[test]
    fn fields_the_schema_marks_secret_are_masked() {
        let req = envelope(
            "<ProvisionServerPrivateKey xmlns=\"urn:vim25\"><_this type=\"HostCertificateManager\">\
             certMgr</_this><key>-----BEGIN PRIVATE KEY-----abc</key></ProvisionServerPrivateKey>",
        );
        let m = mask_secrets(&req);
        assert!(m.contains("<key>***</key>"), "{m}");
        assert!(m.contains(">certMgr</_this>"), "{m}");

        let res = envelope(
            "<InitiateFileTransferToGuestResponse xmlns=\"urn:vim25\"><returnval>\
             https://esx/guestFile?id=7&amp;token=52-one-time</returnval>\
             </InitiateFileTransferToGuestResponse>",
        );
        assert!(!mask_secrets(&res).contains("52-one-time"));
        let res = envelope(
            "<InitiateFileTransferFromGuestResponse xmlns=\"urn:vim25\"><returnval>\
             <attributes xsi:type=\"GuestPosixFileAttributes\"><owner>0</owner></attributes>\
             <size>3</size><url>https://esx/guestFile?id=8&amp;token=53-one-time</url>\
             </returnval></InitiateFileTransferFromGuestResponse>",
        );
        let m = mask_secrets(&res);
        assert!(m.contains("<size>3</size><url>***</url>"), "{m}");

        let res = envelope(
            "<RetrievePropertiesExResponse xmlns=\"urn:vim25\"><returnval><objects>\
             <obj type=\"SessionManager\">SessionManager</obj>\
             <propSet><name>currentSession</name><val xsi:type=\"UserSession\">\
             <key>52aa-current</key><userName>root</userName></val></propSet>\
             <propSet><name>sessionList</name><val xsi:type=\"ArrayOfUserSession\">\
             <UserSession><key>52bb-other</key><userName>svc</userName></UserSession></val>\
             </propSet></objects></returnval></RetrievePropertiesExResponse>",
        );
        let m = mask_secrets(&res);
        assert!(
            !m.contains("52aa-current") && !m.contains("52bb-other"),
            "{m}"
        );
        assert!(m.contains("<userName>svc</userName>"), "{m}");

        // Unflagged by pyVmomi, caught by the generator's rule.
        let req = envelope(
            "<UpdateHostConfig xmlns=\"urn:vim25\"><config><datastorePrincipal>svc</datastorePrincipal>\
             <datastorePrincipalPasswd>nfs-pw</datastorePrincipalPasswd></config></UpdateHostConfig>",
        );
        let m = mask_secrets(&req);
        assert!(m.contains("<datastorePrincipalPasswd>***<"), "{m}");
        assert!(m.contains("<datastorePrincipal>svc<"), "{m}");

        // A `key` that is no secret stays readable.
        let req = envelope(
            "<SetField xmlns=\"urn:vim25\"><_this type=\"CustomFieldsManager\">cfm</_this>\
             <entity type=\"VirtualMachine\">vm-1</entity><key>101</key><value>web</value></SetField>",
        );
        assert_eq!(mask_secrets(&req), req);
    }

    #[test]
    fn secret_extra_config_and_vapp_passwords_are_masked() {
        let req = envelope(
            "<ReconfigVM_Task xmlns=\"urn:vim25\"><_this type=\"VirtualMachine\">vm-1</_this><spec>\
             <extraConfig><key>guestinfo.ovfEnv</key><value xsi:type=\"xsd:string\">c2VjcmV0Ym94</value></extraConfig>\
             <extraConfig><key>guestinfo.vice./registry/docker_key@secret</key><value xsi:type=\"xsd:string\">sealed</value></extraConfig>\
             <extraConfig><key>guestinfo.vice./common/name</key><value xsi:type=\"xsd:string\">vch-1</value></extraConfig>\
             <vAppConfig><property><operation>add</operation><info><key>1</key><id>pw</id>\
             <value>vapp-typed-pw</value><type>password</type></info></property></vAppConfig>\
             </spec></ReconfigVM_Task>",
        );
        let m = mask_secrets(&req);
        for secret in ["c2VjcmV0Ym94", "sealed", "vapp-typed-pw"] {
            assert!(!m.contains(secret), "{secret}: {m}");
        }
        assert!(m.contains("vch-1"), "{m}");

        // Where the type is unknown, the property's `type` decides, wherever it is.
        let untyped = "<info><key>1</key><value>after-pw</value><defaultValue>d-pw</defaultValue>\
                       <type>password(8..64)</type></info>\
                       <info><type>password</type><value>before-pw</value></info>\
                       <info><value>plain</value><type>string</type></info>";
        assert_eq!(
            mask_secrets(untyped),
            "<info><key>1</key><value>***</value><defaultValue>***</defaultValue>\
             <type>password(8..64)</type></info>\
             <info><type>password</type><value>***</value></info>\
             <info><value>plain</value><type>string</type></info>"
        );
    }

    #[test]
    fn session_keys_in_object_ids_are_masked() {
        assert_eq!(
            mask_secrets(
                "<DestroyView><_this type=\"ContainerView\">session[310cf5b4-c155]d97b1559</_this>\
                 </DestroyView><a>session[]x session[</a>"
            ),
            "<DestroyView><_this type=\"ContainerView\">session[***]d97b1559</_this>\
             </DestroyView><a>session[]x session[</a>"
        );
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
