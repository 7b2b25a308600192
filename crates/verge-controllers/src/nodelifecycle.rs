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

mod health;
mod taints;
mod zones;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use verge_runtime::{
    Action, CachedObject, Client, ControllerMetrics, DeleteOptions, Error, Event, Index, ObjectRef,
    Part, Queue, Recorder, Watcher,
};

use crate::pods;
use health::Health;
pub use taints::{EDGE_LABEL, EVICTION_ANNOTATION, Readiness};
use zones::{Rates, Zones};

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

const NOT_READY_MESSAGE: &str = "Node is not ready";

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
    let sh = shared.clone();
    let node_loop = verge_runtime::run(
        "nodelifecycle",
        shared.nodes_q.clone(),
        2,
        metrics.clone(),
        move |name: String| reconcile_node(sh.clone(), name),
    );
    let sh = shared.clone();
    let pod_loop = verge_runtime::run(
        "taint-eviction",
        shared.pods_q.clone(),
        4,
        metrics,
        move |key: String| reconcile_pod(sh.clone(), key),
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

    fn on_node(&self, event: Event) {
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
            self.update_zone_metrics(&st);
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
            let wake = self.zone_change(&mut st, change, Instant::now());
            self.update_zone_metrics(&st);
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

    fn update_zone_metrics(&self, st: &State) {
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

    fn on_lease(&self, event: Event) {
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

    fn on_pod(&self, event: Event) {
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

/// Brings one node's conditions and taints in line with what is known of
/// it, and arms the timer for the end of its grace period.
async fn reconcile_node(sh: Arc<Shared>, name: String) -> Result<Action, Error> {
    let Some(mut node) = sh.client.get::<Node>(None, &name)? else {
        return Ok(Action::Done);
    };
    let now = Instant::now();
    let grace = health::grace(
        node.status.as_ref(),
        sh.settings.node_monitor_grace_period,
        sh.settings.node_startup_grace_period,
    );
    let deadline = sh.state.lock().health.last_heard(&name, now) + grace;
    if now >= deadline {
        let mut probe = node.status.clone().unwrap_or_default();
        let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
        if health::mark_unknown(&mut probe, created, Timestamp::now()) {
            let was = Readiness::of(&node);
            node = sh
                .client
                .update::<Node, _>(None, &name, Part::Status, |n| {
                    let status = n.status.get_or_insert_with(Default::default);
                    health::mark_unknown(status, created, Timestamp::now());
                    Ok(())
                })
                .await?;
            tracing::info!(node = %name, silent_for = ?now.duration_since(deadline - grace), "node stopped reporting; its status is now Unknown");
            if was != Readiness::Unknown {
                sh.node_events.normal(
                    &ObjectRef::of(&node),
                    "NodeNotReady",
                    &format!("Node {name} status is now: NodeNotReady"),
                );
            }
        }
    } else if sh.state.lock().health.arm(&name, deadline, now) {
        sh.nodes_q.add_after(name.clone(), deadline - now);
    }

    let readiness = Readiness::of(&node);
    let zone = Seen::of(&node).zone;
    let current = taints::current_no_execute(&node);
    let mut retry_in = None;
    let no_execute = {
        let mut st = sh.state.lock();
        match readiness.taint_key() {
            None => None,
            Some(_) if st.zones.all_disrupted() => None,
            // Swapping not-ready for unreachable (or back) is not a new
            // eviction: no token needed.
            Some(key) if current.is_some() => Some(key),
            Some(key) => match st.zones.take(&zone, now) {
                Ok(()) => Some(key),
                Err(wait) => {
                    retry_in = wait;
                    None
                }
            },
        }
    };
    let wanted = taints::wanted_no_schedule(&node);
    if taints::with_owned_taints(taints::taints(&node), &wanted, no_execute, Timestamp::now())
        .is_some()
    {
        let updated = sh
            .client
            .update::<Node, _>(None, &name, Part::Main, |n| {
                // A newer node may have changed state meanwhile: keep its
                // NoExecute taint unless it is the one this pass decided on.
                let fresh = Readiness::of(n);
                let no_execute = if fresh == readiness {
                    no_execute
                } else {
                    taints::current_no_execute(n)
                };
                let wanted = taints::wanted_no_schedule(n);
                if let Some(new) = taints::with_owned_taints(
                    taints::taints(n),
                    &wanted,
                    no_execute,
                    Timestamp::now(),
                ) {
                    n.spec.get_or_insert_with(Default::default).taints =
                        (!new.is_empty()).then_some(new);
                }
                Ok(())
            })
            .await?;
        tracing::info!(
            node = %name,
            readiness = ?readiness,
            taints = ?taints::taints(&updated).iter().map(|t| format!("{}:{}", t.key, t.effect)).collect::<Vec<_>>(),
            "node taints updated"
        );
    }
    if let Some(wait) = retry_in {
        tracing::debug!(node = %name, zone = %zone, ?wait, "eviction rate limit: NoExecute taint waits");
        sh.nodes_q.add_after(name, wait);
    }
    Ok(Action::Done)
}

/// Marks a pod on a sick node not ready, and evicts it from a NoExecute
/// tainted node once its toleration runs out.
async fn reconcile_pod(sh: Arc<Shared>, key: String) -> Result<Action, Error> {
    let Some(pod) = sh.client.get_by_key::<Pod>(&key)? else {
        return Ok(Action::Done);
    };
    let Some(node_name) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
        return Ok(Action::Done);
    };
    if pods::is_terminal(&pod) || pods::is_deleting(&pod.metadata) {
        sh.state.lock().scheduled.remove(&key);
        return Ok(Action::Done);
    }
    let Some(node) = sh.client.get::<Node>(None, &node_name)? else {
        return Ok(Action::Done);
    };
    let (Some(ns), Some(name), Some(uid)) = (
        pod.metadata.namespace.clone(),
        pod.metadata.name.clone(),
        pod.metadata.uid.clone(),
    ) else {
        return Ok(Action::Done);
    };

    if Readiness::of(&node) != Readiness::True && pods::is_ready(&pod) {
        mark_not_ready(&sh, &ns, &name, &uid).await?;
        sh.eviction_events
            .warning(&ObjectRef::of(&pod), "NodeNotReady", NOT_READY_MESSAGE);
    }

    let now = Timestamp::now();
    let verdict = taints::verdict(&pod, &node, |t| {
        *sh.state
            .lock()
            .untimed
            .entry((node_name.clone(), t.key.clone()))
            .or_insert(now)
    });
    match verdict {
        taints::Verdict::Stay => {
            if sh.state.lock().scheduled.remove(&key) {
                sh.eviction_events.normal(
                    &ObjectRef::of(&pod),
                    "TaintManagerEviction",
                    &format!("Cancelling deletion of Pod {ns}/{name}"),
                );
            }
            Ok(Action::Done)
        }
        taints::Verdict::EvictAt(at) if at > now => {
            sh.state.lock().scheduled.insert(key);
            let wait = now.duration_until(at).unsigned_abs();
            Ok(Action::RequeueAfter(wait))
        }
        _ => {
            evict(&sh, &pod, &ns, &name, &uid, taints::is_edge(&node)).await?;
            sh.state.lock().scheduled.remove(&key);
            Ok(Action::Done)
        }
    }
}

async fn mark_not_ready(sh: &Shared, ns: &str, name: &str, uid: &str) -> Result<(), Error> {
    let result = sh
        .client
        .update::<Pod, _>(Some(ns), name, Part::Status, |p| {
            if p.metadata.uid.as_deref() != Some(uid) {
                return Ok(());
            }
            let conditions = p
                .status
                .get_or_insert_with(Default::default)
                .conditions
                .get_or_insert_with(Vec::new);
            if let Some(c) = conditions
                .iter_mut()
                .find(|c| c.type_ == "Ready" && c.status != "False")
            {
                c.status = "False".into();
                c.last_transition_time = Some(Time(Timestamp::now()));
            }
            Ok(())
        })
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

async fn evict(
    sh: &Shared,
    pod: &Pod,
    ns: &str,
    name: &str,
    uid: &str,
    edge: bool,
) -> Result<(), Error> {
    let marked = sh
        .client
        .update::<Pod, _>(Some(ns), name, Part::Status, |p| {
            if p.metadata.uid.as_deref() != Some(uid) {
                return Ok(());
            }
            let conditions = p
                .status
                .get_or_insert_with(Default::default)
                .conditions
                .get_or_insert_with(Vec::new);
            if !conditions
                .iter()
                .any(|c| c.type_ == "DisruptionTarget" && c.status == "True")
            {
                conditions.retain(|c| c.type_ != "DisruptionTarget");
                conditions.push(PodCondition {
                    type_: "DisruptionTarget".into(),
                    status: "True".into(),
                    reason: Some("DeletionByTaintManager".into()),
                    message: Some("Taint manager: deleting due to NoExecute taint".into()),
                    last_transition_time: Some(Time(Timestamp::now())),
                    ..PodCondition::default()
                });
            }
            Ok(())
        })
        .await;
    match marked {
        Ok(_) => {}
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    }
    let opts = DeleteOptions {
        precondition_uid: Some(uid.to_owned()),
        ..DeleteOptions::default()
    };
    match sh.client.delete::<Pod>(Some(ns), name, &opts).await {
        Ok(_) => {}
        // Gone, or replaced by a pod of the same name: nothing to evict.
        Err(e) if e.is_not_found() || e.is_conflict() => return Ok(()),
        Err(e) => return Err(e),
    }
    tracing::info!(pod = %format!("{ns}/{name}"), edge, "evicted pod from a NoExecute-tainted node");
    sh.eviction_events.normal(
        &ObjectRef::of(pod),
        "TaintManagerEviction",
        &format!("Marking for deletion Pod {ns}/{name}"),
    );
    sh.metrics
        .evictions
        .get_or_create(&EvictionLabels {
            node_kind: if edge { "edge" } else { "cloud" },
        })
        .inc();
    Ok(())
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
