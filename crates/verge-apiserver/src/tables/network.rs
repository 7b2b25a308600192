//! Services, Endpoints and EndpointSlices.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::Value;

use super::util::{AGE, Col, NAME, Obj, col, format_labels, wide};
use super::{Builtin, no_conditions};

pub(super) static SERVICES: Builtin = Builtin {
    columns: &[
        NAME,
        col(
            "Type",
            "string",
            "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer.",
        ),
        col(
            "Cluster-IP",
            "string",
            "clusterIP is the IP address of the service and is usually assigned randomly.",
        ),
        col(
            "External-IP",
            "string",
            "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
        ),
        col(
            "Port(s)",
            "string",
            "The list of ports that are exposed by this service.",
        ),
        AGE,
        wide(
            "Selector",
            "string",
            "Route service traffic to pods with label keys and values matching this selector.",
        ),
    ] as &[Col],
    cells: service_cells,
    conditions: no_conditions,
};

fn strings(list: &[Value]) -> Vec<&str> {
    list.iter().filter_map(Value::as_str).collect()
}

/// The load balancer's addresses (IP, else hostname), sorted and deduplicated.
fn load_balancer_addresses(o: Obj<'_>) -> Vec<&str> {
    let set: BTreeSet<&str> = o
        .list(&["status", "loadBalancer", "ingress"])
        .iter()
        .map(Obj)
        .filter_map(|i| match (i.str(&["ip"]), i.str(&["hostname"])) {
            ("", "") => None,
            ("", host) => Some(host),
            (ip, _) => Some(ip),
        })
        .collect();
    set.into_iter().collect()
}

fn external_ip(o: Obj<'_>) -> String {
    let external = strings(o.list(&["spec", "externalIPs"]));
    match o.str(&["spec", "type"]) {
        "ClusterIP" | "NodePort" if !external.is_empty() => external.join(","),
        "ClusterIP" | "NodePort" => "<none>".to_string(),
        "LoadBalancer" => {
            // Server-side tables are always "wide": no truncation.
            let mut all = load_balancer_addresses(o);
            all.extend(external);
            if all.is_empty() {
                "<pending>".to_string()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => o.str(&["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

fn ports(o: Obj<'_>) -> String {
    let pieces: Vec<String> = o
        .list(&["spec", "ports"])
        .iter()
        .map(Obj)
        .map(|p| {
            let port = p.i64(&["port"]);
            let protocol = p.opt_str(&["protocol"]).unwrap_or("TCP");
            match p.i64(&["nodePort"]) {
                n if n > 0 => format!("{port}:{n}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    if pieces.is_empty() {
        "<none>".to_string()
    } else {
        pieces.join(",")
    }
}

fn service_cells(o: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let cluster_ip = match o.str(&["spec", "clusterIP"]) {
        "" => strings(o.list(&["spec", "clusterIPs"]))
            .first()
            .copied()
            .unwrap_or("<none>"),
        ip => ip,
    };
    vec![
        o.name().into(),
        o.str(&["spec", "type"]).into(),
        cluster_ip.into(),
        external_ip(o).into(),
        ports(o).into(),
        o.age(now).into(),
        format_labels(o.map(&["spec", "selector"])).into(),
    ]
}

pub(super) static ENDPOINTS: Builtin = Builtin {
    columns: &[
        NAME,
        col(
            "Endpoints",
            "string",
            "The set of all endpoints is the union of all subsets. Addresses are placed into subsets according to the IPs they share.",
        ),
        AGE,
    ] as &[Col],
    cells: |o, now| vec![o.name().into(), endpoints(o).into(), o.age(now).into()],
    conditions: no_conditions,
};

/// At most this many addresses are listed before " + N more...".
const MAX_LISTED: usize = 3;

/// "ip:port" pairs, bracketing IPv6 addresses like Go's `net.JoinHostPort`.
fn host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

fn endpoints(o: Obj<'_>) -> String {
    let subsets = o.list(&["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut list: Vec<String> = Vec::new();
    let mut count = 0;
    for ss in subsets.iter().map(Obj) {
        let addresses: Vec<&str> = ss
            .list(&["addresses"])
            .iter()
            .map(|a| Obj(a).str(&["ip"]))
            .collect();
        let ports = ss.list(&["ports"]);
        if ports.is_empty() {
            // Headless services may have no ports.
            count += addresses.len();
            for ip in &addresses {
                if list.len() == MAX_LISTED {
                    break;
                }
                list.push(ip.to_string());
            }
            continue;
        }
        for port in ports.iter().map(Obj) {
            count += addresses.len();
            for ip in &addresses {
                if list.len() == MAX_LISTED {
                    break;
                }
                list.push(host_port(ip, port.i64(&["port"])));
            }
        }
    }
    let joined = list.join(",");
    if count > MAX_LISTED {
        format!("{joined} + {} more...", count - MAX_LISTED)
    } else {
        joined
    }
}

pub(super) static ENDPOINT_SLICES: Builtin = Builtin {
    columns: &[
        NAME,
        col(
            "AddressType",
            "string",
            "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type.",
        ),
        col(
            "Ports",
            "string",
            "ports specifies the list of network ports exposed by each endpoint in this slice.",
        ),
        col(
            "Endpoints",
            "string",
            "endpoints is a list of unique endpoints in this slice.",
        ),
        AGE,
    ] as &[Col],
    cells: |o, now| {
        let ports: Vec<String> = o
            .list(&["ports"])
            .iter()
            .map(Obj)
            .map(|p| match (p.opt_i64(&["port"]), p.opt_str(&["name"])) {
                (Some(port), _) => port.to_string(),
                (None, Some(name)) => name.to_string(),
                (None, None) => "*".to_string(),
            })
            .collect();
        let addresses: Vec<String> = o
            .list(&["endpoints"])
            .iter()
            .flat_map(|e| Obj(e).list(&["addresses"]))
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        vec![
            o.name().into(),
            o.str(&["addressType"]).into(),
            abbreviated(&ports).into(),
            abbreviated(&addresses).into(),
            o.age(now).into(),
        ]
    },
    conditions: no_conditions,
};

/// The first three, then " + N more...", or "<unset>" for none.
fn abbreviated(all: &[String]) -> String {
    let shown = all[..all.len().min(MAX_LISTED)].join(",");
    if all.len() > MAX_LISTED {
        format!("{shown} + {} more...", all.len() - MAX_LISTED)
    } else if shown.is_empty() {
        "<unset>".to_string()
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use serde_json::{Value, json};

    fn svc(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "web", "creationTimestamp": ago(3600 * 5)}, "spec": spec, "status": status})
    }

    #[test]
    fn services() {
        let rt = builtin("", "services");
        assert_eq!(
            headers(&rt),
            [
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age",
                "Selector*"
            ]
        );
        let s = svc(
            json!({
                "type": "ClusterIP", "clusterIP": "10.43.0.10", "clusterIPs": ["10.43.0.10"],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}, {"port": 9153}],
                "selector": {"k8s-app": "kube-dns"}
            }),
            json!({}),
        );
        assert_eq!(
            cells(&rt, &s),
            [
                json!("web"),
                json!("ClusterIP"),
                json!("10.43.0.10"),
                json!("<none>"),
                json!("53/UDP,53/TCP,9153/TCP"),
                json!("5h"),
                json!("k8s-app=kube-dns")
            ]
        );
        let np = svc(
            json!({"type": "NodePort", "clusterIP": "10.43.1.1", "externalIPs": ["203.0.113.7"],
                   "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                             {"port": 443, "nodePort": 30443, "protocol": "TCP"}]}),
            json!({}),
        );
        let c = cells(&rt, &np);
        assert_eq!(
            c[3..5],
            [json!("203.0.113.7"), json!("80:30080/TCP,443:30443/TCP")]
        );
        assert_eq!(c[6], "<none>");
        let headless = svc(json!({"type": "ClusterIP", "clusterIP": "None"}), json!({}));
        let c = cells(&rt, &headless);
        assert_eq!(c[2..5], [json!("None"), json!("<none>"), json!("<none>")]);
        let ext = svc(
            json!({"type": "ExternalName", "externalName": "db.example.com"}),
            json!({}),
        );
        let c = cells(&rt, &ext);
        assert_eq!(c[2..4], [json!("<none>"), json!("db.example.com")]);
        let dual_only = svc(
            json!({"type": "ClusterIP", "clusterIPs": ["fd00::1", "10.0.0.1"]}),
            json!({}),
        );
        assert_eq!(cells(&rt, &dual_only)[2], "fd00::1");
    }

    #[test]
    fn load_balancers() {
        let rt = builtin("", "services");
        let spec = json!({"type": "LoadBalancer", "clusterIP": "10.43.2.2",
                          "ports": [{"port": 443, "nodePort": 31443, "protocol": "TCP"}]});
        let pending = svc(spec.clone(), json!({}));
        assert_eq!(cells(&rt, &pending)[3], "<pending>");
        let ready = svc(
            spec.clone(),
            json!({"loadBalancer": {"ingress": [
                {"ip": "192.168.1.240"}, {"hostname": "lb.example.com"}, {"ip": "192.168.1.201"}, {"ip": "192.168.1.240"}
            ]}}),
        );
        assert_eq!(
            cells(&rt, &ready)[3],
            "192.168.1.201,192.168.1.240,lb.example.com"
        );
        let mut with_external = spec;
        with_external["externalIPs"] = json!(["203.0.113.9"]);
        let both = svc(
            with_external.clone(),
            json!({"loadBalancer": {"ingress": [{"ip": "192.168.1.240"}]}}),
        );
        assert_eq!(cells(&rt, &both)[3], "192.168.1.240,203.0.113.9");
        let external_only = svc(with_external, json!({}));
        assert_eq!(cells(&rt, &external_only)[3], "203.0.113.9");
    }

    #[test]
    fn endpoints() {
        let rt = builtin("", "endpoints");
        assert_eq!(headers(&rt), ["Name", "Endpoints", "Age"]);
        let ep = json!({
            "metadata": {"name": "web", "creationTimestamp": ago(59)},
            "subsets": [{
                "addresses": [{"ip": "10.42.0.5"}, {"ip": "10.42.0.6"}],
                "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]
            }]
        });
        assert_eq!(
            cells(&rt, &ep),
            [
                json!("web"),
                json!("10.42.0.5:80,10.42.0.6:80,10.42.0.5:443 + 1 more..."),
                json!("59s")
            ]
        );
        let small = json!({"metadata": {"name": "s"}, "subsets": [
            {"addresses": [{"ip": "fd00::5"}], "ports": [{"port": 8080}]},
            {"addresses": [{"ip": "10.0.0.1"}]}
        ]});
        assert_eq!(cells(&rt, &small)[1], "[fd00::5]:8080,10.0.0.1");
        let none = json!({"metadata": {"name": "n"}});
        assert_eq!(cells(&rt, &none)[1], "<none>");
        let not_ready = json!({"metadata": {"name": "n"}, "subsets": [
            {"notReadyAddresses": [{"ip": "10.0.0.9"}], "ports": [{"port": 80}]}
        ]});
        assert_eq!(cells(&rt, &not_ready)[1], "");
    }

    #[test]
    fn endpoint_slices() {
        let rt = builtin("discovery.k8s.io", "endpointslices");
        assert_eq!(
            headers(&rt),
            ["Name", "AddressType", "Ports", "Endpoints", "Age"]
        );
        let es = json!({
            "metadata": {"name": "web-abc12", "creationTimestamp": ago(120)},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "metrics"}],
            "endpoints": [
                {"addresses": ["10.42.0.5"], "conditions": {"ready": true}},
                {"addresses": ["10.42.0.6", "10.42.0.7"]},
                {"addresses": ["10.42.0.8"]},
                {"addresses": ["10.42.0.9"]}
            ]
        });
        assert_eq!(
            cells(&rt, &es),
            [
                json!("web-abc12"),
                json!("IPv4"),
                json!("80,metrics"),
                json!("10.42.0.5,10.42.0.6,10.42.0.7 + 2 more..."),
                json!("2m")
            ]
        );
        let empty = json!({"metadata": {"name": "e"}, "addressType": "IPv6", "ports": [{}], "endpoints": []});
        let c = cells(&rt, &empty);
        assert_eq!(c[2..4], [json!("*"), json!("<unset>")]);
        let no_ports = json!({"metadata": {"name": "e"}, "addressType": "IPv4"});
        assert_eq!(cells(&rt, &no_ports)[2], "<unset>");
    }
}
