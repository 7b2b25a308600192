//! The scheduling loop: pop a pod, run a cycle under the state lock, hand
//! the decision's API writes to bounded background tasks, repeat.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use verge_runtime::{Client, ControllerMetrics, Recorder};

use crate::framework::{Found, Rng, find_node};
use crate::metrics::{self, Metrics};
use crate::plugins::PluginSet;
use crate::pod::{DEFAULT_SCHEDULER, PodInfo};
use crate::preemption::{self, Candidate, Outcome};
use crate::state::{Place, State};

/// API writes (bindings, status updates, deletions) in flight at once.
/// Bindings go through the store's group commit, so many in flight is what
/// makes throughput; the bound keeps memory and store queues in check.
const WRITES_IN_FLIGHT: usize = 256;
/// How often parked pods are checked for the five-minute flush and the
/// queue gauges refreshed.
const HOUSEKEEPING: Duration = Duration::from_secs(5);

pub struct Scheduler {
    pub(crate) client: Client,
    pub(crate) state: Mutex<State>,
    /// Signals the loop that the queue may have work.
    pub(crate) wake: Notify,
    pub(crate) writes: Arc<Semaphore>,
    pub(crate) recorder: Recorder,
    pub(crate) metrics: Metrics,
}

/// What a cycle decided, for the writes that follow.
#[derive(Debug)]
pub(crate) enum Decision {
    Bind {
        pod: Arc<PodInfo>,
        node: Arc<str>,
        queued_at: Option<Instant>,
    },
    Failed {
        pod: Arc<PodInfo>,
        /// PodScheduled reason: Unschedulable or SchedulerError.
        reason: &'static str,
        message: String,
        /// Publish a FailedScheduling event (not for gated pods, which
        /// wait by design).
        event: bool,
        /// The nomination to write: Some(Some(node)) sets, Some(None) clears.
        nominate: Option<Option<Arc<str>>>,
        preemption: Option<(Candidate, Vec<Arc<PodInfo>>)>,
    },
}

impl Scheduler {
    pub fn new(client: Client, metrics: &ControllerMetrics) -> Scheduler {
        Scheduler {
            recorder: Recorder::new(client.clone(), DEFAULT_SCHEDULER),
            client,
            state: Mutex::new(State::new()),
            wake: Notify::new(),
            writes: Arc::new(Semaphore::new(WRITES_IN_FLIGHT)),
            metrics: Metrics::register(metrics),
        }
    }

    /// Applies a cluster change the watchers computed: parked pods that it
    /// can help go back to the queue.
    pub(crate) fn changed(&self, st: &mut State, event: PluginSet) {
        if st.queue.cluster_changed(event, Instant::now()) > 0 {
            self.wake.notify_one();
        }
    }

    pub async fn run(self: Arc<Self>) {
        let mut tasks = tokio::task::JoinSet::new();
        let synced = crate::watch::start(&self, &mut tasks);
        // Scheduling before the nodes and their pods are known would
        // overcommit nodes whose pods have not been seen yet.
        synced.await;
        tracing::info!(nodes = self.state.lock().node_count(), "scheduler started");
        tasks.spawn(self.clone().housekeeping());
        tasks.spawn(self.clone().schedule_loop());
        while tasks.join_next().await.is_some() {}
    }

    async fn housekeeping(self: Arc<Self>) {
        let mut tick = tokio::time::interval(HOUSEKEEPING);
        loop {
            tick.tick().await;
            let depths = {
                let mut st = self.state.lock();
                st.queue.flush_stale(Instant::now());
                st.queue.depths()
            };
            self.metrics.pending(depths);
            if depths.active > 0 {
                self.wake.notify_one();
            }
        }
    }

    async fn schedule_loop(self: Arc<Self>) {
        let mut rng = Rng::from_time();
        loop {
            let (decision, due) = {
                let mut st = self.state.lock();
                match self.cycle(&mut st, &mut rng) {
                    Some(d) => (Some(d), None),
                    None => (None, st.queue.next_due()),
                }
            };
            match decision {
                Some(d) => {
                    // Waiting for a permit is the backpressure that keeps
                    // assumed-but-unwritten bindings bounded.
                    let Ok(permit) = self.writes.clone().acquire_owned().await else {
                        return;
                    };
                    let s = self.clone();
                    tokio::spawn(async move {
                        s.execute(d).await;
                        drop(permit);
                    });
                    // Let the watchers and the writes run between cycles.
                    tokio::task::yield_now().await;
                }
                None => match due {
                    Some(at) => {
                        tokio::select! {
                            _ = self.wake.notified() => {}
                            _ = tokio::time::sleep_until(at) => {}
                        }
                    }
                    None => self.wake.notified().await,
                },
            }
        }
    }

    /// Pops the next pod and decides about it. None when the queue has
    /// nothing to try now.
    fn cycle(&self, st: &mut State, rng: &mut Rng) -> Option<Decision> {
        loop {
            let now = Instant::now();
            let key = st.queue.pop(now)?;
            let Some(entry) = st.pods.get(&key) else {
                st.queue.remove(&key);
                continue;
            };
            if entry.place != Place::Pending {
                continue;
            }
            let pod = entry.info.clone();
            let nominated = entry.nominated.clone();
            let queued_at = st.queue.first_seen(&key);
            let started = std::time::Instant::now();

            if pod.gated {
                // Only removing the gates (an update of the pod) releases it.
                st.queue.unschedulable(&key, PluginSet::EMPTY, now);
                return Some(Decision::Failed {
                    pod: pod.clone(),
                    reason: "SchedulingGated",
                    message: "Scheduling is blocked due to non-empty scheduling gates".into(),
                    event: false,
                    nominate: None,
                    preemption: None,
                });
            }
            if let Some(why) = &pod.invalid {
                // Only an edit of the pod can fix this.
                st.queue.unschedulable(&key, PluginSet::EMPTY, now);
                self.metrics.attempt(metrics::ERROR, started.elapsed());
                return Some(Decision::Failed {
                    pod: pod.clone(),
                    reason: "SchedulerError",
                    message: why.clone(),
                    event: true,
                    nominate: None,
                    preemption: None,
                });
            }

            let all = st.node_count();
            let start = st.next_start;
            let advance = |st: &mut State, visited: usize| {
                if all > 0 {
                    st.next_start = (start + visited) % all;
                }
            };
            match find_node(st, &pod, nominated.as_deref(), start, rng) {
                Found::Node { node, visited } => {
                    advance(st, visited);
                    if st.assume(&key, &node).is_none() {
                        continue;
                    }
                    self.metrics.attempt(metrics::SCHEDULED, started.elapsed());
                    return Some(Decision::Bind {
                        pod,
                        node,
                        queued_at,
                    });
                }
                Found::Unschedulable { fit, pre, visited } => {
                    advance(st, visited);
                    let outcome = if fit.num_nodes == 0 {
                        Outcome::Fail(String::new())
                    } else {
                        preemption::preempt(st, &pod, nominated.as_deref(), &fit, &pre, rng)
                    };
                    let (post, nominate, preemption) = match outcome {
                        Outcome::Nominate { candidate, cleared } => {
                            st.nominate(&key, Some(candidate.node.clone()));
                            for c in &cleared {
                                st.nominate(&c.key, None);
                            }
                            self.metrics.preempted(candidate.victims.len());
                            (
                                None,
                                Some(Some(candidate.node.clone())),
                                Some((candidate, cleared)),
                            )
                        }
                        Outcome::Fail(msg) => {
                            // A nomination that no longer holds is dropped,
                            // unless the pod waits for its victims to go.
                            let waiting = msg.ends_with(preemption::TERMINATING_ON_NOMINATED);
                            let clear = if nominated.is_some() && !waiting {
                                st.nominate(&key, None);
                                Some(None)
                            } else {
                                None
                            };
                            (Some(msg), clear, None)
                        }
                    };
                    let message = fit.message(post.as_deref());
                    st.queue.unschedulable(&key, fit.rejected_by(), now);
                    self.metrics
                        .attempt(metrics::UNSCHEDULABLE, started.elapsed());
                    tracing::debug!(pod = %key, %message, "pod is unschedulable");
                    return Some(Decision::Failed {
                        pod,
                        reason: "Unschedulable",
                        message,
                        event: true,
                        nominate,
                        preemption,
                    });
                }
            }
        }
    }

    async fn execute(self: &Arc<Self>, d: Decision) {
        match d {
            Decision::Bind {
                pod,
                node,
                queued_at,
            } => self.bind(pod, node, queued_at).await,
            Decision::Failed {
                pod,
                reason,
                message,
                event,
                nominate,
                preemption,
            } => {
                self.report_failure(&pod, reason, &message, event, nominate)
                    .await;
                if let Some((candidate, cleared)) = preemption {
                    self.preempt(&pod, candidate, cleared).await;
                }
            }
        }
    }
}
