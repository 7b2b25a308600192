//! Deployments and ReplicaSets against a real `verge server` with a hollow
//! node running the pods, driven with the real kubectl: `apply` and
//! `rollout status`, `set image` (availability watched throughout),
//! `rollout history|undo|restart|pause|resume`, `scale`, `get rs`, cascading
//! deletion, a template the API rejects, an exceeded progress deadline,
//! Recreate, and ReplicaSet adoption.
//!
//! Pods name their node in the template (`nodeName: edge-1`), so these
//! tests need no scheduler.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Cluster;
use common::hollow::{fast_config, kubectl, kubectl_output, start_fleet, wait_for};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::runtime::watcher;
use verge_hollow::{Fleet, NodeSpec};

const T: Duration = Duration::from_secs(30);
const CONTROLLERS: &[&str] = &["--controllers", "replicaset,deployment,garbagecollector"];

async fn cluster_with_node() -> (Cluster, Fleet) {
    let cluster = Cluster::start_with(CONTROLLERS);
    let fleet = start_fleet(&cluster, fast_config([NodeSpec::new("edge-1")])).await;
    (cluster, fleet)
}

/// A Deployment of `replicas` pods of `image`, with `extra` spec lines
/// (indented two spaces, under `spec:`).
fn deployment(name: &str, replicas: u32, image: &str, extra: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: default
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
{extra}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      nodeName: edge-1
      containers:
      - name: app
        image: {image}
"#
    )
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn image(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// Live (not being deleted) pods of `app`.
async fn live_pods(pods: &Api<Pod>, app: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

/// ReplicaSets of `app` as `kubectl get rs` sees them: name → (desired,
/// current, ready).
async fn rs_table(cluster: &Cluster, app: &str) -> BTreeMap<String, (u32, u32, u32)> {
    let out = kubectl(
        cluster,
        &["get", "rs", "-l", &format!("app={app}"), "--no-headers"],
    )
    .await;
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.to_string(),
                (
                    f.get(1)?.parse().ok()?,
                    f.get(2)?.parse().ok()?,
                    f.get(3)?.parse().ok()?,
                ),
            ))
        })
        .collect()
}

async fn rollout_status(cluster: &Cluster, deploy: &str) {
    kubectl(
        cluster,
        &[
            "rollout",
            "status",
            &format!("deployment/{deploy}"),
            "--timeout=60s",
        ],
    )
    .await;
}

/// Watches the pods of `app` and remembers the fewest available (Ready,
/// not being deleted) and the most existing (not being deleted) at any
/// moment, from the first complete listing on.
/// The most pods alive at once, and which they were (name, pod-template-hash).
type Peak = (usize, Vec<(String, String)>);

struct Watch {
    fewest_available: Arc<Mutex<Option<usize>>>,
    most_live: Arc<Mutex<Peak>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    async fn start(pods: &Api<Pod>, app: &str) -> Watch {
        let fewest: Arc<Mutex<Option<usize>>> = Arc::new(Mutex::new(None));
        let most = Arc::new(Mutex::new((0, Vec::new())));
        let (f, m) = (fewest.clone(), most.clone());
        let config = watcher::Config::default().labels(&format!("app={app}"));
        let mut stream = watcher(pods.clone(), config).boxed();
        let (synced_tx, synced_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            // name → (available, live, pod-template-hash)
            type Seen = BTreeMap<String, (bool, bool, String)>;
            let mut state = Seen::new();
            let mut init = Seen::new();
            let mut synced = Some(synced_tx);
            while let Some(Ok(event)) = stream.next().await {
                let entry = |p: &Pod| {
                    let live = p.metadata.deletion_timestamp.is_none();
                    let hash = p
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("pod-template-hash"))
                        .cloned()
                        .unwrap_or_default();
                    (live && is_ready(p), live, hash)
                };
                match event {
                    watcher::Event::Apply(p) => {
                        state.insert(p.metadata.name.clone().unwrap_or_default(), entry(&p));
                    }
                    watcher::Event::Delete(p) => {
                        state.remove(p.metadata.name.as_deref().unwrap_or_default());
                    }
                    watcher::Event::Init => init.clear(),
                    watcher::Event::InitApply(p) => {
                        init.insert(p.metadata.name.clone().unwrap_or_default(), entry(&p));
                    }
                    watcher::Event::InitDone => {
                        state = std::mem::take(&mut init);
                        if let Some(tx) = synced.take() {
                            let _ = tx.send(());
                        }
                    }
                }
                if synced.is_none() {
                    let available = state.values().filter(|(a, _, _)| *a).count();
                    let live: Vec<(String, String)> = state
                        .iter()
                        .filter(|(_, (_, l, _))| *l)
                        .map(|(name, (_, _, hash))| (name.clone(), hash.clone()))
                        .collect();
                    let mut fewest = f.lock().expect("lock");
                    *fewest = Some(fewest.map_or(available, |x: usize| x.min(available)));
                    let mut most = m.lock().expect("lock");
                    if live.len() > most.0 {
                        *most = (live.len(), live);
                    }
                }
            }
        });
        tokio::time::timeout(T, synced_rx)
            .await
            .expect("pod watch lists within 30s")
            .expect("pod watch started");
        Watch {
            fewest_available: fewest,
            most_live: most,
            task,
        }
    }

    /// The fewest available pods, and the most alive at once with which.
    fn stop(self) -> (usize, Peak) {
        self.task.abort();
        let fewest = self.fewest_available.lock().expect("lock").unwrap_or(0);
        let most = self.most_live.lock().expect("lock").clone();
        (fewest, most)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_rolls_out_and_kubectl_shows_it() {
    let (cluster, fleet) = cluster_with_node().await;
    let client = cluster.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let path = cluster.write_file(
        "deployment.yaml",
        &deployment("web", 3, "registry.example/web:1", ""),
    );
    kubectl(&cluster, &["apply", "-f", common::path_str(&path)]).await;
    rollout_status(&cluster, "web").await;

    let live = live_pods(&pods, "web").await;
    assert_eq!(live.len(), 3);
    assert!(live.iter().all(is_ready));
    let running = fleet.running_pods("edge-1").expect("node").len();
    assert_eq!(running, 3, "the hollow node runs the pods");

    // kubectl get rs: NAME DESIRED CURRENT READY AGE, name <deploy>-<hash>.
    let header = kubectl(&cluster, &["get", "rs"]).await;
    let first = header.lines().next().unwrap_or_default();
    let columns: Vec<&str> = first.split_whitespace().collect();
    assert_eq!(columns, ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]);
    let table = rs_table(&cluster, "web").await;
    assert_eq!(table.len(), 1, "{table:?}");
    let (name, counts) = table.iter().next().expect("one rs");
    assert!(name.starts_with("web-") && name.len() > 4, "{name}");
    assert_eq!(*counts, (3, 3, 3));
    let hash = name.trim_start_matches("web-");
    for p in &live {
        assert_eq!(
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("pod-template-hash"))
                .map(String::as_str),
            Some(hash)
        );
    }

    let deploy = kubectl(&cluster, &["get", "deploy", "web", "--no-headers"]).await;
    let f: Vec<&str> = deploy.split_whitespace().collect();
    assert_eq!(&f[..4], ["web", "3/3", "3", "3"], "{deploy}");

    // Applying the same manifest again changes nothing.
    kubectl(&cluster, &["apply", "-f", common::path_str(&path)]).await;
    rollout_status(&cluster, "web").await;
    assert_eq!(rs_table(&cluster, "web").await.len(), 1);
    let revision = kubectl(
        &cluster,
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
        ],
    )
    .await;
    assert_eq!(revision, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_image_respects_max_unavailable_then_history_and_undo() {
    let (cluster, _fleet) = cluster_with_node().await;
    let client = cluster.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let strategy =
        "  strategy:\n    type: RollingUpdate\n    rollingUpdate: {maxSurge: 1, maxUnavailable: 1}";
    cluster.apply(&deployment("web", 6, "registry.example/web:1", strategy));
    rollout_status(&cluster, "web").await;
    let first_rs = rs_table(&cluster, "web").await;

    let watch = Watch::start(&pods, "web").await;
    kubectl(
        &cluster,
        &[
            "set",
            "image",
            "deployment/web",
            "app=registry.example/web:2",
        ],
    )
    .await;
    kubectl(
        &cluster,
        &[
            "annotate",
            "deployment/web",
            "kubernetes.io/change-cause=upgrade to 2",
        ],
    )
    .await;
    rollout_status(&cluster, "web").await;
    let live = wait_for("six web:2 pods", T, || async {
        let live = live_pods(&pods, "web").await;
        (live.len() == 6 && live.iter().all(|p| image(p) == "registry.example/web:2"))
            .then_some(live)
    })
    .await;
    assert!(live.iter().all(is_ready));
    let (fewest, most) = watch.stop();
    assert!(
        fewest >= 5,
        "availability fell to {fewest} with replicas 6 and maxUnavailable 1"
    );
    let (most, at_peak) = most;
    assert!(
        most <= 7,
        "{most} pods at once with maxSurge 1: {at_peak:?}\n{}",
        kubectl(
            &cluster,
            &["get", "events", "--sort-by=.metadata.resourceVersion"]
        )
        .await
    );

    let table = rs_table(&cluster, "web").await;
    assert_eq!(table.len(), 2, "{table:?}");
    let old_name = first_rs.keys().next().expect("first rs").clone();
    assert_eq!(table.get(&old_name), Some(&(0, 0, 0)), "old scaled to zero");

    let history = kubectl(&cluster, &["rollout", "history", "deployment/web"]).await;
    let rows: Vec<Vec<&str>> = history
        .lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .filter(|f: &Vec<&str>| !f.is_empty())
        .collect();
    assert_eq!(rows.len(), 2, "{history}");
    assert_eq!(rows[0][0], "1");
    assert_eq!(rows[1][0], "2");
    assert_eq!(rows[1][1..].join(" "), "upgrade to 2", "{history}");
    let rev2 = kubectl(
        &cluster,
        &["rollout", "history", "deployment/web", "--revision=2"],
    )
    .await;
    assert!(rev2.contains("registry.example/web:2"), "{rev2}");

    // Undo: kubectl copies revision 1's template back; its ReplicaSet
    // becomes revision 3.
    kubectl(&cluster, &["rollout", "undo", "deployment/web"]).await;
    rollout_status(&cluster, "web").await;
    wait_for("six web:1 pods", T, || async {
        let live = live_pods(&pods, "web").await;
        (live.len() == 6
            && live
                .iter()
                .all(|p| image(p) == "registry.example/web:1" && is_ready(p)))
        .then_some(())
    })
    .await;
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let old = sets.get(&old_name).await.expect("first rs");
    let annotations = old.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("3")
    );
    assert_eq!(
        annotations
            .get("deployment.kubernetes.io/revision-history")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(
        rs_table(&cluster, "web").await.len(),
        2,
        "undo reuses the old ReplicaSet"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_pause_resume_and_scale() {
    let (cluster, _fleet) = cluster_with_node().await;
    let client = cluster.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    cluster.apply(&deployment("web", 2, "registry.example/web:1", ""));
    rollout_status(&cluster, "web").await;
    let before: Vec<String> = live_pods(&pods, "web")
        .await
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();

    kubectl(&cluster, &["rollout", "restart", "deployment/web"]).await;
    rollout_status(&cluster, "web").await;
    let after = wait_for("two fresh pods", T, || async {
        let live = live_pods(&pods, "web").await;
        let names: Vec<String> = live
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        (names.len() == 2 && names.iter().all(|n| !before.contains(n))).then_some(live)
    })
    .await;
    assert!(after.iter().all(|p| {
        p.metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("kubectl.kubernetes.io/restartedAt"))
    }));
    assert_eq!(rs_table(&cluster, "web").await.len(), 2);

    kubectl(&cluster, &["rollout", "pause", "deployment/web"]).await;
    kubectl(
        &cluster,
        &[
            "set",
            "image",
            "deployment/web",
            "app=registry.example/web:2",
        ],
    )
    .await;
    wait_for("Progressing=DeploymentPaused", T, || async {
        let d = deployments.get("web").await.ok()?;
        d.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "Progressing" && c.reason.as_deref() == Some("DeploymentPaused"))
    })
    .await;
    // Scaling works while paused; the template change waits.
    kubectl(&cluster, &["scale", "deployment/web", "--replicas=4"]).await;
    wait_for("four web:1 pods while paused", T, || async {
        let live = live_pods(&pods, "web").await;
        (live.len() == 4
            && live
                .iter()
                .all(|p| image(p) == "registry.example/web:1" && is_ready(p)))
        .then_some(())
    })
    .await;
    assert_eq!(
        rs_table(&cluster, "web").await.len(),
        2,
        "no rollout while paused"
    );

    kubectl(&cluster, &["rollout", "resume", "deployment/web"]).await;
    rollout_status(&cluster, "web").await;
    wait_for("four web:2 pods", T, || async {
        let live = live_pods(&pods, "web").await;
        (live.len() == 4
            && live
                .iter()
                .all(|p| image(p) == "registry.example/web:2" && is_ready(p)))
        .then_some(())
    })
    .await;
    kubectl(&cluster, &["scale", "deployment/web", "--replicas=1"]).await;
    rollout_status(&cluster, "web").await;
    wait_for("one pod", T, || async {
        (live_pods(&pods, "web").await.len() == 1).then_some(())
    })
    .await;
    let d = deployments.get("web").await.expect("deployment");
    let s = d.status.expect("status");
    assert_eq!(
        (s.replicas, s.updated_replicas, s.available_replicas),
        (Some(1), Some(1), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_deployment_removes_its_replica_sets_and_pods() {
    let (cluster, fleet) = cluster_with_node().await;
    let client = cluster.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    cluster.apply(&deployment("web", 3, "registry.example/web:1", ""));
    rollout_status(&cluster, "web").await;
    kubectl(
        &cluster,
        &[
            "set",
            "image",
            "deployment/web",
            "app=registry.example/web:2",
        ],
    )
    .await;
    rollout_status(&cluster, "web").await;
    assert_eq!(rs_table(&cluster, "web").await.len(), 2);

    kubectl(&cluster, &["delete", "deployment", "web"]).await;
    wait_for("ReplicaSets and pods gone", T, || async {
        let rs = kubectl(&cluster, &["get", "rs", "-l", "app=web", "-o", "name"]).await;
        let any_pods = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?
            .items
            .len();
        (rs.trim().is_empty() && any_pods == 0).then_some(())
    })
    .await;
    assert!(fleet.running_pods("edge-1").expect("node").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_template_and_a_stuck_rollout_are_reported() {
    let (cluster, _fleet) = cluster_with_node().await;
    let client = cluster.client().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");

    // Templates may name an image with surrounding spaces; pods may not.
    cluster.apply(&deployment("bad", 3, "' registry.example/web:1 '", ""));
    let rs_name = wait_for("the ReplicaSet", T, || async {
        rs_table(&cluster, "bad").await.keys().next().cloned()
    })
    .await;
    let describe = wait_for("a FailedCreate event", T, || async {
        let out = kubectl(&cluster, &["describe", "rs", &rs_name]).await;
        out.contains("FailedCreate").then_some(out)
    })
    .await;
    assert!(describe.contains("Warning"), "{describe}");
    assert!(describe.contains("Error creating:"), "{describe}");
    let failure = wait_for("ReplicaFailure on the deployment", T, || async {
        let d = deployments.get("bad").await.ok()?;
        d.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
    })
    .await;
    assert_eq!(failure.reason.as_deref(), Some("FailedCreate"));
    assert!(
        failure.message.unwrap_or_default().contains("image"),
        "the message says what is wrong"
    );

    // Pods that never become ready, and a 2 s deadline: rollout status
    // gives up with kubectl's own message.
    let extra = "  progressDeadlineSeconds: 2";
    let manifest = deployment("slow", 1, "registry.example/web:1", extra).replace(
        "      labels: {app: slow}",
        "      labels: {app: slow}\n      annotations: {hollow.verge.dev/ready-after: 1h}",
    );
    cluster.apply(&manifest);
    let out = kubectl_output(
        &cluster,
        &["rollout", "status", "deployment/slow", "--timeout=30s"],
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("exceeded its progress deadline"),
        "{stderr}"
    );
    let d = deployments.get("slow").await.expect("deployment");
    let progressing = d
        .status
        .and_then(|s| s.conditions)
        .and_then(|cs| cs.into_iter().find(|c| c.type_ == "Progressing"))
        .expect("Progressing");
    assert_eq!(
        (progressing.status.as_str(), progressing.reason.as_deref()),
        ("False", Some("ProgressDeadlineExceeded"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_never_runs_old_and_new_pods_together() {
    let (cluster, _fleet) = cluster_with_node().await;
    let client = cluster.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    cluster.apply(&deployment(
        "web",
        3,
        "registry.example/web:1",
        "  strategy: {type: Recreate}",
    ));
    rollout_status(&cluster, "web").await;

    // Every pod that existed at any moment, with its image, seen by a watch.
    let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::new(Mutex::new(Vec::new()));
    let mixed = Arc::new(Mutex::new(false));
    let (s, m) = (seen.clone(), mixed.clone());
    let mut stream = watcher(pods.clone(), watcher::Config::default().labels("app=web")).boxed();
    let task = tokio::spawn(async move {
        let mut images: BTreeMap<String, String> = BTreeMap::new();
        while let Some(Ok(event)) = stream.next().await {
            match event {
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                    images.insert(p.metadata.name.clone().unwrap_or_default(), image(&p));
                    s.lock().expect("lock").push((image(&p), is_ready(&p)));
                }
                watcher::Event::Delete(p) => {
                    images.remove(p.metadata.name.as_deref().unwrap_or_default());
                }
                _ => {}
            }
            let distinct: std::collections::BTreeSet<&String> = images.values().collect();
            if distinct.len() > 1 {
                *m.lock().expect("lock") = true;
            }
        }
    });
    kubectl(
        &cluster,
        &[
            "set",
            "image",
            "deployment/web",
            "app=registry.example/web:2",
        ],
    )
    .await;
    rollout_status(&cluster, "web").await;
    wait_for("three web:2 pods", T, || async {
        let live = live_pods(&pods, "web").await;
        (live.len() == 3
            && live
                .iter()
                .all(|p| image(p) == "registry.example/web:2" && is_ready(p)))
        .then_some(())
    })
    .await;
    task.abort();
    assert!(
        seen.lock()
            .expect("lock")
            .iter()
            .any(|(i, _)| i == "registry.example/web:2"),
        "the watch saw the new pods"
    );
    assert!(
        !*mixed.lock().expect("lock"),
        "old and new pods existed at the same time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_set_adopts_orphans_and_scales_with_kubectl() {
    let (cluster, _fleet) = cluster_with_node().await;
    let client = cluster.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    kubectl(
        &cluster,
        &[
            "run",
            "stray",
            "--image=registry.example/web:1",
            "--labels=app=frontend",
            "--overrides={\"spec\":{\"nodeName\":\"edge-1\"}}",
        ],
    )
    .await;
    cluster.apply(
        r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: frontend
  namespace: default
  labels: {app: frontend}
spec:
  replicas: 3
  selector:
    matchLabels: {app: frontend}
  template:
    metadata:
      labels: {app: frontend}
    spec:
      nodeName: edge-1
      containers:
      - name: app
        image: registry.example/web:1
"#,
    );
    let live = wait_for("three ready pods", T, || async {
        let live = live_pods(&pods, "frontend").await;
        (live.len() == 3 && live.iter().all(is_ready)).then_some(live)
    })
    .await;
    let names: Vec<String> = live
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert!(
        names.contains(&"stray".to_owned()),
        "the orphan counts: {names:?}"
    );
    let owner = kubectl(
        &cluster,
        &[
            "get",
            "pod",
            "stray",
            "-o",
            "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}",
        ],
    )
    .await;
    assert_eq!(owner, "ReplicaSet/frontend");
    wait_for("status of three", T, || async {
        (rs_table(&cluster, "frontend").await.get("frontend") == Some(&(3, 3, 3))).then_some(())
    })
    .await;

    kubectl(&cluster, &["scale", "rs/frontend", "--replicas=1"]).await;
    wait_for("one pod left", T, || async {
        (live_pods(&pods, "frontend").await.len() == 1).then_some(())
    })
    .await;
    wait_for("status of one", T, || async {
        (rs_table(&cluster, "frontend").await.get("frontend") == Some(&(1, 1, 1))).then_some(())
    })
    .await;
}
