//! Typed errors of frame decoding and message validation. Each maps to the
//! [`pb::ErrorCode`] a receiver puts in its Goodbye before closing.

use crate::pb::ErrorCode;

/// Why bytes received from a peer are not an acceptable frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The first two bytes are not the channel's magic: the peer speaks
    /// something else (an HTTP client, a scanner) or the stream is corrupt.
    #[error("not a Verge channel frame (magic {found:02x?}, expected \"VC\")")]
    BadMagic {
        /// The two bytes found.
        found: [u8; 2],
    },
    /// The header names a protocol version this build does not speak.
    #[error("unsupported protocol version {version} (this build speaks {supported:?})")]
    UnsupportedVersion {
        /// The version in the header.
        version: u8,
        /// The versions this build speaks.
        supported: &'static [u8],
    },
    /// A frame whose version differs from the one negotiated on the connection.
    #[error(
        "frame of protocol version {found} on a connection that negotiated version {negotiated}"
    )]
    VersionMismatch {
        /// The version in the header.
        found: u8,
        /// The version chosen in Welcome.
        negotiated: u8,
    },
    /// Flag bits this version does not define are set.
    #[error("reserved header flags {0:#04x} are set")]
    ReservedFlags(u8),
    /// The header announces more than the receiver's frame limit. Refused
    /// before the payload is read or any buffer is sized for it.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced frame size, header included.
        len: u64,
        /// The receiver's limit.
        max: usize,
    },
    /// A message-framed transport delivered fewer bytes than the header says.
    #[error("truncated frame: the header announces {expected} payload bytes, {got} arrived")]
    Truncated {
        /// Payload bytes announced.
        expected: usize,
        /// Payload bytes present.
        got: usize,
    },
    /// A message-framed transport delivered bytes after the frame.
    #[error("{0} unexpected bytes after the frame")]
    TrailingBytes(usize),
    /// The payload is not a valid protobuf Envelope.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The Envelope carries no message kind this build knows.
    #[error("message of an unknown kind (no known Envelope body set)")]
    UnknownKind,
    /// The message decoded but breaks the schema's rules.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

impl FrameError {
    /// The code to close the connection with.
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::UnsupportedVersion { .. } => ErrorCode::VersionUnsupported,
            FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
            FrameError::VersionMismatch { .. } | FrameError::Invalid(_) => {
                ErrorCode::ProtocolViolation
            }
            FrameError::BadMagic { .. }
            | FrameError::ReservedFlags(_)
            | FrameError::Truncated { .. }
            | FrameError::TrailingBytes(_)
            | FrameError::Malformed(_)
            | FrameError::UnknownKind => ErrorCode::Malformed,
        }
    }
}

/// A decoded message that breaks the rules of the schema (a missing
/// required field, an out-of-range value, an over-long name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {message}: {field} {problem}")]
pub struct ValidationError {
    /// The message kind, e.g. "SyncBatch".
    pub message: &'static str,
    /// The field path, e.g. "changes[3].key.name".
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ValidationError {
    pub(crate) fn new(
        message: &'static str,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> ValidationError {
        ValidationError {
            message,
            field: field.into(),
            problem: problem.into(),
        }
    }
}
