//! A ReplicaSet's status, computed from the pods it controls.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::facts::PodFacts;

pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// Why the last attempt to create or delete pods failed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// "FailedCreate" or "FailedDelete".
    pub reason: &'static str,
    pub message: String,
}

/// The status for `rs` given its active pods. `failure` is this sync's
/// create/delete failure: it sets the ReplicaFailure condition (keeping an
/// existing one as it is), and its absence clears the condition.
pub fn compute(
    rs: &ReplicaSet,
    active: &[Arc<PodFacts>],
    failure: Option<&Failure>,
    now: jiff::Timestamp,
) -> ReplicaSetStatus {
    let spec = rs.spec.as_ref();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let template_labels = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.as_ref());
    let fully_labeled = active
        .iter()
        .filter(|p| {
            template_labels
                .into_iter()
                .flatten()
                .all(|(k, v)| p.labels().get(k) == Some(v))
        })
        .count();
    let ready = active.iter().filter(|p| p.ready).count();
    let available = active
        .iter()
        .filter(|p| p.is_available(min_ready, now))
        .count();

    let old = rs.status.clone().unwrap_or_default();
    let mut conditions = old.conditions.clone().unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c.type_ == REPLICA_FAILURE);
    match failure {
        Some(f) if !has_failure => conditions.push(ReplicaSetCondition {
            type_: REPLICA_FAILURE.into(),
            status: "True".into(),
            reason: Some(f.reason.into()),
            message: Some(f.message.clone()),
            last_transition_time: Some(Time(now)),
        }),
        Some(_) => {}
        None => conditions.retain(|c| c.type_ != REPLICA_FAILURE),
    }
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    ReplicaSetStatus {
        replicas: count(active.len()),
        fully_labeled_replicas: Some(count(fully_labeled)),
        ready_replicas: Some(count(ready)),
        available_replicas: Some(count(available)),
        observed_generation: rs.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
        terminating_replicas: old.terminating_replicas,
    }
}

/// When the next of `active` becomes available, if any is Ready but not
/// yet for `minReadySeconds`.
pub fn next_available(
    active: &[Arc<PodFacts>],
    min_ready_seconds: i32,
    now: jiff::Timestamp,
) -> Option<jiff::Timestamp> {
    active
        .iter()
        .filter_map(|p| p.available_at(min_ready_seconds))
        .filter(|at| *at > now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::super::facts::tests::cached;
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::api::core::v1::PodTemplateSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use serde_json::json;

    fn pod(name: &str, labels: serde_json::Value, ready_at: Option<&str>) -> Arc<PodFacts> {
        let conditions: Vec<_> = ready_at
            .map(|t| json!({"type": "Ready", "status": "True", "lastTransitionTime": t}))
            .into_iter()
            .collect();
        Arc::new(
            PodFacts::parse(cached(
                &format!("/registry/pods/d/{name}"),
                json!({"metadata": {"labels": labels}, "status": {"phase": "Running", "conditions": conditions}}),
            ))
            .expect("parses"),
        )
    }

    fn rs(min_ready: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                generation: Some(4),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                min_ready_seconds: Some(min_ready),
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(
                            [("app", "web"), ("tier", "fe")]
                                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                                .into(),
                        ),
                        ..ObjectMeta::default()
                    }),
                    spec: None,
                }),
                ..ReplicaSetSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn counts_labeled_ready_and_available_pods() {
        let now: jiff::Timestamp = "2025-01-01T00:01:00Z".parse().expect("ts");
        let pods = vec![
            pod(
                "a",
                json!({"app": "web", "tier": "fe"}),
                Some("2025-01-01T00:00:00Z"),
            ),
            pod(
                "b",
                json!({"app": "web", "tier": "fe"}),
                Some("2025-01-01T00:00:50Z"),
            ),
            pod("c", json!({"app": "web"}), None),
        ];
        let s = compute(&rs(30), &pods, None, now);
        assert_eq!(s.replicas, 3);
        assert_eq!(s.fully_labeled_replicas, Some(2));
        assert_eq!(s.ready_replicas, Some(2));
        assert_eq!(s.available_replicas, Some(1));
        assert_eq!(s.observed_generation, Some(4));
        assert_eq!(
            next_available(&pods, 30, now),
            Some("2025-01-01T00:01:20Z".parse().expect("ts"))
        );
        assert_eq!(next_available(&pods, 0, now), None);
    }

    #[test]
    fn replica_failure_is_set_once_and_cleared_by_a_clean_sync() {
        let now = jiff::Timestamp::UNIX_EPOCH;
        let mut set = rs(0);
        let failure = Failure {
            reason: "FailedCreate",
            message: "pods \"web-\" is invalid".into(),
        };
        let s = compute(&set, &[], Some(&failure), now);
        let conds = s.conditions.clone().expect("conditions");
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].reason.as_deref(), Some("FailedCreate"));
        set.status = Some(s);
        let again = Failure {
            reason: "FailedCreate",
            message: "other".into(),
        };
        let s = compute(&set, &[], Some(&again), now);
        assert_eq!(
            s.conditions.as_ref().expect("kept")[0].message.as_deref(),
            Some("pods \"web-\" is invalid")
        );
        set.status = Some(s);
        assert!(compute(&set, &[], None, now).conditions.is_none());
    }
}
