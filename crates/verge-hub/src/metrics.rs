//! The hub's Prometheus metrics.

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use verge_transport::{ConnectionStats, TransportKind};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabels {
    transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReportLabels {
    kind: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

pub struct HubMetrics {
    registry: Mutex<Registry>,
    connected: Family<TransportLabels, Gauge>,
    sessions_ended: Family<ReasonLabels, Counter>,
    frames: Family<DirectionLabels, Counter>,
    bytes: Family<DirectionLabels, Counter>,
    sync_batches: Counter,
    sync_changes: Counter,
    reports: Family<ReportLabels, Counter>,
}

impl Default for HubMetrics {
    fn default() -> Self {
        Self::new()
    }
}

pub fn transport_name(kind: TransportKind) -> &'static str {
    match kind {
        TransportKind::WebSocket => "websocket",
        TransportKind::Quic => "quic",
    }
}

impl HubMetrics {
    pub fn new() -> HubMetrics {
        let mut registry = Registry::with_prefix("verge_hub");
        let connected = Family::<TransportLabels, Gauge>::default();
        registry.register(
            "connected_nodes",
            "Edge nodes with an established channel, by transport",
            connected.clone(),
        );
        let sessions_ended = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "sessions_ended",
            "Channel sessions ended, by reason (handshake failures included)",
            sessions_ended.clone(),
        );
        let frames = Family::<DirectionLabels, Counter>::default();
        registry.register(
            "frames",
            "Channel frames of ended sessions, by direction (sent, received)",
            frames.clone(),
        );
        let bytes = Family::<DirectionLabels, Counter>::default();
        registry.register(
            "frame_bytes",
            "Channel frame bytes of ended sessions, by direction (header included)",
            bytes.clone(),
        );
        let sync_batches = Counter::default();
        registry.register(
            "sync_batches",
            "SyncBatch frames sent",
            sync_batches.clone(),
        );
        let sync_changes = Counter::default();
        registry.register(
            "sync_changes",
            "Object changes sent to edge nodes",
            sync_changes.clone(),
        );
        let reports = Family::<ReportLabels, Counter>::default();
        registry.register(
            "reports",
            "Edge reports by kind and result (applied, rejected, retry)",
            reports.clone(),
        );
        HubMetrics {
            registry: Mutex::new(registry),
            connected,
            sessions_ended,
            frames,
            bytes,
            sync_batches,
            sync_changes,
            reports,
        }
    }

    pub fn session_started(&self, kind: TransportKind) {
        self.connected
            .get_or_create(&TransportLabels {
                transport: transport_name(kind),
            })
            .inc();
    }

    pub fn session_ended(
        &self,
        kind: Option<TransportKind>,
        reason: &'static str,
        stats: ConnectionStats,
    ) {
        if let Some(kind) = kind {
            self.connected
                .get_or_create(&TransportLabels {
                    transport: transport_name(kind),
                })
                .dec();
        }
        self.sessions_ended
            .get_or_create(&ReasonLabels { reason })
            .inc();
        let add = |family: &Family<DirectionLabels, Counter>, direction, n| {
            family
                .get_or_create(&DirectionLabels { direction })
                .inc_by(n);
        };
        add(&self.frames, "sent", stats.frames_sent);
        add(&self.frames, "received", stats.frames_received);
        add(&self.bytes, "sent", stats.bytes_sent);
        add(&self.bytes, "received", stats.bytes_received);
    }

    pub fn batch_sent(&self, changes: usize) {
        self.sync_batches.inc();
        self.sync_changes.inc_by(changes as u64);
    }

    pub fn report(&self, kind: &'static str, result: &'static str) {
        self.reports
            .get_or_create(&ReportLabels { kind, result })
            .inc();
    }

    /// The Prometheus text exposition of these metrics.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode_registry(&mut out, &self.registry.lock())
            .is_err()
        {
            out.clear();
        }
        out
    }
}
