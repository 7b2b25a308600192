//! The scheduler's Prometheus metrics, registered beside the controllers'
//! (`verge_scheduler_*` on `/metrics`).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use verge_runtime::ControllerMetrics;

use crate::queue::Depths;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: &'static str,
}

#[derive(Clone)]
pub struct Metrics {
    attempts: Family<ResultLabel, Counter>,
    attempt_duration: Family<ResultLabel, Histogram>,
    e2e: Histogram,
    pending: Family<QueueLabel, Gauge>,
    preemption_attempts: Counter,
    preemption_victims: Histogram,
}

pub const SCHEDULED: &str = "scheduled";
pub const UNSCHEDULABLE: &str = "unschedulable";
pub const ERROR: &str = "error";

impl Metrics {
    pub fn register(into: &ControllerMetrics) -> Metrics {
        let m = Metrics {
            attempts: Family::default(),
            attempt_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.00001, 2.0, 20))
            }),
            e2e: Histogram::new(exponential_buckets(0.001, 2.0, 18)),
            pending: Family::default(),
            preemption_attempts: Counter::default(),
            preemption_victims: Histogram::new(exponential_buckets(1.0, 2.0, 8)),
        };
        let r = m.clone();
        into.register(move |reg| {
            reg.register(
                "scheduler_schedule_attempts",
                "Scheduling attempts by result (scheduled, unschedulable, error)",
                r.attempts,
            );
            reg.register(
                "scheduler_scheduling_attempt_duration_seconds",
                "Time of one scheduling cycle (filter, score, preemption), by result",
                r.attempt_duration,
            );
            reg.register(
                "scheduler_pod_scheduling_duration_seconds",
                "From a pod entering the scheduling queue to its binding being written, including retries",
                r.e2e,
            );
            reg.register(
                "scheduler_pending_pods",
                "Pods waiting for the scheduler, by queue (active, backoff, unschedulable)",
                r.pending,
            );
            reg.register(
                "scheduler_preemption_attempts",
                "Preemptions that nominated a node",
                r.preemption_attempts,
            );
            reg.register(
                "scheduler_preemption_victims",
                "Pods evicted per preemption",
                r.preemption_victims,
            );
        });
        m
    }

    pub fn attempt(&self, result: &'static str, took: Duration) {
        self.attempts.get_or_create(&ResultLabel { result }).inc();
        self.attempt_duration
            .get_or_create(&ResultLabel { result })
            .observe(took.as_secs_f64());
    }

    pub fn bound(&self, since_queued: Duration) {
        self.e2e.observe(since_queued.as_secs_f64());
    }

    pub fn pending(&self, d: Depths) {
        for (queue, n) in [
            ("active", d.active),
            ("backoff", d.backoff),
            ("unschedulable", d.unschedulable),
        ] {
            self.pending
                .get_or_create(&QueueLabel { queue })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    pub fn preempted(&self, victims: usize) {
        self.preemption_attempts.inc();
        self.preemption_victims.observe(victims as f64);
    }
}
