//! Prometheus metrics shared by all controllers.

use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    controller: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    controller: &'static str,
}

pub struct ControllerMetrics {
    registry: Mutex<Registry>,
    reconciles: Family<ReconcileLabels, Histogram>,
    depth: Family<QueueLabels, Gauge>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ControllerMetrics {
    pub fn new() -> ControllerMetrics {
        let mut registry = Registry::with_prefix("verge");
        let reconciles = Family::<ReconcileLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });
        registry.register(
            "controller_reconcile_duration_seconds",
            "Reconcile latency by controller and result (ok, error, panic)",
            reconciles.clone(),
        );
        let depth = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "controller_queue_depth",
            "Keys waiting in a controller's work queue",
            depth.clone(),
        );
        ControllerMetrics {
            registry: Mutex::new(registry),
            reconciles,
            depth,
        }
    }

    pub fn observe(
        &self,
        controller: &'static str,
        result: &'static str,
        took: Duration,
        depth: usize,
    ) {
        self.reconciles
            .get_or_create(&ReconcileLabels { controller, result })
            .observe(took.as_secs_f64());
        self.depth
            .get_or_create(&QueueLabels { controller })
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// Lets other parts (the scheduler) register their own metrics here, so
    /// one `/metrics` section carries them all.
    pub fn register(&self, f: impl FnOnce(&mut Registry)) {
        f(&mut self.registry.lock());
    }

    /// The metrics in Prometheus text format (without the trailing `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode_registry(&mut out, &self.registry.lock())
            .is_err()
        {
            return String::new();
        }
        out
    }
}
