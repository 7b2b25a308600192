//! Runs a fleet of hollow nodes against a cluster and reports what it costs.
//!
//!     cargo run --release -p verge-hollow --example fleet -- \
//!         --kubeconfig /tmp/v1/admin.kubeconfig --nodes 10000 [--pods 10000] [--seconds 120]
//!
//! Registers the nodes (default timings: Lease every 10 s, status every
//! 60 s), optionally creates `--pods` pods bound round-robin to them and
//! waits until the nodes run them all, then prints the fleet's counters, its
//! CPU time and resident memory every 10 s for `--seconds`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use verge_hollow::{Fleet, FleetConfig};

struct Args {
    kubeconfig: PathBuf,
    nodes: usize,
    pods: usize,
    seconds: u64,
    prefix: String,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        kubeconfig: PathBuf::from("admin.kubeconfig"),
        nodes: 100,
        pods: 0,
        seconds: 60,
        prefix: "hollow".to_owned(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{v}: {e}"));
        match flag.as_str() {
            "--kubeconfig" => a.kubeconfig = PathBuf::from(value()?),
            "--nodes" => a.nodes = number(value()?)?,
            "--pods" => a.pods = number(value()?)?,
            "--seconds" => a.seconds = number(value()?)? as u64,
            "--prefix" => a.prefix = value()?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

/// (CPU seconds, resident MiB) of this process, from /proc.
fn usage() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (1-based, counting pid and comm).
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu, rss_kib / 1024.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VERGE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let a = args()?;
    // kube's rustls comes without a crypto provider in this workspace.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = kube::config::Kubeconfig::read_from(&a.kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    let client = kube::Client::try_from(config)?;

    let (cpu0, rss0) = usage();
    let started = Instant::now();
    let fleet = Fleet::start(client.clone(), FleetConfig::numbered(&a.prefix, a.nodes)).await?;
    fleet.wait_registered().await;
    let (cpu1, rss1) = usage();
    println!(
        "{} nodes registered in {:.1}s; CPU {:.1}s; RSS {:.0} MiB (+{:.0} MiB, {:.1} KiB/node)",
        a.nodes,
        started.elapsed().as_secs_f64(),
        cpu1 - cpu0,
        rss1,
        rss1 - rss0,
        (rss1 - rss0) * 1024.0 / a.nodes.max(1) as f64
    );

    if a.pods > 0 {
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let started = Instant::now();
        let stats0 = fleet.stats();
        let creates = futures::stream::iter(0..a.pods)
            .map(|i| {
                let pods = pods.clone();
                let node = format!("{}-{}", a.prefix, i % a.nodes.max(1));
                async move {
                    let pod: Pod = serde_json::from_value(serde_json::json!({
                        "metadata": {"generateName": "bench-"},
                        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "bench:1"}]},
                    }))?;
                    pods.create(&PostParams::default(), &pod).await?;
                    Ok::<(), Box<dyn std::error::Error>>(())
                }
            })
            .buffer_unordered(64)
            .collect::<Vec<_>>()
            .await;
        let failed = creates.iter().filter(|r| r.is_err()).count();
        if let Some(Err(e)) = creates.iter().find(|r| r.is_err()) {
            eprintln!("first failed create: {e}");
        }
        let created = started.elapsed();
        loop {
            let s = fleet.stats();
            if s.pod_status_writes - stats0.pod_status_writes >= (a.pods - failed) as u64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (cpu2, rss2) = usage();
        println!(
            "{} pods created in {:.1}s ({} failed), all Running after {:.1}s; CPU {:.1}s; RSS {:.0} MiB",
            a.pods,
            created.as_secs_f64(),
            failed,
            started.elapsed().as_secs_f64(),
            cpu2 - cpu1,
            rss2
        );
    }

    let mut last = (fleet.stats(), usage(), Instant::now());
    let end = Instant::now() + Duration::from_secs(a.seconds);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let now = (fleet.stats(), usage(), Instant::now());
        let secs = now.2.duration_since(last.2).as_secs_f64();
        let rate = |a: u64, b: u64| (a - b) as f64 / secs;
        println!(
            "leases {:.0}/s, node status {:.1}/s, pod status {:.1}/s, errors {}, queued {}/{}/{}; CPU {:.0}%, RSS {:.0} MiB",
            rate(now.0.lease_renewals, last.0.lease_renewals),
            rate(now.0.node_status_writes, last.0.node_status_writes),
            rate(now.0.pod_status_writes, last.0.pod_status_writes),
            now.0.api_errors,
            now.0.queued_leases,
            now.0.queued_node_statuses,
            now.0.queued_pod_syncs,
            100.0 * (now.1.0 - last.1.0) / secs,
            now.1.1,
        );
        last = now;
    }
    println!("{:?}", fleet.stats());
    fleet.stop().await;
    Ok(())
}
