//! Which pods go first when a ReplicaSet scales down: kube's order, so a
//! scale-down removes what costs least — pods not yet placed, not yet
//! running, not ready, cheap by annotation, crowded onto one node, freshly
//! ready, crash-looping, young — and keeps the settled ones.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use super::facts::{Phase, PodFacts};

/// Sorts `pods` so that those to delete first come first. `per_node`
/// counts the active pods of the ReplicaSet and its siblings per node.
pub fn sort_for_deletion(
    pods: &mut [Arc<PodFacts>],
    per_node: &HashMap<String, usize>,
    now: jiff::Timestamp,
) {
    pods.sort_by(|a, b| compare(a, b, per_node, now));
}

fn phase_rank(p: Phase) -> u8 {
    match p {
        Phase::Unknown => 1,
        Phase::Running => 2,
        _ => 0,
    }
}

/// `Less` when `a` should be deleted before `b`.
fn compare(
    a: &PodFacts,
    b: &PodFacts,
    per_node: &HashMap<String, usize>,
    now: jiff::Timestamp,
) -> Ordering {
    // Unscheduled before scheduled.
    if a.node_name != b.node_name && (a.node_name.is_empty() || b.node_name.is_empty()) {
        return if a.node_name.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    // Pending < Unknown < Running.
    let by_phase = phase_rank(a.phase).cmp(&phase_rank(b.phase));
    if by_phase != Ordering::Equal {
        return by_phase;
    }
    // Not ready before ready.
    if a.ready != b.ready {
        return if a.ready {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    // Lower pod-deletion-cost first.
    if a.deletion_cost != b.deletion_cost {
        return a.deletion_cost.cmp(&b.deletion_cost);
    }
    // More siblings on the same node first.
    let crowd = |p: &PodFacts| per_node.get(&p.node_name).copied().unwrap_or(0);
    let by_crowd = crowd(b).cmp(&crowd(a));
    if by_crowd != Ordering::Equal {
        return by_crowd;
    }
    // Ready more recently first.
    if a.ready && b.ready && a.ready_since != b.ready_since {
        let by_ready = newer_first(a.ready_since, b.ready_since, &a.uid, &b.uid, now);
        if by_ready != Ordering::Equal {
            return by_ready;
        }
    }
    // More restarts first.
    if a.restarts != b.restarts {
        return b.restarts.cmp(&a.restarts);
    }
    // Younger first.
    if a.created != b.created {
        return newer_first(a.created, b.created, &a.uid, &b.uid, now);
    }
    Ordering::Equal
}

/// Newer timestamps first (an unknown one counts as newest), compared by
/// the base-2 logarithm of their age so that pods of about the same age
/// are told apart by uid — a random but stable choice, which spreads
/// scale-downs instead of always hitting the very newest pods.
fn newer_first(
    a: Option<jiff::Timestamp>,
    b: Option<jiff::Timestamp>,
    uid_a: &str,
    uid_b: &str,
    now: jiff::Timestamp,
) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => match log_age(a, now).cmp(&log_age(b, now)) {
            Ordering::Equal => uid_a.cmp(uid_b),
            other => other,
        },
    }
}

/// floor(log2(age in nanoseconds)), or -1 for a timestamp not in the past.
fn log_age(t: jiff::Timestamp, now: jiff::Timestamp) -> i64 {
    let nanos = now.as_nanosecond() - t.as_nanosecond();
    if nanos <= 0 {
        return -1;
    }
    (nanos as f64).log2().floor() as i64
}

#[cfg(test)]
mod tests {
    use super::super::facts::tests::cached;
    use super::*;
    use serde_json::json;

    fn ts(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000 + s).expect("ts")
    }

    struct P {
        node: &'static str,
        phase: Phase,
        ready: Option<i64>,
        cost: i32,
        restarts: i32,
        created: i64,
    }

    fn facts(name: &str, p: P) -> Arc<PodFacts> {
        let mut f = PodFacts::parse(cached(&format!("/registry/pods/d/{name}"), json!({})))
            .expect("parses");
        f.uid = name.to_owned();
        f.node_name = p.node.to_owned();
        f.phase = p.phase;
        f.ready = p.ready.is_some();
        f.ready_since = p.ready.map(ts);
        f.deletion_cost = p.cost;
        f.restarts = p.restarts;
        f.created = Some(ts(p.created));
        Arc::new(f)
    }

    fn base() -> P {
        P {
            node: "n1",
            phase: Phase::Running,
            ready: Some(0),
            cost: 0,
            restarts: 0,
            created: -100_000,
        }
    }

    fn order(mut pods: Vec<Arc<PodFacts>>, per_node: &[(&str, usize)]) -> Vec<String> {
        let per_node = per_node
            .iter()
            .map(|(n, c)| ((*n).to_owned(), *c))
            .collect();
        sort_for_deletion(&mut pods, &per_node, ts(0));
        pods.iter().map(|p| p.uid.clone()).collect()
    }

    #[test]
    fn follows_kubes_order() {
        let pods = vec![
            facts("settled", base()),
            facts(
                "young",
                P {
                    created: -10,
                    ..base()
                },
            ),
            facts(
                "restarting",
                P {
                    restarts: 3,
                    ..base()
                },
            ),
            facts(
                "expensive",
                P {
                    cost: 100,
                    ..base()
                },
            ),
            facts(
                "cheap",
                P {
                    cost: -100,
                    ..base()
                },
            ),
            facts(
                "not-ready",
                P {
                    ready: None,
                    ..base()
                },
            ),
            facts(
                "pending",
                P {
                    phase: Phase::Pending,
                    ready: None,
                    ..base()
                },
            ),
            facts(
                "unknown",
                P {
                    phase: Phase::Unknown,
                    ready: None,
                    ..base()
                },
            ),
            facts(
                "unscheduled",
                P {
                    node: "",
                    phase: Phase::Pending,
                    ready: None,
                    ..base()
                },
            ),
        ];
        assert_eq!(
            order(pods, &[]),
            vec![
                "unscheduled",
                "pending",
                "unknown",
                "not-ready",
                "cheap",
                "restarting",
                "young",
                "settled",
                "expensive"
            ]
        );
    }

    #[test]
    fn crowded_nodes_and_fresh_readiness_go_first() {
        let pods = vec![
            facts(
                "alone",
                P {
                    node: "n2",
                    ..base()
                },
            ),
            facts(
                "crowded",
                P {
                    node: "n1",
                    ..base()
                },
            ),
        ];
        assert_eq!(
            order(pods, &[("n1", 3), ("n2", 1)]),
            vec!["crowded", "alone"]
        );

        let pods = vec![
            facts(
                "long-ready",
                P {
                    ready: Some(-100_000),
                    ..base()
                },
            ),
            facts(
                "just-ready",
                P {
                    ready: Some(-5),
                    ..base()
                },
            ),
        ];
        assert_eq!(order(pods, &[]), vec!["just-ready", "long-ready"]);
    }

    #[test]
    fn ages_in_the_same_power_of_two_are_told_apart_by_uid() {
        // 1000 s and 1001 s old share floor(log2(ns)).
        let pods = vec![
            facts(
                "b",
                P {
                    created: -1000,
                    ..base()
                },
            ),
            facts(
                "a",
                P {
                    created: -1001,
                    ..base()
                },
            ),
        ];
        assert_eq!(order(pods, &[]), vec!["a", "b"]);
        assert_eq!(log_age(ts(1), ts(0)), -1);
    }
}
