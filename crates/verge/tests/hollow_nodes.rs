//! Hollow nodes (crate verge-hollow) against a real `verge server`: nodes
//! register Ready and keep their Leases fresh, pods bound to them run with
//! their own IPs, scripted containers exit and restart per restartPolicy,
//! deletions complete because the node confirms them, and a node whose link
//! is cut goes silent without losing its pods.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;
use common::hollow::{
    bound_pod, fast_config, kubectl, kubectl_output, lease_renew_time, node_condition, start_fleet,
    wait_for,
};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, PodCondition};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use verge_hollow::{Fleet, NodeSpec};

const T: Duration = Duration::from_secs(30);

fn condition<'a>(pod: &'a Pod, type_: &str) -> Option<&'a PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

fn is_ready(pod: &Pod) -> bool {
    condition(pod, "Ready").is_some_and(|c| c.status == "True")
}

/// Waits until the pod satisfies `f`; returns it.
async fn pod_where(pods: &Api<Pod>, name: &str, what: &str, f: impl Fn(&Pod) -> bool) -> Pod {
    wait_for(&format!("pod {name} {what}"), T, || async {
        pods.get_opt(name).await.ok().flatten().filter(|p| f(p))
    })
    .await
}

async fn running_and_ready(pods: &Api<Pod>, name: &str) -> Pod {
    pod_where(pods, name, "Running and Ready", |p| {
        phase(p) == Some("Running") && is_ready(p)
    })
    .await
}

/// The pods a hollow node believes it runs, by name.
fn believed(fleet: &Fleet, node: &str) -> Vec<String> {
    fleet
        .running_pods(node)
        .expect("fleet node")
        .into_iter()
        .map(|p| p.name)
        .collect()
}

/// `lastHeartbeatTime` of a Node's Ready condition.
async fn heartbeat(client: &kube::Client, node: &str) -> Option<String> {
    let nodes: Api<Node> = Api::all(client.clone());
    let n = nodes.get(node).await.ok()?;
    let ready = n
        .status?
        .conditions?
        .into_iter()
        .find(|c| c.type_ == "Ready")?;
    serde_json::to_value(ready.last_heartbeat_time?)
        .ok()?
        .as_str()
        .map(str::to_owned)
}

/// Waits until the node's Lease is renewed after `after`; returns the new time.
async fn renewed_after(client: &kube::Client, node: &str, after: &str) -> String {
    wait_for(
        &format!("the Lease of {node} renewed after {after}"),
        T,
        || async {
            lease_renew_time(client, node)
                .await
                .filter(|t| t.as_str() > after)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_register_ready_and_renew_their_leases() {
    let c = Cluster::start();
    let client = c.client().await;
    let fleet = start_fleet(
        &c,
        fast_config([
            NodeSpec::new("hollow-0"),
            NodeSpec::new("hollow-1")
                .capacity("nvidia.com/gpu", "2")
                .label("accelerator", "gpu"),
            NodeSpec::new("hollow-2")
                .taint("dedicated", Some("edge"), "NoSchedule")
                .unschedulable(true),
        ]),
    )
    .await;

    // kubectl sees three Ready nodes with what kubelet reports.
    let wide = kubectl(&c, &["get", "nodes", "-o", "wide"]).await;
    for (name, status, ip) in [
        ("hollow-0", "Ready", "10.64.0.1"),
        ("hollow-1", "Ready", "10.64.0.2"),
        ("hollow-2", "Ready,SchedulingDisabled", "10.64.0.3"),
    ] {
        let line = wide
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from:\n{wide}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], status, "{wide}");
        for want in [
            verge_hollow::KUBELET_VERSION,
            ip,
            verge_hollow::RUNTIME_VERSION,
        ] {
            assert!(cols.contains(&want), "{want} missing for {name}:\n{wide}");
        }
    }

    let nodes: Api<Node> = Api::all(client.clone());
    let n1 = nodes.get("hollow-1").await.expect("node");
    let labels = n1.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["accelerator"], "gpu");
    assert_eq!(labels["kubernetes.io/hostname"], "hollow-1");
    assert_eq!(labels["kubernetes.io/os"], "linux");
    let spec = n1.spec.clone().expect("spec");
    assert_eq!(spec.pod_cidr.as_deref(), Some("10.128.1.0/24"));
    let status = n1.status.clone().expect("status");
    let capacity = status.capacity.clone().unwrap_or_default();
    assert_eq!(capacity["nvidia.com/gpu"].0, "2");
    assert_eq!(capacity["cpu"].0, "4");
    assert_eq!(capacity["memory"].0, "8Gi");
    assert_eq!(capacity["pods"].0, "110");
    assert_eq!(status.allocatable.as_ref(), Some(&capacity));
    let conditions = status.conditions.clone().unwrap_or_default();
    for (t, want) in [
        ("Ready", "True"),
        ("MemoryPressure", "False"),
        ("DiskPressure", "False"),
        ("PIDPressure", "False"),
    ] {
        let cond = conditions
            .iter()
            .find(|c| c.type_ == t)
            .unwrap_or_else(|| panic!("no {t} condition: {conditions:?}"));
        assert_eq!(cond.status, want, "{t}");
        assert!(cond.last_heartbeat_time.is_some() && cond.last_transition_time.is_some());
    }
    let info = status.node_info.clone().expect("nodeInfo");
    assert_eq!(info.kubelet_version, "v1.32.0-verge-hollow");
    assert_eq!(info.container_runtime_version, "hollow://1");
    assert_eq!(
        (info.operating_system.as_str(), info.architecture.as_str()),
        ("linux", "amd64")
    );
    let addresses = status.addresses.clone().unwrap_or_default();
    assert!(
        addresses
            .iter()
            .any(|a| a.type_ == "InternalIP" && a.address == "10.64.0.2")
    );
    assert!(
        addresses
            .iter()
            .any(|a| a.type_ == "Hostname" && a.address == "hollow-1")
    );
    let port = status
        .daemon_endpoints
        .and_then(|d| d.kubelet_endpoint)
        .map(|e| e.port);
    assert_eq!(port, Some(10250));

    let n2 = nodes.get("hollow-2").await.expect("node");
    let spec = n2.spec.expect("spec");
    assert_eq!(spec.unschedulable, Some(true));
    assert!(
        spec.taints
            .unwrap_or_default()
            .iter()
            .any(|t| t.key == "dedicated" && t.effect == "NoSchedule")
    );

    // Each node holds a Lease owned by its Node, renewed over and over.
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    for name in ["hollow-0", "hollow-1", "hollow-2"] {
        let lease = leases.get(name).await.expect("lease");
        let node_uid = nodes.get(name).await.expect("node").metadata.uid;
        let owner = &lease.metadata.owner_references.clone().unwrap_or_default()[0];
        assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("Node", name));
        assert_eq!(Some(owner.uid.clone()), node_uid);
        let spec = lease.spec.expect("lease spec");
        assert_eq!(spec.holder_identity.as_deref(), Some(name));
        assert_eq!(spec.lease_duration_seconds, Some(40));
    }
    let raw = kubectl(
        &c,
        &[
            "get",
            "lease",
            "-n",
            "kube-node-lease",
            "hollow-0",
            "-o",
            "jsonpath={.spec.renewTime}",
        ],
    )
    .await;
    assert!(
        raw.len() == "2006-01-02T15:04:05.000000Z".len() && raw.ends_with('Z'),
        "renewTime in RFC 3339 with microseconds: {raw}"
    );
    let first = lease_renew_time(&client, "hollow-0")
        .await
        .expect("renewTime");
    let second = renewed_after(&client, "hollow-0", &first).await;
    renewed_after(&client, "hollow-0", &second).await;

    // The Ready heartbeat is refreshed too.
    let beat = heartbeat(&client, "hollow-0").await.expect("heartbeat");
    wait_for("a newer Ready heartbeat", T, || async {
        heartbeat(&client, "hollow-0").await.filter(|b| *b > beat)
    })
    .await;
    let stats = fleet.stats();
    assert_eq!((stats.nodes, stats.registered, stats.connected), (3, 3, 3));
    assert!(stats.lease_renewals >= 5, "{stats:?}");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_pods_run_ready_with_their_own_ips() {
    let c = Cluster::start();
    let client = c.client().await;
    let fleet = start_fleet(
        &c,
        fast_config([NodeSpec::new("hollow-0"), NodeSpec::new("hollow-1")]),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let placement = [
        ("web-0", "hollow-0"),
        ("web-1", "hollow-0"),
        ("web-2", "hollow-1"),
    ];
    for (name, node) in placement {
        pods.create(
            &PostParams::default(),
            &bound_pod(name, node, "Always", &[]),
        )
        .await
        .expect("create pod");
    }
    let mut ips = Vec::new();
    for (name, node) in placement {
        let pod = running_and_ready(&pods, name).await;
        let status = pod.status.clone().expect("status");
        let (host_ip, block) = match node {
            "hollow-0" => ("10.64.0.1", "10.128.0."),
            _ => ("10.64.0.2", "10.128.1."),
        };
        assert_eq!(status.host_ip.as_deref(), Some(host_ip));
        let ip = status.pod_ip.clone().expect("podIP");
        assert!(ip.starts_with(block), "{name}: {ip} not in {block}0/24");
        assert_eq!(
            status.pod_ips.as_ref().map(|p| p[0].ip.clone()),
            Some(ip.clone())
        );
        assert!(status.start_time.is_some());
        assert_eq!(status.qos_class.as_deref(), Some("BestEffort"), "kept");
        for t in [
            "PodReadyToStartContainers",
            "Initialized",
            "ContainersReady",
            "Ready",
            "PodScheduled",
        ] {
            let cond = condition(&pod, t).unwrap_or_else(|| panic!("{name}: no {t}"));
            assert_eq!(cond.status, "True", "{name}: {t}");
        }
        let cs = &status.container_statuses.clone().unwrap_or_default()[0];
        assert_eq!(
            (cs.name.as_str(), cs.image.as_str()),
            ("main", "registry.example/app:1")
        );
        assert!(!cs.image_id.is_empty());
        assert!(
            cs.container_id
                .as_deref()
                .is_some_and(|id| id.starts_with("hollow://"))
        );
        assert!(cs.ready);
        assert_eq!(cs.started, Some(true));
        assert_eq!(cs.restart_count, 0);
        assert!(
            cs.state
                .as_ref()
                .and_then(|s| s.running.as_ref())
                .is_some_and(|r| r.started_at.is_some())
        );
        ips.push(ip);
    }
    let mut unique = ips.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "every pod has its own IP: {ips:?}");

    // kubectl shows the IP and the node.
    let wide = kubectl(&c, &["get", "pods", "-o", "wide"]).await;
    for ((name, node), ip) in placement.iter().zip(&ips) {
        let line = wide
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing from:\n{wide}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        // NAME READY STATUS RESTARTS AGE IP NODE ...
        assert_eq!(&cols[1..3], ["1/1", "Running"], "{wide}");
        assert_eq!(cols[5], ip, "{wide}");
        assert_eq!(cols[6], *node, "{wide}");
    }

    // What the nodes believe they run matches the API.
    assert_eq!(believed(&fleet, "hollow-0"), ["web-0", "web-1"]);
    assert_eq!(believed(&fleet, "hollow-1"), ["web-2"]);
    let web2 = pods.get("web-2").await.expect("pod");
    let belief = &fleet.running_pods("hollow-1").expect("node")[0];
    assert_eq!(Some(&belief.uid), web2.metadata.uid.as_ref());
    assert_eq!(belief.pod_ip.to_string(), ips[2]);
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_containers_exit_restart_and_turn_ready_late() {
    let c = Cluster::start();
    let client = c.client().await;
    let fleet = start_fleet(&c, fast_config([NodeSpec::new("hollow-0")])).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let exit = "hollow.verge.dev/exit-after";
    let code = "hollow.verge.dev/exit-code";
    for pod in [
        bound_pod("done", "hollow-0", "Never", &[(exit, "1s")]),
        bound_pod("crashed", "hollow-0", "Never", &[(exit, "1s"), (code, "3")]),
        bound_pod(
            "retried",
            "hollow-0",
            "OnFailure",
            &[(exit, "1s"), (code, "0")],
        ),
        bound_pod(
            "looping",
            "hollow-0",
            "Always",
            &[(exit, "1s"), (code, "1")],
        ),
        bound_pod(
            "slow",
            "hollow-0",
            "Always",
            &[("hollow.verge.dev/ready-after", "4s")],
        ),
    ] {
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("create pod");
    }

    // ready-after: Running at once, Ready only later.
    let slow = pod_where(&pods, "slow", "Running", |p| phase(p) == Some("Running")).await;
    let ready = condition(&slow, "Ready").expect("Ready condition");
    assert_eq!(ready.status, "False", "not ready before ready-after");
    assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
    let slow = running_and_ready(&pods, "slow").await;
    let started = slow
        .status
        .as_ref()
        .and_then(|s| s.start_time.clone())
        .expect("startTime");
    let became_ready = condition(&slow, "Ready")
        .and_then(|c| c.last_transition_time.clone())
        .expect("lastTransitionTime");
    assert!(
        became_ready.0.duration_since(started.0).as_secs() >= 3,
        "ready at {became_ready:?}, started at {started:?}"
    );

    let terminated = |pod: &Pod| {
        pod.status.as_ref()?.container_statuses.as_ref()?[0]
            .state
            .as_ref()?
            .terminated
            .clone()
    };
    for (name, want_phase, want_code, want_reason) in [
        ("done", "Succeeded", 0, "Completed"),
        ("crashed", "Failed", 3, "Error"),
        ("retried", "Succeeded", 0, "Completed"),
    ] {
        let pod = pod_where(&pods, name, want_phase, |p| phase(p) == Some(want_phase)).await;
        let t = terminated(&pod).unwrap_or_else(|| panic!("{name}: no terminated state"));
        assert_eq!(t.exit_code, want_code, "{name}");
        assert_eq!(t.reason.as_deref(), Some(want_reason), "{name}");
        assert!(t.finished_at.is_some());
        let ready = condition(&pod, "Ready").expect("Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_deref()),
            ("False", Some("PodCompleted"))
        );
    }
    let code = kubectl(
        &c,
        &[
            "get",
            "pod",
            "crashed",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}",
        ],
    )
    .await;
    assert_eq!(code, "3");

    // restartPolicy Always: the container comes back, counting restarts.
    let looping = pod_where(&pods, "looping", "restarted twice", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| cs[0].restart_count >= 2)
    })
    .await;
    assert_eq!(phase(&looping), Some("Running"));
    let last = looping
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .expect("statuses")[0]
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.clone())
        .expect("lastState.terminated");
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));

    // The node runs only what has not finished.
    assert_eq!(believed(&fleet, "hollow-0"), ["looping", "slow"]);
    let restarts = fleet.running_pods("hollow-0").expect("node")[0].restarts;
    assert!(restarts >= 2, "{restarts}");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_pod_completes_because_the_node_confirms() {
    let c = Cluster::start();
    let client = c.client().await;
    let fleet = start_fleet(&c, fast_config([NodeSpec::new("hollow-0")])).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for name in ["victim", "forced"] {
        pods.create(
            &PostParams::default(),
            &bound_pod(name, "hollow-0", "Always", &[]),
        )
        .await
        .expect("create pod");
        running_and_ready(&pods, name).await;
    }
    assert_eq!(believed(&fleet, "hollow-0"), ["forced", "victim"]);

    // A graceful delete (30 s grace period) waits for the node; the node
    // stops the pod and deletes it for good at once.
    let started = Instant::now();
    let out = kubectl_output(&c, &["delete", "pod", "victim", "--timeout=25s"]).await;
    assert!(
        out.status.success(),
        "kubectl delete: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    let err = kubectl_output(&c, &["get", "pod", "victim"]).await;
    assert!(String::from_utf8_lossy(&err.stderr).contains("NotFound"));
    assert_eq!(believed(&fleet, "hollow-0"), ["forced"]);
    assert!(fleet.stats().pod_deletions >= 1);

    // A forced delete removes the pod from the API; the node stops it.
    kubectl(
        &c,
        &["delete", "pod", "forced", "--grace-period=0", "--force"],
    )
    .await;
    wait_for("the node to stop the force-deleted pod", T, || async {
        believed(&fleet, "hollow-0").is_empty().then_some(())
    })
    .await;
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_link_silences_the_node_and_reconnecting_resumes_without_restarts() {
    let c = Cluster::start();
    let client = c.client().await;
    let fleet = start_fleet(
        &c,
        fast_config([NodeSpec::new("edge-a"), NodeSpec::new("edge-b")]),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for name in ["keep", "doomed", "drained"] {
        pods.create(
            &PostParams::default(),
            &bound_pod(name, "edge-a", "Always", &[]),
        )
        .await
        .expect("create pod");
        running_and_ready(&pods, name).await;
    }
    let keep_before = pods.get("keep").await.expect("keep");
    let keep_status = keep_before.status.clone().expect("status");
    let belief_before = fleet.running_pods("edge-a").expect("node");
    let keep_belief = belief_before
        .iter()
        .find(|p| p.name == "keep")
        .cloned()
        .expect("keep believed");

    fleet.disconnect("edge-a").await.expect("disconnect");
    assert!(!fleet.is_connected("edge-a").expect("node"));
    let frozen_lease = lease_renew_time(&client, "edge-a").await.expect("lease");
    let frozen_beat = heartbeat(&client, "edge-a").await.expect("heartbeat");

    // Meanwhile, in the API: one pod force-deleted, one deleted gracefully
    // (which needs the node), one new pod bound to the node.
    kubectl(
        &c,
        &["delete", "pod", "doomed", "--grace-period=0", "--force"],
    )
    .await;
    kubectl(&c, &["delete", "pod", "drained", "--wait=false"]).await;
    pods.create(
        &PostParams::default(),
        &bound_pod("late", "edge-a", "Always", &[]),
    )
    .await
    .expect("create pod");

    // edge-b renews its Lease several times and reports its status while
    // edge-a stays silent.
    let mut b_lease = lease_renew_time(&client, "edge-b").await.expect("lease");
    let b_beat = heartbeat(&client, "edge-b").await.expect("heartbeat");
    for _ in 0..4 {
        b_lease = renewed_after(&client, "edge-b", &b_lease).await;
    }
    wait_for("edge-b's status heartbeat", T, || async {
        heartbeat(&client, "edge-b").await.filter(|b| *b > b_beat)
    })
    .await;
    assert_eq!(
        lease_renew_time(&client, "edge-a").await.as_deref(),
        Some(frozen_lease.as_str())
    );
    assert_eq!(
        heartbeat(&client, "edge-a").await.as_deref(),
        Some(frozen_beat.as_str())
    );
    let drained = pods
        .get("drained")
        .await
        .expect("drained still exists: nobody confirmed");
    assert!(drained.metadata.deletion_timestamp.is_some());
    let late = pods.get("late").await.expect("late");
    assert_eq!(
        late.status.as_ref().and_then(|s| s.pod_ip.clone()),
        None,
        "not started"
    );
    // The node keeps running what it had, unaware of the changes.
    assert_eq!(believed(&fleet, "edge-a"), ["doomed", "drained", "keep"]);

    fleet.reconnect("edge-a").await.expect("reconnect");
    renewed_after(&client, "edge-a", &frozen_lease).await;
    running_and_ready(&pods, "late").await;
    wait_for("the node to confirm the graceful deletion", T, || async {
        matches!(pods.get_opt("drained").await, Ok(None)).then_some(())
    })
    .await;
    wait_for("the node to reconcile its pods", T, || async {
        (believed(&fleet, "edge-a") == ["keep", "late"]).then_some(())
    })
    .await;

    // The pod the node kept was not restarted.
    let keep_after = fleet
        .running_pods("edge-a")
        .expect("node")
        .into_iter()
        .find(|p| p.name == "keep")
        .expect("keep");
    assert_eq!(keep_after.uid, keep_belief.uid);
    assert_eq!(keep_after.started_at, keep_belief.started_at);
    assert_eq!(keep_after.restarts, 0);
    let keep_now = pods.get("keep").await.expect("keep");
    assert_eq!(keep_now.metadata.uid, keep_before.metadata.uid);
    let status = keep_now.status.clone().expect("status");
    assert_eq!(phase(&keep_now), Some("Running"));
    assert_eq!(status.start_time, keep_status.start_time);
    assert_eq!(status.pod_ip, keep_status.pod_ip);
    let id = |s: &k8s_openapi::api::core::v1::PodStatus| {
        let cs = &s.container_statuses.as_ref().expect("statuses")[0];
        (cs.container_id.clone(), cs.restart_count)
    };
    assert_eq!(id(&status), id(&keep_status));
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_marked_unknown_reports_ready_again_at_once() {
    let c = Cluster::start();
    let client = c.client().await;
    // Status reports every 10 minutes: only the reaction to Unknown can
    // bring Ready back within the test's deadline.
    let mut config = fast_config([NodeSpec::new("hollow-0")]);
    config.status_report_interval = Duration::from_secs(600);
    let fleet = start_fleet(&c, config).await;
    let nodes: Api<Node> = Api::all(client.clone());
    wait_for("Ready", T, || async {
        (node_condition(&client, "hollow-0", "Ready")
            .await
            .as_deref()
            == Some("True"))
        .then_some(())
    })
    .await;

    // What a node lifecycle controller writes when a node's lease is stale.
    let patch = json!({"status": {"conditions": [{
        "type": "Ready",
        "status": "Unknown",
        "reason": "NodeStatusUnknown",
        "message": "Kubelet stopped posting node status.",
        "lastTransitionTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()),
    }]}});
    let marked = nodes
        .patch_status(
            "hollow-0",
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
        .expect("mark Unknown");
    let status = marked
        .status
        .and_then(|s| s.conditions)
        .and_then(|cs| cs.into_iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status);
    assert_eq!(status.as_deref(), Some("Unknown"));

    let started = Instant::now();
    wait_for("Ready=True again", Duration::from_secs(10), || async {
        (node_condition(&client, "hollow-0", "Ready")
            .await
            .as_deref()
            == Some("True"))
        .then_some(())
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let wide = kubectl(&c, &["get", "node", "hollow-0"]).await;
    assert!(
        wide.lines()
            .nth(1)
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("Ready")),
        "{wide}"
    );
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_can_be_removed_added_back_and_taken_over() {
    let c = Cluster::start();
    let client = c.client().await;
    let fleet = start_fleet(
        &c,
        fast_config([NodeSpec::new("gone-0"), NodeSpec::new("kept-0")]),
    )
    .await;
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    renewed_after(&client, "gone-0", "").await;

    fleet.remove_node("gone-0", true).await.expect("remove");
    assert_eq!(fleet.node_names(), ["kept-0"]);
    assert!(nodes.get_opt("gone-0").await.expect("get").is_none());
    assert!(leases.get_opt("gone-0").await.expect("get").is_none());
    assert!(matches!(
        fleet.running_pods("gone-0"),
        Err(verge_hollow::Error::UnknownNode(_))
    ));

    fleet.add_node(NodeSpec::new("gone-0")).expect("add");
    tokio::time::timeout(T, fleet.wait_registered())
        .await
        .expect("registered again");
    renewed_after(&client, "gone-0", "").await;
    assert_eq!(
        node_condition(&client, "gone-0", "Ready").await.as_deref(),
        Some("True")
    );

    // A new fleet takes over the Nodes of a stopped one, and the pods they
    // ran keep running as they were (as containers outlive a kubelet).
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &bound_pod("survivor", "kept-0", "Always", &[]),
    )
    .await
    .expect("create pod");
    let survivor = running_and_ready(&pods, "survivor").await;
    let uid = nodes.get("kept-0").await.expect("node").metadata.uid;
    fleet.stop().await;
    let before = lease_renew_time(&client, "kept-0").await.expect("lease");
    let fleet = start_fleet(
        &c,
        fast_config([NodeSpec::new("kept-0").label("generation", "2")]),
    )
    .await;
    renewed_after(&client, "kept-0", &before).await;
    let node = nodes.get("kept-0").await.expect("node");
    assert_eq!(node.metadata.uid, uid, "the same Node");
    assert_eq!(
        node.metadata
            .labels
            .unwrap_or_default()
            .get("generation")
            .map(String::as_str),
        Some("2")
    );
    let adopted = wait_for("the new fleet to run the survivor", T, || async {
        fleet
            .running_pods("kept-0")
            .expect("node")
            .into_iter()
            .find(|p| p.name == "survivor")
    })
    .await;
    let status = survivor.status.expect("status");
    let start = status.start_time.clone().expect("startTime");
    assert_eq!(adopted.started_at.as_second(), start.0.as_second());
    assert_eq!(
        adopted.pod_ip.to_string(),
        status.pod_ip.clone().expect("podIP")
    );
    assert_eq!(
        fleet.stats().pod_status_writes,
        0,
        "nothing to write for a pod that runs as the API shows"
    );
    let now = pods
        .get("survivor")
        .await
        .expect("pod")
        .status
        .expect("status");
    assert_eq!(now.start_time, status.start_time);
    assert_eq!(now.container_statuses, status.container_statuses);
    fleet.stop().await;
}
