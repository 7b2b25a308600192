//! The node views: which objects every node must hold, maintained
//! incrementally from the change stream of the watch cache.
//!
//! One [`View`] serves every node. Its indexes route a change to exactly the
//! nodes it concerns: a pod by its `spec.nodeName` (old and new), a
//! ConfigMap, Secret or ServiceAccount through `referrers` (the nodes with
//! at least one pod referencing it), a Node to itself. Routing a change is
//! O(nodes affected); a node's own state is a few small maps.
//!
//! For resuming, each node keeps when every object entered its view and a
//! tombstone for every object that left it (deleted, or no longer bound or
//! referenced) since `history_from`. The delta since a revision r is then
//! computed from the node's view alone — objects changed or entered after r,
//! tombstones after r — in O(view), however many writes happened meanwhile.
//! Tombstones are capped per node; a node that outgrows the cap loses the
//! oldest and must then resume from its inventory.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;
use verge_apiserver::cache::CachedObject;
use verge_store::Revision;

use super::change::{Change, Op};
use super::kind::Kind;
use super::refs::{PodBinding, pod_binding};

pub type Key = Arc<str>;
pub type NodeName = Arc<str>;

#[derive(Clone, Debug)]
pub struct ViewConfig {
    /// Tombstones a node may keep before the oldest are dropped (and resumes
    /// from before them need an inventory).
    pub max_tombstones_per_node: usize,
}

impl Default for ViewConfig {
    fn default() -> Self {
        ViewConfig {
            max_tombstones_per_node: 1024,
        }
    }
}

/// The current state of one object the hub follows.
#[derive(Clone, Debug)]
struct Tracked {
    obj: Arc<CachedObject>,
    uid: Arc<str>,
}

impl Tracked {
    fn upsert(&self, kind: Kind, key: &Key, revision: Revision) -> Change {
        Change {
            revision,
            kind,
            key: key.clone(),
            uid: self.uid.clone(),
            resource_version: self.obj.revision,
            op: Op::Upsert(self.obj.bytes.clone()),
        }
    }
}

#[derive(Debug)]
struct PodState {
    tracked: Tracked,
    node: Option<NodeName>,
    refs: Box<[Key]>,
}

#[derive(Debug)]
struct RefCount {
    /// Pods on the node referencing the object.
    pods: u32,
    /// The revision at which the object entered the node's view.
    entered: Revision,
}

#[derive(Clone, Debug)]
struct Tombstone {
    kind: Kind,
    uid: Arc<str>,
    revision: Revision,
}

/// What one node holds, as keys into the shared maps.
#[derive(Debug, Default)]
struct NodeView {
    /// Pods bound to the node → the revision they entered its view.
    pods: HashMap<Key, Revision>,
    refs: HashMap<Key, RefCount>,
    /// Objects that left the view after `history_from`.
    gone: HashMap<Key, Tombstone>,
    /// Resume deltas are exact for revisions from here on.
    history_from: Revision,
}

impl NodeView {
    fn new(history_from: Revision) -> NodeView {
        NodeView {
            history_from,
            ..NodeView::default()
        }
    }

    fn is_idle(&self) -> bool {
        self.pods.is_empty() && self.refs.is_empty()
    }
}

/// One object a node holds or should hold, as inventories compare them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub key: Key,
    pub uid: Arc<str>,
    pub resource_version: Revision,
}

/// How a node that reconnects is brought up to date.
#[derive(Debug, PartialEq, Eq)]
pub enum Resume {
    /// The changes since the node's revision, to send in order; afterwards
    /// the node is at `revision`.
    Delta {
        revision: Revision,
        changes: Vec<Change>,
    },
    /// The view cannot say what changed since the node's revision: the edge
    /// must send its inventory.
    NeedsInventory(InventoryReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InventoryReason {
    #[error("the resume point is from another epoch")]
    OtherEpoch,
    #[error("revision {requested} is older than the hub's history for the node (from {oldest})")]
    TooOld {
        requested: Revision,
        oldest: Revision,
    },
    #[error("the hub holds no view of the node (it was deleted or never had anything bound)")]
    UnknownNode,
    #[error("revision {requested} is newer than the hub's ({current})")]
    Ahead {
        requested: Revision,
        current: Revision,
    },
}

/// Every node's view. Not thread-safe by itself: [`super::Hub`] owns it
/// behind a lock and feeds it the watch cache's changes in revision order.
#[derive(Debug)]
pub struct View {
    config: ViewConfig,
    /// Every change up to here has been applied.
    revision: Revision,
    /// Where the history of nodes created from now on starts.
    history_from: Revision,
    node_objects: HashMap<NodeName, Tracked>,
    pods: HashMap<Key, PodState>,
    /// ConfigMaps, Secrets, ServiceAccounts: all of them, not only the
    /// referenced ones, so a pod that starts referencing one finds it here
    /// at the same revision the pod change is at.
    referenced: HashMap<Key, Tracked>,
    /// Referenced object → nodes with a pod referencing it.
    referrers: HashMap<Key, HashSet<NodeName>>,
    nodes: HashMap<NodeName, NodeView>,
}

/// Receives the changes a write causes, per node.
pub trait Sink {
    fn send(&mut self, node: &NodeName, change: Change);
}

impl<F: FnMut(&NodeName, Change)> Sink for F {
    fn send(&mut self, node: &NodeName, change: Change) {
        self(node, change)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UidOnly {
    metadata: UidMeta,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UidMeta {
    uid: String,
}

fn uid_of(obj: &CachedObject) -> Arc<str> {
    match serde_json::from_slice::<UidOnly>(&obj.bytes) {
        Ok(o) => o.metadata.uid.into(),
        Err(e) => {
            tracing::warn!(key = %obj.key, error = %e, "object JSON does not decode; holding it without a uid");
            Arc::from("")
        }
    }
}

impl View {
    /// An empty view at `revision`; [`View::load`] fills it.
    pub fn new(config: ViewConfig, revision: Revision) -> View {
        View {
            config,
            revision,
            history_from: revision,
            node_objects: HashMap::new(),
            pods: HashMap::new(),
            referenced: HashMap::new(),
            referrers: HashMap::new(),
            nodes: HashMap::new(),
        }
    }

    /// The view of `objects`, the state at `revision`. Resumes are exact
    /// from `revision` on.
    pub fn load(
        config: ViewConfig,
        revision: Revision,
        objects: impl IntoIterator<Item = Arc<CachedObject>>,
    ) -> View {
        let mut view = View::new(config, revision);
        let mut ignore = |_: &NodeName, _: Change| {};
        for obj in objects {
            view.apply_object(revision, false, &obj, &mut ignore);
        }
        // Loading is not a change: nothing "entered" after `revision`.
        view.revision = revision;
        view
    }

    /// Every change up to this revision has been applied.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Applies one change of the watch cache at `revision` (changes come in
    /// revision order) and tells `out` what each node must learn.
    pub fn apply(
        &mut self,
        revision: Revision,
        deleted: bool,
        obj: &Arc<CachedObject>,
        out: &mut impl Sink,
    ) {
        // Changes at or below the revision the view was loaded at are the
        // catch-up of its start (the kinds' snapshots are taken one after
        // the other): applied, and routed to whoever listens.
        self.apply_object(revision, deleted, obj, out);
        self.revision = self.revision.max(revision);
    }

    /// Records that the stream reached `revision` with nothing for the view.
    pub fn advance(&mut self, revision: Revision) {
        self.revision = self.revision.max(revision);
    }

    fn apply_object(
        &mut self,
        revision: Revision,
        deleted: bool,
        obj: &Arc<CachedObject>,
        out: &mut impl Sink,
    ) {
        match Kind::of_storage_key(&obj.key) {
            Some(Kind::Pod) => self.apply_pod(revision, deleted, obj, out),
            Some(Kind::Node) => self.apply_node(revision, deleted, obj, out),
            Some(kind @ (Kind::ConfigMap | Kind::Secret | Kind::ServiceAccount)) => {
                self.apply_referenced(kind, revision, deleted, obj, out)
            }
            None => {}
        }
    }

    fn intern(&self, key: &str) -> Key {
        match self.referrers.get_key_value(key) {
            Some((k, _)) => k.clone(),
            None => Arc::from(key),
        }
    }

    fn node_view(&mut self, node: &NodeName) -> &mut NodeView {
        let from = self.history_from;
        self.nodes
            .entry(node.clone())
            .or_insert_with(|| NodeView::new(from))
    }

    fn apply_node(
        &mut self,
        revision: Revision,
        deleted: bool,
        obj: &Arc<CachedObject>,
        out: &mut impl Sink,
    ) {
        let name: NodeName = Arc::from(super::kind::split_key(Kind::Node, &obj.key).1);
        let key: Key = Arc::from(obj.key.as_str());
        if deleted {
            let Some(old) = self.node_objects.remove(&name) else {
                return;
            };
            self.left(&name, Kind::Node, &key, &old.uid, revision, out);
            if self.nodes.get(&name).is_some_and(NodeView::is_idle) {
                self.nodes.remove(&name);
            }
            return;
        }
        let tracked = Tracked {
            obj: obj.clone(),
            uid: uid_of(obj),
        };
        let change = tracked.upsert(Kind::Node, &key, revision);
        self.node_objects.insert(name.clone(), tracked);
        self.node_view(&name).gone.remove(&key);
        out.send(&name, change);
    }

    fn apply_pod(
        &mut self,
        revision: Revision,
        deleted: bool,
        obj: &Arc<CachedObject>,
        out: &mut impl Sink,
    ) {
        let key: Key = match self.pods.get_key_value(obj.key.as_str()) {
            Some((k, _)) => k.clone(),
            None => Arc::from(obj.key.as_str()),
        };
        let old = self.pods.remove(&key);
        if deleted {
            if let Some(old) = old {
                self.unbind(&key, &old, revision, out);
            }
            return;
        }
        let binding = pod_binding(&obj.bytes).unwrap_or_else(|e| {
            // The API server validated it: this is a bug elsewhere. Hold the
            // pod nowhere rather than guess its node.
            tracing::warn!(key = %obj.key, error = %e, "pod JSON does not decode; not routed");
            PodBinding::default()
        });
        let node: Option<NodeName> = binding.node.as_deref().map(|n| {
            self.nodes
                .get_key_value(n)
                .map_or_else(|| Arc::from(n), |(k, _)| k.clone())
        });
        let refs: Box<[Key]> = binding
            .refs
            .iter()
            .map(|r| self.intern(&r.kind.storage_key(&binding.namespace, &r.name)))
            .collect();
        let state = PodState {
            tracked: Tracked {
                obj: obj.clone(),
                uid: binding.uid.into(),
            },
            node,
            refs,
        };
        match &old {
            Some(old) if old.node == state.node => {
                if let Some(node) = &state.node {
                    let added: Vec<Key> = state
                        .refs
                        .iter()
                        .filter(|r| !old.refs.contains(r))
                        .cloned()
                        .collect();
                    let removed: Vec<Key> = old
                        .refs
                        .iter()
                        .filter(|r| !state.refs.contains(r))
                        .cloned()
                        .collect();
                    // Referenced objects first: the edge can start the pod
                    // only once what it mounts is there.
                    for r in &added {
                        self.reference(node, r, revision, out);
                    }
                    out.send(node, state.tracked.upsert(Kind::Pod, &key, revision));
                    for r in &removed {
                        self.unreference(node, r, revision, out);
                    }
                }
            }
            _ => {
                if let Some(old) = &old {
                    self.unbind(&key, old, revision, out);
                }
                self.bind(&key, &state, revision, out);
            }
        }
        self.pods.insert(key, state);
    }

    fn bind(&mut self, key: &Key, pod: &PodState, revision: Revision, out: &mut impl Sink) {
        let Some(node) = &pod.node else { return };
        for r in pod.refs.iter() {
            self.reference(node, r, revision, out);
        }
        let view = self.node_view(node);
        view.pods.insert(key.clone(), revision);
        view.gone.remove(key);
        out.send(node, pod.tracked.upsert(Kind::Pod, key, revision));
    }

    fn unbind(&mut self, key: &Key, pod: &PodState, revision: Revision, out: &mut impl Sink) {
        let Some(node) = &pod.node else { return };
        if let Some(view) = self.nodes.get_mut(node) {
            view.pods.remove(key);
        }
        self.left(node, Kind::Pod, key, &pod.tracked.uid, revision, out);
        for r in pod.refs.iter() {
            self.unreference(node, r, revision, out);
        }
        if self.nodes.get(node).is_some_and(NodeView::is_idle)
            && !self.node_objects.contains_key(node)
        {
            self.nodes.remove(node);
        }
    }

    /// One more pod on `node` references `key`.
    fn reference(&mut self, node: &NodeName, key: &Key, revision: Revision, out: &mut impl Sink) {
        let view = self.node_view(node);
        let count = view.refs.entry(key.clone()).or_insert(RefCount {
            pods: 0,
            entered: revision,
        });
        count.pods += 1;
        if count.pods > 1 {
            return;
        }
        self.referrers
            .entry(key.clone())
            .or_default()
            .insert(node.clone());
        if let Some(t) = self.referenced.get(key)
            && let Some(kind) = Kind::of_storage_key(key)
        {
            // Only an upsert supersedes the tombstone: a reference to a
            // missing object must keep the Delete an edge that was away
            // still needs.
            if let Some(view) = self.nodes.get_mut(node) {
                view.gone.remove(key);
            }
            out.send(node, t.upsert(kind, key, revision));
        }
    }

    /// One pod on `node` fewer references `key`.
    fn unreference(&mut self, node: &NodeName, key: &Key, revision: Revision, out: &mut impl Sink) {
        let Some(view) = self.nodes.get_mut(node) else {
            return;
        };
        let Some(count) = view.refs.get_mut(key) else {
            return;
        };
        count.pods -= 1;
        if count.pods > 0 {
            return;
        }
        view.refs.remove(key);
        if let Some(nodes) = self.referrers.get_mut(key) {
            nodes.remove(node);
            if nodes.is_empty() {
                self.referrers.remove(key);
            }
        }
        if let Some(t) = self.referenced.get(key)
            && let Some(kind) = Kind::of_storage_key(key)
        {
            let uid = t.uid.clone();
            self.left(node, kind, key, &uid, revision, out);
        }
    }

    /// `key` is no longer on `node` (the edge may hold it): a Delete now
    /// and a tombstone for resumes.
    fn left(
        &mut self,
        node: &NodeName,
        kind: Kind,
        key: &Key,
        uid: &Arc<str>,
        revision: Revision,
        out: &mut impl Sink,
    ) {
        let max = self.config.max_tombstones_per_node;
        let view = self.node_view(node);
        view.gone.insert(
            key.clone(),
            Tombstone {
                kind,
                uid: uid.clone(),
                revision,
            },
        );
        if view.gone.len() > max {
            prune_tombstones(view, max / 2);
        }
        out.send(
            node,
            Change {
                revision,
                kind,
                key: key.clone(),
                uid: uid.clone(),
                resource_version: revision,
                op: Op::Delete,
            },
        );
    }

    fn apply_referenced(
        &mut self,
        kind: Kind,
        revision: Revision,
        deleted: bool,
        obj: &Arc<CachedObject>,
        out: &mut impl Sink,
    ) {
        let key = self.intern(&obj.key);
        let nodes: Vec<NodeName> = self
            .referrers
            .get(&key)
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default();
        if deleted {
            let Some(old) = self.referenced.remove(&key) else {
                return;
            };
            // Still referenced (the pods may name it again once it is
            // recreated), but gone from every edge holding it.
            for node in &nodes {
                self.left(node, kind, &key, &old.uid, revision, out);
            }
            return;
        }
        let tracked = Tracked {
            obj: obj.clone(),
            uid: uid_of(obj),
        };
        for node in &nodes {
            if let Some(view) = self.nodes.get_mut(node) {
                view.gone.remove(&key);
            }
            out.send(node, tracked.upsert(kind, &key, revision));
        }
        self.referenced.insert(key, tracked);
    }

    /// What `node` must hold now.
    pub fn entries(&self, node: &str) -> Vec<Entry> {
        let mut out = Vec::new();
        self.visit(node, |kind, key, t, _| {
            out.push(Entry {
                kind,
                key: key.clone(),
                uid: t.uid.clone(),
                resource_version: t.obj.revision,
            })
        });
        out
    }

    /// Every object `node` holds: the Node, referenced objects, pods (the
    /// order a fresh edge wants them in), each with when it entered.
    fn visit(&self, node: &str, mut f: impl FnMut(Kind, &Key, &Tracked, Revision)) {
        if let Some(t) = self.node_objects.get(node) {
            let key: Key = Arc::from(Kind::Node.storage_key("", node));
            f(Kind::Node, &key, t, t.obj.revision);
        }
        let Some(view) = self.nodes.get(node) else {
            return;
        };
        for (key, count) in &view.refs {
            if let (Some(t), Some(kind)) = (self.referenced.get(key), Kind::of_storage_key(key)) {
                f(kind, key, t, count.entered);
            }
        }
        for (key, entered) in &view.pods {
            if let Some(p) = self.pods.get(key) {
                f(Kind::Pod, key, &p.tracked, *entered);
            }
        }
    }

    /// Everything `node` must hold, as upserts at the view's revision (a
    /// fresh edge).
    pub fn snapshot(&self, node: &str) -> Vec<Change> {
        let mut out = Vec::new();
        self.visit(node, |kind, key, t, _| {
            out.push(t.upsert(kind, key, self.revision))
        });
        out
    }

    /// How to bring `node` from `revision` (epoch checked by the caller) to
    /// the view's revision. Revision 0 is a fresh edge: everything.
    pub fn resume(&self, node: &str, revision: Revision) -> Resume {
        if revision == 0 {
            return Resume::Delta {
                revision: self.revision,
                changes: self.snapshot(node),
            };
        }
        if revision > self.revision {
            return Resume::NeedsInventory(InventoryReason::Ahead {
                requested: revision,
                current: self.revision,
            });
        }
        // A node without a view lost it with its Node object and last pod;
        // what its edge still holds is only known from its inventory.
        let Some(oldest) = self.nodes.get(node).map(|v| v.history_from) else {
            return Resume::NeedsInventory(InventoryReason::UnknownNode);
        };
        if revision < oldest {
            return Resume::NeedsInventory(InventoryReason::TooOld {
                requested: revision,
                oldest,
            });
        }
        let mut changes = Vec::new();
        self.visit(node, |kind, key, t, entered| {
            if t.obj.revision > revision || entered > revision {
                changes.push(t.upsert(kind, key, t.obj.revision.max(entered)));
            }
        });
        if let Some(view) = self.nodes.get(node) {
            for (key, t) in &view.gone {
                if t.revision > revision {
                    changes.push(Change {
                        revision: t.revision,
                        kind: t.kind,
                        key: key.clone(),
                        uid: t.uid.clone(),
                        resource_version: t.revision,
                        op: Op::Delete,
                    });
                }
            }
        }
        changes.sort_by_key(|c| c.revision);
        Resume::Delta {
            revision: self.revision,
            changes,
        }
    }

    /// The exact difference between what the edge holds (`inventory`) and
    /// what it must hold: upserts for objects missing or with another
    /// uid/resourceVersion, deletes for objects it must not hold.
    pub fn diff_inventory(&self, node: &str, inventory: &[Entry]) -> Vec<Change> {
        let mut held: HashMap<&str, &Entry> = inventory.iter().map(|e| (&*e.key, e)).collect();
        let mut changes = Vec::new();
        self.visit(node, |kind, key, t, _| match held.remove(&**key) {
            Some(e) if e.uid == t.uid && e.resource_version == t.obj.revision => {}
            _ => changes.push(t.upsert(kind, key, self.revision)),
        });
        let mut extra: Vec<&Entry> = held.into_values().collect();
        extra.sort_by(|a, b| a.key.cmp(&b.key));
        changes.extend(extra.into_iter().map(|e| Change {
            revision: self.revision,
            kind: e.kind,
            key: e.key.clone(),
            uid: e.uid.clone(),
            resource_version: self.revision,
            op: Op::Delete,
        }));
        changes
    }

    /// Replaces the view by one loaded from `objects` at `revision` after the
    /// change stream was lost, and tells `out` the difference for every
    /// node. Nodes keep their history: objects that left in the gap get
    /// tombstones at `revision`.
    pub fn reload(
        &mut self,
        revision: Revision,
        objects: impl IntoIterator<Item = Arc<CachedObject>>,
        out: &mut impl Sink,
    ) {
        let mut fresh = View::load(self.config.clone(), revision, objects);
        fresh.history_from = self.history_from;
        let names: HashSet<NodeName> = self
            .nodes
            .keys()
            .chain(self.node_objects.keys())
            .chain(fresh.nodes.keys())
            .chain(fresh.node_objects.keys())
            .cloned()
            .collect();
        for node in names {
            let before = self.entries(&node);
            let changes = fresh.diff_inventory(&node, &before);
            let old = self.nodes.remove(&node);
            let view = fresh
                .nodes
                .entry(node.clone())
                .or_insert_with(|| NodeView::new(revision));
            if let Some(old) = old {
                view.history_from = old.history_from;
                view.gone = old.gone;
            }
            for c in changes {
                if c.is_delete() {
                    view.gone.insert(
                        c.key.clone(),
                        Tombstone {
                            kind: c.kind,
                            uid: c.uid.clone(),
                            revision,
                        },
                    );
                } else {
                    view.gone.remove(&c.key);
                }
                out.send(&node, c);
            }
        }
        let node_objects = &fresh.node_objects;
        fresh
            .nodes
            .retain(|name, v| !v.is_idle() || node_objects.contains_key(name));
        *self = fresh;
    }

    /// Rough bytes the view holds for `node` (its own maps, not the shared
    /// objects), for the benchmark.
    pub fn node_footprint(&self, node: &str) -> usize {
        fn map_bytes<K, V>(m: &HashMap<K, V>) -> usize {
            // hashbrown: one control byte per bucket plus the entries.
            m.capacity() * (std::mem::size_of::<(K, V)>() + 1)
        }
        self.nodes.get(node).map_or(0, |v| {
            std::mem::size_of::<NodeView>()
                + map_bytes(&v.pods)
                + map_bytes(&v.refs)
                + map_bytes(&v.gone)
        })
    }
}

/// Drops the oldest tombstones down to `keep`; resumes from before the
/// newest dropped one need an inventory.
fn prune_tombstones(view: &mut NodeView, keep: usize) {
    let mut revs: Vec<Revision> = view.gone.values().map(|t| t.revision).collect();
    revs.sort_unstable();
    let cut = revs.len().saturating_sub(keep);
    let Some(&newest_dropped) = revs.get(cut.saturating_sub(1)) else {
        return;
    };
    if cut == 0 {
        return;
    }
    view.gone.retain(|_, t| t.revision > newest_dropped);
    view.history_from = view.history_from.max(newest_dropped);
}
