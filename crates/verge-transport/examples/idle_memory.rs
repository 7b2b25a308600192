//! Measures the hub-side memory of idle channel connections: the resident
//! set of a process holding N accepted connections (WebSocket or QUIC),
//! with the N clients in a child process so only the server side counts.
//!
//!     cargo run --release -p verge-transport --example idle_memory -- ws 1000
//!     cargo run --release -p verge-transport --example idle_memory -- quic 1000
//!
//! The hub side uses the same TransportConfig defaults as `verge server`.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use verge_pki::{CertifiedKey, ClusterCa};
use verge_protocol::pb;
use verge_transport::{
    ClientTls, Connection, QuicConnector, QuicServer, ServerTls, TransportConfig, WsConnector,
    WsServer,
};

const DAY: Duration = Duration::from_secs(86_400);

fn rss_kib() -> Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/self/status")
}

fn hello() -> pb::Envelope {
    pb::Envelope::from(pb::Hello {
        versions: vec![1],
        agent_version: "bench".into(),
        node_name: "bench".into(),
        resume: None,
        report_stream: "q".into(),
        features: vec![],
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("client") => client(&args[2..]).await,
        Some(kind @ ("ws" | "quic")) => {
            let n: usize = args.get(2).map_or(Ok(1000), |v| v.parse()).context("N")?;
            server(kind, n, TransportConfig::default()).await
        }
        _ => bail!("usage: idle_memory ws|quic [N]"),
    }
}

enum Hub {
    Ws(WsServer),
    Quic(QuicServer),
}

async fn accept(hub: &mut Hub) -> Result<Connection> {
    let mut conn = match hub {
        Hub::Ws(s) => s.accept().await,
        Hub::Quic(s) => s.accept().await,
    }
    .context("server stopped")?;
    conn.recv().await?; // the Hello
    Ok(conn)
}

async fn server(kind: &str, n: usize, config: TransportConfig) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ca = ClusterCa::load_or_create(dir.path())?;
    let serving = ca.issue_serving(&["127.0.0.1".to_string()], DAY)?;
    let node = ca.issue_client("system:node:bench", &["system:nodes".to_string()], DAY)?;
    std::fs::write(dir.path().join("node.crt"), &node.cert_pem)?;
    std::fs::write(dir.path().join("node.key"), &node.key_pem)?;
    let tls = ServerTls::new(ca.ca_pem(), &serving)?;
    let any: SocketAddr = "127.0.0.1:0".parse()?;

    let mut hub = match kind {
        "ws" => Hub::Ws(WsServer::bind(any, &tls, &config).await?),
        _ => Hub::Quic(QuicServer::bind(any, &tls, &config)?),
    };
    let addr = match &hub {
        Hub::Ws(s) => s.local_addr(),
        Hub::Quic(s) => s.local_addr(),
    };
    // Warm up allocator arenas and the runtime with one connection first.
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "client",
            kind,
            &addr.to_string(),
            &dir.path().display().to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().context("child stdin")?;
    let mut lines = BufReader::new(child.stdout.take().context("child stdout")?).lines();
    let mut held: Vec<Connection> = Vec::with_capacity(n + 1);
    writeln!(stdin, "1")?;
    held.push(accept(&mut hub).await?);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib()?;
    writeln!(stdin, "{n}")?;
    for _ in 0..n {
        held.push(accept(&mut hub).await?);
    }
    let _ = lines.next();
    // Let handshake buffers be released and the connections go idle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib()?;
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / n as f64;
    println!(
        "{kind}: {n} idle connections, hub RSS {before} KiB -> {after} KiB: {:.1} KiB per connection",
        per / 1024.0
    );
    drop(stdin);
    let _ = child.wait();
    drop(held);
    Ok(())
}

async fn client(args: &[String]) -> Result<()> {
    let [kind, addr, dir] = args else {
        bail!("client KIND ADDR DIR")
    };
    let addr: SocketAddr = addr.parse()?;
    let dir = std::path::Path::new(dir);
    let node = CertifiedKey {
        cert_pem: std::fs::read_to_string(dir.join("node.crt"))?,
        key_pem: std::fs::read_to_string(dir.join("node.key"))?,
    };
    let ca = std::fs::read_to_string(dir.join("ca.crt"))?;
    let tls = ClientTls::new(&ca, &node)?;
    let config = TransportConfig::default();
    let ws = WsConnector::new(&tls, &config)?;
    let quic = QuicConnector::new("127.0.0.1:0".parse()?, &tls, &config)?;
    let mut held = Vec::new();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let n: usize = line?.trim().parse()?;
        for _ in 0..n {
            let conn = match kind.as_str() {
                "ws" => ws.connect(addr, "127.0.0.1").await?,
                _ => quic.connect(addr, "127.0.0.1").await?,
            };
            conn.send(&hello()).await?;
            held.push(conn);
        }
        println!("ready");
        std::io::stdout().flush()?;
    }
    Ok(())
}
