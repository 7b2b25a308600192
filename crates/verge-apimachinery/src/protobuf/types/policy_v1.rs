//! JSON field tables for `policy/v1` messages.

use k8s_pb::api::policy::v1 as pb;

use super::super::json::messages;

messages! {
    pb::Eviction {
        req metadata: "metadata",
        ptr delete_options: "deleteOptions",
    }

    pb::PodDisruptionBudget {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::PodDisruptionBudgetSpec {
        ptr min_available: "minAvailable",
        ptr selector: "selector",
        ptr max_unavailable: "maxUnavailable",
        ptr unhealthy_pod_eviction_policy: "unhealthyPodEvictionPolicy",
    }

    pb::PodDisruptionBudgetStatus {
        opt observed_generation: "observedGeneration",
        opt disrupted_pods: "disruptedPods",
        req disruptions_allowed: "disruptionsAllowed",
        req current_healthy: "currentHealthy",
        req desired_healthy: "desiredHealthy",
        req expected_pods: "expectedPods",
        opt conditions: "conditions",
    }
}
