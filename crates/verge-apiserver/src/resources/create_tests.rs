//! Creates through `Resources` against a real store: generated names drawn
//! again when taken, and Service addresses assigned in process.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Resources, WriteOptions};
use crate::cache::{CacheConfig, WatchCache};
use crate::registry::{Registry, ResourceType};

async fn resources() -> (Resources, tempfile::TempDir) {
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
    let r = Resources {
        registry: Arc::new(Registry::with_builtins()),
        store,
        cache,
    };
    crate::namespaces::ensure_system_namespaces(&r)
        .await
        .expect("namespaces");
    (r, dir)
}

fn configmaps(r: &Resources) -> Arc<ResourceType> {
    r.registry.lookup("", "v1", "configmaps").expect("served")
}

fn cm(name: Option<&str>) -> Value {
    let mut meta = json!({"namespace": "default", "generateName": "web-"});
    if let Some(n) = name {
        meta["name"] = json!(n);
    }
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})
}

/// Suffixes handed out in order, then "zzzzz" for ever.
fn scripted(list: &[&str]) -> impl FnMut() -> String + Send + use<> {
    let mut list: Vec<String> = list.iter().rev().map(|s| s.to_string()).collect();
    move || list.pop().unwrap_or_else(|| "zzzzz".into())
}

#[tokio::test]
async fn a_taken_generated_name_is_drawn_again() {
    let (r, _dir) = resources().await;
    let rt = configmaps(&r);
    let opts = WriteOptions::default();
    for taken in ["web-bbbbb", "web-ccccc"] {
        r.create(&rt, Some("default"), cm(Some(taken)), &opts)
            .await
            .expect("named create");
    }
    let w = r
        .create_with_suffixes(
            &rt,
            Some("default"),
            cm(None),
            &opts,
            scripted(&["bbbbb", "ccccc", "ddddd"]),
        )
        .await
        .expect("third name is free");
    assert_eq!(w.object["metadata"]["name"], "web-ddddd");
    assert!(w.created);
    let stored = r
        .get(&rt, Some("default"), "web-ddddd")
        .await
        .expect("stored");
    assert_eq!(stored.value()["metadata"]["generateName"], "web-");

    // A named create that collides is refused at once, without a retry.
    let err = r
        .create(&rt, Some("default"), cm(Some("web-bbbbb")), &opts)
        .await
        .expect_err("taken");
    assert_eq!(err.code.as_u16(), 409);
    assert_eq!(err.message, "configmaps \"web-bbbbb\" already exists");
}

#[tokio::test]
async fn eight_taken_names_are_a_409_the_client_may_retry() {
    let (r, _dir) = resources().await;
    let rt = configmaps(&r);
    let opts = WriteOptions::default();
    let suffixes = [
        "bbbbb", "ccccc", "ddddd", "fffff", "ggggg", "hhhhh", "jjjjj", "kkkkk",
    ];
    for s in suffixes {
        r.create(&rt, Some("default"), cm(Some(&format!("web-{s}"))), &opts)
            .await
            .expect("named create");
    }
    let mut drawn = 0;
    let mut source = scripted(&suffixes);
    let err = r
        .create_with_suffixes(&rt, Some("default"), cm(None), &opts, || {
            drawn += 1;
            source()
        })
        .await
        .expect_err("every name taken");
    assert_eq!(drawn, 8, "the first name and seven more");
    assert_eq!(err.code.as_u16(), 409);
    assert_eq!(err.reason, "AlreadyExists");
    assert_eq!(
        err.message,
        "configmaps \"web-kkkkk\" already exists, the server was not able to generate a unique name for the object"
    );
    let details = err.details.expect("details");
    assert_eq!(details["retryAfterSeconds"], 1);

    // A dry run stores nothing, so it neither collides nor retries.
    let dry = WriteOptions {
        dry_run: true,
        ..WriteOptions::default()
    };
    let w = r
        .create_with_suffixes(&rt, Some("default"), cm(None), &dry, scripted(&["bbbbb"]))
        .await
        .expect("dry run");
    assert_eq!(w.object["metadata"]["name"], "web-bbbbb");
}

fn service(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": "default"}, "spec": spec})
}

#[tokio::test]
async fn services_created_in_process_get_addresses_and_dry_runs_hold_none() {
    let (r, _dir) = resources().await;
    let rt = r.registry.lookup("", "v1", "services").expect("served");
    let opts = WriteOptions::default();
    let a = r
        .create(
            &rt,
            Some("default"),
            service("a", json!({"ports": [{"port": 80}]})),
            &opts,
        )
        .await
        .expect("created");
    let ip = a.object["spec"]["clusterIP"]
        .as_str()
        .expect("a cluster IP")
        .to_owned();
    assert!(ip.starts_with("10."), "{ip}");
    assert_eq!(a.object["spec"]["clusterIPs"], json!([ip]));

    let np = r
        .create(
            &rt,
            Some("default"),
            service("np", json!({"type": "NodePort", "ports": [{"port": 80}]})),
            &opts,
        )
        .await
        .expect("created");
    let port = np.object["spec"]["ports"][0]["nodePort"]
        .as_i64()
        .expect("a node port");
    assert!(crate::services::NODE_PORTS.contains(&port));

    let err = r
        .create(
            &rt,
            Some("default"),
            service("dup", json!({"clusterIP": ip, "ports": [{"port": 80}]})),
            &opts,
        )
        .await
        .expect_err("taken");
    assert_eq!(err.code.as_u16(), 422);
    assert!(
        err.message.contains("provided IP is already allocated"),
        "{}",
        err.message
    );

    // A dry run answers with an address but keeps none.
    let dry = WriteOptions {
        dry_run: true,
        ..WriteOptions::default()
    };
    let wanted = json!({"clusterIP": "10.100.0.7", "ports": [{"port": 80}]});
    let d = r
        .create(&rt, Some("default"), service("d", wanted.clone()), &dry)
        .await
        .expect("dry run");
    assert_eq!(d.object["spec"]["clusterIP"], "10.100.0.7");
    let real = r
        .create(&rt, Some("default"), service("d", wanted), &opts)
        .await
        .expect("the address is still free");
    assert_eq!(real.object["spec"]["clusterIP"], "10.100.0.7");
}

#[tokio::test]
async fn service_updates_keep_node_ports_and_assign_new_ones() {
    let (r, _dir) = resources().await;
    let rt = r.registry.lookup("", "v1", "services").expect("served");
    let opts = WriteOptions::default();
    let created = r
        .create(
            &rt,
            Some("default"),
            service("s", json!({"type": "NodePort", "ports": [{"port": 80}]})),
            &opts,
        )
        .await
        .expect("created");
    let port = created.object["spec"]["ports"][0]["nodePort"].clone();
    let ip = created.object["spec"]["clusterIP"].clone();

    // A PUT that leaves the node port out, and adds a port.
    let put = service(
        "s",
        json!({"type": "NodePort", "ports": [{"port": 80, "name": "a"}, {"port": 81, "name": "b"}]}),
    );
    let updated = r
        .update(&rt, Some("default"), "s", super::Part::Main, &opts, |_| {
            Ok(put.clone())
        })
        .await
        .expect("updated");
    let spec = &updated.object["spec"];
    assert_eq!(spec["ports"][0]["nodePort"], port, "kept");
    let new_port = spec["ports"][1]["nodePort"].as_i64().expect("assigned");
    assert!(crate::services::NODE_PORTS.contains(&new_port));
    assert_ne!(json!(new_port), port);
    assert_eq!(spec["clusterIP"], ip, "the address stays");

    // Another Service may not take a port this one holds.
    let other = r
        .create(
            &rt,
            Some("default"),
            service("o", json!({"type": "ClusterIP", "ports": [{"port": 80}]})),
            &opts,
        )
        .await
        .expect("created");
    let to_np = service(
        "o",
        json!({"type": "NodePort", "clusterIP": other.object["spec"]["clusterIP"],
               "ports": [{"port": 80, "nodePort": new_port}]}),
    );
    let err = r
        .update(&rt, Some("default"), "o", super::Part::Main, &opts, |_| {
            Ok(to_np.clone())
        })
        .await
        .expect_err("held by s");
    assert_eq!(err.code.as_u16(), 422);
    assert!(err.message.contains("already allocated"), "{}", err.message);
}

/// A namespace committed a moment ago may not be in the watch cache yet; a
/// create in it must not be refused for that (the store is asked on a miss).
#[tokio::test]
async fn a_namespace_the_cache_has_not_seen_yet_accepts_content() {
    let (r, _dir) = resources().await;
    // A cache over another, empty store stands for one that lags for ever.
    let (lagging, _other) = resources().await;
    let r = Resources {
        cache: lagging.cache.clone(),
        ..r
    };
    let nsrt = r.registry.lookup("", "v1", "namespaces").expect("served");
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fresh"}});
    r.store
        .create(
            &nsrt.storage_key(None, "fresh"),
            serde_json::to_vec(&ns).expect("json").into(),
        )
        .await
        .expect("namespace stored");
    assert!(r.cache.get_now(&nsrt.storage_key(None, "fresh")).is_none());

    let mut obj = cm(Some("in-fresh"));
    obj["metadata"]["namespace"] = json!("fresh");
    r.create(
        &configmaps(&r),
        Some("fresh"),
        obj,
        &WriteOptions::default(),
    )
    .await
    .expect("created in a namespace only the store knows");

    let mut obj = cm(Some("nowhere"));
    obj["metadata"]["namespace"] = json!("missing");
    let err = r
        .create(
            &configmaps(&r),
            Some("missing"),
            obj,
            &WriteOptions::default(),
        )
        .await
        .expect_err("no such namespace");
    assert_eq!(err.code.as_u16(), 404);
}
