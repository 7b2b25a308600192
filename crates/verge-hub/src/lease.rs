//! Node heartbeats from channel liveness: while a node's channel is up the
//! hub renews its Lease itself, so an idle node sends nothing for it and
//! the API server sees one write per node per interval — never one per
//! ping. When the channel drops, renewals stop and the node lifecycle
//! controller marks the node after its grace period, as for a silent
//! kubelet.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use jiff::Timestamp;
use parking_lot::Mutex;
use serde_json::json;
use verge_apiserver::resources::Resources;

use crate::reports::write_lease;

/// How often a connected node's Lease is renewed (kubelet's default).
pub const RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// The lease duration written (kubelet's default).
pub const LEASE_DURATION_SECONDS: i64 = 40;

/// The nodes whose channel is up, and the task renewing their Leases.
pub struct LeaseKeeper {
    resources: Arc<Resources>,
    /// Node → number of live sessions (a replacing connection overlaps the
    /// one it replaces for a moment).
    live: Mutex<HashMap<Arc<str>, usize>>,
}

impl LeaseKeeper {
    /// Starts renewing every `interval`; the task ends with the keeper.
    pub fn start(resources: Arc<Resources>, interval: Duration) -> Arc<LeaseKeeper> {
        let keeper = Arc::new(LeaseKeeper {
            resources,
            live: Mutex::new(HashMap::new()),
        });
        tokio::spawn(renew_loop(Arc::downgrade(&keeper), interval));
        keeper
    }

    /// A session of `node` is up: renew now and from now on.
    pub async fn connected(&self, node: &Arc<str>) {
        *self.live.lock().entry(node.clone()).or_insert(0) += 1;
        self.renew(node).await;
    }

    /// A session of `node` ended.
    pub fn disconnected(&self, node: &Arc<str>) {
        let mut live = self.live.lock();
        if let Some(n) = live.get_mut(node) {
            *n -= 1;
            if *n == 0 {
                live.remove(node);
            }
        }
    }

    pub fn is_live(&self, node: &str) -> bool {
        self.live.lock().contains_key(node)
    }

    async fn renew(&self, node: &str) {
        let patch = json!({"spec": {
            "holderIdentity": node,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": Timestamp::now().to_string(),
        }});
        let result = write_lease(&self.resources, node, &patch).await;
        if let Err(e) = result {
            tracing::warn!(node, error = %e.message, "cannot renew the Lease of a connected node");
        }
    }
}

async fn renew_loop(keeper: Weak<LeaseKeeper>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(k) = keeper.upgrade() else { return };
        let nodes: Vec<Arc<str>> = k.live.lock().keys().cloned().collect();
        // Spread over the interval so 10,000 nodes do not write in one burst.
        let gap = interval / u32::try_from(nodes.len().max(1)).unwrap_or(u32::MAX);
        for node in nodes {
            if k.is_live(&node) {
                k.renew(&node).await;
            }
            if gap >= Duration::from_millis(1) {
                tokio::time::sleep(gap.min(Duration::from_millis(100))).await;
            }
        }
    }
}
