//! The StatefulSet controller: pods with stable names `<set>-<ordinal>`,
//! stable hostnames under the governing Service (`serviceName`), and a
//! PersistentVolumeClaim per pod and claim template
//! (`<claim>-<set>-<ordinal>`) that outlives pod replacements and, by
//! default, scale-downs.
//!
//! OrderedReady starts pods in ordinal order, each once the one before is
//! Running and Ready, and removes them in reverse; Parallel does both at
//! once. Template changes roll out from the highest ordinal down to the
//! partition (RollingUpdate) or wait for pods to be deleted (OnDelete),
//! with ControllerRevisions behind `status.currentRevision` and
//! `status.updateRevision`.

mod plan;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use parking_lot::Mutex;
use verge_runtime::{
    Action, Client, ControllerMetrics, DeleteOptions, Error, Event, ObjectRef, Part, Queue,
    Recorder,
};

use crate::pods::owners::{OwnerFacts, OwnerKey, Owners};
use crate::pods::revisions::{self, Ensured};
use crate::pods::{self, CONTROLLER_REVISION_HASH, is_available, is_deleting};
use plan::{Input, Step};

const WORKERS: usize = 4;
const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

struct Ctx {
    client: Client,
    recorder: Recorder,
    owners: Mutex<Owners>,
}

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>) {
    let (mut sets, mut pods) = match (
        client.watcher::<StatefulSet>(None),
        client.watcher::<Pod>(None),
    ) {
        (Ok(s), Ok(p)) => (s, p),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "statefulset controller cannot start");
            return;
        }
    };
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), "statefulset-controller"),
        client,
        owners: Mutex::new(Owners::new("StatefulSet")),
    });
    let queue: Queue<OwnerKey> = Queue::new();
    let workers = tokio::spawn(verge_runtime::run(
        "statefulset",
        queue.clone(),
        WORKERS,
        metrics,
        ctx.clone(),
        |ctx, key: OwnerKey| async move { sync(&ctx, &key.ns, &key.name).await },
    ));
    loop {
        tokio::select! {
            ev = sets.next() => match ev {
                Some(ev) => on_set(&ctx, &queue, ev),
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

fn on_set(ctx: &Ctx, queue: &Queue<OwnerKey>, ev: Event) {
    let applied = ctx.owners.lock().owner_event(&ev, |obj| {
        OwnerFacts::decode::<StatefulSet>(obj, |s| s.spec.as_ref().map(|s| &s.selector))
    });
    for key in applied {
        queue.add(key);
    }
}

fn on_pod(ctx: &Ctx, queue: &Queue<OwnerKey>, ev: Event) {
    for key in ctx.owners.lock().pod_event(&ev) {
        queue.add(key);
    }
}

/// The ordinal of a pod named `<set>-<ordinal>`.
fn ordinal_of(set: &str, pod: &str) -> Option<i32> {
    let n = pod.strip_prefix(set)?.strip_prefix('-')?;
    let v: i32 = n.parse().ok()?;
    (v >= 0 && v.to_string() == n).then_some(v)
}

/// The pod template a revision restores (the set's own when it cannot be
/// read back).
fn template_at(rev: Option<&ControllerRevision>, fallback: &PodTemplateSpec) -> PodTemplateSpec {
    rev.and_then(revisions::template_of)
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_else(|| fallback.clone())
}

async fn sync(ctx: &Ctx, ns: &str, name: &str) -> Result<Action, Error> {
    pods::caught_up(&ctx.client).await?;
    let client = &ctx.client;
    let Some(cached) = client
        .cache()
        .get_now(&client.key::<StatefulSet>(Some(ns), name)?)
    else {
        return Ok(Action::Done);
    };
    let set: StatefulSet = Client::decode(&cached)?;
    let owner = ObjectRef::of(&set);
    let Some(spec) = set.spec.clone() else {
        return Ok(Action::Done);
    };
    let selector = match pods::selector(Some(&spec.selector)) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            ctx.recorder.warning(
                &owner,
                "SelectorInvalid",
                "an empty selector would select every pod in the namespace",
            );
            return Ok(Action::Done);
        }
        Err(why) => {
            ctx.recorder.warning(&owner, "SelectorInvalid", &why);
            return Ok(Action::Done);
        }
    };
    if is_deleting(&set.metadata) {
        return Ok(Action::Done);
    }

    // Revisions: the one pods should be at, and the one they are at.
    let mut history = revisions::owned(client, &owner, false, &selector).await?;
    let template_raw = cached
        .value()
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_default();
    let data = revisions::data_for_template(&template_raw);
    let old_status = set.status.clone().unwrap_or_default();
    let collisions = old_status.collision_count.unwrap_or(0);
    let template_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let update = match revisions::ensure(
        client,
        &owner,
        &template_labels,
        &data,
        collisions,
        &mut history,
    )
    .await?
    {
        Ensured::Current(r) => *r,
        Ensured::Collision => {
            client
                .update::<StatefulSet, _>(Some(ns), name, Part::Status, |s| {
                    let st = s.status.get_or_insert_with(StatefulSetStatus::default);
                    st.collision_count = Some(collisions + 1);
                    Ok(())
                })
                .await?;
            return Ok(Action::Done);
        }
    };
    let update_name = update.metadata.name.clone().unwrap_or_default();
    let current = old_status
        .current_revision
        .as_deref()
        .and_then(|c| {
            history
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(c))
        })
        .cloned()
        .unwrap_or_else(|| update.clone());
    let current_name = current.metadata.name.clone().unwrap_or_default();

    // Pods: only `<set>-<ordinal>` names are members.
    let keys = ctx.owners.lock().pod_keys(&owner.uid);
    let candidates: Vec<Pod> = pods::candidates(client, ns, &selector, keys)?
        .into_iter()
        .filter(|p| ordinal_of(name, p.metadata.name.as_deref().unwrap_or_default()).is_some())
        .collect();
    let owned = pods::claim::claim(client, &owner, false, &selector, candidates, None).await?;
    let by_ordinal: BTreeMap<i32, &Pod> = owned
        .iter()
        .filter_map(|p| ordinal_of(name, p.metadata.name.as_deref()?).map(|o| (o, p)))
        .collect();

    let replicas = spec.replicas.unwrap_or(1).max(0);
    let start = spec
        .ordinals
        .as_ref()
        .and_then(|o| o.start)
        .unwrap_or(0)
        .max(0);
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let rolling = strategy.type_.as_deref().unwrap_or("RollingUpdate") == "RollingUpdate";
    let partition = strategy
        .rolling_update
        .as_ref()
        .and_then(|r| r.partition)
        .unwrap_or(0);
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let now = Timestamp::now();
    let input = Input {
        ordinals: start..start.saturating_add(replicas),
        pods: by_ordinal.clone(),
        ordered: spec.pod_management_policy.as_deref() != Some("Parallel"),
        partition: rolling.then_some(partition),
        update_revision: &update_name,
        min_ready,
        now,
    };
    let steps = plan::plan(&input);

    let current_template = template_at(Some(&current), &spec.template);
    let result = execute(ctx, &set, &owner, &steps, |ordinal| {
        // Below the partition pods stay at the current revision.
        if rolling && ordinal < start + partition {
            (current_template.clone(), current_name.clone())
        } else {
            (spec.template.clone(), update_name.clone())
        }
    })
    .await;

    // Status from what exists now.
    let mut status = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        collision_count: old_status.collision_count,
        conditions: old_status.conditions.clone(),
        update_revision: Some(update_name.clone()),
        current_revision: Some(current_name.clone()),
        ..StatefulSetStatus::default()
    };
    let (mut ready, mut available, mut at_current, mut at_update) = (0, 0, 0, 0);
    let mut requeue: Option<Duration> = None;
    for p in owned.iter() {
        status.replicas += 1;
        if plan::healthy(p, 0, now) {
            ready += 1;
            if is_available(p, min_ready, now) {
                available += 1;
            } else if let Some(since) = pods::ready_since(p) {
                let at = since + jiff::SignedDuration::from_secs(i64::from(min_ready));
                let wait = at
                    .duration_since(now)
                    .try_into()
                    .unwrap_or(Duration::from_secs(1));
                requeue = Some(requeue.map_or(wait, |r: Duration| r.min(wait)));
            }
        }
        match plan::revision(p) {
            Some(r) if r == current_name => at_current += 1,
            _ => {}
        }
        if plan::revision(p) == Some(update_name.as_str()) {
            at_update += 1;
        }
    }
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status.current_replicas = Some(at_current);
    status.updated_replicas = Some(at_update);
    if rolling
        && at_update == status.replicas
        && ready == status.replicas
        && status.replicas == replicas
    {
        // The rollout is over: the update revision is now the current one.
        status.current_revision = Some(update_name.clone());
        status.current_replicas = Some(at_update);
    }
    if set.status.as_ref() != Some(&status) {
        client
            .update::<StatefulSet, _>(Some(ns), name, Part::Status, |s| {
                s.status = Some(status.clone());
                Ok(())
            })
            .await?;
    }

    if result.is_ok() && steps.is_empty() {
        let mut live: HashSet<String> = owned
            .iter()
            .filter_map(|p| plan::revision(p).map(str::to_owned))
            .collect();
        live.insert(update_name.clone());
        if let Some(c) = &status.current_revision {
            live.insert(c.clone());
        }
        let limit = spec.revision_history_limit.unwrap_or(10).max(0) as usize;
        revisions::truncate(client, &owner, &history, &live, limit).await?;
    }
    result?;
    Ok(requeue.map_or(Action::Done, Action::RequeueAfter))
}

/// Carries out the planned steps, recording events.
async fn execute(
    ctx: &Ctx,
    set: &StatefulSet,
    owner: &ObjectRef,
    steps: &[Step],
    template_for: impl Fn(i32) -> (PodTemplateSpec, String),
) -> Result<(), Error> {
    let client = &ctx.client;
    let ns = owner.namespace.as_deref().unwrap_or_default();
    let set_name = &owner.name;
    for step in steps {
        match step {
            Step::Create(ordinal) => {
                let (template, revision) = template_for(*ordinal);
                let pod_name = format!("{set_name}-{ordinal}");
                ensure_claims(ctx, set, owner, &pod_name).await?;
                let pod = new_pod(set, owner, &template, &revision, *ordinal);
                match client.create(&pod).await {
                    Ok(_) => ctx.recorder.normal(
                        owner,
                        "SuccessfulCreate",
                        &format!("create Pod {pod_name} in StatefulSet {set_name} successful"),
                    ),
                    Err(e) => {
                        ctx.recorder.warning(
                            owner,
                            "FailedCreate",
                            &format!(
                                "create Pod {pod_name} in StatefulSet {set_name} failed error: {e}"
                            ),
                        );
                        return Err(e);
                    }
                }
            }
            Step::Recreate(pod) | Step::Update(pod) | Step::Condemn(pod) => {
                if matches!(step, Step::Condemn(_)) {
                    release_claims_on_scale_down(ctx, set, pod).await?;
                }
                match client
                    .delete::<Pod>(Some(ns), pod, &DeleteOptions::default())
                    .await
                {
                    Ok(_) => ctx.recorder.normal(
                        owner,
                        "SuccessfulDelete",
                        &format!("delete Pod {pod} in StatefulSet {set_name} successful"),
                    ),
                    Err(e) => {
                        ctx.recorder.warning(
                            owner,
                            "FailedDelete",
                            &format!(
                                "delete Pod {pod} in StatefulSet {set_name} failed error: {e}"
                            ),
                        );
                        return Err(e);
                    }
                }
            }
        }
    }
    Ok(())
}

fn claim_name(template: &PersistentVolumeClaim, pod: &str) -> String {
    format!(
        "{}-{pod}",
        template.metadata.name.as_deref().unwrap_or_default()
    )
}

fn retention(set: &StatefulSet) -> (bool, bool) {
    let policy = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.clone())
        .unwrap_or_default();
    (
        policy.when_deleted.as_deref() == Some("Delete"),
        policy.when_scaled.as_deref() == Some("Delete"),
    )
}

/// Creates the pod's claims that do not exist yet.
async fn ensure_claims(
    ctx: &Ctx,
    set: &StatefulSet,
    owner: &ObjectRef,
    pod: &str,
) -> Result<(), Error> {
    let client = &ctx.client;
    let ns = owner.namespace.as_deref().unwrap_or_default();
    let spec = set.spec.clone().unwrap_or_default();
    let (delete_with_set, _) = retention(set);
    for template in spec.volume_claim_templates.iter().flatten() {
        let name = claim_name(template, pod);
        if client
            .get::<PersistentVolumeClaim>(Some(ns), &name)?
            .is_some()
        {
            continue;
        }
        let mut labels = template.metadata.labels.clone().unwrap_or_default();
        labels.extend(spec.selector.match_labels.clone().unwrap_or_default());
        let claim = PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.to_owned()),
                labels: Some(labels),
                annotations: template.metadata.annotations.clone(),
                // whenDeleted: Delete hands the claim to the garbage
                // collector with the set; Retain keeps it for good.
                owner_references: delete_with_set.then(|| {
                    vec![OwnerReference {
                        controller: Some(true),
                        block_owner_deletion: Some(true),
                        ..owner.controller_owner()
                    }]
                }),
                ..ObjectMeta::default()
            },
            spec: template.spec.clone(),
            status: None,
        };
        match client.create(&claim).await {
            Ok(_) => ctx.recorder.normal(
                owner,
                "SuccessfulCreate",
                &format!(
                    "create Claim {name} Pod {pod} in StatefulSet {} success",
                    owner.name
                ),
            ),
            Err(e) if e.is_already_exists() => {}
            Err(e) => {
                ctx.recorder.warning(
                    owner,
                    "FailedCreate",
                    &format!(
                        "create Claim {name} for Pod {pod} in StatefulSet {} failed error: {e}",
                        owner.name
                    ),
                );
                return Err(e);
            }
        }
    }
    Ok(())
}

/// `whenScaled: Delete`: a condemned pod's claims go with it (the pod
/// becomes their owner, and the garbage collector does the rest).
async fn release_claims_on_scale_down(
    ctx: &Ctx,
    set: &StatefulSet,
    pod: &str,
) -> Result<(), Error> {
    let (_, delete_on_scale) = retention(set);
    if !delete_on_scale {
        return Ok(());
    }
    let client = &ctx.client;
    let ns = set.metadata.namespace.as_deref().unwrap_or_default();
    let Some(p) = client.get::<Pod>(Some(ns), pod)? else {
        return Ok(());
    };
    let pod_ref = OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name: pod.to_owned(),
        uid: p.metadata.uid.clone().unwrap_or_default(),
        controller: None,
        block_owner_deletion: None,
    };
    let templates = set
        .spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.clone())
        .unwrap_or_default();
    for template in &templates {
        let name = claim_name(template, pod);
        let result = client
            .update::<PersistentVolumeClaim, _>(Some(ns), &name, Part::Main, |c| {
                let refs = c.metadata.owner_references.get_or_insert_with(Vec::new);
                if !refs.iter().any(|r| r.uid == pod_ref.uid) {
                    refs.push(pod_ref.clone());
                }
                Ok(())
            })
            .await;
        match result {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn new_pod(
    set: &StatefulSet,
    owner: &ObjectRef,
    template: &PodTemplateSpec,
    revision: &str,
    ordinal: i32,
) -> Pod {
    let ns = owner.namespace.as_deref().unwrap_or_default();
    let name = format!("{}-{ordinal}", owner.name);
    let mut pod = pods::from_template(template, owner, ns, Some(name.clone()), None);
    let labels = pod.metadata.labels.get_or_insert_with(Default::default);
    labels.insert(POD_NAME_LABEL.to_owned(), name.clone());
    labels.insert(POD_INDEX_LABEL.to_owned(), ordinal.to_string());
    labels.insert(CONTROLLER_REVISION_HASH.to_owned(), revision.to_owned());
    let spec = set.spec.clone().unwrap_or_default();
    if let Some(pod_spec) = &mut pod.spec {
        pod_spec.hostname = Some(name.clone());
        if let Some(svc) = spec.service_name.as_deref().filter(|s| !s.is_empty()) {
            pod_spec.subdomain = Some(svc.to_owned());
        }
        let volumes = pod_spec.volumes.get_or_insert_with(Vec::new);
        for claim in spec.volume_claim_templates.iter().flatten() {
            let volume_name = claim.metadata.name.clone().unwrap_or_default();
            let volume = Volume {
                name: volume_name.clone(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim_name(claim, &name),
                    read_only: None,
                }),
                ..Volume::default()
            };
            match volumes.iter_mut().find(|v| v.name == volume_name) {
                Some(v) => *v = volume,
                None => volumes.push(volume),
            }
        }
        if volumes.is_empty() {
            pod_spec.volumes = None;
        }
    }
    pod
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_come_from_canonical_names() {
        assert_eq!(ordinal_of("web", "web-0"), Some(0));
        assert_eq!(ordinal_of("web", "web-12"), Some(12));
        assert_eq!(ordinal_of("web", "web-01"), None);
        assert_eq!(ordinal_of("web", "web-x"), None);
        assert_eq!(ordinal_of("web", "webs-1"), None);
        assert_eq!(ordinal_of("web-1", "web-1-2"), Some(2));
    }

    #[test]
    fn pods_get_identity_and_claims() {
        let set: StatefulSet = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "db", "namespace": "ns", "uid": "u"},
            "spec": {
                "serviceName": "db-headless",
                "selector": {"matchLabels": {"app": "db"}},
                "template": {
                    "metadata": {"labels": {"app": "db"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "data", "emptyDir": {}}]}
                },
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]
            }
        }))
        .expect("statefulset");
        let owner = ObjectRef::of(&set);
        let template = set
            .spec
            .as_ref()
            .map(|s| s.template.clone())
            .unwrap_or_default();
        let pod = new_pod(&set, &owner, &template, "db-abc", 2);
        assert_eq!(pod.metadata.name.as_deref(), Some("db-2"));
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get(POD_NAME_LABEL).map(String::as_str), Some("db-2"));
        assert_eq!(labels.get(POD_INDEX_LABEL).map(String::as_str), Some("2"));
        assert_eq!(
            labels.get(CONTROLLER_REVISION_HASH).map(String::as_str),
            Some("db-abc")
        );
        let spec = pod.spec.unwrap_or_default();
        assert_eq!(spec.hostname.as_deref(), Some("db-2"));
        assert_eq!(spec.subdomain.as_deref(), Some("db-headless"));
        let volumes = spec.volumes.unwrap_or_default();
        assert_eq!(
            volumes.len(),
            1,
            "the claim replaces the template's volume of the same name"
        );
        assert_eq!(
            volumes[0]
                .persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.as_str()),
            Some("data-db-2")
        );
    }
}
