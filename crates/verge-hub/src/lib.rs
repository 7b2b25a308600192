//! The cloud hub: the cloud side of the cloud–edge channel.
//!
//! - [`view`] decides what every edge node must hold and turns API changes
//!   into the protocol's `ObjectChange`s for exactly the nodes they
//!   concern: live, on resume after a disconnect, or as a difference
//!   against the inventory an edge reports.
//! - [`session`] serves one node's connection: handshake, downstream sync
//!   from its queue, upstream reports through [`reports`] (which also
//!   decides what a node may write).
//! - [`lease`] renews the Leases of connected nodes from channel liveness.
//! - [`listener`] binds the WebSocket and QUIC listeners of `verge server`
//!   ([`CloudHub`]).

pub mod lease;
pub mod listener;
pub mod metrics;
pub mod reports;
pub mod session;
pub mod view;

pub use listener::{CloudHub, CloudHubConfig, StartError};
