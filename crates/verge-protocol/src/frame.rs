//! The frame: an 8-byte header and one protobuf Envelope.
//!
//! ```text
//! 0      2         3       4                 8
//! +------+---------+-------+-----------------+---------------------+
//! | "VC" | version | flags | payload length  | payload (Envelope)  |
//! |      |  (u8)   | (u8)  | (u32, big end.) |                     |
//! +------+---------+-------+-----------------+---------------------+
//! ```
//!
//! The magic lets a receiver refuse a peer speaking another protocol after
//! two bytes; the length is checked against the receiver's limit before any
//! payload byte is read, so a hostile header cannot make it allocate.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;

use crate::error::FrameError;
use crate::limits::MAX_FRAME_BYTES;
use crate::pb::Envelope;
use crate::validate::validate;
use crate::version::{SUPPORTED_VERSIONS, is_supported};

/// The frame magic, ASCII "VC" (Verge Channel).
pub const MAGIC: [u8; 2] = *b"VC";

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 8;

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The protocol version the payload is encoded in.
    pub version: u8,
    /// Payload bytes following the header.
    pub payload_len: usize,
}

/// Parses and checks a frame header against a frame limit of `max_frame_bytes`
/// (itself capped at [`MAX_FRAME_BYTES`]).
pub fn parse_header(
    header: &[u8; HEADER_LEN],
    max_frame_bytes: usize,
) -> Result<FrameHeader, FrameError> {
    let max = max_frame_bytes.min(MAX_FRAME_BYTES);
    let found = [header[0], header[1]];
    if found != MAGIC {
        return Err(FrameError::BadMagic { found });
    }
    let version = header[2];
    if !is_supported(version) {
        return Err(FrameError::UnsupportedVersion {
            version,
            supported: SUPPORTED_VERSIONS,
        });
    }
    if header[3] != 0 {
        return Err(FrameError::ReservedFlags(header[3]));
    }
    let payload_len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let len = u64::from(payload_len) + HEADER_LEN as u64;
    if len > max as u64 {
        return Err(FrameError::TooLarge { len, max });
    }
    // Cannot fail: bounded by `max` above, which fits in usize.
    let payload_len =
        usize::try_from(payload_len).map_err(|_| FrameError::TooLarge { len, max })?;
    Ok(FrameHeader {
        version,
        payload_len,
    })
}

/// Encodes `envelope` as one frame of protocol `version`. Fails with
/// [`FrameError::TooLarge`] (and encodes nothing) when the frame would exceed
/// `max_frame_bytes`: the sender must split the content (a SyncBatch with
/// `more`, several ReportBatches) instead.
pub fn encode_frame(
    version: u8,
    envelope: &Envelope,
    max_frame_bytes: usize,
) -> Result<Bytes, FrameError> {
    if !is_supported(version) {
        return Err(FrameError::UnsupportedVersion {
            version,
            supported: SUPPORTED_VERSIONS,
        });
    }
    let max = max_frame_bytes.min(MAX_FRAME_BYTES);
    let payload_len = envelope.encoded_len();
    let len = (payload_len as u64).saturating_add(HEADER_LEN as u64);
    if len > max as u64 {
        return Err(FrameError::TooLarge { len, max });
    }
    let payload_len_u32 =
        u32::try_from(payload_len).map_err(|_| FrameError::TooLarge { len, max })?;
    let mut buf = BytesMut::with_capacity(HEADER_LEN + payload_len);
    buf.put_slice(&MAGIC);
    buf.put_u8(version);
    buf.put_u8(0);
    buf.put_u32(payload_len_u32);
    envelope
        .encode(&mut buf)
        .map_err(|e| FrameError::Malformed(format!("encoding: {e}")))?;
    Ok(buf.freeze())
}

/// One received frame, its payload not yet decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The protocol version from the header.
    pub version: u8,
    /// The encoded Envelope.
    pub payload: Bytes,
}

impl Frame {
    /// Bytes this frame occupied on the wire (header included).
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Decodes and validates the Envelope. Byte fields (object bodies) share
    /// the frame's buffer rather than being copied.
    pub fn envelope(&self) -> Result<Envelope, FrameError> {
        let envelope = Envelope::decode(self.payload.clone())
            .map_err(|e| FrameError::Malformed(e.to_string()))?;
        if envelope.body.is_none() {
            return Err(FrameError::UnknownKind);
        }
        validate(&envelope)?;
        Ok(envelope)
    }
}

/// Splits received bytes into frames, enforcing the frame limit and, once
/// set, the negotiated version.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_bytes: usize,
    negotiated: Option<u8>,
}

impl FrameDecoder {
    /// A decoder refusing frames over `max_frame_bytes` (capped at
    /// [`MAX_FRAME_BYTES`]) and accepting every supported version until
    /// [`FrameDecoder::set_version`].
    pub fn new(max_frame_bytes: usize) -> FrameDecoder {
        FrameDecoder {
            max_frame_bytes: max_frame_bytes.min(MAX_FRAME_BYTES),
            negotiated: None,
        }
    }

    /// The frame limit in force.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    /// From now on, accept only frames of `version` (the one chosen in
    /// Welcome).
    pub fn set_version(&mut self, version: u8) {
        self.negotiated = Some(version);
    }

    fn header(&self, bytes: &[u8]) -> Result<Option<FrameHeader>, FrameError> {
        // Check the magic as soon as it is there, so garbage is refused
        // without waiting for a whole header.
        if bytes.len() >= MAGIC.len() && bytes[..MAGIC.len()] != MAGIC {
            return Err(FrameError::BadMagic {
                found: [bytes[0], bytes[1]],
            });
        }
        let Some(header) = bytes.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let header = parse_header(header, self.max_frame_bytes)?;
        if let Some(negotiated) = self.negotiated
            && header.version != negotiated
        {
            return Err(FrameError::VersionMismatch {
                found: header.version,
                negotiated,
            });
        }
        Ok(Some(header))
    }

    /// Takes the next complete frame off the front of a byte-stream buffer
    /// (QUIC). `Ok(None)`: more bytes are needed. After an error the stream
    /// cannot be resynchronised; close the connection.
    ///
    /// The buffer is never grown here: it holds only what actually arrived,
    /// so a peer announcing a large frame and sending it slowly costs only
    /// the bytes it sent.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(header) = self.header(buf)? else {
            return Ok(None);
        };
        if buf.len() < HEADER_LEN + header.payload_len {
            return Ok(None);
        }
        buf.advance(HEADER_LEN);
        let payload = buf.split_to(header.payload_len).freeze();
        Ok(Some(Frame {
            version: header.version,
            payload,
        }))
    }

    /// Parses one message of a message-framed transport (a WebSocket binary
    /// message), which must hold exactly one frame.
    pub fn decode_message(&self, message: Bytes) -> Result<Frame, FrameError> {
        if message.len() > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                len: message.len() as u64,
                max: self.max_frame_bytes,
            });
        }
        let Some(header) = self.header(&message)? else {
            return Err(FrameError::Truncated {
                expected: HEADER_LEN,
                got: message.len(),
            });
        };
        let got = message.len() - HEADER_LEN;
        if got < header.payload_len {
            return Err(FrameError::Truncated {
                expected: header.payload_len,
                got,
            });
        }
        if got > header.payload_len {
            return Err(FrameError::TrailingBytes(got - header.payload_len));
        }
        Ok(Frame {
            version: header.version,
            payload: message.slice(HEADER_LEN..),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CURRENT_VERSION;
    use crate::pb::{self, envelope::Body};

    fn ping(nonce: u64) -> Envelope {
        Envelope::from(pb::Ping {
            nonce,
            sent_at_us: 42,
        })
    }

    #[test]
    fn a_frame_round_trips_in_both_modes() {
        let env = ping(7);
        let bytes = encode_frame(CURRENT_VERSION, &env, MAX_FRAME_BYTES).expect("encode");
        assert_eq!(&bytes[..2], b"VC");
        assert_eq!(bytes[2], CURRENT_VERSION);

        let decoder = FrameDecoder::new(MAX_FRAME_BYTES);
        let frame = decoder.decode_message(bytes.clone()).expect("message");
        assert_eq!(frame.wire_len(), bytes.len());
        assert_eq!(frame.envelope().expect("envelope"), env);

        // Two frames back to back, delivered one byte at a time.
        let mut stream = BytesMut::new();
        let mut out = Vec::new();
        let both = [bytes.clone(), bytes].concat();
        for b in both {
            stream.put_u8(b);
            while let Some(frame) = decoder.decode(&mut stream).expect("stream") {
                out.push(frame.envelope().expect("envelope"));
            }
        }
        assert_eq!(out, vec![env.clone(), env]);
        assert!(stream.is_empty());
    }

    #[test]
    fn an_oversized_header_is_refused_before_the_payload() {
        let decoder = FrameDecoder::new(MAX_FRAME_BYTES);
        let mut header = BytesMut::new();
        header.put_slice(&MAGIC);
        header.put_u8(CURRENT_VERSION);
        header.put_u8(0);
        header.put_u32(u32::MAX);
        let err = decoder.decode(&mut header).expect_err("too large");
        assert!(matches!(err, FrameError::TooLarge { max, .. } if max == MAX_FRAME_BYTES));
        assert_eq!(err.code(), pb::ErrorCode::FrameTooLarge);
        // Exactly at the limit is allowed, one byte more is not.
        let at_limit = (MAX_FRAME_BYTES - HEADER_LEN) as u32;
        let mut h = [0u8; HEADER_LEN];
        h[..2].copy_from_slice(&MAGIC);
        h[2] = CURRENT_VERSION;
        h[4..].copy_from_slice(&at_limit.to_be_bytes());
        assert!(parse_header(&h, MAX_FRAME_BYTES).is_ok());
        h[4..].copy_from_slice(&(at_limit + 1).to_be_bytes());
        assert!(parse_header(&h, MAX_FRAME_BYTES).is_err());
        // A lower receiver limit applies as well.
        assert!(matches!(
            parse_header(&h, 1024),
            Err(FrameError::TooLarge { max: 1024, .. })
        ));
    }

    #[test]
    fn an_oversized_envelope_is_not_encoded() {
        let big = Envelope::from(pb::StreamData {
            stream_id: 1,
            channel: 1,
            data: Bytes::from(vec![0u8; 4096]),
        });
        let err = encode_frame(CURRENT_VERSION, &big, 1024).expect_err("too large");
        assert!(matches!(err, FrameError::TooLarge { max: 1024, .. }));
    }

    #[test]
    fn garbage_is_refused_with_a_typed_error() {
        let decoder = FrameDecoder::new(MAX_FRAME_BYTES);
        let mut http = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        assert!(matches!(
            decoder.decode(&mut http),
            Err(FrameError::BadMagic { found }) if &found == b"GE"
        ));
        // Two bytes are enough to tell.
        assert!(decoder.decode(&mut BytesMut::from(&b"XX"[..])).is_err());
        assert!(matches!(
            decoder.decode_message(Bytes::from_static(b"VC")),
            Err(FrameError::Truncated { .. })
        ));

        let mut frame = encode_frame(CURRENT_VERSION, &ping(1), MAX_FRAME_BYTES)
            .expect("encode")
            .to_vec();
        frame[3] = 0x80;
        assert_eq!(
            decoder.decode_message(Bytes::from(frame.clone())),
            Err(FrameError::ReservedFlags(0x80))
        );
        frame[3] = 0;
        frame[2] = 9;
        assert!(matches!(
            decoder.decode_message(Bytes::from(frame.clone())),
            Err(FrameError::UnsupportedVersion { version: 9, .. })
        ));
        frame[2] = CURRENT_VERSION;
        frame.push(0);
        assert_eq!(
            decoder.decode_message(Bytes::from(frame.clone())),
            Err(FrameError::TrailingBytes(1))
        );
        frame.pop();
        frame.pop();
        assert!(matches!(
            decoder.decode_message(Bytes::from(frame)),
            Err(FrameError::Truncated { .. })
        ));
    }

    #[test]
    fn a_payload_that_is_not_an_envelope_is_malformed() {
        let decoder = FrameDecoder::new(MAX_FRAME_BYTES);
        let mut bytes = BytesMut::new();
        bytes.put_slice(&MAGIC);
        bytes.put_u8(CURRENT_VERSION);
        bytes.put_u8(0);
        bytes.put_u32(3);
        bytes.put_slice(&[0xff, 0xff, 0xff]);
        let frame = decoder
            .decode_message(bytes.freeze())
            .expect("framing is fine");
        let err = frame.envelope().expect_err("not protobuf");
        assert!(matches!(err, FrameError::Malformed(_)));
        assert_eq!(err.code(), pb::ErrorCode::Malformed);

        // A valid but empty Envelope carries no message kind.
        let empty = encode_frame(CURRENT_VERSION, &Envelope { body: None }, MAX_FRAME_BYTES)
            .expect("encode");
        let frame = decoder.decode_message(empty).expect("framing");
        assert_eq!(frame.envelope(), Err(FrameError::UnknownKind));
    }

    #[test]
    fn after_negotiation_other_versions_are_refused() {
        let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES);
        decoder.set_version(CURRENT_VERSION);
        let bytes = encode_frame(CURRENT_VERSION, &ping(1), MAX_FRAME_BYTES).expect("encode");
        assert!(decoder.decode_message(bytes).is_ok());
        decoder.set_version(CURRENT_VERSION + 1);
        let bytes = encode_frame(CURRENT_VERSION, &ping(1), MAX_FRAME_BYTES).expect("encode");
        assert!(matches!(
            decoder.decode_message(bytes),
            Err(FrameError::VersionMismatch { .. })
        ));
    }

    proptest::proptest! {
        // The fuzz target's property, run by every `cargo test`: any bytes,
        // in either mode, give frames or a typed error, never a panic, and
        // never a frame over the limit.
        #[test]
        fn decoding_is_total(
            mut bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            header in proptest::bool::ANY,
            step in 1usize..64,
        ) {
            if header {
                let len = (bytes.len() as u32).to_be_bytes();
                let mut framed = vec![MAGIC[0], MAGIC[1], CURRENT_VERSION, 0];
                framed.extend_from_slice(&len);
                framed.append(&mut bytes);
                bytes = framed;
            }
            let decoder = FrameDecoder::new(256);
            if let Ok(frame) = decoder.decode_message(Bytes::from(bytes.clone())) {
                proptest::prop_assert!(frame.wire_len() <= 256);
                let _ = frame.envelope();
            }
            let mut buf = BytesMut::new();
            'feed: for piece in bytes.chunks(step) {
                buf.extend_from_slice(piece);
                loop {
                    match decoder.decode(&mut buf) {
                        Ok(Some(frame)) => {
                            proptest::prop_assert!(frame.wire_len() <= 256);
                            let _ = frame.envelope();
                        }
                        Ok(None) => break,
                        Err(_) => break 'feed,
                    }
                }
            }
        }
    }

    #[test]
    fn heartbeat_frames_stay_small() {
        // docs/protocol.md budgets idle traffic on these sizes: a Ping sent
        // a week into a connection, a Pong carrying a current wall clock.
        let week_us = 7 * 86_400 * 1_000_000;
        let ping = Envelope::from(pb::Ping {
            nonce: 100_000,
            sent_at_us: week_us,
        });
        let pong = Envelope::from(pb::Pong {
            nonce: 100_000,
            ping_sent_at_us: week_us,
            now_unix_ms: 1_800_000_000_000,
        });
        let ping = encode_frame(CURRENT_VERSION, &ping, MAX_FRAME_BYTES).expect("ping");
        let pong = encode_frame(CURRENT_VERSION, &pong, MAX_FRAME_BYTES).expect("pong");
        assert!(ping.len() <= 22, "Ping frame is {} bytes", ping.len());
        assert!(pong.len() <= 29, "Pong frame is {} bytes", pong.len());
    }

    #[test]
    fn object_bodies_share_the_frame_buffer() {
        let body = Bytes::from_static(br#"{"kind":"Pod"}"#);
        let env = Envelope::from(pb::SyncBatch {
            revision: 3,
            more: false,
            changes: vec![pb::ObjectChange {
                key: Some(pb::ObjectKey {
                    kind: Some(pb::ResourceKind {
                        group: String::new(),
                        version: "v1".into(),
                        resource: "pods".into(),
                    }),
                    namespace: "default".into(),
                    name: "web".into(),
                    uid: "u1".into(),
                }),
                resource_version: "12".into(),
                change: Some(pb::object_change::Change::Upsert(pb::Upsert {
                    object: body.clone(),
                })),
            }],
        });
        let bytes = encode_frame(CURRENT_VERSION, &env, MAX_FRAME_BYTES).expect("encode");
        let frame = FrameDecoder::new(MAX_FRAME_BYTES)
            .decode_message(bytes)
            .expect("frame");
        let Some(Body::SyncBatch(batch)) = frame.envelope().expect("envelope").body else {
            panic!("not a batch");
        };
        let Some(pb::object_change::Change::Upsert(up)) = &batch.changes[0].change else {
            panic!("not an upsert");
        };
        assert_eq!(up.object, body);
        let range = frame.payload.as_ptr_range();
        assert!(range.contains(&up.object.as_ptr()));
    }
}
