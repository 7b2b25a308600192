//! The HTTP face of the API server: authentication, routing, and the
//! endpoints that are not resources (version, health, discovery, OpenAPI,
//! metrics).

mod access;
mod approval;
mod objects;
mod serve;
mod subresources;
mod tokenrequest;
mod watch;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use serde_json::json;
use verge_pki::Identity;

pub use serve::serve_tls;

use crate::discovery::{self, Discovery};
use crate::metrics::Metrics;
use crate::openapi::OpenApi;
use crate::request::{self, Query};
use crate::resources::Resources;
use crate::status::ApiError;

/// The Kubernetes version this server reports. kubectl's dispatcher picks
/// the kubectl binary by this minor; 1.32 speaks WebSocket exec.
pub const KUBERNETES_MINOR: &str = "32";

/// Everything a request handler needs.
pub struct ApiServer {
    pub resources: Arc<Resources>,
    pub discovery: Discovery,
    pub openapi: OpenApi,
    pub metrics: Metrics,
    /// Issues and verifies service-account tokens; without it bearer
    /// tokens are refused and TokenRequest fails.
    pub tokens: Option<Arc<crate::tokens::Tokens>>,
}

/// Who is asking: set on each connection from its verified client certificate.
#[derive(Clone, Debug)]
pub struct Caller(pub Option<Identity>);

impl ApiServer {
    pub fn new(resources: Arc<Resources>) -> Arc<ApiServer> {
        let registry = resources.registry.clone();
        Arc::new(ApiServer {
            discovery: Discovery::new(registry.clone()),
            openapi: OpenApi::new(registry),
            metrics: Metrics::new(),
            resources,
            tokens: None,
        })
    }

    /// [`ApiServer::new`] that accepts and issues service-account tokens.
    pub fn with_tokens(
        resources: Arc<Resources>,
        tokens: Arc<crate::tokens::Tokens>,
    ) -> Arc<ApiServer> {
        let registry = resources.registry.clone();
        Arc::new(ApiServer {
            discovery: Discovery::new(registry.clone()),
            openapi: OpenApi::new(registry),
            metrics: Metrics::new(),
            resources,
            tokens: Some(tokens),
        })
    }
}

/// The single entry point of every request.
pub async fn handle(api: Arc<ApiServer>, req: Request<Body>) -> Response {
    let started = Instant::now();
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let (verb, resource, response) = route(&api, req).await;
    let code = response.status().as_u16();
    api.metrics
        .observe(verb, &resource, code, started.elapsed());
    tracing::debug!(%method, %path, code, elapsed_ms = started.elapsed().as_millis() as u64, "request");
    response
}

async fn route(api: &Arc<ApiServer>, req: Request<Body>) -> (&'static str, String, Response) {
    let path = req.uri().path().to_owned();
    // Health endpoints answer anyone: load balancers and probes have no certificate.
    if matches!(path.as_str(), "/healthz" | "/livez" | "/readyz") || path.starts_with("/healthz/") {
        return ("get", "healthz".into(), plain("ok"));
    }
    let caller = req
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or(Caller(None));
    let identity = match caller.0 {
        Some(identity) => identity,
        None => match authenticate_bearer(api, req.headers()).await {
            Ok(identity) => identity,
            Err(e) => return ("none", "".into(), e.into_response()),
        },
    };
    let readable = readable_by_any_user(req.method(), &path);
    if let Err(e) = access::check_path(&identity, req.method(), &path, readable) {
        return ("none", "".into(), e.into_response());
    }
    if req.method() != Method::GET && !request_has_resource(&path) {
        return (
            "none",
            "".into(),
            ApiError::method_not_allowed(format!("{} is not allowed on {path}", req.method()))
                .into_response(),
        );
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if let Some(resp) = tokenrequest::openid(api, &path, &req) {
        return ("get", "openid".into(), resp);
    }
    if let Some((ns, name)) = tokenrequest::parse_path(&path) {
        let resp = match tokenrequest::handle(api, &ns, &name, req).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        return ("create", "serviceaccounts/token".into(), resp);
    }
    match path.as_str() {
        "/version" => return ("get", "version".into(), json_response(version())),
        "/metrics" => {
            let text = api
                .metrics
                .render(&api.resources.cache, &api.resources.store.stats());
            let mut resp = text.into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            return ("get", "metrics".into(), resp);
        }
        "/api" | "/apis" => {
            let docs = api.discovery.documents();
            let core = path == "/api";
            let resp = if discovery::wants_aggregated(&accept) {
                let body = if core {
                    docs.aggregated_core.clone()
                } else {
                    docs.aggregated_groups.clone()
                };
                bytes_response(body, discovery::AGGREGATED_CONTENT_TYPE)
            } else {
                let body = if core {
                    docs.legacy_api.clone()
                } else {
                    docs.legacy_apis.clone()
                };
                bytes_response(body, "application/json")
            };
            return ("get", "discovery".into(), resp);
        }
        "/openapi/v3" => {
            return (
                "get",
                "openapi".into(),
                bytes_response(api.openapi.root(), "application/json"),
            );
        }
        "/openapi/v2" => {
            // kubectl falls back to its compiled-in types when v2 is absent.
            return (
                "get",
                "openapi".into(),
                ApiError::no_route("OpenAPI v2 is not served; use /openapi/v3").into_response(),
            );
        }
        _ => {}
    }
    if let Some(gv) = path.strip_prefix("/openapi/v3/") {
        let resp = match api.openapi.group_version(gv) {
            Some((body, hash)) => {
                let mut resp = bytes_response(body, "application/json");
                let hashed = req
                    .uri()
                    .query()
                    .is_some_and(|q| q.contains(&format!("hash={hash}")));
                let cache = if hashed {
                    "public, immutable"
                } else {
                    "no-cache, private"
                };
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
                resp.headers_mut()
                    .insert(header::ETAG, header_value(&format!("\"{hash}\"")));
                resp
            }
            None => ApiError::no_route(&format!("OpenAPI document {gv}")).into_response(),
        };
        return ("get", "openapi".into(), resp);
    }
    if let Some(doc) = api
        .discovery
        .documents()
        .legacy
        .get(path.trim_end_matches('/'))
    {
        return (
            "get",
            "discovery".into(),
            bytes_response(doc.clone(), "application/json"),
        );
    }
    let rp = match request::parse_path(&api.resources.registry, &path) {
        Ok(Some(rp)) => rp,
        Ok(None) => {
            return (
                "none",
                "".into(),
                ApiError::no_route(&format!("{} {path}", req.method())).into_response(),
            );
        }
        Err(e) => return ("none", "".into(), e.into_response()),
    };
    let query = match Query::parse(req.uri().query()) {
        Ok(mut q) => {
            q.user_agent_manager = request::user_agent_manager(req.headers());
            q
        }
        Err(e) => return ("none", rp.rt.plural.clone(), e.into_response()),
    };
    let verb = match request::verb_of(req.method(), &rp, &query) {
        Ok(v) => v,
        Err(e) => return ("none", rp.rt.plural.clone(), e.into_response()),
    };
    let resource = match &rp.subresource {
        Some(s) => format!("{}/{s}", rp.rt.qualified_plural()),
        None => rp.rt.qualified_plural(),
    };
    if let Err(e) = access::check_resource(api, &identity, &rp, verb, &query) {
        return (verb.as_str(), resource, e.into_response());
    }
    let req = match access::admit(api, &identity, &rp, verb, req).await {
        Ok(req) => req,
        Err(e) => return (verb.as_str(), resource, e.into_response()),
    };
    if rp.subresource.as_deref() == Some("approval") {
        let response = match approval::handle(api, &rp, verb, &query, req).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        return (verb.as_str(), resource, response);
    }
    let response = objects::handle(api, rp, verb, query, req).await;
    (verb.as_str(), resource, response)
}

/// The identity of an `Authorization: Bearer` token: a bootstrap token
/// (`<id>.<secret>`) or a service-account token; without the header, the
/// anonymous user. A token that is presented but refused is a 401 saying why.
async fn authenticate_bearer(api: &ApiServer, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(crate::authz::anonymous());
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized_because("the Authorization header is not \"Bearer <token>\"")
        })?;
    if crate::bootstrap::is_bootstrap_token(token) {
        let resources = &api.resources;
        return crate::bootstrap::authenticate(
            token,
            &resources.registry,
            &resources.cache,
            jiff::Timestamp::now(),
        )
        .await
        .map_err(|why| {
            tracing::debug!(reason = %why, "bootstrap token refused");
            ApiError::unauthorized_because(&why)
        });
    }
    let Some(tokens) = &api.tokens else {
        return Err(ApiError::unauthorized_because(
            "this server does not accept bearer tokens",
        ));
    };
    tokens
        .authenticate(token, &api.resources.registry, &api.resources.cache)
        .map_err(|why| {
            tracing::debug!(reason = %why, "bearer token refused");
            ApiError::unauthorized_because(&why)
        })
}

/// What every authenticated user may read, as Kubernetes' default roles
/// grant `system:authenticated` (system:discovery, system:public-info-viewer,
/// system:service-account-issuer-discovery): version, discovery, OpenAPI
/// and the token issuer's documents. Everything else needs system:masters.
fn readable_by_any_user(method: &Method, path: &str) -> bool {
    if method != Method::GET {
        return false;
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        segs.as_slice(),
        ["version"] | ["api"] | ["apis"] | ["api", _] | ["apis", _] | ["apis", _, _]
    ) || path == "/openapi/v3"
        || path.starts_with("/openapi/v3/")
        || path == "/.well-known/openid-configuration"
        || path == "/openid/v1/jwks"
}

fn request_has_resource(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/apis/")
}

pub fn version() -> serde_json::Value {
    json!({
        "major": "1",
        "minor": KUBERNETES_MINOR,
        "gitVersion": format!("v1.{KUBERNETES_MINOR}.0-verge.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, arch()),
    })
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn plain(text: &'static str) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

pub(crate) fn json_response(v: serde_json::Value) -> Response {
    bytes_response(
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default()),
        "application/json",
    )
}

pub(crate) fn bytes_response(body: Bytes, content_type: &'static str) -> Response {
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Adds `Warning: 299 - "text"` headers, which kubectl prints as warnings.
pub(crate) fn add_warnings(headers: &mut HeaderMap, warnings: &[String]) {
    for w in warnings {
        // RFC 7234 warn-text is a quoted-string: escape quotes and backslashes.
        let text = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{text}\"")) {
            headers.append(header::WARNING, v);
        }
    }
}
