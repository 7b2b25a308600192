use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::catalog::{self, REF_PREFIX};
use super::*;
use crate::registry::{CustomVersion, Registry, ResourceType, ScalePaths, Subresources};

fn openapi() -> (Arc<Registry>, OpenApi) {
    let registry = Arc::new(Registry::with_builtins());
    let api = OpenApi::new(registry.clone());
    (registry, api)
}

fn doc(api: &OpenApi, path: &str) -> Value {
    let (bytes, _) = api.group_version(path).expect(path);
    serde_json::from_slice(&bytes).expect("document is JSON")
}

fn root(api: &OpenApi) -> Value {
    serde_json::from_slice(&api.root()).expect("root is JSON")
}

fn widget(schema: Option<Value>, scale: bool) -> ResourceType {
    let mut rt = crate::registry::example_widget(CustomVersion {
        schema,
        printer_columns: vec![],
        scale: scale.then(|| ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: None,
        }),
    });
    rt.subresources = Subresources {
        status: true,
        scale,
        pod_extras: false,
    };
    rt
}

fn widget_schema() -> Value {
    json!({
        "type": "object",
        "description": "A widget.",
        "properties": {
            "spec": {
                "type": "object",
                "description": "What the widget should be.",
                "properties": {
                    "size": {"type": "integer", "description": "How big."},
                    "color": {"type": "string", "enum": ["red", "blue"]}
                }
            },
            "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}
        }
    })
}

/// The first PATCH operation in `doc` whose GVK is `gvk`.
fn patch_ops<'a>(doc: &'a Value, gvk: &Value) -> Vec<(&'a String, &'a Value)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter_map(|(p, item)| item.get("patch").map(|op| (p, op)))
        .filter(|(_, op)| &op["x-kubernetes-group-version-kind"] == gvk)
        .collect()
}

fn has_query_param(op: &Value, name: &str) -> bool {
    op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "query"))
}

/// Every `$ref` in the document resolves within it.
fn assert_refs_resolve(doc: &Value) {
    let mut refs = Vec::new();
    catalog::collect_refs(doc, &mut refs);
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for r in refs {
        assert!(schemas.contains_key(&r), "dangling reference {r}");
    }
    let text = doc.to_string();
    assert!(!text.contains("#/$defs"), "draft 2020-12 reference left in");
    assert!(
        !text.contains("#/definitions/"),
        "swagger 2 reference left in"
    );
}

/// Follows `$ref` and single-`allOf` wrappers, as `kubectl explain` does.
fn deref<'a>(doc: &'a Value, mut s: &'a Value) -> &'a Value {
    loop {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r.strip_prefix(REF_PREFIX).expect("local ref");
            s = &doc["components"]["schemas"][name];
        } else if let Some(all) = s.get("allOf").and_then(Value::as_array)
            && all.len() == 1
            && s.get("properties").is_none()
        {
            s = &all[0];
        } else {
            return s;
        }
    }
}

#[test]
fn root_lists_every_group_version_with_hash() {
    let (_, api) = openapi();
    let root = root(&api);
    let paths = root["paths"].as_object().expect("paths");
    for gv in [
        "api/v1",
        "apis/apps/v1",
        "apis/batch/v1",
        "apis/coordination.k8s.io/v1",
        "apis/discovery.k8s.io/v1",
        "apis/scheduling.k8s.io/v1",
        "apis/apiextensions.k8s.io/v1",
    ] {
        let url = paths[gv]["serverRelativeURL"].as_str().expect(gv);
        let (_, hash) = api.group_version(gv).expect(gv);
        assert_eq!(url, format!("/openapi/v3/{gv}?hash={hash}"));
        assert!(!hash.is_empty());
    }
    assert!(
        api.group_version("/openapi/v3/apis/apps/v1?hash=x")
            .is_some()
    );
    assert!(api.group_version("/apis/apps/v1").is_some());
    assert!(api.group_version("apis/nope/v1").is_none());
}

#[test]
fn patch_operations_advertise_field_validation() {
    let (registry, api) = openapi();
    for rt in registry.all() {
        let doc = doc(&api, rt.group_version_path().trim_start_matches('/'));
        let gvk = json!({"group": rt.group, "kind": rt.kind, "version": rt.version});
        let ops = patch_ops(&doc, &gvk);
        assert!(!ops.is_empty(), "no PATCH operation for {}", rt.kind);
        for (path, op) in ops {
            for p in ["fieldValidation", "fieldManager", "dryRun", "force"] {
                assert!(has_query_param(op, p), "{path} PATCH lacks {p}");
            }
            let content = op["requestBody"]["content"].as_object().expect("content");
            for t in [
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
                "application/strategic-merge-patch+json",
            ] {
                assert!(content.contains_key(t), "{path} PATCH lacks {t}");
            }
            assert_eq!(op["x-kubernetes-action"], "patch");
        }
    }
}

#[test]
fn collection_and_item_operations() {
    let (_, api) = openapi();
    let doc = doc(&api, "apis/apps/v1");
    let paths = &doc["paths"];
    let list = &paths["/apis/apps/v1/namespaces/{namespace}/deployments"];
    assert_eq!(list["get"]["x-kubernetes-action"], "list");
    assert_eq!(list["get"]["operationId"], "listAppsV1NamespacedDeployment");
    for p in [
        "labelSelector",
        "fieldSelector",
        "limit",
        "continue",
        "resourceVersion",
        "watch",
        "timeoutSeconds",
    ] {
        assert!(has_query_param(&list["get"], p), "list lacks {p}");
    }
    assert_eq!(
        list["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentList"
    );
    assert_eq!(list["post"]["x-kubernetes-action"], "post");
    assert!(has_query_param(&list["post"], "fieldValidation"));
    assert_eq!(list["delete"]["x-kubernetes-action"], "deletecollection");
    assert_eq!(
        paths["/apis/apps/v1/deployments"]["get"]["operationId"],
        "listAppsV1DeploymentForAllNamespaces"
    );
    let item = &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
    for (verb, action) in [
        ("get", "get"),
        ("put", "put"),
        ("patch", "patch"),
        ("delete", "delete"),
    ] {
        assert_eq!(item[verb]["x-kubernetes-action"], action);
        assert_eq!(
            item[verb]["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "kind": "Deployment", "version": "v1"})
        );
    }
    assert_eq!(
        item["patch"]["operationId"],
        "patchAppsV1NamespacedDeployment"
    );
    let status = &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status"];
    assert_eq!(
        status["patch"]["operationId"],
        "patchAppsV1NamespacedDeploymentStatus"
    );
    let scale = &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
    assert_eq!(
        scale["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"
    );
    assert_eq!(
        scale["patch"]["x-kubernetes-group-version-kind"],
        json!({"group": "autoscaling", "kind": "Scale", "version": "v1"})
    );
    assert!(has_query_param(&scale["patch"], "fieldValidation"));
    let scale_schema = &doc["components"]["schemas"]["io.k8s.api.autoscaling.v1.Scale"];
    assert_eq!(
        scale_schema["x-kubernetes-group-version-kind"],
        json!([{"group": "autoscaling", "kind": "Scale", "version": "v1"}])
    );
    // DaemonSets have no scale subresource.
    assert!(
        paths
            .get("/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}/scale")
            .is_none()
    );
    // Cluster-scoped resources have no namespace segment.
    let core = self::doc(&api, "api/v1");
    assert_eq!(
        core["paths"]["/api/v1/nodes/{name}"]["get"]["operationId"],
        "readCoreV1Node"
    );
    assert!(core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"].is_object());
    assert!(
        core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"].is_object()
    );
    assert!(core["components"]["schemas"]["io.k8s.api.policy.v1.Eviction"].is_object());
}

#[test]
fn explain_can_walk_pod_spec_containers() {
    let (_, api) = openapi();
    let doc = doc(&api, "api/v1");
    assert_refs_resolve(&doc);
    assert_eq!(doc["openapi"], "3.0.0");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    // kubectl explain finds the kind by its GVK marker.
    let pod_gvk = json!({"group": "", "kind": "Pod", "version": "v1"});
    let (name, pod) = schemas
        .iter()
        .find(|(_, s)| {
            s["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|l| l.contains(&pod_gvk))
        })
        .expect("a schema marked Pod");
    assert_eq!(name, "io.k8s.api.core.v1.Pod");
    assert!(pod["description"].as_str().is_some_and(|d| !d.is_empty()));
    let spec = deref(&doc, &pod["properties"]["spec"]);
    assert!(spec["description"].is_string());
    let containers = &spec["properties"]["containers"];
    assert_eq!(containers["type"], "array");
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    let container = deref(&doc, &containers["items"]);
    assert!(container["properties"]["imagePullPolicy"]["description"].is_string());
    assert!(container["properties"]["resources"].is_object());
    // Lists are marked too.
    assert_eq!(
        schemas["io.k8s.api.core.v1.PodList"]["x-kubernetes-group-version-kind"],
        json!([{"group": "", "kind": "PodList", "version": "v1"}])
    );
    // Path-level GVK for explain's lookup.
    assert_eq!(
        doc["paths"]["/api/v1/namespaces/{namespace}/pods"]["get"]["x-kubernetes-group-version-kind"],
        pod_gvk
    );
}

#[test]
fn every_document_is_self_contained() {
    let (_, api) = openapi();
    for path in api.group_version_paths() {
        let d = doc(&api, &path);
        assert_refs_resolve(&d);
        for (name, s) in d["components"]["schemas"].as_object().expect("schemas") {
            assert!(s.is_object(), "{path}: {name} is not a schema object");
        }
    }
}

#[test]
fn every_builtin_type_maps_to_a_schema() {
    let registry = Registry::with_builtins();
    for rt in registry.all() {
        let name = catalog::builtin_schema_name(&rt.group, &rt.version, &rt.kind)
            .unwrap_or_else(|| panic!("no schema for {}/{}", rt.api_version(), rt.kind));
        let schema = catalog::catalog().get(name).expect("schema generated");
        assert!(schema["properties"]["metadata"].is_object(), "{name}");
        assert!(schema["description"].is_string(), "{name}");
    }
    for &(g, v, k) in catalog::KNOWN_KINDS {
        assert!(
            catalog::builtin_schema_name(g, v, k).is_some(),
            "{g}/{v} {k}"
        );
    }
}

#[test]
fn custom_resources_get_documents_and_hashes_change() {
    let (registry, api) = openapi();
    let root_before = api.root();
    let (_, core_hash) = api.group_version("api/v1").expect("core");
    let (_, apps_hash) = api.group_version("apis/apps/v1").expect("apps");
    assert!(api.group_version("apis/example.com/v1").is_none());

    registry.set_custom(
        "example.com",
        "widgets",
        vec![widget(Some(widget_schema()), true)],
    );
    let root_after = api.root();
    assert_ne!(root_before, root_after);
    let root = root(&api);
    let url = root["paths"]["apis/example.com/v1"]["serverRelativeURL"]
        .as_str()
        .expect("widget group version listed");
    let (_, widget_hash) = api.group_version("apis/example.com/v1").expect("widgets");
    assert!(url.ends_with(&widget_hash));
    // Untouched group versions keep their hashes, so kubectl's cache stays warm.
    assert_eq!(api.group_version("api/v1").expect("core").1, core_hash);
    assert_eq!(
        api.group_version("apis/apps/v1").expect("apps").1,
        apps_hash
    );

    let d = doc(&api, "apis/example.com/v1");
    assert_refs_resolve(&d);
    let schemas = &d["components"]["schemas"];
    let w = &schemas["com.example.v1.Widget"];
    assert_eq!(
        w["x-kubernetes-group-version-kind"],
        json!([{"group": "example.com", "kind": "Widget", "version": "v1"}])
    );
    assert_eq!(w["description"], "A widget.");
    assert_eq!(w["properties"]["apiVersion"]["type"], "string");
    assert_eq!(w["properties"]["kind"]["type"], "string");
    assert_eq!(
        deref(&d, &w["properties"]["metadata"])["properties"]["name"]["type"],
        "string"
    );
    assert_eq!(
        w["properties"]["spec"]["properties"]["size"]["description"],
        "How big."
    );
    assert_eq!(
        schemas["com.example.v1.WidgetList"]["x-kubernetes-group-version-kind"],
        json!([{"group": "example.com", "kind": "WidgetList", "version": "v1"}])
    );
    assert!(schemas["io.k8s.api.autoscaling.v1.Scale"].is_object());

    // PATCH: fieldValidation, but no strategic merge patch for custom resources.
    let gvk = json!({"group": "example.com", "kind": "Widget", "version": "v1"});
    let ops = patch_ops(&d, &gvk);
    assert_eq!(ops.len(), 2, "object and status");
    for (_, op) in ops {
        assert!(has_query_param(op, "fieldValidation"));
        let content = op["requestBody"]["content"].as_object().expect("content");
        assert!(!content.contains_key("application/strategic-merge-patch+json"));
        assert!(content.contains_key("application/merge-patch+json"));
    }
    assert!(
        d["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/scale"]["patch"]
            .is_object()
    );

    // Changing the CRD changes the hash; removing it drops the document.
    let mut schema = widget_schema();
    schema["properties"]["spec"]["properties"]["weight"] = json!({"type": "number"});
    registry.set_custom("example.com", "widgets", vec![widget(Some(schema), true)]);
    let (_, new_hash) = api.group_version("apis/example.com/v1").expect("widgets");
    assert_ne!(new_hash, widget_hash);
    registry.remove_custom("example.com", "widgets");
    assert!(api.group_version("apis/example.com/v1").is_none());
    assert_eq!(api.root(), root_before);
}

#[test]
fn custom_resource_without_schema_preserves_unknown_fields() {
    let (registry, api) = openapi();
    registry.set_custom("example.com", "widgets", vec![widget(None, false)]);
    let d = doc(&api, "apis/example.com/v1");
    let w = &d["components"]["schemas"]["com.example.v1.Widget"];
    assert_eq!(w["type"], "object");
    assert_eq!(w["x-kubernetes-preserve-unknown-fields"], true);
    assert!(w["properties"]["metadata"].is_object());
    assert!(d["components"]["schemas"]["io.k8s.api.autoscaling.v1.Scale"].is_null());
}

#[test]
fn documents_are_cached_per_generation() {
    let (registry, api) = openapi();
    let a = api.group_version("api/v1").expect("core").0;
    let b = api.group_version("api/v1").expect("core").0;
    // Same allocation: served from the cache.
    assert_eq!(a.as_ptr(), b.as_ptr());
    registry.set_custom("example.com", "widgets", vec![widget(None, false)]);
    let c = api.group_version("api/v1").expect("core").0;
    // Reused across generations too, since core types did not change.
    assert_eq!(a.as_ptr(), c.as_ptr());
}

#[test]
fn build_time() {
    // Catalogue (once per process) and all documents (per registry change).
    let t0 = Instant::now();
    let _ = catalog::catalog();
    let catalog_time = t0.elapsed();
    let registry = Registry::with_builtins();
    let types = registry.all();
    let t1 = Instant::now();
    let snapshot = Snapshot::build(0, &types, None);
    let docs_time = t1.elapsed();
    let bytes: usize = snapshot.docs.values().map(|d| d.bytes.len()).sum();
    eprintln!(
        "openapi: catalogue {catalog_time:?} ({} schemas), {} documents {docs_time:?}, {bytes} bytes",
        catalog::catalog().len(),
        snapshot.docs.len(),
    );
    // A CRD change rebuilds only its own document.
    let mut with_crd = types.clone();
    with_crd.push(Arc::new(widget(Some(widget_schema()), true)));
    let t2 = Instant::now();
    let _ = Snapshot::build(1, &with_crd, Some(&snapshot));
    eprintln!("openapi: rebuild after CRD change {:?}", t2.elapsed());
}
