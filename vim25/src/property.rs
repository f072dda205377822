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

use crate::mo::WrongType;
use crate::mo::{decode_object_content, AnyManagedObject, ManagedObject};
use crate::soap::{invoke, BodyChunks, BoxFuture, RawResponse, RequestWriter, Response, Transport};
use crate::types::{
    FromAnyValue, ManagedObjectReference, MissingProperty, ObjectContent, ObjectSpec, ObjectUpdate,
    ObjectUpdateKind, PropertyFilterSpec, PropertySpec, RetrieveOptions, RetrieveResult, UpdateSet,
    WaitOptions,
};
use crate::xml::split::{Element, Splitter};
use crate::xml::{Decode, DecodeError, Decoder, Start};
use crate::{methods, Error};
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// What a [`Watch`] needs in scope: it is a [`Stream`], read with
/// [`TryStreamExt::try_next`] or [`StreamExt::next`] (re-exported from `futures`).
pub use futures::stream::{Stream, StreamExt, TryStreamExt};

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

/// Whether `obj` still exists on the server, asked through `collector` (the service's
/// property collector): a `RetrieveProperties` of none of its properties, which names
/// an object that is gone with `ManagedObjectNotFound` (or leaves it out). Any other
/// failure is an error.
///
/// ```no_run
/// # async fn demo(client: vim25::Client, vm: vim25::types::ManagedObjectReference) -> Result<(), vim25::Error> {
/// if !vim25::property::exists(&client, &client.property_collector(), &vm).await? {
///     println!("{vm} is gone");
/// }
/// # Ok(()) }
/// ```
pub async fn exists<C: Transport + ?Sized>(
    transport: &C,
    collector: &ManagedObjectReference,
    obj: &ManagedObjectReference,
) -> Result<bool, Error> {
    let spec = PropertyFilterSpec {
        prop_set: vec![PropertySpec {
            type_: obj.type_.clone(),
            all: Some(false),
            ..Default::default()
        }],
        object_set: vec![ObjectSpec {
            obj: obj.clone(),
            ..Default::default()
        }],
        ..Default::default()
    };
    match methods::retrieve_properties(transport, collector, &[spec]).await {
        Ok(found) => Ok(found.iter().any(|c| c.obj == *obj)),
        Err(e) if e.fault_name() == Some("ManagedObjectNotFound") => Ok(false),
        Err(e) => Err(e),
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
    /// Objects received so far, when there is more than one page.
    objects_seen: std::collections::HashSet<(String, String)>,
    /// The page being streamed.
    flight: Option<InFlight>,
    /// Objects streamed so far (a hash of each reference), with the page each came in.
    streamed_seen: std::collections::HashMap<u64, usize>,
    hasher: std::collections::hash_map::RandomState,
    /// Threads that decode the objects of a streamed page (see
    /// [`Retrieval::decode_threads`]).
    decode_threads: usize,
    /// Objects of the page being streamed, cut out and decoded ahead of the caller,
    /// each with its bytes (to decode again if asked for as another type).
    ahead: VecDeque<Ahead>,
    /// A failure of the page being streamed, due once the objects before it are out.
    deferred: Option<Error>,
    /// The decoding threads, with more than one (started with the first streamed
    /// page, ended when the retrieval is dropped).
    workers: Option<Workers>,
}

/// Threads decoding the objects of streamed pages while the caller's task reads and
/// cuts out the next ones. Objects go in numbered jobs of about [`DECODE_JOB`] bytes;
/// results come back in any order and are put back in order before they are handed
/// out.
struct Workers {
    jobs: std::sync::mpsc::Sender<(u64, Job)>,
    done: tokio::sync::mpsc::UnboundedReceiver<(u64, Vec<Ahead>)>,
    /// The number of the next job sent.
    sent: u64,
    /// The number of the next result to hand out.
    next: u64,
    /// Results received ahead of their turn.
    early: std::collections::BTreeMap<u64, Vec<Ahead>>,
    /// Objects cut out for the next job, and their bytes.
    gathered: Vec<Element>,
    gathered_bytes: usize,
    /// Bytes of the objects cut out and not yet handed out.
    bytes: usize,
    /// How many threads there are.
    threads: usize,
}

/// Decoding a job's objects, typed by the call that sent it.
type Job = Box<dyn FnOnce() -> Vec<Ahead> + Send>;

impl Workers {
    fn start(n: usize) -> Workers {
        let (jobs, queue) = std::sync::mpsc::channel::<(u64, Job)>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        let (results, done) = tokio::sync::mpsc::unbounded_channel();
        let mut threads = 0;
        for _ in 0..n {
            let queue = queue.clone();
            let results = results.clone();
            let worker = move || loop {
                // The lock is only held waiting for the next job.
                let next = match queue.lock() {
                    Ok(q) => q.recv(),
                    Err(_) => return,
                };
                let Ok((n, job)) = next else {
                    // The retrieval is gone.
                    return;
                };
                if results.send((n, job())).is_err() {
                    return;
                }
            };
            // A thread that cannot be started leaves its share to the others, or
            // to the caller's thread.
            if std::thread::Builder::new()
                .name("vim25-decode".into())
                .spawn(worker)
                .is_ok()
            {
                threads += 1;
            }
        }
        Workers {
            jobs,
            done,
            sent: 0,
            next: 0,
            early: Default::default(),
            gathered: Vec::new(),
            gathered_bytes: 0,
            bytes: 0,
            threads,
        }
    }

    /// Jobs sent whose results have not come back.
    fn pending(&self) -> u64 {
        self.sent - self.next - self.early.len() as u64
    }

    /// Makes the objects gathered, if any, a job decoding them with `one`, and sends
    /// it to the threads, or runs it here when every thread has a job queued behind
    /// the one it is decoding (the caller's thread decodes too). False when the
    /// threads are gone.
    fn flush<T: Send + 'static>(&mut self, one: DecodeOne<T>, ahead: &mut VecDeque<Ahead>) -> bool {
        if self.gathered.is_empty() {
            return true;
        }
        let els = std::mem::take(&mut self.gathered);
        self.gathered_bytes = 0;
        let job: Job = Box::new(move || {
            els.into_iter()
                .map(|el| {
                    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        decode_piece(&el, one)
                    }))
                    .unwrap_or_else(|_| {
                        Err(DecodeError {
                            message: "the decoder panicked".into(),
                            path: el.path.clone(),
                            offset: el.offset,
                        })
                    });
                    (el, Box::new(decoded) as Box<dyn std::any::Any + Send>)
                })
                .collect()
        });
        let n = self.sent;
        self.sent += 1;
        // Results already back are taken first, so that only jobs still being
        // decoded count: the threads get a new job as soon as one is free, and this
        // thread decodes only while each has one queued behind the one it decodes.
        while let Ok(r) = self.done.try_recv() {
            self.take(r, ahead);
        }
        if self.pending() > 2 * self.threads as u64 {
            let r = job();
            self.take((n, r), ahead);
            return true;
        }
        self.jobs.send((n, job)).is_ok()
    }

    /// Takes a job's results, and moves those whose turn has come to `ahead`.
    fn take(&mut self, (n, r): (u64, Vec<Ahead>), ahead: &mut VecDeque<Ahead>) {
        self.early.insert(n, r);
        while let Some(r) = self.early.remove(&self.next) {
            self.next += 1;
            ahead.extend(r);
        }
    }
}

/// An object of a streamed page cut out and decoded ahead of the caller, with its
/// bytes (to decode again if asked for as another type).
type Ahead = (Element, Box<dyn std::any::Any + Send>);

/// What decoding one streamed object gives.
type Piece<T> = Result<Result<T, WrongType>, DecodeError>;

/// How a streamed call decodes one object (from its start tag): a plain function, so
/// that the decoding threads can take it along.
type DecodeOne<T> = for<'a, 'b> fn(&'b mut Decoder<'a>, &'b Start<'a>) -> Piece<T>;

/// How many bytes of objects a streamed page sends to its decoding threads ahead of
/// the caller (see [`Retrieval::decode_threads`]): enough to keep them busy while
/// the next bytes are read, small enough to keep memory flat.
const DECODE_AHEAD: usize = 1 << 20;

/// How many bytes of objects one job of the decoding threads holds: enough to make
/// handing it over negligible, a small part of [`DECODE_AHEAD`].
const DECODE_JOB: usize = 128 << 10;

/// A page whose body is being read and decoded object by object.
struct InFlight {
    operation: &'static str,
    status: u16,
    body: Box<dyn BodyChunks>,
    split: Splitter,
    ended: bool,
}

/// One object of a streamed retrieval (see [`Retrieval::next_object`]).
#[derive(Debug, Clone, Default)]
pub struct Streamed<M> {
    /// The object.
    pub object: M,
    /// Properties the server could not return, with the fault for each.
    pub missing: Vec<MissingProperty>,
}

/// How long one wait of a [`Watch`] stream lasts on the server by default.
const DEFAULT_POLL: Duration = Duration::from_secs(60);

/// Where the objects of a `RetrievePropertiesEx` / `ContinueRetrievePropertiesEx`
/// answer are.
const OBJECTS: &[&str] = &["Envelope", "Body", "*", "returnval", "objects"];

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
            objects_seen: std::collections::HashSet::new(),
            flight: None,
            streamed_seen: std::collections::HashMap::new(),
            hasher: Default::default(),
            decode_threads: 1,
            ahead: VecDeque::new(),
            deferred: None,
            workers: None,
        }
    }

    /// Decodes the objects of a streamed page ([`Retrieval::next_object`] and its
    /// siblings) on `n` threads (default 1: on the caller's, in its task). With more
    /// than one, `n - 1` threads of the retrieval's own decode the objects while the
    /// caller's task reads and cuts out the next ones, up to about 1 MiB of objects
    /// ahead of the caller, and the objects are handed out in their order; memory
    /// grows by at most that much. Worth it where one response carries thousands of
    /// large objects (`config` of every VM) and the client has a core to spare: the
    /// bytes are then decoded about as fast as they are read.
    pub fn decode_threads(mut self, n: usize) -> Self {
        self.decode_threads = n.max(1);
        self
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
        if self.flight.is_some() {
            return Err(Error::InvalidInput(
                "a page of this retrieval is being streamed: read it to its end with \
                 next_object / next_any_object / next_content before asking for whole pages"
                    .into(),
            ));
        }
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
    fn advance<'o>(
        &mut self,
        token: Option<String>,
        objects: impl Iterator<Item = &'o ManagedObjectReference>,
    ) -> Result<(), Error> {
        self.started = true;
        self.pages += 1;
        self.token = token;
        // Each object comes once in a retrieval. A page repeating one means the server
        // hands out pages it already sent (vcsim reuses one token for every page, so
        // the token alone cannot tell): stop instead of fetching them again for ever.
        if self.token.is_some() || self.pages > 1 {
            for o in objects {
                if !self.objects_seen.insert((o.type_.clone(), o.value.clone())) {
                    self.token = None;
                    return Err(Error::Protocol {
                        operation: "ContinueRetrievePropertiesEx".into(),
                        message: format!(
                            "page {} repeats {o}, already in an earlier page; retrieval \
                             stopped instead of fetching the same pages again",
                            self.pages
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    fn request(&self) -> Result<crate::soap::Request, Error> {
        let v = self.transport.version();
        match &self.token {
            None => {
                let mut e = RequestWriter::new("RetrievePropertiesEx", &self.collector, v);
                e.param_list("specSet", &self.specs);
                e.param(
                    "options",
                    &RetrieveOptions {
                        max_objects: self.page_size,
                        ..Default::default()
                    },
                );
                e.finish()
            }
            Some(t) => {
                let mut e = RequestWriter::new("ContinueRetrievePropertiesEx", &self.collector, v);
                e.param("token", t.as_str());
                e.finish()
            }
        }
    }

    /// The next page as `ObjectContent`s, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Vec<ObjectContent>>, Error> {
        let Some(resp) = self.fetch().await? else {
            return Ok(None);
        };
        let r: RetrieveResult = resp.returnval_opt()?.unwrap_or_default();
        self.advance(r.token, r.objects.iter().map(|o| &o.obj))?;
        Ok(Some(r.objects))
    }

    /// The next page decoded straight into managed-object structs, or `None` after the
    /// last one. Every object the specs select must be an `M` (or of a subtype of it:
    /// `mo::ManagedEntity` takes any entity); an object of another type ends the call
    /// with [`Error::WrongType`] naming both types, never a silent decode. For
    /// retrievals that mix types use [`Retrieval::next_any`].
    pub async fn next_typed<M: ManagedObject>(&mut self) -> Result<Option<TypedPage<M>>, Error> {
        let mut wrong = None;
        let page = self
            .next_decoded(M::obj, |d, s| match decode_object_content::<M>(d, s)? {
                Ok(decoded) => Ok(Some(decoded)),
                Err(w) => {
                    wrong.get_or_insert(w);
                    Ok(None)
                }
            })
            .await?;
        match wrong {
            Some(w) => Err(Error::WrongType(w)),
            None => Ok(page),
        }
    }

    /// The next page with each object decoded into the `mo::` struct of its own type
    /// (one retrieval over a view of VMs and hosts gives both, typed), or `None` after
    /// the last one.
    pub async fn next_any(&mut self) -> Result<Option<TypedPage<AnyManagedObject>>, Error> {
        self.next_decoded(AnyManagedObject::obj, |d, s| {
            AnyManagedObject::decode_object_content(d, s).map(Some)
        })
        .await
    }

    /// One page, each `objects` element decoded by `one` (`None` leaves it out).
    async fn next_decoded<M>(
        &mut self,
        obj_of: fn(&M) -> &ManagedObjectReference,
        mut one: impl for<'a, 'b> FnMut(
            &'b mut Decoder<'a>,
            &'b Start<'a>,
        )
            -> Result<Option<(M, Vec<MissingProperty>)>, DecodeError>,
    ) -> Result<Option<TypedPage<M>>, Error> {
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
                        if let Some((m, missing)) = one(d, &c)? {
                            if !missing.is_empty() {
                                page.missing.push((obj_of(&m).clone(), missing));
                            }
                            page.objects.push(m);
                        }
                    }
                    _ => d.skip(&c)?,
                }
            }
            Ok(())
        })?;
        self.advance(token, page.objects.iter().map(obj_of))?;
        Ok(Some(page))
    }

    /// Every remaining object, typed (all pages collected); see
    /// [`Retrieval::next_typed`] for objects of another type.
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

    /// Every remaining object, each as the `mo::` struct of its own type.
    pub async fn collect_any(&mut self) -> Result<TypedPage<AnyManagedObject>, Error> {
        let mut all = TypedPage {
            objects: Vec::new(),
            missing: Vec::new(),
        };
        while let Some(p) = self.next_any().await? {
            all.objects.extend(p.objects);
            all.missing.extend(p.missing);
        }
        Ok(all)
    }

    /// The next object, decoded into `M` while the page's bytes are still arriving.
    ///
    /// Pages are requested as they are needed, and each is decoded object by object
    /// as its body streams in: at most one object and a few pieces of the body (as
    /// many bytes as about twice the last object, at least 8 KiB) are held at a time,
    /// whatever page size the server chooses (the simulator, which ignores
    /// `maxObjects`, sends a whole inventory as one page). Each object is decoded
    /// where it lies among the bytes received, once enough are held for it to be
    /// whole, so it is read once ([`Splitter::next_in_place`]); an object is handed
    /// out when that many bytes after its start have arrived, or the body has ended.
    /// The paging token, and a fault in place of a page, are read at the end of each
    /// page. `None` after the last object.
    ///
    /// An object of another type ends the call with [`Error::WrongType`], as
    /// [`Retrieval::next_typed`]. After an error the retrieval is over (objects of the
    /// failed page may already have been handed out, so it is not resumed): later
    /// calls return `None`. Whole-page calls ([`Retrieval::next_page`], …) are refused
    /// while a page is half read.
    ///
    /// ```no_run
    /// # async fn demo(client: vim25::Client) -> Result<(), vim25::Error> {
    /// use vim25::mo::VirtualMachine;
    /// use vim25::property::Retrieval;
    /// use vim25::view::ContainerView;
    ///
    /// let view = ContainerView::create(&client, &["VirtualMachine"], true).await?;
    /// let spec = view.filter_spec("VirtualMachine", &["config", "runtime"]);
    /// let mut vms = Retrieval::new(client.clone(), client.property_collector(), vec![spec]);
    /// while let Some(vm) = vms.next_object::<VirtualMachine>().await? {
    ///     println!("{:?}", vm.object.config.map(|c| c.name));
    /// }
    /// view.destroy().await?;
    /// # Ok(()) }
    /// ```
    pub async fn next_object<M: ManagedObject + Send + 'static>(
        &mut self,
    ) -> Result<Option<Streamed<M>>, Error> {
        self.next_streamed(
            |m: &Streamed<M>| m.object.obj(),
            |d, s| {
                Ok(decode_object_content::<M>(d, s)?
                    .map(|(object, missing)| Streamed { object, missing }))
            },
        )
        .await
    }

    /// The next object as the `mo::` struct of its own type, streamed as
    /// [`Retrieval::next_object`].
    pub async fn next_any_object(&mut self) -> Result<Option<Streamed<AnyManagedObject>>, Error> {
        self.next_streamed(
            |m: &Streamed<AnyManagedObject>| m.object.obj(),
            |d, s| {
                let (object, missing) = AnyManagedObject::decode_object_content(d, s)?;
                Ok(Ok(Streamed { object, missing }))
            },
        )
        .await
    }

    /// The next raw `ObjectContent`, streamed as [`Retrieval::next_object`].
    pub async fn next_content(&mut self) -> Result<Option<ObjectContent>, Error> {
        self.next_streamed(
            |c: &ObjectContent| &c.obj,
            |d, s| Ok(Ok(ObjectContent::decode(d, s)?)),
        )
        .await
    }

    /// Ends the retrieval after a failure in the middle of a streamed page.
    fn abandon(&mut self, e: Error) -> Error {
        self.flight = None;
        self.ahead.clear();
        self.deferred = None;
        // Results still coming belong to the page abandoned.
        self.workers = None;
        self.token = None;
        self.started = true;
        self.streamed_seen = Default::default();
        e
    }

    async fn next_streamed<T: Send + 'static>(
        &mut self,
        obj_of: fn(&T) -> &ManagedObjectReference,
        one: DecodeOne<T>,
    ) -> Result<Option<T>, Error> {
        loop {
            // Objects decoded ahead come first, in their order.
            if let Some((el, item)) = self.ahead.pop_front() {
                if let Some(w) = &mut self.workers {
                    w.bytes -= el.bytes.len();
                }
                let decoded = match item.downcast::<Piece<T>>() {
                    Ok(d) => *d,
                    // Decoded ahead as another type: the caller switched between
                    // next_object, next_any_object and next_content meanwhile.
                    Err(_) => decode_piece(&el, one),
                };
                return self.accept(decoded, obj_of).map(Some);
            }
            if let Some(w) = &mut self.workers {
                // Decoded objects that have come back, without waiting.
                while let Ok(r) = w.done.try_recv() {
                    w.take(r, &mut self.ahead);
                }
                if !self.ahead.is_empty() {
                    continue;
                }
            }
            // A failure is due once no object cut out before it is left. On one
            // thread, objects whole among the bytes held are decoded first, below.
            let behind = self
                .workers
                .as_ref()
                .is_some_and(|w| w.pending() > 0 || !w.gathered.is_empty())
                || (self.decode_threads == 1 && self.flight.is_some());
            if !behind {
                if let Some(e) = self.deferred.take() {
                    return Err(self.abandon(e));
                }
            }
            let Some(f) = self.flight.as_mut() else {
                if self.started && self.token.is_none() {
                    return Ok(None);
                }
                // Only the first request may be sent again: a continuation uses up
                // its token.
                let first = self.token.is_none();
                let request = self.request()?;
                let resp = self.transport.round_trip_streaming(&request, first).await?;
                // From here on the page is being read: the token it was asked with
                // is spent, and its successor comes at the page's end.
                self.started = true;
                self.token = None;
                // A fault or an error page is read whole (it is small) and decoded at
                // the end; only a 200 answer is cut into objects.
                let path = if resp.status == 200 { OBJECTS } else { &[] };
                self.flight = Some(InFlight {
                    operation: request.operation,
                    status: resp.status,
                    body: resp.body,
                    split: Splitter::new(path),
                    ended: false,
                });
                continue;
            };
            let operation = f.operation;
            let decode_error = |source| Error::Decode {
                operation: operation.to_string(),
                source,
            };
            if self.decode_threads == 1 {
                // The next object, decoded here where it lies among the bytes held
                // (read once, not first to find its end). A call dropped while
                // waiting for bytes loses nothing: they are kept in the splitter.
                // After a failure to read on, the objects whole before it still
                // come out first, one a call; then the failure.
                let mut next = None;
                loop {
                    let at_end = f.ended || self.deferred.is_some();
                    match f.split.next_in_place(at_end, |d| decode_in_place(d, one)) {
                        Ok(Some(found)) => {
                            next = Some(found);
                            break;
                        }
                        Ok(None) => {}
                        Err(e) => {
                            self.deferred.get_or_insert(decode_error(e));
                            break;
                        }
                    }
                    if at_end {
                        break;
                    }
                    read_chunk(f, &mut self.deferred, &decode_error).await;
                }
                if let Some(found) = next {
                    let decoded = found
                        .value
                        .map_err(|e| placed(e, found.offset, f.split.path()));
                    return self.accept(decoded, obj_of).map(Some);
                }
                if let Some(e) = self.deferred.take() {
                    return Err(self.abandon(e));
                }
            } else {
                // Objects go to the decoding threads as they are cut out, up to
                // DECODE_AHEAD bytes ahead of the caller; then, or at the page's end,
                // this waits for the next one to come back. A failure waits its turn
                // behind the objects sent before it.
                let w = self
                    .workers
                    .get_or_insert_with(|| Workers::start(self.decode_threads - 1));
                let stopped = |this: &mut Self| {
                    this.abandon(Error::Protocol {
                        operation: operation.to_string(),
                        message: "the decoding threads have stopped".into(),
                    })
                };
                if self.deferred.is_none() && w.bytes < DECODE_AHEAD {
                    match f.split.next_element() {
                        Ok(Some(el)) => {
                            w.bytes += el.bytes.len();
                            w.gathered_bytes += el.bytes.len();
                            w.gathered.push(el);
                            if w.gathered_bytes >= DECODE_JOB && !w.flush(one, &mut self.ahead) {
                                return Err(stopped(self));
                            }
                            continue;
                        }
                        Ok(None) => {}
                        Err(e) => {
                            self.deferred = Some(decode_error(e));
                            continue;
                        }
                    }
                    if !f.ended {
                        // The threads get what there is before this waits for bytes.
                        if !w.flush(one, &mut self.ahead) {
                            return Err(stopped(self));
                        }
                        read_chunk(f, &mut self.deferred, &decode_error).await;
                        continue;
                    }
                }
                if !w.flush(one, &mut self.ahead) {
                    return Err(stopped(self));
                }
                if w.pending() > 0 {
                    match w.done.recv().await {
                        Some(r) => w.take(r, &mut self.ahead),
                        None => return Err(stopped(self)),
                    }
                    continue;
                }
                if self.deferred.is_none() && !f.ended {
                    // Only reachable with DECODE_AHEAD bytes handed out and not
                    // yet taken: nothing can be pending then.
                    continue;
                }
            }
            if self.deferred.is_some() {
                continue;
            }
            // The page's end: its token, or the fault sent instead of the page.
            let f = self.flight.take().expect("the page being read");
            let rest = match f.split.finish() {
                Ok(rest) => rest,
                Err(e) => return Err(self.abandon(decode_error(e))),
            };
            let resp = Response::from_raw(
                f.operation,
                RawResponse {
                    status: f.status,
                    body: rest,
                },
            );
            let mut token = None;
            let read = resp.returnval_with(|d, s| {
                if s.is_empty() {
                    return Ok(());
                }
                while let Some(c) = d.next_child()? {
                    match c.name() {
                        b"token" => token = Some(String::decode(d, &c)?),
                        _ => d.skip(&c)?,
                    }
                }
                Ok(())
            });
            if let Err(e) = read {
                return Err(self.abandon(e));
            }
            self.pages += 1;
            self.token = token;
            if self.pages == 1 && self.token.is_none() {
                // One page only: no later page can repeat an object.
                self.streamed_seen = Default::default();
            }
        }
    }

    /// An object of the page being streamed, decoded: checked against the objects of
    /// earlier pages, and handed out.
    fn accept<T>(
        &mut self,
        decoded: Piece<T>,
        obj_of: fn(&T) -> &ManagedObjectReference,
    ) -> Result<T, Error> {
        let operation = self.flight.as_ref().map_or("", |f| f.operation);
        let item = match decoded {
            Ok(Ok(item)) => item,
            Ok(Err(wrong)) => return Err(self.abandon(Error::WrongType(wrong))),
            Err(source) => {
                let e = Error::Decode {
                    operation: operation.to_string(),
                    source,
                };
                return Err(self.abandon(e));
            }
        };
        let o = obj_of(&item);
        let key = self.hasher.hash_one((&o.type_, &o.value));
        let page = self.pages;
        match self.streamed_seen.insert(key, page) {
            Some(earlier) if earlier < page => {
                let e = Error::Protocol {
                    operation: operation.into(),
                    message: format!(
                        "page {} repeats {o}, already in page {}; retrieval stopped \
                         instead of fetching the same pages again",
                        page + 1,
                        earlier + 1
                    ),
                };
                Err(self.abandon(e))
            }
            _ => Ok(item),
        }
    }

    /// Releases the server-side result of an unfinished retrieval.
    pub async fn cancel(mut self) -> Result<(), Error> {
        if let Some(t) = self.token.take() {
            methods::cancel_retrieve_properties_ex(&self.transport, &self.collector, &t).await?;
        }
        Ok(())
    }
}

/// Property changes as a [`Stream`] of [`ObjectUpdate`]s (`WaitForUpdatesEx` on a
/// private property collector of its own, as vSphere asks of every concurrent waiter).
///
/// **The first update is the current state.** The first `WaitForUpdatesEx` of a new
/// filter (version `""`) reports every selected object with the current value of every
/// selected property (kind `enter`); later calls report only what changed since the
/// version before. So a watch cannot miss a change that happens between creating it
/// and reading it: it starts from what is, then follows every change.
///
/// The stream is `Unpin`: read it with `watch.try_next().await?` (or `next()`) with
/// [`TryStreamExt`]/[`StreamExt`] in scope, no pinning by hand. It does not end by
/// itself: a failed wait is yielded as an `Err` item (so `try_next()?` stops there),
/// and polling again starts a new wait from the last version received. The collector (and with it the filter) is destroyed by [`Watch::destroy`],
/// or in the background when the watch is dropped inside a tokio runtime.
///
/// ```no_run
/// # async fn demo(client: vim25::Client, vm: vim25::types::ManagedObjectReference) -> Result<(), vim25::Error> {
/// use vim25::property::{spec_for_objects, TryStreamExt, Watch};
/// use vim25::types::VirtualMachinePowerState;
///
/// let spec = spec_for_objects("VirtualMachine", &["runtime.powerState"], &[vm]);
/// let mut watch = Watch::create(client.clone(), &client.property_collector(), &spec).await?;
/// while let Some(update) = watch.try_next().await? {
///     let state: Option<VirtualMachinePowerState> = update.get("runtime.powerState");
///     println!("{}: {state:?}", update.obj);
/// }
/// # Ok(()) }
/// ```
pub struct Watch<C: Transport + Clone + 'static> {
    transport: C,
    collector: ManagedObjectReference,
    version: Option<String>,
    max_wait: Option<Duration>,
    /// How long one wait of the stream may last on the server when `max_wait` is not
    /// set (see [`Watch::poll_every`]).
    poll: Duration,
    destroyed: bool,
    /// Updates received and not yet yielded by the stream.
    queue: VecDeque<ObjectUpdate>,
    /// The stream's `WaitForUpdatesEx` in flight.
    pending: Option<BoxFuture<'static, Result<Option<UpdateSet>, Error>>>,
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
            poll: DEFAULT_POLL,
            destroyed: false,
            queue: VecDeque::new(),
            pending: None,
        };
        if let Err(e) = methods::create_filter(&w.transport, &w.collector, spec, false).await {
            let _ = w.destroy_inner().await;
            return Err(e);
        }
        Ok(w)
    }

    /// Lets [`Watch::wait_for_updates`] return `Ok(None)` when nothing changed within
    /// `d` (`maxWaitSeconds`, whole seconds); without it a call waits until a change.
    /// The stream is not affected (it waits on).
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = Some(d);
        self
    }

    /// Lets each wait of the stream last at most `d` on the server (whole seconds, at
    /// least one; default one minute) when [`Watch::max_wait`] is not set. The stream
    /// then waits again, so nothing is missed; what this bounds is a single request,
    /// which must end within the transport's request timeout: a watch of a task that
    /// runs for an hour would otherwise hold one request open for that hour.
    /// [`Watch::for_object`] sets it below the client's request timeout.
    pub fn poll_every(mut self, d: Duration) -> Self {
        self.poll = d.max(Duration::from_secs(1));
        self
    }

    /// The private collector.
    pub fn collector(&self) -> &ManagedObjectReference {
        &self.collector
    }

    /// One `WaitForUpdatesEx`; the stream's (`stream`) waits at most the poll interval
    /// when no `max_wait` is set.
    fn wait_call(&self, stream: bool) -> BoxFuture<'static, Result<Option<UpdateSet>, Error>> {
        let transport = self.transport.clone();
        let collector = self.collector.clone();
        let version = self.version.clone();
        let wait = match self.max_wait {
            None if stream => Some(self.poll),
            other => other,
        };
        let opts = WaitOptions {
            max_wait_seconds: wait.map(|d| d.as_secs().min(i32::MAX as u64) as i32),
            ..Default::default()
        };
        Box::pin(async move {
            methods::wait_for_updates_ex(&transport, &collector, version.as_deref(), Some(&opts))
                .await
        })
    }

    /// The next raw `UpdateSet` (the first call returns the current values), or `None`
    /// when `max_wait` passed without a change. A truncated set is followed by the rest
    /// on the next call. Updates the stream had received and not yet yielded come
    /// first, as a set of their own.
    pub async fn wait_for_updates(&mut self) -> Result<Option<UpdateSet>, Error> {
        if let Some(pending) = self.pending.take() {
            let set = pending.await?;
            self.record(set.as_ref());
            self.queue_set(set);
        }
        if !self.queue.is_empty() {
            return Ok(Some(UpdateSet {
                version: self.version.clone().unwrap_or_default(),
                filter_set: vec![crate::types::PropertyFilterUpdate {
                    object_set: self.queue.drain(..).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }));
        }
        let set = self.wait_call(false).await?;
        self.record(set.as_ref());
        Ok(set)
    }

    fn record(&mut self, set: Option<&UpdateSet>) {
        if let Some(s) = set {
            self.version = Some(s.version.clone());
        }
    }

    fn queue_set(&mut self, set: Option<UpdateSet>) {
        if let Some(set) = set {
            self.queue
                .extend(set.filter_set.into_iter().flat_map(|f| f.object_set));
        }
    }

    async fn destroy_inner(&mut self) -> Result<(), Error> {
        self.destroyed = true;
        self.pending = None;
        let (t, pc) = (&self.transport, &self.collector);
        crate::runtime::destroy_reliably(|| methods::destroy_property_collector(t, pc)).await
    }

    /// Destroys the private collector and its filter.
    pub async fn destroy(mut self) -> Result<(), Error> {
        self.destroy_inner().await
    }
}

impl Watch<crate::Client> {
    /// A watch of `paths` of the one object `obj`, on a private collector made from the
    /// client's property collector.
    pub async fn for_object(
        client: &crate::Client,
        obj: &ManagedObjectReference,
        paths: &[&str],
    ) -> Result<Self, Error> {
        let spec = spec_for_objects(&obj.type_, paths, std::slice::from_ref(obj));
        let w = Watch::create(client.clone(), &client.property_collector(), &spec).await?;
        // Each wait must end well within the request timeout.
        Ok(match client.request_timeout() {
            Some(t) => w.poll_every(DEFAULT_POLL.min(t / 2)),
            None => w,
        })
    }
}

// The transport is never pinned in place (the stream only clones it), so the watch is
// `Unpin` whatever `C` is.
impl<C: Transport + Clone + 'static> Unpin for Watch<C> {}

impl<C: Transport + Clone + 'static> Stream for Watch<C> {
    type Item = Result<ObjectUpdate, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(u) = this.queue.pop_front() {
                return Poll::Ready(Some(Ok(u)));
            }
            if this.destroyed {
                return Poll::Ready(None);
            }
            let pending = match &mut this.pending {
                Some(p) => p,
                None => this.pending.insert(this.wait_call(true)),
            };
            let outcome = match pending.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r,
            };
            this.pending = None;
            match outcome {
                Ok(set) => {
                    this.record(set.as_ref());
                    this.queue_set(set);
                }
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

impl<C: Transport + Clone + 'static> Drop for Watch<C> {
    fn drop(&mut self) {
        if self.destroyed {
            return;
        }
        let t = self.transport.clone();
        let pc = self.collector.clone();
        crate::runtime::spawn_cleanup(async move {
            let _ =
                crate::runtime::destroy_reliably(|| methods::destroy_property_collector(&t, &pc))
                    .await;
        });
    }
}

/// Waits until property `path` of `obj` satisfies `predicate`, and returns the value
/// that did (govmomi's `property.Wait`). `predicate` sees the value as `T`, `None`
/// while the property is unset (or holds another type).
///
/// The current value is checked first (it is the watch's first update, see
/// [`Watch`]), so there is no race between starting to wait and a change that happens
/// meanwhile: if the property already satisfies `predicate`, this returns at once.
/// It waits without a deadline; wrap it in `tokio::time::timeout` for one. The
/// private collector it uses is destroyed before it returns.
///
/// ```no_run
/// # async fn demo(client: vim25::Client, vm: vim25::types::ManagedObjectReference) -> Result<(), vim25::Error> {
/// use vim25::types::VirtualMachinePowerState;
///
/// vim25::property::wait(&client, &vm, "runtime.powerState", |s| {
///     s == Some(&VirtualMachinePowerState::PoweredOff)
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn wait<T: FromAnyValue>(
    client: &crate::Client,
    obj: &ManagedObjectReference,
    path: &str,
    mut predicate: impl FnMut(Option<&T>) -> bool,
) -> Result<Option<T>, Error> {
    let mut watch = Watch::for_object(client, obj, &[path]).await?;
    let outcome = async {
        while let Some(update) = watch.try_next().await? {
            if update.obj != *obj {
                continue;
            }
            let value: Option<T> = match (&update.kind, update.change(path)) {
                // The object is gone (deleted, or no longer selected): no value will come.
                (ObjectUpdateKind::Leave, _) => {
                    return Err(Error::NotFound(format!(
                        "{obj} (it left while waiting for {path})"
                    )))
                }
                (_, Some(c)) => c.get(),
                // The first update without this property: it is not set.
                (ObjectUpdateKind::Enter, None) => None,
                (_, None) => continue,
            };
            if predicate(value.as_ref()) {
                return Ok(value);
            }
        }
        Err(Error::NotFound(format!("{obj} (its watch ended)")))
    }
    .await;
    let _ = watch.destroy().await;
    outcome
}

/// Reads the next piece of a streamed page's body into its splitter; a failure is
/// kept in `deferred` (due once the objects before it are out).
async fn read_chunk(
    f: &mut InFlight,
    deferred: &mut Option<Error>,
    decode_error: &impl Fn(DecodeError) -> Error,
) {
    match f.body.next_chunk().await {
        Ok(Some(piece)) => {
            if let Err(e) = f.split.push(&piece) {
                *deferred = Some(decode_error(e));
            }
        }
        Ok(None) => f.ended = true,
        Err(e) => *deferred = Some(e),
    }
}

/// Decodes one object of a streamed page from its start tag to its end tag: where it
/// lies (see [`Splitter::next_in_place`]), or cut out ([`decode_piece`]).
fn decode_in_place<T>(d: &mut Decoder<'_>, one: DecodeOne<T>) -> Piece<T> {
    let s = d
        .next_child()?
        .ok_or_else(|| d.error("an empty piece of a streamed page"))?;
    one(d, &s)
}

/// An error found decoding an element on its own, placed in the whole body: the
/// element starts at `offset`, inside the elements `outer`.
fn placed(mut e: DecodeError, offset: u64, outer: String) -> DecodeError {
    e.offset += offset;
    e.path = if e.path.is_empty() {
        outer
    } else {
        format!("{outer}/{}", e.path)
    };
    e
}

/// Decodes one element cut out of a streamed page with `one`; an error's path and
/// offset are those in the whole body.
fn decode_piece<T>(el: &Element, one: DecodeOne<T>) -> Piece<T> {
    let mut d = Decoder::new(&el.bytes);
    let r = (|| {
        let item = decode_in_place(&mut d, one)?;
        d.expect_end_of_input()?;
        Ok(item)
    })();
    r.map_err(|e| placed(e, el.offset, el.path.clone()))
}
