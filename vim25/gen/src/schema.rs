//! Reading the schema: the WSDL/XSD files (structure, element order, operations) and
//! pyVmomi's type-info files (managed objects, versions, secret flags).

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One `element` of a complexType's sequence.
#[derive(Debug, Clone)]
pub struct XsdElement {
    pub name: String,
    /// Type as written, with its prefix (`xsd:string`, `vim25:VirtualDevice`).
    pub ty: String,
    pub optional: bool,
    pub list: bool,
}

/// A complexType of the XSD.
#[derive(Debug, Clone)]
pub struct XsdComplex {
    pub name: String,
    pub base: Option<String>,
    pub elements: Vec<XsdElement>,
}

/// One WSDL operation.
#[derive(Debug, Clone)]
pub struct Operation {
    pub name: String,
    /// The request complexType (`PowerOnVMRequestType`).
    pub request_type: String,
    /// The `returnval` element of the response, if the operation returns something.
    pub returnval: Option<XsdElement>,
    pub faults: Vec<String>,
}

/// Everything read from the WSDL/XSD.
#[derive(Debug, Default)]
pub struct Xsd {
    pub complex: BTreeMap<String, XsdComplex>,
    pub enums: BTreeMap<String, Vec<String>>,
    pub operations: Vec<Operation>,
}

fn attr(e: &BytesStart<'_>, key: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == key)
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

fn local(name: &[u8]) -> &[u8] {
    match name.iter().position(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

fn element_of(e: &BytesStart<'_>) -> Option<XsdElement> {
    Some(XsdElement {
        name: attr(e, b"name")?,
        ty: attr(e, b"type")?,
        optional: attr(e, b"minOccurs").as_deref() == Some("0"),
        list: attr(e, b"maxOccurs").as_deref() == Some("unbounded"),
    })
}

/// Reads the complexTypes and simpleTypes of one schema file (or the inline schema of
/// a WSDL), and for a WSDL its top-level elements and port type.
fn read_file(path: &Path, xsd: &mut Xsd, elements: &mut HashMap<String, Element>) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut r = Reader::from_str(&text);
    r.config_mut().trim_text(true);
    // Stack of open element local names, to know where we are.
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut cur_complex: Option<XsdComplex> = None;
    let mut cur_enum: Option<(String, Vec<String>)> = None;
    let mut cur_top: Option<Element> = None;
    let mut cur_op: Option<Operation> = None;
    let mut in_port_type = false;
    loop {
        let ev = r.read_event().expect("schema XML is well formed");
        let (e, empty) = match &ev {
            Event::Start(e) => (e.clone(), false),
            Event::Empty(e) => (e.clone(), true),
            Event::End(_) => {
                let name = stack.pop().unwrap();
                match name.as_slice() {
                    b"complexType" if stack.last().map(|s| s.as_slice()) != Some(b"element") => {
                        if let Some(c) = cur_complex.take() {
                            xsd.complex.insert(c.name.clone(), c);
                        }
                    }
                    b"simpleType" => {
                        if let Some((n, v)) = cur_enum.take() {
                            xsd.enums.insert(n, v);
                        }
                    }
                    b"element" if stack.len() == 3 => {
                        if let Some(t) = cur_top.take() {
                            elements.insert(t.name.clone(), t);
                        }
                    }
                    b"operation" if in_port_type => {
                        if let Some(op) = cur_op.take() {
                            xsd.operations.push(op);
                        }
                    }
                    b"portType" => in_port_type = false,
                    _ => {}
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let lname = local(e.name().as_ref()).to_vec();
        let parent = stack.last().cloned().unwrap_or_default();
        match lname.as_slice() {
            b"complexType" => {
                if let Some(n) = attr(&e, b"name") {
                    cur_complex = Some(XsdComplex {
                        name: n,
                        base: None,
                        elements: Vec::new(),
                    });
                }
            }
            b"extension" => {
                if let (Some(c), Some(b)) = (cur_complex.as_mut(), attr(&e, b"base")) {
                    c.base = Some(b);
                }
            }
            b"simpleType" => {
                if let Some(n) = attr(&e, b"name") {
                    cur_enum = Some((n, Vec::new()));
                }
            }
            b"enumeration" => {
                if let (Some((_, v)), Some(val)) = (cur_enum.as_mut(), attr(&e, b"value")) {
                    v.push(val);
                }
            }
            b"element" => {
                if let Some(c) = cur_complex.as_mut() {
                    if let Some(el) = element_of(&e) {
                        c.elements.push(el);
                    }
                } else if let Some(t) = cur_top.as_mut() {
                    if let Some(el) = element_of(&e) {
                        t.children.push(el);
                    }
                } else if parent.as_slice() == b"schema" {
                    let t = Element {
                        name: attr(&e, b"name").unwrap_or_default(),
                        ty: attr(&e, b"type"),
                        children: Vec::new(),
                    };
                    if empty {
                        elements.insert(t.name.clone(), t);
                    } else {
                        cur_top = Some(t);
                    }
                }
            }
            b"portType" => in_port_type = true,
            b"operation" if in_port_type => {
                cur_op = Some(Operation {
                    name: attr(&e, b"name").unwrap_or_default(),
                    request_type: String::new(),
                    returnval: None,
                    faults: Vec::new(),
                });
            }
            b"fault" if in_port_type => {
                if let (Some(op), Some(m)) = (cur_op.as_mut(), attr(&e, b"message")) {
                    let m = String::from_utf8_lossy(local(m.as_bytes())).into_owned();
                    op.faults.push(m.trim_end_matches("FaultMsg").to_string());
                }
            }
            _ => {}
        }
        if !empty {
            stack.push(lname);
        }
    }
}

/// A top-level element of the WSDL's inline schema.
#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    pub ty: Option<String>,
    pub children: Vec<XsdElement>,
}

/// Reads the WSDL and the XSD files it imports from `dir` (`vsphere-wsdl/vim25`).
pub fn read_xsd(dir: &Path) -> Xsd {
    let mut xsd = Xsd::default();
    let mut elements = HashMap::new();
    for f in [
        "core-types.xsd",
        "query-types.xsd",
        "vim-types.xsd",
        "query-messagetypes.xsd",
        "vim-messagetypes.xsd",
        "vim.wsdl",
    ] {
        read_file(&dir.join(f), &mut xsd, &mut elements);
    }
    for op in &mut xsd.operations {
        let req = elements
            .get(&op.name)
            .unwrap_or_else(|| panic!("no request element for {}", op.name));
        op.request_type =
            String::from_utf8_lossy(local(req.ty.as_deref().unwrap().as_bytes())).into_owned();
        let resp = elements
            .get(&format!("{}Response", op.name))
            .unwrap_or_else(|| panic!("no response element for {}", op.name));
        op.returnval = resp
            .children
            .iter()
            .find(|c| c.name == "returnval")
            .cloned();
    }
    xsd
}

// ---------------------------------------------------------------------------------
// pyVmomi type info: a tiny reader for the Python literals of its module-level calls.

/// A Python literal value.
#[derive(Debug, Clone)]
pub enum Py {
    Str(String),
    Int(i64),
    /// A bare name (`F_OPTIONAL`, `None`) or an `|` of names.
    Name(Vec<String>),
    Seq(Vec<Py>),
}

impl Py {
    pub fn str(&self) -> &str {
        match self {
            Py::Str(s) => s,
            other => panic!("expected a string, found {other:?}"),
        }
    }
    pub fn seq(&self) -> &[Py] {
        match self {
            Py::Seq(v) => v,
            Py::Name(n) if n == &["None"] => &[],
            other => panic!("expected a sequence, found {other:?}"),
        }
    }
    /// Flag bits of `0`, `F_OPTIONAL`, `F_LINK | F_OPTIONAL`.
    pub fn flags(&self) -> u32 {
        match self {
            Py::Int(i) => *i as u32,
            Py::Name(names) => names
                .iter()
                .map(|n| match n.as_str() {
                    "F_LINK" => 1,
                    "F_LINKABLE" => 2,
                    "F_OPTIONAL" => 4,
                    "F_SECRET" => 8,
                    _ => 0,
                })
                .fold(0, |a, b| a | b),
            other => panic!("expected flags, found {other:?}"),
        }
    }
}

struct PyParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl PyParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && (self.s[self.i] as char).is_whitespace() {
            self.i += 1;
        }
    }
    fn value(&mut self) -> Py {
        self.ws();
        match self.s[self.i] {
            b'"' | b'\'' => {
                let q = self.s[self.i];
                self.i += 1;
                let start = self.i;
                while self.s[self.i] != q {
                    self.i += 1;
                }
                let v = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                Py::Str(v)
            }
            b'(' | b'[' => {
                let close = if self.s[self.i] == b'(' { b')' } else { b']' };
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.s[self.i] == close {
                        self.i += 1;
                        break;
                    }
                    items.push(self.value());
                    self.ws();
                    if self.s[self.i] == b',' {
                        self.i += 1;
                    }
                }
                Py::Seq(items)
            }
            c if c.is_ascii_digit() || c == b'-' => {
                let start = self.i;
                self.i += 1;
                while self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                Py::Int(
                    std::str::from_utf8(&self.s[start..self.i])
                        .unwrap()
                        .parse()
                        .unwrap(),
                )
            }
            _ => {
                let mut names = Vec::new();
                loop {
                    self.ws();
                    let start = self.i;
                    while self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_' {
                        self.i += 1;
                    }
                    names.push(String::from_utf8_lossy(&self.s[start..self.i]).into_owned());
                    self.ws();
                    if self.s[self.i] == b'|' {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
                Py::Name(names)
            }
        }
    }
}

/// One module-level call of a type-info file: `CreateDataType(args…)`.
#[derive(Debug)]
pub struct PyCall {
    pub func: String,
    pub args: Vec<Py>,
}

/// Reads the calls of a pyVmomi `_typeinfo_*.py` file.
pub fn read_typeinfo(path: &Path) -> Vec<PyCall> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut calls = Vec::new();
    for line in text.lines() {
        let Some(paren) = line.find('(') else {
            continue;
        };
        let func = &line[..paren];
        if !matches!(
            func,
            "CreateDataType"
                | "CreateEnumType"
                | "CreateManagedType"
                | "AddVersion"
                | "AddVersionParent"
        ) {
            continue;
        }
        let mut p = PyParser {
            s: &line.as_bytes()[paren..],
            i: 0,
        };
        let Py::Seq(args) = p.value() else {
            unreachable!()
        };
        calls.push(PyCall {
            func: func.to_string(),
            args,
        });
    }
    calls
}
