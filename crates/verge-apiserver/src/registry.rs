//! What the API server serves: every resource type, built in or defined by a
//! CustomResourceDefinition, with the facts discovery, OpenAPI, tables and the
//! handlers need about it.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::Value;

/// Where a resource type comes from, and so how its objects are validated and printed.
#[derive(Clone, Debug)]
pub enum Origin {
    /// Compiled in; schemas come from k8s-openapi.
    Builtin,
    /// Served from a CustomResourceDefinition version.
    Custom(Arc<CustomVersion>),
}

/// The parts of a CRD version that matter when serving it.
#[derive(Clone, Debug, Default)]
pub struct CustomVersion {
    /// `spec.versions[].schema.openAPIV3Schema`.
    pub schema: Option<Value>,
    /// `spec.versions[].additionalPrinterColumns`.
    pub printer_columns: Vec<PrinterColumn>,
    /// `.spec.replicas`-style paths of the scale subresource, if enabled.
    pub scale: Option<ScalePaths>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    /// OpenAPI type: string, integer, number, boolean, date.
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i32,
    /// A simple JSONPath such as `.spec.replicas`.
    pub json_path: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

/// Subresources a type serves beyond the object itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subresources {
    pub status: bool,
    pub scale: bool,
    /// Pod-only subresources: binding, eviction, log, exec, attach, portforward.
    pub pod_extras: bool,
}

#[derive(Clone, Debug)]
pub struct ResourceType {
    /// "" for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    /// The URL segment: "deployments".
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub subresources: Subresources,
    pub origin: Origin,
}

impl ResourceType {
    /// "apps/v1", or "v1" for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// "deployments.apps", or "pods" for the core group: the name Status messages use.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The URL prefix of the group version: "/api/v1" or "/apis/apps/v1".
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The storage prefix every object of this type lives under (all versions of
    /// a group/resource share it), ending in '/'.
    pub fn storage_prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/registry/{}/", self.plural)
        } else {
            format!("/registry/{}.{}/", self.plural, self.group)
        }
    }

    /// The storage key of one object.
    pub fn storage_key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{}/{}", self.storage_prefix(), ns, name),
            _ => format!("{}{}", self.storage_prefix(), name),
        }
    }

    pub fn is_custom(&self) -> bool {
        matches!(self.origin, Origin::Custom(_))
    }

    pub fn verbs(&self) -> &'static [&'static str] {
        &[
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

/// All resource types, looked up by URL or by kind. CRDs come and go at run
/// time; `generation` changes whenever they do, so caches of discovery and
/// OpenAPI documents know to rebuild.
pub struct Registry {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    types: Vec<Arc<ResourceType>>,
    /// (group, version, plural) → index.
    by_path: BTreeMap<(String, String, String), Arc<ResourceType>>,
    generation: u64,
}

impl Registry {
    pub fn with_builtins() -> Self {
        let registry = Registry {
            inner: RwLock::new(Inner::default()),
        };
        {
            let mut inner = registry.inner.write();
            for rt in builtin_types() {
                inner.insert(Arc::new(rt));
            }
        }
        registry
    }

    pub fn generation(&self) -> u64 {
        self.inner.read().generation
    }

    /// Every served type, built-ins first, in a stable order.
    pub fn all(&self) -> Vec<Arc<ResourceType>> {
        self.inner.read().types.clone()
    }

    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.inner
            .read()
            .by_path
            .get(&(group.to_owned(), version.to_owned(), plural.to_owned()))
            .cloned()
    }

    pub fn lookup_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        self.inner
            .read()
            .types
            .iter()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
            .cloned()
    }

    /// Serves the given versions of a custom resource, replacing whatever was
    /// served for the same group and plural before.
    pub fn set_custom(&self, group: &str, plural: &str, versions: Vec<ResourceType>) {
        let mut inner = self.inner.write();
        inner.remove_where(|t| t.is_custom() && t.group == group && t.plural == plural);
        for rt in versions {
            inner.insert(Arc::new(rt));
        }
        inner.generation += 1;
    }

    /// Stops serving a custom resource.
    pub fn remove_custom(&self, group: &str, plural: &str) {
        let mut inner = self.inner.write();
        inner.remove_where(|t| t.is_custom() && t.group == group && t.plural == plural);
        inner.generation += 1;
    }
}

impl Inner {
    fn insert(&mut self, rt: Arc<ResourceType>) {
        self.by_path.insert(
            (rt.group.clone(), rt.version.clone(), rt.plural.clone()),
            rt.clone(),
        );
        self.types.push(rt);
    }

    fn remove_where(&mut self, f: impl Fn(&ResourceType) -> bool) {
        self.types.retain(|t| !f(t));
        self.by_path.retain(|_, t| !f(t));
    }
}

/// Which of status and scale a built-in type serves.
#[derive(Clone, Copy)]
enum Subs {
    None,
    Status,
    StatusScale,
}

struct Builtin {
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    subs: Subs,
}

const NS: bool = true;
const CLUSTER: bool = false;
const ALL: &[&str] = &["all"];

macro_rules! builtins {
    ($( $group:literal $kind:ident $plural:literal $scope:ident [$($short:literal),*] $cats:expr, $subs:ident; )*) => {
        &[$( Builtin {
            group: $group,
            kind: stringify!($kind),
            plural: $plural,
            namespaced: $scope,
            short_names: &[$($short),*],
            categories: $cats,
            subs: Subs::$subs,
        }, )*]
    };
}

/// The built-in types (all version v1), in the order discovery lists them.
const BUILTINS: &[Builtin] = builtins! {
    "" Pod "pods" NS ["po"] ALL, Status;
    "" Namespace "namespaces" CLUSTER ["ns"] &[], Status;
    "" Node "nodes" CLUSTER ["no"] &[], Status;
    "" ConfigMap "configmaps" NS ["cm"] &[], None;
    "" Secret "secrets" NS [] &[], None;
    "" Service "services" NS ["svc"] ALL, Status;
    "" Endpoints "endpoints" NS ["ep"] &[], None;
    "" Event "events" NS ["ev"] &[], None;
    "" ServiceAccount "serviceaccounts" NS ["sa"] &[], None;
    "" PersistentVolume "persistentvolumes" CLUSTER ["pv"] &[], Status;
    "" PersistentVolumeClaim "persistentvolumeclaims" NS ["pvc"] &[], Status;
    "apps" Deployment "deployments" NS ["deploy"] ALL, StatusScale;
    "apps" ReplicaSet "replicasets" NS ["rs"] ALL, StatusScale;
    "apps" DaemonSet "daemonsets" NS ["ds"] ALL, Status;
    "apps" StatefulSet "statefulsets" NS ["sts"] ALL, StatusScale;
    "apps" ControllerRevision "controllerrevisions" NS [] &[], None;
    "batch" Job "jobs" NS [] ALL, Status;
    "batch" CronJob "cronjobs" NS ["cj"] ALL, Status;
    "coordination.k8s.io" Lease "leases" NS [] &[], None;
    "discovery.k8s.io" EndpointSlice "endpointslices" NS [] &[], None;
    "scheduling.k8s.io" PriorityClass "priorityclasses" CLUSTER ["pc"] &[], None;
    "certificates.k8s.io" CertificateSigningRequest "certificatesigningrequests" CLUSTER ["csr"] &[], Status;
    "apiextensions.k8s.io" CustomResourceDefinition "customresourcedefinitions" CLUSTER ["crd", "crds"] &[], Status;
};

fn builtin_types() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(|b| ResourceType {
            group: b.group.to_owned(),
            version: "v1".to_owned(),
            kind: b.kind.to_owned(),
            list_kind: format!("{}List", b.kind),
            plural: b.plural.to_owned(),
            singular: b.kind.to_lowercase(),
            namespaced: b.namespaced,
            short_names: b.short_names.iter().map(|s| s.to_string()).collect(),
            categories: b.categories.iter().map(|s| s.to_string()).collect(),
            subresources: Subresources {
                status: !matches!(b.subs, Subs::None),
                scale: matches!(b.subs, Subs::StatusScale),
                pod_extras: b.kind == "Pod",
            },
            origin: Origin::Builtin,
        })
        .collect()
}

/// An example custom type for tests: namespaced `widgets.example.com/v1`
/// (kind Widget) served from `version`, with no subresources.
#[cfg(test)]
pub(crate) fn example_widget(version: CustomVersion) -> ResourceType {
    ResourceType {
        group: "example.com".into(),
        version: "v1".into(),
        kind: "Widget".into(),
        list_kind: "WidgetList".into(),
        plural: "widgets".into(),
        singular: "widget".into(),
        namespaced: true,
        short_names: vec!["wd".into()],
        categories: vec![],
        subresources: Subresources::default(),
        origin: Origin::Custom(Arc::new(version)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_path_and_kind() {
        let r = Registry::with_builtins();
        let d = r.lookup("apps", "v1", "deployments").expect("deployments");
        assert_eq!(d.kind, "Deployment");
        assert_eq!(d.qualified_plural(), "deployments.apps");
        assert_eq!(
            d.storage_key(Some("default"), "web"),
            "/registry/deployments.apps/default/web"
        );
        let n = r.lookup_kind("", "v1", "Node").expect("nodes");
        assert_eq!(n.storage_key(Some("ignored"), "n1"), "/registry/nodes/n1");
        assert!(r.lookup("", "v1", "deployments").is_none());
    }

    #[test]
    fn custom_types_bump_generation() {
        let r = Registry::with_builtins();
        let g0 = r.generation();
        let rt = example_widget(CustomVersion::default());
        r.set_custom("example.com", "widgets", vec![rt]);
        assert!(r.generation() > g0);
        assert!(r.lookup("example.com", "v1", "widgets").is_some());
        r.remove_custom("example.com", "widgets");
        assert!(r.lookup("example.com", "v1", "widgets").is_none());
    }
}
