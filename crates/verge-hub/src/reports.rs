//! Upstream reports: what an edge node asks the cloud to write, checked
//! against what that node may touch and written to the API server on its
//! behalf.
//!
//! A node may write only its own Node's status, its own Lease, the status
//! of pods bound to it and Events about those. Anything else is refused for
//! good (acknowledged with a rejection, never retried) and logged.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Value, json};
use verge_apimachinery::patch::strategic_merge_patch;
use verge_apiserver::registry::ResourceType;
use verge_apiserver::resources::{Part, Resources, WriteOptions};
use verge_apiserver::status::ApiError;
use verge_protocol::pb::{self, BodyType, ErrorCode, ReportKind};

/// The field manager of everything written from edge reports.
pub const FIELD_MANAGER: &str = "verge-edge";
/// Where node Leases live.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// What became of one report.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Refused for good: acknowledged with this code and message.
    Rejected(ErrorCode, String),
    /// Not written now (the API server is unavailable or kept conflicting):
    /// not acknowledged, the edge sends it again.
    Retry(String),
}

/// Writes reports and remembers, per node, how far its report stream has
/// been applied (Welcome's `reports_applied`). That memory is the hub's
/// only: after a restart reports are applied again, which is harmless as
/// their bodies are idempotent.
pub struct ReportWriter {
    resources: Arc<Resources>,
    applied: Mutex<HashMap<Arc<str>, (String, u64)>>,
}

impl ReportWriter {
    pub fn new(resources: Arc<Resources>) -> ReportWriter {
        ReportWriter {
            resources,
            applied: Mutex::new(HashMap::new()),
        }
    }

    /// The last sequence applied from `node`'s report stream `stream` (0
    /// for a stream the hub has not seen: sequences start at 1).
    pub fn applied(&self, node: &str, stream: &str) -> u64 {
        match self.applied.lock().get(node) {
            Some((s, seq)) if s == stream => *seq,
            _ => 0,
        }
    }

    /// Records that `sequence` of `node`'s stream is dealt with.
    pub fn mark_applied(&self, node: &Arc<str>, stream: &str, sequence: u64) {
        let mut applied = self.applied.lock();
        let entry = applied
            .entry(node.clone())
            .or_insert_with(|| (stream.to_owned(), 0));
        if entry.0 != stream {
            *entry = (stream.to_owned(), 0);
        }
        entry.1 = entry.1.max(sequence);
    }

    /// Authorizes and writes one report of `node`.
    pub async fn apply(&self, node: &str, report: &pb::Report) -> Outcome {
        let kind = ReportKind::try_from(report.kind).unwrap_or(ReportKind::Unspecified);
        let body_type = BodyType::try_from(report.body_type).unwrap_or(BodyType::Unspecified);
        let Some(key) = report.key.as_ref() else {
            return invalid("the report names no object");
        };
        let outcome = match kind {
            ReportKind::NodeStatus => self.node_status(node, key, body_type, &report.body).await,
            ReportKind::Lease => self.lease(node, key, body_type, &report.body).await,
            ReportKind::PodStatus => self.pod_status(node, key, body_type, &report.body).await,
            ReportKind::Event => self.event(node, body_type, &report.body).await,
            ReportKind::DeviceTwin | ReportKind::Unspecified => Outcome::Rejected(
                ErrorCode::Unimplemented,
                format!("report kind {kind:?} is not handled by this hub"),
            ),
        };
        if let Outcome::Rejected(code, message) = &outcome {
            tracing::warn!(
                node,
                sequence = report.sequence,
                kind = ?kind,
                namespace = key.namespace,
                name = key.name,
                ?code,
                message,
                "refused an edge report"
            );
        }
        outcome
    }

    async fn node_status(
        &self,
        node: &str,
        key: &pb::ObjectKey,
        body_type: BodyType,
        body: &[u8],
    ) -> Outcome {
        if !is_resource(key, "", "nodes") || !key.namespace.is_empty() || key.name != node {
            return forbidden(node, "write the status of another node");
        }
        self.patch_status("nodes", None, node, body_type, body)
            .await
    }

    async fn lease(
        &self,
        node: &str,
        key: &pb::ObjectKey,
        body_type: BodyType,
        body: &[u8],
    ) -> Outcome {
        if !is_resource(key, "coordination.k8s.io", "leases")
            || key.namespace != LEASE_NAMESPACE
            || key.name != node
        {
            return forbidden(node, "write a Lease other than its own");
        }
        let patch = match patch_body(body_type, &[BodyType::MergePatch], body) {
            Ok(p) => p,
            Err(o) => return o,
        };
        outcome_of(write_lease(&self.resources, node, &patch).await)
    }

    async fn pod_status(
        &self,
        node: &str,
        key: &pb::ObjectKey,
        body_type: BodyType,
        body: &[u8],
    ) -> Outcome {
        if !is_resource(key, "", "pods") {
            return forbidden(node, "write pod status through a non-pod key");
        }
        match self.pod_node(&key.namespace, &key.name) {
            Some((bound, uid)) if bound == node && (key.uid.is_empty() || key.uid == uid) => {}
            // A pod that is gone (or was replaced) has no status to take:
            // final, not an authorization failure.
            None => {
                return Outcome::Rejected(ErrorCode::NotFound, "the pod no longer exists".into());
            }
            Some((bound, uid)) if bound == node => {
                return Outcome::Rejected(
                    ErrorCode::NotFound,
                    format!("the pod was replaced (uid {uid}, report for {})", key.uid),
                );
            }
            Some(_) => return forbidden(node, "write the status of a pod not bound to it"),
        }
        self.patch_status("pods", Some(&key.namespace), &key.name, body_type, body)
            .await
    }

    /// Applies a merge or strategic merge patch to the status of a core/v1
    /// object. A condition whose status the report does not change keeps
    /// its lastTransitionTime: a report replayed after a reconnect is not a
    /// transition.
    async fn patch_status(
        &self,
        plural: &str,
        ns: Option<&str>,
        name: &str,
        body_type: BodyType,
        body: &[u8],
    ) -> Outcome {
        let strategic = body_type == BodyType::StrategicMergePatch;
        let patch = match patch_body(body_type, STATUS_PATCHES, body) {
            Ok(p) => p,
            Err(o) => return o,
        };
        let Some(rt) = self.rt("", "v1", plural) else {
            return Outcome::Retry(format!("{plural} are not served"));
        };
        let written = self
            .resources
            .update(&rt, ns, name, Part::Status, &options(), |old| {
                let mut new = if strategic {
                    strategic_merge_patch(old, &patch, &rt.kind).map_err(|e| ApiError::patch(&e))?
                } else {
                    verge_apimachinery::patch::merge_patch(old, &patch)
                };
                keep_transition_times(old, &mut new);
                Ok(new)
            })
            .await;
        outcome_of(written.map(|_| ()))
    }

    async fn event(&self, node: &str, body_type: BodyType, body: &[u8]) -> Outcome {
        if body_type != BodyType::Create {
            return invalid("events are reported as whole objects to create");
        }
        let event: Value = match serde_json::from_slice(body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return invalid("the event is not a JSON object"),
        };
        let involved = &event["involvedObject"];
        let field = |v: &Value, f: &str| v[f].as_str().unwrap_or_default().to_owned();
        let (kind, ns, name) = (
            field(involved, "kind"),
            field(involved, "namespace"),
            field(involved, "name"),
        );
        let allowed = match kind.as_str() {
            "Node" => name == node,
            "Pod" => self
                .pod_node(&ns, &name)
                .is_some_and(|(bound, _)| bound == node),
            _ => false,
        };
        if !allowed {
            return forbidden(node, "report an event about an object that is not its own");
        }
        let event_ns = match event["metadata"]["namespace"].as_str() {
            Some(n) if !n.is_empty() => n.to_owned(),
            _ if kind == "Pod" => ns,
            _ => "default".to_owned(),
        };
        let Some(rt) = self.rt("", "v1", "events") else {
            return Outcome::Retry("events are not served".into());
        };
        let created = self
            .resources
            .create(&rt, Some(&event_ns), event, &options())
            .await;
        match created {
            // Redelivery after a lost ack: the event is already there.
            Err(e) if e.code.as_u16() == 409 => Outcome::Applied,
            other => outcome_of(other.map(|_| ())),
        }
    }

    fn rt(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.resources.registry.lookup(group, version, plural)
    }

    /// The node a pod is bound to and its uid, from the watch cache.
    fn pod_node(&self, ns: &str, name: &str) -> Option<(String, String)> {
        let obj = self
            .resources
            .cache
            .get_now(&format!("/registry/pods/{ns}/{name}"))?;
        let pod: Value = serde_json::from_slice(&obj.bytes).ok()?;
        Some((
            pod["spec"]["nodeName"].as_str()?.to_owned(),
            pod["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ))
    }
}

/// Merge-patches `node`'s Lease in kube-node-lease, creating it when
/// missing (and patching after all when it was created meanwhile: a LEASE
/// report and a renewal from liveness, or the sessions of a reconnecting
/// node, can race). `holderIdentity` is always the node. The one way the
/// hub writes a Lease: for LEASE reports and for renewals from channel
/// liveness.
pub(crate) async fn write_lease(
    resources: &Resources,
    node: &str,
    patch: &Value,
) -> Result<(), ApiError> {
    let Some(rt) = resources
        .registry
        .lookup("coordination.k8s.io", "v1", "leases")
    else {
        return Err(ApiError::unavailable("leases are not served"));
    };
    let apply = |base: &Value| {
        let mut lease = verge_apimachinery::patch::merge_patch(base, patch);
        lease["spec"]["holderIdentity"] = Value::String(node.to_owned());
        lease
    };
    let ns = Some(LEASE_NAMESPACE);
    let opts = options();
    let update = || resources.update(&rt, ns, node, Part::Main, &opts, |old| Ok(apply(old)));
    match update().await {
        Err(e) if e.code.as_u16() == 404 => {
            let mut skeleton = json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": node, "namespace": LEASE_NAMESPACE},
            });
            // Owned by the Node, as kubelet's is, so deleting the Node
            // collects its Lease.
            if let Some(uid) = node_uid(resources, node).await {
                skeleton["metadata"]["ownerReferences"] = json!([{
                    "apiVersion": "v1",
                    "kind": "Node",
                    "name": node,
                    "uid": uid,
                }]);
            }
            match resources.create(&rt, ns, apply(&skeleton), &opts).await {
                Err(e) if e.code.as_u16() == 409 => update().await.map(|_| ()),
                other => other.map(|_| ()),
            }
        }
        other => other.map(|_| ()),
    }
}

/// The uid of the Node named `node`, if it exists.
async fn node_uid(resources: &Resources, node: &str) -> Option<String> {
    let rt = resources.registry.lookup("", "v1", "nodes")?;
    let cached = resources.get(&rt, None, node).await.ok()?;
    Some(verge_apiserver::object::uid(&cached.value()).to_owned()).filter(|u| !u.is_empty())
}

fn options() -> WriteOptions {
    WriteOptions {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..WriteOptions::default()
    }
}

fn is_resource(key: &pb::ObjectKey, group: &str, plural: &str) -> bool {
    key.kind
        .as_ref()
        .is_some_and(|k| k.group == group && k.resource == plural)
}

fn invalid(message: &str) -> Outcome {
    Outcome::Rejected(ErrorCode::Invalid, message.to_owned())
}

fn forbidden(node: &str, what: &str) -> Outcome {
    Outcome::Rejected(
        ErrorCode::Unauthorized,
        format!("node {node} may not {what}"),
    )
}

/// The patch in a report body of one of the `accepted` types.
fn patch_body(body_type: BodyType, accepted: &[BodyType], body: &[u8]) -> Result<Value, Outcome> {
    if !accepted.contains(&body_type) {
        return Err(Outcome::Rejected(
            ErrorCode::Unimplemented,
            format!(
                "body type {body_type:?} is not accepted for this report kind; send one of {accepted:?}"
            ),
        ));
    }
    match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(invalid("the patch is not a JSON object")),
        Err(e) => Err(invalid(&format!("the patch is not JSON: {e}"))),
    }
}

/// Status patches: a merge patch, or a strategic one as kubelet sends.
const STATUS_PATCHES: &[BodyType] = &[BodyType::MergePatch, BodyType::StrategicMergePatch];

/// Gives each condition in `new`'s status whose type and status are the
/// same as in `old` the old lastTransitionTime.
fn keep_transition_times(old: &Value, new: &mut Value) {
    let Some(before) = old.pointer("/status/conditions").and_then(Value::as_array) else {
        return;
    };
    let Some(after) = new
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for c in after.iter_mut() {
        let same = before
            .iter()
            .find(|b| b.get("type").is_some_and(|t| Some(t) == c.get("type")));
        if let (Some(b), Some(c)) = (same, c.as_object_mut())
            && b.get("status") == c.get("status")
            && let Some(t) = b.get("lastTransitionTime")
        {
            c.insert("lastTransitionTime".into(), t.clone());
        }
    }
}

/// Client errors are final (the same body would fail again); everything
/// else is worth another try.
fn outcome_of(result: Result<(), ApiError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Applied,
        Err(e) if e.code.as_u16() == 409 => Outcome::Retry(e.message),
        Err(e) if e.code.is_client_error() && e.code.as_u16() != 429 => {
            let code = if e.code.as_u16() == 404 {
                ErrorCode::NotFound
            } else {
                ErrorCode::Invalid
            };
            Outcome::Rejected(code, e.message)
        }
        Err(e) => Outcome::Retry(e.message),
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;

    fn key(group: &str, resource: &str) -> pb::ObjectKey {
        pb::ObjectKey {
            kind: Some(pb::ResourceKind {
                group: group.into(),
                version: "v1".into(),
                resource: resource.into(),
            }),
            ..pb::ObjectKey::default()
        }
    }

    #[test]
    fn a_key_names_a_resource_by_group_and_plural() {
        assert!(is_resource(&key("", "pods"), "", "pods"));
        assert!(!is_resource(&key("apps", "pods"), "", "pods"));
        assert!(!is_resource(&key("", "nodes"), "", "pods"));
        assert!(!is_resource(&pb::ObjectKey::default(), "", "pods"));
    }

    #[test]
    fn only_json_object_merge_patches_are_taken() {
        let merge = &[BodyType::MergePatch][..];
        assert!(patch_body(BodyType::MergePatch, merge, br#"{"status":{}}"#).is_ok());
        assert!(
            patch_body(
                BodyType::StrategicMergePatch,
                STATUS_PATCHES,
                br#"{"status":{}}"#
            )
            .is_ok()
        );
        for (body_type, body, code) in [
            (
                BodyType::ApplyPatch,
                &br#"{"status":{}}"#[..],
                ErrorCode::Unimplemented,
            ),
            (
                BodyType::StrategicMergePatch,
                &br#"{"status":{}}"#[..],
                ErrorCode::Unimplemented,
            ),
            (BodyType::MergePatch, &b"[1,2]"[..], ErrorCode::Invalid),
            (BodyType::MergePatch, &b"{oops"[..], ErrorCode::Invalid),
            (BodyType::MergePatch, &b""[..], ErrorCode::Invalid),
        ] {
            match patch_body(body_type, merge, body) {
                Err(Outcome::Rejected(c, _)) => assert_eq!(c, code, "{body_type:?} {body:?}"),
                other => panic!("{body_type:?} {body:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_condition_keeps_its_transition_time_until_its_status_changes() {
        let old = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "T0"},
            {"type": "DiskPressure", "status": "False", "lastTransitionTime": "T0"},
        ]}});
        let mut new = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "T1"},
            {"type": "DiskPressure", "status": "True", "lastTransitionTime": "T1"},
            {"type": "PIDPressure", "status": "False", "lastTransitionTime": "T1"},
        ]}});
        keep_transition_times(&old, &mut new);
        let times: Vec<&str> = new["status"]["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .map(|c| c["lastTransitionTime"].as_str().expect("time"))
            .collect();
        assert_eq!(times, ["T0", "T1", "T1"]);
    }

    #[test]
    fn client_errors_are_final_and_the_rest_is_retried() {
        let err = |code: u16| {
            Err(ApiError {
                code: StatusCode::from_u16(code).expect("status"),
                reason: "Reason",
                message: "message".into(),
                details: None,
            })
        };
        assert_eq!(outcome_of(Ok(())), Outcome::Applied);
        assert!(matches!(
            outcome_of(err(404)),
            Outcome::Rejected(ErrorCode::NotFound, _)
        ));
        assert!(matches!(
            outcome_of(err(422)),
            Outcome::Rejected(ErrorCode::Invalid, _)
        ));
        assert!(matches!(
            outcome_of(err(400)),
            Outcome::Rejected(ErrorCode::Invalid, _)
        ));
        // A conflict, throttling or a server error may pass next time.
        for code in [409, 429, 500, 503, 504] {
            assert!(matches!(outcome_of(err(code)), Outcome::Retry(_)), "{code}");
        }
    }

    #[test]
    fn refusals_name_the_node_and_what_it_tried() {
        match forbidden("edge-1", "write the status of another node") {
            Outcome::Rejected(ErrorCode::Unauthorized, m) => {
                assert_eq!(m, "node edge-1 may not write the status of another node")
            }
            other => panic!("{other:?}"),
        }
    }
}
