//! When a deletion waits and when it completes, by the rules of
//! kube-apiserver's generic registry (`rest.BeforeDelete`,
//! `Store.Delete` and `ShouldDeleteDuringUpdate`):
//!
//! - a graceful deletion (a pod on a node) marks the object with a deadline
//!   and its grace period; a later delete may only shorten that period;
//! - an object with finalizers is marked with a grace period of 0 and waits
//!   for them;
//! - an update completes a deletion only when it leaves no finalizers on an
//!   object whose grace period is 0, so a terminating pod survives its
//!   kubelet's status writes until the kubelet deletes it with grace 0.

use serde_json::{Value, json};

use crate::object;
use crate::registry::ResourceType;
use crate::resources::DeleteOptions;
use crate::status::{ApiError, ApiResult};

/// What a delete request does to the stored object.
#[derive(Debug)]
pub(super) enum Plan {
    /// Nothing to write: the deletion already under way stays as it is.
    Unchanged(Value),
    /// Store the object as marked for deletion; it waits.
    Mark(Value),
    /// Remove the object now.
    Remove(Value),
}

/// Decides a delete of `obj` (as stored) at `now`.
pub(super) fn plan(
    rt: &ResourceType,
    mut obj: Value,
    opts: &DeleteOptions,
    now: jiff::Timestamp,
) -> ApiResult<Plan> {
    let old_finalizers = object::finalizers(&obj);
    let finalizers = with_propagation(old_finalizers.clone(), opts)?;
    let deleting = object::is_deleting(&obj);
    let pending_grace = grace_period_of(&obj).filter(|g| *g > 0);

    // The grace period this request deletes with, if it is graceful.
    let grace = match pending_grace {
        Some(pending) if deleting => {
            // Only a shorter period may be asked for; the finalizers of a
            // pending graceful deletion no longer change.
            match opts.grace_period_seconds.map(|g| g.max(0)) {
                Some(g) if g < pending => {
                    let deadline = deletion_timestamp(&obj).unwrap_or(now)
                        - jiff::SignedDuration::from_secs(pending)
                        + jiff::SignedDuration::from_secs(g);
                    set_deadline(&mut obj, deadline.max(now), g);
                    Some(g)
                }
                _ => return Ok(Plan::Unchanged(obj)),
            }
        }
        // Already deleting with its period over: nothing left to wait for.
        _ if deleting => None,
        _ => {
            let g = default_grace(rt, &obj, opts);
            if g > 0 {
                set_deadline(&mut obj, now + jiff::SignedDuration::from_secs(g), g);
                Some(g)
            } else {
                None
            }
        }
    };

    let waits_for_content = is_namespace(rt) && !deleting;
    if grace.is_some_and(|g| g > 0) {
        set_finalizers(&mut obj, &finalizers);
        return Ok(Plan::Mark(obj));
    }
    if finalizers.is_empty() && !blocks_deletion(&obj) && !waits_for_content {
        return Ok(Plan::Remove(obj));
    }
    if deleting && grace.is_none() && finalizers == old_finalizers {
        return Ok(Plan::Unchanged(obj));
    }
    // Marked as deleting with its grace period over (`markAsDeleting`):
    // whoever owns the finalizers finishes the deletion.
    let deadline_passed = deletion_timestamp(&obj).is_some_and(|t| t <= now);
    if !deadline_passed {
        set_deadline(&mut obj, now, 0);
    }
    object::meta_mut(&mut obj).insert("deletionGracePeriodSeconds".into(), json!(0));
    set_finalizers(&mut obj, &finalizers);
    if is_namespace(rt) {
        obj["status"]["phase"] = json!("Terminating");
    }
    Ok(Plan::Mark(obj))
}

/// Whether an update that turned `old` into `new` completes a deletion
/// (`ShouldDeleteDuringUpdate`): `old` is being deleted with its grace
/// period over, and `new` keeps no finalizers.
pub(super) fn completes_on_update(old: &Value, new: &Value) -> bool {
    object::is_deleting(old)
        && grace_period_of(old).is_none_or(|g| g == 0)
        && object::finalizers(new).is_empty()
        && !blocks_deletion(new)
}

/// Namespaces wait for their content to go (spec.finalizers), as in Kubernetes.
pub(super) fn blocks_deletion(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Namespace")
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
}

/// Seconds a new deletion waits (the pod strategy's `CheckGracefulDelete`).
/// Only pods on a node wait for their node (the agent) to stop them;
/// unscheduled and finished pods, and everything else, go at once.
fn default_grace(rt: &ResourceType, obj: &Value, opts: &DeleteOptions) -> i64 {
    let is_pod = rt.kind == "Pod" && rt.group.is_empty();
    let on_node = obj
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let finished = matches!(
        obj.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if !is_pod || !on_node || finished {
        return 0;
    }
    opts.grace_period_seconds
        .or_else(|| {
            obj.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(30)
        .max(0)
}

/// The finalizers after the request's propagation policy.
fn with_propagation(mut finalizers: Vec<String>, opts: &DeleteOptions) -> ApiResult<Vec<String>> {
    match opts.propagation_policy.as_deref() {
        None | Some("Background") => {}
        Some("Foreground") => add_once(&mut finalizers, "foregroundDeletion"),
        Some("Orphan") => add_once(&mut finalizers, "orphan"),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy {other:?} is not one of Background, Foreground or Orphan"
            )));
        }
    }
    Ok(finalizers)
}

fn add_once(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|f| f == item) {
        list.push(item.to_owned());
    }
}

fn is_namespace(rt: &ResourceType) -> bool {
    rt.kind == "Namespace" && rt.group.is_empty()
}

fn grace_period_of(obj: &Value) -> Option<i64> {
    object::meta(obj)?
        .get("deletionGracePeriodSeconds")?
        .as_i64()
}

fn deletion_timestamp(obj: &Value) -> Option<jiff::Timestamp> {
    object::meta_str(obj, "deletionTimestamp")?.parse().ok()
}

fn set_deadline(obj: &mut Value, at: jiff::Timestamp, grace: i64) {
    let meta = object::meta_mut(obj);
    meta.insert(
        "deletionTimestamp".into(),
        Value::String(object::timestamp_rfc3339(at)),
    );
    meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
}

fn set_finalizers(obj: &mut Value, finalizers: &[String]) {
    let meta = object::meta_mut(obj);
    if finalizers.is_empty() {
        meta.remove("finalizers");
    } else {
        meta.insert("finalizers".into(), json!(finalizers));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn rt(group: &str, plural: &str) -> std::sync::Arc<ResourceType> {
        Registry::with_builtins()
            .lookup(group, "v1", plural)
            .expect("builtin type")
    }

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().expect("timestamp")
    }

    fn grace(seconds: i64) -> DeleteOptions {
        DeleteOptions {
            grace_period_seconds: Some(seconds),
            ..DeleteOptions::default()
        }
    }

    fn bound_pod() -> Value {
        json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"nodeName": "n1"}})
    }

    #[test]
    fn a_pod_on_a_node_waits_its_grace_period_and_only_shortens_it() {
        let pods = rt("", "pods");
        let now = at("2026-01-01T00:00:00Z");
        let Plan::Mark(marked) =
            plan(&pods, bound_pod(), &DeleteOptions::default(), now).expect("plan")
        else {
            panic!("a bound pod waits");
        };
        assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 30);
        assert_eq!(
            marked["metadata"]["deletionTimestamp"],
            "2026-01-01T00:00:30Z"
        );
        assert!(
            !completes_on_update(&marked, &marked),
            "status writes keep it"
        );

        let later = at("2026-01-01T00:00:10Z");
        assert!(matches!(
            plan(&pods, marked.clone(), &grace(60), later).expect("plan"),
            Plan::Unchanged(_)
        ));
        let Plan::Mark(shorter) = plan(&pods, marked.clone(), &grace(20), later).expect("plan")
        else {
            panic!("a shorter period is taken");
        };
        assert_eq!(shorter["metadata"]["deletionGracePeriodSeconds"], 20);
        assert_eq!(
            shorter["metadata"]["deletionTimestamp"], "2026-01-01T00:00:20Z",
            "the deadline moves earlier by the difference"
        );
        assert!(matches!(
            plan(&pods, marked, &grace(0), later).expect("plan"),
            Plan::Remove(_)
        ));
    }

    #[test]
    fn a_confirmed_pod_with_finalizers_waits_for_them_then_goes_on_update() {
        let pods = rt("", "pods");
        let now = at("2026-01-01T00:00:00Z");
        let mut pod = bound_pod();
        pod["metadata"]["finalizers"] = json!(["example.com/hold"]);
        let Plan::Mark(graceful) = plan(&pods, pod, &DeleteOptions::default(), now).expect("plan")
        else {
            panic!("waits");
        };
        let mut released = graceful.clone();
        object::meta_mut(&mut released).remove("finalizers");
        assert!(
            !completes_on_update(&graceful, &released),
            "its grace period is not over"
        );
        let Plan::Mark(confirmed) = plan(&pods, graceful, &grace(0), now).expect("plan") else {
            panic!("the finalizer still holds it");
        };
        assert_eq!(confirmed["metadata"]["deletionGracePeriodSeconds"], 0);
        let mut released = confirmed.clone();
        object::meta_mut(&mut released).remove("finalizers");
        assert!(completes_on_update(&confirmed, &released));
    }

    #[test]
    fn finalizers_mark_with_grace_zero_and_other_updates_keep_the_object() {
        let cms = rt("", "configmaps");
        let now = at("2026-01-01T00:00:00Z");
        let cm = json!({"kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a/b"]}});
        let Plan::Mark(marked) = plan(&cms, cm, &DeleteOptions::default(), now).expect("plan")
        else {
            panic!("waits for its finalizer");
        };
        assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 0);
        assert!(!completes_on_update(&marked, &marked));
        assert!(matches!(
            plan(&cms, marked.clone(), &DeleteOptions::default(), now).expect("plan"),
            Plan::Unchanged(_)
        ));
        let Plan::Mark(foreground) = plan(
            &cms,
            marked.clone(),
            &DeleteOptions {
                propagation_policy: Some("Foreground".into()),
                ..DeleteOptions::default()
            },
            now,
        )
        .expect("plan") else {
            panic!("finalizers change while not graceful");
        };
        assert_eq!(
            foreground["metadata"]["finalizers"],
            json!(["a/b", "foregroundDeletion"])
        );
        let mut released = marked.clone();
        object::meta_mut(&mut released).remove("finalizers");
        assert!(completes_on_update(&marked, &released));

        let bad = DeleteOptions {
            propagation_policy: Some("Sideways".into()),
            ..DeleteOptions::default()
        };
        assert_eq!(
            plan(&cms, marked, &bad, now)
                .expect_err("unknown policy")
                .code
                .as_u16(),
            400
        );
    }

    #[test]
    fn namespaces_wait_for_their_content_and_plain_objects_go_at_once() {
        let now = at("2026-01-01T00:00:00Z");
        let ns = json!({"kind": "Namespace", "metadata": {"name": "x"}, "spec": {"finalizers": ["kubernetes"]}});
        let Plan::Mark(terminating) =
            plan(&rt("", "namespaces"), ns, &DeleteOptions::default(), now).expect("plan")
        else {
            panic!("namespaces wait");
        };
        assert_eq!(terminating["status"]["phase"], "Terminating");
        let mut emptied = terminating.clone();
        emptied["spec"]["finalizers"] = json!([]);
        assert!(!completes_on_update(&terminating, &terminating));
        assert!(completes_on_update(&terminating, &emptied));

        let cm = json!({"kind": "ConfigMap", "metadata": {"name": "c"}});
        assert!(matches!(
            plan(&rt("", "configmaps"), cm, &grace(30), now).expect("plan"),
            Plan::Remove(_)
        ));
    }
}
