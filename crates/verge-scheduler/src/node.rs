//! What the scheduler knows of a node: its scheduling-relevant fields,
//! decoded once per change, and the running sums of the pods on it,
//! maintained incrementally as pods come and go.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::Deserialize;

use crate::plugins::PluginSet;
use crate::pod::{HostPort, PodInfo};
use crate::resources::Res;

pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Node conditions that mean "do not put new pods here", with the taint
/// the node lifecycle controller gives a node in that condition
/// (TaintNodesByCondition). The scheduler applies them itself as well, so a
/// node is never chosen in the window before the taint is written, nor when
/// no lifecycle controller runs.
const CONDITION_TAINTS: &[(&str, &str)] = &[
    ("MemoryPressure", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "node.kubernetes.io/pid-pressure"),
    (
        "NetworkUnavailable",
        "node.kubernetes.io/network-unavailable",
    ),
];

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawNode {
    metadata: RawMeta,
    spec: RawSpec,
    status: RawStatus,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMeta {
    name: String,
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawSpec {
    unschedulable: bool,
    taints: Vec<Taint>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawStatus {
    allocatable: Option<BTreeMap<String, Quantity>>,
    capacity: Option<BTreeMap<String, Quantity>>,
    conditions: Vec<RawCondition>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
}

/// The scheduling-relevant part of a Node object.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    pub labels: BTreeMap<String, String>,
    /// The node's taints plus those its conditions imply.
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub allocatable: Res,
    /// The labels as `\0key=value\0key=value\0`: one contiguous string,
    /// so a nodeSelector is checked without chasing the map's pointers
    /// (this check runs for hundreds of nodes per pod). Neither keys nor
    /// values can contain `=` or NUL.
    pub label_index: String,
}

/// The `label_index` form of one label.
pub fn label_needle(key: &str, value: &str) -> String {
    format!("\0{key}={value}\0")
}

fn label_index(labels: &BTreeMap<String, String>) -> String {
    let mut s = String::from("\0");
    for (k, v) in labels {
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push('\0');
    }
    s
}

impl NodeSpec {
    /// Decodes a Node from the watch cache's bytes; returns its name too.
    pub fn decode(bytes: &[u8]) -> Result<(String, NodeSpec), serde_json::Error> {
        let raw: RawNode = serde_json::from_slice(bytes)?;
        let allocatable = raw
            .status
            .allocatable
            .as_ref()
            .or(raw.status.capacity.as_ref())
            .map(Res::from_list)
            .unwrap_or_default();
        let mut taints = raw.spec.taints;
        let status_of = |t: &str| {
            raw.status
                .conditions
                .iter()
                .find(|c| c.type_ == t)
                .map(|c| c.status.as_str())
        };
        let mut implied = Vec::new();
        match status_of("Ready") {
            Some("True") => {}
            Some("Unknown") => implied.push(UNREACHABLE),
            // False, or a node that has not reported yet (kubelet registers
            // its node with the not-ready taint).
            _ => implied.push(NOT_READY),
        }
        for (cond, key) in CONDITION_TAINTS {
            if status_of(cond) == Some("True") {
                implied.push(key);
            }
        }
        for key in implied {
            if !taints
                .iter()
                .any(|t| t.key == key && t.effect == "NoSchedule")
            {
                taints.push(Taint {
                    key: key.to_owned(),
                    effect: "NoSchedule".to_owned(),
                    value: None,
                    time_added: None,
                });
            }
        }
        Ok((
            raw.metadata.name,
            NodeSpec {
                label_index: label_index(&raw.metadata.labels),
                labels: raw.metadata.labels,
                taints,
                unschedulable: raw.spec.unschedulable,
                allocatable,
            },
        ))
    }

    /// Whether the node has the label of a [`label_needle`].
    pub fn has_label(&self, needle: &str) -> bool {
        self.label_index.contains(needle)
    }

    /// Which filters a change from `self` to `new` can turn from "no" to
    /// "yes": the pods they rejected are worth another attempt. Heartbeats
    /// change nothing here, so they wake no one.
    pub fn changes(&self, new: &NodeSpec) -> PluginSet {
        let mut set = PluginSet::EMPTY;
        if self.labels != new.labels {
            set = set
                .with(crate::plugins::Plugin::NodeAffinity)
                .with(crate::plugins::Plugin::PodTopologySpread)
                .with(crate::plugins::Plugin::InterPodAffinity);
        }
        if self.taints != new.taints {
            set = set.with(crate::plugins::Plugin::TaintToleration);
        }
        if self.unschedulable != new.unschedulable {
            set = set.with(crate::plugins::Plugin::NodeUnschedulable);
        }
        if self.allocatable != new.allocatable {
            set = set.with(crate::plugins::Plugin::NodeResourcesFit);
        }
        set
    }
}

/// A node and the pods on it (bound, or assumed while their binding is
/// written). A node that has pods but no Node object yet (the pod's watch
/// event came first) has `spec: None` and is never a candidate.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: Arc<str>,
    pub spec: Option<NodeSpec>,
    pub pods: HashMap<Arc<str>, Arc<PodInfo>>,
    /// Sum of the pods' requests.
    pub requested: Res,
    pub non_zero_cpu: i64,
    pub non_zero_memory: i64,
    pub ports: Vec<HostPort>,
    /// Pods here with required pod anti-affinity terms.
    pub pods_with_required_anti: usize,
    /// Pods here with any pod (anti-)affinity terms.
    pub pods_with_affinity: usize,
}

impl NodeInfo {
    pub fn new(name: Arc<str>) -> NodeInfo {
        NodeInfo {
            name,
            spec: None,
            pods: HashMap::new(),
            requested: Res::default(),
            non_zero_cpu: 0,
            non_zero_memory: 0,
            ports: Vec::new(),
            pods_with_required_anti: 0,
            pods_with_affinity: 0,
        }
    }

    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.spec.as_ref().map(|s| &s.labels)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels()?.get(key).map(String::as_str)
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        if let Some(old) = self.pods.get(&pod.key).cloned() {
            self.account(&old, -1);
        }
        self.account(&pod, 1);
        self.pods.insert(pod.key.clone(), pod);
    }

    pub fn remove_pod(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        let pod = self.pods.remove(key)?;
        self.account(&pod, -1);
        Some(pod)
    }

    fn account(&mut self, pod: &PodInfo, sign: i64) {
        if sign > 0 {
            self.requested.add(&pod.requests.res);
            self.ports.extend(pod.host_ports.iter().cloned());
        } else {
            self.requested.sub(&pod.requests.res);
            for p in &pod.host_ports {
                if let Some(i) = self.ports.iter().position(|q| q == p) {
                    self.ports.swap_remove(i);
                }
            }
        }
        self.non_zero_cpu += sign * pod.requests.non_zero_cpu;
        self.non_zero_memory += sign * pod.requests.non_zero_memory;
        let delta = |n: &mut usize, yes: bool| {
            if yes {
                *n = n.saturating_add_signed(sign as isize);
            }
        };
        delta(
            &mut self.pods_with_required_anti,
            pod.has_required_anti_affinity(),
        );
        delta(&mut self.pods_with_affinity, pod.has_affinity_terms());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A Ready node with 4 CPUs, 8 GiB and 110 pods unless `status` says otherwise.
    pub fn node(name: &str, labels: Value, spec: Value) -> NodeInfo {
        node_with_status(
            name,
            labels,
            spec,
            json!({
                "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}]
            }),
        )
    }

    pub fn node_with_status(name: &str, labels: Value, spec: Value, status: Value) -> NodeInfo {
        let v =
            json!({"metadata": {"name": name, "labels": labels}, "spec": spec, "status": status});
        let (n, spec) = NodeSpec::decode(&serde_json::to_vec(&v).expect("json")).expect("decodes");
        let mut info = NodeInfo::new(Arc::from(n));
        info.spec = Some(spec);
        info
    }

    #[test]
    fn not_ready_and_pressure_conditions_imply_taints() {
        let n = node_with_status(
            "n",
            json!({}),
            json!({}),
            json!({"conditions": [{"type": "Ready", "status": "Unknown"}, {"type": "DiskPressure", "status": "True"}]}),
        );
        let keys: Vec<&str> = n
            .spec
            .as_ref()
            .expect("spec")
            .taints
            .iter()
            .map(|t| t.key.as_str())
            .collect();
        assert_eq!(keys, vec![UNREACHABLE, "node.kubernetes.io/disk-pressure"]);
        let fresh = node_with_status("n", json!({}), json!({}), json!({}));
        assert_eq!(fresh.spec.as_ref().expect("spec").taints[0].key, NOT_READY);
        let ready = node("n", json!({}), json!({}));
        assert!(ready.spec.as_ref().expect("spec").taints.is_empty());
    }

    #[test]
    fn capacity_stands_in_for_missing_allocatable() {
        let n = node_with_status(
            "n",
            json!({}),
            json!({}),
            json!({"capacity": {"cpu": "2", "pods": "10"}, "conditions": [{"type": "Ready", "status": "True"}]}),
        );
        let a = &n.spec.as_ref().expect("spec").allocatable;
        assert_eq!((a.milli_cpu, a.pods), (2000, 10));
    }

    #[test]
    fn heartbeats_change_nothing_that_matters() {
        let a = node("n", json!({"zone": "a"}), json!({}));
        let b = node("n", json!({"zone": "a"}), json!({}));
        let sa = a.spec.as_ref().expect("spec");
        assert!(sa.changes(b.spec.as_ref().expect("spec")).is_empty());
        let c = node("n", json!({"zone": "b"}), json!({"unschedulable": true}));
        let set = sa.changes(c.spec.as_ref().expect("spec"));
        assert!(set.contains(crate::plugins::Plugin::NodeAffinity));
        assert!(set.contains(crate::plugins::Plugin::NodeUnschedulable));
        assert!(!set.contains(crate::plugins::Plugin::NodeResourcesFit));
    }

    #[test]
    fn pods_add_and_remove_their_requests_and_ports() {
        let mut n = node("n", json!({}), json!({}));
        let p = Arc::new(crate::pod::tests::pod(
            "p",
            json!({"containers": [{"name": "c", "image": "i",
                "resources": {"requests": {"cpu": "1"}},
                "ports": [{"containerPort": 80, "hostPort": 80}]}]}),
        ));
        n.add_pod(p.clone());
        n.add_pod(p.clone());
        assert_eq!(n.requested.milli_cpu, 1000, "re-adding replaces");
        assert_eq!(n.ports.len(), 1);
        n.remove_pod(&p.key);
        assert_eq!(n.requested.milli_cpu, 0);
        assert!(n.ports.is_empty());
        assert_eq!(n.non_zero_cpu, 0);
    }
}
