//! Per-connection settings shared by both transports.

use std::time::Duration;

use verge_protocol::{DEFAULT_DEAD_AFTER, DEFAULT_HEARTBEAT_INTERVAL, MAX_FRAME_BYTES};

/// How connections behave. The defaults suit the cloud hub; an edge takes
/// the heartbeat values the cloud announces in Welcome
/// ([`crate::Connection::set_heartbeat`]).
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Send a Ping after this long without receiving anything.
    pub heartbeat_interval: Duration,
    /// Declare the link dead after this long without receiving anything.
    pub dead_after: Duration,
    /// The largest frame accepted or sent (capped at 32 MiB).
    pub max_frame_bytes: usize,
    /// Frames queued for sending before `send` waits (and `try_send` fails).
    pub send_queue: usize,
    /// Received messages buffered before the connection stops reading from
    /// the network (which then pushes back on the peer).
    pub recv_queue: usize,
    /// Longest a TCP+TLS+WebSocket or QUIC handshake may take.
    pub handshake_timeout: Duration,
    /// Server side: handshakes in progress at once. More waiting clients
    /// stay in the kernel's accept queue (WebSocket) or are refused to retry
    /// (QUIC), so a reconnect storm cannot exhaust the server.
    pub max_pending_handshakes: usize,
}

impl Default for TransportConfig {
    fn default() -> TransportConfig {
        TransportConfig {
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            dead_after: DEFAULT_DEAD_AFTER,
            max_frame_bytes: MAX_FRAME_BYTES,
            send_queue: 64,
            recv_queue: 16,
            handshake_timeout: Duration::from_secs(10),
            max_pending_handshakes: 512,
        }
    }
}

impl TransportConfig {
    pub(crate) fn validated(&self) -> Result<TransportConfig, crate::TransportError> {
        let bad = |what: &str| Err(crate::TransportError::Config(what.to_string()));
        if self.heartbeat_interval.is_zero() {
            return bad("heartbeat_interval must be positive");
        }
        if self.dead_after <= self.heartbeat_interval {
            return bad("dead_after must be longer than heartbeat_interval");
        }
        if self.send_queue == 0 || self.recv_queue == 0 || self.max_pending_handshakes == 0 {
            return bad("send_queue, recv_queue and max_pending_handshakes must be positive");
        }
        if self.max_frame_bytes < verge_protocol::HEADER_LEN {
            return bad("max_frame_bytes is smaller than a frame header");
        }
        let mut config = self.clone();
        config.max_frame_bytes = config.max_frame_bytes.min(MAX_FRAME_BYTES);
        Ok(config)
    }
}
