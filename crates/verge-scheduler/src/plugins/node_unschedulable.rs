//! NodeUnschedulable: a cordoned node (`spec.unschedulable`, what `kubectl
//! cordon` sets) takes only pods that tolerate
//! `node.kubernetes.io/unschedulable:NoSchedule` (DaemonSet pods do).

use k8s_openapi::api::core::v1::Taint;

use super::{Plugin, Rejection};
use crate::node::{NodeSpec, UNSCHEDULABLE};
use crate::plugins::taints::tolerates;
use crate::pod::PodInfo;

pub const REASON: &str = "node(s) were unschedulable";

pub fn filter(pod: &PodInfo, node: &NodeSpec) -> Option<Rejection> {
    if !node.unschedulable {
        return None;
    }
    let taint = Taint {
        key: UNSCHEDULABLE.to_owned(),
        effect: "NoSchedule".to_owned(),
        value: None,
        time_added: None,
    };
    if pod.tolerations.iter().any(|t| tolerates(t, &taint)) {
        return None;
    }
    Some(Rejection::unresolvable(Plugin::NodeUnschedulable, REASON))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::tests::node;
    use crate::pod::tests::pod;
    use serde_json::json;

    #[test]
    fn cordoned_nodes_reject_unless_tolerated() {
        let n = node("n", json!({}), json!({"unschedulable": true}));
        let spec = n.spec.as_ref().expect("spec");
        let plain = pod("p", json!({"containers": []}));
        let r = filter(&plain, spec).expect("rejected");
        assert_eq!(r.reasons, vec![REASON]);
        assert!(r.unresolvable);
        let tolerant = pod(
            "p",
            json!({"containers": [], "tolerations": [{"key": UNSCHEDULABLE, "operator": "Exists", "effect": "NoSchedule"}]}),
        );
        assert!(filter(&tolerant, spec).is_none());
        let open = node("n", json!({}), json!({}));
        assert!(filter(&plain, open.spec.as_ref().expect("spec")).is_none());
    }
}
