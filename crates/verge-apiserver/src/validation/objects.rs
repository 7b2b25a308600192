//! Semantic validation of objects, as kube-apiserver's per-kind validation
//! does it: formats of names and values, cross-field rules, and what may
//! change on update. Schema-level checks (types, unknown fields) live in
//! [`super::schema`]; this runs after defaulting, on every create and update.
//!
//! Field paths (`spec.containers[0].image`), reasons (`FieldValueRequired`)
//! and messages (`Required value`, `Invalid value: "Web_1": …`) are worded
//! as Kubernetes words them, so clients see familiar errors.

mod certificates;
mod corev1;
pub mod cron;
mod meta;
mod misc;
pub mod names;
mod pod;
pub mod quantity;
mod util;
mod volumes;
mod workloads;

#[cfg(test)]
mod tests;

use serde_json::Value;

pub use super::schema::FieldError;
pub use meta::{NameRule, TOTAL_ANNOTATION_SIZE_LIMIT, selector_matches};
pub use misc::HIGHEST_USER_DEFINABLE_PRIORITY;
pub use quantity::Quantity;

use crate::registry::ResourceType;
use util::Errs;

/// Validates `obj`, an object of type `rt`; `old` is the stored object when
/// this is an update. Returns every problem found (empty when valid).
///
/// Expects defaults to have been applied ([`crate::defaults::apply_defaults`]),
/// as kube-apiserver defaults before it validates: fields the defaulter always
/// sets (a container's `imagePullPolicy`, a port's `protocol`) are required.
pub fn validate(rt: &ResourceType, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Errs::default();
    meta::validate_object_meta(&mut errs, obj, old, rt.namespaced, name_rule(rt));
    if rt.is_custom() {
        return errs.list;
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Pod") => pod::validate_pod(&mut errs, obj, old),
        ("", "Service") => corev1::validate_service(&mut errs, obj, old),
        ("", "ConfigMap") => corev1::validate_config_map(&mut errs, obj, old),
        ("", "Secret") => corev1::validate_secret(&mut errs, obj, old),
        ("", "Namespace") => corev1::validate_namespace(&mut errs, obj),
        ("", "Node") => corev1::validate_node(&mut errs, obj, old),
        ("", "Endpoints") => corev1::validate_endpoints(&mut errs, obj),
        ("", "Event") => corev1::validate_event(&mut errs, obj),
        ("", "PersistentVolume") => volumes::validate_pv(&mut errs, obj, old),
        ("", "PersistentVolumeClaim") => volumes::validate_pvc(&mut errs, obj, old),
        ("apps", "Deployment") => workloads::validate_deployment(&mut errs, obj, old),
        ("apps", "ReplicaSet") => workloads::validate_replica_set(&mut errs, obj, old),
        ("apps", "DaemonSet") => workloads::validate_daemon_set(&mut errs, obj, old),
        ("apps", "StatefulSet") => workloads::validate_stateful_set(&mut errs, obj, old),
        ("apps", "ControllerRevision") => {
            workloads::validate_controller_revision(&mut errs, obj, old)
        }
        ("batch", "Job") => workloads::validate_job(&mut errs, obj, old),
        ("batch", "CronJob") => workloads::validate_cron_job(&mut errs, obj, old),
        ("coordination.k8s.io", "Lease") => misc::validate_lease(&mut errs, obj),
        ("discovery.k8s.io", "EndpointSlice") => misc::validate_endpoint_slice(&mut errs, obj, old),
        ("scheduling.k8s.io", "PriorityClass") => {
            misc::validate_priority_class(&mut errs, obj, old)
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => misc::validate_crd(&mut errs, obj),
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            certificates::validate_csr(&mut errs, obj, old)
        }
        // ServiceAccount and anything else: metadata only.
        _ => {}
    }
    errs.list
}

/// The rule names of a type's objects follow.
pub fn name_rule(rt: &ResourceType) -> NameRule {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => NameRule::Label,
        ("", "Service") => NameRule::Dns1035,
        (
            "rbac.authorization.k8s.io",
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding",
        ) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}
