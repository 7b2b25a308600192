//! PersistentVolumes and PersistentVolumeClaims (and claim templates).

use serde_json::{Map, Value};

use super::meta::validate_label_selector;
use super::names;
use super::pod::validate_quantity;
use super::quantity::Quantity;
use super::util::{Errs, Raw, arr_of, field, map_of, semantic_eq, spec_of, str_of, string};

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];
const RECLAIM_POLICIES: &[&str] = &["Delete", "Recycle", "Retain"];

/// Every kind of PersistentVolume source.
const PV_SOURCES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "glusterfs",
    "flocker",
    "nfs",
    "rbd",
    "quobyte",
    "cinder",
    "cephfs",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "scaleIO",
    "local",
    "storageos",
    "csi",
    "iscsi",
    "fc",
    "flexVolume",
];

fn validate_access_modes(errs: &mut Errs, spec: &Value, path: &str, required_detail: &str) {
    let modes = arr_of(spec, "accessModes");
    if modes.is_empty() {
        errs.required(path, required_detail);
    }
    let mut rwop = false;
    for m in modes {
        let m = m.as_str().unwrap_or_default();
        rwop |= m == "ReadWriteOncePod";
        if !ACCESS_MODES.contains(&m) {
            errs.not_supported(path, m, ACCESS_MODES);
        }
    }
    if rwop && modes.len() > 1 {
        errs.forbidden(path, "may not use ReadWriteOncePod with other access modes");
    }
}

fn validate_class_and_mode(errs: &mut Errs, spec: &Value, base: &str) {
    errs.opt_one_of(
        format!("{base}.volumeMode"),
        str_of(spec, "volumeMode"),
        VOLUME_MODES,
    );
    let class = string(spec, "storageClassName");
    if !class.is_empty() {
        errs.invalid_each(
            &format!("{base}.storageClassName"),
            class,
            names::is_dns1123_subdomain(class),
        );
    }
}

/// A PersistentVolumeClaimSpec at `base`: also used for StatefulSet claim
/// templates and ephemeral volumes.
pub fn validate_pvc_spec(errs: &mut Errs, spec: &Value, base: &str) {
    validate_access_modes(
        errs,
        spec,
        &format!("{base}.accessModes"),
        "at least 1 access mode is required",
    );
    if let Some(sel) = field(spec, "selector") {
        validate_label_selector(errs, sel, &format!("{base}.selector"));
    }
    let storage_path = format!("{base}.resources[storage]");
    match field(spec, "resources")
        .and_then(|r| map_of(r, "requests"))
        .and_then(|r| r.get("storage"))
    {
        None => errs.required(storage_path, ""),
        Some(v) => {
            if let Some(q) = validate_quantity(errs, v, &storage_path)
                && q.is_zero()
            {
                errs.invalid(storage_path, v, "must be greater than zero");
            }
        }
    }
    validate_class_and_mode(errs, spec, base);
}

pub fn validate_pvc(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = spec_of(obj);
    validate_pvc_spec(errs, spec, "spec");
    let Some(old) = old else { return };
    let old_spec = spec_of(old);

    // Only requests (to grow), volumeAttributesClassName, and an unset volumeName may change.
    let mut munged = spec.clone();
    if let Some(m) = munged.as_object_mut() {
        for key in ["resources", "volumeAttributesClassName"] {
            match old_spec.get(key) {
                Some(v) => m.insert(key.to_owned(), v.clone()),
                None => m.remove(key),
            };
        }
        if string(old_spec, "volumeName").is_empty() {
            m.remove("volumeName");
        }
    }
    let mut old_munged = old_spec.clone();
    if string(old_spec, "volumeName").is_empty()
        && let Some(m) = old_munged.as_object_mut()
    {
        m.remove("volumeName");
    }
    if !semantic_eq(Some(&munged), Some(&old_munged)) {
        errs.forbidden(
            "spec",
            "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
        );
    }
    let storage = |s: &Value| {
        field(s, "resources")
            .and_then(|r| map_of(r, "requests"))
            .and_then(|r| r.get("storage"))
            .and_then(|v| Quantity::from_json(v).ok())
    };
    if let (Some(n), Some(o)) = (storage(spec), storage(old_spec))
        && n < o
    {
        errs.forbidden(
            "spec.resources.requests.storage",
            "field can not be less than previous value",
        );
    }
}

pub fn validate_pv(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = spec_of(obj);
    validate_access_modes(errs, spec, "spec.accessModes", "");
    let capacity = map_of(spec, "capacity");
    if capacity.is_none_or(Map::is_empty) {
        errs.required("spec.capacity", "");
    }
    if let Some(cap) = capacity {
        if !cap.contains_key("storage") || cap.len() > 1 {
            errs.not_supported(
                "spec.capacity",
                Raw(Value::Object(cap.clone()).to_string()),
                &["storage"],
            );
        }
        for (name, v) in cap {
            let p = format!("spec.capacity[{name}]");
            if let Some(q) = validate_quantity(errs, v, &p)
                && q.is_zero()
            {
                errs.invalid(p, v, "must be greater than zero");
            }
        }
    }
    errs.opt_one_of(
        "spec.persistentVolumeReclaimPolicy",
        str_of(spec, "persistentVolumeReclaimPolicy").filter(|s| !s.is_empty()),
        RECLAIM_POLICIES,
    );
    validate_class_and_mode(errs, spec, "spec");

    let mut found = 0;
    for &src in PV_SOURCES {
        let Some(s) = field(spec, src) else { continue };
        found += 1;
        let sp = format!("spec.{src}");
        if found > 1 {
            errs.forbidden(sp, "may not specify more than 1 volume type");
            continue;
        }
        match src {
            "hostPath" | "local" => {
                let p = string(s, "path");
                if p.is_empty() {
                    errs.required(format!("{sp}.path"), "");
                } else if p.split('/').any(|seg| seg == "..") {
                    errs.invalid(format!("{sp}.path"), p, "must not contain '..'");
                }
                if src == "local" && field(spec, "nodeAffinity").is_none() {
                    errs.required("spec.nodeAffinity", "Local volume requires node affinity");
                }
            }
            "nfs" => {
                for key in ["server", "path"] {
                    if string(s, key).is_empty() {
                        errs.required(format!("{sp}.{key}"), "");
                    }
                }
            }
            "csi" => {
                for key in ["driver", "volumeHandle"] {
                    if string(s, key).is_empty() {
                        errs.required(format!("{sp}.{key}"), "");
                    }
                }
            }
            _ => {}
        }
    }
    if found == 0 {
        errs.required("spec", "must specify a volume type");
    }

    if let Some(old) = old {
        let old_spec = spec_of(old);
        let changed = PV_SOURCES
            .iter()
            .any(|k| !semantic_eq(field(spec, k), field(old_spec, k)));
        if changed {
            errs.forbidden(
                "spec.persistentvolumesource",
                "spec.persistentvolumesource is immutable after creation",
            );
        }
        errs.immutable(
            "spec.volumeMode",
            field(spec, "volumeMode"),
            field(old_spec, "volumeMode"),
        );
    }
}
