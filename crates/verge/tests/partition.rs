//! Real network partitions: an edge node in its own network namespace,
//! joined to the host by a veth pair the test cuts and heals, with the
//! real `verge agent` inside and the real `verge server` on the host end.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::agent::{Agent, token_create};
use common::netns::EdgeNet;
use common::{Cluster, eventually};
use verge_edgehub::EdgeStore;

const WAIT: Duration = Duration::from_secs(60);
/// ConfigMaps on the edge that do not change during the partition.
const UNCHANGED: usize = 20;

fn ready_status(c: &Cluster, node: &str) -> String {
    let out = c.kubectl_output(&[
        "get",
        "node",
        node,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn greeting(data: &Path) -> Option<String> {
    let store = EdgeStore::open(&data.join("edge.db")).ok()?;
    let objects = store.objects().ok()?;
    let cm = objects
        .iter()
        .find(|o| o.id.resource == "configmaps" && o.id.name == "settings")?;
    let v: serde_json::Value = serde_json::from_slice(&cm.body).ok()?;
    v["data"]["greeting"].as_str().map(str::to_owned)
}

/// Object changes the hub has sent to edge nodes so far (its metric).
fn changes_sent(c: &Cluster) -> u64 {
    let metrics = c.kubectl(&["get", "--raw", "/metrics"]);
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("verge_hub_sync_changes_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("verge_hub_sync_changes_total in /metrics")
}

fn pod_uid(c: &Cluster) -> String {
    c.kubectl(&["get", "pod", "web", "-o", "jsonpath={.metadata.uid}"])
        .trim()
        .to_owned()
}

#[test]
fn an_edge_node_rides_out_a_cut_link_and_gets_only_what_changed_after() {
    let net = EdgeNet::create();
    // Short timers so the test takes seconds: the hub declares the link
    // dead after 3 s of silence, the node lifecycle marks the node after
    // 4 s without a Lease renewal.
    let c = Cluster::start_on(
        &net.host_ip,
        &[
            "--hub-heartbeat-interval",
            "1s",
            "--hub-dead-after",
            "3s",
            "--node-monitor-grace-period",
            "4s",
        ],
    );
    let token = token_create(&c);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("agent");
    let verge = net.command(env!("CARGO_BIN_EXE_verge"));
    let mut agent = Agent::start_with(
        verge,
        &data,
        &[
            "--server",
            &c.url,
            "--token",
            &token,
            "--node-name",
            "edge-1",
            "--transport",
            "ws",
        ],
    );
    agent.wait_ready();
    eventually("edge-1 Ready", WAIT, || {
        (ready_status(&c, "edge-1") == "True").then_some(())
    });
    // The pod references `settings` and twenty ConfigMaps that never
    // change: a re-list on reconnect would resend all of them.
    let mut manifest = String::from(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: default}
data: {greeting: hello}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default}
spec:
  nodeName: edge-1
  containers:
  - name: app
    image: busybox
    envFrom:
    - configMapRef: {name: settings}
"#,
    );
    for i in 0..UNCHANGED {
        manifest.push_str(&format!("    - configMapRef: {{name: fixed-{i}}}\n"));
    }
    for i in 0..UNCHANGED {
        manifest.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: fixed-{i}, namespace: default}}\ndata: {{n: \"{i}\"}}\n"
        ));
    }
    c.apply(&manifest);
    eventually("the ConfigMap on the edge", WAIT, || {
        (greeting(&data).as_deref() == Some("hello")).then_some(())
    });
    let uid = pod_uid(&c);

    net.cut();
    let cut_at = Instant::now();
    eventually("the cloud sees edge-1 silent", WAIT, || {
        (ready_status(&c, "edge-1") == "Unknown").then_some(())
    });
    eprintln!(
        "edge-1 Unknown {:.1} s after the cut",
        cut_at.elapsed().as_secs_f64()
    );
    c.kubectl(&[
        "patch",
        "configmap",
        "settings",
        "-p",
        r#"{"data":{"greeting":"changed"}}"#,
    ]);
    // Edge autonomy: the unreachable edge node keeps its pod; nothing is
    // evicted or recreated while it is away.
    assert_eq!(pod_uid(&c), uid, "the pod of the cut-off node was replaced");
    assert_eq!(
        greeting(&data).as_deref(),
        Some("hello"),
        "nothing crosses a cut link"
    );

    let sent_before = changes_sent(&c);
    let (tx0, rx0) = net.bytes();
    net.heal();
    let healed_at = Instant::now();
    eventually("the edge converges after the heal", WAIT, || {
        (greeting(&data).as_deref() == Some("changed")).then_some(())
    });
    eventually("edge-1 Ready again", WAIT, || {
        (ready_status(&c, "edge-1") == "True").then_some(())
    });
    let (tx1, rx1) = net.bytes();
    eprintln!(
        "converged {:.1} s after the heal; the veth carried {} bytes to the edge and {} from it meanwhile",
        healed_at.elapsed().as_secs_f64(),
        tx1 - tx0,
        rx1 - rx0
    );
    let held = EdgeStore::open(&data.join("edge.db"))
        .and_then(|s| s.objects())
        .expect("edge.db");
    assert!(
        held.iter()
            .filter(|o| o.id.name.starts_with("fixed-"))
            .count()
            == UNCHANGED,
        "the unchanged ConfigMaps are still held"
    );
    // The Node (Unknown, then Ready again), the pod (its conditions) and
    // `settings` changed; a re-list would add the twenty unchanged ones.
    let sent = changes_sent(&c) - sent_before;
    eprintln!("the hub sent {sent} object changes after the heal");
    assert!(
        sent < UNCHANGED as u64 / 2,
        "{sent} changes after the heal: the reconnect re-sent objects that did not change"
    );
    assert_eq!(
        pod_uid(&c),
        uid,
        "no pod was recreated when the node came back"
    );
    assert!(
        agent.is_running(),
        "the agent rode out the partition without restarting"
    );

    // Restarted while cut off, the agent keeps retrying from what it
    // stored (no token, no exit), and once the link is back it converges:
    // a deletion made while it was down and away reaches it too.
    net.cut();
    eventually("edge-1 silent again", WAIT, || {
        (ready_status(&c, "edge-1") == "Unknown").then_some(())
    });
    assert!(agent.terminate().success(), "{}", agent.stderr());
    c.kubectl(&["delete", "configmap", "fixed-0"]);
    let mut agent = Agent::start_with(
        net.command(env!("CARGO_BIN_EXE_verge")),
        &data,
        &["--node-name", "edge-1", "--transport", "ws"],
    );
    eventually("the restarted agent retrying the cloud", WAIT, || {
        let log = agent.stderr();
        (log.contains("check --server") && log.contains("attempt=2")).then_some(())
    });
    assert!(agent.is_running(), "{}", agent.stderr());
    net.heal();
    eventually("fixed-0 gone from the edge", WAIT, || {
        let held = EdgeStore::open(&data.join("edge.db"))
            .and_then(|s| s.objects())
            .ok()?;
        let fixed = held
            .iter()
            .filter(|o| o.id.name.starts_with("fixed-"))
            .count();
        (fixed == UNCHANGED - 1 && !held.iter().any(|o| o.id.name == "fixed-0")).then_some(())
    });
    eventually("edge-1 Ready after the restart", WAIT, || {
        (ready_status(&c, "edge-1") == "True").then_some(())
    });
    assert_eq!(pod_uid(&c), uid, "still the same pod");
}
