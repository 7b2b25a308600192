//! JSON field tables for `certificates/v1` messages.

use k8s_pb::api::certificates::v1 as pb;

use super::super::json::messages;

messages! {
    pb::CertificateSigningRequest {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }

    pb::CertificateSigningRequestCondition {
        req r#type: "type",
        req status: "status",
        opt reason: "reason",
        opt message: "message",
        req last_update_time: "lastUpdateTime",
        req last_transition_time: "lastTransitionTime",
    }

    pb::CertificateSigningRequestSpec {
        req request: "request",
        req signer_name: "signerName",
        ptr expiration_seconds: "expirationSeconds",
        opt usages: "usages",
        opt username: "username",
        opt uid: "uid",
        opt groups: "groups",
        opt extra: "extra",
    }

    pb::CertificateSigningRequestStatus {
        opt conditions: "conditions",
        opt certificate: "certificate",
    }
}
