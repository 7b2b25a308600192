//! Finding and pinning the cluster CA (kubeadm's token discovery).
//!
//! The ConfigMap `kube-public/cluster-info` is readable anonymously. Its
//! `kubeconfig` entry names the cluster CA; the agent reads it over a TLS
//! connection it does not verify, accepts the CA only if the SHA-256 of its
//! SubjectPublicKeyInfo equals the pin in the join token, then reads the
//! ConfigMap again over a connection verified against that CA. A man in the
//! middle can relay the first read, but cannot present a certificate the
//! pinned CA signed, so the second read exposes it.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde::Deserialize;
use verge_pki::join_token::{self, JoinToken};

use crate::{AgentError, Shutdown, client};

/// Where the cluster publishes its CA.
pub const CLUSTER_INFO_NAMESPACE: &str = "kube-public";
/// The ConfigMap's name.
pub const CLUSTER_INFO_NAME: &str = "cluster-info";
/// The ConfigMap key holding the CA-only kubeconfig.
pub const KUBECONFIG_KEY: &str = "kubeconfig";
/// The cloud hub's WebSocket/TLS port (published by the server's
/// cluster-info controller; see docs/join.md).
pub const HUB_WEBSOCKET_PORT_KEY: &str = "hub-websocket-port";
/// The cloud hub's QUIC port.
pub const HUB_QUIC_PORT_KEY: &str = "hub-quic-port";

/// Where the cloud hub listens, as `HOST:PORT`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubAddresses {
    /// WebSocket over TLS.
    pub websocket: Option<String>,
    /// QUIC.
    pub quic: Option<String>,
}

impl std::fmt::Display for HubAddresses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |a: &Option<String>| a.clone().unwrap_or_else(|| "not published".into());
        write!(
            f,
            "websocket {}, quic {}",
            show(&self.websocket),
            show(&self.quic)
        )
    }
}

/// The hub addresses: the published ports on the host of the `--server`
/// URL, because the server cannot know the name it is reached by (NAT,
/// load balancers). A port that is absent or not a port is left out.
pub fn hub_addresses(server_url: &str, data: &BTreeMap<String, String>) -> HubAddresses {
    let host = server_url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_string));
    let address = |key: &str| {
        let host = host.as_deref()?;
        let value = data.get(key)?;
        match value.trim().parse::<u16>() {
            Ok(port) if port != 0 => Some(format!("{host}:{port}")),
            _ => {
                tracing::warn!(key, value = %value, "cluster-info publishes an invalid hub port; ignoring it");
                None
            }
        }
    };
    HubAddresses {
        websocket: address(HUB_WEBSOCKET_PORT_KEY),
        quic: address(HUB_QUIC_PORT_KEY),
    }
}

/// What the server published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    /// The cluster CA, PEM.
    pub ca_pem: String,
    /// The server URL in the published kubeconfig (informational: the
    /// server may not know the name it is reached by).
    pub server: Option<String>,
    /// Every entry of the ConfigMap, hub addresses included.
    pub data: BTreeMap<String, String>,
}

// The subset of a kubeconfig that cluster-info carries (kubeadm writes one
// cluster, no users).
#[derive(Deserialize)]
struct Kubeconfig {
    #[serde(default)]
    clusters: Vec<NamedCluster>,
}

#[derive(Deserialize)]
struct NamedCluster {
    cluster: Cluster,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    certificate_authority_data: Option<String>,
}

/// Reads the CA out of the ConfigMap's data.
pub fn parse(data: BTreeMap<String, String>) -> Result<ClusterInfo, String> {
    let yaml = data
        .get(KUBECONFIG_KEY)
        .ok_or_else(|| format!("it has no {KUBECONFIG_KEY:?} entry"))?;
    let kubeconfig: Kubeconfig = serde_saphyr::from_str(yaml)
        .map_err(|e| format!("its {KUBECONFIG_KEY:?} entry is not a kubeconfig: {e}"))?;
    let cluster = match kubeconfig.clusters.as_slice() {
        [named] => &named.cluster,
        [] => return Err("its kubeconfig names no cluster".into()),
        _ => return Err("its kubeconfig names more than one cluster".into()),
    };
    let ca_b64 = cluster
        .certificate_authority_data
        .as_deref()
        .ok_or("its kubeconfig has no certificate-authority-data")?;
    let ca = STANDARD
        .decode(ca_b64.trim())
        .map_err(|e| format!("its certificate-authority-data is not base64: {e}"))?;
    let ca_pem = String::from_utf8(ca)
        .map_err(|_| "its certificate-authority-data is not a PEM certificate".to_string())?;
    crate::identity::pem_der(&ca_pem, "CA certificate")?;
    Ok(ClusterInfo {
        ca_pem,
        server: cluster.server.clone(),
        data,
    })
}

/// Checks the CA against the token's pin.
pub fn check_pin(token: &JoinToken, ca_pem: &str, server_url: &str) -> Result<(), AgentError> {
    let der = crate::identity::pem_der(ca_pem, "CA certificate").map_err(|reason| {
        AgentError::Discovery {
            server: server_url.to_string(),
            reason,
        }
    })?;
    let actual = join_token::ca_pin(&der)?;
    if join_token::secret_eq(&actual, &token.ca_pin) {
        Ok(())
    } else {
        Err(AgentError::PinMismatch {
            server: server_url.to_string(),
            expected: token.ca_pin.clone(),
            actual,
        })
    }
}

/// Discovers and pins the cluster CA at `server_url`.
pub async fn discover(
    server_url: &str,
    token: &JoinToken,
    shutdown: &mut Shutdown,
) -> Result<ClusterInfo, AgentError> {
    tracing::info!(
        server = %server_url,
        "reading cluster-info without verifying the server yet; its CA is accepted only if it matches the token's pin"
    );
    let unverified = read(client::unverified(server_url)?, server_url, shutdown).await?;
    check_pin(token, &unverified.ca_pem, server_url)?;
    tracing::info!(server = %server_url, pin = %token.ca_pin, "the server's CA matches the token's pin");
    let verified = read(
        client::anonymous(server_url, &unverified.ca_pem)?,
        server_url,
        shutdown,
    )
    .await
    .map_err(|e| match e {
        AgentError::Discovery { reason, server } => AgentError::Discovery {
            server,
            reason: format!(
                "{reason} (over a connection verified against the pinned CA, which a man in the middle cannot present)"
            ),
        },
        other => other,
    })?;
    if verified.ca_pem != unverified.ca_pem {
        return Err(AgentError::Discovery {
            server: server_url.to_string(),
            reason: "cluster-info changed its CA between two reads".into(),
        });
    }
    Ok(verified)
}

async fn read(
    client: kube::Client,
    server_url: &str,
    shutdown: &mut Shutdown,
) -> Result<ClusterInfo, AgentError> {
    let api: Api<ConfigMap> = Api::namespaced(client, CLUSTER_INFO_NAMESPACE);
    let answer = client::retry(
        "read the cluster's public information",
        server_url,
        shutdown,
        || api.get(CLUSTER_INFO_NAME),
    )
    .await?;
    let discovery_error = |reason: String| AgentError::Discovery {
        server: server_url.to_string(),
        reason,
    };
    let cm = answer.map_err(|e| {
        discovery_error(match client::status_code(&e) {
            Some(404) => format!(
                "{CLUSTER_INFO_NAMESPACE}/{CLUSTER_INFO_NAME} does not exist: is this a Verge server of a version that supports joining?"
            ),
            Some(401 | 403) => format!(
                "anonymous reads of {CLUSTER_INFO_NAMESPACE}/{CLUSTER_INFO_NAME} are refused ({}): is this a Verge server of a version that supports joining?",
                client::message(&e)
            ),
            _ => format!(
                "cannot read {CLUSTER_INFO_NAMESPACE}/{CLUSTER_INFO_NAME}: {}",
                client::message(&e)
            ),
        })
    })?;
    parse(cm.data.unwrap_or_default())
        .map_err(|reason| discovery_error(format!("{CLUSTER_INFO_NAME}: {reason}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use verge_pki::ClusterCa;

    fn data(ca_pem: &str) -> BTreeMap<String, String> {
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: https://10.0.0.1:6443\n  name: \"\"\ncontexts: []\ncurrent-context: \"\"\nusers: []\n",
            STANDARD.encode(ca_pem)
        );
        BTreeMap::from([
            (KUBECONFIG_KEY.to_string(), kubeconfig),
            ("hub-websocket-port".to_string(), "10000".to_string()),
        ])
    }

    #[test]
    fn the_ca_is_read_from_a_kubeadm_shaped_cluster_info() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = ClusterCa::load_or_create(dir.path()).expect("ca");
        let info = parse(data(ca.ca_pem())).expect("parse");
        assert_eq!(info.ca_pem, ca.ca_pem());
        assert_eq!(info.server.as_deref(), Some("https://10.0.0.1:6443"));
        assert_eq!(
            info.data.get("hub-websocket-port").map(String::as_str),
            Some("10000")
        );
    }

    #[test]
    fn hub_addresses_combine_the_published_ports_with_the_server_host() {
        let data = BTreeMap::from([
            (HUB_WEBSOCKET_PORT_KEY.to_string(), "10000".to_string()),
            (HUB_QUIC_PORT_KEY.to_string(), "10001".to_string()),
        ]);
        let hub = hub_addresses("https://cloud.example:6443", &data);
        assert_eq!(hub.websocket.as_deref(), Some("cloud.example:10000"));
        assert_eq!(hub.quic.as_deref(), Some("cloud.example:10001"));
        let v6 = hub_addresses("https://[fd00::1]:6443", &data);
        assert_eq!(v6.websocket.as_deref(), Some("[fd00::1]:10000"));

        let bad = BTreeMap::from([
            (HUB_WEBSOCKET_PORT_KEY.to_string(), "http".to_string()),
            (HUB_QUIC_PORT_KEY.to_string(), "0".to_string()),
        ]);
        assert_eq!(hub_addresses("https://h:1", &bad), HubAddresses::default());
        assert_eq!(
            hub_addresses("https://h:1", &BTreeMap::new()),
            HubAddresses::default()
        );
    }

    #[test]
    fn malformed_cluster_info_is_refused_with_the_reason() {
        let cases: [(BTreeMap<String, String>, &str); 4] = [
            (BTreeMap::new(), "no \"kubeconfig\" entry"),
            (
                BTreeMap::from([(KUBECONFIG_KEY.into(), "clusters: 7".into())]),
                "not a kubeconfig",
            ),
            (
                BTreeMap::from([(KUBECONFIG_KEY.into(), "clusters: []".into())]),
                "no cluster",
            ),
            (
                BTreeMap::from([(
                    KUBECONFIG_KEY.into(),
                    "clusters:\n- cluster:\n    certificate-authority-data: bm90IGEgY2VydA==\n"
                        .into(),
                )]),
                "not PEM",
            ),
        ];
        for (data, needle) in cases {
            let err = parse(data).expect_err(needle);
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn the_pin_accepts_only_the_pinned_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = ClusterCa::load_or_create(&dir.path().join("a")).expect("ca");
        let other = ClusterCa::load_or_create(&dir.path().join("b")).expect("other");
        let pin = join_token::ca_pin(ca.ca_der()).expect("pin");
        let token = JoinToken::generate(pin).expect("token");
        check_pin(&token, ca.ca_pem(), "https://h:1").expect("pinned CA");
        let err = check_pin(&token, other.ca_pem(), "https://h:1").expect_err("other CA");
        assert!(matches!(err, AgentError::PinMismatch { .. }));
        assert!(
            err.to_string().contains(
                "the server's CA does not match the token's pin: wrong server, or a man in the middle"
            ),
            "{err}"
        );
    }
}
