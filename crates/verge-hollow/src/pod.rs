//! Pods as a hollow node sees them: the compact view the fleet keeps of each
//! bound pod, what the node runs, and the status kubelet would report.

use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, HostIP, Pod,
    PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::node::ObservedConditions;
use crate::script::{Millis, RestartPolicy, Script, ScriptError, timeline};

/// Pod conditions the node writes, in kubelet's order.
pub(crate) const CONDITION_TYPES: [&str; 5] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

/// namespace/name of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PodKey {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
}

impl std::fmt::Display for PodKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A container as the node runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Container {
    pub name: String,
    pub image: String,
    /// An init container with `restartPolicy: Always`: runs beside the others.
    pub sidecar: bool,
}

/// What the fleet keeps of a bound pod as the API last showed it.
#[derive(Debug, Clone)]
pub(crate) struct PodView {
    pub uid: String,
    pub node: Arc<str>,
    pub resource_version: String,
    pub deleting: bool,
    pub phase: Option<String>,
    pub restart_policy: RestartPolicy,
    pub script: Script,
    pub script_errors: Vec<ScriptError>,
    pub host_network: bool,
    pub containers: Vec<Container>,
    pub init_containers: Vec<Container>,
    /// Every `readinessGates` condition is True.
    pub gates_ready: bool,
    /// The written conditions as observed.
    pub conditions: ObservedConditions,
    pub pod_ip: Option<Ipv4Addr>,
    /// `status.startTime`.
    pub start_time: Option<Millis>,
    /// Digest of the part of the status the node writes.
    pub status_digest: u64,
}

impl PodView {
    /// The view of a pod bound to a node; `None` for unbound pods and
    /// objects without the metadata every stored pod has.
    pub(crate) fn from_pod(pod: &Pod) -> Option<(PodKey, PodView)> {
        let meta = &pod.metadata;
        let spec = pod.spec.as_ref()?;
        let node = spec.node_name.as_deref().filter(|n| !n.is_empty())?;
        let key = PodKey {
            namespace: Arc::from(meta.namespace.as_deref()?),
            name: Arc::from(meta.name.as_deref()?),
        };
        let (script, script_errors) =
            Script::from_annotations(meta.annotations.as_ref().unwrap_or(&Default::default()));
        let status = pod.status.clone().unwrap_or_default();
        let observed = status.conditions.as_deref().unwrap_or_default();
        let gates_ready = spec.readiness_gates.iter().flatten().all(|g| {
            observed
                .iter()
                .any(|c| c.type_ == g.condition_type && c.status == "True")
        });
        let conditions = ObservedConditions::new(
            observed
                .iter()
                .filter(|c| CONDITION_TYPES.contains(&c.type_.as_str()))
                .map(|c| {
                    (
                        c.type_.as_str(),
                        c.status.as_str(),
                        c.last_transition_time.as_ref(),
                    )
                }),
        );
        let container = |c: &k8s_openapi::api::core::v1::Container| Container {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            sidecar: c.restart_policy.as_deref() == Some("Always"),
        };
        let view = PodView {
            uid: meta.uid.clone()?,
            node: Arc::from(node),
            resource_version: meta.resource_version.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
            phase: status.phase.clone(),
            restart_policy: RestartPolicy::parse(spec.restart_policy.as_deref()),
            script,
            script_errors,
            host_network: spec.host_network == Some(true),
            containers: spec.containers.iter().map(container).collect(),
            init_containers: spec
                .init_containers
                .iter()
                .flatten()
                .map(container)
                .collect(),
            gates_ready,
            conditions,
            pod_ip: status.pod_ip.as_deref().and_then(|ip| ip.parse().ok()),
            start_time: status.start_time.as_ref().map(|t| t.0.as_millisecond()),
            status_digest: digest(&status),
        };
        Some((key, view))
    }

    /// Has the pod finished in the API (Succeeded or Failed)?
    pub(crate) fn terminal(&self) -> bool {
        matches!(self.phase.as_deref(), Some("Succeeded" | "Failed"))
    }

    /// Is `self` at least as recent as `other`? Resource versions are opaque
    /// to clients, but this server's (and etcd's) are integers that grow with
    /// every write; anything else counts as newer.
    pub(crate) fn not_older_than(&self, other: &PodView) -> bool {
        match (
            self.resource_version.parse::<u64>(),
            other.resource_version.parse::<u64>(),
        ) {
            (Ok(a), Ok(b)) => a >= b,
            _ => true,
        }
    }
}

/// A pod the node runs.
#[derive(Debug, Clone)]
pub(crate) struct PodRun {
    pub uid: String,
    /// When its containers first started.
    pub started: Millis,
    pub pod_ip: Ipv4Addr,
    /// The node allocated `pod_ip` (false for host-network pods).
    pub owns_ip: bool,
    /// The script and restart policy the pod started with: the node keeps
    /// running them even when the API no longer shows the pod.
    pub script: Script,
    pub restart_policy: RestartPolicy,
    /// Loop guard: the digest of the status last written, and of the status
    /// the API answered that write with.
    pub last_written: Option<(u64, u64)>,
}

/// The part of a pod status the node owns, in a canonical form: what is
/// compared (by digest) to decide whether to write.
pub(crate) fn projection(status: &PodStatus) -> PodStatus {
    let mut conditions: Vec<PodCondition> = status
        .conditions
        .iter()
        .flatten()
        .filter(|c| CONDITION_TYPES.contains(&c.type_.as_str()))
        .map(|c| PodCondition {
            type_: c.type_.clone(),
            status: c.status.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
            last_transition_time: c.last_transition_time.clone(),
            ..PodCondition::default()
        })
        .collect();
    conditions.sort_by_key(|c| CONDITION_TYPES.iter().position(|t| *t == c.type_));
    PodStatus {
        phase: status.phase.clone(),
        conditions: (!conditions.is_empty()).then_some(conditions),
        host_ip: status.host_ip.clone(),
        host_ips: status.host_ips.clone(),
        pod_ip: status.pod_ip.clone(),
        pod_ips: status.pod_ips.clone(),
        start_time: status.start_time.clone(),
        container_statuses: status.container_statuses.clone(),
        init_container_statuses: status.init_container_statuses.clone(),
        ..PodStatus::default()
    }
}

/// Digest of [`projection`], as the API would serialize it.
pub(crate) fn digest(status: &PodStatus) -> u64 {
    let bytes = serde_json::to_vec(&projection(status)).unwrap_or_default();
    let mut h = std::hash::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn time(ms: Millis) -> Time {
    Time(Timestamp::from_second(ms.div_euclid(1000)).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// Hex SHA-256 of `parts` (NUL-separated): stable ids.
pub(crate) fn hex_digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// `hollow://<64 hex>`, stable for a pod, container and run.
pub(crate) fn container_id(uid: &str, container: &str, run: u32) -> String {
    format!(
        "hollow://{}",
        hex_digest(&[uid, container, &run.to_string()])
    )
}

/// `<image>@sha256:<64 hex>`, stable for an image reference.
pub(crate) fn image_id(image: &str) -> String {
    format!("{image}@sha256:{}", hex_digest(&[image]))
}

/// The status kubelet would report for `view` run as `run` at `now`, and
/// when it next changes by itself.
pub(crate) fn desired_status(
    view: &PodView,
    run: &PodRun,
    host_ip: Ipv4Addr,
    now: Millis,
) -> (PodStatus, Option<Millis>) {
    let tl = timeline(&run.script, run.restart_policy, run.started, now);
    let now_ts = time(now).0;
    let finished = tl.finished.is_some();
    let exit_code = run.script.exit_code;
    let exit_reason = if exit_code == 0 { "Completed" } else { "Error" };
    let terminated = |container_id: String, started: Millis, finished: Millis| ContainerState {
        terminated: Some(ContainerStateTerminated {
            container_id: Some(container_id),
            exit_code,
            reason: Some(exit_reason.to_owned()),
            started_at: Some(time(started)),
            finished_at: Some(time(finished)),
            ..ContainerStateTerminated::default()
        }),
        ..ContainerState::default()
    };

    let mut containers: Vec<ContainerStatus> = view
        .containers
        .iter()
        .map(|c| {
            let id = container_id(&run.uid, &c.name, tl.restarts);
            let state = match tl.finished {
                Some(at) => terminated(id.clone(), tl.run_started, at),
                None => running_state(tl.run_started),
            };
            let last_state = tl.last_run.map(|r| {
                terminated(
                    container_id(&run.uid, &c.name, tl.restarts.saturating_sub(1)),
                    r.started,
                    r.finished,
                )
            });
            ContainerStatus {
                name: c.name.clone(),
                image: c.image.clone(),
                image_id: image_id(&c.image),
                container_id: Some(id),
                ready: tl.ready,
                started: Some(!finished),
                restart_count: i32::try_from(tl.restarts).unwrap_or(i32::MAX),
                state: Some(state),
                last_state,
                ..ContainerStatus::default()
            }
        })
        .collect();
    containers.sort_by(|a, b| a.name.cmp(&b.name));

    let init_containers: Vec<ContainerStatus> = view
        .init_containers
        .iter()
        .map(|c| {
            let id = container_id(&run.uid, &c.name, 0);
            let (state, ready, started) = if !c.sidecar {
                (terminated_ok(id.clone(), run.started), true, false)
            } else if let Some(at) = tl.finished {
                (
                    terminated_ok_between(id.clone(), run.started, at),
                    false,
                    false,
                )
            } else {
                (running_state(run.started), true, true)
            };
            ContainerStatus {
                name: c.name.clone(),
                image: c.image.clone(),
                image_id: image_id(&c.image),
                container_id: Some(id),
                ready,
                started: Some(started),
                restart_count: 0,
                state: Some(state),
                ..ContainerStatus::default()
            }
        })
        .collect();

    let phase = match tl.succeeded(&run.script) {
        Some(true) => "Succeeded",
        Some(false) => "Failed",
        None => "Running",
    };
    let unready: Vec<&str> = containers
        .iter()
        .filter(|c| !c.ready)
        .map(|c| c.name.as_str())
        .collect();
    let containers_ready = unready.is_empty();
    let (cr_reason, cr_message) = if finished {
        (Some("PodCompleted"), None)
    } else if !containers_ready {
        (
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        )
    } else {
        (None, None)
    };
    let pod_ready = containers_ready && view.gates_ready && !finished;
    let (ready_reason, ready_message) = if pod_ready || cr_reason.is_some() {
        (cr_reason, cr_message.clone())
    } else {
        (
            Some("ReadinessGatesNotReady"),
            Some("the status of pod readiness gates is not \"True\"".to_owned()),
        )
    };
    let cond = |type_: &str, ok: bool, reason: Option<&str>, message: Option<String>| {
        let status = if ok { "True" } else { "False" };
        PodCondition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: reason.map(str::to_owned),
            message,
            last_transition_time: view.conditions.transition(type_, status, now_ts),
            ..PodCondition::default()
        }
    };
    let conditions = vec![
        cond("PodReadyToStartContainers", !finished, None, None),
        cond("Initialized", true, None, None),
        cond("Ready", pod_ready, ready_reason, ready_message),
        cond(
            "ContainersReady",
            containers_ready && !finished,
            cr_reason,
            cr_message,
        ),
        cond("PodScheduled", true, None, None),
    ];

    let pod_ip = if view.host_network {
        host_ip
    } else {
        run.pod_ip
    };
    let status = PodStatus {
        phase: Some(phase.to_owned()),
        conditions: Some(conditions),
        host_ip: Some(host_ip.to_string()),
        host_ips: Some(vec![HostIP {
            ip: host_ip.to_string(),
        }]),
        pod_ip: Some(pod_ip.to_string()),
        pod_ips: Some(vec![PodIP {
            ip: pod_ip.to_string(),
        }]),
        start_time: Some(time(run.started)),
        container_statuses: Some(containers),
        init_container_statuses: (!init_containers.is_empty()).then_some(init_containers),
        ..PodStatus::default()
    };
    (projection(&status), tl.next_change)
}

fn running_state(started: Millis) -> ContainerState {
    ContainerState {
        running: Some(ContainerStateRunning {
            started_at: Some(time(started)),
        }),
        ..ContainerState::default()
    }
}

fn terminated_ok(id: String, at: Millis) -> ContainerState {
    terminated_ok_between(id, at, at)
}

fn terminated_ok_between(id: String, started: Millis, finished: Millis) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            container_id: Some(id),
            exit_code: 0,
            reason: Some("Completed".to_owned()),
            started_at: Some(time(started)),
            finished_at: Some(time(finished)),
            ..ContainerStateTerminated::default()
        }),
        ..ContainerState::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(extra: serde_json::Value) -> Pod {
        let mut v = json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "resourceVersion": "7"},
            "spec": {
                "nodeName": "n1",
                "containers": [{"name": "b", "image": "busybox"}, {"name": "a", "image": "nginx:1.27"}],
            },
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        });
        merge(&mut v, extra);
        serde_json::from_value(v).expect("pod")
    }

    fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    fn view(extra: serde_json::Value) -> PodView {
        PodView::from_pod(&pod(extra)).expect("bound pod").1
    }

    fn run_of(v: &PodView) -> PodRun {
        PodRun {
            uid: "u-1".into(),
            started: 1_000_000,
            pod_ip: Ipv4Addr::new(10, 128, 0, 2),
            owns_ip: true,
            script: v.script,
            restart_policy: v.restart_policy,
            last_written: None,
        }
    }

    fn status_of(v: &PodView, now: Millis) -> (PodStatus, Option<Millis>) {
        desired_status(v, &run_of(v), HOST, now)
    }

    const HOST: Ipv4Addr = Ipv4Addr::new(10, 64, 0, 1);

    fn cond<'a>(s: &'a PodStatus, t: &str) -> &'a PodCondition {
        s.conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == t)
            .expect("condition")
    }

    #[test]
    fn view_of_a_bound_pod() {
        let (key, v) = PodView::from_pod(&pod(json!({
            "metadata": {"annotations": {"hollow.verge.dev/exit-after": "2s"}},
            "spec": {"restartPolicy": "Never"},
        })))
        .expect("bound");
        assert_eq!(key.to_string(), "ns/p");
        assert_eq!(&*v.node, "n1");
        assert_eq!(v.restart_policy, RestartPolicy::Never);
        assert_eq!(v.script.exit_after, Some(std::time::Duration::from_secs(2)));
        assert!(!v.deleting);
        assert!(!v.terminal());
        let unbound = pod(json!({"spec": {"nodeName": ""}}));
        assert!(PodView::from_pod(&unbound).is_none());
    }

    #[test]
    fn running_pod_status_looks_like_kubelets() {
        let v = view(json!({}));
        let (s, next) = status_of(&v, 1_005_000);
        assert_eq!(next, None);
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(s.host_ip.as_deref(), Some("10.64.0.1"));
        assert_eq!(s.pod_ip.as_deref(), Some("10.128.0.2"));
        assert_eq!(
            s.pod_ips.as_ref().map(|p| p[0].ip.as_str()),
            Some("10.128.0.2")
        );
        assert_eq!(s.start_time, Some(time(1_000_000)));
        assert_eq!(s.qos_class, None, "left to the API (the patch keeps it)");
        for t in CONDITION_TYPES {
            assert_eq!(cond(&s, t).status, "True", "{t}");
            assert_eq!(cond(&s, t).last_transition_time, Some(time(1_005_000)));
        }
        let cs = s.container_statuses.as_deref().unwrap_or_default();
        let names: Vec<_> = cs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b"], "sorted by name as kubelet does");
        let a = &cs[0];
        assert_eq!(a.image, "nginx:1.27");
        assert!(a.image_id.starts_with("nginx:1.27@sha256:"));
        assert!(
            a.container_id
                .as_deref()
                .is_some_and(|id| id.starts_with("hollow://") && id.len() == 9 + 64)
        );
        assert!(a.ready);
        assert_eq!(a.started, Some(true));
        assert_eq!(a.restart_count, 0);
        assert_eq!(
            a.state
                .as_ref()
                .and_then(|s| s.running.as_ref())
                .and_then(|r| r.started_at.clone()),
            Some(time(1_000_000))
        );
    }

    #[test]
    fn transition_times_are_kept_when_nothing_changes() {
        let earlier = "2020-01-01T00:00:00Z";
        let v = view(json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": earlier},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": earlier},
            {"type": "ContainersReady", "status": "False", "lastTransitionTime": earlier},
        ]}}));
        let (s, _) = status_of(&v, 1_005_000);
        let earlier: Time = serde_json::from_value(json!(earlier)).expect("time");
        assert_eq!(
            cond(&s, "Ready").last_transition_time,
            Some(earlier.clone())
        );
        assert_eq!(cond(&s, "PodScheduled").last_transition_time, Some(earlier));
        assert_eq!(
            cond(&s, "ContainersReady").last_transition_time,
            Some(time(1_005_000))
        );
    }

    #[test]
    fn readiness_waits_for_ready_after() {
        let v = view(json!({"metadata": {"annotations": {"hollow.verge.dev/ready-after": "3s"}}}));
        let (s, next) = status_of(&v, 1_001_000);
        assert_eq!(next, Some(1_003_000));
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(cond(&s, "Ready").status, "False");
        assert_eq!(
            cond(&s, "Ready").reason.as_deref(),
            Some("ContainersNotReady")
        );
        assert_eq!(
            cond(&s, "ContainersReady").message.as_deref(),
            Some("containers with unready status: [a b]")
        );
        let (s, next) = status_of(&v, 1_003_000);
        assert_eq!(next, None);
        assert_eq!(cond(&s, "Ready").status, "True");
    }

    #[test]
    fn readiness_gates_hold_ready_back() {
        let v = view(json!({"spec": {"readinessGates": [{"conditionType": "example.com/lb"}]}}));
        assert!(!v.gates_ready);
        let (s, _) = status_of(&v, 1_001_000);
        assert_eq!(cond(&s, "ContainersReady").status, "True");
        assert_eq!(cond(&s, "Ready").status, "False");
        assert_eq!(
            cond(&s, "Ready").reason.as_deref(),
            Some("ReadinessGatesNotReady")
        );
        let v = view(json!({
            "spec": {"readinessGates": [{"conditionType": "example.com/lb"}]},
            "status": {"conditions": [{"type": "example.com/lb", "status": "True"}]},
        }));
        let (s, _) = status_of(&v, 1_001_000);
        assert_eq!(cond(&s, "Ready").status, "True");
    }

    #[test]
    fn exits_follow_restart_policy() {
        let failed = view(json!({
            "metadata": {"annotations": {"hollow.verge.dev/exit-after": "1s", "hollow.verge.dev/exit-code": "3"}},
            "spec": {"restartPolicy": "Never"},
        }));
        let (s, next) = status_of(&failed, 1_002_000);
        assert_eq!(next, None);
        assert_eq!(s.phase.as_deref(), Some("Failed"));
        assert_eq!(cond(&s, "Ready").status, "False");
        assert_eq!(cond(&s, "Ready").reason.as_deref(), Some("PodCompleted"));
        assert_eq!(cond(&s, "PodReadyToStartContainers").status, "False");
        let cs = s.container_statuses.unwrap_or_default();
        let t = cs[0]
            .state
            .as_ref()
            .and_then(|s| s.terminated.clone())
            .expect("terminated");
        assert_eq!(t.exit_code, 3);
        assert_eq!(t.reason.as_deref(), Some("Error"));
        assert_eq!(t.finished_at, Some(time(1_001_000)));
        assert!(!cs[0].ready);
        assert_eq!(cs[0].started, Some(false));

        let ok = view(json!({
            "metadata": {"annotations": {"hollow.verge.dev/exit-after": "1s"}},
            "spec": {"restartPolicy": "OnFailure"},
        }));
        let (s, _) = status_of(&ok, 1_002_000);
        assert_eq!(s.phase.as_deref(), Some("Succeeded"));
        let t = s.container_statuses.unwrap_or_default()[0]
            .state
            .as_ref()
            .and_then(|s| s.terminated.clone())
            .expect("terminated");
        assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));

        let always = view(json!({
            "metadata": {"annotations": {"hollow.verge.dev/exit-after": "1s", "hollow.verge.dev/exit-code": "2"}},
        }));
        let (s, next) = status_of(&always, 1_002_500);
        assert_eq!(next, Some(1_003_000));
        assert_eq!(s.phase.as_deref(), Some("Running"));
        let c = &s.container_statuses.unwrap_or_default()[0];
        assert_eq!(c.restart_count, 2);
        let last = c
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.clone())
            .expect("lastState");
        assert_eq!(last.exit_code, 2);
        assert_eq!(last.finished_at, Some(time(1_002_000)));
        assert_ne!(
            last.container_id, c.container_id,
            "each run is a new container"
        );
    }

    #[test]
    fn host_network_pods_use_the_node_address() {
        let v = view(json!({"spec": {"hostNetwork": true}}));
        let (s, _) = status_of(&v, 1_001_000);
        assert_eq!(s.pod_ip.as_deref(), Some("10.64.0.1"));
    }

    #[test]
    fn init_containers_completed_and_sidecars_running() {
        let v = view(json!({"spec": {"initContainers": [
            {"name": "init", "image": "busybox"},
            {"name": "proxy", "image": "envoy", "restartPolicy": "Always"},
        ]}}));
        let (s, _) = status_of(&v, 1_001_000);
        let ics = s.init_container_statuses.unwrap_or_default();
        assert!(
            ics[0]
                .state
                .as_ref()
                .is_some_and(|s| s.terminated.is_some())
        );
        assert!(ics[0].ready);
        assert!(ics[1].state.as_ref().is_some_and(|s| s.running.is_some()));
    }

    #[test]
    fn digest_matches_after_a_round_trip_through_json() {
        let v = view(json!({}));
        let (s, _) = status_of(&v, 1_005_500);
        let mut stored = pod(json!({}));
        // The API keeps fields the node does not write (qosClass, other
        // conditions) and serializes times to the second.
        let mut status = serde_json::to_value(&s).expect("json");
        status["qosClass"] = json!("BestEffort");
        status["conditions"]
            .as_array_mut()
            .expect("conditions")
            .push(json!({"type": "example.com/x", "status": "True"}));
        stored.status = Some(serde_json::from_value(status).expect("status"));
        let (_, seen) = PodView::from_pod(&stored).expect("view");
        assert_eq!(seen.status_digest, digest(&s));
        assert_ne!(view(json!({})).status_digest, digest(&s));
    }

    #[test]
    fn resource_versions_order_numerically() {
        let a = view(json!({"metadata": {"resourceVersion": "10"}}));
        let b = view(json!({"metadata": {"resourceVersion": "9"}}));
        assert!(a.not_older_than(&b));
        assert!(!b.not_older_than(&a));
    }
}
