//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get`
//! asks for (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), and the
//! `PartialObjectMetadata(List)` that metadata-only clients such as kube-rs ask
//! for (`as=PartialObjectMetadataList`).
//!
//! kubectl prints cells verbatim, so every column here follows what a
//! Kubernetes 1.32 API server prints: the same names, order, priorities and
//! cell logic, with ages rendered server-side as HumanDuration. Like Kubernetes,
//! rows always carry the `-o wide` cells; kubectl hides priority-1 columns
//! itself.
//!
//! Built-in kinds have hand-written printers (one module per group of kinds);
//! custom resources print their CRD's `additionalPrinterColumns`, evaluated
//! with a small JSONPath engine; anything else prints Name and Age.

mod certificates;
mod cluster;
mod config;
mod custom;
mod jsonpath;
mod network;
mod pods;
mod storage;
mod util;
mod workloads;

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::registry::{Origin, ResourceType};
use util::{AGE, Col, NAME, Obj};

/// The group/version of `Table` and `PartialObjectMetadata(List)`.
pub const META_API_VERSION: &str = "meta.k8s.io/v1";

/// What `row.object` holds: the `includeObject` query parameter
/// (`metav1.IncludeObjectPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object: the row has no `object` field.
    None,
    /// `PartialObjectMetadata` with the object's full metadata (the default;
    /// kubectl uses it for NAMESPACE with `-A`, `-L` and `--show-labels`).
    #[default]
    Metadata,
    /// The whole object (kubectl asks for it with `--sort-by` and the like).
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query value; absent or empty means `Metadata`.
    /// The error is the message of Kubernetes' 400 Bad Request.
    pub fn from_query(value: Option<&str>) -> Result<Self, String> {
        value.unwrap_or("").parse()
    }

    /// Lenient [`IncludeObject::from_query`]: an unrecognized value means
    /// `Metadata` instead of an error (Kubernetes answers 400 for those).
    pub fn parse(value: Option<&str>) -> Self {
        Self::from_query(value).unwrap_or_default()
    }
}

impl FromStr for IncludeObject {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "None" => Ok(IncludeObject::None),
            "Metadata" | "" => Ok(IncludeObject::Metadata),
            "Object" => Ok(IncludeObject::Object),
            other => Err(format!("unrecognized includeObject value: {other:?}")),
        }
    }
}

impl fmt::Display for IncludeObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IncludeObject::None => "None",
            IncludeObject::Metadata => "Metadata",
            IncludeObject::Object => "Object",
        })
    }
}

/// A printer for one built-in kind: its columns and how to fill them.
pub(crate) struct Builtin {
    pub columns: &'static [Col],
    pub cells: fn(Obj<'_>, Timestamp) -> Vec<Value>,
    /// `row.conditions`, for the few kinds that set them (pods).
    pub conditions: fn(Obj<'_>) -> Option<Value>,
}

pub(crate) fn no_conditions(_: Obj<'_>) -> Option<Value> {
    None
}

/// Name and Age: the printer of any type without its own.
static DEFAULT: Builtin = Builtin {
    columns: &[NAME, AGE],
    cells: |o, now| vec![o.name().into(), o.age(now).into()],
    conditions: no_conditions,
};

fn builtin_printer(group: &str, plural: &str) -> &'static Builtin {
    match (group, plural) {
        ("", "pods") => &pods::PODS,
        ("", "nodes") => &cluster::NODES,
        ("", "namespaces") => &cluster::NAMESPACES,
        ("", "events") => &cluster::EVENTS,
        ("", "services") => &network::SERVICES,
        ("", "endpoints") => &network::ENDPOINTS,
        ("discovery.k8s.io", "endpointslices") => &network::ENDPOINT_SLICES,
        ("", "configmaps") => &config::CONFIG_MAPS,
        ("", "secrets") => &config::SECRETS,
        ("", "serviceaccounts") => &config::SERVICE_ACCOUNTS,
        ("", "persistentvolumes") => &storage::PERSISTENT_VOLUMES,
        ("", "persistentvolumeclaims") => &storage::PERSISTENT_VOLUME_CLAIMS,
        ("apps", "deployments") => &workloads::DEPLOYMENTS,
        ("apps", "replicasets") => &workloads::REPLICA_SETS,
        ("apps", "daemonsets") => &workloads::DAEMON_SETS,
        ("apps", "statefulsets") => &workloads::STATEFUL_SETS,
        ("apps", "controllerrevisions") => &workloads::CONTROLLER_REVISIONS,
        ("batch", "jobs") => &workloads::JOBS,
        ("batch", "cronjobs") => &workloads::CRON_JOBS,
        ("coordination.k8s.io", "leases") => &cluster::LEASES,
        ("scheduling.k8s.io", "priorityclasses") => &cluster::PRIORITY_CLASSES,
        ("certificates.k8s.io", "certificatesigningrequests") => {
            &certificates::CERTIFICATE_SIGNING_REQUESTS
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            &cluster::CUSTOM_RESOURCE_DEFINITIONS
        }
        _ => &DEFAULT,
    }
}

/// The printer of one resource type. Building it once and reusing it for a
/// list or a watch stream avoids re-parsing a CRD's JSONPaths per object.
pub struct Printer {
    kind: PrinterKind,
}

enum PrinterKind {
    Builtin(&'static Builtin),
    Custom(custom::CustomPrinter),
}

impl Printer {
    pub fn new(rt: &ResourceType) -> Self {
        let kind = match &rt.origin {
            Origin::Custom(cv) => {
                PrinterKind::Custom(custom::CustomPrinter::new(&cv.printer_columns))
            }
            Origin::Builtin => PrinterKind::Builtin(builtin_printer(&rt.group, &rt.plural)),
        };
        Printer { kind }
    }

    /// `columnDefinitions`: name, type, format, description, priority.
    pub fn column_definitions(&self) -> Vec<Value> {
        match &self.kind {
            PrinterKind::Builtin(b) => b.columns.iter().map(|c| c.to_json()).collect(),
            PrinterKind::Custom(c) => c.column_definitions(),
        }
    }

    /// The cells of one object, one per column definition.
    pub fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        match &self.kind {
            PrinterKind::Builtin(b) => (b.cells)(Obj(obj), now),
            PrinterKind::Custom(c) => c.cells(obj, now),
        }
    }

    /// One `TableRow`: `cells`, `conditions` when the kind sets any, and
    /// `object` as `include` says.
    pub fn row(&self, obj: &Value, include: IncludeObject, now: Timestamp) -> Value {
        let mut row = Map::new();
        row.insert("cells".into(), Value::Array(self.cells(obj, now)));
        if let PrinterKind::Builtin(b) = &self.kind
            && let Some(conditions) = (b.conditions)(Obj(obj))
        {
            row.insert("conditions".into(), conditions);
        }
        match include {
            IncludeObject::None => {}
            IncludeObject::Metadata => {
                row.insert("object".into(), partial_object_metadata(obj));
            }
            IncludeObject::Object => {
                row.insert("object".into(), obj.clone());
            }
        }
        Value::Object(row)
    }

    /// The `Table` of a list response.
    pub fn table(
        &self,
        items: &[Value],
        resource_version: &str,
        continue_token: Option<&str>,
        include: IncludeObject,
        now: Timestamp,
    ) -> Value {
        let rows = items.iter().map(|o| self.row(o, include, now)).collect();
        table_json(
            list_meta(resource_version, continue_token),
            Value::Array(self.column_definitions()),
            rows,
        )
    }

    /// The `Table` of a single object (`kubectl get pod web-1`); its
    /// `metadata.resourceVersion` is the object's.
    pub fn object_table(&self, obj: &Value, include: IncludeObject, now: Timestamp) -> Value {
        self.watch_table(obj, include, now, true)
    }

    /// The object of one watch event (`kubectl get -w`): a `Table` of exactly
    /// one row. Only the first event of a stream carries the column
    /// definitions; later ones have `"columnDefinitions": null`.
    pub fn watch_table(
        &self,
        obj: &Value,
        include: IncludeObject,
        now: Timestamp,
        with_columns: bool,
    ) -> Value {
        let rv = Obj(obj).str(&["metadata", "resourceVersion"]);
        let columns = if with_columns {
            Value::Array(self.column_definitions())
        } else {
            Value::Null
        };
        table_json(
            list_meta(rv, None),
            columns,
            vec![self.row(obj, include, now)],
        )
    }
}

fn list_meta(resource_version: &str, continue_token: Option<&str>) -> Value {
    let mut meta = Map::new();
    if !resource_version.is_empty() {
        meta.insert("resourceVersion".into(), resource_version.into());
    }
    if let Some(c) = continue_token.filter(|c| !c.is_empty()) {
        meta.insert("continue".into(), c.into());
    }
    Value::Object(meta)
}

fn table_json(metadata: Value, columns: Value, rows: Vec<Value>) -> Value {
    let mut t = Map::new();
    t.insert("kind".into(), "Table".into());
    t.insert("apiVersion".into(), META_API_VERSION.into());
    t.insert("metadata".into(), metadata);
    t.insert("columnDefinitions".into(), columns);
    t.insert("rows".into(), Value::Array(rows));
    Value::Object(t)
}

/// The column definitions of a type's table.
pub fn column_definitions(rt: &ResourceType) -> Vec<Value> {
    Printer::new(rt).column_definitions()
}

/// One table row of an object.
pub fn row(rt: &ResourceType, obj: &Value, include: IncludeObject, now: Timestamp) -> Value {
    Printer::new(rt).row(obj, include, now)
}

/// The `Table` of a list of objects of one type.
pub fn table(
    rt: &ResourceType,
    items: &[Value],
    resource_version: &str,
    continue_token: Option<&str>,
    include: IncludeObject,
    now: Timestamp,
) -> Value {
    Printer::new(rt).table(items, resource_version, continue_token, include, now)
}

/// The `Table` of a single object, as for `kubectl get <kind> <name>`.
pub fn object_table(
    rt: &ResourceType,
    obj: &Value,
    include: IncludeObject,
    now: Timestamp,
) -> Value {
    Printer::new(rt).object_table(obj, include, now)
}

/// Sets `metadata.remainingItemCount` of a list, `Table` or
/// `PartialObjectMetadataList` (a paginated list that knows how many are left).
pub fn set_remaining_item_count(list: &mut Value, count: i64) {
    if let Some(meta) = list.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("remainingItemCount".into(), count.into());
    }
}

/// `PartialObjectMetadata` of an object: its full metadata, nothing else.
pub fn partial_object_metadata(obj: &Value) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), "PartialObjectMetadata".into());
    m.insert("apiVersion".into(), META_API_VERSION.into());
    let metadata = obj
        .get("metadata")
        .filter(|m| m.is_object())
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    m.insert("metadata".into(), metadata);
    Value::Object(m)
}

/// `PartialObjectMetadataList` of a list response.
pub fn partial_object_metadata_list(
    items: &[Value],
    resource_version: &str,
    continue_token: Option<&str>,
) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), "PartialObjectMetadataList".into());
    m.insert("apiVersion".into(), META_API_VERSION.into());
    m.insert(
        "metadata".into(),
        list_meta(resource_version, continue_token),
    );
    m.insert(
        "items".into(),
        Value::Array(items.iter().map(partial_object_metadata).collect()),
    );
    Value::Object(m)
}

#[cfg(test)]
pub(crate) mod testutil {
    use jiff::Timestamp;
    use serde_json::Value;

    use crate::registry::{Registry, ResourceType};

    /// The "now" of every printer test.
    pub const NOW: &str = "2025-01-01T12:00:00Z";

    pub fn now() -> Timestamp {
        NOW.parse().expect("NOW parses")
    }

    /// `NOW` minus `secs` seconds, as an RFC 3339 string.
    pub fn ago(secs: i64) -> String {
        let t = now() - jiff::SignedDuration::from_secs(secs);
        t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    pub fn builtin(group: &str, plural: &str) -> ResourceType {
        let rt = Registry::with_builtins()
            .lookup(group, "v1", plural)
            .unwrap_or_else(|| panic!("no built-in {group}/{plural}"));
        (*rt).clone()
    }

    pub fn cells(rt: &ResourceType, obj: &Value) -> Vec<Value> {
        super::Printer::new(rt).cells(obj, now())
    }

    /// The column names of a type, `-o wide` ones marked with a trailing '*'.
    pub fn headers(rt: &ResourceType) -> Vec<String> {
        super::column_definitions(rt)
            .iter()
            .map(|c| {
                let name = c["name"].as_str().unwrap_or_default().to_string();
                if c["priority"] == 1 { name + "*" } else { name }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use crate::registry::Registry;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web-1",
                "namespace": "default",
                "resourceVersion": "101",
                "labels": {"app": "web"},
                "creationTimestamp": ago(57)
            },
            "spec": {"containers": [{"name": "web", "image": "nginx"}], "nodeName": "node1"},
            "status": {
                "phase": "Running",
                "podIP": "10.42.0.5",
                "podIPs": [{"ip": "10.42.0.5"}],
                "containerStatuses": [{
                    "name": "web", "ready": true, "restartCount": 0,
                    "state": {"running": {"startedAt": ago(50)}}
                }]
            }
        })
    }

    #[test]
    fn include_object_parses_query_values() {
        assert_eq!(IncludeObject::from_query(None), Ok(IncludeObject::Metadata));
        assert_eq!(
            IncludeObject::from_query(Some("")),
            Ok(IncludeObject::Metadata)
        );
        assert_eq!(
            IncludeObject::from_query(Some("None")),
            Ok(IncludeObject::None)
        );
        assert_eq!(
            IncludeObject::from_query(Some("Object")),
            Ok(IncludeObject::Object)
        );
        assert_eq!(
            IncludeObject::from_query(Some("object")),
            Err("unrecognized includeObject value: \"object\"".to_string())
        );
        assert_eq!(IncludeObject::Object.to_string(), "Object");
        assert_eq!(IncludeObject::parse(Some("Object")), IncludeObject::Object);
        assert_eq!(IncludeObject::parse(Some("bogus")), IncludeObject::Metadata);
        assert_eq!(IncludeObject::parse(None), IncludeObject::Metadata);
    }

    #[test]
    fn list_table_has_kubectls_shape() {
        let rt = builtin("", "pods");
        let t = table(
            &rt,
            &[pod()],
            "107",
            Some("abc"),
            IncludeObject::Metadata,
            now(),
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(
            t["metadata"],
            json!({"resourceVersion": "107", "continue": "abc"})
        );
        assert_eq!(
            t["columnDefinitions"][0],
            json!({"name": "Name", "type": "string", "format": "name",
                   "description": util::NAME_DESC, "priority": 0})
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "web-1",
                "1/1",
                "Running",
                "0",
                "57s",
                "10.42.0.5",
                "node1",
                "<none>",
                "<none>"
            ])
        );
        assert_eq!(
            t["rows"][0]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": pod()["metadata"].clone()})
        );
        // Key order is what Kubernetes writes.
        let keys: Vec<&String> = t.as_object().expect("object").keys().collect();
        assert_eq!(
            keys,
            [
                "kind",
                "apiVersion",
                "metadata",
                "columnDefinitions",
                "rows"
            ]
        );
    }

    #[test]
    fn include_object_none_and_object() {
        let rt = builtin("", "pods");
        let none = row(&rt, &pod(), IncludeObject::None, now());
        assert!(none.get("object").is_none());
        let full = row(&rt, &pod(), IncludeObject::Object, now());
        assert_eq!(full["object"], pod());
    }

    #[test]
    fn empty_list_and_remaining_count() {
        let rt = builtin("", "configmaps");
        let mut t = table(&rt, &[], "5", None, IncludeObject::Metadata, now());
        assert_eq!(t["rows"], json!([]));
        assert_eq!(t["metadata"], json!({"resourceVersion": "5"}));
        set_remaining_item_count(&mut t, 0);
        assert_eq!(
            t["metadata"],
            json!({"resourceVersion": "5", "remainingItemCount": 0})
        );
    }

    #[test]
    fn watch_events_carry_columns_only_first() {
        let rt = builtin("", "pods");
        let p = Printer::new(&rt);
        let first = p.watch_table(&pod(), IncludeObject::Metadata, now(), true);
        let later = p.watch_table(&pod(), IncludeObject::Metadata, now(), false);
        assert_eq!(first["columnDefinitions"].as_array().map(Vec::len), Some(9));
        assert_eq!(later["columnDefinitions"], Value::Null);
        assert_eq!(later["rows"].as_array().map(Vec::len), Some(1));
        assert_eq!(later["metadata"], json!({"resourceVersion": "101"}));
        let single = object_table(&rt, &pod(), IncludeObject::None, now());
        assert_eq!(single["metadata"]["resourceVersion"], "101");
        assert_eq!(single["columnDefinitions"], first["columnDefinitions"]);
    }

    #[test]
    fn partial_object_metadata_shapes() {
        let p = partial_object_metadata(&pod());
        assert_eq!(p["kind"], "PartialObjectMetadata");
        assert_eq!(p["metadata"]["labels"], json!({"app": "web"}));
        assert!(p.get("spec").is_none());
        assert_eq!(partial_object_metadata(&json!({}))["metadata"], json!({}));
        let list = partial_object_metadata_list(&[pod(), pod()], "9", Some("next"));
        assert_eq!(list["kind"], "PartialObjectMetadataList");
        assert_eq!(list["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(
            list["metadata"],
            json!({"resourceVersion": "9", "continue": "next"})
        );
        assert_eq!(list["items"][1]["kind"], "PartialObjectMetadata");
        assert_eq!(list["items"][1]["metadata"]["name"], "web-1");
    }

    /// Every built-in prints one cell per column, whatever the object holds.
    #[test]
    fn every_builtin_fills_every_column() {
        let weird = json!({"metadata": {"name": 5}, "spec": [], "status": "x"});
        for rt in Registry::with_builtins().all() {
            let n = column_definitions(&rt).len();
            for obj in [json!({}), json!({"metadata": {"name": "x"}}), weird.clone()] {
                assert_eq!(cells(&rt, &obj).len(), n, "{}", rt.plural);
            }
            let defs = column_definitions(&rt);
            let name = defs
                .iter()
                .find(|c| c["name"] == "Name")
                .expect("a Name column");
            assert_eq!(name["format"], "name", "{}", rt.plural);
        }
    }

    #[test]
    fn unknown_types_print_name_and_age() {
        let mut rt = builtin("", "configmaps");
        rt.plural = "podtemplates".into();
        assert_eq!(headers(&rt), ["Name", "Age"]);
        let obj = json!({"metadata": {"name": "t", "creationTimestamp": ago(3600)}});
        assert_eq!(cells(&rt, &obj), [json!("t"), json!("60m")]);
    }
}
