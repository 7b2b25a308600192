//! What a StatefulSet does next, as a pure function of its pods: create
//! missing ordinals, replace failed pods, remove ordinals beyond
//! `replicas` from the highest down, and roll pods of an old revision
//! over from the highest ordinal down to the partition.
//!
//! OrderedReady takes one step at a time and waits for every pod before
//! the next to be Running and Ready; Parallel creates and removes all at
//! once (rolling updates stay one pod at a time either way, as in kube
//! without `maxUnavailable`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use crate::pods::{CONTROLLER_REVISION_HASH, is_available, is_deleting, is_ready};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Create(i32),
    /// Delete a failed pod so it is recreated.
    Recreate(String),
    /// Delete a pod whose ordinal is beyond `replicas`.
    Condemn(String),
    /// Delete a pod of an old revision so it comes back at the new one.
    Update(String),
}

pub struct Input<'a> {
    /// Ordinals that should exist, in order.
    pub ordinals: std::ops::Range<i32>,
    /// Pods by ordinal (in range or not).
    pub pods: BTreeMap<i32, &'a Pod>,
    pub ordered: bool,
    /// `Some(partition)` for RollingUpdate; `None` for OnDelete.
    pub partition: Option<i32>,
    pub update_revision: &'a str,
    pub min_ready: i32,
    pub now: Timestamp,
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn failed(p: &Pod) -> bool {
    matches!(phase(p), "Failed" | "Succeeded")
}

/// Running, Ready and (with `minReadySeconds`) available.
pub fn healthy(p: &Pod, min_ready: i32, now: Timestamp) -> bool {
    phase(p) == "Running"
        && is_ready(p)
        && is_available(p, min_ready, now)
        && !is_deleting(&p.metadata)
}

pub fn revision(p: &Pod) -> Option<&str> {
    p.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CONTROLLER_REVISION_HASH))
        .map(String::as_str)
}

fn name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

/// The steps to take now, in order.
pub fn plan(input: &Input) -> Vec<Step> {
    let mut steps = Vec::new();
    let healthy = |p: &Pod| healthy(p, input.min_ready, input.now);

    // Replicas in ordinal order.
    for ord in input.ordinals.clone() {
        match input.pods.get(&ord) {
            None => {
                steps.push(Step::Create(ord));
                if input.ordered {
                    return steps;
                }
            }
            Some(p) if is_deleting(&p.metadata) => {
                // Its successor waits until the name is free.
                if input.ordered {
                    return steps;
                }
            }
            Some(p) if failed(p) => {
                steps.push(Step::Recreate(name(p)));
                if input.ordered {
                    return steps;
                }
            }
            Some(p) if !healthy(p) && input.ordered => return steps,
            Some(_) => {}
        }
    }

    // Ordinals beyond replicas, highest first; OrderedReady removes one at
    // a time and only while every pod that stays is healthy.
    let condemned: Vec<&Pod> = input
        .pods
        .iter()
        .rev()
        .filter(|(o, _)| !input.ordinals.contains(o))
        .map(|(_, p)| *p)
        .collect();
    let unhealthy_stays = input
        .ordinals
        .clone()
        .any(|o| input.pods.get(&o).is_none_or(|p| !healthy(p)));
    for p in &condemned {
        if is_deleting(&p.metadata) {
            if input.ordered {
                return steps;
            }
            continue;
        }
        if input.ordered && unhealthy_stays && !failed(p) {
            return steps;
        }
        steps.push(Step::Condemn(name(p)));
        if input.ordered {
            return steps;
        }
    }
    if !steps.is_empty() || !condemned.is_empty() {
        return steps;
    }

    // Rolling update: highest ordinal first, down to the partition, one
    // pod at a time.
    let Some(partition) = input.partition else {
        return steps;
    };
    for ord in input.ordinals.clone().rev() {
        if ord < input.ordinals.start + partition.max(0) {
            break;
        }
        let Some(p) = input.pods.get(&ord) else {
            return steps;
        };
        if revision(p) != Some(input.update_revision) && !is_deleting(&p.metadata) {
            steps.push(Step::Update(name(p)));
            return steps;
        }
        if !healthy(p) {
            return steps;
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn pod(name: &str, phase: &str, ready: bool, rev: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some([(CONTROLLER_REVISION_HASH.to_owned(), rev.to_owned())].into()),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(PodStatus {
                phase: Some(phase.into()),
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

    fn input<'a>(
        n: i32,
        pods: &'a [(i32, Pod)],
        ordered: bool,
        partition: Option<i32>,
    ) -> Input<'a> {
        Input {
            ordinals: 0..n,
            pods: pods.iter().map(|(o, p)| (*o, p)).collect(),
            ordered,
            partition,
            update_revision: "web-2",
            min_ready: 0,
            now: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn ordered_ready_creates_one_at_a_time() {
        assert_eq!(plan(&input(3, &[], true, Some(0))), vec![Step::Create(0)]);
        let starting = [(0, pod("web-0", "Running", false, "web-2"))];
        assert_eq!(
            plan(&input(3, &starting, true, Some(0))),
            vec![],
            "web-1 waits for web-0"
        );
        let up = [(0, pod("web-0", "Running", true, "web-2"))];
        assert_eq!(plan(&input(3, &up, true, Some(0))), vec![Step::Create(1)]);
        assert_eq!(
            plan(&input(3, &[], false, Some(0))),
            vec![Step::Create(0), Step::Create(1), Step::Create(2)]
        );
    }

    #[test]
    fn scale_down_goes_from_the_highest_ordinal() {
        let pods = [
            (0, pod("web-0", "Running", true, "web-2")),
            (1, pod("web-1", "Running", true, "web-2")),
            (2, pod("web-2", "Running", true, "web-2")),
        ];
        assert_eq!(
            plan(&input(1, &pods, true, Some(0))),
            vec![Step::Condemn("web-2".into())]
        );
        assert_eq!(
            plan(&input(1, &pods, false, Some(0))),
            vec![Step::Condemn("web-2".into()), Step::Condemn("web-1".into())]
        );
        let sick = [
            (0, pod("web-0", "Running", false, "web-2")),
            (1, pod("web-1", "Running", true, "web-2")),
        ];
        assert_eq!(
            plan(&input(1, &sick, true, Some(0))),
            vec![],
            "waits while a remaining pod is unhealthy"
        );
    }

    #[test]
    fn rolling_update_goes_down_to_the_partition() {
        let pods = [
            (0, pod("web-0", "Running", true, "web-1")),
            (1, pod("web-1", "Running", true, "web-1")),
            (2, pod("web-2", "Running", true, "web-2")),
        ];
        assert_eq!(
            plan(&input(3, &pods, true, Some(0))),
            vec![Step::Update("web-1".into())]
        );
        assert_eq!(
            plan(&input(3, &pods, true, Some(2))),
            vec![],
            "ordinals below the partition stay"
        );
        assert_eq!(
            plan(&input(3, &pods, true, None)),
            vec![],
            "OnDelete waits for the user"
        );
    }

    #[test]
    fn failed_pods_are_recreated() {
        let pods = [(0, pod("web-0", "Failed", false, "web-2"))];
        assert_eq!(
            plan(&input(2, &pods, true, Some(0))),
            vec![Step::Recreate("web-0".into())]
        );
    }
}
