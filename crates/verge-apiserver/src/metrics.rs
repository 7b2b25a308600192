//! Prometheus metrics on `/metrics`: request latency by verb, resource and
//! code; store revision; watch cache size and watchers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::cache::WatchCache;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub verb: String,
    pub resource: String,
    pub code: u16,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Histogram>,
    store_revision: Gauge,
    store_compacted_revision: Gauge,
    store_writes: Counter,
    store_batches: Counter,
    store_last_batch: Gauge,
    store_last_commit_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    store_bytes: Gauge,
    cached_objects: Gauge,
    watchers: Gauge,
    dropped_watchers: Counter,
    cache_events: Counter,
    /// Metrics of other parts of the server (controllers, scheduler),
    /// rendered in the same response.
    sources: parking_lot::RwLock<Vec<MetricsSource>>,
}

/// Renders a block of Prometheus text (without `# EOF`).
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("verge");
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "apiserver_request_duration_seconds",
            "API request latency by verb, resource and HTTP code (watches: time to first byte)",
            requests.clone(),
        );
        let store_revision = Gauge::default();
        registry.register(
            "store_revision",
            "Latest revision of the store",
            store_revision.clone(),
        );
        let store_compacted_revision = Gauge::default();
        registry.register(
            "store_compacted_revision",
            "Oldest revision a watch can resume after",
            store_compacted_revision.clone(),
        );
        let store_writes = Counter::default();
        registry.register(
            "store_writes",
            "Writes committed by the store",
            store_writes.clone(),
        );
        let store_batches = Counter::default();
        registry.register(
            "store_batches",
            "Group commits (one fsync each)",
            store_batches.clone(),
        );
        let store_last_batch = Gauge::default();
        registry.register(
            "store_last_batch_size",
            "Writes in the last group commit",
            store_last_batch.clone(),
        );
        let store_last_commit_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "store_last_commit_seconds",
            "Duration of the last commit, fsync included",
            store_last_commit_seconds.clone(),
        );
        let store_bytes = Gauge::default();
        registry.register(
            "store_size_bytes",
            "Size of the store's files on disk",
            store_bytes.clone(),
        );
        let cached_objects = Gauge::default();
        registry.register(
            "watch_cache_objects",
            "Objects held by the watch cache",
            cached_objects.clone(),
        );
        let watchers = Gauge::default();
        registry.register("watch_cache_watchers", "Open watches", watchers.clone());
        let dropped_watchers = Counter::default();
        registry.register(
            "watch_cache_dropped_watchers",
            "Watchers dropped with 410 because they fell behind",
            dropped_watchers.clone(),
        );
        let cache_events = Counter::default();
        registry.register(
            "watch_cache_events",
            "Changes applied to the watch cache",
            cache_events.clone(),
        );
        Metrics {
            registry,
            requests,
            store_revision,
            store_compacted_revision,
            store_writes,
            store_batches,
            store_last_batch,
            store_last_commit_seconds,
            store_bytes,
            cached_objects,
            watchers,
            dropped_watchers,
            cache_events,
            sources: parking_lot::RwLock::new(Vec::new()),
        }
    }

    pub fn observe(&self, verb: &str, resource: &str, code: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                verb: verb.to_owned(),
                resource: resource.to_owned(),
                code,
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition, with gauges refreshed from their sources.
    pub fn render(&self, cache: &Arc<WatchCache>, store: &verge_store::StoreStats) -> String {
        self.store_revision.set(store.revision);
        self.store_compacted_revision.set(store.compacted_revision);
        self.store_last_batch.set(store.last_batch_size as i64);
        self.store_last_commit_seconds
            .set(store.last_commit_micros as f64 / 1e6);
        self.store_bytes.set(store.db_size_bytes as i64);
        self.cached_objects.set(cache.object_count() as i64);
        self.watchers.set(cache.watcher_count() as i64);
        let m = cache.metrics();
        let sync = |c: &Counter, v: u64| {
            let cur = c.get();
            if v > cur {
                c.inc_by(v - cur);
            }
        };
        sync(
            &self.dropped_watchers,
            m.dropped_watchers.load(Ordering::Relaxed),
        );
        sync(&self.cache_events, m.events.load(Ordering::Relaxed));
        sync(&self.store_writes, store.writes_total);
        sync(&self.store_batches, store.batches_total);
        let mut out = String::new();
        if prometheus_client::encoding::text::encode_registry(&mut out, &self.registry).is_err() {
            out.clear();
        }
        for source in self.sources.read().iter() {
            out.push_str(&source());
        }
        out.push_str("# EOF\n");
        out
    }

    /// Adds another part's metrics to `/metrics`.
    pub fn add_source(&self, source: MetricsSource) {
        self.sources.write().push(source);
    }
}
