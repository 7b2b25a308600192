//! Type checking of built-in objects by decoding them into their k8s-openapi
//! types.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::openapi::catalog::{KindVisitor, visit_kind};
use crate::registry::ResourceType;

/// Decodes `obj` into the k8s-openapi type of `rt`, reporting the first type
/// error with its field path:
/// `spec.replicas: invalid type: string "three", expected i32`.
///
/// Unknown fields are ignored here (see [`super::unknown_fields`]); a wrong
/// `apiVersion` or `kind` is an error. Custom resources, and built-ins without
/// a compiled-in type, always pass.
pub fn check_builtin_types(rt: &ResourceType, obj: &Value) -> Result<(), String> {
    if rt.is_custom() {
        return Ok(());
    }
    check_builtin_kind_types(&rt.group, &rt.version, &rt.kind, obj)
}

/// [`check_builtin_types`] by group, version and kind, for bodies that are
/// not registry types: `autoscaling/v1` Scale, `policy/v1` Eviction, `v1` Binding.
pub fn check_builtin_kind_types(
    group: &str,
    version: &str,
    kind: &str,
    obj: &Value,
) -> Result<(), String> {
    visit_kind(group, version, kind, Decode(obj)).unwrap_or(Ok(()))
}

struct Decode<'a>(&'a Value);

impl KindVisitor for Decode<'_> {
    type Output = Result<(), String>;

    fn visit<T: JsonSchema + DeserializeOwned>(self) -> Self::Output {
        match serde_path_to_error::deserialize::<_, T>(self.0) {
            Ok(_) => Ok(()),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path.is_empty() || path == "." {
                    Err(inner.to_string())
                } else {
                    Err(format!("{path}: {inner}"))
                }
            }
        }
    }
}
