//! Server-side apply and field management, as kube-apiserver does them.
//!
//! Every object records in `metadata.managedFields` which *manager* owns
//! which of its fields. A manager is a name (`kubectl`, `kube-controller-manager`,
//! the `fieldManager` of a request), the kind of write it last made
//! ([`Operation::Apply`] for server-side apply, [`Operation::Update`] for any
//! other write), the API version it wrote through (for updaters) and the
//! subresource, if any. Fields are named by [`Path`]s and grouped in
//! [`FieldSet`]s, serialized in the FieldsV1 format.
//!
//! * [`apply`] (`PATCH` with `application/apply-patch+yaml`, `kubectl apply
//!   --server-side`, kube-rs `Patch::Apply`) merges a configuration into the
//!   live object. It fails with [`ApplyError::Conflicts`] when it would
//!   change a field another manager owns, unless forced, in which case the
//!   fields change hands; fields the manager applied last time and no longer
//!   applies are removed, unless another manager owns them; the manager then
//!   owns exactly the fields of its configuration.
//! * [`record_update`] (create, `PUT`, other patches) gives the writer the
//!   fields it changed, taking them from whoever owned them.
//!
//! Which lists are associative, set-like or atomic comes from the patch
//! metadata of the built-in types (see [`crate::patch`]); kinds without it
//! (custom resources) have granular objects and atomic lists.
//!
//! Besides the core rules, two behaviours of kube-apiserver for the default
//! `kubectl` manager are kept, so that objects move between client-side and
//! server-side `kubectl apply` the same way: conflicts on fields whose live
//! value is still the one recorded in the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation are not
//! conflicts, and that annotation, when present, is rewritten to the new
//! configuration.

mod managed;
mod path;
mod set;
mod typed;

use serde_json::{Map, Value};

pub use managed::{
    ANCIENT_CHANGES, MAX_UPDATE_MANAGERS, ManagedFieldsEntry, Operation, managed_fields,
};
pub use path::{Path, PathElement};
pub use set::{FieldSet, FieldsV1Error};

use crate::patch::json_equal;
use typed::Types;

/// The annotation client-side `kubectl apply` keeps its last configuration in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The field manager `kubectl apply --server-side` uses unless told otherwise.
pub const KUBECTL_MANAGER: &str = "kubectl";

/// Annotations larger than this (keys and values together) are invalid; the
/// last-applied annotation is dropped rather than grown past it.
const ANNOTATIONS_LIMIT: usize = 256 * 1024;

/// A field an apply would change that another manager owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name.
    pub manager: String,
    pub operation: Operation,
    /// The API version the other manager wrote through.
    pub api_version: String,
    pub subresource: Option<String>,
    /// The field, as kube-apiserver prints it: `.spec.replicas`.
    pub field: String,
}

impl Conflict {
    /// The other manager as kube-apiserver describes it: `"kubectl"`,
    /// `"kubectl-client-side-apply" using apps/v1`, `"kubectl" with
    /// subresource "scale" using apps/v1`.
    pub fn manager_description(&self) -> String {
        let mut s = Value::String(self.manager.clone()).to_string();
        if let Some(sub) = &self.subresource {
            s.push_str(&format!(" with subresource {}", Value::String(sub.clone())));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    /// The message of this conflict's cause in the `Status`:
    /// `conflict with "kubectl-client-side-apply" using apps/v1`.
    pub fn message(&self) -> String {
        format!("conflict with {}", self.manager_description())
    }

    fn manager_key(&self) -> (&str, Operation, &str, Option<&str>) {
        (
            &self.manager,
            self.operation,
            &self.api_version,
            self.subresource.as_deref(),
        )
    }
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The apply would change fields other managers own (HTTP 409, reason
    /// `Conflict`, one `FieldManagerConflict` cause per conflict).
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The configuration is not a JSON object.
    #[error("the applied configuration must be an object")]
    NotAnObject,
    /// The configuration sets `metadata.managedFields`, which only the
    /// server writes on apply.
    #[error("metadata.managedFields must be nil")]
    ManagedFieldsSet,
    /// The configuration does not fit its type (a list item without its key,
    /// two items with the same key, ...).
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// kube-apiserver's message for a failed apply:
/// `Apply failed with 1 conflict: conflict with "x" using apps/v1: .spec.replicas`,
/// or, for several, one `conflicts with <manager>:` line per manager followed
/// by `- <field>` lines.
pub fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager_description(),
            c.field
        );
    }
    let mut sorted: Vec<&Conflict> = conflicts.iter().collect();
    sorted.sort_by(|a, b| a.manager_key().cmp(&b.manager_key()));
    let mut lines: Vec<String> = Vec::new();
    let mut current = None;
    for c in sorted {
        if current != Some(c.manager_key()) {
            current = Some(c.manager_key());
            lines.push(format!("conflicts with {}:", c.manager_description()));
        }
        lines.push(format!("- {}", c.field));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// The fields an applied configuration of `kind` sets, as its manager would
/// own them. Fails as [`apply`] does on a configuration that does not fit
/// its type.
pub fn field_set(config: &Value, kind: &str) -> Result<FieldSet, ApplyError> {
    typed::field_set(config, Types::for_kind(kind), true).map_err(invalid)
}

fn invalid(e: typed::InvalidField) -> ApplyError {
    ApplyError::Invalid {
        path: e.path,
        message: e.message,
    }
}

/// One write to record: who makes it, through which API version and
/// subresource, to an object of which kind, and when.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    /// The field manager (`fieldManager`, or a name derived from the user
    /// agent for writes other than apply).
    pub manager: &'a str,
    /// The API version the write came through (`apps/v1`).
    pub api_version: &'a str,
    /// The object's kind (`Deployment`): it selects the type graph.
    pub kind: &'a str,
    /// The subresource written through (`status`, `scale`), if any.
    pub subresource: Option<&'a str>,
    /// The time of the write, RFC 3339.
    pub now: &'a str,
}

impl Write<'_> {
    fn entry(&self, operation: Operation, fields: FieldSet) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: self.manager.to_owned(),
            operation,
            api_version: self.api_version.to_owned(),
            time: Some(self.now.to_owned()),
            subresource: self.subresource.map(str::to_owned),
            fields,
        }
    }

    /// Server-side apply of `config` to `live` (`None`: the object does not
    /// exist yet). Returns the new object with its `managedFields`; the
    /// caller applies its own rules (immutable metadata, defaults,
    /// validation) afterwards.
    pub fn apply(
        &self,
        live: Option<&Value>,
        config: &Value,
        force: bool,
    ) -> Result<Value, ApplyError> {
        if !config.is_object() {
            return Err(ApplyError::NotAnObject);
        }
        if managed::raw(config).is_some_and(|v| !v.is_null()) {
            return Err(ApplyError::ManagedFieldsSet);
        }
        let types = Types::for_kind(self.kind);
        let config_set = typed::field_set(config, types, true).map_err(invalid)?;

        let mut live = match live {
            Some(v) if v.is_object() => v.clone(),
            _ => Value::Object(Map::new()),
        };
        let mut entries = managed_fields(&live);
        managed::strip(&mut live);
        let me = self.entry(Operation::Apply, config_set.clone());
        let previous = entries
            .iter()
            .position(|e| e.same_manager(&me))
            .map(|i| entries.remove(i));

        let mut merged = typed::merge(&live, config, types);

        // Fields applied last time and not now go, unless someone still owns them.
        if let Some(prev) = &previous {
            let mut keep = config_set.clone();
            for e in &entries {
                keep.extend(&e.fields);
            }
            let doomed = prev.fields.difference(&keep);
            typed::remove_fields(&mut merged, &doomed, &keep);
        }

        let cmp = typed::compare(&live, &merged, types);
        let mut changed = cmp.changed();
        changed.extend(&cmp.removed.intersection(&config_set));

        let mut conflicts: Vec<(usize, Path)> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            for p in e.fields.intersection(&changed).iter() {
                conflicts.push((i, p.clone()));
            }
        }
        if !conflicts.is_empty() && !force {
            if self.manager == KUBECTL_MANAGER
                && self.subresource.is_none()
                && let Some(allowed) = last_applied_fields(&live, types, self.api_version)
            {
                conflicts.retain(|(_, p)| !allowed.contains(p));
            }
            if !conflicts.is_empty() {
                let mut out: Vec<Conflict> = conflicts
                    .into_iter()
                    .map(|(i, p)| {
                        let e = &entries[i];
                        Conflict {
                            manager: e.manager.clone(),
                            operation: e.operation,
                            api_version: e.api_version.clone(),
                            subresource: e.subresource.clone(),
                            field: p.to_string(),
                        }
                    })
                    .collect();
                out.sort_by(|a, b| a.manager_key().cmp(&b.manager_key()));
                return Err(ApplyError::Conflicts(out));
            }
        }

        // Changed fields change hands; removed fields are nobody's.
        for e in &mut entries {
            e.fields.subtract(&changed);
            e.fields.subtract(&cmp.removed);
        }
        let mut me = me;
        if let Some(prev) = &previous
            && prev.fields == config_set
            && json_equal(&merged, &live)
        {
            me.time.clone_from(&prev.time);
        }
        entries.push(me);

        if self.manager == KUBECTL_MANAGER && self.subresource.is_none() {
            update_last_applied(&mut merged, config);
        }
        managed::cap_updaters(&mut entries);
        managed::write(&mut merged, entries);
        Ok(merged)
    }

    /// Records a write other than apply: `new` replaces `old` (`None` for a
    /// create). The fields whose values changed (all fields, on create)
    /// become the writer's, and other managers lose them; removed fields are
    /// nobody's. `metadata.managedFields` of `new` is rewritten. A `new` that
    /// carries its own `managedFields` (a client editing them) is taken as
    /// the starting point, except on subresources; `[{}]` clears them.
    pub fn record_update(&self, old: Option<&Value>, new: &mut Value) {
        let types = Types::for_kind(self.kind);
        if old.is_none() && !carries_entries(new, self.subresource) {
            // A create owns every field it sets and takes them from nobody:
            // its entry is written straight from one walk of the object.
            let fields = typed::created_fields_v1(new, types);
            let entries = if fields.is_empty() {
                Vec::new()
            } else {
                vec![managed::entry_json(
                    self.manager,
                    Operation::Update,
                    self.api_version,
                    Some(self.now),
                    self.subresource,
                    Value::Object(fields),
                )]
            };
            managed::write_json(new, entries);
            return;
        }
        let old_entries = || old.map(managed_fields).unwrap_or_default();
        let mut entries = if self.subresource.is_some() {
            old_entries()
        } else if managed::is_reset(new) {
            Vec::new()
        } else if managed::raw(new) == old.and_then(managed::raw) {
            // The usual update: the new object carries the old entries
            // (a patch, a read-modify-write). Read them once.
            old_entries()
        } else {
            let provided = managed_fields(new);
            if provided.is_empty() {
                old_entries()
            } else {
                provided
            }
        };
        let empty = Value::Object(Map::new());
        let cmp = typed::compare(old.unwrap_or(&empty), new, types);
        let changed = cmp.changed();
        for e in &mut entries {
            e.fields.subtract(&changed);
            e.fields.subtract(&cmp.removed);
        }
        let me = self.entry(Operation::Update, FieldSet::new());
        if !changed.is_empty() {
            match entries.iter_mut().find(|e| e.same_manager(&me)) {
                Some(e) => {
                    e.fields.extend(&changed);
                    e.time = me.time;
                }
                None => entries.push(ManagedFieldsEntry {
                    fields: changed,
                    ..me
                }),
            }
        }
        managed::cap_updaters(&mut entries);
        managed::write(new, entries);
    }
}

/// Whether a write of `new` through `subresource` starts from the
/// `managedFields` entries `new` carries (see [`Write::record_update`]): a
/// client sent some, other than the reset marker `[{}]`, to the main resource.
fn carries_entries(new: &Value, subresource: Option<&str>) -> bool {
    if subresource.is_some() || managed::is_reset(new) {
        return false;
    }
    match managed::raw(new) {
        None | Some(Value::Null) => false,
        Some(Value::Array(entries)) => !entries.is_empty(),
        Some(_) => true,
    }
}

/// Server-side apply of `config` by `manager` (through `api_version`, to an
/// object of `kind`, at time `now`) to `live`, or to nothing when the object
/// does not exist yet. With `force`, conflicting fields are taken from their
/// owners instead of failing. See [`Write::apply`].
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    api_version: &str,
    force: bool,
    kind: &str,
    now: &str,
) -> Result<Value, ApplyError> {
    Write {
        manager,
        api_version,
        kind,
        subresource: None,
        now,
    }
    .apply(live, config, force)
}

/// Records a create (`old` is `None`), update or non-apply patch by
/// `manager` in `new`'s `metadata.managedFields`. See [`Write::record_update`].
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    kind: &str,
    now: &str,
) {
    Write {
        manager,
        api_version,
        kind,
        subresource: None,
        now,
    }
    .record_update(old, new);
}

/// The fields of the live object's last-applied configuration whose live
/// values are still the configured ones: client-side apply owned them, and
/// the `kubectl` manager may take them over without a conflict.
fn last_applied_fields(live: &Value, types: Types, api_version: &str) -> Option<FieldSet> {
    let text = live
        .get("metadata")?
        .get("annotations")?
        .get(LAST_APPLIED_ANNOTATION)?
        .as_str()?;
    let last: Value = serde_json::from_str(text).ok()?;
    if last.get("apiVersion").and_then(Value::as_str) != Some(api_version) {
        return None;
    }
    let fields = typed::field_set(&last, types, false).ok()?;
    let cmp = typed::compare(&last, live, types);
    Some(
        fields
            .difference(&cmp.modified)
            .difference(&cmp.added)
            .difference(&cmp.removed),
    )
}

/// Rewrites an existing last-applied annotation to `config` (without the
/// annotation itself), as kube-apiserver does for the `kubectl` manager so
/// that client-side `kubectl apply` keeps working afterwards.
fn update_last_applied(obj: &mut Value, config: &Value) {
    let Some(Value::Object(annotations)) = obj
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    else {
        return;
    };
    if annotations
        .get(LAST_APPLIED_ANNOTATION)
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return;
    }
    let mut last = config.clone();
    if let Some(Value::Object(a)) = last
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        a.shift_remove(LAST_APPLIED_ANNOTATION);
    }
    let text = go_json(&sorted_keys(&last));
    annotations.insert(LAST_APPLIED_ANNOTATION.into(), Value::String(text));
    let size: usize = annotations
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size > ANNOTATIONS_LIMIT {
        annotations.shift_remove(LAST_APPLIED_ANNOTATION);
    }
}

fn sorted_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted_keys(&m[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

/// Compact JSON as Go's encoder writes it (HTML characters escaped).
fn go_json(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_match_kube_apiserver() {
        let c = Conflict {
            manager: "kubectl-client-side-apply".into(),
            operation: Operation::Update,
            api_version: "apps/v1".into(),
            subresource: None,
            field: ".spec.replicas".into(),
        };
        assert_eq!(
            c.message(),
            "conflict with \"kubectl-client-side-apply\" using apps/v1"
        );
        assert_eq!(
            conflicts_message(std::slice::from_ref(&c)),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
        let scale = Conflict {
            manager: "kubectl".into(),
            subresource: Some("scale".into()),
            ..c.clone()
        };
        assert_eq!(
            scale.manager_description(),
            "\"kubectl\" with subresource \"scale\" using apps/v1"
        );
        let applier = Conflict {
            manager: "ops".into(),
            operation: Operation::Apply,
            field: ".spec.paused".into(),
            ..c.clone()
        };
        assert_eq!(
            conflicts_message(&[c.clone(), applier, c]),
            "Apply failed with 3 conflicts: conflicts with \"kubectl-client-side-apply\" using apps/v1:\n- .spec.replicas\n- .spec.replicas\nconflicts with \"ops\":\n- .spec.paused"
        );
    }

    #[test]
    fn go_json_escapes_html() {
        assert_eq!(
            go_json(&json!({"a": "<&>"})),
            r#"{"a":"\u003c\u0026\u003e"}"#
        );
    }
}
