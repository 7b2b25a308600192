//! What the watchers say: group specs, node labels and readiness are kept
//! in memory; each change queues the nodes, groups and GroupedDeployments
//! it may affect.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use verge_runtime::{CachedObject, Client, Event};

use super::membership::{GROUP_LABEL, Group, NodeView};
use super::spread::OWNER_LABEL;
use super::types::{self, NodeGroup};
use super::{Key, Shared, State, last_segment, namespaced};

impl Shared {
    pub(super) fn on_group(&self, event: Event) {
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

    pub(super) fn on_node(&self, event: Event) {
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

    pub(super) fn on_spread(&self, event: Event) {
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

    pub(super) fn on_deployment(&self, event: Event) {
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
