//! JSON field tables for `apps/v1` messages.

use k8s_pb::api::apps::v1 as pb;

use super::super::json::messages;

messages! {
    pb::DaemonSet {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::DaemonSetCondition {
        req r#type: "type",
        req status: "status",
        req last_transition_time: "lastTransitionTime",
        opt reason: "reason",
        opt message: "message",
    }

    pb::DaemonSetSpec {
        ptr selector: "selector",
        req template: "template",
        req update_strategy: "updateStrategy",
        opt min_ready_seconds: "minReadySeconds",
        ptr revision_history_limit: "revisionHistoryLimit",
    }

    pb::DaemonSetStatus {
        req current_number_scheduled: "currentNumberScheduled",
        req number_misscheduled: "numberMisscheduled",
        req desired_number_scheduled: "desiredNumberScheduled",
        req number_ready: "numberReady",
        opt observed_generation: "observedGeneration",
        opt updated_number_scheduled: "updatedNumberScheduled",
        opt number_available: "numberAvailable",
        opt number_unavailable: "numberUnavailable",
        ptr collision_count: "collisionCount",
        opt conditions: "conditions",
    }

    pb::DaemonSetUpdateStrategy {
        opt r#type: "type",
        ptr rolling_update: "rollingUpdate",
    }

    pb::Deployment {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::DeploymentCondition {
        req r#type: "type",
        req status: "status",
        req last_update_time: "lastUpdateTime",
        req last_transition_time: "lastTransitionTime",
        opt reason: "reason",
        opt message: "message",
    }

    pb::DeploymentSpec {
        ptr replicas: "replicas",
        ptr selector: "selector",
        req template: "template",
        req strategy: "strategy",
        opt min_ready_seconds: "minReadySeconds",
        ptr revision_history_limit: "revisionHistoryLimit",
        opt paused: "paused",
        ptr progress_deadline_seconds: "progressDeadlineSeconds",
    }

    pb::DeploymentStatus {
        opt observed_generation: "observedGeneration",
        opt replicas: "replicas",
        opt updated_replicas: "updatedReplicas",
        opt ready_replicas: "readyReplicas",
        opt available_replicas: "availableReplicas",
        opt unavailable_replicas: "unavailableReplicas",
        ptr terminating_replicas: "terminatingReplicas",
        opt conditions: "conditions",
        ptr collision_count: "collisionCount",
    }

    pb::DeploymentStrategy {
        opt r#type: "type",
        ptr rolling_update: "rollingUpdate",
    }

    pb::ReplicaSet {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::ReplicaSetCondition {
        req r#type: "type",
        req status: "status",
        req last_transition_time: "lastTransitionTime",
        opt reason: "reason",
        opt message: "message",
    }

    pb::ReplicaSetSpec {
        ptr replicas: "replicas",
        opt min_ready_seconds: "minReadySeconds",
        ptr selector: "selector",
        req template: "template",
    }

    pb::ReplicaSetStatus {
        req replicas: "replicas",
        opt fully_labeled_replicas: "fullyLabeledReplicas",
        opt ready_replicas: "readyReplicas",
        opt available_replicas: "availableReplicas",
        ptr terminating_replicas: "terminatingReplicas",
        opt observed_generation: "observedGeneration",
        opt conditions: "conditions",
    }

    pb::RollingUpdateDaemonSet {
        ptr max_unavailable: "maxUnavailable",
        ptr max_surge: "maxSurge",
    }

    pb::RollingUpdateDeployment {
        ptr max_unavailable: "maxUnavailable",
        ptr max_surge: "maxSurge",
    }

    pb::RollingUpdateStatefulSetStrategy {
        ptr partition: "partition",
        ptr max_unavailable: "maxUnavailable",
    }

    pb::StatefulSet {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::StatefulSetCondition {
        req r#type: "type",
        req status: "status",
        req last_transition_time: "lastTransitionTime",
        opt reason: "reason",
        opt message: "message",
    }

    pb::StatefulSetOrdinals {
        req start: "start",
    }

    pb::StatefulSetPersistentVolumeClaimRetentionPolicy {
        opt when_deleted: "whenDeleted",
        opt when_scaled: "whenScaled",
    }

    pb::StatefulSetSpec {
        ptr replicas: "replicas",
        ptr selector: "selector",
        req template: "template",
        opt volume_claim_templates: "volumeClaimTemplates",
        req service_name: "serviceName",
        opt pod_management_policy: "podManagementPolicy",
        req update_strategy: "updateStrategy",
        ptr revision_history_limit: "revisionHistoryLimit",
        opt min_ready_seconds: "minReadySeconds",
        ptr persistent_volume_claim_retention_policy: "persistentVolumeClaimRetentionPolicy",
        ptr ordinals: "ordinals",
    }

    pb::StatefulSetStatus {
        opt observed_generation: "observedGeneration",
        req replicas: "replicas",
        opt ready_replicas: "readyReplicas",
        opt current_replicas: "currentReplicas",
        opt updated_replicas: "updatedReplicas",
        opt current_revision: "currentRevision",
        opt update_revision: "updateRevision",
        ptr collision_count: "collisionCount",
        opt conditions: "conditions",
        req available_replicas: "availableReplicas",
    }

    pb::StatefulSetUpdateStrategy {
        opt r#type: "type",
        ptr rolling_update: "rollingUpdate",
    }
}
