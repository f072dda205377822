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
    /// The server's certificate was refused, or TLS could not be set up at all.
    #[error("TLS: {message}")]
    Tls {
        /// What happened and what to do, in plain words, with the thumbprints that
        /// takes (`the server's certificate is not trusted (…); to trust this server,
        /// pin its thumbprint: SHA256:AB:CD:…`).
        message: String,
        /// The SHA-256 thumbprint the server presented (colon hex); empty when no
        /// certificate was seen.
        sha256: String,
        /// The SHA-1 thumbprint the server presented (colon hex); empty when no
        /// certificate was seen.
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
    /// The response body is larger than the client accepts (see the client's
    /// `max_response_bytes`); nothing of it was decoded.
    #[error("{operation}: the response is larger than the limit of {limit} bytes (raise it with ClientBuilder::max_response_bytes)")]
    TooLarge {
        /// The operation.
        operation: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The server's answers broke the protocol in a way that decoding alone cannot
    /// see (a paging token handed out twice, say); the call sequence was stopped.
    #[error("{operation}: the server misbehaved: {message}")]
    Protocol {
        /// The operation.
        operation: String,
        /// What was wrong.
        message: String,
    },
    /// A task finished in error; `fault` is its typed fault.
    #[error("task {task} failed: {message}")]
    TaskFailed {
        /// The task.
        task: crate::types::ManagedObjectReference,
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
    /// The caller passed something unusable: an unparsable URL or thumbprint, a
    /// malformed datastore path, an argument the operation cannot take.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The server does not offer what the call needs: a manager it lacks
    /// (`ViewManager`, `SessionManager`), or a value newer than the negotiated API
    /// version.
    #[error("not supported by this server: {0}")]
    NotSupported(String),
    /// Local I/O failed: a file to upload or download, a recording, a debug directory.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The call needs a running async runtime (a keep-alive, a background task) and
    /// was made outside one.
    #[error("{0} needs a running tokio runtime")]
    NoRuntime(String),
    /// Data read from a VM or the server could not be converted into what the caller
    /// asked for (an extraConfig that does not decode as the requested struct, a
    /// JSON document). `source` is the converter's own error.
    #[error("{context}: {source}")]
    Convert {
        /// What was being converted.
        context: String,
        /// The converter's error.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A managed object of one type was asked for as another (an `ObjectContent` of a
    /// `HostSystem` read as `mo::VirtualMachine`).
    #[error("{0}")]
    WrongType(#[from] crate::wrong_type::WrongType),
}

impl Error {
    /// A local I/O error with what was being done (`cannot read /tmp/x.iso`).
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// A conversion error from another crate, with what was being converted.
    pub fn convert(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Convert {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// The typed fault detail, if this is a SOAP fault that carried one.
    ///
    /// ```
    /// # fn check(err: vim25_core::Error) {
    /// use vim25_core::types::AnyMethodFault;
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
