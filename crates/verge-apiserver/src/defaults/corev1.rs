//! Core kinds besides Pods, and the discovery and scheduling groups.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::pod::volume_source;
use super::{default, default_str, each_mut, existing_mut, is_set, obj_mut, str_field};

/// Session affinity by client IP lasts three hours unless configured.
const DEFAULT_CLIENT_IP_TIMEOUT: i64 = 10800;

pub(super) fn service(o: &mut Map<String, Value>) {
    let Some(spec) = obj_mut(o, "spec") else {
        return;
    };
    default_str(spec, "sessionAffinity", "None");
    match str_field(spec, "sessionAffinity") {
        "None" => {
            spec.remove("sessionAffinityConfig");
        }
        "ClientIP" => {
            let timeout =
                obj_mut(spec, "sessionAffinityConfig").and_then(|c| obj_mut(c, "clientIP"));
            if let Some(client_ip) = timeout {
                default(client_ip, "timeoutSeconds", || {
                    json!(DEFAULT_CLIENT_IP_TIMEOUT)
                });
            }
        }
        _ => {}
    }
    default_str(spec, "type", "ClusterIP");
    each_mut(spec, "ports", |p| {
        default_str(p, "protocol", "TCP");
        let unset = match p.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(v) => v.as_i64() == Some(0),
        };
        if unset && let Some(port) = p.get("port").cloned() {
            p.insert("targetPort".into(), port);
        }
    });
    let ty = str_field(spec, "type").to_owned();
    let has_external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let externally_accessible =
        ty == "LoadBalancer" || ty == "NodePort" || (ty == "ClusterIP" && has_external_ips);
    if externally_accessible {
        default_str(spec, "externalTrafficPolicy", "Cluster");
    }
    if matches!(ty.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
        default(spec, "internalTrafficPolicy", || json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        default(spec, "allocateLoadBalancerNodePorts", || json!(true));
    }
    if ty != "ExternalName" {
        // A single-stack cluster: the family follows the requested IP, IPv4 otherwise.
        let family = if str_field(spec, "clusterIP").contains(':') {
            "IPv6"
        } else {
            "IPv4"
        };
        default(spec, "ipFamilyPolicy", || json!("SingleStack"));
        let no_families = spec
            .get("ipFamilies")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if no_families {
            spec.insert("ipFamilies".into(), json!([family]));
        }
    }
    if ty == "LoadBalancer"
        && let Some(lb) = existing_mut(o, "status").and_then(|s| existing_mut(s, "loadBalancer"))
    {
        each_mut(lb, "ingress", |ing| {
            if !str_field(ing, "ip").is_empty() {
                default(ing, "ipMode", || json!("VIP"));
            }
        });
    }
}

pub(super) fn namespace(o: &mut Map<String, Value>) {
    if let Some(spec) = obj_mut(o, "spec") {
        default(spec, "finalizers", || json!(["kubernetes"]));
    }
    if let Some(status) = obj_mut(o, "status") {
        default_str(status, "phase", "Active");
    }
    // Kubernetes maintains this label on every namespace; it cannot be changed.
    let name = o
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if !name.is_empty()
        && let Some(meta) = obj_mut(o, "metadata")
        && let Some(labels) = obj_mut(meta, "labels")
    {
        labels.insert("kubernetes.io/metadata.name".into(), Value::String(name));
    }
}

pub(super) fn secret(o: &mut Map<String, Value>) {
    default_str(o, "type", "Opaque");
    // stringData is write-only: it is merged into data (winning over it) and dropped.
    let mergeable = match o.get("stringData") {
        Some(Value::Object(sd)) => sd.values().all(|v| v.is_string() || v.is_null()),
        Some(Value::Null) => true,
        _ => false,
    };
    if !mergeable {
        // Absent, or ill-typed: left for the type check to reject.
        return;
    }
    let Some(Value::Object(string_data)) = o.remove("stringData") else {
        return;
    };
    if string_data.is_empty() {
        return;
    }
    let Some(data) = obj_mut(o, "data") else {
        o.insert("stringData".into(), Value::Object(string_data));
        return;
    };
    for (k, v) in string_data {
        if let Value::String(s) = v {
            data.insert(k, Value::String(BASE64.encode(s.as_bytes())));
        }
    }
}

pub(super) fn pvc(o: &mut Map<String, Value>) {
    if let Some(spec) = obj_mut(o, "spec") {
        default_str(spec, "volumeMode", "Filesystem");
    }
    if let Some(status) = obj_mut(o, "status") {
        default_str(status, "phase", "Pending");
    }
}

pub(super) fn pv(o: &mut Map<String, Value>) {
    if let Some(spec) = obj_mut(o, "spec") {
        default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
        default_str(spec, "volumeMode", "Filesystem");
        volume_source(spec);
    }
    if let Some(status) = obj_mut(o, "status") {
        default_str(status, "phase", "Pending");
    }
}

pub(super) fn node(o: &mut Map<String, Value>) {
    let Some(status) = obj_mut(o, "status") else {
        return;
    };
    if !is_set(status, "allocatable")
        && let Some(capacity) = status.get("capacity").cloned()
    {
        status.insert("allocatable".into(), capacity);
    }
    if let Some(de) = obj_mut(status, "daemonEndpoints")
        && let Some(ke) = obj_mut(de, "kubeletEndpoint")
    {
        default(ke, "Port", || json!(0));
    }
}

pub(super) fn endpoints(o: &mut Map<String, Value>) {
    each_mut(o, "subsets", |ss| {
        each_mut(ss, "ports", |p| default_str(p, "protocol", "TCP"));
    });
}

pub(super) fn endpoint_slice(o: &mut Map<String, Value>) {
    each_mut(o, "ports", |p| {
        default(p, "name", || json!(""));
        default(p, "protocol", || json!("TCP"));
    });
}

pub(super) fn priority_class(o: &mut Map<String, Value>) {
    default(o, "preemptionPolicy", || json!("PreemptLowerPriority"));
}
