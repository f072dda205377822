//! The stand-in's error: what went wrong, naming the VM, file or key involved.

use std::fmt;

/// Why an action of the stand-in failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A vSphere call failed.
    Vim25(vim25::Error),
    /// extraConfig could not be decoded or encoded.
    Config(vic_config::Error),
    /// A port-layer helper refused (an extraConfig value it could not fold).
    PortLayer(vic_portlayer::Error),
    /// Something the server sent is not as expected (a property of the wrong type).
    Unexpected {
        /// The object or property.
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// An image layer could not be read or unpacked.
    Layer {
        /// The layer's file (`[ds] …/images/<id>/<id>.tar`).
        layer: String,
        /// What went wrong.
        message: String,
    },
    /// The command could not be started: the text reported as `started`
    /// (`exec: "/hello": no such file or directory`).
    Start(String),
    /// Local I/O failed.
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    /// An I/O error while doing `what`.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn unexpected(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Unexpected {
            what: what.into(),
            message: message.into(),
        }
    }

    pub(crate) fn layer(layer: impl fmt::Display, message: impl fmt::Display) -> Self {
        Error::Layer {
            layer: layer.to_string(),
            message: message.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Vim25(e) => write!(f, "{e}"),
            Error::Config(e) => write!(f, "extraConfig: {e}"),
            Error::PortLayer(e) => write!(f, "{e}"),
            Error::Unexpected { what, message } => write!(f, "{what}: {message}"),
            Error::Layer { layer, message } => write!(f, "image layer {layer}: {message}"),
            Error::Start(text) => f.write_str(text),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Vim25(e) => Some(e),
            Error::Config(e) => Some(e),
            Error::PortLayer(e) => Some(e),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<vim25::Error> for Error {
    fn from(e: vim25::Error) -> Self {
        Error::Vim25(e)
    }
}

impl From<vic_config::Error> for Error {
    fn from(e: vic_config::Error) -> Self {
        Error::Config(e)
    }
}

impl From<vic_portlayer::Error> for Error {
    fn from(e: vic_portlayer::Error) -> Self {
        Error::PortLayer(e)
    }
}
