//! The scheduler against a real `verge server` (only the scheduler runs, so
//! what binds pods is the scheduler alone), with hollow nodes that report
//! Ready, run the pods bound to them and confirm deletions. Pods and nodes
//! are driven with kubectl; results are read back with kube-rs and kubectl.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Cluster;
use common::hollow::{fast_config, kubectl, kubectl_output, start_fleet, wait_for};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use verge_hollow::{Fleet, NodeSpec};

const T: Duration = Duration::from_secs(30);
const ZONE: &str = "topology.kubernetes.io/zone";

fn scheduler_only() -> Cluster {
    Cluster::start_with(&["--controllers", "scheduler"])
}

async fn apply(c: &Cluster, manifest: &str) {
    let mut cmd = c.kubectl_cmd();
    cmd.args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let manifest = manifest.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd.spawn().expect("kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(manifest.as_bytes())
            .expect("write manifest");
        child.wait_with_output().expect("kubectl output")
    })
    .await
    .expect("kubectl thread");
    assert!(
        out.status.success(),
        "kubectl apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A pod manifest: `name`, labels `app: <app>`, a container requesting
/// `cpu` (if any), and `extra` YAML appended to the spec (indented 2).
fn pod_yaml(name: &str, app: &str, cpu: Option<&str>, extra: &str) -> String {
    let resources = cpu.map_or(String::new(), |cpu| {
        format!("\n    resources:\n      requests:\n        cpu: \"{cpu}\"")
    });
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: {app}\nspec:\n  containers:\n  - name: main\n    image: registry.example/app:1{resources}\n{extra}\n---\n"
    )
}

async fn bound_node(pods: &Api<Pod>, name: &str) -> String {
    wait_for(&format!("pod {name} bound"), T, || async {
        pods.get_opt(name)
            .await
            .ok()
            .flatten()
            .and_then(|p| p.spec?.node_name)
    })
    .await
}

fn scheduled_condition(p: &Pod) -> Option<(String, String, String)> {
    let c = p
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")?;
    Some((
        c.status.clone(),
        c.reason.clone().unwrap_or_default(),
        c.message.clone().unwrap_or_default(),
    ))
}

/// Waits until the pod is Pending with PodScheduled=False/Unschedulable and
/// the message satisfies `ok`; returns the message.
async fn unschedulable(pods: &Api<Pod>, name: &str, ok: impl Fn(&str) -> bool) -> String {
    wait_for(&format!("pod {name} reported unschedulable"), T, || async {
        let p = pods.get_opt(name).await.ok().flatten()?;
        if p.spec.as_ref()?.node_name.is_some() {
            return None;
        }
        let (status, reason, message) = scheduled_condition(&p)?;
        (status == "False" && reason == "Unschedulable" && ok(&message)).then_some(message)
    })
    .await
}

async fn fleet(c: &Cluster, nodes: impl IntoIterator<Item = NodeSpec>) -> Fleet {
    start_fleet(c, fast_config(nodes)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_selector_affinity_and_extended_resources_place_pods() {
    let c = scheduler_only();
    let client = c.client().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let _fleet = fleet(
        &c,
        [
            NodeSpec::new("n-a")
                .label(ZONE, "a")
                .label("disk", "ssd")
                .label("cores", "4"),
            NodeSpec::new("n-b").label(ZONE, "b").label("cores", "16"),
            NodeSpec::new("n-c")
                .label(ZONE, "c")
                .label("cores", "8")
                .capacity("nvidia.com/gpu", "2"),
        ],
    )
    .await;

    let terms = |expr: &str| {
        format!(
            "  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - {expr}"
        )
    };
    let manifest = [
        pod_yaml("by-selector", "x", None, "  nodeSelector:\n    disk: ssd"),
        pod_yaml(
            "by-in",
            "x",
            None,
            &terms("matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [b]}]"),
        ),
        pod_yaml(
            "by-notin-exists",
            "x",
            None,
            &terms("matchExpressions: [{key: topology.kubernetes.io/zone, operator: NotIn, values: [a, b]}, {key: cores, operator: Exists}]"),
        ),
        pod_yaml(
            "by-gt-lt",
            "x",
            None,
            &terms("matchExpressions: [{key: cores, operator: Gt, values: [\"5\"]}, {key: cores, operator: Lt, values: [\"10\"]}]"),
        ),
        pod_yaml(
            "by-does-not-exist",
            "x",
            None,
            &terms("matchExpressions: [{key: disk, operator: DoesNotExist}, {key: cores, operator: Gt, values: [\"10\"]}]"),
        ),
        pod_yaml(
            "by-field",
            "x",
            None,
            &terms("matchFields: [{key: metadata.name, operator: In, values: [n-a]}]"),
        ),
        pod_yaml(
            "preferred",
            "x",
            None,
            "  affinity:\n    nodeAffinity:\n      preferredDuringSchedulingIgnoredDuringExecution:\n      - weight: 100\n        preference:\n          matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [b]}]",
        ),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: gpu\nspec:\n  containers:\n  - name: main\n    image: registry.example/cuda:1\n    resources:\n      limits:\n        nvidia.com/gpu: \"2\"\n"
            .to_owned(),
    ]
    .concat();
    apply(&c, &manifest).await;

    for (pod, node) in [
        ("by-selector", "n-a"),
        ("by-in", "n-b"),
        ("by-notin-exists", "n-c"),
        ("by-gt-lt", "n-c"),
        ("by-does-not-exist", "n-b"),
        ("by-field", "n-a"),
        ("preferred", "n-b"),
        ("gpu", "n-c"),
    ] {
        assert_eq!(bound_node(&pods, pod).await, node, "pod {pod}");
    }
    // The hollow node runs what was bound to it.
    let wide = kubectl(&c, &["get", "pod", "gpu", "-o", "wide"]).await;
    assert!(wide.contains("n-c"), "{wide}");

    // A second GPU pod does not fit anywhere: the GPUs are taken.
    apply(
        &c,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: gpu2\nspec:\n  containers:\n  - name: main\n    image: registry.example/cuda:1\n    resources:\n      limits:\n        nvidia.com/gpu: \"1\"\n",
    )
    .await;
    let msg = unschedulable(&pods, "gpu2", |m| m.starts_with("0/3 nodes are available")).await;
    assert!(msg.contains("3 Insufficient nvidia.com/gpu"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taints_keep_pods_out_with_kube_schedulers_message() {
    let c = scheduler_only();
    let client = c.client().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let _fleet = fleet(
        &c,
        [
            NodeSpec::new("gpu-1").taint("dedicated", Some("gpu"), "NoSchedule"),
            NodeSpec::new("gpu-2").taint("dedicated", Some("gpu"), "NoExecute"),
            NodeSpec::new("small").capacity("cpu", "1"),
        ],
    )
    .await;
    apply(&c, &pod_yaml("web", "web", Some("2"), "")).await;
    let expected = "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}. \
                    preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, \
                    2 Preemption is not helpful for scheduling.";
    let msg = unschedulable(&pods, "web", |_| true).await;
    assert_eq!(msg, expected);

    // kubectl describe shows the condition's event.
    let describe = wait_for("FailedScheduling in kubectl describe", T, || async {
        let d = kubectl(&c, &["describe", "pod", "web"]).await;
        (d.contains("FailedScheduling") && d.contains("untolerated taint {dedicated: gpu}"))
            .then_some(d)
    })
    .await;
    assert!(describe.contains("default-scheduler"), "{describe}");
    assert!(describe.contains("Warning"), "{describe}");

    // A pod that tolerates the taint goes to a tainted node.
    apply(
        &c,
        &pod_yaml(
            "tolerant",
            "web",
            Some("2"),
            "  tolerations:\n  - key: dedicated\n    operator: Equal\n    value: gpu",
        ),
    )
    .await;
    let node = bound_node(&pods, "tolerant").await;
    assert!(node.starts_with("gpu-"), "{node}");

    // Removing a taint is a node change that brings the waiting pod back.
    let other = if node == "gpu-1" { "gpu-2" } else { "gpu-1" };
    let effect = if other == "gpu-1" {
        "NoSchedule"
    } else {
        "NoExecute"
    };
    kubectl(
        &c,
        &["taint", "nodes", other, &format!("dedicated=gpu:{effect}-")],
    )
    .await;
    assert_eq!(bound_node(&pods, "web").await, other);

    // One FailedScheduling Event for the pod however often it was retried.
    let events: Api<Event> = Api::default_namespaced(client.clone());
    let failed = events
        .list(&ListParams::default().fields("involvedObject.name=web,reason=FailedScheduling"))
        .await
        .expect("events");
    assert_eq!(failed.items.len(), 1, "{:?}", failed.items);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_pods_are_scheduled_once_room_is_freed() {
    let c = scheduler_only();
    let client = c.client().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let _fleet = fleet(&c, [NodeSpec::new("only").capacity("cpu", "2")]).await;
    apply(&c, &pod_yaml("big", "a", Some("1500m"), "")).await;
    assert_eq!(bound_node(&pods, "big").await, "only");
    apply(&c, &pod_yaml("waiting", "b", Some("1"), "")).await;
    let msg = unschedulable(&pods, "waiting", |_| true).await;
    assert_eq!(
        msg,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: \
         1 No preemption victims found for incoming pod."
    );
    let status = kubectl(&c, &["get", "pod", "waiting", "--no-headers"]).await;
    assert!(status.contains("Pending"), "{status}");

    // The hollow node confirms the deletion; the pod that waited gets the room.
    kubectl(&c, &["delete", "pod", "big", "--wait=false"]).await;
    assert_eq!(bound_node(&pods, "waiting").await, "only");

    // Waiting was not a busy loop: a handful of attempts, not hundreds.
    let metrics = kubectl(&c, &["get", "--raw", "/metrics"]).await;
    let attempts: f64 = metrics
        .lines()
        .find(|l| {
            l.starts_with("verge_scheduler_schedule_attempts_total{result=\"unschedulable\"}")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("attempts metric");
    assert!(
        (1.0..=5.0).contains(&attempts),
        "{attempts} unschedulable attempts"
    );
    assert!(metrics.contains("verge_scheduler_pod_scheduling_duration_seconds_bucket"));
    assert!(metrics.contains("verge_scheduler_pending_pods{queue=\"unschedulable\"}"));
}

async fn nodes_of(pods: &Api<Pod>, names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for n in names {
        out.push(bound_node(pods, n).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anti_affinity_spreads_over_hostnames_and_affinity_follows_zones() {
    let c = scheduler_only();
    let client = c.client().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let _fleet = fleet(
        &c,
        [
            NodeSpec::new("h1").label(ZONE, "a"),
            NodeSpec::new("h2").label(ZONE, "a"),
            NodeSpec::new("h3").label(ZONE, "b"),
        ],
    )
    .await;
    let anti = "  affinity:\n    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - topologyKey: kubernetes.io/hostname\n        labelSelector:\n          matchLabels:\n            app: web";
    let names: Vec<String> = (0..3).map(|i| format!("web-{i}")).collect();
    let manifest: String = names
        .iter()
        .map(|n| pod_yaml(n, "web", None, anti))
        .collect();
    apply(&c, &manifest).await;
    let mut placed = nodes_of(&pods, &names).await;
    placed.sort();
    assert_eq!(placed, vec!["h1", "h2", "h3"]);

    apply(&c, &pod_yaml("web-3", "web", None, anti)).await;
    let msg = unschedulable(&pods, "web-3", |_| true).await;
    assert_eq!(
        msg,
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. \
         preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    );

    // Required pod affinity by zone: next to the database's zone.
    apply(
        &c,
        &pod_yaml(
            "db",
            "db",
            None,
            "  nodeSelector:\n    kubernetes.io/hostname: h3",
        ),
    )
    .await;
    assert_eq!(bound_node(&pods, "db").await, "h3");
    let affine = "  affinity:\n    podAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - topologyKey: topology.kubernetes.io/zone\n        labelSelector:\n          matchLabels:\n            app: db";
    apply(&c, &pod_yaml("cache", "cache", None, affine)).await;
    assert_eq!(bound_node(&pods, "cache").await, "h3");

    // Preferred anti-affinity steers away from the database's zone.
    let avoid = "  affinity:\n    podAntiAffinity:\n      preferredDuringSchedulingIgnoredDuringExecution:\n      - weight: 100\n        podAffinityTerm:\n          topologyKey: topology.kubernetes.io/zone\n          labelSelector:\n            matchLabels:\n              app: db";
    apply(&c, &pod_yaml("batch", "batch", None, avoid)).await;
    let node = bound_node(&pods, "batch").await;
    assert!(node == "h1" || node == "h2", "{node}");

    // Affinity to pods that exist nowhere cannot be met.
    let nowhere = "  affinity:\n    podAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - topologyKey: topology.kubernetes.io/zone\n        labelSelector:\n          matchLabels:\n            app: ghost";
    apply(&c, &pod_yaml("lonely", "lonely", None, nowhere)).await;
    let msg = unschedulable(&pods, "lonely", |_| true).await;
    assert!(
        msg.starts_with("0/3 nodes are available: 3 node(s) didn't match pod affinity rules."),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_spread_balances_zones() {
    let c = scheduler_only();
    let client = c.client().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let _fleet = fleet(
        &c,
        [
            NodeSpec::new("a-1").label(ZONE, "a"),
            NodeSpec::new("a-2").label(ZONE, "a"),
            NodeSpec::new("a-3").label(ZONE, "a"),
            NodeSpec::new("b-1").label(ZONE, "b"),
            NodeSpec::new("c-1").label(ZONE, "c"),
        ],
    )
    .await;
    let spread = "  topologySpreadConstraints:\n  - maxSkew: 1\n    topologyKey: topology.kubernetes.io/zone\n    whenUnsatisfiable: DoNotSchedule\n    labelSelector:\n      matchLabels:\n        app: api";
    let names: Vec<String> = (0..6).map(|i| format!("api-{i}")).collect();
    // One at a time, as a rollout would create them; each sees the others.
    for n in &names {
        apply(&c, &pod_yaml(n, "api", None, spread)).await;
        bound_node(&pods, n).await;
    }
    let placed = nodes_of(&pods, &names).await;
    let mut per_zone: BTreeMap<char, usize> = BTreeMap::new();
    for n in &placed {
        *per_zone.entry(n.chars().next().unwrap_or('?')).or_default() += 1;
    }
    assert_eq!(
        per_zone,
        BTreeMap::from([('a', 2), ('b', 2), ('c', 2)]),
        "{placed:?}"
    );

    // minDomains 4 with three zones: the missing domain counts as empty, so
    // a seventh pod would make a skew of 3 - 0 > 1.
    let strict = spread.replace("maxSkew: 1", "maxSkew: 1\n    minDomains: 4");
    apply(&c, &pod_yaml("api-6", "api", None, &strict)).await;
    let msg = unschedulable(&pods, "api-6", |_| true).await;
    assert!(
        msg.starts_with(
            "0/5 nodes are available: 5 node(s) didn't match pod topology spread constraints."
        ),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordoned_and_not_ready_nodes_are_never_chosen() {
    let c = scheduler_only();
    let client = c.client().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let _fleet = fleet(&c, [NodeSpec::new("keep"), NodeSpec::new("drain")]).await;
    kubectl(&c, &["cordon", "drain"]).await;
    // A Node object no kubelet reports for: not Ready.
    apply(
        &c,
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: silent\n  labels:\n    kubernetes.io/hostname: silent\n",
    )
    .await;
    let names: Vec<String> = (0..4).map(|i| format!("p-{i}")).collect();
    let manifest: String = names.iter().map(|n| pod_yaml(n, "p", None, "")).collect();
    apply(&c, &manifest).await;
    assert_eq!(nodes_of(&pods, &names).await, vec!["keep"; 4]);

    apply(
        &c,
        &pod_yaml(
            "pinned",
            "p",
            None,
            "  nodeSelector:\n    kubernetes.io/hostname: drain",
        ),
    )
    .await;
    let msg = unschedulable(&pods, "pinned", |_| true).await;
    assert_eq!(
        msg,
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, \
         1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable. \
         preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    kubectl(&c, &["uncordon", "drain"]).await;
    assert_eq!(bound_node(&pods, "pinned").await, "drain");

    // Scheduling gates hold a pod back until they are removed.
    apply(
        &c,
        &pod_yaml(
            "gated",
            "p",
            None,
            "  schedulingGates:\n  - name: example.com/quota",
        ),
    )
    .await;
    let gated = wait_for("the gated pod's condition", T, || async {
        let p = pods.get_opt("gated").await.ok().flatten()?;
        scheduled_condition(&p).filter(|(_, reason, _)| reason == "SchedulingGated")
    })
    .await;
    assert_eq!(
        gated,
        (
            "False".to_owned(),
            "SchedulingGated".to_owned(),
            "Scheduling is blocked due to non-empty scheduling gates".to_owned()
        )
    );
    kubectl(
        &c,
        &[
            "patch",
            "pod",
            "gated",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/spec/schedulingGates"}]"#,
        ],
    )
    .await;
    bound_node(&pods, "gated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_priority_pods_preempt_lower_priority_ones() {
    let c = scheduler_only();
    let client = c.client().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let _fleet = fleet(&c, [NodeSpec::new("edge-1").capacity("cpu", "2")]).await;
    apply(
        &c,
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: low\nvalue: 100\n---\n\
         apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: high\nvalue: 1000\n---\n\
         apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: polite\nvalue: 5000\npreemptionPolicy: Never\n",
    )
    .await;
    apply(
        &c,
        &pod_yaml("batch", "batch", Some("1500m"), "  priorityClassName: low"),
    )
    .await;
    assert_eq!(bound_node(&pods, "batch").await, "edge-1");
    let batch_uid = pods.get("batch").await.expect("batch").metadata.uid;

    apply(
        &c,
        &pod_yaml(
            "critical",
            "critical",
            Some("1"),
            "  priorityClassName: high",
        ),
    )
    .await;
    // The victim goes (the hollow node confirms its deletion) and the
    // preemptor takes its place.
    assert_eq!(bound_node(&pods, "critical").await, "edge-1");
    let now = pods.get_opt("batch").await.expect("get");
    assert!(
        now.is_none() || now.and_then(|p| p.metadata.uid) != batch_uid,
        "the low-priority pod was evicted"
    );
    let critical = pods.get("critical").await.expect("critical");
    assert_eq!(
        critical
            .status
            .and_then(|s| s.nominated_node_name)
            .as_deref(),
        Some("edge-1")
    );
    assert_eq!(critical.spec.and_then(|s| s.priority), Some(1000));
    let events = kubectl(
        &c,
        &[
            "get",
            "events",
            "--field-selector",
            "reason=Preempted",
            "-o",
            "custom-columns=OBJ:.involvedObject.name,MSG:.message",
        ],
    )
    .await;
    let critical_uid = pods
        .get("critical")
        .await
        .expect("critical")
        .metadata
        .uid
        .unwrap_or_default();
    assert!(
        events.contains("batch")
            && events.contains(&format!("Preempted by pod {critical_uid} on node edge-1")),
        "{events}"
    );

    // preemptionPolicy: Never waits instead of evicting.
    apply(
        &c,
        &pod_yaml(
            "patient",
            "patient",
            Some("1500m"),
            "  priorityClassName: polite",
        ),
    )
    .await;
    let msg = unschedulable(&pods, "patient", |_| true).await;
    assert_eq!(
        msg,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    );
    assert_eq!(bound_node(&pods, "critical").await, "edge-1", "not evicted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_classes_are_resolved_at_admission() {
    let c = scheduler_only();
    let pcs = kubectl(&c, &["get", "priorityclasses"]).await;
    assert!(
        pcs.contains("system-cluster-critical") && pcs.contains("2000000000"),
        "{pcs}"
    );
    assert!(
        pcs.contains("system-node-critical") && pcs.contains("2000001000"),
        "{pcs}"
    );

    let out = kubectl_output(
        &c,
        &[
            "run",
            "typo",
            "--image=registry.example/app:1",
            "--overrides",
            r#"{"spec":{"priorityClassName":"hihg"}}"#,
        ],
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"pods "typo" is forbidden: no PriorityClass with name hihg was found"#),
        "{stderr}"
    );
    let missing = kubectl_output(&c, &["get", "pod", "typo"]).await;
    assert!(!missing.status.success(), "nothing was created");

    kubectl(
        &c,
        &[
            "run",
            "agent",
            "--image=registry.example/app:1",
            "--overrides",
            r#"{"spec":{"priorityClassName":"system-node-critical"}}"#,
        ],
    )
    .await;
    let prio = kubectl(
        &c,
        &[
            "get",
            "pod",
            "agent",
            "-o",
            "jsonpath={.spec.priority} {.spec.preemptionPolicy}",
        ],
    )
    .await;
    assert_eq!(prio, "2000001000 PreemptLowerPriority");
    let describe = kubectl(&c, &["describe", "pod", "agent"]).await;
    assert!(
        describe
            .lines()
            .any(|l| l.starts_with("Priority Class Name:") && l.ends_with("system-node-critical")),
        "{describe}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_class_is_computed_at_create() {
    let c = scheduler_only();
    let manifest = [
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: guaranteed\nspec:\n  containers:\n  - name: main\n    image: registry.example/app:1\n    resources:\n      limits:\n        cpu: 500m\n        memory: 128Mi\n---\n",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: burstable\nspec:\n  containers:\n  - name: main\n    image: registry.example/app:1\n    resources:\n      requests:\n        cpu: 100m\n---\n",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: besteffort\nspec:\n  containers:\n  - name: main\n    image: registry.example/app:1\n",
    ]
    .concat();
    apply(&c, &manifest).await;
    for (pod, class) in [
        ("guaranteed", "Guaranteed"),
        ("burstable", "Burstable"),
        ("besteffort", "BestEffort"),
    ] {
        let got = kubectl(
            &c,
            &["get", "pod", pod, "-o", "jsonpath={.status.qosClass}"],
        )
        .await;
        assert_eq!(got, class, "pod {pod}");
        let describe = kubectl(&c, &["describe", "pod", pod]).await;
        assert!(
            describe
                .lines()
                .any(|l| l.starts_with("QoS Class:") && l.ends_with(class)),
            "{describe}"
        );
    }
}
