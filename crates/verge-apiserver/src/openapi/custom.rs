//! Published schemas of custom resources: the CRD version's `openAPIV3Schema`
//! with the object envelope (`apiVersion`, `kind`, `metadata`) filled in.

use serde_json::{Map, Value, json};

use super::catalog::{self, schema_ref};
use crate::registry::{CustomVersion, ResourceType};

const API_VERSION_DESCRIPTION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DESCRIPTION: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
const METADATA_DESCRIPTION: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const LIST_METADATA_DESCRIPTION: &str = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// The `components.schemas` name of a kind that has no compiled-in schema, the
/// way Kubernetes names CRD schemas: the group reversed, then version and kind
/// (`com.example.v1.Widget`).
pub(crate) fn schema_name(group: &str, version: &str, kind: &str) -> String {
    let mut name: Vec<&str> = group.split('.').filter(|s| !s.is_empty()).rev().collect();
    name.push(version);
    name.push(kind);
    name.join(".")
}

/// The published schema of a custom resource version.
pub(crate) fn kind_schema(rt: &ResourceType, cv: Option<&CustomVersion>) -> Value {
    let mut schema = match cv.and_then(|cv| cv.schema.as_ref()) {
        Some(Value::Object(map)) => map.clone(),
        _ => {
            let mut map = Map::new();
            map.insert("type".into(), "object".into());
            map.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
            map
        }
    };
    schema.entry("type").or_insert_with(|| "object".into());

    let mut properties = match schema.shift_remove("properties") {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    let mut envelope = Map::new();
    envelope.insert(
        "apiVersion".into(),
        properties
            .shift_remove("apiVersion")
            .unwrap_or_else(|| json!({"description": API_VERSION_DESCRIPTION, "type": "string"})),
    );
    envelope.insert(
        "kind".into(),
        properties
            .shift_remove("kind")
            .unwrap_or_else(|| json!({"description": KIND_DESCRIPTION, "type": "string"})),
    );
    // Whatever the CRD says of metadata (at most name restrictions), clients
    // see the full ObjectMeta.
    properties.shift_remove("metadata");
    envelope.insert(
        "metadata".into(),
        json!({"description": METADATA_DESCRIPTION, "allOf": [schema_ref(catalog::OBJECT_META)]}),
    );
    envelope.extend(properties);
    schema.insert("properties".into(), Value::Object(envelope));
    schema.insert(
        "x-kubernetes-group-version-kind".into(),
        gvk_list(&rt.group, &rt.version, &rt.kind),
    );
    Value::Object(schema)
}

/// The schema of a `<Kind>List`.
pub(crate) fn list_schema(
    group: &str,
    version: &str,
    kind: &str,
    list_kind: &str,
    item: &str,
) -> Value {
    json!({
        "description": format!("{list_kind} is a list of {kind}"),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": API_VERSION_DESCRIPTION, "type": "string"},
            "items": {
                "description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", kind.to_lowercase()),
                "type": "array",
                "items": schema_ref(item),
            },
            "kind": {"description": KIND_DESCRIPTION, "type": "string"},
            "metadata": {"description": LIST_METADATA_DESCRIPTION, "allOf": [schema_ref(catalog::LIST_META)]},
        },
        "x-kubernetes-group-version-kind": gvk_list(group, version, list_kind),
    })
}

/// The schema-level GVK marker: a list, as `kubectl explain` expects.
pub(crate) fn gvk_list(group: &str, version: &str, kind: &str) -> Value {
    json!([{"group": group, "kind": kind, "version": version}])
}
