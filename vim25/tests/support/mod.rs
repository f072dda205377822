//! What the metadata-driven tests share: a seeded RNG, the schema from `vim25::meta`,
//! a small element tree and a generator of random valid documents from the schema
//! (`roundtrip.rs` checks the XML codec with them, `serde.rs` the JSON one).
#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};

use base64::Engine;
use vim25::meta::{DataTypeInfo, EnumInfo, FieldInfo};
use vim25::meta::{DATA_TYPES, ENUMS, MANAGED_OBJECTS};
use vim25::Version;

// ---------------------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------------------

/// xorshift64*.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0);
        (self.next() % n as u64) as usize
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The schema, from vim25::meta
// ---------------------------------------------------------------------------------------

pub struct Schema {
    pub types: HashMap<&'static str, &'static DataTypeInfo>,
    pub enums: HashMap<&'static str, &'static EnumInfo>,
    /// Every field of a type, inherited ones first.
    pub fields: HashMap<&'static str, Vec<&'static FieldInfo>>,
    /// A type and all its descendants, the type first.
    pub descendants: HashMap<&'static str, Vec<&'static str>>,
    pub managed_objects: Vec<&'static str>,
}

impl Schema {
    pub fn new() -> Schema {
        let types: HashMap<_, _> = DATA_TYPES.iter().map(|t| (t.name, t)).collect();
        let enums: HashMap<_, _> = ENUMS.iter().map(|e| (e.name, e)).collect();
        let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
        for t in DATA_TYPES {
            if let Some(p) = t.parent {
                children.entry(p).or_default().push(t.name);
            }
        }
        let mut fields = HashMap::new();
        for t in DATA_TYPES {
            let mut chain = vec![t];
            while let Some(p) = chain.last().unwrap().parent {
                chain.push(types[p]);
            }
            let all: Vec<&FieldInfo> = chain.iter().rev().flat_map(|t| t.fields.iter()).collect();
            fields.insert(t.name, all);
        }
        let mut descendants = HashMap::new();
        for t in DATA_TYPES {
            let mut out = vec![t.name];
            let mut i = 0;
            while i < out.len() {
                if let Some(c) = children.get(out[i]) {
                    out.extend(c.iter().copied());
                }
                i += 1;
            }
            descendants.insert(t.name, out);
        }
        Schema {
            types,
            enums,
            fields,
            descendants,
            managed_objects: MANAGED_OBJECTS.iter().map(|m| m.name).collect(),
        }
    }

    /// Whether slots declared with `ty` are polymorphic (`Any…` enums, with `xsi:type`).
    pub fn is_poly(&self, ty: &str) -> bool {
        self.descendants[ty].len() > 1
    }

    pub fn has_poly_field(&self, ty: &str) -> bool {
        self.fields[ty].iter().any(|f| {
            f.type_name == "xsd:anyType"
                || (self.types.contains_key(f.type_name) && self.is_poly(f.type_name))
        })
    }

    pub fn has_secret(&self, ty: &str) -> bool {
        self.fields[ty].iter().any(|f| f.secret)
    }

    /// The version from which the encoder writes field `name` of `ty`: `None` when it is
    /// always written. The generated encoders gate a field only when it is newer than the
    /// type that declares it (a type's own fields come with the type).
    pub fn field_gate(&self, ty: &str, name: &str) -> Option<Version> {
        let mut t = self.types[ty];
        loop {
            if let Some(f) = t.fields.iter().find(|f| f.name == name) {
                return (f.since > t.since).then_some(f.since);
            }
            t = self.types[t.parent?];
        }
    }
}

// ---------------------------------------------------------------------------------------
// A small element tree: what is generated, and what the encoder's output parses to
// ---------------------------------------------------------------------------------------

/// How a leaf's text may be rendered in the noisy variant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Data object content.
    Complex,
    /// Text taken verbatim (`xsd:string`, reference ids).
    Text,
    /// Trimmed by the decoder (numbers, dateTime, enums).
    Trimmed,
    /// A boolean (`1`/`0` are accepted as well).
    Bool,
    /// base64Binary (whitespace anywhere is ignored).
    Base64,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    /// `xsi:type` and `type`, sorted.
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Node>,
    pub kind: Kind,
    /// For data objects: the concrete schema type (for version-gating checks).
    pub ty: Option<&'static str>,
}

impl Node {
    pub fn leaf(name: &str, kind: Kind, text: String) -> Node {
        Node {
            name: name.to_string(),
            attrs: vec![],
            text,
            children: vec![],
            kind,
            ty: None,
        }
    }
    pub fn with_attr(mut self, k: &str, v: &str) -> Node {
        self.attrs.push((k.to_string(), v.to_string()));
        self.attrs.sort();
        self
    }
    pub fn count(&self) -> usize {
        1 + self.children.iter().map(Node::count).sum::<usize>()
    }
}

pub fn escape_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

pub fn escape_attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

pub const NAMESPACES: &str = r#" xmlns="urn:vim25" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance""#;

/// The document as the encoder would write it.
pub fn render(n: &Node, root: bool, out: &mut String) {
    out.push('<');
    out.push_str(&n.name);
    if root {
        out.push_str(NAMESPACES);
    }
    for (k, v) in &n.attrs {
        out.push(' ');
        out.push_str(k);
        out.push_str("=\"");
        escape_attr(out, v);
        out.push('"');
    }
    out.push('>');
    escape_text(out, &n.text);
    for c in &n.children {
        render(c, false, out);
    }
    out.push_str("</");
    out.push_str(&n.name);
    out.push('>');
}

// ---------------------------------------------------------------------------------------
// Generating documents from the metadata
// ---------------------------------------------------------------------------------------

pub const MAX_DEPTH: usize = 4;
pub const SECRET_MARKER: &str = "SECRET-MARKER-7f3a";

pub struct Gen<'s> {
    pub s: &'s Schema,
    pub rng: Rng,
    /// Elements left for optional content in this document.
    pub budget: isize,
    /// Every data type that appeared.
    pub seen: BTreeSet<&'static str>,
    /// Data types usable inside anyType values.
    pub any_types: Vec<&'static str>,
    /// Whether a secret was written.
    pub wrote_secret: bool,
}

impl<'s> Gen<'s> {
    pub fn new(s: &'s Schema, seed: u64) -> Gen<'s> {
        let any_types = DATA_TYPES.iter().map(|t| t.name).collect();
        Gen {
            s,
            rng: Rng::new(seed),
            budget: 0,
            seen: BTreeSet::new(),
            any_types,
            wrote_secret: false,
        }
    }

    pub fn optional_chance(&self, depth: usize) -> f64 {
        if depth >= MAX_DEPTH || self.budget <= 0 {
            0.0
        } else {
            [0.7, 0.5, 0.35, 0.2][depth]
        }
    }

    /// A whole document: `<obj xsi:type="T">` with random content.
    pub fn document(&mut self, ty: &'static str) -> Node {
        self.budget = 1500;
        let mut root = Node::leaf("obj", Kind::Complex, String::new()).with_attr("xsi:type", ty);
        root.children = self.fields(ty, 0, false);
        root.ty = Some(ty);
        self.seen.insert(ty);
        root
    }

    /// The fields of `ty`, inherited first.
    pub fn fields(&mut self, ty: &'static str, depth: usize, secret: bool) -> Vec<Node> {
        assert!(depth < 40, "required fields nest without end at {ty}");
        let mut out = Vec::new();
        for f in self.s.fields[ty].clone() {
            let p = self.optional_chance(depth);
            let secret = secret || f.secret;
            if f.list {
                if self.rng.chance(p) {
                    let n = 1 + self.rng.below(if depth < 2 { 3 } else { 2 });
                    for _ in 0..n {
                        out.push(self.value(f.name, f.type_name, depth + 1, secret));
                    }
                }
            } else if !f.optional || self.rng.chance(p) {
                out.push(self.value(f.name, f.type_name, depth + 1, secret));
            }
        }
        out
    }

    pub fn value(&mut self, name: &str, ty: &'static str, depth: usize, secret: bool) -> Node {
        self.budget -= 1;
        match ty {
            "xsd:string" => {
                let text = if secret {
                    self.wrote_secret = true;
                    format!("{SECRET_MARKER}-{}", self.rng.below(1000))
                } else {
                    self.string()
                };
                Node::leaf(name, Kind::Text, text)
            }
            "xsd:anyType" => self.any_value(name, depth),
            "ManagedObjectReference" => self.mor(name),
            t if t.starts_with("xsd:") => {
                let (kind, text) = self.primitive(t);
                Node::leaf(name, kind, text)
            }
            t if self.s.enums.contains_key(t) => {
                Node::leaf(name, Kind::Trimmed, self.enum_value(t))
            }
            t if self.s.types.contains_key(t) => {
                let concrete = if self.s.is_poly(t) && self.optional_chance(depth) > 0.0 {
                    *self.rng.pick(&self.s.descendants[t])
                } else {
                    t
                };
                let mut n = Node::leaf(name, Kind::Complex, String::new());
                if self.s.is_poly(t) {
                    n = n.with_attr("xsi:type", concrete);
                }
                n.children = self.fields(concrete, depth, secret);
                n.ty = Some(concrete);
                self.seen.insert(concrete);
                n
            }
            other => panic!("field type {other} is not in the metadata"),
        }
    }

    pub fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a",
            "Z",
            "vm",
            "-",
            " ",
            "  ",
            "0",
            "42",
            "&",
            "<",
            ">",
            "\"",
            "'",
            "&amp;",
            "]]>",
            "\t",
            "\n",
            "\r\n",
            "\r",
            "\u{e9}",
            "\u{65e5}\u{672c}",
            "\u{1F600}",
            "/",
            "[datastore1] x.vmx",
            "\\",
            ";",
            "%",
            "=",
            "?",
            "<!--",
            "-->",
            "<![CDATA[",
            "&#38;",
        ];
        let n = self.rng.below(9);
        (0..n).map(|_| *self.rng.pick(PIECES)).collect()
    }

    pub fn primitive(&mut self, ty: &str) -> (Kind, String) {
        let r = &mut self.rng;
        match ty {
            "xsd:boolean" => (
                Kind::Bool,
                if r.chance(0.5) { "true" } else { "false" }.into(),
            ),
            "xsd:byte" => (
                Kind::Trimmed,
                r.range(i8::MIN as i64, i8::MAX as i64).to_string(),
            ),
            "xsd:short" => (
                Kind::Trimmed,
                r.range(i16::MIN as i64, i16::MAX as i64).to_string(),
            ),
            "xsd:int" => (
                Kind::Trimmed,
                match r.below(4) {
                    0 => *r.pick(&[i32::MIN, i32::MAX, 0, -1]) as i64,
                    1 => r.range(-10, 10000),
                    _ => r.range(i32::MIN as i64, i32::MAX as i64),
                }
                .to_string(),
            ),
            "xsd:long" => (
                Kind::Trimmed,
                match r.below(4) {
                    0 => *r.pick(&[i64::MIN, i64::MAX, 0, -1]),
                    1 => r.range(-10, 1 << 40),
                    _ => r.next() as i64,
                }
                .to_string(),
            ),
            "xsd:float" => {
                let v = loop {
                    let v = match r.below(4) {
                        0 => *r.pick(&[
                            0.0f32,
                            -0.0,
                            0.1,
                            1.5,
                            f32::MAX,
                            f32::MIN_POSITIVE,
                            f32::INFINITY,
                            f32::NEG_INFINITY,
                        ]),
                        1 => r.range(-1000, 1000) as f32 / 8.0,
                        _ => f32::from_bits(r.next() as u32),
                    };
                    if !v.is_nan() {
                        break v;
                    }
                };
                (Kind::Trimmed, float_text(v as f64, v.to_string()))
            }
            "xsd:double" => {
                let v = loop {
                    let v = match r.below(4) {
                        0 => *r.pick(&[0.0f64, -0.0, 0.1, 1e300, f64::MIN_POSITIVE, f64::INFINITY]),
                        1 => r.range(-1_000_000, 1_000_000) as f64 / 1024.0,
                        _ => f64::from_bits(r.next()),
                    };
                    if !v.is_nan() {
                        break v;
                    }
                };
                (Kind::Trimmed, float_text(v, v.to_string()))
            }
            "xsd:dateTime" => {
                let frac = match r.below(3) {
                    0 => String::new(),
                    1 => format!(".{:03}", r.below(1000)),
                    _ => format!(".{:06}", r.below(1_000_000)),
                };
                let zone = match r.below(3) {
                    0 => "Z".to_string(),
                    1 => format!("+{:02}:{:02}", r.below(14), 30 * r.below(2)),
                    _ => format!("-{:02}:00", r.below(12)),
                };
                (
                    Kind::Trimmed,
                    format!(
                        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{frac}{zone}",
                        1970 + r.below(100),
                        1 + r.below(12),
                        1 + r.below(28),
                        r.below(24),
                        r.below(60),
                        r.below(60)
                    ),
                )
            }
            "xsd:base64Binary" => {
                let bytes: Vec<u8> = (0..r.below(24)).map(|_| r.next() as u8).collect();
                (
                    Kind::Base64,
                    base64::engine::general_purpose::STANDARD.encode(bytes),
                )
            }
            "xsd:anyURI" => (
                Kind::Text,
                format!("https://vc{}.example.com/sdk?a=1&b=2", r.below(9)),
            ),
            other => panic!("primitive {other}"),
        }
    }

    pub fn enum_value(&mut self, ty: &str) -> String {
        let e = self.s.enums[ty];
        if e.values.is_empty() || self.rng.chance(0.1) {
            format!("futureValue{}", self.rng.below(100))
        } else {
            self.rng.pick(e.values).0.to_string()
        }
    }

    pub fn mor(&mut self, name: &str) -> Node {
        let ty = *self.rng.pick(&self.s.managed_objects);
        let id = match self.rng.below(4) {
            0 => format!("vm-{}", self.rng.below(100_000)),
            1 => "ServiceInstance".to_string(),
            2 => format!("session[{}]5f2c&<x>", self.rng.below(100)),
            _ => format!("{}-{}", ty.to_lowercase(), self.rng.below(1000)),
        };
        Node::leaf(name, Kind::Text, id).with_attr("type", ty)
    }

    /// An `xsd:anyType` value as the encoder writes it.
    pub fn any_value(&mut self, name: &str, depth: usize) -> Node {
        let deep = self.optional_chance(depth) > 0.0;
        let choice = self.rng.below(if deep { 20 } else { 14 });
        let typed = |n: Node, t: &str| n.with_attr("xsi:type", t);
        match choice {
            0 | 1 => typed(Node::leaf(name, Kind::Text, self.string()), "xsd:string"),
            2..=7 => {
                let t = *self.rng.pick(&[
                    "xsd:int",
                    "xsd:long",
                    "xsd:short",
                    "xsd:byte",
                    "xsd:boolean",
                    "xsd:float",
                    "xsd:double",
                    "xsd:dateTime",
                    "xsd:base64Binary",
                    "xsd:anyURI",
                ]);
                let (kind, text) = self.primitive(t);
                typed(Node::leaf(name, kind, text), t)
            }
            8 => typed(self.mor(name), "ManagedObjectReference"),
            9 => {
                let e = self.rng.pick(ENUMS);
                let v = self.enum_value(e.name);
                typed(Node::leaf(name, Kind::Trimmed, v), e.name)
            }
            10..=13 => {
                // Arrays of primitives and references.
                let (array, item, prim) = *self.rng.pick(&[
                    ("ArrayOfString", "string", "xsd:string"),
                    ("ArrayOfInt", "int", "xsd:int"),
                    ("ArrayOfLong", "long", "xsd:long"),
                    ("ArrayOfBoolean", "boolean", "xsd:boolean"),
                    (
                        "ArrayOfManagedObjectReference",
                        "ManagedObjectReference",
                        "ManagedObjectReference",
                    ),
                ]);
                let mut n = typed(Node::leaf(name, Kind::Complex, String::new()), array);
                for _ in 0..self.rng.below(4) {
                    let item = match prim {
                        "xsd:string" => Node::leaf(item, Kind::Text, self.string()),
                        "ManagedObjectReference" => self.mor(item),
                        p => {
                            let (k, t) = self.primitive(p);
                            Node::leaf(item, k, t)
                        }
                    };
                    n.children.push(item);
                }
                n
            }
            14 | 15 => {
                // An array of enum values.
                let e = self.rng.pick(ENUMS);
                let mut n = typed(
                    Node::leaf(name, Kind::Complex, String::new()),
                    &format!("ArrayOf{}", e.name),
                );
                for _ in 0..1 + self.rng.below(3) {
                    let v = self.enum_value(e.name);
                    n.children.push(Node::leaf(e.name, Kind::Trimmed, v));
                }
                n
            }
            16 | 17 => {
                // A data object.
                let t = *self.rng.pick(&self.any_types);
                let mut n = typed(Node::leaf(name, Kind::Complex, String::new()), t);
                n.children = self.fields(t, depth, false);
                n.ty = Some(t);
                self.seen.insert(t);
                n
            }
            _ => {
                // An array of data objects, some of them subtypes. Item types whose name
                // starts in lower case are left out: `array_of_lowercase_type_round_trips`.
                let item = loop {
                    let t = *self.rng.pick(&self.any_types);
                    if t.starts_with(|c: char| c.is_ascii_uppercase()) {
                        break t;
                    }
                };
                let mut n = typed(
                    Node::leaf(name, Kind::Complex, String::new()),
                    &format!("ArrayOf{item}"),
                );
                for _ in 0..1 + self.rng.below(2) {
                    let concrete = *self.rng.pick(&self.s.descendants[item]);
                    let mut c = Node::leaf(item, Kind::Complex, String::new());
                    if concrete != item {
                        c = c.with_attr("xsi:type", concrete);
                    }
                    c.children = self.fields(concrete, depth, false);
                    c.ty = Some(concrete);
                    self.seen.insert(concrete);
                    n.children.push(c);
                }
                n
            }
        }
    }
}

/// The XSD lexical form the encoder writes for a float or double.
pub fn float_text(v: f64, finite: String) -> String {
    if v == f64::INFINITY {
        "INF".into()
    } else if v == f64::NEG_INFINITY {
        "-INF".into()
    } else {
        finite
    }
}

// ---------------------------------------------------------------------------------------
// What the round-trip properties run on
// ---------------------------------------------------------------------------------------

/// The top-level types the round-trip tests generate documents for: a seeded sample of
/// the schema, the types the crate leans on, every type with a secret field, and enough
/// faults and types with polymorphic fields.
pub fn type_choice(s: &Schema) -> Vec<&'static str> {
    let mut rng = Rng::new(0x005E_ED0F_7E57);
    let mut order: Vec<&'static str> = DATA_TYPES.iter().map(|t| t.name).collect();
    rng.shuffle(&mut order);
    let mut chosen: Vec<&'static str> = order[..330].to_vec();
    // Types the rest of the crate leans on, and every type with a secret field.
    let forced = [
        "VirtualMachineConfigInfo",
        "VirtualMachineConfigSpec",
        "VirtualMachineRuntimeInfo",
        "VirtualDisk",
        "VirtualVmxnet3",
        "ObjectContent",
        "RetrieveResult",
        "PropertyFilterSpec",
        "TaskInfo",
        "LocalizedMethodFault",
        "MethodFault",
        "InvalidLogin",
        "ManagedObjectNotFound",
        "NoPermission",
        "SystemError",
        "OptionValue",
        "DynamicProperty",
        "UserSession",
        "HostConnectSpec",
        "VmFailedToPowerOnEvent",
        "EventEx",
    ];
    chosen.extend(forced);
    chosen.extend(
        DATA_TYPES
            .iter()
            .map(|t| t.name)
            .filter(|t| s.has_secret(t)),
    );
    let mut dedup = BTreeSet::new();
    chosen.retain(|t| dedup.insert(*t));
    // At least 60 faults and 100 types with polymorphic fields.
    let add_until = |pred: &dyn Fn(&str) -> bool, n: usize, chosen: &mut Vec<&'static str>| {
        for t in &order[330..] {
            if chosen.iter().filter(|c| pred(c)).count() >= n {
                break;
            }
            if pred(t) {
                chosen.push(t);
            }
        }
    };
    add_until(&|t| s.types[t].fault, 60, &mut chosen);
    add_until(&|t| s.has_poly_field(t), 100, &mut chosen);
    chosen
}

/// Runs `f` on a thread with a large stack: decoding nested faults needs several hundred
/// KiB of stack per level in unoptimised builds (see codec.rs,
/// `deep_fault_cause_chains_do_not_overflow_the_stack`), which these generated documents
/// may contain.
pub fn with_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}
