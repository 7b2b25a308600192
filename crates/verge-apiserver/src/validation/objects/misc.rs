//! Leases, EndpointSlices, PriorityClasses and CustomResourceDefinitions.

use std::collections::HashSet;

use serde_json::Value;

use super::corev1::validate_endpoint_ip;
use super::names;
use super::pod::PROTOCOLS;
use super::util::{Errs, arr_of, field, int_of, spec_of, str_of, string};

pub fn validate_lease(errs: &mut Errs, obj: &Value) {
    let spec = spec_of(obj);
    errs.positive(
        "spec.leaseDurationSeconds",
        int_of(spec, "leaseDurationSeconds"),
    );
    errs.non_negative("spec.leaseTransitions", int_of(spec, "leaseTransitions"));
    if field(spec, "preferredHolder").is_some() && field(spec, "strategy").is_none() {
        errs.forbidden(
            "spec.preferredHolder",
            "may only be specified if `strategy` is defined",
        );
    }
}

const MAX_ENDPOINTS: usize = 1000;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 20000;

pub fn validate_endpoint_slice(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let address_type = string(obj, "addressType");
    errs.one_of("addressType", Some(address_type), &["IPv4", "IPv6", "FQDN"]);
    let endpoints = arr_of(obj, "endpoints");
    if endpoints.len() > MAX_ENDPOINTS {
        errs.too_many("endpoints", endpoints.len(), MAX_ENDPOINTS);
    }
    for (i, ep) in endpoints.iter().enumerate() {
        let ep_path = format!("endpoints[{i}]");
        let addresses = arr_of(ep, "addresses");
        if addresses.is_empty() {
            errs.required(
                format!("{ep_path}.addresses"),
                "must contain at least 1 address",
            );
        } else if addresses.len() > MAX_ADDRESSES {
            errs.too_many(
                format!("{ep_path}.addresses"),
                addresses.len(),
                MAX_ADDRESSES,
            );
        }
        for (j, a) in addresses.iter().enumerate() {
            let a = a.as_str().unwrap_or_default();
            let ap = format!("{ep_path}.addresses[{j}]");
            match address_type {
                "IPv4" => match a.parse::<std::net::Ipv4Addr>() {
                    Ok(_) => validate_endpoint_ip(errs, a, &ap),
                    Err(_) => errs.invalid(ap, a, "must be a valid IPv4 address"),
                },
                "IPv6" => match a.parse::<std::net::Ipv6Addr>() {
                    Ok(_) => validate_endpoint_ip(errs, a, &ap),
                    Err(_) => errs.invalid(ap, a, "must be a valid IPv6 address"),
                },
                "FQDN" => errs.invalid_each(&ap, a, names::is_dns1123_subdomain(a)),
                _ => {}
            }
        }
        let hostname = string(ep, "hostname");
        if !hostname.is_empty() {
            errs.invalid_each(
                &format!("{ep_path}.hostname"),
                hostname,
                names::is_dns1123_label(hostname),
            );
        }
        let node = string(ep, "nodeName");
        if !node.is_empty() {
            errs.invalid_each(
                &format!("{ep_path}.nodeName"),
                node,
                names::is_dns1123_subdomain(node),
            );
        }
    }
    let ports = arr_of(obj, "ports");
    if ports.len() > MAX_PORTS {
        errs.too_many("ports", ports.len(), MAX_PORTS);
    }
    let mut port_names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = format!("ports[{i}]");
        let name = string(p, "name");
        if !name.is_empty() {
            errs.invalid_each(&format!("{pp}.name"), name, names::is_dns1123_label(name));
        }
        if !port_names.insert(name) {
            errs.duplicate(format!("{pp}.name"), name);
        }
        errs.one_of(format!("{pp}.protocol"), str_of(p, "protocol"), PROTOCOLS);
        if let Some(port) = int_of(p, "port") {
            for m in names::is_valid_port_num(port) {
                errs.invalid(format!("{pp}.port"), port, &m);
            }
        }
    }
    if let Some(old) = old {
        let old_type = string(old, "addressType");
        if address_type != old_type {
            errs.invalid("addressType", address_type, "field is immutable");
        }
    }
}

/// The highest value a PriorityClass not named `system-…` may have.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i64 = 1_000_000_000;
const SYSTEM_PRIORITY_CLASSES: &[(&str, i64)] = &[
    ("system-cluster-critical", 2_000_000_000),
    ("system-node-critical", 2_000_001_000),
];

pub fn validate_priority_class(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let name = field(obj, "metadata").map_or("", |m| string(m, "name"));
    let value = int_of(obj, "value").unwrap_or(0);
    if name.starts_with("system-") {
        let problem = match SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _)| *n == name) {
            None => Some(format!("{name} is not a known system priority class")),
            Some((_, want)) if *want != value => {
                Some(format!("value of {name} PriorityClass must be {want}"))
            }
            Some(_) if obj.get("globalDefault").and_then(Value::as_bool) == Some(true) => Some(
                format!("globalDefault of {name} PriorityClass must be false"),
            ),
            Some(_) => None,
        };
        if let Some(p) = problem {
            errs.forbidden(
                "metadata.name",
                &format!(
                    "priority class names with 'system-' prefix are reserved for system use only. error: {p}"
                ),
            );
        }
    } else if value > HIGHEST_USER_DEFINABLE_PRIORITY {
        errs.forbidden(
            "value",
            &format!(
                "maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"
            ),
        );
    }
    errs.opt_one_of(
        "preemptionPolicy",
        str_of(obj, "preemptionPolicy"),
        &["Never", "PreemptLowerPriority"],
    );
    if let Some(old) = old {
        if int_of(old, "value").unwrap_or(0) != value {
            errs.forbidden("value", "may not be changed in an update.");
        }
        errs.immutable(
            "preemptionPolicy",
            field(obj, "preemptionPolicy"),
            field(old, "preemptionPolicy"),
        );
    }
}

/// The API-extensions validation of CRDs lives elsewhere; here only what
/// ties the name to the spec.
pub fn validate_crd(errs: &mut Errs, obj: &Value) {
    let spec = spec_of(obj);
    let name = field(obj, "metadata").map_or("", |m| string(m, "name"));
    let plural = field(spec, "names").map_or("", |n| string(n, "plural"));
    let group = string(spec, "group");
    if !name.is_empty() && name != format!("{plural}.{group}") {
        errs.invalid(
            "metadata.name",
            name,
            "must be spec.names.plural+\".\"+spec.group",
        );
    }
}
