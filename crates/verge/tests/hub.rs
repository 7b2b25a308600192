//! The cloud hub of a real `verge server`, driven by a scripted edge that
//! speaks the channel protocol over the real transports with a node
//! certificate from the cluster CA: what a node receives, what it may
//! write, and what a reconnect costs.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{Cluster, eventually};
use verge_protocol::pb::{self, Envelope, ErrorCode, SyncMode, envelope::Body};
use verge_transport::{
    ClientTls, Connection, QuicConnector, TransportConfig, TransportError, WsConnector,
};

const WAIT: Duration = Duration::from_secs(20);
const DAY: Duration = Duration::from_secs(86_400);

/// What an edge holds: storage-like key → (uid, resourceVersion, JSON).
type Held = BTreeMap<String, (String, String, Option<serde_json::Value>)>;

struct Edge {
    conn: Connection,
    welcome: pb::Welcome,
}

fn key_of(k: &pb::ObjectKey) -> String {
    let kind = k.kind.as_ref().map(|k| k.resource.as_str()).unwrap_or("?");
    if k.namespace.is_empty() {
        format!("{kind}/{}", k.name)
    } else {
        format!("{kind}/{}/{}", k.namespace, k.name)
    }
}

fn client_tls(c: &Cluster, cn: &str) -> ClientTls {
    let ca = verge_pki::ClusterCa::load_or_create(&c.data_dir.join("pki")).expect("cluster CA");
    let cert = ca
        .issue_client(cn, &["system:nodes".to_string()], DAY)
        .expect("node certificate");
    ClientTls::new(ca.ca_pem(), &cert).expect("client TLS")
}

async fn dial(c: &Cluster, cn: &str, quic: bool) -> Connection {
    let tls = client_tls(c, cn);
    let config = TransportConfig::default();
    if quic {
        let connector = QuicConnector::new(SocketAddr::from(([127, 0, 0, 1], 0)), &tls, &config)
            .expect("QUIC connector");
        let addr = SocketAddr::from(([127, 0, 0, 1], c.quic_port));
        connector
            .connect(addr, "127.0.0.1")
            .await
            .expect("QUIC connect")
    } else {
        let connector = WsConnector::new(&tls, &config).expect("connector");
        let addr = SocketAddr::from(([127, 0, 0, 1], c.hub_port));
        connector.connect(addr, "127.0.0.1").await.expect("connect")
    }
}

fn hello(node: &str, resume: Option<pb::ResumePoint>, stream: &str) -> Envelope {
    Envelope::from(pb::Hello {
        versions: vec![1],
        agent_version: "test".into(),
        node_name: node.into(),
        resume,
        report_stream: stream.into(),
        features: vec![],
    })
}

async fn recv(conn: &mut Connection) -> Envelope {
    tokio::time::timeout(WAIT, conn.recv())
        .await
        .expect("a message within the deadline")
        .expect("the connection is up")
}

async fn connect(c: &Cluster, node: &str, resume: Option<pb::ResumePoint>) -> Edge {
    let mut conn = dial(c, &format!("system:node:{node}"), false).await;
    conn.send(&hello(node, resume, "stream-1"))
        .await
        .expect("hello");
    let welcome = match recv(&mut conn).await.body {
        Some(Body::Welcome(w)) => w,
        other => panic!("expected Welcome, got {other:?}"),
    };
    conn.set_version(1).expect("version");
    Edge { conn, welcome }
}

impl Edge {
    /// Applies batches until CaughtUp; returns the changes seen (key →
    /// upsert or delete) and the revision caught up to.
    async fn sync(&mut self, held: &mut Held) -> (BTreeMap<String, bool>, u64) {
        let mut seen = BTreeMap::new();
        loop {
            match recv(&mut self.conn).await.body {
                Some(Body::SyncBatch(batch)) => {
                    for ch in batch.changes {
                        let key = key_of(ch.key.as_ref().expect("key"));
                        let uid = ch.key.as_ref().map(|k| k.uid.clone()).unwrap_or_default();
                        match ch.change {
                            Some(pb::object_change::Change::Upsert(u)) => {
                                let obj = serde_json::from_slice(&u.object).expect("object JSON");
                                held.insert(key.clone(), (uid, ch.resource_version, Some(obj)));
                                seen.insert(key, true);
                            }
                            Some(pb::object_change::Change::Delete(_)) => {
                                held.remove(&key);
                                seen.insert(key, false);
                            }
                            None => panic!("a change without an operation"),
                        }
                    }
                }
                Some(Body::CaughtUp(c)) => return (seen, c.revision),
                other => panic!("expected SyncBatch or CaughtUp, got {other:?}"),
            }
        }
    }

    async fn ack(&self, revision: u64) {
        self.conn
            .send(&Envelope::from(pb::SyncAck { revision }))
            .await
            .expect("ack");
    }
}

/// Two edge nodes, each with a pod that references a ConfigMap and a
/// Secret of its own, and an unrelated ConfigMap.
fn populate(c: &Cluster) {
    c.apply(
        r#"
apiVersion: v1
kind: Node
metadata: {name: edge-1, labels: {node-role.kubernetes.io/edge: ""}}
---
apiVersion: v1
kind: Node
metadata: {name: edge-2, labels: {node-role.kubernetes.io/edge: ""}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm-1, namespace: default}
data: {greeting: hello}
---
apiVersion: v1
kind: Secret
metadata: {name: s-1, namespace: default}
stringData: {password: one}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm-2, namespace: default}
data: {greeting: other}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated, namespace: default}
data: {x: "1"}
---
apiVersion: v1
kind: Pod
metadata: {name: p-1, namespace: default}
spec:
  nodeName: edge-1
  containers:
  - name: app
    image: busybox
    env:
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: s-1, key: password}}
    volumeMounts: [{name: config, mountPath: /config}]
  volumes:
  - name: config
    configMap: {name: cm-1}
---
apiVersion: v1
kind: Pod
metadata: {name: p-2, namespace: default}
spec:
  nodeName: edge-2
  containers:
  - name: app
    image: busybox
    envFrom: [{configMapRef: {name: cm-2}}]
"#,
    );
}

fn keys(held: &Held) -> Vec<&str> {
    held.keys().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_gets_exactly_what_is_bound_to_it_and_later_only_what_changed() {
    let c = Cluster::api_only();
    populate(&c);
    let mut held = Held::new();

    let mut edge = connect(&c, "edge-1", None).await;
    assert_eq!(edge.welcome.mode, SyncMode::Delta as i32);
    assert_eq!(edge.welcome.node_name, "edge-1");
    assert!(!edge.welcome.epoch.is_empty());
    let (_, revision) = edge.sync(&mut held).await;
    assert_eq!(
        keys(&held),
        [
            "configmaps/default/cm-1",
            "nodes/edge-1",
            "pods/default/p-1",
            "secrets/default/s-1"
        ],
        "its Node, its pod and what the pod references; nothing of edge-2"
    );
    let Some((_, _, Some(cm))) = held.get("configmaps/default/cm-1") else {
        panic!("cm-1 with its content");
    };
    assert_eq!(cm["data"]["greeting"], "hello");
    edge.ack(revision).await;

    // A live change arrives without asking; one of another node does not.
    c.kubectl(&[
        "patch",
        "configmap",
        "cm-1",
        "-p",
        r#"{"data":{"greeting":"hi"}}"#,
    ]);
    c.kubectl(&[
        "patch",
        "configmap",
        "cm-2",
        "-p",
        r#"{"data":{"greeting":"x"}}"#,
    ]);
    c.kubectl(&[
        "patch",
        "configmap",
        "unrelated",
        "-p",
        r#"{"data":{"x":"z"}}"#,
    ]);
    let (seen, revision) = edge.sync(&mut held).await;
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["configmaps/default/cm-1"]);
    assert_eq!(
        held["configmaps/default/cm-1"].2.as_ref().expect("cm")["data"]["greeting"],
        "hi"
    );
    edge.ack(revision).await;
    let first_stats = edge.conn.stats();
    let epoch = edge.welcome.epoch.clone();
    drop(edge);

    // While the node is away: a change, a delete, a new pod, and a
    // ConfigMap that leaves the view because nothing references it now.
    c.kubectl(&[
        "patch",
        "secret",
        "s-1",
        "-p",
        r#"{"stringData":{"password":"two"}}"#,
    ]);
    c.kubectl(&["delete", "pod", "p-1", "--grace-period=0", "--force"]);
    c.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: p-3, namespace: default}
spec:
  nodeName: edge-1
  containers:
  - name: app
    image: busybox
    env:
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: s-1, key: password}}
"#,
    );
    let edge = connect(
        &c,
        "edge-1",
        Some(pb::ResumePoint {
            epoch: String::new(),
            revision: 0,
        }),
    )
    .await;
    // A resume point of another epoch cannot be trusted: inventory mode.
    assert_eq!(edge.welcome.mode, SyncMode::Inventory as i32);
    drop(edge);

    let resume = Some(pb::ResumePoint { epoch, revision });
    let mut edge = connect(&c, "edge-1", resume).await;
    assert_eq!(edge.welcome.mode, SyncMode::Delta as i32);
    assert_eq!(edge.welcome.resume_from, revision);
    let (seen, _) = edge.sync(&mut held).await;
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [
            ("configmaps/default/cm-1".to_owned(), false),
            ("pods/default/p-1".to_owned(), false),
            ("pods/default/p-3".to_owned(), true),
            ("secrets/default/s-1".to_owned(), true),
        ],
        "only what changed while away, deletes included; the Node is not re-sent"
    );
    assert_eq!(
        keys(&held),
        ["nodes/edge-1", "pods/default/p-3", "secrets/default/s-1"]
    );
    let resumed = edge.conn.stats();
    assert!(
        resumed.bytes_received < first_stats.bytes_received,
        "the resume ({} bytes) must cost less than the first sync ({} bytes)",
        resumed.bytes_received,
        first_stats.bytes_received
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inventory_gets_the_exact_difference() {
    let c = Cluster::api_only();
    populate(&c);
    let mut held = Held::new();
    let mut edge = connect(&c, "edge-1", None).await;
    edge.sync(&mut held).await;
    drop(edge);
    c.kubectl(&[
        "patch",
        "configmap",
        "cm-1",
        "-p",
        r#"{"data":{"greeting":"new"}}"#,
    ]);

    // The edge lost track of the epoch (say, a restored store) but still
    // holds everything: it is asked for its inventory and gets only cm-1.
    let stale = Some(pb::ResumePoint {
        epoch: "another-cluster".into(),
        revision: 5,
    });
    let mut edge = connect(&c, "edge-1", stale).await;
    assert_eq!(edge.welcome.mode, SyncMode::Inventory as i32);
    let mut entries: Vec<pb::InventoryEntry> = held
        .iter()
        .map(|(key, (uid, rv, _))| {
            let parts: Vec<&str> = key.split('/').collect();
            let (resource, namespace, name) = match parts.as_slice() {
                [r, n] => (*r, "", *n),
                [r, ns, n] => (*r, *ns, *n),
                _ => panic!("key {key}"),
            };
            pb::InventoryEntry {
                key: Some(pb::ObjectKey {
                    kind: Some(pb::ResourceKind {
                        group: String::new(),
                        version: "v1".into(),
                        resource: resource.into(),
                    }),
                    namespace: namespace.into(),
                    name: name.into(),
                    uid: uid.clone(),
                }),
                resource_version: rv.clone(),
            }
        })
        .collect();
    // And something it should not hold any more.
    let mut stray = entries[0].clone();
    if let Some(k) = stray.key.as_mut() {
        k.name = "gone".into();
    }
    entries.push(stray);
    let half = entries.len() / 2;
    for (i, chunk) in [&entries[..half], &entries[half..]].into_iter().enumerate() {
        edge.conn
            .send(&Envelope::from(pb::InventoryChunk {
                entries: chunk.to_vec(),
                last: i == 1,
            }))
            .await
            .expect("inventory");
    }
    let (seen, _) = edge.sync(&mut held).await;
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [
            ("configmaps/default/cm-1".to_owned(), true),
            ("configmaps/default/gone".to_owned(), false),
        ]
    );
}

fn report(
    seq: u64,
    kind: pb::ReportKind,
    key: pb::ObjectKey,
    body: serde_json::Value,
) -> pb::Report {
    pb::Report {
        sequence: seq,
        kind: kind as i32,
        key: Some(key),
        body_type: pb::BodyType::MergePatch as i32,
        body: serde_json::to_vec(&body).expect("json").into(),
        observed_at_ms: 0,
    }
}

fn object_key(group: &str, resource: &str, namespace: &str, name: &str) -> pb::ObjectKey {
    pb::ObjectKey {
        kind: Some(pb::ResourceKind {
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
        }),
        namespace: namespace.into(),
        name: name.into(),
        uid: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_written_as_the_node_and_nothing_else_is() {
    let c = Cluster::api_only();
    populate(&c);
    let mut held = Held::new();
    let mut edge = connect(&c, "edge-1", None).await;
    edge.sync(&mut held).await;
    let ready = serde_json::json!({"status": {"conditions": [{
        "type": "Ready", "status": "True", "reason": "EdgeReady",
        "message": "reported through the channel",
        "lastHeartbeatTime": "2026-11-22T12:00:00Z",
        "lastTransitionTime": "2026-11-22T12:00:00Z"}]}});
    let running = serde_json::json!({"status": {"phase": "Running"}});
    let batch = pb::ReportBatch {
        reports: vec![
            report(
                1,
                pb::ReportKind::NodeStatus,
                object_key("", "nodes", "", "edge-1"),
                ready.clone(),
            ),
            report(
                2,
                pb::ReportKind::PodStatus,
                object_key("", "pods", "default", "p-1"),
                running.clone(),
            ),
            // Not its pod, not its Node: refused for good.
            report(
                3,
                pb::ReportKind::PodStatus,
                object_key("", "pods", "default", "p-2"),
                running.clone(),
            ),
            report(
                4,
                pb::ReportKind::NodeStatus,
                object_key("", "nodes", "", "edge-2"),
                ready.clone(),
            ),
            report(
                6,
                pb::ReportKind::Lease,
                object_key("coordination.k8s.io", "leases", "kube-node-lease", "edge-2"),
                serde_json::json!({"spec": {"holderIdentity": "edge-2"}}),
            ),
            // Its own pod, but a body that is not JSON, and one that the
            // API refuses (a list given as a string): refused, nothing
            // written.
            pb::Report {
                body: b"{not json".to_vec().into(),
                ..report(
                    7,
                    pb::ReportKind::PodStatus,
                    object_key("", "pods", "default", "p-1"),
                    serde_json::json!({}),
                )
            },
            report(
                8,
                pb::ReportKind::PodStatus,
                object_key("", "pods", "default", "p-1"),
                serde_json::json!({"status": {"containerStatuses": "nope"}}),
            ),
        ],
    };
    edge.conn
        .send(&Envelope::from(batch))
        .await
        .expect("reports");
    let ack = loop {
        match recv(&mut edge.conn).await.body {
            Some(Body::ReportAck(a)) => break a,
            Some(Body::SyncBatch(_)) | Some(Body::CaughtUp(_)) => {}
            other => panic!("expected ReportAck, got {other:?}"),
        }
    };
    assert_eq!(ack.sequence, 8);
    let rejected: Vec<(u64, i32)> = ack.rejected.iter().map(|r| (r.sequence, r.code)).collect();
    assert_eq!(
        rejected,
        [
            (3, ErrorCode::Unauthorized as i32),
            (4, ErrorCode::Unauthorized as i32),
            (6, ErrorCode::Unauthorized as i32),
            (7, ErrorCode::Invalid as i32),
            (8, ErrorCode::Invalid as i32),
        ],
        "{:?}",
        ack.rejected
    );
    let jsonpath = |args: &[&str]| c.kubectl(args).trim().to_owned();
    assert_eq!(
        jsonpath(&[
            "get",
            "node",
            "edge-1",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"
        ]),
        "True"
    );
    assert_eq!(
        jsonpath(&["get", "pod", "p-1", "-o", "jsonpath={.status.phase}"]),
        "Running"
    );
    assert_ne!(
        jsonpath(&["get", "pod", "p-2", "-o", "jsonpath={.status.phase}"]),
        "Running"
    );
    assert_eq!(
        jsonpath(&[
            "get",
            "node",
            "edge-2",
            "-o",
            "jsonpath={.status.conditions}"
        ]),
        ""
    );

    // Resent after a lost ack: already applied, acknowledged again, and
    // Welcome says how far the stream was applied.
    drop(edge);
    let edge = connect(&c, "edge-1", None).await;
    assert_eq!(edge.welcome.reports_applied, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_is_renewed_from_the_channel() {
    let c = Cluster::api_only();
    populate(&c);
    let renew_time = || {
        c.kubectl_output(&[
            "get",
            "lease",
            "-n",
            "kube-node-lease",
            "edge-1",
            "-o",
            "jsonpath={.spec.holderIdentity} {.spec.renewTime}",
        ])
    };
    let before = jiff::Timestamp::now();
    let mut held = Held::new();
    let mut edge = connect(&c, "edge-1", None).await;
    edge.sync(&mut held).await;
    let lease = eventually("the hub renews edge-1's Lease", WAIT, || {
        let out = renew_time();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    let (holder, renewed) = lease.split_once(' ').expect("holder and time");
    assert_eq!(holder, "edge-1");
    let renewed: jiff::Timestamp = renewed.parse().expect("renewTime");
    assert!(
        renewed.as_second() >= before.as_second(),
        "renewed at connect, not before"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_connection_is_closed_and_others_carry_on() {
    let c = Cluster::api_only();
    populate(&c);
    let mut good = connect(&c, "edge-1", None).await;
    let mut held = Held::new();
    good.sync(&mut held).await;

    // A certificate for edge-2 claiming to be edge-1.
    let mut liar = dial(&c, "system:node:edge-2", false).await;
    liar.send(&hello("edge-1", None, "s")).await.expect("hello");
    let ended = tokio::time::timeout(WAIT, liar.recv())
        .await
        .expect("closed in time");
    assert!(
        matches!(
            ended,
            Err(TransportError::PeerClosed {
                code: ErrorCode::Unauthorized,
                ..
            })
        ),
        "{ended:?}"
    );

    // Something other than Hello first, over QUIC this time.
    let mut rude = dial(&c, "system:node:edge-2", true).await;
    rude.send(&Envelope::from(pb::SyncAck { revision: 1 }))
        .await
        .expect("send");
    let ended = tokio::time::timeout(WAIT, rude.recv())
        .await
        .expect("closed in time");
    assert!(
        matches!(
            ended,
            Err(TransportError::PeerClosed {
                code: ErrorCode::ProtocolViolation,
                ..
            })
        ),
        "{ended:?}"
    );

    // An ack for a revision never sent.
    let mut edge2 = connect(&c, "edge-2", None).await;
    edge2.sync(&mut held).await;
    edge2.ack(u64::MAX / 2).await;
    let ended = tokio::time::timeout(WAIT, edge2.conn.recv())
        .await
        .expect("closed in time");
    assert!(
        matches!(
            ended,
            Err(TransportError::PeerClosed {
                code: ErrorCode::ProtocolViolation,
                ..
            })
        ),
        "{ended:?}"
    );

    // The well-behaved node still gets its changes.
    c.kubectl(&[
        "patch",
        "configmap",
        "cm-1",
        "-p",
        r#"{"data":{"greeting":"still"}}"#,
    ]);
    let (seen, _) = good.sync(&mut held).await;
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["configmaps/default/cm-1"]);
}
