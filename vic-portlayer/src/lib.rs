//! Port-layer abstractions for containers on vSphere: exec with handle/commit,
//! storage, network, interaction, events and kv, with a vSphere backend on `vim25`
//! and an in-memory backend.

pub mod backend;
mod error;
pub mod events;
pub mod exec;
mod id;
pub mod interaction;
pub mod kv;
pub mod memory;
pub mod network;
pub mod storage;
pub mod vsphere;

pub use error::{Error, Result};
pub use id::{is_safe_name, random_hex, ContainerId};
