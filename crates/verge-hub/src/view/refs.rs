//! What a pod makes its node hold besides the pod itself: the ConfigMaps,
//! Secrets and ServiceAccount its spec names (the same fields kube's node
//! authorizer follows).
//!
//! `optional` does not matter here: a reference is tracked whether or not
//! the object exists, and the view holds the object only while it exists.
//! A missing optional ConfigMap is simply absent on the edge; one created
//! later reaches the node then.

use serde::Deserialize;

use super::kind::Kind;

/// One object a pod references, in the pod's namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    pub kind: Kind,
    pub name: String,
}

/// What the view needs of a pod.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PodBinding {
    pub namespace: String,
    pub uid: String,
    /// spec.nodeName; None while unscheduled.
    pub node: Option<String>,
    /// Sorted, without duplicates.
    pub refs: Vec<Reference>,
}

/// Why a pod could not be read.
#[derive(Debug, thiserror::Error)]
#[error("pod JSON does not decode: {0}")]
pub struct PodDecodeError(#[from] serde_json::Error);

/// Reads a pod's binding and references from its JSON.
pub fn pod_binding(json: &[u8]) -> Result<PodBinding, PodDecodeError> {
    let pod: Pod = serde_json::from_slice(json)?;
    let spec = pod.spec;
    let mut refs = Vec::new();
    let mut add = |kind: Kind, name: &Option<String>| {
        if let Some(name) = name.as_deref().filter(|n| !n.is_empty()) {
            refs.push(Reference {
                kind,
                name: name.to_owned(),
            });
        }
    };
    // Tokens for the account are minted per pod through TokenRequest by the
    // session layer (an extension point of the hub); the view carries the
    // ServiceAccount object itself so the edge knows the account exists.
    add(Kind::ServiceAccount, &spec.service_account_name);
    for s in &spec.image_pull_secrets {
        add(Kind::Secret, &s.name);
    }
    for c in spec
        .containers
        .iter()
        .chain(&spec.init_containers)
        .chain(&spec.ephemeral_containers)
    {
        for e in &c.env {
            if let Some(from) = &e.value_from {
                if let Some(r) = &from.config_map_key_ref {
                    add(Kind::ConfigMap, &r.name);
                }
                if let Some(r) = &from.secret_key_ref {
                    add(Kind::Secret, &r.name);
                }
            }
        }
        for e in &c.env_from {
            if let Some(r) = &e.config_map_ref {
                add(Kind::ConfigMap, &r.name);
            }
            if let Some(r) = &e.secret_ref {
                add(Kind::Secret, &r.name);
            }
        }
    }
    for v in &spec.volumes {
        if let Some(cm) = &v.config_map {
            add(Kind::ConfigMap, &cm.name);
        }
        if let Some(s) = &v.secret {
            add(Kind::Secret, &s.secret_name);
        }
        if let Some(p) = &v.projected {
            for src in &p.sources {
                if let Some(cm) = &src.config_map {
                    add(Kind::ConfigMap, &cm.name);
                }
                if let Some(s) = &src.secret {
                    add(Kind::Secret, &s.name);
                }
            }
        }
        if let Some(f) = &v.azure_file {
            add(Kind::Secret, &f.secret_name);
        }
        if let Some(csi) = &v.csi
            && let Some(r) = &csi.node_publish_secret_ref
        {
            add(Kind::Secret, &r.name);
        }
        for plugin in [
            &v.cephfs,
            &v.cinder,
            &v.flex_volume,
            &v.iscsi,
            &v.rbd,
            &v.scale_io,
            &v.storageos,
        ]
        .into_iter()
        .flatten()
        {
            if let Some(r) = &plugin.secret_ref {
                add(Kind::Secret, &r.name);
            }
        }
    }
    refs.sort();
    refs.dedup();
    Ok(PodBinding {
        namespace: pod.metadata.namespace,
        uid: pod.metadata.uid,
        node: spec.node_name.filter(|n| !n.is_empty()),
        refs,
    })
}

// Only the fields the view reads; everything else is skipped by serde.

#[derive(Deserialize, Default)]
#[serde(default)]
struct Pod {
    metadata: Meta,
    spec: Spec,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Meta {
    namespace: String,
    uid: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    node_name: Option<String>,
    service_account_name: Option<String>,
    image_pull_secrets: Vec<NameRef>,
    containers: Vec<Container>,
    init_containers: Vec<Container>,
    ephemeral_containers: Vec<Container>,
    volumes: Vec<Volume>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NameRef {
    name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Container {
    env: Vec<EnvVar>,
    env_from: Vec<EnvFrom>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct EnvVar {
    value_from: Option<EnvSource>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct EnvSource {
    config_map_key_ref: Option<NameRef>,
    secret_key_ref: Option<NameRef>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct EnvFrom {
    config_map_ref: Option<NameRef>,
    secret_ref: Option<NameRef>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Volume {
    config_map: Option<NameRef>,
    secret: Option<SecretVolume>,
    projected: Option<Projected>,
    azure_file: Option<SecretVolume>,
    csi: Option<Csi>,
    cephfs: Option<SecretRefHolder>,
    cinder: Option<SecretRefHolder>,
    flex_volume: Option<SecretRefHolder>,
    iscsi: Option<SecretRefHolder>,
    rbd: Option<SecretRefHolder>,
    #[serde(rename = "scaleIO")]
    scale_io: Option<SecretRefHolder>,
    storageos: Option<SecretRefHolder>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct SecretVolume {
    secret_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Projected {
    sources: Vec<ProjectedSource>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ProjectedSource {
    config_map: Option<NameRef>,
    secret: Option<NameRef>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Csi {
    node_publish_secret_ref: Option<NameRef>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct SecretRefHolder {
    secret_ref: Option<NameRef>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(kind: Kind, name: &str) -> Reference {
        Reference {
            kind,
            name: name.into(),
        }
    }

    fn binding(v: serde_json::Value) -> PodBinding {
        pod_binding(v.to_string().as_bytes()).expect("decodes")
    }

    #[test]
    fn every_field_that_names_a_configmap_or_secret_is_followed() {
        let env = |p: &str| {
            json!({
                "env": [
                    {"name": "plain", "value": "x"},
                    {"name": "a", "valueFrom": {"configMapKeyRef": {"name": format!("{p}-env-cm"), "key": "k", "optional": true}}},
                    {"name": "b", "valueFrom": {"secretKeyRef": {"name": format!("{p}-env-s"), "key": "k"}}},
                    {"name": "c", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
                ],
                "envFrom": [
                    {"configMapRef": {"name": format!("{p}-from-cm")}},
                    {"prefix": "X_", "secretRef": {"name": format!("{p}-from-s"), "optional": true}}
                ]
            })
        };
        let mut c = env("c");
        c["name"] = json!("main");
        let mut i = env("i");
        i["name"] = json!("init");
        let mut e = env("e");
        e["name"] = json!("debug");
        let b = binding(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {
                "nodeName": "n1",
                "serviceAccountName": "sa",
                "imagePullSecrets": [{"name": "pull"}, {}],
                "containers": [c],
                "initContainers": [i],
                "ephemeralContainers": [e],
                "volumes": [
                    {"name": "v1", "configMap": {"name": "vol-cm", "optional": true}},
                    {"name": "v2", "secret": {"secretName": "vol-s"}},
                    {"name": "v3", "projected": {"sources": [
                        {"configMap": {"name": "proj-cm"}},
                        {"secret": {"name": "proj-s"}},
                        {"serviceAccountToken": {"path": "token"}},
                        {"downwardAPI": {"items": []}}
                    ]}},
                    {"name": "v4", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "csi-s"}}},
                    {"name": "v5", "azureFile": {"secretName": "az-s", "shareName": "x"}},
                    {"name": "v6", "cephfs": {"monitors": [], "secretRef": {"name": "ceph-s"}}},
                    {"name": "v7", "cinder": {"volumeID": "x", "secretRef": {"name": "cinder-s"}}},
                    {"name": "v8", "flexVolume": {"driver": "x", "secretRef": {"name": "flex-s"}}},
                    {"name": "v9", "iscsi": {"secretRef": {"name": "iscsi-s"}}},
                    {"name": "v10", "rbd": {"secretRef": {"name": "rbd-s"}}},
                    {"name": "v11", "scaleIO": {"secretRef": {"name": "scaleio-s"}}},
                    {"name": "v12", "storageos": {"secretRef": {"name": "storageos-s"}}},
                    {"name": "v13", "emptyDir": {}}
                ]
            }
        }));
        assert_eq!(b.node.as_deref(), Some("n1"));
        assert_eq!(b.namespace, "ns");
        assert_eq!(b.uid, "u");
        let mut want = vec![
            r(Kind::ServiceAccount, "sa"),
            r(Kind::Secret, "pull"),
            r(Kind::ConfigMap, "vol-cm"),
            r(Kind::Secret, "vol-s"),
            r(Kind::ConfigMap, "proj-cm"),
            r(Kind::Secret, "proj-s"),
            r(Kind::Secret, "csi-s"),
            r(Kind::Secret, "az-s"),
            r(Kind::Secret, "ceph-s"),
            r(Kind::Secret, "cinder-s"),
            r(Kind::Secret, "flex-s"),
            r(Kind::Secret, "iscsi-s"),
            r(Kind::Secret, "rbd-s"),
            r(Kind::Secret, "scaleio-s"),
            r(Kind::Secret, "storageos-s"),
        ];
        for p in ["c", "i", "e"] {
            want.push(r(Kind::ConfigMap, &format!("{p}-env-cm")));
            want.push(r(Kind::Secret, &format!("{p}-env-s")));
            want.push(r(Kind::ConfigMap, &format!("{p}-from-cm")));
            want.push(r(Kind::Secret, &format!("{p}-from-s")));
        }
        want.sort();
        assert_eq!(b.refs, want);
    }

    #[test]
    fn duplicates_collapse_and_empty_names_are_ignored() {
        let b = binding(json!({
            "metadata": {"namespace": "ns"},
            "spec": {
                "nodeName": "",
                "serviceAccountName": "",
                "containers": [
                    {"envFrom": [{"configMapRef": {"name": "cm"}}, {"configMapRef": {"name": ""}}]},
                    {"envFrom": [{"configMapRef": {"name": "cm"}}]}
                ],
                "volumes": [{"name": "v", "configMap": {"name": "cm"}}, {"name": "w", "configMap": {}}]
            }
        }));
        assert_eq!(b.node, None, "an empty nodeName is unscheduled");
        assert_eq!(b.refs, vec![r(Kind::ConfigMap, "cm")]);
    }

    #[test]
    fn a_pod_without_spec_references_nothing_and_bad_json_is_an_error() {
        let b = binding(json!({"metadata": {"name": "p", "namespace": "ns"}}));
        assert_eq!(b.refs, vec![]);
        assert!(pod_binding(b"{not json").is_err());
        assert!(pod_binding(br#"{"spec": {"volumes": 3}}"#).is_err());
    }
}
