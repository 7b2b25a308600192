//! Pods: the kubelet-style STATUS, READY and RESTARTS everyone reads.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::Builtin;
use super::util::{AGE, Col, NAME, Obj, col, since, wide};

pub(super) static PODS: Builtin = Builtin {
    columns: &[
        NAME,
        col(
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        col(
            "Status",
            "string",
            "The aggregate status of the containers in this pod.",
        ),
        col(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        AGE,
        wide(
            "IP",
            "string",
            "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
        ),
        wide(
            "Node",
            "string",
            "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName.",
        ),
        wide(
            "Nominated Node",
            "string",
            "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
        ),
        wide(
            "Readiness Gates",
            "string",
            "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\".",
        ),
    ] as &[Col],
    cells: pod_cells,
    conditions: pod_conditions,
};

/// Succeeded and failed pods carry a `Completed` row condition.
fn pod_conditions(o: Obj<'_>) -> Option<Value> {
    let (reason, message) = match o.str(&["status", "phase"]) {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

/// The later of two optional restart times.
fn later(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// When a container last finished before its current run, if it ever did.
fn last_termination(cs: Obj<'_>) -> Option<Timestamp> {
    cs.time(&["lastState", "terminated", "finishedAt"])
}

/// "Signal:9" / "ExitCode:137" for a terminated state without a reason.
fn exit_text(term: Obj<'_>) -> String {
    match term.i64(&["signal"]) {
        0 => format!("ExitCode:{}", term.i64(&["exitCode"])),
        signal => format!("Signal:{signal}"),
    }
}

fn pod_cells(o: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let spec = o.at(&["spec"]);
    let status = o.at(&["status"]);
    let init_specs = spec.list(&["initContainers"]);
    // Sidecars: init containers that keep running (restartPolicy Always).
    let is_sidecar = |name: &str| {
        init_specs
            .iter()
            .map(Obj)
            .any(|c| c.str(&["name"]) == name && c.str(&["restartPolicy"]) == "Always")
    };
    let sidecars = init_specs
        .iter()
        .map(Obj)
        .filter(|c| c.str(&["restartPolicy"]) == "Always")
        .count();
    let total = spec.len(&["containers"]) + sidecars;

    let phase = status.str(&["phase"]);
    let mut reason = match status.str(&["reason"]) {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    let gated = status
        .list(&["conditions"])
        .iter()
        .map(Obj)
        .any(|c| c.str(&["type"]) == "PodScheduled" && c.str(&["reason"]) == "SchedulingGated");
    if gated {
        reason = "SchedulingGated".to_string();
    }

    let mut ready = 0;
    let mut restarts = 0;
    let mut last_restart = None;
    let mut sidecar_restarts = 0;
    let mut sidecar_last_restart = None;
    let mut initializing = false;
    let init_statuses = status.list(&["initContainerStatuses"]);
    for (i, cs) in init_statuses.iter().map(Obj).enumerate() {
        let count = cs.i64(&["restartCount"]);
        restarts += count;
        last_restart = later(last_restart, last_termination(cs));
        let sidecar = is_sidecar(cs.str(&["name"]));
        if sidecar {
            sidecar_restarts += count;
            sidecar_last_restart = later(sidecar_last_restart, last_termination(cs));
        }
        let term = cs.at(&["state", "terminated"]);
        let waiting_reason = cs.str(&["state", "waiting", "reason"]);
        if term.has(&[]) && term.i64(&["exitCode"]) == 0 {
            continue;
        }
        if sidecar && cs.bool(&["started"]) {
            if cs.bool(&["ready"]) {
                ready += 1;
            }
            continue;
        }
        reason = if term.has(&[]) {
            match term.str(&["reason"]) {
                "" => format!("Init:{}", exit_text(term)),
                r => format!("Init:{r}"),
            }
        } else if cs.has(&["state", "waiting"])
            && !waiting_reason.is_empty()
            && waiting_reason != "PodInitializing"
        {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    if !initializing || status.condition_true(&["conditions"], "Initialized") {
        restarts = sidecar_restarts;
        last_restart = sidecar_last_restart;
        let mut has_running = false;
        for cs in status.list(&["containerStatuses"]).iter().rev().map(Obj) {
            restarts += cs.i64(&["restartCount"]);
            last_restart = later(last_restart, last_termination(cs));
            let waiting = cs.at(&["state", "waiting"]);
            let term = cs.at(&["state", "terminated"]);
            if waiting.has(&[]) && !waiting.str(&["reason"]).is_empty() {
                reason = waiting.str(&["reason"]).to_string();
            } else if term.has(&[]) {
                reason = match term.str(&["reason"]) {
                    "" => exit_text(term),
                    r => r.to_string(),
                };
            } else if cs.bool(&["ready"]) && cs.has(&["state", "running"]) {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last container completed but another still runs is running.
        if reason == "Completed" && has_running {
            reason = if status
                .list(&["conditions"])
                .iter()
                .map(Obj)
                .any(|c| c.str(&["type"]) == "Ready" && c.str(&["status"]) == "True")
            {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    if o.deleting() && status.str(&["reason"]) == "NodeLost" {
        reason = "Unknown".to_string();
    } else if o.deleting() && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };

    // podIP is authoritative over podIPs when both are set (as in Kubernetes' conversion).
    let ip = match status.str(&["podIP"]) {
        "" => status
            .list(&["podIPs"])
            .first()
            .map(|p| Obj(p).str(&["ip"]))
            .unwrap_or(""),
        ip => ip,
    };
    let gates = spec.list(&["readinessGates"]);
    let gates_text = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let met = gates
            .iter()
            .map(Obj)
            .filter(|g| status.condition_true(&["conditions"], g.str(&["conditionType"])))
            .count();
        format!("{met}/{}", gates.len())
    };

    vec![
        o.name().into(),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts_text.into(),
        o.age(now).into(),
        or_none(ip).into(),
        or_none(spec.str(&["nodeName"])).into(),
        or_none(status.str(&["nominatedNodeName"])).into(),
        gates_text.into(),
    ]
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "<none>" } else { s }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::{IncludeObject, Printer};
    use serde_json::{Value, json};

    fn rt() -> crate::registry::ResourceType {
        builtin("", "pods")
    }

    fn pod(spec: Value, status: Value) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "default", "creationTimestamp": ago(3 * 86400)},
            "spec": spec,
            "status": status
        })
    }

    fn one_container() -> Value {
        json!({"containers": [{"name": "app", "image": "nginx:1.27"}]})
    }

    /// Ready, Status, Restarts.
    fn summary(p: &Value) -> (String, String, String) {
        let c = cells(&rt(), p);
        let s = |i: usize| c[i].as_str().unwrap_or_default().to_string();
        (s(1), s(2), s(3))
    }

    fn owned(t: (&str, &str, &str)) -> (String, String, String) {
        (t.0.into(), t.1.into(), t.2.into())
    }

    #[test]
    fn columns() {
        assert_eq!(
            headers(&rt()),
            [
                "Name",
                "Ready",
                "Status",
                "Restarts",
                "Age",
                "IP*",
                "Node*",
                "Nominated Node*",
                "Readiness Gates*"
            ]
        );
    }

    #[test]
    fn running_pod_with_wide_cells() {
        let p = pod(
            json!({
                "containers": [{"name": "app", "image": "a"}, {"name": "log", "image": "b"}],
                "nodeName": "node1",
                "readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]
            }),
            json!({
                "phase": "Running",
                "podIPs": [{"ip": "10.42.0.5"}, {"ip": "fd00::5"}],
                "nominatedNodeName": "node2",
                "conditions": [
                    {"type": "example.com/lb", "status": "True"},
                    {"type": "example.com/dns", "status": "False"},
                    {"type": "Ready", "status": "False"}
                ],
                "containerStatuses": [
                    {"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}},
                    {"name": "log", "ready": false, "restartCount": 0, "state": {"running": {}}}
                ]
            }),
        );
        assert_eq!(
            cells(&rt(), &p),
            [
                json!("web-1"),
                json!("1/2"),
                json!("Running"),
                json!("0"),
                json!("3d"),
                json!("10.42.0.5"),
                json!("node1"),
                json!("node2"),
                json!("1/2")
            ]
        );
    }

    #[test]
    fn pending_unscheduled_pod() {
        let p = pod(one_container(), json!({"phase": "Pending"}));
        let c = cells(&rt(), &p);
        assert_eq!(summary(&p), owned(("0/1", "Pending", "0")));
        assert_eq!(
            c[5..],
            [
                json!("<none>"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn scheduling_gated() {
        let p = pod(
            one_container(),
            json!({"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
            ]}),
        );
        assert_eq!(summary(&p), owned(("0/1", "SchedulingGated", "0")));
    }

    #[test]
    fn crash_loop_with_restart_age() {
        let p = pod(
            one_container(),
            json!({"phase": "Running", "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 5,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(150)}}
            }]}),
        );
        assert_eq!(
            summary(&p),
            owned(("0/1", "CrashLoopBackOff", "5 (2m30s ago)"))
        );
    }

    #[test]
    fn image_pull_errors() {
        for reason in [
            "ErrImagePull",
            "ImagePullBackOff",
            "ContainerCreating",
            "CreateContainerConfigError",
        ] {
            let p = pod(
                one_container(),
                json!({"phase": "Pending", "containerStatuses": [{
                    "name": "app", "ready": false, "restartCount": 0,
                    "state": {"waiting": {"reason": reason}}
                }]}),
            );
            assert_eq!(summary(&p), owned(("0/1", reason, "0")));
        }
    }

    #[test]
    fn completed_and_errored_pods() {
        let done = pod(
            one_container(),
            json!({"phase": "Succeeded", "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}
            }]}),
        );
        assert_eq!(summary(&done), owned(("0/1", "Completed", "0")));
        let row = Printer::new(&rt()).row(&done, IncludeObject::None, now());
        assert_eq!(
            row["conditions"],
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
                    "message": "The pod has completed successfully."}])
        );
        let failed = pod(
            one_container(),
            json!({"phase": "Failed", "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 2, "reason": "Error"}}
            }]}),
        );
        assert_eq!(summary(&failed), owned(("0/1", "Error", "0")));
        let row = Printer::new(&rt()).row(&failed, IncludeObject::None, now());
        assert_eq!(row["conditions"][0]["reason"], "Failed");
        let running = pod(one_container(), json!({"phase": "Running"}));
        assert!(
            Printer::new(&rt())
                .row(&running, IncludeObject::None, now())
                .get("conditions")
                .is_none()
        );
    }

    #[test]
    fn terminated_without_reason_prints_signal_or_exit_code() {
        let with = |term: Value| {
            pod(
                one_container(),
                json!({"phase": "Running", "containerStatuses": [{
                    "name": "app", "ready": false, "restartCount": 0, "state": {"terminated": term}
                }]}),
            )
        };
        assert_eq!(
            summary(&with(json!({"exitCode": 137, "signal": 9}))).1,
            "Signal:9"
        );
        assert_eq!(summary(&with(json!({"exitCode": 3}))).1, "ExitCode:3");
        assert_eq!(
            summary(&with(json!({"exitCode": 137, "reason": "OOMKilled"}))).1,
            "OOMKilled"
        );
    }

    #[test]
    fn one_container_completed_another_running() {
        let two = json!({"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]});
        let statuses = json!([
            {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
            {"name": "b", "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
        ]);
        let ready = pod(
            two.clone(),
            json!({"phase": "Running", "containerStatuses": statuses,
                   "conditions": [{"type": "Ready", "status": "True"}]}),
        );
        assert_eq!(summary(&ready), owned(("1/2", "Running", "0")));
        let not_ready = pod(
            two,
            json!({"phase": "Running", "containerStatuses": statuses}),
        );
        assert_eq!(summary(&not_ready), owned(("1/2", "NotReady", "0")));
    }

    #[test]
    fn init_containers() {
        let spec = json!({
            "initContainers": [{"name": "migrate", "image": "m"}, {"name": "seed", "image": "s"}],
            "containers": [{"name": "app", "image": "a"}]
        });
        let app_waiting = json!([{"name": "app", "ready": false, "restartCount": 0,
                                  "state": {"waiting": {"reason": "PodInitializing"}}}]);
        // First init container running.
        let p = pod(
            spec.clone(),
            json!({"phase": "Pending", "containerStatuses": app_waiting,
            "initContainerStatuses": [
                {"name": "migrate", "ready": false, "restartCount": 0, "state": {"running": {}}},
                {"name": "seed", "ready": false, "restartCount": 0,
                 "state": {"waiting": {"reason": "PodInitializing"}}}
            ]}),
        );
        assert_eq!(summary(&p), owned(("0/1", "Init:0/2", "0")));
        // First done, second running.
        let p = pod(
            spec.clone(),
            json!({"phase": "Pending", "containerStatuses": app_waiting,
            "initContainerStatuses": [
                {"name": "migrate", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "seed", "ready": false, "restartCount": 0, "state": {"running": {}}}
            ]}),
        );
        assert_eq!(summary(&p), owned(("0/1", "Init:1/2", "0")));
        // An init container crash-looping; its restarts count while initializing.
        let p = pod(
            spec.clone(),
            json!({"phase": "Pending", "containerStatuses": app_waiting,
            "initContainerStatuses": [
                {"name": "migrate", "ready": false, "restartCount": 3,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(30)}}},
                {"name": "seed", "ready": false, "restartCount": 0,
                 "state": {"waiting": {"reason": "PodInitializing"}}}
            ]}),
        );
        assert_eq!(
            summary(&p),
            owned(("0/1", "Init:CrashLoopBackOff", "3 (30s ago)"))
        );
        // An init container that failed.
        let p = pod(
            spec.clone(),
            json!({"phase": "Failed", "containerStatuses": app_waiting,
            "initContainerStatuses": [
                {"name": "migrate", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}
            ]}),
        );
        assert_eq!(summary(&p).1, "Init:Error");
        let p = pod(
            spec.clone(),
            json!({"phase": "Pending", "containerStatuses": app_waiting,
            "initContainerStatuses": [
                {"name": "migrate", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 143, "signal": 15}}}
            ]}),
        );
        assert_eq!(summary(&p).1, "Init:Signal:15");
        // All init containers done, app still starting.
        let p = pod(
            spec,
            json!({"phase": "Pending", "containerStatuses": app_waiting,
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [
                {"name": "migrate", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "seed", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
            ]}),
        );
        assert_eq!(summary(&p), owned(("0/1", "PodInitializing", "0")));
    }

    #[test]
    fn sidecar_init_containers_count_as_containers() {
        let spec = json!({
            "initContainers": [{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}],
            "containers": [{"name": "app", "image": "a"}]
        });
        let p = pod(
            spec,
            json!({
                "phase": "Running",
                "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                "initContainerStatuses": [{
                    "name": "proxy", "ready": true, "started": true, "restartCount": 2,
                    "state": {"running": {}},
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(600)}}
                }],
                "containerStatuses": [{
                    "name": "app", "ready": true, "restartCount": 1, "state": {"running": {}},
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(7200)}}
                }]
            }),
        );
        assert_eq!(summary(&p), owned(("2/2", "Running", "3 (10m ago)")));
    }

    #[test]
    fn terminating_and_node_lost() {
        let mut p = pod(
            one_container(),
            json!({"phase": "Running", "containerStatuses": [
                {"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}}
            ]}),
        );
        p["metadata"]["deletionTimestamp"] = json!(ago(5));
        assert_eq!(summary(&p), owned(("1/1", "Terminating", "0")));
        p["status"]["reason"] = json!("NodeLost");
        assert_eq!(summary(&p).1, "Unknown");
        // A finished pod being deleted keeps its final status.
        let mut done = pod(one_container(), json!({"phase": "Succeeded"}));
        done["metadata"]["deletionTimestamp"] = json!(ago(5));
        assert_eq!(summary(&done).1, "Succeeded");
    }

    #[test]
    fn pod_level_reason_wins_over_phase() {
        let p = pod(
            one_container(),
            json!({"phase": "Failed", "reason": "Evicted", "message": "low on memory"}),
        );
        assert_eq!(summary(&p), owned(("0/1", "Evicted", "0")));
    }

    #[test]
    fn restarts_without_finish_time_have_no_age() {
        let p = pod(
            one_container(),
            json!({"phase": "Running", "containerStatuses": [
                {"name": "app", "ready": true, "restartCount": 2, "state": {"running": {}}}
            ]}),
        );
        assert_eq!(summary(&p), owned(("1/1", "Running", "2")));
    }
}
