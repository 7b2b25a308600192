//! Walking objects with the type graph of their kind: the field set of a
//! value, the fields two values differ in, the merge of an applied
//! configuration into a live object, and the removal of fields.
//!
//! The topology comes from the patch metadata of the built-in types
//! ([`crate::patch::schema`]):
//!
//! * a list with a merge key is associative: each item is a field of its own,
//!   named by its key (`k:{"name":"c"}`), and its fields are fields too;
//! * a list of scalars merged as a set is set-like: each value is a field
//!   (`v:"x"`);
//! * any other list is atomic: the whole list is one field;
//! * objects (structs and maps such as `labels` or `data`) are granular: each
//!   key is a field, except the few structs Kubernetes declares atomic (label
//!   selectors of workloads, `patchStrategy:"replace"` objects).
//!
//! Kinds the type graph does not know (custom resources) are granular objects
//! with atomic lists, their `metadata` typed as usual.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::path::{Path, PathElement};
use super::set::FieldSet;
use crate::patch::canonical_key;
use crate::patch::json_equal;
use crate::patch::schema::{FieldMeta, ListStrategy, Ty, field_meta, root_type};

/// `metadata` fields that no manager owns: the server sets them, or they name
/// the object.
const STRIPPED_META: &[&str] = &[
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "clusterName",
    "generation",
    "managedFields",
    "resourceVersion",
];

/// Structs Kubernetes declares `+structType=atomic` that the patch metadata
/// does not mark: the label selectors of workloads.
const ATOMIC_STRUCTS: &[(Ty, &str)] = &[
    (Ty::WorkloadSpec, "selector"),
    (Ty::StatefulSetSpec, "selector"),
    (Ty::JobSpec, "selector"),
];

/// Key fields of an associative list beyond its merge key, with defaults.
type DefaultedKeys = &'static [(&'static str, &'static str)];

/// Associative lists keyed by more than their patch merge key, as server-side
/// apply keys them: ports by port number and protocol (so 53/TCP and 53/UDP
/// are two items), the protocol defaulting to TCP when an item omits it.
const EXTRA_KEYS: &[(Ty, &str, DefaultedKeys)] = &[
    (Ty::Container, "ports", &[("protocol", "TCP")]),
    (Ty::ServiceSpec, "ports", &[("protocol", "TCP")]),
];

/// The default of a key field an item may omit.
fn key_default(field: &str) -> Option<&'static str> {
    EXTRA_KEYS
        .iter()
        .flat_map(|(_, _, extra)| extra.iter())
        .find(|(k, _)| *k == field)
        .map(|(_, d)| *d)
}

/// Top-level fields of built-in kinds that are maps rather than structs.
const TOP_LEVEL_MAPS: &[&str] = &["data", "binaryData", "stringData"];

/// The type graph of one kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Types {
    root: Ty,
    known: bool,
}

impl Types {
    pub(crate) fn for_kind(kind: &str) -> Types {
        match root_type(kind) {
            Some(root) => Types { root, known: true },
            None => Types {
                root: Ty::MetadataOnly,
                known: false,
            },
        }
    }

    fn root(self) -> Ctx {
        Ctx {
            ty: Some(self.root),
            level: Level::Root,
            known: self.known,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Meta,
    Nested,
}

/// An object value's place: its type and how deep it is.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    ty: Option<Ty>,
    level: Level,
    known: bool,
}

/// A field of an object, as the type graph sees it.
struct Field {
    meta: FieldMeta,
    /// The context of the field's object value, or of its list items.
    child: Ctx,
    /// An object value created by a write is itself a field of the write
    /// (FieldsV1 `.`): true for maps and optional structs, false for the
    /// structs a Kubernetes object always has (`spec`, `template`, ...).
    marks_self: bool,
    /// Key fields beyond the merge key, with their defaults.
    extra_keys: DefaultedKeys,
}

/// The key fields of an associative list: the merge key (required), then
/// fields with defaults.
#[derive(Clone, Copy)]
struct Keys {
    first: &'static str,
    extra: DefaultedKeys,
}

enum ListKind {
    Atomic,
    Assoc(Keys),
    Set,
}

impl Ctx {
    /// Keys that are never fields of anyone.
    fn skips(self, key: &str) -> bool {
        match self.level {
            Level::Root => matches!(key, "apiVersion" | "kind"),
            Level::Meta => STRIPPED_META.contains(&key),
            Level::Nested => false,
        }
    }

    fn field(self, name: &str) -> Field {
        let mut meta = field_meta(self.ty, name);
        if ATOMIC_STRUCTS
            .iter()
            .any(|(t, f)| Some(*t) == self.ty && *f == name)
        {
            meta.replace_object = true;
        }
        let extra_keys = EXTRA_KEYS
            .iter()
            .find(|(t, f, _)| Some(*t) == self.ty && *f == name)
            .map_or(&[][..], |(_, _, extra)| *extra);
        let typed_struct = meta.ty.is_some() && matches!(meta.list, ListStrategy::Atomic);
        let root_struct =
            self.level == Level::Root && self.known && !TOP_LEVEL_MAPS.contains(&name);
        Field {
            meta,
            child: Ctx {
                ty: meta.ty,
                level: if self.level == Level::Root && name == "metadata" {
                    Level::Meta
                } else {
                    Level::Nested
                },
                known: self.known,
            },
            marks_self: !typed_struct && !root_struct,
            extra_keys,
        }
    }
}

impl Field {
    fn list_kind(&self) -> ListKind {
        match self.meta.list {
            ListStrategy::Atomic => ListKind::Atomic,
            ListStrategy::MergeByKey(first) => ListKind::Assoc(Keys {
                first,
                extra: self.extra_keys,
            }),
            ListStrategy::MergeSet => ListKind::Set,
        }
    }

    fn atomic_object(&self) -> bool {
        self.meta.replace_object
    }
}

/// A configuration that does not fit its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidField {
    pub(crate) path: String,
    pub(crate) message: String,
}

/// The items of an associative list by key; an error names the first item
/// without its key or with a key seen before.
fn keyed(items: &[Value], keys: Keys) -> Result<Vec<(PathElement, &Value)>, String> {
    let key = keys.first;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(format!(
                "element {i}: associative list with key {key:?} has an element that is not an object"
            ));
        };
        let k = match m.get(key) {
            None | Some(Value::Null) => {
                return Err(format!(
                    "element {i}: associative list with key {key:?} has an element that omits the key field"
                ));
            }
            Some(Value::Object(_) | Value::Array(_)) => {
                return Err(format!(
                    "element {i}: the key field {key:?} must be a string, number or boolean"
                ));
            }
            Some(k) => k,
        };
        let defaults: Vec<(&str, Value)> = keys
            .extra
            .iter()
            .map(|(name, default)| {
                let v = m
                    .get(*name)
                    .filter(|v| !v.is_null())
                    .cloned()
                    .unwrap_or_else(|| Value::String((*default).to_owned()));
                (*name, v)
            })
            .collect();
        let pe = PathElement::key(
            std::iter::once((key, k)).chain(defaults.iter().map(|(n, v)| (*n, v))),
        );
        if !seen.insert(pe.clone()) {
            return Err(format!("duplicate entries for key {pe}"));
        }
        out.push((pe, item));
    }
    Ok(out)
}

/// The items of a set-like list; an error names a non-scalar or repeated item.
fn set_items(items: &[Value]) -> Result<Vec<(PathElement, &Value)>, String> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if item.is_object() || item.is_array() || item.is_null() {
            return Err(format!(
                "element {i}: a set-like list can only hold strings, numbers and booleans"
            ));
        }
        let pe = PathElement::value(item);
        if !seen.insert(pe.clone()) {
            return Err(format!(
                "duplicate entries for value {}",
                &pe.to_string()[1..]
            ));
        }
        out.push((pe, item));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Field sets

/// The fields `v` sets. With `strict`, a list item without its key (or with
/// a duplicate key) is an error, as it is in an applied configuration;
/// otherwise such a list counts as one atomic field.
pub(crate) fn field_set(v: &Value, types: Types, strict: bool) -> Result<FieldSet, InvalidField> {
    let mut out = FieldSet::new();
    if let Value::Object(m) = v {
        let mut path = Path::default();
        let how = if strict { CONFIG } else { LENIENT };
        collect_object(m, types.root(), &mut path, &mut out, how)?;
    }
    strip(&mut out);
    Ok(out)
}

/// Removes the paths no manager ever owns.
fn strip(set: &mut FieldSet) {
    set.remove(&Path::fields(["metadata"]));
}

/// How to collect fields.
#[derive(Clone, Copy)]
struct Collect {
    /// Fail on malformed associative and set-like lists (else: atomic).
    strict: bool,
    /// Count objects that mark themselves (FieldsV1 `.`), as a write that
    /// creates them does.
    marks: bool,
}

const CONFIG: Collect = Collect {
    strict: true,
    marks: false,
};
const LENIENT: Collect = Collect {
    strict: false,
    marks: false,
};
const WRITTEN: Collect = Collect {
    strict: false,
    marks: true,
};

fn collect_object(
    m: &Map<String, Value>,
    ctx: Ctx,
    path: &mut Path,
    out: &mut FieldSet,
    how: Collect,
) -> Result<(), InvalidField> {
    for (k, v) in m {
        if ctx.skips(k) {
            continue;
        }
        let f = ctx.field(k);
        path.0.push(PathElement::Field(k.clone()));
        collect_value(v, &f, path, out, how)?;
        path.0.pop();
    }
    Ok(())
}

fn collect_value(
    v: &Value,
    f: &Field,
    path: &mut Path,
    out: &mut FieldSet,
    how: Collect,
) -> Result<(), InvalidField> {
    let invalid = |path: &Path, message: String| InvalidField {
        path: path.to_string(),
        message,
    };
    match v {
        Value::Object(m) if !m.is_empty() && !f.atomic_object() => {
            if how.marks && f.marks_self {
                out.insert(path.clone());
            }
            collect_object(m, f.child, path, out, how)
        }
        Value::Array(items) => match f.list_kind() {
            ListKind::Assoc(keys) => match keyed(items, keys) {
                Ok(entries) => {
                    for (pe, item) in entries {
                        path.0.push(pe);
                        out.insert(path.clone());
                        if let Value::Object(m) = item {
                            collect_object(m, f.child, path, out, how)?;
                        }
                        path.0.pop();
                    }
                    Ok(())
                }
                Err(message) if how.strict => Err(invalid(path, message)),
                Err(_) => {
                    out.insert(path.clone());
                    Ok(())
                }
            },
            ListKind::Set => match set_items(items) {
                Ok(entries) => {
                    for (pe, _) in entries {
                        out.insert(path.child(pe));
                    }
                    Ok(())
                }
                Err(message) if how.strict => Err(invalid(path, message)),
                Err(_) => {
                    out.insert(path.clone());
                    Ok(())
                }
            },
            ListKind::Atomic => {
                out.insert(path.clone());
                Ok(())
            }
        },
        _ => {
            out.insert(path.clone());
            Ok(())
        }
    }
}

/// The fields of a value a write creates or deletes, objects that mark
/// themselves included (never fails: malformed lists count as atomic).
fn subtree(v: &Value, f: &Field, path: &mut Path) -> FieldSet {
    let mut s = FieldSet::new();
    // Lenient collection cannot fail.
    let _ = collect_value(v, f, path, &mut s, WRITTEN);
    s
}

// ---------------------------------------------------------------------------
// Fields of a created object, straight to FieldsV1

/// The FieldsV1 tree of the fields a create of `v` sets: the same tree as
/// `compare(&{}, v, types).changed().to_fields_v1()`, built in one walk of
/// `v` without a [`Path`] per field (a create owns every field, so nothing
/// needs comparing or set arithmetic). Empty when `v` sets no field.
pub(crate) fn created_fields_v1(v: &Value, types: Types) -> Map<String, Value> {
    match v {
        Value::Object(m) => created_object(m, types.root(), false),
        _ => Map::new(),
    }
}

/// The FieldsV1 node of a created object: its fields, after `".": {}` when
/// the object is a field itself (`member`) and has fields.
fn created_object(m: &Map<String, Value>, ctx: Ctx, member: bool) -> Map<String, Value> {
    // FieldsV1 keys are sorted as paths are: fields by name.
    let mut fields: Vec<(&String, &Value)> = m.iter().filter(|(k, _)| !ctx.skips(k)).collect();
    fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut out = Map::with_capacity(fields.len() + usize::from(member));
    if member {
        out.insert(".".to_owned(), Value::Object(Map::new()));
    }
    for (k, v) in fields {
        let f = ctx.field(k);
        // `strip`: the top-level `metadata` is never a field of anyone.
        let never = ctx.level == Level::Root && k == "metadata";
        if let Some(node) = created_value(v, &f, never) {
            let mut key = String::with_capacity(k.len() + 2);
            key.push_str("f:");
            key.push_str(k);
            out.insert(key, node);
        }
    }
    if member && out.len() == 1 {
        // Only the `.`: a field without fields below it is `{}`.
        out.clear();
    }
    out
}

/// The FieldsV1 node of a created value (what `collect_value` collects with
/// [`WRITTEN`]), or `None` when it is not a field and has none below it.
/// `never`: the value is not a field itself, whatever it is.
fn created_value(v: &Value, f: &Field, never: bool) -> Option<Value> {
    let leaf = || (!never).then(|| Value::Object(Map::new()));
    let children = match v {
        Value::Object(m) if !m.is_empty() && !f.atomic_object() => {
            let member = f.marks_self && !never;
            let children = created_object(m, f.child, member);
            if children.is_empty() && member {
                return leaf();
            }
            children
        }
        Value::Array(items) => match f.list_kind() {
            ListKind::Assoc(keys) => match keyed_sorted(items, keys) {
                Some(entries) => {
                    let mut out = Map::with_capacity(entries.len());
                    for (pe, item) in entries {
                        let node = match item {
                            Value::Object(m) => created_object(m, f.child, true),
                            _ => Map::new(),
                        };
                        out.insert(pe.to_fields_v1_key(), Value::Object(node));
                    }
                    out
                }
                None => return leaf(),
            },
            ListKind::Set => match set_items(items) {
                Ok(mut entries) => {
                    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                    entries
                        .into_iter()
                        .map(|(pe, _)| (pe.to_fields_v1_key(), Value::Object(Map::new())))
                        .collect()
                }
                Err(_) => return leaf(),
            },
            ListKind::Atomic => return leaf(),
        },
        _ => return leaf(),
    };
    (!children.is_empty()).then_some(Value::Object(children))
}

/// [`keyed`], sorted by key, without the error message: `None` for a list
/// that is not a proper associative list (and so is one atomic field).
fn keyed_sorted(items: &[Value], keys: Keys) -> Option<Vec<(PathElement, &Value)>> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(m) = item else {
            return None;
        };
        let first = match m.get(keys.first) {
            None | Some(Value::Null | Value::Object(_) | Value::Array(_)) => return None,
            Some(k) => k,
        };
        let pe = if keys.extra.is_empty() {
            PathElement::Key(vec![(keys.first.to_owned(), canonical_key(first))])
        } else {
            let defaults: Vec<(&str, Value)> = keys
                .extra
                .iter()
                .map(|(name, default)| {
                    let v = m
                        .get(*name)
                        .filter(|v| !v.is_null())
                        .cloned()
                        .unwrap_or_else(|| Value::String((*default).to_owned()));
                    (*name, v)
                })
                .collect();
            PathElement::key(
                std::iter::once((keys.first, first)).chain(defaults.iter().map(|(n, v)| (*n, v))),
            )
        };
        out.push((pe, item));
    }
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if out.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Comparison

/// How two versions of an object differ, field by field.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    /// Fields the new version has and the old one does not.
    pub(crate) added: FieldSet,
    /// Fields both have, with different values.
    pub(crate) modified: FieldSet,
    /// Fields the old version has and the new one does not.
    pub(crate) removed: FieldSet,
}

impl Comparison {
    /// Added or modified: the fields a write set.
    pub(crate) fn changed(&self) -> FieldSet {
        self.added.union(&self.modified)
    }
}

pub(crate) fn compare(old: &Value, new: &Value, types: Types) -> Comparison {
    let empty = Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let mut c = Comparison::default();
    let mut path = Path::default();
    cmp_object(old, new, types.root(), &mut path, &mut c);
    strip(&mut c.added);
    strip(&mut c.modified);
    strip(&mut c.removed);
    c
}

fn cmp_object(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    ctx: Ctx,
    path: &mut Path,
    c: &mut Comparison,
) {
    for (k, nv) in new {
        if ctx.skips(k) {
            continue;
        }
        let f = ctx.field(k);
        path.0.push(PathElement::Field(k.clone()));
        match old.get(k) {
            Some(ov) => cmp_value(ov, nv, &f, path, c),
            None => added(nv, &f, path, c),
        }
        path.0.pop();
    }
    for (k, ov) in old {
        if ctx.skips(k) || new.contains_key(k) {
            continue;
        }
        let f = ctx.field(k);
        path.0.push(PathElement::Field(k.clone()));
        removed(ov, &f, path, c);
        path.0.pop();
    }
}

fn cmp_value(ov: &Value, nv: &Value, f: &Field, path: &mut Path, c: &mut Comparison) {
    // Equal values have no differences below them: skip the walk (most of
    // an update's object is unchanged).
    if json_equal(ov, nv) {
        return;
    }
    match (ov, nv) {
        (Value::Object(a), Value::Object(b)) if !f.atomic_object() => {
            cmp_object(a, b, f.child, path, c);
        }
        (Value::Array(a), Value::Array(b)) => {
            let pairs = match f.list_kind() {
                ListKind::Assoc(keys) => keyed(a, keys).ok().zip(keyed(b, keys).ok()),
                ListKind::Set => set_items(a).ok().zip(set_items(b).ok()),
                ListKind::Atomic => None,
            };
            let Some((old_items, new_items)) = pairs else {
                return leaf(ov, nv, f, path, c);
            };
            let by_key: HashMap<&PathElement, &Value> =
                old_items.iter().map(|(k, v)| (k, *v)).collect();
            let new_keys: HashSet<&PathElement> = new_items.iter().map(|(k, _)| k).collect();
            for (pe, item) in &new_items {
                path.0.push(pe.clone());
                match (by_key.get(pe), item) {
                    (Some(Value::Object(a)), Value::Object(b)) => {
                        cmp_object(a, b, f.child, path, c);
                    }
                    (Some(_), _) => {}
                    (None, item) => {
                        c.added.insert(path.clone());
                        if let Value::Object(m) = item {
                            let _ = collect_object(m, f.child, path, &mut c.added, WRITTEN);
                        }
                    }
                }
                path.0.pop();
            }
            for (pe, item) in &old_items {
                if new_keys.contains(pe) {
                    continue;
                }
                path.0.push(pe.clone());
                c.removed.insert(path.clone());
                if let Value::Object(m) = item {
                    let _ = collect_object(m, f.child, path, &mut c.removed, WRITTEN);
                }
                path.0.pop();
            }
        }
        _ => leaf(ov, nv, f, path, c),
    }
}

fn leaf(ov: &Value, nv: &Value, f: &Field, path: &mut Path, c: &mut Comparison) {
    if json_equal(ov, nv) {
        return;
    }
    c.modified.insert(path.clone());
    // A value whose shape changed (an object replaced by a scalar, ...):
    // its old inner fields are gone and its new ones are set.
    let mut old_inner = subtree(ov, f, path);
    old_inner.remove(path);
    c.removed.extend(&old_inner);
    let mut new_inner = subtree(nv, f, path);
    new_inner.remove(path);
    c.added.extend(&new_inner);
}

fn added(nv: &Value, f: &Field, path: &mut Path, c: &mut Comparison) {
    let s = subtree(nv, f, path);
    c.added.extend(&s);
}

fn removed(ov: &Value, f: &Field, path: &mut Path, c: &mut Comparison) {
    c.removed.insert(path.clone());
    let s = subtree(ov, f, path);
    c.removed.extend(&s);
}

// ---------------------------------------------------------------------------
// Merge

/// `config` merged into `live`: objects key by key, associative and set-like
/// lists item by item (items of `config` in its order, items only `live` has
/// kept after the item they followed), anything else replaced by `config`'s
/// value. A `null` in `config` removes the field.
pub(crate) fn merge(live: &Value, config: &Value, types: Types) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) => Value::Object(merge_object(l, c, types.root())),
        (_, c) => without_nulls(c),
    }
}

fn merge_object(
    live: &Map<String, Value>,
    config: &Map<String, Value>,
    ctx: Ctx,
) -> Map<String, Value> {
    let mut out = live.clone();
    for (k, cv) in config {
        if cv.is_null() {
            out.shift_remove(k);
            continue;
        }
        let f = ctx.field(k);
        let merged = match out.get(k) {
            Some(lv) => merge_value(lv, cv, &f),
            None => without_nulls(cv),
        };
        out.insert(k.clone(), merged);
    }
    out
}

fn merge_value(lv: &Value, cv: &Value, f: &Field) -> Value {
    match (lv, cv) {
        (Value::Object(l), Value::Object(c)) if !f.atomic_object() => {
            Value::Object(merge_object(l, c, f.child))
        }
        (Value::Array(l), Value::Array(c)) => {
            let pairs = match f.list_kind() {
                ListKind::Assoc(keys) => keyed(l, keys).ok().zip(keyed(c, keys).ok()),
                ListKind::Set => set_items(l).ok().zip(set_items(c).ok()),
                ListKind::Atomic => None,
            };
            match pairs {
                Some((live_items, config_items)) => {
                    Value::Array(interleave(&live_items, &config_items, |l, c| {
                        match (l, c) {
                            (Some(Value::Object(l)), Value::Object(c)) => {
                                Value::Object(merge_object(l, c, f.child))
                            }
                            (_, c) => without_nulls(c),
                        }
                    }))
                }
                None => without_nulls(cv),
            }
        }
        (_, c) => without_nulls(c),
    }
}

/// Merges two keyed lists: `config`'s items in its order, each merged with
/// the live item of the same key; a live item `config` lacks stays right
/// after the live item it followed (or first, if no shared item precedes it).
fn interleave(
    live: &[(PathElement, &Value)],
    config: &[(PathElement, &Value)],
    merge: impl Fn(Option<&Value>, &Value) -> Value,
) -> Vec<Value> {
    let config_keys: HashSet<&PathElement> = config.iter().map(|(k, _)| k).collect();
    let mut leading: Vec<&Value> = Vec::new();
    let mut following: HashMap<&PathElement, Vec<&Value>> = HashMap::new();
    let mut live_by_key: HashMap<&PathElement, &Value> = HashMap::new();
    let mut last_shared: Option<&PathElement> = None;
    for (pe, v) in live {
        if config_keys.contains(pe) {
            live_by_key.insert(pe, v);
            last_shared = Some(pe);
        } else {
            match last_shared {
                None => leading.push(v),
                Some(s) => following.entry(s).or_default().push(v),
            }
        }
    }
    let mut out: Vec<Value> = leading.into_iter().cloned().collect();
    for (pe, cv) in config {
        out.push(merge(live_by_key.get(pe).copied(), cv));
        if let Some(rest) = following.get(pe) {
            out.extend(rest.iter().map(|v| (*v).clone()));
        }
    }
    out
}

/// `v` without the `null` fields of its objects.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------
// Removal

/// Removes the fields of `doomed` from `obj`. A field under which `keep` has
/// a field stays (its other doomed fields go one by one); objects and lists
/// emptied by a removal go too unless `keep` has them; the key fields of a
/// list item that stays are never removed.
pub(crate) fn remove_fields(obj: &mut Value, doomed: &FieldSet, keep: &FieldSet) {
    for path in doomed.iter().rev() {
        if path.is_empty() || keep.has_descendant(path) {
            continue;
        }
        remove_at(obj, path, 0, keep, None);
    }
}

fn remove_at(
    node: &mut Value,
    full: &Path,
    depth: usize,
    keep: &FieldSet,
    item_keys: Option<&[(String, String)]>,
) {
    let elems = full.elements();
    let Some(e) = elems.get(depth) else {
        return;
    };
    let last = depth + 1 == elems.len();
    match (node, e) {
        (Value::Object(m), PathElement::Field(name)) => {
            if item_keys.is_some_and(|keys| keys.iter().any(|(k, _)| k == name)) {
                return;
            }
            if last {
                m.shift_remove(name);
                return;
            }
            let Some(child) = m.get_mut(name) else {
                return;
            };
            remove_at(child, full, depth + 1, keep, None);
            let emptied = match &*child {
                Value::Object(c) => c.is_empty(),
                Value::Array(c) => c.is_empty(),
                _ => false,
            };
            if emptied && !keep.contains(&Path(elems[..=depth].to_vec())) {
                m.shift_remove(name);
            }
        }
        (Value::Array(items), PathElement::Key(pairs)) => {
            let Some(idx) = items.iter().position(|it| item_matches(it, pairs)) else {
                return;
            };
            if last {
                items.remove(idx);
            } else if let Some(item) = items.get_mut(idx) {
                remove_at(item, full, depth + 1, keep, Some(pairs));
            }
        }
        (Value::Array(items), PathElement::Value(v)) if last => {
            items.retain(|it| canonical_key(it) != *v);
        }
        (Value::Array(items), PathElement::Index(i)) => {
            if last {
                if *i < items.len() {
                    items.remove(*i);
                }
            } else if let Some(item) = items.get_mut(*i) {
                remove_at(item, full, depth + 1, keep, None);
            }
        }
        _ => {}
    }
}

fn item_matches(item: &Value, pairs: &[(String, String)]) -> bool {
    let Value::Object(m) = item else {
        return false;
    };
    pairs
        .iter()
        .all(|(k, v)| match m.get(k).filter(|x| !x.is_null()) {
            Some(x) => canonical_key(x) == *v,
            None => key_default(k).is_some_and(|d| canonical_key(&Value::String(d.into())) == *v),
        })
}
