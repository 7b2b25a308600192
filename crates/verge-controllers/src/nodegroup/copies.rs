//! The GroupedDeployment reconcile: create, update and delete its
//! Deployments (one per target group), then sum up their status.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};
use verge_runtime::{Action, DeleteOptions, Error, ObjectRef, Part};

use super::Shared;
use super::membership::GROUP_LABEL;
use super::spread;
use super::types::{GroupOverride, GroupedDeployment};

/// Makes a GroupedDeployment's Deployments match it, then reports them.
pub(super) async fn spread_deployments(sh: &Shared, key: &str) -> Result<Action, Error> {
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
