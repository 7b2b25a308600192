//! Label selectors: the string syntax and metav1.LabelSelector objects.
//! Parsing must never panic, and a parsed selector's canonical string must
//! parse back to the same selector.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verge_apimachinery::labels::Selector;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(selector) = Selector::parse(text)
    {
        let canonical = selector.to_string();
        assert_eq!(
            Selector::parse(&canonical).ok().as_ref(),
            Some(&selector),
            "{text:?} printed as {canonical:?} does not parse back"
        );
        let _ = selector.matches_fn(|key| (key.len() % 2 == 0).then_some(text));
    }
    if let Ok(object) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = Selector::from_label_selector(&object);
    }
});
