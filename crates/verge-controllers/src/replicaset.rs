//! The ReplicaSet controller: keeps `spec.replicas` active pods matching a
//! ReplicaSet's selector, the way kube-controller-manager does.
//!
//! - Pods are created from the template (`generateName: <rs>-`, a
//!   controller ownerReference that blocks owner deletion) in slow-start
//!   batches of 1, 2, 4, ... and at most [`BURST`] per sync, so a template
//!   the API rejects costs one request per retry, not `replicas`.
//! - Orphans the selector matches are adopted; owned pods it no longer
//!   matches are released.
//! - Surplus pods are deleted in kube's order ([`ranking`]): unscheduled,
//!   pending, not ready, cheap, crowded, fresh and young ones first.
//! - Status counts replicas, fully labeled, ready and available pods
//!   (`minReadySeconds`); a failed create or delete sets the
//!   ReplicaFailure condition and a Warning Event, and the key retries with
//!   backoff instead of looping.
//! - [`expectations`] hold a ReplicaSet back until the index shows its own
//!   last writes, so it never creates the same pods twice.
//!
//! Memory: pods are held as [`facts::PodFacts`] projections sharing the
//! watch cache's entries; nothing keeps a decoded copy of every pod.

pub mod expectations;
pub mod facts;
pub mod index;
mod ranking;
mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use parking_lot::Mutex;
use verge_apimachinery::labels::Selector;
use verge_apiserver::resources::Deleted;
use verge_runtime::{
    Action, Client, ControllerMetrics, DeleteOptions, Error, Event, ObjectRef, Part, Queue,
    Recorder, Watcher,
};

use self::expectations::Expectations;
use self::facts::PodFacts;
use self::index::{Index, set_key};
use self::status::Failure;
use crate::pods;

/// Most pods created or deleted in one sync (kube's burstReplicas).
pub const BURST: usize = 500;
/// Concurrent reconciles.
const WORKERS: usize = 4;
/// Concurrent adoption and deletion requests of one sync.
const PARALLEL_WRITES: usize = 64;
/// Per-pod Events of one sync; beyond this, one Event sums them up.
const EVENTS_PER_SYNC: usize = 10;

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>) {
    let watchers = client
        .watcher::<ReplicaSet>(None)
        .and_then(|sets| Ok((sets, client.watcher::<Pod>(None)?)));
    let (sets, pods) = match watchers {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "replicaset controller cannot start");
            return;
        }
    };
    let ctrl = Arc::new(Controller {
        recorder: Recorder::new(client.clone(), "replicaset-controller"),
        client,
        index: Mutex::new(Index::new()),
        expectations: Expectations::new(),
    });
    let queue = Queue::new();
    let followers = [
        tokio::spawn(follow_sets(ctrl.clone(), sets, queue.clone())),
        tokio::spawn(follow_pods(ctrl.clone(), pods, queue.clone())),
    ];
    verge_runtime::run(
        "replicaset",
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

struct Controller {
    client: Client,
    recorder: Recorder,
    index: Mutex<Index>,
    expectations: Expectations,
}

async fn follow_sets(ctrl: Arc<Controller>, mut watcher: Watcher, queue: Queue<String>) {
    while let Some(event) = watcher.next().await {
        let wake = {
            let mut idx = ctrl.index.lock();
            match event {
                Event::Applied(obj) => match Client::decode::<ReplicaSet>(&obj) {
                    Ok(rs) => idx.apply_set(&rs).into_iter().collect(),
                    Err(e) => {
                        tracing::warn!(error = %e, "replicaset does not decode");
                        Vec::new()
                    }
                },
                Event::Deleted(obj) => {
                    if let Ok(rs) = Client::decode::<ReplicaSet>(&obj)
                        && let (Some(ns), Some(name)) = (&rs.metadata.namespace, &rs.metadata.name)
                    {
                        idx.delete_set(ns, name);
                        ctrl.expectations.forget(&set_key(ns, name));
                    }
                    Vec::new()
                }
                Event::Relisted(objs) => {
                    idx.clear_sets();
                    for obj in objs {
                        if let Ok(rs) = Client::decode::<ReplicaSet>(&obj) {
                            idx.apply_set(&rs);
                        }
                    }
                    idx.set_keys()
                }
            }
        };
        for key in wake {
            queue.add(key);
        }
    }
    queue.close();
}

async fn follow_pods(ctrl: Arc<Controller>, mut watcher: Watcher, queue: Queue<String>) {
    while let Some(event) = watcher.next().await {
        let (wake, revision) = {
            let mut idx = ctrl.index.lock();
            match event {
                Event::Applied(obj) => {
                    let rev = obj.revision;
                    (idx.apply_pod(obj), rev)
                }
                Event::Deleted(obj) => (idx.delete_pod(&obj.key), obj.revision),
                Event::Relisted(objs) => {
                    // The snapshot is at least as new as its newest object;
                    // a write after that is observed when its event comes
                    // (or given up on after the TTL).
                    let rev = objs.iter().map(|o| o.revision).max().unwrap_or(0);
                    idx.relist_pods(objs);
                    (idx.set_keys(), rev)
                }
            }
        };
        ctrl.expectations.observe(revision);
        for key in wake {
            queue.add(key);
        }
    }
    queue.close();
}

/// Why a pod was not adopted: it changed under us. Not an error.
const SKIPPED: &str = "changed while being claimed";

fn revision_of(meta_rv: Option<&str>) -> i64 {
    meta_rv.and_then(|rv| rv.parse().ok()).unwrap_or(0)
}

/// The message of an error, without the HTTP code in front.
fn message(e: &Error) -> String {
    match e {
        Error::Api(api) => api.message.clone(),
        other => other.to_string(),
    }
}

fn namespace_terminating(e: &Error) -> bool {
    matches!(e, Error::Api(api) if api.reason == "Forbidden" && api.message.contains("being terminated"))
}

fn duration_until(at: jiff::Timestamp, now: jiff::Timestamp) -> Duration {
    let nanos = (at.as_nanosecond() - now.as_nanosecond()).max(0);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

impl Controller {
    async fn reconcile(&self, key: &str) -> Result<Action, Error> {
        let Some((ns, name)) = key.split_once('/') else {
            return Ok(Action::Done);
        };
        let Some(rs) = self.client.get::<ReplicaSet>(Some(ns), name)? else {
            self.expectations.forget(key);
            return Ok(Action::Done);
        };
        let me = ObjectRef::of(&rs);
        let spec = rs.spec.clone().unwrap_or_default();
        let selector = match pods::selector(Some(&spec.selector)) {
            Ok(s) if !s.is_empty() => s,
            Ok(_) => {
                self.recorder.warning(
                    &me,
                    "SelectingAll",
                    "This ReplicaSet is selecting all pods. A non-empty selector is required.",
                );
                return Ok(Action::Done);
            }
            Err(e) => {
                self.recorder
                    .warning(&me, "InvalidSelector", &format!("Invalid selector: {e}"));
                return Ok(Action::Done);
            }
        };
        // Checked before reading the index: once satisfied, the index holds
        // every write this ReplicaSet made.
        let pending = self.expectations.satisfied(key);
        let (owned, orphans) = {
            let idx = self.index.lock();
            (idx.controlled_by(&me.uid), idx.orphans_in(ns))
        };
        let deleting = rs.metadata.deletion_timestamp.is_some();
        let claimed = self
            .claim(key, &me, deleting, &selector, owned, orphans)
            .await?;
        let active: Vec<Arc<PodFacts>> = claimed.into_iter().filter(|p| p.is_active()).collect();

        let now = jiff::Timestamp::now();
        let mut outcome = Ok(());
        if pending.is_ok() && !deleting {
            outcome = self.manage(key, &rs, &me, &spec, &active).await;
        }
        let failure = outcome.as_ref().err().map(|(f, _)| f.clone());
        let status = status::compute(&rs, &active, failure.as_ref(), now);
        if rs.status.as_ref() != Some(&status) {
            let uid = me.uid.clone();
            let written = self
                .client
                .update::<ReplicaSet, _>(Some(ns), name, Part::Status, |cur| {
                    if cur.metadata.uid.as_deref() != Some(uid.as_str()) {
                        return Err(Error::Other(SKIPPED.into()));
                    }
                    cur.status = Some(status.clone());
                    Ok(())
                })
                .await;
            match written {
                Ok(_) => {}
                Err(e) if e.is_not_found() || matches!(&e, Error::Other(m) if m == SKIPPED) => {}
                Err(e) => return Err(e),
            }
        }
        if let Err((_, e)) = outcome {
            return Err(e);
        }

        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let mut after =
            status::next_available(&active, min_ready, now).map(|at| duration_until(at, now));
        if let Err(left) = pending {
            after = Some(after.map_or(left, |a| a.min(left)));
        }
        Ok(after.map_or(Action::Done, |a| {
            Action::RequeueAfter(a.max(Duration::from_millis(100)))
        }))
    }

    /// kube's ControllerRefManager: keeps owned pods the selector matches,
    /// releases the others, adopts matching orphans. Returns the pods the
    /// ReplicaSet controls now.
    async fn claim(
        &self,
        key: &str,
        me: &ObjectRef,
        deleting: bool,
        selector: &Selector,
        owned: Vec<Arc<PodFacts>>,
        orphans: Vec<Arc<PodFacts>>,
    ) -> Result<Vec<Arc<PodFacts>>, Error> {
        let mut claimed = Vec::with_capacity(owned.len());
        let mut release = Vec::new();
        for p in owned {
            if selector.matches(p.labels()) {
                claimed.push(p);
            } else if !deleting && !p.deleting {
                release.push(p);
            }
        }
        let adopt: Vec<_> = if deleting {
            Vec::new()
        } else {
            orphans
                .into_iter()
                .filter(|p| !p.deleting && selector.matches(p.labels()))
                .collect()
        };
        let ns = me.namespace.as_deref().unwrap_or_default();

        let mut releases = futures::stream::iter(release)
            .map(|p| async move {
                let uid = me.uid.clone();
                let result = self
                    .client
                    .update::<Pod, _>(Some(ns), p.name(), Part::Main, |pod| {
                        let refs = pod.metadata.owner_references.get_or_insert_with(Vec::new);
                        refs.retain(|r| r.uid != uid);
                        if refs.is_empty() {
                            pod.metadata.owner_references = None;
                        }
                        Ok(())
                    })
                    .await;
                (p, result)
            })
            .buffer_unordered(PARALLEL_WRITES);
        while let Some((p, result)) = releases.next().await {
            match result {
                Ok(pod) => {
                    tracing::info!(replicaset = %me, pod = p.name(), "released pod that no longer matches the selector");
                    self.expectations
                        .expect(key, revision_of(pod.metadata.resource_version.as_deref()));
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        drop(releases);

        let mut adoptions = futures::stream::iter(adopt)
            .map(|p| async move {
                let result = self
                    .client
                    .update::<Pod, _>(Some(ns), p.name(), Part::Main, |pod| {
                        let labels = pod.metadata.labels.clone().unwrap_or_default();
                        if pod.metadata.uid.as_deref() != Some(p.uid.as_str())
                            || pods::controller_of(&pod.metadata).is_some()
                            || pods::is_deleting(&pod.metadata)
                            || !selector.matches(&labels)
                        {
                            return Err(Error::Other(SKIPPED.into()));
                        }
                        pod.metadata
                            .owner_references
                            .get_or_insert_with(Vec::new)
                            .push(me.controller_owner());
                        Ok(())
                    })
                    .await;
                (p, result)
            })
            .buffer_unordered(PARALLEL_WRITES);
        while let Some((p, result)) = adoptions.next().await {
            match result {
                Ok(pod) => {
                    tracing::info!(replicaset = %me, pod = p.name(), "adopted orphan pod");
                    self.expectations
                        .expect(key, revision_of(pod.metadata.resource_version.as_deref()));
                    claimed.push(p);
                }
                Err(e) if e.is_not_found() => {}
                Err(Error::Other(m)) if m == SKIPPED => {}
                Err(e) => return Err(e),
            }
        }
        Ok(claimed)
    }

    /// Creates or deletes pods toward `spec.replicas`.
    async fn manage(
        &self,
        key: &str,
        rs: &ReplicaSet,
        me: &ObjectRef,
        spec: &k8s_openapi::api::apps::v1::ReplicaSetSpec,
        active: &[Arc<PodFacts>],
    ) -> Result<(), (Failure, Error)> {
        let want = usize::try_from(spec.replicas.unwrap_or(1).max(0)).unwrap_or(0);
        if active.len() < want {
            let count = (want - active.len()).min(BURST);
            self.create_pods(key, rs, me, spec, count).await
        } else if active.len() > want {
            let count = (active.len() - want).min(BURST);
            self.delete_pods(key, me, active, count).await
        } else {
            Ok(())
        }
    }

    async fn create_pods(
        &self,
        key: &str,
        rs: &ReplicaSet,
        me: &ObjectRef,
        spec: &k8s_openapi::api::apps::v1::ReplicaSetSpec,
        count: usize,
    ) -> Result<(), (Failure, Error)> {
        let failed = |e: Error| {
            let message = message(&e);
            (
                Failure {
                    reason: "FailedCreate",
                    message,
                },
                e,
            )
        };
        let Some(template) = &spec.template else {
            return Err(failed(Error::Other("spec.template is required".into())));
        };
        let ns = me.namespace.clone().unwrap_or_default();
        let prefix = format!("{}-", rs.metadata.name.as_deref().unwrap_or_default());
        let created = Mutex::new(Vec::with_capacity(count));
        let (_, error) = pods::slow_start(count, |_| {
            let pod = pods::from_template(template, me, &ns, None, Some(prefix.clone()));
            let created = &created;
            async move {
                let pod = self.client.create(&pod).await?;
                self.expectations
                    .expect(key, revision_of(pod.metadata.resource_version.as_deref()));
                created.lock().push(pod.metadata.name.unwrap_or_default());
                Ok(())
            }
        })
        .await;
        let created = created.into_inner();
        self.announce(me, "SuccessfulCreate", "Created pod", &created);
        match error {
            None => Ok(()),
            Some(e) if namespace_terminating(&e) => {
                tracing::debug!(replicaset = %me, "namespace is terminating; not creating pods");
                Ok(())
            }
            Some(e) => {
                let (failure, e) = failed(e);
                self.recorder.warning(
                    me,
                    "FailedCreate",
                    &format!("Error creating: {}", failure.message),
                );
                Err((failure, e))
            }
        }
    }

    async fn delete_pods(
        &self,
        key: &str,
        me: &ObjectRef,
        active: &[Arc<PodFacts>],
        count: usize,
    ) -> Result<(), (Failure, Error)> {
        let mut victims = active.to_vec();
        if count < victims.len() {
            let ns = me.namespace.as_deref().unwrap_or_default();
            let per_node = self.index.lock().siblings_per_node(ns, &me.uid);
            ranking::sort_for_deletion(&mut victims, &per_node, jiff::Timestamp::now());
        }
        victims.truncate(count);
        let rt = self
            .client
            .resource_type::<Pod>()
            .map_err(|e| (deletion_failure(&e), e))?;
        let ns = me.namespace.as_deref();
        let mut deletions = futures::stream::iter(victims)
            .map(|p| {
                let rt = rt.clone();
                async move {
                    let opts = DeleteOptions {
                        precondition_uid: Some(p.uid.clone()),
                        ..DeleteOptions::default()
                    };
                    let result = self
                        .client
                        .resources()
                        .delete(&rt, ns, p.name(), &opts)
                        .await;
                    (p, result)
                }
            })
            .buffer_unordered(PARALLEL_WRITES);
        let mut deleted = Vec::new();
        let mut error = None;
        while let Some((p, result)) = deletions.next().await {
            match result {
                Ok(Deleted::Gone(obj) | Deleted::Pending(obj)) => {
                    let rv = obj
                        .pointer("/metadata/resourceVersion")
                        .and_then(|v| v.as_str());
                    self.expectations.expect(key, revision_of(rv));
                    deleted.push(p.name().to_owned());
                }
                // Gone already, or replaced by another pod of that name.
                Err(e) if e.reason == "NotFound" || e.reason == "Conflict" => {}
                Err(e) => {
                    error.get_or_insert(Error::Api(e));
                }
            }
        }
        self.announce(me, "SuccessfulDelete", "Deleted pod", &deleted);
        match error {
            None => Ok(()),
            Some(e) => {
                let failure = deletion_failure(&e);
                self.recorder.warning(
                    me,
                    "FailedDelete",
                    &format!("Error deleting: {}", failure.message),
                );
                Err((failure, e))
            }
        }
    }

    /// One Event per pod like kube for small changes; a summary for big
    /// ones, which would otherwise write as many Events as pods.
    fn announce(&self, me: &ObjectRef, reason: &str, what: &str, names: &[String]) {
        if names.len() <= EVENTS_PER_SYNC {
            for n in names {
                self.recorder.normal(me, reason, &format!("{what}: {n}"));
            }
        } else {
            let shown = names[..5].join(", ");
            self.recorder.normal(
                me,
                reason,
                &format!("{what}s: {shown} and {} more", names.len() - 5),
            );
        }
    }
}

fn deletion_failure(e: &Error) -> Failure {
    Failure {
        reason: "FailedDelete",
        message: message(e),
    }
}

#[cfg(test)]
pub(crate) mod tests;
