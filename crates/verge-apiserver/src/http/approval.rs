//! The `approval` subresource of CertificateSigningRequests: what
//! `kubectl certificate approve/deny` PUT (client-go's UpdateApproval; PATCH
//! works too). Only `status.conditions` change through it; the request and
//! any issued certificate stay as they are.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use http::{Request, StatusCode};
use serde_json::Value;

use super::ApiServer;
use super::objects::{apply_patch, object_response, read_body};
use crate::object;
use crate::request::{self, Query, Representation, ResourcePath, Verb};
use crate::resources::{Part, WriteOptions};
use crate::status::{ApiError, ApiResult};

pub(super) async fn handle(
    api: &Arc<ApiServer>,
    rp: &ResourcePath,
    verb: Verb,
    query: &Query,
    req: Request<Body>,
) -> ApiResult<Response> {
    let name = rp.name.as_deref().unwrap_or_default();
    match verb {
        Verb::Get => {
            let cached = api.resources.get(&rp.rt, None, name).await?;
            Ok(object_response(
                &rp.rt,
                cached.value(),
                Representation::Object,
                query,
                StatusCode::OK,
            ))
        }
        Verb::Update | Verb::Patch => {
            let (format, body) = read_body(req).await?;
            let replacement = match verb {
                Verb::Update => Some(request::decode_object(format, &body)?),
                _ => None,
            };
            let opts = WriteOptions {
                subresource: Some("approval"),
                ..query.write_options()
            };
            let written = api
                .resources
                .update(&rp.rt, None, name, Part::Status, &opts, |old| {
                    // A PUT carries the whole object; a PATCH applies to the
                    // stored one. Either way only the conditions are taken.
                    let incoming = match &replacement {
                        Some(obj) => obj.clone(),
                        None => apply_patch(&rp.rt, old, format, &body)?,
                    };
                    let mut new = old.clone();
                    new["status"]["conditions"] = with_timestamps(
                        incoming
                            .pointer("/status/conditions")
                            .cloned()
                            .unwrap_or(Value::Array(Vec::new())),
                    );
                    if let Some(rv) = object::resource_version(&incoming)
                        && replacement.is_some()
                    {
                        new["metadata"]["resourceVersion"] = Value::String(rv.to_owned());
                    }
                    Ok(new)
                })
                .await?;
            let who = written
                .object
                .pointer("/spec/username")
                .and_then(Value::as_str)
                .unwrap_or("");
            tracing::info!(
                csr = name,
                requester = who,
                "certificate signing request approval updated"
            );
            Ok(object_response(
                &rp.rt,
                written.object,
                Representation::Object,
                query,
                StatusCode::OK,
            ))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "{} is not supported on the approval subresource; use PUT or PATCH",
            verb.as_str()
        ))),
    }
}

/// kube-apiserver stamps conditions that arrive without times.
fn with_timestamps(mut conditions: Value) -> Value {
    if let Value::Array(list) = &mut conditions {
        let now = object::now_rfc3339();
        for c in list.iter_mut().filter_map(Value::as_object_mut) {
            for key in ["lastUpdateTime", "lastTransitionTime"] {
                if c.get(key).is_none_or(Value::is_null) {
                    c.insert(key.into(), Value::String(now.clone()));
                }
            }
        }
    }
    conditions
}
