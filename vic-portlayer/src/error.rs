//! The port layer's error type.

use std::time::Duration;

/// Everything that can go wrong in the port layer.
///
/// The variants are what a caller acts on: [`Error::Conflict`] means "take a fresh
/// handle and redo your edits"; [`Error::NotFound`], [`Error::InUse`],
/// [`Error::Exists`] and [`Error::InvalidInput`] mean the request was wrong and
/// nothing was changed; [`Error::Vim25`] carries the vSphere failure underneath.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another client changed the object first (vSphere `ConcurrentAccess`, a stale
    /// `changeVersion`, or `InvalidState` during a state change). Nothing of this
    /// commit was applied after the point named in `during`: take a fresh handle
    /// and redo the edits.
    #[error("conflict on {what} during {during}: {message}; take a fresh handle and retry")]
    Conflict {
        /// The object (a container ID, a store, a key).
        what: String,
        /// The step that met the conflict (`reconfigure`, `power on`, …).
        during: String,
        /// What the server said.
        message: String,
    },
    /// The named thing does not exist.
    #[error("{kind} {id} not found")]
    NotFound {
        /// What kind of thing (`container`, `image`, `scope`, `session`, …).
        kind: &'static str,
        /// Its ID or name.
        id: String,
    },
    /// The named thing already exists.
    #[error("{kind} {id} already exists")]
    Exists {
        /// What kind of thing.
        kind: &'static str,
        /// Its ID or name.
        id: String,
    },
    /// The thing cannot be removed or changed because something uses it.
    #[error("{kind} {id} is in use by {by}")]
    InUse {
        /// What kind of thing.
        kind: &'static str,
        /// Its ID or name.
        id: String,
        /// What uses it (container IDs, child images).
        by: String,
    },
    /// The caller passed something that cannot work (an address outside a scope, a
    /// malformed ID, a persistent change to a running container).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A wait ran out.
    #[error("timed out after {limit:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The limit.
        limit: Duration,
    },
    /// The container's session failed to start: its `started` key holds this text.
    #[error("container {id}: session {session} failed to start: {message}")]
    StartFailed {
        /// The container.
        id: String,
        /// The session.
        session: String,
        /// The guest's error text.
        message: String,
    },
    /// The VM powered off while the port layer waited for it to start.
    #[error("container {id} powered off before its sessions started")]
    PoweredOff {
        /// The container.
        id: String,
    },
    /// Stored data could not be read (a manifest, a kv file, a scope).
    #[error("corrupt {what}: {message}")]
    Corrupt {
        /// What was read.
        what: String,
        /// Why it does not parse.
        message: String,
    },
    /// The extraConfig serializer failed.
    #[error(transparent)]
    Config(#[from] vic_config::Error),
    /// vSphere (or the connection to it) failed.
    #[error(transparent)]
    Vim25(vim25::Error),
    /// Local I/O (the interaction server's sockets, a content stream).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The port layer is shutting down or a component it needs has stopped.
    #[error("{0} has stopped")]
    Stopped(String),
}

impl Error {
    /// An [`Error::Io`].
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// A [`Error::NotFound`].
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Error::NotFound {
            kind,
            id: id.into(),
        }
    }

    /// Whether this is a conflict the caller resolves by retrying with a fresh handle.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }

    /// Whether this says that something does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// Turns a vSphere error met while doing `during` to `what` into a port-layer
    /// error: `ConcurrentAccess` (always) and `InvalidState` (when `state_change`)
    /// become [`Error::Conflict`]; everything else stays [`Error::Vim25`].
    pub fn from_vim25(e: vim25::Error, what: &str, during: &str, state_change: bool) -> Self {
        let conflict = match e.fault_name() {
            Some("ConcurrentAccess") => true,
            Some("InvalidState" | "InvalidPowerState") => state_change,
            _ => false,
        };
        if conflict {
            Error::Conflict {
                what: what.to_string(),
                during: during.to_string(),
                message: e.to_string(),
            }
        } else {
            Error::Vim25(e)
        }
    }
}

impl From<vim25::Error> for Error {
    fn from(e: vim25::Error) -> Self {
        Error::Vim25(e)
    }
}

/// The port layer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
