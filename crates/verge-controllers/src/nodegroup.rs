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

mod copies;
mod groups;
mod membership;
mod observe;
mod spread;
mod types;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use parking_lot::Mutex;
use serde_json::{Value, json};
use verge_apiserver::resources::{Resources, WriteOptions};
use verge_runtime::{
    Action, Client, ControllerMetrics, Error, Event, Part, Queue, Recorder, Watcher,
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
        let stored = client.cache().get_now(&key).map(|o| o.value());
        if let Some(stored) = &stored {
            let labelled = crd
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .all(|(k, v)| stored.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v));
            // Every write of a CRD restamps its conditions: write only changes.
            if stored.get("spec") == crd.get("spec") && labelled {
                continue;
            }
        }
        if stored.is_none() {
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
    let queue = shared.queue.clone();
    verge_runtime::run("nodegroup", queue, 2, metrics, shared, reconcile).await;
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

async fn reconcile(sh: Arc<Shared>, key: Key) -> Result<Action, Error> {
    match key {
        Key::Node(name) => groups::label_node(&sh, &name).await,
        Key::Group(name) => groups::group_status(&sh, &name).await,
        Key::Spread(key) => copies::spread_deployments(&sh, &key).await,
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
