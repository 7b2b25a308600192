//! Controllers of pods: deployments, replica sets, daemon sets, stateful sets,
//! their controller revisions, jobs and cron jobs.

use jiff::Timestamp;
use serde_json::Value;

use super::util::{
    AGE, CONTAINERS, Col, IMAGES, NAME, Obj, col, containers_and_images, format_label_selector,
    format_labels, selector_string, since, wide,
};
use super::{Builtin, no_conditions};

const SELECTOR_DESC: &str = "A label query over pods that should match the replica count. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";

/// `spec.replicas`, which defaults to 1.
fn desired(o: Obj<'_>) -> i64 {
    o.opt_i64(&["spec", "replicas"]).unwrap_or(1)
}

pub(super) static DEPLOYMENTS: Builtin = Builtin {
    columns: &[
        NAME,
        col("Ready", "string", "Number of the pod with ready state"),
        col(
            "Up-to-date",
            "string",
            "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
        ),
        col(
            "Available",
            "string",
            "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        wide("Selector", "string", SELECTOR_DESC),
    ] as &[Col],
    cells: |o, now| {
        let (names, images) = containers_and_images(o.at(&["spec", "template", "spec"]));
        // Deployments print the raw selector: "" when it selects everything.
        let selector = selector_string(o.at(&["spec", "selector"]).value())
            .unwrap_or_else(|()| "<invalid>".into());
        vec![
            o.name().into(),
            format!("{}/{}", o.i64(&["status", "readyReplicas"]), desired(o)).into(),
            o.i64(&["status", "updatedReplicas"]).into(),
            o.i64(&["status", "availableReplicas"]).into(),
            o.age(now).into(),
            names.into(),
            images.into(),
            selector.into(),
        ]
    },
    conditions: no_conditions,
};

pub(super) static REPLICA_SETS: Builtin = Builtin {
    columns: &[
        NAME,
        col(
            "Desired",
            "integer",
            "Replicas is the number of desired replicas. Defaults to 1.",
        ),
        col(
            "Current",
            "integer",
            "Replicas is the most recently observed number of replicas.",
        ),
        col(
            "Ready",
            "integer",
            "The number of ready replicas for this replica set.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        wide("Selector", "string", SELECTOR_DESC),
    ] as &[Col],
    cells: |o, now| {
        let (names, images) = containers_and_images(o.at(&["spec", "template", "spec"]));
        vec![
            o.name().into(),
            desired(o).into(),
            o.i64(&["status", "replicas"]).into(),
            o.i64(&["status", "readyReplicas"]).into(),
            o.age(now).into(),
            names.into(),
            images.into(),
            format_label_selector(o.at(&["spec", "selector"]).value()).into(),
        ]
    },
    conditions: no_conditions,
};

pub(super) static DAEMON_SETS: Builtin = Builtin {
    columns: &[
        NAME,
        col(
            "Desired",
            "integer",
            "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).",
        ),
        col(
            "Current",
            "integer",
            "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
        ),
        col(
            "Ready",
            "integer",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
        ),
        col(
            "Up-to-date",
            "integer",
            "The total number of nodes that are running updated daemon pod",
        ),
        col(
            "Available",
            "integer",
            "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
        ),
        col(
            "Node Selector",
            "string",
            "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        wide("Selector", "string", SELECTOR_DESC),
    ] as &[Col],
    cells: |o, now| {
        let pod_spec = o.at(&["spec", "template", "spec"]);
        let (names, images) = containers_and_images(pod_spec);
        vec![
            o.name().into(),
            o.i64(&["status", "desiredNumberScheduled"]).into(),
            o.i64(&["status", "currentNumberScheduled"]).into(),
            o.i64(&["status", "numberReady"]).into(),
            o.i64(&["status", "updatedNumberScheduled"]).into(),
            o.i64(&["status", "numberAvailable"]).into(),
            format_labels(pod_spec.map(&["nodeSelector"])).into(),
            o.age(now).into(),
            names.into(),
            images.into(),
            format_label_selector(o.at(&["spec", "selector"]).value()).into(),
        ]
    },
    conditions: no_conditions,
};

pub(super) static STATEFUL_SETS: Builtin = Builtin {
    columns: &[
        NAME,
        col("Ready", "string", "Number of the pod with ready state"),
        AGE,
        CONTAINERS,
        IMAGES,
    ] as &[Col],
    cells: |o, now| {
        let (names, images) = containers_and_images(o.at(&["spec", "template", "spec"]));
        vec![
            o.name().into(),
            format!("{}/{}", o.i64(&["status", "readyReplicas"]), desired(o)).into(),
            o.age(now).into(),
            names.into(),
            images.into(),
        ]
    },
    conditions: no_conditions,
};

pub(super) static CONTROLLER_REVISIONS: Builtin = Builtin {
    columns: &[
        NAME,
        col("Controller", "string", "Controller of the object"),
        col(
            "Revision",
            "string",
            "Revision indicates the revision of the state represented by Data.",
        ),
        AGE,
    ] as &[Col],
    cells: |o, now| {
        vec![
            o.name().into(),
            controller_of(o).into(),
            o.i64(&["revision"]).into(),
            o.age(now).into(),
        ]
    },
    conditions: no_conditions,
};

/// The controlling owner as "kind.group/name" in lower case ("statefulset.apps/web"),
/// or "<none>".
fn controller_of(o: Obj<'_>) -> String {
    let Some(owner) = o
        .list(&["metadata", "ownerReferences"])
        .iter()
        .map(Obj)
        .find(|r| r.bool(&["controller"]))
    else {
        return "<none>".to_string();
    };
    let api_version = owner.str(&["apiVersion"]);
    let group = match api_version.split_once('/') {
        Some((group, _)) => group,
        None => "",
    };
    let kind = owner.str(&["kind"]);
    let name = owner.str(&["name"]);
    match (group, kind) {
        ("", "") => name.to_string(),
        ("", kind) => format!("{}/{name}", kind.to_lowercase()),
        (group, kind) => format!("{}/{name}", format!("{kind}.{group}").to_lowercase()),
    }
}

pub(super) static JOBS: Builtin = Builtin {
    columns: &[
        NAME,
        col("Status", "string", "Status of the job."),
        col(
            "Completions",
            "string",
            "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.",
        ),
        col("Duration", "string", "Time required to complete the job."),
        AGE,
        CONTAINERS,
        IMAGES,
        wide(
            "Selector",
            "string",
            "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
        ),
    ] as &[Col],
    cells: job_cells,
    conditions: no_conditions,
};

fn job_cells(o: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let succeeded = o.i64(&["status", "succeeded"]);
    let completions = match o.opt_i64(&["spec", "completions"]) {
        Some(n) => format!("{succeeded}/{n}"),
        None => match o.i64(&["spec", "parallelism"]) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let start = o.time(&["status", "startTime"]);
    let duration = match (start, o.time(&["status", "completionTime"])) {
        (None, _) => String::new(),
        (Some(start), None) => since(Some(start), now),
        (Some(start), Some(end)) => {
            verge_apimachinery::duration::human_duration_signed(end.duration_since(start))
        }
    };
    let is = |ty: &str| o.condition_true(&["status", "conditions"], ty);
    let status = if is("Complete") {
        "Complete"
    } else if is("Failed") {
        "Failed"
    } else if o.deleting() {
        "Terminating"
    } else if is("Suspended") {
        "Suspended"
    } else if is("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = containers_and_images(o.at(&["spec", "template", "spec"]));
    vec![
        o.name().into(),
        status.into(),
        completions.into(),
        duration.into(),
        o.age(now).into(),
        names.into(),
        images.into(),
        format_label_selector(o.at(&["spec", "selector"]).value()).into(),
    ]
}

pub(super) static CRON_JOBS: Builtin = Builtin {
    columns: &[
        NAME,
        col(
            "Schedule",
            "string",
            "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
        ),
        col(
            "Timezone",
            "string",
            "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process.",
        ),
        col(
            "Suspend",
            "boolean",
            "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions. Defaults to false.",
        ),
        col(
            "Active",
            "integer",
            "A list of pointers to currently running jobs.",
        ),
        col(
            "Last Schedule",
            "string",
            "Information when was the last time the job was successfully scheduled.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        wide(
            "Selector",
            "string",
            "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
        ),
    ] as &[Col],
    cells: |o, now| {
        let last = match o.has(&["status", "lastScheduleTime"]) {
            true => since(o.time(&["status", "lastScheduleTime"]), now),
            false => "<none>".to_string(),
        };
        let suspend = match o.opt_bool(&["spec", "suspend"]) {
            Some(true) => "True",
            Some(false) => "False",
            None => "<unset>",
        };
        let job_spec = o.at(&["spec", "jobTemplate", "spec"]);
        let (names, images) = containers_and_images(job_spec.at(&["template", "spec"]));
        vec![
            o.name().into(),
            o.str(&["spec", "schedule"]).into(),
            o.opt_str(&["spec", "timeZone"]).unwrap_or("<none>").into(),
            suspend.into(),
            (o.len(&["status", "active"]) as i64).into(),
            last.into(),
            o.age(now).into(),
            names.into(),
            images.into(),
            format_label_selector(job_spec.at(&["selector"]).value()).into(),
        ]
    },
    conditions: no_conditions,
};

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use serde_json::{Value, json};

    fn template() -> Value {
        json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [
                {"name": "web", "image": "nginx:1.27"},
                {"name": "sidecar", "image": "busybox"}
            ]}
        })
    }

    #[test]
    fn deployments() {
        let rt = builtin("apps", "deployments");
        assert_eq!(
            headers(&rt),
            [
                "Name",
                "Ready",
                "Up-to-date",
                "Available",
                "Age",
                "Containers*",
                "Images*",
                "Selector*"
            ]
        );
        let d = json!({
            "metadata": {"name": "web", "creationTimestamp": ago(600)},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web", "tier": "fe"}},
                "template": template()
            },
            "status": {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2}
        });
        assert_eq!(
            cells(&rt, &d),
            [
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("10m"),
                json!("web,sidecar"),
                json!("nginx:1.27,busybox"),
                json!("app=web,tier=fe")
            ]
        );
        // A fresh deployment without status, and one scaled to zero.
        let fresh = json!({"metadata": {"name": "new"}, "spec": {"selector": {}}});
        let c = cells(&rt, &fresh);
        assert_eq!(c[1..4], [json!("0/1"), json!(0), json!(0)]);
        assert_eq!(c[4], "<unknown>");
        assert_eq!(c[7], "");
        let zero = json!({"metadata": {"name": "z"}, "spec": {"replicas": 0}});
        assert_eq!(cells(&rt, &zero)[1], "0/0");
    }

    #[test]
    fn replica_sets() {
        let rt = builtin("apps", "replicasets");
        assert_eq!(
            headers(&rt),
            [
                "Name",
                "Desired",
                "Current",
                "Ready",
                "Age",
                "Containers*",
                "Images*",
                "Selector*"
            ]
        );
        let rs = json!({
            "metadata": {"name": "web-6d4cf56db6", "creationTimestamp": ago(90)},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web", "pod-template-hash": "6d4cf56db6"}},
                "template": template()
            },
            "status": {"replicas": 2, "readyReplicas": 1}
        });
        assert_eq!(
            cells(&rt, &rs),
            [
                json!("web-6d4cf56db6"),
                json!(2),
                json!(2),
                json!(1),
                json!("90s"),
                json!("web,sidecar"),
                json!("nginx:1.27,busybox"),
                json!("app=web,pod-template-hash=6d4cf56db6")
            ]
        );
        let empty = json!({"metadata": {"name": "x"}, "spec": {"replicas": 0, "selector": {}}});
        assert_eq!(cells(&rt, &empty)[7], "<none>");
    }

    #[test]
    fn daemon_sets() {
        let rt = builtin("apps", "daemonsets");
        assert_eq!(
            headers(&rt),
            [
                "Name",
                "Desired",
                "Current",
                "Ready",
                "Up-to-date",
                "Available",
                "Node Selector",
                "Age",
                "Containers*",
                "Images*",
                "Selector*"
            ]
        );
        let mut tpl = template();
        tpl["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux", "disk": "ssd"});
        let ds = json!({
            "metadata": {"name": "agent", "creationTimestamp": ago(8 * 86400)},
            "spec": {
                "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["agent"]}]},
                "template": tpl
            },
            "status": {
                "desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                "updatedNumberScheduled": 3, "numberAvailable": 2
            }
        });
        assert_eq!(
            cells(&rt, &ds),
            [
                json!("agent"),
                json!(3),
                json!(3),
                json!(2),
                json!(3),
                json!(2),
                json!("disk=ssd,kubernetes.io/os=linux"),
                json!("8d"),
                json!("web,sidecar"),
                json!("nginx:1.27,busybox"),
                json!("app in (agent)")
            ]
        );
        let bare = json!({"metadata": {"name": "x"}});
        assert_eq!(cells(&rt, &bare)[6], "<none>");
    }

    #[test]
    fn stateful_sets() {
        let rt = builtin("apps", "statefulsets");
        assert_eq!(
            headers(&rt),
            ["Name", "Ready", "Age", "Containers*", "Images*"]
        );
        let sts = json!({
            "metadata": {"name": "db", "creationTimestamp": ago(4 * 3600 + 300)},
            "spec": {"replicas": 3, "template": template()},
            "status": {"replicas": 3, "readyReplicas": 3}
        });
        assert_eq!(
            cells(&rt, &sts),
            [
                json!("db"),
                json!("3/3"),
                json!("4h5m"),
                json!("web,sidecar"),
                json!("nginx:1.27,busybox")
            ]
        );
    }

    #[test]
    fn controller_revisions() {
        let rt = builtin("apps", "controllerrevisions");
        assert_eq!(headers(&rt), ["Name", "Controller", "Revision", "Age"]);
        let cr = json!({
            "metadata": {
                "name": "db-7b9f8c6d5",
                "creationTimestamp": ago(60),
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Pod", "name": "not-controller"},
                    {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "controller": true}
                ]
            },
            "revision": 2
        });
        assert_eq!(
            cells(&rt, &cr),
            [
                json!("db-7b9f8c6d5"),
                json!("statefulset.apps/db"),
                json!(2),
                json!("60s")
            ]
        );
        let core = json!({"metadata": {"name": "x", "ownerReferences": [
            {"apiVersion": "v1", "kind": "Node", "name": "n1", "controller": true}
        ]}, "revision": 1});
        assert_eq!(cells(&rt, &core)[1], "node/n1");
        let orphan = json!({"metadata": {"name": "x"}, "revision": 1});
        assert_eq!(cells(&rt, &orphan)[1], "<none>");
    }

    fn job(spec: Value, status: Value) -> Value {
        let mut spec = spec;
        spec["template"] = template();
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "1234"}});
        json!({"metadata": {"name": "pi", "creationTimestamp": ago(300)}, "spec": spec, "status": status})
    }

    #[test]
    fn jobs() {
        let rt = builtin("batch", "jobs");
        assert_eq!(
            headers(&rt),
            [
                "Name",
                "Status",
                "Completions",
                "Duration",
                "Age",
                "Containers*",
                "Images*",
                "Selector*"
            ]
        );
        let complete = job(
            json!({"completions": 1, "parallelism": 1}),
            json!({
                "succeeded": 1, "startTime": ago(300), "completionTime": ago(300 - 47),
                "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True"},
                    {"type": "Complete", "status": "True"}
                ]
            }),
        );
        assert_eq!(
            cells(&rt, &complete),
            [
                json!("pi"),
                json!("Complete"),
                json!("1/1"),
                json!("47s"),
                json!("5m"),
                json!("web,sidecar"),
                json!("nginx:1.27,busybox"),
                json!("batch.kubernetes.io/controller-uid=1234")
            ]
        );
        let running = job(
            json!({"completions": 5, "parallelism": 2}),
            json!({"succeeded": 2, "startTime": ago(200)}),
        );
        let c = cells(&rt, &running);
        assert_eq!(c[1..4], [json!("Running"), json!("2/5"), json!("3m20s")]);
        let work_queue = job(json!({"parallelism": 3}), json!({}));
        let c = cells(&rt, &work_queue);
        assert_eq!(c[1..4], [json!("Running"), json!("0/1 of 3"), json!("")]);
        let failed = job(
            json!({"completions": 1}),
            json!({"failed": 7, "startTime": ago(100), "conditions": [
                {"type": "FailureTarget", "status": "True"},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
            ]}),
        );
        assert_eq!(cells(&rt, &failed)[1], "Failed");
        let failing = job(
            json!({"completions": 1}),
            json!({"conditions": [{"type": "FailureTarget", "status": "True"}]}),
        );
        assert_eq!(cells(&rt, &failing)[1], "FailureTarget");
        let suspended = job(
            json!({"completions": 1, "suspend": true}),
            json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
        );
        assert_eq!(cells(&rt, &suspended)[1], "Suspended");
        let resumed = job(
            json!({"completions": 1}),
            json!({"conditions": [{"type": "Suspended", "status": "False"}]}),
        );
        assert_eq!(cells(&rt, &resumed)[1], "Running");
        let mut deleting = suspended.clone();
        deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
        assert_eq!(cells(&rt, &deleting)[1], "Terminating");
        // 1.32 has no SuccessCriteriaMet status: such a job prints Running until Complete.
        let criteria = job(
            json!({"completions": 3}),
            json!({"conditions": [{"type": "SuccessCriteriaMet", "status": "True"}]}),
        );
        assert_eq!(cells(&rt, &criteria)[1], "Running");
    }

    #[test]
    fn cron_jobs() {
        let rt = builtin("batch", "cronjobs");
        assert_eq!(
            headers(&rt),
            [
                "Name",
                "Schedule",
                "Timezone",
                "Suspend",
                "Active",
                "Last Schedule",
                "Age",
                "Containers*",
                "Images*",
                "Selector*"
            ]
        );
        let cj = json!({
            "metadata": {"name": "backup", "creationTimestamp": ago(86400 * 3)},
            "spec": {
                "schedule": "*/5 * * * *",
                "suspend": false,
                "jobTemplate": {"spec": {"template": template()}}
            },
            "status": {"active": [{"kind": "Job", "name": "backup-1"}], "lastScheduleTime": ago(65)}
        });
        assert_eq!(
            cells(&rt, &cj),
            [
                json!("backup"),
                json!("*/5 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("65s"),
                json!("3d"),
                json!("web,sidecar"),
                json!("nginx:1.27,busybox"),
                json!("<none>")
            ]
        );
        let tz = json!({
            "metadata": {"name": "tz"},
            "spec": {"schedule": "0 3 * * *", "timeZone": "Europe/Berlin", "suspend": true},
            "status": {}
        });
        let c = cells(&rt, &tz);
        assert_eq!(
            c[2..6],
            [
                json!("Europe/Berlin"),
                json!("True"),
                json!(0),
                json!("<none>")
            ]
        );
        let unset = json!({"metadata": {"name": "u"}, "spec": {"schedule": "@hourly"}});
        assert_eq!(cells(&rt, &unset)[3], "<unset>");
    }
}
