//! Value validation of custom resources against a structural schema, with
//! Kubernetes' error wording.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use regex::Regex;
use serde_json::{Map, Value};

use super::{FieldError, FieldPath, flag, json_type};

const MAX_DEPTH: usize = 200;

/// Checks `obj` against a CRD version's `openAPIV3Schema`: `type` (and
/// `nullable`), `x-kubernetes-int-or-string`, `required`, `enum`, the numeric
/// bounds, `multipleOf`, string length and `pattern`, `format` int32/int64,
/// item and property counts, `uniqueItems`, and the `allOf`/`anyOf`/`oneOf`/`not`
/// junctors. Defaults are not applied here (see [`super::apply_defaults`]).
///
/// Fields are named from the object root (`spec.replicas`); the root's
/// `metadata` is only checked as far as the schema describes it.
pub fn validate_custom(schema: &Value, obj: &Value) -> Vec<FieldError> {
    let mut v = Validator {
        errors: Vec::new(),
        path: FieldPath::default(),
    };
    v.node(schema, obj, 0);
    v.errors
}

pub(crate) struct Validator {
    pub(crate) errors: Vec<FieldError>,
    pub(crate) path: FieldPath,
}

impl Validator {
    /// The name of the current field inside messages ("spec.replicas").
    fn name(&self) -> &str {
        match self.path.as_str() {
            "" => "body",
            p => p,
        }
    }

    fn field(&self) -> &str {
        self.path.as_str()
    }

    fn type_error(&mut self, expected: &str, value: &Value) {
        let actual = json_type(value);
        let detail = format!(
            "{} in body must be of type {expected}: \"{actual}\"",
            self.name()
        );
        let e = FieldError::type_invalid(self.field(), &Value::String(actual.into()), &detail);
        self.errors.push(e);
    }

    fn invalid(&mut self, value: &Value, detail: String) {
        let detail = format!("{} in body {detail}", self.name());
        let e = FieldError::invalid(self.field(), value, &detail);
        self.errors.push(e);
    }

    pub(crate) fn node(&mut self, schema: &Value, value: &Value, depth: usize) {
        if depth > MAX_DEPTH || !schema.is_object() {
            return;
        }
        let int_or_string = flag(schema, "x-kubernetes-int-or-string");
        let ty = schema.get("type").and_then(Value::as_str).unwrap_or("");

        if value.is_null() {
            if flag(schema, "nullable") {
                return;
            }
            if int_or_string {
                self.type_error("integer,string", value);
                return;
            }
            if !ty.is_empty() {
                self.type_error(ty, value);
                return;
            }
        }

        if int_or_string {
            if !(is_integer(value) || value.is_string()) {
                self.type_error("integer,string", value);
                return;
            }
        } else if !ty.is_empty() && !type_matches(ty, value) {
            self.type_error(ty, value);
            return;
        }

        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.iter().any(|a| json_equal(a, value))
        {
            let e = FieldError::not_supported(self.field(), value, allowed);
            self.errors.push(e);
        }

        match value {
            Value::Number(_) => self.number(schema, value),
            Value::String(s) => self.string(schema, value, s),
            Value::Array(items) => self.array(schema, items, depth),
            Value::Object(map) => self.object(schema, map, depth),
            _ => {}
        }

        self.junctors(schema, value, depth);
    }

    fn number(&mut self, schema: &Value, value: &Value) {
        let Some(x) = value.as_f64() else { return };
        let bound = |k: &str| schema.get(k).and_then(Value::as_f64);
        if let Some(max) = bound("maximum") {
            if flag(schema, "exclusiveMaximum") {
                if x >= max {
                    self.invalid(value, format!("should be less than {}", num(max)));
                }
            } else if x > max {
                self.invalid(
                    value,
                    format!("should be less than or equal to {}", num(max)),
                );
            }
        }
        if let Some(min) = bound("minimum") {
            if flag(schema, "exclusiveMinimum") {
                if x <= min {
                    self.invalid(value, format!("should be greater than {}", num(min)));
                }
            } else if x < min {
                self.invalid(
                    value,
                    format!("should be greater than or equal to {}", num(min)),
                );
            }
        }
        if let Some(m) = bound("multipleOf")
            && m > 0.0
        {
            let q = x / m;
            if (q - q.round()).abs() > 1e-9 {
                self.invalid(value, format!("should be a multiple of {}", num(m)));
            }
        }
        let format = schema.get("format").and_then(Value::as_str);
        let in_range = match format {
            Some("int32") => value.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
            Some("int64") => value.as_i64().is_some(),
            _ => true,
        };
        if !in_range && is_integer(value) {
            let detail = format!(
                "{} in body must be of type {}: {}",
                self.name(),
                format.unwrap_or_default(),
                super::quote(&value.to_string())
            );
            let e = FieldError::invalid(self.field(), value, &detail);
            self.errors.push(e);
        }
    }

    fn string(&mut self, schema: &Value, value: &Value, s: &str) {
        let limit = |k: &str| schema.get(k).and_then(Value::as_u64);
        let chars = s.chars().count() as u64;
        if let Some(max) = limit("maxLength")
            && chars > max
        {
            let e = FieldError::too_long(self.field(), max);
            self.errors.push(e);
        }
        if let Some(min) = limit("minLength")
            && chars < min
        {
            self.invalid(value, format!("should be at least {min} chars long"));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && let Some(re) = compiled(pattern)
            && !re.is_match(s)
        {
            self.invalid(value, format!("should match '{pattern}'"));
        }
    }

    fn array(&mut self, schema: &Value, items: &[Value], depth: usize) {
        let limit = |k: &str| schema.get(k).and_then(Value::as_u64);
        let n = items.len() as u64;
        if let Some(max) = limit("maxItems")
            && n > max
        {
            let e = FieldError::too_many(self.field(), n, max);
            self.errors.push(e);
        }
        if let Some(min) = limit("minItems")
            && n < min
        {
            self.invalid(&Value::from(n), format!("should have at least {min} items"));
        }
        if flag(schema, "uniqueItems")
            && let Some(dup) = first_duplicate(items)
        {
            let e = FieldError::duplicate(self.field(), dup);
            self.errors.push(e);
        }
        if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
            for (i, v) in items.iter().enumerate() {
                let len = self.path.push_index(i);
                self.node(item_schema, v, depth + 1);
                self.path.truncate(len);
            }
        }
    }

    fn object(&mut self, schema: &Value, map: &Map<String, Value>, depth: usize) {
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(name) {
                    let len = self.path.push_field(name);
                    let e = FieldError::required(self.field(), "");
                    self.errors.push(e);
                    self.path.truncate(len);
                }
            }
        }
        let limit = |k: &str| schema.get(k).and_then(Value::as_u64);
        let n = map.len() as u64;
        if let Some(max) = limit("maxProperties")
            && n > max
        {
            let e = FieldError::too_many(self.field(), n, max);
            self.errors.push(e);
        }
        if let Some(min) = limit("minProperties")
            && n < min
        {
            self.invalid(
                &Value::from(n),
                format!("should have at least {min} properties"),
            );
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties").filter(|a| a.is_object());
        for (key, v) in map {
            let sub = properties.and_then(|p| p.get(key)).or(additional);
            if let Some(sub) = sub {
                let len = self.path.push_field(key);
                self.node(sub, v, depth + 1);
                self.path.truncate(len);
            }
        }
    }

    fn junctors(&mut self, schema: &Value, value: &Value, depth: usize) {
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for s in all {
                self.node(s, value, depth + 1);
            }
        }
        if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
            && !any.is_empty()
            && !any.iter().any(|s| self.passes(s, value, depth))
        {
            let detail = format!(
                "{} in body must validate at least one schema (anyOf)",
                self.name()
            );
            let e = FieldError::invalid(self.field(), value, &detail);
            self.errors.push(e);
        }
        if let Some(one) = schema.get("oneOf").and_then(Value::as_array)
            && !one.is_empty()
            && one.iter().filter(|s| self.passes(s, value, depth)).count() != 1
        {
            let detail = format!(
                "{} in body must validate one and only one schema (oneOf)",
                self.name()
            );
            let e = FieldError::invalid(self.field(), value, &detail);
            self.errors.push(e);
        }
        if let Some(not) = schema.get("not")
            && not.is_object()
            && self.passes(not, value, depth)
        {
            let detail = format!("{} in body must not validate the schema (not)", self.name());
            let e = FieldError::invalid(self.field(), value, &detail);
            self.errors.push(e);
        }
    }

    /// Whether `value` satisfies `schema`, without recording errors.
    fn passes(&mut self, schema: &Value, value: &Value, depth: usize) -> bool {
        let before = self.errors.len();
        self.node(schema, value, depth + 1);
        let ok = self.errors.len() == before;
        self.errors.truncate(before);
        ok
    }
}

fn is_integer(value: &Value) -> bool {
    match value {
        Value::Number(n) => {
            n.is_i64()
                || n.is_u64()
                || n.as_f64()
                    .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
        }
        _ => false,
    }
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "string" => value.is_string(),
        "integer" => is_integer(value),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => true,
    }
}

/// JSON equality with numbers compared by value (1 == 1.0).
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
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

fn first_duplicate(items: &[Value]) -> Option<&Value> {
    // Scalars are the common case: hash their canonical text.
    if items.iter().all(|v| !v.is_object() && !v.is_array()) {
        let mut seen = std::collections::HashSet::new();
        return items.iter().find(|v| {
            let key = match v {
                Value::Number(n) => n.as_f64().map(|f| f.to_string()).unwrap_or_default(),
                other => other.to_string(),
            };
            !seen.insert(key)
        });
    }
    items
        .iter()
        .enumerate()
        .find(|(i, v)| items[..*i].iter().any(|w| json_equal(v, w)))
        .map(|(_, v)| v)
}

/// A number as Go's `%v` prints a float64 bound.
fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e21 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

/// Compiled `pattern`s, shared across requests. `None` caches patterns that
/// do not compile (CRD validation rejects those; objects are not failed on them).
pub(crate) fn compiled(pattern: &str) -> Option<Arc<Regex>> {
    static CACHE: LazyLock<Mutex<HashMap<String, Option<Arc<Regex>>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut cache = CACHE.lock();
    if let Some(re) = cache.get(pattern) {
        return re.clone();
    }
    if cache.len() >= 4096 {
        cache.clear();
    }
    let re = regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .ok()
        .map(Arc::new);
    cache.insert(pattern.to_owned(), re.clone());
    re
}
