//! Inventory paths: `/DC0/vm/DC0_H0_VM0`-style paths with `*` and `?` globs in any
//! component, defaults when the inventory holds exactly one of a kind, and the path of
//! a reference.
//!
//! The tree is the one govc shows: a folder's children are its `childEntity`; a
//! datacenter has `vm`, `host`, `datastore` and `network`; a compute resource has its
//! hosts and its root pool `Resources`; a resource pool (or vApp) has its child pools
//! and VMs.
//!
//! ```no_run
//! # async fn demo(client: vim25::Client) -> Result<(), vim25::Error> {
//! use vim25::find::Finder;
//! let finder = Finder::new(&client);
//! for (path, vm) in finder.find("/DC0/vm/*VM?").await? {
//!     println!("{path} -> {vm}");
//! }
//! let vm = finder.virtual_machine("/DC0/vm/DC0_H0_VM0").await?;
//! assert_eq!(finder.path_of(vm.reference()).await?, "/DC0/vm/DC0_H0_VM0");
//! # Ok(()) }
//! ```

use crate::object::{
    Datacenter, Datastore, Folder, HostSystem, Network, ObjectWrapper, ResourcePool, VirtualMachine,
};
use crate::property::{spec_for_objects, Retrieval};
use crate::types::{AnyValue, ManagedObjectReference, ObjectContent};
use crate::view::ContainerView;
use crate::{Client, Error};
use std::collections::HashMap;

/// Whether `name` matches the glob `pattern` (`*` any run, `?` one character).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with one backtrack point for the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// Resolves inventory paths against one client.
pub struct Finder<'c> {
    client: &'c Client,
}

/// The properties that hold an entity's children, by entity type.
fn child_props(kind: &str) -> &'static [&'static str] {
    match kind {
        "Folder" => &["childEntity"],
        "Datacenter" => &["vmFolder", "hostFolder", "datastoreFolder", "networkFolder"],
        "ComputeResource" | "ClusterComputeResource" => &["host", "resourcePool"],
        "ResourcePool" | "VirtualApp" => &["resourcePool", "vm"],
        _ => &[],
    }
}

impl<'c> Finder<'c> {
    /// A finder over `client`'s inventory.
    pub fn new(client: &'c Client) -> Self {
        Finder { client }
    }

    async fn retrieve(
        &self,
        objs: &[ManagedObjectReference],
        paths: impl Fn(&str) -> Vec<&'static str>,
    ) -> Result<Vec<ObjectContent>, Error> {
        // One spec per type present.
        let mut by_type: HashMap<&str, Vec<ManagedObjectReference>> = HashMap::new();
        for o in objs {
            by_type.entry(o.type_.as_str()).or_default().push(o.clone());
        }
        let specs: Vec<_> = by_type
            .iter()
            .filter_map(|(t, os)| {
                let p = paths(t);
                (!p.is_empty()).then(|| spec_for_objects(t, &p, os))
            })
            .collect();
        if specs.is_empty() {
            return Ok(Vec::new());
        }
        let mut r = Retrieval::new(self.client.clone(), self.client.property_collector(), specs);
        let mut out = Vec::new();
        while let Some(page) = r.next_page().await? {
            out.extend(page);
        }
        Ok(out)
    }

    /// The named children of each of `parents`: `(parent index, name, child)`.
    async fn children(
        &self,
        parents: &[ManagedObjectReference],
    ) -> Result<Vec<(usize, String, ManagedObjectReference)>, Error> {
        let contents = self.retrieve(parents, |t| child_props(t).to_vec()).await?;
        let mut pairs = Vec::new();
        for c in contents {
            let Some(pi) = parents.iter().position(|p| *p == c.obj) else {
                continue;
            };
            for p in c.prop_set {
                let fixed = match p.name.as_str() {
                    "vmFolder" => Some("vm"),
                    "hostFolder" => Some("host"),
                    "datastoreFolder" => Some("datastore"),
                    "networkFolder" => Some("network"),
                    _ => None,
                };
                for child in p.val.references() {
                    pairs.push((pi, fixed.map(String::from), child));
                }
            }
        }
        let need: Vec<ManagedObjectReference> = pairs
            .iter()
            .filter(|(_, f, _)| f.is_none())
            .map(|(_, _, c)| c.clone())
            .collect();
        let names = self.names(&need).await?;
        Ok(pairs
            .into_iter()
            .map(|(pi, fixed, c)| {
                let n = fixed.unwrap_or_else(|| names.get(&c).cloned().unwrap_or_default());
                (pi, n, c)
            })
            .collect())
    }

    /// The `name` of each object.
    pub async fn names(
        &self,
        objs: &[ManagedObjectReference],
    ) -> Result<HashMap<ManagedObjectReference, String>, Error> {
        let contents = self.retrieve(objs, |_| vec!["name"]).await?;
        Ok(contents
            .into_iter()
            .filter_map(|c| {
                let n = c.prop_set.into_iter().find(|p| p.name == "name")?;
                Some((c.obj, n.val.as_str()?.to_string()))
            })
            .collect())
    }

    /// Every object whose absolute inventory path matches `path` (globs allowed in any
    /// component), with its path. `/` is the root folder.
    pub async fn find(&self, path: &str) -> Result<Vec<(String, ManagedObjectReference)>, Error> {
        if !path.starts_with('/') {
            return Err(Error::InvalidInput(format!(
                "inventory path {path:?} is not absolute"
            )));
        }
        let root = self.client.service_content().root_folder.clone();
        let mut current = vec![(String::new(), root)];
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            let parents: Vec<_> = current.iter().map(|(_, r)| r.clone()).collect();
            let kids = self.children(&parents).await?;
            let mut next = Vec::new();
            for (pi, name, child) in kids {
                let matches = if is_glob(comp) {
                    glob_match(comp, &name)
                } else {
                    comp == name
                };
                if matches {
                    next.push((format!("{}/{}", current[pi].0, name), child));
                }
            }
            if next.is_empty() {
                return Ok(Vec::new());
            }
            // Some servers list a shared object under several parents (vcsim lists a
            // shared datastore once per host): one path, one object.
            next.sort_by(|a, b| a.0.cmp(&b.0));
            next.dedup();
            current = next;
        }
        if current.len() == 1 && current[0].0.is_empty() {
            current[0].0 = "/".into();
        }
        current.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(current)
    }

    /// The one object at `path`: [`Error::NotFound`] or [`Error::MultipleFound`]
    /// otherwise.
    pub async fn one(&self, path: &str) -> Result<ManagedObjectReference, Error> {
        let mut found = self.find(path).await?;
        match found.len() {
            0 => Err(Error::NotFound(format!("inventory path {path}"))),
            1 => Ok(found.remove(0).1),
            n => Err(Error::MultipleFound {
                what: format!("inventory path {path}"),
                count: n,
            }),
        }
    }

    /// The one object at `path` as the wrapper `W`: [`Error::WrongType`] when it is an
    /// object of another type (a host where a VM was asked for), else as [`Finder::one`].
    pub async fn object<W: ObjectWrapper>(&self, path: &str) -> Result<W, Error> {
        let r = self.one(path).await?;
        if !crate::mo::is_a(&r.type_, W::TYPE_NAME) {
            return Err(Error::WrongType(crate::mo::WrongType {
                expected: W::TYPE_NAME,
                obj: r,
            }));
        }
        Ok(W::from_reference(self.client, r))
    }

    /// The VM at `path` (`/DC0/vm/DC0_H0_VM0`).
    pub async fn virtual_machine(&self, path: &str) -> Result<VirtualMachine, Error> {
        self.object(path).await
    }

    /// The host at `path` (`/DC0/host/DC0_C0/DC0_C0_H0`).
    pub async fn host_system(&self, path: &str) -> Result<HostSystem, Error> {
        self.object(path).await
    }

    /// The datacenter at `path` (`/DC0`).
    pub async fn datacenter(&self, path: &str) -> Result<Datacenter, Error> {
        self.object(path).await
    }

    /// The datastore at `path` (`/DC0/datastore/LocalDS_0`).
    pub async fn datastore(&self, path: &str) -> Result<Datastore, Error> {
        self.object(path).await
    }

    /// The folder at `path` (`/DC0/vm`).
    pub async fn folder(&self, path: &str) -> Result<Folder, Error> {
        self.object(path).await
    }

    /// The resource pool (or vApp) at `path` (`/DC0/host/DC0_C0/Resources`).
    pub async fn resource_pool(&self, path: &str) -> Result<ResourcePool, Error> {
        self.object(path).await
    }

    /// The network (standard or distributed port group) at `path`
    /// (`/DC0/network/VM Network`).
    pub async fn network(&self, path: &str) -> Result<Network, Error> {
        self.object(path).await
    }

    /// The one object of the wrapper's type when the inventory holds exactly one (the
    /// default datacenter, datastore, host or resource pool, as govc picks them).
    pub async fn default_object<W: ObjectWrapper>(&self) -> Result<W, Error> {
        let r = self.default_of(W::TYPE_NAME).await?;
        Ok(W::from_reference(self.client, r))
    }

    /// Every object of type `kind` anywhere in the inventory whose name matches the glob
    /// `name`, with its path.
    pub async fn by_name(
        &self,
        kind: &str,
        name: &str,
    ) -> Result<Vec<(String, ManagedObjectReference)>, Error> {
        let view = ContainerView::create(self.client, &[kind], true).await?;
        let objs = view.objects().await;
        let _ = view.destroy().await;
        let names = self.names(&objs?).await?;
        let mut out = Vec::new();
        for (obj, n) in names {
            if glob_match(name, &n) {
                out.push((self.path_of(&obj).await?, obj));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The one object of `kind`, when the inventory holds exactly one (the default
    /// datacenter, datastore, host or resource pool, as govc picks them).
    pub async fn default_of(&self, kind: &str) -> Result<ManagedObjectReference, Error> {
        let view = ContainerView::create(self.client, &[kind], true).await?;
        let objs = view.objects().await;
        let _ = view.destroy().await;
        let mut objs = objs?;
        match objs.len() {
            0 => Err(Error::NotFound(format!("default {kind}"))),
            1 => Ok(objs.remove(0)),
            n => Err(Error::MultipleFound {
                what: format!("default {kind} (give a path)"),
                count: n,
            }),
        }
    }

    /// The absolute inventory path of `obj` (`/DC0/vm/DC0_H0_VM0`).
    pub async fn path_of(&self, obj: &ManagedObjectReference) -> Result<String, Error> {
        let root = &self.client.service_content().root_folder;
        let mut parts = Vec::new();
        let mut cur = obj.clone();
        // Bounded: a cycle in server data must not loop forever.
        for _ in 0..256 {
            if cur == *root {
                parts.reverse();
                return Ok(format!("/{}", parts.join("/")));
            }
            let c = self
                .retrieve(std::slice::from_ref(&cur), |_| vec!["name", "parent"])
                .await?;
            let props = c.into_iter().next().map(|c| c.prop_set).unwrap_or_default();
            let get = |n: &str| props.iter().find(|p| p.name == n).map(|p| p.val.clone());
            let name = get("name")
                .and_then(|v| v.as_str().map(String::from))
                .ok_or_else(|| Error::NotFound(format!("{cur}")))?;
            parts.push(name);
            match get("parent") {
                Some(AnyValue::Mor(p)) => cur = p,
                _ => {
                    // A VM's parent is its folder; a VM in no folder (vApp member)
                    // is reached through its resource pool.
                    let rp = self
                        .retrieve(std::slice::from_ref(&cur), |t| {
                            if t == "VirtualMachine" {
                                vec!["resourcePool"]
                            } else {
                                vec![]
                            }
                        })
                        .await?;
                    match rp
                        .into_iter()
                        .next()
                        .and_then(|c| c.prop_set.into_iter().next())
                    {
                        Some(p) => match p.val {
                            AnyValue::Mor(m) => cur = m,
                            _ => break,
                        },
                        None => break,
                    }
                }
            }
        }
        Err(Error::NotFound(format!("inventory path of {obj}")))
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("*", ""));
        assert!(glob_match("DC0_H0_VM?", "DC0_H0_VM1"));
        assert!(!glob_match("DC0_H0_VM?", "DC0_H0_VM10"));
        assert!(glob_match("*VM*", "DC0_C0_RP0_VM1"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("exact", "exact"));
    }
}
