//! Events: what happened to containers, from the port layer itself and from vSphere,
//! as an async stream per subscriber.

use std::time::SystemTime;

use futures::Stream;
use tokio::sync::broadcast;

use crate::ContainerId;

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
}
