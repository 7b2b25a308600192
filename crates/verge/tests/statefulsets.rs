//! StatefulSets against a real `verge server` with hollow nodes: stable
//! names, hostnames and claims; OrderedReady start-up and reverse-order
//! scale-down; Parallel; rolling updates from the highest ordinal down to
//! the partition; OnDelete; claim retention; `kubectl rollout status`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Cluster;
use common::hollow::{fast_config, kubectl, start_fleet, wait_for};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use verge_hollow::NodeSpec;

const T: Duration = Duration::from_secs(30);

fn manifest(policy: &str, strategy: &str, retention: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  clusterIP: None
  selector: {{app: web}}
  ports: [{{port: 80}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
  namespace: default
spec:
  serviceName: web
  replicas: 3
  podManagementPolicy: {policy}
  updateStrategy: {strategy}
  persistentVolumeClaimRetentionPolicy: {retention}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
      annotations:
        hollow.verge.dev/ready-after: "700ms"
    spec:
      containers:
      - name: web
        image: registry.example/web:1
        volumeMounts: [{{name: data, mountPath: /data}}]
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
"#
    )
}

fn ready_since(p: &Pod) -> Option<Timestamp> {
    let c = p
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(c.last_transition_time.as_ref()?.0)
}

fn created(p: &Pod) -> Timestamp {
    p.metadata.creation_timestamp.as_ref().expect("created").0
}

fn image(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// The set's live pods, by ordinal, once they are exactly `web-0..n` and
/// Ready with `image`.
async fn ready_pods(pods: &Api<Pod>, n: usize, image_is: &str) -> Vec<Pod> {
    wait_for(&format!("web-0..{n} ready at {image_is}"), T, || async {
        let mut live: Vec<Pod> = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        live.sort_by_key(|p| p.metadata.name.clone());
        let names: Vec<String> = live
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        let want: Vec<String> = (0..n).map(|i| format!("web-{i}")).collect();
        (names == want
            && live
                .iter()
                .all(|p| ready_since(p).is_some() && image(p) == image_is))
        .then_some(live)
    })
    .await
}

/// Records the names of pods as they are deleted from now on, in order.
async fn record_deletions(pods: Api<Pod>) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = seen.clone();
    let version = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list pods")
        .metadata
        .resource_version
        .expect("list resourceVersion");
    let mut stream = pods
        .watch(&WatchParams::default().labels("app=web"), &version)
        .await
        .expect("watch pods")
        .boxed();
    tokio::spawn(async move {
        while let Some(Ok(ev)) = stream.next().await {
            if let WatchEvent::Deleted(p) = ev
                && let Some(name) = p.metadata.name
                && let Ok(mut v) = out.lock()
            {
                v.push(name);
            }
        }
    });
    seen
}

fn deletions(seen: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    seen.lock().map(|v| v.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_pods_keep_their_names_and_claims_through_scaling_and_updates() {
    let cluster = Cluster::start();
    let fleet = start_fleet(
        &cluster,
        fast_config([NodeSpec::new("node-1"), NodeSpec::new("node-2")]),
    )
    .await;
    let client = cluster.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");

    cluster.apply(&manifest("OrderedReady", "{type: RollingUpdate}", "{}"));
    kubectl(&cluster, &["rollout", "status", "sts/web", "--timeout=60s"]).await;
    let first = ready_pods(&pods, 3, "registry.example/web:1").await;
    // Each pod was created only once the one before it was Ready.
    for pair in first.windows(2) {
        let before = ready_since(&pair[0]).expect("ready");
        assert!(
            created(&pair[1]) >= before,
            "{:?} created before {:?} was ready",
            pair[1].metadata.name,
            pair[0].metadata.name
        );
    }
    for (i, p) in first.iter().enumerate() {
        let labels = p.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("statefulset.kubernetes.io/pod-name"),
            Some(&format!("web-{i}"))
        );
        assert_eq!(
            labels.get("apps.kubernetes.io/pod-index"),
            Some(&i.to_string())
        );
        let spec = p.spec.clone().expect("spec");
        assert_eq!(spec.hostname, Some(format!("web-{i}")));
        assert_eq!(spec.subdomain.as_deref(), Some("web"));
        let volume = spec
            .volumes
            .unwrap_or_default()
            .into_iter()
            .find(|v| v.name == "data")
            .expect("data volume");
        assert_eq!(
            volume.persistent_volume_claim.map(|c| c.claim_name),
            Some(format!("data-web-{i}"))
        );
    }
    let claim_uids: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..3 {
            let c = claims.get(&format!("data-web-{i}")).await.expect("claim");
            assert!(
                c.metadata.owner_references.is_none(),
                "Retain: claims belong to nobody"
            );
            v.push(c.metadata.uid.expect("uid"));
        }
        v
    };
    let status = sets.get("web").await.expect("sts").status.expect("status");
    assert_eq!(
        (
            status.replicas,
            status.ready_replicas,
            status.current_replicas,
            status.updated_replicas,
            status.available_replicas
        ),
        (3, Some(3), Some(3), Some(3), Some(3))
    );
    assert!(status.current_revision.is_some());
    assert_eq!(status.current_revision, status.update_revision);

    // Scale down: highest ordinal first; claims stay.
    let gone = record_deletions(pods.clone()).await;
    kubectl(&cluster, &["scale", "sts/web", "--replicas=1"]).await;
    ready_pods(&pods, 1, "registry.example/web:1").await;
    wait_for("both deletions seen", T, || async {
        (deletions(&gone).len() >= 2).then_some(())
    })
    .await;
    assert_eq!(
        deletions(&gone)[..2],
        ["web-2".to_owned(), "web-1".to_owned()]
    );
    assert_eq!(
        claims
            .list(&ListParams::default())
            .await
            .expect("claims")
            .items
            .len(),
        3
    );

    // Scale up: the same names get the same claims back.
    kubectl(&cluster, &["scale", "sts/web", "--replicas=3"]).await;
    ready_pods(&pods, 3, "registry.example/web:1").await;
    for (i, uid) in claim_uids.iter().enumerate() {
        let c = claims.get(&format!("data-web-{i}")).await.expect("claim");
        assert_eq!(c.metadata.uid.as_ref(), Some(uid), "data-web-{i} kept");
    }

    // Rolling update: from the highest ordinal down, one at a time.
    let replaced = record_deletions(pods.clone()).await;
    kubectl(
        &cluster,
        &["set", "image", "sts/web", "web=registry.example/web:2"],
    )
    .await;
    kubectl(&cluster, &["rollout", "status", "sts/web", "--timeout=60s"]).await;
    ready_pods(&pods, 3, "registry.example/web:2").await;
    assert_eq!(deletions(&replaced), ["web-2", "web-1", "web-0"]);
    let status = sets.get("web").await.expect("sts").status.expect("status");
    assert_eq!(status.current_revision, status.update_revision);
    assert_eq!(status.updated_replicas, Some(3));
    let history = kubectl(&cluster, &["rollout", "history", "sts/web"]).await;
    assert!(history.contains('1') && history.contains('2'), "{history}");

    // A partition keeps the lower ordinals at the old revision.
    kubectl(
        &cluster,
        &[
            "patch",
            "sts/web",
            "--type=merge",
            "-p",
            r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}"#,
        ],
    )
    .await;
    kubectl(
        &cluster,
        &["set", "image", "sts/web", "web=registry.example/web:3"],
    )
    .await;
    let out = kubectl(&cluster, &["rollout", "status", "sts/web", "--timeout=60s"]).await;
    assert!(
        out.contains("partitioned roll out complete: 1 new pods have been updated"),
        "{out}"
    );
    wait_for("web-2 at web:3", T, || async {
        let p = pods.get("web-2").await.ok()?;
        (image(&p) == "registry.example/web:3" && ready_since(&p).is_some()).then_some(())
    })
    .await;
    for i in 0..2 {
        assert_eq!(
            image(&pods.get(&format!("web-{i}")).await.expect("pod")),
            "registry.example/web:2"
        );
    }
    let status = sets.get("web").await.expect("sts").status.expect("status");
    assert_ne!(status.current_revision, status.update_revision);
    assert_eq!(
        (status.current_replicas, status.updated_replicas),
        (Some(2), Some(1))
    );

    // Undo: back to web:2, whose revision becomes the update revision again.
    kubectl(&cluster, &["rollout", "undo", "sts/web"]).await;
    kubectl(&cluster, &["rollout", "status", "sts/web", "--timeout=60s"]).await;
    ready_pods(&pods, 3, "registry.example/web:2").await;
    wait_for("one revision for all pods again", T, || async {
        let s = sets.get("web").await.ok()?.status?;
        (s.current_revision == s.update_revision && s.current_replicas == Some(3)).then_some(())
    })
    .await;
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_pods_start_together_and_on_delete_waits_for_deletions() {
    let cluster = Cluster::start();
    let fleet = start_fleet(&cluster, fast_config([NodeSpec::new("node-1")])).await;
    let client = cluster.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");

    cluster.apply(&manifest(
        "Parallel",
        "{type: OnDelete}",
        "{whenScaled: Delete}",
    ));
    let first = ready_pods(&pods, 3, "registry.example/web:1").await;
    let earliest_ready = first.iter().filter_map(ready_since).min().expect("ready");
    assert!(
        first.iter().all(|p| created(p) <= earliest_ready),
        "Parallel: every pod was created before any became ready"
    );

    // OnDelete: a new template reaches a pod only when it is deleted.
    kubectl(
        &cluster,
        &["set", "image", "sts/web", "web=registry.example/web:2"],
    )
    .await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    wait_for("the new revision observed", T, || async {
        let s = sets.get("web").await.ok()?;
        let st = s.status?;
        (st.observed_generation == s.metadata.generation
            && st.update_revision != st.current_revision)
            .then_some(())
    })
    .await;
    kubectl(&cluster, &["delete", "pod", "web-1", "--wait=false"]).await;
    wait_for("web-1 back at web:2", T, || async {
        let p = pods.get("web-1").await.ok()?;
        (p.metadata.deletion_timestamp.is_none()
            && image(&p) == "registry.example/web:2"
            && ready_since(&p).is_some())
        .then_some(())
    })
    .await;
    assert_eq!(
        image(&pods.get("web-0").await.expect("web-0")),
        "registry.example/web:1"
    );
    assert_eq!(
        image(&pods.get("web-2").await.expect("web-2")),
        "registry.example/web:1"
    );

    // whenScaled: Delete — a removed ordinal's claim goes with it.
    kubectl(&cluster, &["scale", "sts/web", "--replicas=2"]).await;
    wait_for("data-web-2 deleted with web-2", T, || async {
        claims
            .get_opt("data-web-2")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(claims.get_opt("data-web-1").await.expect("get").is_some());
    fleet.stop().await;
}
