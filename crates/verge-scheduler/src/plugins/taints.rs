//! TaintToleration: NoSchedule and NoExecute taints keep out pods that do
//! not tolerate them; PreferNoSchedule taints only lower a node's score.

use k8s_openapi::api::core::v1::{Taint, Toleration};

use super::{Plugin, Rejection};
use crate::node::NodeSpec;
use crate::pod::PodInfo;

/// Kubernetes' `Toleration.ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    if let Some(key) = t.key.as_deref().filter(|k| !k.is_empty())
        && key != taint.key
    {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

pub fn filter(pod: &PodInfo, node: &NodeSpec) -> Option<Rejection> {
    let untolerated = node.taints.iter().find(|taint| {
        matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute")
            && !pod.tolerations.iter().any(|t| tolerates(t, taint))
    })?;
    Some(Rejection::unresolvable(
        Plugin::TaintToleration,
        format!(
            "node(s) had untolerated taint {{{}: {}}}",
            untolerated.key,
            untolerated.value.as_deref().unwrap_or("")
        ),
    ))
}

/// PreferNoSchedule taints the pod does not tolerate (fewer is better).
pub fn score(pod: &PodInfo, node: &NodeSpec) -> i64 {
    let relevant = |t: &&Toleration| {
        matches!(
            t.effect.as_deref(),
            None | Some("") | Some("PreferNoSchedule")
        )
    };
    node.taints
        .iter()
        .filter(|taint| taint.effect == "PreferNoSchedule")
        .filter(|taint| {
            !pod.tolerations
                .iter()
                .filter(relevant)
                .any(|t| tolerates(t, taint))
        })
        .count() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::tests::node;
    use crate::pod::tests::pod;
    use serde_json::json;

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: value.map(Into::into),
            effect: effect.into(),
            time_added: None,
        }
    }

    fn tol(v: serde_json::Value) -> Toleration {
        serde_json::from_value(v).expect("toleration")
    }

    #[test]
    fn toleration_matching() {
        let t = taint("dedicated", Some("gpu"), "NoSchedule");
        assert!(tolerates(
            &tol(json!({"key": "dedicated", "value": "gpu"})),
            &t
        ));
        assert!(tolerates(
            &tol(json!({"key": "dedicated", "operator": "Exists"})),
            &t
        ));
        assert!(
            tolerates(&tol(json!({"operator": "Exists"})), &t),
            "empty key + Exists tolerates all"
        );
        assert!(!tolerates(
            &tol(json!({"key": "dedicated", "value": "cpu"})),
            &t
        ));
        assert!(!tolerates(
            &tol(json!({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"})),
            &t
        ));
        assert!(tolerates(
            &tol(json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"})),
            &t
        ));
        assert!(!tolerates(
            &tol(json!({"key": "other", "operator": "Exists"})),
            &t
        ));
    }

    #[test]
    fn filter_names_the_first_untolerated_taint() {
        let n = node(
            "n",
            json!({}),
            json!({"taints": [
                {"key": "soft", "effect": "PreferNoSchedule"},
                {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                {"key": "gone", "effect": "NoExecute"}
            ]}),
        );
        let spec = n.spec.as_ref().expect("spec");
        let p = pod("p", json!({"containers": []}));
        let r = filter(&p, spec).expect("rejected");
        assert_eq!(
            r.reasons,
            vec!["node(s) had untolerated taint {dedicated: gpu}"]
        );
        assert!(r.unresolvable);
        let p = pod(
            "p",
            json!({"containers": [], "tolerations": [{"key": "dedicated", "operator": "Exists"}]}),
        );
        let r = filter(&p, spec).expect("NoExecute still untolerated");
        assert_eq!(r.reasons, vec!["node(s) had untolerated taint {gone: }"]);
        let p = pod(
            "p",
            json!({"containers": [], "tolerations": [{"operator": "Exists"}]}),
        );
        assert!(filter(&p, spec).is_none());
    }

    #[test]
    fn prefer_no_schedule_only_scores() {
        let n = node(
            "n",
            json!({}),
            json!({"taints": [{"key": "soft", "effect": "PreferNoSchedule"}, {"key": "soft2", "effect": "PreferNoSchedule"}]}),
        );
        let spec = n.spec.as_ref().expect("spec");
        let p = pod("p", json!({"containers": []}));
        assert!(filter(&p, spec).is_none());
        assert_eq!(score(&p, spec), 2);
        let p = pod(
            "p",
            json!({"containers": [], "tolerations": [{"key": "soft", "operator": "Exists", "effect": "PreferNoSchedule"}]}),
        );
        assert_eq!(score(&p, spec), 1);
    }
}
