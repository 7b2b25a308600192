//! CustomResourceDefinitions: checking them, serving their resources the
//! moment they are written, and removing their objects when they go.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::cache::{ChangeType, Filter, WatchItem, WatchStart};
use crate::object;
use crate::registry::{
    CustomVersion, Origin, PrinterColumn, Registry, ResourceType, ScalePaths, Subresources,
};
use crate::resources::{Part, Resources, WriteOptions};
use crate::status::{ApiError, ApiResult};
use crate::validation::FieldError;

/// Deleting a CRD waits on this until every object of it is gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn field_error(field: &str, message: String) -> FieldError {
    FieldError {
        field: field.into(),
        reason: "FieldValueInvalid",
        message,
    }
}

/// Checks a CRD being created or updated and fills in its status and finalizer.
pub fn prepare(obj: &mut Value, registry: &Registry) -> ApiResult<()> {
    let name = object::name(obj).unwrap_or("").to_owned();
    let errors = check(obj, registry);
    if !errors.is_empty() {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            &name,
            &errors,
        ));
    }
    let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let mut accepted = names.clone();
    if accepted.get("listKind").is_none() {
        let kind = names.get("kind").and_then(Value::as_str).unwrap_or("");
        accepted["listKind"] = json!(format!("{kind}List"));
    }
    if accepted.get("singular").is_none() {
        let kind = names.get("kind").and_then(Value::as_str).unwrap_or("");
        accepted["singular"] = json!(kind.to_lowercase());
    }
    let stored: Vec<Value> = versions(obj)
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    let now = object::now_rfc3339();
    let condition = |type_: &str, reason: &str, message: &str| json!({"type": type_, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    obj["status"] = json!({
        "acceptedNames": accepted,
        "storedVersions": stored,
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
    });
    let mut finalizers = object::finalizers(obj);
    if !finalizers.iter().any(|f| f == CLEANUP_FINALIZER) && !object::is_deleting(obj) {
        finalizers.push(CLEANUP_FINALIZER.to_owned());
        object::meta_mut(obj).insert("finalizers".into(), json!(finalizers));
    }
    Ok(())
}

fn versions(obj: &Value) -> Vec<Value> {
    obj.pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn check(obj: &Value, registry: &Registry) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    let (group, plural, kind) = (
        s("/spec/group"),
        s("/spec/names/plural"),
        s("/spec/names/kind"),
    );
    if group.is_empty() || !group.contains('.') {
        errors.push(field_error(
            "spec.group",
            format!("Invalid value: \"{group}\": should be a domain with at least one dot"),
        ));
    }
    if plural.is_empty() || plural != plural.to_lowercase() {
        errors.push(field_error(
            "spec.names.plural",
            format!("Invalid value: \"{plural}\": must be a lowercase, non-empty name"),
        ));
    }
    if kind.is_empty() {
        errors.push(FieldError {
            field: "spec.names.kind".into(),
            reason: "FieldValueRequired",
            message: "Required value".into(),
        });
    }
    let expected = format!("{plural}.{group}");
    if object::name(obj).unwrap_or("") != expected {
        errors.push(field_error(
            "metadata.name",
            format!(
                "Invalid value: \"{}\": must be spec.names.plural+\".\"+spec.group",
                object::name(obj).unwrap_or("")
            ),
        ));
    }
    match s("/spec/scope") {
        "Namespaced" | "Cluster" => {}
        other => errors.push(FieldError {
            field: "spec.scope".into(),
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: \"{other}\": supported values: \"Cluster\", \"Namespaced\""
            ),
        }),
    }
    let versions = versions(obj);
    if versions.is_empty() {
        errors.push(FieldError {
            field: "spec.versions".into(),
            reason: "FieldValueRequired",
            message: "Required value: must have at least one version".into(),
        });
    }
    let storage = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if !versions.is_empty() && storage != 1 {
        errors.push(field_error(
            "spec.versions",
            format!("Invalid value: must have exactly one version marked as storage version, found {storage}"),
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if let Some(schema) = v.pointer("/schema/openAPIV3Schema") {
            for mut e in crate::validation::schema::validate_crd_schema(schema) {
                e.field = format!(
                    "spec.versions[{i}].schema.openAPIV3Schema{}",
                    dotted(&e.field)
                );
                errors.push(e);
            }
        }
    }
    // A CRD may not take over a built-in resource.
    if registry
        .all()
        .iter()
        .any(|t| !t.is_custom() && t.group == group && t.plural == plural)
    {
        errors.push(field_error(
            "spec.names.plural",
            format!("Invalid value: \"{plural}\": {plural}.{group} is a built-in resource"),
        ));
    }
    errors
}

fn dotted(field: &str) -> String {
    if field.is_empty() || field.starts_with('.') || field.starts_with('[') {
        field.to_owned()
    } else {
        format!(".{field}")
    }
}

/// The resource types a CRD object serves (its served versions).
pub fn resource_types(obj: &Value) -> Vec<ResourceType> {
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let strings = |p: &str| -> Vec<String> {
        obj.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let kind = s("/spec/names/kind");
    let list_kind = Some(s("/spec/names/listKind"))
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| format!("{kind}List"));
    let singular = Some(s("/spec/names/singular"))
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| kind.to_lowercase());
    versions(obj)
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
        .map(|v| {
            let scale = v.pointer("/subresources/scale").map(|sc| ScalePaths {
                spec_replicas: sc
                    .get("specReplicasPath")
                    .and_then(Value::as_str)
                    .unwrap_or(".spec.replicas")
                    .to_owned(),
                status_replicas: sc
                    .get("statusReplicasPath")
                    .and_then(Value::as_str)
                    .unwrap_or(".status.replicas")
                    .to_owned(),
                label_selector: sc
                    .get("labelSelectorPath")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
            let printer_columns = v
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .map(|cols| {
                    cols.iter()
                        .map(|c| {
                            let f =
                                |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                            PrinterColumn {
                                name: f("name"),
                                type_: f("type"),
                                format: f("format"),
                                description: f("description"),
                                priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0)
                                    as i32,
                                json_path: f("jsonPath"),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            ResourceType {
                group: s("/spec/group"),
                version: v
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                kind: kind.clone(),
                list_kind: list_kind.clone(),
                plural: s("/spec/names/plural"),
                singular: singular.clone(),
                namespaced: s("/spec/scope") != "Cluster",
                short_names: strings("/spec/names/shortNames"),
                categories: strings("/spec/names/categories"),
                subresources: Subresources {
                    status: v.pointer("/subresources/status").is_some(),
                    scale: scale.is_some(),
                    pod_extras: false,
                },
                origin: Origin::Custom(Arc::new(CustomVersion {
                    schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                    printer_columns,
                    scale,
                })),
            }
        })
        .collect()
}

/// Serves (or re-serves) the resources of a stored CRD.
pub fn serve(obj: &Value, registry: &Registry) {
    let group = obj
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let plural = obj
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or("");
    if group.is_empty() || plural.is_empty() {
        return;
    }
    registry.set_custom(group, plural, resource_types(obj));
    tracing::info!(group, plural, "serving custom resource");
}

pub fn unserve(obj: &Value, registry: &Registry) {
    let group = obj
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let plural = obj
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or("");
    registry.remove_custom(group, plural);
    tracing::info!(group, plural, "stopped serving custom resource");
}

/// Serves every stored CRD, then finishes the deletion of CRDs being deleted:
/// their objects are removed, then the cleanup finalizer.
pub async fn run(resources: Arc<Resources>) {
    let Some(crd_rt) =
        resources
            .registry
            .lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    else {
        return;
    };
    let filter = Filter::prefix(crd_rt.storage_prefix());
    let mut watch = match resources
        .cache
        .watch(
            filter,
            WatchStart::Now {
                initial_events: false,
            },
            false,
        )
        .await
    {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "CRD controller could not watch CRDs");
            return;
        }
    };
    let mut pending: Vec<WatchItem> = std::mem::take(&mut watch.initial);
    loop {
        for item in pending.drain(..) {
            let WatchItem::Change(change, cached) = item else {
                continue;
            };
            let obj = cached.value();
            match change {
                ChangeType::Deleted => unserve(&obj, &resources.registry),
                _ => {
                    serve(&obj, &resources.registry);
                    if object::is_deleting(&obj)
                        && let Err(e) = cleanup(&resources, &crd_rt, &obj).await
                    {
                        tracing::warn!(error = %e, crd = object::name(&obj), "CRD cleanup failed; will retry on the next change");
                    }
                }
            }
        }
        match watch.next().await {
            Ok(item) => pending.push(item),
            Err(_) => return,
        }
    }
}

async fn cleanup(resources: &Resources, crd_rt: &ResourceType, crd: &Value) -> ApiResult<()> {
    if !object::finalizers(crd)
        .iter()
        .any(|f| f == CLEANUP_FINALIZER)
    {
        return Ok(());
    }
    let name = object::name(crd).unwrap_or("").to_owned();
    if let Some(rt) = resource_types(crd).first() {
        let prefix = rt.storage_prefix();
        let (items, _, _) = resources.cache.list(&Filter::prefix(prefix), None, 0);
        for item in items {
            match resources.store.delete(&item.key, 0).await {
                Ok(_) | Err(verge_store::StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        tracing::info!(crd = %name, "deleted all custom objects of a deleted CRD");
    }
    resources
        .update(
            crd_rt,
            None,
            &name,
            Part::Main,
            &WriteOptions::default(),
            |old| {
                let mut new = old.clone();
                let rest: Vec<String> = object::finalizers(old)
                    .into_iter()
                    .filter(|f| f != CLEANUP_FINALIZER)
                    .collect();
                object::meta_mut(&mut new).insert("finalizers".into(), json!(rest));
                Ok(new)
            },
        )
        .await?;
    Ok(())
}
