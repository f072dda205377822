//! Keeping an idle session from expiring.

use crate::soap::{BoxFuture, RawResponse, Request, StreamingResponse, Transport};
use crate::types::ManagedObjectReference;
use crate::{methods, Error, Version};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Calls `CurrentTime` through the wrapped transport whenever no call has passed for
/// `interval`, so that the server does not expire an idle session (vCenter's default
/// idle timeout is 30 minutes). Calls passing through count as activity, so a busy
/// client sends no extra traffic.
///
/// The background task runs on the tokio runtime that was current at construction and
/// stops when the `KeepAlive` is dropped. Put it above [`Session`](super::Session), so
/// that a ping that finds the session gone logs in again.
pub struct KeepAlive<T> {
    inner: Arc<T>,
    shared: Arc<Activity>,
    task: tokio::task::AbortHandle,
}

struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last call sent.
    last_ms: AtomicU64,
    pings: AtomicU64,
    failures: AtomicU64,
}

impl Activity {
    fn stamp(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }
    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

impl<T> fmt::Debug for KeepAlive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeepAlive")
            .field("pings", &self.shared.pings.load(Ordering::Relaxed))
            .field("failures", &self.shared.failures.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T: Transport + 'static> KeepAlive<T> {
    /// Wraps `inner` and starts pinging after `interval` of idleness. Fails with
    /// [`Error::NoRuntime`] outside a tokio runtime, and with [`Error::InvalidInput`]
    /// when `interval` is zero.
    pub fn new(inner: Arc<T>, interval: Duration) -> Result<Self, Error> {
        Self::with_condition(inner, interval, |_| true)
    }

    /// Like [`KeepAlive::new`], but an idle interval only brings a ping when
    /// `should_ping` says so (say, while a session is logged in: a ping without one
    /// would only open a fresh anonymous session on the server).
    pub fn with_condition(
        inner: Arc<T>,
        interval: Duration,
        should_ping: impl Fn(&T) -> bool + Send + Sync + 'static,
    ) -> Result<Self, Error> {
        if interval.is_zero() {
            return Err(Error::InvalidInput(
                "keep-alive interval must be above zero".into(),
            ));
        }
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::NoRuntime("a keep-alive".into()))?;
        let shared = Arc::new(Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            pings: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        });
        let task = rt
            .spawn(ping_when_idle(
                inner.clone(),
                shared.clone(),
                interval,
                should_ping,
            ))
            .abort_handle();
        Ok(KeepAlive {
            inner,
            shared,
            task,
        })
    }

    /// Pings sent so far.
    pub fn pings(&self) -> u64 {
        self.shared.pings.load(Ordering::Relaxed)
    }

    /// Pings that failed so far (each is logged as a warning).
    pub fn failures(&self) -> u64 {
        self.shared.failures.load(Ordering::Relaxed)
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }
}

async fn ping_when_idle<T: Transport>(
    inner: Arc<T>,
    activity: Arc<Activity>,
    every: Duration,
    should_ping: impl Fn(&T) -> bool,
) {
    let si = ManagedObjectReference::new("ServiceInstance", "ServiceInstance");
    loop {
        tokio::time::sleep_until(activity.last() + every).await;
        if activity.last().elapsed() < every {
            continue; // a call went through while we slept
        }
        activity.stamp();
        if !should_ping(&inner) {
            continue;
        }
        activity.pings.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = methods::current_time(&*inner, &si).await {
            activity.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "keep-alive call failed");
        }
    }
}

impl<T> Drop for KeepAlive<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<T: Transport + 'static> Transport for KeepAlive<T> {
    fn version(&self) -> Version {
        self.inner.version()
    }

    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        self.shared.stamp();
        self.inner.round_trip(request, idempotent)
    }

    fn round_trip_streaming<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<StreamingResponse, Error>> {
        self.shared.stamp();
        self.inner.round_trip_streaming(request, idempotent)
    }
}
