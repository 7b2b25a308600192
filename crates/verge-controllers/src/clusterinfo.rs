//! Publishes ConfigMap `kube-public/cluster-info`, which joining nodes read
//! anonymously before they trust anything (kubeadm's bootstrap discovery):
//!
//! - `kubeconfig`: a kubeconfig naming the API server URL and carrying the
//!   cluster CA, and no credentials, shaped as kubeadm publishes it (one
//!   cluster with an empty name, no users or contexts). The joining node
//!   checks the CA against the pin in its join token.
//! - Verge's additions, the cloud hub the node connects to after joining:
//!   `hub-websocket-port` and `hub-quic-port` (the agent combines them with
//!   the host of its `--server` URL, since the server may not know the name
//!   it is reached by), and `hub-websocket-listen`/`hub-quic-listen`, the
//!   addresses as configured.
//!
//! The controller rewrites the ConfigMap whenever it changes or disappears.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use verge_runtime::{Action, Client, ControllerMetrics, Error, Event, Part, Queue};

const NAME: &str = "clusterinfo";
pub const NAMESPACE: &str = "kube-public";
pub const CONFIGMAP: &str = "cluster-info";
pub const KUBECONFIG_KEY: &str = "kubeconfig";
pub const HUB_WEBSOCKET_PORT_KEY: &str = "hub-websocket-port";
pub const HUB_QUIC_PORT_KEY: &str = "hub-quic-port";
pub const HUB_WEBSOCKET_LISTEN_KEY: &str = "hub-websocket-listen";
pub const HUB_QUIC_LISTEN_KEY: &str = "hub-quic-listen";

/// What is published.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The API server URL; without it nothing is published.
    pub server_url: Option<String>,
    /// The cluster CA certificate, PEM.
    pub ca_pem: String,
    /// `--hub-listen` (WebSocket over TLS).
    pub hub_listen: Option<SocketAddr>,
    /// `--quic-listen`.
    pub quic_listen: Option<SocketAddr>,
}

impl Settings {
    /// The ConfigMap's data.
    pub fn data(&self, server_url: &str) -> BTreeMap<String, String> {
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server_url}\n  name: \"\"\ncontexts: []\ncurrent-context: \"\"\npreferences: {{}}\nusers: []\n"
        );
        let mut data = BTreeMap::from([(KUBECONFIG_KEY.to_string(), kubeconfig)]);
        if let Some(hub) = self.hub_listen {
            data.insert(HUB_WEBSOCKET_PORT_KEY.into(), hub.port().to_string());
            data.insert(HUB_WEBSOCKET_LISTEN_KEY.into(), hub.to_string());
        }
        if let Some(quic) = self.quic_listen {
            data.insert(HUB_QUIC_PORT_KEY.into(), quic.port().to_string());
            data.insert(HUB_QUIC_LISTEN_KEY.into(), quic.to_string());
        }
        data
    }
}

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>, settings: Settings) {
    let Some(server_url) = settings.server_url.clone() else {
        tracing::warn!("no API server URL: cluster-info is not published and nodes cannot join");
        return;
    };
    let Ok(mut configmaps) = client.watcher::<ConfigMap>(Some(NAMESPACE)) else {
        tracing::error!("cluster-info publisher cannot watch configmaps");
        return;
    };
    let data = Arc::new(settings.data(&server_url));
    let queue: Queue<&'static str> = Queue::new();
    let workers = tokio::spawn(verge_runtime::run(
        NAME,
        queue.clone(),
        1,
        metrics,
        (client.clone(), data),
        |(client, data), _| async move { reconcile(&client, &data).await },
    ));
    queue.add(CONFIGMAP);
    while let Some(event) = configmaps.next().await {
        let ours = |o: &verge_runtime::CachedObject| o.key.ends_with(&format!("/{CONFIGMAP}"));
        match event {
            Event::Applied(o) | Event::Deleted(o) if ours(&o) => queue.add(CONFIGMAP),
            Event::Relisted(_) => queue.add(CONFIGMAP),
            _ => {}
        }
    }
    queue.close();
    let _ = workers.await;
}

async fn reconcile(client: &Client, data: &BTreeMap<String, String>) -> Result<Action, Error> {
    match client.get::<ConfigMap>(Some(NAMESPACE), CONFIGMAP)? {
        Some(current) if current.data.as_ref() == Some(data) => Ok(Action::Done),
        Some(_) => {
            client
                .update::<ConfigMap, _>(Some(NAMESPACE), CONFIGMAP, Part::Main, |cm| {
                    cm.data = Some(data.clone());
                    Ok(())
                })
                .await?;
            tracing::info!("updated cluster-info");
            Ok(Action::Done)
        }
        None => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(CONFIGMAP.into()),
                    namespace: Some(NAMESPACE.into()),
                    ..ObjectMeta::default()
                },
                data: Some(data.clone()),
                ..ConfigMap::default()
            };
            match client.create(&cm).await {
                Ok(_) => tracing::info!("published cluster-info"),
                Err(e) if e.is_already_exists() => {}
                Err(e) => return Err(e),
            }
            Ok(Action::Done)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_carries_the_ca_server_and_hub_ports() {
        let settings = Settings {
            server_url: None,
            ca_pem: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n".into(),
            hub_listen: "0.0.0.0:10000".parse().ok(),
            quic_listen: "0.0.0.0:10001".parse().ok(),
        };
        let data = settings.data("https://10.0.0.1:6443");
        let kubeconfig = &data[KUBECONFIG_KEY];
        assert!(
            kubeconfig.contains("server: https://10.0.0.1:6443"),
            "{kubeconfig}"
        );
        assert!(kubeconfig.contains("users: []"));
        let ca = base64::engine::general_purpose::STANDARD.encode(&settings.ca_pem);
        assert!(kubeconfig.contains(&ca));
        assert_eq!(data[HUB_WEBSOCKET_PORT_KEY], "10000");
        assert_eq!(data[HUB_QUIC_PORT_KEY], "10001");
        assert_eq!(data[HUB_QUIC_LISTEN_KEY], "0.0.0.0:10001");
    }
}
