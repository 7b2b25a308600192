//! Server-side apply (`kubectl apply --server-side`, kube-rs `Patch::Apply`):
//! create the object if it is missing, otherwise merge the applied
//! configuration into it and record the applier in `metadata.managedFields`.

use serde_json::{Value, json};

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
    let manager = query
        .field_manager
        .clone()
        .ok_or_else(|| ApiError::bad_request("PATCH, apply requests require fieldManager: pass --field-manager or fieldManager=<name>"))?;
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
    let opts = query.write_options();
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
            let mut obj = applied.clone();
            object::meta_mut(&mut obj).insert("name".into(), json!(name));
            set_manager(&mut obj, &manager, rt, &applied);
            match resources.create(rt, ns, obj, &opts).await {
                Err(e) if e.reason == "AlreadyExists" => continue,
                other => return other,
            }
        }
        return resources
            .update(rt, ns, name, part, &opts, |old| {
                let mut new = merge(rt, old, &applied)?;
                set_manager(&mut new, &manager, rt, &applied);
                if object::resource_version(&applied).is_none() {
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

fn merge(rt: &ResourceType, old: &Value, applied: &Value) -> ApiResult<Value> {
    use verge_apimachinery::patch;
    if rt.is_custom() {
        return Ok(patch::merge_patch(old, applied));
    }
    patch::strategic_merge_patch(old, applied, &rt.kind).map_err(|e| ApiError::patch(&e))
}

/// Records `manager` as the applier of the fields in `applied`.
fn set_manager(obj: &mut Value, manager: &str, rt: &ResourceType, applied: &Value) {
    let mut entries: Vec<Value> = object::meta(obj)
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    entries.retain(|e| {
        !(e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some("Apply"))
    });
    entries.push(json!({
        "manager": manager,
        "operation": "Apply",
        "apiVersion": rt.api_version(),
        "time": object::now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields_v1(applied, true),
    }));
    object::meta_mut(obj).insert("managedFields".into(), json!(entries));
}

/// The FieldsV1 set of a configuration: `f:<name>` for fields, with `.`
/// marking a leaf that is itself set.
fn fields_v1(v: &Value, root: bool) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, child) in m {
                if root && matches!(k.as_str(), "apiVersion" | "kind") {
                    continue;
                }
                if root && k == "metadata" {
                    let mut meta = serde_json::Map::new();
                    if let Value::Object(mm) = child {
                        for (mk, mv) in mm {
                            if matches!(mk.as_str(), "labels" | "annotations") {
                                meta.insert(format!("f:{mk}"), fields_v1(mv, false));
                            }
                        }
                    }
                    if !meta.is_empty() {
                        out.insert("f:metadata".into(), Value::Object(meta));
                    }
                    continue;
                }
                out.insert(format!("f:{k}"), fields_v1(child, false));
            }
            Value::Object(out)
        }
        _ => json!({}),
    }
}
