//! `verge agent` and `verge server` over the real channel: the agent joins,
//! connects to the hub, reports its node Ready, and stores what is bound to
//! it in its edge database — converging after it was down while the cloud
//! changed.

mod common;

use std::path::Path;
use std::time::Duration;

use common::agent::{Agent, token_create};
use common::{Cluster, eventually};
use verge_edgehub::{EdgeStore, ObjectId};

const WAIT: Duration = Duration::from_secs(30);

/// The objects in the agent's edge database, as "resource/ns/name" → body.
fn held(data_dir: &Path) -> Vec<(String, serde_json::Value)> {
    let store = EdgeStore::open(&data_dir.join("edge.db")).expect("open edge.db");
    store
        .objects()
        .expect("objects")
        .into_iter()
        .map(|o| {
            let ObjectId {
                resource,
                namespace,
                name,
                ..
            } = o.id;
            let key = if namespace.is_empty() {
                format!("{resource}/{name}")
            } else {
                format!("{resource}/{namespace}/{name}")
            };
            (key, serde_json::from_slice(&o.body).expect("object JSON"))
        })
        .collect()
}

fn greeting(held: &[(String, serde_json::Value)]) -> Option<String> {
    held.iter()
        .find(|(k, _)| k == "configmaps/default/settings")
        .and_then(|(_, v)| v["data"]["greeting"].as_str().map(str::to_owned))
}

/// A field of the Ready condition of node edge-1.
fn ready_field(c: &Cluster, field: &str) -> String {
    c.kubectl(&[
        "get",
        "node",
        "edge-1",
        "-o",
        &format!("jsonpath={{.status.conditions[?(@.type==\"Ready\")].{field}}}"),
    ])
    .trim()
    .to_owned()
}

#[test]
fn an_agent_syncs_its_objects_over_the_channel_and_converges_after_downtime() {
    let c = Cluster::start();
    let token = token_create(&c);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("agent");
    let args = ["--server", &c.url, "--node-name", "edge-1"];
    let mut agent = Agent::start(&data, &[&args[..], &["--token", &token]].concat());
    agent.wait_ready();

    // The node turns Ready from the agent's report through the hub.
    eventually("edge-1 Ready through the channel", WAIT, || {
        let out = c.kubectl(&[
            "get",
            "node",
            "edge-1",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}",
        ]);
        (out.trim() == "AgentReady").then_some(())
    });
    let log = eventually("the agent's connect line", WAIT, || {
        let log = agent.stderr();
        log.contains("connected to the cloud hub").then_some(log)
    });
    assert!(log.contains("Quic"), "auto prefers QUIC:\n{log}");

    c.apply(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: default}
data: {greeting: hello}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-mine, namespace: default}
data: {greeting: nope}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default}
spec:
  nodeName: edge-1
  containers:
  - name: app
    image: busybox
    envFrom: [{configMapRef: {name: settings}}]
"#,
    );
    let objects = eventually("the pod and its ConfigMap in edge.db", WAIT, || {
        let h = held(&data);
        (greeting(&h).as_deref() == Some("hello") && h.iter().any(|(k, _)| k == "pods/default/web"))
            .then_some(h)
    });
    assert!(objects.iter().any(|(k, _)| k == "nodes/edge-1"));
    assert!(
        !objects.iter().any(|(k, _)| k.ends_with("/not-mine")),
        "nothing that is not bound to the node: {:?}",
        objects.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );

    // Another writer's condition, and a heartbeat time the agent's next
    // Ready report must replace.
    let ready_since = ready_field(&c, "lastTransitionTime");
    c.kubectl(&[
        "patch",
        "node",
        "edge-1",
        "--subresource=status",
        "--type=strategic",
        "-p",
        r#"{"status":{"conditions":[
            {"type":"NetworkUnavailable","status":"False","reason":"RouteCreated"},
            {"type":"Ready","status":"True","lastHeartbeatTime":"2020-01-01T00:00:00Z"}]}}"#,
    ]);

    // Down while the cloud changes: on restart (no token needed) the edge
    // gets exactly the difference.
    drop(agent);
    c.kubectl(&[
        "patch",
        "configmap",
        "settings",
        "-p",
        r#"{"data":{"greeting":"changed"}}"#,
    ]);
    c.kubectl(&["delete", "pod", "web", "--grace-period=0", "--force"]);
    assert_eq!(
        greeting(&held(&data)).as_deref(),
        Some("hello"),
        "still the old state while down"
    );
    let mut agent = Agent::start(&data, &args);
    agent.wait_ready();
    let after = eventually("edge.db converges after the restart", WAIT, || {
        let h = held(&data);
        (!h.iter().any(|(k, _)| k == "pods/default/web")).then_some(h)
    });
    let keys: Vec<&str> = after.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["nodes/edge-1"],
        "the pod and the ConfigMap only it used are gone"
    );

    // The Ready report after the restart merges by condition type, and a
    // node that stayed Ready keeps its transition time.
    eventually("the Ready report after the restart", WAIT, || {
        (ready_field(&c, "lastHeartbeatTime") != "2020-01-01T00:00:00Z").then_some(())
    });
    assert_eq!(ready_field(&c, "lastTransitionTime"), ready_since);
    let network = c.kubectl(&[
        "get",
        "node",
        "edge-1",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"NetworkUnavailable\")].reason}",
    ]);
    assert_eq!(network.trim(), "RouteCreated");

    // A corrupted edge database stops the agent with what to do, and
    // nothing is overwritten.
    drop(agent);
    let garbage = b"definitely not an SQLite database, just garbage bytes".repeat(64);
    std::fs::write(data.join("edge.db"), &garbage).expect("corrupt edge.db");
    let _ = std::fs::remove_file(data.join("edge.db-wal"));
    let _ = std::fs::remove_file(data.join("edge.db-shm"));
    let mut agent = Agent::start(&data, &args);
    let (status, log) = agent.wait_exit();
    assert!(
        !status.success(),
        "the agent must not run on a corrupted database"
    );
    assert!(log.contains("move the file aside"), "{log}");
    assert_eq!(
        std::fs::read(data.join("edge.db")).expect("edge.db"),
        garbage,
        "the file is left as it was for inspection"
    );
}
