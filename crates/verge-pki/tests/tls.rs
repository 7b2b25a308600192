//! Real TLS handshakes on 127.0.0.1 with the API server configuration.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use verge_pki::{ClusterCa, Identity, ServerPki, client_tls_config, peer_identity};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// What the server side saw of one connection.
#[derive(Debug)]
struct Seen {
    identity: Option<Identity>,
    alpn: Option<Vec<u8>>,
}

/// Accepts one connection, completes the handshake, echoes one byte.
async fn serve_once(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
) -> Result<Seen, String> {
    let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
    let mut tls = TlsAcceptor::from(config)
        .accept(tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (_, conn) = tls.get_ref();
    let identity = peer_identity(conn.peer_certificates()).map_err(|e| e.to_string())?;
    let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
    let mut byte = [0u8; 1];
    tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
    tls.write_all(&byte).await.map_err(|e| e.to_string())?;
    tls.shutdown().await.map_err(|e| e.to_string())?;
    Ok(Seen { identity, alpn })
}

/// Connects, sends one byte and reads it back.
async fn talk(
    addr: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> Result<(), String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(server_name.to_string()).map_err(|e| e.to_string())?;
    let mut tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tls.write_all(b"x").await.map_err(|e| e.to_string())?;
    let mut byte = [0u8; 1];
    tls.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn run(
    pki: &ServerPki,
    client: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> Result<(Result<Seen, String>, Result<(), String>), Box<dyn std::error::Error + Send + Sync>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(serve_once(listener, pki.server_config()));
    let client =
        tokio::time::timeout(Duration::from_secs(10), talk(addr, client, server_name)).await?;
    let server = tokio::time::timeout(Duration::from_secs(10), server).await??;
    Ok((server, client))
}

#[tokio::test]
async fn admin_client_is_identified() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let pki = ServerPki::load_or_create(tmp.path(), &[])?;
    for name in ["127.0.0.1", "localhost", "kubernetes.default.svc"] {
        let (server, client) = run(&pki, pki.admin_client_config()?, name).await?;
        client?;
        let seen = server?;
        assert_eq!(
            seen.identity,
            Some(Identity {
                user: "verge-admin".into(),
                groups: vec!["system:masters".into()],
            })
        );
    }
    Ok(())
}

#[tokio::test]
async fn anonymous_client_connects_without_identity() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let pki = ServerPki::load_or_create(tmp.path(), &[])?;
    let mut client = (*client_tls_config(pki.ca().ca_pem(), None)?).clone();
    client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let (server, client) = run(&pki, Arc::new(client), "127.0.0.1").await?;
    client?;
    let seen = server?;
    assert_eq!(seen.identity, None);
    assert_eq!(seen.alpn.as_deref(), Some(&b"h2"[..]));
    Ok(())
}

#[tokio::test]
async fn http1_only_client_gets_http1() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let pki = ServerPki::load_or_create(tmp.path(), &[])?;
    let mut client = (*pki.admin_client_config()?).clone();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let (server, client) = run(&pki, Arc::new(client), "localhost").await?;
    client?;
    assert_eq!(server?.alpn.as_deref(), Some(&b"http/1.1"[..]));
    Ok(())
}

#[tokio::test]
async fn client_cert_from_another_ca_is_rejected() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let pki = ServerPki::load_or_create(&tmp.path().join("cluster"), &[])?;
    let rogue_ca = ClusterCa::load_or_create(&tmp.path().join("rogue"))?;
    let mallory = rogue_ca.issue_client(
        "verge-admin",
        &["system:masters".to_string()],
        Duration::from_secs(86_400),
    )?;
    // Trusts the real server, presents a certificate from the rogue CA.
    let client = client_tls_config(pki.ca().ca_pem(), Some(&mallory))?;
    let (server, client) = run(&pki, client, "127.0.0.1").await?;
    let server_err = server
        .err()
        .ok_or("the server accepted a foreign client certificate")?;
    assert!(server_err.contains("handshake"), "{server_err}");
    // With TLS 1.3 the client learns of it on its first read.
    assert!(client.is_err(), "the client must not get an answer");
    Ok(())
}

#[tokio::test]
async fn client_rejects_server_of_another_ca() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let pki = ServerPki::load_or_create(&tmp.path().join("cluster"), &[])?;
    let other = ClusterCa::load_or_create(&tmp.path().join("other"))?;
    let client = other.client_config(None)?;
    let (server, client) = run(&pki, client, "127.0.0.1").await?;
    assert!(client.is_err());
    assert!(server.is_err());
    Ok(())
}

/// When kubectl is installed: it uses the admin kubeconfig against a real
/// TLS endpoint, and the server sees it as verge-admin.
#[tokio::test]
async fn kubectl_authenticates_with_the_admin_kubeconfig() -> TestResult {
    if std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_err()
    {
        eprintln!("kubectl not installed; skipping");
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    let pki = ServerPki::load_or_create(&tmp.path().join("pki"), &[])?;
    // This tiny responder only speaks HTTP/1.1.
    let mut server_config = (*pki.server_config()).clone();
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(server_config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let server = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                continue;
            };
            let identity = peer_identity(tls.get_ref().1.peer_certificates());
            let _ = seen_tx.send(identity.map_err(|e| e.to_string()));
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let body = r#"{"major":"1","minor":"33","gitVersion":"v1.33.0-verge"}"#;
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(response.as_bytes()).await;
            let _ = tls.shutdown().await;
        }
    });

    let kubeconfig = tmp.path().join("admin.kubeconfig");
    pki.admin_kubeconfig(&format!("https://{addr}"))
        .write(&kubeconfig)?;
    let out = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(tmp.path().join("cache"))
        .args(["get", "--raw", "/version", "--request-timeout", "10s"])
        .output()
        .await?;
    server.abort();
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("v1.33.0-verge"));
    let identity = seen_rx.recv().await.ok_or("no connection seen")??;
    assert_eq!(
        identity,
        Some(Identity {
            user: "verge-admin".into(),
            groups: vec!["system:masters".into()],
        })
    );
    Ok(())
}
