//! Jobs and CronJobs against a real `verge server` with hollow nodes, whose
//! pods exit as their `hollow.verge.dev/exit-after` / `exit-code`
//! annotations say: completions with parallelism, Indexed completion,
//! failure at the backoff limit (with backoff between retries), pod failure
//! policy, active deadline, suspension, TTL after finishing, and CronJobs
//! that run on schedule, on demand (`kubectl create job --from=cronjob/`)
//! and keep only their history limit.

mod common;

use std::time::Duration;

use common::Cluster;
use common::hollow::{fast_config, kubectl, kubectl_output, start_fleet, wait_for};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use verge_hollow::{Fleet, NodeSpec};

const T: Duration = Duration::from_secs(30);
const TRACKING: &str = "batch.kubernetes.io/job-tracking";

async fn cluster_with_nodes() -> (Cluster, Fleet, kube::Client) {
    let cluster = Cluster::start();
    let fleet = start_fleet(
        &cluster,
        fast_config([NodeSpec::new("node-1"), NodeSpec::new("node-2")]),
    )
    .await;
    let client = cluster.client().await;
    (cluster, fleet, client)
}

/// A Job whose pods exit after `exit_after` with `code`.
fn job(name: &str, spec: &str, exit_after: &str, code: i32) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  namespace: default
spec:
{spec}
  template:
    metadata:
      annotations:
        hollow.verge.dev/exit-after: "{exit_after}"
        hollow.verge.dev/exit-code: "{code}"
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: registry.example/work:1
"#
    )
}

async fn job_pods(pods: &Api<Pod>, job: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
        .await
        .expect("list pods")
        .items
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn condition(job: &Job, type_: &str) -> Option<(String, String)> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
        .map(|c| {
            (
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

/// When a pod's container started and finished running.
fn run_span(p: &Pod) -> Option<(Timestamp, Timestamp)> {
    let state = p
        .status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?;
    let t = state.terminated.as_ref()?;
    Some((t.started_at.as_ref()?.0, t.finished_at.as_ref()?.0))
}

async fn events_for(client: &kube::Client, name: &str) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    events
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_its_completions_with_bounded_parallelism() {
    let (cluster, fleet, client) = cluster_with_nodes().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    cluster.apply(&job("work", "  completions: 4\n  parallelism: 2", "1s", 0));

    // Running pods carry the tracking finalizer and the Job's labels.
    let running = wait_for("a running job pod", T, || async {
        job_pods(&pods, "work")
            .await
            .into_iter()
            .find(|p| phase(p) == "Running")
    })
    .await;
    let finalizers = running.metadata.finalizers.clone().unwrap_or_default();
    assert!(finalizers.iter().any(|f| f == TRACKING), "{finalizers:?}");
    let labels = running.metadata.labels.clone().unwrap_or_default();
    for key in [
        "job-name",
        "batch.kubernetes.io/job-name",
        "controller-uid",
        "batch.kubernetes.io/controller-uid",
    ] {
        assert!(labels.contains_key(key), "label {key}: {labels:?}");
    }

    kubectl(
        &cluster,
        &[
            "wait",
            "--for=condition=complete",
            "job/work",
            "--timeout=60s",
        ],
    )
    .await;
    let done = jobs.get("work").await.expect("job");
    let status = done.status.clone().expect("status");
    assert_eq!(status.succeeded, Some(4));
    assert_eq!(status.failed.unwrap_or(0), 0);
    assert_eq!(status.active.unwrap_or(0), 0);
    assert!(status.start_time.is_some() && status.completion_time.is_some());
    assert!(
        condition(&done, "SuccessCriteriaMet").is_some(),
        "interim condition kept"
    );
    let uncounted = status.uncounted_terminated_pods.unwrap_or_default();
    assert!(uncounted.succeeded.is_none() && uncounted.failed.is_none());

    let all = job_pods(&pods, "work").await;
    assert_eq!(all.len(), 4, "exactly one pod per completion");
    assert!(all.iter().all(|p| phase(p) == "Succeeded"));
    assert!(
        all.iter().all(|p| !p
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == TRACKING)),
        "counted pods are released"
    );
    // Never more than `parallelism` pods ran at once.
    let spans: Vec<(Timestamp, Timestamp)> = all.iter().filter_map(run_span).collect();
    assert_eq!(spans.len(), 4);
    for (start, _) in &spans {
        let concurrent = spans
            .iter()
            .filter(|(s, e)| s <= start && start < e)
            .count();
        assert!(concurrent <= 2, "{concurrent} pods ran at once: {spans:?}");
    }
    let table = kubectl(&cluster, &["get", "job", "work", "--no-headers"]).await;
    assert!(table.contains("4/4"), "{table}");
    let reasons: Vec<String> = events_for(&client, "work")
        .await
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    assert!(
        reasons.iter().any(|r| r == "SuccessfulCreate") && reasons.iter().any(|r| r == "Completed"),
        "{reasons:?}"
    );
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_back_off_and_stop_at_the_backoff_limit() {
    let (cluster, fleet, client) = cluster_with_nodes().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    cluster.apply(&job("flaky", "  backoffLimit: 1", "300ms", 3));

    kubectl(
        &cluster,
        &[
            "wait",
            "--for=condition=failed",
            "job/flaky",
            "--timeout=60s",
        ],
    )
    .await;
    let failed = jobs.get("flaky").await.expect("job");
    let (reason, message) = condition(&failed, "Failed").expect("Failed condition");
    assert_eq!(reason, "BackoffLimitExceeded");
    assert_eq!(message, "Job has reached the specified backoff limit");
    assert_eq!(failed.status.as_ref().and_then(|s| s.failed), Some(2));
    assert!(
        failed
            .status
            .as_ref()
            .and_then(|s| s.completion_time.as_ref())
            .is_none()
    );

    let mut all = job_pods(&pods, "flaky").await;
    assert_eq!(all.len(), 2, "one try plus one retry");
    all.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
    // The retry waited out the 10 s backoff after the first failure.
    let first_failed = run_span(&all[0]).expect("first pod ran").1;
    let retried = all[1]
        .metadata
        .creation_timestamp
        .as_ref()
        .expect("created")
        .0;
    let gap = retried.duration_since(first_failed).as_secs_f64();
    assert!(gap >= 9.0, "retry after {gap}s");
    let out = kubectl(&cluster, &["describe", "job", "flaky"]).await;
    assert!(out.contains("BackoffLimitExceeded"), "{out}");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_jobs_give_each_pod_its_index() {
    let (cluster, fleet, client) = cluster_with_nodes().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    cluster.apply(&job(
        "shard",
        "  completions: 3\n  parallelism: 3\n  completionMode: Indexed",
        "500ms",
        0,
    ));
    kubectl(
        &cluster,
        &[
            "wait",
            "--for=condition=complete",
            "job/shard",
            "--timeout=60s",
        ],
    )
    .await;
    let status = jobs
        .get("shard")
        .await
        .expect("job")
        .status
        .expect("status");
    assert_eq!(status.completed_indexes.as_deref(), Some("0-2"));
    assert_eq!(status.succeeded, Some(3));
    let mut indexes: Vec<String> = Vec::new();
    for p in job_pods(&pods, "shard").await {
        let index = p
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("batch.kubernetes.io/job-completion-index"))
            .cloned()
            .expect("index annotation");
        let spec = p.spec.clone().expect("spec");
        assert_eq!(spec.hostname, Some(format!("shard-{index}")));
        let env = spec.containers[0].env.clone().unwrap_or_default();
        let var = env
            .iter()
            .find(|v| v.name == "JOB_COMPLETION_INDEX")
            .expect("JOB_COMPLETION_INDEX");
        let field = var
            .value_from
            .as_ref()
            .and_then(|f| f.field_ref.as_ref())
            .map(|f| f.field_path.clone());
        assert_eq!(
            field.as_deref(),
            Some("metadata.annotations['batch.kubernetes.io/job-completion-index']")
        );
        assert!(
            p.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with(&format!("shard-{index}-")))
        );
        indexes.push(index);
    }
    indexes.sort();
    assert_eq!(indexes, ["0", "1", "2"]);
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_deadlines_suspension_and_ttl() {
    let (cluster, fleet, client) = cluster_with_nodes().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");

    // podFailurePolicy: exit code 42 fails the Job at once, whatever the backoff limit.
    cluster.apply(&job(
        "fatal",
        "  backoffLimit: 6\n  podFailurePolicy:\n    rules:\n    - action: FailJob\n      onExitCodes: {operator: In, values: [42]}",
        "300ms",
        42,
    ));
    // activeDeadlineSeconds: a pod that would run a minute is stopped after 2 s.
    cluster.apply(&job("slow", "  activeDeadlineSeconds: 2", "60s", 0));
    // Suspended: no pods until resumed. TTL: gone a second after finishing.
    cluster.apply(&job(
        "later",
        "  suspend: true\n  ttlSecondsAfterFinished: 1",
        "300ms",
        0,
    ));

    kubectl(
        &cluster,
        &[
            "wait",
            "--for=condition=failed",
            "job/fatal",
            "--timeout=60s",
        ],
    )
    .await;
    let (reason, message) =
        condition(&jobs.get("fatal").await.expect("job"), "Failed").expect("failed");
    assert_eq!(reason, "PodFailurePolicy");
    assert!(
        message.contains("exit code 42") && message.contains("FailJob"),
        "{message}"
    );
    assert_eq!(job_pods(&pods, "fatal").await.len(), 1, "no retries");

    wait_for("job/later suspended", T, || async {
        condition(&jobs.get("later").await.ok()?, "Suspended")
    })
    .await;
    assert!(
        job_pods(&pods, "later").await.is_empty(),
        "a suspended job runs nothing"
    );
    assert!(
        jobs.get("later")
            .await
            .expect("job")
            .status
            .and_then(|s| s.start_time)
            .is_none()
    );

    kubectl(
        &cluster,
        &[
            "wait",
            "--for=condition=failed",
            "job/slow",
            "--timeout=60s",
        ],
    )
    .await;
    let slow = jobs.get("slow").await.expect("job");
    assert_eq!(
        condition(&slow, "Failed").map(|c| c.0).as_deref(),
        Some("DeadlineExceeded")
    );
    wait_for("the slow job's pod gone", T, || async {
        let left = job_pods(&pods, "slow").await;
        left.iter().all(|p| phase(p) != "Running").then_some(())
    })
    .await;

    kubectl(
        &cluster,
        &[
            "patch",
            "job/later",
            "--type=merge",
            "-p",
            r#"{"spec":{"suspend":false}}"#,
        ],
    )
    .await;
    kubectl(
        &cluster,
        &[
            "wait",
            "--for=condition=complete",
            "job/later",
            "--timeout=60s",
        ],
    )
    .await;
    wait_for("job/later deleted after its TTL", T, || async {
        jobs.get_opt("later").await.ok()?.is_none().then_some(())
    })
    .await;
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_cron_schedules_are_rejected() {
    let cluster = Cluster::start();
    let out = kubectl_output(
        &cluster,
        &[
            "create",
            "cronjob",
            "bad",
            "--image=registry.example/x:1",
            "--schedule=61 * * * *",
        ],
    )
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.schedule") && err.contains("end of range (61) above maximum (59)"),
        "{err}"
    );
    let out = kubectl_output(
        &cluster,
        &[
            "create",
            "cronjob",
            "tz",
            "--image=registry.example/x:1",
            "--schedule=TZ=UTC 0 * * * *",
        ],
    )
    .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot use TZ or CRON_TZ in schedule"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cronjobs_run_on_schedule_on_demand_and_keep_their_history_limit() {
    let (cluster, fleet, client) = cluster_with_nodes().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    // Suspended first; `@every 1s` fires within a second of resuming.
    cluster.apply(
        r#"
apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
  namespace: default
spec:
  schedule: "@every 1s"
  suspend: true
  successfulJobsHistoryLimit: 1
  jobTemplate:
    metadata:
      labels: {app: tick}
    spec:
      template:
        metadata:
          annotations:
            hollow.verge.dev/exit-after: "2s"
        spec:
          restartPolicy: Never
          containers:
          - name: tick
            image: registry.example/tick:1
"#,
    );
    kubectl(
        &cluster,
        &["create", "job", "--from=cronjob/tick", "manual-1"],
    )
    .await;
    kubectl(
        &cluster,
        &[
            "wait",
            "--for=condition=complete",
            "job/manual-1",
            "--timeout=60s",
        ],
    )
    .await;
    let manual = jobs.get("manual-1").await.expect("manual job");
    assert_eq!(
        manual
            .metadata
            .owner_references
            .as_ref()
            .map(|r| r[0].name.as_str()),
        Some("tick"),
        "kubectl makes the CronJob its owner"
    );
    let cj = cronjobs.get("tick").await.expect("cronjob");
    assert!(
        cj.status
            .as_ref()
            .and_then(|s| s.last_schedule_time.as_ref())
            .is_none(),
        "nothing scheduled while suspended"
    );
    assert_eq!(
        jobs.list(&ListParams::default().labels("app=tick"))
            .await
            .expect("jobs")
            .items
            .len(),
        1
    );

    kubectl(
        &cluster,
        &[
            "patch",
            "cronjob/tick",
            "--type=merge",
            "-p",
            r#"{"spec":{"suspend":false}}"#,
        ],
    )
    .await;
    let scheduled = wait_for("a scheduled run", T, || async {
        let s = cronjobs.get("tick").await.ok()?.status?;
        let at = s.last_schedule_time?.0;
        let active = s.active?;
        (active.len() == 1).then(|| (at, active[0].name.clone().unwrap_or_default()))
    })
    .await;
    let (at, run) = scheduled;
    assert_eq!(
        run,
        format!("tick-{}", at.as_second() / 60),
        "runs are named by their scheduled minute"
    );
    let job = jobs.get(&run).await.expect("scheduled job");
    assert!(
        job.metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("batch.kubernetes.io/cronjob-scheduled-timestamp"))
    );
    kubectl(
        &cluster,
        &[
            "wait",
            "--for=condition=complete",
            &format!("job/{run}"),
            "--timeout=60s",
        ],
    )
    .await;
    wait_for("lastSuccessfulTime and an empty active list", T, || async {
        let s = cronjobs.get("tick").await.ok()?.status?;
        (s.last_successful_time.is_some() && s.active.is_none()).then_some(())
    })
    .await;
    // successfulJobsHistoryLimit: 1 — the older finished run goes.
    wait_for("manual-1 deleted by the history limit", T, || async {
        jobs.get_opt("manual-1").await.ok()?.is_none().then_some(())
    })
    .await;
    // Events are published by the recorder's own task, after the status.
    let reasons = wait_for("a SawCompletedJob event", T, || async {
        let reasons: Vec<String> = events_for(&client, "tick")
            .await
            .into_iter()
            .filter_map(|e| e.reason)
            .collect();
        reasons
            .iter()
            .any(|r| r == "SawCompletedJob")
            .then_some(reasons)
    })
    .await;
    assert!(!reasons.iter().any(|r| r == "UnexpectedJob"), "{reasons:?}");
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_policies_decide_what_a_due_run_does_to_an_active_one() {
    let (cluster, fleet, client) = cluster_with_nodes().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    cluster.apply(
        r#"
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
  namespace: default
spec:
  schedule: "* * * * *"
  suspend: true
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      template:
        metadata:
          annotations:
            hollow.verge.dev/exit-after: "300s"
        spec:
          restartPolicy: Never
          containers:
          - name: work
            image: registry.example/work:1
"#,
    );
    // A long run is active, and the last scheduled time lies minutes back
    // (as after the controller was down): the current minute's run is due.
    kubectl(
        &cluster,
        &["create", "job", "--from=cronjob/nightly", "long-run"],
    )
    .await;
    let long = jobs.get("long-run").await.expect("job");
    let uid = long.metadata.uid.clone().expect("uid");
    let past = Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(150);
    let status = serde_json::json!({"status": {
        "lastScheduleTime": past.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "active": [{"apiVersion": "batch/v1", "kind": "Job", "namespace": "default", "name": "long-run", "uid": uid}],
    }});
    kubectl(
        &cluster,
        &[
            "patch",
            "cronjob/nightly",
            "--subresource=status",
            "--type=merge",
            "-p",
            &status.to_string(),
        ],
    )
    .await;
    kubectl(
        &cluster,
        &[
            "patch",
            "cronjob/nightly",
            "--type=merge",
            "-p",
            r#"{"spec":{"suspend":false}}"#,
        ],
    )
    .await;

    // Forbid: the due run waits for the active one.
    wait_for("JobAlreadyActive", T, || async {
        events_for(&client, "nightly")
            .await
            .iter()
            .any(|e| e.reason.as_deref() == Some("JobAlreadyActive"))
            .then_some(())
    })
    .await;
    let owned = |list: Vec<Job>| -> Vec<String> {
        list.into_iter()
            .filter(|j| j.metadata.deletion_timestamp.is_none())
            .filter_map(|j| j.metadata.name)
            .collect()
    };
    assert_eq!(
        owned(jobs.list(&ListParams::default()).await.expect("jobs").items),
        ["long-run"]
    );

    // Replace: the active run is deleted and the due one starts.
    kubectl(
        &cluster,
        &[
            "patch",
            "cronjob/nightly",
            "--type=merge",
            "-p",
            r#"{"spec":{"concurrencyPolicy":"Replace"}}"#,
        ],
    )
    .await;
    let run = wait_for("the due run replacing the active one", T, || async {
        let s = cronjobs.get("nightly").await.ok()?.status?;
        let active = s.active?;
        let name = active.first()?.name.clone()?;
        (active.len() == 1 && name != "long-run").then_some(name)
    })
    .await;
    let at = cronjobs
        .get("nightly")
        .await
        .expect("cj")
        .status
        .and_then(|s| s.last_schedule_time)
        .expect("scheduled")
        .0;
    assert_eq!(run, format!("nightly-{}", at.as_second() / 60));
    assert_eq!(at.as_second() % 60, 0, "scheduled on the minute");
    wait_for("long-run deleted", T, || async {
        jobs.get_opt("long-run").await.ok()?.is_none().then_some(())
    })
    .await;
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_the_api_refuses_are_reported_and_retried_with_backoff() {
    let (cluster, fleet, client) = cluster_with_nodes().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    // The Job is valid; its pods name a PriorityClass that does not exist,
    // which pod admission refuses.
    cluster.apply(
        r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: refused
  namespace: default
spec:
  template:
    spec:
      priorityClassName: no-such-class
      restartPolicy: Never
      containers:
      - name: work
        image: registry.example/work:1
"#,
    );
    let event = wait_for("a FailedCreate event", T, || async {
        events_for(&client, "refused")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedCreate"))
    })
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert!(
        event.message.as_deref().is_some_and(
            |m| m.contains("no-such-class") && m.contains(r#"pods "refused-" is forbidden"#)
        ),
        "{event:?}"
    );
    // Retried with exponential backoff (10 ms doubling): over 3 s that is
    // about nine tries, all aggregated into this one Event; a hot loop
    // would make hundreds.
    let seen = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let retried = events_for(&client, "refused")
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("FailedCreate"))
        .collect::<Vec<_>>();
    assert_eq!(retried.len(), 1, "one aggregated event: {retried:?}");
    let count = retried[0].count.unwrap_or(1);
    let secs = seen.elapsed().as_secs_f64() + 1.0;
    assert!((3..=16).contains(&count), "{count} attempts in {secs:.1}s");
    assert!(job_pods(&pods, "refused").await.is_empty());
    let job = jobs.get("refused").await.expect("job");
    assert!(
        condition(&job, "Failed").is_none(),
        "refused creates are not pod failures"
    );
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_job_neither_loses_nor_doubles_a_completion() {
    let (mut cluster, fleet, client) = cluster_with_nodes().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    cluster.apply(&job(
        "steady",
        "  completions: 6\n  parallelism: 2",
        "1s",
        0,
    ));
    wait_for("two completions counted", T, || async {
        let s = jobs.get("steady").await.ok()?.status?;
        (s.succeeded.unwrap_or(0) >= 2).then_some(())
    })
    .await;
    // SIGKILL, whatever step of counting the controller is at.
    tokio::task::block_in_place(|| cluster.restart());
    kubectl(
        &cluster,
        &[
            "wait",
            "--for=condition=complete",
            "job/steady",
            "--timeout=60s",
        ],
    )
    .await;
    let status = jobs
        .get("steady")
        .await
        .expect("job")
        .status
        .expect("status");
    assert_eq!(status.succeeded, Some(6));
    assert_eq!(status.failed.unwrap_or(0), 0);
    let all = job_pods(&pods, "steady").await;
    assert_eq!(all.len(), 6, "one pod per completion across the restart");
    assert!(all.iter().all(|p| phase(p) == "Succeeded"));
    fleet.stop().await;
}

/// Scale figures for docs/benchmarks.md (not part of the suite):
/// `cargo test --release -p verge --test jobs -- --ignored --nocapture`.
/// A Job of 1,000 one-second pods, 100 at a time, on 100 hollow nodes:
/// the ideal is 10 s of running plus the controller's own overhead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run by hand with --release"]
async fn scale_a_job_of_a_thousand_pods() {
    let cluster = Cluster::start();
    let nodes = (0..100).map(|i| NodeSpec::new(format!("node-{i:03}")));
    let fleet = start_fleet(&cluster, fast_config(nodes)).await;
    let client = cluster.client().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let start = std::time::Instant::now();
    cluster.apply(&job(
        "batch",
        "  completions: 1000\n  parallelism: 100",
        "1s",
        0,
    ));
    kubectl(
        &cluster,
        &[
            "wait",
            "--for=condition=complete",
            "job/batch",
            "--timeout=600s",
        ],
    )
    .await;
    let took = start.elapsed();
    let status = jobs
        .get("batch")
        .await
        .expect("job")
        .status
        .expect("status");
    assert_eq!(status.succeeded, Some(1000));
    assert_eq!(job_pods(&pods, "batch").await.len(), 1000, "no pod twice");
    println!(
        "job of 1000 one-second pods, parallelism 100, on 100 hollow nodes: complete in {:.1} s",
        took.as_secs_f64()
    );
    fleet.stop().await;
}
