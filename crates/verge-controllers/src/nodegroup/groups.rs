//! Reconciles of nodes (their group label) and of NodeGroups (their status).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};
use verge_runtime::{Action, Error, ObjectRef, Part};

use super::Shared;
use super::membership::{self, GROUP_LABEL};
use super::types::NodeGroup;

/// Sets or removes the node's group label.
pub(super) async fn label_node(sh: &Shared, name: &str) -> Result<Action, Error> {
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
pub(super) async fn group_status(sh: &Shared, name: &str) -> Result<Action, Error> {
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
