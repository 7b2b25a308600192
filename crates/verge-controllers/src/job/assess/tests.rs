use super::*;
use k8s_openapi::api::batch::v1::JobSpec;
use k8s_openapi::api::core::v1::{PodSpec, PodStatus, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(s).expect("timestamp")
}

fn job(spec: JobSpec) -> Job {
    Job {
        metadata: ObjectMeta {
            name: Some("j".into()),
            namespace: Some("ns".into()),
            uid: Some("job-uid".into()),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            template: PodTemplateSpec {
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    ..PodSpec::default()
                }),
                ..PodTemplateSpec::default()
            },
            backoff_limit: Some(6),
            ..spec
        }),
        status: None,
    }
}

fn pod(uid: &str, phase: &str, created: i64) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("pod-{uid}")),
            uid: Some(uid.into()),
            finalizers: Some(vec![TRACKING_FINALIZER.into()]),
            creation_timestamp: Some(Time(ts(created))),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec::default()),
        status: Some(PodStatus {
            phase: Some(phase.into()),
            ..PodStatus::default()
        }),
    }
}

fn indexed(mut p: Pod, i: i32) -> Pod {
    p.metadata.annotations = Some(
        [(
            super::super::indexes::COMPLETION_INDEX.to_owned(),
            i.to_string(),
        )]
        .into(),
    );
    p
}

fn creates(m: &Manage) -> Vec<Option<i32>> {
    match m {
        Manage::Scale { create, .. } => create.clone(),
        _ => Vec::new(),
    }
}

#[test]
fn a_new_job_starts_up_to_parallelism_pods() {
    let j = job(JobSpec {
        completions: Some(5),
        parallelism: Some(2),
        ..JobSpec::default()
    });
    let a = assess(&j, &[], ts(100));
    assert_eq!(creates(&a.manage), vec![None, None]);
    assert_eq!(a.status.start_time, Some(Time(ts(100))));
    assert!(a.finish.is_none());
}

#[test]
fn a_succeeded_pod_is_recorded_before_its_finalizer_goes() {
    let j = job(JobSpec {
        completions: Some(2),
        parallelism: Some(1),
        ..JobSpec::default()
    });
    let a = assess(&j, &[pod("a", "Succeeded", 1)], ts(100));
    let unc = a
        .status
        .uncounted_terminated_pods
        .clone()
        .unwrap_or_default();
    assert_eq!(unc.succeeded, Some(vec!["a".to_owned()]));
    assert_eq!(a.finalize.len(), 1);
    assert_eq!(creates(&a.manage), vec![None], "one more completion to go");
    assert!(a.finish.is_none());
}

#[test]
fn completions_reached_means_success_criteria_met() {
    let mut j = job(JobSpec {
        completions: Some(1),
        parallelism: Some(1),
        ..JobSpec::default()
    });
    j.status = Some(JobStatus {
        succeeded: Some(1),
        start_time: Some(Time(ts(1))),
        ..JobStatus::default()
    });
    let a = assess(&j, &[], ts(100));
    assert_eq!(
        a.finish.as_ref().map(|c| c.type_.as_str()),
        Some("Complete")
    );
    assert!(a.new_success);
    let conds = a.status.conditions.unwrap_or_default();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "SuccessCriteriaMet" && c.status == "True")
    );
}

#[test]
fn failures_beyond_the_backoff_limit_fail_the_job() {
    let mut j = job(JobSpec {
        completions: Some(1),
        parallelism: Some(1),
        backoff_limit: Some(1),
        ..JobSpec::default()
    });
    if let Some(s) = &mut j.spec {
        s.backoff_limit = Some(1);
    }
    j.status = Some(JobStatus {
        failed: Some(1),
        start_time: Some(Time(ts(1))),
        ..JobStatus::default()
    });
    let a = assess(
        &j,
        &[pod("b", "Failed", 50), pod("c", "Running", 60)],
        ts(100),
    );
    let finish = a.finish.expect("failed");
    assert_eq!(finish.type_, "Failed");
    assert_eq!(finish.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert!(matches!(&a.manage, Manage::Terminate(p) if p.len() == 1 && p[0].uid == "c"));
    // Both the failed pod and the running one count as failures.
    let unc = a.status.uncounted_terminated_pods.unwrap_or_default();
    assert_eq!(unc.failed, Some(vec!["b".to_owned(), "c".to_owned()]));
}

#[test]
fn a_failed_pod_is_replaced_after_backoff() {
    let mut j = job(JobSpec {
        completions: Some(1),
        parallelism: Some(1),
        ..JobSpec::default()
    });
    j.status = Some(JobStatus {
        start_time: Some(Time(ts(1))),
        ..JobStatus::default()
    });
    let mut failed = pod("a", "Failed", 10);
    failed.metadata.deletion_timestamp = None;
    if let Some(s) = &mut failed.status {
        s.conditions = Some(vec![k8s_openapi::api::core::v1::PodCondition {
            type_: "Ready".into(),
            status: "False".into(),
            last_transition_time: Some(Time(ts(98))),
            ..Default::default()
        }]);
    }
    let a = assess(&j, std::slice::from_ref(&failed), ts(100));
    assert_eq!(creates(&a.manage), Vec::<Option<i32>>::new());
    assert_eq!(a.requeue, Some(Duration::from_secs(8)));
    let a = assess(&j, &[failed], ts(109));
    assert_eq!(creates(&a.manage), vec![None]);
}

#[test]
fn backoff_doubles_per_failure_since_the_last_success_and_is_capped() {
    let f = |n: i64| (0..n).map(|i| ts(100 + i)).collect::<Vec<_>>();
    assert_eq!(backoff_remaining(&[], &[], ts(0)), Duration::ZERO);
    assert_eq!(
        backoff_remaining(&[], &f(1), ts(100)),
        Duration::from_secs(10)
    );
    assert_eq!(
        backoff_remaining(&[], &f(3), ts(102)),
        Duration::from_secs(40)
    );
    assert_eq!(backoff_remaining(&[], &f(20), ts(119)), BACKOFF_MAX);
    assert_eq!(
        backoff_remaining(&[ts(150)], &f(3), ts(160)),
        Duration::ZERO,
        "a success resets the count"
    );
}

#[test]
fn indexed_jobs_create_the_lowest_pending_indexes() {
    let j = job(JobSpec {
        completions: Some(4),
        parallelism: Some(2),
        completion_mode: Some("Indexed".into()),
        ..JobSpec::default()
    });
    let pods = [
        indexed(pod("a", "Succeeded", 1), 0),
        indexed(pod("b", "Running", 2), 1),
    ];
    let a = assess(&j, &pods, ts(100));
    assert_eq!(a.status.completed_indexes.as_deref(), Some("0"));
    assert_eq!(a.status.succeeded, Some(1));
    assert_eq!(creates(&a.manage), vec![Some(2)]);
}

#[test]
fn indexed_duplicates_are_removed() {
    let j = job(JobSpec {
        completions: Some(2),
        parallelism: Some(2),
        completion_mode: Some("Indexed".into()),
        ..JobSpec::default()
    });
    let pods = [
        indexed(pod("a", "Running", 1), 0),
        indexed(pod("b", "Running", 2), 0),
    ];
    let a = assess(&j, &pods, ts(100));
    match &a.manage {
        Manage::Scale { create, remove } => {
            assert_eq!(create, &vec![Some(1)]);
            assert_eq!(remove.len(), 1);
            assert_eq!(remove[0].uid, "b", "the newer duplicate goes");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn suspending_removes_active_pods_and_says_so() {
    let j = job(JobSpec {
        completions: Some(3),
        parallelism: Some(3),
        suspend: Some(true),
        ..JobSpec::default()
    });
    let a = assess(&j, &[pod("a", "Running", 1)], ts(100));
    assert!(
        matches!(&a.manage, Manage::Scale { create, remove } if create.is_empty() && remove.len() == 1)
    );
    assert!(
        a.status.start_time.is_none(),
        "a suspended job has not started"
    );
    let conds = a.status.conditions.unwrap_or_default();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Suspended" && c.status == "True")
    );
    assert_eq!(a.events.len(), 1);
}

#[test]
fn the_active_deadline_fails_the_job() {
    let mut j = job(JobSpec {
        completions: Some(1),
        parallelism: Some(1),
        active_deadline_seconds: Some(30),
        ..JobSpec::default()
    });
    j.status = Some(JobStatus {
        start_time: Some(Time(ts(100))),
        ..JobStatus::default()
    });
    let a = assess(&j, &[pod("a", "Running", 100)], ts(110));
    assert!(a.finish.is_none());
    assert_eq!(a.requeue, Some(Duration::from_secs(20)));
    let a = assess(&j, &[pod("a", "Running", 100)], ts(130));
    assert_eq!(
        a.finish.and_then(|c| c.reason).as_deref(),
        Some("DeadlineExceeded")
    );
}

#[test]
fn without_completions_one_success_ends_the_job_once_the_rest_stop() {
    let j = job(JobSpec {
        parallelism: Some(2),
        ..JobSpec::default()
    });
    let a = assess(
        &j,
        &[pod("a", "Succeeded", 1), pod("b", "Running", 1)],
        ts(100),
    );
    assert_eq!(
        creates(&a.manage),
        Vec::<Option<i32>>::new(),
        "no new pods after a success"
    );
    assert!(a.finish.is_none(), "b still runs");
}
