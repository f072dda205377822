//! Integration tests of `vim25-core`: the codec, dates, values and secrets, without I/O,
//! one module per topic.
//!
//! They are compiled into one test binary rather than one per file: each binary links
//! the generated vSphere types, so one per file cost a link and about 130 MB of disk
//! apiece.

mod date_time;
mod decoder;
mod fuzz_corpus;
mod no_unit_tests;
mod redaction;
mod service_versions;
mod split;
mod values;
