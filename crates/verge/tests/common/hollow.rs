//! Hollow nodes (crate verge-hollow) on a test cluster, and waiting on
//! conditions from async tests without blocking the runtime.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use verge_hollow::{Fleet, FleetConfig, NodeSpec};

use super::Cluster;

/// Timings for tests: leases renewed every 500 ms, status every 2 s, quick
/// retries.
pub fn fast_config(nodes: impl IntoIterator<Item = NodeSpec>) -> FleetConfig {
    FleetConfig {
        lease_renew_interval: Duration::from_millis(500),
        status_report_interval: Duration::from_secs(2),
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_secs(1),
        ..FleetConfig::with_nodes(nodes)
    }
}

/// Starts a fleet on the cluster and waits until its nodes are registered.
pub async fn start_fleet(cluster: &Cluster, config: FleetConfig) -> Fleet {
    let fleet = Fleet::start(cluster.client().await, config)
        .await
        .expect("start hollow fleet");
    tokio::time::timeout(Duration::from_secs(60), fleet.wait_registered())
        .await
        .expect("hollow nodes registered within 60s");
    fleet
}

/// Polls `f` until it returns Some, or panics after `timeout` naming `what`.
/// Async: the runtime keeps running the fleet meanwhile.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// kubectl on a blocking thread; returns the output whatever the status.
pub async fn kubectl_output(cluster: &Cluster, args: &[&str]) -> std::process::Output {
    let mut cmd = cluster.kubectl_cmd();
    cmd.args(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run kubectl"))
        .await
        .expect("kubectl thread")
}

/// kubectl on a blocking thread; returns stdout, panics with stderr on failure.
pub async fn kubectl(cluster: &Cluster, args: &[&str]) -> String {
    let out = kubectl_output(cluster, args).await;
    assert!(
        out.status.success(),
        "kubectl {} failed ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A pod bound to `node` (no scheduler needed), with annotations and a
/// restart policy.
pub fn bound_pod(
    name: &str,
    node: &str,
    restart_policy: &str,
    annotations: &[(&str, &str)],
) -> Pod {
    let annotations: serde_json::Map<String, serde_json::Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "nodeName": node,
            "restartPolicy": restart_policy,
            "containers": [{"name": "main", "image": "registry.example/app:1"}],
        },
    }))
    .expect("pod")
}

/// The `renewTime` of a node's Lease, if it has one.
pub async fn lease_renew_time(client: &kube::Client, node: &str) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = leases.get_opt(node).await.ok()??;
    let v = serde_json::to_value(lease.spec?.renew_time?).ok()?;
    v.as_str().map(str::to_owned)
}

/// The status of a Node's condition of `type_`.
pub async fn node_condition(client: &kube::Client, node: &str, type_: &str) -> Option<String> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes.get_opt(node).await.ok()??;
    node.status?
        .conditions?
        .into_iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status)
}
