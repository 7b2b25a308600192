//! The channel over WebSocket binary messages, TLS and TCP: one frame per
//! message.
//!
//! The WebSocket framing ([`frame`]), the upgrade ([`upgrade`]) and the TLS
//! driving ([`tls`]) are this crate's own, so every buffer of a connection
//! is one it can give back while the link is idle: what an idle hub
//! connection costs is rustls's session state and little else.

mod frame;
mod tls;
mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::server::UnbufferedServerConnection;
use rustls::{ClientConfig, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tracing::warn;
use verge_protocol::{Frame, FrameDecoder};

use self::frame::{Event, Role};
use self::tls::{Side, TlsError, TlsIo, WRITE_CHUNK};
use self::upgrade::Answer;
use crate::config::TransportConfig;
use crate::connection::{self, Connection, FrameRead, FrameWrite, Peer, TransportKind};
use crate::error::TransportError;
use crate::tls::{ClientTls, ServerTls};

/// The HTTP path the hub serves the channel on.
pub const WS_PATH: &str = "/channel";
/// The WebSocket subprotocol both sides must agree on.
pub const WS_SUBPROTOCOL: &str = "verge.channel.v1";

fn lost(error: TlsError) -> TransportError {
    TransportError::ConnectionLost(error.to_string())
}

struct WsReader<C> {
    io: Arc<TlsIo<C>>,
    role: Role,
    messages: frame::Decoder,
    frames: FrameDecoder,
}

impl<C: Side> FrameRead for WsReader<C> {
    async fn next_frame(&mut self) -> Result<Option<Frame>, TransportError> {
        loop {
            let event = {
                let mut state = self.io.lock();
                let event = self.messages.decode(&mut state.plaintext)?;
                if state.plaintext.is_empty() {
                    // Gives the buffer back (a message split off it keeps
                    // only its own part alive).
                    state.plaintext = BytesMut::new();
                }
                if event.is_none() && state.peer_closed {
                    return Ok(None);
                }
                event
            };
            match event {
                Some(Event::Message(message)) => {
                    return Ok(Some(self.frames.decode_message(message)?));
                }
                Some(Event::Close) => return Ok(None),
                Some(Event::Ping(payload)) => {
                    // Our own heartbeat is the protocol's Ping; a WebSocket
                    // Ping still gets its Pong. Written when the socket has
                    // room, else with the next frame: never waited for here,
                    // so reading goes on.
                    // A peer that pings without reading gets no more Pongs
                    // than fit in one record's worth of queued bytes.
                    let mut pong = Vec::new();
                    frame::encode(&mut pong, self.role, frame::OP_PONG, &payload);
                    {
                        let mut state = self.io.lock();
                        if state.queued() < WRITE_CHUNK {
                            state.advance(&pong).map_err(lost)?;
                        }
                    }
                    self.io.try_flush().map_err(lost)?;
                }
                None => {
                    if !self.io.read().await.map_err(lost)? {
                        return Ok(None);
                    }
                }
            }
        }
    }
}

struct WsWriter<C> {
    io: Arc<TlsIo<C>>,
    role: Role,
}

impl<C: Side> FrameWrite for WsWriter<C> {
    /// One WebSocket message, encrypted a record at a time, so no buffer
    /// holds more than a record however large the frame.
    async fn write_frame(&mut self, frame: Bytes) -> Result<(), TransportError> {
        let mut chunk = Vec::with_capacity(frame.len().min(WRITE_CHUNK) + 14);
        let key = frame::encode_binary_header(&mut chunk, self.role, frame.len());
        let mut offset = 0;
        loop {
            let take = WRITE_CHUNK
                .saturating_sub(chunk.len())
                .min(frame.len() - offset);
            let start = chunk.len();
            chunk.extend_from_slice(&frame[offset..offset + take]);
            if let Some(key) = key {
                frame::mask(&mut chunk[start..], key, offset);
            }
            offset += take;
            self.io.lock().advance(&chunk).map_err(lost)?;
            chunk.clear();
            self.io.flush().await.map_err(lost)?;
            if offset == frame.len() {
                return Ok(());
            }
        }
    }

    async fn close(&mut self) {
        let mut close = Vec::new();
        frame::encode(&mut close, self.role, frame::OP_CLOSE, &frame::CLOSE_NORMAL);
        {
            let mut state = self.io.lock();
            if state.advance(&close).is_err() {
                return;
            }
            state.close_notify();
        }
        let _ = self.io.flush().await;
    }
}

fn start<C: Side>(io: TlsIo<C>, role: Role, peer: Peer, config: &TransportConfig) -> Connection {
    let io = Arc::new(io);
    let reader = WsReader {
        io: io.clone(),
        role,
        messages: frame::Decoder::new(role, config.max_frame_bytes),
        frames: FrameDecoder::new(config.max_frame_bytes),
    };
    connection::spawn(reader, WsWriter { io, role }, peer, config)
}

/// The cloud hub's WebSocket listener. Dropping it stops accepting; the
/// connections already accepted keep running.
pub struct WsServer {
    local_addr: SocketAddr,
    accepted: mpsc::Receiver<Connection>,
    task: JoinHandle<()>,
}

impl Drop for WsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WsServer {
    /// Listens on `addr`. Each accepted TCP connection completes TLS (with
    /// a client certificate from the cluster CA) and the WebSocket upgrade on
    /// its own task, at most `max_pending_handshakes` at once, each within
    /// `handshake_timeout`; failures are logged and never reach
    /// [`WsServer::accept`].
    pub async fn bind(
        addr: SocketAddr,
        tls: &ServerTls,
        config: &TransportConfig,
    ) -> Result<WsServer, TransportError> {
        let config = config.validated()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| TransportError::io("binding the WebSocket hub listener", e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| TransportError::io("reading the listener address", e))?;
        let (tx, accepted) = mpsc::channel(64);
        let task = tokio::spawn(accept_loop(listener, tls.ws.clone(), config, tx));
        Ok(WsServer {
            local_addr,
            accepted,
            task,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The next connection whose handshake succeeded.
    pub async fn accept(&mut self) -> Option<Connection> {
        self.accepted.recv().await
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    config: TransportConfig,
    accepted: mpsc::Sender<Connection>,
) {
    let config = Arc::new(config);
    let handshakes = Arc::new(Semaphore::new(config.max_pending_handshakes));
    loop {
        // Waiting for a permit before accepting leaves the surplus in the
        // kernel's backlog instead of starting unbounded TLS handshakes.
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let (tcp, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Typically EMFILE: back off briefly instead of spinning.
                warn!(%error, "accepting a hub connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let tls = tls.clone();
        let config = config.clone();
        connection::spawn_handshake(
            TransportKind::WebSocket,
            remote,
            permit,
            config.handshake_timeout,
            accepted.clone(),
            async move { server_handshake(tcp, remote, tls, &config).await },
        );
    }
}

async fn server_handshake(
    tcp: TcpStream,
    remote: SocketAddr,
    tls: Arc<ServerConfig>,
    config: &TransportConfig,
) -> Result<Connection, TransportError> {
    let handshake_error = |reason: String| TransportError::Handshake {
        peer: remote.to_string(),
        reason,
    };
    let _ = tcp.set_nodelay(true);
    let conn = UnbufferedServerConnection::new(tls)
        .map_err(|e| TransportError::Config(format!("TLS: {e}")))?;
    let io = TlsIo::new(tcp, conn);
    io.handshake()
        .await
        .map_err(|e| handshake_error(e.to_string()))?;
    let identity = verge_pki::peer_identity(io.lock().conn.peer_certificates())
        .map_err(|e| handshake_error(e.to_string()))?
        .ok_or_else(|| handshake_error("no client certificate".into()))?;
    let upgrade_error = |e: TlsError| handshake_error(format!("WebSocket upgrade: {e}"));
    loop {
        let answer = {
            let mut state = io.lock();
            upgrade::answer(&state.plaintext).map(|(len, answer)| {
                state.plaintext.advance(len);
                answer
            })
        };
        match answer {
            None => {
                if !io.read().await.map_err(upgrade_error)? {
                    return Err(handshake_error(
                        "WebSocket upgrade: the peer closed the connection".into(),
                    ));
                }
            }
            Some(Answer::Switch(response)) => {
                io.lock().advance(&response).map_err(upgrade_error)?;
                io.flush().await.map_err(upgrade_error)?;
                break;
            }
            Some(Answer::Refuse(response, reason)) => {
                {
                    let mut state = io.lock();
                    if state.advance(&response).is_ok() {
                        state.close_notify();
                    }
                }
                let _ = io.flush().await;
                return Err(handshake_error(format!("WebSocket upgrade: {reason}")));
            }
        }
    }
    let peer = Peer {
        remote_addr: remote,
        transport: TransportKind::WebSocket,
        identity: Some(identity),
    };
    Ok(start(io, Role::Server, peer, config))
}

/// Opens WebSocket channel connections to a hub (the edge side).
#[derive(Clone)]
pub struct WsConnector {
    tls: Arc<ClientConfig>,
    config: Arc<TransportConfig>,
}

impl WsConnector {
    /// A connector presenting the node certificate in `tls`.
    pub fn new(tls: &ClientTls, config: &TransportConfig) -> Result<WsConnector, TransportError> {
        Ok(WsConnector {
            tls: tls.ws.clone(),
            config: Arc::new(config.validated()?),
        })
    }

    /// Connects to the hub at `addr`, verifying its certificate for
    /// `server_name` (a DNS name or IP address in its SANs).
    pub async fn connect(
        &self,
        addr: SocketAddr,
        server_name: &str,
    ) -> Result<Connection, TransportError> {
        let handshake_error = |reason: String| TransportError::Handshake {
            peer: addr.to_string(),
            reason,
        };
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|e| TransportError::Config(format!("server name {server_name:?}: {e}")))?;
        let conn = UnbufferedClientConnection::new(self.tls.clone(), name)
            .map_err(|e| TransportError::Config(format!("TLS: {e}")))?;
        let handshake = async {
            let tcp = TcpStream::connect(addr)
                .await
                .map_err(|e| handshake_error(format!("TCP: {e}")))?;
            let _ = tcp.set_nodelay(true);
            let io = TlsIo::new(tcp, conn);
            io.handshake()
                .await
                .map_err(|e| handshake_error(e.to_string()))?;
            let upgrade_error = |e: TlsError| handshake_error(format!("WebSocket upgrade: {e}"));
            let request = upgrade::Request::new();
            io.lock()
                .advance(&request.head(&addr.to_string()))
                .map_err(upgrade_error)?;
            io.flush().await.map_err(upgrade_error)?;
            loop {
                let checked = {
                    let mut state = io.lock();
                    request
                        .check(&state.plaintext)
                        .map(|len| len.inspect(|&len| state.plaintext.advance(len)))
                };
                match checked {
                    Ok(Some(_)) => return Ok::<_, TransportError>(io),
                    Ok(None) => {
                        if !io.read().await.map_err(upgrade_error)? {
                            return Err(handshake_error(
                                "WebSocket upgrade: the hub closed the connection".into(),
                            ));
                        }
                    }
                    Err(why) => return Err(handshake_error(format!("WebSocket upgrade: {why}"))),
                }
            }
        };
        let io = timeout(self.config.handshake_timeout, handshake)
            .await
            .map_err(|_| handshake_error("timed out".into()))??;
        let peer = Peer {
            remote_addr: addr,
            transport: TransportKind::WebSocket,
            identity: None,
        };
        Ok(start(io, Role::Client, peer, &self.config))
    }
}
