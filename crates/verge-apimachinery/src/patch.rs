//! The three patch formats a Kubernetes API server accepts on `PATCH`:
//!
//! * [`json_patch`] — `application/json-patch+json`, RFC 6902 (a list of
//!   `add`/`remove`/`replace`/`move`/`copy`/`test` operations);
//! * [`merge_patch`] — `application/merge-patch+json`, RFC 7386 (a partial
//!   document; `null` deletes; lists are replaced whole);
//! * [`strategic_merge_patch`] — `application/strategic-merge-patch+json`,
//!   Kubernetes' own format used by `kubectl apply` (client-side), `edit`,
//!   `rollout restart`, `cordon`, `label`, `annotate`, ...: a merge patch that
//!   knows, per built-in type, which lists are merged by a key and which
//!   understands the `$patch`, `$setElementOrder/<list>`, `$retainKeys` and
//!   `$deleteFromPrimitiveList/<list>` directives.
//!
//! All functions take the current document by reference and return a new
//! one; on error nothing is returned, so a failed patch never leaves a
//! half-applied object. Errors are [`PatchError`]s whose `Display` is meant
//! for the `message` of the `Status` sent back to the client, and
//! [`PatchError::http_status`] gives the status code Kubernetes would use.

mod json;
pub(crate) mod schema;
mod strategic;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

pub use json::{MAX_JSON_PATCH_OPERATIONS, MAX_PATCHED_DEPTH, json_patch, json_patch_value};
pub use schema::{is_known_kind, known_kinds};
pub use strategic::strategic_merge_patch;

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The patch body is not JSON at all.
    #[error("the patch is not valid JSON: {0}")]
    InvalidJson(String),
    /// A JSON patch body is JSON but not a list.
    #[error("a JSON patch must be a JSON list of operations, but the patch is {found}")]
    NotAList { found: &'static str },
    /// A JSON patch has more operations than allowed.
    #[error("the JSON patch has {count} operations, more than the {max} allowed")]
    TooManyOperations { count: usize, max: usize },
    /// One JSON patch operation is malformed (unknown `op`, missing `path`,
    /// `value` or `from`, a bad JSON pointer, ...).
    #[error("JSON patch operation {index} is malformed: {message}")]
    MalformedOperation { index: usize, message: String },
    /// A `test` operation did not hold.
    #[error("test operation failed at {path}: {message}")]
    TestFailed {
        index: usize,
        path: String,
        message: String,
    },
    /// A well-formed JSON patch operation cannot be applied to the document
    /// (the path does not exist, an index is out of range, ...).
    #[error("JSON patch operation {index} ({op} at {path}) cannot be applied: {message}")]
    OperationFailed {
        index: usize,
        op: &'static str,
        path: String,
        message: String,
    },
    /// The patched document would grow past a safety limit.
    #[error("the JSON patch was not applied: {0}")]
    LimitExceeded(String),
    /// A merge or strategic merge patch (or the document it applies to) is
    /// not a JSON object where one is needed.
    #[error("{0}")]
    NotAnObject(String),
    /// A `$patch` directive has a value other than `replace`, `delete` or
    /// `merge`.
    #[error("$patch directive {directive} is not one of replace, delete, merge (at {path})")]
    UnknownDirective { directive: String, path: String },
    /// A strategic merge patch is malformed at `path` (a list element without
    /// its merge key, a directive with the wrong shape, a
    /// `$setElementOrder` list that contradicts the patch, ...).
    #[error("invalid strategic merge patch at {path}: {message}")]
    InvalidStrategicPatch { path: String, message: String },
}

impl PatchError {
    /// The HTTP status code a Kubernetes API server answers with for this
    /// error: 400 Bad Request for a body that is not a well-formed patch of
    /// its type (not JSON, not a list of operations, a malformed operation,
    /// a malformed strategic merge patch), 413 for too many operations, and
    /// 422 Unprocessable Entity for a well-formed patch that cannot be
    /// applied to this document (a failed `test`, a missing path, a limit).
    pub fn http_status(&self) -> u16 {
        match self {
            PatchError::InvalidJson(_)
            | PatchError::NotAList { .. }
            | PatchError::MalformedOperation { .. }
            | PatchError::NotAnObject(_)
            | PatchError::UnknownDirective { .. }
            | PatchError::InvalidStrategicPatch { .. } => 400,
            PatchError::TooManyOperations { .. } => 413,
            PatchError::TestFailed { .. }
            | PatchError::OperationFailed { .. }
            | PatchError::LimitExceeded(_) => 422,
        }
    }
}

/// Applies an RFC 7386 JSON merge patch: an object patch is merged key by
/// key into the document (a `null` value deletes the key, an object value
/// is merged recursively), anything else replaces the document. The key
/// order of the document is kept; new keys are appended.
pub fn merge_patch(doc: &Value, patch: &Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    let mut target = match doc {
        Value::Object(doc) => doc.clone(),
        _ => Map::new(),
    };
    merge_patch_into(&mut target, patch);
    Value::Object(target)
}

fn merge_patch_into(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            target.shift_remove(key);
            continue;
        }
        match (target.get_mut(key), value) {
            (Some(Value::Object(existing)), Value::Object(sub)) => merge_patch_into(existing, sub),
            (Some(existing), _) => *existing = merge_patch(&Value::Null, value),
            (None, _) => {
                target.insert(key.clone(), merge_patch(&Value::Null, value));
            }
        }
    }
}

/// JSON equality as Kubernetes sees it: like `==` on [`Value`], except that
/// numbers compare by value (`1` equals `1.0`).
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn numbers_equal(x: &serde_json::Number, y: &serde_json::Number) -> bool {
    number_key(x) == number_key(y)
}

/// A number reduced to a form where equal numbers are identical: integers
/// (including integral floats) as `i128`, other floats by their bits.
#[derive(PartialEq)]
enum NumberKey {
    Int(i128),
    Float(u64),
}

fn number_key(n: &serde_json::Number) -> NumberKey {
    if let Some(i) = n.as_i64() {
        return NumberKey::Int(i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return NumberKey::Int(i128::from(u));
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f.fract() == 0.0 && f.abs() < 1e38 {
        // Exact: an integral float below 2^126 fits an i128 without rounding.
        NumberKey::Int(f as i128)
    } else {
        NumberKey::Float(f.to_bits())
    }
}

/// A string that is equal for two values exactly when [`json_equal`] holds,
/// usable as a hash key. Objects are rendered with sorted keys; integral
/// floats are rendered like integers.
pub(crate) fn canonical_key(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Number(n) => match number_key(n) {
            NumberKey::Int(i) => out.push_str(&i.to_string()),
            NumberKey::Float(bits) => out.push_str(&format!("{:?}", f64::from_bits(bits))),
        },
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}
