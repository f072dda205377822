//! Layers around a [`Transport`](crate::soap::Transport): each one is a transport that wraps another.
//!
//! | layer | what it adds |
//! |---|---|
//! | [`WireLog`] | a record of every exchange, secrets masked (tracing target `vim25::wire` at trace level, or a callback) |
//! | [`Retry`] | resends calls that are safe to repeat after network errors, timeouts and HTTP 502/503/504, with exponential backoff and jitter |
//! | [`Session`] | remembers the login and, on `NotAuthenticated`, logs in again once and replays the call (per [`Relogin`]) |
//! | [`KeepAlive`] | calls `CurrentTime` whenever the session has been idle for an interval, until it is dropped |
//!
//! [`ClientBuilder::connect`](crate::ClientBuilder::connect) stacks them, from the
//! caller down, as `KeepAlive` → `Session` → `Retry` → `WireLog` →
//! [`HttpTransport`](crate::client::HttpTransport). They are public so that other
//! stacks can be built: the same layers over a [`Replay`](crate::replay::Replay) in a
//! unit test, a `WireLog` that writes to a file, a `Retry` with another policy, or a
//! layer of your own between them (any `Transport` fits).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use vim25::replay::{Exchange, Replay};
//! use vim25::transport::{Relogin, Retry, RetryPolicy, Session, WireLog};
//!
//! let recorded = Replay::new(vec![Exchange::ok(
//!     "CurrentTime",
//!     r#"<Envelope><Body><CurrentTimeResponse xmlns="urn:vim25">
//!        <returnval>2026-11-23T12:00:00Z</returnval></CurrentTimeResponse></Body></Envelope>"#,
//! )]);
//! let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
//! let log = seen.clone();
//! let stack = Session::new(
//!     Retry::new(
//!         WireLog::with_sink(recorded, move |r| log.lock().unwrap().push(r.operation.to_string())),
//!         RetryPolicy::new(3, Duration::from_millis(100)),
//!     ),
//!     Relogin::SafeCalls,
//! );
//! let si = vim25::types::ManagedObjectReference::new("ServiceInstance", "ServiceInstance");
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! # rt.block_on(async {
//! let now = vim25::methods::current_time(&stack, &si).await.unwrap();
//! assert_eq!(now.as_str(), "2026-11-23T12:00:00Z");
//! # });
//! assert_eq!(*seen.lock().unwrap(), ["CurrentTime"]);
//! ```

mod keep_alive;
mod retry;
mod session;
mod wire;

pub use keep_alive::KeepAlive;
pub use retry::{Retry, RetryPolicy};
pub use session::{Relogin, Session};
pub use wire::{mask_secrets, WireLog, WireRecord};
