//! The scheduler of `verge server`: binds pending pods to nodes, the way
//! kube-scheduler's default profile does.
//!
//! - [`state`]: the scheduler's own compact picture of the cluster (nodes
//!   with running sums of the pods on them), updated incrementally from
//!   watch events; pods are decoded once per change, never per cycle.
//! - [`queue`]: active (by priority), backoff and unschedulable pods; parked
//!   pods come back only on cluster changes that can help them.
//! - [`framework`]: one cycle — filter a rotating sample of nodes (all of a
//!   small cluster, 5% of a large one) with the [`plugins`], score the
//!   feasible ones, pick the best.
//! - [`preemption`]: when nothing fits, evict the fewest lower-priority pods
//!   that make room, and nominate the node.
//! - `writes`: bindings, PodScheduled conditions, FailedScheduling and
//!   Preempted events, victim deletions — all asynchronous, bounded in
//!   number, so the loop never waits for the store.
//!
//! Cycles run one at a time on the state behind one lock, so each sees the
//! pods the previous ones assumed; a pod counts on its node from the moment
//! it is chosen, and is forgotten if its binding fails.

pub mod framework;
pub mod metrics;
pub mod node;
pub mod plugins;
pub mod pod;
pub mod preemption;
pub mod queue;
pub mod resources;
mod scheduler;
pub mod state;
mod watch;
mod writes;

use std::sync::Arc;

use verge_runtime::{Client, ControllerMetrics};

pub use scheduler::Scheduler;

/// Runs the scheduler until the server stops.
pub async fn run(client: Client, metrics: Arc<ControllerMetrics>) {
    let scheduler = Arc::new(Scheduler::new(client, &metrics));
    scheduler.run().await;
}
