//! Authorization and admission of requests by callers that are not cluster
//! administrators, and the server-set fields of CertificateSigningRequests.
//!
//! Three steps, in request order:
//! 1. [`check_path`], before routing: anonymous callers may read only
//!    `/version` and cluster-info; authenticated ones the discovery
//!    documents and any resource URL (decided in step 2).
//! 2. [`check_resource`], once the resource and verb are known: the rules
//!    of [`crate::authz`].
//! 3. [`admit`], on creates whose body matters: a CSR gets `spec.username`,
//!    `spec.uid`, `spec.groups` from the caller (as kube-apiserver sets
//!    them) and consumes a use of a limited join token; a node may create
//!    only its own Node and Lease (NodeRestriction).

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};
use serde_json::{Value, json};
use verge_apimachinery::fields::FieldSelector;
use verge_pki::Identity;

use super::ApiServer;
use crate::authz::{self, Attributes, Decision, Facts};
use crate::bootstrap;
use crate::request::{self, BodyFormat, MAX_BODY_BYTES, Query, ResourcePath, Verb};
use crate::status::{ApiError, ApiResult};

const CLUSTER_INFO_PATH: &str = "/api/v1/namespaces/kube-public/configmaps/cluster-info";

/// Step 1. `readable` says whether the path is one every authenticated user
/// may read (discovery, version, OpenAPI).
pub(super) fn check_path(
    identity: &Identity,
    method: &Method,
    path: &str,
    readable: bool,
) -> ApiResult<()> {
    if authz::is_master(identity) {
        return Ok(());
    }
    if authz::is_anonymous(identity) {
        // Anonymous callers learn nothing but the version and the cluster's
        // public identity; to everything else they are unauthenticated.
        let open = method == Method::GET && (path == "/version" || path == CLUSTER_INFO_PATH);
        return if open {
            Ok(())
        } else {
            Err(ApiError::unauthorized())
        };
    }
    if readable {
        return Ok(());
    }
    if super::request_has_resource(path) && super::tokenrequest::parse_path(path).is_none() {
        return Ok(());
    }
    tracing::debug!(user = %identity.user, %method, path, "forbidden");
    Err(ApiError::forbidden(format!(
        "User \"{}\" cannot {} path \"{path}\"",
        identity.user,
        method.as_str().to_lowercase()
    )))
}

struct CacheFacts<'a>(&'a ApiServer);

impl Facts for CacheFacts<'_> {
    fn csr_requester(&self, name: &str) -> Option<String> {
        let rt = self.0.resources.registry.lookup(
            "certificates.k8s.io",
            "v1",
            "certificatesigningrequests",
        )?;
        let obj = self
            .0
            .resources
            .cache
            .get_now(&rt.storage_key(None, name))?;
        let value = obj.value();
        Some(
            value
                .pointer("/spec/username")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        )
    }
}

/// Step 2: 403 in Kubernetes' words when the rules do not allow the request.
pub(super) fn check_resource(
    api: &ApiServer,
    identity: &Identity,
    rp: &ResourcePath,
    verb: Verb,
    query: &Query,
) -> ApiResult<()> {
    if authz::is_master(identity) {
        return Ok(());
    }
    let selector = match (&query.field_selector, verb) {
        (Some(s), Verb::List | Verb::Watch) => FieldSelector::parse(s).ok(),
        _ => None,
    };
    let attrs = Attributes {
        verb: verb.as_str(),
        group: &rp.rt.group,
        resource: &rp.rt.plural,
        subresource: rp.subresource.as_deref(),
        namespace: rp.namespace.as_deref().filter(|_| rp.rt.namespaced),
        name: rp.name.as_deref(),
        selected_name: selector
            .as_ref()
            .and_then(|s| s.requires_exact_match("metadata.name")),
    };
    match authz::authorize(identity, &attrs, &CacheFacts(api)) {
        Decision::Allow => Ok(()),
        Decision::Deny(why) => {
            let message = authz::forbidden_message(identity, &attrs);
            tracing::debug!(user = %identity.user, reason = why, "{message}");
            if authz::is_anonymous(identity) {
                return Err(ApiError::unauthorized());
            }
            let mut err = ApiError::forbidden(message);
            err.details = Some(json!({
                "name": attrs.name.unwrap_or(""),
                "group": attrs.group,
                "kind": attrs.resource,
            }));
            Err(err)
        }
    }
}

/// Step 3. Returns the request to pass on (its body possibly rewritten).
pub(super) async fn admit(
    api: &Arc<ApiServer>,
    identity: &Identity,
    rp: &ResourcePath,
    verb: Verb,
    req: Request<Body>,
) -> ApiResult<Request<Body>> {
    if verb != Verb::Create || rp.subresource.is_some() {
        return Ok(req);
    }
    let group_resource = (rp.rt.group.as_str(), rp.rt.plural.as_str());
    let node = identity.node_name().filter(|_| !authz::is_master(identity));
    match group_resource {
        ("certificates.k8s.io", "certificatesigningrequests") => {
            let (parts, body) = split(req).await?;
            let mut obj = request::decode_object(parts.1, &body)?;
            set_requester(&mut obj, identity);
            if let Some(id) = bootstrap::token_id_of(&identity.user) {
                consume_join(api, id, &obj).await?;
            }
            Ok(rebuild(parts.0, &obj))
        }
        ("", "nodes") | ("coordination.k8s.io", "leases") if node.is_some() => {
            let node = node.unwrap_or_default();
            let (parts, body) = split(req).await?;
            let obj = request::decode_object(parts.1, &body)?;
            let name = crate::object::name(&obj).unwrap_or("");
            if name != node {
                let kind = if rp.rt.plural == "nodes" {
                    "node"
                } else {
                    "lease"
                };
                tracing::debug!(user = %identity.user, kind, name, "node restriction: forbidden");
                return Err(ApiError::forbidden(format!(
                    "{} \"{name}\" is forbidden: node \"{node}\" may only create its own {kind} \
                     (named \"{node}\")",
                    rp.rt.plural
                )));
            }
            Ok(rebuild(parts.0, &obj))
        }
        _ => Ok(req),
    }
}

type Parts = (http::request::Parts, BodyFormat);

async fn split(req: Request<Body>) -> ApiResult<(Parts, Bytes)> {
    let format = request::body_format(req.headers());
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::too_large(MAX_BODY_BYTES))?;
    let format = if bytes.is_empty() {
        format.unwrap_or(BodyFormat::Json)
    } else {
        format?
    };
    Ok(((parts, format), bytes))
}

/// The request again, with `obj` as its JSON body.
fn rebuild(mut parts: http::request::Parts, obj: &Value) -> Request<Body> {
    let body = serde_json::to_vec(obj).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Request::from_parts(parts, Body::from(body))
}

/// kube-apiserver records who asked for a certificate; what the client
/// sent in these fields is ignored.
fn set_requester(obj: &mut Value, identity: &Identity) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let spec = map.entry("spec").or_insert_with(|| json!({}));
    if let Some(spec) = spec.as_object_mut() {
        spec.insert("username".into(), json!(identity.user));
        spec.insert("groups".into(), json!(identity.groups));
        spec.remove("uid");
        spec.remove("extra");
    }
}

/// Counts the join against a token with a use limit. The node is named by
/// the request's subject (`system:node:<name>`); a request whose PEM does
/// not parse is left for validation to refuse, without using up the token.
async fn consume_join(api: &ApiServer, id: &str, csr: &Value) -> ApiResult<()> {
    use base64::Engine;
    let Some(pem) = csr
        .pointer("/spec/request")
        .and_then(Value::as_str)
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
    else {
        return Ok(());
    };
    let Ok(subject) = verge_pki::inspect_csr(&pem) else {
        return Ok(());
    };
    let Some(cn) = subject.common_name() else {
        return Ok(());
    };
    let node = cn.strip_prefix(authz::NODE_USER_PREFIX).unwrap_or(cn);
    bootstrap::record_join(&api.resources, id, node).await
}
