//! Kubernetes API semantics through kube-rs against a real `verge server`:
//! watch resume and expiry, streaming lists, finalizers, dry runs,
//! selectors, pod binding and eviction.

mod common;

use std::time::Duration;

use common::Cluster;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"app": "sem"}}, "data": {"k": name}}),
    )
    .expect("configmap")
}

fn pod(name: &str, node: Option<&str>) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "busybox"}]});
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"app": "sem"}}, "spec": spec}),
    )
    .expect("pod")
}

async fn next_events(
    stream: &mut (impl futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin),
    n: usize,
) -> Vec<WatchEvent<ConfigMap>> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(20), stream.next()).await {
            Ok(Some(Ok(e))) => out.push(e),
            Ok(Some(Err(e))) => panic!("watch error: {e}"),
            Ok(None) => break,
            Err(_) => panic!(
                "timed out waiting for watch events; got {} of {n}",
                out.len()
            ),
        }
    }
    out
}

fn name_of(e: &WatchEvent<ConfigMap>) -> String {
    match e {
        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
            o.metadata.name.clone().unwrap_or_default()
        }
        WatchEvent::Bookmark(_) => "<bookmark>".into(),
        WatchEvent::Error(e) => format!("<error {}>", e.code),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_from_any_revision_and_expires_in_stream() {
    let mut c = Cluster::api_only();
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let a = cms
        .create(&PostParams::default(), &cm("a"))
        .await
        .expect("create a");
    let rv_a = a.metadata.resource_version.clone().expect("rv");
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "a2"}})),
    )
    .await
    .expect("patch a");
    cms.create(&PostParams::default(), &cm("b"))
        .await
        .expect("create b");
    cms.delete("b", &DeleteParams::default())
        .await
        .expect("delete b");

    // From the revision of a's creation: exactly the three later changes, in order.
    let mut stream = cms
        .watch(&WatchParams::default().timeout(10), &rv_a)
        .await
        .expect("watch")
        .boxed();
    let events = next_events(&mut stream, 3).await;
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match e {
            WatchEvent::Added(_) => format!("ADDED {}", name_of(e)),
            WatchEvent::Modified(_) => format!("MODIFIED {}", name_of(e)),
            WatchEvent::Deleted(_) => format!("DELETED {}", name_of(e)),
            _ => name_of(e),
        })
        .collect();
    assert_eq!(kinds, ["MODIFIED a", "ADDED b", "DELETED b"]);
    // Revisions strictly increase, and the DELETED event carries a new one.
    let rvs: Vec<i64> = events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                o.metadata.resource_version.as_ref()?.parse().ok()
            }
            _ => None,
        })
        .collect();
    assert!(rvs.windows(2).all(|w| w[0] < w[1]), "{rvs:?}");
    drop(stream);

    // After a restart the revision is older than the watch cache's window:
    // the same changes come from the store's retained history.
    c.restart();
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let mut stream = cms
        .watch(&WatchParams::default().timeout(10), &rv_a)
        .await
        .expect("watch")
        .boxed();
    let replayed: Vec<String> = next_events(&mut stream, 3)
        .await
        .iter()
        .map(name_of)
        .collect();
    assert_eq!(replayed, ["a", "b", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_revisions_expire_in_stream() {
    let mut c = Cluster::start_with(&["--history-revisions", "5", "--controllers", "none"]);
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let first = cms
        .create(&PostParams::default(), &cm("first"))
        .await
        .expect("create");
    let rv = first.metadata.resource_version.clone().expect("rv");
    for i in 0..30 {
        cms.create(&PostParams::default(), &cm(&format!("n{i}")))
            .await
            .expect("create");
    }
    // Restart so the cache window starts after `rv`; the store keeps only 5
    // revisions of history, so `rv` is gone: 410 as an ERROR event inside a
    // 200 stream (what clients relist on).
    c.restart();
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let mut stream = cms
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .expect("watch opens with 200")
        .boxed();
    let events = next_events(&mut stream, 1).await;
    match &events[0] {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("expected a 410 ERROR event, got {}", name_of(other)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_lists_end_with_an_initial_events_bookmark() {
    let c = Cluster::api_only();
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    for i in 0..5 {
        cms.create(&PostParams::default(), &cm(&format!("s{i}")))
            .await
            .expect("create");
    }
    // kube-rs' streaming-list mode needs the k8s.io/initial-events-end bookmark
    // to report the initial state as complete.
    let mut events = watcher(cms.clone(), watcher::Config::default().streaming_lists()).boxed();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut init = 0;
    loop {
        let ev = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("initial state in time")
            .expect("stream open")
            .expect("no watch error");
        match ev {
            watcher::Event::InitApply(_) => init += 1,
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(init, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizers_hold_deletion_until_removed() {
    let c = Cluster::api_only();
    let client = c.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut obj = cm("held");
    obj.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &obj)
        .await
        .expect("create");
    let res = cms
        .delete("held", &DeleteParams::default())
        .await
        .expect("delete");
    let pending = res.left().expect("object returned while finalizers remain");
    assert!(pending.metadata.deletion_timestamp.is_some());
    let still = cms.get("held").await.expect("still there");
    assert!(still.metadata.deletion_timestamp.is_some());

    // kube-rs' finalizer helper removes finalizers with a JSON patch guarded by `test`.
    let p: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": "example.com/hold"},
        {"op": "remove", "path": "/metadata/finalizers/0"}
    ]))
    .expect("patch");
    cms.patch("held", &PatchParams::default(), &Patch::<()>::Json(p))
        .await
        .expect("remove finalizer");
    assert!(
        cms.get_opt("held").await.expect("get").is_none(),
        "deleted once the last finalizer went"
    );

    // Foreground propagation marks the object with foregroundDeletion.
    cms.create(&PostParams::default(), &cm("fg"))
        .await
        .expect("create");
    let res = cms
        .delete("fg", &DeleteParams::foreground())
        .await
        .expect("delete");
    let obj = res.left().expect("pending");
    assert!(
        obj.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"foregroundDeletion".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_generate_name_and_selectors() {
    let c = Cluster::api_only();
    let client = c.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let before = cms
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    let dry = cms
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &cm("dry"),
        )
        .await
        .expect("dry run");
    assert_eq!(dry.metadata.name.as_deref(), Some("dry"));
    assert!(
        cms.get_opt("dry").await.expect("get").is_none(),
        "dry run stored nothing"
    );
    let after = cms
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    assert_eq!(before, after, "dry run did not bump the revision");

    let mut generated = cm("x");
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    let made = cms
        .create(&PostParams::default(), &generated)
        .await
        .expect("generateName");
    let name = made.metadata.name.expect("name");
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    // Field selectors on pods: spec.nodeName and status.phase with !=.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("on-n1", Some("n1")))
        .await
        .expect("pod");
    pods.create(&PostParams::default(), &pod("on-n2", Some("n2")))
        .await
        .expect("pod");
    pods.create(&PostParams::default(), &pod("nowhere", None))
        .await
        .expect("pod");
    let on_n1 = pods
        .list(&ListParams::default().fields("spec.nodeName=n1"))
        .await
        .expect("list");
    assert_eq!(on_n1.items.len(), 1);
    assert_eq!(on_n1.items[0].metadata.name.as_deref(), Some("on-n1"));
    let not_running = pods
        .list(&ListParams::default().fields("status.phase!=Running,metadata.name!=nowhere"))
        .await
        .expect("list");
    assert_eq!(not_running.items.len(), 2);
    let err = pods
        .list(&ListParams::default().fields("spec.bogus=1"))
        .await
        .expect_err("unsupported field");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 400),
        "{err}"
    );
    let set = cms
        .list(&ListParams::default().labels("app in (sem,other),!missing"))
        .await
        .expect("list");
    assert_eq!(set.items.len(), 1);

    // deletecollection by label.
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("app=sem"),
    )
    .await
    .expect("deletecollection");
    assert!(
        cms.list(&ListParams::default().labels("app=sem"))
            .await
            .expect("list")
            .items
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_bind_once_and_evict() {
    let c = Cluster::api_only();
    let client = c.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("p", None))
        .await
        .expect("create");
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "edge-1"}});
    let req = http::Request::post("/api/v1/namespaces/default/pods/p/binding")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&binding).expect("json"))
        .expect("request");
    client.request_text(req).await.expect("bind");
    let p = pods.get("p").await.expect("get");
    assert_eq!(p.spec.and_then(|s| s.node_name).as_deref(), Some("edge-1"));
    let scheduled = p.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        scheduled
            .iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "True")
    );
    // A second binding is refused.
    let req = http::Request::post("/api/v1/namespaces/default/pods/p/binding")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&binding).expect("json"))
        .expect("request");
    let err = client.request_text(req).await.expect_err("already bound");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err}"
    );

    // Eviction of an unbound pod deletes it at once.
    pods.create(&PostParams::default(), &pod("q", None))
        .await
        .expect("create");
    let eviction =
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "q"}});
    let req = http::Request::post("/api/v1/namespaces/default/pods/q/eviction")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&eviction).expect("json"))
        .expect("request");
    client.request_text(req).await.expect("evict");
    assert!(pods.get_opt("q").await.expect("get").is_none());

    // A bound pod is deleted gracefully: it waits for its node.
    let res = pods
        .delete("p", &DeleteParams::default())
        .await
        .expect("delete");
    let terminating = res.left().expect("pending on the node");
    assert!(terminating.metadata.deletion_timestamp.is_some());
    // Grace period 0 (what the node does when the pod has stopped) removes it.
    pods.delete(
        "p",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .expect("force delete");
    assert!(pods.get_opt("p").await.expect("get").is_none());
}

/// The graceful deletion of a pod on a node lasts through its kubelet's
/// status writes (kube-apiserver deletes during an update only once the
/// grace period is over), and ends when the kubelet deletes it with grace 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_pods_outlive_status_writes_until_confirmed() {
    let c = Cluster::api_only();
    let pods: Api<Pod> = Api::namespaced(c.client().await, "default");
    pods.create(&PostParams::default(), &pod("term", Some("edge-1")))
        .await
        .expect("create");
    let graceful = DeleteParams {
        grace_period_seconds: Some(30),
        ..DeleteParams::default()
    };
    let marked = pods
        .delete("term", &graceful)
        .await
        .expect("delete")
        .left()
        .expect("a pod on a node waits for its node");
    let deadline = marked.metadata.deletion_timestamp.clone().expect("marked");
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(30));

    for (i, phase) in ["Running", "Running", "Succeeded"].into_iter().enumerate() {
        let status = json!({"status": {"phase": phase, "conditions": [
            {"type": "Ready", "status": "False", "reason": format!("write{i}")}]}});
        let written = pods
            .patch_status("term", &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("status write while terminating");
        assert_eq!(
            written.metadata.deletion_timestamp.as_ref(),
            Some(&deadline)
        );
    }
    let labelled = pods
        .patch(
            "term",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"seen": "yes"}}})),
        )
        .await
        .expect("label while terminating");
    assert_eq!(
        labelled.metadata.deletion_timestamp.as_ref(),
        Some(&deadline)
    );
    let still = pods.get("term").await.expect("still there");
    assert_eq!(still.metadata.deletion_timestamp, Some(deadline));
    assert_eq!(
        still.status.and_then(|s| s.phase).as_deref(),
        Some("Succeeded")
    );

    // The kubelet's confirmation: grace 0 and the pod's uid.
    let confirm = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(kube::api::Preconditions {
            uid: still.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let gone = pods.delete("term", &confirm).await.expect("confirm");
    assert!(gone.is_right(), "a confirmed deletion removes the pod");
    assert!(pods.get_opt("term").await.expect("get").is_none());

    // With a finalizer, the confirmation ends the grace period and the
    // finalizer's removal ends the pod (the Job controller's tracking case).
    let mut held = pod("held", Some("edge-1"));
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    pods.create(&PostParams::default(), &held)
        .await
        .expect("create");
    pods.delete("held", &graceful).await.expect("delete");
    let confirm = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    let confirmed = pods
        .delete("held", &confirm)
        .await
        .expect("confirm")
        .left()
        .expect("the finalizer holds it");
    assert_eq!(confirmed.metadata.deletion_grace_period_seconds, Some(0));
    pods.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("remove finalizer");
    assert!(pods.get_opt("held").await.expect("get").is_none());
}

/// An update that leaves a finalizer keeps a deleted object; the update
/// that removes the last one deletes it, and watchers see DELETED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_removing_the_last_finalizer_completes_a_deletion() {
    let c = Cluster::api_only();
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let mut obj = cm("fin");
    obj.metadata.finalizers = Some(vec!["example.com/a".into(), "example.com/b".into()]);
    let created = cms
        .create(&PostParams::default(), &obj)
        .await
        .expect("create");
    let rv = created.metadata.resource_version.expect("rv");
    let mut events = cms
        .watch(&WatchParams::default().fields("metadata.name=fin"), &rv)
        .await
        .expect("watch")
        .boxed();

    cms.delete("fin", &DeleteParams::default())
        .await
        .expect("delete")
        .left()
        .expect("held by finalizers");
    let labelled = cms
        .patch(
            "fin",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"unrelated": "change"}}})),
        )
        .await
        .expect("label");
    assert!(labelled.metadata.deletion_timestamp.is_some());
    cms.patch(
        "fin",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/b"]}})),
    )
    .await
    .expect("remove one finalizer");
    assert!(cms.get_opt("fin").await.expect("get").is_some(), "one left");
    cms.patch(
        "fin",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("remove the last finalizer");
    assert!(cms.get_opt("fin").await.expect("get").is_none());

    let seen = next_events(&mut events, 4).await;
    let kinds: Vec<&str> = seen
        .iter()
        .map(|e| match e {
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            _ => "OTHER",
        })
        .collect();
    assert_eq!(kinds, ["MODIFIED", "MODIFIED", "MODIFIED", "DELETED"]);
    assert!(seen.iter().all(|e| name_of(e) == "fin"));
}
