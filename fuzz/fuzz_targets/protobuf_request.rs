//! kubectl's protobuf request bodies (`k8s\0` + runtime.Unknown). Input: any
//! bytes, with the magic prepended half of the time so the decoder gets past
//! the envelope check. Must never panic; a decoded object is a JSON object
//! naming its kind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verge_apimachinery::protobuf::{MAGIC, decode_request};

fuzz_target!(|data: &[u8]| {
    let body: Vec<u8> = match data.split_first() {
        Some((flag, rest)) if flag & 1 == 1 => MAGIC.iter().chain(rest).copied().collect(),
        _ => data.to_vec(),
    };
    if let Ok(value) = decode_request(&body) {
        assert!(value.get("kind").and_then(|k| k.as_str()).is_some(), "decoded object without a kind");
    }
});
