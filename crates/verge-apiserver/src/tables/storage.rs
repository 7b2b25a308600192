//! PersistentVolumes and PersistentVolumeClaims.

use jiff::Timestamp;
use serde_json::Value;

use super::util::{AGE, Col, NAME, Obj, col, wide};
use super::{Builtin, no_conditions};

pub(super) static PERSISTENT_VOLUMES: Builtin = Builtin {
    columns: &[
        NAME,
        col(
            "Capacity",
            "string",
            "capacity is the description of the persistent volume's resources and capacity. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity",
        ),
        col(
            "Access Modes",
            "string",
            "accessModes contains all ways the volume can be mounted. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes",
        ),
        col(
            "Reclaim Policy",
            "string",
            "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim. Valid options are Retain (default for manually created PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and Recycle (deprecated). Recycle must be supported by the volume plugin underlying this PersistentVolume. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming",
        ),
        col(
            "Status",
            "string",
            "phase indicates if a volume is available, bound to a claim, or released by a claim. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase",
        ),
        col(
            "Claim",
            "string",
            "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the authoritative bind between PV and PVC. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding",
        ),
        col("StorageClass", "string", "StorageClass of the pv"),
        col(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pv",
        ),
        col(
            "Reason",
            "string",
            "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.",
        ),
        AGE,
        wide(
            "VolumeMode",
            "string",
            "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state. Value of Filesystem is implied when not included in spec.",
        ),
    ] as &[Col],
    cells: pv_cells,
    conditions: no_conditions,
};

/// "RWO,ROX,RWX,RWOP" in that order, whatever order the object lists them in.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The storage class: the beta annotation if present (even empty), else the field.
fn storage_class(o: Obj<'_>) -> &str {
    o.opt_str(&[
        "metadata",
        "annotations",
        "volume.beta.kubernetes.io/storage-class",
    ])
    .unwrap_or_else(|| o.str(&["spec", "storageClassName"]))
}

/// A `resource.Quantity` as printed; a missing one is the zero quantity "0".
fn quantity(o: Obj<'_>, path: &[&str]) -> String {
    match o.at(path).value() {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => "0".to_string(),
    }
}

fn phase_or_terminating(o: Obj<'_>) -> &str {
    if o.deleting() {
        "Terminating"
    } else {
        o.str(&["status", "phase"])
    }
}

fn pv_cells(o: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let claim = match o.has(&["spec", "claimRef"]) {
        true => format!(
            "{}/{}",
            o.str(&["spec", "claimRef", "namespace"]),
            o.str(&["spec", "claimRef", "name"])
        ),
        false => String::new(),
    };
    vec![
        o.name().into(),
        quantity(o, &["spec", "capacity", "storage"]).into(),
        access_modes(o.list(&["spec", "accessModes"])).into(),
        o.str(&["spec", "persistentVolumeReclaimPolicy"]).into(),
        phase_or_terminating(o).into(),
        claim.into(),
        storage_class(o).into(),
        o.opt_str(&["spec", "volumeAttributesClassName"])
            .unwrap_or("<unset>")
            .into(),
        o.str(&["status", "reason"]).into(),
        o.age(now).into(),
        o.opt_str(&["spec", "volumeMode"])
            .unwrap_or("<unset>")
            .into(),
    ]
}

pub(super) static PERSISTENT_VOLUME_CLAIMS: Builtin = Builtin {
    columns: &[
        NAME,
        col(
            "Status",
            "string",
            "phase represents the current phase of PersistentVolumeClaim.",
        ),
        col(
            "Volume",
            "string",
            "volumeName is the binding reference to the PersistentVolume backing this claim.",
        ),
        col(
            "Capacity",
            "string",
            "capacity represents the actual resources of the underlying volume.",
        ),
        col(
            "Access Modes",
            "string",
            "accessModes contains the actual access modes the volume backing the PVC has. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1",
        ),
        col("StorageClass", "string", "StorageClass of the pvc"),
        col(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pvc",
        ),
        AGE,
        wide(
            "VolumeMode",
            "string",
            "volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not included in claim spec.",
        ),
    ] as &[Col],
    cells: pvc_cells,
    conditions: no_conditions,
};

fn pvc_cells(o: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let volume = o.str(&["spec", "volumeName"]);
    // Capacity and access modes are the bound volume's, so only shown once bound.
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(o, &["status", "capacity", "storage"]),
            access_modes(o.list(&["status", "accessModes"])),
        )
    };
    vec![
        o.name().into(),
        phase_or_terminating(o).into(),
        volume.into(),
        capacity.into(),
        modes.into(),
        storage_class(o).into(),
        o.opt_str(&["spec", "volumeAttributesClassName"])
            .unwrap_or("<unset>")
            .into(),
        o.age(now).into(),
        o.opt_str(&["spec", "volumeMode"])
            .unwrap_or("<unset>")
            .into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use serde_json::json;

    #[test]
    fn persistent_volumes() {
        let rt = builtin("", "persistentvolumes");
        assert_eq!(
            headers(&rt),
            [
                "Name",
                "Capacity",
                "Access Modes",
                "Reclaim Policy",
                "Status",
                "Claim",
                "StorageClass",
                "VolumeAttributesClass",
                "Reason",
                "Age",
                "VolumeMode*"
            ]
        );
        let pv = json!({
            "metadata": {"name": "pvc-3f1c", "creationTimestamp": ago(86400 + 3600)},
            "spec": {
                "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteOncePod", "ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": "local-path",
                "claimRef": {"namespace": "default", "name": "data-db-0"},
                "volumeMode": "Filesystem"
            },
            "status": {"phase": "Bound"}
        });
        assert_eq!(
            cells(&rt, &pv),
            [
                json!("pvc-3f1c"),
                json!("10Gi"),
                json!("RWO,RWOP"),
                json!("Delete"),
                json!("Bound"),
                json!("default/data-db-0"),
                json!("local-path"),
                json!("<unset>"),
                json!(""),
                json!("25h"),
                json!("Filesystem")
            ]
        );
        let mut failed = pv.clone();
        failed["metadata"]["annotations"] =
            json!({"volume.beta.kubernetes.io/storage-class": "legacy"});
        failed["spec"]["volumeAttributesClassName"] = json!("gold");
        failed["status"] = json!({"phase": "Failed", "reason": "RecyclerFailed"});
        let c = cells(&rt, &failed);
        assert_eq!(c[4], "Failed");
        assert_eq!(
            c[6..9],
            [json!("legacy"), json!("gold"), json!("RecyclerFailed")]
        );
        let mut deleting = pv;
        deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
        assert_eq!(cells(&rt, &deleting)[4], "Terminating");
        let bare = json!({"metadata": {"name": "b"}});
        let c = cells(&rt, &bare);
        assert_eq!(c[1..3], [json!("0"), json!("")]);
        assert_eq!(c[5], "");
        assert_eq!(c[10], "<unset>");
    }

    #[test]
    fn persistent_volume_claims() {
        let rt = builtin("", "persistentvolumeclaims");
        assert_eq!(
            headers(&rt),
            [
                "Name",
                "Status",
                "Volume",
                "Capacity",
                "Access Modes",
                "StorageClass",
                "VolumeAttributesClass",
                "Age",
                "VolumeMode*"
            ]
        );
        let bound = json!({
            "metadata": {"name": "data-db-0", "creationTimestamp": ago(90 * 60)},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "5Gi"}},
                "storageClassName": "local-path",
                "volumeName": "pvc-3f1c",
                "volumeMode": "Filesystem"
            },
            "status": {"phase": "Bound", "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "capacity": {"storage": "10Gi"}}
        });
        assert_eq!(
            cells(&rt, &bound),
            [
                json!("data-db-0"),
                json!("Bound"),
                json!("pvc-3f1c"),
                json!("10Gi"),
                json!("RWO,RWX"),
                json!("local-path"),
                json!("<unset>"),
                json!("90m"),
                json!("Filesystem")
            ]
        );
        let pending = json!({
            "metadata": {"name": "p"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            "status": {"phase": "Pending"}
        });
        let c = cells(&rt, &pending);
        assert_eq!(
            c[1..7],
            [
                json!("Pending"),
                json!(""),
                json!(""),
                json!(""),
                json!(""),
                json!("<unset>")
            ]
        );
        let mut deleting = bound;
        deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
        deleting["status"] = json!({"phase": "Bound"});
        let c = cells(&rt, &deleting);
        assert_eq!(c[1], "Terminating");
        assert_eq!(c[3..5], [json!("0"), json!("")]);
    }
}
