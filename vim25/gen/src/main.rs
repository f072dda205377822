//! vim25 code generator.
fn main() {}
