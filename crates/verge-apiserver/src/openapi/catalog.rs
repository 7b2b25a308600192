//! The schemas of the built-in kinds, generated once from k8s-openapi with
//! schemars' OpenAPI 3 settings, so every reference reads
//! `#/components/schemas/<name>`. Both the OpenAPI documents and the
//! schema-driven validation read from this catalogue.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Where every schema reference points.
pub const REF_PREFIX: &str = "#/components/schemas/";

pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
pub const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub const SCALE: &str = "io.k8s.api.autoscaling.v1.Scale";
pub const BINDING: &str = "io.k8s.api.core.v1.Binding";
pub const EVICTION: &str = "io.k8s.api.policy.v1.Eviction";

/// Something done with the Rust type of a built-in kind, chosen at run time
/// from its group, version and kind.
pub trait KindVisitor {
    type Output;
    fn visit<T: JsonSchema + DeserializeOwned>(self) -> Self::Output;
}

macro_rules! builtin_kinds {
    ($( ($group:literal, $version:literal, $kind:literal) => $ty:ty ),* $(,)?) => {
        /// Every (group, version, kind) with a compiled-in schema. A superset of
        /// what the registry serves, so types can be added there freely.
        pub const KNOWN_KINDS: &[(&str, &str, &str)] = &[ $( ($group, $version, $kind) ),* ];

        /// Calls `visitor` with the k8s-openapi type of the kind, if there is one.
        pub fn visit_kind<V: KindVisitor>(
            group: &str,
            version: &str,
            kind: &str,
            visitor: V,
        ) -> Option<V::Output> {
            match (group, version, kind) {
                $( ($group, $version, $kind) => Some(visitor.visit::<$ty>()), )*
                _ => None,
            }
        }
    };
}

builtin_kinds! {
    ("", "v1", "Pod") => api::core::v1::Pod,
    ("", "v1", "Namespace") => api::core::v1::Namespace,
    ("", "v1", "Node") => api::core::v1::Node,
    ("", "v1", "ConfigMap") => api::core::v1::ConfigMap,
    ("", "v1", "Secret") => api::core::v1::Secret,
    ("", "v1", "Service") => api::core::v1::Service,
    ("", "v1", "Endpoints") => api::core::v1::Endpoints,
    ("", "v1", "Event") => api::core::v1::Event,
    ("", "v1", "ServiceAccount") => api::core::v1::ServiceAccount,
    ("", "v1", "PersistentVolume") => api::core::v1::PersistentVolume,
    ("", "v1", "PersistentVolumeClaim") => api::core::v1::PersistentVolumeClaim,
    ("", "v1", "ReplicationController") => api::core::v1::ReplicationController,
    ("", "v1", "PodTemplate") => api::core::v1::PodTemplate,
    ("", "v1", "ResourceQuota") => api::core::v1::ResourceQuota,
    ("", "v1", "LimitRange") => api::core::v1::LimitRange,
    ("", "v1", "Binding") => api::core::v1::Binding,
    ("apps", "v1", "Deployment") => api::apps::v1::Deployment,
    ("apps", "v1", "ReplicaSet") => api::apps::v1::ReplicaSet,
    ("apps", "v1", "DaemonSet") => api::apps::v1::DaemonSet,
    ("apps", "v1", "StatefulSet") => api::apps::v1::StatefulSet,
    ("apps", "v1", "ControllerRevision") => api::apps::v1::ControllerRevision,
    ("batch", "v1", "Job") => api::batch::v1::Job,
    ("batch", "v1", "CronJob") => api::batch::v1::CronJob,
    ("autoscaling", "v1", "Scale") => api::autoscaling::v1::Scale,
    ("autoscaling", "v2", "HorizontalPodAutoscaler") => api::autoscaling::v2::HorizontalPodAutoscaler,
    ("policy", "v1", "Eviction") => api::policy::v1::Eviction,
    ("policy", "v1", "PodDisruptionBudget") => api::policy::v1::PodDisruptionBudget,
    ("coordination.k8s.io", "v1", "Lease") => api::coordination::v1::Lease,
    ("discovery.k8s.io", "v1", "EndpointSlice") => api::discovery::v1::EndpointSlice,
    ("scheduling.k8s.io", "v1", "PriorityClass") => api::scheduling::v1::PriorityClass,
    ("events.k8s.io", "v1", "Event") => api::events::v1::Event,
    ("networking.k8s.io", "v1", "Ingress") => api::networking::v1::Ingress,
    ("networking.k8s.io", "v1", "IngressClass") => api::networking::v1::IngressClass,
    ("networking.k8s.io", "v1", "NetworkPolicy") => api::networking::v1::NetworkPolicy,
    ("rbac.authorization.k8s.io", "v1", "Role") => api::rbac::v1::Role,
    ("rbac.authorization.k8s.io", "v1", "RoleBinding") => api::rbac::v1::RoleBinding,
    ("rbac.authorization.k8s.io", "v1", "ClusterRole") => api::rbac::v1::ClusterRole,
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding") => api::rbac::v1::ClusterRoleBinding,
    ("storage.k8s.io", "v1", "StorageClass") => api::storage::v1::StorageClass,
    ("storage.k8s.io", "v1", "CSIDriver") => api::storage::v1::CSIDriver,
    ("storage.k8s.io", "v1", "CSINode") => api::storage::v1::CSINode,
    ("storage.k8s.io", "v1", "VolumeAttachment") => api::storage::v1::VolumeAttachment,
    ("node.k8s.io", "v1", "RuntimeClass") => api::node::v1::RuntimeClass,
    ("certificates.k8s.io", "v1", "CertificateSigningRequest") => api::certificates::v1::CertificateSigningRequest,
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition") => apiextensions::CustomResourceDefinition,
}

/// Strategic-merge-patch metadata that k8s-openapi's schemas lack but
/// `kubectl apply` reads from the OpenAPI v3 documents (without it, lists such
/// as containers would be replaced wholesale and removals would be lost):
/// (schema, property, merge key, strategy).
const PATCH_META: &[(&str, &str, &str, &str)] = &[
    ("io.k8s.api.core.v1.PodSpec", "containers", "name", "merge"),
    (
        "io.k8s.api.core.v1.PodSpec",
        "initContainers",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "ephemeralContainers",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "volumes",
        "name",
        "merge,retainKeys",
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "imagePullSecrets",
        "name",
        "merge",
    ),
    ("io.k8s.api.core.v1.PodSpec", "hostAliases", "ip", "merge"),
    (
        "io.k8s.api.core.v1.PodSpec",
        "topologySpreadConstraints",
        "topologyKey",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "resourceClaims",
        "name",
        "merge,retainKeys",
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "schedulingGates",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.Container",
        "ports",
        "containerPort",
        "merge",
    ),
    ("io.k8s.api.core.v1.Container", "env", "name", "merge"),
    (
        "io.k8s.api.core.v1.Container",
        "volumeMounts",
        "mountPath",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.Container",
        "volumeDevices",
        "devicePath",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "ports",
        "containerPort",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "env",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "volumeMounts",
        "mountPath",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "volumeDevices",
        "devicePath",
        "merge",
    ),
    ("io.k8s.api.core.v1.ServiceSpec", "ports", "port", "merge"),
    (
        "io.k8s.api.core.v1.ServiceAccount",
        "secrets",
        "name",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.PodStatus",
        "conditions",
        "type",
        "merge",
    ),
    ("io.k8s.api.core.v1.PodStatus", "podIPs", "ip", "merge"),
    ("io.k8s.api.core.v1.PodStatus", "hostIPs", "ip", "merge"),
    (
        "io.k8s.api.core.v1.NodeStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.NodeStatus",
        "addresses",
        "type",
        "merge",
    ),
    ("io.k8s.api.core.v1.NodeSpec", "podCIDRs", "", "merge"),
    (
        "io.k8s.api.core.v1.NamespaceStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.core.v1.ServiceStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "finalizers",
        "",
        "merge",
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "ownerReferences",
        "uid",
        "merge",
    ),
    (
        "io.k8s.api.apps.v1.DeploymentSpec",
        "strategy",
        "",
        "retainKeys",
    ),
    (
        "io.k8s.api.apps.v1.DeploymentStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.apps.v1.ReplicaSetStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.apps.v1.DaemonSetStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetStatus",
        "conditions",
        "type",
        "merge",
    ),
    (
        "io.k8s.api.batch.v1.JobStatus",
        "conditions",
        "type",
        "merge",
    ),
];

/// All schemas of the built-in kinds and everything they reference.
pub struct Catalog {
    defs: HashMap<String, Value>,
    /// Names each definition references directly.
    refs: HashMap<String, Vec<String>>,
    kinds: HashMap<(&'static str, &'static str, &'static str), String>,
}

/// The process-wide catalogue, built on first use.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(Catalog::build)
}

/// The `components.schemas` name of a built-in kind: `io.k8s.api.core.v1.Pod`.
pub fn builtin_schema_name(group: &str, version: &str, kind: &str) -> Option<&'static str> {
    catalog().kind_schema_name(group, version, kind)
}

struct Generate<'a>(&'a mut SchemaGenerator);

impl KindVisitor for Generate<'_> {
    type Output = String;
    fn visit<T: JsonSchema + DeserializeOwned>(self) -> String {
        self.0.subschema_for::<T>();
        T::schema_name().into_owned()
    }
}

impl Catalog {
    fn build() -> Catalog {
        let mut generator = SchemaSettings::openapi3().into_generator();
        let mut kinds = HashMap::new();
        for &(group, version, kind) in KNOWN_KINDS {
            if let Some(name) = visit_kind(group, version, kind, Generate(&mut generator)) {
                kinds.insert((group, version, kind), name);
            }
        }
        generator.subschema_for::<meta::ObjectMeta>();
        generator.subschema_for::<meta::ListMeta>();
        generator.subschema_for::<meta::DeleteOptions>();
        generator.subschema_for::<meta::Status>();
        generator.subschema_for::<meta::Patch>();

        let mut defs: HashMap<String, Value> =
            generator.take_definitions(true).into_iter().collect();
        for &(schema, property, key, strategy) in PATCH_META {
            let Some(prop) = defs
                .get_mut(schema)
                .and_then(|d| d.get_mut("properties"))
                .and_then(|p| p.get_mut(property))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            if !key.is_empty() {
                prop.insert("x-kubernetes-patch-merge-key".into(), key.into());
            }
            prop.insert("x-kubernetes-patch-strategy".into(), strategy.into());
        }
        let refs = defs
            .iter()
            .map(|(name, def)| {
                let mut out = Vec::new();
                collect_refs(def, &mut out);
                (name.clone(), out)
            })
            .collect();
        Catalog { defs, refs, kinds }
    }

    pub fn kind_schema_name(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        // KNOWN_KINDS is small; a scan avoids allocating a key.
        KNOWN_KINDS
            .iter()
            .find(|&&(g, v, k)| g == group && v == version && k == kind)
            .and_then(|key| self.kinds.get(key))
            .map(String::as_str)
    }

    /// A definition by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.defs.get(name)
    }

    /// The target of `#/components/schemas/<name>`.
    pub fn resolve_ref(&self, reference: &str) -> Option<&Value> {
        reference.strip_prefix(REF_PREFIX).and_then(|n| self.get(n))
    }

    /// The names of `roots` and of every definition they reach.
    pub fn closure<'a>(&self, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = roots.into_iter().map(str::to_owned).collect();
        while let Some(name) = stack.pop() {
            if !self.defs.contains_key(&name) || seen.contains(&name) {
                continue;
            }
            if let Some(next) = self.refs.get(&name) {
                stack.extend(next.iter().filter(|n| !seen.contains(*n)).cloned());
            }
            seen.insert(name);
        }
        seen
    }

    /// How many definitions there are (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }
}

/// Appends the names every `$ref` in `value` points at.
pub(crate) fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(REF_PREFIX))
                && !out.iter().any(|n| n == name)
            {
                out.push(name.to_owned());
            }
            for (key, v) in map {
                // `enum`, `default` and `example` hold data, not schemas.
                if !matches!(key.as_str(), "enum" | "default" | "example") {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// `{"$ref": "#/components/schemas/<name>"}`.
pub fn schema_ref(name: &str) -> Value {
    let mut map = Map::new();
    map.insert("$ref".into(), Value::String(format!("{REF_PREFIX}{name}")));
    Value::Object(map)
}
