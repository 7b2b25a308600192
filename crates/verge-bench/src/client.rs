//! HTTPS connections to the API server with the admin client certificate:
//! HTTP/2 (many concurrent streams per connection) or HTTP/1.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// No single request of the benchmark may take longer than this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where and how to reach the API server.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub authority: String,
    h2: Arc<rustls::ClientConfig>,
    h1: Arc<rustls::ClientConfig>,
}

impl Target {
    pub fn from_kubeconfig(kc: &verge_pki::Kubeconfig) -> anyhow::Result<Target> {
        let rest = kc
            .server_url
            .strip_prefix("https://")
            .with_context(|| format!("server URL {} is not https://", kc.server_url))?;
        let authority = rest.trim_end_matches('/').to_owned();
        let addr: SocketAddr = authority
            .parse()
            .with_context(|| format!("server URL {} is not https://IP:PORT", kc.server_url))?;
        ensure!(
            addr.ip().is_loopback(),
            "the benchmark only sends traffic to 127.0.0.1 / ::1, not {addr}"
        );
        let identity = verge_pki::CertifiedKey {
            cert_pem: kc.client_cert_pem.clone(),
            key_pem: kc.client_key_pem.clone(),
        };
        let base = verge_pki::client_tls_config(&kc.ca_pem, Some(&identity))
            .context("building the client TLS configuration")?;
        let mut h2 = (*base).clone();
        h2.alpn_protocols = vec![b"h2".to_vec()];
        let mut h1 = (*base).clone();
        h1.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Target {
            addr,
            authority,
            h2: Arc::new(h2),
            h1: Arc::new(h1),
        })
    }

    async fn tls(
        &self,
        config: &Arc<rustls::ClientConfig>,
    ) -> anyhow::Result<TlsStream<TcpStream>> {
        let tcp = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(self.addr))
            .await
            .context("connecting timed out")?
            .with_context(|| format!("connecting to {}", self.addr))?;
        tcp.set_nodelay(true)?;
        let name = ServerName::from(self.addr.ip());
        let tls = tokio::time::timeout(
            Duration::from_secs(10),
            TlsConnector::from(config.clone()).connect(name, tcp),
        )
        .await
        .context("TLS handshake timed out")?
        .context("TLS handshake")?;
        Ok(tls)
    }

    /// A new HTTP/2 connection; clone the result for concurrent streams.
    pub async fn h2(&self) -> anyhow::Result<H2> {
        let tls = self.tls(&self.h2).await?;
        let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        ensure!(
            negotiated.as_deref() == Some(b"h2"),
            "the server did not negotiate HTTP/2"
        );
        let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .initial_stream_window_size(4 << 20)
            .initial_connection_window_size(32 << 20)
            .max_frame_size(1 << 20)
            .handshake(TokioIo::new(tls))
            .await
            .context("HTTP/2 handshake")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(H2 {
            send,
            base: format!("https://{}", self.authority),
        })
    }

    /// A new HTTP/1.1 connection (one request at a time).
    pub async fn h1(&self) -> anyhow::Result<H1> {
        let tls = self.tls(&self.h1).await?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(H1 {
            send,
            authority: self.authority.clone(),
        })
    }
}

fn request(
    method: Method,
    uri: &str,
    host: Option<&str>,
    content_type: Option<&'static str>,
    body: Bytes,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::ACCEPT, "application/json");
    if let Some(host) = host {
        b = b.header(header::HOST, host);
    }
    if let Some(ct) = content_type {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    Ok(b.body(Full::new(body))?)
}

/// One HTTP/2 connection. Clones share it.
#[derive(Clone)]
pub struct H2 {
    send: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    base: String,
}

impl H2 {
    /// Sends a request and returns the response head with its body unread.
    pub async fn start(
        &mut self,
        method: Method,
        path: &str,
        content_type: Option<&'static str>,
        body: Bytes,
    ) -> anyhow::Result<Response<Incoming>> {
        let req = request(
            method,
            &format!("{}{path}", self.base),
            None,
            content_type,
            body,
        )?;
        self.send.ready().await.context("connection closed")?;
        Ok(self.send.send_request(req).await?)
    }

    /// Sends a request and reads the whole response.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        content_type: Option<&'static str>,
        body: Bytes,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        tokio::time::timeout(REQUEST_TIMEOUT, async {
            let resp = self.start(method, path, content_type, body).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok((status, body))
        })
        .await
        .context("request timed out")?
    }

    /// GET that must answer 200.
    pub async fn get_ok(&mut self, path: &str) -> anyhow::Result<Bytes> {
        let (status, body) = self.call(Method::GET, path, None, Bytes::new()).await?;
        if status != StatusCode::OK {
            bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(body)
    }
}

/// One HTTP/1.1 connection.
pub struct H1 {
    send: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    authority: String,
}

impl H1 {
    pub async fn start(
        &mut self,
        method: Method,
        path: &str,
    ) -> anyhow::Result<Response<Incoming>> {
        let req = request(method, path, Some(&self.authority), None, Bytes::new())?;
        self.send.ready().await.context("connection closed")?;
        Ok(self.send.send_request(req).await?)
    }
}

/// Creates namespace `name` unless it exists.
pub async fn ensure_namespace(conn: &mut H2, name: &str) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name},
    }))?;
    let (status, text) = conn
        .call(
            Method::POST,
            "/api/v1/namespaces",
            Some("application/json"),
            body.into(),
        )
        .await?;
    if !(status.is_success() || status == StatusCode::CONFLICT) {
        bail!(
            "creating namespace {name}: {status}: {}",
            String::from_utf8_lossy(&text)
        );
    }
    Ok(())
}

/// The current resourceVersion of a collection.
pub async fn collection_revision(conn: &mut H2, path: &str) -> anyhow::Result<String> {
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(rename = "resourceVersion")]
        resource_version: String,
    }
    #[derive(serde::Deserialize)]
    struct List {
        metadata: Meta,
    }
    let body = conn.get_ok(&format!("{path}?limit=1")).await?;
    let list: List = serde_json::from_slice(&body).context("parsing a list")?;
    Ok(list.metadata.resource_version)
}
