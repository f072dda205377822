//! The one error type of the crate.

use crate::soap::SoapFault;
use crate::types::AnyMethodFault;
use crate::xml::DecodeError;

/// Everything a vim25 call can fail with. Messages name the operation; none carries a
/// password, session cookie or request body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a SOAP fault; `fault.detail` is the typed `MethodFault`.
    #[error("{operation}: {fault}")]
    Fault {
        /// The operation that failed.
        operation: String,
        /// The fault.
        fault: Box<SoapFault>,
    },
    /// The response was not what the schema describes.
    #[error("{operation}: cannot decode response: {source}")]
    Decode {
        /// The operation whose response was bad.
        operation: String,
        /// Where and what.
        source: DecodeError,
    },
    /// An HTTP status other than 200 without a SOAP fault.
    #[error("{operation}: HTTP {status}: {message}")]
    Http {
        /// The operation.
        operation: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        message: String,
    },
    /// The server's certificate was refused.
    #[error("TLS: {message} (server certificate SHA-256 {sha256}, SHA-1 {sha1})")]
    Tls {
        /// Why.
        message: String,
        /// The SHA-256 thumbprint the server presented (colon hex).
        sha256: String,
        /// The SHA-1 thumbprint the server presented (colon hex).
        sha1: String,
    },
    /// The call did not finish within its timeout.
    #[error("{operation}: timed out")]
    Timeout {
        /// The operation.
        operation: String,
    },
    /// Connecting, sending or receiving failed.
    #[error("{operation}: network error: {message}")]
    Network {
        /// The operation.
        operation: String,
        /// What the network layer said.
        message: String,
    },
    /// A task finished in error; `fault` is its typed fault.
    #[error("task {task} failed: {message}")]
    TaskFailed {
        /// The task.
        task: crate::xml::ManagedObjectReference,
        /// The fault's localized message (or its type name).
        message: String,
        /// The typed fault, when the task reported one.
        fault: Option<Box<AnyMethodFault>>,
    },
    /// A lookup found nothing (an inventory path, a name).
    #[error("{0} not found")]
    NotFound(String),
    /// A lookup that must find one object found several.
    #[error("{what} matches {count} objects")]
    MultipleFound {
        /// What was looked up.
        what: String,
        /// How many matched.
        count: usize,
    },
    /// Bad input from the caller (an unparsable URL, a value the negotiated API
    /// version does not know, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

impl Error {
    /// The typed fault detail, if this is a SOAP fault that carried one.
    ///
    /// ```
    /// # fn check(err: vim25::Error) {
    /// use vim25::types::AnyMethodFault;
    /// if let Some(AnyMethodFault::InvalidLogin(_)) = err.fault() {
    ///     eprintln!("wrong user name or password");
    /// }
    /// # }
    /// ```
    pub fn fault(&self) -> Option<&AnyMethodFault> {
        match self {
            Error::Fault { fault, .. } => fault.detail.as_ref(),
            Error::TaskFailed { fault, .. } => fault.as_deref(),
            _ => None,
        }
    }

    /// The fault's wire type name (`NotAuthenticated`), if this is a typed fault.
    pub fn fault_name(&self) -> Option<&str> {
        self.fault().map(|f| f.type_name())
    }
}
