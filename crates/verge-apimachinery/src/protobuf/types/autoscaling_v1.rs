//! JSON field tables for `autoscaling/v1` messages.

use k8s_pb::api::autoscaling::v1 as pb;

use super::super::json::messages;

messages! {
    pb::CrossVersionObjectReference {
        req kind: "kind",
        req name: "name",
        opt api_version: "apiVersion",
    }

    pb::HorizontalPodAutoscaler {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::HorizontalPodAutoscalerSpec {
        req scale_target_ref: "scaleTargetRef",
        ptr min_replicas: "minReplicas",
        req max_replicas: "maxReplicas",
        ptr target_cpu_utilization_percentage: "targetCPUUtilizationPercentage",
    }

    pb::HorizontalPodAutoscalerStatus {
        ptr observed_generation: "observedGeneration",
        ptr last_scale_time: "lastScaleTime",
        req current_replicas: "currentReplicas",
        req desired_replicas: "desiredReplicas",
        ptr current_cpu_utilization_percentage: "currentCPUUtilizationPercentage",
    }

    pb::Scale {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::ScaleSpec {
        opt replicas: "replicas",
    }

    pb::ScaleStatus {
        req replicas: "replicas",
        opt selector: "selector",
    }
}
