//! Shared pieces of the example programs (command-line connection options).
