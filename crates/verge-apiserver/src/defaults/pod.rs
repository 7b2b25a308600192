//! Pods and the pod templates of workloads.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::{default, default_str, each_mut, existing_mut, is_set, obj_mut, path_mut, str_field};
use crate::validation::objects::Quantity;

/// Where a PodSpec sits: some defaults belong to Pods only, and Job
/// templates get no restart policy.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PodSpecOf {
    Pod,
    Template,
    JobTemplate,
}

/// Every kind of volume source; a volume with none becomes an emptyDir.
const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

/// File mode 0644, the default of secret, configMap, downwardAPI and projected volumes.
const DEFAULT_MODE: i64 = 0o644;

pub(super) fn pod(o: &mut Map<String, Value>) {
    if let Some(spec) = obj_mut(o, "spec") {
        pod_spec(spec, PodSpecOf::Pod);
    }
    let qos = o.get("spec").map(qos_class).unwrap_or("BestEffort");
    if let Some(status) = obj_mut(o, "status") {
        default_str(status, "phase", "Pending");
        default_str(status, "qosClass", qos);
    }
}

/// The defaults of a PodTemplateSpec's `spec`.
pub(super) fn template(t: &mut Map<String, Value>, of: PodSpecOf) {
    if let Some(spec) = obj_mut(t, "spec") {
        pod_spec(spec, of);
    }
}

pub(super) fn pod_spec(spec: &mut Map<String, Value>, of: PodSpecOf) {
    let is_pod = of == PodSpecOf::Pod;
    default_str(spec, "dnsPolicy", "ClusterFirst");
    if of != PodSpecOf::JobTemplate {
        default_str(spec, "restartPolicy", "Always");
    }
    default(spec, "securityContext", || json!({}));
    default(spec, "terminationGracePeriodSeconds", || json!(30));
    default_str(spec, "schedulerName", "default-scheduler");

    if is_pod {
        default(spec, "enableServiceLinks", || json!(true));
        // The ServiceAccount admission plugin.
        if str_field(spec, "serviceAccountName").is_empty()
            && str_field(spec, "serviceAccount").is_empty()
        {
            spec.insert("serviceAccountName".into(), json!("default"));
        }
        // The Priority admission plugin, when no class is named; named
        // classes are resolved by the caller.
        if str_field(spec, "priorityClassName").is_empty() {
            default(spec, "priority", || json!(0));
            default_str(spec, "preemptionPolicy", "PreemptLowerPriority");
        }
    }
    // v1 keeps the deprecated `serviceAccount` in step with `serviceAccountName`.
    let sa = str_field(spec, "serviceAccount").to_owned();
    if str_field(spec, "serviceAccountName").is_empty() && !sa.is_empty() {
        spec.insert("serviceAccountName".into(), Value::String(sa));
    }
    let san = str_field(spec, "serviceAccountName").to_owned();
    if !san.is_empty() {
        spec.insert("serviceAccount".into(), Value::String(san));
    }

    let host_network = spec.get("hostNetwork").and_then(Value::as_bool) == Some(true);
    for key in ["initContainers", "containers"] {
        each_mut(spec, key, |c| container(c, is_pod, is_pod && host_network));
    }
    each_mut(spec, "volumes", volume);
}

fn container(c: &mut Map<String, Value>, is_pod: bool, host_network: bool) {
    let policy = pull_policy(str_field(c, "image"));
    default_str(c, "imagePullPolicy", policy);
    default_str(c, "terminationMessagePath", "/dev/termination-log");
    default_str(c, "terminationMessagePolicy", "File");
    let resources = obj_mut(c, "resources");
    // Pods only: a limit without a request requests the limit.
    if is_pod && let Some(res) = resources {
        let limits = res.get("limits").and_then(Value::as_object).cloned();
        if let Some(limits) = limits.filter(|l| !l.is_empty())
            && let Some(requests) = obj_mut(res, "requests")
        {
            for (k, v) in limits {
                requests.entry(k).or_insert(v);
            }
        }
    }
    each_mut(c, "ports", |p| {
        default_str(p, "protocol", "TCP");
        if host_network
            && p.get("hostPort").and_then(Value::as_i64).unwrap_or(0) == 0
            && let Some(cp) = p.get("containerPort").cloned()
        {
            p.insert("hostPort".into(), cp);
        }
    });
    each_mut(c, "env", |e| {
        if let Some(fr) = path_mut(e, &["valueFrom", "fieldRef"]) {
            default_str(fr, "apiVersion", "v1");
        }
    });
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = existing_mut(c, probe) {
            default(p, "timeoutSeconds", || json!(1));
            default(p, "periodSeconds", || json!(10));
            default(p, "successThreshold", || json!(1));
            default(p, "failureThreshold", || json!(3));
            handler(p);
            if let Some(g) = existing_mut(p, "grpc") {
                default(g, "service", || json!(""));
            }
        }
    }
    if let Some(lc) = existing_mut(c, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = existing_mut(lc, hook) {
                handler(h);
            }
        }
    }
}

fn handler(h: &mut Map<String, Value>) {
    if let Some(get) = existing_mut(h, "httpGet") {
        default_str(get, "path", "/");
        default_str(get, "scheme", "HTTP");
    }
}

/// Always for `:latest` or no tag, IfNotPresent for any other tag or a
/// digest alone — as kubelet's image name parser reads the reference.
pub(super) fn pull_policy(image: &str) -> &'static str {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    // References that do not parse (empty, upper case, spaces) have no tag.
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_ascii_uppercase() || c.is_whitespace())
    {
        return "IfNotPresent";
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.rsplit_once(':').map(|(_, tag)| tag) {
        Some("latest") => "Always",
        Some(_) => "IfNotPresent",
        None if digest.is_some() => "IfNotPresent",
        None => "Always",
    }
}

/// Defaults of one pod volume (also used for the volume sources of PVs).
pub(super) fn volume(v: &mut Map<String, Value>) {
    if !VOLUME_SOURCES.iter().any(|s| is_set(v, s)) {
        v.insert("emptyDir".into(), json!({}));
    }
    volume_source(v);
}

/// Defaults inside volume sources, shared by pod volumes and PersistentVolumes.
pub(super) fn volume_source(v: &mut Map<String, Value>) {
    for key in ["secret", "configMap"] {
        if let Some(s) = existing_mut(v, key) {
            default(s, "defaultMode", || json!(DEFAULT_MODE));
        }
    }
    if let Some(d) = existing_mut(v, "downwardAPI") {
        default(d, "defaultMode", || json!(DEFAULT_MODE));
        each_mut(d, "items", downward_item);
    }
    if let Some(p) = existing_mut(v, "projected") {
        default(p, "defaultMode", || json!(DEFAULT_MODE));
        each_mut(p, "sources", |src| {
            if let Some(d) = existing_mut(src, "downwardAPI") {
                each_mut(d, "items", downward_item);
            }
            if let Some(t) = existing_mut(src, "serviceAccountToken") {
                default(t, "expirationSeconds", || json!(3600));
            }
        });
    }
    if let Some(h) = existing_mut(v, "hostPath") {
        default(h, "type", || json!(""));
    }
    if let Some(spec) = path_mut(v, &["ephemeral", "volumeClaimTemplate", "spec"]) {
        default_str(spec, "volumeMode", "Filesystem");
    }
    if let Some(i) = existing_mut(v, "iscsi") {
        default_str(i, "iscsiInterface", "default");
    }
    if let Some(r) = existing_mut(v, "rbd") {
        default_str(r, "pool", "rbd");
        default_str(r, "user", "admin");
        default_str(r, "keyring", "/etc/ceph/keyring");
    }
    if let Some(a) = existing_mut(v, "azureDisk") {
        default(a, "cachingMode", || json!("ReadWrite"));
        default(a, "kind", || json!("Shared"));
        default(a, "fsType", || json!("ext4"));
        default(a, "readOnly", || json!(false));
    }
}

fn downward_item(item: &mut Map<String, Value>) {
    if let Some(fr) = existing_mut(item, "fieldRef") {
        default_str(fr, "apiVersion", "v1");
    }
}

/// The QoS class of a pod spec: Guaranteed when every container limits CPU
/// and memory and requests exactly that, BestEffort when nothing requests or
/// limits CPU or memory, Burstable otherwise.
pub(super) fn qos_class(spec: &Value) -> &'static str {
    const QOS_RESOURCES: [&str; 2] = ["cpu", "memory"];
    let mut requests: HashMap<&str, Quantity> = HashMap::new();
    let mut limits: HashMap<&str, Quantity> = HashMap::new();
    let mut guaranteed = true;
    let containers = ["containers", "initContainers"]
        .into_iter()
        .filter_map(|k| spec.get(k).and_then(Value::as_array))
        .flatten();
    for c in containers {
        let res = c.get("resources");
        let list = |k: &str| res.and_then(|r| r.get(k)).and_then(Value::as_object);
        let positive = |m: Option<&Map<String, Value>>| -> Vec<(&'static str, Quantity)> {
            QOS_RESOURCES
                .iter()
                .filter_map(|name| {
                    let q = Quantity::from_json(m?.get(*name)?).ok()?;
                    (q > Quantity::ZERO).then_some((*name, q))
                })
                .collect()
        };
        for (name, q) in positive(list("requests")) {
            add(&mut requests, name, q);
        }
        let mut found = HashSet::new();
        for (name, q) in positive(list("limits")) {
            found.insert(name);
            add(&mut limits, name, q);
        }
        if found.len() != QOS_RESOURCES.len() {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed && requests.iter().any(|(k, q)| limits.get(k) != Some(q)) {
        guaranteed = false;
    }
    if guaranteed && requests.len() == limits.len() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn add<'a>(sum: &mut HashMap<&'a str, Quantity>, name: &'a str, q: Quantity) {
    let total = match sum.get(name) {
        Some(prev) => prev.checked_add(q).unwrap_or(*prev),
        None => q,
    };
    sum.insert(name, total);
}
