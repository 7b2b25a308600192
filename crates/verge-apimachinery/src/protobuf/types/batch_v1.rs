//! JSON field tables for `batch/v1` messages.

use k8s_pb::api::batch::v1 as pb;

use super::super::json::messages;

messages! {
    pb::CronJob {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::CronJobSpec {
        req schedule: "schedule",
        ptr time_zone: "timeZone",
        ptr starting_deadline_seconds: "startingDeadlineSeconds",
        opt concurrency_policy: "concurrencyPolicy",
        ptr suspend: "suspend",
        req job_template: "jobTemplate",
        ptr successful_jobs_history_limit: "successfulJobsHistoryLimit",
        ptr failed_jobs_history_limit: "failedJobsHistoryLimit",
    }

    pb::CronJobStatus {
        opt active: "active",
        ptr last_schedule_time: "lastScheduleTime",
        ptr last_successful_time: "lastSuccessfulTime",
    }

    pb::Job {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::JobCondition {
        req r#type: "type",
        req status: "status",
        req last_probe_time: "lastProbeTime",
        req last_transition_time: "lastTransitionTime",
        opt reason: "reason",
        opt message: "message",
    }

    pb::JobSpec {
        ptr parallelism: "parallelism",
        ptr completions: "completions",
        ptr active_deadline_seconds: "activeDeadlineSeconds",
        ptr pod_failure_policy: "podFailurePolicy",
        ptr success_policy: "successPolicy",
        ptr backoff_limit: "backoffLimit",
        ptr backoff_limit_per_index: "backoffLimitPerIndex",
        ptr max_failed_indexes: "maxFailedIndexes",
        ptr selector: "selector",
        ptr manual_selector: "manualSelector",
        req template: "template",
        ptr ttl_seconds_after_finished: "ttlSecondsAfterFinished",
        ptr completion_mode: "completionMode",
        ptr suspend: "suspend",
        ptr pod_replacement_policy: "podReplacementPolicy",
        ptr managed_by: "managedBy",
    }

    pb::JobStatus {
        opt conditions: "conditions",
        ptr start_time: "startTime",
        ptr completion_time: "completionTime",
        opt active: "active",
        opt succeeded: "succeeded",
        opt failed: "failed",
        ptr terminating: "terminating",
        opt completed_indexes: "completedIndexes",
        ptr failed_indexes: "failedIndexes",
        ptr uncounted_terminated_pods: "uncountedTerminatedPods",
        ptr ready: "ready",
    }

    pb::JobTemplateSpec {
        req metadata: "metadata",
        req spec: "spec",
    }

    pb::PodFailurePolicy {
        req rules: "rules",
    }

    pb::PodFailurePolicyOnExitCodesRequirement {
        ptr container_name: "containerName",
        req operator: "operator",
        req values: "values",
    }

    pb::PodFailurePolicyOnPodConditionsPattern {
        req r#type: "type",
        req status: "status",
    }

    pb::PodFailurePolicyRule {
        req action: "action",
        ptr on_exit_codes: "onExitCodes",
        opt on_pod_conditions: "onPodConditions",
    }

    pb::SuccessPolicy {
        req rules: "rules",
    }

    pb::SuccessPolicyRule {
        ptr succeeded_indexes: "succeededIndexes",
        ptr succeeded_count: "succeededCount",
    }

    pb::UncountedTerminatedPods {
        opt succeeded: "succeeded",
        opt failed: "failed",
    }
}
