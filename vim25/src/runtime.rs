//! Small runtime plumbing shared by the client and the helper layer.

use std::future::Future;
use std::sync::{Mutex, MutexGuard};

/// Locks `m`, going on with the data when another thread panicked while holding it
/// (the guarded values stay consistent: every writer replaces them whole).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs a server-side cleanup (destroying a view, collector, …) in the background from
/// a `Drop`, when a tokio runtime is there to run it; without one it is skipped and the
/// server reclaims the object with the session.
pub(crate) fn spawn_cleanup(f: impl Future<Output = ()> + Send + 'static) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(f);
    }
}

/// Destroys a server-side object (a view, a property collector) with `call`, which
/// is safe to repeat in effect: a repeat of a destroy that went through finds the
/// object gone. So, unlike other calls that change state, it is sent again (up to
/// five attempts, waiting 100, 200, 400 and 800 ms) after a network error, a timeout,
/// an HTTP error or an unreadable answer; `ManagedObjectNotFound` (an earlier attempt went through) and
/// `NotAuthenticated` (the session, and every object of it, is gone) count as done.
/// Without this, one lost answer left the object on the server for the rest of the
/// session.
pub(crate) async fn destroy_reliably<F, Fut>(mut call: F) -> Result<(), crate::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), crate::Error>>,
{
    use crate::Error;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match call().await {
            Ok(()) => return Ok(()),
            Err(e)
                if matches!(
                    e.fault_name(),
                    Some("ManagedObjectNotFound") | Some("NotAuthenticated")
                ) =>
            {
                return Ok(())
            }
            Err(
                e @ (Error::Network { .. }
                | Error::Timeout { .. }
                | Error::Http { .. }
                | Error::Decode { .. }),
            ) if attempt < 5 => {
                tracing::debug!(error = %e, attempt, "destroy failed; sending it again");
                tokio::time::sleep(std::time::Duration::from_millis(100 << (attempt - 1))).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A string that never shows in `Debug` output (passwords, session cookies).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}
