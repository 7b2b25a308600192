//! Checks an object must pass before it is stored: the schema (unknown fields,
//! types, CRD structural rules) and the semantic rules of built-in kinds.

pub mod objects;
pub mod schema;

use serde_json::Value;

pub use schema::FieldError;

use crate::registry::{Origin, ResourceType};
use crate::request::FieldValidation;
use crate::status::ApiError;

/// Defaults, prunes and validates `obj` for writing. Returns the warnings to
/// send back (unknown fields under `fieldValidation=Warn`).
pub fn admit(
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
    field_validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let name = crate::object::name(obj).unwrap_or("").to_owned();
    let mut warnings = Vec::new();

    let unknown = schema::unknown_fields(rt, obj);
    if !unknown.is_empty() {
        match field_validation {
            FieldValidation::Strict => {
                let errors: Vec<FieldError> = unknown
                    .iter()
                    .map(|path| FieldError {
                        field: path.clone(),
                        reason: "FieldValueInvalid",
                        message: format!("unknown field \"{path}\""),
                    })
                    .collect();
                return Err(ApiError::invalid(&rt.kind, &rt.group, &name, &errors));
            }
            FieldValidation::Warn => {
                warnings.extend(unknown.iter().map(|p| format!("unknown field \"{p}\"")));
            }
            FieldValidation::Ignore => {}
        }
        schema::prune_unknown_fields(rt, obj);
    }

    let errors = match &rt.origin {
        Origin::Builtin => {
            crate::defaults::apply_defaults(rt, obj);
            if let Err(message) = schema::check_builtin_types(rt, obj) {
                return Err(ApiError::bad_request(format!(
                    "{} in version \"{}\" cannot be handled as a {}: {message}",
                    rt.kind, rt.version, rt.kind
                )));
            }
            objects::validate(rt, obj, old)
        }
        Origin::Custom(version) => {
            let mut errors = objects::validate(rt, obj, old);
            if let Some(schema) = &version.schema {
                schema::apply_defaults(schema, obj);
                errors.extend(schema::validate_custom(schema, obj));
            }
            errors
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::invalid(&rt.kind, &rt.group, &name, &errors));
    }
    Ok(warnings)
}
