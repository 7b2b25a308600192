//! The scheduler's picture of the cluster, kept in step with the watch
//! cache event by event: nodes with the pods on them (bound, or assumed
//! while their binding is written), pending pods in the scheduling queue,
//! nominations made by preemption, namespace labels (for affinity
//! namespaceSelectors) and disruption budgets.
//!
//! Every change that could let a parked pod fit is turned into a
//! [`PluginSet`] and handed to the queue, which wakes exactly the pods that
//! one of those plugins rejected.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use tokio::time::Instant;
use verge_apimachinery::labels::Selector;

use crate::node::{NodeInfo, NodeSpec};
use crate::plugins::interpod::NamespaceLabels;
use crate::plugins::{Plugin, PluginSet};
use crate::pod::PodInfo;
use crate::queue::SchedulingQueue;

/// Where a known pod is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// Waiting for us (in the queue).
    Pending,
    /// We chose this node; the binding is being written.
    Assumed(Arc<str>),
    /// Bound (by us or anyone).
    Assigned(Arc<str>),
}

#[derive(Debug)]
pub struct PodEntry {
    pub info: Arc<PodInfo>,
    pub place: Place,
    /// The node preemption made room on, as far as we know: our own
    /// decision before its status write lands, then the API's.
    pub nominated: Option<Arc<str>>,
}

/// A PodDisruptionBudget, as preemption uses it.
#[derive(Debug, Clone)]
pub struct Pdb {
    pub namespace: String,
    /// None matches no pod.
    pub selector: Option<Selector>,
    pub disruptions_allowed: i64,
}

#[derive(Default)]
pub struct State {
    /// Node slots; `index` maps names to slots, `order` lists the slots of
    /// nodes that exist (placeholders hold pods bound to unknown nodes).
    nodes: Vec<Option<NodeInfo>>,
    index: HashMap<Arc<str>, usize>,
    free: Vec<usize>,
    order: Vec<usize>,
    pub pods: HashMap<Arc<str>, PodEntry>,
    /// node → pods nominated to it.
    pub nominated: HashMap<Arc<str>, HashMap<Arc<str>, Arc<PodInfo>>>,
    pub namespaces: NamespaceLabels,
    pub pdbs: HashMap<String, Pdb>,
    pub queue: SchedulingQueue,
    /// Bound pods with required anti-affinity, cluster-wide: when zero the
    /// per-pod anti-affinity pass is skipped entirely.
    pub pods_with_required_anti: usize,
    /// Bound pods with any pod (anti-)affinity terms, cluster-wide: when
    /// zero, scoring a pod without preferred terms skips the affinity pass.
    pub pods_with_affinity: usize,
    /// Where the next node sample starts (rotates so all nodes get turns).
    pub next_start: usize,
}

fn arc(s: &str) -> Arc<str> {
    Arc::from(s)
}

impl State {
    pub fn new() -> State {
        State::default()
    }

    // ---- nodes ----

    /// Nodes that exist, in sampling order.
    pub fn node_count(&self) -> usize {
        self.order.len()
    }

    /// The i-th existing node.
    pub fn node_at(&self, i: usize) -> &NodeInfo {
        match self.nodes.get(self.order[i]) {
            Some(Some(n)) => n,
            // `order` only holds occupied slots.
            _ => unreachable!("order holds a free slot"),
        }
    }

    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> + Clone {
        self.order.iter().filter_map(|i| self.nodes[*i].as_ref())
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).and_then(|i| self.nodes[*i].as_ref())
    }

    fn slot(&mut self, name: &str) -> usize {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        let name = arc(name);
        let info = Some(NodeInfo::new(name.clone()));
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i] = info;
                i
            }
            None => {
                self.nodes.push(info);
                self.nodes.len() - 1
            }
        };
        self.index.insert(name, i);
        i
    }

    fn node_mut(&mut self, name: &str) -> &mut NodeInfo {
        let i = self.slot(name);
        self.nodes[i].get_or_insert_with(|| NodeInfo::new(arc(name)))
    }

    /// Frees a placeholder that holds no pods any more.
    fn maybe_free(&mut self, name: &str) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        if self.nodes[i]
            .as_ref()
            .is_some_and(|n| n.spec.is_none() && n.pods.is_empty())
        {
            self.nodes[i] = None;
            self.index.remove(name);
            self.free.push(i);
        }
    }

    /// A node was created or changed. Returns what the change can satisfy.
    pub fn node_applied(&mut self, name: &str, spec: NodeSpec) -> PluginSet {
        let i = self.slot(name);
        let Some(node) = self.nodes[i].as_mut() else {
            return PluginSet::EMPTY;
        };
        let event = match &node.spec {
            None => {
                self.order.push(i);
                PluginSet::ALL
            }
            Some(old) if *old == spec => return PluginSet::EMPTY,
            Some(old) => old.changes(&spec),
        };
        node.spec = Some(spec);
        event
    }

    pub fn node_deleted(&mut self, name: &str) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        if let Some(n) = self.nodes[i].as_mut() {
            n.spec = None;
        }
        self.order.retain(|j| *j != i);
        self.maybe_free(name);
    }

    /// Replaces all nodes with `all` (after a re-list).
    pub fn nodes_relisted(&mut self, all: Vec<(String, NodeSpec)>) -> PluginSet {
        let keep: HashSet<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
        let gone: Vec<Arc<str>> = self
            .nodes()
            .filter(|n| !keep.contains(n.name.as_ref()))
            .map(|n| n.name.clone())
            .collect();
        for name in gone {
            self.node_deleted(&name);
        }
        let mut event = PluginSet::EMPTY;
        for (name, spec) in all {
            event = event.union(self.node_applied(&name, spec));
        }
        event
    }

    // ---- pods ----

    fn place_on(&mut self, node: &Arc<str>, pod: &Arc<PodInfo>) {
        let n = self.node_mut(node);
        let before = (n.pods_with_required_anti, n.pods_with_affinity);
        n.add_pod(pod.clone());
        let after = (n.pods_with_required_anti, n.pods_with_affinity);
        self.count_affinity(before, after);
    }

    /// Keeps the cluster-wide counts of pods with affinity terms in step
    /// with a node's.
    fn count_affinity(&mut self, before: (usize, usize), after: (usize, usize)) {
        self.pods_with_required_anti =
            (self.pods_with_required_anti + after.0).saturating_sub(before.0);
        self.pods_with_affinity = (self.pods_with_affinity + after.1).saturating_sub(before.1);
    }

    fn take_from(&mut self, node: &str, key: &str) {
        let Some(&i) = self.index.get(node) else {
            return;
        };
        if let Some(n) = self.nodes[i].as_mut() {
            let before = (n.pods_with_required_anti, n.pods_with_affinity);
            n.remove_pod(key);
            let after = (n.pods_with_required_anti, n.pods_with_affinity);
            self.count_affinity(before, after);
        }
        self.maybe_free(node);
    }

    fn set_nomination(&mut self, key: &Arc<str>, node: Option<Arc<str>>) {
        let Some(entry) = self.pods.get_mut(key) else {
            return;
        };
        if entry.nominated == node {
            if let Some(n) = &node {
                // Keep the nominated pod's info current.
                let info = entry.info.clone();
                self.nominated
                    .entry(n.clone())
                    .or_default()
                    .insert(key.clone(), info);
            }
            return;
        }
        let old = std::mem::replace(&mut entry.nominated, node.clone());
        let info = entry.info.clone();
        if let Some(old) = old
            && let Some(m) = self.nominated.get_mut(&old)
        {
            m.remove(key);
            if m.is_empty() {
                self.nominated.remove(&old);
            }
        }
        if let Some(n) = node {
            self.nominated
                .entry(n)
                .or_default()
                .insert(key.clone(), info);
        }
    }

    /// Records our own nomination (preemption chose `node` for `key`).
    pub fn nominate(&mut self, key: &Arc<str>, node: Option<Arc<str>>) {
        self.set_nomination(key, node);
    }

    /// A pod was created or changed. Returns what the change can satisfy
    /// for other pods (its own re-queueing is done here).
    pub fn pod_applied(&mut self, info: PodInfo, now: Instant) -> PluginSet {
        let key = info.key.clone();
        if let Some(old) = self.pods.get(&key)
            && old.info.uid != info.uid
        {
            // Deleted and recreated under the same name between two events.
            let _ = self.pod_deleted(&key);
        }
        let info = Arc::new(info);
        let old = self
            .pods
            .get(&key)
            .map(|e| (e.place.clone(), e.info.clone()));

        if info.terminal || (!info.is_bound() && !info.is_pending_for_us()) {
            // Finished, or not ours and not bound: it holds nothing.
            return self.pod_deleted(&key);
        }

        let new_place = if info.is_bound() {
            Place::Assigned(arc(&info.node_name))
        } else {
            match &old {
                // Still unbound while our binding is in flight (a status
                // write overtook it): stay assumed.
                Some((Place::Assumed(n), _)) => Place::Assumed(n.clone()),
                _ => Place::Pending,
            }
        };

        let mut event = PluginSet::EMPTY;
        match (&old, &new_place) {
            (None, Place::Assigned(_)) => {
                event = PluginSet::of(&[Plugin::InterPodAffinity, Plugin::PodTopologySpread]);
            }
            (
                Some((Place::Assigned(a) | Place::Assumed(a), old_info)),
                Place::Assigned(b) | Place::Assumed(b),
            ) => {
                if a != b {
                    event = PluginSet::ALL;
                } else if old_info.labels != info.labels || old_info.deleting != info.deleting {
                    event = PluginSet::of(&[Plugin::InterPodAffinity, Plugin::PodTopologySpread]);
                }
            }
            (Some((Place::Pending, _)), Place::Assigned(_)) => {
                event = PluginSet::of(&[Plugin::InterPodAffinity, Plugin::PodTopologySpread]);
            }
            _ => {}
        }

        // Take the old accounting out, put the new one in.
        if let Some((Place::Assigned(n) | Place::Assumed(n), _)) = &old {
            self.take_from(n, &key);
        }
        match &new_place {
            Place::Assigned(n) => {
                self.place_on(n, &info);
                self.queue.remove(&key);
            }
            // Keeps its queue entry (attempts, backoff) in case the
            // binding fails.
            Place::Assumed(n) => self.place_on(n, &info),
            Place::Pending => {
                if !self.queue.add(key.clone(), info.priority, now)
                    && let Some((_, old_info)) = &old
                    && old_info.scheduling_changed(&info)
                {
                    self.queue.pod_updated(&key, now);
                }
            }
        }

        let api_nomination = (!info.nominated_node.is_empty()).then(|| arc(&info.nominated_node));
        let ours = self.pods.get(&key).and_then(|e| e.nominated.clone());
        self.pods.insert(
            key.clone(),
            PodEntry {
                info: info.clone(),
                place: new_place.clone(),
                nominated: ours,
            },
        );
        let nomination = match new_place {
            Place::Pending => {
                api_nomination.or_else(|| self.pods.get(&key).and_then(|e| e.nominated.clone()))
            }
            _ => None,
        };
        self.set_nomination(&key, nomination);
        event
    }

    /// A pod is gone (or finished). Returns what that can satisfy.
    pub fn pod_deleted(&mut self, key: &Arc<str>) -> PluginSet {
        self.set_nomination(key, None);
        let Some(entry) = self.pods.remove(key) else {
            self.queue.remove(key);
            return PluginSet::EMPTY;
        };
        self.queue.remove(key);
        match entry.place {
            Place::Assigned(n) | Place::Assumed(n) => {
                self.take_from(&n, key);
                PluginSet::of(&[
                    Plugin::NodeResourcesFit,
                    Plugin::NodePorts,
                    Plugin::InterPodAffinity,
                    Plugin::PodTopologySpread,
                ])
            }
            Place::Pending => PluginSet::EMPTY,
        }
    }

    /// Replaces all pods with `all` (after a re-list).
    pub fn pods_relisted(&mut self, all: Vec<PodInfo>, now: Instant) -> PluginSet {
        let keep: HashSet<Arc<str>> = all.iter().map(|p| p.key.clone()).collect();
        let gone: Vec<Arc<str>> = self
            .pods
            .keys()
            .filter(|k| !keep.contains(*k))
            .cloned()
            .collect();
        let mut event = PluginSet::EMPTY;
        for key in gone {
            event = event.union(self.pod_deleted(&key));
        }
        for p in all {
            event = event.union(self.pod_applied(p, now));
        }
        event
    }

    /// The cycle chose `node` for the pending pod `key`: count it there now,
    /// before the binding is written, so the next cycle sees it.
    pub fn assume(&mut self, key: &Arc<str>, node: &Arc<str>) -> Option<Arc<PodInfo>> {
        let info = {
            let entry = self.pods.get_mut(key)?;
            if entry.place != Place::Pending {
                return None;
            }
            entry.place = Place::Assumed(node.clone());
            entry.info.clone()
        };
        self.set_nomination(key, None);
        self.place_on(node, &info);
        self.queue.binding(key);
        Some(info)
    }

    /// The binding failed: forget the assumption and retry later. A pod
    /// that meanwhile turned up bound (or gone) is left as the API says.
    pub fn forget(&mut self, key: &Arc<str>, node: &Arc<str>, now: Instant) {
        let Some(entry) = self.pods.get_mut(key) else {
            return;
        };
        if entry.place != Place::Assumed(node.clone()) {
            return;
        }
        entry.place = Place::Pending;
        self.take_from(node, key);
        self.queue.retry_later(key, now);
    }

    // ---- namespaces and disruption budgets ----

    pub fn namespace_applied(
        &mut self,
        name: String,
        labels: BTreeMap<String, String>,
    ) -> PluginSet {
        if self.namespaces.get(&name) == Some(&labels) {
            return PluginSet::EMPTY;
        }
        self.namespaces.insert(name, labels);
        PluginSet::EMPTY.with(Plugin::InterPodAffinity)
    }

    pub fn namespace_deleted(&mut self, name: &str) {
        self.namespaces.remove(name);
    }

    /// The pods nominated to `node` that outrank (or equal) `pod`: they
    /// keep the room preemption made for them.
    pub fn reserved_on(&self, node: &str, pod: &PodInfo) -> Option<crate::plugins::fit::Reserved> {
        // Asked for every node a pod is filtered against: skip hashing the
        // name when nothing is nominated anywhere (the usual case).
        if self.nominated.is_empty() {
            return None;
        }
        let nominated = self.nominated.get(node)?;
        let mut r = crate::plugins::fit::Reserved::default();
        for p in nominated.values() {
            if p.key != pod.key && p.priority >= pod.priority {
                r.res.add(&p.requests.res);
                r.pods += 1;
            }
        }
        (r.pods > 0).then_some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::tests::pod;
    use serde_json::json;

    fn node_spec(name: &str, labels: serde_json::Value) -> (String, NodeSpec) {
        let n = crate::node::tests::node(name, labels, json!({}));
        (name.to_owned(), n.spec.clone().expect("spec"))
    }

    fn cpu_pod(name: &str, node: Option<&str>) -> PodInfo {
        let mut spec = json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "1"}}}]});
        if let Some(n) = node {
            spec["nodeName"] = json!(n);
        }
        pod(name, spec)
    }

    #[test]
    fn pods_are_counted_on_their_nodes() {
        let mut st = State::new();
        let now = Instant::now();
        let (n, s) = node_spec("n1", json!({}));
        assert_eq!(st.node_applied(&n, s.clone()), PluginSet::ALL);
        assert!(
            st.node_applied(&n, s).is_empty(),
            "an unchanged node wakes no one"
        );
        st.pod_applied(cpu_pod("a", Some("n1")), now);
        assert_eq!(st.node("n1").expect("node").requested.milli_cpu, 1000);
        let ev = st.pod_deleted(&Arc::from("default/a"));
        assert!(ev.contains(Plugin::NodeResourcesFit));
        assert_eq!(st.node("n1").expect("node").requested.milli_cpu, 0);
    }

    #[test]
    fn pods_bound_to_unknown_nodes_wait_in_placeholders() {
        let mut st = State::new();
        let now = Instant::now();
        st.pod_applied(cpu_pod("a", Some("later")), now);
        assert_eq!(st.node_count(), 0, "a placeholder is not a candidate");
        let (n, s) = node_spec("later", json!({}));
        st.node_applied(&n, s);
        assert_eq!(st.node_count(), 1);
        assert_eq!(st.node("later").expect("node").pods.len(), 1);
        st.node_deleted("later");
        assert_eq!(st.node_count(), 0);
        st.pod_deleted(&Arc::from("default/a"));
        assert!(st.node("later").is_none(), "an empty placeholder is freed");
    }

    #[test]
    fn assumed_pods_stay_assumed_until_bound_or_forgotten() {
        let mut st = State::new();
        let now = Instant::now();
        let (n, s) = node_spec("n1", json!({}));
        st.node_applied(&n, s);
        st.pod_applied(cpu_pod("a", None), now);
        let key: Arc<str> = Arc::from("default/a");
        assert_eq!(st.queue.pop(now), Some(key.clone()));
        let node: Arc<str> = Arc::from("n1");
        st.assume(&key, &node).expect("assumed");
        assert_eq!(st.node("n1").expect("node").requested.milli_cpu, 1000);
        // A status write lands before the binding: still assumed.
        st.pod_applied(cpu_pod("a", None), now);
        assert_eq!(st.pods[&key].place, Place::Assumed(node.clone()));
        assert_eq!(st.node("n1").expect("node").requested.milli_cpu, 1000);
        // The binding fails: forgotten, retried later.
        st.forget(&key, &node, now);
        assert_eq!(st.node("n1").expect("node").requested.milli_cpu, 0);
        assert_eq!(st.queue.depths().backoff, 1);
        // Then the pod turns up bound after all.
        st.pod_applied(cpu_pod("a", Some("n1")), now);
        assert_eq!(st.pods[&key].place, Place::Assigned(node));
        assert!(!st.queue.contains(&key));
        assert_eq!(st.node("n1").expect("node").requested.milli_cpu, 1000);
    }

    #[test]
    fn terminal_pods_free_their_node() {
        let mut st = State::new();
        let now = Instant::now();
        st.pod_applied(cpu_pod("a", Some("n1")), now);
        let mut done = cpu_pod("a", Some("n1"));
        done.terminal = true;
        let ev = st.pod_applied(done, now);
        assert!(ev.contains(Plugin::NodeResourcesFit));
        assert!(st.pods.is_empty());
    }

    #[test]
    fn nominations_reserve_room_for_equal_or_higher_priority() {
        let mut st = State::new();
        let now = Instant::now();
        st.pod_applied(cpu_pod("hi", None), now);
        let key: Arc<str> = Arc::from("default/hi");
        st.nominate(&key, Some(Arc::from("n1")));
        let low = cpu_pod("low", None);
        assert_eq!(
            st.reserved_on("n1", &low).expect("reserved").res.milli_cpu,
            1000
        );
        let mut higher = cpu_pod("higher", None);
        higher.priority = 5;
        assert!(st.reserved_on("n1", &higher).is_none());
        // An update from the API without the nomination yet keeps ours.
        st.pod_applied(cpu_pod("hi", None), now);
        assert_eq!(st.pods[&key].nominated.as_deref(), Some("n1"));
        st.pod_deleted(&key);
        assert!(st.nominated.is_empty());
    }
}
