//! The CronJob controller: creates a Job at each time the schedule names
//! (standard five-field cron, `@hourly`-style descriptors and `@every`, in
//! `spec.timeZone`), named `<cronjob>-<scheduled time in minutes>` so a
//! restart never creates the same run twice; applies the concurrency
//! policy (Allow, Forbid, Replace) and `startingDeadlineSeconds`; tracks
//! `status.active`, `lastScheduleTime` and `lastSuccessfulTime`; and keeps
//! only the last `successfulJobsHistoryLimit` / `failedJobsHistoryLimit`
//! finished Jobs. Between firings it sleeps on the work queue until the
//! next scheduled time.

mod schedule;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use verge_apiserver::validation::objects::cron;
use verge_runtime::{
    Action, Client, ControllerMetrics, DeleteOptions, Error, Event, ObjectRef, Part, Queue,
    Recorder,
};

use crate::pods::owners::{OwnerKey, meta_of, ns_name};
use crate::pods::{self, controller_of, is_deleting};

const WORKERS: usize = 2;
/// The scheduled time of a run, on the Jobs this controller creates.
const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// What `kubectl create job --from=cronjob/x` puts on the Jobs it makes.
const INSTANTIATE: &str = "cronjob.kubernetes.io/instantiate";
/// More missed runs than this means a stopped controller or clock skew.
const TOO_MANY_MISSED: usize = 100;
/// Wake a little after the scheduled time, never before it.
const WAKE_SLACK: Duration = Duration::from_millis(100);

struct Ctx {
    client: Client,
    recorder: Recorder,
}

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>) {
    let (mut cronjobs, mut jobs) =
        match (client.watcher::<CronJob>(None), client.watcher::<Job>(None)) {
            (Ok(c), Ok(j)) => (c, j),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cronjob controller cannot start");
                return;
            }
        };
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), "cronjob-controller"),
        client,
    });
    let queue: Queue<OwnerKey> = Queue::new();
    let workers = tokio::spawn(verge_runtime::run(
        "cronjob",
        queue.clone(),
        WORKERS,
        metrics,
        ctx.clone(),
        |ctx, key: OwnerKey| async move { sync(&ctx, &key.ns, &key.name).await },
    ));
    loop {
        tokio::select! {
            ev = cronjobs.next() => match ev {
                Some(Event::Applied(obj) | Event::Deleted(obj)) => {
                    if let Some((ns, name)) = ns_name(&obj.key) {
                        queue.add(OwnerKey::new(ns, name));
                    }
                }
                Some(Event::Relisted(objs)) => {
                    for obj in &objs {
                        if let Some((ns, name)) = ns_name(&obj.key) {
                            queue.add(OwnerKey::new(ns, name));
                        }
                    }
                }
                None => break,
            },
            ev = jobs.next() => match ev {
                Some(Event::Applied(obj) | Event::Deleted(obj)) => enqueue_owner(&queue, &obj),
                Some(Event::Relisted(objs)) => {
                    for obj in &objs {
                        enqueue_owner(&queue, obj);
                    }
                }
                None => break,
            },
        }
    }
    queue.close();
    let _ = workers.await;
}

fn enqueue_owner(queue: &Queue<OwnerKey>, obj: &verge_runtime::CachedObject) {
    let Some((ns, _)) = ns_name(&obj.key) else {
        return;
    };
    if let Ok(meta) = meta_of(obj)
        && let Some(r) = controller_of(&meta).filter(|r| r.kind == "CronJob")
    {
        queue.add(OwnerKey::new(ns, &r.name));
    }
}

fn job_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// `Complete` or `Failed` once the Job has finished.
fn finished(job: &Job) -> Option<&'static str> {
    let conds = job.status.as_ref()?.conditions.as_deref()?;
    ["Complete", "Failed"]
        .into_iter()
        .find(|t| conds.iter().any(|c| c.type_ == *t && c.status == "True"))
}

fn started(job: &Job) -> Timestamp {
    job.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .or(job.metadata.creation_timestamp.as_ref())
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
}

/// The Job's name for the run scheduled at `t`: stable across restarts, so
/// a run is created at most once.
pub fn job_name(cronjob: &str, t: Timestamp) -> String {
    format!("{cronjob}-{}", t.as_second().div_euclid(60))
}

async fn sync(ctx: &Ctx, ns: &str, name: &str) -> Result<Action, Error> {
    pods::caught_up(&ctx.client).await?;
    let client = &ctx.client;
    let Some(cj) = client.get::<CronJob>(Some(ns), name)? else {
        return Ok(Action::Done);
    };
    if is_deleting(&cj.metadata) {
        return Ok(Action::Done);
    }
    let owner = ObjectRef::of(&cj);
    let spec = cj.spec.clone().unwrap_or_default();
    let mut status = cj.status.clone().unwrap_or_default();
    let mut active = status.active.take().unwrap_or_default();

    // The Jobs this CronJob controls.
    let prefix = client.prefix::<Job>(Some(ns))?;
    let mut jobs: Vec<Job> = Vec::new();
    for obj in client.list_cached(&verge_runtime::Filter::prefix(prefix)) {
        let Ok(meta) = meta_of(&obj) else { continue };
        if controller_of(&meta).is_some_and(|r| r.uid == owner.uid) {
            jobs.push(Client::decode(&obj)?);
        }
    }

    // Keep `active` true to what exists.
    let uids: HashSet<&str> = jobs
        .iter()
        .filter_map(|j| j.metadata.uid.as_deref())
        .collect();
    for j in &jobs {
        let uid = j.metadata.uid.clone().unwrap_or_default();
        let job = j.metadata.name.clone().unwrap_or_default();
        let listed = active.iter().any(|a| a.uid.as_deref() == Some(&uid));
        match (listed, finished(j)) {
            (true, Some(condition)) => {
                active.retain(|a| a.uid.as_deref() != Some(&uid));
                ctx.recorder.normal(
                    &owner,
                    "SawCompletedJob",
                    &format!("Saw completed job: {job}, condition: {condition}"),
                );
                if condition == "Complete"
                    && let Some(done) = j.status.as_ref().and_then(|s| s.completion_time.clone())
                    && status
                        .last_successful_time
                        .as_ref()
                        .is_none_or(|t| t.0 < done.0)
                {
                    status.last_successful_time = Some(done);
                }
            }
            (false, None) => {
                let manual = j
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(INSTANTIATE))
                    .map(String::as_str)
                    == Some("manual");
                if !manual {
                    ctx.recorder.warning(
                        &owner,
                        "UnexpectedJob",
                        &format!("Saw a job that the controller did not create or forgot: {job}"),
                    );
                }
            }
            _ => {}
        }
    }
    active.retain(|a| {
        let present = a.uid.as_deref().is_some_and(|u| uids.contains(u));
        if !present {
            let job = a.name.clone().unwrap_or_default();
            ctx.recorder.normal(
                &owner,
                "MissingJob",
                &format!("Active job went missing: {job}"),
            );
        }
        present
    });

    clean_history(
        ctx,
        &owner,
        &jobs,
        spec.successful_jobs_history_limit,
        spec.failed_jobs_history_limit,
    )
    .await?;

    let parsed = cron::parse(&spec.schedule);
    let tz = match spec.time_zone.as_deref() {
        Some(zone) => TimeZone::get(zone).map_err(|e| e.to_string()),
        None => Ok(TimeZone::system()),
    };
    let (sched, tz) = match (parsed, tz) {
        (Ok(s), Ok(tz)) => (s, tz),
        (Err(e), _) => {
            ctx.recorder.warning(
                &owner,
                "UnparseableSchedule",
                &format!("unparseable schedule {:?}: {e}", spec.schedule),
            );
            return finish(ctx, &cj, status, active, None).await;
        }
        (_, Err(e)) => {
            ctx.recorder.warning(
                &owner,
                "UnknownTimeZone",
                &format!(
                    "invalid timeZone {:?}: {e}",
                    spec.time_zone.unwrap_or_default()
                ),
            );
            return finish(ctx, &cj, status, active, None).await;
        }
    };
    let now = Timestamp::now();
    let next_wake = schedule::next_after(&sched, &tz, now).map(|t| {
        let wait: Duration = t.duration_since(now).try_into().unwrap_or_default();
        wait + WAKE_SLACK
    });
    if spec.suspend == Some(true) {
        return finish(ctx, &cj, status, active, None).await;
    }

    // The latest run that is due and has not started.
    let mut earliest = status
        .last_schedule_time
        .as_ref()
        .or(cj.metadata.creation_timestamp.as_ref())
        .map_or(now, |t| t.0);
    if let Some(deadline) = spec.starting_deadline_seconds {
        let window_start = now - jiff::SignedDuration::from_secs(deadline.max(0));
        if window_start > earliest {
            earliest = window_start;
        }
    }
    if schedule::missed(&sched, &tz, earliest, now, TOO_MANY_MISSED + 1) > TOO_MANY_MISSED {
        ctx.recorder.warning(
            &owner,
            "TooManyMissedTimes",
            "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
        );
    }
    let Some(scheduled) = schedule::latest_at_or_before(&sched, &tz, earliest, now) else {
        return finish(ctx, &cj, status, active, next_wake).await;
    };
    let run = job_name(name, scheduled);
    if active
        .iter()
        .any(|a| a.name.as_deref() == Some(run.as_str()))
        || status
            .last_schedule_time
            .as_ref()
            .is_some_and(|t| t.0 >= scheduled)
    {
        return finish(ctx, &cj, status, active, next_wake).await;
    }
    if let Some(deadline) = spec.starting_deadline_seconds
        && scheduled + jiff::SignedDuration::from_secs(deadline.max(0)) < now
    {
        ctx.recorder.warning(
            &owner,
            "MissSchedule",
            &format!("Missed scheduled time to start a job: {scheduled}"),
        );
        return finish(ctx, &cj, status, active, next_wake).await;
    }
    match spec.concurrency_policy.as_deref().unwrap_or("Allow") {
        "Forbid" if !active.is_empty() => {
            // The run stays due: it starts when the active one ends, unless
            // its starting deadline passes first.
            ctx.recorder.normal(
                &owner,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            );
            return finish(ctx, &cj, status, active, next_wake).await;
        }
        "Replace" => {
            for a in std::mem::take(&mut active) {
                let job = a.name.clone().unwrap_or_default();
                let opts = DeleteOptions {
                    propagation_policy: Some("Background".into()),
                    precondition_uid: a.uid.clone(),
                    ..DeleteOptions::default()
                };
                match client.delete::<Job>(Some(ns), &job, &opts).await {
                    Ok(_) => ctx.recorder.normal(
                        &owner,
                        "SuccessfulDelete",
                        &format!("Deleted job {job}"),
                    ),
                    Err(e) if e.is_conflict() => {}
                    Err(e) => {
                        active.push(a);
                        return Err(e);
                    }
                }
            }
        }
        _ => {}
    }

    let job = new_job(&cj, &owner, &run, scheduled, &tz);
    match client.create(&job).await {
        Ok(created) => {
            ctx.recorder
                .normal(&owner, "SuccessfulCreate", &format!("Created job {run}"));
            active.push(job_ref(&created));
        }
        Err(e) if e.is_already_exists() => {
            // Created before a restart, or by someone else: ours counts as this run.
            let existing: Option<Job> = client.get(Some(ns), &run)?;
            match existing {
                Some(j) if controller_of(&j.metadata).is_some_and(|r| r.uid == owner.uid) => {
                    if finished(&j).is_none() && !active.iter().any(|a| a.uid == j.metadata.uid) {
                        active.push(job_ref(&j));
                    }
                }
                _ => {
                    ctx.recorder.warning(
                        &owner,
                        "FailedCreate",
                        &format!("Error creating job: {e}"),
                    );
                    return Err(e);
                }
            }
        }
        Err(e) => {
            ctx.recorder
                .warning(&owner, "FailedCreate", &format!("Error creating job: {e}"));
            return Err(e);
        }
    }
    status.last_schedule_time = Some(Time(scheduled));
    finish(ctx, &cj, status, active, next_wake).await
}

/// Writes the status if it changed and says when to look again.
async fn finish(
    ctx: &Ctx,
    cj: &CronJob,
    mut status: CronJobStatus,
    active: Vec<ObjectReference>,
    wake: Option<Duration>,
) -> Result<Action, Error> {
    status.active = (!active.is_empty()).then_some(active);
    if cj.status.clone().unwrap_or_default() != status {
        let ns = cj.metadata.namespace.as_deref();
        let name = cj.metadata.name.as_deref().unwrap_or_default();
        ctx.client
            .update::<CronJob, _>(ns, name, Part::Status, |c| {
                c.status = Some(status.clone());
                Ok(())
            })
            .await?;
    }
    Ok(wake.map_or(Action::Done, Action::RequeueAfter))
}

/// Deletes the oldest finished Jobs beyond the history limits.
async fn clean_history(
    ctx: &Ctx,
    owner: &ObjectRef,
    jobs: &[Job],
    successful_limit: Option<i32>,
    failed_limit: Option<i32>,
) -> Result<(), Error> {
    for (condition, limit) in [("Complete", successful_limit), ("Failed", failed_limit)] {
        let Some(limit) = limit else { continue };
        let mut done: Vec<&Job> = jobs
            .iter()
            .filter(|j| finished(j) == Some(condition))
            .collect();
        let excess = done.len().saturating_sub(limit.max(0) as usize);
        done.sort_by_key(|j| started(j));
        for j in done.into_iter().take(excess) {
            let name = j.metadata.name.clone().unwrap_or_default();
            let opts = DeleteOptions {
                propagation_policy: Some("Background".into()),
                precondition_uid: j.metadata.uid.clone(),
                ..DeleteOptions::default()
            };
            match ctx
                .client
                .delete::<Job>(owner.namespace.as_deref(), &name, &opts)
                .await
            {
                Ok(_) => {
                    ctx.recorder
                        .normal(owner, "SuccessfulDelete", &format!("Deleted job {name}"))
                }
                Err(e) if e.is_conflict() => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

fn new_job(
    cj: &CronJob,
    owner: &ObjectRef,
    name: &str,
    scheduled: Timestamp,
    tz: &TimeZone,
) -> Job {
    let template = cj
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(
        SCHEDULED_TIMESTAMP.to_owned(),
        scheduled
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
    );
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: owner.namespace.clone(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![owner.controller_owner()]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_are_the_scheduled_minute() {
        let t: Timestamp = "2024-03-10T10:25:00Z".parse().expect("ts");
        assert_eq!(
            job_name("backup", t),
            format!("backup-{}", t.as_second() / 60)
        );
        assert_eq!(job_name("backup", t), "backup-28501105");
    }
}
