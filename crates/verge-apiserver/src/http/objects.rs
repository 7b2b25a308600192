//! Handlers for resource URLs: get, list, create, update, patch, delete.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use http::{Request, StatusCode};
use serde_json::{Value, json};
use verge_apimachinery::fields::FieldSelector;
use verge_apimachinery::labels::Selector;

use super::{ApiServer, add_warnings, bytes_response, json_response, subresources, watch};
use crate::cache::{CachedObject, Filter};
use crate::object;
use crate::registry::ResourceType;
use crate::request::{self, BodyFormat, MAX_BODY_BYTES, Query, Representation, ResourcePath, Verb};
use crate::resources::{DeleteOptions, Deleted, Part, Written, subject};
use crate::selectable;
use crate::status::{ApiError, ApiResult, success_status};
use crate::tables::{self, IncludeObject};

pub async fn handle(
    api: &Arc<ApiServer>,
    rp: ResourcePath,
    verb: Verb,
    query: Query,
    req: Request<Body>,
) -> Response {
    match dispatch(api, rp, verb, query, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    api: &Arc<ApiServer>,
    rp: ResourcePath,
    verb: Verb,
    query: Query,
    req: Request<Body>,
) -> ApiResult<Response> {
    let repr = request::representation(req.headers());
    let part = match rp.subresource.as_deref() {
        None => Part::Main,
        Some("status") => Part::Status,
        Some(_) => return subresources::handle(api, rp, verb, query, req).await,
    };
    match verb {
        Verb::Get => get(api, &rp, repr, &query).await,
        Verb::List => list(api, &rp, repr, &query).await,
        Verb::Watch => watch::serve(api, &rp, repr, &query).await,
        Verb::Create => {
            let (format, body) = read_body(req).await?;
            create(api, &rp, &query, format, &body).await
        }
        Verb::Update => {
            let (format, body) = read_body(req).await?;
            update(api, &rp, part, &query, format, &body).await
        }
        Verb::Patch => {
            let (format, body) = read_body(req).await?;
            patch(api, &rp, part, &query, format, &body).await
        }
        Verb::Delete => {
            let (format, body) = read_body(req).await?;
            delete(api, &rp, &query, format, &body).await
        }
        Verb::DeleteCollection => {
            let (format, body) = read_body(req).await?;
            delete_collection(api, &rp, &query, format, &body).await
        }
    }
}

pub(super) async fn read_body(req: Request<Body>) -> ApiResult<(BodyFormat, Bytes)> {
    let format = request::body_format(req.headers());
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::too_large(MAX_BODY_BYTES))?;
    // The content type only matters when there is a body.
    let format = if body.is_empty() {
        format.unwrap_or(BodyFormat::Json)
    } else {
        format?
    };
    Ok((format, body))
}

/// The filter for a list or watch: type and namespace prefix plus selectors.
pub(super) fn filter(rt: &ResourceType, ns: Option<&str>, query: &Query) -> ApiResult<Filter> {
    let prefix = match ns {
        Some(ns) if rt.namespaced => format!("{}{ns}/", rt.storage_prefix()),
        _ => rt.storage_prefix(),
    };
    let labels = match &query.label_selector {
        Some(s) => Some(
            Selector::parse(s)
                .map_err(|e| ApiError::bad_request(format!("invalid label selector: {e}")))?,
        ),
        None => None,
    };
    let fields = match &query.field_selector {
        Some(s) => {
            let sel = FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
            for req in sel.requirements() {
                if !selectable::is_supported(&rt.group, &rt.plural, &req.field) {
                    return Err(ApiError::bad_request(format!(
                        "field label not supported: {} (supported on {}: metadata.name, metadata.namespace and the fields the API documents)",
                        req.field, rt.plural
                    )));
                }
            }
            Some(sel)
        }
        None => None,
    };
    Ok(Filter {
        prefix,
        labels,
        fields,
    })
}

fn include_object(query: &Query) -> IncludeObject {
    IncludeObject::parse(query.include_object.as_deref())
}

/// An object in the representation the client asked for.
pub(super) fn object_response(
    rt: &ResourceType,
    obj: Value,
    repr: Representation,
    query: &Query,
    status: StatusCode,
) -> Response {
    let body = match repr {
        Representation::Object => obj,
        Representation::Table => {
            let rv = object::resource_version(&obj).unwrap_or("").to_owned();
            tables::table(
                rt,
                std::slice::from_ref(&obj),
                &rv,
                None,
                include_object(query),
                jiff::Timestamp::now(),
            )
        }
        Representation::PartialMetadata => tables::partial_object_metadata(&obj),
    };
    let mut resp = json_response(body);
    *resp.status_mut() = status;
    resp
}

async fn get(
    api: &Arc<ApiServer>,
    rp: &ResourcePath,
    repr: Representation,
    query: &Query,
) -> ApiResult<Response> {
    let name = rp.name.as_deref().unwrap_or("");
    let cached = api
        .resources
        .get(&rp.rt, rp.namespace.as_deref(), name)
        .await?;
    if repr == Representation::Object {
        return Ok(bytes_response(
            served_bytes(&rp.rt, &cached.bytes),
            "application/json",
        ));
    }
    Ok(object_response(
        &rp.rt,
        cached.value(),
        repr,
        query,
        StatusCode::OK,
    ))
}

async fn list(
    api: &Arc<ApiServer>,
    rp: &ResourcePath,
    repr: Representation,
    query: &Query,
) -> ApiResult<Response> {
    let rt = &rp.rt;
    let filter = filter(rt, rp.namespace.as_deref(), query)?;
    // resourceVersion=0 means "any version": serve what the cache has now.
    let min_revision = match query.revision()? {
        Some(0) => Some(0),
        Some(rev) if query.resource_version_match.as_deref() == Some("Exact") => {
            if rev != api.resources.cache.revision() {
                return Err(ApiError::gone(format!(
                    "the list at exact resourceVersion {rev} is no longer available; list without resourceVersion"
                )));
            }
            Some(rev)
        }
        other => other,
    };
    let page = api
        .resources
        .list(
            &filter,
            query.limit,
            query.continue_token.as_deref(),
            min_revision,
        )
        .await?;
    let rv = page.revision.to_string();
    match repr {
        Representation::Object => Ok(bytes_response(
            list_bytes(rt, &page.items, &rv, page.continue_token.as_deref()),
            "application/json",
        )),
        Representation::Table => {
            let items: Vec<Value> = page.items.iter().map(|o| o.value()).collect();
            Ok(json_response(tables::table(
                rt,
                &items,
                &rv,
                page.continue_token.as_deref(),
                include_object(query),
                jiff::Timestamp::now(),
            )))
        }
        Representation::PartialMetadata => {
            let items: Vec<Value> = page.items.iter().map(|o| o.value()).collect();
            Ok(json_response(tables::partial_object_metadata_list(
                &items,
                &rv,
                page.continue_token.as_deref(),
            )))
        }
    }
}

/// An object's bytes as served through `rt` (custom resources: in the version asked for).
pub(super) fn served_bytes(rt: &ResourceType, bytes: &Bytes) -> Bytes {
    if rt.is_custom() {
        object::with_api_version(bytes, &rt.api_version())
    } else {
        bytes.clone()
    }
}

/// A `<Kind>List` assembled from the cached bytes, without re-serializing items.
fn list_bytes(
    rt: &ResourceType,
    items: &[Arc<CachedObject>],
    rv: &str,
    cont: Option<&str>,
) -> Bytes {
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    let head = format!(
        "{{\"kind\":{},\"apiVersion\":{},\"metadata\":{},\"items\":[",
        json!(rt.list_kind),
        json!(rt.api_version()),
        meta
    );
    let size = head.len() + items.iter().map(|i| i.bytes.len() + 1).sum::<usize>() + 2;
    let mut buf = BytesMut::with_capacity(size);
    buf.put_slice(head.as_bytes());
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b',');
        }
        buf.put_slice(&served_bytes(rt, &item.bytes));
    }
    buf.put_slice(b"]}");
    buf.freeze()
}

fn written_response(
    rt: &ResourceType,
    w: Written,
    query: &Query,
    repr: Representation,
) -> Response {
    let status = if w.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut resp = match (repr, w.stored) {
        (Representation::Object, Some((stored, rev))) => {
            let body = object::with_resource_version(&stored, rev);
            let mut resp = bytes_response(served_bytes(rt, &body), "application/json");
            *resp.status_mut() = status;
            resp
        }
        _ => object_response(rt, w.object, repr, query, status),
    };
    add_warnings(resp.headers_mut(), &w.warnings);
    resp
}

async fn create(
    api: &Arc<ApiServer>,
    rp: &ResourcePath,
    query: &Query,
    format: BodyFormat,
    body: &[u8],
) -> ApiResult<Response> {
    if rp.name.is_some() {
        return Err(ApiError::method_not_allowed(
            "POST is not allowed on a named object; use PUT or PATCH",
        ));
    }
    let obj = request::decode_object(format, body)?;
    let w = api
        .resources
        .create(&rp.rt, rp.namespace.as_deref(), obj, &query.write_options())
        .await?;
    Ok(written_response(&rp.rt, w, query, Representation::Object))
}

async fn update(
    api: &Arc<ApiServer>,
    rp: &ResourcePath,
    part: Part,
    query: &Query,
    format: BodyFormat,
    body: &[u8],
) -> ApiResult<Response> {
    let name = rp.name.as_deref().unwrap_or("");
    let obj = request::decode_object(format, body)?;
    let opts = query.write_options();
    let ns = rp.namespace.as_deref();
    let w = match api
        .resources
        .update(&rp.rt, ns, name, part, &opts, |_| Ok(obj.clone()))
        .await
    {
        Err(e)
            if e.code == StatusCode::NOT_FOUND
                && part == Part::Main
                && creates_on_update(&rp.rt)
                && object::resource_version(&obj).is_none() =>
        {
            let mut obj = obj;
            match object::name(&obj) {
                None | Some("") => {
                    object::meta_mut(&mut obj).insert("name".into(), json!(name));
                }
                Some(n) if n == name => {}
                Some(n) => {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({n}) does not match the name on the URL ({name})"
                    )));
                }
            }
            api.resources.create(&rp.rt, ns, obj, &opts).await?
        }
        other => other?,
    };
    Ok(written_response(&rp.rt, w, query, Representation::Object))
}

/// Types a PUT creates when missing (their strategies' `AllowCreateOnUpdate`
/// in kube-apiserver); everything else answers 404.
fn creates_on_update(rt: &ResourceType) -> bool {
    rt.group.is_empty() && rt.kind == "Service"
}

/// Applies a patch body of the given format to `old`.
pub(super) fn apply_patch(
    rt: &ResourceType,
    old: &Value,
    format: BodyFormat,
    body: &[u8],
) -> ApiResult<Value> {
    use verge_apimachinery::patch;
    let bad = |e: patch::PatchError| ApiError::patch(&e);
    let mut new = match format {
        BodyFormat::JsonPatch => patch::json_patch(old, body).map_err(bad)?,
        BodyFormat::MergePatch => {
            let p = request::decode_object(format, body)?;
            patch::merge_patch(old, &p)
        }
        BodyFormat::StrategicMergePatch => {
            if rt.is_custom() {
                return Err(ApiError::unsupported_media_type(
                    "application/strategic-merge-patch+json (custom resources take merge or JSON patches)",
                ));
            }
            let p = request::decode_object(format, body)?;
            patch::strategic_merge_patch(old, &p, &rt.kind).map_err(bad)?
        }
        other => {
            return Err(ApiError::unsupported_media_type(&format!(
                "{other:?} is not a patch format"
            )));
        }
    };
    // The old object's resourceVersion is not a precondition unless the patch set it.
    if object::resource_version(&new) == object::resource_version(old) {
        object::meta_mut(&mut new).remove("resourceVersion");
    }
    Ok(new)
}

async fn patch(
    api: &Arc<ApiServer>,
    rp: &ResourcePath,
    part: Part,
    query: &Query,
    format: BodyFormat,
    body: &[u8],
) -> ApiResult<Response> {
    if format == BodyFormat::ApplyPatch {
        let w = crate::apply::server_side_apply(
            &api.resources,
            &rp.rt,
            rp.namespace.as_deref(),
            rp.name.as_deref().unwrap_or(""),
            part,
            query,
            body,
        )
        .await?;
        return Ok(written_response(&rp.rt, w, query, Representation::Object));
    }
    if !matches!(
        format,
        BodyFormat::JsonPatch | BodyFormat::MergePatch | BodyFormat::StrategicMergePatch
    ) {
        return Err(ApiError::unsupported_media_type(&format!(
            "{format:?}: PATCH takes application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json or application/apply-patch+yaml"
        )));
    }
    let name = rp.name.as_deref().unwrap_or("");
    let rt = rp.rt.clone();
    let w = api
        .resources
        .update(
            &rt,
            rp.namespace.as_deref(),
            name,
            part,
            &query.write_options(),
            |old| apply_patch(&rt, old, format, body),
        )
        .await?;
    Ok(written_response(&rp.rt, w, query, Representation::Object))
}

pub(super) fn delete_options(
    query: &Query,
    format: BodyFormat,
    body: &[u8],
) -> ApiResult<DeleteOptions> {
    let mut opts = DeleteOptions {
        dry_run: query.dry_run,
        grace_period_seconds: query.grace_period_seconds,
        propagation_policy: query.propagation_policy.clone(),
        ..DeleteOptions::default()
    };
    if !body.is_empty() {
        let v = request::decode_object(format, body)?;
        if let Some(g) = v.get("gracePeriodSeconds").and_then(Value::as_i64) {
            opts.grace_period_seconds = Some(g);
        }
        if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
            opts.propagation_policy = Some(p.to_owned());
        } else if v.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
            opts.propagation_policy = Some("Orphan".into());
        }
        if let Some(d) = v.get("dryRun").and_then(Value::as_array) {
            opts.dry_run |= d.iter().any(|x| x == "All");
        }
        opts.precondition_uid = v
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_owned);
        opts.precondition_resource_version = v
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    Ok(opts)
}

async fn delete(
    api: &Arc<ApiServer>,
    rp: &ResourcePath,
    query: &Query,
    format: BodyFormat,
    body: &[u8],
) -> ApiResult<Response> {
    let name = rp.name.as_deref().unwrap_or("");
    let opts = delete_options(query, format, body)?;
    let rt = &rp.rt;
    match api
        .resources
        .delete(rt, rp.namespace.as_deref(), name, &opts)
        .await?
    {
        Deleted::Pending(obj) => Ok(object_response(
            rt,
            obj,
            Representation::Object,
            query,
            StatusCode::OK,
        )),
        Deleted::Gone(obj) => {
            let qualified = rt.qualified_plural();
            Ok(json_response(success_status(
                &subject(rt, &qualified, name),
                object::uid(&obj),
            )))
        }
    }
}

async fn delete_collection(
    api: &Arc<ApiServer>,
    rp: &ResourcePath,
    query: &Query,
    format: BodyFormat,
    body: &[u8],
) -> ApiResult<Response> {
    let rt = &rp.rt;
    let opts = delete_options(query, format, body)?;
    let filter = filter(rt, rp.namespace.as_deref(), query)?;
    let page = api.resources.list(&filter, 0, None, None).await?;
    let mut deleted = Vec::new();
    for item in &page.items {
        let obj = item.value();
        let (Some(name), ns) = (object::name(&obj), object::namespace(&obj)) else {
            continue;
        };
        match api.resources.delete(rt, ns, name, &opts).await {
            Ok(Deleted::Gone(o) | Deleted::Pending(o)) => deleted.push(o),
            Err(e) if e.code == StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({
        "kind": rt.list_kind,
        "apiVersion": rt.api_version(),
        "metadata": {"resourceVersion": api.resources.cache.revision().to_string()},
        "items": deleted,
    });
    Ok(json_response(list))
}
