//! Integration tests of `vic-config`: the extraConfig encoding, golden VIC data and the
//! guestinfo transport, one module per topic.
//!
//! They are compiled into one test binary rather than one per file: each binary links
//! the generated vSphere types, so one per file cost a link and about 130 MB of disk
//! apiece.

// The fuzz targets' checks (`fuzz_corpus.rs` runs them on the committed inputs).
#[path = "../fuzz/checks.rs"]
mod checks;
#[cfg(feature = "vim25")]
#[path = "../fuzz/checks_vim25.rs"]
mod checks_vim25;

mod aliases;
mod declarations;
mod defects;
mod fuzz_corpus;
mod golden;
mod guestinfo;
mod io;
mod key_shapes;
mod nil;
mod roundtrip;
mod sealed;
mod values;
