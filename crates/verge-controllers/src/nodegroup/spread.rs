//! GroupedDeployment: one Deployment per node group, each a copy of the
//! template pinned to its group's nodes.
//!
//! The Deployment for group `g` of GroupedDeployment `app` is `app-g`. It
//! carries the template with `verge.dev/node-group: g` added to its
//! selector, its pod labels and its pods' nodeSelector — the selector so
//! that the copies never adopt each other's pods, the nodeSelector so that
//! the scheduler places them in the group — and the group's overrides
//! (replicas, container images). The Deployment controller does the rest.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;
use verge_apimachinery::labels::is_dns1123_subdomain;
use verge_runtime::ObjectRef;

use super::membership::GROUP_LABEL;
use super::types::{GroupOverride, GroupedDeployment};
use crate::pods;

/// On every Deployment a GroupedDeployment makes: the GroupedDeployment's name.
pub const OWNER_LABEL: &str = "apps.verge.dev/grouped-deployment";
/// A hash of what the controller last wrote, to notice template changes
/// (including removals) without comparing defaulted specs.
pub const HASH_ANNOTATION: &str = "apps.verge.dev/template-hash";

/// The Deployment of `gd` for `group`, or why it cannot be made.
pub fn desired(
    gd: &GroupedDeployment,
    owner: &ObjectRef,
    group: &str,
    overrides: Option<&GroupOverride>,
) -> Result<Deployment, String> {
    let gd_name = gd.metadata.name.as_deref().unwrap_or_default();
    let name = format!("{gd_name}-{group}");
    if let Some(why) = is_dns1123_subdomain(&name).into_iter().next() {
        return Err(format!("the Deployment name {name:?} is not valid: {why}"));
    }
    let template = &gd.spec.deployment_template;
    let mut spec: DeploymentSpec = serde_json::from_value(template.spec.clone())
        .map_err(|e| format!("spec.deploymentTemplate.spec is not a DeploymentSpec: {e}"))?;
    pods::selector(Some(&spec.selector))
        .map_err(|e| format!("spec.deploymentTemplate.spec.selector: {e}"))?;

    if let Some(o) = overrides {
        if let Some(r) = o.replicas {
            spec.replicas = Some(r);
        }
        let pod = spec.template.spec.get_or_insert_with(Default::default);
        for (container, image) in &o.images {
            let found = pod
                .containers
                .iter_mut()
                .chain(pod.init_containers.iter_mut().flatten())
                .filter(|c| c.name == *container)
                .map(|c| c.image = Some(image.clone()))
                .count();
            if found == 0 {
                return Err(format!(
                    "nodeGroups[{group}].images names container {container:?}, which the template does not have"
                ));
            }
        }
    }
    spec.selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(GROUP_LABEL.to_owned(), group.to_owned());
    spec.template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(GROUP_LABEL.to_owned(), group.to_owned());
    spec.template
        .spec
        .get_or_insert_with(Default::default)
        .node_selector
        .get_or_insert_with(BTreeMap::new)
        .insert(GROUP_LABEL.to_owned(), group.to_owned());

    let mut labels = template.metadata.labels.clone();
    labels.insert(OWNER_LABEL.to_owned(), gd_name.to_owned());
    labels.insert(GROUP_LABEL.to_owned(), group.to_owned());
    let mut annotations = template.metadata.annotations.clone();
    annotations.remove(HASH_ANNOTATION);
    let mut d = Deployment {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: gd.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner.controller_owner()]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    };
    let fingerprint = serde_json::to_value((&d.metadata.labels, &d.metadata.annotations, &d.spec))
        .map_err(|e| e.to_string())?;
    let hash = pods::template_hash(&fingerprint, None);
    d.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(HASH_ANNOTATION.to_owned(), hash);
    Ok(d)
}

/// Whether `current` differs from `desired` in anything the controller
/// sets: the template changed (the hash), or someone edited the copy (the
/// desired spec is no longer contained in the stored, defaulted one).
pub fn needs_update(current: &Deployment, desired: &Deployment) -> bool {
    let hash = |d: &Deployment| {
        d.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(HASH_ANNOTATION))
            .cloned()
    };
    if hash(current) != hash(desired) {
        return true;
    }
    let as_json = |v: &Option<DeploymentSpec>| serde_json::to_value(v).unwrap_or(Value::Null);
    if !contains(&as_json(&current.spec), &as_json(&desired.spec)) {
        return true;
    }
    let labels = current.metadata.labels.clone().unwrap_or_default();
    !desired
        .metadata
        .labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v))
}

/// `outer` holds everything `inner` says: objects may have more keys
/// (defaults), arrays must match element by element.
pub fn contains(outer: &Value, inner: &Value) -> bool {
    match (outer, inner) {
        (_, Value::Null) => true,
        (Value::Object(o), Value::Object(i)) => i
            .iter()
            .all(|(k, v)| o.get(k).is_some_and(|ov| contains(ov, v)) || v.is_null()),
        (Value::Array(o), Value::Array(i)) => {
            o.len() == i.len() && o.iter().zip(i).all(|(a, b)| contains(a, b))
        }
        (o, i) => o == i,
    }
}

/// The Deployment's status as one entry of the GroupedDeployment's.
pub fn group_status(group: &str, d: Option<&Deployment>, message: Option<&str>) -> Value {
    let mut entry = serde_json::Map::new();
    entry.insert("name".into(), Value::from(group));
    if let Some(d) = d {
        entry.insert(
            "deployment".into(),
            Value::from(d.metadata.name.clone().unwrap_or_default()),
        );
        let s = d.status.clone().unwrap_or_default();
        entry.insert("replicas".into(), Value::from(s.replicas.unwrap_or(0)));
        entry.insert(
            "readyReplicas".into(),
            Value::from(s.ready_replicas.unwrap_or(0)),
        );
        entry.insert(
            "availableReplicas".into(),
            Value::from(s.available_replicas.unwrap_or(0)),
        );
        entry.insert(
            "updatedReplicas".into(),
            Value::from(s.updated_replicas.unwrap_or(0)),
        );
    }
    if let Some(m) = message {
        entry.insert("message".into(), Value::from(m));
    }
    Value::Object(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::nodegroup::types::GroupedDeploymentSpec;

    fn gd(spec: Value) -> GroupedDeployment {
        GroupedDeployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("demo".into()),
                uid: Some("uid-1".into()),
                ..ObjectMeta::default()
            },
            spec: serde_json::from_value::<GroupedDeploymentSpec>(spec).expect("spec"),
        }
    }

    fn owner() -> ObjectRef {
        ObjectRef {
            api_version: "apps.verge.dev/v1alpha1".into(),
            kind: "GroupedDeployment".into(),
            namespace: Some("demo".into()),
            name: "web".into(),
            uid: "uid-1".into(),
            resource_version: None,
        }
    }

    fn template() -> Value {
        json!({
            "deploymentTemplate": {
                "metadata": {"labels": {"team": "a"}},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}
                    }
                }
            },
            "nodeGroups": [{"name": "berlin"}, {"name": "paris", "replicas": 3, "images": {"web": "nginx:1.28"}}]
        })
    }

    #[test]
    fn copies_are_pinned_and_disjoint() {
        let g = gd(template());
        let d = desired(&g, &owner(), "berlin", g.spec.node_groups.first()).expect("valid");
        assert_eq!(d.metadata.name.as_deref(), Some("web-berlin"));
        let spec = d.spec.as_ref().expect("spec");
        assert_eq!(spec.replicas, Some(2));
        let sel = spec.selector.match_labels.as_ref().expect("labels");
        assert_eq!(sel.get(GROUP_LABEL).map(String::as_str), Some("berlin"));
        assert_eq!(sel.get("app").map(String::as_str), Some("web"));
        let pod = spec.template.spec.as_ref().expect("pod spec");
        assert_eq!(
            pod.node_selector
                .as_ref()
                .and_then(|n| n.get(GROUP_LABEL))
                .map(String::as_str),
            Some("berlin")
        );
        let labels = d.metadata.labels.as_ref().expect("labels");
        assert_eq!(labels.get(OWNER_LABEL).map(String::as_str), Some("web"));
        assert_eq!(labels.get("team").map(String::as_str), Some("a"));
        let refs = d.metadata.owner_references.as_ref().expect("owner");
        assert_eq!(refs[0].kind, "GroupedDeployment");
        assert_eq!(refs[0].controller, Some(true));
    }

    #[test]
    fn overrides_apply_per_group_and_change_the_hash() {
        let g = gd(template());
        let berlin = desired(&g, &owner(), "berlin", g.spec.node_groups.first()).expect("valid");
        let paris = desired(&g, &owner(), "paris", g.spec.node_groups.get(1)).expect("valid");
        let spec = paris.spec.as_ref().expect("spec");
        assert_eq!(spec.replicas, Some(3));
        let pod = spec.template.spec.as_ref().expect("pod");
        assert_eq!(pod.containers[0].image.as_deref(), Some("nginx:1.28"));
        let hash = |d: &Deployment| {
            d.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(HASH_ANNOTATION))
                .cloned()
        };
        assert!(hash(&berlin).is_some());
        assert_ne!(hash(&berlin), hash(&paris));
        // Same input, same hash.
        let again = desired(&g, &owner(), "berlin", g.spec.node_groups.first()).expect("valid");
        assert_eq!(hash(&berlin), hash(&again));
    }

    #[test]
    fn bad_templates_and_overrides_are_reported() {
        let mut t = template();
        t["deploymentTemplate"]["spec"] = json!({"replicas": "two"});
        assert!(
            desired(&gd(t), &owner(), "berlin", None).is_err_and(|e| e.contains("DeploymentSpec"))
        );
        let mut t = template();
        t["nodeGroups"][0]["images"] = json!({"sidecar": "x"});
        let g = gd(t);
        assert!(
            desired(&g, &owner(), "berlin", g.spec.node_groups.first())
                .is_err_and(|e| e.contains("sidecar"))
        );
        let g = gd(template());
        assert!(desired(&g, &owner(), "Bad_Name", None).is_err_and(|e| e.contains("not valid")));
    }

    #[test]
    fn defaulted_copies_need_no_update_but_edits_do() {
        let g = gd(template());
        let want = desired(&g, &owner(), "berlin", g.spec.node_groups.first()).expect("valid");
        let mut stored = serde_json::to_value(&want).expect("json");
        // What the API server adds.
        stored["spec"]["revisionHistoryLimit"] = json!(10);
        stored["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] =
            json!("IfNotPresent");
        stored["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!("1");
        let stored: Deployment = serde_json::from_value(stored).expect("deployment");
        assert!(!needs_update(&stored, &want));
        let mut scaled = stored.clone();
        scaled.spec.as_mut().expect("spec").replicas = Some(7);
        assert!(needs_update(&scaled, &want));
        let mut relabelled = stored.clone();
        relabelled
            .metadata
            .labels
            .as_mut()
            .expect("labels")
            .remove(OWNER_LABEL);
        assert!(needs_update(&relabelled, &want));
    }

    #[test]
    fn containment() {
        assert!(contains(&json!({"a": 1, "b": 2}), &json!({"a": 1})));
        assert!(!contains(&json!({"a": 1}), &json!({"a": 2})));
        assert!(contains(&json!([{"a": 1, "x": 0}]), &json!([{"a": 1}])));
        assert!(!contains(&json!([{"a": 1}, {"a": 2}]), &json!([{"a": 1}])));
        assert!(contains(&json!({}), &json!({"gone": null})));
    }
}
