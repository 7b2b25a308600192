//! JSON field tables for `rbac/v1` messages.

use k8s_pb::api::rbac::v1 as pb;

use super::super::json::messages;

messages! {
    pb::AggregationRule {
        opt cluster_role_selectors: "clusterRoleSelectors",
    }

    pb::ClusterRole {
        req metadata: "metadata",
        req rules: "rules",
        ptr aggregation_rule: "aggregationRule",
    }

    pb::ClusterRoleBinding {
        req metadata: "metadata",
        opt subjects: "subjects",
        req role_ref: "roleRef",
    }

    pb::PolicyRule {
        req verbs: "verbs",
        opt api_groups: "apiGroups",
        opt resources: "resources",
        opt resource_names: "resourceNames",
        opt non_resource_ur_ls: "nonResourceURLs",
    }

    pb::Role {
        req metadata: "metadata",
        req rules: "rules",
    }

    pb::RoleBinding {
        req metadata: "metadata",
        opt subjects: "subjects",
        req role_ref: "roleRef",
    }

    pb::RoleRef {
        req api_group: "apiGroup",
        req kind: "kind",
        req name: "name",
    }

    pb::Subject {
        req kind: "kind",
        opt api_group: "apiGroup",
        req name: "name",
        opt namespace: "namespace",
    }
}
