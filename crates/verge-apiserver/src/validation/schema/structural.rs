//! Whether a CRD's `openAPIV3Schema` is structural enough to serve: every
//! node typed (or int-or-string / preserve-unknown-fields), no references,
//! no unsupported keywords, consistent Kubernetes extensions, and defaults
//! that validate against their own schema.

use serde_json::Value;

use super::values::{Validator, compiled};
use super::{FieldError, FieldPath, flag, unknown};

const MAX_DEPTH: usize = 200;
const TYPES: &[&str] = &["object", "array", "string", "integer", "number", "boolean"];
const UNSUPPORTED: &[&str] = &[
    "$ref",
    "$schema",
    "id",
    "definitions",
    "dependencies",
    "patternProperties",
    "additionalItems",
];

/// Checks a CRD version's `openAPIV3Schema`; fields are named relative to
/// the schema itself (`type`, `properties[spec].properties[size].type`). See
/// [`validate_crd_schema_at`] to name them from a base path.
pub fn validate_crd_schema(schema: &Value) -> Vec<FieldError> {
    validate_crd_schema_at(schema, "")
}

/// [`validate_crd_schema`] with fields named from `base`, e.g.
/// `spec.versions[0].schema.openAPIV3Schema`.
pub fn validate_crd_schema_at(schema: &Value, base: &str) -> Vec<FieldError> {
    let mut c = Checker { errors: Vec::new() };
    if !schema.is_object() {
        c.errors
            .push(FieldError::invalid(base, schema, "must be a schema object"));
        return c.errors;
    }
    let type_path = sub(base, "type");
    match schema.get("type") {
        Some(Value::String(t)) if t == "object" => {}
        None => c.errors.push(FieldError::required(
            &type_path,
            "must be object at the root",
        )),
        Some(other) => c.errors.push(FieldError::invalid(
            &type_path,
            other,
            "must be object at the root",
        )),
    }
    if let Some(meta) = schema.get("properties").and_then(|p| p.get("metadata")) {
        c.root_metadata(meta, &sub(base, "properties[metadata]"));
    }
    c.node(schema, base, "", Place::Root, 0);
    c.errors
}

#[derive(Clone, Copy, PartialEq)]
enum Place {
    Root,
    Property,
    Items,
    AdditionalProperties,
    /// Inside allOf/anyOf/oneOf/not: value validations only.
    Junctor,
}

struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn root_metadata(&mut self, meta: &Value, path: &str) {
        let Some(map) = meta.as_object() else { return };
        let allowed_top = |k: &str| matches!(k, "type" | "properties" | "description");
        let props_ok = map
            .get("properties")
            .and_then(Value::as_object)
            .is_none_or(|p| p.keys().all(|k| k == "name" || k == "generateName"));
        if !map.keys().all(|k| allowed_top(k)) || !props_ok {
            self.errors.push(FieldError::forbidden(
                path,
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ));
        }
        if let Some(t) = map.get("type")
            && t != "object"
        {
            self.errors
                .push(FieldError::invalid(&sub(path, "type"), t, "must be object"));
        }
    }

    fn node(&mut self, schema: &Value, path: &str, obj_path: &str, place: Place, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let Some(map) = schema.as_object() else {
            self.errors
                .push(FieldError::invalid(path, schema, "must be a schema object"));
            return;
        };
        let child = |k: &str| sub(path, k);

        for key in UNSUPPORTED {
            if map.contains_key(*key) {
                self.errors.push(FieldError::forbidden(
                    &child(key),
                    &format!("{key} is not supported"),
                ));
            }
        }
        if flag(schema, "uniqueItems") {
            self.errors.push(FieldError::forbidden(
                &child("uniqueItems"),
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            ));
        }

        let int_or_string = flag(schema, "x-kubernetes-int-or-string");
        let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
        let ty = map.get("type");
        let ty_str = ty.and_then(Value::as_str).unwrap_or("");

        if place == Place::Junctor {
            for key in [
                "default",
                "nullable",
                "x-kubernetes-preserve-unknown-fields",
                "x-kubernetes-embedded-resource",
                "x-kubernetes-list-type",
                "x-kubernetes-list-map-keys",
                "x-kubernetes-map-type",
            ] {
                if map.contains_key(key) {
                    self.errors.push(FieldError::forbidden(
                        &child(key),
                        "must be empty to be structural",
                    ));
                }
            }
        } else {
            match ty {
                Some(Value::String(t)) if TYPES.contains(&t.as_str()) => {}
                Some(Value::String(t)) if t.is_empty() => {}
                Some(other) => {
                    let supported: Vec<Value> = TYPES.iter().map(|t| Value::from(*t)).collect();
                    self.errors
                        .push(FieldError::not_supported(&child("type"), other, &supported));
                }
                None => {}
            }
            if int_or_string {
                if !ty_str.is_empty() {
                    self.errors.push(FieldError::invalid(
                        &child("type"),
                        &Value::from(ty_str),
                        "must be empty if x-kubernetes-int-or-string is true",
                    ));
                }
            } else if ty_str.is_empty() && !preserve && place != Place::Root {
                let detail = match place {
                    Place::Items => "must not be empty for specified array items",
                    _ => "must not be empty for specified object fields",
                };
                self.errors
                    .push(FieldError::required(&child("type"), detail));
            }
            if flag(schema, "x-kubernetes-embedded-resource") && ty_str != "object" {
                self.errors.push(FieldError::invalid(
                    &child("type"),
                    &Value::from(ty_str),
                    "must be object if x-kubernetes-embedded-resource is true",
                ));
            }
            if ty_str == "array" && !map.contains_key("items") {
                self.errors
                    .push(FieldError::required(&child("items"), "must be specified"));
            }
            self.list_extensions(schema, path, ty_str);
        }

        if map.contains_key("properties") && map.contains_key("additionalProperties") {
            self.errors.push(FieldError::forbidden(
                &child("additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        if map.get("additionalProperties") == Some(&Value::Bool(false)) {
            self.errors.push(FieldError::forbidden(
                &child("additionalProperties"),
                "additionalProperties cannot be set to false",
            ));
        }
        if let Some(pattern) = map.get("pattern").and_then(Value::as_str)
            && compiled(pattern).is_none()
        {
            self.errors.push(FieldError::invalid(
                &child("pattern"),
                &Value::from(pattern),
                "must be a valid regular expression",
            ));
        }
        if let Some(default) = map.get("default")
            && place != Place::Junctor
        {
            self.check_default(schema, default, &child("default"), obj_path);
        }

        // Sub-schemas.
        let sub_place = |p: Place| {
            if place == Place::Junctor {
                Place::Junctor
            } else {
                p
            }
        };
        if let Some(props) = map.get("properties") {
            match props.as_object() {
                Some(props) => {
                    for (name, prop) in props {
                        let obj = join(obj_path, name);
                        self.node(
                            prop,
                            &sub(path, &format!("properties[{name}]")),
                            &obj,
                            sub_place(Place::Property),
                            depth + 1,
                        );
                    }
                }
                None => self.errors.push(FieldError::invalid(
                    &child("properties"),
                    props,
                    "must be a map of schemas",
                )),
            }
        }
        match map.get("items") {
            Some(items @ Value::Object(_)) => self.node(
                items,
                &child("items"),
                obj_path,
                sub_place(Place::Items),
                depth + 1,
            ),
            Some(Value::Array(_)) => self.errors.push(FieldError::forbidden(
                &child("items"),
                "items must be a schema object and not an array",
            )),
            Some(other) => self.errors.push(FieldError::invalid(
                &child("items"),
                other,
                "must be a schema object",
            )),
            None => {}
        }
        if let Some(additional @ Value::Object(_)) = map.get("additionalProperties") {
            self.node(
                additional,
                &child("additionalProperties"),
                obj_path,
                sub_place(Place::AdditionalProperties),
                depth + 1,
            );
        }
        for junctor in ["allOf", "anyOf", "oneOf"] {
            if let Some(list) = map.get(junctor).and_then(Value::as_array) {
                for (i, s) in list.iter().enumerate() {
                    let p = sub(path, &format!("{junctor}[{i}]"));
                    self.node(s, &p, obj_path, Place::Junctor, depth + 1);
                }
            }
        }
        if let Some(not) = map.get("not") {
            self.node(not, &child("not"), obj_path, Place::Junctor, depth + 1);
        }
    }

    fn list_extensions(&mut self, schema: &Value, path: &str, ty: &str) {
        let child = |k: &str| sub(path, k);
        let list_type = schema.get("x-kubernetes-list-type");
        let keys = schema.get("x-kubernetes-list-map-keys");
        if let Some(lt) = list_type {
            let supported = ["atomic", "set", "map"];
            match lt.as_str() {
                Some(s) if supported.contains(&s) => {
                    if ty != "array" {
                        self.errors.push(FieldError::invalid(
                            &child("x-kubernetes-list-type"),
                            lt,
                            "must only be used on type array",
                        ));
                    }
                }
                _ => {
                    let supported: Vec<Value> = supported.iter().map(|s| Value::from(*s)).collect();
                    self.errors.push(FieldError::not_supported(
                        &child("x-kubernetes-list-type"),
                        lt,
                        &supported,
                    ));
                }
            }
        }
        let is_map = list_type.and_then(Value::as_str) == Some("map");
        let key_list: Vec<&str> = keys
            .and_then(Value::as_array)
            .map(|k| k.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if is_map {
            if key_list.is_empty() {
                self.errors.push(FieldError::required(
                    &child("x-kubernetes-list-map-keys"),
                    "must not be empty if x-kubernetes-list-type is map",
                ));
            }
            let items = schema.get("items");
            let item_props = items
                .and_then(|i| i.get("properties"))
                .and_then(Value::as_object);
            if items.and_then(|i| i.get("type")).and_then(Value::as_str) != Some("object") {
                self.errors.push(FieldError::invalid(
                    &child("items.type"),
                    items.and_then(|i| i.get("type")).unwrap_or(&Value::Null),
                    "must be object if parent array's x-kubernetes-list-type is map",
                ));
            } else if !key_list
                .iter()
                .all(|k| item_props.is_some_and(|p| p.contains_key(*k)))
            {
                self.errors.push(FieldError::invalid(
                    &child("x-kubernetes-list-map-keys"),
                    keys.unwrap_or(&Value::Null),
                    "entries must all be names of item properties",
                ));
            }
        } else if keys.is_some() {
            self.errors.push(FieldError::forbidden(
                &child("x-kubernetes-list-map-keys"),
                "must be empty if x-kubernetes-list-type is not map",
            ));
        }
        if let Some(mt) = schema.get("x-kubernetes-map-type")
            && !matches!(mt.as_str(), Some("granular" | "atomic"))
        {
            let supported = [Value::from("granular"), Value::from("atomic")];
            self.errors.push(FieldError::not_supported(
                &child("x-kubernetes-map-type"),
                mt,
                &supported,
            ));
        }
    }

    /// A default must validate against its own schema and must not carry
    /// fields pruning would drop.
    fn check_default(&mut self, schema: &Value, default: &Value, path: &str, obj_path: &str) {
        let mut v = Validator {
            errors: Vec::new(),
            path: FieldPath::from(obj_path.to_owned()),
        };
        v.node(schema, default, 0);
        for e in v.errors {
            self.errors.push(FieldError {
                field: path.to_owned(),
                reason: e.reason,
                message: e.message,
            });
        }
        let unknown = unknown::structural_unknown(schema, default);
        if !unknown.is_empty() {
            self.errors.push(FieldError::invalid(
                path,
                default,
                &format!("must not have unknown fields: {}", unknown.join(", ")),
            ));
        }
    }
}

/// `base.name`, or `name` at the root.
fn sub(base: &str, name: &str) -> String {
    join(base, name)
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_owned()
    } else {
        format!("{base}.{name}")
    }
}
