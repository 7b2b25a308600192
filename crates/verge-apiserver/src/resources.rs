//! The generic semantics of every resource: create, update, patch, delete,
//! get and list, with the metadata rules of the Kubernetes API (uid,
//! generation, resourceVersion preconditions, finalizers, graceful deletion,
//! status subresources). HTTP handlers and in-process controllers both call
//! this; nothing here knows about HTTP.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use verge_store::{Store, StoreError};

use crate::cache::{CacheError, CachedObject, Filter, WatchCache};
use crate::object;
use crate::registry::{Registry, ResourceType};
use crate::request::FieldValidation;
use crate::status::{ApiError, ApiResult, Subject};
use crate::validation;

#[cfg(test)]
mod create_tests;
mod deletion;
mod names;

/// Which part of an object a write may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Everything but `status` (when the type has a status subresource).
    Main,
    /// Only `status`.
    Status,
    /// The whole object, written by the server on the caller's behalf (pod
    /// binding): no status split and no immutability rules.
    Binding,
}

#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: FieldValidation,
    /// The change already wrote `metadata.managedFields` (server-side
    /// apply): the write is not recorded as an `Update`.
    pub applied: bool,
    /// The subresource written through, other than `status` (`scale`):
    /// recorded with the writer in `metadata.managedFields`.
    pub subresource: Option<&'static str>,
}

/// The outcome of a write: the object as stored, and warnings for the client.
#[derive(Debug)]
pub struct Written {
    pub object: Value,
    /// The bytes stored and the revision they were committed at, so an
    /// HTTP response can be the bytes the watch cache serves
    /// ([`object::with_resource_version`]) instead of a second
    /// serialization. `None` when nothing was stored (dry run, no change, a
    /// completed deletion).
    pub stored: Option<(Bytes, i64)>,
    pub warnings: Vec<String>,
    /// True when a create happened (201 rather than 200).
    pub created: bool,
}

#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub dry_run: bool,
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
}

pub enum Deleted {
    /// The object is gone; this was its last state.
    Gone(Value),
    /// Deletion is pending (finalizers or grace period); this is the object now.
    Pending(Value),
}

/// One page of a list.
pub struct Page {
    pub items: Vec<Arc<CachedObject>>,
    pub revision: i64,
    pub continue_token: Option<String>,
    /// Whether more matches follow this page.
    pub more: bool,
}

/// Optimistic-concurrency retries for patches and server-side updates.
const CONFLICT_RETRIES: usize = 10;

pub struct Resources {
    pub registry: Arc<Registry>,
    pub store: Arc<dyn Store>,
    pub cache: Arc<WatchCache>,
}

pub fn subject<'a>(rt: &'a ResourceType, qualified: &'a str, name: &'a str) -> Subject<'a> {
    Subject {
        qualified,
        group: &rt.group,
        plural: &rt.plural,
        name,
    }
}

fn cache_err(e: CacheError) -> ApiError {
    match e {
        CacheError::Expired { .. } => ApiError::gone(e.to_string()),
        CacheError::TooNew { .. } => ApiError::timeout(e.to_string()),
        CacheError::Store(s) => s.into(),
    }
}

impl Resources {
    pub fn key(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> String {
        rt.storage_key(ns, name)
    }

    pub async fn get(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
    ) -> ApiResult<Arc<CachedObject>> {
        let key = self.key(rt, ns, name);
        self.cache
            .get(&key)
            .await
            .map_err(cache_err)?
            .ok_or_else(|| ApiError::not_found(&subject(rt, &rt.qualified_plural(), name)))
    }

    /// A page of objects. `min_revision` None means "consistent read".
    pub async fn list(
        &self,
        filter: &Filter,
        limit: usize,
        continue_token: Option<&str>,
        min_revision: Option<i64>,
    ) -> ApiResult<Page> {
        let (start_after, pinned) = match continue_token {
            Some(token) => {
                let (rev, key) = decode_continue(token)?;
                if !key.starts_with(&filter.prefix) {
                    return Err(ApiError::bad_request(
                        "the continue token does not belong to this list; start the list again",
                    ));
                }
                (Some(key), Some(rev))
            }
            None => (None, None),
        };
        match min_revision {
            Some(rev) => self
                .cache
                .wait_for(rev, Duration::from_secs(3))
                .await
                .map_err(cache_err)?,
            None if pinned.is_none() => self.cache.sync().await.map_err(cache_err)?,
            None => {}
        }
        let (items, revision, more) = self.cache.list(filter, start_after.as_deref(), limit);
        // Every page of one list reports the revision of its first page.
        let revision = pinned.unwrap_or(revision);
        let continue_token = match items.last() {
            Some(last) if more => Some(encode_continue(revision, &last.key)),
            _ => None,
        };
        Ok(Page {
            items,
            revision,
            continue_token,
            more,
        })
    }

    /// Creates an object. `ns` is the namespace from the URL.
    pub async fn create(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        obj: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        self.create_with_suffixes(rt, ns, obj, opts, names::random_suffix)
            .await
    }

    /// [`Resources::create`] with the source of `generateName` suffixes
    /// given, so that tests can make generated names collide.
    pub(crate) async fn create_with_suffixes<S>(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOptions,
        mut suffix: S,
    ) -> ApiResult<Written>
    where
        S: FnMut() -> String + Send,
    {
        check_type(rt, &mut obj)?;
        check_namespace(rt, ns, &mut obj)?;
        let generate = names::generate_prefix(rt, &obj)?;

        let meta = object::meta_mut(&mut obj);
        meta.insert(
            "uid".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
        meta.insert(
            "creationTimestamp".into(),
            Value::String(object::now_rfc3339()),
        );
        for server_owned in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            meta.remove(server_owned);
        }
        if tracks_generation(rt) {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
        if resets_status_on_create(rt)
            && let Value::Object(m) = &mut obj
        {
            m.remove("status");
        }
        self.prepare_for_create(rt, &mut obj).await?;
        // Held until the Service is stored, so no other create takes its
        // addresses (kube-apiserver allocates before validating, too).
        let _assigned = if is_service(rt) {
            Some(crate::services::assign(self, &mut obj, opts.dry_run).await?)
        } else {
            None
        };

        // The name is drawn before validation, after mutating admission (as
        // kube-apiserver's BeforeCreate does), and drawn again when the store
        // says it is taken (RetryGenerateName). Only the suffix changes, so
        // the object validated once stays valid.
        if let Some(prefix) = &generate {
            object::meta_mut(&mut obj).insert(
                "name".into(),
                Value::String(names::generated(prefix, &suffix())),
            );
        }
        let warnings = validation::admit(rt, &mut obj, None, opts.field_validation)?;
        record_managed_fields(rt, None, &mut obj, Part::Main, opts);
        if let Some(ns) = object::namespace(&obj).filter(|_| rt.namespaced) {
            self.check_namespace_accepts(ns).await?;
        }
        if opts.dry_run {
            return Ok(Written {
                object: obj,
                stored: None,
                warnings,
                created: true,
            });
        }
        let mut attempt = 1;
        loop {
            let name = object::name(&obj).unwrap_or("").to_owned();
            let key = self.key(rt, object::namespace(&obj), &name);
            let bytes = object::to_stored_bytes(&obj);
            match self.store.create(&key, bytes.clone()).await {
                Ok(rev) => {
                    object::set_resource_version(&mut obj, rev);
                    self.after_write(rt, &obj);
                    return Ok(Written {
                        object: obj,
                        stored: Some((bytes, rev)),
                        warnings,
                        created: true,
                    });
                }
                Err(StoreError::AlreadyExists(_)) => match &generate {
                    Some(prefix) if attempt < names::GENERATE_NAME_ATTEMPTS => {
                        tracing::debug!(kind = %rt.kind, %name, attempt, "generated name taken; drawing another");
                        attempt += 1;
                        object::meta_mut(&mut obj).insert(
                            "name".into(),
                            Value::String(names::generated(prefix, &suffix())),
                        );
                    }
                    Some(_) => return Err(names::generate_name_conflict(rt, &name)),
                    None => {
                        return Err(ApiError::already_exists(&subject(
                            rt,
                            &rt.qualified_plural(),
                            &name,
                        )));
                    }
                },
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Replaces (part of) an object. `change` computes the new object from the
    /// current one; it runs again when a concurrent write got there first,
    /// unless the new object carries an explicit resourceVersion precondition.
    pub async fn update<F>(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        part: Part,
        opts: &WriteOptions,
        mut change: F,
    ) -> ApiResult<Written>
    where
        F: FnMut(&Value) -> ApiResult<Value>,
    {
        let qualified = rt.qualified_plural();
        let subj = subject(rt, &qualified, name);
        for _ in 0..CONFLICT_RETRIES {
            let current = self.get(rt, ns, name).await?;
            let mut old = current.value();
            if rt.is_custom() {
                old["apiVersion"] = Value::String(rt.api_version());
            }
            let mut new = change(&old)?;
            check_type(rt, &mut new)?;
            if object::name(&new).is_some_and(|n| n != name) {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    object::name(&new).unwrap_or("")
                )));
            }
            check_namespace(rt, ns, &mut new)?;
            let precondition = object::resource_version(&new).map(str::to_owned);
            if let Some(rv) = &precondition
                && *rv != current.revision.to_string()
            {
                return Err(ApiError::modified(&subj));
            }
            let mut new = merge_server_fields(rt, part, &old, new);
            if part == Part::Main && is_crd(rt) {
                crate::crd::prepare(&mut new, &self.registry)?;
            }
            let _assigned = if part == Part::Main && is_service(rt) {
                drop_stale_service_fields(&old, &mut new);
                let key = self.key(rt, ns, name);
                crate::services::assign_on_update(self, &key, &old, &mut new, opts.dry_run).await?
            } else {
                None
            };
            let old_for_rules = (part != Part::Binding).then_some(&old);
            let warnings = validation::admit(rt, &mut new, old_for_rules, opts.field_validation)?;
            record_managed_fields(rt, Some(&old), &mut new, part, opts);

            if deletion::completes_on_update(&old, &new) {
                // The last finalizer is gone from an object whose grace
                // period is over: the deletion completes now.
                if opts.dry_run {
                    return Ok(Written {
                        object: new,
                        stored: None,
                        warnings,
                        created: false,
                    });
                }
                let key = self.key(rt, ns, name);
                return match self.store.delete(&key, current.revision).await {
                    Ok((rev, _)) => {
                        object::set_resource_version(&mut new, rev);
                        self.after_delete(rt, &new);
                        Ok(Written {
                            object: new,
                            stored: None,
                            warnings,
                            created: false,
                        })
                    }
                    Err(StoreError::Conflict { .. }) if precondition.is_none() => continue,
                    Err(StoreError::Conflict { .. }) => Err(ApiError::modified(&subj)),
                    Err(StoreError::NotFound(_)) => Err(ApiError::not_found(&subj)),
                    Err(e) => Err(e.into()),
                };
            }

            let bytes = object::to_stored_bytes(&new);
            if bytes == object::to_stored_bytes(&old) {
                // Nothing changed: no write, no event, same resourceVersion.
                return Ok(Written {
                    object: old,
                    stored: None,
                    warnings,
                    created: false,
                });
            }
            if opts.dry_run {
                object::set_resource_version(&mut new, current.revision);
                return Ok(Written {
                    object: new,
                    stored: None,
                    warnings,
                    created: false,
                });
            }
            let key = self.key(rt, ns, name);
            match self
                .store
                .update(&key, bytes.clone(), current.revision)
                .await
            {
                Ok(rev) => {
                    object::set_resource_version(&mut new, rev);
                    self.after_write(rt, &new);
                    return Ok(Written {
                        object: new,
                        stored: Some((bytes, rev)),
                        warnings,
                        created: false,
                    });
                }
                Err(StoreError::Conflict { .. }) if precondition.is_none() => continue,
                Err(StoreError::Conflict { .. }) => return Err(ApiError::modified(&subj)),
                Err(StoreError::NotFound(_)) => return Err(ApiError::not_found(&subj)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::conflict(
            &subj,
            "too many concurrent writes to this object; retry",
        ))
    }

    /// Deletes an object, honouring finalizers, grace periods and propagation.
    pub async fn delete(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Deleted> {
        let qualified = rt.qualified_plural();
        let subj = subject(rt, &qualified, name);
        for _ in 0..CONFLICT_RETRIES {
            let current = self.get(rt, ns, name).await?;
            let obj = current.value();
            if let Some(uid) = &opts.precondition_uid
                && uid != object::uid(&obj)
            {
                return Err(ApiError::conflict(
                    &subj,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        object::uid(&obj)
                    ),
                ));
            }
            if let Some(rv) = &opts.precondition_resource_version
                && *rv != current.revision.to_string()
            {
                return Err(ApiError::conflict(
                    &subj,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        current.revision
                    ),
                ));
            }
            let key = self.key(rt, ns, name);
            let written = match deletion::plan(rt, obj, opts, jiff::Timestamp::now())? {
                deletion::Plan::Unchanged(obj) => {
                    return Ok(Deleted::Pending(with_rv(obj, current.revision)));
                }
                deletion::Plan::Mark(obj) if opts.dry_run => {
                    return Ok(Deleted::Pending(with_rv(obj, current.revision)));
                }
                deletion::Plan::Remove(obj) if opts.dry_run => {
                    return Ok(Deleted::Gone(with_rv(obj, current.revision)));
                }
                deletion::Plan::Mark(mut obj) => self
                    .store
                    .update(&key, object::to_stored_bytes(&obj), current.revision)
                    .await
                    .map(|rev| {
                        object::set_resource_version(&mut obj, rev);
                        Deleted::Pending(obj)
                    }),
                deletion::Plan::Remove(mut obj) => self
                    .store
                    .delete(&key, current.revision)
                    .await
                    .map(|(rev, _)| {
                        object::set_resource_version(&mut obj, rev);
                        self.after_delete(rt, &obj);
                        Deleted::Gone(obj)
                    }),
            };
            match written {
                Ok(deleted) => return Ok(deleted),
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound(_)) => return Err(ApiError::not_found(&subj)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::conflict(
            &subj,
            "too many concurrent writes to this object; retry",
        ))
    }

    /// Kind-specific additions on create that need the store.
    async fn prepare_for_create(&self, rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
        if is_crd(rt) {
            crate::crd::prepare(obj, &self.registry)?;
        }
        if rt.group.is_empty() && rt.kind == "Pod" {
            crate::defaults::priority::admit_pod(self, obj).await?;
        }
        Ok(())
    }

    async fn check_namespace_accepts(&self, ns: &str) -> ApiResult<()> {
        let Some(nsrt) = self.registry.lookup("", "v1", "namespaces") else {
            return Ok(());
        };
        let key = nsrt.storage_key(None, ns);
        let deleting = match self.cache.get_now(&key) {
            Some(n) => object::is_deleting(&n.value()),
            // The cache may not have applied a namespace created a moment
            // ago (the client got its 201 before the watch delivered it):
            // ask the store, as kube's NamespaceLifecycle does on a miss.
            None => match self.store.get(&key).await? {
                None => return Err(ApiError::not_found(&subject(&nsrt, "namespaces", ns))),
                Some(kv) => serde_json::from_slice::<Value>(&kv.value)
                    .is_ok_and(|n| object::is_deleting(&n)),
            },
        };
        if deleting {
            return Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            )));
        }
        Ok(())
    }

    fn after_write(&self, rt: &ResourceType, obj: &Value) {
        if is_crd(rt) {
            crate::crd::serve(obj, &self.registry);
        }
    }

    fn after_delete(&self, rt: &ResourceType, obj: &Value) {
        if is_crd(rt) {
            crate::crd::unserve(obj, &self.registry);
        }
    }
}

/// A Service that changes type loses the fields of its old type, as in
/// Kubernetes (`kubectl apply` from NodePort to ClusterIP would otherwise fail
/// on the leftover nodePorts); a PUT without clusterIP keeps the stored one.
fn drop_stale_service_fields(old: &Value, new: &mut Value) {
    let ty = |v: &Value| {
        v.pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_owned()
    };
    let (old_type, new_type) = (ty(old), ty(new));
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if old_type == new_type {
        for field in ["clusterIP", "clusterIPs"] {
            if !spec.contains_key(field)
                && let Some(v) = old.pointer(&format!("/spec/{field}"))
            {
                spec.insert(field.into(), v.clone());
            }
        }
        return;
    }
    if !matches!(new_type.as_str(), "NodePort" | "LoadBalancer") {
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                port.remove("nodePort");
            }
        }
        spec.remove("externalTrafficPolicy");
        spec.remove("healthCheckNodePort");
    }
    if new_type != "LoadBalancer" {
        for field in [
            "allocateLoadBalancerNodePorts",
            "loadBalancerClass",
            "loadBalancerIP",
            "loadBalancerSourceRanges",
        ] {
            spec.remove(field);
        }
    }
    if new_type == "ExternalName" {
        for field in [
            "clusterIP",
            "clusterIPs",
            "ipFamilies",
            "ipFamilyPolicy",
            "internalTrafficPolicy",
            "sessionAffinity",
        ] {
            spec.remove(field);
        }
    } else if old_type == "ExternalName" {
        spec.remove("externalName");
    }
}

/// Records a write other than server-side apply in `metadata.managedFields`:
/// the writer (`fieldManager`, else the user agent's product, else
/// "unknown") owns what it changed.
fn record_managed_fields(
    rt: &ResourceType,
    old: Option<&Value>,
    new: &mut Value,
    part: Part,
    opts: &WriteOptions,
) {
    // kube-apiserver writes a binding at the storage layer, past its field
    // manager: bound pods carry no managedFields entry for spec.nodeName.
    // (Recording one cost the scheduler ~40% of the server's CPU per pod.)
    if opts.applied || part == Part::Binding {
        return;
    }
    let subresource = match part {
        Part::Status => Some("status"),
        Part::Main | Part::Binding => opts.subresource,
    };
    verge_apimachinery::apply::Write {
        manager: opts.field_manager.as_deref().unwrap_or("unknown"),
        api_version: &rt.api_version(),
        kind: &rt.kind,
        subresource,
        now: &object::now_rfc3339(),
    }
    .record_update(old, new);
}

fn is_crd(rt: &ResourceType) -> bool {
    rt.group == "apiextensions.k8s.io" && rt.kind == "CustomResourceDefinition"
}

fn is_service(rt: &ResourceType) -> bool {
    rt.group.is_empty() && rt.kind == "Service"
}

fn with_rv(mut obj: Value, rev: i64) -> Value {
    object::set_resource_version(&mut obj, rev);
    obj
}

/// Types whose `metadata.generation` counts spec changes.
fn tracks_generation(rt: &ResourceType) -> bool {
    rt.is_custom()
        || !matches!(
            rt.kind.as_str(),
            "ConfigMap"
                | "Secret"
                | "Event"
                | "Endpoints"
                | "EndpointSlice"
                | "Lease"
                | "ServiceAccount"
        )
}

/// Types whose status a client may not set at creation.
fn resets_status_on_create(rt: &ResourceType) -> bool {
    rt.subresources.status && !(rt.group.is_empty() && rt.kind == "Node")
}

/// apiVersion and kind must name this type; missing ones are filled in.
fn check_type(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    let Value::Object(map) = obj else {
        return Err(ApiError::bad_request(format!(
            "the request body must be a JSON object describing a {}",
            rt.kind
        )));
    };
    let api_version = rt.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), Value::String(api_version.clone()));
        }
        Some(v) if v == api_version => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), Value::String(rt.kind.clone()));
        }
        Some(k) if k == rt.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({}); send it to the URL of {k} objects",
                rt.kind
            )));
        }
    }
    Ok(())
}

/// The namespace in the body must agree with the URL; it is filled in from
/// the URL when missing, and removed for cluster-scoped types.
fn check_namespace(rt: &ResourceType, url_ns: Option<&str>, obj: &mut Value) -> ApiResult<()> {
    let meta = object::meta_mut(obj);
    if !rt.namespaced {
        meta.remove("namespace");
        return Ok(());
    }
    let Some(url_ns) = url_ns else {
        return Err(ApiError::bad_request(format!(
            "{} is namespaced: send it to /namespaces/<namespace>/{}",
            rt.kind, rt.plural
        )));
    };
    match meta.get("namespace").and_then(Value::as_str) {
        None | Some("") => {
            meta.insert("namespace".into(), Value::String(url_ns.to_owned()));
            Ok(())
        }
        Some(ns) if ns == url_ns => Ok(()),
        Some(ns) => Err(ApiError::bad_request(format!(
            "the namespace of the provided object ({ns}) does not match the namespace sent on the request ({url_ns})"
        ))),
    }
}

/// Carries what the server owns from the old object into the new one, and
/// applies the status-subresource split.
fn merge_server_fields(rt: &ResourceType, part: Part, old: &Value, new: Value) -> Value {
    let mut new = match part {
        Part::Status => {
            // Only status changes; everything else stays as stored.
            let mut merged = old.clone();
            match new.get("status") {
                Some(s) => merged["status"] = s.clone(),
                None => {
                    if let Value::Object(m) = &mut merged {
                        m.remove("status");
                    }
                }
            }
            merged
        }
        Part::Binding => new,
        Part::Main => {
            let mut new = new;
            if rt.subresources.status {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Value::Object(m) = &mut new {
                            m.remove("status");
                        }
                    }
                }
            }
            new
        }
    };
    let old_meta = object::meta(old).cloned().unwrap_or_default();
    let meta = object::meta_mut(&mut new);
    for owned in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_meta.get(owned) {
            Some(v) => {
                meta.insert(owned.into(), v.clone());
            }
            None => {
                meta.remove(owned);
            }
        }
    }
    if meta
        .get("managedFields")
        .is_none_or(|m| m.as_array().is_some_and(Vec::is_empty))
        && let Some(mf) = old_meta.get("managedFields")
    {
        meta.insert("managedFields".into(), mf.clone());
    }
    meta.remove("resourceVersion");
    if part == Part::Main && tracks_generation(rt) && spec_changed(old, &new) {
        let next = object::generation(old) + 1;
        object::meta_mut(&mut new).insert("generation".into(), json!(next));
    }
    new
}

/// Did anything outside metadata and status change?
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        let mut m = v.as_object().cloned().unwrap_or_default();
        for k in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(k);
        }
        m
    };
    strip(old) != strip(new)
}

fn encode_continue(revision: i64, key: &str) -> String {
    let raw = json!({"v": 1, "rv": revision, "start": key}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> ApiResult<(i64, String)> {
    let bad = || {
        ApiError::bad_request("the continue token is not valid; start the list again without it")
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rev = v.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let key = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((rev, key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let t = encode_continue(42, "/registry/pods/default/web-7");
        assert_eq!(
            decode_continue(&t).expect("token"),
            (42, "/registry/pods/default/web-7".to_owned())
        );
        assert!(decode_continue("not-a-token!").is_err());
        assert!(decode_continue("e30").is_err());
    }

    #[test]
    fn service_type_changes_drop_the_old_types_fields() {
        let old = json!({"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":30080}],"externalTrafficPolicy":"Cluster","clusterIP":"10.43.0.9"}});
        let mut new = json!({"spec":{"type":"ClusterIP","ports":[{"port":80,"nodePort":30080}],"externalTrafficPolicy":"Cluster"}});
        drop_stale_service_fields(&old, &mut new);
        assert!(new.pointer("/spec/ports/0/nodePort").is_none());
        assert!(new.pointer("/spec/externalTrafficPolicy").is_none());

        let mut same_type = json!({"spec":{"type":"NodePort","ports":[{"port":80}]}});
        drop_stale_service_fields(&old, &mut same_type);
        assert_eq!(
            same_type["spec"]["clusterIP"], "10.43.0.9",
            "PUT without clusterIP keeps it"
        );
    }

    #[test]
    fn generation_follows_spec_changes_only() {
        let r = Registry::with_builtins();
        let rt = r.lookup("apps", "v1", "deployments").expect("rt");
        let old = json!({"metadata":{"name":"w","generation":3,"uid":"u"},"spec":{"replicas":1},"status":{"replicas":1}});
        let mut same_spec = old.clone();
        same_spec["metadata"]["labels"] = json!({"a":"b"});
        let merged = merge_server_fields(&rt, Part::Main, &old, same_spec);
        assert_eq!(merged["metadata"]["generation"], 3);
        let mut new_spec = old.clone();
        new_spec["spec"]["replicas"] = json!(2);
        new_spec["status"] = json!({"replicas": 99});
        new_spec["metadata"]["uid"] = json!("forged");
        let merged = merge_server_fields(&rt, Part::Main, &old, new_spec);
        assert_eq!(merged["metadata"]["generation"], 4);
        assert_eq!(
            merged["status"]["replicas"], 1,
            "status ignored on the main resource"
        );
        assert_eq!(merged["metadata"]["uid"], "u", "uid is immutable");

        let mut status_write = old.clone();
        status_write["spec"]["replicas"] = json!(7);
        status_write["status"]["replicas"] = json!(5);
        let merged = merge_server_fields(&rt, Part::Status, &old, status_write);
        assert_eq!(merged["spec"]["replicas"], 1, "spec ignored on /status");
        assert_eq!(merged["status"]["replicas"], 5);
        assert_eq!(merged["metadata"]["generation"], 3);
    }
}
