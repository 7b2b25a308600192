//! The kinds we can decode, keyed by apiVersion and kind.

use k8s_pb::api::apps::v1 as apps_v1;
use k8s_pb::api::authentication::v1 as authentication_v1;
use k8s_pb::api::authorization::v1 as authorization_v1;
use k8s_pb::api::autoscaling::v1 as autoscaling_v1;
use k8s_pb::api::autoscaling::v2 as autoscaling_v2;
use k8s_pb::api::batch::v1 as batch_v1;
use k8s_pb::api::certificates::v1 as certificates_v1;
use k8s_pb::api::coordination::v1 as coordination_v1;
use k8s_pb::api::core::v1 as core_v1;
use k8s_pb::api::events::v1 as events_v1;
use k8s_pb::api::networking::v1 as networking_v1;
use k8s_pb::api::policy::v1 as policy_v1;
use k8s_pb::api::rbac::v1 as rbac_v1;
use k8s_pb::api::scheduling::v1 as scheduling_v1;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta_v1;
use prost::Message;
use serde_json::{Map, Value};

use super::json::{FieldError, ToJson};
use super::lossless::{self, Mismatch};

/// Why an object message could not be converted.
#[derive(Debug)]
pub(super) enum ObjectError {
    /// prost could not decode the bytes.
    Malformed(prost::DecodeError),
    /// The bytes contain a field prost does not know.
    UnknownField(Mismatch),
    /// A value has no JSON form (bad time, quantity, ...).
    Invalid(FieldError),
}

type Decoder = fn(&[u8]) -> Result<Map<String, Value>, ObjectError>;

pub(super) struct Kind {
    pub(super) api_version: &'static str,
    pub(super) kind: &'static str,
    decode: Decoder,
}

const fn kind<T: Message + Default + ToJson>(
    api_version: &'static str,
    kind: &'static str,
) -> Kind {
    Kind {
        api_version,
        kind,
        decode: decode::<T>,
    }
}

fn decode<T: Message + Default + ToJson>(raw: &[u8]) -> Result<Map<String, Value>, ObjectError> {
    let message = T::decode(raw).map_err(ObjectError::Malformed)?;
    lossless::check(raw, &message.encode_to_vec()).map_err(ObjectError::UnknownField)?;
    match message.to_json().map_err(ObjectError::Invalid)? {
        Value::Object(fields) => Ok(fields),
        _ => Err(ObjectError::Invalid(FieldError::new(
            "object is not a JSON object",
        ))),
    }
}

impl Kind {
    pub(super) fn decode(&self, raw: &[u8]) -> Result<Map<String, Value>, ObjectError> {
        (self.decode)(raw)
    }
}

/// `DeleteOptions` is registered in every group version; its entry here
/// stands for all of them (see [`lookup`]).
const DELETE_OPTIONS: Kind = kind::<meta_v1::DeleteOptions>("meta.k8s.io/v1", "DeleteOptions");

pub(super) const KINDS: &[Kind] = &[
    // core
    kind::<core_v1::Binding>("v1", "Binding"),
    kind::<core_v1::ConfigMap>("v1", "ConfigMap"),
    kind::<core_v1::Endpoints>("v1", "Endpoints"),
    kind::<core_v1::Event>("v1", "Event"),
    kind::<core_v1::LimitRange>("v1", "LimitRange"),
    kind::<core_v1::Namespace>("v1", "Namespace"),
    kind::<core_v1::Node>("v1", "Node"),
    kind::<core_v1::PersistentVolumeClaim>("v1", "PersistentVolumeClaim"),
    kind::<core_v1::Pod>("v1", "Pod"),
    kind::<core_v1::PodTemplate>("v1", "PodTemplate"),
    kind::<core_v1::ReplicationController>("v1", "ReplicationController"),
    kind::<core_v1::ResourceQuota>("v1", "ResourceQuota"),
    kind::<core_v1::Secret>("v1", "Secret"),
    kind::<core_v1::Service>("v1", "Service"),
    kind::<core_v1::ServiceAccount>("v1", "ServiceAccount"),
    DELETE_OPTIONS,
    // apps
    kind::<apps_v1::DaemonSet>("apps/v1", "DaemonSet"),
    kind::<apps_v1::Deployment>("apps/v1", "Deployment"),
    kind::<apps_v1::ReplicaSet>("apps/v1", "ReplicaSet"),
    kind::<apps_v1::StatefulSet>("apps/v1", "StatefulSet"),
    // batch
    kind::<batch_v1::CronJob>("batch/v1", "CronJob"),
    kind::<batch_v1::Job>("batch/v1", "Job"),
    // policy
    kind::<policy_v1::Eviction>("policy/v1", "Eviction"),
    kind::<policy_v1::PodDisruptionBudget>("policy/v1", "PodDisruptionBudget"),
    // autoscaling
    kind::<autoscaling_v1::HorizontalPodAutoscaler>("autoscaling/v1", "HorizontalPodAutoscaler"),
    kind::<autoscaling_v1::Scale>("autoscaling/v1", "Scale"),
    kind::<autoscaling_v2::HorizontalPodAutoscaler>("autoscaling/v2", "HorizontalPodAutoscaler"),
    // authentication and authorization
    kind::<authentication_v1::SelfSubjectReview>("authentication.k8s.io/v1", "SelfSubjectReview"),
    kind::<authentication_v1::TokenRequest>("authentication.k8s.io/v1", "TokenRequest"),
    kind::<authentication_v1::TokenReview>("authentication.k8s.io/v1", "TokenReview"),
    kind::<authorization_v1::LocalSubjectAccessReview>(
        "authorization.k8s.io/v1",
        "LocalSubjectAccessReview",
    ),
    kind::<authorization_v1::SelfSubjectAccessReview>(
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
    ),
    kind::<authorization_v1::SelfSubjectRulesReview>(
        "authorization.k8s.io/v1",
        "SelfSubjectRulesReview",
    ),
    kind::<authorization_v1::SubjectAccessReview>("authorization.k8s.io/v1", "SubjectAccessReview"),
    kind::<certificates_v1::CertificateSigningRequest>(
        "certificates.k8s.io/v1",
        "CertificateSigningRequest",
    ),
    // rbac
    kind::<rbac_v1::ClusterRole>("rbac.authorization.k8s.io/v1", "ClusterRole"),
    kind::<rbac_v1::ClusterRoleBinding>("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    kind::<rbac_v1::Role>("rbac.authorization.k8s.io/v1", "Role"),
    kind::<rbac_v1::RoleBinding>("rbac.authorization.k8s.io/v1", "RoleBinding"),
    // others
    kind::<coordination_v1::Lease>("coordination.k8s.io/v1", "Lease"),
    kind::<events_v1::Event>("events.k8s.io/v1", "Event"),
    kind::<networking_v1::Ingress>("networking.k8s.io/v1", "Ingress"),
    kind::<networking_v1::IngressClass>("networking.k8s.io/v1", "IngressClass"),
    kind::<networking_v1::NetworkPolicy>("networking.k8s.io/v1", "NetworkPolicy"),
    kind::<scheduling_v1::PriorityClass>("scheduling.k8s.io/v1", "PriorityClass"),
];

/// Finds the decoder for a kind. `DeleteOptions` is accepted with any `v1`
/// apiVersion: client-go sends it as `v1`, `meta.k8s.io/v1` or the group
/// version of the resource being deleted.
pub(super) fn lookup(api_version: &str, kind: &str) -> Option<&'static Kind> {
    if kind == DELETE_OPTIONS.kind && (api_version == "v1" || api_version.ends_with("/v1")) {
        return Some(&DELETE_OPTIONS);
    }
    KINDS
        .iter()
        .find(|k| k.api_version == api_version && k.kind == kind)
}
