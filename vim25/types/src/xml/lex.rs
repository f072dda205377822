//! The tokenizer under [`Decoder`](super::Decoder): markup and text of a document held
//! whole in memory, read without copying.
//!
//! It reads markup by the rules the [splitter](super::split) uses, so that what the
//! two call an element agrees: a start tag ends at the first `>` outside a quoted
//! attribute value, and one `/` before that `>` makes it empty; its name runs up to
//! XML whitespace; an end tag's name is what stands between `</` and `>`, less
//! trailing XML whitespace; comments, CDATA sections and processing instructions end
//! at their own terminators, other `<!` declarations at the first `>`. On top of
//! that it checks what the decoder relies on: every end tag closes the open element
//! (full names compared), no end tag without an open element, no tag without a name,
//! and no markup cut off by the end of input. Text is handed over raw (entity
//! references are resolved by the decoder), and how deep elements nest is the
//! decoder's to limit.

/// One piece of the document. Ranges are byte offsets into the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Token {
    /// `<name …>`: `tag` is what stands between `<` and `>`; `name_len` the length of
    /// the name at its start. The element is now open.
    Start {
        tag: (usize, usize),
        name_len: usize,
    },
    /// `<name …/>`: `tag` is what stands between `<` and `/>`.
    Empty {
        tag: (usize, usize),
        name_len: usize,
    },
    /// The end tag of the element that was open (it is closed now).
    End,
    /// Text between markup, entity references unresolved.
    Text(usize, usize),
    /// The content of a CDATA section.
    CData(usize, usize),
    /// A comment or a processing instruction.
    Ignorable,
    /// A `<!DOCTYPE …>` or other declaration.
    Declaration,
    /// The end of the input.
    Eof,
}

/// XML's whitespace (`S`): space, tab, carriage return and line feed; not form feed.
fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The local part of a qualified name (the prefix removed).
pub(super) fn local(qname: &[u8]) -> &[u8] {
    match qname.iter().rposition(|&b| b == b':') {
        Some(i) => &qname[i + 1..],
        None => qname,
    }
}

/// A start tag read from `tag`, what stands between `<` and `>`: one `/` closing an
/// empty element is dropped, and the name runs up to XML whitespace (so `<a//>` is an
/// empty element named `a/`, and `<a\x0c>` is named `a\x0c`). Returns the tag without
/// that `/`, the length of the name at its start, and whether the element is empty.
pub(super) fn start_tag(tag: &[u8]) -> (&[u8], usize, bool) {
    let (inner, empty) = match tag.strip_suffix(b"/") {
        Some(i) => (i, true),
        None => (tag, false),
    };
    let name_len = inner
        .iter()
        .position(|&b| is_xml_space(b))
        .unwrap_or(inner.len());
    (inner, name_len, empty)
}

/// The name of an end tag: `tag` is what stands between `</` and `>`, less trailing
/// XML whitespace.
pub(super) fn end_name(tag: &[u8]) -> &[u8] {
    let end = tag
        .iter()
        .rposition(|&b| !is_xml_space(b))
        .map_or(0, |i| i + 1);
    &tag[..end]
}

/// Reads [`Token`]s from a document held in memory.
#[derive(Debug, Clone)]
pub(super) struct Lexer<'a> {
    input: &'a [u8],
    pos: usize,
    /// The full names of the open elements, outermost first.
    open: Vec<&'a [u8]>,
    /// Whether the input is only the first part of the document (see
    /// [`Lexer::partial`]).
    partial: bool,
    /// Whether reading ran into the end of a partial input.
    truncated: bool,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(input: &'a [u8]) -> Self {
        Lexer {
            input,
            pos: 0,
            open: Vec::with_capacity(16),
            partial: false,
            truncated: false,
        }
    }

    /// A lexer over the first part of a document whose rest has not arrived: running
    /// into the end of the input (markup not closed, text not ended by markup, no
    /// token left) is an error marked [`Lexer::truncated`], since more input could
    /// complete what was cut off.
    pub(super) fn partial(input: &'a [u8]) -> Self {
        Lexer {
            partial: true,
            ..Lexer::new(input)
        }
    }

    /// Whether the last error came from running into the end of a partial input.
    pub(super) fn truncated(&self) -> bool {
        self.truncated
    }

    /// The error of reading into the end of the input: of a partial input, marked
    /// truncated.
    #[cold]
    #[inline(never)]
    fn cut(&mut self, what: &str) -> String {
        if self.partial {
            self.truncated = true;
        }
        what.into()
    }

    /// Where the next token starts (after the last one read).
    pub(super) fn position(&self) -> usize {
        self.pos
    }

    /// The full names of the open elements, outermost first.
    pub(super) fn open(&self) -> &[&'a [u8]] {
        &self.open
    }

    /// The bytes of `range`.
    pub(super) fn bytes(&self, range: (usize, usize)) -> &'a [u8] {
        let input: &'a [u8] = self.input;
        input.get(range.0..range.1).unwrap_or_default()
    }

    /// The next token. An error leaves the position at the markup it is about.
    /// Inlined into the decoder's step (see `Decoder::token`).
    #[inline]
    pub(super) fn next_token(&mut self) -> Result<Token, String> {
        let input = self.input;
        let start = self.pos;
        let Some(&first) = input.get(start) else {
            if self.partial {
                return Err(self.cut("the input ends here"));
            }
            return Ok(Token::Eof);
        };
        if first != b'<' {
            let end = match memchr::memchr(b'<', &input[start..]) {
                Some(i) => start + i,
                // Text may go on in the part not yet arrived.
                None if self.partial => return Err(self.cut("text runs to the end of the input")),
                None => input.len(),
            };
            self.pos = end;
            return Ok(Token::Text(start, end));
        }
        let rest = &input[start..];
        let (token, next) = if rest.starts_with(b"</") {
            let close = find(rest, 2, b">").ok_or_else(|| self.cut("end tag not closed"))?;
            let name = end_name(&rest[2..close]);
            match self.open.last() {
                Some(open) if *open == name => {}
                open => return Err(unmatched(name, open.copied())),
            }
            self.open.pop();
            (Token::End, start + close + 1)
        } else if rest.starts_with(b"<!--") {
            let end = find(rest, 4, b"-->").ok_or_else(|| self.cut("comment not closed"))?;
            (Token::Ignorable, start + end + 3)
        } else if rest.starts_with(b"<![CDATA[") {
            let end = find(rest, 9, b"]]>").ok_or_else(|| self.cut("CDATA section not closed"))?;
            (Token::CData(start + 9, start + end), start + end + 3)
        } else if rest.starts_with(b"<?") {
            let end = find(rest, 2, b"?>")
                .ok_or_else(|| self.cut("processing instruction not closed"))?;
            (Token::Ignorable, start + end + 2)
        } else if rest.starts_with(b"<!") {
            let end = find(rest, 2, b">").ok_or_else(|| self.cut("declaration not closed"))?;
            (Token::Declaration, start + end + 1)
        } else {
            let close = start_tag_end(rest).ok_or_else(|| self.cut("start tag not closed"))?;
            let (inner, name_len, empty) = start_tag(&rest[1..close]);
            if name_len == 0 {
                return Err("a tag without a name".into());
            }
            let tag = (start + 1, start + 1 + inner.len());
            let token = if empty {
                Token::Empty { tag, name_len }
            } else {
                self.open.push(&inner[..name_len]);
                Token::Start { tag, name_len }
            };
            (token, start + close + 1)
        };
        self.pos = next;
        Ok(token)
    }
}

/// The error of an end tag `</name>` that does not close the open element.
#[cold]
#[inline(never)]
fn unmatched(name: &[u8], open: Option<&[u8]>) -> String {
    match open {
        Some(open) => format!(
            "end tag </{}> does not close the open element <{}>",
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(open)
        ),
        None => format!(
            "end tag </{}> without an open element",
            String::from_utf8_lossy(name)
        ),
    }
}

/// The index in `b` of `pat`, looked for from `from` on.
fn find(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    let hay = b.get(from..)?;
    let i = if pat.len() == 1 {
        memchr::memchr(pat[0], hay)?
    } else {
        memchr::memmem::find(hay, pat)?
    };
    Some(from + i)
}

/// The index of the `>` ending the start tag at the beginning of `b`: the first one
/// outside a quoted attribute value.
pub(super) fn start_tag_end(b: &[u8]) -> Option<usize> {
    let mut at = 1;
    loop {
        let i = at + memchr::memchr3(b'>', b'"', b'\'', b.get(at..)?)?;
        let c = b[i];
        if c == b'>' {
            return Some(i);
        }
        at = i + 1 + memchr::memchr(c, b.get(i + 1..)?)? + 1;
    }
}
