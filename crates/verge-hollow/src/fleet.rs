//! The fleet: shared state, the two watches, the work queues and their
//! workers.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, PodStatus};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::{WatchStreamExt, watcher};
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::{Notify, RwLock};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::{FleetConfig, NodeSpec};
use crate::ipam::{PodBlock, offset_ip, parse_cidr};
use crate::node::{
    LEASE_NAMESPACE, NodeAddressing, ObservedConditions, lease_object, lease_renewal,
    needs_takeover_patch, node_object, node_status, node_takeover_patch,
};
use crate::pod::{PodKey, PodRun, PodView, desired_status, digest, hex_digest};
use crate::queue::Queue;
use crate::script::{Millis, timeline};
use crate::{Error, Result};

/// A pod as the node that runs it sees it ([`Fleet::running_pods`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningPod {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid` of the pod the node started.
    pub uid: String,
    /// Container restarts so far.
    pub restarts: u32,
    /// Are its containers ready?
    pub ready: bool,
    /// Its IP address.
    pub pod_ip: Ipv4Addr,
    /// When the node started it.
    pub started_at: Timestamp,
}

/// Counters of a fleet's work ([`Fleet::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetStats {
    /// Nodes in the fleet.
    pub nodes: usize,
    /// Nodes whose Node object exists (registered or taken over).
    pub registered: usize,
    /// Nodes whose link is up.
    pub connected: usize,
    /// Pods the nodes run (not finished).
    pub running_pods: usize,
    /// Lease renewals (and creations) written.
    pub lease_renewals: u64,
    /// Node status writes, registrations included.
    pub node_status_writes: u64,
    /// Pods the nodes started.
    pub pods_started: u64,
    /// Pod status writes.
    pub pod_status_writes: u64,
    /// Pod deletions confirmed (`gracePeriodSeconds=0`).
    pub pod_deletions: u64,
    /// API calls that failed (and were retried).
    pub api_errors: u64,
    /// Lease renewals due and waiting for a worker.
    pub queued_leases: usize,
    /// Node registrations and status writes due and waiting for a worker.
    pub queued_node_statuses: usize,
    /// Pod syncs due and waiting for a worker.
    pub queued_pod_syncs: usize,
}

/// A set of hollow nodes driven through one client. Dropping it stops them
/// (as [`Fleet::stop`] does, without waiting); their Nodes, Leases and pods
/// stay in the API as a killed kubelet leaves them.
pub struct Fleet {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PodJob {
    node: Arc<str>,
    key: PodKey,
}

#[derive(Default)]
struct Counters {
    lease_renewals: AtomicU64,
    node_status_writes: AtomicU64,
    pods_started: AtomicU64,
    pod_status_writes: AtomicU64,
    pod_deletions: AtomicU64,
    api_errors: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

struct Shared {
    client: Client,
    config: FleetConfig,
    state: Mutex<State>,
    /// Lease renewals, by node name.
    leases: Queue<Arc<str>>,
    /// Registrations and status reports, by node name.
    statuses: Queue<Arc<str>>,
    pods: Queue<PodJob>,
    /// Time zero of every node's renewal and report phases.
    anchor: Instant,
    /// Distinguishes this run's boot ids.
    run_id: String,
    registered: Notify,
    counters: Counters,
}

#[derive(Default)]
struct State {
    nodes: HashMap<Arc<str>, NodeState>,
    next_index: u64,
    next_block: u64,
    next_ip: u64,
    /// Network addresses of the nodes' pod blocks.
    blocks: HashSet<Ipv4Addr>,
    /// The nodes' InternalIPs.
    node_ips: HashSet<Ipv4Addr>,
    next_incarnation: u64,
    /// Every bound pod as the API last showed it.
    pods: HashMap<PodKey, PodView>,
    /// `pods` by node name.
    by_node: HashMap<Arc<str>, HashSet<PodKey>>,
    /// Keys seen since the pods watch began a relist.
    relisting: Option<HashSet<PodKey>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Registration {
    Pending,
    Registered {
        uid: String,
    },
    /// Someone deleted the Node: the node stops heartbeating.
    Deleted,
}

struct NodeState {
    name: Arc<str>,
    spec: Arc<NodeSpec>,
    incarnation: u64,
    /// Position in `[0, 1)` of the node's renewals and reports within their
    /// intervals.
    phase: f64,
    addressing: NodeAddressing,
    block: PodBlock,
    /// Held (read) across each API call of the node; written to cut the link.
    link: Arc<RwLock<bool>>,
    connected: bool,
    registration: Registration,
    observed: ObservedConditions,
    pods: HashMap<PodKey, PodRun>,
    /// Pods (by uid) whose deletion the node confirmed and that the API still
    /// shows (finalizers): not deleted again on every update.
    confirmed: HashMap<PodKey, String>,
}

impl NodeState {
    fn start(&mut self, key: &PodKey, view: &PodView, now: Millis) -> Result<(), String> {
        let (pod_ip, owns_ip) = if view.host_network {
            (self.addressing.ip, false)
        } else if let Some(ip) = view.pod_ip.filter(|ip| self.block.claim(*ip)) {
            (ip, true)
        } else {
            match self.block.allocate() {
                Some(ip) => (ip, true),
                None => return Err(format!("pod block {} is full", self.block.cidr())),
            }
        };
        for e in &view.script_errors {
            warn!(node = %self.name, pod = %key, "ignoring annotation: {e}");
        }
        // A pod the API shows Running (the fleet restarted, or the node was
        // removed and added back) keeps running since its startTime, as
        // containers outlive a kubelet restart.
        let started = match (view.phase.as_deref(), view.start_time) {
            (Some("Running"), Some(t)) if t <= now => t,
            _ => now,
        };
        self.pods.insert(
            key.clone(),
            PodRun {
                uid: view.uid.clone(),
                started,
                pod_ip,
                owns_ip,
                script: view.script,
                restart_policy: view.restart_policy,
                last_written: None,
            },
        );
        debug!(node = %self.name, pod = %key, ip = %pod_ip, "started pod");
        Ok(())
    }

    fn stop(&mut self, key: &PodKey) {
        if let Some(run) = self.pods.remove(key) {
            if run.owns_ip {
                self.block.release(run.pod_ip);
            }
            debug!(node = %self.name, pod = %key, uid = %run.uid, "stopped pod");
        }
    }

    fn running(&self, key: &PodKey, run: &PodRun, now: Millis) -> Option<RunningPod> {
        let tl = timeline(&run.script, run.restart_policy, run.started, now);
        if tl.finished.is_some() {
            return None;
        }
        Some(RunningPod {
            namespace: key.namespace.to_string(),
            name: key.name.to_string(),
            uid: run.uid.clone(),
            restarts: tl.restarts,
            ready: tl.ready,
            pod_ip: run.pod_ip,
            started_at: Timestamp::from_millisecond(run.started).unwrap_or(Timestamp::UNIX_EPOCH),
        })
    }
}

/// What a pod sync decided to write.
enum Call {
    Status {
        uid: String,
        status: Box<PodStatus>,
        want: u64,
    },
    Delete {
        uid: String,
    },
}

struct Plan {
    call: Option<Call>,
    wake: Option<Millis>,
}

impl Plan {
    const NOTHING: Plan = Plan {
        call: None,
        wake: None,
    };
}

/// Delay from `since` (time since the anchor) to the next instant at
/// `phase` of `interval` (anchor + (phase + k) × interval) that is at least
/// half an interval away.
fn slot_delay(since: Duration, phase: f64, interval: Duration) -> Duration {
    let iv = interval.as_nanos().max(1);
    let since = since.as_nanos();
    let offset = (phase.clamp(0.0, 1.0) * iv as f64) as u128 % iv;
    let earliest = since + iv / 2;
    let k = if earliest <= offset {
        0
    } else {
        (earliest - offset).div_ceil(iv)
    };
    let at = offset + k * iv;
    Duration::from_nanos(u64::try_from(at - since).unwrap_or(u64::MAX))
}

fn uid_of(params: &DeleteParams) -> String {
    params
        .preconditions
        .as_ref()
        .and_then(|p| p.uid.clone())
        .unwrap_or_default()
}

fn now_millis() -> Millis {
    Timestamp::now().as_millisecond()
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// Logs the first failure of a job and then every power-of-two'th one, so
/// an unreachable server does not flood the log.
fn log_failure(what: &str, failures: u32, err: &Error) {
    if failures.is_power_of_two() {
        warn!(failures, "{what}: {err}; retrying");
    } else {
        debug!(failures, "{what}: {err}; retrying");
    }
}

impl Fleet {
    /// Starts the fleet: checks the API server answers, then registers every
    /// node of `config` in the background (see [`Fleet::wait_registered`]),
    /// and starts watching pods and nodes.
    pub async fn start(client: Client, config: FleetConfig) -> Result<Fleet> {
        config.validate()?;
        let version = client.apiserver_version().await?;
        let mut config = config;
        let nodes = std::mem::take(&mut config.nodes);
        let (base, max) = (config.retry_base, config.retry_max);
        let (leases, statuses, pods) = (
            Queue::new(base, max),
            Queue::new(base, max),
            Queue::new(base, max),
        );
        let shared = Arc::new(Shared {
            client,
            leases,
            statuses,
            pods,
            anchor: Instant::now(),
            run_id: format!("{}", Timestamp::now().as_nanosecond()),
            registered: Notify::new(),
            counters: Counters::default(),
            state: Mutex::new(State::default()),
            config,
        });
        for spec in nodes {
            shared.add_node(spec)?;
        }
        info!(
            nodes = shared.state.lock().nodes.len(),
            server = %version.git_version,
            "starting hollow fleet"
        );
        let mut tasks = Vec::new();
        let sh = &shared;
        for work in [Work::Leases, Work::Statuses, Work::Pods] {
            tasks.push(tokio::spawn({
                let sh = sh.clone();
                async move {
                    match work {
                        Work::Leases => sh.leases.run_timer().await,
                        Work::Statuses => sh.statuses.run_timer().await,
                        Work::Pods => sh.pods.run_timer().await,
                    }
                }
            }));
            let workers = match work {
                Work::Leases => sh.config.lease_concurrency,
                Work::Statuses => sh.config.node_status_concurrency,
                Work::Pods => sh.config.pod_concurrency,
            };
            for _ in 0..workers {
                tasks.push(tokio::spawn(worker(sh.clone(), work)));
            }
        }
        tasks.push(tokio::spawn(watch_pods(sh.clone())));
        tasks.push(tokio::spawn(watch_nodes(sh.clone())));
        Ok(Fleet { shared, tasks })
    }

    /// Adds a node; it registers in the background.
    pub fn add_node(&self, spec: NodeSpec) -> Result<()> {
        self.shared.add_node(spec)
    }

    /// Stops a node (after the API calls it has in flight). With
    /// `delete_from_api`, also deletes its Node and Lease; its pods stay
    /// bound to it in the API.
    pub async fn remove_node(&self, name: &str, delete_from_api: bool) -> Result<()> {
        let link = self.shared.link(name)?;
        *link.write().await = false;
        {
            let mut st = self.shared.state.lock();
            if let Some(n) = st.nodes.remove(name) {
                st.blocks.remove(&n.block.network());
                st.node_ips.remove(&n.addressing.ip);
            }
        }
        self.shared.registered.notify_waiters();
        if delete_from_api {
            let nodes: Api<Node> = Api::all(self.shared.client.clone());
            let leases: Api<Lease> = Api::namespaced(self.shared.client.clone(), LEASE_NAMESPACE);
            match nodes.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_status(&e, 404) => {}
                Err(e) => return Err(e.into()),
            }
            match leases.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_status(&e, 404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        info!(node = name, delete_from_api, "removed hollow node");
        Ok(())
    }

    /// Cuts a node's link: once its API calls in flight finish, it renews
    /// no Lease, writes no status, confirms no deletion and acts on nothing
    /// it could only have read, while its pods keep running on it.
    pub async fn disconnect(&self, name: &str) -> Result<()> {
        let link = self.shared.link(name)?;
        *link.write().await = false;
        if let Some(n) = self.shared.state.lock().nodes.get_mut(name) {
            n.connected = false;
        }
        info!(node = name, "hollow node disconnected");
        Ok(())
    }

    /// Restores a node's link: it renews its Lease and reports its status at
    /// once, then reconciles its pods with the API (pods deleted meanwhile
    /// are stopped, pods bound meanwhile are started, the others keep
    /// running as they were).
    pub async fn reconnect(&self, name: &str) -> Result<()> {
        let link = self.shared.link(name)?;
        *link.write().await = true;
        if let Some(n) = self.shared.state.lock().nodes.get_mut(name) {
            n.connected = true;
        }
        self.shared.resync(name);
        info!(node = name, "hollow node reconnected");
        Ok(())
    }

    /// Is the node's link up?
    pub fn is_connected(&self, name: &str) -> Result<bool> {
        let st = self.shared.state.lock();
        let n = st
            .nodes
            .get(name)
            .ok_or_else(|| Error::UnknownNode(name.to_owned()))?;
        Ok(n.connected)
    }

    /// The pods a node believes it runs (started and not finished), sorted by
    /// namespace and name. A node keeps its belief while disconnected.
    pub fn running_pods(&self, name: &str) -> Result<Vec<RunningPod>> {
        let st = self.shared.state.lock();
        let n = st
            .nodes
            .get(name)
            .ok_or_else(|| Error::UnknownNode(name.to_owned()))?;
        let now = now_millis();
        let mut out: Vec<RunningPod> = n
            .pods
            .iter()
            .filter_map(|(k, run)| n.running(k, run, now))
            .collect();
        out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        Ok(out)
    }

    /// Names of the fleet's nodes, sorted.
    pub fn node_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .shared
            .state
            .lock()
            .nodes
            .keys()
            .map(|n| n.to_string())
            .collect();
        names.sort();
        names
    }

    /// Waits until every node of the fleet has registered its Node (retrying
    /// as long as the API refuses; bound it with `tokio::time::timeout`).
    pub async fn wait_registered(&self) {
        loop {
            let notified = self.shared.registered.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self
                .shared
                .state
                .lock()
                .nodes
                .values()
                .all(|n| n.registration != Registration::Pending)
            {
                return;
            }
            notified.await;
        }
    }

    /// Counters of the fleet's work so far.
    pub fn stats(&self) -> FleetStats {
        let sh = &self.shared;
        let now = now_millis();
        let mut s = {
            let st = sh.state.lock();
            FleetStats {
                nodes: st.nodes.len(),
                registered: st
                    .nodes
                    .values()
                    .filter(|n| matches!(n.registration, Registration::Registered { .. }))
                    .count(),
                connected: st.nodes.values().filter(|n| n.connected).count(),
                running_pods: st
                    .nodes
                    .values()
                    .map(|n| {
                        n.pods
                            .iter()
                            .filter(|(k, r)| n.running(k, r, now).is_some())
                            .count()
                    })
                    .sum(),
                ..FleetStats::default()
            }
        };
        let c = &sh.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        s.lease_renewals = get(&c.lease_renewals);
        s.node_status_writes = get(&c.node_status_writes);
        s.pods_started = get(&c.pods_started);
        s.pod_status_writes = get(&c.pod_status_writes);
        s.pod_deletions = get(&c.pod_deletions);
        s.api_errors = get(&c.api_errors);
        s.queued_leases = sh.leases.len().0;
        s.queued_node_statuses = sh.statuses.len().0;
        s.queued_pod_syncs = sh.pods.len().0;
        s
    }

    /// Stops every node at once (requests in flight are abandoned) and waits
    /// for the fleet's tasks to end.
    pub async fn stop(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Shared {
    fn patch_params(&self) -> PatchParams {
        PatchParams {
            field_manager: Some(self.config.field_manager.clone()),
            ..PatchParams::default()
        }
    }

    fn post_params(&self) -> PostParams {
        PostParams {
            field_manager: Some(self.config.field_manager.clone()),
            ..PostParams::default()
        }
    }

    fn link(&self, name: &str) -> Result<Arc<RwLock<bool>>> {
        self.state
            .lock()
            .nodes
            .get(name)
            .map(|n| n.link.clone())
            .ok_or_else(|| Error::UnknownNode(name.to_owned()))
    }

    /// Delay until the next slot at `phase` of `interval`, at least half an
    /// interval away (so a node that just wrote does not write again at once).
    fn slot(&self, phase: f64, interval: Duration) -> Duration {
        slot_delay(self.anchor.elapsed(), phase, interval)
    }

    fn add_node(&self, spec: NodeSpec) -> Result<()> {
        spec.validate()?;
        let name: Arc<str> = Arc::from(spec.name.as_str());
        let mut st = self.state.lock();
        if st.nodes.contains_key(&name) {
            return Err(Error::DuplicateNode(spec.name));
        }
        let index = st.next_index;
        let prefix = self.config.pod_cidr_prefix;
        let ip = match spec.internal_ip {
            Some(ip) => ip,
            None => loop {
                let ip = offset_ip(self.config.node_ip_base, st.next_ip + 1)
                    .ok_or_else(|| Error::Addresses(format!("no node address for {name}")))?;
                st.next_ip += 1;
                if !st.node_ips.contains(&ip) {
                    break ip;
                }
            },
        };
        if st.node_ips.contains(&ip) {
            return Err(Error::Addresses(format!(
                "InternalIP {ip} of {name} is another node's"
            )));
        }
        let block = match spec.pod_cidr {
            Some(n) => PodBlock::new(n, prefix),
            None => loop {
                let n = st.next_block << (32 - u32::from(prefix));
                let network = offset_ip(self.config.pod_ip_base, n)
                    .ok_or_else(|| Error::Addresses(format!("no pod block for {name}")))?;
                st.next_block += 1;
                if !st.blocks.contains(&network) {
                    break PodBlock::new(network, prefix);
                }
            },
        };
        if st.blocks.contains(&block.network()) {
            return Err(Error::Addresses(format!(
                "pod block {} of {name} is another node's",
                block.cidr()
            )));
        }
        st.blocks.insert(block.network());
        st.node_ips.insert(ip);
        st.next_index += 1;
        st.next_incarnation += 1;
        let mut machine_id = hex_digest(&[&name, "machine"]);
        machine_id.truncate(32);
        let mut boot_id = hex_digest(&[&name, &self.run_id]);
        boot_id.truncate(32);
        let node = NodeState {
            name: name.clone(),
            incarnation: st.next_incarnation,
            phase: (index as f64 * 0.618_033_988_749_894_9).fract(),
            addressing: NodeAddressing {
                ip,
                pod_cidr: block.cidr(),
                machine_id,
                boot_id,
            },
            block,
            link: Arc::new(RwLock::new(true)),
            connected: true,
            registration: Registration::Pending,
            observed: ObservedConditions::default(),
            pods: HashMap::new(),
            confirmed: HashMap::new(),
            spec: Arc::new(spec),
        };
        st.nodes.insert(name.clone(), node);
        drop(st);
        // Registers; its pods start once it has.
        self.statuses.add(name);
        Ok(())
    }

    /// Queues everything a node does after its link comes back.
    fn resync(&self, name: &str) {
        let Some(name) = self.state.lock().nodes.get(name).map(|n| n.name.clone()) else {
            return;
        };
        self.leases.add(name.clone());
        self.statuses.add(name.clone());
        self.resync_pods(&name);
    }

    /// Queues a sync of every pod bound to the node or running on it.
    fn resync_pods(&self, name: &Arc<str>) {
        let keys = {
            let st = self.state.lock();
            let Some(n) = st.nodes.get(name) else {
                return;
            };
            let mut keys: HashSet<PodKey> = n.pods.keys().cloned().collect();
            if let Some(bound) = st.by_node.get(name) {
                keys.extend(bound.iter().cloned());
            }
            keys
        };
        self.queue_pods(name, keys);
    }

    fn queue_pods(&self, name: &Arc<str>, keys: HashSet<PodKey>) {
        for key in keys {
            self.pods.add(PodJob {
                node: name.clone(),
                key,
            });
        }
    }

    // ---- heartbeats ----

    async fn renew_lease(&self, name: &Arc<str>) -> Result<()> {
        let Ok(link) = self.link(name) else {
            return Ok(());
        };
        let up = link.read().await;
        if !*up {
            return Ok(());
        }
        let (uid, phase) = {
            let st = self.state.lock();
            let Some(n) = st.nodes.get(name) else {
                return Ok(());
            };
            match &n.registration {
                Registration::Registered { uid } => (uid.clone(), n.phase),
                _ => return Ok(()),
            }
        };
        let api: Api<Lease> = Api::namespaced(self.client.clone(), LEASE_NAMESPACE);
        let now = Timestamp::now();
        let duration = self.config.lease_duration_seconds;
        let renewal = lease_renewal(name, duration, now);
        match api
            .patch(name, &self.patch_params(), &Patch::Merge(&renewal))
            .await
        {
            Ok(_) => {}
            Err(e) if is_status(&e, 404) => {
                let lease = lease_object(name, Some(&uid), duration, now);
                api.create(&self.post_params(), &lease).await?;
            }
            Err(e) => return Err(e.into()),
        }
        drop(up);
        bump(&self.counters.lease_renewals);
        let next = self.slot(phase, self.config.lease_renew_interval);
        self.leases.add_after(name.clone(), next);
        Ok(())
    }

    async fn report_status(&self, name: &Arc<str>) -> Result<()> {
        let Ok(link) = self.link(name) else {
            return Ok(());
        };
        let up = link.read().await;
        if !*up {
            return Ok(());
        }
        let (spec, addressing, observed, registration, incarnation, phase) = {
            let st = self.state.lock();
            let Some(n) = st.nodes.get(name) else {
                return Ok(());
            };
            (
                n.spec.clone(),
                n.addressing.clone(),
                n.observed.clone(),
                n.registration.clone(),
                n.incarnation,
                n.phase,
            )
        };
        let api: Api<Node> = Api::all(self.client.clone());
        let now = Timestamp::now();
        let written = match registration {
            Registration::Deleted => return Ok(()),
            Registration::Pending => {
                let status = node_status(&spec, &addressing, &ObservedConditions::default(), now);
                let node = node_object(&spec, &addressing, status);
                match api.create(&self.post_params(), &node).await {
                    Ok(n) => n,
                    Err(e) if is_status(&e, 409) => {
                        // Take over the Node of an earlier run.
                        let existing = api.get(name).await?;
                        let Some(addressing) = self.adopt_addresses(name, incarnation, &existing)
                        else {
                            return Ok(()); // removed meanwhile
                        };
                        if needs_takeover_patch(&existing, &spec) {
                            api.patch(
                                name,
                                &self.patch_params(),
                                &Patch::Merge(&node_takeover_patch(&spec)),
                            )
                            .await?;
                        }
                        let observed = ObservedConditions::from_node(&existing);
                        let status = node_status(&spec, &addressing, &observed, now);
                        api.patch_status(
                            name,
                            &self.patch_params(),
                            &Patch::Strategic(&json!({ "status": status })),
                        )
                        .await?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Registration::Registered { .. } => {
                let status = node_status(&spec, &addressing, &observed, now);
                match api
                    .patch_status(
                        name,
                        &self.patch_params(),
                        &Patch::Strategic(&json!({ "status": status })),
                    )
                    .await
                {
                    Ok(n) => n,
                    Err(e) if is_status(&e, 404) => {
                        warn!(node = %name, "the Node was deleted; the hollow node stops heartbeating");
                        if let Some(n) = self.state.lock().nodes.get_mut(name) {
                            n.registration = Registration::Deleted;
                        }
                        return Ok(());
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        drop(up);
        bump(&self.counters.node_status_writes);
        let first = registration == Registration::Pending;
        {
            let mut st = self.state.lock();
            let Some(n) = st
                .nodes
                .get_mut(name)
                .filter(|n| n.incarnation == incarnation)
            else {
                return Ok(());
            };
            n.observed = ObservedConditions::from_node(&written);
            if first {
                n.registration = Registration::Registered {
                    uid: written.metadata.uid.clone().unwrap_or_default(),
                };
            }
        }
        if first {
            debug!(node = %name, "registered");
            self.registered.notify_waiters();
            self.leases.add(name.clone());
            // Pods wait for their node to register.
            self.resync_pods(name);
        }
        let next = self.slot(phase, self.config.status_report_interval);
        self.statuses.add_after(name.clone(), next);
        Ok(())
    }

    /// On taking over an existing Node: its pod block (`spec.podCIDR` is
    /// immutable) and InternalIP become the node's, when no other node of the
    /// fleet has them, so that the pods it ran keep their addresses. Returns
    /// the node's addressing (`None` if the node was removed meanwhile).
    fn adopt_addresses(
        &self,
        name: &str,
        incarnation: u64,
        existing: &Node,
    ) -> Option<NodeAddressing> {
        let cidr = existing
            .spec
            .as_ref()
            .and_then(|s| s.pod_cidr.as_deref())
            .and_then(parse_cidr);
        let ip = existing
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .and_then(|a| a.address.parse::<Ipv4Addr>().ok());
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let n = st
            .nodes
            .get_mut(name)
            .filter(|n| n.incarnation == incarnation)?;
        if n.pods.is_empty() {
            if let Some((network, prefix)) = cidr
                && prefix == self.config.pod_cidr_prefix
                && !st.blocks.contains(&network)
            {
                let block = PodBlock::new(network, prefix);
                st.blocks.remove(&n.block.network());
                st.blocks.insert(network);
                n.addressing.pod_cidr = block.cidr();
                n.block = block;
            }
            if let Some(ip) = ip
                && !st.node_ips.contains(&ip)
            {
                st.node_ips.remove(&n.addressing.ip);
                st.node_ips.insert(ip);
                n.addressing.ip = ip;
            }
        }
        Some(n.addressing.clone())
    }

    fn on_node_event(&self, event: watcher::Event<Node>) {
        let (node, deleted) = match event {
            watcher::Event::Apply(n) | watcher::Event::InitApply(n) => (n, false),
            watcher::Event::Delete(n) => (n, true),
            watcher::Event::Init | watcher::Event::InitDone => return,
        };
        let Some(name) = node.metadata.name.as_deref() else {
            return;
        };
        let mut st = self.state.lock();
        let Some(n) = st.nodes.get_mut(name) else {
            return;
        };
        let ours = matches!(&n.registration, Registration::Registered { uid }
            if node.metadata.uid.as_deref() == Some(uid.as_str()));
        if !ours {
            return;
        }
        if deleted {
            warn!(node = %name, "the Node was deleted; the hollow node stops heartbeating");
            n.registration = Registration::Deleted;
            return;
        }
        n.observed = ObservedConditions::from_node(&node);
        if n.observed.ready() != Some("True") {
            let name = n.name.clone();
            drop(st);
            debug!(node = %name, "Ready is not True: reporting status now");
            self.statuses.add(name);
        }
    }

    // ---- pods ----

    fn on_pod_event(&self, event: watcher::Event<Pod>) {
        let mut jobs = Vec::new();
        {
            let mut st = self.state.lock();
            match event {
                watcher::Event::Apply(p) => {
                    st.apply_pod(&p, &mut jobs);
                }
                watcher::Event::InitApply(p) => {
                    if let Some(key) = st.apply_pod(&p, &mut jobs)
                        && let Some(seen) = st.relisting.as_mut()
                    {
                        seen.insert(key);
                    }
                }
                watcher::Event::Delete(p) => st.delete_pod(&p, &mut jobs),
                watcher::Event::Init => st.relisting = Some(HashSet::new()),
                watcher::Event::InitDone => {
                    if let Some(seen) = st.relisting.take() {
                        let gone: Vec<PodKey> = st
                            .pods
                            .keys()
                            .filter(|k| !seen.contains(*k))
                            .cloned()
                            .collect();
                        for key in gone {
                            st.forget_pod(&key, &mut jobs);
                        }
                    }
                }
            }
        }
        for job in jobs {
            self.pods.add(job);
        }
    }

    /// Decides, under the state lock, what a pod sync writes.
    fn plan(&self, job: &PodJob, now: Millis) -> Plan {
        let mut st = self.state.lock();
        let State { nodes, pods, .. } = &mut *st;
        let Some(node) = nodes.get_mut(&job.node) else {
            return Plan::NOTHING;
        };
        if node.registration == Registration::Pending {
            // Synced again once registered (its pod block may change).
            return Plan::NOTHING;
        }
        let view = pods.get(&job.key).filter(|v| v.node == job.node);
        if let Some(run) = node.pods.get(&job.key)
            && view.is_none_or(|v| v.uid != run.uid)
        {
            // Deleted from the API (or replaced by a new pod of that name).
            node.stop(&job.key);
        }
        let Some(view) = view else {
            node.confirmed.remove(&job.key);
            return Plan::NOTHING;
        };
        if view.deleting {
            node.stop(&job.key);
            if node.confirmed.get(&job.key) == Some(&view.uid) {
                return Plan::NOTHING;
            }
            return Plan {
                call: Some(Call::Delete {
                    uid: view.uid.clone(),
                }),
                wake: None,
            };
        }
        if !node.pods.contains_key(&job.key) {
            if view.terminal() {
                return Plan::NOTHING;
            }
            if let Err(e) = node.start(&job.key, view, now) {
                warn!(node = %job.node, pod = %job.key, "cannot start pod: {e}");
                return Plan {
                    call: None,
                    wake: Some(now + 5_000),
                };
            }
            bump(&self.counters.pods_started);
        }
        let Some(run) = node.pods.get_mut(&job.key) else {
            return Plan::NOTHING;
        };
        if run.owns_ip
            && timeline(&run.script, run.restart_policy, run.started, now)
                .finished
                .is_some()
        {
            // A finished pod's sandbox is gone: its address can be reused
            // (its status keeps showing it, as kubelet's does).
            node.block.release(run.pod_ip);
            run.owns_ip = false;
        }
        let (status, wake) = desired_status(view, run, node.addressing.ip, now);
        let want = digest(&status);
        if want == view.status_digest || run.last_written == Some((want, view.status_digest)) {
            return Plan { call: None, wake };
        }
        Plan {
            call: Some(Call::Status {
                uid: run.uid.clone(),
                status: Box::new(status),
                want,
            }),
            wake,
        }
    }

    async fn sync_pod(&self, job: &PodJob) -> Result<()> {
        let Ok(link) = self.link(&job.node) else {
            return Ok(());
        };
        let up = link.read().await;
        if !*up {
            return Ok(());
        }
        let now = now_millis();
        let plan = self.plan(job, now);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &job.key.namespace);
        match plan.call {
            None => {}
            Some(Call::Status { uid, status, want }) => {
                let body = json!({"metadata": {"uid": uid}, "status": status});
                match api
                    .patch_status(
                        &job.key.name,
                        &self.patch_params(),
                        &Patch::Strategic(&body),
                    )
                    .await
                {
                    Ok(pod) => {
                        bump(&self.counters.pod_status_writes);
                        self.after_status_write(job, &uid, want, &pod);
                    }
                    // Gone, or a new pod of that name: the pods watch says so.
                    Err(e) if is_status(&e, 404) || is_status(&e, 409) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Some(Call::Delete { uid }) => {
                let params = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions {
                        uid: Some(uid),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                match api.delete(&job.key.name, &params).await {
                    Ok(_) => {
                        bump(&self.counters.pod_deletions);
                        if let Some(n) = self.state.lock().nodes.get_mut(&job.node) {
                            n.confirmed.insert(job.key.clone(), uid_of(&params));
                        }
                    }
                    Err(e) if is_status(&e, 404) || is_status(&e, 409) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        drop(up);
        if let Some(at) = plan.wake {
            let delay = u64::try_from(at.saturating_sub(now_millis()).max(0)).unwrap_or(0) + 1;
            self.pods
                .add_after(job.clone(), Duration::from_millis(delay));
        }
        Ok(())
    }

    /// Ends a job: forgets its failures, or queues it again with backoff.
    fn finish<K: Clone + Eq + std::hash::Hash>(
        &self,
        queue: &Queue<K>,
        key: K,
        result: Result<()>,
        what: impl FnOnce(&K) -> String,
    ) {
        match result {
            Ok(()) => queue.forget(&key),
            Err(e) => {
                bump(&self.counters.api_errors);
                let failures = queue.retry(key.clone());
                log_failure(&what(&key), failures, &e);
            }
        }
        queue.done(&key);
    }

    fn after_status_write(&self, job: &PodJob, uid: &str, want: u64, pod: &Pod) {
        let Some((key, view)) = PodView::from_pod(pod) else {
            return;
        };
        let mut st = self.state.lock();
        let seen = view.status_digest;
        let mut ignored = Vec::new();
        st.store_view(key, view, &mut ignored);
        if let Some(run) = st
            .nodes
            .get_mut(&job.node)
            .and_then(|n| n.pods.get_mut(&job.key))
            .filter(|r| r.uid == uid)
        {
            run.last_written = Some((want, seen));
        }
    }
}

impl State {
    /// Records a pod event; returns the pod's key.
    fn apply_pod(&mut self, pod: &Pod, jobs: &mut Vec<PodJob>) -> Option<PodKey> {
        match PodView::from_pod(pod) {
            Some((key, view)) => {
                self.store_view(key.clone(), view, jobs);
                Some(key)
            }
            None => {
                // No longer bound (cannot happen in the API) or malformed.
                let key = PodKey {
                    namespace: Arc::from(pod.metadata.namespace.as_deref()?),
                    name: Arc::from(pod.metadata.name.as_deref()?),
                };
                self.forget_pod(&key, jobs);
                None
            }
        }
    }

    fn store_view(&mut self, key: PodKey, view: PodView, jobs: &mut Vec<PodJob>) {
        if let Some(old) = self.pods.get(&key) {
            if old.uid == view.uid && !view.not_older_than(old) {
                return;
            }
            if old.node != view.node {
                let old_node = old.node.clone();
                if let Some(set) = self.by_node.get_mut(&old_node) {
                    set.remove(&key);
                }
                if self.nodes.contains_key(&old_node) {
                    jobs.push(PodJob {
                        node: old_node,
                        key: key.clone(),
                    });
                }
            }
        }
        let node = view.node.clone();
        self.by_node
            .entry(node.clone())
            .or_default()
            .insert(key.clone());
        self.pods.insert(key.clone(), view);
        if self.nodes.contains_key(&node) {
            jobs.push(PodJob { node, key });
        }
    }

    fn delete_pod(&mut self, pod: &Pod, jobs: &mut Vec<PodJob>) {
        let (Some(ns), Some(name)) = (
            pod.metadata.namespace.as_deref(),
            pod.metadata.name.as_deref(),
        ) else {
            return;
        };
        let key = PodKey {
            namespace: Arc::from(ns),
            name: Arc::from(name),
        };
        let same = self.pods.get(&key).is_some_and(|v| {
            pod.metadata.uid.is_none() || pod.metadata.uid.as_deref() == Some(&v.uid)
        });
        if same {
            self.forget_pod(&key, jobs);
        }
    }

    fn forget_pod(&mut self, key: &PodKey, jobs: &mut Vec<PodJob>) {
        if let Some(old) = self.pods.remove(key) {
            if let Some(set) = self.by_node.get_mut(&old.node) {
                set.remove(key);
                if set.is_empty() {
                    self.by_node.remove(&old.node);
                }
            }
            if self.nodes.contains_key(&old.node) {
                jobs.push(PodJob {
                    node: old.node,
                    key: key.clone(),
                });
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Work {
    Leases,
    Statuses,
    Pods,
}

/// Serves one queue for ever.
async fn worker(sh: Arc<Shared>, work: Work) {
    loop {
        match work {
            Work::Leases => {
                let node = sh.leases.get().await;
                let result = sh.renew_lease(&node).await;
                sh.finish(&sh.leases, node, result, |n| {
                    format!("renewing the Lease of {n}")
                });
            }
            Work::Statuses => {
                let node = sh.statuses.get().await;
                let result = sh.report_status(&node).await;
                sh.finish(&sh.statuses, node, result, |n| {
                    format!("writing the status of Node {n}")
                });
            }
            Work::Pods => {
                let job = sh.pods.get().await;
                let result = sh.sync_pod(&job).await;
                sh.finish(&sh.pods, job, result, |j| {
                    format!("syncing pod {} on {}", j.key, j.node)
                });
            }
        }
    }
}

async fn watch_pods(sh: Arc<Shared>) {
    let api: Api<Pod> = Api::all(sh.client.clone());
    let config = watcher::Config::default().fields("spec.nodeName!=");
    let mut events = watcher(api, config).default_backoff().boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(event) => sh.on_pod_event(event),
            Err(e) => warn!("pods watch: {e}; retrying"),
        }
    }
}

async fn watch_nodes(sh: Arc<Shared>) {
    let api: Api<Node> = Api::all(sh.client.clone());
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(event) => sh.on_node_event(event),
            Err(e) => warn!("nodes watch: {e}; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_spread_evenly() {
        // Any prefix of the sequence leaves no gap much wider than 1/n.
        for n in [10usize, 100, 1000, 10_000] {
            let mut phases: Vec<f64> = (0..n)
                .map(|i| (i as f64 * 0.618_033_988_749_894_9).fract())
                .collect();
            phases.sort_by(f64::total_cmp);
            let widest = phases
                .windows(2)
                .map(|w| w[1] - w[0])
                .fold(phases[0] + 1.0 - phases[n - 1], f64::max);
            assert!(widest < 3.0 / n as f64, "n={n}: gap {widest}");
        }
    }

    #[test]
    fn slots_keep_their_phase() {
        let s = Duration::from_secs;
        let iv = s(10);
        // Phase 0.25 of 10 s: slots at 2.5 s, 12.5 s, 22.5 s, …
        assert_eq!(slot_delay(s(0), 0.25, iv), Duration::from_millis(12_500));
        assert_eq!(slot_delay(s(1), 0.25, iv), Duration::from_millis(11_500));
        assert_eq!(slot_delay(s(8), 0.25, iv), Duration::from_millis(14_500));
        assert_eq!(
            slot_delay(Duration::from_millis(12_500), 0.25, iv),
            s(10),
            "renewing at the slot goes to the next one"
        );
        // Never sooner than half an interval.
        for ms in (0..30_000).step_by(777) {
            let d = slot_delay(Duration::from_millis(ms), 0.9, iv);
            assert!(d >= s(5) && d <= s(15), "{ms}: {d:?}");
        }
    }
}
