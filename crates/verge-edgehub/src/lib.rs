//! The edge hub: the agent's side of the cloud–edge channel.
//!
//! - [`store`]: the node's durable state in SQLite — what the cloud sent,
//!   the resume point, the upstream report queue.
//! - [`link`]: the connection to the cloud hub — handshake, applying sync
//!   batches (acknowledged only once committed), sending queued reports,
//!   reconnecting with backoff.

pub mod link;
pub mod store;

pub use link::{EdgeHub, HubEndpoint, LinkConfig, LinkState, Reporter};
pub use store::{EdgeStore, ObjectId, StoreError, StoredObject};
