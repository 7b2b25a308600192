//! TLS configurations for both transports, anchored on the cluster CA.

use std::sync::Arc;

use rustls::{ClientConfig, ServerConfig};
use verge_pki::CertifiedKey;

use crate::error::TransportError;

/// The ALPN protocol of the channel over QUIC.
pub const QUIC_ALPN: &[u8] = b"verge-channel/1";
/// TLS sessions the hub remembers for resumption (per transport).
const RESUMABLE_SESSIONS: usize = 16_384;
/// WebSocket runs over HTTP/1.1.
const WS_ALPN: &[u8] = b"http/1.1";

/// The cloud hub's side: presents the hub's serving certificate and requires
/// every client to present a certificate issued by the cluster CA.
#[derive(Clone)]
pub struct ServerTls {
    pub(crate) ws: Arc<ServerConfig>,
    pub(crate) quic: Arc<ServerConfig>,
}

impl ServerTls {
    /// From the cluster CA certificate (PEM) and the hub's serving
    /// certificate and key.
    pub fn new(ca_pem: &str, serving: &CertifiedKey) -> Result<ServerTls, TransportError> {
        let base = verge_pki::mtls_server_tls_config(ca_pem, serving)
            .map_err(|e| TransportError::Config(e.to_string()))?;
        let with_alpn = |alpn: &[u8]| {
            let mut config = (*base).clone();
            config.alpn_protocols = vec![alpn.to_vec()];
            // TLS 1.3 resumption lets a reconnecting edge skip both
            // certificates (about a kilobyte of a reconnect). rustls keeps
            // 256 sessions by default: too few for a fleet, so a node
            // returning after 256 others paid the full handshake. An entry
            // costs about a kilobyte of hub memory.
            config.session_storage =
                rustls::server::ServerSessionMemoryCache::new(RESUMABLE_SESSIONS);
            // One ticket per connection, not rustls's two: each is an entry
            // above, and an edge resumes with one. (Stateless tickets would
            // cost no hub memory, but carry the client certificate: about a
            // kilobyte more in every reconnect's ClientHello.)
            config.send_tls13_tickets = 1;
            Arc::new(config)
        };
        Ok(ServerTls {
            ws: with_alpn(WS_ALPN),
            quic: with_alpn(QUIC_ALPN),
        })
    }
}

/// The edge's side: trusts only the cluster CA (pinned at join) and presents
/// the node's client certificate.
#[derive(Clone)]
pub struct ClientTls {
    pub(crate) ws: Arc<ClientConfig>,
    pub(crate) quic: Arc<ClientConfig>,
}

impl ClientTls {
    /// From the cluster CA certificate (PEM) and the node's certificate and
    /// key.
    pub fn new(ca_pem: &str, identity: &CertifiedKey) -> Result<ClientTls, TransportError> {
        let base = verge_pki::client_tls_config(ca_pem, Some(identity))
            .map_err(|e| TransportError::Config(e.to_string()))?;
        let with_alpn = |alpn: &[u8]| {
            let mut config = (*base).clone();
            config.alpn_protocols = vec![alpn.to_vec()];
            Arc::new(config)
        };
        Ok(ClientTls {
            ws: with_alpn(WS_ALPN),
            quic: with_alpn(QUIC_ALPN),
        })
    }
}
