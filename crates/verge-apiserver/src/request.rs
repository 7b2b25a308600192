//! Turning an HTTP request into what it asks of the API: which resource,
//! which verb, which options, and which representation the client wants back.

use std::sync::Arc;

use http::{HeaderMap, Method, header};
use serde_json::Value;

use crate::registry::{Registry, ResourceType};
use crate::status::{ApiError, ApiResult};

/// Bodies above this are refused with 413, as kube-apiserver does (3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// A URL that names a resource (collection, object or subresource).
#[derive(Debug, Clone)]
pub struct ResourcePath {
    pub rt: Arc<ResourceType>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parses `/api/v1/...` and `/apis/{group}/{version}/...` resource URLs.
/// Returns `Ok(None)` for paths that are not resource paths (discovery etc.).
pub fn parse_path(registry: &Registry, path: &str) -> ApiResult<Option<ResourcePath>> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => ("", *version, rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => (*group, *version, rest),
        _ => return Ok(None),
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| ApiError::bad_request(format!("path segment {s:?} is not valid UTF-8")))
    };
    let not_found = || ApiError::no_route(&format!("path {path}"));
    let lookup = |plural: &str| registry.lookup(group, version, plural);

    let (rt, namespace, tail): (_, Option<String>, &[&str]) = match rest {
        // /namespaces/{ns}/{plural}/... — unless {plural} is a namespace subresource.
        ["namespaces", ns, plural, tail @ ..] if lookup(plural).is_some_and(|r| r.namespaced) => (
            lookup(plural).ok_or_else(not_found)?,
            Some(decode(ns)?),
            tail,
        ),
        [plural, tail @ ..] => {
            let rt = lookup(plural).ok_or_else(not_found)?;
            (rt, None, tail)
        }
        [] => return Err(not_found()),
    };
    let (name, subresource) = match tail {
        [] => (None, None),
        [name] => (Some(decode(name)?), None),
        [name, sub] => (Some(decode(name)?), Some((*sub).to_owned())),
        _ => return Err(not_found()),
    };
    if let Some(sub) = &subresource
        && !subresource_served(&rt, sub)
    {
        return Err(not_found());
    }
    Ok(Some(ResourcePath {
        rt,
        namespace,
        name,
        subresource,
    }))
}

fn subresource_served(rt: &ResourceType, sub: &str) -> bool {
    match sub {
        "status" => rt.subresources.status,
        "scale" => rt.subresources.scale,
        "finalize" => rt.kind == "Namespace" && rt.group.is_empty(),
        "approval" => rt.kind == "CertificateSigningRequest" && rt.group == "certificates.k8s.io",
        "binding" | "eviction" | "log" | "exec" | "attach" | "portforward" => {
            rt.subresources.pod_extras
        }
        _ => false,
    }
}

/// The verb a request performs, in Kubernetes' vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

pub fn verb_of(method: &Method, path: &ResourcePath, query: &Query) -> ApiResult<Verb> {
    let item = path.name.is_some();
    Ok(match *method {
        Method::GET if item => Verb::Get,
        Method::GET if query.watch => Verb::Watch,
        Method::GET => Verb::List,
        Method::POST => Verb::Create,
        Method::PUT if item => Verb::Update,
        Method::PATCH if item => Verb::Patch,
        Method::DELETE if item => Verb::Delete,
        Method::DELETE => Verb::DeleteCollection,
        _ => {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource: {method}"
            )));
        }
    })
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    #[default]
    Strict,
}

/// Query parameters of resource requests.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: usize,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub watch: bool,
    pub timeout_seconds: Option<u64>,
    pub allow_bookmarks: bool,
    pub send_initial_events: bool,
    pub include_object: Option<String>,
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: Option<FieldValidation>,
    pub force: bool,
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    pub pretty: bool,
    /// The manager of writes without `fieldManager`: the product of the
    /// `User-Agent` (`kubectl` for `kubectl/v1.32.4 (linux/amd64) ...`), as
    /// kube-apiserver names it. Not used for server-side apply, which
    /// requires `fieldManager`.
    pub user_agent_manager: Option<String>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> ApiResult<Query> {
        let mut q = Query::default();
        let Some(raw) = raw else { return Ok(q) };
        for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
            let v = v.into_owned();
            let flag = |v: &str| matches!(v, "true" | "1" | "True");
            match &*k {
                "labelSelector" => q.label_selector = Some(v).filter(|s| !s.is_empty()),
                "fieldSelector" => q.field_selector = Some(v).filter(|s| !s.is_empty()),
                "limit" => {
                    let n: i64 = v.parse().map_err(|_| {
                        ApiError::bad_request(format!("limit must be an integer, got {v:?}"))
                    })?;
                    q.limit = n.max(0) as usize;
                }
                "continue" => q.continue_token = Some(v).filter(|s| !s.is_empty()),
                "resourceVersion" => q.resource_version = Some(v).filter(|s| !s.is_empty()),
                "resourceVersionMatch" => {
                    q.resource_version_match = Some(v).filter(|s| !s.is_empty())
                }
                "watch" => q.watch = flag(&v),
                "timeoutSeconds" => {
                    q.timeout_seconds = Some(v.parse().map_err(|_| {
                        ApiError::bad_request(format!(
                            "timeoutSeconds must be a non-negative integer, got {v:?}"
                        ))
                    })?)
                }
                "allowWatchBookmarks" => q.allow_bookmarks = flag(&v),
                "sendInitialEvents" => q.send_initial_events = flag(&v),
                "includeObject" => q.include_object = Some(v),
                "dryRun" => {
                    if v != "All" {
                        return Err(ApiError::bad_request(format!(
                            "unsupported dryRun value {v:?}: the only supported value is \"All\""
                        )));
                    }
                    q.dry_run = true;
                }
                "fieldManager" => q.field_manager = Some(v).filter(|s| !s.is_empty()),
                "fieldValidation" => {
                    q.field_validation = Some(match v.as_str() {
                        "Ignore" => FieldValidation::Ignore,
                        "Warn" => FieldValidation::Warn,
                        "Strict" => FieldValidation::Strict,
                        _ => {
                            return Err(ApiError::bad_request(format!(
                                "fieldValidation must be one of Ignore, Warn or Strict, got {v:?}"
                            )));
                        }
                    })
                }
                "force" => q.force = flag(&v),
                "gracePeriodSeconds" => {
                    q.grace_period_seconds = Some(v.parse().map_err(|_| {
                        ApiError::bad_request(format!(
                            "gracePeriodSeconds must be an integer, got {v:?}"
                        ))
                    })?)
                }
                "propagationPolicy" => q.propagation_policy = Some(v),
                "pretty" => q.pretty = flag(&v),
                // Ignored on purpose: client hints with no effect here.
                _ => {}
            }
        }
        Ok(q)
    }

    pub fn write_options(&self) -> crate::resources::WriteOptions {
        crate::resources::WriteOptions {
            dry_run: self.dry_run,
            field_manager: self
                .field_manager
                .clone()
                .or_else(|| self.user_agent_manager.clone()),
            field_validation: self.field_validation.unwrap_or_default(),
            applied: false,
            subresource: None,
        }
    }

    /// The resourceVersion as a store revision, when one was given.
    pub fn revision(&self) -> ApiResult<Option<i64>> {
        match &self.resource_version {
            None => Ok(None),
            Some(rv) => rv.parse::<i64>().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid resource version {rv:?}: it must be a number this server issued"
                ))
            }),
        }
    }
}

/// The field manager kube-apiserver derives from a `User-Agent`: the text
/// before the first `/`, at most 128 characters.
pub fn user_agent_manager(headers: &HeaderMap) -> Option<String> {
    let ua = headers.get(header::USER_AGENT)?.to_str().ok()?;
    let product: String = ua
        .split('/')
        .next()
        .unwrap_or("")
        .chars()
        .take(128)
        .collect();
    Some(product).filter(|p| !p.is_empty())
}

/// The representation a client asked for in `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Representation {
    Object,
    Table,
    PartialMetadata,
}

pub fn representation(headers: &HeaderMap) -> Representation {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Representation::Object;
    };
    // Clients list what they accept in order of preference.
    for part in accept.split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        let mime = params.first().copied().unwrap_or("");
        if mime != "application/json" {
            continue;
        }
        let param = |k: &str| {
            params
                .iter()
                .find_map(|p| p.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
        };
        match (param("as"), param("g")) {
            (Some("Table"), Some("meta.k8s.io")) => return Representation::Table,
            (Some("PartialObjectMetadata" | "PartialObjectMetadataList"), Some("meta.k8s.io")) => {
                return Representation::PartialMetadata;
            }
            (None, _) => return Representation::Object,
            _ => continue,
        }
    }
    Representation::Object
}

/// The body formats a write may arrive in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Yaml,
    Protobuf,
    JsonPatch,
    MergePatch,
    StrategicMergePatch,
    ApplyPatch,
}

pub fn body_format(headers: &HeaderMap) -> ApiResult<BodyFormat> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let mime = ct.split(';').next().unwrap_or("").trim();
    Ok(match mime {
        "application/json" | "" | "*/*" => BodyFormat::Json,
        "application/yaml" | "application/x-yaml" | "text/yaml" => BodyFormat::Yaml,
        "application/vnd.kubernetes.protobuf" => BodyFormat::Protobuf,
        "application/json-patch+json" => BodyFormat::JsonPatch,
        "application/merge-patch+json" => BodyFormat::MergePatch,
        "application/strategic-merge-patch+json" => BodyFormat::StrategicMergePatch,
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => BodyFormat::ApplyPatch,
        other => return Err(ApiError::unsupported_media_type(other)),
    })
}

/// Decodes an object body (JSON, YAML or kubectl's protobuf envelope).
pub fn decode_object(format: BodyFormat, body: &[u8]) -> ApiResult<Value> {
    let value: Value = match format {
        BodyFormat::Json | BodyFormat::MergePatch | BodyFormat::StrategicMergePatch => {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!("the request body is not valid JSON: {e}"))
            })?
        }
        BodyFormat::Yaml | BodyFormat::ApplyPatch => decode_yaml(body)?,
        BodyFormat::Protobuf => verge_apimachinery::protobuf::decode_request(body)
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        BodyFormat::JsonPatch => {
            return Err(ApiError::unsupported_media_type(
                "application/json-patch+json (only valid for PATCH)",
            ));
        }
    };
    Ok(value)
}

pub fn decode_yaml(body: &[u8]) -> ApiResult<Value> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the request body is not valid UTF-8 YAML"))?;
    // JSON is YAML; the JSON parser is stricter and faster, try it first.
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    serde_saphyr::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid YAML: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resource_paths() {
        let r = Registry::with_builtins();
        let p = parse_path(&r, "/api/v1/namespaces/default/pods/web-1/status")
            .expect("ok")
            .expect("resource");
        assert_eq!(p.rt.plural, "pods");
        assert_eq!(p.namespace.as_deref(), Some("default"));
        assert_eq!(p.name.as_deref(), Some("web-1"));
        assert_eq!(p.subresource.as_deref(), Some("status"));

        let p = parse_path(&r, "/api/v1/namespaces/kube-system")
            .expect("ok")
            .expect("ns");
        assert_eq!(p.rt.plural, "namespaces");
        assert_eq!(p.name.as_deref(), Some("kube-system"));

        let p = parse_path(&r, "/api/v1/namespaces/x/status")
            .expect("ok")
            .expect("ns");
        assert_eq!(p.rt.plural, "namespaces");
        assert_eq!(p.subresource.as_deref(), Some("status"));

        let p = parse_path(&r, "/apis/apps/v1/deployments")
            .expect("ok")
            .expect("all");
        assert!(p.namespace.is_none() && p.name.is_none());

        assert!(parse_path(&r, "/apis/apps/v1").expect("ok").is_none());
        assert!(parse_path(&r, "/apis/apps/v1/nope").is_err());
        assert!(parse_path(&r, "/api/v1/configmaps/x/scale").is_err());
    }

    #[test]
    fn negotiates_tables() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
                .parse()
                .expect("header"),
        );
        assert_eq!(representation(&h), Representation::Table);
        h.insert(
            header::ACCEPT,
            "application/vnd.kubernetes.protobuf,application/json"
                .parse()
                .expect("header"),
        );
        assert_eq!(representation(&h), Representation::Object);
    }

    #[test]
    fn rejects_bad_query_values() {
        assert!(Query::parse(Some("limit=abc")).is_err());
        assert!(Query::parse(Some("dryRun=Some")).is_err());
        let q = Query::parse(Some("watch=true&labelSelector=app%3Dweb&limit=500")).expect("q");
        assert!(q.watch);
        assert_eq!(q.label_selector.as_deref(), Some("app=web"));
        assert_eq!(q.limit, 500);
    }
}
