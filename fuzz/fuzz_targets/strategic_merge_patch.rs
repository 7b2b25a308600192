//! Kubernetes strategic merge patch. Input: one byte choosing the kind, then
//! two JSON values one after the other (the document, then the patch). Must
//! never panic, and no directive may be left in the result when the document
//! had none.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use verge_apimachinery::patch::{known_kinds, strategic_merge_patch};

fn has_directive(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(key, value)| {
            key == "$patch"
                || key == "$retainKeys"
                || key.starts_with("$setElementOrder/")
                || key.starts_with("$deleteFromPrimitiveList/")
                || has_directive(value)
        }),
        Value::Array(items) => items.iter().any(has_directive),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let kinds = known_kinds();
    // One value past the end stands for a kind the patch knows nothing about.
    let kind = kinds
        .get(usize::from(selector) % (kinds.len() + 1))
        .copied()
        .unwrap_or("Widget");
    let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<Value>();
    let (Some(Ok(doc)), Some(Ok(patch))) = (values.next(), values.next()) else {
        return;
    };
    if let Ok(out) = strategic_merge_patch(&doc, &patch, kind)
        && !has_directive(&doc)
    {
        assert!(
            !has_directive(&out),
            "directive left in {out} ({kind}: {doc} + {patch})"
        );
    }
});
