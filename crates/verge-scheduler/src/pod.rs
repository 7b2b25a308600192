//! What the scheduler knows of a pod, decoded once per change from the
//! watch cache's bytes: only the fields scheduling reads, with selectors
//! compiled and requests summed, so a scheduling cycle never touches JSON.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Affinity, ContainerPort, NodeSelectorTerm, PodAffinityTerm, PreferredSchedulingTerm,
    Toleration, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Deserialize;
use verge_apimachinery::labels::{Operator, Requirement, Selector};

use crate::resources::{ContainerRequests, PodRequests, Res, pod_requests};

pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

/// The subset of a Pod the scheduler decodes. Unknown fields are skipped
/// without being built, which makes this several times cheaper than the
/// full typed Pod.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawPod {
    metadata: RawMeta,
    spec: RawSpec,
    status: RawStatus,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawMeta {
    name: String,
    namespace: String,
    uid: String,
    labels: BTreeMap<String, String>,
    creation_timestamp: Option<String>,
    deletion_timestamp: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawSpec {
    node_name: Option<String>,
    scheduler_name: Option<String>,
    priority: Option<i32>,
    preemption_policy: Option<String>,
    containers: Vec<RawContainer>,
    init_containers: Vec<RawContainer>,
    overhead: Option<BTreeMap<String, Quantity>>,
    node_selector: Option<BTreeMap<String, String>>,
    affinity: Option<Affinity>,
    tolerations: Option<Vec<Toleration>>,
    topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
    scheduling_gates: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawContainer {
    resources: Option<RawResources>,
    ports: Option<Vec<ContainerPort>>,
    restart_policy: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawResources {
    requests: Option<BTreeMap<String, Quantity>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawStatus {
    phase: Option<String>,
    nominated_node_name: Option<String>,
    start_time: Option<String>,
    conditions: Option<Vec<RawCondition>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
    reason: Option<String>,
    message: Option<String>,
}

/// A host port a container claims on its node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// "0.0.0.0" when the container did not name an address.
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

impl HostPort {
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == ANY_IP || other.ip == ANY_IP)
    }
}

const ANY_IP: &str = "0.0.0.0";

/// Which namespaces a pod affinity term looks at.
#[derive(Clone, Debug)]
pub struct Namespaces {
    pub names: HashSet<String>,
    /// `namespaceSelector`; an empty selector means every namespace.
    pub selector: Option<Selector>,
}

impl Namespaces {
    pub fn matches(&self, ns: &str, ns_labels: Option<&BTreeMap<String, String>>) -> bool {
        if self.names.contains(ns) {
            return true;
        }
        match (&self.selector, ns_labels) {
            (Some(sel), _) if sel.is_empty() => true,
            (Some(sel), Some(labels)) => sel.matches(labels),
            _ => false,
        }
    }
}

/// A pod (anti-)affinity term, compiled.
#[derive(Clone, Debug)]
pub struct AffinityTerm {
    /// None (a term without labelSelector) selects no pod.
    pub selector: Option<Selector>,
    pub namespaces: Namespaces,
    pub topology_key: String,
    /// Weight of a preferred term; 0 for required ones.
    pub weight: i64,
}

impl AffinityTerm {
    /// Whether `pod` is one of the pods this term selects.
    pub fn matches(&self, pod: &PodInfo, ns_labels: Option<&BTreeMap<String, String>>) -> bool {
        self.selector
            .as_ref()
            .is_some_and(|s| s.matches(&pod.labels))
            && self.namespaces.matches(&pod.namespace, ns_labels)
    }
}

#[derive(Clone, Debug, Default)]
pub struct PodAffinity {
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<AffinityTerm>,
    pub preferred_anti: Vec<AffinityTerm>,
}

impl PodAffinity {
    pub fn is_empty(&self) -> bool {
        self.required_affinity.is_empty()
            && self.required_anti.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti.is_empty()
    }
}

/// A topology spread constraint, compiled.
#[derive(Clone, Debug)]
pub struct SpreadConstraint {
    pub max_skew: i64,
    pub topology_key: String,
    /// `whenUnsatisfiable: DoNotSchedule` (a filter) rather than
    /// `ScheduleAnyway` (a score).
    pub hard: bool,
    /// None matches no pod (a constraint without labelSelector).
    pub selector: Option<Selector>,
    pub min_domains: i64,
    /// `nodeAffinityPolicy: Honor` (the default): only nodes the pod could
    /// go to by nodeSelector/affinity count as domains.
    pub honor_node_affinity: bool,
    /// `nodeTaintsPolicy: Honor` (default Ignore).
    pub honor_taints: bool,
}

impl SpreadConstraint {
    pub fn selects(&self, pod: &PodInfo) -> bool {
        self.selector
            .as_ref()
            .is_some_and(|s| s.matches(&pod.labels))
    }
}

/// The PodScheduled condition as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Condition {
    pub status: String,
    pub reason: String,
    pub message: String,
}

#[derive(Debug)]
pub struct PodInfo {
    /// `namespace/name`.
    pub key: Arc<str>,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    /// Empty while unbound.
    pub node_name: String,
    pub scheduler_name: String,
    pub priority: i32,
    /// `preemptionPolicy: Never`.
    pub never_preempts: bool,
    pub requests: PodRequests,
    pub host_ports: Vec<HostPort>,
    pub node_selector: BTreeMap<String, String>,
    /// `node_selector` as [`crate::node::label_needle`]s.
    pub node_selector_needles: Vec<String>,
    /// Required node affinity: the node must match one term. None = no rule.
    pub required_node_affinity: Option<Vec<NodeSelectorTerm>>,
    pub preferred_node_affinity: Vec<PreferredSchedulingTerm>,
    pub tolerations: Vec<Toleration>,
    pub affinity: Option<Box<PodAffinity>>,
    pub spread: Vec<SpreadConstraint>,
    pub deleting: bool,
    /// `spec.schedulingGates` is not empty: not to be scheduled yet.
    pub gated: bool,
    /// Succeeded or Failed: holds nothing on its node any more.
    pub terminal: bool,
    pub nominated_node: String,
    pub scheduled: Option<Condition>,
    /// When the pod started (or was created), seconds since the epoch; the
    /// preemption tie-breaker prefers evicting the youngest.
    pub started: i64,
    /// Why this pod's scheduling constraints cannot be evaluated (an invalid
    /// selector that validation let through).
    pub invalid: Option<String>,
}

impl PodInfo {
    pub fn is_bound(&self) -> bool {
        !self.node_name.is_empty()
    }

    pub fn has_required_anti_affinity(&self) -> bool {
        self.affinity
            .as_ref()
            .is_some_and(|a| !a.required_anti.is_empty())
    }

    /// Carries terms that existing-pod scoring has to look at.
    pub fn has_affinity_terms(&self) -> bool {
        self.affinity.as_ref().is_some_and(|a| !a.is_empty())
    }

    /// Whether this pod waits for the default scheduler.
    pub fn is_pending_for_us(&self) -> bool {
        !self.is_bound()
            && !self.deleting
            && !self.terminal
            && self.scheduler_name == DEFAULT_SCHEDULER
    }

    /// Whether a change from `self` to `new` could change where the pod
    /// fits (as opposed to a status write such as our own condition).
    pub fn scheduling_changed(&self, new: &PodInfo) -> bool {
        self.labels != new.labels
            || self.requests != new.requests
            || self.host_ports != new.host_ports
            || self.node_selector != new.node_selector
            || self.required_node_affinity != new.required_node_affinity
            || self.preferred_node_affinity != new.preferred_node_affinity
            || self.tolerations != new.tolerations
            || self.invalid != new.invalid
            || self.gated != new.gated
            || self.spread.len() != new.spread.len()
            || self.has_affinity_terms() != new.has_affinity_terms()
    }

    /// Decodes a pod from the watch cache's bytes.
    pub fn decode(bytes: &[u8]) -> Result<PodInfo, serde_json::Error> {
        let raw: RawPod = serde_json::from_slice(bytes)?;
        Ok(PodInfo::from_raw(raw))
    }

    fn from_raw(raw: RawPod) -> PodInfo {
        let RawPod {
            metadata,
            spec,
            status,
        } = raw;
        let mut invalid = None;
        let mut note = |e: String| {
            invalid.get_or_insert(e);
        };
        let container_requests = |cs: &[RawContainer]| -> Vec<ContainerRequests> {
            cs.iter()
                .map(|c| ContainerRequests {
                    requests: c
                        .resources
                        .as_ref()
                        .and_then(|r| r.requests.as_ref())
                        .map(Res::from_list)
                        .unwrap_or_default(),
                    sidecar: c.restart_policy.as_deref() == Some("Always"),
                })
                .collect()
        };
        let requests = pod_requests(
            &container_requests(&spec.containers),
            &container_requests(&spec.init_containers),
            &spec
                .overhead
                .as_ref()
                .map(Res::from_list)
                .unwrap_or_default(),
        );
        let host_ports = spec
            .containers
            .iter()
            .chain(
                spec.init_containers
                    .iter()
                    .filter(|c| c.restart_policy.as_deref() == Some("Always")),
            )
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|p| {
                let port = p.host_port.filter(|p| *p > 0)?;
                Some(HostPort {
                    ip: p
                        .host_ip
                        .clone()
                        .filter(|ip| !ip.is_empty())
                        .unwrap_or_else(|| ANY_IP.to_owned()),
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
                    port,
                })
            })
            .collect();

        let namespace = metadata.namespace;
        let labels = metadata.labels;
        let affinity = spec.affinity.unwrap_or_default();
        let node_aff = affinity.node_affinity.unwrap_or_default();
        let required_node_affinity = node_aff
            .required_during_scheduling_ignored_during_execution
            .map(|s| s.node_selector_terms);
        let preferred_node_affinity = node_aff
            .preferred_during_scheduling_ignored_during_execution
            .unwrap_or_default();

        let mut pod_affinity = PodAffinity::default();
        let mut compile =
            |term: &PodAffinityTerm, weight: i64, out: &mut Vec<AffinityTerm>| match compile_term(
                term, weight, &namespace, &labels,
            ) {
                Ok(t) => out.push(t),
                Err(e) => note(e),
            };
        if let Some(pa) = &affinity.pod_affinity {
            for t in pa
                .required_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
            {
                compile(t, 0, &mut pod_affinity.required_affinity);
            }
            for w in pa
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
            {
                compile(
                    &w.pod_affinity_term,
                    i64::from(w.weight),
                    &mut pod_affinity.preferred_affinity,
                );
            }
        }
        if let Some(pa) = &affinity.pod_anti_affinity {
            for t in pa
                .required_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
            {
                compile(t, 0, &mut pod_affinity.required_anti);
            }
            for w in pa
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
            {
                compile(
                    &w.pod_affinity_term,
                    i64::from(w.weight),
                    &mut pod_affinity.preferred_anti,
                );
            }
        }

        let mut spread = Vec::new();
        for c in spec.topology_spread_constraints.iter().flatten() {
            match compile_spread(c, &labels) {
                Ok(s) => spread.push(s),
                Err(e) => note(e),
            }
        }

        let phase = status.phase.as_deref();
        let scheduled = status
            .conditions
            .into_iter()
            .flatten()
            .find(|c| c.type_ == "PodScheduled")
            .map(|c| Condition {
                status: c.status,
                reason: c.reason.unwrap_or_default(),
                message: c.message.unwrap_or_default(),
            });
        let started = status
            .start_time
            .as_deref()
            .or(metadata.creation_timestamp.as_deref())
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map_or(0, |t| t.as_second());

        PodInfo {
            key: Arc::from(format!("{namespace}/{}", metadata.name)),
            name: metadata.name,
            uid: metadata.uid,
            labels,
            node_name: spec.node_name.unwrap_or_default(),
            scheduler_name: spec
                .scheduler_name
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_SCHEDULER.to_owned()),
            priority: spec.priority.unwrap_or(0),
            never_preempts: spec.preemption_policy.as_deref() == Some("Never"),
            requests,
            host_ports,
            node_selector_needles: spec
                .node_selector
                .iter()
                .flatten()
                .map(|(k, v)| crate::node::label_needle(k, v))
                .collect(),
            node_selector: spec.node_selector.unwrap_or_default(),
            required_node_affinity,
            preferred_node_affinity,
            tolerations: spec.tolerations.unwrap_or_default(),
            affinity: (!pod_affinity.is_empty()).then(|| Box::new(pod_affinity)),
            spread,
            deleting: metadata.deletion_timestamp.is_some(),
            gated: spec
                .scheduling_gates
                .as_ref()
                .is_some_and(|g| !g.is_empty()),
            terminal: matches!(phase, Some("Succeeded" | "Failed")),
            nominated_node: status.nominated_node_name.unwrap_or_default(),
            scheduled,
            started,
            invalid,
            namespace,
        }
    }
}

fn selector_of(sel: &LabelSelector, field: &str) -> Result<Selector, String> {
    let value = serde_json::to_value(sel).map_err(|e| format!("{field}: {e}"))?;
    Selector::from_label_selector(&value).map_err(|e| format!("invalid {field}: {e}"))
}

/// `matchLabelKeys` and `mismatchLabelKeys` copy the incoming pod's own
/// label values into the selector (`key in (v)` / `key notin (v)`).
fn with_label_keys(
    mut sel: Selector,
    keys: Option<&Vec<String>>,
    op: Operator,
    labels: &BTreeMap<String, String>,
    field: &str,
) -> Result<Selector, String> {
    for key in keys.into_iter().flatten() {
        if let Some(v) = labels.get(key) {
            let req = Requirement::new(key.as_str(), op, [v.as_str()])
                .map_err(|e| format!("invalid {field}: {e}"))?;
            sel = sel.and(req);
        }
    }
    Ok(sel)
}

fn compile_term(
    term: &PodAffinityTerm,
    weight: i64,
    own_namespace: &str,
    own_labels: &BTreeMap<String, String>,
) -> Result<AffinityTerm, String> {
    let selector = term
        .label_selector
        .as_ref()
        .map(|s| {
            let sel = selector_of(s, "pod affinity labelSelector")?;
            let sel = with_label_keys(
                sel,
                term.match_label_keys.as_ref(),
                Operator::In,
                own_labels,
                "matchLabelKeys",
            )?;
            with_label_keys(
                sel,
                term.mismatch_label_keys.as_ref(),
                Operator::NotIn,
                own_labels,
                "mismatchLabelKeys",
            )
        })
        .transpose()?;
    let ns_selector = term
        .namespace_selector
        .as_ref()
        .map(|s| selector_of(s, "pod affinity namespaceSelector"))
        .transpose()?;
    let mut names: HashSet<String> = term.namespaces.iter().flatten().cloned().collect();
    if names.is_empty() && ns_selector.is_none() {
        names.insert(own_namespace.to_owned());
    }
    if term.topology_key.is_empty() {
        return Err("pod affinity term has an empty topologyKey".into());
    }
    Ok(AffinityTerm {
        selector,
        namespaces: Namespaces {
            names,
            selector: ns_selector,
        },
        topology_key: term.topology_key.clone(),
        weight,
    })
}

fn compile_spread(
    c: &TopologySpreadConstraint,
    own_labels: &BTreeMap<String, String>,
) -> Result<SpreadConstraint, String> {
    let selector = c
        .label_selector
        .as_ref()
        .map(|s| {
            selector_of(s, "topologySpreadConstraints labelSelector").and_then(|sel| {
                with_label_keys(
                    sel,
                    c.match_label_keys.as_ref(),
                    Operator::In,
                    own_labels,
                    "matchLabelKeys",
                )
            })
        })
        .transpose()?;
    if c.max_skew <= 0 {
        return Err(format!(
            "topology spread constraint maxSkew must be positive, got {}",
            c.max_skew
        ));
    }
    Ok(SpreadConstraint {
        max_skew: i64::from(c.max_skew),
        topology_key: c.topology_key.clone(),
        hard: c.when_unsatisfiable != "ScheduleAnyway",
        selector,
        min_domains: i64::from(c.min_domains.unwrap_or(1).max(1)),
        honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
        honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A pod from a JSON spec, for the plugin tests.
    pub fn pod(name: &str, spec: Value) -> PodInfo {
        pod_with(name, json!({}), spec)
    }

    pub fn pod_with(name: &str, meta: Value, spec: Value) -> PodInfo {
        let mut m = json!({"name": name, "namespace": "default", "uid": format!("uid-{name}")});
        if let (Some(m), Some(extra)) = (m.as_object_mut(), meta.as_object()) {
            for (k, v) in extra {
                m.insert(k.clone(), v.clone());
            }
        }
        let v = json!({"metadata": m, "spec": spec});
        PodInfo::decode(&serde_json::to_vec(&v).expect("json")).expect("decodes")
    }

    #[test]
    fn decodes_requests_ports_and_priority() {
        let p = pod(
            "a",
            json!({
                "priority": 100,
                "preemptionPolicy": "Never",
                "containers": [{
                    "name": "c", "image": "x",
                    "resources": {"requests": {"cpu": "250m", "memory": "64Mi", "nvidia.com/gpu": "1"}},
                    "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}]
                }]
            }),
        );
        assert_eq!(p.key.as_ref(), "default/a");
        assert_eq!(p.priority, 100);
        assert!(p.never_preempts);
        assert_eq!(p.requests.res.milli_cpu, 250);
        assert_eq!(p.requests.res.scalar("nvidia.com/gpu"), 1);
        assert_eq!(
            p.host_ports,
            vec![HostPort {
                ip: "0.0.0.0".into(),
                protocol: "TCP".into(),
                port: 8080
            }]
        );
        assert!(p.is_pending_for_us());
        assert!(p.invalid.is_none());
    }

    #[test]
    fn scheduling_gates_are_seen() {
        let p = pod(
            "a",
            json!({"containers": [], "schedulingGates": [{"name": "x"}]}),
        );
        assert!(p.gated);
        let q = pod("a", json!({"containers": [], "schedulingGates": []}));
        assert!(!q.gated);
        assert!(
            p.scheduling_changed(&q),
            "removing the gates releases the pod"
        );
    }

    #[test]
    fn other_schedulers_and_bound_pods_are_not_ours() {
        assert!(!pod("a", json!({"schedulerName": "other", "containers": []})).is_pending_for_us());
        assert!(!pod("a", json!({"nodeName": "n1", "containers": []})).is_pending_for_us());
    }

    #[test]
    fn invalid_selectors_are_reported_not_fatal() {
        let p = pod(
            "a",
            json!({"containers": [], "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchExpressions": [{"key": "app", "operator": "Bogus"}]}}
            ]}}}),
        );
        assert!(
            p.invalid
                .as_deref()
                .is_some_and(|e| e.contains("labelSelector")),
            "{:?}",
            p.invalid
        );
    }

    #[test]
    fn affinity_terms_default_to_the_pods_namespace() {
        let p = pod_with(
            "a",
            json!({"labels": {"app": "web"}}),
            json!({"containers": [], "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": "zone", "labelSelector": {"matchLabels": {"app": "web"}}, "matchLabelKeys": ["app"]}
            ]}}}),
        );
        let a = p.affinity.as_ref().expect("affinity");
        let t = &a.required_affinity[0];
        assert!(t.namespaces.matches("default", None));
        assert!(!t.namespaces.matches("other", None));
        assert!(t.matches(&p, None));
    }
}
