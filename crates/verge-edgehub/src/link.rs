//! The edge's link to the cloud hub: one session at a time, reconnecting
//! with jittered backoff. A sync batch is acknowledged only after the
//! store committed it; queued reports go up in sequence order, one batch
//! in flight, and leave the queue only when the cloud acknowledges them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use verge_protocol::pb::{
    self, BodyType, Envelope, ErrorCode, ReportKind, SyncMode, envelope::Body,
};
use verge_protocol::{CURRENT_VERSION, body_name};
use verge_transport::{
    Backoff, ClientTls, Connection, QuicConnector, TransportConfig, TransportError, TransportKind,
    WsConnector,
};

use verge_pki::CertifiedKey;

use crate::store::{EdgeStore, StoreError};

/// One address of the cloud hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubEndpoint {
    pub transport: TransportKind,
    /// `host:port`, resolved at each attempt.
    pub address: String,
}

/// Loads the cluster CA (PEM) and the node's certificate and key at each
/// connection attempt, so a certificate renewed on disk is used from the
/// next connection on.
pub type IdentityLoader = Arc<dyn Fn() -> Result<(String, CertifiedKey), String> + Send + Sync>;

pub struct LinkConfig {
    pub node_name: String,
    /// Tried in order at each attempt: QUIC first falls back to WebSocket.
    pub endpoints: Vec<HubEndpoint>,
    /// The name the hub's certificate must carry (the `--server` host).
    pub server_name: String,
    pub identity: IdentityLoader,
    pub transport: TransportConfig,
    pub agent_version: String,
}

/// What the link is doing, for the agent and its logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Connected {
        transport: TransportKind,
        session: String,
    },
    /// The hub refused the node for a reason retrying will not fix soon.
    Refused(String),
}

/// The running link.
pub struct EdgeHub {
    store: Arc<EdgeStore>,
    wake: Arc<Notify>,
    state: watch::Receiver<LinkState>,
    changes: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

impl Drop for EdgeHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EdgeHub {
    /// Starts the link; it runs until the EdgeHub is dropped.
    pub fn start(store: Arc<EdgeStore>, config: LinkConfig) -> EdgeHub {
        let wake = Arc::new(Notify::new());
        let (state_tx, state) = watch::channel(LinkState::Connecting);
        let (changes_tx, changes) = watch::channel(0u64);
        let task = tokio::spawn(run(
            store.clone(),
            config,
            wake.clone(),
            state_tx,
            changes_tx,
        ));
        EdgeHub {
            store,
            wake,
            state,
            changes,
            task,
        }
    }

    /// The local store (read what the cloud sent).
    pub fn store(&self) -> &Arc<EdgeStore> {
        &self.store
    }

    /// Queues reports durably and wakes the link to send them; cheap to
    /// clone into other tasks.
    pub fn reporter(&self) -> Reporter {
        Reporter {
            store: self.store.clone(),
            wake: self.wake.clone(),
        }
    }

    /// The link's state, as it changes.
    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }

    /// Counts committed sync batches: changes when local objects changed.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }
}

/// Queues reports for the link; cheap to clone.
#[derive(Clone)]
pub struct Reporter {
    store: Arc<EdgeStore>,
    wake: Arc<Notify>,
}

impl Reporter {
    /// Queues a report durably and wakes the link to send it.
    pub fn report(
        &self,
        kind: ReportKind,
        key: &pb::ObjectKey,
        body_type: BodyType,
        body: &[u8],
    ) -> Result<u64, StoreError> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let seq = self.store.enqueue(kind, key, body_type, body, now_ms)?;
        self.wake.notify_one();
        Ok(seq)
    }
}

/// Why a session ended.
enum End {
    Transport(TransportError),
    Store(StoreError),
    /// The hub broke the protocol: said in a Goodbye.
    Violation(String),
}

impl From<TransportError> for End {
    fn from(e: TransportError) -> End {
        End::Transport(e)
    }
}

impl From<StoreError> for End {
    fn from(e: StoreError) -> End {
        End::Store(e)
    }
}

async fn run(
    store: Arc<EdgeStore>,
    config: LinkConfig,
    wake: Arc<Notify>,
    state: watch::Sender<LinkState>,
    changes: watch::Sender<u64>,
) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    let mut tls = TlsCache::default();
    loop {
        let delay = match connect(&config, &mut tls).await {
            None => backoff.next_delay(),
            Some(conn) => {
                let transport = conn.peer().transport;
                let end =
                    session(conn, &store, &config, &wake, &state, &changes, &mut backoff).await;
                match end {
                    End::Transport(TransportError::PeerClosed {
                        code,
                        message,
                        retry_after,
                    }) if matches!(
                        code,
                        ErrorCode::Unauthorized | ErrorCode::VersionUnsupported
                    ) =>
                    {
                        let why = format!("the cloud hub refused this node ({code:?}): {message}");
                        tracing::error!(
                            node = config.node_name,
                            "{why}; check that the node certificate is valid and names this node, and that agent and server versions are compatible"
                        );
                        let _ = state.send(LinkState::Refused(why));
                        backoff.next_delay_after(retry_after).max(backoff.ceiling())
                    }
                    End::Transport(e) => {
                        tracing::info!(node = config.node_name, ?transport, reason = %e, "link to the cloud hub ended; reconnecting");
                        match e {
                            TransportError::PeerClosed { retry_after, .. } => {
                                backoff.next_delay_after(retry_after)
                            }
                            _ => backoff.next_delay(),
                        }
                    }
                    End::Store(e) => {
                        tracing::error!(node = config.node_name, error = %e, "edge store failed; reconnecting");
                        backoff.next_delay()
                    }
                    End::Violation(why) => {
                        tracing::warn!(
                            node = config.node_name,
                            why,
                            "the cloud hub broke the protocol; reconnecting"
                        );
                        backoff.next_delay()
                    }
                }
            }
        };
        if !matches!(*state.borrow(), LinkState::Refused(_)) {
            let _ = state.send(LinkState::Connecting);
        }
        tokio::time::sleep(delay).await;
    }
}

/// The client TLS configuration, rebuilt only when the identity on disk
/// changed: the same configuration keeps its TLS session tickets, so a
/// reconnect resumes instead of exchanging certificates again.
#[derive(Default)]
struct TlsCache {
    cert_pem: String,
    tls: Option<ClientTls>,
}

impl TlsCache {
    fn get(&mut self, config: &LinkConfig) -> Result<ClientTls, String> {
        let (ca_pem, identity) = (config.identity)()?;
        if let Some(tls) = &self.tls
            && self.cert_pem == identity.cert_pem
        {
            return Ok(tls.clone());
        }
        let tls = ClientTls::new(&ca_pem, &identity).map_err(|e| e.to_string())?;
        self.cert_pem = identity.cert_pem;
        self.tls = Some(tls.clone());
        Ok(tls)
    }
}

/// The first endpoint that answers, in order.
async fn connect(config: &LinkConfig, cache: &mut TlsCache) -> Option<Connection> {
    let tls = match cache.get(config) {
        Ok(tls) => tls,
        Err(e) => {
            tracing::error!(
                node = config.node_name,
                error = e,
                "cannot load the node identity for the hub link"
            );
            return None;
        }
    };
    for endpoint in &config.endpoints {
        match connect_one(endpoint, &tls, config).await {
            Ok(conn) => return Some(conn),
            Err(e) => tracing::warn!(
                node = config.node_name,
                transport = ?endpoint.transport,
                address = endpoint.address,
                error = %e,
                "cannot reach the cloud hub at this address"
            ),
        }
    }
    None
}

async fn connect_one(
    endpoint: &HubEndpoint,
    tls: &ClientTls,
    config: &LinkConfig,
) -> Result<Connection, TransportError> {
    let addr = tokio::net::lookup_host(&endpoint.address)
        .await
        .map_err(|e| TransportError::Config(format!("resolving {}: {e}", endpoint.address)))?
        .next()
        .ok_or_else(|| {
            TransportError::Config(format!("{} resolves to nothing", endpoint.address))
        })?;
    match endpoint.transport {
        TransportKind::Quic => {
            let bind: SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            QuicConnector::new(bind, tls, &config.transport)?
                .connect(addr, &config.server_name)
                .await
        }
        TransportKind::WebSocket => {
            WsConnector::new(tls, &config.transport)?
                .connect(addr, &config.server_name)
                .await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn session(
    mut conn: Connection,
    store: &Arc<EdgeStore>,
    config: &LinkConfig,
    wake: &Notify,
    state: &watch::Sender<LinkState>,
    changes: &watch::Sender<u64>,
    backoff: &mut Backoff,
) -> End {
    let welcome = match handshake(&mut conn, store, config).await {
        Ok(w) => w,
        Err(End::Violation(why)) => {
            conn.close(pb::Goodbye::new(ErrorCode::ProtocolViolation, why.clone()))
                .await;
            return End::Violation(why);
        }
        Err(end) => return end,
    };
    backoff.reset();
    let _ = state.send(LinkState::Connected {
        transport: conn.peer().transport,
        session: welcome.session.clone(),
    });
    tracing::info!(
        node = config.node_name,
        transport = ?conn.peer().transport,
        mode = ?SyncMode::try_from(welcome.mode).unwrap_or(SyncMode::Unspecified),
        resume_from = welcome.resume_from,
        reports_applied = welcome.reports_applied,
        "connected to the cloud hub"
    );
    let max_reports = welcome
        .limits
        .as_ref()
        .map_or(verge_protocol::DEFAULT_MAX_UNACKED_REPORTS, |l| {
            l.max_unacked_reports
        })
        .max(1) as usize;
    let (sender, mut receiver, _) = conn.split();
    let mut in_flight = false;
    let end = loop {
        if !in_flight {
            match store.pending_reports(0, max_reports) {
                Ok(reports) if !reports.is_empty() => {
                    if let Err(e) = sender
                        .send(&Envelope::from(pb::ReportBatch { reports }))
                        .await
                    {
                        break End::Transport(e);
                    }
                    in_flight = true;
                }
                Ok(_) => {}
                Err(e) => break End::Store(e),
            }
        }
        let received = tokio::select! {
            () = wake.notified() => continue,
            received = receiver.recv() => received,
        };
        let envelope = match received {
            Ok(e) => e,
            Err(e) => break End::Transport(e),
        };
        let result = match envelope.body {
            Some(Body::SyncBatch(batch)) => {
                apply(store, &welcome.epoch, batch, &sender, changes).await
            }
            Some(Body::CaughtUp(c)) => caught_up(store, &welcome.epoch, c.revision, &sender).await,
            Some(Body::ReportAck(ack)) => {
                for r in &ack.rejected {
                    tracing::warn!(
                        node = config.node_name,
                        sequence = r.sequence,
                        code = ?ErrorCode::try_from(r.code).unwrap_or(ErrorCode::Unspecified),
                        message = r.message,
                        "the cloud refused a report for good; dropped"
                    );
                }
                in_flight = false;
                store
                    .ack_reports(ack.sequence)
                    .map(|_| ())
                    .map_err(End::Store)
            }
            _ => Err(End::Violation(format!(
                "{} is not expected from the cloud hub",
                body_name(&envelope)
            ))),
        };
        if let Err(end) = result {
            break end;
        }
    };
    match &end {
        End::Violation(why) => {
            sender
                .close(pb::Goodbye::new(ErrorCode::ProtocolViolation, why.clone()))
                .await
        }
        End::Store(e) => {
            sender
                .close(pb::Goodbye::new(ErrorCode::Internal, e.to_string()))
                .await
        }
        End::Transport(_) => {}
    }
    end
}

async fn handshake(
    conn: &mut Connection,
    store: &EdgeStore,
    config: &LinkConfig,
) -> Result<pb::Welcome, End> {
    let hello = pb::Hello {
        versions: vec![u32::from(CURRENT_VERSION)],
        agent_version: config.agent_version.clone(),
        node_name: config.node_name.clone(),
        resume: store.resume_point()?,
        report_stream: store.report_stream()?,
        features: Vec::new(),
    };
    conn.send(&Envelope::from(hello)).await?;
    let first = tokio::time::timeout(config.transport.handshake_timeout, conn.recv())
        .await
        .map_err(|_| End::Violation("no Welcome within the handshake timeout".into()))??;
    let welcome = match first.body {
        Some(Body::Welcome(w)) => w,
        _ => {
            return Err(End::Violation(format!(
                "expected Welcome, got {}",
                body_name(&first)
            )));
        }
    };
    let version = u8::try_from(welcome.version)
        .map_err(|_| End::Violation(format!("unknown protocol version {}", welcome.version)))?;
    conn.set_version(version)?;
    if welcome.heartbeat_interval_ms > 0 && welcome.dead_after_ms > welcome.heartbeat_interval_ms {
        conn.set_heartbeat(
            Duration::from_millis(u64::from(welcome.heartbeat_interval_ms)),
            Duration::from_millis(u64::from(welcome.dead_after_ms)),
        )?;
    }
    if let Some(limits) = &welcome.limits {
        conn.set_peer_max_frame_bytes(limits.max_frame_bytes as usize);
    }
    // What the cloud already applied need not be sent again.
    store.ack_reports(welcome.reports_applied)?;
    if welcome.mode == SyncMode::Inventory as i32 {
        let per_chunk = welcome
            .limits
            .as_ref()
            .map_or(verge_protocol::DEFAULT_MAX_INVENTORY_ENTRIES, |l| {
                l.max_inventory_entries
            })
            .max(1) as usize;
        let entries = store.inventory()?;
        let held = entries.len();
        let count = held.div_ceil(per_chunk).max(1);
        let mut chunks = entries.chunks(per_chunk);
        for i in 0..count {
            let entries = chunks.next().map(<[_]>::to_vec).unwrap_or_default();
            let chunk = pb::InventoryChunk {
                entries,
                last: i + 1 == count,
            };
            conn.send(&Envelope::from(chunk)).await?;
        }
        tracing::info!(
            node = config.node_name,
            held,
            "sent the inventory the cloud asked for"
        );
    }
    Ok(welcome)
}

/// Commits a batch, then acknowledges it if it completes its revision.
async fn apply(
    store: &Arc<EdgeStore>,
    epoch: &str,
    batch: pb::SyncBatch,
    sender: &verge_transport::Sender,
    changes: &watch::Sender<u64>,
) -> Result<(), End> {
    let (revision, more) = (batch.revision, batch.more);
    let (s, e) = (store.clone(), epoch.to_owned());
    let applied = tokio::task::spawn_blocking(move || s.apply(&e, &batch))
        .await
        .map_err(|e| End::Violation(format!("applying a batch failed: {e}")))?;
    let applied = match applied {
        Ok(a) => a,
        Err(StoreError::Invalid(why)) => return Err(End::Violation(why)),
        Err(e) => return Err(End::Store(e)),
    };
    tracing::debug!(
        revision,
        more,
        upserts = applied.upserts,
        deletes = applied.deletes,
        stale = applied.stale,
        "applied a sync batch"
    );
    changes.send_modify(|n| *n += 1);
    if !more {
        sender
            .send(&Envelope::from(pb::SyncAck { revision }))
            .await?;
    }
    Ok(())
}

async fn caught_up(
    store: &Arc<EdgeStore>,
    epoch: &str,
    revision: u64,
    sender: &verge_transport::Sender,
) -> Result<(), End> {
    let (s, e) = (store.clone(), epoch.to_owned());
    tokio::task::spawn_blocking(move || s.set_resume_point(&e, revision))
        .await
        .map_err(|e| End::Violation(format!("recording the resume point failed: {e}")))??;
    sender
        .send(&Envelope::from(pb::SyncAck { revision }))
        .await?;
    Ok(())
}
