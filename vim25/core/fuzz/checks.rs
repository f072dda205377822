//! The checks of the fuzz targets of vim25-core, one function per target. Shared,
//! not copied: each target in `fuzz_targets/` includes this file, and so does the
//! crate's `tests/fuzz_corpus.rs`, which runs every committed corpus input through
//! the same function in CI. A check panics when an invariant breaks.
#![allow(dead_code)]

use std::time::SystemTime;
use vim25_core::date_time;
use vim25_core::service_versions;
use vim25_core::soap::{decode_returnval, RawResponse, Response};
use vim25_core::types::{AnyValue, DateTime, RetrieveResult};
use vim25_core::xml::{decode_element, encode_element, Decoder, Start};
use vim25_core::Version;

/// Any bytes as a SOAP response: the typed response decoder, the fault path and the
/// `anyType` decoder return (Ok or a DecodeError), never panic; whatever decodes
/// encodes to XML that decodes again.
pub fn response(data: &[u8]) {
    let _ = decode_returnval::<RetrieveResult>("RetrievePropertiesEx", data);
    let resp = Response::from_raw(
        "PowerOnVM_Task",
        RawResponse {
            status: 500,
            body: data.to_vec(),
        },
    );
    let _ = resp.returnval_unit();
    tokenizer_agrees(data);
    if let Ok(v) = decode_element::<AnyValue>(data) {
        let xml = encode_element("v", &v, Version::LATEST);
        if let Err(e) = decode_element::<AnyValue>(xml.as_bytes()) {
            panic!("encoder output does not decode: {e}\n{xml}");
        }
    }
}

/// A document as the reference reads it: element names (local parts) with their text
/// (a leaf) or their child elements.
#[derive(Debug)]
enum Tree {
    Leaf(Vec<u8>, String),
    Inner(Vec<u8>, Vec<Tree>),
}

fn local_name(qname: &[u8]) -> &[u8] {
    match qname.iter().rposition(|&b| b == b':') {
        Some(i) => &qname[i + 1..],
        None => qname,
    }
}

/// The XML 1.0 meaning of the reference `&name;`, strictly (digits only).
fn reference_char(name: &[u8]) -> Option<char> {
    let n = match name {
        b"amp" => return Some('&'),
        b"lt" => return Some('<'),
        b"gt" => return Some('>'),
        b"quot" => return Some('"'),
        b"apos" => return Some('\''),
        [b'#', b'x', hex @ ..] if !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit) => {
            u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?
        }
        [b'#', dec @ ..] if !dec.is_empty() && dec.iter().all(u8::is_ascii_digit) => {
            std::str::from_utf8(dec).ok()?.parse().ok()?
        }
        _ => return None,
    };
    char::from_u32(n)
}

/// What quick-xml, the reference, reads from `data`: `None` unless it is one element
/// of elements and text without mixed content, every reference known, every name
/// non-empty, no `:type` attribute (the decoder checks `xsi:type` values, quick-xml
/// does not), no DOCTYPE, nesting under 250 levels, and nothing but white space,
/// comments and processing instructions after it.
fn reference_tree(data: &[u8]) -> Option<Tree> {
    use quick_xml::events::Event;
    struct Frame {
        name: Vec<u8>,
        text: String,
        children: Vec<Tree>,
    }
    fn blank(t: &str) -> bool {
        t.bytes().all(|b| b.is_ascii_whitespace())
    }
    let mut r = quick_xml::Reader::from_reader(data);
    let c = r.config_mut();
    c.trim_text(false);
    c.check_end_names = true;
    c.expand_empty_elements = false;
    let mut stack: Vec<Frame> = Vec::new();
    let mut root = None;
    loop {
        let ev = r.read_event().ok()?;
        let text = match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = local_name(e.name().as_ref()).to_vec();
                if root.is_some() || name.is_empty() || e.name().as_ref().is_empty() {
                    return None;
                }
                if memchr::memmem::find(e.as_ref(), b":type").is_some() || stack.len() > 250 {
                    return None;
                }
                if matches!(ev, Event::Empty(_)) {
                    let leaf = Tree::Leaf(name, String::new());
                    match stack.last_mut() {
                        Some(f) => f.children.push(leaf),
                        None => root = Some(leaf),
                    }
                } else {
                    stack.push(Frame {
                        name,
                        text: String::new(),
                        children: Vec::new(),
                    });
                }
                continue;
            }
            Event::End(_) => {
                let f = stack.pop()?;
                let node = if f.children.is_empty() {
                    Tree::Leaf(f.name, f.text)
                } else if blank(&f.text) {
                    Tree::Inner(f.name, f.children)
                } else {
                    return None;
                };
                match stack.last_mut() {
                    Some(p) => p.children.push(node),
                    None => root = Some(node),
                }
                continue;
            }
            Event::Text(t) => std::str::from_utf8(&t).ok()?.to_string(),
            Event::CData(t) => std::str::from_utf8(&t).ok()?.to_string(),
            Event::GeneralRef(g) => reference_char(&g)?.to_string(),
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) => continue,
            Event::DocType(_) => return None,
            Event::Eof => break,
        };
        match stack.last_mut() {
            Some(f) => f.text.push_str(&text),
            // Text outside the document element: only white space after it.
            None if root.is_some() && !blank(&text) => return None,
            None => {}
        }
    }
    if stack.is_empty() {
        root
    } else {
        None
    }
}

/// Reads `t` with our decoder, driven by its shape: the same names and texts.
fn read_as<'a>(d: &mut Decoder<'a>, s: &Start<'a>, t: &Tree) {
    match t {
        Tree::Leaf(name, text) => {
            assert_eq!(s.name(), name.as_slice());
            let got = d
                .text(s)
                .unwrap_or_else(|e| panic!("quick-xml reads the text of {t:?}, ours: {e}"));
            assert_eq!(got, text.as_str());
        }
        Tree::Inner(name, children) => {
            assert_eq!(s.name(), name.as_slice());
            for c in children {
                let cs = d
                    .next_child()
                    .unwrap_or_else(|e| panic!("quick-xml reads {c:?}, ours: {e}"))
                    .unwrap_or_else(|| panic!("quick-xml reads {c:?}, ours ends"));
                read_as(d, &cs, c);
            }
            let end = d
                .next_child()
                .unwrap_or_else(|e| panic!("after {t:?}: {e}"));
            assert!(
                end.is_none(),
                "ours reads more children than quick-xml in {t:?}"
            );
        }
    }
}

/// Any bytes that quick-xml reads as one element of elements and text (see
/// `reference_tree`): our decoder, with its own tokenizer, reads the same element
/// names and texts, and accepts the end of the input.
pub fn tokenizer_agrees(data: &[u8]) {
    let Some(tree) = reference_tree(data) else {
        return;
    };
    let mut d = Decoder::new(data);
    let s = d
        .next_child()
        .unwrap_or_else(|e| panic!("quick-xml reads {tree:?}, ours: {e}"))
        .unwrap_or_else(|| panic!("quick-xml reads {tree:?}, ours finds no element"));
    read_as(&mut d, &s, &tree);
    d.expect_end_of_input()
        .unwrap_or_else(|e| panic!("quick-xml reads {tree:?} to the end, ours: {e}"));
}

/// Any text as an `xsd:dateTime`: what parses formats (when inside the years 0000 to
/// 9999) to text that parses to the same instant and formats to itself.
pub fn dates(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(t) = date_time::parse(text) else {
        return;
    };
    assert_eq!(DateTime(text.into()).to_system_time(), Some(t));
    let Some(formatted) = date_time::format(t) else {
        // Only instants outside four-digit years (an offset across year 0 or 9999).
        let year_edge = text.trim().starts_with("0000-") || text.trim().starts_with("9999-");
        assert!(year_edge, "{text:?} parses but does not format");
        return;
    };
    let again: SystemTime = date_time::parse(&formatted)
        .unwrap_or_else(|| panic!("{text:?} formats to {formatted:?}, which does not parse"));
    assert_eq!(again, t, "{text:?} -> {formatted:?}");
    assert_eq!(date_time::format(again).as_deref(), Some(&*formatted));
}

/// Any bytes as `vimServiceVersions.xml` and as `vimService.wsdl`: never panics;
/// listed versions are trimmed; the negotiated version is at most the cap, and is
/// either the cap or a listed one.
pub fn versions(data: &[u8]) {
    let _ = service_versions::is_vim25_wsdl(data);
    let listed = service_versions::listed_versions(data);
    for v in &listed {
        assert_eq!(v.trim(), v);
    }
    let known: Vec<Version> = listed.iter().filter_map(|v| Version::parse(v)).collect();
    for cap in [Version::LATEST, Version::V6_7, Version::V2_5] {
        let got = service_versions::negotiate(data, cap);
        assert_eq!(got.is_some(), !known.is_empty());
        if let Some(v) = got {
            assert!(v <= cap, "{v:?} above {cap:?}");
            assert!(v == cap || known.contains(&v), "{v:?} not listed");
            assert!(
                known.iter().all(|k| *k > cap || *k <= v),
                "{v:?} not the highest"
            );
        }
    }
}

/// The outcome of splitting a document: the elements (offset, path, bytes), then the
/// rest or the error (offset, message).
type SplitOutcome = (Vec<(u64, String, Vec<u8>)>, Result<Vec<u8>, (u64, String)>);

/// Splits `doc` at the `objects` of a property-collector answer, in pieces of `size`.
fn split_in_pieces(doc: &[u8], size: usize) -> SplitOutcome {
    use vim25_core::xml::split::Splitter;
    let mut s = Splitter::new(&["Envelope", "Body", "*", "returnval", "objects"]);
    let mut out = Vec::new();
    for piece in doc.chunks(size.max(1)) {
        if let Err(e) = s.push(piece) {
            return (out, Err((e.offset, e.message)));
        }
        loop {
            match s.next_element() {
                Ok(Some(el)) => out.push((el.offset, el.path, el.bytes)),
                Ok(None) => break,
                Err(e) => return (out, Err((e.offset, e.message))),
            }
        }
    }
    let end = s.finish().map_err(|e| (e.offset, e.message));
    (out, end)
}

/// Decodes the `ObjectContent`s of `doc` where they lie (`Splitter::next_in_place`),
/// in pieces of `size`: the objects (or the first error) and the rest.
fn in_place_in_pieces(
    doc: &[u8],
    size: usize,
) -> (
    Vec<vim25_core::types::ObjectContent>,
    Result<Vec<u8>, String>,
) {
    use vim25_core::xml::split::Splitter;
    use vim25_core::xml::Decode;
    let mut s = Splitter::new(&["Envelope", "Body", "*", "returnval", "objects"]);
    let mut out = Vec::new();
    let pieces: Vec<&[u8]> = doc.chunks(size.max(1)).collect();
    for (i, piece) in pieces.iter().enumerate() {
        if let Err(e) = s.push(piece) {
            return (out, Err(e.message));
        }
        loop {
            let next = s.next_in_place(i + 1 == pieces.len(), |d| {
                let start = d.next_child()?.ok_or_else(|| d.error("no start tag"))?;
                vim25_core::types::ObjectContent::decode(d, &start)
            });
            match next {
                Ok(Some(found)) => match found.value {
                    Ok(oc) => out.push(oc),
                    Err(e) => return (out, Err(e.message)),
                },
                Ok(None) => break,
                Err(e) => return (out, Err(e.message)),
            }
        }
    }
    let end = s.finish().map_err(|e| e.message);
    (out, end)
}

/// Any bytes as a streamed property-collector answer (`xml::split::Splitter`): the
/// first byte picks the size of the pieces the rest arrives in. Never panics; the
/// elements, the rest and any error are the same whatever the pieces; each element
/// is the document's own bytes at its offset; and a document the whole-body decoder
/// reads gives, streamed, the same objects and token.
pub fn split(data: &[u8]) {
    let Some((&first, doc)) = data.split_first() else {
        return;
    };
    let size = usize::from(first % 64) + 1;
    let whole = split_in_pieces(doc, doc.len());
    let pieces = split_in_pieces(doc, size);
    // Decoded in place: never a panic, and the same whatever the pieces.
    let in_place = in_place_in_pieces(doc, size);
    let in_place_whole = in_place_in_pieces(doc, doc.len());
    assert_eq!(
        in_place.0, in_place_whole.0,
        "pieces of {size} change the objects decoded in place"
    );
    assert_eq!(whole, pieces, "pieces of {size} change the outcome");
    for (offset, _, bytes) in &whole.0 {
        let at = *offset as usize;
        assert_eq!(doc.get(at..at + bytes.len()), Some(bytes.as_slice()));
    }
    // Every returnval, as the property collector's whole-page path reads them.
    let results = |body: &[u8]| {
        Response::from_raw(
            "RetrievePropertiesEx",
            RawResponse {
                status: 200,
                body: body.to_vec(),
            },
        )
        .returnval_list::<RetrieveResult>()
    };
    let Ok(expected) = results(doc) else {
        return;
    };
    // The splitter may refuse more than the whole-body decoder (which stops reading
    // at the end of the envelope); what both accept must agree.
    let Ok(rest) = &whole.1 else {
        return;
    };
    let mut objects = Vec::new();
    for (_, _, bytes) in &whole.0 {
        let mut d = vim25_core::xml::Decoder::new(bytes);
        let s = d.next_child().unwrap().unwrap();
        let oc = <vim25_core::types::ObjectContent as vim25_core::xml::Decode>::decode(&mut d, &s)
            .expect("an object the whole-body decoder read");
        objects.push(oc);
    }
    let from_rest = results(rest).expect("the rest of a document the whole-body decoder read");
    assert!(from_rest.iter().all(|r| r.objects.is_empty()));
    let tokens = |rs: &[RetrieveResult]| rs.iter().map(|r| r.token.clone()).collect::<Vec<_>>();
    assert_eq!(tokens(&from_rest), tokens(&expected));
    let expected: Vec<_> = expected.into_iter().flat_map(|r| r.objects).collect();
    assert_eq!(objects, expected);
    // Decoded in place, the same objects and rest.
    assert_eq!(in_place.0, expected, "decoded in place, pieces of {size}");
    assert_eq!(in_place.1.as_ref(), Ok(rest), "the rest, decoded in place");
}
