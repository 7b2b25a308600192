//! Deployments, ReplicaSets, DaemonSets, StatefulSets, ControllerRevisions,
//! Jobs and CronJobs.

use serde_json::{Map, Value};

use super::cron;
use super::meta::{
    selector_is_empty, selector_matches, validate_annotations, validate_label_selector,
    validate_labels,
};
use super::names;
use super::pod::{labels_mismatch, validate_pod_template};
use super::util::{
    Errs, Raw, arr_of, as_int, bool_of, field, int_of, map_of, semantic_eq, spec_of, str_of, string,
};
use super::volumes::validate_pvc_spec;

fn template_labels(template: Option<&Value>) -> Option<&Map<String, Value>> {
    template
        .and_then(|t| field(t, "metadata"))
        .and_then(|m| map_of(m, "labels"))
}

/// `spec.selector` (required, non-empty, valid) and `spec.template`, whose
/// labels it must select.
fn selector_and_template(errs: &mut Errs, spec: &Value, empty_msg: &str, extra_volumes: &[&str]) {
    let template = field(spec, "template");
    match field(spec, "selector") {
        None => errs.required("spec.selector", ""),
        Some(sel) => {
            validate_label_selector(errs, sel, "spec.selector");
            if selector_is_empty(sel) {
                errs.invalid("spec.selector", Raw(sel.to_string()), empty_msg);
            } else if template.is_some() && !selector_matches(sel, template_labels(template)) {
                labels_mismatch(
                    errs,
                    "spec.template.metadata.labels",
                    template_labels(template),
                );
            }
        }
    }
    validate_pod_template(errs, template, "spec.template", extra_volumes);
}

/// Pods of apps controllers restart always and run forever.
fn always_restart(errs: &mut Errs, spec: &Value, deadline: impl FnOnce(&mut Errs, &Value)) {
    let Some(pod) = at_template_spec(spec) else {
        return;
    };
    if let Some(rp) = str_of(pod, "restartPolicy")
        && !rp.is_empty()
        && rp != "Always"
    {
        errs.not_supported("spec.template.spec.restartPolicy", rp, &["Always"]);
    }
    if let Some(ads) = field(pod, "activeDeadlineSeconds") {
        deadline(errs, ads);
    }
}

fn at_template_spec(spec: &Value) -> Option<&Value> {
    field(field(spec, "template")?, "spec")
}

fn int_or_percent(errs: &mut Errs, v: Option<&Value>, path: &str) -> Option<i64> {
    match v? {
        Value::String(s) => {
            let msgs = names::is_valid_percent(s);
            if msgs.is_empty() {
                s.trim_end_matches('%').parse().ok()
            } else {
                errs.invalid_each(path, s, msgs);
                None
            }
        }
        other => {
            let n = as_int(other)?;
            errs.non_negative(path, Some(n));
            Some(n)
        }
    }
}

fn not_more_than_100_percent(errs: &mut Errs, v: Option<&Value>, path: &str) {
    if let Some(Value::String(s)) = v
        && let Ok(n) = s.trim_end_matches('%').parse::<i64>()
        && s.ends_with('%')
        && n > 100
    {
        errs.invalid(path, s.as_str(), "must not be greater than 100%");
    }
}

fn selector_immutable(errs: &mut Errs, spec: &Value, old: Option<&Value>) {
    if let Some(old) = old {
        errs.immutable(
            "spec.selector",
            field(spec, "selector"),
            field(spec_of(old), "selector"),
        );
    }
}

pub fn validate_deployment(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = spec_of(obj);
    errs.non_negative("spec.replicas", int_of(spec, "replicas"));
    selector_and_template(errs, spec, "empty selector is invalid for deployment", &[]);
    always_restart(errs, spec, |errs, _| {
        errs.forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        )
    });
    if let Some(strategy) = field(spec, "strategy") {
        match string(strategy, "type") {
            "Recreate" => {
                if field(strategy, "rollingUpdate").is_some() {
                    errs.forbidden(
                        "spec.strategy.rollingUpdate",
                        "may not be specified when strategy `type` is 'Recreate'",
                    );
                }
            }
            "RollingUpdate" => match field(strategy, "rollingUpdate") {
                None => errs.required(
                    "spec.strategy.rollingUpdate",
                    "this should be defaulted and never be nil",
                ),
                Some(ru) => {
                    let mu_path = "spec.strategy.rollingUpdate.maxUnavailable";
                    let mu = int_or_percent(errs, field(ru, "maxUnavailable"), mu_path);
                    let ms = int_or_percent(
                        errs,
                        field(ru, "maxSurge"),
                        "spec.strategy.rollingUpdate.maxSurge",
                    );
                    if mu.unwrap_or(0) == 0 && ms.unwrap_or(0) == 0 {
                        errs.invalid(
                            mu_path,
                            field(ru, "maxUnavailable").unwrap_or(&Value::Null),
                            "may not be 0 when `maxSurge` is 0",
                        );
                    }
                    not_more_than_100_percent(errs, field(ru, "maxUnavailable"), mu_path);
                }
            },
            other => {
                errs.not_supported("spec.strategy.type", other, &["Recreate", "RollingUpdate"])
            }
        }
    }
    errs.non_negative(
        "spec.revisionHistoryLimit",
        int_of(spec, "revisionHistoryLimit"),
    );
    let min_ready = int_of(spec, "minReadySeconds");
    errs.non_negative("spec.minReadySeconds", min_ready);
    if let Some(pds) = int_of(spec, "progressDeadlineSeconds") {
        errs.non_negative("spec.progressDeadlineSeconds", Some(pds));
        if pds <= min_ready.unwrap_or(0) {
            errs.invalid(
                "spec.progressDeadlineSeconds",
                pds,
                "must be greater than minReadySeconds",
            );
        }
    }
    selector_immutable(errs, spec, old);
}

pub fn validate_replica_set(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = spec_of(obj);
    errs.non_negative("spec.replicas", int_of(spec, "replicas"));
    errs.non_negative("spec.minReadySeconds", int_of(spec, "minReadySeconds"));
    selector_and_template(errs, spec, "empty selector is invalid for deployment", &[]);
    always_restart(errs, spec, |errs, _| {
        errs.forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        )
    });
    selector_immutable(errs, spec, old);
}

pub fn validate_daemon_set(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = spec_of(obj);
    selector_and_template(errs, spec, "empty selector is invalid for daemonset", &[]);
    always_restart(errs, spec, |errs, ads| {
        errs.invalid(
            "spec.template.spec.activeDeadlineSeconds",
            ads,
            "activeDeadlineSeconds must be nil for DaemonSets",
        )
    });
    if let Some(strategy) = field(spec, "updateStrategy") {
        match string(strategy, "type") {
            "OnDelete" => {}
            "RollingUpdate" => match field(strategy, "rollingUpdate") {
                None => errs.required("spec.updateStrategy.rollingUpdate", ""),
                Some(ru) => {
                    let mu_path = "spec.updateStrategy.rollingUpdate.maxUnavailable";
                    let ms_path = "spec.updateStrategy.rollingUpdate.maxSurge";
                    let mu = int_or_percent(errs, field(ru, "maxUnavailable"), mu_path);
                    let ms = int_or_percent(errs, field(ru, "maxSurge"), ms_path);
                    not_more_than_100_percent(errs, field(ru, "maxUnavailable"), mu_path);
                    not_more_than_100_percent(errs, field(ru, "maxSurge"), ms_path);
                    match (mu.unwrap_or(0) != 0, ms.unwrap_or(0) != 0) {
                        (true, true) => errs.invalid(
                            ms_path,
                            field(ru, "maxSurge").unwrap_or(&Value::Null),
                            "may not be set when maxUnavailable is non-zero",
                        ),
                        (false, false) => errs.required(mu_path, "cannot be 0 when maxSurge is 0"),
                        _ => {}
                    }
                }
            },
            other => errs.not_supported(
                "spec.updateStrategy.type",
                other,
                &["RollingUpdate", "OnDelete"],
            ),
        }
    }
    errs.non_negative(
        "spec.revisionHistoryLimit",
        int_of(spec, "revisionHistoryLimit"),
    );
    errs.non_negative("spec.minReadySeconds", int_of(spec, "minReadySeconds"));
    selector_immutable(errs, spec, old);
}

const STS_MUTABLE: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
    "revisionHistoryLimit",
];

pub fn validate_stateful_set(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = spec_of(obj);
    match string(spec, "podManagementPolicy") {
        "" => errs.required("spec.podManagementPolicy", ""),
        "OrderedReady" | "Parallel" => {}
        other => errs.invalid(
            "spec.podManagementPolicy",
            other,
            "must be 'OrderedReady' or 'Parallel'",
        ),
    }
    match field(spec, "updateStrategy") {
        None => errs.required("spec.updateStrategy", ""),
        Some(us) => match string(us, "type") {
            "" => errs.required("spec.updateStrategy", ""),
            "OnDelete" => {
                if let Some(ru) = field(us, "rollingUpdate") {
                    errs.invalid(
                        "spec.updateStrategy.rollingUpdate",
                        Raw(ru.to_string()),
                        "only allowed for updateStrategy 'RollingUpdate'",
                    );
                }
            }
            "RollingUpdate" => {
                if let Some(ru) = field(us, "rollingUpdate") {
                    errs.non_negative(
                        "spec.updateStrategy.rollingUpdate.partition",
                        int_of(ru, "partition"),
                    );
                    let mu_path = "spec.updateStrategy.rollingUpdate.maxUnavailable";
                    if let Some(mu) = int_or_percent(errs, field(ru, "maxUnavailable"), mu_path)
                        && mu == 0
                    {
                        errs.invalid(mu_path, 0, "must be greater than 0");
                    }
                    not_more_than_100_percent(errs, field(ru, "maxUnavailable"), mu_path);
                }
            }
            _ => errs.invalid(
                "spec.updateStrategy",
                Raw(us.to_string()),
                "must be 'RollingUpdate' or 'OnDelete'",
            ),
        },
    }
    if let Some(policy) = field(spec, "persistentVolumeClaimRetentionPolicy") {
        for key in ["whenDeleted", "whenScaled"] {
            errs.opt_one_of(
                format!("spec.persistentVolumeClaimRetentionPolicy.{key}"),
                str_of(policy, key),
                &["Retain", "Delete"],
            );
        }
    }
    errs.non_negative("spec.replicas", int_of(spec, "replicas"));
    errs.non_negative("spec.minReadySeconds", int_of(spec, "minReadySeconds"));
    errs.non_negative(
        "spec.revisionHistoryLimit",
        int_of(spec, "revisionHistoryLimit"),
    );
    if let Some(ord) = field(spec, "ordinals") {
        errs.non_negative("spec.ordinals.start", int_of(ord, "start"));
    }
    let mut claim_names = Vec::new();
    for (i, t) in arr_of(spec, "volumeClaimTemplates").iter().enumerate() {
        let p = format!("spec.volumeClaimTemplates[{i}]");
        let name = field(t, "metadata").map_or("", |m| string(m, "name"));
        if name.is_empty() {
            errs.required(format!("{p}.metadata.name"), "");
        } else {
            errs.invalid_each(
                &format!("{p}.metadata.name"),
                name,
                names::is_dns1123_label(name),
            );
            claim_names.push(name);
        }
        if let Some(s) = field(t, "spec") {
            validate_pvc_spec(errs, s, &format!("{p}.spec"));
        }
    }
    selector_and_template(
        errs,
        spec,
        "empty selector is invalid for statefulset",
        &claim_names,
    );
    always_restart(errs, spec, |errs, _| {
        errs.forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in StatefulSet is not Supported",
        )
    });

    if let Some(old) = old {
        let old_spec = spec_of(old);
        let strip = |s: &Value| {
            let mut s = s.clone();
            if let Some(m) = s.as_object_mut() {
                for k in STS_MUTABLE {
                    m.remove(*k);
                }
            }
            s
        };
        if !semantic_eq(Some(&strip(spec)), Some(&strip(old_spec))) {
            errs.forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            );
        }
    }
}

pub fn validate_controller_revision(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    if field(obj, "data").is_none() {
        errs.required("data", "data is mandatory");
    }
    errs.non_negative("revision", int_of(obj, "revision"));
    if let Some(old) = old {
        errs.immutable("data", field(obj, "data"), field(old, "data"));
    }
}

// ---- batch ----

const LEGACY_CONTROLLER_UID: &str = "controller-uid";
const LEGACY_JOB_NAME: &str = "job-name";
const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
const JOB_NAME: &str = "batch.kubernetes.io/job-name";

pub fn validate_job(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = spec_of(obj);
    let meta = field(obj, "metadata");
    let uid = meta.map_or("", |m| string(m, "uid"));
    let name = meta.map_or("", |m| string(m, "name"));

    if bool_of(spec, "manualSelector") != Some(true) && !uid.is_empty() {
        let labels = template_labels(field(spec, "template"));
        let mut expected = Map::new();
        for (key, want) in [
            (LEGACY_CONTROLLER_UID, uid),
            (LEGACY_JOB_NAME, name),
            (CONTROLLER_UID, uid),
            (JOB_NAME, name),
        ] {
            expected.insert(key.to_owned(), Value::String(want.to_owned()));
            let path = format!("spec.template.metadata.labels[{key}]");
            match labels.and_then(|l| l.get(key)).and_then(Value::as_str) {
                None => errs.required(path, want),
                Some(v) if v != want => {
                    errs.invalid(path, v, &format!("must be '{want}'"));
                }
                Some(_) => {}
            }
        }
        if let Some(sel) = field(spec, "selector")
            && !selector_matches(sel, Some(&expected))
        {
            errs.invalid(
                "spec.selector",
                Raw(sel.to_string()),
                "`selector` not auto-generated",
            );
        }
    }

    match field(spec, "selector") {
        None => errs.required("spec.selector", ""),
        Some(sel) => {
            validate_label_selector(errs, sel, "spec.selector");
            let labels = template_labels(field(spec, "template"));
            if !selector_matches(sel, labels) {
                labels_mismatch(errs, "spec.template.metadata.labels", labels);
            }
        }
    }
    validate_job_spec(errs, spec, "spec");

    if let Some(old) = old {
        validate_job_update(errs, spec, old);
    }
}

/// The parts of a JobSpec shared by Jobs and CronJob job templates
/// (selectors excepted); `base` is where the JobSpec sits.
fn validate_job_spec(errs: &mut Errs, spec: &Value, base: &str) {
    for key in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
    ] {
        errs.non_negative(format!("{base}.{key}"), int_of(spec, key));
    }
    let mode = str_of(spec, "completionMode");
    errs.opt_one_of(
        format!("{base}.completionMode"),
        mode,
        &["NonIndexed", "Indexed"],
    );
    if mode == Some("Indexed") && int_of(spec, "completions").is_none() {
        errs.required(
            format!("{base}.completions"),
            "when completion mode is Indexed",
        );
    }
    errs.opt_one_of(
        format!("{base}.podReplacementPolicy"),
        str_of(spec, "podReplacementPolicy"),
        &["TerminatingOrFailed", "Failed"],
    );
    let template_path = format!("{base}.template");
    validate_pod_template(errs, field(spec, "template"), &template_path, &[]);
    if let Some(pod) = at_template_spec(spec)
        && let Some(rp) = str_of(pod, "restartPolicy")
        && !rp.is_empty()
        && rp != "OnFailure"
        && rp != "Never"
    {
        errs.not_supported(
            format!("{template_path}.spec.restartPolicy"),
            rp,
            &["OnFailure", "Never"],
        );
    }
}

/// Parts of a suspended, never-started Job's template that may change.
const SUSPENDED_TEMPLATE_MUTABLE: &[&str] =
    &["nodeSelector", "affinity", "tolerations", "schedulingGates"];

fn validate_job_update(errs: &mut Errs, spec: &Value, old: &Value) {
    let old_spec = spec_of(old);
    errs.immutable(
        "spec.selector",
        field(spec, "selector"),
        field(old_spec, "selector"),
    );
    for key in [
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "managedBy",
        "successPolicy",
    ] {
        errs.immutable(
            format!("spec.{key}"),
            field(spec, key),
            field(old_spec, key),
        );
    }
    // Completions change only for elastic Indexed Jobs (completions == parallelism).
    let elastic = string(spec, "completionMode") == "Indexed"
        && int_of(spec, "completions") == int_of(spec, "parallelism")
        && int_of(old_spec, "completions") == int_of(old_spec, "parallelism");
    if !elastic {
        errs.immutable(
            "spec.completions",
            field(spec, "completions"),
            field(old_spec, "completions"),
        );
    }

    let (new_t, old_t) = (field(spec, "template"), field(old_spec, "template"));
    let suspended_unstarted = bool_of(spec, "suspend") == Some(true)
        && field(old, "status")
            .and_then(|s| field(s, "startTime"))
            .is_none();
    let same = if suspended_unstarted {
        let strip = |t: Option<&Value>| {
            let mut t = t.cloned().unwrap_or(Value::Null);
            if let Some(m) = t.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("labels");
                m.remove("annotations");
            }
            if let Some(m) = t.get_mut("spec").and_then(Value::as_object_mut) {
                for k in SUSPENDED_TEMPLATE_MUTABLE {
                    m.remove(*k);
                }
            }
            t
        };
        semantic_eq(Some(&strip(new_t)), Some(&strip(old_t)))
    } else {
        semantic_eq(new_t, old_t)
    };
    if !same {
        errs.invalid(
            "spec.template",
            Raw(new_t.map_or_else(|| "null".to_owned(), Value::to_string)),
            "field is immutable",
        );
    }
}

const CRONJOB_NAME_MAX: usize = 52;

pub fn validate_cron_job(errs: &mut Errs, obj: &Value, old: Option<&Value>) {
    if old.is_none() {
        let name = field(obj, "metadata").map_or("", |m| string(m, "name"));
        if name.len() > CRONJOB_NAME_MAX {
            errs.invalid(
                "metadata.name",
                name,
                &format!("must be no more than {CRONJOB_NAME_MAX} characters"),
            );
        }
    }
    let spec = spec_of(obj);
    let tz = str_of(spec, "timeZone");
    match str_of(spec, "schedule") {
        None | Some("") => errs.required("spec.schedule", ""),
        Some(schedule) => {
            if let Err(e) = cron::parse(schedule) {
                errs.invalid("spec.schedule", schedule, &e);
            }
            if schedule.contains("TZ") {
                errs.invalid(
                    "spec.schedule",
                    schedule,
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                );
            }
        }
    }
    if let Some(tz) = tz
        && let Err(e) = cron::validate_time_zone(tz)
    {
        errs.invalid("spec.timeZone", tz, &e);
    }
    errs.one_of(
        "spec.concurrencyPolicy",
        str_of(spec, "concurrencyPolicy"),
        &["Allow", "Forbid", "Replace"],
    );
    for key in [
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    ] {
        errs.non_negative(format!("spec.{key}"), int_of(spec, key));
    }
    match field(spec, "jobTemplate") {
        None => errs.required("spec.jobTemplate", ""),
        Some(jt) => {
            if let Some(meta) = field(jt, "metadata") {
                validate_labels(
                    errs,
                    map_of(meta, "labels"),
                    "spec.jobTemplate.metadata.labels",
                );
                validate_annotations(
                    errs,
                    map_of(meta, "annotations"),
                    "spec.jobTemplate.metadata.annotations",
                );
            }
            let empty = Value::Object(Map::new());
            let js = field(jt, "spec").unwrap_or(&empty);
            validate_job_spec(errs, js, "spec.jobTemplate.spec");
            if let Some(sel) = field(js, "selector") {
                errs.invalid(
                    "spec.jobTemplate.spec.selector",
                    Raw(sel.to_string()),
                    "`selector` will be auto-generated",
                );
            }
            if bool_of(js, "manualSelector") == Some(true) {
                errs.not_supported(
                    "spec.jobTemplate.spec.manualSelector",
                    Raw("true".to_owned()),
                    &["nil", "false"],
                );
            }
        }
    }
}
