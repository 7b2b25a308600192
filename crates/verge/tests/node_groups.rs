//! NodeGroups and GroupedDeployments against a real `verge server` with
//! hollow nodes, driven with kubectl: membership labels, status, conflicts
//! and bad selectors; one Deployment per group with overrides, pinned to
//! the group's nodes, kept in line with its GroupedDeployment.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Cluster;
use common::hollow::{fast_config, kubectl, kubectl_output, start_fleet, wait_for};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams};
use verge_hollow::NodeSpec;

const T: Duration = Duration::from_secs(30);
const GROUP: &str = "verge.dev/node-group";

fn site(name: &str, site: &str) -> NodeSpec {
    NodeSpec::new(name)
        .label("node-role.kubernetes.io/edge", "")
        .label("site", site)
}

/// Waits until kubectl's output (trimmed) is `want`.
async fn kubectl_says(c: &Cluster, args: &[&str], want: &str) {
    let deadline = Instant::now() + T;
    loop {
        let out = kubectl_output(c, args).await;
        let got = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "kubectl {} printed {got:?}, not {want:?}, for {T:?}\nstderr: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Node name → its group label, for every node.
async fn groups_of(client: &kube::Client) -> Vec<(String, Option<String>)> {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut out: Vec<(String, Option<String>)> = nodes
        .list(&ListParams::default())
        .await
        .expect("nodes")
        .items
        .into_iter()
        .map(|n| {
            let g = n
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(GROUP).cloned());
            (n.metadata.name.unwrap_or_default(), g)
        })
        .collect();
    out.sort();
    out
}

async fn memberships_are(client: &kube::Client, want: &[(&str, Option<&str>)]) {
    let want: Vec<(String, Option<String>)> = want
        .iter()
        .map(|(n, g)| (n.to_string(), g.map(str::to_owned)))
        .collect();
    wait_for(&format!("node groups {want:?}"), T, || async {
        (groups_of(client).await == want).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_groups_label_their_members_and_report_them() {
    let c = Cluster::start_with(&["--controllers", "nodegroup"]);
    let client = c.client().await;
    let fleet = start_fleet(
        &c,
        fast_config([
            site("b1", "berlin"),
            site("b2", "berlin"),
            site("p1", "paris"),
            NodeSpec::new("cloud"),
        ]),
    )
    .await;

    // Served like any CRD: discovery, OpenAPI, short names.
    let resources = kubectl(&c, &["api-resources", "--api-group", "apps.verge.dev"]).await;
    assert!(
        resources.contains("nodegroups") && resources.contains("ng"),
        "{resources}"
    );
    assert!(resources.contains("groupeddeployments"), "{resources}");
    let explain = kubectl(&c, &["explain", "nodegroup.spec.selector"]).await;
    assert!(explain.contains("verge.dev/node-group"), "{explain}");

    c.apply(
        r#"
apiVersion: apps.verge.dev/v1alpha1
kind: NodeGroup
metadata: {name: berlin}
spec:
  selector: {matchLabels: {site: berlin}}
---
apiVersion: apps.verge.dev/v1alpha1
kind: NodeGroup
metadata: {name: paris}
spec:
  nodes: [p1]
"#,
    );
    memberships_are(
        &client,
        &[
            ("b1", Some("berlin")),
            ("b2", Some("berlin")),
            ("cloud", None),
            ("p1", Some("paris")),
        ],
    )
    .await;
    kubectl_says(
        &c,
        &[
            "get",
            "ng",
            "berlin",
            "-o",
            "jsonpath={.status.nodeCount}/{.status.readyNodes}",
        ],
        "2/2",
    )
    .await;
    kubectl_says(
        &c,
        &["get", "ng", "berlin", "-o", "jsonpath={.status.nodes}"],
        r#"["b1","b2"]"#,
    )
    .await;
    let table = kubectl(&c, &["get", "nodegroups"]).await;
    let header = table.lines().next().unwrap_or_default();
    assert!(
        header.contains("NODES") && header.contains("READY") && header.contains("AGE"),
        "{table}"
    );
    // Pinning to a group is a nodeSelector on the label.
    let pinned = kubectl(
        &c,
        &[
            "get",
            "nodes",
            "-l",
            "verge.dev/node-group=berlin",
            "-o",
            "name",
        ],
    )
    .await;
    assert_eq!(
        pinned.lines().collect::<Vec<_>>(),
        vec!["node/b1", "node/b2"]
    );

    // A later group selecting everything gets what nobody else has, and
    // reports the rest as conflicts. Ages count in whole seconds (ties go
    // by name), so it is created in a later second than the others.
    let created = kubectl(
        &c,
        &[
            "get",
            "ng",
            "paris",
            "-o",
            "jsonpath={.metadata.creationTimestamp}",
        ],
    )
    .await;
    let created: Time =
        serde_json::from_value(serde_json::Value::from(created.trim())).expect("time");
    let created = created.0.as_second();
    wait_for("a later second", T, || async {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        (i64::try_from(now).ok()? > created).then_some(())
    })
    .await;
    c.apply(
        r#"
apiVersion: apps.verge.dev/v1alpha1
kind: NodeGroup
metadata: {name: everything}
spec:
  selector: {}
"#,
    );
    memberships_are(
        &client,
        &[
            ("b1", Some("berlin")),
            ("b2", Some("berlin")),
            ("cloud", Some("everything")),
            ("p1", Some("paris")),
        ],
    )
    .await;
    kubectl_says(
        &c,
        &[
            "get",
            "ng",
            "everything",
            "-o",
            "jsonpath={.status.conflicts[*].node}",
        ],
        "b1 b2 p1",
    )
    .await;

    // Labels move nodes between groups: p1 now matches berlin, which is
    // older than paris.
    kubectl(&c, &["label", "node", "p1", "site=berlin", "--overwrite"]).await;
    memberships_are(
        &client,
        &[
            ("b1", Some("berlin")),
            ("b2", Some("berlin")),
            ("cloud", Some("everything")),
            ("p1", Some("berlin")),
        ],
    )
    .await;
    kubectl_says(
        &c,
        &[
            "get",
            "ng",
            "paris",
            "-o",
            "jsonpath={.status.nodeCount} {.status.conflicts[0].nodeGroup}",
        ],
        "0 berlin",
    )
    .await;

    // A bad selector is reported and freezes the group's members.
    c.apply(
        r#"
apiVersion: apps.verge.dev/v1alpha1
kind: NodeGroup
metadata: {name: berlin}
spec:
  selector:
    matchExpressions: [{key: site, operator: Near, values: [berlin]}]
"#,
    );
    kubectl_says(
        &c,
        &[
            "get",
            "ng",
            "berlin",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Valid\")].reason}",
        ],
        "InvalidSelector",
    )
    .await;
    let describe = kubectl(&c, &["describe", "ng", "berlin"]).await;
    assert!(describe.contains("InvalidSelector"), "{describe}");
    assert_eq!(
        groups_of(&client)
            .await
            .iter()
            .filter(|(_, g)| g.as_deref() == Some("berlin"))
            .count(),
        3
    );

    // Deleting a group hands its nodes to the next claimant.
    kubectl(&c, &["delete", "ng", "berlin"]).await;
    memberships_are(
        &client,
        &[
            ("b1", Some("everything")),
            ("b2", Some("everything")),
            ("cloud", Some("everything")),
            ("p1", Some("paris")),
        ],
    )
    .await;
    kubectl(&c, &["delete", "ng", "everything", "paris"]).await;
    memberships_are(
        &client,
        &[("b1", None), ("b2", None), ("cloud", None), ("p1", None)],
    )
    .await;
    fleet.stop().await;
}

/// Nodes the pods of `deployment` run on.
async fn nodes_of(client: &kube::Client, group: &str, app: &str) -> BTreeSet<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.list(&ListParams::default().labels(&format!("app={app},{GROUP}={group}")))
        .await
        .expect("pods")
        .items
        .into_iter()
        .filter_map(|p| p.spec.and_then(|s| s.node_name))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_deployments_run_one_copy_per_group() {
    let c = Cluster::start();
    let client = c.client().await;
    let fleet = start_fleet(
        &c,
        fast_config([
            site("b1", "berlin"),
            site("b2", "berlin"),
            site("p1", "paris"),
            site("r1", "rome"),
            NodeSpec::new("cloud"),
        ]),
    )
    .await;
    c.apply(
        r#"
apiVersion: apps.verge.dev/v1alpha1
kind: NodeGroup
metadata: {name: berlin, labels: {tier: edge}}
spec: {selector: {matchLabels: {site: berlin}}}
---
apiVersion: apps.verge.dev/v1alpha1
kind: NodeGroup
metadata: {name: paris, labels: {tier: edge}}
spec: {selector: {matchLabels: {site: paris}}}
---
apiVersion: apps.verge.dev/v1alpha1
kind: GroupedDeployment
metadata: {name: web, namespace: default}
spec:
  nodeGroups:
  - name: berlin
  - name: paris
    replicas: 1
    images: {web: registry.example/web:2-slim}
  deploymentTemplate:
    metadata: {labels: {team: shop}}
    spec:
      replicas: 2
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers: [{name: web, image: registry.example/web:1}]
"#,
    );
    kubectl_says(
        &c,
        &[
            "get",
            "deploy",
            "-l",
            "apps.verge.dev/grouped-deployment=web",
            "-o",
            "name",
        ],
        "deployment.apps/web-berlin\ndeployment.apps/web-paris",
    )
    .await;
    kubectl(
        &c,
        &[
            "rollout",
            "status",
            "deployment/web-berlin",
            "--timeout=60s",
        ],
    )
    .await;
    kubectl(
        &c,
        &["rollout", "status", "deployment/web-paris", "--timeout=60s"],
    )
    .await;
    let paris = kubectl(
        &c,
        &["get", "deploy", "web-paris", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.nodeSelector}"],
    )
    .await;
    assert_eq!(
        paris,
        r#"1 registry.example/web:2-slim {"verge.dev/node-group":"paris"}"#
    );
    // Each copy runs only in its group.
    assert_eq!(
        nodes_of(&client, "paris", "web").await,
        BTreeSet::from(["p1".to_owned()])
    );
    let berlin_nodes = nodes_of(&client, "berlin", "web").await;
    assert!(
        !berlin_nodes.is_empty() && berlin_nodes.iter().all(|n| n == "b1" || n == "b2"),
        "{berlin_nodes:?}"
    );
    kubectl_says(
        &c,
        &[
            "get",
            "gdeploy",
            "web",
            "-o",
            "jsonpath={.status.groupCount} {.status.replicas} {.status.readyReplicas}",
        ],
        "2 3 3",
    )
    .await;
    let table = kubectl(&c, &["get", "groupeddeployments"]).await;
    assert!(
        table.lines().next().unwrap_or_default().contains("GROUPS"),
        "{table}"
    );

    // A template change reaches every group; the paris image override stays.
    kubectl(
        &c,
        &["patch", "gdeploy", "web", "--type=json", "-p", r#"[{"op":"replace","path":"/spec/deploymentTemplate/spec/template/spec/containers/0/image","value":"registry.example/web:3"}]"#],
    )
    .await;
    kubectl_says(
        &c,
        &[
            "get",
            "deploy",
            "web-berlin",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
        "registry.example/web:3",
    )
    .await;
    let img = kubectl(
        &c,
        &[
            "get",
            "deploy",
            "web-paris",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
    )
    .await;
    assert_eq!(img, "registry.example/web:2-slim");
    // Edits to a copy are undone: the GroupedDeployment is the source.
    kubectl(&c, &["scale", "deployment", "web-berlin", "--replicas=5"]).await;
    kubectl_says(
        &c,
        &[
            "get",
            "deploy",
            "web-berlin",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
        "2",
    )
    .await;

    // Groups selected by label: a new matching group gets its copy.
    c.apply(
        r#"
apiVersion: apps.verge.dev/v1alpha1
kind: GroupedDeployment
metadata: {name: agent, namespace: default}
spec:
  nodeGroupSelector: {matchLabels: {tier: edge}}
  deploymentTemplate:
    spec:
      replicas: 1
      selector: {matchLabels: {app: agent}}
      template:
        metadata: {labels: {app: agent}}
        spec:
          containers: [{name: agent, image: registry.example/agent:1}]
"#,
    );
    kubectl_says(
        &c,
        &[
            "get",
            "deploy",
            "-l",
            "apps.verge.dev/grouped-deployment=agent",
            "-o",
            "name",
        ],
        "deployment.apps/agent-berlin\ndeployment.apps/agent-paris",
    )
    .await;
    c.apply(
        r#"
apiVersion: apps.verge.dev/v1alpha1
kind: NodeGroup
metadata: {name: rome, labels: {tier: edge}}
spec: {nodes: [r1]}
"#,
    );
    kubectl_says(
        &c,
        &[
            "get",
            "deploy",
            "agent-rome",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ],
        "1",
    )
    .await;
    assert_eq!(
        nodes_of(&client, "rome", "agent").await,
        BTreeSet::from(["r1".to_owned()])
    );

    // A group dropped from the list loses its copy.
    kubectl(
        &c,
        &[
            "patch",
            "gdeploy",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/spec/nodeGroups/1"}]"#,
        ],
    )
    .await;
    kubectl_says(
        &c,
        &[
            "get",
            "deploy",
            "-l",
            "apps.verge.dev/grouped-deployment=web",
            "-o",
            "name",
        ],
        "deployment.apps/web-berlin",
    )
    .await;

    // A bad override is reported, not retried hot; what runs keeps running.
    kubectl(
        &c,
        &[
            "patch",
            "gdeploy",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"nodeGroups":[{"name":"berlin","images":{"sidecar":"x:1"}}]}}"#,
        ],
    )
    .await;
    kubectl_says(
        &c,
        &[
            "get",
            "gdeploy",
            "web",
            "-o",
            "jsonpath={.status.groups[0].message}",
        ],
        "nodeGroups[berlin].images names container \"sidecar\", which the template does not have",
    )
    .await;
    let describe = kubectl(&c, &["describe", "gdeploy", "web"]).await;
    assert!(describe.contains("InvalidTemplate"), "{describe}");
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    assert!(deploys.get_opt("web-berlin").await.expect("get").is_some());

    // Deleting the GroupedDeployment takes its Deployments with it.
    kubectl(&c, &["delete", "gdeploy", "web"]).await;
    kubectl_says(
        &c,
        &[
            "get",
            "deploy",
            "-l",
            "apps.verge.dev/grouped-deployment=web",
            "-o",
            "name",
        ],
        "",
    )
    .await;
    fleet.stop().await;
}
