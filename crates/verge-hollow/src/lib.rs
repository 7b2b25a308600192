//! Hollow nodes: kubelet look-alikes that register Nodes, keep Leases fresh
//! and run bound pods on paper, over the real Kubernetes API — for tests and
//! benchmarks until real agents exist.
//!
//! A [`Fleet`] is any number of hollow nodes (10,000 run in one process)
//! sharing one [`kube::Client`]. Each node, as kubelet would:
//!
//! - registers its Node with capacity, allocatable, conditions (Ready=True,
//!   no pressure), addresses (InternalIP, Hostname), `nodeInfo` (kubelet
//!   [`KUBELET_VERSION`], runtime [`RUNTIME_VERSION`]), daemon endpoints and a
//!   `podCIDR` — or takes over an existing Node (from an earlier run), keeping
//!   its `podCIDR` and InternalIP, and the pods the API shows Running on it
//!   keep running since their `startTime` (as containers outlive a kubelet
//!   restart: nothing restarts, nothing is rewritten);
//! - keeps a `coordination.k8s.io/v1` Lease named after it in
//!   `kube-node-lease` (holder = the node, owned by the Node) renewed every
//!   [`FleetConfig::lease_renew_interval`];
//! - writes its status every [`FleetConfig::status_report_interval`], and at
//!   once when its Ready condition is not True (a node lifecycle controller
//!   marked it Unknown) or when it reconnects;
//! - runs the pods bound to it (`spec.nodeName`) on paper: reports them
//!   Running with a pod IP from its own block, conditions and container
//!   statuses as kubelet does; follows the scripted behaviour of the
//!   [`script`] annotations (exits, exit codes, restarts per `restartPolicy`,
//!   delayed readiness); pods start once their node has registered;
//! - stops pods that get a `deletionTimestamp` and deletes them with
//!   `gracePeriodSeconds=0` and a uid precondition, as kubelet confirms a
//!   deletion; pods deleted from the API stop existing on the node.
//!
//! [`Fleet::disconnect`] cuts a node's link: it stops all its API traffic
//! (lease renewals, status writes, pod writes, and it acts on nothing it could
//! only have read) while it keeps running its pods. [`Fleet::reconnect`]
//! restores the link; the node then reconciles with the API (pods deleted
//! meanwhile are stopped, new ones started, the ones it kept are not
//! restarted). [`Fleet::running_pods`] tells what a node believes it runs.
//!
//! # How it scales
//!
//! No task per node and no connection per node: one pods watch for the whole
//! fleet (`fieldSelector=spec.nodeName!=`, filtered locally by node), one
//! nodes watch, and three work queues (lease renewals; node registrations
//! and status; pod status writes and deletions), each served by a bounded
//! number of workers ([`FleetConfig::lease_concurrency`],
//! [`FleetConfig::node_status_concurrency`], [`FleetConfig::pod_concurrency`]).
//! Timers live in the queues; each node's renewals and reports sit at a fixed
//! phase of their interval (a low-discrepancy sequence over the join order),
//! so N nodes spread evenly over the interval. A pod's status is written only
//! when what the node would report differs from what the API shows, in one
//! strategic merge patch of `pods/status`. Watches that expire (410) relist;
//! API errors are retried with exponential backoff and logged with `tracing`.
//!
//! Measured with `examples/fleet.rs` against a release `verge server` on the
//! same 2-core machine: 10,000 nodes registered in 7.4 s; 10,000 pods bound
//! to them were all Running 16 s after their creation began (creation itself
//! took 10 s); then 1,000 Lease renewals and 167 node status writes per
//! second, no pod writes, for 10–18 % of one core and 90 MiB resident
//! (5–7 KiB per node, about 1 KiB per pod). The fleet is rarely the
//! bottleneck: on a loaded machine the server falls behind first, and the
//! queues then hold the backlog (see [`FleetStats`]).
//!
//! # Addresses
//!
//! Node `i` (in the order nodes join) gets InternalIP
//! [`FleetConfig::node_ip_base`]` + i + 1` and the `i`-th pod block of
//! [`FleetConfig::pod_ip_base`] (a /24 by default); a node's spec can name
//! both. Fleets in different processes against one cluster should use
//! different bases.
//!
//! # TLS
//!
//! The workspace's kube client uses rustls without choosing a crypto
//! provider. A binary whose other dependencies do not choose one either
//! installs one before building its client:
//! `rustls::crypto::ring::default_provider().install_default()`.
//!
//! # Differences from kubelet
//!
//! - Restarts are immediate (no CrashLoopBackOff); every container of a pod
//!   follows the pod's script.
//! - A pod starts Running and Ready (or not yet Ready, per
//!   `hollow.verge.dev/ready-after`) in one status write: no Pending /
//!   ContainerCreating step, no events, no image pulls.
//! - A pod being deleted is stopped and deleted without an intermediate
//!   status write.
//! - No admission: a node runs whatever is bound to it, even beyond its
//!   capacity.
//! - A node whose Node object is deleted by someone else stops heartbeating
//!   (kubelet does not re-register either until restarted); remove and add it
//!   again to re-register.

#![forbid(unsafe_code)]

mod config;
mod fleet;
mod ipam;
mod node;
mod pod;
mod queue;
pub mod script;

pub use config::{FleetConfig, NodeSpec};
pub use fleet::{Fleet, FleetStats, RunningPod};
pub use node::{KUBELET_VERSION, LEASE_NAMESPACE, RUNTIME_VERSION};

/// What can go wrong driving a fleet.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No node of that name in this fleet.
    #[error("node {0:?} is not in this fleet")]
    UnknownNode(String),
    /// A node of that name is already in this fleet.
    #[error("node {0:?} is already in this fleet")]
    DuplicateNode(String),
    /// The configuration or a node spec is invalid.
    #[error("invalid hollow fleet configuration: {0}")]
    Config(String),
    /// The fleet ran out of node or pod addresses.
    #[error("no addresses left: {0}")]
    Addresses(String),
    /// The Kubernetes API refused or did not answer.
    #[error("Kubernetes API: {0}")]
    Api(#[from] kube::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
