//! Edge-aware node lifecycle against a real `verge server` with hollow
//! nodes: silent nodes turn Unknown and get tainted, cloud pods are evicted
//! after their toleration, edge pods stay through a partition and nothing
//! is duplicated when the edge comes back, and a partition of the whole
//! fleet evicts nothing.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Cluster;
use common::hollow::{bound_pod, fast_config, kubectl, start_fleet, wait_for};
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use verge_hollow::{Fleet, NodeSpec};

const T: Duration = Duration::from_secs(30);
const EDGE: &str = "node-role.kubernetes.io/edge";
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

fn edge(name: &str) -> NodeSpec {
    NodeSpec::new(name).label(EDGE, "")
}

fn condition(node: &Node, type_: &str) -> Option<(String, Option<String>, Option<String>)> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn ready(node: &Node) -> Option<String> {
    condition(node, "Ready").map(|c| c.0)
}

fn taints(node: &Node) -> Vec<Taint> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
}

fn has_taint(node: &Node, key: &str, effect: &str) -> bool {
    taints(node)
        .iter()
        .any(|t| t.key == key && t.effect == effect)
}

fn lifecycle_taints(node: &Node) -> Vec<String> {
    taints(node)
        .into_iter()
        .filter(|t| t.key.starts_with("node.kubernetes.io/"))
        .map(|t| format!("{}:{}", t.key, t.effect))
        .collect()
}

async fn node_where(
    client: &kube::Client,
    name: &str,
    what: &str,
    f: impl Fn(&Node) -> bool,
) -> Node {
    let nodes: Api<Node> = Api::all(client.clone());
    wait_for(&format!("node {name} {what}"), T, || async {
        nodes.get_opt(name).await.ok().flatten().filter(|n| f(n))
    })
    .await
}

fn pod_ready(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.clone())
}

async fn pod_where(pods: &Api<Pod>, name: &str, what: &str, f: impl Fn(&Pod) -> bool) -> Pod {
    wait_for(&format!("pod {name} {what}"), T, || async {
        pods.get_opt(name).await.ok().flatten().filter(|p| f(p))
    })
    .await
}

fn epoch_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// When the taint manager decided to evict the pod (seconds since the epoch).
fn evicted_at(pod: &Pod) -> i64 {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "DisruptionTarget"))
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0.as_second())
        .expect("a DisruptionTarget condition with a transition time")
}

fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

/// A pod bound to `node` with extra tolerations.
fn pod_with_tolerations(name: &str, node: &str, tolerations: serde_json::Value) -> Pod {
    let mut pod = serde_json::to_value(bound_pod(name, node, "Always", &[])).expect("json");
    pod["spec"]["tolerations"] = tolerations;
    serde_json::from_value(pod).expect("pod")
}

async fn running(pods: &Api<Pod>, name: &str) -> Pod {
    pod_where(pods, name, "Running and Ready", |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
            && pod_ready(p).as_deref() == Some("True")
    })
    .await
}

fn believed(fleet: &Fleet, node: &str) -> Vec<String> {
    let mut names: Vec<String> = fleet
        .running_pods(node)
        .expect("fleet node")
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_nodes_turn_unknown_get_tainted_and_recover() {
    let c = Cluster::start_with(&[
        "--controllers",
        "nodelifecycle",
        "--node-monitor-grace-period",
        "3s",
        "--node-eviction-rate",
        "100",
    ]);
    let client = c.client().await;
    let fleet = start_fleet(
        &c,
        fast_config([NodeSpec::new("cloud-a"), NodeSpec::new("cloud-b")]),
    )
    .await;
    node_where(&client, "cloud-a", "Ready", |n| {
        ready(n).as_deref() == Some("True")
    })
    .await;

    let cut = Instant::now();
    fleet.disconnect("cloud-a").await.expect("disconnect");
    let node = node_where(&client, "cloud-a", "Unknown", |n| {
        ready(n).as_deref() == Some("Unknown")
    })
    .await;
    let silent = cut.elapsed();
    // The last renewal was at most one renew interval (500 ms) before the cut.
    assert!(
        silent >= Duration::from_millis(2400),
        "marked Unknown after {silent:?}, before the 3 s grace period"
    );
    let (_, reason, message) = condition(&node, "Ready").expect("Ready");
    assert_eq!(reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(
        message.as_deref(),
        Some("Kubelet stopped posting node status.")
    );
    for t in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        assert_eq!(
            condition(&node, t).map(|c| c.0).as_deref(),
            Some("Unknown"),
            "{t}"
        );
    }
    let node = node_where(&client, "cloud-a", "tainted unreachable", |n| {
        has_taint(n, UNREACHABLE, "NoSchedule") && has_taint(n, UNREACHABLE, "NoExecute")
    })
    .await;
    let no_execute = taints(&node)
        .into_iter()
        .find(|t| t.effect == "NoExecute")
        .expect("NoExecute taint");
    assert!(
        no_execute.time_added.is_some(),
        "NoExecute taints carry timeAdded"
    );

    // What a user sees.
    let table = kubectl(&c, &["get", "nodes"]).await;
    let row = table
        .lines()
        .find(|l| l.starts_with("cloud-a"))
        .expect("row");
    assert!(row.contains("NotReady"), "{table}");
    let events = kubectl(&c, &["get", "events", "-A"]).await;
    assert!(
        events
            .lines()
            .any(|l| l.contains("NodeNotReady") && l.contains("cloud-a")),
        "{events}"
    );
    // The healthy node is left alone.
    let nodes: Api<Node> = Api::all(client.clone());
    let b = nodes.get("cloud-b").await.expect("cloud-b");
    assert_eq!(ready(&b).as_deref(), Some("True"));
    assert!(
        lifecycle_taints(&b).is_empty(),
        "{:?}",
        lifecycle_taints(&b)
    );

    fleet.reconnect("cloud-a").await.expect("reconnect");
    let node = node_where(&client, "cloud-a", "Ready without lifecycle taints", |n| {
        ready(n).as_deref() == Some("True") && lifecycle_taints(n).is_empty()
    })
    .await;
    assert!(taints(&node).is_empty());
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_pods_are_evicted_after_their_toleration_and_edge_nodes_can_opt_in() {
    let c = Cluster::start_with(&[
        "--controllers",
        "nodelifecycle",
        "--node-monitor-grace-period",
        "3s",
        "--node-eviction-rate",
        "100",
        "--default-unreachable-toleration-seconds",
        "2",
    ]);
    let client = c.client().await;
    let fleet = start_fleet(
        &c,
        fast_config([
            NodeSpec::new("cloud-a"),
            NodeSpec::new("cloud-b"),
            edge("edge-x"),
        ]),
    )
    .await;
    kubectl(
        &c,
        &["annotate", "node", "edge-x", "verge.dev/eviction=enabled"],
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    for pod in [
        bound_pod("doomed", "cloud-a", "Always", &[]),
        pod_with_tolerations(
            "stays",
            "cloud-a",
            json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}]),
        ),
        bound_pod("opted-in-node", "edge-x", "Always", &[]),
    ] {
        pods.create(&pp, &pod).await.expect("create pod");
    }
    for name in ["doomed", "stays", "opted-in-node"] {
        running(&pods, name).await;
    }
    // The API server gave the first pod the default tolerations.
    let doomed = pods.get("doomed").await.expect("doomed");
    let tolerations = doomed
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    assert!(
        tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some(UNREACHABLE) && t.toleration_seconds == Some(2)),
        "{tolerations:?}"
    );

    fleet.disconnect("cloud-a").await.expect("disconnect");
    fleet.disconnect("edge-x").await.expect("disconnect");
    // Pods on an unreachable node are marked not ready first.
    pod_where(&pods, "stays", "marked not ready", |p| {
        pod_ready(p).as_deref() == Some("False")
    })
    .await;
    let node = node_where(&client, "cloud-a", "tainted NoExecute", |n| {
        has_taint(n, UNREACHABLE, "NoExecute")
    })
    .await;
    let tainted_at = taints(&node)
        .into_iter()
        .find(|t| t.effect == "NoExecute")
        .and_then(|t| t.time_added)
        .expect("timeAdded")
        .0;

    for name in ["doomed", "opted-in-node"] {
        let evicted = pod_where(&pods, name, "evicted", |p| {
            p.metadata.deletion_timestamp.is_some()
        })
        .await;
        let target = evicted
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "DisruptionTarget"))
            .expect("DisruptionTarget condition");
        assert_eq!(target.reason.as_deref(), Some("DeletionByTaintManager"));
        if name == "doomed" {
            // Both times have whole-second precision on the wire.
            let waited = evicted_at(&evicted) - tainted_at.as_second();
            assert!(
                waited >= 2,
                "evicted {waited}s after the taint, before its 2 s toleration"
            );
        }
    }
    let events = kubectl(
        &c,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=doomed",
        ],
    )
    .await;
    assert!(events.contains("TaintManagerEviction"), "{events}");
    assert!(
        events.contains("Marking for deletion Pod default/doomed"),
        "{events}"
    );
    // Tolerating for ever is honoured.
    let stays = pods.get("stays").await.expect("stays");
    assert!(stays.metadata.deletion_timestamp.is_none());

    // Back online: the nodes confirm the evictions and keep the rest.
    fleet.reconnect("cloud-a").await.expect("reconnect");
    fleet.reconnect("edge-x").await.expect("reconnect");
    wait_for("evicted pods gone", T, || async {
        let left: Vec<String> = pods
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        (left == vec!["stays".to_owned()]).then_some(())
    })
    .await;
    running(&pods, "stays").await;
    assert_eq!(believed(&fleet, "cloud-a"), vec!["stays"]);
    assert!(believed(&fleet, "edge-x").is_empty());
    fleet.stop().await;
}

/// Pods of a Deployment on an edge node that loses its link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_pods_survive_a_partition_and_nothing_is_duplicated() {
    let c = Cluster::start_with(&[
        "--node-monitor-grace-period",
        "3s",
        "--node-eviction-rate",
        "100",
        "--default-unreachable-toleration-seconds",
        "2",
        "--default-not-ready-toleration-seconds",
        "2",
    ]);
    let client = c.client().await;
    let fleet = start_fleet(
        &c,
        fast_config([edge("edge-a"), edge("edge-b"), NodeSpec::new("cloud-1")]),
    )
    .await;
    c.apply(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {node-role.kubernetes.io/edge: ""}
      containers: [{name: web, image: registry.example/web:1}]
"#,
    );
    kubectl(
        &c,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let web = ListParams::default().labels("app=web");
    let before: BTreeMap<String, (String, String)> = pods
        .list(&web)
        .await
        .expect("list")
        .items
        .iter()
        .map(|p| {
            let node = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default();
            (p.metadata.name.clone().unwrap_or_default(), (uid(p), node))
        })
        .collect();
    assert_eq!(before.len(), 3);
    // The edge node running the most of them goes dark.
    let count = |n: &str| before.values().filter(|(_, node)| node == n).count();
    let dark = if count("edge-a") >= count("edge-b") {
        "edge-a"
    } else {
        "edge-b"
    };
    let on_dark: Vec<String> = before
        .iter()
        .filter(|(_, (_, n))| n == dark)
        .map(|(name, _)| name.clone())
        .collect();
    assert!(!on_dark.is_empty());
    // A canary that opted in to eviction, with the same seconds as the
    // defaults: when it goes, the web pods would have gone too on a cloud node.
    pods.create(
        &PostParams::default(),
        &pod_with_tolerations(
            "canary",
            dark,
            json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}]),
        ),
    )
    .await
    .expect("canary");
    running(&pods, "canary").await;

    fleet.disconnect(dark).await.expect("disconnect");
    node_where(&client, dark, "Unknown and tainted", |n| {
        ready(n).as_deref() == Some("Unknown") && has_taint(n, UNREACHABLE, "NoExecute")
    })
    .await;
    pod_where(&pods, "canary", "evicted", |p| {
        p.metadata.deletion_timestamp.is_some()
    })
    .await;

    // Past the would-have-evicted time: the Deployment's pods are all
    // there, unchanged, not deleting; the edge node still runs them.
    let during = pods.list(&web).await.expect("list").items;
    let now: BTreeMap<String, String> = during
        .iter()
        .map(|p| (p.metadata.name.clone().unwrap_or_default(), uid(p)))
        .collect();
    let was: BTreeMap<String, String> = before
        .iter()
        .map(|(n, (u, _))| (n.clone(), u.clone()))
        .collect();
    assert_eq!(now, was, "no pod was replaced or added");
    assert!(
        during
            .iter()
            .all(|p| p.metadata.deletion_timestamp.is_none())
    );
    for p in during
        .iter()
        .filter(|p| on_dark.contains(p.metadata.name.as_ref().expect("name")))
    {
        assert_eq!(
            pod_ready(p).as_deref(),
            Some("False"),
            "the truth is unknown: not ready"
        );
    }
    let running_there = believed(&fleet, dark);
    for name in &on_dark {
        assert!(running_there.contains(name), "{running_there:?}");
    }
    let deploy = kubectl(
        &c,
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
    )
    .await;
    assert_eq!(deploy, "3");

    fleet.reconnect(dark).await.expect("reconnect");
    node_where(&client, dark, "Ready without lifecycle taints", |n| {
        ready(n).as_deref() == Some("True") && lifecycle_taints(n).is_empty()
    })
    .await;
    kubectl(
        &c,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    )
    .await;
    let after: BTreeMap<String, String> = pods
        .list(&web)
        .await
        .expect("list")
        .items
        .iter()
        .map(|p| (p.metadata.name.clone().unwrap_or_default(), uid(p)))
        .collect();
    assert_eq!(after, was, "same pods, same uids after the edge came back");
    let running_there = believed(&fleet, dark);
    assert!(
        !running_there.contains(&"canary".to_owned()),
        "the evicted canary stopped"
    );
    for name in &on_dark {
        assert!(running_there.contains(name), "{running_there:?}");
    }
    fleet.stop().await;
}

/// Every node unreachable at once: the control plane is the one cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_of_the_whole_fleet_evicts_nothing() {
    let c = Cluster::start_with(&[
        "--controllers",
        "nodelifecycle",
        "--node-monitor-grace-period",
        "3s",
        "--node-eviction-rate",
        "100",
        "--default-unreachable-toleration-seconds",
        "3",
    ]);
    let client = c.client().await;
    let names = ["cloud-a", "cloud-b", "cloud-c"];
    let fleet = start_fleet(&c, fast_config(names.map(NodeSpec::new))).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for n in names {
        pods.create(
            &PostParams::default(),
            &bound_pod(&format!("on-{n}"), n, "Always", &[]),
        )
        .await
        .expect("pod");
    }
    let mut uids = BTreeMap::new();
    for n in names {
        uids.insert(n, uid(&running(&pods, &format!("on-{n}")).await));
    }
    for n in names {
        fleet.disconnect(n).await.expect("disconnect");
    }
    for n in names {
        node_where(&client, n, "Unknown", |node| {
            ready(node).as_deref() == Some("Unknown")
        })
        .await;
    }
    // A node may be tainted NoExecute for a moment before the others turn
    // Unknown; once all have, no NoExecute taint is left.
    let nodes: Api<Node> = Api::all(client.clone());
    wait_for("NoExecute taints lifted", T, || async {
        let list = nodes.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .all(|n| {
                has_taint(n, UNREACHABLE, "NoSchedule") && !has_taint(n, UNREACHABLE, "NoExecute")
            })
            .then_some(())
    })
    .await;
    // Watch for longer than the 3 s toleration: nothing is evicted.
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        for n in names {
            let p = pods.get(&format!("on-{n}")).await.expect("pod still there");
            assert!(
                p.metadata.deletion_timestamp.is_none(),
                "on-{n} was evicted"
            );
        }
        let list = nodes.list(&ListParams::default()).await.expect("nodes");
        assert!(
            list.items
                .iter()
                .all(|n| !has_taint(n, UNREACHABLE, "NoExecute"))
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for n in names {
        fleet.reconnect(n).await.expect("reconnect");
    }
    for n in names {
        node_where(&client, n, "Ready without lifecycle taints", |node| {
            ready(node).as_deref() == Some("True") && lifecycle_taints(node).is_empty()
        })
        .await;
        let p = running(&pods, &format!("on-{n}")).await;
        assert_eq!(uid(&p), uids[n]);
    }
    fleet.stop().await;
}

/// Kubernetes' behaviour for cloud nodes: a Deployment's pods on a lost node
/// are evicted and replaced on a healthy one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_deployments_are_replaced_on_healthy_nodes() {
    let c = Cluster::start_with(&[
        "--node-monitor-grace-period",
        "3s",
        "--node-eviction-rate",
        "100",
        "--default-unreachable-toleration-seconds",
        "2",
    ]);
    let client = c.client().await;
    let fleet = start_fleet(
        &c,
        fast_config([NodeSpec::new("cloud-a"), NodeSpec::new("cloud-b")]),
    )
    .await;
    // Both replicas on cloud-a, so its loss is what is tested.
    kubectl(&c, &["cordon", "cloud-b"]).await;
    c.apply(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: registry.example/api:1}]
"#,
    );
    kubectl(
        &c,
        &["rollout", "status", "deployment/api", "--timeout=60s"],
    )
    .await;
    kubectl(&c, &["uncordon", "cloud-b"]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let api = ListParams::default().labels("app=api");
    let first: Vec<String> = pods
        .list(&api)
        .await
        .expect("pods")
        .items
        .iter()
        .map(uid)
        .collect();

    fleet.disconnect("cloud-a").await.expect("disconnect");
    // Two new pods, Running and Ready on cloud-b; the evicted ones wait,
    // terminating, for their node to confirm.
    let on_b = wait_for("replacements on cloud-b", T, || async {
        let items = pods.list(&api).await.ok()?.items;
        let fresh: Vec<&Pod> = items
            .iter()
            .filter(|p| !first.contains(&uid(p)) && p.metadata.deletion_timestamp.is_none())
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("cloud-b"))
            .filter(|p| pod_ready(p).as_deref() == Some("True"))
            .collect();
        let evicted = items
            .iter()
            .filter(|p| first.contains(&uid(p)) && p.metadata.deletion_timestamp.is_some())
            .count();
        (fresh.len() == 2 && evicted == 2).then(|| fresh.iter().map(|p| uid(p)).collect::<Vec<_>>())
    })
    .await;
    let metrics = kubectl(&c, &["get", "--raw", "/metrics"]).await;
    assert!(
        metrics.contains("verge_node_lifecycle_evictions_total{node_kind=\"cloud\"} 2"),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("node_lifecycle"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The lost node comes back and confirms the deletions: two pods remain.
    fleet.reconnect("cloud-a").await.expect("reconnect");
    wait_for("only the replacements left", T, || async {
        let mut left: Vec<String> = pods.list(&api).await.ok()?.items.iter().map(uid).collect();
        left.sort();
        let mut want = on_b.clone();
        want.sort();
        (left == want).then_some(())
    })
    .await;
    assert!(believed(&fleet, "cloud-a").is_empty());
    fleet.stop().await;
}

/// The controller's decisions survive a restart of the server: a node that
/// was Unknown stays Unknown and tainted, an eviction deadline counts from
/// the taint, and edge pods are still spared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_survive_a_server_restart() {
    // The grace period also bounds how soon after the restart the healthy
    // node must heartbeat again: were it silent that long, the whole fleet
    // would look cut off, taints would be lifted and put back with a new
    // timeAdded (as kube-controller-manager does), and the deadline would
    // rightly move. 5 s leaves a loaded machine room to reconnect.
    let flags = [
        "--controllers",
        "nodelifecycle",
        "--node-monitor-grace-period",
        "5s",
        "--node-eviction-rate",
        "100",
        "--default-unreachable-toleration-seconds",
        "10",
    ];
    let mut c = Cluster::start_with(&flags);
    let client = c.client().await;
    let fleet = start_fleet(
        &c,
        fast_config([
            NodeSpec::new("cloud-a"),
            edge("edge-a"),
            NodeSpec::new("cloud-b"),
        ]),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, node) in [("on-cloud", "cloud-a"), ("on-edge", "edge-a")] {
        pods.create(
            &PostParams::default(),
            &bound_pod(name, node, "Always", &[]),
        )
        .await
        .expect("pod");
        running(&pods, name).await;
    }
    fleet.disconnect("cloud-a").await.expect("disconnect");
    fleet.disconnect("edge-a").await.expect("disconnect");
    let tainted = node_where(&client, "cloud-a", "tainted NoExecute", |n| {
        has_taint(n, UNREACHABLE, "NoExecute")
    })
    .await;
    let tainted_at = taints(&tainted)
        .into_iter()
        .find(|t| t.effect == "NoExecute")
        .and_then(|t| t.time_added)
        .expect("timeAdded")
        .0;
    node_where(&client, "edge-a", "tainted NoExecute", |n| {
        has_taint(n, UNREACHABLE, "NoExecute")
    })
    .await;

    wait_for("3 s after the taint", T, || async {
        (epoch_seconds() >= tainted_at.as_second() + 3).then_some(())
    })
    .await;
    c.restart();
    let up = epoch_seconds();
    let client = c.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let evicted = pod_where(&pods, "on-cloud", "evicted after the restart", |p| {
        p.metadata.deletion_timestamp.is_some()
    })
    .await;
    let at = evicted_at(&evicted);
    let tainted = tainted_at.as_second();
    // Counted from the taint, not from the restart: not before 10 s, and as
    // soon as the server is back if that is later — not a fresh 10 s after
    // a restart made 3 s after the taint.
    assert!(
        at - tainted >= 10,
        "evicted {}s after the taint",
        at - tainted
    );
    assert!(
        at <= (tainted + 11).max(up + 2),
        "evicted {}s after the taint and {}s after the restart",
        at - tainted,
        at - up
    );
    let nodes: Api<Node> = Api::all(client.clone());
    for n in ["cloud-a", "edge-a"] {
        let node = nodes.get(n).await.expect("node");
        assert_eq!(ready(&node).as_deref(), Some("Unknown"), "{n}");
        assert!(has_taint(&node, UNREACHABLE, "NoExecute"), "{n}");
    }
    let edge_pod = pods.get("on-edge").await.expect("edge pod");
    assert!(edge_pod.metadata.deletion_timestamp.is_none());
    // The healthy node kept its status through the restart.
    node_where(&client, "cloud-b", "Ready", |n| {
        ready(n).as_deref() == Some("True")
    })
    .await;
    fleet.stop().await;
}
