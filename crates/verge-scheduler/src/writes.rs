//! The scheduler's API writes, run in background tasks: bindings, the
//! PodScheduled condition and nomination of pods that do not fit, their
//! FailedScheduling events, and preemption (victims marked and deleted
//! gracefully, nominations of outranked pods withdrawn).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::time::Instant;
use verge_runtime::{DeleteOptions, Error, ObjectRef, Part};

use crate::pod::{Condition, DEFAULT_SCHEDULER, PodInfo};
use crate::preemption::Candidate;
use crate::scheduler::Scheduler;

fn object_ref(pod: &PodInfo) -> ObjectRef {
    ObjectRef {
        api_version: "v1".to_owned(),
        kind: "Pod".to_owned(),
        namespace: Some(pod.namespace.clone()),
        name: pod.name.clone(),
        uid: pod.uid.clone(),
        resource_version: None,
    }
}

/// Sets (or replaces) a condition, keeping its transition time when the
/// status stays the same.
fn set_condition(pod: &mut Pod, type_: &str, status: &str, reason: &str, message: &str) {
    let conditions = pod
        .status
        .get_or_insert_with(Default::default)
        .conditions
        .get_or_insert_with(Vec::new);
    let now = Some(Time(jiff::Timestamp::now()));
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now;
            }
            c.status = status.to_owned();
            c.reason = Some(reason.to_owned());
            c.message = Some(message.to_owned());
        }
        None => conditions.push(PodCondition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            last_transition_time: now,
            last_probe_time: None,
            observed_generation: None,
        }),
    }
}

/// Refuses to edit a pod that was replaced by another of the same name.
fn same_pod(pod: &Pod, uid: &str) -> Result<(), Error> {
    if pod.metadata.uid.as_deref() == Some(uid) {
        Ok(())
    } else {
        Err(Error::Other("the pod was replaced".into()))
    }
}

fn ignorable(e: &Error) -> bool {
    e.is_not_found() || matches!(e, Error::Other(_))
}

impl Scheduler {
    pub(crate) async fn bind(&self, pod: Arc<PodInfo>, node: Arc<str>, queued_at: Option<Instant>) {
        match self
            .client
            .bind(&pod.namespace, &pod.name, Some(&pod.uid), &node)
            .await
        {
            Ok(()) => {
                if let Some(t) = queued_at {
                    self.metrics.bound(t.elapsed());
                }
                tracing::debug!(pod = %pod.key, %node, "bound");
                self.recorder.normal(
                    &object_ref(&pod),
                    "Scheduled",
                    &format!("Successfully assigned {} to {node}", pod.key),
                );
            }
            Err(e) => {
                // Bound by someone else, deleted, or a store failure: forget
                // the assumption; the watch tells the rest.
                if e.is_conflict() || e.is_not_found() {
                    tracing::debug!(pod = %pod.key, %node, error = %e, "binding refused");
                } else {
                    tracing::warn!(pod = %pod.key, %node, error = %e, "binding failed; will retry");
                }
                self.state.lock().forget(&pod.key, &node, Instant::now());
                self.wake.notify_one();
            }
        }
    }

    /// Writes PodScheduled=False (and the nomination) when they differ from
    /// what the pod shows, and publishes FailedScheduling (repeats are
    /// aggregated into one Event with a count).
    pub(crate) async fn report_failure(
        &self,
        pod: &PodInfo,
        reason: &str,
        message: &str,
        event: bool,
        nominate: Option<Option<Arc<str>>>,
    ) {
        let want = Condition {
            status: "False".into(),
            reason: reason.into(),
            message: message.into(),
        };
        let nomination_differs = nominate
            .as_ref()
            .is_some_and(|n| n.as_deref().unwrap_or("") != pod.nominated_node);
        if pod.scheduled.as_ref() != Some(&want) || nomination_differs {
            let result = self
                .client
                .update::<Pod, _>(Some(&pod.namespace), &pod.name, Part::Status, |p| {
                    same_pod(p, &pod.uid)?;
                    if p.spec
                        .as_ref()
                        .and_then(|s| s.node_name.as_deref())
                        .is_some_and(|n| !n.is_empty())
                    {
                        // Bound meanwhile: the failure is stale.
                        return Ok(());
                    }
                    set_condition(p, "PodScheduled", "False", reason, message);
                    if let Some(n) = &nominate {
                        p.status
                            .get_or_insert_with(Default::default)
                            .nominated_node_name = n.as_ref().map(|n| n.to_string());
                    }
                    Ok(())
                })
                .await;
            if let Err(e) = result
                && !ignorable(&e)
            {
                tracing::warn!(pod = %pod.key, error = %e, "cannot record the scheduling failure");
            }
        }
        if event {
            self.recorder
                .warning(&object_ref(pod), "FailedScheduling", message);
        }
    }

    /// Evicts the victims preemption chose, as kube-scheduler does: mark
    /// each with DisruptionTarget, delete it with its own grace period, and
    /// tell its owner why in a Preempted event.
    pub(crate) async fn preempt(
        &self,
        preemptor: &PodInfo,
        c: Candidate,
        cleared: Vec<Arc<PodInfo>>,
    ) {
        tracing::info!(
            pod = %preemptor.key,
            node = %c.node,
            victims = ?c.victims.iter().map(|v| v.key.as_ref()).collect::<Vec<_>>(),
            "preempting lower-priority pods"
        );
        let node = &c.node;
        let deletions = c.victims.iter().map(|v| async move {
            let marked = self
                .client
                .update::<Pod, _>(Some(&v.namespace), &v.name, Part::Status, |p| {
                    same_pod(p, &v.uid)?;
                    set_condition(
                        p,
                        "DisruptionTarget",
                        "True",
                        "PreemptionByScheduler",
                        &format!(
                            "{DEFAULT_SCHEDULER}: preempting to accommodate a higher priority pod"
                        ),
                    );
                    Ok(())
                })
                .await;
            if let Err(e) = &marked
                && !ignorable(e)
            {
                tracing::warn!(victim = %v.key, error = %e, "cannot mark the victim");
            }
            let opts = DeleteOptions {
                precondition_uid: Some(v.uid.clone()),
                ..DeleteOptions::default()
            };
            match self
                .client
                .delete::<Pod>(Some(&v.namespace), &v.name, &opts)
                .await
            {
                Ok(_) => self.recorder.normal(
                    &object_ref(v),
                    "Preempted",
                    &format!("Preempted by pod {} on node {node}", preemptor.uid),
                ),
                Err(e) => tracing::warn!(victim = %v.key, error = %e, "cannot delete the victim"),
            }
        });
        futures::future::join_all(deletions).await;
        // Pods of lower priority nominated to this node lost their room.
        for p in cleared {
            let result = self
                .client
                .update::<Pod, _>(Some(&p.namespace), &p.name, Part::Status, |pod| {
                    same_pod(pod, &p.uid)?;
                    if let Some(s) = pod.status.as_mut() {
                        s.nominated_node_name = None;
                    }
                    Ok(())
                })
                .await;
            if let Err(e) = result
                && !ignorable(&e)
            {
                tracing::warn!(pod = %p.key, error = %e, "cannot clear the nomination");
            }
        }
    }
}
