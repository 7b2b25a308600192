//! Patch metadata of the built-in Kubernetes types, as Rust data.
//!
//! For each type this lists the fields whose strategic-merge behaviour
//! differs from the default, and the type of fields whose own type has such
//! fields. The facts are the `patchStrategy` / `patchMergeKey` tags of the
//! Kubernetes API types:
//!
//! * a list field without a strategy is atomic: a patch replaces it whole;
//! * `patchStrategy:"merge"` with a `patchMergeKey` merges list elements
//!   (objects) that have the same value of the key;
//! * `patchStrategy:"merge"` on a list of strings merges it as a set;
//! * `patchStrategy:"replace"` on an object field replaces the object whole;
//! * object fields are otherwise merged key by key (maps like `labels` or a
//!   ConfigMap's `data` included).
//!
//! (`patchStrategy:"retainKeys"` needs no entry: a server honours a
//! `$retainKeys` directive wherever it appears.)
//!
//! Notable facts, checked against the API types: `tolerations`,
//! `readinessGates`, node `taints`, `containerStatuses`, `envFrom`,
//! `resizePolicy`, a StatefulSet's `volumeClaimTemplates` and every list of
//! an Endpoints' `subsets` are atomic; `ports` of a container merge by
//! `containerPort` alone and a Service's by `port` alone.

/// How a list field is patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListStrategy {
    /// Replaced whole (no patch strategy).
    Atomic,
    /// Elements are objects merged by the value of this key.
    MergeByKey(&'static str),
    /// Elements are scalars merged as a set.
    MergeSet,
}

/// The patch metadata of one field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldMeta {
    pub(crate) list: ListStrategy,
    /// `patchStrategy:"replace"` on an object field.
    pub(crate) replace_object: bool,
    /// The type of the field's value, or of its list elements.
    pub(crate) ty: Option<Ty>,
}

impl FieldMeta {
    /// The metadata of a field nothing is known about.
    pub(crate) const PLAIN: FieldMeta = FieldMeta {
        list: ListStrategy::Atomic,
        replace_object: false,
        ty: None,
    };
}

struct Field {
    name: &'static str,
    meta: FieldMeta,
}

const fn child(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        meta: FieldMeta {
            list: ListStrategy::Atomic,
            replace_object: false,
            ty: Some(ty),
        },
    }
}

const fn merge(name: &'static str, key: &'static str, ty: Option<Ty>) -> Field {
    Field {
        name,
        meta: FieldMeta {
            list: ListStrategy::MergeByKey(key),
            replace_object: false,
            ty,
        },
    }
}

const fn set(name: &'static str) -> Field {
    Field {
        name,
        meta: FieldMeta {
            list: ListStrategy::MergeSet,
            replace_object: false,
            ty: None,
        },
    }
}

const fn replace(name: &'static str) -> Field {
    Field {
        name,
        meta: FieldMeta {
            list: ListStrategy::Atomic,
            replace_object: true,
            ty: None,
        },
    }
}

/// The built-in types that have (or contain) fields with patch metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    // Top-level kinds.
    /// Any kind whose only notable field is `metadata`.
    MetadataOnly,
    Pod,
    PodTemplate,
    ReplicationController,
    Service,
    Node,
    Namespace,
    ServiceAccount,
    PersistentVolumeClaim,
    ComponentStatus,
    Deployment,
    ReplicaSet,
    DaemonSet,
    StatefulSet,
    Job,
    CronJob,
    HorizontalPodAutoscaler,
    PodDisruptionBudget,
    ServiceCidr,
    CsiNode,
    FlowSchema,
    PriorityLevelConfiguration,
    ValidatingWebhookConfiguration,
    MutatingWebhookConfiguration,
    ValidatingAdmissionPolicy,
    MutatingAdmissionPolicy,
    ResourceClaim,
    // Nested types.
    ObjectMeta,
    PodTemplateSpec,
    PodSpec,
    Container,
    PodStatus,
    ReplicationControllerSpec,
    ServiceSpec,
    NodeSpec,
    NodeStatus,
    CsiNodeSpec,
    ConditionsStatus,
    WorkloadSpec,
    StatefulSetSpec,
    PersistentVolumeClaimTemplate,
    CronJobSpec,
    JobTemplateSpec,
    JobSpec,
    PodDisruptionBudgetSpec,
    Webhook,
    AdmissionPolicySpec,
    ResourceClaimStatus,
}

const METADATA: Field = child("metadata", Ty::ObjectMeta);
/// `status` of the many kinds whose status only has `conditions` merged by type.
const CONDITIONS_STATUS: Field = child("status", Ty::ConditionsStatus);

impl Ty {
    fn fields(self) -> &'static [Field] {
        match self {
            Ty::MetadataOnly => const { &[METADATA] },
            Ty::Pod => {
                const {
                    &[
                        METADATA,
                        child("spec", Ty::PodSpec),
                        child("status", Ty::PodStatus),
                    ]
                }
            }
            Ty::PodTemplate => const { &[METADATA, child("template", Ty::PodTemplateSpec)] },
            Ty::ReplicationController => {
                const {
                    &[
                        METADATA,
                        child("spec", Ty::ReplicationControllerSpec),
                        CONDITIONS_STATUS,
                    ]
                }
            }
            Ty::Service => const { &[METADATA, child("spec", Ty::ServiceSpec), CONDITIONS_STATUS] },
            Ty::Node => {
                const {
                    &[
                        METADATA,
                        child("spec", Ty::NodeSpec),
                        child("status", Ty::NodeStatus),
                    ]
                }
            }
            Ty::Namespace
            | Ty::PersistentVolumeClaim
            | Ty::HorizontalPodAutoscaler
            | Ty::ServiceCidr
            | Ty::FlowSchema
            | Ty::PriorityLevelConfiguration => const { &[METADATA, CONDITIONS_STATUS] },
            Ty::ValidatingWebhookConfiguration | Ty::MutatingWebhookConfiguration => {
                const { &[METADATA, merge("webhooks", "name", Some(Ty::Webhook))] }
            }
            Ty::ValidatingAdmissionPolicy | Ty::MutatingAdmissionPolicy => {
                const { &[METADATA, child("spec", Ty::AdmissionPolicySpec)] }
            }
            Ty::ResourceClaim => const { &[METADATA, child("status", Ty::ResourceClaimStatus)] },
            Ty::ServiceAccount => const { &[METADATA, merge("secrets", "name", None)] },
            Ty::ComponentStatus => const { &[METADATA, merge("conditions", "type", None)] },
            Ty::Deployment | Ty::ReplicaSet | Ty::DaemonSet => {
                const { &[METADATA, child("spec", Ty::WorkloadSpec), CONDITIONS_STATUS] }
            }
            Ty::StatefulSet => {
                const {
                    &[
                        METADATA,
                        child("spec", Ty::StatefulSetSpec),
                        CONDITIONS_STATUS,
                    ]
                }
            }
            Ty::Job => const { &[METADATA, child("spec", Ty::JobSpec), CONDITIONS_STATUS] },
            Ty::CronJob => const { &[METADATA, child("spec", Ty::CronJobSpec)] },
            Ty::PodDisruptionBudget => {
                const {
                    &[
                        METADATA,
                        child("spec", Ty::PodDisruptionBudgetSpec),
                        CONDITIONS_STATUS,
                    ]
                }
            }
            Ty::CsiNode => const { &[METADATA, child("spec", Ty::CsiNodeSpec)] },

            Ty::ObjectMeta => const { &[merge("ownerReferences", "uid", None), set("finalizers")] },
            Ty::PodTemplateSpec => const { &[METADATA, child("spec", Ty::PodSpec)] },
            Ty::PodSpec => {
                const {
                    &[
                        merge("volumes", "name", None),
                        merge("initContainers", "name", Some(Ty::Container)),
                        merge("containers", "name", Some(Ty::Container)),
                        merge("ephemeralContainers", "name", Some(Ty::Container)),
                        merge("imagePullSecrets", "name", None),
                        merge("hostAliases", "ip", None),
                        merge("topologySpreadConstraints", "topologyKey", None),
                        merge("schedulingGates", "name", None),
                        merge("resourceClaims", "name", None),
                    ]
                }
            }
            Ty::Container => {
                const {
                    &[
                        merge("ports", "containerPort", None),
                        merge("env", "name", None),
                        merge("volumeMounts", "mountPath", None),
                        merge("volumeDevices", "devicePath", None),
                    ]
                }
            }
            Ty::PodStatus => {
                const {
                    &[
                        merge("conditions", "type", None),
                        merge("hostIPs", "ip", None),
                        merge("podIPs", "ip", None),
                        merge("resourceClaimStatuses", "name", None),
                    ]
                }
            }
            Ty::ReplicationControllerSpec => const { &[child("template", Ty::PodTemplateSpec)] },
            Ty::ServiceSpec => const { &[merge("ports", "port", None)] },
            Ty::NodeSpec => const { &[set("podCIDRs")] },
            Ty::NodeStatus => {
                const {
                    &[
                        merge("conditions", "type", None),
                        merge("addresses", "type", None),
                    ]
                }
            }
            Ty::CsiNodeSpec => const { &[merge("drivers", "name", None)] },
            Ty::ConditionsStatus => const { &[merge("conditions", "type", None)] },
            Ty::WorkloadSpec => const { &[child("template", Ty::PodTemplateSpec)] },
            Ty::StatefulSetSpec => {
                const {
                    &[
                        child("template", Ty::PodTemplateSpec),
                        child("volumeClaimTemplates", Ty::PersistentVolumeClaimTemplate),
                    ]
                }
            }
            Ty::PersistentVolumeClaimTemplate => const { &[METADATA] },
            Ty::CronJobSpec => const { &[child("jobTemplate", Ty::JobTemplateSpec)] },
            Ty::JobTemplateSpec => const { &[METADATA, child("spec", Ty::JobSpec)] },
            Ty::JobSpec => const { &[child("template", Ty::PodTemplateSpec)] },
            Ty::PodDisruptionBudgetSpec => const { &[replace("selector")] },
            Ty::Webhook => const { &[merge("matchConditions", "name", None)] },
            Ty::AdmissionPolicySpec => {
                const {
                    &[
                        merge("matchConditions", "name", None),
                        merge("variables", "name", None),
                    ]
                }
            }
            Ty::ResourceClaimStatus => const { &[merge("reservedFor", "uid", None)] },
        }
    }

    /// The patch metadata of field `name` of this type.
    pub(crate) fn field(self, name: &str) -> FieldMeta {
        self.fields()
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.meta)
            .unwrap_or(FieldMeta::PLAIN)
    }
}

/// The metadata of field `name` in a value of type `ty` (unknown type: plain).
pub(crate) fn field_meta(ty: Option<Ty>, name: &str) -> FieldMeta {
    ty.map(|t| t.field(name)).unwrap_or(FieldMeta::PLAIN)
}

/// Kinds with patch metadata beyond `metadata`, and the root type of each.
const KINDS: &[(&str, Ty)] = &[
    ("Pod", Ty::Pod),
    ("PodTemplate", Ty::PodTemplate),
    ("ReplicationController", Ty::ReplicationController),
    ("Service", Ty::Service),
    ("Node", Ty::Node),
    ("Namespace", Ty::Namespace),
    ("ServiceAccount", Ty::ServiceAccount),
    ("PersistentVolumeClaim", Ty::PersistentVolumeClaim),
    ("ComponentStatus", Ty::ComponentStatus),
    ("Deployment", Ty::Deployment),
    ("ReplicaSet", Ty::ReplicaSet),
    ("DaemonSet", Ty::DaemonSet),
    ("StatefulSet", Ty::StatefulSet),
    ("Job", Ty::Job),
    ("CronJob", Ty::CronJob),
    ("HorizontalPodAutoscaler", Ty::HorizontalPodAutoscaler),
    ("PodDisruptionBudget", Ty::PodDisruptionBudget),
    ("ServiceCIDR", Ty::ServiceCidr),
    ("CSINode", Ty::CsiNode),
    ("FlowSchema", Ty::FlowSchema),
    ("PriorityLevelConfiguration", Ty::PriorityLevelConfiguration),
    (
        "ValidatingWebhookConfiguration",
        Ty::ValidatingWebhookConfiguration,
    ),
    (
        "MutatingWebhookConfiguration",
        Ty::MutatingWebhookConfiguration,
    ),
    ("ValidatingAdmissionPolicy", Ty::ValidatingAdmissionPolicy),
    ("MutatingAdmissionPolicy", Ty::MutatingAdmissionPolicy),
    ("ResourceClaim", Ty::ResourceClaim),
];

/// Built-in kinds whose only fields with patch metadata are in `metadata`
/// (owner references merged by `uid`, finalizers merged as a set).
const METADATA_ONLY_KINDS: &[&str] = &[
    "APIService",
    "Binding",
    "CSIDriver",
    "CSIStorageCapacity",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "ConfigMap",
    "ControllerRevision",
    "CustomResourceDefinition",
    "EndpointSlice",
    "Endpoints",
    "Event",
    "Ingress",
    "IngressClass",
    "IPAddress",
    "Lease",
    "LimitRange",
    "MutatingAdmissionPolicyBinding",
    "NetworkPolicy",
    "PersistentVolume",
    "PriorityClass",
    "ResourceQuota",
    "Role",
    "RoleBinding",
    "RuntimeClass",
    "Secret",
    "StorageClass",
    "ValidatingAdmissionPolicyBinding",
    "VolumeAttachment",
];

/// The root type of a kind, if it is a known built-in kind.
pub(crate) fn root_type(kind: &str) -> Option<Ty> {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, ty)| *ty)
        .or_else(|| {
            METADATA_ONLY_KINDS
                .contains(&kind)
                .then_some(Ty::MetadataOnly)
        })
}

/// Whether the strategic merge patch knows the kind's patch metadata. For
/// other kinds (custom resources), [`super::strategic_merge_patch`] behaves
/// like a merge patch; a Kubernetes API server instead refuses strategic
/// merge patches for custom resources (415 Unsupported Media Type), and a
/// server may use this to do the same.
pub fn is_known_kind(kind: &str) -> bool {
    root_type(kind).is_some()
}

/// Every kind [`is_known_kind`] accepts, sorted.
pub fn known_kinds() -> Vec<&'static str> {
    let mut kinds: Vec<&'static str> = KINDS
        .iter()
        .map(|(k, _)| *k)
        .chain(METADATA_ONLY_KINDS.iter().copied())
        .collect();
    kinds.sort_unstable();
    kinds
}
