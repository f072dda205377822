//! Exec on both backends.
mod common;
