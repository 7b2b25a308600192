//! API discovery: what `kubectl api-resources` prints and how kubectl maps
//! `deploy` to `deployments.apps`. Served in the aggregated form
//! (apidiscovery.k8s.io/v2: two requests per kubectl command) and the legacy
//! form (one request per group version; kube-rs `Discovery::run`).

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::registry::{Registry, ResourceType};

/// The Content-Type kubectl checks before it parses aggregated discovery.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Does this Accept header ask for aggregated discovery?
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let p: Vec<&str> = part.split(';').map(str::trim).collect();
        p.contains(&"g=apidiscovery.k8s.io")
            && p.contains(&"as=APIGroupDiscoveryList")
            && (p.contains(&"v=v2") || p.contains(&"v=v2beta1"))
    })
}

/// Discovery documents, rebuilt when the registry changes.
pub struct Discovery {
    registry: Arc<Registry>,
    cached: Mutex<Option<(u64, Arc<Documents>)>>,
}

pub struct Documents {
    pub aggregated_core: Bytes,
    pub aggregated_groups: Bytes,
    pub legacy_api: Bytes,
    pub legacy_apis: Bytes,
    /// "/api/v1", "/apis/apps", "/apis/apps/v1" → document.
    pub legacy: std::collections::HashMap<String, Bytes>,
}

impl Discovery {
    pub fn new(registry: Arc<Registry>) -> Self {
        Discovery {
            registry,
            cached: Mutex::new(None),
        }
    }

    pub fn documents(&self) -> Arc<Documents> {
        let generation = self.registry.generation();
        let mut cached = self.cached.lock();
        if let Some((g, docs)) = cached.as_ref()
            && *g == generation
        {
            return docs.clone();
        }
        let docs = Arc::new(build(&self.registry.all()));
        *cached = Some((generation, docs.clone()));
        docs
    }
}

/// A group's versions, each with its types, in order.
type GroupVersions = Vec<(String, Vec<Arc<ResourceType>>)>;

/// Groups in order of first appearance, each with its versions in order.
fn groups(types: &[Arc<ResourceType>]) -> Vec<(String, GroupVersions)> {
    let mut out: Vec<(String, GroupVersions)> = Vec::new();
    for t in types {
        let gi = match out.iter().position(|(g, _)| *g == t.group) {
            Some(i) => i,
            None => {
                out.push((t.group.clone(), Vec::new()));
                out.len() - 1
            }
        };
        let versions = &mut out[gi].1;
        let vi = match versions.iter().position(|(v, _)| *v == t.version) {
            Some(i) => i,
            None => {
                versions.push((t.version.clone(), Vec::new()));
                versions.len() - 1
            }
        };
        versions[vi].1.push(t.clone());
    }
    out
}

fn subresources(t: &ResourceType) -> Vec<(&'static str, Value, Vec<&'static str>)> {
    let own = json!({"group": t.group, "version": t.version, "kind": t.kind});
    let mut subs = Vec::new();
    if t.subresources.status {
        subs.push(("status", own.clone(), vec!["get", "patch", "update"]));
    }
    if t.subresources.scale {
        subs.push((
            "scale",
            json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}),
            vec!["get", "patch", "update"],
        ));
    }
    if t.kind == "Namespace" && t.group.is_empty() {
        subs.push(("finalize", own.clone(), vec!["update"]));
    }
    if t.kind == "CertificateSigningRequest" && t.group == "certificates.k8s.io" {
        subs.push(("approval", own.clone(), vec!["get", "patch", "update"]));
    }
    if t.subresources.pod_extras {
        subs.push((
            "binding",
            json!({"group": "", "version": "v1", "kind": "Binding"}),
            vec!["create"],
        ));
        subs.push((
            "eviction",
            json!({"group": "policy", "version": "v1", "kind": "Eviction"}),
            vec!["create"],
        ));
        subs.push(("log", own.clone(), vec!["get"]));
        for s in ["exec", "attach", "portforward"] {
            subs.push((
                s,
                json!({"group": "", "version": "v1", "kind": "PodExecOptions"}),
                vec!["create", "get"],
            ));
        }
    }
    subs
}

fn aggregated_resource(t: &ResourceType) -> Value {
    let mut r = json!({
        "resource": t.plural,
        "responseKind": {"group": t.group, "version": t.version, "kind": t.kind},
        "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": t.singular,
        "verbs": t.verbs(),
    });
    if !t.short_names.is_empty() {
        r["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        r["categories"] = json!(t.categories);
    }
    let subs: Vec<Value> = subresources(t)
        .into_iter()
        .map(|(name, kind, verbs)| json!({"subresource": name, "responseKind": kind, "verbs": verbs}))
        .collect();
    if !subs.is_empty() {
        r["subresources"] = json!(subs);
    }
    r
}

fn legacy_resources(group_version: &str, types: &[Arc<ResourceType>]) -> Value {
    let mut resources = Vec::new();
    for t in types {
        let mut r = json!({
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": t.verbs(),
        });
        if !t.short_names.is_empty() {
            r["shortNames"] = json!(t.short_names);
        }
        if !t.categories.is_empty() {
            r["categories"] = json!(t.categories);
        }
        resources.push(r);
        for (name, kind, verbs) in subresources(t) {
            let mut s = json!({
                "name": format!("{}/{name}", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": kind["kind"],
                "verbs": verbs,
            });
            if kind["group"] != json!(t.group) {
                s["group"] = kind["group"].clone();
                s["version"] = kind["version"].clone();
            }
            resources.push(s);
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

fn build(types: &[Arc<ResourceType>]) -> Documents {
    let groups = groups(types);
    let mut core_items = Vec::new();
    let mut group_items = Vec::new();
    let mut legacy_groups = Vec::new();
    let mut legacy = std::collections::HashMap::new();
    let mut core_versions = Vec::new();
    for (group, versions) in &groups {
        let agg_versions: Vec<Value> = versions
            .iter()
            .map(|(v, ts)| {
                json!({
                    "version": v,
                    "freshness": "Current",
                    "resources": ts.iter().map(|t| aggregated_resource(t)).collect::<Vec<_>>(),
                })
            })
            .collect();
        let item = json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": agg_versions});
        let gv = |v: &str| {
            if group.is_empty() {
                v.to_owned()
            } else {
                format!("{group}/{v}")
            }
        };
        for (v, ts) in versions {
            let path = if group.is_empty() {
                format!("/api/{v}")
            } else {
                format!("/apis/{group}/{v}")
            };
            legacy.insert(path, to_bytes(&legacy_resources(&gv(v), ts)));
        }
        if group.is_empty() {
            core_items.push(item);
            core_versions.extend(versions.iter().map(|(v, _)| v.clone()));
        } else {
            group_items.push(item);
            let vlist: Vec<Value> = versions
                .iter()
                .map(|(v, _)| json!({"groupVersion": gv(v), "version": v}))
                .collect();
            let preferred = vlist.first().cloned().unwrap_or(json!({}));
            let g = json!({"name": group, "versions": vlist, "preferredVersion": preferred});
            let mut doc = g.clone();
            doc["kind"] = json!("APIGroup");
            doc["apiVersion"] = json!("v1");
            legacy.insert(format!("/apis/{group}"), to_bytes(&doc));
            legacy_groups.push(g);
        }
    }
    let list = |items: Vec<Value>| {
        to_bytes(&json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": items,
        }))
    };
    Documents {
        aggregated_core: list(core_items),
        aggregated_groups: list(group_items),
        legacy_api: to_bytes(&json!({
            "kind": "APIVersions",
            "versions": core_versions,
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
        })),
        legacy_apis: to_bytes(
            &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": legacy_groups}),
        ),
        legacy,
    }
}

fn to_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_lists_core_and_groups_separately() {
        let d = Discovery::new(Arc::new(Registry::with_builtins()));
        let docs = d.documents();
        let core: Value = serde_json::from_slice(&docs.aggregated_core).expect("json");
        assert_eq!(core["items"][0]["metadata"]["name"], "");
        let groups: Value = serde_json::from_slice(&docs.aggregated_groups).expect("json");
        let apps = groups["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|g| g["metadata"]["name"] == "apps")
            .expect("apps");
        let deploy = apps["versions"][0]["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["resource"] == "deployments")
            .expect("deployments");
        assert_eq!(deploy["shortNames"][0], "deploy");
        assert_eq!(deploy["categories"][0], "all");
        assert!(docs.legacy.contains_key("/apis/apps/v1"));
        assert!(docs.legacy.contains_key("/api/v1"));
    }

    #[test]
    fn recognises_kubectl_accept_header() {
        assert!(wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        ));
        assert!(!wants_aggregated("application/json, */*"));
    }
}
