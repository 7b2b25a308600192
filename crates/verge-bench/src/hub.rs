//! The cloud hub under many edge nodes (issue 4's targets): hub memory per
//! connected idle node, idle traffic per node, bytes of a reconnect with
//! nothing changed, and the latency from an API write to the edge.
//!
//! The edges are scripted clients speaking the channel protocol over the
//! real transport with node certificates from the cluster CA, all in this
//! process. Byte counts come from a counting TCP proxy in front of the
//! hub's WebSocket port: TLS records, WebSocket framing and the TLS
//! handshake included; TCP/IP headers are not (they are estimated in the
//! report).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use verge_protocol::pb::{self, Envelope, envelope::Body};
use verge_transport::{ClientTls, Connection, TransportConfig, WsConnector};

use crate::hist::ms;
use crate::procstat::{memory_kib, mib};
use crate::server::Server;

#[derive(clap::Parser, Clone)]
pub struct Args {
    /// Connected edge nodes, each with one pod and one ConfigMap.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// ConfigMap writes per second in the latency phase (spread over the nodes).
    #[arg(long, default_value_t = 200)]
    writes_per_sec: u64,
    /// Seconds of the latency phase.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Nodes whose traffic goes through the counting proxy.
    #[arg(long, default_value_t = 20)]
    metered: usize,
    /// Seconds the metered nodes stay idle (two heartbeat intervals or more).
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
}

/// Bytes through the proxy, both directions.
#[derive(Default)]
struct Meter(AtomicU64);

impl Meter {
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A TCP proxy to `target` counting every byte; one listener for all
/// metered nodes.
async fn counting_proxy(target: SocketAddr, meter: Arc<Meter>) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let meter = meter.clone();
            tokio::spawn(async move {
                let Ok(outbound) = TcpStream::connect(target).await else {
                    return;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let (mut ri, mut wi) = inbound.into_split();
                let (mut ro, mut wo) = outbound.into_split();
                let m1 = meter.clone();
                let up = async move { copy_counting(&mut ri, &mut wo, &m1).await };
                let down = async move { copy_counting(&mut ro, &mut wi, &meter).await };
                let _ = tokio::join!(up, down);
            });
        }
    });
    Ok(addr)
}

async fn copy_counting(
    r: &mut (impl tokio::io::AsyncRead + Unpin),
    w: &mut (impl tokio::io::AsyncWrite + Unpin),
    meter: &Meter,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = w.shutdown().await;
                return;
            }
            Ok(n) => {
                meter.0.fetch_add(n as u64, Ordering::Relaxed);
                if w.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// One scripted edge: its identity and where it stands.
struct Edge {
    name: String,
    tls: ClientTls,
    resume: Option<pb::ResumePoint>,
}

fn hello(edge: &Edge) -> Envelope {
    Envelope::from(pb::Hello {
        versions: vec![1],
        agent_version: "hubbench".into(),
        node_name: edge.name.clone(),
        resume: edge.resume.clone(),
        report_stream: format!("bench-{}", edge.name),
        features: vec![],
    })
}

/// Connects, says Hello, applies (counts) changes until CaughtUp and acks.
async fn connect(
    edge: &mut Edge,
    addr: SocketAddr,
    config: &TransportConfig,
) -> anyhow::Result<(Connection, usize)> {
    let connector = WsConnector::new(&edge.tls, config)?;
    let mut conn = connector.connect(addr, "127.0.0.1").await?;
    conn.send(&hello(edge)).await?;
    let welcome = match conn.recv().await?.body {
        Some(Body::Welcome(w)) => w,
        other => bail!("{}: expected Welcome, got {other:?}", edge.name),
    };
    conn.set_version(1)?;
    let mut changes = 0;
    loop {
        match conn.recv().await?.body {
            Some(Body::SyncBatch(b)) => changes += b.changes.len(),
            Some(Body::CaughtUp(c)) => {
                conn.send(&Envelope::from(pb::SyncAck {
                    revision: c.revision,
                }))
                .await?;
                edge.resume = Some(pb::ResumePoint {
                    epoch: welcome.epoch.clone(),
                    revision: c.revision,
                });
                return Ok((conn, changes));
            }
            other => bail!("{}: unexpected {other:?}", edge.name),
        }
    }
}

/// Keeps reading; for each ConfigMap upsert records now − its `sent` stamp
/// (microseconds).
async fn follow(mut conn: Connection, latencies: Arc<Mutex<Vec<u64>>>) {
    while let Ok(env) = conn.recv().await {
        let Some(Body::SyncBatch(b)) = env.body else {
            continue;
        };
        let now = crate::pod::now_ns();
        for ch in b.changes {
            if let Some(pb::object_change::Change::Upsert(u)) = ch.change
                && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&u.object)
                && let Some(sent) = v["data"]["sent"]
                    .as_str()
                    .and_then(|s| s.parse::<u64>().ok())
            {
                latencies.lock().await.push(now.saturating_sub(sent) / 1000);
            }
        }
        if let Err(e) = conn
            .send(&Envelope::from(pb::SyncAck {
                revision: b.revision,
            }))
            .await
        {
            eprintln!("ack failed: {e}");
            return;
        }
    }
}

pub async fn main(verge: &Path, keep: bool, args: Args) -> anyhow::Result<()> {
    let verge = verge.to_owned();
    let mut server = tokio::task::spawn_blocking(move || {
        Server::start_with(&verge, keep, &["--controllers", "none"])
    })
    .await??;
    let result = run(&server, &args).await;
    tokio::task::spawn_blocking(move || server.stop()).await?;
    result
}

async fn run(server: &Server, args: &Args) -> anyhow::Result<()> {
    let pid = server.pid.context("server pid")?;
    let (hub, _) = server.hub.context("the server printed no hub address")?;
    let client =
        crate::controllers::kube_client(&server.data_path().join("admin.kubeconfig")).await?;
    let n = args.nodes;
    eprintln!("creating {n} nodes, each with a pod and a ConfigMap ...");
    let nodes: Api<Node> = Api::all(client.clone());
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let create = |i: usize| {
        let (nodes, cms, pods) = (nodes.clone(), cms.clone(), pods.clone());
        async move {
            let pp = PostParams::default();
            let node: Node = serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("edge-{i}"), "labels": {"node-role.kubernetes.io/edge": ""}}
            }))?;
            nodes.create(&pp, &node).await?;
            let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("cm-{i}")}, "data": {"sent": "0", "payload": "x".repeat(200)}
            }))?;
            cms.create(&pp, &cm).await?;
            let pod: Pod = serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("p-{i}")},
                "spec": {"nodeName": format!("edge-{i}"), "containers": [{
                    "name": "app", "image": "busybox",
                    "envFrom": [{"configMapRef": {"name": format!("cm-{i}")}}]}]}
            }))?;
            pods.create(&pp, &pod).await?;
            anyhow::Ok(())
        }
    };
    use futures::StreamExt;
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..n)
        .map(create)
        .buffer_unordered(32)
        .collect()
        .await;
    for r in results {
        r?;
    }

    eprintln!("issuing {n} node certificates ...");
    let ca = verge_pki::ClusterCa::load_or_create(&server.data_path().join("pki"))?;
    let mut edges = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("edge-{i}");
        let cert = ca.issue_client(
            &format!("system:node:{name}"),
            &["system:nodes".to_string()],
            Duration::from_secs(86_400),
        )?;
        edges.push(Edge {
            name,
            tls: ClientTls::new(ca.ca_pem(), &cert)?,
            resume: None,
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_before, _) = memory_kib(pid)?;

    let meter = Arc::new(Meter::default());
    let proxy = counting_proxy(hub, meter.clone()).await?;
    let config = TransportConfig::default();
    let metered = args.metered.min(n);
    eprintln!("connecting {n} edges ({metered} through the counting proxy) ...");
    let started = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut metered_conns = Vec::new();
    let mut first_sync_bytes = 0u64;
    for (i, edge) in edges.iter_mut().enumerate() {
        let addr = if i < metered { proxy } else { hub };
        let before = meter.get();
        let (conn, changes) = connect(edge, addr, &config).await?;
        if changes != 3 {
            bail!(
                "{}: first sync brought {changes} changes, expected 3 (node, pod, ConfigMap)",
                edge.name
            );
        }
        if i < metered {
            first_sync_bytes += meter.get() - before;
            metered_conns.push(conn);
        } else {
            tokio::spawn(follow(conn, latencies.clone()));
        }
        if (i + 1) % 250 == 0 {
            eprintln!(
                "  {} connected ({:.1} s)",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss_after, _) = memory_kib(pid)?;
    let per_node_kib = (rss_after.saturating_sub(rss_before)) as f64 / n as f64;

    // Idle: the metered nodes hold their connections and nothing changes
    // for them (the Lease is renewed in the cloud, not over the link).
    eprintln!(
        "idle for {} s on {metered} metered nodes ...",
        args.idle_secs
    );
    let idle_start = meter.get();
    tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
    let idle_bytes = meter.get() - idle_start;
    let idle_bps_per_node = idle_bytes as f64 * 8.0 / args.idle_secs as f64 / metered.max(1) as f64;

    // Reconnect with nothing changed: drop, then resume.
    eprintln!("reconnecting {metered} metered nodes with nothing changed ...");
    drop(metered_conns);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = meter.get();
    let mut resumed = Vec::new();
    for edge in edges.iter_mut().take(metered) {
        let (conn, changes) = connect(edge, proxy, &config).await?;
        if changes != 0 {
            bail!(
                "{}: a resume with nothing changed brought {changes} changes",
                edge.name
            );
        }
        resumed.push(conn);
    }
    // The SyncAck is sent; let it reach the proxy before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reconnect_bytes = (meter.get() - before) as f64 / metered.max(1) as f64;

    // Latency: paced ConfigMap writes to the unmetered nodes.
    let targets: Vec<usize> = (metered..n).collect();
    if targets.is_empty() {
        bail!("--nodes must exceed --metered for the latency phase");
    }
    let total = args.writes_per_sec * args.duration;
    eprintln!(
        "latency: {total} ConfigMap writes at {}/s ...",
        args.writes_per_sec
    );
    let gap = Duration::from_secs_f64(1.0 / args.writes_per_sec.max(1) as f64);
    let mut tick = tokio::time::interval(gap);
    let mut inflight = futures::stream::FuturesUnordered::new();
    for k in 0..total {
        tick.tick().await;
        let i = targets[k as usize % targets.len()];
        let cms = cms.clone();
        inflight.push(async move {
            let patch = serde_json::json!({"data": {"sent": crate::pod::now_ns().to_string()}});
            cms.patch(
                &format!("cm-{i}"),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        });
        while let Some(Some(r)) = futures::FutureExt::now_or_never(inflight.next()) {
            r?;
        }
    }
    while let Some(r) = inflight.next().await {
        r?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while latencies.lock().await.len() < total as usize && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut lat = latencies.lock().await.clone();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let (p50, p99, max) = (pct(0.50), pct(0.99), lat.last().copied().unwrap_or(0));
    let (rss_end, _) = memory_kib(pid)?;

    println!("cloud hub with {n} connected edge nodes (WebSocket), server pid {pid}");
    println!("  connect + first sync of all nodes: {connect_secs:.1} s");
    println!(
        "  server RSS {} before the edges, {} with them: {per_node_kib:.1} KiB per connected node",
        mib(rss_before),
        mib(rss_after)
    );
    println!(
        "  idle: {idle_bytes} bytes in {} s over {metered} nodes = {idle_bps_per_node:.1} bit/s per node (TLS + WebSocket, without TCP/IP headers)",
        args.idle_secs
    );
    println!(
        "  first sync: {:.0} bytes per node; reconnect with nothing changed: {reconnect_bytes:.0} bytes per node (TLS handshake, upgrade, Hello/Welcome, CaughtUp, SyncAck)",
        first_sync_bytes as f64 / metered.max(1) as f64
    );
    println!(
        "  write -> edge latency: {} of {total} delivered; p50 {}, p99 {}, max {}",
        lat.len(),
        ms(p50),
        ms(p99),
        ms(max)
    );
    println!("  server RSS at the end {}", mib(rss_end));
    println!();
    println!(
        "| Hub, {n} nodes | {per_node_kib:.1} KiB/node | idle {idle_bps_per_node:.1} bit/s/node | reconnect {reconnect_bytes:.0} B | p99 write→edge {} | `bench/hub.sh --nodes {n}` |",
        ms(p99)
    );
    drop(resumed);
    Ok(())
}
