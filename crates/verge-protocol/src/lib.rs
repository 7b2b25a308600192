//! The Verge cloud–edge channel protocol: its messages, their framing, the
//! protocol versions and the limits both peers enforce. No I/O: the
//! transports (verge-transport) move the frames built and parsed here.
//!
//! The schema is `proto/verge/channel/v1/channel.proto`, compiled into
//! [`pb`]; docs/protocol.md describes the handshake and the rules around it.
//!
//! A frame is an 8-byte header (magic, protocol version, flags, payload
//! length) followed by one protobuf [`pb::Envelope`]. On a byte stream
//! (QUIC) frames follow one another ([`FrameDecoder`]); on WebSocket each
//! binary message is exactly one frame
//! ([`FrameDecoder::decode_message`]). Decoding is
//! total: every input yields a frame or a typed [`FrameError`].

mod envelope;
mod error;
mod frame;
mod limits;
mod validate;
mod version;

/// The generated message types of `verge.channel.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/verge.channel.v1.rs"));
}

pub use envelope::body_name;
pub use error::{FrameError, ValidationError};
pub use frame::{Frame, FrameDecoder, FrameHeader, HEADER_LEN, MAGIC, encode_frame, parse_header};
pub use limits::{
    DEFAULT_DEAD_AFTER, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_MAX_INVENTORY_ENTRIES,
    DEFAULT_MAX_UNACKED_REPORTS, MAX_FRAME_BYTES, MIN_FRAME_BYTES, default_limits,
};
pub use validate::validate;
pub use version::{CURRENT_VERSION, SUPPORTED_VERSIONS, is_supported, negotiate};
