//! The node heartbeat through the API: kubelet's Lease in kube-node-lease,
//! renewed every 10 s.
//!
//! Only for a node off the channel (the server published no hub address
//! for its transport). On the channel the cloud hub writes the Lease from
//! the link's own liveness and this task is not started.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::sync::watch;

use crate::{Shutdown, client};

/// Where node Leases live.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// How often the Lease is renewed (kubelet's default).
pub const RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// The Lease's duration (kubelet's default, the node monitor's grace).
pub const LEASE_DURATION_SECONDS: i32 = 40;

/// The Lease the agent wants for `node`, renewed at `now`.
pub fn desired(node: &Node, now: Timestamp) -> Lease {
    let name = node.metadata.name.clone().unwrap_or_default();
    // Owned by the Node, so deleting the Node collects its Lease.
    let owner = node.metadata.uid.clone().map(|uid| OwnerReference {
        api_version: "v1".into(),
        kind: "Node".into(),
        name: name.clone(),
        uid,
        ..OwnerReference::default()
    });
    Lease {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(LEASE_NAMESPACE.into()),
            owner_references: owner.map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(name),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            renew_time: Some(MicroTime(now)),
            ..LeaseSpec::default()
        }),
    }
}

/// Renews one node's Lease, remembering the last one written so that a
/// renewal is a single update.
pub struct LeaseRenewer {
    node: Node,
    last: Option<Lease>,
}

impl LeaseRenewer {
    /// A renewer for `node` (as registered: its uid names the owner).
    pub fn new(node: Node) -> LeaseRenewer {
        LeaseRenewer { node, last: None }
    }

    /// Writes the Lease with `renewTime` now: an update of the last Lease
    /// written, or a create if there is none; a conflict or a missing Lease
    /// is resolved by reading it again once.
    pub async fn renew(&mut self, client: kube::Client) -> Result<(), kube::Error> {
        let name = self.node.metadata.name.clone().unwrap_or_default();
        let api: Api<Lease> = Api::namespaced(client, LEASE_NAMESPACE);
        for _ in 0..2 {
            let result = match self.last.take() {
                Some(mut lease) => {
                    lease.spec = desired(&self.node, Timestamp::now()).spec;
                    api.replace(&name, &PostParams::default(), &lease).await
                }
                None => match api.get_opt(&name).await? {
                    Some(mut lease) => {
                        let want = desired(&self.node, Timestamp::now());
                        lease.spec = want.spec;
                        if lease.metadata.owner_references.is_none() {
                            lease.metadata.owner_references = want.metadata.owner_references;
                        }
                        api.replace(&name, &PostParams::default(), &lease).await
                    }
                    None => {
                        api.create(
                            &PostParams::default(),
                            &desired(&self.node, Timestamp::now()),
                        )
                        .await
                    }
                },
            };
            match result {
                Ok(lease) => {
                    self.last = Some(lease);
                    return Ok(());
                }
                Err(e) if matches!(client::status_code(&e), Some(404 | 409)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(kube::Error::Api(Box::new(kube::core::Status {
            code: 409,
            message: format!("the Lease {LEASE_NAMESPACE}/{name} kept changing under the agent"),
            reason: "Conflict".into(),
            ..kube::core::Status::default()
        })))
    }
}

/// Renews the Lease every [`RENEW_INTERVAL`] with the newest client until
/// shutdown. Failures are logged and retried at the next tick: a missed
/// renewal is what the node lifecycle controller is there to notice.
pub async fn run(node: Node, clients: watch::Receiver<kube::Client>, mut shutdown: Shutdown) {
    let mut renewer = LeaseRenewer::new(node);
    let mut ticker = tokio::time::interval(RENEW_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.wait() => return,
        }
        let client = clients.borrow().clone();
        match renewer.renew(client).await {
            Ok(()) => {
                if failing {
                    tracing::info!("node Lease renewed again");
                    failing = false;
                }
                tracing::debug!("node Lease renewed");
            }
            Err(e) => {
                failing = true;
                tracing::warn!(error = %client::message(&e), "cannot renew the node Lease; retrying in 10s");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_is_held_by_the_node_and_owned_by_it() {
        let node = Node {
            metadata: ObjectMeta {
                name: Some("edge-1".into()),
                uid: Some("u-1".into()),
                ..ObjectMeta::default()
            },
            ..Node::default()
        };
        let now = Timestamp::now();
        let lease = desired(&node, now);
        assert_eq!(lease.metadata.name.as_deref(), Some("edge-1"));
        assert_eq!(lease.metadata.namespace.as_deref(), Some(LEASE_NAMESPACE));
        let spec = lease.spec.expect("spec");
        assert_eq!(spec.holder_identity.as_deref(), Some("edge-1"));
        assert_eq!(spec.lease_duration_seconds, Some(40));
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
        let owners = lease.metadata.owner_references.expect("owner");
        assert_eq!(owners[0].kind, "Node");
        assert_eq!(owners[0].uid, "u-1");
    }
}
