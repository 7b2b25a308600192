//! `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`: the
//! TokenRequest subresource (`kubectl create token`), and the OpenID
//! discovery documents that let others verify the tokens.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use http::{Request, StatusCode};
use serde_json::{Value, json};

use super::objects::read_body;
use super::{ApiServer, json_response};
use crate::object;
use crate::request;
use crate::resources::subject;
use crate::status::{ApiError, ApiResult};
use crate::tokens::{
    DEFAULT_EXPIRATION_SECONDS, KubernetesClaims, MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS,
    ObjectClaim, TokenSpec,
};
use crate::validation::FieldError;

/// (namespace, service account) when `path` is a token subresource URL.
pub fn parse_path(path: &str) -> Option<(String, String)> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        [
            "api",
            "v1",
            "namespaces",
            ns,
            "serviceaccounts",
            name,
            "token",
        ] => {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .ok()
                    .map(|c| c.into_owned())
            };
            Some((decode(ns)?, decode(name)?))
        }
        _ => None,
    }
}

pub async fn handle(
    api: &Arc<ApiServer>,
    namespace: &str,
    name: &str,
    req: Request<Body>,
) -> ApiResult<Response> {
    if req.method() != http::Method::POST {
        return Err(ApiError::method_not_allowed(format!(
            "{} is not allowed on serviceaccounts/token; POST a TokenRequest",
            req.method()
        )));
    }
    let Some(tokens) = api.tokens.clone() else {
        return Err(ApiError::internal(
            "this API server has no service-account signing key",
        ));
    };
    let (format, body) = read_body(req).await?;
    let request = if body.is_empty() {
        json!({})
    } else {
        request::decode_object(format, &body)?
    };
    if let Some(kind) = request.get("kind").and_then(Value::as_str)
        && kind != "TokenRequest"
    {
        return Err(ApiError::bad_request(format!(
            "the request body must be a TokenRequest (authentication.k8s.io/v1), not a {kind}"
        )));
    }
    let registry = &api.resources.registry;
    let sa_rt = registry
        .lookup("", "v1", "serviceaccounts")
        .ok_or_else(|| ApiError::internal("serviceaccounts are not served"))?;
    let sa = api
        .resources
        .get(&sa_rt, Some(namespace), name)
        .await?
        .value();
    if object::is_deleting(&sa) {
        return Err(ApiError::forbidden(format!(
            "serviceaccounts \"{name}\" is being deleted; it cannot be issued tokens"
        )));
    }

    let spec = request.get("spec").cloned().unwrap_or(json!({}));
    let expiration = spec
        .get("expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    let invalid = |field: &str, message: String| {
        ApiError::invalid(
            "TokenRequest",
            "authentication.k8s.io",
            name,
            &[FieldError {
                field: field.into(),
                reason: "FieldValueInvalid",
                message,
            }],
        )
    };
    if expiration < MIN_EXPIRATION_SECONDS {
        return Err(invalid(
            "spec.expirationSeconds",
            format!("Invalid value: {expiration}: may not specify a duration less than 10 minutes"),
        ));
    }
    if expiration > MAX_EXPIRATION_SECONDS {
        return Err(invalid(
            "spec.expirationSeconds",
            format!(
                "Invalid value: {expiration}: may not specify a duration larger than 2^32 seconds"
            ),
        ));
    }
    let audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();

    let mut claims = KubernetesClaims {
        namespace: namespace.to_owned(),
        serviceaccount: ObjectClaim {
            name: name.to_owned(),
            uid: object::uid(&sa).to_owned(),
        },
        ..KubernetesClaims::default()
    };
    if let Some(bound) = spec.get("boundObjectRef").filter(|b| !b.is_null()) {
        bind(api, namespace, name, bound, &mut claims, &invalid).await?;
    }
    let issued = tokens
        .issue(&TokenSpec {
            claims,
            audiences,
            expiration_seconds: expiration,
        })
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut out_spec = spec.clone();
    out_spec["audiences"] = json!(issued.audiences);
    out_spec["expirationSeconds"] = json!(expiration);
    let body = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
        "spec": out_spec,
        "status": {
            "token": issued.token,
            "expirationTimestamp": object::timestamp_rfc3339(issued.expires),
        },
    });
    tracing::info!(
        namespace,
        serviceaccount = name,
        expiration,
        "issued a service-account token"
    );
    let mut resp = json_response(body);
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}

/// Binds the token to a pod, secret or node: it dies with that object.
async fn bind(
    api: &Arc<ApiServer>,
    namespace: &str,
    name: &str,
    bound: &Value,
    claims: &mut KubernetesClaims,
    invalid: &impl Fn(&str, String) -> ApiError,
) -> ApiResult<()> {
    let kind = bound.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = bound
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("v1");
    let obj_name = bound.get("name").and_then(Value::as_str).unwrap_or("");
    let want_uid = bound.get("uid").and_then(Value::as_str).unwrap_or("");
    let plural = match (api_version, kind) {
        ("v1" | "", "Pod") => "pods",
        ("v1" | "", "Secret") => "secrets",
        ("v1" | "", "Node") => "nodes",
        _ => {
            return Err(invalid(
                "spec.boundObjectRef.kind",
                format!(
                    "Unsupported value: \"{api_version}/{kind}\": supported values: \"v1/Pod\", \"v1/Secret\", \"v1/Node\""
                ),
            ));
        }
    };
    if obj_name.is_empty() {
        return Err(invalid(
            "spec.boundObjectRef.name",
            "Required value".to_owned(),
        ));
    }
    let rt = api
        .resources
        .registry
        .lookup("", "v1", plural)
        .ok_or_else(|| ApiError::internal(format!("{plural} are not served")))?;
    let ns = rt.namespaced.then_some(namespace);
    let obj = api.resources.get(&rt, ns, obj_name).await?.value();
    let uid = object::uid(&obj).to_owned();
    if !want_uid.is_empty() && want_uid != uid {
        return Err(ApiError::conflict(
            &subject(&rt, plural, obj_name),
            &format!(
                "the UID in the bound object reference ({want_uid}) does not match the UID in record ({uid}); the object might have been deleted and then recreated"
            ),
        ));
    }
    let claim = ObjectClaim {
        name: obj_name.to_owned(),
        uid,
    };
    match plural {
        "pods" => {
            // A pod-bound token also names the pod's node, as Kubernetes does.
            if let Some(node) = obj.pointer("/spec/nodeName").and_then(Value::as_str)
                && let Some(node_rt) = api.resources.registry.lookup("", "v1", "nodes")
                && let Some(n) = api
                    .resources
                    .cache
                    .get_now(&node_rt.storage_key(None, node))
            {
                claims.node = Some(ObjectClaim {
                    name: node.to_owned(),
                    uid: object::uid(&n.value()).to_owned(),
                });
            }
            claims.pod = Some(claim);
        }
        "secrets" => claims.secret = Some(claim),
        _ => claims.node = Some(claim),
    }
    tracing::debug!(
        namespace,
        serviceaccount = name,
        kind,
        object = obj_name,
        "token bound"
    );
    Ok(())
}

/// The API's URL as the client reached it.
fn api_url(req: &Request<Body>) -> String {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "kubernetes.default.svc".to_owned());
    format!("https://{host}")
}

/// `/.well-known/openid-configuration` and `/openid/v1/jwks`, if `path` is one.
pub fn openid(api: &ApiServer, path: &str, req: &Request<Body>) -> Option<Response> {
    let tokens = api.tokens.as_ref()?;
    match path {
        "/.well-known/openid-configuration" => {
            Some(json_response(tokens.openid_configuration(&api_url(req))))
        }
        "/openid/v1/jwks" => Some(json_response(tokens.jwks())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_token_urls_only() {
        assert_eq!(
            parse_path("/api/v1/namespaces/default/serviceaccounts/builder/token"),
            Some(("default".into(), "builder".into()))
        );
        assert_eq!(
            parse_path("/api/v1/namespaces/default/serviceaccounts/builder"),
            None
        );
        assert_eq!(
            parse_path("/apis/x/v1/namespaces/d/serviceaccounts/b/token"),
            None
        );
    }
}
