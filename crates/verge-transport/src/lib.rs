//! Framed, mutually authenticated connections between the cloud hub and edge
//! agents, over WebSocket/TLS ([`WsServer`], [`WsConnector`]) or QUIC
//! ([`QuicServer`], [`QuicConnector`]).
//!
//! Both transports carry the frames of verge-protocol and give the same
//! [`Connection`]: `send`/`recv` of protocol Envelopes with a bounded send
//! queue (explicit backpressure), Ping/Pong heartbeats and dead-link
//! detection on both sides, and the peer's identity from its client
//! certificate. Servers require a client certificate issued by the cluster
//! CA; clients trust only that CA. [`Backoff`] is the reconnect policy edges
//! use. docs/protocol.md describes the whole channel.

mod backoff;
mod config;
mod connection;
mod error;
mod queue;
mod quic;
mod tls;
mod ws;

pub use backoff::Backoff;
pub use config::TransportConfig;
pub use connection::{
    Connection, ConnectionStats, NODE_USER_PREFIX, NODES_GROUP, Peer, Receiver, Sender,
    TransportKind,
};
pub use error::TransportError;
pub use quic::{QuicConnector, QuicServer};
pub use tls::{ClientTls, QUIC_ALPN, ServerTls};
pub use ws::{WS_PATH, WS_SUBPROTOCOL, WsConnector, WsServer};
