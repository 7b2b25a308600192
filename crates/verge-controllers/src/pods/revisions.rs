//! ControllerRevisions: the history of a DaemonSet's or StatefulSet's pod
//! template, kept as apps/v1 ControllerRevision objects the way kube keeps
//! it, so `kubectl rollout history` lists it and `kubectl rollout undo`
//! (which patches the workload with an old revision's `data`) works.
//!
//! A revision's `data` is the strategic-merge patch that restores its
//! template: `{"spec": {"template": {..., "$patch": "replace"}}}`. Its name
//! is `<owner>-<hash of data>`; its number grows with every change, and an
//! old template that comes back (an undo) takes the next number again
//! instead of getting a duplicate.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::{Value, json};
use verge_apimachinery::labels::Selector;
use verge_apimachinery::patch::json_equal;
use verge_runtime::{Client, DeleteOptions, Error, ObjectRef, Part};

use super::{CONTROLLER_REVISION_HASH, template_hash};

/// The revision `data` for a pod template given as stored JSON.
pub fn data_for_template(template: &Value) -> Value {
    let mut t = template.clone();
    if let Value::Object(m) = &mut t {
        m.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

/// The pod template a revision restores.
pub fn template_of(rev: &ControllerRevision) -> Option<Value> {
    let mut t = rev.data.as_ref()?.0.pointer("/spec/template")?.clone();
    if let Value::Object(m) = &mut t {
        m.remove("$patch");
    }
    Some(t)
}

/// The revisions `owner` controls (adopting orphans its selector matches),
/// oldest first.
pub async fn owned(
    client: &Client,
    owner: &ObjectRef,
    owner_deleting: bool,
    selector: &Selector,
) -> Result<Vec<ControllerRevision>, Error> {
    let ns = owner.namespace.as_deref().unwrap_or_default();
    let filter = verge_runtime::Filter {
        prefix: client.prefix::<ControllerRevision>(Some(ns))?,
        labels: Some(selector.clone()),
        fields: None,
    };
    let candidates = client
        .list_cached(&filter)
        .iter()
        .map(|o| Client::decode::<ControllerRevision>(o))
        .collect::<Result<Vec<_>, _>>()?;
    let mut revs =
        super::claim::claim(client, owner, owner_deleting, selector, candidates, None).await?;
    revs.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    Ok(revs)
}

/// What [`ensure`] found or made.
pub enum Ensured {
    /// The revision of the current template (its number the highest).
    Current(Box<ControllerRevision>),
    /// `<owner>-<hash>` is taken by a different revision: bump the owner's
    /// `status.collisionCount` and try again.
    Collision,
}

/// Makes sure a revision with `data` exists and is the newest: reuses an
/// equal one (renumbering it if an older number), or creates it.
/// `history` is updated to match.
pub async fn ensure(
    client: &Client,
    owner: &ObjectRef,
    template_labels: &BTreeMap<String, String>,
    data: &Value,
    collision_count: i32,
    history: &mut Vec<ControllerRevision>,
) -> Result<Ensured, Error> {
    let ns = owner.namespace.clone().unwrap_or_default();
    let max = history.iter().map(|r| r.revision).max().unwrap_or(0);
    let equal = history
        .iter()
        .enumerate()
        .filter(|(_, r)| r.data.as_ref().is_some_and(|d| json_equal(&d.0, data)))
        .max_by_key(|(_, r)| r.revision)
        .map(|(i, _)| i);
    if let Some(i) = equal {
        if history[i].revision < max {
            let name = history[i].metadata.name.clone().unwrap_or_default();
            let next = max + 1;
            let updated = client
                .update::<ControllerRevision, _>(Some(&ns), &name, Part::Main, |r| {
                    r.revision = next;
                    Ok(())
                })
                .await?;
            history[i] = updated;
        }
        return Ok(Ensured::Current(Box::new(history[i].clone())));
    }

    let hash = template_hash(data, Some(collision_count));
    let name = format!("{}-{hash}", owner.name);
    let mut labels = template_labels.clone();
    labels.insert(CONTROLLER_REVISION_HASH.to_owned(), hash);
    let rev = ControllerRevision {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels: Some(labels),
            owner_references: Some(vec![owner.controller_owner()]),
            ..ObjectMeta::default()
        },
        data: Some(RawExtension(data.clone())),
        revision: max + 1,
    };
    match client.create(&rev).await {
        Ok(created) => {
            history.push(created.clone());
            Ok(Ensured::Current(Box::new(created)))
        }
        Err(e) if e.is_already_exists() => {
            super::caught_up(client).await?;
            let existing: Option<ControllerRevision> = client.get(Some(&ns), &name)?;
            match existing {
                // Ours and equal, but not in `history` yet: take it.
                Some(r)
                    if super::controller_of(&r.metadata).is_some_and(|o| o.uid == owner.uid)
                        && r.data.as_ref().is_some_and(|d| json_equal(&d.0, data)) =>
                {
                    history.push(r);
                    Box::pin(ensure(
                        client,
                        owner,
                        template_labels,
                        data,
                        collision_count,
                        history,
                    ))
                    .await
                }
                _ => Ok(Ensured::Collision),
            }
        }
        Err(e) => Err(e),
    }
}

/// Deletes the oldest revisions beyond `limit` that nothing uses (`live`
/// names the revisions of existing pods and the current and update
/// revisions).
pub async fn truncate(
    client: &Client,
    owner: &ObjectRef,
    history: &[ControllerRevision],
    live: &HashSet<String>,
    limit: usize,
) -> Result<(), Error> {
    let ns = owner.namespace.as_deref();
    let unused: Vec<&ControllerRevision> = history
        .iter()
        .filter(|r| !live.contains(r.metadata.name.as_deref().unwrap_or_default()))
        .collect();
    let excess = unused.len().saturating_sub(limit);
    // `history` is oldest first.
    for r in unused.into_iter().take(excess) {
        let name = r.metadata.name.as_deref().unwrap_or_default();
        client
            .delete::<ControllerRevision>(ns, name, &DeleteOptions::default())
            .await?;
        tracing::debug!(owner = %owner, revision = name, "old revision deleted");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_round_trips_the_template() {
        let t = json!({"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let data = data_for_template(&t);
        assert_eq!(
            data.pointer("/spec/template/$patch"),
            Some(&json!("replace"))
        );
        let rev = ControllerRevision {
            data: Some(RawExtension(data)),
            ..ControllerRevision::default()
        };
        assert_eq!(template_of(&rev), Some(t));
    }
}
