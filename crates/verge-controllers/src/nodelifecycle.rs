//! Node lifecycle, edge-aware: Kubernetes' node lifecycle controller and
//! taint-based eviction, except that edge nodes keep their pods.
//!
//! - A node that stops renewing its Lease (and posting its Ready heartbeat)
//!   for `node_monitor_grace_period` gets Ready=Unknown ("Kubelet stopped
//!   posting node status.") and the `node.kubernetes.io/unreachable`
//!   NoSchedule and NoExecute taints; a node reporting Ready=False gets the
//!   `not-ready` ones. The taints go when the node reports Ready again.
//!   NoExecute taints are rate-limited per zone and withheld in zone
//!   disruption (see `zones`).
//! - Pods on a node that is not Ready are marked Ready=False. Pods on a
//!   NoExecute-tainted node are deleted (gracefully, with a
//!   DisruptionTarget condition and a TaintManagerEviction event) once
//!   their toleration runs out — but on an edge node
//!   (`node-role.kubernetes.io/edge`) the not-ready/unreachable taints only
//!   evict pods that tolerate them explicitly with `tolerationSeconds`, or
//!   every pod when the node is annotated `verge.dev/eviction: enabled`.
//!   Nothing is evicted otherwise, so nothing is recreated or duplicated
//!   when the node comes back.
//!
//! Leases, Nodes and Pods are observed through watchers on the watch cache.
//! The one timer — "this node's grace period ends now" — is a delayed key
//! in the work queue; eviction deadlines are delayed pod keys. Deadlines of
//! evictions run from the taint's `timeAdded`, so a restart neither delays
//! nor hastens them; silence is measured by this process's clock from the
//! moment it started watching.

mod eviction;
mod health;
mod nodes;
mod observe;
mod taints;
mod zones;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use verge_runtime::{Client, ControllerMetrics, Event, Index, Queue, Recorder, Watcher};

use health::Health;
pub use taints::{EDGE_LABEL, EVICTION_ANNOTATION, Readiness};
use zones::{Rates, Zones};

/// Reconciles in flight per queue. A reconcile mostly waits for its write to
/// be committed; the store commits concurrent writes in one batch, so a
/// partition that silences thousands of nodes is handled in batches rather
/// than one fsync at a time.
const WORKERS: usize = 16;

/// Namespace of node Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// Nodes with this label are left out of zone health (as in Kubernetes).
pub const EXCLUDE_DISRUPTION_LABEL: &str = "node.kubernetes.io/exclude-disruption";

/// The flags of `verge server` that tune this controller; defaults are
/// kube-controller-manager's.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Silence after which a node that has reported before is Unknown.
    pub node_monitor_grace_period: Duration,
    /// Silence after which a node that never reported is Unknown.
    pub node_startup_grace_period: Duration,
    /// Nodes per second tainted for eviction in a healthy zone.
    pub node_eviction_rate: f64,
    /// Nodes per second in a large zone in partial disruption.
    pub secondary_node_eviction_rate: f64,
    /// Zones up to this size stop evicting in partial disruption.
    pub large_cluster_size_threshold: usize,
    /// Share of unhealthy nodes (more than two) that disrupts a zone.
    pub unhealthy_zone_threshold: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            node_monitor_grace_period: Duration::from_secs(40),
            node_startup_grace_period: Duration::from_secs(60),
            node_eviction_rate: 0.1,
            secondary_node_eviction_rate: 0.01,
            large_cluster_size_threshold: 50,
            unhealthy_zone_threshold: 0.55,
        }
    }
}

/// Parses a duration flag: Go style (`40s`, `1m30s`, `500ms`) or seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let d: jiff::SignedDuration = s
        .parse()
        .map_err(|e| format!("{s:?} is not a duration such as 40s, 5m or 1m30s: {e}"))?;
    Duration::try_from(d).map_err(|_| format!("{s:?} is negative"))
}

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>, settings: Settings) {
    let watchers = (
        client.watcher::<Node>(None),
        client.watcher::<Lease>(Some(LEASE_NAMESPACE)),
        client.watcher::<Pod>(None),
    );
    let (nodes, leases, pods) = match watchers {
        (Ok(n), Ok(l), Ok(p)) => (n, l, p),
        (n, l, p) => {
            let why = [n.err(), l.err(), p.err()]
                .into_iter()
                .flatten()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            tracing::error!(error = %why, "node lifecycle controller cannot watch; not started");
            return;
        }
    };
    let shared = Arc::new(Shared::new(client, &metrics, settings));
    tokio::spawn(follow(nodes, shared.clone(), Shared::on_node));
    tokio::spawn(follow(leases, shared.clone(), Shared::on_lease));
    tokio::spawn(follow(pods, shared.clone(), Shared::on_pod));
    let node_loop = verge_runtime::run(
        "nodelifecycle",
        shared.nodes_q.clone(),
        WORKERS,
        metrics.clone(),
        shared.clone(),
        nodes::reconcile_node,
    );
    let pod_loop = verge_runtime::run(
        "taint-eviction",
        shared.pods_q.clone(),
        WORKERS,
        metrics,
        shared.clone(),
        eviction::reconcile_pod,
    );
    tokio::join!(node_loop, pod_loop);
}

async fn follow(mut watcher: Watcher, shared: Arc<Shared>, handle: fn(&Shared, Event)) {
    while let Some(event) = watcher.next().await {
        handle(&shared, event);
    }
}

struct Shared {
    client: Client,
    settings: Settings,
    state: Mutex<State>,
    nodes_q: Queue<String>,
    pods_q: Queue<String>,
    node_events: Recorder,
    eviction_events: Recorder,
    metrics: Metrics,
}

struct State {
    health: Health,
    zones: Zones,
    nodes: HashMap<String, Seen>,
    /// Node name → storage keys of the pods bound to it.
    pods: Index,
    /// Pods with an eviction deadline, for the event when it is cancelled.
    scheduled: HashSet<String>,
    /// (node, taint key) → when a NoExecute taint without timeAdded was
    /// first seen.
    untimed: HashMap<(String, String), Timestamp>,
}

/// What the controller keeps of a node between events.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    zone: String,
    counted: bool,
    readiness: Readiness,
    /// NoSchedule taint keys the conditions call for.
    wanted: Vec<&'static str>,
    /// Every taint as (key, effect), to notice when they drift.
    taints: Vec<(String, String)>,
    /// NoExecute taints with their timeAdded: what pods' fates depend on.
    no_execute: Vec<(String, Option<String>)>,
    autonomous: bool,
}

impl Seen {
    fn of(node: &Node) -> Seen {
        let labels = node.metadata.labels.as_ref();
        let label = |k: &str| labels.and_then(|l| l.get(k)).map_or("", String::as_str);
        let region = Some(label("topology.kubernetes.io/region"))
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| label("failure-domain.beta.kubernetes.io/region"));
        let zone = Some(label("topology.kubernetes.io/zone"))
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| label("failure-domain.beta.kubernetes.io/zone"));
        let all = taints::taints(node);
        Seen {
            zone: if region.is_empty() && zone.is_empty() {
                String::new()
            } else {
                format!("{region}/{zone}")
            },
            counted: !labels.is_some_and(|l| l.contains_key(EXCLUDE_DISRUPTION_LABEL)),
            readiness: Readiness::of(node),
            wanted: taints::wanted_no_schedule(node),
            taints: all
                .iter()
                .map(|t| (t.key.clone(), t.effect.clone()))
                .collect(),
            no_execute: all
                .iter()
                .filter(|t| t.effect == "NoExecute")
                .map(|t| {
                    (
                        t.key.clone(),
                        t.time_added.as_ref().map(|t| t.0.to_string()),
                    )
                })
                .collect(),
            autonomous: taints::is_edge(node) && !taints::eviction_enabled(node),
        }
    }

    fn healthy(&self) -> bool {
        self.readiness == Readiness::True
    }

    /// Pods on this node may need marking or evicting.
    fn troubled(&self) -> bool {
        !self.healthy() || !self.no_execute.is_empty()
    }

    fn zone_entry(&self) -> Option<(&str, bool)> {
        self.counted
            .then_some((self.zone.as_str(), !self.healthy()))
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ZoneLabels {
    zone: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EvictionLabels {
    node_kind: &'static str,
}

struct Metrics {
    evictions: Family<EvictionLabels, Counter>,
    zone_size: Family<ZoneLabels, Gauge>,
    zone_unhealthy: Family<ZoneLabels, Gauge>,
}

impl Shared {
    fn new(client: Client, registry: &ControllerMetrics, settings: Settings) -> Shared {
        let metrics = Metrics {
            evictions: Family::default(),
            zone_size: Family::default(),
            zone_unhealthy: Family::default(),
        };
        registry.register(|r| {
            r.register(
                "node_lifecycle_evictions",
                "Pods deleted by taint-based eviction, by kind of node (edge, cloud)",
                metrics.evictions.clone(),
            );
            r.register(
                "node_lifecycle_zone_nodes",
                "Nodes per zone counted for zone disruption",
                metrics.zone_size.clone(),
            );
            r.register(
                "node_lifecycle_zone_unhealthy_nodes",
                "Nodes per zone that are not Ready",
                metrics.zone_unhealthy.clone(),
            );
        });
        let rates = Rates {
            primary: settings.node_eviction_rate,
            secondary: settings.secondary_node_eviction_rate,
            large_zone: settings.large_cluster_size_threshold,
            unhealthy_threshold: settings.unhealthy_zone_threshold,
        };
        Shared {
            node_events: Recorder::new(client.clone(), "node-controller"),
            eviction_events: Recorder::new(client.clone(), "taint-eviction-controller"),
            client,
            settings,
            state: Mutex::new(State {
                health: Health::default(),
                zones: Zones::new(rates),
                nodes: HashMap::new(),
                pods: Index::new(),
                scheduled: HashSet::new(),
                untimed: HashMap::new(),
            }),
            nodes_q: Queue::new(),
            pods_q: Queue::new(),
            metrics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go_flags() {
        assert_eq!(parse_duration("40s"), Ok(Duration::from_secs(40)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5s").is_err());
    }
}
