//! Which nodes a DaemonSet's pod belongs on: the pod's node name, node
//! selector and required node affinity must match the node, and every
//! NoSchedule/NoExecute taint must be tolerated — with the tolerations kube
//! adds to every daemon pod, so daemons keep running on nodes that are
//! unreachable, under pressure or cordoned.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodSpec, Taint, Toleration,
};

/// Where a daemon pod may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    /// A daemon pod should be created on the node.
    pub should_run: bool,
    /// A daemon pod already on the node may stay (a NoSchedule taint
    /// added later keeps new pods off, but does not evict).
    pub should_continue: bool,
}

const NOT_READY: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
const DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
const MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
const PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// Adds the tolerations every daemon pod gets (kube's
/// AddOrUpdateDaemonPodTolerations), unless the template has them.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let mut wanted = vec![
        (NOT_READY, "NoExecute"),
        (UNREACHABLE, "NoExecute"),
        (DISK_PRESSURE, "NoSchedule"),
        (MEMORY_PRESSURE, "NoSchedule"),
        (PID_PRESSURE, "NoSchedule"),
        (UNSCHEDULABLE, "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        wanted.push((NETWORK_UNAVAILABLE, "NoSchedule"));
    }
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in wanted {
        let present = tolerations.iter().any(|t| {
            t.key.as_deref() == Some(key)
                && t.effect.as_deref() == Some(effect)
                && t.operator.as_deref() == Some("Exists")
                && t.toleration_seconds.is_none()
        });
        if !present {
            tolerations.push(Toleration {
                key: Some(key.to_owned()),
                operator: Some("Exists".to_owned()),
                effect: Some(effect.to_owned()),
                ..Toleration::default()
            });
        }
    }
}

/// Pins a pod to `node` the way kube does since 1.12: its required node
/// affinity becomes the single term `metadata.name In [node]` (the node
/// was already checked against the template's own terms), so the scheduler
/// binds it there and nowhere else.
pub fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let term = NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".to_owned(),
            operator: "In".to_owned(),
            values: Some(vec![node.to_owned()]),
        }]),
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![term],
    });
}

/// The node a daemon pod is for: where it is bound, else where its
/// affinity pins it.
pub fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n.to_owned());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    if terms.len() != 1 {
        return None;
    }
    terms[0]
        .match_fields
        .iter()
        .flatten()
        .find(|r| r.key == "metadata.name" && r.operator == "In")
        .and_then(|r| r.values.as_ref())
        .filter(|v| v.len() == 1)
        .map(|v| v[0].clone())
}

/// Where a daemon pod made from `spec` (daemon tolerations included) may
/// run relative to `node`.
pub fn fit(spec: &PodSpec, node: &Node) -> Fit {
    const NO: Fit = Fit {
        should_run: false,
        should_continue: false,
    };
    let name = node.metadata.name.as_deref().unwrap_or_default();
    if spec
        .node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty() && n != name)
    {
        return NO;
    }
    let empty = BTreeMap::new();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    if let Some(sel) = &spec.node_selector
        && !sel.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return NO;
    }
    if let Some(required) = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        && !required
            .node_selector_terms
            .iter()
            .any(|t| term_matches(t, labels, name))
    {
        return NO;
    }
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    let mut fit = Fit {
        should_run: true,
        should_continue: true,
    };
    for taint in node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
    {
        if !matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute") {
            continue;
        }
        if tolerations.iter().any(|t| tolerates(t, taint)) {
            continue;
        }
        fit.should_run = false;
        if taint.effect == "NoExecute" {
            fit.should_continue = false;
        }
    }
    fit
}

/// A term matches when all its expressions and fields do; an empty term
/// matches nothing.
fn term_matches(term: &NodeSelectorTerm, labels: &BTreeMap<String, String>, name: &str) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            let value = (r.key == "metadata.name").then_some(name);
            value.is_some() && requirement_matches(r, value)
        })
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(number),
                values.first().and_then(|b| number(b)),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// kube's ToleratesTaint.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    let key = t.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            t.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NodeSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn node(name: &str, labels: &[(&str, &str)], taints: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| ((*k).into(), (*v).into()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec {
                taints: Some(
                    taints
                        .iter()
                        .map(|(k, e)| Taint {
                            key: (*k).into(),
                            effect: (*e).into(),
                            ..Taint::default()
                        })
                        .collect(),
                ),
                ..NodeSpec::default()
            }),
            status: None,
        }
    }

    fn daemon(spec: PodSpec) -> PodSpec {
        let mut s = spec;
        add_daemon_tolerations(&mut s);
        s
    }

    const YES: Fit = Fit {
        should_run: true,
        should_continue: true,
    };
    const NO: Fit = Fit {
        should_run: false,
        should_continue: false,
    };

    #[test]
    fn node_selector_picks_edge_nodes() {
        let spec = daemon(PodSpec {
            node_selector: Some(
                [("node-role.kubernetes.io/edge".to_owned(), "".to_owned())].into(),
            ),
            ..PodSpec::default()
        });
        assert_eq!(
            fit(
                &spec,
                &node("e1", &[("node-role.kubernetes.io/edge", "")], &[])
            ),
            YES
        );
        assert_eq!(fit(&spec, &node("c1", &[], &[])), NO);
    }

    #[test]
    fn daemon_tolerations_cover_unreachable_and_cordoned_nodes() {
        let spec = daemon(PodSpec::default());
        let tainted = node(
            "n",
            &[],
            &[
                (UNREACHABLE, "NoExecute"),
                (NOT_READY, "NoExecute"),
                (UNSCHEDULABLE, "NoSchedule"),
                (DISK_PRESSURE, "NoSchedule"),
            ],
        );
        assert_eq!(fit(&spec, &tainted), YES);
        // Other taints still keep daemons off.
        assert_eq!(
            fit(&spec, &node("n", &[], &[("dedicated", "NoSchedule")])),
            Fit {
                should_run: false,
                should_continue: true
            }
        );
        assert_eq!(
            fit(&spec, &node("n", &[], &[("dedicated", "NoExecute")])),
            NO
        );
        assert_eq!(
            fit(&spec, &node("n", &[], &[("soft", "PreferNoSchedule")])),
            YES
        );
        // Adding them twice does not duplicate them.
        let mut again = spec.clone();
        add_daemon_tolerations(&mut again);
        assert_eq!(again.tolerations, spec.tolerations);
    }

    #[test]
    fn required_node_affinity_operators() {
        let spec = |op: &str, values: &[&str]| {
            daemon(PodSpec {
                affinity: Some(Affinity {
                    node_affinity: Some(NodeAffinity {
                        required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                            node_selector_terms: vec![NodeSelectorTerm {
                                match_expressions: Some(vec![NodeSelectorRequirement {
                                    key: "gpus".into(),
                                    operator: op.into(),
                                    values: Some(values.iter().map(|v| (*v).into()).collect()),
                                }]),
                                match_fields: None,
                            }],
                        }),
                        ..NodeAffinity::default()
                    }),
                    ..Affinity::default()
                }),
                ..PodSpec::default()
            })
        };
        let n = node("n", &[("gpus", "4")], &[]);
        assert_eq!(fit(&spec("In", &["4", "8"]), &n), YES);
        assert_eq!(fit(&spec("NotIn", &["4"]), &n), NO);
        assert_eq!(fit(&spec("Gt", &["2"]), &n), YES);
        assert_eq!(fit(&spec("Lt", &["2"]), &n), NO);
        assert_eq!(fit(&spec("Exists", &[]), &n), YES);
        assert_eq!(fit(&spec("DoesNotExist", &[]), &n), NO);
    }

    #[test]
    fn pinning_replaces_required_terms_and_is_readable_back() {
        let mut spec = PodSpec::default();
        pin_to_node(&mut spec, "edge-7");
        let pod = Pod {
            spec: Some(spec.clone()),
            ..Pod::default()
        };
        assert_eq!(target_node(&pod).as_deref(), Some("edge-7"));
        assert_eq!(fit(&spec, &node("edge-7", &[], &[])), YES);
        assert_eq!(fit(&spec, &node("edge-8", &[], &[])), NO);
    }

    #[test]
    fn toleration_matching() {
        let taint = Taint {
            key: "k".into(),
            value: Some("v".into()),
            effect: "NoSchedule".into(),
            ..Taint::default()
        };
        let t =
            |key: Option<&str>, op: &str, value: Option<&str>, effect: Option<&str>| Toleration {
                key: key.map(Into::into),
                operator: Some(op.into()),
                value: value.map(Into::into),
                effect: effect.map(Into::into),
                ..Toleration::default()
            };
        assert!(tolerates(&t(Some("k"), "Equal", Some("v"), None), &taint));
        assert!(!tolerates(&t(Some("k"), "Equal", Some("w"), None), &taint));
        assert!(
            tolerates(&t(None, "Exists", None, None), &taint),
            "empty key + Exists tolerates all"
        );
        assert!(!tolerates(
            &t(Some("k"), "Exists", None, Some("NoExecute")),
            &taint
        ));
    }
}
