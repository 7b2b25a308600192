//! The channel over WebSocket binary messages, TLS and TCP: one frame per
//! message.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data as OpData, OpCode};
use tracing::warn;
use verge_protocol::{Frame, FrameDecoder, FrameError};

use crate::config::TransportConfig;
use crate::connection::{self, Connection, FrameRead, FrameWrite, Peer, TransportKind};
use crate::error::TransportError;
use crate::tls::{ClientTls, ServerTls};

/// The HTTP path the hub serves the channel on.
pub const WS_PATH: &str = "/channel";
/// The WebSocket subprotocol both sides must agree on.
pub const WS_SUBPROTOCOL: &str = "verge.channel.v1";

fn ws_config(config: &TransportConfig) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(config.ws_read_buffer)
        // Frames are written whole and flushed at once; no staging buffer.
        .write_buffer_size(0)
        .max_write_buffer_size(config.max_frame_bytes.saturating_mul(2))
        .max_message_size(Some(config.max_frame_bytes))
        .max_frame_size(Some(config.max_frame_bytes))
}

struct WsReader<S> {
    stream: SplitStream<WebSocketStream<S>>,
    decoder: FrameDecoder,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> FrameRead for WsReader<S> {
    async fn next_frame(&mut self) -> Result<Option<Frame>, TransportError> {
        loop {
            match self.stream.next().await {
                None | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Binary(bytes))) => {
                    return Ok(Some(self.decoder.decode_message(bytes)?));
                }
                Some(Ok(Message::Text(_))) => {
                    return Err(FrameError::Malformed(
                        "a text WebSocket message (frames are binary)".into(),
                    )
                    .into());
                }
                // WebSocket-level pings are answered by tungstenite; our own
                // heartbeat is the protocol's Ping.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(error)) => return Err(read_error(error, self.decoder.max_frame_bytes())),
            }
        }
    }
}

fn read_error(error: WsError, max: usize) -> TransportError {
    match error {
        WsError::Capacity(CapacityError::MessageTooLong { size, .. }) => FrameError::TooLarge {
            len: size as u64,
            max,
        }
        .into(),
        WsError::Capacity(other) => FrameError::Malformed(other.to_string()).into(),
        WsError::Protocol(error) => {
            FrameError::Malformed(format!("WebSocket protocol: {error}")).into()
        }
        WsError::Utf8(error) => FrameError::Malformed(error).into(),
        other => TransportError::ConnectionLost(other.to_string()),
    }
}

/// The largest WebSocket frame written. A larger channel frame goes as one
/// message in several WebSocket frames: tungstenite stages each frame in a
/// buffer that keeps its largest size for the life of the connection, so a
/// first sync of a few kilobytes would otherwise stay allocated on every
/// idle connection. Costs about 3 % of a large message in frame and TLS
/// record headers.
const WS_FRAGMENT: usize = 1024;

struct WsWriter<S> {
    sink: SplitSink<WebSocketStream<S>, Message>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> FrameWrite for WsWriter<S> {
    async fn write_frame(&mut self, frame: Bytes) -> Result<(), TransportError> {
        let lost = |e: WsError| TransportError::ConnectionLost(e.to_string());
        if frame.len() <= WS_FRAGMENT {
            return self.sink.send(Message::Binary(frame)).await.map_err(lost);
        }
        let mut start = 0;
        while start < frame.len() {
            let end = (start + WS_FRAGMENT).min(frame.len());
            let opcode = if start == 0 {
                OpCode::Data(OpData::Binary)
            } else {
                OpCode::Data(OpData::Continue)
            };
            let fragment = WsFrame::message(frame.slice(start..end), opcode, end == frame.len());
            self.sink
                .feed(Message::Frame(fragment))
                .await
                .map_err(lost)?;
            start = end;
        }
        self.sink.flush().await.map_err(lost)
    }

    async fn close(&mut self) {
        let _ = self.sink.close().await;
    }
}

fn start<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    ws: WebSocketStream<S>,
    peer: Peer,
    config: &TransportConfig,
) -> Connection {
    let (sink, stream) = ws.split();
    let reader = WsReader {
        stream,
        decoder: FrameDecoder::new(config.max_frame_bytes),
    };
    connection::spawn(reader, WsWriter { sink }, peer, config)
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
        let acceptor = TlsAcceptor::from(tls.ws.clone());
        let task = tokio::spawn(accept_loop(listener, acceptor, config, tx));
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
    acceptor: TlsAcceptor,
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
        let acceptor = acceptor.clone();
        let config = config.clone();
        connection::spawn_handshake(
            TransportKind::WebSocket,
            remote,
            permit,
            config.handshake_timeout,
            accepted.clone(),
            async move { server_handshake(tcp, remote, acceptor, &config).await },
        );
    }
}

async fn server_handshake(
    tcp: TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    config: &TransportConfig,
) -> Result<Connection, TransportError> {
    let handshake_error = |reason: String| TransportError::Handshake {
        peer: remote.to_string(),
        reason,
    };
    let _ = tcp.set_nodelay(true);
    let tls = acceptor
        .accept(tcp)
        .await
        .map_err(|e| handshake_error(format!("TLS: {e}")))?;
    let identity = verge_pki::peer_identity(tls.get_ref().1.peer_certificates())
        .map_err(|e| handshake_error(e.to_string()))?
        .ok_or_else(|| handshake_error("no client certificate".into()))?;
    let ws = tokio_tungstenite::accept_hdr_async_with_config(
        tls,
        check_upgrade,
        Some(ws_config(config)),
    )
    .await
    .map_err(|e| handshake_error(format!("WebSocket upgrade: {e}")))?;
    let peer = Peer {
        remote_addr: remote,
        transport: TransportKind::WebSocket,
        identity: Some(identity),
    };
    Ok(start(ws, peer, config))
}

/// Accepts only the channel path with the channel's subprotocol.
#[allow(clippy::result_large_err)] // tungstenite's callback signature
fn check_upgrade(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    let refuse = |status: StatusCode, why: &str| {
        let mut response = ErrorResponse::new(Some(why.to_string()));
        *response.status_mut() = status;
        response
    };
    if request.uri().path() != WS_PATH {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            "no such path: the channel is at /channel",
        ));
    }
    let offers_ours = request
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == WS_SUBPROTOCOL);
    if !offers_ours {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "the WebSocket subprotocol verge.channel.v1 is required",
        ));
    }
    response.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(WS_SUBPROTOCOL),
    );
    Ok(response)
}

/// Opens WebSocket channel connections to a hub (the edge side).
#[derive(Clone)]
pub struct WsConnector {
    tls: TlsConnector,
    config: Arc<TransportConfig>,
}

impl WsConnector {
    /// A connector presenting the node certificate in `tls`.
    pub fn new(tls: &ClientTls, config: &TransportConfig) -> Result<WsConnector, TransportError> {
        Ok(WsConnector {
            tls: TlsConnector::from(tls.ws.clone()),
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
        let mut request = format!("wss://{addr}{WS_PATH}")
            .into_client_request()
            .map_err(|e| TransportError::Config(format!("WebSocket request: {e}")))?;
        request.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(WS_SUBPROTOCOL),
        );
        let config = &self.config;
        let handshake = async {
            let tcp = TcpStream::connect(addr)
                .await
                .map_err(|e| handshake_error(format!("TCP: {e}")))?;
            let _ = tcp.set_nodelay(true);
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| handshake_error(format!("TLS: {e}")))?;
            let (ws, _) =
                tokio_tungstenite::client_async_with_config(request, tls, Some(ws_config(config)))
                    .await
                    .map_err(|e| handshake_error(format!("WebSocket upgrade: {e}")))?;
            Ok::<_, TransportError>(ws)
        };
        let ws = timeout(config.handshake_timeout, handshake)
            .await
            .map_err(|_| handshake_error("timed out".into()))??;
        let peer = Peer {
            remote_addr: addr,
            transport: TransportKind::WebSocket,
            identity: None,
        };
        Ok(start(ws, peer, config))
    }
}
