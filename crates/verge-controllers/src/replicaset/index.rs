//! What the ReplicaSet controller knows between reconciles: every pod as a
//! compact [`PodFacts`], filed under the uid of its controller (or as an
//! orphan of its namespace), and every ReplicaSet's uid, selector and owner.
//! The event loop applies watch events here and learns which ReplicaSets
//! to reconcile; reconciles read snapshots.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use verge_apimachinery::labels::Selector;
use verge_runtime::CachedObject;

use super::facts::PodFacts;
use crate::pods;

/// A ReplicaSet as the index holds it.
#[derive(Debug)]
pub struct SetInfo {
    pub uid: String,
    /// None when the selector does not parse (the reconcile reports it).
    pub selector: Option<Selector>,
    /// The uid of its controller (a Deployment), for ranking pods by the
    /// siblings they share a node with.
    pub owner_uid: Option<String>,
}

#[derive(Default)]
pub struct Index {
    pods: HashMap<String, Arc<PodFacts>>,
    /// Controller uid → pod keys.
    by_controller: HashMap<String, HashSet<String>>,
    /// Namespace → keys of pods without a controller.
    orphans: HashMap<String, HashSet<String>>,
    /// "namespace/name" → ReplicaSet.
    sets: HashMap<String, SetInfo>,
    sets_by_ns: HashMap<String, HashSet<String>>,
}

/// "namespace/name", the work queue's key.
pub fn set_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
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

    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// Records a pod's new state; returns the ReplicaSets to reconcile.
    pub fn apply_pod(&mut self, obj: Arc<CachedObject>) -> Vec<String> {
        let facts = match PodFacts::parse(obj.clone()) {
            Ok(f) => Arc::new(f),
            Err(e) => {
                tracing::warn!(key = %obj.key, error = %e, "pod does not parse; ignoring it");
                return self.delete_pod(&obj.key);
            }
        };
        let key = obj.key.clone();
        let old = self.unfile(&key);
        self.file(&facts);
        self.pods.insert(key, facts.clone());

        let mut wake = Vec::new();
        let ns = namespace_of(facts.key());
        if let Some(k) = self.resolve(ns, &facts) {
            wake.push(k);
        }
        match &old {
            Some(old) if old.controller != facts.controller => {
                wake.extend(self.resolve(ns, old));
                if facts.controller.is_none() {
                    wake.extend(self.matching_sets(ns, &facts));
                }
            }
            Some(old) if facts.controller.is_none() && old.labels() != facts.labels() => {
                wake.extend(self.matching_sets(ns, &facts));
            }
            None if facts.controller.is_none() => wake.extend(self.matching_sets(ns, &facts)),
            _ => {}
        }
        wake
    }

    /// Forgets a pod; returns the ReplicaSets to reconcile.
    pub fn delete_pod(&mut self, key: &str) -> Vec<String> {
        let Some(old) = self.unfile(key) else {
            return Vec::new();
        };
        self.pods.remove(key);
        self.resolve(namespace_of(key), &old).into_iter().collect()
    }

    /// Replaces every pod (after the watcher re-listed).
    pub fn relist_pods(&mut self, objs: Vec<Arc<CachedObject>>) {
        self.pods.clear();
        self.by_controller.clear();
        self.orphans.clear();
        for obj in objs {
            match PodFacts::parse(obj.clone()) {
                Ok(f) => {
                    let f = Arc::new(f);
                    self.file(&f);
                    self.pods.insert(obj.key.clone(), f);
                }
                Err(e) => {
                    tracing::warn!(key = %obj.key, error = %e, "pod does not parse; ignoring it")
                }
            }
        }
    }

    fn file(&mut self, f: &Arc<PodFacts>) {
        let key = f.key().to_owned();
        match &f.controller {
            Some(c) => self
                .by_controller
                .entry(c.uid.clone())
                .or_default()
                .insert(key),
            None => self
                .orphans
                .entry(namespace_of(&key).to_owned())
                .or_default()
                .insert(key),
        };
    }

    /// Removes a pod from its filing; returns what was known of it.
    fn unfile(&mut self, key: &str) -> Option<Arc<PodFacts>> {
        let old = self.pods.get(key)?.clone();
        let (map, slot) = match &old.controller {
            Some(c) => (&mut self.by_controller, c.uid.as_str()),
            None => (&mut self.orphans, namespace_of(key)),
        };
        if let Some(keys) = map.get_mut(slot) {
            keys.remove(key);
            if keys.is_empty() {
                map.remove(slot);
            }
        }
        Some(old)
    }

    /// The ReplicaSet a pod's controller reference names, if it is one we
    /// know with that uid.
    fn resolve(&self, ns: &str, f: &PodFacts) -> Option<String> {
        let c = f.controller.as_ref().filter(|c| c.is_replica_set())?;
        let key = set_key(ns, &c.name);
        (self.sets.get(&key)?.uid == c.uid).then_some(key)
    }

    /// ReplicaSets of `ns` whose selector matches an orphan (candidates to
    /// adopt it).
    fn matching_sets(&self, ns: &str, f: &PodFacts) -> Vec<String> {
        if f.deleting {
            return Vec::new();
        }
        self.sets_by_ns
            .get(ns)
            .into_iter()
            .flatten()
            .filter(|k| {
                self.sets
                    .get(*k)
                    .and_then(|s| s.selector.as_ref())
                    .is_some_and(|sel| sel.matches(f.labels()))
            })
            .cloned()
            .collect()
    }

    /// Records a ReplicaSet (its selector parsed once here).
    pub fn apply_set(&mut self, rs: &ReplicaSet) -> Option<String> {
        let ns = rs.metadata.namespace.as_deref()?;
        let name = rs.metadata.name.as_deref()?;
        let key = set_key(ns, name);
        let info = SetInfo {
            uid: rs.metadata.uid.clone().unwrap_or_default(),
            selector: pods::selector(rs.spec.as_ref().map(|s| &s.selector)).ok(),
            owner_uid: pods::controller_of(&rs.metadata).map(|r| r.uid.clone()),
        };
        self.sets_by_ns
            .entry(ns.to_owned())
            .or_default()
            .insert(key.clone());
        self.sets.insert(key.clone(), info);
        Some(key)
    }

    pub fn delete_set(&mut self, ns: &str, name: &str) {
        let key = set_key(ns, name);
        self.sets.remove(&key);
        if let Some(keys) = self.sets_by_ns.get_mut(ns) {
            keys.remove(&key);
            if keys.is_empty() {
                self.sets_by_ns.remove(ns);
            }
        }
    }

    pub fn clear_sets(&mut self) {
        self.sets.clear();
        self.sets_by_ns.clear();
    }

    pub fn set_keys(&self) -> Vec<String> {
        self.sets.keys().cloned().collect()
    }

    /// Pods whose controller is `uid`.
    pub fn controlled_by(&self, uid: &str) -> Vec<Arc<PodFacts>> {
        self.by_controller
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|k| self.pods.get(k).cloned())
            .collect()
    }

    /// Pods of `ns` without a controller.
    pub fn orphans_in(&self, ns: &str) -> Vec<Arc<PodFacts>> {
        self.orphans
            .get(ns)
            .into_iter()
            .flatten()
            .filter_map(|k| self.pods.get(k).cloned())
            .collect()
    }

    /// Node name → active pods there controlled by any ReplicaSet that
    /// shares `set`'s owner (or by `set` alone when it has none): kube
    /// spreads scale-downs by deleting pods from crowded nodes first.
    pub fn siblings_per_node(&self, ns: &str, set_uid: &str) -> HashMap<String, usize> {
        let owner = self
            .sets_by_ns
            .get(ns)
            .into_iter()
            .flatten()
            .filter_map(|k| self.sets.get(k))
            .find(|s| s.uid == set_uid)
            .and_then(|s| s.owner_uid.clone());
        let uids: Vec<&str> = match &owner {
            Some(owner) => self
                .sets_by_ns
                .get(ns)
                .into_iter()
                .flatten()
                .filter_map(|k| self.sets.get(k))
                .filter(|s| s.owner_uid.as_deref() == Some(owner))
                .map(|s| s.uid.as_str())
                .collect(),
            None => vec![set_uid],
        };
        let mut per_node = HashMap::new();
        for uid in uids {
            for key in self.by_controller.get(uid).into_iter().flatten() {
                if let Some(p) = self.pods.get(key).filter(|p| p.is_active()) {
                    *per_node.entry(p.node_name.clone()).or_insert(0) += 1;
                }
            }
        }
        per_node
    }
}

#[cfg(test)]
mod tests {
    use super::super::facts::tests::cached;
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
    use serde_json::json;

    fn rs(name: &str, uid: &str, app: &str) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(uid.into()),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                selector: LabelSelector {
                    match_labels: Some([("app".to_owned(), app.to_owned())].into()),
                    ..LabelSelector::default()
                },
                ..ReplicaSetSpec::default()
            }),
            status: None,
        }
    }

    fn pod(name: &str, app: &str, owner: Option<(&str, &str)>) -> Arc<CachedObject> {
        let refs: Vec<_> = owner
            .map(|(n, uid)| json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": n, "uid": uid, "controller": true}))
            .into_iter()
            .collect();
        cached(
            &format!("/registry/pods/default/{name}"),
            json!({"metadata": {"name": name, "labels": {"app": app}, "ownerReferences": refs}}),
        )
    }

    #[test]
    fn files_pods_by_controller_and_wakes_the_right_sets() {
        let mut idx = Index::new();
        idx.apply_set(&rs("web", "u-web", "web"));
        idx.apply_set(&rs("api", "u-api", "api"));

        // An orphan wakes the sets that could adopt it.
        assert_eq!(idx.apply_pod(pod("p1", "web", None)), vec!["default/web"]);
        assert_eq!(idx.orphans_in("default").len(), 1);

        // Adopted: filed under its controller.
        assert_eq!(
            idx.apply_pod(pod("p1", "web", Some(("web", "u-web")))),
            vec!["default/web"]
        );
        assert!(idx.orphans_in("default").is_empty());
        assert_eq!(idx.controlled_by("u-web").len(), 1);

        // A controller reference with a stale uid resolves to nothing.
        assert!(
            idx.apply_pod(pod("p2", "web", Some(("web", "old-uid"))))
                .is_empty()
        );

        // Released: the old controller is woken, and so are the sets that
        // match its labels now.
        let mut woken = idx.apply_pod(pod("p1", "api", None));
        woken.sort();
        assert_eq!(woken, vec!["default/api", "default/web"]);
        assert!(idx.controlled_by("u-web").is_empty());

        assert_eq!(
            idx.delete_pod("/registry/pods/default/p1"),
            Vec::<String>::new()
        );
        assert!(idx.orphans_in("default").is_empty());
        assert_eq!(idx.pod_count(), 1);
    }

    #[test]
    fn counts_siblings_per_node() {
        let mut idx = Index::new();
        let mut a = rs("web-1", "u1", "web");
        let mut b = rs("web-2", "u2", "web");
        for r in [&mut a, &mut b] {
            r.metadata.owner_references = Some(vec![
                k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    name: "web".into(),
                    uid: "d1".into(),
                    controller: Some(true),
                    block_owner_deletion: None,
                },
            ]);
        }
        idx.apply_set(&a);
        idx.apply_set(&b);
        for (name, set, uid, node) in [
            ("a1", "web-1", "u1", "n1"),
            ("a2", "web-1", "u1", "n2"),
            ("b1", "web-2", "u2", "n1"),
        ] {
            let obj = cached(
                &format!("/registry/pods/default/{name}"),
                json!({"metadata": {"name": name, "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": set, "uid": uid, "controller": true}
                ]}, "spec": {"nodeName": node}}),
            );
            idx.apply_pod(obj);
        }
        let per_node = idx.siblings_per_node("default", "u1");
        assert_eq!(per_node.get("n1"), Some(&2));
        assert_eq!(per_node.get("n2"), Some(&1));
    }
}
