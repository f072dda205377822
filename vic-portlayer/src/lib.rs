//! Port-layer abstractions (storage, network, exec with handle/commit, interaction,
//! events) with a vSphere backend on `vim25` and an in-memory backend.
//!
//! This crate is at its beginning: the areas of `spec/portlayer.md` are tracked as
//! their own pieces of work and not yet here.
