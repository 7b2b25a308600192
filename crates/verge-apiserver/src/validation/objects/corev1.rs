//! Core kinds besides Pods and volumes: Services, ConfigMaps, Secrets,
//! Namespaces, Nodes, Endpoints and Events.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::meta::{validate_finalizers, validate_labels};
use super::names;
use super::pod::{PROTOCOLS, TAINT_EFFECTS, validate_quantity};
use super::util::{
    DUPLICATE, Errs, Raw, arr_of, bool_of, field, int_of, map_of, semantic_eq, spec_of, str_of,
    string, validate_port_num_or_name,
};

/// The most data a ConfigMap or Secret may hold.
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

// ---- Service ----

const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

pub fn validate_service(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = spec_of(obj);
    let ty = string(spec, "type");
    let cluster_ip = string(spec, "clusterIP");
    let headless = cluster_ip == "None";
    if !SERVICE_TYPES.contains(&ty) {
        errs.one_of("spec.type", Some(ty), SERVICE_TYPES);
    }
    let ports = arr_of(spec, "ports");
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.required("spec.ports", "");
    }

    if ty == "ExternalName" {
        if !cluster_ip.is_empty() {
            errs.forbidden("spec.clusterIP", "may not be set for ExternalName services");
        }
        for key in ["ipFamilies", "ipFamilyPolicy"] {
            if field(spec, key).is_some_and(|v| v != &json!([])) {
                errs.forbidden(
                    format!("spec.{key}"),
                    "may not be set for ExternalName services",
                );
            }
        }
        let cname = string(spec, "externalName");
        let cname = cname.strip_suffix('.').unwrap_or(cname);
        if cname.is_empty() {
            errs.required("spec.externalName", "");
        } else {
            errs.invalid_each(
                "spec.externalName",
                cname,
                names::is_dns1123_subdomain(cname),
            );
        }
    } else if !cluster_ip.is_empty() && !headless {
        if !names::is_valid_ip(cluster_ip).is_empty() {
            errs.invalid(
                "spec.clusterIP",
                cluster_ip,
                "must be empty, 'None', or a valid IP address",
            );
        }
    } else if headless && (ty == "NodePort" || ty == "LoadBalancer") {
        errs.invalid(
            "spec.clusterIP",
            cluster_ip,
            &format!("may not be set to 'None' for {ty} services"),
        );
    }

    let mut port_names = HashSet::new();
    let mut port_keys = HashSet::new();
    let mut node_ports = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let ip = format!("spec.ports[{i}]");
        let name = string(p, "name");
        if ports.len() > 1 && name.is_empty() {
            errs.required(format!("{ip}.name"), "");
        } else if !name.is_empty() {
            errs.invalid_each(&format!("{ip}.name"), name, names::is_dns1123_label(name));
            if !port_names.insert(name) {
                errs.duplicate(format!("{ip}.name"), name);
            }
        }
        let port = int_of(p, "port").unwrap_or(0);
        for m in names::is_valid_port_num(port) {
            errs.invalid(format!("{ip}.port"), port, &m);
        }
        let protocol = str_of(p, "protocol");
        errs.one_of(format!("{ip}.protocol"), protocol, PROTOCOLS);
        validate_port_num_or_name(errs, &format!("{ip}.targetPort"), field(p, "targetPort"));
        let node_port = int_of(p, "nodePort").unwrap_or(0);
        if node_port != 0 {
            if ty == "ClusterIP" {
                errs.forbidden(
                    format!("{ip}.nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                );
            }
            for m in names::is_valid_port_num(node_port) {
                errs.invalid(format!("{ip}.nodePort"), node_port, &m);
            }
            if !node_ports.insert((node_port, protocol)) {
                errs.duplicate(format!("{ip}.nodePort"), node_port);
            }
        }
        if !port_keys.insert((port, protocol)) {
            errs.duplicate(
                ip,
                Raw(json!({"port": port, "protocol": protocol}).to_string()),
            );
        }
    }

    let affinity = string(spec, "sessionAffinity");
    errs.one_of(
        "spec.sessionAffinity",
        Some(affinity),
        &["ClientIP", "None"],
    );
    let affinity_cfg = field(spec, "sessionAffinityConfig");
    if affinity == "ClientIP" {
        let timeout = affinity_cfg
            .and_then(|c| field(c, "clientIP"))
            .and_then(|c| int_of(c, "timeoutSeconds"));
        if let Some(t) = timeout
            && !(1..=86400).contains(&t)
        {
            errs.invalid(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                t,
                "must be greater than 0 and less than 86400",
            );
        }
    } else if affinity == "None"
        && let Some(cfg) = affinity_cfg
    {
        errs.invalid(
            "spec.sessionAffinityConfig",
            Raw(cfg.to_string()),
            "must not be set when session affinity is None",
        );
    }

    for key in ["externalTrafficPolicy", "internalTrafficPolicy"] {
        errs.opt_one_of(
            format!("spec.{key}"),
            str_of(spec, key).filter(|s| !s.is_empty()),
            &["Cluster", "Local"],
        );
    }
    errs.opt_one_of(
        "spec.ipFamilyPolicy",
        str_of(spec, "ipFamilyPolicy"),
        &["SingleStack", "PreferDualStack", "RequireDualStack"],
    );
    let families = arr_of(spec, "ipFamilies");
    let mut seen_families = HashSet::new();
    for (i, f) in families.iter().enumerate() {
        let f = f.as_str().unwrap_or_default();
        let p = format!("spec.ipFamilies[{i}]");
        if f != "IPv4" && f != "IPv6" {
            errs.not_supported(&p, f, &["IPv4", "IPv6"]);
        } else if !seen_families.insert(f) {
            errs.duplicate(p, f);
        }
    }
    if families.len() > 2 {
        errs.invalid(
            "spec.ipFamilies",
            Raw(Value::Array(families.to_vec()).to_string()),
            "may specify no more than one IP for each IP family",
        );
    }
    for (i, ip) in arr_of(spec, "externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or_default();
        errs.invalid_each(
            &format!("spec.externalIPs[{i}]"),
            ip,
            names::is_valid_ip(ip),
        );
    }
    for (i, cidr) in arr_of(spec, "loadBalancerSourceRanges").iter().enumerate() {
        let cidr = cidr.as_str().unwrap_or_default().trim();
        errs.invalid_each(
            &format!("spec.loadBalancerSourceRanges[{i}]"),
            cidr,
            names::is_valid_cidr(cidr),
        );
    }
    validate_labels(errs, map_of(spec, "selector"), "spec.selector");

    if let Some(old) = old {
        let old_spec = spec_of(old);
        let old_ip = string(old_spec, "clusterIP");
        let either_external = ty == "ExternalName" || string(old_spec, "type") == "ExternalName";
        if !either_external && !old_ip.is_empty() && !cluster_ip.is_empty() && old_ip != cluster_ip
        {
            errs.invalid("spec.clusterIP", cluster_ip, "field is immutable");
        }
    }
}

// ---- ConfigMap and Secret ----

fn immutable_data(errs: &mut Errs, obj: &Value, old: Option<&Value>, keys: &[&str]) {
    let Some(old) = old else { return };
    if bool_of(old, "immutable") != Some(true) {
        return;
    }
    if bool_of(obj, "immutable") != Some(true) {
        errs.forbidden("immutable", "field is immutable when `immutable` is set");
    }
    for key in keys {
        if !semantic_eq(field(obj, key), field(old, key)) {
            errs.forbidden(*key, "field is immutable when `immutable` is set");
        }
    }
}

fn check_keys(errs: &mut Errs, map: Option<&Map<String, Value>>, bag: &str) {
    for key in map.into_iter().flat_map(|m| m.keys()) {
        errs.invalid_each(&format!("{bag}[{key}]"), key, names::is_config_map_key(key));
    }
}

pub fn validate_config_map(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let data = map_of(obj, "data");
    let binary = map_of(obj, "binaryData");
    check_keys(errs, data, "data");
    check_keys(errs, binary, "binaryData");
    let mut total = 0usize;
    for (k, v) in data.into_iter().flatten() {
        if binary.is_some_and(|b| b.contains_key(k)) {
            errs.invalid(
                format!("data[{k}]"),
                k,
                "duplicate of key present in binaryData",
            );
        }
        total += v.as_str().map_or(0, str::len);
    }
    for (k, v) in binary.into_iter().flatten() {
        if data.is_some_and(|d| d.contains_key(k)) {
            errs.invalid(
                format!("binaryData[{k}]"),
                k,
                "duplicate of key present in data",
            );
        }
        match v.as_str().map(|s| BASE64.decode(s)) {
            Some(Ok(bytes)) => total += bytes.len(),
            _ => errs.invalid(
                format!("binaryData[{k}]"),
                "<binary data>",
                "illegal base64 data",
            ),
        }
    }
    if total > MAX_DATA_SIZE {
        errs.too_long("data", MAX_DATA_SIZE);
    }
    immutable_data(errs, obj, old, &["data", "binaryData"]);
}

const REDACTED: &str = "<secret contents redacted>";

pub fn validate_secret(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let data = map_of(obj, "data");
    let string_data = map_of(obj, "stringData");
    check_keys(errs, data, "data");
    check_keys(errs, string_data, "stringData");

    // Decoded contents of every key, stringData winning as it does when merged.
    let mut contents: Map<String, Value> = Map::new();
    let mut total = 0usize;
    for (k, v) in data.into_iter().flatten() {
        match v.as_str().map(|s| BASE64.decode(s)) {
            Some(Ok(bytes)) => {
                total += bytes.len();
                contents.insert(
                    k.clone(),
                    Value::String(String::from_utf8_lossy(&bytes).into_owned()),
                );
            }
            _ if v.is_null() => {}
            _ => errs.invalid(format!("data[{k}]"), REDACTED, "illegal base64 data"),
        }
    }
    for (k, v) in string_data.into_iter().flatten() {
        let s = v.as_str().unwrap_or_default();
        total += s.len();
        contents.insert(k.clone(), Value::String(s.to_owned()));
    }
    if total > MAX_DATA_SIZE {
        errs.too_long("data", MAX_DATA_SIZE);
    }
    let has = |k: &str| {
        contents
            .get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };

    let ty = string(obj, "type");
    match ty {
        "kubernetes.io/service-account-token" => {
            let annotations = field(obj, "metadata").and_then(|m| map_of(m, "annotations"));
            let key = "kubernetes.io/service-account.name";
            if annotations
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                errs.required(format!("metadata.annotations[{key}]"), "");
            }
        }
        "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
            let key = if ty == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            match contents.get(key).and_then(Value::as_str) {
                None | Some("") => errs.required(format!("data[{key}]"), ""),
                Some(s) => {
                    if let Err(e) = serde_json::from_str::<Value>(s) {
                        errs.invalid(format!("data[{key}]"), REDACTED, &e.to_string());
                    }
                }
            }
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.required("data[username]", "");
            errs.required("data[password]", "");
        }
        "kubernetes.io/ssh-auth" if !has("ssh-privatekey") => {
            errs.required("data[ssh-privatekey]", "");
        }
        "kubernetes.io/tls" => {
            for key in ["tls.key", "tls.crt"] {
                if !contents.contains_key(key) {
                    errs.required(format!("data[{key}]"), "");
                }
            }
        }
        _ => {}
    }

    if let Some(old) = old {
        let old_type = string(old, "type");
        if !old_type.is_empty() && ty != old_type {
            errs.invalid("type", ty, "field is immutable");
        }
    }
    immutable_data(errs, obj, old, &["data", "stringData"]);
}

// ---- Namespace ----

pub fn validate_namespace(errs: &mut Errs, obj: &Value) {
    let spec = spec_of(obj);
    let finalizers = arr_of(spec, "finalizers");
    validate_finalizers(errs, finalizers, "spec.finalizers");
    for f in finalizers.iter().filter_map(Value::as_str) {
        if !f.contains('/') && f != "kubernetes" {
            errs.invalid(
                "spec.finalizers",
                f,
                "name is neither a standard finalizer name nor is it fully qualified",
            );
        }
    }
}

// ---- Node ----

pub fn validate_node(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = spec_of(obj);
    let mut seen = HashSet::new();
    for (i, t) in arr_of(spec, "taints").iter().enumerate() {
        let ip = format!("spec.taints[{i}]");
        let key = string(t, "key");
        errs.invalid_each(&format!("{ip}.key"), key, names::is_qualified_name(key));
        let value = string(t, "value");
        let msgs = names::is_valid_label_value(value);
        if !msgs.is_empty() {
            errs.invalid(format!("{ip}.value"), value, &msgs.join(";"));
        }
        let effect = string(t, "effect");
        errs.one_of(format!("{ip}.effect"), Some(effect), TAINT_EFFECTS);
        if !seen.insert((key, effect)) {
            errs.push(
                ip,
                DUPLICATE,
                format!(
                    "Duplicate value: {}: taints must be unique by key and effect pair",
                    t
                ),
            );
        }
    }
    let pod_cidr = string(spec, "podCIDR");
    if !pod_cidr.is_empty() {
        errs.invalid_each("spec.podCIDR", pod_cidr, names::is_valid_cidr(pod_cidr));
    }
    for (i, c) in arr_of(spec, "podCIDRs").iter().enumerate() {
        let c = c.as_str().unwrap_or_default();
        errs.invalid_each(&format!("spec.podCIDRs[{i}]"), c, names::is_valid_cidr(c));
    }
    if let Some(status) = field(obj, "status") {
        for list in ["capacity", "allocatable"] {
            for (name, q) in map_of(status, list).into_iter().flatten() {
                validate_quantity(errs, q, &format!("status.{list}[{name}]"));
            }
        }
    }
    if let Some(old) = old {
        let old_spec = spec_of(old);
        let old_cidrs = field(old_spec, "podCIDRs");
        if old_cidrs.is_some_and(|c| c != &json!([]))
            && !semantic_eq(field(spec, "podCIDRs"), old_cidrs)
        {
            errs.forbidden(
                "spec.podCIDRs",
                "node updates may not change podCIDR except from \"\" to valid",
            );
        }
        let old_provider = string(old_spec, "providerID");
        if !old_provider.is_empty() && string(spec, "providerID") != old_provider {
            errs.forbidden(
                "spec.providerID",
                "node updates may not change providerID except from \"\" to valid",
            );
        }
    }
}

// ---- Endpoints ----

/// Endpoint addresses may not be loopback, link-local or unspecified.
pub fn validate_endpoint_ip(errs: &mut Errs, ip: &str, path: &str) {
    let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
        errs.invalid_each(path, ip, names::is_valid_ip(ip));
        return;
    };
    if addr.is_unspecified() {
        errs.invalid(path, ip, &format!("may not be unspecified ({ip})"));
    }
    if addr.is_loopback() {
        errs.invalid(
            path,
            ip,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        );
    }
    let link_local = match addr {
        std::net::IpAddr::V4(a) => a.is_link_local(),
        std::net::IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    };
    if link_local {
        errs.invalid(
            path,
            ip,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        );
    }
}

pub fn validate_endpoints(errs: &mut Errs, obj: &Value) {
    for (i, ss) in arr_of(obj, "subsets").iter().enumerate() {
        let sp = format!("subsets[{i}]");
        let ready = arr_of(ss, "addresses");
        let not_ready = arr_of(ss, "notReadyAddresses");
        if ready.is_empty() && not_ready.is_empty() {
            errs.required(&sp, "must specify `addresses` or `notReadyAddresses`");
        }
        for (key, list) in [("addresses", ready), ("notReadyAddresses", not_ready)] {
            for (j, a) in list.iter().enumerate() {
                let ap = format!("{sp}.{key}[{j}]");
                validate_endpoint_ip(errs, string(a, "ip"), &format!("{ap}.ip"));
                let hostname = string(a, "hostname");
                if !hostname.is_empty() {
                    errs.invalid_each(
                        &format!("{ap}.hostname"),
                        hostname,
                        names::is_dns1123_label(hostname),
                    );
                }
                let node = str_of(a, "nodeName").unwrap_or_default();
                if !node.is_empty() {
                    errs.invalid_each(
                        &format!("{ap}.nodeName"),
                        node,
                        names::is_dns1123_subdomain(node),
                    );
                }
            }
        }
        let ports = arr_of(ss, "ports");
        if ports.is_empty() {
            errs.required(format!("{sp}.ports"), "");
        }
        for (j, p) in ports.iter().enumerate() {
            let pp = format!("{sp}.ports[{j}]");
            let name = string(p, "name");
            if ports.len() > 1 && name.is_empty() {
                errs.required(format!("{pp}.name"), "");
            } else if !name.is_empty() {
                errs.invalid_each(&format!("{pp}.name"), name, names::is_dns1123_label(name));
            }
            let port = int_of(p, "port").unwrap_or(0);
            for m in names::is_valid_port_num(port) {
                errs.invalid(format!("{pp}.port"), port, &m);
            }
            errs.one_of(format!("{pp}.protocol"), str_of(p, "protocol"), PROTOCOLS);
        }
    }
}

// ---- Event ----

const REPORTING_INSTANCE_LIMIT: usize = 128;
const ACTION_LIMIT: usize = 128;
const REASON_LIMIT: usize = 128;
const NOTE_LIMIT: usize = 1024;

pub fn validate_event(errs: &mut Errs, obj: &Value) {
    let namespace = field(obj, "metadata").map_or("", |m| string(m, "namespace"));
    let involved_ns = field(obj, "involvedObject").map_or("", |o| string(o, "namespace"));
    let event_time = field(obj, "eventTime").is_some();
    if !event_time {
        let ok = if involved_ns.is_empty() {
            namespace.is_empty() || namespace == "default"
        } else {
            namespace == involved_ns
        };
        if !ok {
            errs.invalid(
                "involvedObject.namespace",
                involved_ns,
                "does not match event.namespace",
            );
        }
    } else {
        if involved_ns.is_empty() && namespace != "default" && namespace != "kube-system" {
            errs.invalid(
                "involvedObject.namespace",
                involved_ns,
                "does not match event.namespace",
            );
        }
        let controller = string(obj, "reportingComponent");
        if controller.is_empty() {
            errs.required("source", "");
        } else {
            errs.invalid_each("source", controller, names::is_qualified_name(controller));
        }
        for (key, limit) in [
            ("reportingInstance", REPORTING_INSTANCE_LIMIT),
            ("action", ACTION_LIMIT),
            ("reason", REASON_LIMIT),
        ] {
            let v = string(obj, key);
            if v.is_empty() {
                errs.required(key, "");
            } else if v.len() > limit {
                errs.invalid(key, "", &format!("can have at most {limit} characters"));
            }
        }
        if string(obj, "message").len() > NOTE_LIMIT {
            errs.invalid(
                "message",
                "",
                &format!("can have at most {NOTE_LIMIT} characters"),
            );
        }
    }
}
