//! Server-side apply (`kubectl apply --server-side`, kube-rs `Patch::Apply`):
//! `PATCH` with `application/apply-patch+yaml`, `fieldManager` required,
//! `force=true` to take conflicting fields. The object is created when it is
//! missing; otherwise the configuration is merged into it with the field
//! ownership rules of [`verge_apimachinery::apply`], and a conflict with
//! another manager answers 409 as kube-apiserver does.

use serde_json::{Map, Value, json};
use verge_apimachinery::apply::{ApplyError, Write};

use crate::object;
use crate::registry::ResourceType;
use crate::request::{self, Query};
use crate::resources::{Part, Resources, Written};
use crate::status::{ApiError, ApiResult};

pub async fn server_side_apply(
    resources: &Resources,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    part: Part,
    query: &Query,
    body: &[u8],
) -> ApiResult<Written> {
    let manager = query.field_manager.clone().ok_or_else(|| {
        ApiError::bad_request(
            "PATCH, apply requests require fieldManager: pass --field-manager or fieldManager=<name>",
        )
    })?;
    let applied = request::decode_yaml(body)?;
    if !applied.is_object() {
        return Err(ApiError::bad_request(
            "the applied configuration must be an object",
        ));
    }
    if let Some(n) = object::name(&applied)
        && n != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the applied object ({n}) does not match the name on the URL ({name})"
        )));
    }
    if applied.get("apiVersion").is_none() || applied.get("kind").is_none() {
        return Err(ApiError::bad_request(
            "the applied configuration must set apiVersion and kind",
        ));
    }
    let mut config = scope(rt, part, applied);
    object::meta_mut(&mut config).insert("name".into(), json!(name));
    let api_version = rt.api_version();
    let subresource = (part == Part::Status).then_some("status");
    let apply = |live: Option<&Value>| {
        let now = object::now_rfc3339();
        Write {
            manager: &manager,
            api_version: &api_version,
            kind: &rt.kind,
            subresource,
            now: &now,
        }
        .apply(live, &config, query.force)
        .map_err(|e| apply_error(&e))
    };
    let opts = crate::resources::WriteOptions {
        applied: true,
        ..query.write_options()
    };
    for _ in 0..3 {
        let exists = match resources.get(rt, ns, name).await {
            Ok(_) => true,
            Err(e) if e.code == http::StatusCode::NOT_FOUND => false,
            Err(e) => return Err(e),
        };
        if !exists {
            if part != Part::Main {
                return Err(ApiError::not_found(&crate::resources::subject(
                    rt,
                    &rt.qualified_plural(),
                    name,
                )));
            }
            match resources.create(rt, ns, apply(None)?, &opts).await {
                Err(e) if e.reason == "AlreadyExists" => continue,
                other => return other,
            }
        }
        return resources
            .update(rt, ns, name, part, &opts, |old| {
                let mut new = apply(Some(old))?;
                if object::resource_version(&config).is_none() {
                    object::meta_mut(&mut new).remove("resourceVersion");
                }
                Ok(new)
            })
            .await;
    }
    Err(ApiError::conflict(
        &crate::resources::subject(rt, &rt.qualified_plural(), name),
        "the object was created and deleted concurrently; retry",
    ))
}

/// The part of the configuration the endpoint writes: a type's main resource
/// ignores `status` when status is a subresource, and `/status` ignores
/// everything but `status`. What is ignored is not applied, so not owned.
fn scope(rt: &ResourceType, part: Part, mut config: Value) -> Value {
    let Value::Object(map) = &mut config else {
        return config;
    };
    match part {
        Part::Main if rt.subresources.status => {
            map.shift_remove("status");
        }
        Part::Status => {
            let mut kept = Map::new();
            for key in ["apiVersion", "kind"] {
                if let Some(v) = map.get(key) {
                    kept.insert(key.into(), v.clone());
                }
            }
            let mut meta = Map::new();
            if let Some(Value::Object(m)) = map.get("metadata") {
                for key in ["name", "namespace", "resourceVersion"] {
                    if let Some(v) = m.get(key) {
                        meta.insert(key.into(), v.clone());
                    }
                }
            }
            kept.insert("metadata".into(), Value::Object(meta));
            if let Some(status) = map.get("status") {
                kept.insert("status".into(), status.clone());
            }
            return Value::Object(kept);
        }
        Part::Main | Part::Binding => {}
    }
    config
}

fn apply_error(e: &ApplyError) -> ApiError {
    match e {
        ApplyError::Conflicts(conflicts) => ApiError::apply_conflicts(conflicts),
        other => ApiError::bad_request(format!(
            "the applied configuration cannot be applied: {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use verge_apimachinery::apply::{Conflict, Operation};

    #[test]
    fn conflicts_answer_409_with_causes() {
        let e = apply_error(&ApplyError::Conflicts(vec![Conflict {
            manager: "kubectl-client-side-apply".into(),
            operation: Operation::Update,
            api_version: "apps/v1".into(),
            subresource: None,
            field: ".spec.replicas".into(),
        }]));
        let status = e.to_status();
        assert_eq!(status["code"], 409);
        assert_eq!(status["reason"], "Conflict");
        assert_eq!(
            status["message"],
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
        assert_eq!(
            status["details"]["causes"],
            json!([{
                "reason": "FieldManagerConflict",
                "message": "conflict with \"kubectl-client-side-apply\" using apps/v1",
                "field": ".spec.replicas"
            }])
        );
        assert_eq!(
            apply_error(&ApplyError::ManagedFieldsSet).code,
            http::StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn endpoints_apply_only_what_they_write() {
        let r = Registry::with_builtins();
        let rt = r.lookup("apps", "v1", "deployments").expect("rt");
        let config = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "w", "labels": {"a": "b"}}, "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let main = scope(&rt, Part::Main, config.clone());
        assert!(main.get("status").is_none());
        assert_eq!(main["spec"]["replicas"], 1);
        let status = scope(&rt, Part::Status, config);
        assert_eq!(
            status,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"}, "status": {"replicas": 1}})
        );
        let cms = r.lookup("", "v1", "configmaps").expect("rt");
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "status": {"x": 1}});
        assert_eq!(scope(&cms, Part::Main, cm.clone()), cm);
    }
}
