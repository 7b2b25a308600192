//! Unknown fields: what strict decoding (built-ins) or structural pruning
//! (custom resources) would drop.

use serde_json::{Map, Value};

use super::flag;
use crate::openapi::catalog::{self, Catalog, catalog};
use crate::registry::{Origin, ResourceType};

/// Deeper than any real object; guards against pathological input.
const MAX_DEPTH: usize = 200;

/// Paths of the fields of `obj` that the schema of `rt` does not declare, in
/// document order, named as kube-apiserver's strict decoding names them:
/// `spec.foo`, `spec.template.spec.containers[0].imagePullPolicyy`, `metadata.labelz`.
///
/// `apiVersion`, `kind` and `metadata` are always allowed at the root (the
/// latter checked against ObjectMeta); `status` only where the schema has it.
/// A built-in kind without a compiled-in schema reports nothing.
pub fn unknown_fields(rt: &ResourceType, obj: &Value) -> Vec<String> {
    find(rt, obj).into_iter().map(|u| u.path).collect()
}

/// [`unknown_fields`] by group, version and kind of a compiled-in type, for
/// bodies that are not registry types (`autoscaling/v1` Scale, `policy/v1`
/// Eviction, `v1` Binding). Unknown kinds report nothing.
pub fn unknown_builtin_fields(group: &str, version: &str, kind: &str, obj: &Value) -> Vec<String> {
    let mut walker = Walker::new();
    let cat = walker.cat;
    if let Some(schema) = cat
        .kind_schema_name(group, version, kind)
        .and_then(|name| cat.get(name))
    {
        walker.builtin(schema, obj, 0);
    }
    walker.out.into_iter().map(|u| u.path).collect()
}

/// [`unknown_fields`], also removing those fields from `obj` (what
/// kube-apiserver does under `fieldValidation=Ignore`/`Warn`). Removal follows
/// the structure, so map keys containing dots are handled.
pub fn prune_unknown_fields(rt: &ResourceType, obj: &mut Value) -> Vec<String> {
    let found = find(rt, obj);
    for u in &found {
        remove(obj, &u.segments);
    }
    found.into_iter().map(|u| u.path).collect()
}

/// Unknown fields of a value under a structural schema node, named from that
/// value (used to check CRD defaults).
pub(crate) fn structural_unknown(schema: &Value, value: &Value) -> Vec<String> {
    let mut walker = Walker::new();
    walker.structural(schema, value, 0);
    walker.out.into_iter().map(|u| u.path).collect()
}

fn find(rt: &ResourceType, obj: &Value) -> Vec<Unknown> {
    let mut walker = Walker::new();
    let cat = walker.cat;
    match &rt.origin {
        Origin::Builtin => {
            if let Some(schema) = cat
                .kind_schema_name(&rt.group, &rt.version, &rt.kind)
                .and_then(|name| cat.get(name))
            {
                walker.builtin(schema, obj, 0);
            }
        }
        Origin::Custom(cv) => {
            if let Value::Object(map) = obj {
                match &cv.schema {
                    Some(schema) => walker.structural_object(schema, map, 0, true),
                    // No schema: everything is preserved, but metadata is still ObjectMeta.
                    None => {
                        if let Some(meta) = map.get("metadata") {
                            walker.object_meta(meta, 0);
                        }
                    }
                }
            }
        }
    }
    walker.out
}

#[derive(Clone, Copy)]
enum Seg<'v> {
    Key(&'v str),
    Index(usize),
}

enum OwnedSeg {
    Key(String),
    Index(usize),
}

struct Unknown {
    path: String,
    segments: Vec<OwnedSeg>,
}

fn remove(obj: &mut Value, segments: &[OwnedSeg]) {
    let Some((OwnedSeg::Key(last), parents)) = segments.split_last() else {
        return;
    };
    let mut cur = obj;
    for seg in parents {
        let next = match seg {
            OwnedSeg::Key(k) => cur.get_mut(k.as_str()),
            OwnedSeg::Index(i) => cur.get_mut(*i),
        };
        match next {
            Some(v) => cur = v,
            None => return,
        }
    }
    if let Value::Object(map) = cur {
        map.shift_remove(last.as_str());
    }
}

struct Walker<'v> {
    cat: &'static Catalog,
    path: Vec<Seg<'v>>,
    out: Vec<Unknown>,
}

impl<'v> Walker<'v> {
    fn new() -> Self {
        Walker {
            cat: catalog(),
            path: Vec::new(),
            out: Vec::new(),
        }
    }

    fn unknown(&mut self) {
        let mut path = String::new();
        let mut segments = Vec::with_capacity(self.path.len());
        for seg in &self.path {
            match seg {
                Seg::Key(k) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    segments.push(OwnedSeg::Key((*k).to_owned()));
                }
                Seg::Index(i) => {
                    path.push_str(&format!("[{i}]"));
                    segments.push(OwnedSeg::Index(*i));
                }
            }
        }
        self.out.push(Unknown { path, segments });
    }

    /// `metadata` (of the root or of an embedded resource) against ObjectMeta.
    fn object_meta(&mut self, value: &'v Value, depth: usize) {
        self.path.push(Seg::Key("metadata"));
        if let Some(schema) = self.cat.get(catalog::OBJECT_META) {
            self.builtin(schema, value, depth + 1);
        }
        self.path.pop();
    }

    /// Walks a value against a k8s-openapi schema from the catalogue.
    fn builtin(&mut self, schema: &Value, value: &'v Value, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let schema = resolve(self.cat, schema);
        match value {
            Value::Object(map) => {
                let properties = schema.get("properties").and_then(Value::as_object);
                let additional = schema.get("additionalProperties");
                if properties.is_none() && additional.is_none() {
                    // `JSONSchemaPropsOrBool` and friends: follow the
                    // alternative that describes an object.
                    if let Some(alt) = alternative(self.cat, schema, value) {
                        self.builtin(alt, value, depth + 1);
                    }
                    // Otherwise free-form: RawExtension, FieldsV1, JSON, Patch.
                    return;
                }
                let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
                for (key, v) in map {
                    self.path.push(Seg::Key(key));
                    if let Some(p) = properties.and_then(|p| p.get(key)) {
                        self.builtin(p, v, depth + 1);
                    } else {
                        match additional {
                            Some(a @ Value::Object(_)) => self.builtin(a, v, depth + 1),
                            Some(Value::Bool(true)) => {}
                            _ if preserve => {}
                            _ => self.unknown(),
                        }
                    }
                    self.path.pop();
                }
            }
            Value::Array(items) => {
                let item_schema = schema
                    .get("items")
                    .or_else(|| alternative(self.cat, schema, value).and_then(|a| a.get("items")));
                if let Some(item_schema) = item_schema {
                    for (i, v) in items.iter().enumerate() {
                        self.path.push(Seg::Index(i));
                        self.builtin(item_schema, v, depth + 1);
                        self.path.pop();
                    }
                }
            }
            _ => {}
        }
    }

    /// Walks a value against a structural (CRD) schema.
    fn structural(&mut self, schema: &Value, value: &'v Value, depth: usize) {
        if depth > MAX_DEPTH || flag(schema, "x-kubernetes-int-or-string") {
            return;
        }
        match value {
            Value::Object(map) => self.structural_object(schema, map, depth, false),
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                    for (i, v) in items.iter().enumerate() {
                        self.path.push(Seg::Index(i));
                        self.structural(item_schema, v, depth + 1);
                        self.path.pop();
                    }
                }
            }
            _ => {}
        }
    }

    fn structural_object(
        &mut self,
        schema: &Value,
        map: &'v Map<String, Value>,
        depth: usize,
        root: bool,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
        let embedded = root || flag(schema, "x-kubernetes-embedded-resource");
        for (key, v) in map {
            if embedded {
                match key.as_str() {
                    "metadata" => {
                        self.object_meta(v, depth);
                        continue;
                    }
                    "apiVersion" | "kind" if properties.is_none_or(|p| !p.contains_key(key)) => {
                        continue;
                    }
                    _ => {}
                }
            }
            self.path.push(Seg::Key(key));
            if let Some(p) = properties.and_then(|p| p.get(key)) {
                self.structural(p, v, depth + 1);
            } else {
                match additional {
                    Some(a @ Value::Object(_)) => self.structural(a, v, depth + 1),
                    Some(Value::Bool(true)) => {}
                    _ if preserve => {}
                    _ => self.unknown(),
                }
            }
            self.path.pop();
        }
    }
}

/// Follows `$ref`s, and `allOf` wrappers around a single reference (how
/// schemars writes a reference carrying its own description).
fn resolve<'a>(cat: &'a Catalog, mut schema: &'a Value) -> &'a Value {
    for _ in 0..32 {
        if let Some(target) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| cat.resolve_ref(r))
        {
            schema = target;
            continue;
        }
        if schema.get("properties").is_none()
            && schema.get("items").is_none()
            && schema.get("additionalProperties").is_none()
            && let Some([only]) = schema
                .get("allOf")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
        {
            schema = only;
            continue;
        }
        break;
    }
    schema
}

/// Of a `oneOf`/`anyOf`, the alternative whose type fits the value.
fn alternative<'a>(cat: &'a Catalog, schema: &'a Value, value: &Value) -> Option<&'a Value> {
    let alts = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)?;
    alts.iter().map(|a| resolve(cat, a)).find(|a| {
        let ty = a.get("type").and_then(Value::as_str);
        match value {
            Value::Object(_) => {
                ty == Some("object") || (ty.is_none() && a.get("properties").is_some())
            }
            Value::Array(_) => ty == Some("array"),
            _ => false,
        }
    })
}
