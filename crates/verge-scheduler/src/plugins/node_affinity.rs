//! NodeAffinity: `nodeSelector` and `affinity.nodeAffinity`. Required terms
//! filter (a node must match every nodeSelector label and at least one
//! term); preferred terms add their weight to the nodes they match.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};

use super::{Plugin, Rejection};
use crate::node::NodeSpec;
use crate::pod::PodInfo;

pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

/// One requirement against a node's labels (or, for `matchFields`, its
/// name under the key `metadata.name`).
fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            // Exactly one integer value, compared with the label as an integer.
            let (Some(have), [want]) = (value.and_then(number), values) else {
                return false;
            };
            let Some(want) = number(want) else {
                return false;
            };
            if r.operator == "Gt" {
                have > want
            } else {
                have < want
            }
        }
        _ => false,
    }
}

/// Whether a node matches a term: all its expressions and fields. A term
/// with neither matches nothing, as in Kubernetes.
pub fn term_matches(
    term: &NodeSelectorTerm,
    node_name: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            let value = (r.key == "metadata.name").then_some(node_name);
            requirement_matches(r, value)
        })
}

/// The pod's nodeSelector and required node affinity both hold.
pub fn matches_required(pod: &PodInfo, node_name: &str, labels: &BTreeMap<String, String>) -> bool {
    pod.node_selector
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
        && pod
            .required_node_affinity
            .as_ref()
            .is_none_or(|terms| terms.iter().any(|t| term_matches(t, node_name, labels)))
}

/// [`matches_required`] on a node's spec, the nodeSelector checked on its
/// contiguous label index.
pub fn matches_required_on(pod: &PodInfo, node_name: &str, spec: &NodeSpec) -> bool {
    pod.node_selector_needles.iter().all(|n| spec.has_label(n))
        && pod.required_node_affinity.as_ref().is_none_or(|terms| {
            terms
                .iter()
                .any(|t| term_matches(t, node_name, &spec.labels))
        })
}

/// The filter, on a node's spec.
pub fn filter_on(pod: &PodInfo, node_name: &str, spec: &NodeSpec) -> Option<Rejection> {
    if pod.node_selector.is_empty() && pod.required_node_affinity.is_none() {
        return None;
    }
    (!matches_required_on(pod, node_name, spec))
        .then(|| Rejection::unresolvable(Plugin::NodeAffinity, REASON))
}

pub fn filter(
    pod: &PodInfo,
    node_name: &str,
    labels: &BTreeMap<String, String>,
) -> Option<Rejection> {
    if pod.node_selector.is_empty() && pod.required_node_affinity.is_none() {
        return None;
    }
    (!matches_required(pod, node_name, labels))
        .then(|| Rejection::unresolvable(Plugin::NodeAffinity, REASON))
}

/// Sum of the weights of the preferred terms the node matches.
pub fn score(pod: &PodInfo, node_name: &str, labels: &BTreeMap<String, String>) -> i64 {
    pod.preferred_node_affinity
        .iter()
        .filter(|p| p.weight != 0 && term_matches(&p.preference, node_name, labels))
        .map(|p| i64::from(p.weight))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::tests::pod;
    use serde_json::{Value, json};

    fn labels(v: Value) -> BTreeMap<String, String> {
        serde_json::from_value(v).expect("labels")
    }

    fn with_terms(terms: Value) -> PodInfo {
        pod(
            "p",
            json!({"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}),
        )
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> Value {
        json!({"matchExpressions": [{"key": key, "operator": op, "values": values}]})
    }

    #[test]
    fn every_operator() {
        let l = labels(json!({"zone": "a", "cores": "8"}));
        let ok = |t: Value| filter(&with_terms(json!([t])), "n1", &l).is_none();
        assert!(ok(expr("zone", "In", &["a", "b"])));
        assert!(!ok(expr("zone", "In", &["b"])));
        assert!(ok(expr("zone", "NotIn", &["b"])));
        assert!(
            ok(expr("missing", "NotIn", &["b"])),
            "NotIn holds for an absent label"
        );
        assert!(!ok(expr("zone", "NotIn", &["a"])));
        assert!(ok(expr("zone", "Exists", &[])));
        assert!(!ok(expr("missing", "Exists", &[])));
        assert!(ok(expr("missing", "DoesNotExist", &[])));
        assert!(!ok(expr("zone", "DoesNotExist", &[])));
        assert!(ok(expr("cores", "Gt", &["4"])));
        assert!(!ok(expr("cores", "Gt", &["8"])));
        assert!(ok(expr("cores", "Lt", &["16"])));
        assert!(
            !ok(expr("zone", "Lt", &["16"])),
            "a non-integer label never compares"
        );
        assert!(!ok(expr("missing", "Gt", &["1"])));
        assert!(!ok(json!({})), "an empty term matches nothing");
    }

    #[test]
    fn match_fields_by_node_name() {
        let l = labels(json!({}));
        let p = with_terms(
            json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]),
        );
        assert!(filter(&p, "n1", &l).is_none());
        assert!(filter(&p, "n2", &l).is_some());
        let p = with_terms(
            json!([{"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]}]),
        );
        assert!(filter(&p, "n2", &l).is_none());
    }

    #[test]
    fn terms_are_ored_and_node_selector_anded() {
        let l = labels(json!({"zone": "b", "disk": "ssd"}));
        let p = with_terms(json!([
            expr("zone", "In", &["a"]),
            expr("zone", "In", &["b"])
        ]));
        assert!(filter(&p, "n", &l).is_none());
        let p = pod(
            "p",
            json!({"containers": [], "nodeSelector": {"disk": "ssd", "zone": "a"}}),
        );
        let r = filter(&p, "n", &l).expect("rejected");
        assert_eq!(r.reasons, vec![REASON]);
        assert!(r.unresolvable);
    }

    #[test]
    fn the_label_index_agrees_with_the_labels() {
        let n =
            crate::node::tests::node("n", json!({"a": "b", "ab": "c", "zone": "eu-1"}), json!({}));
        let spec = n.spec.as_ref().expect("spec");
        for (selector, fits) in [
            (json!({"a": "b"}), true),
            (json!({"a": "b", "zone": "eu-1"}), true),
            (json!({"a": "bc"}), false),
            (json!({"b": "c"}), false),
            (json!({"zone": "eu"}), false),
            (json!({"ab": "c"}), true),
        ] {
            let p = pod("p", json!({"containers": [], "nodeSelector": selector}));
            assert_eq!(filter_on(&p, "n", spec).is_none(), fits, "{selector}");
            assert_eq!(filter(&p, "n", &spec.labels).is_none(), fits, "{selector}");
        }
    }

    #[test]
    fn preferred_terms_add_weights() {
        let p = pod(
            "p",
            json!({"containers": [], "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "preference": expr("zone", "In", &["a"])},
                {"weight": 5, "preference": expr("disk", "Exists", &[])}
            ]}}}),
        );
        assert_eq!(
            score(&p, "n", &labels(json!({"zone": "a", "disk": "ssd"}))),
            15
        );
        assert_eq!(score(&p, "n", &labels(json!({"disk": "hdd"}))), 5);
        assert_eq!(score(&p, "n", &labels(json!({}))), 0);
    }
}
