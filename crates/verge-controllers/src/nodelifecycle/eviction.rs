//! The pod reconcile: pods on a sick node are marked not ready, and pods
//! on a NoExecute-tainted node leave when their toleration runs out.

use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use verge_runtime::{Action, DeleteOptions, Error, ObjectRef, Part};

use super::{EvictionLabels, Readiness, Shared, taints};
use crate::pods;

const NOT_READY_MESSAGE: &str = "Node is not ready";

/// Marks a pod on a sick node not ready, and evicts it from a NoExecute
/// tainted node once its toleration runs out.
pub(super) async fn reconcile_pod(sh: Arc<Shared>, key: String) -> Result<Action, Error> {
    let Some(pod) = sh.client.get_by_key::<Pod>(&key)? else {
        return Ok(Action::Done);
    };
    let Some(node_name) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
        return Ok(Action::Done);
    };
    if pods::is_terminal(&pod) || pods::is_deleting(&pod.metadata) {
        sh.state.lock().scheduled.remove(&key);
        return Ok(Action::Done);
    }
    let Some(node) = sh.client.get::<Node>(None, &node_name)? else {
        return Ok(Action::Done);
    };
    let (Some(ns), Some(name), Some(uid)) = (
        pod.metadata.namespace.clone(),
        pod.metadata.name.clone(),
        pod.metadata.uid.clone(),
    ) else {
        return Ok(Action::Done);
    };

    if Readiness::of(&node) != Readiness::True
        && pods::is_ready(&pod)
        && mark_not_ready(&sh, &ns, &name, &uid).await?
    {
        sh.eviction_events
            .warning(&ObjectRef::of(&pod), "NodeNotReady", NOT_READY_MESSAGE);
    }

    let now = Timestamp::now();
    let verdict = taints::verdict(&pod, &node, |t| {
        *sh.state
            .lock()
            .untimed
            .entry((node_name.clone(), t.key.clone()))
            .or_insert(now)
    });
    match verdict {
        taints::Verdict::Stay => {
            if sh.state.lock().scheduled.remove(&key) {
                sh.eviction_events.normal(
                    &ObjectRef::of(&pod),
                    "TaintManagerEviction",
                    &format!("Cancelling deletion of Pod {ns}/{name}"),
                );
            }
            Ok(Action::Done)
        }
        taints::Verdict::EvictAt(at) if at > now => {
            sh.state.lock().scheduled.insert(key);
            let wait = now.duration_until(at).unsigned_abs();
            Ok(Action::RequeueAfter(wait))
        }
        _ => {
            evict(&sh, &pod, &ns, &name, &uid, taints::is_edge(&node)).await?;
            sh.state.lock().scheduled.remove(&key);
            Ok(Action::Done)
        }
    }
}

/// Why a pod write was abandoned: the pod is not the one decided on any
/// more.
const STALE: &str = "pod replaced or being deleted";

/// Edits the status of pod `uid` with `change`, unless the stored pod is
/// another one of that name or is already being deleted: then nothing is
/// written and the answer is `false`. The cache may lag behind a deletion
/// this controller just made, and even a write that changes nothing would
/// touch a terminating pod.
async fn edit_status(
    sh: &Shared,
    ns: &str,
    name: &str,
    uid: &str,
    mut change: impl FnMut(&mut Vec<PodCondition>),
) -> Result<bool, Error> {
    let result = sh
        .client
        .update::<Pod, _>(Some(ns), name, Part::Status, |p| {
            if p.metadata.uid.as_deref() != Some(uid) || p.metadata.deletion_timestamp.is_some() {
                return Err(Error::Other(STALE.into()));
            }
            change(
                p.status
                    .get_or_insert_with(Default::default)
                    .conditions
                    .get_or_insert_with(Vec::new),
            );
            Ok(())
        })
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(Error::Other(why)) if why == STALE => Ok(false),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

async fn mark_not_ready(sh: &Shared, ns: &str, name: &str, uid: &str) -> Result<bool, Error> {
    edit_status(sh, ns, name, uid, |conditions| {
        if let Some(c) = conditions
            .iter_mut()
            .find(|c| c.type_ == "Ready" && c.status != "False")
        {
            c.status = "False".into();
            c.last_transition_time = Some(Time(Timestamp::now()));
        }
    })
    .await
}

async fn evict(
    sh: &Shared,
    pod: &Pod,
    ns: &str,
    name: &str,
    uid: &str,
    edge: bool,
) -> Result<(), Error> {
    let live = edit_status(sh, ns, name, uid, |conditions| {
        if !conditions
            .iter()
            .any(|c| c.type_ == "DisruptionTarget" && c.status == "True")
        {
            conditions.retain(|c| c.type_ != "DisruptionTarget");
            conditions.push(PodCondition {
                type_: "DisruptionTarget".into(),
                status: "True".into(),
                reason: Some("DeletionByTaintManager".into()),
                message: Some("Taint manager: deleting due to NoExecute taint".into()),
                last_transition_time: Some(Time(Timestamp::now())),
                ..PodCondition::default()
            });
        }
    })
    .await?;
    if !live {
        return Ok(());
    }
    let opts = DeleteOptions {
        precondition_uid: Some(uid.to_owned()),
        ..DeleteOptions::default()
    };
    match sh.client.delete::<Pod>(Some(ns), name, &opts).await {
        Ok(_) => {}
        // Gone, or replaced by a pod of the same name: nothing to evict.
        Err(e) if e.is_not_found() || e.is_conflict() => return Ok(()),
        Err(e) => return Err(e),
    }
    tracing::info!(pod = %format!("{ns}/{name}"), edge, "evicted pod from a NoExecute-tainted node");
    sh.eviction_events.normal(
        &ObjectRef::of(pod),
        "TaintManagerEviction",
        &format!("Marking for deletion Pod {ns}/{name}"),
    );
    sh.metrics
        .evictions
        .get_or_create(&EvictionLabels {
            node_kind: if edge { "edge" } else { "cloud" },
        })
        .inc();
    Ok(())
}
