//! One edge node's channel session on the cloud side: the handshake, the
//! downstream sync from the node's queue, and its upstream reports. The
//! rules are those of docs/protocol.md; breaking one closes this
//! connection with a Goodbye saying why, and touches no other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use verge_protocol::pb::{self, Envelope, ErrorCode, SyncMode, envelope::Body};
use verge_protocol::{body_name, default_limits, negotiate};
use verge_store::Revision;
use verge_transport::{Connection, Receiver, Sender, TransportError, TransportKind};

use crate::lease::LeaseKeeper;
use crate::metrics::{HubMetrics, transport_name};
use crate::reports::{Outcome, ReportWriter};
use crate::view::{Hub, Next, Session, Start};

/// What sessions share: the views, the report writer, the Lease keeper.
pub struct Shared {
    pub hub: Arc<Hub>,
    pub reports: ReportWriter,
    pub leases: Arc<LeaseKeeper>,
    pub metrics: Arc<HubMetrics>,
    pub settings: SessionSettings,
}

#[derive(Clone, Debug)]
pub struct SessionSettings {
    /// Announced in Welcome; the transport already runs with them.
    pub heartbeat_interval: Duration,
    pub dead_after: Duration,
    /// How long a connection may take to say Hello.
    pub hello_timeout: Duration,
    /// Changes and bytes per SyncBatch (the frame limit caps bytes too).
    pub max_batch_changes: usize,
    pub max_batch_bytes: usize,
    /// Inventory entries a node may report in total.
    pub max_inventory: usize,
    /// Attempts at a report write the API server keeps failing before the
    /// session gives up (the edge then resends after reconnecting).
    pub report_attempts: u32,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            heartbeat_interval: verge_protocol::DEFAULT_HEARTBEAT_INTERVAL,
            dead_after: verge_protocol::DEFAULT_DEAD_AFTER,
            hello_timeout: Duration::from_secs(10),
            max_batch_changes: 256,
            max_batch_bytes: 1024 * 1024,
            max_inventory: 1_000_000,
            report_attempts: 3,
        }
    }
}

/// Why a session ended.
#[derive(Debug)]
enum End {
    /// The connection ended (the peer left, the link died).
    Closed(TransportError),
    /// This side refuses to go on: said in a Goodbye.
    Refused(ErrorCode, String),
    /// A newer connection of the same node took over.
    Superseded,
}

impl End {
    fn reason(&self) -> &'static str {
        match self {
            End::Closed(_) => "closed",
            End::Refused(code, _) => match code {
                ErrorCode::Unauthorized => "unauthorized",
                ErrorCode::VersionUnsupported => "version_unsupported",
                ErrorCode::Timeout => "timeout",
                ErrorCode::Internal => "internal",
                _ => "protocol_violation",
            },
            End::Superseded => "superseded",
        }
    }
}

impl From<TransportError> for End {
    fn from(e: TransportError) -> End {
        End::Closed(e)
    }
}

fn violation(message: impl Into<String>) -> End {
    End::Refused(ErrorCode::ProtocolViolation, message.into())
}

/// Serves one accepted connection until it ends.
///
/// Only the running phase is inline: the handshake and the first Lease
/// write before it, and the goodbye and bookkeeping after it, are boxed, so
/// the task every idle node keeps is sized for the wait in [`Running::run`]
/// alone (1.8 KB before, with every phase inline).
pub async fn serve(shared: Arc<Shared>, conn: Connection) {
    let peer = conn.peer().clone();
    let started = Instant::now();
    let (end, node_name) = match Box::pin(open(&shared, conn)).await {
        Err(end) => (end, None),
        Ok(mut s) => {
            let end = s.run().await;
            Box::pin(s.close(&end)).await;
            (end, Some(s.session.node.clone()))
        }
    };
    if node_name.is_none() {
        shared
            .metrics
            .session_ended(None, end.reason(), Default::default());
    }
    let node = node_name.as_deref().or(peer.node_name()).unwrap_or("");
    let transport = transport_name(peer.transport);
    let seconds = started.elapsed().as_secs_f64();
    match &end {
        End::Closed(e) => {
            tracing::info!(node, transport, remote = %peer.remote_addr, seconds, reason = %e, "edge node disconnected")
        }
        End::Superseded => {
            tracing::info!(node, transport, remote = %peer.remote_addr, seconds, "edge connection replaced by a newer one")
        }
        End::Refused(code, message) => {
            tracing::warn!(node, transport, remote = %peer.remote_addr, seconds, ?code, message, "closed an edge connection")
        }
    }
}

/// The handshake and the first Lease write: a running session, or why the
/// connection ended (after saying Goodbye when it was refused).
async fn open(shared: &Arc<Shared>, mut conn: Connection) -> Result<Running, End> {
    match handshake(shared, &mut conn).await {
        Err(end) => {
            if let End::Refused(code, message) = &end {
                conn.close(pb::Goodbye::new(*code, message.clone())).await;
            }
            Err(end)
        }
        Ok(accepted) => {
            let s = accepted.running(shared.clone(), conn);
            shared.metrics.session_started(s.transport);
            shared.leases.connected(&s.session.node).await;
            Ok(s)
        }
    }
}

/// An established session.
struct Running {
    shared: Arc<Shared>,
    session: Arc<Session>,
    sender: Sender,
    receiver: Receiver,
    report_stream: String,
    reports_applied: u64,
    max_unacked_reports: usize,
    /// Whether the node was told it is caught up since it connected: the
    /// first time it is, even with nothing to send, so that an edge with
    /// nothing bound (or nothing changed) learns its resume point.
    announced: bool,
    transport: TransportKind,
}

/// A node the handshake admitted.
struct Accepted {
    session: Arc<Session>,
    report_stream: String,
    reports_applied: u64,
    max_unacked_reports: usize,
}

impl Accepted {
    fn running(self, shared: Arc<Shared>, conn: Connection) -> Running {
        let transport = conn.peer().transport;
        let (sender, receiver, _) = conn.split();
        Running {
            shared,
            session: self.session,
            sender,
            receiver,
            report_stream: self.report_stream,
            reports_applied: self.reports_applied,
            max_unacked_reports: self.max_unacked_reports,
            announced: false,
            transport,
        }
    }
}

/// Hello, checks, Welcome, and the inventory when one is needed. On a
/// refusal the caller says Goodbye while the connection is still whole.
async fn handshake(shared: &Arc<Shared>, conn: &mut Connection) -> Result<Accepted, End> {
    let refuse = End::Refused;
    let Some(node) = conn.peer().node_name().map(str::to_owned) else {
        return Err(refuse(
            ErrorCode::Unauthorized,
            "the client certificate does not name a node (CN=system:node:<name>, O=system:nodes)"
                .into(),
        ));
    };
    let first = match tokio::time::timeout(shared.settings.hello_timeout, conn.recv()).await {
        Err(_) => {
            return Err(refuse(
                ErrorCode::Timeout,
                "no Hello within the handshake timeout".into(),
            ));
        }
        Ok(Err(e)) => return Err(End::Closed(e)),
        Ok(Ok(envelope)) => envelope,
    };
    let hello = match first.body {
        Some(Body::Hello(h)) => h,
        _ => {
            return Err(violation(format!(
                "the first message must be Hello, not {}",
                body_name(&first)
            )));
        }
    };
    if !hello.node_name.is_empty() && hello.node_name != node {
        return Err(refuse(
            ErrorCode::Unauthorized,
            format!(
                "Hello names node {:?} but the certificate is node {node:?}",
                hello.node_name
            ),
        ));
    }
    let Some(version) = negotiate(&hello.versions) else {
        return Err(refuse(
            ErrorCode::VersionUnsupported,
            format!(
                "no protocol version in common: the edge speaks {:?}, this hub {:?}; upgrade the older side",
                hello.versions,
                verge_protocol::SUPPORTED_VERSIONS
            ),
        ));
    };
    if let Err(e) = conn.set_version(version) {
        return Err(refuse(ErrorCode::Internal, e.to_string()));
    }
    let hub = &shared.hub;
    let (session, start) = hub.attach(&node, hello.resume.as_ref());
    let reports_applied = shared.reports.applied(&node, &hello.report_stream);
    let (mode, resume_from) = match &start {
        Start::Delta { from } => (SyncMode::Delta, *from),
        Start::Inventory(_) => (SyncMode::Inventory, 0),
    };
    let limits = default_limits();
    let welcome = pb::Welcome {
        version: u32::from(version),
        node_name: node.clone(),
        epoch: hub.epoch().to_owned(),
        mode: mode as i32,
        resume_from: u64::try_from(resume_from).unwrap_or(0),
        reports_applied,
        heartbeat_interval_ms: millis(shared.settings.heartbeat_interval),
        dead_after_ms: millis(shared.settings.dead_after),
        limits: Some(limits),
        features: Vec::new(),
        session: format!("{}-{}", hub.epoch(), session.id()),
    };
    let detach = |end: End| {
        hub.detach(&session);
        end
    };
    if let Err(e) = conn.send(&Envelope::from(welcome)).await {
        return Err(detach(End::Closed(e)));
    }
    tracing::info!(
        node,
        transport = transport_name(conn.peer().transport),
        remote = %conn.peer().remote_addr,
        ?mode,
        resume_from,
        reports_applied,
        "edge node connected"
    );
    if let Start::Inventory(reason) = start {
        tracing::debug!(node, ?reason, "asking the edge for its inventory");
        if let Err(end) = receive_inventory(shared, &session, conn).await {
            return Err(detach(end));
        }
    }
    Ok(Accepted {
        session,
        report_stream: hello.report_stream,
        reports_applied,
        max_unacked_reports: limits.max_unacked_reports as usize,
    })
}

async fn receive_inventory(
    shared: &Shared,
    session: &Session,
    conn: &mut Connection,
) -> Result<(), End> {
    let mut entries = Vec::new();
    loop {
        let envelope = conn.recv().await?;
        let chunk = match envelope.body {
            Some(Body::Inventory(chunk)) => chunk,
            _ => {
                return Err(violation(format!(
                    "expected InventoryChunk, got {}",
                    body_name(&envelope)
                )));
            }
        };
        if entries.len() + chunk.entries.len() > shared.settings.max_inventory {
            return Err(End::Refused(
                ErrorCode::Invalid,
                format!(
                    "the inventory exceeds {} entries",
                    shared.settings.max_inventory
                ),
            ));
        }
        entries.extend(chunk.entries);
        if chunk.last {
            break;
        }
    }
    shared
        .hub
        .attach_inventory(session, &entries)
        .map_err(|e| End::Refused(ErrorCode::Invalid, e.to_string()))
}

impl Running {
    /// Says why the session ends, when the edge should know, and takes the
    /// node off the hub.
    async fn close(&self, end: &End) {
        let goodbye = match end {
            End::Refused(code, message) => Some(pb::Goodbye::new(*code, message.clone())),
            End::Superseded => Some(pb::Goodbye::new(
                ErrorCode::Superseded,
                "a newer connection of this node took over",
            )),
            End::Closed(_) => None,
        };
        if let Some(goodbye) = goodbye {
            self.sender.close(goodbye).await;
        }
        self.shared.hub.detach(&self.session);
        self.shared.leases.disconnected(&self.session.node);
        self.shared
            .metrics
            .session_ended(Some(self.transport), end.reason(), self.sender.stats());
    }

    /// Serves the node until the session ends. Sending and handling are
    /// boxed: what an idle session waits in is only the select below.
    async fn run(&mut self) -> End {
        loop {
            if let Err(end) = Box::pin(self.send_pending()).await {
                return end;
            }
            tokio::select! {
                _ = self.session.changed() => {}
                received = self.receiver.recv() => {
                    let result = match received {
                        Ok(envelope) => Box::pin(self.handle(envelope)).await,
                        Err(e) => Err(End::Closed(e)),
                    };
                    if let Err(end) = result {
                        return end;
                    }
                }
            }
        }
    }

    /// Sends what the node's queue holds, then CaughtUp if anything went.
    async fn send_pending(&mut self) -> Result<(), End> {
        let hub = &self.shared.hub;
        let settings = &self.shared.settings;
        let mut sent = false;
        loop {
            if self.session.is_closed() {
                return Err(End::Superseded);
            }
            let through = hub.revision();
            match self.session.next(
                through,
                settings.max_batch_changes,
                settings.max_batch_bytes,
            ) {
                Next::Batch(batch) => {
                    let changes = batch.changes.len();
                    self.sender.send(&Envelope::from(batch.to_proto())).await?;
                    self.shared.metrics.batch_sent(changes);
                    sent = true;
                }
                Next::Resync(from) => hub.resync(&self.session, from),
                Next::Idle => break,
            }
        }
        if sent || !self.announced {
            let revision = hub.revision();
            if self.session.caught_up(revision) {
                let caught_up = pb::CaughtUp {
                    revision: u64::try_from(revision).unwrap_or(0),
                };
                self.sender.send(&Envelope::from(caught_up)).await?;
                self.announced = true;
            }
        }
        Ok(())
    }

    async fn handle(&mut self, envelope: Envelope) -> Result<(), End> {
        match envelope.body {
            Some(Body::SyncAck(ack)) => {
                let revision = Revision::try_from(ack.revision)
                    .map_err(|_| violation("SyncAck revision out of range"))?;
                self.session
                    .ack(revision)
                    .map_err(|e| violation(e.to_string()))
            }
            Some(Body::Reports(batch)) => self.apply_reports(batch).await,
            _ => Err(violation(format!(
                "{} is not expected from an edge node now",
                body_name(&envelope)
            ))),
        }
    }

    /// Applies a batch in sequence order and acknowledges it cumulatively.
    async fn apply_reports(&mut self, batch: pb::ReportBatch) -> Result<(), End> {
        if batch.reports.len() > self.max_unacked_reports {
            return Err(violation(format!(
                "{} reports in one batch; at most {} may be in flight",
                batch.reports.len(),
                self.max_unacked_reports
            )));
        }
        let node = self.session.node.clone();
        let mut rejected = Vec::new();
        let mut last = self.reports_applied;
        for report in &batch.reports {
            // Already applied before a reconnect: the edge resent it.
            if report.sequence <= self.reports_applied {
                continue;
            }
            let kind = report_kind_name(report.kind);
            let mut attempt = 0;
            let outcome = loop {
                attempt += 1;
                match self.shared.reports.apply(&node, report).await {
                    Outcome::Retry(why) if attempt < self.shared.settings.report_attempts => {
                        tracing::debug!(node = %node, sequence = report.sequence, why, "retrying a report write");
                        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    }
                    outcome => break outcome,
                }
            };
            match outcome {
                Outcome::Applied => self.shared.metrics.report(kind, "applied"),
                Outcome::Rejected(code, message) => {
                    self.shared.metrics.report(kind, "rejected");
                    rejected.push(pb::Rejection {
                        sequence: report.sequence,
                        code: code as i32,
                        message,
                    });
                }
                Outcome::Retry(why) => {
                    self.shared.metrics.report(kind, "retry");
                    // Acknowledge what was applied; the rest comes again
                    // after the edge reconnects.
                    self.ack_reports(last, rejected).await?;
                    return Err(End::Refused(
                        ErrorCode::Overloaded,
                        format!("cannot write report {} now: {why}", report.sequence),
                    ));
                }
            }
            last = report.sequence;
            self.reports_applied = last;
            self.shared
                .reports
                .mark_applied(&node, &self.report_stream, last);
        }
        self.ack_reports(last, rejected).await
    }

    async fn ack_reports(&self, sequence: u64, rejected: Vec<pb::Rejection>) -> Result<(), End> {
        let ack = pb::ReportAck { sequence, rejected };
        self.sender.send(&Envelope::from(ack)).await?;
        Ok(())
    }
}

fn report_kind_name(kind: i32) -> &'static str {
    match pb::ReportKind::try_from(kind) {
        Ok(pb::ReportKind::NodeStatus) => "node_status",
        Ok(pb::ReportKind::Lease) => "lease",
        Ok(pb::ReportKind::PodStatus) => "pod_status",
        Ok(pb::ReportKind::Event) => "event",
        Ok(pb::ReportKind::DeviceTwin) => "device_twin",
        _ => "unknown",
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}
