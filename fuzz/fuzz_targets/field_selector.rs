//! Field selectors. Parsing must never panic, and a parsed selector's string
//! form must parse back to the same selector.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verge_apimachinery::fields::FieldSelector;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(selector) = FieldSelector::parse(text) {
        let canonical = selector.to_string();
        assert_eq!(
            FieldSelector::parse(&canonical).ok().as_ref(),
            Some(&selector),
            "{text:?} printed as {canonical:?} does not parse back"
        );
        let _ = selector.matches(|field| Some(field.to_uppercase()));
    }
});
