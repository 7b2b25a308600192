//! Endpoints and EndpointSlices (discovery.k8s.io/v1) for every Service
//! with a selector, from the pods it selects, as Kubernetes' endpoints and
//! EndpointSlice controllers keep them:
//!
//! - ready pods are `addresses` (slices: `ready: true`), others
//!   `notReadyAddresses` (`ready: false`), unless the Service sets
//!   `publishNotReadyAddresses`; terminating pods leave Endpoints and stay in
//!   slices as `terminating`; finished pods and pods without an IP are no
//!   endpoints;
//! - ports are resolved per pod, named `targetPort`s through the pod's
//!   container ports (a pod without the name is no endpoint for that port);
//! - each address carries `nodeName` and a `targetRef` to its pod;
//! - slices hold at most 100 endpoints, carry `kubernetes.io/service-name`
//!   and `endpointslice.kubernetes.io/managed-by`, are owned by the Service
//!   (garbage-collected with it), and are rewritten only where they change.
//!
//! Services without a selector are left alone: their endpoints are the
//! user's. Pods are kept as small projections (`project`), indexed by the
//! Services that select them, so a pod change recomputes only those.

mod project;
mod slices;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort as CorePort, EndpointSubset, Endpoints, ObjectReference, Service,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use parking_lot::Mutex;
use verge_apimachinery::labels::Selector;
use verge_runtime::{
    Action, CachedObject, Client, ControllerMetrics, DeleteOptions, Error, Event, Filter, Index,
    Part, Queue,
};

use project::{PodEndpoint, TargetPort};
use slices::{Ep, Group, Port, Slice};

const NAME: &str = "endpoints";
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// Endpoints per EndpointSlice (kube-controller-manager's default).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// Addresses an Endpoints object holds before it is truncated, as in Kubernetes.
const MAX_ENDPOINTS_ADDRESSES: usize = 1000;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ServiceKey {
    namespace: String,
    name: String,
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl ServiceKey {
    fn id(&self) -> String {
        self.to_string()
    }

    fn from_id(id: &str) -> Option<ServiceKey> {
        let (namespace, name) = id.split_once('/')?;
        Some(ServiceKey {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// (namespace, name) from a namespaced storage key.
fn split_key(key: &str) -> Option<(String, String)> {
    let mut parts = key.rsplitn(3, '/');
    let name = parts.next()?;
    let ns = parts.next()?;
    Some((ns.to_owned(), name.to_owned()))
}

#[derive(Default)]
struct State {
    /// Pod storage key → projection.
    pods: HashMap<String, Arc<PodEndpoint>>,
    /// Pod labels, for re-matching when a selector changes.
    labels: HashMap<String, BTreeMap<String, String>>,
    /// Namespace → pod keys.
    by_namespace: HashMap<String, HashSet<String>>,
    /// Service id → selector, for Services that have one.
    selectors: HashMap<String, Selector>,
    /// Pod key → ids of the Services selecting it.
    members: Index,
}

impl State {
    fn services_in(&self, ns: &str) -> impl Iterator<Item = (&String, &Selector)> {
        let prefix = format!("{ns}/");
        self.selectors
            .iter()
            .filter(move |(id, _)| id.starts_with(&prefix))
    }

    /// Records a pod; returns the Services to look at (before and after).
    fn pod_applied(&mut self, obj: &CachedObject) -> Vec<String> {
        let Some((ns, _)) = split_key(&obj.key) else {
            return Vec::new();
        };
        let Some(pod) = PodEndpoint::from_json(&obj.bytes) else {
            return Vec::new();
        };
        let mut due: Vec<String> = self.members.values_of(&obj.key).to_vec();
        let now: Vec<String> = self
            .services_in(&ns)
            .filter(|(_, sel)| sel.matches(&obj.labels))
            .map(|(id, _)| id.clone())
            .collect();
        due.extend(now.iter().cloned());
        self.members.set(&obj.key, now);
        self.pods.insert(obj.key.clone(), Arc::new(pod));
        self.labels.insert(obj.key.clone(), obj.labels.clone());
        self.by_namespace
            .entry(ns)
            .or_default()
            .insert(obj.key.clone());
        due.sort();
        due.dedup();
        due
    }

    fn pod_deleted(&mut self, key: &str) -> Vec<String> {
        let due = self.members.values_of(key).to_vec();
        self.members.remove(key);
        self.pods.remove(key);
        self.labels.remove(key);
        if let Some((ns, _)) = split_key(key)
            && let Some(set) = self.by_namespace.get_mut(&ns)
        {
            set.remove(key);
            if set.is_empty() {
                self.by_namespace.remove(&ns);
            }
        }
        due
    }

    /// Records a Service's selector (None: no selector) and re-matches the
    /// pods of its namespace.
    fn service_applied(&mut self, key: &ServiceKey, selector: Option<Selector>) {
        let id = key.id();
        let old: Vec<String> = self.members.get(&id).cloned().collect();
        match selector {
            Some(sel) => {
                self.selectors.insert(id.clone(), sel);
            }
            None => {
                self.selectors.remove(&id);
            }
        }
        let candidates: Vec<String> = self
            .by_namespace
            .get(&key.namespace)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for pod in candidates.into_iter().chain(old) {
            let matches = match (self.selectors.get(&id), self.labels.get(&pod)) {
                (Some(sel), Some(labels)) => sel.matches(labels),
                _ => false,
            };
            let mut services: Vec<String> = self.members.values_of(&pod).to_vec();
            let had = services.contains(&id);
            if matches && !had {
                services.push(id.clone());
            } else if !matches && had {
                services.retain(|s| *s != id);
            } else {
                continue;
            }
            self.members.set(&pod, services);
        }
    }

    fn pods_of(&self, id: &str) -> Vec<Arc<PodEndpoint>> {
        self.members
            .get(id)
            .filter_map(|k| self.pods.get(k).cloned())
            .collect()
    }
}

/// A Service's `spec.selector` as a selector; None for no (or an empty)
/// selector, which means "endpoints are managed by someone else".
fn selector_of(svc: &Service) -> Option<Selector> {
    let map = svc.spec.as_ref()?.selector.as_ref()?;
    if map.is_empty() {
        return None;
    }
    Selector::from_map(map).ok()
}

pub async fn run(client: Client, metrics: Arc<ControllerMetrics>) {
    let watchers = (
        client.watcher::<Service>(None),
        client.watcher::<k8s_openapi::api::core::v1::Pod>(None),
        client.watcher::<EndpointSlice>(None),
        client.watcher::<Endpoints>(None),
    );
    let (Ok(mut services), Ok(mut pods), Ok(mut slices), Ok(mut endpoints)) = watchers else {
        tracing::error!("endpoints controller cannot watch services, pods and endpoints");
        return;
    };
    let queue: Queue<ServiceKey> = Queue::new();
    let controller = Arc::new(Controller {
        client,
        state: Mutex::new(State::default()),
    });
    let workers = tokio::spawn(verge_runtime::run(
        NAME,
        queue.clone(),
        4,
        metrics,
        controller.clone(),
        |c, key| async move { c.reconcile(key).await },
    ));
    let enqueue = |ids: Vec<String>| {
        for id in ids {
            if let Some(k) = ServiceKey::from_id(&id) {
                queue.add(k);
            }
        }
    };
    loop {
        tokio::select! {
            e = services.next() => match e {
                Some(Event::Applied(o)) => {
                    if let Some(k) = controller.service_seen(&o) {
                        queue.add(k);
                    }
                }
                Some(Event::Deleted(o)) => {
                    if let Some((namespace, name)) = split_key(&o.key) {
                        let k = ServiceKey { namespace, name };
                        controller.state.lock().service_applied(&k, None);
                        queue.add(k);
                    }
                }
                Some(Event::Relisted(all)) => {
                    for o in all {
                        if let Some(k) = controller.service_seen(&o) {
                            queue.add(k);
                        }
                    }
                }
                None => break,
            },
            e = pods.next() => match e {
                Some(Event::Applied(o)) => enqueue(controller.state.lock().pod_applied(&o)),
                Some(Event::Deleted(o)) => enqueue(controller.state.lock().pod_deleted(&o.key)),
                Some(Event::Relisted(all)) => {
                    let mut due = Vec::new();
                    {
                        let mut st = controller.state.lock();
                        let live: HashSet<&str> = all.iter().map(|o| o.key.as_str()).collect();
                        let gone: Vec<String> = st
                            .pods
                            .keys()
                            .filter(|k| !live.contains(k.as_str()))
                            .cloned()
                            .collect();
                        for k in gone {
                            due.extend(st.pod_deleted(&k));
                        }
                        for o in &all {
                            due.extend(st.pod_applied(o));
                        }
                    }
                    due.sort();
                    due.dedup();
                    enqueue(due);
                }
                None => break,
            },
            // Someone else changed (or deleted) what this controller keeps.
            e = slices.next() => match e {
                Some(Event::Applied(o) | Event::Deleted(o)) => {
                    if let Some(k) = slice_owner(&o) {
                        queue.add(k);
                    }
                }
                Some(Event::Relisted(_)) => {}
                None => break,
            },
            e = endpoints.next() => match e {
                Some(Event::Applied(o) | Event::Deleted(o)) => {
                    if let Some((namespace, name)) = split_key(&o.key) {
                        let id = format!("{namespace}/{name}");
                        if controller.state.lock().selectors.contains_key(&id) {
                            queue.add(ServiceKey { namespace, name });
                        }
                    }
                }
                Some(Event::Relisted(_)) => {}
                None => break,
            },
        }
    }
    queue.close();
    let _ = workers.await;
}

fn slice_owner(obj: &CachedObject) -> Option<ServiceKey> {
    if obj.labels.get(MANAGED_BY_LABEL).map(String::as_str) != Some(MANAGED_BY) {
        return None;
    }
    let (namespace, _) = split_key(&obj.key)?;
    let name = obj.labels.get(SERVICE_NAME_LABEL)?.clone();
    Some(ServiceKey { namespace, name })
}

struct Controller {
    client: Client,
    state: Mutex<State>,
}

/// A Service port as endpoints need it.
struct SvcPort {
    name: String,
    protocol: String,
    app_protocol: Option<String>,
    target: TargetPort,
}

impl Controller {
    fn service_seen(&self, obj: &CachedObject) -> Option<ServiceKey> {
        let (namespace, name) = split_key(&obj.key)?;
        let key = ServiceKey { namespace, name };
        let svc: Service = Client::decode(obj).ok()?;
        self.state.lock().service_applied(&key, selector_of(&svc));
        Some(key)
    }

    async fn reconcile(self: Arc<Self>, key: ServiceKey) -> Result<Action, Error> {
        let ns = key.namespace.as_str();
        let svc = self.client.get::<Service>(Some(ns), &key.name)?;
        let Some(svc) = svc.filter(|s| s.metadata.deletion_timestamp.is_none()) else {
            // Slices go with their owner (garbage collection); Endpoints
            // have none, so they are deleted here.
            self.delete_endpoints(&key).await?;
            return Ok(Action::Done);
        };
        let spec = svc.spec.clone().unwrap_or_default();
        if selector_of(&svc).is_none() || spec.type_.as_deref() == Some("ExternalName") {
            return Ok(Action::Done);
        }
        let publish_not_ready = spec.publish_not_ready_addresses == Some(true);
        let headless = spec.cluster_ip.as_deref() == Some("None");
        let ports: Vec<SvcPort> = spec
            .ports
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|p| SvcPort {
                name: p.name.unwrap_or_default(),
                protocol: p.protocol.unwrap_or_else(|| "TCP".into()),
                app_protocol: p.app_protocol,
                target: match p.target_port {
                    Some(IntOrString::String(s)) => TargetPort::Name(s),
                    Some(IntOrString::Int(n)) => TargetPort::Number(n),
                    None => TargetPort::Number(p.port),
                },
            })
            .collect();
        let pods = self.state.lock().pods_of(&key.id());

        // One group per (address type, resolved ports).
        let mut groups: BTreeMap<Group, Vec<Ep>> = BTreeMap::new();
        for pod in &pods {
            let Some(ip) = &pod.ip else { continue };
            if pod.finished {
                continue;
            }
            let resolved: Vec<Port> = ports
                .iter()
                .filter_map(|p| {
                    pod.resolve(&p.target, &p.protocol).map(|port| Port {
                        name: p.name.clone(),
                        port,
                        protocol: p.protocol.clone(),
                        app_protocol: p.app_protocol.clone(),
                    })
                })
                .collect();
            if resolved.is_empty() && !(ports.is_empty() && headless) {
                continue;
            }
            let serving = pod.ready || publish_not_ready;
            let hostname = pod
                .hostname
                .clone()
                .filter(|_| pod.subdomain.as_deref() == Some(key.name.as_str()));
            let address_type = if ip.contains(':') { "IPv6" } else { "IPv4" };
            groups
                .entry((address_type.to_owned(), resolved))
                .or_default()
                .push(Ep {
                    address: ip.clone(),
                    ready: serving && (!pod.terminating || publish_not_ready),
                    serving,
                    terminating: pod.terminating,
                    node: pod.node.clone(),
                    hostname,
                    pod_name: pod.name.clone(),
                    pod_uid: pod.uid.clone(),
                });
        }
        for eps in groups.values_mut() {
            eps.sort_by(|a, b| a.address.cmp(&b.address));
            eps.dedup_by(|a, b| a.address == b.address);
        }
        self.write_endpoints(&svc, &key, &groups, headless, publish_not_ready)
            .await?;
        if groups.is_empty() {
            groups.insert(slices::placeholder(), Vec::new());
        }
        self.write_slices(&svc, &key, &groups, headless).await?;
        Ok(Action::Done)
    }

    async fn delete_endpoints(&self, key: &ServiceKey) -> Result<(), Error> {
        let Some(ep) = self
            .client
            .get::<Endpoints>(Some(&key.namespace), &key.name)?
        else {
            return Ok(());
        };
        // Endpoints of a Service without a selector were never ours; those
        // of a Service that is gone are.
        let opts = DeleteOptions {
            precondition_uid: ep.metadata.uid.clone(),
            ..DeleteOptions::default()
        };
        match self
            .client
            .delete::<Endpoints>(Some(&key.namespace), &key.name, &opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_conflict() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn write_endpoints(
        &self,
        svc: &Service,
        key: &ServiceKey,
        groups: &BTreeMap<Group, Vec<Ep>>,
        headless: bool,
        publish_not_ready: bool,
    ) -> Result<(), Error> {
        let mut subsets = Vec::new();
        let mut total = 0usize;
        for ((_, ports), eps) in groups {
            let address = |e: &Ep| EndpointAddress {
                ip: e.address.clone(),
                hostname: e.hostname.clone(),
                node_name: e.node.clone(),
                target_ref: Some(ObjectReference {
                    kind: Some("Pod".into()),
                    namespace: Some(key.namespace.clone()),
                    name: Some(e.pod_name.clone()),
                    uid: Some(e.pod_uid.clone()),
                    ..ObjectReference::default()
                }),
            };
            let mut ready = Vec::new();
            let mut not_ready = Vec::new();
            for e in eps.iter().filter(|e| !e.terminating || publish_not_ready) {
                if total >= MAX_ENDPOINTS_ADDRESSES {
                    break;
                }
                total += 1;
                if e.serving {
                    ready.push(address(e));
                } else {
                    not_ready.push(address(e));
                }
            }
            if ready.is_empty() && not_ready.is_empty() {
                continue;
            }
            subsets.push(EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: (!ports.is_empty()).then(|| {
                    ports
                        .iter()
                        .map(|p| CorePort {
                            name: (!p.name.is_empty()).then(|| p.name.clone()),
                            port: p.port,
                            protocol: Some(p.protocol.clone()),
                            app_protocol: p.app_protocol.clone(),
                        })
                        .collect()
                }),
            });
        }
        let mut labels = svc.metadata.labels.clone().unwrap_or_default();
        if headless {
            labels.insert(HEADLESS_LABEL.into(), String::new());
        }
        let truncated = total >= MAX_ENDPOINTS_ADDRESSES;
        let subsets = (!subsets.is_empty()).then_some(subsets);
        let ns = key.namespace.as_str();
        match self.client.get::<Endpoints>(Some(ns), &key.name)? {
            None => {
                let ep = Endpoints {
                    metadata: ObjectMeta {
                        name: Some(key.name.clone()),
                        namespace: Some(ns.to_owned()),
                        labels: Some(labels),
                        annotations: truncated.then(|| {
                            [(
                                "endpoints.kubernetes.io/over-capacity".to_owned(),
                                "truncated".to_owned(),
                            )]
                            .into()
                        }),
                        ..ObjectMeta::default()
                    },
                    subsets,
                };
                match self.client.create(&ep).await {
                    Ok(_) => Ok(()),
                    // Created meanwhile; the event brings us back.
                    Err(e) if e.is_already_exists() => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Some(cur) => {
                let cur_labels = cur.metadata.labels.clone().unwrap_or_default();
                if cur.subsets == subsets && cur_labels == labels {
                    return Ok(());
                }
                self.client
                    .update::<Endpoints, _>(Some(ns), &key.name, Part::Main, |e| {
                        e.subsets = subsets.clone();
                        e.metadata.labels = Some(labels.clone());
                        Ok(())
                    })
                    .await?;
                Ok(())
            }
        }
    }

    async fn write_slices(
        &self,
        svc: &Service,
        key: &ServiceKey,
        groups: &BTreeMap<Group, Vec<Ep>>,
        headless: bool,
    ) -> Result<(), Error> {
        let ns = key.namespace.as_str();
        let existing = self.owned_slices(svc, key)?;
        let plan = slices::plan(groups, existing, MAX_ENDPOINTS_PER_SLICE);
        let mut labels = svc.metadata.labels.clone().unwrap_or_default();
        labels.insert(SERVICE_NAME_LABEL.into(), key.name.clone());
        labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
        if headless {
            labels.insert(HEADLESS_LABEL.into(), String::new());
        }
        let owner = OwnerReference {
            api_version: "v1".into(),
            kind: "Service".into(),
            name: key.name.clone(),
            uid: svc.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        for s in &plan.update {
            let (endpoints, ports) = slice_body(&s.group, &s.endpoints);
            let labels = labels.clone();
            self.client
                .update::<EndpointSlice, _>(Some(ns), &s.name, Part::Main, |cur| {
                    cur.endpoints = endpoints.clone();
                    cur.ports = ports.clone();
                    cur.metadata.labels = Some(labels.clone());
                    Ok(())
                })
                .await?;
        }
        for (group, eps) in &plan.create {
            let (endpoints, ports) = slice_body(group, eps);
            let slice = EndpointSlice {
                metadata: ObjectMeta {
                    generate_name: Some(format!(
                        "{}-",
                        key.name.chars().take(57).collect::<String>()
                    )),
                    namespace: Some(ns.to_owned()),
                    labels: Some(labels.clone()),
                    owner_references: Some(vec![owner.clone()]),
                    ..ObjectMeta::default()
                },
                address_type: group.0.clone(),
                endpoints,
                ports,
            };
            self.client.create(&slice).await?;
        }
        for name in &plan.delete {
            self.client
                .delete::<EndpointSlice>(Some(ns), name, &DeleteOptions::default())
                .await?;
        }
        if !plan.update.is_empty() || !plan.create.is_empty() || !plan.delete.is_empty() {
            tracing::debug!(service = %key, updated = plan.update.len(), created = plan.create.len(), deleted = plan.delete.len(), "endpoint slices reconciled");
        }
        Ok(())
    }

    /// The slices this controller keeps for the Service, as planned groups.
    fn owned_slices(&self, svc: &Service, key: &ServiceKey) -> Result<Vec<Slice>, Error> {
        let sel = Selector::parse(&format!(
            "{SERVICE_NAME_LABEL}={},{MANAGED_BY_LABEL}={MANAGED_BY}",
            key.name
        ))
        .map_err(|e| Error::Other(e.to_string()))?;
        let filter = Filter {
            prefix: self.client.prefix::<EndpointSlice>(Some(&key.namespace))?,
            labels: Some(sel),
            fields: None,
        };
        let uid = svc.metadata.uid.clone().unwrap_or_default();
        let mut out = Vec::new();
        for obj in self.client.list_cached(&filter) {
            let s: EndpointSlice = Client::decode(&obj)?;
            let owned_by_another = s
                .metadata
                .owner_references
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|o| o.kind == "Service" && o.uid != uid);
            if owned_by_another {
                // Left by a deleted namesake: garbage collection takes it.
                continue;
            }
            out.push(Slice {
                name: s.metadata.name.clone().unwrap_or_default(),
                group: (
                    s.address_type.clone(),
                    s.ports
                        .unwrap_or_default()
                        .into_iter()
                        .map(|p| Port {
                            name: p.name.unwrap_or_default(),
                            port: p.port.unwrap_or_default(),
                            protocol: p.protocol.unwrap_or_else(|| "TCP".into()),
                            app_protocol: p.app_protocol,
                        })
                        .collect(),
                ),
                endpoints: s
                    .endpoints
                    .into_iter()
                    .filter_map(|e| {
                        let conditions = e.conditions.unwrap_or_default();
                        let target = e.target_ref.unwrap_or_default();
                        Some(Ep {
                            address: e.addresses.into_iter().next()?,
                            ready: conditions.ready == Some(true),
                            serving: conditions.serving == Some(true),
                            terminating: conditions.terminating == Some(true),
                            node: e.node_name,
                            hostname: e.hostname,
                            pod_name: target.name.unwrap_or_default(),
                            pod_uid: target.uid.unwrap_or_default(),
                        })
                    })
                    .collect(),
            });
        }
        Ok(out)
    }
}

fn slice_body(group: &Group, eps: &[Ep]) -> (Vec<Endpoint>, Option<Vec<EndpointPort>>) {
    let endpoints = eps
        .iter()
        .map(|e| Endpoint {
            addresses: vec![e.address.clone()],
            conditions: Some(EndpointConditions {
                ready: Some(e.ready),
                serving: Some(e.serving),
                terminating: Some(e.terminating),
            }),
            hostname: e.hostname.clone(),
            node_name: e.node.clone(),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".into()),
                name: Some(e.pod_name.clone()),
                uid: Some(e.pod_uid.clone()),
                ..ObjectReference::default()
            }),
            ..Endpoint::default()
        })
        .collect();
    let ports = (!group.1.is_empty()).then(|| {
        group
            .1
            .iter()
            .map(|p| EndpointPort {
                name: Some(p.name.clone()),
                port: Some(p.port),
                protocol: Some(p.protocol.clone()),
                app_protocol: p.app_protocol.clone(),
            })
            .collect()
    });
    (endpoints, ports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use verge_apiserver::cache::CachedObject;

    fn pod(key: &str, app: &str) -> CachedObject {
        CachedObject {
            key: key.into(),
            bytes: r#"{"metadata":{"name":"x","uid":"u"},"status":{"podIP":"10.0.0.1"}}"#.into(),
            revision: 1,
            labels: [("app".to_owned(), app.to_owned())].into(),
            fields: vec![],
        }
    }

    fn sel(s: &str) -> Option<Selector> {
        Selector::parse(s).ok()
    }

    #[test]
    fn membership_follows_labels_and_selectors() {
        let mut st = State::default();
        let web = ServiceKey {
            namespace: "d".into(),
            name: "web".into(),
        };
        st.service_applied(&web, sel("app=web"));
        assert_eq!(
            st.pod_applied(&pod("/registry/pods/d/a", "web")),
            vec!["d/web"]
        );
        assert!(
            st.pod_applied(&pod("/registry/pods/e/b", "web")).is_empty(),
            "other namespace"
        );
        assert_eq!(st.pods_of("d/web").len(), 1);
        // Relabelled: the service it left is told too.
        assert_eq!(
            st.pod_applied(&pod("/registry/pods/d/a", "db")),
            vec!["d/web"]
        );
        assert!(st.pods_of("d/web").is_empty());
        // A selector change re-matches existing pods.
        st.service_applied(&web, sel("app=db"));
        assert_eq!(st.pods_of("d/web").len(), 1);
        st.service_applied(&web, None);
        assert!(st.pods_of("d/web").is_empty());
        st.service_applied(&web, sel("app=db"));
        assert_eq!(st.pod_deleted("/registry/pods/d/a"), vec!["d/web"]);
        assert!(st.pods_of("d/web").is_empty());
    }
}
