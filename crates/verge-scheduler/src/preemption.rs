//! Preemption (kube-scheduler's DefaultPreemption): when no node fits a
//! pod, find a node where evicting pods of lower priority makes it fit,
//! evicting as few and as unimportant pods as possible.
//!
//! For each node whose rejection eviction could resolve: take out every
//! lower-priority pod; if the pod still does not fit, the node is no
//! candidate. Otherwise put pods back, most important first (those whose
//! eviction would break a PodDisruptionBudget before the others), keeping
//! each that still leaves room — what stays out are the victims. Among the
//! candidates the best is the one with the fewest budget violations, then
//! the lowest highest victim priority, the smallest priority sum, the
//! fewest victims, the most recently started victims.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use crate::framework::{FitError, Prefilter, Rng, filter_node, histogram};
use crate::node::NodeInfo;
use crate::pod::PodInfo;
use crate::state::{Pdb, State};

pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
pub const POLICY_NEVER: &str = "not eligible due to preemptionPolicy=Never.";
pub const TERMINATING_ON_NOMINATED: &str =
    "not eligible due to a terminating pod on the nominated node.";

/// kube-scheduler's `minCandidateNodesPercentage` and
/// `minCandidateNodesAbsolute`: how many candidates to compare at most.
const MIN_CANDIDATES_PERCENTAGE: usize = 10;
const MIN_CANDIDATES_ABSOLUTE: usize = 100;

/// A node where preemption makes room.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub node: Arc<str>,
    pub victims: Vec<Arc<PodInfo>>,
    pub pdb_violations: usize,
}

/// What preemption decided.
#[derive(Debug)]
pub enum Outcome {
    /// Evict `victims` on `node`; the pod is nominated there. `cleared`
    /// are lower-priority pods nominated to the same node, whose room is
    /// now taken.
    Nominate {
        candidate: Candidate,
        cleared: Vec<Arc<PodInfo>>,
    },
    /// No eviction helps; the text follows "preemption: " in the message.
    Fail(String),
}

/// Whether the pod may preempt now (kube-scheduler's
/// `PodEligibleToPreemptOthers`).
fn eligible(st: &State, pod: &PodInfo, nominated: Option<&str>) -> Result<(), String> {
    if pod.never_preempts {
        return Err(POLICY_NEVER.to_owned());
    }
    // Victims of an earlier preemption are still terminating there: wait
    // for them rather than evicting more.
    if let Some(node) = nominated.and_then(|n| st.node(n))
        && node
            .pods
            .values()
            .any(|p| p.deleting && p.priority < pod.priority)
    {
        return Err(TERMINATING_ON_NOMINATED.to_owned());
    }
    Ok(())
}

pub fn preempt(
    st: &State,
    pod: &PodInfo,
    nominated: Option<&str>,
    fit: &FitError,
    pre: &Prefilter,
    rng: &mut Rng,
) -> Outcome {
    if let Err(why) = eligible(st, pod, nominated) {
        return Outcome::Fail(format!("preemption: {why}"));
    }
    let potential: Vec<&Arc<str>> = fit
        .rejections
        .iter()
        .filter(|(_, r)| !r.unresolvable)
        .map(|(n, _)| n)
        .collect();
    let unhelpful = fit.num_nodes - potential.len();
    let mut failures: Vec<String> =
        std::iter::repeat_n(NOT_HELPFUL.to_owned(), unhelpful).collect();
    let limit = (fit.num_nodes * MIN_CANDIDATES_PERCENTAGE / 100)
        .max(MIN_CANDIDATES_ABSOLUTE)
        .min(potential.len());
    let pdbs: Vec<&Pdb> = st.pdbs.values().collect();
    let mut candidates = Vec::new();
    let offset = if potential.is_empty() {
        0
    } else {
        rng.below(potential.len())
    };
    for i in 0..potential.len() {
        if candidates.len() >= limit {
            break;
        }
        let name = potential[(offset + i) % potential.len()];
        let Some(node) = st.node(name) else {
            continue;
        };
        match select_victims(st, pod, node, pre, &pdbs) {
            Ok(c) => candidates.push(c),
            Err(reasons) => failures.extend(reasons),
        }
    }
    let Some(best) = pick_one(candidates) else {
        return Outcome::Fail(format!(
            "preemption: 0/{} nodes are available: {}.",
            fit.num_nodes,
            histogram(failures.iter().map(String::as_str))
        ));
    };
    let cleared = st
        .nominated
        .get(&best.node)
        .map(|m| {
            m.values()
                .filter(|p| p.key != pod.key && p.priority < pod.priority)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Outcome::Nominate {
        candidate: best,
        cleared,
    }
}

/// "More important" first: higher priority, then started earlier.
fn more_important(a: &PodInfo, b: &PodInfo) -> Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| a.started.cmp(&b.started))
}

/// Splits pods into those whose eviction would exceed a disruption budget
/// and the rest, spending each budget's allowance in order.
pub fn split_by_pdb<'a>(
    pods: &[&'a Arc<PodInfo>],
    pdbs: &[&Pdb],
) -> (Vec<&'a Arc<PodInfo>>, Vec<&'a Arc<PodInfo>>) {
    let mut allowed: Vec<i64> = pdbs.iter().map(|p| p.disruptions_allowed).collect();
    let mut violating = Vec::new();
    let mut fine = Vec::new();
    for p in pods {
        let mut violates = false;
        for (i, pdb) in pdbs.iter().enumerate() {
            if pdb.namespace != p.namespace
                || !pdb
                    .selector
                    .as_ref()
                    .is_some_and(|s| !s.is_empty() && s.matches(&p.labels))
            {
                continue;
            }
            allowed[i] -= 1;
            if allowed[i] < 0 {
                violates = true;
            }
        }
        if violates {
            violating.push(*p);
        } else {
            fine.push(*p);
        }
    }
    (violating, fine)
}

/// The fewest, least important pods on `node` whose eviction makes `pod`
/// fit; Err with the reasons when none does.
pub fn select_victims(
    st: &State,
    pod: &PodInfo,
    node: &NodeInfo,
    pre: &Prefilter,
    pdbs: &[&Pdb],
) -> Result<Candidate, Vec<String>> {
    let mut potential: Vec<&Arc<PodInfo>> = node
        .pods
        .values()
        .filter(|p| p.priority < pod.priority)
        .collect();
    if potential.is_empty() {
        return Err(vec![NO_VICTIMS.to_owned()]);
    }
    let mut trial = node.clone();
    let mut pre = pre.clone();
    for p in &potential {
        trial.remove_pod(&p.key);
        pre.update(st, pod, p, node, -1);
    }
    if let Some(r) = filter_node(st, &pre, pod, &trial) {
        return Err(r.reasons);
    }
    potential.sort_by(|a, b| more_important(a, b));
    let (violating, fine) = split_by_pdb(&potential, pdbs);
    let mut victims = Vec::new();
    let mut pdb_violations = 0;
    let mut reprieve =
        |p: &Arc<PodInfo>, violates: bool, trial: &mut NodeInfo, pre: &mut Prefilter| {
            trial.add_pod(p.clone());
            pre.update(st, pod, p, node, 1);
            if filter_node(st, pre, pod, trial).is_some() {
                trial.remove_pod(&p.key);
                pre.update(st, pod, p, node, -1);
                victims.push(p.clone());
                if violates {
                    pdb_violations += 1;
                }
            }
        };
    for p in violating {
        reprieve(p, true, &mut trial, &mut pre);
    }
    for p in fine {
        reprieve(p, false, &mut trial, &mut pre);
    }
    victims.sort_by(|a, b| more_important(a, b));
    Ok(Candidate {
        node: node.name.clone(),
        victims,
        pdb_violations,
    })
}

/// kube-scheduler's `pickOneNodeForPreemption`.
pub fn pick_one(mut candidates: Vec<Candidate>) -> Option<Candidate> {
    if candidates.len() <= 1 {
        return candidates.pop();
    }
    // Victims are sorted most important first.
    let highest = |c: &Candidate| {
        c.victims
            .first()
            .map_or(i64::MIN, |p| i64::from(p.priority))
    };
    let sum = |c: &Candidate| {
        c.victims
            .iter()
            .map(|p| i64::from(p.priority) + i64::from(i32::MAX) + 1)
            .sum::<i64>()
    };
    // The earliest start among the highest-priority victims; later is better.
    let earliest_top = |c: &Candidate| {
        let top = highest(c);
        c.victims
            .iter()
            .filter(|p| i64::from(p.priority) == top)
            .map(|p| p.started)
            .min()
            .unwrap_or(i64::MAX)
    };
    let mut by_node: HashMap<Arc<str>, usize> = HashMap::new();
    for (i, c) in candidates.iter().enumerate() {
        by_node.entry(c.node.clone()).or_insert(i);
    }
    let best = candidates
        .iter()
        .enumerate()
        .min_by(|(ia, a), (ib, b)| {
            a.pdb_violations
                .cmp(&b.pdb_violations)
                .then_with(|| highest(a).cmp(&highest(b)))
                .then_with(|| sum(a).cmp(&sum(b)))
                .then_with(|| a.victims.len().cmp(&b.victims.len()))
                .then_with(|| earliest_top(b).cmp(&earliest_top(a)))
                .then_with(|| ia.cmp(ib))
        })
        .map(|(i, _)| i)?;
    Some(candidates.swap_remove(best))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{Found, find_node};
    use crate::pod::tests::pod_with;
    use serde_json::json;
    use tokio::time::Instant;

    fn cpu_pod(name: &str, node: Option<&str>, cpu: &str, priority: i32, started: i64) -> PodInfo {
        let mut spec = json!({"priority": priority, "containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": cpu}}}]});
        if let Some(n) = node {
            spec["nodeName"] = json!(n);
        }
        let mut p = pod_with(name, json!({"labels": {"app": name}}), spec);
        p.started = started;
        p
    }

    fn cluster(nodes: &[&str]) -> State {
        let mut st = State::new();
        for n in nodes {
            let node = crate::node::tests::node(n, json!({"kubernetes.io/hostname": n}), json!({}));
            st.node_applied(n, node.spec.clone().expect("spec"));
        }
        st
    }

    fn run(st: &State, p: &PodInfo) -> Outcome {
        let mut rng = Rng::seeded(3);
        match find_node(st, p, None, 0, &mut rng) {
            Found::Unschedulable { fit, pre, .. } => preempt(st, p, None, &fit, &pre, &mut rng),
            other => panic!("expected no fit, got {other:?}"),
        }
    }

    #[test]
    fn evicts_the_fewest_lowest_priority_pods() {
        let mut st = cluster(&["n1"]);
        let now = Instant::now();
        st.pod_applied(cpu_pod("a", Some("n1"), "1", 10, 1), now);
        st.pod_applied(cpu_pod("b", Some("n1"), "1", 5, 2), now);
        st.pod_applied(cpu_pod("c", Some("n1"), "2", 0, 3), now);
        // 4 CPUs, all used; 2 are needed: evicting c (the lowest) is enough.
        let hi = cpu_pod("hi", None, "2", 100, 4);
        match run(&st, &hi) {
            Outcome::Nominate { candidate, .. } => {
                assert_eq!(candidate.node.as_ref(), "n1");
                let names: Vec<&str> = candidate.victims.iter().map(|p| p.name.as_str()).collect();
                assert_eq!(names, vec!["c"]);
            }
            Outcome::Fail(m) => panic!("expected a nomination: {m}"),
        }
    }

    #[test]
    fn never_evicts_equal_or_higher_priority() {
        let mut st = cluster(&["n1"]);
        let now = Instant::now();
        st.pod_applied(cpu_pod("a", Some("n1"), "4", 100, 1), now);
        let p = cpu_pod("p", None, "1", 100, 2);
        match run(&st, &p) {
            Outcome::Fail(m) => assert_eq!(
                m,
                "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
            ),
            other => panic!("expected failure, got {other:?}"),
        }
    }

    #[test]
    fn honours_preemption_policy_never() {
        let mut st = cluster(&["n1"]);
        let now = Instant::now();
        st.pod_applied(cpu_pod("a", Some("n1"), "4", 0, 1), now);
        let mut p = cpu_pod("p", None, "1", 100, 2);
        p.never_preempts = true;
        match run(&st, &p) {
            Outcome::Fail(m) => {
                assert_eq!(m, "preemption: not eligible due to preemptionPolicy=Never.")
            }
            other => panic!("expected failure, got {other:?}"),
        }
    }

    #[test]
    fn unresolvable_nodes_are_not_helpful() {
        let mut st = cluster(&["n1", "n2"]);
        let tainted = crate::node::tests::node(
            "n2",
            json!({}),
            json!({"taints": [{"key": "k", "effect": "NoSchedule"}]}),
        );
        st.node_applied("n2", tainted.spec.clone().expect("spec"));
        let now = Instant::now();
        st.pod_applied(cpu_pod("a", Some("n1"), "4", 100, 1), now);
        let p = cpu_pod("p", None, "8", 1000, 2);
        match run(&st, &p) {
            Outcome::Fail(m) => assert_eq!(
                m,
                "preemption: 0/2 nodes are available: 1 Insufficient cpu, 1 Preemption is not helpful for scheduling."
            ),
            other => panic!("expected failure, got {other:?}"),
        }
    }

    #[test]
    fn terminating_victims_on_the_nominated_node_block_another_round() {
        let mut st = cluster(&["n1"]);
        let now = Instant::now();
        let mut leaving = cpu_pod("a", Some("n1"), "4", 0, 1);
        leaving.deleting = true;
        st.pod_applied(leaving, now);
        let p = cpu_pod("p", None, "1", 100, 2);
        let mut rng = Rng::seeded(1);
        let Found::Unschedulable { fit, pre, .. } = find_node(&st, &p, Some("n1"), 0, &mut rng)
        else {
            panic!("the terminating pod still holds the CPU");
        };
        match preempt(&st, &p, Some("n1"), &fit, &pre, &mut rng) {
            Outcome::Fail(m) => assert_eq!(m, format!("preemption: {TERMINATING_ON_NOMINATED}")),
            other => panic!("expected to wait, got {other:?}"),
        }
    }

    #[test]
    fn prefers_nodes_with_less_important_victims() {
        let mut st = cluster(&["n1", "n2"]);
        let now = Instant::now();
        st.pod_applied(cpu_pod("mid", Some("n1"), "4", 50, 1), now);
        st.pod_applied(cpu_pod("low", Some("n2"), "4", 10, 1), now);
        let p = cpu_pod("p", None, "2", 100, 2);
        match run(&st, &p) {
            Outcome::Nominate { candidate, .. } => assert_eq!(candidate.node.as_ref(), "n2"),
            Outcome::Fail(m) => panic!("{m}"),
        }
    }

    #[test]
    fn disruption_budgets_are_spared_when_possible() {
        let mut st = cluster(&["n1", "n2"]);
        let now = Instant::now();
        st.pod_applied(cpu_pod("guarded", Some("n1"), "4", 10, 1), now);
        st.pod_applied(cpu_pod("free", Some("n2"), "4", 10, 1), now);
        st.pdbs.insert(
            "default/pdb".into(),
            Pdb {
                namespace: "default".into(),
                selector: Some(
                    verge_apimachinery::labels::Selector::parse("app=guarded").expect("selector"),
                ),
                disruptions_allowed: 0,
            },
        );
        let p = cpu_pod("p", None, "2", 100, 2);
        match run(&st, &p) {
            Outcome::Nominate { candidate, .. } => {
                assert_eq!(candidate.node.as_ref(), "n2");
                assert_eq!(candidate.pdb_violations, 0);
            }
            Outcome::Fail(m) => panic!("{m}"),
        }
    }

    #[test]
    fn anti_affinity_victims() {
        let mut st = cluster(&["n1"]);
        let now = Instant::now();
        st.pod_applied(cpu_pod("web-old", Some("n1"), "100m", 0, 1), now);
        let mut spec = json!({"priority": 100, "containers": []});
        spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web-old"}}}]}});
        let p = pod_with("p", json!({"labels": {"app": "new"}}), spec);
        match run(&st, &p) {
            Outcome::Nominate { candidate, .. } => {
                assert_eq!(candidate.victims.len(), 1);
                assert_eq!(candidate.victims[0].name, "web-old");
            }
            Outcome::Fail(m) => panic!("{m}"),
        }
    }

    #[test]
    fn pick_one_tie_breaks() {
        let p = |prio: i32, started: i64| Arc::new(cpu_pod("v", Some("n"), "1", prio, started));
        let c = |node: &str, victims: Vec<Arc<PodInfo>>, pdb: usize| Candidate {
            node: Arc::from(node),
            victims,
            pdb_violations: pdb,
        };
        let best = pick_one(vec![c("a", vec![p(1, 0)], 1), c("b", vec![p(5, 0)], 0)]).expect("one");
        assert_eq!(best.node.as_ref(), "b", "fewer budget violations first");
        let best = pick_one(vec![
            c("a", vec![p(5, 0)], 0),
            c("b", vec![p(1, 0), p(1, 0)], 0),
        ])
        .expect("one");
        assert_eq!(best.node.as_ref(), "b", "lower highest priority");
        let best = pick_one(vec![
            c("a", vec![p(1, 0), p(1, 0)], 0),
            c("b", vec![p(1, 0)], 0),
        ])
        .expect("one");
        assert_eq!(best.node.as_ref(), "b", "smaller sum");
        let best = pick_one(vec![c("a", vec![p(1, 5)], 0), c("b", vec![p(1, 9)], 0)]).expect("one");
        assert_eq!(best.node.as_ref(), "b", "younger victims");
    }
}
