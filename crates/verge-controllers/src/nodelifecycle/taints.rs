//! Which taints a node's conditions call for, and whether a pod on a node
//! tainted NoExecute stays, leaves later or leaves now — with the edge
//! exception: on an edge node the node-lifecycle taints evict only pods
//! that asked for it.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use verge_apiserver::defaults::tolerations::{NOT_READY_TAINT, UNREACHABLE_TAINT, defaulted_keys};

/// Present (any value) on every node `verge agent` registers.
pub const EDGE_LABEL: &str = "node-role.kubernetes.io/edge";
/// `enabled` on a node restores cloud-style eviction for its pods.
pub const EVICTION_ANNOTATION: &str = "verge.dev/eviction";

pub const MEMORY_PRESSURE_TAINT: &str = "node.kubernetes.io/memory-pressure";
pub const DISK_PRESSURE_TAINT: &str = "node.kubernetes.io/disk-pressure";
pub const PID_PRESSURE_TAINT: &str = "node.kubernetes.io/pid-pressure";
pub const NETWORK_UNAVAILABLE_TAINT: &str = "node.kubernetes.io/network-unavailable";
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// The NoSchedule taints this controller owns: each follows a condition.
const NO_SCHEDULE_KEYS: &[&str] = &[
    NOT_READY_TAINT,
    UNREACHABLE_TAINT,
    MEMORY_PRESSURE_TAINT,
    DISK_PRESSURE_TAINT,
    PID_PRESSURE_TAINT,
    NETWORK_UNAVAILABLE_TAINT,
    UNSCHEDULABLE_TAINT,
];

/// The NoExecute taints this controller owns.
const NO_EXECUTE_KEYS: &[&str] = &[NOT_READY_TAINT, UNREACHABLE_TAINT];

/// A node's Ready condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Readiness {
    True,
    False,
    Unknown,
}

impl Readiness {
    pub fn of(node: &Node) -> Readiness {
        match condition(node, "Ready") {
            Some("True") => Readiness::True,
            Some("False") => Readiness::False,
            _ => Readiness::Unknown,
        }
    }

    /// The NoSchedule/NoExecute taint this state calls for.
    pub fn taint_key(self) -> Option<&'static str> {
        match self {
            Readiness::True => None,
            Readiness::False => Some(NOT_READY_TAINT),
            Readiness::Unknown => Some(UNREACHABLE_TAINT),
        }
    }
}

/// The status of the node condition `type_`, if reported.
pub fn condition<'a>(node: &'a Node, type_: &str) -> Option<&'a str> {
    node.status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.as_str())
}

pub fn is_edge(node: &Node) -> bool {
    node.metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(EDGE_LABEL))
}

/// The node opted in to cloud-style eviction.
pub fn eviction_enabled(node: &Node) -> bool {
    node.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(EVICTION_ANNOTATION))
        .is_some_and(|v| v.eq_ignore_ascii_case("enabled"))
}

/// The NoSchedule taints the node's conditions call for (kube's
/// condition-to-taint map).
pub fn wanted_no_schedule(node: &Node) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if let Some(k) = Readiness::of(node).taint_key() {
        keys.push(k);
    }
    for (cond, key) in [
        ("MemoryPressure", MEMORY_PRESSURE_TAINT),
        ("DiskPressure", DISK_PRESSURE_TAINT),
        ("PIDPressure", PID_PRESSURE_TAINT),
        ("NetworkUnavailable", NETWORK_UNAVAILABLE_TAINT),
    ] {
        if condition(node, cond) == Some("True") {
            keys.push(key);
        }
    }
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        keys.push(UNSCHEDULABLE_TAINT);
    }
    keys
}

pub fn taints(node: &Node) -> &[Taint] {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
}

/// The controller-owned NoExecute taint the node carries now.
pub fn current_no_execute(node: &Node) -> Option<&'static str> {
    taints(node).iter().find_map(|t| {
        (t.effect == "NoExecute")
            .then(|| NO_EXECUTE_KEYS.iter().copied().find(|k| *k == t.key))
            .flatten()
    })
}

/// The node's taints with the controller-owned ones replaced by
/// `no_schedule` and `no_execute`; taints that stay keep their timeAdded.
/// `None` when nothing changes.
pub fn with_owned_taints(
    current: &[Taint],
    no_schedule: &[&str],
    no_execute: Option<&str>,
    now: Timestamp,
) -> Option<Vec<Taint>> {
    let owned = |t: &Taint| match t.effect.as_str() {
        "NoSchedule" => NO_SCHEDULE_KEYS.contains(&t.key.as_str()),
        "NoExecute" => NO_EXECUTE_KEYS.contains(&t.key.as_str()),
        _ => false,
    };
    let wanted = |t: &Taint| match t.effect.as_str() {
        "NoSchedule" => no_schedule.contains(&t.key.as_str()),
        "NoExecute" => no_execute == Some(t.key.as_str()),
        _ => false,
    };
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| !owned(t) || wanted(t))
        .cloned()
        .collect();
    let missing = no_schedule
        .iter()
        .map(|k| (*k, "NoSchedule"))
        .chain(no_execute.map(|k| (k, "NoExecute")));
    for (key, effect) in missing {
        if !out.iter().any(|t| t.key == key && t.effect == effect) {
            out.push(Taint {
                key: key.to_owned(),
                effect: effect.to_owned(),
                value: None,
                time_added: Some(Time(now)),
            });
        }
    }
    (out.as_slice() != current).then_some(out)
}

/// Kubernetes' toleration matching.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect = t.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// What happens to a pod on a node with NoExecute taints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every NoExecute taint is tolerated for ever (or there is none).
    Stay,
    /// Evict at this time unless the taints go first.
    EvictAt(Timestamp),
    /// A taint is not tolerated, or its toleration ran out.
    EvictNow,
}

/// Decides the fate of `pod` on `node`. `first_seen` gives the start of
/// the clock for a taint without `timeAdded` (one a user wrote).
///
/// The edge exception: on an edge node that did not opt in with
/// [`EVICTION_ANNOTATION`], the not-ready and unreachable taints only count
/// through tolerations the user wrote; the defaulted ones (and none at all)
/// mean "tolerate for ever" — the edge keeps running its pods while its
/// link is down.
pub fn verdict(pod: &Pod, node: &Node, first_seen: impl Fn(&Taint) -> Timestamp) -> Verdict {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    let autonomous = is_edge(node) && !eviction_enabled(node);
    let defaulted = defaulted_keys(pod.metadata.annotations.as_ref());
    let mut deadline: Option<Timestamp> = None;
    for taint in taints(node).iter().filter(|t| t.effect == "NoExecute") {
        let lifecycle = NO_EXECUTE_KEYS.contains(&taint.key.as_str());
        let matching: Vec<&Toleration> = tolerations
            .iter()
            .filter(|t| tolerates(t, taint))
            .filter(|t| !(autonomous && lifecycle && is_defaulted(t, taint, &defaulted)))
            .collect();
        if matching.is_empty() {
            if autonomous && lifecycle {
                continue;
            }
            return Verdict::EvictNow;
        }
        let Some(seconds) = matching.iter().filter_map(|t| t.toleration_seconds).min() else {
            continue;
        };
        let start = taint
            .time_added
            .as_ref()
            .map_or_else(|| first_seen(taint), |t| t.0);
        let at = start
            .checked_add(jiff::SignedDuration::from_secs(seconds.max(0)))
            .unwrap_or(Timestamp::MAX);
        deadline = Some(deadline.map_or(at, |d| d.min(at)));
    }
    match deadline {
        None => Verdict::Stay,
        Some(at) => Verdict::EvictAt(at),
    }
}

/// The toleration the API server added for this taint key (see
/// `verge_apiserver::defaults::tolerations`).
fn is_defaulted(t: &Toleration, taint: &Taint, defaulted: &[&str]) -> bool {
    defaulted.contains(&taint.key.as_str())
        && t.key.as_deref() == Some(taint.key.as_str())
        && t.operator.as_deref() == Some("Exists")
        && t.effect.as_deref() == Some("NoExecute")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).expect("ts")
    }

    fn node(edge: bool, opt_in: bool, taints: Vec<Taint>) -> Node {
        let mut meta = ObjectMeta {
            name: Some("n".into()),
            ..ObjectMeta::default()
        };
        if edge {
            meta.labels = Some([(EDGE_LABEL.to_owned(), String::new())].into());
        }
        if opt_in {
            meta.annotations =
                Some([(EVICTION_ANNOTATION.to_owned(), "enabled".to_owned())].into());
        }
        Node {
            metadata: meta,
            spec: Some(NodeSpec {
                taints: Some(taints),
                ..NodeSpec::default()
            }),
            status: None,
        }
    }

    fn taint(key: &str, effect: &str, added: Option<i64>) -> Taint {
        Taint {
            key: key.into(),
            effect: effect.into(),
            value: None,
            time_added: added.map(|s| Time(ts(s))),
        }
    }

    fn toleration(key: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            toleration_seconds: seconds,
            value: None,
        }
    }

    /// A pod as the API server admits it: defaulted tolerations of 300 s
    /// for the keys the user did not cover, recorded in the annotation.
    fn pod(explicit: Vec<Toleration>) -> Pod {
        let mut tolerations = explicit.clone();
        let mut defaulted = Vec::new();
        for key in [NOT_READY_TAINT, UNREACHABLE_TAINT] {
            if !explicit.iter().any(|t| t.key.as_deref() == Some(key)) {
                tolerations.push(toleration(key, Some(300)));
                defaulted.push(key);
            }
        }
        Pod {
            metadata: ObjectMeta {
                annotations: Some(
                    [(
                        verge_apiserver::defaults::tolerations::DEFAULTED_ANNOTATION.to_owned(),
                        defaulted.join(","),
                    )]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                tolerations: Some(tolerations),
                ..PodSpec::default()
            }),
            status: None,
        }
    }

    fn never(_: &Taint) -> Timestamp {
        panic!("every taint here has timeAdded")
    }

    #[test]
    fn cloud_nodes_evict_after_the_default_toleration() {
        let n = node(
            false,
            false,
            vec![taint(UNREACHABLE_TAINT, "NoExecute", Some(1000))],
        );
        assert_eq!(verdict(&pod(vec![]), &n, never), Verdict::EvictAt(ts(1300)));
        // A pod with no toleration at all leaves at once.
        let bare = Pod::default();
        assert_eq!(verdict(&bare, &n, never), Verdict::EvictNow);
        // Tolerating for ever (a DaemonSet pod) stays.
        let ds = pod(vec![toleration(UNREACHABLE_TAINT, None)]);
        assert_eq!(verdict(&ds, &n, never), Verdict::Stay);
    }

    #[test]
    fn edge_nodes_keep_pods_with_default_tolerations() {
        let n = node(
            true,
            false,
            vec![taint(UNREACHABLE_TAINT, "NoExecute", Some(1000))],
        );
        assert_eq!(verdict(&pod(vec![]), &n, never), Verdict::Stay);
        assert_eq!(verdict(&Pod::default(), &n, never), Verdict::Stay);
        // The per-pod opt-in: an explicit toleration with seconds.
        let opted = pod(vec![toleration(UNREACHABLE_TAINT, Some(20))]);
        assert_eq!(verdict(&opted, &n, never), Verdict::EvictAt(ts(1020)));
        // An explicit 300 s is an opt-in too, even though it equals the default.
        let explicit300 = pod(vec![toleration(UNREACHABLE_TAINT, Some(300))]);
        assert_eq!(verdict(&explicit300, &n, never), Verdict::EvictAt(ts(1300)));
        // Other NoExecute taints (a user's) apply at the edge as anywhere.
        let mut n2 = n.clone();
        n2.spec
            .as_mut()
            .and_then(|s| s.taints.as_mut())
            .expect("taints")
            .push(taint("maintenance", "NoExecute", Some(1000)));
        assert_eq!(verdict(&pod(vec![]), &n2, never), Verdict::EvictNow);
    }

    #[test]
    fn the_node_opt_in_restores_kubernetes_eviction() {
        let n = node(
            true,
            true,
            vec![taint(NOT_READY_TAINT, "NoExecute", Some(1000))],
        );
        assert_eq!(verdict(&pod(vec![]), &n, never), Verdict::EvictAt(ts(1300)));
    }

    #[test]
    fn the_earliest_deadline_wins_and_untimed_taints_use_first_sight() {
        let n = node(
            false,
            false,
            vec![
                taint(UNREACHABLE_TAINT, "NoExecute", Some(1000)),
                taint("gpu-broken", "NoExecute", None),
            ],
        );
        let p = pod(vec![Toleration {
            key: Some("gpu-broken".into()),
            operator: Some("Exists".into()),
            effect: None,
            toleration_seconds: Some(10),
            value: None,
        }]);
        assert_eq!(verdict(&p, &n, |_| ts(1100)), Verdict::EvictAt(ts(1110)));
        let negative = pod(vec![toleration(UNREACHABLE_TAINT, Some(-5))]);
        let n = node(
            false,
            false,
            vec![taint(UNREACHABLE_TAINT, "NoExecute", Some(1000))],
        );
        assert_eq!(verdict(&negative, &n, never), Verdict::EvictAt(ts(1000)));
    }

    #[test]
    fn toleration_matching() {
        let t = taint("k", "NoSchedule", None);
        let mut tv = t.clone();
        tv.value = Some("v".into());
        let tol = |key: Option<&str>,
                   op: Option<&str>,
                   value: Option<&str>,
                   effect: Option<&str>| Toleration {
            key: key.map(Into::into),
            operator: op.map(Into::into),
            value: value.map(Into::into),
            effect: effect.map(Into::into),
            toleration_seconds: None,
        };
        assert!(tolerates(&tol(None, Some("Exists"), None, None), &t));
        assert!(tolerates(&tol(Some("k"), None, None, None), &t));
        assert!(!tolerates(&tol(Some("k"), None, None, None), &tv));
        assert!(tolerates(
            &tol(Some("k"), Some("Equal"), Some("v"), None),
            &tv
        ));
        assert!(!tolerates(
            &tol(Some("k"), Some("Exists"), None, Some("NoExecute")),
            &t
        ));
        assert!(!tolerates(
            &tol(Some("other"), Some("Exists"), None, None),
            &t
        ));
        assert!(!tolerates(&tol(Some("k"), Some("Gt"), None, None), &t));
    }

    #[test]
    fn owned_taints_follow_conditions_and_keep_others() {
        let mut n = node(false, false, vec![taint("user", "NoSchedule", None)]);
        n.status = Some(NodeStatus {
            conditions: Some(vec![
                NodeCondition {
                    type_: "Ready".into(),
                    status: "Unknown".into(),
                    ..NodeCondition::default()
                },
                NodeCondition {
                    type_: "DiskPressure".into(),
                    status: "True".into(),
                    ..NodeCondition::default()
                },
            ]),
            ..NodeStatus::default()
        });
        let wanted = wanted_no_schedule(&n);
        assert_eq!(wanted, vec![UNREACHABLE_TAINT, DISK_PRESSURE_TAINT]);
        let now = ts(5);
        let new =
            with_owned_taints(taints(&n), &wanted, Some(UNREACHABLE_TAINT), now).expect("changes");
        let keys: Vec<(&str, &str)> = new
            .iter()
            .map(|t| (t.key.as_str(), t.effect.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("user", "NoSchedule"),
                (UNREACHABLE_TAINT, "NoSchedule"),
                (DISK_PRESSURE_TAINT, "NoSchedule"),
                (UNREACHABLE_TAINT, "NoExecute"),
            ]
        );
        // Applying the same again changes nothing; timeAdded is kept.
        assert_eq!(
            with_owned_taints(&new, &wanted, Some(UNREACHABLE_TAINT), ts(99)),
            None
        );
        // Ready again: only the user's taint stays.
        let healthy = with_owned_taints(&new, &[], None, ts(100)).expect("changes");
        assert_eq!(healthy, vec![taint("user", "NoSchedule", None)]);
    }
}
