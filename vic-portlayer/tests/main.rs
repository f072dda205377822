//! Integration tests of `vic-portlayer`: both backends of every port-layer service, one
//! module per topic.
//!
//! They are compiled into one test binary rather than one per file: each binary links
//! the generated vSphere types, so one per file cost a link and about 130 MB of disk
//! apiece.

// `macro_use`: its `both_backends!` is used by the modules below.
#[macro_use]
mod common;

mod chaos;
mod conflict_proxy;
mod events;
mod exec;
mod interaction;
mod kv;
mod memory_backend;
mod network;
mod port_layer;
mod storage;
mod vsphere_backend;
