//! The property collector: paged retrieval (raw or typed into [`crate::mo`] structs) and
//! waiting for updates as a stream.
//!
//! ```no_run
//! # async fn demo(client: vim25::Client) -> Result<(), vim25::Error> {
//! use vim25::mo::VirtualMachine;
//! use vim25::property::Retrieval;
//! use vim25::view::ContainerView;
//!
//! let view = ContainerView::create(&client, &["VirtualMachine"], true).await?;
//! let spec = view.filter_spec("VirtualMachine", &["name", "config.hardware.numCPU"]);
//! let mut pages = Retrieval::new(client.clone(), client.property_collector(), vec![spec])
//!     .page_size(500);
//! while let Some(page) = pages.next_typed::<VirtualMachine>().await? {
//!     for vm in &page.objects {
//!         println!("{:?}", vm.name);
//!     }
//! }
//! view.destroy().await?;
//! # Ok(()) }
//! ```

use crate::mo_support::{decode_object_content, ManagedObject};
use crate::soap::{invoke, Transport};
use crate::types::{
    MissingProperty, ObjectContent, ObjectSpec, PropertyFilterSpec, PropertySpec, RetrieveOptions,
    RetrieveResult, UpdateSet, WaitOptions,
};
use crate::xml::{Decode, Encoder, ManagedObjectReference};
use crate::{methods, Error};
use std::time::Duration;

/// A filter spec that reads `paths` of each object in `objects` (all of type `kind`).
pub fn spec_for_objects(
    kind: &str,
    paths: &[&str],
    objects: &[ManagedObjectReference],
) -> PropertyFilterSpec {
    PropertyFilterSpec {
        prop_set: vec![property_spec(kind, paths)],
        object_set: objects
            .iter()
            .map(|o| ObjectSpec {
                obj: o.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// A `PropertySpec` for `paths` of `kind` (every property when `paths` is empty).
pub fn property_spec(kind: &str, paths: &[&str]) -> PropertySpec {
    PropertySpec {
        type_: kind.to_string(),
        all: Some(paths.is_empty()),
        path_set: paths.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    }
}

/// One page of typed objects.
#[derive(Debug, Clone, Default)]
pub struct TypedPage<M> {
    /// The objects of this page.
    pub objects: Vec<M>,
    /// Properties the server could not return, by object, with the fault for each.
    pub missing: Vec<(ManagedObjectReference, Vec<MissingProperty>)>,
}

/// A paged `RetrievePropertiesEx` / `ContinueRetrievePropertiesEx` retrieval. Memory
/// stays bounded by one page whatever the inventory size. Dropping it before the last
/// page leaves the server-side result to expire; [`Retrieval::cancel`] releases it at
/// once.
pub struct Retrieval<C> {
    transport: C,
    collector: ManagedObjectReference,
    specs: Vec<PropertyFilterSpec>,
    page_size: Option<i32>,
    token: Option<String>,
    started: bool,
    pages: usize,
}

impl<C: Transport> Retrieval<C> {
    /// A retrieval of `specs` through `collector`.
    pub fn new(
        transport: C,
        collector: ManagedObjectReference,
        specs: Vec<PropertyFilterSpec>,
    ) -> Self {
        Retrieval {
            transport,
            collector,
            specs,
            page_size: None,
            token: None,
            started: false,
            pages: 0,
        }
    }

    /// Asks for at most `n` objects per page (`maxObjects`; servers may send fewer).
    pub fn page_size(mut self, n: i32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// How many pages have been received.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// Sends the request for the next page, or `None` after the last one.
    async fn fetch(&mut self) -> Result<Option<crate::soap::Response>, Error> {
        if self.started && self.token.is_none() {
            return Ok(None);
        }
        // Only the first call may be repeated: a continuation consumes its token.
        let first = self.token.is_none();
        invoke(&self.transport, self.request()?, first)
            .await
            .map(Some)
    }

    /// Records a received page and the token of the next one.
    fn advance(&mut self, token: Option<String>) {
        self.started = true;
        self.pages += 1;
        self.token = token;
    }

    fn request(&self) -> Result<crate::soap::Request, Error> {
        let v = self.transport.version();
        match &self.token {
            None => {
                let mut e = Encoder::request("RetrievePropertiesEx", &self.collector, v);
                e.param_list("specSet", &self.specs);
                e.param(
                    "options",
                    &RetrieveOptions {
                        max_objects: self.page_size,
                        ..Default::default()
                    },
                );
                e.finish_request()
            }
            Some(t) => {
                let mut e = Encoder::request("ContinueRetrievePropertiesEx", &self.collector, v);
                e.param("token", t.as_str());
                e.finish_request()
            }
        }
    }

    /// The next page as `ObjectContent`s, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Vec<ObjectContent>>, Error> {
        let Some(resp) = self.fetch().await? else {
            return Ok(None);
        };
        let r: RetrieveResult = resp.returnval_opt()?.unwrap_or_default();
        self.advance(r.token);
        Ok(Some(r.objects))
    }

    /// The next page decoded straight into managed-object structs (`M` must be the type
    /// of every object the specs select), or `None` after the last one.
    pub async fn next_typed<M: ManagedObject>(&mut self) -> Result<Option<TypedPage<M>>, Error> {
        let Some(resp) = self.fetch().await? else {
            return Ok(None);
        };
        let mut page = TypedPage {
            objects: Vec::new(),
            missing: Vec::new(),
        };
        let mut token = None;
        resp.returnval_with(|d, s| {
            if s.is_empty() {
                return Ok(());
            }
            while let Some(c) = d.next_child()? {
                match c.name() {
                    b"token" => token = Some(String::decode(d, &c)?),
                    b"objects" => {
                        let (m, missing) = decode_object_content::<M>(d, &c)?;
                        if !missing.is_empty() {
                            page.missing.push((m.obj().clone(), missing));
                        }
                        page.objects.push(m);
                    }
                    _ => d.skip(&c)?,
                }
            }
            Ok(())
        })?;
        self.advance(token);
        Ok(Some(page))
    }

    /// Every remaining object, typed (all pages collected).
    pub async fn collect_typed<M: ManagedObject>(&mut self) -> Result<TypedPage<M>, Error> {
        let mut all = TypedPage {
            objects: Vec::new(),
            missing: Vec::new(),
        };
        while let Some(p) = self.next_typed::<M>().await? {
            all.objects.extend(p.objects);
            all.missing.extend(p.missing);
        }
        Ok(all)
    }

    /// Releases the server-side result of an unfinished retrieval.
    pub async fn cancel(mut self) -> Result<(), Error> {
        if let Some(t) = self.token.take() {
            methods::cancel_retrieve_properties_ex(&self.transport, &self.collector, &t).await?;
        }
        Ok(())
    }
}

/// Waits for property changes (`WaitForUpdatesEx`) on a private property collector of
/// its own, as vSphere asks of every concurrent waiter. The collector (and with it the
/// filter) is destroyed by [`Watch::destroy`], or in the background when the watch is
/// dropped inside a tokio runtime.
pub struct Watch<C: Transport + Clone + 'static> {
    transport: C,
    collector: ManagedObjectReference,
    version: Option<String>,
    max_wait: Option<Duration>,
    destroyed: bool,
}

impl<C: Transport + Clone + 'static> Watch<C> {
    /// Creates a private collector from `base` (the service's property collector) and a
    /// filter for `spec` on it.
    pub async fn create(
        transport: C,
        base: &ManagedObjectReference,
        spec: &PropertyFilterSpec,
    ) -> Result<Self, Error> {
        let collector = methods::create_property_collector(&transport, base).await?;
        let mut w = Watch {
            transport,
            collector,
            version: None,
            max_wait: None,
            destroyed: false,
        };
        if let Err(e) = methods::create_filter(&w.transport, &w.collector, spec, false).await {
            let _ = w.destroy_inner().await;
            return Err(e);
        }
        Ok(w)
    }

    /// Lets [`Watch::next`] return `Ok(None)` when nothing changed within `d`
    /// (`maxWaitSeconds`, whole seconds); without it a call waits until a change.
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = Some(d);
        self
    }

    /// The private collector.
    pub fn collector(&self) -> &ManagedObjectReference {
        &self.collector
    }

    /// The next set of changes (the first call returns the current values), or `None`
    /// when `max_wait` passed without a change. A truncated set is followed by the rest
    /// on the next call.
    pub async fn next(&mut self) -> Result<Option<UpdateSet>, Error> {
        let opts = WaitOptions {
            max_wait_seconds: self
                .max_wait
                .map(|d| d.as_secs().min(i32::MAX as u64) as i32),
            ..Default::default()
        };
        let set = methods::wait_for_updates_ex(
            &self.transport,
            &self.collector,
            self.version.as_deref(),
            Some(&opts),
        )
        .await?;
        if let Some(s) = &set {
            self.version = Some(s.version.clone());
        }
        Ok(set)
    }

    /// The updates as a stream (ends only on error; `None` waits are skipped).
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<UpdateSet, Error>> {
        futures::stream::unfold(Some(self), |state| async move {
            let mut w = state?;
            loop {
                match w.next().await {
                    Ok(Some(s)) => return Some((Ok(s), Some(w))),
                    Ok(None) => continue,
                    Err(e) => return Some((Err(e), None)),
                }
            }
        })
    }

    async fn destroy_inner(&mut self) -> Result<(), Error> {
        self.destroyed = true;
        methods::destroy_property_collector(&self.transport, &self.collector).await
    }

    /// Destroys the private collector and its filter.
    pub async fn destroy(mut self) -> Result<(), Error> {
        self.destroy_inner().await
    }
}

impl<C: Transport + Clone + 'static> Drop for Watch<C> {
    fn drop(&mut self) {
        if self.destroyed {
            return;
        }
        let t = self.transport.clone();
        let pc = self.collector.clone();
        crate::rt::spawn_cleanup(async move {
            let _ = methods::destroy_property_collector(&t, &pc).await;
        });
    }
}
