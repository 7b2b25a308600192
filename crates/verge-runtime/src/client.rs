//! Typed access to the API for in-process controllers.
//!
//! Reads come straight from the shared watch cache (what an informer would
//! hold, without a copy); writes go through [`Resources`], the same admission,
//! validation and store path as an HTTP request.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::{Metadata, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use verge_apiserver::cache::{CachedObject, Filter, WatchCache};
use verge_apiserver::registry::ResourceType;
use verge_apiserver::resources::{DeleteOptions, Part, Resources, WriteOptions};
use verge_apiserver::status::ApiError;

use crate::error::Error;
use crate::watcher::Watcher;

/// A controller's handle on the API. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    resources: Arc<Resources>,
    /// Recorded as the field manager of every write.
    manager: Arc<str>,
}

impl Client {
    pub fn new(resources: Arc<Resources>, manager: &str) -> Client {
        Client {
            resources,
            manager: manager.into(),
        }
    }

    /// The same client, writing as another field manager.
    pub fn with_manager(&self, manager: &str) -> Client {
        Client::new(self.resources.clone(), manager)
    }

    pub fn manager(&self) -> &str {
        &self.manager
    }

    pub fn resources(&self) -> &Arc<Resources> {
        &self.resources
    }

    pub fn cache(&self) -> &Arc<WatchCache> {
        &self.resources.cache
    }

    /// How the API serves `K`.
    pub fn resource_type<K: Resource>(&self) -> Result<Arc<ResourceType>, Error> {
        self.resources
            .registry
            .lookup(K::GROUP, K::VERSION, K::URL_PATH_SEGMENT)
            .ok_or_else(|| Error::NotServed(format!("{}/{}", K::API_VERSION, K::KIND)))
    }

    /// The storage prefix of `K` (in namespace `ns`, when given).
    pub fn prefix<K: Resource>(&self, ns: Option<&str>) -> Result<String, Error> {
        let rt = self.resource_type::<K>()?;
        Ok(match ns {
            Some(ns) if rt.namespaced => format!("{}{ns}/", rt.storage_prefix()),
            _ => rt.storage_prefix(),
        })
    }

    /// The storage key of one object of `K`.
    pub fn key<K: Resource>(&self, ns: Option<&str>, name: &str) -> Result<String, Error> {
        Ok(self.resource_type::<K>()?.storage_key(ns, name))
    }

    /// A change stream over every `K` (in `ns`, when given).
    pub fn watcher<K: Resource>(&self, ns: Option<&str>) -> Result<Watcher, Error> {
        Ok(Watcher::new(
            self.cache().clone(),
            Filter::prefix(self.prefix::<K>(ns)?),
        ))
    }

    /// Decodes a cached object as `K`.
    pub fn decode<K: DeserializeOwned>(obj: &CachedObject) -> Result<K, Error> {
        serde_json::from_slice(&obj.bytes).map_err(|source| Error::Decode {
            key: obj.key.clone(),
            source,
        })
    }

    /// One object as the cache holds it now (what an informer would say).
    pub fn get<K: Resource + DeserializeOwned>(
        &self,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Option<K>, Error> {
        self.get_by_key(&self.key::<K>(ns, name)?)
    }

    pub fn get_by_key<K: DeserializeOwned>(&self, key: &str) -> Result<Option<K>, Error> {
        self.cache()
            .get_now(key)
            .map(|o| Self::decode(&o))
            .transpose()
    }

    /// Every `K` (in `ns`, when given), as the cache holds them now.
    pub fn list<K: Resource + DeserializeOwned>(&self, ns: Option<&str>) -> Result<Vec<K>, Error> {
        self.list_cached(&Filter::prefix(self.prefix::<K>(ns)?))
            .iter()
            .map(|o| Self::decode(o))
            .collect()
    }

    /// Cached objects matching `filter`, undecoded.
    pub fn list_cached(&self, filter: &Filter) -> Vec<Arc<CachedObject>> {
        self.cache().list(filter, None, 0).0
    }

    fn write_options(&self) -> WriteOptions {
        WriteOptions {
            field_manager: Some(self.manager.to_string()),
            ..WriteOptions::default()
        }
    }

    /// Creates `obj` in its own namespace.
    pub async fn create<K>(&self, obj: &K) -> Result<K, Error>
    where
        K: Resource + Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned,
    {
        let rt = self.resource_type::<K>()?;
        let value = encode(obj)?;
        let ns = obj.metadata().namespace.as_deref();
        let written = self
            .resources
            .create(&rt, ns, value, &self.write_options())
            .await?;
        decode_value(written.object, &rt)
    }

    /// Changes (a part of) one object: `change` edits the current state and
    /// runs again if a concurrent write got there first. A change that
    /// leaves the object as it was writes nothing.
    pub async fn update<K, F>(
        &self,
        ns: Option<&str>,
        name: &str,
        part: Part,
        mut change: F,
    ) -> Result<K, Error>
    where
        K: Resource + Serialize + DeserializeOwned,
        F: FnMut(&mut K) -> Result<(), Error>,
    {
        let rt = self.resource_type::<K>()?;
        let mut failure: Option<Error> = None;
        let result = self
            .resources
            .update(&rt, ns, name, part, &self.write_options(), |old| {
                let mut typed: K = serde_json::from_value(old.clone()).map_err(|e| {
                    ApiError::internal(format!("{}/{name} does not decode: {e}", K::KIND))
                })?;
                if let Err(e) = change(&mut typed) {
                    let message = e.to_string();
                    failure = Some(e);
                    return Err(ApiError::internal(message));
                }
                let mut new = serde_json::to_value(&typed).map_err(|e| {
                    ApiError::internal(format!("{}/{name} does not encode: {e}", K::KIND))
                })?;
                // No precondition: the closure saw the latest state.
                if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove("resourceVersion");
                }
                Ok(new)
            })
            .await;
        match (result, failure) {
            (_, Some(e)) => Err(e),
            (Ok(written), None) => decode_value(written.object, &rt),
            (Err(e), None) => Err(e.into()),
        }
    }

    /// Changes an object as JSON, for edits a typed round trip would lose
    /// (custom resources, fields newer than the typed schema).
    pub async fn update_value<F>(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        part: Part,
        mut change: F,
    ) -> Result<Value, Error>
    where
        F: FnMut(&mut Value) -> Result<(), Error>,
    {
        let mut failure: Option<Error> = None;
        let result = self
            .resources
            .update(rt, ns, name, part, &self.write_options(), |old| {
                let mut new = old.clone();
                if let Err(e) = change(&mut new) {
                    let message = e.to_string();
                    failure = Some(e);
                    return Err(ApiError::internal(message));
                }
                if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove("resourceVersion");
                }
                Ok(new)
            })
            .await;
        match (result, failure) {
            (_, Some(e)) => Err(e),
            (Ok(written), None) => Ok(written.object),
            (Err(e), None) => Err(e.into()),
        }
    }

    /// Deletes one object. Returns false when it was already gone.
    pub async fn delete<K: Resource>(
        &self,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<bool, Error> {
        let rt = self.resource_type::<K>()?;
        self.delete_typed(&rt, ns, name, opts).await
    }

    /// [`Client::delete`] for a type known only at run time (garbage
    /// collection walks every type).
    pub async fn delete_typed(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<bool, Error> {
        match self.resources.delete(rt, ns, name, opts).await {
            Ok(_) => Ok(true),
            Err(e) if e.reason == "NotFound" => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Binds a pod to a node (the scheduler's one write). Fails with a
    /// conflict when the pod is bound already or is not the pod with `uid`.
    pub async fn bind(
        &self,
        namespace: &str,
        pod: &str,
        uid: Option<&str>,
        node: &str,
    ) -> Result<(), Error> {
        let rt = self.resource_type::<k8s_openapi::api::core::v1::Pod>()?;
        verge_apiserver::binding::bind(
            &self.resources,
            &rt,
            namespace,
            pod,
            uid,
            node,
            &self.write_options(),
        )
        .await?;
        Ok(())
    }
}

fn encode<K: Resource + Serialize>(obj: &K) -> Result<Value, Error> {
    let mut value = serde_json::to_value(obj).map_err(|source| Error::Encode {
        kind: K::KIND,
        source,
    })?;
    // k8s-openapi types serialize apiVersion and kind themselves; custom
    // types implementing Resource may not.
    if let Value::Object(m) = &mut value {
        m.entry("apiVersion")
            .or_insert_with(|| Value::String(K::API_VERSION.to_owned()));
        m.entry("kind")
            .or_insert_with(|| Value::String(K::KIND.to_owned()));
    }
    Ok(value)
}

fn decode_value<K: DeserializeOwned>(value: Value, rt: &ResourceType) -> Result<K, Error> {
    serde_json::from_value(value).map_err(|source| Error::Decode {
        key: rt.qualified_plural(),
        source,
    })
}

/// A reference to an object: for Events, owner references and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    pub resource_version: Option<String>,
}

impl ObjectRef {
    pub fn of<K: Resource + Metadata<Ty = ObjectMeta>>(obj: &K) -> ObjectRef {
        let meta = obj.metadata();
        ObjectRef {
            api_version: K::API_VERSION.to_owned(),
            kind: K::KIND.to_owned(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            resource_version: meta.resource_version.clone(),
        }
    }

    /// An ownerReference naming this object as the controller of another.
    pub fn controller_owner(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}
