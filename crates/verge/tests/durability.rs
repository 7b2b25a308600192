//! Every write acknowledged to a client survives `kill -9` of the server.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Cluster;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let mut c = Cluster::start();
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();

    let mut writers = Vec::new();
    for w in 0..16 {
        let cms = cms.clone();
        let acked = acked.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..100_000u32 {
                let name = format!("w{w}-{i}");
                let value = format!("payload-{w}-{i}-{}", "x".repeat(200));
                let obj: ConfigMap = serde_json::from_value(
                    json!({"metadata": {"name": name}, "data": {"v": value}}),
                )
                .expect("cm");
                match cms.create(&PostParams::default(), &obj).await {
                    Ok(_) => acked.lock().expect("lock").push((name, value)),
                    // The server died under us: stop.
                    Err(_) => return,
                }
            }
        }));
    }
    // Kill mid-load, once a good number of writes have been acknowledged.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().expect("lock").len() < 2_000 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "load did not reach 2,000 writes in 60s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.kill();
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().expect("lock").clone();

    c.restart();
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "default");
    let stored = cms
        .list(&ListParams::default())
        .await
        .expect("list after restart");
    let by_name: std::collections::HashMap<String, String> = stored
        .items
        .into_iter()
        .filter_map(|o| Some((o.metadata.name?, o.data?.get("v")?.clone())))
        .collect();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|(n, _)| !by_name.contains_key(n))
        .map(|(n, _)| n)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    for (name, value) in &acked {
        assert_eq!(&by_name[name], value, "{name} stored with the wrong value");
    }
    // Nothing half written: every stored object is whole (it parsed above,
    // and its payload is intact).
    for (name, value) in &by_name {
        assert!(
            value.starts_with("payload-") && value.ends_with(&"x".repeat(200)),
            "{name} is torn"
        );
    }
}
