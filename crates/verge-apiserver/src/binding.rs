//! Binding a pod to a node: what `POST pods/NAME/binding` does, shared by the
//! HTTP handler and the in-process scheduler.

use serde_json::{Value, json};

use crate::object;
use crate::registry::ResourceType;
use crate::resources::{Part, Resources, WriteOptions, subject};
use crate::status::{ApiError, ApiResult};

/// Sets `spec.nodeName` and the PodScheduled condition. Fails with 409 when
/// the pod is already bound, is being deleted, or (with `uid`) is not the pod
/// the caller decided about.
pub async fn bind(
    resources: &Resources,
    pods: &ResourceType,
    namespace: &str,
    pod: &str,
    uid: Option<&str>,
    node: &str,
    opts: &WriteOptions,
) -> ApiResult<Value> {
    if node.is_empty() {
        return Err(ApiError::bad_request(
            "the Binding must name a node in target.name",
        ));
    }
    let written = resources
        .update(pods, Some(namespace), pod, Part::Binding, opts, |old| {
            let subj = subject(pods, "pods", pod);
            if let Some(current) = old
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                return Err(ApiError::conflict(
                    &subj,
                    &format!("pod {pod} is already assigned to node \"{current}\""),
                ));
            }
            if object::is_deleting(old) {
                return Err(ApiError::conflict(&subj, "the pod is being deleted"));
            }
            if let Some(uid) = uid
                && object::uid(old) != uid
            {
                return Err(ApiError::conflict(
                    &subj,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        object::uid(old)
                    ),
                ));
            }
            let mut new = old.clone();
            new["spec"]["nodeName"] = json!(node);
            let now = object::now_rfc3339();
            let mut conditions: Vec<Value> = old
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            conditions.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
            conditions.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
            new["status"]["conditions"] = json!(conditions);
            object::meta_mut(&mut new).remove("resourceVersion");
            Ok(new)
        })
        .await?;
    Ok(written.object)
}
