//! A compact projection of a pod: the few fields the ReplicaSet controller
//! decides with, parsed once per change. The pod's labels and bytes stay in
//! the watch cache's own entry, which the projection shares instead of
//! copying, so 100,000 tracked pods cost a few tens of megabytes.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use verge_runtime::CachedObject;

/// Annotation that ranks pods for scale-down: lower cost goes first.
pub const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Pending,
    Unknown,
    Running,
    Succeeded,
    Failed,
}

/// The controller reference of a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
}

impl ControllerRef {
    /// Names an apps/v1 ReplicaSet.
    pub fn is_replica_set(&self) -> bool {
        self.kind == "ReplicaSet" && self.api_version.starts_with("apps/")
    }
}

#[derive(Debug)]
pub struct PodFacts {
    /// The cache's entry: key, labels and bytes, shared.
    pub obj: Arc<CachedObject>,
    pub uid: String,
    pub controller: Option<ControllerRef>,
    /// Empty while unscheduled.
    pub node_name: String,
    pub phase: Phase,
    /// The Ready condition is True.
    pub ready: bool,
    /// When it last turned Ready (None: unknown or not ready).
    pub ready_since: Option<jiff::Timestamp>,
    pub deleting: bool,
    pub created: Option<jiff::Timestamp>,
    /// Highest restart count of its containers.
    pub restarts: i32,
    pub deletion_cost: i32,
}

#[derive(Deserialize)]
struct Slim {
    #[serde(default)]
    metadata: SlimMeta,
    #[serde(default)]
    spec: SlimSpec,
    #[serde(default)]
    status: SlimStatus,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimMeta {
    #[serde(default)]
    uid: String,
    creation_timestamp: Option<jiff::Timestamp>,
    deletion_timestamp: Option<jiff::Timestamp>,
    #[serde(default)]
    owner_references: Vec<SlimOwner>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimOwner {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    uid: String,
    controller: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimSpec {
    #[serde(default)]
    node_name: String,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimStatus {
    phase: Option<String>,
    #[serde(default)]
    conditions: Vec<SlimCondition>,
    #[serde(default)]
    container_statuses: Vec<SlimContainer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
    last_transition_time: Option<jiff::Timestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimContainer {
    #[serde(default)]
    restart_count: i32,
}

impl PodFacts {
    /// Parses the cache entry of a pod.
    pub fn parse(obj: Arc<CachedObject>) -> Result<PodFacts, serde_json::Error> {
        let slim: Slim = serde_json::from_slice(&obj.bytes)?;
        let controller = slim
            .metadata
            .owner_references
            .into_iter()
            .find(|r| r.controller == Some(true))
            .map(|r| ControllerRef {
                api_version: r.api_version,
                kind: r.kind,
                name: r.name,
                uid: r.uid,
            });
        let phase = match slim.status.phase.as_deref() {
            Some("Running") => Phase::Running,
            Some("Succeeded") => Phase::Succeeded,
            Some("Failed") => Phase::Failed,
            Some("Unknown") => Phase::Unknown,
            _ => Phase::Pending,
        };
        let ready_cond = slim
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready" && c.status == "True");
        Ok(PodFacts {
            uid: slim.metadata.uid,
            controller,
            node_name: slim.spec.node_name,
            phase,
            ready: ready_cond.is_some(),
            ready_since: ready_cond.and_then(|c| c.last_transition_time),
            deleting: slim.metadata.deletion_timestamp.is_some(),
            created: slim.metadata.creation_timestamp,
            restarts: slim
                .status
                .container_statuses
                .iter()
                .map(|c| c.restart_count)
                .max()
                .unwrap_or(0),
            deletion_cost: slim
                .metadata
                .annotations
                .get(DELETION_COST)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            obj,
        })
    }

    pub fn key(&self) -> &str {
        &self.obj.key
    }

    /// The pod's name (the last segment of its storage key).
    pub fn name(&self) -> &str {
        self.obj.key.rsplit('/').next().unwrap_or_default()
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.obj.labels
    }

    /// Counts toward replicas: not finished and not being deleted.
    pub fn is_active(&self) -> bool {
        !matches!(self.phase, Phase::Succeeded | Phase::Failed) && !self.deleting
    }

    /// Ready for at least `min_ready_seconds` at `now`.
    pub fn is_available(&self, min_ready_seconds: i32, now: jiff::Timestamp) -> bool {
        self.available_at(min_ready_seconds)
            .is_some_and(|at| at <= now)
    }

    /// When the pod becomes available if it stays Ready (None: not Ready).
    pub fn available_at(&self, min_ready_seconds: i32) -> Option<jiff::Timestamp> {
        if !self.ready {
            return None;
        }
        if min_ready_seconds <= 0 {
            return Some(jiff::Timestamp::UNIX_EPOCH);
        }
        let since = self.ready_since.unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        Some(since + jiff::SignedDuration::from_secs(i64::from(min_ready_seconds)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A cache entry for a pod written as JSON.
    pub fn cached(key: &str, pod: serde_json::Value) -> Arc<CachedObject> {
        let labels = pod
            .pointer("/metadata/labels")
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default();
        Arc::new(CachedObject {
            key: key.to_owned(),
            bytes: serde_json::to_vec(&pod).expect("encode").into(),
            revision: 1,
            labels,
            fields: Vec::new(),
        })
    }

    #[test]
    fn parses_what_ranking_and_status_need() {
        let obj = cached(
            "/registry/pods/default/web-abcde",
            json!({
                "metadata": {
                    "name": "web-abcde", "uid": "p1",
                    "labels": {"app": "web"},
                    "creationTimestamp": "2025-01-01T00:00:00Z",
                    "annotations": {DELETION_COST: "-5"},
                    "ownerReferences": [
                        {"apiVersion": "v1", "kind": "Other", "name": "x", "uid": "u0"},
                        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u1", "controller": true}
                    ]
                },
                "spec": {"nodeName": "n1"},
                "status": {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:10Z"}],
                    "containerStatuses": [{"restartCount": 2}, {"restartCount": 7}]
                }
            }),
        );
        let f = PodFacts::parse(obj).expect("parses");
        assert_eq!(f.name(), "web-abcde");
        let c = f.controller.as_ref().expect("controller");
        assert!(c.is_replica_set());
        assert_eq!((c.name.as_str(), c.uid.as_str()), ("web", "u1"));
        assert_eq!(f.node_name, "n1");
        assert_eq!(f.phase, Phase::Running);
        assert!(f.ready && f.is_active());
        assert_eq!((f.restarts, f.deletion_cost), (7, -5));
        let ready = "2025-01-01T00:00:10Z"
            .parse::<jiff::Timestamp>()
            .expect("ts");
        assert!(f.is_available(0, ready));
        assert!(!f.is_available(30, ready + jiff::SignedDuration::from_secs(29)));
        assert!(f.is_available(30, ready + jiff::SignedDuration::from_secs(30)));
    }

    #[test]
    fn finished_and_deleting_pods_are_not_active() {
        let done = cached(
            "/registry/pods/d/a",
            json!({"status": {"phase": "Succeeded"}}),
        );
        assert!(!PodFacts::parse(done).expect("parses").is_active());
        let going = cached(
            "/registry/pods/d/b",
            json!({"metadata": {"deletionTimestamp": "2025-01-01T00:00:00Z"}}),
        );
        let f = PodFacts::parse(going).expect("parses");
        assert!(!f.is_active());
        assert_eq!(f.phase, Phase::Pending);
        assert!(!f.ready);
    }
}
