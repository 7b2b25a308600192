//! The cloud–edge channel frame decoder, in both modes: as a byte stream
//! (QUIC), fed in pieces, and as one WebSocket message. Input: any bytes;
//! the first byte picks a small frame limit half of the time and where the
//! stream is split, and a valid header is prepended half of the time so the
//! protobuf and validation layers get exercised. Must never panic; whatever
//! decodes must re-encode to a frame that decodes to the same message.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use verge_protocol::{FrameDecoder, MAGIC, MAX_FRAME_BYTES, encode_frame};

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let max = if control & 1 == 1 { 4096 } else { MAX_FRAME_BYTES };
    let mut input = Vec::with_capacity(rest.len() + 8);
    if control & 2 == 2 {
        input.extend_from_slice(&MAGIC);
        input.extend_from_slice(&[1, 0]);
        input.extend_from_slice(&(rest.len() as u32).to_be_bytes());
    }
    input.extend_from_slice(rest);
    let decoder = FrameDecoder::new(max);

    if let Ok(frame) = decoder.decode_message(Bytes::from(input.clone()))
        && let Ok(envelope) = frame.envelope()
    {
        let again = encode_frame(frame.version, &envelope, MAX_FRAME_BYTES).expect("re-encode");
        let decoded = FrameDecoder::new(MAX_FRAME_BYTES)
            .decode_message(again)
            .and_then(|f| f.envelope())
            .expect("re-decode");
        assert_eq!(decoded, envelope);
    }

    // The same bytes as a stream, delivered in pieces of a size taken from
    // the control byte.
    let step = usize::from(control >> 2).max(1);
    let mut buf = BytesMut::new();
    for piece in input.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert!(frame.wire_len() <= max);
                    let _ = frame.envelope();
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
