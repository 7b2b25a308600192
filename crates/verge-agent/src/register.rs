//! Registering the Node object, labelled as kubelet labels it plus Verge's
//! edge role.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};

use crate::{AgentError, Shutdown, client};

/// The label that marks a Node as an edge node (workloads select it).
pub const EDGE_ROLE_LABEL: &str = "node-role.kubernetes.io/edge";

/// The labels the agent sets on its Node: the edge role, and the
/// well-known hostname/os/arch labels (and their deprecated beta twins,
/// which kubelet still sets and old manifests still select on).
pub fn labels(node_name: &str) -> BTreeMap<String, String> {
    let os = std::env::consts::OS.to_string();
    let arch = go_arch(std::env::consts::ARCH).to_string();
    BTreeMap::from([
        (EDGE_ROLE_LABEL.to_string(), String::new()),
        // --node-name plays kubelet's --hostname-override.
        ("kubernetes.io/hostname".to_string(), node_name.to_string()),
        ("kubernetes.io/os".to_string(), os.clone()),
        ("kubernetes.io/arch".to_string(), arch.clone()),
        ("beta.kubernetes.io/os".to_string(), os),
        ("beta.kubernetes.io/arch".to_string(), arch),
    ])
}

/// Go's name (GOARCH) for a Rust target architecture: the values
/// Kubernetes manifests and images use.
pub fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// Creates the Node `node_name`, or, if it exists (a restart or a re-join),
/// merges the agent's labels into it. Returns the stored Node.
pub async fn register(
    client: kube::Client,
    node_name: &str,
    server_url: &str,
    shutdown: &mut Shutdown,
) -> Result<Node, AgentError> {
    let api: Api<Node> = Api::all(client);
    let labels = labels(node_name);
    let node = Node {
        metadata: ObjectMeta {
            name: Some(node_name.to_string()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        ..Node::default()
    };
    let refused = |e: &kube::Error| AgentError::Refused {
        action: format!("register the Node {node_name}"),
        message: client::message(e),
    };
    let post = PostParams::default();
    let created = client::retry("register the Node", server_url, shutdown, || {
        api.create(&post, &node)
    })
    .await?;
    match created {
        Ok(node) => {
            tracing::info!(node = %node_name, "registered the Node");
            Ok(node)
        }
        Err(e) if client::status_code(&e) == Some(409) => {
            let patch = serde_json::json!({ "metadata": { "labels": labels } });
            let patch = Patch::Merge(&patch);
            let params = PatchParams::default();
            let patched = client::retry("update the Node", server_url, shutdown, || {
                api.patch(node_name, &params, &patch)
            })
            .await?
            .map_err(|e| refused(&e))?;
            tracing::info!(node = %node_name, "the Node exists; updated its labels");
            Ok(patched)
        }
        Err(e) => Err(refused(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_carry_the_edge_role_and_kubelet_well_known_labels() {
        let labels = labels("edge-1");
        assert_eq!(labels.get(EDGE_ROLE_LABEL).map(String::as_str), Some(""));
        assert_eq!(
            labels.get("kubernetes.io/hostname").map(String::as_str),
            Some("edge-1")
        );
        assert_eq!(
            labels.get("kubernetes.io/os").map(String::as_str),
            Some(std::env::consts::OS)
        );
        assert_eq!(
            labels.get("kubernetes.io/arch"),
            labels.get("beta.kubernetes.io/arch")
        );
    }

    #[test]
    fn architectures_use_go_names() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("x86"), "386");
        assert_eq!(go_arch("riscv64"), "riscv64");
        assert_eq!(go_arch("s390x"), "s390x");
    }
}
