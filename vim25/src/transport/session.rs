//! Remembering the login and logging in again when the server forgot the session.

use crate::runtime::{lock, Secret};
use crate::soap::{BoxFuture, RawResponse, Request, StreamingResponse, Transport};
use crate::types::{ManagedObjectReference, UserSession};
use crate::{methods, Error, Version};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
/// Concurrent calls that all find the session gone cause one login attempt, not one
/// each; when it fails, they all get their `NotAuthenticated` back. A re-login refused
/// with `InvalidLogin` (the password changed) forgets the credentials, so that a
/// keep-alive or a busy program cannot lock the account with repeated bad logins.
/// `Login`, `Logout` and the calls that log in by other means are never replayed.
/// The password is kept in memory for this purpose only and never shows in `Debug`.
pub struct Session<T> {
    inner: T,
    policy: Relogin,
    login: Mutex<Option<Login>>,
    /// Bumped when a login attempt or a logout has finished, so a caller that saw
    /// `NotAuthenticated` can tell whether the session changed since it sent its call.
    /// Bumped at the end, not the start: a call sent while a login runs still carries
    /// the old session's cookie, and its refusal is answered by that login.
    epoch: AtomicU64,
    /// Whether the last re-login attempt failed.
    last_failed: AtomicBool,
    logins: AtomicU64,
    login_lock: tokio::sync::Mutex<()>,
}

impl<T> fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let login = lock(&self.login);
        f.debug_struct("Session")
            .field("policy", &self.policy)
            .field("user", &login.as_ref().map(|l| l.user.as_str()))
            .field("logins", &self.logins.load(Ordering::Relaxed))
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
            | "CloneSession"
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
            epoch: AtomicU64::new(0),
            last_failed: AtomicBool::new(false),
            logins: AtomicU64::new(0),
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
        let r = methods::login(&self.inner, session_manager, user, password, None).await;
        if r.is_ok() {
            self.remember(session_manager, user, password);
            self.logins.fetch_add(1, Ordering::AcqRel);
        }
        self.last_failed.store(r.is_err(), Ordering::Release);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        r
    }

    /// Forgets the credentials and logs out. No re-login can run meanwhile, so none
    /// brings the session back afterwards.
    pub async fn logout(&self, session_manager: &ManagedObjectReference) -> Result<(), Error> {
        let _g = self.login_lock.lock().await;
        self.forget();
        let r = methods::logout(&self.inner, session_manager).await;
        self.epoch.fetch_add(1, Ordering::AcqRel);
        r
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
        self.logins.load(Ordering::Acquire)
    }

    /// Logs in again unless the session changed since `seen` was read (then: whether
    /// that change was a successful login). `false` when there are no credentials.
    async fn relogin(&self, seen: u64) -> Result<bool, Error> {
        let _g = self.login_lock.lock().await;
        if self.epoch.load(Ordering::Acquire) != seen {
            return Ok(!self.last_failed.load(Ordering::Acquire) && self.has_credentials());
        }
        let Some(login) = lock(&self.login).clone() else {
            return Ok(false);
        };
        let r = methods::login(
            &self.inner,
            &login.session_manager,
            &login.user,
            &login.password.0,
            None,
        )
        .await;
        self.last_failed.store(r.is_err(), Ordering::Release);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        match r {
            Ok(_) => {
                self.logins.fetch_add(1, Ordering::AcqRel);
                tracing::debug!(user = %login.user, "session lost: logged in again");
                Ok(true)
            }
            Err(e) => {
                if e.fault_name() == Some("InvalidLogin") {
                    self.forget();
                    tracing::warn!(
                        user = %login.user,
                        "re-login refused (InvalidLogin): credentials forgotten"
                    );
                }
                Err(e)
            }
        }
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
            let seen = self.epoch.load(Ordering::Acquire);
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

    /// As [`Transport::round_trip`]: a fault answer (HTTP 500, a small body) is read
    /// whole to tell `NotAuthenticated`; any other body is handed on as it arrives.
    fn round_trip_streaming<'a>(
        &'a self,
        request: &'a Request,
        idempotent: bool,
    ) -> BoxFuture<'a, Result<StreamingResponse, Error>> {
        Box::pin(async move {
            let seen = self.epoch.load(Ordering::Acquire);
            let r = self.inner.round_trip_streaming(request, idempotent).await?;
            if r.status != 500
                || !self.policy.allows(idempotent)
                || is_session_call(request.operation)
            {
                return Ok(r);
            }
            let whole = r.read_all().await?;
            if !is_not_authenticated(&whole) || !self.relogin(seen).await? {
                return Ok(StreamingResponse::whole(whole));
            }
            tracing::debug!(operation = request.operation, "replaying after re-login");
            self.inner.round_trip_streaming(request, idempotent).await
        })
    }
}
