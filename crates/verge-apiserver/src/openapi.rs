//! OpenAPI v3 documents, as served at `/openapi/v3` and
//! `/openapi/v3/<group-version path>`.
//!
//! kubectl reads them to decide whether it may leave field validation to the
//! server (it looks for the `fieldValidation` parameter on the PATCH operation
//! of the object's kind), to compute strategic merge patches on `apply`, and
//! to `explain` fields. Documents are built from the registry and cached per
//! registry generation; a group version whose resource types did not change
//! keeps its bytes, so only the documents a CRD change touches are rebuilt.

pub mod catalog;
mod custom;
mod paths;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::registry::{Origin, Registry, ResourceType};
use catalog::{catalog, collect_refs};

/// The OpenAPI v3 documents of everything the registry serves.
pub struct OpenApi {
    registry: Arc<Registry>,
    current: RwLock<Option<Arc<Snapshot>>>,
    rebuild: Mutex<()>,
}

/// All documents for one registry generation.
struct Snapshot {
    generation: u64,
    root: Bytes,
    docs: BTreeMap<String, Arc<GroupVersionDoc>>,
}

struct GroupVersionDoc {
    /// The types the document was built from; when the registry still holds
    /// exactly these, the document is reused.
    types: Vec<Arc<ResourceType>>,
    bytes: Bytes,
    hash: String,
}

impl OpenApi {
    pub fn new(registry: Arc<Registry>) -> Self {
        OpenApi {
            registry,
            current: RwLock::new(None),
            rebuild: Mutex::new(()),
        }
    }

    /// The `/openapi/v3` discovery document:
    /// `{"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=…"},…}}`.
    pub fn root(&self) -> Bytes {
        self.snapshot().root.clone()
    }

    /// The document of one group version, by its path below `/openapi/v3/`
    /// (`api/v1`, `apis/apps/v1`; a leading `/` or `openapi/v3/` is tolerated),
    /// with its content hash (the `hash` query parameter the root advertises).
    pub fn group_version(&self, path: &str) -> Option<(Bytes, String)> {
        let path = path.trim_start_matches('/');
        let path = path.strip_prefix("openapi/v3/").unwrap_or(path);
        let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
        let snapshot = self.snapshot();
        let doc = snapshot.docs.get(path)?;
        Some((doc.bytes.clone(), doc.hash.clone()))
    }

    /// The paths (`api/v1`, `apis/apps/v1`, …) of every served group version.
    pub fn group_version_paths(&self) -> Vec<String> {
        self.snapshot().docs.keys().cloned().collect()
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        let generation = self.registry.generation();
        if let Some(s) = self.current.read().as_ref()
            && s.generation == generation
        {
            return s.clone();
        }
        let _rebuilding = self.rebuild.lock();
        // Read the generation before the types: if they change in between, the
        // snapshot is newer than its generation says and is merely rebuilt again.
        let generation = self.registry.generation();
        let previous = self.current.read().clone();
        if let Some(s) = &previous
            && s.generation == generation
        {
            return s.clone();
        }
        let snapshot = Arc::new(Snapshot::build(
            generation,
            &self.registry.all(),
            previous.as_deref(),
        ));
        *self.current.write() = Some(snapshot.clone());
        snapshot
    }
}

/// `api/v1` or `apis/<group>/<version>`.
fn document_path(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        format!("api/{}", rt.version)
    } else {
        format!("apis/{}/{}", rt.group, rt.version)
    }
}

impl Snapshot {
    fn build(
        generation: u64,
        types: &[Arc<ResourceType>],
        previous: Option<&Snapshot>,
    ) -> Snapshot {
        let mut grouped: BTreeMap<String, Vec<Arc<ResourceType>>> = BTreeMap::new();
        for rt in types {
            grouped
                .entry(document_path(rt))
                .or_default()
                .push(rt.clone());
        }
        let mut docs = BTreeMap::new();
        let mut root_paths = Map::new();
        for (path, types) in grouped {
            let reused = previous
                .and_then(|p| p.docs.get(&path))
                .filter(|d| {
                    d.types.len() == types.len()
                        && d.types.iter().zip(&types).all(|(a, b)| Arc::ptr_eq(a, b))
                })
                .cloned();
            let doc = reused.unwrap_or_else(|| {
                let (group, version) = (types[0].group.clone(), types[0].version.clone());
                let value = build_document(&group, &version, &types);
                let bytes = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
                let hash = hex::encode_upper(Sha256::digest(&bytes));
                Arc::new(GroupVersionDoc { types, bytes, hash })
            });
            root_paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", doc.hash)}),
            );
            docs.insert(path, doc);
        }
        let root = json!({"paths": root_paths});
        Snapshot {
            generation,
            root: Bytes::from(serde_json::to_vec(&root).unwrap_or_default()),
            docs,
        }
    }
}

/// The document of one group version.
fn build_document(group: &str, version: &str, types: &[Arc<ResourceType>]) -> Value {
    let cat = catalog();
    let mut paths = Map::new();
    // Schemas made for this document (custom kinds, lists).
    let mut own: BTreeMap<String, Value> = BTreeMap::new();
    // Catalogue schemas this document needs, with everything they reference.
    let mut roots: Vec<String> = [
        catalog::OBJECT_META,
        catalog::LIST_META,
        catalog::DELETE_OPTIONS,
        catalog::STATUS,
        catalog::PATCH,
    ]
    .map(str::to_owned)
    .to_vec();
    // Catalogue schemas to mark with their GVK.
    let mut markers: Vec<(String, Value)> = Vec::new();

    for rt in types {
        let builtin = match rt.origin {
            Origin::Builtin => cat.kind_schema_name(&rt.group, &rt.version, &rt.kind),
            Origin::Custom(_) => None,
        };
        let kind_name = match builtin {
            Some(name) => {
                roots.push(name.to_owned());
                markers.push((
                    name.to_owned(),
                    custom::gvk_list(&rt.group, &rt.version, &rt.kind),
                ));
                name.to_owned()
            }
            None => {
                // A custom resource, or a built-in without a compiled-in schema
                // (published as free-form so clients still find it).
                let cv = match &rt.origin {
                    Origin::Custom(cv) => Some(&**cv),
                    Origin::Builtin => None,
                };
                let name = custom::schema_name(&rt.group, &rt.version, &rt.kind);
                let schema = custom::kind_schema(rt, cv);
                collect_refs(&schema, &mut roots);
                own.insert(name.clone(), schema);
                name
            }
        };
        let list_name = match kind_name.strip_suffix(rt.kind.as_str()) {
            Some(prefix) => format!("{prefix}{}", rt.list_kind),
            None => format!("{kind_name}List"),
        };
        own.insert(
            list_name.clone(),
            custom::list_schema(&rt.group, &rt.version, &rt.kind, &rt.list_kind, &kind_name),
        );
        if rt.subresources.scale {
            roots.push(catalog::SCALE.to_owned());
            markers.push((
                catalog::SCALE.to_owned(),
                custom::gvk_list("autoscaling", "v1", "Scale"),
            ));
        }
        if rt.subresources.pod_extras {
            roots.push(catalog::BINDING.to_owned());
            roots.push(catalog::EVICTION.to_owned());
            markers.push((
                catalog::BINDING.to_owned(),
                custom::gvk_list("", "v1", "Binding"),
            ));
            markers.push((
                catalog::EVICTION.to_owned(),
                custom::gvk_list("policy", "v1", "Eviction"),
            ));
        }
        paths::add_resource(
            &mut paths,
            rt,
            &paths::Names {
                kind: &kind_name,
                list: &list_name,
            },
        );
    }

    let mut schemas: BTreeMap<String, Value> = cat
        .closure(roots.iter().map(String::as_str))
        .into_iter()
        .filter_map(|name| cat.get(&name).cloned().map(|s| (name, s)))
        .collect();
    for (name, gvk) in markers {
        if let Some(Value::Object(s)) = schemas.get_mut(&name) {
            s.insert("x-kubernetes-group-version-kind".into(), gvk);
        }
    }
    schemas.extend(own);

    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Verge", "version": gv},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

#[cfg(test)]
mod tests;
