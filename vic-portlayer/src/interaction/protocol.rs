//! The byte protocol on a containerVM's serial connection: the [`Frame`]s, a pure
//! encoder ([`encode`]) and decoder ([`decode`]) over byte slices, and async
//! helpers over [`AsyncRead`]/[`AsyncWrite`] ([`FrameReader`], [`write_frame`]).
//!
//! The layout of every frame is in the [interaction module docs](super#the-byte-protocol).
//! Nothing here allocates more than [`MAX_FRAME`] bytes for one frame, whatever a
//! peer claims in a length field.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::ContainerId;

/// The protocol version this crate speaks (the highest it accepts in a hello).
pub const VERSION: u8 = 1;

/// The four bytes a hello payload starts with.
pub const MAGIC: [u8; 4] = *b"VICI";

/// Bytes before a frame's session ID: type (1), session ID length (1), payload
/// length (4, big-endian).
pub const HEADER_LEN: usize = 6;

/// The largest payload a frame may carry (64 KiB). Longer output or input is sent
/// as several frames.
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// The longest session ID (its length is one byte).
pub const MAX_SESSION_LEN: usize = 255;

/// The longest a frame can be: header, longest session ID, largest payload.
pub const MAX_FRAME: usize = HEADER_LEN + MAX_SESSION_LEN + MAX_PAYLOAD;

/// The longest signal name in a [`kind::SIGNAL`] frame.
pub const MAX_SIGNAL_LEN: usize = 32;

/// The length of a hello payload: magic, version, 64-digit container ID.
pub const HELLO_LEN: usize = 4 + 1 + 64;

/// The frame type bytes.
pub mod kind {
    /// Guest → control plane: the first frame of a connection.
    pub const HELLO: u8 = 0x01;
    /// Guest → control plane: bytes the session wrote to its standard output.
    pub const STDOUT: u8 = 0x02;
    /// Guest → control plane: bytes the session wrote to its standard error.
    pub const STDERR: u8 = 0x03;
    /// Guest → control plane: the session's process ended, with its status.
    pub const EXIT: u8 = 0x04;
    /// Control plane → guest: the answer to a hello.
    pub const WELCOME: u8 = 0x41;
    /// Control plane → guest: bytes for the session's standard input.
    pub const STDIN: u8 = 0x42;
    /// Control plane → guest: close the session's standard input.
    pub const CLOSE_STDIN: u8 = 0x43;
    /// Control plane → guest: the session's terminal has a new size.
    pub const RESIZE: u8 = 0x44;
    /// Control plane → guest: send a signal to the session's process.
    pub const SIGNAL: u8 = 0x45;
    /// Either way: nothing; keeps idle connections (and the NAT state on the way)
    /// alive.
    pub const KEEPALIVE: u8 = 0x7f;
}

/// One frame of the serial protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The guest names its container and the highest protocol version it speaks.
    Hello {
        /// The highest version the guest speaks (at least 1).
        version: u8,
        /// The container the guest runs.
        container: ContainerId,
    },
    /// The control plane accepts the guest, naming the version both now speak.
    Welcome {
        /// The version in use on this connection.
        version: u8,
    },
    /// Standard output of a session.
    Stdout {
        /// The session.
        session: String,
        /// The bytes, as written.
        data: Bytes,
    },
    /// Standard error of a session.
    Stderr {
        /// The session.
        session: String,
        /// The bytes, as written.
        data: Bytes,
    },
    /// A session's process ended.
    Exit {
        /// The session.
        session: String,
        /// Its exit status (the shell's convention: 128 + n after signal n).
        status: i32,
    },
    /// Input for a session.
    Stdin {
        /// The session.
        session: String,
        /// The bytes.
        data: Bytes,
    },
    /// End of a session's input.
    CloseStdin {
        /// The session.
        session: String,
    },
    /// A session's terminal size.
    Resize {
        /// The session.
        session: String,
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// A signal for a session's process, by name (`TERM`, `SIGKILL`, `9`).
    Signal {
        /// The session.
        session: String,
        /// The signal's name or number.
        signal: String,
    },
    /// Nothing; its payload (normally empty) is ignored.
    KeepAlive,
    /// A frame of a type this version does not know. It was skipped whole (its
    /// length is explicit); the receiver ignores it.
    Unknown {
        /// Its type byte.
        kind: u8,
        /// Its total length in bytes, header included.
        len: usize,
    },
}

impl Frame {
    /// The frame's type byte.
    pub fn kind(&self) -> u8 {
        match self {
            Frame::Hello { .. } => kind::HELLO,
            Frame::Welcome { .. } => kind::WELCOME,
            Frame::Stdout { .. } => kind::STDOUT,
            Frame::Stderr { .. } => kind::STDERR,
            Frame::Exit { .. } => kind::EXIT,
            Frame::Stdin { .. } => kind::STDIN,
            Frame::CloseStdin { .. } => kind::CLOSE_STDIN,
            Frame::Resize { .. } => kind::RESIZE,
            Frame::Signal { .. } => kind::SIGNAL,
            Frame::KeepAlive => kind::KEEPALIVE,
            Frame::Unknown { kind, .. } => *kind,
        }
    }

    /// The session the frame is about, for frames that name one.
    pub fn session(&self) -> Option<&str> {
        match self {
            Frame::Stdout { session, .. }
            | Frame::Stderr { session, .. }
            | Frame::Exit { session, .. }
            | Frame::Stdin { session, .. }
            | Frame::CloseStdin { session }
            | Frame::Resize { session, .. }
            | Frame::Signal { session, .. } => Some(session),
            _ => None,
        }
    }
}

/// Why bytes are not a valid frame, or a connection failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Type byte 0 is reserved, so that zero-filled input is refused at once.
    #[error("frame type 0 is reserved (zero bytes are not a frame)")]
    ReservedType,
    /// A length field beyond the limits ([`MAX_PAYLOAD`]).
    #[error("frame type {kind:#04x}: payload of {len} bytes exceeds the limit of {max}")]
    Oversize {
        /// The frame's type byte.
        kind: u8,
        /// The length it claims.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A frame of a known type whose session ID or payload is not as specified.
    #[error("frame type {kind:#04x}: {message}")]
    Malformed {
        /// The frame's type byte.
        kind: u8,
        /// What is wrong.
        message: String,
    },
    /// The connection ended inside a frame.
    #[error("the connection ended inside a frame ({buffered} bytes of it received)")]
    Truncated {
        /// How many bytes of the frame had arrived.
        buffered: usize,
    },
    /// Reading or writing the connection failed.
    #[error("serial connection: {0}")]
    Io(#[from] std::io::Error),
}

impl From<ProtocolError> for crate::Error {
    fn from(e: ProtocolError) -> Self {
        match e {
            ProtocolError::Io(source) => crate::Error::io("serial connection", source),
            other => crate::Error::Corrupt {
                what: "serial frame".into(),
                message: other.to_string(),
            },
        }
    }
}

fn malformed(kind: u8, message: impl Into<String>) -> ProtocolError {
    ProtocolError::Malformed {
        kind,
        message: message.into(),
    }
}

/// Whether `s` is a valid session ID on the wire: 1 to 255 bytes, each a
/// printable ASCII character other than space (0x21–0x7e).
pub fn is_valid_session(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SESSION_LEN && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Whether `s` is a valid signal name on the wire: 1 to 32 ASCII letters, digits,
/// `+`, `-` or `_`.
pub fn is_valid_signal(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SIGNAL_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'_')
}

/// Whether frames of type `k` carry a session ID (known types only).
fn has_session(k: u8) -> Option<bool> {
    match k {
        kind::HELLO | kind::WELCOME | kind::KEEPALIVE => Some(false),
        kind::STDOUT
        | kind::STDERR
        | kind::EXIT
        | kind::STDIN
        | kind::CLOSE_STDIN
        | kind::RESIZE
        | kind::SIGNAL => Some(true),
        _ => None,
    }
}

/// Decodes the first frame in `buf`.
///
/// Returns `Ok(None)` when `buf` holds only part of a frame (read more and call
/// again with the longer buffer), or the frame and how many bytes of `buf` it
/// took. An oversize length or a reserved type is refused as soon as the header
/// has arrived, before its body. A frame of an unknown type decodes as
/// [`Frame::Unknown`] (skip it). Errors leave the stream unusable: the peer and
/// this side no longer agree where frames start.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let Some(&k) = buf.first() else {
        return Ok(None);
    };
    if k == 0 {
        return Err(ProtocolError::ReservedType);
    }
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let slen = usize::from(buf[1]);
    let plen = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]);
    let plen = usize::try_from(plen).unwrap_or(usize::MAX);
    if plen > MAX_PAYLOAD {
        return Err(ProtocolError::Oversize {
            kind: k,
            len: plen,
            max: MAX_PAYLOAD,
        });
    }
    let total = HEADER_LEN + slen + plen;
    if buf.len() < total {
        return Ok(None);
    }
    let sid = &buf[HEADER_LEN..HEADER_LEN + slen];
    let payload = &buf[HEADER_LEN + slen..total];
    let Some(with_session) = has_session(k) else {
        return Ok(Some((
            Frame::Unknown {
                kind: k,
                len: total,
            },
            total,
        )));
    };
    let session = if with_session {
        let s = std::str::from_utf8(sid)
            .ok()
            .filter(|s| is_valid_session(s))
            .ok_or_else(|| {
                malformed(
                    k,
                    "session ID must be 1 to 255 printable ASCII characters without spaces",
                )
            })?;
        s.to_string()
    } else {
        if slen != 0 {
            return Err(malformed(k, "this frame type carries no session ID"));
        }
        String::new()
    };
    let frame = match k {
        kind::HELLO => decode_hello(payload)?,
        kind::WELCOME => match payload {
            [v] if *v >= 1 => Frame::Welcome { version: *v },
            _ => {
                return Err(malformed(
                    k,
                    "payload must be one version byte of at least 1",
                ))
            }
        },
        kind::STDOUT => Frame::Stdout {
            session,
            data: Bytes::copy_from_slice(payload),
        },
        kind::STDERR => Frame::Stderr {
            session,
            data: Bytes::copy_from_slice(payload),
        },
        kind::STDIN => Frame::Stdin {
            session,
            data: Bytes::copy_from_slice(payload),
        },
        kind::EXIT => match <[u8; 4]>::try_from(payload) {
            Ok(b) => Frame::Exit {
                session,
                status: i32::from_be_bytes(b),
            },
            Err(_) => return Err(malformed(k, "payload must be a 4-byte status")),
        },
        kind::CLOSE_STDIN => {
            if !payload.is_empty() {
                return Err(malformed(k, "payload must be empty"));
            }
            Frame::CloseStdin { session }
        }
        kind::RESIZE => match payload {
            [c0, c1, r0, r1] => Frame::Resize {
                session,
                cols: u16::from_be_bytes([*c0, *c1]),
                rows: u16::from_be_bytes([*r0, *r1]),
            },
            _ => return Err(malformed(k, "payload must be 4 bytes: columns, rows")),
        },
        kind::SIGNAL => {
            let signal = std::str::from_utf8(payload)
                .ok()
                .filter(|s| is_valid_signal(s))
                .ok_or_else(|| {
                    malformed(
                        k,
                        "signal must be 1 to 32 ASCII letters, digits, '+', '-', '_'",
                    )
                })?;
            Frame::Signal {
                session,
                signal: signal.to_string(),
            }
        }
        // A keep-alive's payload is ignored (it may pad a probe).
        _ => Frame::KeepAlive,
    };
    Ok(Some((frame, total)))
}

fn decode_hello(payload: &[u8]) -> Result<Frame, ProtocolError> {
    let k = kind::HELLO;
    if payload.len() != HELLO_LEN {
        return Err(malformed(
            k,
            format!("payload must be {HELLO_LEN} bytes, not {}", payload.len()),
        ));
    }
    if payload[..4] != MAGIC {
        return Err(malformed(k, "payload does not start with \"VICI\""));
    }
    let version = payload[4];
    if version == 0 {
        return Err(malformed(k, "version 0 does not exist"));
    }
    let container = std::str::from_utf8(&payload[5..])
        .ok()
        .and_then(|s| s.parse::<ContainerId>().ok())
        .ok_or_else(|| malformed(k, "container ID must be 64 lower-case hex digits"))?;
    Ok(Frame::Hello { version, container })
}

/// Appends a frame with any type byte, session ID and payload to `out`, checking
/// only the lengths: for frame types a newer peer knows, and for tests that send
/// what [`encode`] refuses to build.
pub fn encode_raw(
    kind: u8,
    session: &[u8],
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ProtocolError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(ProtocolError::Oversize {
            kind,
            len: payload.len(),
            max: MAX_PAYLOAD,
        });
    }
    let slen = u8::try_from(session.len())
        .map_err(|_| malformed(kind, "session ID longer than 255 bytes"))?;
    // Lossless: payload.len() <= MAX_PAYLOAD < u32::MAX.
    let plen = payload.len() as u32;
    out.reserve(HEADER_LEN + session.len() + payload.len());
    out.push(kind);
    out.push(slen);
    out.extend_from_slice(&plen.to_be_bytes());
    out.extend_from_slice(session);
    out.extend_from_slice(payload);
    Ok(())
}

/// Appends `frame` to `out`. Refused (nothing appended): a session ID or signal
/// name that is not valid on the wire, a payload over [`MAX_PAYLOAD`], version 0,
/// and [`Frame::Unknown`] (which stands for bytes that were skipped, not for a
/// frame to send).
pub fn encode(frame: &Frame, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
    let k = frame.kind();
    if let Some(s) = frame.session() {
        if !is_valid_session(s) {
            return Err(malformed(
                k,
                "session ID must be 1 to 255 printable ASCII characters without spaces",
            ));
        }
    }
    let sid = frame.session().unwrap_or("").as_bytes();
    match frame {
        Frame::Hello { version, container } => {
            if *version == 0 {
                return Err(malformed(k, "version 0 does not exist"));
            }
            let mut p = Vec::with_capacity(HELLO_LEN);
            p.extend_from_slice(&MAGIC);
            p.push(*version);
            p.extend_from_slice(container.as_str().as_bytes());
            encode_raw(k, b"", &p, out)
        }
        Frame::Welcome { version } => {
            if *version == 0 {
                return Err(malformed(k, "version 0 does not exist"));
            }
            encode_raw(k, b"", &[*version], out)
        }
        Frame::Stdout { data, .. } | Frame::Stderr { data, .. } | Frame::Stdin { data, .. } => {
            encode_raw(k, sid, data, out)
        }
        Frame::Exit { status, .. } => encode_raw(k, sid, &status.to_be_bytes(), out),
        Frame::CloseStdin { .. } => encode_raw(k, sid, b"", out),
        Frame::Resize { cols, rows, .. } => {
            let mut p = [0u8; 4];
            p[..2].copy_from_slice(&cols.to_be_bytes());
            p[2..].copy_from_slice(&rows.to_be_bytes());
            encode_raw(k, sid, &p, out)
        }
        Frame::Signal { signal, .. } => {
            if !is_valid_signal(signal) {
                return Err(malformed(
                    k,
                    "signal must be 1 to 32 ASCII letters, digits, '+', '-', '_'",
                ));
            }
            encode_raw(k, sid, signal.as_bytes(), out)
        }
        Frame::KeepAlive => encode_raw(k, b"", b"", out),
        Frame::Unknown { .. } => Err(malformed(k, "an unknown frame cannot be encoded")),
    }
}

/// `frame` encoded into a new buffer (see [`encode`]).
pub fn encode_to_vec(frame: &Frame) -> Result<Vec<u8>, ProtocolError> {
    let mut out = Vec::new();
    encode(frame, &mut out)?;
    Ok(out)
}

/// Reads frames from a byte stream, keeping what arrived beyond the current frame
/// for the next. [`FrameReader::next_frame`] is cancel-safe: dropping its future
/// (in a `select!`) loses no bytes.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader over `inner`.
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(8 * 1024),
        }
    }

    /// The next frame, or `None` when the stream ended cleanly between frames.
    /// Unknown frame types come back as [`Frame::Unknown`]; skip them.
    pub async fn next_frame(&mut self) -> Result<Option<Frame>, ProtocolError> {
        loop {
            if let Some((frame, used)) = decode(&self.buf)? {
                self.buf.advance(used);
                return Ok(Some(frame));
            }
            // decode() has refused any header announcing more than MAX_FRAME, so
            // the buffer stays below MAX_FRAME plus one read.
            if self.buf.capacity() - self.buf.len() < 4 * 1024 {
                self.buf.reserve(8 * 1024);
            }
            let n = self.inner.read_buf(&mut self.buf).await?;
            if n == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(ProtocolError::Truncated {
                    buffered: self.buf.len(),
                });
            }
        }
    }

    /// The underlying stream.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The underlying stream; bytes read but not yet decoded are lost.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// Writes `frame` to `w` and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    frame: &Frame,
) -> Result<(), ProtocolError> {
    let bytes = encode_to_vec(frame)?;
    w.write_all(&bytes).await?;
    w.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid() -> String {
        "0123abcd".to_string()
    }

    fn samples() -> Vec<Frame> {
        vec![
            Frame::Hello {
                version: 1,
                // Fixed, so that two calls give equal lists.
                container: "ab".repeat(32).parse().unwrap(),
            },
            Frame::Welcome { version: 1 },
            Frame::Stdout {
                session: sid(),
                data: Bytes::from_static(b"hello\n"),
            },
            Frame::Stderr {
                session: sid(),
                data: Bytes::new(),
            },
            Frame::Exit {
                session: sid(),
                status: -2,
            },
            Frame::Stdin {
                session: sid(),
                data: Bytes::from(vec![0u8; MAX_PAYLOAD]),
            },
            Frame::CloseStdin { session: sid() },
            Frame::Resize {
                session: sid(),
                cols: 80,
                rows: 65535,
            },
            Frame::Signal {
                session: sid(),
                signal: "RTMIN+3".into(),
            },
            Frame::KeepAlive,
        ]
    }

    #[test]
    fn round_trip() {
        for f in samples() {
            let bytes = encode_to_vec(&f).unwrap();
            let (back, used) = decode(&bytes).unwrap().unwrap();
            assert_eq!(back, f);
            assert_eq!(used, bytes.len());
        }
    }

    #[test]
    fn byte_layout() {
        let f = Frame::Resize {
            session: "ab".into(),
            cols: 0x0102,
            rows: 0x0304,
        };
        assert_eq!(
            encode_to_vec(&f).unwrap(),
            [0x44, 2, 0, 0, 0, 4, b'a', b'b', 1, 2, 3, 4]
        );
        let f = Frame::Exit {
            session: "s".into(),
            status: 3,
        };
        assert_eq!(
            encode_to_vec(&f).unwrap(),
            [0x04, 1, 0, 0, 0, 4, b's', 0, 0, 0, 3]
        );
        let id = ContainerId::random();
        let hello = encode_to_vec(&Frame::Hello {
            version: 1,
            container: id.clone(),
        })
        .unwrap();
        assert_eq!(&hello[..6], &[0x01, 0, 0, 0, 0, 69]);
        assert_eq!(&hello[6..10], b"VICI");
        assert_eq!(hello[10], 1);
        assert_eq!(&hello[11..], id.as_str().as_bytes());
    }

    #[test]
    fn partial_frames_need_more() {
        let mut stream = Vec::new();
        for f in samples() {
            encode(&f, &mut stream).unwrap();
        }
        // Every strict prefix of the first frame is incomplete, never an error.
        let first_len = decode(&stream).unwrap().unwrap().1;
        for cut in 0..first_len {
            assert!(decode(&stream[..cut]).unwrap().is_none(), "prefix {cut}");
        }
        // Decoding the concatenation frame by frame gives the frames back.
        let mut rest = &stream[..];
        let mut got = Vec::new();
        while let Some((f, used)) = decode(rest).unwrap() {
            got.push(f);
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
        assert_eq!(got, samples());
    }

    #[test]
    fn oversize_is_refused_from_the_header() {
        let header = [kind::STDOUT, 1, 0, 1, 0, 1];
        match decode(&header) {
            Err(ProtocolError::Oversize { len, max, .. }) => {
                assert_eq!(len, MAX_PAYLOAD + 1);
                assert_eq!(max, MAX_PAYLOAD);
            }
            other => panic!("{other:?}"),
        }
        let huge = [kind::STDOUT, 1, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(decode(&huge), Err(ProtocolError::Oversize { .. })));
        let f = Frame::Stdout {
            session: sid(),
            data: Bytes::from(vec![0u8; MAX_PAYLOAD + 1]),
        };
        assert!(matches!(
            encode_to_vec(&f),
            Err(ProtocolError::Oversize { .. })
        ));
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            decode(b"\0\0\0\0\0\0"),
            Err(ProtocolError::ReservedType)
        ));
        // An HTTP request: 'G' is an unknown type with an absurd length.
        assert!(matches!(
            decode(b"GET / HTTP/1.1\r\n"),
            Err(ProtocolError::Oversize { .. })
        ));
        let mut bad = Vec::new();
        // Hello with a bad magic, a bad ID, a session ID, or version 0.
        let mut p = b"VICX\x01".to_vec();
        p.extend_from_slice(ContainerId::random().as_str().as_bytes());
        encode_raw(kind::HELLO, b"", &p, &mut bad).unwrap();
        assert!(matches!(decode(&bad), Err(ProtocolError::Malformed { .. })));
        for payload in [
            [b"VICI\x01".as_slice(), &[b'G'; 64]].concat(),
            [b"VICI\x00".as_slice(), &[b'a'; 64]].concat(),
        ] {
            bad.clear();
            encode_raw(kind::HELLO, b"", &payload, &mut bad).unwrap();
            assert!(matches!(decode(&bad), Err(ProtocolError::Malformed { .. })));
        }
        bad.clear();
        encode_raw(
            kind::HELLO,
            b"x",
            &[b"VICI\x01".as_slice(), &[b'a'; 64]].concat(),
            &mut bad,
        )
        .unwrap();
        assert!(matches!(decode(&bad), Err(ProtocolError::Malformed { .. })));
        // Session frames without a session, or with spaces or non-ASCII in it.
        for s in [&b""[..], b"a b", "é".as_bytes()] {
            bad.clear();
            encode_raw(kind::STDOUT, s, b"x", &mut bad).unwrap();
            assert!(
                matches!(decode(&bad), Err(ProtocolError::Malformed { .. })),
                "{s:?}"
            );
        }
        // Fixed-size payloads of the wrong size; a bad signal name.
        for (k, p) in [
            (kind::EXIT, &b"\0\0\0"[..]),
            (kind::RESIZE, b"\0\0\0\0\0"),
            (kind::CLOSE_STDIN, b"x"),
            (kind::SIGNAL, b"TERM;rm"),
            (kind::SIGNAL, b""),
        ] {
            bad.clear();
            encode_raw(k, b"s", p, &mut bad).unwrap();
            assert!(
                matches!(decode(&bad), Err(ProtocolError::Malformed { .. })),
                "{k:#x}"
            );
        }
        // Refused when building, too.
        let f = Frame::Signal {
            session: sid(),
            signal: "TERM KILL".into(),
        };
        assert!(encode_to_vec(&f).is_err());
        let f = Frame::CloseStdin { session: "".into() };
        assert!(encode_to_vec(&f).is_err());
    }

    #[test]
    fn unknown_types_are_skipped_whole() {
        let mut stream = Vec::new();
        encode_raw(0x30, b"whatever session", b"future payload", &mut stream).unwrap();
        encode(&Frame::KeepAlive, &mut stream).unwrap();
        let (f, used) = decode(&stream).unwrap().unwrap();
        assert_eq!(
            f,
            Frame::Unknown {
                kind: 0x30,
                len: HEADER_LEN + 16 + 14
            }
        );
        assert_eq!(
            decode(&stream[used..]).unwrap().unwrap().0,
            Frame::KeepAlive
        );
        // A keep-alive's payload is ignored.
        stream.clear();
        encode_raw(kind::KEEPALIVE, b"", b"pad", &mut stream).unwrap();
        assert_eq!(decode(&stream).unwrap().unwrap().0, Frame::KeepAlive);
    }

    #[tokio::test]
    async fn reader_over_a_trickling_stream() {
        let mut bytes = Vec::new();
        for f in samples() {
            encode(&f, &mut bytes).unwrap();
        }
        let (mut tx, rx) = tokio::io::duplex(7);
        let writer = tokio::spawn(async move {
            // Small writes so that frames arrive in pieces.
            for chunk in bytes.chunks(5) {
                tx.write_all(chunk).await.unwrap();
            }
        });
        let mut reader = FrameReader::new(rx);
        let mut got = Vec::new();
        while let Some(f) = reader.next_frame().await.unwrap() {
            got.push(f);
        }
        writer.await.unwrap();
        assert_eq!(got, samples());
    }

    #[tokio::test]
    async fn reader_reports_truncation_and_writer_round_trips() {
        let (mut a, b) = tokio::io::duplex(1024);
        write_frame(&mut a, &Frame::KeepAlive).await.unwrap();
        a.write_all(&[kind::STDOUT, 1, 0, 0, 0, 9, b's', b'x'])
            .await
            .unwrap();
        drop(a);
        let mut r = FrameReader::new(b);
        assert_eq!(r.next_frame().await.unwrap(), Some(Frame::KeepAlive));
        match r.next_frame().await {
            Err(ProtocolError::Truncated { buffered }) => assert_eq!(buffered, 8),
            other => panic!("{other:?}"),
        }
    }
}
