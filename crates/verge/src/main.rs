//! `verge`: the one binary. `verge server` runs the control plane.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

mod agent;
mod token;

#[derive(Parser)]
#[command(
    name = "verge",
    version,
    about = "Kubernetes for fleets of edge nodes, in one binary",
    long_about = "Verge runs a Kubernetes-compatible control plane in the cloud (`verge server`) \
                  that stock kubectl and Kubernetes client libraries drive as they are."
)]
struct Cli {
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "VERGE_LOG_FORMAT")]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane: the Kubernetes API over HTTPS with an embedded store.
    ///
    /// The first start creates the cluster CA and certificates under
    /// --data-dir and writes <data-dir>/admin.kubeconfig, which kubectl uses
    /// as is: `kubectl --kubeconfig <data-dir>/admin.kubeconfig get ns`.
    Server(ServerArgs),
    /// Run the edge agent: join this node to the cluster and keep it registered.
    ///
    /// The first start needs --server and --token (from `verge token create`
    /// on the cloud); the node key and certificate are then kept under
    /// --data-dir and later starts need neither.
    Agent(agent::AgentArgs),
    /// Manage the join tokens edge nodes join the cluster with.
    Token(token::TokenArgs),
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Where the store, certificates and admin kubeconfig live.
    #[arg(long, default_value = "/var/lib/verge/server", env = "VERGE_DATA_DIR")]
    data_dir: PathBuf,

    /// Address and port of the Kubernetes API (HTTPS).
    #[arg(long, default_value = "0.0.0.0:6443")]
    api_listen: SocketAddr,

    /// Extra DNS name or IP address for the serving certificate (repeatable).
    #[arg(long = "tls-san", value_name = "NAME_OR_IP")]
    tls_sans: Vec<String>,

    /// Store revisions kept for watches to resume from before compaction.
    #[arg(long, default_value_t = 100_000)]
    history_revisions: u64,

    /// Controllers to run, comma-separated: `all`, `none`, or names from
    /// scheduler, replicaset, deployment, daemonset, statefulset, job,
    /// cronjob, garbagecollector, endpoints, serviceaccount, nodelifecycle,
    /// nodegroup, csrapproving, csrsigning, clusterinfo, tokencleaner.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    controllers: Vec<String>,

    #[command(flatten)]
    node_lifecycle: NodeLifecycleArgs,

    /// Address and port of the cloud hub's WebSocket (TLS) listener that edge
    /// nodes connect to; published in cluster-info for joining nodes.
    #[arg(long, default_value = "0.0.0.0:10000")]
    hub_listen: SocketAddr,

    /// Address and UDP port of the cloud hub's QUIC listener; published in
    /// cluster-info for joining nodes.
    #[arg(long, default_value = "0.0.0.0:10001")]
    quic_listen: SocketAddr,

    /// Quiet time after which an edge sends a Ping on its channel (the hub
    /// pings only after a quarter of it more). Shorter detects dead links
    /// sooner at proportionally more idle traffic (25 s keeps an idle node
    /// under 0.1 kbit/s).
    #[arg(long, default_value = "25s", value_parser = verge_controllers::nodelifecycle::parse_duration)]
    hub_heartbeat_interval: std::time::Duration,

    /// Silence after which an edge channel is declared dead and closed
    /// (longer than --hub-heartbeat-interval); edges get both in Welcome.
    #[arg(long, default_value = "45s", value_parser = verge_controllers::nodelifecycle::parse_duration)]
    hub_dead_after: std::time::Duration,

    /// Longest validity of a certificate issued for a CertificateSigningRequest
    /// (a request's spec.expirationSeconds may ask for less).
    #[arg(long, default_value = "8760h", value_parser = verge_controllers::nodelifecycle::parse_duration)]
    cluster_signing_duration: std::time::Duration,
}

/// Node health and taint-based eviction (kube-controller-manager's and
/// kube-apiserver's flags of the same names).
#[derive(clap::Args)]
struct NodeLifecycleArgs {
    /// Silence (no Lease renewal, no status) after which a node is marked
    /// Unknown and tainted node.kubernetes.io/unreachable.
    #[arg(long, default_value = "40s", value_parser = verge_controllers::nodelifecycle::parse_duration)]
    node_monitor_grace_period: std::time::Duration,

    /// The same for a node that has never reported its status.
    #[arg(long, default_value = "60s", value_parser = verge_controllers::nodelifecycle::parse_duration)]
    node_startup_grace_period: std::time::Duration,

    /// Nodes per second tainted NoExecute (evicting their pods) per zone.
    #[arg(long, default_value_t = 0.1)]
    node_eviction_rate: f64,

    /// The rate in a zone with more than --large-cluster-size-threshold
    /// nodes when at least --unhealthy-zone-threshold of them are unhealthy.
    #[arg(long, default_value_t = 0.01)]
    secondary_node_eviction_rate: f64,

    /// Smaller zones stop evicting when mostly unhealthy.
    #[arg(long, default_value_t = 50)]
    large_cluster_size_threshold: usize,

    /// Share of a zone's nodes (more than two) that must be unhealthy for
    /// the zone to count as disrupted.
    #[arg(long, default_value_t = 0.55)]
    unhealthy_zone_threshold: f64,

    /// tolerationSeconds of the not-ready toleration every pod gets unless
    /// it has one. Pods on edge nodes tolerate for ever unless they opt in.
    #[arg(long, default_value_t = 300)]
    default_not_ready_toleration_seconds: i64,

    /// tolerationSeconds of the default unreachable toleration.
    #[arg(long, default_value_t = 300)]
    default_unreachable_toleration_seconds: i64,
}

impl NodeLifecycleArgs {
    fn settings(&self) -> anyhow::Result<verge_controllers::nodelifecycle::Settings> {
        for (flag, rate) in [
            ("--node-eviction-rate", self.node_eviction_rate),
            (
                "--secondary-node-eviction-rate",
                self.secondary_node_eviction_rate,
            ),
        ] {
            anyhow::ensure!(
                rate.is_finite() && rate >= 0.0,
                "{flag} must be a number of nodes per second, 0 or more (got {rate})"
            );
        }
        anyhow::ensure!(
            !self.node_monitor_grace_period.is_zero() && !self.node_startup_grace_period.is_zero(),
            "--node-monitor-grace-period and --node-startup-grace-period must be longer than 0s"
        );
        anyhow::ensure!(
            self.unhealthy_zone_threshold > 0.0 && self.unhealthy_zone_threshold <= 1.0,
            "--unhealthy-zone-threshold must be a share of a zone's nodes, above 0 and at most 1 (got {})",
            self.unhealthy_zone_threshold
        );
        anyhow::ensure!(
            self.default_not_ready_toleration_seconds >= 0
                && self.default_unreachable_toleration_seconds >= 0,
            "--default-not-ready-toleration-seconds and --default-unreachable-toleration-seconds must be 0 or more"
        );
        Ok(verge_controllers::nodelifecycle::Settings {
            node_monitor_grace_period: self.node_monitor_grace_period,
            node_startup_grace_period: self.node_startup_grace_period,
            node_eviction_rate: self.node_eviction_rate,
            secondary_node_eviction_rate: self.secondary_node_eviction_rate,
            large_cluster_size_threshold: self.large_cluster_size_threshold,
            unhealthy_zone_threshold: self.unhealthy_zone_threshold,
        })
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("verge")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Server(args) => server(args).await,
            Command::Agent(args) => agent::run(args).await,
            Command::Token(args) => token::run(args).await,
        }
    })
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("VERGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn server(args: ServerArgs) -> anyhow::Result<()> {
    let args_controllers = args.controllers.clone();
    let mut settings = verge_controllers::Settings {
        node_lifecycle: args.node_lifecycle.settings()?,
        ..verge_controllers::Settings::default()
    };
    verge_apiserver::defaults::tolerations::set_default_toleration_seconds(
        args.node_lifecycle.default_not_ready_toleration_seconds,
        args.node_lifecycle.default_unreachable_toleration_seconds,
    );
    let (hub_listen, quic_listen) = (args.hub_listen, args.quic_listen);
    anyhow::ensure!(
        args.hub_dead_after > args.hub_heartbeat_interval,
        "--hub-dead-after ({:?}) must be longer than --hub-heartbeat-interval ({:?})",
        args.hub_dead_after,
        args.hub_heartbeat_interval
    );
    let hub_transport = verge_transport::TransportConfig {
        heartbeat_interval: args.hub_heartbeat_interval,
        dead_after: args.hub_dead_after,
        ..verge_transport::TransportConfig::default()
    };
    let cluster_signing_duration = args.cluster_signing_duration;
    let tls_sans = args.tls_sans.clone();
    let pki_dir = args.data_dir.join("pki");
    let store = verge_store::SqliteOptions {
        retained_revisions: Some(args.history_revisions),
        ..verge_store::SqliteOptions::default()
    };
    let config = verge_apiserver::Config {
        data_dir: args.data_dir,
        api_listen: args.api_listen,
        tls_sans: args.tls_sans,
        cache: verge_apiserver::cache::CacheConfig::default(),
        store,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = verge_apiserver::Server::start(config, async move {
        let _ = stop_rx.await;
    })
    .await?;
    settings.service_accounts.tokens = Some(server.tokens.clone());
    settings.csr_signing = verge_controllers::csrsigner::Settings {
        ca: Some(std::sync::Arc::new(
            verge_pki::ClusterCa::load_or_create(&pki_dir).context("loading the cluster CA")?,
        )),
        max_validity: cluster_signing_duration,
    };
    let hub = start_hub(&server, hub_listen, quic_listen, hub_transport).await?;
    settings.cluster_info = verge_controllers::clusterinfo::Settings {
        server_url: Some(advertised_url(&tls_sans, server.local_addr)),
        ca_pem: server.pki.ca().ca_pem().to_owned(),
        hub_listen: Some(hub.ws_addr),
        quic_listen: hub.quic_addr,
    };
    // Verge's own API types (NodeGroup, GroupedDeployment) are CRDs the
    // server installs, so they are served like any custom resource.
    if let Err(e) = verge_controllers::nodegroup::install_crds(&server.resources).await {
        tracing::warn!(error = %e, "cannot install the node group CRDs; node groups are unavailable");
    }
    let _controllers = start_controllers(&server, &args_controllers, &settings)?;
    // The kubeconfig line is what scripts wait for.
    println!(
        "verge server is ready: kubectl --kubeconfig {} get nodes",
        server.kubeconfig_path.display()
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(());
    Ok(())
}

/// Starts the cloud hub: edge nodes connect to it with their node
/// certificates, over WebSocket (`--hub-listen`) or QUIC (`--quic-listen`).
async fn start_hub(
    server: &verge_apiserver::Server,
    hub_listen: SocketAddr,
    quic_listen: SocketAddr,
    transport: verge_transport::TransportConfig,
) -> anyhow::Result<verge_hub::CloudHub> {
    let tls = verge_transport::ServerTls::new(server.pki.ca().ca_pem(), server.pki.apiserver())
        .context("preparing the hub's TLS configuration")?;
    let hub = verge_hub::CloudHub::start(
        server.resources.clone(),
        verge_hub::CloudHubConfig {
            ws_listen: hub_listen,
            quic_listen: Some(quic_listen),
            tls,
            transport,
        },
    )
    .await?;
    let metrics = hub.metrics.clone();
    server
        .api
        .metrics
        .add_source(std::sync::Arc::new(move || metrics.encode()));
    // Tests started with port 0 read the bound ports from this line.
    println!(
        "verge hub is listening: websocket {} quic {}",
        hub.ws_addr,
        hub.quic_addr.map(|a| a.to_string()).unwrap_or_default()
    );
    Ok(hub)
}

/// The API URL published to joining nodes: the first --tls-san if any, else
/// the listen address (loopback for a wildcard). Agents use only the port and
/// take the host from their own --server URL.
fn advertised_url(tls_sans: &[String], local: SocketAddr) -> String {
    let host = match tls_sans.first() {
        Some(san) => san.trim_start_matches('[').trim_end_matches(']').to_owned(),
        None if local.ip().is_unspecified() => "127.0.0.1".to_owned(),
        None => local.ip().to_string(),
    };
    if host.contains(':') {
        format!("https://[{host}]:{}", local.port())
    } else {
        format!("https://{host}:{}", local.port())
    }
}

/// Starts the scheduler and controllers in this process; they stop with it.
fn start_controllers(
    server: &verge_apiserver::Server,
    wanted: &[String],
    settings: &verge_controllers::Settings,
) -> anyhow::Result<tokio::task::JoinSet<()>> {
    let all = wanted.iter().any(|w| w == "all");
    let none = wanted.iter().any(|w| w == "none");
    for w in wanted {
        let known = w == "all"
            || w == "none"
            || w == "scheduler"
            || verge_controllers::ALL.contains(&w.as_str());
        anyhow::ensure!(
            known,
            "unknown controller {w:?} in --controllers; choose from all, none, scheduler, {}",
            verge_controllers::ALL.join(", ")
        );
    }
    let metrics = std::sync::Arc::new(verge_runtime::ControllerMetrics::new());
    let source = metrics.clone();
    server
        .api
        .metrics
        .add_source(std::sync::Arc::new(move || source.encode()));
    if none {
        return Ok(tokio::task::JoinSet::new());
    }
    let enabled: Vec<String> = if all { Vec::new() } else { wanted.to_vec() };
    let mut set = verge_controllers::start(
        server.resources.clone(),
        metrics.clone(),
        &enabled,
        settings,
    );
    if all || wanted.iter().any(|w| w == "scheduler") {
        let client = verge_runtime::Client::new(server.resources.clone(), "default-scheduler");
        set.spawn(verge_scheduler::run(client, metrics));
    }
    Ok(set)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
