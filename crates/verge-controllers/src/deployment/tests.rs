//! The Deployment and ReplicaSet controllers together against a real API
//! in process, with a stand-in kubelet that runs every pod at once (except
//! pods whose image says "never-ready") and confirms deletions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;
use verge_runtime::{Client, ControllerMetrics, DeleteOptions, Event, Part};

use super::util::{self, REVISION};
use crate::replicaset::tests::{api, until};

fn start(client: &Client) {
    let metrics = Arc::new(ControllerMetrics::new());
    tokio::spawn(crate::replicaset::run(
        client.with_manager("replicaset-controller"),
        metrics.clone(),
    ));
    tokio::spawn(super::run(
        client.with_manager("deployment-controller"),
        metrics,
    ));
    tokio::spawn(kubelet(client.with_manager("kubelet")));
}

async fn kubelet(client: Client) {
    let Ok(mut pods) = client.watcher::<Pod>(None) else {
        return;
    };
    while let Some(event) = pods.next().await {
        let objs = match event {
            Event::Applied(o) => vec![o],
            Event::Relisted(os) => os,
            Event::Deleted(_) => continue,
        };
        for obj in objs {
            let Ok(pod) = Client::decode::<Pod>(&obj) else {
                continue;
            };
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            if pod.metadata.deletion_timestamp.is_some() {
                let opts = DeleteOptions {
                    grace_period_seconds: Some(0),
                    ..DeleteOptions::default()
                };
                let _ = client.delete::<Pod>(Some(&ns), &name, &opts).await;
                continue;
            }
            let image = pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.first())
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            if crate::pods::is_ready(&pod) || image.contains("never-ready") {
                continue;
            }
            let _ = client
                .update::<Pod, _>(Some(&ns), &name, Part::Binding, |p| {
                    if let Some(spec) = p.spec.as_mut() {
                        spec.node_name = Some("n1".into());
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
                .await;
        }
    }
}

fn deployment(name: &str, replicas: i32, image: &str, strategy: serde_json::Value) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]}
            }
        }
    }))
    .expect("deployment")
}

fn rolling(surge: serde_json::Value, unavailable: serde_json::Value) -> serde_json::Value {
    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
}

/// The Deployment as the cache holds it; None until the cache has caught up
/// with its create.
fn try_get(client: &Client, name: &str) -> Option<Deployment> {
    client
        .get::<Deployment>(Some("default"), name)
        .ok()
        .flatten()
}

fn get(client: &Client, name: &str) -> Deployment {
    client
        .get::<Deployment>(Some("default"), name)
        .expect("get")
        .expect("exists")
}

fn sets(client: &Client, app: &str) -> Vec<ReplicaSet> {
    let mut v: Vec<ReplicaSet> = client
        .list::<ReplicaSet>(Some("default"))
        .expect("list")
        .into_iter()
        .filter(|r| {
            r.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with(&format!("{app}-")))
        })
        .collect();
    v.sort_by_key(util::revision);
    v
}

/// Pods of `app` that are Ready and not being deleted, by image.
fn available(client: &Client, app: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for p in client.list::<Pod>(Some("default")).expect("list") {
        let mine = p
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app"))
            .is_some_and(|a| a == app);
        if mine && p.metadata.deletion_timestamp.is_none() && crate::pods::is_ready(&p) {
            let image = p
                .spec
                .and_then(|s| s.containers.into_iter().next())
                .and_then(|c| c.image)
                .unwrap_or_default();
            *out.entry(image).or_insert(0) += 1;
        }
    }
    out
}

fn complete(client: &Client, name: &str) -> bool {
    let Some(d) = client
        .get::<Deployment>(Some("default"), name)
        .expect("get")
    else {
        return false;
    };
    d.status.as_ref().is_some_and(|s| util::is_complete(&d, s))
}

async fn set_image(client: &Client, name: &str, image: &str) {
    client
        .update::<Deployment, _>(Some("default"), name, Part::Main, |d| {
            if let Some(c) = d
                .spec
                .as_mut()
                .and_then(|s| s.template.spec.as_mut())
                .and_then(|s| s.containers.first_mut())
            {
                c.image = Some(image.into());
            }
            Ok(())
        })
        .await
        .expect("set image");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_a_hashed_replica_set_and_completes() {
    let api = api().await;
    let client = &api.client;
    start(client);
    client
        .create(&deployment(
            "web",
            3,
            "nginx:1",
            rolling(json!(1), json!(0)),
        ))
        .await
        .expect("create");
    until("rollout complete", || complete(client, "web").then_some(())).await;
    let rss = sets(client, "web");
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    let hash = rs
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(util::HASH_LABEL))
        .expect("hash label")
        .clone();
    assert_eq!(
        rs.metadata.name.as_deref(),
        Some(format!("web-{hash}").as_str())
    );
    let spec = rs.spec.as_ref().expect("spec");
    assert_eq!(
        spec.selector
            .match_labels
            .as_ref()
            .and_then(|m| m.get(util::HASH_LABEL)),
        Some(&hash)
    );
    assert_eq!(util::annotation(rs, REVISION), Some("1"));
    assert_eq!(util::annotation(rs, util::DESIRED_REPLICAS), Some("3"));
    assert_eq!(util::annotation(rs, util::MAX_REPLICAS), Some("4"));
    let d = get(client, "web");
    assert_eq!(
        d.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION))
            .map(String::as_str),
        Some("1")
    );
    let s = d.status.expect("status");
    assert_eq!(
        (
            s.replicas,
            s.updated_replicas,
            s.ready_replicas,
            s.available_replicas,
            s.unavailable_replicas
        ),
        (Some(3), Some(3), Some(3), Some(3), Some(0))
    );
    let progressing = util::get_condition(&s, util::PROGRESSING).expect("progressing");
    assert_eq!(
        progressing.reason.as_deref(),
        Some(util::REASON_NEW_RS_AVAILABLE)
    );
    let available = util::get_condition(&s, util::AVAILABLE).expect("available");
    assert_eq!(available.status, "True");

    // The hash is a function of the template: the same template after a
    // controller restart finds the same ReplicaSet.
    let again = crate::pods::template_hash(
        &serde_json::to_value(&get(client, "web").spec.expect("spec").template).expect("json"),
        None,
    );
    assert_eq!(again, hash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_respects_max_unavailable_and_max_surge() {
    let api = api().await;
    let client = &api.client;
    start(client);
    let strategy = rolling(json!("25%"), json!("25%"));
    client
        .create(&deployment("roll", 8, "nginx:1", strategy))
        .await
        .expect("create");
    until("first rollout", || complete(client, "roll").then_some(())).await;
    set_image(client, "roll", "nginx:2").await;
    // 25% of 8: 2 may be unavailable, 2 may surge.
    let mut lowest = usize::MAX;
    let mut most = 0;
    until("second rollout", || {
        let avail: usize = available(client, "roll").values().sum();
        lowest = lowest.min(avail);
        let pods = client
            .list::<Pod>(Some("default"))
            .expect("list")
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .count();
        most = most.max(pods);
        (available(client, "roll").get("nginx:2") == Some(&8) && complete(client, "roll"))
            .then_some(())
    })
    .await;
    assert!(lowest >= 6, "availability fell to {lowest}");
    assert!(most <= 10, "{most} pods at once");
    let rss = sets(client, "roll");
    assert_eq!(rss.len(), 2);
    assert_eq!(util::replicas(&rss[0]), 0, "old scaled to zero");
    assert_eq!(util::revision(&rss[1]), 2);
    assert_eq!(util::replicas(&rss[1]), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_removes_old_pods_before_creating_new_ones() {
    let api = api().await;
    let client = &api.client;
    start(client);
    client
        .create(&deployment("re", 3, "nginx:1", json!({"type": "Recreate"})))
        .await
        .expect("create");
    until("first rollout", || complete(client, "re").then_some(())).await;
    set_image(client, "re", "nginx:2").await;
    let mut mixed = false;
    until("second rollout", || {
        let pods = client.list::<Pod>(Some("default")).expect("list");
        let images: std::collections::BTreeSet<String> = pods
            .iter()
            .filter_map(|p| p.spec.as_ref()?.containers.first()?.image.clone())
            .collect();
        mixed |= images.len() > 1;
        (available(client, "re").get("nginx:2") == Some(&3) && complete(client, "re")).then_some(())
    })
    .await;
    assert!(!mixed, "old and new pods existed at the same time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_mid_rollout_is_proportional_and_history_is_bounded() {
    let api = api().await;
    let client = &api.client;
    start(client);
    let mut d = deployment("prop", 10, "nginx:1", rolling(json!(3), json!(2)));
    if let Some(s) = d.spec.as_mut() {
        s.revision_history_limit = Some(1);
    }
    client.create(&d).await.expect("create");
    until("first rollout", || complete(client, "prop").then_some(())).await;
    // A rollout that cannot finish: the new pods never become ready.
    set_image(client, "prop", "never-ready:2").await;
    until("stuck at 8 old + 5 new", || {
        let rss = sets(client, "prop");
        let sizes: Vec<i32> = rss.iter().map(util::replicas).collect();
        (sizes == vec![8, 5]).then_some(())
    })
    .await;
    client
        .update::<Deployment, _>(Some("default"), "prop", Part::Main, |d| {
            if let Some(s) = d.spec.as_mut() {
                s.replicas = Some(15);
            }
            Ok(())
        })
        .await
        .expect("scale");
    // 15 + 3 surge = 18: 5 more, 3 to the old and 2 to the new.
    until("proportional sizes", || {
        let sizes: Vec<i32> = sets(client, "prop").iter().map(util::replicas).collect();
        (sizes == vec![11, 7]).then_some(())
    })
    .await;

    // Two more templates: with revisionHistoryLimit 1 only one old
    // ReplicaSet is kept once the rollout completes.
    set_image(client, "prop", "nginx:3").await;
    until("third rollout", || complete(client, "prop").then_some(())).await;
    set_image(client, "prop", "nginx:4").await;
    until("fourth rollout and cleanup", || {
        let revisions: Vec<i64> = sets(client, "prop").iter().map(util::revision).collect();
        (complete(client, "prop") && revisions == vec![3, 4]).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_rollout_exceeds_its_progress_deadline() {
    let api = api().await;
    let client = &api.client;
    start(client);
    let mut d = deployment("slow", 2, "never-ready:1", rolling(json!(1), json!(0)));
    if let Some(s) = d.spec.as_mut() {
        s.progress_deadline_seconds = Some(2);
    }
    client.create(&d).await.expect("create");
    let cond = until("ProgressDeadlineExceeded", || {
        let s = try_get(client, "slow")?.status?;
        util::get_condition(&s, util::PROGRESSING)
            .filter(|c| c.reason.as_deref() == Some(util::REASON_TIMED_OUT))
            .cloned()
    })
    .await;
    assert_eq!(cond.status, "False");
    let available = get(client, "slow")
        .status
        .and_then(|s| util::get_condition(&s, util::AVAILABLE).cloned())
        .expect("available condition");
    assert_eq!(available.status, "False");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_deployment_does_not_roll_out() {
    let api = api().await;
    let client = &api.client;
    start(client);
    client
        .create(&deployment("p", 2, "nginx:1", rolling(json!(1), json!(0))))
        .await
        .expect("create");
    until("first rollout", || complete(client, "p").then_some(())).await;
    client
        .update::<Deployment, _>(Some("default"), "p", Part::Main, |d| {
            if let Some(s) = d.spec.as_mut() {
                s.paused = Some(true);
                if let Some(c) = s
                    .template
                    .spec
                    .as_mut()
                    .and_then(|p| p.containers.first_mut())
                {
                    c.image = Some("nginx:2".into());
                }
            }
            Ok(())
        })
        .await
        .expect("pause and change");
    until("paused condition", || {
        let s = try_get(client, "p")?.status?;
        util::get_condition(&s, util::PROGRESSING)
            .filter(|c| c.reason.as_deref() == Some(util::REASON_PAUSED))
            .map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sets(client, "p").len(), 1, "no new ReplicaSet while paused");
    client
        .update::<Deployment, _>(Some("default"), "p", Part::Main, |d| {
            if let Some(s) = d.spec.as_mut() {
                s.paused = Some(false);
            }
            Ok(())
        })
        .await
        .expect("resume");
    until("rolled out after resume", || {
        (available(client, "p").get("nginx:2") == Some(&2) && complete(client, "p")).then_some(())
    })
    .await;
}
