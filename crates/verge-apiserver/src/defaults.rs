//! API defaulting of built-in objects, as kube-apiserver 1.32 does it, so
//! stored objects look as they would on a real cluster (`kubectl get -o yaml`,
//! `kubectl describe`) and controllers can rely on the defaulted fields.
//!
//! Besides the `SetDefaults_*` functions of the API, this covers the few
//! defaults kube-apiserver applies elsewhere on the way to storage and that
//! every object shows: a Pod's service account, priority and initial status,
//! a Namespace's `kubernetes` finalizer and name label, a Job's generated
//! selector, a Service's IP families, and a Secret's `stringData` merged into
//! `data`. PriorityClasses are resolved on create by [`priority`], which
//! reads the stored classes. Not covered (the lead's code): ClusterIP/NodePort
//! allocation, service account token volumes.
//!
//! Defaults only fill what is absent: applying them twice equals applying
//! them once, and a value the user gave is kept.

mod corev1;
mod pod;
pub mod priority;
pub mod tolerations;
mod workloads;

use serde_json::{Map, Value};

use crate::registry::ResourceType;

/// Fills in the defaults of `obj`, an object of type `rt`, on create and on
/// update. Custom resources are left alone (their schema's defaults apply).
pub fn apply_defaults(rt: &ResourceType, obj: &mut Value) {
    if rt.is_custom() {
        return;
    }
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Pod") => {
            pod::pod(o);
            tolerations::pod(o);
        }
        ("", "Service") => corev1::service(o),
        ("", "Namespace") => corev1::namespace(o),
        ("", "Secret") => corev1::secret(o),
        ("", "PersistentVolumeClaim") => corev1::pvc(o),
        ("", "PersistentVolume") => corev1::pv(o),
        ("", "Node") => corev1::node(o),
        ("", "Endpoints") => corev1::endpoints(o),
        ("apps", "Deployment") => workloads::deployment(o),
        ("apps", "ReplicaSet") => workloads::replica_set(o),
        ("apps", "DaemonSet") => workloads::daemon_set(o),
        ("apps", "StatefulSet") => workloads::stateful_set(o),
        ("batch", "Job") => workloads::job(o),
        ("batch", "CronJob") => workloads::cron_job(o),
        ("discovery.k8s.io", "EndpointSlice") => corev1::endpoint_slice(o),
        ("scheduling.k8s.io", "PriorityClass") => corev1::priority_class(o),
        _ => {}
    }
}

// ---- helpers shared by the submodules ----

/// Whether `key` holds a value (absent and null both count as unset).
fn is_set(m: &Map<String, Value>, key: &str) -> bool {
    m.get(key).is_some_and(|v| !v.is_null())
}

/// Sets `key` unless it holds a value.
fn default(m: &mut Map<String, Value>, key: &str, value: impl FnOnce() -> Value) {
    if !is_set(m, key) {
        m.insert(key.to_owned(), value());
    }
}

/// Sets a string field unless it holds a non-empty string (Go treats "" as unset).
fn default_str(m: &mut Map<String, Value>, key: &str, value: &str) {
    match m.get(key) {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(_) => return,
    }
    m.insert(key.to_owned(), Value::String(value.to_owned()));
}

/// A string field, "" when absent or not a string.
fn str_field<'a>(m: &'a Map<String, Value>, key: &str) -> &'a str {
    m.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The object under `key`, created empty when unset; `None` when `key`
/// holds something other than an object (left for validation to report).
fn obj_mut<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    if !is_set(m, key) {
        m.insert(key.to_owned(), Value::Object(Map::new()));
    }
    m.get_mut(key)?.as_object_mut()
}

/// The object under `key` if there is one; nothing is created.
fn existing_mut<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    m.get_mut(key)?.as_object_mut()
}

/// Calls `f` on every object in the array under `key`.
fn each_mut(m: &mut Map<String, Value>, key: &str, mut f: impl FnMut(&mut Map<String, Value>)) {
    if let Some(items) = m.get_mut(key).and_then(Value::as_array_mut) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            f(item);
        }
    }
}

/// Follows a path of keys through existing objects.
fn path_mut<'a>(
    m: &'a mut Map<String, Value>,
    path: &[&str],
) -> Option<&'a mut Map<String, Value>> {
    let mut cur = m;
    for key in path {
        cur = existing_mut(cur, key)?;
    }
    Some(cur)
}

#[cfg(test)]
mod tests;
