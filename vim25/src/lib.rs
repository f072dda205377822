//! Typed vSphere (vim25) SOAP client.
