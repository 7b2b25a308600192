//! DaemonSets against a real `verge server` with hollow nodes: one pod per
//! edge node of a group, following nodes as they come, go and change
//! labels; daemon pods pinned by node affinity and bound by the scheduler;
//! rolling updates (maxUnavailable, maxSurge), OnDelete, and
//! `kubectl rollout status|history|undo ds/...`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Cluster;
use common::hollow::{fast_config, kubectl, kubectl_output, start_fleet, wait_for};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use verge_hollow::NodeSpec;

const T: Duration = Duration::from_secs(30);
const EDGE: &str = "node-role.kubernetes.io/edge";

fn edge(name: &str) -> NodeSpec {
    NodeSpec::new(name).label(EDGE, "")
}

fn manifest(strategy: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: default
spec:
  selector:
    matchLabels: {{app: agent}}
  updateStrategy: {strategy}
  template:
    metadata:
      labels: {{app: agent}}
    spec:
      nodeSelector:
        {EDGE}: ""
      containers:
      - name: agent
        image: registry.example/agent:1
"#
    )
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Live (not deleting) daemon pods, by node; each must be Running and Ready
/// for `running` to say so.
async fn daemon_pods(pods: &Api<Pod>) -> BTreeMap<String, Vec<Pod>> {
    let list = pods
        .list(&ListParams::default().labels("app=agent"))
        .await
        .expect("list pods");
    let mut by_node: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
    for p in list.items {
        if p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        by_node.entry(node).or_default().push(p);
    }
    by_node
}

fn image(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// Waits until exactly `nodes` run one Ready daemon pod each (with
/// `image`), and no other node runs one.
async fn one_ready_pod_on(
    pods: &Api<Pod>,
    nodes: &[&str],
    image_is: &str,
) -> BTreeMap<String, Vec<Pod>> {
    let want: Vec<String> = nodes.iter().map(|s| s.to_string()).collect();
    wait_for(
        &format!("one ready {image_is} daemon pod on each of {nodes:?}"),
        T,
        || async {
            let by_node = daemon_pods(pods).await;
            let ok = by_node.keys().cloned().collect::<Vec<_>>() == want
                && by_node
                    .values()
                    .all(|ps| ps.len() == 1 && is_ready(&ps[0]) && image(&ps[0]) == image_is);
            ok.then_some(by_node)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemonset_runs_one_pod_per_edge_node_and_follows_the_nodes() {
    let cluster = Cluster::start();
    let fleet = start_fleet(
        &cluster,
        fast_config([edge("edge-1"), edge("edge-2"), NodeSpec::new("cloud-1")]),
    )
    .await;
    let client = cluster.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");

    cluster.apply(&manifest("{type: RollingUpdate}"));
    kubectl(
        &cluster,
        &["rollout", "status", "ds/agent", "--timeout=60s"],
    )
    .await;
    let by_node = one_ready_pod_on(&pods, &["edge-1", "edge-2"], "registry.example/agent:1").await;

    // Pinned the way kube pins daemon pods, with the daemon tolerations.
    let pod = &by_node["edge-1"][0];
    let spec = pod.spec.clone().unwrap_or_default();
    let terms = spec
        .affinity
        .and_then(|a| a.node_affinity)
        .and_then(|a| a.required_during_scheduling_ignored_during_execution)
        .map(|r| r.node_selector_terms)
        .unwrap_or_default();
    let fields = terms[0].match_fields.clone().unwrap_or_default();
    assert_eq!(fields[0].key, "metadata.name");
    assert_eq!(
        fields[0].values.as_deref(),
        Some(&["edge-1".to_owned()][..])
    );
    let tolerated: Vec<String> = spec
        .tolerations
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| t.key)
        .collect();
    for key in [
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unschedulable",
    ] {
        assert!(
            tolerated.iter().any(|k| k == key),
            "{key} tolerated: {tolerated:?}"
        );
    }
    assert!(
        pod.metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key("controller-revision-hash")),
        "pods carry their revision"
    );

    let status = sets.get("agent").await.expect("ds").status.expect("status");
    assert_eq!(status.desired_number_scheduled, 2);
    assert_eq!(status.current_number_scheduled, 2);
    assert_eq!(status.number_ready, 2);
    assert_eq!(status.number_available, Some(2));
    assert_eq!(status.updated_number_scheduled, Some(2));
    assert_eq!(status.number_misscheduled, 0);
    let columns = kubectl(&cluster, &["get", "ds", "agent", "--no-headers"]).await;
    assert!(
        columns
            .split_whitespace()
            .take(6)
            .eq(["agent", "2", "2", "2", "2", "2"]),
        "{columns}"
    );

    // A new edge node gets its pod, a cordoned one too (daemons tolerate
    // node.kubernetes.io/unschedulable).
    fleet.add_node(edge("edge-3")).expect("add node");
    fleet
        .add_node(edge("edge-4").unschedulable(true))
        .expect("add cordoned node");
    one_ready_pod_on(
        &pods,
        &["edge-1", "edge-2", "edge-3", "edge-4"],
        "registry.example/agent:1",
    )
    .await;

    // A node that leaves the group loses its pod; a node that goes away
    // takes its pod with it; a NoExecute taint evicts the daemon.
    kubectl(&cluster, &["label", "node", "edge-1", &format!("{EDGE}-")]).await;
    fleet
        .remove_node("edge-2", true)
        .await
        .expect("remove node");
    kubectl(
        &cluster,
        &["taint", "node", "edge-4", "dedicated=db:NoExecute"],
    )
    .await;
    one_ready_pod_on(&pods, &["edge-3"], "registry.example/agent:1").await;
    wait_for("status with one desired node", T, || async {
        let s = sets.get("agent").await.ok()?.status?;
        (s.desired_number_scheduled == 1 && s.number_ready == 1 && s.number_misscheduled == 0)
            .then_some(())
    })
    .await;
    // A node that joins the group gets its pod back.
    kubectl(&cluster, &["label", "node", "edge-1", &format!("{EDGE}=")]).await;
    one_ready_pod_on(&pods, &["edge-1", "edge-3"], "registry.example/agent:1").await;
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_updates_roll_back_and_on_delete_waits() {
    let cluster = Cluster::start();
    let fleet = start_fleet(
        &cluster,
        fast_config([edge("edge-1"), edge("edge-2"), edge("edge-3")]),
    )
    .await;
    let client = cluster.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
    let nodes = ["edge-1", "edge-2", "edge-3"];

    cluster.apply(&manifest(
        "{type: RollingUpdate, rollingUpdate: {maxUnavailable: 1}}",
    ));
    kubectl(
        &cluster,
        &["rollout", "status", "ds/agent", "--timeout=60s"],
    )
    .await;
    let first = one_ready_pod_on(&pods, &nodes, "registry.example/agent:1").await;

    // maxUnavailable: 1 — old pods go one node at a time.
    kubectl(
        &cluster,
        &["set", "image", "ds/agent", "agent=registry.example/agent:2"],
    )
    .await;
    kubectl(
        &cluster,
        &["rollout", "status", "ds/agent", "--timeout=60s"],
    )
    .await;
    let second = one_ready_pod_on(&pods, &nodes, "registry.example/agent:2").await;
    for node in nodes {
        assert_ne!(
            first[node][0].metadata.uid, second[node][0].metadata.uid,
            "replaced on {node}"
        );
    }
    let history = kubectl(&cluster, &["rollout", "history", "ds/agent"]).await;
    assert!(history.contains('1') && history.contains('2'), "{history}");
    let owned = revisions
        .list(&ListParams::default().labels("app=agent"))
        .await
        .expect("revisions");
    assert_eq!(owned.items.len(), 2, "one ControllerRevision per template");

    // Undo goes back to the first template, which becomes revision 3.
    kubectl(&cluster, &["rollout", "undo", "ds/agent"]).await;
    kubectl(
        &cluster,
        &["rollout", "status", "ds/agent", "--timeout=60s"],
    )
    .await;
    one_ready_pod_on(&pods, &nodes, "registry.example/agent:1").await;
    let mut numbers: Vec<i64> = revisions
        .list(&ListParams::default().labels("app=agent"))
        .await
        .expect("revisions")
        .items
        .iter()
        .map(|r| r.revision)
        .collect();
    numbers.sort();
    assert_eq!(
        numbers,
        vec![2, 3],
        "the old template is renumbered, not duplicated"
    );

    // maxSurge: the new pod starts beside the old one.
    kubectl(
        &cluster,
        &[
            "patch",
            "ds/agent",
            "--type=merge",
            "-p",
            r#"{"spec":{"updateStrategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}}"#,
        ],
    )
    .await;
    kubectl(
        &cluster,
        &["set", "image", "ds/agent", "agent=registry.example/agent:3"],
    )
    .await;
    kubectl(
        &cluster,
        &["rollout", "status", "ds/agent", "--timeout=60s"],
    )
    .await;
    one_ready_pod_on(&pods, &nodes, "registry.example/agent:3").await;

    // OnDelete: nothing changes until a pod is deleted.
    kubectl(
        &cluster,
        &[
            "patch",
            "ds/agent",
            "--type=merge",
            "-p",
            r#"{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null}}}"#,
        ],
    )
    .await;
    kubectl(
        &cluster,
        &["set", "image", "ds/agent", "agent=registry.example/agent:4"],
    )
    .await;
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    wait_for("the OnDelete change observed", T, || async {
        let ds = sets.get("agent").await.ok()?;
        let s = ds.status?;
        (s.observed_generation == ds.metadata.generation && s.updated_number_scheduled == Some(0))
            .then_some(())
    })
    .await;
    let before = daemon_pods(&pods).await;
    assert!(
        before
            .values()
            .all(|ps| image(&ps[0]) == "registry.example/agent:3")
    );
    let victim = before["edge-2"][0].metadata.name.clone().expect("name");
    kubectl(&cluster, &["delete", "pod", &victim, "--wait=false"]).await;
    wait_for(
        "the deleted pod replaced at the new template",
        T,
        || async {
            let by_node = daemon_pods(&pods).await;
            let ps = by_node.get("edge-2")?;
            (ps.len() == 1 && image(&ps[0]) == "registry.example/agent:4" && is_ready(&ps[0]))
                .then_some(())
        },
    )
    .await;
    let after = daemon_pods(&pods).await;
    assert_eq!(
        image(&after["edge-1"][0]),
        "registry.example/agent:3",
        "others wait"
    );
    let out = kubectl_output(&cluster, &["rollout", "status", "ds/agent", "--timeout=5s"]).await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only available for RollingUpdate"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fleet.stop().await;
}

/// Scale figures for docs/benchmarks.md (not part of the suite):
/// `cargo test --release -p verge --test daemonsets -- --ignored --nocapture`,
/// `VERGE_DS_NODES` hollow edge nodes (default 1,000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run by hand with --release"]
async fn scale_a_daemonset_over_many_edge_nodes() {
    let n: usize = std::env::var("VERGE_DS_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let cluster = Cluster::start();
    let nodes = (0..n).map(|i| edge(&format!("edge-{i:05}")));
    let config = verge_hollow::FleetConfig {
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_secs(1),
        ..verge_hollow::FleetConfig::with_nodes(nodes)
    };
    let fleet = start_fleet(&cluster, config).await;
    let client = cluster.client().await;
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let long = Duration::from_secs(600);
    let want = n as i32;
    let rolled_out = |want_image: &'static str| {
        let sets = sets.clone();
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        async move {
            wait_for(
                &format!("{want} ready pods at {want_image}"),
                long,
                || async {
                    let ds = sets.get("agent").await.ok()?;
                    let s = ds.status?;
                    let done = s.observed_generation == ds.metadata.generation
                        && s.desired_number_scheduled == want
                        && s.updated_number_scheduled == Some(want)
                        && s.number_available == Some(want);
                    done.then_some(())
                },
            )
            .await;
            let live = daemon_pods(&pods).await;
            assert_eq!(live.len(), n, "one node each");
            assert!(
                live.values()
                    .all(|ps| ps.len() == 1 && image(&ps[0]) == want_image)
            );
        }
    };

    let start = std::time::Instant::now();
    cluster.apply(&manifest(
        "{type: RollingUpdate, rollingUpdate: {maxUnavailable: 10%}}",
    ));
    rolled_out("registry.example/agent:1").await;
    let created = start.elapsed();

    let start = std::time::Instant::now();
    kubectl(
        &cluster,
        &["set", "image", "ds/agent", "agent=registry.example/agent:2"],
    )
    .await;
    rolled_out("registry.example/agent:2").await;
    let rolled = start.elapsed();
    println!(
        "daemonset over {n} hollow edge nodes: all pods Ready in {:.1} s; rolling update (maxUnavailable 10%) in {:.1} s",
        created.as_secs_f64(),
        rolled.as_secs_f64()
    );
    fleet.stop().await;
}
