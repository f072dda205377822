//! Events: what happened to containers, from the port layer itself and from vSphere,
//! as an async stream per subscriber.
//!
//! Two sources publish to one [`EventHub`]:
//!
//! - the port layer, while it does an operation ([`EventSource::PortLayer`]: exec
//!   publishes created, started, stopped, removed and failed);
//! - the [`EventCollector`], which reads vSphere's event history
//!   ([`EventSource::VSphere`]), so that what happens outside this process — a VM
//!   powered off in the vSphere client, a guest whose process exited, a migration —
//!   is seen too.
//!
//! ```no_run
//! # async fn demo(backend: std::sync::Arc<dyn vic_portlayer::backend::Backend>, id: vic_portlayer::ContainerId) {
//! use futures::StreamExt;
//! use std::time::Duration;
//! use vic_portlayer::events::{EventCollector, EventHub, EventKind};
//!
//! let hub = EventHub::default();
//! let mut events = hub.subscribe_container(&id);
//! let collector = EventCollector::start(backend, hub.clone(), Duration::from_secs(5));
//! while let Some(e) = events.next().await {
//!     if let EventKind::Died { exit_code } = e.kind {
//!         println!("{} exited with {exit_code:?}", e.container);
//!         break;
//!     }
//! }
//! collector.stop().await.ok();
//! # }
//! ```
//!
//! # From vSphere events to container events
//!
//! [`map_vm_event`] says which vSphere event means what. On top of it the collector
//! keeps each container's last phase (created, running, down, suspended) and
//! publishes a phase only when it changes, because vSphere logs several events
//! for one transition: `VmBeingCreatedEvent` then `VmCreatedEvent` for one
//! creation, `VmGuestShutdownEvent` then `VmPoweredOffEvent` for one graceful stop.
//! So a container yields one `Created`, and one `Stopped` *or* `Died` per run:
//!
//! - a guest shutdown (asked for: by this port layer's stop or by an operator) is
//!   `Stopped`, and the power-off that completes it adds nothing;
//! - a power-off without a guest shutdown before it is `Died`: the process ended
//!   by itself and the guest powered the VM off, or someone powered it off hard.
//!   The exit code is the primary session's exit status (see
//!   [`primary_session`](crate::exec::primary_session)) read from the VM's config
//!   when the collector sees the event, provided the VM is still off then and not
//!   started again later in the same batch (a later run resets it); a VM already
//!   removed has no exit code to give.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{Stream, StreamExt};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use vim25::object::parse_date_time;
use vim25::types::DateTime;

use crate::backend::{Backend, PowerState, VmDetail, VmEvent};
use crate::{ContainerId, Error, Result};

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// The containerVM was created.
    Created,
    /// The container started (VM powered on).
    Started,
    /// The container was stopped (VM powered off on request).
    Stopped,
    /// The container's process ended by itself (or the VM went off unasked), with
    /// the exit code when the guest reported one.
    Died {
        /// Exit code.
        exit_code: Option<i64>,
    },
    /// The container was suspended.
    Suspended,
    /// The containerVM moved (migrated or relocated).
    Moved,
    /// The container was removed.
    Removed,
    /// An operation on the container failed.
    Failed {
        /// What went wrong.
        message: String,
    },
}

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    /// Published by this port layer while doing the operation.
    PortLayer,
    /// Read from vSphere's event history.
    VSphere,
}

/// One container event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The container.
    pub container: ContainerId,
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub time: SystemTime,
    /// Who saw it.
    pub source: EventSource,
    /// vSphere's event key, for events read from vSphere.
    pub vsphere_key: Option<i32>,
}

/// The fan-out point of events: every area publishes here, every subscriber gets
/// its own stream. Cheap to clone.
///
/// Publishing never waits for subscribers: each has a buffer of the hub's
/// capacity, and one that falls further behind skips its oldest events (a warning
/// is logged) rather than holding the publishers up.
#[derive(Debug, Clone)]
pub struct EventHub {
    tx: broadcast::Sender<Event>,
}

impl Default for EventHub {
    fn default() -> Self {
        EventHub::new(1024)
    }
}

impl EventHub {
    /// A hub that buffers up to `capacity` events per slow subscriber.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventHub { tx }
    }

    /// Publishes a port-layer event about `container`.
    pub fn publish(&self, container: &ContainerId, kind: EventKind) {
        self.send(Event {
            container: container.clone(),
            kind,
            time: SystemTime::now(),
            source: EventSource::PortLayer,
            vsphere_key: None,
        });
    }

    /// Publishes `event` as it is.
    pub fn send(&self, event: Event) {
        // No subscriber is not an error: events are for whoever listens.
        let _ = self.tx.send(event);
    }

    /// A stream of every event published from now on. A subscriber that falls more
    /// than the hub's capacity behind skips the oldest events (and a warning is
    /// logged) rather than holding the publishers up.
    pub fn subscribe(&self) -> impl Stream<Item = Event> + Send + Unpin + 'static {
        let rx = self.tx.subscribe();
        Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(e) => return Some((e, rx)),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "event subscriber fell behind");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }))
    }

    /// A stream of the events published from now on that `keep` accepts. The
    /// filter runs on the subscriber's side, so a lagging subscriber skips
    /// events before filtering, as with [`subscribe`](Self::subscribe).
    pub fn subscribe_filtered<F>(
        &self,
        keep: F,
    ) -> impl Stream<Item = Event> + Send + Unpin + 'static
    where
        F: Fn(&Event) -> bool + Send + 'static,
    {
        self.subscribe()
            .filter(move |e| futures::future::ready(keep(e)))
    }

    /// A stream of the events about `container` published from now on (from both
    /// sources; a slow subscriber skips rather than blocks, as with
    /// [`subscribe`](Self::subscribe)).
    pub fn subscribe_container(
        &self,
        container: &ContainerId,
    ) -> impl Stream<Item = Event> + Send + Unpin + 'static {
        let container = container.clone();
        self.subscribe_filtered(move |e| e.container == container)
    }

    /// A stream of the events from `source` published from now on (a slow
    /// subscriber skips rather than blocks, as with [`subscribe`](Self::subscribe)).
    pub fn subscribe_from(
        &self,
        source: EventSource,
    ) -> impl Stream<Item = Event> + Send + Unpin + 'static {
        self.subscribe_filtered(move |e| e.source == source)
    }

    /// How many subscriptions are open.
    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }
}

// ---- vSphere events ------------------------------------------------------------

/// The container event a vSphere VM event means, by its type; `None` for the
/// types that mean nothing to a container (reconfigured, starting, UUID
/// assigned, …).
///
/// | vSphere event | container event |
/// |---|---|
/// | `VmBeingCreatedEvent`, `VmCreatedEvent` | [`Created`](EventKind::Created) |
/// | `VmPoweredOnEvent`, `DrsVmPoweredOnEvent` | [`Started`](EventKind::Started) |
/// | `VmGuestShutdownEvent` | [`Stopped`](EventKind::Stopped) |
/// | `VmPoweredOffEvent` | [`Died`](EventKind::Died), exit code unknown here |
/// | `VmSuspendedEvent` | [`Suspended`](EventKind::Suspended) |
/// | `VmMigratedEvent`, `DrsVmMigratedEvent`, `VmRelocatedEvent` | [`Moved`](EventKind::Moved) |
/// | `VmRemovedEvent` | [`Removed`](EventKind::Removed) |
///
/// A power-off is a death because nothing in it says it was asked for; an asked
/// stop logs a guest shutdown first, and the [`EventCollector`] folds the
/// power-off that follows into that `Stopped` (see the [module docs](self)). The
/// collector fills in the exit code.
pub fn map_vm_event(event: &VmEvent) -> Option<EventKind> {
    match event.kind.as_str() {
        "VmBeingCreatedEvent" | "VmCreatedEvent" => Some(EventKind::Created),
        "VmPoweredOnEvent" | "DrsVmPoweredOnEvent" => Some(EventKind::Started),
        "VmGuestShutdownEvent" => Some(EventKind::Stopped),
        "VmPoweredOffEvent" => Some(EventKind::Died { exit_code: None }),
        "VmSuspendedEvent" => Some(EventKind::Suspended),
        "VmMigratedEvent" | "DrsVmMigratedEvent" | "VmRelocatedEvent" => Some(EventKind::Moved),
        "VmRemovedEvent" => Some(EventKind::Removed),
        _ => None,
    }
}

/// The container a VM event is about: the VM's name when it is a container ID,
/// else `None` (the appliance, other VMs in the folder, events without a name).
pub fn container_of(event: &VmEvent) -> Option<ContainerId> {
    event.vm_name.as_deref()?.parse().ok()
}

/// Where a container is in its life, as far as the events tell. Moves, removal
/// and failures are occurrences, not phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Created,
    Running,
    Down,
    Suspended,
}

fn phase_of(kind: &EventKind) -> Option<Phase> {
    match kind {
        EventKind::Created => Some(Phase::Created),
        EventKind::Started => Some(Phase::Running),
        EventKind::Stopped | EventKind::Died { .. } => Some(Phase::Down),
        EventKind::Suspended => Some(Phase::Suspended),
        EventKind::Moved | EventKind::Removed | EventKind::Failed { .. } => None,
    }
}

/// How far back each window reaches before the newest event already seen, by
/// default: events logged late with a slightly earlier time are still read.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(2);

/// The longest pause between attempts after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The shortest polling interval [`EventCollector::spawn`] uses.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Reads vSphere's events about the VCH's VMs and publishes them as container
/// events ([`EventSource::VSphere`], with [`Event::vsphere_key`] set).
///
/// Each [`collect`](Self::collect) reads a window starting at the newest event
/// seen so far (less an [overlap](Self::with_overlap)), so consecutive windows
/// overlap; an event is published once however many windows hold it, because
/// the keys of the events seen are remembered — only as long as they can come
/// back, i.e. while they are inside the window, so memory stays bounded.
/// Repeated vSphere events for one transition are folded as the
/// [module docs](self) say.
///
/// Use [`collect`](Self::collect) directly (tests, or a caller with its own
/// schedule), or [`start`](Self::start)/[`spawn`](Self::spawn) a task that polls.
pub struct EventCollector {
    backend: Arc<dyn Backend>,
    hub: EventHub,
    overlap: Duration,
    /// The start of the next window (`None`: everything the server keeps).
    since: Option<DateTime>,
    /// The newest event time seen.
    newest: Option<SystemTime>,
    /// Keys of the events already handled, with their time (`None` when it did
    /// not parse).
    seen: HashMap<i32, Option<SystemTime>>,
    /// Each container's last published phase.
    phases: HashMap<ContainerId, Phase>,
}

impl std::fmt::Debug for EventCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventCollector")
            .field("backend", &self.backend.describe())
            .field("since", &self.since)
            .field("overlap", &self.overlap)
            .field("seen", &self.seen.len())
            .field("containers", &self.phases.len())
            .finish()
    }
}

impl EventCollector {
    /// A collector reading `backend`'s VM events and publishing to `hub`. Its
    /// first window is everything the server keeps; see
    /// [`with_since`](Self::with_since).
    pub fn new(backend: Arc<dyn Backend>, hub: EventHub) -> Self {
        EventCollector {
            backend,
            hub,
            overlap: DEFAULT_OVERLAP,
            since: None,
            newest: None,
            seen: HashMap::new(),
            phases: HashMap::new(),
        }
    }

    /// Starts the first window at `since` (server time) instead of the start of
    /// the server's history: a control plane that restarts passes the time of
    /// the last event it handled so as not to replay older ones.
    pub fn with_since(mut self, since: DateTime) -> Self {
        self.since = Some(since);
        self
    }

    /// How far before the newest event seen each window starts
    /// ([`DEFAULT_OVERLAP`]); zero starts it at that event.
    pub fn with_overlap(mut self, overlap: Duration) -> Self {
        self.overlap = overlap;
        self
    }

    /// The start of the next window (`None`: the whole history).
    pub fn since(&self) -> Option<&DateTime> {
        self.since.as_ref()
    }

    /// A collector polling every `interval` in a tokio task, until the returned
    /// handle is dropped or [stopped](CollectorHandle::stop).
    pub fn start(backend: Arc<dyn Backend>, hub: EventHub, interval: Duration) -> CollectorHandle {
        EventCollector::new(backend, hub).spawn(interval)
    }

    /// Polls with [`collect`](Self::collect) every `interval` (at least
    /// [`MIN_INTERVAL`]) in a tokio task. A failed poll is logged and retried
    /// after a pause that doubles with each consecutive failure, up to
    /// [`MAX_BACKOFF`] (or `interval` when longer); failures never end the task.
    pub fn spawn(mut self, interval: Duration) -> CollectorHandle {
        let interval = interval.max(MIN_INTERVAL);
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                let outcome = tokio::select! {
                    biased;
                    _ = &mut stop_rx => None,
                    r = self.collect() => Some(r),
                };
                let delay = match outcome {
                    None => return self,
                    Some(Ok(_)) => {
                        failures = 0;
                        interval
                    }
                    Some(Err(e)) => {
                        failures = failures.saturating_add(1);
                        let delay = backoff(interval, failures);
                        tracing::warn!(
                            backend = %self.backend.describe(),
                            error = %e,
                            failures,
                            retry_in = ?delay,
                            "reading vSphere events failed"
                        );
                        delay
                    }
                };
                tokio::select! {
                    biased;
                    _ = &mut stop_rx => return self,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        });
        CollectorHandle {
            stop: Some(stop_tx),
            task: Some(task),
        }
    }

    /// Reads one window of events, publishes the new ones to the hub and returns
    /// them, oldest first.
    ///
    /// On an error (reading the events, or reading a VM for an exit code) nothing
    /// is published and nothing is remembered: the next call reads the same
    /// window again.
    pub async fn collect(&mut self) -> Result<Vec<Event>> {
        let batch = self.backend.vm_events(self.since.as_ref()).await?;

        // New events only, each once even if a window repeats it.
        let mut in_batch = HashSet::new();
        let fresh: Vec<VmEvent> = batch
            .into_iter()
            .filter(|e| !self.seen.contains_key(&e.key) && in_batch.insert(e.key))
            .collect();

        // Map and fold, on a copy of the phases so that a failure below leaves
        // them as they were.
        let mut phases = self.phases.clone();
        let mut out: Vec<(usize, Event)> = Vec::new();
        for (i, e) in fresh.iter().enumerate() {
            let Some(kind) = map_vm_event(e) else {
                continue;
            };
            let Some(container) = container_of(e) else {
                continue;
            };
            match phase_of(&kind) {
                Some(p) => {
                    if phases.get(&container) == Some(&p) {
                        continue;
                    }
                    phases.insert(container.clone(), p);
                }
                None if kind == EventKind::Removed => {
                    phases.remove(&container);
                }
                None => {}
            }
            out.push((
                i,
                Event {
                    container,
                    kind,
                    time: parse_date_time(e.created.as_str()).unwrap_or_else(SystemTime::now),
                    source: EventSource::VSphere,
                    vsphere_key: Some(e.key),
                },
            ));
        }

        // Exit codes, for deaths not followed by a new start in this batch.
        for n in 0..out.len() {
            if !matches!(out[n].1.kind, EventKind::Died { .. }) {
                continue;
            }
            let restarted = out[n + 1..].iter().any(|(_, later)| {
                later.container == out[n].1.container && later.kind == EventKind::Started
            });
            if restarted {
                continue;
            }
            let source = &fresh[out[n].0];
            let exit_code = self.exit_code(&out[n].1.container, source).await?;
            out[n].1.kind = EventKind::Died { exit_code };
        }

        // Everything read: remember and publish.
        let batch_newest = fresh
            .iter()
            .filter_map(|e| parse_date_time(e.created.as_str()))
            .max();
        for e in &fresh {
            let t = parse_date_time(e.created.as_str()).or(batch_newest);
            self.seen.insert(e.key, t);
        }
        self.phases = phases;
        if let Some(t) = batch_newest {
            if self.newest.is_none_or(|n| t > n) {
                self.newest = Some(t);
            }
        }
        if let Some(newest) = self.newest {
            let start = newest.checked_sub(self.overlap).unwrap_or(UNIX_EPOCH);
            // Keys before the window cannot be read again; a key without a time
            // is kept until the window has a start.
            self.seen.retain(|_, t| t.is_some_and(|t| t >= start));
            self.since = Some(format_date_time(start));
        }
        let events: Vec<Event> = out.into_iter().map(|(_, e)| e).collect();
        for e in &events {
            self.hub.send(e.clone());
        }
        Ok(events)
    }

    /// The primary session's exit status of the VM `event` is about, if it is
    /// still there and off. A VM gone is no error; a VM whose config does not
    /// decode gives no code (logged) rather than holding up every later event.
    async fn exit_code(&self, id: &ContainerId, event: &VmEvent) -> Result<Option<i64>> {
        let read = match &event.vm {
            Some(vm) => self.backend.vm(vm, VmDetail::Summary).await.map(Some),
            None => {
                self.backend
                    .vm_by_name(id.as_str(), VmDetail::Summary)
                    .await
            }
        };
        let record = match read {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        // The reference may have been reused, or the VM renamed.
        if record.name != id.as_str() || record.power_state != PowerState::PoweredOff {
            return Ok(None);
        }
        match crate::exec::decode_config(&record) {
            Ok(config) => Ok(crate::exec::primary_session(id, &config).and_then(|s| s.exit_status)),
            Err(e) => {
                tracing::warn!(container = %id, error = %e, "no exit code: the containerVM's config does not decode");
                Ok(None)
            }
        }
    }
}

/// The pause after `failures` consecutive failed polls.
fn backoff(interval: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.min(16);
    interval
        .saturating_mul(factor)
        .min(MAX_BACKOFF.max(interval))
}

/// `t` as an `xsd:dateTime` in UTC, truncated to microseconds (so never later
/// than `t`: a window starting there still holds the event at `t`).
fn format_date_time(t: SystemTime) -> DateTime {
    let since_epoch = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since_epoch.as_secs();
    let micros = since_epoch.subsec_micros();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = date_of_day(days);
    DateTime(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    ))
}

/// The proleptic Gregorian date of the `days`th day after 1970-01-01 (counting
/// in 400-year eras whose years start on 1 March, so that the leap day is the
/// last day of a year).
fn date_of_day(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The task of a running [`EventCollector`]. Dropping it stops the task.
#[derive(Debug)]
pub struct CollectorHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<EventCollector>>,
}

impl CollectorHandle {
    /// Whether the task is still running.
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the task (a poll in progress is abandoned before it publishes
    /// anything) and returns the collector, with what it has seen, to be
    /// polled by hand or spawned again. [`Error::Stopped`] if the task did not
    /// end normally.
    pub async fn stop(mut self) -> Result<EventCollector> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| Error::Stopped(format!("the event collector ({e})"))),
            None => Err(Error::Stopped("the event collector".into())),
        }
    }
}

impl Drop for CollectorHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::VmRecord;
    use async_trait::async_trait;
    use std::sync::Mutex;
    use tokio::io::AsyncRead;
    use vic_config::model::{ExecutorConfig, SessionConfig};
    use vim25::object::DatastorePath;
    use vim25::types::{
        AnyVirtualDeviceBackingInfo, ManagedObjectReference, VirtualMachineConfigSpec,
    };

    /// A backend that only answers `vm_events` (from a script) and `vm` (from a
    /// table), and records the windows it was asked for.
    #[derive(Default)]
    struct Scripted {
        events: Mutex<Vec<VmEvent>>,
        fail_next: Mutex<u32>,
        windows: Mutex<Vec<Option<DateTime>>>,
        vms: Mutex<HashMap<String, VmRecord>>,
        vm_reads: Mutex<u32>,
        fail_vm_reads: Mutex<bool>,
    }

    fn unsupported<T>() -> Result<T> {
        Err(Error::InvalidInput("not scripted".into()))
    }

    #[async_trait]
    impl Backend for Scripted {
        fn describe(&self) -> String {
            "scripted".into()
        }
        fn vch_folder(&self) -> DatastorePath {
            DatastorePath::new("ds", "VCH")
        }
        async fn create_vm(&self, _: &VirtualMachineConfigSpec) -> Result<ManagedObjectReference> {
            unsupported()
        }
        async fn reconfigure_vm(
            &self,
            _: &ManagedObjectReference,
            _: &VirtualMachineConfigSpec,
        ) -> Result<()> {
            unsupported()
        }
        async fn power_on(&self, _: &ManagedObjectReference) -> Result<()> {
            unsupported()
        }
        async fn power_off(&self, _: &ManagedObjectReference) -> Result<()> {
            unsupported()
        }
        async fn shutdown_guest(&self, _: &ManagedObjectReference) -> Result<()> {
            unsupported()
        }
        async fn destroy_vm(&self, _: &ManagedObjectReference) -> Result<()> {
            unsupported()
        }
        async fn vm(&self, vm: &ManagedObjectReference, _: VmDetail) -> Result<VmRecord> {
            *self.vm_reads.lock().unwrap() += 1;
            if *self.fail_vm_reads.lock().unwrap() {
                return Err(Error::Timeout {
                    what: "a scripted VM read".into(),
                    limit: Duration::from_secs(1),
                });
            }
            self.vms
                .lock()
                .unwrap()
                .get(&vm.value)
                .cloned()
                .ok_or_else(|| Error::not_found("vm", vm.value.clone()))
        }
        async fn vm_by_name(&self, _: &str, _: VmDetail) -> Result<Option<VmRecord>> {
            unsupported()
        }
        async fn list_vms(&self, _: VmDetail) -> Result<Vec<VmRecord>> {
            unsupported()
        }
        async fn wait_vm(
            &self,
            _: &ManagedObjectReference,
            _: Duration,
            _: crate::backend::VmPredicate<'_>,
        ) -> Result<VmRecord> {
            unsupported()
        }
        async fn make_dir(&self, _: &DatastorePath) -> Result<()> {
            unsupported()
        }
        async fn upload(
            &self,
            _: &DatastorePath,
            _: Box<dyn AsyncRead + Send + Unpin>,
            _: u64,
        ) -> Result<()> {
            unsupported()
        }
        async fn download(&self, _: &DatastorePath) -> Result<Vec<u8>> {
            unsupported()
        }
        async fn delete_file(&self, _: &DatastorePath) -> Result<()> {
            unsupported()
        }
        async fn move_file(&self, _: &DatastorePath, _: &DatastorePath) -> Result<()> {
            unsupported()
        }
        async fn list_dir(&self, _: &DatastorePath) -> Result<Vec<String>> {
            unsupported()
        }
        async fn exists(&self, _: &DatastorePath) -> Result<bool> {
            unsupported()
        }
        async fn create_disk(
            &self,
            _: &DatastorePath,
            _: i64,
            _: Option<&DatastorePath>,
        ) -> Result<()> {
            unsupported()
        }
        async fn delete_disk(&self, _: &DatastorePath) -> Result<()> {
            unsupported()
        }
        /// Like a server: the events at or after `since`, oldest first.
        async fn vm_events(&self, since: Option<&DateTime>) -> Result<Vec<VmEvent>> {
            self.windows.lock().unwrap().push(since.cloned());
            {
                let mut fail = self.fail_next.lock().unwrap();
                if *fail > 0 {
                    *fail -= 1;
                    return Err(Error::Timeout {
                        what: "scripted events".into(),
                        limit: Duration::from_secs(1),
                    });
                }
            }
            let from = since.and_then(|s| parse_date_time(s.as_str()));
            Ok(self
                .events
                .lock()
                .unwrap()
                .iter()
                .filter(|e| match (from, parse_date_time(e.created.as_str())) {
                    (Some(f), Some(t)) => t >= f,
                    _ => true,
                })
                .cloned()
                .collect())
        }
        async fn network_backing(&self, _: &str) -> Result<AnyVirtualDeviceBackingInfo> {
            unsupported()
        }
        async fn port_groups(&self) -> Result<Vec<String>> {
            unsupported()
        }
    }

    impl Scripted {
        fn log(&self, key: i32, kind: &str, vm: &str, name: &str, second: u32) {
            self.events
                .lock()
                .unwrap()
                .push(vm_event(key, kind, vm, name, second));
        }

        fn put_vm(&self, vm: &str, name: &str, power: PowerState, exit_status: Option<i64>) {
            let id: ContainerId = name.parse().unwrap();
            let mut config = ExecutorConfig::default();
            config.common.id = Some(name.to_string());
            config.sessions.insert(
                id.to_string(),
                SessionConfig {
                    exit_status,
                    started: Some("true".into()),
                    ..Default::default()
                },
            );
            let record = VmRecord {
                reference: ManagedObjectReference::new("VirtualMachine", vm),
                name: name.to_string(),
                change_version: None,
                power_state: power,
                extra_config: vic_config::to_extra_config(&config).unwrap(),
                vmx_path: None,
                devices: Vec::new(),
            };
            self.vms.lock().unwrap().insert(vm.to_string(), record);
        }
    }

    fn vm_event(key: i32, kind: &str, vm: &str, name: &str, second: u32) -> VmEvent {
        VmEvent {
            key,
            kind: kind.to_string(),
            vm: Some(ManagedObjectReference::new("VirtualMachine", vm)),
            vm_name: Some(name.to_string()),
            created: DateTime(format!("2026-03-01T10:00:{second:02}.250Z")),
            message: None,
        }
    }

    fn id(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    fn kinds(events: &[Event]) -> Vec<EventKind> {
        events.iter().map(|e| e.kind.clone()).collect()
    }

    #[test]
    fn mapping() {
        let a = id('a');
        let cases = [
            ("VmBeingCreatedEvent", Some(EventKind::Created)),
            ("VmCreatedEvent", Some(EventKind::Created)),
            ("VmPoweredOnEvent", Some(EventKind::Started)),
            ("DrsVmPoweredOnEvent", Some(EventKind::Started)),
            ("VmGuestShutdownEvent", Some(EventKind::Stopped)),
            (
                "VmPoweredOffEvent",
                Some(EventKind::Died { exit_code: None }),
            ),
            ("VmSuspendedEvent", Some(EventKind::Suspended)),
            ("VmMigratedEvent", Some(EventKind::Moved)),
            ("DrsVmMigratedEvent", Some(EventKind::Moved)),
            ("VmRelocatedEvent", Some(EventKind::Moved)),
            ("VmRemovedEvent", Some(EventKind::Removed)),
            ("VmStartingEvent", None),
            ("VmStoppingEvent", None),
            ("VmReconfiguredEvent", None),
            ("VmUuidAssignedEvent", None),
            ("", None),
        ];
        for (kind, want) in cases {
            assert_eq!(
                map_vm_event(&vm_event(1, kind, "vm-1", &a, 0)),
                want,
                "{kind}"
            );
        }
    }

    #[test]
    fn only_containers() {
        let a = id('a');
        assert_eq!(
            container_of(&vm_event(1, "VmPoweredOnEvent", "vm-1", &a, 0)).map(|c| c.to_string()),
            Some(a.clone())
        );
        for name in ["VCH001", "", &id('A'), &a[..63]] {
            assert_eq!(
                container_of(&vm_event(1, "VmPoweredOnEvent", "vm-1", name, 0)),
                None,
                "{name:?}"
            );
        }
        let mut nameless = vm_event(1, "VmPoweredOnEvent", "vm-1", &a, 0);
        nameless.vm_name = None;
        assert_eq!(container_of(&nameless), None);
    }

    #[test]
    fn dates() {
        for s in [
            "1970-01-01T00:00:00.000000Z",
            "2000-02-29T23:59:59.999999Z",
            "2026-03-01T10:00:07.250000Z",
            "2100-12-31T00:00:01.000001Z",
        ] {
            let t = parse_date_time(s).unwrap();
            assert_eq!(format_date_time(t).as_str(), s);
        }
        // Truncated, never rounded up.
        let t = parse_date_time("2026-03-01T10:00:07.123456789Z").unwrap();
        assert_eq!(format_date_time(t).as_str(), "2026-03-01T10:00:07.123456Z");
        assert_eq!(
            format_date_time(UNIX_EPOCH - Duration::from_secs(5)).as_str(),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn backoff_doubles_to_a_cap() {
        let s = Duration::from_secs(1);
        assert_eq!(backoff(s, 1), Duration::from_secs(2));
        assert_eq!(backoff(s, 3), Duration::from_secs(8));
        assert_eq!(backoff(s, 40), MAX_BACKOFF);
        assert_eq!(
            backoff(Duration::from_secs(120), 2),
            Duration::from_secs(120)
        );
    }

    #[tokio::test]
    async fn each_event_once_over_overlapping_windows() {
        let a = id('a');
        let backend = Arc::new(Scripted::default());
        let hub = EventHub::default();
        let mut sub = hub.subscribe();
        let mut c =
            EventCollector::new(backend.clone(), hub.clone()).with_overlap(Duration::from_secs(1));

        backend.log(1, "VmBeingCreatedEvent", "vm-1", &a, 0);
        backend.log(2, "VmCreatedEvent", "vm-1", &a, 0);
        backend.log(3, "VmReconfiguredEvent", "vm-1", &a, 1);
        backend.log(4, "VmPoweredOnEvent", "vm-1", &a, 1);
        backend.log(5, "VmPoweredOnEvent", "vm-2", "VCH001", 1);
        let first = c.collect().await.unwrap();
        assert_eq!(kinds(&first), [EventKind::Created, EventKind::Started]);
        assert_eq!(first[0].vsphere_key, Some(1));
        assert_eq!(first[1].vsphere_key, Some(4));
        assert!(first
            .iter()
            .all(|e| e.source == EventSource::VSphere && e.container.as_str() == a));
        assert_eq!(
            first[1].time,
            parse_date_time("2026-03-01T10:00:01.250Z").unwrap()
        );
        // The next window starts the overlap before the newest event.
        assert_eq!(
            c.since().map(|d| d.as_str()),
            Some("2026-03-01T10:00:00.250000Z")
        );

        // Nothing new: the overlapping window republishes nothing.
        assert!(c.collect().await.unwrap().is_empty());
        assert!(c.collect().await.unwrap().is_empty());

        backend.log(6, "VmGuestShutdownEvent", "vm-1", &a, 5);
        backend.log(7, "VmPoweredOffEvent", "vm-1", &a, 5);
        let second = c.collect().await.unwrap();
        assert_eq!(kinds(&second), [EventKind::Stopped]);
        assert_eq!(second[0].vsphere_key, Some(6));
        // Keys behind the window are forgotten; those inside are kept.
        let mut kept: Vec<i32> = c.seen.keys().copied().collect();
        kept.sort();
        assert_eq!(kept, [6, 7]);

        backend.log(8, "VmRemovedEvent", "vm-1", &a, 6);
        assert_eq!(kinds(&c.collect().await.unwrap()), [EventKind::Removed]);
        assert!(c.collect().await.unwrap().is_empty());
        assert!(c.phases.is_empty(), "a removed container is forgotten");

        let windows = backend.windows.lock().unwrap().clone();
        assert_eq!(windows[0], None);
        assert!(windows[1..].iter().all(Option::is_some));

        // The hub saw exactly what collect returned.
        let mut published = Vec::new();
        while let Some(Some(e)) = futures::FutureExt::now_or_never(sub.next()) {
            published.push(e.kind);
        }
        assert_eq!(
            published,
            [
                EventKind::Created,
                EventKind::Started,
                EventKind::Stopped,
                EventKind::Removed
            ]
        );
    }

    #[tokio::test]
    async fn deaths_carry_the_exit_code() {
        let (a, b, c_) = (id('a'), id('b'), id('c'));
        let backend = Arc::new(Scripted::default());
        let mut c = EventCollector::new(backend.clone(), EventHub::default());
        // a exited with 7 and is still there; b is gone; c was started again.
        backend.put_vm("vm-1", &a, PowerState::PoweredOff, Some(7));
        backend.put_vm("vm-3", &c_, PowerState::PoweredOn, Some(3));
        for (k, vm, name) in [(1, "vm-1", &a), (2, "vm-2", &b), (3, "vm-3", &c_)] {
            backend.log(k * 10, "VmPoweredOnEvent", vm, name, 0);
            backend.log(k * 10 + 1, "VmPoweredOffEvent", vm, name, 1);
        }
        backend.log(32, "VmPoweredOnEvent", "vm-3", &c_, 2);
        let got = c.collect().await.unwrap();
        let of = |who: &str| -> Vec<EventKind> {
            got.iter()
                .filter(|e| e.container.as_str() == who)
                .map(|e| e.kind.clone())
                .collect()
        };
        assert_eq!(
            of(&a),
            [EventKind::Started, EventKind::Died { exit_code: Some(7) }]
        );
        assert_eq!(
            of(&b),
            [EventKind::Started, EventKind::Died { exit_code: None }]
        );
        assert_eq!(
            of(&c_),
            [
                EventKind::Started,
                EventKind::Died { exit_code: None },
                EventKind::Started
            ]
        );
        // Only the deaths not followed by a start were looked up.
        assert_eq!(*backend.vm_reads.lock().unwrap(), 2);
    }

    #[tokio::test]
    async fn a_failed_poll_changes_nothing() {
        let a = id('a');
        let backend = Arc::new(Scripted::default());
        let hub = EventHub::default();
        let mut sub = hub.subscribe();
        let mut c = EventCollector::new(backend.clone(), hub.clone());
        backend.put_vm("vm-1", &a, PowerState::PoweredOff, Some(1));
        backend.log(1, "VmPoweredOnEvent", "vm-1", &a, 0);
        backend.log(2, "VmPoweredOffEvent", "vm-1", &a, 1);

        *backend.fail_next.lock().unwrap() = 1;
        assert!(c.collect().await.is_err());
        *backend.fail_vm_reads.lock().unwrap() = true;
        assert!(c.collect().await.is_err());
        assert!(c.seen.is_empty() && c.phases.is_empty() && c.since().is_none());
        assert!(
            futures::FutureExt::now_or_never(sub.next()).is_none(),
            "nothing published"
        );

        *backend.fail_vm_reads.lock().unwrap() = false;
        assert_eq!(
            kinds(&c.collect().await.unwrap()),
            [EventKind::Started, EventKind::Died { exit_code: Some(1) }]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_task_retries_and_stops() {
        let a = id('a');
        let backend = Arc::new(Scripted::default());
        let hub = EventHub::default();
        let mut sub = hub.subscribe_container(&a.parse().unwrap());
        backend.log(1, "VmCreatedEvent", "vm-1", &a, 0);
        backend.log(2, "VmCreatedEvent", "vm-9", "not-a-container", 0);
        *backend.fail_next.lock().unwrap() = 3;
        let handle = EventCollector::start(backend.clone(), hub.clone(), Duration::from_secs(1));
        let e = tokio::time::timeout(Duration::from_secs(600), sub.next())
            .await
            .expect("published after the failures")
            .expect("an event");
        assert_eq!(e.kind, EventKind::Created);
        assert!(handle.is_running());
        // Three failures (pauses of 2, 4, 8 s) then one success.
        assert!(backend.windows.lock().unwrap().len() >= 4);

        backend.log(3, "VmPoweredOnEvent", "vm-1", &a, 3);
        let e = tokio::time::timeout(Duration::from_secs(600), sub.next())
            .await
            .expect("the next poll")
            .expect("an event");
        assert_eq!(e.kind, EventKind::Started);

        let collector = handle.stop().await.unwrap();
        assert_eq!(
            collector.phases.get(&a.parse::<ContainerId>().unwrap()),
            Some(&Phase::Running)
        );
        let polls = backend.windows.lock().unwrap().len();
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(
            backend.windows.lock().unwrap().len(),
            polls,
            "stopped means no more polls"
        );
    }

    #[tokio::test]
    async fn dropping_the_handle_ends_the_task() {
        let backend = Arc::new(Scripted::default());
        let handle = EventCollector::start(
            backend.clone(),
            EventHub::default(),
            Duration::from_millis(10),
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(handle);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let polls = backend.windows.lock().unwrap().len();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(polls > 0);
        assert_eq!(backend.windows.lock().unwrap().len(), polls);
    }

    #[tokio::test]
    async fn filtered_subscriptions() {
        let hub = EventHub::default();
        let (a, b): (ContainerId, ContainerId) =
            (id('a').parse().unwrap(), id('b').parse().unwrap());
        let mut only_a = hub.subscribe_container(&a);
        let mut only_vsphere = hub.subscribe_from(EventSource::VSphere);
        assert_eq!(hub.subscriber_count(), 2);
        hub.publish(&b, EventKind::Created);
        hub.publish(&a, EventKind::Created);
        hub.send(Event {
            container: b.clone(),
            kind: EventKind::Moved,
            time: SystemTime::now(),
            source: EventSource::VSphere,
            vsphere_key: Some(9),
        });
        hub.publish(&a, EventKind::Removed);
        let e = only_a.next().await.unwrap();
        assert_eq!(
            (e.container.clone(), e.kind),
            (a.clone(), EventKind::Created)
        );
        assert_eq!(only_a.next().await.unwrap().kind, EventKind::Removed);
        let e = only_vsphere.next().await.unwrap();
        assert_eq!((e.container, e.vsphere_key), (b, Some(9)));
        assert!(futures::FutureExt::now_or_never(only_vsphere.next()).is_none());
    }

    #[tokio::test]
    async fn a_slow_subscriber_skips() {
        let hub = EventHub::new(2);
        let a: ContainerId = id('a').parse().unwrap();
        let mut slow = hub.subscribe();
        for kind in [
            EventKind::Created,
            EventKind::Started,
            EventKind::Stopped,
            EventKind::Removed,
        ] {
            hub.publish(&a, kind);
        }
        assert_eq!(slow.next().await.unwrap().kind, EventKind::Stopped);
        assert_eq!(slow.next().await.unwrap().kind, EventKind::Removed);
    }
}
