//! What each edge node must hold, and the changes to send it.
//!
//! - [`View`]: every node's view (its Node, its pods, what they reference),
//!   kept incrementally; routes each change to the nodes it concerns;
//!   computes resume deltas and inventory differences.
//! - [`NodeQueue`]: a connected node's coalescing, bounded send queue.
//! - [`Hub`]: follows the watch cache (one watch per kind for all nodes)
//!   and feeds the view and the queues of connected nodes ([`Session`]).
//!
//! Extension points: ServiceAccount tokens are minted per pod through
//! TokenRequest by the session layer (the view carries the ServiceAccount
//! each pod names); services/endpoints and devices bound to a node become
//! further [`Kind`]s with their own routing rule in [`View`].

mod change;
mod hub;
mod kind;
mod queue;
mod refs;
mod state;

pub use change::{Change, Op};
pub use hub::{Hub, HubConfig, HubError, Session, Start};
pub use kind::{Kind, object_key, split_key};
pub use queue::{Batch, Next, NodeQueue, QueueConfig, QueueError};
pub use refs::{PodBinding, PodDecodeError, Reference, pod_binding};
pub use state::{Entry, InventoryReason, Key, NodeName, Resume, Sink, View, ViewConfig};

#[cfg(test)]
mod tests;
