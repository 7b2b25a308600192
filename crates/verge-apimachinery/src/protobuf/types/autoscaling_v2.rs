//! JSON field tables for `autoscaling/v2` messages.

use k8s_pb::api::autoscaling::v2 as pb;

use super::super::json::messages;

messages! {
    pb::ContainerResourceMetricSource {
        req name: "name",
        req target: "target",
        req container: "container",
    }

    pb::ContainerResourceMetricStatus {
        req name: "name",
        req current: "current",
        req container: "container",
    }

    pb::CrossVersionObjectReference {
        req kind: "kind",
        req name: "name",
        opt api_version: "apiVersion",
    }

    pb::ExternalMetricSource {
        req metric: "metric",
        req target: "target",
    }

    pb::ExternalMetricStatus {
        req metric: "metric",
        req current: "current",
    }

    pb::HpaScalingPolicy {
        req r#type: "type",
        req value: "value",
        req period_seconds: "periodSeconds",
    }

    pb::HpaScalingRules {
        ptr stabilization_window_seconds: "stabilizationWindowSeconds",
        ptr select_policy: "selectPolicy",
        opt policies: "policies",
        ptr tolerance: "tolerance",
    }

    pb::HorizontalPodAutoscaler {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::HorizontalPodAutoscalerBehavior {
        ptr scale_up: "scaleUp",
        ptr scale_down: "scaleDown",
    }

    pb::HorizontalPodAutoscalerCondition {
        req r#type: "type",
        req status: "status",
        req last_transition_time: "lastTransitionTime",
        opt reason: "reason",
        opt message: "message",
    }

    pb::HorizontalPodAutoscalerSpec {
        req scale_target_ref: "scaleTargetRef",
        ptr min_replicas: "minReplicas",
        req max_replicas: "maxReplicas",
        opt metrics: "metrics",
        ptr behavior: "behavior",
    }

    pb::HorizontalPodAutoscalerStatus {
        ptr observed_generation: "observedGeneration",
        ptr last_scale_time: "lastScaleTime",
        opt current_replicas: "currentReplicas",
        req desired_replicas: "desiredReplicas",
        req current_metrics: "currentMetrics",
        opt conditions: "conditions",
    }

    pb::MetricIdentifier {
        req name: "name",
        ptr selector: "selector",
    }

    pb::MetricSpec {
        req r#type: "type",
        ptr object: "object",
        ptr pods: "pods",
        ptr resource: "resource",
        ptr container_resource: "containerResource",
        ptr external: "external",
    }

    pb::MetricStatus {
        req r#type: "type",
        ptr object: "object",
        ptr pods: "pods",
        ptr resource: "resource",
        ptr container_resource: "containerResource",
        ptr external: "external",
    }

    pb::MetricTarget {
        req r#type: "type",
        ptr value: "value",
        ptr average_value: "averageValue",
        ptr average_utilization: "averageUtilization",
    }

    pb::MetricValueStatus {
        ptr value: "value",
        ptr average_value: "averageValue",
        ptr average_utilization: "averageUtilization",
    }

    pb::ObjectMetricSource {
        req described_object: "describedObject",
        req target: "target",
        req metric: "metric",
    }

    pb::ObjectMetricStatus {
        req metric: "metric",
        req current: "current",
        req described_object: "describedObject",
    }

    pb::PodsMetricSource {
        req metric: "metric",
        req target: "target",
    }

    pb::PodsMetricStatus {
        req metric: "metric",
        req current: "current",
    }

    pb::ResourceMetricSource {
        req name: "name",
        req target: "target",
    }

    pb::ResourceMetricStatus {
        req name: "name",
        req current: "current",
    }
}
