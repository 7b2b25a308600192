//! The DaemonSet controller: one pod on every eligible node — the usual way
//! to put an agent-side app on every edge node of a group
//! (`nodeSelector: {node-role.kubernetes.io/edge: ""}`).
//!
//! Each pod is pinned to its node by required node affinity
//! (`metadata.name In [node]`) and bound by the scheduler, as in kube since
//! 1.12. Nodes that appear, go, or change labels or taints make pods
//! follow. Template changes roll out node by node (RollingUpdate with
//! `maxUnavailable` or `maxSurge`, or OnDelete), each template kept as a
//! ControllerRevision so `kubectl rollout history|undo|status ds/x` work.

mod placement;
mod rollout;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod, PodTemplateSpec};
use parking_lot::Mutex;
use verge_runtime::{
    Action, CachedObject, Client, ControllerMetrics, DeleteOptions, Error, Event, ObjectRef, Part,
    Queue, Recorder,
};

use crate::pods::owners::{OwnerFacts, OwnerKey, Owners, meta_of, ns_name};
use crate::pods::revisions::{self, Ensured};
use crate::pods::{
    self, CONTROLLER_REVISION_HASH, is_available, is_deleting, is_ready, is_terminal,
};
use placement::{Fit, add_daemon_tolerations, pin_to_node, target_node};

const WORKERS: usize = 4;
/// kube's legacy label with the DaemonSet's generation at pod creation.
const TEMPLATE_GENERATION: &str = "pod-template-generation";
/// Killing failed daemon pods backs off per node from 1 s to 15 min, so a
/// crashing daemon does not churn pods in a tight loop.
const FAILED_BACKOFF_BASE: Duration = Duration::from_secs(1);
const FAILED_BACKOFF_MAX: Duration = Duration::from_secs(900);

struct Ctx {
    client: Client,
    recorder: Recorder,
    owners: Mutex<Owners>,
    /// `<ds uid>/<node>` → (current delay, earliest next kill).
    failed_backoff: Mutex<HashMap<String, (Duration, Instant)>>,
}

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>) {
    let watchers = (
        client.watcher::<DaemonSet>(None),
        client.watcher::<Pod>(None),
        client.watcher::<Node>(None),
    );
    let (mut sets, mut pods, mut nodes) = match watchers {
        (Ok(s), Ok(p), Ok(n)) => (s, p, n),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            tracing::error!(error = %e, "daemonset controller cannot start");
            return;
        }
    };
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), "daemonset-controller"),
        client,
        owners: Mutex::new(Owners::new("DaemonSet")),
        failed_backoff: Mutex::new(HashMap::new()),
    });
    let queue: Queue<OwnerKey> = Queue::new();
    let workers = tokio::spawn(verge_runtime::run(
        "daemonset",
        queue.clone(),
        WORKERS,
        metrics,
        ctx.clone(),
        |ctx, key: OwnerKey| async move { sync(&ctx, &key.ns, &key.name).await },
    ));
    // What of each node matters for placement, to skip heartbeats.
    let mut node_shapes: HashMap<String, u64> = HashMap::new();
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
            ev = nodes.next() => match ev {
                Some(ev) => {
                    if on_node(&mut node_shapes, ev) {
                        for key in ctx.owners.lock().all() {
                            queue.add(key);
                        }
                    }
                }
                None => break,
            },
        }
    }
    queue.close();
    let _ = workers.await;
}

fn on_set(ctx: &Ctx, queue: &Queue<OwnerKey>, ev: Event) {
    let applied = ctx.owners.lock().owner_event(&ev, |obj| {
        OwnerFacts::decode::<DaemonSet>(obj, |ds| ds.spec.as_ref().map(|s| &s.selector))
    });
    for key in applied {
        queue.add(key);
    }
    // A deleted set's pods may come back under a new set of the same
    // name; they must not inherit its failure back-off.
    if let Event::Deleted(obj) = &ev
        && let Ok(meta) = meta_of(obj)
    {
        let prefix = format!("{}/", meta.uid.unwrap_or_default());
        ctx.failed_backoff
            .lock()
            .retain(|k, _| !k.starts_with(&prefix));
    }
}

fn on_pod(ctx: &Ctx, queue: &Queue<OwnerKey>, ev: Event) {
    for key in ctx.owners.lock().pod_event(&ev) {
        queue.add(key);
    }
}

/// Records a node change; true when placement may have changed (a node
/// came or went, or its labels, taints or schedulability changed).
fn on_node(shapes: &mut HashMap<String, u64>, ev: Event) -> bool {
    let shape = |obj: &CachedObject| -> Option<(String, u64)> {
        let node = Client::decode::<Node>(obj).ok()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        node.metadata.labels.hash(&mut h);
        if let Some(spec) = &node.spec {
            spec.unschedulable.hash(&mut h);
            for t in spec.taints.iter().flatten() {
                (&t.key, &t.value, &t.effect).hash(&mut h);
            }
        }
        Some((node.metadata.name.unwrap_or_default(), h.finish()))
    };
    match ev {
        Event::Applied(obj) => match shape(&obj) {
            Some((name, h)) => shapes.insert(name, h) != Some(h),
            None => false,
        },
        Event::Deleted(obj) => ns_name(&obj.key)
            .map(|(_, name)| name.to_owned())
            .or_else(|| obj.key.rsplit('/').next().map(str::to_owned))
            .is_some_and(|name| shapes.remove(&name).is_some()),
        Event::Relisted(objs) => {
            shapes.clear();
            for obj in &objs {
                if let Some((name, h)) = shape(obj) {
                    shapes.insert(name, h);
                }
            }
            true
        }
    }
}

/// A pod to delete, and whether to skip the grace period (its node is gone,
/// so nothing would ever confirm the deletion).
struct Doomed {
    name: String,
    force: bool,
}

async fn sync(ctx: &Ctx, ns: &str, name: &str) -> Result<Action, Error> {
    pods::caught_up(&ctx.client).await?;
    let client = &ctx.client;
    let Some(cached) = client
        .cache()
        .get_now(&client.key::<DaemonSet>(Some(ns), name)?)
    else {
        return Ok(Action::Done);
    };
    let ds: DaemonSet = Client::decode(&cached)?;
    let raw = cached.value();
    let owner = ObjectRef::of(&ds);
    let Some(spec) = ds.spec.clone() else {
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
    let deleting = is_deleting(&ds.metadata);
    if deleting {
        // The garbage collector removes the pods; nothing to add.
        return Ok(Action::Done);
    }

    // The current revision, and the ones before it.
    let mut history = revisions::owned(client, &owner, deleting, &selector).await?;
    let template_raw = raw.pointer("/spec/template").cloned().unwrap_or_default();
    let data = revisions::data_for_template(&template_raw);
    let collisions = ds
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    let template_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let current = match revisions::ensure(
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
                .update::<DaemonSet, _>(Some(ns), name, Part::Status, |d| {
                    let s = d.status.get_or_insert_with(DaemonSetStatus::default);
                    s.collision_count = Some(collisions + 1);
                    Ok(())
                })
                .await?;
            return Ok(Action::Done);
        }
    };
    let hash = current
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CONTROLLER_REVISION_HASH))
        .cloned()
        .unwrap_or_default();

    // The pods, by the node they are for.
    let uid = owner.uid.clone();
    let keys = ctx.owners.lock().pod_keys(&uid);
    let candidates = pods::candidates(client, ns, &selector, keys)?;
    let owned = pods::claim::claim(client, &owner, deleting, &selector, candidates, None).await?;
    let nodes: Vec<Node> = client.list(None)?;
    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    let mut doomed: Vec<Doomed> = Vec::new();
    for p in owned.iter().filter(|p| !is_deleting(&p.metadata)) {
        match target_node(p) {
            Some(n) => by_node.entry(n).or_default().push(p),
            // Not ours to place (an adopted pod without a node): replace it.
            None => doomed.push(Doomed {
                name: p.metadata.name.clone().unwrap_or_default(),
                force: false,
            }),
        }
    }

    let mut template = spec.template.clone();
    let mut daemon_spec = template.spec.clone().unwrap_or_default();
    add_daemon_tolerations(&mut daemon_spec);
    template.spec = Some(daemon_spec.clone());
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let rolling = strategy.type_.as_deref().unwrap_or("RollingUpdate") == "RollingUpdate";
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let now = Timestamp::now();
    let mut requeue: Option<Duration> = None;
    let mut wake = |d: Duration| requeue = Some(requeue.map_or(d, |r: Duration| r.min(d)));

    let fits: Vec<(String, Fit)> = nodes
        .iter()
        .map(|n| {
            (
                n.metadata.name.clone().unwrap_or_default(),
                placement::fit(&daemon_spec, n),
            )
        })
        .collect();
    let desired = fits.iter().filter(|(_, f)| f.should_run).count() as i32;
    let (max_surge, max_unavailable) = match &strategy.rolling_update {
        Some(ru) if rolling => {
            rollout::budgets(ru.max_surge.as_ref(), ru.max_unavailable.as_ref(), desired)
        }
        _ => (0, 1),
    };

    // Manage: a pod on every node that should run one, none elsewhere.
    let mut create_on: Vec<String> = Vec::new();
    let mut status = DaemonSetStatus {
        desired_number_scheduled: desired,
        ..DaemonSetStatus::default()
    };
    let (mut ready, mut available, mut updated) = (0, 0, 0);
    let mut running: Vec<rollout::NodePods> = Vec::new();
    for (node, fit) in &fits {
        let here = by_node.remove(node).unwrap_or_default();
        let (finished, live): (Vec<&Pod>, Vec<&Pod>) =
            here.into_iter().partition(|p| is_terminal(p));
        if !fit.should_continue {
            doomed.extend(live.iter().chain(finished.iter()).map(|p| Doomed {
                name: p.metadata.name.clone().unwrap_or_default(),
                force: false,
            }));
            if !live.is_empty() {
                status.number_misscheduled += 1;
            }
            continue;
        }
        if !fit.should_run && !live.is_empty() {
            status.number_misscheduled += 1;
        }
        let mut failed_here = false;
        for p in &finished {
            failed_here = true;
            match kill_failed(ctx, &uid, node) {
                Ok(()) => {
                    let pod = p.metadata.name.clone().unwrap_or_default();
                    ctx.recorder.warning(
                        &owner,
                        "FailedDaemonPod",
                        &format!(
                            "Found failed daemon pod {ns}/{pod} on node {node}, will try to kill it"
                        ),
                    );
                    doomed.push(Doomed {
                        name: pod,
                        force: false,
                    });
                }
                Err(wait) => wake(wait),
            }
        }
        if !fit.should_run {
            continue;
        }
        if live.is_empty() {
            if !failed_here {
                create_on.push(node.clone());
            }
            continue;
        }
        // Count the node by its oldest pod, as kube's status does.
        let mut live = live;
        live.sort_by_key(|p| (created(p), p.metadata.name.clone()));
        status.current_number_scheduled += 1;
        let first = live[0];
        if is_ready(first) {
            ready += 1;
            if is_available(first, min_ready, now) {
                available += 1;
            } else if let Some(since) = pods::ready_since(first) {
                let at = since + jiff::SignedDuration::from_secs(i64::from(min_ready));
                wake(
                    at.duration_since(now)
                        .try_into()
                        .unwrap_or(Duration::from_secs(1)),
                );
            }
        }
        if pod_hash(first) == Some(hash.as_str()) {
            updated += 1;
        }
        let (new, old): (Vec<&Pod>, Vec<&Pod>) = live
            .iter()
            .partition(|p| pod_hash(p) == Some(hash.as_str()));
        // More than one pod: keep the oldest (with surge, the oldest of
        // each revision).
        let keep: Vec<&Pod> = if max_surge > 0 {
            new.first()
                .into_iter()
                .chain(old.first())
                .copied()
                .collect()
        } else {
            vec![first]
        };
        for p in &live {
            if !keep.iter().any(|k| std::ptr::eq(*k, *p)) {
                doomed.push(Doomed {
                    name: p.metadata.name.clone().unwrap_or_default(),
                    force: false,
                });
            }
        }
        running.push(rollout::NodePods {
            node: node.clone(),
            new: new
                .into_iter()
                .filter(|p| keep.iter().any(|k| std::ptr::eq(*k, *p)))
                .collect(),
            old: old
                .into_iter()
                .filter(|p| keep.iter().any(|k| std::ptr::eq(*k, *p)))
                .collect(),
        });
    }
    // Pods for nodes that no longer exist: nothing will stop them.
    for pods_gone in by_node.values() {
        doomed.extend(pods_gone.iter().map(|p| Doomed {
            name: p.metadata.name.clone().unwrap_or_default(),
            force: true,
        }));
    }
    status.number_ready = ready;
    status.number_available = Some(available);
    status.number_unavailable = Some((desired - available).max(0));
    status.updated_number_scheduled = Some(updated);
    status.observed_generation = ds.metadata.generation;
    status.collision_count = ds.status.as_ref().and_then(|s| s.collision_count);
    status.conditions = ds.status.as_ref().and_then(|s| s.conditions.clone());

    // Roll out once the node set is in order.
    let mut surge_on = Vec::new();
    if rolling && doomed.is_empty() && create_on.is_empty() {
        let step = rollout::step(&running, max_surge, max_unavailable, min_ready, now);
        doomed.extend(
            step.delete
                .into_iter()
                .map(|name| Doomed { name, force: false }),
        );
        surge_on = step.surge_on;
        if min_ready > 0 && updated < desired {
            // Availability comes with time, not with an event.
            wake(Duration::from_secs(1));
        }
    }
    create_on.extend(surge_on);

    let changed = !doomed.is_empty() || !create_on.is_empty();
    let result = apply(ctx, &ds, &owner, &template, &hash, doomed, create_on).await;

    // History: keep the revisions pods still use, and `revisionHistoryLimit` more.
    if result.is_ok() && !changed {
        let hashes: HashSet<&str> = owned.iter().filter_map(|p| pod_hash(p)).collect();
        let live: HashSet<String> = history
            .iter()
            .filter(|r| {
                r.metadata.name == current.metadata.name
                    || r.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(CONTROLLER_REVISION_HASH))
                        .is_some_and(|h| hashes.contains(h.as_str()))
            })
            .filter_map(|r| r.metadata.name.clone())
            .collect();
        let limit = spec.revision_history_limit.unwrap_or(10).max(0) as usize;
        revisions::truncate(client, &owner, &history, &live, limit).await?;
    }

    if ds.status.as_ref() != Some(&status) {
        client
            .update::<DaemonSet, _>(Some(ns), name, Part::Status, |d| {
                d.status = Some(status.clone());
                Ok(())
            })
            .await?;
    }
    result?;
    Ok(requeue.map_or(Action::Done, Action::RequeueAfter))
}

/// Deletes and creates pods, recording events.
async fn apply(
    ctx: &Ctx,
    ds: &DaemonSet,
    owner: &ObjectRef,
    template: &PodTemplateSpec,
    hash: &str,
    doomed: Vec<Doomed>,
    create_on: Vec<String>,
) -> Result<(), Error> {
    let client = &ctx.client;
    let ns = owner.namespace.as_deref();
    let mut first_error = None;
    for d in doomed {
        let opts = DeleteOptions {
            grace_period_seconds: d.force.then_some(0),
            ..DeleteOptions::default()
        };
        match client.delete::<Pod>(ns, &d.name, &opts).await {
            Ok(true) => ctx.recorder.normal(
                owner,
                "SuccessfulDelete",
                &format!("Deleted pod: {}", d.name),
            ),
            Ok(false) => {}
            Err(e) => {
                ctx.recorder
                    .warning(owner, "FailedDelete", &format!("Error deleting: {e}"));
                first_error.get_or_insert(e);
            }
        }
    }
    let (_, err) = pods::slow_start(create_on.len(), |i| {
        let pod = new_pod(ds, owner, template, &create_on[i], hash);
        async move {
            match client.create(&pod).await {
                Ok(p) => {
                    let name = p.metadata.name.unwrap_or_default();
                    ctx.recorder
                        .normal(owner, "SuccessfulCreate", &format!("Created pod: {name}"));
                    Ok(())
                }
                Err(e) => {
                    let prefix = pod.metadata.generate_name.as_deref().unwrap_or_default();
                    let why = pods::create_error_message(&e, prefix);
                    ctx.recorder
                        .warning(owner, "FailedCreate", &format!("Error creating: {why}"));
                    Err(e)
                }
            }
        }
    })
    .await;
    if let Some(e) = err {
        first_error.get_or_insert(e);
    }
    first_error.map_or(Ok(()), Err)
}

fn new_pod(
    ds: &DaemonSet,
    owner: &ObjectRef,
    template: &PodTemplateSpec,
    node: &str,
    hash: &str,
) -> Pod {
    let ns = owner.namespace.as_deref().unwrap_or_default();
    let mut pod = pods::from_template(template, owner, ns, None, Some(format!("{}-", owner.name)));
    let labels = pod.metadata.labels.get_or_insert_with(Default::default);
    labels.insert(CONTROLLER_REVISION_HASH.to_owned(), hash.to_owned());
    labels.insert(
        TEMPLATE_GENERATION.to_owned(),
        ds.metadata.generation.unwrap_or(1).to_string(),
    );
    if let Some(spec) = &mut pod.spec {
        pin_to_node(spec, node);
    }
    pod
}

/// Whether a failed pod on `node` may be killed now; otherwise how long to
/// wait. Each kill doubles the wait for the next one on that node.
fn kill_failed(ctx: &Ctx, uid: &str, node: &str) -> Result<(), Duration> {
    let key = format!("{uid}/{node}");
    let now = Instant::now();
    let mut backoff = ctx.failed_backoff.lock();
    if let Some((_, next)) = backoff.get(&key)
        && *next > now
    {
        return Err(*next - now);
    }
    let delay = backoff.get(&key).map_or(FAILED_BACKOFF_BASE, |(d, _)| {
        (*d * 2).min(FAILED_BACKOFF_MAX)
    });
    backoff.insert(key, (delay, now + delay));
    Ok(())
}

fn pod_hash(p: &Pod) -> Option<&str> {
    p.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CONTROLLER_REVISION_HASH))
        .map(String::as_str)
}

fn created(p: &Pod) -> Timestamp {
    p.metadata
        .creation_timestamp
        .as_ref()
        .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
}
