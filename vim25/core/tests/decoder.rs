//! The decoder's tokenizer: text, entity references, CDATA, comments, quoted `>` in
//! attribute values, end tags that do not match, documents cut off, and random
//! documents written in every way XML allows, read back to the same tree.

use vim25_core::types::{AnyValue, OptionValue};
use vim25_core::xml::{decode_element, DecodeError, Decoder, Start};

/// The text of the only element of `doc`.
fn text_of(doc: &str) -> Result<String, DecodeError> {
    let mut d = Decoder::new(doc.as_bytes());
    let s = d.next_child()?.expect("a document element");
    let t = d.text(&s)?.into_owned();
    d.expect_end_of_input()?;
    Ok(t)
}

#[test]
fn text_resolves_references_and_keeps_cdata_raw() {
    let cases = [
        ("<a>plain</a>", "plain"),
        ("<a/>", ""),
        ("<a></a>", ""),
        ("<a>x &amp; y &lt;&gt; &quot;&apos;</a>", "x & y <> \"'"),
        ("<a>&#65;&#x42;&#x1F600;c</a>", "AB\u{1F600}c"),
        ("<a>&amp;</a>", "&"),
        ("<a>one<!-- not text -->two<?pi x?>three</a>", "onetwothree"),
        ("<a><![CDATA[<b>&amp;]]></a>", "<b>&amp;"),
        ("<a>x<![CDATA[]]>y<![CDATA[ ]] > ]]></a>", "xy ]] > "),
        ("<a>\u{e9}t\u{e9} \u{4e2d}</a>", "\u{e9}t\u{e9} \u{4e2d}"),
        ("<p:a xmlns:p='u'>v</p:a >", "v"),
        (
            "<?xml version='1.0'?>\n<!-- c -->\n<a>v</a>\n<!-- after -->\n",
            "v",
        ),
    ];
    for (doc, want) in cases {
        assert_eq!(text_of(doc).as_deref(), Ok(want), "{doc}");
    }
}

#[test]
fn malformed_text_and_markup_are_errors() {
    let cases = [
        ("<a>a & b</a>", "unterminated entity reference"),
        ("<a>&bogus;</a>", "unknown entity &bogus;"),
        ("<a>&#xD800;</a>", "unknown entity"),
        ("<a>&;</a>", "unknown entity"),
        ("<a><b/></a>", "element found where text was expected"),
        ("<a>text", "unexpected end of input"),
        ("<a>text</b>", "does not close the open element <a>"),
        ("<a>x</a></a>", "without an open element"),
        ("<a>x</a><b/>", "content after the document element"),
        ("<a>x</a>text", "content after the document element"),
        ("<a>x<!-- never closed</a>", "comment not closed"),
        ("<a><![CDATA[x</a>", "CDATA section not closed"),
        ("<a>x<?pi</a>", "processing instruction not closed"),
        ("<a>x</a", "end tag not closed"),
        ("<a b='>' ", "start tag not closed"),
        ("<>x</>", "a tag without a name"),
        ("< a>x</a>", "a tag without a name"),
    ];
    for (doc, want) in cases {
        let e = text_of(doc).expect_err(doc);
        assert!(e.message.contains(want), "{doc}: {e}");
    }
}

#[test]
fn text_that_is_not_utf8_is_an_error_only_where_it_is_read() {
    // Bad bytes in an element nobody reads (skipped) do not matter; in a value, they do.
    let mut doc = b"<OptionValue><junk>\xff\xfe</junk><key>k</key><value xsi:type=\"xsd:string\">v</value></OptionValue>".to_vec();
    let v: OptionValue = decode_element(&doc).unwrap();
    assert_eq!(v.key, "k");
    assert_eq!(v.value, Some(AnyValue::String("v".into())));
    let at = doc.windows(3).position(|w| w == b">v<").unwrap() + 1;
    doc.splice(at..at + 1, [0xc3]);
    let e = decode_element::<OptionValue>(&doc).unwrap_err();
    assert!(e.message.contains("not UTF-8"), "{e}");
    assert_eq!(e.path, "OptionValue/value");
}

#[test]
fn quoted_greater_than_and_slash_stay_in_attribute_values() {
    let doc = r#"<OptionValue note="a > b" other='/>'><key x="'>'">k</key><value xsi:type="xsd:int" y="/">7</value></OptionValue>"#;
    let v: OptionValue = decode_element(doc.as_bytes()).unwrap();
    assert_eq!((v.key.as_str(), v.value), ("k", Some(AnyValue::Int(7))));
}

#[test]
fn errors_name_the_open_elements_and_the_offset() {
    let doc = "<a><b><c>1</c><d>2</e></b></a>";
    let mut d = Decoder::new(doc.as_bytes());
    let a = d.next_child().unwrap().unwrap();
    let b = d.next_child().unwrap().unwrap();
    assert_eq!((a.name(), b.name()), (&b"a"[..], &b"b"[..]));
    let c = d.next_child().unwrap().unwrap();
    assert_eq!(d.text(&c).unwrap(), "1");
    let dd = d.next_child().unwrap().unwrap();
    let e = d.text(&dd).unwrap_err();
    assert_eq!(e.path, "a/b/d");
    assert_eq!(e.offset, doc.find("</e>").unwrap() as u64);
}

#[test]
fn skip_passes_over_nested_markup_of_any_kind() {
    let doc = "<r><s x='>'><t><u/>text<![CDATA[</s>]]><!-- </s> --></t><t/></s><k>v</k></r>";
    let mut d = Decoder::new(doc.as_bytes());
    let _r = d.next_child().unwrap().unwrap();
    let s = d.next_child().unwrap().unwrap();
    d.skip(&s).unwrap();
    let k = d.next_child().unwrap().unwrap();
    assert_eq!(k.name(), b"k");
    assert_eq!(d.text(&k).unwrap(), "v");
    assert!(d.next_child().unwrap().is_none());
    d.expect_end_of_input().unwrap();
}

/// A tiny deterministic generator (xorshift), so the random documents are the same in
/// every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A tree: an element with text, or with children.
#[derive(Debug)]
enum Node {
    Leaf(String, String),
    Inner(String, Vec<Node>),
}

fn tree(r: &mut Rng, depth: u32) -> Node {
    let names = [
        "a",
        "val",
        "objects",
        "x-y",
        "n.1",
        "_k",
        "\u{e9}l\u{e9}ment",
    ];
    let name = names[r.below(names.len() as u64) as usize].to_string();
    if depth == 0 || r.below(3) == 0 {
        let alphabet = [
            "a",
            " ",
            "<",
            ">",
            "&",
            "\"",
            "'",
            "]]>",
            "\u{e9}",
            "\u{1F600}",
            "\n",
            "x",
        ];
        let text = (0..r.below(8))
            .map(|_| alphabet[r.below(alphabet.len() as u64) as usize])
            .collect();
        Node::Leaf(name, text)
    } else {
        let children = (0..r.below(4)).map(|_| tree(r, depth - 1)).collect();
        Node::Inner(name, children)
    }
}

/// Writes `n` in one of the many ways XML allows: a namespace prefix or none,
/// attributes (some holding `>` and `/`), white space inside tags, text escaped by
/// entity or character references or in CDATA sections, comments and processing
/// instructions between pieces, empty-element tags.
fn write(n: &Node, r: &mut Rng, out: &mut String) {
    let (name, leaf_text) = match n {
        Node::Leaf(name, t) => (name, Some(t)),
        Node::Inner(name, _) => (name, None),
    };
    let qname = if r.below(3) == 0 {
        format!("p:{name}")
    } else {
        name.clone()
    };
    out.push('<');
    out.push_str(&qname);
    match r.below(4) {
        0 => out.push_str(" note=\"a > b /\""),
        1 => out.push_str("\n\tq='\"/>'"),
        2 => out.push_str(" xmlns:p=\"urn:x\" "),
        _ => {}
    }
    let empty = match n {
        Node::Leaf(_, t) => t.is_empty(),
        Node::Inner(_, c) => c.is_empty(),
    };
    if empty && r.below(2) == 0 {
        out.push_str("/>");
        return;
    }
    out.push('>');
    match (n, leaf_text) {
        (_, Some(t)) => {
            for c in t.chars() {
                match (c, r.below(4)) {
                    ('<', 0) => out.push_str("&#60;"),
                    ('<', _) => out.push_str("&lt;"),
                    ('&', 0) => out.push_str("&#x26;"),
                    ('&', _) => out.push_str("&amp;"),
                    ('>', 0) => out.push_str("&gt;"),
                    ('"', 0) => out.push_str("&quot;"),
                    ('\'', 0) => out.push_str("&apos;"),
                    (c, 0) if c != ']' => {
                        out.push_str("<![CDATA[");
                        out.push(c);
                        out.push_str("]]>");
                    }
                    (c, 1) => {
                        out.push_str(&format!("&#{};", c as u32));
                    }
                    (c, 2) if c.is_ascii_alphanumeric() => {
                        out.push(c);
                        out.push_str(if r.below(2) == 0 {
                            "<!--c-->"
                        } else {
                            "<?p i?>"
                        });
                    }
                    (']', _) => out.push_str("&#93;"),
                    (c, _) => out.push(c),
                }
            }
        }
        (Node::Inner(_, children), None) => {
            for c in children {
                if r.below(2) == 0 {
                    out.push_str(["\n  ", "<!-- > -->", "<?pi ?>", " "][r.below(4) as usize]);
                }
                write(c, r, out);
            }
        }
        _ => unreachable!(),
    }
    out.push_str("</");
    out.push_str(&qname);
    out.push_str(["", " ", "\n"][r.below(3) as usize]);
    out.push('>');
}

/// Reads `n` back, driven by its shape.
fn read_back<'a>(d: &mut Decoder<'a>, s: &Start<'a>, n: &Node) {
    match n {
        Node::Leaf(name, t) => {
            assert_eq!(s.name(), name.as_bytes());
            assert_eq!(d.text(s).unwrap(), t.as_str());
        }
        Node::Inner(name, children) => {
            assert_eq!(s.name(), name.as_bytes());
            if s.is_empty() {
                assert!(children.is_empty());
                return;
            }
            for c in children {
                let cs = d.next_child().unwrap().expect("a child");
                read_back(d, &cs, c);
            }
            assert!(d.next_child().unwrap().is_none());
        }
    }
}

#[test]
fn random_documents_written_every_way_read_back_the_same() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..3000 {
        let n = tree(&mut r, 4);
        let mut doc = String::new();
        if i % 2 == 0 {
            doc.push_str("<?xml version=\"1.0\"?>\n");
        }
        write(&n, &mut r, &mut doc);
        let mut d = Decoder::new(doc.as_bytes());
        let s = d.next_child().unwrap().expect("a document element");
        read_back(&mut d, &s, &n);
        d.expect_end_of_input().unwrap();
        // The same document cut anywhere inside its element is an error, never a panic.
        let cut = r.below(doc.len() as u64) as usize;
        if let Some(prefix) = doc.get(..cut) {
            let mut d = Decoder::new(prefix.as_bytes());
            let mut skipped = || -> Result<(), DecodeError> {
                let s = d.next_child()?.ok_or_else(|| d.error("nothing"))?;
                d.skip(&s)?;
                d.expect_end_of_input()
            };
            assert!(skipped().is_err(), "{prefix:?}");
        }
    }
}

/// A boxed field (`DiskCryptoSpec.parent`, which would otherwise make the type contain
/// itself) is written and read through its box, however deep the chain, with an unknown
/// subtype's name kept at each level.
#[test]
fn boxed_fields_round_trip_at_every_depth() {
    use vim25_core::types::{CryptoSpecEncrypt, CryptoSpecNoOp, DiskCryptoSpec};
    use vim25_core::xml::encode_element;

    let mut chain = DiskCryptoSpec {
        crypto: CryptoSpecNoOp::default().into(),
        ..Default::default()
    };
    for depth in 1..=3 {
        chain = DiskCryptoSpec {
            parent: Some(Box::new(chain)),
            crypto: CryptoSpecEncrypt::default().into(),
            type_name_: (depth == 2).then(|| "DiskCryptoSpecFromANewerServer".into()),
        };
    }
    let xml = encode_element("spec", &chain, vim25_core::Version::LATEST);
    assert_eq!(xml.matches("<parent").count(), 3, "{xml}");
    assert!(
        xml.contains(r#"xsi:type="DiskCryptoSpecFromANewerServer""#),
        "{xml}"
    );
    let back: DiskCryptoSpec = decode_element(xml.as_bytes()).unwrap();
    assert_eq!(back, chain);
    let mut depth = 0;
    let mut at = &back;
    while let Some(p) = &at.parent {
        depth += 1;
        at = p;
    }
    assert_eq!(depth, 3);
    assert_eq!(
        back.parent.as_ref().unwrap().type_name_.as_deref(),
        Some("DiskCryptoSpecFromANewerServer")
    );
}
