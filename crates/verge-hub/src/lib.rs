//! The cloud hub: the cloud side of the cloud–edge channel.
//!
//! [`view`] decides what every edge node must hold and turns API changes
//! into the protocol's `ObjectChange`s for exactly the nodes they concern:
//! live, on resume after a disconnect, or as a difference against the
//! inventory an edge reports. The listener and sessions that carry those
//! changes over verge-transport are built on it.

pub mod view;
