//! The objects a hollow node writes about itself: its Node (with status, as
//! kubelet reports it) and its Lease.

use std::net::Ipv4Addr;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints,
    NodeSpec as KubeNodeSpec, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use crate::config::NodeSpec;

/// `status.nodeInfo.kubeletVersion` of every hollow node.
pub const KUBELET_VERSION: &str = "v1.32.0-verge-hollow";
/// `status.nodeInfo.containerRuntimeVersion` of every hollow node.
pub const RUNTIME_VERSION: &str = "hollow://1";
/// Namespace of node Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// The conditions a node reports, with the values kubelet uses when all is
/// well: (type, status, reason, message).
const CONDITIONS: [(&str, &str, &str, &str); 4] = [
    (
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    (
        "DiskPressure",
        "False",
        "KubeletHasNoDiskPressure",
        "kubelet has no disk pressure",
    ),
    (
        "PIDPressure",
        "False",
        "KubeletHasSufficientPID",
        "kubelet has sufficient PID available",
    ),
    (
        "Ready",
        "True",
        "KubeletReady",
        "kubelet is posting ready status",
    ),
];

/// A condition as the API last showed it: enough to keep its
/// `lastTransitionTime` when its status does not change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observed {
    pub type_: String,
    pub status: String,
    pub last_transition: Option<Timestamp>,
}

/// The observed conditions of one object (only the types the fleet writes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ObservedConditions(pub Vec<Observed>);

impl ObservedConditions {
    pub(crate) fn new<'a>(
        items: impl IntoIterator<Item = (&'a str, &'a str, Option<&'a Time>)>,
    ) -> Self {
        ObservedConditions(
            items
                .into_iter()
                .map(|(t, s, ltt)| Observed {
                    type_: t.to_owned(),
                    status: s.to_owned(),
                    last_transition: ltt.map(|t| t.0),
                })
                .collect(),
        )
    }

    pub(crate) fn from_node(node: &Node) -> Self {
        let conds = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default();
        Self::new(
            conds
                .iter()
                .filter(|c| CONDITIONS.iter().any(|(t, ..)| *t == c.type_))
                .map(|c| {
                    (
                        c.type_.as_str(),
                        c.status.as_str(),
                        c.last_transition_time.as_ref(),
                    )
                }),
        )
    }

    pub(crate) fn get(&self, type_: &str) -> Option<&Observed> {
        self.0.iter().find(|o| o.type_ == type_)
    }

    /// The status of the Ready condition, if the object has one.
    pub(crate) fn ready(&self) -> Option<&str> {
        self.get("Ready").map(|o| o.status.as_str())
    }

    /// `lastTransitionTime` for a condition now set to `status`: the observed
    /// one if the status is unchanged, else `now`.
    pub(crate) fn transition(&self, type_: &str, status: &str, now: Timestamp) -> Option<Time> {
        match self.get(type_) {
            Some(o) if o.status == status => o.last_transition.map(Time),
            _ => Some(Time(now)),
        }
    }
}

/// Truncates to whole seconds (what `metav1.Time` carries).
pub(crate) fn seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// Where a node lives on the network, and its stable identifiers.
#[derive(Debug, Clone)]
pub(crate) struct NodeAddressing {
    pub ip: Ipv4Addr,
    pub pod_cidr: String,
    /// Stable per node name: `machineID` and `systemUUID`.
    pub machine_id: String,
    /// New each time the fleet starts the node.
    pub boot_id: String,
}

/// The status a node reports now.
pub(crate) fn node_status(
    spec: &NodeSpec,
    addr: &NodeAddressing,
    observed: &ObservedConditions,
    now: Timestamp,
) -> NodeStatus {
    let now = seconds(now);
    let conditions = CONDITIONS
        .iter()
        .map(|(t, s, reason, message)| NodeCondition {
            type_: (*t).to_owned(),
            status: (*s).to_owned(),
            reason: Some((*reason).to_owned()),
            message: Some((*message).to_owned()),
            last_heartbeat_time: Some(Time(now)),
            last_transition_time: observed.transition(t, s, now),
        })
        .collect();
    NodeStatus {
        capacity: Some(spec.capacity.clone()),
        allocatable: Some(
            spec.allocatable
                .clone()
                .unwrap_or_else(|| spec.capacity.clone()),
        ),
        conditions: Some(conditions),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".to_owned(),
                address: addr.ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".to_owned(),
                address: spec.name.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint { port: 10250 }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: spec.arch().to_owned(),
            boot_id: addr.boot_id.clone(),
            container_runtime_version: RUNTIME_VERSION.to_owned(),
            kernel_version: "6.1.0-hollow".to_owned(),
            kube_proxy_version: String::new(),
            kubelet_version: KUBELET_VERSION.to_owned(),
            machine_id: addr.machine_id.clone(),
            operating_system: spec.os().to_owned(),
            os_image: "Verge hollow node".to_owned(),
            system_uuid: addr.machine_id.clone(),
            swap: None,
        }),
        ..NodeStatus::default()
    }
}

/// The Node a hollow node registers, with its status.
pub(crate) fn node_object(spec: &NodeSpec, addr: &NodeAddressing, status: NodeStatus) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(spec.name.clone()),
            labels: Some(spec.labels.clone()),
            annotations: (!spec.annotations.is_empty()).then(|| spec.annotations.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(KubeNodeSpec {
            pod_cidr: Some(addr.pod_cidr.clone()),
            pod_cidrs: Some(vec![addr.pod_cidr.clone()]),
            provider_id: Some(format!("hollow://{}", spec.name)),
            taints: (!spec.taints.is_empty()).then(|| spec.taints.clone()),
            unschedulable: spec.unschedulable.then_some(true),
            ..KubeNodeSpec::default()
        }),
        status: Some(status),
    }
}

/// Does an existing Node lack some of this node's labels or annotations?
pub(crate) fn needs_takeover_patch(existing: &Node, spec: &NodeSpec) -> bool {
    let has = |have: Option<&std::collections::BTreeMap<String, String>>,
               want: &std::collections::BTreeMap<String, String>| {
        want.iter()
            .all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v))
    };
    !has(existing.metadata.labels.as_ref(), &spec.labels)
        || !has(existing.metadata.annotations.as_ref(), &spec.annotations)
}

/// A merge patch that gives an existing Node (taken over from an earlier
/// run) this node's labels and annotations. Spec fields stay as they are:
/// someone may have cordoned or tainted the node.
pub(crate) fn node_takeover_patch(spec: &NodeSpec) -> Value {
    json!({"metadata": {"labels": spec.labels, "annotations": spec.annotations}})
}

/// A new Lease for a node, owned by its Node as kubelet's are.
pub(crate) fn lease_object(
    node: &str,
    node_uid: Option<&str>,
    duration_seconds: i32,
    now: Timestamp,
) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(node.to_owned()),
            namespace: Some(LEASE_NAMESPACE.to_owned()),
            owner_references: node_uid.map(|uid| {
                vec![OwnerReference {
                    api_version: "v1".to_owned(),
                    kind: "Node".to_owned(),
                    name: node.to_owned(),
                    uid: uid.to_owned(),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.to_owned()),
            lease_duration_seconds: Some(duration_seconds),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            ..LeaseSpec::default()
        }),
    }
}

/// The merge patch that renews a node's Lease.
pub(crate) fn lease_renewal(node: &str, duration_seconds: i32, now: Timestamp) -> Value {
    json!({"spec": {
        "holderIdentity": node,
        "leaseDurationSeconds": duration_seconds,
        "renewTime": MicroTime(now),
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addressing() -> NodeAddressing {
        NodeAddressing {
            ip: Ipv4Addr::new(10, 64, 0, 1),
            pod_cidr: "10.128.0.0/24".to_owned(),
            machine_id: "m".to_owned(),
            boot_id: "b".to_owned(),
        }
    }

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn status_reports_ready_with_capacity_and_info() {
        let spec = NodeSpec::new("n1").capacity("nvidia.com/gpu", "1");
        let s = node_status(
            &spec,
            &addressing(),
            &ObservedConditions::default(),
            ts(1000),
        );
        let conds = s.conditions.as_deref().unwrap_or_default();
        let types: Vec<_> = conds.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            types,
            ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        );
        let ready = &conds[3];
        assert_eq!(ready.status, "True");
        assert_eq!(ready.last_heartbeat_time, Some(Time(ts(1000))));
        assert_eq!(ready.last_transition_time, Some(Time(ts(1000))));
        assert!(conds[..3].iter().all(|c| c.status == "False"));
        assert_eq!(
            s.capacity.as_ref().and_then(|c| c.get("nvidia.com/gpu")),
            Some(&Quantity("1".into()))
        );
        assert_eq!(s.allocatable, s.capacity);
        let info = s.node_info.as_ref().map(|i| i.kubelet_version.as_str());
        assert_eq!(info, Some(KUBELET_VERSION));
        let addrs = s.addresses.unwrap_or_default();
        assert_eq!(addrs[0].type_, "InternalIP");
        assert_eq!(addrs[0].address, "10.64.0.1");
        assert_eq!(addrs[1].address, "n1");
    }

    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    #[test]
    fn heartbeats_keep_transition_times_and_recover_from_unknown() {
        let spec = NodeSpec::new("n1");
        let t0 = Time(ts(100));
        let observed = ObservedConditions::new([
            ("Ready", "True", Some(&t0)),
            ("MemoryPressure", "False", Some(&t0)),
        ]);
        let s = node_status(&spec, &addressing(), &observed, ts(200));
        let conds = s.conditions.unwrap_or_default();
        let ready = conds.iter().find(|c| c.type_ == "Ready").cloned();
        let ready = ready.unwrap_or_else(|| panic!("no Ready"));
        assert_eq!(ready.last_transition_time, Some(t0.clone()));
        assert_eq!(ready.last_heartbeat_time, Some(Time(ts(200))));

        // A node lifecycle controller marked it Unknown: back to True, now.
        let observed = ObservedConditions::new([("Ready", "Unknown", Some(&t0))]);
        assert_eq!(observed.ready(), Some("Unknown"));
        let s = node_status(&spec, &addressing(), &observed, ts(300));
        let conds = s.conditions.unwrap_or_default();
        let ready = conds.iter().find(|c| c.type_ == "Ready");
        assert_eq!(ready.map(|c| c.status.as_str()), Some("True"));
        assert_eq!(
            ready.and_then(|c| c.last_transition_time.clone()),
            Some(Time(ts(300)))
        );
    }

    #[test]
    fn node_object_carries_spec() {
        let spec = NodeSpec::new("n1")
            .taint("k", None, "NoSchedule")
            .unschedulable(true);
        let n = node_object(&spec, &addressing(), NodeStatus::default());
        let s = n.spec.unwrap_or_default();
        assert_eq!(s.pod_cidr.as_deref(), Some("10.128.0.0/24"));
        assert_eq!(s.unschedulable, Some(true));
        assert_eq!(s.taints.map(|t| t.len()), Some(1));
        assert_eq!(
            n.metadata
                .labels
                .and_then(|l| l.get("kubernetes.io/hostname").cloned()),
            Some("n1".to_owned())
        );
    }

    #[test]
    fn takeover_patches_only_missing_metadata() {
        let spec = NodeSpec::new("n1");
        let mut existing = node_object(&spec, &addressing(), NodeStatus::default());
        assert!(!needs_takeover_patch(&existing, &spec));
        existing
            .metadata
            .labels
            .get_or_insert_default()
            .insert("extra".into(), "kept".into());
        assert!(!needs_takeover_patch(&existing, &spec));
        assert!(needs_takeover_patch(
            &existing,
            &spec.clone().label("zone", "a")
        ));
        let p = node_takeover_patch(&spec.label("zone", "a"));
        assert_eq!(p["metadata"]["labels"]["zone"], "a");
    }

    #[test]
    fn leases_look_like_kubelets() {
        let now =
            Timestamp::from_microsecond(1_700_000_000_123_456).unwrap_or(Timestamp::UNIX_EPOCH);
        let l = lease_object("n1", Some("uid-1"), 40, now);
        let v = serde_json::to_value(&l).unwrap_or_default();
        assert_eq!(v["metadata"]["namespace"], LEASE_NAMESPACE);
        assert_eq!(v["metadata"]["ownerReferences"][0]["kind"], "Node");
        assert_eq!(v["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(v["spec"]["holderIdentity"], "n1");
        assert_eq!(v["spec"]["leaseDurationSeconds"], 40);
        assert_eq!(v["spec"]["renewTime"], "2023-11-14T22:13:20.123456Z");
        let p = lease_renewal("n1", 40, now);
        assert_eq!(p["spec"]["renewTime"], "2023-11-14T22:13:20.123456Z");
    }
}
