//! Structural defaulting of custom resources.

use serde_json::Value;

use super::flag;

const MAX_DEPTH: usize = 200;

/// Applies a CRD schema's `default`s to `obj`, as kube-apiserver does when it
/// decodes a custom resource:
///
/// - a property missing from an object gets a copy of its `default`;
/// - a `null` where the schema is not `nullable` gets the `default` if there
///   is one, and is otherwise removed (from objects) — a non-nullable null
///   is treated as absent;
/// - defaulting continues inside defaulted values, array items and
///   `additionalProperties` maps.
///
/// Call it before [`super::validate_custom`]; it does not validate defaults.
pub fn apply_defaults(schema: &Value, obj: &mut Value) {
    default_node(schema, obj, 0);
}

fn default_of(schema: &Value) -> Option<&Value> {
    schema.get("default")
}

fn default_node(schema: &Value, value: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(properties) = properties {
                for (key, prop) in properties {
                    let nullable = flag(prop, "nullable");
                    match map.get(key) {
                        None => {
                            if let Some(d) = default_of(prop) {
                                map.insert(key.clone(), d.clone());
                            }
                        }
                        Some(Value::Null) if !nullable => match default_of(prop) {
                            Some(d) => {
                                map.insert(key.clone(), d.clone());
                            }
                            None => {
                                map.shift_remove(key);
                            }
                        },
                        Some(_) => {}
                    }
                }
            }
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            if let Some(additional) = additional
                && !flag(additional, "nullable")
            {
                let declared = |k: &str| properties.is_some_and(|p| p.contains_key(k));
                let nulls: Vec<String> = map
                    .iter()
                    .filter(|(k, v)| v.is_null() && !declared(k))
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in nulls {
                    match default_of(additional) {
                        Some(d) => {
                            map.insert(key, d.clone());
                        }
                        None => {
                            map.shift_remove(&key);
                        }
                    }
                }
            }
            for (key, v) in map.iter_mut() {
                if let Some(prop) = properties.and_then(|p| p.get(key)) {
                    default_node(prop, v, depth + 1);
                } else if let Some(additional) = additional {
                    default_node(additional, v, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                let replacement =
                    default_of(item_schema).filter(|_| !flag(item_schema, "nullable"));
                for v in items.iter_mut() {
                    if v.is_null()
                        && let Some(d) = replacement
                    {
                        *v = d.clone();
                    }
                    default_node(item_schema, v, depth + 1);
                }
            }
        }
        _ => {}
    }
}
