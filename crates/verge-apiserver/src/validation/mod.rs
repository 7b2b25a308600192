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
        for path in &unknown {
            prune(obj, path);
        }
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

/// Removes the field at a path such as `spec.template.spec.containers[0].foo`.
pub fn prune(obj: &mut Value, path: &str) {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            steps.push(Step::Key(key));
        }
        for idx in indices.split('[').filter(|s| !s.is_empty()) {
            match idx.trim_end_matches(']').parse::<usize>() {
                Ok(i) => steps.push(Step::Index(i)),
                Err(_) => return,
            }
        }
    }
    let Some((last, parents)) = steps.split_last() else {
        return;
    };
    let mut cur = obj;
    for step in parents {
        let next = match step {
            Step::Key(k) => cur.get_mut(*k),
            Step::Index(i) => cur.get_mut(*i),
        };
        match next {
            Some(v) => cur = v,
            None => return,
        }
    }
    if let (Step::Key(k), Value::Object(map)) = (last, cur) {
        map.remove(*k);
    }
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prunes_nested_paths() {
        let mut v = json!({"spec":{"containers":[{"name":"a"},{"name":"b","foo":1}],"bar":2}});
        prune(&mut v, "spec.containers[1].foo");
        prune(&mut v, "spec.bar");
        prune(&mut v, "spec.missing[3].x");
        assert_eq!(
            v,
            json!({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})
        );
    }
}
