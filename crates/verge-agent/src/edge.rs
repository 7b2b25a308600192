//! The agent's link to the cloud hub (verge-edgehub): started once the node
//! is registered; each time it comes up the node reports itself Ready.

use std::sync::Arc;

use jiff::Timestamp;
use verge_edgehub::{EdgeHub, EdgeStore, HubEndpoint, LinkConfig, LinkState, Reporter};
use verge_protocol::pb::{self, BodyType, ReportKind};
use verge_transport::{TransportConfig, TransportKind};

use crate::discovery::HubAddresses;
use crate::identity::{self, Paths, Stored};
use crate::{AgentError, Config, HubTransport};

/// The edge database under the data dir.
pub const EDGE_DB: &str = "edge.db";

pub(crate) fn start(
    config: &Config,
    paths: &Paths,
    server_url: &str,
    hub: &HubAddresses,
) -> Result<(EdgeHub, bool), AgentError> {
    let store = Arc::new(EdgeStore::open(&config.data_dir.join(EDGE_DB))?);
    let quic = hub.quic.clone().map(|address| HubEndpoint {
        transport: TransportKind::Quic,
        address,
    });
    let ws = hub.websocket.clone().map(|address| HubEndpoint {
        transport: TransportKind::WebSocket,
        address,
    });
    let endpoints: Vec<HubEndpoint> = match config.transport {
        HubTransport::Auto => quic.into_iter().chain(ws).collect(),
        HubTransport::Quic => quic.into_iter().collect(),
        HubTransport::WebSocket => ws.into_iter().collect(),
    };
    let on_channel = !endpoints.is_empty();
    if !on_channel {
        tracing::warn!(
            node = config.node_name,
            %hub,
            transport = ?config.transport,
            "the server published no hub address for this transport; the node stays off the channel"
        );
    }
    let paths = paths.clone();
    let identity = Arc::new(move || match identity::load(&paths, Timestamp::now()) {
        Ok(Stored::Usable(id)) => Ok((
            id.ca_pem,
            verge_pki::CertifiedKey {
                cert_pem: id.cert_pem,
                key_pem: id.key_pem,
            },
        )),
        Ok(Stored::Expired { not_after }) => Err(format!(
            "the node certificate expired at {not_after}; rejoin with a new token"
        )),
        Ok(other) => Err(format!("no usable node identity: {other:?}")),
        Err(e) => Err(e.to_string()),
    });
    let link = EdgeHub::start(
        store,
        LinkConfig {
            node_name: config.node_name.clone(),
            endpoints,
            server_name: server_host(server_url),
            identity,
            transport: TransportConfig::default(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        },
    );
    Ok((link, on_channel))
}

/// The host of `https://HOST:PORT`, brackets removed from an IPv6 literal:
/// the hub presents the API server's certificate, so it is checked against
/// the same name.
fn server_host(server_url: &str) -> String {
    server_url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(|h| h.trim_matches(['[', ']']).to_owned()))
        .unwrap_or_default()
}

/// Reports the node Ready each time the link to the hub comes up: after a
/// partition the node lifecycle controller has marked it Unknown, and, as
/// with a kubelet, it is the node that says it is Ready again.
pub(crate) fn report_ready_on_connect(
    link: &EdgeHub,
    node_name: &str,
) -> tokio::task::JoinHandle<()> {
    let reporter = link.reporter();
    let mut state = link.state();
    let node_name = node_name.to_owned();
    tokio::spawn(async move {
        loop {
            let connected = matches!(*state.borrow_and_update(), LinkState::Connected { .. });
            if connected && let Err(e) = report_ready(&reporter, &node_name) {
                tracing::error!(node = node_name, error = %e, "cannot queue the node's Ready status");
            }
            if state.changed().await.is_err() {
                return;
            }
        }
    })
}

fn report_ready(reporter: &Reporter, node_name: &str) -> Result<(), AgentError> {
    let now = Timestamp::now().to_string();
    let patch = serde_json::json!({"status": {"conditions": [{
        "type": "Ready",
        "status": "True",
        "reason": "AgentReady",
        "message": "verge agent is running and reports through the cloud hub",
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }]}});
    let key = pb::ObjectKey {
        kind: Some(pb::ResourceKind {
            group: String::new(),
            version: "v1".into(),
            resource: "nodes".into(),
        }),
        namespace: String::new(),
        name: node_name.to_owned(),
        uid: String::new(),
    };
    reporter.report(
        ReportKind::NodeStatus,
        &key,
        // Conditions merge by type: the Ready report leaves the others be.
        BodyType::StrategicMergePatch,
        patch.to_string().as_bytes(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hub_is_checked_against_the_server_host() {
        assert_eq!(server_host("https://10.0.0.1:6443"), "10.0.0.1");
        assert_eq!(server_host("https://[::1]:6443"), "::1");
        assert_eq!(server_host("https://cloud.example:6443"), "cloud.example");
    }
}
