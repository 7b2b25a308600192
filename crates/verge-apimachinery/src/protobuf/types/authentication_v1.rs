//! JSON field tables for `authentication/v1` messages.

use k8s_pb::api::authentication::v1 as pb;

use super::super::json::messages;

messages! {
    pb::BoundObjectReference {
        opt kind: "kind",
        opt api_version: "apiVersion",
        opt name: "name",
        opt u_id: "uid",
    }

    pb::SelfSubjectReview {
        req metadata: "metadata",
        req status: "status",
    }

    pb::SelfSubjectReviewStatus {
        req user_info: "userInfo",
    }

    pb::TokenRequest {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::TokenRequestSpec {
        req audiences: "audiences",
        ptr expiration_seconds: "expirationSeconds",
        ptr bound_object_ref: "boundObjectRef",
    }

    pb::TokenRequestStatus {
        req token: "token",
        req expiration_timestamp: "expirationTimestamp",
    }

    pb::TokenReview {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::TokenReviewSpec {
        opt token: "token",
        opt audiences: "audiences",
    }

    pb::TokenReviewStatus {
        opt authenticated: "authenticated",
        req user: "user",
        opt audiences: "audiences",
        opt error: "error",
    }

    pb::UserInfo {
        opt username: "username",
        opt uid: "uid",
        opt groups: "groups",
        opt extra: "extra",
    }
}
