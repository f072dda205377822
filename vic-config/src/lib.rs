//! VIC extraConfig/guestinfo serializer and the Virtual Container Host / containerVM
//! state model.
//!
//! This crate is at its beginning: the serializer described in
//! `spec/extraconfig.md` is tracked as its own piece of work and not yet here.
