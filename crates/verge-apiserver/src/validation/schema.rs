//! Schema-driven checks run on every create, update and patch before anything
//! is stored:
//!
//! - [`unknown_fields`]: fields the type's schema does not declare, named the
//!   way kube-apiserver's strict decoding names them (`spec.template.spec.containers[0].imagePullPolicyy`);
//!   the handler rejects them (`fieldValidation=Strict`) or warns (`Warn`).
//! - [`check_builtin_types`]: a built-in object must decode into its
//!   k8s-openapi type; the message names the offending field.
//! - [`apply_defaults`] then [`validate_custom`]: structural-schema defaulting
//!   and value validation of custom resources.
//! - [`validate_crd_schema`]: whether a CRD's `openAPIV3Schema` is structural
//!   enough to serve.

mod builtin_types;
mod defaults;
mod structural;
mod unknown;
mod values;

#[cfg(test)]
mod tests;

use std::fmt;

use serde_json::Value;

pub use builtin_types::{check_builtin_kind_types, check_builtin_types};
pub use defaults::apply_defaults;
pub use structural::{validate_crd_schema, validate_crd_schema_at};
pub use unknown::{prune_unknown_fields, unknown_builtin_fields, unknown_fields};
pub use values::validate_custom;

/// One invalid field, as a Kubernetes `StatusCause` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field path: `spec.replicas`, `spec.containers[0].name`.
    pub field: String,
    /// The cause type: `FieldValueInvalid`, `FieldValueTypeInvalid`,
    /// `FieldValueRequired`, `FieldValueNotSupported`, `FieldValueTooLong`,
    /// `FieldValueTooMany`, `FieldValueDuplicate`, `FieldValueForbidden`.
    pub reason: &'static str,
    /// What Kubernetes prints after the field:
    /// `Invalid value: "string": spec.replicas in body must be of type integer: "string"`.
    pub message: String,
}

impl fmt::Display for FieldError {
    /// `spec.replicas: Invalid value: …`, as in a Status message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl FieldError {
    fn new(field: &str, reason: &'static str, message: String) -> FieldError {
        FieldError {
            field: field.to_owned(),
            reason,
            message,
        }
    }

    /// `Invalid value: <value>: <detail>`.
    pub fn invalid(field: &str, value: &Value, detail: &str) -> FieldError {
        FieldError::new(
            field,
            "FieldValueInvalid",
            with_detail(format!("Invalid value: {}", go_value(value)), detail),
        )
    }

    /// A value of the wrong JSON type: `Invalid value: "string": <detail>`.
    pub fn type_invalid(field: &str, value: &Value, detail: &str) -> FieldError {
        FieldError::new(
            field,
            "FieldValueTypeInvalid",
            with_detail(format!("Invalid value: {}", go_value(value)), detail),
        )
    }

    /// `Required value`.
    pub fn required(field: &str, detail: &str) -> FieldError {
        FieldError::new(
            field,
            "FieldValueRequired",
            with_detail("Required value".to_owned(), detail),
        )
    }

    /// `Unsupported value: "x": supported values: "a", "b"`.
    pub fn not_supported(field: &str, value: &Value, supported: &[Value]) -> FieldError {
        let list: Vec<String> = supported
            .iter()
            .map(|v| match v {
                Value::String(s) => quote(s),
                other => quote(&other.to_string()),
            })
            .collect();
        let detail = if list.is_empty() {
            String::new()
        } else {
            format!("supported values: {}", list.join(", "))
        };
        FieldError::new(
            field,
            "FieldValueNotSupported",
            with_detail(format!("Unsupported value: {}", go_value(value)), &detail),
        )
    }

    /// `Too long: may not be more than 5 bytes`.
    pub fn too_long(field: &str, max: u64) -> FieldError {
        FieldError::new(
            field,
            "FieldValueTooLong",
            format!("Too long: may not be more than {max} bytes"),
        )
    }

    /// `Too many: 5: must have at most 3 items`.
    pub fn too_many(field: &str, actual: u64, max: u64) -> FieldError {
        FieldError::new(
            field,
            "FieldValueTooMany",
            format!("Too many: {actual}: must have at most {max} items"),
        )
    }

    /// `Duplicate value: <value>`.
    pub fn duplicate(field: &str, value: &Value) -> FieldError {
        FieldError::new(
            field,
            "FieldValueDuplicate",
            format!("Duplicate value: {}", go_value(value)),
        )
    }

    /// `Forbidden: <detail>`.
    pub fn forbidden(field: &str, detail: &str) -> FieldError {
        FieldError::new(
            field,
            "FieldValueForbidden",
            with_detail("Forbidden".to_owned(), detail),
        )
    }
}

fn with_detail(mut s: String, detail: &str) -> String {
    if !detail.is_empty() {
        s.push_str(": ");
        s.push_str(detail);
    }
    s
}

/// A string quoted the way Go's `%q` does (close enough: JSON escaping).
pub(crate) fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// A bad value printed the way Kubernetes field errors print them: strings
/// quoted, numbers and booleans bare, null as `"null"`, the rest as JSON.
pub(crate) fn go_value(value: &Value) -> String {
    match value {
        Value::Null => quote("null"),
        Value::String(s) => quote(s),
        other => other.to_string(),
    }
}

/// The JSON type name of a value, as Kubernetes' schema errors name it.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A field path being walked: `spec.containers[0].name`.
#[derive(Default)]
pub(crate) struct FieldPath(String);

impl From<String> for FieldPath {
    fn from(s: String) -> Self {
        FieldPath(s)
    }
}

impl FieldPath {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Appends `.name` (or `name` at the root); returns the length to restore.
    pub(crate) fn push_field(&mut self, name: &str) -> usize {
        let len = self.0.len();
        if !self.0.is_empty() {
            self.0.push('.');
        }
        self.0.push_str(name);
        len
    }

    /// Appends `[i]`; returns the length to restore.
    pub(crate) fn push_index(&mut self, i: usize) -> usize {
        use std::fmt::Write as _;
        let len = self.0.len();
        let _ = write!(self.0, "[{i}]");
        len
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }
}

/// `schema[key] == true`.
pub(crate) fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}
