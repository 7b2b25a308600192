//! `verge agent`: the edge node agent.

use std::path::PathBuf;

use anyhow::Context;

/// The flags of `verge agent` (DESIGN.md's command-line contract).
#[derive(clap::Args)]
pub struct AgentArgs {
    /// The cloud API server, https://HOST:PORT. Needed to join; later starts
    /// read it from <data-dir>/agent.kubeconfig.
    #[arg(long, env = "VERGE_SERVER")]
    server: Option<String>,

    /// Join token from `verge token create` (V1.<id>.<secret>.<ca-sha256>).
    /// Needed only the first time; ignored once the node has joined.
    #[arg(long, env = "VERGE_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Name of this node in the cluster.
    #[arg(long)]
    node_name: String,

    /// Where the node's identity and state live.
    #[arg(long, default_value = verge_agent::DEFAULT_DATA_DIR, env = "VERGE_AGENT_DATA_DIR")]
    data_dir: PathBuf,

    /// The container runtime's CRI endpoint.
    #[arg(long, default_value = verge_agent::DEFAULT_RUNTIME_ENDPOINT)]
    runtime_endpoint: String,

    /// How long to wait for the node's certificate signing request to be
    /// approved and signed, e.g. 15m.
    #[arg(long, default_value = "15m", value_parser = verge_controllers::nodelifecycle::parse_duration)]
    csr_timeout: std::time::Duration,

    /// How to reach the cloud hub: QUIC, WebSocket over TLS, or auto (QUIC,
    /// falling back to WebSocket when UDP does not get through).
    #[arg(long, value_enum, default_value = "auto")]
    transport: Transport,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Transport {
    Auto,
    Quic,
    Ws,
}

/// Runs the agent until SIGTERM/SIGINT.
pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    let config = verge_agent::Config {
        server: args.server,
        token: args.token,
        node_name: args.node_name,
        data_dir: args.data_dir,
        runtime_endpoint: args.runtime_endpoint,
        csr_timeout: args.csr_timeout,
        transport: match args.transport {
            Transport::Auto => verge_agent::HubTransport::Auto,
            Transport::Quic => verge_agent::HubTransport::Quic,
            Transport::Ws => verge_agent::HubTransport::WebSocket,
        },
    };
    let (trigger, shutdown) = verge_agent::Shutdown::new();
    tokio::spawn(async move {
        crate::shutdown_signal().await;
        tracing::info!("shutting down");
        trigger.fire();
    });
    let node_name = config.node_name.clone();
    match verge_agent::run(config, shutdown, |joined| {
        // The line scripts and tests wait for.
        println!(
            "verge agent is running: node {} registered with {} (certificate valid until {}; hub {})",
            joined.node_name, joined.server_url, joined.not_after, joined.hub
        );
    })
    .await
    {
        Ok(()) | Err(verge_agent::AgentError::Stopped) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("verge agent (node {node_name})")),
    }
}
