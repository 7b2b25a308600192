//! The little a pod-owning controller remembers between reconciles: each
//! owner's uid and selector, and which pods name which owner as their
//! controller. From that it maps a pod change to the owners to reconcile
//! without decoding anything but the pod's metadata.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use verge_apimachinery::labels::Selector;
use verge_runtime::{CachedObject, Client, Error, Event, Index};

use super::controller_of;

/// An owner's key: namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerKey {
    pub ns: String,
    pub name: String,
}

impl OwnerKey {
    pub fn new(ns: &str, name: &str) -> OwnerKey {
        OwnerKey {
            ns: ns.to_owned(),
            name: name.to_owned(),
        }
    }
}

impl std::fmt::Display for OwnerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ns, self.name)
    }
}

/// What an owner object tells [`Owners`]: who it is and what it selects.
pub struct OwnerFacts {
    pub key: OwnerKey,
    pub uid: String,
    /// `None` when the selector is missing or invalid: it claims nothing.
    pub selector: Option<Selector>,
}

impl OwnerFacts {
    /// Decodes an owner of type `K`; `selector_of` picks its label selector.
    /// `None` when the object does not decode.
    pub fn decode<K>(
        obj: &CachedObject,
        selector_of: impl Fn(&K) -> Option<&LabelSelector>,
    ) -> Option<OwnerFacts>
    where
        K: DeserializeOwned + k8s_openapi::Metadata<Ty = ObjectMeta>,
    {
        let owner = Client::decode::<K>(obj).ok()?;
        let meta = owner.metadata();
        Some(OwnerFacts {
            key: OwnerKey::new(
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default(),
            ),
            uid: meta.uid.clone().unwrap_or_default(),
            selector: super::selector(selector_of(&owner)).ok(),
        })
    }
}

struct Owner {
    uid: String,
    selector: Option<Selector>,
}

/// Owners of one kind (`Job`, `DaemonSet`, ...) and their pods.
pub struct Owners {
    kind: &'static str,
    by_ns: HashMap<String, BTreeMap<String, Owner>>,
    /// Owner uid → keys of the pods whose controller it is.
    pods: Index,
}

#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    metadata: ObjectMeta,
}

/// Decodes only an object's metadata.
pub fn meta_of(obj: &CachedObject) -> Result<ObjectMeta, Error> {
    Client::decode::<Head>(obj).map(|h| h.metadata)
}

impl Owners {
    pub fn new(kind: &'static str) -> Owners {
        Owners {
            kind,
            by_ns: HashMap::new(),
            pods: Index::new(),
        }
    }

    /// Records an owner's current uid and selector (`None` when its
    /// selector is invalid: it then claims nothing).
    pub fn owner_applied(&mut self, ns: &str, name: &str, uid: &str, selector: Option<Selector>) {
        self.by_ns.entry(ns.to_owned()).or_default().insert(
            name.to_owned(),
            Owner {
                uid: uid.to_owned(),
                selector,
            },
        );
    }

    pub fn owner_deleted(&mut self, ns: &str, name: &str) {
        if let Some(m) = self.by_ns.get_mut(ns) {
            m.remove(name);
            if m.is_empty() {
                self.by_ns.remove(ns);
            }
        }
    }

    /// Forgets every owner (before a relist re-adds them).
    pub fn clear_owners(&mut self) {
        self.by_ns.clear();
    }

    /// Every owner, for a full resync.
    pub fn all(&self) -> Vec<OwnerKey> {
        self.by_ns
            .iter()
            .flat_map(|(ns, m)| m.keys().map(move |n| OwnerKey::new(ns, n)))
            .collect()
    }

    /// Whether `uid` is the uid of a known owner named `name` in `ns`.
    pub fn is_live(&self, ns: &str, name: &str, uid: &str) -> bool {
        self.by_ns
            .get(ns)
            .and_then(|m| m.get(name))
            .is_some_and(|o| o.uid == uid)
    }

    /// Keys of the pods controlled by the owner with `uid`.
    pub fn pod_keys(&self, uid: &str) -> Vec<String> {
        self.pods.get(uid).cloned().collect()
    }

    /// Records a pod's new state (`None`: it was deleted; `old` is the
    /// owner uid it had, from the index) and returns the owners it concerns:
    /// its controller if that is one of ours, or, for an orphan, every owner
    /// in its namespace whose selector matches it (one may adopt it).
    pub fn pod_changed(&mut self, key: &str, ns: &str, meta: Option<&ObjectMeta>) -> Vec<OwnerKey> {
        let mut out = Vec::new();
        let previous: Vec<String> = self.pods.values_of(key).to_vec();
        let controller = meta
            .and_then(controller_of)
            .filter(|r| r.kind == self.kind)
            .cloned();
        match &controller {
            Some(r) => self.pods.set(key, vec![r.uid.clone()]),
            None => self.pods.remove(key),
        }
        let Some(owners) = self.by_ns.get(ns) else {
            return out;
        };
        let push_uid = |uid: &str, out: &mut Vec<OwnerKey>| {
            if let Some((name, _)) = owners.iter().find(|(_, o)| o.uid == uid) {
                out.push(OwnerKey::new(ns, name));
            }
        };
        for uid in &previous {
            push_uid(uid, &mut out);
        }
        match (&controller, meta) {
            (Some(r), _) if !previous.contains(&r.uid) => push_uid(&r.uid, &mut out),
            (Some(_), _) => {}
            (None, Some(meta)) if controller_of(meta).is_none() => {
                let labels = meta.labels.clone().unwrap_or_default();
                for (name, o) in owners {
                    if o.selector.as_ref().is_some_and(|s| s.matches(&labels)) {
                        out.push(OwnerKey::new(ns, name));
                    }
                }
            }
            _ => {}
        }
        out.sort();
        out.dedup();
        out
    }

    /// Keys of pods whose controller (of this kind) is not a known owner.
    pub fn orphans(&self) -> Vec<String> {
        let live: std::collections::HashSet<&str> = self
            .by_ns
            .values()
            .flat_map(|m| m.values().map(|o| o.uid.as_str()))
            .collect();
        self.pods
            .values()
            .filter(|uid| !live.contains(uid.as_str()))
            .flat_map(|uid| self.pods.get(uid).cloned())
            .collect()
    }

    /// Forgets every pod (before a relist re-adds them).
    pub fn clear_pods(&mut self) {
        self.pods.clear();
    }

    /// Follows the owners' watch; returns the owners applied (to reconcile).
    /// Objects `facts` cannot read are skipped.
    pub fn owner_event(
        &mut self,
        ev: &Event,
        facts: impl Fn(&CachedObject) -> Option<OwnerFacts>,
    ) -> Vec<OwnerKey> {
        let apply = |obj: &CachedObject, owners: &mut Owners| {
            let f = facts(obj)?;
            owners.owner_applied(&f.key.ns, &f.key.name, &f.uid, f.selector);
            Some(f.key)
        };
        match ev {
            Event::Applied(obj) => apply(obj, self).into_iter().collect(),
            Event::Deleted(obj) => {
                if let Some((ns, name)) = ns_name(&obj.key) {
                    self.owner_deleted(ns, name);
                }
                Vec::new()
            }
            Event::Relisted(objs) => {
                self.clear_owners();
                objs.iter().filter_map(|obj| apply(obj, self)).collect()
            }
        }
    }

    /// Follows the pods' watch; returns the owners the change concerns.
    pub fn pod_event(&mut self, ev: &Event) -> Vec<OwnerKey> {
        let touch = |obj: &CachedObject, deleted: bool, owners: &mut Owners| {
            let Some((ns, _)) = ns_name(&obj.key) else {
                return Vec::new();
            };
            let meta = if deleted { None } else { meta_of(obj).ok() };
            owners.pod_changed(&obj.key, ns, meta.as_ref())
        };
        match ev {
            Event::Applied(obj) => touch(obj, false, self),
            Event::Deleted(obj) => touch(obj, true, self),
            Event::Relisted(objs) => {
                self.clear_pods();
                let mut out: Vec<OwnerKey> = objs
                    .iter()
                    .flat_map(|obj| touch(obj, false, self))
                    .collect();
                out.sort();
                out.dedup();
                out
            }
        }
    }
}

/// Namespace and name from a storage key `/registry/<type>/<ns>/<name>`.
pub fn ns_name(key: &str) -> Option<(&str, &str)> {
    let mut parts = key.rsplitn(3, '/');
    let name = parts.next()?;
    let ns = parts.next()?;
    Some((ns, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn pod(labels: &[(&str, &str)], controller: Option<(&str, &str)>) -> ObjectMeta {
        ObjectMeta {
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            owner_references: controller.map(|(kind, uid)| {
                vec![OwnerReference {
                    kind: kind.into(),
                    uid: uid.into(),
                    controller: Some(true),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn maps_pods_to_owners() {
        let mut o = Owners::new("Job");
        o.owner_applied("ns", "a", "u1", Selector::parse("app=a").ok());
        o.owner_applied("ns", "b", "u2", Selector::parse("app=b").ok());
        let key = "/registry/pods/ns/p1";
        assert_eq!(
            o.pod_changed(key, "ns", Some(&pod(&[("app", "a")], Some(("Job", "u1"))))),
            vec![OwnerKey::new("ns", "a")]
        );
        assert_eq!(o.pod_keys("u1"), vec![key.to_owned()]);
        // An orphan concerns every owner whose selector matches it.
        assert_eq!(
            o.pod_changed(
                "/registry/pods/ns/p2",
                "ns",
                Some(&pod(&[("app", "b")], None))
            ),
            vec![OwnerKey::new("ns", "b")]
        );
        // Controlled by another kind: nobody's business here.
        assert!(
            o.pod_changed(
                "/registry/pods/ns/p3",
                "ns",
                Some(&pod(&[("app", "a")], Some(("ReplicaSet", "u9"))))
            )
            .is_empty()
        );
        // Deleted: its former owner hears of it.
        assert_eq!(
            o.pod_changed(key, "ns", None),
            vec![OwnerKey::new("ns", "a")]
        );
        assert!(o.pod_keys("u1").is_empty());
        assert!(o.is_live("ns", "a", "u1") && !o.is_live("ns", "a", "u2"));
        assert_eq!(ns_name("/registry/pods/ns/p1"), Some(("ns", "p1")));
    }
}
