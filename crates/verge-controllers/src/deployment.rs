//! The Deployment controller: rolls a Deployment's pod template out
//! through ReplicaSets, the way kube-controller-manager does.
//!
//! - Each template gets a ReplicaSet `<deployment>-<pod-template-hash>`
//!   whose selector, labels and pods carry the hash label; matching
//!   orphan ReplicaSets are adopted, owned ones that stop matching released.
//! - RollingUpdate scales the new ReplicaSet up within `maxSurge` and old
//!   ones down within `maxUnavailable` (ints or percentages, rounded like
//!   kube); Recreate scales old ones to zero and waits for their pods to be
//!   gone before creating the new one.
//! - Revisions (`deployment.kubernetes.io/revision`) number the templates,
//!   so `kubectl rollout history` and `kubectl rollout undo` work;
//!   `revisionHistoryLimit` bounds the old ReplicaSets kept.
//! - Scaling mid-rollout is spread over the ReplicaSets in proportion to
//!   their sizes (desired-replicas and max-replicas annotations), and works
//!   through the scale subresource (`kubectl scale`).
//! - Status and the Progressing, Available and ReplicaFailure conditions
//!   follow kube, including `progressDeadlineSeconds` and paused rollouts.
//!
//! Every reconcile starts from a consistent read of the watch cache, so it
//! sees the ReplicaSets it created a moment ago. The module split follows
//! kube's: [`util`] (pure arithmetic), `sync` (ReplicaSet bookkeeping and
//! scaling), `rollout` (the two strategies), `progress` (status).

pub mod index;
mod progress;
mod rollout;
mod sync;
pub mod util;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use parking_lot::Mutex;
use verge_runtime::{Action, Client, ControllerMetrics, Error, Event, Queue, Recorder, Watcher};

use self::index::Index;
use crate::pods;
use crate::replicaset::facts::PodFacts;

/// Concurrent reconciles.
const WORKERS: usize = 4;

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>) {
    let watchers = (|| {
        Ok::<_, Error>((
            client.watcher::<Deployment>(None)?,
            client.watcher::<ReplicaSet>(None)?,
            client.watcher::<Pod>(None)?,
        ))
    })();
    let (deployments, sets, pods) = match watchers {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "deployment controller cannot start");
            return;
        }
    };
    let ctrl = Arc::new(Controller {
        recorder: Recorder::new(client.clone(), "deployment-controller"),
        client,
        index: Mutex::new(Index::new()),
    });
    let queue = Queue::new();
    let followers = [
        tokio::spawn(follow_deployments(ctrl.clone(), deployments, queue.clone())),
        tokio::spawn(follow_sets(ctrl.clone(), sets, queue.clone())),
        tokio::spawn(follow_pods(ctrl.clone(), pods, queue.clone())),
    ];
    verge_runtime::run(
        "deployment",
        queue,
        WORKERS,
        metrics,
        ctrl,
        |ctrl, key: String| async move { ctrl.reconcile(&key).await },
    )
    .await;
    for f in followers {
        f.abort();
    }
}

pub(crate) struct Controller {
    pub client: Client,
    pub recorder: Recorder,
    pub index: Mutex<Index>,
}

async fn follow_deployments(ctrl: Arc<Controller>, mut watcher: Watcher, queue: Queue<String>) {
    fn record(idx: &mut Index, obj: &verge_runtime::CachedObject) -> Option<String> {
        let d = Client::decode::<Deployment>(obj)
            .map_err(|e| tracing::warn!(error = %e, "deployment does not decode"))
            .ok()?;
        let ns = d.metadata.namespace.as_deref()?;
        let name = d.metadata.name.as_deref()?;
        let selector = pods::selector(d.spec.as_ref().map(|s| &s.selector)).ok();
        idx.apply_deployment(
            ns,
            name,
            d.metadata.uid.as_deref().unwrap_or_default(),
            selector,
        );
        Some(index::key(ns, name))
    }
    while let Some(event) = watcher.next().await {
        let wake = {
            let mut idx = ctrl.index.lock();
            match event {
                Event::Applied(obj) => record(&mut idx, &obj).into_iter().collect(),
                Event::Deleted(obj) => {
                    if let Some(meta) = index::meta_of(&obj)
                        && let (Some(ns), Some(name)) = (&meta.namespace, &meta.name)
                    {
                        idx.delete_deployment(ns, name);
                    }
                    Vec::new()
                }
                Event::Relisted(objs) => {
                    idx.clear_deployments();
                    for obj in &objs {
                        record(&mut idx, obj);
                    }
                    idx.deployment_keys()
                }
            }
        };
        for key in wake {
            queue.add(key);
        }
    }
    queue.close();
}

async fn follow_sets(ctrl: Arc<Controller>, mut watcher: Watcher, queue: Queue<String>) {
    while let Some(event) = watcher.next().await {
        let wake = {
            let mut idx = ctrl.index.lock();
            match event {
                Event::Applied(obj) => idx.apply_set(&obj),
                Event::Deleted(obj) => idx.delete_set(&obj.key),
                Event::Relisted(objs) => {
                    idx.clear_sets();
                    for obj in &objs {
                        idx.apply_set(obj);
                    }
                    idx.deployment_keys()
                }
            }
        };
        for key in wake {
            queue.add(key);
        }
    }
    queue.close();
}

/// Only deletions matter: a Recreate rollout waits until the old pods are
/// gone, and their ReplicaSets' status stops changing before that.
async fn follow_pods(ctrl: Arc<Controller>, mut watcher: Watcher, queue: Queue<String>) {
    while let Some(event) = watcher.next().await {
        let wake = match event {
            Event::Applied(_) => Vec::new(),
            Event::Deleted(obj) => PodFacts::parse(obj)
                .ok()
                .and_then(|p| p.controller)
                .and_then(|c| ctrl.index.lock().owner_of_set(&c.uid).cloned())
                .into_iter()
                .collect(),
            Event::Relisted(_) => ctrl.index.lock().deployment_keys(),
        };
        for key in wake {
            queue.add(key);
        }
    }
    queue.close();
}

impl Controller {
    async fn reconcile(&self, key: &str) -> Result<Action, Error> {
        let Some((ns, name)) = key.split_once('/') else {
            return Ok(Action::Done);
        };
        // Everything committed so far, this controller's writes included.
        pods::caught_up(&self.client).await?;
        let Some(d) = self.client.get::<Deployment>(Some(ns), name)? else {
            return Ok(Action::Done);
        };
        sync::Sync::new(self, d).run().await
    }
}

#[cfg(test)]
mod tests;
