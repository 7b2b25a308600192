//! kube-apiserver's Priority admission plugin, for pods being created:
//! `spec.priorityClassName` is resolved to `spec.priority` (and the class's
//! `preemptionPolicy`); a pod that names no class gets the globalDefault
//! class, if there is one, else priority 0. Naming a class that does not
//! exist is refused with 403, as kube-apiserver does, so a typo surfaces at
//! `kubectl apply` instead of as a pod that silently runs at priority 0.
//!
//! The two system classes are created at start, and resolve even before
//! they are stored.

use serde_json::{Map, Value, json};

use crate::cache::Filter;
use crate::object;
use crate::registry::ResourceType;
use crate::resources::{Resources, WriteOptions};
use crate::status::{ApiError, ApiResult};

/// The built-in classes (name, value, description), as kube-apiserver
/// creates them.
pub const SYSTEM_CLASSES: &[(&str, i64, &str)] = &[
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

const DEFAULT_PREEMPTION_POLICY: &str = "PreemptLowerPriority";

struct Class {
    name: String,
    value: i64,
    preemption_policy: String,
    global_default: bool,
}

/// The fields admission reads from a stored PriorityClass; everything else
/// in the bytes is skipped (the classes are read on every pod create).
#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct StoredClass {
    metadata: StoredMeta,
    value: i64,
    preemption_policy: Option<String>,
    global_default: bool,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct StoredMeta {
    name: String,
}

fn class_of(stored: &[u8]) -> Class {
    let c: StoredClass = serde_json::from_slice(stored).unwrap_or_default();
    Class {
        name: c.metadata.name,
        value: c.value,
        preemption_policy: c
            .preemption_policy
            .unwrap_or_else(|| DEFAULT_PREEMPTION_POLICY.to_owned()),
        global_default: c.global_default,
    }
}

fn classes_type(resources: &Resources) -> Option<std::sync::Arc<ResourceType>> {
    resources
        .registry
        .lookup("scheduling.k8s.io", "v1", "priorityclasses")
}

/// The class named `name`: from the cache (read again consistently before
/// concluding it does not exist), or a system class.
async fn lookup(resources: &Resources, rt: &ResourceType, name: &str) -> ApiResult<Option<Class>> {
    let key = rt.storage_key(None, name);
    let cached = match resources.cache.get_now(&key) {
        Some(o) => Some(o),
        // Created an instant ago and not applied to the cache yet?
        None => resources
            .cache
            .get(&key)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?,
    };
    if let Some(obj) = cached {
        return Ok(Some(class_of(&obj.bytes)));
    }
    Ok(SYSTEM_CLASSES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(n, value, _)| Class {
            name: (*n).to_owned(),
            value: *value,
            preemption_policy: DEFAULT_PREEMPTION_POLICY.to_owned(),
            global_default: false,
        }))
}

/// The globalDefault class; with several, the lowest value wins. Read from
/// the cache as it is, without a consistent-read wait on every pod create
/// (kube-apiserver reads it from an informer, just as eventually).
fn global_default(resources: &Resources, rt: &ResourceType) -> Option<Class> {
    let (items, _, _) = resources
        .cache
        .list(&Filter::prefix(rt.storage_prefix()), None, 0);
    items
        .iter()
        .map(|o| class_of(&o.bytes))
        .filter(|c| c.global_default)
        .min_by_key(|c| c.value)
}

fn forbidden(pod_name: &str, why: String) -> ApiError {
    ApiError::forbidden(format!("pods \"{pod_name}\" is forbidden: {why}"))
}

/// Resolves the priority of a pod being created.
pub async fn admit_pod(resources: &Resources, pod: &mut Value) -> ApiResult<()> {
    let Some(rt) = classes_type(resources) else {
        return Ok(());
    };
    // Admission runs before a generated name is drawn: kube-apiserver's
    // errors name the generateName prefix then.
    let pod_name = object::name(pod)
        .filter(|n| !n.is_empty())
        .or_else(|| object::meta_str(pod, "generateName"))
        .unwrap_or("")
        .to_owned();
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let named = spec
        .get("priorityClassName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let class = match &named {
        Some(name) => Some(lookup(resources, &rt, name).await?.ok_or_else(|| {
            forbidden(
                &pod_name,
                format!("no PriorityClass with name {name} was found"),
            )
        })?),
        None => global_default(resources, &rt),
    };
    let (value, policy) = match &class {
        Some(c) => (c.value, Some(c.preemption_policy.as_str())),
        None => (0, None),
    };
    if let Some(given) = spec.get("priority").and_then(Value::as_i64)
        && given != value
    {
        return Err(forbidden(
            &pod_name,
            format!(
                "the integer value of priority ({given}) must not be provided in pod spec; \
                 priority admission controller computed {value} from the given PriorityClass name"
            ),
        ));
    }
    spec.insert("priority".into(), json!(value));
    if let Some(c) = &class {
        spec.insert("priorityClassName".into(), json!(c.name));
    }
    if let Some(policy) = policy {
        set_policy(spec, &pod_name, policy)?;
    }
    Ok(())
}

fn set_policy(spec: &mut Map<String, Value>, pod_name: &str, policy: &str) -> ApiResult<()> {
    match spec.get("preemptionPolicy").and_then(Value::as_str) {
        Some(given) if given != policy => Err(forbidden(
            pod_name,
            format!(
                "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; \
                 priority admission controller computed {policy} from the given PriorityClass name"
            ),
        )),
        _ => {
            spec.insert("preemptionPolicy".into(), json!(policy));
            Ok(())
        }
    }
}

/// Creates the system classes if they are missing (first start).
pub async fn ensure_system_classes(resources: &Resources) -> ApiResult<()> {
    let Some(rt) = classes_type(resources) else {
        return Ok(());
    };
    for (name, value, description) in SYSTEM_CLASSES {
        if resources
            .cache
            .get_now(&rt.storage_key(None, name))
            .is_some()
        {
            continue;
        }
        let pc = json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": description,
            "globalDefault": false,
            "preemptionPolicy": DEFAULT_PREEMPTION_POLICY,
        });
        match resources
            .create(&rt, None, pc, &WriteOptions::default())
            .await
        {
            Ok(_) => tracing::info!(class = name, "created system PriorityClass"),
            Err(e) if e.reason == "AlreadyExists" => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cache::{CacheConfig, WatchCache};
    use crate::registry::Registry;

    async fn resources() -> (Arc<Resources>, tempfile::TempDir) {
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
        let r = Arc::new(Resources {
            registry: Arc::new(Registry::with_builtins()),
            store,
            cache,
        });
        crate::namespaces::ensure_system_namespaces(&r)
            .await
            .expect("namespaces");
        ensure_system_classes(&r).await.expect("classes");
        (r, dir)
    }

    async fn class(r: &Resources, name: &str, value: i64, global: bool, policy: &str) {
        let rt = classes_type(r).expect("served");
        let pc = json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value, "globalDefault": global, "preemptionPolicy": policy});
        r.create(&rt, None, pc, &WriteOptions::default())
            .await
            .expect("class created");
        // The global default is read from the cache as is, like
        // kube-apiserver's informer-backed lister.
        r.cache.sync().await.expect("synced");
    }

    async fn create(r: &Resources, spec: Value) -> ApiResult<Value> {
        let rt = r.registry.lookup("", "v1", "pods").expect("pods");
        let mut spec = spec;
        spec["containers"] = json!([{"name": "c", "image": "busybox"}]);
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": "default", "generateName": "p-"}, "spec": spec});
        r.create(&rt, Some("default"), pod, &WriteOptions::default())
            .await
            .map(|w| w.object)
    }

    #[tokio::test]
    async fn named_classes_set_priority_and_policy() {
        let (r, _dir) = resources().await;
        class(&r, "batch-low", 10, false, "Never").await;
        let pod = create(&r, json!({"priorityClassName": "batch-low"}))
            .await
            .expect("created");
        assert_eq!(pod["spec"]["priority"], json!(10));
        assert_eq!(pod["spec"]["preemptionPolicy"], json!("Never"));
        let pod = create(&r, json!({"priorityClassName": "system-node-critical"}))
            .await
            .expect("created");
        assert_eq!(pod["spec"]["priority"], json!(2_000_001_000));
    }

    #[tokio::test]
    async fn unknown_classes_are_forbidden() {
        let (r, _dir) = resources().await;
        let err = create(&r, json!({"priorityClassName": "nope"}))
            .await
            .expect_err("refused");
        assert_eq!(err.reason, "Forbidden");
        assert!(
            err.to_string()
                .contains("no PriorityClass with name nope was found"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_global_default_applies_to_pods_without_a_class() {
        let (r, _dir) = resources().await;
        let pod = create(&r, json!({})).await.expect("created");
        assert_eq!(pod["spec"]["priority"], json!(0));
        assert!(pod["spec"].get("priorityClassName").is_none());
        class(&r, "everyday", 1000, true, "PreemptLowerPriority").await;
        let pod = create(&r, json!({})).await.expect("created");
        assert_eq!(pod["spec"]["priority"], json!(1000));
        assert_eq!(pod["spec"]["priorityClassName"], json!("everyday"));
    }

    #[tokio::test]
    async fn a_priority_that_contradicts_the_class_is_refused() {
        let (r, _dir) = resources().await;
        class(&r, "mid", 50, false, "PreemptLowerPriority").await;
        let err = create(&r, json!({"priorityClassName": "mid", "priority": 7}))
            .await
            .expect_err("refused");
        assert_eq!(err.reason, "Forbidden");
        let ok = create(&r, json!({"priorityClassName": "mid", "priority": 50}))
            .await
            .expect("consistent");
        assert_eq!(ok["spec"]["priority"], json!(50));
    }
}
