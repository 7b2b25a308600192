//! RFC 6902 JSON patch. Input: a JSON document, a NUL byte, then the raw
//! patch body (anything: the body need not be JSON). Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use verge_apimachinery::patch::json_patch;

fuzz_target!(|data: &[u8]| {
    let (doc, patch) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b"{}"[..], data),
    };
    let doc: Value =
        serde_json::from_slice(doc).unwrap_or_else(|_| Value::Object(Default::default()));
    let _ = json_patch(&doc, patch);
});
