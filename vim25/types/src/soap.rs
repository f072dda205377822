//! The SOAP layer: request envelopes, the transport seam, responses and faults.
//!
//! Every generated method in `vim25_core::methods` builds a [`Request`], hands it to a
//! [`Transport`] and decodes the `returnval` of the [`Response`]. The HTTP client is one
//! transport; tests and users can plug in their own (a replaying transport, a wrapper
//! that logs or retries).
//!
//! ```
//! use vim25_core::soap::{RawResponse, Request, Transport, BoxFuture};
//! use vim25_core::types::ManagedObjectReference;
//!
//! /// Answers every call with the same canned body.
//! struct Canned(&'static str);
//! impl Transport for Canned {
//!     fn version(&self) -> vim25_core::Version { vim25_core::Version::LATEST }
//!     fn round_trip<'a>(&'a self, _: &'a Request, _: bool)
//!         -> BoxFuture<'a, Result<RawResponse, vim25_core::Error>> {
//!         Box::pin(async move { Ok(RawResponse { status: 200, body: self.0.as_bytes().to_vec() }) })
//!     }
//! }
//! let t = Canned(r#"<Envelope><Body><CurrentTimeResponse xmlns="urn:vim25">
//!     <returnval>2026-11-23T12:00:00Z</returnval></CurrentTimeResponse></Body></Envelope>"#);
//! let si = ManagedObjectReference::new("ServiceInstance", "ServiceInstance");
//! let now = futures_lite_block_on(vim25_core::methods::current_time(&t, &si)).unwrap();
//! assert_eq!(now.as_str(), "2026-11-23T12:00:00Z");
//! # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let waker = std::task::Waker::noop();
//! #     let mut cx = std::task::Context::from_waker(&waker);
//! #     let mut f = std::pin::pin!(f);
//! #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! ```

use crate::types::{AnyMethodFault, ManagedObjectReference};
use crate::xml::{Decode, DecodeError, Decoder, Encode, Encoder, Start};
use crate::{Error, Version};
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future (what a [`Transport`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One SOAP request: the operation name and the whole envelope. The generated
/// methods build them; [`Request::new`] is for transports of your own and their tests.
#[derive(Clone)]
#[non_exhaustive]
pub struct Request {
    /// The operation (`RetrievePropertiesEx`).
    pub operation: &'static str,
    /// The envelope text.
    pub body: String,
    /// The API version the body was encoded for (sent in `SOAPAction`).
    pub version: Version,
    /// The object the call is made on (`_this`), for logs and tracing spans.
    pub object: ManagedObjectReference,
}

impl Request {
    /// A request for `operation` on `object`, with the envelope `body` encoded for
    /// `version`.
    pub fn new(
        operation: &'static str,
        object: ManagedObjectReference,
        body: String,
        version: Version,
    ) -> Self {
        Request {
            operation,
            body,
            version,
            object,
        }
    }
}

/// Builds the envelope of one request: `_this`, then the parameters in the order of
/// the schema. The generated methods use it; it is public for transports and tools
/// that send an operation the generated code does not cover.
///
/// ```
/// use vim25_core::soap::RequestWriter;
/// use vim25_core::types::ManagedObjectReference;
///
/// let si = ManagedObjectReference::new("ServiceInstance", "ServiceInstance");
/// let mut w = RequestWriter::new("CurrentTime", &si, vim25_core::Version::LATEST);
/// w.param_opt::<str>("unused", None);
/// let request = w.finish()?;
/// assert!(request.body.contains(r#"<CurrentTime xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></CurrentTime>"#));
/// # Ok::<(), vim25_core::Error>(())
/// ```
pub struct RequestWriter {
    enc: Encoder,
    operation: &'static str,
    this: ManagedObjectReference,
}

impl RequestWriter {
    /// Starts the envelope of `operation` on `this`, encoded for `version`.
    pub fn new(operation: &'static str, this: &ManagedObjectReference, version: Version) -> Self {
        let mut enc = Encoder::new(version);
        enc.push_raw(concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/""#,
            r#" xmlns:xsd="http://www.w3.org/2001/XMLSchema""#,
            r#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><"#
        ));
        enc.push_raw(operation);
        enc.push_raw(r#" xmlns="urn:vim25">"#);
        this.encode(&mut enc, "_this");
        RequestWriter {
            enc,
            operation,
            this: this.clone(),
        }
    }

    /// Writes a required parameter.
    pub fn param<T: Encode + ?Sized>(&mut self, name: &str, v: &T) {
        v.encode(&mut self.enc, name);
    }

    /// Writes an optional parameter when given.
    pub fn param_opt<T: Encode + ?Sized>(&mut self, name: &str, v: Option<&T>) {
        if let Some(v) = v {
            v.encode(&mut self.enc, name);
        }
    }

    /// Writes a repeated parameter.
    pub fn param_list<T: Encode>(&mut self, name: &str, v: &[T]) {
        self.enc.list(name, v);
    }

    /// Closes the envelope. Fails with [`Error::NotSupported`] when a value written is
    /// one the negotiated version does not know (an enum value newer than the server):
    /// sending it would make the server refuse the call or, worse, misread it.
    pub fn finish(mut self) -> Result<Request, Error> {
        if let Some(why) = self.enc.take_refusal() {
            return Err(Error::NotSupported(format!("{}: {why}", self.operation)));
        }
        self.enc.push_raw("</");
        self.enc.push_raw(self.operation);
        self.enc.push_raw("></soapenv:Body></soapenv:Envelope>");
        let version = self.enc.version();
        Ok(Request {
            operation: self.operation,
            body: self.enc.into_string(),
            version,
            object: self.this,
        })
    }
}

impl fmt::Debug for Request {
    // The body may hold passwords (Login) or session tokens: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("operation", &self.operation)
            .field("body_len", &self.body.len())
            .field("version", &self.version)
            .field("object", &self.object)
            .finish()
    }
}

/// What came back over the wire: HTTP status and body.
///
/// `Debug` shows the status and the body's length only: a body may hold a session
/// key (a login's answer), tickets or passwords read back from the server.
#[derive(Clone)]
pub struct RawResponse {
    /// HTTP status (200, or 500 with a SOAP fault).
    pub status: u16,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl fmt::Debug for RawResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawResponse")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The body of a response, read piece by piece as it arrives (see
/// [`Transport::round_trip_streaming`]).
pub trait BodyChunks: Send {
    /// The next piece of the body, or `None` at its end. A network failure, a timeout
    /// or a body over the transport's size limit is an error; after an error or the
    /// end, the body must not be read again.
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Vec<u8>>, Error>>;
}

/// A body already read whole: one piece, then the end.
struct WholeBody(Option<Vec<u8>>);

impl BodyChunks for WholeBody {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Vec<u8>>, Error>> {
        let piece = self.0.take().filter(|b| !b.is_empty());
        Box::pin(async move { Ok(piece) })
    }
}

/// A response whose body is still arriving: the HTTP status, and the body to read
/// piece by piece.
pub struct StreamingResponse {
    /// HTTP status (200, or 500 with a SOAP fault).
    pub status: u16,
    /// The body, read with [`BodyChunks::next_chunk`].
    pub body: Box<dyn BodyChunks>,
}

impl fmt::Debug for StreamingResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingResponse")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl StreamingResponse {
    /// A response whose body has been read whole already.
    pub fn whole(raw: RawResponse) -> Self {
        StreamingResponse {
            status: raw.status,
            body: Box::new(WholeBody(Some(raw.body))),
        }
    }

    /// Reads the rest of the body into a [`RawResponse`].
    pub async fn read_all(mut self) -> Result<RawResponse, Error> {
        let mut body = Vec::new();
        while let Some(piece) = self.body.next_chunk().await? {
            if body.is_empty() {
                body = piece;
            } else {
                body.extend_from_slice(&piece);
            }
        }
        Ok(RawResponse {
            status: self.status,
            body,
        })
    }
}

/// One SOAP round trip. Implementations: the HTTP client, test transports, wrappers.
pub trait Transport: Send + Sync {
    /// The API version requests are encoded for.
    fn version(&self) -> Version;
    /// Sends `request`; `idempotent` says whether the call may safely be sent again.
    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>>;

    /// Sends `request` and returns as soon as the status has arrived, with the body to
    /// read as it comes (the property collector decodes large retrievals this way,
    /// object by object, without holding the whole body). The default reads the whole
    /// body with [`Transport::round_trip`] first, so every transport can be used;
    /// the HTTP transport and the layers of the `vim25` crate hand the body on as it
    /// arrives. Retries and re-logins happen before the body is handed over: an error
    /// while reading it is the caller's.
    fn round_trip_streaming<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<StreamingResponse, Error>> {
        Box::pin(async move {
            self.round_trip(request, idempotent)
                .await
                .map(StreamingResponse::whole)
        })
    }
}

impl<T: Transport + ?Sized> Transport for std::sync::Arc<T> {
    fn version(&self) -> Version {
        (**self).version()
    }
    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        (**self).round_trip(request, idempotent)
    }
    fn round_trip_streaming<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<StreamingResponse, Error>> {
        (**self).round_trip_streaming(request, idempotent)
    }
}

/// Sends `request` through `transport`.
pub async fn invoke<T: Transport + ?Sized>(
    transport: &T,
    request: Request,
    idempotent: bool,
) -> Result<Response, Error> {
    let raw = transport.round_trip(&request, idempotent).await?;
    Ok(Response {
        operation: request.operation,
        raw,
    })
}

/// A SOAP fault: code, message and the typed `MethodFault` detail.
#[derive(Debug, Clone, PartialEq)]
pub struct SoapFault {
    /// `faultcode` (`ServerFaultCode`).
    pub code: String,
    /// `faultstring`, the server's message.
    pub message: String,
    /// The typed detail (`InvalidLogin`, `ManagedObjectNotFound`, …), if sent.
    pub detail: Option<AnyMethodFault>,
}

impl fmt::Display for SoapFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Some(d) => write!(f, "{}: {}", d.type_name(), self.message),
            None => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

impl SoapFault {
    fn decode<'a>(d: &mut Decoder<'a>, s: &Start<'a>) -> Result<SoapFault, DecodeError> {
        let mut fault = SoapFault {
            code: String::new(),
            message: String::new(),
            detail: None,
        };
        if s.is_empty() {
            return Ok(fault);
        }
        while let Some(c) = d.next_child()? {
            match c.name() {
                b"faultcode" => fault.code = String::decode(d, &c)?,
                b"faultstring" => fault.message = String::decode(d, &c)?,
                b"detail" if !c.is_empty() => {
                    while let Some(x) = d.next_child()? {
                        if fault.detail.is_some() {
                            d.skip(&x)?;
                            continue;
                        }
                        // `<InvalidLoginFault xsi:type="InvalidLogin">`; without
                        // xsi:type the element name tells the type.
                        let start = match x.xsi_type() {
                            Some(_) => x.clone(),
                            None => {
                                let n = std::str::from_utf8(x.name()).unwrap_or("");
                                x.with_xsi_type(n.strip_suffix("Fault").unwrap_or(n))
                            }
                        };
                        fault.detail = Some(AnyMethodFault::decode(d, &start)?);
                    }
                }
                _ => d.skip(&c)?,
            }
        }
        Ok(fault)
    }
}

/// A response whose `returnval` has yet to be decoded. `Debug` shows the operation,
/// the status and the body's length, never the body (see [`RawResponse`]).
pub struct Response {
    operation: &'static str,
    raw: RawResponse,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("operation", &self.operation)
            .field("status", &self.raw.status)
            .field("body_len", &self.raw.body.len())
            .finish()
    }
}

impl Response {
    /// A response to `operation` from what came over the wire.
    pub fn from_raw(operation: &'static str, raw: RawResponse) -> Self {
        Response { operation, raw }
    }

    /// The raw response.
    pub fn raw(&self) -> &RawResponse {
        &self.raw
    }

    fn walk<'a>(
        &'a self,
        each: impl FnMut(&mut Decoder<'a>, &Start<'a>) -> Result<(), DecodeError>,
    ) -> Result<(), Error> {
        walk_body(self.operation, self.raw.status, &self.raw.body, each)
    }

    /// Decodes each `returnval` element with `f` (for callers that decode into their own
    /// shapes, such as typed property-collector pages).
    pub fn returnval_with<'a>(
        &'a self,
        f: impl FnMut(&mut Decoder<'a>, &Start<'a>) -> Result<(), DecodeError>,
    ) -> Result<(), Error> {
        self.walk(f)
    }

    /// A required `returnval`.
    pub fn returnval_req<T: Decode>(self) -> Result<T, Error> {
        let operation = self.operation.to_string();
        self.returnval_opt()?.ok_or_else(|| Error::Decode {
            operation,
            source: DecodeError {
                message: "response has no returnval".into(),
                path: "Envelope/Body".into(),
                offset: 0,
            },
        })
    }

    /// An optional `returnval`.
    pub fn returnval_opt<T: Decode>(self) -> Result<Option<T>, Error> {
        let mut out = None;
        self.walk(|d, s| {
            out = Some(T::decode(d, s)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// A repeated `returnval`.
    pub fn returnval_list<T: Decode>(self) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        self.walk(|d, s| {
            out.push(T::decode(d, s)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// No `returnval` (the call succeeded unless a fault came back).
    pub fn returnval_unit(self) -> Result<(), Error> {
        self.walk(|d, s| d.skip(s))
    }
}

/// Walks a response envelope, calling `each` for every `returnval` element; a SOAP
/// fault becomes [`Error::Fault`], an unreadable non-200 answer [`Error::Http`].
fn walk_body<'a>(
    op: &'static str,
    status: u16,
    body: &'a [u8],
    mut each: impl FnMut(&mut Decoder<'a>, &Start<'a>) -> Result<(), DecodeError>,
) -> Result<(), Error> {
    let decode_err = |e: DecodeError| {
        if status == 200 {
            Error::Decode {
                operation: op.to_string(),
                source: e,
            }
        } else {
            Error::Http {
                operation: op.to_string(),
                status,
                message: snippet(body),
            }
        }
    };
    let mut d = Decoder::new(body);
    let env = match d.next_child().map_err(decode_err)? {
        Some(e) if e.name() == b"Envelope" => e,
        _ => return Err(decode_err(d.error("no SOAP Envelope"))),
    };
    let _ = env;
    while let Some(part) = d.next_child().map_err(decode_err)? {
        if part.name() != b"Body" {
            d.skip(&part).map_err(decode_err)?;
            continue;
        }
        while let Some(el) = d.next_child().map_err(decode_err)? {
            if el.name() == b"Fault" {
                let fault = SoapFault::decode(&mut d, &el).map_err(decode_err)?;
                return Err(Error::Fault {
                    operation: op.to_string(),
                    fault: Box::new(fault),
                });
            }
            if el.is_empty() {
                continue;
            }
            while let Some(rv) = d.next_child().map_err(decode_err)? {
                if rv.name() == b"returnval" {
                    each(&mut d, &rv).map_err(decode_err)?;
                } else {
                    d.skip(&rv).map_err(decode_err)?;
                }
            }
        }
    }
    if status != 200 {
        return Err(Error::Http {
            operation: op.to_string(),
            status,
            message: snippet(body),
        });
    }
    Ok(())
}

/// Decodes the optional `returnval` of a response body held elsewhere (no copy).
pub fn decode_returnval<T: Decode>(
    operation: &'static str,
    body: &[u8],
) -> Result<Option<T>, Error> {
    let mut out = None;
    walk_body(operation, 200, body, |d, s| {
        out = Some(T::decode(d, s)?);
        Ok(())
    })?;
    Ok(out)
}

/// The first bytes of a body, for error messages.
fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(200)]);
    s.trim().to_string()
}
