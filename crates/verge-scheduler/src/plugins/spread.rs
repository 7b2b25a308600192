//! PodTopologySpread: `topologySpreadConstraints`. A DoNotSchedule
//! constraint rejects nodes whose domain would exceed `maxSkew` over the
//! least loaded domain (or over zero while fewer than `minDomains` domains
//! exist); ScheduleAnyway constraints score nodes by how many matching
//! pods their domain already holds.

use std::collections::{HashMap, HashSet};

use super::{MAX_SCORE, Plugin, Rejection, node_affinity, taints};
use crate::node::NodeInfo;
use crate::pod::{PodInfo, SpreadConstraint};

pub const REASON: &str = "node(s) didn't match pod topology spread constraints";
pub const MISSING_LABEL_REASON: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
const HOSTNAME: &str = "kubernetes.io/hostname";

fn has_keys(node: &NodeInfo, cs: &[&SpreadConstraint]) -> bool {
    cs.iter().all(|c| node.label(&c.topology_key).is_some())
}

/// Whether the node counts as a domain of `c` for `pod` (the constraint's
/// node inclusion policies).
fn included(pod: &PodInfo, c: &SpreadConstraint, node: &NodeInfo) -> bool {
    let Some(spec) = &node.spec else {
        return false;
    };
    if c.honor_node_affinity && !node_affinity::matches_required_on(pod, &node.name, spec) {
        return false;
    }
    if c.honor_taints && taints::filter(pod, spec).is_some() {
        return false;
    }
    true
}

/// Pods on the node that `c` counts: same namespace, selected, not leaving.
fn matching(pod: &PodInfo, c: &SpreadConstraint, node: &NodeInfo) -> i64 {
    node.pods
        .values()
        .filter(|p| counts_toward(pod, c, p))
        .count() as i64
}

fn counts_toward(pod: &PodInfo, c: &SpreadConstraint, existing: &PodInfo) -> bool {
    existing.namespace == pod.namespace && !existing.deleting && c.selects(existing)
}

/// Per DoNotSchedule constraint: matching pods per domain, and the minimum.
#[derive(Clone, Debug)]
pub struct State {
    constraints: Vec<SpreadConstraint>,
    counts: Vec<HashMap<String, i64>>,
    min: Vec<i64>,
}

impl State {
    pub fn compute<'a>(pod: &PodInfo, nodes: impl Iterator<Item = &'a NodeInfo>) -> Option<State> {
        let constraints: Vec<SpreadConstraint> =
            pod.spread.iter().filter(|c| c.hard).cloned().collect();
        if constraints.is_empty() {
            return None;
        }
        let refs: Vec<&SpreadConstraint> = constraints.iter().collect();
        let mut counts = vec![HashMap::<String, i64>::new(); constraints.len()];
        for node in nodes {
            if node.spec.is_none() || !has_keys(node, &refs) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !included(pod, c, node) {
                    continue;
                }
                let Some(value) = node.label(&c.topology_key) else {
                    continue;
                };
                *counts[i].entry(value.to_owned()).or_insert(0) += matching(pod, c, node);
            }
        }
        let mut state = State {
            min: vec![0; constraints.len()],
            constraints,
            counts,
        };
        state.recompute_min();
        Some(state)
    }

    fn recompute_min(&mut self) {
        for (i, c) in self.constraints.iter().enumerate() {
            let domains = self.counts[i].len() as i64;
            self.min[i] = if domains < c.min_domains {
                0
            } else {
                self.counts[i].values().copied().min().unwrap_or(0)
            };
        }
    }

    /// Adds (1) or takes out (-1) an existing pod on `node` (preemption).
    pub fn update(&mut self, pod: &PodInfo, existing: &PodInfo, node: &NodeInfo, delta: i64) {
        let refs: Vec<&SpreadConstraint> = self.constraints.iter().collect();
        if !has_keys(node, &refs) {
            return;
        }
        for (i, c) in self.constraints.iter().enumerate() {
            if !counts_toward(pod, c, existing) || !included(pod, c, node) {
                continue;
            }
            if let Some(v) = node.label(&c.topology_key)
                && let Some(n) = self.counts[i].get_mut(v)
            {
                *n += delta;
            }
        }
        self.recompute_min();
    }

    pub fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Option<Rejection> {
        for (i, c) in self.constraints.iter().enumerate() {
            let Some(value) = node.label(&c.topology_key) else {
                return Some(Rejection::unresolvable(
                    Plugin::PodTopologySpread,
                    MISSING_LABEL_REASON,
                ));
            };
            let own = i64::from(c.selects(pod));
            let existing = self.counts[i].get(value).copied().unwrap_or(0);
            if existing + own - self.min[i] > c.max_skew {
                return Some(Rejection::new(Plugin::PodTopologySpread, REASON));
            }
        }
        None
    }
}

/// ScheduleAnyway constraints: matching pods per domain among the nodes
/// being scored, weighted by how many domains each constraint has.
#[derive(Debug)]
pub struct ScoreState {
    constraints: Vec<SpreadConstraint>,
    counts: Vec<HashMap<String, i64>>,
    weights: Vec<f64>,
}

impl ScoreState {
    pub fn compute<'a>(
        pod: &PodInfo,
        feasible: &[&NodeInfo],
        all: impl Iterator<Item = &'a NodeInfo>,
    ) -> Option<ScoreState> {
        let constraints: Vec<SpreadConstraint> =
            pod.spread.iter().filter(|c| !c.hard).cloned().collect();
        if constraints.is_empty() {
            return None;
        }
        let refs: Vec<&SpreadConstraint> = constraints.iter().collect();
        let mut counts = vec![HashMap::<String, i64>::new(); constraints.len()];
        let mut domains = vec![HashSet::<&str>::new(); constraints.len()];
        for node in feasible.iter().filter(|n| has_keys(n, &refs)) {
            for (i, c) in constraints.iter().enumerate() {
                if let Some(v) = node.label(&c.topology_key) {
                    domains[i].insert(v);
                    if c.topology_key != HOSTNAME {
                        counts[i].entry(v.to_owned()).or_insert(0);
                    }
                }
            }
        }
        for node in all {
            if node.spec.is_none() || !has_keys(node, &refs) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key == HOSTNAME || !included(pod, c, node) {
                    continue;
                }
                if let Some(v) = node.label(&c.topology_key)
                    && let Some(n) = counts[i].get_mut(v)
                {
                    *n += matching(pod, c, node);
                }
            }
        }
        let weights = domains
            .iter()
            .map(|d| ((d.len() + 2) as f64).ln())
            .collect();
        Some(ScoreState {
            constraints,
            counts,
            weights,
        })
    }

    /// Raw score (lower is better); None for nodes missing a topology key.
    pub fn score(&self, pod: &PodInfo, node: &NodeInfo) -> Option<i64> {
        let mut total = 0.0;
        for (i, c) in self.constraints.iter().enumerate() {
            let value = node.label(&c.topology_key)?;
            let n = if c.topology_key == HOSTNAME {
                matching(pod, c, node)
            } else {
                self.counts[i].get(value).copied().unwrap_or(0)
            };
            total += (n + c.max_skew - 1) as f64 * self.weights[i];
        }
        Some(total.round() as i64)
    }
}

/// Fewer matching pods scores higher; nodes without the keys score 0.
pub fn normalize(raw: &[Option<i64>]) -> Vec<i64> {
    let valid = raw.iter().flatten().copied();
    let min = valid.clone().min().unwrap_or(0);
    let max = valid.max().unwrap_or(0);
    raw.iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max == 0 => MAX_SCORE,
            Some(s) => MAX_SCORE * (max + min - s) / max,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::tests::node;
    use crate::pod::tests::pod_with;
    use serde_json::{Value, json};
    use std::sync::Arc;

    fn web(name: &str, constraints: Value) -> PodInfo {
        pod_with(
            name,
            json!({"labels": {"app": "web"}}),
            json!({"containers": [], "topologySpreadConstraints": constraints}),
        )
    }

    fn zone_constraint(skew: i32, when: &str) -> Value {
        json!([{"maxSkew": skew, "topologyKey": "zone", "whenUnsatisfiable": when,
                "labelSelector": {"matchLabels": {"app": "web"}}}])
    }

    fn zones() -> Vec<NodeInfo> {
        vec![
            node(
                "a1",
                json!({"zone": "a", "kubernetes.io/hostname": "a1"}),
                json!({}),
            ),
            node(
                "b1",
                json!({"zone": "b", "kubernetes.io/hostname": "b1"}),
                json!({}),
            ),
            node(
                "c1",
                json!({"zone": "c", "kubernetes.io/hostname": "c1"}),
                json!({}),
            ),
            node("x", json!({"kubernetes.io/hostname": "x"}), json!({})),
        ]
    }

    fn reasons(nodes: &[NodeInfo], p: &PodInfo) -> Vec<Option<&'static str>> {
        let s = State::compute(p, nodes.iter()).expect("hard constraint");
        nodes
            .iter()
            .map(|n| {
                s.filter(p, n)
                    .map(|r| if r.unresolvable { "missing" } else { "skew" })
            })
            .collect()
    }

    #[test]
    fn max_skew_across_zones() {
        let mut nodes = zones();
        nodes[0].add_pod(Arc::new(web("w1", json!([]))));
        nodes[1].add_pod(Arc::new(web("w2", json!([]))));
        let p = web("w3", zone_constraint(1, "DoNotSchedule"));
        // a=1, b=1, c=0: only zone c keeps the skew at 1; x lacks the key.
        assert_eq!(
            reasons(&nodes, &p),
            vec![Some("skew"), Some("skew"), None, Some("missing")]
        );
    }

    #[test]
    fn min_domains_treats_missing_domains_as_empty() {
        let mut nodes = zones();
        nodes.truncate(2);
        nodes[0].add_pod(Arc::new(web("w1", json!([]))));
        nodes[1].add_pod(Arc::new(web("w2", json!([]))));
        let mut c = zone_constraint(1, "DoNotSchedule");
        c[0]["minDomains"] = json!(3);
        let p = web("w3", c);
        // Two domains < minDomains 3: the global minimum is 0, so 1+1-0 > 1.
        assert_eq!(reasons(&nodes, &p), vec![Some("skew"), Some("skew")]);
    }

    #[test]
    fn node_affinity_limits_the_domains() {
        let mut nodes = zones();
        nodes[0].add_pod(Arc::new(web("w1", json!([]))));
        let p = pod_with(
            "w2",
            json!({"labels": {"app": "web"}}),
            json!({"containers": [], "nodeSelector": {"zone": "a"},
                   "topologySpreadConstraints": zone_constraint(1, "DoNotSchedule")}),
        );
        // Only zone a is a domain (count 1, min 1): 1+1-1 = 1 is fine.
        let s = State::compute(&p, nodes.iter()).expect("state");
        assert!(s.filter(&p, &nodes[0]).is_none());
    }

    #[test]
    fn taking_out_a_pod_changes_the_skew() {
        let mut nodes = zones();
        let victim = Arc::new(web("w1", json!([])));
        nodes[0].add_pod(victim.clone());
        nodes[0].add_pod(Arc::new(web("w0", json!([]))));
        nodes[1].add_pod(Arc::new(web("w2", json!([]))));
        nodes[2].add_pod(Arc::new(web("w4", json!([]))));
        let p = web("w3", zone_constraint(1, "DoNotSchedule"));
        let mut s = State::compute(&p, nodes.iter()).expect("state");
        assert!(s.filter(&p, &nodes[0]).is_some());
        s.update(&p, &victim, &nodes[0], -1);
        assert!(s.filter(&p, &nodes[0]).is_none());
    }

    #[test]
    fn schedule_anyway_prefers_emptier_domains() {
        let mut nodes = zones();
        nodes[0].add_pod(Arc::new(web("w1", json!([]))));
        nodes[0].add_pod(Arc::new(web("w2", json!([]))));
        nodes[1].add_pod(Arc::new(web("w3", json!([]))));
        let p = web("w4", zone_constraint(1, "ScheduleAnyway"));
        assert!(
            State::compute(&p, nodes.iter()).is_none(),
            "no hard constraint, no filter"
        );
        let feasible: Vec<&NodeInfo> = nodes.iter().collect();
        let s = ScoreState::compute(&p, &feasible, nodes.iter()).expect("soft constraint");
        let raw: Vec<Option<i64>> = nodes.iter().map(|n| s.score(&p, n)).collect();
        assert_eq!(raw[3], None);
        let scores = normalize(&raw);
        assert!(scores[2] > scores[1] && scores[1] > scores[0], "{scores:?}");
        assert_eq!(scores[3], 0);
    }
}
