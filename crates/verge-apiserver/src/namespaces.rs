//! Namespace lifecycle: the namespaces every cluster has, and deleting a
//! namespace deletes everything in it before the namespace itself goes.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cache::{Filter, WatchItem, WatchStart};
use crate::object;
use crate::resources::{DeleteOptions, Part, Resources, WriteOptions};
use crate::status::ApiResult;

/// Created on first start, like kube-apiserver does.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// How often a namespace that is still emptying is looked at again (its
/// content may be waiting on finalizers owned by someone else).
const RETRY: Duration = Duration::from_secs(2);

pub async fn ensure_system_namespaces(resources: &Resources) -> ApiResult<()> {
    let Some(rt) = resources.registry.lookup("", "v1", "namespaces") else {
        return Ok(());
    };
    for name in SYSTEM_NAMESPACES {
        if resources
            .cache
            .get(&rt.storage_key(None, name))
            .await
            .ok()
            .flatten()
            .is_some()
        {
            continue;
        }
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        match resources
            .create(&rt, None, ns, &WriteOptions::default())
            .await
        {
            Ok(_) => tracing::info!(namespace = name, "created system namespace"),
            Err(e) if e.reason == "AlreadyExists" => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Finishes the deletion of namespaces marked for deletion.
pub async fn run(resources: Arc<Resources>) {
    let Some(rt) = resources.registry.lookup("", "v1", "namespaces") else {
        return;
    };
    let mut watch = match resources
        .cache
        .watch(
            Filter::prefix(rt.storage_prefix()),
            WatchStart::Now {
                initial_events: false,
            },
            false,
        )
        .await
    {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "namespace controller could not watch namespaces");
            return;
        }
    };
    let mut terminating: Vec<String> = Vec::new();
    let note = |item: WatchItem, terminating: &mut Vec<String>| {
        if let WatchItem::Change(_, obj) = item {
            let v = obj.value();
            if object::is_deleting(&v)
                && let Some(name) = object::name(&v)
                && !terminating.iter().any(|n| n == name)
            {
                terminating.push(name.to_owned());
            }
        }
    };
    for item in std::mem::take(&mut watch.initial) {
        note(item, &mut terminating);
    }
    loop {
        let mut still = Vec::new();
        for name in terminating.drain(..) {
            match finalize(&resources, &name).await {
                Ok(true) => {}
                Ok(false) => still.push(name),
                Err(e) => {
                    tracing::warn!(namespace = %name, error = %e, "namespace cleanup failed; retrying");
                    still.push(name);
                }
            }
        }
        terminating = still;
        let wait = if terminating.is_empty() {
            Duration::from_secs(3600)
        } else {
            RETRY
        };
        match tokio::time::timeout(wait, watch.next()).await {
            Ok(Ok(item)) => note(item, &mut terminating),
            Ok(Err(_)) => return,
            Err(_) => {}
        }
    }
}

/// Deletes the namespace's content; once it is empty, removes the
/// `kubernetes` finalizer so the namespace goes. Returns true when done.
async fn finalize(resources: &Resources, ns: &str) -> ApiResult<bool> {
    let mut remaining = 0usize;
    for rt in resources.registry.all().iter().filter(|t| t.namespaced) {
        // Several versions of one resource share storage; visit it once.
        if resources.registry.all().iter().any(|o| {
            o.namespaced && o.group == rt.group && o.plural == rt.plural && o.version < rt.version
        }) {
            continue;
        }
        let filter = Filter::prefix(format!("{}{ns}/", rt.storage_prefix()));
        let (items, _, _) = resources.cache.list(&filter, None, 0);
        for item in items {
            remaining += 1;
            let v = item.value();
            if object::is_deleting(&v) {
                continue;
            }
            let name = object::name(&v).unwrap_or("").to_owned();
            let opts = DeleteOptions {
                grace_period_seconds: Some(0),
                ..DeleteOptions::default()
            };
            if let Err(e) = resources.delete(rt, Some(ns), &name, &opts).await
                && e.reason != "NotFound"
            {
                return Err(e);
            }
        }
    }
    if remaining > 0 {
        // Check again: what was deleted immediately is gone now.
        let left = resources
            .registry
            .all()
            .iter()
            .filter(|t| t.namespaced)
            .map(|rt| {
                resources
                    .cache
                    .list(
                        &Filter::prefix(format!("{}{ns}/", rt.storage_prefix())),
                        None,
                        0,
                    )
                    .0
                    .len()
            })
            .sum::<usize>();
        if left > 0 {
            return Ok(false);
        }
    }
    let Some(rt) = resources.registry.lookup("", "v1", "namespaces") else {
        return Ok(true);
    };
    let result = resources
        .update(&rt, None, ns, Part::Main, &WriteOptions::default(), |old| {
            let mut new = old.clone();
            let rest: Vec<Value> = old
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .map(|f| {
                    f.iter()
                        .filter(|x| x.as_str() != Some("kubernetes"))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            new["spec"]["finalizers"] = json!(rest);
            object::meta_mut(&mut new).remove("resourceVersion");
            Ok(new)
        })
        .await;
    match result {
        Ok(_) => {
            tracing::info!(namespace = ns, "namespace emptied and deleted");
            Ok(true)
        }
        Err(e) if e.reason == "NotFound" => Ok(true),
        Err(e) => Err(e),
    }
}
