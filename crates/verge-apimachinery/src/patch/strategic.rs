//! Kubernetes strategic merge patch.
//!
//! A strategic merge patch is a partial object merged into the current one
//! like a JSON merge patch (`null` deletes a key, objects merge key by key),
//! except that:
//!
//! * lists declared "merge by key" in the type's patch metadata (see
//!   [`super::schema`]) are merged element by element: an element of the
//!   patch is merged into the element of the current list with the same value
//!   of the merge key, or added when there is none; other elements stay;
//! * lists of scalars declared "merge" (e.g. `metadata.finalizers`) are
//!   merged as sets;
//! * all other lists are replaced whole;
//! * directives steer the merge:
//!   * `"$patch": "replace"` in an object: the object is replaced by the rest
//!     of the patch object instead of merged;
//!   * `"$patch": "delete"` in an object: the object becomes `{}`;
//!   * `{"$patch": "replace"}` as a list element: the list is replaced by the
//!     other elements of the patch list;
//!   * `{"<key>": "x", "$patch": "delete"}` as an element of a list merged by
//!     key: every element with that key value is removed;
//!   * `"$patch": "merge"`: the default behaviour, accepted and ignored;
//!   * `"$setElementOrder/<list>": [...]`: the final order of the list's
//!     elements (given by merge key, or by value for scalars); elements of the
//!     current list not named there keep their place relative to the others;
//!   * `"$retainKeys": [...]`: keys of the current object not listed are
//!     dropped before merging (union types such as a Deployment's
//!     `strategy` or a volume's source);
//!   * `"$deleteFromPrimitiveList/<list>": [...]`: these values are removed
//!     from a list of scalars.
//!
//! Directives never remain in the result. Where the current object lacks a
//! field, the patch's value is merged into nothing, so directives inside it
//! are applied (and dropped) as well.
//!
//! The order of list elements follows Kubernetes: elements named by the patch
//! (or by `$setElementOrder`) come in the patch's order, and elements only in
//! the current list are interleaved keeping their original relative places;
//! an element new to the list, with nothing to anchor it, comes before the
//! untouched current elements unless `$setElementOrder` says otherwise (which
//! `kubectl apply` always sends).

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde_json::{Map, Value};

use super::schema::{FieldMeta, ListStrategy, Ty, field_meta, root_type};
use super::{PatchError, canonical_key};
use crate::labels::json_type_name;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// Applies a Kubernetes strategic merge patch to `doc`, an object of kind
/// `root_type` (e.g. `"Deployment"`). Kinds unknown to
/// [`super::is_known_kind`] are patched like a JSON merge patch, with the
/// directives still applied and removed.
pub fn strategic_merge_patch(
    doc: &Value,
    patch: &Value,
    root_type_name: &str,
) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::NotAnObject(format!(
            "a strategic merge patch must be a JSON object, but the patch is {}",
            json_type_name(patch)
        )));
    };
    let Value::Object(doc) = doc else {
        return Err(PatchError::NotAnObject(format!(
            "a strategic merge patch applies to a JSON object, but the document is {}",
            json_type_name(doc)
        )));
    };
    let mut path = Path::default();
    let merged = merge_map(doc.clone(), patch, root_type(root_type_name), &mut path)?;
    Ok(Value::Object(merged))
}

/// Where in the patch we are, for error messages: `spec.template.spec.containers[0]`.
#[derive(Default)]
struct Path {
    segments: Vec<String>,
}

impl Path {
    fn push_key(&mut self, key: &str) {
        self.segments.push(format!(".{key}"));
    }

    fn push_index(&mut self, index: usize) {
        self.segments.push(format!("[{index}]"));
    }

    fn pop(&mut self) {
        self.segments.pop();
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("the top level");
        }
        let joined = self.segments.concat();
        f.write_str(joined.strip_prefix('.').unwrap_or(&joined))
    }
}

fn invalid(path: &Path, message: impl Into<String>) -> PatchError {
    PatchError::InvalidStrategicPatch {
        path: path.to_string(),
        message: message.into(),
    }
}

fn unknown_directive(path: &Path, directive: &Value) -> PatchError {
    let directive = match directive {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    };
    PatchError::UnknownDirective {
        directive,
        path: path.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Directive {
    Replace,
    Delete,
    Merge,
}

fn directive_of(map: &Map<String, Value>, path: &Path) -> Result<Option<Directive>, PatchError> {
    match map.get(DIRECTIVE) {
        None => Ok(None),
        Some(Value::String(s)) if s == "replace" => Ok(Some(Directive::Replace)),
        Some(Value::String(s)) if s == "delete" => Ok(Some(Directive::Delete)),
        Some(Value::String(s)) if s == "merge" => Ok(Some(Directive::Merge)),
        Some(other) => Err(unknown_directive(path, other)),
    }
}

fn merge_map(
    mut orig: Map<String, Value>,
    patch: &Map<String, Value>,
    ty: Option<Ty>,
    path: &mut Path,
) -> Result<Map<String, Value>, PatchError> {
    match directive_of(patch, path)? {
        Some(Directive::Delete) => return Ok(Map::new()),
        Some(Directive::Replace) => orig = Map::new(),
        Some(Directive::Merge) | None => {}
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        retain_keys(&mut orig, patch, retain, path)?;
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            path.push_key(key);
            delete_from_primitive_list(&mut orig, field, value, path)?;
            path.pop();
        }
    }
    let mut ordered: HashSet<&str> = HashSet::new();
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER)
            && set_element_order(&mut orig, patch, field, value, ty, path)?
        {
            ordered.insert(field);
        }
    }
    for (key, value) in patch {
        if is_directive_key(key) || ordered.contains(key.as_str()) {
            continue;
        }
        if value.is_null() {
            orig.shift_remove(key);
            continue;
        }
        let meta = field_meta(ty, key);
        path.push_key(key);
        let merged = match orig.get_mut(key) {
            Some(existing) => {
                let old = std::mem::take(existing);
                merge_value(old, value, meta, path)?
            }
            None => fresh_value(value, meta, path)?,
        };
        path.pop();
        match merged {
            Some(v) => {
                orig.insert(key.clone(), v);
            }
            None => {
                orig.shift_remove(key);
            }
        }
    }
    Ok(orig)
}

/// Merges a patch value into an existing value. `None` means "remove the key".
fn merge_value(
    old: Value,
    patch: &Value,
    meta: FieldMeta,
    path: &mut Path,
) -> Result<Option<Value>, PatchError> {
    match (old, patch) {
        (Value::Object(old), Value::Object(p)) if !meta.replace_object => {
            Ok(Some(Value::Object(merge_map(old, p, meta.ty, path)?)))
        }
        (Value::Array(old), Value::Array(p)) => {
            Ok(Some(Value::Array(merge_list(old, p, meta, path)?)))
        }
        (_, p) => fresh_value(p, meta, path),
    }
}

/// A patch value for a key the current object does not have (or whose value
/// is replaced): merged into nothing, so that directives are applied and
/// dropped. `None` means "no key".
fn fresh_value(
    patch: &Value,
    meta: FieldMeta,
    path: &mut Path,
) -> Result<Option<Value>, PatchError> {
    match patch {
        Value::Null => Ok(None),
        Value::Object(p) => {
            if directive_of(p, path)? == Some(Directive::Delete) {
                return Ok(None);
            }
            Ok(Some(Value::Object(merge_map(
                Map::new(),
                p,
                meta.ty,
                path,
            )?)))
        }
        Value::Array(p) => Ok(Some(Value::Array(merge_list(Vec::new(), p, meta, path)?))),
        other => Ok(Some(other.clone())),
    }
}

fn merge_list(
    orig: Vec<Value>,
    patch: &[Value],
    meta: FieldMeta,
    path: &mut Path,
) -> Result<Vec<Value>, PatchError> {
    match meta.list {
        ListStrategy::Atomic => replace_list(patch, meta.ty, path),
        ListStrategy::MergeSet => merge_set(orig, patch, path),
        ListStrategy::MergeByKey(key) => merge_by_key(orig, patch, key, meta.ty, path),
    }
}

/// The value of an atomic list: the patch's elements, with directives applied
/// to each and `$patch` marker elements dropped.
fn replace_list(
    patch: &[Value],
    ty: Option<Ty>,
    path: &mut Path,
) -> Result<Vec<Value>, PatchError> {
    let mut out = Vec::with_capacity(patch.len());
    for (i, item) in patch.iter().enumerate() {
        path.push_index(i);
        match item {
            Value::Object(m) => match directive_of(m, path)? {
                Some(Directive::Delete | Directive::Replace) => {}
                Some(Directive::Merge) | None => {
                    out.push(Value::Object(merge_map(Map::new(), m, ty, path)?));
                }
            },
            Value::Array(inner) => out.push(Value::Array(replace_list(inner, None, path)?)),
            other => out.push(other.clone()),
        }
        path.pop();
    }
    Ok(out)
}

/// Merges a list of scalars as a set.
fn merge_set(orig: Vec<Value>, patch: &[Value], path: &mut Path) -> Result<Vec<Value>, PatchError> {
    let mut replace = false;
    let mut values: Vec<Value> = Vec::with_capacity(patch.len());
    for (i, item) in patch.iter().enumerate() {
        path.push_index(i);
        match item {
            Value::Object(m) => match directive_of(m, path)? {
                Some(Directive::Replace) => replace = true,
                Some(Directive::Delete) => {
                    return Err(invalid(
                        path,
                        "\"$patch\": \"delete\" cannot remove values from a list of scalars; use \"$deleteFromPrimitiveList/<field>\"",
                    ));
                }
                Some(Directive::Merge) => {}
                // Not a scalar, but keep it, without directives inside.
                None => values.push(Value::Object(merge_map(Map::new(), m, None, path)?)),
            },
            Value::Array(inner) => values.push(Value::Array(replace_list(inner, None, path)?)),
            other => values.push(other.clone()),
        }
        path.pop();
    }
    let ident = |v: &Value| Some(canonical_key(v));
    let patch_keys: Vec<Option<String>> = values.iter().map(ident).collect();
    let base = if replace { Vec::new() } else { orig };
    let server_keys: Vec<Option<String>> = base.iter().map(ident).collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut merged = Vec::with_capacity(base.len() + values.len());
    for (item, key) in base
        .into_iter()
        .zip(server_keys.iter().cloned())
        .chain(values.into_iter().zip(patch_keys.iter().cloned()))
    {
        if let Some(key) = key
            && seen.insert(key.clone())
        {
            merged.push((Some(key), item));
        }
    }
    Ok(reorder(merged, &patch_keys, &server_keys))
}

/// Merges a list of objects by the value of `key`.
fn merge_by_key(
    mut orig: Vec<Value>,
    patch: &[Value],
    key: &str,
    ty: Option<Ty>,
    path: &mut Path,
) -> Result<Vec<Value>, PatchError> {
    let mut replace = false;
    let mut deletes: HashSet<String> = HashSet::new();
    let mut elements: Vec<(usize, &Map<String, Value>)> = Vec::with_capacity(patch.len());
    for (i, item) in patch.iter().enumerate() {
        path.push_index(i);
        let Value::Object(m) = item else {
            return Err(invalid(
                path,
                format!(
                    "this list is merged by the key {key:?}, so its elements must be objects, but this one is {}",
                    json_type_name(item)
                ),
            ));
        };
        match directive_of(m, path)? {
            None | Some(Directive::Merge) => elements.push((i, m)),
            Some(Directive::Replace) => replace = true,
            Some(Directive::Delete) => {
                let Some(value) = m.get(key) else {
                    return Err(missing_merge_key(path, key));
                };
                deletes.insert(canonical_key(value));
            }
        }
        path.pop();
    }
    if replace {
        let mut out = Vec::with_capacity(elements.len());
        for (i, m) in elements {
            path.push_index(i);
            out.push(Value::Object(merge_map(Map::new(), m, ty, path)?));
            path.pop();
        }
        return Ok(out);
    }
    let ident = |v: &Value| v.get(key).map(canonical_key);
    if !deletes.is_empty() {
        orig.retain(|item| !ident(item).is_some_and(|k| deletes.contains(&k)));
    }
    let server_keys: Vec<Option<String>> = orig.iter().map(ident).collect();
    let mut position: HashMap<String, usize> = HashMap::new();
    for (i, k) in server_keys.iter().enumerate() {
        if let Some(k) = k {
            position.entry(k.clone()).or_insert(i);
        }
    }
    let mut patch_keys: Vec<Option<String>> = Vec::with_capacity(elements.len());
    for (i, m) in elements {
        path.push_index(i);
        let Some(value) = m.get(key) else {
            return Err(missing_merge_key(path, key));
        };
        let k = canonical_key(value);
        match position.get(&k) {
            Some(&at) => {
                if let Some(slot) = orig.get_mut(at) {
                    let old = match std::mem::take(slot) {
                        Value::Object(old) => old,
                        _ => Map::new(),
                    };
                    *slot = Value::Object(merge_map(old, m, ty, path)?);
                }
            }
            None => {
                orig.push(Value::Object(merge_map(Map::new(), m, ty, path)?));
                position.insert(k.clone(), orig.len() - 1);
            }
        }
        patch_keys.push(Some(k));
        path.pop();
    }
    let merged = orig.into_iter().map(|v| (ident(&v), v)).collect();
    Ok(reorder(merged, &patch_keys, &server_keys))
}

fn missing_merge_key(path: &Path, key: &str) -> PatchError {
    invalid(
        path,
        format!("the list element does not contain its merge key {key:?}"),
    )
}

/// Orders a merged list the way Kubernetes does. Items named in `order`
/// (by identity key) come in that order; the others keep their relative
/// order and are interleaved using their positions in the original list
/// (`server_keys`): an original-only item goes before a named item only when
/// both are in the original list and it came first there.
fn reorder(
    merged: Vec<(Option<String>, Value)>,
    order: &[Option<String>],
    server_keys: &[Option<String>],
) -> Vec<Value> {
    let mut order_index: HashMap<&str, usize> = HashMap::new();
    for (i, k) in order.iter().enumerate() {
        if let Some(k) = k {
            order_index.entry(k.as_str()).or_insert(i);
        }
    }
    let mut server_index: HashMap<&str, usize> = HashMap::new();
    for (i, k) in server_keys.iter().enumerate() {
        if let Some(k) = k {
            server_index.entry(k.as_str()).or_insert(i);
        }
    }
    let mut named: Vec<(usize, Option<usize>, Value)> = Vec::new();
    let mut others: Vec<(Option<usize>, Value)> = Vec::new();
    for (key, value) in merged {
        let at_server = key.as_deref().and_then(|k| server_index.get(k).copied());
        match key.as_deref().and_then(|k| order_index.get(k).copied()) {
            Some(at) => named.push((at, at_server, value)),
            None => others.push((at_server, value)),
        }
    }
    named.sort_by_key(|(at, _, _)| *at);
    let mut out = Vec::with_capacity(named.len() + others.len());
    let mut named = named.into_iter().peekable();
    let mut others = others.into_iter().peekable();
    loop {
        let take_other = match (others.peek(), named.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((Some(o), _)), Some((_, Some(n), _))) => o < n,
            (Some(_), Some(_)) => false,
        };
        let next = if take_other {
            others.next().map(|(_, v)| v)
        } else {
            named.next().map(|(_, _, v)| v)
        };
        out.extend(next);
    }
    out
}

fn retain_keys(
    orig: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    retain: &Value,
    path: &mut Path,
) -> Result<(), PatchError> {
    path.push_key(RETAIN_KEYS);
    let Value::Array(list) = retain else {
        return Err(invalid(
            path,
            format!(
                "must be a list of field names, got {}",
                json_type_name(retain)
            ),
        ));
    };
    let mut keep: HashSet<&str> = HashSet::new();
    for item in list {
        let Value::String(name) = item else {
            return Err(invalid(
                path,
                format!(
                    "must be a list of field names, but it contains {}",
                    json_type_name(item)
                ),
            ));
        };
        keep.insert(name);
    }
    for (key, value) in patch {
        if value.is_null() || is_directive_key(key) {
            continue;
        }
        if !keep.contains(key.as_str()) {
            return Err(invalid(
                path,
                format!("the patch sets the field {key:?}, which is missing from $retainKeys"),
            ));
        }
    }
    path.pop();
    orig.retain(|k, _| keep.contains(k.as_str()));
    Ok(())
}

fn delete_from_primitive_list(
    orig: &mut Map<String, Value>,
    field: &str,
    value: &Value,
    path: &Path,
) -> Result<(), PatchError> {
    let Value::Array(remove) = value else {
        return Err(invalid(
            path,
            format!(
                "must be a list of values to remove, got {}",
                json_type_name(value)
            ),
        ));
    };
    if let Some(Value::Array(list)) = orig.get_mut(field) {
        let remove: HashSet<String> = remove.iter().map(canonical_key).collect();
        list.retain(|item| !remove.contains(&canonical_key(item)));
    }
    Ok(())
}

/// Handles `$setElementOrder/<field>`: merges the field's patch list (if
/// any) and orders the result. Returns whether the field is done with.
fn set_element_order(
    orig: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    field: &str,
    order: &Value,
    ty: Option<Ty>,
    path: &mut Path,
) -> Result<bool, PatchError> {
    let meta = field_meta(ty, field);
    let merge_key = match meta.list {
        ListStrategy::MergeByKey(key) => Some(key),
        ListStrategy::MergeSet => None,
        // An atomic list is replaced by the patch's list as given: there is
        // nothing to order, and the directive is dropped.
        ListStrategy::Atomic => return Ok(false),
    };
    let ident = |v: &Value| -> Option<String> {
        match merge_key {
            Some(key) => v.get(key).map(canonical_key),
            None => Some(canonical_key(v)),
        }
    };

    path.push_key(&format!("{SET_ELEMENT_ORDER}{field}"));
    let Value::Array(order) = order else {
        return Err(invalid(
            path,
            format!("must be a list, got {}", json_type_name(order)),
        ));
    };
    let mut order_keys = Vec::with_capacity(order.len());
    for (i, entry) in order.iter().enumerate() {
        let key = ident(entry);
        if key.is_none() {
            return Err(invalid(
                path,
                format!(
                    "entry {i} must be an object with the merge key {:?} of the list",
                    merge_key.unwrap_or_default()
                ),
            ));
        }
        order_keys.push(key);
    }

    let patch_list = match patch.get(field) {
        None => None,
        Some(Value::Array(items)) => Some(items),
        // The patch sets the field to null or a non-list: nothing to order.
        Some(_) => {
            path.pop();
            return Ok(false);
        }
    };
    if let Some(items) = patch_list {
        check_order_matches(items, &order_keys, &ident, field, path)?;
    }
    path.pop();

    let orig_list = match orig.get_mut(field) {
        Some(Value::Array(list)) => Some(std::mem::take(list)),
        _ => None,
    };
    let server_keys: Vec<Option<String>> = orig_list
        .as_ref()
        .map(|l| l.iter().map(&ident).collect())
        .unwrap_or_default();
    let merged = match (orig_list, patch_list) {
        (orig_list, Some(items)) => {
            path.push_key(field);
            let merged = merge_list(orig_list.unwrap_or_default(), items, meta, path)?;
            path.pop();
            merged
        }
        (Some(list), None) => list,
        (None, None) => return Ok(false),
    };
    let merged = merged.into_iter().map(|v| (ident(&v), v)).collect();
    let ordered = reorder(merged, &order_keys, &server_keys);
    orig.insert(field.to_string(), Value::Array(ordered));
    Ok(true)
}

/// The elements of the patch list (other than `$patch` markers) must appear
/// in the `$setElementOrder` list, in the same relative order.
fn check_order_matches(
    items: &[Value],
    order_keys: &[Option<String>],
    ident: &dyn Fn(&Value) -> Option<String>,
    field: &str,
    path: &Path,
) -> Result<(), PatchError> {
    let mut next = 0;
    for item in items {
        if item.as_object().is_some_and(|m| m.contains_key(DIRECTIVE)) {
            continue;
        }
        // Elements without a merge key are reported by the merge itself.
        let Some(key) = ident(item) else { continue };
        match order_keys[next..]
            .iter()
            .position(|k| k.as_deref() == Some(key.as_str()))
        {
            Some(offset) => next += offset + 1,
            None => {
                return Err(invalid(
                    path,
                    format!(
                        "the order of the elements of {field:?} in the patch does not match the $setElementOrder list: the element {key} is missing from it or out of order"
                    ),
                ));
            }
        }
    }
    Ok(())
}
