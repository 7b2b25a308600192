//! The channel over QUIC: one bidirectional stream per connection carrying
//! length-prefixed frames; the server multiplexes every node on one UDP
//! socket.
//!
//! A QUIC stream becomes visible to the server only once the client writes
//! to it, so the server hands out a connection after the client's first
//! frame (the protocol's Hello) — within `handshake_timeout`.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Endpoint, IdleTimeout, RecvStream, SendStream, VarInt};
use rustls::pki_types::CertificateDer;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tracing::debug;
use verge_protocol::{Frame, FrameDecoder};

use crate::config::TransportConfig;
use crate::connection::{self, Connection, FrameRead, FrameWrite, Peer, TransportKind};
use crate::error::TransportError;
use crate::tls::{ClientTls, ServerTls};

/// The most bytes taken from quinn per read: bounds the copy into the frame
/// buffer without limiting frame size.
const READ_CHUNK: usize = 64 * 1024;

fn transport_config(config: &TransportConfig, server: bool) -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    // The channel is one client-opened bidirectional stream; nothing else.
    transport.max_concurrent_bidi_streams(VarInt::from_u32(u32::from(server)));
    transport.max_concurrent_uni_streams(VarInt::from_u32(0));
    // Liveness is the channel heartbeat's job, identical on both
    // transports; QUIC's idle timeout only reaps connections whose task is
    // gone, so it is set well past `dead_after`.
    transport.keep_alive_interval(None);
    transport.max_idle_timeout(IdleTimeout::try_from(config.dead_after.saturating_mul(2)).ok());
    // Idle-memory savings (about 2 KiB per connection on the hub): the
    // channel sends no unreliable datagrams, and its packets stay at QUIC's
    // safe 1200-byte minimum, which crosses any edge path without probing.
    transport.datagram_receive_buffer_size(None);
    transport.mtu_discovery_config(None);
    transport
}

struct QuicReader {
    recv: RecvStream,
    buf: BytesMut,
    decoder: FrameDecoder,
}

impl FrameRead for QuicReader {
    async fn next_frame(&mut self) -> Result<Option<Frame>, TransportError> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf)? {
                if self.buf.is_empty() {
                    // Release the read buffer of an idle connection.
                    self.buf = BytesMut::new();
                }
                return Ok(Some(frame));
            }
            match self.recv.read_chunk(READ_CHUNK, true).await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk.bytes),
                Ok(None) => return Ok(None),
                Err(error) => return Err(TransportError::ConnectionLost(error.to_string())),
            }
        }
    }
}

struct QuicWriter {
    send: SendStream,
    connection: quinn::Connection,
    /// Client side: keeps the endpoint (and its UDP socket) alive as long as
    /// the connection, even if the connector is dropped.
    _endpoint: Option<Endpoint>,
}

impl FrameWrite for QuicWriter {
    async fn write_frame(&mut self, frame: Bytes) -> Result<(), TransportError> {
        self.send
            .write_chunk(frame)
            .await
            .map_err(|e| TransportError::ConnectionLost(e.to_string()))
    }

    async fn close(&mut self) {
        // Closing the connection at once would drop the Goodbye still in
        // flight: finish the stream and wait (bounded by the caller) until
        // the peer has it.
        if self.send.finish().is_ok() {
            let _ = self.send.stopped().await;
        }
        self.connection.close(VarInt::from_u32(0), b"closing");
    }
}

fn start(
    connection: quinn::Connection,
    send: SendStream,
    recv: RecvStream,
    endpoint: Option<Endpoint>,
    identity: Option<verge_pki::Identity>,
    config: &TransportConfig,
) -> Connection {
    let peer = Peer {
        remote_addr: connection.remote_address(),
        transport: TransportKind::Quic,
        identity,
    };
    let reader = QuicReader {
        recv,
        buf: BytesMut::new(),
        decoder: FrameDecoder::new(config.max_frame_bytes),
    };
    let writer = QuicWriter {
        send,
        connection,
        _endpoint: endpoint,
    };
    connection::spawn(reader, writer, peer, config)
}

/// The cloud hub's QUIC listener: one UDP socket for every node. Dropping it
/// stops accepting new connections.
pub struct QuicServer {
    local_addr: SocketAddr,
    accepted: mpsc::Receiver<Connection>,
    task: JoinHandle<()>,
}

impl Drop for QuicServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl QuicServer {
    /// Listens on UDP `addr`. Clients must present a certificate from the
    /// cluster CA; handshakes run on their own tasks, at most
    /// `max_pending_handshakes` at once (the surplus is refused and retries
    /// with its backoff), each within `handshake_timeout`.
    pub fn bind(
        addr: SocketAddr,
        tls: &ServerTls,
        config: &TransportConfig,
    ) -> Result<QuicServer, TransportError> {
        let config = config.validated()?;
        let crypto = QuicServerConfig::try_from(tls.quic.clone())
            .map_err(|e| TransportError::Config(format!("QUIC TLS: {e}")))?;
        let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        server_config.transport_config(Arc::new(transport_config(&config, true)));
        let endpoint = Endpoint::server(server_config, addr)
            .map_err(|e| TransportError::io("binding the QUIC hub socket", e))?;
        let local_addr = endpoint
            .local_addr()
            .map_err(|e| TransportError::io("reading the QUIC socket address", e))?;
        let (tx, accepted) = mpsc::channel(64);
        let task = tokio::spawn(accept_loop(endpoint, config, tx));
        Ok(QuicServer {
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
    endpoint: Endpoint,
    config: TransportConfig,
    accepted: mpsc::Sender<Connection>,
) {
    let config = Arc::new(config);
    let handshakes = Arc::new(Semaphore::new(config.max_pending_handshakes));
    while let Some(incoming) = endpoint.accept().await {
        let remote = incoming.remote_address();
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            debug!(%remote, "too many QUIC handshakes in progress: refusing");
            incoming.refuse();
            continue;
        };
        let config = config.clone();
        connection::spawn_handshake(
            TransportKind::Quic,
            remote,
            permit,
            config.handshake_timeout,
            accepted.clone(),
            async move { server_handshake(incoming, &config).await },
        );
    }
}

async fn server_handshake(
    incoming: quinn::Incoming,
    config: &TransportConfig,
) -> Result<Connection, TransportError> {
    let remote = incoming.remote_address();
    let handshake_error = |reason: String| TransportError::Handshake {
        peer: remote.to_string(),
        reason,
    };
    let connection = incoming
        .await
        .map_err(|e| handshake_error(format!("QUIC/TLS: {e}")))?;
    let certificates = connection
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok());
    let identity = verge_pki::peer_identity(certificates.as_deref().map(Vec::as_slice))
        .map_err(|e| handshake_error(e.to_string()))?
        .ok_or_else(|| handshake_error("no client certificate".into()))?;
    let (send, recv) = connection
        .accept_bi()
        .await
        .map_err(|e| handshake_error(format!("waiting for the channel stream: {e}")))?;
    Ok(start(connection, send, recv, None, Some(identity), config))
}

/// Opens QUIC channel connections to a hub (the edge side). One connector
/// owns one UDP socket, shared by every connection it opens (a simulator
/// running thousands of nodes needs one, not thousands).
#[derive(Clone)]
pub struct QuicConnector {
    endpoint: Endpoint,
    client_config: quinn::ClientConfig,
    config: Arc<TransportConfig>,
}

impl QuicConnector {
    /// A connector bound to local UDP `bind` (e.g. `0.0.0.0:0`), presenting
    /// the node certificate in `tls`. Must be called within a Tokio runtime.
    pub fn new(
        bind: SocketAddr,
        tls: &ClientTls,
        config: &TransportConfig,
    ) -> Result<QuicConnector, TransportError> {
        let config = config.validated()?;
        let crypto = QuicClientConfig::try_from(tls.quic.clone())
            .map_err(|e| TransportError::Config(format!("QUIC TLS: {e}")))?;
        let mut client_config = quinn::ClientConfig::new(Arc::new(crypto));
        client_config.transport_config(Arc::new(transport_config(&config, false)));
        let endpoint = Endpoint::client(bind)
            .map_err(|e| TransportError::io("binding the QUIC client socket", e))?;
        Ok(QuicConnector {
            endpoint,
            client_config,
            config: Arc::new(config),
        })
    }

    /// Connects to the hub at `addr`, verifying its certificate for
    /// `server_name`. The hub sees the connection once the first frame
    /// (Hello) is sent.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        server_name: &str,
    ) -> Result<Connection, TransportError> {
        let handshake_error = |reason: String| TransportError::Handshake {
            peer: addr.to_string(),
            reason,
        };
        let connecting = self
            .endpoint
            .connect_with(self.client_config.clone(), addr, server_name)
            .map_err(|e| TransportError::Config(format!("QUIC connect to {addr}: {e}")))?;
        let handshake = async {
            let connection = connecting
                .await
                .map_err(|e| handshake_error(format!("QUIC/TLS: {e}")))?;
            let (send, recv) = connection
                .open_bi()
                .await
                .map_err(|e| handshake_error(format!("opening the channel stream: {e}")))?;
            Ok::<_, TransportError>((connection, send, recv))
        };
        let (connection, send, recv) = timeout(self.config.handshake_timeout, handshake)
            .await
            .map_err(|_| handshake_error("timed out".into()))??;
        Ok(start(
            connection,
            send,
            recv,
            Some(self.endpoint.clone()),
            None,
            &self.config,
        ))
    }
}
