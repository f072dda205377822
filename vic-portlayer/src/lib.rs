//! The port layer of vSphere Integrated Containers, in Rust: container operations
//! turned into vSphere operations, for a Docker-API front end, the `vch` programs,
//! or your own orchestrator.
//!
//! A container is a VM (the containerVM) named by its 64-hex ID; its configuration
//! and runtime state live in the VM's extraConfig, encoded by `vic-config`. The
//! areas:
//!
//! | module | what it does |
//! |---|---|
//! | [`exec`] | handles (a snapshot of a container plus pending edits) and **commit**, which applies them with optimistic concurrency on `changeVersion`; sessions; list, inspect, remove, wait |
//! | [`storage`] | image stores and images (disk chains) and volume stores and volumes on datastores; joining them to a handle |
//! | [`network`] | bridge and external scopes, IPAM, endpoints, aliases |
//! | [`interaction`] | the containerVM's network serial port and the server that accepts it: stdin/stdout/stderr, resize, logs; the byte protocol |
//! | [`events`] | container events from the port layer and from vSphere's event history, as streams |
//! | [`kv`] | named key/value stores persisted as datastore files |
//!
//! Every area is written once, against the [`backend::Backend`] trait (the vSphere
//! primitives it needs), and runs on either backend:
//! [`vsphere::VsphereBackend`] on a `vim25` client, or [`memory::MemoryBackend`],
//! which behaves the same way in memory (change versions and conflicts included),
//! so that code built on the port layer is unit-tested without a server.
//!
//! ```
//! use std::sync::Arc;
//! use vic_config::model::{ExecutorConfig, SessionConfig};
//! use vic_portlayer::exec::{ContainerState, Exec, ExecSettings, TargetState};
//! use vic_portlayer::{events::EventHub, memory::MemoryBackend, ContainerId};
//! use vim25::object::DatastorePath;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> vic_portlayer::Result<()> {
//! // A backend whose simulated guest reports every session started at power-on.
//! let backend = Arc::new(MemoryBackend::new("datastore1", "VCH001").with_auto_start());
//! let iso = DatastorePath::new("datastore1", "VCH001/bootstrap.iso");
//! let exec = Exec::new(backend, ExecSettings::new("datastore1", iso), EventHub::default());
//!
//! let id = ContainerId::random();
//! let mut config = ExecutorConfig::default();
//! let mut session = SessionConfig::default();
//! session.cmd.path = Some("/hello".into());
//! config.sessions.insert(id.to_string(), session);
//!
//! let mut handle = exec.create_handle(id.clone(), config)?; // no I/O yet
//! handle.set_target(TargetState::Running);
//! let info = exec.commit(handle).await?;                   // create, power on, wait
//! assert_eq!(info.state, ContainerState::Running);
//! # Ok(()) }
//! ```
//!
//! Errors are [`Error`]: [`Error::Conflict`] means another client changed the
//! container since the handle was taken — take a fresh handle and redo the edits.

pub mod backend;
mod error;
pub mod events;
pub mod exec;
mod id;
pub mod interaction;
pub mod kv;
pub mod memory;
pub mod network;
mod port_layer;
pub mod storage;
pub mod vsphere;

pub use error::{Error, Result};
pub use id::{is_safe_name, random_hex, ContainerId};
pub use port_layer::{ContainerSpec, PortLayer, PortLayerConfig, CONFLICT_RETRIES, PORT_LAYER_KV};
