//! The checks of the fuzz targets of the `vim25` client crate, one function per
//! target. Shared, not copied: each target in `fuzz_targets/` includes this file,
//! and so does the crate's `tests/fuzz_corpus.rs`, which runs every committed corpus
//! input through the same function in CI. A check panics when an invariant breaks.
#![allow(dead_code)]

use vim25::replay::{read_recording, write_recording, Replay};
use vim25::transport::mask_secrets;

/// Marks every piece of text written inside a secret element; never produced
/// otherwise (generated text is ASCII).
const MARK: char = '\u{2603}';

/// The wire-dump masker. `data` is read twice: as text, which must mask without
/// panicking; and as a program that writes a well-formed XML document (elements
/// with names the masker treats as secret and others, namespace prefixes,
/// attributes, text, CDATA, comments) in which every text inside a secret element
/// carries [`MARK`]: the masked document must not hold one.
pub fn masker(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mask_secrets(text);
    }
    let xml = xml_of(data);
    let masked = mask_secrets(&xml);
    assert!(
        !masked.contains(MARK),
        "secret left in the mask\n  input: {xml}\n masked: {masked}"
    );
}

/// Element names: secret ones (by field name, with a prefix, a `UserSession`'s key,
/// a ticket call's `returnval`) and plain ones around them.
const NAMES: &[&str] = &[
    "password",
    "ns1:password",
    "newPassword",
    "sessionId",
    "UserSession",
    "key",
    "value",
    "returnval",
    "AcquireCloneTicketResponse",
    "LoginResponse",
    "currentSession",
    "OptionValue",
    "name",
    "Body",
    "x:Envelope",
];

/// Whether text inside element `name` is certainly secret: the simple rule the
/// masker documents, by field name (a field name starts with a lower-case letter;
/// `AcquireCloneTicketResponse` is a type name).
fn secret_name(name: &str) -> bool {
    let local = name.rsplit(':').next().unwrap_or(name);
    let l = local.to_ascii_lowercase();
    local.starts_with(|c: char| c.is_ascii_lowercase())
        && (["password", "token", "ticket", "secret"]
            .iter()
            .any(|w| l.contains(w))
            || l == "sessionid")
}

/// Writes the document the bytes describe (see [`masker`]).
fn xml_of(data: &[u8]) -> String {
    let mut out = String::new();
    let mut open: Vec<(&str, bool)> = Vec::new();
    let mut it = data.iter().copied();
    while let Some(op) = it.next() {
        let secret = open.last().is_some_and(|&(_, s)| s);
        match op % 8 {
            // An element opens, with an attribute whose value is text.
            0 | 1 => {
                let name = NAMES[usize::from(it.next().unwrap_or(0)) % NAMES.len()];
                out.push('<');
                out.push_str(name);
                if op % 8 == 1 {
                    out.push_str(" a=\"");
                    let t = text(&mut it);
                    out.push_str(&escape(&t, true));
                    out.push('"');
                }
                out.push('>');
                open.push((name, secret || secret_name(name)));
            }
            2 => {
                if let Some((name, _)) = open.pop() {
                    out.push_str("</");
                    out.push_str(name);
                    out.push('>');
                }
            }
            3 | 4 => {
                let t = text(&mut it);
                out.push_str(&escape(&t, false));
                if secret {
                    out.push(MARK);
                }
            }
            5 => {
                let t = text(&mut it).replace(']', ")");
                out.push_str("<![CDATA[");
                out.push_str(&t);
                if secret {
                    out.push(MARK);
                }
                out.push_str("]]>");
            }
            6 => {
                let t = text(&mut it).replace('-', "_");
                out.push_str("<!--");
                out.push_str(&t);
                if secret {
                    out.push(MARK);
                }
                out.push_str("-->");
            }
            // A child with an attribute inside a secret: the attribute is content too.
            _ => {
                let t = text(&mut it);
                out.push_str("<name b='");
                out.push_str(&escape(&t, true).replace('\'', "&apos;"));
                if secret {
                    out.push(MARK);
                }
                out.push_str("'/>");
            }
        }
    }
    while let Some((name, _)) = open.pop() {
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    out
}

/// A length byte, then that many bytes as ASCII text.
fn text(it: &mut impl Iterator<Item = u8>) -> String {
    let n = it.next().unwrap_or(0) % 32;
    it.take(usize::from(n))
        .map(|b| char::from(b & 0x7f))
        .collect()
}

fn escape(t: &str, attribute: bool) -> String {
    let mut s = t
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    if attribute {
        s = s.replace('"', "&quot;");
    }
    s
}

/// Any bytes as a recording: [`read_recording`] and [`Replay::from_bytes`] agree,
/// never panic; what reads writes back to bytes that read to the same exchanges and
/// write to themselves.
pub fn recordings(data: &[u8]) {
    let read = read_recording(data);
    let replay = Replay::from_bytes(data);
    assert_eq!(read.is_ok(), replay.is_ok());
    let Ok(exchanges) = read else {
        return;
    };
    assert_eq!(replay.unwrap().finished(), exchanges.is_empty());
    let written = write_recording(&exchanges);
    let again =
        read_recording(&written).unwrap_or_else(|e| panic!("written recording does not read: {e}"));
    assert_eq!(again, exchanges);
    assert_eq!(write_recording(&again), written);
}
