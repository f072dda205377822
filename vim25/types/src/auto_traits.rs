//! `Send` and `Sync` for the one type that closes the fault cycle, stated rather than
//! inferred, so that proving them stays cheap for users of the types.
//!
//! Every fault reaches [`LocalizedMethodFault`] through `MethodFault::fault_cause`,
//! and `LocalizedMethodFault` holds an [`AnyMethodFault`], the enum of all 700
//! faults. The compiler proves `Send`/`Sync` of a type structurally, and inside a
//! cycle it cannot keep partial answers; where it cannot use its crate-wide cache
//! either (a future proved `Send` in a function with `where` clauses, as every
//! `#[async_trait]` method has), proving that one future holding a
//! `VirtualMachineConfigSpec` (whose `scheduledHardwareUpgradeInfo.fault` is a
//! `LocalizedMethodFault`) took about 50 s of `cargo check` per function, measured
//! with rustc's self-profile. With the impls below the structural proof stops at
//! `LocalizedMethodFault` and the cycle is gone.
//!
//! Soundness: an auto trait holds for a type when it holds for every field, with
//! cycles resolved coinductively (a type on the cycle may be assumed while its own
//! fields are checked). [`_fields_are_send_sync`] checks exactly that for the fields
//! of `LocalizedMethodFault`: its `AnyMethodFault` is proved structurally through
//! all faults (reaching `LocalizedMethodFault` again only through the cycle), and
//! the other fields are strings. A field type that is not `Send` or `Sync` (an `Rc`,
//! a raw pointer, a non-`Send` trait object) anywhere below makes that function fail
//! to compile, so the impls can never claim more than the structure gives.
#![allow(unsafe_code)]

use crate::generated::all::{AnyMethodFault, LocalizedMethodFault};

// SAFETY: see the module docs; `_fields_are_send_sync` proves every field `Send`.
unsafe impl Send for LocalizedMethodFault {}
// SAFETY: see the module docs; `_fields_are_send_sync` proves every field `Sync`.
unsafe impl Sync for LocalizedMethodFault {}

/// Fails to compile if a field of [`LocalizedMethodFault`] is not `Send + Sync`.
/// The destructuring names every field, so a new field fails it until listed.
#[allow(dead_code)]
fn _fields_are_send_sync(v: LocalizedMethodFault) {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let LocalizedMethodFault {
        fault,
        localized_message,
        type_name_,
    } = v;
    send_sync::<AnyMethodFault>(&fault);
    send_sync(&localized_message);
    send_sync(&type_name_);
}
