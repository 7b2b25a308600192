//! `metadata.managedFields`: who owns which fields of an object.

use serde_json::{Map, Value, json};

use super::set::FieldSet;

/// How a manager last wrote its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// A server-side apply.
    Apply,
    /// Any other write: create, update (PUT), non-apply patch.
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One entry of `metadata.managedFields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedFieldsEntry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    /// RFC 3339 time of the manager's last change.
    pub time: Option<String>,
    /// The subresource written through (`status`, `scale`), if any.
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

/// Updaters kept in `managedFields` before the oldest are merged into
/// [`ANCIENT_CHANGES`] (kube-apiserver keeps 10).
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// The manager the oldest updaters are merged into when there are too many.
pub const ANCIENT_CHANGES: &str = "ancient-changes";

impl ManagedFieldsEntry {
    /// Whether `other` is the same manager: same name, operation and
    /// subresource, and for updaters the same API version (an applier keeps
    /// its identity across versions).
    pub fn same_manager(&self, other: &ManagedFieldsEntry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// Reads one entry of `metadata.managedFields`.
    pub fn from_json(v: &Value) -> Result<ManagedFieldsEntry, String> {
        let Value::Object(m) = v else {
            return Err("a managedFields entry must be an object".into());
        };
        let s = |k: &str| m.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let operation = match s("operation") {
            Some("Apply") => Operation::Apply,
            Some("Update") => Operation::Update,
            other => {
                return Err(format!(
                    "operation must be Apply or Update, not {}",
                    other.unwrap_or("empty")
                ));
            }
        };
        if let Some(t) = s("fieldsType")
            && t != "FieldsV1"
        {
            return Err(format!("fieldsType {t:?} is not supported (only FieldsV1)"));
        }
        let fields = match m.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(f) => FieldSet::from_fields_v1(f).map_err(|e| e.to_string())?,
        };
        Ok(ManagedFieldsEntry {
            manager: s("manager").unwrap_or("").to_owned(),
            operation,
            api_version: s("apiVersion").unwrap_or("").to_owned(),
            time: s("time").map(str::to_owned),
            subresource: s("subresource").map(str::to_owned),
            fields,
        })
    }

    /// The entry as kube-apiserver writes it.
    pub fn to_json(&self) -> Value {
        entry_json(
            &self.manager,
            self.operation,
            &self.api_version,
            self.time.as_deref(),
            self.subresource.as_deref(),
            self.fields.to_fields_v1(),
        )
    }

    fn seconds(&self) -> i64 {
        self.time
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_second())
            .unwrap_or(0)
    }
}

/// One entry of `metadata.managedFields` as kube-apiserver writes it, its
/// fields already in FieldsV1 form.
pub(crate) fn entry_json(
    manager: &str,
    operation: Operation,
    api_version: &str,
    time: Option<&str>,
    subresource: Option<&str>,
    fields_v1: Value,
) -> Value {
    let mut m = Map::with_capacity(7);
    m.insert("manager".into(), json!(manager));
    m.insert("operation".into(), json!(operation.as_str()));
    m.insert("apiVersion".into(), json!(api_version));
    if let Some(t) = time {
        m.insert("time".into(), json!(t));
    }
    m.insert("fieldsType".into(), json!("FieldsV1"));
    m.insert("fieldsV1".into(), fields_v1);
    if let Some(s) = subresource {
        m.insert("subresource".into(), json!(s));
    }
    Value::Object(m)
}

fn raw_entries(obj: &Value) -> Option<&Vec<Value>> {
    obj.get("metadata")?.get("managedFields")?.as_array()
}

/// The entries of an object's `metadata.managedFields`. Entries that cannot
/// be read are skipped; entries of the same manager are merged.
pub fn managed_fields(obj: &Value) -> Vec<ManagedFieldsEntry> {
    let mut out: Vec<ManagedFieldsEntry> = Vec::new();
    for raw in raw_entries(obj).into_iter().flatten() {
        let Ok(e) = ManagedFieldsEntry::from_json(raw) else {
            continue;
        };
        match out.iter_mut().find(|x| x.same_manager(&e)) {
            Some(x) => {
                x.fields.extend(&e.fields);
                if e.seconds() > x.seconds() {
                    x.time = e.time;
                }
            }
            None => out.push(e),
        }
    }
    out
}

/// Whether `managedFields` is the reset marker `[{}]` (every entry empty):
/// a write that sets it clears all ownership before it is recorded.
pub(crate) fn is_reset(obj: &Value) -> bool {
    raw_entries(obj).is_some_and(|entries| {
        !entries.is_empty()
            && entries
                .iter()
                .all(|e| e.as_object().is_some_and(Map::is_empty))
    })
}

/// The raw `metadata.managedFields` value, if any.
pub(crate) fn raw(obj: &Value) -> Option<&Value> {
    obj.get("metadata")?.get("managedFields")
}

/// Removes `metadata.managedFields` from `obj`.
pub(crate) fn strip(obj: &mut Value) {
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        meta.shift_remove("managedFields");
    }
}

/// Writes `entries` (the empty ones dropped) into `obj` in kube-apiserver's
/// order: appliers first, then by time, manager, API version and subresource.
pub(crate) fn write(obj: &mut Value, mut entries: Vec<ManagedFieldsEntry>) {
    entries.retain(|e| !e.fields.is_empty());
    entries.sort_by(|a, b| {
        (
            a.operation,
            a.seconds(),
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                b.operation,
                b.seconds(),
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    write_json(
        obj,
        entries.iter().map(ManagedFieldsEntry::to_json).collect(),
    );
}

/// Sets `metadata.managedFields` of `obj` to `entries`, already in order;
/// no entries remove it.
pub(crate) fn write_json(obj: &mut Value, entries: Vec<Value>) {
    let Value::Object(root) = obj else {
        return;
    };
    if entries.is_empty() {
        if let Some(Value::Object(meta)) = root.get_mut("metadata") {
            meta.shift_remove("managedFields");
        }
        return;
    }
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Value::Object(meta) = meta {
        meta.insert("managedFields".into(), Value::Array(entries));
    }
}

/// Keeps at most [`MAX_UPDATE_MANAGERS`] updaters: the oldest are merged, per
/// API version, into an [`ANCIENT_CHANGES`] updater.
pub(crate) fn cap_updaters(entries: &mut Vec<ManagedFieldsEntry>) {
    let count = |es: &Vec<ManagedFieldsEntry>| {
        es.iter()
            .filter(|e| e.operation == Operation::Update && !e.fields.is_empty())
            .count()
    };
    if count(entries) <= MAX_UPDATE_MANAGERS {
        return;
    }
    let mut oldest: Vec<usize> = (0..entries.len())
        .filter(|&i| {
            entries[i].operation == Operation::Update
                && entries[i].manager != ANCIENT_CHANGES
                && !entries[i].fields.is_empty()
        })
        .collect();
    oldest.sort_by_key(|&i| entries[i].seconds());
    let mut merged_away: Vec<usize> = Vec::new();
    let mut excess = count(entries) - MAX_UPDATE_MANAGERS;
    for i in oldest {
        if excess == 0 {
            break;
        }
        let version = entries[i].api_version.clone();
        let bucket = entries.iter().position(|e| {
            e.manager == ANCIENT_CHANGES
                && e.operation == Operation::Update
                && e.subresource.is_none()
                && e.api_version == version
        });
        match bucket {
            Some(b) => {
                let moved = std::mem::take(&mut entries[i].fields);
                entries[b].fields.extend(&moved);
                if entries[i].seconds() > entries[b].seconds() {
                    entries[b].time = entries[i].time.clone();
                }
                merged_away.push(i);
                excess -= 1;
            }
            None => {
                let e = &mut entries[i];
                e.manager = ANCIENT_CHANGES.into();
                e.subresource = None;
            }
        }
    }
    let mut i = 0;
    entries.retain(|_| {
        let keep = !merged_away.contains(&i);
        i += 1;
        keep
    });
}
