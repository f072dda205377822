//! Cutting the repeated elements out of a document while its bytes arrive.
//!
//! A [`Splitter`] is given the bytes of a document in pieces of any size. It hands back
//! each element found at a path (such as every `objects` of a
//! `RetrievePropertiesExResponse`) as soon as its end tag has arrived, as bytes that
//! decode on their own with a [`Decoder`]; everything else of the
//! document, the *rest*, is kept and returned by [`Splitter::finish`], where it decodes
//! as the document with those elements left out (the paging token, a SOAP fault).
//! At any time it holds at most the element being received, the last piece pushed and
//! the rest: memory stays flat whatever the number of elements.
//!
//! Instead of cutting the elements out, it can hand each to a decoder where it lies
//! ([`Splitter::next_in_place`]): the element is then read once, by the decoder,
//! rather than first by the splitter to find its end; the splitter then holds, beyond
//! the element, up to about as many bytes again (at least 8 KiB), so that decoding is
//! tried only when the element has most likely all arrived.
//!
//! It reads only what it must to find element boundaries (tags, end tags, comments,
//! CDATA sections, processing instructions, quoted attribute values); each piece it
//! hands back is checked by the decoder that reads it, and the rest by the decoder
//! that reads it at the end. An end tag that does not close the open element, a
//! second element after the document element, a nesting deeper than 256 levels and a
//! document cut off inside markup or an element are errors here (inside an element
//! decoded in place, those are the decoder's to find, its nesting counted from the
//! element).
//!
//! ```
//! use vim25_core::xml::split::Splitter;
//!
//! let doc = b"<r><token>7</token><obj><a>1</a></obj><obj/></r>";
//! let mut s = Splitter::new(&["r", "obj"]);
//! let mut found = Vec::new();
//! for piece in doc.chunks(5) {
//!     s.push(piece).unwrap();
//!     while let Some(el) = s.next_element().unwrap() {
//!         found.push(String::from_utf8(el.bytes).unwrap());
//!     }
//! }
//! assert_eq!(found, ["<obj><a>1</a></obj>", "<obj/>"]);
//! assert_eq!(s.finish().unwrap(), b"<r><token>7</token></r>");
//! ```

use super::decode::{DecodeError, Decoder};
use super::lex::{end_name, local, start_tag, start_tag_end};

/// Deepest nesting accepted (as the decoder's).
const MAX_DEPTH: usize = 256;

/// One element cut out of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The element's bytes, from `<` of its start tag to `>` of its end tag.
    pub bytes: Vec<u8>,
    /// Where those bytes start in the document.
    pub offset: u64,
    /// The names (local parts) of the elements around it, outermost first.
    pub path: String,
}

/// The markup being read, when its end has not arrived yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Markup {
    /// `<name …>` or `<name …/>`.
    Start,
    /// `</name>`.
    End,
    /// `<!-- … -->`.
    Comment,
    /// `<![CDATA[ … ]]>`.
    CData,
    /// `<? … ?>`.
    Pi,
    /// `<!DOCTYPE …>` and other declarations.
    Decl,
}

/// Where [`Splitter::cut_fast`] stopped.
enum Fast {
    /// The element being cut out is complete.
    Element(Element),
    /// At the end of the bytes received.
    More,
    /// At markup for the general path (at `pos`).
    General,
}

/// Markup whose first byte is at `start`, read up to `at`.
#[derive(Debug, Clone, Copy)]
struct Open {
    start: usize,
    kind: Markup,
    at: usize,
    /// The quote of an attribute value being read (0: none).
    quote: u8,
}

/// Splits a document into the elements at a path and the rest; see the
/// [module documentation](self).
#[derive(Debug)]
pub struct Splitter {
    /// The path of the elements to cut out, local names; `*` matches any name.
    pattern: Vec<Vec<u8>>,
    /// Bytes received and not yet consumed; `buf[0]` is at `base` in the document.
    buf: Vec<u8>,
    base: u64,
    /// The next byte of `buf` to read.
    pos: usize,
    open: Option<Open>,
    /// Local names of the open elements outside any element being cut out.
    stack: Vec<Vec<u8>>,
    /// The element being cut out: where it starts in `buf`, and the depth inside it.
    cutting: Option<(usize, usize)>,
    /// The document without the elements cut out.
    rest: Vec<u8>,
    /// Whether the last markup outside elements cut out ended an element: text from
    /// there to the next markup is indentation when it is blank (a leaf's text follows
    /// its start tag), and is not kept.
    after_end: bool,
    /// Blank text after an end tag whose run has not ended yet (its next piece may
    /// still bring something other than white space, and then the run is kept whole).
    blank: Vec<u8>,
    /// Whether the document element has started (a second one is an error).
    root_seen: bool,
    /// Elements are decoded where they lie ([`Splitter::next_in_place`]) instead of
    /// being read through and cut out.
    in_place: bool,
    /// How many bytes of the element being decoded in place must be held before the
    /// next attempt: twice the last element's size, or twice what the last attempt
    /// found too short.
    window: usize,
    /// An element decoded in place stopped inside itself (an error or another type
    /// than expected): where it ends is unknown, so the splitter cannot go on.
    stopped: bool,
}

/// An element decoded where it lies by [`Splitter::next_in_place`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InPlace<T> {
    /// What the decoding function returned.
    pub value: T,
    /// Where the element starts in the document.
    pub offset: u64,
    /// How long the element is, from `<` of its start tag to `>` of its end tag; when
    /// decoding stopped inside the element, how far it read.
    pub len: usize,
}

/// The least number of bytes held of an element before it is decoded in place.
const MIN_WINDOW: usize = 8 << 10;

impl Splitter {
    /// A splitter cutting out the elements at `path` (local names from the document
    /// element down; `"*"` matches any name). An empty path cuts out nothing.
    pub fn new(path: &[&str]) -> Self {
        Splitter {
            pattern: path.iter().map(|p| p.as_bytes().to_vec()).collect(),
            buf: Vec::new(),
            base: 0,
            pos: 0,
            open: None,
            stack: Vec::new(),
            cutting: None,
            rest: Vec::new(),
            after_end: false,
            blank: Vec::new(),
            root_seen: false,
            in_place: false,
            window: MIN_WINDOW,
            stopped: false,
        }
    }

    /// Appends the next bytes of the document.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        // Drop what has been consumed: everything before the markup or element still
        // being read.
        let keep_from = match (self.cutting, self.open) {
            (Some((start, _)), _) => start,
            (None, Some(o)) => o.start,
            (None, None) => self.pos,
        };
        if keep_from > 0 {
            self.buf.drain(..keep_from);
            self.base += keep_from as u64;
            self.pos -= keep_from;
            if let Some((start, _)) = &mut self.cutting {
                *start -= keep_from;
            }
            if let Some(o) = &mut self.open {
                o.start -= keep_from;
                o.at -= keep_from;
            }
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Bytes held: the part of the document not yet handed back (at most the element
    /// being received, what followed it in the last piece, and markup still open; when
    /// decoding in place, what followed it up to the window of
    /// [`Splitter::next_in_place`]) plus the rest kept for [`Splitter::finish`].
    pub fn held(&self) -> usize {
        self.buf.len() + self.rest.len() + self.blank.len()
    }

    fn error(&self, at: usize, message: impl Into<String>) -> DecodeError {
        DecodeError {
            message: message.into(),
            path: self.path(),
            offset: self.base + at as u64,
        }
    }

    /// The next complete element at the path, or `None` until more bytes arrive.
    pub fn next_element(&mut self) -> Result<Option<Element>, DecodeError> {
        if self.stopped {
            return Err(self.error(
                self.pos,
                "an element decoded in place was not read to its end",
            ));
        }
        loop {
            if self.open.is_none() && self.cutting.is_some() {
                if self.in_place {
                    // Left to next_in_place, where it lies.
                    return Ok(None);
                }
                match self.cut_fast()? {
                    Fast::Element(el) => return Ok(Some(el)),
                    Fast::More => return Ok(None),
                    // Markup the fast path leaves to the general one, at `pos`.
                    Fast::General => {}
                }
            }
            let Some(open) = self.open.take() else {
                // Text up to the next markup.
                let from = self.pos;
                match memchr::memchr(b'<', &self.buf[from..]) {
                    None => {
                        self.keep_text(from, self.buf.len());
                        self.pos = self.buf.len();
                        return Ok(None);
                    }
                    Some(i) => {
                        self.keep_text(from, from + i);
                        self.end_text();
                        self.pos = from + i;
                        match self.classify(self.pos) {
                            Some(kind) => {
                                self.open = Some(Open {
                                    start: self.pos,
                                    kind,
                                    at: self.pos + 1,
                                    quote: 0,
                                });
                            }
                            None => return Ok(None),
                        }
                        continue;
                    }
                }
            };
            let Some(end) = self.find_end(open) else {
                return Ok(None);
            };
            self.pos = end + 1;
            if let Some(el) = self.markup(open.kind, open.start, end)? {
                return Ok(Some(el));
            }
        }
    }

    /// The next element at the path, decoded by `decode` where it lies among the bytes
    /// held, instead of read through to find its end and cut out
    /// ([`Splitter::next_element`]): the element is read once, not twice. `decode` is
    /// handed a [`Decoder::partial`] over the bytes from the element's start tag on,
    /// and is to read the element (from [`Decoder::next_child`]) to its end tag. When
    /// the element has not all arrived, the decoder says it ran into the end
    /// ([`Decoder::truncated`]), and this returns `None` to be called again, with the
    /// same `decode`, once more bytes are pushed; `at_end` says none will come. Only
    /// when enough bytes are held to make that unlikely (twice the last element's
    /// size, and at least 8 KiB) is decoding tried, so an element is decoded about
    /// once; `at_end` tries it whatever is held. An element at the path that closes
    /// itself (`<objects/>`) is decoded the same way.
    ///
    /// When `decode` stops inside the element without running into the end (its own
    /// error, or a type it does not take), its value is returned all the same; the
    /// element's end is then unknown, and the splitter is done: later calls fail.
    /// Calls of this and [`Splitter::next_element`] should not be mixed: once this
    /// is called, elements are decoded in place.
    ///
    /// ```
    /// use vim25_core::xml::split::Splitter;
    /// use vim25_core::xml::{Decode, DecodeError};
    ///
    /// let doc = b"<r><token>7</token><n>1</n><n>22</n><n/></r>";
    /// let mut s = Splitter::new(&["r", "n"]);
    /// let mut found = Vec::new();
    /// let pieces: Vec<&[u8]> = doc.chunks(4).collect();
    /// for (i, piece) in pieces.iter().enumerate() {
    ///     s.push(piece).unwrap();
    ///     let at_end = i + 1 == pieces.len();
    ///     while let Some(n) = s
    ///         .next_in_place(at_end, |d| {
    ///             let start = d.next_child()?.expect("the element's start tag");
    ///             String::decode(d, &start)
    ///         })
    ///         .unwrap()
    ///     {
    ///         found.push(n.value.unwrap());
    ///     }
    /// }
    /// assert_eq!(found, ["1", "22", ""]);
    /// assert_eq!(s.finish().unwrap(), b"<r><token>7</token></r>");
    /// # Ok::<(), DecodeError>(())
    /// ```
    pub fn next_in_place<T>(
        &mut self,
        at_end: bool,
        mut decode: impl FnMut(&mut Decoder<'_>) -> T,
    ) -> Result<Option<InPlace<T>>, DecodeError> {
        self.in_place = true;
        if let Some(el) = self.next_element()? {
            // One that closes itself, cut out whole by its start tag.
            let mut d = Decoder::new(&el.bytes);
            let value = decode(&mut d);
            return Ok(Some(InPlace {
                value,
                offset: el.offset,
                len: el.bytes.len(),
            }));
        }
        let Some((start, 0)) = self.cutting else {
            return Ok(None);
        };
        let held = self.buf.len() - start;
        if !at_end && held < self.window {
            return Ok(None);
        }
        let mut d = Decoder::partial(&self.buf[start..]);
        let value = decode(&mut d);
        if d.truncated() {
            // Tried again once twice as much is held; at the end, `finish` reports
            // the element cut off.
            self.window = held.saturating_mul(2);
            return Ok(None);
        }
        let len = d.consumed();
        if d.depth() != 0 || len == 0 {
            self.stopped = true;
        } else {
            self.cutting = None;
            self.pos = start + len;
            self.after_end = true;
            self.window = len.saturating_mul(2).max(MIN_WINDOW);
        }
        Ok(Some(InPlace {
            value,
            offset: self.base + start as u64,
            len,
        }))
    }

    /// The names (local parts) of the elements around the elements at the path,
    /// outermost first, joined by `/` (as [`Element::path`]).
    pub fn path(&self) -> String {
        self.stack
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Inside an element being cut out, only tags and end tags matter (for the depth),
    /// and text is skipped: this reads them in one tight loop. It stops at the element's
    /// end, at the end of the bytes, or at markup it leaves to the general path
    /// (comments, CDATA, processing instructions, declarations, and a tag not complete
    /// yet, which the general path then reads on incrementally).
    fn cut_fast(&mut self) -> Result<Fast, DecodeError> {
        while self.cutting.is_some() {
            let buf = &self.buf;
            let Some(lt) = memchr::memchr(b'<', &buf[self.pos..]).map(|k| self.pos + k) else {
                self.pos = buf.len();
                return Ok(Fast::More);
            };
            let markup = match buf.get(lt + 1) {
                Some(b'/') => {
                    memchr::memchr(b'>', &buf[lt + 2..]).map(|k| (Markup::End, lt + 2 + k))
                }
                Some(b'!' | b'?') | None => None,
                Some(_) => start_tag_end(&buf[lt..]).map(|k| (Markup::Start, lt + k)),
            };
            let Some((kind, gt)) = markup else {
                self.pos = lt;
                return Ok(Fast::General);
            };
            self.pos = gt + 1;
            if let Some(el) = self.cut_markup(kind, lt, gt)? {
                return Ok(Fast::Element(el));
            }
        }
        Ok(Fast::General)
    }

    /// Keeps the text `buf[from..to]` in the rest, unless it is inside an element cut
    /// out or blank after an end tag. A run of text can arrive over several pieces:
    /// blank ones after an end tag are held back until the run either ends blank
    /// (dropped, [`Splitter::end_text`]) or brings other text (kept whole), so the
    /// rest does not depend on where the pieces were cut.
    fn keep_text(&mut self, from: usize, to: usize) {
        let text = &self.buf[from..to];
        if self.cutting.is_some() {
            return;
        }
        if self.after_end {
            if text.iter().all(u8::is_ascii_whitespace) {
                self.blank.extend_from_slice(text);
                return;
            }
            self.rest.append(&mut self.blank);
            // The rest of this run is kept too, blank or not.
            self.after_end = false;
        }
        self.rest.extend_from_slice(&self.buf[from..to]);
    }

    /// The run of text ends at markup: blank text held back from it is dropped.
    fn end_text(&mut self) {
        self.blank.clear();
    }

    /// What markup starts at `at` (a `<`), or `None` when too few bytes have arrived
    /// to tell (the markup stays unread until they do).
    fn classify(&self, at: usize) -> Option<Markup> {
        let b = &self.buf[at..];
        let starts = |p: &[u8]| b.len() >= p.len() && &b[..p.len()] == p;
        let could_be = |p: &[u8]| b.len() < p.len() && p.starts_with(b);
        if b.len() < 2 {
            return None;
        }
        match b[1] {
            b'/' => Some(Markup::End),
            b'?' => Some(Markup::Pi),
            b'!' => {
                if starts(b"<!--") {
                    Some(Markup::Comment)
                } else if starts(b"<![CDATA[") {
                    Some(Markup::CData)
                } else if could_be(b"<!--") || could_be(b"<![CDATA[") {
                    None
                } else {
                    Some(Markup::Decl)
                }
            }
            _ => Some(Markup::Start),
        }
    }

    /// The index of the last byte (`>`) of `open`, or `None` (with `open` kept and
    /// where to go on from) when it has not all arrived.
    fn find_end(&mut self, mut open: Open) -> Option<usize> {
        let buf = &self.buf;
        let found = match open.kind {
            Markup::Start => loop {
                if open.quote != 0 {
                    match memchr::memchr(open.quote, &buf[open.at..]) {
                        Some(i) => {
                            open.at += i + 1;
                            open.quote = 0;
                        }
                        None => {
                            open.at = buf.len();
                            break None;
                        }
                    }
                }
                match memchr::memchr3(b'>', b'"', b'\'', &buf[open.at..]) {
                    Some(i) if buf[open.at + i] == b'>' => break Some(open.at + i),
                    Some(i) => {
                        open.quote = buf[open.at + i];
                        open.at += i + 1;
                    }
                    None => {
                        open.at = buf.len();
                        break None;
                    }
                }
            },
            Markup::End | Markup::Decl => match memchr::memchr(b'>', &buf[open.at..]) {
                Some(i) => Some(open.at + i),
                None => {
                    open.at = buf.len();
                    None
                }
            },
            Markup::Comment | Markup::CData | Markup::Pi => {
                let (skip, end): (usize, &[u8]) = match open.kind {
                    Markup::Comment => (4, b"-->"),
                    Markup::CData => (9, b"]]>"),
                    _ => (2, b"?>"),
                };
                let from = open.at.max(open.start + skip);
                match memchr::memmem::find(&buf[from.min(buf.len())..], end) {
                    Some(i) => Some(from + i + end.len() - 1),
                    None => {
                        // Go on from where a terminator split between pieces starts.
                        open.at = buf.len().saturating_sub(end.len() - 1).max(from);
                        None
                    }
                }
            }
        };
        if found.is_none() {
            self.open = Some(open);
        }
        found
    }

    /// Handles the markup `buf[start..=end]`; an element cut out completely by it is
    /// returned.
    fn markup(
        &mut self,
        kind: Markup,
        start: usize,
        end: usize,
    ) -> Result<Option<Element>, DecodeError> {
        if self.cutting.is_some() {
            return self.cut_markup(kind, start, end);
        }
        match kind {
            Markup::Start => {
                let (tag, name_len, empty) = start_tag(&self.buf[start + 1..end]);
                let name = local(&tag[..name_len]);
                if name.is_empty() {
                    return Err(self.error(start, "a tag without a name"));
                }
                if self.stack.is_empty() {
                    if self.root_seen {
                        return Err(
                            self.error(start, "a second element after the document element")
                        );
                    }
                    self.root_seen = true;
                }
                self.after_end = empty;
                if self.at_pattern(name) {
                    if empty {
                        return Ok(Some(self.element(start, end)));
                    }
                    self.cutting = Some((start, 0));
                    return Ok(None);
                }
                self.rest.extend_from_slice(&self.buf[start..=end]);
                if !empty {
                    if self.stack.len() >= MAX_DEPTH {
                        return Err(self.error(start, "elements nested too deeply"));
                    }
                    let name = name.to_vec();
                    self.stack.push(name);
                }
            }
            Markup::End => {
                let name = local(end_name(&self.buf[start + 2..end]));
                match self.stack.last() {
                    Some(open) if open.as_slice() == name => {
                        self.stack.pop();
                        self.after_end = true;
                    }
                    _ => {
                        let found = String::from_utf8_lossy(name).into_owned();
                        return Err(self.error(
                            start,
                            format!("end tag </{found}> does not close the open element"),
                        ));
                    }
                }
                self.rest.extend_from_slice(&self.buf[start..=end]);
            }
            Markup::CData | Markup::Decl => self.rest.extend_from_slice(&self.buf[start..=end]),
            Markup::Comment | Markup::Pi => {}
        }
        Ok(None)
    }

    /// Handles the markup `buf[start..=end]` inside the element being cut out: only the
    /// depth changes, until the end tag that closes the element, which is returned.
    fn cut_markup(
        &mut self,
        kind: Markup,
        start: usize,
        end: usize,
    ) -> Result<Option<Element>, DecodeError> {
        let Some((el_start, depth)) = self.cutting else {
            return Ok(None);
        };
        match kind {
            Markup::Start if self.buf[end - 1] != b'/' => {
                if self.stack.len() + depth + 1 >= MAX_DEPTH {
                    return Err(self.error(start, "elements nested too deeply"));
                }
                self.cutting = Some((el_start, depth + 1));
            }
            Markup::End if depth == 0 => {
                self.cutting = None;
                self.after_end = true;
                return Ok(Some(self.element(el_start, end)));
            }
            Markup::End => self.cutting = Some((el_start, depth - 1)),
            _ => {}
        }
        Ok(None)
    }

    /// Whether an element named `name` opening now is at the path.
    fn at_pattern(&self, name: &[u8]) -> bool {
        let p = &self.pattern;
        p.len() == self.stack.len() + 1
            && p.iter()
                .zip(self.stack.iter().map(Vec::as_slice).chain([name]))
                .all(|(want, got)| want.as_slice() == b"*" || want.as_slice() == got)
    }

    fn element(&self, start: usize, end: usize) -> Element {
        Element {
            bytes: self.buf[start..=end].to_vec(),
            offset: self.base + start as u64,
            path: self.path(),
        }
    }

    /// Ends the document: the rest (everything but the elements cut out), or an error
    /// when the document stops inside markup, an element or an element cut out.
    /// Elements not yet taken with [`Splitter::next_element`] are looked for first;
    /// finding one is an error too (take them all before finishing). When decoding in
    /// place, an element started and not decoded (the last call's `at_end` was false
    /// or it was cut off) is reported as the document ending inside it.
    pub fn finish(mut self) -> Result<Vec<u8>, DecodeError> {
        if let Some(el) = self.next_element()? {
            return Err(self.error(
                (el.offset - self.base) as usize,
                "an element was not taken before the end",
            ));
        }
        if self.open.is_some() || self.cutting.is_some() {
            return Err(self.error(self.buf.len(), "unexpected end of input inside an element"));
        }
        if !self.stack.is_empty() {
            return Err(self.error(self.buf.len(), "unexpected end of input"));
        }
        if self.pos < self.buf.len() {
            // A `<` at the very end: not enough bytes to tell what it was.
            return Err(self.error(self.pos, "unexpected end of input inside markup"));
        }
        Ok(self.rest)
    }
}
