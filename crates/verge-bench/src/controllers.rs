//! Workload controller scenarios, on hollow nodes (crate verge-hollow)
//! running in this process:
//!
//! - `rollout`: one Deployment of 10,000 replicas on 1,000 nodes; the time
//!   until every pod exists, is bound, runs Ready, and `kubectl rollout
//!   status` returns (target: all Running in < 60 s).
//! - `memory`: 100,000 pods on 10,000 nodes, once created by Deployments on
//!   a server running every controller and once created directly on a
//!   server running none, in the same run; the difference in server RSS is
//!   what the controllers cost (target < 1 GiB).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use verge_hollow::{Fleet, FleetConfig};

use crate::procstat::{self, mib};
use crate::server::Server;

#[derive(clap::Parser, Clone, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub which: Which,
}

#[derive(clap::Subcommand, Clone, Debug)]
pub enum Which {
    /// A 10,000-replica Deployment on hollow nodes: time to all pods
    /// created, bound, Running and `kubectl rollout status` (target < 60 s).
    Rollout(RolloutArgs),
    /// Server RSS with 100,000 pods on 10,000 hollow nodes, controllers on
    /// vs `--controllers none` (target: controllers < 1 GiB).
    Memory(MemoryArgs),
}

#[derive(clap::Parser, Clone, Debug)]
pub struct RolloutArgs {
    #[arg(long, default_value_t = 10_000)]
    pub replicas: usize,
    /// Hollow nodes.
    #[arg(long, default_value_t = 1_000)]
    pub nodes: usize,
    /// Seconds to wait for the rollout before giving up.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

#[derive(clap::Parser, Clone, Debug)]
pub struct MemoryArgs {
    #[arg(long, default_value_t = 100_000)]
    pub pods: usize,
    /// Hollow nodes.
    #[arg(long, default_value_t = 10_000)]
    pub nodes: usize,
    /// The pods come from this many Deployments of equal size.
    #[arg(long, default_value_t = 10)]
    pub deployments: usize,
    /// Seconds to let each server settle before reading its RSS.
    #[arg(long, default_value_t = 20)]
    pub settle: u64,
    /// Seconds each phase may take to have every pod Running.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// `--node-monitor-grace-period` of both servers, in seconds. Longer
    /// than kubelet's 40 s by default: on two shared cores the Lease
    /// renewals of 10,000 nodes fall behind while 100,000 pods are being
    /// placed, nodes turn Unknown, and the node lifecycle's taints and
    /// status writes then take the CPU the rollout needs. This scenario
    /// measures memory; the rollout scenario keeps kubelet's timings.
    #[arg(long, default_value_t = 300)]
    pub node_grace: u64,
}

const NAMESPACE: &str = "bench";

/// The command line that reproduces this run.
fn reproduce() -> String {
    let mut out = vec!["bench/controllers.sh".to_owned()];
    let mut args = std::env::args().skip(1).peekable();
    while let Some(a) = args.next() {
        if matches!(a.as_str(), "--verge" | "--wait-quiet" | "--quiet-below") {
            args.next();
            continue;
        }
        if a == "controllers" || a == "--keep-data" || a.starts_with("--verge=") {
            continue;
        }
        out.push(a);
    }
    out.join(" ")
}

/// Runs one scenario; `quiet` is (--wait-quiet seconds, --quiet-below %).
pub async fn main(
    verge: &Path,
    keep_data: bool,
    quiet: (u64, f64),
    args: Args,
) -> anyhow::Result<()> {
    if quiet.0 > 0 {
        let (limit, below) = (Duration::from_secs(quiet.0), quiet.1);
        let busy =
            tokio::task::spawn_blocking(move || procstat::wait_for_quiet(limit, below)).await?;
        eprintln!("machine busy before the run: {busy:.0}% of one core");
    }
    let row = match args.which {
        Which::Rollout(a) => rollout(verge, keep_data, &a).await?,
        Which::Memory(a) => memory(verge, keep_data, &a).await?,
    };
    crate::print_results(&[row]);
    Ok(())
}

async fn start_server(
    verge: &Path,
    keep: bool,
    controllers: &str,
    extra: &[String],
) -> anyhow::Result<Server> {
    let verge = verge.to_owned();
    let mut args = vec!["--controllers".to_owned(), controllers.to_owned()];
    args.extend_from_slice(extra);
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Server::start_with(&verge, keep, &args)
    })
    .await?
}

async fn stop_server(server: Server) -> anyhow::Result<()> {
    let mut server = server;
    tokio::task::spawn_blocking(move || server.stop()).await?;
    Ok(())
}

fn kubeconfig_path(server: &Server) -> PathBuf {
    server.data_path().join("admin.kubeconfig")
}

pub(crate) async fn kube_client(path: &Path) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::read_from(path).context("reading the kubeconfig")?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .context("kube config")?;
    Ok(kube::Client::try_from(config)?)
}

/// A fleet of `nodes` hollow nodes with kubelet's timings, registered.
async fn start_fleet(client: &kube::Client, nodes: usize) -> anyhow::Result<Fleet> {
    let started = Instant::now();
    let config = FleetConfig {
        pod_concurrency: 64,
        ..FleetConfig::numbered("hollow", nodes)
    };
    let fleet = Fleet::start(client.clone(), config).await?;
    tokio::time::timeout(Duration::from_secs(600), fleet.wait_registered())
        .await
        .context("hollow nodes did not register within 10 minutes")?;
    eprintln!(
        "{nodes} hollow nodes registered in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(fleet)
}

/// Creates the namespace and returns once the server's watch cache has it:
/// the API server admits namespaced creates against that cache, so a
/// create sent right after the namespace's own may still get 404 on a
/// loaded machine. A watch event comes out of the same cache.
async fn create_namespace(client: &kube::Client) -> anyhow::Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?;
    let api = Api::<Namespace>::all(client.clone());
    api.create(&PostParams::default(), &ns).await?;
    tokio::time::timeout(
        Duration::from_secs(30),
        kube::runtime::wait::await_condition(
            api,
            NAMESPACE,
            kube::runtime::wait::conditions::is_created(),
        ),
    )
    .await
    .context("namespace not seen by a watch within 30 s")?
    .context("watching the namespace")?;
    Ok(())
}

fn deployment(name: &str, replicas: usize) -> anyhow::Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app", "image": "registry.example/app:1",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}
                }]}
            }
        }
    }))?)
}

/// When each count of pods was first reached.
#[derive(Default)]
struct Milestones {
    created: HashMap<String, ()>,
    bound: HashMap<String, ()>,
    running: HashMap<String, ()>,
    all_created: Option<Instant>,
    all_bound: Option<Instant>,
    all_running: Option<Instant>,
}

fn is_running(p: &Pod) -> bool {
    let Some(s) = &p.status else {
        return false;
    };
    s.phase.as_deref() == Some("Running")
        && s.conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

async fn rollout(verge: &Path, keep: bool, a: &RolloutArgs) -> anyhow::Result<String> {
    let server = start_server(verge, keep, "all", &[]).await?;
    let pid = server.pid.context("no server pid")?;
    let kubeconfig = kubeconfig_path(&server);
    let client = kube_client(&kubeconfig).await?;
    let fleet = start_fleet(&client, a.nodes).await?;
    create_namespace(&client).await?;

    let marks = Arc::new(Mutex::new(Milestones::default()));
    let want = a.replicas;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let m = marks.clone();
    let mut stream = watcher(pods, watcher::Config::default()).boxed();
    let watch = tokio::spawn(async move {
        while let Some(event) = stream.next().await {
            let pod = match event {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => p,
                Ok(_) => continue,
                Err(e) => {
                    eprintln!("pod watch: {e}");
                    continue;
                }
            };
            let name = pod.metadata.name.clone().unwrap_or_default();
            let now = Instant::now();
            let Ok(mut m) = m.lock() else { return };
            m.created.insert(name.clone(), ());
            if pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .is_some()
            {
                m.bound.insert(name.clone(), ());
            }
            if is_running(&pod) {
                m.running.insert(name, ());
            }
            if m.all_created.is_none() && m.created.len() >= want {
                m.all_created = Some(now);
            }
            if m.all_bound.is_none() && m.bound.len() >= want {
                m.all_bound = Some(now);
            }
            if m.all_running.is_none() && m.running.len() >= want {
                m.all_running = Some(now);
            }
        }
    });

    let cpu0 = procstat::cpu_sample(pid)?;
    let t0 = Instant::now();
    Api::<Deployment>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &deployment("bench", a.replicas)?)
        .await?;
    eprintln!("created deployment bench with {} replicas", a.replicas);
    let status = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["-n", NAMESPACE, "rollout", "status", "deployment/bench"])
        .arg(format!("--timeout={}s", a.timeout))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .await
        .context("running kubectl rollout status")?;
    let rollout_done = t0.elapsed();
    if !status.success() {
        bail!("kubectl rollout status failed ({status})");
    }
    let deadline = Instant::now() + Duration::from_secs(a.timeout);
    loop {
        if marks.lock().is_ok_and(|m| m.all_running.is_some()) {
            break;
        }
        if Instant::now() > deadline {
            bail!("not every pod was seen Running within {} s", a.timeout);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cpu1 = procstat::cpu_sample(pid)?;
    watch.abort();
    let (rss, hwm) = procstat::memory_kib(pid)?;
    let usage = procstat::cpu_usage(&cpu0, &cpu1, procstat::clk_tck());
    let secs = |t: Option<Instant>| t.map_or(f64::NAN, |t| t.duration_since(t0).as_secs_f64());
    let (created, bound, running) = {
        let m = marks
            .lock()
            .map_err(|_| anyhow::anyhow!("milestones poisoned"))?;
        (secs(m.all_created), secs(m.all_bound), secs(m.all_running))
    };
    let stats = fleet.stats();
    println!(
        "{} replicas on {} hollow nodes: all created {created:.1} s, all bound {bound:.1} s, \
         all Running {running:.1} s, `kubectl rollout status` done {:.1} s",
        a.replicas,
        a.nodes,
        rollout_done.as_secs_f64()
    );
    println!(
        "server: CPU {:.0}% of one core ({:.1} s), RSS {} (peak {}); fleet: {} pod status writes, {} API errors",
        usage.percent,
        usage.seconds,
        mib(rss),
        mib(hwm),
        stats.pod_status_writes,
        stats.api_errors
    );
    println!("server threads: {}", usage.threads_text());
    fleet.stop().await;
    stop_server(server).await?;
    Ok(format!(
        "| {}-replica Deployment on {} hollow nodes | all Running < 60 s | created {created:.1} s, bound {bound:.1} s, Running {running:.1} s, rollout status {:.1} s; server CPU {:.0}%, RSS {} | `{}` |",
        a.replicas,
        a.nodes,
        rollout_done.as_secs_f64(),
        usage.percent,
        mib(rss),
        reproduce()
    ))
}

/// Waits until the fleet runs `pods` pods; progress shows the server's RSS.
async fn all_running(
    fleet: &Fleet,
    pods: usize,
    timeout: Duration,
    pid: u32,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let running = fleet.stats().running_pods;
        if running >= pods {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            bail!("only {running} of {pods} pods Running after {timeout:?}");
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            let rss = procstat::memory_kib(pid).map_or_else(|_| "?".to_owned(), |(r, _)| mib(r));
            eprintln!("  {running} of {pods} pods Running; server RSS {rss}");
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// RSS after `settle` seconds, in KiB.
async fn settled_rss(pid: u32, settle: u64) -> anyhow::Result<(u64, u64)> {
    tokio::time::sleep(Duration::from_secs(settle)).await;
    procstat::memory_kib(pid)
}

async fn memory(verge: &Path, keep: bool, a: &MemoryArgs) -> anyhow::Result<String> {
    let timeout = Duration::from_secs(a.timeout);
    let per = a.pods.div_ceil(a.deployments.max(1));
    let total = per * a.deployments.max(1);

    // Without controllers: the pods are written directly, bound round-robin.
    eprintln!("phase 1: --controllers none, {total} pods created directly");
    let grace = vec![
        "--node-monitor-grace-period".to_owned(),
        format!("{}s", a.node_grace),
    ];
    let server = start_server(verge, keep, "none", &grace).await?;
    let pid = server.pid.context("no server pid")?;
    let client = kube_client(&kubeconfig_path(&server)).await?;
    let fleet = start_fleet(&client, a.nodes).await?;
    create_namespace(&client).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let nodes = a.nodes.max(1);
    let started = Instant::now();
    let failures = futures::stream::iter(0..total)
        .map(|i| {
            let pods = pods.clone();
            async move {
                let app = format!("app-{}", i / per);
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": format!("{app}-{i:06}"), "labels": {"app": app}},
                    "spec": {
                        "nodeName": format!("hollow-{}", i % nodes),
                        "containers": [{
                            "name": "app", "image": "registry.example/app:1",
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}
                        }]
                    }
                }))?;
                let mut attempt = 0;
                loop {
                    match pods.create(&PostParams::default(), &pod).await {
                        Ok(_) => return anyhow::Ok(()),
                        // Written by an attempt whose answer was lost.
                        Err(kube::Error::Api(e)) if e.code == 409 => return Ok(()),
                        Err(e) if attempt < 3 => {
                            eprintln!("  pod create failed ({e}); retrying");
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        })
        .buffer_unordered(64)
        .filter_map(|r| std::future::ready(r.err()))
        .collect::<Vec<anyhow::Error>>()
        .await;
    if let Some(first) = failures.first() {
        bail!(
            "{} pod creates failed; the first: {first:#}",
            failures.len()
        );
    }
    eprintln!("  created in {:.1} s", started.elapsed().as_secs_f64());
    let took = all_running(&fleet, total, timeout, pid).await?;
    eprintln!("  all Running after {:.1} s", took.as_secs_f64());
    let (rss_none, _) = settled_rss(pid, a.settle).await?;
    eprintln!("  server RSS {}", mib(rss_none));
    fleet.stop().await;
    stop_server(server).await?;

    // With every controller: the pods come from Deployments.
    eprintln!(
        "phase 2: all controllers, {} Deployments of {per} replicas",
        a.deployments
    );
    let server = start_server(verge, keep, "all", &grace).await?;
    let pid = server.pid.context("no server pid")?;
    let client = kube_client(&kubeconfig_path(&server)).await?;
    let fleet = start_fleet(&client, a.nodes).await?;
    create_namespace(&client).await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    for i in 0..a.deployments.max(1) {
        deployments
            .create(
                &PostParams::default(),
                &deployment(&format!("app-{i}"), per)?,
            )
            .await?;
    }
    let took = all_running(&fleet, total, timeout, pid).await?;
    eprintln!("  all Running after {:.1} s", took.as_secs_f64());
    let deadline = Instant::now() + timeout;
    loop {
        let available: i32 = deployments
            .list(&Default::default())
            .await?
            .items
            .iter()
            .filter_map(|d| d.status.as_ref()?.available_replicas)
            .sum();
        if usize::try_from(available).unwrap_or(0) >= total {
            break;
        }
        if Instant::now() > deadline {
            bail!("Deployments report {available} of {total} available after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (rss_all, hwm_all) = settled_rss(pid, a.settle).await?;
    let cpu = procstat::cpu_sample(pid)?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle = procstat::cpu_usage(&cpu, &procstat::cpu_sample(pid)?, procstat::clk_tck());
    eprintln!("  server RSS {} (peak {})", mib(rss_all), mib(hwm_all));
    fleet.stop().await;
    stop_server(server).await?;

    let delta = rss_all.saturating_sub(rss_none);
    println!(
        "{total} pods on {} hollow nodes: server RSS {} with --controllers none, {} with every \
         controller (peak {}): controllers cost {}; settled CPU with controllers {:.0}% of one core",
        a.nodes,
        mib(rss_none),
        mib(rss_all),
        mib(hwm_all),
        mib(delta),
        idle.percent
    );
    Ok(format!(
        "| Controller memory, {total} pods on {} hollow nodes | < 1 GiB on top of the store | +{} (RSS {} with controllers vs {} without) | `{}` |",
        a.nodes,
        mib(delta),
        mib(rss_all),
        mib(rss_none),
        reproduce()
    ))
}
