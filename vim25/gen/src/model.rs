//! The unified model the emitter works from: the XSD's structure joined with pyVmomi's
//! versions, secret flags and managed objects.

use crate::schema::{read_typeinfo, read_xsd, Py, XsdElement};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// A field's value type, before `Option`/`Vec` wrapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    /// A primitive: (Rust type, XSD local name).
    Prim(&'static str, &'static str),
    /// `xsd:anyType`.
    Any,
    /// `ManagedObjectReference`.
    Mor,
    /// A string enum of the schema.
    Enum(String),
    /// A data object; `poly` when the type has subtypes (then its `AnyX` enum is used).
    Data { name: String, poly: bool },
}

#[derive(Debug, Clone)]
pub struct Field {
    pub wire: String,
    pub rust: String,
    pub ty: Ty,
    pub optional: bool,
    pub list: bool,
    /// Boxed to break a recursive containment.
    pub boxed: bool,
    pub version: usize,
    pub secret: bool,
}

#[derive(Debug, Clone)]
pub struct DataType {
    pub name: String,
    pub parent: Option<String>,
    pub fields: Vec<Field>,
    pub version: usize,
    pub is_fault: bool,
    /// Direct subtypes.
    pub children: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct EnumType {
    pub name: String,
    pub version: usize,
    /// (wire value, Rust variant, version).
    pub values: Vec<(String, String, usize)>,
}

#[derive(Debug, Clone)]
pub struct Param {
    pub wire: String,
    pub rust: String,
    pub ty: Ty,
    pub optional: bool,
    pub list: bool,
    pub version: usize,
    pub secret: bool,
}

#[derive(Debug, Clone)]
pub struct Method {
    pub wire: String,
    pub rust: String,
    /// The managed object type that owns it.
    pub owner: String,
    pub version: usize,
    pub params: Vec<Param>,
    /// The `returnval` (type, optional, list), if any.
    pub ret: Option<(Ty, bool, bool)>,
    /// For `_Task` methods, the wire type of the task's result (`info.result`).
    pub task_result: Option<String>,
    pub faults: Vec<String>,
    pub idempotent: bool,
    /// The whole `returnval` is a credential (a ticket, a URL carrying one).
    pub secret_return: bool,
}

#[derive(Debug, Clone)]
pub struct MoProp {
    pub wire: String,
    pub rust: String,
    pub ty: Ty,
    pub list: bool,
    pub version: usize,
    /// The managed type that declares it (a parent for inherited properties).
    pub declared_in: String,
}

#[derive(Debug, Clone)]
pub struct ManagedType {
    pub name: String,
    pub parent: Option<String>,
    pub version: usize,
    /// All properties, inherited ones first.
    pub props: Vec<MoProp>,
    pub methods: Vec<String>,
}

/// API versions in ascending order: (Rust variant, wire string).
#[derive(Debug)]
pub struct Model {
    pub versions: Vec<(String, String)>,
    pub data: BTreeMap<String, DataType>,
    pub enums: BTreeMap<String, EnumType>,
    pub methods: Vec<Method>,
    pub managed: BTreeMap<String, ManagedType>,
}

impl Model {
    /// Every transitive subtype of `name`, in name order.
    pub fn descendants(&self, name: &str) -> Vec<String> {
        let mut out = BTreeSet::new();
        let mut todo = vec![name.to_string()];
        while let Some(n) = todo.pop() {
            for c in &self.data[&n].children {
                if out.insert(c.clone()) {
                    todo.push(c.clone());
                }
            }
        }
        out.into_iter().collect()
    }
}

const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// The Rust name of a wire name: its words (see `words`) lower-cased and joined by
/// `_`, with a trailing `_` for keywords (`numCPUs` → `num_cpus`, `IPAddress` →
/// `ip_address`, `vPMCEnabled` → `vpmc_enabled`, `PowerOnVM_Task` → `power_on_vm_task`).
pub fn snake(wire: &str) -> String {
    keyword_safe(words(wire).join("_").to_ascii_lowercase())
}

/// The Rust name of a wire name under the first naming rule, which splits acronyms
/// (`numCPUs` → `num_cp_us`). Method names keep it so the client's function names do
/// not change.
///
/// A `_` goes before an upper-case letter that follows a lower-case letter or digit,
/// and before the last capital of a run that is followed by a lower-case letter
/// (`numCPU` → `num_cpu`, `IPAddress` → `ip_address`, `PowerOnVM_Task` →
/// `power_on_vm_task`).
pub fn snake_legacy(wire: &str) -> String {
    let c: Vec<char> = wire.chars().collect();
    let mut out = String::new();
    for i in 0..c.len() {
        let ch = c[i];
        if ch.is_ascii_uppercase() && i > 0 {
            let prev = c[i - 1];
            let next_lower = c.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        if ch == '_' || ch == '-' || ch == '.' {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        out.push(ch.to_ascii_lowercase());
    }
    keyword_safe(out.trim_matches('_').to_string())
}

fn keyword_safe(name: String) -> String {
    if KEYWORDS.contains(&name.as_str()) {
        format!("{name}_")
    } else {
        name
    }
}

/// The words of a wire name, as written (case kept).
///
/// `_`, `-` and `.` separate words. Within a part:
/// - a run of capitals is one word, with the digits inside it (`ICH7M`);
/// - a capital run followed by a lower-case letter gives its last capital to the word
///   that letter continues (`IPAddress` → `IP` `Address`), except that a single
///   `s` followed by a capital, a digit or the end of the part stays with the run (a
///   plural: `CPUs`, `VMs`, `HBAs`), and so does a single lower-case letter followed by
///   digits, with the digits (a version: `NFSv41`, `IPv6`);
/// - a lone capital right after digits joins them (`enable3D`, as in `accel3d`);
/// - digits and lower-case letters continue the word they follow (`ipv6`, `e1000e`);
/// - a part's one-letter lower-case first word joins the word after it (`vPMCEnabled`
///   → `vPMC` `Enabled`, `vAppConfig` → `vApp` `Config`, `iScsiName` → `iScsi` `Name`).
fn words(wire: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in wire.split(['_', '-', '.']) {
        let c: Vec<char> = part.chars().collect();
        let upper = |i: usize| c.get(i).is_some_and(char::is_ascii_uppercase);
        let lower = |i: usize| c.get(i).is_some_and(char::is_ascii_lowercase);
        let digit = |i: usize| c.get(i).is_some_and(char::is_ascii_digit);
        let mut ws: Vec<String> = Vec::new();
        let mut i = 0;
        while i < c.len() {
            let start = i;
            if upper(i) {
                while upper(i) || digit(i) {
                    i += 1;
                }
                let run = i - start;
                let plural = c.get(i) == Some(&'s') && !lower(i + 1);
                let version = lower(i) && digit(i + 1);
                if run >= 2 && (plural || version) {
                    // A plural or version suffix of the acronym: `CPUs`, `NFSv41`.
                    i += 1;
                    while digit(i) {
                        i += 1;
                    }
                } else if run >= 2 && lower(i) && upper(i - 1) {
                    // The last capital starts the next word: `IP` `Address`.
                    i -= 1;
                } else {
                    while lower(i) || digit(i) {
                        i += 1;
                    }
                }
            } else {
                while i < c.len() && !upper(i) {
                    i += 1;
                }
            }
            let w: String = c[start..i].iter().collect();
            match ws.last_mut() {
                // A lone capital after digits belongs to them: `enable3D`.
                Some(prev)
                    if w.len() == 1
                        && upper(start)
                        && prev.ends_with(|ch: char| ch.is_ascii_digit()) =>
                {
                    prev.push_str(&w);
                }
                _ => ws.push(w),
            }
        }
        if ws.len() >= 2
            && ws[0].len() == 1
            && ws[0].starts_with(|ch: char| ch.is_ascii_lowercase())
        {
            let w = ws.remove(1);
            ws[0].push_str(&w);
        }
        out.extend(ws);
    }
    out
}

/// The Rust variant name of an enum value: alphanumeric runs, each capitalised.
pub fn variant(value: &str) -> String {
    let mut out = String::new();
    for part in value.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut cs = part.chars();
        if let Some(f) = cs.next() {
            out.push(f.to_ascii_uppercase());
            out.extend(cs);
        }
    }
    if out.is_empty() {
        out.push_str("Empty");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    if out == "Self" {
        out.push('_');
    }
    out
}

fn prim(local: &str) -> Option<Ty> {
    Some(match local {
        "string" | "anyURI" => Ty::Prim(
            "String",
            if local == "string" {
                "string"
            } else {
                "anyURI"
            },
        ),
        "boolean" => Ty::Prim("bool", "boolean"),
        "int" => Ty::Prim("i32", "int"),
        "long" => Ty::Prim("i64", "long"),
        "short" => Ty::Prim("i16", "short"),
        "byte" => Ty::Prim("i8", "byte"),
        "float" => Ty::Prim("f32", "float"),
        "double" => Ty::Prim("f64", "double"),
        "dateTime" => Ty::Prim("DateTime", "dateTime"),
        "base64Binary" => Ty::Prim("Vec<u8>", "base64Binary"),
        "anyType" => Ty::Any,
        _ => return None,
    })
}

/// Loads the whole model from `shared/vsphere-wsdl`.
pub fn load(root: &Path) -> Model {
    let xsd = read_xsd(&root.join("vim25"));
    let ti = root.join("pyvmomi-typeinfo/9.1.1.0");
    let mut calls = Vec::new();
    for f in [
        "_typeinfo_core.py",
        "_typeinfo_query.py",
        "_typeinfo_vim.py",
    ] {
        calls.extend(read_typeinfo(&ti.join(f)));
    }
    let old_calls = read_typeinfo(&root.join("pyvmomi-typeinfo/8.0.3.0.1/_typeinfo_vim.py"));
    // The vSAN health type info adds data types that vim-types.xsd uses (its managed
    // types belong to the vSAN endpoint and are left out).
    let vsan_calls: Vec<_> = read_typeinfo(&ti.join("_typeinfo_vsanhealth.py"))
        .into_iter()
        .filter(|c| c.func != "CreateManagedType")
        .collect();

    // Versions: ordered by how many ancestors each has.
    let mut version_wire: HashMap<String, String> = HashMap::new();
    let mut depth: HashMap<String, usize> = HashMap::new();
    let mut version_parents: HashMap<String, Vec<String>> = HashMap::new();
    for c in &calls {
        match c.func.as_str() {
            "AddVersion" if c.args[1].str() == "vim25" => {
                version_wire.insert(c.args[0].str().into(), c.args[2].str().into());
            }
            "AddVersionParent" => *depth.entry(c.args[0].str().into()).or_default() += 1,
            _ => {}
        }
    }
    for c in calls.iter().chain(&vsan_calls) {
        if c.func == "AddVersionParent" {
            version_parents
                .entry(c.args[0].str().into())
                .or_default()
                .push(c.args[1].str().into());
        }
    }
    let mut vs: Vec<(usize, String)> = version_wire
        .values()
        .map(|w| {
            let id = version_wire.iter().find(|(_, v)| *v == w).unwrap().0;
            (depth[id], w.clone())
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    vs.sort();
    let versions: Vec<(String, String)> = vs
        .iter()
        .map(|(_, w)| (format!("V{}", w.replace('.', "_")), w.clone()))
        .collect();
    let direct = |id: &str| -> Option<usize> {
        let w = version_wire.get(id)?;
        versions.iter().position(|(_, v)| v == w)
    };
    // A version of another namespace (vSAN's) maps to the newest vim25 release among
    // its ancestors; vmodl core and query versions predate every vim25 release.
    let vindex = |id: &str| -> usize {
        direct(id).unwrap_or_else(|| {
            version_parents
                .get(id)
                .into_iter()
                .flatten()
                .filter_map(|p| direct(p))
                .max()
                .unwrap_or(0)
        })
    };

    // pyVmomi data: names, versions, flags.
    let mut vmodl_to_wsdl: HashMap<String, String> = HashMap::new();
    let mut dt_version: HashMap<String, usize> = HashMap::new();
    let mut prop_info: HashMap<(String, String), (usize, u32)> = HashMap::new();
    let mut enum_version: HashMap<String, usize> = HashMap::new();
    let mut managed_calls = Vec::new();
    for c in vsan_calls.iter().chain(&calls) {
        match c.func.as_str() {
            "CreateDataType" => {
                let wsdl = c.args[1].str().to_string();
                vmodl_to_wsdl.insert(c.args[0].str().into(), wsdl.clone());
                dt_version.insert(wsdl.clone(), vindex(c.args[3].str()));
                for p in c.args[4].seq() {
                    let p = p.seq();
                    prop_info.insert(
                        (wsdl.clone(), p[0].str().into()),
                        (vindex(p[2].str()), p[3].flags()),
                    );
                }
            }
            "CreateEnumType" => {
                vmodl_to_wsdl.insert(c.args[0].str().into(), c.args[1].str().into());
                enum_version.insert(c.args[1].str().into(), vindex(c.args[2].str()));
            }
            "CreateManagedType" => {
                vmodl_to_wsdl.insert(c.args[0].str().into(), c.args[1].str().into());
                managed_calls.push(c);
            }
            _ => {}
        }
    }
    let mut old_enum_values: HashMap<String, BTreeSet<String>> = HashMap::new();
    for c in &old_calls {
        if c.func == "CreateEnumType" {
            let vals = c.args[3]
                .seq()
                .iter()
                .map(|v| v.str().to_string())
                .collect();
            old_enum_values.insert(c.args[1].str().into(), vals);
        }
    }
    let managed_names: BTreeSet<String> = managed_calls
        .iter()
        .map(|c| c.args[1].str().to_string())
        .chain(["ManagedObject".to_string()])
        .collect();

    // Data types from the XSD (request types and ArrayOf wrappers are not data types).
    let request_types: BTreeSet<&str> = xsd
        .operations
        .iter()
        .map(|o| o.request_type.as_str())
        .collect();
    let is_data = |n: &str| {
        xsd.complex.contains_key(n)
            && !n.starts_with("ArrayOf")
            && !request_types.contains(n)
            && n != "ManagedObjectReference"
            && n != "DynamicData"
            && n != "DynamicArray"
    };
    let mut data: BTreeMap<String, DataType> = BTreeMap::new();
    for (name, c) in &xsd.complex {
        if !is_data(name) {
            continue;
        }
        let parent = c
            .base
            .as_deref()
            .map(|b| b.split(':').nth(1).unwrap_or(b).to_string())
            .filter(|b| b != "DynamicData");
        data.insert(
            name.clone(),
            DataType {
                name: name.clone(),
                parent,
                fields: Vec::new(),
                version: dt_version.get(name).copied().unwrap_or(0),
                is_fault: false,
                children: Vec::new(),
            },
        );
    }
    let names: Vec<String> = data.keys().cloned().collect();
    for n in &names {
        if let Some(p) = data[n].parent.clone() {
            data.get_mut(&p)
                .unwrap_or_else(|| panic!("{n} extends unknown {p}"))
                .children
                .push(n.clone());
        }
    }
    // A type cannot be older than its base (the type info leaves some unset).
    for n in &names {
        let mut v = data[n].version;
        let mut cur = data[n].parent.clone();
        while let Some(p) = cur {
            v = v.max(data[&p].version);
            cur = data[&p].parent.clone();
        }
        data.get_mut(n).unwrap().version = v;
    }
    for n in &names {
        let mut cur = Some(n.clone());
        while let Some(c) = cur {
            if c == "MethodFault" {
                data.get_mut(n).unwrap().is_fault = true;
                break;
            }
            cur = data[&c].parent.clone();
        }
    }
    let ty_of = |data: &BTreeMap<String, DataType>, t: &str| -> Option<Ty> {
        let (prefix, local) = t.split_once(':').unwrap_or(("", t));
        if prefix == "xsd" {
            return Some(prim(local).unwrap_or_else(|| panic!("primitive {t}")));
        }
        if prefix != "vim25" {
            return None; // vSAN extension groups live on their own endpoint
        }
        if local == "ManagedObjectReference" {
            return Some(Ty::Mor);
        }
        if xsd.enums.contains_key(local) {
            return Some(Ty::Enum(local.into()));
        }
        let d = data
            .get(local)
            .unwrap_or_else(|| panic!("unknown type {t}"));
        Some(Ty::Data {
            name: local.into(),
            poly: !d.children.is_empty(),
        })
    };
    for n in &names {
        let mut fields = Vec::new();
        for el in &xsd.complex[n].elements {
            let Some(ty) = ty_of(&data, &el.ty) else {
                continue;
            };
            let (version, flags) = prop_info
                .get(&(n.clone(), el.name.clone()))
                .copied()
                .unwrap_or((data[n].version, 0));
            let secret = flags & 8 != 0 || is_secret_field(n, &el.name, &ty);
            fields.push(Field {
                wire: el.name.clone(),
                rust: snake(&el.name),
                ty,
                optional: el.optional,
                list: el.list,
                boxed: false,
                version: version.max(data[n].version),
                secret,
            });
        }
        let mut seen = BTreeSet::new();
        for f in &fields {
            assert!(
                f.rust != "base_" && f.rust != "type_name_",
                "{n}.{} collides",
                f.wire
            );
            assert!(
                seen.insert(f.rust.clone()),
                "{n}: two fields named {}",
                f.rust
            );
        }
        data.get_mut(n).unwrap().fields = fields;
    }
    mark_boxes(&mut data);

    // Enums.
    let mut enums = BTreeMap::new();
    for (name, values) in &xsd.enums {
        let version = enum_version.get(name).copied().unwrap_or(0);
        let old = old_enum_values.get(name);
        let v9 = versions.iter().position(|(_, w)| w == "9.0.0.0").unwrap();
        let mut used = BTreeSet::new();
        let vals = values
            .iter()
            .map(|v| {
                let mut var = variant(v);
                if var == "Unrecognized" || used.contains(&var) {
                    let base = var.clone();
                    let mut i = 2;
                    while used.contains(&var) || var == "Unrecognized" {
                        var = format!("{base}{i}");
                        i += 1;
                    }
                }
                used.insert(var.clone());
                // pyVmomi tags enums, not values: a value missing from the 8.0.3 type
                // info of an older enum arrived with 9.0.
                let vv = match old {
                    Some(o) if !o.contains(v) && version < v9 => v9,
                    _ => version,
                };
                (v.clone(), var, vv)
            })
            .collect();
        enums.insert(
            name.clone(),
            EnumType {
                name: name.clone(),
                version,
                values: vals,
            },
        );
    }

    // Managed objects and methods.
    let wsdl_of = |vmodl: &str| -> String {
        vmodl_to_wsdl
            .get(vmodl)
            .cloned()
            .unwrap_or_else(|| vmodl.rsplit('.').next().unwrap().to_string())
    };
    let py_ty = |data: &BTreeMap<String, DataType>, t: &str| -> (Ty, bool) {
        let (t, list) = match t.strip_suffix("[]") {
            Some(s) => (s, true),
            None => (t, false),
        };
        let ty = match t {
            "vmodl.DateTime" => Ty::Prim("DateTime", "dateTime"),
            "vmodl.Binary" => Ty::Prim("Vec<u8>", "base64Binary"),
            "vmodl.TypeName" | "vmodl.PropertyPath" | "vmodl.MethodName" | "vmodl.URI" => {
                Ty::Prim("String", "string")
            }
            "vmodl.ManagedObject" => Ty::Mor,
            _ => match prim(t) {
                Some(p) => p,
                None => {
                    let w = wsdl_of(t);
                    if managed_names.contains(&w) {
                        Ty::Mor
                    } else {
                        ty_of(data, &format!("vim25:{w}")).expect("vim25 type")
                    }
                }
            },
        };
        (ty, list)
    };
    let mut method_owner: HashMap<String, (String, usize, Option<String>)> = HashMap::new();
    // (operation, parameter) → pyVmomi flags: F_SECRET marks `UploadClientCert`'s
    // `privateKey` or `ProvisionServerPrivateKey`'s `key`, which no name rule catches.
    let mut param_flags: HashMap<(String, String), u32> = HashMap::new();
    let mut managed: BTreeMap<String, ManagedType> = BTreeMap::new();
    let mut own_props: HashMap<String, Vec<MoProp>> = HashMap::new();
    let mut parents: HashMap<String, Option<String>> = HashMap::new();
    for c in &managed_calls {
        let name = c.args[1].str().to_string();
        let parent = Some(wsdl_of(c.args[2].str())).filter(|p| p != "ManagedObject");
        parents.insert(name.clone(), parent.clone());
        let props = c.args[4]
            .seq()
            .iter()
            .map(|p| {
                let p = p.seq();
                let (ty, list) = py_ty(&data, p[1].str());
                MoProp {
                    wire: p[0].str().into(),
                    rust: snake(p[0].str()),
                    ty,
                    list,
                    version: vindex(p[2].str()),
                    declared_in: name.clone(),
                }
            })
            .collect();
        own_props.insert(name.clone(), props);
        let mut methods = Vec::new();
        for m in c.args[5].seq() {
            let m = m.seq();
            let wire = m[1].str().to_string();
            let ret = m[4].seq();
            let task_result = match &ret[2] {
                Py::Str(s) if ret[1].str() == "vim.Task" => Some(s.clone()),
                _ => None,
            };
            for p in m[3].seq() {
                let p = p.seq();
                param_flags.insert((wire.clone(), p[0].str().into()), p[3].flags());
            }
            method_owner.insert(
                wire.clone(),
                (name.clone(), vindex(m[2].str()), task_result),
            );
            methods.push(wire);
        }
        managed.insert(
            name.clone(),
            ManagedType {
                name: name.clone(),
                parent,
                version: vindex(c.args[3].str()),
                props: Vec::new(),
                methods,
            },
        );
    }
    for name in managed.keys().cloned().collect::<Vec<_>>() {
        let mut chain = vec![name.clone()];
        while let Some(Some(p)) = parents.get(chain.last().unwrap()) {
            chain.push(p.clone());
        }
        let mut props = Vec::new();
        for t in chain.iter().rev() {
            props.extend(own_props[t].iter().cloned());
        }
        assert!(
            props.iter().all(|p| p.rust != "obj"),
            "{name} has a property named obj"
        );
        managed.get_mut(&name).unwrap().props = props;
    }

    let mut methods = Vec::new();
    let mut seen = BTreeSet::new();
    for op in &xsd.operations {
        let (owner, version, task_result) = method_owner
            .get(&op.name)
            .cloned()
            .unwrap_or_else(|| panic!("no managed type owns {}", op.name));
        let req = &xsd.complex[&op.request_type];
        let params = req
            .elements
            .iter()
            .skip(1)
            .map(|el: &XsdElement| {
                let ty = ty_of(&data, &el.ty).expect("vim25 parameter type");
                let mut rust = snake(&el.name);
                if rust == "client" || rust == "this" {
                    rust.push('_');
                }
                let flags = param_flags
                    .get(&(op.name.clone(), el.name.clone()))
                    .copied()
                    .unwrap_or(0);
                let secret = flags & 8 != 0 || is_secret_name(&el.name, &ty);
                Param {
                    wire: el.name.clone(),
                    rust,
                    ty,
                    optional: el.optional,
                    list: el.list,
                    version,
                    secret,
                }
            })
            .collect();
        let ret = op.returnval.as_ref().map(|r| {
            (
                ty_of(&data, &r.ty).expect("vim25 return type"),
                r.optional,
                r.list,
            )
        });
        // Function names keep the first rule: `snake` would rename three of them
        // (`get_system_v_ms_restricted_datastores` → `get_system_vms_…`).
        let rust = snake_legacy(&op.name);
        assert!(seen.insert(rust.clone()), "two methods named {rust}");
        methods.push(Method {
            wire: op.name.clone(),
            idempotent: is_idempotent(&op.name),
            rust,
            owner,
            version,
            params,
            ret,
            task_result: task_result.map(|t| wsdl_of(t.trim_end_matches("[]"))),
            faults: op.faults.clone(),
            secret_return: SECRET_RETURNS.contains(&op.name.as_str()),
        });
    }

    Model {
        versions,
        data,
        enums,
        methods,
        managed,
    }
}

/// Fields that hold credentials although pyVmomi does not flag them and their names
/// do not say so: the session key (some servers take it as the session cookie) and
/// the guest file-transfer URL (it carries a one-time ticket).
const SECRET_FIELDS: &[(&str, &str)] =
    &[("FileTransferInformation", "url"), ("UserSession", "key")];

/// Operations whose whole answer is a credential: a clone ticket, or the guest
/// upload URL with its one-time ticket.
const SECRET_RETURNS: &[&str] = &["AcquireCloneTicket", "InitiateFileTransferToGuest"];

/// Whether a data object's field holds a secret beyond pyVmomi's `F_SECRET` flags.
fn is_secret_field(owner: &str, name: &str, ty: &Ty) -> bool {
    SECRET_FIELDS.contains(&(owner, name)) || is_secret_name(name, ty)
}

/// Whether a string field or parameter is a credential by its name: pyVmomi leaves
/// some unflagged (`HostConfigSpec.datastorePrincipalPasswd`, `SSPIAuthentication.
/// sspiToken`, `CloneSession`'s `cloneTicket`, session ids). Booleans, numbers
/// (`resetPassword`, `connectionCookie`) and names of a kind or a place (`ticketType`,
/// `passwordFilePath`) are about a secret, not one.
fn is_secret_name(name: &str, ty: &Ty) -> bool {
    if !matches!(ty, Ty::Prim("String", _)) || name.ends_with("Type") || name.ends_with("Path") {
        return false;
    }
    let n = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "ticket",
        "privatekey",
        "sessionid",
        "keydata",
        "cookie",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Calls that only read, and so may be sent again after a re-login or a network error.
/// Reads that move a server-side cursor are not: resending one after a lost response
/// would skip a page (`ReadNextEvents`, `QueryNext`, `FetchAuditRecords`, and
/// `ContinueRetrievePropertiesEx`, whose token is spent once answered).
fn is_idempotent(op: &str) -> bool {
    if op.ends_with("_Task")
        || op == "ContinueRetrievePropertiesEx"
        || op == "FetchAuditRecords"
        || op.starts_with("ReadNext")
        || op.starts_with("ReadPrevious")
        || op.starts_with("QueryNext")
    {
        return false;
    }
    // A wait for updates names the version its caller has seen: sent again, it brings
    // the same changes or newer ones, never loses any.
    if matches!(op, "WaitForUpdates" | "WaitForUpdatesEx") {
        return true;
    }
    [
        "Retrieve", "Query", "Find", "Current", "Fetch", "Has", "Read", "Browse", "Check",
        "Validate", "Estimate", "Lookup", "Evaluate", "Compute",
    ]
    .iter()
    .any(|p| op.starts_with(p))
}

/// Marks the fields that must be boxed because a type would otherwise contain itself
/// (inline fields and the inherited base form the containment graph).
fn mark_boxes(data: &mut BTreeMap<String, DataType>) {
    let names: Vec<String> = data.keys().cloned().collect();
    let idx: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
    for (i, n) in names.iter().enumerate() {
        let d = &data[n];
        if let Some(p) = &d.parent {
            edges[i].push(idx[p.as_str()]);
        }
        for f in &d.fields {
            if let Ty::Data { name, poly: false } = &f.ty {
                if !f.list {
                    edges[i].push(idx[name.as_str()]);
                }
            }
        }
    }
    let comp = tarjan(&edges);
    for (i, n) in names.iter().enumerate() {
        let d = data.get_mut(n).unwrap();
        for f in &mut d.fields {
            if let Ty::Data { name, poly: false } = &f.ty {
                if !f.list && comp[idx[name.as_str()]] == comp[i] {
                    f.boxed = true;
                }
            }
        }
    }
}

/// Strongly connected components (iterative Tarjan); returns the component of each node.
fn tarjan(edges: &[Vec<usize>]) -> Vec<usize> {
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on = vec![false; n];
    let mut comp = vec![usize::MAX; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut ncomp = 0;
    for s in 0..n {
        if index[s] != usize::MAX {
            continue;
        }
        let mut work = vec![(s, 0usize)];
        while let Some(&mut (v, ref mut ei)) = work.last_mut() {
            if *ei == 0 && index[v] == usize::MAX {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on[v] = true;
            }
            if *ei < edges[v].len() {
                let w = edges[v][*ei];
                *ei += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(u, _)) = work.last() {
                low[u] = low[u].min(low[v]);
            }
            if low[v] == index[v] {
                loop {
                    let w = stack.pop().unwrap();
                    on[w] = false;
                    comp[w] = ncomp;
                    if w == v {
                        break;
                    }
                }
                ncomp += 1;
            }
        }
    }
    comp
}

#[cfg(test)]
mod tests {
    use super::{snake, snake_legacy, words};

    #[test]
    fn acronyms_stay_whole() {
        for (wire, rust) in [
            ("numCPUs", "num_cpus"),
            ("virtualICH7MPresent", "virtual_ich7m_present"),
            ("vPMCEnabled", "vpmc_enabled"),
            ("encryptedVMs", "encrypted_vms"),
            ("numHBAs", "num_hbas"),
            ("numTDXPrivateKeyIDs", "num_tdx_private_key_ids"),
            ("oneKVolumeAPIsSupported", "one_k_volume_apis_supported"),
            ("systemVMsConfig", "system_vms_config"),
            ("vmknicBindingOnNFSv41", "vmknic_binding_on_nfsv41"),
            ("IPv6Address", "ipv6_address"),
            ("vmfs3EOLSupported", "vmfs3_eol_supported"),
            ("numPS2Controllers", "num_ps2_controllers"),
            ("partialMMId", "partial_mm_id"),
        ] {
            assert_eq!(snake(wire), rust, "{wire}");
        }
    }

    #[test]
    fn one_letter_prefixes_join_the_next_word() {
        for (wire, rust) in [
            ("vAppConfig", "vapp_config"),
            ("vMotionBandwidth", "vmotion_bandwidth"),
            ("iScsiName", "iscsi_name"),
            ("vRAMSizeInKB", "vram_size_in_kb"),
            (
                "hBDatastoreCandidatePolicy",
                "hb_datastore_candidate_policy",
            ),
            ("nConnectSupported", "nconnect_supported"),
            ("vSANPMemInfo", "vsanp_mem_info"),
            ("x", "x"),
            ("foo_vBar", "foo_vbar"),
        ] {
            assert_eq!(snake(wire), rust, "{wire}");
        }
        // Only a lower-case prefix: a capital `V` is a word of its own.
        assert_eq!(snake("parentVApp"), "parent_v_app");
        assert_eq!(
            snake("storageVMotionSupported"),
            "storage_v_motion_supported"
        );
    }

    #[test]
    fn digits_stay_with_their_word() {
        for (wire, rust) in [
            ("ipv6Address", "ipv6_address"),
            ("ipV6Address", "ip_v6_address"),
            ("e1000", "e1000"),
            ("VirtualE1000e", "virtual_e1000e"),
            ("int8", "int8"),
            ("uptv2Enabled", "uptv2_enabled"),
            ("vmDirectPathGen2Active", "vm_direct_path_gen2_active"),
            ("enable3DSupport", "enable3d_support"),
            ("supports3D", "supports3d"),
            ("accel3dSupported", "accel3d_supported"),
            ("nfs41Krb5iSupported", "nfs41_krb5i_supported"),
            ("s1AcpiManagementSupported", "s1_acpi_management_supported"),
            ("roceV2Capable", "roce_v2_capable"),
            ("InstallHostPatchV2_Task", "install_host_patch_v2_task"),
        ] {
            assert_eq!(snake(wire), rust, "{wire}");
        }
    }

    #[test]
    fn earlier_names_are_kept() {
        for (wire, rust) in [
            ("IPAddress", "ip_address"),
            ("PowerOnVM_Task", "power_on_vm_task"),
            ("numCPU", "num_cpu"),
            ("RetrievePropertiesEx", "retrieve_properties_ex"),
            ("cpuMHz", "cpu_m_hz"),
            ("usedB", "used_b"),
            ("type", "type_"),
            ("self", "self_"),
            ("_this", "this"),
            ("a-b.c", "a_b_c"),
            ("foo__Bar", "foo_bar"),
            ("VM", "vm"),
        ] {
            assert_eq!(snake(wire), rust, "{wire}");
            assert_eq!(snake_legacy(wire), rust, "{wire}");
        }
    }

    #[test]
    fn legacy_rule_splits_acronyms() {
        assert_eq!(snake_legacy("numCPUs"), "num_cp_us");
        assert_eq!(snake_legacy("vPMCEnabled"), "v_pmc_enabled");
        assert_eq!(
            snake_legacy("GetSystemVMsRestrictedDatastores"),
            "get_system_v_ms_restricted_datastores"
        );
        assert_eq!(
            snake_legacy("QueryVMotionCompatibility"),
            "query_v_motion_compatibility"
        );
    }

    #[test]
    fn words_keep_case() {
        assert_eq!(words("vPMCEnabled"), ["vPMC", "Enabled"]);
        assert_eq!(words("numCPUsPerSocket"), ["num", "CPUs", "Per", "Socket"]);
        assert_eq!(words("PowerOnVM_Task"), ["Power", "On", "VM", "Task"]);
        assert_eq!(
            words("virtualICH7MPresent"),
            ["virtual", "ICH7M", "Present"]
        );
        assert!(words("").is_empty());
        assert!(words("__").is_empty());
    }
}
