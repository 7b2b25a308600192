//! The Verge edge agent (`verge agent`): joins an edge node to the cluster
//! and keeps it registered.
//!
//! Joining is Kubernetes' kubelet TLS bootstrap with kubeadm's CA pinning:
//!
//! 1. [`discovery`]: read `kube-public/cluster-info` without trusting the
//!    server, accept its CA only if it matches the join token's pin.
//! 2. [`csr`]: generate an ECDSA P-256 key, send a CertificateSigningRequest
//!    for `system:node:<name>` authenticated by the token, wait for the
//!    signed certificate.
//! 3. [`identity`]: store CA, key and certificate crash-safely; later starts
//!    use them and need no token; [`rotation`] renews them online.
//! 4. [`register`]: create or update the Node; [`lease`] renews its Lease
//!    until the hub channel takes the heartbeat over.

mod client;
pub mod csr;
pub mod discovery;
mod edge;
mod error;
mod files;
pub mod identity;
mod join;
pub mod lease;
pub mod register;
mod rotation;

use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;
use verge_pki::join_token::{self, JoinToken};

pub use error::AgentError;
use identity::{NodeIdentity, Paths, Stored};

/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/verge/agent";
/// The default container runtime endpoint.
pub const DEFAULT_RUNTIME_ENDPOINT: &str = "unix:///run/containerd/containerd.sock";
/// How long the agent waits for its CSR to be approved and signed by
/// default.
pub const DEFAULT_CSR_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// What `verge agent` was told.
#[derive(Clone)]
pub struct Config {
    /// The API server, `https://HOST:PORT`; optional once joined (the
    /// stored kubeconfig has it).
    pub server: Option<String>,
    /// The join token; needed only to join.
    pub token: Option<String>,
    /// The Node's name.
    pub node_name: String,
    /// Where the identity and state live.
    pub data_dir: PathBuf,
    /// The container runtime (CRI) endpoint; recorded for the pod manager,
    /// which a later step adds.
    pub runtime_endpoint: String,
    /// How long to wait for a CSR to be signed.
    pub csr_timeout: Duration,
    /// Which transport to reach the cloud hub with.
    pub transport: HubTransport,
}

/// How the agent reaches the cloud hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HubTransport {
    /// QUIC, falling back to WebSocket when QUIC does not get through.
    #[default]
    Auto,
    Quic,
    WebSocket,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("node_name", &self.node_name)
            .field("data_dir", &self.data_dir)
            .field("runtime_endpoint", &self.runtime_endpoint)
            .field("csr_timeout", &self.csr_timeout)
            .field("transport", &self.transport)
            .finish()
    }
}

/// The stop signal every task of the agent watches.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// Fires a [`Shutdown`].
pub struct ShutdownTrigger(watch::Sender<bool>);

impl Shutdown {
    /// A signal and its trigger.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown(rx))
    }

    /// Resolves once shutdown is requested (or the trigger is dropped).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

impl ShutdownTrigger {
    /// Asks every task to stop.
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

/// A running agent's identity, after joining and registering.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The server URL in use.
    pub server_url: String,
    /// The node name.
    pub node_name: String,
    /// When the node certificate expires.
    pub not_after: Timestamp,
    /// Where the cloud hub listens, as learned at join.
    pub hub: discovery::HubAddresses,
}

/// Runs the agent until `shutdown`: joins (or loads the identity from an
/// earlier join), registers the Node, then keeps its Lease and certificate
/// fresh. `on_ready` is called once the Node is registered.
pub async fn run(
    config: Config,
    mut shutdown: Shutdown,
    on_ready: impl FnOnce(&Joined),
) -> Result<(), AgentError> {
    // The kube client builds rustls configurations with the process-wide
    // provider; make it ring explicitly so that another provider linked in
    // later cannot make that ambiguous.
    let _ = rustls::crypto::ring::default_provider().install_default();
    validate_node_name(&config.node_name)?;
    let token = config.token.as_deref().map(join_token::parse).transpose()?;
    let paths = Paths::new(&config.data_dir);
    let (server_url, identity) = identify(&config, token.as_ref(), &paths, &mut shutdown).await?;

    let node_client = client_for(&server_url, &identity)?;
    let node = register::register(
        node_client.clone(),
        &config.node_name,
        &server_url,
        &mut shutdown,
    )
    .await?;
    let hub = discovery::hub_addresses(&server_url, &join::saved_cluster_info(&paths));
    tracing::info!(node = %config.node_name, hub = %hub, "node registered; cloud hub addresses learned at join");
    on_ready(&Joined {
        server_url: server_url.clone(),
        node_name: config.node_name.clone(),
        not_after: identity.not_after,
        hub: hub.clone(),
    });

    let (link, on_channel) = edge::start(&config, &paths, &server_url, &hub)?;
    let readiness = edge::report_ready_on_connect(&link, &config.node_name);

    let (clients_tx, clients_rx) = watch::channel(node_client);
    // On the channel the hub renews the Lease from the link's own liveness,
    // so a node whose channel is down goes Unknown even if HTTPS still
    // works: it cannot receive its pods then. Without a hub address the
    // agent heartbeats through the API as kubelet does.
    let heartbeat =
        (!on_channel).then(|| tokio::spawn(lease::run(node, clients_rx, shutdown.clone())));
    let rotator = rotation::Rotator {
        paths,
        server_url,
        node_name: config.node_name.clone(),
        csr_timeout: config.csr_timeout,
    };
    let result = rotator.run(identity, clients_tx, shutdown.clone()).await;
    // The rotator returns on shutdown or on a fatal error; either way the
    // heartbeat stops with it.
    if let Some(heartbeat) = heartbeat {
        heartbeat.abort();
        let _ = heartbeat.await;
    }
    readiness.abort();
    drop(link);
    result
}

/// The server URL and a usable identity: the stored one, or a new one from
/// joining with the token.
async fn identify(
    config: &Config,
    token: Option<&JoinToken>,
    paths: &Paths,
    shutdown: &mut Shutdown,
) -> Result<(String, NodeIdentity), AgentError> {
    let stored = identity::load(paths, Timestamp::now())?;
    let server_url = match &config.server {
        Some(url) => Some(check_server_url(url)?),
        None => identity::stored_server_url(paths)?,
    };
    let need_token = match stored {
        Stored::Usable(identity) => {
            if identity.node_name() != Some(config.node_name.as_str()) {
                return Err(AgentError::BadIdentity {
                    dir: paths.pki_dir(),
                    reason: format!(
                        "it belongs to {:?}, not to --node-name {}; use that name, or another --data-dir for another node",
                        identity.user, config.node_name
                    ),
                });
            }
            let server_url = server_url.ok_or_else(|| AgentError::NoServer {
                kubeconfig: paths.kubeconfig(),
            })?;
            if token.is_some() {
                tracing::info!(
                    dir = %paths.data_dir().display(),
                    "this node has joined already; --token is not needed and is ignored"
                );
            }
            // Keep the kubeconfig in step with the identity and the URL in use.
            identity::write_kubeconfig(paths, &identity, &server_url)?;
            tracing::info!(node = %config.node_name, not_after = %identity.not_after, "using the stored node identity");
            return Ok((server_url, identity));
        }
        Stored::Missing => AgentError::NoIdentity {
            dir: paths.data_dir().to_path_buf(),
        },
        Stored::Expired { not_after } => AgentError::IdentityExpired {
            path: paths.cert(),
            not_after: not_after.to_string(),
        },
        Stored::Unusable(reason) => AgentError::BadIdentity {
            dir: paths.pki_dir(),
            reason,
        },
    };
    let Some(token) = token else {
        return Err(need_token);
    };
    if !matches!(need_token, AgentError::NoIdentity { .. }) {
        tracing::warn!(reason = %need_token, "joining again with --token");
    }
    let server_url = server_url.ok_or_else(|| AgentError::NoServer {
        kubeconfig: paths.kubeconfig(),
    })?;
    let identity = join::join(
        &server_url,
        token,
        &config.node_name,
        paths,
        config.csr_timeout,
        shutdown,
    )
    .await?;
    Ok((server_url, identity))
}

fn client_for(server_url: &str, identity: &NodeIdentity) -> Result<kube::Client, AgentError> {
    client::node(server_url, identity)
}

/// Checks `--server`: an https URL with a host.
fn check_server_url(url: &str) -> Result<String, AgentError> {
    let bad = |reason: &str| AgentError::BadServerUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let uri: http::Uri = url.parse().map_err(|_| bad("it does not parse as a URL"))?;
    if uri.scheme_str() != Some("https") {
        return Err(bad("the scheme must be https"));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("it names no host"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Node names are DNS subdomains (RFC 1123), as the API server requires.
fn validate_node_name(name: &str) -> Result<(), AgentError> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if valid {
        Ok(())
    } else {
        Err(AgentError::BadNodeName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_must_be_dns_subdomains() {
        for good in ["edge-1", "a", "edge.site-3.example"] {
            validate_node_name(good).expect(good);
        }
        for bad in ["", "Edge", "-a", "a-", "a..b", "a_b", &"x".repeat(64)] {
            let err = validate_node_name(bad).expect_err(bad);
            assert!(err.to_string().contains("--node-name"), "{err}");
        }
    }

    #[test]
    fn server_urls_must_be_https_with_a_host() {
        assert_eq!(
            check_server_url("https://10.0.0.1:6443/").expect("ok"),
            "https://10.0.0.1:6443"
        );
        for bad in ["http://h:6443", "h:6443", "https://", "not a url"] {
            let err = check_server_url(bad).expect_err(bad);
            assert!(err.to_string().contains("https://HOST:PORT"), "{err}");
        }
    }

    #[tokio::test]
    async fn a_malformed_token_names_the_expected_shape() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config {
            server: Some("https://127.0.0.1:1".into()),
            token: Some("abcdef.0123456789abcdef".into()),
            node_name: "edge-1".into(),
            data_dir: dir.path().to_path_buf(),
            runtime_endpoint: DEFAULT_RUNTIME_ENDPOINT.into(),
            csr_timeout: DEFAULT_CSR_TIMEOUT,
            transport: HubTransport::default(),
        };
        let (_trigger, shutdown) = Shutdown::new();
        let err = run(config, shutdown, |_| {}).await.expect_err("malformed");
        assert!(
            err.to_string().contains("V1.<id>.<secret>.<ca-sha256>"),
            "{err}"
        );
        // Nothing was written.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[tokio::test]
    async fn without_identity_or_token_the_error_says_how_to_join() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config {
            server: Some("https://127.0.0.1:1".into()),
            token: None,
            node_name: "edge-1".into(),
            data_dir: dir.path().to_path_buf(),
            runtime_endpoint: DEFAULT_RUNTIME_ENDPOINT.into(),
            csr_timeout: DEFAULT_CSR_TIMEOUT,
            transport: HubTransport::default(),
        };
        let (_trigger, shutdown) = Shutdown::new();
        let err = run(config, shutdown, |_| {}).await.expect_err("no token");
        assert!(matches!(err, AgentError::NoIdentity { .. }), "{err}");
        assert!(err.to_string().contains("verge token create"), "{err}");
    }
}
