//! Resending calls that are safe to repeat after transient failures.

use crate::soap::{BoxFuture, RawResponse, Request, StreamingResponse, Transport};
use crate::{Error, Version};
use std::time::Duration;

/// How often and how patiently [`Retry`] resends a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Resends after the first attempt (0: never resend).
    pub retries: u32,
    /// The wait before the first resend; it doubles for each further one, plus up to
    /// one `base_delay` of random jitter so that concurrent callers spread out.
    pub base_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// `retries` resends, waiting `base_delay`, then twice that, and so on (capped at
    /// 30 s).
    pub fn new(retries: u32, base_delay: Duration) -> Self {
        RetryPolicy {
            retries,
            base_delay,
            max_delay: Duration::from_secs(30),
        }
    }

    /// Never resend.
    pub fn none() -> Self {
        RetryPolicy::new(0, Duration::ZERO)
    }

    /// The wait before resend number `attempt + 1`, jitter included.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1 << attempt.min(16));
        let jitter = self.base_delay.mul_f64(jitter_fraction());
        (exp + jitter).min(self.max_delay)
    }
}

impl Default for RetryPolicy {
    /// Two resends, from 250 ms.
    fn default() -> Self {
        RetryPolicy::new(2, Duration::from_millis(250))
    }
}

/// A number in `[0, 1)` that differs between calls and threads: the clock's
/// sub-second part mixed with a per-process counter (enough to spread retries; not for
/// cryptography).
fn jitter_fraction() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    let mut x = COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ nanos;
    // xorshift-multiply finaliser: spreads the bits of both inputs.
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether an outcome is worth another attempt: the request may never have reached
/// the server, or a proxy or an overloaded server turned it away.
fn is_transient(status: Result<u16, &Error>) -> bool {
    match status {
        Err(Error::Network { .. }) | Err(Error::Timeout { .. }) => true,
        Ok(status) => matches!(status, 502..=504),
        Err(_) => false,
    }
}

/// Resends a call after a network error, a timeout or HTTP 502/503/504 — only when
/// the call is idempotent (the generated methods say so for each operation: reads
/// yes, anything that changes state no, since a lost response does not mean the
/// server did nothing).
#[derive(Debug)]
pub struct Retry<T> {
    inner: T,
    policy: RetryPolicy,
}

impl<T: Transport> Retry<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, policy: RetryPolicy) -> Self {
        Retry { inner, policy }
    }

    /// The policy.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }
}

impl<T: Transport> Transport for Retry<T> {
    fn version(&self) -> Version {
        self.inner.version()
    }

    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        Box::pin(self.retrying(
            request,
            idempotent,
            |r: &RawResponse| r.status,
            move || self.inner.round_trip(request, idempotent),
        ))
    }

    /// Resends under the same rules until the status has arrived; a failure while
    /// the body is read afterwards is not retried (part of it may have been used).
    fn round_trip_streaming<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<StreamingResponse, Error>> {
        Box::pin(self.retrying(
            request,
            idempotent,
            |r: &StreamingResponse| r.status,
            move || self.inner.round_trip_streaming(request, idempotent),
        ))
    }
}

impl<T: Transport> Retry<T> {
    /// Calls `send` until its outcome is not transient (see [`is_transient`]), the call
    /// is not idempotent, or the retries are spent.
    async fn retrying<R, F>(
        &self,
        request: &Request,
        idempotent: bool,
        status: impl Fn(&R) -> u16,
        send: impl Fn() -> F,
    ) -> Result<R, Error>
    where
        F: std::future::Future<Output = Result<R, Error>>,
    {
        let mut attempt = 0;
        loop {
            let r = send().await;
            let transient = is_transient(r.as_ref().map(&status));
            if !(idempotent && attempt < self.policy.retries && transient) {
                return r;
            }
            let delay = self.policy.delay(attempt);
            tracing::debug!(
                operation = request.operation,
                attempt = attempt + 1,
                ?delay,
                "transient failure: sending again"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_capped() {
        let p = RetryPolicy::new(5, Duration::from_millis(100));
        for attempt in 0..5 {
            let d = p.delay(attempt);
            let floor = Duration::from_millis(100 << attempt);
            assert!(d >= floor, "{attempt}: {d:?}");
            assert!(d < floor + Duration::from_millis(100), "{attempt}: {d:?}");
        }
        let capped = RetryPolicy {
            max_delay: Duration::from_secs(1),
            ..p
        };
        assert_eq!(capped.delay(40), Duration::from_secs(1));
    }

    #[test]
    fn jitter_varies() {
        let xs: Vec<f64> = (0..64).map(|_| jitter_fraction()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let distinct = xs
            .iter()
            .map(|x| (x * 1e6) as u64)
            .collect::<std::collections::BTreeSet<_>>();
        assert!(distinct.len() > 32, "{distinct:?}");
    }
}
