//! The cloud hub in `verge server`: its listeners (WebSocket/TLS and QUIC,
//! both with client certificates from the cluster CA) and a session task
//! per accepted connection.

use std::net::SocketAddr;
use std::sync::Arc;

use verge_apiserver::resources::Resources;
use verge_transport::{Connection, QuicServer, ServerTls, TransportConfig, WsServer};

use crate::lease::{LeaseKeeper, RENEW_INTERVAL};
use crate::metrics::HubMetrics;
use crate::reports::ReportWriter;
use crate::session::{SessionSettings, Shared, serve};
use crate::view::{Hub, HubConfig, HubError, QueueConfig, ViewConfig};

/// What the cloud hub is started with.
pub struct CloudHubConfig {
    /// WebSocket listener (`--hub-listen`).
    pub ws_listen: SocketAddr,
    /// QUIC listener (`--quic-listen`); `None` serves WebSocket only.
    pub quic_listen: Option<SocketAddr>,
    /// The hub's TLS: serving certificate and the cluster CA for clients.
    pub tls: ServerTls,
    pub transport: TransportConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "cannot listen for edge nodes (WebSocket) on {addr}: {source}; free the port or choose another with --hub-listen"
    )]
    Ws {
        addr: SocketAddr,
        source: verge_transport::TransportError,
    },
    #[error(
        "cannot listen for edge nodes (QUIC) on UDP {addr}: {source}; free the port or choose another with --quic-listen"
    )]
    Quic {
        addr: SocketAddr,
        source: verge_transport::TransportError,
    },
    #[error("cannot load the node views: {0}")]
    Views(#[from] HubError),
}

/// The running hub. Dropping it stops accepting connections; sessions end
/// with the process.
pub struct CloudHub {
    pub ws_addr: SocketAddr,
    pub quic_addr: Option<SocketAddr>,
    pub metrics: Arc<HubMetrics>,
    accept: tokio::task::JoinSet<()>,
}

impl CloudHub {
    /// Loads the node views from the watch cache, binds the listeners and
    /// starts accepting edge nodes.
    pub async fn start(
        resources: Arc<Resources>,
        config: CloudHubConfig,
    ) -> Result<CloudHub, StartError> {
        let ws = WsServer::bind(config.ws_listen, &config.tls, &config.transport)
            .await
            .map_err(|source| StartError::Ws {
                addr: config.ws_listen,
                source,
            })?;
        let quic = match config.quic_listen {
            Some(addr) => Some(
                QuicServer::bind(addr, &config.tls, &config.transport)
                    .map_err(|source| StartError::Quic { addr, source })?,
            ),
            None => None,
        };
        let hub = Hub::start(
            resources.cache.clone(),
            HubConfig {
                epoch: epoch(&resources),
                view: ViewConfig::default(),
                queue: QueueConfig::default(),
            },
        )
        .await?;
        let metrics = Arc::new(HubMetrics::new());
        let shared = Arc::new(Shared {
            hub,
            reports: ReportWriter::new(resources.clone()),
            leases: LeaseKeeper::start(resources, RENEW_INTERVAL),
            metrics: metrics.clone(),
            settings: SessionSettings {
                heartbeat_interval: config.transport.heartbeat_interval,
                dead_after: config.transport.dead_after,
                ..SessionSettings::default()
            },
        });
        let ws_addr = ws.local_addr();
        let quic_addr = quic.as_ref().map(QuicServer::local_addr);
        let mut accept = tokio::task::JoinSet::new();
        accept.spawn(accept_loop(shared.clone(), Listener::Ws(ws)));
        if let Some(quic) = quic {
            accept.spawn(accept_loop(shared, Listener::Quic(quic)));
        }
        tracing::info!(%ws_addr, ?quic_addr, "cloud hub is listening for edge nodes");
        Ok(CloudHub {
            ws_addr,
            quic_addr,
            metrics,
            accept,
        })
    }

    /// Stops accepting new connections.
    pub fn stop(&mut self) {
        self.accept.abort_all();
    }
}

enum Listener {
    Ws(WsServer),
    Quic(QuicServer),
}

impl Listener {
    async fn accept(&mut self) -> Option<Connection> {
        match self {
            Listener::Ws(s) => s.accept().await,
            Listener::Quic(s) => s.accept().await,
        }
    }
}

async fn accept_loop(shared: Arc<Shared>, mut listener: Listener) {
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            conn = listener.accept() => match conn {
                Some(conn) => {
                    sessions.spawn(serve(shared.clone(), conn));
                }
                None => break,
            },
            // Reap finished sessions so the set does not grow.
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    while sessions.join_next().await.is_some() {}
}

/// The epoch names the store's revision space: the uid of `kube-system`,
/// created once with the store. A new store (another cluster, a wiped data
/// dir) has another, so edges holding revisions of the old one resync by
/// inventory instead of trusting numbers that mean something else now.
fn epoch(resources: &Resources) -> String {
    let uid = resources
        .cache
        .get_now("/registry/namespaces/kube-system")
        .and_then(|obj| serde_json::from_slice::<serde_json::Value>(&obj.bytes).ok())
        .and_then(|ns| ns["metadata"]["uid"].as_str().map(str::to_owned));
    uid.unwrap_or_else(|| {
        tracing::warn!("kube-system has no uid yet; the hub's epoch is random for this run");
        format!("run-{:016x}", rand::random::<u64>())
    })
}
