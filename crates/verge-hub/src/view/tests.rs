//! The view, routing, resume and inventory logic against hand-made cache
//! objects (the integration test in tests/ drives a real API server).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use verge_apiserver::cache::CachedObject;
use verge_store::{KeyValue, Revision};

use super::*;

/// A view plus a log of what each node was told.
struct Fx {
    view: View,
    rev: Revision,
    uids: u64,
    /// key → uid, so updates keep the uid and recreates get a new one.
    live: BTreeMap<String, String>,
    sent: Vec<(String, Change)>,
}

fn cached(key: &str, rev: Revision, v: &Value) -> Arc<CachedObject> {
    Arc::new(CachedObject::from_kv(&KeyValue {
        key: key.into(),
        value: Bytes::from(v.to_string()),
        create_revision: rev,
        mod_revision: rev,
    }))
}

fn pod_json(ns: &str, name: &str, node: Option<&str>, cms: &[&str]) -> Value {
    let volumes: Vec<Value> = cms
        .iter()
        .enumerate()
        .map(|(i, cm)| json!({"name": format!("v{i}"), "configMap": {"name": cm}}))
        .collect();
    let mut spec = json!({"containers": [{"name": "c", "image": "i"}], "volumes": volumes});
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

impl Fx {
    fn new() -> Fx {
        Fx::with(ViewConfig::default())
    }

    fn with(config: ViewConfig) -> Fx {
        Fx {
            view: View::new(config, 1),
            rev: 1,
            uids: 0,
            live: BTreeMap::new(),
            sent: Vec::new(),
        }
    }

    fn write(&mut self, kind: Kind, ns: &str, name: &str, mut v: Value) -> Revision {
        self.rev += 1;
        let key = kind.storage_key(ns, name);
        let uid = match self.live.get(&key) {
            Some(u) => u.clone(),
            None => {
                self.uids += 1;
                format!("uid-{}", self.uids)
            }
        };
        self.live.insert(key.clone(), uid.clone());
        v["metadata"]["uid"] = json!(uid);
        let obj = cached(&key, self.rev, &v);
        let sent = &mut self.sent;
        self.view
            .apply(self.rev, false, &obj, &mut |n: &NodeName, c: Change| {
                sent.push((n.to_string(), c))
            });
        self.rev
    }

    fn delete(&mut self, kind: Kind, ns: &str, name: &str) -> Revision {
        self.rev += 1;
        let key = kind.storage_key(ns, name);
        let uid = self.live.remove(&key).expect("exists");
        let obj = cached(
            &key,
            self.rev,
            &json!({"metadata": {"name": name, "uid": uid}}),
        );
        let sent = &mut self.sent;
        self.view
            .apply(self.rev, true, &obj, &mut |n: &NodeName, c: Change| {
                sent.push((n.to_string(), c))
            });
        self.rev
    }

    fn pod(&mut self, name: &str, node: Option<&str>, cms: &[&str]) -> Revision {
        self.write(Kind::Pod, "ns", name, pod_json("ns", name, node, cms))
    }

    fn cm(&mut self, name: &str, data: &str) -> Revision {
        self.write(
            Kind::ConfigMap,
            "ns",
            name,
            json!({"kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}, "data": {"k": data}}),
        )
    }

    fn node(&mut self, name: &str, label: &str) -> Revision {
        self.write(
            Kind::Node,
            "",
            name,
            json!({"kind": "Node", "metadata": {"name": name, "labels": {"l": label}}}),
        )
    }

    /// What was sent since the last call, as (node, op, key name).
    fn take(&mut self) -> Vec<(String, &'static str, String)> {
        std::mem::take(&mut self.sent)
            .into_iter()
            .map(|(n, c)| {
                let op = if c.is_delete() { "delete" } else { "upsert" };
                (n, op, split_key(c.kind, &c.key).1.to_owned())
            })
            .collect()
    }
}

fn s(node: &str, op: &'static str, name: &str) -> (String, &'static str, String) {
    (node.into(), op, name.into())
}

#[test]
fn a_pod_brings_what_it_references_to_its_node_and_nowhere_else() {
    let mut fx = Fx::new();
    fx.node("n1", "a");
    fx.node("n2", "a");
    fx.cm("a", "1");
    fx.cm("unused", "1");
    assert_eq!(
        fx.take(),
        vec![s("n1", "upsert", "n1"), s("n2", "upsert", "n2")]
    );
    fx.pod("p", None, &["a"]);
    assert_eq!(fx.take(), vec![], "an unscheduled pod concerns no node");
    fx.pod("p", Some("n1"), &["a"]);
    assert_eq!(
        fx.take(),
        vec![s("n1", "upsert", "a"), s("n1", "upsert", "p")]
    );
    fx.cm("a", "2");
    assert_eq!(fx.take(), vec![s("n1", "upsert", "a")]);
    fx.cm("unused", "2");
    fx.node("n3", "x");
    assert_eq!(fx.take(), vec![s("n3", "upsert", "n3")]);
}

#[test]
fn shared_configmaps_reach_every_referencing_node_and_leave_one_at_a_time() {
    let mut fx = Fx::new();
    fx.cm("shared", "1");
    fx.pod("p1", Some("n1"), &["shared"]);
    fx.pod("p2", Some("n1"), &["shared"]);
    fx.pod("p3", Some("n2"), &["shared"]);
    fx.take();
    fx.cm("shared", "2");
    let mut got = fx.take();
    got.sort();
    assert_eq!(
        got,
        vec![s("n1", "upsert", "shared"), s("n2", "upsert", "shared")]
    );
    fx.delete(Kind::Pod, "ns", "p1");
    assert_eq!(
        fx.take(),
        vec![s("n1", "delete", "p1")],
        "p2 still references it"
    );
    fx.delete(Kind::Pod, "ns", "p2");
    assert_eq!(
        fx.take(),
        vec![s("n1", "delete", "p2"), s("n1", "delete", "shared")]
    );
    fx.cm("shared", "3");
    assert_eq!(fx.take(), vec![s("n2", "upsert", "shared")]);
}

#[test]
fn a_pod_changing_references_or_node_moves_objects_in_and_out() {
    let mut fx = Fx::new();
    fx.cm("a", "1");
    fx.cm("b", "1");
    fx.pod("p", Some("n1"), &["a"]);
    fx.take();
    fx.pod("p", Some("n1"), &["b"]);
    assert_eq!(
        fx.take(),
        vec![
            s("n1", "upsert", "b"),
            s("n1", "upsert", "p"),
            s("n1", "delete", "a")
        ]
    );
    fx.pod("p", Some("n2"), &["b"]);
    assert_eq!(
        fx.take(),
        vec![
            s("n1", "delete", "p"),
            s("n1", "delete", "b"),
            s("n2", "upsert", "b"),
            s("n2", "upsert", "p"),
        ]
    );
}

#[test]
fn missing_references_are_absent_until_created_and_deleted_ones_leave() {
    let mut fx = Fx::new();
    fx.pod("p", Some("n1"), &["later"]);
    assert_eq!(fx.take(), vec![s("n1", "upsert", "p")]);
    fx.cm("later", "1");
    assert_eq!(fx.take(), vec![s("n1", "upsert", "later")]);
    fx.delete(Kind::ConfigMap, "ns", "later");
    assert_eq!(fx.take(), vec![s("n1", "delete", "later")]);
    fx.cm("later", "2");
    assert_eq!(
        fx.take(),
        vec![s("n1", "upsert", "later")],
        "recreated: back"
    );
    let entries = fx.view.entries("n1");
    assert_eq!(entries.len(), 2);
}

#[test]
fn deletes_carry_the_revision_and_uid_of_what_left() {
    let mut fx = Fx::new();
    fx.cm("a", "1");
    fx.pod("p", Some("n1"), &["a"]);
    fx.take();
    let uid = fx.live["/registry/configmaps/ns/a"].clone();
    let rev = fx.delete(Kind::Pod, "ns", "p");
    let changes: Vec<Change> = std::mem::take(&mut fx.sent)
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    assert_eq!(changes.len(), 2);
    assert!(changes.iter().all(|c| c.revision == rev && c.is_delete()));
    assert_eq!(&*changes[1].uid, uid);
    let p = changes[1].to_proto();
    assert!(matches!(
        p.change,
        Some(verge_protocol::pb::object_change::Change::Delete(_))
    ));
}

/// What an edge holds: key → (uid, rv), maintained by applying changes.
/// What an edge holds: key → (uid, resourceVersion).
type Holdings = BTreeMap<String, (String, Revision)>;

fn apply_to(edge: &mut Holdings, changes: &[Change]) {
    for c in changes {
        match c.op {
            Op::Upsert(_) => {
                edge.insert(c.key.to_string(), (c.uid.to_string(), c.resource_version));
            }
            Op::Delete => {
                edge.remove(&*c.key);
            }
        }
    }
}

fn holdings(view: &View, node: &str) -> Holdings {
    view.entries(node)
        .into_iter()
        .map(|e| (e.key.to_string(), (e.uid.to_string(), e.resource_version)))
        .collect()
}

fn delta(view: &View, node: &str, from: Revision) -> Vec<Change> {
    match view.resume(node, from) {
        Resume::Delta { revision, changes } => {
            assert_eq!(revision, view.revision());
            changes
        }
        other => panic!("expected a delta, got {other:?}"),
    }
}

#[test]
fn resume_sends_exactly_what_changed_while_away_deletes_included() {
    let mut fx = Fx::new();
    fx.node("n1", "a");
    fx.cm("kept", "1");
    fx.cm("changed", "1");
    fx.cm("dropped", "1");
    fx.cm("old-but-new-here", "1");
    fx.pod("stays", Some("n1"), &["kept", "changed"]);
    fx.pod("goes", Some("n1"), &["dropped"]);
    fx.pod("moves", Some("n1"), &[]);
    let r = fx.rev;
    let mut edge = holdings(&fx.view, "n1");
    assert_eq!(
        delta(&fx.view, "n1", r),
        vec![],
        "nothing changed: empty delta"
    );
    // While away:
    fx.cm("changed", "2");
    fx.cm("changed", "3");
    fx.delete(Kind::Pod, "ns", "goes");
    fx.pod("moves", Some("n2"), &[]);
    fx.pod("new", Some("n1"), &["old-but-new-here"]);
    fx.pod("elsewhere", Some("n2"), &["kept"]);
    fx.node("n1", "b");
    let changes = delta(&fx.view, "n1", r);
    let mut summary: Vec<(&str, String)> = changes
        .iter()
        .map(|c| {
            let op = if c.is_delete() { "delete" } else { "upsert" };
            (op, split_key(c.kind, &c.key).1.to_owned())
        })
        .collect();
    summary.sort();
    assert_eq!(
        summary,
        vec![
            ("delete", "dropped".into()),
            ("delete", "goes".into()),
            ("delete", "moves".into()),
            ("upsert", "changed".into()),
            ("upsert", "n1".into()),
            ("upsert", "new".into()),
            ("upsert", "old-but-new-here".into()),
        ]
    );
    apply_to(&mut edge, &changes);
    assert_eq!(edge, holdings(&fx.view, "n1"));
    assert!(
        changes.windows(2).all(|w| w[0].revision <= w[1].revision),
        "in revision order"
    );
}

#[test]
fn resume_outside_the_history_needs_an_inventory() {
    let mut fx = Fx::with(ViewConfig {
        max_tombstones_per_node: 4,
    });
    fx.pod("p0", Some("n1"), &[]);
    let r = fx.rev;
    assert_eq!(
        fx.view.resume("n1", r + 5),
        Resume::NeedsInventory(InventoryReason::Ahead {
            requested: r + 5,
            current: r
        })
    );
    assert_eq!(
        fx.view.resume("nobody", r),
        Resume::NeedsInventory(InventoryReason::UnknownNode)
    );
    // Churn on the node beyond its tombstone bound drops the oldest.
    for i in 1..=6 {
        fx.pod(&format!("p{i}"), Some("n1"), &[]);
        fx.delete(Kind::Pod, "ns", &format!("p{i}"));
    }
    assert!(matches!(
        fx.view.resume("n1", r),
        Resume::NeedsInventory(InventoryReason::TooOld { requested, .. }) if requested == r
    ));
    // A recent point is still served.
    let recent = fx.rev;
    fx.pod("p9", Some("n1"), &[]);
    assert_eq!(delta(&fx.view, "n1", recent).len(), 1);
    // A fresh edge (revision 0) gets everything.
    assert_eq!(delta(&fx.view, "n1", 0).len(), 2);
}

#[test]
fn resume_is_exact_from_every_point_of_a_random_history() {
    // Every revision of a long random history is a possible reconnect point:
    // the edge as it was then, plus the delta, must equal the view now.
    let mut fx = Fx::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let nodes = ["n1", "n2", "n3"];
    let mut edges: Vec<Holdings> = vec![BTreeMap::new(); 3];
    let mut checkpoints: Vec<(Revision, Vec<Holdings>)> = Vec::new();
    for node in nodes {
        fx.node(node, "x");
    }
    for _ in 0..400 {
        match rnd(6) {
            0 | 1 => {
                let refs: Vec<String> = (0..rnd(3)).map(|_| format!("cm{}", rnd(6))).collect();
                let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
                let node = match rnd(4) {
                    3 => None,
                    i => Some(nodes[i as usize]),
                };
                fx.pod(&format!("p{}", rnd(8)), node, &refs);
            }
            2 => {
                let name = format!("p{}", rnd(8));
                if fx.live.contains_key(&Kind::Pod.storage_key("ns", &name)) {
                    fx.delete(Kind::Pod, "ns", &name);
                }
            }
            3 | 4 => {
                let v = rnd(100).to_string();
                fx.cm(&format!("cm{}", rnd(6)), &v);
            }
            _ => {
                let name = format!("cm{}", rnd(6));
                if fx
                    .live
                    .contains_key(&Kind::ConfigMap.storage_key("ns", &name))
                {
                    fx.delete(Kind::ConfigMap, "ns", &name);
                }
            }
        }
        // The live stream keeps each edge current...
        for (n, c) in std::mem::take(&mut fx.sent) {
            if let Some(i) = nodes.iter().position(|x| *x == n) {
                apply_to(&mut edges[i], &[c]);
            }
        }
        for (i, node) in nodes.iter().enumerate() {
            assert_eq!(edges[i], holdings(&fx.view, node), "live stream of {node}");
        }
        if rnd(4) == 0 {
            checkpoints.push((fx.rev, edges.clone()));
        }
    }
    // ...and a resume from any earlier point lands on the same state.
    assert!(checkpoints.len() > 20);
    for (rev, edges_then) in &checkpoints {
        for (i, node) in nodes.iter().enumerate() {
            let mut edge = edges_then[i].clone();
            apply_to(&mut edge, &delta(&fx.view, node, *rev));
            assert_eq!(edge, holdings(&fx.view, node), "{node} resuming from {rev}");
        }
    }
}

#[test]
fn inventory_diff_sends_only_what_differs() {
    let mut fx = Fx::new();
    fx.node("n1", "a");
    fx.cm("same", "1");
    fx.cm("stale", "1");
    fx.cm("recreated", "1");
    fx.cm("missing", "1");
    fx.pod("p", Some("n1"), &["same", "stale", "recreated", "missing"]);
    let mut inventory = fx.view.entries("n1");
    assert_eq!(
        fx.view.diff_inventory("n1", &inventory),
        vec![],
        "in sync: nothing"
    );
    let at = |inv: &[Entry], name: &str| {
        inv.iter()
            .position(|e| e.key.ends_with(&format!("/{name}")))
            .expect("entry")
    };
    let i = at(&inventory, "stale");
    inventory[i].resource_version -= 1;
    let i = at(&inventory, "recreated");
    inventory[i].uid = "old-uid".into();
    let i = at(&inventory, "missing");
    inventory.remove(i);
    inventory.push(Entry {
        kind: Kind::Secret,
        key: Kind::Secret.storage_key("ns", "not-for-you").into(),
        uid: "u".into(),
        resource_version: 3,
    });
    let changes = fx.view.diff_inventory("n1", &inventory);
    let mut summary: Vec<(bool, String)> = changes
        .iter()
        .map(|c| (c.is_delete(), split_key(c.kind, &c.key).1.to_owned()))
        .collect();
    summary.sort();
    assert_eq!(
        summary,
        vec![
            (false, "missing".into()),
            (false, "recreated".into()),
            (false, "stale".into()),
            (true, "not-for-you".into()),
        ]
    );
    // An edge of a node that has nothing must drop all it holds.
    let all = fx.view.diff_inventory("gone", &inventory);
    assert_eq!(all.len(), inventory.len());
    assert!(all.iter().all(Change::is_delete));
}

#[test]
fn reload_after_a_lost_stream_sends_the_difference_and_keeps_history() {
    let mut fx = Fx::new();
    fx.cm("a", "1");
    fx.cm("b", "1");
    fx.pod("p", Some("n1"), &["a"]);
    fx.pod("q", Some("n1"), &["b"]);
    let r = fx.rev;
    let at_r = holdings(&fx.view, "n1");
    let mut edge = at_r.clone();
    fx.take();
    // The stream is lost; meanwhile q went away and a changed.
    let a = cached(
        &Kind::ConfigMap.storage_key("ns", "a"),
        r + 2,
        &json!({"metadata": {"name": "a", "uid": fx.live["/registry/configmaps/ns/a"]}}),
    );
    let b = cached(
        &Kind::ConfigMap.storage_key("ns", "b"),
        2,
        &json!({"metadata": {"name": "b", "uid": fx.live["/registry/configmaps/ns/b"]}}),
    );
    let mut p = pod_json("ns", "p", Some("n1"), &["a"]);
    p["metadata"]["uid"] = json!(fx.live["/registry/pods/ns/p"]);
    let p = cached(&Kind::Pod.storage_key("ns", "p"), 4, &p);
    let mut sent = Vec::new();
    fx.view
        .reload(r + 3, vec![a, b, p], &mut |n: &NodeName, c: Change| {
            sent.push((n.to_string(), c))
        });
    let changes: Vec<Change> = sent.into_iter().map(|(_, c)| c).collect();
    apply_to(&mut edge, &changes);
    assert_eq!(edge, holdings(&fx.view, "n1"));
    assert_eq!(changes.len(), 3, "a updated, q and b deleted: {changes:?}");
    assert_eq!(fx.view.revision(), r + 3);
    // A node that was away across the gap still resumes exactly.
    let mut edge = at_r;
    apply_to(&mut edge, &delta(&fx.view, "n1", r));
    assert_eq!(edge, holdings(&fx.view, "n1"));
}

fn change(key: &str, rev: Revision, op: Op) -> Change {
    Change {
        revision: rev,
        kind: Kind::ConfigMap,
        key: Kind::ConfigMap.storage_key("ns", key).into(),
        uid: "u".into(),
        resource_version: rev,
        op,
    }
}

fn upsert(key: &str, rev: Revision) -> Change {
    change(
        key,
        rev,
        Op::Upsert(Bytes::from(format!("{{\"rev\":{rev}}}"))),
    )
}

fn batch(q: &mut NodeQueue, through: Revision) -> Batch {
    match q.next(through, 100, 1 << 20) {
        Next::Batch(b) => b,
        other => panic!("expected a batch, got {other:?}"),
    }
}

#[test]
fn the_queue_keeps_only_the_latest_change_per_object() {
    let mut q = NodeQueue::new(QueueConfig::default(), 1);
    q.push(upsert("a", 2));
    q.push(upsert("b", 3));
    q.push(upsert("a", 4));
    q.push(upsert("a", 5));
    q.push(upsert("c", 6));
    q.push(change("c", 7, Op::Delete));
    assert_eq!(q.len(), 3);
    let b = batch(&mut q, 7);
    let got: Vec<(Revision, bool)> = b
        .changes
        .iter()
        .map(|c| (c.revision, c.is_delete()))
        .collect();
    assert_eq!(got, vec![(3, false), (5, false), (7, true)]);
    assert_eq!((b.revision, b.more), (7, false));
    assert_eq!(q.next(9, 100, 1 << 20), Next::Idle);
    assert_eq!(q.sent(), 7);
    assert!(q.caught_up(9), "nothing pending: the node is at 9");
    assert_eq!(q.sent(), 9);
}

#[test]
fn batches_respect_limits_and_the_routed_revision() {
    let mut q = NodeQueue::new(QueueConfig::default(), 1);
    for (k, r) in [("a", 2), ("b", 2), ("c", 2), ("d", 3), ("e", 9)] {
        q.push(upsert(k, r));
    }
    let b = q.next(5, 2, 1 << 20);
    let Next::Batch(b) = b else { panic!("{b:?}") };
    assert_eq!(
        (b.changes.len(), b.revision, b.more),
        (2, 2, true),
        "revision 2 continues"
    );
    let b = batch(&mut q, 5);
    assert_eq!((b.changes.len(), b.revision, b.more), (2, 5, false));
    // e (revision 9) is not routed completely yet at 5.
    assert_eq!(q.next(5, 100, 1 << 20), Next::Idle);
    let b = batch(&mut q, 9);
    assert_eq!((b.changes.len(), b.revision), (1, 9));
    // A byte limit still sends one change per batch.
    q.push(upsert("big", 10));
    q.push(upsert("big2", 11));
    let b = q.next(11, 100, 1);
    let Next::Batch(b) = b else { panic!("{b:?}") };
    assert_eq!((b.changes.len(), b.revision, b.more), (1, 10, false));
    let p = b.to_proto();
    assert_eq!((p.revision, p.changes.len()), (10, 1));
}

#[test]
fn an_overflowing_queue_asks_for_a_resync_and_acks_are_checked() {
    let mut q = NodeQueue::new(QueueConfig { max_pending: 3 }, 5);
    for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
        assert!(q.push(upsert(k, 6 + i as Revision)));
    }
    assert!(q.push(upsert("a", 9)), "coalescing does not grow the queue");
    assert!(!q.push(upsert("d", 10)), "over the bound");
    assert_eq!(q.len(), 0, "memory released");
    assert!(!q.push(upsert("e", 11)), "covered by the resync");
    assert_eq!(q.next(11, 100, 1 << 20), Next::Resync(5));
    assert_eq!(q.overflows(), 1);
    q.refill(11, vec![upsert("a", 9), upsert("e", 11)]);
    let b = batch(&mut q, 11);
    assert_eq!((b.changes.len(), b.revision), (2, 11));
    assert_eq!(
        q.ack(12),
        Err(QueueError::AckAhead {
            acked: 12,
            sent: 11
        })
    );
    assert_eq!(q.ack(11), Ok(()));
    assert_eq!(q.acked(), 11);
}
