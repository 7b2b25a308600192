//! What the Job controller decides, as a pure function of a Job, the pods
//! it owns and the time: which pods finished and must be counted, whether
//! the Job has succeeded or failed, which pods to create or remove.
//!
//! Counting follows kube's finalizer protocol so that a finished pod is
//! counted exactly once, whatever crashes or restarts happen between
//! steps: (1) its uid goes into `status.uncountedTerminatedPods`, (2) its
//! `batch.kubernetes.io/job-tracking` finalizer is removed, (3) uids whose
//! pods no longer carry the finalizer move into `succeeded` / `failed`.
//! This module prepares step 1; the reconcile does steps 2 and 3.

use std::collections::HashSet;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use verge_runtime::EventType;

use super::indexes::{IndexSet, index_of};
use super::policy::{self, Action};
use crate::pods::{is_active, is_deleting, is_ready, is_terminal};

/// The finalizer that keeps a Job's pod until the Job has counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// First delay before replacing a failed pod; doubles per consecutive
/// failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(10);
/// Longest delay between replacements (kube's documented six minutes).
pub const BACKOFF_MAX: Duration = Duration::from_secs(360);
/// Most pods moved into `uncountedTerminatedPods` per reconcile, so the
/// status stays small and one huge Job does not starve the others.
const MAX_UNCOUNTED: usize = 500;

/// A pod the reconcile acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRef {
    pub name: String,
    pub uid: String,
    pub ready: bool,
    /// Bound to a node: its deletion waits for the node.
    pub bound: bool,
    /// Carries finalizers other than the tracking one.
    pub other_finalizers: bool,
}

impl PodRef {
    fn of(p: &Pod) -> PodRef {
        PodRef {
            name: p.metadata.name.clone().unwrap_or_default(),
            uid: p.metadata.uid.clone().unwrap_or_default(),
            ready: is_ready(p),
            bound: p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_some_and(|n| !n.is_empty()),
            other_finalizers: p
                .metadata
                .finalizers
                .iter()
                .flatten()
                .any(|f| f != TRACKING_FINALIZER),
        }
    }
}

/// Pods to create and remove.
#[derive(Debug, Default, PartialEq, Eq)]
pub enum Manage {
    #[default]
    Nothing,
    /// The Job has met its success criteria or failed: delete its running
    /// pods, keeping their finalizers (a failed Job counts them failed).
    Terminate(Vec<PodRef>),
    /// Create pods (`Some(i)`: for completion index `i`) and remove pods
    /// that are not wanted (finalizer first: they are not failures).
    Scale {
        create: Vec<Option<i32>>,
        remove: Vec<PodRef>,
    },
}

#[derive(Debug)]
pub struct Assessment {
    /// The status to write before any finalizer is removed: newly finished
    /// pods in `uncountedTerminatedPods`, interim and suspension
    /// conditions, start time, completed indexes, and pod counts as they
    /// are before `manage` runs.
    pub status: JobStatus,
    /// Uids of pods carrying the tracking finalizer now.
    pub with_finalizer: HashSet<String>,
    /// Pods whose finalizer may go once `status` is written.
    pub finalize: Vec<PodRef>,
    /// Pods being deleted (and not finished) now.
    pub terminating: Vec<PodRef>,
    pub manage: Manage,
    /// The terminal condition (Complete or Failed) to add once nothing is
    /// uncounted and no pod is terminating.
    pub finish: Option<JobCondition>,
    /// Whether `finish` was decided in this pass from the pod counts
    /// (it holds only if `manage` fully succeeds).
    pub new_success: bool,
    pub requeue: Option<Duration>,
    pub events: Vec<(EventType, &'static str, String)>,
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn has_finalizer(p: &Pod) -> bool {
    p.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == TRACKING_FINALIZER)
}

pub fn find_condition<'a>(conds: &'a [JobCondition], type_: &str) -> Option<&'a JobCondition> {
    conds.iter().find(|c| c.type_ == type_)
}

fn is_true(conds: &[JobCondition], type_: &str) -> bool {
    find_condition(conds, type_).is_some_and(|c| c.status == "True")
}

/// Complete=True or Failed=True.
pub fn is_finished(job: &Job) -> bool {
    let conds = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    is_true(conds, "Complete") || is_true(conds, "Failed")
}

/// When the Job finished (its Complete or Failed condition's transition).
pub fn finished_at(job: &Job) -> Option<Timestamp> {
    let status = job.status.as_ref()?;
    if let Some(t) = &status.completion_time {
        return Some(t.0);
    }
    let conds = status.conditions.as_deref().unwrap_or_default();
    ["Complete", "Failed"]
        .iter()
        .filter_map(|t| find_condition(conds, t))
        .find(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref().map(|t| t.0))
}

pub fn condition(type_: &str, reason: &str, message: &str, now: Timestamp) -> JobCondition {
    JobCondition {
        type_: type_.to_owned(),
        status: "True".to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Sets a condition's status (kube's ensureJobConditionStatus): a new
/// condition is added only when True; a change of status updates reason,
/// message and transition time. Returns whether anything changed.
pub fn ensure_condition(
    conds: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    match conds.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status == status => false,
        Some(c) => {
            c.status = status.to_owned();
            c.reason = Some(reason.to_owned());
            c.message = Some(message.to_owned());
            c.last_probe_time = Some(Time(now));
            c.last_transition_time = Some(Time(now));
            true
        }
        None if status == "True" => {
            conds.push(condition(type_, reason, message, now));
            true
        }
        None => false,
    }
}

/// When a pod finished: its containers' latest exit, else when it stopped
/// being ready, else when its deletion began, else its creation.
pub fn finish_time(p: &Pod) -> Timestamp {
    let status = p.status.as_ref();
    let exits: Option<Vec<Timestamp>> = status
        .and_then(|s| s.container_statuses.as_ref())
        .filter(|cs| !cs.is_empty())
        .map(|cs| {
            cs.iter()
                .filter_map(|c| {
                    c.state
                        .as_ref()?
                        .terminated
                        .as_ref()?
                        .finished_at
                        .as_ref()
                        .map(|t| t.0)
                })
                .collect()
        });
    if let (Some(exits), Some(cs)) = (exits, status.and_then(|s| s.container_statuses.as_ref()))
        && exits.len() == cs.len()
        && let Some(latest) = exits.into_iter().max()
    {
        return latest;
    }
    if let Some(t) = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.type_ == "Ready" && c.status == "False")
        })
        .and_then(|c| c.last_transition_time.as_ref())
    {
        return t.0;
    }
    if let Some(t) = &p.metadata.deletion_timestamp {
        let grace = p.metadata.deletion_grace_period_seconds.unwrap_or(0);
        return t.0 - jiff::SignedDuration::from_secs(grace);
    }
    p.metadata
        .creation_timestamp
        .as_ref()
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
}

/// How long to wait before replacing failed pods: 10 s doubled per
/// failure since the last success, capped, counted from the last failure.
pub fn backoff_remaining(
    succeeded: &[Timestamp],
    failed: &[Timestamp],
    now: Timestamp,
) -> Duration {
    let last_success = succeeded.iter().max();
    let recent: Vec<&Timestamp> = failed
        .iter()
        .filter(|t| last_success.is_none_or(|s| *t > s))
        .collect();
    let Some(last_failure) = recent.iter().max() else {
        return Duration::ZERO;
    };
    let mut delay = BACKOFF_BASE;
    for _ in 1..recent.len() {
        delay = delay.saturating_mul(2);
        if delay >= BACKOFF_MAX {
            delay = BACKOFF_MAX;
            break;
        }
    }
    let elapsed = now
        .duration_since(**last_failure)
        .try_into()
        .unwrap_or(Duration::ZERO);
    delay.saturating_sub(elapsed)
}

/// kube's ranking of pods to remove first: unscheduled before scheduled,
/// pending before running, not ready before ready, newest first.
fn removal_rank(p: &Pod) -> (bool, u8, bool, std::cmp::Reverse<Timestamp>) {
    let bound = p
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    let phase_rank = match phase(p) {
        "Pending" | "" => 0,
        "Unknown" => 1,
        _ => 2,
    };
    let created = p
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0);
    (bound, phase_rank, is_ready(p), std::cmp::Reverse(created))
}

fn pick_for_removal(mut pods: Vec<&Pod>, n: usize) -> Vec<PodRef> {
    pods.sort_by_key(|p| removal_rank(p));
    pods.into_iter().take(n).map(PodRef::of).collect()
}

/// Restarts of running pods' containers exceed the backoff limit (only for
/// `restartPolicy: OnFailure`, where failures restart containers instead
/// of failing pods).
fn past_backoff_limit_on_failure(job: &Job, active: &[&Pod], limit: i32) -> bool {
    let on_failure = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.restart_policy.as_deref())
        == Some("OnFailure");
    if !on_failure {
        return false;
    }
    let restarts: i64 = active
        .iter()
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .map(|c| i64::from(c.restart_count))
        .sum();
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= i64::from(limit)
    }
}

pub fn assess(job: &Job, pods: &[Pod], now: Timestamp) -> Assessment {
    let spec = job.spec.clone().unwrap_or_default();
    let mut status = job.status.clone().unwrap_or_default();
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let completions = spec.completions;
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let only_failed = spec.pod_replacement_policy.as_deref() == Some("Failed");
    let suspended = spec.suspend == Some(true);
    let job_deleting = is_deleting(&job.metadata);
    let mut events = Vec::new();
    let mut requeue: Option<Duration> = None;

    let uncounted = status.uncounted_terminated_pods.clone().unwrap_or_default();
    let counted_s: HashSet<String> = uncounted.succeeded.iter().flatten().cloned().collect();
    let counted_f: HashSet<String> = uncounted.failed.iter().flatten().cloned().collect();
    let mut unc_s: Vec<String> = uncounted.succeeded.unwrap_or_default();
    let mut unc_f: Vec<String> = uncounted.failed.unwrap_or_default();
    let mut conditions = status.conditions.clone().unwrap_or_default();

    let considered_failed = |p: &Pod| {
        phase(p) == "Failed"
            || (!only_failed && is_deleting(&p.metadata) && phase(p) != "Succeeded")
    };
    let index_ok = |p: &Pod| !indexed || index_of(p).is_some_and(|i| i < completions.unwrap_or(0));
    let counts_as_failure = |p: &Pod| match (&spec.pod_failure_policy, phase(p)) {
        (Some(policy), "Failed") => policy::evaluate(policy, p),
        _ => None,
    };

    let active: Vec<&Pod> = pods.iter().filter(|p| is_active(p)).collect();
    let terminating: Vec<PodRef> = pods
        .iter()
        .filter(|p| is_deleting(&p.metadata) && !is_terminal(p))
        .map(PodRef::of)
        .collect();
    let ready = active.iter().filter(|p| is_ready(p)).count();
    let with_finalizer: HashSet<String> = pods
        .iter()
        .filter(|p| has_finalizer(p))
        .filter_map(|p| p.metadata.uid.clone())
        .collect();

    // Pods that finished since the last count, for deciding.
    let mut indexes = IndexSet::parse(
        status.completed_indexes.as_deref().unwrap_or(""),
        completions.unwrap_or(0),
    );
    let mut new_succeeded = 0usize;
    let mut new_failed = 0usize;
    let mut fail_job: Option<String> = None;
    for p in pods.iter().filter(|p| has_finalizer(p)) {
        let uid = p.metadata.uid.clone().unwrap_or_default();
        if phase(p) == "Succeeded" && !counted_f.contains(&uid) {
            if indexed {
                if let Some(i) = index_of(p).filter(|i| *i < completions.unwrap_or(0)) {
                    indexes.insert(i);
                }
            } else if !counted_s.contains(&uid) {
                new_succeeded += 1;
            }
        } else if considered_failed(p) && !counted_f.contains(&uid) && index_ok(p) {
            match counts_as_failure(p) {
                Some(Action::Ignore) => {}
                Some(Action::FailJob(why)) => {
                    fail_job.get_or_insert(why);
                    new_failed += 1;
                }
                Some(Action::Count) | None => new_failed += 1,
            }
        }
    }
    let succeeded = if indexed {
        indexes.len() as i64
    } else {
        i64::from(status.succeeded.unwrap_or(0)) + (counted_s.len() + new_succeeded) as i64
    };
    let failed = i64::from(status.failed.unwrap_or(0)) + (counted_f.len() + new_failed) as i64;

    if status.start_time.is_none() && !suspended {
        status.start_time = Some(Time(now));
    }

    // Has the Job reached an end?
    let mut target: Option<JobCondition> = None;
    if is_true(&conditions, "SuccessCriteriaMet") {
        let c = find_condition(&conditions, "SuccessCriteriaMet").cloned();
        target = c.map(|c| JobCondition {
            type_: "Complete".into(),
            ..c
        });
    } else if let Some(c) =
        find_condition(&conditions, "FailureTarget").filter(|c| c.status == "True")
    {
        target = Some(JobCondition {
            type_: "Failed".into(),
            ..c.clone()
        });
    } else {
        let failure = if let Some(why) = fail_job {
            Some(("PodFailurePolicy", why))
        } else if failed > i64::from(backoff_limit)
            || past_backoff_limit_on_failure(job, &active, backoff_limit)
        {
            Some((
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit".to_owned(),
            ))
        } else if let (Some(deadline), Some(start), false) =
            (spec.active_deadline_seconds, &status.start_time, suspended)
        {
            let end = start.0 + jiff::SignedDuration::from_secs(deadline);
            if now >= end {
                Some((
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline".to_owned(),
                ))
            } else {
                requeue = end.duration_since(now).try_into().ok();
                None
            }
        } else {
            None
        };
        if let Some((reason, message)) = failure {
            conditions.push(condition("FailureTarget", reason, &message, now));
            target = Some(condition("Failed", reason, &message, now));
        }
    }

    // Pods to create or remove.
    let mut manage = Manage::Nothing;
    let mut new_success = false;
    if target.is_some() {
        let doomed: Vec<PodRef> = active.iter().map(|p| PodRef::of(p)).collect();
        if !doomed.is_empty() {
            manage = Manage::Terminate(doomed);
        }
    } else if !job_deleting {
        let (create, remove) = if suspended {
            (Vec::new(), active.iter().map(|p| PodRef::of(p)).collect())
        } else if indexed {
            scale_indexed(
                &active,
                pods,
                &indexes,
                completions.unwrap_or(0),
                parallelism,
                only_failed,
            )
        } else {
            let want = match completions {
                None if succeeded > 0 => active.len() as i64,
                None => i64::from(parallelism),
                Some(c) => (i64::from(c) - succeeded).clamp(0, i64::from(parallelism)),
            };
            let have = active.len() as i64;
            if have > want {
                (
                    Vec::new(),
                    pick_for_removal(active.clone(), (have - want) as usize),
                )
            } else {
                let occupied = have
                    + if only_failed {
                        terminating.len() as i64
                    } else {
                        0
                    };
                let n = (want - occupied).max(0) as usize;
                (vec![None; n], Vec::new())
            }
        };
        let mut create = create;
        if !create.is_empty() {
            let succeeded_at: Vec<Timestamp> = pods
                .iter()
                .filter(|p| phase(p) == "Succeeded")
                .map(finish_time)
                .collect();
            let failed_at: Vec<Timestamp> = pods
                .iter()
                .filter(|p| considered_failed(p))
                .map(finish_time)
                .collect();
            let wait = backoff_remaining(&succeeded_at, &failed_at, now);
            if !wait.is_zero() {
                create.clear();
                requeue = Some(requeue.map_or(wait, |r| r.min(wait)));
            }
        }
        let active_after = active.len() as i64 - remove.len() as i64 + create.len() as i64;
        if !create.is_empty() || !remove.is_empty() {
            manage = Manage::Scale { create, remove };
        }

        let complete = match completions {
            None => succeeded > 0 && active_after == 0,
            Some(c) => succeeded >= i64::from(c) && active_after == 0,
        };
        if complete {
            let message = "Reached expected number of succeeded pods";
            conditions.push(condition(
                "SuccessCriteriaMet",
                "CompletionsReached",
                message,
                now,
            ));
            target = Some(condition("Complete", "CompletionsReached", message, now));
            new_success = true;
        } else if suspended {
            if ensure_condition(
                &mut conditions,
                "Suspended",
                "True",
                "JobSuspended",
                "Job suspended",
                now,
            ) {
                events.push((EventType::Normal, "Suspended", "Job suspended".to_owned()));
            }
        } else if ensure_condition(
            &mut conditions,
            "Suspended",
            "False",
            "JobResumed",
            "Job resumed",
            now,
        ) {
            events.push((EventType::Normal, "Resumed", "Job resumed".to_owned()));
            // activeDeadlineSeconds counts continuous activity.
            status.start_time = Some(Time(now));
        }
    }

    // Step 1 of counting: record finished pods before their finalizers go.
    let failing = target.as_ref().is_some_and(|t| t.type_ == "Failed");
    let mut finalize = Vec::new();
    for p in pods.iter().filter(|p| has_finalizer(p)) {
        if unc_s.len() + unc_f.len() >= MAX_UNCOUNTED {
            // The rest next time (the status write requeues the Job).
            break;
        }
        let uid = p.metadata.uid.clone().unwrap_or_default();
        let succeeded_pod = phase(p) == "Succeeded";
        let failed_pod = considered_failed(p);
        if !(job_deleting || target.is_some() || succeeded_pod || failed_pod) {
            continue;
        }
        finalize.push(PodRef::of(p));
        if succeeded_pod && !counted_f.contains(&uid) {
            if !indexed && !counted_s.contains(&uid) && !unc_s.contains(&uid) {
                unc_s.push(uid);
            }
        } else if (failed_pod || failing)
            && !counted_f.contains(&uid)
            && !unc_f.contains(&uid)
            && index_ok(p)
            && counts_as_failure(p) != Some(Action::Ignore)
        {
            unc_f.push(uid);
        }
    }

    status.uncounted_terminated_pods = Some(UncountedTerminatedPods {
        succeeded: (!unc_s.is_empty()).then_some(unc_s),
        failed: (!unc_f.is_empty()).then_some(unc_f),
    });
    if indexed {
        status.succeeded = Some(indexes.len() as i32);
        let text = indexes.format();
        status.completed_indexes = (!text.is_empty()).then_some(text);
    }
    status.conditions = (!conditions.is_empty()).then_some(conditions);
    status.active = Some(active.len() as i32);
    status.ready = Some(ready as i32);
    status.terminating = Some(terminating.len() as i32);

    Assessment {
        status,
        with_finalizer,
        finalize,
        terminating,
        manage,
        finish: target,
        new_success,
        requeue,
        events,
    }
}

/// Indexed Jobs: one pod per pending index, lowest first; pods for
/// indexes already done, out of range or doubled up are removed.
fn scale_indexed(
    active: &[&Pod],
    all: &[Pod],
    done: &IndexSet,
    completions: i32,
    parallelism: i32,
    only_failed: bool,
) -> (Vec<Option<i32>>, Vec<PodRef>) {
    let mut remove = Vec::new();
    let mut running: Vec<&Pod> = Vec::new();
    let mut taken: HashSet<i32> = HashSet::new();
    let mut sorted: Vec<&Pod> = active.to_vec();
    // Keep the oldest pod of a doubled index.
    sorted.sort_by_key(|p| {
        p.metadata
            .creation_timestamp
            .as_ref()
            .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
    });
    for p in sorted {
        match index_of(p) {
            Some(i) if i < completions && !done.contains(i) && taken.insert(i) => running.push(p),
            _ => remove.push(PodRef::of(p)),
        }
    }
    if only_failed {
        for p in all
            .iter()
            .filter(|p| is_deleting(&p.metadata) && !is_terminal(p))
        {
            if let Some(i) = index_of(p) {
                taken.insert(i);
            }
        }
    }
    let pending = i64::from(completions) - done.len() as i64;
    let want = pending.clamp(0, i64::from(parallelism)) as usize;
    if running.len() > want {
        let n = running.len() - want;
        remove.extend(pick_for_removal(running, n));
        return (Vec::new(), remove);
    }
    let n = want - running.len();
    let create = (0..completions)
        .filter(|i| !done.contains(*i) && !taken.contains(i))
        .take(n)
        .map(Some)
        .collect();
    (create, remove)
}

#[cfg(test)]
mod tests;
