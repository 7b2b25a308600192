//! The controller against a real API (store, watch cache, admission) in
//! process: no HTTP, no kubelet — tests play the kubelet by writing pod
//! status themselves.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event as KubeEvent, Pod, PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;
use verge_apiserver::cache::{CacheConfig, WatchCache};
use verge_apiserver::registry::Registry;
use verge_apiserver::resources::Resources;
use verge_runtime::{Client, ControllerMetrics, Part};

pub(crate) struct Api {
    pub client: Client,
    _dir: tempfile::TempDir,
}

pub(crate) async fn api() -> Api {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = verge_store::SqliteStore::open(
        &dir.path().join("store.db"),
        verge_store::SqliteOptions::default(),
    )
    .expect("store");
    let store: Arc<dyn verge_store::Store> = Arc::new(store);
    let cache = WatchCache::start(store.clone(), CacheConfig::default())
        .await
        .expect("cache");
    let resources = Arc::new(Resources {
        registry: Arc::new(Registry::with_builtins()),
        store,
        cache,
    });
    verge_apiserver::namespaces::ensure_system_namespaces(&resources)
        .await
        .expect("namespaces");
    Api {
        client: Client::new(resources, "test"),
        _dir: dir,
    }
}

/// Polls the cache until `f` holds (the cache is in memory: no API load).
pub(crate) async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn replica_set(name: &str, replicas: i32, image: &str) -> ReplicaSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]}
            }
        }
    }))
    .expect("replicaset")
}

fn pods_of(client: &Client, app: &str) -> Vec<Pod> {
    client
        .list::<Pod>(Some("default"))
        .expect("list")
        .into_iter()
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .is_some_and(|a| a == app)
                && p.metadata.deletion_timestamp.is_none()
        })
        .collect()
}

fn status_of(client: &Client, name: &str) -> k8s_openapi::api::apps::v1::ReplicaSetStatus {
    client
        .get::<ReplicaSet>(Some("default"), name)
        .expect("get")
        .and_then(|r| r.status)
        .unwrap_or_default()
}

async fn mark_ready(client: &Client, pod: &str, node: &str) {
    client
        .update::<Pod, _>(Some("default"), pod, Part::Binding, |p| {
            if let Some(spec) = p.spec.as_mut() {
                spec.node_name = Some(node.into());
            }
            p.status = Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(jiff::Timestamp::now())),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            });
            Ok(())
        })
        .await
        .expect("mark ready");
}

fn start(client: &Client) {
    tokio::spawn(super::run(
        client.with_manager("replicaset-controller"),
        Arc::new(ControllerMetrics::new()),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_owned_pods_and_reports_status() {
    let api = api().await;
    let client = &api.client;
    start(client);
    let rs = client
        .create(&replica_set("web", 3, "nginx"))
        .await
        .expect("create");
    let pods = until("3 pods", || {
        let p = pods_of(client, "web");
        (p.len() == 3).then_some(p)
    })
    .await;
    for p in &pods {
        let name = p.metadata.name.as_deref().expect("name");
        assert!(name.starts_with("web-") && name.len() > 4, "{name}");
        let owner = crate::pods::controller_of(&p.metadata).expect("controller");
        assert_eq!(owner.uid, rs.metadata.uid.clone().expect("uid"));
        assert_eq!(owner.kind, "ReplicaSet");
        assert_eq!(owner.block_owner_deletion, Some(true));
    }
    until("status.replicas 3", || {
        (status_of(client, "web").replicas == 3).then_some(())
    })
    .await;
    for p in &pods {
        mark_ready(client, p.metadata.name.as_deref().expect("name"), "n1").await;
    }
    let s = until("3 available", || {
        let s = status_of(client, "web");
        (s.available_replicas == Some(3)).then_some(s)
    })
    .await;
    assert_eq!(s.ready_replicas, Some(3));
    assert_eq!(s.fully_labeled_replicas, Some(3));
    assert_eq!(s.observed_generation, Some(1));
    // Nothing more is created once the count is right.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pods_of(client, "web").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_down_keeps_ready_pods_and_never_overshoots() {
    let api = api().await;
    let client = &api.client;
    start(client);
    client
        .create(&replica_set("big", 120, "nginx"))
        .await
        .expect("create");
    until("120 pods", || {
        (pods_of(client, "big").len() == 120).then_some(())
    })
    .await;
    // Every pod ever created, by uid: expectations forbid double creates.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all: BTreeSet<String> = client
        .list::<Pod>(Some("default"))
        .expect("list")
        .into_iter()
        .filter_map(|p| p.metadata.uid)
        .collect();
    assert_eq!(all.len(), 120, "no pod was created twice");

    let keep: Vec<String> = pods_of(client, "big")
        .iter()
        .take(2)
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    for name in &keep {
        mark_ready(client, name, "n1").await;
    }
    client
        .update::<ReplicaSet, _>(Some("default"), "big", Part::Main, |r| {
            if let Some(s) = r.spec.as_mut() {
                s.replicas = Some(2);
            }
            Ok(())
        })
        .await
        .expect("scale");
    let left = until("2 pods", || {
        let p = pods_of(client, "big");
        (p.len() == 2).then_some(p)
    })
    .await;
    let mut names: Vec<String> = left.into_iter().filter_map(|p| p.metadata.name).collect();
    names.sort();
    let mut keep = keep;
    keep.sort();
    assert_eq!(names, keep, "the ready pods survive the scale-down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopts_matching_orphans_and_releases_pods_that_stop_matching() {
    let api = api().await;
    let client = &api.client;
    let orphan: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "stray", "namespace": "default", "labels": {"app": "adopt"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    }))
    .expect("pod");
    client.create(&orphan).await.expect("orphan");
    start(client);
    let rs = client
        .create(&replica_set("adopt", 1, "nginx"))
        .await
        .expect("create");
    let uid = rs.metadata.uid.clone().expect("uid");
    until("the orphan adopted", || {
        let p = client.get::<Pod>(Some("default"), "stray").ok()??;
        (crate::pods::controller_of(&p.metadata)?.uid == uid).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pods_of(client, "adopt").len(), 1, "the adopted pod counts");

    client
        .update::<Pod, _>(Some("default"), "stray", Part::Main, |p| {
            p.metadata.labels = Some([("app".to_owned(), "elsewhere".to_owned())].into());
            Ok(())
        })
        .await
        .expect("relabel");
    until("the pod released", || {
        let p = client.get::<Pod>(Some("default"), "stray").ok()??;
        crate::pods::controller_of(&p.metadata)
            .is_none()
            .then_some(())
    })
    .await;
    until("a replacement", || {
        (pods_of(client, "adopt").len() == 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_the_api_rejects_sets_replica_failure_without_flooding() {
    let api = api().await;
    let client = &api.client;
    start(client);
    // Templates may carry an image with surrounding spaces; pods may not.
    client
        .create(&replica_set("bad", 50, " nginx "))
        .await
        .expect("the replicaset itself is valid");
    let cond = until("ReplicaFailure", || {
        status_of(client, "bad")
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "ReplicaFailure")
    })
    .await;
    assert_eq!(cond.status, "True");
    assert_eq!(cond.reason.as_deref(), Some("FailedCreate"));
    assert!(
        cond.message
            .as_deref()
            .unwrap_or_default()
            .contains("image"),
        "{cond:?}"
    );
    let event = until("a FailedCreate event", || {
        client
            .list::<KubeEvent>(Some("default"))
            .ok()?
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedCreate"))
    })
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert!(
        event
            .message
            .as_deref()
            .unwrap_or_default()
            .starts_with("Error creating:")
    );
    // Backoff, not a hot loop: after a second only a handful of attempts
    // (each a single failed create that bumps the event's count).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let count = client
        .list::<KubeEvent>(Some("default"))
        .expect("events")
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("FailedCreate"))
        .and_then(|e| e.count)
        .unwrap_or(0);
    assert!(count < 15, "{count} failed attempts in about a second");
    assert!(pods_of(client, "bad").is_empty());
}
