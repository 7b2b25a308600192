//! What the Deployment controller remembers between reconciles, fed by its
//! watchers: each Deployment's uid and selector, which ReplicaSets each one
//! controls, and whom each ReplicaSet belongs to (so the deletion of a pod
//! wakes the Deployment waiting on it). Pods themselves are not kept.

use std::collections::{HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use verge_apimachinery::labels::Selector;
use verge_runtime::CachedObject;

use crate::pods;

/// "namespace/name", the work queue's key.
pub fn key(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
}

struct DeploymentInfo {
    uid: String,
    selector: Option<Selector>,
}

struct SetInfo {
    uid: String,
    /// Queue key and uid of its Deployment controller.
    owner: Option<(String, String)>,
}

#[derive(Default)]
pub struct Index {
    deployments: HashMap<String, DeploymentInfo>,
    by_ns: HashMap<String, HashSet<String>>,
    /// ReplicaSet storage key → what it is.
    sets: HashMap<String, SetInfo>,
    /// Deployment uid → storage keys of the ReplicaSets it controls.
    owned: HashMap<String, HashSet<String>>,
    /// ReplicaSet uid → queue key of its Deployment.
    set_owner: HashMap<String, String>,
}

#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    metadata: ObjectMeta,
}

/// Decodes only an object's metadata.
pub fn meta_of(obj: &CachedObject) -> Option<ObjectMeta> {
    match serde_json::from_slice::<Head>(&obj.bytes) {
        Ok(h) => Some(h.metadata),
        Err(e) => {
            tracing::warn!(key = %obj.key, error = %e, "object does not decode");
            None
        }
    }
}

/// The namespace in a storage key `/registry/<resource>/<ns>/<name>`.
fn namespace_of(key: &str) -> &str {
    let mut parts = key.rsplitn(3, '/');
    parts.next();
    parts.next().unwrap_or_default()
}

impl Index {
    pub fn new() -> Index {
        Index::default()
    }

    pub fn apply_deployment(
        &mut self,
        ns: &str,
        name: &str,
        uid: &str,
        selector: Option<Selector>,
    ) {
        let k = key(ns, name);
        self.by_ns
            .entry(ns.to_owned())
            .or_default()
            .insert(k.clone());
        self.deployments.insert(
            k,
            DeploymentInfo {
                uid: uid.to_owned(),
                selector,
            },
        );
    }

    pub fn delete_deployment(&mut self, ns: &str, name: &str) {
        let k = key(ns, name);
        self.deployments.remove(&k);
        if let Some(keys) = self.by_ns.get_mut(ns) {
            keys.remove(&k);
            if keys.is_empty() {
                self.by_ns.remove(ns);
            }
        }
    }

    pub fn clear_deployments(&mut self) {
        self.deployments.clear();
        self.by_ns.clear();
    }

    pub fn deployment_keys(&self) -> Vec<String> {
        self.deployments.keys().cloned().collect()
    }

    /// Records a ReplicaSet; returns the Deployments to reconcile: its
    /// controller (old and new), or for an orphan every Deployment of its
    /// namespace that could adopt it.
    pub fn apply_set(&mut self, obj: &CachedObject) -> Vec<String> {
        let Some(meta) = meta_of(obj) else {
            return Vec::new();
        };
        let ns = namespace_of(&obj.key).to_owned();
        let owner = pods::controller_of(&meta)
            .filter(|r| r.kind == "Deployment" && r.api_version.starts_with("apps/"))
            .map(|r| (key(&ns, &r.name), r.uid.clone()));
        let mut wake = Vec::new();
        let old = self.remove_set(&obj.key);
        if let Some((k, _)) = old.and_then(|o| o.owner)
            && owner.as_ref().is_none_or(|(nk, _)| *nk != k)
        {
            wake.push(k);
        }
        match &owner {
            Some((k, uid)) => {
                wake.push(k.clone());
                self.owned
                    .entry(uid.clone())
                    .or_default()
                    .insert(obj.key.clone());
            }
            None if meta.deletion_timestamp.is_none() => {
                wake.extend(self.matching(&ns, &obj.labels));
            }
            None => {}
        }
        let uid = meta.uid.unwrap_or_default();
        if let Some((k, _)) = &owner {
            self.set_owner.insert(uid.clone(), k.clone());
        }
        self.sets.insert(obj.key.clone(), SetInfo { uid, owner });
        wake
    }

    /// Forgets a ReplicaSet; returns its Deployment to reconcile.
    pub fn delete_set(&mut self, storage_key: &str) -> Vec<String> {
        self.remove_set(storage_key)
            .and_then(|s| s.owner)
            .map(|(k, _)| k)
            .into_iter()
            .collect()
    }

    fn remove_set(&mut self, storage_key: &str) -> Option<SetInfo> {
        let old = self.sets.remove(storage_key)?;
        self.set_owner.remove(&old.uid);
        if let Some((_, owner_uid)) = &old.owner
            && let Some(keys) = self.owned.get_mut(owner_uid)
        {
            keys.remove(storage_key);
            if keys.is_empty() {
                self.owned.remove(owner_uid);
            }
        }
        Some(old)
    }

    pub fn clear_sets(&mut self) {
        self.sets.clear();
        self.owned.clear();
        self.set_owner.clear();
    }

    /// Storage keys of the ReplicaSets a Deployment controls.
    pub fn owned_by(&self, uid: &str) -> Vec<String> {
        self.owned.get(uid).into_iter().flatten().cloned().collect()
    }

    /// The Deployment that controls the ReplicaSet with `uid`.
    pub fn owner_of_set(&self, uid: &str) -> Option<&String> {
        self.set_owner.get(uid)
    }

    fn matching(
        &self,
        ns: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Vec<String> {
        self.by_ns
            .get(ns)
            .into_iter()
            .flatten()
            .filter(|k| {
                self.deployments
                    .get(*k)
                    .and_then(|d| d.selector.as_ref())
                    .is_some_and(|s| s.matches(labels))
            })
            .cloned()
            .collect()
    }

    /// Whether `uid` is the uid of the Deployment at `key` now.
    pub fn is_current(&self, key: &str, uid: &str) -> bool {
        self.deployments.get(key).is_some_and(|d| d.uid == uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn cached(key: &str, v: serde_json::Value) -> Arc<CachedObject> {
        let labels = v
            .pointer("/metadata/labels")
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default();
        Arc::new(CachedObject {
            key: key.to_owned(),
            bytes: serde_json::to_vec(&v).expect("encode").into(),
            revision: 1,
            labels,
            fields: Vec::new(),
        })
    }

    #[test]
    fn maps_replica_sets_to_their_deployments() {
        let mut idx = Index::new();
        let sel = Selector::parse("app=web").expect("selector");
        idx.apply_deployment("ns", "web", "d1", Some(sel));
        let k = "/registry/replicasets.apps/ns/web-abc";
        // An orphan wakes the Deployment that could adopt it.
        let orphan = cached(
            k,
            json!({"metadata": {"uid": "r1", "labels": {"app": "web"}}}),
        );
        assert_eq!(idx.apply_set(&orphan), vec!["ns/web"]);
        assert!(idx.owned_by("d1").is_empty());
        let owned = cached(
            k,
            json!({"metadata": {"uid": "r1", "labels": {"app": "web"}, "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d1", "controller": true}
            ]}}),
        );
        assert_eq!(idx.apply_set(&owned), vec!["ns/web"]);
        assert_eq!(idx.owned_by("d1"), vec![k.to_owned()]);
        assert_eq!(idx.owner_of_set("r1").map(String::as_str), Some("ns/web"));
        assert_eq!(idx.delete_set(k), vec!["ns/web"]);
        assert!(idx.owned_by("d1").is_empty());
        assert!(idx.owner_of_set("r1").is_none());
        assert!(idx.is_current("ns/web", "d1"));
    }
}
