//! Service addresses: cluster IPs from the service CIDR (10.96.0.0/12, its
//! first address reserved for the `kubernetes` Service) and node ports from
//! 30000–32767, assigned by `Resources::create` to every new Service, however
//! it is created (POST, server-side apply, in process).
//!
//! Allocations are not kept anywhere but in the Services: each assignment
//! reads which addresses and ports the stored Services hold (so a restart,
//! a deleted Service or a dry run needs no repair or release), under one
//! lock that is held until the Service is stored, so two creates never get
//! the same address.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rand::Rng;
use serde_json::{Value, json};

use crate::cache::Filter;
use crate::resources::{Resources, WriteOptions};
use crate::status::{ApiError, ApiResult};
use crate::validation::FieldError;

/// The service CIDR (kube-apiserver's `--service-cluster-ip-range` default).
pub const SERVICE_CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 96, 0, 0), 12);
/// Node ports (kube-apiserver's `--service-node-port-range` default).
pub const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

/// Serialises assignment with the store write that records it. One lock
/// for the process: it runs one API server (tests that run several only
/// wait on each other, briefly).
static ASSIGNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Held until the Service it was assigned for is stored (or refused).
pub struct Assigned {
    _guard: Option<tokio::sync::MutexGuard<'static, ()>>,
}

fn cidr_bounds() -> (u32, u32) {
    let (base, bits) = SERVICE_CIDR;
    let size = 1u32 << (32 - bits);
    (u32::from(base), size)
}

/// The `kubernetes` Service's address: the first of the CIDR.
pub fn kubernetes_service_ip() -> Ipv4Addr {
    Ipv4Addr::from(cidr_bounds().0 + 1)
}

fn in_cidr(ip: Ipv4Addr) -> bool {
    let (base, size) = cidr_bounds();
    let n = u32::from(ip);
    n > base && n < base + size - 1
}

/// What the stored Services hold.
#[derive(Default)]
struct Used {
    ips: HashSet<Ipv4Addr>,
    node_ports: HashSet<(String, i64)>,
}

/// What the stored Services hold, but for the one whose storage key is
/// `except` (a Service being updated keeps what it holds).
fn used(resources: &Resources, except: Option<&str>) -> Used {
    let mut u = Used::default();
    let (items, _, _) = resources
        .cache
        .list(&Filter::prefix("/registry/services/"), None, 0);
    for svc in items {
        if except == Some(svc.key.as_str()) {
            continue;
        }
        let v = svc.value();
        let spec = &v["spec"];
        for ip in ips_of(spec) {
            u.ips.insert(ip);
        }
        for p in spec["ports"].as_array().into_iter().flatten() {
            if let Some(np) = p["nodePort"].as_i64().filter(|n| *n > 0) {
                let proto = p["protocol"].as_str().unwrap_or("TCP").to_owned();
                u.node_ports.insert((proto, np));
            }
        }
    }
    u
}

fn ips_of(spec: &Value) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = spec["clusterIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|s| s.parse().ok())
        .collect();
    if let Some(ip) = spec["clusterIP"].as_str().and_then(|s| s.parse().ok()) {
        out.push(ip);
    }
    out
}

fn invalid(name: &str, field: &str, message: String) -> ApiError {
    ApiError::invalid(
        "Service",
        "",
        name,
        &[FieldError {
            field: field.into(),
            reason: "FieldValueInvalid",
            message,
        }],
    )
}

/// Fills in `spec.clusterIP(s)` and missing node ports of a Service about
/// to be created; a requested address or port that is taken or out of
/// range is a 422. Keep the result until the create is done. A dry run
/// gets addresses that are free now, and holds nothing.
pub(crate) async fn assign(
    resources: &Resources,
    svc: &mut Value,
    dry_run: bool,
) -> ApiResult<Assigned> {
    let (guard, used) = begin(resources, None, dry_run).await?;
    let name = crate::object::name(svc).unwrap_or("").to_owned();
    let ty = service_type(svc);
    let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(Assigned { _guard: guard });
    };
    if ty == "ExternalName" {
        return Ok(Assigned { _guard: guard });
    }
    let requested = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .or_else(|| {
            spec.get("clusterIPs")
                .and_then(|a| a.get(0))
                .and_then(Value::as_str)
        })
        .unwrap_or("")
        .to_owned();
    let ip = match requested.as_str() {
        "None" => None,
        "" => Some(free_ip(&name, &used)?),
        other => {
            let ip: Ipv4Addr = other.parse().map_err(|_| {
                invalid(
                    &name,
                    "spec.clusterIPs",
                    format!("Invalid value: [\"{other}\"]: must be a valid IPv4 address"),
                )
            })?;
            let (base, bits) = SERVICE_CIDR;
            if !in_cidr(ip) {
                return Err(invalid(
                    &name,
                    "spec.clusterIPs",
                    format!(
                        "Invalid value: [\"{other}\"]: failed to allocate IP {other}: the provided IP ({other}) is not in the valid range. The range of valid IPs is {base}/{bits}"
                    ),
                ));
            }
            if used.ips.contains(&ip) {
                return Err(invalid(
                    &name,
                    "spec.clusterIPs",
                    format!(
                        "Invalid value: [\"{other}\"]: failed to allocate IP {other}: provided IP is already allocated"
                    ),
                ));
            }
            Some(ip)
        }
    };
    if let Some(ip) = ip {
        set_cluster_ip(spec, ip);
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        assign_node_ports(&name, spec, &used.node_ports)?;
    }
    Ok(Assigned { _guard: guard })
}

/// Carries a Service's addresses through an update of its main resource,
/// as kube-apiserver does: node ports a PUT leaves out keep their values
/// (matched by port and protocol), ports that need one get a free one, a
/// requested port held by another Service is a 422, and a Service that
/// stops being ExternalName gets a cluster IP. `key` is its storage key.
pub(crate) async fn assign_on_update(
    resources: &Resources,
    key: &str,
    old: &Value,
    new: &mut Value,
    dry_run: bool,
) -> ApiResult<Option<Assigned>> {
    let ty = service_type(new);
    let node_ports = matches!(ty.as_str(), "NodePort" | "LoadBalancer");
    if node_ports && matches!(service_type(old).as_str(), "NodePort" | "LoadBalancer") {
        keep_node_ports(old, new);
    }
    let needs_ip = ty != "ExternalName"
        && new
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
    if !needs_ip && !node_ports {
        return Ok(None);
    }
    let (guard, used) = begin(resources, Some(key), dry_run).await?;
    let name = crate::object::name(new).unwrap_or("").to_owned();
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(Some(Assigned { _guard: guard }));
    };
    if needs_ip {
        set_cluster_ip(spec, free_ip(&name, &used)?);
    }
    if node_ports {
        assign_node_ports(&name, spec, &used.node_ports)?;
    }
    Ok(Some(Assigned { _guard: guard }))
}

/// Takes the assignment lock (none for a dry run, which keeps nothing) and
/// reads what the stored Services hold, but for the one at `except`.
async fn begin(
    resources: &Resources,
    except: Option<&str>,
    dry_run: bool,
) -> ApiResult<(Option<tokio::sync::MutexGuard<'static, ()>>, Used)> {
    let guard = if dry_run {
        None
    } else {
        Some(ASSIGNING.lock().await)
    };
    // Everything stored before this point is in the cache after this.
    resources
        .cache
        .sync()
        .await
        .map_err(|e| ApiError::timeout(e.to_string()))?;
    Ok((guard, used(resources, except)))
}

fn free_ip(name: &str, used: &Used) -> ApiResult<Ipv4Addr> {
    pick_ip(&used.ips).ok_or_else(|| {
        invalid(
            name,
            "spec.clusterIPs",
            "failed to allocate a service IP: the range is full".into(),
        )
    })
}

fn set_cluster_ip(spec: &mut serde_json::Map<String, Value>, ip: Ipv4Addr) {
    spec.insert("clusterIP".into(), json!(ip.to_string()));
    spec.insert("clusterIPs".into(), json!([ip.to_string()]));
    spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
    spec.entry("ipFamilyPolicy")
        .or_insert_with(|| json!("SingleStack"));
}

fn service_type(svc: &Value) -> String {
    svc.pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_owned()
}

/// Fills the node ports `new` leaves out from the same port of `old`.
fn keep_node_ports(old: &Value, new: &mut Value) {
    let port_key = |p: &Value| {
        (
            p["port"].as_i64(),
            p["protocol"].as_str().unwrap_or("TCP").to_owned(),
        )
    };
    let kept: Vec<_> = old
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| Some((port_key(p), p["nodePort"].as_i64().filter(|n| *n > 0)?)))
        .collect();
    let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) else {
        return;
    };
    for p in ports.iter_mut() {
        if p["nodePort"].as_i64().is_some_and(|n| n > 0) {
            continue;
        }
        let k = port_key(p);
        if let (Some((_, np)), Some(map)) =
            (kept.iter().find(|(pk, _)| *pk == k), p.as_object_mut())
        {
            map.insert("nodePort".into(), json!(np));
        }
    }
}

fn pick_ip(used: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    let (base, size) = cidr_bounds();
    // Usable: base+2 (base+1 is the kubernetes Service's) to base+size-2.
    let first = base + 2;
    let count = size - 3;
    let start = rand::rng().random_range(0..count);
    (0..count)
        .map(|i| Ipv4Addr::from(first + (start + i) % count))
        .find(|ip| !used.contains(ip))
}

fn assign_node_ports(
    name: &str,
    spec: &mut serde_json::Map<String, Value>,
    used: &HashSet<(String, i64)>,
) -> ApiResult<()> {
    let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    let mut taken = used.clone();
    // Requested ports first: a later automatic pick must not take them.
    for (i, p) in ports.iter().enumerate() {
        let proto = p["protocol"].as_str().unwrap_or("TCP").to_owned();
        let Some(np) = p["nodePort"].as_i64().filter(|n| *n > 0) else {
            continue;
        };
        let field = format!("spec.ports[{i}].nodePort");
        if !NODE_PORTS.contains(&np) {
            return Err(invalid(
                name,
                &field,
                format!(
                    "Invalid value: {np}: provided port is not in the valid range. The range of valid ports is {}-{}",
                    NODE_PORTS.start(),
                    NODE_PORTS.end()
                ),
            ));
        }
        if !taken.insert((proto, np)) {
            return Err(invalid(
                name,
                &field,
                format!("Invalid value: {np}: provided port is already allocated"),
            ));
        }
    }
    let span = NODE_PORTS.end() - NODE_PORTS.start() + 1;
    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
        if p.get("nodePort")
            .and_then(Value::as_i64)
            .is_some_and(|n| n > 0)
        {
            continue;
        }
        let proto = p
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP")
            .to_owned();
        let start = rand::rng().random_range(0..span);
        let port = (0..span)
            .map(|i| NODE_PORTS.start() + (start + i) % span)
            .find(|n| !taken.contains(&(proto.clone(), *n)))
            .ok_or_else(|| {
                invalid(
                    name,
                    "spec.ports",
                    "failed to allocate a node port: the range is full".into(),
                )
            })?;
        taken.insert((proto, port));
        p.insert("nodePort".into(), json!(port));
    }
    Ok(())
}

/// The address pods reach this API server at, as the `kubernetes`
/// Service's endpoints say: the listen address when it is a routable one,
/// else the first routable IP among the serving certificate's extra names
/// (`--tls-san`). None when there is none: endpoints may not be loopback
/// addresses, and guessing an interface would be wrong as often as right.
pub fn advertised(listen: SocketAddr, sans: &[String]) -> Option<SocketAddr> {
    let routable = |ip: &IpAddr| !ip.is_unspecified() && !ip.is_loopback();
    if routable(&listen.ip()) {
        return Some(listen);
    }
    sans.iter()
        .filter_map(|s| s.parse::<IpAddr>().ok())
        .find(routable)
        .map(|ip| SocketAddr::new(ip, listen.port()))
}

/// Creates (or corrects) the `kubernetes` Service in `default`, and its
/// Endpoints and EndpointSlice naming this API server at `advertise`, as
/// kube-apiserver keeps them. Called at start. Without an address the
/// Service has no endpoints.
pub async fn ensure_kubernetes_service(
    resources: &Resources,
    listen: SocketAddr,
    advertise: Option<SocketAddr>,
) -> ApiResult<()> {
    let addr = advertise.unwrap_or(listen);
    let opts = WriteOptions {
        field_manager: Some("kube-apiserver".into()),
        ..WriteOptions::default()
    };
    let ip = kubernetes_service_ip().to_string();
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                 "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                 "sessionAffinity": "None",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": addr.port()}]},
    });
    let endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": addr.ip().to_string()}],
                     "ports": [{"name": "https", "port": addr.port(), "protocol": "TCP"}]}],
    });
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": if addr.is_ipv4() { "IPv4" } else { "IPv6" },
        "endpoints": [{"addresses": [addr.ip().to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": addr.port(), "protocol": "TCP"}],
    });
    let mut objects = vec![("services", "", service)];
    if advertise.is_some() {
        objects.push(("endpoints", "", endpoints));
        objects.push(("endpointslices", "discovery.k8s.io", slice));
    }
    for (plural, group, obj) in objects {
        let Some(rt) = resources.registry.lookup(group, "v1", plural) else {
            continue;
        };
        let key = rt.storage_key(Some("default"), "kubernetes");
        let existing = resources
            .cache
            .get(&key)
            .await
            .map_err(|e| ApiError::timeout(e.to_string()))?;
        match existing {
            None => match resources.create(&rt, Some("default"), obj, &opts).await {
                Ok(_) => {}
                Err(e) if e.reason == "AlreadyExists" => {}
                Err(e) => return Err(e),
            },
            Some(current) if plural != "services" => {
                // The port (and address) may differ from the last start.
                let desired = obj.clone();
                let same = {
                    let cur = current.value();
                    cur.get("subsets") == desired.get("subsets")
                        && cur.get("endpoints") == desired.get("endpoints")
                        && cur.get("ports") == desired.get("ports")
                };
                if !same {
                    resources
                        .update(
                            &rt,
                            Some("default"),
                            "kubernetes",
                            crate::resources::Part::Main,
                            &opts,
                            |old| {
                                let mut new = old.clone();
                                for f in ["subsets", "endpoints", "ports", "addressType"] {
                                    if let Some(v) = desired.get(f) {
                                        new[f] = v.clone();
                                    }
                                }
                                crate::object::meta_mut(&mut new).remove("resourceVersion");
                                Ok(new)
                            },
                        )
                        .await?;
                }
            }
            Some(current) => {
                let cur = current.value();
                if cur.pointer("/spec/ports/0/targetPort") != Some(&json!(addr.port())) {
                    resources
                        .update(
                            &rt,
                            Some("default"),
                            "kubernetes",
                            crate::resources::Part::Main,
                            &opts,
                            |old| {
                                let mut new = old.clone();
                                new["spec"]["ports"] = json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": addr.port()}]);
                                crate::object::meta_mut(&mut new).remove("resourceVersion");
                                Ok(new)
                            },
                        )
                        .await?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_advertise_a_routable_address_only() {
        let any: SocketAddr = "0.0.0.0:6443".parse().expect("addr");
        assert_eq!(advertised(any, &[]), None);
        assert_eq!(
            advertised(
                any,
                &[
                    "edge.example".into(),
                    "127.0.0.2".into(),
                    "192.0.2.7".into()
                ]
            ),
            Some("192.0.2.7:6443".parse().expect("addr"))
        );
        let own: SocketAddr = "192.0.2.9:443".parse().expect("addr");
        assert_eq!(advertised(own, &[]), Some(own));
    }

    #[test]
    fn addresses_come_from_the_cidr_and_skip_the_reserved_one() {
        assert_eq!(kubernetes_service_ip(), Ipv4Addr::new(10, 96, 0, 1));
        assert!(in_cidr(Ipv4Addr::new(10, 111, 255, 254)));
        assert!(!in_cidr(Ipv4Addr::new(10, 112, 0, 1)));
        assert!(!in_cidr(Ipv4Addr::new(10, 96, 0, 0)));
        let mut used = HashSet::new();
        for _ in 0..200 {
            let ip = pick_ip(&used).expect("free");
            assert!(in_cidr(ip) && ip != kubernetes_service_ip());
            assert!(used.insert(ip), "never the same address twice");
        }
    }

    #[test]
    fn node_ports_are_checked_and_filled() {
        let used: HashSet<(String, i64)> = [("TCP".to_owned(), 30080)].into();
        let mut spec =
            json!({"ports": [{"port": 80, "protocol": "TCP"}, {"port": 81, "nodePort": 30081}]});
        let map = spec.as_object_mut().expect("object");
        assign_node_ports("s", map, &used).expect("assigned");
        let first = spec["ports"][0]["nodePort"].as_i64().expect("filled");
        assert!(NODE_PORTS.contains(&first) && first != 30080 && first != 30081);
        assert_eq!(spec["ports"][1]["nodePort"], 30081);

        let mut taken = json!({"ports": [{"port": 80, "nodePort": 30080}]});
        let err =
            assign_node_ports("s", taken.as_object_mut().expect("o"), &used).expect_err("taken");
        assert_eq!(err.code.as_u16(), 422);
        assert!(err.message.contains("already allocated"), "{}", err.message);
        let mut outside = json!({"ports": [{"port": 80, "nodePort": 80}]});
        let err =
            assign_node_ports("s", outside.as_object_mut().expect("o"), &used).expect_err("range");
        assert!(err.message.contains("valid range"), "{}", err.message);
    }
}
