//! Remembering the login and logging in again when the server forgot the session.

use super::{BoxFuture, RawResponse, Request, Transport};
use crate::rt::{lock, Secret};
use crate::types::{ManagedObjectReference, UserSession};
use crate::{methods, Error, Version};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// When a call that failed with `NotAuthenticated` is sent again after logging in anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Relogin {
    /// Never: the caller sees `NotAuthenticated`.
    Never,
    /// For calls that are safe to repeat (the default).
    #[default]
    SafeCalls,
    /// For every call (the server refused it unexecuted, so this is safe too, but a
    /// caller may prefer to decide).
    AllCalls,
}

impl Relogin {
    fn allows(self, idempotent: bool) -> bool {
        match self {
            Relogin::Never => false,
            Relogin::SafeCalls => idempotent,
            Relogin::AllCalls => true,
        }
    }
}

/// What a re-login needs.
#[derive(Clone)]
struct Login {
    session_manager: ManagedObjectReference,
    user: String,
    password: Secret,
}

/// Keeps a session: [`Session::login`] logs in through the wrapped transport and
/// remembers the credentials; when a later call comes back with the `NotAuthenticated`
/// fault (the session expired, was terminated, or the server restarted), it logs in
/// again once and sends the call again, as [`Relogin`] allows.
///
/// Concurrent calls that all find the session gone cause one login, not one each.
/// `Login`, `Logout` and the other session calls themselves are never replayed.
/// The password is kept in memory for this purpose only and never shows in `Debug`.
pub struct Session<T> {
    inner: T,
    policy: Relogin,
    login: Mutex<Option<Login>>,
    /// Bumped on every successful login, so a caller that saw `NotAuthenticated` can
    /// tell whether someone else has logged in again since it sent its call.
    generation: AtomicU64,
    login_lock: tokio::sync::Mutex<()>,
}

impl<T> fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let login = lock(&self.login);
        f.debug_struct("Session")
            .field("policy", &self.policy)
            .field("user", &login.as_ref().map(|l| l.user.as_str()))
            .field("logins", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Operations that create or end sessions: their `NotAuthenticated` is an answer, not
/// a lost session.
fn is_session_call(operation: &str) -> bool {
    matches!(
        operation,
        "Login"
            | "LoginByToken"
            | "LoginBySSPI"
            | "LoginExtensionByCertificate"
            | "LoginExtensionBySubjectName"
            | "ImpersonateUser"
            | "CloneSession"
            | "AcquireCloneTicket"
            | "Logout"
    )
}

/// Whether a raw response is the SOAP fault `NotAuthenticated`.
fn is_not_authenticated(r: &RawResponse) -> bool {
    if r.status != 500 {
        return false;
    }
    let resp = crate::soap::Response::from_raw("probe", r.clone());
    matches!(resp.returnval_unit(), Err(e) if e.fault_name() == Some("NotAuthenticated"))
}

impl<T: Transport> Session<T> {
    /// Wraps `inner`; nothing is remembered until [`Session::login`] or
    /// [`Session::remember`].
    pub fn new(inner: T, policy: Relogin) -> Self {
        Session {
            inner,
            policy,
            login: Mutex::new(None),
            generation: AtomicU64::new(0),
            login_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The re-login policy.
    pub fn policy(&self) -> Relogin {
        self.policy
    }

    /// The wrapped transport (calls through it never log in again).
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// Logs in at `session_manager` and, on success, remembers the credentials for
    /// later re-logins.
    pub async fn login(
        &self,
        session_manager: &ManagedObjectReference,
        user: &str,
        password: &str,
    ) -> Result<UserSession, Error> {
        let _g = self.login_lock.lock().await;
        let s = methods::login(&self.inner, session_manager, user, password, None).await?;
        self.remember(session_manager, user, password);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(s)
    }

    /// Logs out and forgets the credentials (first, so that nothing logs in again).
    pub async fn logout(&self, session_manager: &ManagedObjectReference) -> Result<(), Error> {
        self.forget();
        methods::logout(&self.inner, session_manager).await
    }

    /// Remembers credentials for re-logins without logging in now (for a session
    /// taken over from an exported cookie, say).
    pub fn remember(&self, session_manager: &ManagedObjectReference, user: &str, password: &str) {
        *lock(&self.login) = Some(Login {
            session_manager: session_manager.clone(),
            user: user.to_string(),
            password: Secret(password.to_string()),
        });
    }

    /// Forgets the credentials: no more re-logins.
    pub fn forget(&self) {
        *lock(&self.login) = None;
    }

    /// Whether credentials are remembered.
    pub fn has_credentials(&self) -> bool {
        lock(&self.login).is_some()
    }

    /// How many logins have succeeded through this layer, re-logins included.
    pub fn logins(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Logs in again unless someone did since `seen` was read; `false` when there are
    /// no credentials.
    async fn relogin(&self, seen: u64) -> Result<bool, Error> {
        let _g = self.login_lock.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return Ok(true);
        }
        let Some(login) = lock(&self.login).clone() else {
            return Ok(false);
        };
        methods::login(
            &self.inner,
            &login.session_manager,
            &login.user,
            &login.password.0,
            None,
        )
        .await?;
        self.generation.fetch_add(1, Ordering::AcqRel);
        tracing::debug!(user = %login.user, "session lost: logged in again");
        Ok(true)
    }
}

impl<T: Transport> Transport for Session<T> {
    fn version(&self) -> Version {
        self.inner.version()
    }

    fn round_trip<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<RawResponse, Error>> {
        Box::pin(async move {
            let seen = self.generation.load(Ordering::Acquire);
            let r = self.inner.round_trip(request, idempotent).await?;
            if !self.policy.allows(idempotent)
                || is_session_call(request.operation)
                || !is_not_authenticated(&r)
                || !self.relogin(seen).await?
            {
                return Ok(r);
            }
            tracing::debug!(operation = request.operation, "replaying after re-login");
            self.inner.round_trip(request, idempotent).await
        })
    }
}
