//! The one error type of this crate. It is `Clone` because the reason a
//! connection ended is kept and handed to every later caller.

use std::time::Duration;

use verge_protocol::FrameError;
use verge_protocol::pb::ErrorCode;

/// Why a connection could not be made, or why it ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Invalid local configuration (certificates, addresses, limits).
    #[error("transport configuration: {0}")]
    Config(String),
    /// A socket operation failed.
    #[error("{context}: {message}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The operating system's or library's error.
        message: String,
    },
    /// The TCP/TLS/WebSocket or QUIC handshake failed (refused client
    /// certificate, unknown CA, timeout, wrong path or protocol).
    #[error("handshake with {peer} failed: {reason}")]
    Handshake {
        /// The remote address.
        peer: String,
        /// What went wrong.
        reason: String,
    },
    /// A frame received from the peer (or one about to be sent) is not
    /// acceptable; the connection is closed with the matching Goodbye code.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The peer closed the connection with a Goodbye.
    #[error("the peer closed the connection ({code:?}): {message}")]
    PeerClosed {
        /// The peer's code.
        code: ErrorCode,
        /// The peer's explanation.
        message: String,
        /// How long the peer asked us to wait before reconnecting.
        retry_after: Duration,
    },
    /// Nothing was received for the dead-link timeout.
    #[error("no frame received for {silent_for:?}: link declared dead")]
    DeadLink {
        /// The timeout that expired.
        silent_for: Duration,
    },
    /// The connection broke without a Goodbye (reset, EOF, QUIC loss).
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// This side closed the connection.
    #[error("the connection was closed locally")]
    Closed,
    /// `try_send` found the send queue full; nothing was queued.
    #[error("the send queue is full")]
    Full,
}

impl TransportError {
    pub(crate) fn io(context: &'static str, error: impl std::fmt::Display) -> TransportError {
        TransportError::Io {
            context,
            message: error.to_string(),
        }
    }

    /// Whether reconnecting later can help. Configuration errors and a peer
    /// refusing our identity or version cannot be fixed by retrying.
    pub fn is_retryable(&self) -> bool {
        match self {
            TransportError::Config(_) => false,
            TransportError::PeerClosed { code, .. } => !matches!(
                code,
                ErrorCode::Unauthorized | ErrorCode::VersionUnsupported
            ),
            _ => true,
        }
    }
}
