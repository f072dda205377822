//! Recording and replaying SOAP exchanges, so code built on this crate can be unit-tested
//! without a server: record once against a real server (or the simulator), keep the
//! file beside the tests, replay it.
//!
//! ```
//! use vim25::replay::{Exchange, Replay};
//! use vim25::types::ManagedObjectReference;
//!
//! let replay = Replay::new(vec![Exchange::ok(
//!     "CurrentTime",
//!     r#"<Envelope><Body><CurrentTimeResponse><returnval>2026-11-23T12:00:00Z</returnval>
//!        </CurrentTimeResponse></Body></Envelope>"#,
//! )]);
//! let si = ManagedObjectReference::new("ServiceInstance", "ServiceInstance");
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let now = rt.block_on(vim25::methods::current_time(&replay, &si)).unwrap();
//! assert_eq!(now.as_str(), "2026-11-23T12:00:00Z");
//! assert!(replay.finished());
//! ```

use crate::runtime::lock;
use crate::soap::{BoxFuture, RawResponse, Request, Transport};
use crate::{Error, Version};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;

/// One recorded call: the operation and what the server answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// The operation (`RetrievePropertiesEx`).
    pub operation: String,
    /// HTTP status.
    pub status: u16,
    /// Response body.
    pub body: Vec<u8>,
}

impl Exchange {
    /// A 200 answer to `operation`.
    pub fn ok(operation: &str, body: &str) -> Self {
        Exchange {
            operation: operation.into(),
            status: 200,
            body: body.as_bytes().to_vec(),
        }
    }
}

/// Serves recorded exchanges in order; a call for another operation than the next
/// recorded one is an error naming both.
pub struct Replay {
    version: Version,
    queue: Mutex<VecDeque<Exchange>>,
}

impl Replay {
    /// Replays `exchanges` at the newest API version.
    pub fn new(exchanges: Vec<Exchange>) -> Self {
        Replay {
            version: Version::LATEST,
            queue: Mutex::new(exchanges.into()),
        }
    }

    /// Encodes requests for `v` (as if negotiated with an older server).
    pub fn with_version(mut self, v: Version) -> Self {
        self.version = v;
        self
    }

    /// Loads a recording written by [`Recorder::save`]: [`Error::Io`] when the file
    /// cannot be read, [`Error::InvalidInput`] when it is not a recording.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::io(format!("cannot read recording {}", path.display()), e))?;
        Replay::from_bytes(&bytes).map_err(|e| match e {
            Error::InvalidInput(m) => Error::InvalidInput(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Replays a recording held in memory (the bytes of a file written by
    /// [`Recorder::save`], see [`read_recording`]): [`Error::InvalidInput`] when they
    /// are not a recording. Any bytes are safe to pass: a hostile header is an
    /// error, never a panic or a huge allocation.
    ///
    /// ```
    /// use vim25::replay::Replay;
    ///
    /// let replay = Replay::from_bytes(b"CurrentTime 200 5\n<x/>\n\n").unwrap();
    /// assert!(!replay.finished());
    /// assert!(Replay::from_bytes(b"CurrentTime 200 999\nshort\n").is_err());
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        Ok(Replay::new(read_recording(bytes)?))
    }

    /// Whether every recorded exchange was used.
    pub fn finished(&self) -> bool {
        lock(&self.queue).is_empty()
    }
}

impl Transport for Replay {
    fn version(&self) -> Version {
        self.version
    }
    fn round_trip<'a>(
        &'a self,
        r: &'a Request,
        _: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        let next = lock(&self.queue).pop_front();
        Box::pin(async move {
            match next {
                Some(x) if x.operation == r.operation => Ok(RawResponse {
                    status: x.status,
                    body: x.body,
                }),
                Some(x) => Err(Error::InvalidInput(format!(
                    "replay: {} called where the recording has {}",
                    r.operation, x.operation
                ))),
                None => Err(Error::InvalidInput(format!(
                    "replay: {} called after the recording ended",
                    r.operation
                ))),
            }
        })
    }
}

/// Wraps a transport and records every exchange that passes through it.
pub struct Recorder<T> {
    inner: T,
    log: Mutex<Vec<Exchange>>,
}

impl<T: Transport> Recorder<T> {
    /// Records what passes through `inner`.
    pub fn new(inner: T) -> Self {
        Recorder {
            inner,
            log: Mutex::new(Vec::new()),
        }
    }

    /// The exchanges so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.log).clone()
    }

    /// Writes the recording to `path` (one header line per exchange,
    /// `<operation> <status> <length>`, then the body bytes). Responses can hold
    /// session data: keep recordings from real systems out of public places.
    /// [`Error::Io`] when the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let out = write_recording(&lock(&self.log));
        std::fs::write(path, out)
            .map_err(|e| Error::io(format!("cannot write recording {}", path.display()), e))
    }
}

/// The exchanges of a recording (the format [`Recorder::save`] writes: per exchange
/// a header line `<operation> <status> <length>`, the body, an end of line).
/// [`Error::InvalidInput`] saying what is wrong when `bytes` are not a recording.
pub fn read_recording(bytes: &[u8]) -> Result<Vec<Exchange>, Error> {
    parse_recording(bytes).map_err(Error::InvalidInput)
}

/// `exchanges` as a recording, which [`read_recording`] reads back. An operation
/// holding a space or an end of line cannot be written so that it reads back
/// (operations are names: they never do).
pub fn write_recording(exchanges: &[Exchange]) -> Vec<u8> {
    let mut out = Vec::new();
    for x in exchanges {
        out.extend_from_slice(
            format!("{} {} {}\n", x.operation, x.status, x.body.len()).as_bytes(),
        );
        out.extend_from_slice(&x.body);
        out.push(b'\n');
    }
    out
}

fn parse_recording(mut b: &[u8]) -> Result<Vec<Exchange>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let nl = b
            .iter()
            .position(|&c| c == b'\n')
            .ok_or("header without end of line")?;
        let header = std::str::from_utf8(&b[..nl]).map_err(|_| "header is not UTF-8")?;
        let mut parts = header.split(' ');
        let (Some(op), Some(status), Some(len), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("bad header {header:?}"));
        };
        let status: u16 = status
            .parse()
            .map_err(|_| format!("bad status in {header:?}"))?;
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad length in {header:?}"))?;
        let rest = &b[nl + 1..];
        // `len` comes from the file: compared without `len + 1`, which a length of
        // usize::MAX would overflow.
        if rest.len() <= len {
            return Err(format!("recording ends inside the body of {op}"));
        }
        if rest[len] != b'\n' {
            return Err(format!(
                "the body of {op} is not followed by an end of line (wrong length in {header:?}?)"
            ));
        }
        out.push(Exchange {
            operation: op.to_string(),
            status,
            body: rest[..len].to_vec(),
        });
        b = &rest[len + 1..];
    }
    Ok(out)
}

impl<T: Transport> Transport for Recorder<T> {
    fn version(&self) -> Version {
        self.inner.version()
    }
    fn round_trip<'a>(
        &'a self,
        r: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        Box::pin(async move {
            let resp = self.inner.round_trip(r, idempotent).await?;
            lock(&self.log).push(Exchange {
                operation: r.operation.to_string(),
                status: resp.status,
                body: resp.body.clone(),
            });
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_parse_back() {
        let xs = vec![
            Exchange::ok("A", "<x>\n</x>"),
            Exchange {
                operation: "B".into(),
                status: 500,
                body: b"".to_vec(),
            },
        ];
        let mut text = Vec::new();
        for x in &xs {
            text.extend_from_slice(
                format!("{} {} {}\n", x.operation, x.status, x.body.len()).as_bytes(),
            );
            text.extend_from_slice(&x.body);
            text.push(b'\n');
        }
        assert_eq!(parse_recording(&text).unwrap(), xs);
        assert!(parse_recording(b"A 200 99\nshort\n").is_err());
        assert!(parse_recording(b"A x 1\nz\n").is_err());
    }

    #[test]
    fn hostile_headers_are_errors_not_panics() {
        for (text, says) in [
            (
                &b"A 200 18446744073709551615\nz\n"[..],
                "ends inside the body",
            ),
            (b"A 200 99999999999999999999999\n", "bad length"),
            (b"A 200 -1\n\n", "bad length"),
            (b"A 99999 0\n\n", "bad status"),
            (b"A 200 1\nxy", "not followed by an end of line"),
            (b"A 200\n", "bad header"),
            (b"A 200 0 extra\n\n", "bad header"),
            (b"\xff 200 0\n\n", "not UTF-8"),
            (b"A 200 0", "without end of line"),
        ] {
            let e = parse_recording(text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
