//! Accepting HTTPS connections: TLS with optional client certificates, then
//! HTTP/1.1 or HTTP/2 (upgrades kept for exec and port-forward).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::{ApiServer, Caller, handle};

/// Bytes an HTTP/2 stream may have queued for sending.
const SEND_BUFFER_PER_STREAM: usize = 64 * 1024;

/// A TLS handshake that takes longer than this is abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve_tls(
    api: Arc<ApiServer>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let api = api.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let identity = match verge_pki::peer_identity(tls.get_ref().1.peer_certificates()) {
                Ok(id) => id,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "unusable client certificate");
                    None
                }
            };
            let caller = Caller(identity);
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(caller.clone());
                let api = api.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(api, req.map(Body::new)).await) }
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // Bound what one HTTP/2 stream may buffer for a slow reader, so
            // that a thousand watch streams cannot hold gigabytes.
            builder.http2().max_send_buf_size(SEND_BUFFER_PER_STREAM);
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
