//! The Job controller: runs a Job's pods to completion — `completions`
//! successes, `parallelism` at a time, NonIndexed or Indexed — replaces
//! failed pods with exponential backoff until `backoffLimit`, enforces
//! `activeDeadlineSeconds`, suspends and resumes, applies
//! `podFailurePolicy`, and deletes finished Jobs after
//! `ttlSecondsAfterFinished`.
//!
//! Every pod carries the `batch.kubernetes.io/job-tracking` finalizer
//! until the Job has counted it (see `assess.rs` for the protocol), so a
//! finished pod that is deleted, garbage-collected or lost in a restart is
//! still counted exactly once.

mod assess;
mod indexes;
mod policy;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobStatus};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use parking_lot::Mutex;
use verge_runtime::{
    Action, Client, ControllerMetrics, DeleteOptions, Error, Event, ObjectRef, Part, Queue,
    Recorder,
};

use crate::pods::owners::{OwnerFacts, Owners, meta_of, ns_name};
use crate::pods::{self, controller_of};
use assess::{Manage, PodRef, TRACKING_FINALIZER};
use indexes::COMPLETION_INDEX;

const WORKERS: usize = 4;
/// Jobs managed by anyone else are left alone (`spec.managedBy`).
const MANAGED_BY_US: &str = "kubernetes.io/job-controller";

/// What a worker reconciles.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Job(String, String),
    /// A pod with the tracking finalizer whose Job may be gone.
    Orphan(String, String),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Job(ns, n) => write!(f, "job {ns}/{n}"),
            Key::Orphan(ns, n) => write!(f, "pod {ns}/{n}"),
        }
    }
}

struct Ctx {
    client: Client,
    recorder: Recorder,
    owners: Mutex<Owners>,
}

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>) {
    let (mut jobs, mut pods) = match (client.watcher::<Job>(None), client.watcher::<Pod>(None)) {
        (Ok(j), Ok(p)) => (j, p),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "job controller cannot start");
            return;
        }
    };
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), "job-controller"),
        client,
        owners: Mutex::new(Owners::new("Job")),
    });
    let queue: Queue<Key> = Queue::new();
    let workers = tokio::spawn(verge_runtime::run(
        "job",
        queue.clone(),
        WORKERS,
        metrics,
        ctx.clone(),
        reconcile,
    ));
    loop {
        tokio::select! {
            ev = jobs.next() => match ev {
                Some(ev) => on_job(&ctx, &queue, ev),
                None => break,
            },
            ev = pods.next() => match ev {
                Some(ev) => on_pod(&ctx, &queue, ev),
                None => break,
            },
        }
    }
    queue.close();
    let _ = workers.await;
}

fn on_job(ctx: &Ctx, queue: &Queue<Key>, ev: Event) {
    let mut owners = ctx.owners.lock();
    let applied = owners.owner_event(&ev, |obj| {
        OwnerFacts::decode::<Job>(obj, |j| j.spec.as_ref().and_then(|s| s.selector.as_ref()))
    });
    for key in applied {
        queue.add(Key::Job(key.ns, key.name));
    }
    if !matches!(ev, Event::Applied(_)) {
        enqueue_orphans(&owners, queue);
    }
}

fn enqueue_orphans(owners: &Owners, queue: &Queue<Key>) {
    for key in owners.orphans() {
        if let Some((ns, name)) = ns_name(&key) {
            queue.add(Key::Orphan(ns.to_owned(), name.to_owned()));
        }
    }
}

fn on_pod(ctx: &Ctx, queue: &Queue<Key>, ev: Event) {
    let mut owners = ctx.owners.lock();
    let applied = |obj: &verge_runtime::CachedObject, owners: &mut Owners| {
        let Some((ns, name)) = ns_name(&obj.key) else {
            return;
        };
        let Ok(meta) = meta_of(obj) else {
            return;
        };
        for k in owners.pod_changed(&obj.key, ns, Some(&meta)) {
            queue.add(Key::Job(k.ns, k.name));
        }
        let tracked = meta
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == TRACKING_FINALIZER);
        let job_alive = controller_of(&meta)
            .filter(|r| r.kind == "Job")
            .is_some_and(|r| owners.is_live(ns, &r.name, &r.uid));
        if tracked && !job_alive {
            queue.add(Key::Orphan(ns.to_owned(), name.to_owned()));
        }
    };
    match ev {
        Event::Applied(obj) => applied(&obj, &mut owners),
        Event::Deleted(obj) => {
            if let Some((ns, _)) = ns_name(&obj.key) {
                for k in owners.pod_changed(&obj.key, ns, None) {
                    queue.add(Key::Job(k.ns, k.name));
                }
            }
        }
        Event::Relisted(objs) => {
            owners.clear_pods();
            for obj in &objs {
                applied(obj, &mut owners);
            }
        }
    }
}

async fn reconcile(ctx: Arc<Ctx>, key: Key) -> Result<Action, Error> {
    pods::caught_up(&ctx.client).await?;
    match key {
        Key::Job(ns, name) => sync_job(&ctx, &ns, &name).await,
        Key::Orphan(ns, name) => release_orphan(&ctx, &ns, &name).await,
    }
}

/// Removes the tracking finalizer from a pod whose Job is gone or going:
/// nothing will count it any more, and it must not outlive its Job.
async fn release_orphan(ctx: &Ctx, ns: &str, name: &str) -> Result<Action, Error> {
    let Some(pod) = ctx.client.get::<Pod>(Some(ns), name)? else {
        return Ok(Action::Done);
    };
    let tracked = pod
        .metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == TRACKING_FINALIZER);
    if !tracked {
        return Ok(Action::Done);
    }
    if let Some(r) = controller_of(&pod.metadata).filter(|r| r.kind == "Job") {
        let job: Option<Job> = ctx.client.get(Some(ns), &r.name)?;
        if job.is_some_and(|j| {
            j.metadata.uid.as_deref() == Some(&r.uid) && !pods::is_deleting(&j.metadata)
        }) {
            return Ok(Action::Done);
        }
    }
    remove_finalizer(&ctx.client, ns, name).await?;
    tracing::debug!(pod = %format!("{ns}/{name}"), "tracking finalizer removed from a pod whose Job is gone");
    Ok(Action::Done)
}

/// Removes the tracking finalizer. A pod that is gone counts as done.
async fn remove_finalizer(client: &Client, ns: &str, name: &str) -> Result<(), Error> {
    let result = client
        .update::<Pod, _>(Some(ns), name, Part::Main, |p| {
            if let Some(f) = &mut p.metadata.finalizers {
                f.retain(|x| x != TRACKING_FINALIZER);
                if f.is_empty() {
                    p.metadata.finalizers = None;
                }
            }
            Ok(())
        })
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

async fn sync_job(ctx: &Ctx, ns: &str, name: &str) -> Result<Action, Error> {
    let client = &ctx.client;
    let Some(job) = client.get::<Job>(Some(ns), name)? else {
        return Ok(Action::Done);
    };
    let spec = job.spec.clone().unwrap_or_default();
    if spec
        .managed_by
        .as_deref()
        .is_some_and(|m| m != MANAGED_BY_US)
    {
        return Ok(Action::Done);
    }
    let owner = ObjectRef::of(&job);
    let selector = match pods::selector(spec.selector.as_ref()) {
        Ok(s) => s,
        Err(why) => {
            ctx.recorder.warning(&owner, "InvalidSelector", &why);
            return Ok(Action::Done);
        }
    };
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let keys = ctx.owners.lock().pod_keys(&uid);
    let candidates = pods::candidates(client, ns, &selector, keys)?;
    let now = Timestamp::now();
    if assess::is_finished(&job) {
        // Everything was counted before the Job finished; nothing may keep
        // a pod alive now, and a finished Job adopts nothing.
        let controlled = candidates
            .iter()
            .filter(|p| controller_of(&p.metadata).is_some_and(|r| r.uid == uid));
        for p in controlled.filter(|p| has_finalizer(p)) {
            remove_finalizer(client, ns, p.metadata.name.as_deref().unwrap_or_default()).await?;
        }
        return expire(ctx, &job, &owner, now).await;
    }
    let deleting = pods::is_deleting(&job.metadata);
    let owned = pods::claim::claim(
        client,
        &owner,
        deleting,
        &selector,
        candidates,
        Some(TRACKING_FINALIZER),
    )
    .await?;

    let a = assess::assess(&job, &owned, now);
    for (type_, reason, message) in &a.events {
        ctx.recorder.publish(&owner, *type_, reason, message);
    }

    // Create and remove pods.
    let mut status = a.status;
    let mut finish = a.finish;
    // Pods whose finalizer went with their removal (not failures).
    let mut untracked: HashSet<String> = HashSet::new();
    let mut terminating: Vec<PodRef> = a.terminating;
    let manage_result = match a.manage {
        Manage::Nothing => Ok(()),
        Manage::Terminate(doomed) => {
            let mut first_error = None;
            for p in &doomed {
                match client
                    .delete::<Pod>(Some(ns), &p.name, &DeleteOptions::default())
                    .await
                {
                    Ok(_) => {
                        adjust(&mut status, -1, p.ready);
                        terminating.push(p.clone());
                        ctx.recorder.normal(
                            &owner,
                            "SuccessfulDelete",
                            &format!("Deleted pod: {}", p.name),
                        );
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            first_error.map_or(Ok(()), Err)
        }
        Manage::Scale { create, remove } => {
            let mut first_error = None;
            for p in &remove {
                let removed = async {
                    remove_finalizer(client, ns, &p.name).await?;
                    client
                        .delete::<Pod>(Some(ns), &p.name, &DeleteOptions::default())
                        .await
                }
                .await;
                match removed {
                    Ok(_) => {
                        adjust(&mut status, -1, p.ready);
                        untracked.insert(p.uid.clone());
                        if p.bound {
                            terminating.push(p.clone());
                        }
                        ctx.recorder.normal(
                            &owner,
                            "SuccessfulDelete",
                            &format!("Deleted pod: {}", p.name),
                        );
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            if first_error.is_none() && !create.is_empty() {
                let (made, err) = pods::slow_start(create.len(), |i| {
                    let pod = new_pod(&job, &owner, ns, create[i]);
                    let (recorder, owner) = (&ctx.recorder, &owner);
                    async move {
                        match client.create(&pod).await {
                            Ok(p) => {
                                let name = p.metadata.name.unwrap_or_default();
                                recorder.normal(
                                    owner,
                                    "SuccessfulCreate",
                                    &format!("Created pod: {name}"),
                                );
                                Ok(())
                            }
                            Err(e) => {
                                let prefix =
                                    pod.metadata.generate_name.as_deref().unwrap_or_default();
                                let why = pods::create_error_message(&e, prefix);
                                recorder.warning(
                                    owner,
                                    "FailedCreate",
                                    &format!("Error creating: {why}"),
                                );
                                Err(e)
                            }
                        }
                    }
                })
                .await;
                status.active = Some(status.active.unwrap_or(0) + made as i32);
                if let Some(e) = err {
                    first_error.get_or_insert(e);
                }
            }
            first_error.map_or(Ok(()), Err)
        }
    };
    if manage_result.is_err() && a.new_success {
        // The success was decided assuming every removal went through.
        if let Some(c) = &mut status.conditions {
            c.retain(|c| c.type_ != "SuccessCriteriaMet");
        }
        finish = None;
    }

    // Counting, step 1: the uids of finished pods are in the status before
    // any finalizer goes.
    write_status(client, ns, name, &job, &status).await?;
    let job_status_before = status.clone();

    // Step 2: release the finished pods.
    let mut released: HashSet<String> = HashSet::new();
    let mut release_error = None;
    for p in &a.finalize {
        match remove_finalizer(client, ns, &p.name).await {
            Ok(()) => {
                released.insert(p.uid.clone());
            }
            Err(e) => {
                release_error.get_or_insert(e);
            }
        }
    }

    // Step 3: count the pods that no longer carry the finalizer.
    let still_tracked: HashSet<&String> = a
        .with_finalizer
        .iter()
        .filter(|u| !released.contains(*u) && !untracked.contains(*u))
        .collect();
    count_released(&mut status, &still_tracked);

    // A terminating pod whose last finalizer we removed is gone now.
    let terminating_now = terminating
        .iter()
        .filter(|p| !released.contains(&p.uid) || p.other_finalizers)
        .count();
    status.terminating = Some(terminating_now as i32);
    let uncounted_empty = status
        .uncounted_terminated_pods
        .as_ref()
        .is_none_or(|u| u.succeeded.is_none() && u.failed.is_none());
    let mut finished_now = None;
    if let Some(f) =
        finish.filter(|_| uncounted_empty && terminating_now == 0 && manage_result.is_ok())
    {
        let mut conds = status.conditions.take().unwrap_or_default();
        let reason = f.reason.clone().unwrap_or_default();
        let message = f.message.clone().unwrap_or_default();
        assess::ensure_condition(&mut conds, &f.type_, "True", &reason, &message, now);
        status.conditions = Some(conds);
        status.active = Some(0);
        status.ready = Some(0);
        if f.type_ == "Complete" {
            status.completion_time = Some(Time(now));
        }
        finished_now = Some(f);
    }
    if status != job_status_before {
        write_status(client, ns, name, &job, &status).await?;
    }
    if let Some(f) = &finished_now {
        if f.type_ == "Complete" {
            ctx.recorder.normal(&owner, "Completed", "Job completed");
        } else {
            ctx.recorder.warning(
                &owner,
                f.reason.as_deref().unwrap_or("Failed"),
                f.message.as_deref().unwrap_or_default(),
            );
        }
        tracing::info!(job = %owner, condition = f.type_, reason = f.reason.as_deref().unwrap_or_default(), "job finished");
    }

    manage_result?;
    if let Some(e) = release_error {
        return Err(e);
    }
    if finished_now.is_some() && spec.ttl_seconds_after_finished.is_some() {
        return Ok(Action::RequeueAfter(std::time::Duration::from_secs(
            spec.ttl_seconds_after_finished.unwrap_or(0).max(0) as u64,
        )));
    }
    Ok(a.requeue.map_or(Action::Done, Action::RequeueAfter))
}

fn has_finalizer(p: &Pod) -> bool {
    p.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == TRACKING_FINALIZER)
}

/// One pod fewer active (and ready).
fn adjust(status: &mut JobStatus, delta: i32, ready: bool) {
    status.active = Some((status.active.unwrap_or(0) + delta).max(0));
    if ready {
        status.ready = Some((status.ready.unwrap_or(0) + delta).max(0));
    }
}

/// Moves uncounted uids whose pods no longer carry the finalizer into the
/// counters.
fn count_released(status: &mut JobStatus, still_tracked: &HashSet<&String>) {
    let Some(unc) = status.uncounted_terminated_pods.as_mut() else {
        return;
    };
    let mut moved_s = 0;
    let mut moved_f = 0;
    if let Some(s) = &mut unc.succeeded {
        let before = s.len();
        s.retain(|u| still_tracked.contains(u));
        moved_s = before - s.len();
        if s.is_empty() {
            unc.succeeded = None;
        }
    }
    if let Some(f) = &mut unc.failed {
        let before = f.len();
        f.retain(|u| still_tracked.contains(u));
        moved_f = before - f.len();
        if f.is_empty() {
            unc.failed = None;
        }
    }
    if moved_s > 0 && status.completed_indexes.is_none() {
        status.succeeded = Some(status.succeeded.unwrap_or(0) + moved_s as i32);
    }
    if moved_f > 0 {
        status.failed = Some(status.failed.unwrap_or(0) + moved_f as i32);
    }
}

async fn write_status(
    client: &Client,
    ns: &str,
    name: &str,
    job: &Job,
    status: &JobStatus,
) -> Result<(), Error> {
    if job.status.as_ref() == Some(status) {
        return Ok(());
    }
    client
        .update::<Job, _>(Some(ns), name, Part::Status, |j| {
            j.status = Some(status.clone());
            Ok(())
        })
        .await
        .map(|_| ())
}

/// Deletes a finished Job once `ttlSecondsAfterFinished` has passed (what
/// kube's TTL-after-finished controller does), or says when to look again.
async fn expire(ctx: &Ctx, job: &Job, owner: &ObjectRef, now: Timestamp) -> Result<Action, Error> {
    let Some(ttl) = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished) else {
        return Ok(Action::Done);
    };
    if pods::is_deleting(&job.metadata) {
        return Ok(Action::Done);
    }
    let Some(finished) = assess::finished_at(job) else {
        return Ok(Action::Done);
    };
    let expires = finished + jiff::SignedDuration::from_secs(i64::from(ttl.max(0)));
    if now < expires {
        let wait = expires.duration_since(now).try_into().unwrap_or_default();
        return Ok(Action::RequeueAfter(wait));
    }
    // Background: the Job goes at once and the garbage collector removes
    // its pods (foreground would leave it waiting on them).
    let opts = DeleteOptions {
        precondition_uid: Some(owner.uid.clone()),
        propagation_policy: Some("Background".into()),
        ..DeleteOptions::default()
    };
    match ctx
        .client
        .delete::<Job>(owner.namespace.as_deref(), &owner.name, &opts)
        .await
    {
        Ok(_) => {
            tracing::info!(job = %owner, ttl, "finished job expired and deleted");
            Ok(Action::Done)
        }
        Err(e) if e.is_conflict() => Ok(Action::Done),
        Err(e) => Err(e),
    }
}

/// A new pod for the Job (for completion index `index` of an Indexed Job).
fn new_pod(job: &Job, owner: &ObjectRef, ns: &str, index: Option<i32>) -> Pod {
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let generate = match index {
        Some(i) => format!("{}-{i}-", owner.name),
        None => format!("{}-", owner.name),
    };
    let mut pod = pods::from_template(&template, owner, ns, None, Some(generate));
    let finalizers = pod.metadata.finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
        finalizers.push(TRACKING_FINALIZER.to_owned());
    }
    if let Some(i) = index {
        let value = i.to_string();
        pod.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(COMPLETION_INDEX.to_owned(), value.clone());
        pod.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(COMPLETION_INDEX.to_owned(), value);
        if let Some(spec) = &mut pod.spec {
            let env = EnvVar {
                name: "JOB_COMPLETION_INDEX".into(),
                value: None,
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        api_version: None,
                        field_path: format!("metadata.annotations['{COMPLETION_INDEX}']"),
                    }),
                    ..EnvVarSource::default()
                }),
            };
            for c in spec
                .containers
                .iter_mut()
                .chain(spec.init_containers.iter_mut().flatten())
            {
                let vars = c.env.get_or_insert_with(Vec::new);
                if !vars.iter().any(|v| v.name == env.name) {
                    vars.push(env.clone());
                }
            }
            if spec.hostname.is_none() {
                spec.hostname = Some(format!("{}-{i}", owner.name));
            }
        }
    }
    pod
}
