//! The runtime every in-process controller of `verge server` is built on.
//!
//! Controllers run inside the server process and talk to the API through the
//! same [`Resources`](verge_apiserver::resources::Resources) the HTTP handlers
//! use, so they need no connection, no serialization to the wire and no
//! informer copy of their own: the shared watch cache *is* their informer.
//!
//! - [`Client`]: typed get/list from the watch cache; create, update, delete
//!   and pod binding through the API's admission and store.
//! - [`Watcher`]: a change stream over one resource type that re-lists by
//!   itself when it falls behind, so consumers only handle three events.
//! - [`Queue`] and [`run`]: a deduplicating work queue with per-key backoff,
//!   and worker loops that reconcile one key at a time, surviving errors
//!   and panics of a single object.
//! - [`Recorder`]: core/v1 Events with kubectl-style aggregation.
//! - [`Index`]: a reverse index from a value (owner uid, node name) to
//!   object keys, the one in-memory structure controllers keep themselves.

mod client;
mod controller;
mod error;
mod events;
mod index;
mod metrics;
mod queue;
mod watcher;

pub use client::{Client, ObjectRef};
pub use controller::{Action, run};
pub use error::Error;
pub use events::{EventType, Recorder};
pub use index::Index;
pub use metrics::ControllerMetrics;
pub use queue::Queue;
pub use watcher::{Event, Watcher};

pub use verge_apiserver::cache::{CachedObject, Filter};
pub use verge_apiserver::resources::{DeleteOptions, Part};

/// Result of controller operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
