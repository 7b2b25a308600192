//! Node groups: sets of nodes (an edge site, a region, a hardware class)
//! that workloads target as a unit — the shape of KubeEdge's NodeGroup and
//! EdgeApplication and of OpenYurt's NodePool and YurtAppSet.
//!
//! - `NodeGroup` (apps.verge.dev/v1alpha1, cluster-scoped) names member
//!   nodes and/or selects them by label. The controller labels each member
//!   `verge.dev/node-group=<group>` (a node belongs to one group: the
//!   oldest that claims it) and reports members, ready members and
//!   conflicts in the group's status. Pinning a workload to a group is a
//!   plain nodeSelector on that label.
//! - `GroupedDeployment` (apps.verge.dev/v1alpha1, namespaced) runs one
//!   Deployment per group (see `spread`), with per-group replicas and
//!   images.
//!
//! Both CRDs are embedded here and installed by `verge server` at start
//! ([`install_crds`]), through the same write path as `kubectl apply`, so
//! they appear in discovery, OpenAPI and `kubectl explain` like any CRD.
//! The user guide is docs/node-groups.md.

mod membership;
mod spread;
mod types;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Value, json};
use verge_apiserver::resources::{Resources, WriteOptions};
use verge_runtime::{
    Action, CachedObject, Client, ControllerMetrics, DeleteOptions, Error, Event, ObjectRef, Part,
    Queue, Recorder, Watcher,
};

pub use membership::GROUP_LABEL;
use membership::{Group, NodeView};
pub use spread::{HASH_ANNOTATION, OWNER_LABEL};
pub use types::{GroupOverride, GroupedDeployment, NodeGroup};

/// The CRD manifests, as `kubectl get crd -o yaml` would show them.
pub const CRDS: [&str; 2] = [
    include_str!("nodegroup/nodegroup-crd.yaml"),
    include_str!("nodegroup/groupeddeployment-crd.yaml"),
];

/// Creates the NodeGroup and GroupedDeployment CRDs, or brings their spec
/// up to this version's. Idempotent: an unchanged CRD is not written.
pub async fn install_crds(resources: &Arc<Resources>) -> Result<(), Error> {
    let client = Client::new(resources.clone(), "verge-server");
    let rt = client.resource_type::<CustomResourceDefinition>()?;
    for manifest in CRDS {
        let crd: Value = serde_saphyr::from_str(manifest)
            .map_err(|e| Error::Other(format!("embedded CRD manifest: {e}")))?;
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let key = rt.storage_key(None, &name);
        if client.cache().get_now(&key).is_none() {
            let opts = WriteOptions {
                field_manager: Some(client.manager().to_owned()),
                ..WriteOptions::default()
            };
            match resources.create(&rt, None, crd.clone(), &opts).await {
                Ok(_) => {
                    tracing::info!(crd = %name, "installed");
                    continue;
                }
                Err(e) if e.reason == "AlreadyExists" => {}
                Err(e) => return Err(e.into()),
            }
        }
        client
            .update_value(&rt, None, &name, Part::Main, |stored| {
                stored["spec"] = crd["spec"].clone();
                if let Some(labels) = crd.pointer("/metadata/labels").and_then(Value::as_object) {
                    let meta = &mut stored["metadata"];
                    if !meta["labels"].is_object() {
                        meta["labels"] = json!({});
                    }
                    for (k, v) in labels {
                        meta["labels"][k] = v.clone();
                    }
                }
                Ok(())
            })
            .await?;
    }
    Ok(())
}

/// A unit of work.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    /// Label a node for the group it belongs to.
    Node(String),
    /// A NodeGroup's status.
    Group(String),
    /// A GroupedDeployment ("namespace/name").
    Spread(String),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Node(n) => write!(f, "node/{n}"),
            Key::Group(g) => write!(f, "nodegroup/{g}"),
            Key::Spread(k) => write!(f, "groupeddeployment/{k}"),
        }
    }
}

struct Shared {
    client: Client,
    queue: Queue<Key>,
    events: Recorder,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    groups: BTreeMap<String, Group>,
    nodes: HashMap<String, NodeView>,
    spreads: BTreeSet<String>,
}

/// Pause between looks for the CRDs when they are not served (the server
/// installs them before controllers start; this only covers a failed
/// install).
const CRD_WAIT: Duration = Duration::from_secs(2);

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>) {
    let mut warned = false;
    let (mut groups, mut nodes, spreads, deployments) = loop {
        match (
            client.watcher::<NodeGroup>(None),
            client.watcher::<Node>(None),
            client.watcher::<GroupedDeployment>(None),
            client.watcher::<Deployment>(None),
        ) {
            (Ok(g), Ok(n), Ok(s), Ok(d)) => break (g, n, s, d),
            (g, _, s, _) => {
                if !warned {
                    let why = g
                        .err()
                        .or(s.err())
                        .map(|e| e.to_string())
                        .unwrap_or_default();
                    tracing::warn!(error = %why, "node groups are not served yet; waiting for their CRDs");
                    warned = true;
                }
                tokio::time::sleep(CRD_WAIT).await;
            }
        }
    };
    let shared = Arc::new(Shared {
        events: Recorder::new(client.clone(), "nodegroup-controller"),
        client,
        queue: Queue::new(),
        state: Mutex::new(State::default()),
    });
    // Nodes are judged against every group: both lists must be in before
    // the first node is looked at, or a start would strip members' labels.
    let Some(first) = groups.next().await else {
        return;
    };
    shared.on_group(first);
    let Some(first) = nodes.next().await else {
        return;
    };
    shared.on_node(first);
    tokio::spawn(follow(groups, shared.clone(), Shared::on_group));
    tokio::spawn(follow(nodes, shared.clone(), Shared::on_node));
    tokio::spawn(follow(spreads, shared.clone(), Shared::on_spread));
    tokio::spawn(follow(deployments, shared.clone(), Shared::on_deployment));
    let sh = shared.clone();
    verge_runtime::run("nodegroup", shared.queue.clone(), 2, metrics, move |key| {
        reconcile(sh.clone(), key)
    })
    .await;
}

async fn follow(mut watcher: Watcher, shared: Arc<Shared>, handle: fn(&Shared, Event)) {
    while let Some(event) = watcher.next().await {
        handle(&shared, event);
    }
}

fn last_segment(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// "namespace/name" from a namespaced storage key.
fn namespaced(key: &str) -> String {
    let mut parts = key.rsplit('/');
    let name = parts.next().unwrap_or_default();
    let ns = parts.next().unwrap_or_default();
    format!("{ns}/{name}")
}

impl Shared {
    fn on_group(&self, event: Event) {
        let mut wake = Vec::new();
        {
            let mut st = self.state.lock();
            let mut changed: Vec<String> = Vec::new();
            match event {
                Event::Applied(obj) => match Client::decode::<NodeGroup>(&obj) {
                    Ok(ng) => {
                        let name = last_segment(&obj.key).to_owned();
                        st.groups.insert(name.clone(), Group::of(&ng));
                        changed.push(name);
                    }
                    Err(e) => {
                        tracing::warn!(key = %obj.key, error = %e, "NodeGroup does not decode; ignored")
                    }
                },
                Event::Deleted(obj) => {
                    let name = last_segment(&obj.key).to_owned();
                    st.groups.remove(&name);
                    changed.push(name);
                }
                Event::Relisted(objs) => {
                    st.groups.clear();
                    for obj in &objs {
                        if let Ok(ng) = Client::decode::<NodeGroup>(obj) {
                            st.groups
                                .insert(last_segment(&obj.key).to_owned(), Group::of(&ng));
                        }
                    }
                    wake.extend(st.nodes.keys().cloned().map(Key::Node));
                }
            }
            // Nodes whose membership may move: those labelled for a
            // changed group and those a changed group claims now.
            for name in &changed {
                let State { groups, nodes, .. } = &*st;
                for (node, view) in nodes {
                    let labelled = view.labels.get(GROUP_LABEL) == Some(name);
                    let claimed = groups
                        .get(name)
                        .is_some_and(|g| g.claims(name, node, &view.labels));
                    if labelled || claimed {
                        wake.push(Key::Node(node.clone()));
                    }
                }
            }
            // Conflicts and selector matches involve every group and spread.
            wake.extend(st.groups.keys().cloned().map(Key::Group));
            wake.extend(st.spreads.iter().cloned().map(Key::Spread));
        }
        for k in wake {
            self.queue.add(k);
        }
    }

    fn on_node(&self, event: Event) {
        let mut wake = Vec::new();
        {
            let mut st = self.state.lock();
            let mut applied = |st: &mut State, obj: &CachedObject| {
                let name = last_segment(&obj.key).to_owned();
                let view = NodeView {
                    labels: obj.labels.clone(),
                    ready: node_ready(obj),
                };
                let prev = st.nodes.insert(name.clone(), view.clone());
                let old_group = prev
                    .as_ref()
                    .and_then(|p| p.labels.get(GROUP_LABEL).cloned());
                let new_group = view.labels.get(GROUP_LABEL).cloned();
                if prev.as_ref().is_none_or(|p| p.labels != view.labels) {
                    wake.push(Key::Node(name));
                    // Selector matches may change for groups whose label
                    // the node does not carry yet: their conflicts too.
                    wake.extend(st.groups.keys().cloned().map(Key::Group));
                } else if prev.as_ref().is_some_and(|p| p.ready != view.ready) {
                    wake.extend(new_group.clone().map(Key::Group));
                }
                wake.extend(
                    old_group
                        .filter(|g| Some(g) != new_group.as_ref())
                        .map(Key::Group),
                );
            };
            match event {
                Event::Applied(obj) => applied(&mut st, &obj),
                Event::Deleted(obj) => {
                    if let Some(prev) = st.nodes.remove(last_segment(&obj.key)) {
                        wake.extend(prev.labels.get(GROUP_LABEL).cloned().map(Key::Group));
                    }
                }
                Event::Relisted(objs) => {
                    st.nodes.clear();
                    for obj in &objs {
                        applied(&mut st, obj);
                    }
                }
            }
        }
        wake.sort();
        wake.dedup();
        for k in wake {
            self.queue.add(k);
        }
    }

    fn on_spread(&self, event: Event) {
        let mut wake = Vec::new();
        {
            let mut st = self.state.lock();
            match event {
                Event::Applied(obj) => {
                    let key = namespaced(&obj.key);
                    st.spreads.insert(key.clone());
                    wake.push(key);
                }
                // Its Deployments go with it: they name it as their owner,
                // and the garbage collector deletes them.
                Event::Deleted(obj) => {
                    st.spreads.remove(&namespaced(&obj.key));
                }
                Event::Relisted(objs) => {
                    st.spreads = objs.iter().map(|o| namespaced(&o.key)).collect();
                    wake.extend(st.spreads.iter().cloned());
                }
            }
        }
        for k in wake {
            self.queue.add(Key::Spread(k));
        }
    }

    fn on_deployment(&self, event: Event) {
        let objs = match event {
            Event::Applied(obj) | Event::Deleted(obj) => vec![obj],
            Event::Relisted(objs) => objs,
        };
        for obj in objs {
            if let Some(owner) = grouped_owner(&obj) {
                self.queue.add(Key::Spread(owner));
            }
        }
    }
}

/// The GroupedDeployment controlling a Deployment ("namespace/name").
fn grouped_owner(obj: &CachedObject) -> Option<String> {
    // Fast path: every Deployment this controller makes carries the label.
    if !obj.labels.contains_key(OWNER_LABEL) {
        return None;
    }
    #[derive(Deserialize)]
    struct Meta {
        metadata: ObjectMeta,
    }
    let meta: Meta = serde_json::from_slice(&obj.bytes).ok()?;
    let owner = crate::pods::controller_of(&meta.metadata)?;
    (owner.kind == "GroupedDeployment" && owner.api_version.starts_with(types::GROUP)).then(|| {
        format!(
            "{}/{}",
            meta.metadata.namespace.as_deref().unwrap_or_default(),
            owner.name
        )
    })
}

/// The node's Ready condition is True, read without decoding the node.
fn node_ready(obj: &CachedObject) -> bool {
    #[derive(Deserialize)]
    struct Condition {
        #[serde(rename = "type")]
        type_: String,
        status: String,
    }
    #[derive(Deserialize, Default)]
    struct Status {
        #[serde(default)]
        conditions: Vec<Condition>,
    }
    #[derive(Deserialize)]
    struct Partial {
        #[serde(default)]
        status: Option<Status>,
    }
    serde_json::from_slice::<Partial>(&obj.bytes)
        .ok()
        .and_then(|p| p.status)
        .is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

async fn reconcile(sh: Arc<Shared>, key: Key) -> Result<Action, Error> {
    match key {
        Key::Node(name) => label_node(&sh, &name).await,
        Key::Group(name) => group_status(&sh, &name).await,
        Key::Spread(key) => spread_deployments(&sh, &key).await,
    }
}

/// Sets or removes the node's group label.
async fn label_node(sh: &Shared, name: &str) -> Result<Action, Error> {
    let key = sh.client.key::<Node>(None, name)?;
    let Some(obj) = sh.client.cache().get_now(&key) else {
        return Ok(Action::Done);
    };
    let want = |labels: &BTreeMap<String, String>| {
        membership::owner(&sh.state.lock().groups, name, labels).map(str::to_owned)
    };
    if want(&obj.labels).as_ref() == obj.labels.get(GROUP_LABEL) {
        return Ok(Action::Done);
    }
    let mut moved = None;
    sh.client
        .update::<Node, _>(None, name, Part::Main, |n| {
            let labels = n.metadata.labels.get_or_insert_with(BTreeMap::new);
            let group = want(labels);
            moved = Some((labels.get(GROUP_LABEL).cloned(), group.clone()));
            match group {
                Some(g) => labels.insert(GROUP_LABEL.to_owned(), g),
                None => labels.remove(GROUP_LABEL),
            };
            Ok(())
        })
        .await?;
    if let Some((from, to)) = moved {
        tracing::info!(node = %name, from = ?from, to = ?to, "node group membership changed");
    }
    Ok(Action::Done)
}

/// Writes a NodeGroup's status from its members' labels and readiness.
async fn group_status(sh: &Shared, name: &str) -> Result<Action, Error> {
    let Some(ng) = sh.client.get::<NodeGroup>(None, name)? else {
        return Ok(Action::Done);
    };
    let (members, invalid) = {
        let st = sh.state.lock();
        (
            membership::members(name, &st.groups, &st.nodes),
            st.groups
                .get(name)
                .and_then(|g| g.invalid().map(str::to_owned)),
        )
    };
    let rt = sh.client.resource_type::<NodeGroup>()?;
    let stored = sh
        .client
        .cache()
        .get_now(&rt.storage_key(None, name))
        .map(|o| o.value());
    let old_status = stored.as_ref().and_then(|v| v.get("status")).cloned();
    let valid = match &invalid {
        None => condition(old_status.as_ref(), "Valid", "True", "Valid", ""),
        Some(why) => condition(
            old_status.as_ref(),
            "Valid",
            "False",
            "InvalidSelector",
            why,
        ),
    };
    let status = json!({
        "observedGeneration": ng.metadata.generation,
        "nodeCount": members.nodes.len(),
        "readyNodes": members.ready,
        "nodes": members.nodes,
        "conflicts": members.conflicts.iter().map(|(node, group)| json!({"node": node, "nodeGroup": group})).collect::<Vec<_>>(),
        "conditions": [valid],
    });
    if old_status.as_ref() == Some(&status) {
        return Ok(Action::Done);
    }
    let regarding = ObjectRef::of(&ng);
    if let Some(why) = &invalid {
        sh.events.warning(&regarding, "InvalidSelector", why);
    }
    for (node, group) in &members.conflicts {
        sh.events.warning(
            &regarding,
            "NodeConflict",
            &format!("node {node} is selected but belongs to the older NodeGroup {group}"),
        );
    }
    let result = sh
        .client
        .update_value(&rt, None, name, Part::Status, |v| {
            v["status"] = status.clone();
            Ok(())
        })
        .await;
    match result {
        Ok(_) => Ok(Action::Done),
        Err(e) if e.is_not_found() => Ok(Action::Done),
        Err(e) => Err(e),
    }
}

/// A status condition, keeping its transition time while its status holds.
fn condition(
    old_status: Option<&Value>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
) -> Value {
    let old = old_status
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_));
    let since = match old {
        Some(c) if c["status"] == status => c["lastTransitionTime"].clone(),
        _ => Value::from(
            jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .unwrap_or_else(|_| jiff::Timestamp::now())
                .to_string(),
        ),
    };
    json!({"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": since})
}

/// Makes a GroupedDeployment's Deployments match it, then reports them.
async fn spread_deployments(sh: &Shared, key: &str) -> Result<Action, Error> {
    let Some((ns, name)) = key.split_once('/') else {
        return Ok(Action::Done);
    };
    let Some(gd) = sh.client.get::<GroupedDeployment>(Some(ns), name)? else {
        return Ok(Action::Done);
    };
    if gd.metadata.deletion_timestamp.is_some() {
        return Ok(Action::Done);
    }
    let owner = ObjectRef::of(&gd);
    let uid = gd.metadata.uid.clone().unwrap_or_default();

    // Listed groups always have a Deployment (its pods wait if the group
    // does not exist yet); selected groups while they exist and match.
    let mut wanted: BTreeMap<String, Option<GroupOverride>> = BTreeMap::new();
    let mut missing = BTreeSet::new();
    {
        let st = sh.state.lock();
        for o in &gd.spec.node_groups {
            if !st.groups.contains_key(&o.name) {
                missing.insert(o.name.clone());
            }
            wanted.insert(o.name.clone(), Some(o.clone()));
        }
        if let Some(sel) = &gd.spec.node_group_selector {
            match crate::pods::selector(Some(sel)) {
                Ok(sel) => {
                    for (g, group) in &st.groups {
                        if sel.matches(&group.labels) {
                            wanted.entry(g.clone()).or_insert(None);
                        }
                    }
                }
                Err(e) => sh.events.warning(
                    &owner,
                    "InvalidSelector",
                    &format!("spec.nodeGroupSelector is invalid: {e}"),
                ),
            }
        }
    }

    let owned: Vec<Deployment> = sh
        .client
        .list::<Deployment>(Some(ns))?
        .into_iter()
        .filter(|d| crate::pods::controller_of(&d.metadata).is_some_and(|r| r.uid == uid))
        .collect();
    let mut keep: BTreeSet<String> = BTreeSet::new();
    let mut entries = Vec::new();
    for (group, overrides) in &wanted {
        let note = missing
            .contains(group)
            .then(|| format!("NodeGroup {group} does not exist: its pods wait for members"));
        let want = match spread::desired(&gd, &owner, group, overrides.as_ref()) {
            Ok(d) => d,
            Err(why) => {
                // Whatever ran before keeps running until the template is fixed.
                if let Some(d) = owned.iter().find(|d| {
                    d.metadata.labels.as_ref().and_then(|l| l.get(GROUP_LABEL)) == Some(group)
                }) {
                    keep.extend(d.metadata.name.clone());
                }
                sh.events.warning(&owner, "InvalidTemplate", &why);
                entries.push(spread::group_status(group, None, Some(&why)));
                continue;
            }
        };
        let dname = want.metadata.name.clone().unwrap_or_default();
        keep.insert(dname.clone());
        let current = match owned
            .iter()
            .find(|d| d.metadata.name.as_deref() == Some(&dname))
        {
            Some(d) => Some(d.clone()),
            None => sh.client.get::<Deployment>(Some(ns), &dname)?,
        };
        let outcome = match current {
            None => create(sh, &owner, &want).await?,
            Some(d) if crate::pods::controller_of(&d.metadata).is_none_or(|r| r.uid != uid) => {
                let why = format!(
                    "Deployment {dname} exists and is not controlled by this GroupedDeployment"
                );
                sh.events.warning(&owner, "DeploymentConflict", &why);
                Err(why)
            }
            Some(d) if spread::needs_update(&d, &want) => update(sh, &owner, &d, &want).await?,
            Some(d) => Ok(d),
        };
        entries.push(match outcome {
            Ok(d) => spread::group_status(group, Some(&d), note.as_deref()),
            Err(why) => spread::group_status(group, None, Some(&why)),
        });
    }

    for d in owned.iter().filter(|d| {
        d.metadata.name.as_ref().is_some_and(|n| !keep.contains(n))
            && d.metadata.deletion_timestamp.is_none()
    }) {
        let dname = d.metadata.name.clone().unwrap_or_default();
        let opts = DeleteOptions {
            propagation_policy: Some("Background".into()),
            precondition_uid: d.metadata.uid.clone(),
            ..DeleteOptions::default()
        };
        match sh
            .client
            .delete::<Deployment>(Some(ns), &dname, &opts)
            .await
        {
            Ok(_) => {
                tracing::info!(groupeddeployment = %key, deployment = %dname, "deleted the Deployment of a group no longer targeted");
                sh.events.normal(
                    &owner,
                    "DeletedDeployment",
                    &format!("Deleted Deployment {dname}: its node group is no longer targeted"),
                );
            }
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            Err(e) => return Err(e),
        }
    }

    write_spread_status(sh, ns, name, gd.metadata.generation, entries).await?;
    Ok(Action::Done)
}

/// Errors a retry cannot fix: the object is wrong, not the moment.
fn is_permanent(e: &Error) -> bool {
    matches!(e.reason(), Some("Invalid" | "BadRequest" | "Forbidden"))
}

async fn create(
    sh: &Shared,
    owner: &ObjectRef,
    want: &Deployment,
) -> Result<Result<Deployment, String>, Error> {
    let dname = want.metadata.name.clone().unwrap_or_default();
    match sh.client.create(want).await {
        Ok(d) => {
            sh.events.normal(
                owner,
                "CreatedDeployment",
                &format!("Created Deployment {dname}"),
            );
            Ok(Ok(d))
        }
        Err(e) if is_permanent(&e) => {
            let why = format!("cannot create Deployment {dname}: {e}");
            sh.events.warning(owner, "FailedCreate", &why);
            Ok(Err(why))
        }
        Err(e) => Err(e),
    }
}

async fn update(
    sh: &Shared,
    owner: &ObjectRef,
    current: &Deployment,
    want: &Deployment,
) -> Result<Result<Deployment, String>, Error> {
    let dname = want.metadata.name.clone().unwrap_or_default();
    let ns = current.metadata.namespace.clone().unwrap_or_default();
    let result = sh
        .client
        .update::<Deployment, _>(Some(&ns), &dname, Part::Main, |d| {
            d.spec.clone_from(&want.spec);
            // Merged, not replaced: the Deployment controller keeps its own
            // annotations (revision) here.
            let labels = d.metadata.labels.get_or_insert_with(BTreeMap::new);
            labels.extend(want.metadata.labels.clone().unwrap_or_default());
            let annotations = d.metadata.annotations.get_or_insert_with(BTreeMap::new);
            annotations.extend(want.metadata.annotations.clone().unwrap_or_default());
            Ok(())
        })
        .await;
    match result {
        Ok(d) => {
            tracing::info!(deployment = %format!("{ns}/{dname}"), "updated a group's Deployment from its GroupedDeployment");
            Ok(Ok(d))
        }
        Err(e) if is_permanent(&e) => {
            let why = format!("cannot update Deployment {dname}: {e}");
            sh.events.warning(owner, "FailedUpdate", &why);
            Ok(Err(why))
        }
        Err(e) => Err(e),
    }
}

async fn write_spread_status(
    sh: &Shared,
    ns: &str,
    name: &str,
    generation: Option<i64>,
    groups: Vec<Value>,
) -> Result<(), Error> {
    let sum = |field: &str| -> i64 { groups.iter().filter_map(|g| g[field].as_i64()).sum() };
    let status = json!({
        "observedGeneration": generation,
        "groupCount": groups.iter().filter(|g| g.get("deployment").is_some()).count(),
        "replicas": sum("replicas"),
        "readyReplicas": sum("readyReplicas"),
        "availableReplicas": sum("availableReplicas"),
        "updatedReplicas": sum("updatedReplicas"),
        "groups": groups,
    });
    let rt = sh.client.resource_type::<GroupedDeployment>()?;
    let stored = sh.client.cache().get_now(&rt.storage_key(Some(ns), name));
    if stored.is_some_and(|o| o.value().get("status") == Some(&status)) {
        return Ok(());
    }
    match sh
        .client
        .update_value(&rt, Some(ns), name, Part::Status, |v| {
            v["status"] = status.clone();
            Ok(())
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_crds_parse_and_name_their_kinds() {
        let kinds: Vec<String> = CRDS
            .iter()
            .map(|m| {
                let v: Value = serde_saphyr::from_str(m).expect("yaml");
                let crd: CustomResourceDefinition = serde_json::from_value(v).expect("a CRD");
                crd.spec.names.kind
            })
            .collect();
        assert_eq!(kinds, vec!["NodeGroup", "GroupedDeployment"]);
    }

    #[test]
    fn keys_of_namespaced_objects() {
        assert_eq!(
            namespaced("/registry/apps.verge.dev/groupeddeployments/demo/web"),
            "demo/web"
        );
        assert_eq!(last_segment("/registry/minions/n1"), "n1");
        assert_eq!(
            Key::Spread("demo/web".into()).to_string(),
            "groupeddeployment/demo/web"
        );
    }
}
