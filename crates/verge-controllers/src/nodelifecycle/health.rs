//! When the controller last heard from each node, by its own clock.
//!
//! A node proves it is alive by renewing its Lease (kube-node-lease/<node>)
//! or by posting a new Ready heartbeat. What matters is when *this process*
//! saw the renewal, not the time the node wrote in it: the node's clock may
//! be off, and after a restart every node gets a full grace period instead
//! of being judged on timestamps nobody watched.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{NodeCondition, NodeStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The conditions a silent node can no longer vouch for (kube leaves
/// NetworkUnavailable to the network plugin).
const SILENCED: &[&str] = &["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

#[derive(Debug)]
struct Probe {
    /// Last sign of life, as this process saw it.
    at: Instant,
    lease: Option<String>,
    heartbeat: Option<String>,
    /// The deadline a delayed reconcile is already queued for.
    timer: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Health {
    probes: HashMap<String, Probe>,
}

impl Health {
    fn probe(&mut self, node: &str, now: Instant) -> &mut Probe {
        self.probes.entry(node.to_owned()).or_insert_with(|| Probe {
            at: now,
            lease: None,
            heartbeat: None,
            timer: None,
        })
    }

    /// A Lease with this renewTime was seen. Returns whether it is news.
    pub fn lease_seen(&mut self, node: &str, renew: Option<String>, now: Instant) -> bool {
        let p = self.probe(node, now);
        if renew.is_some() && p.lease != renew {
            p.lease = renew;
            p.at = now;
            return true;
        }
        false
    }

    /// The node's Ready condition carries this lastHeartbeatTime.
    pub fn heartbeat_seen(&mut self, node: &str, heartbeat: Option<String>, now: Instant) {
        let p = self.probe(node, now);
        if heartbeat.is_some() && p.heartbeat != heartbeat {
            p.heartbeat = heartbeat;
            p.at = now;
        }
    }

    /// When the node was last heard from (now, if never before).
    pub fn last_heard(&mut self, node: &str, now: Instant) -> Instant {
        self.probe(node, now).at
    }

    /// Every node gets a fresh grace period (leaving full-disruption mode:
    /// the silence was the control plane's, not the nodes').
    pub fn reset_all(&mut self, now: Instant) {
        for p in self.probes.values_mut() {
            p.at = now;
        }
    }

    pub fn forget(&mut self, node: &str) {
        self.probes.remove(node);
    }

    /// Whether a reconcile must be queued for `deadline`: not if one is
    /// queued already for that moment or earlier (it will queue the next).
    pub fn arm(&mut self, node: &str, deadline: Instant, now: Instant) -> bool {
        let p = self.probe(node, now);
        match p.timer {
            Some(t) if t > now && t <= deadline => false,
            _ => {
                p.timer = Some(deadline);
                true
            }
        }
    }
}

/// How long a node may stay silent: longer before it ever reported.
pub fn grace(status: Option<&NodeStatus>, monitor: Duration, startup: Duration) -> Duration {
    let reported = status
        .and_then(|s| s.conditions.as_deref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready"));
    if reported { monitor } else { startup }
}

/// Sets the conditions a silent node reports to Unknown, as kube's node
/// lifecycle controller does. Returns whether anything changed.
pub fn mark_unknown(status: &mut NodeStatus, created: Option<Timestamp>, now: Timestamp) -> bool {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let mut changed = false;
    for type_ in SILENCED {
        match conditions.iter_mut().find(|c| c.type_ == *type_) {
            Some(c) if c.status == "Unknown" => {}
            Some(c) => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
                changed = true;
            }
            None => {
                conditions.push(NodeCondition {
                    type_: (*type_).to_owned(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: created.map(Time),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
        }
    }
    changed
}

/// The Ready condition's lastHeartbeatTime as stored (compared as text:
/// only a change matters).
pub fn heartbeat(status: Option<&NodeStatus>) -> Option<String> {
    let c = status?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    c.last_heartbeat_time.as_ref().map(|t| t.0.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewals_and_heartbeats_move_the_probe() {
        let mut h = Health::default();
        let t0 = Instant::now();
        assert_eq!(h.last_heard("n", t0), t0);
        let t1 = t0 + Duration::from_secs(5);
        assert!(h.lease_seen("n", Some("r1".into()), t1));
        assert!(!h.lease_seen("n", Some("r1".into()), t1 + Duration::from_secs(1)));
        assert_eq!(h.last_heard("n", t1 + Duration::from_secs(9)), t1);
        let t2 = t1 + Duration::from_secs(10);
        h.heartbeat_seen("n", Some("hb".into()), t2);
        assert_eq!(h.last_heard("n", t2), t2);
        h.heartbeat_seen("n", None, t2 + Duration::from_secs(1));
        assert_eq!(h.last_heard("n", t2 + Duration::from_secs(1)), t2);
    }

    #[test]
    fn one_timer_per_deadline() {
        let mut h = Health::default();
        let now = Instant::now();
        let d = now + Duration::from_secs(10);
        assert!(h.arm("n", d, now));
        assert!(
            !h.arm("n", d + Duration::from_secs(5), now),
            "an earlier timer will re-arm"
        );
        assert!(
            h.arm("n", d - Duration::from_secs(5), now),
            "an earlier deadline needs its own"
        );
        assert!(
            h.arm("n", d, d + Duration::from_secs(1)),
            "a timer that fired is gone"
        );
    }

    #[test]
    fn silent_nodes_turn_unknown_once() {
        let now = Timestamp::from_second(100).expect("ts");
        let mut status = NodeStatus {
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: "True".into(),
                reason: Some("KubeletReady".into()),
                ..NodeCondition::default()
            }]),
            ..NodeStatus::default()
        };
        assert!(mark_unknown(&mut status, None, now));
        let conds = status.conditions.as_deref().expect("conditions");
        assert_eq!(conds.len(), 4);
        assert!(conds.iter().all(|c| c.status == "Unknown"));
        assert_eq!(
            conds[0].message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        assert_eq!(conds[1].reason.as_deref(), Some("NodeStatusNeverUpdated"));
        assert!(!mark_unknown(&mut status, None, now));
    }

    #[test]
    fn nodes_that_never_reported_get_the_startup_grace() {
        let (m, s) = (Duration::from_secs(40), Duration::from_secs(60));
        assert_eq!(grace(None, m, s), s);
        let status = NodeStatus {
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: "False".into(),
                ..NodeCondition::default()
            }]),
            ..NodeStatus::default()
        };
        assert_eq!(grace(Some(&status), m, s), m);
    }
}
