//! Nodes, namespaces, events, leases, priority classes and
//! CustomResourceDefinitions.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::Value;

use super::util::{AGE, CREATION_DESC, Col, NAME, NAME_DESC, Obj, col, since, wide};
use super::{Builtin, no_conditions};

pub(super) static NODES: Builtin = Builtin {
    columns: &[
        NAME,
        col("Status", "string", "The status of the node"),
        col("Roles", "string", "The roles of the node"),
        AGE,
        col("Version", "string", "Kubelet Version reported by the node."),
        wide(
            "Internal-IP",
            "string",
            "List of addresses reachable to the node. Queried from cloud provider, if available.",
        ),
        wide(
            "External-IP",
            "string",
            "List of addresses reachable to the node. Queried from cloud provider, if available.",
        ),
        wide(
            "OS-Image",
            "string",
            "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        ),
        wide(
            "Kernel-Version",
            "string",
            "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        ),
        wide(
            "Container-Runtime",
            "string",
            "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        ),
    ] as &[Col],
    cells: node_cells,
    conditions: no_conditions,
};

fn node_cells(o: Obj<'_>, now: Timestamp) -> Vec<Value> {
    // Kubernetes collects conditions in a map by type, so the last Ready wins.
    let ready = o
        .list(&["status", "conditions"])
        .iter()
        .map(Obj)
        .rfind(|c| c.str(&["type"]) == "Ready");
    let mut status: Vec<&str> = match ready {
        Some(c) if c.str(&["status"]) == "True" => vec!["Ready"],
        Some(_) => vec!["NotReady"],
        None => vec!["Unknown"],
    };
    if o.bool(&["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    let mut roles = BTreeSet::new();
    for (k, v) in o.map(&["metadata", "labels"]).into_iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role);
            }
        } else if k == "kubernetes.io/role"
            && let Some(v) = v.as_str().filter(|v| !v.is_empty())
        {
            roles.insert(v);
        }
    }
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    };
    let address = |ty: &str| {
        o.list(&["status", "addresses"])
            .iter()
            .map(Obj)
            .find(|a| a.str(&["type"]) == ty)
            .map_or("<none>", |a| a.str(&["address"]))
    };
    let info = o.at(&["status", "nodeInfo"]);
    let known = |field: &str| match info.str(&[field]) {
        "" => "<unknown>",
        s => s,
    };
    vec![
        o.name().into(),
        status.join(",").into(),
        roles.into(),
        o.age(now).into(),
        info.str(&["kubeletVersion"]).into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        known("osImage").into(),
        known("kernelVersion").into(),
        known("containerRuntimeVersion").into(),
    ]
}

pub(super) static NAMESPACES: Builtin = Builtin {
    columns: &[
        NAME,
        col("Status", "string", "The status of the namespace"),
        AGE,
    ] as &[Col],
    cells: |o, now| {
        vec![
            o.name().into(),
            o.str(&["status", "phase"]).into(),
            o.age(now).into(),
        ]
    },
    conditions: no_conditions,
};

pub(super) static EVENTS: Builtin = Builtin {
    columns: &[
        col(
            "Last Seen",
            "string",
            "The time at which the most recent occurrence of this event was recorded.",
        ),
        col(
            "Type",
            "string",
            "Type of this event (Normal, Warning), new types could be added in the future",
        ),
        col(
            "Reason",
            "string",
            "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
        ),
        col("Object", "string", "The object that this event is about."),
        wide(
            "Subobject",
            "string",
            "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
        ),
        wide(
            "Source",
            "string",
            "The component reporting this event. Should be a short machine understandable string.",
        ),
        col(
            "Message",
            "string",
            "A human-readable description of the status of this operation.",
        ),
        wide(
            "First Seen",
            "string",
            "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        ),
        wide(
            "Count",
            "string",
            "The number of times this event has occurred.",
        ),
        Col {
            name: "Name",
            ty: "string",
            format: "name",
            priority: 1,
            description: NAME_DESC,
        },
    ] as &[Col],
    cells: event_cells,
    conditions: no_conditions,
};

fn event_cells(o: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let first = match o.time(&["firstTimestamp"]) {
        Some(t) => since(Some(t), now),
        None => since(o.time(&["eventTime"]), now),
    };
    let mut last = match o.time(&["lastTimestamp"]) {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = o.i64(&["count"]);
    if o.has(&["series"]) {
        last = since(o.time(&["series", "lastObservedTime"]), now);
        count = o.i64(&["series", "count"]);
    } else if count == 0 {
        // Singleton events of the events.k8s.io API have no count.
        count = 1;
    }
    let kind = o.str(&["involvedObject", "kind"]).to_lowercase();
    let target = match o.str(&["involvedObject", "name"]) {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let component = first_non_empty(
        o.str(&["source", "component"]),
        o.str(&["reportingComponent"]),
    );
    let instance = first_non_empty(o.str(&["source", "host"]), o.str(&["reportingInstance"]));
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        last.into(),
        o.str(&["type"]).into(),
        o.str(&["reason"]).into(),
        target.into(),
        o.str(&["involvedObject", "fieldPath"]).into(),
        source.into(),
        o.str(&["message"]).trim().into(),
        first.into(),
        count.into(),
        o.name().into(),
    ]
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

pub(super) static LEASES: Builtin = Builtin {
    columns: &[
        NAME,
        col(
            "Holder",
            "string",
            "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.",
        ),
        AGE,
    ] as &[Col],
    cells: |o, now| {
        vec![
            o.name().into(),
            o.str(&["spec", "holderIdentity"]).into(),
            o.age(now).into(),
        ]
    },
    conditions: no_conditions,
};

pub(super) static PRIORITY_CLASSES: Builtin = Builtin {
    columns: &[
        NAME,
        col(
            "Value",
            "integer",
            "value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.",
        ),
        col(
            "Global-Default",
            "boolean",
            "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority.",
        ),
        AGE,
        col(
            "PreemptionPolicy",
            "string",
            "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.",
        ),
    ] as &[Col],
    cells: |o, now| {
        vec![
            o.name().into(),
            o.i64(&["value"]).into(),
            o.bool(&["globalDefault"]).into(),
            o.age(now).into(),
            o.str(&["preemptionPolicy"]).into(),
        ]
    },
    conditions: no_conditions,
};

/// CRDs have no printer of their own in Kubernetes: they get the default
/// table, whose second column is the creation time in RFC 3339.
pub(super) static CUSTOM_RESOURCE_DEFINITIONS: Builtin = Builtin {
    columns: &[NAME, col("Created At", "date", CREATION_DESC)] as &[Col],
    cells: |o, _now| {
        let created = o
            .time(&["metadata", "creationTimestamp"])
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
        vec![o.name().into(), created.into()]
    },
    conditions: no_conditions,
};

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use serde_json::{Value, json};

    fn node(labels: Value, conditions: Value, unschedulable: bool) -> Value {
        json!({
            "metadata": {"name": "node1", "labels": labels, "creationTimestamp": ago(45 * 86400)},
            "spec": {"unschedulable": unschedulable},
            "status": {
                "conditions": conditions,
                "addresses": [
                    {"type": "Hostname", "address": "node1"},
                    {"type": "InternalIP", "address": "192.168.1.10"},
                    {"type": "InternalIP", "address": "fd00::10"}
                ],
                "nodeInfo": {
                    "kubeletVersion": "v1.32.1+verge",
                    "osImage": "Ubuntu 24.04.1 LTS",
                    "kernelVersion": "6.8.0-51-generic",
                    "containerRuntimeVersion": "containerd://1.7.24"
                }
            }
        })
    }

    fn ready(status: &str) -> Value {
        json!([
            {"type": "MemoryPressure", "status": "False"},
            {"type": "Ready", "status": status, "reason": "KubeletReady"}
        ])
    }

    #[test]
    fn nodes() {
        let rt = builtin("", "nodes");
        assert_eq!(
            headers(&rt),
            [
                "Name",
                "Status",
                "Roles",
                "Age",
                "Version",
                "Internal-IP*",
                "External-IP*",
                "OS-Image*",
                "Kernel-Version*",
                "Container-Runtime*"
            ]
        );
        let n = node(
            json!({
                "kubernetes.io/hostname": "node1",
                "node-role.kubernetes.io/control-plane": "",
                "node-role.kubernetes.io/etcd": "true",
                "node-role.kubernetes.io/": "",
                "kubernetes.io/role": "master"
            }),
            ready("True"),
            false,
        );
        assert_eq!(
            cells(&rt, &n),
            [
                json!("node1"),
                json!("Ready"),
                json!("control-plane,etcd,master"),
                json!("45d"),
                json!("v1.32.1+verge"),
                json!("192.168.1.10"),
                json!("<none>"),
                json!("Ubuntu 24.04.1 LTS"),
                json!("6.8.0-51-generic"),
                json!("containerd://1.7.24")
            ]
        );
        let cordoned = node(json!({}), ready("Unknown"), true);
        let c = cells(&rt, &cordoned);
        assert_eq!(
            c[1..3],
            [json!("NotReady,SchedulingDisabled"), json!("<none>")]
        );
        let fresh = node(json!({}), json!([]), false);
        assert_eq!(cells(&rt, &fresh)[1], "Unknown");
        let cordoned_new = node(json!({}), json!([]), true);
        assert_eq!(cells(&rt, &cordoned_new)[1], "Unknown,SchedulingDisabled");
        let bare = json!({"metadata": {"name": "n"}});
        let c = cells(&rt, &bare);
        assert_eq!(
            c[4..],
            [
                json!(""),
                json!("<none>"),
                json!("<none>"),
                json!("<unknown>"),
                json!("<unknown>"),
                json!("<unknown>")
            ]
        );
    }

    #[test]
    fn namespaces() {
        let rt = builtin("", "namespaces");
        assert_eq!(headers(&rt), ["Name", "Status", "Age"]);
        let ns = json!({"metadata": {"name": "kube-system", "creationTimestamp": ago(400 * 86400)},
                        "status": {"phase": "Active"}});
        assert_eq!(
            cells(&rt, &ns),
            [json!("kube-system"), json!("Active"), json!("400d")]
        );
        let dying = json!({"metadata": {"name": "old"}, "status": {"phase": "Terminating"}});
        assert_eq!(cells(&rt, &dying)[1], "Terminating");
    }

    #[test]
    fn events() {
        let rt = builtin("", "events");
        assert_eq!(
            headers(&rt),
            [
                "Last Seen",
                "Type",
                "Reason",
                "Object",
                "Subobject*",
                "Source*",
                "Message",
                "First Seen*",
                "Count*",
                "Name*"
            ]
        );
        let ev = json!({
            "metadata": {"name": "web-1.17f2a3b4c5d6e7f8", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{web}"},
            "reason": "Pulled",
            "message": "Successfully pulled image \"nginx\" in 1.2s\n",
            "source": {"component": "kubelet", "host": "node1"},
            "firstTimestamp": ago(600),
            "lastTimestamp": ago(30),
            "count": 4,
            "type": "Normal"
        });
        assert_eq!(
            cells(&rt, &ev),
            [
                json!("30s"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web-1"),
                json!("spec.containers{web}"),
                json!("kubelet, node1"),
                json!("Successfully pulled image \"nginx\" in 1.2s"),
                json!("10m"),
                json!(4),
                json!("web-1.17f2a3b4c5d6e7f8")
            ]
        );
        // An events.k8s.io-style event: eventTime, reporting fields, no count.
        let new_style = json!({
            "metadata": {"name": "e2"},
            "involvedObject": {"kind": "Node", "name": ""},
            "reason": "RegisteredNode",
            "eventTime": "2025-01-01T11:58:00.000000Z",
            "reportingComponent": "node-controller",
            "type": "Normal"
        });
        let c = cells(&rt, &new_style);
        assert_eq!(c[0], "2m");
        assert_eq!(c[3], "node");
        assert_eq!(c[5], "node-controller");
        assert_eq!(c[7], "2m");
        assert_eq!(c[8], 1);
        // A series: last seen and count come from it.
        let series = json!({
            "metadata": {"name": "e3"},
            "involvedObject": {"kind": "Pod", "name": "p"},
            "eventTime": ago(3600),
            "series": {"count": 12, "lastObservedTime": "2025-01-01T11:59:50.000000Z"},
            "reportingInstance": "node2"
        });
        let c = cells(&rt, &series);
        assert_eq!(c[0], "10s");
        assert_eq!(c[5], ", node2");
        assert_eq!(c[8], 12);
        let nothing = json!({"metadata": {"name": "e4"}});
        assert_eq!(cells(&rt, &nothing)[0], "<unknown>");
    }

    #[test]
    fn leases() {
        let rt = builtin("coordination.k8s.io", "leases");
        assert_eq!(headers(&rt), ["Name", "Holder", "Age"]);
        let l = json!({"metadata": {"name": "node1", "creationTimestamp": ago(100)},
                       "spec": {"holderIdentity": "node1", "leaseDurationSeconds": 40}});
        assert_eq!(
            cells(&rt, &l),
            [json!("node1"), json!("node1"), json!("100s")]
        );
        let free = json!({"metadata": {"name": "x"}, "spec": {}});
        assert_eq!(cells(&rt, &free)[1], "");
    }

    #[test]
    fn priority_classes() {
        let rt = builtin("scheduling.k8s.io", "priorityclasses");
        assert_eq!(
            headers(&rt),
            ["Name", "Value", "Global-Default", "Age", "PreemptionPolicy"]
        );
        let pc = json!({"metadata": {"name": "system-cluster-critical", "creationTimestamp": ago(600)},
                        "value": 2000000000, "preemptionPolicy": "PreemptLowerPriority"});
        assert_eq!(
            cells(&rt, &pc),
            [
                json!("system-cluster-critical"),
                json!(2000000000),
                json!(false),
                json!("10m"),
                json!("PreemptLowerPriority")
            ]
        );
        let default = json!({"metadata": {"name": "d"}, "value": -5, "globalDefault": true});
        let c = cells(&rt, &default);
        assert_eq!(c[1..3], [json!(-5), json!(true)]);
        assert_eq!(c[4], "");
    }

    #[test]
    fn custom_resource_definitions() {
        let rt = builtin("apiextensions.k8s.io", "customresourcedefinitions");
        assert_eq!(headers(&rt), ["Name", "Created At"]);
        assert_eq!(super::super::column_definitions(&rt)[1]["type"], "date");
        let crd = json!({"metadata": {"name": "widgets.example.com",
                                       "creationTimestamp": "2024-06-01T08:30:00Z"}});
        assert_eq!(
            cells(&rt, &crd),
            [json!("widgets.example.com"), json!("2024-06-01T08:30:00Z")]
        );
        let offset =
            json!({"metadata": {"name": "x", "creationTimestamp": "2024-06-01T10:30:00+02:00"}});
        assert_eq!(cells(&rt, &offset)[1], "2024-06-01T08:30:00Z");
    }
}
