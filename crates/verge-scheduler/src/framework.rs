//! One scheduling cycle: pre-compute what needs the whole cluster, filter a
//! sample of the nodes (rotating start, cheapest checks first, stop once
//! enough fit), score the feasible ones and pick the best. When nothing
//! fits, the per-node reasons become kube-scheduler's "0/N nodes are
//! available: ..." message.

use std::collections::HashMap;
use std::sync::Arc;

use crate::node::NodeInfo;
use crate::plugins::{
    self, PluginSet, Rejection, fit, interpod, node_affinity, node_unschedulable, ports, spread,
    taints,
};
use crate::pod::PodInfo;
use crate::state::State;

/// kube-scheduler's `minFeasibleNodesToFind`.
const MIN_FEASIBLE_NODES: usize = 100;
/// kube-scheduler's `minFeasibleNodesPercentageToFind`.
const MIN_FEASIBLE_PERCENTAGE: usize = 5;

/// Score weights of kube-scheduler's default profile.
const WEIGHT_TAINTS: i64 = 3;
const WEIGHT_NODE_AFFINITY: i64 = 2;
const WEIGHT_INTERPOD: i64 = 2;
const WEIGHT_SPREAD: i64 = 2;
const WEIGHT_LEAST_ALLOCATED: i64 = 1;
const WEIGHT_BALANCED: i64 = 1;

/// How many feasible nodes to find before scoring (the adaptive
/// `percentageOfNodesToScore`): all of a small cluster, 50% of a few
/// hundred nodes, down to 5% (500 of 10,000) for large ones.
pub fn feasible_nodes_to_find(all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES {
        return all;
    }
    let percentage = 50usize
        .saturating_sub(all / 125)
        .max(MIN_FEASIBLE_PERCENTAGE);
    (all * percentage / 100).max(MIN_FEASIBLE_NODES)
}

/// A small, fast PRNG for tie-breaking and sampling offsets (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn from_time() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64);
        Rng::seeded(nanos)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// What the filters need from the whole cluster, computed once per pod.
#[derive(Clone, Debug, Default)]
pub struct Prefilter {
    pub interpod: Option<interpod::State>,
    pub spread: Option<spread::State>,
}

impl Prefilter {
    pub fn compute(st: &State, pod: &PodInfo) -> Prefilter {
        Prefilter {
            interpod: interpod::State::compute(
                pod,
                st.nodes(),
                st.pods_with_required_anti > 0,
                &st.namespaces,
            ),
            spread: spread::State::compute(pod, st.nodes()),
        }
    }

    /// Takes a pod out of (-1) or puts it back into (1) the counts, for
    /// preemption's "what if these pods were gone".
    pub fn update(
        &mut self,
        st: &State,
        pod: &PodInfo,
        existing: &PodInfo,
        node: &NodeInfo,
        delta: i64,
    ) {
        if let Some(s) = &mut self.interpod {
            s.update(pod, existing, node, &st.namespaces, delta);
        }
        if let Some(s) = &mut self.spread {
            s.update(pod, existing, node, delta);
        }
    }
}

/// Runs the filters on one node, in kube-scheduler's order, and returns the
/// first rejection.
pub fn filter_node(
    st: &State,
    pre: &Prefilter,
    pod: &PodInfo,
    node: &NodeInfo,
) -> Option<Rejection> {
    let Some(spec) = &node.spec else {
        return Some(Rejection::unresolvable(
            plugins::Plugin::NodeUnschedulable,
            "node(s) not found",
        ));
    };
    node_unschedulable::filter(pod, spec)
        .or_else(|| taints::filter(pod, spec))
        .or_else(|| node_affinity::filter_on(pod, &node.name, spec))
        .or_else(|| ports::filter(pod, node))
        .or_else(|| {
            fit::filter(
                pod,
                node,
                &spec.allocatable,
                st.reserved_on(&node.name, pod).as_ref(),
            )
        })
        .or_else(|| pre.spread.as_ref().and_then(|s| s.filter(pod, node)))
        .or_else(|| {
            pre.interpod
                .as_ref()
                .and_then(|s| s.filter(pod, node, &st.namespaces))
        })
}

/// Why no node fits: every node's first rejection.
#[derive(Debug, Clone)]
pub struct FitError {
    pub num_nodes: usize,
    pub rejections: Vec<(Arc<str>, Rejection)>,
}

pub const NO_NODES: &str = "no nodes available to schedule pods";

/// "3 Insufficient cpu, 9 node(s) had untolerated taint {k: v}": each
/// reason with the number of nodes that gave it, sorted as strings, as
/// kube-scheduler prints them.
pub fn histogram<'a>(reasons: impl Iterator<Item = &'a str>) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in reasons {
        *counts.entry(r).or_insert(0) += 1;
    }
    let mut parts: Vec<String> = counts
        .into_iter()
        .map(|(r, n)| format!("{n} {r}"))
        .collect();
    parts.sort();
    parts.join(", ")
}

impl FitError {
    /// The PodScheduled message and FailedScheduling event text.
    /// `postfilter` is what preemption said ("preemption: ...").
    pub fn message(&self, postfilter: Option<&str>) -> String {
        if self.num_nodes == 0 {
            return format!("{NO_NODES}.");
        }
        let mut msg = format!("0/{} nodes are available:", self.num_nodes);
        let reasons = histogram(
            self.rejections
                .iter()
                .flat_map(|(_, r)| r.reasons.iter().map(String::as_str)),
        );
        if !reasons.is_empty() {
            msg.push(' ');
            msg.push_str(&reasons);
            msg.push('.');
        }
        if let Some(post) = postfilter.filter(|p| !p.is_empty()) {
            msg.push(' ');
            msg.push_str(post);
            if !post.ends_with('.') {
                msg.push('.');
            }
        }
        msg
    }

    /// The plugins that rejected some node: a cluster change that can
    /// satisfy one of them is worth another attempt.
    pub fn rejected_by(&self) -> PluginSet {
        if self.num_nodes == 0 {
            return PluginSet::ALL;
        }
        self.rejections
            .iter()
            .fold(PluginSet::EMPTY, |s, (_, r)| s.with(r.plugin))
    }
}

/// The cycle's answer.
#[derive(Debug)]
pub enum Found {
    Node {
        node: Arc<str>,
        /// Nodes the filters looked at (for the rotating start).
        visited: usize,
    },
    Unschedulable {
        fit: FitError,
        pre: Box<Prefilter>,
        visited: usize,
    },
}

/// Filters and scores nodes for `pod`, starting the sample at `start`.
pub fn find_node(
    st: &State,
    pod: &PodInfo,
    nominated: Option<&str>,
    start: usize,
    rng: &mut Rng,
) -> Found {
    let all = st.node_count();
    let pre = Prefilter::compute(st, pod);
    if all == 0 {
        return Found::Unschedulable {
            fit: FitError {
                num_nodes: 0,
                rejections: Vec::new(),
            },
            pre: Box::new(pre),
            visited: 0,
        };
    }
    // A pod preemption made room for tries that node first.
    if let Some(n) = nominated.and_then(|n| st.node(n))
        && n.spec.is_some()
        && filter_node(st, &pre, pod, n).is_none()
    {
        return Found::Node {
            node: n.name.clone(),
            visited: 0,
        };
    }
    let wanted = feasible_nodes_to_find(all);
    let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(wanted.min(all));
    let mut rejections = Vec::new();
    let mut visited = 0;
    for k in 0..all {
        let node = st.node_at((start + k) % all);
        visited += 1;
        match filter_node(st, &pre, pod, node) {
            None => {
                feasible.push(node);
                if feasible.len() >= wanted {
                    break;
                }
            }
            Some(r) => rejections.push((node.name.clone(), r)),
        }
    }
    if feasible.is_empty() {
        return Found::Unschedulable {
            fit: FitError {
                num_nodes: all,
                rejections,
            },
            pre: Box::new(pre),
            visited,
        };
    }
    let node = if feasible.len() == 1 {
        feasible[0].name.clone()
    } else {
        select_host(st, pod, &feasible, rng)
    };
    Found::Node { node, visited }
}

/// Scores the feasible nodes with the default plugins and weights and
/// returns the best one, breaking ties at random.
pub fn select_host(st: &State, pod: &PodInfo, feasible: &[&NodeInfo], rng: &mut Rng) -> Arc<str> {
    let totals = score_nodes(st, pod, feasible);
    let mut best = 0;
    let mut best_score = i64::MIN;
    let mut ties = 0u64;
    for (i, s) in totals.iter().enumerate() {
        if *s > best_score {
            best_score = *s;
            best = i;
            ties = 1;
        } else if *s == best_score {
            // Reservoir sampling: each tied node wins with equal chance.
            ties += 1;
            if rng.next_u64().is_multiple_of(ties) {
                best = i;
            }
        }
    }
    feasible[best].name.clone()
}

/// The weighted sum of every score plugin for each node.
pub fn score_nodes(st: &State, pod: &PodInfo, feasible: &[&NodeInfo]) -> Vec<i64> {
    let n = feasible.len();
    let mut totals = vec![0i64; n];
    let mut add = |scores: &[i64], weight: i64| {
        for (t, s) in totals.iter_mut().zip(scores) {
            *t += s * weight;
        }
    };

    let mut least = Vec::with_capacity(n);
    let mut balanced = Vec::with_capacity(n);
    let mut taint_counts = Vec::with_capacity(n);
    for node in feasible {
        let Some(spec) = &node.spec else {
            least.push(0);
            balanced.push(0);
            taint_counts.push(0);
            continue;
        };
        least.push(fit::least_allocated(pod, node, &spec.allocatable));
        balanced.push(fit::balanced(pod, node, &spec.allocatable));
        taint_counts.push(taints::score(pod, spec));
    }
    add(&least, WEIGHT_LEAST_ALLOCATED);
    add(&balanced, WEIGHT_BALANCED);
    plugins::normalize(&mut taint_counts, true);
    add(&taint_counts, WEIGHT_TAINTS);

    if !pod.preferred_node_affinity.is_empty() {
        let mut s: Vec<i64> = feasible
            .iter()
            .map(|node| {
                node.spec.as_ref().map_or(0, |spec| {
                    node_affinity::score(pod, &node.name, &spec.labels)
                })
            })
            .collect();
        plugins::normalize(&mut s, false);
        add(&s, WEIGHT_NODE_AFFINITY);
    }
    let preferred = pod
        .affinity
        .as_ref()
        .is_some_and(|a| !a.preferred_affinity.is_empty() || !a.preferred_anti.is_empty());
    if (preferred || st.pods_with_affinity > 0)
        && let Some(state) = interpod::ScoreState::compute(pod, st.nodes(), &st.namespaces)
    {
        let mut s: Vec<i64> = feasible.iter().map(|node| state.score(node)).collect();
        interpod::normalize(&mut s);
        add(&s, WEIGHT_INTERPOD);
    }
    if let Some(state) = spread::ScoreState::compute(pod, feasible, st.nodes()) {
        let raw: Vec<Option<i64>> = feasible.iter().map(|node| state.score(pod, node)).collect();
        add(&spread::normalize(&raw), WEIGHT_SPREAD);
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::tests::pod;
    use serde_json::json;
    use tokio::time::Instant;

    #[test]
    fn sample_size_adapts_to_cluster_size() {
        assert_eq!(feasible_nodes_to_find(50), 50);
        assert_eq!(feasible_nodes_to_find(100), 100);
        assert_eq!(feasible_nodes_to_find(1_000), 420);
        assert_eq!(feasible_nodes_to_find(5_000), 500);
        assert_eq!(feasible_nodes_to_find(10_000), 500);
    }

    #[test]
    fn message_matches_kube_scheduler() {
        let taint = Rejection::unresolvable(
            plugins::Plugin::TaintToleration,
            "node(s) had untolerated taint {dedicated: gpu}",
        );
        let cpu = Rejection::new(plugins::Plugin::NodeResourcesFit, "Insufficient cpu");
        let mut rejections: Vec<(Arc<str>, Rejection)> = (0..3)
            .map(|i| (Arc::from(format!("t{i}")), taint.clone()))
            .collect();
        rejections.extend((0..9).map(|i| (Arc::from(format!("c{i}")), cpu.clone())));
        let fit = FitError {
            num_nodes: 12,
            rejections,
        };
        assert_eq!(
            fit.message(Some("preemption: 0/12 nodes are available: 3 Preemption is not helpful for scheduling, 9 No preemption victims found for incoming pod.")),
            "0/12 nodes are available: 3 node(s) had untolerated taint {dedicated: gpu}, 9 Insufficient cpu. \
             preemption: 0/12 nodes are available: 3 Preemption is not helpful for scheduling, 9 No preemption victims found for incoming pod."
        );
        assert!(
            fit.rejected_by()
                .contains(plugins::Plugin::NodeResourcesFit)
        );
        assert!(!fit.rejected_by().contains(plugins::Plugin::NodePorts));
        let none = FitError {
            num_nodes: 0,
            rejections: vec![],
        };
        assert_eq!(none.message(None), "no nodes available to schedule pods.");
    }

    fn cluster(n: usize) -> State {
        let mut st = State::new();
        for i in 0..n {
            let node = crate::node::tests::node(
                &format!("n{i}"),
                json!({"kubernetes.io/hostname": format!("n{i}")}),
                json!({}),
            );
            st.node_applied(&format!("n{i}"), node.spec.clone().expect("spec"));
        }
        st
    }

    #[test]
    fn stops_after_enough_feasible_nodes_and_rotates() {
        let st = cluster(1_000);
        let p = pod("p", json!({"containers": []}));
        let mut rng = Rng::seeded(7);
        match find_node(&st, &p, None, 990, &mut rng) {
            Found::Node { visited, .. } => assert_eq!(visited, 420),
            other => panic!("expected a node, got {other:?}"),
        }
    }

    #[test]
    fn least_allocated_spreads_pods() {
        let mut st = cluster(2);
        let now = Instant::now();
        st.pod_applied(
            pod("busy", json!({"nodeName": "n0", "containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "3", "memory": "6Gi"}}}]})),
            now,
        );
        let p = pod(
            "p",
            json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "100m"}}}]}),
        );
        let mut rng = Rng::seeded(1);
        for _ in 0..20 {
            match find_node(&st, &p, None, 0, &mut rng) {
                Found::Node { node, .. } => assert_eq!(node.as_ref(), "n1"),
                other => panic!("expected a node, got {other:?}"),
            }
        }
    }

    #[test]
    fn reports_every_node_when_nothing_fits() {
        let st = cluster(3);
        let p = pod(
            "p",
            json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "64"}}}]}),
        );
        let mut rng = Rng::seeded(1);
        match find_node(&st, &p, None, 0, &mut rng) {
            Found::Unschedulable { fit, visited, .. } => {
                assert_eq!(visited, 3);
                assert_eq!(
                    fit.message(None),
                    "0/3 nodes are available: 3 Insufficient cpu."
                );
            }
            other => panic!("expected no node, got {other:?}"),
        }
    }

    #[test]
    fn ties_are_broken_at_random() {
        let st = cluster(4);
        let p = pod("p", json!({"containers": []}));
        let mut rng = Rng::seeded(42);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            if let Found::Node { node, .. } = find_node(&st, &p, None, 0, &mut rng) {
                seen.insert(node);
            }
        }
        assert_eq!(
            seen.len(),
            4,
            "every equally good node gets chosen sometimes"
        );
    }
}
