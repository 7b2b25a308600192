//! Feeds the scheduler's state from the shared watch cache: nodes, pods,
//! namespaces and (when served) PodDisruptionBudgets. Objects are decoded
//! outside the state lock; the lock is held only to apply the change.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use tokio::sync::oneshot;
use tokio::time::Instant;
use verge_runtime::{CachedObject, Client, Event};

use crate::node::NodeSpec;
use crate::pod::PodInfo;
use crate::scheduler::Scheduler;
use crate::state::Pdb;

/// Starts the watchers; the returned future completes once nodes and pods
/// have been listed.
pub(crate) fn start(
    s: &Arc<Scheduler>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> impl Future<Output = ()> + use<> {
    let (nodes_tx, nodes_rx) = oneshot::channel();
    let (pods_tx, pods_rx) = oneshot::channel();
    tasks.spawn(nodes(s.clone(), nodes_tx));
    tasks.spawn(pods(s.clone(), pods_tx));
    tasks.spawn(namespaces(s.clone()));
    if s.client.resource_type::<PodDisruptionBudget>().is_ok() {
        tasks.spawn(pdbs(s.clone()));
    }
    async move {
        let _ = nodes_rx.await;
        let _ = pods_rx.await;
    }
}

fn watcher<K: k8s_openapi::Resource>(client: &Client) -> Option<verge_runtime::Watcher> {
    match client.watcher::<K>(None) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::error!(kind = K::KIND, error = %e, "scheduler cannot watch");
            None
        }
    }
}

fn decode_node(obj: &CachedObject) -> Option<(String, NodeSpec)> {
    NodeSpec::decode(&obj.bytes)
        .inspect_err(
            |e| tracing::warn!(key = %obj.key, error = %e, "node does not decode; ignored"),
        )
        .ok()
}

fn decode_pod(obj: &CachedObject) -> Option<PodInfo> {
    PodInfo::decode(&obj.bytes)
        .inspect_err(|e| tracing::warn!(key = %obj.key, error = %e, "pod does not decode; ignored"))
        .ok()
}

async fn nodes(s: Arc<Scheduler>, synced: oneshot::Sender<()>) {
    let Some(mut w) = watcher::<Node>(&s.client) else {
        return;
    };
    let mut synced = Some(synced);
    while let Some(ev) = w.next().await {
        match ev {
            Event::Applied(obj) => {
                let Some((name, spec)) = decode_node(&obj) else {
                    continue;
                };
                let mut st = s.state.lock();
                let event = st.node_applied(&name, spec);
                s.changed(&mut st, event);
            }
            Event::Deleted(obj) => {
                if let Some((name, _)) = decode_node(&obj) {
                    s.state.lock().node_deleted(&name);
                }
            }
            Event::Relisted(objs) => {
                let all: Vec<(String, NodeSpec)> =
                    objs.iter().filter_map(|o| decode_node(o)).collect();
                let mut st = s.state.lock();
                let event = st.nodes_relisted(all);
                s.changed(&mut st, event);
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
            }
        }
    }
}

async fn pods(s: Arc<Scheduler>, synced: oneshot::Sender<()>) {
    let Some(mut w) = watcher::<Pod>(&s.client) else {
        return;
    };
    let mut synced = Some(synced);
    while let Some(ev) = w.next().await {
        let now = Instant::now();
        match ev {
            Event::Applied(obj) => {
                let Some(pod) = decode_pod(&obj) else {
                    continue;
                };
                let mut st = s.state.lock();
                let event = st.pod_applied(pod, now);
                s.changed(&mut st, event);
            }
            Event::Deleted(obj) => {
                let Some(pod) = decode_pod(&obj) else {
                    continue;
                };
                let mut st = s.state.lock();
                let event = st.pod_deleted(&pod.key);
                s.changed(&mut st, event);
            }
            Event::Relisted(objs) => {
                let all: Vec<PodInfo> = objs.iter().filter_map(|o| decode_pod(o)).collect();
                let mut st = s.state.lock();
                let event = st.pods_relisted(all, now);
                s.changed(&mut st, event);
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
            }
        }
        // New pending pods may have joined the active queue.
        s.wake.notify_one();
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Meta {
    metadata: MetaInner,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct MetaInner {
    name: String,
    labels: BTreeMap<String, String>,
}

async fn namespaces(s: Arc<Scheduler>) {
    let Some(mut w) = watcher::<Namespace>(&s.client) else {
        return;
    };
    let decode = |obj: &CachedObject| {
        serde_json::from_slice::<Meta>(&obj.bytes)
            .ok()
            .map(|m| m.metadata)
    };
    while let Some(ev) = w.next().await {
        match ev {
            Event::Applied(obj) => {
                if let Some(m) = decode(&obj) {
                    let mut st = s.state.lock();
                    let event = st.namespace_applied(m.name, m.labels);
                    s.changed(&mut st, event);
                }
            }
            Event::Deleted(obj) => {
                if let Some(m) = decode(&obj) {
                    s.state.lock().namespace_deleted(&m.name);
                }
            }
            Event::Relisted(objs) => {
                let mut st = s.state.lock();
                st.namespaces.clear();
                for m in objs.iter().filter_map(|o| decode(o)) {
                    st.namespaces.insert(m.name, m.labels);
                }
            }
        }
    }
}

fn decode_pdb(obj: &CachedObject) -> Option<(String, Pdb)> {
    let pdb: PodDisruptionBudget = Client::decode(obj).ok()?;
    let namespace = pdb.metadata.namespace.clone().unwrap_or_default();
    let name = pdb.metadata.name.clone().unwrap_or_default();
    let selector = pdb
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .and_then(|sel| serde_json::to_value(sel).ok())
        .and_then(|v| verge_apimachinery::labels::Selector::from_label_selector(&v).ok());
    let disruptions_allowed = pdb
        .status
        .as_ref()
        .map_or(0, |s| i64::from(s.disruptions_allowed));
    Some((
        format!("{namespace}/{name}"),
        Pdb {
            namespace,
            selector,
            disruptions_allowed,
        },
    ))
}

async fn pdbs(s: Arc<Scheduler>) {
    let Some(mut w) = watcher::<PodDisruptionBudget>(&s.client) else {
        return;
    };
    while let Some(ev) = w.next().await {
        let mut st = s.state.lock();
        match ev {
            Event::Applied(obj) => {
                if let Some((k, p)) = decode_pdb(&obj) {
                    st.pdbs.insert(k, p);
                }
            }
            Event::Deleted(obj) => {
                if let Some((k, _)) = decode_pdb(&obj) {
                    st.pdbs.remove(&k);
                }
            }
            Event::Relisted(objs) => {
                st.pdbs = objs.iter().filter_map(|o| decode_pdb(o)).collect();
            }
        }
    }
}
