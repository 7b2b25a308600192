//! The scheduling scenario: many Ready nodes, then a burst of pods; how
//! fast does the scheduler bind them?
//!
//! Nodes are plain Node objects created over the API with a Ready condition
//! (the server runs only the scheduler, so nothing marks them otherwise);
//! optionally their status is re-written at a kubelet-like interval so the
//! scheduler also digests node heartbeats. Bindings are observed with one
//! watch on `spec.nodeName!=`: each pod enters that selection exactly once,
//! when it is bound, as an ADDED event.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;

use crate::client::{H2, Target};
use crate::creates;
use crate::hist::ms;
use crate::pod;
use crate::procstat::{self, mib};

#[derive(clap::Parser, Clone, Debug)]
pub struct Args {
    /// Ready nodes to create first.
    #[arg(long, default_value_t = 10_000)]
    pub nodes: u64,
    /// Pods to create and have bound.
    #[arg(long, default_value_t = 30_000)]
    pub pods: u64,
    /// Zones the nodes are spread over (`topology.kubernetes.io/zone`).
    #[arg(long, default_value_t = 10)]
    pub zones: u64,
    /// Pod creates in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// HTTP/2 connections for creates.
    #[arg(long, default_value_t = 1)]
    pub conns: usize,
    /// Each node's status is re-written this often while pods are scheduled,
    /// as kubelet reports it (0 = never).
    #[arg(long, default_value_t = 60)]
    pub heartbeat_secs: u64,
    /// Seconds to wait for the last binding after the last create.
    #[arg(long, default_value_t = 300)]
    pub drain: u64,
}

/// The command line that reproduces this run.
pub fn reproduce() -> String {
    let mut out = vec!["bench/scheduler.sh".to_owned()];
    let mut args = std::env::args().skip(1).peekable();
    while let Some(a) = args.next() {
        if matches!(
            a.as_str(),
            "--verge" | "--perf" | "--wait-quiet" | "--quiet-below"
        ) {
            args.next();
            continue;
        }
        if a == "scheduling" || a == "--keep-data" || a.starts_with("--verge=") {
            continue;
        }
        out.push(a);
    }
    out.join(" ")
}

fn node_json(i: u64, zones: u64, now: &str) -> String {
    let zone = i % zones.max(1);
    format!(
        r#"{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"node-{i:05}","labels":{{"kubernetes.io/hostname":"node-{i:05}","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","topology.kubernetes.io/zone":"zone-{zone}","topology.kubernetes.io/region":"region-0"}}}},"spec":{{}},"status":{{"capacity":{{"cpu":"4","memory":"8Gi","pods":"110","ephemeral-storage":"100Gi"}},"allocatable":{{"cpu":"4","memory":"8Gi","pods":"110","ephemeral-storage":"100Gi"}},"conditions":{conditions}}}}}"#,
        conditions = conditions(now)
    )
}

fn conditions(now: &str) -> String {
    format!(
        r#"[{{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status","lastHeartbeatTime":"{now}","lastTransitionTime":"{now}"}}]"#
    )
}

fn rfc3339_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

async fn create_nodes(conns: &[H2], a: &Args) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let now = rfc3339_now();
    let mut workers = Vec::new();
    for w in 0..a.concurrency.max(1) {
        let mut conn = conns[w % conns.len()].clone();
        let next = next.clone();
        let (nodes, zones, now) = (a.nodes, a.zones, now.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= nodes {
                    return anyhow::Ok(());
                }
                let body = Bytes::from(node_json(i, zones, &now));
                let (status, text) = conn
                    .call(
                        Method::POST,
                        "/api/v1/nodes",
                        Some("application/json"),
                        body,
                    )
                    .await?;
                if status != StatusCode::CREATED && status != StatusCode::CONFLICT {
                    bail!(
                        "creating node-{i:05}: {status}: {}",
                        String::from_utf8_lossy(&text)
                    );
                }
            }
        }));
    }
    for w in workers {
        w.await.context("node creator")??;
    }
    Ok(t0.elapsed())
}

/// Re-writes node statuses, spread evenly over `interval`, until stopped.
fn heartbeats(
    conn: H2,
    nodes: u64,
    interval: Duration,
    sent_total: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if nodes == 0 || interval.is_zero() {
            return;
        }
        let per_node = interval.as_secs_f64() / nodes as f64;
        let mut sent = 0u64;
        let start = Instant::now();
        let mut inflight = tokio::task::JoinSet::new();
        loop {
            let i = sent % nodes;
            let due = start + Duration::from_secs_f64(per_node * sent as f64);
            tokio::time::sleep_until(due.into()).await;
            while inflight.len() >= 32 {
                inflight.join_next().await;
            }
            let mut c = conn.clone();
            let body = Bytes::from(format!(
                r#"{{"status":{{"conditions":{}}}}}"#,
                conditions(&rfc3339_now())
            ));
            inflight.spawn(async move {
                let path = format!("/api/v1/nodes/node-{i:05}/status");
                let _ = c
                    .call(
                        Method::PATCH,
                        &path,
                        Some("application/strategic-merge-patch+json"),
                        body,
                    )
                    .await;
            });
            sent += 1;
            sent_total.store(sent, Ordering::Relaxed);
        }
    })
}

/// Times of the bindings as the watch delivers them.
async fn watch_bindings(
    mut conn: H2,
    revision: String,
    expected: u64,
    t0: Instant,
    deadline: Arc<std::sync::Mutex<Option<Instant>>>,
) -> anyhow::Result<Vec<Duration>> {
    let path = format!(
        "{}?watch=true&fieldSelector=spec.nodeName%21%3D&resourceVersion={revision}",
        pod::PODS_PATH
    );
    let resp = conn.start(Method::GET, &path, None, Bytes::new()).await?;
    if resp.status() != StatusCode::OK {
        bail!("watching bindings: {}", resp.status());
    }
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut times = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    let mut last_report = Instant::now();
    while (times.len() as u64) < expected {
        let limit = deadline
            .lock()
            .map_err(|_| anyhow::anyhow!("deadline lock poisoned"))?
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let frame = match tokio::time::timeout_at(limit.into(), body.frame()).await {
            Ok(Some(Ok(f))) => f,
            Ok(Some(Err(e))) => bail!("reading the watch: {e}"),
            Ok(None) => bail!("the watch ended after {} bindings", times.len()),
            Err(_) => break,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        let now = t0.elapsed();
        let mut start = 0;
        while let Some(pos) = memchr::memchr(b'\n', &buf[start..]) {
            let line = &buf[start..start + pos];
            start += pos + 1;
            if line.starts_with(b"{\"type\":\"ADDED\"") {
                times.push(now);
            } else if line.starts_with(b"{\"type\":\"ERROR\"") {
                bail!("watch error: {}", String::from_utf8_lossy(line));
            }
        }
        buf.drain(..start);
        if last_report.elapsed() >= Duration::from_secs(1) {
            eprintln!(
                "scheduling: {:5.1} s: {} of {expected} bound",
                now.as_secs_f64(),
                times.len()
            );
            last_report = Instant::now();
        }
    }
    Ok(times)
}

/// The `verge_scheduler_schedule_attempts_total` counters from /metrics.
async fn attempts(conn: &mut H2) -> String {
    let Ok(body) = conn.get_ok("/metrics").await else {
        return "?".into();
    };
    String::from_utf8_lossy(&body)
        .lines()
        .filter_map(|l| l.strip_prefix("verge_scheduler_schedule_attempts_total{result=\""))
        .map(|l| l.replace("\"} ", " "))
        .collect::<Vec<_>>()
        .join(", ")
}

fn thousands(n: f64) -> String {
    let s = format!("{n:.0}");
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub async fn scenario(
    target: &Target,
    a: &Args,
    tag: &str,
    pid: Option<u32>,
    command: &str,
) -> anyhow::Result<String> {
    let mut conns = Vec::new();
    for _ in 0..a.conns.max(1) {
        conns.push(target.h2().await?);
    }
    let mut admin = target.h2().await?;
    crate::client::ensure_namespace(&mut admin, pod::NAMESPACE).await?;

    eprintln!(
        "scheduling: creating {} Ready nodes in {} zones",
        a.nodes, a.zones
    );
    let took = create_nodes(&conns, a).await?;
    eprintln!(
        "scheduling: {} nodes created in {:.1} s ({}/s)",
        a.nodes,
        took.as_secs_f64(),
        thousands(a.nodes as f64 / took.as_secs_f64().max(1e-9))
    );
    let rss_nodes = pid
        .and_then(|p| procstat::memory_kib(p).ok())
        .map(|(r, _)| r);

    let revision = crate::client::collection_revision(&mut admin, pod::PODS_PATH).await?;
    let t0 = Instant::now();
    let deadline = Arc::new(std::sync::Mutex::new(None));
    let watcher = tokio::spawn(watch_bindings(
        target.h2().await?,
        revision,
        a.pods,
        t0,
        deadline.clone(),
    ));
    let beats_sent = Arc::new(AtomicU64::new(0));
    let beats = heartbeats(
        target.h2().await?,
        a.nodes,
        Duration::from_secs(a.heartbeat_secs),
        beats_sent.clone(),
    );
    let meter = procstat::Meter::start(pid);

    eprintln!(
        "scheduling: creating {} pods, {} in flight",
        a.pods, a.concurrency
    );
    let created = creates::run(
        &conns,
        a.concurrency,
        creates::Bound::Count {
            pods: a.pods,
            limit: Duration::from_secs(600),
        },
        tag,
        None,
        "scheduling",
    )
    .await?;
    let create_secs = t0.elapsed().as_secs_f64();
    if let Ok(mut d) = deadline.lock() {
        *d = Some(Instant::now() + Duration::from_secs(a.drain));
    }
    let times = watcher.await.context("binding watcher")??;
    let usage = meter.finish();
    beats.abort();
    let heartbeats_sent = beats_sent.load(Ordering::Relaxed);
    let (rss, peak) = pid
        .and_then(|p| procstat::memory_kib(p).ok())
        .unwrap_or((0, 0));
    let attempts = attempts(&mut admin).await;

    let bound = times.len() as u64;
    let last = times.last().copied().unwrap_or_default().as_secs_f64();
    let overall = bound as f64 / last.max(1e-9);
    let at = |q: f64| times[((bound as f64 * q) as usize).min(times.len().saturating_sub(1))];
    let steady = if bound >= 10 {
        let (a10, a90) = (at(0.1), at(0.9));
        (bound as f64 * 0.8) / (a90 - a10).as_secs_f64().max(1e-9)
    } else {
        0.0
    };
    let first = times.first().copied().unwrap_or_default();
    println!("## scheduling");
    println!(
        "{} nodes ({} zones), {} pods created in {:.1} s ({}/s, {} errors); {bound} bound",
        a.nodes,
        a.zones,
        created.total_ok,
        create_secs,
        thousands(created.total_ok as f64 / create_secs.max(1e-9)),
        created.errors
    );
    println!(
        "first create → last binding {:.2} s: {}/s overall; steady {}/s (10%–90% of bindings); first binding after {}",
        last,
        thousands(overall),
        thousands(steady),
        ms(u64::try_from(first.as_micros()).unwrap_or(u64::MAX))
    );
    println!("scheduling attempts: {attempts}; node status heartbeats sent: {heartbeats_sent}");
    for line in usage.lines() {
        println!("{line}");
    }
    if let Some(c) = &usage.server
        && bound > 0
    {
        println!(
            "server CPU per bound pod (create + schedule + bind + watch): {:.0} µs",
            c.seconds * 1e6 / bound as f64
        );
    }
    println!(
        "server RSS {} after the nodes, {} at the end (peak {})",
        rss_nodes.map_or("?".into(), mib),
        mib(rss),
        mib(peak)
    );
    let met = if steady >= 1000.0 && bound == a.pods {
        "met"
    } else {
        "MISSED"
    };
    Ok(format!(
        "| Scheduling, {} Ready nodes, {} pods | ≥ 1,000 pods/s bound | **{}/s** steady ({met}), {}/s first create → last binding ({bound}/{} bound); server CPU {}, RSS {} | `{command}` |",
        thousands(a.nodes as f64),
        thousands(a.pods as f64),
        thousands(steady),
        thousands(overall),
        a.pods,
        usage.server_pct(),
        mib(rss)
    ))
}
