//! Garbage collection through `metadata.ownerReferences`, for every type the
//! API serves (built-in and custom), as Kubernetes' garbage collector does:
//!
//! - **background**: an object whose owners are all gone (or whose owner
//!   references name a uid that no object of that kind, name and namespace
//!   has: dangling) is deleted;
//! - **foreground**: an owner deleted with `propagationPolicy=Foreground`
//!   carries the `foregroundDeletion` finalizer; its dependents are deleted,
//!   and the finalizer is removed once no dependent with
//!   `blockOwnerDeletion: true` is left;
//! - **orphan**: an owner with the `orphan` finalizer has its reference
//!   removed from every dependent, then the finalizer.
//!
//! The owner graph is built from one watcher over the whole watch cache, so
//! custom types are followed the moment their CRD is served, without
//! re-reading the registry. The graph keeps uids, storage keys and flags
//! only (see [`graph`]); each decision re-reads the current object and its
//! owners from the cache.
//!
//! Ownership cycles: members of a cycle keep each other alive, and are
//! collected once one member is deleted (the others then have a missing
//! owner), as in Kubernetes. A foreground deletion does not wait for a
//! dependent that is itself waiting for it, so a cycle never wedges.

mod graph;
mod meta;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::Value;
use verge_apiserver::registry::{Registry, ResourceType};
use verge_runtime::{
    Action, Client, ControllerMetrics, DeleteOptions, Error, Event, Filter, ObjectRef, Part, Queue,
    Recorder, Watcher,
};

use graph::{Graph, Node};
use meta::{FOREGROUND, Meta, ORPHAN, OwnerRef, Uid};

const NAME: &str = "garbagecollector";
const WORKERS: usize = 8;
/// How soon an object whose owner reference names a type the API does not
/// serve (yet: its CRD may come) is looked at again.
const UNRESOLVED_RETRY: Duration = Duration::from_secs(30);

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>) {
    let objects = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
    metrics.register(|r| {
        r.register(
            "garbage_collector_graph_objects",
            "Objects in the garbage collector's owner graph",
            objects.clone(),
        )
    });
    let gc = Arc::new(Collector {
        recorder: Recorder::new(client.clone(), "garbage-collector"),
        client,
        graph: Mutex::new(Graph::default()),
        queue: Queue::new(),
    });
    let mut watcher = Watcher::new(gc.client.cache().clone(), Filter::prefix("/registry/"));
    let workers = tokio::spawn(verge_runtime::run(
        NAME,
        gc.queue.clone(),
        WORKERS,
        metrics,
        gc.clone(),
        |gc, uid| async move { gc.reconcile(uid).await },
    ));
    let mut due = Vec::new();
    while let Some(event) = watcher.next().await {
        match event {
            Event::Applied(obj) => gc.observe(&obj.key, &obj.bytes, &mut due),
            Event::Deleted(obj) => gc.forget(&obj.bytes, &mut due),
            Event::Relisted(objs) => gc.rebuild(&objs, &mut due),
        }
        for uid in due.drain(..) {
            gc.queue.add(uid);
        }
        objects.set(i64::try_from(gc.graph.lock().len()).unwrap_or(i64::MAX));
    }
    gc.queue.close();
    let _ = workers.await;
}

struct Collector {
    client: Client,
    graph: Mutex<Graph>,
    queue: Queue<Uid>,
    recorder: Recorder,
}

/// The type, namespace and name an object's storage key stands for.
struct Target {
    rt: Arc<ResourceType>,
    namespace: Option<String>,
    name: String,
}

impl Target {
    fn of_key(registry: &Registry, key: &str) -> Option<Target> {
        let rest = key.strip_prefix("/registry/")?;
        let (resource, tail) = rest.split_once('/')?;
        let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
        let rt = registry
            .all()
            .into_iter()
            .find(|t| t.group == group && t.plural == plural)?;
        let (namespace, name) = if rt.namespaced {
            let (ns, name) = tail.split_once('/')?;
            (Some(ns.to_owned()), name.to_owned())
        } else {
            (None, tail.to_owned())
        };
        Some(Target {
            rt,
            namespace,
            name,
        })
    }

    fn object_ref(&self, uid: Uid) -> ObjectRef {
        ObjectRef {
            api_version: self.rt.api_version(),
            kind: self.rt.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            uid: uid.to_string(),
            resource_version: None,
        }
    }
}

/// Where the owner an ownerReference names must be stored, seen from a
/// dependent in `namespace`.
enum OwnerKey {
    Key(String),
    /// The API serves no such kind (its CRD may not be installed yet).
    UnknownKind,
    /// A cluster-scoped object cannot be owned by a namespaced one.
    NamespacedOwnerOfClusterScoped,
}

fn owner_key(registry: &Registry, r: &OwnerRef, namespace: Option<&str>) -> OwnerKey {
    let (group, version) = r.group_version();
    let rt = registry.lookup_kind(group, version, &r.kind).or_else(|| {
        // Another version of the same kind shares its storage.
        registry
            .all()
            .into_iter()
            .find(|t| t.group == group && t.kind == r.kind)
    });
    match rt {
        None => OwnerKey::UnknownKind,
        Some(rt) if rt.namespaced && namespace.is_none() => {
            OwnerKey::NamespacedOwnerOfClusterScoped
        }
        Some(rt) => OwnerKey::Key(rt.storage_key(namespace, &r.name)),
    }
}

/// What an owner reference amounts to now.
enum Owner {
    /// Exists and is not being deleted in the foreground.
    Solid,
    /// No object of that kind, name and namespace has the uid.
    Dangling,
    /// Exists and waits for its dependents to go (foreground deletion).
    Waiting,
    /// The kind is not served; decide later.
    Unresolved,
    /// Can never be valid; ignored (with a Warning Event).
    Invalid,
}

impl Collector {
    fn registry(&self) -> &Registry {
        &self.client.resources().registry
    }

    /// Whether the collector must look at an object with `meta` (stored as
    /// `node`) because of its owners: one missing from the graph, stored
    /// elsewhere than the reference says, or waiting for its dependents.
    fn owners_need_a_look(&self, g: &Graph, node: &Node, meta: &Meta) -> bool {
        if node.deleting {
            return false;
        }
        if node.bad_owner {
            return true;
        }
        meta.owners().iter().any(|r| {
            let Some(owner) = Uid::parse(&r.uid).and_then(|u| g.get(u)) else {
                return true;
            };
            if owner.deleting_dependents {
                return true;
            }
            match owner_key(self.registry(), r, meta.namespace()) {
                OwnerKey::Key(k) => *owner.key != *k,
                _ => true,
            }
        })
    }

    fn observe(&self, key: &str, bytes: &[u8], due: &mut Vec<Uid>) {
        let Some(meta) = Meta::from_json(bytes) else {
            return;
        };
        let Some(uid) = meta.uid() else {
            return;
        };
        let node = Node::from_meta(key, &meta);
        let mut g = self.graph.lock();
        let old = g.upsert(uid, node.clone());
        if node.deleting_dependents || node.orphaning {
            due.push(uid);
        }
        if node.deleting_dependents && !old.as_ref().is_some_and(|o| o.deleting_dependents) {
            due.extend(g.dependents(uid));
        }
        // A dependent that stopped blocking (or stopped naming its owner)
        // may be what a foreground deletion was waiting for.
        if let Some(old) = &old {
            for l in old.owners.iter() {
                let still_blocks = node
                    .owners
                    .iter()
                    .any(|n| n.owner == l.owner && (n.blocks || !l.blocks));
                if !still_blocks && g.is_deleting_dependents(l.owner) {
                    due.push(l.owner);
                }
            }
        }
        if self.owners_need_a_look(&g, &node, &meta) {
            due.push(uid);
        }
    }

    fn forget(&self, bytes: &[u8], due: &mut Vec<Uid>) {
        let Some(uid) = Meta::from_json(bytes).and_then(|m| m.uid()) else {
            return;
        };
        let mut g = self.graph.lock();
        let Some(old) = g.remove(uid) else {
            return;
        };
        // Its dependents now have a missing owner.
        due.extend(g.dependents(uid));
        for l in old.owners.iter() {
            if g.is_deleting_dependents(l.owner) {
                due.push(l.owner);
            }
        }
    }

    fn rebuild(&self, objs: &[Arc<verge_runtime::CachedObject>], due: &mut Vec<Uid>) {
        let mut g = self.graph.lock();
        g.clear();
        let mut interesting = Vec::new();
        for obj in objs {
            let Some(meta) = Meta::from_json(&obj.bytes) else {
                continue;
            };
            let Some(uid) = meta.uid() else {
                continue;
            };
            let node = Node::from_meta(&obj.key, &meta);
            if node.deleting_dependents || node.orphaning {
                due.push(uid);
            }
            if !node.owners.is_empty() || node.bad_owner {
                interesting.push((uid, meta));
            }
            g.upsert(uid, node);
        }
        for (uid, meta) in interesting {
            if let Some(node) = g.get(uid)
                && self.owners_need_a_look(&g, node, &meta)
            {
                due.push(uid);
            }
        }
        tracing::info!(
            objects = g.len(),
            due = due.len(),
            "garbage collector graph built"
        );
    }

    async fn reconcile(self: Arc<Self>, uid: Uid) -> Result<Action, Error> {
        let Some(key) = self.graph.lock().key_of(uid) else {
            // Gone: its deletion event queued its dependents.
            return Ok(Action::Done);
        };
        let Some(obj) = self.client.cache().get_now(&key) else {
            return Ok(Action::Done);
        };
        let Some(meta) = Meta::from_json(&obj.bytes) else {
            return Ok(Action::Done);
        };
        if meta.uid() != Some(uid) {
            // Replaced by a namesake; the events of that one bring it here.
            return Ok(Action::Done);
        }
        let Some(target) = Target::of_key(self.registry(), &key) else {
            return Ok(Action::Done);
        };
        if meta.is_orphaning() {
            return self.orphan_dependents(uid, &target).await;
        }
        if meta.is_deleting_dependents() {
            return self.finish_foreground(uid, &target).await;
        }
        if meta.is_deleting() || meta.owners().is_empty() {
            return Ok(Action::Done);
        }
        self.collect_if_unowned(uid, &meta, &target).await
    }

    /// The state of the owner `r` names, for a dependent in `meta`.
    fn classify(&self, r: &OwnerRef, meta: &Meta, target: &Target, uid: Uid) -> Owner {
        let key = match owner_key(self.registry(), r, meta.namespace()) {
            OwnerKey::Key(k) => k,
            OwnerKey::UnknownKind => {
                self.recorder.warning(
                    &target.object_ref(uid),
                    "OwnerRefInvalidKind",
                    &format!(
                        "ownerRef {r} names a kind the API does not serve; the owner cannot be checked until it is served"
                    ),
                );
                return Owner::Unresolved;
            }
            OwnerKey::NamespacedOwnerOfClusterScoped => {
                self.recorder.warning(
                    &target.object_ref(uid),
                    "OwnerRefInvalidNamespace",
                    &format!(
                        "ownerRef {r} names a namespaced kind, which cannot own a cluster-scoped object; the reference is ignored"
                    ),
                );
                return Owner::Invalid;
            }
        };
        let owner = self
            .client
            .cache()
            .get_now(&key)
            .and_then(|o| Meta::from_json(&o.bytes));
        match owner {
            Some(o) if o.uid.as_deref() == Some(r.uid.as_str()) => {
                if o.is_deleting_dependents() {
                    Owner::Waiting
                } else {
                    Owner::Solid
                }
            }
            _ => {
                // Named by uid, but living in another namespace: a
                // reference across namespaces is not valid.
                let elsewhere = Uid::parse(&r.uid)
                    .and_then(|u| self.graph.lock().key_of(u))
                    .is_some();
                if elsewhere && meta.namespace().is_some() {
                    self.recorder.warning(
                        &target.object_ref(uid),
                        "OwnerRefInvalidNamespace",
                        &format!(
                            "ownerRef {r} does not exist in namespace {:?}",
                            meta.namespace().unwrap_or_default()
                        ),
                    );
                }
                Owner::Dangling
            }
        }
    }

    async fn collect_if_unowned(
        &self,
        uid: Uid,
        meta: &Meta,
        target: &Target,
    ) -> Result<Action, Error> {
        let mut solid = 0;
        let mut stale: Vec<String> = Vec::new();
        let mut waiting = false;
        let mut unresolved = false;
        let mut counted = 0;
        for r in meta.owners() {
            match self.classify(r, meta, target, uid) {
                Owner::Solid => solid += 1,
                Owner::Dangling => stale.push(r.uid.clone()),
                Owner::Waiting => {
                    waiting = true;
                    stale.push(r.uid.clone());
                }
                Owner::Unresolved => unresolved = true,
                Owner::Invalid => continue,
            }
            counted += 1;
        }
        if unresolved {
            return Ok(Action::RequeueAfter(UNRESOLVED_RETRY));
        }
        if solid > 0 {
            if !stale.is_empty() {
                // Still owned: only the references to owners that are gone
                // (or going) are dropped.
                self.edit(uid, target, |obj| drop_owner_refs(obj, &stale))
                    .await?;
            }
            return Ok(Action::Done);
        }
        if counted == 0 {
            return Ok(Action::Done);
        }
        let has_dependents = !self.graph.lock().dependents(uid).is_empty();
        let policy = if waiting && has_dependents {
            let in_cycle = {
                let g = self.graph.lock();
                g.dependents(uid)
                    .into_iter()
                    .any(|d| g.is_deleting_dependents(d))
            };
            if in_cycle {
                // Our dependents wait for us while our owner waits for us:
                // stop blocking the owner so the cycle can unwind.
                self.edit(uid, target, unblock_owner_refs).await?;
            }
            "Foreground"
        } else if meta.has_finalizer(ORPHAN) {
            "Orphan"
        } else if meta.has_finalizer(FOREGROUND) {
            "Foreground"
        } else {
            "Background"
        };
        tracing::info!(
            object = %target.object_ref(uid),
            policy,
            "deleting an object whose owners are gone or going"
        );
        let opts = DeleteOptions {
            propagation_policy: Some(policy.to_owned()),
            precondition_uid: Some(uid.to_string()),
            ..DeleteOptions::default()
        };
        self.client
            .delete_typed(&target.rt, target.namespace.as_deref(), &target.name, &opts)
            .await?;
        Ok(Action::Done)
    }

    /// Foreground deletion: deletes the dependents, and lets the owner go
    /// once no blocking dependent is left.
    async fn finish_foreground(&self, uid: Uid, target: &Target) -> Result<Action, Error> {
        let (blocking, waiting_on) = {
            let g = self.graph.lock();
            let deps: Vec<Uid> = g
                .dependents(uid)
                .into_iter()
                .filter(|d| *d != uid && !g.is_deleting_dependents(*d))
                .collect();
            (g.blocking_dependents(uid), deps)
        };
        for d in waiting_on {
            self.queue.add(d);
        }
        if blocking.is_empty() {
            tracing::info!(object = %target.object_ref(uid), "dependents gone; completing the foreground deletion");
            self.edit(uid, target, |obj| remove_finalizer(obj, FOREGROUND))
                .await?;
        }
        Ok(Action::Done)
    }

    /// Orphan deletion: removes the owner's reference from each dependent,
    /// then the `orphan` finalizer.
    async fn orphan_dependents(&self, uid: Uid, target: &Target) -> Result<Action, Error> {
        let owner = uid.to_string();
        let dependents: Vec<(Uid, Box<str>)> = {
            let g = self.graph.lock();
            g.dependents(uid)
                .into_iter()
                .filter_map(|d| g.key_of(d).map(|k| (d, k)))
                .collect()
        };
        for (dep, key) in &dependents {
            let Some(dep_target) = Target::of_key(self.registry(), key) else {
                continue;
            };
            self.edit(*dep, &dep_target, |obj| {
                drop_owner_refs(obj, std::slice::from_ref(&owner))
            })
            .await?;
        }
        tracing::info!(object = %target.object_ref(uid), orphaned = dependents.len(), "dependents orphaned; completing the deletion");
        self.edit(uid, target, |obj| remove_finalizer(obj, ORPHAN))
            .await?;
        Ok(Action::Done)
    }

    /// Changes the object with `uid` in place; a namesake with another uid,
    /// or no object at all, is left alone.
    async fn edit(
        &self,
        uid: Uid,
        target: &Target,
        change: impl Fn(&mut Value),
    ) -> Result<(), Error> {
        let expected = uid.to_string();
        let result = self
            .client
            .update_value(
                &target.rt,
                target.namespace.as_deref(),
                &target.name,
                Part::Main,
                |obj| {
                    if verge_apiserver::object::uid(obj) == expected {
                        change(obj);
                    }
                    Ok(())
                },
            )
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn owner_refs_mut(obj: &mut Value) -> Option<&mut Vec<Value>> {
    obj.pointer_mut("/metadata/ownerReferences")
        .and_then(Value::as_array_mut)
}

fn drop_owner_refs(obj: &mut Value, uids: &[String]) {
    let Some(refs) = owner_refs_mut(obj) else {
        return;
    };
    refs.retain(|r| {
        !r.get("uid")
            .and_then(Value::as_str)
            .is_some_and(|u| uids.iter().any(|x| x == u))
    });
    if refs.is_empty()
        && let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.remove("ownerReferences");
    }
}

fn unblock_owner_refs(obj: &mut Value) {
    for r in owner_refs_mut(obj).into_iter().flatten() {
        if let Some(m) = r.as_object_mut() {
            m.insert("blockOwnerDeletion".into(), Value::Bool(false));
        }
    }
}

fn remove_finalizer(obj: &mut Value, finalizer: &str) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(list) = meta.get_mut("finalizers").and_then(Value::as_array_mut) else {
        return;
    };
    list.retain(|f| f.as_str() != Some(finalizer));
    if list.is_empty() {
        meta.remove("finalizers");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn edits_keep_other_references_and_finalizers() {
        let mut obj = json!({"metadata": {
        "finalizers": ["orphan", "example.com/keep"],
        "ownerReferences": [
            {"uid": "a", "kind": "X", "blockOwnerDeletion": true},
            {"uid": "b", "kind": "Y"}
        ]}});
        drop_owner_refs(&mut obj, &["a".to_owned()]);
        assert_eq!(
            obj["metadata"]["ownerReferences"],
            json!([{"uid": "b", "kind": "Y"}])
        );
        unblock_owner_refs(&mut obj);
        assert_eq!(
            obj["metadata"]["ownerReferences"][0]["blockOwnerDeletion"],
            false
        );
        drop_owner_refs(&mut obj, &["b".to_owned()]);
        assert!(obj["metadata"].get("ownerReferences").is_none());
        remove_finalizer(&mut obj, ORPHAN);
        assert_eq!(obj["metadata"]["finalizers"], json!(["example.com/keep"]));
        remove_finalizer(&mut obj, "example.com/keep");
        assert!(obj["metadata"].get("finalizers").is_none());
    }

    #[test]
    fn keys_resolve_to_types_and_owner_references_to_keys() {
        let r = Registry::with_builtins();
        let t = Target::of_key(&r, "/registry/replicasets.apps/ns1/web-1").expect("target");
        assert_eq!(t.rt.kind, "ReplicaSet");
        assert_eq!(t.namespace.as_deref(), Some("ns1"));
        assert_eq!(t.name, "web-1");
        let n = Target::of_key(&r, "/registry/nodes/n1").expect("node");
        assert_eq!((n.namespace, n.name.as_str()), (None, "n1"));
        assert!(Target::of_key(&r, "/registry/widgets.example.com/a/b").is_none());

        let rs = OwnerRef {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "web-1".into(),
            ..OwnerRef::default()
        };
        assert!(
            matches!(owner_key(&r, &rs, Some("ns1")), OwnerKey::Key(k) if k == "/registry/replicasets.apps/ns1/web-1")
        );
        assert!(matches!(
            owner_key(&r, &rs, None),
            OwnerKey::NamespacedOwnerOfClusterScoped
        ));
        let node = OwnerRef {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: "n1".into(),
            ..OwnerRef::default()
        };
        assert!(
            matches!(owner_key(&r, &node, Some("ns1")), OwnerKey::Key(k) if k == "/registry/nodes/n1")
        );
        let widget = OwnerRef {
            api_version: "example.com/v1".into(),
            kind: "Widget".into(),
            ..OwnerRef::default()
        };
        assert!(matches!(
            owner_key(&r, &widget, Some("a")),
            OwnerKey::UnknownKind
        ));
    }
}
