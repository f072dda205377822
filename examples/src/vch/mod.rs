//! The VCH lifecycle of `vch` (being written).
