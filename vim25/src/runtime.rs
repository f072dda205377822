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

/// A string that never shows in `Debug` output (passwords, session cookies).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}
