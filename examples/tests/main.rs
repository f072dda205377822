//! Integration tests of the example programs, each run as a user runs it, one module per
//! topic.
//!
//! They are compiled into one test binary rather than one per file: each binary links
//! the generated vSphere types, so one per file cost a link and about 130 MB of disk
//! apiece.

mod about;
mod appliance;
mod govc_like;
mod images;
mod no_bin_unit_tests;
mod paced_proxy;
mod tether_sim;
mod vch;
mod vim_bench;
mod vm_inventory;
mod vm_tour;
mod vmx;
