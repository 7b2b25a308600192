//! What the watchers say: node, lease and pod changes update the
//! controller's memory (health, zones, pods by node) and queue the nodes
//! and pods to look at again.

use std::collections::HashSet;
use std::time::Instant;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use verge_runtime::{CachedObject, Client, Event};

use super::{Seen, Shared, State, ZoneLabels, health, zones};

impl Shared {
    pub(super) fn on_node(&self, event: Event) {
        match event {
            Event::Applied(obj) => self.node_applied(&obj),
            Event::Deleted(obj) => {
                if let Some(name) = obj.key.rsplit('/').next() {
                    self.node_gone(name);
                }
            }
            Event::Relisted(objs) => {
                let present: HashSet<&str> = objs
                    .iter()
                    .filter_map(|o| o.key.rsplit('/').next())
                    .collect();
                let gone: Vec<String> = self
                    .state
                    .lock()
                    .nodes
                    .keys()
                    .filter(|n| !present.contains(n.as_str()))
                    .cloned()
                    .collect();
                for name in gone {
                    self.node_gone(&name);
                }
                for obj in &objs {
                    self.node_applied(obj);
                }
            }
        }
    }

    fn node_applied(&self, obj: &CachedObject) {
        let node: Node = match Client::decode(obj) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(key = %obj.key, error = %e, "node does not decode; ignored");
                return;
            }
        };
        let Some(name) = node.metadata.name.clone() else {
            return;
        };
        let seen = Seen::of(&node);
        let now = Instant::now();
        let mut wake_nodes = Vec::new();
        let wake_pods;
        {
            let mut st = self.state.lock();
            st.health
                .heartbeat_seen(&name, health::heartbeat(node.status.as_ref()), now);
            let prev = st.nodes.insert(name.clone(), seen.clone());
            let change = st
                .zones
                .update(prev.as_ref().and_then(Seen::zone_entry), seen.zone_entry());
            let emptied = change.emptied.clone();
            wake_nodes.extend(self.zone_change(&mut st, change, now));
            if prev.as_ref() != Some(&seen) {
                wake_nodes.push(name.clone());
            }
            let pods_matter = prev.as_ref().is_none_or(|p| {
                p.readiness != seen.readiness
                    || p.no_execute != seen.no_execute
                    || p.autonomous != seen.autonomous
            });
            wake_pods =
                if pods_matter && (seen.troubled() || prev.as_ref().is_some_and(Seen::troubled)) {
                    st.pods.get(&name).cloned().collect::<Vec<_>>()
                } else {
                    Vec::new()
                };
            let untimed: Vec<String> = seen
                .no_execute
                .iter()
                .filter(|(_, at)| at.is_none())
                .map(|(k, _)| k.clone())
                .collect();
            st.untimed
                .retain(|(n, k), _| *n != name || untimed.contains(k));
            self.update_zone_metrics(&st, &emptied);
        }
        for n in wake_nodes {
            self.nodes_q.add(n);
        }
        for p in wake_pods {
            self.pods_q.add(p);
        }
    }

    fn node_gone(&self, name: &str) {
        let mut st = self.state.lock();
        st.health.forget(name);
        st.untimed.retain(|(n, _), _| n != name);
        if let Some(prev) = st.nodes.remove(name) {
            let change = st.zones.update(prev.zone_entry(), None);
            let emptied = change.emptied.clone();
            let wake = self.zone_change(&mut st, change, Instant::now());
            self.update_zone_metrics(&st, &emptied);
            drop(st);
            for n in wake {
                self.nodes_q.add(n);
            }
        }
    }

    /// Reacts to zone state changes; returns the nodes to look at again.
    fn zone_change(&self, st: &mut State, change: zones::Change, now: Instant) -> Vec<String> {
        if change.zones.is_empty() && !change.all_disrupted_flipped {
            return Vec::new();
        }
        if change.all_disrupted_flipped {
            if st.zones.all_disrupted() {
                tracing::warn!(
                    "no node in any zone is Ready: assuming the control plane is cut off; \
                     NoExecute taints are lifted and nothing is evicted until a node is back"
                );
            } else {
                tracing::info!("a node is Ready again: leaving full-disruption mode");
                // The silence was ours: every node gets a fresh grace period.
                st.health.reset_all(now);
            }
            return st
                .nodes
                .iter()
                .filter(|(_, s)| !s.healthy())
                .map(|(n, _)| n.clone())
                .collect();
        }
        for zone in &change.zones {
            tracing::info!(zone = %zone, state = st.zones.state(zone).as_str(), "zone state changed");
        }
        st.nodes
            .iter()
            .filter(|(_, s)| !s.healthy() && change.zones.contains(&s.zone))
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn update_zone_metrics(&self, st: &State, emptied: &[String]) {
        for zone in emptied {
            let labels = ZoneLabels { zone: zone.clone() };
            self.metrics.zone_size.remove(&labels);
            self.metrics.zone_unhealthy.remove(&labels);
        }
        for (zone, c) in st.zones.counts() {
            let labels = ZoneLabels { zone: zone.clone() };
            self.metrics
                .zone_size
                .get_or_create(&labels)
                .set(i64::try_from(c.total).unwrap_or(i64::MAX));
            self.metrics
                .zone_unhealthy
                .get_or_create(&labels)
                .set(i64::try_from(c.unhealthy).unwrap_or(i64::MAX));
        }
    }

    pub(super) fn on_lease(&self, event: Event) {
        let now = Instant::now();
        let objs = match event {
            Event::Applied(obj) => vec![obj],
            Event::Relisted(objs) => objs,
            // A node that deletes its Lease is silent from now on.
            Event::Deleted(_) => return,
        };
        let mut st = self.state.lock();
        for obj in objs {
            let Ok(lease) = Client::decode::<Lease>(&obj) else {
                continue;
            };
            let (Some(name), Some(spec)) = (lease.metadata.name, lease.spec) else {
                continue;
            };
            let renew = spec.renew_time.map(|t| t.0.to_string());
            st.health.lease_seen(&name, renew, now);
        }
    }

    pub(super) fn on_pod(&self, event: Event) {
        let bound_to = |obj: &CachedObject| {
            obj.fields
                .iter()
                .find(|(f, _)| *f == "spec.nodeName")
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let mut wake = Vec::new();
        {
            let mut st = self.state.lock();
            let mut applied = |st: &mut State, obj: &CachedObject| {
                let node = bound_to(obj);
                let troubled = node
                    .as_ref()
                    .and_then(|n| st.nodes.get(n))
                    .is_some_and(Seen::troubled);
                st.pods.set(&obj.key, node.into_iter().collect());
                if troubled || st.scheduled.contains(&obj.key) {
                    wake.push(obj.key.clone());
                }
            };
            match event {
                Event::Applied(obj) => applied(&mut st, &obj),
                Event::Deleted(obj) => {
                    st.pods.remove(&obj.key);
                    st.scheduled.remove(&obj.key);
                }
                Event::Relisted(objs) => {
                    st.pods.clear();
                    let keys: HashSet<&str> = objs.iter().map(|o| o.key.as_str()).collect();
                    st.scheduled.retain(|k| keys.contains(k.as_str()));
                    for obj in &objs {
                        applied(&mut st, obj);
                    }
                }
            }
        }
        for key in wake {
            self.pods_q.add(key);
        }
    }
}
