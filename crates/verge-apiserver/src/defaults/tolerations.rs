//! kube-apiserver's DefaultTolerationSeconds admission: every pod that does
//! not say how long it tolerates its node being not-ready or unreachable
//! gets NoExecute tolerations for both taints, bounded to
//! `--default-not-ready-toleration-seconds` and
//! `--default-unreachable-toleration-seconds` (300 s each by default), so
//! the taint-based eviction of the node lifecycle controller moves it
//! elsewhere after that long.
//!
//! Verge adds one thing: the keys it added are recorded in the
//! [`DEFAULTED_ANNOTATION`] annotation. A pod bound to an edge node keeps
//! running when the node's link drops, and the node lifecycle controller
//! needs to tell these defaulted tolerations (edge default: tolerate
//! forever) from a toleration the user wrote (an explicit opt-in to
//! eviction after its `tolerationSeconds`). The pod is not bound yet when it
//! is created, so the choice cannot be made here.

use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{Map, Value, json};

use super::{obj_mut, str_field};

/// The taint a node gets when it reports Ready=False.
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
/// The taint a node gets when it stops reporting (Ready=Unknown).
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";
/// Comma-separated taint keys whose tolerations the API server added.
pub const DEFAULTED_ANNOTATION: &str = "verge.dev/defaulted-tolerations";

static NOT_READY_SECONDS: AtomicI64 = AtomicI64::new(300);
static UNREACHABLE_SECONDS: AtomicI64 = AtomicI64::new(300);

/// Sets the tolerationSeconds of the defaulted tolerations for this process
/// (kube-apiserver's flags of the same names; `verge server` sets them at
/// start).
pub fn set_default_toleration_seconds(not_ready: i64, unreachable: i64) {
    NOT_READY_SECONDS.store(not_ready, Ordering::Relaxed);
    UNREACHABLE_SECONDS.store(unreachable, Ordering::Relaxed);
}

/// The tolerationSeconds given to defaulted not-ready and unreachable
/// tolerations.
pub fn default_toleration_seconds() -> (i64, i64) {
    (
        NOT_READY_SECONDS.load(Ordering::Relaxed),
        UNREACHABLE_SECONDS.load(Ordering::Relaxed),
    )
}

/// Adds the missing default tolerations to a Pod and records which.
pub(super) fn pod(o: &mut Map<String, Value>) {
    let (not_ready_s, unreachable_s) = default_toleration_seconds();
    let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let tolerations = match spec.get("tolerations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        // Not a list: validation reports it.
        Some(_) => return,
    };
    let mut added = Vec::new();
    let mut list = tolerations;
    for (key, seconds) in [
        (NOT_READY_TAINT, not_ready_s),
        (UNREACHABLE_TAINT, unreachable_s),
    ] {
        if list.iter().any(|t| tolerates_no_execute(t, key)) {
            continue;
        }
        list.push(json!({
            "key": key,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": seconds,
        }));
        added.push(key);
    }
    if added.is_empty() {
        return;
    }
    spec.insert("tolerations".into(), Value::Array(list));
    let Some(meta) = obj_mut(o, "metadata") else {
        return;
    };
    let Some(annotations) = obj_mut(meta, "annotations") else {
        return;
    };
    // Keys recorded by an earlier write stay recorded.
    let mut keys: Vec<String> = str_field(annotations, DEFAULTED_ANNOTATION)
        .split(',')
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    for key in added {
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_owned());
        }
    }
    annotations.insert(DEFAULTED_ANNOTATION.into(), Value::String(keys.join(",")));
}

/// Whether a toleration already covers the NoExecute taint `key` (as the
/// admission plugin decides: the same key or any key, NoExecute or any effect).
fn tolerates_no_execute(t: &Value, key: &str) -> bool {
    let k = t.get("key").and_then(Value::as_str).unwrap_or("");
    let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
    (k == key || k.is_empty()) && (effect == "NoExecute" || effect.is_empty())
}

/// The taint keys whose tolerations on this pod were added by the API
/// server rather than written by the user.
pub fn defaulted_keys(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> Vec<&str> {
    annotations
        .and_then(|a| a.get(DEFAULTED_ANNOTATION))
        .map(|v| v.split(',').filter(|k| !k.is_empty()).collect())
        .unwrap_or_default()
}
