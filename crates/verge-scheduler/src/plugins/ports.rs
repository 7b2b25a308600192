//! NodePorts: two pods cannot claim the same host port, protocol and
//! address (0.0.0.0 overlaps every address).

use super::{Plugin, Rejection};
use crate::node::NodeInfo;
use crate::pod::PodInfo;

pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Option<Rejection> {
    let taken = pod
        .host_ports
        .iter()
        .any(|want| node.ports.iter().any(|used| used.conflicts(want)));
    taken.then(|| Rejection::new(Plugin::NodePorts, REASON))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::tests::node;
    use crate::pod::tests::pod;
    use serde_json::{Value, json};
    use std::sync::Arc;

    fn with_port(name: &str, port: Value) -> PodInfo {
        pod(
            name,
            json!({"containers": [{"name": "c", "image": "i", "ports": [port]}]}),
        )
    }

    #[test]
    fn host_ports_conflict_by_protocol_and_address() {
        let mut n = node("n", json!({}), json!({}));
        n.add_pod(Arc::new(with_port(
            "a",
            json!({"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}),
        )));
        let clash = with_port("b", json!({"containerPort": 80, "hostPort": 8080}));
        let r = filter(&clash, &n).expect("0.0.0.0 overlaps 10.0.0.1");
        assert_eq!(r.reasons, vec![REASON]);
        assert!(!r.unresolvable, "evicting the holder would free the port");
        assert!(
            filter(
                &with_port(
                    "c",
                    json!({"containerPort": 80, "hostPort": 8080, "protocol": "UDP"})
                ),
                &n
            )
            .is_none()
        );
        assert!(
            filter(
                &with_port(
                    "d",
                    json!({"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.2"})
                ),
                &n
            )
            .is_none()
        );
        assert!(
            filter(
                &with_port("e", json!({"containerPort": 80, "hostPort": 8081})),
                &n
            )
            .is_none()
        );
        assert!(filter(&with_port("f", json!({"containerPort": 80})), &n).is_none());
    }
}
