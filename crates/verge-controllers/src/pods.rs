//! What several controllers need to know about pods and the objects that own
//! them: who controls an object, which pods count as active, ready or
//! available, and how a pod is made from a template.

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use verge_apimachinery::labels::Selector;
use verge_runtime::ObjectRef;

/// The ownerReference with `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|r| r.controller == Some(true))
}

/// Parses a typed label selector. `None` or an invalid selector is an error
/// for workloads: an empty selector would adopt every pod of the namespace.
pub fn selector(sel: Option<&LabelSelector>) -> Result<Selector, String> {
    let Some(sel) = sel else {
        return Err("spec.selector is required".into());
    };
    let value = serde_json::to_value(sel).map_err(|e| e.to_string())?;
    Selector::from_label_selector(&value).map_err(|e| e.to_string())
}

pub fn is_deleting(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

/// Succeeded or Failed.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Counts toward a controller's replicas: not finished, not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && !is_deleting(&pod.metadata)
}

/// The pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// When the pod last became Ready, if it is Ready.
pub fn ready_since(pod: &Pod) -> Option<jiff::Timestamp> {
    let cond = pod
        .status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    if cond.status != "True" {
        return None;
    }
    Some(
        cond.last_transition_time
            .as_ref()
            .map_or(jiff::Timestamp::UNIX_EPOCH, |t| t.0),
    )
}

/// Ready for at least `min_ready_seconds` at `now`.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: jiff::Timestamp) -> bool {
    match ready_since(pod) {
        Some(_) if min_ready_seconds <= 0 => true,
        Some(since) => now.as_second() - since.as_second() >= i64::from(min_ready_seconds),
        None => false,
    }
}

/// A new pod from `template`, controlled by `owner`, in `namespace`.
/// `name` is used as is; otherwise `generate_name` asks the API for a
/// unique suffix.
pub fn from_template(
    template: &PodTemplateSpec,
    owner: &ObjectRef,
    namespace: &str,
    name: Option<String>,
    generate_name: Option<String>,
) -> Pod {
    let t = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            name,
            generate_name,
            namespace: Some(namespace.to_owned()),
            labels: t.labels,
            annotations: t.annotations,
            finalizers: t.finalizers,
            owner_references: Some(vec![owner.controller_owner()]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn pod_ready_at(ts: Option<jiff::Timestamp>) -> Pod {
        Pod {
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ts.is_some() { "True" } else { "False" }.into(),
                    last_transition_time: ts.map(Time),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let t0 = jiff::Timestamp::from_second(1_000).expect("ts");
        let pod = pod_ready_at(Some(t0));
        assert!(is_ready(&pod));
        assert!(is_available(&pod, 0, t0));
        let t5 = jiff::Timestamp::from_second(1_005).expect("ts");
        assert!(!is_available(&pod, 10, t5));
        assert!(is_available(&pod, 5, t5));
        assert!(!is_ready(&pod_ready_at(None)));
    }

    #[test]
    fn missing_selector_is_an_error() {
        assert!(selector(None).is_err());
        let sel = LabelSelector {
            match_labels: Some([("app".to_owned(), "web".to_owned())].into()),
            ..LabelSelector::default()
        };
        let s = selector(Some(&sel)).expect("valid");
        assert!(s.matches(&[("app".to_owned(), "web".to_owned())].into()));
    }
}
