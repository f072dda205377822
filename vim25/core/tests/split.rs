//! `xml::split::Splitter`: the same elements and rest whatever the pieces the bytes
//! come in, bounded memory, and errors for documents cut off or malformed.

use vim25_core::types::ObjectContent;
use vim25_core::xml::split::Splitter;
use vim25_core::xml::{Decode, Decoder};

const OBJECTS: &[&str] = &["Envelope", "Body", "*", "returnval", "objects"];

/// A `RetrievePropertiesExResponse` with `n` objects, in the shapes servers send:
/// namespace prefixes, `xsi:type`, attributes holding `>` and quotes, escapes, a
/// comment, CDATA, and an empty element.
fn response(n: usize) -> String {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>
<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><token>tok-1</token>"#,
    );
    for i in 0..n {
        s.push_str(&format!(
            r#"<objects><obj type="VirtualMachine" note='a > b "q"'>vm-{i}</obj><!-- a comment with <objects> in it --><propSet><name>name</name><val xsi:type="xsd:string">vm &amp; &lt;{i}&gt;</val></propSet><propSet><name>config.annotation</name><val xsi:type="xsd:string"><![CDATA[<not a tag> ]] > {i}]]></val></propSet><propSet><name>config.extraConfig</name><val xsi:type="ArrayOfOptionValue"/></propSet></objects>
"#
        ));
    }
    s.push_str("</returnval></RetrievePropertiesExResponse>\n</soapenv:Body></soapenv:Envelope>\n");
    s
}

/// The elements (offset, bytes), the rest, and the most bytes held at any time.
type Split = (Vec<(u64, Vec<u8>)>, Vec<u8>, usize);

/// Splits `doc` given in pieces of `size` bytes.
fn split(doc: &[u8], size: usize) -> Split {
    let mut s = Splitter::new(OBJECTS);
    let mut out = Vec::new();
    let mut held = 0;
    for piece in doc.chunks(size) {
        s.push(piece).unwrap();
        held = held.max(s.held());
        while let Some(el) = s.next_element().unwrap() {
            assert_eq!(
                el.path,
                "Envelope/Body/RetrievePropertiesExResponse/returnval"
            );
            out.push((el.offset, el.bytes));
        }
    }
    (out, s.finish().unwrap(), held)
}

/// Each cut-out element decoded as an `ObjectContent`.
fn decode_all(pieces: &[(u64, Vec<u8>)]) -> Vec<ObjectContent> {
    pieces
        .iter()
        .map(|(_, b)| {
            let mut d = Decoder::new(b);
            let s = d.next_child().unwrap().unwrap();
            ObjectContent::decode(&mut d, &s).unwrap()
        })
        .collect()
}

#[test]
fn elements_and_rest_do_not_depend_on_the_pieces() {
    let doc = response(40);
    let (whole, rest, _) = split(doc.as_bytes(), doc.len());
    assert_eq!(whole.len(), 40);
    for (offset, bytes) in &whole {
        // Each piece is the document's own bytes at its offset.
        let at = *offset as usize;
        assert_eq!(&doc.as_bytes()[at..at + bytes.len()], bytes.as_slice());
        let mut d = Decoder::new(bytes);
        let start = d.next_child().unwrap().unwrap();
        let oc = ObjectContent::decode(&mut d, &start).unwrap();
        assert!(oc.obj.value.starts_with("vm-"));
        assert_eq!(oc.prop_set.len(), 3);
        d.expect_end_of_input().unwrap();
    }
    let rest = String::from_utf8(rest).unwrap();
    assert!(rest.contains("<token>tok-1</token>"), "{rest}");
    assert!(!rest.contains("objects"), "{rest}");
    assert!(!rest.contains("comment"), "{rest}");
    for size in (1..=40).chain([97, 512, 4096]) {
        let (pieces, r, _) = split(doc.as_bytes(), size);
        assert_eq!(pieces, whole, "pieces of {size}");
        assert_eq!(r, rest.as_bytes(), "pieces of {size}");
    }
}

#[test]
fn the_decoded_objects_equal_those_of_the_whole_document() {
    let doc = response(25);
    let whole: vim25_core::types::RetrieveResult = {
        let body = doc.as_bytes();
        let mut d = Decoder::new(body);
        // Envelope / Body / Response / returnval
        let mut s = d.next_child().unwrap().unwrap();
        for _ in 0..3 {
            s = d.next_child().unwrap().unwrap();
        }
        Decode::decode(&mut d, &s).unwrap()
    };
    let (pieces, _, _) = split(doc.as_bytes(), 7);
    assert_eq!(decode_all(&pieces), whole.objects);
    assert_eq!(whole.token.as_deref(), Some("tok-1"));
}

#[test]
fn memory_is_one_element_and_a_piece_whatever_the_number_of_elements() {
    for n in [10, 2000] {
        let doc = response(n);
        let largest = 420; // each object above is shorter than this
        let rest_len = 400;
        for size in [16, 1024, 16 * 1024] {
            let (pieces, _, held) = split(doc.as_bytes(), size);
            assert_eq!(pieces.len(), n);
            assert!(pieces.iter().all(|(_, b)| b.len() < largest));
            assert!(
                held <= largest + 2 * size + rest_len,
                "{n} objects in pieces of {size}: {held} bytes held"
            );
        }
    }
}

#[test]
fn elements_elsewhere_and_nested_names_are_not_cut() {
    let doc = br#"<Envelope><Body><R><returnval><objects><objects>inner</objects></objects><other><objects/></other></returnval><objects/></R></Body></Envelope>"#;
    let mut s = Splitter::new(OBJECTS);
    s.push(doc).unwrap();
    let el = s.next_element().unwrap().unwrap();
    assert_eq!(el.bytes, b"<objects><objects>inner</objects></objects>");
    assert!(s.next_element().unwrap().is_none());
    let rest = s.finish().unwrap();
    assert_eq!(
        rest,
        br#"<Envelope><Body><R><returnval><other><objects/></other></returnval><objects/></R></Body></Envelope>"#
    );
    // An empty path cuts nothing: the rest is the document (comments and blank text
    // after end tags left out; a leaf's blank text kept).
    let mut s = Splitter::new(&[]);
    s.push(b"<a><!-- c --><b x='>'/>\n  <c> </c>\n</a>")
        .unwrap();
    assert!(s.next_element().unwrap().is_none());
    assert_eq!(s.finish().unwrap(), b"<a><b x='>'/><c> </c></a>");
}

#[test]
fn a_fault_stays_in_the_rest() {
    let doc = br#"<soapenv:Envelope><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>no</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#;
    let mut s = Splitter::new(OBJECTS);
    for p in doc.chunks(3) {
        s.push(p).unwrap();
        assert!(s.next_element().unwrap().is_none());
    }
    assert_eq!(s.finish().unwrap(), doc);
}

#[test]
fn documents_cut_off_or_malformed_are_errors() {
    let doc = response(3);
    // Cut anywhere before the last end tag: an error at the end, never a panic.
    for cut in [1, 20, 300, 500, doc.len() - 30, doc.len() - 2] {
        let mut s = Splitter::new(OBJECTS);
        s.push(&doc.as_bytes()[..cut]).unwrap();
        while s.next_element().unwrap().is_some() {}
        let e = s.finish().unwrap_err();
        assert!(e.message.contains("end of input"), "cut at {cut}: {e}");
    }
    // An end tag that closes another element.
    let mut s = Splitter::new(OBJECTS);
    s.push(b"<Envelope><Body></Envelope>").unwrap();
    let e = s.next_element().unwrap_err();
    assert!(e.message.contains("</Envelope>"), "{e}");
    assert_eq!(e.offset, 16);
    // Nesting deeper than the decoder allows.
    let mut s = Splitter::new(OBJECTS);
    s.push("<a>".repeat(300).as_bytes()).unwrap();
    let e = s.next_element().unwrap_err();
    assert!(e.message.contains("nested too deeply"), "{e}");
    // A tag without a name.
    let mut s = Splitter::new(OBJECTS);
    s.push(b"<Envelope>< x/>").unwrap();
    assert!(s.next_element().is_err());
    // An element not taken before the end.
    let mut s = Splitter::new(&["a", "b"]);
    s.push(b"<a><b/></a>").unwrap();
    assert!(s.finish().is_err());
    // A second document after the first (the whole-body decoder stops at the end of
    // the first; the split fuzz target found its objects streamed all the same).
    let two = format!("{doc}{doc}");
    let mut s = Splitter::new(OBJECTS);
    s.push(two.as_bytes()).unwrap();
    let e = loop {
        match s.next_element() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the second document was taken"),
            Err(e) => break e,
        }
    };
    assert!(e.message.contains("second element"), "{e}");
    assert_eq!(
        e.offset as usize,
        doc.len() + doc.find("<soapenv:Envelope").unwrap()
    );
    for root in ["<a/><b/>", "<a></a><b/>"] {
        let mut s = Splitter::new(&["a"]);
        s.push(root.as_bytes()).unwrap();
        let first = s.next_element();
        assert!(
            first.is_err() || s.next_element().is_err(),
            "{root}: {first:?}"
        );
    }
}

/// Blank text after an end tag is dropped only when its whole run is blank: a run
/// that brings other text after the blank part is kept whole, wherever the pieces
/// were cut (the split fuzz target found the rest depending on the pieces).
#[test]
fn blank_text_after_an_end_tag_is_dropped_only_when_its_whole_run_is_blank() {
    let doc = "<r><a/>\n\n\n   \n\tkept text<b></b>\n  \n</r>\n";
    let (_, whole, _) = split(doc.as_bytes(), doc.len());
    assert_eq!(
        String::from_utf8(whole.clone()).unwrap(),
        "<r><a/>\n\n\n   \n\tkept text<b></b></r>"
    );
    for size in 1..doc.len() {
        let (_, rest, _) = split(doc.as_bytes(), size);
        assert_eq!(rest, whole, "pieces of {size}");
    }
}

/// Tag names are read as the whole-body decoder (quick-xml) reads them: `<objects//>`
/// is an empty element named `objects/`, `<objects\x0c>` one named `objects\x0c` (form
/// feed is not XML whitespace), and an end tag's name ends at trailing XML whitespace.
/// None of them is an `objects` element (the split fuzz target found `<objects//>` cut
/// out as one, so the streamed objects held one more than the whole document's).
#[test]
fn tag_names_end_where_the_whole_body_decoder_ends_them() {
    let body = |inner: &str| {
        format!("<Envelope><Body><RetrievePropertiesExResponse><returnval><objects><obj>vm-1</obj></objects>{inner}<objects ><obj>vm-2</obj></objects \t\r\n></returnval></RetrievePropertiesExResponse></Body></Envelope>")
    };
    for inner in [
        "<objects//>",
        "<objects/ />",
        "<objects\x0c/>",
        "<objects/x/>",
        "",
    ] {
        let doc = body(inner);
        let whole: vim25_core::types::RetrieveResult =
            vim25_core::soap::decode_returnval("RetrievePropertiesEx", doc.as_bytes())
                .unwrap()
                .unwrap();
        for size in [1, 3, doc.len()] {
            let (pieces, rest, _) = split(doc.as_bytes(), size);
            let streamed = decode_all(&pieces);
            assert_eq!(streamed, whole.objects, "{inner:?} in pieces of {size}");
            let rest = String::from_utf8(rest).unwrap();
            assert!(rest.contains(inner), "{inner:?} not in the rest {rest}");
        }
    }
}

#[test]
fn markup_inside_a_cut_element_is_read_whole_in_any_pieces() {
    // Inside an element being cut out, end tags in comments, CDATA and quoted values
    // do not count, a quoted `/` before `>` does not make a tag empty, and a processing
    // instruction or declaration is skipped, whatever the pieces.
    let obj = r#"<objects><a x="/">1</a><!-- </objects> --><b y='x>' z="'"/><![CDATA[</objects>]]><?pi </objects>?><c><objects>n</objects></c><d q="</objects>"></d></objects>"#;
    let doc =
        format!("<Envelope><Body><R><returnval>{obj}<objects/></returnval></R></Body></Envelope>");
    for size in 1..=doc.len() {
        let mut s = Splitter::new(OBJECTS);
        let mut found = Vec::new();
        for piece in doc.as_bytes().chunks(size) {
            s.push(piece).unwrap();
            while let Some(el) = s.next_element().unwrap() {
                found.push(String::from_utf8(el.bytes).unwrap());
            }
        }
        assert_eq!(found, [obj, "<objects/>"], "pieces of {size}");
        assert_eq!(
            s.finish().unwrap(),
            b"<Envelope><Body><R><returnval></returnval></R></Body></Envelope>",
            "pieces of {size}"
        );
    }
}

/// Decodes the `ObjectContent`s of `doc`, given in pieces of `size` bytes, where they
/// lie (`Splitter::next_in_place`): each object with its offset and length, the rest,
/// the most bytes held, and how often the decoding function ran.
type InPlaceSplit = (Vec<(u64, usize, ObjectContent)>, Vec<u8>, usize, usize);

fn in_place(doc: &[u8], size: usize) -> InPlaceSplit {
    let mut s = Splitter::new(OBJECTS);
    let mut out = Vec::new();
    let (mut held, mut calls) = (0, 0);
    let pieces: Vec<&[u8]> = doc.chunks(size).collect();
    for (i, piece) in pieces.iter().enumerate() {
        s.push(piece).unwrap();
        held = held.max(s.held());
        let at_end = i + 1 == pieces.len();
        while let Some(found) = s
            .next_in_place(at_end, |d| {
                calls += 1;
                let start = d.next_child()?.unwrap();
                ObjectContent::decode(d, &start)
            })
            .unwrap()
        {
            out.push((found.offset, found.len, found.value.unwrap()));
        }
    }
    (out, s.finish().unwrap(), held, calls)
}

#[test]
fn decoding_in_place_gives_the_elements_cut_out_whatever_the_pieces() {
    let doc = response(40);
    let (cut, rest, _) = split(doc.as_bytes(), doc.len());
    let objects = decode_all(&cut);
    for size in [1, 2, 7, 64, 1000, 4096, 20_000, doc.len()] {
        let (found, in_place_rest, held, calls) = in_place(doc.as_bytes(), size);
        assert_eq!(found.len(), cut.len(), "pieces of {size}");
        for ((offset, len, _), (cut_offset, bytes)) in found.iter().zip(&cut) {
            assert_eq!(
                (offset, *len),
                (cut_offset, bytes.len()),
                "pieces of {size}"
            );
        }
        let decoded: Vec<_> = found.into_iter().map(|(_, _, oc)| oc).collect();
        assert_eq!(decoded, objects, "pieces of {size}");
        assert_eq!(in_place_rest, rest, "pieces of {size}");
        // Held: about one element and the window beyond it (8 KiB at least).
        assert!(held < 24 << 10, "pieces of {size}: {held} bytes held");
        // Decoding is tried only once enough is held: rarely more than once an
        // object, even in pieces of one byte.
        assert!(
            calls <= 2 * objects.len(),
            "pieces of {size}: {calls} calls"
        );
    }
}

#[test]
fn decoding_in_place_reads_markup_as_cutting_out_does() {
    // End tags in comments, CDATA, quoted values and nested elements of the same name
    // are not the element's end; a self-closing element is decoded too.
    let obj = r#"<objects><obj type="VirtualMachine">vm-1</obj><!-- </objects> --><propSet><name>a</name><val xsi:type="xsd:string" q="</objects>"><![CDATA[</objects>]]></val></propSet><?pi </objects>?></objects>"#;
    let doc = format!(
        "<Envelope><Body><RetrievePropertiesExResponse><returnval>{obj}<objects/><token>t</token></returnval></RetrievePropertiesExResponse></Body></Envelope>"
    );
    let (cut, rest, _) = split(doc.as_bytes(), doc.len());
    assert_eq!(cut.len(), 2);
    for size in 1..=doc.len() {
        let mut s = Splitter::new(OBJECTS);
        let mut found = Vec::new();
        let pieces: Vec<&[u8]> = doc.as_bytes().chunks(size).collect();
        for (i, piece) in pieces.iter().enumerate() {
            s.push(piece).unwrap();
            while let Some(f) = s
                .next_in_place(i + 1 == pieces.len(), |d| {
                    d.next_child().unwrap().unwrap();
                    // Read to the end of the element, whatever is inside.
                    while let Some(c) = d.next_child()? {
                        d.skip(&c)?;
                    }
                    Ok::<_, vim25_core::xml::DecodeError>(())
                })
                .unwrap()
            {
                f.value.unwrap();
                found.push((f.offset, f.len));
            }
        }
        let expected: Vec<_> = cut.iter().map(|(o, b)| (*o, b.len())).collect();
        assert_eq!(found, expected, "pieces of {size}");
        assert_eq!(s.finish().unwrap(), rest, "pieces of {size}");
    }
}

#[test]
fn decoding_in_place_ends_in_errors_for_elements_cut_off_or_not_read_through() {
    let doc = response(3);
    let at = doc.find("vm-2<").unwrap();
    // Cut off inside the third object: two objects, then the end is an error.
    let mut s = Splitter::new(OBJECTS);
    s.push(&doc.as_bytes()[..at]).unwrap();
    let mut n = 0;
    while let Some(f) = s
        .next_in_place(true, |d| {
            let start = d.next_child()?.unwrap();
            ObjectContent::decode(d, &start)
        })
        .unwrap()
    {
        f.value.unwrap();
        n += 1;
    }
    assert_eq!(n, 2);
    let e = s.finish().unwrap_err();
    assert!(e.message.contains("end of input"), "{e}");
    // A decoding that stops inside the element: its value comes back, then the
    // splitter stops.
    let mut s = Splitter::new(OBJECTS);
    s.push(doc.as_bytes()).unwrap();
    let f = s
        .next_in_place(true, |d| d.next_child().map(|s| s.is_some()))
        .unwrap()
        .unwrap();
    assert_eq!(f.value, Ok(true));
    let e = s.next_in_place(true, |_| ()).unwrap_err();
    assert!(e.message.contains("not read to its end"), "{e}");
    // Malformed XML inside an element: the decoder's error, not a wait for more.
    let broken = doc.replacen("<name>name</name>", "<name>name</wrong>", 1);
    let mut s = Splitter::new(OBJECTS);
    s.push(broken.as_bytes()).unwrap();
    let f = s
        .next_in_place(false, |d| {
            let start = d.next_child()?.unwrap();
            ObjectContent::decode(d, &start)
        })
        .unwrap();
    // Held bytes are fewer than the window: nothing tried yet; at the end it is.
    assert!(f.is_none() || f.unwrap().value.is_err());
    let f = s
        .next_in_place(true, |d| {
            let start = d.next_child()?.unwrap();
            ObjectContent::decode(d, &start)
        })
        .unwrap()
        .unwrap();
    let e = f.value.unwrap_err();
    assert!(e.message.contains("</wrong>"), "{e}");
}
