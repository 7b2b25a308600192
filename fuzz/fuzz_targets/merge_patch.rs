//! RFC 7386 merge patch. Input: two JSON values one after the other (the
//! document, then the patch). Must never panic, and applying the same patch
//! twice must give the same result as applying it once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use verge_apimachinery::patch::merge_patch;

fuzz_target!(|data: &[u8]| {
    let mut values = serde_json::Deserializer::from_slice(data).into_iter::<Value>();
    let (Some(Ok(doc)), Some(Ok(patch))) = (values.next(), values.next()) else {
        return;
    };
    let once = merge_patch(&doc, &patch);
    assert_eq!(
        merge_patch(&once, &patch),
        once,
        "merge patch is not idempotent"
    );
});
