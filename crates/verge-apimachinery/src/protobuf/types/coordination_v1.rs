//! JSON field tables for `coordination/v1` messages.

use k8s_pb::api::coordination::v1 as pb;

use super::super::json::messages;

messages! {
    pb::Lease {
        req metadata: "metadata",
        req spec: "spec",
    }

    pb::LeaseSpec {
        ptr holder_identity: "holderIdentity",
        ptr lease_duration_seconds: "leaseDurationSeconds",
        ptr acquire_time: "acquireTime",
        ptr renew_time: "renewTime",
        ptr lease_transitions: "leaseTransitions",
        ptr strategy: "strategy",
        ptr preferred_holder: "preferredHolder",
    }
}
