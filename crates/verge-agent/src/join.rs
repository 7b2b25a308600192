//! Joining: discovery, the bootstrap CSR, and installing the certificate;
//! [`obtain`] is shared with renewal.

use std::collections::BTreeMap;
use std::time::Duration;

use verge_pki::join_token::JoinToken;

use crate::csr::{self, Credentials};
use crate::discovery::{self, ClusterInfo};
use crate::files::{self, MODE_PUBLIC};
use crate::identity::{self, NodeIdentity, Paths};
use crate::{AgentError, Shutdown, client};

/// Joins the cluster at `server_url` with `token`: pins the CA, gets a
/// node certificate through a bootstrap CSR, installs it.
pub(crate) async fn join(
    server_url: &str,
    token: &JoinToken,
    node_name: &str,
    paths: &Paths,
    csr_timeout: Duration,
    shutdown: &mut Shutdown,
) -> Result<NodeIdentity, AgentError> {
    tracing::info!(server = %server_url, node = %node_name, token_id = %token.id, "joining the cluster");
    let info = discovery::discover(server_url, token, shutdown).await?;
    identity::save_ca(paths, &info.ca_pem)?;
    save_cluster_info(paths, &info)?;
    let client = client::bootstrap(server_url, &info.ca_pem, &token.bootstrap_token())?;
    obtain(
        client,
        Credentials::BootstrapToken,
        node_name,
        &info.ca_pem,
        server_url,
        paths,
        csr_timeout,
        shutdown,
    )
    .await
}

/// Gets a certificate for the pending key (made now if there is none) with
/// `client`'s credentials, checks it, and installs it.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn obtain(
    client: kube::Client,
    credentials: Credentials,
    node_name: &str,
    ca_pem: &str,
    server_url: &str,
    paths: &Paths,
    csr_timeout: Duration,
    shutdown: &mut Shutdown,
) -> Result<NodeIdentity, AgentError> {
    let mut key = match identity::pending_key(paths)? {
        Some(key) if rcgen::KeyPair::from_pem(&key).is_ok() => key,
        _ => new_pending_key(paths)?,
    };
    let mut fresh_key = false;
    let (request, cert_pem) = loop {
        let request = csr::request(node_name, &key)?;
        match csr::submit_and_wait(
            client.clone(),
            credentials,
            &request,
            server_url,
            csr_timeout,
            shutdown,
        )
        .await
        {
            Ok(cert) => break (request, cert),
            // The pending key's request was sent before with credentials
            // this client no longer has: start over with a key of its own.
            Err(AgentError::CsrSentByAnother { name }) if !fresh_key => {
                tracing::info!(csr = %name, "the pending request was sent with other credentials; requesting with a new key");
                key = new_pending_key(paths)?;
                fresh_key = true;
            }
            Err(e @ AgentError::CsrRejected { .. }) => {
                // A rejected request stays rejected: the next attempt needs
                // a new key, hence a new request name.
                let _ = std::fs::remove_file(paths.pending_key());
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    };
    let bad = |reason: String| AgentError::BadIssuedCertificate {
        name: request.name.clone(),
        reason,
    };
    let identity = NodeIdentity::from_pem(ca_pem, &cert_pem, &key).map_err(bad)?;
    if identity.node_name() != Some(node_name) {
        return Err(bad(format!(
            "it is for {:?}, not system:node:{node_name}",
            identity.user
        )));
    }
    identity::install(paths, &identity, server_url)?;
    tracing::info!(
        cert = %paths.cert().display(),
        not_after = %identity.not_after,
        "installed the node certificate"
    );
    Ok(identity)
}

/// What the server published at join, if it was stored (an unreadable
/// file is logged and treated as absent: it only informs the hub
/// connection, which a later join refreshes).
pub(crate) fn saved_cluster_info(paths: &Paths) -> BTreeMap<String, String> {
    let path = paths.cluster_info();
    let text = match files::read_optional(&path) {
        Ok(Some(text)) => text,
        Ok(None) => return BTreeMap::new(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the stored cluster-info");
            return BTreeMap::new();
        }
    };
    serde_json::from_str(&text).unwrap_or_else(|e| {
        tracing::warn!(path = %path.display(), error = %e, "the stored cluster-info is not a JSON object of strings");
        BTreeMap::new()
    })
}

/// Keeps what the server published (hub addresses among it) for the parts
/// of the agent that connect to the hub.
fn save_cluster_info(paths: &Paths, info: &ClusterInfo) -> Result<(), AgentError> {
    let json = serde_json::to_vec_pretty(&info.data).map_err(|e| AgentError::Protocol {
        action: "store cluster-info".into(),
        reason: e.to_string(),
    })?;
    files::ensure_private_dir(paths.data_dir())?;
    files::write_atomic(&paths.cluster_info(), &json, MODE_PUBLIC)
}

/// A new key, saved as pending before any request for it is sent so that a
/// restart finds the request again instead of sending another.
fn new_pending_key(paths: &Paths) -> Result<String, AgentError> {
    let key = csr::new_key()?;
    identity::save_pending_key(paths, &key)?;
    Ok(key)
}
