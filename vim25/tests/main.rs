//! Integration tests of the `vim25` crate: codec, client, helper layer, simulator runs,
//! one module per topic.
//!
//! They are compiled into one test binary rather than one per file: each binary links
//! the generated vSphere types, so one per file cost a link and about 130 MB of disk
//! apiece.

mod support;

mod api_sim;
mod chaos;
mod codec;
mod fuzz_corpus;
mod helpers_sim;
#[cfg(feature = "serde")]
#[path = "serde.rs"]
mod json_serde;
mod object_sim;
mod roundtrip;
mod simulator;
mod streaming;
mod tls_edges;
mod transport;
mod versions;
