//! InterPodAffinity: required pod affinity ("only where pods like X run, by
//! topology key"), required anti-affinity (the incoming pod's, and the
//! existing pods' towards the incoming one), and the preferred terms of
//! both sides for scoring.
//!
//! Before filtering, the pods that matter are counted once per topology
//! domain (`State`); each node's check is then a few map lookups. Counts
//! can be taken back out pod by pod, which preemption uses to ask "would it
//! fit without these victims".

use std::collections::{BTreeMap, HashMap};

use super::{MAX_SCORE, Plugin, Rejection};
use crate::node::NodeInfo;
use crate::pod::{AffinityTerm, PodInfo};

pub const AFFINITY_REASON: &str = "node(s) didn't match pod affinity rules";
pub const ANTI_AFFINITY_REASON: &str = "node(s) didn't match pod anti-affinity rules";
pub const EXISTING_ANTI_AFFINITY_REASON: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

pub type NamespaceLabels = HashMap<String, BTreeMap<String, String>>;

/// Counts per topology key, then per value of that key.
#[derive(Clone, Debug, Default)]
pub struct TopologyCounts(HashMap<String, HashMap<String, i64>>);

impl TopologyCounts {
    pub fn add(&mut self, key: &str, value: &str, delta: i64) {
        let per_value = self.0.entry(key.to_owned()).or_default();
        let n = per_value.entry(value.to_owned()).or_insert(0);
        *n += delta;
        if *n == 0 {
            per_value.remove(value);
            if per_value.is_empty() {
                self.0.remove(key);
            }
        }
    }

    pub fn get(&self, key: &str, value: &str) -> i64 {
        self.0
            .get(key)
            .and_then(|m| m.get(value))
            .copied()
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The sum of the counts of the domains the node is in.
    pub fn for_node(&self, node: &NodeInfo) -> i64 {
        self.0
            .iter()
            .filter_map(|(key, per_value)| per_value.get(node.label(key)?))
            .sum()
    }

    /// Whether any domain the node is in has a positive count.
    pub fn any_for_node(&self, node: &NodeInfo) -> bool {
        self.0.iter().any(|(key, per_value)| {
            node.label(key)
                .and_then(|v| per_value.get(v))
                .is_some_and(|n| *n > 0)
        })
    }
}

/// What the filter needs, counted over all pods before the node loop.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// Pods matching all of the incoming pod's required affinity terms.
    affinity: TopologyCounts,
    /// Pods matched by one of the incoming pod's required anti-affinity terms.
    anti: TopologyCounts,
    /// Existing pods whose required anti-affinity terms match the incoming pod.
    existing_anti: TopologyCounts,
}

fn ns_labels<'a>(nsl: &'a NamespaceLabels, ns: &str) -> Option<&'a BTreeMap<String, String>> {
    nsl.get(ns)
}

impl State {
    /// Counts for `pod` over `nodes`; None when neither the pod nor any
    /// existing pod has required terms (the common case: nothing to check).
    pub fn compute<'a>(
        pod: &PodInfo,
        nodes: impl Iterator<Item = &'a NodeInfo>,
        any_existing_anti: bool,
        nsl: &NamespaceLabels,
    ) -> Option<State> {
        let own = pod
            .affinity
            .as_ref()
            .filter(|a| !a.required_affinity.is_empty() || !a.required_anti.is_empty());
        if own.is_none() && !any_existing_anti {
            return None;
        }
        let mut state = State::default();
        for node in nodes {
            if node.spec.is_none() || node.pods.is_empty() {
                continue;
            }
            if own.is_none() && node.pods_with_required_anti == 0 {
                continue;
            }
            for existing in node.pods.values() {
                state.update(pod, existing, node, nsl, 1);
            }
        }
        Some(state)
    }

    /// Adds (`delta` 1) or takes out (-1) one existing pod on `node`.
    pub fn update(
        &mut self,
        pod: &PodInfo,
        existing: &PodInfo,
        node: &NodeInfo,
        nsl: &NamespaceLabels,
        delta: i64,
    ) {
        if let Some(a) = &existing.affinity {
            let incoming_ns = ns_labels(nsl, &pod.namespace);
            for t in &a.required_anti {
                if t.matches(pod, incoming_ns)
                    && let Some(v) = node.label(&t.topology_key)
                {
                    self.existing_anti.add(&t.topology_key, v, delta);
                }
            }
        }
        let Some(own) = &pod.affinity else {
            return;
        };
        let existing_ns = ns_labels(nsl, &existing.namespace);
        if !own.required_affinity.is_empty()
            && own
                .required_affinity
                .iter()
                .all(|t| t.matches(existing, existing_ns))
        {
            for t in &own.required_affinity {
                if let Some(v) = node.label(&t.topology_key) {
                    self.affinity.add(&t.topology_key, v, delta);
                }
            }
        }
        for t in &own.required_anti {
            if t.matches(existing, existing_ns)
                && let Some(v) = node.label(&t.topology_key)
            {
                self.anti.add(&t.topology_key, v, delta);
            }
        }
    }

    pub fn filter(
        &self,
        pod: &PodInfo,
        node: &NodeInfo,
        nsl: &NamespaceLabels,
    ) -> Option<Rejection> {
        if let Some(own) = &pod.affinity {
            if !self.satisfies_affinity(pod, &own.required_affinity, node, nsl) {
                return Some(Rejection::unresolvable(
                    Plugin::InterPodAffinity,
                    AFFINITY_REASON,
                ));
            }
            let anti_hit = own.required_anti.iter().any(|t| {
                node.label(&t.topology_key)
                    .is_some_and(|v| self.anti.get(&t.topology_key, v) > 0)
            });
            if anti_hit {
                return Some(Rejection::new(
                    Plugin::InterPodAffinity,
                    ANTI_AFFINITY_REASON,
                ));
            }
        }
        if self.existing_anti.any_for_node(node) {
            return Some(Rejection::new(
                Plugin::InterPodAffinity,
                EXISTING_ANTI_AFFINITY_REASON,
            ));
        }
        None
    }

    fn satisfies_affinity(
        &self,
        pod: &PodInfo,
        terms: &[AffinityTerm],
        node: &NodeInfo,
        nsl: &NamespaceLabels,
    ) -> bool {
        let mut pods_exist = true;
        for t in terms {
            // Every topology key must be on the node.
            let Some(v) = node.label(&t.topology_key) else {
                return false;
            };
            if self.affinity.get(&t.topology_key, v) <= 0 {
                pods_exist = false;
            }
        }
        if pods_exist {
            return true;
        }
        // The first pod of a group with affinity to itself: no pod matches
        // anywhere yet, and it matches its own terms.
        self.affinity.is_empty()
            && terms
                .iter()
                .all(|t| t.matches(pod, ns_labels(nsl, &pod.namespace)))
    }
}

/// Preferred terms of both sides, summed per topology domain.
#[derive(Debug, Default)]
pub struct ScoreState {
    counts: TopologyCounts,
}

/// kube-scheduler's `hardPodAffinityWeight`: an existing pod's *required*
/// affinity to the incoming pod also attracts it, with this weight.
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

impl ScoreState {
    pub fn compute<'a>(
        pod: &PodInfo,
        nodes: impl Iterator<Item = &'a NodeInfo>,
        nsl: &NamespaceLabels,
    ) -> Option<ScoreState> {
        let own = pod
            .affinity
            .as_ref()
            .filter(|a| !a.preferred_affinity.is_empty() || !a.preferred_anti.is_empty());
        let incoming_ns = ns_labels(nsl, &pod.namespace);
        let mut counts = TopologyCounts::default();
        let mut any = false;
        for node in nodes {
            if node.spec.is_none() || (own.is_none() && node.pods_with_affinity == 0) {
                continue;
            }
            any = true;
            for existing in node.pods.values() {
                let mut add = |t: &AffinityTerm, w: i64| {
                    if let Some(v) = node.label(&t.topology_key) {
                        counts.add(&t.topology_key, v, w);
                    }
                };
                if let Some(own) = own {
                    let existing_ns = ns_labels(nsl, &existing.namespace);
                    for t in own
                        .preferred_affinity
                        .iter()
                        .filter(|t| t.matches(existing, existing_ns))
                    {
                        add(t, t.weight);
                    }
                    for t in own
                        .preferred_anti
                        .iter()
                        .filter(|t| t.matches(existing, existing_ns))
                    {
                        add(t, -t.weight);
                    }
                }
                if let Some(theirs) = &existing.affinity {
                    for t in theirs
                        .required_affinity
                        .iter()
                        .filter(|t| t.matches(pod, incoming_ns))
                    {
                        add(t, HARD_POD_AFFINITY_WEIGHT);
                    }
                    for t in theirs
                        .preferred_affinity
                        .iter()
                        .filter(|t| t.matches(pod, incoming_ns))
                    {
                        add(t, t.weight);
                    }
                    for t in theirs
                        .preferred_anti
                        .iter()
                        .filter(|t| t.matches(pod, incoming_ns))
                    {
                        add(t, -t.weight);
                    }
                }
            }
        }
        (any && !counts.is_empty()).then_some(ScoreState { counts })
    }

    pub fn score(&self, node: &NodeInfo) -> i64 {
        self.counts.for_node(node)
    }
}

/// Min-max scaling to 0..=100 (scores may be negative).
pub fn normalize(scores: &mut [i64]) {
    let (Some(min), Some(max)) = (scores.iter().min().copied(), scores.iter().max().copied())
    else {
        return;
    };
    for s in scores.iter_mut() {
        *s = if max == min {
            0
        } else {
            (*s - min) * MAX_SCORE / (max - min)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::tests::node;
    use crate::pod::tests::pod_with;
    use serde_json::{Value, json};
    use std::sync::Arc;

    fn labelled(name: &str, labels: Value, spec: Value) -> PodInfo {
        let mut spec = spec;
        spec["containers"] = json!([]);
        pod_with(name, json!({"labels": labels}), spec)
    }

    fn term(key: &str, app: &str) -> Value {
        json!({"topologyKey": key, "labelSelector": {"matchLabels": {"app": app}}})
    }

    /// Three nodes: n1 and n2 in zone a, n3 in zone b.
    fn cluster() -> Vec<NodeInfo> {
        vec![
            node(
                "n1",
                json!({"kubernetes.io/hostname": "n1", "zone": "a"}),
                json!({}),
            ),
            node(
                "n2",
                json!({"kubernetes.io/hostname": "n2", "zone": "a"}),
                json!({}),
            ),
            node(
                "n3",
                json!({"kubernetes.io/hostname": "n3", "zone": "b"}),
                json!({}),
            ),
        ]
    }

    fn check(nodes: &[NodeInfo], p: &PodInfo) -> Vec<Option<String>> {
        let nsl = NamespaceLabels::new();
        let any_anti = nodes.iter().any(|n| n.pods_with_required_anti > 0);
        let state = State::compute(p, nodes.iter(), any_anti, &nsl);
        nodes
            .iter()
            .map(|n| {
                state
                    .as_ref()
                    .and_then(|s| s.filter(p, n, &nsl))
                    .map(|r| r.reasons[0].clone())
            })
            .collect()
    }

    #[test]
    fn required_affinity_follows_the_topology_domain() {
        let mut nodes = cluster();
        nodes[0].add_pod(Arc::new(labelled("db", json!({"app": "db"}), json!({}))));
        let p = labelled(
            "web",
            json!({"app": "web"}),
            json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("zone", "db")]}}}),
        );
        assert_eq!(
            check(&nodes, &p),
            vec![None, None, Some(AFFINITY_REASON.into())]
        );
    }

    #[test]
    fn the_first_pod_of_a_self_affine_group_may_go_anywhere() {
        let nodes = cluster();
        let p = labelled(
            "web",
            json!({"app": "web"}),
            json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("zone", "web")]}}}),
        );
        assert_eq!(check(&nodes, &p), vec![None, None, None]);
        let other = labelled(
            "x",
            json!({"app": "x"}),
            json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("zone", "web")]}}}),
        );
        assert!(
            check(&nodes, &other).iter().all(Option::is_some),
            "no web pod anywhere and not one itself"
        );
    }

    #[test]
    fn anti_affinity_by_hostname_and_zone() {
        let mut nodes = cluster();
        nodes[0].add_pod(Arc::new(labelled("w1", json!({"app": "web"}), json!({}))));
        let by_host = labelled(
            "w2",
            json!({"app": "web"}),
            json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("kubernetes.io/hostname", "web")]}}}),
        );
        assert_eq!(
            check(&nodes, &by_host),
            vec![Some(ANTI_AFFINITY_REASON.into()), None, None]
        );
        let by_zone = labelled(
            "w3",
            json!({"app": "web"}),
            json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("zone", "web")]}}}),
        );
        let r = check(&nodes, &by_zone);
        assert_eq!(
            r,
            vec![
                Some(ANTI_AFFINITY_REASON.into()),
                Some(ANTI_AFFINITY_REASON.into()),
                None
            ]
        );
    }

    #[test]
    fn existing_pods_anti_affinity_keeps_matching_pods_away() {
        let mut nodes = cluster();
        nodes[2].add_pod(Arc::new(labelled(
            "loner",
            json!({"app": "loner"}),
            json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("zone", "web")]}}}),
        )));
        let p = labelled("w", json!({"app": "web"}), json!({}));
        assert_eq!(
            check(&nodes, &p),
            vec![None, None, Some(EXISTING_ANTI_AFFINITY_REASON.into())]
        );
        let unrelated = labelled("d", json!({"app": "db"}), json!({}));
        assert_eq!(check(&nodes, &unrelated), vec![None, None, None]);
    }

    #[test]
    fn namespaces_and_namespace_selectors() {
        let mut nodes = cluster();
        let mut other_ns = labelled("w1", json!({"app": "web"}), json!({}));
        other_ns.namespace = "prod".into();
        nodes[0].add_pod(Arc::new(other_ns));
        let same_ns_only = labelled(
            "w2",
            json!({"app": "web"}),
            json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("kubernetes.io/hostname", "web")]}}}),
        );
        assert_eq!(check(&nodes, &same_ns_only), vec![None, None, None]);
        let mut t = term("kubernetes.io/hostname", "web");
        t["namespaceSelector"] = json!({"matchLabels": {"env": "prod"}});
        let by_selector = labelled(
            "w3",
            json!({"app": "web"}),
            json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [t]}}}),
        );
        let mut nsl = NamespaceLabels::new();
        nsl.insert(
            "prod".into(),
            [("env".to_owned(), "prod".to_owned())].into(),
        );
        let state = State::compute(&by_selector, nodes.iter(), false, &nsl).expect("state");
        assert!(state.filter(&by_selector, &nodes[0], &nsl).is_some());
        assert!(state.filter(&by_selector, &nodes[1], &nsl).is_none());
    }

    #[test]
    fn counts_can_be_taken_out_for_preemption() {
        let mut nodes = cluster();
        let victim = Arc::new(labelled("w1", json!({"app": "web"}), json!({})));
        nodes[0].add_pod(victim.clone());
        let p = labelled(
            "w2",
            json!({"app": "web"}),
            json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("kubernetes.io/hostname", "web")]}}}),
        );
        let nsl = NamespaceLabels::new();
        let mut state = State::compute(&p, nodes.iter(), false, &nsl).expect("state");
        let r = state.filter(&p, &nodes[0], &nsl).expect("blocked");
        assert!(!r.unresolvable, "anti-affinity can be resolved by eviction");
        state.update(&p, &victim, &nodes[0], &nsl, -1);
        assert!(state.filter(&p, &nodes[0], &nsl).is_none());
    }

    #[test]
    fn preferred_terms_score_both_ways() {
        let mut nodes = cluster();
        nodes[0].add_pod(Arc::new(labelled("db", json!({"app": "db"}), json!({}))));
        nodes[2].add_pod(Arc::new(labelled("web1", json!({"app": "web"}), json!({}))));
        let p = labelled(
            "web2",
            json!({"app": "web"}),
            json!({"affinity": {
                "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 10, "podAffinityTerm": term("zone", "db")}]},
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 5, "podAffinityTerm": term("kubernetes.io/hostname", "web")}]}
            }}),
        );
        let nsl = NamespaceLabels::new();
        let s = ScoreState::compute(&p, nodes.iter(), &nsl).expect("scores");
        let mut scores: Vec<i64> = nodes.iter().map(|n| s.score(n)).collect();
        assert_eq!(scores, vec![10, 10, -5]);
        normalize(&mut scores);
        assert_eq!(scores, vec![100, 100, 0]);
    }
}
