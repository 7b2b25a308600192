//! NodeResourcesFit: the pod's requests must fit in what the node's
//! allocatable leaves after the pods already there (and the nominated pods
//! of at least the pod's priority, which preemption made room for). Scores:
//! LeastAllocated (spread the load) and BalancedAllocation (keep CPU and
//! memory use even), as kube-scheduler's defaults.

use super::{MAX_SCORE, Plugin, Rejection};
use crate::node::NodeInfo;
use crate::pod::PodInfo;
use crate::resources::Res;

/// Pods reserved on a node beyond those bound or assumed there.
#[derive(Debug, Default, Clone)]
pub struct Reserved {
    pub res: Res,
    pub pods: i64,
}

pub fn filter(
    pod: &PodInfo,
    node: &NodeInfo,
    allocatable: &Res,
    reserved: Option<&Reserved>,
) -> Option<Rejection> {
    // Runs for hundreds of nodes per pod: sums in place, nothing cloned.
    let used = &node.requested;
    let extra = |f: fn(&Res) -> i64| reserved.map_or(0, |r| f(&r.res));
    let pods = node.pods.len() as i64 + reserved.map_or(0, |r| r.pods);
    let want = &pod.requests.res;
    let mut reasons = Vec::new();
    if pods + 1 > allocatable.pods {
        reasons.push("Too many pods".to_owned());
    }
    if !want.is_empty_request() {
        let short = |want: i64, have: i64, used: i64| want > 0 && want > have.saturating_sub(used);
        if short(
            want.milli_cpu,
            allocatable.milli_cpu,
            used.milli_cpu + extra(|r| r.milli_cpu),
        ) {
            reasons.push("Insufficient cpu".to_owned());
        }
        if short(
            want.memory,
            allocatable.memory,
            used.memory + extra(|r| r.memory),
        ) {
            reasons.push("Insufficient memory".to_owned());
        }
        if short(
            want.ephemeral,
            allocatable.ephemeral,
            used.ephemeral + extra(|r| r.ephemeral),
        ) {
            reasons.push("Insufficient ephemeral-storage".to_owned());
        }
        for (name, v) in &want.scalar {
            let reserved_here = reserved.map_or(0, |r| r.res.scalar(name));
            if short(
                *v,
                allocatable.scalar(name),
                used.scalar(name) + reserved_here,
            ) {
                reasons.push(format!("Insufficient {name}"));
            }
        }
    }
    (!reasons.is_empty()).then_some(Rejection {
        plugin: Plugin::NodeResourcesFit,
        reasons,
        unresolvable: false,
    })
}

fn fractions(pod: &PodInfo, node: &NodeInfo, allocatable: &Res) -> [(i64, i64); 2] {
    [
        (
            node.non_zero_cpu + pod.requests.non_zero_cpu,
            allocatable.milli_cpu,
        ),
        (
            node.non_zero_memory + pod.requests.non_zero_memory,
            allocatable.memory,
        ),
    ]
}

/// LeastAllocated: the share of CPU and memory left free, averaged.
pub fn least_allocated(pod: &PodInfo, node: &NodeInfo, allocatable: &Res) -> i64 {
    let parts = fractions(pod, node, allocatable).map(|(req, cap)| {
        if cap <= 0 || req > cap {
            0
        } else {
            (cap - req) * MAX_SCORE / cap
        }
    });
    (parts[0] + parts[1]) / 2
}

/// BalancedAllocation: 100 when CPU and memory are used in the same
/// proportion, less the more they differ.
pub fn balanced(pod: &PodInfo, node: &NodeInfo, allocatable: &Res) -> i64 {
    let [cpu, mem] = fractions(pod, node, allocatable).map(|(req, cap)| {
        if cap <= 0 {
            1.0
        } else {
            (req as f64 / cap as f64).min(1.0)
        }
    });
    let std = (cpu - mem).abs() / 2.0;
    ((1.0 - std) * MAX_SCORE as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::tests::{node, node_with_status};
    use crate::pod::tests::pod;
    use serde_json::{Value, json};
    use std::sync::Arc;

    fn requesting(name: &str, req: Value) -> PodInfo {
        pod(
            name,
            json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": req}}]}),
        )
    }

    fn alloc(n: &NodeInfo) -> Res {
        n.spec.as_ref().expect("spec").allocatable.clone()
    }

    #[test]
    fn reports_every_insufficient_resource() {
        let mut n = node("n", json!({}), json!({}));
        n.add_pod(Arc::new(requesting(
            "a",
            json!({"cpu": "3", "memory": "7Gi"}),
        )));
        let a = alloc(&n);
        assert!(
            filter(
                &requesting("b", json!({"cpu": "1", "memory": "1Gi"})),
                &n,
                &a,
                None
            )
            .is_none()
        );
        let r = filter(
            &requesting("b", json!({"cpu": "1500m", "memory": "2Gi"})),
            &n,
            &a,
            None,
        )
        .expect("no room");
        assert_eq!(r.reasons, vec!["Insufficient cpu", "Insufficient memory"]);
        assert!(!r.unresolvable);
    }

    #[test]
    fn extended_resources_and_pod_count() {
        let n = node_with_status(
            "n",
            json!({}),
            json!({}),
            json!({"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "1", "nvidia.com/gpu": "1"},
                   "conditions": [{"type": "Ready", "status": "True"}]}),
        );
        let a = alloc(&n);
        assert!(
            filter(
                &requesting("g", json!({"nvidia.com/gpu": "1"})),
                &n,
                &a,
                None
            )
            .is_none()
        );
        let r = filter(
            &requesting("g", json!({"nvidia.com/gpu": "2", "example.com/fpga": "1"})),
            &n,
            &a,
            None,
        )
        .expect("no gpus");
        assert_eq!(
            r.reasons,
            vec![
                "Insufficient example.com/fpga",
                "Insufficient nvidia.com/gpu"
            ]
        );
        let reserved = Reserved {
            res: Res::default(),
            pods: 1,
        };
        let r = filter(&requesting("p", json!({})), &n, &a, Some(&reserved)).expect("full");
        assert_eq!(r.reasons, vec!["Too many pods"]);
    }

    #[test]
    fn a_pod_requesting_nothing_needs_only_a_slot() {
        let mut n = node("n", json!({}), json!({}));
        n.add_pod(Arc::new(requesting("a", json!({"cpu": "4"}))));
        let a = alloc(&n);
        assert!(filter(&requesting("b", json!({})), &n, &a, None).is_none());
    }

    #[test]
    fn reserved_room_counts_as_used() {
        let n = node("n", json!({}), json!({}));
        let a = alloc(&n);
        let mut reserved = Reserved::default();
        reserved.res.milli_cpu = 3500;
        let r = filter(
            &requesting("b", json!({"cpu": "1"})),
            &n,
            &a,
            Some(&reserved),
        )
        .expect("reserved");
        assert_eq!(r.reasons, vec!["Insufficient cpu"]);
    }

    #[test]
    fn scores_prefer_empty_and_balanced_nodes() {
        let empty = node("e", json!({}), json!({}));
        let mut busy = node("b", json!({}), json!({}));
        busy.add_pod(Arc::new(requesting(
            "a",
            json!({"cpu": "3", "memory": "1Gi"}),
        )));
        let p = requesting("p", json!({"cpu": "500m", "memory": "1Gi"}));
        let a = alloc(&empty);
        assert!(least_allocated(&p, &empty, &a) > least_allocated(&p, &busy, &a));
        assert!(balanced(&p, &empty, &a) > balanced(&p, &busy, &a));
        assert!(least_allocated(&p, &empty, &a) <= MAX_SCORE);
    }
}
