//! `metadata` of every object, built in or custom, and label selectors.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::names;
use super::util::{Errs, Raw, arr_of, field, int_of, map_of, string};

/// The rule an object's name must follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain: most kinds.
    Subdomain,
    /// DNS-1123 label: namespaces.
    Label,
    /// DNS-1035 label: services.
    Dns1035,
    /// One URL path segment: RBAC kinds.
    PathSegment,
}

impl NameRule {
    pub fn check(self, name: &str) -> Vec<String> {
        match self {
            NameRule::Subdomain => names::is_dns1123_subdomain(name),
            NameRule::Label => names::is_dns1123_label(name),
            NameRule::Dns1035 => names::is_dns1035_label(name),
            NameRule::PathSegment => names::is_valid_path_segment_name(name),
        }
    }
}

/// Total bytes of keys and values all annotations may take.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

const ORPHAN_FINALIZER: &str = "orphan";
const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// Validates `metadata`; `old` is the stored object on update.
pub fn validate_object_meta(
    errs: &mut Errs,
    obj: &Value,
    old: Option<&Value>,
    namespaced: bool,
    rule: NameRule,
) {
    let empty = Value::Object(Map::new());
    let meta = field(obj, "metadata").unwrap_or(&empty);
    let name = string(meta, "name");
    let generate_name = string(meta, "generateName");

    if name.is_empty() {
        if generate_name.is_empty() || old.is_some() {
            errs.required("metadata.name", "name or generateName is required");
        }
    } else {
        errs.invalid_each("metadata.name", name, rule.check(name));
    }
    if old.is_none() && !generate_name.is_empty() {
        let masked = names::mask_trailing_dash(generate_name);
        errs.invalid_each("metadata.generateName", generate_name, rule.check(&masked));
    }

    let namespace = string(meta, "namespace");
    if namespaced {
        if namespace.is_empty() {
            errs.required("metadata.namespace", "");
        } else {
            errs.invalid_each(
                "metadata.namespace",
                namespace,
                names::is_dns1123_label(namespace),
            );
        }
    } else if !namespace.is_empty() {
        errs.forbidden("metadata.namespace", "not allowed on this type");
    }

    errs.non_negative("metadata.generation", int_of(meta, "generation"));
    validate_labels(errs, map_of(meta, "labels"), "metadata.labels");
    validate_annotations(errs, map_of(meta, "annotations"), "metadata.annotations");
    validate_owner_references(errs, arr_of(meta, "ownerReferences"));
    validate_finalizers(errs, arr_of(meta, "finalizers"), "metadata.finalizers");

    if let Some(old) = old {
        let old_meta = field(old, "metadata").unwrap_or(&empty);
        for key in ["name", "namespace"] {
            let (n, o) = (string(meta, key), string(old_meta, key));
            if n != o {
                errs.invalid(format!("metadata.{key}"), n, "field is immutable");
            }
        }
        // An absent uid or creationTimestamp on update means "keep the stored one".
        for key in ["uid", "creationTimestamp"] {
            let (n, o) = (string(meta, key), string(old_meta, key));
            if !n.is_empty() && !o.is_empty() && n != o {
                errs.invalid(format!("metadata.{key}"), n, "field is immutable");
            }
        }
        if field(old_meta, "deletionTimestamp").is_some() {
            let before: HashSet<&str> = arr_of(old_meta, "finalizers")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let added: Vec<&str> = arr_of(meta, "finalizers")
                .iter()
                .filter_map(Value::as_str)
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                let list: Vec<String> = added.iter().map(|f| super::util::go_quote(f)).collect();
                errs.forbidden(
                    "metadata.finalizers",
                    &format!(
                        "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                        list.join(", ")
                    ),
                );
            }
        }
    }
}

/// Label keys must be qualified names, values valid label values.
pub fn validate_labels(errs: &mut Errs, labels: Option<&Map<String, Value>>, path: &str) {
    let Some(labels) = labels else { return };
    for (k, v) in labels {
        errs.invalid_each(path, k, names::is_qualified_name(k));
        match v.as_str() {
            Some(v) => errs.invalid_each(path, v, names::is_valid_label_value(v)),
            None if v.is_null() => {}
            None => errs.invalid(path, v, "label values must be strings"),
        }
    }
}

/// Annotation keys are qualified names (case-insensitively); all together
/// they may take 256 KiB.
pub fn validate_annotations(errs: &mut Errs, annotations: Option<&Map<String, Value>>, path: &str) {
    let Some(annotations) = annotations else {
        return;
    };
    let mut total = 0usize;
    for (k, v) in annotations {
        errs.invalid_each(path, k, names::is_qualified_name(&k.to_lowercase()));
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT);
    }
}

fn validate_owner_references(errs: &mut Errs, refs: &[Value]) {
    const PATH: &str = "metadata.ownerReferences";
    let mut first_controller: Option<String> = None;
    for r in refs {
        let api_version = string(r, "apiVersion");
        // "apps/v1" → version "v1"; "v1" → "v1"; "apps/" → "".
        let version = api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.invalid(
                format!("{PATH}.apiVersion"),
                api_version,
                "version must not be empty",
            );
        }
        for (key, what) in [("kind", "kind"), ("name", "name"), ("uid", "uid")] {
            let v = string(r, key);
            if v.is_empty() {
                errs.invalid(
                    format!("{PATH}.{key}"),
                    v,
                    &format!("{what} must not be empty"),
                );
            }
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let this = format!("{}/{}", string(r, "kind"), string(r, "name"));
            match &first_controller {
                Some(first) => errs.invalid(
                    PATH,
                    Raw(Value::Array(refs.to_vec()).to_string()),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {this}"
                    ),
                ),
                None => first_controller = Some(this),
            }
        }
    }
}

/// Finalizers are qualified names; orphan and foregroundDeletion exclude each other.
pub fn validate_finalizers(errs: &mut Errs, finalizers: &[Value], path: &str) {
    let mut orphan = false;
    let mut foreground = false;
    for f in finalizers {
        let Some(f) = f.as_str() else {
            errs.invalid(path, f, "finalizers must be strings");
            continue;
        };
        errs.invalid_each(path, f, names::is_qualified_name(f));
        orphan |= f == ORPHAN_FINALIZER;
        foreground |= f == FOREGROUND_FINALIZER;
    }
    if orphan && foreground {
        errs.invalid(
            path,
            Raw(Value::Array(finalizers.to_vec()).to_string()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        );
    }
}

// ---- label selectors ----

const SELECTOR_OPERATORS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist"];

/// Validates a `metav1.LabelSelector` at `path`.
pub fn validate_label_selector(errs: &mut Errs, sel: &Value, path: &str) {
    validate_labels(
        errs,
        map_of(sel, "matchLabels"),
        &format!("{path}.matchLabels"),
    );
    for (i, expr) in arr_of(sel, "matchExpressions").iter().enumerate() {
        let p = format!("{path}.matchExpressions[{i}]");
        let op = string(expr, "operator");
        let values = arr_of(expr, "values");
        match op {
            "In" | "NotIn" if values.is_empty() => errs.required(
                format!("{p}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            ),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.forbidden(
                format!("{p}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ),
            _ if !SELECTOR_OPERATORS.contains(&op) => {
                errs.invalid(format!("{p}.operator"), op, "not a valid selector operator")
            }
            _ => {}
        }
        let key = string(expr, "key");
        errs.invalid_each(&format!("{p}.key"), key, names::is_qualified_name(key));
        for (j, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or_default();
            errs.invalid_each(
                &format!("{p}.values[{j}]"),
                v,
                names::is_valid_label_value(v),
            );
        }
    }
}

/// Whether a selector has no requirements at all.
pub fn selector_is_empty(sel: &Value) -> bool {
    map_of(sel, "matchLabels").is_none_or(Map::is_empty)
        && arr_of(sel, "matchExpressions").is_empty()
}

/// Whether `labels` satisfy the selector; an empty selector matches everything.
pub fn selector_matches(sel: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    if let Some(ml) = map_of(sel, "matchLabels") {
        for (k, v) in ml {
            if get(k) != v.as_str() {
                return false;
            }
        }
    }
    for expr in arr_of(sel, "matchExpressions") {
        let have = get(string(expr, "key"));
        let in_values = |h: &str| arr_of(expr, "values").iter().any(|v| v.as_str() == Some(h));
        let ok = match string(expr, "operator") {
            "In" => have.is_some_and(in_values),
            "NotIn" => !have.is_some_and(in_values),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}
