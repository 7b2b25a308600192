//! Names drawn from `metadata.generateName`, as kube-apiserver draws them:
//! the prefix cut to leave room for five random characters, and a create
//! whose drawn name is taken tried again with another (RetryGenerateName,
//! GA in Kubernetes 1.31), so that no client has to.

use rand::Rng;
use serde_json::{Value, json};

use crate::object;
use crate::registry::ResourceType;
use crate::resources::subject;
use crate::status::{ApiError, ApiResult};
use crate::validation;

/// Names drawn for one create before giving up: the first and seven more,
/// as kube-apiserver's `maxNameGenerationCreateAttempts`.
pub(super) const GENERATE_NAME_ATTEMPTS: usize = 8;

/// Random characters after the prefix.
const SUFFIX_LEN: usize = 5;

/// Longest name a generated one may have (a DNS label).
const MAX_NAME_LEN: usize = 63;

/// Kubernetes' alphabet: no vowels (no words), no look-alike characters.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The `generateName` prefix to draw a name from, or None when the object
/// is named. Neither is a 422, as kube-apiserver words it.
pub(super) fn generate_prefix(rt: &ResourceType, obj: &Value) -> ApiResult<Option<String>> {
    if object::name(obj).is_some_and(|n| !n.is_empty()) {
        return Ok(None);
    }
    match object::meta_str(obj, "generateName") {
        Some(prefix) if !prefix.is_empty() => Ok(Some(prefix.to_owned())),
        _ => Err(ApiError::invalid(
            &rt.kind,
            &rt.group,
            "",
            &[validation::FieldError {
                field: "metadata.name".into(),
                reason: "FieldValueRequired",
                message: "Required value: name or generateName is required".into(),
            }],
        )),
    }
}

pub(super) fn random_suffix() -> String {
    let mut rng = rand::rng();
    (0..SUFFIX_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// `prefix` (cut so the name fits a DNS label) followed by `suffix`.
pub(super) fn generated(prefix: &str, suffix: &str) -> String {
    let room = MAX_NAME_LEN.saturating_sub(SUFFIX_LEN);
    let mut name: String = prefix.chars().take(room).collect();
    name.push_str(suffix);
    name
}

/// Every drawn name was taken: kube-apiserver's 409 for this case, which
/// tells the client it may simply try again.
pub(super) fn generate_name_conflict(rt: &ResourceType, name: &str) -> ApiError {
    let qualified = rt.qualified_plural();
    let mut err = ApiError::already_exists(&subject(rt, &qualified, name));
    err.message = format!(
        "{qualified} \"{name}\" already exists, the server was not able to generate a unique name for the object"
    );
    if let Some(details) = err.details.as_mut().and_then(Value::as_object_mut) {
        details.insert("retryAfterSeconds".into(), json!(1));
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_use_kubes_alphabet_and_names_fit_a_label() {
        let s = random_suffix();
        assert_eq!(s.len(), SUFFIX_LEN);
        assert!(s.bytes().all(|b| ALPHABET.contains(&b)), "{s}");
        let long = "x".repeat(80);
        let name = generated(&long, "abcde");
        assert_eq!(name.len(), MAX_NAME_LEN);
        assert!(name.ends_with("abcde"));
        assert_eq!(generated("web-", "k2x9z"), "web-k2x9z");
    }
}
