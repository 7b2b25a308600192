//! JSON field tables for `authorization/v1` messages.

use k8s_pb::api::authorization::v1 as pb;

use super::super::json::messages;

messages! {
    pb::FieldSelectorAttributes {
        opt raw_selector: "rawSelector",
        opt requirements: "requirements",
    }

    pb::LabelSelectorAttributes {
        opt raw_selector: "rawSelector",
        opt requirements: "requirements",
    }

    pb::LocalSubjectAccessReview {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::NonResourceAttributes {
        opt path: "path",
        opt verb: "verb",
    }

    pb::NonResourceRule {
        req verbs: "verbs",
        opt non_resource_ur_ls: "nonResourceURLs",
    }

    pb::ResourceAttributes {
        opt namespace: "namespace",
        opt verb: "verb",
        opt group: "group",
        opt version: "version",
        opt resource: "resource",
        opt subresource: "subresource",
        opt name: "name",
        ptr field_selector: "fieldSelector",
        ptr label_selector: "labelSelector",
    }

    pb::ResourceRule {
        req verbs: "verbs",
        opt api_groups: "apiGroups",
        opt resources: "resources",
        opt resource_names: "resourceNames",
    }

    pb::SelfSubjectAccessReview {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::SelfSubjectAccessReviewSpec {
        ptr resource_attributes: "resourceAttributes",
        ptr non_resource_attributes: "nonResourceAttributes",
    }

    pb::SelfSubjectRulesReview {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::SelfSubjectRulesReviewSpec {
        opt namespace: "namespace",
    }

    pb::SubjectAccessReview {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::SubjectAccessReviewSpec {
        ptr resource_attributes: "resourceAttributes",
        ptr non_resource_attributes: "nonResourceAttributes",
        opt user: "user",
        opt groups: "groups",
        opt extra: "extra",
        opt uid: "uid",
    }

    pb::SubjectAccessReviewStatus {
        req allowed: "allowed",
        opt denied: "denied",
        opt reason: "reason",
        opt evaluation_error: "evaluationError",
    }

    pb::SubjectRulesReviewStatus {
        req resource_rules: "resourceRules",
        req non_resource_rules: "nonResourceRules",
        req incomplete: "incomplete",
        opt evaluation_error: "evaluationError",
    }
}
