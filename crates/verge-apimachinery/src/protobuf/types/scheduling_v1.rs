//! JSON field tables for `scheduling/v1` messages.

use k8s_pb::api::scheduling::v1 as pb;

use super::super::json::messages;

messages! {
    pb::PriorityClass {
        req metadata: "metadata",
        req value: "value",
        opt global_default: "globalDefault",
        opt description: "description",
        ptr preemption_policy: "preemptionPolicy",
    }
}
