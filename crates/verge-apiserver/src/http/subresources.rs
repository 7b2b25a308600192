//! Subresources other than status: scale, pod binding and eviction,
//! namespace finalize, and the streaming pod endpoints.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use http::{Request, StatusCode};
use serde_json::{Value, json};

use super::objects::{apply_patch, delete_options, object_response, read_body};
use super::{ApiServer, json_response};
use crate::object;
use crate::registry::{Origin, ResourceType};
use crate::request::{self, BodyFormat, Query, Representation, ResourcePath, Verb};
use crate::resources::{Deleted, Part};
use crate::status::{ApiError, ApiResult};

pub async fn handle(
    api: &Arc<ApiServer>,
    rp: ResourcePath,
    verb: Verb,
    query: Query,
    req: Request<Body>,
) -> ApiResult<Response> {
    let sub = rp.subresource.clone().unwrap_or_default();
    match (sub.as_str(), verb) {
        ("scale", Verb::Get) => {
            let cached = api
                .resources
                .get(&rp.rt, rp.namespace.as_deref(), name(&rp))
                .await?;
            Ok(json_response(scale_of(&rp.rt, &cached.value())))
        }
        ("scale", Verb::Update | Verb::Patch) => {
            let (format, body) = read_body(req).await?;
            scale_write(api, &rp, verb, &query, format, &body).await
        }
        ("binding", Verb::Create) => {
            let (format, body) = read_body(req).await?;
            bind(api, &rp, &query, format, &body).await
        }
        ("eviction", Verb::Create) => {
            let (format, body) = read_body(req).await?;
            evict(api, &rp, &query, format, &body).await
        }
        ("finalize", Verb::Update) => {
            let (format, body) = read_body(req).await?;
            let incoming = request::decode_object(format, &body)?;
            let finalizers = incoming
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or(json!([]));
            let w = api
                .resources
                .update(
                    &rp.rt,
                    None,
                    name(&rp),
                    Part::Main,
                    &query.write_options(),
                    |old| {
                        let mut new = old.clone();
                        new["spec"]["finalizers"] = finalizers.clone();
                        Ok(new)
                    },
                )
                .await?;
            Ok(object_response(
                &rp.rt,
                w.object,
                Representation::Object,
                &query,
                StatusCode::OK,
            ))
        }
        ("log" | "exec" | "attach" | "portforward", _) => {
            let pod = api
                .resources
                .get(&rp.rt, rp.namespace.as_deref(), name(&rp))
                .await?
                .value();
            match pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                None => Err(ApiError::bad_request(format!(
                    "pod {} does not have a host assigned; wait until it is scheduled",
                    name(&rp)
                ))),
                Some(node) => Err(ApiError::unavailable(format!(
                    "{sub} for pod {} needs the agent of node {node} to be connected to the cloud hub, and it is not",
                    name(&rp)
                ))),
            }
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "{} is not supported on the {sub} subresource",
            verb.as_str()
        ))),
    }
}

fn name(rp: &ResourcePath) -> &str {
    rp.name.as_deref().unwrap_or("")
}

/// Paths of the replica fields: built-in workloads or a CRD's scale spec.
fn scale_paths(rt: &ResourceType) -> (String, String, Option<String>) {
    if let Origin::Custom(v) = &rt.origin
        && let Some(s) = &v.scale
    {
        return (
            s.spec_replicas.clone(),
            s.status_replicas.clone(),
            s.label_selector.clone(),
        );
    }
    (".spec.replicas".into(), ".status.replicas".into(), None)
}

fn pointer(json_path: &str) -> String {
    json_path
        .trim_start_matches('.')
        .split('.')
        .fold(String::new(), |mut acc, p| {
            acc.push('/');
            acc.push_str(p);
            acc
        })
}

fn scale_of(rt: &ResourceType, obj: &Value) -> Value {
    let (spec_path, status_path, selector_path) = scale_paths(rt);
    let spec_replicas = obj
        .pointer(&pointer(&spec_path))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let status_replicas = obj
        .pointer(&pointer(&status_path))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let selector = match selector_path {
        Some(p) => obj
            .pointer(&pointer(&p))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        None => obj
            .pointer("/spec/selector")
            .and_then(|s| verge_apimachinery::labels::Selector::from_label_selector(s).ok())
            .map(|s| s.to_string())
            .unwrap_or_default(),
    };
    let m = object::meta(obj).cloned().unwrap_or_default();
    let pick = |k: &str| m.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": pick("name"),
            "namespace": pick("namespace"),
            "uid": pick("uid"),
            "resourceVersion": pick("resourceVersion"),
            "creationTimestamp": pick("creationTimestamp"),
        },
        "spec": {"replicas": spec_replicas},
        "status": {"replicas": status_replicas, "selector": selector},
    })
}

async fn scale_write(
    api: &Arc<ApiServer>,
    rp: &ResourcePath,
    verb: Verb,
    query: &Query,
    format: BodyFormat,
    body: &[u8],
) -> ApiResult<Response> {
    let rt = rp.rt.clone();
    let (spec_path, _, _) = scale_paths(&rt);
    let spec_pointer = pointer(&spec_path);
    let incoming = if verb == Verb::Update {
        Some(request::decode_object(format, body)?)
    } else {
        None
    };
    let w = api
        .resources
        .update(
            &rt,
            rp.namespace.as_deref(),
            name(rp),
            Part::Main,
            &crate::resources::WriteOptions {
                subresource: Some("scale"),
                ..query.write_options()
            },
            |old| {
                let scale = scale_of(&rt, old);
                let new_scale = match &incoming {
                    Some(s) => s.clone(),
                    None => apply_patch(
                        &rt,
                        &scale,
                        if format == BodyFormat::StrategicMergePatch {
                            BodyFormat::MergePatch
                        } else {
                            format
                        },
                        body,
                    )?,
                };
                let replicas = new_scale
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| {
                        ApiError::bad_request("the Scale must have spec.replicas as an integer")
                    })?;
                if replicas < 0 {
                    return Err(ApiError::invalid(
                        "Scale",
                        "autoscaling",
                        name(rp),
                        &[crate::validation::FieldError {
                            field: "spec.replicas".into(),
                            reason: "FieldValueInvalid",
                            message: format!(
                                "Invalid value: {replicas}: must be greater than or equal to 0"
                            ),
                        }],
                    ));
                }
                let mut new = old.clone();
                if let Some(rv) = object::resource_version(&new_scale)
                    .filter(|rv| Some(*rv) != object::resource_version(old))
                {
                    object::meta_mut(&mut new).insert("resourceVersion".into(), json!(rv));
                } else {
                    object::meta_mut(&mut new).remove("resourceVersion");
                }
                set_pointer(&mut new, &spec_pointer, json!(replicas));
                Ok(new)
            },
        )
        .await?;
    Ok(json_response(scale_of(&rt, &w.object)))
}

fn set_pointer(obj: &mut Value, pointer: &str, value: Value) {
    let mut cur = obj;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        if i == parts.len() - 1 {
            cur[*p] = value;
            return;
        }
        cur = &mut cur[*p];
    }
}

async fn bind(
    api: &Arc<ApiServer>,
    rp: &ResourcePath,
    query: &Query,
    format: BodyFormat,
    body: &[u8],
) -> ApiResult<Response> {
    let binding = request::decode_object(format, body)?;
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("the Binding must name a node in target.name"))?
        .to_owned();
    let uid = binding.pointer("/metadata/uid").and_then(Value::as_str);
    let namespace = rp.namespace.as_deref().unwrap_or("default");
    crate::binding::bind(
        &api.resources,
        &rp.rt,
        namespace,
        name(rp),
        uid,
        &node,
        &query.write_options(),
    )
    .await?;
    let mut resp = json_response(
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    );
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}

async fn evict(
    api: &Arc<ApiServer>,
    rp: &ResourcePath,
    query: &Query,
    format: BodyFormat,
    body: &[u8],
) -> ApiResult<Response> {
    let eviction = if body.is_empty() {
        json!({})
    } else {
        request::decode_object(format, body)?
    };
    let opts_body = eviction.get("deleteOptions").cloned().unwrap_or(json!({}));
    let raw = serde_json::to_vec(&opts_body).unwrap_or_default();
    let opts = delete_options(query, BodyFormat::Json, &raw)?;
    match api
        .resources
        .delete(&rp.rt, rp.namespace.as_deref(), name(rp), &opts)
        .await?
    {
        Deleted::Gone(_) | Deleted::Pending(_) => {
            let mut resp = json_response(
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            );
            *resp.status_mut() = StatusCode::CREATED;
            Ok(resp)
        }
    }
}
