//! A framed connection: the task that owns the socket, and the handles the
//! caller sends and receives messages through.
//!
//! One task per connection runs a read loop and a write loop side by side,
//! so a peer that stops reading can never keep us from reading (or the other
//! way round). The read loop decodes and validates every frame, answers
//! Pings, records round-trip times and declares the link dead when nothing
//! arrived for `dead_after`; everything else goes to the caller through a
//! small bounded queue, and while that queue is full the loop stops reading
//! so the network pushes back on the peer. The write loop drains the bounded
//! send queue and, on the edge, sends a Ping when nothing was received for
//! `heartbeat_interval`; the hub pings only after a quarter interval more,
//! when the edge has gone quiet. An idle link carries one Ping/Pong pair per
//! interval.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, OwnedSemaphorePermit, mpsc};
use tokio::time::{sleep_until, timeout};
use tracing::{Instrument, debug, info, warn};
use verge_pki::Identity;
use verge_protocol::pb::{self, Envelope, ErrorCode, envelope::Body};
use verge_protocol::{CURRENT_VERSION, Frame, FrameError, encode_frame, is_supported};

use crate::config::TransportConfig;
use crate::error::TransportError;
use crate::queue::{self, QueueReceiver, QueueSender, TrySendError};

/// How long a closing connection may take to send its Goodbye.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

pub use verge_pki::{NODE_USER_PREFIX, NODES_GROUP};

/// Which transport a connection runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// WebSocket binary messages over TLS over TCP.
    WebSocket,
    /// One bidirectional QUIC stream.
    Quic,
}

/// Who is at the other end.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The peer's address.
    pub remote_addr: SocketAddr,
    /// The transport in use.
    pub transport: TransportKind,
    /// The identity in the peer's client certificate, verified against the
    /// cluster CA. Always set on the server side; `None` on the client side
    /// (the server was verified by name against the pinned CA).
    pub identity: Option<Identity>,
}

impl Peer {
    /// The node name, when the peer's certificate names a node
    /// (`CN=system:node:<name>`, `O=system:nodes`).
    pub fn node_name(&self) -> Option<&str> {
        self.identity.as_ref()?.node_name()
    }
}

/// Counters of one connection, frame bytes (header included) only: TLS,
/// WebSocket and QUIC overhead come on top.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Frames written.
    pub frames_sent: u64,
    /// Frame bytes written.
    pub bytes_sent: u64,
    /// Frames read.
    pub frames_received: u64,
    /// Frame bytes read.
    pub bytes_received: u64,
    /// Heartbeat Pings this side sent (counted in `frames_sent` too).
    pub pings_sent: u64,
}

/// Receives frames from the network: WebSocket messages or a QUIC stream.
pub(crate) trait FrameRead: Send + 'static {
    /// The next frame; `Ok(None)` when the peer ended the stream.
    fn next_frame(&mut self) -> impl Future<Output = Result<Option<Frame>, TransportError>> + Send;
}

/// Sends encoded frames to the network.
pub(crate) trait FrameWrite: Send + 'static {
    fn write_frame(
        &mut self,
        frame: Bytes,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Ends the stream after everything written so far.
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

/// State shared by the connection task and the caller's handles.
struct Shared {
    start: Instant,
    reason: OnceLock<TransportError>,
    /// This side started closing (Sender::close, or every Sender dropped):
    /// whatever the read side sees afterwards is the expected end.
    closing_locally: AtomicBool,
    /// The negotiated protocol version, 0 until [`Connection::set_version`].
    version: AtomicU8,
    heartbeat_ms: AtomicU64,
    /// The hub's end: it pings only after the edge has been quiet a quarter
    /// interval longer than the edge waits before pinging (see `write_loop`).
    hub_side: bool,
    dead_after_ms: AtomicU64,
    /// The largest frame the peer accepts.
    send_max_frame: AtomicUsize,
    /// Microseconds since `start` of the last frame received.
    last_rx_us: AtomicU64,
    /// The last measured round-trip time, microseconds; 0 = none yet.
    rtt_us: AtomicU64,
    frames_sent: AtomicU64,
    bytes_sent: AtomicU64,
    frames_received: AtomicU64,
    bytes_received: AtomicU64,
    pings_sent: AtomicU64,
}

impl Shared {
    fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn version(&self) -> u8 {
        match self.version.load(Ordering::Relaxed) {
            0 => CURRENT_VERSION,
            v => v,
        }
    }

    fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms.load(Ordering::Relaxed))
    }

    /// How long this end lets the link stay quiet before it pings. Were
    /// both ends to wait the same time, both would ping at once after every
    /// exchange (each last heard the other within the same millisecond):
    /// two Ping/Pong pairs per interval instead of one, 139 bit/s of IPv4
    /// instead of 80 as `bench/wire.sh` measured. So the edge pings, and the
    /// hub only if the edge has fallen silent.
    fn ping_after(&self) -> Duration {
        let interval = self.heartbeat();
        if self.hub_side {
            interval + interval / 4
        } else {
            interval
        }
    }

    fn dead_after(&self) -> Duration {
        Duration::from_millis(self.dead_after_ms.load(Ordering::Relaxed))
    }

    fn encode(&self, envelope: &Envelope) -> Result<Bytes, TransportError> {
        Ok(encode_frame(
            self.version(),
            envelope,
            self.send_max_frame.load(Ordering::Relaxed),
        )?)
    }

    fn reason(&self) -> TransportError {
        self.reason.get().cloned().unwrap_or(TransportError::Closed)
    }

    fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            frames_sent: self.frames_sent.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            frames_received: self.frames_received.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            pings_sent: self.pings_sent.load(Ordering::Relaxed),
        }
    }
}

enum Outbound {
    Frame(Bytes),
    Close(pb::Goodbye),
}

/// What the read side asks the write side to send. Two slots and a Notify
/// rather than a channel: a tokio channel allocates a 32-slot block up
/// front, which an idle connection should not carry, and only the latest
/// Pong matters anyway.
#[derive(Default)]
struct Control {
    pong: Mutex<Option<pb::Pong>>,
    /// `Some(goodbye)`: send `goodbye` (if any) and close.
    close: Mutex<Option<Option<pb::Goodbye>>>,
    wake: Notify,
}

impl Control {
    fn pong(&self, pong: pb::Pong) {
        *lock(&self.pong) = Some(pong);
        self.wake.notify_one();
    }

    fn close(&self, goodbye: Option<pb::Goodbye>) {
        *lock(&self.close) = Some(goodbye);
        self.wake.notify_one();
    }

    /// The pending request, closing first.
    fn take(&self) -> Option<(Option<Envelope>, bool)> {
        if let Some(goodbye) = lock(&self.close).take() {
            return Some((goodbye.map(Envelope::from), true));
        }
        lock(&self.pong)
            .take()
            .map(|pong| (Some(Envelope::from(pong)), false))
    }
}

/// Locks a mutex that guards plain data: a panic elsewhere cannot leave it
/// inconsistent, so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The sending half: cheap to clone, usable from many tasks. When every
/// Sender (the Connection's included) is gone, the connection sends Goodbye
/// `NORMAL` after what is queued and closes.
#[derive(Clone)]
pub struct Sender {
    tx: QueueSender<Outbound>,
    shared: Arc<Shared>,
}

impl Sender {
    /// Queues `envelope`, waiting while the send queue is full. A message too
    /// large for the peer's frame limit is refused here, and nothing is sent.
    pub async fn send(&self, envelope: &Envelope) -> Result<(), TransportError> {
        let frame = self.shared.encode(envelope)?;
        self.tx
            .send(Outbound::Frame(frame))
            .await
            .map_err(|_| self.shared.reason())
    }

    /// Queues `envelope` if the send queue has room; [`TransportError::Full`]
    /// otherwise, so the caller can coalesce or drop instead of waiting.
    pub fn try_send(&self, envelope: &Envelope) -> Result<(), TransportError> {
        let frame = self.shared.encode(envelope)?;
        self.tx
            .try_send(Outbound::Frame(frame))
            .map_err(|e| match e {
                TrySendError::Full(_) => TransportError::Full,
                TrySendError::Closed(_) => self.shared.reason(),
            })
    }

    /// Free slots in the send queue.
    pub fn capacity(&self) -> usize {
        self.tx.capacity()
    }

    /// Sends `goodbye` after everything queued before it, then closes.
    pub async fn close(&self, goodbye: pb::Goodbye) {
        // Marked before queueing: if the caller drops its Receiver right
        // after, the connection waits for this Goodbye instead of sending
        // a generic one ahead of it.
        self.shared.closing_locally.store(true, Ordering::Relaxed);
        // An error means the connection is already closed: nothing to do.
        let _ = self.tx.send(Outbound::Close(goodbye)).await;
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Frame counters so far.
    pub fn stats(&self) -> ConnectionStats {
        self.shared.stats()
    }
}

/// The receiving half. Dropping it closes the connection.
pub struct Receiver {
    rx: QueueReceiver<Envelope>,
    shared: Arc<Shared>,
}

impl Receiver {
    /// The next message from the peer (never Ping, Pong or Goodbye: those
    /// are handled by the connection). After the connection ended, the
    /// reason it ended, every time.
    pub async fn recv(&mut self) -> Result<Envelope, TransportError> {
        match self.rx.recv().await {
            Some(envelope) => Ok(envelope),
            None => Err(self.shared.reason()),
        }
    }
}

/// A framed, authenticated connection to one peer.
pub struct Connection {
    sender: Sender,
    receiver: Receiver,
    peer: Peer,
}

impl Connection {
    /// Who is at the other end.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// See [`Sender::send`].
    pub async fn send(&self, envelope: &Envelope) -> Result<(), TransportError> {
        self.sender.send(envelope).await
    }

    /// See [`Sender::try_send`].
    pub fn try_send(&self, envelope: &Envelope) -> Result<(), TransportError> {
        self.sender.try_send(envelope)
    }

    /// See [`Receiver::recv`].
    pub async fn recv(&mut self) -> Result<Envelope, TransportError> {
        self.receiver.recv().await
    }

    /// See [`Sender::close`].
    pub async fn close(&self, goodbye: pb::Goodbye) {
        self.sender.close(goodbye).await;
    }

    /// A handle for sending from other tasks.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// Splits into independently owned halves.
    pub fn split(self) -> (Sender, Receiver, Peer) {
        (self.sender, self.receiver, self.peer)
    }

    /// Frame counters so far.
    pub fn stats(&self) -> ConnectionStats {
        self.sender.shared.stats()
    }

    /// The last measured round-trip time (from Ping/Pong), if any.
    pub fn rtt(&self) -> Option<Duration> {
        match self.sender.shared.rtt_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Fixes the protocol version after the handshake: frames are sent with
    /// it, and frames of any other version close the connection.
    pub fn set_version(&self, version: u8) -> Result<(), TransportError> {
        if !is_supported(version) {
            return Err(TransportError::Config(format!(
                "protocol version {version} is not supported by this build"
            )));
        }
        self.sender.shared.version.store(version, Ordering::Relaxed);
        Ok(())
    }

    /// Changes the heartbeat timers (an edge applies those from Welcome).
    pub fn set_heartbeat(
        &self,
        interval: Duration,
        dead_after: Duration,
    ) -> Result<(), TransportError> {
        if interval.is_zero() || dead_after <= interval {
            return Err(TransportError::Config(
                "dead_after must be longer than a positive heartbeat interval".into(),
            ));
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let shared = &self.sender.shared;
        shared.heartbeat_ms.store(ms(interval), Ordering::Relaxed);
        shared
            .dead_after_ms
            .store(ms(dead_after), Ordering::Relaxed);
        Ok(())
    }

    /// Lowers the frame size this side sends to the peer's limit (Welcome's
    /// `limits.max_frame_bytes`); never raises it above this side's own.
    pub fn set_peer_max_frame_bytes(&self, max: usize) {
        self.sender
            .shared
            .send_max_frame
            .fetch_min(max, Ordering::Relaxed);
    }
}

/// Starts the task serving one established connection.
pub(crate) fn spawn<R: FrameRead, W: FrameWrite>(
    reader: R,
    writer: W,
    peer: Peer,
    config: &TransportConfig,
) -> Connection {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let shared = Arc::new(Shared {
        start: Instant::now(),
        reason: OnceLock::new(),
        closing_locally: AtomicBool::new(false),
        version: AtomicU8::new(0),
        heartbeat_ms: AtomicU64::new(ms(config.heartbeat_interval)),
        // Only the hub's side knows the peer by its certificate.
        hub_side: peer.identity.is_some(),
        dead_after_ms: AtomicU64::new(ms(config.dead_after)),
        send_max_frame: AtomicUsize::new(config.max_frame_bytes),
        last_rx_us: AtomicU64::new(0),
        rtt_us: AtomicU64::new(0),
        frames_sent: AtomicU64::new(0),
        bytes_sent: AtomicU64::new(0),
        frames_received: AtomicU64::new(0),
        bytes_received: AtomicU64::new(0),
        pings_sent: AtomicU64::new(0),
    });
    let (out_tx, out_rx) = queue::bounded(config.send_queue);
    let (in_tx, in_rx) = queue::bounded(config.recv_queue);
    let span = tracing::info_span!(
        "channel",
        peer = %peer.remote_addr,
        transport = ?peer.transport,
        node = peer.node_name().unwrap_or(""),
    );
    tokio::spawn(drive(reader, writer, shared.clone(), in_tx, out_rx).instrument(span));
    Connection {
        sender: Sender {
            tx: out_tx,
            shared: shared.clone(),
        },
        receiver: Receiver { rx: in_rx, shared },
        peer,
    }
}

async fn drive<R: FrameRead, W: FrameWrite>(
    reader: R,
    writer: W,
    shared: Arc<Shared>,
    inbound: QueueSender<Envelope>,
    outbound: QueueReceiver<Outbound>,
) {
    let control = Control::default();
    let read = read_loop(reader, &shared, &inbound, &control);
    let write = write_loop(writer, &shared, outbound, &control);
    tokio::pin!(read, write);
    let reason = tokio::select! {
        reason = &mut read => {
            if shared.closing_locally.load(Ordering::Relaxed) {
                // The peer answered our Goodbye by closing its end.
                let _ = timeout(CLOSE_GRACE, &mut write).await;
                return finish(&shared, TransportError::Closed);
            }
            let goodbye = goodbye_for(&reason);
            // Bounded: a peer that stopped reading must not hold the task.
            control.close(goodbye);
            let _ = timeout(CLOSE_GRACE, &mut write).await;
            reason
        }
        reason = &mut write => reason,
    };
    finish(&shared, reason);
}

fn finish(shared: &Shared, reason: TransportError) {
    match &reason {
        TransportError::Closed => debug!("connection closed locally"),
        TransportError::PeerClosed { code, message, .. } => {
            info!(?code, %message, "connection closed by the peer")
        }
        TransportError::Frame(error) => {
            warn!(%error, "closing the connection: the peer sent an unacceptable frame")
        }
        other => info!(reason = %other, "connection ended"),
    }
    // The caller's `inbound` is dropped only after this, so a receiver
    // woken by the closed queue always finds the reason.
    let _ = shared.reason.set(reason);
}

fn goodbye_for(reason: &TransportError) -> Option<pb::Goodbye> {
    match reason {
        TransportError::Frame(error) => Some(pb::Goodbye::new(error.code(), error.to_string())),
        TransportError::DeadLink { silent_for } => Some(pb::Goodbye::new(
            ErrorCode::Timeout,
            format!("nothing received for {silent_for:?}"),
        )),
        TransportError::Closed => Some(pb::Goodbye::new(ErrorCode::Normal, "closing")),
        _ => None,
    }
}

async fn read_loop<R: FrameRead>(
    mut reader: R,
    shared: &Shared,
    inbound: &QueueSender<Envelope>,
    control: &Control,
) -> TransportError {
    loop {
        let dead_after = shared.dead_after();
        let next = tokio::select! {
            next = timeout(dead_after, reader.next_frame()) => next,
            // The caller dropped its Receiver: close now, not at the next frame.
            () = inbound.closed() => return TransportError::Closed,
        };
        let frame = match next {
            Err(_) => {
                return TransportError::DeadLink {
                    silent_for: dead_after,
                };
            }
            Ok(Err(error)) => return error,
            Ok(Ok(None)) => {
                return TransportError::ConnectionLost(
                    "the peer ended the stream without a Goodbye".into(),
                );
            }
            Ok(Ok(Some(frame))) => frame,
        };
        shared.last_rx_us.store(shared.now_us(), Ordering::Relaxed);
        shared.frames_received.fetch_add(1, Ordering::Relaxed);
        shared
            .bytes_received
            .fetch_add(frame.wire_len() as u64, Ordering::Relaxed);
        let negotiated = shared.version.load(Ordering::Relaxed);
        if negotiated != 0 && frame.version != negotiated {
            return FrameError::VersionMismatch {
                found: frame.version,
                negotiated,
            }
            .into();
        }
        let envelope = match frame.envelope() {
            Ok(envelope) => envelope,
            Err(error) => return error.into(),
        };
        match envelope.body {
            Some(Body::Ping(ping)) => {
                let pong = pb::Pong {
                    nonce: ping.nonce,
                    ping_sent_at_us: ping.sent_at_us,
                    now_unix_ms: unix_ms(),
                };
                // Replaces a Pong not yet sent: the peer needs only one.
                control.pong(pong);
            }
            Some(Body::Pong(pong)) => {
                let rtt = shared.now_us().saturating_sub(pong.ping_sent_at_us);
                shared.rtt_us.store(rtt.max(1), Ordering::Relaxed);
            }
            Some(Body::Goodbye(goodbye)) => {
                return TransportError::PeerClosed {
                    code: ErrorCode::try_from(goodbye.code).unwrap_or(ErrorCode::Unspecified),
                    message: goodbye.message,
                    retry_after: Duration::from_millis(u64::from(goodbye.retry_after_ms)),
                };
            }
            _ => {
                if Box::pin(inbound.send(envelope)).await.is_err() {
                    // The caller dropped its Receiver.
                    return TransportError::Closed;
                }
            }
        }
    }
}

async fn write_loop<W: FrameWrite>(
    mut writer: W,
    shared: &Shared,
    mut outbound: QueueReceiver<Outbound>,
    control: &Control,
) -> TransportError {
    let mut last_ping_us = 0u64;
    let mut nonce = 0u64;
    loop {
        let quiet_us = u64::try_from(shared.ping_after().as_micros()).unwrap_or(u64::MAX);
        let quiet_since = shared.last_rx_us.load(Ordering::Relaxed).max(last_ping_us);
        let due = shared.start + Duration::from_micros(quiet_since.saturating_add(quiet_us));
        let (frame, closing) = tokio::select! {
            biased;
            () = control.wake.notified() => match control.take() {
                Some(request) => request,
                None => continue,
            },
            () = sleep_until(due.into()) => {
                let now = shared.now_us();
                if now.saturating_sub(shared.last_rx_us.load(Ordering::Relaxed)) < quiet_us {
                    // Something arrived while we slept: no Ping needed yet.
                    continue;
                }
                last_ping_us = now;
                nonce += 1;
                shared.pings_sent.fetch_add(1, Ordering::Relaxed);
                (Some(Envelope::from(pb::Ping { nonce, sent_at_us: now })), false)
            }
            message = outbound.recv() => match message {
                Some(Outbound::Frame(bytes)) => {
                    if let Err(error) = Box::pin(write(&mut writer, shared, bytes)).await {
                        return error;
                    }
                    continue;
                }
                Some(Outbound::Close(goodbye)) => {
                    shared.closing_locally.store(true, Ordering::Relaxed);
                    (Some(Envelope::from(goodbye)), true)
                }
                // Every Sender is gone: nobody can send any more.
                None => {
                    shared.closing_locally.store(true, Ordering::Relaxed);
                    (Some(Envelope::from(pb::Goodbye::new(ErrorCode::Normal, "closing"))), true)
                }
            },
        };
        // Encoded before the write, so the envelope is not kept in this
        // loop's state (which every idle connection carries) across it.
        let encoded = frame.map(|envelope| shared.encode(&envelope));
        if let Some(encoded) = encoded {
            match encoded {
                Ok(bytes) => {
                    // While closing, a failed Goodbye changes nothing.
                    if let Err(error) = Box::pin(write(&mut writer, shared, bytes)).await
                        && !closing
                    {
                        return error;
                    }
                }
                Err(error) => warn!(%error, "cannot encode a control message"),
            }
        }
        if closing {
            let _ = Box::pin(timeout(CLOSE_GRACE, writer.close())).await;
            return TransportError::Closed;
        }
    }
}

async fn write<W: FrameWrite>(
    writer: &mut W,
    shared: &Shared,
    bytes: Bytes,
) -> Result<(), TransportError> {
    let len = bytes.len() as u64;
    writer.write_frame(bytes).await?;
    shared.frames_sent.fetch_add(1, Ordering::Relaxed);
    shared.bytes_sent.fetch_add(len, Ordering::Relaxed);
    Ok(())
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Runs one hub-side handshake in a task of its own, bounded by the
/// handshake timeout, holding `permit` (the listener's bound on handshakes
/// in flight) until it ends; a finished connection goes to `accepted`.
pub(crate) fn spawn_handshake<F>(
    transport: TransportKind,
    remote: SocketAddr,
    permit: OwnedSemaphorePermit,
    limit: Duration,
    accepted: mpsc::Sender<Connection>,
    handshake: F,
) where
    F: Future<Output = Result<Connection, TransportError>> + Send + 'static,
{
    tokio::spawn(async move {
        let result = timeout(limit, handshake).await.unwrap_or_else(|_| {
            Err(TransportError::Handshake {
                peer: remote.to_string(),
                reason: "timed out".into(),
            })
        });
        drop(permit);
        match result {
            Ok(connection) => {
                debug!(%remote, ?transport, node = connection.peer().node_name(), "hub connection accepted");
                let _ = accepted.send(connection).await;
            }
            Err(error) => warn!(%remote, ?transport, %error, "refused a hub connection"),
        }
    });
}
