//! The part of RFC 6455 framing the channel uses: binary messages, possibly
//! fragmented, and the Close, Ping and Pong control frames. No extensions
//! are negotiated, so the reserved bits must be clear.

use bytes::{Buf, Bytes, BytesMut};
use verge_protocol::FrameError;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
pub(super) const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
pub(super) const OP_PONG: u8 = 0xA;

/// Close status 1000, normal closure.
pub(super) const CLOSE_NORMAL: [u8; 2] = 1000u16.to_be_bytes();

/// The end of the connection this side plays. Frames from a client are
/// masked and frames from a server are not (RFC 6455 section 5.1); a frame
/// breaking that rule closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Server,
    Client,
}

/// Appends one whole frame (FIN set) carrying `payload` to `out`, masked
/// when `role` is the client.
pub(super) fn encode(out: &mut Vec<u8>, role: Role, opcode: u8, payload: &[u8]) {
    encode_fragment(out, role, opcode, true, payload);
}

/// Appends a binary message's frame header for `len` payload bytes; the
/// caller appends the payload, masked with the returned key when there is
/// one (see [`mask`]).
pub(super) fn encode_binary_header(out: &mut Vec<u8>, role: Role, len: usize) -> Option<[u8; 4]> {
    header(out, role, OP_BINARY, true, len)
}

fn encode_fragment(out: &mut Vec<u8>, role: Role, opcode: u8, fin: bool, payload: &[u8]) {
    let key = header(out, role, opcode, fin, payload.len());
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = key {
        mask(&mut out[start..], key, 0);
    }
}

fn header(out: &mut Vec<u8>, role: Role, opcode: u8, fin: bool, len: usize) -> Option<[u8; 4]> {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let mask_bit = if role == Role::Client { 0x80 } else { 0 };
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    (role == Role::Client).then(|| {
        let key: [u8; 4] = rand::random();
        out.extend_from_slice(&key);
        key
    })
}

/// XORs `data` with the masking key, `offset` bytes into the payload.
pub(super) fn mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= key[(offset + i) % 4];
    }
}

/// What the peer sent.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Event {
    /// A whole binary message.
    Message(Bytes),
    /// A Ping to be answered with a Pong carrying the same payload.
    Ping(Bytes),
    /// The peer is closing the WebSocket.
    Close,
}

/// Reassembles messages from frames, refusing anything outside the subset
/// above and any message over the size limit, from its header alone.
pub(super) struct Decoder {
    role: Role,
    max_message: usize,
    /// The fragments so far of a message still arriving.
    partial: Option<BytesMut>,
}

impl Decoder {
    pub(super) fn new(role: Role, max_message: usize) -> Decoder {
        Decoder {
            role,
            max_message,
            partial: None,
        }
    }

    /// The next event from the front of `buf`, consuming the frames it
    /// used; `Ok(None)` when `buf` holds no whole frame yet.
    pub(super) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, FrameError> {
        loop {
            let Some(head) = self.parse_header(buf)? else {
                return Ok(None);
            };
            if buf.len() < head.header_len + head.len {
                return Ok(None);
            }
            buf.advance(head.header_len);
            let mut payload = buf.split_to(head.len);
            if let Some(key) = head.key {
                mask(&mut payload, key, 0);
            }
            match head.opcode {
                OP_CLOSE => return Ok(Some(Event::Close)),
                OP_PING => return Ok(Some(Event::Ping(payload.freeze()))),
                OP_PONG => continue,
                _ => {}
            }
            let whole = match (self.partial.take(), head.fin) {
                (None, true) => payload,
                (None, false) => {
                    self.partial = Some(payload);
                    continue;
                }
                (Some(mut partial), fin) => {
                    partial.extend_from_slice(&payload);
                    if !fin {
                        self.partial = Some(partial);
                        continue;
                    }
                    partial
                }
            };
            return Ok(Some(Event::Message(whole.freeze())));
        }
    }

    fn parse_header(&self, buf: &[u8]) -> Result<Option<Head>, FrameError> {
        let malformed = |what: &str| Err(FrameError::Malformed(format!("WebSocket: {what}")));
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0F;
        if b0 & 0x70 != 0 {
            return malformed("reserved bits set (no extension was negotiated)");
        }
        let masked = b1 & 0x80 != 0;
        match (self.role, masked) {
            (Role::Server, false) => return malformed("an unmasked frame from a client"),
            (Role::Client, true) => return malformed("a masked frame from a server"),
            _ => {}
        }
        let (len, mut header_len) = match b1 & 0x7F {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(b) => (u64::from_be_bytes(b), 10),
                None => return Ok(None),
            },
            len => (u64::from(len), 2),
        };
        match opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin || len > 125 {
                    return malformed("a fragmented or oversized control frame");
                }
            }
            OP_TEXT => return malformed("a text message (frames are binary)"),
            OP_BINARY if self.partial.is_some() => {
                return malformed("a new message before the previous one ended");
            }
            OP_CONTINUATION if self.partial.is_none() => {
                return malformed("a continuation frame outside a message");
            }
            OP_BINARY | OP_CONTINUATION => {
                let so_far = self.partial.as_ref().map_or(0, |p| p.len() as u64);
                let total = so_far.saturating_add(len);
                if total > self.max_message as u64 {
                    return Err(FrameError::TooLarge {
                        len: total,
                        max: self.max_message,
                    });
                }
            }
            other => return malformed(&format!("reserved opcode {other:#x}")),
        }
        let key = if masked {
            let Some(key) = buf.get(header_len..header_len + 4) else {
                return Ok(None);
            };
            header_len += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        Ok(Some(Head {
            fin,
            opcode,
            // Within max_message or 125, so it fits.
            len: usize::try_from(len).unwrap_or(usize::MAX),
            header_len,
            key,
        }))
    }
}

struct Head {
    fin: bool,
    opcode: u8,
    len: usize,
    header_len: usize,
    key: Option<[u8; 4]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(role: Role, bytes: &[u8]) -> Result<Vec<Event>, FrameError> {
        let mut decoder = Decoder::new(role, 1 << 20);
        let mut buf = BytesMut::from(bytes);
        let mut events = Vec::new();
        while let Some(event) = decoder.decode(&mut buf)? {
            events.push(event);
        }
        Ok(events)
    }

    #[test]
    fn messages_of_every_length_class_round_trip_in_both_directions() {
        for len in [0, 1, 125, 126, 65_535, 65_536, 200_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            for (from, to) in [(Role::Client, Role::Server), (Role::Server, Role::Client)] {
                let mut wire = Vec::new();
                let key = encode_binary_header(&mut wire, from, len);
                let start = wire.len();
                wire.extend_from_slice(&payload);
                if let Some(key) = key {
                    mask(&mut wire[start..], key, 0);
                }
                if from == Role::Client && len > 8 {
                    assert_ne!(&wire[start..], &payload[..], "the payload is masked");
                }
                let events = decode_all(to, &wire).expect("decodes");
                assert_eq!(events, vec![Event::Message(Bytes::from(payload.clone()))]);
            }
        }
    }

    #[test]
    fn fragments_are_reassembled_around_interleaved_control_frames() {
        let mut wire = Vec::new();
        encode_fragment(&mut wire, Role::Client, OP_BINARY, false, b"hel");
        encode(&mut wire, Role::Client, OP_PING, b"p");
        encode_fragment(&mut wire, Role::Client, OP_CONTINUATION, false, b"lo ");
        encode(&mut wire, Role::Client, OP_PONG, b"");
        encode_fragment(&mut wire, Role::Client, OP_CONTINUATION, true, b"world");
        encode(&mut wire, Role::Client, OP_CLOSE, &CLOSE_NORMAL);
        let events = decode_all(Role::Server, &wire).expect("decodes");
        assert_eq!(
            events,
            vec![
                Event::Ping(Bytes::from_static(b"p")),
                Event::Message(Bytes::from_static(b"hello world")),
                Event::Close,
            ]
        );
    }

    #[test]
    fn a_frame_split_anywhere_waits_for_the_rest() {
        let mut wire = Vec::new();
        encode(&mut wire, Role::Client, OP_BINARY, &[7; 300]);
        for cut in 0..wire.len() {
            let mut decoder = Decoder::new(Role::Server, 1 << 20);
            let mut buf = BytesMut::from(&wire[..cut]);
            assert_eq!(
                decoder.decode(&mut buf).expect("no error"),
                None,
                "cut {cut}"
            );
            buf.extend_from_slice(&wire[cut..]);
            assert_eq!(
                decoder.decode(&mut buf).expect("decodes"),
                Some(Event::Message(Bytes::from(vec![7; 300])))
            );
        }
    }

    #[test]
    fn frames_outside_the_subset_are_refused() {
        let refused = |role: Role, wire: Vec<u8>, why: &str| {
            let error = decode_all(role, &wire).expect_err(why);
            assert!(matches!(error, FrameError::Malformed(_)), "{why}: {error}");
        };
        let mut unmasked = Vec::new();
        encode(&mut unmasked, Role::Server, OP_BINARY, b"x");
        refused(Role::Server, unmasked, "unmasked from a client");
        let mut masked = Vec::new();
        encode(&mut masked, Role::Client, OP_BINARY, b"x");
        refused(Role::Client, masked, "masked from a server");
        let mut text = Vec::new();
        encode(&mut text, Role::Client, OP_TEXT, b"x");
        refused(Role::Server, text, "text");
        let mut rsv = Vec::new();
        encode(&mut rsv, Role::Client, OP_BINARY, b"x");
        rsv[0] |= 0x40;
        refused(Role::Server, rsv, "reserved bit");
        let mut stray = Vec::new();
        encode(&mut stray, Role::Client, OP_CONTINUATION, b"x");
        refused(Role::Server, stray, "continuation outside a message");
        let mut big_ping = Vec::new();
        encode(&mut big_ping, Role::Client, OP_PING, &[0; 126]);
        refused(Role::Server, big_ping, "oversized control frame");
        let mut reserved = Vec::new();
        encode(&mut reserved, Role::Client, 0x3, b"x");
        refused(Role::Server, reserved, "reserved opcode");
    }

    #[test]
    fn an_oversized_message_is_refused_from_its_header_alone() {
        let mut decoder = Decoder::new(Role::Server, 1000);
        let mut wire = Vec::new();
        header(&mut wire, Role::Client, OP_BINARY, true, 1 << 40);
        let error = decoder
            .decode(&mut BytesMut::from(&wire[..]))
            .expect_err("too large");
        assert_eq!(
            error,
            FrameError::TooLarge {
                len: 1 << 40,
                max: 1000
            }
        );
        // Fragments count together.
        let mut decoder = Decoder::new(Role::Server, 1000);
        let mut wire = Vec::new();
        encode_fragment(&mut wire, Role::Client, OP_BINARY, false, &[0; 600]);
        encode_fragment(&mut wire, Role::Client, OP_CONTINUATION, true, &[0; 600]);
        let mut buf = BytesMut::from(&wire[..]);
        assert!(matches!(
            decoder.decode(&mut buf),
            Err(FrameError::TooLarge { len: 1200, .. })
        ));
    }
}
