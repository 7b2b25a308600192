//! The kube crate (kube-rs) as a second client: typed Api, watcher with
//! bookmarks, a reflector and a small Controller against `verge server`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Cluster;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;

fn cm(name: &str, data: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "demo"}},
        "data": {"v": data},
    }))
    .expect("configmap")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_api_crud_patches_and_conflicts() {
    let c = Cluster::api_only();
    let client = c.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let created = cms
        .create(&PostParams::default(), &cm("a", "1"))
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some());
    let rv1 = created.metadata.resource_version.clone().expect("rv");

    let got = cms.get("a").await.expect("get");
    assert_eq!(
        got.data
            .as_ref()
            .and_then(|d| d.get("v"))
            .map(String::as_str),
        Some("1")
    );

    // Replace with a stale resourceVersion: 409.
    let mut stale = got.clone();
    stale.data = Some([("v".to_string(), "2".to_string())].into());
    cms.replace("a", &PostParams::default(), &stale)
        .await
        .expect("replace");
    let err = cms
        .replace("a", &PostParams::default(), &stale)
        .await
        .expect_err("stale replace");
    match err {
        kube::Error::Api(s) => assert_eq!(s.code, 409),
        other => panic!("expected 409, got {other}"),
    }

    // JSON patch with a failing test operation: refused, nothing changed.
    let p: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/v", "value": "nope"},
        {"op": "replace", "path": "/data/v", "value": "3"}
    ]))
    .expect("patch");
    assert!(
        cms.patch("a", &PatchParams::default(), &Patch::<()>::Json(p))
            .await
            .is_err()
    );
    assert_eq!(
        cms.get("a").await.expect("get").data.expect("data")["v"],
        "2"
    );

    // Merge patch and server-side apply (create-if-missing).
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"w": "x"}})),
    )
    .await
    .expect("merge");
    let applied = cms
        .patch(
            "b",
            &PatchParams::apply("verge-test").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"k": "v"}})),
        )
        .await
        .expect("apply creates");
    assert_eq!(applied.data.expect("data")["k"], "v");

    let list = cms
        .list(&ListParams::default().labels("app=demo"))
        .await
        .expect("list");
    assert_eq!(list.items.len(), 1);
    assert!(
        list.metadata
            .resource_version
            .is_some_and(|rv| rv.parse::<i64>().expect("num") > rv1.parse::<i64>().expect("num"))
    );

    // Pagination: limit 1 yields a continue token and then the rest.
    let page = cms
        .list(&ListParams::default().limit(1))
        .await
        .expect("page");
    assert_eq!(page.items.len(), 1);
    let token = page.metadata.continue_.expect("continue token");
    let rest = cms
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .expect("rest");
    assert!(!rest.items.is_empty());
    assert_ne!(rest.items[0].metadata.name, page.items[0].metadata.name);

    cms.delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(cms.get_opt("a").await.expect("get_opt").is_none());

    // Scale subresource and status subresource on a Deployment.
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .expect("deployment");
    deploys
        .create(&PostParams::default(), &d)
        .await
        .expect("create deploy");
    let scale = deploys.get_scale("web").await.expect("scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(1));
    deploys
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .expect("patch scale");
    deploys
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 9}, "status": {"replicas": 4}})),
        )
        .await
        .expect("patch status");
    let d = deploys.get("web").await.expect("get");
    assert_eq!(
        d.spec.and_then(|s| s.replicas),
        Some(4),
        "status writes ignore spec"
    );
    assert_eq!(d.status.and_then(|s| s.replicas), Some(4));
    assert_eq!(
        d.metadata.generation,
        Some(2),
        "scale bumped the generation once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_and_reflector_follow_changes() {
    let c = Cluster::start();
    let client = c.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector(writer, watcher(cms.clone(), watcher::Config::default()))
        .applied_objects()
        .boxed();
    let task = tokio::spawn(async move {
        let mut stream = stream;
        while stream.next().await.is_some() {}
    });
    reader.wait_until_ready().await.expect("reflector ready");
    for i in 0..20 {
        cms.create(&PostParams::default(), &cm(&format!("r{i}"), "x"))
            .await
            .expect("create");
    }
    cms.delete("r3", &DeleteParams::default())
        .await
        .expect("delete");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let names: Vec<String> = reader
            .state()
            .iter()
            .filter_map(|o| o.metadata.name.clone())
            .collect();
        if names.len() == 19 && !names.contains(&"r3".to_string()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "reflector never converged: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();

    // A watch from a label selector sees objects enter and leave the selection.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let events = watcher(pods.clone(), watcher::Config::default().labels("tier=web"))
        .touched_objects()
        .take(1);
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p1", "labels": {"tier": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .expect("pod");
    let waiter = tokio::spawn(async move { events.try_collect::<Vec<_>>().await });
    pods.create(&PostParams::default(), &p)
        .await
        .expect("create pod");
    let got = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .expect("watch event in time")
        .expect("join")
        .expect("watch ok");
    assert_eq!(got[0].metadata.name.as_deref(), Some("p1"));
}

#[derive(Clone)]
struct Ctx {
    api: Api<ConfigMap>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ReconcileError(String);

async fn reconcile(obj: Arc<ConfigMap>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let value = obj
        .data
        .as_ref()
        .and_then(|d| d.get("v"))
        .cloned()
        .unwrap_or_default();
    ctx.api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"seen": value}}})),
        )
        .await
        .map_err(|e| ReconcileError(e.to_string()))?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<ConfigMap>, _: &ReconcileError, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(200))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_reconciles_objects() {
    let c = Cluster::start();
    let client = c.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let ctx = Arc::new(Ctx { api: cms.clone() });
    let controller = Controller::new(cms.clone(), watcher::Config::default().labels("app=demo"))
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {});
    let task = tokio::spawn(controller);
    cms.create(&PostParams::default(), &cm("ctl", "42"))
        .await
        .expect("create");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = cms.get("ctl").await.expect("get");
        if got
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("seen"))
            .map(String::as_str)
            == Some("42")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "controller never reconciled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
}
