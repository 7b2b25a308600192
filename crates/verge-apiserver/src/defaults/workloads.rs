//! apps/v1 and batch/v1 workloads.

use serde_json::{Map, Value, json};

use super::pod::{PodSpecOf, template};
use super::{default, default_str, each_mut, existing_mut, obj_mut, path_mut, str_field};

fn pod_template(spec: &mut Map<String, Value>, of: PodSpecOf) {
    if let Some(t) = existing_mut(spec, "template") {
        template(t, of);
    }
}

pub(super) fn deployment(o: &mut Map<String, Value>) {
    let Some(spec) = obj_mut(o, "spec") else {
        return;
    };
    default(spec, "replicas", || json!(1));
    if let Some(strategy) = obj_mut(spec, "strategy") {
        default_str(strategy, "type", "RollingUpdate");
        if str_field(strategy, "type") == "RollingUpdate"
            && let Some(ru) = obj_mut(strategy, "rollingUpdate")
        {
            default(ru, "maxUnavailable", || json!("25%"));
            default(ru, "maxSurge", || json!("25%"));
        }
    }
    default(spec, "revisionHistoryLimit", || json!(10));
    default(spec, "progressDeadlineSeconds", || json!(600));
    pod_template(spec, PodSpecOf::Template);
}

pub(super) fn replica_set(o: &mut Map<String, Value>) {
    let Some(spec) = obj_mut(o, "spec") else {
        return;
    };
    default(spec, "replicas", || json!(1));
    pod_template(spec, PodSpecOf::Template);
}

pub(super) fn daemon_set(o: &mut Map<String, Value>) {
    let Some(spec) = obj_mut(o, "spec") else {
        return;
    };
    if let Some(strategy) = obj_mut(spec, "updateStrategy") {
        default_str(strategy, "type", "RollingUpdate");
        if str_field(strategy, "type") == "RollingUpdate"
            && let Some(ru) = obj_mut(strategy, "rollingUpdate")
        {
            default(ru, "maxUnavailable", || json!(1));
            default(ru, "maxSurge", || json!(0));
        }
    }
    default(spec, "revisionHistoryLimit", || json!(10));
    pod_template(spec, PodSpecOf::Template);
}

pub(super) fn stateful_set(o: &mut Map<String, Value>) {
    let Some(spec) = obj_mut(o, "spec") else {
        return;
    };
    default_str(spec, "podManagementPolicy", "OrderedReady");
    if let Some(strategy) = obj_mut(spec, "updateStrategy") {
        if str_field(strategy, "type").is_empty() {
            strategy.insert("type".into(), json!("RollingUpdate"));
            default(strategy, "rollingUpdate", || json!({}));
        }
        // A partition is defaulted only inside an existing rollingUpdate.
        if str_field(strategy, "type") == "RollingUpdate"
            && let Some(ru) = existing_mut(strategy, "rollingUpdate")
        {
            default(ru, "partition", || json!(0));
        }
    }
    if let Some(policy) = obj_mut(spec, "persistentVolumeClaimRetentionPolicy") {
        default_str(policy, "whenDeleted", "Retain");
        default_str(policy, "whenScaled", "Retain");
    }
    default(spec, "replicas", || json!(1));
    default(spec, "revisionHistoryLimit", || json!(10));
    each_mut(spec, "volumeClaimTemplates", |pvc| {
        if let Some(s) = obj_mut(pvc, "spec") {
            default_str(s, "volumeMode", "Filesystem");
        }
        if let Some(st) = obj_mut(pvc, "status") {
            default_str(st, "phase", "Pending");
        }
    });
    pod_template(spec, PodSpecOf::Template);
}

const LEGACY_CONTROLLER_UID: &str = "controller-uid";
const LEGACY_JOB_NAME: &str = "job-name";
const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
const JOB_NAME: &str = "batch.kubernetes.io/job-name";

pub(super) fn job(o: &mut Map<String, Value>) {
    let (name, uid) = match o.get("metadata") {
        Some(m) => (
            m.get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            m.get("uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        ),
        None => (String::new(), String::new()),
    };
    copy_template_labels(o);
    let Some(spec) = obj_mut(o, "spec") else {
        return;
    };
    let has_completions = super::is_set(spec, "completions");
    if !has_completions && !super::is_set(spec, "parallelism") {
        spec.insert("completions".into(), json!(1));
    }
    default(spec, "parallelism", || json!(1));
    let per_index = super::is_set(spec, "backoffLimitPerIndex");
    default(spec, "backoffLimit", || {
        json!(if per_index { i64::from(i32::MAX) } else { 6 })
    });
    default_str(spec, "completionMode", "NonIndexed");
    default(spec, "suspend", || json!(false));
    let has_failure_policy = super::is_set(spec, "podFailurePolicy");
    if let Some(pfp) = existing_mut(spec, "podFailurePolicy") {
        each_mut(pfp, "rules", |rule| {
            each_mut(rule, "onPodConditions", |pattern| {
                default_str(pattern, "status", "True");
            });
        });
    }
    default_str(
        spec,
        "podReplacementPolicy",
        if has_failure_policy {
            "Failed"
        } else {
            "TerminatingOrFailed"
        },
    );

    // The selector and labels Kubernetes generates, unless the user asked to
    // choose them (manualSelector) or the object has no uid yet.
    let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
    if !manual && !uid.is_empty() {
        if let Some(labels) = existing_mut(spec, "template").and_then(|t| {
            let meta = obj_mut(t, "metadata")?;
            obj_mut(meta, "labels")
        }) {
            for (key, value) in [
                (LEGACY_JOB_NAME, &name),
                (JOB_NAME, &name),
                (LEGACY_CONTROLLER_UID, &uid),
                (CONTROLLER_UID, &uid),
            ] {
                labels
                    .entry(key)
                    .or_insert_with(|| Value::String(value.clone()));
            }
        }
        if let Some(sel) = obj_mut(spec, "selector")
            && let Some(ml) = obj_mut(sel, "matchLabels")
        {
            ml.entry(CONTROLLER_UID)
                .or_insert_with(|| Value::String(uid.clone()));
        }
    }
    pod_template(spec, PodSpecOf::JobTemplate);
    // A Job without labels of its own carries its pods' labels (generated
    // ones included, as a Job read back from storage does).
    copy_template_labels(o);
}

/// `metadata.labels` = `spec.template.metadata.labels` when the Job has none.
fn copy_template_labels(o: &mut Map<String, Value>) {
    let has_labels = o
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .is_some_and(|l| !l.is_empty());
    if has_labels {
        return;
    }
    let Some(labels) = path_mut(o, &["spec", "template", "metadata"])
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .filter(|l| !l.is_empty())
        .cloned()
    else {
        return;
    };
    if let Some(meta) = obj_mut(o, "metadata") {
        meta.insert("labels".into(), Value::Object(labels));
    }
}

pub(super) fn cron_job(o: &mut Map<String, Value>) {
    let Some(spec) = obj_mut(o, "spec") else {
        return;
    };
    default_str(spec, "concurrencyPolicy", "Allow");
    default(spec, "suspend", || json!(false));
    default(spec, "successfulJobsHistoryLimit", || json!(3));
    default(spec, "failedJobsHistoryLimit", || json!(1));
    if let Some(job_spec) = path_mut(spec, &["jobTemplate", "spec"]) {
        pod_template(job_spec, PodSpecOf::JobTemplate);
    }
}
