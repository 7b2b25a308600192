//! RollingUpdate for DaemonSets: replace old pods node by node, either by
//! deleting up to `maxUnavailable` old pods at a time (the new pod follows
//! on each emptied node), or — with `maxSurge` — by starting the new pod
//! beside the old one on up to `maxSurge` nodes and deleting the old pod
//! once the new one is available.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::pods::is_available;

/// The live daemon pods on one node that should run the daemon.
pub struct NodePods<'a> {
    pub node: String,
    /// Pods of the current revision.
    pub new: Vec<&'a Pod>,
    /// Pods of older revisions.
    pub old: Vec<&'a Pod>,
}

/// What one rolling-update step does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Old pods to delete.
    pub delete: Vec<String>,
    /// Nodes to start a new pod on beside the old one.
    pub surge_on: Vec<String>,
}

/// An int-or-percent of `total`, percentages rounded up (kube's
/// GetScaledValueFromIntOrPercent with roundUp).
pub fn scaled(v: Option<&IntOrString>, total: i32, default: i32) -> i32 {
    match v {
        None => default,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let scaled = (pct * i64::from(total) + 99) / 100;
            i32::try_from(scaled).unwrap_or(i32::MAX)
        }
    }
    .max(0)
}

/// The budgets for `desired` nodes: (maxSurge, maxUnavailable). Both zero
/// would stall a rollout, so kube then allows one unavailable.
pub fn budgets(
    surge: Option<&IntOrString>,
    unavailable: Option<&IntOrString>,
    desired: i32,
) -> (i32, i32) {
    let surge = scaled(surge, desired, 0);
    let mut unavailable = scaled(unavailable, desired, 1);
    if desired > 0 && surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// One step of a rolling update over `nodes`.
pub fn step(
    nodes: &[NodePods],
    max_surge: i32,
    max_unavailable: i32,
    min_ready: i32,
    now: Timestamp,
) -> Step {
    let available = |p: &Pod| is_available(p, min_ready, now);
    let mut out = Step::default();
    if max_surge == 0 {
        let mut unavailable = 0;
        let mut must_replace = Vec::new();
        let mut candidates = Vec::new();
        for n in nodes {
            match (n.new.as_slice(), n.old.as_slice()) {
                // Doubled up or empty: the manage pass sorts the node out.
                ([_, _, ..], _) | (_, [_, _, ..]) | ([], []) | ([_], [_]) => unavailable += 1,
                ([new], []) => {
                    if !available(new) {
                        unavailable += 1;
                    }
                }
                ([], [old]) => {
                    let name = old.metadata.name.clone().unwrap_or_default();
                    if !available(old) {
                        must_replace.push(name);
                    } else if unavailable < max_unavailable {
                        candidates.push(name);
                    }
                }
            }
        }
        let room = (max_unavailable - unavailable).clamp(0, candidates.len() as i32) as usize;
        out.delete = must_replace;
        out.delete.extend(candidates.into_iter().take(room));
    } else {
        let mut surging = 0;
        let mut must_surge = Vec::new();
        let mut candidates = Vec::new();
        for n in nodes {
            match (n.new.as_slice(), n.old.as_slice()) {
                ([_, _, ..], _) | (_, [_, _, ..]) => surging += 1,
                (_, []) => {}
                ([], [old]) => {
                    if !available(old) {
                        must_surge.push(n.node.clone());
                    } else if surging < max_surge {
                        candidates.push(n.node.clone());
                    }
                }
                ([new], [old]) => {
                    if available(new) {
                        out.delete
                            .push(old.metadata.name.clone().unwrap_or_default());
                    } else {
                        surging += 1;
                    }
                }
            }
        }
        let room = (max_surge - surging).clamp(0, candidates.len() as i32) as usize;
        out.surge_on = must_surge;
        out.surge_on.extend(candidates.into_iter().take(room));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn pod(name: &str, ready: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(PodStatus {
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    last_transition_time: Some(Time(Timestamp::UNIX_EPOCH)),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
        }
    }

    #[test]
    fn budgets_round_percentages_up() {
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(budgets(None, None, 10), (0, 1));
        assert_eq!(budgets(None, Some(&pct("25%")), 10), (0, 3));
        assert_eq!(
            budgets(Some(&pct("10%")), Some(&IntOrString::Int(0)), 5),
            (1, 0)
        );
        assert_eq!(
            budgets(Some(&IntOrString::Int(0)), Some(&IntOrString::Int(0)), 5),
            (0, 1)
        );
    }

    #[test]
    fn without_surge_old_pods_go_within_max_unavailable() {
        let (a, b, c, d) = (
            pod("a", true),
            pod("b", true),
            pod("c", false),
            pod("d", true),
        );
        let nodes = vec![
            NodePods {
                node: "n1".into(),
                new: vec![],
                old: vec![&a],
            },
            NodePods {
                node: "n2".into(),
                new: vec![],
                old: vec![&b],
            },
            // An unavailable old pod is replaced whatever the budget.
            NodePods {
                node: "n3".into(),
                new: vec![],
                old: vec![&c],
            },
            NodePods {
                node: "n4".into(),
                new: vec![&d],
                old: vec![],
            },
        ];
        let s = step(&nodes, 0, 1, 0, Timestamp::UNIX_EPOCH);
        assert_eq!(s.delete, vec!["c".to_owned(), "a".to_owned()]);
        assert!(s.surge_on.is_empty());
        // A new pod that is not available yet uses the budget up.
        let e = pod("e", false);
        let nodes = vec![
            NodePods {
                node: "n1".into(),
                new: vec![],
                old: vec![&a],
            },
            NodePods {
                node: "n4".into(),
                new: vec![&e],
                old: vec![],
            },
        ];
        assert!(
            step(&nodes, 0, 1, 0, Timestamp::UNIX_EPOCH)
                .delete
                .is_empty()
        );
    }

    #[test]
    fn with_surge_new_pods_start_beside_old_ones() {
        let (a, b, new_ready, new_starting) = (
            pod("a", true),
            pod("b", true),
            pod("n", true),
            pod("s", false),
        );
        let nodes = vec![
            NodePods {
                node: "n1".into(),
                new: vec![],
                old: vec![&a],
            },
            NodePods {
                node: "n2".into(),
                new: vec![&new_ready],
                old: vec![&b],
            },
        ];
        let s = step(&nodes, 1, 0, 0, Timestamp::UNIX_EPOCH);
        assert_eq!(
            s.delete,
            vec!["b".to_owned()],
            "the old pod goes once the new one is available"
        );
        assert_eq!(s.surge_on, vec!["n1".to_owned()]);
        let nodes = vec![
            NodePods {
                node: "n1".into(),
                new: vec![],
                old: vec![&a],
            },
            NodePods {
                node: "n2".into(),
                new: vec![&new_starting],
                old: vec![&b],
            },
        ];
        let s = step(&nodes, 1, 0, 0, Timestamp::UNIX_EPOCH);
        assert_eq!(s, Step::default(), "the one surge slot is taken");
    }
}
