//! What several controllers need to know about pods and the objects that own
//! them: who controls an object, which pods count as active, ready or
//! available, and how a pod is made from a template.

pub mod claim;
pub mod owners;
pub mod revisions;

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

/// Waits until the watch cache holds every write the store has committed,
/// this controller's own included. A reconcile that starts with this sees
/// the pods it created a moment ago, so it never creates them twice while
/// they propagate (what kube-controller-manager's "expectations" guard
/// against with an informer that lags).
pub async fn caught_up(client: &verge_runtime::Client) -> Result<(), verge_runtime::Error> {
    client
        .cache()
        .sync()
        .await
        .map_err(|e| verge_runtime::Error::Other(format!("watch cache is behind: {e}")))
}

/// Pods in `namespace` that `selector` matches, plus the pods named by
/// `keys` (those a controller knows it owns, whatever their labels say now),
/// as the cache holds them.
pub fn candidates(
    client: &verge_runtime::Client,
    namespace: &str,
    selector: &Selector,
    keys: impl IntoIterator<Item = String>,
) -> Result<Vec<Pod>, verge_runtime::Error> {
    let prefix = client.prefix::<Pod>(Some(namespace))?;
    let filter = verge_runtime::Filter {
        prefix,
        labels: Some(selector.clone()),
        fields: None,
    };
    let mut seen = std::collections::BTreeMap::new();
    for obj in client.list_cached(&filter) {
        seen.insert(obj.key.clone(), obj);
    }
    for key in keys {
        if !seen.contains_key(&key)
            && let Some(obj) = client.cache().get_now(&key)
        {
            seen.insert(key, obj);
        }
    }
    seen.values()
        .map(|o| verge_runtime::Client::decode::<Pod>(o))
        .collect()
}

/// Runs up to `count` creations in batches of 1, 2, 4, ... (kube's slow
/// start), stopping after the first batch with a failure: a template the
/// API rejects costs one failed request, not `count`. Returns how many
/// succeeded and the first error.
pub async fn slow_start<F, Fut>(
    count: usize,
    mut create: F,
) -> (usize, Option<verge_runtime::Error>)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), verge_runtime::Error>>,
{
    let mut done = 0;
    let mut batch = 1;
    while done < count {
        let size = batch.min(count - done);
        let results = futures::future::join_all((done..done + size).map(&mut create)).await;
        let mut first_error = None;
        let mut ok = 0;
        for r in results {
            match r {
                Ok(()) => ok += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        done += size;
        if first_error.is_some() {
            return (done - size + ok, first_error);
        }
        batch *= 2;
    }
    (done, None)
}

/// The message of a refused create of a pod named by `generate_name`, with
/// the generated name put back to its prefix (`pods "web-" is forbidden:
/// …`, as kube-apiserver words it, since it names objects after admission).
/// Every retry then says the same thing, so the Event aggregates instead of
/// piling up one per attempt.
pub fn create_error_message(error: &verge_runtime::Error, generate_name: &str) -> String {
    let message = error.to_string();
    let quoted = format!("\"{generate_name}");
    let Some(start) = message.find(&quoted) else {
        return message;
    };
    let rest = &message[start + quoted.len()..];
    let suffix = rest.find('"').unwrap_or(0);
    if suffix == 0 || suffix > 8 || !rest[..suffix].bytes().all(|b| b.is_ascii_alphanumeric()) {
        return message;
    }
    format!("{}{}", &message[..start + quoted.len()], &rest[suffix..])
}

/// The label on DaemonSet and StatefulSet pods (and their
/// ControllerRevisions) naming the revision they were made from.
pub const CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";

/// A short, stable hash of `value` (key order does not matter) and a
/// collision count, spelled with kube's "safe" alphabet (no vowels, no
/// look-alike characters) so it can sit in names and label values.
pub fn template_hash(value: &serde_json::Value, collision_count: Option<i32>) -> String {
    let mut text = String::new();
    canonical_json(value, &mut text);
    if let Some(c) = collision_count {
        text.push_str(&c.to_string());
    }
    // FNV-1a, 32 bits: what kube uses, and ample for distinguishing the
    // few revisions of one object (collisions bump the count).
    let mut hash: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    hash.to_string()
        .bytes()
        .map(|d| char::from(ALPHABET[usize::from(d) % ALPHABET.len()]))
        .collect()
}

/// JSON with object keys sorted, so equal objects hash alike whatever
/// order their fields were written in.
fn canonical_json(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
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

    #[test]
    fn template_hash_ignores_key_order_and_counts_collisions() {
        let a = serde_json::json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": [1, 2]}});
        let b = serde_json::json!({"spec": {"x": [1, 2]}, "metadata": {"labels": {"b": "2", "a": "1"}}});
        let h = template_hash(&a, None);
        assert_eq!(h, template_hash(&b, None));
        assert_ne!(h, template_hash(&a, Some(1)));
        assert_ne!(
            h,
            template_hash(&serde_json::json!({"spec": {"x": [2, 1]}}), None)
        );
        assert!(
            h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{h}"
        );
        assert!(!h.is_empty() && h.len() <= 10);
    }

    #[test]
    fn refused_creates_name_the_prefix() {
        let e = verge_runtime::Error::Other(
            "403 (Forbidden): pods \"job-2th2d\" is forbidden: no PriorityClass".into(),
        );
        assert_eq!(
            create_error_message(&e, "job-"),
            "403 (Forbidden): pods \"job-\" is forbidden: no PriorityClass"
        );
        assert_eq!(create_error_message(&e, "other-"), e.to_string());
    }

    #[tokio::test]
    async fn slow_start_stops_after_the_first_failing_batch() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = AtomicUsize::new(0);
        let (ok, err) = slow_start(100, |i| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if i >= 5 {
                    Err(verge_runtime::Error::Other("rejected".into()))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        // Batches 1, 2, 4: the third batch (indexes 3..7) hits the failure.
        assert_eq!(calls.load(Ordering::SeqCst), 7);
        assert_eq!(ok, 5);
        assert!(err.is_some());
        let (ok, err) = slow_start(10, |_| async { Ok(()) }).await;
        assert_eq!((ok, err.is_none()), (10, true));
    }
}
