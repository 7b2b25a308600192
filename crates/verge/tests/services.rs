//! Services against a real `verge server`: cluster IPs and node ports
//! assigned on create (422 for taken or out-of-range requests, kept across
//! restarts), the `kubernetes` Service, and Endpoints/EndpointSlices built
//! from the pods hollow nodes run.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use common::Cluster;
use common::hollow::{fast_config, start_fleet, wait_for};
use futures::future::join_all;
use k8s_openapi::api::core::v1::{Endpoints, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use verge_hollow::NodeSpec;

const WAIT: Duration = Duration::from_secs(30);

fn in_service_cidr(ip: &str) -> bool {
    let Ok(ip) = ip.parse::<Ipv4Addr>() else {
        return false;
    };
    let n = u32::from(ip);
    let base = u32::from(Ipv4Addr::new(10, 96, 0, 0));
    n > base && n < base + (1 << 20) - 1
}

fn get(c: &Cluster, args: &[&str], path: &str) -> String {
    let mut all = args.to_vec();
    let p = format!("jsonpath={path}");
    all.extend(["-o", &p]);
    c.kubectl(&all).trim().to_owned()
}

#[test]
fn cluster_ips_and_node_ports_are_assigned_on_create() {
    // 192.0.2.1 (TEST-NET-1): a routable address for the endpoints; no
    // traffic goes there.
    let mut c = Cluster::start_with(&["--controllers", "none", "--tls-san", "192.0.2.1"]);
    // The API server's own Service and endpoints.
    assert_eq!(
        get(&c, &["get", "svc", "kubernetes"], "{.spec.clusterIP}"),
        "10.96.0.1"
    );
    let port = c.url.rsplit(':').next().expect("port").to_owned();
    assert_eq!(
        get(
            &c,
            &["get", "endpoints", "kubernetes"],
            "{.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}"
        ),
        format!("192.0.2.1:{port}")
    );

    c.kubectl(&["create", "service", "clusterip", "web", "--tcp=80:8080"]);
    let ip = get(&c, &["get", "svc", "web"], "{.spec.clusterIP}");
    assert!(in_service_cidr(&ip), "{ip} is in 10.96.0.0/12");
    assert_eq!(get(&c, &["get", "svc", "web"], "{.spec.clusterIPs[0]}"), ip);
    let table = c.kubectl(&["get", "svc", "web"]);
    assert!(
        table.contains(&ip),
        "kubectl get shows the address:\n{table}"
    );

    let taken = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: copy\nspec:\n  clusterIP: {ip}\n  ports: [{{port: 80}}]\n"
    );
    let out = c.kubectl_stdin(&["create", "-f", "-"], &taken);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("is invalid") && err.contains("already allocated"),
        "{err}"
    );
    let outside = "apiVersion: v1\nkind: Service\nmetadata:\n  name: outside\nspec:\n  clusterIP: 192.0.2.10\n  ports: [{port: 80}]\n";
    let out = c.kubectl_stdin(&["create", "-f", "-"], outside);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not in the valid range"), "{err}");
    let free = "apiVersion: v1\nkind: Service\nmetadata:\n  name: chosen\nspec:\n  clusterIP: 10.100.0.10\n  ports: [{port: 80}]\n";
    c.kubectl_stdin(&["create", "-f", "-"], free);
    assert_eq!(
        get(&c, &["get", "svc", "chosen"], "{.spec.clusterIP}"),
        "10.100.0.10"
    );
    let headless = "apiVersion: v1\nkind: Service\nmetadata:\n  name: hl\nspec:\n  clusterIP: None\n  selector: {app: x}\n  ports: [{port: 80}]\n";
    c.kubectl_stdin(&["create", "-f", "-"], headless);
    assert_eq!(get(&c, &["get", "svc", "hl"], "{.spec.clusterIP}"), "None");

    c.kubectl(&["create", "service", "nodeport", "np", "--tcp=80:8080"]);
    let node_port: i64 = get(&c, &["get", "svc", "np"], "{.spec.ports[0].nodePort}")
        .parse()
        .expect("a node port");
    assert!((30000..=32767).contains(&node_port));
    let clash = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: np2\nspec:\n  type: NodePort\n  ports: [{{port: 80, nodePort: {node_port}}}]\n"
    );
    let out = c.kubectl_stdin(&["create", "-f", "-"], &clash);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("provided port is already allocated"), "{err}");

    // Allocations live in the stored Services: a restart keeps them.
    c.restart();
    let out = c.kubectl_stdin(&["create", "-f", "-"], &taken);
    assert!(!out.status.success(), "still taken after a restart");
    c.kubectl(&["delete", "svc", "web"]);
    c.kubectl_stdin(&["create", "-f", "-"], &taken);
    assert_eq!(get(&c, &["get", "svc", "copy"], "{.spec.clusterIP}"), ip);
}

fn web_pod(name: &str, labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> Pod {
    let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
    let annotations: BTreeMap<&str, &str> = annotations.iter().copied().collect();
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {
            "nodeName": "n1",
            "containers": [{"name": "app", "image": "registry.example/web:1",
                            "ports": [{"name": "http", "containerPort": 8080}]}],
        },
    }))
    .expect("pod")
}

#[derive(Debug, Default, PartialEq)]
struct Addresses {
    ready: Vec<String>,
    not_ready: Vec<String>,
}

async fn endpoints_of(api: &Api<Endpoints>, name: &str) -> Option<(Addresses, Endpoints)> {
    let ep = api.get_opt(name).await.ok()??;
    let mut a = Addresses::default();
    for s in ep.subsets.clone().unwrap_or_default() {
        for addr in s.addresses.unwrap_or_default() {
            a.ready
                .push(addr.target_ref.and_then(|r| r.name).unwrap_or_default());
        }
        for addr in s.not_ready_addresses.unwrap_or_default() {
            a.not_ready
                .push(addr.target_ref.and_then(|r| r.name).unwrap_or_default());
        }
    }
    a.ready.sort();
    a.not_ready.sort();
    Some((a, ep))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_and_slices_follow_the_ready_pods_of_a_service() {
    let c = Cluster::start_with(&["--controllers", "endpoints,garbagecollector"]);
    let fleet = start_fleet(&c, fast_config([NodeSpec::new("n1")])).await;
    let client = c.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let eps: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");

    c.apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - {name: http, port: 80, targetPort: http}\n  - {name: admin, port: 81, targetPort: 9090}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web-all\nspec:\n  publishNotReadyAddresses: true\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n",
    );
    let pp = PostParams::default();
    pods.create(&pp, &web_pod("web-1", &[("app", "web")], &[]))
        .await
        .expect("web-1");
    pods.create(
        &pp,
        &web_pod(
            "web-2",
            &[("app", "web")],
            &[("hollow.verge.dev/ready-after", "3s")],
        ),
    )
    .await
    .expect("web-2");
    pods.create(&pp, &web_pod("other", &[("app", "other")], &[]))
        .await
        .expect("other");

    // web-1 is ready; web-2 runs but is not ready yet.
    let (_, ep) = wait_for("web-1 ready and web-2 not ready", WAIT, || async {
        endpoints_of(&eps, "web")
            .await
            .filter(|(a, _)| a.ready == ["web-1"] && a.not_ready == ["web-2"])
    })
    .await;
    let subset = &ep.subsets.as_ref().expect("subsets")[0];
    let addr = &subset.addresses.as_ref().expect("addresses")[0];
    assert_eq!(addr.node_name.as_deref(), Some("n1"));
    let ip = addr.ip.clone();
    let mut ports: Vec<(String, i32)> = subset
        .ports
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name.unwrap_or_default(), p.port))
        .collect();
    ports.sort();
    assert_eq!(
        ports,
        vec![("admin".to_owned(), 9090), ("http".to_owned(), 8080)],
        "the named targetPort resolves to the container port"
    );
    let running = fleet.running_pods("n1").expect("n1");
    assert!(running.len() >= 2);

    // publishNotReadyAddresses: every pod is an address.
    wait_for("web-all to publish both pods", WAIT, || async {
        endpoints_of(&eps, "web-all")
            .await
            .filter(|(a, _)| a.ready == ["web-1", "web-2"] && a.not_ready.is_empty())
    })
    .await;

    // The slice: labels, owner, conditions, targetRef.
    let lp = ListParams::default().labels("kubernetes.io/service-name=web");
    let slice = wait_for("web's slice to show both pods", WAIT, || async {
        let list = slices.list(&lp).await.ok()?;
        let s = list.items.into_iter().next()?;
        (s.endpoints.len() == 2).then_some(s)
    })
    .await;
    let labels = slice.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("endpointslice.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("endpointslice-controller.k8s.io")
    );
    let owner = &slice.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Service", "web")
    );
    let web1 = slice
        .endpoints
        .iter()
        .find(|e| e.addresses == vec![ip.clone()])
        .expect("web-1 in the slice");
    assert_eq!(web1.node_name.as_deref(), Some("n1"));
    assert_eq!(web1.conditions.as_ref().and_then(|c| c.ready), Some(true));

    // web-2 becomes ready and moves over.
    wait_for("web-2 to become ready", WAIT, || async {
        endpoints_of(&eps, "web")
            .await
            .filter(|(a, _)| a.ready == ["web-1", "web-2"] && a.not_ready.is_empty())
    })
    .await;

    // A deleted pod leaves (after its node confirms the deletion).
    pods.delete("web-1", &DeleteParams::default())
        .await
        .expect("delete web-1");
    wait_for("web-1 to leave", WAIT, || async {
        endpoints_of(&eps, "web")
            .await
            .filter(|(a, _)| a.ready == ["web-2"])
    })
    .await;

    // A Service without a selector is the user's: no Endpoints appear for
    // it. A Service created after it gets its Endpoints; by then the
    // controller has seen (and skipped) the first.
    c.apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: manual\nspec:\n  ports: [{port: 80}]\n",
    );
    c.apply("apiVersion: v1\nkind: Service\nmetadata:\n  name: sentinel\nspec:\n  selector: {app: none}\n  ports: [{port: 80}]\n");
    wait_for("the sentinel's Endpoints", WAIT, || async {
        endpoints_of(&eps, "sentinel").await
    })
    .await;
    assert!(endpoints_of(&eps, "manual").await.is_none());

    // Deleting the Service takes its Endpoints and (garbage collection) slices.
    c.kubectl(&["delete", "svc", "web"]);
    wait_for("web's endpoints and slices to go", WAIT, || async {
        let slices_left = slices.list(&lp).await.ok()?.items.len();
        (endpoints_of(&eps, "web").await.is_none() && slices_left == 0).then_some(())
    })
    .await;
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slices_hold_a_hundred_endpoints_and_change_one_at_a_time() {
    let c = Cluster::start_with(&["--controllers", "endpoints"]);
    let fleet = start_fleet(&c, fast_config([NodeSpec::new("n1")])).await;
    let client = c.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    c.apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: big\nspec:\n  selector: {app: big}\n  ports: [{port: 80, targetPort: 8080}]\n",
    );
    let pp = PostParams::default();
    for batch in (0..250).collect::<Vec<_>>().chunks(50) {
        join_all(batch.iter().map(|i| {
            let pods = pods.clone();
            let pp = pp.clone();
            async move {
                pods.create(&pp, &web_pod(&format!("big-{i}"), &[("app", "big")], &[]))
                    .await
                    .expect("create pod")
            }
        }))
        .await;
    }
    let lp = ListParams::default().labels("kubernetes.io/service-name=big");
    let ready = |s: &EndpointSlice| {
        s.endpoints
            .iter()
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
            .count()
    };
    let list = wait_for(
        "250 ready endpoints in slices",
        Duration::from_secs(60),
        || async {
            let list = slices.list(&lp).await.ok()?;
            let total: usize = list.items.iter().map(ready).sum();
            (total == 250).then_some(list)
        },
    )
    .await;
    let mut sizes: Vec<usize> = list.items.iter().map(|s| s.endpoints.len()).collect();
    sizes.sort();
    assert_eq!(sizes, vec![50, 100, 100], "at most 100 endpoints per slice");

    // One pod goes: exactly one slice is rewritten.
    let before: BTreeMap<String, String> = list
        .items
        .iter()
        .map(|s| {
            (
                s.metadata.name.clone().unwrap_or_default(),
                s.metadata.resource_version.clone().unwrap_or_default(),
            )
        })
        .collect();
    pods.delete("big-7", &DeleteParams::default())
        .await
        .expect("delete");
    let after = wait_for("249 endpoints", WAIT, || async {
        let list = slices.list(&lp).await.ok()?;
        let total: usize = list.items.iter().map(|s| s.endpoints.len()).sum();
        (total == 249).then_some(list)
    })
    .await;
    let changed = after
        .items
        .iter()
        .filter(|s| {
            before.get(s.metadata.name.as_deref().unwrap_or_default())
                != s.metadata.resource_version.as_ref()
        })
        .count();
    assert_eq!(changed, 1, "only the slice that held big-7 changed");
    fleet.stop().await;
}

/// Server-side apply creates Services through the same path as POST: each
/// gets its addresses once, and a taken address is refused as by create.
#[test]
fn services_created_by_server_side_apply_get_addresses() {
    let c = Cluster::api_only();
    let manifest = c.write_file(
        "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: ssa\nspec:\n  selector: {app: ssa}\n  ports: [{port: 80, targetPort: 8080}]\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: ssa-np\nspec:\n  type: NodePort\n  selector: {app: ssa}\n  ports: [{port: 81}]\n",
    );
    let path = common::path_str(&manifest);
    c.kubectl(&["apply", "--server-side", "-f", path]);
    let ip = get(&c, &["get", "svc", "ssa"], "{.spec.clusterIP}");
    assert!(in_service_cidr(&ip), "{ip} is in 10.96.0.0/12");
    assert_eq!(get(&c, &["get", "svc", "ssa"], "{.spec.clusterIPs[0]}"), ip);
    let np_ip = get(&c, &["get", "svc", "ssa-np"], "{.spec.clusterIP}");
    assert!(in_service_cidr(&np_ip) && np_ip != ip, "{np_ip}");
    let node_port: i64 = get(&c, &["get", "svc", "ssa-np"], "{.spec.ports[0].nodePort}")
        .parse()
        .expect("a node port");
    assert!((30000..=32767).contains(&node_port), "{node_port}");

    // Applying again changes nothing: the addresses were assigned once.
    c.kubectl(&["apply", "--server-side", "-f", path]);
    assert_eq!(get(&c, &["get", "svc", "ssa"], "{.spec.clusterIP}"), ip);
    assert_eq!(
        get(&c, &["get", "svc", "ssa-np"], "{.spec.ports[0].nodePort}"),
        node_port.to_string()
    );

    // An explicit address that is taken: kube-apiserver's 422.
    let taken = c.write_file(
        "taken.yaml",
        &format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: dup\nspec:\n  clusterIP: {ip}\n  ports: [{{port: 80}}]\n"
        ),
    );
    let err = c.kubectl_fails(&["apply", "--server-side", "-f", common::path_str(&taken)]);
    assert!(
        err.contains(&format!(
            "Service \"dup\" is invalid: spec.clusterIPs: Invalid value: [\"{ip}\"]: failed to allocate IP {ip}: provided IP is already allocated"
        )),
        "{err}"
    );
    let out = c.kubectl_output(&["get", "svc", "dup"]);
    assert!(!out.status.success(), "nothing stored");

    // A server-side dry run shows an address and keeps none.
    let wanted = c.write_file(
        "wanted.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: wanted\nspec:\n  clusterIP: 10.100.0.20\n  ports: [{port: 80}]\n",
    );
    let wanted = common::path_str(&wanted);
    let dry = c.kubectl(&[
        "apply",
        "--server-side",
        "--dry-run=server",
        "-f",
        wanted,
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert_eq!(dry.trim(), "10.100.0.20");
    c.kubectl(&["apply", "--server-side", "-f", wanted]);
    assert_eq!(
        get(&c, &["get", "svc", "wanted"], "{.spec.clusterIP}"),
        "10.100.0.20"
    );
}

/// A PUT to a missing Service creates it (kube's create-on-update for
/// Services), with its addresses; for other kinds it stays a 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_creates_a_missing_service_with_an_address() {
    let c = Cluster::api_only();
    let client = c.client().await;
    let svcs: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(client.clone(), "default");
    let svc = serde_json::from_value(json!({
        "metadata": {"name": "put"},
        "spec": {"type": "NodePort", "ports": [{"port": 80}]}
    }))
    .expect("service");
    let created = svcs
        .replace("put", &PostParams::default(), &svc)
        .await
        .expect("PUT creates");
    let spec = created.spec.expect("spec");
    let ip = spec.cluster_ip.expect("an address");
    assert!(in_service_cidr(&ip), "{ip}");
    let node_port = spec.ports.expect("ports")[0]
        .node_port
        .expect("a node port");
    assert!((30000..=32767).contains(&node_port));
    // A second PUT is an update: the address stays.
    let again = svcs
        .replace("put", &PostParams::default(), &svc)
        .await
        .expect("PUT updates");
    assert_eq!(again.spec.and_then(|s| s.cluster_ip), Some(ip));

    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod = serde_json::from_value(json!({
        "metadata": {"name": "nope"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .expect("pod");
    match pods.replace("nope", &PostParams::default(), &pod).await {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 404),
        other => panic!("a PUT creates no pod: {other:?}"),
    }
}
